//! Reading metadata from a JSON object (types only) and writing it back.

use oxilangtag::LanguageTag;
use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::jose::{JOSE_MEMBERS, JoseMember};
use super::tls_client_auth::TLS_CLIENT_AUTH_MEMBERS;
use super::{
    ApplicationType, ClientMetadata, GrantType, Localized, ResponseType, SubjectType,
    TokenEndpointAuthMethod,
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

/// Every member name this crate types, in the order they are written, but
/// the JOSE algorithm members (see [`JOSE_MEMBERS`]).
const OTHER_MEMBERS: [&str; 30] = [
    "redirect_uris",
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "client_name",
    "client_uri",
    "logo_uri",
    "scope",
    "contacts",
    "tos_uri",
    "policy_uri",
    "jwks_uri",
    "jwks",
    "software_id",
    "software_version",
    "software_statement",
    "application_type",
    "sector_identifier_uri",
    "subject_type",
    "default_max_age",
    "require_auth_time",
    "default_acr_values",
    "initiate_login_uri",
    "request_uris",
    "post_logout_redirect_uris",
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_auth_san_uri",
    "tls_client_auth_san_ip",
    "tls_client_auth_san_email",
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

/// An array of non-empty strings; `null` counts as absent.
fn strings(field: &str, value: Value) -> Result<Option<Vec<String>>, RegistrationError> {
    match value {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) if !s.is_empty() => Ok(s),
                _ => Err(invalid(field, "must be an array of non-empty strings")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(invalid(field, "must be an array of non-empty strings")),
    }
}

fn keyword<T>(
    field: &str,
    value: Value,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, RegistrationError> {
    match string(field, value)? {
        None => Ok(None),
        Some(s) => parse(&s)
            .map(Some)
            .ok_or_else(|| invalid(field, &format!("unknown value \"{}\"", truncated(&s)))),
    }
}

/// Whether `name` is a member this crate types.
pub(crate) fn is_known_member(name: &str) -> bool {
    OTHER_MEMBERS.contains(&name) || JoseMember::named(name).is_some()
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
            if let Some(member) = JoseMember::named(&key) {
                if let Some(value) = string(&key, value)? {
                    *m.algorithms_mut().get_mut(member) = Some(value);
                }
                continue;
            }
            match key.as_str() {
                "redirect_uris" => m.redirect_uris = strings(&key, value)?,
                "token_endpoint_auth_method" => {
                    m.token_endpoint_auth_method =
                        keyword(&key, value, TokenEndpointAuthMethod::parse)?
                }
                "grant_types" => {
                    m.grant_types = strings(&key, value)?
                        .map(|v| v.into_iter().map(GrantType::registered).collect());
                }
                "response_types" => {
                    m.response_types = strings(&key, value)?
                        .map(|v| v.into_iter().map(ResponseType::registered).collect());
                }
                "client_name" => m.client_name.value = string(&key, value)?,
                "client_uri" => m.client_uri.value = string(&key, value)?,
                "logo_uri" => m.logo_uri.value = string(&key, value)?,
                "tos_uri" => m.tos_uri.value = string(&key, value)?,
                "policy_uri" => m.policy_uri.value = string(&key, value)?,
                "scope" => m.scope = string(&key, value)?,
                "contacts" => m.contacts = strings(&key, value)?,
                "jwks_uri" => m.jwks_uri = string(&key, value)?,
                "jwks" => {
                    m.jwks = match value {
                        Value::Null => None,
                        v @ Value::Object(_) => Some(v),
                        _ => return Err(invalid(&key, "must be a JSON Web Key Set object")),
                    }
                }
                "software_id" => m.software_id = string(&key, value)?,
                "software_version" => m.software_version = string(&key, value)?,
                "software_statement" => m.software_statement = string(&key, value)?,
                "application_type" => {
                    m.application_type = keyword(&key, value, ApplicationType::parse)?
                }
                "sector_identifier_uri" => m.sector_identifier_uri = string(&key, value)?,
                "subject_type" => m.subject_type = keyword(&key, value, SubjectType::parse)?,
                "default_max_age" => {
                    m.default_max_age = match value {
                        Value::Null => None,
                        Value::Number(n) => Some(n.as_u64().ok_or_else(|| {
                            invalid(&key, "must be a non-negative integer number of seconds")
                        })?),
                        _ => {
                            return Err(invalid(
                                &key,
                                "must be a non-negative integer number of seconds",
                            ));
                        }
                    }
                }
                "require_auth_time" => {
                    m.require_auth_time = match value {
                        Value::Null => None,
                        Value::Bool(b) => Some(b),
                        _ => return Err(invalid(&key, "must be a boolean")),
                    }
                }
                "default_acr_values" => m.default_acr_values = strings(&key, value)?,
                "initiate_login_uri" => m.initiate_login_uri = string(&key, value)?,
                "request_uris" => m.request_uris = strings(&key, value)?,
                "post_logout_redirect_uris" => m.post_logout_redirect_uris = strings(&key, value)?,
                k if TLS_CLIENT_AUTH_MEMBERS.contains(&k) => {
                    if let Some(value) = string(&key, value)? {
                        let binding = m.tls_client_auth.get_or_insert_with(Box::default);
                        if let Some(member) = binding.member_mut(k) {
                            *member = Some(value);
                        }
                    }
                }
                k if CLIENT_INFORMATION_MEMBERS.contains(&k) => {}
                _ => match key.split_once('#') {
                    Some((field, tag)) => match m.localized_mut(field) {
                        Some(localized) => add_translation(localized, field, tag, value)?,
                        None => {
                            m.extensions.insert(key, value);
                        }
                    },
                    None => {
                        m.extensions.insert(key, value);
                    }
                },
            }
        }
        Ok(m)
    }

    /// The localizable member called `field`, if it is one (RFC 7591 §2.2).
    pub(crate) fn localized_mut(&mut self, field: &str) -> Option<&mut Localized> {
        match field {
            "client_name" => Some(&mut self.client_name),
            "client_uri" => Some(&mut self.client_uri),
            "logo_uri" => Some(&mut self.logo_uri),
            "tos_uri" => Some(&mut self.tos_uri),
            "policy_uri" => Some(&mut self.policy_uri),
            _ => None,
        }
    }

    /// The localizable members with their names.
    pub(crate) fn localized_fields(&self) -> [(&'static str, &Localized); 5] {
        [
            ("client_name", &self.client_name),
            ("client_uri", &self.client_uri),
            ("logo_uri", &self.logo_uri),
            ("tos_uri", &self.tos_uri),
            ("policy_uri", &self.policy_uri),
        ]
    }

    /// Writes every present member into `map`, in a stable order: the typed
    /// members in the order of the specifications, language variants right after
    /// their plain member, extension members last.
    pub(crate) fn serialize_members<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        fn opt<M: SerializeMap, T: Serialize + ?Sized>(
            map: &mut M,
            key: &str,
            value: Option<&T>,
        ) -> Result<(), M::Error> {
            match value {
                Some(v) => map.serialize_entry(key, v),
                None => Ok(()),
            }
        }
        fn localized<M: SerializeMap>(
            map: &mut M,
            key: &str,
            value: &Localized,
        ) -> Result<(), M::Error> {
            opt(map, key, value.value.as_deref())?;
            for (tag, v) in &value.translations {
                map.serialize_entry(&format_args!("{key}#{tag}"), v)?;
            }
            Ok(())
        }
        let m = self;
        opt(map, "redirect_uris", m.redirect_uris.as_ref())?;
        opt(
            map,
            "token_endpoint_auth_method",
            m.token_endpoint_auth_method.map(|v| v.as_str()),
        )?;
        if let Some(g) = &m.grant_types {
            map.serialize_entry("grant_types", &AsStrs(g, GrantType::as_str))?;
        }
        if let Some(r) = &m.response_types {
            map.serialize_entry("response_types", &AsStrs(r, ResponseType::as_str))?;
        }
        localized(map, "client_name", &m.client_name)?;
        localized(map, "client_uri", &m.client_uri)?;
        localized(map, "logo_uri", &m.logo_uri)?;
        opt(map, "scope", m.scope.as_ref())?;
        opt(map, "contacts", m.contacts.as_ref())?;
        localized(map, "tos_uri", &m.tos_uri)?;
        localized(map, "policy_uri", &m.policy_uri)?;
        opt(map, "jwks_uri", m.jwks_uri.as_ref())?;
        opt(map, "jwks", m.jwks.as_ref())?;
        opt(map, "software_id", m.software_id.as_ref())?;
        opt(map, "software_version", m.software_version.as_ref())?;
        opt(map, "software_statement", m.software_statement.as_ref())?;
        opt(
            map,
            "application_type",
            m.application_type.map(|v| v.as_str()),
        )?;
        opt(
            map,
            "sector_identifier_uri",
            m.sector_identifier_uri.as_ref(),
        )?;
        opt(map, "subject_type", m.subject_type.map(|v| v.as_str()))?;
        // Few clients register any: skip the ten empty members then.
        if m.algorithms.is_some() {
            for (key, value) in m.algorithm_members() {
                opt(map, key, value)?;
            }
        }
        opt(map, "default_max_age", m.default_max_age.as_ref())?;
        opt(map, "require_auth_time", m.require_auth_time.as_ref())?;
        opt(map, "default_acr_values", m.default_acr_values.as_ref())?;
        opt(map, "initiate_login_uri", m.initiate_login_uri.as_ref())?;
        opt(map, "request_uris", m.request_uris.as_ref())?;
        opt(
            map,
            "post_logout_redirect_uris",
            m.post_logout_redirect_uris.as_ref(),
        )?;
        if let Some(binding) = &m.tls_client_auth {
            for (key, value) in binding.members() {
                opt(map, key, value)?;
            }
        }
        // An extension member never shadows a standard member or a credential,
        // even if the host put one in the map.
        for (key, value) in &m.extensions {
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

struct AsStrs<'a, T>(&'a [T], fn(&T) -> &str);

impl<T> Serialize for AsStrs<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(self.1))
    }
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
        assert_eq!(e.code(), crate::error::ErrorCode::InvalidRedirectUri);
        let e = parse(json!({"contacts": [""]})).unwrap_err();
        assert!(e.description().starts_with("contacts"));
    }
}
