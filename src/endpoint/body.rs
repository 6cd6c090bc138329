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
use crate::metadata::unique_object::{ObjectError, parse_unique_object};

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

/// Whether the body arrives in a coding this service does not decode: a
/// `Content-Encoding` other than `identity`, or a `Transfer-Encoding` other than
/// `chunked` (which the HTTP server removes). Such a body is never read as JSON
/// (RFC 9110 §8.4: `415`).
fn has_foreign_coding(parts: &Parts) -> bool {
    let foreign = |name: header::HeaderName, allowed: &str| {
        parts.headers.get_all(name).iter().any(|value| {
            value.to_str().map_or(true, |value| {
                value
                    .split(',')
                    .map(str::trim)
                    .any(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case(allowed))
            })
        })
    };
    foreign(header::CONTENT_ENCODING, "identity") || foreign(header::TRANSFER_ENCODING, "chunked")
}

/// Parses a request body as one JSON object with unique member names (the
/// same parser as a metadata document's).
fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, RegistrationError> {
    parse_unique_object(bytes).map_err(ObjectError::into_registration_error)
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

/// Reads the body as one JSON object: `415` for a content coding or unless it
/// is declared JSON, `413`
/// over `limit` (checked on `Content-Length` before reading, and while reading),
/// `400 invalid_client_metadata` unless it is a JSON object with unique member
/// names.
pub(crate) async fn read_json_object<B>(
    parts: &Parts,
    body: B,
    limit: usize,
) -> Result<Map<String, Value>, Rejection>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    if has_foreign_coding(parts) {
        return Err(Rejection::UnsupportedContentCoding);
    }
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
    Ok(parse_object(&bytes)?)
}
