//! The server's shared state and its routes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tower_dcr::Registration;

use crate::grants::Grants;
use crate::{authorize, discovery, introspect, logging, observability, token};

/// What every handler shares.
#[derive(Clone)]
pub struct App {
    /// The registration service, also the way to look clients up.
    pub dcr: Registration,
    /// Codes and tokens, in memory.
    pub grants: Arc<Grants>,
    /// The issuer identifier, without a trailing slash.
    pub issuer: String,
}

impl App {
    pub fn new(dcr: Registration) -> Self {
        Self {
            issuer: dcr.issuer().to_owned(),
            dcr,
            grants: Arc::new(Grants::default()),
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

/// Every route, with request logging.
pub fn router(app: App) -> Router {
    let dcr = app.dcr.clone();
    let routes = Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::metadata),
        )
        .route(
            "/.well-known/openid-configuration",
            get(discovery::metadata),
        )
        .route("/authorize", get(authorize::show).post(authorize::decide))
        .route("/token", post(token::token))
        .route("/introspect", post(introspect::introspect))
        .route("/openapi.yaml", get(observability::openapi))
        .nest_service("/register", dcr)
        .with_state(app);
    logging::add_http_layers(routes)
}
