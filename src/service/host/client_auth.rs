//! Client authentication at the token endpoint (RFC 6749 §2.3.1).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, header};
use percent_encoding::percent_decode_str;

use super::form::FormField;
use super::token_error::TokenError;
use crate::credentials::{Secret, SecretDigest};
use crate::error::ErrorCode;
use crate::metadata::TokenEndpointAuthMethod;
use crate::service::Registration;
use crate::store::{ClientRecord, StoreError};
use crate::time::now;

/// How the client presented its credentials in a token request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialsLocation {
    /// `Authorization: Basic` (`client_secret_basic`).
    BasicHeader,
    /// `client_id` and `client_secret` form fields (`client_secret_post`).
    RequestBody,
    /// Only a `client_id` form field, no secret (`none`).
    ClientIdOnly,
    /// A JWT in `client_assertion` (`private_key_jwt`, `client_secret_jwt`;
    /// RFC 7523 §2.2).
    Assertion,
}

/// `client_assertion_type` of a JWT assertion (RFC 7523 §2.2).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The client credentials of a token request, as presented.
///
/// `Debug` redacts the secret.
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    client_id: String,
    client_secret: Option<Secret>,
    client_assertion: Option<Secret>,
    location: CredentialsLocation,
}

/// Why a client could not be authenticated.
///
/// [`TokenError::from_client_auth`] turns it into the RFC 6749 §5.2 answer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientAuthError {
    /// RFC 6749 §5.2 `invalid_request`: credentials are malformed, or presented
    /// in more than one way (RFC 6749 §2.3).
    #[error("invalid_request: malformed or repeated client credentials")]
    InvalidRequest,
    /// RFC 6749 §5.2 `invalid_client`: unknown client, wrong secret, expired
    /// secret, or a method other than the registered one. One error for every
    /// cause, so nothing is learned about which clients exist.
    #[error("invalid_client: client authentication failed")]
    InvalidClient,
    /// The client store failed (already logged, with its cause, at error
    /// level). Answer `503` (`temporarily_unavailable`): the client may be
    /// fine, and a retry may succeed.
    #[error("the client store failed")]
    Store(#[source] Arc<StoreError>),
    /// A URL client's metadata document was not fetched now because a fetch
    /// bound was reached (`FetchBounds`). Answer `503`
    /// (`temporarily_unavailable`) with `Retry-After`: not `invalid_client`,
    /// the client may be fine.
    #[error("fetching the client's metadata document is throttled")]
    Throttled {
        /// When a new lookup may fetch again.
        retry_after: std::time::Duration,
    },
}

impl ClientAuthError {
    /// The RFC 6749 §5.2 error code (`temporarily_unavailable` for the store).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::InvalidRequest => ErrorCode::InvalidRequest,
            Self::InvalidClient => ErrorCode::InvalidClient,
            Self::Store(_) | Self::Throttled { .. } => ErrorCode::TemporarilyUnavailable,
        }
    }
}

/// Equal kinds; two store errors are equal only if they are the same error.
impl PartialEq for ClientAuthError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::InvalidRequest, Self::InvalidRequest)
            | (Self::InvalidClient, Self::InvalidClient) => true,
            (Self::Store(a), Self::Store(b)) => Arc::ptr_eq(a, b),
            (Self::Throttled { retry_after: a }, Self::Throttled { retry_after: b }) => a == b,
            _ => false,
        }
    }
}

impl Eq for ClientAuthError {}

/// Whether the request carries `Authorization: Basic` credentials (RFC 6749
/// §5.2 then wants `401` with a Basic challenge for `invalid_client`).
pub(super) fn tried_basic(headers: &HeaderMap) -> bool {
    headers.get_all(header::AUTHORIZATION).iter().any(|value| {
        let value = value.as_bytes();
        value.len() >= 5
            && value[..5].eq_ignore_ascii_case(b"basic")
            && value.get(5).is_none_or(|b| *b == b' ')
    })
}

/// Logs a store failure at error level with its cause chain, and wraps it.
pub(super) fn store_failed(error: StoreError, what: &str) -> Arc<StoreError> {
    let cause = crate::error::cause_chain(&error);
    tracing::error!(error = %error, cause, "{what}: the client store failed");
    Arc::new(error)
}

/// Decodes one `application/x-www-form-urlencoded` component (RFC 6749
/// §2.3.1, Appendix B): `+` is a space, `%XX` a byte; the result must be UTF-8.
/// A `%` not followed by two hex digits is malformed (otherwise `a%zz` and
/// `a%25zz` would name the same client).
fn form_decode(component: &str) -> Option<String> {
    let bytes = component.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    let spaced: Cow<'_, str> = if component.contains('+') {
        Cow::Owned(component.replace('+', " "))
    } else {
        Cow::Borrowed(component)
    };
    percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}

impl ClientCredentials {
    /// Reads client credentials from a token request: the `Authorization: Basic`
    /// header and the `client_id` / `client_secret` form fields, already decoded
    /// by the host's form parser.
    ///
    /// In the header, the identifier and secret are each form-urlencoded before
    /// Base64 (RFC 6749 §2.3.1), so `:` and `%` in them arrive as `%3A` and
    /// `%25`. Credentials in more than one place are an `invalid_request`
    /// (RFC 6749 §2.3).
    ///
    /// The form fields are `Option<&str>` or `&Option<String>` (a field of the
    /// host's deserialized form), see [`FormField`].
    ///
    /// It reads no client assertion: `private_key_jwt` and
    /// `client_secret_jwt` clients need
    /// [`from_request_with_assertion`](Self::from_request_with_assertion).
    pub fn from_request<'a>(
        headers: &HeaderMap,
        form_client_id: impl FormField<'a>,
        form_client_secret: impl FormField<'a>,
    ) -> Result<Self, ClientAuthError> {
        Self::from_request_with_assertion(
            headers,
            form_client_id,
            form_client_secret,
            None::<&str>,
            None::<&str>,
        )
    }

    /// [`from_request`](Self::from_request), also reading the
    /// `client_assertion_type` and `client_assertion` form fields (RFC 7521
    /// §4.2, RFC 7523 §2.2). An assertion next to another credential, or one
    /// field without the other, is an `invalid_request`; an assertion type
    /// other than JWT bearer is an `invalid_client`. Without a `client_id`
    /// field, the client is the assertion's `sub` (checked with its
    /// signature).
    pub fn from_request_with_assertion<'a>(
        headers: &HeaderMap,
        form_client_id: impl FormField<'a>,
        form_client_secret: impl FormField<'a>,
        client_assertion_type: impl FormField<'a>,
        client_assertion: impl FormField<'a>,
    ) -> Result<Self, ClientAuthError> {
        let (form_client_id, form_client_secret) =
            (form_client_id.field(), form_client_secret.field());
        match (client_assertion_type.field(), client_assertion.field()) {
            (None, None) => {}
            (Some(kind), Some(assertion)) => {
                if form_client_secret.is_some() || headers.contains_key(header::AUTHORIZATION) {
                    return Err(ClientAuthError::InvalidRequest);
                }
                if kind != JWT_BEARER {
                    return Err(ClientAuthError::InvalidClient);
                }
                let client_id = match form_client_id {
                    Some(id) => id.to_owned(),
                    None => assertion_subject(assertion).ok_or(ClientAuthError::InvalidClient)?,
                };
                return Ok(Self {
                    client_id,
                    client_secret: None,
                    client_assertion: Some(Secret::new(assertion)),
                    location: CredentialsLocation::Assertion,
                });
            }
            _ => return Err(ClientAuthError::InvalidRequest),
        }
        let mut basic = None;
        for value in headers.get_all(header::AUTHORIZATION) {
            let value = value
                .to_str()
                .map_err(|_| ClientAuthError::InvalidRequest)?;
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            if scheme.eq_ignore_ascii_case("basic") {
                if basic.is_some() {
                    return Err(ClientAuthError::InvalidRequest);
                }
                basic = Some(Self::parse_basic(rest.trim())?);
            }
        }
        match (basic, form_client_id, form_client_secret) {
            (Some(_), _, Some(_)) => Err(ClientAuthError::InvalidRequest),
            (Some(basic), Some(id), None) if id != basic.client_id => {
                Err(ClientAuthError::InvalidRequest)
            }
            (Some(basic), _, None) => Ok(basic),
            (None, Some(id), Some(secret)) => Ok(Self {
                client_id: id.to_owned(),
                client_secret: Some(Secret::new(secret)),
                client_assertion: None,
                location: CredentialsLocation::RequestBody,
            }),
            (None, Some(id), None) => Ok(Self {
                client_id: id.to_owned(),
                client_secret: None,
                client_assertion: None,
                location: CredentialsLocation::ClientIdOnly,
            }),
            (None, None, _) => Err(ClientAuthError::InvalidClient),
        }
    }

    fn parse_basic(encoded: &str) -> Result<Self, ClientAuthError> {
        let decoded = STANDARD
            .decode(encoded)
            .map_err(|_| ClientAuthError::InvalidRequest)?;
        let decoded = String::from_utf8(decoded).map_err(|_| ClientAuthError::InvalidRequest)?;
        let decoded = Secret::new(decoded);
        let (id, secret) = decoded
            .secret()
            .split_once(':')
            .ok_or(ClientAuthError::InvalidRequest)?;
        let client_id = form_decode(id).ok_or(ClientAuthError::InvalidRequest)?;
        let client_secret = form_decode(secret).ok_or(ClientAuthError::InvalidRequest)?;
        if client_id.is_empty() {
            return Err(ClientAuthError::InvalidRequest);
        }
        Ok(Self {
            client_id,
            client_secret: Some(Secret::new(client_secret)),
            client_assertion: None,
            location: CredentialsLocation::BasicHeader,
        })
    }

    /// The presented `client_id`.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Where the credentials were presented.
    pub fn location(&self) -> CredentialsLocation {
        self.location
    }
}

/// The unverified `sub` of a JWT, to know which client's keys check it.
fn assertion_subject(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

impl Registration {
    /// Authenticates a client at the token endpoint against its registered
    /// `token_endpoint_auth_method` (RFC 6749 §2.3.1): `client_secret_basic`
    /// needs the Basic header, `client_secret_post` the form fields, `none` only
    /// a `client_id`. Unknown client, wrong method, wrong or expired secret all
    /// give [`ClientAuthError::InvalidClient`].
    ///
    /// The check is one store lookup, one SHA-256 and a constant-time compare.
    /// Clients registered with `client_secret_jwt` or `private_key_jwt` present
    /// a JWT assertion, read by
    /// [`ClientCredentials::from_request_with_assertion`] (not by
    /// [`ClientCredentials::from_request`]), verified when the service is
    /// configured with `RegistrationBuilder::client_assertions` (RFC 7523
    /// §2.2; see `tower_dcr::client_assertion`); TLS methods are refused here:
    /// the host verifies those itself.
    /// [`authenticate_token_request_with_assertion`](Self::authenticate_token_request_with_assertion)
    /// does both steps in one call.
    ///
    /// URL clients (Client ID Metadata Documents) authenticate the same way:
    /// the client is found with [`client`](Self::client).
    ///
    /// A store failure is logged at error level and returned as
    /// [`ClientAuthError::Store`].
    pub async fn authenticate_client(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<Arc<ClientRecord>, ClientAuthError> {
        let record = self
            .client(&credentials.client_id)
            .await
            .map_err(|e| match e {
                super::ResolveError::Store(e) => ClientAuthError::Store(e),
                #[cfg(feature = "client-id-metadata-document")]
                super::ResolveError::Document(_) => ClientAuthError::InvalidClient,
                #[cfg(feature = "client-id-metadata-document")]
                super::ResolveError::Throttled { retry_after } => {
                    ClientAuthError::Throttled { retry_after }
                }
            })?;
        let Some(record) = record else {
            // Same digest work as for a known client.
            if let Some(secret) = &credentials.client_secret {
                let _ = SecretDigest::of(secret.secret());
            }
            return Err(ClientAuthError::InvalidClient);
        };
        let method = record.metadata.auth_method();
        let jwt_method = matches!(
            method,
            TokenEndpointAuthMethod::PrivateKeyJwt | TokenEndpointAuthMethod::ClientSecretJwt
        );
        if let Some(assertion) = &credentials.client_assertion {
            if !jwt_method {
                tracing::info!(
                    client_id = %record.client_id,
                    reason = "the client is not registered for JWT authentication",
                    "client assertion refused"
                );
                return Err(ClientAuthError::InvalidClient);
            }
            self.verify_client_assertion(&record, assertion).await?;
            self.record_use(&record).await;
            return Ok(record);
        }
        let location_ok = matches!(
            (method, credentials.location),
            (
                TokenEndpointAuthMethod::ClientSecretBasic,
                CredentialsLocation::BasicHeader
            ) | (
                TokenEndpointAuthMethod::ClientSecretPost,
                CredentialsLocation::RequestBody
            ) | (
                TokenEndpointAuthMethod::None,
                CredentialsLocation::ClientIdOnly
            )
        );
        let secret_ok = match (&record.client_secret, &credentials.client_secret) {
            (Some(stored), Some(presented)) => {
                stored.verify(presented.secret()) && !record.secret_expired(now())
            }
            (None, None) => method == TokenEndpointAuthMethod::None,
            _ => false,
        };
        if location_ok && secret_ok {
            self.record_use(&record).await;
            Ok(record)
        } else {
            Err(ClientAuthError::InvalidClient)
        }
    }

    /// The token endpoint's client authentication in one call, for every
    /// method the service can verify: `client_secret_basic` (the
    /// `Authorization: Basic` header), `client_secret_post` and `none` (the
    /// `client_id` / `client_secret` form fields), and, with
    /// `RegistrationBuilder::client_assertions` (feature `client-assertion`)
    /// configured, `private_key_jwt` and `client_secret_jwt` (the
    /// `client_assertion_type` / `client_assertion` form fields, RFC 7523
    /// §2.2). It is [`ClientCredentials::from_request_with_assertion`], then
    /// [`authenticate_client`](Registration::authenticate_client), with any
    /// failure as the RFC 6749 §5.2 answer ([`TokenError::from_client_auth`]):
    /// `invalid_client` is `401` with `WWW-Authenticate: Basic` when the client
    /// tried Basic, `400` otherwise.
    ///
    /// The form fields are `Option<&str>` or `&Option<String>` (fields of the
    /// host's deserialized form), see [`FormField`].
    ///
    /// ```
    /// # async fn handler(dcr: tower_dcr::Registration, headers: http::HeaderMap) {
    /// let client_id: Option<String> = Some("unknown".into());
    /// let none: Option<String> = None;
    /// let error = dcr
    ///     .authenticate_token_request_with_assertion(&headers, &client_id, &none, &none, &none)
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(error.error_code(), "invalid_client");
    /// # }
    /// ```
    pub async fn authenticate_token_request_with_assertion<'a>(
        &self,
        headers: &HeaderMap,
        form_client_id: impl FormField<'a>,
        form_client_secret: impl FormField<'a>,
        client_assertion_type: impl FormField<'a>,
        client_assertion: impl FormField<'a>,
    ) -> Result<Arc<ClientRecord>, TokenError> {
        let result = match ClientCredentials::from_request_with_assertion(
            headers,
            form_client_id,
            form_client_secret,
            client_assertion_type,
            client_assertion,
        ) {
            Ok(credentials) => self.authenticate_client(&credentials).await,
            Err(error) => Err(error),
        };
        result.map_err(|error| TokenError::from_client_auth(&error, headers))
    }

    /// [`authenticate_token_request_with_assertion`](Self::authenticate_token_request_with_assertion)
    /// without the assertion fields: `client_secret_basic`,
    /// `client_secret_post` and `none` only. A `private_key_jwt` or
    /// `client_secret_jwt` client always fails here (`invalid_client`): a
    /// token endpoint that serves them calls the `_with_assertion` form.
    ///
    /// ```
    /// # async fn handler(dcr: tower_dcr::Registration, headers: http::HeaderMap) {
    /// let client_id: Option<String> = Some("unknown".into());
    /// let client_secret: Option<String> = None;
    /// let error = dcr
    ///     .authenticate_token_request(&headers, &client_id, &client_secret)
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(error.error_code(), "invalid_client");
    /// # }
    /// ```
    pub async fn authenticate_token_request<'a>(
        &self,
        headers: &HeaderMap,
        form_client_id: impl FormField<'a>,
        form_client_secret: impl FormField<'a>,
    ) -> Result<Arc<ClientRecord>, TokenError> {
        self.authenticate_token_request_with_assertion(
            headers,
            form_client_id,
            form_client_secret,
            None::<&str>,
            None::<&str>,
        )
        .await
    }
}

impl fmt::Display for CredentialsLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BasicHeader => "client_secret_basic",
            Self::RequestBody => "client_secret_post",
            Self::ClientIdOnly => "none",
            Self::Assertion => "client_assertion",
        })
    }
}
