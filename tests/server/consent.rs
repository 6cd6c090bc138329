//! The example server's authorization endpoint and consent page: errors
//! that carry `state` (RFC 6749 §4.1.2.1), OpenID requests without
//! `redirect_uri` (OpenID Connect Core §3.1.2.1), a consent form bound to the
//! browser that asked (RFC 6749 §10.12), the page's CSP, and which logos it
//! loads. See `tests/server_support` for the harness.
#![cfg(unix)]

use crate::server_support;

use oauth2::PkceCodeChallenge;
use serde_json::json;
use server_support::*;

const REDIRECT: &str = "http://127.0.0.1:4000/callback";

/// A public client's authorization request, PKCE included.
async fn ask(
    server: &Server,
    client_id: &str,
    extra: &[(&str, &str)],
) -> oauth2::reqwest::Response {
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    authorize(server, &params).await
}

async fn public_client(server: &Server, extra: serde_json::Value) -> String {
    let mut metadata = json!({
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code"],
    });
    metadata
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    register(server, metadata).await["client_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// RFC 6749 §4.1.2.1: an error sent back to the client carries the
/// request's `state`, the invalid `response_mode` error included.
#[tokio::test]
async fn rfc6749_4_1_2_1_the_invalid_response_mode_error_carries_state() {
    let server = Server::start();
    let client_id = public_client(&server, json!({})).await;
    let response = ask(
        &server,
        &client_id,
        &[
            ("redirect_uri", REDIRECT),
            ("response_mode", "form_post"),
            ("state", "keep me"),
        ],
    )
    .await;
    assert_eq!(response.status(), 302);
    let back = location(&response);
    assert_eq!(query(&back, "error").as_deref(), Some("invalid_request"));
    assert_eq!(query(&back, "state").as_deref(), Some("keep me"));
}

/// OpenID Connect Core §3.1.2.1: `redirect_uri` is REQUIRED in an OpenID
/// request. Without it, the request is refused on an error page (no
/// redirect: RFC 6749 §4.1.2.1), not shown a consent page; a plain OAuth
/// request may still omit it (RFC 6749 §3.1.2.3).
#[tokio::test]
async fn core_3_1_2_1_an_openid_request_without_redirect_uri_is_refused() {
    let server = Server::start();
    let client_id = public_client(&server, json!({})).await;
    let response = ask(&server, &client_id, &[("scope", "openid profile")]).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    let page = response.text().await.unwrap();
    assert!(page.contains("redirect_uri"), "{page}");
    assert!(!page.contains("name=\"nonce\""), "no consent form: {page}");

    let response = ask(&server, &client_id, &[("scope", "read")]).await;
    assert_eq!(response.status(), 200, "OAuth without redirect_uri");
}

/// RFC 6749 §10.12 (CSRF): the consent form is bound to the browser that
/// asked, by a `SameSite=Strict`, `HttpOnly` cookie repeated in the form. An
/// answer without the cookie (a form posted from another site), or from
/// another browser that learnt the form's nonce, is refused with `403` and
/// leaves the request for its own browser, which can still approve it.
#[tokio::test]
async fn rfc6749_10_12_the_consent_form_is_bound_to_the_browser_that_asked() {
    let server = Server::start();
    let client_id = public_client(&server, json!({})).await;
    let response = ask(
        &server,
        &client_id,
        &[("redirect_uri", REDIRECT), ("state", "s")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/authorize"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let page = response.text().await.unwrap();
    let nonce = nonce_of(&page);
    let csrf = hidden_field(&page, "csrf");
    assert!(
        cookie.starts_with(&format!("tower_dcr_consent={csrf};")),
        "{cookie}"
    );

    // Another browser: a consent page of its own gives it its own cookie.
    let other_page = ask(&server, &client_id, &[("redirect_uri", REDIRECT)])
        .await
        .text()
        .await
        .unwrap();
    let other_csrf = hidden_field(&other_page, "csrf");
    assert_ne!(other_csrf, csrf);

    let post = |cookie: Option<String>, fields: Vec<(&'static str, String)>| {
        let server = &server;
        async move {
            let mut request = http().post(server.url("/authorize")).form(&fields);
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            request.send().await.unwrap()
        }
    };
    let attempts = [
        // Cross-site: the browser sends no SameSite=Strict cookie.
        (None, vec![("nonce", nonce.clone()), ("csrf", csrf.clone())]),
        // The cookie without the form's field.
        (Some(consent_cookie(&page)), vec![("nonce", nonce.clone())]),
        // Another browser that learnt the nonce.
        (
            Some(consent_cookie(&other_page)),
            vec![("nonce", nonce.clone()), ("csrf", other_csrf.clone())],
        ),
    ];
    for (cookie, mut fields) in attempts {
        fields.push(("decision", "approve".into()));
        let refused = post(cookie, fields).await;
        assert_eq!(refused.status(), 403);
        assert!(refused.headers().get("location").is_none());
    }
    let back = decide(&server, &page, "approve").await;
    assert!(query(&back, "code").is_some(), "{back}");
    assert_eq!(query(&back, "state").as_deref(), Some("s"));
}

/// The consent page's CSP lets its form post to this server and to the
/// redirect URI's origin only (browsers check `form-action` on the redirect
/// that follows); error pages post nowhere.
#[tokio::test]
async fn the_consent_page_csp_limits_form_action() {
    let server = Server::start();
    let client_id = public_client(&server, json!({})).await;
    let response = ask(&server, &client_id, &[("redirect_uri", REDIRECT)]).await;
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:4000;"),
        "{csp}"
    );
    let error = authorize(&server, &[("client_id", "nobody")]).await;
    assert_eq!(error.status(), 400);
    let csp = error.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'none'"), "{csp}");
}

/// The consent page loads a logo before the user decides anything: only
/// https logos on a domain name are shown, never one that makes the user's
/// browser call loopback, `localhost` or an IP address (URL clients show
/// none: `url_clients.rs`).
#[tokio::test]
async fn logos_on_loopback_or_ip_addresses_are_not_loaded() {
    let server = Server::start();
    for logo in [
        "http://127.0.0.1:631/logo.png",
        "https://127.0.0.1/logo.png",
        "https://[::1]/logo.png",
        "https://localhost/logo.png",
        "https://192.168.1.1/logo.png",
        "http://example.com/logo.png",
    ] {
        let client_id = public_client(&server, json!({ "logo_uri": logo })).await;
        let page = ask(&server, &client_id, &[("redirect_uri", REDIRECT)])
            .await
            .text()
            .await
            .unwrap();
        assert!(!page.contains("<img"), "{logo}: {page}");
    }
    let client_id = public_client(
        &server,
        json!({ "logo_uri": "https://example.com/logo.png" }),
    )
    .await;
    let page = ask(&server, &client_id, &[("redirect_uri", REDIRECT)])
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<img class=\"logo\" src=\"https://example.com/logo.png\""));
}

/// Attack finding: `/token` accepted 2 MB bodies. Form bodies are capped at
/// 64 KiB: `413` with an RFC 6749 §5.2 `invalid_request` at `/token` and
/// `/introspect`, an error page on the consent form.
#[tokio::test]
async fn form_bodies_over_64_kib_get_413() {
    let server = Server::start();
    let big = "a".repeat(70 * 1024);
    for path in ["/token", "/introspect"] {
        let response = http()
            .post(server.url(path))
            .form(&[
                ("grant_type", "client_credentials"),
                ("padding", big.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413, "{path}");
        let body = json_of(response).await;
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
    }
    let response = http()
        .post(server.url("/authorize"))
        .form(&[("nonce", "x"), ("padding", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // Within the cap, the usual answer (no client: RFC 6749 §5.2).
    let (status, body) = token(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("padding", &"a".repeat(60 * 1024)),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_client", "{body}");
}
