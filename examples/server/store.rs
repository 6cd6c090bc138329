//! Choosing the client store from `--store`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use tower_dcr::{ClientStore, MemoryStore};

/// The store used without `--store`.
pub fn default_store() -> StoreSpec {
    // TODO(stores): switch to `StoreSpec::Sqlite("sqlite:tower-dcr.db".into())`
    // once the SQLite store is merged; the CLI docs already say so.
    StoreSpec::Memory
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
    /// The backend is not compiled into, or not yet wired into, this example.
    #[error("store not available in this build: {0}")]
    NotAvailable(String),
}

/// Opens (and, for the SQL stores, migrates) the store named by `spec`.
pub async fn open_store(spec: &StoreSpec) -> Result<Arc<dyn ClientStore>, OpenError> {
    match spec {
        StoreSpec::Memory => Ok(Arc::new(MemoryStore::new())),
        // TODO(stores): `SqliteStore::connect(path).await?` then `.migrate().await?`
        // (feature `sqlite`), and `PostgresStore::connect(url)` likewise
        // (feature `postgres`), once the stores are merged.
        StoreSpec::Sqlite(_) => Err(OpenError::NotAvailable(format!(
            "{spec} (the SQLite store is not wired into this example yet; use --store memory)"
        ))),
        StoreSpec::Postgres(_) => Err(OpenError::NotAvailable(format!(
            "{spec} (the PostgreSQL store is not wired into this example yet; use --store memory)"
        ))),
    }
}
