//! Helpers shared by the fuzz targets: send a request through the service on
//! the current thread and check the invariants every response must keep.
//!
//! The service's futures need no reactor with the memory store, so a plain
//! `block_on` drives them.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Map, Value};
use tower_dcr::Registration;

#[path = "../../tests/common/requests.rs"]
mod requests;

/// The issuer every fuzzed service is configured with, and the request builder
/// the integration tests and benches use too.
pub use requests::{ISSUER, request};

/// The members of a client information response that are not metadata.
pub const RESPONSE_ONLY_MEMBERS: [&str; 6] = [
    "client_id",
    "client_secret",
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
];

/// A response, read to the end.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The body as a JSON object; panics (a finding) when a non-empty body is
    /// not one.
    pub fn json(&self) -> Map<String, Value> {
        match serde_json::from_slice(&self.body) {
            Ok(Value::Object(map)) => map,
            other => panic!(
                "a {} response body is not a JSON object: {other:?} {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            ),
        }
    }

    /// The `error` member of an error response.
    pub fn error(&self) -> String {
        self.json()
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }
}

/// Runs a future to completion on this thread.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}

/// Sends one request through `Registration::handle` and reads the body.
pub fn send<B>(service: &Registration, request: Request<B>) -> Answer
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    block_on(async {
        let response = service.handle(request).await;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .expect("a response body never fails")
            .to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    })
}

/// The invariants of every response (the security rules of ARCHITECTURE.md): never a 5xx (the memory
/// store never fails), JSON error bodies with an `error` code and a
/// description (except the bare `401` to a request without credentials,
/// RFC 6750 §3.1), `Cache-Control: no-store`, and `WWW-Authenticate` on a 401.
#[track_caller]
pub fn check_response(answer: &Answer) {
    let status = answer.status;
    assert!(
        !status.is_server_error(),
        "a 5xx from the memory store: {status} {:?}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(
        status.is_success() || status.is_client_error(),
        "unexpected status {status}"
    );
    assert_eq!(
        answer
            .headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "every response is no-store"
    );
    if status == StatusCode::NO_CONTENT {
        assert!(answer.body.is_empty());
        return;
    }
    if status == StatusCode::UNAUTHORIZED && answer.body.is_empty() {
        // RFC 6750 §3.1: no credentials, no error information, a bare challenge.
        assert_eq!(
            answer
                .headers
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok()),
            Some("Bearer"),
            "a 401 without a body must be the bare challenge"
        );
        return;
    }
    let json = answer.json();
    if status.is_client_error() {
        let error = json.get("error").and_then(Value::as_str);
        assert!(
            error.is_some_and(|e| !e.is_empty()),
            "no error code: {json:?}"
        );
        assert!(
            json.get("error_description")
                .and_then(Value::as_str)
                .is_some_and(|d| !d.is_empty()),
            "no error_description: {json:?}"
        );
    }
    if status == StatusCode::UNAUTHORIZED {
        assert!(
            answer.headers.contains_key(header::WWW_AUTHENTICATE),
            "a 401 without WWW-Authenticate"
        );
    }
    if status == StatusCode::CREATED || status == StatusCode::OK {
        assert!(
            json.get("client_id")
                .and_then(Value::as_str)
                .is_some_and(|id| !id.is_empty()),
            "client information without client_id: {json:?}"
        );
        if json.contains_key("client_secret") {
            assert!(
                json.get("client_secret_expires_at")
                    .is_some_and(Value::is_u64),
                "client_secret without client_secret_expires_at: {json:?}"
            );
        }
    }
}

/// The metadata members of a client information response.
pub fn metadata_members(json: &Map<String, Value>) -> Map<String, Value> {
    json.iter()
        .filter(|(k, _)| !RESPONSE_ONLY_MEMBERS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The path of `registration_client_uri`, relative to the issuer.
pub fn client_path(json: &Map<String, Value>) -> String {
    let uri = json
        .get("registration_client_uri")
        .and_then(Value::as_str)
        .expect("a registration_client_uri");
    uri.strip_prefix(ISSUER)
        .expect("registration_client_uri is built from the issuer")
        .to_owned()
}

/// Deletes a client registered by a fuzz iteration, so a long run does not
/// grow the shared store.
pub fn delete_registered(service: &Registration, json: &Map<String, Value>) {
    let token = json
        .get("registration_access_token")
        .and_then(Value::as_str)
        .expect("a registration_access_token");
    let answer = send(
        service,
        request(Method::DELETE, &client_path(json), Some(token), None),
    );
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
}

/// Whether `data` is a JSON object in which a top-level member name appears
/// twice (RFC 8259 §4 allows it; the service refuses it).
pub fn has_duplicate_member(data: &[u8]) -> bool {
    use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};

    struct Names;
    impl<'de> Visitor<'de> for Names {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<bool, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut repeated = false;
            while let Some(name) = access.next_key::<String>()? {
                access.next_value::<IgnoredAny>()?;
                repeated |= !seen.insert(name);
            }
            Ok(repeated)
        }
    }
    serde_json::Deserializer::from_slice(data)
        .deserialize_map(Names)
        .unwrap_or(false)
}
