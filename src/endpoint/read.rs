//! `GET {endpoint}/{client_id}`: read the client configuration (RFC 7592 §2.1).

use http::StatusCode;
use http::request::Parts;

use super::client_information::InformationResponse;
use super::manage::{Presented, authenticate, reissue_token, retire_previous_token};
use crate::config::Config;
use crate::credentials::Secret;
use crate::error::Rejection;
use crate::response::{self, ResponseBody};
use crate::store::StoredSecret;

/// How many times a lost revision race is retried before answering `503`.
const ATTEMPTS: usize = 4;

/// Answers `200` with the client information (RFC 7592 §3).
///
/// The response carries a registration access token and the
/// `registration_client_uri` (both REQUIRED by RFC 7592 §3): the token the
/// client presented when it is the current one (whose first use ends the
/// previous token's grace), or a newly issued one when the client presented
/// the previous token within its grace ([`reissue_token`]), so the client is
/// never handed a token that will die. A `client_secret` is included only for
/// `client_secret_jwt` clients, whose secret the server holds in plaintext;
/// other secrets are stored as digests and cannot be returned again
/// (`client_secret_expires_at` is still returned).
pub(crate) async fn read(
    config: &Config,
    client_id: &str,
    parts: &Parts,
) -> Result<http::Response<ResponseBody>, Rejection> {
    let (mut record, token, mut presented) =
        authenticate(config, client_id, &parts.headers).await?;
    let mut issued = None;
    if presented == Presented::Current {
        retire_previous_token(config, &record, presented).await;
    } else {
        for _ in 0..ATTEMPTS {
            if let Some((next, token)) = reissue_token(config, &record).await? {
                record = next;
                issued = Some(token);
                break;
            }
            (record, _, presented) = authenticate(config, client_id, &parts.headers).await?;
            if presented == Presented::Current {
                // A token never becomes current again; this only keeps the
                // loop honest.
                break;
            }
        }
        if issued.is_none() && presented == Presented::Previous {
            return Err(Rejection::StoreUnavailable);
        }
    }
    let uri = config.registration_client_uri(&record.client_id);
    let client_secret = match &record.client_secret {
        Some(StoredSecret::Plain(secret)) => Some(secret.secret()),
        _ => None,
    };
    let body = InformationResponse {
        record: &record,
        client_secret,
        registration_access_token: Some(issued.as_ref().map_or(token, Secret::secret)),
        registration_client_uri: Some(&uri),
    }
    .to_json();
    Ok(response::json(StatusCode::OK, body))
}
