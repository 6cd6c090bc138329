//! The runtime state of URL clients: the policy, the fetcher and the cache of
//! resolved clients. The pipeline that fills it is `endpoint::resolve` (every
//! outbound fetch happens in the endpoint layer).

use std::net::IpAddr;
use std::sync::Arc;

use url::{Host, Url};

use super::{DocumentError, FetchThrottle, MetadataDocuments};
use crate::fetch::{Fetcher, GuardedFetcher};
use crate::fetch_cache::Cache;
use crate::store::ClientRecord;

/// A resolved URL client, as cached.
pub(crate) struct ResolvedDocument {
    pub(crate) record: Arc<ClientRecord>,
    /// SHA-256 of the document as fetched.
    pub(crate) digest: [u8; 32],
    /// SHA-256 of its `jwks` and `jwks_uri` members.
    pub(crate) keys_digest: [u8; 32],
}

/// The runtime state of URL clients.
pub(crate) struct UrlClients {
    pub(crate) policy: MetadataDocuments,
    pub(crate) fetcher: Arc<dyn Fetcher>,
    pub(crate) cache: Cache<ResolvedDocument, DocumentError>,
    pub(crate) throttle: FetchThrottle,
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
    pub(crate) fn new(policy: MetadataDocuments, issuer: &Url) -> Result<Self, String> {
        let loopback: Vec<IpAddr> = match issuer.host() {
            Some(Host::Ipv4(ip)) if ip.is_loopback() => vec![IpAddr::V4(ip)],
            Some(Host::Ipv6(ip)) if ip.is_loopback() => vec![IpAddr::V6(ip)],
            Some(Host::Domain("localhost")) => vec![
                IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ],
            _ => Vec::new(),
        };
        if policy.loopback_documents && loopback.is_empty() {
            return Err("loopback documents need an issuer on loopback".into());
        }
        policy.fetch_bounds.check()?;
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
                Arc::new(builder.build().map_err(|e| e.to_string())?)
            }
        };
        Ok(Self {
            cache: Cache::new(policy.max_cached, policy.cache),
            throttle: FetchThrottle::new(policy.fetch_bounds, policy.max_cached),
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
