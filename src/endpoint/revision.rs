//! The one place a client record is built and its credentials minted, for a
//! registration (RFC 7591 §3.2.1) and for an update (RFC 7592 §2.2).

use crate::config::Config;
use crate::credentials::{Entropy, Secret, SecretDigest, min_hmac_key_len};
use crate::error::Rejection;
use crate::metadata::{ClientMetadata, TokenEndpointAuthMethod};
use crate::policy::Profile;
use crate::store::{ClientRecord, RecordSource, StoredSecret};

use super::manage::Presented;
use super::rng_failed;

/// Whom a record revision is for: a new registration, or the next revision of
/// a stored client.
pub(super) enum Origin<'a> {
    /// A new registration, with the profile and initial access token it used.
    New {
        profile: Option<String>,
        initial_access_token_id: Option<String>,
    },
    /// An update of this stored client, authorized with this token.
    Update(&'a ClientRecord, Presented),
}

/// The credentials of a record revision.
pub(super) struct Credentials {
    /// The client secret as stored, if the auth method uses one.
    pub(super) client_secret: Option<StoredSecret>,
    /// When the secret expires (`0`: never).
    pub(super) client_secret_expires_at: u64,
    /// A newly minted client secret, returned once.
    pub(super) new_secret: Option<Secret>,
    /// A newly minted registration access token, returned once.
    pub(super) new_token: Option<Secret>,
    /// When the registration access token expires (`0`: never).
    pub(super) token_expires_at: u64,
    /// The token a rotation replaced, and until when it still works.
    pub(super) previous_token: Option<(SecretDigest, u64)>,
}

/// Mints what the revision needs: a client secret when the auth method uses one
/// (on an update the current one is kept while usable), and a registration
/// access token when `issue_token`.
pub(super) fn mint_credentials(
    config: &Config,
    profile: &Profile,
    origin: &Origin<'_>,
    metadata: &ClientMetadata,
    issue_token: bool,
    now: u64,
    entropy: &mut Entropy,
) -> Result<Credentials, Rejection> {
    let (client_secret, client_secret_expires_at, new_secret) = match origin {
        Origin::New { .. } => match mint_client_secret(metadata, profile, now, entropy)? {
            Some((secret, stored, expires_at)) => (Some(stored), expires_at, Some(secret)),
            None => (None, 0, None),
        },
        Origin::Update(record, _) => next_secret(config, profile, record, metadata, now, entropy)?,
    };
    let new_token = if issue_token {
        Some(entropy.secret().map_err(rng_failed)?)
    } else {
        None
    };
    let fresh_expiry = || {
        profile
            .registration_access_token_lifetime
            .map_or(0, |lifetime| now.saturating_add(lifetime.as_secs()))
    };
    let (token_expires_at, previous_token) = match origin {
        Origin::New { .. } => (fresh_expiry(), None),
        Origin::Update(current, presented) => {
            let previous = match (new_token.is_some(), presented) {
                // Presented the previous token: it keeps its deadline, never a
                // longer one.
                (_, Presented::Previous) => current.previous_registration_access_token,
                // A rotation keeps the replaced token alive for the grace period.
                (true, Presented::Current) if !config.rat_grace.is_zero() => {
                    current.registration_access_token.map(|digest| {
                        let mut until = now.saturating_add(config.rat_grace.as_secs().max(1));
                        let expiry = current.registration_access_token_expires_at;
                        if expiry != 0 {
                            until = until.min(expiry);
                        }
                        (digest, until)
                    })
                }
                // The current token was used: the previous one's grace ends.
                _ => None,
            };
            let expiry = if new_token.is_some() {
                fresh_expiry()
            } else {
                current.registration_access_token_expires_at
            };
            (expiry, previous)
        }
    };
    Ok(Credentials {
        client_secret,
        client_secret_expires_at,
        new_secret,
        new_token,
        token_expires_at,
        previous_token,
    })
}

/// The record revision: a new registration starts at revision 1 as a dynamic
/// client; an update keeps what the client cannot change and counts up.
pub(super) fn build_record(
    client_id: String,
    metadata: ClientMetadata,
    origin: Origin<'_>,
    credentials: &Credentials,
    now: u64,
) -> ClientRecord {
    let new_token = credentials.new_token.as_ref().map(Secret::digest);
    let client_secret = credentials.client_secret.clone();
    let client_secret_expires_at = credentials.client_secret_expires_at;
    match origin {
        Origin::New {
            profile,
            initial_access_token_id,
        } => ClientRecord {
            client_id,
            metadata,
            client_secret,
            client_id_issued_at: now,
            client_secret_expires_at,
            registration_access_token: new_token,
            registration_access_token_expires_at: credentials.token_expires_at,
            previous_registration_access_token: None,
            revision: 1,
            source: RecordSource::Dynamic,
            profile,
            initial_access_token_id,
            created_at: now,
            updated_at: now,
            last_used_at: None,
        },
        Origin::Update(current, _) => ClientRecord {
            client_id,
            metadata,
            client_secret,
            client_id_issued_at: current.client_id_issued_at,
            client_secret_expires_at,
            registration_access_token: new_token.or(current.registration_access_token),
            registration_access_token_expires_at: credentials.token_expires_at,
            previous_registration_access_token: credentials.previous_token,
            revision: current.revision + 1,
            source: current.source,
            profile: current.profile.clone(),
            initial_access_token_id: current.initial_access_token_id.clone(),
            created_at: current.created_at,
            updated_at: now,
            last_used_at: current.last_used_at,
        },
    }
}

/// The secret for a new registration, if its auth method uses one, with how it
/// is stored and when it expires.
fn mint_client_secret(
    metadata: &ClientMetadata,
    profile: &Profile,
    now: u64,
    entropy: &mut Entropy,
) -> Result<Option<(Secret, StoredSecret, u64)>, Rejection> {
    let method = metadata.auth_method();
    if !method.uses_client_secret() {
        return Ok(None);
    }
    // A client_secret_jwt secret is an HMAC key: long enough for HS512.
    let (secret, stored) = if method == TokenEndpointAuthMethod::ClientSecretJwt {
        let secret = entropy.hmac_secret().map_err(rng_failed)?;
        (secret.clone(), StoredSecret::Plain(secret))
    } else {
        let secret = entropy.secret().map_err(rng_failed)?;
        let digest = secret.digest();
        (secret, StoredSecret::Digest(digest))
    };
    let expires_at = profile
        .client_secret_lifetime
        .map_or(0, |lifetime| now.saturating_add(lifetime.as_secs()));
    Ok(Some((secret, stored, expires_at)))
}

/// The secret after the update: kept when the method still uses one, converted
/// when it moves between digest and plaintext storage, newly minted (and
/// returned) when there is none usable, dropped when the method needs none.
fn next_secret(
    config: &Config,
    profile: &Profile,
    record: &ClientRecord,
    metadata: &ClientMetadata,
    now: u64,
    entropy: &mut Entropy,
) -> Result<(Option<StoredSecret>, u64, Option<Secret>), Rejection> {
    let method = metadata.auth_method();
    if !method.uses_client_secret() {
        return Ok((None, 0, None));
    }
    let jwt = method == TokenEndpointAuthMethod::ClientSecretJwt;
    let reusable = !config.rotate_client_secret_on_update && !record.secret_expired(now);
    let kept = match (&record.client_secret, reusable) {
        // Kept only while it can key the registered alg (RFC 7518 §3.2).
        (Some(StoredSecret::Plain(secret)), true) if jwt => {
            let alg = metadata
                .algorithms()
                .token_endpoint_auth_signing_alg
                .as_deref();
            (secret.secret().len() >= min_hmac_key_len(alg))
                .then(|| StoredSecret::Plain(secret.clone()))
        }
        (Some(StoredSecret::Plain(secret)), true) => Some(StoredSecret::Digest(secret.digest())),
        (Some(StoredSecret::Digest(digest)), true) if !jwt => Some(StoredSecret::Digest(*digest)),
        _ => None,
    };
    if let Some(kept) = kept {
        return Ok((Some(kept), record.client_secret_expires_at, None));
    }
    let (secret, stored, expires_at) =
        mint_client_secret(metadata, profile, now, entropy)?.ok_or(Rejection::StoreUnavailable)?;
    Ok((Some(stored), expires_at, Some(secret)))
}
