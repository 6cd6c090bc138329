//! Every configured size limit, exactly at the limit (accepted, `201`) and one
//! past it (refused): `Limits::max_body_bytes` (`413`), `max_string_length`,
//! `max_array_items`, `max_language_variants` (`400 invalid_client_metadata`,
//! or `invalid_redirect_uri` when the value is a redirect URI), and
//! `Profile::max_redirect_uris` (`400 invalid_redirect_uri`). Each limit is
//! checked with its default value and with a small configured one.

use crate::common;

use bytes::Bytes;
use common::*;
use http::{Method, Request, header};
use http_body_util::Full;
use serde_json::{Map, Value, json};
use tower_dcr::{Limits, Profile, Registration};

const REDIRECT: &str = "https://client.example.org/cb";

fn small_limits() -> Limits {
    Limits {
        max_body_bytes: 1024,
        max_string_length: 64,
        max_array_items: 4,
        max_language_variants: 2,
    }
}

/// The two configurations every limit is checked under: the defaults, and
/// small configured limits.
fn configurations() -> [(Registration, Limits, usize); 2] {
    let defaults = Limits::default();
    [
        (open(), defaults, 16),
        (
            builder()
                .limits(small_limits())
                .profile(Profile::default().max_redirect_uris(3))
                .build()
                .unwrap(),
            small_limits(),
            3,
        ),
    ]
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// A registration body of exactly `size` bytes: a valid document followed by
/// JSON whitespace.
fn body_of_size(size: usize) -> Vec<u8> {
    let mut body = serde_json::to_vec(&json!({ "redirect_uris": [REDIRECT] })).unwrap();
    assert!(body.len() <= size);
    body.resize(size, b' ');
    body
}

fn raw_post(body: Vec<u8>, content_length: bool) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri("/register")
        .header(header::CONTENT_TYPE, "application/json");
    if content_length {
        builder = builder.header(header::CONTENT_LENGTH, body.len());
    }
    builder.body(Full::new(Bytes::from(body))).unwrap()
}

/// A string of exactly `len` bytes, in two-byte characters when `len` is even
/// (the limit counts bytes, not characters).
fn string_of(len: usize) -> String {
    if len.is_multiple_of(2) {
        "é".repeat(len / 2)
    } else {
        "a".repeat(len)
    }
}

/// An https redirect URI of exactly `len` bytes.
fn redirect_of(len: usize) -> String {
    let mut uri = String::from("https://client.example.org/");
    uri.push_str(&"p".repeat(len - uri.len()));
    uri
}

#[track_caller]
fn assert_created(answer: &Answer) {
    assert_eq!(answer.status, 201, "{:?}", answer.json);
}

#[tokio::test]
async fn max_body_bytes_with_and_without_content_length() {
    for (service, limits, _) in configurations() {
        let max = limits.max_body_bytes;
        for content_length in [true, false] {
            let at = send(&service, raw_post(body_of_size(max), content_length)).await;
            assert_created(&at);
            let past = send(&service, raw_post(body_of_size(max + 1), content_length)).await;
            past.assert_error(413, "invalid_client_metadata");
        }
        // Streamed in chunks, with no length known in advance.
        for (size, status) in [(max, 201), (max + 1, 413)] {
            let request = Request::builder()
                .method(Method::POST)
                .uri("/register")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Chunked::new(&body_of_size(size), 100))
                .unwrap();
            let response = tower::ServiceExt::oneshot(service.clone(), request)
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{size} bytes streamed");
        }
    }
}

#[tokio::test]
async fn max_body_bytes_applies_to_updates() {
    for (service, limits, _) in configurations() {
        let created = registered(&service, json!({ "redirect_uris": [REDIRECT] })).await;
        let path = client_path(&created);
        let mut body = serde_json::to_vec(&json!({
            "client_id": created.str("client_id"),
            "redirect_uris": [REDIRECT],
        }))
        .unwrap();
        body.resize(limits.max_body_bytes, b' ');
        let put = |body: Vec<u8>, token: String| {
            Request::builder()
                .method(Method::PUT)
                .uri(path.as_str())
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        };
        let at = send(&service, put(body.clone(), rat(&created))).await;
        assert_eq!(at.status, 200, "{:?}", at.json);
        body.push(b' ');
        let past = send(&service, put(body, rat(&at))).await;
        past.assert_error(413, "invalid_client_metadata");
    }
}

#[tokio::test]
async fn max_string_length_for_metadata_strings() {
    for (service, limits, _) in configurations() {
        let max = limits.max_string_length;
        for member in [
            "client_name",
            "software_id",
            "software_version",
            "scope_like",
        ] {
            let value = |len: usize| -> Value {
                if member == "scope_like" {
                    // A scope of valid tokens, exactly `len` bytes.
                    let mut scope = "s ".repeat(len / 2);
                    if len % 2 == 1 {
                        scope.push('s');
                    } else {
                        scope.pop();
                        scope.push('s');
                    }
                    assert_eq!(scope.len(), len);
                    Value::from(scope)
                } else {
                    Value::from(string_of(len))
                }
            };
            let name = if member == "scope_like" {
                "scope"
            } else {
                member
            };
            let at = register(
                &service,
                json!({ "redirect_uris": [REDIRECT], name: value(max) }),
            )
            .await;
            assert_created(&at);
            assert_eq!(at.json[name], value(max));
            let past = register(
                &service,
                json!({ "redirect_uris": [REDIRECT], name: value(max + 1) }),
            )
            .await;
            past.assert_error(400, "invalid_client_metadata");
            assert!(
                past.description().starts_with(name),
                "{}",
                past.description()
            );
        }
        // A language variant counts like the plain member.
        let at = register(
            &service,
            json!({ "redirect_uris": [REDIRECT], "client_name#fr": string_of(max) }),
        )
        .await;
        assert_created(&at);
        let past = register(
            &service,
            json!({ "redirect_uris": [REDIRECT], "client_name#fr": string_of(max + 1) }),
        )
        .await;
        past.assert_error(400, "invalid_client_metadata");
        // So do the items of an array. An e-mail address has at most 64 bytes
        // before the `@` (RFC 5321 §4.5.3.1.1), so only a small limit can be
        // reached exactly with one.
        let contact = |len: usize| {
            let domain = "@example.org";
            format!("{}{domain}", "a".repeat(len - domain.len()))
        };
        if max <= 64 + "@example.org".len() {
            let at = register(
                &service,
                json!({ "redirect_uris": [REDIRECT], "contacts": [contact(max)] }),
            )
            .await;
            assert_created(&at);
        }
        let past = register(
            &service,
            json!({ "redirect_uris": [REDIRECT], "contacts": [contact(max + 1)] }),
        )
        .await;
        past.assert_error(400, "invalid_client_metadata");
    }
}

#[tokio::test]
async fn max_string_length_for_redirect_uris_is_invalid_redirect_uri() {
    for (service, limits, _) in configurations() {
        let max = limits.max_string_length;
        let at = register(&service, json!({ "redirect_uris": [redirect_of(max)] })).await;
        assert_created(&at);
        let past = register(&service, json!({ "redirect_uris": [redirect_of(max + 1)] })).await;
        past.assert_error(400, "invalid_redirect_uri");
    }
}

#[tokio::test]
async fn max_array_items() {
    for (service, limits, _) in configurations() {
        let max = limits.max_array_items;
        let contacts =
            |n: usize| -> Vec<String> { (0..n).map(|i| format!("ops{i}@example.org")).collect() };
        let at = register(
            &service,
            json!({ "redirect_uris": [REDIRECT], "contacts": contacts(max) }),
        )
        .await;
        assert_created(&at);
        assert_eq!(at.json["contacts"].as_array().unwrap().len(), max);
        let past = register(
            &service,
            json!({ "redirect_uris": [REDIRECT], "contacts": contacts(max + 1) }),
        )
        .await;
        past.assert_error(400, "invalid_client_metadata");
        assert!(past.description().starts_with("contacts"));

        let acr = |n: usize| -> Vec<String> { (0..n).map(|i| format!("acr{i}")).collect() };
        let at = register(
            &service,
            json!({ "redirect_uris": [REDIRECT], "default_acr_values": acr(max) }),
        )
        .await;
        assert_created(&at);
        let past = register(
            &service,
            json!({ "redirect_uris": [REDIRECT], "default_acr_values": acr(max + 1) }),
        )
        .await;
        past.assert_error(400, "invalid_client_metadata");

        // Keys of a JWK Set count too.
        let keys = |n: usize| -> Value {
            let key = json!({"kty": "EC", "crv": "P-256",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
            json!({ "keys": vec![key; n] })
        };
        let at = register(
            &service,
            json!({ "redirect_uris": [REDIRECT], "jwks": keys(max) }),
        )
        .await;
        // The small configuration's string limit does not apply inside jwks.
        assert_created(&at);
        let past = register(
            &service,
            json!({ "redirect_uris": [REDIRECT], "jwks": keys(max + 1) }),
        )
        .await;
        past.assert_error(400, "invalid_client_metadata");
    }
}

#[tokio::test]
async fn max_array_items_for_redirect_uris_is_invalid_redirect_uri() {
    // With max_redirect_uris above max_array_items, the array limit is the one
    // that applies.
    let limits = small_limits();
    let service = builder()
        .limits(limits.clone())
        .profile(Profile::default().max_redirect_uris(100))
        .build()
        .unwrap();
    let uris = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("https://client.example.org/{i}"))
            .collect()
    };
    let at = register(
        &service,
        json!({ "redirect_uris": uris(limits.max_array_items) }),
    )
    .await;
    assert_created(&at);
    let past = register(
        &service,
        json!({ "redirect_uris": uris(limits.max_array_items + 1) }),
    )
    .await;
    past.assert_error(400, "invalid_redirect_uri");
}

#[tokio::test]
async fn max_array_items_for_extension_members() {
    let limits = small_limits();
    let names: Vec<String> = (0..=limits.max_array_items)
        .map(|i| format!("x_ext{i}"))
        .collect();
    let service = builder()
        .limits(limits.clone())
        .extension_members(names.clone())
        .build()
        .unwrap();
    let document = |n: usize| {
        let mut doc = object(json!({ "redirect_uris": [REDIRECT] }));
        for name in &names[..n] {
            doc.insert(name.clone(), json!(1));
        }
        Value::Object(doc)
    };
    let at = register(&service, document(limits.max_array_items)).await;
    assert_created(&at);
    assert_eq!(at.json["x_ext0"], 1);
    let past = register(&service, document(limits.max_array_items + 1)).await;
    past.assert_error(400, "invalid_client_metadata");
}

#[tokio::test]
async fn max_language_variants() {
    for (service, limits, _) in configurations() {
        let max = limits.max_language_variants;
        for member in ["client_name", "logo_uri"] {
            let document = |n: usize| {
                let mut doc = object(json!({ "redirect_uris": [REDIRECT] }));
                for i in 0..n {
                    let value = if member == "logo_uri" {
                        format!("https://client.example.org/{i}.png")
                    } else {
                        format!("name {i}")
                    };
                    doc.insert(format!("{member}#x-v{i}"), value.into());
                }
                Value::Object(doc)
            };
            let at = register(&service, document(max)).await;
            assert_created(&at);
            assert_eq!(
                at.json
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| k.starts_with(&format!("{member}#")))
                    .count(),
                max
            );
            let past = register(&service, document(max + 1)).await;
            past.assert_error(400, "invalid_client_metadata");
            assert!(
                past.description().starts_with(member),
                "{}",
                past.description()
            );
        }
    }
}

#[tokio::test]
async fn max_redirect_uris_of_the_profile() {
    for (service, _, max) in configurations() {
        let uris = |n: usize| -> Vec<String> {
            (0..n)
                .map(|i| format!("https://client.example.org/{i}"))
                .collect()
        };
        let at = register(&service, json!({ "redirect_uris": uris(max) })).await;
        assert_created(&at);
        assert_eq!(at.json["redirect_uris"].as_array().unwrap().len(), max);
        let past = register(&service, json!({ "redirect_uris": uris(max + 1) })).await;
        past.assert_error(400, "invalid_redirect_uri");
    }
}

#[tokio::test]
async fn limits_apply_to_updates() {
    for (service, limits, max_redirects) in configurations() {
        let created = registered(&service, json!({ "redirect_uris": [REDIRECT] })).await;
        let path = client_path(&created);
        let body = |name: String, redirects: usize| {
            let uris: Vec<String> = (0..redirects)
                .map(|i| format!("https://client.example.org/{i}"))
                .collect();
            json!({
                "client_id": created.str("client_id"),
                "redirect_uris": uris,
                "client_name": name,
            })
        };
        let at = update(
            &service,
            &path,
            &rat(&created),
            body(string_of(limits.max_string_length), max_redirects),
        )
        .await;
        assert_eq!(at.status, 200, "{:?}", at.json);
        let token = rat(&at);
        update(
            &service,
            &path,
            &token,
            body(string_of(limits.max_string_length + 1), 1),
        )
        .await
        .assert_error(400, "invalid_client_metadata");
        update(&service, &path, &token, body("n".into(), max_redirects + 1))
            .await
            .assert_error(400, "invalid_redirect_uri");
    }
}
