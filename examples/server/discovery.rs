//! The metadata documents (RFC 8414 §2, OpenID Connect Discovery 1.0 §3):
//! this server's endpoints, plus the registration members from
//! [`Registration::discovery_metadata`](tower_dcr::Registration::discovery_metadata),
//! narrowed to what the endpoints here implement.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use crate::app::App;

/// What `/authorize` and `/token` implement; the registration policy allows no
/// more, and the lists are narrowed to these in case it ever does.
const RESPONSE_TYPES: [&str; 1] = ["code"];
const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];
const AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

/// The document, served at both well-known paths.
pub fn document(app: &App) -> Map<String, Value> {
    let issuer = &app.issuer;
    let mut doc = Map::new();
    doc.insert("issuer".into(), issuer.as_str().into());
    doc.insert(
        "authorization_endpoint".into(),
        format!("{issuer}/authorize").into(),
    );
    doc.insert("token_endpoint".into(), format!("{issuer}/token").into());
    doc.insert(
        "introspection_endpoint".into(),
        format!("{issuer}/introspect").into(),
    );
    doc.extend(app.dcr.discovery_metadata());
    narrow(&mut doc, "response_types_supported", &RESPONSE_TYPES);
    narrow(&mut doc, "grant_types_supported", &GRANT_TYPES);
    narrow(
        &mut doc,
        "token_endpoint_auth_methods_supported",
        &AUTH_METHODS,
    );
    let auth_methods = doc
        .get("token_endpoint_auth_methods_supported")
        .cloned()
        .unwrap_or_default();
    doc.insert(
        "introspection_endpoint_auth_methods_supported".into(),
        auth_methods,
    );
    doc.insert("response_modes_supported".into(), json!(["query"]));
    doc.insert("code_challenge_methods_supported".into(), json!(["S256"]));
    doc.insert(
        "authorization_response_iss_parameter_supported".into(),
        true.into(),
    );
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
