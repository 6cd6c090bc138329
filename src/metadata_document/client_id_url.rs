//! The Client Identifier URL (draft-ietf-oauth-client-id-metadata-document §3):
//! which `https` URLs may name a client. A pure check on the string the client
//! sent; nothing here touches the network.

use std::fmt;

use url::Url;

/// The longest Client Identifier URL accepted, in bytes.
pub const MAX_CLIENT_ID_URL_BYTES: usize = 2048;

/// A `client_id` that passed the rules of draft §3: the exact string the client
/// sent (compared by simple string comparison, RFC 3986 §6.2.1) and its parsed
/// form (for the host, port and fetching).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIdUrl {
    raw: String,
    url: Url,
}

impl ClientIdUrl {
    /// The `client_id` exactly as sent.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The host, lowercase (a domain name or an IP literal, IPv6 in brackets).
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

impl fmt::Display for ClientIdUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Why a `client_id` is not a Client Identifier URL (draft §3). The text names
/// the rule, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientIdUrlError {
    /// Longer than [`MAX_CLIENT_ID_URL_BYTES`].
    #[error("the client_id URL is too long")]
    TooLong,
    /// Not `https://…` (lowercase scheme).
    #[error("the client_id URL must use the https scheme")]
    NotHttps,
    /// Not a URL, or no host.
    #[error("the client_id is not an absolute https URL with a host")]
    Invalid,
    /// A userinfo component (`user:pass@`).
    #[error("the client_id URL must not contain userinfo")]
    Userinfo,
    /// No path component.
    #[error("the client_id URL must contain a path")]
    NoPath,
    /// A `.` or `..` path segment (also percent-encoded).
    #[error("the client_id URL must not contain . or .. path segments")]
    DotSegment,
    /// A fragment component (even an empty one).
    #[error("the client_id URL must not contain a fragment")]
    Fragment,
    /// A query component, refused unless the policy allows it (draft §3:
    /// SHOULD NOT).
    #[error("the client_id URL should not contain a query")]
    Query,
    /// Not in normal form: a host, path or query that a URL parser rewrites
    /// (uppercase host, a backslash, characters that need percent-encoding).
    /// The client SHOULD normalize its URL, and the server never does.
    #[error("the client_id URL is not in normal form (RFC 3986 §6.2.2)")]
    NotNormalized,
}

/// Whether `client_id` claims to be a Client Identifier URL: it starts with
/// `https://`. Generated identifiers never do (draft §7.1).
pub fn is_url_client_id(client_id: &str) -> bool {
    client_id.starts_with("https://")
}

/// Checks `client_id` against draft §3: the `https` scheme; no userinfo; a
/// port allowed; a path; no `.` or `..` segment; no fragment; no query unless
/// `allow_query`. Returns the URL, keeping the exact string.
pub fn parse_client_id_url(
    client_id: &str,
    allow_query: bool,
) -> Result<ClientIdUrl, ClientIdUrlError> {
    if client_id.len() > MAX_CLIENT_ID_URL_BYTES {
        return Err(ClientIdUrlError::TooLong);
    }
    let Some(rest) = client_id.strip_prefix("https://") else {
        return Err(ClientIdUrlError::NotHttps);
    };
    if client_id.contains('#') {
        return Err(ClientIdUrlError::Fragment);
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(ClientIdUrlError::Userinfo);
    }
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    if path.is_empty() {
        return Err(ClientIdUrlError::NoPath);
    }
    if path.split('/').any(is_dot_segment) {
        return Err(ClientIdUrlError::DotSegment);
    }
    if query.is_some() && !allow_query {
        return Err(ClientIdUrlError::Query);
    }
    let url = Url::parse(client_id).map_err(|_| ClientIdUrlError::Invalid)?;
    if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
        return Err(ClientIdUrlError::Invalid);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ClientIdUrlError::Userinfo);
    }
    let host = url.host_str().unwrap_or_default();
    let port = url.port();
    let expected_authority = match port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    // The url crate drops the default port 443; the draft keeps
    // `https://example.com:443/` distinct, so compare without it too.
    let authority_ok =
        authority == expected_authority || (port.is_none() && authority == format!("{host}:443"));
    if !authority_ok || url.path() != path || url.query() != query {
        return Err(ClientIdUrlError::NotNormalized);
    }
    Ok(ClientIdUrl {
        raw: client_id.to_owned(),
        url,
    })
}

/// `.` or `..`, also with percent-encoded dots (`%2e`, `%2E`), which URL
/// parsers treat as dots.
fn is_dot_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "." | ".." | "%2e" | "%2e." | ".%2e" | "%2e%2e"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str) -> Result<ClientIdUrl, ClientIdUrlError> {
        parse_client_id_url(id, false)
    }

    /// Draft §3: https, a path, a port allowed.
    #[test]
    fn cimd_3_accepts_https_urls_with_a_path_and_a_port() {
        for id in [
            "https://client.example.com/oauth/client.json",
            "https://client.example.com:8443/client",
            "https://client.example.com:443/client",
            "https://127.0.0.1:9000/c",
            "https://[2001:db8::1]/c",
            "https://client.example.com/",
            "https://client.example.com/a%20b",
        ] {
            let url = check(id).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(url.as_str(), id, "the exact string is kept");
        }
        assert_eq!(
            check("https://client.example.com:8443/c").unwrap().host(),
            "client.example.com"
        );
    }

    /// Draft §3: MUST use the https scheme.
    #[test]
    fn cimd_3_refuses_other_schemes() {
        for id in [
            "http://client.example.com/c",
            "HTTPS://client.example.com/c",
            "ftp://client.example.com/c",
            "client.example.com/c",
            "abc123",
        ] {
            assert_eq!(check(id), Err(ClientIdUrlError::NotHttps), "{id}");
        }
    }

    /// Draft §3: MUST contain a path component.
    #[test]
    fn cimd_3_refuses_a_url_without_a_path() {
        assert_eq!(
            check("https://client.example.com"),
            Err(ClientIdUrlError::NoPath)
        );
        assert_eq!(
            check("https://client.example.com?x=1"),
            Err(ClientIdUrlError::NoPath)
        );
    }

    /// Draft §3: MUST NOT contain single-dot or double-dot path segments.
    #[test]
    fn cimd_3_refuses_dot_segments() {
        for id in [
            "https://client.example.com/./c",
            "https://client.example.com/a/../c",
            "https://client.example.com/a/..",
            "https://client.example.com/a/.",
            "https://client.example.com/a/%2e%2E/c",
            "https://client.example.com/%2e/c",
        ] {
            assert_eq!(check(id), Err(ClientIdUrlError::DotSegment), "{id}");
        }
        // Dots inside a segment are fine.
        assert!(check("https://client.example.com/.well-known/c.json").is_ok());
        assert!(check("https://client.example.com/a.../c").is_ok());
    }

    /// Draft §3: MUST NOT contain a fragment component.
    #[test]
    fn cimd_3_refuses_a_fragment() {
        assert_eq!(
            check("https://client.example.com/c#x"),
            Err(ClientIdUrlError::Fragment)
        );
        assert_eq!(
            check("https://client.example.com/c#"),
            Err(ClientIdUrlError::Fragment)
        );
    }

    /// Draft §3: MUST NOT contain a userinfo component.
    #[test]
    fn cimd_3_refuses_userinfo() {
        for id in [
            "https://user@client.example.com/c",
            "https://user:pass@client.example.com/c",
            "https://:pass@client.example.com/c",
        ] {
            assert_eq!(check(id), Err(ClientIdUrlError::Userinfo), "{id}");
        }
    }

    /// Draft §3: SHOULD NOT contain a query component; refused unless allowed.
    #[test]
    fn cimd_3_refuses_a_query_unless_allowed() {
        let id = "https://client.example.com/c?v=1";
        assert_eq!(check(id), Err(ClientIdUrlError::Query));
        assert_eq!(parse_client_id_url(id, true).unwrap().as_str(), id);
    }

    /// RFC 3986 §6.2.1 with no normalization by the server: a URL a parser
    /// would rewrite is refused rather than silently compared in another form.
    #[test]
    fn cimd_3_refuses_urls_not_in_normal_form() {
        for id in [
            "https://Client.Example.com/c",
            "https://client.example.com/a\\b",
            "https://client.example.com/a b",
            "https://client.example.com:08443/c",
        ] {
            assert_eq!(check(id), Err(ClientIdUrlError::NotNormalized), "{id}");
        }
        assert!(check("https:///c").is_err());
        assert!(check("https://:443/c").is_err());
    }

    #[test]
    fn long_urls_are_refused() {
        let id = format!("https://client.example.com/{}", "a".repeat(3000));
        assert_eq!(check(&id), Err(ClientIdUrlError::TooLong));
    }

    /// Draft §7.1: generated identifiers never start with `https://`.
    #[test]
    fn cimd_7_1_generated_client_ids_are_never_urls() {
        for _ in 0..64 {
            let id = crate::credentials::generate_client_id().unwrap();
            assert!(!is_url_client_id(&id), "{id}");
        }
        assert!(is_url_client_id("https://a.example/c"));
        assert!(!is_url_client_id("http://a.example/c"));
    }
}
