//! Property tests: whatever JSON arrives, the service answers with a 4xx or a
//! 201, never a 5xx, and never panics.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

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

// ---------------------------------------------------------------------------
// Valid by construction: accepted, echoed, stored; one broken rule: refused
// with the right error code.

/// Members the server adds to a document that did not send them (RFC 7591 §2
/// and OIDC DCR §2 defaults).
const DEFAULTED: [&str; 4] = [
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "application_type",
];

/// A DNS name under `.example`: one to three labels.
fn host() -> impl Strategy<Value = String> {
    // No label starts with "x" so none is an IDNA "xn--" label.
    prop::collection::vec("[a-w]([a-z0-9-]{0,8}[a-z0-9])?", 1..3)
        .prop_map(|labels| format!("{}.example", labels.join(".")))
}

/// An absolute path of unreserved characters, possibly empty.
fn path() -> impl Strategy<Value = String> {
    prop::collection::vec("[A-Za-z0-9._~-]{1,8}", 0..4)
        .prop_map(|segments| segments.iter().map(|s| format!("/{s}")).collect::<String>())
}

fn query() -> impl Strategy<Value = String> {
    prop::option::of("[a-z]{1,5}=[A-Za-z0-9]{0,6}")
        .prop_map(|q| q.map(|q| format!("?{q}")).unwrap_or_default())
}

fn https_uri() -> impl Strategy<Value = String> {
    (host(), path(), query()).prop_map(|(h, p, q)| format!("https://{h}{p}{q}"))
}

fn loopback_uri() -> impl Strategy<Value = String> {
    (
        prop::sample::select(&["127.0.0.1", "[::1]", "localhost"][..]),
        prop::option::of(1u16..),
        path(),
    )
        .prop_map(|(h, port, p)| match port {
            Some(port) => format!("http://{h}:{port}{p}"),
            None => format!("http://{h}{p}"),
        })
}

/// RFC 8252 §7.1: a reverse domain name scheme.
fn private_use_uri() -> impl Strategy<Value = String> {
    ("[a-z][a-z0-9]{0,8}", path()).prop_map(|(x, p)| {
        let p = if p.is_empty() { "/".to_owned() } else { p };
        format!("com.example.{x}:{p}")
    })
}

/// Well-formed BCP 47 tags: language, language-REGION, language-Script,
/// language-Script-REGION, and a few irregular ones.
fn language_tag() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{2,3}",
        "[a-z]{2,3}-[A-Z]{2}",
        "[a-z]{2}-[A-Z][a-z]{3}",
        "[a-z]{2}-[A-Z][a-z]{3}-[A-Z]{2}",
        "[a-z]{2}-[0-9]{3}",
        "x-[a-z0-9]{1,8}",
        prop::sample::select(
            &[
                "de-CH-1901",
                "sr-Latn-RS",
                "en-GB-oed",
                "i-klingon",
                "zh-Hant-TW"
            ][..]
        )
        .prop_map(str::to_owned),
    ]
}

/// Up to three variants with distinct tags (BCP 47 tags compare
/// case-insensitively).
fn variants<S: Strategy<Value = String>>(value: S) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((language_tag(), value), 0..4).prop_map(|pairs| {
        let mut seen = std::collections::HashSet::new();
        pairs
            .into_iter()
            .filter(|(tag, _)| seen.insert(tag.to_ascii_lowercase()))
            .collect()
    })
}

fn email() -> impl Strategy<Value = String> {
    ("[a-z0-9]{1,10}(\\.[a-z0-9]{1,5})?", host()).prop_map(|(local, h)| format!("{local}@{h}"))
}

/// RFC 6749 §3.3 scope tokens: `1*( %x21 / %x23-5B / %x5D-7E )`.
fn scope() -> impl Strategy<Value = String> {
    prop::collection::vec("[!#-\\[\\]-~]{1,10}", 1..5).prop_map(|tokens| tokens.join(" "))
}

/// Grant and response types that agree (RFC 7591 §2.1), or neither (defaults).
fn grants() -> impl Strategy<Value = Option<(Value, Option<Value>)>> {
    prop::sample::select(&[0usize, 1, 2, 3, 4][..]).prop_map(|i| match i {
        0 => None,
        1 => Some((json!(["authorization_code"]), Some(json!(["code"])))),
        2 => Some((
            json!(["authorization_code", "refresh_token"]),
            Some(json!(["code"])),
        )),
        3 => Some((json!(["client_credentials"]), None)),
        _ => Some((json!(["authorization_code", "client_credentials"]), None)),
    })
}

const EC_KEY: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}"#;

/// A registration document valid under the default profile, with its
/// application type.
fn valid_document() -> impl Strategy<Value = (Map<String, Value>, bool)> {
    any::<bool>()
        .prop_flat_map(|native| {
            // Web clients: https, or http on loopback (the default profile allows
            // it); native clients: private-use schemes, loopback, or claimed https.
            let uri = if native {
                prop_oneof![private_use_uri(), loopback_uri(), https_uri()].boxed()
            } else {
                prop_oneof![3 => https_uri(), 1 => loopback_uri()].boxed()
            };
            (
                Just(native),
                prop::collection::vec(uri, 1..5),
                grants(),
                prop::option::of(prop::sample::select(
                    &["none", "client_secret_basic", "client_secret_post"][..],
                )),
                prop::option::of("\\PC{1,40}"),
                variants("\\PC{1,20}".boxed()),
                prop::option::of(https_uri()),
                variants(https_uri().boxed()),
                prop::option::of(prop::collection::vec(email(), 1..4)),
                prop::option::of(scope()),
                (
                    prop::option::of(https_uri()),
                    prop::option::of(https_uri()),
                    prop::option::of("[A-Za-z0-9-]{1,20}"),
                    prop::option::of("[0-9]{1,2}(\\.[0-9]{1,2}){0,2}"),
                    prop::option::of(any::<u32>()),
                    prop::option::of(any::<bool>()),
                    any::<bool>(),
                    any::<bool>(),
                ),
            )
        })
        .prop_map(
            |(
                native,
                uris,
                grants,
                auth,
                name,
                name_variants,
                logo,
                logo_variants,
                contacts,
                scope,
                rest,
            )| {
                let (
                    tos,
                    policy,
                    software_id,
                    software_version,
                    max_age,
                    auth_time,
                    jwks,
                    explicit_type,
                ) = rest;
                // Repeated redirect URIs are refused (RFC 7591 §2):
                // a valid document lists each once.
                let mut uris = uris;
                let mut seen = std::collections::HashSet::new();
                uris.retain(|u| seen.insert(u.clone()));
                let mut doc = Map::new();
                doc.insert("redirect_uris".into(), json!(uris));
                if native || explicit_type {
                    doc.insert(
                        "application_type".into(),
                        json!(if native { "native" } else { "web" }),
                    );
                }
                if let Some((g, r)) = grants {
                    doc.insert("grant_types".into(), g);
                    if let Some(r) = r {
                        doc.insert("response_types".into(), r);
                    }
                }
                // RFC 6749 §4.4: client_credentials is for confidential clients.
                let machine = doc
                    .get("grant_types")
                    .and_then(Value::as_array)
                    .is_some_and(|g| g.iter().any(|g| g == "client_credentials"));
                if let Some(auth) = auth.filter(|a| !(machine && *a == "none")) {
                    doc.insert("token_endpoint_auth_method".into(), json!(auth));
                }
                if let Some(name) = name {
                    doc.insert("client_name".into(), json!(name));
                }
                for (tag, v) in name_variants {
                    doc.insert(format!("client_name#{tag}"), json!(v));
                }
                if let Some(logo) = logo {
                    doc.insert("logo_uri".into(), json!(logo));
                }
                for (tag, v) in logo_variants {
                    doc.insert(format!("logo_uri#{tag}"), json!(v));
                }
                if let Some(c) = contacts {
                    doc.insert("contacts".into(), json!(c));
                }
                if let Some(s) = scope {
                    doc.insert("scope".into(), json!(s));
                }
                if let Some(t) = tos {
                    doc.insert("tos_uri".into(), json!(t));
                }
                if let Some(p) = policy {
                    doc.insert("policy_uri".into(), json!(p));
                }
                if let Some(id) = software_id {
                    doc.insert("software_id".into(), json!(id));
                }
                if let Some(v) = software_version {
                    doc.insert("software_version".into(), json!(v));
                }
                if let Some(age) = max_age {
                    doc.insert("default_max_age".into(), json!(age));
                }
                if let Some(b) = auth_time {
                    doc.insert("require_auth_time".into(), json!(b));
                }
                if jwks {
                    let key: Value = serde_json::from_str(EC_KEY).unwrap();
                    doc.insert("jwks".into(), json!({ "keys": [key] }));
                }
                (doc, native)
            },
        )
}

/// The metadata members of a client information response.
fn metadata_of(json: &Value) -> Map<String, Value> {
    json.as_object()
        .expect("client information is an object")
        .iter()
        .filter(|(k, _)| !RESPONSE_ONLY_MEMBERS.contains(&k.as_str()) && *k != "client_id")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// One rule broken in an otherwise valid document, with the error code
/// RFC 7591 §3.2.2 prescribes.
#[derive(Clone, Debug)]
enum Mutation {
    /// RFC 6749 §3.1.2: no fragment.
    FragmentInRedirectUri(String),
    /// A scheme that runs code or reads local data.
    ForbiddenScheme(&'static str),
    /// OIDC DCR §2 / RFC 8252 §7.3: http only on loopback.
    HttpNonLoopback(String),
    /// Not an absolute URI, or with userinfo, or https without authority.
    MalformedRedirectUri(&'static str),
    /// A private-use scheme for a web client.
    PrivateUseForWeb,
    /// RFC 7591 §2: contacts are e-mail addresses.
    InvalidContact(&'static str),
    /// RFC 7591 §2.2: BCP 47 tags only.
    BadLanguageTag(&'static str),
    /// The same tag twice (case-insensitively).
    DuplicateLanguageTag,
    /// RFC 7591 §2.1: grant and response types must agree.
    InconsistentGrantAndResponse(usize),
    /// RFC 7591 §2: public keys only.
    JwksPrivateMember(&'static str),
    /// RFC 7591 §2: not both.
    JwksAndJwksUri,
    /// A member with the wrong JSON type.
    WrongJsonType(&'static str, Value),
    /// Longer than `Limits::max_string_length`.
    TooLongString(&'static str),
    /// RFC 6749 §3.3 scope syntax.
    InvalidScope(&'static str),
    /// A `token_endpoint_auth_method` the profile does not allow, or unknown.
    UnsupportedAuthMethod(&'static str),
    /// A web page URL that is not http(s).
    NonHttpUrl(&'static str),
}

impl Mutation {
    fn expected(&self) -> &'static str {
        match self {
            Self::FragmentInRedirectUri(_)
            | Self::ForbiddenScheme(_)
            | Self::HttpNonLoopback(_)
            | Self::MalformedRedirectUri(_)
            | Self::PrivateUseForWeb => "invalid_redirect_uri",
            Self::WrongJsonType("redirect_uris", _) => "invalid_redirect_uri",
            _ => "invalid_client_metadata",
        }
    }

    fn apply(&self, doc: &mut Map<String, Value>, index: usize) {
        let uris = doc["redirect_uris"].as_array_mut().unwrap();
        let i = index % uris.len();
        match self {
            Self::FragmentInRedirectUri(fragment) => {
                let uri = uris[i].as_str().unwrap().to_owned();
                uris[i] = json!(format!("{uri}#{fragment}"));
            }
            Self::ForbiddenScheme(uri) | Self::MalformedRedirectUri(uri) => uris[i] = json!(uri),
            Self::HttpNonLoopback(host) => uris[i] = json!(format!("http://{host}/cb")),
            Self::PrivateUseForWeb => {
                uris[i] = json!("com.example.app:/cb");
                doc.insert("application_type".into(), json!("web"));
            }
            Self::InvalidContact(contact) => {
                doc.insert("contacts".into(), json!(["ops@client.example", contact]));
            }
            Self::BadLanguageTag(tag) => {
                doc.insert(format!("client_name#{tag}"), json!("name"));
            }
            Self::DuplicateLanguageTag => {
                doc.insert("client_name#fr-CA".into(), json!("un"));
                doc.insert("client_name#FR-ca".into(), json!("deux"));
            }
            Self::InconsistentGrantAndResponse(which) => {
                let (g, r) = [
                    (json!(["client_credentials"]), json!(["code"])),
                    (json!(["authorization_code"]), json!([])),
                    (json!(["refresh_token"]), json!(["code"])),
                    (json!(["authorization_code"]), json!(["token"])),
                ][which % 4]
                    .clone();
                doc.insert("grant_types".into(), g);
                doc.insert("response_types".into(), r);
            }
            Self::JwksPrivateMember(member) => {
                let mut key: Map<String, Value> = serde_json::from_str(EC_KEY).unwrap();
                key.insert((*member).into(), json!("AAAA"));
                doc.remove("jwks_uri");
                doc.insert("jwks".into(), json!({ "keys": [key] }));
            }
            Self::JwksAndJwksUri => {
                let key: Value = serde_json::from_str(EC_KEY).unwrap();
                doc.insert("jwks".into(), json!({ "keys": [key] }));
                doc.insert("jwks_uri".into(), json!("https://client.example/jwks"));
            }
            Self::WrongJsonType(member, value) => {
                doc.insert((*member).into(), value.clone());
            }
            Self::TooLongString(member) => {
                let value = if *member == "logo_uri" {
                    format!("https://client.example/{}", "l".repeat(2048))
                } else {
                    "n".repeat(2049)
                };
                doc.insert((*member).into(), json!(value));
            }
            Self::InvalidScope(scope) => {
                doc.insert("scope".into(), json!(scope));
            }
            Self::UnsupportedAuthMethod(method) => {
                doc.insert("token_endpoint_auth_method".into(), json!(method));
            }
            Self::NonHttpUrl(uri) => {
                doc.insert("logo_uri".into(), json!(uri));
            }
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        "[a-z0-9]{0,6}".prop_map(Mutation::FragmentInRedirectUri),
        prop::sample::select(
            &[
                "javascript:alert(1)",
                "javascript://client.example/%0Aalert(1)",
                "JavaScript:alert(1)",
                "data:text/html,<script>alert(1)</script>",
                "vbscript:msgbox(1)",
                "file:///etc/passwd",
                "blob:https://client.example/uuid",
                "about:blank",
            ][..]
        )
        .prop_map(Mutation::ForbiddenScheme),
        prop_oneof![
            host(),
            Just("127.0.0.2".to_owned()),
            Just("10.0.0.1".to_owned()),
            Just("localhost.".to_owned())
        ]
        .prop_map(Mutation::HttpNonLoopback),
        prop::sample::select(
            &[
                "/relative/cb",
                "client.example/cb",
                "https://user:pw@client.example/cb",
                "https://user@client.example/cb",
                "https:client.example/cb",
                "https:/client.example/cb",
                "https://client.example/c b",
                "https://client.example/cb\n",
                "https://",
            ][..]
        )
        .prop_map(Mutation::MalformedRedirectUri),
        Just(Mutation::PrivateUseForWeb),
        prop::sample::select(
            &[
                "not-an-email",
                "@client.example",
                "ops@",
                "a b@client.example",
                "Ops <ops@client.example>"
            ][..]
        )
        .prop_map(Mutation::InvalidContact),
        prop::sample::select(
            &[
                "en_US",
                "",
                "-fr",
                "fr-",
                "toolonglanguage",
                "12",
                "fr--CA",
                "a-DE"
            ][..]
        )
        .prop_map(Mutation::BadLanguageTag),
        Just(Mutation::DuplicateLanguageTag),
        (0usize..4).prop_map(Mutation::InconsistentGrantAndResponse),
        prop::sample::select(&["d", "p", "q", "dp", "dq", "qi", "oth", "k"][..])
            .prop_map(Mutation::JwksPrivateMember),
        Just(Mutation::JwksAndJwksUri),
        prop::sample::select(vec![
            ("redirect_uris", json!("https://client.example/cb")),
            ("redirect_uris", json!([1])),
            ("redirect_uris", json!([""])),
            ("client_name", json!(5)),
            ("client_name", json!(["a"])),
            ("contacts", json!("ops@client.example")),
            ("grant_types", json!("authorization_code")),
            ("default_max_age", json!(-1)),
            ("default_max_age", json!("3600")),
            ("default_max_age", json!(1.5)),
            ("require_auth_time", json!("true")),
            ("jwks", json!([])),
            ("jwks", json!("{}")),
            ("scope", json!(["openid"])),
            ("application_type", json!("desktop")),
            ("token_endpoint_auth_method", json!(1)),
            ("client_name#fr", json!(true)),
        ])
        .prop_map(|(m, v)| Mutation::WrongJsonType(m, v)),
        prop::sample::select(&["client_name", "software_id", "logo_uri", "scope"][..])
            .prop_map(Mutation::TooLongString),
        prop::sample::select(&["openid  profile", " openid", "openid ", "a\"b", "a\\b", "é"][..])
            .prop_map(Mutation::InvalidScope),
        prop::sample::select(
            &[
                "client_secret_jwt",
                "private_key_jwt_x",
                "tls_client_auth",
                "unknown"
            ][..]
        )
        .prop_map(Mutation::UnsupportedAuthMethod),
        prop::sample::select(
            &[
                "javascript:alert(1)",
                "ftp://client.example/logo.png",
                "logo.png",
                "https://"
            ][..]
        )
        .prop_map(Mutation::NonHttpUrl),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    /// Valid-by-construction documents (https redirect URIs on generated hosts,
    /// private-use schemes and loopback for native clients, unicode names with
    /// BCP 47 variants, e-mail contacts, scope tokens, consistent grant and
    /// response types) are always accepted, and the 201 echoes every member
    /// sent, unchanged, plus only the RFC 7591 §2 / OIDC DCR §2 defaults.
    /// RFC 7592 §2.1: a GET with the registration access token returns the same
    /// metadata; RFC 7592 §2.2: a PUT of that metadata keeps it unchanged.
    #[test]
    fn valid_documents_are_accepted_and_round_trip((doc, native) in valid_document()) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let service = open();
            let created = register(&service, Value::Object(doc.clone())).await;
            prop_assert_eq!(created.status.as_u16(), 201, "{:?}\n{:?}", created.json, doc);
            let echoed = metadata_of(&created.json);
            for (member, value) in &doc {
                prop_assert_eq!(echoed.get(member), Some(value), "{} not echoed", member);
            }
            for member in echoed.keys() {
                prop_assert!(
                    doc.contains_key(member) || DEFAULTED.contains(&member.as_str()),
                    "{} added", member
                );
            }
            prop_assert_eq!(
                &echoed["application_type"],
                &json!(if native { "native" } else { "web" })
            );

            let path = client_path(&created);
            let read = read(&service, &path, &rat(&created)).await;
            prop_assert_eq!(read.status.as_u16(), 200, "{:?}", read.json);
            prop_assert_eq!(metadata_of(&read.json), echoed.clone());
            for member in ["client_id", "client_id_issued_at", "client_secret_expires_at", "registration_client_uri"] {
                prop_assert_eq!(&read.json[member], &created.json[member], "{}", member);
            }

            let updated = update(&service, &path, &rat(&read), update_body(&read.json)).await;
            prop_assert_eq!(updated.status.as_u16(), 200, "{:?}", updated.json);
            prop_assert_eq!(metadata_of(&updated.json), echoed);
            Ok(())
        })?;
    }

    /// One broken rule in an otherwise valid document is always refused with
    /// the error code RFC 7591 §3.2.2 prescribes for it, at registration and
    /// in an update.
    #[test]
    fn one_broken_rule_is_refused_with_its_code(
        (doc, _) in valid_document(),
        mutation in mutation(),
        index in any::<usize>(),
    ) {
        let mut broken = doc.clone();
        mutation.apply(&mut broken, index);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let service = open();
            let answer = register(&service, Value::Object(broken.clone())).await;
            prop_assert_eq!(answer.status.as_u16(), 400, "{:?} accepted: {:?}", mutation, broken);
            prop_assert_eq!(answer.error(), mutation.expected(), "{:?}: {:?}", mutation, answer.json);
            prop_assert!(!answer.description().is_empty());

            let created = register(&service, Value::Object(doc)).await;
            prop_assert_eq!(created.status.as_u16(), 201, "{:?}", created.json);
            broken.insert("client_id".into(), created.json["client_id"].clone());
            let answer = update(&service, &client_path(&created), &rat(&created), Value::Object(broken)).await;
            prop_assert_eq!(answer.status.as_u16(), 400, "{:?} accepted in an update", mutation);
            prop_assert_eq!(answer.error(), mutation.expected(), "{:?}: {:?}", mutation, answer.json);
            Ok(())
        })?;
    }
}

// ---------------------------------------------------------------------------
// Host helpers that read untrusted request data.

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// `Localized::best_match` reads `Accept-Language` ranges: any text, no
    /// panic, and the answer is always one of the stored values.
    #[test]
    fn best_match_never_panics(ranges in prop::collection::vec("[a-zA-Z0-9*_ -]{0,16}|\\PC{0,8}", 0..4)) {
        let tag = |t: &str| oxilangtag::LanguageTag::parse(t.to_owned()).unwrap();
        let name = tower_dcr::Localized::new("Example")
            .with_translation(tag("fr-CA"), "Exemple")
            .with_translation(tag("zh-Hant-TW"), "範例");
        let found = name.best_match(&ranges);
        prop_assert!(matches!(found, Some("Example" | "Exemple" | "範例")));
    }

    /// `ClientCredentials::from_request` reads the `Authorization` header and
    /// form fields of a token request: any bytes, no panic; a Basic header that
    /// is not Base64 of `id:secret` is `invalid_request`, never a client.
    #[test]
    fn client_credentials_never_panic(
        scheme in prop::sample::select(&["Basic", "basic", "Bearer", "", "Basic  "][..]),
        rest in "[A-Za-z0-9+/=%: ]{0,40}",
        form_id in prop::option::of(".{0,10}"),
        form_secret in prop::option::of(".{0,10}"),
    ) {
        let headers = http::HeaderMap::from_iter([(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("{scheme} {rest}")).unwrap(),
        )]);
        let result = tower_dcr::host::ClientCredentials::from_request(
            &headers,
            form_id.as_deref(),
            form_secret.as_deref(),
        );
        use base64::Engine as _;
        let basic = scheme.trim().eq_ignore_ascii_case("basic");
        let decodes = base64::engine::general_purpose::STANDARD.decode(rest.trim()).is_ok();
        if basic && !decodes {
            prop_assert!(
                matches!(result, Err(tower_dcr::host::ClientAuthError::InvalidRequest)),
                "{:?}", result.map(|c| c.client_id().to_owned())
            );
        }
        if let Ok(credentials) = result {
            prop_assert!(!credentials.client_id().is_empty() || form_id.as_deref() == Some(""));
        }
    }
}
