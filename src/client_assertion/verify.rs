//! The checks of one client assertion (RFC 7523 §3, OIDC Core §9), apart from
//! where its keys come from and the replay store.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::AudienceRule;
use crate::jws::{self, KeyKind};
use crate::metadata::TokenEndpointAuthMethod;

/// The longest `jti` accepted, in bytes.
const MAX_JTI_BYTES: usize = 256;

/// Why an assertion was refused: a short reason for the log, never sent to the
/// client (which gets `invalid_client`).
pub(crate) type Reason = &'static str;

/// A compact JWS split and decoded, its signature not yet checked.
pub(crate) struct Parsed<'a> {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) claims: Map<String, Value>,
    signing_input: &'a str,
    signature: Vec<u8>,
}

/// Most keys one assertion's signature is checked with: a key set may hold
/// several keys with the assertion's `kid` (or, for a set with one key of the
/// type, none), but never makes the server try them all (an anonymous
/// assertion must not cost many signature checks).
pub(crate) const MAX_KEYS_TRIED: usize = 3;

impl Parsed<'_> {
    /// Whether the signature verifies with one of `keys` (an HMAC secret).
    pub(crate) fn verifies_with<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k DecodingKey>,
    ) -> bool {
        keys.into_iter()
            .any(|key| jws::verify(self.alg, key, self.signing_input, &self.signature))
    }

    /// The keys of `keys` this assertion's signature is checked with: those of
    /// the alg's type that carry its `kid`, at most [`MAX_KEYS_TRIED`].
    /// Without a `kid`, the set must hold one key of the type: with several,
    /// the `kid` is required (RFC 7515 §4.1.4 lets the signer name its key;
    /// trying every key would let one anonymous assertion cost many checks).
    pub(crate) fn candidates<'k>(
        &self,
        keys: &'k [jws::PublicKey],
    ) -> Result<Vec<&'k DecodingKey>, Reason> {
        let fitting = keys
            .iter()
            .filter(|k| k.fits(self.alg, self.kid.as_deref()));
        if self.kid.is_none() && fitting.clone().nth(1).is_some() {
            return Err("no kid, and the key set has several keys for the alg");
        }
        Ok(fitting.take(MAX_KEYS_TRIED).map(|k| &k.key).collect())
    }

    /// Whether the signature verifies with one of `keys`, checked on a
    /// blocking thread when a tokio runtime is there (public key signature
    /// checks are CPU work, kept off the async worker threads).
    pub(crate) async fn verifies_off_thread(&self, keys: Vec<&DecodingKey>) -> bool {
        if keys.is_empty() {
            return false;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self.verifies_with(keys);
        };
        let (alg, signature) = (self.alg, self.signature.clone());
        let signing_input = self.signing_input.to_owned();
        let keys: Vec<DecodingKey> = keys.into_iter().cloned().collect();
        runtime
            .spawn_blocking(move || {
                keys.iter()
                    .any(|key| jws::verify(alg, key, &signing_input, &signature))
            })
            .await
            .unwrap_or(false)
    }
}

/// Splits and decodes `assertion` (RFC 7515 §7.1). Refuses `alg` outside the
/// allow-list (so `none`), `crit` headers, and anything not a signed JWT.
pub(crate) fn parse(assertion: &str) -> Result<Parsed<'_>, Reason> {
    let mut parts = assertion.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWS in compact serialization");
    };
    if signature.is_empty() {
        return Err("unsigned assertion");
    }
    let header_map = jws::json_part(header).ok_or("header is not a base64url JSON object")?;
    let alg = header_map
        .get("alg")
        .and_then(Value::as_str)
        .and_then(jws::parse_alg)
        .ok_or("alg not allowed")?;
    if header_map.contains_key("crit") {
        return Err("crit header not supported");
    }
    let kid = match header_map.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err("kid is not a string"),
    };
    let claims = jws::json_part(payload).ok_or("claims are not a base64url JSON object")?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| "signature is not base64url")?;
    Ok(Parsed {
        alg,
        kid,
        claims,
        signing_input: &assertion[..header.len() + 1 + payload.len()],
        signature,
    })
}

/// The algorithm check: the client's registered
/// `token_endpoint_auth_signing_alg` if it has one, else one the profile
/// accepts (`accepted`: `Profile::token_endpoint_auth_signing_algs`, the list
/// discovery advertises); asymmetric for `private_key_jwt`, HMAC for
/// `client_secret_jwt` (so never an HS algorithm with a public key).
pub(crate) fn check_alg(
    alg: Algorithm,
    method: TokenEndpointAuthMethod,
    registered: Option<&str>,
    accepted: &[&str],
) -> Result<(), Reason> {
    let asymmetric = KeyKind::for_alg(alg).is_some();
    match method {
        TokenEndpointAuthMethod::PrivateKeyJwt if !asymmetric => {
            return Err("an HMAC alg for a private_key_jwt client");
        }
        TokenEndpointAuthMethod::ClientSecretJwt if asymmetric => {
            return Err("an asymmetric alg for a client_secret_jwt client");
        }
        TokenEndpointAuthMethod::PrivateKeyJwt | TokenEndpointAuthMethod::ClientSecretJwt => {}
        _ => return Err("the client is not registered for JWT authentication"),
    }
    let name = jws::alg_name(alg);
    let ok = match registered {
        Some(registered) => registered == name,
        None => accepted.contains(&name),
    };
    if ok {
        Ok(())
    } else {
        Err("alg is not the registered or an accepted one")
    }
}

/// The claim rules.
#[derive(Clone, Debug)]
pub(crate) struct ClaimRules {
    /// Accepted `aud` values.
    pub(crate) audiences: Vec<String>,
    /// Whether `aud` may hold other values besides an accepted one.
    pub(crate) audience_rule: AudienceRule,
    /// Longest accepted lifetime (`exp` - `iat`, and `exp` - now).
    pub(crate) max_lifetime: Duration,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    pub(crate) leeway: Duration,
}

/// What the replay check needs from valid claims.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Accepted {
    pub(crate) jti: String,
    /// The first second at which the assertion is refused as expired
    /// ([`valid_until`]): the replay store keeps the `jti` until then.
    pub(crate) until: u64,
}

/// The first second (since the epoch) at which an assertion expiring at `exp`
/// is refused: `exp` + leeway. RFC 7519 §4.1.4: the current time MUST be
/// before `exp`, so the assertion is valid while `now < until`, and the
/// replay store keeps its `jti` for exactly those seconds (a record with
/// `expires_at <= now` is expired): the claims check and the replay store
/// agree on the boundary (OIDC Core §9).
pub(crate) fn valid_until(exp: u64, leeway: Duration) -> u64 {
    exp.saturating_add(leeway.as_secs())
}

/// RFC 7523 §3: `iss` = `sub` = `client_id`; `aud` names this server (as
/// [`AudienceRule`] says); `exp`
/// required, not past, not too far; `nbf` and `iat` not in the future; `jti`
/// required (OIDC Core §9).
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    client_id: &str,
    rules: &ClaimRules,
    now: u64,
) -> Result<Accepted, Reason> {
    let leeway = rules.leeway.as_secs();
    let max_lifetime = rules.max_lifetime.as_secs();
    if claims.get("iss").and_then(Value::as_str) != Some(client_id) {
        return Err("iss is not the client_id");
    }
    if claims.get("sub").and_then(Value::as_str) != Some(client_id) {
        return Err("sub is not the client_id");
    }
    let accepted = |aud: &Value| {
        aud.as_str()
            .is_some_and(|aud| rules.audiences.iter().any(|a| a == aud))
    };
    // draft-ietf-oauth-rfc7523bis: the issuer as the sole audience value;
    // RFC 7523 §3: an accepted value among any others.
    let aud_ok = match (claims.get("aud"), rules.audience_rule) {
        (Some(aud @ Value::String(_)), _) => accepted(aud),
        (Some(Value::Array(list)), AudienceRule::IssuerOnly) => {
            matches!(list.as_slice(), [aud] if accepted(aud))
        }
        (Some(Value::Array(list)), AudienceRule::Rfc7523) => list.iter().any(accepted),
        _ => false,
    };
    if !aud_ok {
        return Err("aud does not name this server");
    }
    let date =
        |name| jws::numeric_date(claims, name).map_err(|()| "a date claim is not a NumericDate");
    let exp = date("exp")?.ok_or("no exp")?;
    let until = valid_until(exp, rules.leeway);
    if now >= until {
        return Err("expired");
    }
    if exp > now.saturating_add(max_lifetime).saturating_add(leeway) {
        return Err("exp is too far in the future");
    }
    if let Some(nbf) = date("nbf")?
        && nbf > now.saturating_add(leeway)
    {
        return Err("not yet valid (nbf)");
    }
    if let Some(iat) = date("iat")? {
        if iat > now.saturating_add(leeway) {
            return Err("iat is in the future");
        }
        if exp.saturating_sub(iat) > max_lifetime {
            return Err("lifetime (exp - iat) too long");
        }
    }
    let jti = match claims.get("jti") {
        Some(Value::String(jti)) if !jti.is_empty() && jti.len() <= MAX_JTI_BYTES => jti.clone(),
        _ => return Err("no jti, or not a string of at most 256 bytes"),
    };
    Ok(Accepted { jti, until })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rules() -> ClaimRules {
        ClaimRules {
            audiences: vec!["https://as.example".into()],
            audience_rule: AudienceRule::IssuerOnly,
            max_lifetime: Duration::from_secs(300),
            leeway: Duration::from_secs(30),
        }
    }

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    const NOW: u64 = 1_800_000_000;

    fn valid() -> Value {
        json!({"iss": "c", "sub": "c", "aud": "https://as.example", "exp": NOW + 60, "iat": NOW, "jti": "j"})
    }

    #[test]
    fn rfc7523_3_valid_claims() {
        assert_eq!(
            check_claims(&claims(valid()), "c", &rules(), NOW),
            Ok(Accepted {
                jti: "j".into(),
                until: NOW + 90
            })
        );
        let mut one = valid();
        one["aud"] = json!(["https://as.example"]);
        assert!(check_claims(&claims(one), "c", &rules(), NOW).is_ok());
    }

    /// draft-ietf-oauth-rfc7523bis: the issuer as the sole audience value by
    /// default (a string or a one-element array); RFC 7523 §3's rule, any
    /// accepted value among others, only when chosen.
    #[test]
    fn rfc7523bis_aud_is_the_issuer_alone_unless_rfc7523_is_chosen() {
        let mut foreign = valid();
        foreign["aud"] = json!(["https://evil.example", "https://as.example"]);
        assert_eq!(
            check_claims(&claims(foreign.clone()), "c", &rules(), NOW),
            Err("aud does not name this server")
        );
        let mut twice = valid();
        twice["aud"] = json!(["https://as.example", "https://as.example"]);
        assert!(check_claims(&claims(twice), "c", &rules(), NOW).is_err());
        let rfc7523 = ClaimRules {
            audience_rule: AudienceRule::Rfc7523,
            ..rules()
        };
        assert!(check_claims(&claims(foreign), "c", &rfc7523, NOW).is_ok());
    }

    #[test]
    fn rfc7523_3_each_claim_rule() {
        let cases: [(&str, Value, Reason); 10] = [
            ("iss", json!("other"), "iss is not the client_id"),
            ("sub", json!("other"), "sub is not the client_id"),
            (
                "aud",
                json!("https://evil.example"),
                "aud does not name this server",
            ),
            ("aud", json!(["a", "b"]), "aud does not name this server"),
            ("exp", json!(NOW - 31), "expired"),
            ("exp", json!(NOW + 400), "exp is too far in the future"),
            ("exp", json!("soon"), "a date claim is not a NumericDate"),
            ("nbf", json!(NOW + 31), "not yet valid (nbf)"),
            ("iat", json!(NOW + 31), "iat is in the future"),
            (
                "jti",
                json!(""),
                "no jti, or not a string of at most 256 bytes",
            ),
        ];
        for (claim, value, reason) in cases {
            let mut c = valid();
            c[claim] = value;
            assert_eq!(
                check_claims(&claims(c), "c", &rules(), NOW),
                Err(reason),
                "{claim}"
            );
        }
        for claim in ["exp", "jti", "aud", "iss", "sub"] {
            let mut c = valid();
            c.as_object_mut().unwrap().remove(claim);
            assert!(
                check_claims(&claims(c), "c", &rules(), NOW).is_err(),
                "{claim}"
            );
        }
        let mut long = valid();
        long["iat"] = json!(NOW - 400);
        assert_eq!(
            check_claims(&claims(long), "c", &rules(), NOW),
            Err("lifetime (exp - iat) too long")
        );
    }

    /// RFC 7519 §4.1.4 (the current time MUST be before `exp`), OIDC Core §9:
    /// at `now == exp + leeway` the assertion is expired, so it is never
    /// accepted at a second the replay store already counts as expired.
    #[test]
    fn rfc7519_4_1_4_expired_at_exactly_exp_plus_leeway() {
        let mut c = valid();
        c["exp"] = json!(NOW - 30);
        c["iat"] = json!(NOW - 60);
        assert_eq!(
            check_claims(&claims(c.clone()), "c", &rules(), NOW),
            Err("expired")
        );
        let accepted = check_claims(&claims(c), "c", &rules(), NOW - 1).unwrap();
        assert_eq!(accepted.until, NOW, "kept by the replay store until then");
    }

    #[test]
    fn algorithms_follow_the_method_and_registration() {
        let accepted = ["ES256", "EdDSA", "HS256"];
        let pkj = TokenEndpointAuthMethod::PrivateKeyJwt;
        let csj = TokenEndpointAuthMethod::ClientSecretJwt;
        assert!(check_alg(Algorithm::ES256, pkj, None, &accepted).is_ok());
        assert!(check_alg(Algorithm::RS256, pkj, None, &accepted).is_err());
        assert!(check_alg(Algorithm::HS256, pkj, None, &accepted).is_err());
        assert!(check_alg(Algorithm::ES256, pkj, Some("EdDSA"), &accepted).is_err());
        assert!(check_alg(Algorithm::EdDSA, pkj, Some("EdDSA"), &accepted).is_ok());
        assert!(check_alg(Algorithm::HS256, csj, None, &accepted).is_ok());
        assert!(check_alg(Algorithm::ES256, csj, None, &accepted).is_err());
        assert!(check_alg(Algorithm::HS512, csj, None, &accepted).is_err());
        assert!(check_alg(Algorithm::HS512, csj, Some("HS512"), &accepted).is_ok());
        let none = TokenEndpointAuthMethod::None;
        assert!(check_alg(Algorithm::ES256, none, None, &accepted).is_err());
    }

    #[test]
    fn alg_none_and_malformed_assertions_are_refused() {
        let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!("{}.{}.", b64(json!({"alg": "none"})), b64(valid()));
        assert!(parse(&none).is_err());
        let none_signed = format!("{}.{}.c2ln", b64(json!({"alg": "none"})), b64(valid()));
        assert_eq!(parse(&none_signed).err(), Some("alg not allowed"));
        let crit = format!(
            "{}.{}.c2ln",
            b64(json!({"alg": "ES256", "crit": ["x"]})),
            b64(valid())
        );
        assert_eq!(parse(&crit).err(), Some("crit header not supported"));
        assert!(parse("a.b").is_err());
        assert!(parse("a.b.c.d").is_err());
    }

    /// A signed HS256 JWS and the key that verifies it.
    fn signed() -> (String, DecodingKey) {
        let header = jsonwebtoken::Header::new(Algorithm::HS256);
        let key = jsonwebtoken::EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let jws = jsonwebtoken::encode(&header, &valid(), &key).expect("signs");
        (
            jws,
            DecodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
    }

    /// Public-key signature checks are CPU work and run on
    /// a blocking thread, never on the async worker that handles the request
    /// (one costly assertion must not stall other users' requests).
    #[test]
    fn signature_checks_run_off_the_async_worker() {
        let (jws, key) = signed();
        let parsed = parse(&jws).expect("parses");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let before = crate::jws::VERIFIED_ON_THIS_THREAD.with(std::cell::Cell::get);
        assert!(runtime.block_on(parsed.verifies_off_thread(vec![&key])));
        let after = crate::jws::VERIFIED_ON_THIS_THREAD.with(std::cell::Cell::get);
        assert_eq!(
            after, before,
            "the signature was checked on the worker thread"
        );

        // The same check made inline runs here, so the counter does see it.
        assert!(parsed.verifies_with([&key]));
        let inline = crate::jws::VERIFIED_ON_THIS_THREAD.with(std::cell::Cell::get);
        assert_eq!(inline, after + 1);
    }
}
