//! A small but real OAuth 2.0 authorization server around tower-dcr.
//!
//! ```text
//! cargo run --release --example server -- [--addr 127.0.0.1:8080] [--issuer URL]
//!     [--store memory | sqlite:PATH | postgres://…] [--initial-access-token TOKEN]...
//! cargo run --release --example server -- admin list-clients --store sqlite:tower-dcr.db
//! ```
//!
//! Clients register at `POST /register` (RFC 7591) and manage their
//! registration at `/register/{client_id}` (RFC 7592); a user approves them on
//! the consent page of `/authorize`; they get tokens at `/token` and can check
//! them at `/introspect` (RFC 7662). The metadata documents are at
//! `/.well-known/oauth-authorization-server` and
//! `/.well-known/openid-configuration`. See DESIGN.md §7.
//!
//! Registrations live in the store; codes and tokens live in memory and are
//! lost on restart. There is one demo user and no login: this is a starting
//! point and a test bed for clients, not a production identity provider.

mod admin;
mod app;
mod authorize;
mod cli;
mod discovery;
mod grants;
mod html;
mod introspect;
mod logging;
mod observability;
mod params;
mod registration;
mod scope;
mod store;
mod token;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser as _;
use tokio::net::TcpListener;

use crate::app::App;
use crate::cli::{Cli, Command, ServeArgs};
use crate::registration::Access;
use crate::store::{StoreSpec, default_store, open_store};

/// Errors reported to the person running the server.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long open connections may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();
    let store = cli.store.unwrap_or_else(default_store);
    let result = match cli.command {
        Some(Command::Admin { action }) => admin::run(action, &store).await,
        None => serve(cli.serve, store).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs, store_spec: StoreSpec) -> Result<(), Error> {
    let access = if !args.initial_access_tokens.is_empty() {
        Access::Protected {
            static_tokens: args.initial_access_tokens,
        }
    } else if args.protected {
        if !store_spec.is_shared() {
            return Err(
                "--protected without --initial-access-token needs a durable store: \
                        tokens are minted by `server admin create-token`, a separate process \
                        that cannot reach a memory store"
                    .into(),
            );
        }
        Access::Protected {
            static_tokens: Vec::new(),
        }
    } else {
        Access::Open
    };
    let listener = TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let local = listener.local_addr()?;
    let issuer = match &args.issuer {
        Some(issuer) => issuer.trim_end_matches('/').to_owned(),
        None => format!("http://{local}"),
    };
    if url::Url::parse(&issuer).is_ok_and(|u| u.path() != "/") {
        return Err(format!(
            "--issuer must not have a path: this server serves at the root ({issuer})"
        )
        .into());
    }
    let store = open_store(&store_spec).await?;
    let url_clients = match &args.client_id_metadata_documents {
        None => None,
        Some(hosts) => {
            let ca = match &args.metadata_document_ca {
                Some(path) => Some(
                    std::fs::read(path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                ),
                None => None,
            };
            let on_loopback = url::Url::parse(&issuer)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .is_some_and(|h| matches!(h.as_str(), "127.0.0.1" | "[::1]" | "localhost"));
            Some(registration::url_client_policy(hosts, ca, on_loopback))
        }
    };
    let dcr = registration::build_with_url_clients(&issuer, &access, store, url_clients).map_err(
        |e| {
            let hint = if args.issuer.is_none() {
                "; when listening on a non-loopback address, pass --issuer https://your.host"
            } else {
                ""
            };
            format!("invalid configuration: {e}{hint}")
        },
    )?;
    let metrics = match args.metrics_addr {
        Some(addr) => Some(observability::serve_metrics(addr).await?),
        None => None,
    };
    let app = App::new(dcr);
    app.spawn_sweeper();
    print_banner(&issuer, &access, &store_spec, local, metrics);
    tracing::info!(%local, %issuer, "listening");

    let (signalled, on_signal) = tokio::sync::oneshot::channel();
    let server = axum::serve(listener, app::router(app)).with_graceful_shutdown(async {
        shutdown_signal().await;
        tracing::info!("shutdown signal received; finishing open requests");
        let _ = signalled.send(());
    });
    tokio::select! {
        result = server.into_future() => result?,
        () = async {
            if on_signal.await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; stopping anyway"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

fn print_banner(
    issuer: &str,
    access: &Access,
    store: &StoreSpec,
    local: std::net::SocketAddr,
    metrics: Option<std::net::SocketAddr>,
) {
    let access = match access {
        Access::Open => "OPEN: anyone may register a client".to_owned(),
        Access::Protected { static_tokens } if static_tokens.is_empty() => {
            "PROTECTED: registration needs a token from `server admin create-token`".to_owned()
        }
        Access::Protected { static_tokens } => format!(
            "PROTECTED: registration needs an initial access token ({} given with \
             --initial-access-token, or one from `server admin create-token`)",
            static_tokens.len()
        ),
    };
    let store_note = if store.is_shared() {
        ""
    } else {
        " (registrations are lost when the server stops)"
    };
    println!("tower-dcr example authorization server");
    println!("  registration:  {access}");
    println!("  issuer:        {issuer}");
    println!("  register:      POST {issuer}/register");
    println!("  manage:        GET|PUT|DELETE {issuer}/register/{{client_id}}");
    println!("  authorize:     {issuer}/authorize");
    println!("  token:         {issuer}/token");
    println!("  introspect:    {issuer}/introspect");
    println!("  metadata:      {issuer}/.well-known/oauth-authorization-server");
    println!("                 {issuer}/.well-known/openid-configuration");
    println!("  openapi:       {issuer}/openapi.yaml");
    println!("  store:         {store}{store_note}");
    if let Some(metrics) = metrics {
        println!("  metrics:       http://{metrics}/metrics (a listener of its own)");
    }
    println!("Listening on {local}; Ctrl-C to stop.");
}
