//! JWT client authentication (RFC 7523 §2.2, §3; OpenID Connect Core §9), one
//! test binary: URL clients whose keys sit at a `jwks_uri`, clients registered
//! here, the configurations `build()` refuses, the bounds on what one client
//! can make the server do, and the `jti` replay stores.

#[path = "../cimd_support/mod.rs"]
mod cimd_support;
#[path = "../common/mod.rs"]
mod common;

mod config;
#[cfg(feature = "client-assertion")]
mod fixtures;
mod limits;
mod registered;
mod replay;
mod url_clients;
