//! URL client ids: OAuth Client ID Metadata Documents
//! (draft-ietf-oauth-client-id-metadata-document-03), end to end against an
//! https document server on 127.0.0.1 whose CA is generated at test time.
//! Test names carry the draft section they check.
#![cfg(all(feature = "client-id-metadata-document", feature = "client-assertion"))]

use crate::cimd_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cimd_support::documents::{PATH, document, policy, resolve_err, served, service};
use cimd_support::{DocServer, ISSUER, Reply};
use serde_json::json;
use tower_dcr::events::Operation;
use tower_dcr::events::{Event, EventKind};
use tower_dcr::host::{ClientAuthError, ClientCredentials, RedirectError};
use tower_dcr::metadata_document::MetadataDocuments;
use tower_dcr::policy::RequestContext;
use tower_dcr::store::RecordSource;
use tower_dcr::{ClientMetadata, ConfigError, Registration, RegistrationError};

#[tokio::test]
async fn cimd_4_a_valid_document_resolves_to_a_client_used_like_a_registered_one() {
    let server = DocServer::start().await;
    server.set(PATH, Reply::json(&document(&server)));
    let dcr = service(policy(&server));
    let id = server.url(PATH);

    let record = dcr.client(&id).await.unwrap().expect("a client");
    assert_eq!(record.client_id, id);
    assert_eq!(record.source, RecordSource::MetadataDocument);
    assert_eq!(record.metadata.client_name.get(), Some("Agent"));
    assert!(record.client_secret.is_none());
    assert!(record.registration_access_token.is_none());
    assert!(
        dcr.store().get(&id).await.unwrap().is_none(),
        "URL clients are not written to the client store"
    );
    let profile = dcr.profile_of(&record).expect("the URL-client profile");
    assert!(profile.pkce_required());

    // The document has no application_type: a web client (OIDC DCR §2), so
    // its loopback redirect matches exactly (RFC 9700 §2.1); the any-port
    // rule of RFC 8252 §7.3 is for native clients (the next test).
    let (_, uri) = dcr
        .check_redirect_uri(&id, Some("http://127.0.0.1/callback"))
        .await
        .unwrap();
    assert_eq!(uri, "http://127.0.0.1/callback");
    assert_eq!(
        dcr.check_redirect_uri(&id, Some("http://127.0.0.1:49152/callback"))
            .await
            .unwrap_err(),
        RedirectError::Mismatch
    );
    assert_eq!(
        dcr.check_redirect_uri(&id, Some("https://agent.example/cb/x"))
            .await
            .unwrap_err(),
        RedirectError::Mismatch
    );
    // A public client authenticates with its client_id only.
    let credentials =
        ClientCredentials::from_request(&http::HeaderMap::new(), Some(id.as_str()), None).unwrap();
    assert_eq!(
        dcr.authenticate_client(&credentials)
            .await
            .unwrap()
            .client_id,
        id
    );
    let with_secret =
        ClientCredentials::from_request(&http::HeaderMap::new(), Some(id.as_str()), Some("s"))
            .unwrap();
    assert_eq!(
        dcr.authenticate_client(&with_secret).await.unwrap_err(),
        ClientAuthError::InvalidClient
    );
    assert_eq!(server.hits(PATH), 1, "one fetch, then the cache");
    // For the consent page (draft §8.5; MCP 2025-11-25).
    assert_eq!(
        record.metadata_document_host(),
        Some(format!("127.0.0.1:{}", server.port).as_str())
    );
    assert!(!record.metadata.redirects_only_to_loopback());
}

/// RFC 8252 §7.3 (kept by RFC 9700 §4.1.1): a URL client that says it is
/// native (`application_type` `native`) may use any port on its loopback
/// redirect, like a registered native client.
#[tokio::test]
async fn rfc8252_7_3_a_native_url_client_matches_loopback_on_any_port() {
    let server = DocServer::start().await;
    let mut native = document(&server);
    native["application_type"] = json!("native");
    native["redirect_uris"] = json!(["http://127.0.0.1/callback"]);
    server.set(PATH, Reply::json(&native));
    let dcr = service(policy(&server));
    let id = server.url(PATH);
    let (_, uri) = dcr
        .check_redirect_uri(&id, Some("http://127.0.0.1:49152/callback"))
        .await
        .unwrap();
    assert_eq!(uri, "http://127.0.0.1:49152/callback");
    assert_eq!(
        dcr.check_redirect_uri(&id, Some("http://127.0.0.1:49152/other"))
            .await
            .unwrap_err(),
        RedirectError::Mismatch
    );
}

#[tokio::test]
async fn a_client_whose_redirects_are_all_loopback_is_flagged() {
    let server = DocServer::start().await;
    let mut doc = document(&server);
    doc["redirect_uris"] = json!([
        "http://127.0.0.1/cb",
        "http://localhost:8080/cb",
        "http://[::1]/cb"
    ]);
    server.set(PATH, Reply::json(&doc));
    let dcr = service(policy(&server));
    let record = dcr.client(&server.url(PATH)).await.unwrap().unwrap();
    assert!(record.metadata.redirects_only_to_loopback());
    let registered = tower_dcr::ClientRecord::new_host_client("x", record.metadata.clone(), 0);
    assert_eq!(registered.metadata_document_host(), None);
}

/// Draft §5: 200 is the only success; every other status is an error.
#[tokio::test]
async fn cimd_5_statuses_other_than_200_are_errors() {
    for status in [404, 500, 201, 204, 304] {
        let (server, dcr) = served(Reply::status(status)).await;
        let error = resolve_err(&dcr, &server.url(PATH)).await;
        assert!(error.contains(&status.to_string()), "{status}: {error}");
        assert_eq!(
            dcr.check_redirect_uri(&server.url(PATH), None)
                .await
                .unwrap_err(),
            RedirectError::MetadataDocument
        );
    }
}

/// Draft §5: MUST NOT automatically follow HTTP redirects (a 302 is an error,
/// and its target is never fetched).
#[tokio::test]
async fn cimd_5_a_redirect_is_not_followed() {
    let server = DocServer::start().await;
    let mut target = document(&server);
    target["client_id"] = server.url("/elsewhere").into();
    server.set("/elsewhere", Reply::json(&target));
    server.set(
        PATH,
        Reply::status(302).header("location", &server.url("/elsewhere")),
    );
    let dcr = service(policy(&server));
    let error = resolve_err(&dcr, &server.url(PATH)).await;
    assert!(error.contains("302"), "{error}");
    assert_eq!(server.hits("/elsewhere"), 0);
}

/// Draft §8.7: stop reading at 5 KiB; 5 KiB + 1 byte is an error.
#[tokio::test]
async fn cimd_8_7_a_document_over_5_kib_is_refused() {
    let server = DocServer::start().await;
    let mut doc = document(&server);
    doc["client_name"] = "".into();
    let base = doc.to_string().len();
    doc["client_name"] = "a".repeat(5 * 1024 + 1 - base).into();
    let body = doc.to_string();
    assert_eq!(body.len(), 5 * 1024 + 1);
    server.set(PATH, Reply::raw(200, "application/json", body.into_bytes()));
    let dcr = service(policy(&server));
    let error = resolve_err(&dcr, &server.url(PATH)).await;
    assert!(error.contains("5120"), "{error}");

    // At exactly the limit it is read (and then validated).
    doc["client_name"] = "a".repeat(5 * 1024 - base).into();
    server.set(PATH, Reply::json(&doc));
    let error = resolve_err(&dcr, &server.url(PATH)).await;
    assert!(!error.contains("5120"), "{error}");
}

/// The limit is configurable.
#[tokio::test]
async fn cimd_8_7_the_limit_is_configurable() {
    let server = DocServer::start().await;
    server.set(PATH, Reply::json(&document(&server)));
    let dcr = service(policy(&server).max_document_bytes(64));
    assert!(resolve_err(&dcr, &server.url(PATH)).await.contains("64"));
}

/// Draft §4: the document's `client_id` MUST equal the URL by simple string
/// comparison (RFC 3986 §6.2.1): a trailing slash is another identifier.
#[tokio::test]
async fn cimd_4_client_id_differing_by_a_trailing_slash_is_refused() {
    let server = DocServer::start().await;
    let mut doc = document(&server);
    doc["client_id"] = format!("{}/", server.url(PATH)).into();
    server.set(PATH, Reply::json(&doc));
    let dcr = service(policy(&server));
    let error = resolve_err(&dcr, &server.url(PATH)).await;
    assert!(error.contains("client_id"), "{error}");
}

/// Draft §4.1: no shared-secret auth method.
#[tokio::test]
async fn cimd_4_1_a_shared_secret_auth_method_is_refused() {
    for method in [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
    ] {
        let server = DocServer::start().await;
        let mut doc = document(&server);
        doc["token_endpoint_auth_method"] = method.into();
        server.set(PATH, Reply::json(&doc));
        let dcr = service(policy(&server));
        let error = resolve_err(&dcr, &server.url(PATH)).await;
        assert!(error.contains(method), "{error}");
    }
}

/// Draft §4.1: `client_secret` and `client_secret_expires_at` MUST NOT be used.
#[tokio::test]
async fn cimd_4_1_a_client_secret_member_is_refused() {
    for (member, value) in [
        ("client_secret", json!("s3cret")),
        ("client_secret_expires_at", json!(0)),
    ] {
        let server = DocServer::start().await;
        let mut doc = document(&server);
        doc[member] = value;
        server.set(PATH, Reply::json(&doc));
        let dcr = service(policy(&server));
        let error = resolve_err(&dcr, &server.url(PATH)).await;
        assert!(error.contains(member), "{error}");
        assert!(!error.contains("s3cret"));
    }
}

/// Draft §4: the document is a JSON object.
#[tokio::test]
async fn cimd_4_invalid_json_is_refused() {
    let (server, dcr) = served(Reply::raw(
        200,
        "application/json",
        b"{\"client_id\":".to_vec(),
    ))
    .await;
    let error = resolve_err(&dcr, &server.url(PATH)).await;
    assert!(error.contains("JSON"), "{error}");
}

/// Draft §4: `application/json` or `application/*+json`.
#[tokio::test]
async fn cimd_4_a_non_json_content_type_is_refused() {
    let server = DocServer::start().await;
    let body = document(&server).to_string().into_bytes();
    server.set(PATH, Reply::raw(200, "text/html", body.clone()));
    let dcr = service(policy(&server));
    assert!(resolve_err(&dcr, &server.url(PATH)).await.contains("JSON"));
    server.set(
        PATH,
        Reply::raw(200, "application/client-metadata+json", body),
    );
    assert!(dcr.client(&server.url(PATH)).await.unwrap().is_some());
}

/// Draft §5: the document has "the content type of `application/json` or a
/// more specific content type that conforms to `application/<AS-defined>+json`";
/// "all other … content types" are an error, and so is none at all.
#[tokio::test]
async fn cimd_5_a_document_without_content_type_is_refused() {
    let server = DocServer::start().await;
    let mut reply = Reply::json(&document(&server));
    reply.headers.clear();
    server.set(PATH, reply);
    let dcr = service(policy(&server));
    let error = resolve_err(&dcr, &server.url(PATH)).await;
    assert!(error.contains("JSON"), "{error}");
    assert_eq!(
        dcr.check_redirect_uri(&server.url(PATH), None)
            .await
            .unwrap_err(),
        RedirectError::MetadataDocument
    );
}

/// RFC 8259 §4: member names SHOULD be unique. A registration body with a
/// repeated member is refused; a metadata document goes through the same
/// parser, so a document whose second `redirect_uris` would win under a
/// last-wins parser is refused too.
#[tokio::test]
async fn rfc8259_4_a_document_with_a_repeated_member_is_refused_like_a_registration() {
    let server = DocServer::start().await;
    let id = server.url(PATH);
    let body = format!(
        r#"{{"client_id":"{id}","redirect_uris":["https://agent.example/cb"],"redirect_uris":["https://evil.example/cb"]}}"#
    );
    server.set(PATH, Reply::raw(200, "application/json", body.into_bytes()));
    let dcr = service(policy(&server));
    let error = resolve_err(&dcr, &id).await;
    assert!(
        error.contains("redirect_uris") && error.contains("more than once"),
        "{error}"
    );
}

/// A time limit on the fetch: a server slower than it is an error, in time.
#[tokio::test]
async fn cimd_5_a_server_slower_than_the_time_limit_is_an_error() {
    let server = DocServer::start().await;
    server.set(
        PATH,
        Reply::json(&document(&server)).delay(Duration::from_secs(3)),
    );
    let dcr = service(policy(&server).timeout(Duration::from_millis(300)));
    let started = Instant::now();
    let error = resolve_err(&dcr, &server.url(PATH)).await;
    assert!(error.contains("time"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Draft §8.6: MUST NOT fetch a URL resolving to a special-use address
/// (RFC 6890); the loopback exception applies only when enabled and the
/// server itself is on loopback.
#[tokio::test]
async fn cimd_8_6_special_use_addresses_are_refused() {
    let server = DocServer::start().await;
    server.set(PATH, Reply::json(&document(&server)));
    let strict = service(MetadataDocuments::any_host().root_certificate_pem(server.ca_pem.clone()));
    let error = resolve_err(&strict, &server.url(PATH)).await;
    assert!(error.contains("loopback"), "{error}");
    for id in [
        "https://10.0.0.1/c",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/c",
        "https://192.168.1.1:8443/c",
    ] {
        let error = resolve_err(&strict, id).await;
        assert!(error.contains("address"), "{id}: {error}");
    }
    assert_eq!(server.hits(PATH), 0);

    let not_loopback = Registration::builder("https://auth.example.com")
        .open()
        .metadata_documents(MetadataDocuments::any_host().loopback_documents(true))
        .build();
    assert!(matches!(
        not_loopback,
        Err(ConfigError::InvalidMetadataDocuments(_))
    ));
}

/// Draft §3: URLs breaking the Client Identifier URL rules are no client, and
/// nothing is fetched.
#[tokio::test]
async fn cimd_3_invalid_client_id_urls_are_unknown_clients() {
    let server = DocServer::start().await;
    server.set(PATH, Reply::json(&document(&server)));
    let dcr = service(policy(&server));
    let base = server.url(PATH);
    let userinfo = base.replacen("https://", "https://user:pw@", 1);
    for id in [
        format!("{base}?v=1"),
        server.url("/oauth/./client.json"),
        server.url("/oauth/x/../client.json"),
        format!("{base}#frag"),
        userinfo,
        format!("https://127.0.0.1:{}", server.port),
    ] {
        assert!(dcr.client(&id).await.unwrap().is_none(), "{id}");
    }
    assert_eq!(server.hits(PATH), 0);
}

/// Off by default: an https `client_id` is then an ordinary store lookup, and
/// discovery says nothing (draft §6: the flag only when supported).
#[tokio::test]
async fn cimd_6_off_by_default_and_advertised_only_when_enabled() {
    let server = DocServer::start().await;
    server.set(PATH, Reply::json(&document(&server)));
    let off = Registration::builder(ISSUER).open().build().unwrap();
    assert!(off.client(&server.url(PATH)).await.unwrap().is_none());
    assert!(
        !off.discovery_metadata()
            .contains_key("client_id_metadata_document_supported")
    );
    assert_eq!(server.hits(PATH), 0);
    let on = service(policy(&server));
    assert_eq!(
        on.discovery_metadata()["client_id_metadata_document_supported"],
        true
    );
}

/// URL clients must use PKCE (their default profile requires it), so discovery
/// names the method they must use (RFC 8414 §2 `code_challenge_methods_supported`;
/// the host helpers verify S256 only, RFC 7636 §4.2); without a profile that
/// requires PKCE the member is left to the host.
#[tokio::test]
async fn rfc8414_2_code_challenge_methods_listed_when_url_clients_need_pkce() {
    let server = DocServer::start().await;
    let on = service(policy(&server));
    assert_eq!(
        on.discovery_metadata()["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let off = Registration::builder(ISSUER).open().build().unwrap();
    assert!(
        !off.discovery_metadata()
            .contains_key("code_challenge_methods_supported")
    );
}

/// Only allowed hosts; a profile per host pattern.
#[tokio::test]
async fn host_allow_list_and_host_profiles() {
    let server = DocServer::start().await;
    server.set(PATH, Reply::json(&document(&server)));
    let listed = |hosts: &[&str]| {
        MetadataDocuments::hosts(hosts.iter().copied())
            .loopback_documents(true)
            .root_certificate_pem(server.ca_pem.clone())
    };
    let other = service(listed(&["agents.example"]));
    assert!(other.client(&server.url(PATH)).await.unwrap().is_none());
    assert_eq!(server.hits(PATH), 0);

    let strict_profile = tower_dcr::Profile::default()
        .token_endpoint_auth_methods([tower_dcr::TokenEndpointAuthMethod::None])
        .default_token_endpoint_auth_method(tower_dcr::TokenEndpointAuthMethod::None)
        .grant_types([tower_dcr::GrantType::AuthorizationCode])
        .require_pkce(true);
    let dcr = service(listed(&[]).host_profile("127.0.0.1", strict_profile));
    // The document asks for refresh_token, which this host's profile refuses.
    let error = resolve_err(&dcr, &server.url(PATH)).await;
    assert!(error.contains("grant_types"), "{error}");
}

/// Validation through the same pipeline as POST /register: the validator
/// (here: a javascript: redirect URI) and the host's hook, which sees the
/// operation and may reject or rewrite.
#[tokio::test]
async fn documents_go_through_the_registration_validator_and_hook() {
    let server = DocServer::start().await;
    let mut bad = document(&server);
    bad["redirect_uris"] = json!(["javascript:alert(1)"]);
    server.set(PATH, Reply::json(&bad));
    let dcr = service(policy(&server));
    assert!(
        resolve_err(&dcr, &server.url(PATH))
            .await
            .contains("redirect_uri")
    );

    server.set(PATH, Reply::json(&document(&server)));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let dcr = Registration::builder(ISSUER)
        .open()
        .metadata_documents(policy(&server))
        .client_assertions(tower_dcr::client_assertion::ClientAssertions::new())
        .hook(
            move |context: RequestContext, mut metadata: ClientMetadata| {
                log.lock()
                    .unwrap()
                    .push((context.operation, context.client_id.clone()));
                async move {
                    if metadata.client_name.get() == Some("Blocked") {
                        return Err(RegistrationError::invalid_client_metadata(
                            "client_name: blocked",
                        ));
                    }
                    metadata.scope = Some("read".into());
                    Ok(metadata)
                }
            },
        )
        .build()
        .unwrap();
    let record = dcr.client(&server.url(PATH)).await.unwrap().unwrap();
    assert_eq!(record.metadata.scope.as_deref(), Some("read"));
    assert_eq!(
        seen.lock().unwrap()[0],
        (Operation::ResolveDocument, Some(server.url(PATH)))
    );
    let mut blocked = document(&server);
    blocked["client_name"] = "Blocked".into();
    let id = server.url("/blocked");
    blocked["client_id"] = id.clone().into();
    server.set("/blocked", Reply::json(&blocked));
    assert!(resolve_err(&dcr, &id).await.contains("blocked"));
}

/// Events: resolved, refreshed, document changed, keys changed (draft §8.4,
/// §8.4.1), fetch failed.
#[tokio::test]
async fn events_for_resolution_refresh_changes_and_failures() {
    let server = DocServer::start().await;
    let events: Arc<Mutex<Vec<EventKind>>> = Arc::default();
    let sink = Arc::clone(&events);
    let dcr = Registration::builder(ISSUER)
        .open()
        .metadata_documents(policy(&server))
        .client_assertions(tower_dcr::client_assertion::ClientAssertions::new())
        .events(move |event: &Event| sink.lock().unwrap().push(event.kind.clone()))
        .build()
        .unwrap();
    let id = server.url(PATH);
    server.set(
        PATH,
        Reply::json(&document(&server)).header("cache-control", "no-cache"),
    );
    dcr.client(&id).await.unwrap();
    dcr.client(&id).await.unwrap();
    let mut changed = document(&server);
    changed["client_name"] = "Agent 2".into();
    server.set(
        PATH,
        Reply::json(&changed).header("cache-control", "no-cache"),
    );
    dcr.client(&id).await.unwrap();
    changed["jwks_uri"] = "https://agent.example/jwks.json".into();
    server.set(
        PATH,
        Reply::json(&changed).header("cache-control", "no-cache"),
    );
    dcr.client(&id).await.unwrap();
    server.set(PATH, Reply::status(404));
    assert!(dcr.client(&id).await.is_err());
    assert_eq!(
        *events.lock().unwrap(),
        [
            EventKind::DocumentResolved,
            EventKind::DocumentRefreshed,
            EventKind::DocumentChanged,
            EventKind::DocumentRefreshed,
            EventKind::DocumentChanged,
            EventKind::KeysChanged,
            EventKind::DocumentRefreshed,
            EventKind::DocumentFetchFailed,
        ]
    );
}

/// Draft §4.2: redirect URIs are required for redirect-based grants.
#[tokio::test]
async fn cimd_4_2_redirect_uris_are_required() {
    let server = DocServer::start().await;
    let mut doc = document(&server);
    doc.as_object_mut().unwrap().remove("redirect_uris");
    server.set(PATH, Reply::json(&doc));
    let dcr = service(policy(&server));
    assert!(
        resolve_err(&dcr, &server.url(PATH))
            .await
            .contains("redirect_uris")
    );
}
