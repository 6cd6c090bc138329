//! Metadata rules that specifications beyond RFC 7591 impose on a
//! registration (OpenID Connect Core and Discovery, RFC 8705, RFC 8252, RFC 9700,
//! RFC 3986, RFC 8259, Unicode TR36), each through the service's public HTTP
//! behaviour.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use common::*;
use http::{Method, Request, StatusCode, header};
use http_body_util::Full;
use serde_json::{Value, json};
use tower_dcr::policy::RequestContext;
use tower_dcr::{
    ClientMetadata, MemoryStore, Profile, Registration, RegistrationBuilder, SubjectType,
    TokenEndpointAuthMethod,
};

fn service(profile: Profile) -> Registration {
    Registration::builder(ISSUER)
        .open()
        .profile(profile)
        .client_assertions(tower_dcr::client_assertion::ClientAssertions::new())
        .store(MemoryStore::new())
        .build()
        .unwrap()
}

fn with_hook<H>(builder: RegistrationBuilder, hook: H) -> Registration
where
    H: Fn(RequestContext, ClientMetadata) -> ClientMetadata + Send + Sync + 'static,
{
    let hook = Arc::new(hook);
    builder
        .store(MemoryStore::new())
        .hook(move |context: RequestContext, metadata: ClientMetadata| {
            let hook = Arc::clone(&hook);
            async move { Ok(hook(context, metadata)) }
        })
        .build()
        .unwrap()
}

/// A POST with a raw body and extra headers.
fn raw(method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    b.body(Full::new(Bytes::from(body.to_owned()))).unwrap()
}

fn with_secret_methods() -> Vec<TokenEndpointAuthMethod> {
    vec![
        TokenEndpointAuthMethod::ClientSecretBasic,
        TokenEndpointAuthMethod::ClientSecretPost,
        TokenEndpointAuthMethod::ClientSecretJwt,
        TokenEndpointAuthMethod::PrivateKeyJwt,
        TokenEndpointAuthMethod::None,
    ]
}

const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

// ---- 1. Symmetric algorithms the server cannot honour ----------------------

/// OIDC Core §10.1: an `HS*` signature uses the octets of the `client_secret`
/// as the key, so the server must hold the secret. It holds it only for
/// `client_secret_jwt` (every other secret is stored as a SHA-256 digest), so
/// `HS*` for ID tokens, userinfo and request objects is refused for every other
/// method, and accepted for `client_secret_jwt`.
#[tokio::test]
async fn oidc_core_10_1_hmac_signing_needs_a_secret_the_server_keeps() {
    let dcr = service(
        Profile::default()
            .token_endpoint_auth_methods(with_secret_methods())
            .id_token_signing_alg_values(["RS256", "HS256"])
            .userinfo_signing_alg_values(["RS256", "HS256"])
            .request_object_signing_alg_values(["RS256", "HS256"])
            .token_endpoint_auth_signing_alg_values(["RS256", "HS256"]),
    );
    for member in [
        "id_token_signed_response_alg",
        "userinfo_signed_response_alg",
        "request_object_signing_alg",
    ] {
        for method in ["client_secret_basic", "client_secret_post", "none"] {
            let mut body = web_client();
            body["token_endpoint_auth_method"] = json!(method);
            body[member] = json!("HS256");
            let answer = register(&dcr, body).await;
            answer.assert_error(400, "invalid_client_metadata");
            assert!(
                answer.description().contains(member),
                "{member} {method}: {:?}",
                answer.json
            );
        }
        let mut body = web_client();
        body["token_endpoint_auth_method"] = json!("client_secret_jwt");
        body["token_endpoint_auth_signing_alg"] = json!("HS256");
        body[member] = json!("HS256");
        let answer = register(&dcr, body).await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "{member}: {:?}",
            answer.json
        );
        assert_eq!(answer.str(member), "HS256");
    }
}

/// OIDC Core §10.2: symmetric encryption (`dir`, `A128KW`, `A192KW`,
/// `A256KW`, `A*GCMKW`) derives its key from the `client_secret`: refused unless
/// the server keeps the secret (`client_secret_jwt`).
#[tokio::test]
async fn oidc_core_10_2_symmetric_encryption_needs_a_secret_the_server_keeps() {
    let algs = ["RSA-OAEP", "dir", "A128KW", "A256KW", "A128GCMKW"];
    let dcr = service(
        Profile::default()
            .token_endpoint_auth_methods(with_secret_methods())
            .token_endpoint_auth_signing_alg_values(["RS256", "HS256"])
            .id_token_encryption_values(algs, ["A128GCM", "A128CBC-HS256"])
            .userinfo_encryption_values(algs, ["A128GCM", "A128CBC-HS256"])
            .request_object_encryption_values(algs, ["A128GCM", "A128CBC-HS256"]),
    );
    for member in [
        "id_token_encrypted_response_alg",
        "userinfo_encrypted_response_alg",
        "request_object_encryption_alg",
    ] {
        for alg in ["dir", "A128KW", "A256KW", "A128GCMKW"] {
            let mut body = web_client();
            body["token_endpoint_auth_method"] = json!("client_secret_basic");
            body[member] = json!(alg);
            let answer = register(&dcr, body).await;
            answer.assert_error(400, "invalid_client_metadata");
            assert!(answer.description().contains(member), "{:?}", answer.json);
        }
        // Asymmetric key management needs no secret.
        let mut body = web_client();
        body["jwks"] = serde_json::from_str(JWKS).unwrap();
        body[member] = json!("RSA-OAEP");
        assert_eq!(register(&dcr, body).await.status, StatusCode::CREATED);
        // The secret is kept for client_secret_jwt.
        let mut body = web_client();
        body["token_endpoint_auth_method"] = json!("client_secret_jwt");
        body["token_endpoint_auth_signing_alg"] = json!("HS256");
        body[member] = json!("dir");
        let answer = register(&dcr, body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    }
}

/// OIDC Discovery §3 / RFC 8414 §2: `token_endpoint_auth_signing_alg_values_supported`
/// lists only what the enabled methods can use: `HS*` only with
/// `client_secret_jwt`, asymmetric algorithms only with `private_key_jwt`.
#[tokio::test]
async fn oidc_discovery_3_signing_algs_advertised_only_for_enabled_methods() {
    let only_private_key = service(
        Profile::default()
            .token_endpoint_auth_methods([
                TokenEndpointAuthMethod::ClientSecretBasic,
                TokenEndpointAuthMethod::PrivateKeyJwt,
            ])
            .token_endpoint_auth_signing_alg_values(["RS256", "HS256", "ES256"]),
    );
    assert_eq!(
        only_private_key.discovery_metadata()["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS256", "ES256"])
    );
    let only_secret_jwt = service(
        Profile::default()
            .token_endpoint_auth_methods([
                TokenEndpointAuthMethod::ClientSecretBasic,
                TokenEndpointAuthMethod::ClientSecretJwt,
            ])
            .token_endpoint_auth_signing_alg_values(["RS256", "HS256", "ES256"]),
    );
    assert_eq!(
        only_secret_jwt.discovery_metadata()["token_endpoint_auth_signing_alg_values_supported"],
        json!(["HS256"])
    );
}

// ---- 2. tls_client_auth without a certificate binding ----------------------

/// RFC 8705 §2.1.2: a `tls_client_auth` client "MUST use exactly one" of
/// `tls_client_auth_subject_dn`, `tls_client_auth_san_dns`,
/// `tls_client_auth_san_uri`, `tls_client_auth_san_ip`,
/// `tls_client_auth_san_email`: none or two are refused, one is stored and
/// echoed.
#[tokio::test]
async fn rfc8705_2_1_2_tls_client_auth_needs_exactly_one_certificate_binding() {
    let dcr = service(Profile::default().token_endpoint_auth_methods([
        TokenEndpointAuthMethod::ClientSecretBasic,
        TokenEndpointAuthMethod::TlsClientAuth,
    ]));
    let client = |extra: Value| {
        let mut body = web_client();
        body["token_endpoint_auth_method"] = json!("tls_client_auth");
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let none = register(&dcr, client(json!({}))).await;
    none.assert_error(400, "invalid_client_metadata");
    assert!(
        none.description().contains("tls_client_auth"),
        "{:?}",
        none.json
    );

    let two = register(
        &dcr,
        client(json!({
            "tls_client_auth_subject_dn": "CN=client,O=Example",
            "tls_client_auth_san_dns": "client.example.org",
        })),
    )
    .await;
    two.assert_error(400, "invalid_client_metadata");

    for (member, value) in [
        ("tls_client_auth_subject_dn", "CN=client,O=Example,C=US"),
        ("tls_client_auth_san_dns", "client.example.org"),
        ("tls_client_auth_san_uri", "https://client.example.org/id"),
        ("tls_client_auth_san_ip", "192.0.2.7"),
        ("tls_client_auth_san_email", "ops@client.example.org"),
    ] {
        let answer = register(&dcr, client(json!({ member: value }))).await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "{member}: {:?}",
            answer.json
        );
        assert_eq!(answer.str(member), value);
        assert!(answer.json.get("client_secret").is_none());
    }
}

// ---- 3. subject_type is defaulted ----------------------------------------

/// OIDC Core §8.1 with OIDC DCR §2: a client that omits `subject_type` under a
/// profile that supports only `pairwise` gets `pairwise`, and so the
/// one-host-or-sector-document rule applies to it too.
#[tokio::test]
async fn oidc_core_8_1_omitted_subject_type_gets_the_profile_default_and_its_rule() {
    let dcr = service(Profile::default().subject_types([SubjectType::Pairwise]));
    let answer = register(
        &dcr,
        json!({"redirect_uris": ["https://a.example.org/cb", "https://b.example.net/cb"]}),
    )
    .await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(
        answer.description().contains("sector_identifier_uri"),
        "{:?}",
        answer.json
    );
    let one_host = register(&dcr, web_client()).await;
    assert_eq!(one_host.status, StatusCode::CREATED, "{:?}", one_host.json);
    assert_eq!(one_host.str("subject_type"), "pairwise");

    // A profile supporting both may choose pairwise as its default...
    let both = Profile::default().subject_types([SubjectType::Public, SubjectType::Pairwise]);
    let dcr = service(both.clone().default_subject_type(SubjectType::Pairwise));
    let answer = register(&dcr, web_client()).await;
    assert_eq!(answer.str("subject_type"), "pairwise");
    // ... and public stays implicit, as before.
    let answer = register(&service(both), web_client()).await;
    assert!(
        answer.json.get("subject_type").is_none(),
        "{:?}",
        answer.json
    );
    // A default the profile does not support is a configuration error.
    let error = Registration::builder(ISSUER)
        .open()
        .profile(Profile::default().default_subject_type(SubjectType::Pairwise))
        .build()
        .unwrap_err();
    assert!(
        matches!(error, tower_dcr::ConfigError::InvalidProfile(_)),
        "{error}"
    );
}

// ---- 4. The hook's output gets the sector rules ---------------------------

/// OIDC DCR §5: a `sector_identifier_uri` the hook adds is checked like one
/// the client sent: without a fetcher it cannot be verified, so it is refused.
#[tokio::test]
async fn oidc_dcr_5_sector_identifier_uri_added_by_the_hook_is_checked() {
    let dcr = with_hook(
        Registration::builder(ISSUER).open().profile(
            Profile::default().subject_types([SubjectType::Public, SubjectType::Pairwise]),
        ),
        |_, mut m| {
            m.subject_type = Some(SubjectType::Pairwise);
            m.sector_identifier_uri = Some("https://sector.example.net/uris.json".into());
            m
        },
    );
    let answer = register(&dcr, web_client()).await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(
        answer.description().contains("sector_identifier_uri"),
        "{:?}",
        answer.json
    );
}

/// OIDC DCR §5: a redirect URI the hook adds must be listed in the sector
/// document, which is fetched again for the hook's output.
#[cfg(feature = "fetch")]
#[tokio::test]
async fn oidc_dcr_5_redirect_uri_added_by_the_hook_must_be_in_the_sector_document() {
    use async_trait::async_trait;
    use tower_dcr::fetch::{FetchError, Fetcher};

    #[derive(Debug)]
    struct Canned;
    #[async_trait]
    impl Fetcher for Canned {
        async fn fetch(&self, url: &str) -> Result<Bytes, FetchError> {
            assert_eq!(url, "https://sector.example.net/uris.json");
            Ok(Bytes::from_static(
                br#"["https://client.example.org/callback"]"#,
            ))
        }
    }
    let dcr = with_hook(
        Registration::builder(ISSUER)
            .open()
            .fetcher(Canned)
            .profile(
                Profile::default().subject_types([SubjectType::Public, SubjectType::Pairwise]),
            ),
        |_, mut m| {
            m.redirect_uris
                .get_or_insert_with(Vec::new)
                .push("https://unlisted.example.com/cb".into());
            m
        },
    );
    let mut body = web_client();
    body["subject_type"] = json!("pairwise");
    body["sector_identifier_uri"] = json!("https://sector.example.net/uris.json");
    let answer = register(&dcr, body).await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(
        answer.description().contains("unlisted.example.com"),
        "{:?}",
        answer.json
    );
}

// ---- 5. client_credentials is for confidential clients ----------------------

/// RFC 6749 §4.4: "The client credentials grant type MUST only be used by
/// confidential clients": a public client (`none`) cannot register it, on
/// POST nor on PUT.
#[tokio::test]
async fn rfc6749_4_4_public_client_cannot_register_client_credentials() {
    let dcr = open();
    let answer = register(
        &dcr,
        json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(
        answer.description().contains("client_credentials"),
        "{:?}",
        answer.json
    );

    let created = registered(&dcr, json!({"grant_types": ["client_credentials"]})).await;
    let mut body = update_body(&created.json);
    body["token_endpoint_auth_method"] = json!("none");
    let answer = update(&dcr, &client_path(&created), &rat(&created), body).await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(
        answer.description().contains("client_credentials"),
        "{:?}",
        answer.json
    );
}

// ---- 6. Native https loopback -------------------------------------------

/// RFC 8252 §7.3: loopback redirects use `http`; the any-port rule matches only
/// `http` loopback URIs, so a native client's `https` loopback redirect URI
/// (which could never match on another port) is refused.
#[tokio::test]
async fn rfc8252_7_3_native_https_loopback_redirect_is_refused() {
    let dcr = open();
    for uri in [
        "https://127.0.0.1/cb",
        "https://localhost:8443/cb",
        "https://[::1]/cb",
    ] {
        let answer = register(
            &dcr,
            json!({"application_type": "native", "redirect_uris": [uri], "token_endpoint_auth_method": "none"}),
        )
        .await;
        answer.assert_error(400, "invalid_redirect_uri");
    }
    let http = register(
        &dcr,
        json!({"application_type": "native", "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(http.status, StatusCode::CREATED, "{:?}", http.json);
}

// ---- 7. contacts ---------------------------------------------------------

/// RFC 7591 §2 says `contacts` are "ways to contact people responsible for
/// this client, typically email addresses"; OIDC DCR §2 says "e-mail
/// addresses". Decision: e-mail addresses are always accepted; a client that is
/// not an OpenID Connect client (no `openid` scope, no response type returning
/// an ID Token) may also list `https:`, `mailto:` or `tel:` URIs; an OpenID
/// Connect client may list e-mail addresses only. Anything else (free text,
/// `http:`, `javascript:`) is refused for every client.
#[tokio::test]
async fn rfc7591_2_contacts_may_be_urls_for_non_oidc_clients_only() {
    let dcr = open();
    let mut oauth = web_client();
    oauth["contacts"] = json!([
        "ops@client.example.org",
        "https://client.example.org/support",
        "mailto:security@client.example.org",
        "tel:+1-201-555-0123"
    ]);
    let answer = register(&dcr, oauth.clone()).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    assert_eq!(answer.json["contacts"], oauth["contacts"]);

    let mut oidc = oauth.clone();
    oidc["scope"] = json!("openid profile");
    let answer = register(&dcr, oidc).await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(
        answer.description().starts_with("contacts"),
        "{:?}",
        answer.json
    );

    for bad in [
        "call Bob",
        "javascript:alert(1)",
        "http://client.example.org/x",
    ] {
        let mut body = web_client();
        body["contacts"] = json!([bad]);
        register(&dcr, body)
            .await
            .assert_error(400, "invalid_client_metadata");
    }
}

// ---- 8. Duplicate member names --------------------------------------------

/// RFC 8259 §4: member names "SHOULD be unique"; with duplicates, parsers
/// disagree on which value wins (first-wins gateways, last-wins servers), so
/// a body with a repeated member name is refused with
/// `invalid_client_metadata`, on POST and on PUT.
#[tokio::test]
async fn rfc8259_4_duplicate_member_names_are_refused() {
    let dcr = open();
    let body = r#"{"redirect_uris":["https://client.example.org/cb"],
        "token_endpoint_auth_method":"none",
        "client_name":"x",
        "token_endpoint_auth_method":"client_secret_basic"}"#;
    let answer = send(&dcr, raw(Method::POST, "/register", &[], body)).await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(
        answer.description().contains("token_endpoint_auth_method"),
        "{:?}",
        answer.json
    );

    // Not JSON after all (found by the metadata fuzz target): the syntax error
    // is what is reported, not the repeated name before it.
    let broken = r#"{"client_name":"a","client_name":"b","x":*}"#;
    let answer = send(&dcr, raw(Method::POST, "/register", &[], broken)).await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(
        answer.description().contains("JSON object"),
        "{:?}",
        answer.json
    );

    let created = registered(&dcr, web_client()).await;
    let put = format!(
        r#"{{"client_id":"{}","redirect_uris":["https://client.example.org/cb"],"client_name":"a","client_name":"b"}}"#,
        created.str("client_id")
    );
    let auth = format!("Bearer {}", rat(&created));
    let answer = send(
        &dcr,
        raw(
            Method::PUT,
            &client_path(&created),
            &[("authorization", &auth)],
            &put,
        ),
    )
    .await;
    answer.assert_error(400, "invalid_client_metadata");
}

// ---- 9. Redirect URIs parsers disagree on -----------------------------------

/// RFC 3986 §3.2 vs the WHATWG URL standard: a backslash in the authority is a
/// path separator to one and userinfo data to the other
/// (`https://good.example\@evil.example/cb`), so no redirect URI may hold one.
#[tokio::test]
async fn rfc3986_3_2_backslash_in_a_redirect_uri_is_refused() {
    let dcr = open();
    for uri in [
        r"https://good.example\@evil.example/cb",
        r"https://good.example/cb\x",
    ] {
        let answer = register(&dcr, json!({"redirect_uris": [uri]})).await;
        answer.assert_error(400, "invalid_redirect_uri");
    }
}

/// RFC 3986 §2 / RFC 5890 §2.3.2.1: a URI is ASCII. Decision: internationalised
/// hosts are refused in their Unicode (U-label) form and must be registered
/// as A-labels (`xn--…`), which are stored and compared as the exact string;
/// so a homoglyph host (`аpple.example`, Cyrillic а) can never be stored raw
/// and sent in `Location`, and shows as punycode wherever it is displayed.
/// Any other non-ASCII character in a redirect URI must be percent-encoded.
#[tokio::test]
async fn rfc3986_2_non_ascii_redirect_uris_are_refused_a_labels_accepted() {
    let dcr = open();
    for uri in [
        "https://\u{0430}pple.example/cb",
        "https://bücher.example/cb",
        "https://client.example.org/caf\u{e9}",
    ] {
        let answer = register(&dcr, json!({"redirect_uris": [uri]})).await;
        answer.assert_error(400, "invalid_redirect_uri");
    }
    let a_label = "https://xn--bcher-kva.example/cb";
    let answer = register(&dcr, json!({"redirect_uris": [a_label]})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    assert_eq!(answer.json["redirect_uris"], json!([a_label]));
}

/// RFC 6749 §3.1.2.2 and RFC 9700 §4.1: redirect URIs are matched exactly, so
/// a wildcard host (`*`) is never a pattern here and is refused.
#[tokio::test]
async fn rfc9700_4_1_wildcard_host_is_refused() {
    let dcr = open();
    for uri in ["https://*.example.org/cb", "https://a*b.example.org/cb"] {
        let answer = register(&dcr, json!({"redirect_uris": [uri]})).await;
        answer.assert_error(400, "invalid_redirect_uri");
    }
}

/// RFC 6749 §3.1.2 lets a redirect URI carry a query, but not the parameters
/// the authorization response adds: a registered `code`, `state`, `iss`
/// (RFC 9207 §2.4: a forged `iss` defeats the mix-up check), `error` or token
/// parameter is refused, also when percent-encoded; other parameters are kept.
#[tokio::test]
async fn rfc9207_2_4_redirect_uri_query_must_not_carry_response_parameters() {
    let dcr = open();
    for query in [
        "code=x",
        "state=x",
        "iss=https%3A%2F%2Fauth.example.com",
        "error=access_denied",
        "error_description=x",
        "access_token=x",
        "id_token=x",
        "a=1&%69ss=https://evil.example",
    ] {
        let uri = format!("https://client.example.org/cb?{query}");
        let answer = register(&dcr, json!({"redirect_uris": [uri]})).await;
        answer.assert_error(400, "invalid_redirect_uri");
    }
    let ok = "https://client.example.org/cb?tenant=a";
    let answer = register(&dcr, json!({"redirect_uris": [ok]})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
}

// ---- 10. Display strings and lists ----------------------------------------

/// Unicode TR #36 §2.1 / TR #9: bidi overrides and invisible characters
/// (U+200B–U+200F, U+202A–U+202E, U+2066–U+2069, U+FEFF, U+061C, U+2060)
/// make a name read as another application's. Decision: refused, not
/// normalised (silently removing them would store a name the client did not
/// send), in `client_name` and its language variants and in every other
/// human-readable member.
#[tokio::test]
async fn unicode_tr36_bidi_and_invisible_characters_in_display_strings_are_refused() {
    let dcr = open();
    for ch in [
        '\u{200B}', '\u{200E}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{FEFF}',
    ] {
        for member in [
            "client_name",
            "client_name#fr",
            "software_version",
            "software_id",
        ] {
            let mut body = web_client();
            body[member] = json!(format!("Example{ch}Client"));
            let answer = register(&dcr, body).await;
            answer.assert_error(400, "invalid_client_metadata");
            assert!(
                answer.description().starts_with(member),
                "{member} U+{:04X}: {:?}",
                ch as u32,
                answer.json
            );
        }
    }
    let mut body = web_client();
    body["client_name"] = json!("Exemple d'application – café ✓");
    assert_eq!(register(&dcr, body).await.status, StatusCode::CREATED);
}

/// RFC 7591 §2: `redirect_uris`, `grant_types` and `response_types` are sets;
/// a repeated value is refused (it would be stored and echoed twice).
#[tokio::test]
async fn rfc7591_2_duplicate_values_in_lists_are_refused() {
    let dcr = open();
    let answer = register(
        &dcr,
        json!({"redirect_uris": ["https://client.example.org/cb", "https://client.example.org/cb"]}),
    )
    .await;
    answer.assert_error(400, "invalid_redirect_uri");
    let mut body = web_client();
    body["grant_types"] = json!(["authorization_code", "authorization_code"]);
    let answer = register(&dcr, body).await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(
        answer.description().starts_with("grant_types"),
        "{:?}",
        answer.json
    );
    let mut body = web_client();
    body["response_types"] = json!(["code", "code"]);
    let answer = register(&dcr, body).await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(
        answer.description().starts_with("response_types"),
        "{:?}",
        answer.json
    );
}

/// RFC 7591 §2.1: a client registers the grant types it will use; an empty
/// `grant_types` registers a client that can use none, and is refused.
#[tokio::test]
async fn rfc7591_2_1_empty_grant_types_is_refused() {
    let mut body = web_client();
    body["grant_types"] = json!([]);
    let answer = register(&open(), body).await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(
        answer.description().starts_with("grant_types"),
        "{:?}",
        answer.json
    );
}

/// RFC 5646 §4.4.1 asks implementations to handle tags of at least 35
/// characters; a language tag over 64 bytes is refused (a 1.8 KB tag was
/// accepted and stored).
#[tokio::test]
async fn rfc5646_4_4_1_overlong_language_tag_is_refused() {
    let tag = format!("en-x-{}", vec!["abcdefgh"; 200].join("-"));
    assert!(tag.len() > 1700);
    let mut body = web_client();
    body[format!("client_name#{tag}")] = json!("Name");
    let answer = register(&open(), body).await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(
        answer.description().starts_with("client_name#"),
        "{:?}",
        answer.json
    );
    assert!(
        answer.description().len() < 300,
        "the tag is not echoed whole"
    );

    let mut body = web_client();
    body["client_name#de-CH-1901-x-private1"] = json!("Name");
    assert_eq!(register(&open(), body).await.status, StatusCode::CREATED);
}

// ---- 11. Content codings ---------------------------------------------------

/// RFC 9110 §8.4 and §15.5.16: a body in a content coding the service does not
/// decode is answered `415` (with `Accept-Encoding: identity`), never read as
/// JSON; a transfer coding other than `chunked` likewise. The hook never runs.
#[tokio::test]
async fn rfc9110_15_5_16_unsupported_content_coding_is_415() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let dcr = with_hook(Registration::builder(ISSUER).open(), move |_, m| {
        counter.fetch_add(1, Ordering::SeqCst);
        m
    });
    let body = serde_json::to_string(&web_client()).unwrap();
    for headers in [
        [("content-encoding", "gzip")],
        [("content-encoding", "br")],
        [("content-encoding", "identity, gzip")],
        [("transfer-encoding", "gzip, chunked")],
    ] {
        let answer = send(&dcr, raw(Method::POST, "/register", &headers, &body)).await;
        answer.assert_error(415, "invalid_client_metadata");
        assert_eq!(
            answer.header("accept-encoding"),
            Some("identity"),
            "{headers:?}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let answer = send(
        &dcr,
        raw(
            Method::POST,
            "/register",
            &[("content-encoding", "identity")],
            &body,
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
}
