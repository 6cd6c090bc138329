//! Arbitrary bytes as a registration body: JSON parsing, typed metadata
//! (`ClientMetadata::from_json_object`) and the validator (reached through the
//! public service, since `metadata::validate` is crate-private).
//!
//! Checks: never a panic, never a 5xx; the service agrees with
//! `from_json_object` on type errors; an accepted document is stored and echoed
//! as a document that is accepted again, unchanged.
#![no_main]

use std::sync::OnceLock;

use http::{Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use tower_dcr::{ClientMetadata, Registration};
use tower_dcr_fuzz::{check_response, delete_registered, metadata_members, request, send};

fn service() -> &'static Registration {
    static SERVICE: OnceLock<Registration> = OnceLock::new();
    SERVICE.get_or_init(|| {
        Registration::builder(tower_dcr_fuzz::ISSUER)
            .open()
            .build()
            .expect("valid configuration")
    })
}

fuzz_target!(|data: &[u8]| {
    let service = service();
    let parsed = serde_json::from_slice::<Map<String, Value>>(data).ok();
    let typed = parsed
        .clone()
        .map(|object| (ClientMetadata::from_json_object(object.clone()), object));

    let answer = send(
        service,
        request(Method::POST, "/register", None, Some(data.to_vec())),
    );
    check_response(&answer);
    assert!(
        answer.status == StatusCode::CREATED || answer.status == StatusCode::BAD_REQUEST,
        "{answer:?}"
    );

    if tower_dcr_fuzz::has_duplicate_member(data) {
        // RFC 8259 §4: a repeated member name is refused, whatever the values.
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
        return;
    }
    match &typed {
        // Not a JSON object: invalid_client_metadata.
        None => {
            assert_eq!(answer.status, StatusCode::BAD_REQUEST);
            assert_eq!(answer.error(), "invalid_client_metadata");
        }
        // A type error is reported by the service with the same code (without a
        // verifier the service drops `software_statement` before parsing).
        Some((Err(e), object)) if !object.contains_key("software_statement") => {
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{e}");
            assert_eq!(answer.error(), e.error_code().as_str());
        }
        _ => {}
    }
    if answer.status == StatusCode::BAD_REQUEST {
        let error = answer.error();
        assert!(
            error == "invalid_client_metadata" || error == "invalid_redirect_uri",
            "{error}"
        );
        return;
    }

    // 201: the parse succeeded, and the echoed metadata is itself a valid
    // registration that is stored and echoed unchanged.
    let created = answer.json();
    let echoed = metadata_members(&created);
    let reparsed =
        ClientMetadata::from_json_object(echoed.clone()).expect("an echoed document parses");
    assert_eq!(
        serde_json::to_value(&reparsed).expect("serializes"),
        Value::Object(echoed.clone()),
        "the echoed metadata does not survive a parse and serialize"
    );
    let again = send(
        service,
        request(
            Method::POST,
            "/register",
            None,
            Some(serde_json::to_vec(&echoed).expect("serializes")),
        ),
    );
    check_response(&again);
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "the echoed metadata of an accepted registration is refused: {:?}",
        String::from_utf8_lossy(&again.body)
    );
    let again_json = again.json();
    assert_eq!(
        metadata_members(&again_json),
        echoed,
        "re-registering the echoed metadata changed it"
    );
    delete_registered(service, &created);
    delete_registered(service, &again_json);
});
