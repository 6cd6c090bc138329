//! JSON Web Signatures (RFC 7515) as this crate verifies them: the algorithms
//! and public keys, one allow-list and one key decoder, read by software
//! statements and client assertions alike (the metadata members that name
//! algorithms are [`crate::metadata::JoseAlgorithms`]).
//!
//! `none` is never on the list, and an algorithm is only ever checked with a key
//! of its own type, so a public key can never serve as an HMAC secret.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

/// Every algorithm a signature may ever use, asymmetric first.
pub(crate) const ALLOW_LIST: [Algorithm; 12] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
];

/// Smallest RSA modulus accepted (RFC 7518 §3.3).
pub(crate) const MIN_RSA_BITS: usize = 2048;

/// The name of an allowed algorithm (`"unsupported"` for any other).
pub(crate) fn alg_name(alg: Algorithm) -> &'static str {
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
        _ => "unsupported",
    }
}

/// The allowed algorithm called `name` (case-sensitive, RFC 7518 §3.1).
pub(crate) fn parse_alg(name: &str) -> Option<Algorithm> {
    ALLOW_LIST.into_iter().find(|a| alg_name(*a) == name)
}

/// The kind of public key an algorithm is verified with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    /// The key kind `alg` needs; `None` for the HMAC algorithms.
    pub(crate) fn for_alg(alg: Algorithm) -> Option<Self> {
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
pub(crate) fn min_hmac_bytes(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

/// One decoded public key.
#[derive(Clone)]
pub(crate) struct PublicKey {
    pub(crate) kid: Option<String>,
    /// The JWK's `alg`, when it names one; the key is then used only with it.
    pub(crate) alg: Option<Algorithm>,
    pub(crate) kind: KeyKind,
    pub(crate) key: DecodingKey,
}

#[cfg_attr(not(feature = "client-assertion"), allow(dead_code))]
impl PublicKey {
    /// Whether this key may check a signature made with `alg`, naming `kid`.
    pub(crate) fn fits(&self, alg: Algorithm, kid: Option<&str>) -> bool {
        KeyKind::for_alg(alg) == Some(self.kind)
            && self.alg.is_none_or(|a| a == alg)
            && (kid.is_none() || self.kid.as_deref() == kid)
    }
}

/// Decodes one public signing key of a JWK Set.
pub(crate) fn decode_public_key(jwk: &Jwk) -> Result<PublicKey, &'static str> {
    if matches!(
        &jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return Err("a key whose \"use\" is not \"sig\"");
    }
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(a) => Some(parse_alg(&a.to_string()).ok_or("a key whose \"alg\" is not allowed")?),
    };
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let n = URL_SAFE_NO_PAD
                .decode(rsa.n.trim_end_matches('='))
                .map_err(|_| "an RSA key whose modulus is not base64url")?;
            let bits = n.iter().position(|b| *b != 0).map_or(0, |first| {
                (n.len() - first) * 8 - n[first].leading_zeros() as usize
            });
            if bits < MIN_RSA_BITS {
                return Err("an RSA key smaller than 2048 bits (RFC 7518 §3.3)");
            }
            KeyKind::Rsa
        }
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => KeyKind::P256,
            EllipticCurve::P384 => KeyKind::P384,
            _ => return Err("an EC key on an unsupported curve"),
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => KeyKind::Ed25519,
            _ => return Err("an OKP key on an unsupported curve"),
        },
        AlgorithmParameters::OctetKey(_) => {
            return Err("a symmetric (\"oct\") key in a JWK Set");
        }
        _ => return Err("a key of an unsupported type"),
    };
    if let Some(a) = alg
        && KeyKind::for_alg(a) != Some(kind)
    {
        return Err("a key whose \"alg\" does not match its type");
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| "a key that cannot be decoded")?;
    Ok(PublicKey {
        kid: jwk.common.key_id.clone(),
        alg,
        kind,
        key,
    })
}

#[cfg_attr(not(feature = "client-assertion"), allow(dead_code))]
/// Decodes the signing keys of a JWK Set, skipping keys that are not for
/// signatures or of an unsupported type; an error when it is not a JWK Set.
pub(crate) fn decode_jwk_set(set: &Value) -> Result<Vec<PublicKey>, &'static str> {
    let set: JwkSet = serde_json::from_value(set.clone()).map_err(|_| "not a JWK Set")?;
    Ok(set
        .keys
        .iter()
        .filter_map(|jwk| decode_public_key(jwk).ok())
        .collect())
}

#[cfg_attr(not(feature = "client-assertion"), allow(dead_code))]
/// Whether `signature` (base64url) over `signing_input` verifies with `key`
/// under `alg`.
pub(crate) fn verify(
    alg: Algorithm,
    key: &DecodingKey,
    signing_input: &str,
    signature: &Vec<u8>,
) -> bool {
    #[cfg(test)]
    VERIFIED_ON_THIS_THREAD.with(|count| count.set(count.get() + 1));
    (DEFAULT_PROVIDER.verifier_factory)(&alg, key)
        .is_ok_and(|v| v.verify(signing_input.as_bytes(), signature).is_ok())
}

#[cfg(test)]
thread_local! {
    /// How many signatures [`verify`] checked on the current thread, so tests
    /// can see on which thread signature work runs.
    pub(crate) static VERIFIED_ON_THIS_THREAD: std::cell::Cell<usize> =
        const { std::cell::Cell::new(0) };
}

#[cfg_attr(not(feature = "client-assertion"), allow(dead_code))]
/// One part of a compact JWS, base64url-decoded and parsed as a JSON object.
pub(crate) fn json_part(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

#[cfg_attr(not(feature = "client-assertion"), allow(dead_code))]
/// A NumericDate claim (RFC 7519 §2) in whole seconds: `Ok(None)` when absent,
/// `Err` when not a non-negative number.
pub(crate) fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, ()> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) => Ok(Some(n)),
            None => match v.as_f64() {
                Some(f) if f.is_finite() && f >= 0.0 => Ok(Some(f.floor() as u64)),
                _ => Err(()),
            },
        },
    }
}
