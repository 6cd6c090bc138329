//! Errors and the HTTP responses they become.
//!
//! [`RegistrationError`] is the RFC 7591 §3.2.2 error: a code and a description,
//! answered with `400 Bad Request`. [`Rejection`] covers everything else a request
//! can fail on (authentication per RFC 6750, method, media type, size, store).

use std::borrow::Cow;
use std::fmt;

use http::{HeaderValue, StatusCode, header};

use crate::response::{self, ResponseBody};

/// The error type of backends that wrap a driver error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The `source()` chain of `error`, each cause after `": "`, for a log line
/// (the error itself is logged in its own field).
pub(crate) fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut chain = String::new();
    let mut source = error.source();
    while let Some(e) = source {
        chain.push_str(": ");
        chain.push_str(&e.to_string());
        source = e.source();
    }
    chain
}

/// An OAuth `error` code: the one type for every error this crate answers
/// with or reports (registration, bearer token and token endpoint errors,
/// events, metrics).
///
/// Known codes are variants; [`ErrorCode::Other`] carries an extension code
/// (say RFC 8628's `authorization_pending`). `From<&'static str>` maps a known
/// code to its variant, so `ErrorCode::from("invalid_client") ==
/// ErrorCode::InvalidClient`, and a code compares equal to its string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_redirect_uri` (RFC 7591 §3.2.2): the value of one or more
    /// redirection URIs is invalid.
    InvalidRedirectUri,
    /// `invalid_client_metadata` (RFC 7591 §3.2.2): the value of a client
    /// metadata field is invalid.
    InvalidClientMetadata,
    /// `invalid_software_statement` (RFC 7591 §3.2.2): the software statement
    /// presented is invalid.
    InvalidSoftwareStatement,
    /// `unapproved_software_statement` (RFC 7591 §3.2.2): the software
    /// statement is not approved here.
    UnapprovedSoftwareStatement,
    /// `invalid_request` (RFC 6749 §5.2, RFC 6750 §3.1): a malformed request.
    InvalidRequest,
    /// `invalid_token` (RFC 6750 §3.1): the access token is missing, unknown,
    /// expired or revoked.
    InvalidToken,
    /// `invalid_client` (RFC 6749 §5.2): client authentication failed.
    InvalidClient,
    /// `invalid_grant` (RFC 6749 §5.2).
    InvalidGrant,
    /// `unauthorized_client` (RFC 6749 §5.2).
    UnauthorizedClient,
    /// `unsupported_grant_type` (RFC 6749 §5.2).
    UnsupportedGrantType,
    /// `invalid_scope` (RFC 6749 §5.2).
    InvalidScope,
    /// `server_error` (RFC 6749 §4.1.2.1): the server failed.
    ServerError,
    /// `temporarily_unavailable` (RFC 6749 §4.1.2.1): retry later.
    TemporarilyUnavailable,
    /// `invalid_target` (RFC 8707 §2): a requested resource is invalid,
    /// unknown, or not one the client may have a token for.
    InvalidTarget,
    /// An extension code: printable ASCII without `"` and `\` (RFC 6749 §5.2).
    Other(&'static str),
}

impl ErrorCode {
    /// The known codes, each with its string.
    const KNOWN: [(Self, &'static str); 14] = [
        (Self::InvalidRedirectUri, "invalid_redirect_uri"),
        (Self::InvalidClientMetadata, "invalid_client_metadata"),
        (Self::InvalidSoftwareStatement, "invalid_software_statement"),
        (
            Self::UnapprovedSoftwareStatement,
            "unapproved_software_statement",
        ),
        (Self::InvalidRequest, "invalid_request"),
        (Self::InvalidToken, "invalid_token"),
        (Self::InvalidClient, "invalid_client"),
        (Self::InvalidGrant, "invalid_grant"),
        (Self::UnauthorizedClient, "unauthorized_client"),
        (Self::UnsupportedGrantType, "unsupported_grant_type"),
        (Self::InvalidScope, "invalid_scope"),
        (Self::ServerError, "server_error"),
        (Self::TemporarilyUnavailable, "temporarily_unavailable"),
        (Self::InvalidTarget, "invalid_target"),
    ];

    /// The code as it appears in the `error` member.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Other(code) => code,
            known => Self::KNOWN
                .iter()
                .find(|(code, _)| *code == known)
                .map_or("", |(_, name)| name),
        }
    }
}

impl From<&'static str> for ErrorCode {
    /// The variant of a known code, else [`ErrorCode::Other`].
    fn from(code: &'static str) -> Self {
        Self::KNOWN
            .iter()
            .find(|(_, name)| *name == code)
            .map_or(Self::Other(code), |(known, _)| *known)
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registration request the server refuses: RFC 7591 §3.2.2, `400 Bad Request`
/// with `{"error": code, "error_description": description}`.
///
/// Descriptions are meant for the client developer. They name the offending field
/// and never contain a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct RegistrationError {
    code: ErrorCode,
    description: Cow<'static, str>,
}

impl RegistrationError {
    /// An error with any RFC 7591 code.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// `invalid_redirect_uri`.
    pub fn invalid_redirect_uri(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRedirectUri, description)
    }

    /// `invalid_client_metadata`.
    pub fn invalid_client_metadata(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClientMetadata, description)
    }

    /// `invalid_software_statement`.
    pub fn invalid_software_statement(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidSoftwareStatement, description)
    }

    /// `unapproved_software_statement`.
    pub fn unapproved_software_statement(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnapprovedSoftwareStatement, description)
    }

    /// The RFC 7591 error code.
    pub fn error_code(&self) -> ErrorCode {
        self.code
    }

    /// The RFC 7591 error code.
    #[deprecated(note = "renamed `error_code`, as on the other error types")]
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The human-readable description.
    pub fn description(&self) -> &str {
        &self.description
    }
}

/// Why a request to the registration endpoints was refused, with the HTTP
/// response each case becomes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// RFC 7591 §3.2.2: `400` with the registration error.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// RFC 6750 §3.1: no bearer token was presented: `401` with a bare
    /// `WWW-Authenticate: Bearer` and an empty body ("SHOULD NOT include an
    /// error code or other error information").
    #[error("no bearer token was presented")]
    MissingToken,
    /// RFC 6750 §3.1: the token is unknown, expired, revoked, or belongs to another
    /// client: `401`, `WWW-Authenticate: Bearer error="invalid_token"`. Every cause
    /// gets the same response, so nobody learns which client identifiers exist.
    #[error("the access token is invalid")]
    InvalidToken,
    /// RFC 6750 §3.1: a malformed `Authorization` header: `400 invalid_request`.
    #[error("malformed Authorization header")]
    MalformedAuthorization,
    /// The path is not one of the registration endpoints: `404`.
    #[error("not found")]
    NotFound,
    /// The method is not served at this path: `405` with `Allow`.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// The request body is not `application/json`: `415`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The request body is in a content or transfer coding the service does
    /// not decode (anything but `identity` and `chunked`): `415` with
    /// `Accept-Encoding: identity` (RFC 9110 §8.4, §15.5.16).
    #[error("unsupported content coding")]
    UnsupportedContentCoding,
    /// The request body exceeds the configured limit: `413`.
    #[error("payload too large")]
    PayloadTooLarge,
    /// Reading the request body failed for another reason: `400`.
    #[error("the request body could not be read")]
    BodyUnreadable,
    /// The client store cannot answer right now: `503` with `Retry-After`.
    #[error("the client store is unavailable")]
    StoreUnavailable,
    /// A stored record is corrupt: `500 server_error`, without `Retry-After`
    /// (retrying would not help).
    #[error("a stored record is corrupt")]
    StoreCorrupt,
    /// A registration quota is full: `429` with `Retry-After`.
    #[error("{0}")]
    QuotaExceeded(&'static str),
    /// Too many registrations from this client: `429` with `Retry-After`
    /// (seconds).
    #[error("too many registrations; retry later")]
    RateLimited(u64),
}

/// What a rejection answers with, declared once per variant in
/// [`Rejection::facts`].
struct Facts<'a> {
    status: StatusCode,
    code: ErrorCode,
    /// `None`: no body at all (RFC 6750 §3.1, a request without credentials).
    description: Option<&'a str>,
    header: Option<(header::HeaderName, HeaderValue)>,
}

impl Rejection {
    /// Each variant's status, error code, description and extra header.
    fn facts(&self) -> Facts<'_> {
        use StatusCode as S;
        let facts = |status, code, description, header| Facts {
            status,
            code,
            description: Some(description),
            header,
        };
        let static_header = |name, value| Some((name, HeaderValue::from_static(value)));
        match self {
            Self::Registration(e) => facts(S::BAD_REQUEST, e.error_code(), e.description(), None),
            Self::MissingToken => Facts {
                status: S::UNAUTHORIZED,
                code: ErrorCode::InvalidToken,
                description: None,
                header: static_header(header::WWW_AUTHENTICATE, "Bearer"),
            },
            Self::InvalidToken => facts(
                S::UNAUTHORIZED,
                ErrorCode::InvalidToken,
                "the access token is invalid",
                static_header(header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#),
            ),
            Self::MalformedAuthorization => facts(
                S::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                "the Authorization header is not a valid Bearer credential",
                static_header(
                    header::WWW_AUTHENTICATE,
                    r#"Bearer error="invalid_request""#,
                ),
            ),
            Self::NotFound => facts(
                S::NOT_FOUND,
                ErrorCode::InvalidRequest,
                "no registration endpoint at this path",
                None,
            ),
            Self::MethodNotAllowed(allow) => facts(
                S::METHOD_NOT_ALLOWED,
                ErrorCode::InvalidRequest,
                "method not allowed at this path",
                static_header(header::ALLOW, allow),
            ),
            Self::UnsupportedMediaType => facts(
                S::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::InvalidClientMetadata,
                "Content-Type must be application/json",
                None,
            ),
            Self::UnsupportedContentCoding => facts(
                S::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::InvalidClientMetadata,
                "the request body must not be content-coded (send it as identity)",
                static_header(header::ACCEPT_ENCODING, "identity"),
            ),
            Self::PayloadTooLarge => facts(
                S::PAYLOAD_TOO_LARGE,
                ErrorCode::InvalidClientMetadata,
                "the request body exceeds the size limit",
                None,
            ),
            Self::BodyUnreadable => facts(
                S::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                "the request body could not be read",
                None,
            ),
            Self::StoreUnavailable => facts(
                S::SERVICE_UNAVAILABLE,
                ErrorCode::TemporarilyUnavailable,
                "the client registry is temporarily unavailable; retry later",
                static_header(header::RETRY_AFTER, "1"),
            ),
            Self::StoreCorrupt => facts(
                S::INTERNAL_SERVER_ERROR,
                ErrorCode::ServerError,
                "the client registry could not read a stored registration",
                None,
            ),
            Self::QuotaExceeded(description) => facts(
                S::TOO_MANY_REQUESTS,
                ErrorCode::TemporarilyUnavailable,
                description,
                static_header(header::RETRY_AFTER, "3600"),
            ),
            Self::RateLimited(seconds) => facts(
                S::TOO_MANY_REQUESTS,
                ErrorCode::TemporarilyUnavailable,
                "too many registrations from this client; retry later",
                Some((header::RETRY_AFTER, HeaderValue::from((*seconds).max(1)))),
            ),
        }
    }

    /// The HTTP status this rejection is answered with.
    pub fn status(&self) -> StatusCode {
        self.facts().status
    }

    /// The `error` code this rejection answers with (or, for a request without
    /// credentials, which gets no body, stands for).
    pub fn error_code(&self) -> ErrorCode {
        self.facts().code
    }

    /// Builds the HTTP response: JSON error body (none for a request without
    /// credentials, RFC 6750 §3.1), `Cache-Control: no-store`, and the header
    /// the case requires.
    pub fn into_response(self) -> http::Response<ResponseBody> {
        let Facts {
            status,
            code,
            description,
            header,
        } = self.facts();
        let mut response = match description {
            Some(description) => response::json(
                status,
                response::error_json(code.as_str(), description).into_bytes(),
            ),
            None => response::empty(status),
        };
        if let Some((name, value)) = header {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_from_its_string() {
        for (code, name) in ErrorCode::KNOWN {
            assert_eq!(code.as_str(), name);
            assert_eq!(ErrorCode::from(name), code);
            assert_eq!(code, name);
        }
        let pending = ErrorCode::from("authorization_pending");
        assert_eq!(pending, ErrorCode::Other("authorization_pending"));
        assert_eq!(pending.to_string(), "authorization_pending");
    }

    #[test]
    fn rejections_keep_their_status_code_and_header() {
        let response = Rejection::MissingToken.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(Rejection::MissingToken.error_code(), "invalid_token");
        let response = Rejection::RateLimited(0).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(Rejection::StoreCorrupt.error_code(), ErrorCode::ServerError);
    }
}
