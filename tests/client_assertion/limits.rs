//! What one client can make the server do with client assertions (RFC 7523
//! §2.2): few signature checks per assertion, and a bounded number of live
//! `jti` records per client.
#![cfg(all(feature = "client-id-metadata-document", feature = "client-assertion"))]

use crate::cimd_support;
use crate::fixtures::{credentials, url_client};

use cimd_support::{ISSUER, TestKey, claims};
use jsonwebtoken::Header;
use serde_json::Value;
use tower_dcr::Registration;
use tower_dcr::client_assertion::ClientAssertions;
use tower_dcr::host::ClientAuthError;

async fn authenticate(
    dcr: &Registration,
    id: &str,
    assertion: &str,
) -> Result<(), ClientAuthError> {
    dcr.authenticate_client(&credentials(Some(id), assertion))
        .await
        .map(|_| ())
}

/// An assertion signed by `key` without a `kid` header.
fn sign_without_kid(key: &TestKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(key.alg), claims, &key.encoding).unwrap()
}

/// RFC 7515 §4.1.4: with several keys of the alg's type at
/// `jwks_uri`, an assertion must name its key: without a `kid` it is refused
/// before any signature check, with one it is checked with that key only. A
/// set with one key of the type needs no `kid`.
#[tokio::test]
async fn rfc7515_4_1_4_a_kid_is_required_when_the_key_set_has_several_keys_of_the_type() {
    let keys = [
        TestKey::p256("k1"),
        TestKey::p256("k2"),
        TestKey::p256("k3"),
    ];
    let (_server, dcr, id) =
        url_client(ClientAssertions::new(), &keys.iter().collect::<Vec<_>>()).await;
    assert_eq!(
        authenticate(&dcr, &id, &sign_without_kid(&keys[1], &claims(&id, ISSUER)))
            .await
            .unwrap_err(),
        ClientAuthError::InvalidClient
    );
    authenticate(&dcr, &id, &keys[1].sign(&claims(&id, ISSUER)))
        .await
        .unwrap();

    let only = TestKey::p256("only");
    let ed = TestKey::ed25519("ed");
    let (_server, dcr, id) = url_client(ClientAssertions::new(), &[&only, &ed]).await;
    authenticate(&dcr, &id, &sign_without_kid(&only, &claims(&id, ISSUER)))
        .await
        .unwrap();
}

/// However many keys share the assertion's `kid`, only the
/// first three are tried: a signature by a later one does not verify.
#[tokio::test]
async fn at_most_three_keys_are_tried_for_one_assertion() {
    let keys: Vec<TestKey> = (0..6).map(|_| TestKey::p256("same")).collect();
    let refs: Vec<&TestKey> = keys.iter().collect();
    let (_server, dcr, id) = url_client(ClientAssertions::new(), &refs).await;
    authenticate(&dcr, &id, &keys[2].sign(&claims(&id, ISSUER)))
        .await
        .unwrap();
    assert_eq!(
        authenticate(&dcr, &id, &keys[5].sign(&claims(&id, ISSUER)))
            .await
            .unwrap_err(),
        ClientAuthError::InvalidClient
    );
}

/// One client holds at most `max_live_assertions_per_client`
/// live `jti` records; over it, new assertions are refused (fail closed: no
/// record is dropped to make room, so replays stay refused too).
#[tokio::test]
async fn a_client_has_a_bounded_number_of_live_assertions() {
    let key = TestKey::p256("k");
    let (_server, dcr, id) = url_client(
        ClientAssertions::new().max_live_assertions_per_client(3),
        &[&key],
    )
    .await;
    let first = key.sign(&claims(&id, ISSUER));
    authenticate(&dcr, &id, &first).await.unwrap();
    for _ in 0..2 {
        authenticate(&dcr, &id, &key.sign(&claims(&id, ISSUER)))
            .await
            .unwrap();
    }
    assert_eq!(
        authenticate(&dcr, &id, &key.sign(&claims(&id, ISSUER)))
            .await
            .unwrap_err(),
        ClientAuthError::InvalidClient,
        "over the bound"
    );
    assert_eq!(
        authenticate(&dcr, &id, &first).await.unwrap_err(),
        ClientAuthError::InvalidClient,
        "a replay is still refused"
    );
}
