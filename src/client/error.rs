//! What can go wrong on the client side.

use std::time::Duration;

use http::StatusCode;

/// An error of the registration client. No variant ever carries a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server refused the request with an OAuth error body
    /// (RFC 7591 §3.2.2, RFC 6750 §3.1), e.g. `400 invalid_redirect_uri` or
    /// `401 invalid_token`.
    #[error("the server refused the request (HTTP {status}): {error}{}", description_suffix(.error_description))]
    OAuth {
        /// The HTTP status of the response.
        status: StatusCode,
        /// The `error` code, e.g. `invalid_client_metadata`.
        error: String,
        /// The `error_description`, when the server sent one.
        error_description: Option<String>,
    },
    /// The server answered with an error status and no OAuth error body (a
    /// `500`, a proxy's HTML page, a redirect, which is never followed).
    #[error("the server answered HTTP {status} without an OAuth error")]
    Status {
        /// The HTTP status of the response.
        status: StatusCode,
    },
    /// No usable registration endpoint was discovered for the issuer
    /// (RFC 8414, OpenID Connect Discovery 1.0).
    #[error("discovery failed for issuer {issuer}: {reason}")]
    Discovery {
        /// The issuer as requested.
        issuer: String,
        /// What was wrong.
        reason: String,
    },
    /// The request did not get an answer: connection refused, DNS failure, TLS
    /// failure, connection reset.
    #[error("the request to {url} failed")]
    Network {
        /// The URL requested.
        url: String,
        /// The underlying error (opaque, so that the HTTP client is not part of
        /// this API).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server did not answer within the
    /// [`connection_timeout`](super::HttpOptions::connection_timeout).
    #[error("no answer from {url} within {timeout:?}")]
    Timeout {
        /// The URL requested.
        url: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The server's answer breaks the specification: not JSON, no `client_id`,
    /// a `client_secret` without `client_secret_expires_at`, an unexpected
    /// success status, a body over 1 MiB.
    #[error("invalid response from the server: {0}")]
    InvalidResponse(String),
    /// A plain-http URL to a host other than loopback, refused without
    /// [`dangerously_allow_insecure_http_requests`](super::HttpOptions::dangerously_allow_insecure_http_requests).
    #[error(
        "refusing plain http to {0} (https is required except on loopback hosts; see dangerously_allow_insecure_http_requests)"
    )]
    InsecureUrl(String),
    /// The registration cannot be managed: the server returned no
    /// `registration_client_uri` or no `registration_access_token`
    /// (it does not support RFC 7592 for this client).
    #[error("the registration has no registration_client_uri and registration access token")]
    ManagementUnavailable,
    /// The configuration cannot be used: an invalid URL, a zero timeout.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

impl ClientError {
    /// The OAuth `error` code, when the server sent one.
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            Self::OAuth { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The HTTP status of the server's answer, for [`OAuth`](Self::OAuth) and
    /// [`Status`](Self::Status) errors.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::OAuth { status, .. } | Self::Status { status } => Some(*status),
            _ => None,
        }
    }
}

fn description_suffix(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default()
}
