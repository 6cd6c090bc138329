//! The server's shared state and its routes.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::future::RouteFuture;
use axum::routing::{get, post};
use http::{HeaderValue, Method, Request, Response, header};
use pin_project_lite::pin_project;
use tower::{Service, ServiceBuilder};
use tower_dcr::Registration;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::caller_limit::CallerLimit;
use crate::cors::{AllowedOrigins, RegistrationCors};
use crate::grants::Grants;
use crate::keys::Keys;
use crate::listener::body_deadline::BodyDeadline;
use crate::{authorize, discovery, introspect, logging, observability, oidc, token};

/// What every handler shares.
#[derive(Clone)]
pub struct App {
    /// The registration service, also the way to look clients up.
    pub dcr: Registration,
    /// Consent requests, codes and tokens.
    pub grants: Grants,
    /// The per-caller bound on requests naming a URL client id
    /// (`--url-client-rate`), if any.
    pub url_client_limit: Option<Arc<CallerLimit>>,
    /// The keys ID tokens and userinfo responses are signed with.
    pub keys: Arc<Keys>,
    /// The issuer identifier, without a trailing slash.
    pub issuer: String,
}

impl App {
    pub fn new(
        dcr: Registration,
        keys: Arc<Keys>,
        grants: Grants,
        url_client_limit: Option<CallerLimit>,
    ) -> Self {
        Self {
            issuer: dcr.issuer().to_owned(),
            dcr,
            grants,
            url_client_limit: url_client_limit.map(Arc::new),
            keys,
        }
    }

    /// Drops expired codes, tokens and idle rate-limit buckets every 30
    /// seconds, for as long as the process runs.
    pub fn spawn_sweeper(&self) {
        let grants = self.grants.clone();
        let limit = self.url_client_limit.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tick.tick().await;
                grants.sweep().await;
                if let Some(limit) = &limit {
                    limit.sweep();
                }
            }
        });
    }
}

/// Which browser origins may call the registration and discovery endpoints.
#[derive(Clone, Debug)]
pub enum Cors {
    /// No CORS headers.
    Off,
    /// Any origin (`*`): the endpoints use bearer tokens, never cookies.
    Any,
    /// These origins only.
    Origins(Vec<HeaderValue>),
}

impl Cors {
    /// From `--cors-origin` values: none or `*` → any; `none` → off.
    pub fn from_flags(origins: &[String]) -> Result<Self, String> {
        if origins.is_empty() || origins.iter().any(|o| o == "*") {
            return Ok(Self::Any);
        }
        if origins.iter().any(|o| o == "none") {
            return Ok(Self::Off);
        }
        origins
            .iter()
            .map(|o| {
                let url =
                    url::Url::parse(o).map_err(|_| format!("--cors-origin {o}: not a URL"))?;
                let origin = url.origin().ascii_serialization();
                if origin != o.trim_end_matches('/') {
                    return Err(format!(
                        "--cors-origin {o}: an origin is scheme://host[:port]"
                    ));
                }
                HeaderValue::from_str(&origin).map_err(|_| format!("--cors-origin {o}: invalid"))
            })
            .collect::<Result<_, _>>()
            .map(Self::Origins)
    }

    fn layer(&self) -> Option<CorsLayer> {
        let origin = match self {
            Self::Off => return None,
            Self::Any => AllowOrigin::any(),
            Self::Origins(list) => AllowOrigin::list(list.clone()),
        };
        Some(
            CorsLayer::new()
                .allow_origin(origin)
                .allow_methods([
                    Method::GET,
                    Method::HEAD,
                    Method::POST,
                    Method::PUT,
                    Method::DELETE,
                ])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .expose_headers([header::LOCATION])
                .max_age(Duration::from_secs(600)),
        )
    }

    /// `inner` behind [`Self::layer`]'s CORS, with the headers of actual
    /// (not preflight) responses built once rather than per request.
    fn registration<S>(&self, inner: S) -> tower::util::Either<RegistrationCors<S>, S> {
        let origins = match self {
            Self::Off => return tower::util::Either::Right(inner),
            Self::Any => AllowedOrigins::Any,
            Self::Origins(list) => AllowedOrigins::List(list.clone()),
        };
        let layer = self.layer().expect("CORS is on");
        tower::util::Either::Left(RegistrationCors::new(inner, layer, origins))
    }
}

/// `HEAD` is `GET` without the body (RFC 9110 §9.3.2); the registration
/// service answers `GET` only, and hyper drops the body of a `HEAD`
/// response.
fn head_as_get<B>(mut request: Request<B>) -> Request<B> {
    if request.method() == Method::HEAD {
        *request.method_mut() = Method::GET;
    }
    request
}

/// The registration endpoints' paths: what `Router::nest_service("/register", …)`
/// matches (`/register`, `/register/` and `/register/{*rest}`).
fn is_registration(path: &str) -> bool {
    path.strip_prefix("/register")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Every route: requests for the registration endpoints go straight to the
/// registration service, with their full path (the service's endpoint is
/// `/register` and it routes full paths itself), the others through the
/// router. What this skips for the most frequent requests is axum's routing:
/// the path match, the URL parameters and matched path as extensions, the
/// prefix stripped into a new URI and the nested path, about 6,000
/// instructions per request.
#[derive(Clone)]
pub struct Routes<R> {
    registration: R,
    router: Router,
}

impl<R> Service<Request<Body>> for Routes<R>
where
    R: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = RoutesFuture<R::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        ready!(self.registration.poll_ready(cx))?;
        Service::<Request<Body>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if is_registration(request.uri().path()) {
            RoutesFuture::Registration {
                inner: self.registration.call(request),
            }
        } else {
            RoutesFuture::Router {
                inner: self.router.call(request),
            }
        }
    }
}

pin_project! {
    /// The future of a [`Routes`] request.
    #[project = RoutesProj]
    pub enum RoutesFuture<F> {
        /// A registration endpoint's.
        Registration {
            #[pin]
            inner: F,
        },
        /// Any other route's.
        Router {
            #[pin]
            inner: RouteFuture<Infallible>,
        },
    }
}

impl<F> Future for RoutesFuture<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            RoutesProj::Registration { inner } => inner.poll(cx),
            RoutesProj::Router { inner } => inner.poll(cx),
        }
    }
}

/// The whole server as one service: every route, with request logging, CORS
/// where browsers call, and a deadline for request bodies.
pub type Server<R> = BodyDeadline<logging::HttpLayers<Routes<R>>>;

/// Every route, with request logging, CORS where browsers call, and a
/// deadline for request bodies.
pub fn router(
    app: App,
    cors: &Cors,
    body_timeout: Duration,
) -> Server<
    impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static,
> {
    let registration = cors.registration(
        ServiceBuilder::new()
            // CORS answers preflights with an empty body of the inner type.
            .map_response(|response: http::Response<_>| response.map(Body::new))
            .map_request(head_as_get)
            .service(app.dcr.clone()),
    );
    let public = Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::metadata),
        )
        .route(
            "/.well-known/openid-configuration",
            get(discovery::metadata),
        )
        .route("/jwks", get(oidc::jwks));
    let public = match cors.layer() {
        Some(layer) => public.layer(layer),
        None => public,
    };
    let router = Router::new()
        .merge(public)
        .route("/authorize", get(authorize::show).post(authorize::decide))
        .route("/token", post(token::token))
        .route("/introspect", post(introspect::introspect))
        .route("/userinfo", get(oidc::userinfo).post(oidc::userinfo))
        .route("/openapi.yaml", get(observability::openapi))
        .with_state(app);
    let routes = Routes {
        registration,
        router,
    };
    BodyDeadline::new(logging::with_http_layers(routes), body_timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer as _, ServiceExt as _};

    /// What the registration service answers, with a `Vary` of its own so that
    /// appending is checked too.
    async fn inner(_: Request<()>) -> Result<http::Response<String>, std::convert::Infallible> {
        let mut response = http::Response::new("{}".to_owned());
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::VARY, HeaderValue::from_static("accept"));
        Ok(response)
    }

    fn headers_of(response: &http::Response<String>) -> Vec<(String, String)> {
        response
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect()
    }

    /// The registration endpoints are served at the paths `nest_service`
    /// matched (RFC 7591 §3 endpoint, RFC 7592 §2 `{endpoint}/{client_id}`),
    /// and no others.
    #[test]
    fn registration_paths_are_the_nested_ones() {
        for path in [
            "/register",
            "/register/",
            "/register/abc",
            "/register/a/b",
            "/register//",
        ] {
            assert!(is_registration(path), "{path}");
        }
        for path in [
            "/",
            "/registe",
            "/registerx",
            "/register2/x",
            "/token",
            "/x/register",
        ] {
            assert!(!is_registration(path), "{path}");
        }
    }

    /// The Fetch standard's CORS protocol (§3.2.3, HTTP responses): actual
    /// responses of the registration endpoints carry exactly the headers, in
    /// the order, that tower-http's `Cors` gives them, for any origin and for
    /// a list, with and without an `Origin`; preflights are tower-http's own.
    #[tokio::test]
    async fn registration_cors_headers_are_tower_https() {
        let listed = Cors::from_flags(&["https://a.example".to_owned()]).unwrap();
        for cors in [Cors::Any, listed] {
            for (method, origin) in [
                (Method::POST, None),
                (Method::GET, Some("https://a.example")),
                (Method::PUT, Some("https://b.example")),
                (Method::OPTIONS, Some("https://a.example")),
                (Method::OPTIONS, Some("https://b.example")),
            ] {
                let request = || {
                    let mut request = Request::builder()
                        .method(method.clone())
                        .uri("/register/x")
                        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT");
                    if let Some(origin) = origin {
                        request = request.header(header::ORIGIN, origin);
                    }
                    request.body(()).unwrap()
                };
                let ours = cors
                    .registration(tower::service_fn(inner))
                    .oneshot(request())
                    .await
                    .unwrap();
                let theirs = cors
                    .layer()
                    .unwrap()
                    .layer(tower::service_fn(inner))
                    .oneshot(request())
                    .await
                    .unwrap();
                assert_eq!(
                    ours.status(),
                    theirs.status(),
                    "{cors:?} {method} {origin:?}"
                );
                assert_eq!(
                    headers_of(&ours),
                    headers_of(&theirs),
                    "{cors:?} {method} {origin:?}"
                );
                assert_eq!(ours.body(), theirs.body());
            }
        }
    }
}
