//! The registration part of an authorization server's metadata document
//! (RFC 8414 §2, OpenID Connect Discovery 1.0 §3).

use serde_json::{Map, Value, json};

use crate::metadata::TokenEndpointAuthMethod;
use crate::service::Registration;

impl Registration {
    /// The members this service contributes to the host's RFC 8414 / OpenID
    /// Connect discovery document: `registration_endpoint` and the
    /// `*_supported` lists that registration really enforces. Merge them into
    /// the host's own document.
    ///
    /// ```
    /// use tower_dcr::Registration;
    ///
    /// let dcr = Registration::builder("https://auth.example.com").open().build().unwrap();
    /// let mut document = serde_json::Map::new();
    /// document.insert("issuer".into(), "https://auth.example.com".into());
    /// document.extend(dcr.discovery_metadata());
    /// assert_eq!(document["registration_endpoint"], "https://auth.example.com/register");
    /// ```
    pub fn discovery_metadata(&self) -> Map<String, Value> {
        let config = self.config();
        let profile = &config.profile;
        let algorithms = &profile.algorithms;
        let mut m = Map::new();
        m.insert(
            "registration_endpoint".into(),
            config.registration_endpoint.clone().into(),
        );
        let methods = &profile.token_endpoint_auth_methods;
        m.insert(
            "token_endpoint_auth_methods_supported".into(),
            json!(methods.iter().map(|m| m.as_str()).collect::<Vec<_>>()),
        );
        m.insert(
            "grant_types_supported".into(),
            json!(
                profile
                    .grant_types
                    .iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
            ),
        );
        m.insert(
            "response_types_supported".into(),
            json!(
                profile
                    .response_types
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
            ),
        );
        if let Some(scopes) = &profile.scopes {
            m.insert("scopes_supported".into(), json!(scopes));
        }
        m.insert(
            "subject_types_supported".into(),
            json!(
                profile
                    .subject_types
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
            ),
        );
        let lists = [
            (
                "id_token_signing_alg_values_supported",
                &algorithms.id_token_signing,
            ),
            (
                "id_token_encryption_alg_values_supported",
                &algorithms.id_token_encryption_alg,
            ),
            (
                "id_token_encryption_enc_values_supported",
                &algorithms.id_token_encryption_enc,
            ),
            (
                "userinfo_signing_alg_values_supported",
                &algorithms.userinfo_signing,
            ),
            (
                "userinfo_encryption_alg_values_supported",
                &algorithms.userinfo_encryption_alg,
            ),
            (
                "userinfo_encryption_enc_values_supported",
                &algorithms.userinfo_encryption_enc,
            ),
            (
                "request_object_signing_alg_values_supported",
                &algorithms.request_object_signing,
            ),
            (
                "request_object_encryption_alg_values_supported",
                &algorithms.request_object_encryption_alg,
            ),
            (
                "request_object_encryption_enc_values_supported",
                &algorithms.request_object_encryption_enc,
            ),
        ];
        for (name, values) in lists {
            if !values.is_empty() {
                m.insert(name.into(), json!(values));
            }
        }
        let jwt_auth = methods.iter().any(|m| {
            matches!(
                m,
                TokenEndpointAuthMethod::PrivateKeyJwt | TokenEndpointAuthMethod::ClientSecretJwt
            )
        });
        if jwt_auth {
            m.insert(
                "token_endpoint_auth_signing_alg_values_supported".into(),
                json!(algorithms.token_endpoint_auth_signing),
            );
        }
        m
    }
}
