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
//! (the `subject_type` then reflects the server's default). The endpoint
//! decides whether a document is fetched: it passes its fetcher to
//! `check_sector_identifier`, or calls `check_without_fetcher`.

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

/// Runs the pairwise rule, then, when the client registered a
/// `sector_identifier_uri`, fetches it through `fetcher` and checks that it is
/// a JSON array of strings listing every registered `redirect_uri`, compared as
/// exact strings (OpenID Connect DCR §5).
///
/// Errors are `invalid_client_metadata` naming `sector_identifier_uri`.
#[cfg(feature = "fetch")]
pub(crate) async fn check_sector_identifier(
    metadata: &ClientMetadata,
    fetcher: &dyn crate::fetch::Fetcher,
) -> Result<(), RegistrationError> {
    check_pairwise_hosts(metadata)?;
    let Some(uri) = &metadata.sector_identifier_uri else {
        return Ok(());
    };
    check_uri(uri)?;
    let document = fetcher.fetch(uri).await.map_err(|e| {
        // The reason (an address class, a DNS failure) stays in the log:
        // told to the client it would map the server's network.
        tracing::debug!(error = %e, "sector_identifier_uri fetch failed");
        metadata_error("could not be retrieved")
    })?;
    check_document(metadata, &document)
}

/// Without a fetcher a `sector_identifier_uri` cannot be verified, so it is
/// refused; the pairwise rule needs no fetch.
pub(crate) fn check_without_fetcher(metadata: &ClientMetadata) -> Result<(), RegistrationError> {
    check_pairwise_hosts(metadata)?;
    if metadata.sector_identifier_uri.is_some() {
        return Err(RegistrationError::invalid_client_metadata(
            "sector_identifier_uri: not supported by this server (it cannot be verified, OIDC DCR §5)",
        ));
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

#[cfg(all(test, feature = "fetch"))]
mod fetch_tests {
    use std::collections::HashMap;

    use async_trait::async_trait;
    use bytes::Bytes;

    use super::check_sector_identifier;
    use crate::error::{ErrorCode, RegistrationError};
    use crate::fetch::{FetchError, Fetcher, GuardedFetcher};
    use crate::metadata::{ClientMetadata, SubjectType};
    use crate::policy::sector_identifier::{check_pairwise_hosts, sector_identifier};

    // ---- sector_identifier_uri (OIDC DCR §5) and pairwise (OIDC Core §8.1) ------

    /// Canned documents by URL; records what was fetched.
    #[derive(Debug, Default)]
    struct CannedFetcher {
        documents: HashMap<String, &'static str>,
        fetched: std::sync::Mutex<Vec<String>>,
    }

    impl CannedFetcher {
        fn with(url: &str, body: &'static str) -> Self {
            Self {
                documents: [(url.to_owned(), body)].into(),
                ..Self::default()
            }
        }
    }

    #[async_trait]
    impl Fetcher for CannedFetcher {
        async fn fetch(&self, url: &str) -> Result<Bytes, FetchError> {
            self.fetched.lock().unwrap().push(url.to_owned());
            match self.documents.get(url) {
                Some(body) => Ok(Bytes::from_static(body.as_bytes())),
                None => Err(FetchError::Status(404)),
            }
        }
    }

    const SECTOR: &str = "https://other.example.net/file_of_redirect_uris.json";

    fn pairwise_client(redirect_uris: &[&str], sector: Option<&str>) -> ClientMetadata {
        let mut metadata = ClientMetadata::default();
        metadata.redirect_uris = Some(redirect_uris.iter().map(|s| (*s).to_owned()).collect());
        metadata.subject_type = Some(SubjectType::Pairwise);
        metadata.sector_identifier_uri = sector.map(Into::into);
        metadata
    }

    #[track_caller]
    fn assert_metadata_error(result: Result<(), RegistrationError>) -> String {
        let error = result.expect_err("must be refused");
        assert_eq!(error.error_code(), ErrorCode::InvalidClientMetadata);
        assert!(
            error.description().starts_with("sector_identifier_uri: "),
            "{}",
            error.description()
        );
        error.description().to_owned()
    }

    #[tokio::test]
    async fn oidc_dcr_5_sector_document_listing_every_redirect_uri_is_accepted() {
        let fetcher = CannedFetcher::with(
            SECTOR,
            r#"["https://client.example.org/callback", "https://client.example.org/other", "https://unrelated.example/x"]"#,
        );
        let client = pairwise_client(
            &[
                "https://client.example.org/callback",
                "https://client.example.org/other",
            ],
            Some(SECTOR),
        );
        check_sector_identifier(&client, &fetcher).await.unwrap();
        assert_eq!(*fetcher.fetched.lock().unwrap(), [SECTOR]);
        assert_eq!(
            sector_identifier(&client).as_deref(),
            Some("other.example.net")
        );
    }

    #[tokio::test]
    async fn oidc_dcr_5_a_redirect_uri_missing_from_the_sector_document_is_refused() {
        let fetcher = CannedFetcher::with(SECTOR, r#"["https://client.example.org/callback"]"#);
        let client = pairwise_client(
            &[
                "https://client.example.org/callback",
                "https://client.example.org/callback/",
            ],
            Some(SECTOR),
        );
        let description = assert_metadata_error(check_sector_identifier(&client, &fetcher).await);
        assert!(description.contains("https://client.example.org/callback/"));
    }

    #[tokio::test]
    async fn oidc_dcr_5_the_sector_document_must_be_a_json_array_of_strings() {
        for body in [
            r#"{"redirect_uris": ["https://client.example.org/callback"]}"#,
            r#"["https://client.example.org/callback", 42]"#,
            r#""https://client.example.org/callback""#,
            "https://client.example.org/callback",
            "",
        ] {
            let fetcher = CannedFetcher::with(SECTOR, body);
            let client = pairwise_client(&["https://client.example.org/callback"], Some(SECTOR));
            let description =
                assert_metadata_error(check_sector_identifier(&client, &fetcher).await);
            assert!(description.contains("JSON array"), "{body}: {description}");
        }
    }

    #[tokio::test]
    async fn oidc_dcr_5_an_unretrievable_sector_document_is_refused() {
        let fetcher = CannedFetcher::default();
        let client = pairwise_client(&["https://client.example.org/callback"], Some(SECTOR));
        let description = assert_metadata_error(check_sector_identifier(&client, &fetcher).await);
        assert!(
            description.contains("could not be retrieved"),
            "{description}"
        );
        assert!(
            !description.contains("404"),
            "the reason stays in the log: {description}"
        );
    }

    #[tokio::test]
    async fn oidc_dcr_2_the_sector_identifier_uri_must_be_https() {
        let http = "http://other.example.net/file_of_redirect_uris.json";
        let fetcher = CannedFetcher::with(http, r#"["https://client.example.org/callback"]"#);
        let client = pairwise_client(&["https://client.example.org/callback"], Some(http));
        assert_metadata_error(check_sector_identifier(&client, &fetcher).await);
        assert!(fetcher.fetched.lock().unwrap().is_empty(), "not fetched");
    }

    #[tokio::test]
    async fn oidc_dcr_5_the_sector_document_is_fetched_through_the_guard() {
        // With the real fetcher, a sector_identifier_uri on a forbidden address
        // fails like any unretrievable document, and the client is not told why
        // (that would map the server's network). (Loopback, so that a regression
        // stays on this host.)
        let fetcher = GuardedFetcher::new().unwrap();
        let client = pairwise_client(
            &["https://client.example.org/callback"],
            Some("https://127.0.0.1/file_of_redirect_uris.json"),
        );
        let description = assert_metadata_error(check_sector_identifier(&client, &fetcher).await);
        assert!(
            description.contains("could not be retrieved"),
            "{description}"
        );
        assert!(!description.contains("loopback"), "{description}");
        assert!(!description.contains("127.0.0.1"), "{description}");
    }

    #[tokio::test]
    async fn oidc_core_8_1_pairwise_with_several_redirect_hosts_needs_a_sector_identifier_uri() {
        let fetcher = CannedFetcher::default();
        let several = pairwise_client(
            &["https://a.example.org/cb", "https://b.example.org/cb"],
            None,
        );
        assert_metadata_error(check_pairwise_hosts(&several));
        assert_metadata_error(check_sector_identifier(&several, &fetcher).await);
        assert_eq!(sector_identifier(&several), None);
        // A private-use scheme without a host counts as another host.
        let mixed = pairwise_client(&["com.example.app:/cb", "https://a.example.org/cb"], None);
        assert_metadata_error(check_pairwise_hosts(&mixed));

        // One host (ports and paths may differ; host case is ignored): no
        // sector_identifier_uri needed, and the host is the Sector Identifier.
        let one = pairwise_client(
            &[
                "https://a.example.org/cb",
                "https://A.example.org:8443/other",
            ],
            None,
        );
        check_pairwise_hosts(&one).unwrap();
        check_sector_identifier(&one, &fetcher).await.unwrap();
        assert_eq!(sector_identifier(&one).as_deref(), Some("a.example.org"));
        assert!(
            fetcher.fetched.lock().unwrap().is_empty(),
            "nothing to fetch"
        );

        // Public subject identifiers do not need one either.
        let mut public = several.clone();
        public.subject_type = Some(SubjectType::Public);
        check_pairwise_hosts(&public).unwrap();
        public.subject_type = None;
        check_pairwise_hosts(&public).unwrap();

        // With a sector_identifier_uri listing both, several hosts are fine.
        let fetcher = CannedFetcher::with(
            SECTOR,
            r#"["https://a.example.org/cb", "https://b.example.org/cb"]"#,
        );
        let with_sector = pairwise_client(
            &["https://a.example.org/cb", "https://b.example.org/cb"],
            Some(SECTOR),
        );
        check_pairwise_hosts(&with_sector).unwrap();
        check_sector_identifier(&with_sector, &fetcher)
            .await
            .unwrap();
    }
}
