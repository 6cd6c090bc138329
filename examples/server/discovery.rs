//! The metadata documents (RFC 8414 §2, OpenID Connect Discovery 1.0 §3):
//! this server's endpoints, plus the registration members from
//! [`Registration::discovery_metadata`](tower_dcr::Registration::discovery_metadata),
//! narrowed to what the endpoints here implement.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use crate::app::App;
use crate::{keys, oidc};

/// What `/authorize` and `/token` implement; the registration policy allows no
/// more, and the lists are narrowed to these in case it ever does.
const RESPONSE_TYPES: [&str; 1] = ["code"];
const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];
/// `/token` and `/introspect` verify JWT client assertions (RFC 7523 §2.2)
/// through the library, for clients whose profile allows them (URL clients
/// by default).
const AUTH_METHODS: [&str; 5] = [
    "client_secret_basic",
    "client_secret_post",
    "none",
    "private_key_jwt",
    "client_secret_jwt",
];

/// The members of the registration service's list that this server serves
/// (URL client ids when `--client-id-metadata-documents` is on); any other
/// (request objects, encryption) is left out, since nothing here would honour
/// it.
const FROM_REGISTRATION: [&str; 10] = [
    "registration_endpoint",
    "client_id_metadata_document_supported",
    "response_types_supported",
    "grant_types_supported",
    "token_endpoint_auth_methods_supported",
    // RFC 8414 §2: present whenever a JWT method is listed.
    "token_endpoint_auth_signing_alg_values_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "userinfo_signing_alg_values_supported",
    "scopes_supported",
];

/// The document, served at both well-known paths: every member OpenID
/// Connect Discovery 1.0 §3 requires (`issuer`, `authorization_endpoint`,
/// `token_endpoint`, `jwks_uri`, `response_types_supported`,
/// `subject_types_supported`, `id_token_signing_alg_values_supported`), the
/// recommended ones, and the defaults this server does not follow spelled
/// out (`request_uri_parameter_supported` is `true` when absent).
pub fn document(app: &App) -> Map<String, Value> {
    let issuer = &app.issuer;
    let mut doc = Map::new();
    doc.insert("issuer".into(), issuer.as_str().into());
    for (member, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
        ("introspection_endpoint", "/introspect"),
    ] {
        doc.insert(member.into(), format!("{issuer}{path}").into());
    }
    let mut registration = app.dcr.discovery_metadata();
    for member in FROM_REGISTRATION {
        if let Some(value) = registration.remove(member) {
            doc.insert(member.into(), value);
        }
    }
    narrow(&mut doc, "response_types_supported", &RESPONSE_TYPES);
    narrow(&mut doc, "grant_types_supported", &GRANT_TYPES);
    narrow(
        &mut doc,
        "token_endpoint_auth_methods_supported",
        &AUTH_METHODS,
    );
    narrow(
        &mut doc,
        "id_token_signing_alg_values_supported",
        &keys::SIGNING_ALGS,
    );
    narrow(
        &mut doc,
        "userinfo_signing_alg_values_supported",
        &keys::SIGNING_ALGS,
    );
    let auth_methods = doc
        .get("token_endpoint_auth_methods_supported")
        .cloned()
        .unwrap_or_default();
    doc.insert(
        "introspection_endpoint_auth_methods_supported".into(),
        auth_methods,
    );
    // RFC 8414 §2: with a JWT method listed, its algorithms too.
    if let Some(algs) = doc.get("token_endpoint_auth_signing_alg_values_supported") {
        doc.insert(
            "introspection_endpoint_auth_signing_alg_values_supported".into(),
            algs.clone(),
        );
    }
    doc.insert(
        "response_modes_supported".into(),
        json!(["query", "fragment"]),
    );
    doc.insert("claims_supported".into(), json!(oidc::CLAIMS_SUPPORTED));
    doc.insert("code_challenge_methods_supported".into(), json!(["S256"]));
    doc.insert(
        "authorization_response_iss_parameter_supported".into(),
        true.into(),
    );
    doc.insert("request_parameter_supported".into(), false.into());
    doc.insert("request_uri_parameter_supported".into(), false.into());
    doc.insert("claims_parameter_supported".into(), false.into());
    doc
}

/// Keeps only the `implemented` values of a list.
fn narrow(doc: &mut Map<String, Value>, member: &str, implemented: &[&str]) {
    if let Some(Value::Array(values)) = doc.get_mut(member) {
        values.retain(|v| v.as_str().is_some_and(|v| implemented.contains(&v)));
    }
}

/// `GET /.well-known/oauth-authorization-server` and
/// `GET /.well-known/openid-configuration`.
pub async fn metadata(State(app): State<App>) -> Json<Map<String, Value>> {
    Json(document(&app))
}
