//! What a host that embeds the crate meets first: the token endpoint's error
//! answers (RFC 6749 §5.2) as `http::Response`s axum returns as is, form
//! fields as axum hands them out, exports at the crate root, failures that say
//! why (a store never migrated, a store that fails during client
//! authentication, a static initial access token that is not a b64token), and
//! a discovery fragment that lists only what the host serves.

use crate::cimd_support;
use crate::common;

use axum::Router;
use axum::extract::{Form, State};
use axum::response::Response;
use axum::routing::post;
use cimd_support::{TestKey, claims, now};
use common::*;
use http::{HeaderMap, Request, StatusCode, header};
use serde::Deserialize;
use tower::ServiceExt as _;
use tower_dcr::client_assertion::{ClientAssertions, JWT_BEARER};
use tower_dcr::host::{ClientAuthError, ClientCredentials, TokenError};
use tower_dcr::{
    ClientStore, ConfigError, MemoryStore, Registration, ServerKind, SqliteStore, StoreError,
};

/// A registered confidential client: (service, client_id, client_secret).
async fn confidential_client(method: &str) -> (Registration, String, String) {
    let dcr = open();
    let mut body = web_client();
    body["token_endpoint_auth_method"] = method.into();
    let a = registered(&dcr, body).await;
    let (id, secret) = (
        a.str("client_id").to_owned(),
        a.str("client_secret").to_owned(),
    );
    (dcr, id, secret)
}

async fn answer(response: http::Response<tower_dcr::ResponseBody>) -> Answer {
    let (parts, body) = response.into_parts();
    let raw = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .to_bytes();
    let json = serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null);
    Answer {
        status: parts.status,
        headers: parts.headers,
        raw,
        json,
    }
}

// ---------------------------------------------------------------------------
// The token endpoint's errors (RFC 6749 §5.2)
// ---------------------------------------------------------------------------

/// RFC 6749 §5.2: a client that tried `Authorization: Basic` and failed gets
/// `401 invalid_client` with a `WWW-Authenticate: Basic` challenge.
#[tokio::test]
async fn rfc6749_5_2_invalid_client_over_basic_is_401_with_a_basic_challenge() {
    let (dcr, id, _) = confidential_client("client_secret_basic").await;
    let headers = authorization_header(&basic_authorization(&id, "wrong"));
    let error = dcr
        .authenticate_token_request(&headers, None, None)
        .await
        .unwrap_err();
    assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    let a = answer(error.into_response()).await;
    a.assert_error(401, "invalid_client");
    let challenge = a.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");
    assert_eq!(a.header("cache-control"), Some("no-store"));
    assert_eq!(a.header("content-type"), Some("application/json"));
}

/// RFC 6749 §5.2: credentials in the form that fail are `invalid_client`
/// without a challenge, answered `400` (a `401` needs a challenge, and the
/// client did not use HTTP authentication).
#[tokio::test]
async fn rfc6749_5_2_invalid_client_in_the_form_is_400_without_a_challenge() {
    let (dcr, id, _) = confidential_client("client_secret_post").await;
    let (client_id, secret) = (Some(id), Some("wrong".to_owned()));
    let error = dcr
        .authenticate_token_request(&HeaderMap::new(), &client_id, &secret)
        .await
        .unwrap_err();
    let a = answer(error.into_response()).await;
    a.assert_error(400, "invalid_client");
    assert!(a.header("www-authenticate").is_none());
}

/// RFC 6749 §2.3 and §5.2: credentials sent two ways are `invalid_request`.
#[tokio::test]
async fn rfc6749_2_3_credentials_two_ways_are_invalid_request() {
    let (dcr, id, secret) = confidential_client("client_secret_basic").await;
    let headers = authorization_header(&basic_authorization(&id, &secret));
    let error = dcr
        .authenticate_token_request(&headers, Some(id.as_str()), Some(secret.as_str()))
        .await
        .unwrap_err();
    answer(error.into_response())
        .await
        .assert_error(400, "invalid_request");
}

/// The right credentials authenticate through the one-call helper, with the
/// form fields as a deserialized form holds them (`&Option<String>`).
#[tokio::test]
async fn authenticate_token_request_accepts_the_fields_of_a_deserialized_form() {
    let (dcr, id, secret) = confidential_client("client_secret_post").await;
    let (client_id, client_secret) = (Some(id.clone()), Some(secret));
    let client = dcr
        .authenticate_token_request(&HeaderMap::new(), &client_id, &client_secret)
        .await
        .unwrap();
    assert_eq!(client.client_id, id);
    let credentials =
        ClientCredentials::from_request(&HeaderMap::new(), &client_id, &client_secret).unwrap();
    assert_eq!(credentials.client_id(), id);
}

/// A store failure during client authentication is its own error, carrying
/// the store error, logged at error level, and answered `503` with
/// `Retry-After` (`temporarily_unavailable`), never `invalid_client`.
#[tokio::test]
async fn authenticate_client_surfaces_and_logs_a_store_failure() {
    let dcr = builder().store(DownStore).build().unwrap();
    let (logs, _guard) = Logs::capture(tracing::Level::TRACE);
    let credentials = ClientCredentials::from_request(
        &authorization_header(&basic_authorization("app", "secret")),
        None,
        None,
    )
    .unwrap();
    let error = dcr.authenticate_client(&credentials).await.unwrap_err();
    let ClientAuthError::Store(store_error) = &error else {
        panic!("expected a store error, got {error:?}");
    };
    assert!(matches!(**store_error, StoreError::Unavailable(_)));
    assert_eq!(error.error_code(), "temporarily_unavailable");
    let line = logs
        .lines()
        .into_iter()
        .find(|l| l.contains("ERROR"))
        .expect("an error-level log line");
    assert!(line.contains("client store failed"), "{line}");
    assert!(line.contains("connection refused"), "{line}");

    let headers = authorization_header(&basic_authorization("app", "secret"));
    let a = answer(TokenError::from_client_auth(&error, &headers).into_response()).await;
    a.assert_error(503, "temporarily_unavailable");
    assert!(a.header("retry-after").is_some());
}

/// RFC 6749 §3.1.2.3: the authorization endpoint's check takes the
/// `redirect_uri` as a deserialized query holds it, and a store failure is
/// logged at error level rather than dropped.
#[tokio::test]
async fn check_redirect_uri_takes_form_fields_and_logs_store_failures() {
    let dcr = open();
    let a = registered(&dcr, web_client()).await;
    let id = a.str("client_id").to_owned();
    let registered_uri = a.json["redirect_uris"][0].as_str().unwrap().to_owned();
    let presented = Some(registered_uri.clone());
    let (_, uri) = dcr.check_redirect_uri(&id, &presented).await.unwrap();
    assert_eq!(uri, registered_uri);

    let down = builder().store(DownStore).build().unwrap();
    let (logs, _guard) = Logs::capture(tracing::Level::TRACE);
    let error = down.check_redirect_uri(&id, &presented).await.unwrap_err();
    assert_eq!(error, tower_dcr::host::RedirectError::Unavailable);
    assert!(
        logs.lines()
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("connection refused")),
        "{:?}",
        logs.lines()
    );
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The host module docs' handler shape: axum hands out `Form<T>`, `?` turns a
/// `TokenError` into the `http::Response` axum sends as is.
async fn token(
    State(dcr): State<Registration>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Result<String, Response> {
    let client = dcr
        .authenticate_token_request(&headers, &form.client_id, &form.client_secret)
        .await?;
    if form.grant_type != "client_credentials" {
        return Err(TokenError::unsupported_grant_type("only client_credentials").into());
    }
    Ok(client.client_id.clone())
}

/// In an axum router, `?` on the helper's error answers RFC 6749 §5.2 as is:
/// `401 invalid_client` + `WWW-Authenticate: Basic` for a bad Basic secret,
/// `400 unsupported_grant_type` from the host's own check.
#[tokio::test]
async fn rfc6749_5_2_errors_pass_through_an_axum_handler_with_question_mark() {
    let (dcr, id, secret) = confidential_client("client_secret_basic").await;
    let app = Router::new().route("/token", post(token)).with_state(dcr);
    let send = |authorization: String, form: &'static str| {
        let app = app.clone();
        async move {
            let request = Request::post("/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::AUTHORIZATION, authorization)
                .body(axum::body::Body::from(form))
                .unwrap();
            let response = app.oneshot(request).await.unwrap();
            let (parts, body) = response.into_parts();
            let raw = axum::body::to_bytes(body, 1 << 16).await.unwrap();
            (parts, raw)
        }
    };
    let (parts, raw) = send(
        basic_authorization(&id, "wrong"),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(parts.status, StatusCode::UNAUTHORIZED);
    assert!(parts.headers.contains_key(header::WWW_AUTHENTICATE));
    let body: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(body["error"], "invalid_client");

    let (parts, raw) = send(basic_authorization(&id, &secret), "grant_type=password").await;
    assert_eq!(parts.status, StatusCode::BAD_REQUEST);
    let body: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");

    let (parts, raw) = send(
        basic_authorization(&id, &secret),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(raw, id.as_bytes());
}

/// RFC 6749 §5.2: each host-side error code with its status; the JSON escapes
/// the description.
#[tokio::test]
async fn rfc6749_5_2_host_error_codes_and_statuses() {
    for (error, status, code) in [
        (TokenError::invalid_request("x"), 400, "invalid_request"),
        (TokenError::invalid_grant("x"), 400, "invalid_grant"),
        (
            TokenError::unauthorized_client("x"),
            400,
            "unauthorized_client",
        ),
        (
            TokenError::unsupported_grant_type("x"),
            400,
            "unsupported_grant_type",
        ),
        (TokenError::invalid_scope("x"), 400, "invalid_scope"),
        (TokenError::invalid_client(true), 401, "invalid_client"),
        (TokenError::invalid_client(false), 400, "invalid_client"),
        (
            TokenError::new("authorization_pending", "x"),
            400,
            "authorization_pending",
        ),
        (
            TokenError::temporarily_unavailable("x"),
            503,
            "temporarily_unavailable",
        ),
        (TokenError::server_error("x"), 500, "server_error"),
    ] {
        answer(error.into_response())
            .await
            .assert_error(status, code);
    }
    let a = answer(TokenError::invalid_grant("a \"quoted\" code").into_response()).await;
    assert_eq!(a.description(), "a \"quoted\" code");
}

// ---------------------------------------------------------------------------
// Exports
// ---------------------------------------------------------------------------

/// Every store and every type the builder takes is nameable from the root.
#[test]
fn stores_and_builder_types_are_at_the_root() {
    fn is_store<S: ClientStore>() {}
    is_store::<MemoryStore>();
    is_store::<SqliteStore>();
    is_store::<tower_dcr::PostgresStore>();
    let _ = ServerKind::OAuthAuthorizationServer;
    let _: Option<tower_dcr::Quotas> = None;
}

// ---------------------------------------------------------------------------
// Failures that say why
// ---------------------------------------------------------------------------

/// A SQLite store whose `migrate()` was never run: registration answers `503`
/// (a retry may work once the operator migrates), and one error-level log
/// line names the missing table and `migrate()`.
#[tokio::test]
async fn a_store_never_migrated_logs_the_missing_table_and_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("dcr.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    let dcr = builder().store(store).build().unwrap();
    let (logs, _guard) = Logs::capture(tracing::Level::TRACE);
    let a = register(&dcr, web_client()).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(a.header("retry-after").is_some());
    let errors: Vec<String> = logs
        .lines()
        .into_iter()
        .filter(|l| l.contains("ERROR"))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("table clients does not exist"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("migrate()"), "{}", errors[0]);
}

/// RFC 6750 §2.1: a static initial access token that is not a b64token fails
/// `build()`, and the message says why and how to fix it, without the token.
#[test]
fn rfc6750_2_1_a_static_token_outside_b64token_fails_build_saying_why() {
    let error = Registration::builder(ISSUER)
        .access(tower_dcr::Access::protected(["good-token", "has a space"]))
        .build()
        .unwrap_err();
    assert_eq!(
        error,
        ConfigError::InvalidInitialAccessToken("static-1".into())
    );
    let message = error.to_string();
    for expected in [
        "static-1",
        "b64token",
        "RFC 6750 §2.1",
        "letters, digits",
        "Bearer",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
    assert!(!message.contains("has a space"), "{message}");
}

// ---------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------

/// The OpenID Connect members of the discovery fragment.
const OPENID_MEMBERS: [&str; 4] = [
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "userinfo_signing_alg_values_supported",
    "request_object_signing_alg_values_supported",
];

/// RFC 8414 §2: a plain OAuth authorization server lists only members it
/// serves: no OpenID Connect member.
#[test]
fn rfc8414_2_a_plain_oauth_server_lists_no_openid_member() {
    let dcr = builder()
        .server_kind(ServerKind::OAuthAuthorizationServer)
        .build()
        .unwrap();
    let d = dcr.discovery_metadata();
    for member in OPENID_MEMBERS {
        assert!(d.get(member).is_none(), "{member}: {d:?}");
    }
    assert!(d.keys().all(|k| !k.starts_with("id_token")
        && !k.starts_with("userinfo")
        && !k.starts_with("request_object")));
    for member in [
        "registration_endpoint",
        "token_endpoint_auth_methods_supported",
        "grant_types_supported",
        "response_types_supported",
    ] {
        assert!(d.contains_key(member), "{member}");
    }
}

/// OpenID Connect Discovery 1.0 §3: an OpenID Provider (the default) lists the
/// OpenID members registration enforces.
#[test]
fn openid_discovery_3_an_openid_provider_lists_the_openid_members() {
    for dcr in [
        open(),
        builder()
            .server_kind(ServerKind::OpenIdProvider)
            .build()
            .unwrap(),
    ] {
        let d = dcr.discovery_metadata();
        for member in OPENID_MEMBERS {
            assert!(d.contains_key(member), "{member}: {d:?}");
        }
    }
}

/// A service whose default profile enables every method
/// `authenticate_token_request_with_assertion` verifies, with client
/// assertions configured.
fn every_method() -> Registration {
    use tower_dcr::TokenEndpointAuthMethod as M;
    let profile = tower_dcr::Profile::default().token_endpoint_auth_methods([
        M::ClientSecretBasic,
        M::ClientSecretPost,
        M::None,
        M::PrivateKeyJwt,
        M::ClientSecretJwt,
    ]);
    Registration::builder(ISSUER)
        .open()
        .profile(profile)
        .client_assertions(ClientAssertions::new())
        .build()
        .unwrap()
}

/// RFC 6749 §2.3.1 (`client_secret_basic`, `client_secret_post`), RFC 7591
/// §2 (`none`) and RFC 7523 §2.2 (`private_key_jwt`, `client_secret_jwt`):
/// one call authenticates a client of each method, from the request's
/// headers and form fields as they arrive.
#[tokio::test]
async fn rfc7523_2_2_one_call_authenticates_every_enabled_method() {
    let dcr = every_method();
    let key = TestKey::p256("k");
    for method in [
        "client_secret_basic",
        "client_secret_post",
        "none",
        "private_key_jwt",
        "client_secret_jwt",
    ] {
        let mut body = web_client();
        body["token_endpoint_auth_method"] = method.into();
        if method == "private_key_jwt" {
            body["jwks"] = key.jwks();
        }
        let a = registered(&dcr, body).await;
        let id = a.str("client_id").to_owned();
        let secret = a.json["client_secret"].as_str().map(str::to_owned);
        let secret = secret.as_deref();
        let hmac = |secret: &str| {
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &claims(&id, ISSUER),
                &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
            )
            .unwrap()
        };
        let (headers, fields) = match method {
            "client_secret_basic" => (
                authorization_header(&basic_authorization(&id, secret.unwrap())),
                [None, None, None, None],
            ),
            "client_secret_post" => (
                HeaderMap::new(),
                [Some(id.clone()), secret.map(str::to_owned), None, None],
            ),
            "none" => (HeaderMap::new(), [Some(id.clone()), None, None, None]),
            "private_key_jwt" => (
                HeaderMap::new(),
                [
                    None,
                    None,
                    Some(JWT_BEARER.into()),
                    Some(key.sign(&claims(&id, ISSUER))),
                ],
            ),
            _ => (
                HeaderMap::new(),
                [
                    Some(id.clone()),
                    None,
                    Some(JWT_BEARER.into()),
                    Some(hmac(secret.unwrap())),
                ],
            ),
        };
        let [client_id, client_secret, assertion_type, assertion] = &fields;
        let client = dcr
            .authenticate_token_request_with_assertion(
                &headers,
                client_id,
                client_secret,
                assertion_type,
                assertion,
            )
            .await
            .unwrap_or_else(|e| panic!("{method}: {e:?}"));
        assert_eq!(client.client_id, id, "{method}");
        // The form without the assertion fields cannot authenticate a JWT
        // client.
        if method.ends_with("_jwt") {
            let error = dcr
                .authenticate_token_request(&headers, client_id, client_secret)
                .await
                .unwrap_err();
            assert_eq!(error.error_code(), "invalid_client", "{method}");
        }
    }
}

/// Why an assertion was refused is logged at info level, a
/// short reason and never the assertion itself.
#[tokio::test]
async fn a_refused_assertion_is_logged_at_info_with_its_reason() {
    let dcr = every_method();
    let key = TestKey::p256("k");
    let mut body = web_client();
    body["token_endpoint_auth_method"] = "private_key_jwt".into();
    body["jwks"] = key.jwks();
    let id = registered(&dcr, body).await.str("client_id").to_owned();
    let mut expired = claims(&id, ISSUER);
    expired["iat"] = (now() - 600).into();
    expired["exp"] = (now() - 300).into();
    let assertion = key.sign(&expired);
    let (logs, _guard) = Logs::capture(tracing::Level::TRACE);
    let error = dcr
        .authenticate_token_request_with_assertion(
            &HeaderMap::new(),
            Some(id.as_str()),
            None,
            Some(JWT_BEARER),
            Some(assertion.as_str()),
        )
        .await
        .unwrap_err();
    assert_eq!(error.error_code(), "invalid_client");
    let lines = logs.lines();
    assert!(
        lines.iter().any(|l| l.contains(" INFO ")
            && l.contains("client assertion refused")
            && l.contains("reason=\"expired\"")),
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| !l.contains(&assertion)));
}
