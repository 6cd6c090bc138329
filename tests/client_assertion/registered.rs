//! JWT client authentication (RFC 7523 §2.2, §3; OIDC Core §9) of clients
//! registered here or created by the host: `private_key_jwt` with inline
//! keys, `client_secret_jwt` with the secret registration minted, and the
//! replay store shared by instances on one database.
#![cfg(all(feature = "client-assertion", feature = "postgres"))]

use crate::cimd_support;
use crate::common;
use crate::fixtures::credentials;

use cimd_support::{ISSUER, TestKey, claims, now};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower_dcr::PostgresStore;
use tower_dcr::client_assertion::ClientAssertions;
use tower_dcr::host::ClientAuthError;
use tower_dcr::{Profile, Registration, TokenEndpointAuthMethod};

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
