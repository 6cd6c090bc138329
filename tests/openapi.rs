//! `openapi.yaml` against the real service: every response the service gives
//! in-process, for every operation and every status it can produce, is
//! documented for that operation, carries the documented headers, and has a
//! body valid against the documented schema (JSON Schema 2020-12, with formats
//! checked). The reverse holds too: every documented status of every operation
//! is produced here at least once.

mod common;

use std::collections::BTreeSet;

use bytes::Bytes;
use common::*;
use http::{Method, Request};
use http_body_util::Full;
use jsonschema::Validator;
use serde_json::{Value, json};
use tower_dcr::Quotas;
use tower_dcr::{Registration, TokenEndpointAuthMethod};

const CLIENT_PATH: &str = "/register/{client_id}";
const IAT: &str = "openapi-initial-access-token";

/// The OpenAPI document.
struct Spec {
    doc: Value,
}

impl Spec {
    fn load() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
        let text = std::fs::read_to_string(path).expect("openapi.yaml at the repository root");
        let doc: Value = serde_norway::from_str(&text).expect("openapi.yaml is YAML");
        assert_eq!(doc["openapi"], "3.1.0");
        Self { doc }
    }

    /// Follows a local `$ref` (`#/components/...`), once or more.
    fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("only local references: {reference}"));
            value = self
                .doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("unresolved reference {reference}"));
        }
        value
    }

    fn operation(&self, path: &str, method: &str) -> &Value {
        let escaped = path.replace('~', "~0").replace('/', "~1");
        self.doc
            .pointer(&format!("/paths/{escaped}/{method}"))
            .unwrap_or_else(|| panic!("{method} {path} is not documented"))
    }

    /// Every (path, method, status) the document describes.
    fn documented(&self) -> BTreeSet<(String, String, u16)> {
        let mut all = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if method == "parameters" {
                    continue;
                }
                for status in operation["responses"].as_object().unwrap().keys() {
                    all.insert((path.clone(), method.clone(), status.parse().unwrap()));
                }
            }
        }
        all
    }

    /// A validator for a schema of the document: the schema itself, with the
    /// document's components beside it so that `#/components/...` resolves.
    fn validator(&self, schema: &Value) -> Validator {
        let mut root = schema.as_object().expect("a schema object").clone();
        root.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        root.insert("components".into(), self.doc["components"].clone());
        jsonschema::options()
            .should_validate_formats(true)
            .build(&Value::Object(root))
            .unwrap_or_else(|e| panic!("invalid schema {schema}: {e}"))
    }

    fn schema(&self, name: &str) -> Validator {
        self.validator(&json!({ "$ref": format!("#/components/schemas/{name}") }))
    }
}

#[track_caller]
fn assert_valid(validator: &Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{instance:#}");
}

/// Checks answers against the document and remembers what was covered.
struct Checker {
    spec: Spec,
    produced: BTreeSet<(String, String, u16)>,
}

impl Checker {
    fn new() -> Self {
        Self {
            spec: Spec::load(),
            produced: BTreeSet::new(),
        }
    }

    /// Asserts that `answer` is a documented response of `method path`.
    #[track_caller]
    fn check(&mut self, path: &str, method: &str, answer: &Answer) {
        // (The other 401 — no credentials at all — has no body, RFC 6750 §3.1:
        // `assert_bare_challenge`.)
        let status = answer.status.as_u16();
        let what = format!("{status} of {method} {path}");
        let operation = self.spec.operation(path, method);
        let response = operation["responses"]
            .get(status.to_string())
            .unwrap_or_else(|| panic!("{what} is not documented: {:?}", answer.json));
        let response = self.spec.resolve(response).clone();
        for (name, header) in response["headers"].as_object().into_iter().flatten() {
            let header = self.spec.resolve(header).clone();
            let value = answer.header(name);
            if header["required"] == true {
                assert!(value.is_some(), "{what}: no {name} header");
            }
            if let Some(value) = value {
                let validator = self.spec.validator(&header["schema"]);
                assert_valid(&validator, &json!(value), &format!("{what}: header {name}"));
            }
        }
        match response.get("content") {
            Some(content) => {
                assert_eq!(
                    answer.header("content-type"),
                    Some("application/json"),
                    "{what}"
                );
                let schema = &content["application/json"]["schema"];
                let validator = self.spec.validator(schema);
                assert_valid(&validator, &answer.json, &what);
            }
            None => assert!(
                answer.raw.is_empty(),
                "{what}: a body where none is documented"
            ),
        }
        self.produced
            .insert((path.to_owned(), method.to_owned(), status));
    }

    /// Asserts that a request body the tests send is valid against the
    /// documented request schema.
    #[track_caller]
    fn check_request(&self, path: &str, method: &str, body: &Value) {
        let operation = self.spec.operation(path, method);
        let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
        let validator = self.spec.validator(schema);
        assert_valid(
            &validator,
            body,
            &format!("request body of {method} {path}"),
        );
    }
}

fn protected() -> Registration {
    Registration::builder(ISSUER)
        .access(tower_dcr::Access::protected([IAT]))
        .build()
        .unwrap()
}

fn raw(
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(body.into())).unwrap()
}

fn full_client() -> Value {
    json!({
        "redirect_uris": ["https://client.example.org/callback", "https://client.example.org/cb2"],
        "client_name": "My Example Client",
        "client_name#ja-Jpan-JP": "クライアント名",
        "client_uri": "https://client.example.org/",
        "logo_uri": "https://client.example.org/logo.png",
        "logo_uri#fr": "https://client.example.org/logo-fr.png",
        "tos_uri": "https://client.example.org/tos",
        "policy_uri": "https://client.example.org/policy",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid profile email",
        "contacts": ["ve7jtb@example.org", "mary@example.org"],
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
        "software_version": "2.1",
        "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]},
        "id_token_signed_response_alg": "RS256",
        "default_max_age": 3600,
        "require_auth_time": true,
        "default_acr_values": ["urn:mace:incommon:iap:silver"],
        "initiate_login_uri": "https://client.example.org/login",
        "request_uris": ["https://client.example.org/request.jwt"],
        "post_logout_redirect_uris": ["https://client.example.org/bye"],
    })
}

fn native_client() -> Value {
    json!({
        "application_type": "native",
        "redirect_uris": ["com.example.app:/oauth2redirect", "http://127.0.0.1/cb", "http://[::1]:8080/cb"],
        "token_endpoint_auth_method": "none",
    })
}

/// Every operation, every status the service can produce in-process.
#[tokio::test]
async fn every_response_matches_the_document() {
    let mut c = Checker::new();
    let service = open();

    // POST /register
    for body in [full_client(), native_client(), web_client()] {
        c.check_request("/register", "post", &body);
        let answer = register(&service, body).await;
        assert_eq!(answer.status, 201, "{:?}", answer.json);
        c.check("/register", "post", &answer);
    }
    let secretive = register(&service, full_client()).await;
    assert!(secretive.json.get("client_secret").is_some());
    let answer = register_with(&protected(), IAT, web_client()).await;
    assert_eq!(answer.status, 201);
    c.check("/register", "post", &answer);
    let no_rat = builder()
        .issue_registration_access_token(false)
        .build()
        .unwrap();
    let answer = register(&no_rat, web_client()).await;
    assert_eq!(answer.status, 201);
    assert!(answer.json.get("registration_access_token").is_none());
    c.check("/register", "post", &answer);

    for body in [
        json!({"redirect_uris": ["https://client.example.org/cb#fragment"]}),
        json!({"redirect_uris": ["https://client.example.org/cb"], "contacts": ["nobody"]}),
        json!(["not", "an", "object"]),
    ] {
        let answer = register(&service, body).await;
        assert_eq!(answer.status, 400);
        c.check("/register", "post", &answer);
    }
    let answer = send_with_headers(
        &protected(),
        Method::POST,
        "/register",
        &[("authorization", "Bearer a b")],
        Some(&web_client()),
    )
    .await;
    answer.assert_error(400, "invalid_request");
    c.check("/register", "post", &answer);

    let answer = register(&protected(), web_client()).await;
    assert_bare_challenge(&answer);
    let answer = register_with(&protected(), "wrong", web_client()).await;
    answer.assert_error(401, "invalid_token");
    c.check("/register", "post", &answer);

    for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
        let answer = send(&service, request(method, "/register", None, None)).await;
        assert_eq!(answer.status, 405);
        c.check("/register", "post", &answer);
    }

    let big = vec![b' '; 64 * 1024 + 1];
    let answer = send(
        &service,
        raw(
            Method::POST,
            "/register",
            &[("content-type", "application/json")],
            big.clone(),
        ),
    )
    .await;
    answer.assert_error(413, "invalid_client_metadata");
    c.check("/register", "post", &answer);

    let answer = send(
        &service,
        raw(
            Method::POST,
            "/register",
            &[("content-type", "text/plain")],
            serde_json::to_vec(&web_client()).unwrap(),
        ),
    )
    .await;
    answer.assert_error(415, "invalid_client_metadata");
    c.check("/register", "post", &answer);

    let quota = builder()
        .quotas(Quotas {
            max_clients: Some(1),
            ..Quotas::default()
        })
        .build()
        .unwrap();
    assert_eq!(register(&quota, web_client()).await.status, 201);
    let answer = register(&quota, web_client()).await;
    answer.assert_error(429, "temporarily_unavailable");
    c.check("/register", "post", &answer);
    #[cfg(feature = "rate-limit")]
    {
        let limited = builder()
            .rate_limit(tower_dcr::rate_limit::RateLimit::per_period(
                std::num::NonZeroU32::new(1).unwrap(),
                std::time::Duration::from_secs(3600),
            ))
            .build()
            .unwrap();
        assert_eq!(register(&limited, web_client()).await.status, 201);
        let answer = register(&limited, web_client()).await;
        answer.assert_error(429, "temporarily_unavailable");
        c.check("/register", "post", &answer);
    }

    let down = builder().store(DownStore).build().unwrap();
    let answer = register(&down, web_client()).await;
    answer.assert_error(503, "temporarily_unavailable");
    c.check("/register", "post", &answer);

    // GET /register/{client_id}
    let path = client_path(&secretive);
    let answer = read(&service, &path, &rat(&secretive)).await;
    assert_eq!(answer.status, 200);
    c.check(CLIENT_PATH, "get", &answer);
    // A client_secret_jwt client: the server holds its secret and returns it.
    let jwt_service = builder()
        .profile(
            tower_dcr::Profile::default()
                .token_endpoint_auth_methods([TokenEndpointAuthMethod::ClientSecretJwt])
                .default_token_endpoint_auth_method(TokenEndpointAuthMethod::ClientSecretJwt),
        )
        .client_assertions(tower_dcr::client_assertion::ClientAssertions::new())
        .build()
        .unwrap();
    let jwt = register(&jwt_service, web_client()).await;
    assert_eq!(jwt.status, 201, "{:?}", jwt.json);
    c.check("/register", "post", &jwt);
    let answer = read(&jwt_service, &client_path(&jwt), &rat(&jwt)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json["client_secret"], jwt.json["client_secret"]);
    c.check(CLIENT_PATH, "get", &answer);

    let answer = send_with_headers(
        &service,
        Method::GET,
        &path,
        &[("authorization", "Bearer a b")],
        None,
    )
    .await;
    answer.assert_error(400, "invalid_request");
    c.check(CLIENT_PATH, "get", &answer);
    let answer = send(&service, request(Method::GET, &path, None, None)).await;
    assert_bare_challenge(&answer);
    for token in [Some("wrong")] {
        let answer = send(&service, request(Method::GET, &path, token, None)).await;
        answer.assert_error(401, "invalid_token");
        c.check(CLIENT_PATH, "get", &answer);
    }
    let answer = read(&service, "/register/unknown", &rat(&secretive)).await;
    answer.assert_error(401, "invalid_token");
    c.check(CLIENT_PATH, "get", &answer);
    for method in [Method::POST, Method::PATCH, Method::HEAD] {
        let answer = send(&service, request(method.clone(), &path, None, None)).await;
        assert_eq!(answer.status, 405, "{method}");
        for operation in ["get", "put", "delete"] {
            c.check(CLIENT_PATH, operation, &answer);
        }
    }
    let answer = read(&down, "/register/abc", "token").await;
    answer.assert_error(503, "temporarily_unavailable");
    c.check(CLIENT_PATH, "get", &answer);

    // PUT /register/{client_id}
    let mut body = update_body(&answer_json(&read(&service, &path, &rat(&secretive)).await));
    body["client_name"] = json!("Renamed");
    c.check_request(CLIENT_PATH, "put", &body);
    let updated = update(&service, &path, &rat(&secretive), body.clone()).await;
    assert_eq!(updated.status, 200, "{:?}", updated.json);
    c.check(CLIENT_PATH, "put", &updated);
    let token = rat(&updated);
    for bad in [
        json!({"client_id": secretive.str("client_id"), "redirect_uris": ["javascript:alert(1)"]}),
        json!({"redirect_uris": ["https://client.example.org/cb"]}),
        json!({"client_id": secretive.str("client_id"), "registration_access_token": token}),
    ] {
        let answer = update(&service, &path, &token, bad).await;
        assert_eq!(answer.status, 400);
        c.check(CLIENT_PATH, "put", &answer);
    }
    let answer = update(&service, &path, "wrong", body.clone()).await;
    answer.assert_error(401, "invalid_token");
    c.check(CLIENT_PATH, "put", &answer);
    let auth = format!("Bearer {token}");
    let answer = send(
        &service,
        raw(
            Method::PUT,
            &path,
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
            ],
            big,
        ),
    )
    .await;
    answer.assert_error(413, "invalid_client_metadata");
    c.check(CLIENT_PATH, "put", &answer);
    let answer = send(
        &service,
        raw(
            Method::PUT,
            &path,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &auth),
            ],
            "client_name=x",
        ),
    )
    .await;
    answer.assert_error(415, "invalid_client_metadata");
    c.check(CLIENT_PATH, "put", &answer);
    let answer = update(&down, "/register/abc", "token", body).await;
    answer.assert_error(503, "temporarily_unavailable");
    c.check(CLIENT_PATH, "put", &answer);

    // DELETE /register/{client_id}
    let answer = send_with_headers(
        &service,
        Method::DELETE,
        &path,
        &[("authorization", "Bearer a b")],
        None,
    )
    .await;
    answer.assert_error(400, "invalid_request");
    c.check(CLIENT_PATH, "delete", &answer);
    let answer = delete(&service, &path, "wrong").await;
    answer.assert_error(401, "invalid_token");
    c.check(CLIENT_PATH, "delete", &answer);
    let answer = delete(&down, "/register/abc", "token").await;
    answer.assert_error(503, "temporarily_unavailable");
    c.check(CLIENT_PATH, "delete", &answer);
    let answer = delete(&service, &path, &token).await;
    assert_eq!(answer.status, 204);
    c.check(CLIENT_PATH, "delete", &answer);
    let answer = delete(&service, &path, &token).await;
    answer.assert_error(401, "invalid_token");
    c.check(CLIENT_PATH, "delete", &answer);

    // The reverse: every documented response was produced.
    let documented = c.spec.documented();
    let missing: Vec<_> = documented.difference(&c.produced).collect();
    assert!(
        missing.is_empty(),
        "documented but never produced: {missing:?}"
    );
    assert_eq!(c.produced, documented);
}

fn answer_json(answer: &Answer) -> Value {
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    answer.json.clone()
}

/// The request examples of the document are valid requests: the schema says
/// so, and so does the service.
#[tokio::test]
async fn request_examples_are_valid_and_accepted() {
    let spec = Spec::load();
    let operation = spec.operation("/register", "post");
    let content = &operation["requestBody"]["content"]["application/json"];
    let validator = spec.validator(&content["schema"]);
    let examples = content["examples"].as_object().unwrap();
    assert!(!examples.is_empty());
    for (name, example) in examples {
        let value = &example["value"];
        assert_valid(&validator, value, name);
        let answer = register(&open(), value.clone()).await;
        assert_eq!(answer.status, 201, "example {name}: {:?}", answer.json);
    }
}

/// Every local reference resolves, every schema compiles, operations have
/// unique identifiers, and each path parameter is declared.
#[test]
fn document_is_well_formed() {
    let spec = Spec::load();
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&spec.doc, &mut all);
    assert!(all.len() > 20);
    for r in all {
        let pointer = r.strip_prefix('#').expect("local reference");
        assert!(spec.doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    for name in spec.doc["components"]["schemas"]
        .as_object()
        .unwrap()
        .keys()
    {
        spec.schema(name);
    }
    let mut ids = BTreeSet::new();
    for (path, item) in spec.doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let id = operation["operationId"].as_str().expect("an operationId");
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty())
            );
        }
        if path.contains("{client_id}") {
            assert_eq!(item["parameters"][0]["name"], "client_id");
            assert_eq!(item["parameters"][0]["in"], "path");
        }
    }
}

/// The schemas are strict enough to catch what the server must never send:
/// without these the checks above could not fail.
#[test]
fn schemas_reject_what_the_server_must_never_send() {
    let spec = Spec::load();
    let information = spec.schema("ClientInformation");
    let configuration = spec.schema("ClientConfiguration");
    let error = spec.schema("Error");
    let metadata = spec.schema("ClientMetadata");
    let update = spec.schema("ClientUpdateRequest");

    let good = json!({"client_id": "c1", "client_secret": "s", "client_secret_expires_at": 0,
        "client_id_issued_at": 1, "registration_access_token": "t",
        "registration_client_uri": "https://auth.example.com/register/c1",
        "redirect_uris": ["https://a.example/cb"], "client_name#fr": "Nom"});
    assert!(information.is_valid(&good));
    assert!(configuration.is_valid(&good));
    let without = |member: &str| {
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove(member);
        v
    };
    assert!(!information.is_valid(&without("client_id")));
    assert!(!information.is_valid(&without("client_secret_expires_at")));
    assert!(information.is_valid(&without("client_secret")));
    assert!(!configuration.is_valid(&without("registration_access_token")));
    assert!(!configuration.is_valid(&without("registration_client_uri")));
    let with = |member: &str, value: Value| {
        let mut v = good.clone();
        v[member] = value;
        v
    };
    assert!(!information.is_valid(&with("client_id", json!(""))));
    assert!(!information.is_valid(&with("client_secret_expires_at", json!(-1))));
    assert!(!information.is_valid(&with("redirect_uris", json!("https://a.example/cb"))));
    assert!(!information.is_valid(&with("client_name#fr", json!(1))));
    assert!(!information.is_valid(&with("logo_uri#fr", json!("not a uri"))));
    assert!(!information.is_valid(&with("token_endpoint_auth_method", json!("magic"))));
    assert!(!information.is_valid(&with("default_max_age", json!(-5))));
    assert!(!information.is_valid(&with("scope", json!("a  b"))));
    assert!(!information.is_valid(&with("contacts", json!(["not-an-email"]))));
    assert!(!metadata.is_valid(&json!({"jwks": {"keys": [{"kty": "EC", "d": "x"}]}})));
    assert!(!metadata.is_valid(&json!({"jwks": {"keys": [{"kty": "oct", "k": "x"}]}})));
    assert!(!metadata.is_valid(&json!({"jwks": {"keys": []}})));
    assert!(metadata.is_valid(&json!({"x_extension": {"any": ["thing"]}})));

    assert!(
        update.is_valid(&json!({"client_id": "c1", "redirect_uris": ["https://a.example/cb"]}))
    );
    assert!(!update.is_valid(&json!({"redirect_uris": ["https://a.example/cb"]})));
    assert!(!update.is_valid(&json!({"client_id": "c1", "registration_access_token": "t"})));

    assert!(error.is_valid(&json!({"error": "invalid_token", "error_description": "d"})));
    assert!(!error.is_valid(&json!({"error": "server_error", "error_description": "d"})));
    assert!(!error.is_valid(&json!({"error": "invalid_token"})));
    assert!(!error.is_valid(&json!({"error": "invalid_token", "error_description": "d", "x": 1})));
}

/// RFC 6750 §3.1: a request without credentials gets `401` with a bare
/// `WWW-Authenticate: Bearer` and no error information (the document's
/// `Unauthorized` response says so; a body-less variant of a status cannot be
/// expressed as a second schema).
#[track_caller]
fn assert_bare_challenge(answer: &Answer) {
    assert_eq!(answer.status, 401);
    assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert!(answer.raw.is_empty(), "{:?}", answer.raw);
}
