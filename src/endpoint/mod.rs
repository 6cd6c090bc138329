//! The four operations: register (RFC 7591 §3), read, update and delete
//! (RFC 7592 §2), and what they share.

mod client_information;
mod delete;
mod manage;
mod prepare;
mod read;
mod register;
mod update;

pub(crate) use delete::delete;
pub(crate) use read::read;
pub(crate) use register::register;
pub(crate) use update::update;

use std::time::{SystemTime, UNIX_EPOCH};

use std::net::SocketAddr;

use crate::config::Config;
use crate::error::Rejection;
use crate::events::{Event, EventKind};
use crate::metadata::ClientMetadata;
use crate::store::{ClientRecord, StoreError};

/// What is percent-encoded in a path segment: everything but the unreserved
/// characters of RFC 3986 §2.3.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Any store failure the endpoint cannot resolve itself becomes a `503`.
pub(crate) fn unavailable(error: StoreError) -> Rejection {
    let mut cause = String::new();
    let mut source = std::error::Error::source(&error);
    while let Some(e) = source {
        cause.push_str(": ");
        cause.push_str(&e.to_string());
        source = e.source();
    }
    tracing::warn!(error = %error, cause, "client store failed");
    Rejection::StoreUnavailable
}

/// The OS CSPRNG failed: treated like an unavailable backend.
pub(crate) fn rng_failed(error: getrandom::Error) -> Rejection {
    tracing::error!(error = %error, "the OS random number generator failed");
    Rejection::StoreUnavailable
}

impl Config {
    /// `{registration endpoint}/{client_id}` (RFC 7592 §3), from configuration,
    /// with the identifier percent-encoded as one path segment.
    pub(crate) fn registration_client_uri(&self, client_id: &str) -> String {
        let mut uri = String::with_capacity(self.registration_endpoint.len() + 1 + client_id.len());
        uri.push_str(&self.registration_endpoint);
        uri.push('/');
        uri.extend(percent_encoding::utf8_percent_encode(
            client_id,
            PATH_SEGMENT,
        ));
        uri
    }

    /// Sends an event to the host's event hook, if there is one.
    pub(crate) fn emit(
        &self,
        kind: EventKind,
        operation: &'static str,
        client_id: Option<&str>,
        record: Option<&ClientRecord>,
        peer_addr: Option<SocketAddr>,
    ) {
        let Some(events) = &self.events else {
            return;
        };
        let mut event = Event::new(kind, operation);
        event.client_id = client_id
            .or(record.map(|r| r.client_id.as_str()))
            .map(str::to_owned);
        if let Some(record) = record {
            event.software_id.clone_from(&record.metadata.software_id);
            event.profile.clone_from(&record.profile);
        }
        event.peer_addr = peer_addr;
        events.on_event(&event);
    }

    /// Drops the extension members this server is not configured to keep
    /// (RFC 7591 §2: unknown members are ignored).
    pub(crate) fn keep_configured_extensions(&self, metadata: &mut ClientMetadata) {
        if !metadata.extensions.is_empty() {
            metadata
                .extensions
                .retain(|name, _| self.extension_members.contains(name));
        }
    }
}
