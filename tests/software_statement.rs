//! Software statements: RFC 7591 §2.3 (the statement), §3.1.1 (its claims take
//! precedence) and §3.2.2 (`invalid_software_statement`,
//! `unapproved_software_statement`). Every key is generated here, at test time.
#![cfg(feature = "software-statement")]

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand_core::OsRng;
use serde_json::{Map, Value, json};
use tower_dcr::software_statement::{
    NEVER_OVERRIDDEN, SoftwareStatementConfigError, SoftwareStatementVerifier, TrustedIssuer,
};
use tower_dcr::{ErrorCode, RegistrationError, Secret};

const ISSUER: &str = "https://statements.example.org";
const NOW: u64 = 1_800_000_000;
/// A 64-byte shared key: long enough for HS256, HS384 and HS512.
const SHARED_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A signing key with the public JWK (carrying `kid`) a verifier is given.
struct TestKey {
    encoding: EncodingKey,
    jwk: Value,
}

impl TestKey {
    fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk.clone()] })
    }
}

fn public_jwk(encoding: &EncodingKey, alg: Algorithm, kid: &str) -> Value {
    let mut jwk = serde_json::to_value(Jwk::from_encoding_key(encoding, alg).unwrap()).unwrap();
    let jwk = jwk.as_object_mut().unwrap();
    jwk.remove("alg");
    jwk.insert("kid".into(), kid.into());
    Value::Object(jwk.clone())
}

fn rsa_private() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap())
}

fn rsa_key() -> TestKey {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    let der = rsa_private().to_pkcs1_der().unwrap();
    let encoding = EncodingKey::from_rsa_der(der.as_bytes());
    let jwk = public_jwk(&encoding, Algorithm::RS256, "rsa-1");
    TestKey { encoding, jwk }
}

fn p256_key(kid: &str) -> TestKey {
    use p256::pkcs8::EncodePrivateKey as _;
    let der = p256::SecretKey::random(&mut OsRng).to_pkcs8_der().unwrap();
    let encoding = EncodingKey::from_ec_der(der.as_bytes());
    let jwk = public_jwk(&encoding, Algorithm::ES256, kid);
    TestKey { encoding, jwk }
}

fn p384_key() -> TestKey {
    use p384::pkcs8::EncodePrivateKey as _;
    let der = p384::SecretKey::random(&mut OsRng).to_pkcs8_der().unwrap();
    let encoding = EncodingKey::from_ec_der(der.as_bytes());
    let jwk = public_jwk(&encoding, Algorithm::ES384, "p384-1");
    TestKey { encoding, jwk }
}

fn ed25519_key() -> TestKey {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let signing = ed25519_dalek::SigningKey::generate(&mut OsRng);
    let der = signing.to_pkcs8_der().unwrap();
    let encoding = EncodingKey::from_ed_der(der.as_bytes());
    let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
    let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": "ed-1" });
    TestKey { encoding, jwk }
}

fn sign(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(Into::into);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Claims of a typical statement.
fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "iat": NOW - 10,
        "exp": NOW + 3600,
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
        "software_version": "2.1",
        "client_name": "Example Statement-based Client",
        "client_uri": "https://client.example.net/",
        "redirect_uris": ["https://client.example.net/cb"],
    })
}

fn verifier_for(issuer: TrustedIssuer) -> SoftwareStatementVerifier {
    SoftwareStatementVerifier::builder()
        .trusted_issuer(issuer)
        .build()
        .unwrap()
}

fn issuer_with(key: &TestKey) -> TrustedIssuer {
    TrustedIssuer::new(ISSUER).jwks(key.jwks())
}

#[track_caller]
fn assert_error(result: Result<Map<String, Value>, RegistrationError>, code: ErrorCode) -> String {
    let error = result.expect_err("the statement must be refused");
    assert_eq!(error.error_code(), code, "{error}");
    error.description().to_owned()
}

#[track_caller]
fn assert_invalid(verifier: &SoftwareStatementVerifier, statement: &str) -> String {
    let description = assert_error(
        verifier.verify(statement, NOW),
        ErrorCode::InvalidSoftwareStatement,
    );
    // RFC 7591 §3.2.2 descriptions are for developers; never echo the statement.
    assert!(statement.len() < 8 || !description.contains(statement));
    description
}

// ---- accepted: one statement per algorithm family -------------------------

#[test]
fn rfc7591_2_3_rs256_statement_from_a_trusted_issuer_yields_its_claims() {
    let key = rsa_key();
    let verifier = verifier_for(issuer_with(&key));
    let statement = sign(Algorithm::RS256, &key.encoding, Some("rsa-1"), &claims());
    let claims = verifier.verify(&statement, NOW).unwrap();
    assert_eq!(claims["software_id"], "4NRB1-0XZABZI9E6-5SM3R");
    assert_eq!(claims["software_version"], "2.1");
    assert_eq!(claims["client_name"], "Example Statement-based Client");
    assert_eq!(
        claims["redirect_uris"],
        json!(["https://client.example.net/cb"])
    );
    // The JWT registered claims describe the statement, not the client.
    for dropped in ["iss", "iat", "exp"] {
        assert!(!claims.contains_key(dropped), "{dropped} must be dropped");
    }
}

#[test]
fn rfc7591_2_3_every_rsa_algorithm_verifies() {
    let key = rsa_key();
    let verifier = verifier_for(issuer_with(&key));
    for alg in [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ] {
        let statement = sign(alg, &key.encoding, None, &claims());
        let claims = verifier
            .verify(&statement, NOW)
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(claims["software_id"], "4NRB1-0XZABZI9E6-5SM3R", "{alg:?}");
    }
}

#[test]
fn rfc7591_2_3_es256_and_es384_statements_verify() {
    let p256 = p256_key("p256-1");
    let p384 = p384_key();
    let verifier = verifier_for(
        TrustedIssuer::new(ISSUER)
            .jwks(p256.jwks())
            .jwks(p384.jwks()),
    );
    for (alg, key) in [(Algorithm::ES256, &p256), (Algorithm::ES384, &p384)] {
        let statement = sign(alg, &key.encoding, None, &claims());
        let claims = verifier
            .verify(&statement, NOW)
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(claims["client_name"], "Example Statement-based Client");
    }
}

#[test]
fn rfc7591_2_3_eddsa_statement_verifies() {
    let key = ed25519_key();
    let verifier = verifier_for(issuer_with(&key));
    let statement = sign(Algorithm::EdDSA, &key.encoding, Some("ed-1"), &claims());
    let claims = verifier.verify(&statement, NOW).unwrap();
    assert_eq!(claims["software_id"], "4NRB1-0XZABZI9E6-5SM3R");
}

#[test]
fn rfc7591_2_3_hmac_statements_verify_with_the_issuers_shared_key() {
    let verifier = verifier_for(TrustedIssuer::new(ISSUER).hmac_key(Secret::new(SHARED_KEY)));
    let key = EncodingKey::from_secret(SHARED_KEY.as_bytes());
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let statement = sign(alg, &key, None, &claims());
        let claims = verifier
            .verify(&statement, NOW)
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(claims["software_version"], "2.1", "{alg:?}");
    }
    // Signed with another shared key: the signature does not verify.
    let other = EncodingKey::from_secret(&[7u8; 64]);
    let forged = sign(Algorithm::HS256, &other, None, &claims());
    assert_invalid(&verifier, &forged);
}

#[test]
fn rfc7591_2_3_kid_selects_the_issuers_key() {
    let first = p256_key("key-a");
    let second = p256_key("key-b");
    let verifier = verifier_for(
        TrustedIssuer::new(ISSUER).jwks(json!({ "keys": [first.jwk.clone(), second.jwk.clone()] })),
    );
    // Without a kid every P-256 key is tried; with one, only that key.
    let by_second = sign(Algorithm::ES256, &second.encoding, None, &claims());
    assert!(verifier.verify(&by_second, NOW).is_ok());
    let named = sign(Algorithm::ES256, &second.encoding, Some("key-b"), &claims());
    assert!(verifier.verify(&named, NOW).is_ok());
    // A kid naming the other key: that key does not verify the signature.
    let misnamed = sign(Algorithm::ES256, &second.encoding, Some("key-a"), &claims());
    assert!(assert_invalid(&verifier, &misnamed).contains("signature"));
    // A kid the issuer does not have.
    let unknown = sign(Algorithm::ES256, &second.encoding, Some("key-z"), &claims());
    assert!(assert_invalid(&verifier, &unknown).contains("kid"));
}

// ---- §3.1.1: claims take precedence over the JSON members ------------------

#[test]
fn rfc7591_3_1_1_statement_claims_override_request_members_and_the_statement_is_kept() {
    let key = p256_key("p256-1");
    let verifier = verifier_for(issuer_with(&key));
    let mut stated = claims();
    // A statement must not set what the server issues.
    stated["client_id"] = json!("chosen-by-attacker");
    stated["client_secret"] = json!("chosen-by-attacker");
    stated["registration_access_token"] = json!("chosen");
    stated["registration_client_uri"] = json!("https://evil.example/");
    stated["client_id_issued_at"] = json!(1);
    stated["client_secret_expires_at"] = json!(0);
    stated["software_statement"] = json!("nested");
    stated["sub"] = json!("someone");
    stated["jti"] = json!("id-1");
    stated["nbf"] = json!(NOW - 10);
    let statement = sign(Algorithm::ES256, &key.encoding, None, &stated);
    let mut body = json!({
        "software_statement": statement,
        "client_name": "Name from the JSON body",
        "scope": "read",
    })
    .as_object()
    .unwrap()
    .clone();

    assert!(verifier.apply(&mut body, NOW).unwrap());

    assert_eq!(body["client_name"], "Example Statement-based Client");
    assert_eq!(
        body["scope"], "read",
        "members the statement lacks are kept"
    );
    assert_eq!(body["software_id"], "4NRB1-0XZABZI9E6-5SM3R");
    assert_eq!(
        body["software_statement"],
        json!(statement),
        "echoed unmodified"
    );
    for member in NEVER_OVERRIDDEN {
        if member != "software_statement" {
            assert!(!body.contains_key(member), "{member} must not be set");
        }
    }
}

#[test]
fn rfc7591_3_1_1_without_a_statement_apply_leaves_the_body_alone() {
    let key = p256_key("p256-1");
    let verifier = verifier_for(issuer_with(&key));
    let mut body = json!({ "client_name": "x" }).as_object().unwrap().clone();
    let before = body.clone();
    assert!(!verifier.apply(&mut body, NOW).unwrap());
    assert_eq!(body, before);
}

#[test]
fn rfc7591_2_3_a_required_statement_must_be_present() {
    let key = p256_key("p256-1");
    let verifier = SoftwareStatementVerifier::builder()
        .trusted_issuer(issuer_with(&key))
        .required(true)
        .build()
        .unwrap();
    assert!(verifier.is_required());
    for body in [
        json!({ "client_name": "x" }),
        json!({ "software_statement": null }),
    ] {
        let mut body = body.as_object().unwrap().clone();
        let error = verifier.apply(&mut body, NOW).unwrap_err();
        assert_eq!(error.error_code(), ErrorCode::InvalidSoftwareStatement);
        assert!(error.description().contains("required"));
    }
    // With one, the same request passes.
    let statement = sign(Algorithm::ES256, &key.encoding, None, &claims());
    let mut body = json!({ "software_statement": statement })
        .as_object()
        .unwrap()
        .clone();
    assert!(verifier.apply(&mut body, NOW).unwrap());
}

#[test]
fn rfc7591_2_3_software_statement_member_must_be_a_string() {
    let key = p256_key("p256-1");
    let verifier = verifier_for(issuer_with(&key));
    let mut body = json!({ "software_statement": { "iss": ISSUER } })
        .as_object()
        .unwrap()
        .clone();
    let error = verifier.apply(&mut body, NOW).unwrap_err();
    assert_eq!(error.error_code(), ErrorCode::InvalidSoftwareStatement);
}

// ---- §3.2.2 invalid_software_statement -------------------------------------

#[test]
fn rfc7591_3_2_2_malformed_statements_are_invalid() {
    let key = p256_key("p256-1");
    let verifier = verifier_for(issuer_with(&key));
    let good = sign(Algorithm::ES256, &key.encoding, None, &claims());
    let parts: Vec<&str> = good.split('.').collect();
    let header = parts[0];
    let signature = parts[2];
    let cases = [
        "".to_owned(),
        "not a jwt".to_owned(),
        format!("{header}.{}", parts[1]),
        format!("{good}.extra"),
        format!("{header}.{}.", parts[1]),
        // Not base64url.
        format!("{header}.%%%%.{signature}"),
        format!("e30*.{}.{signature}", parts[1]),
        // base64url, but not JSON.
        format!(
            "{header}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(b"{not json")
        ),
        // JSON, but not an object.
        format!("{header}.{}.{signature}", b64(&json!(["iss", ISSUER]))),
        format!("{}.{}.{signature}", b64(&json!("ES256")), parts[1]),
    ];
    for statement in &cases {
        assert_invalid(&verifier, statement);
    }
}

#[test]
fn rfc7591_3_2_2_a_signature_by_another_key_is_invalid() {
    let trusted = p256_key("p256-1");
    let attacker = p256_key("p256-1");
    let verifier = verifier_for(issuer_with(&trusted));
    let forged = sign(
        Algorithm::ES256,
        &attacker.encoding,
        Some("p256-1"),
        &claims(),
    );
    assert!(assert_invalid(&verifier, &forged).contains("signature"));

    // A valid statement with its payload swapped keeps the old signature.
    let good = sign(Algorithm::ES256, &trusted.encoding, None, &claims());
    let mut tampered_claims = claims();
    tampered_claims["client_name"] = json!("Tampered");
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64(&tampered_claims), parts[2]);
    assert_invalid(&verifier, &tampered);
}

#[test]
fn rfc7591_3_2_2_an_expired_statement_is_invalid() {
    let key = p256_key("p256-1");
    let verifier = SoftwareStatementVerifier::builder()
        .trusted_issuer(issuer_with(&key))
        .leeway(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut expired = claims();
    expired["exp"] = json!(NOW - 31);
    let statement = sign(Algorithm::ES256, &key.encoding, None, &expired);
    assert!(assert_invalid(&verifier, &statement).contains("expired"));
    // Within the leeway it is still accepted, and exp is not required.
    expired["exp"] = json!(NOW - 29);
    let statement = sign(Algorithm::ES256, &key.encoding, None, &expired);
    assert!(verifier.verify(&statement, NOW).is_ok());
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    let statement = sign(Algorithm::ES256, &key.encoding, None, &no_exp);
    assert!(verifier.verify(&statement, NOW).is_ok());
    // A non-numeric exp is not a NumericDate.
    let mut text_exp = claims();
    text_exp["exp"] = json!("tomorrow");
    let statement = sign(Algorithm::ES256, &key.encoding, None, &text_exp);
    assert_invalid(&verifier, &statement);
}

#[test]
fn rfc7591_3_2_2_a_statement_not_yet_valid_is_invalid() {
    let key = p256_key("p256-1");
    let verifier = verifier_for(issuer_with(&key));
    let mut future = claims();
    future["nbf"] = json!(NOW + 61);
    let statement = sign(Algorithm::ES256, &key.encoding, None, &future);
    assert!(assert_invalid(&verifier, &statement).contains("not yet valid"));
    future["nbf"] = json!(NOW + 59);
    let statement = sign(Algorithm::ES256, &key.encoding, None, &future);
    assert!(
        verifier.verify(&statement, NOW).is_ok(),
        "default leeway is 60 s"
    );
}

#[test]
fn rfc7591_3_2_2_an_unsigned_alg_none_statement_is_invalid() {
    let key = p256_key("p256-1");
    let verifier = verifier_for(issuer_with(&key));
    let body = b64(&claims());
    for alg in ["none", "None", "NONE"] {
        let header = b64(&json!({ "alg": alg, "typ": "JWT" }));
        assert!(assert_invalid(&verifier, &format!("{header}.{body}.")).contains("signed"));
        let with_sig = format!("{header}.{body}.{}", URL_SAFE_NO_PAD.encode(b"sig"));
        assert!(assert_invalid(&verifier, &with_sig).contains("alg"));
    }
    let no_alg = format!("{}.{body}.c2ln", b64(&json!({ "typ": "JWT" })));
    assert!(assert_invalid(&verifier, &no_alg).contains("alg"));
}

#[test]
fn rfc7591_3_2_2_hs256_signed_with_the_rsa_public_key_is_invalid() {
    // The classic key-confusion attack: the issuer publishes an RSA key; the
    // attacker signs HS256 with that public key (PEM) as the HMAC secret.
    use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
    let key = rsa_key();
    let pem = rsa_private()
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let mut forged_claims = claims();
    forged_claims["client_name"] = json!("Forged");
    let forged = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(pem.as_bytes()),
        Some("rsa-1"),
        &forged_claims,
    );
    let forged_no_kid = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(pem.as_bytes()),
        None,
        &forged_claims,
    );

    // No shared key configured: HS256 is not allowed for this issuer at all.
    let rsa_only = verifier_for(issuer_with(&key));
    assert!(assert_invalid(&rsa_only, &forged).contains("alg"));
    assert!(assert_invalid(&rsa_only, &forged_no_kid).contains("alg"));
    assert!(!rsa_only.signing_alg_values().contains(&"HS256"));

    // With a shared key too, HMAC uses only that key, never the RSA key.
    let both = verifier_for(issuer_with(&key).hmac_key(Secret::new(SHARED_KEY)));
    assert!(assert_invalid(&both, &forged).contains("signature"));
}

#[test]
fn rfc7591_3_2_2_an_alg_outside_the_configured_list_is_invalid() {
    let key = rsa_key();
    let verifier = SoftwareStatementVerifier::builder()
        .trusted_issuer(issuer_with(&key))
        .algorithms(["PS256"])
        .build()
        .unwrap();
    assert_eq!(verifier.signing_alg_values(), ["PS256"]);
    let rs256 = sign(Algorithm::RS256, &key.encoding, None, &claims());
    assert!(assert_invalid(&verifier, &rs256).contains("alg"));
    let ps256 = sign(Algorithm::PS256, &key.encoding, None, &claims());
    assert!(verifier.verify(&ps256, NOW).is_ok());
}

#[test]
fn rfc7591_3_2_2_an_alg_that_does_not_match_the_key_is_invalid() {
    // The issuer has a P-256 key only; a statement claiming ES384 or RS256
    // finds no key to be checked with.
    let key = p256_key("p256-1");
    let p384 = p384_key();
    let verifier = verifier_for(issuer_with(&key));
    let es384 = sign(Algorithm::ES384, &p384.encoding, None, &claims());
    assert_invalid(&verifier, &es384);
    // A JWK restricted to ES256 ("alg") is not used for anything else.
    let mut pinned = key.jwk.clone();
    pinned["alg"] = json!("ES256");
    let verifier = verifier_for(TrustedIssuer::new(ISSUER).jwks(json!({ "keys": [pinned] })));
    let es256 = sign(Algorithm::ES256, &key.encoding, None, &claims());
    assert!(verifier.verify(&es256, NOW).is_ok());
}

#[test]
fn rfc7591_2_3_a_statement_without_iss_is_invalid() {
    let key = p256_key("p256-1");
    let verifier = verifier_for(issuer_with(&key));
    let mut no_iss = claims();
    no_iss.as_object_mut().unwrap().remove("iss");
    let statement = sign(Algorithm::ES256, &key.encoding, None, &no_iss);
    assert!(assert_invalid(&verifier, &statement).contains("iss"));
    let mut array_iss = claims();
    array_iss["iss"] = json!([ISSUER]);
    let statement = sign(Algorithm::ES256, &key.encoding, None, &array_iss);
    assert!(assert_invalid(&verifier, &statement).contains("iss"));
}

#[test]
fn rfc7591_3_2_2_crit_headers_are_not_understood() {
    // RFC 7515 §4.1.11: a crit extension the recipient does not understand
    // makes the JWS invalid.
    let key = p256_key("p256-1");
    let verifier = verifier_for(issuer_with(&key));
    let mut header = Header::new(Algorithm::ES256);
    header.crit = Some(vec!["exp".into()]);
    let statement = jsonwebtoken::encode(&header, &claims(), &key.encoding).unwrap();
    assert!(assert_invalid(&verifier, &statement).contains("crit"));
}

#[test]
fn rfc7519_4_1_3_an_aud_must_name_this_server() {
    let key = p256_key("p256-1");
    let open = verifier_for(issuer_with(&key));
    let with_aud = SoftwareStatementVerifier::builder()
        .trusted_issuer(issuer_with(&key))
        .audiences(["https://auth.example.com"])
        .build()
        .unwrap();
    let mut to_us = claims();
    to_us["aud"] = json!(["https://other.example", "https://auth.example.com"]);
    let to_us = sign(Algorithm::ES256, &key.encoding, None, &to_us);
    assert!(with_aud.verify(&to_us, NOW).is_ok());
    assert!(assert_invalid(&open, &to_us).contains("aud"));
    let mut elsewhere = claims();
    elsewhere["aud"] = json!("https://other.example");
    let elsewhere = sign(Algorithm::ES256, &key.encoding, None, &elsewhere);
    assert!(assert_invalid(&with_aud, &elsewhere).contains("aud"));
}

// ---- §3.2.2 unapproved_software_statement ----------------------------------

#[test]
fn rfc7591_3_2_2_an_untrusted_issuer_is_unapproved() {
    let trusted = p256_key("p256-1");
    let other = p256_key("p256-1");
    let verifier = verifier_for(issuer_with(&trusted));
    // Properly signed by its own issuer, which this server does not trust.
    let mut foreign = claims();
    foreign["iss"] = json!("https://elsewhere.example.org");
    let statement = sign(Algorithm::ES256, &other.encoding, None, &foreign);
    let description = assert_error(
        verifier.verify(&statement, NOW),
        ErrorCode::UnapprovedSoftwareStatement,
    );
    assert!(!description.contains("elsewhere"), "no echo of the claim");
}

#[test]
fn rfc7591_3_2_2_a_software_id_outside_the_approved_list_is_unapproved() {
    let key = p256_key("p256-1");
    let verifier = verifier_for(issuer_with(&key).software_ids(["4NRB1-0XZABZI9E6-5SM3R"]));
    let approved = sign(Algorithm::ES256, &key.encoding, None, &claims());
    assert!(verifier.verify(&approved, NOW).is_ok());

    let mut other = claims();
    other["software_id"] = json!("some-other-app");
    let statement = sign(Algorithm::ES256, &key.encoding, None, &other);
    assert_error(
        verifier.verify(&statement, NOW),
        ErrorCode::UnapprovedSoftwareStatement,
    );

    let mut missing = claims();
    missing.as_object_mut().unwrap().remove("software_id");
    let statement = sign(Algorithm::ES256, &key.encoding, None, &missing);
    assert_error(
        verifier.verify(&statement, NOW),
        ErrorCode::UnapprovedSoftwareStatement,
    );
}

#[test]
fn rfc7591_3_2_2_a_bad_signature_is_invalid_even_with_an_unapproved_software_id() {
    // The signature is checked before the approval list: a forgery is
    // `invalid_software_statement`, never `unapproved`.
    let trusted = p256_key("p256-1");
    let attacker = p256_key("p256-1");
    let verifier = verifier_for(issuer_with(&trusted).software_ids(["approved"]));
    let forged = sign(Algorithm::ES256, &attacker.encoding, None, &claims());
    assert_invalid(&verifier, &forged);
}

// ---- configuration ---------------------------------------------------------

#[test]
fn signing_alg_values_lists_only_algorithms_with_a_key() {
    let p256 = p256_key("p256-1");
    let ed = ed25519_key();
    let verifier = SoftwareStatementVerifier::builder()
        .trusted_issuer(issuer_with(&p256).hmac_key(Secret::new(&SHARED_KEY[..32])))
        .trusted_issuer(TrustedIssuer::new("https://second.example").jwks(ed.jwks()))
        .build()
        .unwrap();
    // A 32-byte shared key is enough for HS256 only (RFC 7518 §3.2).
    assert_eq!(verifier.signing_alg_values(), ["ES256", "EdDSA", "HS256"]);
    let hs384 = sign(
        Algorithm::HS384,
        &EncodingKey::from_secret(&SHARED_KEY.as_bytes()[..32]),
        None,
        &claims(),
    );
    assert_invalid(&verifier, &hs384);
}

#[test]
fn builder_refuses_unsafe_or_unusable_configuration() {
    let key = p256_key("p256-1");
    let build = |issuer: TrustedIssuer| {
        SoftwareStatementVerifier::builder()
            .trusted_issuer(issuer)
            .build()
            .unwrap_err()
    };
    assert_eq!(
        SoftwareStatementVerifier::builder().build().unwrap_err(),
        SoftwareStatementConfigError::NoIssuer
    );
    for alg in ["none", "HS1", "RSA-OAEP"] {
        assert_eq!(
            SoftwareStatementVerifier::builder()
                .trusted_issuer(issuer_with(&key))
                .algorithms([alg])
                .build()
                .unwrap_err(),
            SoftwareStatementConfigError::UnsupportedAlgorithm(alg.into())
        );
    }
    assert!(matches!(
        build(TrustedIssuer::new(ISSUER)),
        SoftwareStatementConfigError::NoKeys(_)
    ));
    assert!(matches!(
        build(TrustedIssuer::new(ISSUER).hmac_key(Secret::new("short"))),
        SoftwareStatementConfigError::InvalidKey { .. }
    ));
    let oct = json!({ "keys": [{ "kty": "oct", "k": URL_SAFE_NO_PAD.encode([1u8; 32]) }] });
    assert!(matches!(
        build(TrustedIssuer::new(ISSUER).jwks(oct)),
        SoftwareStatementConfigError::InvalidKey { .. }
    ));
    let small_rsa = json!({ "keys": [{
        "kty": "RSA", "e": "AQAB", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 128]),
    }] });
    assert!(matches!(
        build(TrustedIssuer::new(ISSUER).jwks(small_rsa)),
        SoftwareStatementConfigError::InvalidKey { .. }
    ));
    let mut encryption = key.jwk.clone();
    encryption["use"] = json!("enc");
    assert!(matches!(
        build(TrustedIssuer::new(ISSUER).jwks(json!({ "keys": [encryption] }))),
        SoftwareStatementConfigError::InvalidKey { .. }
    ));
    assert!(matches!(
        build(TrustedIssuer::new(ISSUER).jwks(json!(["not", "a", "set"]))),
        SoftwareStatementConfigError::InvalidKey { .. }
    ));
    assert!(matches!(
        SoftwareStatementVerifier::builder()
            .trusted_issuer(issuer_with(&key))
            .trusted_issuer(issuer_with(&key))
            .build()
            .unwrap_err(),
        SoftwareStatementConfigError::DuplicateIssuer(_)
    ));
}

#[test]
fn debug_never_prints_key_material() {
    let issuer = TrustedIssuer::new(ISSUER).hmac_key(Secret::new(SHARED_KEY));
    let shown = format!("{issuer:?}");
    assert!(shown.contains(ISSUER));
    assert!(!shown.contains(SHARED_KEY));
    let verifier = verifier_for(issuer);
    let shown = format!("{verifier:?}");
    assert!(shown.contains(ISSUER));
    assert!(!shown.contains(SHARED_KEY));
    assert!(!shown.contains("0123456789"));
}

// ---- Through the registration service (RFC 7591 §3.1.1, §3.2.1) ----

mod common;

fn real_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn service_claims() -> Value {
    json!({
        "iss": ISSUER,
        "iat": real_now() - 10,
        "exp": real_now() + 3600,
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
        "client_name": "Name From The Statement",
        "redirect_uris": ["https://client.example.net/cb"],
    })
}

fn service_with(verifier: SoftwareStatementVerifier) -> tower_dcr::Registration {
    common::builder()
        .software_statements(verifier)
        .build()
        .unwrap()
}

/// RFC 7591 §3.1.1: the statement's claims take precedence over the JSON
/// members; §3.2.1: the statement is returned unmodified; the discovery
/// fragment lists the statement signing algorithms.
#[tokio::test]
async fn rfc7591_3_1_1_registration_with_a_statement_uses_its_claims() {
    let key = p256_key("svc-1");
    let dcr = service_with(verifier_for(issuer_with(&key)));
    let statement = sign(
        Algorithm::ES256,
        &key.encoding,
        Some("svc-1"),
        &service_claims(),
    );
    let body = json!({
        "software_statement": statement,
        "client_name": "Name The Client Chose",
        "redirect_uris": ["https://client.example.net/cb"],
        "scope": "read",
    });
    let a = common::registered(&dcr, body).await;
    assert_eq!(a.json["client_name"], "Name From The Statement");
    assert_eq!(a.json["software_id"], "4NRB1-0XZABZI9E6-5SM3R");
    assert_eq!(a.json["scope"], "read", "members not in the statement stay");
    assert_eq!(a.json["software_statement"], statement);
    assert!(a.json.get("iss").is_none(), "JWT claims are not metadata");
    let algs = &dcr.discovery_metadata()["software_statement_signing_alg_values_supported"];
    assert!(algs.as_array().unwrap().contains(&json!("ES256")), "{algs}");
}

/// RFC 7591 §3.2.2: a bad statement is invalid_software_statement, an
/// untrusted issuer unapproved_software_statement; a required statement must
/// be present.
#[tokio::test]
async fn rfc7591_3_2_2_statement_errors_through_the_service() {
    let key = p256_key("svc-2");
    let other = p256_key("svc-2");
    let dcr = service_with(
        SoftwareStatementVerifier::builder()
            .trusted_issuer(issuer_with(&key))
            .required(true)
            .build()
            .unwrap(),
    );
    let forged = sign(
        Algorithm::ES256,
        &other.encoding,
        Some("svc-2"),
        &service_claims(),
    );
    common::register(
        &dcr,
        json!({"software_statement": forged, "redirect_uris": ["https://c.example/cb"]}),
    )
    .await
    .assert_error(400, "invalid_software_statement");
    let mut untrusted = service_claims();
    untrusted["iss"] = json!("https://unknown.example");
    let statement = sign(Algorithm::ES256, &key.encoding, Some("svc-2"), &untrusted);
    common::register(
        &dcr,
        json!({"software_statement": statement, "redirect_uris": ["https://c.example/cb"]}),
    )
    .await
    .assert_error(400, "unapproved_software_statement");
    common::register(&dcr, common::web_client())
        .await
        .assert_error(400, "invalid_software_statement");
}

/// RFC 7591 §2.3: without a verifier the server ignores a statement: it is
/// neither trusted nor stored.
#[tokio::test]
async fn rfc7591_2_3_statement_is_ignored_without_a_verifier() {
    let key = p256_key("svc-3");
    let statement = sign(
        Algorithm::ES256,
        &key.encoding,
        Some("svc-3"),
        &service_claims(),
    );
    let mut body = common::web_client();
    body["software_statement"] = json!(statement);
    let a = common::registered(&common::open(), body).await;
    assert!(a.json.get("software_statement").is_none());
    assert_eq!(a.json["client_name"], "Example Client");
}

/// RFC 7592 §2.2 has a client send back the metadata it was given, statement
/// included: the statement it registered with keeps working after it expires,
/// while a different expired statement is refused.
#[tokio::test]
async fn rfc7592_2_2_an_update_may_send_back_the_registered_statement_after_it_expires() {
    let key = p256_key("svc-4");
    let verifier = SoftwareStatementVerifier::builder()
        .trusted_issuer(issuer_with(&key))
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let dcr = service_with(verifier);
    let mut claims = service_claims();
    claims["exp"] = json!(real_now() + 1);
    let statement = sign(Algorithm::ES256, &key.encoding, Some("svc-4"), &claims);
    let a = common::registered(
        &dcr,
        json!({"software_statement": statement, "redirect_uris": ["https://client.example.net/cb"]}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let mut body = a.json.clone();
    for member in [
        "registration_access_token",
        "registration_client_uri",
        "client_secret_expires_at",
        "client_id_issued_at",
        "client_secret",
    ] {
        body.as_object_mut().unwrap().remove(member);
    }
    let path = common::client_path(&a);
    let u = common::update(
        &dcr,
        &path,
        a.str("registration_access_token"),
        body.clone(),
    )
    .await;
    assert_eq!(u.status, 200, "{:?}", u.json);
    assert_eq!(u.json["client_name"], "Name From The Statement");

    let mut other = claims.clone();
    other["client_name"] = json!("Another");
    body["software_statement"] =
        json!(sign(Algorithm::ES256, &key.encoding, Some("svc-4"), &other));
    common::update(&dcr, &path, u.str("registration_access_token"), body)
        .await
        .assert_error(400, "invalid_software_statement");
}
