//! Registration access tokens (RFC 7592 §2.2, §3; RFC 6750 §3.1): rotation,
//! the grace period of the previous token, and how requests without one fail.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use serde_json::json;
use tower_dcr::policy::RequestContext;
use tower_dcr::{ClientMetadata, MemoryStore, Profile, Registration};

// ---- 12. No credentials, no error information ------------------------------

/// RFC 6750 §3.1: "If the request lacks any authentication information ...
/// the resource server SHOULD NOT include an error code or other error
/// information": `401` with a bare `WWW-Authenticate: Bearer` and no `error`
/// in the body, on every management method and on a protected POST.
#[tokio::test]
async fn rfc6750_3_1_request_without_credentials_carries_no_error() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let basic = basic_authorization(created.str("client_id"), created.str("client_secret"));
    for headers in [vec![], vec![("authorization", basic.as_str())]] {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let body = (method == Method::PUT).then(|| update_body(&created.json));
            let answer =
                send_with_headers(&dcr, method.clone(), &path, &headers, body.as_ref()).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method}");
            assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
            assert!(
                answer.json.get("error").is_none()
                    && answer.json.get("error_description").is_none(),
                "{method}: {:?}",
                answer.json
            );
        }
    }
    let protected = Registration::builder(ISSUER)
        .access(tower_dcr::Access::protected(["an-initial-access-token"]))
        .store(MemoryStore::new())
        .build()
        .unwrap();
    let answer = register(&protected, web_client()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
    assert!(answer.json.get("error").is_none(), "{:?}", answer.json);
    // A wrong token still gets the error (RFC 6750 §3.1 invalid_token).
    assert_invalid_token(&read(&dcr, &path, "wrong").await);
}

// ---- 13. Who is asking, first ---------------------------------------------

/// RFC 7592 §2.2: the `client_id` in the body must be the client's, and a
/// `client_secret` must match; both are checked before the host's hook (and any
/// outbound fetch) runs, so a mismatched request costs the server nothing.
#[tokio::test]
async fn rfc7592_2_2_client_id_and_secret_are_checked_before_the_hook() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let dcr = Registration::builder(ISSUER)
        .open()
        .store(MemoryStore::new())
        .hook(move |_: RequestContext, m: ClientMetadata| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(m)
            }
        })
        .build()
        .unwrap();
    let created = registered(&dcr, web_client()).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let path = client_path(&created);

    let mut body = update_body(&created.json);
    body["client_id"] = json!("someone-else");
    let answer = update(&dcr, &path, &rat(&created), body).await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(
        answer.description().starts_with("client_id"),
        "{:?}",
        answer.json
    );

    let mut body = update_body(&created.json);
    body["client_secret"] = json!("not-the-secret");
    let answer = update(&dcr, &path, &rat(&created), body).await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(
        answer.description().starts_with("client_secret"),
        "{:?}",
        answer.json
    );

    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the hook ran for a refused update"
    );
    let answer = update(&dcr, &path, &rat(&created), update_body(&created.json)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

// ---- 14. Rotation with a way back ------------------------------------------

/// RFC 7592 §2.2 lets the server rotate the registration access token on
/// update; if that `200` is lost, the client holds only the old token. With a
/// grace period configured, the previous token keeps working until the new one
/// is first used or the grace period ends; a retried PUT with it succeeds.
#[tokio::test]
async fn rfc7592_2_2_previous_token_survives_until_the_new_one_is_used() {
    let dcr = builder()
        .registration_access_token_grace(Duration::from_secs(60))
        .build()
        .unwrap();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let t1 = rat(&created);
    let first = update(&dcr, &path, &t1, update_body(&created.json)).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.json);
    let t2 = rat(&first);
    assert_ne!(t1, t2);
    // The 200 was lost: the client retries with the token it holds.
    let read_old = read(&dcr, &path, &t1).await;
    assert_eq!(read_old.status, StatusCode::OK, "{:?}", read_old.json);
    let retried = update(&dcr, &path, &t1, update_body(&created.json)).await;
    assert_eq!(retried.status, StatusCode::OK, "{:?}", retried.json);
    let t3 = rat(&retried);
    // t2 was never used and is superseded by t3.
    assert_invalid_token(&read(&dcr, &path, &t2).await);
    // The first use of the newest token ends the old one's grace.
    assert_eq!(read(&dcr, &path, &t3).await.status, StatusCode::OK);
    assert_invalid_token(&read(&dcr, &path, &t1).await);
    assert_eq!(read(&dcr, &path, &t3).await.status, StatusCode::OK);
}

/// The grace period is a bound: once it has passed the previous token is dead
/// even if the new one was never used.
#[tokio::test]
async fn rfc7592_2_2_previous_token_dies_when_the_grace_period_ends() {
    let dcr = builder()
        .registration_access_token_grace(Duration::from_secs(1))
        .build()
        .unwrap();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let t1 = rat(&created);
    let answer = update(&dcr, &path, &t1, update_body(&created.json)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let recovered = read(&dcr, &path, &t1).await;
    assert_eq!(recovered.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_invalid_token(&read(&dcr, &path, &t1).await);
    // The read with t1 was answered with a new token (RFC 7592 §2.1: the
    // client discards its previous one), which replaced the unused t2.
    assert_eq!(
        read(&dcr, &path, &rat(&recovered)).await.status,
        StatusCode::OK
    );
    assert_invalid_token(&read(&dcr, &path, &rat(&answer)).await);
}

/// RFC 7592 §2.2: a client that loses the `200` of a rotating `PUT` holds only
/// the old token. By default (no grace configured) it still recovers: a `GET`
/// or a retried `PUT` with the old token succeeds and hands it a new token.
#[tokio::test]
async fn rfc7592_2_2_a_lost_rotating_put_answer_is_recovered_with_the_old_token_by_default() {
    let dcr = open();
    for retry_with_put in [false, true] {
        let created = registered(&dcr, web_client()).await;
        let path = client_path(&created);
        let t1 = rat(&created);
        let lost = update(&dcr, &path, &t1, update_body(&created.json)).await;
        assert_eq!(lost.status, StatusCode::OK, "{:?}", lost.json);
        let recovered = if retry_with_put {
            update(&dcr, &path, &t1, update_body(&created.json)).await
        } else {
            read(&dcr, &path, &t1).await
        };
        assert_eq!(recovered.status, StatusCode::OK, "{:?}", recovered.json);
        assert_eq!(recovered.str("client_id"), created.str("client_id"));
        let token = rat(&recovered);
        assert_ne!(token, t1, "never answered with the token that will die");
        assert_ne!(token, rat(&lost));
        let with_new = read(&dcr, &path, &token).await;
        assert_eq!(with_new.status, StatusCode::OK, "{:?}", with_new.json);
        assert_eq!(with_new.str("registration_access_token"), token);
    }
}

/// RFC 7592 §2.2 recovery is bounded by use: once the new token has been used
/// (the client got the answer), the old token is refused for every method, as
/// an unknown token is (RFC 6750 §3.1 `invalid_token`).
#[tokio::test]
async fn rfc7592_2_2_the_old_token_is_refused_after_the_new_ones_first_use() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let t1 = rat(&created);
    let answer = update(&dcr, &path, &t1, update_body(&created.json)).await;
    let t2 = rat(&answer);
    assert_eq!(read(&dcr, &path, &t2).await.status, StatusCode::OK);
    assert_invalid_token(&read(&dcr, &path, &t1).await);
    assert_invalid_token(&update(&dcr, &path, &t1, update_body(&created.json)).await);
    assert_invalid_token(&delete(&dcr, &path, &t1).await);
    assert_eq!(read(&dcr, &path, &t2).await.status, StatusCode::OK);
}

/// RFC 7592 §2.2 recovery is bounded in time by default: the replaced token
/// works for 10 minutes at most (the stored deadline), even if the new one is
/// never used; a shorter bound is enforced in
/// `rfc7592_2_2_previous_token_dies_when_the_grace_period_ends`.
#[tokio::test]
async fn rfc7592_2_2_the_default_grace_of_the_old_token_is_bounded() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let before = now();
    let answer = update(&dcr, &path, &rat(&created), update_body(&created.json)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let stored = dcr
        .store()
        .get(created.str("client_id"))
        .await
        .unwrap()
        .unwrap();
    let (_, until) = stored.previous_registration_access_token.expect("a grace");
    assert!(
        (before + 600..=now() + 600).contains(&until),
        "{until} not 10 minutes after {before}"
    );
    // A recovery with the old token keeps that deadline, never a longer one.
    let recovered = read(&dcr, &path, &rat(&created)).await;
    assert_eq!(recovered.status, StatusCode::OK);
    let stored = dcr
        .store()
        .get(created.str("client_id"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.previous_registration_access_token.unwrap().1, until);
}

/// RFC 7592 §3: the token returned to a request made with the old token stays
/// valid after the old token's grace ends, for a `GET` and for a `PUT`.
#[tokio::test]
async fn rfc7592_3_the_token_returned_for_the_old_token_outlives_the_grace() {
    let dcr = builder()
        .registration_access_token_grace(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut recovered = Vec::new();
    for retry_with_put in [false, true] {
        let created = registered(&dcr, web_client()).await;
        let path = client_path(&created);
        let t1 = rat(&created);
        let lost = update(&dcr, &path, &t1, update_body(&created.json)).await;
        assert_eq!(lost.status, StatusCode::OK);
        let answer = if retry_with_put {
            update(&dcr, &path, &t1, update_body(&created.json)).await
        } else {
            read(&dcr, &path, &t1).await
        };
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
        assert_ne!(rat(&answer), t1);
        recovered.push((path, t1, rat(&answer)));
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for (path, t1, token) in recovered {
        assert_invalid_token(&read(&dcr, &path, &t1).await);
        let answer = read(&dcr, &path, &token).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
        assert_eq!(answer.str("registration_access_token"), token);
    }
}

// ---- 15. Registration access token lifetime -------------------------------

/// RFC 7592 §3 leaves the token's lifetime to the server: a profile may bound
/// it; an expired token is refused exactly like a wrong one (RFC 6750 §3.1
/// `invalid_token`), and a rotation issues a token with a fresh lifetime.
#[tokio::test]
async fn rfc7592_3_registration_access_token_expires_per_profile() {
    let dcr = builder()
        .profile(Profile::default().registration_access_token_lifetime(Duration::from_secs(2)))
        .named_profile("long", Profile::default())
        .build()
        .unwrap();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    assert_eq!(
        read(&dcr, &path, &rat(&created)).await.status,
        StatusCode::OK
    );
    let rotated = update(&dcr, &path, &rat(&created), update_body(&created.json)).await;
    assert_eq!(rotated.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_invalid_token(&read(&dcr, &path, &rat(&rotated)).await);
    assert_invalid_token(&update(&dcr, &path, &rat(&rotated), update_body(&created.json)).await);
    assert_invalid_token(&delete(&dcr, &path, &rat(&rotated)).await);

    // Without a lifetime the token does not expire.
    let forever = open();
    let created = registered(&forever, web_client()).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        read(&forever, &client_path(&created), &rat(&created))
            .await
            .status,
        StatusCode::OK
    );
}

// ---- 16. Read, modify, write ----------------------------------------------

/// RFC 7592 §2.2 tells the client not to send the server-issued members; a
/// client that PUTs back what GET returned is accepted when they equal the
/// current values (they are ignored), and refused, naming the member, when
/// one differs.
#[tokio::test]
async fn rfc7592_2_2_server_issued_members_equal_to_current_values_are_ignored() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let token = rat(&created);
    let got = read(&dcr, &path, &token).await;
    assert_eq!(got.status, StatusCode::OK);
    let mut body = got.json.clone();
    body["client_name"] = json!("Renamed");
    let answer = update(&dcr, &path, &token, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    assert_eq!(answer.str("client_name"), "Renamed");
    let token = rat(&answer);
    let got = read(&dcr, &path, &token).await;

    for (member, value) in [
        ("registration_access_token", json!("another-token")),
        (
            "registration_client_uri",
            json!("https://evil.example/register/x"),
        ),
        ("client_secret_expires_at", json!(1)),
        ("client_id_issued_at", json!(12345)),
    ] {
        let mut body = got.json.clone();
        body[member] = value;
        let answer = update(&dcr, &path, &token, body).await;
        answer.assert_error(400, "invalid_client_metadata");
        assert!(
            answer.description().starts_with(member),
            "{member}: {:?}",
            answer.json
        );
        assert!(!answer.description().contains(&token));
    }
}
