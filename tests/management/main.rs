//! Client configuration management (RFC 7592) and the RFC 6750 bearer rules
//! it relies on, one test binary: the protocol, registration access token
//! rotation and its grace period, and concurrent management requests.

#[path = "../common/mod.rs"]
mod common;

mod races;
mod rfc7592;
mod token_rotation;
