//! Token introspection (RFC 7662), for resource servers and tests: is this
//! access token still active? A client learns only about its own tokens.

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::json;

use crate::app::App;
use crate::params::FormBody;
use crate::token::{authenticate, form, no_store};

/// `POST /introspect` with `token=…`, authenticated like the token endpoint.
pub async fn introspect(
    State(app): State<App>,
    peer: Option<Extension<SocketAddr>>,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Response {
    let params = match form(&headers, &body) {
        Ok(params) => params,
        Err(error) => return Response::from(error),
    };
    let client = match authenticate(&app, peer.map(|Extension(p)| p), &headers, &params).await {
        Ok(client) => client,
        Err(refusal) => return refusal.into_response(),
    };
    let info = match params.get("token") {
        Some(token) => app.grants.access_token(token).await,
        None => None,
    }
    .filter(|info| info.client_id == client.client_id);
    let body = match info {
        None => json!({ "active": false }),
        Some(info) => {
            let mut body = json!({
                "active": true,
                "client_id": info.client_id,
                "token_type": "Bearer",
                "exp": info.expires_at,
                "iss": app.issuer,
            });
            if let Some(scope) = info.scope {
                body["scope"] = scope.into();
            }
            body
        }
    };
    (StatusCode::OK, no_store(), axum::Json(body)).into_response()
}
