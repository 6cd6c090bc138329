//! The checks of draft §4 and §5 on a fetched document, before it goes through
//! the same parser and validator as a registration.

use serde_json::{Map, Value};

use super::client_id_url::ClientIdUrl;
use crate::fetch::{FetchError, FetchedResponse, is_json_content_type};
use crate::metadata::json::truncated;
use crate::metadata::unique_object::{ObjectError, parse_unique_object};

/// Why a URL client could not be resolved. The text is for the log; the host
/// answers `invalid_client` (or shows an error page) whatever the reason.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// The `client_id` is not a Client Identifier URL (draft §3).
    #[error(transparent)]
    InvalidUrl(#[from] super::ClientIdUrlError),
    /// URL client ids are not enabled, or not for this host.
    #[error("URL client ids are not accepted from this host")]
    HostNotAllowed,
    /// The document could not be fetched (draft §5: any status but 200, a
    /// redirect, too large, too slow, a special-use address, not JSON).
    #[error("fetching the metadata document failed: {reason}")]
    Fetch {
        /// What went wrong.
        reason: String,
        /// Whether it may pass by itself ([`FetchError::is_transient`]).
        transient: bool,
    },
    /// The body is not a JSON object.
    #[error("the metadata document is not a JSON object")]
    NotJsonObject,
    /// The document's `client_id` is not the URL (draft §4, simple string
    /// comparison).
    #[error("the document's client_id does not equal its URL")]
    ClientIdMismatch,
    /// The document has `client_secret` or `client_secret_expires_at`, or a
    /// shared-secret auth method (draft §4.1).
    #[error("the metadata document uses a shared secret ({0})")]
    SharedSecret(&'static str),
    /// No `redirect_uris` for a client that uses redirect-based grants.
    #[error("the metadata document has no redirect_uris")]
    NoRedirectUris,
    /// The document breaks a rule of the registration validator, the profile
    /// or the host's hook.
    #[error("the metadata document is invalid: {0}")]
    Invalid(String),
    /// Not fetched now: a bound of [`FetchBounds`](super::FetchBounds) was
    /// reached (a recent failed fetch of this URL, or too many fetches from
    /// its host or in all). A temporary failure, not an invalid client: answer
    /// `503` (`temporarily_unavailable`) with `Retry-After`.
    #[error("fetching the metadata document is throttled; retry in {} s", retry_after.as_secs().max(1))]
    Throttled {
        /// When a new lookup may fetch again.
        retry_after: std::time::Duration,
    },
}

impl DocumentError {
    /// Whether the failure may pass by itself (no answer, a timeout, a `5xx`,
    /// a fetch bound): a stale cached document may then still be served.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Fetch {
                transient: true,
                ..
            } | Self::Throttled { .. }
        )
    }
}

impl From<FetchError> for DocumentError {
    fn from(error: FetchError) -> Self {
        let transient = error.is_transient();
        Self::Fetch {
            reason: error.to_string(),
            transient,
        }
    }
}

/// Shared-secret auth methods a document may never use (draft §4.1).
const SHARED_SECRET_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
];

/// Checks a fetched response against draft §4 and §4.1 and returns its JSON
/// object, with `token_endpoint_auth_method` defaulting to `none` (a document
/// has no secret, so the RFC 7591 default `client_secret_basic` cannot apply).
pub(crate) fn check_document(
    url: &ClientIdUrl,
    response: &FetchedResponse,
) -> Result<Map<String, Value>, DocumentError> {
    // Draft §5: `application/json` or a more specific `application/…+json`;
    // "all other … content types" are an error, a missing one included.
    if !response
        .content_type
        .as_deref()
        .is_some_and(is_json_content_type)
    {
        return Err(FetchError::ContentType.into());
    }
    // The parser of registration bodies: a repeated member is refused, not
    // resolved last-wins (RFC 8259 §4).
    let mut object = parse_unique_object(&response.body).map_err(|error| match error {
        ObjectError::NotObject => DocumentError::NotJsonObject,
        ObjectError::Repeated(name) => DocumentError::Invalid(format!(
            "{}: appears more than once in the document (RFC 8259 §4)",
            truncated(&name)
        )),
    })?;
    if object.get("client_id").and_then(Value::as_str) != Some(url.as_str()) {
        return Err(DocumentError::ClientIdMismatch);
    }
    for member in ["client_secret", "client_secret_expires_at"] {
        if object.contains_key(member) {
            return Err(DocumentError::SharedSecret(member));
        }
    }
    match object.get("token_endpoint_auth_method") {
        None => {
            object.insert("token_endpoint_auth_method".into(), "none".into());
        }
        Some(Value::String(method)) => {
            if let Some(shared) = SHARED_SECRET_METHODS.iter().find(|m| *m == method) {
                return Err(DocumentError::SharedSecret(shared));
            }
        }
        // The validator refuses the wrong type with the usual message.
        Some(_) => {}
    }
    let redirect_grants = match object.get("grant_types") {
        Some(Value::Array(grants)) => grants
            .iter()
            .any(|g| matches!(g.as_str(), Some("authorization_code" | "implicit"))),
        _ => true,
    };
    let has_redirects =
        matches!(object.get("redirect_uris"), Some(Value::Array(uris)) if !uris.is_empty());
    if redirect_grants && !has_redirects {
        return Err(DocumentError::NoRedirectUris);
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::metadata_document::parse_client_id_url;

    const URL: &str = "https://client.example/c";
    const JSON: Option<&str> = Some("application/json");

    fn check(body: Value, content_type: Option<&str>) -> Result<Map<String, Value>, DocumentError> {
        let url = parse_client_id_url(URL, false).unwrap();
        check_document(&url, &FetchedResponse::new(body.to_string(), content_type))
    }

    fn doc() -> Value {
        json!({"client_id": URL, "redirect_uris": ["https://client.example/cb"]})
    }

    #[test]
    fn cimd_4_a_minimal_document_defaults_to_method_none() {
        let object = check(doc(), Some("application/json")).unwrap();
        assert_eq!(object["token_endpoint_auth_method"], "none");
        assert!(
            check(
                doc(),
                Some("application/client-metadata+json; charset=utf-8")
            )
            .is_ok()
        );
    }

    #[test]
    fn cimd_5_the_content_type_must_be_json() {
        for ct in [
            "text/html",
            "application/jsonx",
            "application/+json",
            "text/json",
            "",
        ] {
            assert!(
                matches!(check(doc(), Some(ct)), Err(DocumentError::Fetch { .. })),
                "{ct}"
            );
        }
    }

    /// Draft §5: "have the content type of `application/json` or a more
    /// specific content type that conforms to `application/<AS-defined>+json`"
    /// and "treat all other … content types as an error": a response without
    /// `Content-Type` is refused too.
    #[test]
    fn cimd_5_a_document_without_content_type_is_refused() {
        assert!(matches!(
            check(doc(), None),
            Err(DocumentError::Fetch {
                transient: false,
                ..
            })
        ));
    }

    /// RFC 8259 §4 names SHOULD be unique; registration bodies refuse a
    /// repeated one, and a metadata document goes through the same parser
    /// (no last-wins `client_id` or `redirect_uris`).
    #[test]
    fn rfc8259_4_a_document_with_a_repeated_member_is_refused() {
        let url = parse_client_id_url(URL, false).unwrap();
        let body = format!(
            r#"{{"client_id":"{URL}","redirect_uris":["https://evil.example/cb"],"redirect_uris":["https://client.example/cb"]}}"#
        );
        match check_document(&url, &FetchedResponse::new(body, JSON)) {
            Err(DocumentError::Invalid(reason)) => {
                assert!(reason.contains("redirect_uris"), "{reason}");
                assert!(reason.contains("more than once"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cimd_4_client_id_must_equal_the_url_by_simple_string_comparison() {
        for id in [
            json!("https://client.example/c/"),
            json!("https://CLIENT.example/c"),
            json!(null),
        ] {
            let mut d = doc();
            d["client_id"] = id;
            assert!(matches!(
                check(d, JSON),
                Err(DocumentError::ClientIdMismatch)
            ));
        }
    }

    #[test]
    fn cimd_4_1_no_shared_secrets() {
        for (member, value) in [
            ("client_secret", json!("s")),
            ("client_secret_expires_at", json!(0)),
            ("token_endpoint_auth_method", json!("client_secret_basic")),
            ("token_endpoint_auth_method", json!("client_secret_post")),
            ("token_endpoint_auth_method", json!("client_secret_jwt")),
        ] {
            let mut d = doc();
            d[member] = value;
            assert!(
                matches!(check(d, JSON), Err(DocumentError::SharedSecret(_))),
                "{member}"
            );
        }
    }

    #[test]
    fn cimd_4_2_redirect_uris_required_for_redirect_grants() {
        let mut d = doc();
        d.as_object_mut().unwrap().remove("redirect_uris");
        assert!(matches!(
            check(d.clone(), JSON),
            Err(DocumentError::NoRedirectUris)
        ));
        d["grant_types"] = json!(["client_credentials"]);
        d["token_endpoint_auth_method"] = json!("private_key_jwt");
        assert!(check(d, JSON).is_ok());
    }

    #[test]
    fn cimd_4_invalid_json_is_refused() {
        let url = parse_client_id_url(URL, false).unwrap();
        for body in ["{", "[]", "\"x\"", ""] {
            assert!(matches!(
                check_document(&url, &FetchedResponse::new(body.to_owned(), JSON)),
                Err(DocumentError::NotJsonObject)
            ));
        }
    }
}
