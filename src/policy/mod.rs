//! Registration policy: which metadata a client may register.
//!
//! A [`Profile`] holds the built-in rules: allowed auth methods, grant and
//! response types, algorithms, scopes, redirect URI rules and defaults.

mod profile;

pub use profile::{Profile, UnknownScope};
