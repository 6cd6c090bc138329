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
use crate::policy::RequestContext;
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
    let (mut current, token, mut presented) =
        authenticate(config, client_id, &parts.headers).await?;
    let mut object = read_json_object(parts, body, config.limits.max_body_bytes).await?;
    let identity = take_identity(&mut object)?;
    // Who is asking is settled before the hook or any fetch runs.
    check_identity(config, &current, token, &identity)?;
    // A client keeps the profile it registered under (RFC 7592 updates are
    // checked against the same rules).
    let profile = config.profile_named(current.profile.as_deref()).ok_or_else(|| {
        tracing::error!(profile = ?current.profile, "client registered under a profile that is no longer configured");
        RegistrationError::invalid_client_metadata(
            "the registration policy of this client is no longer available",
        )
    })?;
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
    let mut metadata = metadata;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            check_identity(config, &current, token, &identity)?;
        }
        let now = now();
        // A request made with the previous token always gets a new one: the
        // previous token dies when its grace ends (see `reissue_token`).
        let rotate_token =
            config.rat_rotation == RatRotation::OnUpdate || presented == Presented::Previous;
        let mut entropy =
            Entropy::draw(Entropy::needed(false, usize::from(rotate_token))).map_err(rng_failed)?;
        let origin = Origin::Update(&current, presented);
        let credentials = mint_credentials(
            config,
            profile,
            &origin,
            &metadata,
            rotate_token,
            now,
            &mut entropy,
        )?;
        let record = Arc::new(build_record(
            current.client_id.clone(),
            // Moved, not cloned: a lost race takes it back below.
            std::mem::take(&mut metadata),
            origin,
            &credentials,
            now,
        ));
        let Credentials {
            new_secret,
            new_token,
            ..
        } = credentials;
        match config
            .store
            .update(Arc::clone(&record), current.revision)
            .await
        {
            Ok(()) => {
                let uri = config.registration_client_uri(&record.client_id);
                let returned_secret =
                    new_secret
                        .as_ref()
                        .map(Secret::secret)
                        .or(match &record.client_secret {
                            Some(StoredSecret::Plain(s)) => Some(s.secret()),
                            _ => None,
                        });
                let body = InformationResponse {
                    record: &record,
                    client_secret: returned_secret,
                    registration_access_token: Some(
                        new_token.as_ref().map_or(token, Secret::secret),
                    ),
                    registration_client_uri: Some(&uri),
                }
                .to_json();
                tracing::debug!(client_id = %record.client_id, "client updated");
                config.emit(
                    EventKind::Updated,
                    Operation::Update,
                    None,
                    Some(&record),
                    peer,
                );
                return Ok(response::json(StatusCode::OK, body));
            }
            Err(StoreError::Stale) => {
                // Another request changed or deleted the client first: load it
                // again and check the token again (a rotated token is now dead).
                metadata = Arc::try_unwrap(record)
                    .map_or_else(|shared| shared.metadata.clone(), |r| r.metadata);
                (current, _, presented) = authenticate(config, client_id, &parts.headers).await?;
            }
            Err(e) => return Err(unavailable(e)),
        }
    }
    Err(Rejection::StoreUnavailable)
}
