//! Resolving a URL client: fetch its metadata document (draft §5), check it
//! (draft §4), run it through the registration pipeline (the same parser,
//! validator, profile and hook as `POST /register`), and cache the client
//! (draft §5.2).

use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::prepare::prepare_metadata;
use crate::config::Config;
use crate::events::{EventKind, Operation};
use crate::fetch::FetchError;
use crate::fetch_cache::{CacheHeaders, Failure, Freshness, Origin};
use crate::metadata_document::{
    ClientIdUrl, DocumentError, ResolvedDocument, UrlClients, check_document, parse_client_id_url,
    profile_name,
};
use crate::policy::RequestContext;
use crate::store::{ClientRecord, RecordSource};
use crate::time::now;

impl Config {
    /// The client a Client Identifier URL names: cached, or fetched, checked
    /// and run through the registration pipeline now.
    pub(crate) async fn resolve_url_client(
        &self,
        client_id: &str,
    ) -> Result<Arc<ClientRecord>, DocumentError> {
        let Some(clients) = &self.url_clients else {
            return Err(DocumentError::HostNotAllowed);
        };
        // Only a valid URL from an allowed host is ever cached (the rules are a
        // function of the string and the static policy): a fresh entry needs
        // no second look.
        if let Some(resolved) = clients.cache.fresh(client_id) {
            return Ok(Arc::clone(&resolved.record));
        }
        let url = parse_client_id_url(client_id, clients.policy.allow_query)?;
        if !clients.policy.allows_host(url.host()) {
            return Err(DocumentError::HostNotAllowed);
        }
        let outcome = clients
            .cache
            .get_or_fetch(client_id, |stale| self.fetch_document(clients, &url, stale))
            .await;
        match outcome {
            Ok((resolved, origin)) => {
                let kind = match origin {
                    Origin::Cached => None,
                    Origin::Fetched => Some(EventKind::DocumentResolved),
                    Origin::Refreshed => Some(EventKind::DocumentRefreshed),
                    Origin::StaleOnError => Some(EventKind::DocumentFetchFailed),
                };
                if let Some(kind) = kind {
                    self.emit(
                        kind,
                        Operation::ResolveDocument,
                        None,
                        Some(&resolved.record),
                        None,
                    );
                }
                Ok(Arc::clone(&resolved.record))
            }
            Err(error) => {
                tracing::info!(client_id, reason = %error, "URL client refused");
                self.emit(
                    EventKind::DocumentFetchFailed,
                    Operation::ResolveDocument,
                    Some(client_id),
                    None,
                    None,
                );
                Err(error)
            }
        }
    }

    /// One fetch within the bounds of [`FetchBounds`]: over a bound, no fetch
    /// and a temporary failure (a stale document may still be served); a
    /// failure pauses the URL.
    ///
    /// [`FetchBounds`]: crate::metadata_document::FetchBounds
    async fn fetch_document(
        &self,
        clients: &UrlClients,
        url: &ClientIdUrl,
        stale: Option<Arc<ResolvedDocument>>,
    ) -> Result<(ResolvedDocument, Freshness), Failure<DocumentError>> {
        let permit = clients
            .throttle
            .acquire(url.as_str(), url.host())
            .map_err(|retry_after| Failure {
                error: DocumentError::Throttled { retry_after },
                transient: true,
            })?;
        let outcome = self.fetch_and_check(clients, url, stale).await;
        clients.throttle.finished(url.as_str(), outcome.is_err());
        drop(permit);
        outcome
    }

    async fn fetch_and_check(
        &self,
        clients: &UrlClients,
        url: &ClientIdUrl,
        stale: Option<Arc<ResolvedDocument>>,
    ) -> Result<(ResolvedDocument, Freshness), Failure<DocumentError>> {
        let fail = |error: DocumentError| Failure {
            transient: error.is_transient(),
            error,
        };
        let policy = &clients.policy;
        let response = tokio::time::timeout(
            policy.timeout,
            clients
                .fetcher
                .fetch_response(url.as_str(), policy.max_document_bytes),
        )
        .await
        .unwrap_or(Err(FetchError::Timeout))
        .map_err(|e| fail(e.into()))?;
        let freshness = clients.cache.bounds().freshness(
            &CacheHeaders {
                cache_control: response.cache_control.clone(),
                expires: response.expires.clone(),
                date: response.date.clone(),
                age: response.age.clone(),
            },
            SystemTime::now(),
        );
        let object = check_document(url, &response).map_err(fail)?;
        let keys_digest = {
            let mut hash = Sha256::new();
            for member in ["jwks", "jwks_uri"] {
                hash.update(
                    object
                        .get(member)
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                );
                hash.update([0]);
            }
            hash.finalize().into()
        };
        let profile_name = profile_name(policy.profile_index(url.host()));
        let profile = self
            .profile_named(Some(&profile_name))
            .ok_or_else(|| fail(DocumentError::Invalid("no profile".into())))?;
        let metadata = prepare_metadata(self, profile, object, None, || {
            RequestContext::for_document(url.as_str(), Some(profile_name.clone()))
        })
        .await
        .map_err(|rejection| fail(DocumentError::Invalid(rejection.to_string())))?;
        let now = now();
        let mut record = ClientRecord::new_host_client(url.as_str(), metadata, now);
        record.source = RecordSource::MetadataDocument;
        record.profile = Some(profile_name);
        let resolved = ResolvedDocument {
            record: Arc::new(record),
            digest: Sha256::digest(&response.body).into(),
            keys_digest,
        };
        if let Some(stale) = stale {
            if stale.digest != resolved.digest {
                self.emit(
                    EventKind::DocumentChanged,
                    Operation::ResolveDocument,
                    None,
                    Some(&resolved.record),
                    None,
                );
            }
            if stale.keys_digest != resolved.keys_digest {
                self.emit(
                    EventKind::KeysChanged,
                    Operation::ResolveDocument,
                    None,
                    Some(&resolved.record),
                    None,
                );
            }
        }
        Ok((resolved, freshness))
    }
}
