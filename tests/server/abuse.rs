//! The example server under abuse: one test per way an adversarial run
//! tried to exhaust it (scopes, consents, state, tokens, codes, connections,
//! registrations), and the defaults that bound it.
#![cfg(unix)]

use crate::server_support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use oauth2::PkceCodeChallenge;
use oauth2::reqwest;
use serde_json::json;
use server_support::*;

const REDIRECT: &str = "http://127.0.0.1/callback";

/// A confidential client with the client_credentials grant and `scope`.
async fn machine_client(server: &Server, scope: Option<&str>) -> (String, String) {
    let mut metadata = json!({
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "client_credentials"],
    });
    if let Some(scope) = scope {
        metadata["scope"] = scope.into();
    }
    let client = register(server, metadata).await;
    (
        client["client_id"].as_str().unwrap().to_owned(),
        client["client_secret"].as_str().unwrap().to_owned(),
    )
}

async fn client_credentials(
    server: &Server,
    (id, secret): &(String, String),
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    http()
        .post(server.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// 60,000 scope values took 2.3 s to de-duplicate (12,000 fit the 64 KiB body cap).
/// The scope's size is bounded (`invalid_scope` at once), and duplicates
/// within the bound are dropped (RFC 6749 §3.3: a list of distinct values).
#[tokio::test]
async fn rfc6749_3_3_scope_is_bounded_and_deduplicated_in_linear_time() {
    let server = Server::start();
    let client = machine_client(&server, None).await;
    let huge = vec!["read"; 12_000].join(" ");
    let started = Instant::now();
    let response = client_credentials(&server, &client, Some(&huge)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(response).await["error"], "invalid_scope");

    let response = client_credentials(&server, &client, Some("read write read read write")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["scope"], "read write");

    // The same bound at the authorization endpoint (a URI holds less).
    let long = vec!["read"; 2_000].join(" ");
    let public = register_public(&server).await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let response = authorize(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", public["client_id"].as_str().unwrap()),
            ("redirect_uri", REDIRECT),
            ("scope", &long),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(response.status(), 302);
    assert_eq!(
        query(&location(&response), "error").as_deref(),
        Some("invalid_scope")
    );
}

/// A client that registered no scope was granted any scope at
/// `/token`. It gets the profile's default scope and nothing outside the
/// allow-list; registering a scope outside it is refused (RFC 7591 §2).
#[tokio::test]
async fn rfc6749_3_3_default_scope_and_allow_list_apply_at_the_token_endpoint() {
    let server = Server::start();
    let client = machine_client(&server, None).await;
    let response = client_credentials(&server, &client, Some("admin")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(response).await["error"], "invalid_scope");
    let response = client_credentials(&server, &client, None).await;
    assert_eq!(response.status(), 200);
    let granted = json_of(response).await["scope"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !granted.contains("admin") && granted.contains("read"),
        "{granted}"
    );

    let refused = http()
        .post(server.url("/register"))
        .header("content-type", "application/json")
        .body(json!({ "redirect_uris": [REDIRECT], "scope": "read admin" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(json_of(refused).await["error"], "invalid_client_metadata");
}

/// Pending consents sat in one global map that one
/// client could fill; then a per-client budget let 100 `GET /authorize`
/// naming a public client lock that client's users out. Pending requests
/// count against the address that asked: a flood pushes out the flooder's
/// own oldest requests, never refused, and another user of the same client
/// (another address) completes the flow.
#[tokio::test]
async fn a_flood_of_consent_requests_pushes_out_only_the_flooders_own() {
    let server = Server::start();
    let client = register_public(&server).await;
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let begin = |http: reqwest::Client| {
        let (client_id, url) = (client_id.clone(), server.url("/authorize"));
        async move {
            let (challenge, _) = PkceCodeChallenge::new_random_sha256();
            let mut url = url::Url::parse(&url).unwrap();
            url.query_pairs_mut().extend_pairs([
                ("response_type", "code"),
                ("client_id", client_id.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ]);
            let response = http.get(url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }
    };
    let victim = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let victim_page = begin(victim.clone()).await;
    let first_flood_page = begin(http()).await;
    for _ in 0..150 {
        begin(http()).await;
    }
    let answer = |http: reqwest::Client, page: String| {
        let url = server.url("/authorize");
        async move {
            http.post(url)
                .header("cookie", consent_cookie(&page))
                .form(&[
                    ("nonce", nonce_of(&page).as_str()),
                    ("csrf", hidden_field(&page, "csrf").as_str()),
                    ("decision", "approve"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let expired = answer(http(), first_flood_page).await;
    assert_eq!(expired.status(), 400, "the flooder's oldest went");
    let approved = answer(victim, victim_page).await;
    assert_eq!(approved.status(), 302);
    assert!(query(&location(&approved), "code").is_some());
}

/// Whether an access token is active, asked by its confidential client
/// (RFC 7662, `client_secret_basic`).
async fn active_basic(server: &Server, (id, secret): &(String, String), token: &str) -> bool {
    let response = http()
        .post(server.url("/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    json_of(response).await["active"] == true
}

/// `state` and `nonce` are bounded (60 KB values were once kept): values over the
/// bound are refused with `invalid_request`, and an oversized state is not
/// reflected back.
#[tokio::test]
async fn oversized_state_and_nonce_are_refused() {
    let server = Server::start();
    let client = register_public(&server).await;
    let client_id = client["client_id"].as_str().unwrap();
    let big = "s".repeat(60 * 1024);
    for (name, value) in [("state", big.as_str()), ("nonce", &big[..600])] {
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        let response = authorize(
            &server,
            &[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", REDIRECT),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                (name, value),
            ],
        )
        .await;
        assert_eq!(response.status(), 302, "{name}");
        let back = location(&response);
        assert_eq!(query(&back, "error").as_deref(), Some("invalid_request"));
        assert!(query(&back, "state").is_none(), "{name}");
    }
}

/// Access tokens sat in an unbounded map (200
/// client-credentials requests grew the process by 390 MB); then a full
/// bound answered 503 to every client. A client holds at most 1,000 live
/// tokens: past them its own oldest token is revoked, nobody is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_access_tokens_are_bounded_per_client() {
    let server = Server::start();
    let client = machine_client(&server, Some("read")).await;
    let oldest = client_credentials(&server, &client, None).await;
    assert_eq!(oldest.status(), 200);
    let oldest = json_of(oldest).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut handles = Vec::new();
    for _ in 0..8 {
        let (url, client) = (server.url("/token"), client.clone());
        handles.push(tokio::spawn(async move {
            let http = http();
            let mut ok = 0;
            for _ in 0..125 {
                let response = http
                    .post(&url)
                    .basic_auth(&client.0, Some(&client.1))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap();
                if response.status() == 200 {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut issued = 0;
    for handle in handles {
        issued += handle.await.unwrap();
    }
    assert_eq!(issued, 1000);
    let newest = client_credentials(&server, &client, None).await;
    assert_eq!(newest.status(), 200);
    let newest = json_of(newest).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(active_basic(&server, &client, &newest).await);
    assert!(
        !active_basic(&server, &client, &oldest).await,
        "the client's oldest token gave way"
    );
    // Another client is not affected.
    let other = machine_client(&server, Some("read")).await;
    assert_eq!(
        client_credentials(&server, &other, None).await.status(),
        200
    );
}

/// RFC 6749 §4.1.3: the client is checked before the code. A
/// leaked code presented by another client neither burns the code nor
/// revokes the grant of the client it was issued to.
#[tokio::test]
async fn rfc6749_4_1_3_another_clients_code_is_refused_before_replay_detection() {
    let server = Server::start();
    let victim = register_public(&server).await;
    let victim_id = victim["client_id"].as_str().unwrap();
    let attacker = machine_client(&server, None).await;
    let (code, verifier) = code_for(&server, victim_id, REDIRECT).await;

    for _ in 0..2 {
        let stolen = http()
            .post(server.url("/token"))
            .basic_auth(&attacker.0, Some(&attacker.1))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(stolen.status(), 400);
        assert_eq!(json_of(stolen).await["error"], "invalid_grant");
    }
    let (status, tokens) = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", victim_id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    // A further attempt by the attacker changes nothing either.
    let _ = http()
        .post(server.url("/token"))
        .basic_auth(&attacker.0, Some(&attacker.1))
        .form(&[("grant_type", "authorization_code"), ("code", &code)])
        .send()
        .await
        .unwrap();
    assert!(active(&server, victim_id, access).await);
}

/// Reads from `stream` until the server closes it (or 5 s pass); returns how
/// long that took and what was read.
fn wait_for_close(stream: &mut TcpStream) -> (Duration, String) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = Instant::now();
    let mut read = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => read.extend_from_slice(&buffer[..n]),
        }
    }
    (
        started.elapsed(),
        String::from_utf8_lossy(&read).into_owned(),
    )
}

fn connect(server: &Server) -> TcpStream {
    let address = server.issuer.trim_start_matches("http://");
    TcpStream::connect(address).unwrap()
}

/// 2,000 half-sent requests held their descriptors for over a
/// minute. Half-sent headers, a half-sent body and an idle keep-alive
/// connection are each closed after `--read-timeout`.
#[test]
fn half_sent_requests_and_idle_connections_are_closed() {
    let server = Server::start_with(&["--read-timeout", "1"]);
    let host = server.issuer.trim_start_matches("http://").to_owned();

    let mut half_headers = connect(&server);
    write!(half_headers, "GET /jwks HTTP/1.1\r\nHost: {host}\r\n").unwrap();
    let (waited, _) = wait_for_close(&mut half_headers);
    assert!(waited < Duration::from_secs(4), "headers: {waited:?}");

    let mut half_body = connect(&server);
    write!(
        half_body,
        "POST /register HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"redirect"
    )
    .unwrap();
    let (waited, _) = wait_for_close(&mut half_body);
    assert!(waited < Duration::from_secs(4), "body: {waited:?}");

    let mut idle = connect(&server);
    write!(idle, "GET /jwks HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    let (waited, answer) = wait_for_close(&mut idle);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(waited < Duration::from_secs(4), "idle: {waited:?}");
}

/// No connection limit. With `--max-connections 2`, a third
/// connection is served only once one of the first two closes.
#[test]
fn connections_beyond_the_limit_wait() {
    let server = Server::start_with(&["--max-connections", "2", "--read-timeout", "30"]);
    let host = server.issuer.trim_start_matches("http://").to_owned();
    let first = connect(&server);
    let second = connect(&server);
    std::thread::sleep(Duration::from_millis(300));
    let mut third = connect(&server);
    write!(
        third,
        "GET /jwks HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut buffer = [0u8; 64];
    assert!(third.read(&mut buffer).is_err(), "served beyond the limit");
    drop(first);
    let (_, answer) = wait_for_close(&mut third);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(second);
}

async fn post_registration(server: &Server) -> u16 {
    http()
        .post(server.url("/register"))
        .header("content-type", "application/json")
        .body(json!({ "redirect_uris": ["https://app.example/cb"] }).to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Open registration had no rate limit by default. By default 30
/// registrations per minute per address, then `429`; the banner says so;
/// `--registration-rate 0` turns it off.
#[tokio::test]
async fn registration_rate_limit_is_on_by_default_and_in_the_banner() {
    let server = Server::start();
    assert!(
        server.banner.contains("registration rate:   30 per minute"),
        "{}",
        server.banner
    );
    for _ in 0..30 {
        assert_eq!(post_registration(&server).await, 201);
    }
    let limited = http()
        .post(server.url("/register"))
        .header("content-type", "application/json")
        .body(json!({ "redirect_uris": ["https://app.example/cb"] }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));

    let unlimited = Server::start_with(&["--registration-rate", "0"]);
    assert!(unlimited.banner.contains("registration rate:   off"));
    for _ in 0..40 {
        assert_eq!(post_registration(&unlimited).await, 201);
    }
}

/// No client cap by default. `--max-clients N` refuses the
/// registration past N with `429`, and the banner states the cap.
#[tokio::test]
async fn max_clients_caps_registrations_and_is_in_the_banner() {
    let default = Server::start();
    assert!(
        default.banner.contains("registered clients:  10000"),
        "{}",
        default.banner
    );
    drop(default);
    let server = Server::start_with(&["--max-clients", "2"]);
    assert!(
        server.banner.contains("registered clients:  2 "),
        "{}",
        server.banner
    );
    assert_eq!(post_registration(&server).await, 201);
    assert_eq!(post_registration(&server).await, 201);
    assert_eq!(post_registration(&server).await, 429);
}

/// The static initial access token could only be given on the
/// command line, visible to `ps`. A file and an environment variable work
/// too (RFC 7591 §3).
#[tokio::test]
async fn initial_access_token_from_a_file_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "# the registrars' token\nfrom-the-file\n").unwrap();
    let by_file = Server::start_with(&["--initial-access-token-file", file.to_str().unwrap()]);
    let by_env = Server::start_in(
        None,
        &[],
        &[("TOWER_DCR_INITIAL_ACCESS_TOKEN", "from-the-env")],
    );
    for (server, token) in [(&by_file, "from-the-file"), (&by_env, "from-the-env")] {
        assert!(server.banner.contains("PROTECTED"), "{}", server.banner);
        let post = |bearer: Option<&str>| {
            let mut request = http()
                .post(server.url("/register"))
                .header("content-type", "application/json")
                .body(json!({ "redirect_uris": ["https://app.example/cb"] }).to_string());
            if let Some(bearer) = bearer {
                request = request.bearer_auth(bearer);
            }
            request.send()
        };
        assert_eq!(post(None).await.unwrap().status(), 401);
        assert_eq!(post(Some(token)).await.unwrap().status(), 201);
    }
    let (status, stderr) = run_to_end(&[
        "--addr",
        "127.0.0.1:0",
        "--store",
        "memory",
        "--initial-access-token-file",
        dir.path().join("missing").to_str().unwrap(),
    ]);
    assert!(!status.success());
    assert!(stderr.contains("--initial-access-token-file"), "{stderr}");
}

/// RFC 9110 §9.3.2: `HEAD` works wherever `GET` does, the registration
/// endpoint (RFC 7592 read) included, without a body.
#[tokio::test]
async fn rfc9110_9_3_2_head_on_every_get_endpoint() {
    let server = Server::start();
    let client = register_public(&server).await;
    let read = http()
        .head(client["registration_client_uri"].as_str().unwrap())
        .bearer_auth(client["registration_access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert!(read.bytes().await.unwrap().is_empty());
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/jwks",
    ] {
        let response = http().head(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

/// Browser-based registrars got no CORS answer. Preflights on the
/// registration endpoints are answered, for any origin by default, for the
/// listed ones with `--cors-origin`.
#[tokio::test]
async fn cors_preflight_on_the_registration_endpoints() {
    let preflight = |server: &Server, path: &str, origin: &str| {
        http()
            .request(reqwest::Method::OPTIONS, server.url(path))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let server = Server::start();
    for path in ["/register", "/register/some-client"] {
        let response = preflight(&server, path, "https://registrar.example")
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}");
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
    }
    let registered = http()
        .post(server.url("/register"))
        .header("origin", "https://registrar.example")
        .header("content-type", "application/json")
        .body(json!({ "redirect_uris": ["https://app.example/cb"] }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    assert_eq!(registered.headers()["access-control-allow-origin"], "*");

    let listed = Server::start_with(&["--cors-origin", "https://registrar.example"]);
    let allowed = preflight(&listed, "/register", "https://registrar.example")
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://registrar.example"
    );
    let other = preflight(&listed, "/register", "https://evil.example")
        .await
        .unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

/// OpenID Connect Core §6 and §3.1.2.6: `request` and `request_uri` are
/// refused with their own error codes (discovery says they are not
/// supported), an unknown `response_mode` with `invalid_request`, and
/// `response_mode=fragment` puts the response in the fragment.
#[tokio::test]
async fn core_6_request_objects_refused_and_fragment_response_mode() {
    let server = Server::start();
    let client = register_public(&server).await;
    let client_id = client["client_id"].as_str().unwrap();
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let base = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "st"),
    ];
    for (extra, error) in [
        (
            ("request", "eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
        ),
        (
            ("request_uri", "https://app.example/r"),
            "request_uri_not_supported",
        ),
        (("response_mode", "form_post"), "invalid_request"),
    ] {
        let mut params = base.to_vec();
        params.push(extra);
        let response = authorize(&server, &params).await;
        assert_eq!(response.status(), 302, "{extra:?}");
        let back = location(&response);
        assert_eq!(query(&back, "error").as_deref(), Some(error), "{extra:?}");
    }

    let mut params = base.to_vec();
    params.push(("response_mode", "fragment"));
    let page = authorize(&server, &params).await.text().await.unwrap();
    let back = decide(&server, &page, "approve").await;
    assert!(back.query().is_none(), "{back}");
    let fragment: Vec<(String, String)> =
        url::form_urlencoded::parse(back.fragment().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert!(fragment.iter().any(|(k, _)| k == "code"), "{back}");
    assert!(
        fragment.iter().any(|(k, v)| k == "state" && v == "st"),
        "{back}"
    );
}
