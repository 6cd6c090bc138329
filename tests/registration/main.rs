//! The registration request (RFC 7591 §2, §3), one test binary with a module
//! per rule set: RFC 7591 itself, what OpenID Connect Dynamic Client
//! Registration 1.0 adds, RFC 8252's native-app redirect URIs, the metadata
//! rules other specifications impose, and every configured size limit.

#[path = "../common/mod.rs"]
mod common;

mod limits;
mod metadata_rules;
mod oidc_dcr;
mod rfc7591;
mod rfc8252;
