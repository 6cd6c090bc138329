//! A host application built only from what the README and the crate's docs
//! show (the `host`, `policy` and `store` modules): an axum authorization
//! server of one's own for machine clients, with registration mounted on it.
//!
//! - registration at `/register` (RFC 7591, RFC 7592), clients in SQLite;
//! - protected by an initial access token, under a narrowed profile
//!   (confidential clients, `client_credentials` only, scopes `read` and `write`);
//! - discovery at `/.well-known/oauth-authorization-server` (RFC 8414), with the
//!   registration members merged in;
//! - a token endpoint (`client_credentials`, RFC 6749 §4.4) that authenticates
//!   the client as it registered (RFC 6749 §2.3.1) and answers errors as
//!   RFC 6749 §5.2 says.
//!
//! ```sh
//! cargo run --example host_app     # 127.0.0.1:3000, SQLite in ./host_app.db; prints the token
//! curl -s -X POST http://127.0.0.1:3000/register -H "Authorization: Bearer $TOKEN" \
//!   -H 'Content-Type: application/json' -d '{"client_name":"Reporter","scope":"read"}'
//! curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials http://127.0.0.1:3000/token
//! ```
//!
//! `HOST_APP_ADDR` (default `127.0.0.1:3000`) and `HOST_APP_TOKEN` (default: a
//! new random token each start) change the address and the initial access token.

use std::error::Error;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;
use serde_json::{Map, json};
use tower_dcr::host::TokenError;
use tower_dcr::{
    GrantType, Profile, Registration, Secret, ServerKind, SqliteStore, TokenEndpointAuthMethod,
};

/// The scopes this server grants.
const SCOPES: [&str; 2] = ["read", "write"];

/// The registration service: protected by `initial_access_token`, clients
/// kept in `store` (already migrated).
pub fn registration(
    issuer: &str,
    store: SqliteStore,
    initial_access_token: &str,
) -> Result<Registration, tower_dcr::ConfigError> {
    Registration::builder(issuer)
        // A plain OAuth 2.0 server: no OpenID Connect members in discovery.
        .server_kind(ServerKind::OAuthAuthorizationServer)
        .access(tower_dcr::Access::protected([initial_access_token]))
        .store(store)
        .profile(
            Profile::default()
                .token_endpoint_auth_methods([
                    TokenEndpointAuthMethod::ClientSecretBasic,
                    TokenEndpointAuthMethod::ClientSecretPost,
                ])
                .grant_types([GrantType::ClientCredentials])
                .response_types([])
                // What a client that leaves them out gets, instead of the
                // RFC 7591 defaults (`authorization_code`, `code`) this
                // profile refuses.
                .default_value("grant_types", json!(["client_credentials"]))
                .default_value("response_types", json!([]))
                .scopes(SCOPES),
        )
        .build()
}

/// The whole application: registration, discovery and the token endpoint.
pub fn app(dcr: Registration) -> Router {
    let mut metadata = Map::new();
    metadata.insert("issuer".into(), dcr.issuer().into());
    metadata.insert(
        "token_endpoint".into(),
        format!("{}/token", dcr.issuer()).into(),
    );
    metadata.extend(dcr.discovery_metadata());
    Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(|| async move { Json(metadata) }),
        )
        .route("/token", post(token))
        .nest_service("/register", dcr.clone())
        .with_state(dcr)
}

/// A token request (RFC 6749 §4.4.2); `client_id` and `client_secret` are
/// there for clients that registered `client_secret_post`.
#[derive(Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `POST /token`: the `client_credentials` grant.
async fn token(
    State(dcr): State<Registration>,
    headers: HeaderMap,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Result<Response, Response> {
    // Not a form, or a parameter sent twice (RFC 6749 §3.2).
    let Form(form) = form.map_err(|e| TokenError::invalid_request(e.body_text()))?;
    // RFC 6749 §2.3.1: the Basic header or the form fields, as the client
    // registered; every failure is one `invalid_client` (401 with
    // `WWW-Authenticate: Basic` when Basic was tried).
    let client = dcr
        .authenticate_token_request(&headers, &form.client_id, &form.client_secret)
        .await?;
    if form.grant_type.as_deref() != Some("client_credentials") {
        return Err(
            TokenError::unsupported_grant_type("only client_credentials is supported").into(),
        );
    }
    let registered = client.metadata.grant_types.as_deref().unwrap_or_default();
    if !registered.contains(&GrantType::ClientCredentials) {
        return Err(TokenError::unauthorized_client(
            "the client did not register the client_credentials grant",
        )
        .into());
    }
    // The scope granted: what was asked, within what the client registered
    // (RFC 6749 §3.3).
    let allowed: Vec<&str> = client
        .metadata
        .scope
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .collect();
    let scope = match form.scope.as_deref() {
        None => allowed.join(" "),
        Some(asked) if asked.split(' ').all(|s| allowed.contains(&s)) => asked.to_owned(),
        Some(_) => return Err(TokenError::invalid_scope("beyond the registered scope").into()),
    };
    let access_token =
        Secret::generate().map_err(|_| TokenError::temporarily_unavailable("no randomness"))?;
    let body = json!({
        "access_token": access_token.secret(),
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": scope,
    });
    // RFC 6749 §5.1: token responses must not be cached.
    let no_store = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ];
    Ok((no_store, Json(body)).into_response())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let addr = std::env::var("HOST_APP_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let initial_access_token = match std::env::var("HOST_APP_TOKEN") {
        Ok(token) => token,
        Err(_) => Secret::generate()?.secret().to_owned(),
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let issuer = format!("http://{}", listener.local_addr()?);

    let store = SqliteStore::connect("sqlite:host_app.db").await?;
    store.migrate().await?;
    let dcr = registration(&issuer, store, &initial_access_token)?;

    println!("issuer:   {issuer}");
    println!("register: POST {issuer}/register with Authorization: Bearer {initial_access_token}");
    println!("token:    POST {issuer}/token (client_credentials)");
    axum::serve(listener, app(dcr))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The application in process: one registration, then token requests.

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use http::{Request, StatusCode};
    use http_body_util::BodyExt as _;
    use serde_json::Value;
    use tower::ServiceExt as _;

    use super::*;

    const ISSUER: &str = "http://127.0.0.1:3000";
    const TOKEN: &str = "team-token-1";

    async fn send(app: &Router, request: Request<String>) -> (StatusCode, HeaderMap, Value) {
        let response = app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (parts.status, parts.headers, json)
    }

    fn token_request(basic: Option<(&str, &str)>, form: &str) -> Request<String> {
        let mut request = Request::post("/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            let credentials = STANDARD.encode(format!("{id}:{secret}"));
            request = request.header(header::AUTHORIZATION, format!("Basic {credentials}"));
        }
        request.body(form.to_owned()).unwrap()
    }

    /// Registers with the initial access token, then: a bad secret over Basic
    /// is `401 invalid_client` with `WWW-Authenticate: Basic` (RFC 6749 §5.2),
    /// the right one gets a token, and discovery has no OpenID members.
    #[tokio::test]
    async fn rfc6749_5_2_register_then_token_with_a_bad_secret_is_invalid_client() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("host_app.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let app = app(registration(ISSUER, store, TOKEN).unwrap());

        let register = Request::post("/register")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(r#"{"client_name":"Reporter","scope":"read"}"#.to_owned())
            .unwrap();
        let (status, _, client) = send(&app, register).await;
        assert_eq!(status, StatusCode::CREATED, "{client}");
        assert_eq!(client["grant_types"], json!(["client_credentials"]));
        let id = client["client_id"].as_str().unwrap();
        let secret = client["client_secret"].as_str().unwrap();

        let form = "grant_type=client_credentials";
        let (status, headers, error) = send(&app, token_request(Some((id, "wrong")), form)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(error["error"], "invalid_client");
        let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Basic"), "{challenge}");

        let (status, headers, token) = send(&app, token_request(Some((id, secret)), form)).await;
        assert_eq!(status, StatusCode::OK, "{token}");
        assert_eq!(token["token_type"], "Bearer");
        assert_eq!(token["scope"], "read");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");

        let form = "grant_type=client_credentials&scope=write";
        let (status, _, error) = send(&app, token_request(Some((id, secret)), form)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["error"], "invalid_scope");

        let discovery = Request::get("/.well-known/oauth-authorization-server")
            .body(String::new())
            .unwrap();
        let (_, _, metadata) = send(&app, discovery).await;
        assert_eq!(
            metadata["registration_endpoint"],
            format!("{ISSUER}/register")
        );
        assert_eq!(
            metadata["grant_types_supported"],
            json!(["client_credentials"])
        );
        assert!(metadata.get("subject_types_supported").is_none());
        assert!(
            metadata
                .get("id_token_signing_alg_values_supported")
                .is_none()
        );
    }
}
