//! Protocol values with a fixed spelling: auth methods, grant and response types,
//! application and subject types.
//!
//! Every family has one shape: an enum whose variants are the registered
//! values, with [`FromStr`], [`Display`](fmt::Display), `as_str` and serde in
//! the registered spelling. A family its specification leaves open (grant and
//! response types) has an `Extension` arm holding any other value as sent; a
//! family this server can only accept known values of has none, and parsing
//! an unknown value fails with [`UnknownValue`].

use std::convert::Infallible;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value outside a closed family (`token_endpoint_auth_method`,
/// `application_type`, `subject_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a {family} value this server knows")]
pub struct UnknownValue {
    family: &'static str,
}

impl UnknownValue {
    /// A value outside `family` (named as in the error message: a member
    /// name or a column).
    pub(crate) const fn new(family: &'static str) -> Self {
        Self { family }
    }
}

/// Declares a family of protocol values: the enum, `as_str`, `FromStr`,
/// `Display` and serde. `closed` families refuse other values; `open` ones
/// keep them in `Extension`.
macro_rules! protocol_values {
    (
        closed $family:literal,
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $name {
            /// The value as registered.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $value, )*
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(value: &str) -> Result<Self, UnknownValue> {
                match value {
                    $( $value => Ok(Self::$variant), )*
                    _ => Err(UnknownValue { family: $family }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                value.parse().map_err(serde::de::Error::custom)
            }
        }
    };
    (
        open,
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// Any other value, as sent.
            Extension(String),
        }

        impl $name {
            /// The value as registered.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $value, )*
                    Self::Extension(value) => value,
                }
            }

            /// Whether both are the same registered value, or `None` when
            /// either is an extension.
            fn same_registered(&self, other: &Self) -> Option<bool> {
                match (self, other) {
                    (Self::Extension(_), _) | (_, Self::Extension(_)) => None,
                    _ => Some(std::mem::discriminant(self) == std::mem::discriminant(other)),
                }
            }

            /// The registered value spelled `value`, if it is one.
            fn registered(value: &str) -> Option<Self> {
                match value {
                    $( $value => Some(Self::$variant), )*
                    _ => None,
                }
            }

            /// The value of `value`, keeping its allocation for an extension.
            pub(crate) fn from_string(value: String) -> Self {
                Self::registered(&value).unwrap_or(Self::Extension(value))
            }
        }

        impl FromStr for $name {
            type Err = Infallible;

            fn from_str(value: &str) -> Result<Self, Infallible> {
                Ok(Self::registered(value).unwrap_or_else(|| Self::Extension(value.to_owned())))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::from_string)
            }
        }
    };
}

protocol_values! {
    closed "token_endpoint_auth_method",
    /// `token_endpoint_auth_method` values (RFC 7591 §2, OIDC Core §9, RFC 8705 §2).
    ///
    /// The IANA registry is open, but a server can only authenticate a client
    /// by a method it implements: another value is refused
    /// (`invalid_client_metadata`, RFC 7591 §3.2.2), so this family is closed.
    pub enum TokenEndpointAuthMethod {
        /// `none`: a public client; no client authentication.
        None = "none",
        /// `client_secret_basic`: HTTP Basic with the client secret (RFC 6749 §2.3.1).
        ClientSecretBasic = "client_secret_basic",
        /// `client_secret_post`: the client secret in the request body.
        ClientSecretPost = "client_secret_post",
        /// `client_secret_jwt`: a JWT signed with HMAC over the client secret.
        ClientSecretJwt = "client_secret_jwt",
        /// `private_key_jwt`: a JWT signed with the client's private key.
        PrivateKeyJwt = "private_key_jwt",
        /// `tls_client_auth`: mutual TLS with a PKI certificate (RFC 8705 §2.1).
        TlsClientAuth = "tls_client_auth",
        /// `self_signed_tls_client_auth`: mutual TLS with a self-signed certificate (RFC 8705 §2.2).
        SelfSignedTlsClientAuth = "self_signed_tls_client_auth",
    }
}

impl TokenEndpointAuthMethod {
    /// Every method, in a stable order.
    pub const ALL: [Self; 7] = [
        Self::None,
        Self::ClientSecretBasic,
        Self::ClientSecretPost,
        Self::ClientSecretJwt,
        Self::PrivateKeyJwt,
        Self::TlsClientAuth,
        Self::SelfSignedTlsClientAuth,
    ];

    /// Whether a client using this method is issued a `client_secret`
    /// (`client_secret_basic`, `client_secret_post`, `client_secret_jwt`).
    pub fn uses_client_secret(self) -> bool {
        matches!(
            self,
            Self::ClientSecretBasic | Self::ClientSecretPost | Self::ClientSecretJwt
        )
    }
}

protocol_values! {
    closed "application_type",
    /// `application_type` (OIDC DCR §2): `web` (default) or `native`. The
    /// specification defines these two values only; another is refused.
    pub enum ApplicationType {
        /// `web`: redirect URIs are https (http only on loopback, by policy).
        Web = "web",
        /// `native`: private-use schemes or http loopback redirects (RFC 8252).
        Native = "native",
    }
}

protocol_values! {
    closed "subject_type",
    /// `subject_type` (OIDC Core §8): `public` or `pairwise`. The
    /// specification defines these two values only; another is refused.
    pub enum SubjectType {
        /// `public`: the same `sub` for every client.
        Public = "public",
        /// `pairwise`: a different `sub` per sector identifier.
        Pairwise = "pairwise",
    }
}

protocol_values! {
    open,
    /// A `grant_types` value (RFC 7591 §2). The family is open (RFC 6749
    /// §4.5: extension grants are absolute URIs): a value without a variant is
    /// kept in `Extension`, and allowed when the server lists it as supported.
    ///
    /// Values compare by their spelling, so `Extension("implicit")` (built by
    /// hand; parsing never makes one) equals `Implicit`.
    pub enum GrantType {
        /// `authorization_code` (RFC 6749 §4.1).
        AuthorizationCode = "authorization_code",
        /// `implicit` (RFC 6749 §4.2).
        Implicit = "implicit",
        /// `password` (RFC 6749 §4.3).
        Password = "password",
        /// `client_credentials` (RFC 6749 §4.4).
        ClientCredentials = "client_credentials",
        /// `refresh_token` (RFC 6749 §6).
        RefreshToken = "refresh_token",
        /// `urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523).
        JwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer",
        /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628).
        DeviceCode = "urn:ietf:params:oauth:grant-type:device_code",
        /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693).
        TokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange",
    }
}

impl GrantType {
    /// Whether this grant sends the user agent to a redirect URI
    /// (`authorization_code`, `implicit`).
    pub fn uses_redirect(&self) -> bool {
        *self == Self::AuthorizationCode || *self == Self::Implicit
    }
}

impl PartialEq for GrantType {
    fn eq(&self, other: &Self) -> bool {
        self.same_registered(other)
            .unwrap_or_else(|| self.as_str() == other.as_str())
    }
}

impl Eq for GrantType {}

impl Hash for GrantType {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for GrantType {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for GrantType {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

protocol_values! {
    open,
    /// A `response_types` value (RFC 7591 §2, OAuth 2.0 Multiple Response
    /// Types): a space-separated combination of words. The variants are the
    /// values of the IANA "OAuth Authorization Endpoint Response Types"
    /// registry in their registered spelling; any other value, including a
    /// registered combination with its words in another order (`id_token
    /// code`), is kept as sent in `Extension` and echoed so.
    ///
    /// Values compare as sets of words, so `id_token code` equals
    /// `CodeIdToken`; use `==` or the word helpers rather than `match` where
    /// the order may vary.
    pub enum ResponseType {
        /// `code` (RFC 6749 §4.1).
        Code = "code",
        /// `token` (RFC 6749 §4.2).
        Token = "token",
        /// `id_token` (OIDC Core §3.2).
        IdToken = "id_token",
        /// `none` (OAuth 2.0 Multiple Response Types §4).
        None = "none",
        /// `code token` (OAuth 2.0 Multiple Response Types §5).
        CodeToken = "code token",
        /// `code id_token` (OAuth 2.0 Multiple Response Types §5).
        CodeIdToken = "code id_token",
        /// `id_token token` (OAuth 2.0 Multiple Response Types §5).
        IdTokenToken = "id_token token",
        /// `code id_token token` (OAuth 2.0 Multiple Response Types §5).
        CodeIdTokenToken = "code id_token token",
    }
}

impl ResponseType {
    /// The words of the combination (`code`, `id_token`, …).
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.as_str().split(' ')
    }

    /// Whether the combination includes `word`.
    pub fn contains(&self, word: &str) -> bool {
        self.words().any(|w| w == word)
    }

    /// Whether the combination needs the `authorization_code` grant.
    pub fn needs_authorization_code(&self) -> bool {
        match self {
            Self::Extension(_) => self.contains("code"),
            _ => matches!(
                self,
                Self::Code | Self::CodeToken | Self::CodeIdToken | Self::CodeIdTokenToken
            ),
        }
    }

    /// Whether the combination returns tokens from the authorization endpoint,
    /// which needs the `implicit` grant (RFC 7591 §2.1).
    pub fn needs_implicit(&self) -> bool {
        match self {
            Self::Extension(_) => self.contains("token") || self.contains("id_token"),
            _ => !matches!(self, Self::Code | Self::None),
        }
    }
}

impl PartialEq for ResponseType {
    fn eq(&self, other: &Self) -> bool {
        if let Some(same) = self.same_registered(other) {
            return same;
        }
        let (a, b) = (self.as_str(), other.as_str());
        a == b || {
            let mut x: Vec<&str> = a.split(' ').collect();
            let mut y: Vec<&str> = b.split(' ').collect();
            x.sort_unstable();
            y.sort_unstable();
            x == y
        }
    }
}

impl Eq for ResponseType {}

#[cfg(test)]
mod tests {
    use super::*;

    fn response_type(value: &str) -> ResponseType {
        value.parse().unwrap()
    }

    #[test]
    fn response_types_compare_as_sets_of_words() {
        assert_eq!(response_type("code id_token"), ResponseType::CodeIdToken);
        assert_eq!(response_type("id_token code"), ResponseType::CodeIdToken);
        assert_eq!(response_type("id_token code").as_str(), "id_token code");
        assert_ne!(ResponseType::Code, ResponseType::CodeToken);
    }

    #[test]
    fn registered_values_parse_to_their_variant_and_others_are_kept() {
        assert!(matches!(
            "refresh_token".parse::<GrantType>(),
            Ok(GrantType::RefreshToken)
        ));
        let extension = "urn:example:grant".parse::<GrantType>().unwrap();
        assert_eq!(
            extension,
            GrantType::Extension("urn:example:grant".to_owned())
        );
        assert_eq!(
            GrantType::Extension("implicit".to_owned()),
            GrantType::Implicit
        );
        for value in ["code", "code id_token token", "x_custom"] {
            assert_eq!(response_type(value).to_string(), value);
        }
        for method in TokenEndpointAuthMethod::ALL {
            assert_eq!(method.as_str().parse(), Ok(method));
        }
        assert!("Web".parse::<ApplicationType>().is_err());
        assert_eq!(
            serde_json::to_value(SubjectType::Pairwise).unwrap(),
            "pairwise"
        );
        assert_eq!(
            serde_json::from_value::<GrantType>("implicit".into()).unwrap(),
            GrantType::Implicit
        );
        assert!(serde_json::from_value::<SubjectType>("other".into()).is_err());
    }

    #[test]
    fn the_word_helpers_agree_with_the_words() {
        for value in [
            "code",
            "token",
            "id_token",
            "none",
            "code token",
            "code id_token",
            "id_token token",
            "code id_token token",
        ] {
            let registered = response_type(value);
            assert!(!matches!(registered, ResponseType::Extension(_)), "{value}");
            let extension = ResponseType::Extension(value.to_owned());
            assert_eq!(registered, extension, "{value}");
            assert_eq!(
                registered.needs_authorization_code(),
                extension.needs_authorization_code(),
                "{value}"
            );
            assert_eq!(
                registered.needs_implicit(),
                extension.needs_implicit(),
                "{value}"
            );
        }
    }

    #[test]
    fn secret_bearing_methods() {
        let with_secret: Vec<_> = TokenEndpointAuthMethod::ALL
            .into_iter()
            .filter(|m| m.uses_client_secret())
            .map(|m| m.as_str())
            .collect();
        assert_eq!(
            with_secret,
            [
                "client_secret_basic",
                "client_secret_post",
                "client_secret_jwt"
            ]
        );
    }
}
