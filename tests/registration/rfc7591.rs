//! RFC 7591: the registration request, response and errors, one test per rule.

use crate::common;

use bytes::Bytes;
use common::*;
use http::{Method, Request, header};
use http_body_util::Full;
use serde_json::{Value, json};
use tower_dcr::{Profile, TokenEndpointAuthMethod};

fn raw_post(content_type: Option<&str>, body: &'static [u8]) -> Request<Full<Bytes>> {
    let mut b = Request::builder().method(Method::POST).uri("/register");
    if let Some(ct) = content_type {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    b.body(Full::new(Bytes::from_static(body))).unwrap()
}

// ---- §3.2.1 Client Information Response ----

/// RFC 7591 §3.2.1: 201 Created, application/json, Cache-Control: no-store,
/// Pragma: no-cache.
#[tokio::test]
async fn rfc7591_3_2_1_response_is_201_json_no_store() {
    let a = register(&open(), web_client()).await;
    assert_eq!(a.status, 201);
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(a.header("cache-control"), Some("no-store"));
    assert_eq!(a.header("pragma"), Some("no-cache"));
}

/// RFC 7591 §3.2.1: client_id is server-generated (≥128 bits), a client-sent one
/// is ignored; client_id_issued_at is integer seconds.
#[tokio::test]
async fn rfc7591_3_2_1_client_id_is_generated_and_issued_at_is_seconds() {
    let mut body = web_client();
    body["client_id"] = json!("i-choose-my-id");
    let a = registered(&open(), body).await;
    let id = a.str("client_id");
    assert_ne!(id, "i-choose-my-id");
    assert!(
        id.len() >= 22,
        "128 bits in base64url is 22 characters: {id}"
    );
    let issued = a.json["client_id_issued_at"].as_u64().expect("integer");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(issued <= now && issued + 60 > now);
    let b = registered(&open(), web_client()).await;
    assert_ne!(b.str("client_id"), id);
}

/// RFC 7591 §3.2.1: the response contains every registered metadata value,
/// including the defaults the server applied.
#[tokio::test]
async fn rfc7591_3_2_1_response_echoes_metadata_and_defaults() {
    let body = json!({
        "redirect_uris": ["https://client.example.org/cb", "https://client.example.org/cb2"],
        "client_name": "My Example",
        "client_uri": "https://client.example.org",
        "logo_uri": "https://client.example.org/logo.png",
        "tos_uri": "https://client.example.org/tos",
        "policy_uri": "https://client.example.org/policy",
        "scope": "read write",
        "contacts": ["ve7jtb@example.org", "mary@example.org"],
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
        "software_version": "2.1",
        "jwks_uri": "https://client.example.org/jwks.json",
    });
    let a = registered(&open(), body.clone()).await;
    for (k, v) in body.as_object().unwrap() {
        assert_eq!(&a.json[k], v, "member {k}");
    }
    assert_eq!(a.json["grant_types"], json!(["authorization_code"]));
    assert_eq!(a.json["response_types"], json!(["code"]));
    assert_eq!(a.json["token_endpoint_auth_method"], "client_secret_basic");
}

/// RFC 7591 §3.2.1: a confidential client gets a client_secret (256 bits,
/// base64url) and client_secret_expires_at (0 = never).
#[tokio::test]
async fn rfc7591_3_2_1_confidential_clients_get_a_secret() {
    let dcr = builder()
        .profile(Profile::default().token_endpoint_auth_methods(TokenEndpointAuthMethod::ALL))
        .client_assertions(tower_dcr::client_assertion::ClientAssertions::new())
        .build()
        .unwrap();
    for method in [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
    ] {
        let mut body = web_client();
        body["token_endpoint_auth_method"] = json!(method);
        let a = registered(&dcr, body).await;
        let secret = a.str("client_secret");
        // client_secret_jwt: an HMAC key long enough for HS512 (RFC 7518
        // §3.2), 512 bits.
        let (len, bits) = match method {
            "client_secret_jwt" => (86, 512),
            _ => (43, 256),
        };
        assert_eq!(secret.len(), len, "{method}: {bits} bits base64url");
        assert!(
            secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(a.json["client_secret_expires_at"], 0, "{method}");
    }
}

/// RFC 7591 §3.2.1: no secret for `none`, `private_key_jwt` or TLS methods.
#[tokio::test]
async fn rfc7591_3_2_1_public_and_key_clients_get_no_secret() {
    let dcr = builder()
        .profile(Profile::default().token_endpoint_auth_methods(TokenEndpointAuthMethod::ALL))
        .client_assertions(tower_dcr::client_assertion::ClientAssertions::new())
        .build()
        .unwrap();
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]});
    for method in [
        "none",
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
    ] {
        let mut body = web_client();
        body["token_endpoint_auth_method"] = json!(method);
        body["jwks"] = jwks.clone();
        if method == "tls_client_auth" {
            // RFC 8705 §2.1.2: exactly one certificate binding.
            body["tls_client_auth_subject_dn"] = json!("CN=client,O=Example");
        }
        let a = registered(&dcr, body).await;
        assert!(a.json.get("client_secret").is_none(), "{method}");
        assert!(a.json.get("client_secret_expires_at").is_none(), "{method}");
    }
}

/// RFC 7591 §3.1: a client-sent client_secret is never used.
#[tokio::test]
async fn rfc7591_3_1_client_sent_secret_is_ignored() {
    let mut body = web_client();
    body["client_secret"] = json!("my-own-secret");
    let a = registered(&open(), body).await;
    assert_ne!(a.str("client_secret"), "my-own-secret");
    assert_eq!(a.str("client_secret").len(), 43);
}

/// RFC 7591 §3.2.1: client_secret_expires_at follows the configured lifetime.
#[tokio::test]
async fn rfc7591_3_2_1_secret_lifetime_sets_expires_at() {
    let dcr = builder()
        .profile(Profile::default().client_secret_lifetime(std::time::Duration::from_secs(3600)))
        .build()
        .unwrap();
    let a = registered(&dcr, web_client()).await;
    let issued = a.json["client_id_issued_at"].as_u64().unwrap();
    assert_eq!(
        a.json["client_secret_expires_at"].as_u64().unwrap(),
        issued + 3600
    );
}

/// RFC 7591 §2: defaults are configurable (Auth0 defaults to client_secret_post).
#[tokio::test]
async fn rfc7591_2_default_auth_method_is_configurable() {
    let dcr = builder()
        .profile(
            Profile::default()
                .default_token_endpoint_auth_method(TokenEndpointAuthMethod::ClientSecretPost),
        )
        .build()
        .unwrap();
    let a = registered(&dcr, web_client()).await;
    assert_eq!(a.json["token_endpoint_auth_method"], "client_secret_post");
}

// ---- §2 metadata ----

/// RFC 7591 §2: the server ignores metadata it does not understand.
#[tokio::test]
async fn rfc7591_2_unknown_members_are_ignored() {
    let mut body = web_client();
    body["x_unknown"] = json!({"deep": [1, 2, 3]});
    body["redirect_uris#fr"] = json!(["https://x.example"]);
    let a = registered(&open(), body).await;
    assert!(a.json.get("x_unknown").is_none());
    assert!(a.json.get("redirect_uris#fr").is_none());
}

/// RFC 7591 §2: extension members the server is configured to accept are kept
/// and echoed.
#[tokio::test]
async fn rfc7591_2_configured_extension_members_are_kept() {
    let dcr = builder()
        .extension_members(["mcp_server_url"])
        .build()
        .unwrap();
    let mut body = web_client();
    body["mcp_server_url"] = json!({"url": "https://mcp.example", "n": [1, 2]});
    body["other"] = json!(1);
    let a = registered(&dcr, body).await;
    assert_eq!(
        a.json["mcp_server_url"],
        json!({"url": "https://mcp.example", "n": [1, 2]})
    );
    assert!(a.json.get("other").is_none());
}

/// RFC 7591 §2.2: language-tagged human-readable members are stored and echoed
/// exactly.
#[tokio::test]
async fn rfc7591_2_2_language_tagged_members_echo_exactly() {
    let mut body = web_client();
    body["client_name#fr"] = json!("Client d'exemple");
    body["client_name#ja-Jpan-JP"] = json!("クライアント名");
    body["tos_uri#de-CH"] = json!("https://client.example.org/agb");
    body["logo_uri#zh-Hant"] = json!("https://client.example.org/logo-zh.png");
    let a = registered(&open(), body.clone()).await;
    for key in [
        "client_name#fr",
        "client_name#ja-Jpan-JP",
        "tos_uri#de-CH",
        "logo_uri#zh-Hant",
    ] {
        assert_eq!(a.json[key], body[key], "{key}");
    }
}

/// RFC 7591 §2.2: language tags must be BCP 47 tags.
#[tokio::test]
async fn rfc7591_2_2_invalid_language_tag_is_rejected() {
    for key in [
        "client_name#",
        "client_name#not_a_tag",
        "client_name#en--US",
        "policy_uri#123456789",
    ] {
        let mut body = web_client();
        body[key] = json!("x");
        let a = register(&open(), body).await;
        a.assert_error(400, "invalid_client_metadata");
        assert!(
            a.description().contains("BCP 47"),
            "{key}: {}",
            a.description()
        );
    }
}

/// RFC 7591 §2.2: a language-tagged URL follows the same rules as the plain one.
#[tokio::test]
async fn rfc7591_2_2_language_tagged_urls_are_validated() {
    let mut body = web_client();
    body["tos_uri#fr"] = json!("javascript:alert(1)");
    let a = register(&open(), body).await;
    a.assert_error(400, "invalid_client_metadata");
    assert!(a.description().starts_with("tos_uri#fr"));
}

/// RFC 7591 §2: redirect_uris are kept as the exact string sent (no
/// normalization).
#[tokio::test]
async fn rfc7591_2_redirect_uris_are_kept_exactly() {
    let uris = json!([
        "HTTPS://Client.Example.org:443/a/../cb?x=1&y=%41",
        "https://client.example.org/cb/"
    ]);
    let a = registered(&open(), json!({"redirect_uris": uris})).await;
    assert_eq!(a.json["redirect_uris"], uris);
}

/// RFC 7591 §2: redirect_uris are required for redirect-based grants.
#[tokio::test]
async fn rfc7591_2_redirect_uris_required_for_authorization_code() {
    let a = register(&open(), json!({"client_name": "no redirect"})).await;
    a.assert_error(400, "invalid_redirect_uri");
    let a = register(&open(), json!({"redirect_uris": []})).await;
    a.assert_error(400, "invalid_redirect_uri");
}

/// RFC 7591 §2: a client that uses no redirect-based grant needs no
/// redirect_uris.
#[tokio::test]
async fn rfc7591_2_client_credentials_needs_no_redirect_uri() {
    let a = registered(&open(), json!({"grant_types": ["client_credentials"]})).await;
    assert_eq!(a.json["grant_types"], json!(["client_credentials"]));
    assert_eq!(a.json["response_types"], json!([]));
}

/// RFC 6749 §3.1.2 (RFC 7591 §2 redirect_uris): absolute URIs only.
#[tokio::test]
async fn rfc7591_2_redirect_uri_must_be_absolute() {
    for uri in [
        "/callback",
        "client.example.org/cb",
        "",
        "https://",
        "https:cb",
    ] {
        let a = register(&open(), json!({"redirect_uris": [uri]})).await;
        a.assert_error(400, "invalid_redirect_uri");
    }
}

/// RFC 6749 §3.1.2: a redirect URI must not include a fragment.
#[tokio::test]
async fn rfc7591_2_redirect_uri_without_fragment() {
    for uri in [
        "https://client.example.org/cb#frag",
        "https://client.example.org/cb#",
    ] {
        let a = register(&open(), json!({"redirect_uris": [uri]})).await;
        a.assert_error(400, "invalid_redirect_uri");
        assert!(a.description().contains("fragment"));
    }
}

/// RFC 7591 §5 (security): schemes that run code or read local data are never
/// redirect URIs.
#[tokio::test]
async fn rfc7591_5_dangerous_redirect_schemes_are_rejected() {
    for uri in [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "file:///etc/passwd",
        "blob:https://client.example.org/uuid",
        "about:blank",
    ] {
        for app in ["web", "native"] {
            let a = register(
                &open(),
                json!({"redirect_uris": [uri], "application_type": app}),
            )
            .await;
            a.assert_error(400, "invalid_redirect_uri");
        }
    }
}

/// A redirect URI with whitespace or control characters is not the URI the
/// client will use: rejected rather than silently cleaned.
#[tokio::test]
async fn rfc7591_2_redirect_uri_with_whitespace_is_rejected() {
    for uri in [
        " https://client.example.org/cb",
        "https://client.example.org/c b",
        "https://client.example.org/cb\n",
    ] {
        let a = register(&open(), json!({"redirect_uris": [uri]})).await;
        a.assert_error(400, "invalid_redirect_uri");
    }
}

/// RFC 7591 §2.1: grant_types and response_types must be consistent.
#[tokio::test]
async fn rfc7591_2_1_inconsistent_grant_and_response_types_are_rejected() {
    let dcr = builder()
        .profile(
            Profile::default()
                .grant_types([
                    tower_dcr::GrantType::AuthorizationCode,
                    tower_dcr::GrantType::Implicit,
                    tower_dcr::GrantType::ClientCredentials,
                ])
                .response_types([
                    tower_dcr::ResponseType::Code,
                    tower_dcr::ResponseType::Token,
                    tower_dcr::ResponseType::CodeIdToken,
                ]),
        )
        .build()
        .unwrap();
    let cases = [
        (json!(["authorization_code"]), json!(["token"])),
        (json!(["implicit"]), json!(["code"])),
        (json!(["client_credentials"]), json!(["code"])),
        (json!(["authorization_code"]), json!(["code id_token"])),
        (json!(["implicit"]), json!([])),
    ];
    for (grants, responses) in cases {
        let a = register(
            &dcr,
            json!({"redirect_uris": ["https://c.example/cb"], "grant_types": grants, "response_types": responses}),
        )
        .await;
        a.assert_error(400, "invalid_client_metadata");
        assert!(
            a.description().contains("RFC 7591 §2.1"),
            "{}",
            a.description()
        );
    }
    let ok = register(
        &dcr,
        json!({"redirect_uris": ["https://c.example/cb"], "grant_types": ["authorization_code", "implicit"], "response_types": ["id_token code"]}),
    )
    .await;
    assert_eq!(ok.status, 201, "{:?}", ok.json);
    assert_eq!(ok.json["response_types"], json!(["id_token code"]));
}

/// RFC 7591 §2.1: when only response_types is sent, grant_types follow from it.
#[tokio::test]
async fn rfc7591_2_1_grant_types_follow_response_types() {
    let a = registered(
        &open(),
        json!({"redirect_uris": ["https://c.example/cb"], "response_types": ["code"]}),
    )
    .await;
    assert_eq!(a.json["grant_types"], json!(["authorization_code"]));
}

/// RFC 7591 §2: only supported grant types, response types and auth methods.
#[tokio::test]
async fn rfc7591_2_unsupported_values_are_rejected() {
    let cases = [
        ("grant_types", json!(["password"])),
        ("grant_types", json!(["urn:example:custom"])),
        ("response_types", json!(["token"])),
        ("token_endpoint_auth_method", json!("private_key_jwt")),
        ("token_endpoint_auth_method", json!("made_up")),
    ];
    for (field, value) in cases {
        let mut body = web_client();
        body[field] = value;
        let a = register(&open(), body).await;
        a.assert_error(400, "invalid_client_metadata");
        assert!(a.description().starts_with(field), "{}", a.description());
    }
}

/// RFC 7591 §2: jwks and jwks_uri must not both be present.
#[tokio::test]
async fn rfc7591_2_jwks_and_jwks_uri_are_exclusive() {
    let mut body = web_client();
    body["jwks_uri"] = json!("https://client.example.org/jwks");
    body["jwks"] = json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]});
    register(&open(), body)
        .await
        .assert_error(400, "invalid_client_metadata");
}

/// RFC 7591 §2: jwks is a JWK Set of public keys: no private members, no
/// symmetric keys.
#[tokio::test]
async fn rfc7591_2_jwks_must_hold_public_keys_only() {
    let bad = [
        json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "private"}]}),
        json!({"keys": [{"kty": "RSA", "n": "a", "e": "AQAB", "p": "x"}]}),
        json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "a", "d": "b"}]}),
        json!({"keys": []}),
        json!({"keys": ["not an object"]}),
        json!({"keys": [{"no": "kty"}]}),
        json!({"not_keys": []}),
        json!([1, 2]),
    ];
    for jwks in bad {
        let mut body = web_client();
        body["jwks"] = jwks.clone();
        let a = register(&open(), body).await;
        a.assert_error(400, "invalid_client_metadata");
        assert!(
            a.description().starts_with("jwks"),
            "{jwks}: {}",
            a.description()
        );
    }
}

/// OIDC Core §9 / RFC 7591 §2: private_key_jwt needs jwks or jwks_uri.
#[tokio::test]
async fn rfc7591_2_private_key_jwt_needs_keys() {
    let dcr = builder()
        .profile(
            Profile::default()
                .token_endpoint_auth_methods([TokenEndpointAuthMethod::PrivateKeyJwt])
                .default_token_endpoint_auth_method(TokenEndpointAuthMethod::PrivateKeyJwt),
        )
        .client_assertions(tower_dcr::client_assertion::ClientAssertions::new())
        .build()
        .unwrap();
    register(&dcr, web_client())
        .await
        .assert_error(400, "invalid_client_metadata");
    let mut body = web_client();
    body["jwks_uri"] = json!("https://client.example.org/jwks");
    registered(&dcr, body).await;
}

/// RFC 7591 §2: client_uri, logo_uri, tos_uri, policy_uri and jwks_uri are
/// http(s) URLs.
#[tokio::test]
async fn rfc7591_2_url_members_are_http_urls() {
    for field in [
        "client_uri",
        "logo_uri",
        "tos_uri",
        "policy_uri",
        "jwks_uri",
    ] {
        for value in [
            "javascript:alert(1)",
            "ftp://client.example.org/x",
            "not a url",
            "data:image/png;base64,AAAA",
            "https://user:pw@client.example.org/",
        ] {
            let mut body = web_client();
            body[field] = json!(value);
            let a = register(&open(), body).await;
            a.assert_error(400, "invalid_client_metadata");
            assert!(
                a.description().starts_with(field),
                "{field}={value}: {}",
                a.description()
            );
        }
        let mut body = web_client();
        body[field] = json!("http://client.example.org/page");
        if field == "jwks_uri" {
            // Keys over plain http could be replaced on the way.
            register(&open(), body)
                .await
                .assert_error(400, "invalid_client_metadata");
        } else {
            registered(&open(), body).await;
        }
    }
}

/// RFC 7591 §2: contacts are e-mail addresses.
#[tokio::test]
async fn rfc7591_2_contacts_are_email_addresses() {
    for contact in [
        "not-an-email",
        "a@",
        "@b.example",
        "Name <a@b.example>",
        "a b@c.example",
    ] {
        let mut body = web_client();
        body["contacts"] = json!([contact]);
        let a = register(&open(), body).await;
        a.assert_error(400, "invalid_client_metadata");
        assert!(a.description().starts_with("contacts"));
    }
}

/// RFC 7591 §2 / RFC 6749 §3.3: scope is space-separated scope tokens.
#[tokio::test]
async fn rfc7591_2_scope_is_scope_tokens() {
    for scope in ["a  b", " a", "a\"b", "a\\b", "é"] {
        let mut body = web_client();
        body["scope"] = json!(scope);
        register(&open(), body)
            .await
            .assert_error(400, "invalid_client_metadata");
    }
}

/// RFC 7591 §2: member types are exact: strings, arrays of non-empty strings,
/// booleans, non-negative integers.
#[tokio::test]
async fn rfc7591_2_member_types_are_exact() {
    let cases = [
        ("client_name", json!(42)),
        ("client_name", json!(["a"])),
        ("contacts", json!("a@b.example")),
        ("contacts", json!(["a@b.example", 3])),
        ("grant_types", json!("authorization_code")),
        ("grant_types", json!([""])),
        ("scope", json!(["read"])),
        ("require_auth_time", json!("true")),
        ("default_max_age", json!(-5)),
        ("default_max_age", json!(1.5)),
        ("default_max_age", json!("60")),
        ("jwks", json!("{}")),
        ("token_endpoint_auth_method", json!(true)),
        ("application_type", json!("desktop")),
        ("subject_type", json!("secret")),
    ];
    for (field, value) in cases {
        let mut body = web_client();
        body[field] = value.clone();
        let a = register(&open(), body).await;
        a.assert_error(400, "invalid_client_metadata");
        assert!(
            a.description().starts_with(field),
            "{field}={value}: {}",
            a.description()
        );
    }
    let mut body = web_client();
    body["redirect_uris"] = json!("https://c.example/cb");
    register(&open(), body)
        .await
        .assert_error(400, "invalid_redirect_uri");
}

/// RFC 7591 §3.2.2: a body that is not a JSON object is invalid_client_metadata.
#[tokio::test]
async fn rfc7591_3_2_2_body_must_be_a_json_object() {
    for body in [
        &b"[]"[..],
        b"\"x\"",
        b"null",
        b"{",
        b"",
        b"{\"a\":1}{}",
        b"\xff\xfe",
    ] {
        let body: &'static [u8] = Box::leak(body.to_vec().into_boxed_slice());
        let a = send(&open(), raw_post(Some("application/json"), body)).await;
        a.assert_error(400, "invalid_client_metadata");
    }
}

/// RFC 7591 §3.1: the request is application/json; anything else is 415.
#[tokio::test]
async fn rfc7591_3_1_content_type_must_be_json() {
    let body = br#"{"redirect_uris":["https://c.example/cb"]}"#;
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
    ] {
        let a = send(&open(), raw_post(ct, body)).await;
        assert_eq!(a.status, 415, "{ct:?}");
        assert_eq!(a.header("content-type"), Some("application/json"));
    }
    for ct in ["application/json; charset=utf-8", "Application/JSON"] {
        let a = send(&open(), raw_post(Some(ct), body)).await;
        assert_eq!(a.status, 201, "{ct}");
    }
}

/// RFC 7591 §3 (POST to the registration endpoint) with RFC 9110 §15.5.6: another
/// method is `405` with `Allow: POST`.
#[tokio::test]
async fn rfc7591_3_registration_endpoint_allows_post_only() {
    let dcr = open();
    for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
        let body: Option<Value> = (method == Method::PUT).then(web_client);
        let answer = send(
            &dcr,
            request(method.clone(), "/register", None, body.as_ref()),
        )
        .await;
        answer.assert_error(405, "invalid_request");
        assert_eq!(answer.header("allow"), Some("POST"), "{method}");
    }
}
