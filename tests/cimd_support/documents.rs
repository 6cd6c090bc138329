//! Shared fixtures of the URL-client tests: one document, one policy.

use std::time::Duration;

use serde_json::{Value, json};
use tower_dcr::Registration;
use tower_dcr::host::ResolveError;
use tower_dcr::metadata_document::{CacheBounds, FetchBounds, MetadataDocuments};

use super::{DocServer, ISSUER, Reply};

/// The document's path on the test server.
pub const PATH: &str = "/oauth/client.json";

/// A valid public client document at [`PATH`].
pub fn document(server: &DocServer) -> Value {
    json!({
        "client_id": server.url(PATH),
        "client_name": "Agent",
        "redirect_uris": ["http://127.0.0.1/callback", "https://agent.example/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

/// Any host, loopback documents (the server is on loopback too), the test CA,
/// no lower cache bound, no pause after a failed fetch (these tests change a
/// document between lookups; the fetch bounds have their own tests in
/// tests/client_id_metadata_document/fetch_bounds.rs, with their own policy).
pub fn policy(server: &DocServer) -> MetadataDocuments {
    MetadataDocuments::any_host()
        .loopback_documents(true)
        .root_certificate_pem(server.ca_pem.clone())
        .cache_bounds(CacheBounds {
            min: Duration::ZERO,
            ..CacheBounds::default()
        })
        .fetch_bounds(FetchBounds {
            failure_backoff: Duration::ZERO,
            ..FetchBounds::default()
        })
}

/// An open service with this URL-client policy.
pub fn service(policy: MetadataDocuments) -> Registration {
    Registration::builder(ISSUER)
        .open()
        .metadata_documents(policy)
        .client_assertions(tower_dcr::client_assertion::ClientAssertions::new())
        .build()
        .unwrap()
}

/// A document server answering `reply` at [`PATH`], and a service.
pub async fn served(reply: Reply) -> (DocServer, Registration) {
    let server = DocServer::start().await;
    server.set(PATH, reply);
    let dcr = service(policy(&server));
    (server, dcr)
}

/// The text of the document error a lookup must end in.
pub async fn resolve_err(dcr: &Registration, id: &str) -> String {
    match dcr.client(id).await {
        Err(ResolveError::Document(e)) => e.to_string(),
        other => panic!("expected a document error, got {other:?}"),
    }
}
