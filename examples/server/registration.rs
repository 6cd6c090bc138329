//! The registration service: its profiles and who may register. Shared by the
//! server and the `admin` commands, so tokens minted by `admin` name profiles
//! the server knows.

use std::sync::Arc;

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
    builder.build()
}
