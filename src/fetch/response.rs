//! What a fetch returns besides the body, and the JSON content-type rule.

use bytes::Bytes;

/// A `200 OK` response: its body and the headers callers use.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct FetchedResponse {
    /// The body, within the size limit.
    pub body: Bytes,
    /// `Content-Type`, if the fetcher reports it.
    pub content_type: Option<String>,
    /// `Cache-Control` (several fields joined with `, `).
    pub cache_control: Option<String>,
    /// `Expires`.
    pub expires: Option<String>,
    /// `Date`.
    pub date: Option<String>,
    /// `Age`.
    pub age: Option<String>,
}

impl FetchedResponse {
    /// A response with this body and content type, no cache headers (for
    /// custom fetchers and tests).
    pub fn new(body: impl Into<Bytes>, content_type: Option<&str>) -> Self {
        Self {
            body: body.into(),
            content_type: content_type.map(str::to_owned),
            ..Self::default()
        }
    }
}

/// Whether `content_type` is JSON: `application/json` or `application/*+json`
/// (RFC 6839 §3.1), parameters ignored, case-insensitive.
pub fn is_json_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.split_once('/') {
        Some(("application", "json")) => true,
        Some(("application", subtype)) => subtype.len() > 5 && subtype.ends_with("+json"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        for ct in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/jwk-set+json",
            "application/client-metadata+json",
        ] {
            assert!(is_json_content_type(ct), "{ct}");
        }
        for ct in [
            "text/json",
            "application/+json",
            "application/jsonx",
            "text/html",
            "",
        ] {
            assert!(!is_json_content_type(ct), "{ct}");
        }
    }
}
