//! The harness of the example server's black-box tests (`tests/server*.rs`):
//! start the built binary on a free loopback port, talk HTTP to it, stop it.
//!
//! The binary is `target/{profile}/examples/server`, built by `cargo test`
//! (the workspace's default members include its package), or by the harness
//! itself when it is missing (`server_binary`).
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use oauth2::PkceCodeChallenge;
use oauth2::reqwest;
use serde_json::{Value, json};
use url::Url;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// The example binary, next to this test's own binary: tests run from
/// `target/{profile}/deps/`, examples live in `target/{profile}/examples/`.
/// `cargo test` in the workspace builds it (the server's package is a default
/// member and its example is not a test target). When it is missing (say,
/// `cargo test -p tower-dcr`), it is built here once, into the same target
/// directory and profile.
pub fn server_binary() -> PathBuf {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test binary path");
            let profile_dir = exe
                .parent()
                .and_then(|deps| deps.parent())
                .expect("target/{profile}");
            let binary = profile_dir
                .join("examples")
                .join(format!("server{}", std::env::consts::EXE_SUFFIX));
            if !binary.exists() {
                build_server(profile_dir);
            }
            assert!(
                binary.exists(),
                "{} is missing after `cargo build --example server`",
                binary.display()
            );
            binary
        })
        .clone()
}

/// `cargo build --example server` (its package), with the profile and the
/// target directory of the running test.
fn build_server(profile_dir: &std::path::Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--package",
            "tower-dcr-server",
            "--example",
            "server",
        ])
        .env(
            "CARGO_TARGET_DIR",
            profile_dir.parent().expect("target dir"),
        );
    match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            build.arg("--release");
        }
        Some(profile) => {
            build.args(["--profile", profile]);
        }
    }
    eprintln!("building the example server: {build:?}");
    let status = build.status().expect("run cargo");
    assert!(
        status.success(),
        "`cargo build --example server` failed: {status}"
    );
}

/// A running example server on 127.0.0.1, killed when dropped.
pub struct Server {
    pub child: Child,
    pub issuer: String,
    /// What it printed on standard output before the issuer (the banner).
    pub banner: String,
    log: PathBuf,
}

impl Server {
    /// Starts an open server with the memory store.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra arguments; port 0 lets the OS pick a free
    /// port, and the issuer is read from the banner.
    pub fn start_with(args: &[&str]) -> Self {
        Self::start_in(None, args, &[])
    }

    /// Starts a server in `dir` (the working directory; default: this
    /// process's), with extra arguments and environment variables. The
    /// banner is read up to its last line.
    pub fn start_in(dir: Option<&std::path::Path>, args: &[&str], env: &[(&str, &str)]) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let log = std::env::temp_dir().join(format!(
            "tower-dcr-server-test-{}-{}.log",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let store: &[&str] = if args.contains(&"--store") {
            &[]
        } else {
            &["--store", "memory"]
        };
        let mut command = Command::new(server_binary());
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let mut child = command
            .args(["--addr", "127.0.0.1:0"])
            .args(store)
            .args(args)
            .env("RUST_LOG", "debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start the example server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut banner = String::new();
            let mut issuer = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                banner.push_str(&line);
                banner.push('\n');
                if let Some(found) = line.trim_start().strip_prefix("issuer:") {
                    issuer = Some(found.trim().to_owned());
                }
                if line.starts_with("Listening on") {
                    let _ = tx.send((issuer.take().unwrap_or_default(), banner.clone()));
                }
            }
        });
        let (issuer, banner) = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(found) => found,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server printed no banner; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Self {
            child,
            issuer,
            banner,
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Sends SIGTERM and waits (at most `limit`) for the process to exit.
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// An HTTP client that does not follow redirects (RFC 6749 §10.3: tests look
/// at each redirect).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Registers a client with a plain RFC 7591 POST.
pub async fn register(server: &Server, metadata: Value) -> Value {
    let response = http()
        .post(server.url("/register"))
        .header("content-type", "application/json")
        .body(metadata.to_string())
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), 201);
    json_of(response).await
}

/// A public native client (`none`) with a loopback redirect URI (native: any
/// port matches, RFC 8252 §7.3).
pub async fn register_public(server: &Server) -> Value {
    register(
        server,
        json!({
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "client_name": "Public test client",
        }),
    )
    .await
}

/// `GET /authorize` with these query parameters.
pub async fn authorize(server: &Server, params: &[(&str, &str)]) -> reqwest::Response {
    let mut url = Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    http().get(url).send().await.expect("authorize")
}

/// The consent form's nonce.
pub fn nonce_of(page: &str) -> String {
    hidden_field(page, "nonce")
}

/// The value of the consent form's hidden field `name`.
pub fn hidden_field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field"))
        + marker.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end].to_owned()
}

/// The consent cookie the browser that got `page` holds (the form repeats
/// it in its `csrf` field).
pub fn consent_cookie(page: &str) -> String {
    format!("tower_dcr_consent={}", hidden_field(page, "csrf"))
}

/// Answers a consent page as the browser it was shown in (its cookie and
/// the form's fields); returns the redirect's `Location`.
pub async fn decide(server: &Server, page: &str, decision: &str) -> Url {
    let response = http()
        .post(server.url("/authorize"))
        .header("cookie", consent_cookie(page))
        .form(&[
            ("nonce", nonce_of(page).as_str()),
            ("csrf", hidden_field(page, "csrf").as_str()),
            ("decision", decision),
        ])
        .send()
        .await
        .expect("consent");
    assert_eq!(response.status(), 302);
    location(&response)
}

pub fn location(response: &reqwest::Response) -> Url {
    let location = response.headers()["location"].to_str().unwrap();
    Url::parse(location).expect("absolute Location")
}

pub fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Runs `/authorize` for a public client with PKCE and approves; returns the
/// code and the verifier.
pub async fn code_for(server: &Server, client_id: &str, redirect_uri: &str) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let response = authorize(
        server,
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("state", "s1"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    let back = decide(server, &page, "approve").await;
    (
        query(&back, "code").expect("code"),
        verifier.secret().clone(),
    )
}

/// `POST /token` with form parameters.
pub async fn token(server: &Server, form: &[(&str, &str)]) -> (u16, Value) {
    let response = http()
        .post(server.url("/token"))
        .form(form)
        .send()
        .await
        .expect("token");
    let status = response.status().as_u16();
    (status, json_of(response).await)
}

/// Whether an access token is active, asked by its client (RFC 7662).
pub async fn active(server: &Server, client_id: &str, access_token: &str) -> bool {
    let response = http()
        .post(server.url("/introspect"))
        .form(&[("client_id", client_id), ("token", access_token)])
        .send()
        .await
        .expect("introspect");
    json_of(response).await["active"] == true
}

/// Runs the binary to completion (killed after 10 s); returns its exit
/// status and standard error.
pub fn run_to_end(args: &[&str]) -> (ExitStatus, String) {
    let mut child = Command::new(server_binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("{args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}
