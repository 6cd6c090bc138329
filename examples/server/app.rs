//! The server's shared state and its routes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use http::{HeaderValue, Method, Request, header};
use tower::ServiceBuilder;
use tower_dcr::Registration;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::grants::Grants;
use crate::keys::Keys;
use crate::listener::body_deadline::BodyDeadline;
use crate::{authorize, discovery, introspect, logging, observability, oidc, token};

/// What every handler shares.
#[derive(Clone)]
pub struct App {
    /// The registration service, also the way to look clients up.
    pub dcr: Registration,
    /// Codes and tokens, in memory.
    pub grants: Arc<Grants>,
    /// The keys ID tokens and userinfo responses are signed with.
    pub keys: Arc<Keys>,
    /// The issuer identifier, without a trailing slash.
    pub issuer: String,
}

impl App {
    pub fn new(dcr: Registration, keys: Arc<Keys>) -> Self {
        Self {
            issuer: dcr.issuer().to_owned(),
            dcr,
            grants: Arc::new(Grants::default()),
            keys,
        }
    }

    /// Drops expired codes and tokens every 30 seconds, until the server stops.
    pub fn spawn_sweeper(&self) {
        let grants = Arc::downgrade(&self.grants);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tick.tick().await;
                match grants.upgrade() {
                    Some(grants) => grants.sweep(),
                    None => break,
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

/// The whole server as one service: every route, with request logging, CORS
/// where browsers call, and a deadline for request bodies.
pub type Server = BodyDeadline<logging::HttpLayers<Router>>;

/// Every route, with request logging, CORS where browsers call, and a
/// deadline for request bodies.
pub fn router(app: App, cors: &Cors, body_timeout: Duration) -> Server {
    let registration = ServiceBuilder::new()
        .option_layer(cors.layer())
        // CORS answers preflights with an empty body of the inner type.
        .map_response(|response: http::Response<_>| response.map(axum::body::Body::new))
        .map_request(head_as_get)
        .service(app.dcr.clone());
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
    let routes = Router::new()
        .merge(public)
        .route("/authorize", get(authorize::show).post(authorize::decide))
        .route("/token", post(token::token))
        .route("/introspect", post(introspect::introspect))
        .route("/userinfo", get(oidc::userinfo).post(oidc::userinfo))
        .route("/openapi.yaml", get(observability::openapi))
        .nest_service("/register", registration)
        .with_state(app);
    BodyDeadline::new(logging::with_http_layers(routes), body_timeout)
}
