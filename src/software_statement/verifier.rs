//! [`SoftwareStatementVerifier`]: checks a statement and applies its claims.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::error::RegistrationError;

use super::*;

pub(super) struct Inner {
    pub(super) issuers: Vec<IssuerKeys>,
    pub(super) required: bool,
    pub(super) algorithms: Vec<Algorithm>,
    pub(super) leeway: u64,
    pub(super) audiences: HashSet<String>,
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
    pub(super) inner: Arc<Inner>,
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

pub(super) fn invalid(reason: &'static str) -> RegistrationError {
    RegistrationError::invalid_software_statement(reason)
}

pub(super) fn unapproved(reason: &'static str) -> RegistrationError {
    RegistrationError::unapproved_software_statement(reason)
}

/// Decodes one base64url part of a JWS into a JSON object.
pub(super) fn json_part(
    part: &str,
    what: &'static str,
) -> Result<Map<String, Value>, RegistrationError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| invalid(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(invalid(what)),
    }
}

/// A NumericDate claim (RFC 7519 §2), in whole seconds; `Ok(None)` when absent.
pub(super) fn numeric_date(
    claims: &Map<String, Value>,
    name: &str,
) -> Result<Option<u64>, RegistrationError> {
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
    pub(super) fn verify_at(
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
