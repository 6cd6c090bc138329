//! [`Registration`]: the tower `Service` that serves the registration endpoints.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{Method, Request, Response};
use http_body::Body;
use tower_service::Service;

use tracing::Instrument;

use crate::config::Config;
use crate::endpoint;
use crate::error::Rejection;
use crate::events::{EventKind, Operation};
mod builder;
mod discovery;
pub mod future;
pub mod host;
mod layer;
mod lifecycle;
mod tokens;

use crate::error::BoxError;
use crate::response::ResponseBody;
use crate::store::ClientStore;
pub use builder::{ConfigError, RegistrationBuilder};
use future::RegistrationFuture;
#[allow(deprecated)]
pub use layer::{Dcr, DcrLayer, RegistrationLayer, RegistrationService};
pub use lifecycle::{Reaper, ReaperConfig, SweepReport};
pub use tokens::{InitialAccessTokenOptions, MintError};

/// The registration endpoints as a tower [`Service`]: `POST {endpoint}` (RFC 7591)
/// and `GET`/`PUT`/`DELETE {endpoint}/{client_id}` (RFC 7592).
///
/// Every failure is a response (`Error = Infallible`), the service is always
/// ready, and clones share one configuration and store. URLs in responses come
/// from the configured issuer, never from the request's `Host`.
///
/// The service answers requests whose path is the configured endpoint (or below
/// it). Any other path is read relative to the endpoint, which is what a
/// router's `nest_service` hands over after stripping the prefix:
///
/// ```
/// use axum::Router;
/// use tower_dcr::{MemoryStore, Registration};
///
/// let dcr = Registration::builder("https://auth.example.com")
///     .open()
///     .store(MemoryStore::new())
///     .build()
///     .unwrap();
/// let app: Router = Router::new().nest_service("/register", dcr);
/// ```
///
#[doc = include_str!("../../docs/endpoints.md")]
#[derive(Clone)]
pub struct Registration {
    config: Arc<Config>,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("config", &self.config)
            .finish()
    }
}

/// Which registration resource a path names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// The registration endpoint itself.
    Endpoint,
    /// A client configuration endpoint, `{endpoint}/{client_id}`, with the
    /// identifier percent-decoded.
    Client(Cow<'a, str>),
}

/// Reads what follows the endpoint path: nothing (or `/`) is the endpoint, one
/// more segment is a client.
fn route_rest(rest: &str) -> Option<Route<'_>> {
    match rest {
        "" | "/" => Some(Route::Endpoint),
        _ => {
            let segment = rest.strip_prefix('/')?;
            if segment.is_empty() || segment.contains('/') {
                return None;
            }
            // Most identifiers have nothing to decode: no UTF-8 check then.
            if !segment.contains('%') {
                return Some(Route::Client(Cow::Borrowed(segment)));
            }
            let id = percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .ok()?;
            Some(Route::Client(id))
        }
    }
}

impl Registration {
    /// Starts configuring a registration service for `issuer`, the authorization
    /// server's issuer identifier (RFC 8414 §2): https, or http on loopback.
    pub fn builder(issuer: impl Into<String>) -> RegistrationBuilder {
        RegistrationBuilder::new(issuer)
    }

    pub(crate) fn from_config(config: Config) -> Self {
        Self {
            config: Arc::new(config),
        }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The absolute URL of the registration endpoint, for discovery documents.
    pub fn registration_endpoint(&self) -> &str {
        &self.config.registration_endpoint
    }

    /// The path of the registration endpoint.
    pub fn endpoint_path(&self) -> &str {
        &self.config.endpoint
    }

    /// The issuer identifier this service was configured with.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// The client store, for what only it answers (its capabilities: listing,
    /// initial access tokens). Look a client up with
    /// [`client`](Self::client), which resolves URL clients too.
    pub fn store(&self) -> &Arc<dyn ClientStore> {
        &self.config.store
    }

    /// A [`tower_layer::Layer`] that serves the registration endpoints in front of
    /// a host service `S` (making a [`Dcr<S>`]) and passes every other request
    /// through.
    pub fn layer(&self) -> DcrLayer {
        DcrLayer::new(self.clone())
    }

    /// Which resource a full request path names, if it is under the endpoint.
    pub(crate) fn route_full<'p>(&self, path: &'p str) -> Option<Route<'p>> {
        route_rest(path.strip_prefix(self.config.endpoint.as_str())?)
    }

    /// Routes a full path, or else a path relative to the endpoint (after a
    /// router stripped the prefix).
    fn route<'p>(&self, path: &'p str) -> Option<Route<'p>> {
        self.route_full(path).or_else(|| route_rest(path))
    }

    /// Serves one request: the same as `Service::call`, as an `async fn`.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<ResponseBody>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = request.into_parts();
        self.dispatch(&parts, body)
            .await
            .unwrap_or_else(Rejection::into_response)
    }

    /// Takes the request's head by reference: an `async fn` keeps its
    /// arguments for its whole life, so the head is stored once, by the caller.
    async fn dispatch<B>(&self, parts: &Parts, body: B) -> Result<Response<ResponseBody>, Rejection>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let config = &*self.config;
        let peer = config.peer_addr(&parts.extensions);
        let route = self.route(parts.uri.path());
        let operation = match (&route, &parts.method) {
            (Some(Route::Endpoint), &Method::POST) => Operation::Register,
            (Some(Route::Client(_)), &Method::GET) => Operation::Read,
            (Some(Route::Client(_)), &Method::PUT) => Operation::Update,
            (Some(Route::Client(_)), &Method::DELETE) => Operation::Delete,
            _ => Operation::Other,
        };
        let client_id = match &route {
            Some(Route::Client(id)) => Some(id.as_ref()),
            _ => None,
        };
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let span =
            tracing::debug_span!("dcr", operation = operation.as_str(), client_id = ?client_id);
        // Registration and update hold the request's metadata across their
        // awaits and make large futures: they are boxed, so that reads and
        // deletes, the frequent requests, move and allocate a small one.
        let result = async {
            match (&route, &parts.method) {
                (Some(Route::Endpoint), &Method::POST) => {
                    Box::pin(endpoint::register(config, parts, body, peer)).await
                }
                (Some(Route::Endpoint), _) => Err(Rejection::MethodNotAllowed("POST")),
                (Some(Route::Client(id)), &Method::GET) => endpoint::read(config, id, parts).await,
                (Some(Route::Client(id)), &Method::PUT) => {
                    Box::pin(endpoint::update(config, id, parts, body, peer)).await
                }
                (Some(Route::Client(id)), &Method::DELETE) => {
                    endpoint::delete(config, id, parts, peer).await
                }
                (Some(Route::Client(_)), _) => Err(Rejection::MethodNotAllowed("GET, PUT, DELETE")),
                (None, _) => Err(Rejection::NotFound),
            }
        }
        .instrument(span.clone())
        .await;
        if let Err(rejection) = &result {
            let _entered = span.enter();
            tracing::debug!(
                status = rejection.status().as_u16(),
                error = rejection.error_code().as_str(),
                "request refused"
            );
            let kind = match rejection {
                Rejection::RateLimited(_) => EventKind::RateLimited,
                _ => EventKind::Rejected {
                    status: rejection.status().as_u16(),
                    error: rejection.error_code(),
                },
            };
            config.emit(kind, operation, client_id, None, peer);
        }
        #[cfg(feature = "metrics")]
        crate::metrics::request(operation, result.as_ref().err(), started.elapsed());
        result
    }
}

impl<B> Service<Request<B>> for Registration
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = RegistrationFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let this = self.clone();
        let (parts, body) = request.into_parts();
        Box::pin(async move {
            Ok(this
                .dispatch(&parts, body)
                .await
                .unwrap_or_else(Rejection::into_response))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_full_and_nested_paths() {
        let r = Registration::builder("https://a.example")
            .open()
            .build()
            .unwrap();
        assert_eq!(r.route("/register"), Some(Route::Endpoint));
        assert_eq!(r.route("/register/abc"), Some(Route::Client("abc".into())));
        assert_eq!(r.route("/"), Some(Route::Endpoint));
        assert_eq!(r.route("/abc"), Some(Route::Client("abc".into())));
        assert_eq!(
            r.route("/register/a%3Ab%20c"),
            Some(Route::Client("a:b c".into()))
        );
        assert_eq!(r.route("/register/abc/x"), None);
        assert_eq!(
            r.route("/register/%E2%82%AC"),
            Some(Route::Client("€".into()))
        );
        assert_eq!(r.route("/register/%FF"), None);
        assert_eq!(r.route_full("/registerx"), None);
        assert_eq!(r.route_full("/other"), None);
    }
}
