//! The certificate binding of a `tls_client_auth` client (RFC 8705 §2.1.2).

use email_address::EmailAddress;

use super::json::truncated;
use super::redirect_uri::parse_absolute;
use super::{ClientMetadata, TokenEndpointAuthMethod, field_error};
use crate::error::RegistrationError;

/// How the authorization server recognises a `tls_client_auth` client's
/// certificate (RFC 8705 §2.1.2): exactly one member is set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsClientAuthBinding {
    /// `tls_client_auth_subject_dn`: the expected subject distinguished name
    /// (RFC 4514 string).
    pub subject_dn: Option<String>,
    /// `tls_client_auth_san_dns`: an expected `dNSName` SAN entry.
    pub san_dns: Option<String>,
    /// `tls_client_auth_san_uri`: an expected `uniformResourceIdentifier` SAN entry.
    pub san_uri: Option<String>,
    /// `tls_client_auth_san_ip`: an expected `iPAddress` SAN entry (IPv4 or IPv6).
    pub san_ip: Option<String>,
    /// `tls_client_auth_san_email`: an expected `rfc822Name` SAN entry.
    pub san_email: Option<String>,
}

/// The member names, in the order of RFC 8705 §2.1.2.
pub(crate) const TLS_CLIENT_AUTH_MEMBERS: [&str; 5] = [
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_auth_san_uri",
    "tls_client_auth_san_ip",
    "tls_client_auth_san_email",
];

impl TlsClientAuthBinding {
    /// The member called `name`, to set it while parsing.
    pub(crate) fn member_mut(&mut self, name: &str) -> Option<&mut Option<String>> {
        match name {
            "tls_client_auth_subject_dn" => Some(&mut self.subject_dn),
            "tls_client_auth_san_dns" => Some(&mut self.san_dns),
            "tls_client_auth_san_uri" => Some(&mut self.san_uri),
            "tls_client_auth_san_ip" => Some(&mut self.san_ip),
            "tls_client_auth_san_email" => Some(&mut self.san_email),
            _ => None,
        }
    }

    /// The members with their names.
    pub(crate) fn members(&self) -> [(&'static str, Option<&String>); 5] {
        [
            (TLS_CLIENT_AUTH_MEMBERS[0], self.subject_dn.as_ref()),
            (TLS_CLIENT_AUTH_MEMBERS[1], self.san_dns.as_ref()),
            (TLS_CLIENT_AUTH_MEMBERS[2], self.san_uri.as_ref()),
            (TLS_CLIENT_AUTH_MEMBERS[3], self.san_ip.as_ref()),
            (TLS_CLIENT_AUTH_MEMBERS[4], self.san_email.as_ref()),
        ]
    }
}

/// RFC 8705 §2.1.2: a `tls_client_auth` client "MUST use exactly one" of the
/// binding members, so the server has something to check its certificate
/// against; other clients register none. Each value must be of its kind (an IP
/// address, an e-mail address, an absolute URI, a DNS name).
pub(crate) fn check_tls_client_auth(m: &ClientMetadata) -> Result<(), RegistrationError> {
    let present: Vec<(&str, &String)> = m
        .tls_client_auth
        .as_deref()
        .map(TlsClientAuthBinding::members)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(field, value)| value.map(|v| (field, v)))
        .collect();
    if m.auth_method() != TokenEndpointAuthMethod::TlsClientAuth {
        return match present.first() {
            Some((field, _)) => Err(field_error(
                field,
                "only for token_endpoint_auth_method tls_client_auth (RFC 8705 §2.1.2)",
            )),
            None => Ok(()),
        };
    }
    let [(field, value)] = present.as_slice() else {
        return Err(field_error(
            "token_endpoint_auth_method",
            "tls_client_auth needs exactly one of tls_client_auth_subject_dn, tls_client_auth_san_dns, \
             tls_client_auth_san_uri, tls_client_auth_san_ip, tls_client_auth_san_email (RFC 8705 §2.1.2)",
        ));
    };
    let valid = match *field {
        "tls_client_auth_san_ip" => value.parse::<std::net::IpAddr>().is_ok(),
        "tls_client_auth_san_email" => EmailAddress::parse_with_options(
            value,
            email_address::Options::default().without_display_text(),
        )
        .is_ok(),
        "tls_client_auth_san_uri" => parse_absolute(value).is_ok(),
        "tls_client_auth_san_dns" => value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'*')),
        _ => true,
    };
    if valid {
        Ok(())
    } else {
        Err(field_error(
            field,
            format_args!(
                "\"{}\" is not a value of its kind (RFC 8705 §2.1.2)",
                truncated(value)
            ),
        ))
    }
}
