//! What the SQL stores share: the schema, the statements, and how a
//! [`ClientRecord`] or an [`InitialAccessToken`] maps to a row and back.
//!
//! SQLite and PostgreSQL run the same statements (`$n` placeholders work in
//! both); only the binary column type of the schema differs. Every statement is
//! a single autocommitted statement, so a backend may retry one that failed with
//! a serialization failure without leaving anything half done.
//!
//! Unsigned integers are stored as `BIGINT`: values above `i64::MAX` saturate
//! (timestamps and counters that large mean "never"), and a negative value read
//! back is reported as a corrupt row rather than wrapped around.

use std::borrow::Cow;
use std::sync::Arc;

use sqlx::query::Query;
use sqlx::{AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Row, Type};
use zeroize::Zeroizing;

use super::{
    ClientFilter, ClientRecord, InitialAccessToken, RecordSource, StoreError, StoredSecret,
};
use crate::credentials::{Secret, SecretDigest};
use crate::metadata::ClientMetadata;

/// The columns of the clients table, in the order statements bind and read them.
const CLIENT_COLUMNS: &str = "client_id, metadata, client_secret_kind, client_secret, \
     registration_access_token, revision, source, profile, initial_access_token_id, \
     software_id, client_id_issued_at, client_secret_expires_at, created_at, updated_at, \
     last_used_at, registration_access_token_expires_at, previous_registration_access_token, \
     previous_registration_access_token_expires_at";

/// The columns of the initial access token table.
const TOKEN_COLUMNS: &str = "id, digest, profile, created_at, expires_at, max_uses, uses";

/// `client_secret_kind` of a SHA-256 digest.
const SECRET_DIGEST: &str = "digest";
/// `client_secret_kind` of a `client_secret_jwt` HMAC key, kept as is.
const SECRET_PLAIN: &str = "plain";

/// Quotes an SQL identifier, so any table prefix or schema name is safe to
/// splice into a statement.
pub(crate) fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// The statements of one store, built once for its table names.
#[derive(Debug)]
pub(crate) struct Statements {
    /// `CREATE TABLE IF NOT EXISTS` and `CREATE INDEX IF NOT EXISTS`, in order.
    pub(crate) schema: Vec<Arc<str>>,
    clients: String,
    pub(crate) insert_client: Arc<str>,
    pub(crate) get_client: Arc<str>,
    pub(crate) update_client: Arc<str>,
    pub(crate) delete_client: Arc<str>,
    pub(crate) delete_client_at_revision: Arc<str>,
    pub(crate) record_use: Arc<str>,
    pub(crate) list_clients: Arc<str>,
    pub(crate) list_clients_after: Arc<str>,
    pub(crate) stale_clients: Arc<str>,
    pub(crate) delete_if_stale: Arc<str>,
    pub(crate) expired_secrets: Arc<str>,
    pub(crate) insert_token: Arc<str>,
    pub(crate) find_token: Arc<str>,
    pub(crate) consume_token: Arc<str>,
    pub(crate) list_tokens: Arc<str>,
    pub(crate) revoke_token: Arc<str>,
}

impl Statements {
    /// Statements for the tables `{prefix}clients` and
    /// `{prefix}initial_access_tokens`, in `schema` if given. `blob` is the
    /// backend's binary type (`BLOB`, `BYTEA`).
    pub(crate) fn new(schema: Option<&str>, prefix: &str, blob: &str) -> Self {
        let table = |name: &str| match schema {
            Some(schema) => format!("{}.{}", quote(schema), quote(&format!("{prefix}{name}"))),
            None => quote(&format!("{prefix}{name}")),
        };
        let index = |name: &str| quote(&format!("{prefix}{name}"));
        let c = table("clients");
        let t = table("initial_access_tokens");
        // StaleCriteria::matches: a NULL bound compares as unknown, so an absent
        // criterion matches nothing, and host clients are never stale.
        let stale = |unused: u8, idle: u8| {
            format!(
                "source = 'dynamic' AND \
                 ((last_used_at IS NULL AND created_at < ${unused}) OR last_used_at < ${idle})"
            )
        };
        let s = |sql: String| -> Arc<str> { sql.into() };
        Self {
            schema: vec![
                s(format!(
                    "CREATE TABLE IF NOT EXISTS {c} (
                        client_id TEXT NOT NULL PRIMARY KEY,
                        metadata TEXT NOT NULL,
                        client_secret_kind TEXT,
                        client_secret {blob},
                        registration_access_token {blob},
                        revision BIGINT NOT NULL,
                        source TEXT NOT NULL,
                        profile TEXT,
                        initial_access_token_id TEXT,
                        software_id TEXT,
                        client_id_issued_at BIGINT NOT NULL,
                        client_secret_expires_at BIGINT NOT NULL,
                        created_at BIGINT NOT NULL,
                        updated_at BIGINT NOT NULL,
                        last_used_at BIGINT,
                        registration_access_token_expires_at BIGINT NOT NULL DEFAULT 0,
                        previous_registration_access_token {blob},
                        previous_registration_access_token_expires_at BIGINT
                    )"
                )),
                s(format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {c} (software_id)",
                    index("clients_software_id")
                )),
                s(format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {c} (initial_access_token_id)",
                    index("clients_initial_access_token_id")
                )),
                s(format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {c} (last_used_at, created_at)",
                    index("clients_last_used_at")
                )),
                s(format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {c} (client_secret_expires_at)",
                    index("clients_client_secret_expires_at")
                )),
                s(format!(
                    "CREATE TABLE IF NOT EXISTS {t} (
                        id TEXT NOT NULL PRIMARY KEY,
                        digest {blob} NOT NULL UNIQUE,
                        profile TEXT,
                        created_at BIGINT NOT NULL,
                        expires_at BIGINT,
                        max_uses BIGINT,
                        uses BIGINT NOT NULL
                    )"
                )),
            ],
            insert_client: s(format!(
                "INSERT INTO {c} ({CLIENT_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
                 ON CONFLICT DO NOTHING"
            )),
            get_client: s(format!(
                "SELECT {CLIENT_COLUMNS} FROM {c} WHERE client_id = $1"
            )),
            // A use recorded since the caller read the record is kept: last_used_at
            // only moves forward, so an update cannot make a client look stale.
            update_client: s(format!(
                "UPDATE {c} SET metadata = $2, client_secret_kind = $3, client_secret = $4, \
                 registration_access_token = $5, revision = $6, source = $7, profile = $8, \
                 initial_access_token_id = $9, software_id = $10, client_id_issued_at = $11, \
                 client_secret_expires_at = $12, created_at = $13, updated_at = $14, \
                 last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $15 \
                 THEN $15 ELSE last_used_at END, \
                 registration_access_token_expires_at = $16, \
                 previous_registration_access_token = $17, \
                 previous_registration_access_token_expires_at = $18 \
                 WHERE client_id = $1 AND revision = $19"
            )),
            delete_client: s(format!("DELETE FROM {c} WHERE client_id = $1")),
            delete_client_at_revision: s(format!(
                "DELETE FROM {c} WHERE client_id = $1 AND revision = $2"
            )),
            record_use: s(format!(
                "UPDATE {c} SET last_used_at = $2 \
                 WHERE client_id = $1 AND (last_used_at IS NULL OR last_used_at < $2)"
            )),
            list_clients: s(format!(
                "SELECT {CLIENT_COLUMNS} FROM {c} ORDER BY client_id LIMIT $1"
            )),
            list_clients_after: s(format!(
                "SELECT {CLIENT_COLUMNS} FROM {c} WHERE client_id > $1 \
                 ORDER BY client_id LIMIT $2"
            )),
            stale_clients: s(format!(
                "SELECT {CLIENT_COLUMNS} FROM {c} WHERE {} ORDER BY client_id LIMIT $3",
                stale(1, 2)
            )),
            delete_if_stale: s(format!(
                "DELETE FROM {c} WHERE client_id = $1 AND {}",
                stale(2, 3)
            )),
            expired_secrets: s(format!(
                "SELECT {CLIENT_COLUMNS} FROM {c} WHERE client_secret_kind IS NOT NULL \
                 AND client_secret_expires_at <> 0 AND client_secret_expires_at <= $1 \
                 ORDER BY client_id LIMIT $2"
            )),
            insert_token: s(format!(
                "INSERT INTO {t} ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT DO NOTHING"
            )),
            find_token: s(format!("SELECT {TOKEN_COLUMNS} FROM {t} WHERE digest = $1")),
            // One statement checks and takes the use: two concurrent calls on a
            // one-use token cannot both pass the `uses < max_uses` test.
            consume_token: s(format!(
                "UPDATE {t} SET uses = uses + 1 WHERE digest = $1 \
                 AND (expires_at IS NULL OR expires_at > $2) \
                 AND (max_uses IS NULL OR uses < max_uses) \
                 RETURNING {TOKEN_COLUMNS}"
            )),
            list_tokens: s(format!("SELECT {TOKEN_COLUMNS} FROM {t} ORDER BY id")),
            revoke_token: s(format!("DELETE FROM {t} WHERE id = $1")),
            clients: c,
        }
    }

    /// `SELECT COUNT(*)` for `filter`, with the values to bind in order. Built per
    /// call so each combination of filters is a plain indexable statement.
    pub(crate) fn count_clients<'f>(
        &self,
        filter: &ClientFilter<'f>,
    ) -> (String, Vec<Cow<'f, str>>) {
        let mut conditions = Vec::new();
        let mut binds = Vec::new();
        let wanted = [
            ("source", filter.source.map(|s| Cow::Borrowed(s.as_str()))),
            ("software_id", filter.software_id.map(software_id_column)),
            (
                "initial_access_token_id",
                filter.initial_access_token_id.map(Cow::Borrowed),
            ),
        ];
        for (column, value) in wanted {
            if let Some(value) = value {
                binds.push(value);
                conditions.push(format!("{column} = ${}", binds.len()));
            }
        }
        let mut sql = format!("SELECT COUNT(*) FROM {}", self.clients);
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        (sql, binds)
    }
}

/// The `software_id` column's value. It only serves counting (quotas), and
/// PostgreSQL text cannot hold U+0000, which a client may send in its metadata:
/// that character is stored as U+FFFD, in the column and in filters alike. The
/// metadata keeps the exact value.
pub(crate) fn software_id_column(software_id: &str) -> Cow<'_, str> {
    if software_id.contains('\0') {
        Cow::Owned(software_id.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(software_id)
    }
}

/// A statement text as sqlx takes it. Our statements splice only quoted
/// identifiers from the store's configuration; every value is a bind parameter.
pub(crate) fn sql(statement: &Arc<str>) -> AssertSqlSafe<Arc<str>> {
    AssertSqlSafe(Arc::clone(statement))
}

/// A stored row that cannot be turned back into a record. The message names the
/// row by its public key (a `client_id` or token id) and the column, never a
/// value.
#[derive(Debug, thiserror::Error)]
#[error("stored row {key:?} is corrupt: {problem}")]
pub(crate) struct CorruptRow {
    key: String,
    problem: String,
}

fn corrupt(key: &str, problem: impl Into<String>) -> StoreError {
    StoreError::corrupt(CorruptRow {
        key: key.to_owned(),
        problem: problem.into(),
    })
}

/// A record whose revision does not fit the `BIGINT` column. Revisions count
/// updates, so this is a caller's bug, reported rather than stored wrongly.
#[derive(Debug, thiserror::Error)]
#[error("client {client_id:?}: revision {revision} exceeds the largest storable value")]
pub(crate) struct RevisionOutOfRange {
    client_id: String,
    revision: u64,
}

/// A database error, keeping only its SQLSTATE and primary message: the
/// driver's detail fields can quote row values.
#[derive(Debug, thiserror::Error)]
#[error("database error {code}: {message}")]
pub(crate) struct DatabaseError {
    code: String,
    message: String,
}

/// Maps a driver error: a unique violation is a [`StoreError::Conflict`], any
/// other failure makes the store [`StoreError::Unavailable`].
pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(e) if e.is_unique_violation() => StoreError::Conflict,
        sqlx::Error::Database(e) if super::missing_table::is(&*e) => {
            super::missing_table::error(&*e)
        }
        sqlx::Error::Database(e) => StoreError::unavailable(DatabaseError {
            code: e.code().map(|c| c.into_owned()).unwrap_or_default(),
            message: e.message().to_owned(),
        }),
        other => StoreError::unavailable(other),
    }
}

/// A `u64` as stored: values above `i64::MAX` saturate.
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A `usize` limit as stored.
pub(crate) fn limit(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(key: &str, column: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(key, format!("{column} is negative")))
}

fn digest(key: &str, column: &str, bytes: &[u8]) -> Result<SecretDigest, StoreError> {
    SecretDigest::from_slice(bytes)
        .ok_or_else(|| corrupt(key, format!("{column} is not a SHA-256 digest")))
}

/// The values of one row of the clients table.
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

    /// Binds the eighteen columns as `$1` to `$18`, in [`CLIENT_COLUMNS`] order.
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

/// Reads a row selected with [`CLIENT_COLUMNS`] back into a record.
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

/// Reads a row selected with [`TOKEN_COLUMNS`] back into a token.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_so_a_prefix_cannot_inject() {
        assert_eq!(quote("dcr_clients"), "\"dcr_clients\"");
        assert_eq!(
            quote("x\"; DROP TABLE y; --"),
            "\"x\"\"; DROP TABLE y; --\""
        );
        let statements = Statements::new(Some("my\"schema"), "p_", "BYTEA");
        assert!(
            statements
                .get_client
                .contains("FROM \"my\"\"schema\".\"p_clients\" WHERE")
        );
    }

    #[test]
    fn unsigned_values_saturate_instead_of_wrapping() {
        assert_eq!(to_i64(0), 0);
        assert_eq!(to_i64(i64::MAX as u64), i64::MAX);
        assert_eq!(to_i64(u64::MAX), i64::MAX);
        assert_eq!(limit(usize::MAX), i64::MAX);
        assert!(to_u64("c", "created_at", -1).is_err());
    }

    #[test]
    fn a_revision_beyond_bigint_is_refused_not_truncated() {
        let mut record = crate::store::ClientRecord::new_host_client("c", Default::default(), 1);
        record.revision = u64::MAX;
        assert!(matches!(
            ClientRow::new(&record),
            Err(StoreError::Unavailable(_))
        ));
    }

    #[test]
    fn count_binds_only_present_filters_in_order() {
        let statements = Statements::new(None, "", "BLOB");
        let (sql, binds) = statements.count_clients(&ClientFilter::default());
        assert_eq!(sql, "SELECT COUNT(*) FROM \"clients\"");
        assert!(binds.is_empty());
        let filter = ClientFilter {
            source: Some(RecordSource::Host),
            software_id: None,
            initial_access_token_id: Some("t"),
        };
        let (sql, binds) = statements.count_clients(&filter);
        assert!(sql.ends_with("WHERE source = $1 AND initial_access_token_id = $2"));
        assert_eq!(binds, ["host", "t"]);
    }

    #[test]
    fn software_id_column_replaces_only_nul() {
        assert_eq!(software_id_column("app"), "app");
        assert_eq!(software_id_column("a\0b"), "a\u{FFFD}b");
    }
}
