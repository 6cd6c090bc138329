//! The example server's grants at the token endpoint: a refused refresh
//! leaves its refresh token usable (RFC 6749 §6), and a code replayed while
//! its first redemption is still under way revokes what that redemption
//! obtains (RFC 6749 §4.1.2). See `tests/server_support` for the harness.
#![cfg(unix)]

use crate::server_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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

/// Runs the code flow for a public client and returns its tokens.
async fn tokens_for(server: &Server, client_id: &str) -> serde_json::Value {
    let (code, verifier) = code_for(server, client_id, REDIRECT).await;
    let (status, tokens) = token(
        server,
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
    tokens
}

/// Grants live in the SQLite store, so a restart signs nobody
/// out: an access token issued before it still introspects active (RFC
/// 7662), a refresh token still refreshes (RFC 6749 §6), and a rotated one
/// replayed after the restart still revokes its grant (RFC 9700 §4.14.2).
#[tokio::test]
async fn sqlite_a_restart_keeps_access_and_refresh_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("dcr.db").display());
    let mut server = Server::start_with(&["--store", &store]);
    assert!(
        server.banner.contains("a restart signs nobody out"),
        "{}",
        server.banner
    );
    let client = register_public(&server).await;
    let client_id = client["client_id"].as_str().unwrap();
    let tokens = tokens_for(&server, client_id).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    assert!(server.terminate(Duration::from_secs(15)).is_some());

    let server = Server::start_with(&["--store", &store]);
    assert!(
        active(&server, client_id, access).await,
        "signed out by a restart"
    );
    let (status, refreshed) = refresh(&server, client_id, refresh_token, None).await;
    assert_eq!(status, 200, "{refreshed}");
    let new_access = refreshed["access_token"].as_str().unwrap();
    assert!(active(&server, client_id, new_access).await);
    drop(server);

    let server = Server::start_with(&["--store", &store]);
    let (status, error) = refresh(&server, client_id, refresh_token, None).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"], "invalid_grant");
    assert!(
        !active(&server, client_id, new_access).await,
        "the replay revoked the grant"
    );
}

/// SIGKILL during a burst of refreshes loses no token that was
/// answered: the last access token each chain got is still active after a
/// restart (grants are committed, `synchronous = FULL`, before the answer).
/// Its refresh token is not checked: a refresh in flight at the kill may
/// have been committed unanswered, and then it is spent, not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_answered_refresh_tokens_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("dcr.db").display());
    let mut server = Server::start_with(&["--store", &store]);
    let client = register_public(&server).await;
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let mut chains = Vec::new();
    for _ in 0..4 {
        let tokens = tokens_for(&server, &client_id).await;
        let mut current = tokens["refresh_token"].as_str().unwrap().to_owned();
        let (url, client_id, stop) = (server.url("/token"), client_id.clone(), Arc::clone(&stop));
        chains.push(tokio::spawn(async move {
            let mut answered = 0;
            let mut access = String::new();
            while !stop.load(Ordering::Relaxed) {
                let sent = http()
                    .post(&url)
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", current.as_str()),
                        ("client_id", client_id.as_str()),
                    ])
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                if response.status() != 200 {
                    break;
                }
                let Ok(text) = response.text().await else {
                    break;
                };
                let Ok(body) = serde_json::from_str::<serde_json::Value>(&text) else {
                    break;
                };
                current = body["refresh_token"].as_str().unwrap().to_owned();
                access = body["access_token"].as_str().unwrap().to_owned();
                answered += 1;
            }
            (access, answered)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut last = Vec::new();
    for chain in chains {
        last.push(chain.await.unwrap());
    }
    assert!(
        last.iter().map(|(_, n)| n).sum::<usize>() > 10,
        "few refreshes under load: {last:?}"
    );

    let server = Server::start_with(&["--store", &store]);
    for (access, answered) in &last {
        assert!(*answered > 0, "a chain got no answer: {last:?}");
        assert!(
            active(&server, &client_id, access).await,
            "the access token of refresh {answered} was lost"
        );
    }
}

/// A fresh PostgreSQL database for one test (dropped with it), or `None`
/// when PostgreSQL is unreachable (then the test is skipped, unless
/// `TOWER_DCR_REQUIRE_POSTGRES=1`).
#[cfg(feature = "postgres")]
struct Database {
    admin: sqlx::PgPool,
    name: String,
    url: String,
}

#[cfg(feature = "postgres")]
impl Database {
    async fn create() -> Option<Self> {
        let base = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let admin = match sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&base)
            .await
        {
            Ok(pool) => pool,
            Err(e) => {
                let what = format!("PostgreSQL (DATABASE_URL) is unreachable: {e}");
                if std::env::var("TOWER_DCR_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                    panic!("{what}, and TOWER_DCR_REQUIRE_POSTGRES=1");
                }
                eprintln!("SKIPPED: {what} (set TOWER_DCR_REQUIRE_POSTGRES=1 to fail instead)");
                return None;
            }
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("server_grants_{}_{nanos}", std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        let mut url = url::Url::parse(&base).unwrap();
        url.set_path(&name);
        Some(Self {
            admin,
            name,
            url: url.to_string(),
        })
    }
}

#[cfg(feature = "postgres")]
impl Drop for Database {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                });
        })
        .join();
    }
}

/// Two server processes on one PostgreSQL database serve a flow
/// crossing them: register and authorize on one, redeem the code on the
/// other, refresh on the first, introspect on the second (RFC 7662). A code
/// replayed on the second after its use on the first revokes its tokens
/// (RFC 6749 §4.1.2); two instances redeeming one code at once give at most
/// one answer with tokens, and those are revoked.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_instances_serve_a_flow_crossing_them() {
    let Some(database) = Database::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let args = ["--store", database.url.as_str()];
    let first = Server::start_in(Some(dir.path()), &args, &[]);
    let second = Server::start_in(Some(dir.path()), &args, &[]);
    assert!(
        second.banner.contains("shared by every instance"),
        "{}",
        second.banner
    );
    let client = register_public(&first).await;
    let client_id = client["client_id"].as_str().unwrap();

    let (code, verifier) = code_for(&first, client_id, REDIRECT).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, tokens) = token(&second, &form).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let (status, refreshed) = refresh(&first, client_id, refresh_token, None).await;
    assert_eq!(status, 200, "{refreshed}");
    let access = refreshed["access_token"].as_str().unwrap();
    assert!(active(&second, client_id, access).await);

    let (code, verifier) = code_for(&first, client_id, REDIRECT).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, tokens) = token(&first, &form).await;
    assert_eq!(status, 200, "{tokens}");
    let replayed_access = tokens["access_token"].as_str().unwrap();
    assert!(active(&second, client_id, replayed_access).await);
    let (status, error) = token(&second, &form).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"], "invalid_grant");
    assert!(!active(&first, client_id, replayed_access).await);

    for round in 0..6 {
        let (code, verifier) = code_for(&first, client_id, REDIRECT).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", verifier.as_str()),
        ];
        let (a, b) = tokio::join!(token(&first, &form), token(&second, &form));
        let answers = [a, b];
        let issued: Vec<_> = answers.iter().filter(|(s, _)| *s == 200).collect();
        assert!(issued.len() <= 1, "round {round}: {answers:?}");
        assert!(
            answers
                .iter()
                .any(|(s, e)| *s == 400 && e["error"] == "invalid_grant"),
            "round {round}: {answers:?}"
        );
        for (_, tokens) in issued {
            let access = tokens["access_token"].as_str().unwrap();
            assert!(
                !active(&first, client_id, access).await,
                "round {round}: the replay left the winner's token active"
            );
        }
    }
}

/// The key encryption key the PostgreSQL tests give the servers.
#[cfg(feature = "postgres")]
const KEK: (&str, &str) = (
    "TOWER_DCR_KEY_ENCRYPTION_KEY",
    "a-test-key-encryption-key-of-more-than-32-bytes",
);

#[cfg(feature = "postgres")]
async fn jwks(server: &Server) -> serde_json::Value {
    json_of(http().get(server.url("/jwks")).send().await.unwrap()).await
}

#[cfg(feature = "postgres")]
fn kids(jwks: &serde_json::Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// With a key encryption key, the signing keys live in the store:
/// two instances (no key file, different working directories) publish the
/// same JWKS (RFC 7517 §5), and a key rotated by `admin rotate-keys` is
/// published by both and signs their ID tokens (OpenID Connect Core §10.1.1)
/// within seconds.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_instances_share_signing_keys_and_their_rotation() {
    let Some(database) = Database::create().await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = ["--store", database.url.as_str()];
    let first = Server::start_in(Some(dir_a.path()), &args, &[KEK]);
    let second = Server::start_in(Some(dir_b.path()), &args, &[KEK]);
    assert!(
        second.banner.contains("in the store, encrypted"),
        "{}",
        second.banner
    );
    assert_eq!(jwks(&first).await, jwks(&second).await);
    for dir in [&dir_a, &dir_b] {
        assert!(!dir.path().join("tower-dcr.keys.json").exists());
    }

    let rotated = std::process::Command::new(server_binary())
        .args(["--store", database.url.as_str(), "admin", "rotate-keys"])
        .env(KEK.0, KEK.1)
        .output()
        .unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let said = String::from_utf8_lossy(&rotated.stdout).into_owned();
    let new: Vec<String> = said
        .split("in the store: ")
        .nth(1)
        .and_then(|rest| rest.split(". ").next())
        .unwrap_or_else(|| panic!("{said}"))
        .split(", ")
        .map(str::to_owned)
        .collect();
    assert_eq!(new.len(), 3, "{said}");
    let start = std::time::Instant::now();
    loop {
        let (a, b) = (kids(&jwks(&first).await), kids(&jwks(&second).await));
        if new.iter().all(|kid| a.contains(kid) && b.contains(kid)) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not picked up: {a:?} {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let client = register_public(&first).await;
    let client_id = client["client_id"].as_str().unwrap();
    let tokens = tokens_for(&second, client_id).await;
    let id_token = tokens["id_token"].as_str().expect("an ID token");
    let header = id_token.split('.').next().unwrap();
    use base64::Engine as _;
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    assert!(
        new.contains(&header["kid"].as_str().unwrap().to_owned()),
        "{header}"
    );
}
