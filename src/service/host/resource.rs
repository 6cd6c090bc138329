//! Resource indicators (RFC 8707) at the host's authorization and token
//! endpoints: reading the `resource` parameters, checking them against the
//! resources the host serves, and narrowing a grant's resources at the token
//! endpoint.

use std::fmt;
use std::sync::Arc;

use url::Url;

use super::token_error::TokenError;
use crate::error::ErrorCode;

/// Why a request's `resource` parameters are refused: always `invalid_target`
/// (RFC 8707 §2). [`From`] gives the token endpoint's answer
/// ([`TokenError::invalid_target`]); [`ResourceError::redirect_uri`] the
/// authorization endpoint's redirect.
///
/// Its `Display` names the resource, for the host's logs; the description the
/// client gets ([`ResourceError::description`]) does not echo it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceError {
    /// A `resource` is not an absolute URI (RFC 8707 §2).
    #[error("resource {0:?} is not an absolute URI")]
    NotAbsolute(String),
    /// A `resource` has a fragment (RFC 8707 §2).
    #[error("resource {0:?} has a fragment")]
    Fragment(String),
    /// A `resource` is not one the host serves (RFC 8707 §2: not acceptable).
    #[error("resource {0:?} is not served here")]
    NotAllowed(String),
    /// A token request asked for a resource its grant was not issued for
    /// (RFC 8707 §2.2: a token request may narrow the grant's resources,
    /// never widen them).
    #[error("resource {0:?} is not part of the grant")]
    OutsideGrant(String),
}

impl ResourceError {
    /// The `error` code: `invalid_target` (RFC 8707 §2).
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::InvalidTarget
    }

    /// The `error_description` sent to the client. It names no resource, so
    /// it always holds only the characters RFC 6749 §5.2 allows.
    pub fn description(&self) -> &'static str {
        match self {
            Self::NotAbsolute(_) => "a resource is not an absolute URI",
            Self::Fragment(_) => "a resource must not have a fragment",
            Self::NotAllowed(_) => "a resource is not served by this authorization server",
            Self::OutsideGrant(_) => "a resource is not part of the grant",
        }
    }

    /// The resource that was refused, as the client sent it.
    pub fn resource(&self) -> &str {
        match self {
            Self::NotAbsolute(r)
            | Self::Fragment(r)
            | Self::NotAllowed(r)
            | Self::OutsideGrant(r) => r,
        }
    }

    /// The authorization endpoint's error redirect (RFC 6749 §4.1.2.1 with
    /// RFC 8707 §2's `invalid_target`): `redirect_uri` (the one
    /// [`Registration::check_redirect_uri`](crate::Registration::check_redirect_uri)
    /// returned) with `error`, `error_description`, `state` (when the request
    /// had one) and `iss` (RFC 9207, when the host sends it) added to its
    /// query.
    ///
    /// ```
    /// use tower_dcr::host::ResourceError;
    ///
    /// let error = ResourceError::NotAllowed("https://other.example/".into());
    /// assert_eq!(
    ///     error.redirect_uri("https://app.example/cb", Some("xyz"), None),
    ///     "https://app.example/cb?error=invalid_target\
    ///      &error_description=a+resource+is+not+served+by+this+authorization+server&state=xyz",
    /// );
    /// ```
    pub fn redirect_uri(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        iss: Option<&str>,
    ) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("error", self.error_code().as_str());
        query.append_pair("error_description", self.description());
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        if let Some(iss) = iss {
            query.append_pair("iss", iss);
        }
        let separator = match redirect_uri.find('?') {
            None => "?",
            Some(_) if redirect_uri.ends_with(['?', '&']) => "",
            Some(_) => "&",
        };
        format!("{redirect_uri}{separator}{}", query.finish())
    }
}

impl From<ResourceError> for TokenError {
    fn from(error: ResourceError) -> Self {
        TokenError::invalid_target(error.description())
    }
}

/// Reads the `resource` parameters (RFC 8707 §2, repeatable) of an
/// authorization request's query or a token request's form, given as its
/// name–value pairs (axum's `Form<Vec<(String, String)>>` or
/// `Query<Vec<(String, String)>>`, `url::form_urlencoded::parse`), and checks
/// each: an absolute URI (RFC 3986 §4.3) without a fragment. Returns them in
/// the order sent, without repeats; empty when the request has none (the
/// host then uses its default resource, or none, or refuses: RFC 8707 §2).
///
/// Check the result against what the host serves with
/// [`Resources::check`], and at the token endpoint against the grant with
/// [`narrow_resources`].
///
/// ```
/// use tower_dcr::host;
///
/// let form = [("grant_type", "authorization_code"), ("resource", "https://mcp.example/mcp")];
/// assert_eq!(host::requested_resources(form).unwrap(), ["https://mcp.example/mcp"]);
/// assert!(host::requested_resources([("resource", "/relative")]).is_err());
/// ```
pub fn requested_resources<I, K, V>(pairs: I) -> Result<Vec<String>, ResourceError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut out: Vec<String> = Vec::new();
    for (name, value) in pairs {
        if name.as_ref() != "resource" {
            continue;
        }
        let value = value.as_ref();
        check_resource(value)?;
        if !out.iter().any(|seen| seen == value) {
            out.push(value.to_owned());
        }
    }
    Ok(out)
}

/// One resource URI's own rules (RFC 8707 §2): absolute, no fragment.
fn check_resource(value: &str) -> Result<Url, ResourceError> {
    // An absolute URI (RFC 3986 §4.3) starts with its scheme; the URL parser
    // refuses a relative reference without a base. A parser that dropped an
    // empty fragment (`…#`) would hide it, so the raw value is checked too.
    let url = Url::parse(value).map_err(|_| ResourceError::NotAbsolute(value.to_owned()))?;
    if url.fragment().is_some() || value.contains('#') {
        return Err(ResourceError::Fragment(value.to_owned()));
    }
    Ok(url)
}

/// The effective resources of a token request (RFC 8707 §2.2): the
/// requested ones when each is among the grant's (the authorization code's
/// or refresh token's), all of the grant's when the request names none.
/// Asking for a resource outside the grant is
/// [`ResourceError::OutsideGrant`]; a grant bound to no resource gives tokens
/// bound to none, so any requested resource widens it.
///
/// ```
/// use tower_dcr::host::{narrow_resources, ResourceError};
///
/// let grant = ["https://a.example/".to_owned(), "https://b.example/".to_owned()];
/// assert_eq!(narrow_resources(&grant, &[]).unwrap(), grant);
/// assert_eq!(
///     narrow_resources(&grant, &["https://b.example/".to_owned()]).unwrap(),
///     ["https://b.example/"],
/// );
/// assert!(matches!(
///     narrow_resources(&grant, &["https://c.example/".to_owned()]),
///     Err(ResourceError::OutsideGrant(_)),
/// ));
/// ```
pub fn narrow_resources(
    granted: &[String],
    requested: &[String],
) -> Result<Vec<String>, ResourceError> {
    if requested.is_empty() {
        return Ok(granted.to_vec());
    }
    let mut out: Vec<String> = Vec::with_capacity(requested.len());
    for resource in requested {
        if !granted.contains(resource) {
            return Err(ResourceError::OutsideGrant(resource.clone()));
        }
        if !out.contains(resource) {
            out.push(resource.clone());
        }
    }
    Ok(out)
}

type Allow = dyn Fn(&str) -> bool + Send + Sync;

#[derive(Clone)]
enum Rule {
    Exact(String),
    Prefix(Url),
    Fn(Arc<Allow>),
}

/// The resources a host issues tokens for (RFC 8707 §2: which resources are
/// acceptable): exact URIs, URI prefixes, a closure, or several of them
/// joined with [`Resources::or`]. [`Resources::default`] allows none.
///
/// - [`Resources::exact`]: the URI, character for character;
/// - [`Resources::prefixes`]: every URI with the prefix's scheme, host and
///   port, no user information and no query, whose path is the prefix's
///   path or continues it after a `/` (so `https://api.example/tenant1`
///   allows `https://api.example/tenant1/mcp`, not
///   `https://api.example/tenant10`). Paths are compared after the URL
///   parser resolved `.` and `..` segments;
/// - [`Resources::from_fn`]: whatever the closure accepts (for example, per
///   client, a closure built from the client's record).
///
/// ```
/// use tower_dcr::host::{self, Resources};
///
/// let served = Resources::exact(["https://mcp.example/mcp"])
///     .unwrap()
///     .or(Resources::prefixes(["https://api.example/tenant1"]).unwrap());
/// let form = [("resource", "https://api.example/tenant1/v2")];
/// let requested = host::requested_resources(form).unwrap();
/// assert!(served.check(&requested).is_ok());
/// assert!(!served.allows("https://api.example/tenant10"));
/// ```
#[derive(Clone, Default)]
pub struct Resources {
    rules: Vec<Rule>,
}

impl Resources {
    /// Exactly these URIs, each an absolute URI without a fragment
    /// (RFC 8707 §2); the first that is not is the error.
    pub fn exact<I, S>(uris: I) -> Result<Self, ResourceError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut rules = Vec::new();
        for uri in uris {
            let uri = uri.into();
            check_resource(&uri)?;
            rules.push(Rule::Exact(uri));
        }
        Ok(Self { rules })
    }

    /// Every URI under these prefixes, at a path segment boundary (see the
    /// type's documentation). A prefix is an absolute URI with a host and
    /// without query or fragment; the first that is not is the error.
    pub fn prefixes<I, S>(prefixes: I) -> Result<Self, ResourceError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut rules = Vec::new();
        for prefix in prefixes {
            let prefix = prefix.into();
            let url = check_resource(&prefix)?;
            if url.cannot_be_a_base() || url.host().is_none() || url.query().is_some() {
                return Err(ResourceError::NotAbsolute(prefix));
            }
            rules.push(Rule::Prefix(url));
        }
        Ok(Self { rules })
    }

    /// Whatever `allow` accepts. It sees resources that already passed
    /// RFC 8707 §2's own checks (absolute, no fragment), as the client sent
    /// them.
    pub fn from_fn(allow: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self {
            rules: vec![Rule::Fn(Arc::new(allow))],
        }
    }

    /// What either allows.
    pub fn or(mut self, other: Resources) -> Self {
        self.rules.extend(other.rules);
        self
    }

    /// Whether `resource` is an absolute URI without a fragment that one of
    /// the rules allows.
    pub fn allows(&self, resource: &str) -> bool {
        let Ok(url) = check_resource(resource) else {
            return false;
        };
        self.rules.iter().any(|rule| match rule {
            Rule::Exact(uri) => uri == resource,
            Rule::Prefix(prefix) => under_prefix(prefix, &url),
            Rule::Fn(allow) => allow(resource),
        })
    }

    /// Checks every requested resource ([`requested_resources`]): the first
    /// that is not allowed is [`ResourceError::NotAllowed`] (or its own
    /// RFC 8707 §2 error).
    pub fn check(&self, requested: &[String]) -> Result<(), ResourceError> {
        for resource in requested {
            check_resource(resource)?;
            if !self.allows(resource) {
                return Err(ResourceError::NotAllowed(resource.clone()));
            }
        }
        Ok(())
    }
}

/// Whether `url` is `prefix` or under it, at a path segment boundary.
fn under_prefix(prefix: &Url, url: &Url) -> bool {
    if url.scheme() != prefix.scheme()
        || url.host() != prefix.host()
        || url.port_or_known_default() != prefix.port_or_known_default()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
    {
        return false;
    }
    let base = prefix.path().trim_end_matches('/');
    let path = url.path();
    match path.strip_prefix(base) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for rule in &self.rules {
            match rule {
                Rule::Exact(uri) => list.entry(&format_args!("exact {uri}")),
                Rule::Prefix(prefix) => list.entry(&format_args!("prefix {prefix}")),
                Rule::Fn(_) => list.entry(&format_args!("closure")),
            };
        }
        list.finish()
    }
}
