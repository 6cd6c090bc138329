//! Scope values (RFC 6749 §3.3).

/// Whether `token` is a scope-token: `%x21 / %x23-5B / %x5D-7E`.
fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// The scope to grant: the requested one if it stays within `allowed` (`None`:
/// anything), or `allowed` itself when nothing was requested. `Err` is the
/// `error_description` of an `invalid_scope`.
pub fn grant(requested: Option<&str>, allowed: Option<&str>) -> Result<Option<String>, String> {
    let Some(requested) = requested else {
        return Ok(allowed.map(str::to_owned));
    };
    let mut granted: Vec<&str> = Vec::new();
    for token in requested.split(' ') {
        if !is_scope_token(token) {
            return Err("scope is not a space-separated list of scope tokens".to_owned());
        }
        if allowed.is_some_and(|allowed| !allowed.split(' ').any(|a| a == token)) {
            return Err(format!("scope {token} is not allowed for this client"));
        }
        if !granted.contains(&token) {
            granted.push(token);
        }
    }
    Ok(Some(granted.join(" ")))
}
