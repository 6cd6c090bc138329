//! Reading a registration request body: media type, size limit, JSON object.

use std::error::Error as StdError;

use bytes::Bytes;
use http::header;
use http::request::Parts;
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value};

use crate::error::BoxError;
use crate::error::{RegistrationError, Rejection};

/// Whether the request declares a JSON body: `application/json`, optionally with
/// parameters such as `charset=utf-8` (RFC 8259 §11 has no charset, so it is
/// ignored).
fn is_json(parts: &Parts) -> bool {
    let Some(value) = parts.headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Whether `error` or anything in its `source()` chain is a body length error.
/// Under axum with tower-http's limit layer the length error arrives wrapped.
fn is_length_error(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// Reads the body as one JSON object: `415` unless it is declared JSON, `413`
/// over `limit` (checked on `Content-Length` before reading, and while reading),
/// `400 invalid_client_metadata` unless it is a JSON object.
pub(crate) async fn read_json_object<B>(
    parts: &Parts,
    body: B,
    limit: usize,
) -> Result<Map<String, Value>, Rejection>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    if !is_json(parts) {
        return Err(Rejection::UnsupportedMediaType);
    }
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Rejection::PayloadTooLarge);
    }
    let bytes: Bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            return Err(if is_length_error(&*error) {
                Rejection::PayloadTooLarge
            } else {
                Rejection::BodyUnreadable
            });
        }
    };
    serde_json::from_slice::<Map<String, Value>>(&bytes).map_err(|_| {
        RegistrationError::invalid_client_metadata("the request body must be a JSON object").into()
    })
}
