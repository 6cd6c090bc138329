//! JWT client authentication (RFC 7523 §2.2, §3; OIDC Core §9) through
//! `authenticate_client`: URL clients (keys at a `jwks_uri` on an https test
//! server, or inline) and registered clients alike.
#![cfg(all(feature = "client-id-metadata-document", feature = "client-assertion"))]

mod cimd_support;
mod common;

use std::time::Duration;

use cimd_support::{DocServer, ISSUER, Reply, TestKey, claims, now, unsigned};
use http::HeaderMap;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower_dcr::PostgresStore;
use tower_dcr::client_assertion::{AudienceRule, ClientAssertions, JWT_BEARER};
use tower_dcr::events::{Event, EventKind};
use tower_dcr::host::{ClientAuthError, ClientCredentials, CredentialsLocation};
use tower_dcr::metadata_document::MetadataDocuments;
use tower_dcr::{Profile, Registration, TokenEndpointAuthMethod};

const PATH: &str = "/agent.json";
const JWKS: &str = "/jwks.json";

fn credentials(client_id: Option<&str>, assertion: &str) -> ClientCredentials {
    ClientCredentials::from_request_with_assertion(
        &HeaderMap::new(),
        client_id,
        None,
        Some(JWT_BEARER),
        Some(assertion),
    )
    .unwrap()
}

struct Setup {
    server: DocServer,
    dcr: Registration,
    id: String,
    key: TestKey,
}

/// A `private_key_jwt` URL client whose keys are at `jwks_uri`.
async fn url_client(rules: ClientAssertions) -> Setup {
    let server = DocServer::start().await;
    let id = server.url(PATH);
    let key = TestKey::p256("k1");
    server.set(JWKS, Reply::json(&key.jwks()));
    server.set(
        PATH,
        Reply::json(&json!({
            "client_id": id,
            "client_name": "Agent",
            "redirect_uris": ["http://127.0.0.1/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": server.url(JWKS),
        })),
    );
    let dcr = Registration::builder(ISSUER)
        .open()
        .metadata_documents(
            MetadataDocuments::any_host()
                .loopback_documents(true)
                .root_certificate_pem(server.ca_pem.clone()),
        )
        .client_assertions(rules)
        .build()
        .unwrap();
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

/// Without `client_assertions` configured, assertions are refused.
#[tokio::test]
async fn assertions_are_refused_unless_configured() {
    let dcr = common::open();
    let key = TestKey::p256("k");
    let record = host_client(&dcr, "c1", json!({"jwks": key.jwks()})).await;
    assert_eq!(
        dcr.authenticate_client(&credentials(
            Some(&record),
            &key.sign(&claims(&record, ISSUER))
        ))
        .await
        .unwrap_err(),
        ClientAuthError::InvalidClient
    );
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

/// A host-created `private_key_jwt` client in `dcr`'s store.
async fn host_client(dcr: &Registration, id: &str, extra: Value) -> String {
    let mut object = json!({
        "redirect_uris": ["https://app.example/cb"],
        "token_endpoint_auth_method": "private_key_jwt",
    });
    for (k, v) in extra.as_object().unwrap() {
        object[k] = v.clone();
    }
    let metadata =
        tower_dcr::ClientMetadata::from_json_object(object.as_object().unwrap().clone()).unwrap();
    let record = tower_dcr::ClientRecord::new_host_client(id, metadata, now());
    dcr.store()
        .create(std::sync::Arc::new(record))
        .await
        .unwrap();
    id.to_owned()
}

/// A client registered through POST /register with `private_key_jwt` and its
/// `jwks`, and one with `client_secret_jwt` (its secret is the HMAC key).
#[tokio::test]
async fn registered_jwt_clients_authenticate() {
    let profile = Profile::default()
        .token_endpoint_auth_methods([
            TokenEndpointAuthMethod::PrivateKeyJwt,
            TokenEndpointAuthMethod::ClientSecretJwt,
            TokenEndpointAuthMethod::None,
        ])
        .default_token_endpoint_auth_method(TokenEndpointAuthMethod::None);
    let dcr = Registration::builder(ISSUER)
        .open()
        .profile(profile)
        .client_assertions(ClientAssertions::new())
        .build()
        .unwrap();
    let key = TestKey::p256("reg");
    let answer = common::register(
        &dcr,
        json!({
            "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks(),
        }),
    )
    .await;
    assert_eq!(answer.status, 201, "{:?}", answer.json);
    let id = answer.str("client_id").to_owned();
    dcr.authenticate_client(&credentials(Some(&id), &key.sign(&claims(&id, ISSUER))))
        .await
        .unwrap();
    let intruder = TestKey::p256("reg");
    assert!(
        dcr.authenticate_client(&credentials(
            Some(&id),
            &intruder.sign(&claims(&id, ISSUER))
        ))
        .await
        .is_err()
    );

    let answer = common::register(
        &dcr,
        json!({
            "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "client_secret_jwt",
        }),
    )
    .await;
    assert_eq!(answer.status, 201, "{:?}", answer.json);
    let id = answer.str("client_id").to_owned();
    let secret = answer.str("client_secret").to_owned();
    let hs = |key: &[u8]| {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(&id, ISSUER),
            &EncodingKey::from_secret(key),
        )
        .unwrap()
    };
    dcr.authenticate_client(&credentials(Some(&id), &hs(secret.as_bytes())))
        .await
        .unwrap();
    assert!(
        dcr.authenticate_client(&credentials(Some(&id), &hs(&[1u8; 64])))
            .await
            .is_err()
    );
    // An asymmetric alg for a client_secret_jwt client is refused.
    assert!(
        dcr.authenticate_client(&credentials(Some(&id), &key.sign(&claims(&id, ISSUER))))
            .await
            .is_err()
    );
}

/// The replay store is shared: two service instances on one PostgreSQL
/// database refuse each other's replays.
#[tokio::test]
async fn rfc7523_3_a_jti_replayed_on_another_instance_sharing_postgres_is_refused() {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let pool = match sqlx::PgPool::connect(&url).await {
        Ok(pool) => pool,
        Err(error) => {
            assert!(
                std::env::var("TOWER_DCR_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "PostgreSQL unreachable ({error}), and TOWER_DCR_REQUIRE_POSTGRES=1"
            );
            eprintln!("SKIPPED: PostgreSQL unreachable ({error})");
            return;
        }
    };
    let schema = format!("cimd_replay_{}", now() ^ u64::from(std::process::id()));
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&pool)
    .await
    .unwrap();
    // Two service instances, each with its own PostgresStore on the shared
    // schema: the replay store is the client store's capability.
    let store = || PostgresStore::new(pool.clone()).schema(&schema);
    store().migrate().await.unwrap();
    store().migrate().await.unwrap();
    let key = TestKey::p256("k");
    let instance = || async {
        Registration::builder(ISSUER)
            .open()
            .store(store())
            .client_assertions(ClientAssertions::new())
            .build()
            .unwrap()
    };
    let (a, b) = (instance().await, instance().await);
    host_client(&a, "shared-client", json!({"jwks": key.jwks()})).await;
    let assertion = key.sign(&claims("shared-client", ISSUER));
    a.authenticate_client(&credentials(Some("shared-client"), &assertion))
        .await
        .unwrap();
    assert_eq!(
        b.authenticate_client(&credentials(Some("shared-client"), &assertion))
            .await
            .unwrap_err(),
        ClientAuthError::InvalidClient
    );
    let fresh = key.sign(&claims("shared-client", ISSUER));
    b.authenticate_client(&credentials(Some("shared-client"), &fresh))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await
        .unwrap();
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

/// A `client_secret_jwt` client's HMAC assertion signed with its secret.
fn hmac_assertion(alg: Algorithm, id: &str, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims(id, ISSUER),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// RFC 8414 §2: with `client_secret_jwt` on and the default (asymmetric)
/// algorithm list, discovery lists `HS256`, which the token endpoint accepts
/// and registration takes: the advertised list is what is accepted.
#[tokio::test]
async fn rfc8414_2_discovery_lists_the_hmac_algorithm_client_secret_jwt_accepts() {
    let profile = Profile::default()
        .token_endpoint_auth_methods([
            TokenEndpointAuthMethod::ClientSecretJwt,
            TokenEndpointAuthMethod::None,
        ])
        .default_token_endpoint_auth_method(TokenEndpointAuthMethod::None);
    let dcr = Registration::builder(ISSUER)
        .open()
        .profile(profile)
        .client_assertions(ClientAssertions::new())
        .build()
        .unwrap();
    let advertised =
        dcr.discovery_metadata()["token_endpoint_auth_signing_alg_values_supported"].clone();
    assert_eq!(advertised, json!(["HS256"]));
    for registered in [None, Some("HS256")] {
        let mut body = json!({
            "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "client_secret_jwt",
        });
        if let Some(alg) = registered {
            body["token_endpoint_auth_signing_alg"] = alg.into();
        }
        let answer = common::register(&dcr, body).await;
        assert_eq!(answer.status, 201, "{:?}", answer.json);
        let id = answer.str("client_id").to_owned();
        let secret = answer.str("client_secret").to_owned();
        dcr.authenticate_client(&credentials(
            Some(&id),
            &hmac_assertion(Algorithm::HS256, &id, &secret),
        ))
        .await
        .unwrap();
        // Nothing outside the advertised list.
        assert_eq!(
            dcr.authenticate_client(&credentials(
                Some(&id),
                &hmac_assertion(Algorithm::HS384, &id, &secret),
            ))
            .await
            .unwrap_err(),
            ClientAuthError::InvalidClient
        );
    }
}

/// RFC 7518 §3.2 ("a key of the same size as the hash output or larger"):
/// an HS384 or HS512 `client_secret_jwt` client gets a secret long enough to
/// key its algorithm, and authenticates with it.
#[tokio::test]
async fn rfc7518_3_2_an_hs512_client_secret_jwt_client_registers_and_authenticates() {
    let profile = Profile::default()
        .token_endpoint_auth_methods([TokenEndpointAuthMethod::ClientSecretJwt])
        .default_token_endpoint_auth_method(TokenEndpointAuthMethod::ClientSecretJwt)
        .token_endpoint_auth_signing_alg_values(["HS256", "HS384", "HS512"]);
    let dcr = Registration::builder(ISSUER)
        .open()
        .profile(profile)
        .client_assertions(ClientAssertions::new())
        .build()
        .unwrap();
    for (name, alg, min_len) in [
        ("HS384", Algorithm::HS384, 48),
        ("HS512", Algorithm::HS512, 64),
    ] {
        let answer = common::register(
            &dcr,
            json!({
                "redirect_uris": ["https://app.example/cb"],
                "token_endpoint_auth_method": "client_secret_jwt",
                "token_endpoint_auth_signing_alg": name,
            }),
        )
        .await;
        assert_eq!(answer.status, 201, "{:?}", answer.json);
        let id = answer.str("client_id").to_owned();
        let secret = answer.str("client_secret").to_owned();
        assert!(secret.len() >= min_len, "{name}: {} bytes", secret.len());
        dcr.authenticate_client(&credentials(Some(&id), &hmac_assertion(alg, &id, &secret)))
            .await
            .unwrap();
    }
}

/// A client store without a `jti` replay store.
#[derive(Debug, Default)]
struct NoReplayStore(tower_dcr::MemoryStore);

#[async_trait::async_trait]
impl tower_dcr::ClientStore for NoReplayStore {
    async fn create(
        &self,
        record: std::sync::Arc<tower_dcr::ClientRecord>,
    ) -> Result<(), tower_dcr::StoreError> {
        self.0.create(record).await
    }
    async fn get(
        &self,
        client_id: &str,
    ) -> Result<Option<std::sync::Arc<tower_dcr::ClientRecord>>, tower_dcr::StoreError> {
        self.0.get(client_id).await
    }
    async fn update(
        &self,
        record: std::sync::Arc<tower_dcr::ClientRecord>,
        expected_revision: u64,
    ) -> Result<(), tower_dcr::StoreError> {
        self.0.update(record, expected_revision).await
    }
    async fn delete(
        &self,
        client_id: &str,
        expected_revision: Option<u64>,
    ) -> Result<bool, tower_dcr::StoreError> {
        self.0.delete(client_id, expected_revision).await
    }
}

/// Issue 22 item 4: `build()` refuses configurations under which every JWT
/// client authentication would fail (RFC 7523 §2.2): a JWT method in a
/// profile (the default, a named one, or the URL-client one) without
/// `client_assertions`; `private_key_jwt` without an asymmetric algorithm; no
/// replay store; an `aud` rule that accepts nothing; a zero lifetime.
#[test]
fn build_refuses_jwt_client_authentication_that_cannot_work() {
    use tower_dcr::ConfigError;
    let jwt = |method| {
        Profile::default()
            .token_endpoint_auth_methods([method, TokenEndpointAuthMethod::None])
            .default_token_endpoint_auth_method(TokenEndpointAuthMethod::None)
    };
    let builder = || Registration::builder(ISSUER).open();
    for method in [
        TokenEndpointAuthMethod::PrivateKeyJwt,
        TokenEndpointAuthMethod::ClientSecretJwt,
    ] {
        let error = builder().profile(jwt(method)).build().unwrap_err();
        assert!(
            matches!(&error, ConfigError::ClientAssertionsNeeded(m) if m.contains(method.as_str())),
            "{error}"
        );
        assert!(error.to_string().contains(".client_assertions("), "{error}");
        let named = builder().named_profile("partners", jwt(method)).build();
        assert!(
            matches!(named, Err(ConfigError::ClientAssertionsNeeded(m)) if m.contains("partners"))
        );
        builder()
            .profile(jwt(method))
            .client_assertions(ClientAssertions::new())
            .build()
            .unwrap();
    }
    // The URL-client profile allows private_key_jwt by default.
    let url_clients = builder()
        .metadata_documents(MetadataDocuments::any_host())
        .build();
    assert!(matches!(
        url_clients,
        Err(ConfigError::ClientAssertionsNeeded(_))
    ));
    let hmac_only = jwt(TokenEndpointAuthMethod::PrivateKeyJwt)
        .token_endpoint_auth_signing_alg_values(["HS256"]);
    let error = builder()
        .profile(hmac_only)
        .client_assertions(ClientAssertions::new())
        .build()
        .unwrap_err();
    assert!(matches!(error, ConfigError::InvalidProfile(_)), "{error}");
    let no_replay = builder()
        .store(NoReplayStore::default())
        .client_assertions(ClientAssertions::new())
        .build();
    assert!(
        matches!(no_replay, Err(ConfigError::InvalidClientAssertions(m)) if m.contains("replay"))
    );
    builder()
        .store(NoReplayStore::default())
        .client_assertions(
            ClientAssertions::new().replay_store(tower_dcr::store::MemoryReplayStore::new()),
        )
        .build()
        .unwrap();
    for rules in [
        ClientAssertions::new().issuer_audience(false),
        ClientAssertions::new()
            .audience_rule(AudienceRule::Rfc7523)
            .issuer_audience(false),
        ClientAssertions::new().max_lifetime(Duration::ZERO),
        ClientAssertions::new().max_live_assertions_per_client(0),
    ] {
        let error = builder().client_assertions(rules).build().unwrap_err();
        assert!(
            matches!(error, ConfigError::InvalidClientAssertions(_)),
            "{error}"
        );
    }
}

/// Issue 22 item 4 (RFC 7468 §5.1): a `root_certificate_pem` that holds no
/// certificate, or that a custom fetcher would ignore, fails `build()`
/// instead of every fetch.
#[test]
fn build_refuses_a_root_certificate_pem_that_cannot_be_used() {
    use tower_dcr::ConfigError;
    let builder = || {
        Registration::builder(ISSUER)
            .open()
            .client_assertions(ClientAssertions::new())
    };
    let garbage = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
    for pem in ["not a PEM at all", garbage] {
        let error = builder()
            .metadata_documents(MetadataDocuments::any_host().root_certificate_pem(pem))
            .build()
            .unwrap_err();
        assert!(
            matches!(error, ConfigError::InvalidMetadataDocuments(_)),
            "{error}"
        );
        let error = Registration::builder(ISSUER)
            .open()
            .client_assertions(ClientAssertions::new().root_certificate_pem(pem))
            .build()
            .unwrap_err();
        assert!(
            matches!(error, ConfigError::InvalidClientAssertions(_)),
            "{error}"
        );
    }
    let fetcher = tower_dcr::fetch::GuardedFetcher::new().unwrap();
    let ignored = builder()
        .metadata_documents(
            MetadataDocuments::any_host()
                .fetcher(fetcher)
                .root_certificate_pem(garbage),
        )
        .build();
    assert!(
        matches!(ignored, Err(ConfigError::InvalidMetadataDocuments(m)) if m.contains("custom fetcher"))
    );
}
