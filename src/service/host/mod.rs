//! Helpers for the host's own endpoints, so that a client that just
//! registered can use them:
//!
//! - the token endpoint: [`Registration::authenticate_token_request_with_assertion`],
//!   one call for every client authentication method the service enables
//!   (RFC 6749 §2.3.1 secrets and `none`: one store lookup, one SHA-256 and a
//!   constant-time compare; RFC 7523 §2.2 JWT assertions when
//!   `client_assertions` is configured), or its two steps
//!   [`ClientCredentials`] and [`Registration::authenticate_client`];
//!   [`Registration::authenticate_token_request`] reads no assertion;
//!   [`TokenError`] answers the endpoint's errors as RFC 6749 §5.2 says, as
//!   an `http::Response`;
//! - the authorization endpoint: [`Registration::check_redirect_uri`] and
//!   [`ClientMetadata::matches_redirect_uri`](crate::ClientMetadata::matches_redirect_uri)
//!   (exact match, any port on loopback: RFC 8252 §7.3), [`pkce`] (RFC 7636,
//!   `S256`), [`preferred_languages`] for showing a client's name in the user's
//!   language ([`Localized::best_match`](crate::Localized::best_match));
//! - resource indicators (RFC 8707) at both endpoints:
//!   [`requested_resources`] reads and checks the `resource` parameters,
//!   [`Resources`] says which the host serves, [`narrow_resources`] keeps a
//!   token request within its grant; [`ResourceError`] answers
//!   `invalid_target`;
//! - [`Registration::profile_of`]: the rules a client registered under, for
//!   example whether it must use PKCE.
//! - [`Registration::client`]: who a `client_id` is, a registered
//!   client or a URL client (Client ID Metadata Documents); the helpers above
//!   resolve through it, so they accept both.
//!
//! Both helpers record the client's last use (throttled) for the lifecycle
//! reaper.
//!
#![doc = include_str!("../../../docs/host.md")]
//!
//! [`Registration::authenticate_client`]: crate::Registration::authenticate_client
//! [`Registration::authenticate_token_request`]: crate::Registration::authenticate_token_request
//! [`Registration::authenticate_token_request_with_assertion`]: crate::Registration::authenticate_token_request_with_assertion
//! [`Registration::check_redirect_uri`]: crate::Registration::check_redirect_uri
//! [`Registration::profile_of`]: crate::Registration::profile_of
//! [`Registration::client`]: crate::Registration::client

mod client_assertion;
mod client_auth;
mod form;
mod language;
pub mod pkce;
mod redirect;
mod resolve;
mod resource;
mod token_error;

pub use client_auth::{ClientAuthError, ClientCredentials, CredentialsLocation};
pub use form::FormField;
pub use language::preferred_languages;
pub use redirect::RedirectError;
pub use resolve::ResolveError;
pub use resource::{ResourceError, Resources, narrow_resources, requested_resources};
pub use token_error::TokenError;

use crate::policy::Profile;
use crate::service::Registration;
use crate::store::ClientRecord;

impl Registration {
    /// The profile a client registered under (`None` if that profile is no
    /// longer configured), for example to know whether it must use PKCE.
    pub fn profile_of(&self, record: &ClientRecord) -> Option<&Profile> {
        self.config().profile_named(record.profile.as_deref())
    }
}
