//! One JSON parser for client metadata from any source (a registration or
//! update body, a Client ID Metadata Document): a JSON object whose member
//! names are unique.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Value};

use crate::error::RegistrationError;

/// Why bytes are not a JSON object with unique member names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ObjectError {
    /// Not JSON, or JSON but not an object.
    NotObject,
    /// A member name appears more than once (the first such name).
    Repeated(String),
}

impl ObjectError {
    /// The registration error for a request body.
    pub(crate) fn into_registration_error(self) -> RegistrationError {
        match self {
            Self::NotObject => {
                RegistrationError::invalid_client_metadata("the request body must be a JSON object")
            }
            Self::Repeated(name) => super::field_error(
                super::json::truncated(&name),
                "appears more than once in the request body (RFC 8259 §4)",
            ),
        }
    }
}

/// Parses `bytes` as one JSON object with unique member names. RFC 8259 §4
/// only says names SHOULD be unique, and parsers then disagree on which value
/// counts (first-wins gateways, last-wins servers): a repeated name is
/// refused, and named.
pub(crate) fn parse_unique_object(bytes: &[u8]) -> Result<Map<String, Value>, ObjectError> {
    let mut repeated = None;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = UniqueObject(&mut repeated)
        .deserialize(&mut deserializer)
        .and_then(|object| deserializer.end().map(|()| object));
    match (parsed, repeated) {
        (Ok(_), Some(name)) => Err(ObjectError::Repeated(name)),
        (Ok(object), None) => Ok(object),
        (Err(_), _) => Err(ObjectError::NotObject),
    }
}

/// The top-level object, remembering the first repeated member name.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8259_4_repeated_names_are_refused_and_named() {
        assert_eq!(
            parse_unique_object(br#"{"a":1,"b":2,"a":3}"#),
            Err(ObjectError::Repeated("a".into()))
        );
        assert_eq!(
            parse_unique_object(br#"{"a":1,"a":2"#),
            Err(ObjectError::NotObject)
        );
        for not_object in [&b"[]"[..], b"\"x\"", b"", b"{} {}"] {
            assert_eq!(parse_unique_object(not_object), Err(ObjectError::NotObject));
        }
        assert_eq!(parse_unique_object(br#"{"a":1}"#).unwrap()["a"], 1);
    }
}
