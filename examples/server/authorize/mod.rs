//! The authorization endpoint (RFC 6749 §4.1.1): validates the request, shows
//! the consent page, and sends the user back with a code or an error.
//!
//! Until the client and its redirect URI are validated, every error is an HTML
//! page: redirecting to an unvalidated URI would make this server an open
//! redirector (RFC 6749 §4.1.2.1). After that, errors go back to the client.
//!
//! The consent form is bound to the browser that asked ([`browser`]).

mod browser;

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use tower_dcr::host::RedirectError;
use tower_dcr::{GrantType, ResponseType};
use url::form_urlencoded;

use crate::app::App;
use crate::caller_limit::{is_url_client_id, retry_after_secs};
use crate::grants::{Approved, AuthorizationRequest, Busy, NotTaken, caller, now};
use crate::html::{self, Consent};
use crate::params::{FormBody, FormBodyError, Params};
use tower_dcr::host::pkce;
use tower_dcr::host::preferred_languages;

use crate::{registration, scope};

/// The one user of this example.
pub const DEMO_USER: &str = "demo-user";

/// The longest `state` kept and sent back, in bytes.
pub const MAX_STATE_BYTES: usize = 1024;
/// The longest OpenID Connect `nonce` kept, in bytes.
pub const MAX_NONCE_BYTES: usize = 512;

/// `GET /authorize`: validate, then show the consent page.
pub async fn show(
    State(app): State<App>,
    peer: Option<Extension<SocketAddr>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let caller = caller(peer.map(|Extension(peer)| peer));
    let params = Params::parse(query.unwrap_or_default().as_bytes());

    // 1. The client, and where to send the user back: errors stay here.
    if params.is_repeated("client_id") || params.is_repeated("redirect_uri") {
        return html::error(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "client_id and redirect_uri must be sent once.",
        );
    }
    let Some(client_id) = params.get("client_id") else {
        return html::error(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The request has no client_id.",
        );
    };
    // A URL client id may make the server fetch its metadata document: so
    // many a minute per caller (`--url-client-rate`).
    if is_url_client_id(client_id)
        && let Some(limit) = &app.url_client_limit
        && let Err(wait) = limit.check(&caller)
    {
        tracing::info!(%caller, "too many requests naming URL client ids from one address");
        return with_retry_after(
            html::error(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "Too many sign-in requests for applications named by URL came from your \
                 network. Wait a moment and try again.",
            ),
            wait,
        );
    }
    let (client, redirect_uri) = match app
        .dcr
        .check_redirect_uri(client_id, params.get("redirect_uri"))
        .await
    {
        Ok(checked) => checked,
        Err(RedirectError::UnknownClient) => {
            return html::error(
                StatusCode::BAD_REQUEST,
                "Unknown application",
                "No application is registered with this client_id.",
            );
        }
        Err(RedirectError::MetadataDocument) => {
            return html::error(
                StatusCode::BAD_REQUEST,
                "Unknown application",
                "The application's metadata document could not be retrieved or is invalid.",
            );
        }
        Err(RedirectError::Mismatch) => {
            return html::error(
                StatusCode::BAD_REQUEST,
                "Invalid redirect URI",
                "The redirect_uri is missing or is not one this application registered.",
            );
        }
        Err(RedirectError::Throttled { retry_after }) => {
            tracing::warn!(
                client_id,
                "the URL client's metadata document is not fetched now (a fetch bound); 503"
            );
            return with_retry_after(
                html::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable",
                    "The application's details cannot be retrieved right now. This is \
                     temporary: try again in a moment.",
                ),
                retry_after,
            );
        }
        Err(error) => {
            tracing::error!(%error, "client store unavailable");
            return html::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The server cannot look up the application now. Try again later.",
            );
        }
    };
    // Recorded only once known: a client_id from the query could be anything.
    crate::logging::note_client_id(&client.client_id);
    let metadata = &client.metadata;
    let redirect_uri = redirect_uri.as_str();

    // 2. Everything else goes back to the client, in the query or, when
    // asked, the fragment (OAuth 2.0 Multiple Response Type Encoding
    // Practices §2.1).
    // An oversized state is not echoed back: refused, not reflected.
    let state = params.get("state").filter(|s| s.len() <= MAX_STATE_BYTES);
    let fragment = match params.get("response_mode") {
        None | Some("query") => false,
        Some("fragment") => true,
        Some(_) => {
            // RFC 6749 §4.1.2.1: `state` goes back with the error too.
            let back = BackToClient {
                redirect_uri,
                state,
                issuer: &app.issuer,
                fragment: false,
            };
            return back.error("invalid_request", "response_mode must be query or fragment");
        }
    };
    let back = BackToClient {
        redirect_uri,
        state,
        issuer: &app.issuer,
        fragment,
    };
    if state.is_none() && params.get("state").is_some() {
        return back.error(
            "invalid_request",
            &format!("state is longer than {MAX_STATE_BYTES} bytes"),
        );
    }
    if let Some(name) = params.first_repeated() {
        return back.error(
            "invalid_request",
            &format!("{name} was sent more than once"),
        );
    }
    // OpenID Connect Core §6: request objects are not supported (discovery
    // says so with request_parameter_supported and
    // request_uri_parameter_supported set to false).
    if params.get("request").is_some() {
        return back.error("request_not_supported", "request objects are not supported");
    }
    if params.get("request_uri").is_some() {
        return back.error("request_uri_not_supported", "request_uri is not supported");
    }
    match params.get("response_type") {
        None => return back.error("invalid_request", "response_type is required"),
        Some("code") => {}
        Some(_) => {
            return back.error(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
    }
    // Core §3.1.2.1: there is no login session to reuse without asking.
    if params
        .get("prompt")
        .is_some_and(|p| p.split(' ').any(|v| v == "none"))
    {
        return back.error(
            "login_required",
            "this server always asks the user; prompt=none cannot be honoured",
        );
    }
    let nonce = params.get("nonce");
    if nonce.is_some_and(|n| n.len() > MAX_NONCE_BYTES) {
        return back.error(
            "invalid_request",
            &format!("nonce is longer than {MAX_NONCE_BYTES} bytes"),
        );
    }
    let max_age = match params.get("max_age").map(str::parse::<u64>) {
        None => None,
        Some(Ok(max_age)) => Some(max_age),
        Some(Err(_)) => {
            return back.error("invalid_request", "max_age must be a number of seconds");
        }
    };
    // Core §2 and §3.1.2.1, DCR §2: `auth_time` is required with max_age,
    // default_max_age or require_auth_time. Every request is authenticated
    // afresh on the consent page, so any max_age is met.
    let auth_time_required = max_age.is_some()
        || metadata.default_max_age.is_some()
        || metadata.require_auth_time == Some(true);
    let code_registered = metadata
        .response_types
        .as_deref()
        .unwrap_or(&[ResponseType::Code])
        .contains(&ResponseType::Code);
    if !code_registered || !metadata.has_grant_type(&GrantType::AuthorizationCode) {
        return back.error(
            "unauthorized_client",
            "the client did not register the authorization_code grant",
        );
    }
    let scope = match scope::grant(params.get("scope"), metadata.scope.as_deref()) {
        Ok(scope) => scope,
        Err(description) => return back.error("invalid_scope", &description),
    };
    // OpenID Connect Core §3.1.2.1: redirect_uri is REQUIRED in an OpenID
    // request. Without it the request is invalid, and nothing validated says
    // where to send the error: an error page (RFC 6749 §4.1.2.1).
    if scope::has(scope.as_deref(), "openid") && params.get("redirect_uri").is_none() {
        return html::error(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "An OpenID Connect request must include its redirect_uri.",
        );
    }
    let code_challenge = match pkce::check_challenge(
        params.get("code_challenge"),
        params.get("code_challenge_method"),
        registration::pkce_required(&app.dcr, &client),
    ) {
        Ok(challenge) => challenge,
        Err(description) => return back.error("invalid_request", description),
    };

    // 3. Keep the request, and ask the user.
    let request = AuthorizationRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        redirect_uri_presented: params.get("redirect_uri").is_some(),
        scope,
        state: state.map(str::to_owned),
        code_challenge,
        fragment,
        nonce: nonce.map(str::to_owned),
        auth_time_required,
    };
    let secure = browser::Secure(app.issuer.starts_with("https://"));
    let Ok(browser) = browser::token(&headers, secure) else {
        return back.error("server_error", "random number generator failure");
    };
    let url_client_host = client.metadata_document_host().map(str::to_owned);
    let consent = match app
        .grants
        .begin(request.clone(), browser.digest(), caller, url_client_host)
        .await
    {
        Ok(consent) => consent,
        Err(Busy::Unavailable) => {
            return back.error(
                "temporarily_unavailable",
                "the authorization request cannot be kept now",
            );
        }
        Err(Busy::Random) => return back.error("server_error", "random number generator failure"),
    };
    let languages = preferred_languages(&headers);
    let page = html::consent_page(&Consent {
        client_id,
        client_name: metadata.client_name.best_match(&languages),
        // URL clients show no logo (`html::Consent::logo_uri`).
        logo_uri: metadata
            .logo_uri
            .best_match(&languages)
            .filter(|_| client.metadata_document_host().is_none()),
        client_uri: metadata.client_uri.best_match(&languages),
        tos_uri: metadata.tos_uri.best_match(&languages),
        policy_uri: metadata.policy_uri.best_match(&languages),
        scopes: request
            .scope
            .as_deref()
            .map(|s| s.split(' ').collect())
            .unwrap_or_default(),
        redirect_uri,
        nonce: consent.secret(),
        csrf: browser.secret(),
        user: DEMO_USER,
        client_host: client.metadata_document_host(),
        loopback_only: metadata.redirects_only_to_loopback(),
    });
    let mut response =
        html::response_with_forms(StatusCode::OK, page, &html::form_action(redirect_uri));
    response
        .headers_mut()
        .insert(header::SET_COOKIE, browser::set_cookie(&browser, secure));
    response
}

/// `POST /authorize`: the user's answer on the consent page, accepted only
/// from the browser the page was shown to ([`browser`]).
pub async fn decide(
    State(app): State<App>,
    peer: Option<Extension<SocketAddr>>,
    headers: HeaderMap,
    body: Result<FormBody, FormBodyError>,
) -> Response {
    let form = match body {
        Ok(FormBody(body)) => Params::parse(&body),
        Err(error) => {
            let (status, description) = error.status_and_description();
            return html::error(status, "Invalid request", description);
        }
    };
    let taken = match form.get("nonce") {
        Some(nonce) => {
            let secure = browser::Secure(app.issuer.starts_with("https://"));
            let presented = browser::presented(&headers, secure, form.get("csrf"));
            app.grants.take_pending(nonce, presented).await
        }
        None => Err(NotTaken::Unknown),
    };
    let request = match taken {
        Ok(request) => request,
        Err(NotTaken::Unknown) => {
            return html::error(
                StatusCode::BAD_REQUEST,
                "Request expired",
                "This authorization request has expired or was already answered.",
            );
        }
        Err(NotTaken::OtherBrowser) => {
            tracing::warn!("a consent answer came from another browser; refused");
            return html::error(
                StatusCode::FORBIDDEN,
                "Request refused",
                "This answer did not come from the browser the request was shown in.",
            );
        }
        Err(NotTaken::Busy) => {
            return html::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The server cannot look up this request now. Try again later.",
            );
        }
    };
    crate::logging::note_client_id(request.client_id.as_str());
    let back = BackToClient {
        redirect_uri: &request.redirect_uri,
        state: request.state.as_deref(),
        issuer: &app.issuer,
        fragment: request.fragment,
    };
    if form.get("decision") != Some("approve") {
        tracing::info!("the user denied access");
        return back.error("access_denied", "the user denied access");
    }
    let approved = Approved {
        request: request.clone(),
        auth_time: now(),
        user: DEMO_USER.to_owned(),
    };
    let caller = caller(peer.map(|Extension(peer)| peer));
    let code = match app.grants.issue_code(approved, caller).await {
        Ok(code) => code,
        Err(Busy::Unavailable) => {
            return back.error(
                "temporarily_unavailable",
                "the authorization code cannot be kept now",
            );
        }
        Err(Busy::Random) => return back.error("server_error", "random number generator failure"),
    };
    tracing::info!("the user approved access; code issued");
    back.send(&[("code", code.secret())])
}

/// Sends the user agent back to a validated redirect URI, with `state` and
/// `iss` (RFC 9207) added to the given parameters, in the query or the
/// fragment.
struct BackToClient<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
    issuer: &'a str,
    fragment: bool,
}

impl BackToClient<'_> {
    fn error(&self, error: &str, description: &str) -> Response {
        self.send(&[("error", error), ("error_description", description)])
    }

    fn send(&self, params: &[(&str, &str)]) -> Response {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(params);
        if let Some(state) = self.state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", self.issuer);
        let mut location = self.redirect_uri.to_owned();
        if self.fragment {
            // Registered redirect URIs carry no fragment (RFC 6749 §3.1.2).
            location.push('#');
        } else {
            match location.find('?') {
                None => location.push('?'),
                Some(_) if location.ends_with(['?', '&']) => {}
                Some(_) => location.push('&'),
            }
        }
        location.push_str(&query.finish());
        let Ok(location) = HeaderValue::from_str(&location) else {
            return html::error(
                StatusCode::BAD_REQUEST,
                "Invalid redirect URI",
                "The redirect URI cannot be used in an HTTP redirect.",
            );
        };
        let headers = [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ];
        (StatusCode::FOUND, headers).into_response()
    }
}

/// `response` with `Retry-After` (RFC 9110 §10.2.3) in whole seconds.
fn with_retry_after(mut response: Response, wait: std::time::Duration) -> Response {
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs(wait)),
    );
    response
}
