//! OAuth 2.0 Dynamic Client Registration for any Rust authorization server, as a
//! tower [`Service`](tower_service::Service).
//!
//! tower-dcr implements the server side of
//! [RFC 7591](https://www.rfc-editor.org/rfc/rfc7591) (registration),
//! [RFC 7592](https://www.rfc-editor.org/rfc/rfc7592) (read, update and delete
//! with a registration access token) and
//! [OpenID Connect Dynamic Client Registration 1.0](https://openid.net/specs/openid-connect-registration-1_0.html),
//! with the redirect URI rules of [RFC 8252](https://www.rfc-editor.org/rfc/rfc8252)
//! for native apps. Clients POST their metadata and get back a `client_id`, a
//! `client_secret` when their auth method needs one, and a registration access
//! token with which they manage their registration.
//!
//! # Quick start
//!
//! ```
//! use axum::Router;
//! use tower_dcr::{MemoryStore, Registration};
//!
//! let dcr = Registration::builder("https://auth.example.com")
//!     .open()                       // or .access(Access::protected([...]))
//!     .store(MemoryStore::new())
//!     .build()
//!     .expect("valid configuration");
//!
//! let app: Router = Router::new()
//!     .nest_service("/register", dcr.clone());
//! ```
//!
//! The same service mounts in front of any tower stack with
//! [`Registration::layer`], and [`Registration::discovery_metadata`] gives the
//! members to merge into the host's RFC 8414 metadata document (say what the
//! host is with [`RegistrationBuilder::server_kind`]).
//!
//! # In the host's own endpoints
//!
//! [`host`] has what the token and authorization endpoints need for the
//! clients registered here: [`Registration::authenticate_token_request`]
//! authenticates a client as it registered (RFC 6749 §2.3.1) and answers
//! failures with [`host::TokenError`], the RFC 6749 §5.2 error as an
//! `http::Response` axum returns as is; [`Registration::check_redirect_uri`]
//! matches redirect URIs (RFC 8252 §7.3). `examples/host_app.rs` is a small
//! authorization server built this way.
//!
//! # Guide
//!
//! - [Configuration](config): every builder method and profile rule with its
//!   default, and
//!   [operating an open registration endpoint](config#operating-an-open-registration-endpoint)
//!   (rate limit, quotas, reaping, events, metrics; settings for MCP servers).
//! - [What a client gets, and what is stored](Registration#what-a-client-gets-and-what-is-stored):
//!   the four operations of RFC 7591 and RFC 7592.
//! - [Securing registration](policy): open or protected, initial access
//!   tokens, profiles, the hook, software statements, what is refused and why.
//! - [Host helpers](host): your token and authorization endpoints, PKCE,
//!   discovery.
//! - [URL client ids][metadata_document] (Client ID Metadata Documents, feature
//!   `client-id-metadata-document`) and [client assertions][client_assertion]
//!   (`private_key_jwt`, `client_secret_jwt`, feature `client-assertion`).
//! - [The registration client][client] (feature `client`): register with any
//!   RFC 7591 server (discovering its endpoint), then read, update and delete
//!   the registration (RFC 7592).
//! - [Stores](store): memory, SQLite, PostgreSQL, and your own.
//!
//! # Security
//!
//! - Secrets (client secrets, registration access tokens) are 256 bits from the
//!   OS CSPRNG; only their SHA-256 digests are stored (except the HMAC key of a
//!   `client_secret_jwt` client), and they are compared in constant time.
//! - [`Secret`] and every type holding one print `[redacted]` in `Debug`.
//! - Every bad input gets a 4xx with an RFC 7591 or RFC 6750 error body; a store
//!   failure gets a `503` with `Retry-After`; a corrupt stored record (which no
//!   retry fixes) a `500` `server_error`, logged at error level.
//! - Response URLs are built from the configured issuer, never from `Host`.
//!
//! # Cargo features
//!
#![doc = include_str!("../docs/features.md")]
//!
// Links to feature-gated modules: to the module when it is built, else to
// its page on docs.rs (built with every feature).
#![cfg_attr(
    feature = "client-id-metadata-document",
    doc = "[metadata_document]: crate::metadata_document"
)]
#![cfg_attr(
    not(feature = "client-id-metadata-document"),
    doc = "[metadata_document]: https://docs.rs/tower-dcr/latest/tower_dcr/metadata_document/index.html"
)]
#![cfg_attr(
    feature = "client-assertion",
    doc = "[client_assertion]: crate::client_assertion"
)]
#![cfg_attr(
    not(feature = "client-assertion"),
    doc = "[client_assertion]: https://docs.rs/tower-dcr/latest/tower_dcr/client_assertion/index.html"
)]
#![cfg_attr(feature = "client", doc = "[client]: crate::client")]
#![cfg_attr(
    not(feature = "client"),
    doc = "[client]: https://docs.rs/tower-dcr/latest/tower_dcr/client/index.html"
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unreachable_pub)]

// Layers, lowest first: a module uses only its own layer's leaves and the
// layers below it, and a type lives with its impls (`tests/layering.rs`
// checks this).
//   leaves:   credentials, error, response, time, events, fetch, fetch_cache,
//             jws, rate_limit, metrics
//   metadata: the client metadata and the rules of the specifications
//   policy:   profiles and their enforcement, the hook, sector identifiers,
//             software statements
//   store:    where clients live
//   config:   the runtime configuration; the policies, runtime state and
//             checks of URL clients (metadata_document) and client assertions
//             (client_assertion)
//   endpoint: the pipeline of the four operations (it decides every fetch)
//   service:  `Registration` and all its impls: the builder, the tower Service
//             and Layer, the futures, tokens, the reaper, discovery, the host
//             helpers (`host`)
//   client:   the registration client (aside: leaves and metadata only)

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
#[cfg(feature = "client-assertion")]
#[cfg_attr(docsrs, doc(cfg(feature = "client-assertion")))]
pub mod client_assertion;
pub mod config;
mod credentials;
mod endpoint;
mod error;
pub mod events;
#[cfg(feature = "fetch")]
#[cfg_attr(docsrs, doc(cfg(feature = "fetch")))]
pub mod fetch;
#[cfg(any(feature = "client-id-metadata-document", feature = "client-assertion"))]
mod fetch_cache;
#[cfg(any(feature = "software-statement", feature = "client-assertion"))]
mod jws;
pub mod metadata;
#[cfg(feature = "client-id-metadata-document")]
#[cfg_attr(docsrs, doc(cfg(feature = "client-id-metadata-document")))]
pub mod metadata_document;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub mod policy;
#[cfg(feature = "rate-limit")]
#[cfg_attr(docsrs, doc(cfg(feature = "rate-limit")))]
pub mod rate_limit;
mod response;
mod service;
#[cfg(feature = "software-statement")]
#[cfg_attr(docsrs, doc(cfg(feature = "software-statement")))]
pub mod software_statement;
pub mod store;
mod time;

// The README's Rust snippets, compiled as doc tests (`cargo test --doc
// --all-features`): every snippet a user copies compiles.
#[cfg(all(doctest, feature = "sqlite"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use config::{Access, RatRotation, ServerKind, StaticToken};
pub use credentials::{RandomError, Secret, SecretDigest, generate_client_id};
pub use error::{BoxError, ErrorCode, RegistrationError, Rejection};
pub use metadata::{
    ApplicationType, ClientMetadata, GrantType, JoseAlgorithms, Limits, Localized, ResponseType,
    SubjectType, TlsClientAuthBinding, TokenEndpointAuthMethod, UnknownValue, WellKnown,
};
pub use policy::{Profile, UnknownScope};
pub use response::ResponseBody;
pub use service::{
    ConfigError, Dcr, DcrLayer, InitialAccessTokenOptions, MintError, Reaper, ReaperConfig,
    Registration, RegistrationBuilder, SweepReport,
};
#[allow(deprecated)]
pub use service::{RegistrationLayer, RegistrationService};
pub use service::{future, host};
#[cfg(feature = "software-statement")]
#[cfg_attr(docsrs, doc(cfg(feature = "software-statement")))]
pub use software_statement::{SoftwareStatementVerifier, TrustedIssuer};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use store::PostgresStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use store::SqliteStore;
pub use store::{ClientRecord, ClientStore, MemoryStore, Quotas, StoreError};
