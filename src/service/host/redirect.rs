//! Redirect URI checks at the authorization endpoint (RFC 6749 §3.1.2.3,
//! RFC 8252 §7.3).

use std::sync::Arc;

use super::form::FormField;
use crate::service::Registration;
use crate::store::ClientRecord;

impl Registration {
    /// The authorization endpoint's check of `client_id` and `redirect_uri`
    /// (RFC 6749 §3.1.2.3, RFC 8252 §7.3): resolves the client (registered or
    /// URL client, [`Registration::client`]) and matches the
    /// presented redirect URI against the registered ones. Without a presented
    /// URI, the single registered one is used (RFC 6749 §3.1.2.3); with several
    /// registered, one must be presented. Records the client's use.
    ///
    /// Returns the client and the redirect URI to send the user back to. On
    /// error, do not redirect: show the error to the user (RFC 6749 §4.1.2.1).
    ///
    /// `presented` is an `Option<&str>` or a `&Option<String>` (see
    /// [`FormField`]). A store failure is logged at error level.
    pub async fn check_redirect_uri<'a>(
        &self,
        client_id: &str,
        presented: impl FormField<'a>,
    ) -> Result<(Arc<ClientRecord>, String), RedirectError> {
        let presented = presented.field();
        let record = self
            .client(client_id)
            .await
            .map_err(|e| match e {
                super::ResolveError::Store(_) => RedirectError::Unavailable,
                #[cfg(feature = "client-id-metadata-document")]
                super::ResolveError::Document(_) => RedirectError::MetadataDocument,
                #[cfg(feature = "client-id-metadata-document")]
                super::ResolveError::Throttled { retry_after } => {
                    RedirectError::Throttled { retry_after }
                }
            })?
            .ok_or(RedirectError::UnknownClient)?;
        let uri = match (presented, record.metadata.redirect_uris()) {
            (Some(uri), _) if record.metadata.matches_redirect_uri(uri) => uri.to_owned(),
            (Some(_), _) => return Err(RedirectError::Mismatch),
            (None, [only]) => only.clone(),
            (None, _) => return Err(RedirectError::Mismatch),
        };
        self.record_use(&record).await;
        Ok((record, uri))
    }
}

/// Why the authorization endpoint must not redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectError {
    /// No client has this `client_id`.
    #[error("unknown client")]
    UnknownClient,
    /// The redirect URI is not registered for the client, or is missing while
    /// several are registered.
    #[error("the redirect_uri is not registered for this client")]
    Mismatch,
    /// The client store could not answer.
    #[error("the client store is unavailable")]
    Unavailable,
    /// A URL client's metadata document could not be fetched or is invalid
    /// (draft-ietf-oauth-client-id-metadata-document §5.1: abort the request).
    #[error("the client's metadata document could not be used")]
    MetadataDocument,
    /// A URL client's metadata document was not fetched now because a fetch
    /// bound was reached (`FetchBounds`): a temporary failure, not an unknown
    /// client. Show a "try again later" page (`503`, `Retry-After`).
    #[error("the client's metadata document cannot be fetched now; try again later")]
    Throttled {
        /// When a new lookup may fetch again.
        retry_after: std::time::Duration,
    },
}
