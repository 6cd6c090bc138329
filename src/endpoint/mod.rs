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

use crate::config::Config;
use crate::error::Rejection;
use crate::metadata::ClientMetadata;
use crate::store::StoreError;

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Any store failure the endpoint cannot resolve itself becomes a `503`.
pub(crate) fn unavailable(error: StoreError) -> Rejection {
    tracing::warn!(error = %error, "client store failed");
    Rejection::StoreUnavailable
}

/// The OS CSPRNG failed: treated like an unavailable backend.
pub(crate) fn rng_failed(error: getrandom::Error) -> Rejection {
    tracing::error!(error = %error, "the OS random number generator failed");
    Rejection::StoreUnavailable
}

impl Config {
    /// `{registration endpoint}/{client_id}` (RFC 7592 §3), from configuration.
    pub(crate) fn registration_client_uri(&self, client_id: &str) -> String {
        format!("{}/{client_id}", self.registration_endpoint)
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
