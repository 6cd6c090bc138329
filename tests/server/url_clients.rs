//! The example server with URL client ids (`--client-id-metadata-documents`,
//! `--metadata-document-ca`), as a black box: a client named by the URL of
//! its metadata document, served over https by a test server with a test CA,
//! runs the code flow with PKCE and refreshes; a `private_key_jwt` document
//! client authenticates at `/token` with an ES256 assertion.
//!
//! Like the rest of this binary, it runs the built example binary (`cargo test`
//! builds it). Unix only.
#![cfg(all(
    unix,
    feature = "client-id-metadata-document",
    feature = "client-assertion"
))]

use crate::cimd_support;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cimd_support::{DocServer, Reply, TestKey, claims};
use oauth2::reqwest;
use serde_json::{Value, json};
use tower_dcr::client_assertion::JWT_BEARER;
use url::Url;

struct Server {
    child: Child,
    issuer: String,
    /// Its standard error (the log).
    log: tempfile::NamedTempFile,
}

impl Server {
    fn logs(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Server {
    let exe = std::env::current_exe().unwrap();
    let binary = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples")
        .join("server");
    assert!(binary.exists(), "run `cargo build --example server` first");
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(binary)
        .args(["--addr", "127.0.0.1:0", "--store", "memory"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(issuer) = line.trim_start().strip_prefix("issuer:") {
                let _ = tx.send(issuer.trim().to_owned());
            }
        }
    });
    let issuer = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server printed its issuer");
    Server { child, issuer, log }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A client whose requests come from another loopback address (another
/// caller, as far as per-address bounds go).
fn http_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(address.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `/authorize` with PKCE, then "approve"; returns the consent page and the
/// code.
async fn authorize(
    server: &Server,
    client_id: &str,
    redirect_uri: &str,
) -> (String, String, String) {
    let verifier = "a-long-enough-code-verifier-for-pkce-s256-0123456789";
    let challenge = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
    };
    let mut url = Url::parse(&format!("{}/authorize", server.issuer)).unwrap();
    url.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("state", "s1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = page.find(&marker).expect(name) + marker.len();
        page[start..start + page[start..].find('"').unwrap()].to_owned()
    };
    let (nonce, csrf) = (field("nonce"), field("csrf"));
    // As the browser the page was shown in: its consent cookie, repeated in
    // the form.
    let back = http()
        .post(format!("{}/authorize", server.issuer))
        .header("cookie", format!("tower_dcr_consent={csrf}"))
        .form(&[
            ("nonce", &nonce),
            ("csrf", &csrf),
            ("decision", &"approve".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 302);
    let location = Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
    let code = query(&location, "code").expect("code");
    (page, code, verifier.to_owned())
}

async fn token(server: &Server, form: &[(&str, &str)]) -> (u16, Value) {
    let response = http()
        .post(format!("{}/token", server.issuer))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn setup() -> (DocServer, Server, tempfile::TempDir) {
    setup_with(&[]).await
}

async fn setup_with(args: &[&str]) -> (DocServer, Server, tempfile::TempDir) {
    let docs = DocServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &docs.ca_pem).unwrap();
    let mut all = vec![
        "--client-id-metadata-documents",
        "any",
        "--metadata-document-ca",
        ca.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let server = start(&all);
    (docs, server, dir)
}

/// `GET /authorize` naming `client_id`, from `http`.
async fn ask(
    http: &reqwest::Client,
    server: &Server,
    client_id: &str,
    redirect: &str,
) -> reqwest::Response {
    let mut url = Url::parse(&format!("{}/authorize", server.issuer)).unwrap();
    url.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
    ]);
    http.get(url).send().await.unwrap()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A fetch bound of the library (here the pause after a
/// failed fetch of one URL) is a temporary refusal, not an unknown client
/// nor a failed store: `/authorize` answers `503` with `Retry-After` (RFC
/// 9110 §15.6.4, §10.2.3) and a page saying it is temporary, logged as a
/// warning, not an error (draft-ietf-oauth-client-id-metadata-document:
/// errors are not cached as documents, but fetches may be throttled).
#[tokio::test]
async fn a_throttled_metadata_fetch_at_authorize_is_a_temporary_503_with_retry_after() {
    let (docs, server, _dir) = setup().await;
    let id = docs.url("/gone.json");
    let redirect = "http://127.0.0.1:9/callback";
    let first = ask(&http(), &server, &id, redirect).await;
    assert_eq!(first.status(), 400, "the fetch fails (404)");
    assert_eq!(docs.hits("/gone.json"), 1);
    let throttled = ask(&http(), &server, &id, redirect).await;
    assert_eq!(throttled.status(), 503);
    let wait = retry_after(&throttled);
    assert!(
        (2..=30).contains(&wait),
        "the library's backoff, not 1 s: {wait}"
    );
    let page = throttled.text().await.unwrap();
    assert!(page.contains("temporary"), "{page}");
    assert_eq!(docs.hits("/gone.json"), 1, "no new fetch");
    // The log is written by a background thread: give it a moment.
    let mut logs = server.logs();
    for _ in 0..50 {
        if logs.contains("not fetched now") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        logs = server.logs();
    }
    let line = logs
        .lines()
        .find(|l| l.contains("not fetched now"))
        .unwrap_or_else(|| panic!("no log line: {logs}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(
        !logs.lines().any(|l| l.contains("ERROR")),
        "nothing at error level: {logs}"
    );
}

/// RFC 6749 §5.2 with RFC 9110 §15.6.4: at the token endpoint, the same
/// throttled fetch is `503` `temporarily_unavailable` with the library's
/// `Retry-After`, not `invalid_client` (the client may be fine).
#[tokio::test]
async fn a_throttled_metadata_fetch_at_token_is_a_temporary_503_with_retry_after() {
    let (docs, server, _dir) = setup().await;
    let id = docs.url("/gone.json");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "x"),
        ("client_id", id.as_str()),
        (
            "code_verifier",
            "a-long-enough-code-verifier-for-pkce-s256-0123456789",
        ),
    ];
    let (status, error) = token(&server, &form).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"], "invalid_client");
    let response = http()
        .post(format!("{}/token", server.issuer))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let wait = retry_after(&response);
    assert!(
        (2..=30).contains(&wait),
        "the library's backoff, not 1 s: {wait}"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert_eq!(docs.hits("/gone.json"), 1, "no new fetch");
    assert!(!server.logs().lines().any(|l| l.contains("ERROR")));
}

/// Anonymous callers made the server fetch any URL at any
/// rate. Requests naming a URL client id are bounded per caller address
/// (`--url-client-rate`): past it, `429` with `Retry-After` (RFC 6585 §4),
/// at `/authorize` and `/token`, while other addresses and registered
/// clients from the same address are served.
#[tokio::test]
async fn requests_naming_url_clients_are_bounded_per_caller_address() {
    let (docs, server, _dir) = setup_with(&["--url-client-rate", "3"]).await;
    let id = docs.url("/app.json");
    let redirect = "http://127.0.0.1:9/callback";
    docs.set(
        "/app.json",
        Reply::json(&json!({
            "client_id": id,
            "client_name": "Rate Agent",
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "none",
        })),
    );
    for _ in 0..3 {
        assert_eq!(ask(&http(), &server, &id, redirect).await.status(), 200);
    }
    let limited = ask(&http(), &server, &id, redirect).await;
    assert_eq!(limited.status(), 429);
    assert!(retry_after(&limited) >= 1);
    let response = http()
        .post(format!("{}/token", server.issuer))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(retry_after(&response) >= 1);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    // Another address is counted apart.
    let other = http_from("127.0.0.2");
    assert_eq!(ask(&other, &server, &id, redirect).await.status(), 200);
    // A registered client from the limited address is not a URL client.
    let registered: Value = serde_json::from_str(
        &http()
            .post(format!("{}/register", server.issuer))
            .header("content-type", "application/json")
            .body(
                json!({
                    "redirect_uris": [redirect],
                    "token_endpoint_auth_method": "none",
                    "application_type": "native",
                })
                .to_string(),
            )
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let registered_id = registered["client_id"].as_str().expect("registered");
    assert_eq!(
        ask(&http(), &server, registered_id, redirect)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_url_client_runs_the_code_flow_with_pkce_and_refreshes() {
    let (docs, server, _dir) = setup().await;
    let id = docs.url("/app.json");
    let redirect = "http://127.0.0.1:9/callback";
    docs.set(
        "/app.json",
        Reply::json(&json!({
            "client_id": id,
            "client_name": "Docs Agent",
            "logo_uri": docs.url("/logo.png"),
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        })),
    );
    let discovery: Value = serde_json::from_str(
        &http()
            .get(format!(
                "{}/.well-known/oauth-authorization-server",
                server.issuer
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(discovery["client_id_metadata_document_supported"], true);
    // URL clients may authenticate with `private_key_jwt` (RFC 7523 §2.2), so
    // the token endpoint's methods name it, and RFC 8414 §2 then requires the
    // signing algorithms, for the token and the introspection endpoints.
    for (methods, algs) in [
        (
            "token_endpoint_auth_methods_supported",
            "token_endpoint_auth_signing_alg_values_supported",
        ),
        (
            "introspection_endpoint_auth_methods_supported",
            "introspection_endpoint_auth_signing_alg_values_supported",
        ),
    ] {
        let listed = discovery[methods].as_array().expect(methods);
        assert!(listed.contains(&json!("private_key_jwt")), "{discovery}");
        let algs = discovery[algs].as_array().expect(algs);
        assert!(!algs.is_empty(), "{discovery}");
        assert!(
            algs.iter().all(|a| !a.as_str().unwrap().starts_with("HS")),
            "no HMAC alg without client_secret_jwt: {discovery}"
        );
    }

    let (page, code, verifier) = authorize(&server, &id, redirect).await;
    assert!(page.contains("Docs Agent"));
    // Draft "Displaying Logos": no logo for a URL client, even an https one
    // of the client's own origin: loading it would tell the document's host
    // who looks at the consent page before the user decides.
    assert!(!page.contains("<img"), "{page}");
    assert!(
        page.contains(&format!("127.0.0.1:{}", docs.port)),
        "the client_id host is shown"
    );
    assert!(
        page.contains("Local application"),
        "a loopback-only warning"
    );
    let (status, tokens) = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", &id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
    let (status, refreshed) = token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &id),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert!(refreshed["access_token"].is_string());
}

#[tokio::test]
async fn a_private_key_jwt_url_client_authenticates_with_an_es256_assertion() {
    let (docs, server, _dir) = setup().await;
    let id = docs.url("/confidential.json");
    let redirect = "https://agent.example/cb";
    let key = TestKey::p256("k1");
    docs.set("/jwks.json", Reply::json(&key.jwks()));
    docs.set(
        "/confidential.json",
        Reply::json(&json!({
            "client_id": id,
            "client_name": "Confidential Agent",
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": docs.url("/jwks.json"),
        })),
    );
    let (page, code, verifier) = authorize(&server, &id, redirect).await;
    assert!(!page.contains("Local application"));
    let assertion = key.sign(&claims(&id, &server.issuer));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("code_verifier", verifier.as_str()),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion.as_str()),
    ];
    let (status, tokens) = token(&server, &form).await;
    assert_eq!(status, 200, "{tokens}");
    // The same assertion again is a replay: invalid_client (RFC 7523 §3,
    // `jti`). RFC 6749 §5.2 asks for a 401 only when the client used the
    // Authorization header; a 401 needs a challenge (RFC 9110 §15.5.2) that an
    // assertion has none of, so this is a 400.
    let (status, error) = token(&server, &form).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"], "invalid_client");
}

/// OpenID Connect Core §5.3: the userinfo endpoint answers a token issued
/// to a URL client, found the way `/authorize` and `/token` find it (its
/// metadata document), not in the client store only.
#[tokio::test]
async fn core_5_3_userinfo_answers_a_url_clients_token() {
    let (docs, server, _dir) = setup().await;
    let id = docs.url("/userinfo-app.json");
    let redirect = "http://127.0.0.1:9/callback";
    docs.set(
        "/userinfo-app.json",
        Reply::json(&json!({
            "client_id": id,
            "client_name": "Userinfo Agent",
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "none",
            "scope": "openid profile",
        })),
    );
    let (_, code, verifier) = authorize(&server, &id, redirect).await;
    let (status, tokens) = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", &id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let response = http()
        .get(format!("{}/userinfo", server.issuer))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let claims: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(claims["sub"], "demo-user", "{claims}");
    assert_eq!(claims["name"], "Demo User", "{claims}");
}

/// Attack finding: loopback documents follow the issuer, not the listener:
/// `--issuer http://localhost:…` on a listener beyond loopback let other
/// hosts make the server fetch `https://127.0.0.1:…`. That configuration
/// fails closed: the server refuses to start, before it listens (the
/// address here is a documentation address no interface holds).
#[test]
fn loopback_documents_with_a_listener_beyond_loopback_refuse_to_start() {
    let exe = std::env::current_exe().unwrap();
    let binary = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples")
        .join("server");
    let output = Command::new(binary)
        .args([
            "--store",
            "memory",
            "--addr",
            "192.0.2.1:8080",
            "--issuer",
            "http://localhost:8080",
            "--client-id-metadata-documents",
            "any",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("listens beyond loopback"), "{stderr}");
}
