//! [`AssertionReplayStore`] on SQLite and PostgreSQL: one table,
//! `{prefix}assertion_jtis`, keyed by the digest of `(client_id, jti)`.
//!
//! A use is one `INSERT … ON CONFLICT DO UPDATE … WHERE expired`: a row is
//! written (first use) or an expired one replaced, and a live one is left as
//! it is (a replay), atomically, in both databases and in CockroachDB.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::StoreError;
use super::replay::{AssertionReplayStore, replay_key};

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

fn table_name(schema: Option<&str>, prefix: &str) -> String {
    let table = quote(&format!("{prefix}assertion_jtis"));
    match schema {
        Some(schema) => format!("{}.{table}", quote(schema)),
        None => table,
    }
}

#[derive(Clone, Debug)]
struct Statements {
    create: String,
    first_use: String,
    purge: String,
}

impl Statements {
    fn new(table: &str, blob: &str) -> Self {
        Self {
            create: format!(
                "CREATE TABLE IF NOT EXISTS {table} (digest {blob} PRIMARY KEY, expires_at BIGINT NOT NULL)"
            ),
            first_use: format!(
                "INSERT INTO {table} (digest, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (digest) DO UPDATE SET expires_at = excluded.expires_at \
                 WHERE {table}.expires_at <= $3"
            ),
            purge: format!("DELETE FROM {table} WHERE expires_at <= $1"),
        }
    }
}

fn unavailable(error: sqlx::Error) -> StoreError {
    StoreError::unavailable(error)
}

fn seconds(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

macro_rules! replay_store {
    ($(#[$doc:meta])* $name:ident, $pool:ty, $blob:literal, $feature:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        pub struct $name {
            pool: $pool,
            schema: Option<String>,
            prefix: String,
            statements: Statements,
        }

        impl $name {
            /// A replay store over `pool`, table `assertion_jtis`. Run
            /// [`migrate`](Self::migrate) once before use.
            pub fn new(pool: $pool) -> Self {
                Self {
                    pool,
                    schema: None,
                    prefix: String::new(),
                    statements: Statements::new(&table_name(None, ""), $blob),
                }
            }

            /// Prefixes the table name with `prefix` (as the client store's).
            pub fn table_prefix(mut self, prefix: &str) -> Self {
                prefix.clone_into(&mut self.prefix);
                self.statements =
                    Statements::new(&table_name(self.schema.as_deref(), prefix), $blob);
                self
            }

            /// Creates the table if it does not exist. Idempotent. The
            /// client store's `migrate` runs it too.
            pub async fn migrate(&self) -> Result<(), StoreError> {
                self.create_table().await.map_err(unavailable)
            }

            pub(crate) async fn create_table(&self) -> Result<(), sqlx::Error> {
                sqlx::query(AssertSqlSafe(self.statements.create.clone()))
                    .execute(&self.pool)
                    .await
                    .map(|_| ())
            }
        }

        #[async_trait]
        impl AssertionReplayStore for $name {
            async fn first_use(
                &self,
                client_id: &str,
                jti: &str,
                expires_at: u64,
                now: u64,
            ) -> Result<bool, StoreError> {
                let result = sqlx::query(AssertSqlSafe(self.statements.first_use.clone()))
                    .bind(replay_key(client_id, jti).to_vec())
                    .bind(seconds(expires_at))
                    .bind(seconds(now))
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(result.rows_affected() == 1)
            }

            async fn purge_expired(&self, now: u64) -> Result<u64, StoreError> {
                let result = sqlx::query(AssertSqlSafe(self.statements.purge.clone()))
                    .bind(seconds(now))
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(result.rows_affected())
            }
        }
    };
}

#[cfg(feature = "postgres")]
replay_store!(
    /// The replay store in PostgreSQL (or CockroachDB): several service
    /// instances that share the database refuse each other's replays.
    PostgresReplayStore,
    sqlx::PgPool,
    "BYTEA",
    "postgres"
);

#[cfg(feature = "postgres")]
impl PostgresReplayStore {
    /// Keeps the table in `schema`, which must exist (the client store's
    /// `migrate` creates it).
    pub fn schema(self, schema: &str) -> Self {
        self.in_schema(Some(schema))
    }

    pub(crate) fn in_schema(mut self, schema: Option<&str>) -> Self {
        self.schema = schema.map(str::to_owned);
        self.statements = Statements::new(&table_name(schema, &self.prefix), "BYTEA");
        self
    }
}

#[cfg(feature = "sqlite")]
replay_store!(
    /// The replay store in SQLite (one process, or several on one file).
    SqliteReplayStore,
    sqlx::SqlitePool,
    "BLOB",
    "sqlite"
);
