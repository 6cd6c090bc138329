//! The store traits, implemented once for both SQL stores.
//!
//! [`ClientStore`](crate::ClientStore),
//! [`InitialAccessTokenStore`](crate::store::InitialAccessTokenStore),
//! [`ClientLifecycleStore`](crate::store::ClientLifecycleStore) and
//! [`QuotaStore`](crate::store::QuotaStore) are implemented here for every
//! [`Backend`]: what the two databases differ in is how a statement reaches
//! the database (SQLite queues a write for its writer thread's group commit,
//! PostgreSQL for a batch on a leased connection), how a row is read back,
//! and whether a key can hold U+0000. What a statement means (0 rows: a
//! conflict, a stale revision, nothing deleted) is decided here, for every
//! backend at once.

use std::future::Future;
use std::sync::Arc;

use super::{Done, Read, SqlRow, Write};
use crate::StoreError;
use crate::store::{AssertionReplayStore, ClientRecord};

/// A SQL store's driver: the only part of a store that differs between
/// SQLite and PostgreSQL.
///
/// Sealed: public only in name (its module is private), so that the public
/// store traits can be implemented for every implementor; no other crate can
/// name or implement it, nor the crate-private types of its items, which the
/// `private_interfaces` and `private_bounds` lints would otherwise flag.
#[allow(private_interfaces, private_bounds)]
pub trait Backend: std::fmt::Debug + Send + Sync + 'static {
    /// A row as the driver reads it back.
    type Row: SqlRow + Send;

    /// Whether keys can contain U+0000 (PostgreSQL text cannot, so such a key
    /// is never stored and a lookup finds nothing).
    const STORES_NUL: bool;

    /// Runs one changing statement (SQLite queues it for the next group
    /// commit, PostgreSQL for the next batch).
    fn write(
        &self,
        write: Write,
    ) -> impl Future<Output = Result<Done<Self::Row>, StoreError>> + Send;

    /// Runs one reading statement.
    fn read(
        &self,
        read: Read<'_>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, StoreError>> + Send;

    /// A client by `client_id`, decoded (SQLite reuses the record of an
    /// unchanged row; PostgreSQL batches concurrent reads).
    fn read_client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<Arc<ClientRecord>>, StoreError>> + Send;

    /// The store's replay store for client assertion `jti` values.
    fn replay(&self) -> &dyn AssertionReplayStore;
}

/// Whether `key` can be stored by `B` (see [`Backend::STORES_NUL`]).
fn key_storable<B: Backend>(key: &str) -> bool {
    B::STORES_NUL || !key.contains('\0')
}

fn to_clients<R: SqlRow>(rows: Vec<R>) -> Result<Vec<Arc<ClientRecord>>, StoreError> {
    rows.iter()
        .map(|row| super::client_from_row(row).map(Arc::new))
        .collect()
}

#[async_trait::async_trait]
impl<B: Backend> crate::ClientStore for B {
    async fn create(
        &self,
        record: std::sync::Arc<crate::store::ClientRecord>,
    ) -> Result<(), crate::StoreError> {
        let row = crate::store::sql::ClientRow::new(&record)?;
        let done = self
            .write(crate::store::sql::Write::CreateClient(Box::new(row)))
            .await?;
        if done.affected == 0 {
            return Err(crate::StoreError::Conflict);
        }
        Ok(())
    }

    async fn get(
        &self,
        client_id: &str,
    ) -> Result<Option<std::sync::Arc<crate::store::ClientRecord>>, crate::StoreError> {
        if !key_storable::<B>(client_id) {
            return Ok(None);
        }
        self.read_client(client_id).await
    }

    async fn update(
        &self,
        record: std::sync::Arc<crate::store::ClientRecord>,
        expected_revision: u64,
    ) -> Result<(), crate::StoreError> {
        let Ok(expected_revision) = i64::try_from(expected_revision) else {
            return Err(crate::StoreError::Stale);
        };
        if !key_storable::<B>(&record.client_id) {
            return Err(crate::StoreError::Stale);
        }
        let row = crate::store::sql::ClientRow::new(&record)?;
        let done = self
            .write(crate::store::sql::Write::UpdateClient(
                Box::new(row),
                expected_revision,
            ))
            .await?;
        if done.affected == 0 {
            return Err(crate::StoreError::Stale);
        }
        Ok(())
    }

    async fn delete(
        &self,
        client_id: &str,
        expected_revision: Option<u64>,
    ) -> Result<bool, crate::StoreError> {
        if !key_storable::<B>(client_id) {
            return Ok(false);
        }
        let revision = match expected_revision.map(i64::try_from) {
            None => None,
            Some(Ok(revision)) => Some(revision),
            // No stored revision is that large.
            Some(Err(_)) => return Ok(false),
        };
        let done = self
            .write(crate::store::sql::Write::DeleteClient(
                client_id.to_owned(),
                revision,
            ))
            .await?;
        Ok(done.affected > 0)
    }

    fn initial_access_tokens(&self) -> Option<&dyn crate::store::InitialAccessTokenStore> {
        Some(self)
    }

    fn lifecycle(&self) -> Option<&dyn crate::store::ClientLifecycleStore> {
        Some(self)
    }

    fn quotas(&self) -> Option<&dyn crate::store::QuotaStore> {
        Some(self)
    }

    fn assertion_replay(&self) -> Option<&dyn crate::store::AssertionReplayStore> {
        Some(self.replay())
    }
}

/// One kept count (`counts`), by key.
async fn count_of<B: Backend>(store: &B, key: &str) -> Result<u64, crate::StoreError> {
    if !key_storable::<B>(key) {
        return Ok(0);
    }
    let rows = store.read(crate::store::sql::Read::CountOf(key)).await?;
    let count = match rows.first() {
        Some(row) => crate::store::sql::SqlRow::int(row, 0)
            .map_err(crate::StoreError::unavailable)?
            .unwrap_or_default(),
        None => 0,
    };
    Ok(u64::try_from(count).unwrap_or_default())
}

#[async_trait::async_trait]
impl<B: Backend> crate::store::QuotaStore for B {
    async fn create_within(
        &self,
        record: std::sync::Arc<crate::store::ClientRecord>,
        quotas: &crate::store::Quotas,
    ) -> Result<Option<crate::store::QuotaFull>, crate::StoreError> {
        use crate::store::sql::{count_key, to_i64};
        let counts = crate::store::quota::Counted::of_record(&record, quotas);
        let limited: Vec<_> = counts
            .iter()
            .filter_map(|(counted, max)| Some((counted, max?)))
            .collect();
        if let Some((counted, _)) = limited.iter().find(|(_, max)| *max == 0) {
            return Ok(Some(counted.full()));
        }
        let Some(&(first, _)) = limited.first() else {
            return crate::ClientStore::create(self, std::sync::Arc::clone(&record))
                .await
                .map(|()| None);
        };
        let limits: Vec<(String, i64)> = limited
            .iter()
            .map(|&(counted, max)| (count_key(counted), to_i64(max)))
            .collect();
        // 0 rows: the id exists, or a quota is full. Which one is
        // read afterwards; if neither (a place was freed since), the
        // create runs again.
        for _ in 0..3 {
            let row = crate::store::sql::ClientRow::new(&record)?;
            let done = self
                .write(crate::store::sql::Write::CreateClientWithin(
                    Box::new(row),
                    limits.clone(),
                ))
                .await?;
            if done.affected > 0 {
                return Ok(None);
            }
            if crate::ClientStore::get(self, &record.client_id)
                .await?
                .is_some()
            {
                return Err(crate::StoreError::Conflict);
            }
            for ((counted, max), (key, _)) in limited.iter().zip(&limits) {
                if count_of(self, key).await? >= *max {
                    return Ok(Some(counted.full()));
                }
            }
        }
        Ok(Some(first.full()))
    }
}

#[async_trait::async_trait]
impl<B: Backend> crate::store::InitialAccessTokenStore for B {
    async fn create_initial_access_token(
        &self,
        token: &crate::store::InitialAccessToken,
    ) -> Result<(), crate::StoreError> {
        let done = self
            .write(crate::store::sql::Write::CreateToken(Box::new(
                token.clone(),
            )))
            .await?;
        if done.affected == 0 {
            return Err(crate::StoreError::Conflict);
        }
        Ok(())
    }

    async fn find_initial_access_token(
        &self,
        digest: &crate::credentials::SecretDigest,
    ) -> Result<Option<crate::store::InitialAccessToken>, crate::StoreError> {
        let rows = self.read(crate::store::sql::Read::Token(digest)).await?;
        rows.first()
            .map(crate::store::sql::token_from_row)
            .transpose()
    }

    async fn consume_initial_access_token(
        &self,
        digest: &crate::credentials::SecretDigest,
        now: u64,
    ) -> Result<Option<crate::store::InitialAccessToken>, crate::StoreError> {
        let done = self
            .write(crate::store::sql::Write::ConsumeToken(
                *digest,
                crate::store::sql::to_i64(now),
            ))
            .await?;
        done.row
            .as_ref()
            .map(crate::store::sql::token_from_row)
            .transpose()
    }

    async fn list_initial_access_tokens(
        &self,
    ) -> Result<Vec<crate::store::InitialAccessToken>, crate::StoreError> {
        let rows = self.read(crate::store::sql::Read::Tokens).await?;
        rows.iter().map(crate::store::sql::token_from_row).collect()
    }

    async fn revoke_initial_access_token(&self, id: &str) -> Result<bool, crate::StoreError> {
        if !key_storable::<B>(id) {
            return Ok(false);
        }
        let done = self
            .write(crate::store::sql::Write::RevokeToken(id.to_owned()))
            .await?;
        Ok(done.affected > 0)
    }
}

#[async_trait::async_trait]
impl<B: Backend> crate::store::ClientLifecycleStore for B {
    async fn record_use(&self, client_id: &str, at: u64) -> Result<(), crate::StoreError> {
        if !key_storable::<B>(client_id) {
            return Ok(());
        }
        self.write(crate::store::sql::Write::RecordUse(
            client_id.to_owned(),
            crate::store::sql::to_i64(at),
        ))
        .await?;
        Ok(())
    }

    async fn list_clients(
        &self,
        after: Option<&str>,
        limit_to: usize,
    ) -> Result<Vec<std::sync::Arc<crate::store::ClientRecord>>, crate::StoreError> {
        // Without U+0000 in stored keys, the ids after "a\0b" are
        // those after "a".
        let after = after.map(|a| match a.find('\0') {
            Some(nul) if !B::STORES_NUL => &a[..nul],
            _ => a,
        });
        to_clients(
            self.read(crate::store::sql::Read::Clients(after, limit_to))
                .await?,
        )
    }

    async fn count_clients(
        &self,
        filter: &crate::store::ClientFilter<'_>,
    ) -> Result<u64, crate::StoreError> {
        if let Some(counted) = crate::store::quota::Counted::of(filter) {
            return count_of(self, &crate::store::sql::count_key(counted)).await;
        }
        let rows = self.read(crate::store::sql::Read::Count(filter)).await?;
        let count = match rows.first() {
            Some(row) => crate::store::sql::SqlRow::int(row, 0)
                .map_err(crate::StoreError::unavailable)?
                .unwrap_or_default(),
            None => 0,
        };
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn stale_clients(
        &self,
        criteria: &crate::store::StaleCriteria,
        limit_to: usize,
    ) -> Result<Vec<std::sync::Arc<crate::store::ClientRecord>>, crate::StoreError> {
        to_clients(
            self.read(crate::store::sql::Read::Stale(criteria, limit_to))
                .await?,
        )
    }

    async fn delete_if_stale(
        &self,
        client_id: &str,
        criteria: &crate::store::StaleCriteria,
    ) -> Result<bool, crate::StoreError> {
        if !key_storable::<B>(client_id) {
            return Ok(false);
        }
        let done = self
            .write(crate::store::sql::Write::DeleteIfStale(
                client_id.to_owned(),
                criteria
                    .unused_created_before
                    .map(crate::store::sql::to_i64),
                criteria.idle_since.map(crate::store::sql::to_i64),
            ))
            .await?;
        Ok(done.affected > 0)
    }

    async fn expired_secrets(
        &self,
        now: u64,
        limit_to: usize,
    ) -> Result<Vec<std::sync::Arc<crate::store::ClientRecord>>, crate::StoreError> {
        to_clients(
            self.read(crate::store::sql::Read::ExpiredSecrets(now, limit_to))
                .await?,
        )
    }
}
