//! CORS on the registration endpoints, without per-request work for what is
//! fixed: preflights (`OPTIONS`) go to tower-http's `Cors`; every other
//! response gets the headers tower-http's `Cors` adds, in its order, taken
//! from it once when the server starts. Per request, tower-http builds a
//! header map, the `Vary` value and an allow-origin future, and merges them
//! into the response: about 3,000 instructions per request.

use std::convert::Infallible;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};

use http::header::HeaderName;
use http::{HeaderMap, HeaderValue, Method, Request, Response, header};
use pin_project_lite::pin_project;
use tower::{Layer as _, Service};
use tower_http::cors::{Cors, CorsLayer};

/// Which origins the CORS layer allows.
#[derive(Debug)]
pub enum AllowedOrigins {
    /// Any: every response names `*`.
    Any,
    /// These: a response echoes the request's `Origin` when it is one of them.
    List(Vec<HeaderValue>),
}

/// A header an actual response gets; `None` stands for the request's
/// `Origin`, echoed.
type Added = Vec<(HeaderName, Option<HeaderValue>)>;

/// What is fixed for the life of the server.
#[derive(Debug)]
struct Fixed {
    preflight: CorsLayer,
    origins: AllowedOrigins,
    /// The headers of a response to an allowed origin (with `Any`: to every
    /// request).
    allowed: Added,
    /// The headers of a response to another origin, or to no origin.
    other: Added,
}

/// The headers `layer` adds to an empty response to a `GET` with this
/// `Origin`, in order.
fn added_by(layer: &CorsLayer, origin: Option<&HeaderValue>) -> Vec<(HeaderName, HeaderValue)> {
    let mut request = Request::new(());
    if let Some(origin) = origin {
        request.headers_mut().insert(header::ORIGIN, origin.clone());
    }
    let empty = |_: Request<()>| std::future::ready(Ok::<_, Infallible>(Response::new(())));
    let mut cors = layer.clone().layer(tower::service_fn(empty));
    let mut future = pin!(cors.call(request));
    let Poll::Ready(Ok(response)) = future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    else {
        unreachable!("tower-http's Cors answers an actual request once its service has");
    };
    response
        .headers()
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// The layer's service: see the module documentation.
#[derive(Clone, Debug)]
pub struct RegistrationCors<S> {
    inner: S,
    /// Shared: axum clones the service for every request.
    fixed: Arc<Fixed>,
}

impl<S> RegistrationCors<S> {
    /// `layer` answers preflights and gives the headers of the other
    /// responses; `origins` is what it allows.
    pub fn new(inner: S, layer: CorsLayer, origins: AllowedOrigins) -> Self {
        let fixed = |added: Vec<(HeaderName, HeaderValue)>| -> Added {
            added.into_iter().map(|(n, v)| (n, Some(v))).collect()
        };
        let (allowed, other) = match &origins {
            AllowedOrigins::Any => {
                let added = fixed(added_by(&layer, None));
                (added.clone(), added)
            }
            AllowedOrigins::List(list) => {
                let sample = list.first();
                let allowed = added_by(&layer, sample)
                    .into_iter()
                    .map(|(name, value)| {
                        let echoed =
                            name == header::ACCESS_CONTROL_ALLOW_ORIGIN && Some(&value) == sample;
                        (name, (!echoed).then_some(value))
                    })
                    .collect();
                (allowed, fixed(added_by(&layer, None)))
            }
        };
        Self {
            inner,
            fixed: Arc::new(Fixed {
                preflight: layer,
                origins,
                allowed,
                other,
            }),
        }
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for RegistrationCors<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    ResB: Default,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = CorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        if request.method() == Method::OPTIONS {
            // The service that was polled ready goes into the preflight's `Cors`.
            let clone = self.inner.clone();
            let ready = std::mem::replace(&mut self.inner, clone);
            let mut preflight: Cors<S> = self.fixed.preflight.layer(ready);
            return CorsFuture::Preflight {
                inner: preflight.call(request),
            };
        }
        let origin = request.headers().get(header::ORIGIN);
        let allowed = match &self.fixed.origins {
            AllowedOrigins::Any => true,
            AllowedOrigins::List(list) => origin.is_some_and(|o| list.contains(o)),
        };
        let origin = if allowed { origin.cloned() } else { None };
        CorsFuture::Actual {
            inner: self.inner.call(request),
            fixed: Arc::clone(&self.fixed),
            allowed,
            origin,
        }
    }
}

pin_project! {
    /// The future of a [`RegistrationCors`] request.
    #[project = CorsProj]
    pub enum CorsFuture<F> {
        /// A preflight, answered by tower-http.
        Preflight {
            #[pin]
            inner: tower_http::cors::ResponseFuture<F>,
        },
        /// Any other request: the service's response, with the headers.
        Actual {
            #[pin]
            inner: F,
            fixed: Arc<Fixed>,
            allowed: bool,
            origin: Option<HeaderValue>,
        },
    }
}

impl<F, ResB, E> Future for CorsFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    ResB: Default,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CorsProj::Preflight { inner } => inner.poll(cx),
            CorsProj::Actual {
                inner,
                fixed,
                allowed,
                origin,
            } => {
                let mut response = ready!(inner.poll(cx))?;
                let added = if *allowed {
                    &fixed.allowed
                } else {
                    &fixed.other
                };
                add_headers(response.headers_mut(), added, origin.take());
                Poll::Ready(Ok(response))
            }
        }
    }
}

/// What tower-http's `Cors` does to an actual response: `Vary` appended to
/// any the service set, the others replacing any it set.
fn add_headers(headers: &mut HeaderMap, added: &Added, mut origin: Option<HeaderValue>) {
    let mut previous: Option<&HeaderName> = None;
    for (name, value) in added {
        let Some(value) = value.clone().or_else(|| origin.take()) else {
            continue;
        };
        if name == header::VARY || previous == Some(name) {
            headers.append(name, value);
        } else {
            headers.insert(name, value);
        }
        previous = Some(name);
    }
}
