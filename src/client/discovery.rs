//! Finding the registration endpoint from the issuer (RFC 8414 §3, OpenID
//! Connect Discovery 1.0 §4).

use crate::metadata::WellKnown;
use http::Method;
use serde_json::{Map, Value};

use super::config::{HttpOptions, ServiceConfiguration};
use super::error::ClientError;
use super::transport::{Http, Target};

/// Reads the issuer's metadata document and returns its endpoints.
///
/// Tries the RFC 8414 document first, with the well-known segment inserted
/// between the host and the issuer's path (RFC 8414 §3.1:
/// `https://a.example/tenant` → `https://a.example/.well-known/oauth-authorization-server/tenant`),
/// then the OpenID Connect document `{issuer}/.well-known/openid-configuration`
/// when the first answers with an error status or is not a JSON object.
///
/// The document's `issuer` must equal `issuer` exactly (RFC 8414 §3.3), and it
/// must advertise a `registration_endpoint`; otherwise the result is
/// [`ClientError::Discovery`]. Network errors and timeouts are reported as such.
pub async fn discover(
    issuer: &str,
    options: &HttpOptions,
) -> Result<ServiceConfiguration, ClientError> {
    let http = Http::new(options.clone())?;
    discover_with(&http, issuer).await
}

pub(super) async fn discover_with(
    http: &Http,
    issuer: &str,
) -> Result<ServiceConfiguration, ClientError> {
    let issuer_url = http.check_url(issuer, Target::Configured)?;
    if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
        return Err(ClientError::InvalidConfig(format!(
            "{issuer}: an issuer has no query or fragment (RFC 8414 §2)"
        )));
    }
    let mut misses = Vec::new();
    let well_known = WellKnown::from_url(&issuer_url);
    for url in well_known.urls() {
        let reply = http.send(Method::GET, url.clone(), None, None).await?;
        if !reply.status.is_success() {
            misses.push(format!("{url} answered HTTP {}", reply.status));
            continue;
        }
        match serde_json::from_slice::<Value>(&reply.body) {
            Ok(Value::Object(document)) => return configuration(http, issuer, document),
            _ => misses.push(format!("{url} is not a JSON object")),
        }
    }
    Err(ClientError::Discovery {
        issuer: issuer.to_owned(),
        reason: misses.join("; "),
    })
}

fn configuration(
    http: &Http,
    issuer: &str,
    document: Map<String, Value>,
) -> Result<ServiceConfiguration, ClientError> {
    let fail = |reason: String| ClientError::Discovery {
        issuer: issuer.to_owned(),
        reason,
    };
    let string = |name: &str| {
        document
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match string("issuer") {
        Some(found) if found == issuer => {}
        Some(found) => {
            return Err(fail(format!(
                "the document names the issuer \"{found}\", not the one requested (RFC 8414 §3.3)"
            )));
        }
        None => return Err(fail("the document has no issuer (RFC 8414 §3.3)".into())),
    }
    let registration_endpoint = string("registration_endpoint").ok_or_else(|| {
        fail("the document has no registration_endpoint: the server does not offer dynamic registration".into())
    })?;
    http.check_url(&registration_endpoint, Target::FromServer)
        .map_err(|e| match e {
            ClientError::InvalidResponse(reason) => {
                fail(format!("invalid registration_endpoint {reason}"))
            }
            other => other,
        })?;
    Ok(ServiceConfiguration {
        issuer: Some(issuer.to_owned()),
        registration_endpoint,
        authorization_endpoint: string("authorization_endpoint"),
        token_endpoint: string("token_endpoint"),
        revocation_endpoint: string("revocation_endpoint"),
        end_session_endpoint: string("end_session_endpoint"),
        document,
    })
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;

    fn urls(issuer: &str) -> [String; 2] {
        WellKnown::from_url(&Url::parse(issuer).unwrap())
            .urls()
            .map(|url| url.as_str().to_owned())
    }

    #[test]
    fn rfc8414_inserts_the_well_known_segment_before_the_issuer_path() {
        assert_eq!(
            urls("https://a.example"),
            [
                "https://a.example/.well-known/oauth-authorization-server",
                "https://a.example/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            urls("https://a.example/"),
            [
                "https://a.example/.well-known/oauth-authorization-server",
                "https://a.example/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            urls("https://a.example:8443/tenant/one/"),
            [
                "https://a.example:8443/.well-known/oauth-authorization-server/tenant/one",
                "https://a.example:8443/tenant/one/.well-known/openid-configuration",
            ]
        );
    }
}
