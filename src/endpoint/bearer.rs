//! Bearer tokens in the `Authorization` header (RFC 6750 §2.1).

use http::{HeaderMap, header};

use crate::credentials::is_b64token;
use crate::error::Rejection;

/// The bearer token of a request: `Ok(None)` when there is no `Authorization`
/// header or it uses another scheme; an error when the header is malformed
/// (repeated, not visible ASCII, or not a `b64token`). The scheme name is
/// case-insensitive (RFC 7235 §2.1).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, Rejection> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::MalformedAuthorization);
    }
    let value = value
        .to_str()
        .map_err(|_| Rejection::MalformedAuthorization)?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim_start_matches(' ');
    if is_b64token(token) {
        Ok(Some(token))
    } else {
        Err(Rejection::MalformedAuthorization)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for v in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR  abc"] {
            assert_eq!(bearer_token(&with(v)).unwrap(), Some("abc"), "{v}");
        }
    }

    #[test]
    fn other_schemes_and_absence_mean_no_token() {
        assert_eq!(bearer_token(&HeaderMap::new()).unwrap(), None);
        assert_eq!(bearer_token(&with("Basic YTpi")).unwrap(), None);
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        for v in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a,b",
            "Bearer ===",
        ] {
            assert!(bearer_token(&with(v)).is_err(), "{v}");
        }
        let mut h = with("Bearer a");
        h.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert!(bearer_token(&h).is_err());
    }
}
