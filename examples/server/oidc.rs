//! OpenID Connect: the ID token (Core §2, §3.1.3.3), subject identifiers,
//! public or pairwise (Core §8), the userinfo endpoint (Core §5.3) and the
//! JWK Set the signatures verify with.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use tower_dcr::host::ResolveError;
use tower_dcr::policy::sector_identifier::pairwise_sector;
use tower_dcr::{ClientRecord, SubjectType};

use crate::app::App;
use crate::grants::now;
use crate::params::{FormBody, Params};
use crate::scope;

/// How long an ID token is valid.
pub const ID_TOKEN_LIFETIME: u64 = 10 * 60;

/// The claims this server can release, by scope (Core §5.4).
pub const CLAIMS_SUPPORTED: [&str; 11] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "name",
    "preferred_username",
    "email",
    "email_verified",
];

/// The `sub` of `user` for `client`: the local identifier for `public`
/// clients; for `pairwise` ones, a digest of the client's sector
/// ([`pairwise_sector`]), the user and a secret salt (Core §8.1), the same
/// for every client of one sector and useless for correlating users across
/// sectors.
pub fn subject(app: &App, client: &ClientRecord, user: &str) -> String {
    if client.metadata.subject_type != Some(SubjectType::Pairwise) {
        return user.to_owned();
    }
    // Loopback or private-use redirects name no sector: the client is its
    // own (see `pairwise_sector`).
    let sector = pairwise_sector(&client.client_id, &client.metadata);
    let mut digest = Sha256::new();
    for part in [
        sector.as_bytes(),
        user.as_bytes(),
        &app.keys.pairwise_salt(),
    ] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part);
    }
    B64.encode(digest.finalize())
}

/// The algorithm the client's ID tokens are signed with: its registered
/// `id_token_signed_response_alg`, `RS256` by default (OIDC DCR §2).
fn id_token_alg(client: &ClientRecord) -> &str {
    client
        .metadata
        .algorithms()
        .id_token_signed_response_alg
        .as_deref()
        .unwrap_or("RS256")
}

/// What an ID token says about one authentication.
pub struct Authentication<'a> {
    pub user: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: u64,
    pub include_auth_time: bool,
}

/// Signs an ID token for `client` (Core §2).
pub fn id_token(
    app: &App,
    client: &ClientRecord,
    authentication: &Authentication<'_>,
) -> Result<String, crate::keys::SignError> {
    let issued_at = now();
    let mut claims = Map::new();
    claims.insert("iss".into(), app.issuer.as_str().into());
    claims.insert(
        "sub".into(),
        subject(app, client, authentication.user).into(),
    );
    claims.insert("aud".into(), client.client_id.as_str().into());
    claims.insert("exp".into(), (issued_at + ID_TOKEN_LIFETIME).into());
    claims.insert("iat".into(), issued_at.into());
    if authentication.include_auth_time {
        claims.insert("auth_time".into(), authentication.auth_time.into());
    }
    if let Some(nonce) = authentication.nonce {
        claims.insert("nonce".into(), nonce.into());
    }
    app.keys.sign(id_token_alg(client), &claims)
}

/// The demo user's claims that `scope` releases (Core §5.4).
fn user_claims(
    app: &App,
    client: &ClientRecord,
    user: &str,
    scope: Option<&str>,
) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), subject(app, client, user).into());
    if scope::has(scope, "profile") {
        claims.insert("name".into(), "Demo User".into());
        claims.insert("preferred_username".into(), user.into());
    }
    if scope::has(scope, "email") {
        claims.insert("email".into(), format!("{user}@example.com").into());
        claims.insert("email_verified".into(), false.into());
    }
    claims
}

/// A Bearer token error (RFC 6750 §3).
fn bearer_error(status: StatusCode, code: &str, description: &str) -> Response {
    let challenge = format!("Bearer error=\"{code}\", error_description=\"{description}\"");
    let mut response = (
        status,
        Json(json!({ "error": code, "error_description": description })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The access token of a userinfo request: the `Authorization: Bearer`
/// header (RFC 6750 §2.1) or, on `POST`, the `access_token` form parameter
/// (§2.2); never both. `Err` is the description of an `invalid_request`.
fn access_token(
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Option<String>, &'static str> {
    let mut found = None;
    let mut authorizations = headers.get_all(header::AUTHORIZATION).iter();
    if let Some(value) = authorizations.next() {
        let value = value.to_str().unwrap_or_default();
        let token = value
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
            .map(|_| value[7..].trim());
        if authorizations.next().is_some() || token.is_none_or(str::is_empty) {
            return Err("expected one Authorization: Bearer header");
        }
        found = token.map(str::to_owned);
    }
    if method == Method::POST && !body.is_empty() {
        let params = Params::parse(body);
        if let Some(token) = params.get("access_token") {
            if found.is_some() {
                return Err("the access token was sent in more than one way");
            }
            found = Some(token.to_owned());
        }
    }
    Ok(found)
}

/// `GET|POST /userinfo` (Core §5.3): the user's claims for a token with the
/// `openid` scope, as JSON, or as a JWT signed with the client's registered
/// `userinfo_signed_response_alg` (Core §5.3.2).
pub async fn userinfo(
    State(app): State<App>,
    method: Method,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Response {
    let token = match access_token(&method, &headers, &body) {
        Ok(Some(token)) => token,
        Ok(None) => {
            // RFC 6750 §3.1: no error code when no credentials were sent.
            let mut response = StatusCode::UNAUTHORIZED.into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
        Err(description) => {
            return bearer_error(StatusCode::BAD_REQUEST, "invalid_request", description);
        }
    };
    let invalid = || {
        bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is invalid or expired",
        )
    };
    let Some(info) = app.grants.access_token(&token).await else {
        return invalid();
    };
    let Some(user) = info.user.as_deref() else {
        return bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the token was not issued for a user",
        );
    };
    if !scope::has(info.scope.as_deref(), "openid") {
        return bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the token was not issued with the openid scope",
        );
    }
    // Registered and URL clients alike (Core §5.3: any client the token was
    // issued to).
    let client = match app.dcr.client(&info.client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return invalid(),
        Err(ResolveError::Document(error)) if !error.is_transient() => {
            tracing::warn!(%error, "the client's metadata document is no longer valid");
            return invalid();
        }
        Err(error) => {
            tracing::error!(%error, "cannot resolve the client");
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "temporarily_unavailable" })),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return response;
        }
    };
    crate::logging::note_client_id(&client.client_id);
    let mut claims = user_claims(&app, &client, user, info.scope.as_deref());
    let no_store = crate::token::no_store();
    let signed_alg = client
        .metadata
        .algorithms()
        .userinfo_signed_response_alg
        .as_deref();
    let Some(alg) = signed_alg else {
        return (StatusCode::OK, no_store, Json(claims)).into_response();
    };
    claims.insert("iss".into(), app.issuer.as_str().into());
    claims.insert("aud".into(), client.client_id.as_str().into());
    match app.keys.sign(alg, &claims) {
        Ok(jwt) => (
            StatusCode::OK,
            no_store,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwt"),
            )],
            jwt,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot sign the userinfo response");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": "server_error" })),
            )
                .into_response()
        }
    }
}

/// `GET /jwks`: the public signing keys (RFC 7517 §5).
pub async fn jwks(State(app): State<App>) -> Response {
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        )],
        Json(app.keys.jwks()),
    )
        .into_response()
}
