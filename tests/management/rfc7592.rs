//! RFC 7592 (OAuth 2.0 Dynamic Client Registration Management Protocol) and the
//! RFC 6750 bearer rules it relies on: one test per rule, named after it.

use crate::common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use http::{Method, StatusCode};
use serde_json::json;
use tower_dcr::host::{ClientAuthError, ClientCredentials};
use tower_dcr::{Profile, RatRotation, Registration, TokenEndpointAuthMethod};

/// The members of a client information response (RFC 7591 §3.2.1, RFC 7592 §3)
/// as a sorted list of names.
fn member_names(answer: &Answer) -> Vec<String> {
    let mut names: Vec<String> = answer
        .json
        .as_object()
        .expect("a JSON object")
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

/// Authenticates at the host's token endpoint with `client_secret_basic`.
async fn authenticate_basic(
    dcr: &Registration,
    client_id: &str,
    secret: &str,
) -> Result<(), ClientAuthError> {
    let headers = authorization_header(&basic_authorization(client_id, secret));
    let credentials = ClientCredentials::from_request(&headers, None, None)?;
    dcr.authenticate_client(&credentials).await.map(|_| ())
}

// ---------------------------------------------------------------------------
// RFC 7592 §3: the client information response of a registration.

/// RFC 7592 §3 and DESIGN §5: `registration_client_uri` is
/// `{issuer}/register/{client_id}` built from configuration, never from the
/// request's `Host`, `X-Forwarded-*` or absolute-form URI.
#[tokio::test]
async fn rfc7592_3_registration_client_uri_comes_from_configuration_not_the_request() {
    let dcr = open();
    let request = http::Request::builder()
        .method(Method::POST)
        .uri("http://evil.example/register")
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "http")
        .header("forwarded", "host=evil.example;proto=http")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            serde_json::to_vec(&web_client()).unwrap(),
        )))
        .unwrap();
    let answer = send(&dcr, request).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    let client_id = answer.str("client_id");
    assert!(!client_id.is_empty());
    assert_eq!(
        answer.str("registration_client_uri"),
        format!("{ISSUER}/register/{client_id}")
    );
    assert!(!answer.raw.windows(4).any(|w| w == b"evil"));
}

/// RFC 7592 §3 (`registration_client_uri`: "Fully qualified URL of the client
/// configuration endpoint") with RFC 3986 §2.1: a host-generated `client_id`
/// with characters that are not allowed raw in a path segment (`%`, space) is
/// percent-encoded in the URI, and that URI (as an HTTP stack delivers it, still
/// encoded) reaches the client.
#[tokio::test]

async fn rfc7592_3_registration_client_uri_is_a_valid_url_for_any_client_id() {
    let dcr = builder()
        .client_id_generator(|| "app:1%2 x".to_owned())
        .build()
        .unwrap();
    let created = registered(&dcr, web_client()).await;
    assert_eq!(created.str("client_id"), "app:1%2 x");
    let uri = created.str("registration_client_uri");
    assert!(uri.starts_with(&format!("{ISSUER}/register/")), "{uri}");
    let parsed: http::Uri = uri.parse().expect("a valid URI");
    assert!(!uri.contains(' ') && !uri.contains("%2 "), "{uri}");
    let answer = read(&dcr, parsed.path(), &rat(&created)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    assert_eq!(answer.str("client_id"), "app:1%2 x");
}

/// RFC 7592 §3 and DESIGN §5: the registration access token is 256 bits from
/// the CSPRNG, base64url without padding (43 characters), fresh per client.
#[tokio::test]
async fn rfc7592_3_registration_access_token_is_256_bits_base64url() {
    let dcr = open();
    let a = registered(&dcr, web_client()).await;
    let b = registered(&dcr, web_client()).await;
    for answer in [&a, &b] {
        let token = answer.str("registration_access_token");
        assert_eq!(token.len(), 43, "{token}");
        assert_eq!(URL_SAFE_NO_PAD.decode(token).unwrap().len(), 32);
    }
    assert_ne!(rat(&a), rat(&b));
}

/// RFC 7592 §1 (management is optional) and RFC 7591 §3.2.1: with
/// `issue_registration_access_token(false)` the response carries neither
/// `registration_access_token` nor `registration_client_uri`, and no token
/// opens the client configuration endpoint.
#[tokio::test]
async fn rfc7592_1_without_registration_access_token_the_client_cannot_be_managed() {
    let dcr = builder()
        .issue_registration_access_token(false)
        .build()
        .unwrap();
    let answer = registered(&dcr, web_client()).await;
    assert!(answer.json.get("registration_access_token").is_none());
    assert!(answer.json.get("registration_client_uri").is_none());
    let client_id = answer.str("client_id").to_owned();
    let secret = answer.str("client_secret").to_owned();
    let path = format!("/register/{client_id}");
    for token in ["anything", secret.as_str(), client_id.as_str()] {
        assert_invalid_token(&read(&dcr, &path, token).await);
        let body = json!({"client_id": client_id, "redirect_uris": ["https://x.example/cb"]});
        assert_invalid_token(&update(&dcr, &path, token, body).await);
        assert_invalid_token(&delete(&dcr, &path, token).await);
    }
    // The client still exists and still authenticates at the token endpoint.
    authenticate_basic(&dcr, &client_id, &secret).await.unwrap();
}

// ---------------------------------------------------------------------------
// RFC 7592 §2.1: read.

/// RFC 7592 §2.1 and §3: `GET` with the registration access token answers `200`
/// with the full client information: every member of the registration response
/// with the same values, less `client_secret` (stored as a digest, so it cannot
/// be returned), with `Cache-Control: no-store` and `Pragma: no-cache`.
#[tokio::test]
async fn rfc7592_2_1_read_returns_the_client_information_without_caching() {
    let dcr = open();
    let created = registered(
        &dcr,
        json!({
            "redirect_uris": ["https://client.example.org/cb"],
            "client_name": "Example",
            "client_uri": "https://client.example.org",
            "contacts": ["ops@client.example.org"],
        }),
    )
    .await;
    let token = rat(&created);
    let answer = read(&dcr, &client_path(&created), &token).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("pragma"), Some("no-cache"));
    let mut expected = created.json.clone();
    expected.as_object_mut().unwrap().remove("client_secret");
    assert_eq!(answer.json, expected);
    assert!(answer.json.get("client_secret").is_none());
    assert!(answer.json.get("client_secret_expires_at").is_some());
    assert_eq!(answer.str("registration_access_token"), token);
}

/// RFC 7592 §3 with OIDC Core §9: a `client_secret_jwt` client's secret is the
/// HMAC key the server keeps, so `GET` returns it (the same value as issued).
#[tokio::test]
async fn rfc7592_3_read_returns_the_client_secret_of_a_client_secret_jwt_client() {
    let dcr = builder()
        .profile(Profile::default().token_endpoint_auth_methods([
            TokenEndpointAuthMethod::ClientSecretBasic,
            TokenEndpointAuthMethod::ClientSecretJwt,
        ]))
        .client_assertions(tower_dcr::client_assertion::ClientAssertions::new())
        .build()
        .unwrap();
    let created = registered(
        &dcr,
        json!({
            "redirect_uris": ["https://client.example.org/cb"],
            "token_endpoint_auth_method": "client_secret_jwt",
        }),
    )
    .await;
    let secret = created.str("client_secret");
    // 512 bits: an HMAC key long enough for HS512 (RFC 7518 §3.2).
    assert_eq!(secret.len(), 86);
    let answer = read(&dcr, &client_path(&created), &rat(&created)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    assert_eq!(answer.str("client_secret"), secret);
    assert_eq!(member_names(&answer), member_names(&created));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("pragma"), Some("no-cache"));
}

// ---------------------------------------------------------------------------
// RFC 7592 §2.2: update.

/// RFC 7592 §2.2: an update replaces the whole configuration; a member the
/// client omits is deleted (or set to its default), both in the response and in
/// what is stored.
#[tokio::test]
async fn rfc7592_2_2_update_replaces_every_member_and_omitted_members_are_removed() {
    let dcr = open();
    let created = registered(
        &dcr,
        json!({
            "redirect_uris": ["https://client.example.org/cb"],
            "client_name": "Before",
            "client_uri": "https://client.example.org",
            "scope": "read write",
        }),
    )
    .await;
    let path = client_path(&created);
    let mut body = update_body(&created.json);
    let object = body.as_object_mut().unwrap();
    object.remove("client_uri");
    object.remove("scope");
    object.insert("client_name".into(), json!("After"));
    let answer = update(&dcr, &path, &rat(&created), body).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("pragma"), Some("no-cache"));
    assert_eq!(answer.str("client_name"), "After");
    assert!(answer.json.get("client_uri").is_none(), "{:?}", answer.json);
    assert!(answer.json.get("scope").is_none(), "{:?}", answer.json);
    assert_eq!(answer.str("client_id"), created.str("client_id"));
    assert_eq!(
        answer.json["client_id_issued_at"],
        created.json["client_id_issued_at"]
    );
    assert_eq!(
        answer.str("registration_client_uri"),
        created.str("registration_client_uri")
    );

    let stored = read(&dcr, &path, &rat(&answer)).await;
    assert_eq!(stored.status, StatusCode::OK);
    assert_eq!(stored.str("client_name"), "After");
    assert!(stored.json.get("client_uri").is_none(), "{:?}", stored.json);
    assert!(stored.json.get("scope").is_none(), "{:?}", stored.json);
}

/// RFC 7592 §2.2: the new metadata is validated as in a registration
/// (RFC 7591 §3.2.2): a bad redirect URI is `400 invalid_redirect_uri`, and
/// nothing changes (not even the registration access token).
#[tokio::test]
async fn rfc7592_2_2_update_validates_the_metadata_again() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let token = rat(&created);
    for bad in [
        "http://client.example.org/cb",
        "javascript:alert(1)",
        "https://client.example.org/cb#fragment",
    ] {
        let mut body = update_body(&created.json);
        body["redirect_uris"] = json!([bad]);
        let answer = update(&dcr, &path, &token, body).await;
        answer.assert_error(400, "invalid_redirect_uri");
        assert!(answer.description().contains("redirect_uris"), "{bad}");
    }
    let mut body = update_body(&created.json);
    body["token_endpoint_auth_method"] = json!("unheard_of");
    update(&dcr, &path, &token, body)
        .await
        .assert_error(400, "invalid_client_metadata");

    let stored = read(&dcr, &path, &token).await;
    assert_eq!(
        stored.status,
        StatusCode::OK,
        "a failed update keeps the token"
    );
    assert_eq!(
        stored.json["redirect_uris"],
        json!(["https://client.example.org/callback"])
    );
}

/// RFC 7592 §2.2: "The client MUST include its client_id field in the request".
#[tokio::test]
async fn rfc7592_2_2_update_without_client_id_is_invalid_client_metadata() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let mut body = update_body(&created.json);
    body.as_object_mut().unwrap().remove("client_id");
    let answer = update(&dcr, &client_path(&created), &rat(&created), body).await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(
        answer.description().contains("client_id"),
        "{:?}",
        answer.json
    );
}

/// RFC 7592 §2.2: the `client_id` "MUST be the same as its currently issued
/// client identifier".
#[tokio::test]
async fn rfc7592_2_2_update_with_another_client_id_is_invalid_client_metadata() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let other = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let token = rat(&created);
    for id in [json!(other.str("client_id")), json!("x"), json!(42)] {
        let mut body = update_body(&created.json);
        body["client_id"] = id.clone();
        let answer = update(&dcr, &path, &token, body).await;
        answer.assert_error(400, "invalid_client_metadata");
        assert!(answer.description().contains("client_id"), "{id}");
    }
    // The other client is untouched.
    let untouched = read(&dcr, &client_path(&other), &rat(&other)).await;
    assert_eq!(untouched.status, StatusCode::OK);
}

/// RFC 7592 §2.2: a `client_secret` in the request "MUST match the currently
/// issued client secret": the current one is accepted.
#[tokio::test]
async fn rfc7592_2_2_update_echoing_the_current_client_secret_is_accepted() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let mut body = update_body(&created.json);
    body["client_secret"] = json!(created.str("client_secret"));
    body["client_name"] = json!("Renamed");
    let answer = update(&dcr, &client_path(&created), &rat(&created), body).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    assert_eq!(answer.str("client_name"), "Renamed");
    authenticate_basic(&dcr, created.str("client_id"), created.str("client_secret"))
        .await
        .unwrap();
}

/// RFC 7592 §2.2: a `client_secret` that is not the current one is refused: a
/// client cannot choose its own secret.
#[tokio::test]
async fn rfc7592_2_2_update_with_another_client_secret_is_invalid_client_metadata() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let mut body = update_body(&created.json);
    body["client_secret"] = json!("chosen-by-the-client-0123456789abcdefghijk");
    let answer = update(&dcr, &client_path(&created), &rat(&created), body).await;
    answer.assert_error(400, "invalid_client_metadata");
    assert!(answer.description().contains("client_secret"));
    assert!(
        !answer
            .description()
            .contains("chosen-by-the-client-0123456789abcdefghijk")
    );
    authenticate_basic(&dcr, created.str("client_id"), created.str("client_secret"))
        .await
        .unwrap();

    // A public client has no secret to match.
    let public = registered(
        &dcr,
        json!({"redirect_uris": ["https://p.example/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let mut body = update_body(&public.json);
    body["client_secret"] = json!("anything");
    update(&dcr, &client_path(&public), &rat(&public), body)
        .await
        .assert_error(400, "invalid_client_metadata");
}

/// RFC 7592 §2.2: the request "MUST NOT include the registration_access_token,
/// registration_client_uri, client_secret_expires_at, or client_id_issued_at
/// fields"; one that differs from the current value is `400
/// invalid_client_metadata` naming the field (equal ones are ignored:
/// tests/management/token_rotation.rs).
#[tokio::test]
async fn rfc7592_2_2_update_including_a_server_issued_member_is_invalid_client_metadata() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let token = rat(&created);
    for field in [
        "registration_access_token",
        "registration_client_uri",
        "client_secret_expires_at",
        "client_id_issued_at",
    ] {
        let mut body = update_body(&created.json);
        body[field] = match created.json[field].as_u64() {
            Some(n) => json!(n + 1),
            None => json!("https://auth.example.com/register/another"),
        };
        let answer = update(&dcr, &path, &token, body).await;
        answer.assert_error(400, "invalid_client_metadata");
        assert!(
            answer.description().contains(field),
            "{field}: {:?}",
            answer.json
        );
        assert!(!answer.description().contains(&token));
    }
    assert_eq!(read(&dcr, &path, &token).await.status, StatusCode::OK);
}

/// RFC 7592 §2.2 ("MAY include a new client_secret") with RFC 7591 §3.2.1: a
/// public client that becomes confidential (`none` → `client_secret_basic`) is
/// issued a secret in the `200` response, with `client_secret_expires_at`, and
/// the secret authenticates it.
#[tokio::test]
async fn rfc7592_2_2_update_from_public_to_confidential_issues_a_client_secret() {
    let dcr = open();
    let created = registered(
        &dcr,
        json!({"redirect_uris": ["https://p.example/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert!(created.json.get("client_secret").is_none());
    assert!(created.json.get("client_secret_expires_at").is_none());
    let mut body = update_body(&created.json);
    body["token_endpoint_auth_method"] = json!("client_secret_basic");
    let answer = update(&dcr, &client_path(&created), &rat(&created), body).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    assert_eq!(
        answer.str("token_endpoint_auth_method"),
        "client_secret_basic"
    );
    let secret = answer.str("client_secret");
    assert_eq!(URL_SAFE_NO_PAD.decode(secret).unwrap().len(), 32);
    assert_eq!(answer.json["client_secret_expires_at"], json!(0));
    authenticate_basic(&dcr, created.str("client_id"), secret)
        .await
        .unwrap();
}

/// RFC 7592 §2.2 with RFC 7591 §2: a confidential client that becomes public
/// (`client_secret_basic` → `none`) loses its secret: no `client_secret` nor
/// `client_secret_expires_at` in the response or on read, and the old secret no
/// longer authenticates.
#[tokio::test]
async fn rfc7592_2_2_update_from_confidential_to_public_drops_the_client_secret() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let client_id = created.str("client_id");
    let old_secret = created.str("client_secret");
    authenticate_basic(&dcr, client_id, old_secret)
        .await
        .unwrap();
    let mut body = update_body(&created.json);
    body["token_endpoint_auth_method"] = json!("none");
    let answer = update(&dcr, &client_path(&created), &rat(&created), body).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    assert_eq!(answer.str("token_endpoint_auth_method"), "none");
    assert!(answer.json.get("client_secret").is_none());
    assert!(answer.json.get("client_secret_expires_at").is_none());
    let stored = read(&dcr, &client_path(&created), &rat(&answer)).await;
    assert!(stored.json.get("client_secret").is_none());
    assert!(stored.json.get("client_secret_expires_at").is_none());

    assert_eq!(
        authenticate_basic(&dcr, client_id, old_secret).await,
        Err(ClientAuthError::InvalidClient)
    );
    let form =
        ClientCredentials::from_request(&http::HeaderMap::new(), Some(client_id), None).unwrap();
    dcr.authenticate_client(&form).await.unwrap();
}

/// RFC 7592 §2.2: the server "MAY include a new client_secret"; by default this
/// server keeps it (no `client_secret` in the response, the old one works), and
/// with `rotate_client_secret_on_update(true)` it issues a new one and the old
/// one stops working at once.
#[tokio::test]
async fn rfc7592_2_2_update_keeps_or_rotates_the_client_secret_as_configured() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let client_id = created.str("client_id");
    let answer = update(
        &dcr,
        &client_path(&created),
        &rat(&created),
        update_body(&created.json),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.json.get("client_secret").is_none());
    authenticate_basic(&dcr, client_id, created.str("client_secret"))
        .await
        .unwrap();

    let dcr = builder()
        .rotate_client_secret_on_update(true)
        .build()
        .unwrap();
    let created = registered(&dcr, web_client()).await;
    let client_id = created.str("client_id");
    let answer = update(
        &dcr,
        &client_path(&created),
        &rat(&created),
        update_body(&created.json),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let new_secret = answer.str("client_secret");
    assert_eq!(new_secret.len(), 43);
    assert_ne!(new_secret, created.str("client_secret"));
    authenticate_basic(&dcr, client_id, new_secret)
        .await
        .unwrap();
    assert_eq!(
        authenticate_basic(&dcr, client_id, created.str("client_secret")).await,
        Err(ClientAuthError::InvalidClient)
    );
}

// ---------------------------------------------------------------------------
// RFC 7592 §2.3: delete.

/// RFC 7592 §2.3: `DELETE` answers `204 No Content` with an empty body; the
/// client, its registration access token and its secret are gone: `GET`, `PUT`
/// and `DELETE` with that token get `401 invalid_token`, and the secret no
/// longer authenticates.
#[tokio::test]
async fn rfc7592_2_3_delete_answers_204_and_invalidates_every_credential() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let token = rat(&created);
    let client_id = created.str("client_id");
    let secret = created.str("client_secret");

    let answer = delete(&dcr, &path, &token).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.raw.is_empty());
    assert!(answer.header("content-type").is_none());

    assert_invalid_token(&read(&dcr, &path, &token).await);
    assert_invalid_token(&update(&dcr, &path, &token, update_body(&created.json)).await);
    assert_invalid_token(&delete(&dcr, &path, &token).await);
    assert_eq!(
        authenticate_basic(&dcr, client_id, secret).await,
        Err(ClientAuthError::InvalidClient)
    );
    assert!(dcr.client(client_id).await.unwrap().is_none());
}

// ---------------------------------------------------------------------------
// RFC 6750 bearer tokens on the client configuration endpoint.

/// RFC 6750 §2.1 with RFC 7235 §2.1: the auth scheme name is case-insensitive.
#[tokio::test]
async fn rfc6750_2_1_bearer_scheme_is_case_insensitive() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let token = rat(&created);
    for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
        let value = format!("{scheme} {token}");
        let answer =
            send_with_headers(&dcr, Method::GET, &path, &[("authorization", &value)], None).await;
        assert_eq!(answer.status, StatusCode::OK, "{scheme}: {:?}", answer.json);
    }
}

/// RFC 6750 §3.1: a request without a token gets `401` with
/// `WWW-Authenticate: Bearer` and no error code in the challenge (another
/// scheme, such as `Basic`, counts as no token).
#[tokio::test]
async fn rfc6750_3_1_missing_token_gets_a_bare_bearer_challenge() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let basic = basic_authorization(created.str("client_id"), created.str("client_secret"));
    for headers in [vec![], vec![("authorization", basic.as_str())]] {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let body = (method == Method::PUT).then(|| update_body(&created.json));
            let answer =
                send_with_headers(&dcr, method.clone(), &path, &headers, body.as_ref()).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method}");
            assert_eq!(
                answer.header("www-authenticate"),
                Some("Bearer"),
                "{method}"
            );
        }
    }
    assert_eq!(
        read(&dcr, &path, &rat(&created)).await.status,
        StatusCode::OK
    );
}

/// RFC 6750 §3.1 and RFC 7592 §2.1–2.3: a wrong token, another client's token,
/// an unknown client and a deleted client all get `401` with
/// `WWW-Authenticate: Bearer error="invalid_token"`.
#[tokio::test]
async fn rfc6750_3_1_invalid_tokens_get_the_invalid_token_challenge() {
    let dcr = open();
    let mine = registered(&dcr, web_client()).await;
    let theirs = registered(&dcr, web_client()).await;
    let gone = registered(&dcr, web_client()).await;
    assert_eq!(
        delete(&dcr, &client_path(&gone), &rat(&gone)).await.status,
        StatusCode::NO_CONTENT
    );
    let wrong = URL_SAFE_NO_PAD.encode([7u8; 32]);
    let cases = [
        ("wrong token", client_path(&mine), wrong.clone()),
        ("another client's token", client_path(&mine), rat(&theirs)),
        (
            "unknown client",
            "/register/no-such-client".to_owned(),
            rat(&mine),
        ),
        ("deleted client", client_path(&gone), rat(&gone)),
    ];
    for (case, path, token) in &cases {
        let read = read(&dcr, path, token).await;
        assert_invalid_token(&read);
        let body = update_body(&mine.json);
        assert_invalid_token(&update(&dcr, path, token, body).await);
        assert_invalid_token(&delete(&dcr, path, token).await);
        let _ = case;
    }
    // Nothing above changed the clients that still exist.
    assert_eq!(
        read(&dcr, &client_path(&mine), &rat(&mine)).await.status,
        200
    );
    assert_eq!(
        read(&dcr, &client_path(&theirs), &rat(&theirs))
            .await
            .status,
        200
    );
}

/// RFC 7592 §2.1 ("the same response as for a client that does not exist") and
/// DESIGN §5: unknown client, wrong token and deleted client give byte-identical
/// responses (status, every header, body), for `GET`, `PUT` and `DELETE`, so
/// nobody learns which client identifiers exist.
#[tokio::test]
async fn rfc7592_2_1_unknown_client_wrong_token_and_deleted_client_are_indistinguishable() {
    let dcr = open();
    let live = registered(&dcr, web_client()).await;
    let gone = registered(&dcr, web_client()).await;
    assert_eq!(
        delete(&dcr, &client_path(&gone), &rat(&gone)).await.status,
        StatusCode::NO_CONTENT
    );
    let wrong = URL_SAFE_NO_PAD.encode([9u8; 32]);
    let body = json!({"client_id": "whatever", "redirect_uris": ["https://x.example/cb"]});
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let send_one = |path: String, token: String| {
            let dcr = dcr.clone();
            let method = method.clone();
            let body = body.clone();
            async move {
                let body = (method == Method::PUT).then_some(&body);
                send(&dcr, request(method.clone(), &path, Some(&token), body)).await
            }
        };
        let unknown = send_one("/register/AAAAAAAAAAAAAAAAAAAAAA".into(), wrong.clone()).await;
        let wrong_token = send_one(client_path(&live), wrong.clone()).await;
        let deleted = send_one(client_path(&gone), rat(&gone)).await;
        for (name, other) in [("wrong token", &wrong_token), ("deleted client", &deleted)] {
            assert_eq!(unknown.status, other.status, "{method} {name}");
            assert_eq!(unknown.headers, other.headers, "{method} {name}");
            assert_eq!(unknown.raw, other.raw, "{method} {name}");
        }
        assert_invalid_token(&unknown);
    }
}

// ---------------------------------------------------------------------------
// RFC 7592 §2.2 / §3: registration access token rotation.

/// RFC 7592 §2.2 ("MAY include a new registration_access_token ... the client
/// MUST immediately discard its previous"): by default every successful `PUT`
/// returns a new token; the new one works, and its first use kills the old one
/// (until then the old one is the way back after a lost answer, RFC 7592
/// §2.2: tests/management/token_rotation.rs).
#[tokio::test]
async fn rfc7592_2_2_registration_access_token_rotates_on_update_by_default() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let old = rat(&created);
    let answer = update(&dcr, &path, &old, update_body(&created.json)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    let new = rat(&answer);
    assert_eq!(URL_SAFE_NO_PAD.decode(&new).unwrap().len(), 32);
    assert_ne!(new, old);
    let fresh = read(&dcr, &path, &new).await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_eq!(fresh.str("registration_access_token"), new);
    assert_invalid_token(&read(&dcr, &path, &old).await);
    assert_invalid_token(&update(&dcr, &path, &old, update_body(&created.json)).await);
    assert_invalid_token(&delete(&dcr, &path, &old).await);
}

/// RFC 7592 §3 with `RatRotation::Never`: `PUT` returns the same token, which
/// keeps working.
#[tokio::test]
async fn rfc7592_3_registration_access_token_is_kept_when_rotation_is_never() {
    let dcr = builder()
        .registration_access_token_rotation(RatRotation::Never)
        .build()
        .unwrap();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let token = rat(&created);
    for name in ["one", "two"] {
        let mut body = update_body(&created.json);
        body["client_name"] = json!(name);
        let answer = update(&dcr, &path, &token, body).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
        assert_eq!(rat(&answer), token);
    }
    let stored = read(&dcr, &path, &token).await;
    assert_eq!(stored.status, StatusCode::OK);
    assert_eq!(stored.str("client_name"), "two");
}

// ---------------------------------------------------------------------------
// Methods.

/// RFC 7592 §2 (GET, PUT, DELETE on the client configuration endpoint) with
/// RFC 9110 §15.5.6: another method is `405` with `Allow: GET, PUT, DELETE`.
#[tokio::test]
async fn rfc7592_2_client_configuration_endpoint_allows_get_put_delete() {
    let dcr = open();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let token = rat(&created);
    for method in [Method::POST, Method::PATCH, Method::HEAD, Method::OPTIONS] {
        let body = (method == Method::POST).then(web_client);
        let answer = send(
            &dcr,
            request(method.clone(), &path, Some(&token), body.as_ref()),
        )
        .await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(answer.header("allow"), Some("GET, PUT, DELETE"), "{method}");
    }
    assert_eq!(read(&dcr, &path, &token).await.status, StatusCode::OK);
}
