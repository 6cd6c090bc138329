//! The pairwise Sector Identifier (OpenID Connect Core 1.0 §8.1) and
//! `sector_identifier_uri` validation (OpenID Connect DCR 1.0 §2, §5).
//!
//! A client registered for `pairwise` subject identifiers gets one `sub` per
//! Sector Identifier: the host of its `sector_identifier_uri`, or else the host
//! of its redirect URIs, which must then be a single host (§8.1). A loopback
//! host or a private-use scheme identifies no sector: such a client is a
//! sector of its own ([`pairwise_sector`]). A
//! `sector_identifier_uri` is an https URL of a JSON array of URIs, which must
//! list every registered `redirect_uri` (DCR §5); the server fetches it.
//!
//! Call these after defaults are applied and the syntax rules have passed
//! (the `subject_type` then reflects the server's default). The rules here run
//! on a document already fetched: the endpoint fetches it.

use std::collections::HashSet;

use url::Url;

use crate::error::RegistrationError;

use crate::metadata::{ClientMetadata, SubjectType};

const FIELD: &str = "sector_identifier_uri";

pub(crate) fn metadata_error(problem: impl std::fmt::Display) -> RegistrationError {
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
pub(crate) fn check_pairwise_hosts(metadata: &ClientMetadata) -> Result<(), RegistrationError> {
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
/// the redirect URIs when it is not a loopback host. `None` when neither
/// gives one host, or the one host is loopback (see [`pairwise_sector`]).
pub fn sector_identifier(metadata: &ClientMetadata) -> Option<String> {
    if let Some(uri) = &metadata.sector_identifier_uri {
        return host_of(uri);
    }
    let mut hosts = metadata.redirect_uris().iter().map(|uri| host_of(uri));
    let first = hosts.next()??;
    if is_loopback_host(&first) {
        return None;
    }
    hosts
        .all(|h| h.as_deref() == Some(first.as_str()))
        .then_some(first)
}

/// `localhost`, `127.0.0.1` or `[::1]` (RFC 8252 §7.3), as [`host_of`]
/// writes them.
fn is_loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// The sector a pairwise `sub` is computed for (OpenID Connect Core §8.1):
/// clients of one sector see a user under one `sub`, clients of different
/// sectors under unrelated ones.
///
/// - With a `sector_identifier_uri`, its host: the document there lists the
///   client's redirect URIs (OpenID Connect DCR §5), so its owner vouches
///   for them.
/// - Else, with every redirect URI on one host that is not loopback, that
///   host: only its owner receives the codes sent there.
/// - Else — redirect URIs on loopback (`127.0.0.1`, `[::1]`, `localhost`) or
///   with a private-use scheme (RFC 8252 §7.1, §7.3), or none — the client
///   itself, `client:{client_id}`. Any program on the user's machine can
///   listen on loopback or claim a scheme, so such a redirect URI names no
///   owner: were `127.0.0.1` a sector, every native client, one an attacker
///   registers included, would get the same `sub` and could correlate the
///   user across them.
///
/// The value is stable for a client as long as its redirect URIs and
/// `sector_identifier_uri` are; a host never starts with `client:`, so the
/// two kinds never collide.
pub fn pairwise_sector(client_id: &str, metadata: &ClientMetadata) -> String {
    sector_identifier(metadata).unwrap_or_else(|| format!("client:{client_id}"))
}

/// A `sector_identifier_uri` must be an https URL (OpenID Connect DCR §2); checked
/// before anything is fetched.
#[cfg(feature = "fetch")]
pub(crate) fn check_uri(uri: &str) -> Result<(), RegistrationError> {
    if Url::parse(uri).map_or(true, |u| u.scheme() != "https") {
        return Err(metadata_error(
            "must be an https URL (OpenID Connect DCR §2)",
        ));
    }
    Ok(())
}

/// The fetched document must be a JSON array of strings listing every
/// registered `redirect_uri`, compared as exact strings (OpenID Connect DCR §5).
#[cfg(feature = "fetch")]
pub(crate) fn check_document(
    metadata: &ClientMetadata,
    document: &[u8],
) -> Result<(), RegistrationError> {
    let listed: Vec<String> = serde_json::from_slice(document).map_err(|_| {
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
            crate::metadata::json::truncated(missing)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairwise(redirect_uris: &[&str]) -> ClientMetadata {
        let mut metadata: ClientMetadata = serde_json::from_value(serde_json::json!({
            "redirect_uris": redirect_uris,
            "subject_type": "pairwise",
        }))
        .unwrap();
        metadata.subject_type = Some(SubjectType::Pairwise);
        metadata
    }

    /// OpenID Connect Core §8.1: loopback redirect URIs name no sector, so
    /// two native clients on loopback are sectors of their own.
    #[test]
    fn core_8_1_loopback_and_private_use_clients_are_their_own_sector() {
        for uris in [
            &["http://127.0.0.1/callback"][..],
            &["http://localhost:8080/cb"],
            &["http://[::1]/cb"],
            &["com.example.app:/cb"],
        ] {
            let metadata = pairwise(uris);
            assert_eq!(sector_identifier(&metadata), None, "{uris:?}");
            assert_eq!(pairwise_sector("c1", &metadata), "client:c1");
            assert_ne!(
                pairwise_sector("c1", &metadata),
                pairwise_sector("c2", &metadata)
            );
        }
    }

    /// OpenID Connect Core §8.1: a web host is the sector of every client
    /// redirecting to it.
    #[test]
    fn core_8_1_a_web_host_is_shared_by_its_clients() {
        let metadata = pairwise(&[
            "https://App.example.com/cb",
            "https://app.example.com/other",
        ]);
        assert_eq!(pairwise_sector("c1", &metadata), "app.example.com");
        assert_eq!(pairwise_sector("c2", &metadata), "app.example.com");
    }
}
