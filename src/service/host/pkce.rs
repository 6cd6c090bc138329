//! PKCE (RFC 7636) for the host's authorization and token endpoints, with the
//! `S256` method only: `plain` would hand the verifier to anyone who sees the
//! authorization request.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// Whether `value` is 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" /
/// "." / "_" / "~"` (RFC 7636 §4.1 for the verifier; an `S256` challenge is 43
/// characters of the same set).
fn well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Checks the PKCE parameters of an authorization request (RFC 7636 §4.3) and
/// returns the challenge to keep. `Err` carries the `error_description` of an
/// `invalid_request`.
pub fn check_challenge(
    code_challenge: Option<&str>,
    method: Option<&str>,
    required: bool,
) -> Result<Option<String>, &'static str> {
    match (code_challenge, method) {
        (None, None) if required => Err("code_challenge required (PKCE with S256)"),
        (None, None) => Ok(None),
        (None, Some(_)) => Err("code_challenge_method without code_challenge"),
        // Without a method the default is `plain` (RFC 7636 §4.3).
        (Some(_), None | Some("plain")) => {
            Err("transform algorithm not supported: use code_challenge_method=S256")
        }
        (Some(c), Some("S256")) if c.len() == 43 && well_formed(c) => Ok(Some(c.to_owned())),
        (Some(_), Some("S256")) => Err("code_challenge must be 43 base64url characters (S256)"),
        (Some(_), Some(_)) => {
            Err("transform algorithm not supported: use code_challenge_method=S256")
        }
    }
}

/// Verifies a `code_verifier` against an `S256` challenge (RFC 7636 §4.6), in
/// constant time.
pub fn verify_s256(code_verifier: &str, code_challenge: &str) -> bool {
    if !well_formed(code_verifier) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
    computed.as_bytes().ct_eq(code_challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    #[test]
    fn rfc7636_appendix_b_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify_s256(verifier, challenge));
        assert!(!verify_s256(&verifier.replace('d', "e"), challenge));
        assert!(!verify_s256("short", challenge));
    }

    #[test]
    fn only_s256_challenges() {
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(
            check_challenge(Some(c), Some("S256"), true),
            Ok(Some(c.to_owned()))
        );
        assert!(check_challenge(Some(c), Some("plain"), false).is_err());
        assert!(check_challenge(Some(c), None, false).is_err());
        assert!(check_challenge(None, None, true).is_err());
        assert_eq!(check_challenge(None, None, false), Ok(None));
        assert!(check_challenge(Some("tooshort"), Some("S256"), false).is_err());
    }
}
