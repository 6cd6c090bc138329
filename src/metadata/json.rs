//! Reading metadata from a JSON object (types only) and writing it back: the
//! kinds of member, and the macro that declares each member once.

use std::str::FromStr;

use oxilangtag::LanguageTag;
use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::jose::{JOSE_MEMBERS, JoseMember, NO_ALGORITHMS};
use super::tls_client_auth::TLS_CLIENT_AUTH_MEMBERS;
use super::{
    ClientMetadata, GrantType, JoseAlgorithms, Localized, ResponseType, TlsClientAuthBinding,
    UnknownValue,
};
use crate::error::RegistrationError;

/// Members of the client information response (RFC 7591 §3.2.1, RFC 7592 §3).
/// They are never client metadata and never kept as extensions.
pub(crate) const CLIENT_INFORMATION_MEMBERS: [&str; 6] = [
    "client_id",
    "client_secret",
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
];

fn invalid(field: &str, problem: &str) -> RegistrationError {
    super::field_error(field, problem)
}

/// A string member; `null` and `""` count as absent (RFC 7592 §2.2 treats them as
/// "no value").
fn string(field: &str, value: Value) -> Result<Option<String>, RegistrationError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(invalid(field, "must be a string")),
    }
}

/// A value echoed in an error description, cut short so that a huge value does
/// not become a huge error.
pub(crate) fn truncated(value: &str) -> &str {
    const MAX: usize = 64;
    if value.len() <= MAX {
        return value;
    }
    let mut end = MAX;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// Whether `name` is a member this crate types.
pub(crate) fn is_known_member(name: &str) -> bool {
    ClientMetadata::is_typed_member(name)
}

/// How one kind of metadata member is read from JSON, written back and
/// compared. A member is declared once, with its kind, in
/// [`client_metadata!`]; a group (the JOSE algorithms, the certificate
/// binding) is one field holding several members named by its own table.
pub(crate) trait Kind {
    /// The field's type.
    type Value: PartialEq;
    /// Whether the field is one member named like the field (not a group).
    const SINGLE: bool = true;
    /// Whether the field is a localizable member (RFC 7591 §2.2).
    const LOCALIZED: bool = false;

    /// Reads the member `name` into `slot`.
    fn read(name: &str, value: Value, slot: &mut Self::Value) -> Result<(), RegistrationError>;

    /// For a group: reads `name` if it is one of its members, else gives
    /// `value` back.
    fn read_group(
        _name: &str,
        value: Value,
        _slot: &mut Self::Value,
    ) -> Result<Option<Value>, RegistrationError> {
        Ok(Some(value))
    }

    /// For a group: whether `name` is one of its members.
    fn is_group_member(_name: &str) -> bool {
        false
    }

    /// Writes the member (or the group's members) when present.
    fn write<M: SerializeMap>(
        name: &'static str,
        slot: &Self::Value,
        map: &mut M,
    ) -> Result<(), M::Error>;

    /// Whether two fields hold the same members.
    fn same(a: &Self::Value, b: &Self::Value) -> bool {
        a == b
    }

    /// The field as a localizable member (RFC 7591 §2.2), if it is one.
    fn localized(_slot: &Self::Value) -> Option<&Localized> {
        None
    }

    /// The field as a localizable member, to add a language variant.
    fn localized_mut(_slot: &mut Self::Value) -> Option<&mut Localized> {
        None
    }
}

fn write_opt<M: SerializeMap, T: Serialize>(
    name: &str,
    value: Option<&T>,
    map: &mut M,
) -> Result<(), M::Error> {
    match value {
        Some(value) => map.serialize_entry(name, value),
        None => Ok(()),
    }
}

/// A string.
pub(crate) struct Text;

impl Kind for Text {
    type Value = Option<String>;

    fn read(name: &str, value: Value, slot: &mut Self::Value) -> Result<(), RegistrationError> {
        *slot = string(name, value)?;
        Ok(())
    }

    fn write<M: SerializeMap>(
        name: &'static str,
        slot: &Self::Value,
        map: &mut M,
    ) -> Result<(), M::Error> {
        write_opt(name, slot.as_ref(), map)
    }
}

/// A value of a closed family, refused when unknown.
pub(crate) struct Keyword<T>(std::marker::PhantomData<T>);

impl<T> Kind for Keyword<T>
where
    T: FromStr<Err = UnknownValue> + Serialize + PartialEq,
{
    type Value = Option<T>;

    fn read(name: &str, value: Value, slot: &mut Self::Value) -> Result<(), RegistrationError> {
        *slot = match string(name, value)? {
            None => None,
            Some(s) => Some(
                s.parse()
                    .map_err(|_| invalid(name, &format!("unknown value \"{}\"", truncated(&s))))?,
            ),
        };
        Ok(())
    }

    fn write<M: SerializeMap>(
        name: &'static str,
        slot: &Self::Value,
        map: &mut M,
    ) -> Result<(), M::Error> {
        write_opt(name, slot.as_ref(), map)
    }
}

/// An array of non-empty strings, each a `T` (a string, or a value of an
/// open family).
pub(crate) struct List<T>(std::marker::PhantomData<T>);

/// What a [`List`] holds: made from a non-empty string, written as one.
pub(crate) trait ListItem: Serialize + PartialEq {
    /// The item spelled `value`.
    fn from_string(value: String) -> Self;
}

impl ListItem for String {
    fn from_string(value: String) -> Self {
        value
    }
}

impl ListItem for GrantType {
    fn from_string(value: String) -> Self {
        GrantType::from_string(value)
    }
}

impl ListItem for ResponseType {
    fn from_string(value: String) -> Self {
        ResponseType::from_string(value)
    }
}

impl<T: ListItem> Kind for List<T> {
    type Value = Option<Vec<T>>;

    fn read(name: &str, value: Value, slot: &mut Self::Value) -> Result<(), RegistrationError> {
        let not_strings = || invalid(name, "must be an array of non-empty strings");
        *slot = match value {
            Value::Null => None,
            Value::Array(items) => Some(
                items
                    .into_iter()
                    .map(|item| match item {
                        Value::String(s) if !s.is_empty() => Ok(T::from_string(s)),
                        _ => Err(not_strings()),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            _ => return Err(not_strings()),
        };
        Ok(())
    }

    fn write<M: SerializeMap>(
        name: &'static str,
        slot: &Self::Value,
        map: &mut M,
    ) -> Result<(), M::Error> {
        write_opt(name, slot.as_ref(), map)
    }
}

/// A human-readable string with language variants (RFC 7591 §2.2).
pub(crate) struct Translatable;

impl Kind for Translatable {
    type Value = Localized;
    const LOCALIZED: bool = true;

    fn read(name: &str, value: Value, slot: &mut Self::Value) -> Result<(), RegistrationError> {
        slot.value = string(name, value)?;
        Ok(())
    }

    fn write<M: SerializeMap>(
        name: &'static str,
        slot: &Self::Value,
        map: &mut M,
    ) -> Result<(), M::Error> {
        write_opt(name, slot.value.as_ref(), map)?;
        for (tag, value) in &slot.translations {
            map.serialize_entry(&format_args!("{name}#{tag}"), value)?;
        }
        Ok(())
    }

    fn localized(slot: &Self::Value) -> Option<&Localized> {
        Some(slot)
    }

    fn localized_mut(slot: &mut Self::Value) -> Option<&mut Localized> {
        Some(slot)
    }
}

/// A JSON Web Key Set object.
pub(crate) struct KeySet;

impl Kind for KeySet {
    type Value = Option<Value>;

    fn read(name: &str, value: Value, slot: &mut Self::Value) -> Result<(), RegistrationError> {
        *slot = match value {
            Value::Null => None,
            v @ Value::Object(_) => Some(v),
            _ => return Err(invalid(name, "must be a JSON Web Key Set object")),
        };
        Ok(())
    }

    fn write<M: SerializeMap>(
        name: &'static str,
        slot: &Self::Value,
        map: &mut M,
    ) -> Result<(), M::Error> {
        write_opt(name, slot.as_ref(), map)
    }
}

/// A non-negative integer number of seconds.
pub(crate) struct Seconds;

impl Kind for Seconds {
    type Value = Option<u64>;

    fn read(name: &str, value: Value, slot: &mut Self::Value) -> Result<(), RegistrationError> {
        let not_seconds = || invalid(name, "must be a non-negative integer number of seconds");
        *slot = match value {
            Value::Null => None,
            Value::Number(n) => Some(n.as_u64().ok_or_else(not_seconds)?),
            _ => return Err(not_seconds()),
        };
        Ok(())
    }

    fn write<M: SerializeMap>(
        name: &'static str,
        slot: &Self::Value,
        map: &mut M,
    ) -> Result<(), M::Error> {
        write_opt(name, slot.as_ref(), map)
    }
}

/// A boolean.
pub(crate) struct Flag;

impl Kind for Flag {
    type Value = Option<bool>;

    fn read(name: &str, value: Value, slot: &mut Self::Value) -> Result<(), RegistrationError> {
        *slot = match value {
            Value::Null => None,
            Value::Bool(b) => Some(b),
            _ => return Err(invalid(name, "must be a boolean")),
        };
        Ok(())
    }

    fn write<M: SerializeMap>(
        name: &'static str,
        slot: &Self::Value,
        map: &mut M,
    ) -> Result<(), M::Error> {
        write_opt(name, slot.as_ref(), map)
    }
}

/// The JOSE algorithm members, named by [`JOSE_MEMBERS`]; few clients
/// register any, so they sit behind one pointer, allocated for the first.
pub(crate) struct Algorithms;

impl Kind for Algorithms {
    type Value = Option<Box<JoseAlgorithms>>;
    const SINGLE: bool = false;

    fn read(name: &str, value: Value, slot: &mut Self::Value) -> Result<(), RegistrationError> {
        Self::read_group(name, value, slot).map(drop)
    }

    fn read_group(
        name: &str,
        value: Value,
        slot: &mut Self::Value,
    ) -> Result<Option<Value>, RegistrationError> {
        let Some(member) = JoseMember::named(name) else {
            return Ok(Some(value));
        };
        if let Some(value) = string(name, value)? {
            *slot.get_or_insert_with(Box::default).get_mut(member) = Some(value);
        }
        Ok(None)
    }

    fn is_group_member(name: &str) -> bool {
        JoseMember::named(name).is_some()
    }

    fn write<M: SerializeMap>(
        _name: &'static str,
        slot: &Self::Value,
        map: &mut M,
    ) -> Result<(), M::Error> {
        // Few clients register any: skip the ten empty members then.
        if let Some(algorithms) = slot {
            for spec in &JOSE_MEMBERS {
                write_opt(spec.name, algorithms.get(spec.member), map)?;
            }
        }
        Ok(())
    }

    fn same(a: &Self::Value, b: &Self::Value) -> bool {
        a.as_deref().unwrap_or(&NO_ALGORITHMS) == b.as_deref().unwrap_or(&NO_ALGORITHMS)
    }
}

/// The certificate binding members of RFC 8705 §2.1.2, named by
/// [`TLS_CLIENT_AUTH_MEMBERS`], behind one pointer since few clients
/// register one.
pub(crate) struct Binding;

impl Kind for Binding {
    type Value = Option<Box<TlsClientAuthBinding>>;
    const SINGLE: bool = false;

    fn read(name: &str, value: Value, slot: &mut Self::Value) -> Result<(), RegistrationError> {
        Self::read_group(name, value, slot).map(drop)
    }

    fn read_group(
        name: &str,
        value: Value,
        slot: &mut Self::Value,
    ) -> Result<Option<Value>, RegistrationError> {
        if !Self::is_group_member(name) {
            return Ok(Some(value));
        }
        if let Some(value) = string(name, value)? {
            let binding = slot.get_or_insert_with(Box::default);
            if let Some(member) = binding.member_mut(name) {
                *member = Some(value);
            }
        }
        Ok(None)
    }

    fn is_group_member(name: &str) -> bool {
        TLS_CLIENT_AUTH_MEMBERS.contains(&name)
    }

    fn write<M: SerializeMap>(
        _name: &'static str,
        slot: &Self::Value,
        map: &mut M,
    ) -> Result<(), M::Error> {
        if let Some(binding) = slot {
            for (name, value) in binding.members() {
                write_opt(name, value, map)?;
            }
        }
        Ok(())
    }

    fn same(a: &Self::Value, b: &Self::Value) -> bool {
        let empty = TlsClientAuthBinding::default();
        a.as_deref().unwrap_or(&empty) == b.as_deref().unwrap_or(&empty)
    }
}

/// Declares [`ClientMetadata`]: each member once, with its field, type and
/// [`Kind`], in the order members are written. The struct, its equality, the
/// known-member list, parsing, serialization and the localizable members all
/// come from this one list.
macro_rules! client_metadata {
    (
        $(#[$meta:meta])*
        pub struct ClientMetadata {
            $( $(#[$fmeta:meta])* $vis:vis $field:ident: $ty:ty = $kind:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[non_exhaustive]
        #[derive(Clone, Debug, Default)]
        pub struct ClientMetadata {
            $( $(#[$fmeta])* $vis $field: $ty, )*
            /// Extension members: kept only when the server is configured to accept them
            /// (RFC 7591 §2: other members are ignored).
            pub extensions: serde_json::Map<String, serde_json::Value>,
        }

        impl PartialEq for ClientMetadata {
            fn eq(&self, other: &Self) -> bool {
                use $crate::metadata::json::Kind as _;
                $( <$kind>::same(&self.$field, &other.$field) && )*
                    self.extensions == other.extensions
            }
        }

        impl ClientMetadata {
            /// Reads the typed member `name`; gives `value` back when `name`
            /// is not one.
            pub(crate) fn read_member(
                &mut self,
                name: &str,
                value: serde_json::Value,
            ) -> Result<Option<serde_json::Value>, $crate::error::RegistrationError> {
                use $crate::metadata::json::Kind as _;
                match name {
                    $( stringify!($field) if <$kind>::SINGLE => {
                        <$kind>::read(name, value, &mut self.$field)?;
                        Ok(None)
                    } )*
                    _ => {
                        $( let Some(value) = <$kind>::read_group(name, value, &mut self.$field)? else {
                            return Ok(None);
                        }; )*
                        Ok(Some(value))
                    }
                }
            }

            /// Whether `name` is a member this crate types.
            pub(crate) fn is_typed_member(name: &str) -> bool {
                use $crate::metadata::json::Kind as _;
                match name {
                    $( stringify!($field) if <$kind>::SINGLE => true, )*
                    _ => false $( || <$kind>::is_group_member(name) )*,
                }
            }

            /// Writes every present typed member, in declaration order.
            fn serialize_typed_members<M: serde::ser::SerializeMap>(
                &self,
                map: &mut M,
            ) -> Result<(), M::Error> {
                use $crate::metadata::json::Kind as _;
                $( <$kind>::write(stringify!($field), &self.$field, map)?; )*
                Ok(())
            }

            /// The localizable member called `field`, if it is one (RFC 7591 §2.2).
            pub(crate) fn localized_mut(&mut self, field: &str) -> Option<&mut Localized> {
                use $crate::metadata::json::Kind as _;
                match field {
                    $( stringify!($field) => <$kind>::localized_mut(&mut self.$field), )*
                    _ => None,
                }
            }

            /// The localizable members with their names, in declaration order.
            pub(crate) fn localized_fields(
                &self,
            ) -> [(&'static str, &Localized); Self::LOCALIZED_MEMBERS] {
                use $crate::metadata::json::Kind as _;
                static NONE: Localized = Localized::EMPTY;
                let mut fields = [("", &NONE); Self::LOCALIZED_MEMBERS];
                let mut i = 0;
                $( if let Some(localized) = <$kind>::localized(&self.$field) {
                    fields[i] = (stringify!($field), localized);
                    i += 1;
                } )*
                debug_assert_eq!(i, Self::LOCALIZED_MEMBERS);
                fields
            }

            /// How many members are localizable.
            const LOCALIZED_MEMBERS: usize = {
                use $crate::metadata::json::Kind as _;
                0 $( + <$kind>::LOCALIZED as usize )*
            };
        }
    };
}

pub(crate) use client_metadata;

impl ClientMetadata {
    /// Reads client metadata from a JSON object, checking JSON types only: strings
    /// are strings, arrays hold non-empty strings, `default_max_age` is a
    /// non-negative integer, `require_auth_time` a boolean, `jwks` an object.
    /// `null` (and `""` for a single string) means the member is absent.
    ///
    /// Language-tagged members (`client_name#fr`) are parsed as BCP 47 tags. The
    /// members of a client information response (`client_id`, `client_secret`, …)
    /// are skipped. Every other member is kept in [`extensions`](Self::extensions);
    /// the service then keeps only the extension members it is configured to
    /// accept.
    ///
    /// The rules of RFC 7591 and OIDC (URIs, consistency, supported values) are
    /// checked by the registration service, not here.
    ///
    /// ```
    /// use tower_dcr::ClientMetadata;
    ///
    /// let json = serde_json::json!({
    ///     "client_name": "Example",
    ///     "client_name#fr": "Exemple",
    ///     "redirect_uris": ["https://app.example/cb"],
    /// });
    /// let serde_json::Value::Object(object) = json else { unreachable!() };
    /// let metadata = ClientMetadata::from_json_object(object).unwrap();
    /// assert_eq!(metadata.client_name.get_exact("fr"), Some("Exemple"));
    /// ```
    pub fn from_json_object(object: Map<String, Value>) -> Result<Self, RegistrationError> {
        let mut m = Self::default();
        for (key, value) in object {
            let Some(value) = m.read_member(&key, value)? else {
                continue;
            };
            if CLIENT_INFORMATION_MEMBERS.contains(&key.as_str()) {
                continue;
            }
            match key.split_once('#') {
                Some((field, tag)) => match m.localized_mut(field) {
                    Some(localized) => add_translation(localized, field, tag, value)?,
                    None => {
                        m.extensions.insert(key, value);
                    }
                },
                None => {
                    m.extensions.insert(key, value);
                }
            }
        }
        Ok(m)
    }

    /// Writes every present member into `map`, in a stable order: the typed
    /// members in the order of the specifications, language variants right after
    /// their plain member, extension members last.
    pub(crate) fn serialize_members<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        self.serialize_typed_members(map)?;
        // An extension member never shadows a standard member or a credential,
        // even if the host put one in the map.
        for (key, value) in &self.extensions {
            let reserved =
                is_known_member(key) || CLIENT_INFORMATION_MEMBERS.contains(&key.as_str());
            if !reserved {
                map.serialize_entry(key, value)?;
            }
        }
        Ok(())
    }

    /// The OIDC algorithm members with their names.
    pub(crate) fn algorithm_members(&self) -> [(&'static str, Option<&String>); 10] {
        let a = self.algorithms();
        JOSE_MEMBERS
            .each_ref()
            .map(|spec| (spec.name, a.get(spec.member)))
    }
}

/// The most language variants of one member that parsing keeps, whatever the
/// configured limit: the duplicate check is linear per variant, so this bounds
/// its cost.
const MAX_PARSED_TRANSLATIONS: usize = 256;

fn add_translation(
    localized: &mut Localized,
    field: &str,
    tag: &str,
    value: Value,
) -> Result<(), RegistrationError> {
    let key = || format!("{field}#{}", truncated(tag));
    if localized.translations.len() >= MAX_PARSED_TRANSLATIONS {
        return Err(RegistrationError::invalid_client_metadata(format!(
            "{field}: more than {MAX_PARSED_TRANSLATIONS} language variants"
        )));
    }
    let tag = LanguageTag::parse(tag.to_owned()).map_err(|_| {
        RegistrationError::invalid_client_metadata(format!(
            "{}: not a BCP 47 language tag (RFC 7591 §2.2)",
            key()
        ))
    })?;
    if localized.get_exact(tag.as_str()).is_some() {
        return Err(RegistrationError::invalid_client_metadata(format!(
            "{}: the language tag appears twice",
            key()
        )));
    }
    // As `string`, without formatting the member name unless it is an error.
    match value {
        Value::Null => {}
        Value::String(s) if s.is_empty() => {}
        Value::String(s) => localized.translations.push((tag, s)),
        _ => return Err(invalid(&key(), "must be a string")),
    }
    Ok(())
}

impl Serialize for ClientMetadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        self.serialize_members(&mut map)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for ClientMetadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = Map::deserialize(deserializer)?;
        Self::from_json_object(object).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<ClientMetadata, RegistrationError> {
        let Value::Object(o) = v else { panic!() };
        ClientMetadata::from_json_object(o)
    }

    #[test]
    fn round_trips_every_member_in_order() {
        let doc = json!({
            "redirect_uris": ["https://a.example/cb"],
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "client_name": "A",
            "client_name#fr-CA": "Á",
            "scope": "openid profile",
            "contacts": ["ops@a.example"],
            "default_max_age": 3600,
            "require_auth_time": true,
            "x_custom": {"n": [1, 2]},
        });
        let m = parse(doc.clone()).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), doc);
        let back: ClientMetadata = serde_json::from_value(doc).unwrap();
        assert_eq!(back, m);
    }

    /// Every typed member, in the order the declaration writes them.
    const EVERY_MEMBER_IN_ORDER: [(&str, &str); 46] = [
        ("redirect_uris", r#"["https://a.example/cb"]"#),
        ("token_endpoint_auth_method", r#""tls_client_auth""#),
        (
            "grant_types",
            r#"["authorization_code","urn:example:grant"]"#,
        ),
        ("response_types", r#"["code","id_token code"]"#),
        ("client_name", r#""A""#),
        ("client_name#fr", r#""Á""#),
        ("client_uri", r#""https://a.example""#),
        ("logo_uri", r#""https://a.example/logo.png""#),
        ("scope", r#""openid""#),
        ("contacts", r#"["ops@a.example"]"#),
        ("tos_uri", r#""https://a.example/tos""#),
        ("policy_uri", r#""https://a.example/policy""#),
        ("jwks_uri", r#""https://a.example/jwks""#),
        ("jwks", r#"{"keys":[]}"#),
        ("software_id", r#""id""#),
        ("software_version", r#""1""#),
        ("software_statement", r#""a.b.c""#),
        ("application_type", r#""native""#),
        ("sector_identifier_uri", r#""https://a.example/s.json""#),
        ("subject_type", r#""pairwise""#),
        ("id_token_signed_response_alg", r#""RS256""#),
        ("id_token_encrypted_response_alg", r#""RSA-OAEP""#),
        ("id_token_encrypted_response_enc", r#""A128GCM""#),
        ("userinfo_signed_response_alg", r#""RS256""#),
        ("userinfo_encrypted_response_alg", r#""RSA-OAEP""#),
        ("userinfo_encrypted_response_enc", r#""A128GCM""#),
        ("request_object_signing_alg", r#""RS256""#),
        ("request_object_encryption_alg", r#""RSA-OAEP""#),
        ("request_object_encryption_enc", r#""A128GCM""#),
        ("token_endpoint_auth_signing_alg", r#""ES256""#),
        ("default_max_age", "60"),
        ("require_auth_time", "false"),
        ("default_acr_values", r#"["1"]"#),
        ("initiate_login_uri", r#""https://a.example/login""#),
        ("request_uris", r#"["https://a.example/r"]"#),
        ("post_logout_redirect_uris", r#"["https://a.example/out"]"#),
        ("tls_client_auth_subject_dn", r#""CN=a""#),
        ("tls_client_auth_san_dns", r#""a.example""#),
        ("tls_client_auth_san_uri", r#""https://a.example""#),
        ("tls_client_auth_san_ip", r#""192.0.2.1""#),
        ("tls_client_auth_san_email", r#""a@a.example""#),
        ("client_id", r#""dropped""#),
        // Extension members, written in the order of their map (by name).
        ("algorithms", r#""an extension""#),
        ("tls_client_auth", r#""an extension""#),
        ("x_custom", "1"),
        ("z_last", "2"),
    ];

    #[test]
    fn every_member_is_read_and_written_back_in_declaration_order() {
        let body: Vec<String> = EVERY_MEMBER_IN_ORDER
            .iter()
            .rev()
            .map(|(name, value)| format!("\"{name}\":{value}"))
            .collect();
        let m: ClientMetadata = serde_json::from_str(&format!("{{{}}}", body.join(","))).unwrap();
        assert_eq!(
            m.grant_types.as_deref().unwrap()[0],
            GrantType::AuthorizationCode
        );
        assert_eq!(
            m.tls_client_auth().unwrap().san_ip.as_deref(),
            Some("192.0.2.1")
        );
        assert_eq!(
            m.algorithms().token_endpoint_auth_signing_alg.as_deref(),
            Some("ES256")
        );
        assert_eq!(
            m.localized_fields().map(|(name, _)| name),
            [
                "client_name",
                "client_uri",
                "logo_uri",
                "tos_uri",
                "policy_uri"
            ]
        );
        let expected: Vec<String> = EVERY_MEMBER_IN_ORDER
            .iter()
            .filter(|(name, _)| *name != "client_id")
            .map(|(name, value)| format!("\"{name}\":{value}"))
            .collect();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            format!("{{{}}}", expected.join(","))
        );
        for (name, _) in EVERY_MEMBER_IN_ORDER {
            let typed = !name.contains('#')
                && ![
                    "x_custom",
                    "client_id",
                    "algorithms",
                    "tls_client_auth",
                    "z_last",
                ]
                .contains(&name);
            assert_eq!(is_known_member(name), typed, "{name}");
        }
    }

    #[test]
    fn an_empty_group_equals_an_absent_one() {
        let mut m = ClientMetadata::default();
        m.algorithms_mut();
        m.tls_client_auth_mut();
        assert_eq!(m, ClientMetadata::default());
        m.algorithms_mut().id_token_signed_response_alg = Some("RS256".into());
        assert_ne!(m, ClientMetadata::default());
    }

    #[test]
    fn client_information_members_are_never_metadata() {
        let m = parse(
            json!({"client_id": "x", "client_secret": "y", "registration_access_token": "z"}),
        )
        .unwrap();
        assert!(m.extensions.is_empty());
    }

    #[test]
    fn extensions_never_shadow_standard_members_or_credentials() {
        let mut m = parse(json!({"client_name": "A"})).unwrap();
        m.extensions.insert("client_name".into(), json!("B"));
        m.extensions
            .insert("registration_access_token".into(), json!("leak"));
        m.extensions.insert("x_ok".into(), json!(1));
        let out = serde_json::to_string(&m).unwrap();
        assert_eq!(out, r#"{"client_name":"A","x_ok":1}"#);
    }

    #[test]
    fn language_variants_are_bounded_while_parsing() {
        let mut doc = serde_json::Map::new();
        for i in 0..300 {
            doc.insert(format!("client_name#x-{i}"), json!("n"));
        }
        let e = parse(Value::Object(doc)).unwrap_err();
        assert!(e.description().contains("more than 256"), "{e}");
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = parse(json!({"default_max_age": -1})).unwrap_err();
        assert!(e.description().starts_with("default_max_age"));
        let e = parse(json!({"redirect_uris": "https://a.example"})).unwrap_err();
        assert_eq!(e.error_code(), crate::error::ErrorCode::InvalidRedirectUri);
        let e = parse(json!({"contacts": [""]})).unwrap_err();
        assert!(e.description().starts_with("contacts"));
    }
}
