//! Logs: one line per request with method, path, status, latency and the
//! client_id once known, never a header value, query string, form body, code,
//! token or secret. `RUST_LOG` picks the levels (default `info`).
//!
//! Lines are written to standard error in batches by a background thread
//! ([`crate::log_writer`]): a request formats its line, appends it to a buffer
//! and moves on; it never waits on the terminal or pipe. If the output stalls
//! and the buffer is full, lines are dropped (and counted) rather than slowing
//! requests down.

use std::cell::Cell;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::header::HeaderName;
use http::{HeaderMap, Method, Request, Response, header};
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;
use tower::Service;
use tracing::Level;

use crate::log_writer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Sends logs to standard error, filtered by `RUST_LOG`, from a background
/// thread. Keep the guard until exit: dropping it flushes what is buffered.
pub fn init() -> std::io::Result<log_writer::Flush> {
    // `RUST_LOG` is a level, or `target=level` pairs (`warn,server=debug`).
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO));
    let (writer, flush) = log_writer::spawn(std::io::stderr(), log_writer::MAX_PENDING)?;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_target(false)
                .with_ansi(false),
        )
        .with(filter)
        .init();
    Ok(flush)
}

/// Wraps `service` in request logging. Credentials-bearing headers are also
/// marked sensitive, so no layer that prints headers would show them.
///
/// The layers go around the whole router once, as one statically nested
/// service, rather than through `Router::layer`: axum boxes a route again for
/// each `Router::layer` and clones every box on every request.
pub fn with_http_layers<S>(service: S) -> HttpLayers<S> {
    RequestLog {
        inner: SensitiveHeaders { inner: service },
    }
}

/// The service [`with_http_layers`] makes.
pub type HttpLayers<S> = RequestLog<SensitiveHeaders<S>>;

/// Request headers that carry credentials.
const SENSITIVE_REQUEST: [HeaderName; 3] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
];

/// Response headers that can carry codes, tokens or session cookies.
const SENSITIVE_RESPONSE: [HeaderName; 2] = [header::LOCATION, header::SET_COOKIE];

/// Marks every value of these headers sensitive.
///
/// One walk over the map rather than a `HeaderMap::entry` per name (what
/// tower-http's `SetSensitive*Headers` do): `entry` first makes room for an
/// insertion, and hyper hands over a full request map, so it grew (a rehash
/// and two reallocations) on every request.
fn mark_sensitive(headers: &mut HeaderMap, names: &[HeaderName]) {
    for (name, value) in headers.iter_mut() {
        if names.contains(name) {
            value.set_sensitive(true);
        }
    }
}

/// Marks the request's credentials headers sensitive before the service sees
/// them, and the response's `Location` and `Set-Cookie` before the request log
/// does.
#[derive(Clone, Debug)]
pub struct SensitiveHeaders<S> {
    inner: S,
}

impl<S, B, ResB> Service<Request<B>> for SensitiveHeaders<S>
where
    S: Service<Request<B>, Response = Response<ResB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = SensitiveHeadersFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        mark_sensitive(request.headers_mut(), &SENSITIVE_REQUEST);
        SensitiveHeadersFuture {
            inner: self.inner.call(request),
        }
    }
}

pin_project! {
    /// The future of a [`SensitiveHeaders`] request.
    pub struct SensitiveHeadersFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, ResB, E> Future for SensitiveHeadersFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut output = ready!(self.project().inner.poll(cx));
        if let Ok(response) = &mut output {
            mark_sensitive(response.headers_mut(), &SENSITIVE_RESPONSE);
        }
        Poll::Ready(output)
    }
}

tokio::task_local! {
    /// The client a request turned out to be about, for its log line.
    static CLIENT_ID: Cell<Option<String>>;
}

/// Names the client the current request is about in its log line (once the
/// client is authenticated or looked up). Outside a request, does nothing.
pub fn note_client_id(client_id: &str) {
    let _ = CLIENT_ID.try_with(|slot| slot.set(Some(client_id.to_owned())));
}

/// Logs one line per request at `info` when the response head is ready:
/// method, path (without the query, which carries `state` and PKCE values),
/// status, latency and the client noted with [`note_client_id`].
///
/// A plain event rather than tower-http's request span: a span is created,
/// formatted, entered on every poll and closed, for the one line a request
/// logs. With `info` off, a request costs one level check.
#[derive(Clone, Debug)]
pub struct RequestLog<S> {
    inner: S,
}

/// What a logged request remembers until its response.
#[derive(Debug)]
pub struct Started {
    at: Instant,
    method: Method,
    path: Box<str>,
}

impl<S, B, ResB> Service<Request<B>> for RequestLog<S>
where
    S: Service<Request<B>, Response = Response<ResB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RequestLogFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if !tracing::enabled!(Level::INFO) {
            // No line to write, so no client to note for it either.
            return RequestLogFuture::Quiet {
                inner: self.inner.call(request),
            };
        }
        let started = Started {
            at: Instant::now(),
            method: request.method().clone(),
            path: request.uri().path().into(),
        };
        RequestLogFuture::Logged {
            inner: CLIENT_ID.scope(Cell::new(None), self.inner.call(request)),
            started: Some(started),
        }
    }
}

pin_project! {
    /// The future of a [`RequestLog`] request.
    #[project = RequestLogProj]
    pub enum RequestLogFuture<F> {
        /// `info` is on: the client noted in a task-local, the line written
        /// at the response head.
        Logged {
            #[pin]
            inner: TaskLocalFuture<Cell<Option<String>>, F>,
            started: Option<Started>,
        },
        /// `info` is off: the service's future alone.
        Quiet {
            #[pin]
            inner: F,
        },
    }
}

impl<F, ResB, E> Future for RequestLogFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (mut inner, started) = match self.project() {
            RequestLogProj::Quiet { inner } => return inner.poll(cx),
            RequestLogProj::Logged { inner, started } => (inner, started),
        };
        let output = ready!(inner.as_mut().poll(cx));
        if let Some(started) = started.take() {
            let client_id = inner.take_value().and_then(Cell::into_inner);
            let client_id = client_id.as_deref().unwrap_or("-");
            let latency_us = u64::try_from(started.at.elapsed().as_micros()).unwrap_or(u64::MAX);
            match &output {
                Ok(response) => tracing::info!(
                    method = %started.method,
                    path = %started.path,
                    status = response.status().as_u16(),
                    latency_us,
                    client_id = %client_id,
                    "request"
                ),
                Err(_) => tracing::info!(
                    method = %started.method,
                    path = %started.path,
                    latency_us,
                    client_id = %client_id,
                    "request failed without a response"
                ),
            }
        }
        Poll::Ready(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    /// RFC 6750 §5.3 (bearer tokens must not leak) and RFC 6265 (cookies):
    /// every value of the credentials-bearing request headers reaches the
    /// service marked sensitive, and so do the response's `Location` (codes
    /// and tokens in redirects) and `Set-Cookie`; other headers are not.
    #[tokio::test]
    async fn credentials_headers_are_marked_sensitive_both_ways() {
        let inner = tower::service_fn(|request: Request<()>| async move {
            let headers = request.headers();
            for name in SENSITIVE_REQUEST {
                assert_eq!(headers.get_all(&name).iter().count(), 2, "{name}");
                assert!(
                    headers.get_all(&name).iter().all(|v| v.is_sensitive()),
                    "{name}"
                );
            }
            assert!(!headers[header::CONTENT_TYPE].is_sensitive());
            let mut response = Response::new(());
            let headers = response.headers_mut();
            headers.insert(
                header::LOCATION,
                "https://app.example/cb?code=c".parse().unwrap(),
            );
            headers.append(header::SET_COOKIE, "a=1".parse().unwrap());
            headers.append(header::SET_COOKIE, "b=2".parse().unwrap());
            headers.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
            Ok::<_, std::convert::Infallible>(response)
        });
        let mut request = Request::builder().header(header::CONTENT_TYPE, "application/json");
        for name in SENSITIVE_REQUEST {
            request = request.header(&name, "x").header(&name, "y");
        }
        let response = with_http_layers(inner)
            .oneshot(request.body(()).unwrap())
            .await
            .unwrap();
        let headers = response.headers();
        assert!(headers[header::LOCATION].is_sensitive());
        assert_eq!(headers.get_all(header::SET_COOKIE).iter().count(), 2);
        assert!(
            headers
                .get_all(header::SET_COOKIE)
                .iter()
                .all(|v| v.is_sensitive())
        );
        assert!(!headers[header::CACHE_CONTROL].is_sensitive());
    }
}
