//! Redirect URIs (RFC 6749 §3.1.2, OIDC DCR §2, RFC 8252 §7) at registration,
//! for web and native clients, and `ClientMetadata::matches_redirect_uri` with
//! arbitrary presented URIs.
//!
//! Checks: never a panic or a 5xx; a refusal is always `invalid_redirect_uri`
//! (nothing else in the request can be wrong); an accepted URI is echoed as the
//! exact string sent, obeys the rules of its application type (checked again
//! here with the url crate) and matches itself; a presented URI that matches
//! without being the registered string is an http loopback URI on the same
//! host, path and query (only the port may differ), so matching can never
//! send a user to another host.
#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use http::{Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tower_dcr::{ClientMetadata, Profile, Registration};
use tower_dcr_fuzz::{check_response, delete_registered, request, send};
use url::{Host, Url};

const FORBIDDEN_SCHEMES: [&str; 6] = ["javascript", "data", "vbscript", "file", "blob", "about"];

/// The default profile, and a strict one: no http loopback for web clients,
/// no claimed https redirects for native clients.
fn services() -> &'static [(Registration, bool); 2] {
    static SERVICES: OnceLock<[(Registration, bool); 2]> = OnceLock::new();
    SERVICES.get_or_init(|| {
        let build = |profile: Profile| {
            Registration::builder(tower_dcr_fuzz::ISSUER)
                .open()
                .profile(profile)
                .build()
                .expect("valid configuration")
        };
        [
            (build(Profile::default()), false),
            (
                build(
                    Profile::default()
                        .web_http_loopback(false)
                        .native_https(false),
                ),
                true,
            ),
        ]
    })
}

#[derive(Arbitrary, Debug)]
enum Scheme {
    Http,
    Https,
    PrivateUse,
    Forbidden(u8),
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum HostPart {
    Localhost,
    Ipv4Loopback,
    Ipv6Loopback,
    Example,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Uri {
    Raw(String),
    Built {
        scheme: Scheme,
        slashes: bool,
        host: HostPart,
        port: Option<String>,
        path: String,
        query: Option<String>,
        fragment: Option<String>,
    },
}

impl Uri {
    fn text(self) -> String {
        match self {
            Self::Raw(s) => s,
            Self::Built {
                scheme,
                slashes,
                host,
                port,
                path,
                query,
                fragment,
            } => {
                let scheme = match scheme {
                    Scheme::Http => "http".to_owned(),
                    Scheme::Https => "https".to_owned(),
                    Scheme::PrivateUse => "com.example.app".to_owned(),
                    Scheme::Forbidden(i) => {
                        FORBIDDEN_SCHEMES[usize::from(i) % FORBIDDEN_SCHEMES.len()].to_owned()
                    }
                    Scheme::Other(s) => s,
                };
                let host = match host {
                    HostPart::Localhost => "localhost".to_owned(),
                    HostPart::Ipv4Loopback => "127.0.0.1".to_owned(),
                    HostPart::Ipv6Loopback => "[::1]".to_owned(),
                    HostPart::Example => "client.example.org".to_owned(),
                    HostPart::Other(h) => h,
                };
                let mut s = scheme;
                s.push(':');
                if slashes {
                    s.push_str("//");
                    s.push_str(&host);
                    if let Some(port) = port {
                        s.push(':');
                        s.push_str(&port);
                    }
                }
                if !path.starts_with('/') {
                    s.push('/');
                }
                s.push_str(&path);
                if let Some(q) = query {
                    s.push('?');
                    s.push_str(&q);
                }
                if let Some(f) = fragment {
                    s.push('#');
                    s.push_str(&f);
                }
                s
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Presented {
    Same,
    Raw(String),
    /// The registered URI with its port (if any) replaced by this text.
    Port(String),
    /// The registered URI with this appended.
    Suffix(String),
    /// The registered URI with one byte changed.
    Flip(u16, u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    uri: Uri,
    native: bool,
    strict: bool,
    presented: Vec<Presented>,
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback() && ip.octets() == [127, 0, 0, 1],
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// The rules an accepted redirect URI must satisfy, checked independently of
/// the crate.
fn assert_acceptable(uri: &str, native: bool, strict: bool) {
    assert!(!uri.contains('#'), "a fragment was accepted: {uri:?}");
    assert!(
        !uri.chars().any(|c| c.is_whitespace() || c.is_control()),
        "whitespace or a control character was accepted: {uri:?}"
    );
    let url = Url::parse(uri).expect("an accepted redirect URI parses");
    let scheme = url.scheme();
    assert!(
        !FORBIDDEN_SCHEMES.contains(&scheme),
        "a forbidden scheme was accepted: {uri:?}"
    );
    assert!(url.username().is_empty() && url.password().is_none());
    let loopback = url.host().as_ref().is_some_and(is_loopback);
    if scheme == "http" || scheme == "https" {
        assert!(
            uri[scheme.len() + 1..].starts_with("//"),
            "an http(s) URI without authority: {uri:?}"
        );
        assert!(url.host().is_some(), "no host: {uri:?}");
    }
    let ok = match (native, scheme) {
        (false, "https") => true,
        (false, "http") => loopback && !strict,
        (false, _) => false,
        (true, "http") => loopback,
        (true, "https") => loopback || !strict,
        (true, other) => other.contains('.'),
    };
    assert!(
        ok,
        "accepted for a {} client: {uri:?}",
        if native { "native" } else { "web" }
    );
}

/// What a presented URI may differ in from the registered one when they match.
fn assert_safe_match(registered: &str, presented: &str) {
    if registered == presented {
        return;
    }
    let r = Url::parse(registered).expect("registered URIs parse");
    assert_eq!(r.scheme(), "http", "{registered:?} matched {presented:?}");
    assert!(
        presented.starts_with("http://"),
        "{registered:?} matched {presented:?}"
    );
    // A presented URI the URL parser refuses (for example a port over 65535)
    // cannot be redirected to; any it reads must land on the same host.
    if let Ok(p) = Url::parse(presented) {
        assert_eq!(
            p.host_str(),
            r.host_str(),
            "{registered:?} matched {presented:?} on another host"
        );
        assert!(p.host().as_ref().is_some_and(is_loopback));
        assert_eq!(p.path(), r.path(), "{registered:?} matched {presented:?}");
        assert_eq!(p.query(), r.query(), "{registered:?} matched {presented:?}");
        assert_eq!(p.fragment(), r.fragment());
        assert_eq!(p.username(), "");
        assert_eq!(p.password(), None);
    }
}

fn presented_text(p: Presented, uri: &str) -> String {
    match p {
        Presented::Same => uri.to_owned(),
        Presented::Raw(s) => s,
        Presented::Port(port) => match Url::parse(uri) {
            Ok(url) if url.port().is_some() => {
                let text = url.port().map(|p| p.to_string()).unwrap_or_default();
                uri.replacen(&format!(":{text}"), &format!(":{port}"), 1)
            }
            _ => uri.to_owned(),
        },
        Presented::Suffix(s) => format!("{uri}{s}"),
        Presented::Flip(at, with) => {
            let mut bytes = uri.as_bytes().to_vec();
            if !bytes.is_empty() {
                let at = usize::from(at) % bytes.len();
                bytes[at] = with;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }
}

/// A first byte 0 selects structured input; anything else is text: a first
/// line naming the client (`web` or `native`, and `strict` for the strict
/// profile), the redirect URI on the second line, presented URIs after it.
fn input(data: &[u8]) -> Option<Input> {
    match data.split_first() {
        Some((0, rest)) => Input::arbitrary_take_rest(Unstructured::new(rest)).ok(),
        _ => {
            let text = String::from_utf8_lossy(data);
            let mut lines = text.split('\n');
            let flags = lines.next().unwrap_or_default();
            let uri = lines.next()?.to_owned();
            Some(Input {
                uri: Uri::Raw(uri),
                native: flags.contains("native"),
                strict: flags.contains("strict"),
                presented: lines.map(|l| Presented::Raw(l.to_owned())).collect(),
            })
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = input(data) else {
        return;
    };
    let uri = input.uri.text();
    let (service, strict) = &services()[usize::from(input.strict)];
    let body = json!({
        "redirect_uris": [uri],
        "application_type": if input.native { "native" } else { "web" },
        "token_endpoint_auth_method": "none",
    });
    let answer = send(
        service,
        request(
            Method::POST,
            "/register",
            None,
            Some(serde_json::to_vec(&body).expect("serializes")),
        ),
    );
    check_response(&answer);
    match answer.status {
        StatusCode::BAD_REQUEST => {
            assert_eq!(answer.error(), "invalid_redirect_uri", "{uri:?}");
            return;
        }
        StatusCode::CREATED => {}
        other => panic!("unexpected status {other}"),
    }
    let json = answer.json();
    assert_eq!(
        json["redirect_uris"],
        Value::from(vec![uri.clone()]),
        "the redirect URI was not stored as sent"
    );
    assert_acceptable(&uri, input.native, *strict);
    let metadata = ClientMetadata::from_json_object(json.clone()).expect("the response parses");
    assert!(
        metadata.matches_redirect_uri(&uri),
        "{uri:?} does not match itself"
    );
    for p in input.presented.into_iter().take(8) {
        let presented = presented_text(p, &uri);
        if metadata.matches_redirect_uri(&presented) {
            assert_safe_match(&uri, &presented);
        }
    }
    delete_registered(service, &json);
});
