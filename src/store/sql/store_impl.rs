//! The store traits, implemented once for both SQL stores.
//!
//! [`sql_store!`] writes [`ClientStore`](crate::ClientStore),
//! [`InitialAccessTokenStore`](crate::store::InitialAccessTokenStore),
//! [`ClientLifecycleStore`](crate::store::ClientLifecycleStore) and
//! [`QuotaStore`](crate::store::QuotaStore) for a store
//! type over five things the backend provides (inherent items):
//!
//! - `async fn write(&self, Write) -> Result<Done<Row>, StoreError>`: run one
//!   changing statement (SQLite queues it for the next group commit,
//!   PostgreSQL runs it at once);
//! - `async fn read(&self, Read<'_>) -> Result<Vec<Row>, StoreError>`;
//! - `async fn read_client(&self, &str) -> Result<Option<Arc<ClientRecord>>, StoreError>`:
//!   a client by `client_id`, decoded (SQLite reuses the record of an
//!   unchanged row);
//! - `fn statements(&self) -> &Statements`;
//! - `const STORES_NUL: bool`: whether keys can contain U+0000 (PostgreSQL
//!   text cannot, so such a key is never stored and a lookup finds nothing).
//!
//! What a statement means (0 rows: a conflict, a stale revision, nothing
//! deleted) is decided here, for every backend at once.
//!
//! Why a macro and not `impl<B: Backend> ClientStore for B` over a sealed
//! trait holding those five items: that generic version was built and passed
//! every test, but rustdoc lists a blanket implementation over an unnameable
//! trait on the traits' pages only, never on `SqliteStore`'s or
//! `PostgresStore`'s, and its signatures need the `private_interfaces` and
//! `private_bounds` lints allowed. Making it visible needs a public generic
//! store and a public backend trait (sqlx's `Pool<DB>` shape), a wider API
//! than two concrete types. The macro expands to concrete implementations,
//! which the types' pages list, from the same single source.

/// Implements the three store traits for `$store` (see the module docs);
/// items in braces after the type go into its `ClientStore` impl (another
/// capability's accessor).
macro_rules! sql_store {
    ($store:ty) => {
        $crate::store::sql::sql_store!($store {});
    };
    ($store:ty { $($client_store_extra:tt)* }) => {
        impl $store {
            fn key_storable(key: &str) -> bool {
                Self::STORES_NUL || !key.contains('\0')
            }

            fn to_clients<R: $crate::store::sql::SqlRow>(
                rows: Vec<R>,
            ) -> Result<Vec<std::sync::Arc<$crate::store::ClientRecord>>, $crate::StoreError> {
                rows.iter()
                    .map(|row| $crate::store::sql::client_from_row(row).map(std::sync::Arc::new))
                    .collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::ClientStore for $store {
            async fn create(
                &self,
                record: std::sync::Arc<$crate::store::ClientRecord>,
            ) -> Result<(), $crate::StoreError> {
                let row = $crate::store::sql::ClientRow::new(&record)?;
                let done = self
                    .write($crate::store::sql::Write::CreateClient(Box::new(row)))
                    .await?;
                if done.affected == 0 {
                    return Err($crate::StoreError::Conflict);
                }
                Ok(())
            }

            async fn get(
                &self,
                client_id: &str,
            ) -> Result<Option<std::sync::Arc<$crate::store::ClientRecord>>, $crate::StoreError>
            {
                if !Self::key_storable(client_id) {
                    return Ok(None);
                }
                self.read_client(client_id).await
            }

            async fn update(
                &self,
                record: std::sync::Arc<$crate::store::ClientRecord>,
                expected_revision: u64,
            ) -> Result<(), $crate::StoreError> {
                let Ok(expected_revision) = i64::try_from(expected_revision) else {
                    return Err($crate::StoreError::Stale);
                };
                if !Self::key_storable(&record.client_id) {
                    return Err($crate::StoreError::Stale);
                }
                let row = $crate::store::sql::ClientRow::new(&record)?;
                let done = self
                    .write($crate::store::sql::Write::UpdateClient(
                        Box::new(row),
                        expected_revision,
                    ))
                    .await?;
                if done.affected == 0 {
                    return Err($crate::StoreError::Stale);
                }
                Ok(())
            }

            async fn delete(
                &self,
                client_id: &str,
                expected_revision: Option<u64>,
            ) -> Result<bool, $crate::StoreError> {
                if !Self::key_storable(client_id) {
                    return Ok(false);
                }
                let revision = match expected_revision.map(i64::try_from) {
                    None => None,
                    Some(Ok(revision)) => Some(revision),
                    // No stored revision is that large.
                    Some(Err(_)) => return Ok(false),
                };
                let done = self
                    .write($crate::store::sql::Write::DeleteClient(
                        client_id.to_owned(),
                        revision,
                    ))
                    .await?;
                Ok(done.affected > 0)
            }

            fn initial_access_tokens(&self) -> Option<&dyn $crate::store::InitialAccessTokenStore> {
                Some(self)
            }

            fn lifecycle(&self) -> Option<&dyn $crate::store::ClientLifecycleStore> {
                Some(self)
            }

            fn quotas(&self) -> Option<&dyn $crate::store::QuotaStore> {
                Some(self)
            }

            $($client_store_extra)*
        }

        impl $store {
            /// One kept count (`counts`), by key.
            async fn count_of(&self, key: &str) -> Result<u64, $crate::StoreError> {
                if !Self::key_storable(key) {
                    return Ok(0);
                }
                let rows = self.read($crate::store::sql::Read::CountOf(key)).await?;
                let count = match rows.first() {
                    Some(row) => $crate::store::sql::SqlRow::int(row, 0)
                        .map_err($crate::StoreError::unavailable)?
                        .unwrap_or_default(),
                    None => 0,
                };
                Ok(u64::try_from(count).unwrap_or_default())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::QuotaStore for $store {
            async fn create_within(
                &self,
                record: std::sync::Arc<$crate::store::ClientRecord>,
                quotas: &$crate::store::Quotas,
            ) -> Result<Option<$crate::store::QuotaFull>, $crate::StoreError> {
                use $crate::store::sql::{count_key, to_i64};
                let counts = $crate::store::quota::Counted::of_record(&record, quotas);
                let limited: Vec<_> = counts
                    .iter()
                    .filter_map(|(counted, max)| Some((counted, max?)))
                    .collect();
                if let Some((counted, _)) = limited.iter().find(|(_, max)| *max == 0) {
                    return Ok(Some(counted.full()));
                }
                let Some(&(first, _)) = limited.first() else {
                    return $crate::ClientStore::create(self, std::sync::Arc::clone(&record))
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
                    let row = $crate::store::sql::ClientRow::new(&record)?;
                    let done = self
                        .write($crate::store::sql::Write::CreateClientWithin(
                            Box::new(row),
                            limits.clone(),
                        ))
                        .await?;
                    if done.affected > 0 {
                        return Ok(None);
                    }
                    if $crate::ClientStore::get(self, &record.client_id).await?.is_some() {
                        return Err($crate::StoreError::Conflict);
                    }
                    for ((counted, max), (key, _)) in limited.iter().zip(&limits) {
                        if self.count_of(key).await? >= *max {
                            return Ok(Some(counted.full()));
                        }
                    }
                }
                Ok(Some(first.full()))
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::InitialAccessTokenStore for $store {
            async fn create_initial_access_token(
                &self,
                token: &$crate::store::InitialAccessToken,
            ) -> Result<(), $crate::StoreError> {
                let done = self
                    .write($crate::store::sql::Write::CreateToken(Box::new(
                        token.clone(),
                    )))
                    .await?;
                if done.affected == 0 {
                    return Err($crate::StoreError::Conflict);
                }
                Ok(())
            }

            async fn find_initial_access_token(
                &self,
                digest: &$crate::credentials::SecretDigest,
            ) -> Result<Option<$crate::store::InitialAccessToken>, $crate::StoreError> {
                let rows = self.read($crate::store::sql::Read::Token(digest)).await?;
                rows.first()
                    .map($crate::store::sql::token_from_row)
                    .transpose()
            }

            async fn consume_initial_access_token(
                &self,
                digest: &$crate::credentials::SecretDigest,
                now: u64,
            ) -> Result<Option<$crate::store::InitialAccessToken>, $crate::StoreError> {
                let done = self
                    .write($crate::store::sql::Write::ConsumeToken(
                        *digest,
                        $crate::store::sql::to_i64(now),
                    ))
                    .await?;
                done.row
                    .as_ref()
                    .map($crate::store::sql::token_from_row)
                    .transpose()
            }

            async fn list_initial_access_tokens(
                &self,
            ) -> Result<Vec<$crate::store::InitialAccessToken>, $crate::StoreError> {
                let rows = self.read($crate::store::sql::Read::Tokens).await?;
                rows.iter()
                    .map($crate::store::sql::token_from_row)
                    .collect()
            }

            async fn revoke_initial_access_token(
                &self,
                id: &str,
            ) -> Result<bool, $crate::StoreError> {
                if !Self::key_storable(id) {
                    return Ok(false);
                }
                let done = self
                    .write($crate::store::sql::Write::RevokeToken(id.to_owned()))
                    .await?;
                Ok(done.affected > 0)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::ClientLifecycleStore for $store {
            async fn record_use(&self, client_id: &str, at: u64) -> Result<(), $crate::StoreError> {
                if !Self::key_storable(client_id) {
                    return Ok(());
                }
                self.write($crate::store::sql::Write::RecordUse(
                    client_id.to_owned(),
                    $crate::store::sql::to_i64(at),
                ))
                .await?;
                Ok(())
            }

            async fn list_clients(
                &self,
                after: Option<&str>,
                limit_to: usize,
            ) -> Result<Vec<std::sync::Arc<$crate::store::ClientRecord>>, $crate::StoreError> {
                // Without U+0000 in stored keys, the ids after "a\0b" are
                // those after "a".
                let after = after.map(|a| match a.find('\0') {
                    Some(nul) if !Self::STORES_NUL => &a[..nul],
                    _ => a,
                });
                Self::to_clients(
                    self.read($crate::store::sql::Read::Clients(after, limit_to))
                        .await?,
                )
            }

            async fn count_clients(
                &self,
                filter: &$crate::store::ClientFilter<'_>,
            ) -> Result<u64, $crate::StoreError> {
                if let Some(counted) = $crate::store::quota::Counted::of(filter) {
                    return self.count_of(&$crate::store::sql::count_key(counted)).await;
                }
                let rows = self.read($crate::store::sql::Read::Count(filter)).await?;
                let count = match rows.first() {
                    Some(row) => $crate::store::sql::SqlRow::int(row, 0)
                        .map_err($crate::StoreError::unavailable)?
                        .unwrap_or_default(),
                    None => 0,
                };
                Ok(u64::try_from(count).unwrap_or_default())
            }

            async fn stale_clients(
                &self,
                criteria: &$crate::store::StaleCriteria,
                limit_to: usize,
            ) -> Result<Vec<std::sync::Arc<$crate::store::ClientRecord>>, $crate::StoreError> {
                Self::to_clients(
                    self.read($crate::store::sql::Read::Stale(criteria, limit_to))
                        .await?,
                )
            }

            async fn delete_if_stale(
                &self,
                client_id: &str,
                criteria: &$crate::store::StaleCriteria,
            ) -> Result<bool, $crate::StoreError> {
                if !Self::key_storable(client_id) {
                    return Ok(false);
                }
                let done = self
                    .write($crate::store::sql::Write::DeleteIfStale(
                        client_id.to_owned(),
                        criteria
                            .unused_created_before
                            .map($crate::store::sql::to_i64),
                        criteria.idle_since.map($crate::store::sql::to_i64),
                    ))
                    .await?;
                Ok(done.affected > 0)
            }

            async fn expired_secrets(
                &self,
                now: u64,
                limit_to: usize,
            ) -> Result<Vec<std::sync::Arc<$crate::store::ClientRecord>>, $crate::StoreError> {
                Self::to_clients(
                    self.read($crate::store::sql::Read::ExpiredSecrets(now, limit_to))
                        .await?,
                )
            }
        }
    };
}

pub(crate) use sql_store;
