//! [`Profile`]: the built-in registration rules an operator configures.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::metadata::jose::{JOSE_MEMBERS, JoseMember};
use crate::metadata::{GrantType, ResponseType, SubjectType, TokenEndpointAuthMethod};

/// What to do with a requested scope value outside the allow-list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UnknownScope {
    /// Refuse the registration with `invalid_client_metadata` (the default).
    #[default]
    Reject,
    /// Drop the value and register the rest (RFC 7591 §2: the server may
    /// register a narrower scope than requested).
    Narrow,
}

/// A set of registration rules: which values a client may register, the
/// defaults it gets, and the redirect URI rules.
///
/// The defaults are strict and match what [`crate::host`] can authenticate:
/// `client_secret_basic`, `client_secret_post` and `none`; the
/// `authorization_code`, `refresh_token` and `client_credentials` grants; the
/// `code` response type; `public` subjects; http redirect URIs only on loopback
/// hosts.
///
/// ```
/// use tower_dcr::{Profile, GrantType, TokenEndpointAuthMethod};
///
/// let profile = Profile::default()
///     .grant_types([GrantType::AuthorizationCode])
///     .token_endpoint_auth_methods([TokenEndpointAuthMethod::None])
///     .default_token_endpoint_auth_method(TokenEndpointAuthMethod::None)
///     .scopes(["openid", "profile"]);
/// ```
#[derive(Clone, Debug)]
pub struct Profile {
    pub(crate) token_endpoint_auth_methods: Vec<TokenEndpointAuthMethod>,
    pub(crate) default_token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub(crate) grant_types: Vec<GrantType>,
    pub(crate) response_types: Vec<ResponseType>,
    pub(crate) subject_types: Vec<SubjectType>,
    pub(crate) default_subject_type: Option<SubjectType>,
    pub(crate) registration_access_token_lifetime: Option<Duration>,
    pub(crate) algorithms: Algorithms,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) unknown_scope: UnknownScope,
    pub(crate) default_scope: Option<String>,
    pub(crate) web_http_loopback: bool,
    pub(crate) native_https: bool,
    pub(crate) max_redirect_uris: usize,
    pub(crate) client_secret_lifetime: Option<Duration>,
    pub(crate) allowed_redirect_hosts: Option<Vec<String>>,
    pub(crate) denied_redirect_hosts: Vec<String>,
    pub(crate) forced_values: Map<String, Value>,
    pub(crate) default_values: Map<String, Value>,
    pub(crate) require_pkce: bool,
}

/// The JOSE algorithms a client may register for OIDC signed and encrypted
/// responses, request objects and JWT client authentication: one list per
/// member of [`JOSE_MEMBERS`], in its order.
#[derive(Clone, Debug)]
pub(crate) struct Algorithms([Vec<String>; JOSE_MEMBERS.len()]);

impl Algorithms {
    /// The values allowed for `member`.
    pub(crate) fn allowed(&self, member: JoseMember) -> &[String] {
        &self.0[member.index()]
    }

    fn set(&mut self, member: JoseMember, values: Vec<String>) {
        self.0[member.index()] = values;
    }
}

fn owned<I, S>(values: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    values.into_iter().map(Into::into).collect()
}

fn lowercase<I, S>(values: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    values
        .into_iter()
        .map(|v| v.into().to_ascii_lowercase())
        .collect()
}

impl Default for Algorithms {
    fn default() -> Self {
        let asymmetric = || owned(["RS256", "PS256", "ES256", "EdDSA"]);
        Self(JOSE_MEMBERS.each_ref().map(|spec| match spec.member {
            JoseMember::IdTokenSigning | JoseMember::UserinfoSigning => owned(["RS256"]),
            JoseMember::RequestObjectSigning | JoseMember::TokenEndpointAuthSigning => asymmetric(),
            _ => Vec::new(),
        }))
    }
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            token_endpoint_auth_methods: vec![
                TokenEndpointAuthMethod::ClientSecretBasic,
                TokenEndpointAuthMethod::ClientSecretPost,
                TokenEndpointAuthMethod::None,
            ],
            default_token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            grant_types: vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::ClientCredentials,
            ],
            response_types: vec![ResponseType::Code],
            subject_types: vec![SubjectType::Public],
            default_subject_type: None,
            registration_access_token_lifetime: None,
            algorithms: Algorithms::default(),
            scopes: None,
            unknown_scope: UnknownScope::Reject,
            default_scope: None,
            web_http_loopback: true,
            native_https: true,
            max_redirect_uris: 16,
            client_secret_lifetime: None,
            allowed_redirect_hosts: None,
            denied_redirect_hosts: Vec::new(),
            forced_values: Map::new(),
            default_values: Map::new(),
            require_pkce: false,
        }
    }
}

impl Profile {
    /// The rules of Auth0's third-party applications: only the
    /// `authorization_code` and `refresh_token` grants and the `code` response
    /// type, PKCE required, `client_secret_post` by default, `client_secret_basic`
    /// and `none` (public clients) allowed.
    pub fn auth0_third_party() -> Self {
        Self::default()
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .response_types([ResponseType::Code])
            .token_endpoint_auth_methods([
                TokenEndpointAuthMethod::ClientSecretPost,
                TokenEndpointAuthMethod::ClientSecretBasic,
                TokenEndpointAuthMethod::None,
            ])
            .default_token_endpoint_auth_method(TokenEndpointAuthMethod::ClientSecretPost)
            .require_pkce(true)
    }

    /// Whether clients registered under this profile must use PKCE (RFC 7636)
    /// at the host's authorization endpoint. Registration records the profile;
    /// the host enforces PKCE (see [`Profile::pkce_required`]).
    pub fn require_pkce(mut self, require: bool) -> Self {
        self.require_pkce = require;
        self
    }

    /// Whether this profile requires PKCE.
    pub fn pkce_required(&self) -> bool {
        self.require_pkce
    }

    /// Redirect URI hosts allowed for `http`/`https` redirect URIs: exact host
    /// names, or `*.example.com` for any subdomain. Without a list every host
    /// is allowed (subject to the other rules).
    pub fn allowed_redirect_hosts<S: Into<String>>(
        mut self,
        hosts: impl IntoIterator<Item = S>,
    ) -> Self {
        self.allowed_redirect_hosts = Some(lowercase(hosts));
        self
    }

    /// Redirect URI hosts refused for `http`/`https` redirect URIs, in the same
    /// form as [`allowed_redirect_hosts`](Self::allowed_redirect_hosts).
    pub fn denied_redirect_hosts<S: Into<String>>(
        mut self,
        hosts: impl IntoIterator<Item = S>,
    ) -> Self {
        self.denied_redirect_hosts = lowercase(hosts);
        self
    }

    /// Sets a member to `value` whatever the client sent, before validation
    /// (for example `"token_endpoint_auth_method": "none"`).
    pub fn force_value(mut self, member: impl Into<String>, value: impl Into<Value>) -> Self {
        self.forced_values.insert(member.into(), value.into());
        self
    }

    /// Sets a member to `value` when the client sent none, before validation.
    pub fn default_value(mut self, member: impl Into<String>, value: impl Into<Value>) -> Self {
        self.default_values.insert(member.into(), value.into());
        self
    }

    /// Applies the forced values and defaults to a request body.
    pub(crate) fn apply_values(&self, object: &mut Map<String, Value>) {
        for (k, v) in &self.default_values {
            if object.get(k).is_none_or(Value::is_null) {
                object.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in &self.forced_values {
            object.insert(k.clone(), v.clone());
        }
    }

    /// Whether a redirect URI host passes the allow and deny lists.
    pub(crate) fn redirect_host_allowed(&self, host: &str) -> bool {
        let matches = |pattern: &String| match pattern.strip_prefix("*.") {
            Some(domain) => {
                host.len() > domain.len() + 1
                    && host.ends_with(domain)
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            }
            None => host.eq_ignore_ascii_case(pattern),
        };
        !self.denied_redirect_hosts.iter().any(matches)
            && self
                .allowed_redirect_hosts
                .as_ref()
                .is_none_or(|allowed| allowed.iter().any(matches))
    }
    /// The `token_endpoint_auth_method` values a client may register.
    pub fn token_endpoint_auth_methods(
        mut self,
        methods: impl IntoIterator<Item = TokenEndpointAuthMethod>,
    ) -> Self {
        self.token_endpoint_auth_methods = methods.into_iter().collect();
        self
    }

    /// The method registered when the client sends none (RFC 7591 §2 says
    /// `client_secret_basic`; Auth0 uses `client_secret_post`).
    pub fn default_token_endpoint_auth_method(mut self, method: TokenEndpointAuthMethod) -> Self {
        self.default_token_endpoint_auth_method = method;
        self
    }

    /// The `grant_types` values a client may register.
    pub fn grant_types(mut self, grant_types: impl IntoIterator<Item = GrantType>) -> Self {
        self.grant_types = grant_types.into_iter().collect();
        self
    }

    /// The `response_types` values a client may register.
    pub fn response_types(
        mut self,
        response_types: impl IntoIterator<Item = ResponseType>,
    ) -> Self {
        self.response_types = response_types.into_iter().collect();
        self
    }

    /// The `subject_type` values a client may register (OIDC).
    pub fn subject_types(mut self, subject_types: impl IntoIterator<Item = SubjectType>) -> Self {
        self.subject_types = subject_types.into_iter().collect();
        self
    }

    /// The `subject_type` a client gets when it sends none (OIDC DCR §2).
    /// Default: `public` when the profile supports it (and then the member
    /// stays absent), else the first supported type.
    pub fn default_subject_type(mut self, subject_type: SubjectType) -> Self {
        self.default_subject_type = Some(subject_type);
        self
    }

    /// The `subject_type` set on a client that sent none: `None` means
    /// `public`, left implicit.
    pub(crate) fn implied_subject_type(&self) -> Option<SubjectType> {
        match self.default_subject_type {
            Some(SubjectType::Public) => None,
            Some(other) => Some(other),
            None if self.subject_types.contains(&SubjectType::Public) => None,
            None => self.subject_types.first().copied(),
        }
    }

    /// How long a registration access token is valid after it is issued
    /// (RFC 7592 §3 leaves this to the server); an expired token is refused
    /// like a wrong one. Default: no expiry. A rotation on update issues a
    /// token with a fresh lifetime.
    pub fn registration_access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.registration_access_token_lifetime = Some(lifetime);
        self
    }

    /// Algorithms allowed for `id_token_signed_response_alg` (default `RS256`).
    /// `none` is accepted only when listed here.
    pub fn id_token_signing_alg_values<S: Into<String>>(
        mut self,
        values: impl IntoIterator<Item = S>,
    ) -> Self {
        self.algorithms
            .set(JoseMember::IdTokenSigning, owned(values));
        self
    }

    /// Algorithms allowed for `id_token_encrypted_response_alg` and `_enc`
    /// (default: none, so encryption cannot be requested).
    pub fn id_token_encryption_values<A: Into<String>, E: Into<String>>(
        mut self,
        alg: impl IntoIterator<Item = A>,
        enc: impl IntoIterator<Item = E>,
    ) -> Self {
        self.algorithms
            .set(JoseMember::IdTokenEncryptionAlg, owned(alg));
        self.algorithms
            .set(JoseMember::IdTokenEncryptionEnc, owned(enc));
        self
    }

    /// Algorithms allowed for `userinfo_signed_response_alg` (default `RS256`).
    pub fn userinfo_signing_alg_values<S: Into<String>>(
        mut self,
        values: impl IntoIterator<Item = S>,
    ) -> Self {
        self.algorithms
            .set(JoseMember::UserinfoSigning, owned(values));
        self
    }

    /// Algorithms allowed for `userinfo_encrypted_response_alg` and `_enc`
    /// (default: none).
    pub fn userinfo_encryption_values<A: Into<String>, E: Into<String>>(
        mut self,
        alg: impl IntoIterator<Item = A>,
        enc: impl IntoIterator<Item = E>,
    ) -> Self {
        self.algorithms
            .set(JoseMember::UserinfoEncryptionAlg, owned(alg));
        self.algorithms
            .set(JoseMember::UserinfoEncryptionEnc, owned(enc));
        self
    }

    /// Algorithms allowed for `request_object_signing_alg`
    /// (default `RS256`, `PS256`, `ES256`, `EdDSA`).
    pub fn request_object_signing_alg_values<S: Into<String>>(
        mut self,
        values: impl IntoIterator<Item = S>,
    ) -> Self {
        self.algorithms
            .set(JoseMember::RequestObjectSigning, owned(values));
        self
    }

    /// Algorithms allowed for `request_object_encryption_alg` and `_enc`
    /// (default: none).
    pub fn request_object_encryption_values<A: Into<String>, E: Into<String>>(
        mut self,
        alg: impl IntoIterator<Item = A>,
        enc: impl IntoIterator<Item = E>,
    ) -> Self {
        self.algorithms
            .set(JoseMember::RequestObjectEncryptionAlg, owned(alg));
        self.algorithms
            .set(JoseMember::RequestObjectEncryptionEnc, owned(enc));
        self
    }

    /// Algorithms allowed for `token_endpoint_auth_signing_alg`
    /// (default `RS256`, `PS256`, `ES256`, `EdDSA`; `none` is always refused).
    pub fn token_endpoint_auth_signing_alg_values<S: Into<String>>(
        mut self,
        values: impl IntoIterator<Item = S>,
    ) -> Self {
        self.algorithms
            .set(JoseMember::TokenEndpointAuthSigning, owned(values));
        self
    }

    /// The scope values a client may register. Without an allow-list any
    /// syntactically valid scope (RFC 6749 §3.3) is accepted.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = Some(owned(scopes));
        self
    }

    /// What to do with a scope value outside the allow-list (default: reject).
    pub fn unknown_scope(mut self, behaviour: UnknownScope) -> Self {
        self.unknown_scope = behaviour;
        self
    }

    /// The `scope` registered when the client sends none.
    pub fn default_scope(mut self, scope: impl Into<String>) -> Self {
        self.default_scope = Some(scope.into());
        self
    }

    /// Whether web clients may register `http` redirect URIs on loopback hosts
    /// (default: yes; never with the implicit grant).
    pub fn web_http_loopback(mut self, allow: bool) -> Self {
        self.web_http_loopback = allow;
        self
    }

    /// Whether native clients may register claimed `https` redirect URIs
    /// (RFC 8252 §7.2; default: yes). OIDC DCR §2, older than RFC 8252, allows
    /// only private-use schemes and loopback; set `false` for that reading.
    pub fn native_https(mut self, allow: bool) -> Self {
        self.native_https = allow;
        self
    }

    /// The largest number of `redirect_uris` a client may register (default 16).
    pub fn max_redirect_uris(mut self, max: usize) -> Self {
        self.max_redirect_uris = max;
        self
    }

    /// How long an issued `client_secret` is valid; `client_secret_expires_at` is
    /// set accordingly. Default: no expiry (`client_secret_expires_at: 0`).
    pub fn client_secret_lifetime(mut self, lifetime: Duration) -> Self {
        self.client_secret_lifetime = Some(lifetime);
        self
    }
}
