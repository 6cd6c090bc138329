//! Binding a consent form to the browser that asked for it: a random token
//! in a `SameSite=Strict`, `HttpOnly` cookie (`__Host-`, `Secure` with an
//! https issuer), repeated in a hidden field of
//! the form, and kept (as a digest) with the pending request. An approval
//! is accepted only from a request carrying the cookie, the field, both
//! equal, and matching the request: a form posted from another site (no
//! cookie with `SameSite=Strict`) or from another browser that learnt the
//! form's nonce is refused, and the pending request is left for its own
//! browser.

use http::{HeaderMap, HeaderValue, header};
use tower_dcr::{Secret, SecretDigest};

/// The cookie's name with an http issuer (development).
pub const COOKIE: &str = "tower_dcr_consent";
/// The cookie's name with an https issuer: the `__Host-` prefix makes
/// browsers refuse it unless this host set it `Secure` with `Path=/` (RFC
/// 6265bis §4.1.3.2), so a sibling subdomain cannot plant a token it knows.
pub const HOST_COOKIE: &str = "__Host-tower_dcr_consent";

/// Whether the cookie is the `Secure`, `__Host-` one (an https issuer).
#[derive(Clone, Copy, Debug)]
pub struct Secure(pub bool);

impl Secure {
    fn name(self) -> &'static str {
        if self.0 { HOST_COOKIE } else { COOKIE }
    }
}

/// The browser's token: the one its cookie holds when it is well-formed, a
/// new one otherwise (several consent pages open at once share it).
pub fn token(headers: &HeaderMap, secure: Secure) -> Result<Secret, tower_dcr::RandomError> {
    match cookie(headers, secure) {
        Some(value) => Ok(Secret::new(value)),
        None => Secret::generate(),
    }
}

/// The token the request's cookie holds, if well-formed (what
/// [`Secret::generate`] makes: 43 base64url characters).
pub fn cookie(headers: &HeaderMap, secure: Secure) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == secure.name())
        .map(|(_, value)| value)
        .filter(|value| {
            value.len() == 43
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The `Set-Cookie` header for `token`: sent back to `/authorize` only (to
/// this host only, with `__Host-`), by this site only (`SameSite=Strict`),
/// out of reach of scripts, for as long as a consent page can be answered.
pub fn set_cookie(token: &Secret, secure: Secure) -> HeaderValue {
    let max_age = crate::grants::CONSENT_LIFETIME.as_secs();
    let scope = if secure.0 {
        "Path=/; Secure"
    } else {
        "Path=/authorize"
    };
    let value = format!(
        "{}={}; {scope}; Max-Age={max_age}; HttpOnly; SameSite=Strict",
        secure.name(),
        token.secret()
    );
    HeaderValue::from_str(&value).expect("a token is header-safe")
}

/// The digest of the consent cookie of the browser posting a consent form,
/// when the form repeats it in `field`: what a kept request's binding is
/// compared with.
pub fn presented(headers: &HeaderMap, secure: Secure, field: Option<&str>) -> Option<SecretDigest> {
    match (cookie(headers, secure), field) {
        (Some(cookie), Some(field)) if Secret::new(cookie).ct_eq(field) => {
            Some(SecretDigest::of(cookie))
        }
        _ => None,
    }
}

/// Whether an approval comes from the browser that holds `bound`: the
/// cookie and the form field are present, equal, and `bound`'s.
#[cfg(test)]
pub fn same_browser(
    headers: &HeaderMap,
    secure: Secure,
    field: Option<&str>,
    bound: &SecretDigest,
) -> bool {
    presented(headers, secure, field).is_some_and(|digest| digest.as_bytes() == bound.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_cookie_must_be_a_well_formed_token() {
        let token = Secret::generate().unwrap();
        let http = Secure(false);
        let headers = with_cookie(&format!("a=b; {COOKIE}={}", token.secret()));
        assert_eq!(cookie(&headers, http), Some(token.secret()));
        assert_eq!(cookie(&headers, Secure(true)), None, "__Host- only");
        let host = with_cookie(&format!("{HOST_COOKIE}={}", token.secret()));
        assert_eq!(cookie(&host, Secure(true)), Some(token.secret()));
        assert_eq!(cookie(&with_cookie(&format!("{COOKIE}=short")), http), None);
        assert_eq!(cookie(&HeaderMap::new(), http), None);
    }

    #[test]
    fn an_approval_needs_the_cookie_the_field_and_the_binding() {
        let token = Secret::generate().unwrap();
        let other = Secret::generate().unwrap();
        let bound = token.digest();
        let headers = with_cookie(&format!("{COOKIE}={}", token.secret()));
        let http = Secure(false);
        assert!(same_browser(&headers, http, Some(token.secret()), &bound));
        assert!(!same_browser(&headers, http, None, &bound));
        assert!(!same_browser(&headers, http, Some(other.secret()), &bound));
        let no_cookie = HeaderMap::new();
        assert!(!same_browser(
            &no_cookie,
            http,
            Some(token.secret()),
            &bound
        ));
        let foreign = with_cookie(&format!("{COOKIE}={}", other.secret()));
        assert!(!same_browser(&foreign, http, Some(other.secret()), &bound));
    }
}
