//! Issuers' keys, decoded, and signature checks.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::error::RegistrationError;

use super::*;

/// An issuer with its keys decoded.
#[derive(Clone)]
pub(super) struct IssuerKeys {
    pub(super) issuer: String,
    pub(super) keys: Vec<PublicKey>,
    pub(super) hmac: Option<(DecodingKey, usize)>,
    pub(super) software_ids: Option<HashSet<String>>,
}

impl IssuerKeys {
    pub(super) fn from_config(config: TrustedIssuer) -> Result<Self, SoftwareStatementConfigError> {
        let invalid = |reason| SoftwareStatementConfigError::InvalidKey {
            issuer: config.issuer.clone(),
            reason,
        };
        let mut keys = Vec::new();
        for set in &config.jwks {
            let set: JwkSet =
                serde_json::from_value(set.clone()).map_err(|_| invalid("not a JWK Set"))?;
            for jwk in &set.keys {
                keys.push(decode_public_key(jwk).map_err(invalid)?);
            }
        }
        let hmac = match &config.hmac_key {
            None => None,
            Some(secret) => {
                let bytes = secret.secret().as_bytes();
                if bytes.len() < MIN_HMAC_BYTES {
                    return Err(invalid("the shared HMAC key is shorter than 32 bytes"));
                }
                Some((DecodingKey::from_secret(bytes), bytes.len()))
            }
        };
        if keys.is_empty() && hmac.is_none() {
            return Err(SoftwareStatementConfigError::NoKeys(config.issuer));
        }
        Ok(Self {
            issuer: config.issuer,
            keys,
            hmac,
            software_ids: config.software_ids,
        })
    }

    /// Whether this issuer has a key for `alg`.
    pub(super) fn supports(&self, alg: Algorithm) -> bool {
        match KeyKind::for_alg(alg) {
            None => self
                .hmac
                .as_ref()
                .is_some_and(|(_, len)| *len >= min_hmac_bytes(alg)),
            Some(kind) => self
                .keys
                .iter()
                .any(|k| k.kind == kind && k.alg.is_none_or(|a| a == alg)),
        }
    }
}

/// Checks the signature with the issuer's keys for `alg` (the `kid` one when
/// the header names one).
///
/// The RustCrypto provider is called directly rather than through
/// jsonwebtoken's process-wide default, which panics when another crate in the
/// build enables a second backend.
pub(super) fn verify_signature(
    issuer: &IssuerKeys,
    signing_input: &str,
    signature: &str,
    alg: Algorithm,
    kid: Option<&str>,
) -> Result<(), RegistrationError> {
    let candidates: Vec<&DecodingKey> = match KeyKind::for_alg(alg) {
        None => match &issuer.hmac {
            Some((key, len)) if *len >= min_hmac_bytes(alg) => vec![key],
            _ => {
                return Err(invalid(
                    "the signing algorithm (alg) is not allowed for this issuer",
                ));
            }
        },
        Some(kind) => issuer
            .keys
            .iter()
            .filter(|k| k.kind == kind && k.alg.is_none_or(|a| a == alg))
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
            .map(|k| &k.key)
            .collect(),
    };
    if candidates.is_empty() {
        return Err(invalid(
            "no key of the issuer matches the statement's kid and alg",
        ));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| invalid("the signature is not base64url"))?;
    for key in candidates {
        let Ok(verifier) = (DEFAULT_PROVIDER.verifier_factory)(&alg, key) else {
            continue;
        };
        if verifier
            .verify(signing_input.as_bytes(), &signature)
            .is_ok()
        {
            return Ok(());
        }
    }
    Err(invalid(
        "the signature does not verify with the issuer's keys",
    ))
}
