//! The host helpers: client authentication at the token endpoint
//! (RFC 6749 §2.3.1) and redirect URI matching at the authorization endpoint
//! (RFC 6749 §3.1.2.3, RFC 8252 §7.3). One test per rule, named after it.

use crate::common;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use http::HeaderMap;
use serde_json::json;
use tower_dcr::host::{ClientAuthError, ClientCredentials, CredentialsLocation};
use tower_dcr::store::StoredSecret;
use tower_dcr::{
    ClientMetadata, ClientRecord, ClientStore, MemoryStore, Registration, Secret,
    TokenEndpointAuthMethod,
};

/// Seconds since the Unix epoch.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Credentials from the `Authorization: Basic` header only.
fn from_basic(value: &str) -> Result<ClientCredentials, ClientAuthError> {
    ClientCredentials::from_request(&authorization_header(value), None, None)
}

/// Credentials from the form fields only.
fn from_form(
    client_id: &str,
    client_secret: Option<&str>,
) -> Result<ClientCredentials, ClientAuthError> {
    ClientCredentials::from_request(&HeaderMap::new(), Some(client_id), client_secret)
}

async fn auth(
    dcr: &Registration,
    credentials: Result<ClientCredentials, ClientAuthError>,
) -> Result<String, ClientAuthError> {
    let credentials = credentials?;
    dcr.authenticate_client(&credentials)
        .await
        .map(|record| record.client_id.clone())
}

/// Registers a client with the given `token_endpoint_auth_method`; returns its
/// identifier and secret (empty for `none`).
async fn register_with_method(dcr: &Registration, method: &str) -> (String, String) {
    let answer = registered(
        dcr,
        json!({
            "redirect_uris": ["https://client.example.org/cb"],
            "token_endpoint_auth_method": method,
        }),
    )
    .await;
    (
        answer.str("client_id").to_owned(),
        answer.str("client_secret").to_owned(),
    )
}

/// A `client_secret_basic` client created by the host directly in the store,
/// with the given secret and `client_secret_expires_at`.
async fn store_client(store: &MemoryStore, client_id: &str, secret: &str, expires_at: u64) {
    let mut metadata = ClientMetadata::default();
    metadata.redirect_uris = Some(vec!["https://client.example.org/cb".into()]);
    metadata.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::ClientSecretBasic);
    let mut record = ClientRecord::new_host_client(client_id, metadata, now());
    record.client_secret = Some(StoredSecret::Digest(Secret::new(secret).digest()));
    record.client_secret_expires_at = expires_at;
    store.create(Arc::new(record)).await.unwrap();
}

// ---------------------------------------------------------------------------
// RFC 6749 §2.3.1: client authentication per registered method.

/// RFC 6749 §2.3.1 and RFC 7591 §2 (`client_secret_basic`): the credentials in
/// the Basic header authenticate the client; the same credentials as form
/// fields are the wrong method: `invalid_client`.
#[tokio::test]
async fn client_secret_basic_authenticates_only_with_the_basic_header() {
    let dcr = open();
    let (id, secret) = register_with_method(&dcr, "client_secret_basic").await;
    let credentials = from_basic(&basic_authorization(&id, &secret)).unwrap();
    assert_eq!(credentials.location(), CredentialsLocation::BasicHeader);
    assert_eq!(credentials.client_id(), id);
    assert_eq!(auth(&dcr, Ok(credentials)).await.unwrap(), id);
    assert_eq!(
        auth(&dcr, from_form(&id, Some(&secret))).await,
        Err(ClientAuthError::InvalidClient)
    );
    assert_eq!(
        auth(&dcr, from_form(&id, None)).await,
        Err(ClientAuthError::InvalidClient)
    );
}

/// RFC 6749 §2.3.1 and RFC 7591 §2 (`client_secret_post`): the form fields
/// authenticate the client; the same credentials in a Basic header are the
/// wrong method: `invalid_client`.
#[tokio::test]
async fn client_secret_post_authenticates_only_with_form_fields() {
    let dcr = open();
    let (id, secret) = register_with_method(&dcr, "client_secret_post").await;
    let credentials = from_form(&id, Some(&secret)).unwrap();
    assert_eq!(credentials.location(), CredentialsLocation::RequestBody);
    assert_eq!(auth(&dcr, Ok(credentials)).await.unwrap(), id);
    assert_eq!(
        auth(&dcr, from_basic(&basic_authorization(&id, &secret))).await,
        Err(ClientAuthError::InvalidClient)
    );
    assert_eq!(
        auth(&dcr, from_form(&id, None)).await,
        Err(ClientAuthError::InvalidClient)
    );
}

/// RFC 7591 §2 (`none`, a public client): the `client_id` alone identifies it;
/// presenting any secret (form or Basic) is `invalid_client`.
#[tokio::test]
async fn none_authenticates_with_the_client_id_alone() {
    let dcr = open();
    let (id, secret) = register_with_method(&dcr, "none").await;
    assert!(secret.is_empty());
    let credentials = from_form(&id, None).unwrap();
    assert_eq!(credentials.location(), CredentialsLocation::ClientIdOnly);
    assert_eq!(auth(&dcr, Ok(credentials)).await.unwrap(), id);
    assert_eq!(
        auth(&dcr, from_form(&id, Some("guess"))).await,
        Err(ClientAuthError::InvalidClient)
    );
    assert_eq!(
        auth(&dcr, from_basic(&basic_authorization(&id, ""))).await,
        Err(ClientAuthError::InvalidClient)
    );
    assert_eq!(
        auth(&dcr, from_basic(&basic_authorization(&id, "guess"))).await,
        Err(ClientAuthError::InvalidClient)
    );
}

/// RFC 6749 §5.2 (`invalid_client`: "unknown client, no client authentication
/// included, or unsupported authentication method") and DESIGN §5: wrong
/// secret, unknown client and expired secret give the same error.
#[tokio::test]
async fn wrong_secret_unknown_client_and_expired_secret_are_the_same_invalid_client() {
    let store = MemoryStore::new();
    let dcr = builder().store(store.clone()).build().unwrap();
    let (id, secret) = register_with_method(&dcr, "client_secret_basic").await;
    store_client(&store, "expired", "expired-secret", now() - 10).await;
    store_client(&store, "valid", "valid-secret", now() + 3600).await;

    // The controls: these authenticate.
    assert_eq!(
        auth(&dcr, from_basic(&basic_authorization(&id, &secret)))
            .await
            .unwrap(),
        id
    );
    assert_eq!(
        auth(
            &dcr,
            from_basic(&basic_authorization("valid", "valid-secret"))
        )
        .await
        .unwrap(),
        "valid"
    );

    let mut wrong = secret.clone();
    wrong.replace_range(0..1, if secret.starts_with('A') { "B" } else { "A" });
    for (case, client_id, presented) in [
        ("wrong secret", id.as_str(), wrong.as_str()),
        ("empty secret", id.as_str(), ""),
        ("secret with a suffix", id.as_str(), &format!("{secret}x")),
        ("unknown client", "no-such-client", secret.as_str()),
        ("expired secret", "expired", "expired-secret"),
    ] {
        let result = auth(&dcr, from_basic(&basic_authorization(client_id, presented))).await;
        assert_eq!(result, Err(ClientAuthError::InvalidClient), "{case}");
        assert_eq!(
            ClientAuthError::InvalidClient.error_code(),
            "invalid_client"
        );
    }
}

/// RFC 7591 §3.2.1 (`client_secret_expires_at`) with
/// `Profile::client_secret_lifetime`: the registration response states the
/// expiry, and the secret authenticates until then.
#[tokio::test]
async fn client_secret_lifetime_sets_client_secret_expires_at() {
    let dcr = builder()
        .profile(
            tower_dcr::Profile::default()
                .client_secret_lifetime(std::time::Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    let answer = registered(&dcr, web_client()).await;
    let issued = answer.json["client_id_issued_at"].as_u64().unwrap();
    let expires = answer.json["client_secret_expires_at"].as_u64().unwrap();
    assert_eq!(expires, issued + 3600);
    let id = answer.str("client_id");
    let secret = answer.str("client_secret");
    assert_eq!(
        auth(&dcr, from_basic(&basic_authorization(id, secret)))
            .await
            .unwrap(),
        id
    );
}

// ---------------------------------------------------------------------------
// RFC 6749 §2.3.1: the Basic header encoding.

/// RFC 6749 §2.3.1: "The client identifier is encoded using the
/// application/x-www-form-urlencoded encoding algorithm ... and the encoded
/// value is used as the username; the client password is encoded using the
/// same algorithm and used as the password." An identifier and a secret holding
/// `:`, `%`, `+` and spaces round-trip (`a:b%c` is sent as `a%3Ab%25c`).
#[tokio::test]
async fn basic_credentials_are_form_urlencoded_before_base64() {
    let store = MemoryStore::new();
    let dcr = builder().store(store.clone()).build().unwrap();
    let id = "a:b%c+d e";
    let secret = "s:e%c+r e t";
    store_client(&store, id, secret, 0).await;

    let encoded = STANDARD.encode("a%3Ab%25c%2Bd+e:s%3Ae%25c%2Br+e+t");
    let credentials = from_basic(&format!("Basic {encoded}")).unwrap();
    assert_eq!(credentials.client_id(), id);
    assert_eq!(auth(&dcr, Ok(credentials)).await.unwrap(), id);

    // `%20` for a space is as good as `+`.
    let encoded = STANDARD.encode("a%3Ab%25c%2Bd%20e:s%3Ae%25c%2Br%20e%20t");
    assert_eq!(
        auth(&dcr, from_basic(&format!("Basic {encoded}"))).await,
        Ok(id.to_owned())
    );
    // The helper's encoding agrees.
    assert_eq!(
        auth(&dcr, from_basic(&basic_authorization(id, secret))).await,
        Ok(id.to_owned())
    );
    // Unencoded, `%c+` is not a valid escape: a malformed request.
    let raw = STANDARD.encode("a%3Ab%25c+d e:s:e%c+r e t");
    assert_eq!(
        auth(&dcr, from_basic(&format!("Basic {raw}"))).await,
        Err(ClientAuthError::InvalidRequest)
    );
}

/// A client registered through the endpoint with a host-generated identifier
/// holding `:`, `%`, `+` and a space authenticates with the encoded Basic header.
#[tokio::test]
async fn registered_client_with_reserved_characters_in_its_id_authenticates() {
    let dcr = builder()
        .client_id_generator(|| "app:1%2+x y".to_owned())
        .build()
        .unwrap();
    let answer = registered(&dcr, web_client()).await;
    assert_eq!(answer.str("client_id"), "app:1%2+x y");
    let secret = answer.str("client_secret");
    assert_eq!(
        auth(
            &dcr,
            from_basic(&basic_authorization("app:1%2+x y", secret))
        )
        .await,
        Ok("app:1%2+x y".to_owned())
    );
}

/// RFC 6749 §2.3.1 with the WHATWG/HTML form-urlencoded rules it cites: a `%`
/// not followed by two hex digits is not valid form-urlencoding, so the header
/// is malformed: `invalid_request` (otherwise `a%zz` and `a%25zz` would both
/// name the client `a%zz`).
#[test]

fn basic_credentials_with_invalid_percent_encoding_are_invalid_request() {
    for pair in ["a%zz:secret", "abc:se%2", "abc%:secret", "abc:%g0"] {
        let value = format!("Basic {}", STANDARD.encode(pair));
        assert_eq!(
            from_basic(&value).map(|c| c.client_id().to_owned()),
            Err(ClientAuthError::InvalidRequest),
            "{pair}"
        );
    }
}

/// RFC 7617 §2 (`user-pass = user-id ":" password`) and RFC 6749 §2.3: a Basic
/// header without a colon, with bad Base64, with no credentials at all, or with
/// an empty client identifier is `invalid_request`.
#[test]
fn malformed_basic_credentials_are_invalid_request() {
    let cases = [
        (
            "no colon",
            format!("Basic {}", STANDARD.encode("client-only")),
        ),
        ("bad base64", "Basic !!!not-base64!!!".to_owned()),
        ("truncated base64", "Basic YWJjOmRlZ".to_owned()),
        ("empty credentials", "Basic ".to_owned()),
        (
            "empty client_id",
            format!("Basic {}", STANDARD.encode(":secret")),
        ),
        (
            "not UTF-8",
            format!("Basic {}", STANDARD.encode([0xff, b':', b'x'])),
        ),
    ];
    for (case, value) in &cases {
        assert_eq!(
            from_basic(value).map(|c| c.client_id().to_owned()),
            Err(ClientAuthError::InvalidRequest),
            "{case}"
        );
        assert_eq!(
            ClientAuthError::InvalidRequest.error_code(),
            "invalid_request"
        );
    }
}

/// RFC 6749 §2.3: "The client MUST NOT use more than one authentication method
/// in each request": a Basic header plus a form `client_secret`, two Basic
/// headers, or a form `client_id` naming another client are `invalid_request`.
#[test]
fn credentials_in_more_than_one_place_are_invalid_request() {
    let basic = authorization_header(&basic_authorization("client", "secret"));
    assert_eq!(
        ClientCredentials::from_request(&basic, None, Some("secret")).map(|_| ()),
        Err(ClientAuthError::InvalidRequest)
    );
    assert_eq!(
        ClientCredentials::from_request(&basic, Some("client"), Some("secret")).map(|_| ()),
        Err(ClientAuthError::InvalidRequest)
    );
    assert_eq!(
        ClientCredentials::from_request(&basic, Some("another"), None).map(|_| ()),
        Err(ClientAuthError::InvalidRequest)
    );
    let mut twice = basic.clone();
    twice.append(
        http::header::AUTHORIZATION,
        basic_authorization("client", "secret").parse().unwrap(),
    );
    assert_eq!(
        ClientCredentials::from_request(&twice, None, None).map(|_| ()),
        Err(ClientAuthError::InvalidRequest)
    );
    // A form client_id repeating the Basic one is fine (RFC 6749 §4.1.3).
    let same = ClientCredentials::from_request(&basic, Some("client"), None).unwrap();
    assert_eq!(same.location(), CredentialsLocation::BasicHeader);
}

/// RFC 6749 §5.2: no client identification at all is `invalid_client`, and
/// the scheme name `Basic` is case-insensitive (RFC 7235 §2.1).
#[test]
fn basic_scheme_is_case_insensitive_and_absence_is_invalid_client() {
    let encoded = STANDARD.encode("client:secret");
    for scheme in ["Basic", "basic", "BASIC"] {
        let credentials = from_basic(&format!("{scheme} {encoded}")).unwrap();
        assert_eq!(credentials.client_id(), "client", "{scheme}");
    }
    assert_eq!(
        ClientCredentials::from_request(&HeaderMap::new(), None, None).map(|_| ()),
        Err(ClientAuthError::InvalidClient)
    );
}

/// DESIGN §5: the credentials' `Debug` output never shows the secret.
#[test]
fn client_credentials_debug_redacts_the_secret() {
    let credentials = from_form("client", Some("super-secret-value")).unwrap();
    let debug = format!("{credentials:?}");
    assert!(!debug.contains("super-secret-value"), "{debug}");
    let credentials = from_basic(&basic_authorization("client", "super-secret-value")).unwrap();
    assert!(!format!("{credentials:?}").contains("super-secret-value"));
}

// ---------------------------------------------------------------------------
// RFC 6749 §3.1.2.3 and RFC 8252 §7.3: redirect URI matching.

/// A native client: RFC 8252 §7.3's any-port rule is for native apps only
/// (web clients: redirect_matching.rs).
fn client_with(redirect_uris: &[&str]) -> ClientMetadata {
    let mut metadata = ClientMetadata::default();
    metadata.redirect_uris = Some(redirect_uris.iter().map(|s| (*s).to_owned()).collect());
    metadata.application_type = Some(tower_dcr::ApplicationType::Native);
    metadata
}

/// RFC 8252 §7.3: "The authorization server MUST allow any port to be specified
/// at the time of the request for loopback IP redirect URIs": for `127.0.0.1`,
/// `[::1]` and `localhost`, registered with or without a port, any port matches.
#[test]
fn loopback_redirect_matches_on_any_port() {
    for host in ["127.0.0.1", "[::1]", "localhost"] {
        let without_port = client_with(&[&format!("http://{host}/cb")]);
        let with_port = client_with(&[&format!("http://{host}:8080/cb")]);
        for presented in [
            format!("http://{host}/cb"),
            format!("http://{host}:1/cb"),
            format!("http://{host}:8080/cb"),
            format!("http://{host}:51234/cb"),
        ] {
            assert!(without_port.matches_redirect_uri(&presented), "{presented}");
            assert!(with_port.matches_redirect_uri(&presented), "{presented}");
        }
    }
}

/// RFC 8252 §7.3 with RFC 6749 §3.1.2.3: only the port is free on loopback;
/// another path, query, host or scheme does not match.
#[test]
fn loopback_redirect_must_match_path_query_host_and_scheme() {
    for host in ["127.0.0.1", "[::1]", "localhost"] {
        let registered = client_with(&[&format!("http://{host}/cb?x=1")]);
        assert!(registered.matches_redirect_uri(&format!("http://{host}:9/cb?x=1")));
        for presented in [
            format!("http://{host}:9/cb"),
            format!("http://{host}:9/cb?x=2"),
            format!("http://{host}:9/cb?x=1&y=2"),
            format!("http://{host}:9/other?x=1"),
            format!("http://{host}:9/cb/?x=1"),
            format!("http://{host}:9/CB?x=1"),
            format!("https://{host}:9/cb?x=1"),
            format!("http://{host}:9/cb?x=1#frag"),
        ] {
            assert!(!registered.matches_redirect_uri(&presented), "{presented}");
        }
    }
    let localhost = client_with(&["http://localhost/cb"]);
    assert!(!localhost.matches_redirect_uri("http://127.0.0.1:9/cb"));
    assert!(!localhost.matches_redirect_uri("http://[::1]:9/cb"));
}

/// RFC 6749 §3.1.2.3 and RFC 9700 §4.1.3 (exact string matching) with
/// RFC 8252 §7.3: on loopback only the port may differ; the rest is compared as
/// the strings the client registered and sent, not after URL normalization (dot
/// segments, percent-encoding, alternative IPv4 spellings).
#[test]

fn loopback_redirect_compares_everything_but_the_port_as_sent() {
    let registered = client_with(&["http://127.0.0.1/cb", "http://127.0.0.1/a{b}"]);
    let matched: Vec<&str> = [
        "http://127.0.0.1:9/x/../cb",
        "http://127.0.0.1:9/./cb",
        "http://127.0.0.1:9/a%7Bb%7D",
        "http://0x7f.0.0.1:9/cb",
        "http://2130706433:9/cb",
        "http://127.1:9/cb",
        "http://127.0.0.1:9\\cb",
    ]
    .into_iter()
    .filter(|presented| registered.matches_redirect_uri(presented))
    .collect();
    assert!(matched.is_empty(), "matched: {matched:?}");
}

/// RFC 6749 §3.1.2.3: a non-loopback redirect URI matches by exact string only:
/// no free port, no trailing-slash, case or query leniency.
#[test]
fn non_loopback_redirect_matches_by_exact_string() {
    let registered = client_with(&["https://client.example.org/cb"]);
    assert!(registered.matches_redirect_uri("https://client.example.org/cb"));
    for presented in [
        "https://client.example.org:8443/cb",
        "https://client.example.org:443/cb",
        "https://client.example.org/cb/",
        "https://client.example.org/cb?x=1",
        "https://client.example.org/CB",
        "https://CLIENT.example.org/cb",
        "http://client.example.org/cb",
        "https://client.example.org/cb#",
        "https://client.example.org/x/../cb",
        "https://evil.example/cb",
    ] {
        assert!(!registered.matches_redirect_uri(presented), "{presented}");
    }
    let with_slash = client_with(&["https://client.example.org/cb/"]);
    assert!(!with_slash.matches_redirect_uri("https://client.example.org/cb"));
    // http on a non-loopback host gets no port leniency either.
    let http = client_with(&["http://client.example.org/cb"]);
    assert!(!http.matches_redirect_uri("http://client.example.org:8080/cb"));
}

/// RFC 8252 §8.3: only the loopback hosts themselves get the port exception; a
/// domain that merely starts with a loopback address, or `https` on loopback
/// against `http`, does not match.
#[test]
fn lookalike_loopback_hosts_do_not_match() {
    let registered = client_with(&["http://127.0.0.1/cb", "http://localhost/cb"]);
    for presented in [
        "http://127.0.0.1.evil.com/cb",
        "http://127.0.0.1.evil.com:80/cb",
        "http://localhost.evil.com:9/cb",
        "http://evil.com/cb",
        "http://127.0.0.2:9/cb",
        "http://user@127.0.0.1:9/cb",
        "http://127.0.0.1@evil.com/cb",
    ] {
        assert!(!registered.matches_redirect_uri(presented), "{presented}");
    }
    // Private-use schemes (RFC 8252 §7.1) are exact too.
    let native = client_with(&["com.example.app:/oauth2redirect"]);
    assert!(native.matches_redirect_uri("com.example.app:/oauth2redirect"));
    assert!(!native.matches_redirect_uri("com.example.app:/oauth2redirect/"));
    assert!(!native.matches_redirect_uri("com.example.evil:/oauth2redirect"));
    // No registered URIs: nothing matches.
    assert!(!client_with(&[]).matches_redirect_uri("https://client.example.org/cb"));
}
