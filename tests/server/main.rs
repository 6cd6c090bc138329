//! The example server (`examples/server`) as a black box, one test binary:
//! each test starts the built binary on a free loopback port, talks HTTP to
//! it, and stops it. Its end-to-end flows, the bounds it keeps under abuse,
//! its connection limits, the consent page, its grants, its OpenID Provider
//! side and its URL clients.
//!
//! `cargo test` builds the binary first; run alone, the harness builds it
//! (`server_support::server_binary`). Unix only: the tests stop the server
//! with SIGTERM through `kill`.

#[path = "../cimd_support/mod.rs"]
mod cimd_support;
#[path = "../server_support/mod.rs"]
mod server_support;

mod abuse;
mod black_box;
mod connections;
mod consent;
mod grants;
mod oidc;
mod url_clients;
