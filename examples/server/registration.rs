//! The registration service: its profiles and who may register. Shared by the
//! server and the `admin` commands, so tokens minted by `admin` name profiles
//! the server knows.

use std::sync::Arc;
use tower_dcr::client_assertion::ClientAssertions;
use tower_dcr::metadata_document::MetadataDocuments;

use tower_dcr::{
    ClientRecord, ClientStore, ConfigError, GrantType, Profile, Registration,
    TokenEndpointAuthMethod,
};

/// Who may register clients. No `Debug`: it holds the static tokens.
#[derive(Clone)]
pub enum Access {
    /// Anyone (RFC 7591 §3 open registration).
    Open,
    /// Only with an initial access token: one of these static tokens, or one
    /// minted by `server admin create-token` and kept by the store.
    Protected { static_tokens: Vec<String> },
}

/// The named profiles an initial access token can carry.
pub fn named_profiles() -> Vec<(&'static str, Profile)> {
    vec![
        // Auth0's rules for third-party apps: code + refresh only, PKCE required.
        ("third-party", Profile::auth0_third_party()),
        // Public clients only (agents, native and browser apps), PKCE required.
        (
            "public",
            Profile::default()
                .token_endpoint_auth_methods([TokenEndpointAuthMethod::None])
                .default_token_endpoint_auth_method(TokenEndpointAuthMethod::None)
                .grant_types([GrantType::AUTHORIZATION_CODE, GrantType::REFRESH_TOKEN])
                .require_pkce(true),
        ),
    ]
}

/// Whether the client must use PKCE: public clients always (RFC 9700 §2.1.1),
/// others when their profile says so, or when their profile is unknown here.
pub fn pkce_required(dcr: &Registration, record: &ClientRecord) -> bool {
    record.metadata.auth_method() == TokenEndpointAuthMethod::None
        || dcr.profile_of(record).is_none_or(|p| p.pkce_required())
}

/// Builds the registration service.
pub fn build(
    issuer: &str,
    access: &Access,
    store: Arc<dyn ClientStore>,
) -> Result<Registration, ConfigError> {
    build_with_url_clients(issuer, access, store, None)
}

/// The URL-client policy of `--client-id-metadata-documents any|HOST[,HOST…]`
/// and `--metadata-document-ca PEM_FILE`; loopback documents only when the
/// server itself is on loopback (development).
pub fn url_client_policy(
    hosts: &str,
    ca_pem: Option<Vec<u8>>,
    issuer_on_loopback: bool,
) -> MetadataDocuments {
    let mut policy = if hosts == "any" {
        MetadataDocuments::any_host()
    } else {
        MetadataDocuments::hosts(hosts.split(',').map(str::trim).filter(|h| !h.is_empty()))
    };
    if let Some(pem) = ca_pem {
        policy = policy.root_certificate_pem(pem);
    }
    policy.loopback_documents(issuer_on_loopback)
}

/// [`build`], with URL client ids when `url_clients` is given. JWT client
/// assertions (`private_key_jwt`, `client_secret_jwt`) are verified with `aud`
/// the issuer or `{issuer}/token`.
pub fn build_with_url_clients(
    issuer: &str,
    access: &Access,
    store: Arc<dyn ClientStore>,
    url_clients: Option<MetadataDocuments>,
) -> Result<Registration, ConfigError> {
    let mut builder = Registration::builder(issuer)
        .endpoint("/register")
        .shared_store(store)
        .profile(Profile::default());
    for (name, profile) in named_profiles() {
        builder = builder.named_profile(name, profile);
    }
    builder = match access {
        Access::Open => builder.open(),
        Access::Protected { static_tokens } if static_tokens.is_empty() => builder.protected(),
        Access::Protected { static_tokens } => builder.initial_access_tokens(static_tokens),
    };
    if let Some(policy) = url_clients {
        builder = builder.metadata_documents(policy);
    }
    builder
        .client_assertions(
            ClientAssertions::new()
                .token_endpoint(format!("{}/token", issuer.trim_end_matches('/'))),
        )
        .build()
}
