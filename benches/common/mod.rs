//! What the benches share: the request body, the service, and the floor.
#![allow(dead_code)]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use criterion::Criterion;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower_dcr::{ClientStore, MemoryStore, Registration};
use tower_service::Service;

#[path = "../../tests/common/requests.rs"]
mod requests;

pub use requests::ISSUER;
use requests::{request, with_content_length};

/// A realistic registration: a name with a language variant, two redirect
/// URIs, grant and response types, a scope and two contacts.
pub const BODY: &str = r#"{
  "client_name": "Example Photo Printing Service",
  "client_name#fr-CA": "Service d'impression de photos exemple",
  "redirect_uris": [
    "https://printing.example.com/oauth/callback",
    "https://printing.example.com/oauth/callback-alt"
  ],
  "grant_types": ["authorization_code", "refresh_token"],
  "response_types": ["code"],
  "token_endpoint_auth_method": "client_secret_basic",
  "scope": "openid profile email offline_access",
  "contacts": ["ops@printing.example.com", "security@printing.example.com"]
}"#;

/// The same client in an update request (RFC 7592 §2.2) needs its `client_id`.
pub fn update_body(client_id: &str) -> String {
    let mut value: Value = serde_json::from_str(BODY).unwrap();
    value["client_id"] = Value::String(client_id.to_owned());
    value["client_name"] = Value::String("Example Photo Printing Service (renamed)".into());
    serde_json::to_string(&value).unwrap()
}

/// Short measurements: 2 shared cores, and ratios, not absolute times.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args()
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub fn service(store: impl ClientStore) -> Registration {
    Registration::builder(ISSUER)
        .open()
        .store(store)
        .build()
        .unwrap()
}

pub fn memory_service() -> Registration {
    service(MemoryStore::new())
}

pub fn register_request(body: &str) -> Request<Full<Bytes>> {
    let body = Some(body.as_bytes().to_vec());
    with_content_length(request(Method::POST, "/register", None, body))
}

pub fn manage_request(
    method: Method,
    client_id: &str,
    token: &str,
    body: Option<&str>,
) -> Request<Full<Bytes>> {
    let path = format!("/register/{client_id}");
    let body = body.map(|body| body.as_bytes().to_vec());
    with_content_length(request(method, &path, Some(token), body))
}

/// Sends one request and returns the status and body.
pub async fn send(svc: &mut Registration, request: Request<Full<Bytes>>) -> (u16, Bytes) {
    let response = svc.call(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}

/// A registered client: its id, registration access token and the response.
pub struct Registered {
    pub client_id: String,
    pub token: String,
    pub response: Bytes,
}

pub async fn register(svc: &mut Registration) -> Registered {
    let (status, response) = send(svc, register_request(BODY)).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&response));
    let value: Value = serde_json::from_slice(&response).unwrap();
    Registered {
        client_id: value["client_id"].as_str().unwrap().to_owned(),
        token: value["registration_access_token"]
            .as_str()
            .unwrap()
            .to_owned(),
        response,
    }
}

/// 256 bits from the OS CSPRNG, base64url: what every credential costs.
pub fn mint_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The floor of a registration: parse the body into a `serde_json::Value`,
/// mint two 256-bit tokens, and serialize a response of the same size as the
/// service's (the request's members plus the credentials).
pub fn floor(body: &[u8]) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(body).unwrap();
    let secret = mint_token();
    let token = mint_token();
    let object = value.as_object_mut().unwrap();
    object.insert("client_id".into(), "Ew0QkMLhMPWxlpThSIKRAg".into());
    object.insert("client_secret".into(), secret.into());
    object.insert("client_id_issued_at".into(), 1_767_225_600u64.into());
    object.insert("client_secret_expires_at".into(), 0u64.into());
    object.insert("registration_access_token".into(), token.into());
    object.insert(
        "registration_client_uri".into(),
        "https://auth.example.com/register/Ew0QkMLhMPWxlpThSIKRAg".into(),
    );
    object.insert("application_type".into(), "web".into());
    serde_json::to_vec(&value).unwrap()
}
