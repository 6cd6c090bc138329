//! The host's side (RFC 6749 at the host's own endpoints), one test binary:
//! the helpers for client authentication and redirect URI matching, the edges
//! of redirect matching, and what a host that embeds the crate meets first.

#[path = "../cimd_support/mod.rs"]
mod cimd_support;
#[path = "../common/mod.rs"]
mod common;

mod embedding;
mod helpers;
mod redirect_matching;
