//! Scope values (RFC 6749 §3.3): the server's allow-list, and what a request
//! is granted.

use std::collections::HashSet;

/// The scope values this server knows: OpenID Connect's `openid`, `profile`,
/// `email` (Core §5.4) and `offline_access` (Core §11), and two for APIs.
/// Registration refuses others.
pub const SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "offline_access",
    "read",
    "write",
];

/// What a client that registers no `scope` gets: every value above.
pub const DEFAULT_SCOPE: &str = "openid profile email read write";

/// The longest `scope` parameter accepted, in bytes: the whole allow-list is
/// far shorter, and a bound keeps a hostile request cheap.
pub const MAX_SCOPE_BYTES: usize = 1024;

/// Whether `token` is a scope-token: `%x21 / %x23-5B / %x5D-7E`.
fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// The scope to grant: the requested one if it stays within `allowed`, or
/// `allowed` itself when nothing was requested. `allowed` is the client's
/// registered scope, or [`DEFAULT_SCOPE`] for a client that registered none
/// (so an old registration never gets more than the allow-list). Duplicates
/// are dropped in linear time. `Err` is the `error_description` of an
/// `invalid_scope`.
pub fn grant(requested: Option<&str>, registered: Option<&str>) -> Result<Option<String>, String> {
    let allowed: HashSet<&str> = registered
        .unwrap_or(DEFAULT_SCOPE)
        .split(' ')
        .filter(|s| SCOPES.contains(s))
        .collect();
    let Some(requested) = requested else {
        let mut granted: Vec<&str> = SCOPES
            .iter()
            .copied()
            .filter(|s| allowed.contains(s))
            .collect();
        granted.dedup();
        return Ok((!granted.is_empty()).then(|| granted.join(" ")));
    };
    if requested.len() > MAX_SCOPE_BYTES {
        return Err(format!("scope is longer than {MAX_SCOPE_BYTES} bytes"));
    }
    let mut seen = HashSet::new();
    let mut granted: Vec<&str> = Vec::new();
    for token in requested.split(' ') {
        if !is_scope_token(token) {
            return Err("scope is not a space-separated list of scope tokens".to_owned());
        }
        if !allowed.contains(token) {
            return Err(format!("scope {token} is not allowed for this client"));
        }
        if seen.insert(token) {
            granted.push(token);
        }
    }
    Ok(Some(granted.join(" ")))
}

/// Whether `scope` holds `value`.
pub fn has(scope: Option<&str>, value: &str) -> bool {
    scope.is_some_and(|s| s.split(' ').any(|v| v == value))
}
