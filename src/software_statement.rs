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

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use crate::credentials::Secret;
use crate::error::RegistrationError;

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

/// Every algorithm a statement may ever be signed with, in the order
/// [`SoftwareStatementVerifier::signing_alg_values`] lists them.
const ALLOW_LIST: [Algorithm; 12] = [
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

/// The default clock leeway for `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// Smallest RSA modulus accepted for an issuer key (RFC 7518 §3.3).
const MIN_RSA_BITS: usize = 2048;

/// Smallest shared HMAC key (RFC 7518 §3.2: at least the size of the HS256 hash).
const MIN_HMAC_BYTES: usize = 32;

fn alg_name(alg: Algorithm) -> &'static str {
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

fn parse_alg(name: &str) -> Option<Algorithm> {
    ALLOW_LIST.into_iter().find(|a| alg_name(*a) == name)
}

/// The kind of public key an algorithm is verified with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    /// The key kind `alg` needs; `None` for the HMAC algorithms.
    fn for_alg(alg: Algorithm) -> Option<Self> {
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
fn min_hmac_bytes(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => MIN_HMAC_BYTES,
    }
}

/// A party whose software statements this server trusts, identified by the
/// statement's `iss` claim.
///
/// Give it public keys with [`TrustedIssuer::jwks`], a shared key with
/// [`TrustedIssuer::hmac_key`], or both.
#[derive(Clone)]
pub struct TrustedIssuer {
    issuer: String,
    jwks: Vec<Value>,
    hmac_key: Option<Secret>,
    software_ids: Option<HashSet<String>>,
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
    issuers: Vec<TrustedIssuer>,
    required: bool,
    algorithms: Option<Vec<String>>,
    leeway: Duration,
    audiences: HashSet<String>,
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

/// One decoded public key of an issuer.
#[derive(Clone)]
struct PublicKey {
    kid: Option<String>,
    /// The JWK's `alg`, when it names one; the key is then used only with it.
    alg: Option<Algorithm>,
    kind: KeyKind,
    key: DecodingKey,
}

/// An issuer with its keys decoded.
#[derive(Clone)]
struct IssuerKeys {
    issuer: String,
    keys: Vec<PublicKey>,
    hmac: Option<(DecodingKey, usize)>,
    software_ids: Option<HashSet<String>>,
}

impl IssuerKeys {
    fn from_config(config: TrustedIssuer) -> Result<Self, SoftwareStatementConfigError> {
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
    fn supports(&self, alg: Algorithm) -> bool {
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

/// Decodes one public key of a JWK Set.
fn decode_public_key(jwk: &Jwk) -> Result<PublicKey, &'static str> {
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
            return Err("a symmetric (\"oct\") key in a JWK Set; use hmac_key");
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

struct Inner {
    issuers: Vec<IssuerKeys>,
    required: bool,
    algorithms: Vec<Algorithm>,
    leeway: u64,
    audiences: HashSet<String>,
}

/// Verifies software statements (RFC 7591 §2.3) against trusted issuers.
///
/// Cheap to clone. `Debug` lists the issuers but never key material.
///
/// # In the registration pipeline
///
/// After the request body is read as a JSON object and before it is parsed
/// into [`ClientMetadata`](crate::ClientMetadata):
///
/// ```
/// # use serde_json::{Map, Value};
/// # use tower_dcr::{RegistrationError, SoftwareStatementVerifier};
/// fn before_parsing(
///     verifier: &SoftwareStatementVerifier,
///     body: &mut Map<String, Value>,
///     now: u64,
/// ) -> Result<(), RegistrationError> {
///     verifier.apply(body, now)?;
///     Ok(())
/// }
/// ```
///
/// [`apply`](Self::apply) verifies `body["software_statement"]`, if any, and
/// writes its claims over the same members of `body`, leaving the
/// `software_statement` member itself unchanged so the response echoes it.
#[derive(Clone)]
pub struct SoftwareStatementVerifier {
    inner: Arc<Inner>,
}

impl fmt::Debug for SoftwareStatementVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let issuers: Vec<&str> = self
            .inner
            .issuers
            .iter()
            .map(|i| i.issuer.as_str())
            .collect();
        f.debug_struct("SoftwareStatementVerifier")
            .field("issuers", &issuers)
            .field("required", &self.inner.required)
            .field("algorithms", &self.signing_alg_values())
            .field("leeway", &self.inner.leeway)
            .finish_non_exhaustive()
    }
}

fn invalid(reason: &'static str) -> RegistrationError {
    RegistrationError::invalid_software_statement(reason)
}

fn unapproved(reason: &'static str) -> RegistrationError {
    RegistrationError::unapproved_software_statement(reason)
}

/// Decodes one base64url part of a JWS into a JSON object.
fn json_part(part: &str, what: &'static str) -> Result<Map<String, Value>, RegistrationError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| invalid(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(invalid(what)),
    }
}

/// A NumericDate claim (RFC 7519 §2), in whole seconds; `Ok(None)` when absent.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, RegistrationError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) => Ok(Some(n)),
            None => match v.as_f64() {
                Some(f) if f.is_finite() && f >= 0.0 => Ok(Some(f.floor() as u64)),
                _ => Err(invalid(
                    "exp, nbf and iat must be NumericDate values (RFC 7519 §2)",
                )),
            },
        },
    }
}

impl SoftwareStatementVerifier {
    /// A builder with no issuer, `required(false)`, the full allow-list and a
    /// 60-second leeway.
    pub fn builder() -> SoftwareStatementVerifierBuilder {
        SoftwareStatementVerifierBuilder {
            issuers: Vec::new(),
            required: false,
            algorithms: None,
            leeway: DEFAULT_LEEWAY,
            audiences: HashSet::new(),
        }
    }

    /// Whether every registration must carry a software statement.
    pub fn is_required(&self) -> bool {
        self.inner.required
    }

    /// The algorithms a statement can be verified with here: the allowed ones
    /// for which some trusted issuer has a key, as JWA names. Meant for the
    /// discovery metadata.
    pub fn signing_alg_values(&self) -> Vec<&'static str> {
        ALLOW_LIST
            .into_iter()
            .filter(|a| self.inner.algorithms.contains(a))
            .filter(|a| self.inner.issuers.iter().any(|i| i.supports(*a)))
            .map(alg_name)
            .collect()
    }

    /// Processes the `software_statement` member of a registration or update
    /// request (RFC 7591 §3.1.1) in place.
    ///
    /// - Absent: `Ok(false)`, or `invalid_software_statement` when statements
    ///   are [required](SoftwareStatementVerifierBuilder::required).
    /// - Present: it must be a string holding a valid statement
    ///   ([`verify`](Self::verify)); its claims then replace the members of the
    ///   same name in `body` (the statement's values take precedence), and
    ///   `Ok(true)` is returned. The `software_statement` member is left as the
    ///   client sent it.
    ///
    /// `now` is the current time in seconds since the Unix epoch.
    pub fn apply(
        &self,
        body: &mut Map<String, Value>,
        now: u64,
    ) -> Result<bool, RegistrationError> {
        self.apply_to_update(body, now, None)
    }

    /// [`apply`](Self::apply) for an update (RFC 7592 §2.2): a client sends back
    /// the metadata it was given, statement included. A statement identical to
    /// the one this client registered with (`accepted`) is checked again
    /// except for `exp` and `nbf`, so that it does not lock the client out of
    /// its registration once it expires; a new statement is checked fully.
    pub fn apply_to_update(
        &self,
        body: &mut Map<String, Value>,
        now: u64,
        accepted: Option<&str>,
    ) -> Result<bool, RegistrationError> {
        let claims = match body.get(SOFTWARE_STATEMENT) {
            None | Some(Value::Null) if self.inner.required => {
                return Err(invalid(
                    "a software_statement is required by this server (RFC 7591 §2.3)",
                ));
            }
            None | Some(Value::Null) => return Ok(false),
            Some(Value::String(statement)) if accepted == Some(statement.as_str()) => {
                self.verify_at(statement, None)?
            }
            Some(Value::String(statement)) => self.verify_at(statement, Some(now))?,
            Some(_) => {
                return Err(invalid(
                    "software_statement must be a string (a signed JWT)",
                ));
            }
        };
        body.extend(claims);
        Ok(true)
    }

    /// Verifies one software statement and returns its claims, minus the
    /// members in [`NEVER_OVERRIDDEN`].
    ///
    /// `now` is the current time in seconds since the Unix epoch.
    ///
    /// Errors (RFC 7591 §3.2.2), with a short reason and never the statement:
    /// - `invalid_software_statement`: not a JWS in compact serialization, a
    ///   header or payload that is not a base64url JSON object, an `alg`
    ///   outside the allow-list (`none` included) or without a matching key of
    ///   the issuer, a `crit` header, no `iss`, a signature that does not
    ///   verify, expired (`exp`), not yet valid (`nbf`), an `aud` that does not
    ///   name this server;
    /// - `unapproved_software_statement`: an `iss` that is not a trusted
    ///   issuer, or a `software_id` outside the issuer's approved list.
    pub fn verify(
        &self,
        statement: &str,
        now: u64,
    ) -> Result<Map<String, Value>, RegistrationError> {
        self.verify_at(statement, Some(now))
    }

    /// [`verify`](Self::verify), with the `exp` and `nbf` checks only when
    /// `now` is given.
    fn verify_at(
        &self,
        statement: &str,
        now: Option<u64>,
    ) -> Result<Map<String, Value>, RegistrationError> {
        let inner = &*self.inner;
        let mut parts = statement.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid(
                "not a signed JWT (JWS compact serialization, RFC 7515 §7.1)",
            ));
        };
        if signature.is_empty() {
            return Err(invalid("the statement is not signed"));
        }
        let header_len = header.len();
        let header = json_part(header, "the JOSE header is not a base64url JSON object")?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(parse_alg)
            .filter(|a| inner.algorithms.contains(a))
            .ok_or_else(|| invalid("the signing algorithm (alg) is not allowed"))?;
        if header.contains_key("crit") {
            return Err(invalid(
                "critical header parameters (crit) are not supported",
            ));
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(invalid("the kid header must be a string")),
        };
        let unverified = json_part(payload, "the claims are not a base64url JSON object")?;
        let Some(Value::String(iss)) = unverified.get("iss") else {
            return Err(invalid(
                "the statement must carry an iss claim naming its issuer (RFC 7591 §2.3)",
            ));
        };
        let issuer = inner
            .issuers
            .iter()
            .find(|i| i.issuer == *iss)
            .ok_or_else(|| unapproved("the statement's issuer is not trusted by this server"))?;

        // The JWS Signing Input is the first two parts as sent (RFC 7515 §5.2).
        let signing_input = &statement[..header_len + 1 + payload.len()];
        verify_signature(issuer, signing_input, signature, alg, kid)?;
        // The signature covers the payload parsed above: these claims, `iss`
        // included, are now the issuer's.
        let claims = unverified;
        let leeway = inner.leeway;
        let exp = numeric_date(&claims, "exp")?;
        let nbf = numeric_date(&claims, "nbf")?;
        if let Some(now) = now {
            if exp.is_some_and(|exp| now > exp.saturating_add(leeway)) {
                return Err(invalid("the software statement has expired (exp)"));
            }
            if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
                return Err(invalid("the software statement is not yet valid (nbf)"));
            }
        }
        numeric_date(&claims, "iat")?;
        if let Some(aud) = claims.get("aud") {
            let named = match aud {
                Value::String(a) => inner.audiences.contains(a),
                Value::Array(list) => list
                    .iter()
                    .any(|a| a.as_str().is_some_and(|a| inner.audiences.contains(a))),
                _ => false,
            };
            if !named {
                return Err(invalid(
                    "the statement's audience (aud) does not name this server",
                ));
            }
        }
        if let Some(approved) = &issuer.software_ids {
            match claims.get("software_id") {
                Some(Value::String(id)) if approved.contains(id) => {}
                Some(Value::String(_)) => {
                    return Err(unapproved("the software_id is not approved by this server"));
                }
                _ => {
                    return Err(unapproved(
                        "the statement must carry an approved software_id",
                    ));
                }
            }
        }
        let mut claims = claims;
        for member in NEVER_OVERRIDDEN {
            claims.remove(member);
        }
        Ok(claims)
    }
}

/// Checks the signature with the issuer's keys for `alg` (the `kid` one when
/// the header names one).
///
/// The RustCrypto provider is called directly rather than through
/// jsonwebtoken's process-wide default, which panics when another crate in the
/// build enables a second backend.
fn verify_signature(
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
