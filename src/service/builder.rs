//! [`RegistrationBuilder::build`]: the checked configuration becomes the
//! service. It lives here so that configuration never depends on the service.

use super::Registration;
use crate::config::{ConfigError, RegistrationBuilder};

impl RegistrationBuilder {
    /// Checks the configuration and builds the service.
    pub fn build(self) -> Result<Registration, ConfigError> {
        self.into_config().map(Registration::from_config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_must_be_https_unless_loopback() {
        let build = |issuer: &str| Registration::builder(issuer).open().build().map(|_| ());
        assert_eq!(
            build("http://auth.example.com"),
            Err(ConfigError::InsecureIssuer)
        );
        assert!(build("http://127.0.0.1:8080").is_ok());
        assert!(build("http://localhost:8080").is_ok());
        assert!(build("https://auth.example.com").is_ok());
        assert!(matches!(
            build("https://a.example/?q"),
            Err(ConfigError::InvalidIssuer(_))
        ));
        assert!(matches!(
            build("not a url"),
            Err(ConfigError::InvalidIssuer(_))
        ));
    }

    #[test]
    fn access_must_be_chosen() {
        let err = Registration::builder("https://a.example")
            .build()
            .unwrap_err();
        assert_eq!(err, ConfigError::AccessNotChosen);
    }

    #[test]
    fn endpoint_follows_issuer_path() {
        let r = Registration::builder("https://a.example/tenant/")
            .open()
            .build()
            .unwrap();
        assert_eq!(
            r.registration_endpoint(),
            "https://a.example/tenant/register"
        );
        let r = Registration::builder("https://a.example")
            .endpoint("/oauth/register")
            .open()
            .build()
            .unwrap();
        assert_eq!(
            r.registration_endpoint(),
            "https://a.example/oauth/register"
        );
        for bad in ["register", "/", "/r?x", "/r/"] {
            let e = Registration::builder("https://a.example")
                .endpoint(bad)
                .open()
                .build();
            assert!(matches!(e, Err(ConfigError::InvalidEndpoint(_))), "{bad}");
        }
    }

    #[test]
    fn standard_members_cannot_be_extensions() {
        for name in ["client_name", "client_secret", "client_name#fr"] {
            let e = Registration::builder("https://a.example")
                .open()
                .extension_members([name])
                .build();
            assert!(
                matches!(e, Err(ConfigError::ReservedExtensionMember(_))),
                "{name}"
            );
        }
    }
}
