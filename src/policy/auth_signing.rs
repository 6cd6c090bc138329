//! Which JWT client authentication algorithms a profile accepts at the token
//! endpoint: one answer for discovery, registration and the assertion check.

use super::Profile;
use crate::metadata::TokenEndpointAuthMethod;
use crate::metadata::jose::JoseMember;

/// The HMAC algorithm every `client_secret_jwt` implementation supports
/// (RFC 7518 §3.1 "Required"), accepted when the profile lists no HMAC one.
const DEFAULT_HMAC: &str = "HS256";

impl Profile {
    /// The `token_endpoint_auth_signing_alg` values the token endpoint accepts
    /// under this profile from a client that registered none: the listed
    /// ones, and `HS256` when the list (the default one is asymmetric only)
    /// has no HMAC algorithm. Which of them a client may use depends on its
    /// method: HMAC for `client_secret_jwt`, asymmetric for `private_key_jwt`.
    pub(crate) fn token_endpoint_auth_signing_algs(&self) -> Vec<&str> {
        let listed = self
            .algorithms
            .allowed(JoseMember::TokenEndpointAuthSigning);
        let mut out: Vec<&str> = listed.iter().map(String::as_str).collect();
        if !listed.iter().any(|alg| is_hmac(alg)) {
            out.push(DEFAULT_HMAC);
        }
        out
    }

    /// What discovery lists (RFC 8414 §2,
    /// `token_endpoint_auth_signing_alg_values_supported`): of
    /// [`token_endpoint_auth_signing_algs`](Self::token_endpoint_auth_signing_algs),
    /// those an enabled method can use.
    pub(crate) fn advertised_token_endpoint_auth_signing_algs(&self) -> Vec<&str> {
        let methods = &self.token_endpoint_auth_methods;
        let hmac = methods.contains(&TokenEndpointAuthMethod::ClientSecretJwt);
        let private_key = methods.contains(&TokenEndpointAuthMethod::PrivateKeyJwt);
        self.token_endpoint_auth_signing_algs()
            .into_iter()
            .filter(|alg| if is_hmac(alg) { hmac } else { private_key })
            .collect()
    }
}

/// Whether `alg` is one of the HMAC algorithms (RFC 7518 §3.2).
fn is_hmac(alg: &str) -> bool {
    alg.starts_with("HS")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8414 §2: HS256 for client_secret_jwt with the default (asymmetric)
    /// list; the listed HMAC algorithms otherwise; asymmetric ones only with
    /// private_key_jwt.
    #[test]
    fn rfc8414_2_accepted_algorithms_follow_the_enabled_methods() {
        let csj = Profile::default()
            .token_endpoint_auth_methods([TokenEndpointAuthMethod::ClientSecretJwt])
            .default_token_endpoint_auth_method(TokenEndpointAuthMethod::ClientSecretJwt);
        assert_eq!(csj.advertised_token_endpoint_auth_signing_algs(), ["HS256"]);
        let csj = csj.token_endpoint_auth_signing_alg_values(["HS512", "ES256"]);
        assert_eq!(csj.advertised_token_endpoint_auth_signing_algs(), ["HS512"]);
        assert_eq!(csj.token_endpoint_auth_signing_algs(), ["HS512", "ES256"]);
        let both = Profile::default().token_endpoint_auth_methods([
            TokenEndpointAuthMethod::ClientSecretJwt,
            TokenEndpointAuthMethod::PrivateKeyJwt,
        ]);
        assert_eq!(
            both.advertised_token_endpoint_auth_signing_algs(),
            ["RS256", "PS256", "ES256", "EdDSA", "HS256"]
        );
        assert!(
            Profile::default()
                .advertised_token_endpoint_auth_signing_algs()
                .is_empty()
        );
    }
}
