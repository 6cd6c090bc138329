//! [`DcrLayer`] and the service it makes, [`Dcr<S>`]: the registration
//! endpoints in front of a host service `S` (tower-http's `XLayer` -> `X<S>`).

use std::fmt;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use http_body_util::Either;
use tower_layer::Layer;
use tower_service::Service;

use super::Registration;
use super::future::ResponseFuture;
use crate::error::BoxError;
use crate::response::ResponseBody;

/// A [`Layer`] that wraps a host service `S` into [`Dcr<S>`]: requests for the
/// registration endpoints are answered by [`Registration`], every other request
/// goes to `S` unchanged. Made by [`Registration::layer`].
///
/// ```
/// use tower::ServiceBuilder;
/// use tower_dcr::Registration;
/// # async fn host(_: http::Request<String>) -> Result<http::Response<String>, std::convert::Infallible> { Ok(http::Response::new(String::new())) }
///
/// let dcr = Registration::builder("https://auth.example.com").open().build().unwrap();
/// let service = ServiceBuilder::new()
///     .layer(dcr.layer())
///     .service_fn(host);
/// ```
#[derive(Clone)]
pub struct DcrLayer {
    registration: Registration,
}

impl DcrLayer {
    pub(crate) fn new(registration: Registration) -> Self {
        Self { registration }
    }
}

impl fmt::Debug for DcrLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DcrLayer")
            .field("endpoint", &self.registration.endpoint_path())
            .finish()
    }
}

impl<S> Layer<S> for DcrLayer {
    type Service = Dcr<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Dcr {
            inner,
            registration: self.registration.clone(),
        }
    }
}

/// The registration endpoints in front of the host service `S`, made by
/// [`DcrLayer`]: requests under the endpoint are answered by [`Registration`],
/// every other request goes to `S`.
#[derive(Clone)]
pub struct Dcr<S> {
    inner: S,
    registration: Registration,
}

impl<S> Dcr<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the layer's service, returning the inner one.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for Dcr<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dcr")
            .field("inner", &self.inner)
            .field("endpoint", &self.registration.endpoint_path())
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Dcr<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
{
    type Response = Response<Either<ResponseBody, ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if self.registration.route_full(request.uri().path()).is_some() {
            ResponseFuture::registration(self.registration.call(request))
        } else {
            ResponseFuture::inner(self.inner.call(request))
        }
    }
}

/// The former name of [`DcrLayer`].
#[deprecated(note = "renamed `DcrLayer` (the layer of `Dcr<S>`)")]
pub type RegistrationLayer = DcrLayer;

/// The former name of [`Dcr`].
#[deprecated(note = "renamed `Dcr<S>` (made by `DcrLayer`)")]
pub type RegistrationService<S> = Dcr<S>;
