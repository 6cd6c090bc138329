//! Registration policy: who may register what.
//!
//! - A [`Profile`] holds the built-in rules: allowed auth methods, grant and
//!   response types, algorithms, scopes, redirect URI rules, forced values and
//!   defaults. The default profile applies to open registration; named profiles
//!   are bound to initial access tokens, and a client keeps the profile it
//!   registered under for its updates.
//! - A [`RegistrationHook`] gives the host the last say, with the request
//!   context.
//!
#![doc = include_str!("../../docs/securing.md")]

mod auth_signing;
pub(crate) mod enforce;
mod hook;
mod profile;
pub mod sector_identifier;

pub use hook::{RegistrationHook, RequestContext};
pub use profile::{Profile, UnknownScope};
