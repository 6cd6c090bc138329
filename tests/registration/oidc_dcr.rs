//! OpenID Connect Dynamic Client Registration 1.0: the rules it adds to RFC 7591.

use crate::common;

use common::*;
use serde_json::json;
use tower_dcr::{GrantType, Profile, ResponseType, SubjectType, TokenEndpointAuthMethod};

fn oidc_profile() -> Profile {
    Profile::default()
        .grant_types([
            GrantType::AuthorizationCode,
            GrantType::Implicit,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ])
        .response_types([
            ResponseType::Code,
            ResponseType::IdToken,
            ResponseType::IdTokenToken,
            ResponseType::CodeIdToken,
        ])
        .subject_types([SubjectType::Public, SubjectType::Pairwise])
        .token_endpoint_auth_methods(TokenEndpointAuthMethod::ALL)
        .id_token_signing_alg_values(["RS256", "ES256", "none"])
        .id_token_encryption_values(["RSA-OAEP"], ["A128CBC-HS256", "A256GCM"])
        .userinfo_encryption_values(["RSA-OAEP"], ["A128CBC-HS256"])
        .request_object_encryption_values(["RSA-OAEP"], ["A128CBC-HS256"])
        .token_endpoint_auth_signing_alg_values(["RS256", "ES256", "HS256"])
}

fn oidc() -> tower_dcr::Registration {
    builder()
        .profile(oidc_profile())
        .client_assertions(tower_dcr::client_assertion::ClientAssertions::new())
        .build()
        .unwrap()
}

/// OIDC DCR §2: application_type defaults to `web` and is echoed.
#[tokio::test]
async fn oidc_2_application_type_defaults_to_web() {
    let a = registered(&open(), web_client()).await;
    assert_eq!(a.json["application_type"], "web");
}

/// OIDC DCR §2: web clients use https redirect URIs.
#[tokio::test]
async fn oidc_2_web_clients_use_https() {
    for uri in ["http://client.example.org/cb", "com.example.app:/cb"] {
        let a = register(&open(), json!({"redirect_uris": [uri]})).await;
        a.assert_error(400, "invalid_redirect_uri");
    }
}

/// OIDC DCR §2 with RFC 8252 §7.3: http on a loopback host is allowed for web
/// clients by default, and can be forbidden by policy.
#[tokio::test]
async fn oidc_2_web_http_loopback_follows_policy() {
    for uri in [
        "http://localhost:3000/cb",
        "http://127.0.0.1/cb",
        "http://[::1]:8080/cb",
    ] {
        registered(&open(), json!({"redirect_uris": [uri]})).await;
        let strict = builder()
            .profile(Profile::default().web_http_loopback(false))
            .build()
            .unwrap();
        register(&strict, json!({"redirect_uris": [uri]}))
            .await
            .assert_error(400, "invalid_redirect_uri");
    }
}

/// OIDC DCR §2: web clients using the implicit grant must use https and must not
/// use localhost.
#[tokio::test]
async fn oidc_2_implicit_web_clients_never_use_http_or_localhost() {
    for uri in [
        "http://localhost/cb",
        "https://localhost/cb",
        "http://127.0.0.1/cb",
        "https://[::1]/cb",
    ] {
        let a = register(
            &oidc(),
            json!({"redirect_uris": [uri], "response_types": ["id_token token"], "grant_types": ["implicit"]}),
        )
        .await;
        a.assert_error(400, "invalid_redirect_uri");
    }
    registered(
        &oidc(),
        json!({"redirect_uris": ["https://client.example.org/cb"], "response_types": ["id_token token"], "grant_types": ["implicit"]}),
    )
    .await;
}

/// OIDC DCR §2: initiate_login_uri, request_uris and sector_identifier_uri use
/// https.
#[tokio::test]
async fn oidc_2_https_only_members() {
    let cases = [
        (
            "initiate_login_uri",
            json!("http://client.example.org/login"),
        ),
        ("request_uris", json!(["http://client.example.org/req"])),
        (
            "sector_identifier_uri",
            json!("http://client.example.org/sector"),
        ),
        ("initiate_login_uri", json!("javascript:alert(1)")),
    ];
    for (field, value) in cases {
        let mut body = web_client();
        body[field] = value;
        let a = register(&oidc(), body).await;
        a.assert_error(400, "invalid_client_metadata");
        assert!(a.description().starts_with(field));
    }
    let mut body = web_client();
    body["initiate_login_uri"] = json!("https://client.example.org/login");
    body["request_uris"] = json!(["https://client.example.org/req#hash"]);
    registered(&oidc(), body).await;
}

/// OIDC DCR §2: *_alg values only from the supported sets.
#[tokio::test]
async fn oidc_2_algorithms_from_the_supported_sets() {
    let cases = [
        "id_token_signed_response_alg",
        "userinfo_signed_response_alg",
        "request_object_signing_alg",
        "id_token_encrypted_response_alg",
        "userinfo_encrypted_response_alg",
        "request_object_encryption_alg",
    ];
    for field in cases {
        let mut body = web_client();
        body[field] = json!("XX999");
        let a = register(&oidc(), body).await;
        a.assert_error(400, "invalid_client_metadata");
        assert!(a.description().starts_with(field), "{}", a.description());
    }
}

/// OIDC DCR §2: `none` is never an id_token signing algorithm unless configured.
#[tokio::test]
async fn oidc_2_id_token_alg_none_only_when_configured() {
    let mut body =
        json!({"grant_types": ["client_credentials"], "id_token_signed_response_alg": "none"});
    register(&open(), body.clone())
        .await
        .assert_error(400, "invalid_client_metadata");
    registered(&oidc(), body.clone()).await;
    // Even when configured, not with a response type that returns an ID Token.
    body = json!({"redirect_uris": ["https://client.example.org/cb"], "grant_types": ["implicit"], "response_types": ["id_token"], "id_token_signed_response_alg": "none"});
    register(&oidc(), body)
        .await
        .assert_error(400, "invalid_client_metadata");
}

/// OIDC DCR §2: an *_enc needs its *_alg; an *_alg alone gets the default enc
/// A128CBC-HS256.
#[tokio::test]
async fn oidc_2_encryption_enc_needs_alg_and_defaults() {
    for prefix in [
        "id_token_encrypted_response",
        "userinfo_encrypted_response",
        "request_object_encryption",
    ] {
        let mut body = web_client();
        body[format!("{prefix}_enc")] = json!("A128CBC-HS256");
        let a = register(&oidc(), body).await;
        a.assert_error(400, "invalid_client_metadata");
        assert!(a.description().contains("requires"));

        let mut body = web_client();
        body[format!("{prefix}_alg")] = json!("RSA-OAEP");
        let a = registered(&oidc(), body).await;
        assert_eq!(a.json[format!("{prefix}_enc")], "A128CBC-HS256");
    }
    let mut body = web_client();
    body["id_token_encrypted_response_alg"] = json!("RSA-OAEP");
    body["id_token_encrypted_response_enc"] = json!("A192GCM");
    register(&oidc(), body)
        .await
        .assert_error(400, "invalid_client_metadata");
}

/// OIDC DCR §2: token_endpoint_auth_signing_alg is never `none`, and matches the
/// auth method (HMAC for client_secret_jwt, asymmetric for private_key_jwt).
#[tokio::test]
async fn oidc_2_token_endpoint_auth_signing_alg_rules() {
    let jwk = json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]});
    let cases = [
        (json!("client_secret_jwt"), json!("none")),
        (json!("client_secret_jwt"), json!("RS256")),
        (json!("private_key_jwt"), json!("HS256")),
    ];
    for (method, alg) in cases {
        let mut body = web_client();
        body["token_endpoint_auth_method"] = method;
        body["token_endpoint_auth_signing_alg"] = alg;
        body["jwks"] = jwk.clone();
        register(&oidc(), body)
            .await
            .assert_error(400, "invalid_client_metadata");
    }
    let mut body = web_client();
    body["token_endpoint_auth_method"] = json!("private_key_jwt");
    body["token_endpoint_auth_signing_alg"] = json!("ES256");
    body["jwks"] = jwk;
    registered(&oidc(), body).await;
}

/// OIDC DCR §2: subject_type only from the supported set.
#[tokio::test]
async fn oidc_2_subject_type_from_supported_set() {
    let mut body = web_client();
    body["subject_type"] = json!("pairwise");
    register(&open(), body.clone())
        .await
        .assert_error(400, "invalid_client_metadata");
    let a = registered(&oidc(), body).await;
    assert_eq!(a.json["subject_type"], "pairwise");
}

/// OIDC DCR §2: the remaining members are typed and echoed.
#[tokio::test]
async fn oidc_2_members_round_trip() {
    let mut body = web_client();
    for (k, v) in [
        ("default_max_age", json!(3600)),
        ("require_auth_time", json!(true)),
        (
            "default_acr_values",
            json!(["urn:mace:incommon:iap:silver"]),
        ),
        (
            "post_logout_redirect_uris",
            json!(["https://client.example.org/logout"]),
        ),
        ("id_token_signed_response_alg", json!("ES256")),
        ("userinfo_signed_response_alg", json!("RS256")),
        ("request_object_signing_alg", json!("ES256")),
    ] {
        body[k] = v;
    }
    let a = registered(&oidc(), body.clone()).await;
    for (k, v) in body.as_object().unwrap() {
        assert_eq!(&a.json[k], v, "{k}");
    }
}

/// OpenID Connect RP-Initiated Logout §3.1: post_logout_redirect_uris follow the
/// redirect URI rules.
#[tokio::test]
async fn oidc_post_logout_redirect_uris_follow_redirect_rules() {
    for uri in [
        "javascript:alert(1)",
        "http://client.example.org/bye",
        "https://client.example.org/bye#f",
    ] {
        let mut body = web_client();
        body["post_logout_redirect_uris"] = json!([uri]);
        let a = register(&open(), body).await;
        a.assert_error(400, "invalid_client_metadata");
        assert!(a.description().starts_with("post_logout_redirect_uris"));
    }
}

/// RFC 8414 §2: the discovery fragment lists what registration enforces.
#[tokio::test]
async fn rfc8414_discovery_fragment_lists_enforced_values() {
    let d = open().discovery_metadata();
    assert_eq!(
        d["registration_endpoint"],
        "https://auth.example.com/register"
    );
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert!(
        d.get("token_endpoint_auth_signing_alg_values_supported")
            .is_none()
    );
    assert!(d.get("scopes_supported").is_none());

    let d = oidc().discovery_metadata();
    assert_eq!(d["subject_types_supported"], json!(["public", "pairwise"]));
    assert_eq!(
        d["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS256", "ES256", "HS256"])
    );
    // Every advertised value is accepted, and a value outside the lists is not.
    for method in d["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
    {
        let mut body = web_client();
        body["token_endpoint_auth_method"] = method.clone();
        body["jwks_uri"] = json!("https://client.example.org/jwks");
        if method == "tls_client_auth" {
            // RFC 8705 §2.1.2: exactly one certificate binding.
            body["tls_client_auth_san_dns"] = json!("client.example.org");
        }
        let a = register(&oidc(), body).await;
        assert_eq!(a.status, 201, "{method}: {:?}", a.json);
    }
}

/// OIDC DCR §5: without a fetcher the sector_identifier_uri cannot be verified,
/// so it is refused; OIDC Core §8.1: pairwise clients with redirect URIs on
/// several hosts need one.
#[tokio::test]
async fn oidc_5_sector_identifier_needs_verification() {
    let mut body = web_client();
    body["sector_identifier_uri"] = json!("https://client.example.org/sector.json");
    let a = register(&oidc(), body).await;
    a.assert_error(400, "invalid_client_metadata");
    assert!(a.description().starts_with("sector_identifier_uri"));
    let pairwise = json!({
        "subject_type": "pairwise",
        "redirect_uris": ["https://a.example.org/cb", "https://b.example.org/cb"],
    });
    register(&oidc(), pairwise)
        .await
        .assert_error(400, "invalid_client_metadata");
}

#[cfg(feature = "fetch")]
mod with_fetcher {
    use super::*;
    use async_trait::async_trait;
    use bytes::Bytes;
    use tower_dcr::fetch::{FetchError, Fetcher};

    #[derive(Debug)]
    struct Canned(&'static str);

    #[async_trait]
    impl Fetcher for Canned {
        async fn fetch(&self, _url: &str) -> Result<Bytes, FetchError> {
            Ok(Bytes::from_static(self.0.as_bytes()))
        }
    }

    /// OIDC DCR §5: the sector document must list every redirect URI.
    #[tokio::test]
    async fn oidc_5_sector_identifier_document_lists_every_redirect_uri() {
        let dcr = builder()
            .profile(oidc_profile())
            .client_assertions(tower_dcr::client_assertion::ClientAssertions::new())
            .fetcher(Canned(
                r#"["https://a.example.org/cb", "https://b.example.org/cb"]"#,
            ))
            .build()
            .unwrap();
        let body = json!({
            "subject_type": "pairwise",
            "sector_identifier_uri": "https://client.example.org/sector.json",
            "redirect_uris": ["https://a.example.org/cb", "https://b.example.org/cb"],
        });
        registered(&dcr, body.clone()).await;
        let mut missing = body;
        missing["redirect_uris"] = json!(["https://a.example.org/cb", "https://c.example.org/cb"]);
        let a = register(&dcr, missing).await;
        a.assert_error(400, "invalid_client_metadata");
        assert!(a.description().starts_with("sector_identifier_uri"));
    }
}
