//! The management path (RFC 7592 §2.2): arbitrary `PUT` bodies against a
//! stored client.
//!
//! Each iteration builds a fresh service (default rotation, rotation with a
//! grace period for the previous token, no rotation, or a profile with more
//! methods and algorithms), registers one client of a chosen kind, then sends
//! up to eight `PUT` bodies: raw bytes, or the client's current configuration
//! (as GET returns it, server-issued members included) with members changed.
//!
//! Checks, besides `check_response`: a refused update (4xx) leaves the stored
//! client exactly as it was and its token working; an accepted one (200) is
//! what a GET returns afterwards, and sending that configuration straight back
//! is accepted again without changing any metadata (read, modify, write is
//! stable).
#![no_main]

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use http::{Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use tower_dcr::{Profile, RatRotation, Registration, TokenEndpointAuthMethod};
use tower_dcr_fuzz::{check_response, client_path, metadata_members, request, send};

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Config {
    Default,
    Grace,
    NoRotation,
    Wide,
}

impl Config {
    fn build(self) -> Registration {
        let builder = Registration::builder(tower_dcr_fuzz::ISSUER).open();
        let builder = match self {
            Self::Default => builder,
            Self::Grace => builder.registration_access_token_grace(Duration::from_secs(60)),
            Self::NoRotation => builder.registration_access_token_rotation(RatRotation::Never),
            Self::Wide => builder.profile(
                Profile::default()
                    .token_endpoint_auth_methods(TokenEndpointAuthMethod::ALL)
                    .id_token_signing_alg_values(["RS256", "HS256", "none"])
                    .token_endpoint_auth_signing_alg_values(["RS256", "HS256"])
                    .id_token_encryption_values(["RSA-OAEP", "dir"], ["A128GCM"]),
            ),
        };
        builder.build().expect("valid configuration")
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Kind {
    Web,
    Native,
    Public,
    Machine,
    SecretJwt,
}

impl Kind {
    fn body(self) -> Value {
        match self {
            Self::Web => json!({
                "redirect_uris": ["https://client.example.org/cb"],
                "client_name": "Fuzz",
                "client_name#fr": "Flou",
                "contacts": ["ops@client.example.org"],
            }),
            Self::Native => json!({
                "application_type": "native",
                "redirect_uris": ["com.example.app:/cb", "http://127.0.0.1/cb"],
                "token_endpoint_auth_method": "none",
            }),
            Self::Public => json!({
                "redirect_uris": ["https://spa.example.org/cb"],
                "token_endpoint_auth_method": "none",
                "scope": "openid profile",
            }),
            Self::Machine => json!({
                "grant_types": ["client_credentials"],
                "software_id": "fuzz-software",
            }),
            Self::SecretJwt => json!({
                "redirect_uris": ["https://client.example.org/cb"],
                "token_endpoint_auth_method": "client_secret_jwt",
                "token_endpoint_auth_signing_alg": "HS256",
            }),
        }
    }
}

/// Members worth changing.
const MEMBERS: [&str; 24] = [
    "client_id",
    "client_secret",
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
    "redirect_uris",
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "client_name",
    "client_name#de-CH",
    "contacts",
    "scope",
    "application_type",
    "subject_type",
    "sector_identifier_uri",
    "jwks",
    "id_token_signed_response_alg",
    "id_token_encrypted_response_alg",
    "token_endpoint_auth_signing_alg",
    "tls_client_auth_san_dns",
    "software_statement",
    "post_logout_redirect_uris",
];

#[derive(Arbitrary, Debug)]
enum Leaf {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Strs(Vec<String>),
    /// The current value of this member, as GET returned it.
    Same,
    Remove,
}

#[derive(Arbitrary, Debug)]
enum Put {
    Raw(Vec<u8>),
    Changed(Vec<(u8, Leaf)>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    config: Config,
    kind: Kind,
    puts: Vec<Put>,
}

/// The stored configuration, read with the current token.
fn get(service: &Registration, path: &str, token: &str) -> Map<String, Value> {
    let answer = send(service, request(Method::GET, path, Some(token), None));
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    answer.json()
}

fn put(service: &Registration, path: &str, token: &str, body: Vec<u8>) -> tower_dcr_fuzz::Answer {
    let answer = send(service, request(Method::PUT, path, Some(token), Some(body)));
    check_response(&answer);
    answer
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let service = input.config.build();
    // Only the wide profile allows client_secret_jwt.
    let kind = match (input.kind, input.config) {
        (Kind::SecretJwt, Config::Wide) => Kind::SecretJwt,
        (Kind::SecretJwt, _) => Kind::Web,
        (kind, _) => kind,
    };
    let created = send(
        &service,
        request(
            Method::POST,
            "/register",
            None,
            Some(serde_json::to_vec(&kind.body()).expect("serializes")),
        ),
    );
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let created = created.json();
    let path = client_path(&created);
    let mut token = created["registration_access_token"]
        .as_str()
        .expect("a RAT")
        .to_owned();

    for step in input.puts.into_iter().take(8) {
        let before = get(&service, &path, &token);
        let body = match step {
            Put::Raw(bytes) => bytes,
            Put::Changed(changes) => {
                let mut object = before.clone();
                for (index, leaf) in changes {
                    let member = MEMBERS[usize::from(index) % MEMBERS.len()];
                    let value = match leaf {
                        Leaf::Null => Value::Null,
                        Leaf::Bool(b) => b.into(),
                        Leaf::Int(i) => i.into(),
                        Leaf::Str(s) => s.into(),
                        Leaf::Strs(s) => s.into(),
                        Leaf::Same => before.get(member).cloned().unwrap_or(Value::Null),
                        Leaf::Remove => {
                            object.remove(member);
                            continue;
                        }
                    };
                    object.insert(member.into(), value);
                }
                serde_json::to_vec(&object).expect("serializes")
            }
        };
        let answer = put(&service, &path, &token, body);
        if answer.status != StatusCode::OK {
            assert!(answer.status.is_client_error(), "{answer:?}");
            // Refused: nothing changed, the token still works.
            let after = get(&service, &path, &token);
            assert_eq!(metadata_members(&after), metadata_members(&before));
            assert_eq!(after["client_id"], before["client_id"]);
            continue;
        }
        let json = answer.json();
        assert_eq!(json["client_id"], before["client_id"]);
        token = json["registration_access_token"]
            .as_str()
            .expect("a RAT in the update response")
            .to_owned();
        let stored = get(&service, &path, &token);
        assert_eq!(metadata_members(&stored), metadata_members(&json));
        // Read, modify, write: what GET returned goes straight back.
        let again = put(
            &service,
            &path,
            &token,
            serde_json::to_vec(&stored).expect("serializes"),
        );
        assert_eq!(again.status, StatusCode::OK, "{again:?}");
        let again = again.json();
        assert_eq!(metadata_members(&again), metadata_members(&stored));
        token = again["registration_access_token"]
            .as_str()
            .expect("a RAT")
            .to_owned();
    }
});
