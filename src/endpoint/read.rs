//! `GET {endpoint}/{client_id}`: read the client configuration (RFC 7592 §2.1).

use http::StatusCode;
use http::request::Parts;

use super::client_information::InformationResponse;
use super::manage::{authenticate, retire_previous_token};
use crate::config::Config;
use crate::error::Rejection;
use crate::response::{self, ResponseBody};
use crate::store::StoredSecret;

/// Answers `200` with the client information (RFC 7592 §3).
///
/// The response carries the registration access token the client presented and
/// the `registration_client_uri` (both REQUIRED by RFC 7592 §3). A
/// `client_secret` is included only for `client_secret_jwt` clients, whose secret
/// the server holds in plaintext; other secrets are stored as digests and cannot
/// be returned again (`client_secret_expires_at` is still returned).
pub(crate) async fn read(
    config: &Config,
    client_id: &str,
    parts: &Parts,
) -> Result<http::Response<ResponseBody>, Rejection> {
    let (record, token, presented) = authenticate(config, client_id, &parts.headers).await?;
    retire_previous_token(config, &record, presented).await;
    let uri = config.registration_client_uri(&record.client_id);
    let client_secret = match &record.client_secret {
        Some(StoredSecret::Plain(secret)) => Some(secret.secret()),
        _ => None,
    };
    let body = InformationResponse {
        record: &record,
        client_secret,
        registration_access_token: Some(token),
        registration_client_uri: Some(&uri),
    }
    .to_json();
    Ok(response::json(StatusCode::OK, body))
}
