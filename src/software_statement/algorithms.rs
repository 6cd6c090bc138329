//! The allowed signing algorithms and the keys they need.

use jsonwebtoken::Algorithm;

use super::*;

pub(super) fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        // Algorithms jsonwebtoken may add later are not on the allow-list.
        _ => "unsupported",
    }
}

pub(super) fn parse_alg(name: &str) -> Option<Algorithm> {
    ALLOW_LIST.into_iter().find(|a| alg_name(*a) == name)
}

/// The kind of public key an algorithm is verified with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    /// The key kind `alg` needs; `None` for the HMAC algorithms.
    pub(super) fn for_alg(alg: Algorithm) -> Option<Self> {
        match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Some(Self::Rsa),
            Algorithm::ES256 => Some(Self::P256),
            Algorithm::ES384 => Some(Self::P384),
            Algorithm::EdDSA => Some(Self::Ed25519),
            _ => None,
        }
    }
}

/// Smallest HMAC key for `alg` (RFC 7518 §3.2: the size of the hash output).
pub(super) fn min_hmac_bytes(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => MIN_HMAC_BYTES,
    }
}
