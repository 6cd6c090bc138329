//! The service mounted the three ways DESIGN §4 promises (axum `nest_service`,
//! axum `Router::layer`, plain hyper 1 with a tower layer), each exercised over
//! real HTTP/1.1 on 127.0.0.1; and the body limit under tower-http's
//! `RequestBodyLimitLayer`.

mod common;

use std::convert::Infallible;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use common::*;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use tower_dcr::{Limits, Registration};
use tower_http::limit::RequestBodyLimitLayer;

/// A registration service whose issuer is the test server's own origin, so that
/// `registration_client_uri` can be used as it is.
fn dcr_for(listener: &tokio::net::TcpListener) -> Registration {
    let origin = format!("http://{}", listener.local_addr().unwrap());
    Registration::builder(origin).open().build().unwrap()
}

/// Registers, reads through `registration_client_uri`, deletes, and checks the
/// client is gone, all over HTTP.
async fn register_read_delete(server: &TestServer) {
    let origin = server.origin();
    let body = json!({
        "redirect_uris": ["https://client.example.org/cb"],
        "client_name": "Mounted",
    });
    let created = http_send(http_request(
        &origin,
        Method::POST,
        "/register",
        None,
        Some(&body),
    ))
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.raw);
    assert_eq!(created.header("content-type"), Some("application/json"));
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let client_id = created.str("client_id").to_owned();
    let uri = created.str("registration_client_uri").to_owned();
    assert_eq!(uri, format!("{origin}/register/{client_id}"));
    let path = uri.strip_prefix(&origin).unwrap().to_owned();
    let token = rat(&created);

    let read = http_send(http_request(
        &origin,
        Method::GET,
        &path,
        Some(&token),
        None,
    ))
    .await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.raw);
    assert_eq!(read.str("client_id"), client_id);
    assert_eq!(read.str("client_name"), "Mounted");
    assert_eq!(read.str("registration_client_uri"), uri);

    let deleted = http_send(http_request(
        &origin,
        Method::DELETE,
        &path,
        Some(&token),
        None,
    ))
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.raw.is_empty());

    let gone = http_send(http_request(
        &origin,
        Method::GET,
        &path,
        Some(&token),
        None,
    ))
    .await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        gone.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(gone.json["error"], json!("invalid_token"));
}

/// DESIGN §4 and §8 ("axum's nest_service strips the prefix, so build URLs from
/// config"): `Router::nest_service("/register", dcr)` serves registration,
/// read and delete, with URLs built from the configured issuer.
#[tokio::test]
async fn axum_nest_service_serves_registration_read_and_delete() {
    let listener = loopback_listener().await;
    let dcr = dcr_for(&listener);
    let app = Router::new()
        .route("/hello", get(|| async { "hello from the host" }))
        .nest_service("/register", dcr);
    let server = serve_axum(listener, app);
    register_read_delete(&server).await;

    // DESIGN §5: URLs come from configuration, not from Host or X-Forwarded-*.
    let mut hostile = http_request(
        &server.origin(),
        Method::POST,
        "/register",
        None,
        Some(&web_client()),
    );
    for (name, value) in [
        ("host", "evil.example"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
    ] {
        hostile.headers_mut().insert(name, value.parse().unwrap());
    }
    let created = http_send(hostile).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(
        created.str("registration_client_uri"),
        format!("{}/register/{}", server.origin(), created.str("client_id"))
    );

    let hello = http_send(http_request(
        &server.origin(),
        Method::GET,
        "/hello",
        None,
        None,
    ))
    .await;
    assert_eq!(hello.status, StatusCode::OK);
    assert_eq!(&hello.raw[..], b"hello from the host");
}

/// DESIGN §4 (`dcr.layer()` in any tower stack): under axum's `Router::layer`
/// the registration endpoints are served and the host's own `/hello` route
/// still answers through the layer.
#[tokio::test]
async fn axum_router_layer_serves_registration_and_passes_other_routes() {
    let listener = loopback_listener().await;
    let dcr = dcr_for(&listener);
    let app = Router::new()
        .route("/hello", get(|| async { "hello from the host" }))
        .layer(dcr.layer());
    let server = serve_axum(listener, app);
    register_read_delete(&server).await;

    let origin = server.origin();
    let hello = http_send(http_request(&origin, Method::GET, "/hello", None, None)).await;
    assert_eq!(hello.status, StatusCode::OK);
    assert_eq!(&hello.raw[..], b"hello from the host");
    // Paths that only resemble the endpoint are the host's (here: 404).
    for path in ["/registerx", "/register/a/b", "/other"] {
        let answer = http_send(http_request(&origin, Method::GET, path, None, None)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(answer.header("www-authenticate").is_none(), "{path}");
    }
}

/// The host service of the plain hyper test: answers every path it is given.
async fn host_service(
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from(format!(
        "host saw {} {}",
        request.method(),
        request.uri().path()
    )))))
}

/// DESIGN §4 (`ServiceBuilder::new().layer(dcr.layer()).service(host_service)`):
/// with plain hyper 1 (`http1` + `TokioIo` + `TowerToHyperService`) the layer
/// serves the registration endpoints and the host service answers the rest.
#[tokio::test]
async fn plain_hyper_with_the_layer_serves_registration_and_passes_other_paths() {
    let listener = loopback_listener().await;
    let dcr = dcr_for(&listener);
    let service = tower::ServiceBuilder::new()
        .layer(dcr.layer())
        .service(tower::service_fn(host_service));
    let server = serve_hyper(listener, service);
    register_read_delete(&server).await;

    let origin = server.origin();
    for (method, path) in [
        (Method::GET, "/hello"),
        (Method::POST, "/token"),
        (Method::GET, "/registerx"),
        (Method::GET, "/register/a/b"),
    ] {
        let answer = http_send(http_request(&origin, method.clone(), path, None, None)).await;
        assert_eq!(answer.status, StatusCode::OK, "{method} {path}");
        assert_eq!(
            String::from_utf8_lossy(&answer.raw),
            format!("host saw {method} {path}")
        );
    }
}

/// A registration body of about `size` bytes.
fn body_of_size(size: usize) -> Vec<u8> {
    let body = json!({
        "redirect_uris": ["https://client.example.org/cb"],
        "client_name": "x".repeat(size.saturating_sub(80)),
    });
    serde_json::to_vec(&body).unwrap()
}

fn chunked_post(origin: &str, bytes: &[u8]) -> Request<Chunked> {
    Request::builder()
        .method(Method::POST)
        .uri(format!("{origin}/register"))
        .header("content-type", "application/json")
        .body(Chunked::new(bytes, 512))
        .unwrap()
}

/// DESIGN §2 and §8 ("under axum + tower-http's limit layer the LengthLimitError
/// arrives wrapped, so walk source() to answer 413"): a chunked body over
/// `RequestBodyLimitLayer`'s limit but under the crate's gets `413` with the
/// service's JSON error body, not a `400`.
#[tokio::test]
async fn body_over_tower_http_limit_is_413_with_a_json_error() {
    let listener = loopback_listener().await;
    let dcr = dcr_for(&listener);
    let app = Router::new()
        .nest_service("/register", dcr)
        .layer(RequestBodyLimitLayer::new(1024));
    let server = serve_axum(listener, app);
    let origin = server.origin();

    // Control: a small chunked body passes both limits.
    let small = body_of_size(600);
    assert!(small.len() < 1024);
    let answer = http_send(chunked_post(&origin, &small)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.raw);

    let large = body_of_size(4096);
    assert!(large.len() > 1024 && large.len() < Limits::default().max_body_bytes);
    let answer = http_send(chunked_post(&origin, &large)).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        String::from_utf8_lossy(&answer.raw)
    );
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert!(answer.json["error"].is_string(), "{:?}", answer.raw);
    assert!(answer.json["error_description"].is_string());

    // With Content-Length, tower-http refuses before our service runs: 413 too.
    let answer = http_send(http_request(
        &origin,
        Method::POST,
        "/register",
        None,
        Some(&serde_json::from_slice::<Value>(&large).unwrap()),
    ))
    .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// DESIGN §2 (Limited collect, 413 over the limit): the crate's own limit holds
/// for a chunked body (no `Content-Length` to check first) and for a declared
/// `Content-Length`, with the JSON error body.
#[tokio::test]
async fn body_over_the_crate_limit_is_413_with_a_json_error() {
    let listener = loopback_listener().await;
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let dcr = Registration::builder(origin.clone())
        .open()
        .limits(Limits {
            max_body_bytes: 1024,
            ..Limits::default()
        })
        .build()
        .unwrap();
    let server = serve_axum(listener, Router::new().nest_service("/register", dcr));
    let large = body_of_size(4096);

    let chunked = http_send(chunked_post(&server.origin(), &large)).await;
    let declared = http_send(http_request(
        &origin,
        Method::POST,
        "/register",
        None,
        Some(&serde_json::from_slice::<Value>(&large).unwrap()),
    ))
    .await;
    for answer in [chunked, declared] {
        assert_eq!(
            answer.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{:?}",
            answer.raw
        );
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(answer.json["error"], json!("invalid_client_metadata"));
    }
}

/// Sends one registration over a connection from `local` (any 127.0.0.0/8
/// address is this machine) and returns the status code.
async fn register_from(local: std::net::IpAddr, server: std::net::SocketAddr) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::new(local, 0))
        .expect("bind a loopback address");
    let mut stream = socket.connect(server).await.unwrap();
    let body = r#"{"redirect_uris":["https://client.example.org/cb"]}"#;
    let request = format!(
        "POST /register HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

/// Behind axum served with `into_make_service_with_connect_info`, the rate
/// limit counts per client address (axum's `ConnectInfo<SocketAddr>` is read
/// by default): one client over its limit does not limit another.
#[tokio::test]
async fn rate_limit_counts_per_address_from_axum_connect_info() {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::time::Duration;
    use tower_dcr::rate_limit::RateLimit;

    let listener = loopback_listener().await;
    let addr = listener.local_addr().unwrap();
    let dcr = Registration::builder(format!("http://{addr}"))
        .open()
        .rate_limit(RateLimit::per_period(
            std::num::NonZeroU32::new(1).unwrap(),
            Duration::from_secs(3600),
        ))
        .build()
        .unwrap();
    let app = Router::new().nest_service("/register", dcr);
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });

    let first = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    let second = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    assert_eq!(register_from(first, addr).await, 201);
    assert_eq!(
        register_from(first, addr).await,
        429,
        "first client limited"
    );
    assert_eq!(
        register_from(second, addr).await,
        201,
        "another client address has a bucket of its own"
    );
    assert_eq!(register_from(second, addr).await, 429);
    server.abort();
}
