//! Software statements (RFC 7591 §2.3) through `SoftwareStatementVerifier::verify`
//! and through a registration service that uses the verifier.
//!
//! The verifier trusts one issuer with a shared HS256/384/512 key and an ES256
//! key, both fixed. Inputs are either arbitrary strings (never valid) or
//! statements the target signs itself with arbitrary headers and claims, so
//! that the claim checks behind the signature are reached. Checks: never a
//! panic or a 5xx; an accepted statement satisfies every rule (trusted `iss`,
//! `exp`/`nbf` within the leeway, `aud` naming this server, approved
//! `software_id`, allowed `alg`, no `crit`), its returned claims hold none of
//! the members a statement may never set; and a statement satisfying every
//! rule is accepted.
#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Method, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use tower_dcr::software_statement::{NEVER_OVERRIDDEN, SoftwareStatementVerifier, TrustedIssuer};
use tower_dcr::{ErrorCode, Registration, Secret};
use tower_dcr_fuzz::{check_response, delete_registered, request, send};

const ISSUER: &str = "https://statements.example.org";
const AUDIENCE: &str = "https://auth.example.com";
const APPROVED: [&str; 2] = ["approved-1", "approved-2"];
const LEEWAY: u64 = 60;
/// 64 bytes: enough for HS256, HS384 and HS512.
const SHARED_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const EC_KID: &str = "ec-1";

struct Fixture {
    verifier: SoftwareStatementVerifier,
    service: Registration,
    hmac: EncodingKey,
    ec: EncodingKey,
    /// A P-256 key the verifier does not know.
    other_ec: EncodingKey,
}

fn ec_key(seed: u8) -> EncodingKey {
    use p256::pkcs8::EncodePrivateKey as _;
    let secret = p256::SecretKey::from_slice(&[seed; 32]).expect("a valid scalar");
    let der = secret.to_pkcs8_der().expect("encodes");
    EncodingKey::from_ec_der(der.as_bytes())
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ec = ec_key(7);
        let mut jwk = serde_json::to_value(
            jsonwebtoken::jwk::Jwk::from_encoding_key(&ec, Algorithm::ES256).expect("a JWK"),
        )
        .expect("serializes");
        jwk["kid"] = json!(EC_KID);
        let verifier = SoftwareStatementVerifier::builder()
            .trusted_issuer(
                TrustedIssuer::new(ISSUER)
                    .jwks(json!({ "keys": [jwk] }))
                    .hmac_key(Secret::new(SHARED_KEY))
                    .software_ids(APPROVED),
            )
            .audiences([AUDIENCE])
            .build()
            .expect("valid verifier");
        let service = Registration::builder(tower_dcr_fuzz::ISSUER)
            .open()
            .software_statements(verifier.clone())
            .build()
            .expect("valid configuration");
        Fixture {
            verifier,
            service,
            hmac: EncodingKey::from_secret(SHARED_KEY.as_bytes()),
            ec,
            other_ec: ec_key(9),
        }
    })
}

#[derive(Arbitrary, Debug)]
enum Key {
    Hs256,
    Hs384,
    Hs512,
    Es256,
    /// ES256 with a key the verifier does not trust.
    Es256Unknown,
    /// HS256 signed with the ES256 key's public JWK as the secret: the
    /// algorithm confusion attack.
    PublicKeyAsHmacSecret,
}

#[derive(Arbitrary, Debug)]
enum AlgHeader {
    Matching,
    Other(String),
    None,
    Absent,
}

#[derive(Arbitrary, Debug)]
enum Kid {
    Absent,
    Matching,
    Other(String),
    Number(i64),
}

#[derive(Arbitrary, Debug)]
enum Iss {
    Trusted,
    Absent,
    Other(String),
    Number(u32),
}

#[derive(Arbitrary, Debug)]
enum Date {
    Absent,
    /// Seconds relative to the current time.
    Relative(i32),
    Float(f64),
    Text(String),
}

#[derive(Arbitrary, Debug)]
enum Aud {
    Absent,
    Ours,
    Other(String),
    List(Vec<Option<String>>, bool),
    Number(u16),
}

#[derive(Arbitrary, Debug)]
enum SoftwareId {
    Absent,
    Approved(bool),
    Other(String),
    Number(u8),
}

#[derive(Arbitrary, Debug)]
enum Leaf {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Strs(Vec<String>),
}

impl Leaf {
    fn value(self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => b.into(),
            Self::Int(i) => i.into(),
            Self::Str(s) => s.into(),
            Self::Strs(s) => s.into(),
        }
    }
}

/// Claim names worth setting besides the checked ones.
const CLAIMS: [&str; 12] = [
    "client_id",
    "client_secret",
    "registration_access_token",
    "software_statement",
    "jti",
    "sub",
    "redirect_uris",
    "client_name",
    "grant_types",
    "token_endpoint_auth_method",
    "scope",
    "software_version",
];

#[derive(Arbitrary, Debug)]
struct Signed {
    key: Key,
    alg: AlgHeader,
    kid: Kid,
    crit: bool,
    iss: Iss,
    exp: Date,
    nbf: Date,
    iat: Date,
    aud: Aud,
    software_id: SoftwareId,
    claims: Vec<(u8, Leaf)>,
    extra: Vec<(String, Leaf)>,
    /// Flip one byte of the payload after signing.
    tamper: Option<u16>,
}

#[derive(Arbitrary, Debug)]
enum Input {
    Parts(Vec<u8>, Vec<u8>, String),
    Signed(Signed),
}

/// Seconds since the Unix epoch: the service verifies with the real clock, so
/// the target does too.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn date(d: Date, now: u64) -> Option<Value> {
    match d {
        Date::Absent => None,
        Date::Relative(s) => Some(json!(now as i64 + i64::from(s))),
        Date::Float(f) => serde_json::Number::from_f64(f).map(Value::Number),
        Date::Text(t) => Some(json!(t)),
    }
}

/// The seconds a NumericDate stands for, as the verifier reads it.
fn seconds(v: &Value) -> Option<Option<u64>> {
    match v.as_u64() {
        Some(n) => Some(Some(n)),
        None => match v.as_f64() {
            Some(f) if f.is_finite() && f >= 0.0 => Some(Some(f.floor() as u64)),
            _ => None,
        },
    }
}

/// Builds and signs a statement; returns it with whether every rule holds.
fn build(s: Signed, f: &Fixture, now: u64) -> (String, bool) {
    let (alg, key, key_ok) = match s.key {
        Key::Hs256 => (Algorithm::HS256, f.hmac.clone(), true),
        Key::Hs384 => (Algorithm::HS384, f.hmac.clone(), true),
        Key::Hs512 => (Algorithm::HS512, f.hmac.clone(), true),
        Key::Es256 => (Algorithm::ES256, f.ec.clone(), true),
        Key::Es256Unknown => (Algorithm::ES256, f.other_ec.clone(), false),
        Key::PublicKeyAsHmacSecret => {
            let jwk =
                jsonwebtoken::jwk::Jwk::from_encoding_key(&f.ec, Algorithm::ES256).expect("a JWK");
            let public = serde_json::to_vec(&jwk).expect("serializes");
            (Algorithm::HS256, EncodingKey::from_secret(&public), false)
        }
    };
    let alg_name = serde_json::to_value(alg).expect("serializes");
    let mut header = Map::new();
    let mut good = key_ok;
    match s.alg {
        AlgHeader::Matching => {
            header.insert("alg".into(), alg_name);
        }
        AlgHeader::Other(other) => {
            good &= alg_name == other.as_str();
            header.insert("alg".into(), other.into());
        }
        AlgHeader::None => {
            good = false;
            header.insert("alg".into(), "none".into());
        }
        AlgHeader::Absent => good = false,
    }
    let is_ec = alg == Algorithm::ES256;
    match s.kid {
        Kid::Absent => {}
        Kid::Matching => {
            header.insert("kid".into(), EC_KID.into());
        }
        Kid::Other(kid) => {
            good &= !is_ec || kid == EC_KID;
            header.insert("kid".into(), kid.into());
        }
        Kid::Number(n) => {
            good = false;
            header.insert("kid".into(), n.into());
        }
    }
    if s.crit {
        good = false;
        header.insert("crit".into(), json!(["exp"]));
    }
    let mut claims = Map::new();
    for (index, leaf) in s.claims {
        claims.insert(
            CLAIMS[usize::from(index) % CLAIMS.len()].to_owned(),
            leaf.value(),
        );
    }
    for (name, leaf) in s.extra {
        claims.insert(name, leaf.value());
    }
    match s.iss {
        Iss::Trusted => {
            claims.insert("iss".into(), ISSUER.into());
        }
        Iss::Absent => {
            claims.remove("iss");
            good = false;
        }
        Iss::Other(iss) => {
            good &= iss == ISSUER;
            claims.insert("iss".into(), iss.into());
        }
        Iss::Number(n) => {
            good = false;
            claims.insert("iss".into(), n.into());
        }
    }
    for (name, d) in [("exp", s.exp), ("nbf", s.nbf), ("iat", s.iat)] {
        match date(d, now) {
            None => {
                claims.remove(name);
            }
            Some(v) => {
                match seconds(&v) {
                    None => good = false,
                    Some(Some(t)) if name == "exp" && now > t.saturating_add(LEEWAY) => {
                        good = false
                    }
                    Some(Some(t)) if name == "nbf" && t > now + LEEWAY => good = false,
                    _ => {}
                }
                claims.insert(name.into(), v);
            }
        }
    }
    match s.aud {
        Aud::Absent => {
            claims.remove("aud");
        }
        Aud::Ours => {
            claims.insert("aud".into(), AUDIENCE.into());
        }
        Aud::Other(a) => {
            good &= a == AUDIENCE;
            claims.insert("aud".into(), a.into());
        }
        Aud::List(list, ours) => {
            let mut list: Vec<Value> = list
                .into_iter()
                .map(|a| a.map_or(Value::Null, Value::from))
                .collect();
            if ours {
                list.push(AUDIENCE.into());
            }
            good &= list.iter().any(|a| a == AUDIENCE);
            claims.insert("aud".into(), list.into());
        }
        Aud::Number(n) => {
            good = false;
            claims.insert("aud".into(), n.into());
        }
    }
    match s.software_id {
        SoftwareId::Absent => {
            claims.remove("software_id");
            good = false;
        }
        SoftwareId::Approved(first) => {
            claims.insert("software_id".into(), APPROVED[usize::from(!first)].into());
        }
        SoftwareId::Other(id) => {
            good &= APPROVED.contains(&id.as_str());
            claims.insert("software_id".into(), id.into());
        }
        SoftwareId::Number(n) => {
            good = false;
            claims.insert("software_id".into(), n.into());
        }
    }
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("serializes"));
    let payload = serde_json::to_vec(&claims).expect("serializes");
    let mut input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(&payload));
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, alg).expect("signs");
    if let Some(at) = s.tamper {
        let mut payload = payload;
        let at = usize::from(at) % payload.len().max(1);
        if let Some(b) = payload.get_mut(at) {
            *b ^= 0x01;
            good = false;
        }
        input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(&payload));
    }
    (format!("{input}.{signature}"), good)
}

/// What every accepted statement's claims satisfy.
fn check_claims(claims: &Map<String, Value>) {
    for member in NEVER_OVERRIDDEN {
        assert!(!claims.contains_key(member), "{member} survived");
    }
    let id = claims.get("software_id").and_then(Value::as_str);
    assert!(id.is_some_and(|id| APPROVED.contains(&id)));
}

// A first byte 0 selects structured input (statements the target signs);
// anything else is the statement itself, as text.
fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let before = now();
    // `good`: whether every rule holds, when the target knows.
    let (statement, good) = match data.split_first() {
        Some((0, rest)) => match Input::arbitrary_take_rest(Unstructured::new(rest)) {
            Ok(Input::Parts(header, payload, signature)) => (
                format!(
                    "{}.{}.{signature}",
                    URL_SAFE_NO_PAD.encode(header),
                    URL_SAFE_NO_PAD.encode(payload)
                ),
                Some(false),
            ),
            Ok(Input::Signed(signed)) => {
                let (statement, good) = build(signed, f, before);
                (statement, Some(good))
            }
            Err(_) => return,
        },
        _ => (String::from_utf8_lossy(data).into_owned(), None),
    };

    let result = f.verifier.verify(&statement, before);
    // One arm per (expected, actual) pair, so that coverage guidance rewards
    // reaching an accepted statement built by the target.
    match (good, &result) {
        (Some(false), Ok(_)) => panic!("an invalid statement was accepted: {statement}"),
        (Some(true), Err(e)) => panic!("a valid statement was refused: {e} {statement}"),
        (Some(true), Ok(claims)) => {
            if std::env::var_os("FUZZ_REPORT_ACCEPTED").is_some() {
                eprintln!("ACCEPTED structured statement");
            }
            check_claims(claims);
        }
        (None, Ok(claims)) => check_claims(claims),
        (_, Err(e)) => {
            assert!(
                matches!(
                    e.error_code(),
                    ErrorCode::InvalidSoftwareStatement | ErrorCode::UnapprovedSoftwareStatement
                ),
                "{e}"
            );
            assert!(
                !e.description().contains(SHARED_KEY),
                "the shared key leaked"
            );
        }
    }

    // The same statement through a registration: the statement's claims
    // override the request; never a 5xx.
    let body = json!({
        "software_statement": statement,
        "redirect_uris": ["https://client.example.org/cb"],
        "client_name": "fuzz",
    });
    let answer = send(
        &f.service,
        request(
            Method::POST,
            "/register",
            None,
            Some(serde_json::to_vec(&body).expect("serializes")),
        ),
    );
    check_response(&answer);
    if now() != before {
        // The service read the clock in another second: a statement at the
        // edge of exp or nbf may differ.
        assert!(answer.status == StatusCode::CREATED || answer.status == StatusCode::BAD_REQUEST);
        if answer.status == StatusCode::CREATED {
            delete_registered(&f.service, &answer.json());
        }
        return;
    }
    match answer.status {
        StatusCode::CREATED => {
            let claims = result.expect("the service accepted a statement verify refuses");
            let json = answer.json();
            assert_eq!(json["software_statement"], Value::from(statement));
            assert_eq!(json.get("software_id"), claims.get("software_id"));
            delete_registered(&f.service, &json);
        }
        StatusCode::BAD_REQUEST => {
            if let Err(e) = result {
                assert_eq!(answer.error(), e.error_code().as_str());
            }
        }
        other => panic!("unexpected status {other}"),
    }
});
