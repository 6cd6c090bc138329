//! The rules of RFC 7591, OpenID Connect DCR 1.0 and RFC 8252 applied to parsed
//! metadata, with the defaults of RFC 7591 §2.
//!
//! These rules need no profile; `policy::enforce` runs them, interleaved with
//! the profile's, in a fixed order and stops at the first failure, so a client
//! always gets one precise error naming one field.

use email_address::EmailAddress;
use serde_json::Value;

use super::Limits;
use super::jose::{JOSE_MEMBERS, JoseMember};
use super::json::truncated;
use super::redirect_uri::parse_absolute;
use super::{
    ClientMetadata, GrantType, Localized, ResponseType, TokenEndpointAuthMethod, field_error,
};
use crate::error::RegistrationError;

/// JWK members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2,
/// §6.4; RFC 8037 §2).
const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The longest language tag accepted in a member name (`client_name#tag`).
const MAX_LANGUAGE_TAG_LENGTH: usize = 64;

pub(crate) fn metadata_error(field: &str, problem: impl std::fmt::Display) -> RegistrationError {
    RegistrationError::invalid_client_metadata(format!("{field}: {problem}"))
}

pub(crate) fn redirect_error(field: &str, problem: impl std::fmt::Display) -> RegistrationError {
    RegistrationError::invalid_redirect_uri(format!("{field}: {problem}"))
}

/// Length and count limits on every string and array, so that a request cannot
/// make the server store more than the operator allows.
pub(crate) fn check_limits(m: &ClientMetadata, limits: &Limits) -> Result<(), RegistrationError> {
    let check_str = |field: &str, value: &str| {
        if value.len() > limits.max_string_length {
            Err(field_error(
                field,
                format_args!("longer than {} bytes", limits.max_string_length),
            ))
        } else {
            Ok(())
        }
    };
    let check_array = |field: &str, len: usize| {
        if len > limits.max_array_items {
            Err(field_error(
                field,
                format_args!("more than {} values", limits.max_array_items),
            ))
        } else {
            Ok(())
        }
    };
    let arrays: [(&str, Option<&Vec<String>>); 5] = [
        ("redirect_uris", m.redirect_uris.as_ref()),
        ("contacts", m.contacts.as_ref()),
        ("default_acr_values", m.default_acr_values.as_ref()),
        ("request_uris", m.request_uris.as_ref()),
        (
            "post_logout_redirect_uris",
            m.post_logout_redirect_uris.as_ref(),
        ),
    ];
    for (field, values) in arrays {
        if let Some(values) = values {
            check_array(field, values.len())?;
            for v in values {
                check_str(field, v)?;
            }
        }
    }
    if let Some(g) = &m.grant_types {
        check_array("grant_types", g.len())?;
        for v in g {
            check_str("grant_types", v.as_str())?;
        }
    }
    if let Some(r) = &m.response_types {
        check_array("response_types", r.len())?;
        for v in r {
            check_str("response_types", v.as_str())?;
        }
    }
    for (field, localized) in m.localized_fields() {
        if localized.translations.len() > limits.max_language_variants {
            return Err(metadata_error(
                field,
                format_args!(
                    "more than {} language variants",
                    limits.max_language_variants
                ),
            ));
        }
        for (_, v) in localized.iter() {
            check_str(field, v)?;
        }
        // RFC 5646 §4.4.1: 35 characters hold any tag in practice; 64 leave
        // room for extensions without making the member name a storage vector.
        if let Some((tag, _)) = localized
            .translations
            .iter()
            .find(|(tag, _)| tag.as_str().len() > MAX_LANGUAGE_TAG_LENGTH)
        {
            return Err(metadata_error(
                &format!("{field}#{}", truncated(tag.as_str())),
                format_args!(
                    "language tags longer than {MAX_LANGUAGE_TAG_LENGTH} bytes are not accepted (RFC 5646 §4.4.1)"
                ),
            ));
        }
    }
    if let Some(binding) = &m.tls_client_auth {
        for (field, value) in binding.members() {
            if let Some(v) = value {
                check_str(field, v)?;
            }
        }
    }
    let singles: [(&str, Option<&String>); 6] = [
        ("scope", m.scope.as_ref()),
        ("jwks_uri", m.jwks_uri.as_ref()),
        ("software_id", m.software_id.as_ref()),
        ("software_version", m.software_version.as_ref()),
        ("sector_identifier_uri", m.sector_identifier_uri.as_ref()),
        ("initiate_login_uri", m.initiate_login_uri.as_ref()),
    ];
    for (field, value) in singles.into_iter().chain(m.algorithm_members()) {
        if let Some(v) = value {
            check_str(field, v)?;
        }
    }
    if m.extensions.len() > limits.max_array_items {
        return Err(RegistrationError::invalid_client_metadata(format!(
            "more than {} extension members",
            limits.max_array_items
        )));
    }
    Ok(())
}

fn inconsistent(response_type: &ResponseType, grant: &str) -> RegistrationError {
    RegistrationError::invalid_client_metadata(format!(
        "response_types: \"{}\" needs the {grant} grant type in grant_types (RFC 7591 §2.1)",
        truncated(response_type.as_str())
    ))
}

fn check_url(field: &str, value: &str, https_only: bool) -> Result<(), RegistrationError> {
    let url = parse_absolute(value).map_err(|problem| metadata_error(field, problem))?;
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => !https_only,
        _ => false,
    };
    if !scheme_ok || url.host().is_none() {
        return Err(metadata_error(
            field,
            if https_only {
                "must be an https URL"
            } else {
                "must be an http or https URL"
            },
        ));
    }
    Ok(())
}

/// `client_uri`, `logo_uri`, `tos_uri`, `policy_uri` (and their language
/// variants) are web pages: http or https URLs (RFC 7591 §2, §2.2); `jwks_uri`
/// holds keys and must be https.
pub(crate) fn check_web_urls(m: &ClientMetadata) -> Result<(), RegistrationError> {
    for (field, localized) in m.localized_fields() {
        if field == "client_name" {
            continue;
        }
        check_localized_urls(field, localized)?;
    }
    // Keys fetched over plain http could be replaced on the way: https only.
    if let Some(uri) = &m.jwks_uri {
        check_url("jwks_uri", uri, true)?;
    }
    Ok(())
}

fn check_localized_urls(field: &str, localized: &Localized) -> Result<(), RegistrationError> {
    if let Some(v) = &localized.value {
        check_url(field, v, false)?;
    }
    for (tag, v) in &localized.translations {
        check_url(&format!("{field}#{tag}"), v, false)?;
    }
    Ok(())
}

/// `initiate_login_uri`, `request_uris` and `sector_identifier_uri` must use
/// https (OIDC DCR §2).
pub(crate) fn check_https_urls(m: &ClientMetadata) -> Result<(), RegistrationError> {
    if let Some(uri) = &m.initiate_login_uri {
        check_url("initiate_login_uri", uri, true)?;
    }
    if let Some(uri) = &m.sector_identifier_uri {
        check_url("sector_identifier_uri", uri, true)?;
    }
    for uri in m.request_uris.as_deref().unwrap_or_default() {
        check_url("request_uris", uri, true)?;
    }
    Ok(())
}

/// `jwks` and `jwks_uri` are mutually exclusive (RFC 7591 §2); `jwks` is a JWK
/// Set (`{"keys": [...]}`) of public keys only: no private members and no
/// symmetric (`oct`) keys. `private_key_jwt` and `self_signed_tls_client_auth`
/// need one of them (OIDC Core §9, RFC 8705 §2.2).
pub(crate) fn check_jwks(m: &ClientMetadata, limits: &Limits) -> Result<(), RegistrationError> {
    if m.jwks.is_some() && m.jwks_uri.is_some() {
        return Err(RegistrationError::invalid_client_metadata(
            "jwks and jwks_uri must not both be present (RFC 7591 §2)",
        ));
    }
    if let Some(jwks) = &m.jwks {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| metadata_error("jwks", "must be a JWK Set with a \"keys\" array"))?;
        if keys.is_empty() {
            return Err(metadata_error("jwks", "the \"keys\" array is empty"));
        }
        if keys.len() > limits.max_array_items {
            return Err(metadata_error(
                "jwks",
                format_args!("more than {} keys", limits.max_array_items),
            ));
        }
        for key in keys {
            let key = key
                .as_object()
                .ok_or_else(|| metadata_error("jwks", "every key must be a JSON object"))?;
            match key.get("kty").and_then(Value::as_str) {
                None => return Err(metadata_error("jwks", "every key needs a \"kty\"")),
                Some("oct") => {
                    return Err(metadata_error(
                        "jwks",
                        "symmetric (\"oct\") keys must not be registered",
                    ));
                }
                Some(_) => {}
            }
            if let Some(member) = PRIVATE_JWK_MEMBERS.iter().find(|p| key.contains_key(**p)) {
                return Err(metadata_error(
                    "jwks",
                    format_args!(
                        "contains the private key member \"{member}\"; register public keys only"
                    ),
                ));
            }
        }
    }
    let method = m.auth_method();
    if matches!(
        method,
        TokenEndpointAuthMethod::PrivateKeyJwt | TokenEndpointAuthMethod::SelfSignedTlsClientAuth
    ) && m.jwks.is_none()
        && m.jwks_uri.is_none()
    {
        return Err(metadata_error(
            "token_endpoint_auth_method",
            format_args!("{method} needs jwks or jwks_uri"),
        ));
    }
    Ok(())
}

/// `contacts`: RFC 7591 §2 says "ways to contact people responsible for this
/// client, typically email addresses", OpenID Connect DCR §2 "e-mail
/// addresses". E-mail addresses are always accepted; a client that is not an
/// OpenID Connect client ([`ClientMetadata::is_openid_client`]) may also list
/// `https:`, `mailto:` and `tel:` URIs. Anything else is refused.
pub(crate) fn check_contacts(m: &ClientMetadata) -> Result<(), RegistrationError> {
    let options = email_address::Options::default().without_display_text();
    let uris_allowed = !m.is_openid_client();
    for contact in m.contacts.as_deref().unwrap_or_default() {
        if EmailAddress::parse_with_options(contact, options).is_ok() {
            continue;
        }
        let uri = uris_allowed
            && parse_absolute(contact).is_ok_and(|url| match url.scheme() {
                "https" => url.host().is_some(),
                "mailto" | "tel" => true,
                _ => false,
            });
        if !uri {
            return Err(metadata_error(
                "contacts",
                format_args!(
                    "\"{}\" is not an e-mail address{}",
                    truncated(contact),
                    if uris_allowed {
                        " nor an https, mailto or tel URI"
                    } else {
                        " (OpenID Connect DCR §2)"
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// `redirect_uris`, `grant_types` and `response_types` (and the other URI
/// lists) are sets (RFC 7591 §2): a value listed twice is refused, not stored
/// and echoed twice.
pub(crate) fn check_sets(m: &ClientMetadata) -> Result<(), RegistrationError> {
    fn repeated<T: PartialEq>(values: &[T]) -> Option<&T> {
        values
            .iter()
            .enumerate()
            .find(|(i, v)| values[..*i].contains(v))
            .map(|(_, v)| v)
    }
    let lists: [(&str, Option<&[String]>); 3] = [
        ("redirect_uris", m.redirect_uris.as_deref()),
        (
            "post_logout_redirect_uris",
            m.post_logout_redirect_uris.as_deref(),
        ),
        ("request_uris", m.request_uris.as_deref()),
    ];
    let twice = |field: &str, value: &str| {
        field_error(
            field,
            format_args!("\"{}\" is listed twice", truncated(value)),
        )
    };
    for (field, values) in lists {
        if let Some(v) = values.and_then(repeated) {
            return Err(twice(field, v));
        }
    }
    if let Some(g) = m.grant_types.as_deref().and_then(repeated) {
        return Err(twice("grant_types", g.as_str()));
    }
    if let Some(r) = m.response_types.as_deref().and_then(repeated) {
        return Err(twice("response_types", r.as_str()));
    }
    Ok(())
}

/// After the defaults: a client registers at least one grant type (an empty
/// `grant_types`, sent or derived from an empty `response_types`, would
/// register a client that can use none, RFC 7591 §2.1), and RFC 6749 §4.4:
/// "The client credentials grant type MUST only be used by confidential
/// clients"; a client registered with `none` is public.
pub(crate) fn check_grant_types(m: &ClientMetadata) -> Result<(), RegistrationError> {
    if m.grant_types.as_ref().is_none_or(Vec::is_empty) {
        return Err(metadata_error(
            "grant_types",
            "must list at least one grant type (RFC 7591 §2.1)",
        ));
    }
    if m.auth_method() == TokenEndpointAuthMethod::None
        && m.has_grant_type(&GrantType::ClientCredentials)
    {
        return Err(metadata_error(
            "grant_types",
            "client_credentials is only for confidential clients, not for token_endpoint_auth_method \"none\" (RFC 6749 §4.4)",
        ));
    }
    Ok(())
}

/// Symmetric JWE key management, whose key is derived from the client secret
/// (OIDC Core §10.2): `dir`, `A128KW`…`A256KW`, `A128GCMKW`…`A256GCMKW`.
fn symmetric_key_management(alg: &str) -> bool {
    alg == "dir" || (alg.starts_with('A') && alg.ends_with("KW"))
}

/// OIDC Core §10.1 and §10.2: HMAC signatures and symmetric encryption use the
/// client secret as key material, so the server must hold the secret. It keeps
/// it only for `client_secret_jwt` (other secrets are stored as SHA-256
/// digests, and `none` has none): for every other method these algorithms are
/// refused, since the server could never sign, verify or encrypt with them.
pub(crate) fn check_symmetric_algorithms(m: &ClientMetadata) -> Result<(), RegistrationError> {
    if m.auth_method() == TokenEndpointAuthMethod::ClientSecretJwt {
        return Ok(());
    }
    let a = m.algorithms();
    let registered = |keep: fn(JoseMember) -> bool| {
        JOSE_MEMBERS
            .iter()
            .filter(move |spec| keep(spec.member))
            .filter_map(move |spec| Some((spec.name, a.get(spec.member)?.as_str())))
    };
    for (field, alg) in registered(JoseMember::signs_a_response) {
        if alg.starts_with("HS") {
            return Err(metadata_error(
                field,
                format_args!(
                    "\"{}\" needs the client secret as its key, which this server keeps only for client_secret_jwt (OIDC Core §10.1)",
                    truncated(alg)
                ),
            ));
        }
    }
    for (field, alg) in registered(JoseMember::manages_an_encryption_key) {
        if symmetric_key_management(alg) {
            return Err(metadata_error(
                field,
                format_args!(
                    "\"{}\" derives its key from the client secret, which this server keeps only for client_secret_jwt (OIDC Core §10.2)",
                    truncated(alg)
                ),
            ));
        }
    }
    Ok(())
}

/// The grant and response types must agree (RFC 7591 §2.1): `code` needs
/// `authorization_code` and the reverse; `token` or `id_token` need `implicit`
/// and the reverse.
pub(crate) fn check_grant_and_response_consistency(
    m: &ClientMetadata,
) -> Result<(), RegistrationError> {
    let grants = m.grant_types.as_deref().unwrap_or_default();
    let responses = m.response_types.as_deref().unwrap_or_default();
    let has = |g: &GrantType| grants.contains(g);
    for r in responses {
        if r.needs_authorization_code() && !has(&GrantType::AuthorizationCode) {
            return Err(inconsistent(r, "authorization_code"));
        }
        if r.needs_implicit() && !has(&GrantType::Implicit) {
            return Err(inconsistent(r, "implicit"));
        }
    }
    if has(&GrantType::AuthorizationCode)
        && !responses.iter().any(ResponseType::needs_authorization_code)
    {
        return Err(RegistrationError::invalid_client_metadata(
            "grant_types: authorization_code needs a response_types value containing \"code\" (RFC 7591 §2.1)",
        ));
    }
    if has(&GrantType::Implicit) && !responses.iter().any(ResponseType::needs_implicit) {
        return Err(RegistrationError::invalid_client_metadata(
            "grant_types: implicit needs a response_types value containing \"token\" or \"id_token\" (RFC 7591 §2.1)",
        ));
    }
    Ok(())
}

/// `scope` is a list of space-separated scope tokens (RFC 6749 §3.3:
/// `1*( %x21 / %x23-5B / %x5D-7E )`).
pub(crate) fn check_scope_syntax(m: &ClientMetadata) -> Result<(), RegistrationError> {
    let Some(scope) = &m.scope else {
        return Ok(());
    };
    for token in scope.split(' ') {
        let valid = !token.is_empty()
            && token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !valid {
            return Err(metadata_error(
                "scope",
                "must be scope tokens separated by single spaces (RFC 6749 §3.3)",
            ));
        }
    }
    Ok(())
}

/// The OIDC algorithm rules that need no profile (OIDC DCR §2): an `_enc`
/// needs its `_alg`.
pub(crate) fn check_encryption_pairs(m: &ClientMetadata) -> Result<(), RegistrationError> {
    let j = m.algorithms();
    for spec in &JOSE_MEMBERS {
        if let Some((alg, prefix)) = spec.needs
            && j.get(spec.member).is_some()
            && j.get(alg).is_none()
        {
            return Err(RegistrationError::invalid_client_metadata(format!(
                "{prefix}_enc: requires {prefix}_alg (OIDC DCR §2)"
            )));
        }
    }
    Ok(())
}

/// `id_token_signed_response_alg` `none` only without an ID Token from the
/// authorization endpoint; `token_endpoint_auth_signing_alg` never `none`, HMAC
/// only with `client_secret_jwt`, asymmetric only with `private_key_jwt`
/// (OIDC DCR §2).
pub(crate) fn check_signing_rules(m: &ClientMetadata) -> Result<(), RegistrationError> {
    let j = m.algorithms();
    if j.id_token_signed_response_alg.as_deref() == Some("none")
        && m.response_types
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|r| r.contains("id_token"))
    {
        return Err(metadata_error(
            "id_token_signed_response_alg",
            "\"none\" is not allowed with a response type that returns an ID Token (OIDC DCR §2)",
        ));
    }
    if let Some(alg) = &j.token_endpoint_auth_signing_alg {
        if alg == "none" {
            return Err(metadata_error(
                "token_endpoint_auth_signing_alg",
                "\"none\" must not be used (OIDC DCR §2)",
            ));
        }
        let hmac = alg.starts_with("HS");
        match m.auth_method() {
            TokenEndpointAuthMethod::ClientSecretJwt if !hmac => {
                return Err(metadata_error(
                    "token_endpoint_auth_signing_alg",
                    "client_secret_jwt needs an HMAC (HS*) algorithm",
                ));
            }
            TokenEndpointAuthMethod::PrivateKeyJwt if hmac => {
                return Err(metadata_error(
                    "token_endpoint_auth_signing_alg",
                    "private_key_jwt needs an asymmetric algorithm",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}
