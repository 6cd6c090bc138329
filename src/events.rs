//! Events: what happened to which client, for the host's audit log, metrics or
//! alerts. Events never carry a secret.

use std::fmt;
use std::net::SocketAddr;

use crate::error::ErrorCode;

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A client registered (RFC 7591).
    Registered,
    /// A client updated its registration (RFC 7592 §2.2).
    Updated,
    /// A client deleted its registration (RFC 7592 §2.3).
    Deleted,
    /// The lifecycle reaper deleted a stale client.
    Reaped,
    /// The lifecycle sweep found a client whose secret has expired.
    SecretExpired,
    /// A request was refused with this HTTP status and error code.
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The `error` code of the response.
        error: ErrorCode,
    },
    /// A registration was refused by the rate limit.
    RateLimited,
    /// A URL client's metadata document was fetched and accepted for the
    /// first time (or after it had left the cache).
    DocumentResolved,
    /// A URL client's cached document was fetched again and accepted.
    DocumentRefreshed,
    /// A URL client's document could not be fetched or was invalid; the reason
    /// is in the log.
    DocumentFetchFailed,
    /// A URL client's document differs from the one fetched before
    /// (draft-ietf-oauth-client-id-metadata-document §8.4): the host may want
    /// to ask for consent again.
    DocumentChanged,
    /// A client's keys (`jwks`, `jwks_uri` or the keys at it) changed (draft
    /// §8.4.1): the host may want to revoke its tokens.
    KeysChanged,
}

/// An operation of the registration endpoints (or of the reaper).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// A new registration (RFC 7591 §3.1).
    Register,
    /// Reading a registration (RFC 7592 §2.1).
    Read,
    /// An update through the client configuration endpoint (RFC 7592 §2.2).
    Update,
    /// Deleting a registration (RFC 7592 §2.3).
    Delete,
    /// The lifecycle reaper's sweep.
    Reap,
    /// A request that matched no operation (unknown path or method).
    Other,
    /// Resolving a URL client from its Client ID Metadata Document (a hook
    /// reviewing a fetched document sees this operation).
    ResolveDocument,
    /// Authenticating a client at the host's token endpoint.
    Authenticate,
}

impl Operation {
    /// The operation's name: `register`, `read`, `update`, `delete`, `reap`,
    /// `other`, `resolve` or `authenticate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Read => "read",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Reap => "reap",
            Self::Other => "other",
            Self::ResolveDocument => "resolve",
            Self::Authenticate => "authenticate",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Operation {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The operation.
    pub operation: Operation,
    /// The client concerned, when known.
    pub client_id: Option<String>,
    /// The client's `software_id`, when known.
    pub software_id: Option<String>,
    /// The policy profile, when known.
    pub profile: Option<String>,
    /// The peer address, when the host provides it.
    pub peer_addr: Option<SocketAddr>,
}

impl Event {
    pub(crate) fn new(kind: EventKind, operation: Operation) -> Self {
        Self {
            kind,
            operation,
            client_id: None,
            software_id: None,
            profile: None,
            peer_addr: None,
        }
    }
}

/// Receives events. Called inline on the request path: keep it quick (send to
/// a channel, bump a counter) and never block.
///
/// Any `Fn(&Event) + Send + Sync + 'static` is an event hook:
///
/// ```
/// use tower_dcr::Registration;
/// use tower_dcr::events::Event;
///
/// let dcr = Registration::builder("https://auth.example.com")
///     .open()
///     .events(|event: &Event| tracing::info!(?event.kind, client_id = ?event.client_id, "dcr event"))
///     .build()
///     .unwrap();
/// ```
pub trait EventHook: Send + Sync + 'static {
    /// Handles one event.
    fn on_event(&self, event: &Event);
}

impl<F> EventHook for F
where
    F: Fn(&Event) + Send + Sync + 'static,
{
    fn on_event(&self, event: &Event) {
        self(event)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Registered => f.write_str("registered"),
            Self::Updated => f.write_str("updated"),
            Self::Deleted => f.write_str("deleted"),
            Self::Reaped => f.write_str("reaped"),
            Self::SecretExpired => f.write_str("secret_expired"),
            Self::Rejected { status, error } => write!(f, "rejected ({status} {error})"),
            Self::RateLimited => f.write_str("rate_limited"),
            Self::DocumentResolved => f.write_str("document_resolved"),
            Self::DocumentRefreshed => f.write_str("document_refreshed"),
            Self::DocumentFetchFailed => f.write_str("document_fetch_failed"),
            Self::DocumentChanged => f.write_str("document_changed"),
            Self::KeysChanged => f.write_str("keys_changed"),
        }
    }
}
