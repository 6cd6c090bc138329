//! Building the JSON responses of the registration endpoints.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;

/// The body of every response the registration service produces: one buffer.
///
/// Its `Debug` shows only the length: a body can hold a client secret or a
/// registration access token, and a `{:?}` of a response must not print them.
pub struct ResponseBody(Full<Bytes>);

impl ResponseBody {
    fn new(bytes: Bytes) -> Self {
        Self(Full::new(bytes))
    }
}

impl From<Bytes> for ResponseBody {
    fn from(bytes: Bytes) -> Self {
        Self::new(bytes)
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResponseBody({} bytes)", self.0.size_hint().lower())
    }
}

/// A JSON response that must not be cached (RFC 7591 §3.2.1, RFC 6749 §5.1):
/// `Content-Type: application/json`, `Cache-Control: no-store`, `Pragma: no-cache`.
pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> http::Response<ResponseBody> {
    // Room for three more without growing the map (a rehash and two
    // reallocations): a host's CORS layer adds `Vary`,
    // `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers`.
    let mut headers = HeaderMap::with_capacity(6);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    let mut response = http::Response::new(ResponseBody::new(Bytes::from(body)));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// An empty `204 No Content` (RFC 7592 §2.3).
pub(crate) fn no_content() -> http::Response<ResponseBody> {
    empty(StatusCode::NO_CONTENT)
}

/// A response without a body, `Cache-Control: no-store`.
pub(crate) fn empty(status: StatusCode) -> http::Response<ResponseBody> {
    let mut response = http::Response::new(ResponseBody::new(Bytes::new()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `{"error": …, "error_description": …}` with proper JSON escaping.
pub(crate) fn error_json(error: &str, description: &str) -> String {
    serde_json::json!({ "error": error, "error_description": description }).to_string()
}
