//! The registration part of an authorization server's metadata document
//! (RFC 8414 §2, OpenID Connect Discovery 1.0 §3).

use serde_json::{Map, Value};

use crate::config::ServerKind;
use crate::metadata::WellKnown;
use crate::metadata::jose::{JOSE_MEMBERS, JoseMember};
use crate::policy::Profile;
use crate::service::Registration;

/// The values of one list over every profile, without repeats, in first-seen
/// order.
fn union<'p, T, S>(
    profiles: &[&'p Profile],
    list: impl Fn(&'p Profile) -> &'p [T],
    name: impl Fn(&'p T) -> S,
) -> Value
where
    T: 'p,
    S: Into<String>,
{
    let mut out: Vec<String> = Vec::new();
    for profile in profiles {
        for value in list(profile) {
            let value = name(value).into();
            if !out.contains(&value) {
                out.push(value);
            }
        }
    }
    Value::from(out)
}

impl Registration {
    /// Where the host serves its metadata documents: the RFC 8414 §3.1 URL
    /// (the well-known segment inserted before the issuer's path) and the
    /// OpenID Connect Discovery 1.0 §4 URL (appended to the issuer), with the
    /// paths to mount them on. For an issuer with a path, those are not the
    /// same path prefix: mount each where it says.
    ///
    /// ```
    /// use tower_dcr::Registration;
    ///
    /// let dcr = Registration::builder("https://as.example/tenant1").open().build().unwrap();
    /// let well_known = dcr.well_known();
    /// assert_eq!(
    ///     well_known.oauth_authorization_server_path(),
    ///     "/.well-known/oauth-authorization-server/tenant1",
    /// );
    /// assert_eq!(
    ///     well_known.openid_configuration(),
    ///     "https://as.example/tenant1/.well-known/openid-configuration",
    /// );
    /// ```
    pub fn well_known(&self) -> WellKnown {
        WellKnown::for_issuer(self.issuer()).expect(
            "the builder accepts only an absolute issuer URL with a host, no query, no fragment",
        )
    }

    /// The members this service contributes to the host's RFC 8414 / OpenID
    /// Connect discovery document: `registration_endpoint` and the
    /// `*_supported` lists that registration really enforces (over every
    /// profile). Merge them into the host's own document. With URL client ids
    /// enabled, also `client_id_metadata_document_supported: true`; when a
    /// profile requires PKCE (URL clients do by default),
    /// `code_challenge_methods_supported: ["S256"]`, the method the host
    /// helpers verify.
    ///
    /// Which members depends on what the host said it is
    /// ([`RegistrationBuilder::server_kind`](crate::RegistrationBuilder::server_kind)):
    /// a plain OAuth authorization server gets no OpenID Connect member
    /// (`subject_types_supported`, the `id_token_*`, `userinfo_*` and
    /// `request_object_*` lists); an OpenID Provider (the default) gets them
    /// too. Lists a profile leaves empty (encryption algorithms by default) and
    /// the JWT client authentication algorithms without a JWT auth method are
    /// left out.
    ///
    /// ```
    /// use tower_dcr::Registration;
    ///
    /// let dcr = Registration::builder("https://auth.example.com").open().build().unwrap();
    /// let mut document = serde_json::Map::new();
    /// document.insert("issuer".into(), "https://auth.example.com".into());
    /// document.extend(dcr.discovery_metadata());
    /// assert_eq!(document["registration_endpoint"], "https://auth.example.com/register");
    /// ```
    pub fn discovery_metadata(&self) -> Map<String, Value> {
        let config = self.config();
        let profiles: Vec<&Profile> = config.all_profiles().collect();
        let p = profiles.as_slice();
        let mut m = Map::new();
        m.insert(
            "registration_endpoint".into(),
            config.registration_endpoint.clone().into(),
        );
        m.insert(
            "token_endpoint_auth_methods_supported".into(),
            union(p, |p| &p.token_endpoint_auth_methods, |m| m.as_str()),
        );
        m.insert(
            "grant_types_supported".into(),
            union(p, |p| &p.grant_types, |g| g.as_str()),
        );
        m.insert(
            "response_types_supported".into(),
            union(p, |p| &p.response_types, |r| r.as_str()),
        );
        if profiles.iter().all(|p| p.scopes.is_some()) {
            m.insert(
                "scopes_supported".into(),
                union(
                    p,
                    |p| p.scopes.as_deref().unwrap_or_default(),
                    String::as_str,
                ),
            );
        }
        let openid = config.server_kind == ServerKind::OpenIdProvider;
        if openid {
            m.insert(
                "subject_types_supported".into(),
                union(p, |p| &p.subject_types, |s| s.as_str()),
            );
        }
        // Every JOSE list but the client authentication one is an OpenID
        // Connect member (ID token, userinfo, request object).
        for spec in JOSE_MEMBERS.iter().filter(|_| openid) {
            if spec.member == JoseMember::TokenEndpointAuthSigning {
                continue;
            }
            let values = union(p, |p| p.algorithms.allowed(spec.member), String::as_str);
            if values.as_array().is_some_and(|a| !a.is_empty()) {
                m.insert(spec.supported.into(), values);
            }
        }
        #[cfg(feature = "software-statement")]
        if let Some(verifier) = &config.software_statements {
            m.insert(
                "software_statement_signing_alg_values_supported".into(),
                Value::from(verifier.signing_alg_values()),
            );
        }
        // RFC 8414 §2: clients of a profile that requires PKCE (URL clients by
        // default) must learn the method; the host helpers verify S256 only
        // (RFC 7636 §4.2, `plain` is refused).
        if p.iter().any(|profile| profile.pkce_required()) {
            m.insert(
                "code_challenge_methods_supported".into(),
                Value::from(vec!["S256"]),
            );
        }
        // Draft-ietf-oauth-client-id-metadata-document §6: only when enabled.
        #[cfg(feature = "client-id-metadata-document")]
        if config.url_clients.is_some() {
            m.insert("client_id_metadata_document_supported".into(), true.into());
        }
        // What the token endpoint accepts (the assertion check reads the same
        // list): HMAC with client_secret_jwt (whose secret is kept), HS256 when
        // the profile lists no HMAC algorithm; asymmetric algorithms with
        // private_key_jwt.
        let member = JoseMember::TokenEndpointAuthSigning;
        let mut signing: Vec<&str> = Vec::new();
        for profile in p {
            for alg in profile.advertised_token_endpoint_auth_signing_algs() {
                if !signing.contains(&alg) {
                    signing.push(alg);
                }
            }
        }
        if !signing.is_empty() {
            m.insert(
                JOSE_MEMBERS[member.index()].supported.into(),
                Value::from(signing),
            );
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use crate::service::Registration;

    /// RFC 8414 §3.1 and OpenID Connect Discovery 1.0 §4: a host whose issuer
    /// has a path serves its two documents under different path prefixes.
    #[test]
    fn rfc8414_3_1_a_path_issuer_mounts_its_documents_on_two_paths() {
        let dcr = Registration::builder("https://as.example/tenant1/")
            .open()
            .build()
            .unwrap();
        let well_known = dcr.well_known();
        assert_eq!(
            well_known.oauth_authorization_server_path(),
            "/.well-known/oauth-authorization-server/tenant1"
        );
        assert_eq!(
            well_known.openid_configuration_path(),
            "/tenant1/.well-known/openid-configuration"
        );
        assert_eq!(
            well_known.oauth_authorization_server(),
            "https://as.example/.well-known/oauth-authorization-server/tenant1"
        );
    }
}
