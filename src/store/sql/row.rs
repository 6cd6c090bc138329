//! How a [`ClientRecord`] or an [`InitialAccessToken`] maps to a row and back.

use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Row, Type};
use zeroize::Zeroizing;

use super::{SECRET_DIGEST, SECRET_PLAIN, corrupt, software_id_column, store_error, to_i64};
use crate::credentials::{Secret, SecretDigest};
use crate::metadata::ClientMetadata;
use crate::store::{ClientRecord, InitialAccessToken, RecordSource, StoreError, StoredSecret};

/// A record whose revision does not fit the `BIGINT` column. Revisions count
/// updates, so this is a caller's bug, reported rather than stored wrongly.
#[derive(Debug, thiserror::Error)]
#[error("client {client_id:?}: revision {revision} exceeds the largest storable value")]
pub(crate) struct RevisionOutOfRange {
    client_id: String,
    revision: u64,
}

pub(super) fn to_u64(key: &str, column: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(key, format!("{column} is negative")))
}

fn digest(key: &str, column: &str, bytes: &[u8]) -> Result<SecretDigest, StoreError> {
    SecretDigest::from_slice(bytes)
        .ok_or_else(|| corrupt(key, format!("{column} is not a SHA-256 digest")))
}

/// The values of one row of the clients table. No `Debug`: it holds secret
/// material.
pub(crate) struct ClientRow {
    client_id: String,
    metadata: String,
    client_secret_kind: Option<&'static str>,
    client_secret: Option<Zeroizing<Vec<u8>>>,
    registration_access_token: Option<[u8; 32]>,
    revision: i64,
    source: &'static str,
    profile: Option<String>,
    initial_access_token_id: Option<String>,
    software_id: Option<String>,
    client_id_issued_at: i64,
    client_secret_expires_at: i64,
    created_at: i64,
    updated_at: i64,
    last_used_at: Option<i64>,
    registration_access_token_expires_at: i64,
    previous_registration_access_token: Option<[u8; 32]>,
    previous_registration_access_token_expires_at: Option<i64>,
}

impl ClientRow {
    /// The `client_id` column.
    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The row for `record`. A revision above `i64::MAX` cannot be stored.
    pub(crate) fn new(record: &ClientRecord) -> Result<Self, StoreError> {
        let revision = i64::try_from(record.revision).map_err(|_| {
            StoreError::unavailable(RevisionOutOfRange {
                client_id: record.client_id.clone(),
                revision: record.revision,
            })
        })?;
        let metadata = serde_json::to_string(&record.metadata).map_err(StoreError::unavailable)?;
        let (client_secret_kind, client_secret) = match &record.client_secret {
            None => (None, None),
            Some(StoredSecret::Digest(d)) => (
                Some(SECRET_DIGEST),
                Some(Zeroizing::new(d.as_bytes().to_vec())),
            ),
            Some(StoredSecret::Plain(s)) => (
                Some(SECRET_PLAIN),
                Some(Zeroizing::new(s.secret().as_bytes().to_vec())),
            ),
        };
        Ok(Self {
            client_id: record.client_id.clone(),
            metadata,
            client_secret_kind,
            client_secret,
            registration_access_token: record.registration_access_token.map(|d| *d.as_bytes()),
            revision,
            source: record.source.as_str(),
            profile: record.profile.clone(),
            initial_access_token_id: record.initial_access_token_id.clone(),
            software_id: record
                .metadata
                .software_id
                .as_deref()
                .map(|id| software_id_column(id).into_owned()),
            client_id_issued_at: to_i64(record.client_id_issued_at),
            client_secret_expires_at: to_i64(record.client_secret_expires_at),
            created_at: to_i64(record.created_at),
            updated_at: to_i64(record.updated_at),
            last_used_at: record.last_used_at.map(to_i64),
            registration_access_token_expires_at: to_i64(
                record.registration_access_token_expires_at,
            ),
            previous_registration_access_token: record
                .previous_registration_access_token
                .map(|(d, _)| *d.as_bytes()),
            previous_registration_access_token_expires_at: record
                .previous_registration_access_token
                .map(|(_, until)| to_i64(until)),
        })
    }

    /// Binds the eighteen columns as `$1` to `$18`, in [`CLIENT_COLUMNS`](super::CLIENT_COLUMNS) order.
    pub(crate) fn bind<'q, DB>(
        &self,
        query: Query<'q, DB, DB::Arguments>,
    ) -> Query<'q, DB, DB::Arguments>
    where
        DB: Database,
        for<'a> &'a str: Encode<'a, DB> + Type<DB>,
        for<'a> Option<&'a str>: Encode<'a, DB> + Type<DB>,
        for<'a> Option<&'a [u8]>: Encode<'a, DB> + Type<DB>,
        for<'a> i64: Encode<'a, DB> + Type<DB>,
        for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
    {
        query
            .bind(self.client_id.as_str())
            .bind(self.metadata.as_str())
            .bind(self.client_secret_kind)
            .bind(self.client_secret.as_deref().map(Vec::as_slice))
            .bind(
                self.registration_access_token
                    .as_ref()
                    .map(<[u8; 32]>::as_slice),
            )
            .bind(self.revision)
            .bind(self.source)
            .bind(self.profile.as_deref())
            .bind(self.initial_access_token_id.as_deref())
            .bind(self.software_id.as_deref())
            .bind(self.client_id_issued_at)
            .bind(self.client_secret_expires_at)
            .bind(self.created_at)
            .bind(self.updated_at)
            .bind(self.last_used_at)
            .bind(self.registration_access_token_expires_at)
            .bind(
                self.previous_registration_access_token
                    .as_ref()
                    .map(<[u8; 32]>::as_slice),
            )
            .bind(self.previous_registration_access_token_expires_at)
    }
}

/// Reads a row selected with [`CLIENT_COLUMNS`](super::CLIENT_COLUMNS) back into a record.
pub(crate) fn client_from_row<R>(row: &R) -> Result<ClientRecord, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<Vec<u8>>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
{
    let id: String = row.try_get("client_id").map_err(store_error)?;
    let get_u64 = |column: &str| -> Result<u64, StoreError> {
        let value: i64 = row.try_get(column).map_err(store_error)?;
        to_u64(&id, column, value)
    };
    let get_text = |column: &str| -> Result<Option<String>, StoreError> {
        row.try_get(column).map_err(store_error)
    };

    let metadata: String = row.try_get("metadata").map_err(store_error)?;
    let metadata: ClientMetadata = serde_json::from_str(&metadata)
        .map_err(|_| corrupt(&id, "metadata is not valid client metadata JSON"))?;

    let secret: Option<Vec<u8>> = row.try_get("client_secret").map_err(store_error)?;
    let secret = secret.map(Zeroizing::new);
    let client_secret = match (get_text("client_secret_kind")?.as_deref(), secret) {
        (None, None) => None,
        (Some(SECRET_DIGEST), Some(bytes)) => {
            Some(StoredSecret::Digest(digest(&id, "client_secret", &bytes)?))
        }
        (Some(SECRET_PLAIN), Some(bytes)) => {
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| corrupt(&id, "client_secret is not UTF-8"))?;
            Some(StoredSecret::Plain(Secret::new(text)))
        }
        _ => {
            return Err(corrupt(
                &id,
                "client_secret_kind does not match client_secret",
            ));
        }
    };

    let rat: Option<Vec<u8>> = row
        .try_get("registration_access_token")
        .map_err(store_error)?;
    let registration_access_token = rat
        .map(|bytes| digest(&id, "registration_access_token", &bytes))
        .transpose()?;

    let previous: Option<Vec<u8>> = row
        .try_get("previous_registration_access_token")
        .map_err(store_error)?;
    let previous_until: Option<i64> = row
        .try_get("previous_registration_access_token_expires_at")
        .map_err(store_error)?;
    let previous_registration_access_token = match (previous, previous_until) {
        (Some(bytes), Some(until)) => Some((
            digest(&id, "previous_registration_access_token", &bytes)?,
            to_u64(&id, "previous_registration_access_token_expires_at", until)?,
        )),
        _ => None,
    };

    let source: String = row.try_get("source").map_err(store_error)?;
    let source = RecordSource::parse(&source).ok_or_else(|| corrupt(&id, "source is not known"))?;
    let last_used_at: Option<i64> = row.try_get("last_used_at").map_err(store_error)?;

    Ok(ClientRecord {
        metadata,
        client_secret,
        client_id_issued_at: get_u64("client_id_issued_at")?,
        client_secret_expires_at: get_u64("client_secret_expires_at")?,
        registration_access_token,
        registration_access_token_expires_at: get_u64("registration_access_token_expires_at")?,
        previous_registration_access_token,
        revision: get_u64("revision")?,
        source,
        profile: get_text("profile")?,
        initial_access_token_id: get_text("initial_access_token_id")?,
        created_at: get_u64("created_at")?,
        updated_at: get_u64("updated_at")?,
        last_used_at: last_used_at
            .map(|at| to_u64(&id, "last_used_at", at))
            .transpose()?,
        client_id: id,
    })
}

/// Binds an initial access token's columns as `$1` to `$7`.
pub(crate) fn bind_token<'q, DB>(
    token: &InitialAccessToken,
    query: Query<'q, DB, DB::Arguments>,
) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> Option<&'a str>: Encode<'a, DB> + Type<DB>,
    for<'a> &'a [u8]: Encode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
{
    query
        .bind(token.id.as_str())
        .bind(token.digest.as_bytes().as_slice())
        .bind(token.profile.as_deref())
        .bind(to_i64(token.created_at))
        .bind(token.expires_at.map(to_i64))
        .bind(token.max_uses.map(to_i64))
        .bind(to_i64(token.uses))
}

/// Reads a row selected with [`TOKEN_COLUMNS`](super::TOKEN_COLUMNS) back into a token.
pub(crate) fn token_from_row<R>(row: &R) -> Result<InitialAccessToken, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
{
    let id: String = row.try_get("id").map_err(store_error)?;
    let get_u64 = |column: &str| -> Result<Option<u64>, StoreError> {
        let value: Option<i64> = row.try_get(column).map_err(store_error)?;
        value.map(|v| to_u64(&id, column, v)).transpose()
    };
    let bytes: Vec<u8> = row.try_get("digest").map_err(store_error)?;
    let required = |column: &str| -> Result<u64, StoreError> {
        get_u64(column)?.ok_or_else(|| corrupt(&id, format!("{column} is null")))
    };
    Ok(InitialAccessToken {
        digest: digest(&id, "digest", &bytes)?,
        profile: row.try_get("profile").map_err(store_error)?,
        created_at: required("created_at")?,
        expires_at: get_u64("expires_at")?,
        max_uses: get_u64("max_uses")?,
        uses: required("uses")?,
        id,
    })
}
