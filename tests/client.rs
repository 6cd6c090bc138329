//! The registration client (`tower_dcr::client`) against real servers listening
//! on 127.0.0.1: the crate's own registration service mounted in axum, and tiny
//! custom servers for the answers it never gives.
#![cfg(feature = "client")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_dcr::client::{
    ClientError, ClientInformation, ClientRegistration, HttpOptions, RegisterConfig,
    ServiceConfiguration, discover, register,
};
use tower_dcr::host::ClientCredentials;
use tower_dcr::{
    ClientMetadata, GrantType, Localized, Registration, RegistrationBuilder, ResponseType,
    SubjectType, TokenEndpointAuthMethod,
};

const REDIRECT: &str = "https://app.example/cb";

/// A request as the server received it.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A server on 127.0.0.1 that records every request; it stops when dropped.
struct Server {
    base: String,
    issuer: String,
    dcr: Option<Registration>,
    log: Log,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
    fn requests(&self) -> Vec<(Method, String)> {
        self.seen()
            .into_iter()
            .map(|s| (s.method, s.path))
            .collect()
    }
    fn last(&self) -> Seen {
        self.seen().pop().expect("a request")
    }
    fn dcr(&self) -> &Registration {
        self.dcr.as_ref().unwrap()
    }
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

async fn record(State(log): State<Log>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    log.lock().unwrap().push(Seen {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        headers: parts.headers.clone(),
        body: body.to_vec(),
    });
    next.run(Request::from_parts(parts, Body::from(body))).await
}

async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, format!("http://127.0.0.1:{port}"))
}

fn spawn(listener: TcpListener, router: Router, log: &Log) -> JoinHandle<()> {
    let app = router
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(middleware::from_fn_with_state(log.clone(), record));
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    })
}

/// Which discovery documents the server publishes.
#[derive(Clone, Copy)]
enum Documents {
    Both,
    Rfc8414Only,
    OidcOnly,
    None,
}

/// The crate's registration service at `{issuer}/register`, with discovery
/// documents built from `discovery_metadata()`.
async fn dcr_server(
    issuer_path: &str,
    documents: Documents,
    configure: impl FnOnce(RegistrationBuilder) -> RegistrationBuilder,
) -> Server {
    let (listener, base) = bind().await;
    let issuer = format!("{base}{issuer_path}");
    let dcr = configure(Registration::builder(issuer.clone()))
        .build()
        .unwrap();
    let mut document = dcr.discovery_metadata();
    document.insert("issuer".into(), json!(issuer));
    document.insert(
        "authorization_endpoint".into(),
        json!(format!("{issuer}/authorize")),
    );
    document.insert("token_endpoint".into(), json!(format!("{issuer}/token")));
    let document = Value::Object(document);
    let mut router = Router::new().nest_service(dcr.endpoint_path(), dcr.clone());
    if matches!(documents, Documents::Both | Documents::Rfc8414Only) {
        let doc = document.clone();
        router = router.route(
            &format!("/.well-known/oauth-authorization-server{issuer_path}"),
            get(move || async move { axum::Json(doc) }),
        );
    }
    if matches!(documents, Documents::Both | Documents::OidcOnly) {
        let doc = document.clone();
        router = router.route(
            &format!("{issuer_path}/.well-known/openid-configuration"),
            get(move || async move { axum::Json(doc) }),
        );
    }
    let log = Log::default();
    let task = spawn(listener, router, &log);
    Server {
        base,
        issuer,
        dcr: Some(dcr),
        log,
        task,
    }
}

async fn open_server() -> Server {
    dcr_server("", Documents::Both, |b| b.open()).await
}

/// A custom server; `routes` gets the base URL (`http://127.0.0.1:port`).
async fn custom_server(routes: impl FnOnce(&str) -> Router) -> Server {
    let (listener, base) = bind().await;
    let router = routes(&base);
    let log = Log::default();
    let task = spawn(listener, router, &log);
    Server {
        issuer: base.clone(),
        base,
        dcr: None,
        log,
        task,
    }
}

/// A server whose `/register` always gives this answer.
async fn canned_registration(status: StatusCode, content_type: &str, body: String) -> Server {
    let content_type = content_type.to_owned();
    custom_server(move |_| {
        Router::new().route(
            "/register",
            any(move || async move {
                (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
            }),
        )
    })
    .await
}

/// Registration at the server's `/register`, without discovery.
fn explicit(server: &Server) -> RegisterConfig {
    RegisterConfig::service_configuration(
        ServiceConfiguration::new(server.url("/register")),
        [REDIRECT],
    )
}

#[track_caller]
fn assert_oauth(err: &ClientError, status: u16, code: &str) {
    match err {
        ClientError::OAuth {
            status: s,
            error,
            error_description,
        } => {
            assert_eq!(s.as_u16(), status, "{err:?}");
            assert_eq!(error, code, "{err:?}");
            assert!(
                error_description.as_deref().is_some_and(|d| !d.is_empty()),
                "{err:?}"
            );
        }
        other => panic!("expected an OAuth error {status} {code}, got {other:?}"),
    }
}

fn basic(client_id: &str, secret: &str) -> HeaderMap {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
    );
    headers
}

fn get_request(path: &str) -> (Method, String) {
    (Method::GET, path.to_owned())
}

fn post_request(path: &str) -> (Method, String) {
    (Method::POST, path.to_owned())
}

// --- registration (RFC 7591 §3.1, §3.2.1) ---

#[tokio::test]
async fn register_with_defaults_discovers_the_endpoint_and_returns_client_information() {
    let server = open_server().await;
    let client = register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap();

    assert!(!client.client_id.is_empty());
    assert!(
        client
            .client_id_issued_at
            .is_some_and(|t| t > 1_600_000_000)
    );
    let secret = client.client_secret.as_ref().expect("a client secret");
    assert_eq!(client.client_secret_expires_at, Some(0));
    assert!(client.client_secret_never_expires());
    assert_eq!(
        client.registration_client_uri.as_deref(),
        Some(format!("{}/register/{}", server.issuer, client.client_id).as_str())
    );
    assert!(client.registration_access_token.is_some());
    let metadata = &client.metadata;
    assert_eq!(metadata.redirect_uris(), [REDIRECT]);
    assert_eq!(metadata.response_types, Some(vec![ResponseType::Code]));
    assert_eq!(
        metadata.grant_types,
        Some(vec![GrantType::AuthorizationCode])
    );
    assert_eq!(
        metadata.token_endpoint_auth_method,
        Some(TokenEndpointAuthMethod::ClientSecretBasic)
    );

    // The secret is the one the server stored: it authenticates the client.
    let credentials =
        ClientCredentials::from_request(&basic(&client.client_id, secret.secret()), None, None)
            .unwrap();
    server
        .dcr()
        .authenticate_client(&credentials)
        .await
        .unwrap();

    // One RFC 8414 discovery request, then the registration with the defaults.
    assert_eq!(
        server.requests(),
        [
            get_request("/.well-known/oauth-authorization-server"),
            post_request("/register"),
        ]
    );
    let post = server.last();
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(post.header("accept"), Some("application/json"));
    assert_eq!(post.header("authorization"), None);
    assert_eq!(
        post.json(),
        json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
        })
    );

    // Secrets never show in Debug.
    let debug = format!("{client:?}");
    assert!(!debug.contains(secret.secret()), "{debug}");
    let rat = client.registration_access_token.as_ref().unwrap().secret();
    assert!(!debug.contains(rat), "{debug}");
}

#[tokio::test]
async fn token_endpoint_auth_method_none_gets_no_client_secret() {
    let server = open_server().await;
    let client = register(
        RegisterConfig::issuer(&server.issuer, [REDIRECT])
            .token_endpoint_auth_method(TokenEndpointAuthMethod::None),
    )
    .await
    .unwrap();
    assert!(client.client_secret.is_none());
    assert_eq!(client.client_secret_expires_at, None);
    assert!(!client.client_secret_never_expires());
    assert_eq!(client.metadata.auth_method(), TokenEndpointAuthMethod::None);
    assert_eq!(server.last().json()["token_endpoint_auth_method"], "none");
}

#[tokio::test]
async fn options_and_client_metadata_are_registered() {
    let server = open_server().await;
    let mut metadata = ClientMetadata::default();
    metadata.client_name = Localized::new("Example App");
    metadata.scope = Some("openid profile".into());
    metadata.contacts = Some(vec!["dev@app.example".into()]);
    let client = register(
        RegisterConfig::issuer(&server.issuer, [REDIRECT, "https://app.example/cb2"])
            .metadata(metadata)
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .response_types([ResponseType::Code])
            .subject_type(SubjectType::Public)
            .token_endpoint_auth_method(TokenEndpointAuthMethod::ClientSecretPost),
    )
    .await
    .unwrap();
    let m = &client.metadata;
    assert_eq!(m.client_name.get(), Some("Example App"));
    assert_eq!(m.scope.as_deref(), Some("openid profile"));
    assert_eq!(m.contacts, Some(vec!["dev@app.example".to_owned()]));
    assert_eq!(m.redirect_uris(), [REDIRECT, "https://app.example/cb2"]);
    assert_eq!(
        m.grant_types,
        Some(vec![GrantType::AuthorizationCode, GrantType::RefreshToken])
    );
    assert_eq!(m.subject_type, Some(SubjectType::Public));
    assert_eq!(
        m.token_endpoint_auth_method,
        Some(TokenEndpointAuthMethod::ClientSecretPost)
    );
    // client_secret_post: the secret works in the form fields.
    let credentials = ClientCredentials::from_request(
        &HeaderMap::new(),
        Some(client.client_id.as_str()),
        Some(client.client_secret.as_ref().unwrap().secret()),
    )
    .unwrap();
    server
        .dcr()
        .authenticate_client(&credentials)
        .await
        .unwrap();
}

#[tokio::test]
async fn additional_parameters_are_merged_into_the_request_body() {
    let server = dcr_server("", Documents::Both, |b| {
        b.open().extension_members(["software_tag"])
    })
    .await;
    let mut metadata = ClientMetadata::default();
    metadata.client_name = Localized::new("from metadata");
    let client = register(
        RegisterConfig::issuer(&server.issuer, [REDIRECT])
            .metadata(metadata)
            .additional_parameters([("software_tag", "beta"), ("client_name", "from parameters")]),
    )
    .await
    .unwrap();
    let body = server.last().json();
    assert_eq!(body["software_tag"], "beta");
    assert_eq!(body["client_name"], "from parameters");
    assert_eq!(client.metadata.extensions["software_tag"], "beta");
    assert_eq!(client.metadata.client_name.get(), Some("from parameters"));
}

#[tokio::test]
async fn custom_headers_reach_every_request_but_cannot_replace_the_protocol_headers() {
    let server = open_server().await;
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("x-app-version"),
        HeaderValue::from_static("4.2"),
    );
    // The server would answer 415 if this replaced the JSON content type.
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    let mut client =
        register(RegisterConfig::issuer(&server.issuer, [REDIRECT]).custom_headers(headers))
            .await
            .unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(request.header("x-app-version"), Some("4.2"), "{request:?}");
    }
    assert_eq!(seen[1].header("content-type"), Some("application/json"));

    // The management calls of the handle send them too.
    client.read().await.unwrap();
    let read = server.last();
    assert_eq!(read.method, Method::GET);
    assert_eq!(read.header("x-app-version"), Some("4.2"));
}

// --- initial access tokens (RFC 7591 §3) ---

#[tokio::test]
async fn rfc7591_3_protected_registration_needs_the_initial_access_token() {
    let server = dcr_server("", Documents::Both, |b| {
        b.access(tower_dcr::Access::protected(["t0k3n"]))
    })
    .await;
    let config = || RegisterConfig::issuer(&server.issuer, [REDIRECT]);

    // RFC 6750 §3.1: without credentials the 401 carries no error code.
    let missing = register(config()).await.unwrap_err();
    assert!(
        matches!(&missing, ClientError::Status { status } if status.as_u16() == 401),
        "{missing:?}"
    );

    let wrong = register(config().initial_access_token("wrong-t0k3n-value"))
        .await
        .unwrap_err();
    assert_oauth(&wrong, 401, "invalid_token");
    assert!(!format!("{wrong:?} {wrong}").contains("wrong-t0k3n-value"));

    let client = register(config().initial_access_token("t0k3n"))
        .await
        .unwrap();
    assert!(!client.client_id.is_empty());
    let post = server.last();
    assert_eq!(post.method, Method::POST);
    assert_eq!(post.header("authorization"), Some("Bearer t0k3n"));
}

#[tokio::test]
async fn the_initial_access_token_wins_over_a_custom_authorization_header() {
    let server = dcr_server("", Documents::Both, |b| {
        b.access(tower_dcr::Access::protected(["t0k3n"]))
    })
    .await;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer other"),
    );
    register(
        RegisterConfig::issuer(&server.issuer, [REDIRECT])
            .custom_headers(headers)
            .initial_access_token("t0k3n"),
    )
    .await
    .unwrap();
    let post = server.last();
    let values: Vec<_> = post.headers.get_all(header::AUTHORIZATION).iter().collect();
    assert_eq!(values, [HeaderValue::from_static("Bearer t0k3n")]);
}

// --- management (RFC 7592) ---

#[tokio::test]
async fn rfc7592_2_1_read_returns_the_registration_and_keeps_the_secret() {
    let server = open_server().await;
    let mut client = register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap();
    let before = client.information().clone();
    client.read().await.unwrap();

    let read = server.last();
    assert_eq!(read.method, Method::GET);
    assert_eq!(read.path, format!("/register/{}", client.client_id));
    let rat = before.registration_access_token.as_ref().unwrap().secret();
    assert_eq!(
        read.header("authorization"),
        Some(format!("Bearer {rat}").as_str())
    );
    assert_eq!(client.metadata, before.metadata);
    assert_eq!(client.client_id_issued_at, before.client_id_issued_at);
    // The server keeps only a digest and does not return the secret: the
    // handle keeps the one it has.
    let secret = before.client_secret.as_ref().unwrap().secret();
    assert!(client.client_secret.as_ref().unwrap().ct_eq(secret));
    assert_eq!(client.client_secret_expires_at, Some(0));
}

#[tokio::test]
async fn rfc7592_2_2_update_sends_the_full_metadata_and_follows_the_rotated_token() {
    let server = open_server().await;
    let mut client = register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap();
    let mut stale = client.clone();
    let old_rat = client.registration_access_token.clone().unwrap();
    let old_secret = client.client_secret.clone().unwrap();

    let mut metadata = client.metadata.clone();
    metadata.client_name = Localized::new("Renamed");
    metadata
        .redirect_uris
        .as_mut()
        .unwrap()
        .push("https://app.example/other".into());
    // Members a client must never send in an update; the server refuses them
    // (RFC 7592 §2.2), so they must not leave the client.
    for member in [
        "registration_access_token",
        "registration_client_uri",
        "client_secret_expires_at",
        "client_id_issued_at",
    ] {
        metadata.extensions.insert(member.into(), json!("x"));
    }
    client.update(metadata).await.unwrap();

    let put = server.last();
    assert_eq!(put.method, Method::PUT);
    assert_eq!(put.path, format!("/register/{}", client.client_id));
    let body = put.json();
    assert_eq!(body["client_id"], json!(client.client_id));
    assert_eq!(body["client_name"], "Renamed");
    assert_eq!(body["redirect_uris"].as_array().unwrap().len(), 2);
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    for member in [
        "registration_access_token",
        "registration_client_uri",
        "client_secret_expires_at",
        "client_id_issued_at",
        "client_secret",
    ] {
        assert!(body.get(member).is_none(), "{member} was sent: {body}");
    }

    assert_eq!(client.metadata.client_name.get(), Some("Renamed"));
    assert_eq!(client.metadata.redirect_uris().len(), 2);
    let new_rat = client.registration_access_token.as_ref().unwrap();
    assert!(
        !new_rat.ct_eq(old_rat.secret()),
        "the server rotates the token"
    );
    let secret = client.client_secret.as_ref().unwrap();
    assert!(secret.ct_eq(old_secret.secret()), "the secret is kept");

    // The handle holds the current token; a copy holding the old one is refused.
    client.read().await.unwrap();
    let err = stale.read().await.unwrap_err();
    assert_oauth(&err, 401, "invalid_token");
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(err.oauth_error(), Some("invalid_token"));
}

#[tokio::test]
async fn rfc7592_2_2_a_new_client_secret_replaces_the_old_one() {
    let server = dcr_server("", Documents::Both, |b| {
        b.open().rotate_client_secret_on_update(true)
    })
    .await;
    let mut client = register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap();
    let old_secret = client.client_secret.clone().unwrap();
    let metadata = client.metadata.clone();
    client.update(metadata).await.unwrap();
    let new_secret = client.client_secret.as_ref().unwrap();
    assert!(!new_secret.ct_eq(old_secret.secret()));
    assert!(client.client_secret_expires_at.is_some());
    let credentials =
        ClientCredentials::from_request(&basic(&client.client_id, new_secret.secret()), None, None)
            .unwrap();
    server
        .dcr()
        .authenticate_client(&credentials)
        .await
        .unwrap();
}

#[tokio::test]
async fn rfc7592_2_2_moving_to_auth_method_none_drops_the_client_secret() {
    let server = open_server().await;
    let mut client = register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap();
    let mut metadata = client.metadata.clone();
    metadata.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::None);
    client.update(metadata).await.unwrap();
    assert!(client.client_secret.is_none());
    assert_eq!(client.client_secret_expires_at, None);
}

#[tokio::test]
async fn rfc7592_2_2_a_refused_update_leaves_the_handle_unchanged() {
    let server = open_server().await;
    let mut client = register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap();
    let before = client.information().clone();
    let mut metadata = client.metadata.clone();
    metadata.redirect_uris = Some(vec!["javascript:alert(1)".into()]);
    let err = client.update(metadata).await.unwrap_err();
    assert_oauth(&err, 400, "invalid_redirect_uri");
    assert_eq!(client.metadata, before.metadata);
    let rat = before.registration_access_token.as_ref().unwrap().secret();
    assert!(
        client
            .registration_access_token
            .as_ref()
            .unwrap()
            .ct_eq(rat)
    );
    // The refused update rotated nothing: the token still works.
    client.read().await.unwrap();
}

#[tokio::test]
async fn rfc7592_2_3_delete_answers_204_and_the_token_stops_working() {
    let server = open_server().await;
    let mut client = register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap();
    client.delete().await.unwrap();
    let delete = server.last();
    assert_eq!(delete.method, Method::DELETE);
    assert_eq!(delete.path, format!("/register/{}", client.client_id));
    assert!(
        server
            .dcr()
            .client(&client.client_id)
            .await
            .unwrap()
            .is_none()
    );

    assert_oauth(&client.read().await.unwrap_err(), 401, "invalid_token");
    assert_oauth(&client.delete().await.unwrap_err(), 401, "invalid_token");
}

#[tokio::test]
async fn rfc7592_2_3_a_delete_answered_with_200_is_an_invalid_response() {
    let server = custom_server(|base| {
        let info = json!({
            "client_id": "c1",
            "registration_access_token": "rat",
            "registration_client_uri": format!("{base}/register/c1"),
        });
        Router::new()
            .route(
                "/register",
                any(move || async move { (StatusCode::CREATED, axum::Json(info)) }),
            )
            .route("/register/c1", any(|| async { StatusCode::OK }))
    })
    .await;
    let client = register(explicit(&server)).await.unwrap();
    let err = client.delete().await.unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidResponse(m) if m.contains("204")),
        "{err:?}"
    );
    assert_eq!(server.last().method, Method::DELETE);
}

#[tokio::test]
async fn a_restored_handle_manages_the_registration() {
    let server = open_server().await;
    let client = register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap();
    // What an app persists: the identifier, the URI and the token.
    let stored = ClientInformation {
        client_id: client.client_id.clone(),
        registration_client_uri: client.registration_client_uri.clone(),
        registration_access_token: client.registration_access_token.clone(),
        ..ClientInformation::default()
    };
    drop(client);
    let mut restored = ClientRegistration::from_information(stored, HttpOptions::new()).unwrap();
    restored.read().await.unwrap();
    assert_eq!(restored.metadata.redirect_uris(), [REDIRECT]);
    assert_eq!(restored.client_secret_expires_at, Some(0));
}

#[tokio::test]
async fn without_a_registration_access_token_management_is_unavailable() {
    let server = dcr_server("", Documents::Both, |b| {
        b.open().issue_registration_access_token(false)
    })
    .await;
    let mut client = register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap();
    assert!(client.registration_access_token.is_none());
    let sent = server.requests().len();
    assert!(matches!(
        client.read().await,
        Err(ClientError::ManagementUnavailable)
    ));
    assert_eq!(server.requests().len(), sent, "nothing was sent");
}

// --- discovery (RFC 8414 §3, OpenID Connect Discovery 1.0 §4) ---

#[tokio::test]
async fn rfc8414_3_the_authorization_server_document_gives_the_endpoint() {
    let server = dcr_server("", Documents::Rfc8414Only, |b| b.open()).await;
    register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap();
    assert_eq!(
        server.requests(),
        [
            get_request("/.well-known/oauth-authorization-server"),
            post_request("/register"),
        ]
    );
}

#[tokio::test]
async fn discovery_falls_back_to_the_openid_configuration() {
    let server = dcr_server("", Documents::OidcOnly, |b| b.open()).await;
    register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap();
    assert_eq!(
        server.requests(),
        [
            get_request("/.well-known/oauth-authorization-server"),
            get_request("/.well-known/openid-configuration"),
            post_request("/register"),
        ]
    );
}

#[tokio::test]
async fn rfc8414_3_1_the_well_known_segment_goes_before_the_issuer_path() {
    let server = dcr_server("/tenant", Documents::Rfc8414Only, |b| b.open()).await;
    let client = register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap();
    assert_eq!(
        server.requests(),
        [
            get_request("/.well-known/oauth-authorization-server/tenant"),
            post_request("/tenant/register"),
        ]
    );
    let uri = client.registration_client_uri.as_deref().unwrap();
    assert!(
        uri.starts_with(&format!("{}/tenant/register/", server.base)),
        "{uri}"
    );
}

#[tokio::test]
async fn discovery_with_an_issuer_path_falls_back_to_the_openid_configuration_under_it() {
    let server = dcr_server("/tenant", Documents::OidcOnly, |b| b.open()).await;
    register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap();
    assert_eq!(
        server.requests(),
        [
            get_request("/.well-known/oauth-authorization-server/tenant"),
            get_request("/tenant/.well-known/openid-configuration"),
            post_request("/tenant/register"),
        ]
    );
}

#[tokio::test]
async fn rfc8414_3_3_a_document_for_another_issuer_is_refused() {
    let server = custom_server(|base| {
        let document = json!({
            "issuer": "https://evil.example",
            "registration_endpoint": format!("{base}/register"),
        });
        Router::new().route(
            "/.well-known/oauth-authorization-server",
            get(move || async move { axum::Json(document) }),
        )
    })
    .await;
    let err = register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap_err();
    match &err {
        ClientError::Discovery { issuer, reason } => {
            assert_eq!(issuer, &server.issuer);
            assert!(reason.contains("https://evil.example"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 1, "no registration was attempted");
}

#[tokio::test]
async fn discovery_without_a_registration_endpoint_is_a_discovery_error() {
    let server = custom_server(|base| {
        let document = json!({"issuer": base, "token_endpoint": format!("{base}/token")});
        Router::new().route(
            "/.well-known/oauth-authorization-server",
            get(move || async move { axum::Json(document) }),
        )
    })
    .await;
    let err = register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Discovery { reason, .. } if reason.contains("registration_endpoint")),
        "{err:?}"
    );
}

#[tokio::test]
async fn discovery_without_any_document_is_a_discovery_error() {
    let server = dcr_server("", Documents::None, |b| b.open()).await;
    let err = register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap_err();
    let ClientError::Discovery { reason, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(reason.contains("oauth-authorization-server"), "{reason}");
    assert!(reason.contains("openid-configuration"), "{reason}");
    assert!(reason.contains("404"), "{reason}");
}

#[tokio::test]
async fn discover_returns_the_service_configuration() {
    let server = open_server().await;
    let configuration = discover(&server.issuer, &HttpOptions::new()).await.unwrap();
    assert_eq!(
        configuration.issuer.as_deref(),
        Some(server.issuer.as_str())
    );
    assert_eq!(
        configuration.registration_endpoint,
        server.dcr().registration_endpoint()
    );
    assert_eq!(
        configuration.token_endpoint,
        Some(format!("{}/token", server.issuer))
    );
    assert_eq!(
        configuration.authorization_endpoint,
        Some(format!("{}/authorize", server.issuer))
    );
    let methods = &configuration.document["token_endpoint_auth_methods_supported"];
    assert!(methods.as_array().unwrap().contains(&json!("none")));
}

#[tokio::test]
async fn an_explicit_service_configuration_skips_discovery() {
    let server = open_server().await;
    register(explicit(&server)).await.unwrap();
    assert_eq!(server.requests(), [post_request("/register")]);
}

// --- errors (RFC 7591 §3.2.2, and what servers do besides) ---

#[tokio::test]
async fn rfc7591_3_2_2_invalid_redirect_uri_is_a_typed_error() {
    let server = open_server().await;
    // A web client's redirect URI must use https (except on loopback).
    let err = register(RegisterConfig::service_configuration(
        ServiceConfiguration::new(server.url("/register")),
        ["http://app.example/cb"],
    ))
    .await
    .unwrap_err();
    assert_oauth(&err, 400, "invalid_redirect_uri");
}

#[tokio::test]
async fn rfc7591_3_2_2_invalid_client_metadata_is_a_typed_error() {
    let server = open_server().await;
    let mut metadata = ClientMetadata::default();
    metadata.client_uri = Localized::new("not a uri");
    let err = register(explicit(&server).metadata(metadata))
        .await
        .unwrap_err();
    assert_oauth(&err, 400, "invalid_client_metadata");
    assert!(err.to_string().contains("invalid_client_metadata"), "{err}");
}

#[tokio::test]
async fn an_error_status_without_an_oauth_body_is_a_status_error() {
    let server = canned_registration(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/html",
        "<html>Internal Server Error</html>".into(),
    )
    .await;
    let err = register(explicit(&server)).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Status { status } if status == StatusCode::INTERNAL_SERVER_ERROR),
        "{err:?}"
    );
}

#[tokio::test]
async fn rfc7591_3_2_1_a_201_that_is_not_json_is_an_invalid_response() {
    let server =
        canned_registration(StatusCode::CREATED, "text/html", "<html>ok</html>".into()).await;
    let err = register(explicit(&server)).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidResponse(m) if m.contains("not JSON")),
        "{err:?}"
    );
}

#[tokio::test]
async fn rfc7591_3_2_1_a_response_without_client_id_is_an_invalid_response() {
    let body = json!({"client_secret": "s", "client_secret_expires_at": 0}).to_string();
    let server = canned_registration(StatusCode::CREATED, "application/json", body).await;
    let err = register(explicit(&server)).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidResponse(m) if m.contains("client_id")),
        "{err:?}"
    );
}

#[tokio::test]
async fn rfc7591_3_2_1_a_client_secret_without_its_expiry_is_an_invalid_response() {
    let body = json!({"client_id": "c1", "client_secret": "s3cr3t-value"}).to_string();
    let server = canned_registration(StatusCode::CREATED, "application/json", body).await;
    let err = register(explicit(&server)).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidResponse(m) if m.contains("client_secret_expires_at")),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("s3cr3t-value"));
}

#[tokio::test]
async fn rfc7591_3_2_1_a_success_other_than_201_or_200_is_an_invalid_response() {
    let body = json!({"client_id": "c1"}).to_string();
    let server = canned_registration(StatusCode::ACCEPTED, "application/json", body).await;
    let err = register(explicit(&server)).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidResponse(m) if m.contains("202")),
        "{err:?}"
    );
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let server = custom_server(|base| {
        let elsewhere = format!("{base}/elsewhere");
        Router::new()
            .route(
                "/register",
                any(move || async move {
                    (
                        StatusCode::TEMPORARY_REDIRECT,
                        [(header::LOCATION, elsewhere)],
                    )
                }),
            )
            .route(
                "/elsewhere",
                any(|| async {
                    (
                        StatusCode::CREATED,
                        axum::Json(json!({"client_id": "redirected"})),
                    )
                }),
            )
    })
    .await;
    let err = register(explicit(&server)).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Status { status } if status == StatusCode::TEMPORARY_REDIRECT),
        "{err:?}"
    );
    assert_eq!(server.requests(), [post_request("/register")]);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // Accepts connections and holds them without ever answering.
    let (listener, base) = bind().await;
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let timeout = Duration::from_millis(300);

    let started = Instant::now();
    let err = register(
        RegisterConfig::service_configuration(
            ServiceConfiguration::new(format!("{base}/register")),
            [REDIRECT],
        )
        .connection_timeout(timeout),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    match &err {
        ClientError::Timeout { url, timeout: t } => {
            assert_eq!(url, &format!("{base}/register"));
            assert_eq!(*t, timeout);
        }
        other => panic!("{other:?}"),
    }

    // Discovery has the same limit.
    let err = discover(&base, &HttpOptions::new().connection_timeout(timeout))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    silent.abort();
}

// --- plain http ---

#[tokio::test]
async fn plain_http_to_a_non_loopback_host_is_refused_without_the_opt_in() {
    let err = register(RegisterConfig::issuer(
        "http://auth.example.com",
        [REDIRECT],
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ClientError::InsecureUrl(u) if u == "http://auth.example.com"),
        "{err:?}"
    );
    let err = register(RegisterConfig::service_configuration(
        ServiceConfiguration::new("http://auth.example.com/register"),
        [REDIRECT],
    ))
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::InsecureUrl(_)), "{err:?}");

    // 127.0.0.2 is not one of the loopback hosts allowed by default. With the
    // opt-in the request is really attempted, and refused by the network, as
    // nothing listens there.
    let (listener, _) = bind().await;
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let endpoint = format!("http://127.0.0.2:{port}/register");
    let config =
        || RegisterConfig::service_configuration(ServiceConfiguration::new(&endpoint), [REDIRECT]);
    let err = register(config()).await.unwrap_err();
    assert!(matches!(err, ClientError::InsecureUrl(_)), "{err:?}");
    let err = register(config().dangerously_allow_insecure_http_requests(true))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Network { .. }), "{err:?}");
}

#[tokio::test]
async fn a_discovered_plain_http_endpoint_is_refused() {
    let server = custom_server(|base| {
        let document = json!({
            "issuer": base,
            "registration_endpoint": "http://auth.example.com/register",
        });
        Router::new().route(
            "/.well-known/oauth-authorization-server",
            get(move || async move { axum::Json(document) }),
        )
    })
    .await;
    let err = register(RegisterConfig::issuer(&server.issuer, [REDIRECT]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::InsecureUrl(u) if u == "http://auth.example.com/register"),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_registration_access_token_is_never_sent_over_plain_http() {
    let body = json!({
        "client_id": "c1",
        "registration_access_token": "r4t",
        "registration_client_uri": "http://auth.example.com/register/c1",
    })
    .to_string();
    let server = canned_registration(StatusCode::CREATED, "application/json", body).await;
    let mut client = register(explicit(&server)).await.unwrap();
    let err = client.read().await.unwrap_err();
    assert!(matches!(err, ClientError::InsecureUrl(_)), "{err:?}");
    assert!(matches!(
        client.delete().await,
        Err(ClientError::InsecureUrl(_))
    ));
}
