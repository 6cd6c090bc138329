//! Where an issuer's metadata documents live (RFC 8414 §3.1, OpenID Connect
//! Discovery 1.0 §4), for the registration client that reads them and the
//! host that serves them.

use url::Url;

/// The two well-known URLs of an issuer's metadata documents:
///
/// - RFC 8414 §3.1: `/.well-known/oauth-authorization-server` inserted
///   between the host and the issuer's path
///   (`https://as.example/tenant1` →
///   `https://as.example/.well-known/oauth-authorization-server/tenant1`);
/// - OpenID Connect Discovery 1.0 §4: `/.well-known/openid-configuration`
///   appended to the issuer
///   (`https://as.example/tenant1/.well-known/openid-configuration`).
///
/// A trailing `/` of the issuer is dropped first (both documents say so).
/// The `*_path` methods give the paths a host mounts the documents on.
///
/// ```
/// use tower_dcr::WellKnown;
///
/// let well_known = WellKnown::for_issuer("https://as.example/tenant1").unwrap();
/// assert_eq!(
///     well_known.oauth_authorization_server(),
///     "https://as.example/.well-known/oauth-authorization-server/tenant1",
/// );
/// assert_eq!(
///     well_known.openid_configuration_path(),
///     "/tenant1/.well-known/openid-configuration",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WellKnown {
    oauth: Url,
    openid: Url,
}

/// The issuer given to [`WellKnown::for_issuer`] is not an absolute URL with
/// a host and without query or fragment (RFC 8414 §2).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the issuer must be an absolute URL with a host and without query or fragment: {0}")]
pub struct InvalidIssuer(pub String);

impl WellKnown {
    /// The well-known URLs of `issuer`, an absolute URL with a host and
    /// without query or fragment (RFC 8414 §2).
    pub fn for_issuer(issuer: &str) -> Result<Self, InvalidIssuer> {
        let url = Url::parse(issuer).map_err(|_| InvalidIssuer(issuer.to_owned()))?;
        if url.cannot_be_a_base()
            || url.host().is_none()
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(InvalidIssuer(issuer.to_owned()));
        }
        Ok(Self::from_url(&url))
    }

    /// The well-known URLs of an issuer already checked.
    pub(crate) fn from_url(issuer: &Url) -> Self {
        let path = issuer.path().trim_end_matches('/');
        let mut oauth = issuer.clone();
        oauth.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
        let mut openid = issuer.clone();
        openid.set_path(&format!("{path}/.well-known/openid-configuration"));
        Self { oauth, openid }
    }

    /// The RFC 8414 §3.1 metadata URL.
    pub fn oauth_authorization_server(&self) -> &str {
        self.oauth.as_str()
    }

    /// The path of the RFC 8414 §3.1 metadata URL, where the host mounts it.
    pub fn oauth_authorization_server_path(&self) -> &str {
        self.oauth.path()
    }

    /// The OpenID Connect Discovery 1.0 §4 configuration URL.
    pub fn openid_configuration(&self) -> &str {
        self.openid.as_str()
    }

    /// The path of the OpenID Connect Discovery 1.0 §4 configuration URL,
    /// where the host mounts it.
    pub fn openid_configuration_path(&self) -> &str {
        self.openid.path()
    }

    /// Both URLs, in the order a client tries them (RFC 8414 first).
    #[cfg(feature = "client")]
    pub(crate) fn urls(&self) -> [&Url; 2] {
        [&self.oauth, &self.openid]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(issuer: &str) -> [String; 2] {
        let w = WellKnown::for_issuer(issuer).unwrap();
        [
            w.oauth_authorization_server().to_owned(),
            w.openid_configuration().to_owned(),
        ]
    }

    /// RFC 8414 §3.1: for an issuer with a path, the well-known segment goes
    /// between the host and the path.
    #[test]
    fn rfc8414_3_1_the_well_known_segment_goes_before_the_issuer_path() {
        let w = WellKnown::for_issuer("https://as.example/tenant1").unwrap();
        assert_eq!(
            w.oauth_authorization_server(),
            "https://as.example/.well-known/oauth-authorization-server/tenant1"
        );
        assert_eq!(
            w.oauth_authorization_server_path(),
            "/.well-known/oauth-authorization-server/tenant1"
        );
    }

    /// OpenID Connect Discovery 1.0 §4: `/.well-known/openid-configuration`
    /// is appended to the issuer, after its path.
    #[test]
    fn oidc_discovery_4_the_configuration_is_appended_to_the_issuer() {
        let w = WellKnown::for_issuer("https://as.example/tenant1").unwrap();
        assert_eq!(
            w.openid_configuration(),
            "https://as.example/tenant1/.well-known/openid-configuration"
        );
        assert_eq!(
            w.openid_configuration_path(),
            "/tenant1/.well-known/openid-configuration"
        );
    }

    /// RFC 8414 §3.1 and OpenID Connect Discovery 1.0 §4: a terminating `/`
    /// of the issuer is removed first; an issuer without a path gets the
    /// plain well-known paths; the port is kept.
    #[test]
    fn rfc8414_3_1_a_trailing_slash_is_removed_and_the_port_kept() {
        let root = [
            "https://as.example/.well-known/oauth-authorization-server",
            "https://as.example/.well-known/openid-configuration",
        ];
        assert_eq!(both("https://as.example"), root);
        assert_eq!(both("https://as.example/"), root);
        assert_eq!(
            both("https://as.example:8443/tenant/one/"),
            [
                "https://as.example:8443/.well-known/oauth-authorization-server/tenant/one",
                "https://as.example:8443/tenant/one/.well-known/openid-configuration",
            ]
        );
    }

    /// RFC 8414 §2: an issuer is a URL with no query or fragment.
    #[test]
    fn rfc8414_2_an_issuer_with_a_query_or_fragment_has_no_well_known_urls() {
        for issuer in [
            "https://as.example/?x=1",
            "https://as.example/#f",
            "/tenant1",
            "urn:example:as",
        ] {
            assert_eq!(
                WellKnown::for_issuer(issuer),
                Err(InvalidIssuer(issuer.to_owned())),
                "{issuer}"
            );
        }
    }
}
