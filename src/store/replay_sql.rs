//! [`AssertionReplayStore`] on SQLite and PostgreSQL: one table,
//! `{prefix}assertion_jtis`, keyed by the digest of `(client_id, jti)`.
//!
//! A use is one `INSERT … ON CONFLICT DO UPDATE … WHERE expired`: a row is
//! written (first use) or an expired one replaced, and a live one is left as
//! it is (a replay), atomically, in both databases and in CockroachDB.
//!
//! Every 16th use also deletes up to 256 expired rows (found through an
//! index on `expires_at`), so the table holds about the live records without
//! the host calling [`purge_expired`](AssertionReplayStore::purge_expired).

use std::sync::Arc;

use super::StoreError;
use super::replay::{AssertionReplayStore, PURGE_BATCH, PurgeTick, replay_key};
use super::sql::Dialect;

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// The table and its `expires_at` index: (qualified table, index name).
fn table_name(schema: Option<&str>, prefix: &str) -> (String, String) {
    let table = quote(&format!("{prefix}assertion_jtis"));
    let index = quote(&format!("{prefix}assertion_jtis_expires_at"));
    match schema {
        Some(schema) => (format!("{}.{table}", quote(schema)), index),
        None => (table, index),
    }
}

#[derive(Clone, Debug)]
struct Statements {
    create: Arc<str>,
    create_index: Arc<str>,
    first_use: Arc<str>,
    purge: Arc<str>,
    purge_batch: Arc<str>,
}

impl Statements {
    fn new((table, index): (String, String), dialect: Dialect) -> Self {
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
            create_index: s(format!(
                "CREATE INDEX IF NOT EXISTS {index} ON {table} (expires_at)"
            )),
            purge: s(format!("DELETE FROM {table} WHERE expires_at <= $1")),
            purge_batch: s(format!(
                "DELETE FROM {table} WHERE digest IN \
                 (SELECT digest FROM {table} WHERE expires_at <= $1 LIMIT {PURGE_BATCH})"
            )),
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
        AssertionReplayStore, Dialect, PurgeTick, Statements, StoreError, replay_key, seconds,
        table_name,
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
        tick: PurgeTick,
    }

    impl PostgresReplayStore {
        /// A replay store over `pool`, table `assertion_jtis`. Run
        /// [`migrate`](Self::migrate) once before use.
        pub fn new(pool: PgPool) -> Self {
            Self {
                pool,
                schema: None,
                prefix: String::new(),
                statements: Statements::new(table_name(None, ""), Dialect::Postgres),
                tick: PurgeTick::default(),
            }
        }

        /// Prefixes the table name with `prefix` (as the client store's).
        pub fn table_prefix(mut self, prefix: &str) -> Self {
            prefix.clone_into(&mut self.prefix);
            self.statements = Statements::new(
                table_name(self.schema.as_deref(), prefix),
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
            self.statements = Statements::new(table_name(schema, &self.prefix), Dialect::Postgres);
            self
        }

        /// Creates the table if it does not exist. Idempotent. The
        /// client store's `migrate` runs it too.
        pub async fn migrate(&self) -> Result<(), StoreError> {
            self.create_table().await.map_err(unavailable)
        }

        pub(crate) async fn create_table(&self) -> Result<(), sqlx::Error> {
            for statement in [&self.statements.create, &self.statements.create_index] {
                sqlx::query(AssertSqlSafe(&**statement))
                    .execute(&self.pool)
                    .await?;
            }
            Ok(())
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
            if self.tick.due() {
                let purged = sqlx::query(AssertSqlSafe(&*self.statements.purge_batch))
                    .bind(seconds(now))
                    .execute(&self.pool)
                    .await;
                if let Err(error) = purged {
                    tracing::debug!(%error, "purging expired assertion jtis failed");
                }
            }
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
        AssertionReplayStore, Dialect, PurgeTick, Statements, StoreError, replay_key, seconds,
        table_name,
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
        tick: PurgeTick,
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
                statements: Statements::new(table_name(None, ""), Dialect::Sqlite),
                tick: PurgeTick::default(),
            }
        }

        /// Prefixes the table name with `prefix` (as the client store's).
        pub fn table_prefix(mut self, prefix: &str) -> Self {
            self.statements = Statements::new(table_name(None, prefix), Dialect::Sqlite);
            self
        }

        /// Creates the table if it does not exist. Idempotent. The
        /// client store's `migrate` runs it too.
        pub async fn migrate(&self) -> Result<(), StoreError> {
            self.run(&self.statements.create, Vec::new()).await?;
            self.run(&self.statements.create_index, Vec::new())
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
            let first = self.run(&self.statements.first_use, values).await? == 1;
            if self.tick.due() {
                let now = vec![Value::Int(Some(seconds(now)))];
                if let Err(error) = self.run(&self.statements.purge_batch, now).await {
                    tracing::debug!(%error, "purging expired assertion jtis failed");
                }
            }
            Ok(first)
        }

        async fn purge_expired(&self, now: u64) -> Result<u64, StoreError> {
            self.run(&self.statements.purge, vec![Value::Int(Some(seconds(now)))])
                .await
        }
    }
}

#[cfg(feature = "sqlite")]
pub use sqlite::SqliteReplayStore;

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::super::replay::{PURGE_EVERY, check_boundary_and_purge};
    use super::SqliteReplayStore;

    /// OIDC Core §9, RFC 7519 §4.1.4: the boundary on SQLite, and expired
    /// rows purged by the store itself.
    #[tokio::test]
    async fn oidc_core_9_sqlite_replay_store_boundary_and_purge() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
        let store = SqliteReplayStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
        check_boundary_and_purge(&store, 2 * PURGE_EVERY).await;
    }
}

#[cfg(all(test, feature = "postgres"))]
mod postgres_tests {
    use super::super::replay::{PURGE_EVERY, check_boundary_and_purge};
    use super::PostgresReplayStore;

    /// OIDC Core §9, RFC 7519 §4.1.4: the boundary on PostgreSQL, and expired
    /// rows purged by the store itself (skipped without a database, unless
    /// `TOWER_DCR_REQUIRE_POSTGRES=1`).
    #[tokio::test]
    async fn oidc_core_9_postgres_replay_store_boundary_and_purge() {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let Ok(pool) = sqlx::PgPool::connect(&url).await else {
            assert!(std::env::var("TOWER_DCR_REQUIRE_POSTGRES").as_deref() != Ok("1"));
            return;
        };
        let prefix = format!("t{}_", std::process::id());
        let store = PostgresReplayStore::new(pool.clone()).table_prefix(&prefix);
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
        check_boundary_and_purge(&store, 2 * PURGE_EVERY).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP TABLE \"{prefix}assertion_jtis\""
        )))
        .execute(&pool)
        .await
        .unwrap();
    }
}
