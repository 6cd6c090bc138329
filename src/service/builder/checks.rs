//! Configurations that could never work, refused by
//! [`RegistrationBuilder::build`] rather than failing every request: client
//! authentication methods nothing can verify, and certificate authorities
//! that would be ignored.
//!
//! Checked here: a profile (default, named, or a URL-client one) that allows
//! `private_key_jwt` or `client_secret_jwt` without
//! `client_assertions`; a
//! `private_key_jwt` profile whose signing algorithm list has no asymmetric
//! algorithm; client assertions without a replay store (neither their own nor
//! the client store's); an `aud` rule that accepts nothing; a zero maximum
//! lifetime or per-client bound; a `root_certificate_pem` that holds no
//! certificate, or that a custom fetcher would ignore.

use std::collections::HashMap;
use std::sync::Arc;

use super::{ConfigError, RegistrationBuilder};
use crate::metadata::TokenEndpointAuthMethod;
use crate::policy::Profile;
use crate::store::ClientStore;

impl RegistrationBuilder {
    /// Each `root_certificate_pem` holds a certificate, and is used.
    pub(super) fn check_root_certificates(&self) -> Result<(), ConfigError> {
        #[cfg(feature = "client-id-metadata-document")]
        if let Some(policy) = &self.metadata_documents {
            check_root_certificates(&policy.root_certificates, policy.fetcher.is_some())
                .map_err(ConfigError::InvalidMetadataDocuments)?;
        }
        #[cfg(feature = "client-assertion")]
        if let Some(rules) = &self.client_assertions {
            check_root_certificates(&rules.root_certificates, rules.fetcher.is_some())
                .map_err(ConfigError::InvalidClientAssertions)?;
        }
        Ok(())
    }

    /// Every JWT method a profile allows can be verified, and the client
    /// assertion rules can accept an assertion. Run once the URL-client
    /// profiles are among the named ones (`profiles`).
    pub(super) fn check_client_authentication(
        profile: &Profile,
        profiles: &HashMap<String, Profile>,
        store: Option<&Arc<dyn ClientStore>>,
        #[cfg(feature = "client-assertion")] rules: Option<
            &crate::client_assertion::ClientAssertions,
        >,
    ) -> Result<(), ConfigError> {
        #[cfg(feature = "client-assertion")]
        let assertions = rules.is_some();
        #[cfg(not(feature = "client-assertion"))]
        let assertions = false;
        check_jwt_methods("default", profile, assertions)?;
        for (name, profile) in profiles {
            check_jwt_methods(name, profile, assertions)?;
        }
        #[cfg(feature = "client-assertion")]
        if let Some(rules) = rules {
            let store_replay = store.is_none_or(|s| s.assertion_replay().is_some());
            rules
                .check(store_replay)
                .map_err(ConfigError::InvalidClientAssertions)?;
        }
        #[cfg(not(feature = "client-assertion"))]
        let _ = store;
        Ok(())
    }
}

/// A JWT auth method needs the assertion verifier, and `private_key_jwt` an
/// asymmetric algorithm to verify with.
fn check_jwt_methods(name: &str, profile: &Profile, assertions: bool) -> Result<(), ConfigError> {
    for method in [
        TokenEndpointAuthMethod::PrivateKeyJwt,
        TokenEndpointAuthMethod::ClientSecretJwt,
    ] {
        if !profile.token_endpoint_auth_methods.contains(&method) {
            continue;
        }
        if !assertions {
            return Err(ConfigError::ClientAssertionsNeeded(format!(
                "profile \"{name}\" allows {method}"
            )));
        }
        let asymmetric = profile
            .token_endpoint_auth_signing_algs()
            .iter()
            .any(|alg| !alg.starts_with("HS"));
        if method == TokenEndpointAuthMethod::PrivateKeyJwt && !asymmetric {
            return Err(ConfigError::InvalidProfile(format!(
                "profile \"{name}\" allows private_key_jwt, but none of its \
                 token_endpoint_auth_signing_alg values is asymmetric"
            )));
        }
    }
    Ok(())
}

/// Each PEM must hold at least one certificate, and is used only by the
/// built-in fetcher.
#[cfg(any(feature = "client-id-metadata-document", feature = "client-assertion"))]
fn check_root_certificates(pems: &[Vec<u8>], custom_fetcher: bool) -> Result<(), String> {
    if custom_fetcher && !pems.is_empty() {
        return Err(
            "root_certificate_pem is ignored by a custom fetcher: give the fetcher the CA".into(),
        );
    }
    for (i, pem) in pems.iter().enumerate() {
        if !holds_certificates(pem) {
            return Err(format!(
                "root_certificate_pem #{i} holds no PEM certificate \
                 (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----)"
            ));
        }
    }
    Ok(())
}

/// Whether `pem` has at least one `CERTIFICATE` block, and each such block
/// is base64 of a DER `SEQUENCE` (RFC 7468 §5.1).
#[cfg(any(feature = "client-id-metadata-document", feature = "client-assertion"))]
fn holds_certificates(pem: &[u8]) -> bool {
    use base64::Engine as _;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let Ok(mut text) = std::str::from_utf8(pem) else {
        return false;
    };
    let mut found = false;
    while let Some(start) = text.find(BEGIN) {
        let rest = &text[start + BEGIN.len()..];
        let Some(end) = rest.find(END) else {
            return false;
        };
        let body: String = rest[..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        match base64::engine::general_purpose::STANDARD.decode(body) {
            Ok(der) if der.first() == Some(&0x30) => found = true,
            _ => return false,
        }
        text = &rest[end + END.len()..];
    }
    found
}

#[cfg(all(
    test,
    any(feature = "client-id-metadata-document", feature = "client-assertion")
))]
mod tests {
    use super::*;

    #[test]
    fn rfc7468_5_1_a_pem_must_hold_a_certificate() {
        assert!(!holds_certificates(b"not a pem"));
        assert!(!holds_certificates(b""));
        assert!(!holds_certificates(
            b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"
        ));
        assert!(!holds_certificates(b"-----BEGIN CERTIFICATE-----\nMAA=\n"));
        assert!(holds_certificates(
            b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"
        ));
    }
}
