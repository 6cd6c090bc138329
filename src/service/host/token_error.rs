//! Error responses of the host's token endpoint (RFC 6749 §5.2).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::client_auth::{ClientAuthError, tried_basic};
use crate::error::ErrorCode;
use crate::response::ResponseBody;

/// The `WWW-Authenticate` challenge of an `invalid_client` answer to a client
/// that tried Basic authentication (RFC 7617: `realm` is required; `charset`
/// says credentials are read as UTF-8).
const BASIC_CHALLENGE: &str = "Basic realm=\"token endpoint\", charset=\"UTF-8\"";

/// An error of the host's token endpoint (RFC 6749 §5.2), ready to send as an
/// `http::Response`: a JSON body with `error` and `error_description`,
/// `Cache-Control: no-store` and `Pragma: no-cache`, and the status §5.2 asks
/// for:
///
/// | `error` | status |
/// |---|---|
/// | `invalid_client`, client tried `Authorization: Basic` | `401` with `WWW-Authenticate: Basic` |
/// | `invalid_client`, credentials in the form (or none) | `400` (a `401` needs a challenge the client did not use) |
/// | `temporarily_unavailable` (the client store failed) | `503` with `Retry-After` |
/// | `server_error` (the host failed, e.g. could not sign an ID token) | `500` |
/// | `invalid_request`, `invalid_grant`, `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`, `invalid_target`, any other | `400` |
///
/// axum returns an `http::Response` as is, so a handler can return
/// `Result<_, axum::response::Response>` and use `?` on a `TokenError`
/// (`From` is implemented for `http::Response<B>` with any body `B: From<Bytes>`);
/// [`TokenError::into_response`] gives one with this crate's [`ResponseBody`].
///
/// ```
/// use tower_dcr::host::TokenError;
///
/// let error = TokenError::unsupported_grant_type("only client_credentials is supported");
/// let response: http::Response<tower_dcr::ResponseBody> = error.into_response();
/// assert_eq!(response.status(), 400);
/// assert_eq!(response.headers()["cache-control"], "no-store");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenError {
    code: ErrorCode,
    description: Cow<'static, str>,
    status: StatusCode,
    basic_challenge: bool,
    /// How long the client should wait, for `Retry-After` (a `503` without
    /// one says 1 s).
    retry_after: Option<Duration>,
}

impl TokenError {
    /// An error with any code (an extension such as RFC 8628's
    /// `authorization_pending`, as [`ErrorCode::Other`] or its string),
    /// answered `400`. The code must be printable ASCII without `"` and `\`
    /// (RFC 6749 §5.2).
    pub fn new(code: impl Into<ErrorCode>, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code: code.into(),
            description: description.into(),
            status: StatusCode::BAD_REQUEST,
            basic_challenge: false,
            retry_after: None,
        }
    }

    /// The same error with `Retry-After` saying how long to wait (RFC 9110
    /// §10.2.3), in whole seconds rounded up, at least 1: for a temporary
    /// refusal whose end is known, such as a fetch bound's pause.
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// `invalid_request`: a missing, repeated or malformed parameter.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client`: client authentication failed. `tried_basic`: the
    /// client sent `Authorization: Basic`, so the answer is `401` with
    /// `WWW-Authenticate: Basic`; otherwise `400`.
    pub fn invalid_client(tried_basic: bool) -> Self {
        Self {
            status: if tried_basic {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            },
            basic_challenge: tried_basic,
            ..Self::new(ErrorCode::InvalidClient, "client authentication failed")
        }
    }

    /// `invalid_grant`: the grant (code, refresh token, …) is invalid, expired,
    /// revoked or was issued to another client.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `unauthorized_client`: this client may not use this grant type.
    pub fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, description)
    }

    /// `unsupported_grant_type`: the server does not support the grant type.
    pub fn unsupported_grant_type(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnsupportedGrantType, description)
    }

    /// `invalid_scope`: the scope is invalid, unknown, or beyond what the
    /// client may have.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    /// `invalid_target` (RFC 8707 §2): a requested `resource` is invalid,
    /// not served here, or outside the grant (see
    /// [`Resources`](super::Resources) and [`narrow_resources`](super::narrow_resources);
    /// a [`ResourceError`](super::ResourceError) converts into this).
    pub fn invalid_target(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidTarget, description)
    }

    /// `temporarily_unavailable`: `503` with `Retry-After`, for a backend (the
    /// client store) that cannot answer now.
    pub fn temporarily_unavailable(description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            ..Self::new(ErrorCode::TemporarilyUnavailable, description)
        }
    }

    /// `server_error`: `500`, for a failure of the host itself (a key that
    /// cannot sign, a random number generator that fails), never for a bad
    /// request. RFC 6749 §5.2 has no code for this; `server_error` is the one
    /// §4.1.2.1 defines for the authorization endpoint, and what token
    /// endpoints commonly send with a `500`.
    pub fn server_error(description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            ..Self::new(ErrorCode::ServerError, description)
        }
    }

    /// The answer to a failed client authentication: `invalid_request` for
    /// malformed or repeated credentials, `invalid_client` (`401` with
    /// `WWW-Authenticate: Basic` when `headers` hold Basic credentials, else
    /// `400`), `temporarily_unavailable` when the store failed.
    /// [`Registration::authenticate_token_request`](crate::Registration::authenticate_token_request)
    /// does this for you.
    pub fn from_client_auth(error: &ClientAuthError, headers: &HeaderMap) -> Self {
        match error {
            ClientAuthError::InvalidRequest => Self::invalid_request(
                "malformed client credentials, or credentials sent in more than one way",
            ),
            ClientAuthError::InvalidClient => Self::invalid_client(tried_basic(headers)),
            ClientAuthError::Store(_) => {
                Self::temporarily_unavailable("the client registry is unavailable; retry later")
            }
            ClientAuthError::Throttled { retry_after } => Self::temporarily_unavailable(
                "the client's metadata document cannot be fetched now; retry later",
            )
            .retry_after(*retry_after),
        }
    }

    /// The `error` code.
    pub fn error_code(&self) -> ErrorCode {
        self.code
    }

    /// The `error_description`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response, with this crate's body type.
    pub fn into_response(self) -> http::Response<ResponseBody> {
        self.into()
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for TokenError {}

impl<B: From<Bytes>> From<TokenError> for http::Response<B> {
    fn from(error: TokenError) -> Self {
        let body = serde_json::json!({
            "error": error.code.as_str(),
            "error_description": error.description,
        });
        let mut response = http::Response::new(B::from(Bytes::from(body.to_string())));
        *response.status_mut() = error.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if error.basic_challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(BASIC_CHALLENGE),
            );
        }
        if let Some(wait) = error.retry_after {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        } else if error.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after(error: TokenError) -> String {
        let response: http::Response<ResponseBody> = error.into();
        response.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// RFC 9110 §10.2.3: `Retry-After` in whole seconds. A store failure says
    /// 1 s; a fetch bound's pause says its own wait, rounded up.
    #[test]
    fn rfc9110_10_2_3_retry_after_says_the_known_wait() {
        assert_eq!(retry_after(TokenError::temporarily_unavailable("x")), "1");
        let throttled = ClientAuthError::Throttled {
            retry_after: Duration::from_millis(29_001),
        };
        assert_eq!(
            retry_after(TokenError::from_client_auth(&throttled, &HeaderMap::new())),
            "30"
        );
        assert_eq!(
            retry_after(TokenError::temporarily_unavailable("x").retry_after(Duration::ZERO)),
            "1"
        );
    }
}
