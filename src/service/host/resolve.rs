//! "Who is this client?": one answer for registered clients and URL clients.

use std::sync::Arc;

use crate::service::Registration;
use crate::store::{ClientRecord, StoreError};

/// Why [`Registration::client`] could not answer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The client store failed (already logged, with its cause, at error
    /// level).
    #[error("the client store failed")]
    Store(#[source] Arc<StoreError>),
    /// A URL client's metadata document could not be fetched, or is invalid
    /// (the reason is for the log; draft §5.1: abort the request).
    #[cfg(feature = "client-id-metadata-document")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client-id-metadata-document")))]
    #[error(transparent)]
    Document(crate::metadata_document::DocumentError),
    /// A URL client's metadata document was not fetched now because a fetch
    /// bound was reached
    /// ([`FetchBounds`](crate::metadata_document::FetchBounds)): a temporary
    /// failure, not an unknown or invalid client. Answer `503`
    /// (`temporarily_unavailable`) with `Retry-After`.
    #[cfg(feature = "client-id-metadata-document")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client-id-metadata-document")))]
    #[error("fetching the client's metadata document is throttled")]
    Throttled {
        /// When a new lookup may fetch again.
        retry_after: std::time::Duration,
    },
}

impl Registration {
    /// The client a `client_id` names, whichever kind it is: a stored
    /// registration (RFC 7591, or one the host created), or, when URL client
    /// ids are enabled and the `client_id` is an `https` URL, the client its
    /// metadata document describes (fetched, validated and cached; see
    #[cfg_attr(
        feature = "client-id-metadata-document",
        doc = "[`crate::metadata_document`])."
    )]
    #[cfg_attr(
        not(feature = "client-id-metadata-document"),
        doc = "the `metadata_document` module, feature `client-id-metadata-document`)."
    )]
    /// `Ok(None)` when there is no such client
    /// (also a URL that is not a valid Client Identifier URL, or from a host
    /// the policy does not allow).
    ///
    /// With URL client ids enabled, a `client_id` starting with `https://` is
    /// always a URL client and never looked up in the store (draft §7.1:
    /// generated identifiers never start with `https://`).
    ///
    /// A URL client's record has [`RecordSource::MetadataDocument`] as its
    /// source, the URL as its `client_id`, no secret and no registration access
    /// token; it is not in the client store.
    ///
    /// [`RecordSource::MetadataDocument`]: crate::store::RecordSource::MetadataDocument
    ///
    /// This is the one lookup of a client by identifier: the host helpers find
    /// clients through it.
    pub async fn client(&self, client_id: &str) -> Result<Option<Arc<ClientRecord>>, ResolveError> {
        #[cfg(feature = "client-id-metadata-document")]
        if self.config().url_clients.is_some()
            && crate::metadata_document::is_url_client_id(client_id)
        {
            use crate::metadata_document::DocumentError;
            return match self.config().resolve_url_client(client_id).await {
                Ok(record) => Ok(Some(record)),
                Err(DocumentError::HostNotAllowed | DocumentError::InvalidUrl(_)) => Ok(None),
                Err(DocumentError::Throttled { retry_after }) => {
                    Err(ResolveError::Throttled { retry_after })
                }
                Err(error) => Err(ResolveError::Document(error)),
            };
        }
        self.store()
            .get(client_id)
            .await
            .map_err(|e| ResolveError::Store(super::client_auth::store_failed(e, "client lookup")))
    }
}

impl Registration {
    /// The former name of [`client`](Self::client).
    #[deprecated(note = "renamed `client`, which resolves both kinds of client")]
    pub async fn resolve_client(
        &self,
        client_id: &str,
    ) -> Result<Option<Arc<ClientRecord>>, ResolveError> {
        self.client(client_id).await
    }
}
