//! The profile enforced on parsed metadata: defaults, allow-lists, scope
//! narrowing, redirect URI rules, run in a fixed order with the rules of the
//! specifications (`metadata::validate`), stopping at the first failure.

use crate::error::RegistrationError;
use crate::metadata::jose::{JOSE_MEMBERS, JoseMember};
use crate::metadata::json::truncated;
use crate::metadata::redirect_uri::RedirectRules;
use crate::metadata::validate::{self, metadata_error, redirect_error};
use crate::metadata::{ApplicationType, ClientMetadata, GrantType, Limits, ResponseType};
use crate::metadata::{display, tls_client_auth};

use super::{Profile, UnknownScope};

/// The default `*_encrypted_response_enc` when only the `_alg` is registered
/// (OIDC DCR §2).
const DEFAULT_ENCRYPTION_ENC: &str = "A128CBC-HS256";

/// Checks limits, applies defaults, then checks every rule.
pub(crate) fn prepare(
    m: &mut ClientMetadata,
    profile: &Profile,
    limits: &Limits,
) -> Result<(), RegistrationError> {
    validate::check_limits(m, limits)?;
    display::check_display_strings(m)?;
    validate::check_sets(m)?;
    apply_defaults(m, profile);
    check_token_endpoint_auth_method(m, profile)?;
    validate::check_grant_types(m)?;
    check_grant_and_response_types(m, profile)?;
    check_redirect_uris(m, profile)?;
    check_post_logout_redirect_uris(m, profile)?;
    validate::check_web_urls(m)?;
    validate::check_https_urls(m)?;
    validate::check_jwks(m, limits)?;
    tls_client_auth::check_tls_client_auth(m)?;
    check_scope(m, profile)?;
    validate::check_contacts(m)?;
    check_algorithms(m, profile)?;
    validate::check_symmetric_algorithms(m)?;
    check_subject_type(m, profile)?;
    Ok(())
}

/// RFC 7591 §2 defaults: `token_endpoint_auth_method` (`client_secret_basic`,
/// or the profile's), `grant_types` `["authorization_code"]`, `response_types`
/// `["code"]`; OIDC DCR §2: `application_type` `web`, the profile's
/// `subject_type` when it is not `public` (so the OIDC Core §8.1 pairwise rules
/// apply to a client that omitted it), and `A128CBC-HS256` for an
/// `*_encrypted_response_enc` whose `_alg` is registered.
///
/// When only one of `grant_types` and `response_types` is sent, the other is
/// derived from it (RFC 7591 §2.1) rather than defaulted, so that a
/// `client_credentials` client is not given the `code` response type.
fn apply_defaults(m: &mut ClientMetadata, profile: &Profile) {
    m.token_endpoint_auth_method
        .get_or_insert(profile.default_token_endpoint_auth_method);
    match (&m.grant_types, &m.response_types) {
        (None, None) => {
            m.grant_types = Some(vec![GrantType::AuthorizationCode]);
            m.response_types = Some(vec![ResponseType::Code]);
        }
        (None, Some(response_types)) => {
            let mut grants = Vec::new();
            if response_types
                .iter()
                .any(ResponseType::needs_authorization_code)
            {
                grants.push(GrantType::AuthorizationCode);
            }
            if response_types.iter().any(ResponseType::needs_implicit) {
                grants.push(GrantType::Implicit);
            }
            m.grant_types = Some(grants);
        }
        (Some(grants), None) => {
            let code = grants.contains(&GrantType::AuthorizationCode);
            m.response_types = Some(if code {
                vec![ResponseType::Code]
            } else {
                Vec::new()
            });
        }
        (Some(_), Some(_)) => {}
    }
    m.application_type.get_or_insert(ApplicationType::Web);
    if m.subject_type.is_none() {
        m.subject_type = profile.implied_subject_type();
    }
    if m.scope.is_none() {
        m.scope.clone_from(&profile.default_scope);
    }
    let Some(j) = m.registered_algorithms_mut() else {
        return;
    };
    for spec in &JOSE_MEMBERS {
        if let Some((alg, _)) = spec.needs
            && j.get(alg).is_some()
            && j.get(spec.member).is_none()
        {
            *j.get_mut(spec.member) = Some(DEFAULT_ENCRYPTION_ENC.to_owned());
        }
    }
}

/// `token_endpoint_auth_method` must be one the server supports (RFC 7591 §2).
fn check_token_endpoint_auth_method(
    m: &ClientMetadata,
    profile: &Profile,
) -> Result<(), RegistrationError> {
    let method = m.auth_method();
    if profile.token_endpoint_auth_methods.contains(&method) {
        Ok(())
    } else {
        Err(metadata_error(
            "token_endpoint_auth_method",
            format_args!("\"{method}\" is not supported"),
        ))
    }
}

/// Every grant and response type must be allowed by the profile, then the two
/// lists must agree (RFC 7591 §2.1).
fn check_grant_and_response_types(
    m: &ClientMetadata,
    profile: &Profile,
) -> Result<(), RegistrationError> {
    let grants = m.grant_types.as_deref().unwrap_or_default();
    let responses = m.response_types.as_deref().unwrap_or_default();
    for r in responses {
        if !profile.response_types.contains(r) {
            return Err(metadata_error(
                "response_types",
                format_args!("\"{}\" is not supported", truncated(r.as_str())),
            ));
        }
    }
    for g in grants {
        if !profile.grant_types.contains(g) {
            return Err(metadata_error(
                "grant_types",
                format_args!("\"{}\" is not supported", truncated(g.as_str())),
            ));
        }
    }
    validate::check_grant_and_response_consistency(m)
}

fn redirect_rules(m: &ClientMetadata, profile: &Profile) -> RedirectRules {
    RedirectRules {
        application_type: m.app_type(),
        implicit: m.has_grant_type(&GrantType::Implicit),
        web_http_loopback: profile.web_http_loopback,
        native_https: profile.native_https,
    }
}

/// `redirect_uris` (RFC 7591 §2, RFC 6749 §3.1.2, OIDC DCR §2, RFC 8252 §7):
/// required for redirect-based grants; each absolute, without fragment, never a
/// scheme that runs code, and allowed for the application type.
fn check_redirect_uris(m: &ClientMetadata, profile: &Profile) -> Result<(), RegistrationError> {
    let uris = m.redirect_uris();
    let redirect_grant = m
        .grant_types
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|g| g.uses_redirect());
    if let Some(grant) = redirect_grant
        && uris.is_empty()
    {
        return Err(redirect_error(
            "redirect_uris",
            format_args!("required for the {grant} grant type"),
        ));
    }
    if uris.len() > profile.max_redirect_uris {
        return Err(redirect_error(
            "redirect_uris",
            format_args!("more than {} values", profile.max_redirect_uris),
        ));
    }
    let rules = redirect_rules(m, profile);
    for uri in uris {
        let url = rules.check(uri).map_err(|problem| {
            redirect_error(
                "redirect_uris",
                format_args!("\"{}\" {problem}", truncated(uri)),
            )
        })?;
        // `evil.example.` is `evil.example`: the lists compare without the dot.
        if let ("http" | "https", Some(host)) = (url.scheme(), url.host_str())
            && !profile.redirect_host_allowed(host.strip_suffix('.').unwrap_or(host))
        {
            return Err(redirect_error(
                "redirect_uris",
                format_args!("the host \"{}\" is not allowed", truncated(host)),
            ));
        }
    }
    Ok(())
}

/// `post_logout_redirect_uris` (OpenID Connect RP-Initiated Logout 1.0 §3.1):
/// the same rules as `redirect_uris`.
fn check_post_logout_redirect_uris(
    m: &ClientMetadata,
    profile: &Profile,
) -> Result<(), RegistrationError> {
    let rules = redirect_rules(m, profile);
    for uri in m.post_logout_redirect_uris.as_deref().unwrap_or_default() {
        rules.check(uri).map(drop).map_err(|problem| {
            metadata_error(
                "post_logout_redirect_uris",
                format_args!("\"{}\" {problem}", truncated(uri)),
            )
        })?;
    }
    Ok(())
}

/// `scope`: valid scope tokens (RFC 6749 §3.3), each allowed by the profile;
/// unknown values are refused or dropped as the operator chose.
fn check_scope(m: &mut ClientMetadata, profile: &Profile) -> Result<(), RegistrationError> {
    validate::check_scope_syntax(m)?;
    let Some(scope) = &m.scope else {
        return Ok(());
    };
    let Some(allowed) = &profile.scopes else {
        return Ok(());
    };
    let is_allowed = |t: &str| allowed.iter().any(|a| a == t);
    if let Some(unknown) = scope.split(' ').find(|t| !is_allowed(t)) {
        match profile.unknown_scope {
            UnknownScope::Reject => {
                return Err(metadata_error(
                    "scope",
                    format_args!("\"{}\" is not allowed", truncated(unknown)),
                ));
            }
            UnknownScope::Narrow => {
                let narrowed: Vec<&str> = scope.split(' ').filter(|t| is_allowed(t)).collect();
                m.scope = if narrowed.is_empty() {
                    profile.default_scope.clone()
                } else {
                    Some(narrowed.join(" "))
                };
            }
        }
    }
    Ok(())
}

fn check_alg(
    field: &str,
    value: Option<&String>,
    allowed: &[String],
) -> Result<(), RegistrationError> {
    match value {
        Some(v) if !allowed.iter().any(|a| a == v) => Err(metadata_error(
            field,
            format_args!("\"{}\" is not supported", truncated(v)),
        )),
        _ => Ok(()),
    }
}

/// The OIDC algorithm members (OIDC DCR §2): each from the supported set; an
/// `_enc` needs its `_alg`; `id_token_signed_response_alg` `none` only without
/// an ID Token from the authorization endpoint; `token_endpoint_auth_signing_alg`
/// never `none`, HMAC only with `client_secret_jwt`, asymmetric only with
/// `private_key_jwt`.
fn check_algorithms(m: &ClientMetadata, profile: &Profile) -> Result<(), RegistrationError> {
    let a = &profile.algorithms;
    let j = m.algorithms();
    validate::check_encryption_pairs(m)?;
    for spec in &JOSE_MEMBERS {
        if spec.member != JoseMember::TokenEndpointAuthSigning {
            check_alg(spec.name, j.get(spec.member), a.allowed(spec.member))?;
        }
    }
    validate::check_signing_rules(m)?;
    let member = JoseMember::TokenEndpointAuthSigning;
    if let Some(alg) = j.get(member)
        && !profile
            .token_endpoint_auth_signing_algs()
            .contains(&alg.as_str())
    {
        check_alg(
            JOSE_MEMBERS[member.index()].name,
            Some(alg),
            a.allowed(member),
        )?;
    }
    Ok(())
}

/// `subject_type` must be one the server supports (OIDC DCR §2).
fn check_subject_type(m: &ClientMetadata, profile: &Profile) -> Result<(), RegistrationError> {
    match m.subject_type {
        Some(t) if !profile.subject_types.contains(&t) => Err(metadata_error(
            "subject_type",
            format_args!("\"{}\" is not supported", t.as_str()),
        )),
        _ => Ok(()),
    }
}
