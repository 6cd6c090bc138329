//! A registration client: register with any OAuth 2.0 Dynamic Client
//! Registration server (RFC 7591, OpenID Connect DCR 1.0), then read, update and
//! delete the registration (RFC 7592).
//!
//! The options follow react-native-app-auth's `register()`: an `issuer` (the
//! `registration_endpoint` is discovered) or an explicit
//! [`ServiceConfiguration`], the `redirect_urls`, and optional `response_types`,
//! `grant_types`, `subject_type`, `token_endpoint_auth_method`,
//! `additional_parameters`, `custom_headers` and `connection_timeout`. Any other
//! member goes in through [`ClientMetadata`](crate::ClientMetadata). It
//! registers with any RFC 7591 server, as react-native-app-auth's `register()`
//! does for apps; errors are typed ([`ClientError`]: the server's OAuth error,
//! an HTTP status, discovery, network, timeout, an invalid response).
//!
//! ```no_run
//! use tower_dcr::client::{RegisterConfig, register};
//! use tower_dcr::{Localized, TokenEndpointAuthMethod};
//!
//! # async fn run() -> Result<(), tower_dcr::client::ClientError> {
//! let config = RegisterConfig::issuer("https://auth.example.com", ["https://app.example.com/callback"])
//!     .token_endpoint_auth_method(TokenEndpointAuthMethod::None);
//! let mut client = register(config).await?; // discovers the registration_endpoint
//! println!("registered {}", client.client_id);
//!
//! let mut metadata = client.metadata.clone();
//! metadata.client_name = Localized::new("Example App");
//! client.update(metadata).await?; // the handle now holds the rotated token
//! client.delete().await?;
//! # Ok(()) }
//! ```
//!
//! # Discovery
//!
//! With an issuer, the client reads the RFC 8414 document
//! `/.well-known/oauth-authorization-server` (inserted between the host and the
//! issuer's path, RFC 8414 §3.1), and falls back to the OpenID Connect document
//! `{issuer}/.well-known/openid-configuration` when the first one is missing. The
//! document's `issuer` must equal the requested issuer exactly (RFC 8414 §3.3).
//!
//! # Security
//!
//! - Requests go over https. Plain http is allowed to loopback hosts
//!   (`localhost`, `127.0.0.1`, `[::1]`) for tests and local servers, and
//!   elsewhere only with
//!   [`dangerously_allow_insecure_http_requests`](RegisterConfig::dangerously_allow_insecure_http_requests).
//!   The same check guards the discovered `registration_endpoint` and the
//!   `registration_client_uri` the server returns, so the registration access
//!   token is never sent in clear.
//! - Redirects are never followed; every request has a timeout (default 60 s)
//!   and response bodies are limited to 1 MiB.
//! - Client secrets and tokens are [`Secret`](crate::Secret)s: `Debug` prints
//!   `[redacted]`, and no error message contains one. `Debug` of the options
//!   shows custom header names only.

mod config;
mod discovery;
mod error;
mod registration;
mod transport;

pub use config::{HttpOptions, RegisterConfig, ServiceConfiguration};
pub use discovery::discover;
pub use error::ClientError;
pub use registration::{ClientInformation, ClientRegistration};

use http::{Method, StatusCode};

use self::config::Provider;
use self::transport::{Http, Target};

/// Registers a client (RFC 7591 §3.1) and returns the handle through which it is
/// managed (RFC 7592).
///
/// With [`RegisterConfig::issuer`] the `registration_endpoint` is discovered
/// first ([`discover`]). The server must answer `201 Created` (`200 OK` is
/// accepted too, as some servers send it) with a client information response
/// holding a `client_id`, and a `client_secret_expires_at` whenever it issues a
/// `client_secret` (RFC 7591 §3.2.1).
pub async fn register(config: RegisterConfig) -> Result<ClientRegistration, ClientError> {
    let http = Http::new(config.options.clone())?;
    let endpoint = match &config.provider {
        Provider::Issuer(issuer) => {
            discovery::discover_with(&http, issuer)
                .await?
                .registration_endpoint
        }
        Provider::ServiceConfiguration(service) => service.registration_endpoint.clone(),
    };
    let url = http.check_url(&endpoint, Target::Configured)?;
    let body = config.request_body();
    let reply = http
        .send(
            Method::POST,
            url,
            config.initial_access_token.as_ref(),
            Some(body),
        )
        .await?;
    reply.expect_status(&[StatusCode::CREATED, StatusCode::OK])?;
    let information = ClientInformation::from_response(&reply.body)?;
    Ok(ClientRegistration::new(information, http))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_and_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}

    #[test]
    fn futures_and_types_can_cross_threads() {
        let config = RegisterConfig::issuer("https://a.example", ["https://c.example/cb"]);
        send_and_sync(&config);
        send(&register(config));
        send(&discover("https://a.example", &HttpOptions::new()));
        let mut client =
            ClientRegistration::from_information(ClientInformation::default(), HttpOptions::new())
                .unwrap();
        send_and_sync(&client);
        send(&client.read());
        send(&client.update(crate::metadata::ClientMetadata::default()));
        send(&client.delete());
        send_and_sync(&ClientError::ManagementUnavailable);
    }
}
