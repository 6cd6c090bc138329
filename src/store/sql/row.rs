//! How a [`ClientRecord`] or an [`InitialAccessToken`] maps to a row and back.

use zeroize::Zeroizing;

use super::{
    CLIENT_COLUMN_NAMES, SECRET_DIGEST, SECRET_PLAIN, SqlRow, TOKEN_COLUMN_NAMES, Value, corrupt,
    software_id_column, to_i64, wrong_type,
};
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

    /// The keys of the counts the row is in (`counts`).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn count_keys(&self) -> Vec<String> {
        super::keys_of_row(
            Some(self.source),
            self.software_id.as_deref(),
            self.initial_access_token_id.as_deref(),
        )
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

    /// The eighteen column values, `$1` to `$18`, in
    /// [`CLIENT_COLUMNS`](super::CLIENT_COLUMNS) order.
    pub(crate) fn values<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        fn digest(d: &Option<[u8; 32]>) -> Value<'_> {
            Value::opt_blob(d.as_ref().map(<[u8; 32]>::as_slice))
        }
        out.extend([
            Value::text(&self.client_id),
            Value::text(&self.metadata),
            Value::opt_text(self.client_secret_kind),
            Value::opt_blob(self.client_secret.as_deref().map(Vec::as_slice)),
            digest(&self.registration_access_token),
            Value::Int(Some(self.revision)),
            Value::text(self.source),
            Value::opt_text(self.profile.as_deref()),
            Value::opt_text(self.initial_access_token_id.as_deref()),
            Value::opt_text(self.software_id.as_deref()),
            Value::Int(Some(self.client_id_issued_at)),
            Value::Int(Some(self.client_secret_expires_at)),
            Value::Int(Some(self.created_at)),
            Value::Int(Some(self.updated_at)),
            Value::Int(self.last_used_at),
            Value::Int(Some(self.registration_access_token_expires_at)),
            digest(&self.previous_registration_access_token),
            Value::Int(self.previous_registration_access_token_expires_at),
        ]);
    }
}

/// Reads a row selected with [`CLIENT_COLUMNS`](super::CLIENT_COLUMNS) back into a record.
pub(crate) fn client_from_row(row: &impl SqlRow) -> Result<ClientRecord, StoreError> {
    let column = |name: &str| {
        CLIENT_COLUMN_NAMES
            .iter()
            .position(|c| *c == name)
            .unwrap_or(usize::MAX)
    };
    let id = match row.text(0) {
        Ok(Some(id)) => id,
        Ok(None) => return Err(corrupt("", "client_id is null")),
        Err(e) => return Err(wrong_type("", &CLIENT_COLUMN_NAMES, e)),
    };
    let wrong = |e| wrong_type(&id, &CLIENT_COLUMN_NAMES, e);
    let get_i64 =
        |name: &str| -> Result<Option<i64>, StoreError> { row.int(column(name)).map_err(wrong) };
    let get_u64 = |name: &str| -> Result<u64, StoreError> {
        let value = get_i64(name)?.ok_or_else(|| corrupt(&id, format!("{name} is null")))?;
        to_u64(&id, name, value)
    };
    let get_text = |name: &str| -> Result<Option<String>, StoreError> {
        row.text(column(name)).map_err(wrong)
    };
    let get_blob = |name: &str| -> Result<Option<Vec<u8>>, StoreError> {
        row.blob(column(name)).map_err(wrong)
    };

    let metadata = get_text("metadata")?.ok_or_else(|| corrupt(&id, "metadata is null"))?;
    let metadata: ClientMetadata = serde_json::from_str(&metadata)
        .map_err(|_| corrupt(&id, "metadata is not valid client metadata JSON"))?;

    let secret = get_blob("client_secret")?.map(Zeroizing::new);
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

    let rat = get_blob("registration_access_token")?;
    let registration_access_token = rat
        .map(|bytes| digest(&id, "registration_access_token", &bytes))
        .transpose()?;

    let previous = get_blob("previous_registration_access_token")?;
    let previous_until = get_i64("previous_registration_access_token_expires_at")?;
    let previous_registration_access_token = match (previous, previous_until) {
        (Some(bytes), Some(until)) => Some((
            digest(&id, "previous_registration_access_token", &bytes)?,
            to_u64(&id, "previous_registration_access_token_expires_at", until)?,
        )),
        _ => None,
    };

    let source = get_text("source")?.unwrap_or_default();
    let source: RecordSource = source
        .parse()
        .map_err(|_| corrupt(&id, "source is not known"))?;
    let last_used_at = get_i64("last_used_at")?;

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

/// An initial access token's column values, `$1` to `$7`.
pub(crate) fn token_values<'t>(token: &'t InitialAccessToken, out: &mut Vec<Value<'t>>) {
    out.extend([
        Value::text(&token.id),
        Value::blob(token.digest.as_bytes()),
        Value::opt_text(token.profile.as_deref()),
        Value::Int(Some(to_i64(token.created_at))),
        Value::Int(token.expires_at.map(to_i64)),
        Value::Int(token.max_uses.map(to_i64)),
        Value::Int(Some(to_i64(token.uses))),
    ]);
}

/// Reads a row selected with [`TOKEN_COLUMNS`](super::TOKEN_COLUMNS) back into a token.
pub(crate) fn token_from_row(row: &impl SqlRow) -> Result<InitialAccessToken, StoreError> {
    let column = |name: &str| {
        TOKEN_COLUMN_NAMES
            .iter()
            .position(|c| *c == name)
            .unwrap_or(usize::MAX)
    };
    let id = match row.text(0) {
        Ok(Some(id)) => id,
        Ok(None) => return Err(corrupt("", "id is null")),
        Err(e) => return Err(wrong_type("", &TOKEN_COLUMN_NAMES, e)),
    };
    let wrong = |e| wrong_type(&id, &TOKEN_COLUMN_NAMES, e);
    let get_u64 = |name: &str| -> Result<Option<u64>, StoreError> {
        let value = row.int(column(name)).map_err(wrong)?;
        value.map(|v| to_u64(&id, name, v)).transpose()
    };
    let bytes = row
        .blob(column("digest"))
        .map_err(wrong)?
        .ok_or_else(|| corrupt(&id, "digest is null"))?;
    let required = |name: &str| -> Result<u64, StoreError> {
        get_u64(name)?.ok_or_else(|| corrupt(&id, format!("{name} is null")))
    };
    Ok(InitialAccessToken {
        digest: digest(&id, "digest", &bytes)?,
        profile: row.text(column("profile")).map_err(wrong)?,
        created_at: required("created_at")?,
        expires_at: get_u64("expires_at")?,
        max_uses: get_u64("max_uses")?,
        uses: required("uses")?,
        id,
    })
}
