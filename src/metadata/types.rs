//! Protocol values with a fixed spelling: auth methods, grant and response types,
//! application and subject types.

use std::borrow::Cow;
use std::fmt;

/// `token_endpoint_auth_method` values (RFC 7591 §2, OIDC Core §9, RFC 8705 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenEndpointAuthMethod {
    /// `none`: a public client; no client authentication.
    None,
    /// `client_secret_basic`: HTTP Basic with the client secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_secret_post`: the client secret in the request body.
    ClientSecretPost,
    /// `client_secret_jwt`: a JWT signed with HMAC over the client secret.
    ClientSecretJwt,
    /// `private_key_jwt`: a JWT signed with the client's private key.
    PrivateKeyJwt,
    /// `tls_client_auth`: mutual TLS with a PKI certificate (RFC 8705 §2.1).
    TlsClientAuth,
    /// `self_signed_tls_client_auth`: mutual TLS with a self-signed certificate (RFC 8705 §2.2).
    SelfSignedTlsClientAuth,
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

    /// The value as registered.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::TlsClientAuth => "tls_client_auth",
            Self::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }

    /// Parses a registered value; `None` for an unknown method.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == value)
    }

    /// Whether a client using this method is issued a `client_secret`
    /// (`client_secret_basic`, `client_secret_post`, `client_secret_jwt`).
    pub fn uses_client_secret(self) -> bool {
        matches!(
            self,
            Self::ClientSecretBasic | Self::ClientSecretPost | Self::ClientSecretJwt
        )
    }
}

impl fmt::Display for TokenEndpointAuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `application_type` (OIDC DCR §2): `web` (default) or `native`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApplicationType {
    /// `web`: redirect URIs are https (http only on loopback, by policy).
    Web,
    /// `native`: private-use schemes or http loopback redirects (RFC 8252).
    Native,
}

impl ApplicationType {
    /// The value as registered.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }

    /// Parses a registered value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "web" => Some(Self::Web),
            "native" => Some(Self::Native),
            _ => None,
        }
    }
}

/// `subject_type` (OIDC Core §8): `public` or `pairwise`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubjectType {
    /// `public`: the same `sub` for every client.
    Public,
    /// `pairwise`: a different `sub` per sector identifier.
    Pairwise,
}

impl SubjectType {
    /// The value as registered.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Pairwise => "pairwise",
        }
    }

    /// Parses a registered value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "public" => Some(Self::Public),
            "pairwise" => Some(Self::Pairwise),
            _ => None,
        }
    }
}

/// A `grant_types` value (RFC 7591 §2). Extension grants (absolute URIs) are
/// allowed when the server lists them as supported.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantType(Cow<'static, str>);

impl GrantType {
    /// `authorization_code` (RFC 6749 §4.1).
    pub const AUTHORIZATION_CODE: Self = Self(Cow::Borrowed("authorization_code"));
    /// `implicit` (RFC 6749 §4.2).
    pub const IMPLICIT: Self = Self(Cow::Borrowed("implicit"));
    /// `password` (RFC 6749 §4.3).
    pub const PASSWORD: Self = Self(Cow::Borrowed("password"));
    /// `client_credentials` (RFC 6749 §4.4).
    pub const CLIENT_CREDENTIALS: Self = Self(Cow::Borrowed("client_credentials"));
    /// `refresh_token` (RFC 6749 §6).
    pub const REFRESH_TOKEN: Self = Self(Cow::Borrowed("refresh_token"));
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523).
    pub const JWT_BEARER: Self = Self(Cow::Borrowed("urn:ietf:params:oauth:grant-type:jwt-bearer"));
    /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628).
    pub const DEVICE_CODE: Self = Self(Cow::Borrowed(
        "urn:ietf:params:oauth:grant-type:device_code",
    ));
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693).
    pub const TOKEN_EXCHANGE: Self = Self(Cow::Borrowed(
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ));

    /// A grant type by name.
    pub fn new(value: impl Into<Cow<'static, str>>) -> Self {
        Self(value.into())
    }

    /// A registered value, sharing the constant for a standard one (no
    /// allocation kept per stored client).
    pub(crate) fn registered(value: String) -> Self {
        const KNOWN: [GrantType; 8] = [
            GrantType::AUTHORIZATION_CODE,
            GrantType::IMPLICIT,
            GrantType::PASSWORD,
            GrantType::CLIENT_CREDENTIALS,
            GrantType::REFRESH_TOKEN,
            GrantType::JWT_BEARER,
            GrantType::DEVICE_CODE,
            GrantType::TOKEN_EXCHANGE,
        ];
        KNOWN
            .into_iter()
            .find(|known| known.0 == value.as_str())
            .unwrap_or(Self(Cow::Owned(value)))
    }

    /// The value as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this grant sends the user agent to a redirect URI
    /// (`authorization_code`, `implicit`).
    pub fn uses_redirect(&self) -> bool {
        *self == Self::AUTHORIZATION_CODE || *self == Self::IMPLICIT
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `response_types` value (RFC 7591 §2, OAuth 2.0 Multiple Response Types):
/// `code`, `token`, `id_token`, `none`, or a space-separated combination such as
/// `code id_token`. Kept as sent; compared as a set of words, so `id_token code`
/// and `code id_token` are the same response type.
#[derive(Clone, Debug, Eq)]
pub struct ResponseType(Cow<'static, str>);

impl ResponseType {
    /// `code` (RFC 6749 §4.1).
    pub const CODE: Self = Self(Cow::Borrowed("code"));
    /// `token` (RFC 6749 §4.2).
    pub const TOKEN: Self = Self(Cow::Borrowed("token"));
    /// `id_token` (OIDC Core §3.2).
    pub const ID_TOKEN: Self = Self(Cow::Borrowed("id_token"));
    /// `none` (OAuth 2.0 Multiple Response Types §4).
    pub const NONE: Self = Self(Cow::Borrowed("none"));

    /// A response type by name.
    pub fn new(value: impl Into<Cow<'static, str>>) -> Self {
        Self(value.into())
    }

    /// A registered value, sharing the constant for a single standard word
    /// (no allocation kept per stored client).
    pub(crate) fn registered(value: String) -> Self {
        const KNOWN: [ResponseType; 4] = [
            ResponseType::CODE,
            ResponseType::TOKEN,
            ResponseType::ID_TOKEN,
            ResponseType::NONE,
        ];
        KNOWN
            .into_iter()
            .find(|known| known.0 == value.as_str())
            .unwrap_or(Self(Cow::Owned(value)))
    }

    /// The value as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The words of the combination (`code`, `id_token`, …).
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ')
    }

    /// Whether the combination includes `word`.
    pub fn contains(&self, word: &str) -> bool {
        self.words().any(|w| w == word)
    }

    /// Whether the combination needs the `authorization_code` grant.
    pub fn needs_authorization_code(&self) -> bool {
        self.contains("code")
    }

    /// Whether the combination returns tokens from the authorization endpoint,
    /// which needs the `implicit` grant (RFC 7591 §2.1).
    pub fn needs_implicit(&self) -> bool {
        self.contains("token") || self.contains("id_token")
    }
}

impl PartialEq for ResponseType {
    fn eq(&self, other: &Self) -> bool {
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

impl fmt::Display for ResponseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_types_compare_as_sets_of_words() {
        assert_eq!(
            ResponseType::new("code id_token"),
            ResponseType::new("id_token code")
        );
        assert_ne!(ResponseType::new("code"), ResponseType::new("code token"));
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
