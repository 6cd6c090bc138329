//! Resource indicators (RFC 8707) at the host's endpoints: reading the
//! repeatable `resource` parameter, its own rules (§2), the resources a host
//! serves, the authorization endpoint's error redirect (§2.1) and the token
//! endpoint's narrowing of a grant (§2.2). One test per rule.

use bytes::Bytes;
use http::StatusCode;
use tower_dcr::ErrorCode;
use tower_dcr::host::{
    ResourceError, Resources, TokenError, narrow_resources, requested_resources,
};

fn owned(uris: &[&str]) -> Vec<String> {
    uris.iter().map(|u| (*u).to_owned()).collect()
}

fn served() -> Resources {
    Resources::exact(["https://mcp.example/mcp"])
        .unwrap()
        .or(Resources::prefixes(["https://api.example/tenant1"]).unwrap())
}

/// RFC 8707 §2: `resource` may be repeated, one value per target; the values
/// are read in the order sent, other parameters ignored, repeats dropped.
#[test]
fn rfc8707_2_resource_is_repeatable() {
    let form = vec![
        ("response_type".to_owned(), "code".to_owned()),
        ("resource".to_owned(), "https://a.example/".to_owned()),
        ("scope".to_owned(), "read".to_owned()),
        ("resource".to_owned(), "https://b.example/api".to_owned()),
        ("resource".to_owned(), "https://a.example/".to_owned()),
    ];
    assert_eq!(
        requested_resources(form).unwrap(),
        ["https://a.example/", "https://b.example/api"]
    );
    let query = "resource=https%3A%2F%2Fa.example%2F&resource=https%3A%2F%2Fc.example%2F";
    assert_eq!(
        requested_resources(url::form_urlencoded::parse(query.as_bytes())).unwrap(),
        ["https://a.example/", "https://c.example/"]
    );
}

/// RFC 8707 §2: a request without `resource` names no resource (the host
/// may use a default, or refuse); reading it is not an error.
#[test]
fn rfc8707_2_a_request_without_resource_names_none() {
    let form = [("grant_type", "authorization_code"), ("code", "abc")];
    assert!(requested_resources(form).unwrap().is_empty());
}

/// RFC 8707 §2: the value must be an absolute URI (RFC 3986 §4.3); a
/// relative reference is `invalid_target`.
#[test]
fn rfc8707_2_a_resource_that_is_not_an_absolute_uri_is_invalid_target() {
    for value in ["/api", "api.example/mcp", "//api.example/mcp", ""] {
        let error = requested_resources([("resource", value)]).unwrap_err();
        assert_eq!(
            error,
            ResourceError::NotAbsolute(value.to_owned()),
            "{value}"
        );
        assert_eq!(error.error_code(), ErrorCode::InvalidTarget);
        assert_eq!(error.error_code(), "invalid_target");
    }
}

/// RFC 8707 §2: the URI must not include a fragment, not even an empty one.
#[test]
fn rfc8707_2_a_resource_with_a_fragment_is_invalid_target() {
    for value in ["https://api.example/mcp#part", "https://api.example/mcp#"] {
        let error = requested_resources([("resource", value)]).unwrap_err();
        assert_eq!(error, ResourceError::Fragment(value.to_owned()), "{value}");
        assert_eq!(error.error_code(), "invalid_target");
    }
    assert!(Resources::exact(["https://api.example/#x"]).is_err());
}

/// RFC 8707 §2: a query component is discouraged (SHOULD NOT) but allowed,
/// for example to name a tenant.
#[test]
fn rfc8707_2_a_resource_with_a_query_is_accepted() {
    let uri = "https://api.example/mcp?tenant=1";
    assert_eq!(requested_resources([("resource", uri)]).unwrap(), [uri]);
    assert!(Resources::exact([uri]).unwrap().allows(uri));
}

/// RFC 8707 §2: a resource the authorization server does not consider
/// acceptable is `invalid_target`; an exact URI allows that URI only.
#[test]
fn rfc8707_2_a_resource_the_host_does_not_serve_is_invalid_target() {
    let resources = served();
    assert!(
        resources
            .check(&owned(&["https://mcp.example/mcp"]))
            .is_ok()
    );
    for other in [
        "https://mcp.example/mcp/",
        "https://mcp.example/mcp2",
        "https://other.example/mcp",
        "http://mcp.example/mcp",
    ] {
        let requested = owned(&["https://mcp.example/mcp", other]);
        assert_eq!(
            resources.check(&requested),
            Err(ResourceError::NotAllowed(other.to_owned())),
            "{other}"
        );
    }
    assert!(
        Resources::default()
            .check(&owned(&["https://mcp.example/mcp"]))
            .is_err()
    );
    assert!(Resources::default().check(&[]).is_ok());
}

/// RFC 8707 §2 (which resources are acceptable is the server's policy): a
/// prefix allows the URIs under it at a path segment boundary, on the same
/// origin, and nothing that only shares its characters.
#[test]
fn rfc8707_2_a_prefix_allows_resources_under_it_at_a_path_segment_boundary() {
    let resources = served();
    for allowed in [
        "https://api.example/tenant1",
        "https://api.example/tenant1/",
        "https://api.example/tenant1/mcp",
        "https://api.example:443/tenant1/v2/mcp",
    ] {
        assert!(resources.allows(allowed), "{allowed}");
    }
    for refused in [
        "https://api.example/tenant10",
        "https://api.example/tenant1.evil",
        "https://api.example.evil/tenant1",
        "https://api.example/tenant1/../tenant2",
        "https://api.example/tenant2",
        "https://user@api.example/tenant1/mcp",
        "http://api.example/tenant1/mcp",
        "https://api.example:8443/tenant1/mcp",
        "https://api.example/tenant1/mcp?x=1",
    ] {
        assert!(!resources.allows(refused), "{refused}");
    }
    let everything_on_origin = Resources::prefixes(["https://api.example/"]).unwrap();
    assert!(everything_on_origin.allows("https://api.example/any/path"));
    assert!(!everything_on_origin.allows("https://api.example.evil/"));
}

/// RFC 8707 §2: a host's own rule (a closure) decides, after the URI's own
/// rules held.
#[test]
fn rfc8707_2_a_closure_decides_which_resources_are_served() {
    let resources = Resources::from_fn(|uri| uri.ends_with("/mcp"));
    assert!(resources.allows("https://any.example/mcp"));
    assert!(!resources.allows("https://any.example/api"));
    assert!(
        !resources.allows("/mcp"),
        "not absolute, never shown to the closure"
    );
    assert_eq!(
        resources.check(&owned(&["https://any.example/mcp#x"])),
        Err(ResourceError::Fragment(
            "https://any.example/mcp#x".to_owned()
        ))
    );
}

/// RFC 8707 §2.1 (with RFC 6749 §4.1.2.1): the authorization endpoint
/// answers an unacceptable resource by redirecting with
/// `error=invalid_target`, the request's `state` and, when the host sends
/// it, `iss` (RFC 9207), keeping the redirect URI's own query.
#[test]
fn rfc8707_2_1_the_authorization_endpoint_redirects_with_invalid_target() {
    let error = served()
        .check(&owned(&["https://other.example/"]))
        .unwrap_err();
    let location = error.redirect_uri(
        "https://app.example/cb?from=app",
        Some("s t&x"),
        Some("https://as.example/tenant1"),
    );
    let url = url::Url::parse(&location).unwrap();
    assert_eq!(url.path(), "/cb");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        pairs,
        [
            ("from".into(), "app".into()),
            ("error".into(), "invalid_target".into()),
            (
                "error_description".into(),
                "a resource is not served by this authorization server".into()
            ),
            ("state".into(), "s t&x".into()),
            ("iss".into(), "https://as.example/tenant1".into()),
        ]
    );
    assert!(
        !location.contains("other.example"),
        "the description names no resource"
    );
}

/// RFC 8707 §2 and §2.2: at the token endpoint the refusal is a `400` error
/// response with `error` `invalid_target`.
#[test]
fn rfc8707_2_2_the_token_endpoint_answers_invalid_target_400() {
    let error = requested_resources([("resource", "relative")]).unwrap_err();
    let token_error = TokenError::from(error);
    assert_eq!(token_error.error_code(), ErrorCode::InvalidTarget);
    let response: http::Response<Bytes> = token_error.into();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["error"], "invalid_target");
    assert_eq!(
        body["error_description"],
        "a resource is not an absolute URI"
    );
    let direct = TokenError::invalid_target("no such resource");
    assert_eq!(direct.status(), StatusCode::BAD_REQUEST);
    assert_eq!(direct.error_code(), "invalid_target");
}

/// RFC 8707 §2.2: a token request may ask for some of its grant's
/// resources; the token is for those only.
#[test]
fn rfc8707_2_2_a_token_request_may_narrow_the_resources_of_its_grant() {
    let grant = owned(&["https://a.example/", "https://b.example/api"]);
    assert_eq!(
        narrow_resources(&grant, &owned(&["https://b.example/api"])).unwrap(),
        ["https://b.example/api"]
    );
    assert_eq!(
        narrow_resources(
            &grant,
            &owned(&["https://b.example/api", "https://a.example/"])
        )
        .unwrap(),
        ["https://b.example/api", "https://a.example/"]
    );
}

/// RFC 8707 §2.2: a token request without `resource` gets its grant's
/// resources.
#[test]
fn rfc8707_2_2_a_token_request_without_resource_keeps_the_resources_of_its_grant() {
    let grant = owned(&["https://a.example/", "https://b.example/api"]);
    assert_eq!(narrow_resources(&grant, &[]).unwrap(), grant);
    assert!(narrow_resources(&[], &[]).unwrap().is_empty());
}

/// RFC 8707 §2.2: a token request may never widen its grant: a resource the
/// grant was not issued for is `invalid_target`, and so is any resource for
/// a grant bound to none.
#[test]
fn rfc8707_2_2_a_token_request_may_not_widen_the_resources_of_its_grant() {
    let grant = owned(&["https://a.example/"]);
    for requested in [
        owned(&["https://c.example/"]),
        owned(&["https://a.example/", "https://c.example/"]),
        owned(&["https://a.example"]),
    ] {
        let error = narrow_resources(&grant, &requested).unwrap_err();
        assert!(
            matches!(error, ResourceError::OutsideGrant(_)),
            "{requested:?}"
        );
        assert_eq!(error.error_code(), "invalid_target");
    }
    assert_eq!(
        narrow_resources(&[], &owned(&["https://a.example/"])),
        Err(ResourceError::OutsideGrant("https://a.example/".to_owned()))
    );
}
