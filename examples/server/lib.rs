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
//! the consent page of `/authorize`; they get tokens, and an ID token when
//! they ask for `openid`, at `/token`, the user's claims at `/userinfo`
//! (OpenID Connect Core), and can check tokens at `/introspect` (RFC 7662).
//! The metadata documents are at `/.well-known/oauth-authorization-server`
//! and `/.well-known/openid-configuration`, the signing keys at `/jwks`. Its flags
//! are in the README; ARCHITECTURE.md says what other tools rely on.
//!
//! Registrations, pending consents, codes and tokens live in the store
//! (bounded; in memory with `--store memory`), so a restart signs nobody out
//! and instances on one PostgreSQL database serve any flow crossing them. The
//! signing keys live in a file next to the store, or, with a key encryption
//! key, sealed in the store and shared. There is one demo user and no login:
//! this is a starting point and a test bed for clients, not a production
//! identity provider.

mod admin;
mod app;
mod authorize;
mod bounded;
mod caller_limit;
mod cli;
mod cors;
mod discovery;
mod grants;
mod html;
mod introspect;
mod keys;
mod listener;
mod log_writer;
mod logging;
mod observability;
mod oidc;
mod params;
mod registration;
mod scope;
mod store;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use tokio::net::TcpListener;
use tower_dcr::Access;

use crate::app::{App, Cors};
use crate::cli::{Cli, Command, ServeArgs};
use crate::keys::Keys;
use crate::listener::ConnectionLimits;
use crate::registration::Abuse;
use crate::store::{StoreSpec, default_store, open_store};

/// Errors reported to the person running the server.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long open connections may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The environment variable that can hold an initial access token (out of
/// sight of `ps`, unlike a command-line argument).
const TOKEN_VARIABLE: &str = "TOWER_DCR_INITIAL_ACCESS_TOKEN";

/// Runs the server (or an `admin` command) with the process's arguments.
#[tokio::main]
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Flushes buffered log lines when `main` returns.
    let _log_guard = match logging::init() {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("cannot start the log writer thread: {error}");
            return ExitCode::FAILURE;
        }
    };
    let store = cli.store.unwrap_or_else(default_store);
    let key_file = cli.signing_keys.or_else(|| keys::default_path(&store));
    let kek_file = cli.key_encryption_key_file;
    let result = match cli.command {
        Some(Command::Admin { action }) => {
            admin::run(action, &store, key_file, kek_file.as_deref()).await
        }
        None => serve(cli.serve, store, key_file, kek_file.as_deref()).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The static initial access tokens: from the command line, the file and the
/// environment variable together.
fn static_tokens(args: &ServeArgs) -> Result<Vec<String>, Error> {
    let mut tokens = args.initial_access_tokens.clone();
    if let Some(path) = &args.initial_access_token_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read --initial-access-token-file {}: {e}",
                path.display()
            )
        })?;
        let before = tokens.len();
        tokens.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
        if tokens.len() == before {
            return Err(format!(
                "--initial-access-token-file {} holds no token",
                path.display()
            )
            .into());
        }
    }
    match std::env::var(TOKEN_VARIABLE) {
        Ok(token) if !token.trim().is_empty() => tokens.push(token.trim().to_owned()),
        Ok(_) | Err(std::env::VarError::NotPresent) => {}
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(format!("{TOKEN_VARIABLE} is not valid UTF-8").into());
        }
    }
    Ok(tokens)
}

async fn serve(
    args: ServeArgs,
    store_spec: StoreSpec,
    key_file: Option<PathBuf>,
    kek_file: Option<&std::path::Path>,
) -> Result<(), Error> {
    registration::check_loopback_documents(&args)?;
    let static_tokens = static_tokens(&args)?;
    let access = if !static_tokens.is_empty() {
        Access::protected(static_tokens)
    } else if args.protected {
        if !store_spec.is_shared() {
            return Err(
                "--protected without --initial-access-token needs a durable store: \
                        tokens are minted by `server admin create-token`, a separate process \
                        that cannot reach a memory store"
                    .into(),
            );
        }
        Access::protected(Vec::<String>::new())
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
    let cors = Cors::from_flags(&args.cors_origins)?;
    let abuse = Abuse {
        rate_per_minute: args.registration_rate,
        max_clients: args.max_clients,
    };
    let store = open_store(&store_spec).await?;
    let (grants, key_table) = open_grants(&store_spec).await?;
    let sealer = keys::Sealer::configured(kek_file)?;
    let (keys, imported) = match (key_table, sealer) {
        (Some(table), Some(sealer)) => Keys::open_in_store(table, sealer, key_file).await?,
        // Key generation (RSA above all) is CPU work: off the async threads.
        _ => (
            tokio::task::spawn_blocking(move || Keys::open(key_file)).await??,
            None,
        ),
    };
    let keys = Arc::new(keys);
    keys.spawn_reloader();
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
    let dcr = registration::build_with_url_clients(&issuer, &access, store, abuse, url_clients)
        .map_err(|e| {
            let hint = if args.issuer.is_none() {
                "; when listening on a non-loopback address, pass --issuer https://your.host"
            } else {
                ""
            };
            format!("invalid configuration: {e}{hint}")
        })?;
    let metrics = match args.metrics_addr {
        Some(addr) => Some(
            observability::serve_metrics(addr, ConnectionLimits::from_args(&args, SHUTDOWN_GRACE))
                .await?,
        ),
        None => None,
    };
    let app = App::new(
        dcr,
        keys.clone(),
        grants,
        caller_limit::CallerLimit::new(args.url_client_rate),
    );
    app.spawn_sweeper();
    let limits = ConnectionLimits::from_args(&args, SHUTDOWN_GRACE);
    let shutdown = shutdown_signal();
    print_banner(&Banner {
        issuer: &issuer,
        access: &access,
        store: &store_spec,
        keys: &keys,
        abuse,
        cors: &cors,
        limits,
        local,
        metrics,
        imported_keys: imported.as_deref(),
        url_client_rate: args
            .client_id_metadata_documents
            .as_ref()
            .map(|_| args.url_client_rate),
    });
    tracing::info!(%local, %issuer, "listening");
    let router = app::router(app, &cors, limits.header_timeout);
    listener::serve(listener, router, limits, shutdown).await;
    tracing::info!("stopped");
    Ok(())
}

/// The grant store beside the client store: the same SQLite file or
/// PostgreSQL database (their own tables and connections), or memory; and
/// the table of the signing keys there, if any.
pub(crate) async fn open_grants(
    store: &StoreSpec,
) -> Result<(grants::Grants, Option<Arc<dyn grants::KeyTable>>), Error> {
    let failed = |e| format!("cannot open the grant tables in {store}: {e:?}");
    Ok(match store {
        StoreSpec::Sqlite(url) => {
            let tables = Arc::new(grants::SqliteGrants::open(url).await.map_err(failed)?);
            (grants::Grants::new(tables.clone()), Some(tables))
        }
        StoreSpec::Postgres(url) => {
            let tables = Arc::new(grants::PostgresGrants::open(url).await.map_err(failed)?);
            (grants::Grants::new(tables.clone()), Some(tables))
        }
        StoreSpec::Memory => (grants::Grants::default(), None),
    })
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled: the serve loop may not poll it
/// before the first connections are answered, and a SIGTERM arriving before
/// its handler exists would kill the process instead of stopping it cleanly.
fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        async fn received(signal: std::io::Result<Signal>) {
            match signal {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
        let interrupt = received(signal(SignalKind::interrupt()));
        let terminate = received(signal(SignalKind::terminate()));
        async move {
            tokio::select! {
                () = interrupt => {}
                () = terminate => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// What the start banner reports.
struct Banner<'a> {
    issuer: &'a str,
    access: &'a Access,
    store: &'a StoreSpec,
    keys: &'a Keys,
    abuse: Abuse,
    cors: &'a Cors,
    limits: ConnectionLimits,
    local: std::net::SocketAddr,
    metrics: Option<std::net::SocketAddr>,
    /// The key file imported into the store at this start, if any.
    imported_keys: Option<&'a std::path::Path>,
    /// `--url-client-rate`, when URL client ids are accepted.
    url_client_rate: Option<u32>,
}

fn print_banner(b: &Banner<'_>) {
    let issuer = b.issuer;
    let access = match b.access {
        Access::Open => "OPEN: anyone may register a client".to_owned(),
        Access::Protected { static_tokens } if static_tokens.is_empty() => {
            "PROTECTED: registration needs a token from `server admin create-token`".to_owned()
        }
        Access::Protected { static_tokens } => format!(
            "PROTECTED: registration needs an initial access token ({} given with \
             --initial-access-token, --initial-access-token-file or {TOKEN_VARIABLE}, \
             or one from `server admin create-token`)",
            static_tokens.len()
        ),
        _ => "PROTECTED: registration needs an initial access token".to_owned(),
    };
    let store_note = if b.store.is_shared() {
        ""
    } else {
        " (registrations are lost when the server stops)"
    };
    let rate = match b.abuse.rate_per_minute {
        0 => "off".to_owned(),
        n => format!("{n} per minute per client address (--registration-rate)"),
    };
    let max_clients = match b.abuse.max_clients {
        0 => "no cap".to_owned(),
        n => format!("{n} (--max-clients)"),
    };
    let cors = match b.cors {
        Cors::Off => "off".to_owned(),
        Cors::Any => "any origin (--cors-origin)".to_owned(),
        Cors::Origins(list) => list
            .iter()
            .map(|o| o.to_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut keys = b.keys.location();
    if let Some(path) = b.imported_keys {
        keys.push_str(&format!(
            " (imported from {} at this start: delete that file)",
            path.display()
        ));
    }
    println!("tower-dcr example authorization server (OpenID Provider)");
    println!("  registration:  {access}");
    println!("  issuer:        {issuer}");
    println!("  register:      POST {issuer}/register");
    println!("  manage:        GET|PUT|DELETE {issuer}/register/{{client_id}}");
    println!("  authorize:     {issuer}/authorize");
    println!("  token:         {issuer}/token");
    println!("  userinfo:      {issuer}/userinfo");
    println!("  introspect:    {issuer}/introspect");
    println!("  jwks:          {issuer}/jwks");
    println!("  metadata:      {issuer}/.well-known/oauth-authorization-server");
    println!("                 {issuer}/.well-known/openid-configuration");
    println!("  openapi:       {issuer}/openapi.yaml");
    println!("  store:         {}{store_note}", b.store);
    let grants_note = match b.store {
        StoreSpec::Sqlite(_) => "in the store (a restart signs nobody out)",
        StoreSpec::Postgres(_) => {
            "in the store, shared by every instance on it (a restart signs nobody out)"
        }
        StoreSpec::Memory => "in memory (codes and tokens are lost when the server stops)",
    };
    println!("  grants:        {grants_note}");
    if let Some(metrics) = b.metrics {
        println!("  metrics:       http://{metrics}/metrics (a listener of its own)");
    }
    println!("  signing keys:  {keys}");
    println!("limits:");
    println!("  registration rate:   {rate}");
    println!("  registered clients:  {max_clients}");
    println!(
        "  registration body:   {} bytes",
        registration::MAX_REGISTRATION_BYTES
    );
    println!("  CORS (registration): {cors}");
    println!("  connections:         {}", b.limits);
    match b.url_client_rate {
        None => {}
        Some(0) => println!("  URL client ids:      no limit per address (--url-client-rate 0)"),
        Some(n) => println!(
            "  URL client ids:      {n} requests per minute per client address (--url-client-rate)"
        ),
    }
    println!(
        "  pending consents:    {} ({} per client address, {} per URL-client host); \
         live tokens {} ({} per client); past a bound, its holder's oldest goes",
        grants::PENDING_BOUNDS.total,
        grants::PENDING_BOUNDS.per_owner,
        grants::PENDING_BOUNDS.per_group,
        grants::ACCESS_BOUNDS.total,
        grants::ACCESS_BOUNDS.per_owner
    );
    println!("Listening on {}; Ctrl-C to stop.", b.local);
}
