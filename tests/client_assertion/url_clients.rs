//! JWT client authentication (RFC 7523 §2.2, §3; OIDC Core §9) through
//! `authenticate_client`: URL clients (keys at a `jwks_uri` on an https test
//! server, or inline) and registered clients alike.
#![cfg(all(feature = "client-id-metadata-document", feature = "client-assertion"))]

use crate::cimd_support;
use crate::common;
use crate::fixtures::{self, JWKS, PATH, credentials};

use std::time::Duration;

use cimd_support::{DocServer, ISSUER, Reply, TestKey, claims, now, unsigned};
use http::HeaderMap;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tower_dcr::Registration;
use tower_dcr::client_assertion::{AudienceRule, ClientAssertions, JWT_BEARER};
use tower_dcr::events::{Event, EventKind};
use tower_dcr::host::{ClientAuthError, ClientCredentials, CredentialsLocation};
use tower_dcr::metadata_document::MetadataDocuments;

struct Setup {
    server: DocServer,
    dcr: Registration,
    id: String,
    key: TestKey,
}

/// A `private_key_jwt` URL client with one P-256 key at `jwks_uri`.
async fn url_client(rules: ClientAssertions) -> Setup {
    let key = TestKey::p256("k1");
    let (server, dcr, id) = fixtures::url_client(rules, &[&key]).await;
    Setup {
        server,
        dcr,
        id,
        key,
    }
}

async fn authenticate(setup: &Setup, assertion: &str) -> Result<(), ClientAuthError> {
    setup
        .dcr
        .authenticate_client(&credentials(Some(&setup.id), assertion))
        .await
        .map(|record| assert_eq!(record.client_id, setup.id))
}

/// RFC 7523 §2.2, draft-ietf-oauth-client-id-metadata-document §8.2: an ES256
/// assertion verified with the key at the document's `jwks_uri`.
#[tokio::test]
async fn rfc7523_2_2_a_valid_es256_assertion_authenticates_a_url_client() {
    let s = url_client(ClientAssertions::new()).await;
    let assertion = s.key.sign(&claims(&s.id, ISSUER));
    authenticate(&s, &assertion).await.unwrap();
    // The client_id may be left out: the assertion's sub names the client.
    let c = credentials(None, &s.key.sign(&claims(&s.id, ISSUER)));
    assert_eq!(c.client_id(), s.id);
    assert_eq!(c.location(), CredentialsLocation::Assertion);
    s.dcr.authenticate_client(&c).await.unwrap();
    assert_eq!(s.server.hits(JWKS), 1, "keys are cached");
}

/// A public (`none`) client or a secret is not enough for a private_key_jwt
/// client.
#[tokio::test]
async fn a_private_key_jwt_client_needs_an_assertion() {
    let s = url_client(ClientAssertions::new()).await;
    let none =
        ClientCredentials::from_request(&HeaderMap::new(), Some(s.id.as_str()), None).unwrap();
    assert_eq!(
        s.dcr.authenticate_client(&none).await.unwrap_err(),
        ClientAuthError::InvalidClient
    );
}

#[tokio::test]
async fn rfc7523_3_an_assertion_signed_with_another_key_is_refused() {
    let s = url_client(ClientAssertions::new()).await;
    let other = TestKey::p256("k1");
    let error = authenticate(&s, &other.sign(&claims(&s.id, ISSUER))).await;
    assert_eq!(error.unwrap_err(), ClientAuthError::InvalidClient);
}

#[tokio::test]
async fn rfc7523_3_a_wrong_audience_is_refused() {
    let s = url_client(ClientAssertions::new()).await;
    for aud in [
        json!("https://other.example"),
        json!(["https://other.example"]),
    ] {
        let mut c = claims(&s.id, ISSUER);
        c["aud"] = aud;
        assert_eq!(
            authenticate(&s, &s.key.sign(&c)).await.unwrap_err(),
            ClientAuthError::InvalidClient
        );
    }
    // The token endpoint URL when configured, under RFC 7523 §3's rule
    // (which allows it; the default draft-ietf-oauth-rfc7523bis rule does not,
    // see rfc7523bis_the_issuer_is_the_sole_audience_by_default).
    let s = url_client(
        ClientAssertions::new()
            .audience_rule(AudienceRule::Rfc7523)
            .token_endpoint("http://127.0.0.1:8080/token"),
    )
    .await;
    let c = claims(&s.id, "http://127.0.0.1:8080/token");
    authenticate(&s, &s.key.sign(&c)).await.unwrap();
}

/// draft-ietf-oauth-rfc7523bis: "MUST reject any JWT that does not contain
/// its issuer identifier as its sole audience value" (against audience
/// injection): by default the token endpoint URL and an array holding
/// foreign values are refused, a one-element array is accepted; RFC 7523 §3's
/// wider rule only when the host chooses it.
#[tokio::test]
async fn rfc7523bis_the_issuer_is_the_sole_audience_by_default() {
    let token_endpoint = "http://127.0.0.1:8080/token";
    let s = url_client(ClientAssertions::new().token_endpoint(token_endpoint)).await;
    for aud in [
        json!(token_endpoint),
        json!([ISSUER, "https://other.example"]),
        json!(["https://other.example", ISSUER]),
        json!([ISSUER, token_endpoint]),
    ] {
        let mut c = claims(&s.id, ISSUER);
        c["aud"] = aud.clone();
        assert_eq!(
            authenticate(&s, &s.key.sign(&c)).await.unwrap_err(),
            ClientAuthError::InvalidClient,
            "{aud}"
        );
    }
    let mut c = claims(&s.id, ISSUER);
    c["aud"] = json!([ISSUER]);
    authenticate(&s, &s.key.sign(&c)).await.unwrap();
    authenticate(&s, &s.key.sign(&claims(&s.id, ISSUER)))
        .await
        .unwrap();

    let s = url_client(ClientAssertions::new().audience_rule(AudienceRule::Rfc7523)).await;
    let mut c = claims(&s.id, ISSUER);
    c["aud"] = json!(["https://other.example", ISSUER]);
    authenticate(&s, &s.key.sign(&c)).await.unwrap();
}

#[tokio::test]
async fn rfc7523_3_an_expired_assertion_is_refused() {
    let s = url_client(ClientAssertions::new()).await;
    let mut c = claims(&s.id, ISSUER);
    c["iat"] = (now() - 600).into();
    c["exp"] = (now() - 120).into();
    assert_eq!(
        authenticate(&s, &s.key.sign(&c)).await.unwrap_err(),
        ClientAuthError::InvalidClient
    );
    // exp required, and lifetime bounded.
    let mut c = claims(&s.id, ISSUER);
    c.as_object_mut().unwrap().remove("exp");
    assert!(authenticate(&s, &s.key.sign(&c)).await.is_err());
    let mut c = claims(&s.id, ISSUER);
    c["exp"] = (now() + 3600).into();
    assert!(authenticate(&s, &s.key.sign(&c)).await.is_err());
}

#[tokio::test]
async fn rfc7523_3_iss_and_sub_must_be_the_client_id() {
    let s = url_client(ClientAssertions::new()).await;
    for claim in ["iss", "sub"] {
        let mut c = claims(&s.id, ISSUER);
        c[claim] = "https://someone.else/c".into();
        assert!(authenticate(&s, &s.key.sign(&c)).await.is_err(), "{claim}");
    }
}

/// RFC 7523 §3 item 7 / OIDC Core §9: a `jti` is accepted once.
#[tokio::test]
async fn rfc7523_3_a_replayed_jti_is_refused() {
    let s = url_client(ClientAssertions::new()).await;
    let assertion = s.key.sign(&claims(&s.id, ISSUER));
    authenticate(&s, &assertion).await.unwrap();
    assert_eq!(
        authenticate(&s, &assertion).await.unwrap_err(),
        ClientAuthError::InvalidClient
    );
    let mut c = claims(&s.id, ISSUER);
    c.as_object_mut().unwrap().remove("jti");
    assert!(
        authenticate(&s, &s.key.sign(&c)).await.is_err(),
        "jti required"
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let s = url_client(ClientAssertions::new()).await;
    assert_eq!(
        authenticate(&s, &unsigned(&claims(&s.id, ISSUER)))
            .await
            .unwrap_err(),
        ClientAuthError::InvalidClient
    );
}

/// An HS algorithm for an asymmetric client is refused, whatever the key
/// (here the public key's own JWK text as the HMAC secret).
#[tokio::test]
async fn an_hs_algorithm_for_an_asymmetric_client_is_refused() {
    let s = url_client(ClientAssertions::new()).await;
    for secret in [s.key.jwk.to_string().into_bytes(), vec![7u8; 64]] {
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(&s.id, ISSUER),
            &EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert_eq!(
            authenticate(&s, &token).await.unwrap_err(),
            ClientAuthError::InvalidClient
        );
    }
}

/// Draft §8.4.1: a client rotating the keys at its `jwks_uri` signs with a
/// key the cache does not know yet: the keys are fetched again (at most once
/// per interval) and a keys-changed event is sent.
#[tokio::test]
async fn a_key_rotated_at_jwks_uri_is_picked_up() {
    let s = url_client(ClientAssertions::new().jwks_refetch_interval(Duration::ZERO)).await;
    authenticate(&s, &s.key.sign(&claims(&s.id, ISSUER)))
        .await
        .unwrap();
    let rotated = TestKey::p256("k2");
    s.server.set(JWKS, Reply::json(&rotated.jwks()));
    authenticate(&s, &rotated.sign(&claims(&s.id, ISSUER)))
        .await
        .unwrap();
    assert_eq!(s.server.hits(JWKS), 2);
    // The old key is gone.
    assert!(
        authenticate(&s, &s.key.sign(&claims(&s.id, ISSUER)))
            .await
            .is_err()
    );

    // With the default interval, an unknown key does not make every request
    // fetch the keys again.
    let s = url_client(ClientAssertions::new()).await;
    authenticate(&s, &s.key.sign(&claims(&s.id, ISSUER)))
        .await
        .unwrap();
    let stranger = TestKey::p256("k9");
    for _ in 0..3 {
        assert!(
            authenticate(&s, &stranger.sign(&claims(&s.id, ISSUER)))
                .await
                .is_err()
        );
    }
    assert_eq!(s.server.hits(JWKS), 1);
}

#[tokio::test]
async fn keys_changed_event_on_rotation() {
    let server = DocServer::start().await;
    let id = server.url(PATH);
    let key = TestKey::p256("k1");
    server.set(JWKS, Reply::json(&key.jwks()));
    server.set(
        PATH,
        Reply::json(&json!({
            "client_id": id, "redirect_uris": ["http://127.0.0.1/cb"],
            "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": server.url(JWKS),
        })),
    );
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&events);
    let dcr = Registration::builder(ISSUER)
        .open()
        .metadata_documents(
            MetadataDocuments::any_host()
                .loopback_documents(true)
                .root_certificate_pem(server.ca_pem.clone()),
        )
        .client_assertions(ClientAssertions::new().jwks_refetch_interval(Duration::ZERO))
        .events(move |e: &Event| sink.lock().unwrap().push(e.kind.clone()))
        .build()
        .unwrap();
    dcr.authenticate_client(&credentials(Some(&id), &key.sign(&claims(&id, ISSUER))))
        .await
        .unwrap();
    let rotated = TestKey::p256("k2");
    server.set(JWKS, Reply::json(&rotated.jwks()));
    dcr.authenticate_client(&credentials(Some(&id), &rotated.sign(&claims(&id, ISSUER))))
        .await
        .unwrap();
    assert!(events.lock().unwrap().contains(&EventKind::KeysChanged));
}

/// EdDSA, with the keys inline in the document (`jwks`).
#[tokio::test]
async fn an_eddsa_assertion_with_inline_jwks() {
    let server = DocServer::start().await;
    let id = server.url(PATH);
    let key = TestKey::ed25519("ed");
    server.set(
        PATH,
        Reply::json(&json!({
            "client_id": id, "redirect_uris": ["http://127.0.0.1/cb"],
            "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks(),
        })),
    );
    let dcr = Registration::builder(ISSUER)
        .open()
        .metadata_documents(
            MetadataDocuments::any_host()
                .loopback_documents(true)
                .root_certificate_pem(server.ca_pem.clone()),
        )
        .client_assertions(ClientAssertions::new())
        .build()
        .unwrap();
    dcr.authenticate_client(&credentials(Some(&id), &key.sign(&claims(&id, ISSUER))))
        .await
        .unwrap();
}

/// Form-field rules (RFC 7521 §4.2, RFC 6749 §2.3): one method at a time.
#[test]
fn assertion_credentials_parsing() {
    let with_secret = ClientCredentials::from_request_with_assertion(
        &HeaderMap::new(),
        Some("c"),
        Some("s"),
        Some(JWT_BEARER),
        Some("a.b.c"),
    );
    assert_eq!(with_secret.unwrap_err(), ClientAuthError::InvalidRequest);
    let half = ClientCredentials::from_request_with_assertion(
        &HeaderMap::new(),
        Some("c"),
        None,
        None,
        Some("a.b.c"),
    );
    assert_eq!(half.unwrap_err(), ClientAuthError::InvalidRequest);
    let other_type = ClientCredentials::from_request_with_assertion(
        &HeaderMap::new(),
        Some("c"),
        None,
        Some("urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
        Some("a.b.c"),
    );
    assert_eq!(other_type.unwrap_err(), ClientAuthError::InvalidClient);
}

/// Draft §8.6: URLs inside a document (`jwks_uri`) are never fetched when they
/// point at a special-use address.
#[tokio::test]
async fn cimd_8_6_a_jwks_uri_on_a_special_use_address_is_never_fetched() {
    for jwks_uri in ["https://10.1.2.3/jwks.json", "https://169.254.169.254/keys"] {
        let server = DocServer::start().await;
        let id = server.url(PATH);
        let key = TestKey::p256("k1");
        server.set(
            PATH,
            Reply::json(&json!({
                "client_id": id, "redirect_uris": ["http://127.0.0.1/cb"],
                "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_uri,
            })),
        );
        let dcr = Registration::builder(ISSUER)
            .open()
            .metadata_documents(
                MetadataDocuments::any_host()
                    .loopback_documents(true)
                    .root_certificate_pem(server.ca_pem.clone())
                    .timeout(Duration::from_secs(2)),
            )
            .client_assertions(ClientAssertions::new())
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            dcr.authenticate_client(&credentials(Some(&id), &key.sign(&claims(&id, ISSUER))))
                .await
                .unwrap_err(),
            ClientAuthError::InvalidClient
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused before connecting"
        );
    }
}

/// Why a URL client was refused is logged at info level
/// (draft-ietf-oauth-client-id-metadata-document §5: a failed fetch aborts
/// the request), not only at debug.
#[tokio::test]
async fn a_refused_url_client_is_logged_at_info_with_its_reason() {
    let s = url_client(ClientAssertions::new()).await;
    s.server.set(PATH, Reply::status(404));
    let (logs, guard) = common::Logs::capture(tracing::Level::INFO);
    let error = authenticate(&s, &s.key.sign(&claims(&s.id, ISSUER))).await;
    drop(guard);
    assert_eq!(error.unwrap_err(), ClientAuthError::InvalidClient);
    let logs = logs.text();
    assert!(
        logs.lines().any(|l| l.contains(" INFO ")
            && l.contains("URL client refused")
            && l.contains("reason=")),
        "{logs}"
    );
}
