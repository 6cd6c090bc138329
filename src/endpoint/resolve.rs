//! Resolving a URL client: fetch its metadata document (draft §5), check it
//! (draft §4), run it through the registration pipeline (the same parser,
//! validator, profile and hook as `POST /register`), and cache the client
//! (draft §5.2).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use url::{Host, Url};

use super::now;
use super::prepare::prepare_metadata;
use crate::config::{Config, ConfigError};
use crate::events::EventKind;
use crate::fetch::{FetchError, Fetcher, GuardedFetcher};
use crate::fetch_cache::{Cache, CacheHeaders, Failure, Freshness, Origin};
use crate::metadata_document::{
    ClientIdUrl, DocumentError, MetadataDocuments, check_document, parse_client_id_url,
    profile_name,
};
use crate::policy::RequestContext;
use crate::store::{ClientRecord, RecordSource};

/// A resolved URL client, as cached.
pub(crate) struct ResolvedDocument {
    pub(crate) record: Arc<ClientRecord>,
    /// SHA-256 of the document as fetched.
    digest: [u8; 32],
    /// SHA-256 of its `jwks` and `jwks_uri` members.
    keys_digest: [u8; 32],
}

/// The runtime state of URL clients: the policy, the fetcher and the cache.
pub(crate) struct UrlClients {
    pub(crate) policy: MetadataDocuments,
    fetcher: Arc<dyn Fetcher>,
    cache: Cache<ResolvedDocument, DocumentError>,
}

impl std::fmt::Debug for UrlClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlClients")
            .field("policy", &self.policy)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl UrlClients {
    /// Checks the policy against the issuer and builds the fetcher: the
    /// guarded one, letting through only the issuer's own loopback address
    /// when loopback documents are allowed (draft §8.6).
    pub(crate) fn new(policy: MetadataDocuments, issuer: &Url) -> Result<Self, ConfigError> {
        let invalid = |e: &str| ConfigError::InvalidMetadataDocuments(e.to_owned());
        let loopback: Vec<IpAddr> = match issuer.host() {
            Some(Host::Ipv4(ip)) if ip.is_loopback() => vec![IpAddr::V4(ip)],
            Some(Host::Ipv6(ip)) if ip.is_loopback() => vec![IpAddr::V6(ip)],
            Some(Host::Domain("localhost")) => {
                vec![
                    "127.0.0.1".parse().expect("an address"),
                    "::1".parse().expect("an address"),
                ]
            }
            _ => Vec::new(),
        };
        if policy.loopback_documents && loopback.is_empty() {
            return Err(invalid("loopback documents need an issuer on loopback"));
        }
        let fetcher: Arc<dyn Fetcher> = match &policy.fetcher {
            Some(fetcher) => Arc::clone(fetcher),
            None => {
                let mut builder = GuardedFetcher::builder()
                    .timeout(policy.timeout)
                    .max_response_bytes(policy.max_document_bytes);
                for pem in &policy.root_certificates {
                    builder = builder.add_root_certificate_pem(pem.clone());
                }
                if policy.loopback_documents {
                    builder = builder.dangerous_allow_addresses(loopback);
                }
                Arc::new(builder.build().map_err(|e| invalid(&e.to_string()))?)
            }
        };
        Ok(Self {
            cache: Cache::new(policy.max_cached, policy.cache),
            policy,
            fetcher,
        })
    }

    /// The fetcher, shared with client assertions for `jwks_uri`.
    #[cfg_attr(not(feature = "client-assertion"), allow(dead_code))]
    pub(crate) fn fetcher(&self) -> Arc<dyn Fetcher> {
        Arc::clone(&self.fetcher)
    }
}

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
                    self.emit(kind, "resolve", None, Some(&resolved.record), None);
                }
                Ok(Arc::clone(&resolved.record))
            }
            Err(error) => {
                tracing::debug!(client_id, %error, "URL client refused");
                self.emit(
                    EventKind::DocumentFetchFailed,
                    "resolve",
                    Some(client_id),
                    None,
                    None,
                );
                Err(error)
            }
        }
    }

    async fn fetch_document(
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
                    "resolve",
                    None,
                    Some(&resolved.record),
                    None,
                );
            }
            if stale.keys_digest != resolved.keys_digest {
                self.emit(
                    EventKind::KeysChanged,
                    "resolve",
                    None,
                    Some(&resolved.record),
                    None,
                );
            }
        }
        Ok((resolved, freshness))
    }
}
