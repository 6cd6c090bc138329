//! Shared helpers for the integration tests: build a service, send a request
//! through `Service::call`, read the JSON answer.
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::ServiceExt;
use tower_dcr::{Registration, RegistrationBuilder};

mod logs;
mod requests;

#[allow(unused_imports)] // Only the tests that check logs use it.
pub use logs::Logs;
pub use requests::ISSUER;

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
    let body = body.map(|body| serde_json::to_vec(body).unwrap());
    requests::request(method, path, token, body)
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

// ---------------------------------------------------------------------------
// Added for rfc7592.rs, host.rs, mounting.rs and interop.rs.

/// The members a client information response carries that a client must not
/// send back in an update (RFC 7592 §2.2), plus `client_secret`.
pub const RESPONSE_ONLY_MEMBERS: [&str; 5] = [
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
    "client_secret",
];

/// An RFC 7592 §2.2 update body made from a client information response: every
/// member but the response-only ones, `client_id` kept.
pub fn update_body(information: &Value) -> Value {
    let mut body = information.clone();
    body.as_object_mut()
        .expect("client information is a JSON object")
        .retain(|k, _| !RESPONSE_ONLY_MEMBERS.contains(&k.as_str()));
    body
}

/// The registration access token of a 201 or 200 answer.
pub fn rat(answer: &Answer) -> String {
    answer.str("registration_access_token").to_owned()
}

/// Asserts RFC 6750 §3.1 `401 invalid_token` with its `Bearer` challenge.
#[track_caller]
pub fn assert_invalid_token(answer: &Answer) {
    answer.assert_error(401, "invalid_token");
    assert_eq!(
        answer.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
}

/// Sends a request with arbitrary headers (name, value) and an optional JSON
/// body through `Service::call`.
pub async fn send_with_headers(
    service: &Registration,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Answer {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let bytes = match body {
        Some(body) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Bytes::from(serde_json::to_vec(body).unwrap())
        }
        None => Bytes::new(),
    };
    send(service, builder.body(Full::new(bytes)).unwrap()).await
}

/// `Authorization: Basic` for client authentication: identifier and secret are
/// each form-urlencoded, then joined with `:` and Base64-encoded
/// (RFC 6749 §2.3.1).
pub fn basic_authorization(client_id: &str, secret: &str) -> String {
    use base64::Engine as _;
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A header map holding one `Authorization` value.
pub fn authorization_header(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, value.parse().unwrap());
    headers
}

/// An HTTP server on 127.0.0.1 serving until the guard is dropped.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// `http://127.0.0.1:{port}`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds 127.0.0.1 on a free port.
pub async fn loopback_listener() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// Serves an axum router on `listener`.
pub fn serve_axum(listener: tokio::net::TcpListener, app: axum::Router) -> TestServer {
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    TestServer { addr, task }
}

/// Serves any tower service with hyper 1's HTTP/1.1 server on `listener`.
pub fn serve_hyper<S, B>(listener: tokio::net::TcpListener, service: S) -> TestServer
where
    S: tower::Service<
            Request<hyper::body::Incoming>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            connections.spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    TestServer { addr, task }
}

/// A request body sent in chunks of unknown total length (HTTP/1.1 chunked
/// transfer coding, no `Content-Length`).
pub struct Chunked(std::collections::VecDeque<Bytes>);

impl Chunked {
    pub fn new(bytes: &[u8], chunk: usize) -> Self {
        Self(bytes.chunks(chunk).map(Bytes::copy_from_slice).collect())
    }
}

impl http_body::Body for Chunked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
    }
}

/// Sends one request over real HTTP/1.1 with hyper-util's client. The body is
/// parsed as JSON when it is JSON, else `json` is `Null` (see `raw`).
pub async fn http_send<B>(request: Request<B>) -> Answer
where
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<B>();
    let response =
        tokio::time::timeout(std::time::Duration::from_secs(10), client.request(request))
            .await
            .expect("the server answers within 10 s")
            .expect("the request reaches the server");
    let (parts, body) = response.into_parts();
    let raw = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Answer {
        status: parts.status,
        headers: parts.headers,
        raw,
        json,
    }
}

/// A request to `{origin}{path}` with an optional bearer token and JSON body.
pub fn http_request(
    origin: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Request<Full<Bytes>> {
    let mut request = request(method, path, token, body);
    *request.uri_mut() = format!("{origin}{path}").parse().unwrap();
    request
}

/// A store whose every call fails as unavailable (a database that is down).
#[derive(Debug)]
pub struct DownStore;

#[async_trait::async_trait]
impl tower_dcr::store::ClientStore for DownStore {
    async fn create(
        &self,
        _: std::sync::Arc<tower_dcr::store::ClientRecord>,
    ) -> Result<(), tower_dcr::store::StoreError> {
        Err(tower_dcr::store::StoreError::unavailable(
            "connection refused",
        ))
    }
    async fn get(
        &self,
        _: &str,
    ) -> Result<Option<std::sync::Arc<tower_dcr::store::ClientRecord>>, tower_dcr::store::StoreError>
    {
        Err(tower_dcr::store::StoreError::unavailable(
            "connection refused",
        ))
    }
    async fn update(
        &self,
        _: std::sync::Arc<tower_dcr::store::ClientRecord>,
        _: u64,
    ) -> Result<(), tower_dcr::store::StoreError> {
        Err(tower_dcr::store::StoreError::unavailable(
            "connection refused",
        ))
    }
    async fn delete(&self, _: &str, _: Option<u64>) -> Result<bool, tower_dcr::store::StoreError> {
        Err(tower_dcr::store::StoreError::unavailable(
            "connection refused",
        ))
    }
}
