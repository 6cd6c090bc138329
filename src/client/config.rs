//! What to register, where, and how to talk to the server.

use std::fmt;
use std::time::Duration;

use http::HeaderMap;
use serde_json::{Map, Value};

use crate::credentials::Secret;
use crate::metadata::json::CLIENT_INFORMATION_MEMBERS;
use crate::metadata::{
    ClientMetadata, GrantType, ResponseType, SubjectType, TokenEndpointAuthMethod,
};

/// The default [`HttpOptions::connection_timeout`]: 60 seconds.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How the client talks to the server: timeout, extra headers, and the http
/// opt-in. Shared by [`register`](super::register), [`discover`](super::discover)
/// and the RFC 7592 calls of a [`ClientRegistration`](super::ClientRegistration).
///
/// `Debug` prints the names of the custom headers, never their values.
#[derive(Clone)]
pub struct HttpOptions {
    connection_timeout: Duration,
    custom_headers: HeaderMap,
    allow_insecure_http: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            connection_timeout: DEFAULT_TIMEOUT,
            custom_headers: HeaderMap::new(),
            allow_insecure_http: false,
        }
    }
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOptions")
            .field("connection_timeout", &self.connection_timeout)
            .field(
                "custom_headers",
                &self.custom_headers.keys().collect::<Vec<_>>(),
            )
            .field(
                "dangerously_allow_insecure_http_requests",
                &self.allow_insecure_http,
            )
            .finish()
    }
}

impl HttpOptions {
    /// The default options: 60 s timeout, no custom headers, https only (plain
    /// http to loopback hosts is always allowed).
    pub fn new() -> Self {
        Self::default()
    }

    /// How long one request may take, connecting included (default 60 s). Must
    /// be more than zero.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Headers added to every request (discovery, registration, management).
    /// They cannot replace `Content-Type`, `Accept`, or the `Authorization`
    /// header carrying an initial access token or a registration access token.
    pub fn custom_headers(mut self, headers: HeaderMap) -> Self {
        self.custom_headers = headers;
        self
    }

    /// Allows plain http to hosts other than loopback (default: refused).
    ///
    /// Security: over plain http anyone on the path reads the client secret and
    /// the registration access token. Use only on a network you trust, for
    /// development.
    pub fn dangerously_allow_insecure_http_requests(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    pub(super) fn timeout(&self) -> Duration {
        self.connection_timeout
    }

    pub(super) fn headers(&self) -> &HeaderMap {
        &self.custom_headers
    }

    pub(super) fn allows_insecure_http(&self) -> bool {
        self.allow_insecure_http
    }
}

/// The server's endpoints, given explicitly instead of discovered: the
/// `serviceConfiguration` of react-native-app-auth. [`discover`](super::discover)
/// returns one too.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ServiceConfiguration {
    /// The issuer identifier, when known.
    pub issuer: Option<String>,
    /// Where clients register (RFC 7591 §3).
    pub registration_endpoint: String,
    /// The authorization endpoint, when known.
    pub authorization_endpoint: Option<String>,
    /// The token endpoint, when known.
    pub token_endpoint: Option<String>,
    /// The revocation endpoint (RFC 7009), when known.
    pub revocation_endpoint: Option<String>,
    /// The end-session endpoint (OpenID Connect RP-Initiated Logout), when known.
    pub end_session_endpoint: Option<String>,
    /// The whole discovery document (empty for a configuration given by hand):
    /// the `*_supported` lists and any other member.
    pub document: Map<String, Value>,
}

impl ServiceConfiguration {
    /// A configuration with only a registration endpoint.
    pub fn new(registration_endpoint: impl Into<String>) -> Self {
        Self {
            registration_endpoint: registration_endpoint.into(),
            ..Self::default()
        }
    }
}

/// Where the registration endpoint comes from.
#[derive(Clone, Debug)]
pub(super) enum Provider {
    Issuer(String),
    ServiceConfiguration(ServiceConfiguration),
}

/// A registration request, with the options of react-native-app-auth's
/// `register()`.
///
/// Members given through the named methods win over the same members in
/// [`metadata`](Self::metadata); the defaults (`response_types` `["code"]`,
/// `grant_types` `["authorization_code"]`, `token_endpoint_auth_method`
/// `client_secret_basic`) apply only when neither sets them.
/// [`additional_parameters`](Self::additional_parameters) are written last and
/// win over everything.
///
/// ```
/// use std::time::Duration;
/// use tower_dcr::client::RegisterConfig;
/// use tower_dcr::{ClientMetadata, GrantType, Localized};
///
/// let mut metadata = ClientMetadata::default();
/// metadata.client_name = Localized::new("Example");
/// let config = RegisterConfig::issuer("https://auth.example.com", ["https://app.example/cb"])
///     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
///     .metadata(metadata)
///     .additional_parameters([("software_tag", "beta")])
///     .connection_timeout(Duration::from_secs(10));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct RegisterConfig {
    pub(super) provider: Provider,
    redirect_urls: Vec<String>,
    response_types: Option<Vec<ResponseType>>,
    grant_types: Option<Vec<GrantType>>,
    subject_type: Option<SubjectType>,
    token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    additional_parameters: Vec<(String, String)>,
    metadata: ClientMetadata,
    pub(super) initial_access_token: Option<Secret>,
    pub(super) options: HttpOptions,
}

impl RegisterConfig {
    /// Registers at the server of `issuer`, whose `registration_endpoint` is
    /// discovered (RFC 8414, then OpenID Connect Discovery).
    ///
    /// `redirect_urls` are the `redirect_uris` the client will use; an empty list
    /// sends none (for clients without redirect-based grants).
    pub fn issuer<I, S>(issuer: impl Into<String>, redirect_urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with_provider(Provider::Issuer(issuer.into()), redirect_urls)
    }

    /// Registers at an explicitly configured endpoint, without discovery.
    pub fn service_configuration<I, S>(
        configuration: ServiceConfiguration,
        redirect_urls: I,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with_provider(Provider::ServiceConfiguration(configuration), redirect_urls)
    }

    fn with_provider<I, S>(provider: Provider, redirect_urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            provider,
            redirect_urls: redirect_urls.into_iter().map(Into::into).collect(),
            response_types: None,
            grant_types: None,
            subject_type: None,
            token_endpoint_auth_method: None,
            additional_parameters: Vec::new(),
            metadata: ClientMetadata::default(),
            initial_access_token: None,
            options: HttpOptions::default(),
        }
    }

    /// The `response_types` (default `["code"]`).
    pub fn response_types(mut self, types: impl IntoIterator<Item = ResponseType>) -> Self {
        self.response_types = Some(types.into_iter().collect());
        self
    }

    /// The `grant_types` (default `["authorization_code"]`).
    pub fn grant_types(mut self, types: impl IntoIterator<Item = GrantType>) -> Self {
        self.grant_types = Some(types.into_iter().collect());
        self
    }

    /// The `subject_type` (OpenID Connect; not sent by default).
    pub fn subject_type(mut self, subject_type: SubjectType) -> Self {
        self.subject_type = Some(subject_type);
        self
    }

    /// The `token_endpoint_auth_method` (default `client_secret_basic`). With
    /// `none` the server issues no client secret.
    pub fn token_endpoint_auth_method(mut self, method: TokenEndpointAuthMethod) -> Self {
        self.token_endpoint_auth_method = Some(method);
        self
    }

    /// Extra members with string values, merged into the request body last.
    pub fn additional_parameters<I, K, V>(mut self, parameters: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.additional_parameters
            .extend(parameters.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Any other client metadata (`client_name`, `scope`, `jwks`, extension
    /// members, …). Members of a client information response (`client_id`,
    /// `client_secret`, …) placed in its extensions are never sent.
    pub fn metadata(mut self, metadata: ClientMetadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// An initial access token, sent as `Authorization: Bearer` to a server whose
    /// registration is protected (RFC 7591 §3).
    pub fn initial_access_token(mut self, token: impl Into<String>) -> Self {
        self.initial_access_token = Some(Secret::new(token));
        self
    }

    /// Headers added to every request; see [`HttpOptions::custom_headers`].
    pub fn custom_headers(mut self, headers: HeaderMap) -> Self {
        self.options = self.options.custom_headers(headers);
        self
    }

    /// How long one request may take (default 60 s); see
    /// [`HttpOptions::connection_timeout`].
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.options = self.options.connection_timeout(timeout);
        self
    }

    /// Allows plain http to hosts other than loopback; see
    /// [`HttpOptions::dangerously_allow_insecure_http_requests`].
    pub fn dangerously_allow_insecure_http_requests(mut self, allow: bool) -> Self {
        self.options = self.options.dangerously_allow_insecure_http_requests(allow);
        self
    }

    /// All HTTP options at once.
    pub fn http_options(mut self, options: HttpOptions) -> Self {
        self.options = options;
        self
    }

    /// The JSON body of the registration request.
    pub(super) fn request_body(&self) -> Map<String, Value> {
        let mut metadata = self.metadata.clone();
        if !self.redirect_urls.is_empty() {
            metadata.redirect_uris = Some(self.redirect_urls.clone());
        }
        metadata.response_types = self
            .response_types
            .clone()
            .or(metadata.response_types)
            .or_else(|| Some(vec![ResponseType::Code]));
        metadata.grant_types = self
            .grant_types
            .clone()
            .or(metadata.grant_types)
            .or_else(|| Some(vec![GrantType::AuthorizationCode]));
        metadata.subject_type = self.subject_type.or(metadata.subject_type);
        metadata.token_endpoint_auth_method = self
            .token_endpoint_auth_method
            .or(metadata.token_endpoint_auth_method)
            .or(Some(TokenEndpointAuthMethod::ClientSecretBasic));
        let mut body = metadata_object(&metadata);
        for (name, value) in &self.additional_parameters {
            body.insert(name.clone(), Value::String(value.clone()));
        }
        body
    }
}

/// The metadata as a JSON object, without the members of a client information
/// response (they are never client metadata, RFC 7591 §3.2.1, RFC 7592 §2.2).
pub(super) fn metadata_object(metadata: &ClientMetadata) -> Map<String, Value> {
    let mut object = match serde_json::to_value(metadata) {
        Ok(Value::Object(object)) => object,
        // ClientMetadata always serializes to an object.
        _ => Map::new(),
    };
    for member in CLIENT_INFORMATION_MEMBERS {
        object.remove(member);
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(config: &RegisterConfig) -> Value {
        Value::Object(config.request_body())
    }

    #[test]
    fn defaults_follow_react_native_app_auth() {
        let config = RegisterConfig::issuer("https://a.example", ["https://c.example/cb"]);
        assert_eq!(
            body(&config),
            json!({
                "redirect_uris": ["https://c.example/cb"],
                "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            })
        );
        assert_eq!(config.options.timeout(), Duration::from_secs(60));
    }

    #[test]
    fn named_options_win_over_metadata_and_metadata_over_defaults() {
        let mut metadata = ClientMetadata::default();
        metadata.grant_types = Some(vec![GrantType::ClientCredentials]);
        metadata.response_types = Some(vec![ResponseType::IdToken]);
        metadata.scope = Some("openid".into());
        let config = RegisterConfig::issuer("https://a.example", Vec::<String>::new())
            .metadata(metadata)
            .response_types([ResponseType::Code])
            .subject_type(SubjectType::Pairwise);
        let body = body(&config);
        assert_eq!(body["grant_types"], json!(["client_credentials"]));
        assert_eq!(body["response_types"], json!(["code"]));
        assert_eq!(body["subject_type"], "pairwise");
        assert_eq!(body["scope"], "openid");
        assert!(body.get("redirect_uris").is_none());
    }

    #[test]
    fn additional_parameters_are_strings_written_last() {
        let mut metadata = ClientMetadata::default();
        metadata.client_name = crate::metadata::Localized::new("from metadata");
        let config = RegisterConfig::issuer("https://a.example", ["https://c.example/cb"])
            .metadata(metadata)
            .additional_parameters([("client_name", "from parameters"), ("hello", "world")]);
        let body = body(&config);
        assert_eq!(body["client_name"], "from parameters");
        assert_eq!(body["hello"], "world");
    }

    #[test]
    fn client_information_members_in_extensions_are_never_sent() {
        let mut metadata = ClientMetadata::default();
        for member in CLIENT_INFORMATION_MEMBERS {
            metadata.extensions.insert(member.into(), json!("x"));
        }
        let object = metadata_object(&metadata);
        assert!(object.is_empty(), "{object:?}");
    }

    #[test]
    fn debug_shows_header_names_but_not_values() {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "very-secret-key".parse().unwrap());
        let config = RegisterConfig::issuer("https://a.example", ["https://c.example/cb"])
            .custom_headers(headers)
            .initial_access_token("initial-token-value");
        let debug = format!("{config:?}");
        assert!(debug.contains("x-api-key"), "{debug}");
        assert!(!debug.contains("very-secret-key"), "{debug}");
        assert!(!debug.contains("initial-token-value"), "{debug}");
    }
}
