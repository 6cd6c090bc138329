//! [`AssertionReplayStore`] on SQLite and PostgreSQL: one table,
//! `{prefix}assertion_jtis`, keyed by the digest of `(client_id, jti)`.
//!
//! A use is one `INSERT … ON CONFLICT DO UPDATE … WHERE expired`: a row is
//! written (first use) or an expired one replaced, and a live one is left as
//! it is (a replay), atomically, in both databases and in CockroachDB.

use std::sync::Arc;

use super::StoreError;
use super::replay::{AssertionReplayStore, replay_key};
use super::sql::Dialect;

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
    create: Arc<str>,
    first_use: Arc<str>,
    purge: Arc<str>,
}

impl Statements {
    fn new(table: &str, dialect: Dialect) -> Self {
        let blob = match dialect {
            Dialect::Sqlite => "BLOB",
            Dialect::Postgres => "BYTEA",
        };
        let s = |sql: String| -> Arc<str> { dialect.placeholders(sql).into() };
        Self {
            create: s(format!(
                "CREATE TABLE IF NOT EXISTS {table} (digest {blob} PRIMARY KEY, expires_at BIGINT NOT NULL)"
            )),
            first_use: s(format!(
                "INSERT INTO {table} (digest, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (digest) DO UPDATE SET expires_at = excluded.expires_at \
                 WHERE {table}.expires_at <= $3"
            )),
            purge: s(format!("DELETE FROM {table} WHERE expires_at <= $1")),
        }
    }
}

fn seconds(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(feature = "postgres")]
mod postgres {
    use async_trait::async_trait;
    use sqlx::{AssertSqlSafe, PgPool};

    use super::{
        AssertionReplayStore, Dialect, Statements, StoreError, replay_key, seconds, table_name,
    };

    fn unavailable(error: sqlx::Error) -> StoreError {
        StoreError::unavailable(error)
    }

    /// The replay store in PostgreSQL (or CockroachDB): several service
    /// instances that share the database refuse each other's replays.
    #[derive(Clone, Debug)]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub struct PostgresReplayStore {
        pool: PgPool,
        schema: Option<String>,
        prefix: String,
        statements: Statements,
    }

    impl PostgresReplayStore {
        /// A replay store over `pool`, table `assertion_jtis`. Run
        /// [`migrate`](Self::migrate) once before use.
        pub fn new(pool: PgPool) -> Self {
            Self {
                pool,
                schema: None,
                prefix: String::new(),
                statements: Statements::new(&table_name(None, ""), Dialect::Postgres),
            }
        }

        /// Prefixes the table name with `prefix` (as the client store's).
        pub fn table_prefix(mut self, prefix: &str) -> Self {
            prefix.clone_into(&mut self.prefix);
            self.statements = Statements::new(
                &table_name(self.schema.as_deref(), prefix),
                Dialect::Postgres,
            );
            self
        }

        /// Keeps the table in `schema`, which must exist (the client store's
        /// `migrate` creates it).
        pub fn schema(self, schema: &str) -> Self {
            self.in_schema(Some(schema))
        }

        pub(crate) fn in_schema(mut self, schema: Option<&str>) -> Self {
            self.schema = schema.map(str::to_owned);
            self.statements = Statements::new(&table_name(schema, &self.prefix), Dialect::Postgres);
            self
        }

        /// Creates the table if it does not exist. Idempotent. The
        /// client store's `migrate` runs it too.
        pub async fn migrate(&self) -> Result<(), StoreError> {
            self.create_table().await.map_err(unavailable)
        }

        pub(crate) async fn create_table(&self) -> Result<(), sqlx::Error> {
            sqlx::query(AssertSqlSafe(&*self.statements.create))
                .execute(&self.pool)
                .await
                .map(|_| ())
        }
    }

    #[async_trait]
    impl AssertionReplayStore for PostgresReplayStore {
        async fn first_use(
            &self,
            client_id: &str,
            jti: &str,
            expires_at: u64,
            now: u64,
        ) -> Result<bool, StoreError> {
            let result = sqlx::query(AssertSqlSafe(&*self.statements.first_use))
                .bind(replay_key(client_id, jti).to_vec())
                .bind(seconds(expires_at))
                .bind(seconds(now))
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
            Ok(result.rows_affected() == 1)
        }

        async fn purge_expired(&self, now: u64) -> Result<u64, StoreError> {
            let result = sqlx::query(AssertSqlSafe(&*self.statements.purge))
                .bind(seconds(now))
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
            Ok(result.rows_affected())
        }
    }
}

#[cfg(feature = "postgres")]
pub use postgres::PostgresReplayStore;

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::{
        AssertionReplayStore, Dialect, Statements, StoreError, replay_key, seconds, table_name,
    };
    use crate::store::sql::{self, Value, Write};
    use crate::store::sqlite::SqliteWriter;

    /// The replay store in SQLite (one process, or several on one file). Its
    /// writes go through the store's writer thread, committed with the other
    /// writes of their batch.
    #[derive(Clone, Debug)]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub struct SqliteReplayStore {
        writer: Arc<SqliteWriter>,
        /// The client store's statements: the writer batches by them.
        client_statements: Arc<sql::Statements>,
        statements: Statements,
    }

    impl SqliteReplayStore {
        /// A replay store on its own writer, in the database at `url` (as
        /// [`SqliteStore::connect`](crate::store::SqliteStore::connect)
        /// takes it), table `assertion_jtis`. Run [`migrate`](Self::migrate)
        /// once before use. A [`SqliteStore`](crate::store::SqliteStore) has
        /// one already, on its own writer
        /// ([`ClientStore::assertion_replay`](crate::ClientStore::assertion_replay)).
        pub async fn connect(url: &str) -> Result<Self, StoreError> {
            let store = crate::store::SqliteStore::connect(url).await?;
            Ok(store.replay_store())
        }

        pub(crate) fn on(
            writer: Arc<SqliteWriter>,
            client_statements: Arc<sql::Statements>,
        ) -> Self {
            Self {
                writer,
                client_statements,
                statements: Statements::new(&table_name(None, ""), Dialect::Sqlite),
            }
        }

        /// Prefixes the table name with `prefix` (as the client store's).
        pub fn table_prefix(mut self, prefix: &str) -> Self {
            self.statements = Statements::new(&table_name(None, prefix), Dialect::Sqlite);
            self
        }

        /// Creates the table if it does not exist. Idempotent. The
        /// client store's `migrate` runs it too.
        pub async fn migrate(&self) -> Result<(), StoreError> {
            self.run(&self.statements.create, Vec::new())
                .await
                .map(|_| ())
        }

        async fn run(
            &self,
            statement: &Arc<str>,
            values: Vec<Value<'static>>,
        ) -> Result<u64, StoreError> {
            let done = self
                .writer
                .write(
                    Write::Other(Arc::clone(statement), values),
                    &self.client_statements,
                )
                .await?;
            Ok(done.affected)
        }
    }

    #[async_trait]
    impl AssertionReplayStore for SqliteReplayStore {
        async fn first_use(
            &self,
            client_id: &str,
            jti: &str,
            expires_at: u64,
            now: u64,
        ) -> Result<bool, StoreError> {
            let key = replay_key(client_id, jti).to_vec();
            let values = vec![
                Value::Blob(Some(key.into())),
                Value::Int(Some(seconds(expires_at))),
                Value::Int(Some(seconds(now))),
            ];
            Ok(self.run(&self.statements.first_use, values).await? == 1)
        }

        async fn purge_expired(&self, now: u64) -> Result<u64, StoreError> {
            self.run(&self.statements.purge, vec![Value::Int(Some(seconds(now)))])
                .await
        }
    }
}

#[cfg(feature = "sqlite")]
pub use sqlite::SqliteReplayStore;
