//! The example server end to end (its contract in ARCHITECTURE.md and the
//! README), with the memory store and the durable ones: its contract flags,
//! registration and management over HTTP, the code flow, and its stores under
//! load.
#![cfg(unix)]

use crate::server_support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, TokenResponse as _, TokenUrl,
};
use openidconnect::core::{
    CoreApplicationType, CoreClientAuthMethod, CoreClientRegistrationRequest, CoreGrantType,
    CoreResponseType,
};
use openidconnect::{
    ClientName, LocalizedClaim, RegistrationUrl, ResponseTypes,
    registration::EmptyAdditionalClientMetadata,
};
use serde_json::{Value, json};
use server_support::*;
use url::Url;

// ---------------------------------------------------------------------------
// End to end
// ---------------------------------------------------------------------------

/// A real OAuth client (openidconnect registers, oauth2 runs the flow) against
/// the running server: dynamic registration, authorization code with PKCE on
/// a loopback redirect whose port differs from the registered one (RFC 8252
/// §7.3), code exchange, refresh, RFC 7592 delete, and then no more tokens.
#[tokio::test]
async fn real_client_registers_runs_the_code_flow_with_pkce_refreshes_and_deletes_itself() {
    let mut server = Server::start();
    let http = http();

    // The client's loopback listener, on an ephemeral port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(1);
    let callback = axum::Router::new().route(
        "/callback",
        axum::routing::get(move |uri: axum::http::Uri| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(uri.query().unwrap_or_default().to_owned()).await;
                "You can close this window."
            }
        }),
    );
    let callback_server = tokio::spawn(async move { axum::serve(listener, callback).await });

    // 1. Dynamic registration (RFC 7591) with the openidconnect crate.
    let mut name = LocalizedClaim::new();
    name.insert(None, ClientName::new("E2E client".into()));
    let registration = CoreClientRegistrationRequest::new(
        vec![openidconnect::RedirectUrl::new("http://127.0.0.1/callback".into()).unwrap()],
        EmptyAdditionalClientMetadata {},
    )
    .set_client_name(Some(name))
    // Native: its loopback redirect matches on any port (RFC 8252 §7.3).
    .set_application_type(Some(CoreApplicationType::Native))
    .set_token_endpoint_auth_method(Some(CoreClientAuthMethod::ClientSecretBasic))
    .set_grant_types(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::RefreshToken,
    ]))
    .set_response_types(Some(vec![ResponseTypes::new(vec![CoreResponseType::Code])]))
    .register_async(
        &RegistrationUrl::new(server.url("/register")).unwrap(),
        &http,
    )
    .await
    .expect("dynamic registration");
    let client_id = registration.client_id().clone();
    let client_secret = registration.client_secret().expect("a secret").clone();
    let rat = registration
        .registration_access_token()
        .expect("a registration access token")
        .secret()
        .clone();
    let client_uri = registration
        .registration_client_uri()
        .expect("a registration_client_uri")
        .to_string();

    // 2. Authorization request with PKCE S256, on the listener's port.
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let oauth = BasicClient::new(ClientId::new(client_id.as_str().to_owned()))
        .set_client_secret(ClientSecret::new(client_secret.secret().clone()))
        .set_auth_uri(AuthUrl::new(server.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(server.url("/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(redirect.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, state) = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let consent = http.get(authorize_url).send().await.unwrap();
    assert_eq!(consent.status(), 200);
    let page = consent.text().await.unwrap();
    assert!(page.contains("E2E client"), "{page}");

    // 3. The user approves; the browser follows the redirect to the listener.
    let back = decide(&server, &page, "approve").await;
    assert!(back.as_str().starts_with(&format!("{redirect}?")), "{back}");
    let delivered = http.get(back.clone()).send().await.unwrap();
    assert_eq!(delivered.status(), 200);
    let captured = rx.recv().await.expect("the callback was called");
    let captured = Url::parse(&format!("{redirect}?{captured}")).unwrap();
    assert_eq!(
        query(&captured, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        query(&captured, "iss").as_deref(),
        Some(server.issuer.as_str())
    );
    let code = query(&captured, "code").expect("a code");

    // 4. Code exchange with the verifier (client_secret_basic).
    let tokens = oauth
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    assert_eq!(tokens.token_type().as_ref(), "bearer");
    assert!(tokens.expires_in().is_some());
    assert_eq!(
        tokens.scopes().map(|s| s[0].to_string()).as_deref(),
        Some("read")
    );
    let first_access = tokens.access_token().secret().clone();
    let refresh = tokens.refresh_token().expect("a refresh token").clone();

    // 5. Refresh (rotating): new tokens, and the old refresh token is spent.
    let refreshed = oauth
        .exchange_refresh_token(&refresh)
        .request_async(&http)
        .await
        .expect("refresh");
    assert_ne!(refreshed.access_token().secret(), &first_access);
    let second_refresh = refreshed.refresh_token().expect("a new refresh token");
    assert_ne!(second_refresh.secret(), refresh.secret());

    // 6. RFC 7592 delete with the registration access token.
    let deleted = http
        .delete(&client_uri)
        .bearer_auth(&rat)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    // 7. The client can no longer get tokens.
    let refused = oauth
        .exchange_refresh_token(&RefreshToken::new(second_refresh.secret().clone()))
        .request_async(&http)
        .await
        .expect_err("a deleted client gets no tokens");
    match refused {
        RequestTokenError::ServerResponse(error) => {
            assert_eq!(*error.error(), BasicErrorResponseType::InvalidClient);
        }
        other => panic!("expected invalid_client, got {other:?}"),
    }

    // No secret in any log line, even at debug level.
    let status = server.terminate(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let logs = server.logs();
    // One line per request: method, path without the query, status, latency,
    // and the client once it is known.
    let token_lines: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("path=/token ") && line.contains("status=200"))
        .collect();
    assert!(
        token_lines.len() >= 2,
        "the code exchange and the refresh are logged:\n{logs}"
    );
    for line in &token_lines {
        assert!(line.contains(" INFO "), "{line}");
        assert!(line.contains("method=POST"), "{line}");
        assert!(line.contains("latency_us="), "{line}");
        assert!(
            line.contains(&format!("client_id={}", client_id.as_str())),
            "the token endpoint names the client it authenticated: {line}"
        );
    }
    let authorize = logs
        .lines()
        .find(|line| line.contains("path=/authorize "))
        .unwrap_or_else(|| panic!("the authorization request is logged:\n{logs}"));
    assert!(
        !authorize.contains("code_challenge") && !authorize.contains("state="),
        "no query string in a log line: {authorize}"
    );
    assert!(
        logs.lines()
            .any(|line| line.contains("path=/token ") && line.contains("status=401")),
        "the deleted client's refused refresh is logged too:\n{logs}"
    );
    for secret in [
        client_secret.secret().as_str(),
        rat.as_str(),
        code.as_str(),
        first_access.as_str(),
        refresh.secret().as_str(),
        refreshed.access_token().secret().as_str(),
        second_refresh.secret().as_str(),
    ] {
        assert!(
            !logs.contains(secret),
            "a secret leaked into the logs:\n{logs}"
        );
    }
    callback_server.abort();
}

// ---------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------

/// RFC 8414 §2 and OIDC Discovery §3: both documents carry the endpoints and
/// only values the server implements.
#[tokio::test]
async fn discovery_documents_name_the_endpoints_and_what_is_enforced() {
    let server = Server::start();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let response = http().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let doc = json_of(response).await;
        assert_eq!(doc["issuer"], server.issuer.as_str(), "{path}");
        assert_eq!(doc["registration_endpoint"], server.url("/register"));
        assert_eq!(doc["authorization_endpoint"], server.url("/authorize"));
        assert_eq!(doc["token_endpoint"], server.url("/token"));
        assert_eq!(doc["response_types_supported"], json!(["code"]));
        assert_eq!(
            doc["grant_types_supported"],
            json!(["authorization_code", "refresh_token", "client_credentials"])
        );
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post", "none"])
        );
        assert!(doc["subject_types_supported"].is_array());
    }
}

// ---------------------------------------------------------------------------
// Authorization endpoint
// ---------------------------------------------------------------------------

/// Client-supplied strings are HTML-escaped; the name is picked by
/// Accept-Language (RFC 7591 §2.2, RFC 4647 lookup); the page warns that the
/// information is self-asserted.
#[tokio::test]
async fn consent_page_escapes_client_strings_and_speaks_the_users_language() {
    let server = Server::start();
    let client = register(
        &server,
        json!({
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "none",
            "client_name": "<script>alert(1)</script>",
            "client_name#fr": "L'appli \"française\" <b>",
            "client_uri": "https://example.com/?a=1&b=<x>",
            "logo_uri": "https://example.com/logo.png",
        }),
    )
    .await;
    let client_id = client["client_id"].as_str().unwrap();
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let params = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", "http://127.0.0.1:5555/callback"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];

    let page = authorize(&server, &params).await.text().await.unwrap();
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("href=\"https://example.com/?a=1&amp;b=&lt;x&gt;\""));
    assert!(page.contains("<img class=\"logo\" src=\"https://example.com/logo.png\""));
    assert!(
        page.contains("Not verified"),
        "self-asserted warning: {page}"
    );

    let mut url = Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    let french = http()
        .get(url)
        .header("accept-language", "fr-CA,fr;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(french.status(), 200);
    assert_eq!(french.headers()["x-frame-options"], "DENY");
    let page = french.text().await.unwrap();
    assert!(
        page.contains("L&#x27;appli &quot;française&quot; &lt;b&gt;"),
        "{page}"
    );
    assert!(!page.contains("alert(1)"));
}

/// RFC 6749 §4.1.2.1: an unregistered redirect URI (or an unknown client) gets
/// an error page, never a redirect.
#[tokio::test]
async fn invalid_redirect_uri_gets_an_error_page_not_a_redirect() {
    let server = Server::start();
    let client = register_public(&server).await;
    let client_id = client["client_id"].as_str().unwrap();
    for (id, redirect) in [
        (client_id, "https://attacker.example/callback"),
        (client_id, "http://127.0.0.1/other"),
        (client_id, "http://localhost/callback"),
        ("unknown-client", "http://127.0.0.1/callback"),
    ] {
        let response = authorize(
            &server,
            &[
                ("response_type", "code"),
                ("client_id", id),
                ("redirect_uri", redirect),
            ],
        )
        .await;
        assert_eq!(response.status(), 400, "{redirect}");
        assert!(response.headers().get("location").is_none());
        let page = response.text().await.unwrap();
        assert!(page.contains("<h1>"), "{page}");
        assert!(!page.contains("attacker.example"));
    }
}

/// RFC 7636 §4.4.1 and RFC 9700 §2.1.1: a public client without PKCE, or with
/// `plain`, is sent back with `invalid_request`.
#[tokio::test]
async fn public_client_without_pkce_s256_is_sent_back_with_invalid_request() {
    let server = Server::start();
    let client = register_public(&server).await;
    let client_id = client["client_id"].as_str().unwrap();
    let base = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", "http://127.0.0.1:4000/callback"),
        ("state", "st&te"),
    ];
    let plain = "a".repeat(43);
    for extra in [
        vec![],
        vec![("code_challenge", plain.as_str())],
        vec![
            ("code_challenge", plain.as_str()),
            ("code_challenge_method", "plain"),
        ],
    ] {
        let params: Vec<_> = base.iter().copied().chain(extra).collect();
        let response = authorize(&server, &params).await;
        assert_eq!(response.status(), 302);
        let back = location(&response);
        assert!(back.as_str().starts_with("http://127.0.0.1:4000/callback?"));
        assert_eq!(query(&back, "error").as_deref(), Some("invalid_request"));
        assert_eq!(query(&back, "state").as_deref(), Some("st&te"));
        assert!(query(&back, "code").is_none());
    }
}

/// RFC 6749 §4.1.2.1: an unsupported response type goes back to the (valid)
/// redirect URI, after its existing query.
#[tokio::test]
async fn unsupported_response_type_is_sent_back() {
    let server = Server::start();
    let client = register(
        &server,
        json!({
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/cb?tenant=a"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    let response = authorize(
        &server,
        &[
            ("response_type", "token"),
            ("client_id", client["client_id"].as_str().unwrap()),
            ("redirect_uri", "http://127.0.0.1:7/cb?tenant=a"),
            ("state", "x"),
        ],
    )
    .await;
    assert_eq!(response.status(), 302);
    let back = location(&response);
    assert_eq!(query(&back, "tenant").as_deref(), Some("a"));
    assert_eq!(
        query(&back, "error").as_deref(),
        Some("unsupported_response_type")
    );
}

/// RFC 6749 §4.1.2.1: the user denies; the client gets `access_denied` and its
/// state.
#[tokio::test]
async fn deny_sends_access_denied_with_state() {
    let server = Server::start();
    let client = register_public(&server).await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let response = authorize(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", client["client_id"].as_str().unwrap()),
            ("redirect_uri", "http://127.0.0.1:4000/callback"),
            ("state", "keep me"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let page = response.text().await.unwrap();
    let back = decide(&server, &page, "deny").await;
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&back, "state").as_deref(), Some("keep me"));
    assert!(query(&back, "code").is_none());

    // The nonce is single-use.
    let again = http()
        .post(server.url("/authorize"))
        .form(&[("nonce", nonce_of(&page).as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    assert!(again.headers().get("location").is_none());
}

// ---------------------------------------------------------------------------
// Token endpoint
// ---------------------------------------------------------------------------

/// RFC 6749 §4.1.2: a code works once; a second use fails and revokes the
/// tokens issued from it.
#[tokio::test]
async fn authorization_code_reuse_fails_and_revokes_the_tokens() {
    let server = Server::start();
    let client = register_public(&server).await;
    let client_id = client["client_id"].as_str().unwrap();
    let redirect = "http://127.0.0.1:4000/callback";
    let (code, verifier) = code_for(&server, client_id, redirect).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("client_id", client_id),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, tokens) = token(&server, &form).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert!(active(&server, client_id, access).await);

    let (status, error) = token(&server, &form).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"], "invalid_grant");
    assert!(
        !active(&server, client_id, access).await,
        "access token revoked"
    );
    let (_, error) = token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", client_id),
        ],
    )
    .await;
    assert_eq!(error["error"], "invalid_grant", "refresh token revoked");
}

/// RFC 7636 §4.6: a wrong verifier, or a different redirect_uri (RFC 6749
/// §4.1.3), gets `invalid_grant`.
#[tokio::test]
async fn wrong_code_verifier_or_redirect_uri_fails() {
    let server = Server::start();
    let client = register_public(&server).await;
    let client_id = client["client_id"].as_str().unwrap();
    let redirect = "http://127.0.0.1:4000/callback";

    let (code, _) = code_for(&server, client_id, redirect).await;
    let (_, other_verifier) = PkceCodeChallenge::new_random_sha256();
    let (status, error) = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("client_id", client_id),
            ("code_verifier", other_verifier.secret().as_str()),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error["error"], "invalid_grant");

    let (code, verifier) = code_for(&server, client_id, redirect).await;
    let (status, error) = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:4001/callback"),
            ("client_id", client_id),
            ("code_verifier", verifier.as_str()),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error["error"], "invalid_grant");
}

/// RFC 6749 §5.2: a failed Basic authentication is a 401 with
/// `WWW-Authenticate: Basic`; a grant type the client did not register is
/// `unauthorized_client`; client credentials work for a confidential client.
#[tokio::test]
async fn token_endpoint_authenticates_clients_and_checks_their_grant_types() {
    let server = Server::start();
    let client = register(
        &server,
        json!({
            "redirect_uris": ["https://app.example/cb"],
            "grant_types": ["authorization_code", "client_credentials"],
            "scope": "read write",
        }),
    )
    .await;
    let id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();

    let wrong = http()
        .post(server.url("/token"))
        .basic_auth(id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(json_of(wrong).await["error"], "invalid_client");

    let issued = http()
        .post(server.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), 200);
    assert_eq!(issued.headers()["cache-control"], "no-store");
    let issued = json_of(issued).await;
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["scope"], "read");
    assert!(issued.get("refresh_token").is_none());

    let refused = http()
        .post(server.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(refused).await["error"], "unauthorized_client");

    let scope = http()
        .post(server.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(scope).await["error"], "invalid_scope");
}

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

/// RFC 7591 §3: with `--initial-access-token`, registration needs the token.
#[tokio::test]
async fn protected_mode_refuses_registration_without_the_token() {
    let server = Server::start_with(&["--initial-access-token", "let-me-in"]);
    let metadata = json!({ "redirect_uris": ["https://app.example/cb"] }).to_string();
    let post = |token: Option<&str>| {
        let mut request = http()
            .post(server.url("/register"))
            .header("content-type", "application/json")
            .body(metadata.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    assert_eq!(post(Some("wrong")).await.unwrap().status(), 401);
    assert_eq!(post(Some("let-me-in")).await.unwrap().status(), 201);
}

/// Admin commands on the memory store say why they cannot work, and fail.
#[test]
fn admin_on_the_memory_store_explains_and_fails() {
    for command in [
        &["list-clients"][..],
        &["create-token"],
        &["show-client", "abc"],
    ] {
        let args: Vec<&str> = ["admin", "--store", "memory"]
            .into_iter()
            .chain(command.iter().copied())
            .collect();
        let (status, stderr) = run_to_end(&args);
        assert!(!status.success(), "{command:?}");
        assert!(stderr.contains("memory store"), "{stderr}");
        assert!(stderr.contains("sqlite:"), "{stderr}");
    }
}

/// `--protected` alone relies on tokens from `admin create-token`, which cannot
/// reach a memory store: the server refuses to start.
#[test]
fn protected_without_tokens_on_the_memory_store_refuses_to_start() {
    let (status, stderr) =
        run_to_end(&["--addr", "127.0.0.1:0", "--store", "memory", "--protected"]);
    assert!(!status.success());
    assert!(stderr.contains("--protected"), "{stderr}");
}

/// SIGTERM stops the server cleanly (exit status 0) within a few seconds.
#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let mut server = Server::start();
    // An idle keep-alive connection must not hold the shutdown up.
    let client = http();
    let response = client
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let status = server.terminate(Duration::from_secs(5));
    assert!(status.is_some(), "still running 5 s after SIGTERM");
    assert!(status.unwrap().success(), "{status:?}");
    drop(client);
}

/// The example server on SQLite under concurrent registration load is
/// killed with SIGKILL; after a restart every acknowledged client is readable
/// with its registration access token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_acknowledged_registrations_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("dcr.db").display());
    let mut server = Server::start_with(&["--store", &store, "--registration-rate", "0"]);
    let url = server.url("/register");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (url, stop) = (url.clone(), Arc::clone(&stop));
        workers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let sent = http()
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(json!({"redirect_uris": ["https://c.example/cb"]}).to_string())
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                if response.status() != 201 {
                    break;
                }
                let Ok(text) = response.text().await else {
                    break;
                };
                let Ok(body) = serde_json::from_str::<Value>(&text) else {
                    break;
                };
                acknowledged.push((
                    body["client_id"].as_str().unwrap().to_owned(),
                    body["registration_access_token"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                ));
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for worker in workers {
        acknowledged.extend(worker.await.unwrap());
    }
    assert!(
        acknowledged.len() > 20,
        "only {} registrations under load",
        acknowledged.len()
    );

    let restarted = Server::start_with(&["--store", &store]);
    for (client_id, rat) in &acknowledged {
        let response = http()
            .get(restarted.url(&format!("/register/{client_id}")))
            .bearer_auth(rat)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "acknowledged client {client_id} lost"
        );
    }
}

/// Admin commands on a SQLite store, next to a running protected server:
/// minted tokens register under their limits, clients are listed, shown and
/// deleted, tokens listed and revoked.
#[tokio::test]
async fn admin_commands_on_sqlite_manage_tokens_and_clients() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("dcr.db").display());
    let admin = |args: &[&str]| {
        let mut all = vec!["--store", store.as_str(), "admin"];
        all.extend_from_slice(args);
        let output = Command::new(server_binary()).args(&all).output().unwrap();
        (
            output.status,
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (status, token, stderr) = admin(&["create-token", "--uses", "1"]);
    assert!(status.success(), "{stderr}");
    let token = token.trim().to_owned();
    assert_eq!(token.len(), 43, "the token alone on stdout: {token:?}");

    let server = Server::start_with(&["--store", &store, "--protected"]);
    let post = |token: Option<String>| {
        let mut request = http()
            .post(server.url("/register"))
            .header("content-type", "application/json")
            .body(
                json!({"client_name": "Admin Test", "redirect_uris": ["https://c.example/cb"]})
                    .to_string(),
            );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    let created = post(Some(token.clone())).await.unwrap();
    assert_eq!(created.status(), 201);
    let client_id = json_of(created).await["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        post(Some(token)).await.unwrap().status(),
        401,
        "a one-use token works once"
    );

    let (status, out, _) = admin(&["list-clients"]);
    assert!(status.success());
    assert!(
        out.contains(&client_id) && out.contains("Admin Test"),
        "{out}"
    );
    let (status, out, _) = admin(&["show-client", &client_id]);
    assert!(status.success());
    assert!(out.contains("https://c.example/cb"), "{out}");
    let (status, out, _) = admin(&["list-tokens"]);
    assert!(status.success());
    let token_id = out
        .lines()
        .skip(1)
        .find_map(|line| line.split_whitespace().next())
        .expect("a token row")
        .to_owned();
    let (status, _, stderr) = admin(&["revoke-token", &token_id]);
    assert!(status.success(), "revoke-token {token_id}: {stderr}");
    let (status, _, stderr) = admin(&["revoke-token", &token_id]);
    assert!(!status.success(), "revoking twice fails: {stderr}");
    let (status, _, _) = admin(&["delete-client", &client_id]);
    assert!(status.success());
    let (status, _, stderr) = admin(&["show-client", &client_id]);
    assert!(!status.success());
    assert!(stderr.contains(&client_id), "{stderr}");
}
