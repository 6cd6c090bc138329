//! Building the JSON responses of the registration endpoints.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::Full;

/// The body type of every response the registration service produces.
pub type ResponseBody = Full<Bytes>;

/// A JSON response that must not be cached (RFC 7591 §3.2.1, RFC 6749 §5.1):
/// `Content-Type: application/json`, `Cache-Control: no-store`, `Pragma: no-cache`.
pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> http::Response<ResponseBody> {
    let mut headers = HeaderMap::with_capacity(3);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// An empty `204 No Content` (RFC 7592 §2.3).
pub(crate) fn no_content() -> http::Response<ResponseBody> {
    let mut response = http::Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `{"error": …, "error_description": …}` with proper JSON escaping.
pub(crate) fn error_json(error: &str, description: &str) -> String {
    serde_json::json!({ "error": error, "error_description": description }).to_string()
}
