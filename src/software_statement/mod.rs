//! Software statements (RFC 7591 §2.3, §3.1.1): signed JWTs in which a trusted
//! party (the statement's `iss`) vouches for client metadata.
//!
//! A [`SoftwareStatementVerifier`] holds the issuers the server trusts, each with
//! its public keys (a JWK Set) and/or a shared HMAC key, and optionally the
//! `software_id` values it approves. For a registration request it:
//!
//! 1. reads the header and the *unverified* `iss`, to know whose keys to use;
//! 2. picks that issuer's keys: the `kid` one when the header names a `kid`,
//!    else every key of the type the header's `alg` needs;
//! 3. verifies the signature, then `exp` and `nbf` (with a small leeway), `aud`
//!    when present, and the approved `software_id` list;
//! 4. returns the claims to merge over the request's JSON members (RFC 7591
//!    §3.1.1: the statement's values take precedence).
//!
//! Algorithms come from a fixed allow-list: `RS256`, `RS384`, `RS512`, `PS256`,
//! `PS384`, `PS512`, `ES256`, `ES384`, `EdDSA`, and `HS256`, `HS384`, `HS512`
//! only for an issuer configured with a shared key. `none` is never accepted,
//! and neither is an `alg` that does not match the key it would be checked
//! with, so a public key can never serve as an HMAC secret. Keys carried in the
//! statement itself (`jwk`, `jku`, `x5c`, `x5u` headers) are never used.
//!
//! ```
//! use serde_json::{Map, Value, json};
//! use tower_dcr::software_statement::{SoftwareStatementVerifier, TrustedIssuer};
//!
//! let jwks = json!({"keys": [{
//!     "kty": "EC", "crv": "P-256", "kid": "2024-01", "alg": "ES256", "use": "sig",
//!     "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
//!     "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
//! }]});
//! let verifier = SoftwareStatementVerifier::builder()
//!     .trusted_issuer(
//!         TrustedIssuer::new("https://statements.example.org")
//!             .jwks(jwks)
//!             .software_ids(["4NRB1-0XZABZI9E6-5SM3R"]),
//!     )
//!     .build()
//!     .expect("valid configuration");
//!
//! // In the registration pipeline, on the request's JSON object:
//! let mut body: Map<String, Value> = Map::new();
//! let now = 1_700_000_000;
//! assert!(!verifier.apply(&mut body, now).unwrap()); // no statement, none required
//! ```

use std::time::Duration;

mod issuer;
mod keys;
mod verifier;

// One table of algorithms and key kinds, shared with client assertions
// (`crate::jws`): `signing_alg_values` lists the allow-list in its order.
use crate::jws::{
    ALLOW_LIST, KeyKind, PublicKey, alg_name, decode_public_key, min_hmac_bytes, parse_alg,
};
pub use issuer::{SoftwareStatementConfigError, SoftwareStatementVerifierBuilder, TrustedIssuer};
use keys::*;
pub use verifier::SoftwareStatementVerifier;
use verifier::*;

/// The request member that carries the statement (RFC 7591 §2.3).
pub const SOFTWARE_STATEMENT: &str = "software_statement";

/// Members a software statement can never set: the credentials and endpoints
/// the server issues (RFC 7591 §3.2.1, RFC 7592 §3), the statement itself, and
/// the JWT registered claims (RFC 7519 §4.1), which describe the statement, not
/// the client. [`SoftwareStatementVerifier::verify`] drops them from the claims
/// it returns; `software_id`, `software_version` and every other member stay.
pub const NEVER_OVERRIDDEN: [&str; 14] = [
    "client_id",
    "client_secret",
    "registration_access_token",
    "registration_client_uri",
    "client_id_issued_at",
    "client_secret_expires_at",
    SOFTWARE_STATEMENT,
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
];

/// The default clock leeway for `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// Smallest shared HMAC key (RFC 7518 §3.2: at least the size of the HS256 hash).
pub(super) const MIN_HMAC_BYTES: usize = 32;
