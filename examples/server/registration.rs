//! The registration service: its profiles and who may register. Shared by the
//! server and the `admin` commands, so tokens minted by `admin` name profiles
//! the server knows.

use std::sync::Arc;

use tower_dcr::client_assertion::ClientAssertions;
use tower_dcr::metadata_document::MetadataDocuments;

use tower_dcr::Access;
use tower_dcr::rate_limit::RateLimit;
use tower_dcr::{
    ClientRecord, ClientStore, ConfigError, GrantType, Limits, Profile, Quotas, Registration,
    SubjectType, TokenEndpointAuthMethod,
};

use crate::{keys, scope};

/// The largest registration request accepted: enough for any real client's
/// metadata (a `jwks` with several RSA keys included), small enough that the
/// client cap bounds the store's size.
pub const MAX_REGISTRATION_BYTES: usize = 16 * 1024;

/// What keeps open registration from filling the store. No `Debug` needed.
#[derive(Clone, Copy)]
pub struct Abuse {
    /// Registrations per minute per client address (`0`: no limit).
    pub rate_per_minute: u32,
    /// The most registered clients (`0`: no cap).
    pub max_clients: u64,
}

impl Abuse {
    /// No limits: for the `admin` commands, which register nobody.
    pub const NONE: Self = Self {
        rate_per_minute: 0,
        max_clients: 0,
    };
}

/// What every profile of this server shares: the scope allow-list, and the
/// OpenID Connect values the endpoints here implement (ID tokens and userinfo
/// signed with [`keys::SIGNING_ALGS`], public or pairwise subjects, no
/// request objects, no encryption).
fn openid_provider(profile: Profile) -> Profile {
    profile
        .scopes(scope::SCOPES)
        .default_scope(scope::DEFAULT_SCOPE)
        .subject_types([SubjectType::Public, SubjectType::Pairwise])
        .id_token_signing_alg_values(keys::SIGNING_ALGS)
        .userinfo_signing_alg_values(keys::SIGNING_ALGS)
        .request_object_signing_alg_values(Vec::<String>::new())
}

/// The profile of clients registered without a named profile.
pub fn default_profile() -> Profile {
    openid_provider(Profile::default())
}

/// The named profiles an initial access token can carry.
pub fn named_profiles() -> Vec<(&'static str, Profile)> {
    vec![
        // Auth0's rules for third-party apps: code + refresh only, PKCE required.
        ("third-party", openid_provider(Profile::auth0_third_party())),
        // Public clients only (agents, native and browser apps), PKCE required.
        (
            "public",
            openid_provider(
                Profile::default()
                    .token_endpoint_auth_methods([TokenEndpointAuthMethod::None])
                    .default_token_endpoint_auth_method(TokenEndpointAuthMethod::None)
                    .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
                    .require_pkce(true),
            ),
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
    abuse: Abuse,
) -> Result<Registration, ConfigError> {
    build_with_url_clients(issuer, access, store, abuse, None)
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

/// Whether `issuer` is on a loopback host, which allows loopback metadata
/// documents (development; see [`url_client_policy`]).
pub fn issuer_on_loopback(issuer: &str) -> bool {
    url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .is_some_and(|h| matches!(h.as_str(), "127.0.0.1" | "[::1]" | "localhost"))
}

/// Refuses (fails closed) URL client ids with a loopback `--issuer` on a
/// listener beyond loopback: loopback documents follow the issuer, so any
/// host that can reach the listener could make the server fetch
/// `https://127.0.0.1:…`, a service on the server's own machine. Checked
/// before anything listens.
pub fn check_loopback_documents(args: &crate::cli::ServeArgs) -> Result<(), String> {
    let loopback_documents = args.client_id_metadata_documents.is_some()
        && args.issuer.as_deref().is_some_and(issuer_on_loopback);
    if loopback_documents && !args.addr.ip().is_loopback() {
        return Err(format!(
            "--client-id-metadata-documents with a loopback --issuer allows metadata documents \
             on loopback (development), but --addr {} listens beyond loopback: any host could \
             make this server fetch from its own machine. Listen on a loopback address, or \
             use an https --issuer on a public host",
            args.addr
        ));
    }
    Ok(())
}

/// [`build`], with URL client ids when `url_clients` is given. JWT client
/// assertions (`private_key_jwt`, `client_secret_jwt`) are verified with `aud`
/// the issuer or `{issuer}/token`.
pub fn build_with_url_clients(
    issuer: &str,
    access: &Access,
    store: Arc<dyn ClientStore>,
    abuse: Abuse,
    url_clients: Option<MetadataDocuments>,
) -> Result<Registration, ConfigError> {
    let mut builder = Registration::builder(issuer)
        .endpoint("/register")
        .store(store)
        .profile(default_profile())
        .limits(Limits {
            max_body_bytes: MAX_REGISTRATION_BYTES,
            ..Limits::default()
        });
    // The peer address is the `SocketAddr` extension the listener adds.
    builder = builder.rate_limit(
        std::num::NonZeroU32::new(abuse.rate_per_minute)
            .map_or_else(RateLimit::off, RateLimit::per_minute),
    );
    if abuse.max_clients > 0 {
        builder = builder.quotas(Quotas {
            max_clients: Some(abuse.max_clients),
            ..Quotas::default()
        });
    }
    for (name, profile) in named_profiles() {
        builder = builder.named_profile(name, profile);
    }
    builder = builder.access(access.clone());
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
