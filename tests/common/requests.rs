//! Request building shared by the integration tests (`tests/common`), the
//! benches (`benches/common`) and the fuzz targets (`fuzz/src`), which include
//! this file with `#[path]`: it uses only `bytes`, `http` and `http-body-util`.
#![allow(dead_code)]

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::Full;

/// The issuer every test, bench and fuzz service is configured with.
pub const ISSUER: &str = "https://auth.example.com";

/// A request with an optional bearer token and an optional body declared as
/// `application/json`.
pub fn request(
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let bytes = match body {
        Some(body) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Bytes::from(body)
        }
        None => Bytes::new(),
    };
    builder.body(Full::new(bytes)).expect("a valid request")
}

/// The same request with a `Content-Length` header when it has a body, as an
/// HTTP/1.1 server hands it over.
pub fn with_content_length(mut request: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let len = http_body::Body::size_hint(request.body()).exact();
    if let Some(len) = len.filter(|&len| len > 0) {
        request
            .headers_mut()
            .insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
    }
    request
}
