//! RFC 8252 (OAuth 2.0 for Native Apps): redirect URIs of native clients.

use crate::common;

use common::*;
use serde_json::json;
use tower_dcr::Profile;

fn native(uri: &str) -> serde_json::Value {
    json!({"application_type": "native", "redirect_uris": [uri], "token_endpoint_auth_method": "none"})
}

/// RFC 8252 §7.1: private-use URI schemes (reverse domain names) are accepted
/// for native clients.
#[tokio::test]
async fn rfc8252_7_1_private_use_scheme_accepted() {
    for uri in [
        "com.example.app:/oauth2redirect/example-provider",
        "com.example.app:/cb",
        "io.github.user.app://cb",
    ] {
        let a = registered(&open(), native(uri)).await;
        assert_eq!(a.json["redirect_uris"], json!([uri]));
    }
}

/// RFC 8252 §7.1: a private-use scheme must be based on a domain name (contain a
/// period).
#[tokio::test]
async fn rfc8252_7_1_private_use_scheme_must_be_reverse_domain() {
    for uri in ["myapp:/cb", "myapp://callback"] {
        let a = register(&open(), native(uri)).await;
        a.assert_error(400, "invalid_redirect_uri");
        assert!(a.description().contains("RFC 8252 §7.1"));
    }
}

/// RFC 8252 §7.3: http loopback redirects (localhost, 127.0.0.1, [::1]) with or
/// without a port are accepted for native clients.
#[tokio::test]
async fn rfc8252_7_3_loopback_redirects_accepted() {
    for uri in [
        "http://127.0.0.1/cb",
        "http://127.0.0.1:51004/cb",
        "http://[::1]:8080/",
        "http://localhost/cb",
        "http://localhost:3000/callback",
    ] {
        registered(&open(), native(uri)).await;
    }
}

/// RFC 8252 §8.3 / §7.3: http on any host other than loopback is refused for
/// native clients.
#[tokio::test]
async fn rfc8252_7_3_http_on_other_hosts_refused() {
    for uri in [
        "http://client.example.org/cb",
        "http://127.0.0.2/cb",
        "http://localhost.evil.example/cb",
        "http://10.0.0.1/cb",
    ] {
        let a = register(&open(), native(uri)).await;
        a.assert_error(400, "invalid_redirect_uri");
    }
}

/// RFC 8252 §7.2: claimed https redirects are accepted for native clients by
/// default; the older OIDC DCR §2 reading (no https) is a policy switch.
#[tokio::test]
async fn rfc8252_7_2_claimed_https_follows_policy() {
    registered(&open(), native("https://app.example.com/oauth2redirect")).await;
    let strict = builder()
        .profile(Profile::default().native_https(false))
        .build()
        .unwrap();
    register(&strict, native("https://app.example.com/oauth2redirect"))
        .await
        .assert_error(400, "invalid_redirect_uri");
    registered(&strict, native("com.example.app:/cb")).await;
}

/// RFC 8252 §7.3: at the authorization endpoint a loopback redirect matches on
/// any port; everything else compares as the exact string.
#[tokio::test]
async fn rfc8252_7_3_loopback_matches_any_port() {
    let dcr = open();
    let a = registered(
        &dcr,
        json!({"application_type": "native", "token_endpoint_auth_method": "none",
               "redirect_uris": ["http://127.0.0.1/cb", "http://[::1]:1234/cb", "http://localhost/cb?x=1", "com.example.app:/cb"]}),
    )
    .await;
    let client = dcr.client(a.str("client_id")).await.unwrap().unwrap();
    let m = &client.metadata;
    assert!(m.matches_redirect_uri("http://127.0.0.1/cb"));
    assert!(m.matches_redirect_uri("http://127.0.0.1:60123/cb"));
    assert!(m.matches_redirect_uri("http://[::1]/cb"));
    assert!(m.matches_redirect_uri("http://[::1]:5555/cb"));
    assert!(m.matches_redirect_uri("http://localhost:8080/cb?x=1"));
    assert!(
        !m.matches_redirect_uri("http://localhost:8080/cb"),
        "query differs"
    );
    assert!(
        !m.matches_redirect_uri("http://127.0.0.1:60123/cb2"),
        "path differs"
    );
    assert!(
        !m.matches_redirect_uri("http://[::1]:5555/cb/"),
        "path differs"
    );
    assert!(
        !m.matches_redirect_uri("https://127.0.0.1/cb"),
        "scheme differs"
    );
    assert!(!m.matches_redirect_uri("http://127.0.0.1.evil.example/cb"));
    assert!(m.matches_redirect_uri("com.example.app:/cb"));
    assert!(!m.matches_redirect_uri("com.example.app:/cb2"));
    assert!(
        !m.matches_redirect_uri("COM.EXAMPLE.APP:/cb"),
        "exact string outside loopback"
    );
}
