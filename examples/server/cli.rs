//! The command line (its flags are listed in the README): serve by default, `admin …` to manage the
//! store the server uses.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::store::StoreSpec;

/// A small OAuth 2.0 authorization server with dynamic client registration
/// (RFC 7591, RFC 7592), an authorization endpoint with a consent page, and a
/// token endpoint (authorization code with PKCE, refresh token, client
/// credentials).
#[derive(Parser)]
#[command(name = "server", version)]
pub struct Cli {
    /// Where registrations are kept: `memory`, `sqlite:PATH` or
    /// `postgres://USER:PASSWORD@HOST/DB`. Default: the SQLite file
    /// `tower-dcr.db` in the working directory.
    #[arg(long, global = true, value_name = "STORE")]
    pub store: Option<StoreSpec>,

    /// The signing key file. Default: next to the SQLite database
    /// (`PATH.keys.json`), `tower-dcr.keys.json` for PostgreSQL, in memory for
    /// the memory store.
    #[arg(long, global = true, value_name = "PATH")]
    pub signing_keys: Option<PathBuf>,

    /// A file (owner-only) holding the key encryption key, at least 32
    /// bytes: with it and a durable store, the signing keys live in the
    /// store, encrypted, shared by every instance (a key file is imported
    /// once). Or the environment variable TOWER_DCR_KEY_ENCRYPTION_KEY.
    #[arg(long, global = true, value_name = "PATH")]
    pub key_encryption_key_file: Option<PathBuf>,

    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options of the server itself.
#[derive(Args)]
pub struct ServeArgs {
    /// The address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// The issuer identifier, the base of every URL the server publishes.
    /// Default: `http://{addr}` (https is needed unless the host is loopback).
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,

    /// Protect registration with this initial access token (RFC 7591 §3);
    /// repeat for several. Without it (or the file, or the environment
    /// variable TOWER_DCR_INITIAL_ACCESS_TOKEN), registration is open to
    /// anyone. A token on the command line is visible to `ps`: prefer the
    /// file or the environment variable.
    #[arg(long = "initial-access-token", value_name = "TOKEN")]
    pub initial_access_tokens: Vec<String>,

    /// Read initial access tokens from this file, one per line (blank lines
    /// and lines starting with `#` are skipped).
    #[arg(long, value_name = "PATH")]
    pub initial_access_token_file: Option<PathBuf>,

    /// Protect registration with tokens minted by `server admin create-token`
    /// only (needs a durable store).
    #[arg(long)]
    pub protected: bool,

    /// Accept URL client ids (OAuth Client ID Metadata Documents) from any
    /// host (`any`) or from these hosts (`*.example.com` for subdomains).
    /// Off by default.
    #[arg(long, value_name = "any|HOST[,HOST…]")]
    pub client_id_metadata_documents: Option<String>,

    /// Trust one more CA (PEM file) when fetching metadata documents and
    /// `jwks_uri` (development and tests; certificates are always verified).
    #[arg(long, value_name = "PEM_FILE")]
    pub metadata_document_ca: Option<std::path::PathBuf>,

    /// Requests naming a URL client id (which may make the server fetch a
    /// metadata document) accepted per minute per client address (IPv6: one
    /// /64) at `/authorize`, `/token` and `/introspect`; more get `429` with
    /// `Retry-After`. `0` turns the limit off.
    #[arg(long, value_name = "N", default_value_t = 120)]
    pub url_client_rate: u32,

    /// Serve Prometheus metrics at `GET /metrics` on this address, a listener
    /// apart from `--addr` (default: no metrics listener).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Registrations accepted per minute per client address (RFC 7591 §3
    /// open registration invites floods); `0` turns the limit off.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub registration_rate: u32,

    /// The most registered clients; further registrations get `429` until
    /// some are deleted. `0` turns the cap off.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_clients: u64,

    /// Origins whose browser scripts may call the registration endpoints
    /// (CORS); repeat for several. Default: any origin (`*`); `none` turns
    /// CORS off.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,

    /// The most connections served at once; more wait to be accepted.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,

    /// The most connections open at once from one client address (IPv6: one
    /// /64); more are answered `429` and closed. `0` turns the cap off.
    /// Applies to the metrics listener too.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_connections_per_address: usize,

    /// Seconds a client may take to send a request's headers, or its body
    /// (each a deadline from its start, not an idle timer), or stay idle on a
    /// kept-alive connection, before it is closed.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub read_timeout: u64,

    /// Seconds a response may wait for the client to read it before the
    /// connection is closed (a client that never reads its answers).
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub write_timeout: u64,
}

/// Subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Manage the clients and initial access tokens in the store (the same
    /// `--store` as the running server).
    Admin {
        #[command(subcommand)]
        action: AdminCommand,
    },
}

/// `server admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Mint an initial access token and print it (once: only its digest is
    /// stored).
    CreateToken {
        /// How many registrations it allows (default: unlimited).
        #[arg(long, value_name = "N")]
        uses: Option<u64>,
        /// How long it works, in seconds (default: until revoked).
        #[arg(long, value_name = "SECS")]
        expires_in: Option<u64>,
        /// The registration profile its clients get: `third-party` (PKCE
        /// required, no client_credentials) or `public` (public clients
        /// only). Default: the default profile.
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
    },
    /// List the initial access tokens (never the tokens themselves).
    ListTokens,
    /// Revoke an initial access token by its id.
    RevokeToken {
        /// The token id, as shown by `list-tokens`.
        // Ids are base64url: one may start with `-`.
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// List the registered clients.
    ListClients,
    /// Show one client's registration.
    ShowClient {
        /// The client_id.
        // Ids are base64url: one may start with `-`.
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
    /// Delete a client: it can no longer authorize or get tokens.
    DeleteClient {
        /// The client_id.
        // Ids are base64url: one may start with `-`.
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
    /// Retire the signing keys in use and create new ones; the old public
    /// keys stay published until the tokens they signed have expired. The
    /// running server picks the new keys up within seconds.
    RotateKeys,
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    /// Token and client ids are base64url, so a quarter of them start with
    /// `-`: the admin commands take them as values, not as flags.
    #[test]
    fn admin_ids_may_start_with_a_hyphen() {
        for action in ["revoke-token", "show-client", "delete-client"] {
            let cli = Cli::try_parse_from([
                "server",
                "--store",
                "sqlite:x.db",
                "admin",
                action,
                "-vw3i5f7zmqSd1oHC-tPpQ",
            ])
            .unwrap_or_else(|e| panic!("{action}: {e}"));
            let id = match cli.command {
                Some(Command::Admin {
                    action:
                        AdminCommand::RevokeToken { id }
                        | AdminCommand::ShowClient { client_id: id }
                        | AdminCommand::DeleteClient { client_id: id },
                    ..
                }) => id,
                _ => panic!("{action}: not the admin command"),
            };
            assert_eq!(id, "-vw3i5f7zmqSd1oHC-tPpQ");
        }
    }
}
