//! The example server as an OpenID Provider, driven by the
//! openidconnect crate as a strict relying party: discovery, registration,
//! login, ID token verification against the published keys, userinfo, key
//! rotation. See `tests/server_support` for the harness.
#![cfg(unix)]

use crate::server_support;

use std::time::Duration;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreClientRegistrationRequest,
    CoreGrantType, CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreResponseType, CoreSubjectIdentifierType, CoreUserInfoClaims,
};
use openidconnect::registration::EmptyAdditionalClientMetadata;
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, RedirectUrl, ResponseTypes, Scope,
    TokenResponse as _,
};
use serde_json::{Value, json};
use server_support::*;

const REDIRECT: &str = "http://127.0.0.1/callback";

/// What one login returned.
struct Login {
    claims: CoreIdTokenClaims,
    access_token: openidconnect::AccessToken,
    client: CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
}

/// Discovers the server, registers a client with `customize` applied, logs
/// the demo user in (consent approved) with a nonce, PKCE and `max_age`,
/// and verifies the ID token with `alg`.
async fn login(
    server: &Server,
    alg: CoreJwsSigningAlgorithm,
    customize: impl FnOnce(CoreClientRegistrationRequest) -> CoreClientRegistrationRequest,
) -> Login {
    let http = http();
    let provider =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.issuer.clone()).unwrap(), &http)
            .await
            .expect("a discovery document a strict relying party accepts");
    let request = CoreClientRegistrationRequest::new(
        vec![RedirectUrl::new(REDIRECT.into()).unwrap()],
        EmptyAdditionalClientMetadata {},
    )
    .set_token_endpoint_auth_method(Some(CoreClientAuthMethod::ClientSecretBasic))
    .set_grant_types(Some(vec![CoreGrantType::AuthorizationCode]))
    .set_response_types(Some(vec![ResponseTypes::new(vec![CoreResponseType::Code])]));
    let registered = customize(request)
        .register_async(
            provider
                .registration_endpoint()
                .expect("registration_endpoint"),
            &http,
        )
        .await
        .expect("registration");
    let client = CoreClient::from_provider_metadata(
        provider,
        ClientId::new(registered.client_id().to_string()),
        Some(ClientSecret::new(
            registered.client_secret().unwrap().secret().clone(),
        )),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .set_max_age(Duration::from_secs(300))
        .url();
    let consent = http.get(url).send().await.unwrap();
    assert_eq!(consent.status(), 200);
    let page = consent.text().await.unwrap();
    let back = decide(server, &page, "approve").await;
    let code = query(&back, "code").expect("a code");

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token for scope openid");
    let claims = {
        let verifier = client.id_token_verifier().set_allowed_algs(vec![alg]);
        id_token
            .claims(&verifier, &nonce)
            .expect("an ID token that verifies")
            .clone()
    };
    Login {
        claims,
        access_token: tokens.access_token().clone(),
        client,
    }
}

/// OpenID Connect Core §3.1.3.7 and DCR §2: a client registered with
/// `id_token_signed_response_alg` ES256 (not the RS256 default) gets ID
/// tokens signed with ES256 by a published key, with its nonce, and
/// `auth_time` since it asked for `max_age` (Core §2).
#[tokio::test]
async fn core_3_1_3_7_openidconnect_verifies_an_es256_id_token() {
    let server = Server::start();
    let login = login(&server, CoreJwsSigningAlgorithm::EcdsaP256Sha256, |r| {
        r.set_id_token_signed_response_alg(Some(CoreJwsSigningAlgorithm::EcdsaP256Sha256))
    })
    .await;
    assert_eq!(login.claims.subject().as_str(), "demo-user");
    assert_eq!(login.claims.issuer().as_str(), server.issuer);
    assert!(
        login.claims.auth_time().is_some(),
        "max_age asks for auth_time"
    );

    // Userinfo (Core §5.3) as JSON: the claims of profile and email.
    let info: CoreUserInfoClaims = login
        .client
        .user_info(
            login.access_token.clone(),
            Some(login.claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http())
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), "demo-user");
    assert!(info.email().is_some());
    assert!(info.name().is_some());
}

/// The same with EdDSA, and RS256 by default: every algorithm discovery
/// lists signs an ID token openidconnect verifies.
#[tokio::test]
async fn core_3_1_3_7_every_listed_id_token_alg_verifies() {
    let server = Server::start();
    login(&server, CoreJwsSigningAlgorithm::EdDsa, |r| {
        r.set_id_token_signed_response_alg(Some(CoreJwsSigningAlgorithm::EdDsa))
    })
    .await;
    login(
        &server,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        |r| r,
    )
    .await;
}

/// Core §8.1: a pairwise client gets a `sub` of its own sector, not the
/// local identifier; the userinfo response, a JWT signed as registered
/// (`userinfo_signed_response_alg`, Core §5.3.2), carries the same `sub`.
#[tokio::test]
async fn core_8_1_pairwise_client_gets_a_sector_sub_and_signed_userinfo() {
    let server = Server::start();
    let pairwise = login(
        &server,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        |r| {
            r.set_subject_type(Some(CoreSubjectIdentifierType::Pairwise))
                .set_userinfo_signed_response_alg(Some(
                    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                ))
        },
    )
    .await;
    let sub = pairwise.claims.subject().clone();
    assert_ne!(sub.as_str(), "demo-user");
    let info: CoreUserInfoClaims = pairwise
        .client
        .user_info(pairwise.access_token.clone(), Some(sub.clone()))
        .unwrap()
        .require_signed_response(true)
        .request_async(&http())
        .await
        .expect("a signed userinfo response that verifies");
    assert_eq!(info.subject(), &sub);

    // A public client sees the local identifier. (Clients of one sector
    // share a sub: `core_8_1_clients_of_one_web_host_share_a_sub`.)
    let public = login(
        &server,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        |r| r,
    )
    .await;
    assert_eq!(public.claims.subject().as_str(), "demo-user");
}

/// Registers a confidential code client with extra metadata; returns its
/// registration.
async fn register_with(server: &Server, extra: Value) -> Value {
    let mut metadata = json!({
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code"],
    });
    metadata
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    register(server, metadata).await
}

/// Runs /authorize + consent + /token for a registered confidential client;
/// returns the token response.
async fn code_flow(server: &Server, client: &Value, extra: &[(&str, &str)]) -> Value {
    code_flow_to(server, client, REDIRECT, extra).await
}

/// [`code_flow`] with this redirect URI.
async fn code_flow_to(
    server: &Server,
    client: &Value,
    redirect: &str,
    extra: &[(&str, &str)],
) -> Value {
    let client_id = client["client_id"].as_str().unwrap();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("scope", "openid"),
    ];
    params.extend_from_slice(extra);
    let page = authorize(server, &params).await.text().await.unwrap();
    let back = decide(server, &page, "approve").await;
    let code = query(&back, "code").expect("a code");
    let response = http()
        .post(server.url("/token"))
        .basic_auth(client_id, client["client_secret"].as_str())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    json_of(response).await
}

/// The claims of a JWT, unverified (the tests above verify signatures).
fn claims_of(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The `sub` of the demo user in an ID token for `client`.
async fn sub_for(server: &Server, client: &Value, redirect: &str) -> String {
    let tokens = code_flow_to(server, client, redirect, &[]).await;
    claims_of(tokens["id_token"].as_str().expect("an ID token"))["sub"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Core §8.1: "pairwise: a different sub value to each Client, so as not to
/// enable Clients to correlate the End-User's activities without
/// permission". A loopback redirect URI names no sector (any program on the
/// machine can listen there): two native pairwise clients on 127.0.0.1,
/// one of them possibly an attacker's, get different subs; each keeps its
/// own from one login to the next.
#[tokio::test]
async fn core_8_1_pairwise_clients_on_loopback_do_not_share_a_sub() {
    let server = Server::start();
    let pairwise = json!({ "subject_type": "pairwise" });
    let first = register_with(&server, pairwise.clone()).await;
    let second = register_with(&server, pairwise).await;
    let sub = sub_for(&server, &first, REDIRECT).await;
    assert_ne!(sub, "demo-user");
    assert_eq!(sub_for(&server, &first, REDIRECT).await, sub, "stable");
    assert_ne!(sub_for(&server, &second, REDIRECT).await, sub);
}

/// Core §8.1: clients whose redirect URIs are on one web host are one
/// sector, and see the user under one `sub`.
#[tokio::test]
async fn core_8_1_clients_of_one_web_host_share_a_sub() {
    let server = Server::start();
    let redirect = "https://app.example.com/cb";
    let metadata = json!({ "subject_type": "pairwise", "redirect_uris": [redirect] });
    let first = register_with(&server, metadata.clone()).await;
    let second = register_with(&server, metadata).await;
    let sub = sub_for(&server, &first, redirect).await;
    assert_ne!(sub, "demo-user");
    assert_eq!(sub_for(&server, &second, redirect).await, sub);
}

/// Core §2 / DCR §2: `auth_time` is in the ID token when the client
/// registered `require_auth_time` or `default_max_age`, or asked `max_age`,
/// and not otherwise; `nonce` is repeated when sent.
#[tokio::test]
async fn core_2_auth_time_follows_require_auth_time_default_max_age_and_max_age() {
    let server = Server::start();
    let plain = register_with(&server, json!({})).await;
    let tokens = code_flow(&server, &plain, &[]).await;
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert!(claims.get("auth_time").is_none(), "{claims}");
    assert!(claims.get("nonce").is_none(), "{claims}");

    let tokens = code_flow(&server, &plain, &[("max_age", "60"), ("nonce", "n-1")]).await;
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert!(claims["auth_time"].is_u64(), "{claims}");
    assert_eq!(claims["nonce"], "n-1");

    for extra in [
        json!({"require_auth_time": true}),
        json!({"default_max_age": 3600}),
    ] {
        let client = register_with(&server, extra.clone()).await;
        let tokens = code_flow(&server, &client, &[]).await;
        let claims = claims_of(tokens["id_token"].as_str().unwrap());
        assert!(claims["auth_time"].is_u64(), "{extra}: {claims}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(claims["auth_time"].as_u64().unwrap() <= now);
    }
}

/// Without `openid` there is no ID token (Core §3.1.3.3 applies to OpenID
/// requests only), and userinfo refuses the token (`insufficient_scope`,
/// RFC 6750 §3.1).
#[tokio::test]
async fn core_5_3_no_openid_scope_no_id_token_and_no_userinfo() {
    let server = Server::start();
    let client = register_with(&server, json!({ "scope": "read" })).await;
    let client_id = client["client_id"].as_str().unwrap();
    let page = authorize(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "read"),
        ],
    )
    .await
    .text()
    .await
    .unwrap();
    let code = query(&decide(&server, &page, "approve").await, "code").unwrap();
    let response = http()
        .post(server.url("/token"))
        .basic_auth(client_id, client["client_secret"].as_str())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    let tokens = json_of(response).await;
    assert!(tokens.get("id_token").is_none(), "{tokens}");
    let userinfo = http()
        .get(server.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 403);
    let challenge = userinfo.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");

    // RFC 6750 §3.1: an unknown token is invalid_token with 401.
    let unknown = http()
        .get(server.url("/userinfo"))
        .bearer_auth("no-such-token")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
}

/// OpenID Connect Discovery §3: every REQUIRED member is present, the
/// defaults the server does not follow are spelled out, and members for
/// features it does not serve (request objects, encryption) are absent.
#[tokio::test]
async fn discovery_3_required_members_and_nothing_unserved() {
    let server = Server::start();
    let doc = json_of(
        http()
            .get(server.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    for member in [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
        "userinfo_endpoint",
        "registration_endpoint",
        "scopes_supported",
        "claims_supported",
    ] {
        assert!(doc.get(member).is_some(), "{member} missing: {doc}");
    }
    assert_eq!(doc["jwks_uri"], format!("{}/jwks", server.issuer));
    assert_eq!(doc["request_uri_parameter_supported"], false);
    assert_eq!(doc["request_parameter_supported"], false);
    assert_eq!(
        doc["subject_types_supported"],
        json!(["public", "pairwise"])
    );
    assert!(
        doc["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("openid"))
    );
    for member in doc.as_object().unwrap().keys() {
        assert!(
            !member.starts_with("request_object")
                && !member.contains("encryption")
                && member != "token_endpoint_auth_signing_alg_values_supported",
            "{member} is listed but not served"
        );
    }
    // Every listed ID-token algorithm has a published key.
    let jwks = json_of(http().get(server.url("/jwks")).send().await.unwrap()).await;
    for alg in doc["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap()
    {
        assert!(
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| &k["alg"] == alg),
            "no key for {alg}: {jwks}"
        );
    }
    // No private key material is published.
    for key in jwks["keys"].as_array().unwrap() {
        assert!(key.get("d").is_none() && key.get("p").is_none(), "{key}");
    }
}

/// Keys are created on first start next to the SQLite store and kept across
/// restarts; `admin rotate-keys` makes new ones sign while the old public
/// keys stay published, and the running server picks them up.
#[tokio::test]
async fn signing_keys_persist_and_rotate_keeping_old_public_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("dcr.db").display());
    let key_file = dir.path().join("dcr.db.keys.json");
    let kids = |jwks: &Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let jwks_of = |server: &Server| {
        let url = server.url("/jwks");
        async move { json_of(http().get(url).send().await.unwrap()).await }
    };

    let server = Server::start_with(&["--store", &store]);
    assert!(key_file.exists(), "the key file is next to the store");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key file is private: {mode:o}");
    }
    let first = kids(&jwks_of(&server).await);
    assert_eq!(first.len(), 3);
    let client = register_with(&server, json!({})).await;
    let before = code_flow(&server, &client, &[]).await;
    drop(server);

    // A restart keeps the keys.
    let server = Server::start_with(&["--store", &store]);
    assert_eq!(kids(&jwks_of(&server).await), first);

    let output = std::process::Command::new(server_binary())
        .args(["admin", "rotate-keys", "--store", &store])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");

    // Within the reload interval, the new keys are published next to the old.
    let mut published = Vec::new();
    for _ in 0..50 {
        published = kids(&jwks_of(&server).await);
        if published.len() == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(published.len(), 6, "{published:?}");
    assert!(first.iter().all(|k| published.contains(k)));
    let after = code_flow(&server, &client, &[]).await;
    let kid_of = |tokens: &Value| {
        use base64::Engine as _;
        let header = tokens["id_token"]
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap();
        let header: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header)
                .unwrap(),
        )
        .unwrap();
        header["kid"].as_str().unwrap().to_owned()
    };
    assert!(first.contains(&kid_of(&before)));
    assert!(
        !first.contains(&kid_of(&after)),
        "a retired key still signs"
    );
    assert!(published.contains(&kid_of(&after)));
}
