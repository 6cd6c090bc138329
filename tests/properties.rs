//! Property tests: whatever JSON arrives, the service answers with a 4xx or a
//! 201, never a 5xx, and never panics.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Member names worth hitting: every typed member, language-tagged variants,
/// response-only members, and junk.
const KEYS: &[&str] = &[
    "redirect_uris",
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "client_name",
    "client_name#fr",
    "client_name#x-",
    "client_uri",
    "logo_uri#de-CH",
    "scope",
    "contacts",
    "tos_uri",
    "policy_uri",
    "jwks_uri",
    "jwks",
    "software_id",
    "software_version",
    "software_statement",
    "application_type",
    "sector_identifier_uri",
    "subject_type",
    "id_token_signed_response_alg",
    "id_token_encrypted_response_alg",
    "id_token_encrypted_response_enc",
    "userinfo_signed_response_alg",
    "default_max_age",
    "require_auth_time",
    "default_acr_values",
    "initiate_login_uri",
    "request_uris",
    "post_logout_redirect_uris",
    "client_id",
    "client_secret",
    "registration_access_token",
    "keys",
    "kty",
    "d",
    "x",
    "",
    "#",
    "a#b",
];

const STRINGS: &[&str] = &[
    "https://client.example.org/cb",
    "http://127.0.0.1:8080/cb",
    "com.example.app:/cb",
    "javascript:alert(1)",
    "native",
    "web",
    "none",
    "code",
    "token",
    "id_token code",
    "authorization_code",
    "implicit",
    "client_credentials",
    "client_secret_post",
    "private_key_jwt",
    "RS256",
    "a@b.example",
    "openid profile",
    "",
    " ",
    "\u{0}",
    "é",
    "pairwise",
    "EC",
    "oct",
    "https://",
    "http://[::1]",
    "💥",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop::sample::select(STRINGS).prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|pairs| {
                Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn document() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec(
        (
            prop_oneof![
                prop::sample::select(KEYS).prop_map(str::to_owned),
                ".{0,12}"
            ],
            json_value(),
        ),
        0..12,
    )
    .prop_map(|pairs| pairs.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    /// Arbitrary JSON objects never panic the parser and validator, and the
    /// service answers 201 or a 400 with an RFC 7591 error code.
    #[test]
    fn arbitrary_documents_never_yield_5xx(doc in document()) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let answer = runtime.block_on(register(&open(), Value::Object(doc)));
        prop_assert!(answer.status == 201 || answer.status == 400, "{}: {:?}", answer.status, answer.json);
        if answer.status == 400 {
            prop_assert!(
                ["invalid_client_metadata", "invalid_redirect_uri"].contains(&answer.error()),
                "{:?}", answer.json
            );
        }
    }

    /// Arbitrary JSON values (not only objects) as the body never yield a 5xx.
    #[test]
    fn arbitrary_bodies_never_yield_5xx(value in json_value()) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let answer = runtime.block_on(register(&open(), value));
        prop_assert!(answer.status.is_client_error() || answer.status == 201, "{}", answer.status);
    }
}
