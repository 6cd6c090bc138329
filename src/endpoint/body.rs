//! Reading a registration request body: media type, size limit, JSON object.

use std::error::Error as StdError;

use bytes::Bytes;
use http::header;
use http::request::Parts;
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::map::Entry;
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

/// A JSON object whose member names are unique. RFC 8259 §4 only says they
/// SHOULD be, and parsers then disagree on which value counts (first-wins
/// gateways, last-wins servers): a repeated name is refused, and named.
struct UniqueObject<'a>(&'a mut Option<String>);

impl<'de> DeserializeSeed<'de> for UniqueObject<'_> {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for UniqueObject<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut object = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            let value: Value = access.next_value()?;
            // One lookup: the first value of a name is kept.
            match object.entry(name) {
                Entry::Vacant(vacant) => {
                    vacant.insert(value);
                }
                Entry::Occupied(occupied) => {
                    // Named only if the rest of the body is valid JSON.
                    if self.0.is_none() {
                        *self.0 = Some(occupied.key().clone());
                    }
                }
            }
        }
        Ok(object)
    }
}

/// Parses a request body as one JSON object with unique member names.
fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, RegistrationError> {
    let mut repeated = None;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = UniqueObject(&mut repeated)
        .deserialize(&mut deserializer)
        .and_then(|object| deserializer.end().map(|()| object));
    match (parsed, repeated) {
        (Ok(_), Some(name)) => Err(crate::metadata::field_error(
            crate::metadata::json::truncated(&name),
            "appears more than once in the request body (RFC 8259 §4)",
        )),
        (Ok(object), None) => Ok(object),
        (Err(_), _) => Err(RegistrationError::invalid_client_metadata(
            "the request body must be a JSON object",
        )),
    }
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
