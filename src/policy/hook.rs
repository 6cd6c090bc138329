//! The host's hook: a last say over every registration and update.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;

use async_trait::async_trait;
use http::{HeaderMap, header};

use crate::error::RegistrationError;
use crate::events::Operation;
use crate::metadata::ClientMetadata;

/// What a hook knows about the request.
#[derive(Clone)]
pub struct RequestContext {
    /// [`Operation::Register`] or [`Operation::Update`].
    pub operation: Operation,
    /// The request headers, without `Authorization` (the hook never sees a
    /// token).
    pub headers: HeaderMap,
    /// The peer address, when the host provides it (a [`SocketAddr`] request
    /// extension, or see `RegistrationBuilder::peer_address`).
    pub peer_addr: Option<SocketAddr>,
    /// The policy profile the registration falls under (`None`: the default).
    pub profile: Option<String>,
    /// The identifier of the initial access token presented, if any.
    pub initial_access_token_id: Option<String>,
    /// The client being updated (`None` for a registration).
    pub client_id: Option<String>,
}

impl RequestContext {
    pub(crate) fn new(
        operation: Operation,
        parts: &http::request::Parts,
        peer_addr: Option<SocketAddr>,
    ) -> Self {
        let mut headers = parts.headers.clone();
        headers.remove(header::AUTHORIZATION);
        Self {
            operation,
            headers,
            peer_addr,
            profile: None,
            initial_access_token_id: None,
            client_id: None,
        }
    }
}

#[cfg(feature = "client-id-metadata-document")]
impl RequestContext {
    /// The context of a fetched metadata document.
    pub(crate) fn for_document(client_id: &str, profile: Option<String>) -> Self {
        Self {
            operation: Operation::ResolveDocument,
            headers: HeaderMap::new(),
            peer_addr: None,
            profile,
            initial_access_token_id: None,
            client_id: Some(client_id.to_owned()),
        }
    }
}

impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("operation", &self.operation)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("peer_addr", &self.peer_addr)
            .field("profile", &self.profile)
            .field("initial_access_token_id", &self.initial_access_token_id)
            .field("client_id", &self.client_id)
            .finish()
    }
}

/// The host's review of a registration or update, run after the built-in rules.
/// It may return the metadata rewritten, or refuse with any RFC 7591 error. The
/// returned metadata is validated again with the same rules, so a hook cannot
/// store what the profile forbids.
///
/// Any `Fn(RequestContext, ClientMetadata) -> impl Future<Output =
/// Result<ClientMetadata, RegistrationError>>` is a hook:
///
/// ```
/// use tower_dcr::{ClientMetadata, Registration, RegistrationError};
/// use tower_dcr::policy::RequestContext;
///
/// let dcr = Registration::builder("https://auth.example.com")
///     .open()
///     .hook(|_context: RequestContext, mut metadata: ClientMetadata| async move {
///         if metadata.client_name.get().is_some_and(|n| n.contains("Official")) {
///             return Err(RegistrationError::invalid_client_metadata(
///                 "client_name: reserved word",
///             ));
///         }
///         metadata.scope = Some("read".into());
///         Ok(metadata)
///     })
///     .build()
///     .unwrap();
/// ```
#[async_trait]
pub trait RegistrationHook: Send + Sync + 'static {
    /// Reviews the metadata; returns it (possibly rewritten) or an error.
    async fn review(
        &self,
        context: RequestContext,
        metadata: ClientMetadata,
    ) -> Result<ClientMetadata, RegistrationError>;
}

#[async_trait]
impl<F, Fut> RegistrationHook for F
where
    F: Fn(RequestContext, ClientMetadata) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ClientMetadata, RegistrationError>> + Send + 'static,
{
    async fn review(
        &self,
        context: RequestContext,
        metadata: ClientMetadata,
    ) -> Result<ClientMetadata, RegistrationError> {
        self(context, metadata).await
    }
}
