//! Shared helpers for the integration tests: build a service, send a request
//! through `Service::call`, read the JSON answer.
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::ServiceExt;
use tower_dcr::{Registration, RegistrationBuilder};

pub const ISSUER: &str = "https://auth.example.com";

/// An open registration service with the default profile and a memory store.
pub fn open() -> Registration {
    builder().build().unwrap()
}

/// The builder `open()` uses, to adjust before `build()`.
pub fn builder() -> RegistrationBuilder {
    Registration::builder(ISSUER).open()
}

/// An answer: status, headers, and the body parsed as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub raw: Bytes,
    pub json: Value,
}

impl Answer {
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }
    pub fn description(&self) -> &str {
        self.json["error_description"].as_str().unwrap_or_default()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn str(&self, member: &str) -> &str {
        self.json[member].as_str().unwrap_or_default()
    }
    /// Asserts an RFC 7591 §3.2.2 error response.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{:?}", self.json);
        assert_eq!(self.error(), code, "{:?}", self.json);
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert!(
            !self.description().is_empty(),
            "no error_description: {:?}",
            self.json
        );
    }
}

pub async fn send(service: &Registration, request: Request<Full<Bytes>>) -> Answer {
    let response = service.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let raw = body.collect().await.unwrap().to_bytes();
    let json = if raw.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&raw).expect("every response body is JSON")
    };
    Answer {
        status: parts.status,
        headers: parts.headers,
        raw,
        json,
    }
}

pub fn request(
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let bytes = match body {
        Some(body) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Bytes::from(serde_json::to_vec(body).unwrap())
        }
        None => Bytes::new(),
    };
    builder.body(Full::new(bytes)).unwrap()
}

/// `POST /register` with a JSON body.
pub async fn register(service: &Registration, body: Value) -> Answer {
    send(
        service,
        request(Method::POST, "/register", None, Some(&body)),
    )
    .await
}

/// `POST /register` with an initial access token.
pub async fn register_with(service: &Registration, token: &str, body: Value) -> Answer {
    send(
        service,
        request(Method::POST, "/register", Some(token), Some(&body)),
    )
    .await
}

/// Registers and asserts `201`.
pub async fn registered(service: &Registration, body: Value) -> Answer {
    let answer = register(service, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    answer
}

/// The path of `registration_client_uri` in a registration answer.
pub fn client_path(answer: &Answer) -> String {
    let uri = answer.str("registration_client_uri");
    uri.strip_prefix(ISSUER).unwrap_or(uri).to_owned()
}

pub async fn read(service: &Registration, path: &str, token: &str) -> Answer {
    send(service, request(Method::GET, path, Some(token), None)).await
}

pub async fn update(service: &Registration, path: &str, token: &str, body: Value) -> Answer {
    send(
        service,
        request(Method::PUT, path, Some(token), Some(&body)),
    )
    .await
}

pub async fn delete(service: &Registration, path: &str, token: &str) -> Answer {
    send(service, request(Method::DELETE, path, Some(token), None)).await
}

/// A typical web client.
pub fn web_client() -> Value {
    serde_json::json!({
        "redirect_uris": ["https://client.example.org/callback"],
        "client_name": "Example Client",
    })
}
