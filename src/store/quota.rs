//! Quota reservations: a registration takes its place under the quotas
//! atomically, before the client is stored, so concurrent registrations never
//! overshoot a quota, even on several instances sharing one database.
//!
//! [`QuotaReservationStore`] is an optional capability
//! ([`ClientStore::quota_reservations`](super::ClientStore::quota_reservations)).
//! Without it the service serializes its own registrations while quotas are
//! configured, which is exact for one process (memory and SQLite stores).
//!
//! `PostgresStore` has it: one short transaction takes the row lock of a single
//! lock row (an upsert, so concurrent reservations queue on it on every
//! instance), counts the stored clients plus the live reservations whose client
//! is not stored yet, and records a reservation when every quota has room. The
//! client is then stored as usual and the reservation released. A reservation
//! left behind by a crashed instance stops counting once it expires.

use async_trait::async_trait;

use super::{ClientFilter, StoreError};

/// One quota to check: how many clients matching `filter` may exist.
#[derive(Clone, Copy, Debug)]
pub struct QuotaCheck<'a> {
    /// The clients this quota counts.
    pub filter: ClientFilter<'a>,
    /// The most such clients.
    pub max: u64,
}

/// The place a registration reserves: it counts like a stored client with
/// these values until it is released or `expires_at` passes.
#[derive(Clone, Copy, Debug)]
pub struct QuotaReservation<'a> {
    /// The `client_id` the registration will store.
    pub client_id: &'a str,
    /// Its `software_id`, if any.
    pub software_id: Option<&'a str>,
    /// The initial access token it registers with, if any.
    pub initial_access_token_id: Option<&'a str>,
    /// Now, seconds since the Unix epoch.
    pub now: u64,
    /// When the reservation stops counting, seconds since the Unix epoch.
    pub expires_at: u64,
}

/// Reserving a place under the registration quotas atomically.
#[async_trait]
pub trait QuotaReservationStore: Send + Sync {
    /// Atomically: if, for every check, the clients matching its filter plus
    /// the live reservations matching it are fewer than its `max`, records
    /// `reservation` and returns `None`; otherwise records nothing and returns
    /// the index of the first full quota. Two concurrent calls (from any
    /// instance) never both take the last place.
    async fn reserve(
        &self,
        reservation: &QuotaReservation<'_>,
        checks: &[QuotaCheck<'_>],
    ) -> Result<Option<usize>, StoreError>;

    /// Releases the reservation for `client_id` (after its client was stored,
    /// or its registration failed). Unknown reservations are ignored.
    async fn release(&self, client_id: &str) -> Result<(), StoreError>;
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::borrow::Cow;

    use async_trait::async_trait;
    use sqlx::{AssertSqlSafe, PgPool};

    use super::{QuotaCheck, QuotaReservation, QuotaReservationStore};
    use crate::store::postgres::{PostgresStore, backoff, retryable};
    use crate::store::sql::{filter_columns, quote, software_id_column, store_error, to_i64};
    use crate::store::{ClientFilter, StoreError};

    /// How many times a reservation is retried after a serialization failure.
    const RETRIES: u32 = 4;

    /// The table names of one store.
    pub(crate) struct QuotaTables {
        lock: String,
        reservations: String,
        clients: String,
    }

    impl QuotaTables {
        pub(crate) fn new(schema: Option<&str>, prefix: &str) -> Self {
            let table = |name: &str| match schema {
                Some(schema) => {
                    format!("{}.{}", quote(schema), quote(&format!("{prefix}{name}")))
                }
                None => quote(&format!("{prefix}{name}")),
            };
            Self {
                lock: table("quota_lock"),
                reservations: table("quota_reservations"),
                clients: table("clients"),
            }
        }

        /// `CREATE TABLE IF NOT EXISTS` for the lock row and the reservations.
        pub(crate) fn schema(&self) -> [String; 2] {
            [
                format!(
                    "CREATE TABLE IF NOT EXISTS {} (
                        id BIGINT NOT NULL PRIMARY KEY,
                        reservations BIGINT NOT NULL
                    )",
                    self.lock
                ),
                format!(
                    "CREATE TABLE IF NOT EXISTS {} (
                        client_id TEXT NOT NULL PRIMARY KEY,
                        software_id TEXT,
                        initial_access_token_id TEXT,
                        expires_at BIGINT NOT NULL
                    )",
                    self.reservations
                ),
            ]
        }

        /// Stored clients plus live, not yet stored reservations matching
        /// `filter`; `$1` is now, the filter's values follow.
        fn count<'f>(&self, filter: &ClientFilter<'f>) -> (String, Vec<Cow<'f, str>>) {
            let mut clients = Vec::new();
            let mut reserved = vec!["r.expires_at > $1".to_owned()];
            let mut binds = Vec::new();
            // A reservation is always for a dynamic registration.
            if filter
                .source
                .is_some_and(|source| source != crate::store::RecordSource::Dynamic)
            {
                reserved.push("FALSE".to_owned());
            }
            for (column, value) in filter_columns(filter) {
                binds.push(value);
                let parameter = binds.len() + 1;
                clients.push(format!("{column} = ${parameter}"));
                if column != "source" {
                    reserved.push(format!("r.{column} = ${parameter}"));
                }
            }
            let clients = if clients.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", clients.join(" AND "))
            };
            let sql = format!(
                "SELECT (SELECT COUNT(*) FROM {c}{clients}) + \
                 (SELECT COUNT(*) FROM {r} r WHERE {reserved} AND NOT EXISTS \
                 (SELECT 1 FROM {c} c WHERE c.client_id = r.client_id))",
                c = self.clients,
                r = self.reservations,
                reserved = reserved.join(" AND "),
            );
            (sql, binds)
        }
    }

    async fn try_reserve(
        pool: &PgPool,
        tables: &QuotaTables,
        reservation: &QuotaReservation<'_>,
        checks: &[QuotaCheck<'_>],
    ) -> Result<Option<usize>, sqlx::Error> {
        let now = to_i64(reservation.now);
        let mut tx = pool.begin().await?;
        // Takes the lock row's lock until commit: reservations queue here.
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {l} (id, reservations) VALUES (1, 1) \
             ON CONFLICT (id) DO UPDATE SET reservations = {l}.reservations + 1",
            l = tables.lock
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {} WHERE expires_at <= $1",
            tables.reservations
        )))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (index, check) in checks.iter().enumerate() {
            let (statement, binds) = tables.count(&check.filter);
            let mut query = sqlx::query_scalar::<_, i64>(AssertSqlSafe(statement)).bind(now);
            for value in &binds {
                query = query.bind(value.as_ref());
            }
            let count = query.fetch_one(&mut *tx).await?;
            if u64::try_from(count).unwrap_or_default() >= check.max {
                tx.rollback().await?;
                return Ok(Some(index));
            }
        }
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {} (client_id, software_id, initial_access_token_id, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (client_id) DO UPDATE SET \
             software_id = excluded.software_id, \
             initial_access_token_id = excluded.initial_access_token_id, \
             expires_at = excluded.expires_at",
            tables.reservations
        )))
        .bind(reservation.client_id)
        .bind(reservation.software_id.map(software_id_column))
        .bind(reservation.initial_access_token_id)
        .bind(to_i64(reservation.expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(None)
    }

    #[async_trait]
    impl QuotaReservationStore for PostgresStore {
        async fn reserve(
            &self,
            reservation: &QuotaReservation<'_>,
            checks: &[QuotaCheck<'_>],
        ) -> Result<Option<usize>, StoreError> {
            if reservation.client_id.contains('\0') {
                return Err(StoreError::Conflict);
            }
            let tables = self.quota_tables();
            let mut attempt = 0;
            loop {
                match try_reserve(self.pool(), &tables, reservation, checks).await {
                    Err(e) if attempt < RETRIES && retryable(&e) => {
                        attempt += 1;
                        tokio::time::sleep(backoff(attempt)).await;
                    }
                    result => return result.map_err(store_error),
                }
            }
        }

        async fn release(&self, client_id: &str) -> Result<(), StoreError> {
            if client_id.contains('\0') {
                return Ok(());
            }
            let tables = self.quota_tables();
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {} WHERE client_id = $1",
                tables.reservations
            )))
            .bind(client_id)
            .execute(self.pool())
            .await
            .map_err(store_error)?;
            Ok(())
        }
    }
}

#[cfg(feature = "postgres")]
pub(crate) use postgres::QuotaTables;
