//! Fetching a `sector_identifier_uri` (OpenID Connect DCR §5) and checking the
//! document with the rules of [`crate::policy::sector_identifier`].

use crate::error::RegistrationError;
use crate::metadata::ClientMetadata;
use crate::policy::sector_identifier::check_pairwise_hosts;

/// Runs the pairwise rule, then, when the client registered a
/// `sector_identifier_uri`, fetches it through `fetcher` and checks that it is
/// a JSON array of strings listing every registered `redirect_uri`, compared as
/// exact strings (OpenID Connect DCR §5).
///
/// Errors are `invalid_client_metadata` naming `sector_identifier_uri`.
#[cfg(feature = "fetch")]
pub(super) async fn check_sector_identifier(
    metadata: &ClientMetadata,
    fetcher: &dyn crate::fetch::Fetcher,
) -> Result<(), RegistrationError> {
    use crate::policy::sector_identifier::{check_document, check_uri, metadata_error};

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
pub(super) fn check_without_fetcher(metadata: &ClientMetadata) -> Result<(), RegistrationError> {
    check_pairwise_hosts(metadata)?;
    if metadata.sector_identifier_uri.is_some() {
        return Err(RegistrationError::invalid_client_metadata(
            "sector_identifier_uri: not supported by this server (it cannot be verified, OIDC DCR §5)",
        ));
    }
    Ok(())
}

#[cfg(all(test, feature = "fetch"))]
mod tests {
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
        assert_eq!(error.code(), ErrorCode::InvalidClientMetadata);
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
