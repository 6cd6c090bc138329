//! `PUT {endpoint}/{client_id}`: replace the client configuration
//! (RFC 7592 §2.2).

use std::net::SocketAddr;
use std::sync::Arc;

use http::StatusCode;
use http::request::Parts;
use http_body::Body;
use serde_json::Value;

use super::body::read_json_object;
use super::client_information::InformationResponse;
use super::manage::{Presented, authenticate};
use super::prepare::prepare_metadata;
use super::revision::{Credentials, Origin, build_record, mint_credentials};
use super::{rng_failed, unavailable};
use crate::config::{Config, RatRotation};
use crate::credentials::{Entropy, Secret};
use crate::error::BoxError;
use crate::error::{RegistrationError, Rejection};
use crate::events::EventKind;
use crate::events::Operation;
use crate::metadata::ClientMetadata;
use crate::policy::{Profile, RequestContext};
use crate::response::{self, ResponseBody};
use crate::store::{ClientRecord, StoreError, StoredSecret};
use crate::time::now;

/// Server-issued members (RFC 7592 §2.2: the client "MUST NOT include" them).
/// A client that sends back what GET returned may carry them: they are
/// ignored when they equal the current values and refused when they differ.
const SERVER_ISSUED_MEMBERS: [&str; 4] = [
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
];

/// How many times a lost revision race is retried before answering `503`.
const ATTEMPTS: usize = 4;

/// Who the request says it is: the members of RFC 7592 §2.2 that are not
/// metadata.
struct Identity {
    client_id: String,
    client_secret: Option<String>,
    /// The server-issued members sent, to compare with the current values.
    server_issued: Vec<(&'static str, Value)>,
}

/// Takes the members of RFC 7592 §2.2 that are not metadata out of the body:
/// `client_id` (required), `client_secret` (optional), the server-issued ones.
fn take_identity(
    object: &mut serde_json::Map<String, Value>,
) -> Result<Identity, RegistrationError> {
    let server_issued = SERVER_ISSUED_MEMBERS
        .iter()
        .filter_map(|field| object.remove(*field).map(|value| (*field, value)))
        .collect();
    let client_id = match object.remove("client_id") {
        Some(Value::String(id)) => id,
        Some(_) => {
            return Err(RegistrationError::invalid_client_metadata(
                "client_id: must be a string",
            ));
        }
        None => {
            return Err(RegistrationError::invalid_client_metadata(
                "client_id: required in an update request (RFC 7592 §2.2)",
            ));
        }
    };
    let client_secret = match object.remove("client_secret") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return Err(RegistrationError::invalid_client_metadata(
                "client_secret: must be a string",
            ));
        }
    };
    Ok(Identity {
        client_id,
        client_secret,
        server_issued,
    })
}

/// Compares who the request says it is with the stored client (RFC 7592 §2.2),
/// before anything else runs: `client_id` must be the client's, a
/// `client_secret` must be its current one, and server-issued members must
/// equal their current values.
fn check_identity(
    config: &Config,
    record: &ClientRecord,
    token: &str,
    identity: &Identity,
) -> Result<(), RegistrationError> {
    if identity.client_id != record.client_id {
        return Err(RegistrationError::invalid_client_metadata(
            "client_id: must equal the identifier of the client being updated (RFC 7592 §2.2)",
        ));
    }
    if let Some(presented) = &identity.client_secret {
        let matches = record
            .client_secret
            .as_ref()
            .is_some_and(|stored| stored.verify(presented));
        if !matches {
            return Err(RegistrationError::invalid_client_metadata(
                "client_secret: does not match the current client secret; a client cannot choose its own secret (RFC 7592 §2.2)",
            ));
        }
    }
    for (field, value) in &identity.server_issued {
        let same = match *field {
            "registration_access_token" => value.as_str().is_some_and(|sent| {
                bool::from(subtle::ConstantTimeEq::ct_eq(
                    sent.as_bytes(),
                    token.as_bytes(),
                ))
            }),
            "registration_client_uri" => value
                .as_str()
                .is_some_and(|sent| sent == config.registration_client_uri(&record.client_id)),
            "client_id_issued_at" => value.as_u64() == Some(record.client_id_issued_at),
            _ => value.as_u64() == Some(record.client_secret_expires_at),
        };
        if !same {
            return Err(RegistrationError::invalid_client_metadata(format!(
                "{field}: differs from the current value; server-issued members may only be sent back unchanged (RFC 7592 §2.2)"
            )));
        }
    }
    Ok(())
}

/// RFC 7592 §2.2: authenticates the request, checks who it says it is,
/// checks the new metadata under the client's profile, stores the new revision
/// and answers with the client information.
pub(crate) async fn update<B>(
    config: &Config,
    client_id: &str,
    parts: &Parts,
    body: B,
    peer: Option<SocketAddr>,
) -> Result<http::Response<ResponseBody>, Rejection>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let (current, token, presented) = authenticate(config, client_id, &parts.headers).await?;
    let mut object = read_json_object(parts, body, config.limits.max_body_bytes).await?;
    let identity = take_identity(&mut object)?;
    // Who is asking is settled before the hook or any fetch runs.
    check_identity(config, &current, token, &identity)?;
    let profile = registered_profile(config, &current)?;
    let accepted = current.metadata.software_statement.as_deref();
    let metadata = prepare_metadata(config, profile, object, accepted, || {
        let mut context = RequestContext::new(Operation::Update, parts, peer);
        context.profile.clone_from(&current.profile);
        context
            .initial_access_token_id
            .clone_from(&current.initial_access_token_id);
        context.client_id = Some(current.client_id.clone());
        context
    })
    .await?;
    let update = Update {
        config,
        client_id,
        parts,
        token,
        identity: &identity,
        profile,
    };
    let (record, credentials) = update.store(metadata, current, presented).await?;
    tracing::debug!(client_id = %record.client_id, "client updated");
    config.emit(
        EventKind::Updated,
        Operation::Update,
        None,
        Some(&record),
        peer,
    );
    Ok(respond(config, &record, &credentials, token))
}

/// A client keeps the profile it registered under: RFC 7592 updates are
/// checked against the same rules.
fn registered_profile<'c>(
    config: &'c Config,
    current: &ClientRecord,
) -> Result<&'c Profile, RegistrationError> {
    config.profile_named(current.profile.as_deref()).ok_or_else(|| {
        tracing::error!(profile = ?current.profile, "client registered under a profile that is no longer configured");
        RegistrationError::invalid_client_metadata(
            "the registration policy of this client is no longer available",
        )
    })
}

/// What stays the same across the attempts to store an update.
struct Update<'a> {
    config: &'a Config,
    client_id: &'a str,
    parts: &'a Parts,
    token: &'a str,
    identity: &'a Identity,
    profile: &'a Profile,
}

impl Update<'_> {
    /// Stores the next revision of `current` with `metadata`. A lost revision
    /// race (another request changed the client first) loads the client again,
    /// authenticates the token again (a rotated token is now dead) and checks
    /// the identity again, up to [`ATTEMPTS`] times, then answers `503`.
    async fn store(
        &self,
        mut metadata: ClientMetadata,
        mut current: Arc<ClientRecord>,
        mut presented: Presented,
    ) -> Result<(Arc<ClientRecord>, Credentials), Rejection> {
        let config = self.config;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                check_identity(config, &current, self.token, self.identity)?;
            }
            let (record, credentials) = self.revision(&current, presented, metadata)?;
            match config
                .store
                .update(Arc::clone(&record), current.revision)
                .await
            {
                Ok(()) => return Ok((record, credentials)),
                Err(StoreError::Stale) => {
                    // Moved into the record, not cloned: taken back for the
                    // next attempt.
                    metadata = Arc::try_unwrap(record)
                        .map_or_else(|shared| shared.metadata.clone(), |r| r.metadata);
                    (current, _, presented) =
                        authenticate(config, self.client_id, &self.parts.headers).await?;
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(Rejection::StoreUnavailable)
    }

    /// The next revision of `current`, with its credentials: a request made
    /// with the previous token always gets a new one (the previous token dies
    /// when its grace ends, see `reissue_token`).
    fn revision(
        &self,
        current: &ClientRecord,
        presented: Presented,
        metadata: ClientMetadata,
    ) -> Result<(Arc<ClientRecord>, Credentials), Rejection> {
        let config = self.config;
        let now = now();
        let rotate_token =
            config.rat_rotation == RatRotation::OnUpdate || presented == Presented::Previous;
        let mut entropy =
            Entropy::draw(Entropy::needed(false, usize::from(rotate_token))).map_err(rng_failed)?;
        let origin = Origin::Update(current, presented);
        let credentials = mint_credentials(
            config,
            self.profile,
            &origin,
            &metadata,
            rotate_token,
            now,
            &mut entropy,
        )?;
        let record = Arc::new(build_record(
            current.client_id.clone(),
            metadata,
            origin,
            &credentials,
            now,
        ));
        Ok((record, credentials))
    }
}

/// The client information response of RFC 7592 §2.2: the new secret or the
/// plaintext one of a `client_secret_jwt` client, and the new token or the
/// one the request used.
fn respond(
    config: &Config,
    record: &ClientRecord,
    credentials: &Credentials,
    token: &str,
) -> http::Response<ResponseBody> {
    let uri = config.registration_client_uri(&record.client_id);
    let returned_secret =
        credentials
            .new_secret
            .as_ref()
            .map(Secret::secret)
            .or(match &record.client_secret {
                Some(StoredSecret::Plain(s)) => Some(s.secret()),
                _ => None,
            });
    let body = InformationResponse {
        record,
        client_secret: returned_secret,
        registration_access_token: Some(
            credentials.new_token.as_ref().map_or(token, Secret::secret),
        ),
        registration_client_uri: Some(&uri),
    }
    .to_json();
    response::json(StatusCode::OK, body)
}
