//! Arbitrary HTTP requests to the registration service: method, path, headers
//! (`Authorization`, `Content-Type`, `Content-Length`, anything else) and a
//! body that may arrive in chunks, fail half-way, or lie about its length.
//!
//! Each iteration builds a fresh service (open or protected, small or default
//! limits, with or without extension members) with a memory store, registers
//! one client, then sends up to eight arbitrary requests in which the fuzzer
//! can use that client's real identifier and registration access token.
//! Checks: never a panic, never a 5xx (503 needs a failing store), every
//! response keeps the invariants of `check_response`, and the client
//! information of a 200 or 201 never leaks another request's token.
#![no_main]

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tower_dcr::{Limits, Registration};
use tower_dcr_fuzz::{check_response, client_path, request, send};

const IAT: &str = "fuzz-initial-access-token";

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Config {
    Open,
    Protected,
    SmallLimits,
    Extensions,
    CustomEndpoint,
}

impl Config {
    fn build(self) -> Registration {
        let builder = Registration::builder(tower_dcr_fuzz::ISSUER);
        let builder = match self {
            Self::Open => builder.open(),
            Self::Protected => builder.access(tower_dcr::Access::protected([IAT])),
            Self::SmallLimits => builder.open().limits(Limits {
                max_body_bytes: 512,
                max_string_length: 64,
                max_array_items: 3,
                max_language_variants: 2,
            }),
            Self::Extensions => builder.open().extension_members(["x_ext", "software_x"]),
            Self::CustomEndpoint => builder.open().endpoint("/oauth/clients"),
        };
        builder.build().expect("valid configuration")
    }

    fn token(self) -> Option<&'static str> {
        matches!(self, Self::Protected).then_some(IAT)
    }

    fn endpoint(self) -> &'static str {
        match self {
            Self::CustomEndpoint => "/oauth/clients",
            _ => "/register",
        }
    }
}

#[derive(Arbitrary, Debug)]
enum MethodChoice {
    Get,
    Post,
    Put,
    Delete,
    Patch,
    Head,
    Options,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum PathChoice {
    Endpoint,
    EndpointSlash,
    Client,
    /// The client's path with the identifier percent-encoded differently.
    ClientEncoded,
    ClientWith(String),
    Segment(String),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Auth {
    None,
    Rat,
    InitialAccessToken,
    Bearer(String),
    Scheme(String, String),
    Raw(Vec<u8>),
    Twice,
}

#[derive(Arbitrary, Debug)]
enum ContentType {
    Json,
    JsonCharset,
    Other(String),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum ContentLength {
    Exact,
    Value(u64),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Leaf {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Strs(Vec<String>),
    Rat,
    ClientId,
}

/// Members worth setting in a structured body.
const MEMBERS: [&str; 16] = [
    "client_id",
    "client_secret",
    "redirect_uris",
    "client_name",
    "client_name#fr",
    "grant_types",
    "response_types",
    "token_endpoint_auth_method",
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "application_type",
    "scope",
    "x_ext",
    "software_id",
    "jwks",
];

#[derive(Arbitrary, Debug)]
enum BodyChoice {
    Empty,
    Raw(Vec<u8>),
    /// The registered client's metadata, with members changed.
    Client(Vec<(u8, Leaf)>),
}

#[derive(Arbitrary, Debug)]
struct Step {
    method: MethodChoice,
    path: PathChoice,
    auth: Auth,
    content_type: Option<ContentType>,
    content_length: Option<ContentLength>,
    headers: Vec<(String, Vec<u8>)>,
    body: BodyChoice,
    /// Split the body into chunks of this size (0: one chunk).
    chunk: u8,
    /// End the body with an error after the data.
    fail: bool,
    /// Report an exact size hint that is wrong.
    lie: Option<u16>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    config: Config,
    steps: Vec<Step>,
}

/// A body in chunks that may fail at the end or report a wrong size.
struct FuzzBody {
    chunks: VecDeque<Bytes>,
    fail: bool,
    hint: Option<u64>,
}

#[derive(Debug)]
struct BodyFailed;

impl std::fmt::Display for BodyFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the connection was reset")
    }
}

impl std::error::Error for BodyFailed {}

impl Body for FuzzBody {
    type Data = Bytes;
    type Error = BodyFailed;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyFailed>>> {
        if let Some(chunk) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if self.fail {
            self.fail = false;
            return Poll::Ready(Some(Err(BodyFailed)));
        }
        Poll::Ready(None)
    }

    fn size_hint(&self) -> SizeHint {
        match self.hint {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// What one iteration knows about its registered client.
struct Client {
    id: String,
    path: String,
    token: String,
    metadata: serde_json::Map<String, Value>,
}

fn leaf(leaf: Leaf, client: &Client) -> Value {
    match leaf {
        Leaf::Null => Value::Null,
        Leaf::Bool(b) => b.into(),
        Leaf::Int(i) => i.into(),
        Leaf::Str(s) => s.into(),
        Leaf::Strs(s) => s.into(),
        Leaf::Rat => client.token.clone().into(),
        Leaf::ClientId => client.id.clone().into(),
    }
}

fn build_request(step: Step, config: Config, client: &Client) -> Option<Request<FuzzBody>> {
    let method = match step.method {
        MethodChoice::Get => Method::GET,
        MethodChoice::Post => Method::POST,
        MethodChoice::Put => Method::PUT,
        MethodChoice::Delete => Method::DELETE,
        MethodChoice::Patch => Method::PATCH,
        MethodChoice::Head => Method::HEAD,
        MethodChoice::Options => Method::OPTIONS,
        MethodChoice::Other(m) => Method::from_bytes(m.as_bytes()).ok()?,
    };
    let endpoint = config.endpoint();
    let path = match step.path {
        PathChoice::Endpoint => endpoint.to_owned(),
        PathChoice::EndpointSlash => format!("{endpoint}/"),
        PathChoice::Client => client.path.clone(),
        PathChoice::ClientEncoded => {
            let encoded: String = client.id.bytes().map(|b| format!("%{b:02X}")).collect();
            format!("{endpoint}/{encoded}")
        }
        PathChoice::ClientWith(s) => format!("{}{s}", client.path),
        PathChoice::Segment(s) => format!("{endpoint}/{s}"),
        PathChoice::Raw(s) => s,
    };
    let mut builder = Request::builder().method(method).uri(path);
    match step.auth {
        Auth::None => {}
        Auth::Rat => {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {}", client.token));
        }
        Auth::InitialAccessToken => {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {IAT}"));
        }
        Auth::Bearer(t) => builder = builder.header(header::AUTHORIZATION, format!("Bearer {t}")),
        Auth::Scheme(scheme, t) => {
            builder = builder.header(header::AUTHORIZATION, format!("{scheme} {t}"));
        }
        Auth::Raw(bytes) => {
            builder = builder.header(header::AUTHORIZATION, HeaderValue::from_bytes(&bytes).ok()?);
        }
        Auth::Twice => {
            builder = builder
                .header(header::AUTHORIZATION, format!("Bearer {}", client.token))
                .header(header::AUTHORIZATION, format!("Bearer {}", client.token));
        }
    }
    let bytes: Vec<u8> = match step.body {
        BodyChoice::Empty => Vec::new(),
        BodyChoice::Raw(bytes) => bytes,
        BodyChoice::Client(changes) => {
            let mut object = client.metadata.clone();
            object.insert("client_id".into(), client.id.clone().into());
            for (index, value) in changes {
                let member = MEMBERS[usize::from(index) % MEMBERS.len()];
                object.insert(member.into(), leaf(value, client));
            }
            serde_json::to_vec(&object).expect("serializes")
        }
    };
    match step.content_type {
        None => {}
        Some(ContentType::Json) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json")
        }
        Some(ContentType::JsonCharset) => {
            builder = builder.header(header::CONTENT_TYPE, "Application/JSON; charset=utf-8");
        }
        Some(ContentType::Other(s)) => builder = builder.header(header::CONTENT_TYPE, s),
        Some(ContentType::Raw(b)) => {
            builder = builder.header(header::CONTENT_TYPE, HeaderValue::from_bytes(&b).ok()?);
        }
    }
    match step.content_length {
        None => {}
        Some(ContentLength::Exact) => {
            builder = builder.header(header::CONTENT_LENGTH, bytes.len());
        }
        Some(ContentLength::Value(n)) => builder = builder.header(header::CONTENT_LENGTH, n),
        Some(ContentLength::Raw(s)) => builder = builder.header(header::CONTENT_LENGTH, s),
    }
    for (name, value) in step.headers.into_iter().take(8) {
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(&value).ok()?;
        builder = builder.header(name, value);
    }
    let chunks: VecDeque<Bytes> = if step.chunk == 0 || bytes.is_empty() {
        std::iter::once(Bytes::from(bytes)).collect()
    } else {
        bytes
            .chunks(usize::from(step.chunk))
            .map(Bytes::copy_from_slice)
            .collect()
    };
    let body = FuzzBody {
        chunks,
        fail: step.fail,
        hint: step.lie.map(u64::from),
    };
    builder.body(body).ok()
}

fn register(service: &Registration, config: Config) -> Client {
    let body = json!({
        "redirect_uris": ["https://client.example.org/cb", "http://127.0.0.1/cb"],
        "client_name": "Fuzz",
        "client_name#fr": "Flou",
        "scope": "openid",
        "contacts": ["ops@client.example.org"],
        "x_ext": "kept when configured",
    });
    let answer = send(
        service,
        request(
            Method::POST,
            config.endpoint(),
            config.token(),
            Some(serde_json::to_vec(&body).expect("serializes")),
        ),
    );
    assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
    let json = answer.json();
    Client {
        id: json["client_id"].as_str().expect("client_id").to_owned(),
        path: client_path(&json),
        token: json["registration_access_token"]
            .as_str()
            .expect("a RAT")
            .to_owned(),
        metadata: tower_dcr_fuzz::metadata_members(&json),
    }
}

/// One request of the text format: `METHOD PATH`, header lines, an empty
/// line, the body. `{CLIENT}`, `{ID}`, `{RAT}`, `{IAT}`, `{ENDPOINT}` and
/// `{LEN}` (the body's length) are replaced with this iteration's values.
fn text_request(text: &str, config: Config, client: &Client) -> Option<Request<FuzzBody>> {
    let text = text
        .replace("{CLIENT}", &client.path)
        .replace("{ID}", &client.id)
        .replace("{RAT}", &client.token)
        .replace("{IAT}", IAT)
        .replace("{ENDPOINT}", config.endpoint());
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let (method, path) = lines.next()?.split_once(' ')?;
    let mut builder = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).ok()?)
        .uri(path);
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim_start().replace("{LEN}", &body.len().to_string());
        builder = builder.header(
            HeaderName::from_bytes(name.as_bytes()).ok()?,
            HeaderValue::from_str(&value).ok()?,
        );
    }
    builder
        .body(FuzzBody {
            chunks: std::iter::once(Bytes::copy_from_slice(body.as_bytes())).collect(),
            fail: false,
            hint: None,
        })
        .ok()
}

enum Steps {
    Structured(Vec<Step>),
    Text(Vec<String>),
}

/// A first byte 0 selects structured input; anything else is text: an
/// optional first line `@open`, `@protected`, `@small`, `@extensions` or
/// `@custom`, then requests separated by lines holding `===`.
fn input(data: &[u8]) -> Option<(Config, Steps)> {
    match data.split_first() {
        Some((0, rest)) => {
            let input = Input::arbitrary_take_rest(Unstructured::new(rest)).ok()?;
            Some((input.config, Steps::Structured(input.steps)))
        }
        _ => {
            let text = String::from_utf8_lossy(data);
            let (config, text) = match text.split_once('\n') {
                Some((first, rest)) if first.starts_with('@') => {
                    let config = match first {
                        "@protected" => Config::Protected,
                        "@small" => Config::SmallLimits,
                        "@extensions" => Config::Extensions,
                        "@custom" => Config::CustomEndpoint,
                        _ => Config::Open,
                    };
                    (config, rest)
                }
                _ => (Config::Open, &*text),
            };
            let steps = text.split("\n===\n").map(str::to_owned).collect();
            Some((config, Steps::Text(steps)))
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((config, steps)) = input(data) else {
        return;
    };
    let service = config.build();
    let mut client = register(&service, config);
    let steps: Vec<Result<Step, String>> = match steps {
        Steps::Structured(steps) => steps.into_iter().map(Ok).collect(),
        Steps::Text(steps) => steps.into_iter().map(Err).collect(),
    };
    for step in steps.into_iter().take(8) {
        let request = match step {
            Ok(step) => build_request(step, config, &client),
            Err(text) => text_request(&text, config, &client),
        };
        let Some(request) = request else {
            continue;
        };
        let method = request.method().clone();
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let answer = send(&service, request);
        check_response(&answer);
        match (method, answer.status) {
            (Method::PUT, StatusCode::OK) => {
                // RFC 7592 §2.2 with the default rotation: a new token; the
                // client keeps being usable with it.
                let json = answer.json();
                assert_eq!(json["client_id"], Value::from(client.id.clone()));
                let token = json["registration_access_token"]
                    .as_str()
                    .expect("a RAT in the update response")
                    .to_owned();
                assert_ne!(Some(format!("Bearer {token}")), presented);
                client.token = token;
                client.metadata = tower_dcr_fuzz::metadata_members(&json);
            }
            (Method::GET, StatusCode::OK) => {
                let json = answer.json();
                assert_eq!(json["client_id"], Value::from(client.id.clone()));
                assert_eq!(
                    json["registration_access_token"],
                    Value::from(client.token.clone())
                );
            }
            (Method::POST, StatusCode::CREATED) => {
                let json = answer.json();
                assert_ne!(json["client_id"], Value::from(client.id.clone()));
            }
            (Method::DELETE, StatusCode::NO_CONTENT) => {
                // The token is dead with the client.
                let again = send(
                    &service,
                    tower_dcr_fuzz::request(Method::GET, &client.path, Some(&client.token), None),
                );
                assert_eq!(again.status, StatusCode::UNAUTHORIZED);
            }
            _ => {}
        }
    }
});
