//! Request parameters of the authorization and token endpoints
//! (`application/x-www-form-urlencoded`, RFC 6749 Appendix B).

use std::collections::HashMap;
use std::pin::Pin;

use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http::{HeaderValue, StatusCode, header};
use hyper::body::Body as _;
use url::form_urlencoded;

use crate::listener::body_deadline;

/// Parsed parameters. A parameter sent without a value counts as omitted
/// (RFC 6749 §3.1); one sent twice is remembered, as the request is then
/// invalid (RFC 6749 §3.1, §3.2).
#[derive(Debug, Default)]
pub struct Params {
    values: HashMap<String, String>,
    repeated: Vec<String>,
}

impl Params {
    /// Parses a query string or form body.
    pub fn parse(input: &[u8]) -> Self {
        let mut params = Self::default();
        for (name, value) in form_urlencoded::parse(input) {
            if value.is_empty() {
                continue;
            }
            if params.values.contains_key(name.as_ref()) {
                params.repeated.push(name.into_owned());
            } else {
                params.values.insert(name.into_owned(), value.into_owned());
            }
        }
        params
    }

    /// The value of `name`, if sent once.
    pub fn get(&self, name: &str) -> Option<&str> {
        if self.is_repeated(name) {
            return None;
        }
        self.values.get(name).map(String::as_str)
    }

    /// Whether `name` was sent more than once.
    pub fn is_repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|r| r == name)
    }

    /// The first parameter sent more than once, if any.
    pub fn first_repeated(&self) -> Option<&str> {
        self.repeated.first().map(String::as_str)
    }
}

/// The largest form body accepted (`/token`, `/introspect`, `/userinfo`,
/// the consent form): real requests are a few hundred bytes, a client
/// assertion a few kilobytes.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// A request body of at most [`MAX_FORM_BYTES`], received in full before
/// its deadline ([`crate::listener::body_deadline`]).
pub struct FormBody(pub Bytes);

/// Why a [`FormBody`] could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormBodyError {
    /// Longer than [`MAX_FORM_BYTES`]: `413`.
    TooLarge,
    /// Not received before its deadline: `408`.
    TooSlow,
    /// The connection failed: `400`.
    Broken,
}

impl FormBodyError {
    /// The HTTP status and a description for an `invalid_request` answer.
    pub fn status_and_description(self) -> (StatusCode, &'static str) {
        match self {
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is larger than 65536 bytes",
            ),
            Self::TooSlow => (
                StatusCode::REQUEST_TIMEOUT,
                "the request body was not received in time",
            ),
            Self::Broken => (
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            ),
        }
    }
}

/// An RFC 6749 §5.2 `invalid_request` answer, with the status that says
/// what was wrong with the body.
impl IntoResponse for FormBodyError {
    fn into_response(self) -> Response {
        let (status, description) = self.status_and_description();
        let mut response = (
            status,
            axum::Json(serde_json::json!({
                "error": "invalid_request",
                "error_description": description,
            })),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

impl<S: Send + Sync> FromRequest<S> for FormBody {
    type Rejection = FormBodyError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_FORM_BYTES as u64) {
            return Err(FormBodyError::TooLarge);
        }
        let mut body = request.into_body();
        let mut bytes = BytesMut::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame.map_err(|error| {
                if body_deadline::is_deadline(&error) {
                    FormBodyError::TooSlow
                } else {
                    FormBodyError::Broken
                }
            })?;
            if let Ok(data) = frame.into_data() {
                if bytes.len() + data.len() > MAX_FORM_BYTES {
                    return Err(FormBodyError::TooLarge);
                }
                bytes.extend_from_slice(&data);
            }
        }
        Ok(Self(bytes.freeze()))
    }
}
