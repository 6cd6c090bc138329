//! The example server's grants at the token endpoint: a refused refresh
//! leaves its refresh token usable (RFC 6749 §6), and a code replayed while
//! its first redemption is still under way revokes what that redemption
//! obtains (RFC 6749 §4.1.2). See `tests/server_support` for the harness.
#![cfg(unix)]

mod server_support;

use server_support::*;

const REDIRECT: &str = "http://127.0.0.1:4000/callback";

async fn refresh(
    server: &Server,
    client_id: &str,
    refresh_token: &str,
    scope: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", client_id),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    token(server, &form).await
}

/// RFC 6749 §6 and RFC 9700 §4.14.2: a refresh refused for its scope
/// (`invalid_scope`) did not issue anything, so it does not spend the
/// refresh token: the retry is not a replay, the grant is not revoked, and
/// its tokens keep working. The token is spent once new tokens are issued:
/// presenting it again then revokes the grant.
#[tokio::test]
async fn rfc6749_6_a_refused_refresh_does_not_spend_the_refresh_token() {
    let server = Server::start();
    let client = register_public(&server).await;
    let client_id = client["client_id"].as_str().unwrap();
    let (code, verifier) = code_for(&server, client_id, REDIRECT).await;
    let (status, tokens) = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", verifier.as_str()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();

    // A scope beyond the original grant (RFC 6749 §6).
    let (status, error) = refresh(&server, client_id, refresh_token, Some("admin")).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"], "invalid_scope");
    assert!(
        active(&server, client_id, access).await,
        "the grant was revoked"
    );

    let (status, refreshed) = refresh(&server, client_id, refresh_token, Some("openid")).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["scope"], "openid");
    let new_access = refreshed["access_token"].as_str().unwrap();
    assert!(active(&server, client_id, new_access).await);

    // Now spent: presenting it again is reuse, and revokes the grant.
    let (status, error) = refresh(&server, client_id, refresh_token, None).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"], "invalid_grant");
    assert!(!active(&server, client_id, new_access).await);
}

/// RFC 6749 §4.1.2: "If an authorization code is used more than once, the
/// authorization server MUST deny the request and SHOULD revoke (when
/// possible) all tokens previously issued based on that authorization
/// code." Two redemptions of one code race (the ID token is signed between
/// redeeming and answering); whichever comes second is the replay, and the
/// tokens the first obtained must be revoked, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rfc6749_4_1_2_a_replay_racing_the_first_redemption_revokes_its_tokens() {
    let server = Server::start();
    let client = register_public(&server).await;
    let client_id = client["client_id"].as_str().unwrap();
    for round in 0..12 {
        let (code, verifier) = code_for(&server, client_id, REDIRECT).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", verifier.as_str()),
        ];
        let (first, second) = tokio::join!(token(&server, &form), token(&server, &form));
        let answers = [first, second];
        let issued: Vec<_> = answers
            .iter()
            .filter(|(status, _)| *status == 200)
            .collect();
        assert!(issued.len() <= 1, "round {round}: {answers:?}");
        let refused = answers
            .iter()
            .find(|(status, _)| *status != 200)
            .expect("one refused");
        assert_eq!(refused.0, 400, "round {round}: {answers:?}");
        assert_eq!(refused.1["error"], "invalid_grant");
        for (_, tokens) in issued {
            let access = tokens["access_token"].as_str().unwrap();
            assert!(
                !active(&server, client_id, access).await,
                "round {round}: the replay left the first redemption's token active"
            );
        }
    }
}
