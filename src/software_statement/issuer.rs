//! Trusted issuers and the verifier's builder.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::credentials::Secret;

use super::*;

/// A party whose software statements this server trusts, identified by the
/// statement's `iss` claim.
///
/// Give it public keys with [`TrustedIssuer::jwks`], a shared key with
/// [`TrustedIssuer::hmac_key`], or both.
#[derive(Clone)]
pub struct TrustedIssuer {
    pub(super) issuer: String,
    pub(super) jwks: Vec<Value>,
    pub(super) hmac_key: Option<Secret>,
    pub(super) software_ids: Option<HashSet<String>>,
}

impl TrustedIssuer {
    /// An issuer, by the exact `iss` value its statements carry.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            jwks: Vec::new(),
            hmac_key: None,
            software_ids: None,
        }
    }

    /// The issuer's public signing keys, as a JWK Set (`{"keys": [...]}`).
    /// Can be called more than once; the keys add up. Symmetric (`oct`) keys
    /// are refused here: use [`TrustedIssuer::hmac_key`].
    pub fn jwks(mut self, jwk_set: Value) -> Self {
        self.jwks.push(jwk_set);
        self
    }

    /// A key shared with this issuer, which enables `HS256`, `HS384` and
    /// `HS512` for its statements (and only for its statements). The key is the
    /// UTF-8 bytes of the secret; it must be at least 32 bytes long, and
    /// `HS384` / `HS512` need 48 / 64 bytes (RFC 7518 §3.2).
    pub fn hmac_key(mut self, key: Secret) -> Self {
        self.hmac_key = Some(key);
        self
    }

    /// Accepts only statements whose `software_id` claim is one of these;
    /// others get `unapproved_software_statement`. Without this call any
    /// `software_id` (or none) is accepted from this issuer.
    pub fn software_ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.software_ids = Some(ids.into_iter().map(Into::into).collect());
        self
    }
}

impl fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedIssuer")
            .field("issuer", &self.issuer)
            .field("jwk_sets", &self.jwks.len())
            .field("hmac_key", &self.hmac_key)
            .field("software_ids", &self.software_ids)
            .finish()
    }
}

/// A configuration the verifier cannot be built from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SoftwareStatementConfigError {
    /// No trusted issuer was configured.
    #[error("configure at least one trusted issuer")]
    NoIssuer,
    /// The same issuer was configured twice.
    #[error("the issuer {0} is configured twice")]
    DuplicateIssuer(String),
    /// An issuer has neither public keys nor a shared key.
    #[error("the issuer {0} has no keys")]
    NoKeys(String),
    /// A key of an issuer is unusable (unsupported type or curve, RSA smaller
    /// than 2048 bits, symmetric key in a JWK Set, HMAC key shorter than 32
    /// bytes, not a JWK Set).
    #[error("the issuer {issuer} has an unusable key: {reason}")]
    InvalidKey {
        /// The issuer.
        issuer: String,
        /// Why, without key material.
        reason: &'static str,
    },
    /// An algorithm name outside the allow-list.
    #[error("the algorithm {0} is not allowed for software statements")]
    UnsupportedAlgorithm(String),
    /// The algorithm list is empty.
    #[error("allow at least one algorithm")]
    NoAlgorithm,
}

/// Builds a [`SoftwareStatementVerifier`]; see its docs.
#[derive(Debug)]
#[must_use]
pub struct SoftwareStatementVerifierBuilder {
    pub(super) issuers: Vec<TrustedIssuer>,
    pub(super) required: bool,
    pub(super) algorithms: Option<Vec<String>>,
    pub(super) leeway: Duration,
    pub(super) audiences: HashSet<String>,
}

impl SoftwareStatementVerifierBuilder {
    /// Trusts statements from this issuer.
    pub fn trusted_issuer(mut self, issuer: TrustedIssuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Whether every registration must carry a software statement (default
    /// `false`). When `true`, a request without one gets
    /// `invalid_software_statement`.
    pub fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// Narrows the accepted algorithms (by JWA name, e.g. `"ES256"`) to a
    /// subset of the allow-list. Names outside it, `none` included, make
    /// [`build`](Self::build) fail.
    pub fn algorithms<I, S>(mut self, algorithms: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.algorithms = Some(algorithms.into_iter().map(Into::into).collect());
        self
    }

    /// Clock skew tolerated on `exp` and `nbf` (default 60 seconds). Keep it small.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Values that identify this server in a statement's `aud` claim. A
    /// statement with an `aud` that names none of them is rejected (RFC 7519
    /// §4.1.3); a statement without `aud` is accepted. With no audience
    /// configured, any statement carrying `aud` is rejected.
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// Checks the configuration and decodes every key.
    pub fn build(self) -> Result<SoftwareStatementVerifier, SoftwareStatementConfigError> {
        if self.issuers.is_empty() {
            return Err(SoftwareStatementConfigError::NoIssuer);
        }
        let algorithms = match self.algorithms {
            None => ALLOW_LIST.to_vec(),
            Some(names) => {
                let mut algorithms = Vec::with_capacity(names.len());
                for name in names {
                    let alg = parse_alg(&name)
                        .ok_or(SoftwareStatementConfigError::UnsupportedAlgorithm(name))?;
                    if !algorithms.contains(&alg) {
                        algorithms.push(alg);
                    }
                }
                if algorithms.is_empty() {
                    return Err(SoftwareStatementConfigError::NoAlgorithm);
                }
                algorithms
            }
        };
        let mut issuers: Vec<IssuerKeys> = Vec::with_capacity(self.issuers.len());
        for issuer in self.issuers {
            if issuers.iter().any(|i| i.issuer == issuer.issuer) {
                return Err(SoftwareStatementConfigError::DuplicateIssuer(issuer.issuer));
            }
            issuers.push(IssuerKeys::from_config(issuer)?);
        }
        Ok(SoftwareStatementVerifier {
            inner: Arc::new(Inner {
                issuers,
                required: self.required,
                algorithms,
                leeway: self.leeway.as_secs(),
                audiences: self.audiences,
            }),
        })
    }
}
