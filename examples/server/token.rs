//! The token endpoint (RFC 6749 §3.2): the `authorization_code` grant with
//! PKCE, `refresh_token` (rotating), and `client_credentials`, exactly the
//! grant types the registration profiles allow.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;
use tower_dcr::host::{ClientAuthError, ClientCredentials, TokenError};
use tower_dcr::{ClientRecord, GrantType, TokenEndpointAuthMethod};

use crate::app::App;
use crate::caller_limit::is_url_client_id;
use crate::grants::{Approved, Busy, Issued, Redeem, caller};
use crate::params::{FormBody, Params};
use tower_dcr::host::pkce;

use crate::{oidc, scope};

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// Reads a form body; `invalid_request` if it is not one, or repeats a
/// parameter (RFC 6749 §3.2).
pub fn form(headers: &HeaderMap, body: &Bytes) -> Result<Params, TokenError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(TokenError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let params = Params::parse(body);
    if let Some(name) = params.first_repeated() {
        return Err(TokenError::invalid_request(format!(
            "{name} was sent more than once"
        )));
    }
    Ok(params)
}

/// An RFC 6749 §5.2 error answer (its `Retry-After` carried by the error),
/// answered `429` instead of its own status for a caller over its bound.
#[derive(Debug)]
pub struct Refusal {
    error: TokenError,
    /// `429` for a caller over its bound, instead of the error's own status.
    too_many: bool,
}

impl From<TokenError> for Refusal {
    fn from(error: TokenError) -> Self {
        Self {
            error,
            too_many: false,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = Response::from(self.error);
        if self.too_many {
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        }
        response
    }
}

/// Authenticates the client with its registered method (RFC 6749 §2.3.1):
/// a failure is the library's RFC 6749 §5.2 answer (`invalid_client` is `401`
/// with `WWW-Authenticate: Basic` only when the client tried Basic; a `401`
/// without a challenge would break RFC 9110 §15.5.2).
///
/// A request naming a URL client id counts against the caller's
/// `--url-client-rate` (`429` past it); a URL client whose metadata document
/// a fetch bound keeps from being fetched now is `503` with the library's
/// `Retry-After`: temporary, not `invalid_client`.
pub async fn authenticate(
    app: &App,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Arc<ClientRecord>, Refusal> {
    let credentials = ClientCredentials::from_request_with_assertion(
        headers,
        params.get("client_id"),
        params.get("client_secret"),
        params.get("client_assertion_type"),
        params.get("client_assertion"),
    )
    .map_err(|error| TokenError::from_client_auth(&error, headers))?;
    if is_url_client_id(credentials.client_id())
        && let Some(limit) = &app.url_client_limit
        && let Err(wait) = limit.check(&caller(peer))
    {
        tracing::info!(
            caller = %caller(peer),
            "too many requests naming URL client ids from one address"
        );
        return Err(Refusal {
            error: TokenError::temporarily_unavailable(
                "too many requests naming URL client ids from this address; retry later",
            )
            .retry_after(wait),
            too_many: true,
        });
    }
    let client = match app.dcr.authenticate_client(&credentials).await {
        Ok(client) => client,
        Err(ClientAuthError::Throttled { retry_after }) => {
            tracing::warn!(
                client_id = credentials.client_id(),
                "the URL client's metadata document is not fetched now (a fetch bound); 503"
            );
            return Err(TokenError::temporarily_unavailable(
                "the client's metadata document cannot be fetched now; this is temporary, \
                     retry later",
            )
            .retry_after(retry_after)
            .into());
        }
        Err(error) => return Err(TokenError::from_client_auth(&error, headers).into()),
    };
    crate::logging::note_client_id(&client.client_id);
    Ok(client)
}

/// `POST /token`.
pub async fn token(
    State(app): State<App>,
    peer: Option<Extension<SocketAddr>>,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Response {
    let peer = peer.map(|Extension(peer)| peer);
    match grant(&app, peer, &headers, &body).await {
        Ok(issued) => issued.into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// The token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
struct TokenResponse {
    issued: Issued,
    scope: Option<String>,
    id_token: Option<String>,
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        let mut body = json!({
            "access_token": self.issued.access_token.secret(),
            "token_type": "Bearer",
            "expires_in": self.issued.expires_in,
        });
        if let Some(refresh) = &self.issued.refresh_token {
            body["refresh_token"] = refresh.secret().into();
        }
        if let Some(scope) = self.scope {
            body["scope"] = scope.into();
        }
        if let Some(id_token) = self.id_token {
            body["id_token"] = id_token.into();
        }
        (StatusCode::OK, no_store(), axum::Json(body)).into_response()
    }
}

async fn grant(
    app: &App,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<TokenResponse, Refusal> {
    let params = form(headers, body)?;
    let client = authenticate(app, peer, headers, &params).await?;
    let grant_type = match params.get("grant_type") {
        None => return Err(TokenError::invalid_request("grant_type is required").into()),
        Some("authorization_code") => GrantType::AuthorizationCode,
        Some("refresh_token") => GrantType::RefreshToken,
        Some("client_credentials") => GrantType::ClientCredentials,
        Some(_) => {
            return Err(TokenError::unsupported_grant_type(
                "supported: authorization_code, refresh_token, client_credentials",
            )
            .into());
        }
    };
    if !client.metadata.has_grant_type(&grant_type) {
        return Err(TokenError::unauthorized_client(format!(
            "the client did not register the {grant_type} grant"
        ))
        .into());
    }
    // `authenticate_client` has recorded the use (throttled) for the reaper.
    let issued = if grant_type == GrantType::AuthorizationCode {
        authorization_code(app, &client, &params).await
    } else if grant_type == GrantType::RefreshToken {
        refresh_token(app, &client, &params).await
    } else {
        client_credentials(app, &client, &params).await
    };
    Ok(issued?)
}

/// RFC 6749 §4.1.3, RFC 7636 §4.5–4.6.
async fn authorization_code(
    app: &App,
    client: &ClientRecord,
    params: &Params,
) -> Result<TokenResponse, TokenError> {
    let code = params
        .get("code")
        .ok_or_else(|| TokenError::invalid_request("code is required"))?;
    let invalid = |description: &'static str| TokenError::invalid_grant(description);
    let refresh = client.metadata.has_grant_type(&GrantType::RefreshToken);
    // The client is checked before the code is marked used, the request
    // after, and the tokens are stored in the same step (`redeem_code`):
    // another client's attempt changes nothing, and a replay racing this
    // request revokes what it obtains (RFC 6749 §4.1.2).
    let check = |approved: &Approved| {
        let request = &approved.request;
        let redirect_ok = match params.get("redirect_uri") {
            Some(uri) => uri == request.redirect_uri,
            None => !request.redirect_uri_presented,
        };
        if !redirect_ok {
            return Err(invalid(
                "redirect_uri differs from the one in the authorization request",
            ));
        }
        match (&request.code_challenge, params.get("code_verifier")) {
            (Some(challenge), Some(verifier)) if pkce::verify_s256(verifier, challenge) => Ok(()),
            (Some(_), Some(_)) => Err(invalid("code_verifier does not match")),
            (Some(_), None) => Err(invalid("code_verifier is required")),
            // RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
            (None, Some(_)) => Err(invalid("no code_challenge was sent for this code")),
            (None, None) => Ok(()),
        }
    };
    let (approved, grant, issued) = app
        .grants
        .redeem_code(code, &client.client_id, refresh, check)
        .await
        .map_err(|error| match error {
            Redeem::Refused(refused) => {
                tracing::warn!(?refused, "authorization code refused");
                invalid("the code is invalid, expired, already used or issued to another client")
            }
            Redeem::Check(error) => error,
            Redeem::Busy(error) => busy(error),
        })?;
    let request = &approved.request;
    // OpenID Connect Core §3.1.3.3: an ID token when `openid` was granted,
    // signed outside the lock.
    let id_token = if scope::has(request.scope.as_deref(), "openid") {
        let authentication = oidc::Authentication {
            user: &approved.user,
            nonce: request.nonce.as_deref(),
            auth_time: approved.auth_time,
            include_auth_time: request.auth_time_required,
        };
        match oidc::id_token(app, client, &authentication) {
            Ok(id_token) => Some(id_token),
            Err(error) => {
                tracing::error!(%error, "cannot sign the ID token");
                app.grants.revoke(grant).await;
                return Err(TokenError::server_error("the ID token could not be signed"));
            }
        }
    } else {
        None
    };
    tracing::info!(grant_type = "authorization_code", "tokens issued");
    Ok(TokenResponse {
        issued,
        scope: request.scope.clone(),
        id_token,
    })
}

/// RFC 6749 §6, with rotation (RFC 9700 §4.14.2).
async fn refresh_token(
    app: &App,
    client: &ClientRecord,
    params: &Params,
) -> Result<TokenResponse, TokenError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| TokenError::invalid_request("refresh_token is required"))?;
    let choose_scope = |original: Option<&str>| match (params.get("scope"), original) {
        (Some(_), None) => Err(TokenError::invalid_scope("the original grant had no scope")),
        (None, None) => Ok(None),
        (requested, Some(original)) => {
            scope::grant(requested, Some(original)).map_err(TokenError::invalid_scope)
        }
    };
    // The token is spent only when the new tokens are stored (RFC 6749 §6:
    // a refused request leaves it usable).
    let (scope, issued) = app
        .grants
        .refresh(token, &client.client_id, choose_scope)
        .await
        .map_err(|error| match error {
            Redeem::Refused(refused) => {
                tracing::warn!(?refused, "refresh token refused");
                TokenError::invalid_grant("the refresh token is invalid, expired or already used")
            }
            Redeem::Check(error) => error,
            Redeem::Busy(error) => busy(error),
        })?;
    tracing::info!(grant_type = "refresh_token", "tokens issued");
    Ok(TokenResponse {
        issued,
        scope,
        id_token: None,
    })
}

/// RFC 6749 §4.4: confidential clients only, no refresh token.
async fn client_credentials(
    app: &App,
    client: &ClientRecord,
    params: &Params,
) -> Result<TokenResponse, TokenError> {
    if client.metadata.auth_method() == TokenEndpointAuthMethod::None {
        return Err(TokenError::unauthorized_client(
            "client_credentials is for confidential clients",
        ));
    }
    // The client's registered scope, or the profile's default scope for a
    // client that registered none: never more than the allow-list.
    let scope = scope::grant(params.get("scope"), client.metadata.scope.as_deref())
        .map_err(TokenError::invalid_scope)?;
    let issued = app
        .grants
        .issue_client_token(&client.client_id, scope.clone())
        .await
        .map_err(busy)?;
    tracing::info!(grant_type = "client_credentials", "tokens issued");
    Ok(TokenResponse {
        issued,
        scope,
        id_token: None,
    })
}

/// A grant store that cannot answer (`503` with `Retry-After`), or a random
/// number generator failure.
fn busy(busy: Busy) -> TokenError {
    match busy {
        Busy::Unavailable => {
            TokenError::temporarily_unavailable("tokens cannot be issued now; retry later")
        }
        Busy::Random => TokenError::server_error("random number generator failure"),
    }
}
