//! How the service behaves beyond what the RFCs say (ARCHITECTURE.md, security rules): body and
//! field limits, method routing, URLs from the configured issuer, the store it
//! writes to, bounded error descriptions, and secrets kept out of `Debug` and
//! stored as digests.

mod common;

use bytes::Bytes;
use common::*;
use http::{Method, Request, header};
use http_body_util::Full;
use serde_json::{Value, json};
use tower_dcr::{Limits, MemoryStore};

/// The body limit: over it → 413 (checked on Content-Length before reading, and
/// while reading a body without one).
#[tokio::test]
async fn body_over_the_limit_is_413() {
    let dcr = builder()
        .limits(Limits {
            max_body_bytes: 1024,
            ..Limits::default()
        })
        .build()
        .unwrap();
    let big = format!(r#"{{"client_name":"{}"}}"#, "a".repeat(2000));
    let declared = Request::builder()
        .method(Method::POST)
        .uri("/register")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, big.len())
        .body(Full::new(Bytes::from(big.clone())))
        .unwrap();
    let a = send(&dcr, declared).await;
    assert_eq!(a.status, 413);
    assert_eq!(a.header("content-type"), Some("application/json"));
    // A streamed body without Content-Length is cut off while reading.
    let chunks = (0..10).map(|_| {
        Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(vec![b' '; 500])))
    });
    let streamed = Request::builder()
        .method(Method::POST)
        .uri("/register")
        .header(header::CONTENT_TYPE, "application/json")
        .body(http_body_util::StreamBody::new(futures_util::stream::iter(
            chunks,
        )))
        .unwrap();
    let response = tower::ServiceExt::oneshot(dcr.clone(), streamed)
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

/// Per-field limits: a string longer than the limit, or an array with more
/// values than the limit, is refused, so nobody can make the server store
/// megabytes; values at the limit pass.
#[tokio::test]
async fn limits_on_strings_and_arrays() {
    let limits = Limits {
        max_string_length: 100,
        max_array_items: 3,
        ..Limits::default()
    };
    let dcr = builder().limits(limits).build().unwrap();
    let mut at_limit = web_client();
    at_limit["client_name"] = json!("n".repeat(100));
    at_limit["contacts"] = json!(["a@b.example", "c@d.example", "e@f.example"]);
    registered(&dcr, at_limit).await;

    let mut long = web_client();
    long["client_name"] = json!("n".repeat(101));
    let a = register(&dcr, long).await;
    a.assert_error(400, "invalid_client_metadata");
    assert!(a.description().starts_with("client_name"));

    let mut many = web_client();
    many["contacts"] = json!(["a@b.example", "c@d.example", "e@f.example", "g@h.example"]);
    register(&dcr, many)
        .await
        .assert_error(400, "invalid_client_metadata");

    let uris: Vec<String> = (0..4).map(|i| format!("https://c.example/{i}")).collect();
    register(&dcr, json!({"redirect_uris": uris}))
        .await
        .assert_error(400, "invalid_redirect_uri");
}

/// Wrong method on the registration endpoint → 405 with Allow.
#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
        let a = send(&open(), request(method.clone(), "/register", None, None)).await;
        assert_eq!(a.status, 405, "{method}");
        assert_eq!(a.header("allow"), Some("POST"));
        assert!(!a.error().is_empty());
    }
}

/// URLs in responses come from the configured issuer, never from Host or
/// X-Forwarded-* headers.
#[tokio::test]
async fn urls_come_from_the_issuer_not_the_host_header() {
    let body = serde_json::to_vec(&web_client()).unwrap();
    let req = Request::builder()
        .method(Method::POST)
        .uri("http://evil.example/register")
        .header(header::HOST, "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "http")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let a = send(&open(), req).await;
    assert_eq!(a.status, 201);
    assert!(
        a.str("registration_client_uri")
            .starts_with("https://auth.example.com/register/")
    );
    assert!(!String::from_utf8_lossy(&a.raw).contains("evil"));
}

/// The memory store is the default and really stores the client.
#[tokio::test]
async fn registered_client_is_in_the_store() {
    let store = MemoryStore::new();
    let dcr = builder().store(store.clone()).build().unwrap();
    let a = registered(&dcr, web_client()).await;
    let record = dcr
        .client(a.str("client_id"))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(record.metadata.client_name.get(), Some("Example Client"));
    assert_eq!(store.len(), 1);
    let debug = format!("{record:?}");
    assert!(!debug.contains(a.str("client_secret")));
    assert!(!debug.contains(a.str("registration_access_token")));
}

/// Error descriptions are JSON-escaped and bounded even for hostile input.
#[tokio::test]
async fn error_descriptions_are_bounded_and_escaped() {
    let hostile = format!("\"}}<script>{}", "x".repeat(10_000));
    let a = register(
        &open(),
        json!({"redirect_uris": ["https://c.example/cb"], "token_endpoint_auth_method": hostile}),
    )
    .await;
    a.assert_error(400, "invalid_client_metadata");
    assert!(a.raw.len() < 500, "{} bytes", a.raw.len());
    let v: Value = serde_json::from_slice(&a.raw).unwrap();
    assert!(v.is_object());
}

/// No secret in a `Debug` print: neither of the response that carries it nor of
/// the stored record.
#[tokio::test]
async fn debug_of_response_and_record_has_no_secret() {
    let dcr = open();
    let response = tower::ServiceExt::oneshot(
        dcr.clone(),
        request(Method::POST, "/register", None, Some(&web_client())),
    )
    .await
    .unwrap();
    let debug = format!("{response:?}");
    let (_, body) = response.into_parts();
    let bytes = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .to_bytes();
    let json: Value = serde_json::from_slice(&bytes).unwrap();
    let secret = json["client_secret"].as_str().unwrap();
    let rat = json["registration_access_token"].as_str().unwrap();
    assert!(!debug.contains(secret) && !debug.contains(rat), "{debug}");
    let record = dcr
        .client(json["client_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let debug = format!("{record:?}");
    assert!(!debug.contains(secret) && !debug.contains(rat), "{debug}");
}

/// DESIGN §5 (RFC 7592 §3 makes the token a bearer credential): the store
/// keeps only the SHA-256 digest of the registration access token and of the
/// client secret, and the record's `Debug` shows neither.
#[tokio::test]
async fn registration_access_token_and_secret_are_stored_as_digests() {
    use sha2::Digest as _;
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let token = rat(&created);
    let secret = created.str("client_secret");
    let record = dcr.client(created.str("client_id")).await.unwrap().unwrap();
    let stored = record.registration_access_token.expect("a token digest");
    assert_eq!(
        stored.as_bytes().as_slice(),
        sha2::Sha256::digest(token.as_bytes()).as_slice()
    );
    match record.client_secret.as_ref().expect("a secret") {
        tower_dcr::store::StoredSecret::Digest(digest) => assert!(digest.verify(secret)),
        other => panic!("client_secret_basic secret kept as {other:?}"),
    }
    let debug = format!("{record:?}");
    assert!(!debug.contains(&token), "{debug}");
    assert!(!debug.contains(secret), "{debug}");
}
