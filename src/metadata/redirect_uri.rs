//! Redirect URI rules: syntax (RFC 6749 §3.1.2), application types (OIDC DCR §2)
//! and native apps (RFC 8252 §7).

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use super::{ApplicationType, ClientMetadata};

/// Schemes that are never a redirect target: they run code or read local data in
/// the user agent.
const FORBIDDEN_SCHEMES: [&str; 6] = ["javascript", "data", "vbscript", "file", "blob", "about"];

/// Parameters the authorization response adds to the redirect URI (RFC 6749
/// §4.1.2, §4.1.2.1, §4.2.2; RFC 9207 §2; OIDC Core §3.2.2.5; OIDC Session
/// §3). A registered redirect URI holding one could forge them: a registered
/// `iss` defeats the RFC 9207 mix-up check.
const RESPONSE_PARAMETERS: [&str; 11] = [
    "code",
    "state",
    "iss",
    "error",
    "error_description",
    "error_uri",
    "access_token",
    "token_type",
    "expires_in",
    "id_token",
    "session_state",
];

/// What kind of redirect URI a syntactically valid one is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RedirectKind {
    /// `https` on a host that is not loopback.
    Https,
    /// `https` on a loopback host.
    HttpsLoopback,
    /// `http` on `localhost`, `127.0.0.1` or `[::1]` (RFC 8252 §7.3).
    HttpLoopback,
    /// `http` on any other host.
    Http,
    /// Any other scheme: a private-use URI scheme (RFC 8252 §7.1).
    PrivateUse,
}

/// Parses a URI the client sent and checks what every URI value must satisfy:
/// absolute, no whitespace or control characters (the stored string would not be
/// the one the client uses), and no userinfo.
pub(crate) fn parse_absolute(uri: &str) -> Result<Url, &'static str> {
    if has_whitespace_or_control(uri) {
        return Err("must not contain whitespace or control characters");
    }
    let url = Url::parse(uri).map_err(|_| "must be an absolute URI")?;
    // The URL parser reads `https:host` as `https://host/`; the stored string
    // must be the one a user agent will use, so require the authority marker.
    if url.has_authority() && !uri[url.scheme().len() + 1..].starts_with("//") {
        return Err("must be an absolute URI with an authority (scheme://host)");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain user information");
    }
    Ok(url)
}

/// Whether `s` holds a whitespace or control character. Printable ASCII
/// other than the space is neither: a string of only that (a branch-free scan)
/// is not decoded.
fn has_whitespace_or_control(s: &str) -> bool {
    let graphic = s
        .bytes()
        .fold(true, |all, b| all & (0x21..0x7f).contains(&b));
    !graphic && s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Checks a redirect URI's syntax (RFC 6749 §3.1.2: absolute, no fragment; never
/// a scheme that runs code) and classifies it.
///
/// Also refused, because parsers or user agents would not agree on what was
/// registered: a backslash (a path separator to WHATWG URL parsers, data to
/// RFC 3986 ones: `https://good.example\@evil.example/`), any non-ASCII
/// character (a URI is ASCII, RFC 3986 §2; an internationalised host is
/// registered as its A-label `xn--…` and compared as that exact string, so a
/// homoglyph is never stored raw nor sent in `Location`), a host that is not
/// a plain name or address (`*` is not a pattern here), and a query holding an
/// authorization response parameter.
pub(crate) fn classify(uri: &str) -> Result<(Url, RedirectKind), &'static str> {
    if uri.contains('\\') {
        return Err("must not contain a backslash (URL parsers disagree on where its host ends)");
    }
    if !uri.is_ascii() {
        return Err(
            "must be ASCII (RFC 3986 §2): percent-encode other characters, and write an internationalised host as its A-label (xn--…)",
        );
    }
    let url = parse_absolute(uri)?;
    if uri.contains('#') {
        return Err("must not contain a fragment (RFC 6749 §3.1.2)");
    }
    let scheme = url.scheme();
    if FORBIDDEN_SCHEMES.contains(&scheme) {
        return Err("uses a forbidden scheme");
    }
    if let Some(query) = url.query()
        && url::form_urlencoded::parse(query.as_bytes())
            .any(|(name, _)| RESPONSE_PARAMETERS.contains(&name.as_ref()))
    {
        return Err(
            "must not carry an authorization response parameter (code, state, iss, error, tokens) in its query (RFC 9207 §2.4)",
        );
    }
    // The host as written; `parse_absolute` checked that `//` follows the
    // scheme of a URI with an authority.
    let written = if url.has_authority() {
        split_authority(&uri[scheme.len() + 3..]).map(|(host, _, _)| host)
    } else {
        None
    };
    if let Some(host) = written
        && !host.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err("the host must be a domain name or an IP address (no wildcards)");
    }
    let kind = match scheme {
        "https" | "http" => {
            let host = url.host().ok_or("must have a host")?;
            let loopback = is_loopback(&host);
            // `127.1`, `0x7f.0.0.1` or `LOCALHOST` reach the same host, but the
            // any-port rule compares hosts as written: accept only the forms
            // it knows, so a registered loopback URI always matches.
            if loopback && !written.is_some_and(is_written_loopback) {
                return Err("loopback hosts must be written localhost, 127.0.0.1 or [::1]");
            }
            match (scheme == "https", loopback) {
                (true, false) => RedirectKind::Https,
                (true, true) => RedirectKind::HttpsLoopback,
                (false, true) => RedirectKind::HttpLoopback,
                (false, false) => RedirectKind::Http,
            }
        }
        _ => RedirectKind::PrivateUse,
    };
    Ok((url, kind))
}

/// `localhost`, `127.0.0.1` or `[::1]`: the loopback hosts of RFC 8252 §7.3 and
/// §8.3.
pub(crate) fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => *ip == Ipv4Addr::LOCALHOST,
        Host::Ipv6(ip) => *ip == Ipv6Addr::LOCALHOST,
    }
}

/// The rules for one application type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RedirectRules {
    pub(crate) application_type: ApplicationType,
    /// The client uses the implicit grant (tokens in the front channel).
    pub(crate) implicit: bool,
    /// Web clients may use `http` on loopback hosts.
    pub(crate) web_http_loopback: bool,
    /// Native clients may use claimed `https` redirects (RFC 8252 §7.2).
    pub(crate) native_https: bool,
}

impl RedirectRules {
    /// Checks one redirect URI against the rules of its application type, and
    /// returns it parsed.
    pub(crate) fn check(&self, uri: &str) -> Result<Url, &'static str> {
        let (url, kind) = classify(uri)?;
        self.check_kind(&url, kind)?;
        Ok(url)
    }

    fn check_kind(&self, url: &Url, kind: RedirectKind) -> Result<(), &'static str> {
        match self.application_type {
            ApplicationType::Web => match kind {
                RedirectKind::Https => Ok(()),
                RedirectKind::HttpsLoopback | RedirectKind::HttpLoopback if self.implicit => Err(
                    "web clients using the implicit grant must not use a loopback host (OIDC DCR §2)",
                ),
                RedirectKind::HttpsLoopback => Ok(()),
                RedirectKind::HttpLoopback if self.web_http_loopback => Ok(()),
                RedirectKind::HttpLoopback | RedirectKind::Http => {
                    Err("web clients must use https (OIDC DCR §2)")
                }
                RedirectKind::PrivateUse => {
                    Err("web clients must use https; private-use schemes are for native clients")
                }
            },
            ApplicationType::Native => match kind {
                RedirectKind::HttpLoopback => Ok(()),
                RedirectKind::HttpsLoopback => Err(
                    "native loopback redirect URIs use http (RFC 8252 §7.3); only those match on any port",
                ),
                RedirectKind::Https if self.native_https => Ok(()),
                RedirectKind::Https => Err(
                    "native clients must use a private-use scheme or an http loopback URI (OIDC DCR §2)",
                ),
                RedirectKind::Http => Err(
                    "native clients may use http only on localhost, 127.0.0.1 or [::1] (RFC 8252 §7.3)",
                ),
                RedirectKind::PrivateUse if url.scheme().contains('.') => Ok(()),
                RedirectKind::PrivateUse => Err(
                    "private-use schemes must be a reverse domain name, such as com.example.app (RFC 8252 §7.1)",
                ),
            },
        }
    }
}

/// Whether a redirect URI presented at the authorization endpoint matches a
/// registered one: exact string comparison (RFC 6749 §3.1.2.3, RFC 9700 §2.1),
/// except that for a native client's `http` loopback redirects
/// (`any_loopback_port`) the port is ignored (RFC 8252 §7.3). The port is
/// removed as text and the rest still compares as the exact string, so no URL
/// normalization (`127.1`, `/a/../b`, `%7B`) can make two URIs match.
pub(crate) fn matches_registered(
    registered: &str,
    presented: &str,
    any_loopback_port: bool,
) -> bool {
    if registered == presented {
        return true;
    }
    if !any_loopback_port {
        return false;
    }
    match (
        without_loopback_port(registered),
        without_loopback_port(presented),
    ) {
        (Some((host_r, rest_r)), Some((host_p, rest_p))) => host_r == host_p && rest_r == rest_p,
        _ => false,
    }
}

/// Splits `http://{loopback host}[:port]{rest}` into the host and the rest,
/// dropping the port; `None` for anything else.
fn without_loopback_port(uri: &str) -> Option<(&str, &str)> {
    let (host, port, rest) = split_authority(uri.strip_prefix("http://")?)?;
    if !port.is_empty() {
        let digits = port.strip_prefix(':')?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u16>().ok()?;
    }
    is_written_loopback(host).then_some((host, rest))
}

/// Splits what follows `scheme://` into the host and the `:port` as written,
/// and the rest (path, query, fragment).
fn split_authority(after_scheme: &str) -> Option<(&str, &str, &str)> {
    // ASCII delimiters: the byte index is a character boundary.
    let end = after_scheme
        .bytes()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(after_scheme.len());
    let (authority, rest) = after_scheme.split_at(end);
    let host_end = if authority.starts_with('[') {
        authority.find(']')? + 1
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, port) = authority.split_at(host_end);
    Some((host, port, rest))
}

/// The loopback hosts as they must be written (RFC 8252 §7.3, §8.3).
fn is_written_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

impl ClientMetadata {
    /// Whether `presented` is one of the registered redirect URIs: exact string
    /// comparison (RFC 6749 §3.1.2.3, RFC 9700 §2.1), except that for a
    /// native client (`application_type` `native`) any port matches on `http`
    /// redirects to `localhost`, `127.0.0.1` and `[::1]` (RFC 8252 §7.3, which
    /// is about native apps only). A web client's loopback redirect, like any
    /// other, must be presented exactly as registered, port included.
    pub fn matches_redirect_uri(&self, presented: &str) -> bool {
        let any_loopback_port = self.app_type() == ApplicationType::Native;
        self.redirect_uris()
            .iter()
            .any(|registered| matches_registered(registered, presented, any_loopback_port))
    }

    /// Whether every registered redirect URI is on a loopback host
    /// (`localhost`, `127.0.0.1`, `[::1]`): such a client could be any program
    /// on the user's machine, so a consent page should say so (MCP 2025-11-25
    /// asks for a warning). `false` without redirect URIs.
    pub fn redirects_only_to_loopback(&self) -> bool {
        let uris = self.redirect_uris();
        !uris.is_empty()
            && uris.iter().all(|uri| {
                parse_absolute(uri)
                    .ok()
                    .and_then(|url| url.host().map(|h| is_loopback(&h)))
                    .unwrap_or(false)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(
            classify("https://a.example/cb").unwrap().1,
            RedirectKind::Https
        );
        assert_eq!(
            classify("http://[::1]:8080/cb").unwrap().1,
            RedirectKind::HttpLoopback
        );
        assert_eq!(
            classify("com.example.app:/cb").unwrap().1,
            RedirectKind::PrivateUse
        );
        assert!(classify("/relative").is_err());
        assert!(classify("https://a.example/cb#frag").is_err());
        assert!(classify("javascript:alert(1)").is_err());
        assert!(classify("https://a.example/c b").is_err());
        assert!(classify("https://user:pw@a.example/cb").is_err());
    }

    #[test]
    fn loopback_hosts_only_in_their_written_forms() {
        for uri in [
            "http://127.1/cb",
            "http://0x7f.0.0.1/cb",
            "http://LOCALHOST/cb",
            "http://[0:0::1]/cb",
        ] {
            assert!(classify(uri).is_err(), "{uri}");
        }
        assert!(matches_registered(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:65535/cb",
            true
        ));
        assert!(!matches_registered(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:65535/cb",
            false
        ));
        assert!(!matches_registered(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:65536/cb",
            true
        ));
        assert!(!matches_registered(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:99999/cb",
            true
        ));
        assert!(!matches_registered(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:+80/cb",
            true
        ));
    }
}
