//! Choosing the client store from `--store`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use tower_dcr::store::{PostgresStore, SqliteStore};
use tower_dcr::{ClientStore, MemoryStore, StoreError};

/// The store used without `--store`: a SQLite file in the working directory,
/// durable with no set-up.
pub fn default_store() -> StoreSpec {
    StoreSpec::Sqlite("sqlite:tower-dcr.db".into())
}

/// A `--store` value.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// `memory`: in this process only.
    Memory,
    /// `sqlite:PATH` (the whole value, as the SQLite store takes it).
    Sqlite(String),
    /// `postgres://…` or `postgresql://…` (the whole URL).
    Postgres(String),
}

impl StoreSpec {
    /// Whether another process (an `admin` command) sees the same clients.
    pub fn is_shared(&self) -> bool {
        !matches!(self, Self::Memory)
    }
}

impl FromStr for StoreSpec {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value == "memory" {
            Ok(Self::Memory)
        } else if value.starts_with("sqlite:") && value.len() > "sqlite:".len() {
            Ok(Self::Sqlite(value.to_owned()))
        } else if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            Ok(Self::Postgres(value.to_owned()))
        } else {
            Err("expected `memory`, `sqlite:PATH` or `postgres://…`".to_owned())
        }
    }
}

/// Shows the store without the password of a PostgreSQL URL.
impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Sqlite(path) => f.write_str(path),
            Self::Postgres(url) => match url::Url::parse(url) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("****"));
                    }
                    f.write_str(url.as_str())
                }
                Err(_) => f.write_str("postgres://(unparsable URL)"),
            },
        }
    }
}

impl fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreSpec({self})")
    }
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Connecting to the database or creating its tables failed.
    #[error("cannot open the store {store}: {source}")]
    Store {
        /// The store, without a password.
        store: String,
        /// What failed.
        #[source]
        source: StoreError,
    },
}

/// Opens (and, for the SQL stores, migrates) the store named by `spec`.
pub async fn open_store(spec: &StoreSpec) -> Result<Arc<dyn ClientStore>, OpenError> {
    let failed = |source| OpenError::Store {
        store: spec.to_string(),
        source,
    };
    match spec {
        StoreSpec::Memory => Ok(Arc::new(MemoryStore::new())),
        StoreSpec::Sqlite(url) => {
            let store = SqliteStore::connect(url).await.map_err(failed)?;
            store.migrate().await.map_err(failed)?;
            Ok(Arc::new(store))
        }
        StoreSpec::Postgres(url) => {
            let store = PostgresStore::connect(url).await.map_err(failed)?;
            store.migrate().await.map_err(failed)?;
            Ok(Arc::new(store))
        }
    }
}
