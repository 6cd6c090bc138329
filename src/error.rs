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

/// An error code from RFC 7591 §3.2.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_redirect_uri`: the value of one or more redirection URIs is invalid.
    InvalidRedirectUri,
    /// `invalid_client_metadata`: the value of a client metadata field is invalid.
    InvalidClientMetadata,
    /// `invalid_software_statement`: the software statement presented is invalid.
    InvalidSoftwareStatement,
    /// `unapproved_software_statement`: the software statement is not approved here.
    UnapprovedSoftwareStatement,
}

impl ErrorCode {
    /// The code as it appears in the `error` member.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidSoftwareStatement => "invalid_software_statement",
            Self::UnapprovedSoftwareStatement => "unapproved_software_statement",
        }
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

impl Rejection {
    /// The HTTP status this rejection is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Registration(_) | Self::MalformedAuthorization | Self::BodyUnreadable => {
                StatusCode::BAD_REQUEST
            }
            Self::MissingToken | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType | Self::UnsupportedContentCoding => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::StoreCorrupt => StatusCode::INTERNAL_SERVER_ERROR,
            Self::QuotaExceeded(_) | Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The `error` code this rejection answers with.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::Registration(e) => e.code().as_str(),
            Self::MissingToken | Self::InvalidToken => "invalid_token",
            Self::MalformedAuthorization
            | Self::NotFound
            | Self::MethodNotAllowed(_)
            | Self::BodyUnreadable => "invalid_request",
            Self::UnsupportedMediaType | Self::UnsupportedContentCoding | Self::PayloadTooLarge => {
                "invalid_client_metadata"
            }
            Self::StoreCorrupt => "server_error",
            Self::StoreUnavailable | Self::QuotaExceeded(_) | Self::RateLimited(_) => {
                "temporarily_unavailable"
            }
        }
    }

    /// The `error_description` of the JSON body.
    fn description(&self) -> &str {
        match self {
            Self::Registration(e) => e.description(),
            Self::MissingToken => "a bearer token is required",
            Self::InvalidToken => "the access token is invalid",
            Self::MalformedAuthorization => {
                "the Authorization header is not a valid Bearer credential"
            }
            Self::NotFound => "no registration endpoint at this path",
            Self::MethodNotAllowed(_) => "method not allowed at this path",
            Self::UnsupportedMediaType => "Content-Type must be application/json",
            Self::UnsupportedContentCoding => {
                "the request body must not be content-coded (send it as identity)"
            }
            Self::PayloadTooLarge => "the request body exceeds the size limit",
            Self::BodyUnreadable => "the request body could not be read",
            Self::StoreUnavailable => "the client registry is temporarily unavailable; retry later",
            Self::StoreCorrupt => "the client registry could not read a stored registration",
            Self::QuotaExceeded(description) => description,
            Self::RateLimited(_) => "too many registrations from this client; retry later",
        }
    }

    /// Builds the HTTP response: JSON error body (none for a request without
    /// credentials, RFC 6750 §3.1), `Cache-Control: no-store`, and the headers
    /// each case requires.
    pub fn into_response(self) -> http::Response<ResponseBody> {
        if let Self::MissingToken = self {
            let mut response = response::empty(self.status());
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
        let mut response = response::json(
            self.status(),
            response::error_json(self.error_code(), self.description()).into_bytes(),
        );
        let headers = response.headers_mut();
        match self {
            Self::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            Self::MalformedAuthorization => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_request""#),
                );
            }
            Self::MethodNotAllowed(allow) => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Self::StoreUnavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::UnsupportedContentCoding => {
                headers.insert(
                    header::ACCEPT_ENCODING,
                    HeaderValue::from_static("identity"),
                );
            }
            Self::QuotaExceeded(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("3600"));
            }
            Self::RateLimited(seconds) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            }
            _ => {}
        }
        response
    }
}
