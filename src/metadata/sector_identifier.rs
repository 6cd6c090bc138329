//! The pairwise Sector Identifier (OpenID Connect Core 1.0 §8.1) and
//! `sector_identifier_uri` validation (OpenID Connect DCR 1.0 §2, §5).
//!
//! A client registered for `pairwise` subject identifiers gets one `sub` per
//! Sector Identifier: the host of its `sector_identifier_uri`, or else the host
//! of its redirect URIs, which must then be a single host (§8.1). A
//! `sector_identifier_uri` is an https URL of a JSON array of URIs, which must
//! list every registered `redirect_uri` (DCR §5); the server fetches it.
//!
//! Call these after defaults are applied and the syntax rules have passed
//! (the `subject_type` then reflects the server's default). With a `Fetcher`
//! configured (feature `fetch`), `check_sector_identifier` runs both rules;
//! without one, [`check_pairwise_hosts`] runs the rule that needs no fetch.

use std::collections::HashSet;

use url::Url;

use super::{ClientMetadata, SubjectType};
use crate::error::RegistrationError;

const FIELD: &str = "sector_identifier_uri";

fn metadata_error(problem: impl std::fmt::Display) -> RegistrationError {
    RegistrationError::invalid_client_metadata(format!("{FIELD}: {problem}"))
}

/// The host of a URI, lowercased; `None` for URIs without one (private-use
/// schemes such as `com.example.app:/cb`).
fn host_of(uri: &str) -> Option<String> {
    Url::parse(uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
}

/// OpenID Connect Core §8.1: a `pairwise` client whose redirect URIs are on
/// several hosts must register a `sector_identifier_uri`, since no single host
/// can serve as its Sector Identifier. Redirect URIs without a host (private-use
/// schemes) count as one more, distinct host.
pub fn check_pairwise_hosts(metadata: &ClientMetadata) -> Result<(), RegistrationError> {
    if metadata.subject_type != Some(SubjectType::Pairwise)
        || metadata.sector_identifier_uri.is_some()
    {
        return Ok(());
    }
    let hosts: HashSet<Option<String>> = metadata
        .redirect_uris()
        .iter()
        .map(|uri| host_of(uri))
        .collect();
    if hosts.len() > 1 {
        return Err(metadata_error(
            "required for a pairwise client whose redirect_uris are on several hosts (OpenID Connect Core §8.1)",
        ));
    }
    Ok(())
}

/// The Sector Identifier used to compute pairwise `sub` values (OpenID Connect
/// Core §8.1): the host of `sector_identifier_uri`, else the single host of
/// the redirect URIs. `None` when neither gives one host.
pub fn sector_identifier(metadata: &ClientMetadata) -> Option<String> {
    if let Some(uri) = &metadata.sector_identifier_uri {
        return host_of(uri);
    }
    let mut hosts = metadata.redirect_uris().iter().map(|uri| host_of(uri));
    let first = hosts.next()??;
    hosts
        .all(|h| h.as_deref() == Some(first.as_str()))
        .then_some(first)
}

/// Runs the pairwise rule ([`check_pairwise_hosts`]), then, when the client
/// registered a `sector_identifier_uri`, fetches it through `fetcher` and
/// checks that it is a JSON array of strings listing every registered
/// `redirect_uri`, compared as exact strings (OpenID Connect DCR §5).
///
/// Errors are `invalid_client_metadata` naming `sector_identifier_uri`.
#[cfg(feature = "fetch")]
#[cfg_attr(docsrs, doc(cfg(feature = "fetch")))]
pub async fn check_sector_identifier(
    metadata: &ClientMetadata,
    fetcher: &dyn crate::fetch::Fetcher,
) -> Result<(), RegistrationError> {
    check_pairwise_hosts(metadata)?;
    let Some(uri) = &metadata.sector_identifier_uri else {
        return Ok(());
    };
    if Url::parse(uri).map_or(true, |u| u.scheme() != "https") {
        return Err(metadata_error(
            "must be an https URL (OpenID Connect DCR §2)",
        ));
    }
    let document = fetcher.fetch(uri).await.map_err(|e| {
        // The reason (an address class, a DNS failure) stays in the log:
        // told to the client it would map the server's network.
        tracing::debug!(error = %e, "sector_identifier_uri fetch failed");
        metadata_error("could not be retrieved")
    })?;
    let listed: Vec<String> = serde_json::from_slice(&document).map_err(|_| {
        metadata_error("must refer to a JSON array of redirect URI strings (OpenID Connect DCR §5)")
    })?;
    let listed: HashSet<&str> = listed.iter().map(String::as_str).collect();
    if let Some(missing) = metadata
        .redirect_uris()
        .iter()
        .find(|uri| !listed.contains(uri.as_str()))
    {
        return Err(metadata_error(format_args!(
            "the document does not list the redirect URI \"{}\" (OpenID Connect DCR §5)",
            super::json::truncated(missing)
        )));
    }
    Ok(())
}
