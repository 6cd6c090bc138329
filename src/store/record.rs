//! [`ClientRecord`]: what is stored for one client.

use crate::credentials::{Secret, SecretDigest};
use crate::metadata::ClientMetadata;

/// How a client's secret is kept.
#[derive(Clone, Debug)]
pub enum StoredSecret {
    /// The SHA-256 digest of the secret: what is kept for `client_secret_basic`
    /// and `client_secret_post`. The secret itself is returned once, in the
    /// registration response, and cannot be recovered.
    Digest(SecretDigest),
    /// The secret itself, kept only for `client_secret_jwt`: it is the HMAC key
    /// with which the server verifies the client's assertions (OIDC Core §9), so
    /// the server must be able to use it.
    Plain(Secret),
}

impl StoredSecret {
    /// Whether `presented` is this secret, compared in constant time.
    pub fn verify(&self, presented: &str) -> bool {
        match self {
            Self::Digest(digest) => digest.verify(presented),
            Self::Plain(secret) => secret.ct_eq(presented),
        }
    }
}

/// Who created a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordSource {
    /// Registered through the registration endpoint (RFC 7591).
    Dynamic,
    /// Created by the host application itself. Such a client has no registration
    /// access token, cannot be managed through RFC 7592, and is never reaped.
    Host,
    /// A URL client: resolved from its Client ID Metadata Document, never
    /// stored (see `tower_dcr::metadata_document`).
    MetadataDocument,
}

impl RecordSource {
    /// The value stored by the SQL backends.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dynamic => "dynamic",
            Self::Host => "host",
            Self::MetadataDocument => "document",
        }
    }

    /// Parses a stored value.
    #[deprecated(note = "use `str::parse` (`FromStr`), whose error says why")]
    pub fn parse(value: &str) -> Option<Self> {
        value.parse().ok()
    }
}

impl std::str::FromStr for RecordSource {
    type Err = crate::metadata::UnknownValue;

    /// Parses a stored value ([`as_str`](Self::as_str)).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "dynamic" => Ok(Self::Dynamic),
            "host" => Ok(Self::Host),
            "document" => Ok(Self::MetadataDocument),
            _ => Err(crate::metadata::UnknownValue::new("record source")),
        }
    }
}

/// Everything stored for one client: its metadata after defaults and policy,
/// digests of its credentials, and lifecycle data.
///
/// `Debug` never shows a secret: digests and secrets print redacted.
#[derive(Clone, Debug)]
pub struct ClientRecord {
    /// The client identifier.
    pub client_id: String,
    /// The registered metadata.
    pub metadata: ClientMetadata,
    /// The client secret (digest, or the secret for `client_secret_jwt`); `None`
    /// for clients that authenticate without one.
    pub client_secret: Option<StoredSecret>,
    /// `client_id_issued_at`: seconds since the Unix epoch.
    pub client_id_issued_at: u64,
    /// `client_secret_expires_at`: seconds since the Unix epoch, `0` for never.
    pub client_secret_expires_at: u64,
    /// Digest of the registration access token (RFC 7592); `None` when the
    /// client cannot be managed through the registration endpoint.
    pub registration_access_token: Option<SecretDigest>,
    /// When the registration access token stops working, seconds since the
    /// Unix epoch; `0` for never (`Profile::registration_access_token_lifetime`).
    pub registration_access_token_expires_at: u64,
    /// The registration access token replaced by the last rotation, with the
    /// time (seconds since the Unix epoch) until which it still works, unless
    /// the current token is used first
    /// (`RegistrationBuilder::registration_access_token_grace`).
    pub previous_registration_access_token: Option<(SecretDigest, u64)>,
    /// Incremented on every update; the store's optimistic concurrency check.
    pub revision: u64,
    /// Who created the client.
    pub source: RecordSource,
    /// The policy profile the client registered under (`None`: the default one).
    pub profile: Option<String>,
    /// Identifier of the initial access token used to register, if any.
    pub initial_access_token_id: Option<String>,
    /// When the record was created, seconds since the Unix epoch.
    pub created_at: u64,
    /// When the record was last changed, seconds since the Unix epoch.
    pub updated_at: u64,
    /// When the client was last seen at the host's token or authorization
    /// endpoint, seconds since the Unix epoch.
    pub last_used_at: Option<u64>,
}

impl ClientRecord {
    /// A client created by the host application (not through registration): no
    /// secret, no registration access token, revision 0.
    pub fn new_host_client(
        client_id: impl Into<String>,
        metadata: ClientMetadata,
        now: u64,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            metadata,
            client_secret: None,
            client_id_issued_at: now,
            client_secret_expires_at: 0,
            registration_access_token: None,
            registration_access_token_expires_at: 0,
            previous_registration_access_token: None,
            revision: 0,
            source: RecordSource::Host,
            profile: None,
            initial_access_token_id: None,
            created_at: now,
            updated_at: now,
            last_used_at: None,
        }
    }

    /// Whether the client secret has expired at `now` (seconds since the epoch).
    pub fn secret_expired(&self, now: u64) -> bool {
        self.client_secret_expires_at != 0 && self.client_secret_expires_at <= now
    }
}

impl ClientRecord {
    /// For a URL client, the host of its `client_id`, to show prominently on a
    /// consent page (draft-ietf-oauth-client-id-metadata-document §8.5: the
    /// user should see which site the client is); `None` for other clients.
    pub fn metadata_document_host(&self) -> Option<&str> {
        if self.source != RecordSource::MetadataDocument {
            return None;
        }
        let authority = self.client_id.strip_prefix("https://")?;
        let end = authority.find(['/', '?', '#']).unwrap_or(authority.len());
        Some(&authority[..end])
    }
}
