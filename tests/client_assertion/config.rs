//! The client assertion configurations `build()` refuses because every JWT
//! client authentication under them would fail (RFC 7523 §2.2).
#![cfg(all(feature = "client-id-metadata-document", feature = "client-assertion"))]

use crate::cimd_support;

use std::time::Duration;

use cimd_support::ISSUER;
use tower_dcr::client_assertion::{AudienceRule, ClientAssertions};
use tower_dcr::metadata_document::MetadataDocuments;
use tower_dcr::{Profile, Registration, TokenEndpointAuthMethod};

/// A client store without a `jti` replay store.
#[derive(Debug, Default)]
struct NoReplayStore(tower_dcr::MemoryStore);

#[async_trait::async_trait]
impl tower_dcr::ClientStore for NoReplayStore {
    async fn create(
        &self,
        record: std::sync::Arc<tower_dcr::ClientRecord>,
    ) -> Result<(), tower_dcr::StoreError> {
        self.0.create(record).await
    }
    async fn get(
        &self,
        client_id: &str,
    ) -> Result<Option<std::sync::Arc<tower_dcr::ClientRecord>>, tower_dcr::StoreError> {
        self.0.get(client_id).await
    }
    async fn update(
        &self,
        record: std::sync::Arc<tower_dcr::ClientRecord>,
        expected_revision: u64,
    ) -> Result<(), tower_dcr::StoreError> {
        self.0.update(record, expected_revision).await
    }
    async fn delete(
        &self,
        client_id: &str,
        expected_revision: Option<u64>,
    ) -> Result<bool, tower_dcr::StoreError> {
        self.0.delete(client_id, expected_revision).await
    }
}

/// `build()` refuses configurations under which every JWT
/// client authentication would fail (RFC 7523 §2.2): a JWT method in a
/// profile (the default, a named one, or the URL-client one) without
/// `client_assertions`; `private_key_jwt` without an asymmetric algorithm; no
/// replay store; an `aud` rule that accepts nothing; a zero lifetime.
#[test]
fn build_refuses_jwt_client_authentication_that_cannot_work() {
    use tower_dcr::ConfigError;
    let jwt = |method| {
        Profile::default()
            .token_endpoint_auth_methods([method, TokenEndpointAuthMethod::None])
            .default_token_endpoint_auth_method(TokenEndpointAuthMethod::None)
    };
    let builder = || Registration::builder(ISSUER).open();
    for method in [
        TokenEndpointAuthMethod::PrivateKeyJwt,
        TokenEndpointAuthMethod::ClientSecretJwt,
    ] {
        let error = builder().profile(jwt(method)).build().unwrap_err();
        assert!(
            matches!(&error, ConfigError::ClientAssertionsNeeded(m) if m.contains(method.as_str())),
            "{error}"
        );
        assert!(error.to_string().contains(".client_assertions("), "{error}");
        let named = builder().named_profile("partners", jwt(method)).build();
        assert!(
            matches!(named, Err(ConfigError::ClientAssertionsNeeded(m)) if m.contains("partners"))
        );
        builder()
            .profile(jwt(method))
            .client_assertions(ClientAssertions::new())
            .build()
            .unwrap();
    }
    // The default URL-client profile allows private_key_jwt only where the
    // service verifies assertions; a URL-client profile the host chose is
    // checked like any other.
    let url_clients = builder()
        .metadata_documents(MetadataDocuments::any_host())
        .build()
        .expect("URL clients without client assertions");
    let methods = url_clients.discovery_metadata()["token_endpoint_auth_methods_supported"].clone();
    assert!(
        !methods.to_string().contains("private_key_jwt"),
        "{methods}"
    );
    let with_assertions = builder()
        .metadata_documents(MetadataDocuments::any_host())
        .client_assertions(ClientAssertions::new())
        .build()
        .unwrap();
    let methods =
        with_assertions.discovery_metadata()["token_endpoint_auth_methods_supported"].clone();
    assert!(methods.to_string().contains("private_key_jwt"), "{methods}");
    let chosen = builder()
        .metadata_documents(
            MetadataDocuments::any_host().profile(jwt(TokenEndpointAuthMethod::PrivateKeyJwt)),
        )
        .build();
    assert!(matches!(
        chosen,
        Err(ConfigError::ClientAssertionsNeeded(_))
    ));
    let hmac_only = jwt(TokenEndpointAuthMethod::PrivateKeyJwt)
        .token_endpoint_auth_signing_alg_values(["HS256"]);
    let error = builder()
        .profile(hmac_only)
        .client_assertions(ClientAssertions::new())
        .build()
        .unwrap_err();
    assert!(matches!(error, ConfigError::InvalidProfile(_)), "{error}");
    let no_replay = builder()
        .store(NoReplayStore::default())
        .client_assertions(ClientAssertions::new())
        .build();
    assert!(
        matches!(no_replay, Err(ConfigError::InvalidClientAssertions(m)) if m.contains("replay"))
    );
    builder()
        .store(NoReplayStore::default())
        .client_assertions(
            ClientAssertions::new().replay_store(tower_dcr::store::MemoryReplayStore::new()),
        )
        .build()
        .unwrap();
    for rules in [
        ClientAssertions::new().issuer_audience(false),
        ClientAssertions::new()
            .audience_rule(AudienceRule::Rfc7523)
            .issuer_audience(false),
        ClientAssertions::new().max_lifetime(Duration::ZERO),
        ClientAssertions::new().max_live_assertions_per_client(0),
    ] {
        let error = builder().client_assertions(rules).build().unwrap_err();
        assert!(
            matches!(error, ConfigError::InvalidClientAssertions(_)),
            "{error}"
        );
    }
}

/// RFC 7468 §5.1: a `root_certificate_pem` that holds no
/// certificate, or that a custom fetcher would ignore, fails `build()`
/// instead of every fetch.
#[test]
fn build_refuses_a_root_certificate_pem_that_cannot_be_used() {
    use tower_dcr::ConfigError;
    let builder = || {
        Registration::builder(ISSUER)
            .open()
            .client_assertions(ClientAssertions::new())
    };
    let garbage = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
    for pem in ["not a PEM at all", garbage] {
        let error = builder()
            .metadata_documents(MetadataDocuments::any_host().root_certificate_pem(pem))
            .build()
            .unwrap_err();
        assert!(
            matches!(error, ConfigError::InvalidMetadataDocuments(_)),
            "{error}"
        );
        let error = Registration::builder(ISSUER)
            .open()
            .client_assertions(ClientAssertions::new().root_certificate_pem(pem))
            .build()
            .unwrap_err();
        assert!(
            matches!(error, ConfigError::InvalidClientAssertions(_)),
            "{error}"
        );
    }
    let fetcher = tower_dcr::fetch::GuardedFetcher::new().unwrap();
    let ignored = builder()
        .metadata_documents(
            MetadataDocuments::any_host()
                .fetcher(fetcher)
                .root_certificate_pem(garbage),
        )
        .build();
    assert!(
        matches!(ignored, Err(ConfigError::InvalidMetadataDocuments(m)) if m.contains("custom fetcher"))
    );
}
