//! Client metadata: the typed members of RFC 7591 §2 and OpenID Connect Dynamic
//! Client Registration 1.0 §2, plus the extension members the server accepts.
//!
//! [`ClientMetadata`] is what a client registers and what the server stores and
//! echoes. Parsing ([`ClientMetadata::from_json_object`]) checks JSON types only;
//! the rules of the specifications live in the validator, run by the service
//! with the configured [`Profile`](crate::Profile).

pub(crate) mod display;
pub(crate) mod jose;
pub(crate) mod json;
mod limits;
mod localized;
pub(crate) mod redirect_uri;
pub(crate) mod tls_client_auth;
mod types;
pub(crate) mod unique_object;
pub(crate) mod validate;
mod well_known;

pub use jose::JoseAlgorithms;
pub use limits::Limits;
pub use localized::Localized;
pub use tls_client_auth::TlsClientAuthBinding;
pub use types::{
    ApplicationType, GrantType, ResponseType, SubjectType, TokenEndpointAuthMethod, UnknownValue,
};
pub use well_known::{InvalidIssuer, WellKnown};

use json::{Algorithms, Binding, Flag, KeySet, Keyword, List, Seconds, Text, Translatable};
use serde_json::Value;

json::client_metadata! {
    /// Registered client metadata (RFC 7591 §2, OpenID Connect DCR 1.0 §2).
    ///
    /// Every member is optional on the wire. Values are kept exactly as the client
    /// sent them (URIs are never normalized), so the response echoes the same strings
    /// and redirect URIs compare by exact string.
    ///
    /// Build one from [`ClientMetadata::default`] or
    /// [`ClientMetadata::from_json_object`] and set its fields; the JOSE
    /// algorithm members and the certificate binding are reached through
    /// [`algorithms`](Self::algorithms) and
    /// [`tls_client_auth`](Self::tls_client_auth).
    pub struct ClientMetadata {
        /// `redirect_uris`: redirection URIs for redirect-based flows.
        pub redirect_uris: Option<Vec<String>> = List<String>,
        /// `token_endpoint_auth_method`: how the client authenticates at the token endpoint.
        pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod> =
            Keyword<TokenEndpointAuthMethod>,
        /// `grant_types`: grant types the client will use.
        pub grant_types: Option<Vec<GrantType>> = List<GrantType>,
        /// `response_types`: response types the client will use.
        pub response_types: Option<Vec<ResponseType>> = List<ResponseType>,
        /// `client_name`, human-readable, with language variants.
        pub client_name: Localized = Translatable,
        /// `client_uri`: the client's home page, with language variants.
        pub client_uri: Localized = Translatable,
        /// `logo_uri`: the client's logo, with language variants.
        pub logo_uri: Localized = Translatable,
        /// `scope`: space-separated scope values the client may request.
        pub scope: Option<String> = Text,
        /// `contacts`: e-mail addresses of people responsible for the client.
        pub contacts: Option<Vec<String>> = List<String>,
        /// `tos_uri`: terms of service, with language variants.
        pub tos_uri: Localized = Translatable,
        /// `policy_uri`: privacy policy, with language variants.
        pub policy_uri: Localized = Translatable,
        /// `jwks_uri`: URL of the client's JSON Web Key Set.
        pub jwks_uri: Option<String> = Text,
        /// `jwks`: the client's JSON Web Key Set by value (public keys only).
        pub jwks: Option<Value> = KeySet,
        /// `software_id`: identifier of the client software.
        pub software_id: Option<String> = Text,
        /// `software_version`: version of the client software.
        pub software_version: Option<String> = Text,
        /// `software_statement`: a signed JWT asserting metadata (RFC 7591 §2.3).
        pub software_statement: Option<String> = Text,
        /// `application_type` (OIDC): `web` or `native`.
        pub application_type: Option<ApplicationType> = Keyword<ApplicationType>,
        /// `sector_identifier_uri` (OIDC): https URL of a JSON array of redirect URIs.
        pub sector_identifier_uri: Option<String> = Text,
        /// `subject_type` (OIDC): `public` or `pairwise`.
        pub subject_type: Option<SubjectType> = Keyword<SubjectType>,
        // The JOSE algorithm members (`id_token_signed_response_alg`, …).
        algorithms: Option<Box<JoseAlgorithms>> = Algorithms,
        /// `default_max_age` (OIDC): seconds.
        pub default_max_age: Option<u64> = Seconds,
        /// `require_auth_time` (OIDC).
        pub require_auth_time: Option<bool> = Flag,
        /// `default_acr_values` (OIDC).
        pub default_acr_values: Option<Vec<String>> = List<String>,
        /// `initiate_login_uri` (OIDC): https URL a third party can use to start a login.
        pub initiate_login_uri: Option<String> = Text,
        /// `request_uris` (OIDC): pre-registered https `request_uri` values.
        pub request_uris: Option<Vec<String>> = List<String>,
        /// `post_logout_redirect_uris` (OpenID Connect RP-Initiated Logout 1.0).
        pub post_logout_redirect_uris: Option<Vec<String>> = List<String>,
        // The certificate binding of a `tls_client_auth` client
        // (`tls_client_auth_subject_dn`, `tls_client_auth_san_*`).
        tls_client_auth: Option<Box<TlsClientAuthBinding>> = Binding,
    }
}

/// An error about one member, named in the description: `invalid_redirect_uri`
/// for `redirect_uris`, `invalid_client_metadata` for the rest (RFC 7591 §3.2.2).
pub(crate) fn field_error(
    field: &str,
    problem: impl std::fmt::Display,
) -> crate::error::RegistrationError {
    let description = format!("{field}: {problem}");
    if field == "redirect_uris" {
        crate::error::RegistrationError::invalid_redirect_uri(description)
    } else {
        crate::error::RegistrationError::invalid_client_metadata(description)
    }
}

impl ClientMetadata {
    /// The registered JOSE algorithm members (all `None` when the client
    /// registered none).
    pub fn algorithms(&self) -> &JoseAlgorithms {
        self.algorithms.as_deref().unwrap_or(&jose::NO_ALGORITHMS)
    }

    /// The JOSE algorithm members, to set one.
    pub fn algorithms_mut(&mut self) -> &mut JoseAlgorithms {
        self.algorithms.get_or_insert_with(Box::default)
    }

    /// The JOSE algorithm members, to change them, if the client registered
    /// any.
    pub(crate) fn registered_algorithms_mut(&mut self) -> Option<&mut JoseAlgorithms> {
        self.algorithms.as_deref_mut()
    }

    /// The certificate binding of a `tls_client_auth` client (RFC 8705
    /// §2.1.2), if it registered one.
    pub fn tls_client_auth(&self) -> Option<&TlsClientAuthBinding> {
        self.tls_client_auth.as_deref()
    }

    /// The certificate binding, to set one of its members.
    pub fn tls_client_auth_mut(&mut self) -> &mut TlsClientAuthBinding {
        self.tls_client_auth.get_or_insert_with(Box::default)
    }

    /// The `token_endpoint_auth_method`, or the RFC 7591 default
    /// `client_secret_basic` when absent.
    pub fn auth_method(&self) -> TokenEndpointAuthMethod {
        self.token_endpoint_auth_method
            .unwrap_or(TokenEndpointAuthMethod::ClientSecretBasic)
    }

    /// The `application_type`, or the OIDC default `web` when absent.
    pub fn app_type(&self) -> ApplicationType {
        self.application_type.unwrap_or(ApplicationType::Web)
    }

    /// Whether the registered grant types include `grant_type`.
    pub fn has_grant_type(&self, grant_type: &GrantType) -> bool {
        self.grant_types
            .as_deref()
            .is_some_and(|g| g.contains(grant_type))
    }

    /// Whether this is an OpenID Connect client: its `scope` holds `openid` or
    /// one of its response types returns an ID Token.
    pub fn is_openid_client(&self) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|scope| scope.split(' ').any(|s| s == "openid"))
            || self
                .response_types
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|r| r.as_str().split(' ').any(|t| t == "id_token"))
    }

    /// The registered redirect URIs (empty when none).
    pub fn redirect_uris(&self) -> &[String] {
        self.redirect_uris.as_deref().unwrap_or_default()
    }
}
