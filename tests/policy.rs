//! Registration policy: open or protected registration (RFC 7591 §3), initial
//! access tokens, profiles, the built-in rules and the host's hook.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Method, Request, header};
use http_body_util::Full;
use serde_json::json;
use tower_dcr::events::Operation;
use tower_dcr::policy::RequestContext;
use tower_dcr::{
    ClientMetadata, ConfigError, ErrorCode, MemoryStore, Profile, Registration, RegistrationError,
    TokenEndpointAuthMethod, UnknownScope,
};
use tower_dcr::{InitialAccessTokenOptions, MintError};

fn protected_with_store() -> Registration {
    Registration::builder(ISSUER)
        .access(tower_dcr::Access::Protected {
            static_tokens: vec![],
        })
        .named_profile(
            "partner",
            Profile::default().scopes(["read", "write", "admin"]),
        )
        .store(MemoryStore::new())
        .build()
        .unwrap()
}

/// RFC 7591 §3: the operator must choose open or protected registration; the
/// builder refuses to guess.
#[test]
fn rfc7591_3_open_or_protected_must_be_chosen() {
    let e = Registration::builder(ISSUER).build().unwrap_err();
    assert_eq!(e, ConfigError::AccessNotChosen);
    assert!(Registration::builder(ISSUER).open().build().is_ok());
    assert!(
        Registration::builder(ISSUER)
            .access(tower_dcr::Access::protected(["t"]))
            .build()
            .is_ok()
    );
}

/// A static token bound to a profile that does not exist is a configuration
/// error, not a runtime surprise.
#[test]
fn static_token_profiles_must_exist() {
    let e = Registration::builder(ISSUER)
        .access(tower_dcr::Access::protected([tower_dcr::StaticToken::new(
            "t",
        )
        .profile("missing")]))
        .build()
        .unwrap_err();
    assert_eq!(e, ConfigError::UnknownProfile("missing".into()));
}

/// A static token that could never be sent as a Bearer token (RFC 6750 §2.1) is
/// a configuration error, reported without the token itself; token ids say
/// nothing about the tokens.
#[test]
fn static_tokens_must_be_bearer_tokens() {
    for bad in ["", "has space", "semi;colon", "naïve"] {
        let e = Registration::builder(ISSUER)
            .access(tower_dcr::Access::protected(["fine-token", bad]))
            .build()
            .unwrap_err();
        assert_eq!(
            e,
            ConfigError::InvalidInitialAccessToken("static-1".into()),
            "{bad:?}"
        );
        assert!(bad.is_empty() || !e.to_string().contains(bad));
    }
}

/// RFC 7591 §3 with RFC 6750 §3.1: protected registration without a token → 401
/// with `WWW-Authenticate: Bearer`.
#[tokio::test]
async fn rfc7591_3_protected_registration_needs_a_token() {
    let dcr = Registration::builder(ISSUER)
        .access(tower_dcr::Access::protected(["s3cr3t-token"]))
        .build()
        .unwrap();
    let a = register(&dcr, web_client()).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.header("www-authenticate"), Some("Bearer"));
    let a = register_with(&dcr, "wrong-token", web_client()).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(a.error(), "invalid_token");
    let a = register_with(&dcr, "s3cr3t-token", web_client()).await;
    assert_eq!(a.status, 201, "{:?}", a.json);
}

/// RFC 6750 §2.1: a Basic header is not a bearer token; a malformed bearer
/// credential is 400 invalid_request.
#[tokio::test]
async fn rfc6750_2_1_token_must_be_a_bearer_b64token() {
    let dcr = Registration::builder(ISSUER)
        .access(tower_dcr::Access::protected(["tok"]))
        .build()
        .unwrap();
    let basic = Request::builder()
        .method(Method::POST)
        .uri("/register")
        .header(header::AUTHORIZATION, "Basic dG9rOg==")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(web_client().to_string())))
        .unwrap();
    assert_eq!(send(&dcr, basic).await.status, 401);
    let malformed = Request::builder()
        .method(Method::POST)
        .uri("/register")
        .header(header::AUTHORIZATION, "Bearer a b")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(web_client().to_string())))
        .unwrap();
    let a = send(&dcr, malformed).await;
    a.assert_error(400, "invalid_request");
}

/// Stored tokens: minted with a profile, expiry and use count; held only as
/// digests.
#[tokio::test]
async fn stored_tokens_register_under_their_profile() {
    let dcr = protected_with_store();
    let (token, record) = dcr
        .mint_initial_access_token(InitialAccessTokenOptions {
            profile: Some("partner".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!format!("{record:?}").contains(token.secret()));
    let mut body = web_client();
    body["scope"] = json!("admin");
    let a = register_with(&dcr, token.secret(), body.clone()).await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    let stored = dcr.client(a.str("client_id")).await.unwrap().unwrap();
    assert_eq!(stored.profile.as_deref(), Some("partner"));
    assert_eq!(
        stored.initial_access_token_id.as_deref(),
        Some(record.id.as_str())
    );
    // The scope allow-list of the profile is enforced.
    body["scope"] = json!("root");
    register_with(&dcr, token.secret(), body)
        .await
        .assert_error(400, "invalid_client_metadata");
}

/// Minting for an unknown profile, or on a store without the capability, fails.
#[tokio::test]
async fn minting_checks_profile_and_capability() {
    let dcr = protected_with_store();
    let e = dcr
        .mint_initial_access_token(InitialAccessTokenOptions {
            profile: Some("nope".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, MintError::UnknownProfile(_)));
}

/// Expired, used-up and revoked tokens → 401 invalid_token.
#[tokio::test]
async fn expired_used_up_and_revoked_tokens_are_refused() {
    let dcr = protected_with_store();
    let (expired, _) = dcr
        .mint_initial_access_token(InitialAccessTokenOptions {
            expires_in: Some(Duration::ZERO),
            ..Default::default()
        })
        .await
        .unwrap();
    let a = register_with(&dcr, expired.secret(), web_client()).await;
    assert_eq!((a.status.as_u16(), a.error()), (401, "invalid_token"));

    let (once, _) = dcr
        .mint_initial_access_token(InitialAccessTokenOptions {
            max_uses: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        register_with(&dcr, once.secret(), web_client())
            .await
            .status,
        201
    );
    let a = register_with(&dcr, once.secret(), web_client()).await;
    assert_eq!((a.status.as_u16(), a.error()), (401, "invalid_token"));

    let (revoked, record) = dcr
        .mint_initial_access_token(Default::default())
        .await
        .unwrap();
    assert!(
        dcr.store()
            .initial_access_tokens()
            .unwrap()
            .revoke_initial_access_token(&record.id)
            .await
            .unwrap()
    );
    let a = register_with(&dcr, revoked.secret(), web_client()).await;
    assert_eq!((a.status.as_u16(), a.error()), (401, "invalid_token"));
}

/// A registration refused by validation does not use up a one-use token.
#[tokio::test]
async fn invalid_metadata_does_not_consume_a_token() {
    let dcr = protected_with_store();
    let (once, _) = dcr
        .mint_initial_access_token(InitialAccessTokenOptions {
            max_uses: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    let a = register_with(
        &dcr,
        once.secret(),
        json!({"redirect_uris": ["javascript:x"]}),
    )
    .await;
    a.assert_error(400, "invalid_redirect_uri");
    assert_eq!(
        register_with(&dcr, once.secret(), web_client())
            .await
            .status,
        201
    );
}

/// Two concurrent registrations with a one-use token: exactly one 201.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_use_token_race_has_exactly_one_winner() {
    for _ in 0..20 {
        let dcr = protected_with_store();
        let (once, _) = dcr
            .mint_initial_access_token(InitialAccessTokenOptions {
                max_uses: Some(1),
                ..Default::default()
            })
            .await
            .unwrap();
        let token = once.secret().to_owned();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (dcr, token) = (dcr.clone(), token.clone());
                tokio::spawn(async move {
                    register_with(&dcr, &token, web_client())
                        .await
                        .status
                        .as_u16()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 201 || *s == 401),
            "{statuses:?}"
        );
    }
}

/// node-oidc-provider's model: a client's updates are checked against the
/// profile it registered under, not the default one.
#[tokio::test]
async fn updates_are_checked_against_the_registration_profile() {
    let dcr = Registration::builder(ISSUER)
        .access(tower_dcr::Access::Protected {
            static_tokens: vec![
                "anon".into(),
                tower_dcr::StaticToken::new("partner-token").profile("partner"),
            ],
        })
        .profile(Profile::default().scopes(["read"]))
        .named_profile("partner", Profile::default().scopes(["read", "write"]))
        .build()
        .unwrap();
    let mut body = web_client();
    body["scope"] = json!("write");
    register_with(&dcr, "anon", body.clone())
        .await
        .assert_error(400, "invalid_client_metadata");
    let a = register_with(&dcr, "partner-token", body.clone()).await;
    assert_eq!(a.status, 201);
    let path = client_path(&a);
    body["client_id"] = a.json["client_id"].clone();
    body["scope"] = json!("read write");
    let u = update(
        &dcr,
        &path,
        a.str("registration_access_token"),
        body.clone(),
    )
    .await;
    assert_eq!(u.status, 200, "{:?}", u.json);
    body["scope"] = json!("read admin");
    update(&dcr, &path, u.str("registration_access_token"), body)
        .await
        .assert_error(400, "invalid_client_metadata");
}

/// The Auth0 third-party preset: code + refresh_token only, PKCE required,
/// client_secret_post by default, public clients allowed.
#[tokio::test]
async fn auth0_third_party_preset() {
    let profile = Profile::auth0_third_party();
    assert!(profile.pkce_required());
    let dcr = builder().profile(profile).build().unwrap();
    let a = registered(&dcr, web_client()).await;
    assert_eq!(a.json["token_endpoint_auth_method"], "client_secret_post");
    let mut body = web_client();
    body["token_endpoint_auth_method"] = json!("none");
    body["grant_types"] = json!(["authorization_code", "refresh_token"]);
    let a = registered(&dcr, body).await;
    assert!(a.json.get("client_secret").is_none());
    let mut body = web_client();
    body["grant_types"] = json!(["client_credentials"]);
    register(&dcr, body)
        .await
        .assert_error(400, "invalid_client_metadata");
    let d = dcr.discovery_metadata();
    assert_eq!(
        d["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
}

/// Public clients can be switched off by leaving `none` out of the methods.
#[tokio::test]
async fn public_clients_can_be_disallowed() {
    let dcr = builder()
        .profile(
            Profile::default()
                .token_endpoint_auth_methods([TokenEndpointAuthMethod::ClientSecretBasic]),
        )
        .build()
        .unwrap();
    let mut body = web_client();
    body["token_endpoint_auth_method"] = json!("none");
    register(&dcr, body)
        .await
        .assert_error(400, "invalid_client_metadata");
}

/// RFC 7591 §2: the server may narrow the requested scope; the operator chooses
/// between refusing and narrowing, and sets the default scope.
#[tokio::test]
async fn scope_allow_list_rejects_or_narrows() {
    let narrowing = builder()
        .profile(
            Profile::default()
                .scopes(["read", "write"])
                .unknown_scope(UnknownScope::Narrow)
                .default_scope("read"),
        )
        .build()
        .unwrap();
    let mut body = web_client();
    body["scope"] = json!("read admin write");
    let a = registered(&narrowing, body.clone()).await;
    assert_eq!(a.json["scope"], "read write");
    body["scope"] = json!("admin");
    assert_eq!(registered(&narrowing, body).await.json["scope"], "read");
    assert_eq!(
        registered(&narrowing, web_client()).await.json["scope"],
        "read"
    );
    assert_eq!(
        narrowing.discovery_metadata()["scopes_supported"],
        json!(["read", "write"])
    );
}

/// Redirect host allow and deny lists.
#[tokio::test]
async fn redirect_hosts_allow_and_deny() {
    let dcr = builder()
        .profile(
            Profile::default()
                .allowed_redirect_hosts([
                    "*.partner.example",
                    "app.example",
                    "localhost",
                    "127.0.0.1",
                ])
                .denied_redirect_hosts(["evil.partner.example"]),
        )
        .build()
        .unwrap();
    for ok in [
        "https://a.partner.example/cb",
        "https://app.example/cb",
        "http://localhost:1234/cb",
    ] {
        registered(&dcr, json!({"redirect_uris": [ok]})).await;
    }
    for bad in [
        "https://partner.example/cb",
        "https://evil.partner.example/cb",
        "https://evil.partner.example./cb",
        "https://xpartner.example/cb",
        "https://app.example.org/cb",
    ] {
        let a = register(&dcr, json!({"redirect_uris": [bad]})).await;
        a.assert_error(400, "invalid_redirect_uri");
    }
}

/// Forced values override the client; defaults fill in what it left out.
#[tokio::test]
async fn forced_values_and_defaults() {
    let dcr = builder()
        .profile(
            Profile::default()
                .force_value("token_endpoint_auth_method", "client_secret_post")
                .default_value("client_name", "Unnamed client"),
        )
        .build()
        .unwrap();
    let mut body =
        json!({"redirect_uris": ["https://c.example/cb"], "token_endpoint_auth_method": "none"});
    let a = registered(&dcr, body.clone()).await;
    assert_eq!(a.json["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(a.json["client_name"], "Unnamed client");
    body["client_name"] = json!("Mine");
    assert_eq!(registered(&dcr, body).await.json["client_name"], "Mine");
}

/// The maximum number of redirect URIs is a policy setting.
#[tokio::test]
async fn max_redirect_uris() {
    let dcr = builder()
        .profile(Profile::default().max_redirect_uris(2))
        .build()
        .unwrap();
    registered(
        &dcr,
        json!({"redirect_uris": ["https://c.example/1", "https://c.example/2"]}),
    )
    .await;
    register(&dcr, json!({"redirect_uris": ["https://c.example/1", "https://c.example/2", "https://c.example/3"]}))
        .await
        .assert_error(400, "invalid_redirect_uri");
}

/// The hook sees the request context (never the token) and may rewrite the
/// metadata; the rewrite is validated again.
#[tokio::test]
async fn hook_rewrites_with_context() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<RequestContext>::new()));
    let log = Arc::clone(&seen);
    let dcr = Registration::builder(ISSUER)
        .access(tower_dcr::Access::protected([tower_dcr::StaticToken::new(
            "partner-token",
        )
        .profile("partner")]))
        .named_profile("partner", Profile::default())
        .hook(
            move |context: RequestContext, mut metadata: ClientMetadata| {
                let log = Arc::clone(&log);
                async move {
                    log.lock().unwrap().push(context);
                    metadata.client_name = tower_dcr::Localized::new("Reviewed");
                    Ok(metadata)
                }
            },
        )
        .build()
        .unwrap();
    let mut request = common::request(
        Method::POST,
        "/register",
        Some("partner-token"),
        Some(&web_client()),
    );
    request
        .extensions_mut()
        .insert("203.0.113.9:4444".parse::<SocketAddr>().unwrap());
    request
        .headers_mut()
        .insert("user-agent", "agent/1.0".parse().unwrap());
    let a = send(&dcr, request).await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    assert_eq!(a.json["client_name"], "Reviewed");
    let context = seen.lock().unwrap()[0].clone();
    assert_eq!(context.operation, Operation::Register);
    assert_eq!(context.profile.as_deref(), Some("partner"));
    assert!(context.initial_access_token_id.is_some());
    assert_eq!(context.peer_addr, Some("203.0.113.9:4444".parse().unwrap()));
    assert_eq!(context.headers["user-agent"], "agent/1.0");
    assert!(context.headers.get("authorization").is_none());
    assert!(!format!("{context:?}").contains("partner-token"));

    // The hook runs on update too.
    let mut body = web_client();
    body["client_id"] = a.json["client_id"].clone();
    let u = update(
        &dcr,
        &client_path(&a),
        a.str("registration_access_token"),
        body,
    )
    .await;
    assert_eq!(u.status, 200);
    assert_eq!(u.json["client_name"], "Reviewed");
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.operation, Operation::Update);
    assert_eq!(last.client_id.as_deref(), a.json["client_id"].as_str());
    assert_eq!(last.profile.as_deref(), Some("partner"));
}

/// The hook may reject with any RFC 7591 error code, and a rewrite that breaks
/// the rules is refused.
#[tokio::test]
async fn hook_rejects_and_rewrites_are_revalidated() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let dcr = builder()
        .hook(move |_: RequestContext, mut metadata: ClientMetadata| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if metadata.software_id.as_deref() == Some("banned") {
                    return Err(RegistrationError::new(
                        ErrorCode::UnapprovedSoftwareStatement,
                        "software banned",
                    ));
                }
                if metadata.software_id.as_deref() == Some("sneaky") {
                    metadata.redirect_uris = Some(vec!["javascript:alert(1)".into()]);
                }
                Ok(metadata)
            }
        })
        .build()
        .unwrap();
    let mut body = web_client();
    body["software_id"] = json!("banned");
    let a = register(&dcr, body.clone()).await;
    a.assert_error(400, "unapproved_software_statement");
    assert_eq!(a.description(), "software banned");
    body["software_id"] = json!("sneaky");
    register(&dcr, body)
        .await
        .assert_error(400, "invalid_redirect_uri");
    // Requests that fail the built-in rules never reach the hook.
    let before = calls.load(Ordering::SeqCst);
    register(&dcr, json!({"redirect_uris": ["data:x"]}))
        .await
        .assert_error(400, "invalid_redirect_uri");
    assert_eq!(calls.load(Ordering::SeqCst), before);
}
