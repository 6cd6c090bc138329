//! `POST {endpoint}`: client registration (RFC 7591 §3).

use std::net::SocketAddr;
use std::sync::Arc;

use http::StatusCode;
use http::request::Parts;
use http_body::Body;

use super::body::read_json_object;
use super::client_information::InformationResponse;
use super::initial_access_token::Grant;
use super::prepare::prepare_metadata;
use super::quotas::create_within_quotas;
use super::revision::{Credentials, Origin, build_record, mint_credentials};
use super::{initial_access_token, rng_failed, unavailable};
use crate::config::Config;
use crate::credentials::{Entropy, Secret};
use crate::error::BoxError;
use crate::error::Rejection;
use crate::events::EventKind;
use crate::events::Operation;
use crate::metadata::ClientMetadata;
use crate::policy::{Profile, RequestContext};
use crate::response::{self, ResponseBody};
use crate::store::{ClientRecord, StoreError};
use crate::time::now;

/// How many times a colliding `client_id` is regenerated before giving up.
const CLIENT_ID_ATTEMPTS: usize = 3;

/// RFC 7591 §3: authorizes the request (initial access token, rate limit),
/// checks the metadata, stores the new client and answers `201` with its
/// client information.
pub(crate) async fn register<B>(
    config: &Config,
    parts: &Parts,
    body: B,
    peer: Option<SocketAddr>,
) -> Result<http::Response<ResponseBody>, Rejection>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let grant = initial_access_token::authorize(config, &parts.headers).await?;
    #[cfg(feature = "rate-limit")]
    if let Some(limiter) = &config.rate_limiter {
        limiter
            .check(parts, peer, grant.digest())
            .map_err(|wait| Rejection::RateLimited(wait.as_secs().saturating_add(1)))?;
    }
    let profile = config.profile_named(grant.profile.as_deref()).ok_or_else(|| {
        tracing::error!(profile = ?grant.profile, "initial access token bound to an unknown profile");
        Rejection::InvalidToken
    })?;
    let object = read_json_object(parts, body, config.limits.max_body_bytes).await?;
    // Boxed: the request's JSON, the hook's and the fetcher's futures live
    // only while the metadata is checked (RFC 7591 §3.2.2 refuses before
    // anything is stored), not for the whole registration.
    let metadata = Box::pin(prepare_metadata(config, profile, object, None, || {
        let mut context = RequestContext::new(Operation::Register, parts, peer);
        context.profile.clone_from(&grant.profile);
        context.initial_access_token_id.clone_from(&grant.token_id);
        context
    }))
    .await?;
    let (record, credentials, mut entropy) = new_record(config, profile, &grant, metadata)?;
    let record = create_with_fresh_id(config, record, &mut entropy).await?;
    take_token_use(config, &grant, &record).await?;
    tracing::debug!(client_id = %record.client_id, "client registered");
    config.emit(
        EventKind::Registered,
        Operation::Register,
        None,
        Some(&record),
        peer,
    );
    Ok(respond(config, &record, &credentials))
}

/// The new client's record and credentials, with what is left of the one
/// read from the OS CSPRNG for its `client_id`, secret and token (a
/// colliding `client_id` draws a new one from it).
fn new_record(
    config: &Config,
    profile: &Profile,
    grant: &Grant,
    metadata: ClientMetadata,
) -> Result<(Arc<ClientRecord>, Credentials, Entropy), Rejection> {
    let now = now();
    let secrets = usize::from(metadata.auth_method().uses_client_secret())
        + usize::from(config.issue_registration_access_token);
    let mut entropy = Entropy::draw(Entropy::needed(
        config.client_id_generator.is_none(),
        secrets,
    ))
    .map_err(rng_failed)?;
    let origin = Origin::New {
        profile: grant.profile.clone(),
        initial_access_token_id: grant.token_id.clone(),
    };
    let credentials = mint_credentials(
        config,
        profile,
        &origin,
        &metadata,
        config.issue_registration_access_token,
        now,
        &mut entropy,
    )?;
    let client_id = new_client_id(config, &mut entropy)?;
    let record = Arc::new(build_record(client_id, metadata, origin, &credentials, now));
    Ok((record, credentials, entropy))
}

/// Takes the initial access token's use once the client exists, so that a
/// store failure does not burn a one-use token; if another request took the
/// last use in the meantime, the client is removed again (RFC 7591 §3: the
/// token authorizes one registration).
async fn take_token_use(
    config: &Config,
    grant: &Grant,
    record: &ClientRecord,
) -> Result<(), Rejection> {
    let Err(rejection) = initial_access_token::consume(config, grant).await else {
        return Ok(());
    };
    if let Err(error) = config
        .store
        .delete(&record.client_id, Some(record.revision))
        .await
    {
        tracing::error!(%error, client_id = %record.client_id, "could not remove a client registered with a used-up token");
    }
    Err(rejection)
}

/// The client information response of RFC 7591 §3.2.1, `201 Created`: the
/// new secret and registration access token, shown this once.
fn respond(
    config: &Config,
    record: &ClientRecord,
    credentials: &Credentials,
) -> http::Response<ResponseBody> {
    let registration_client_uri = credentials
        .new_token
        .as_ref()
        .map(|_| config.registration_client_uri(&record.client_id));
    let body = InformationResponse {
        record,
        client_secret: credentials.new_secret.as_ref().map(Secret::secret),
        registration_access_token: credentials.new_token.as_ref().map(Secret::secret),
        registration_client_uri: registration_client_uri.as_deref(),
    }
    .to_json();
    response::json(StatusCode::CREATED, body)
}

/// A new `client_id`: the host's generator, or 128 random bits.
fn new_client_id(config: &Config, entropy: &mut Entropy) -> Result<String, Rejection> {
    match &config.client_id_generator {
        Some(generate) => Ok(generate()),
        None => entropy.client_id().map_err(rng_failed),
    }
}

/// Stores the record within the quotas, under another new `client_id` if its
/// own collides with an existing client.
async fn create_with_fresh_id(
    config: &Config,
    mut record: Arc<ClientRecord>,
    entropy: &mut Entropy,
) -> Result<Arc<ClientRecord>, Rejection> {
    for _ in 0..CLIENT_ID_ATTEMPTS {
        match create_within_quotas(config, Arc::clone(&record)).await? {
            Ok(()) => return Ok(record),
            Err(StoreError::Conflict) => {
                Arc::make_mut(&mut record).client_id = new_client_id(config, entropy)?;
            }
            Err(e) => return Err(unavailable(e)),
        }
    }
    tracing::error!("client_id generator produced only existing identifiers");
    Err(Rejection::StoreUnavailable)
}
