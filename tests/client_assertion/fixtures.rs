//! What the assertion tests share: the credentials a token request carries,
//! and a `private_key_jwt` URL client whose keys sit at its `jwks_uri`.

use http::HeaderMap;
use tower_dcr::client_assertion::JWT_BEARER;
use tower_dcr::host::ClientCredentials;

/// The credentials of a token request that carries `assertion` as a
/// `client_assertion` of type `jwt-bearer` (RFC 7523 §2.2), with `client_id`
/// in the form when given.
pub(crate) fn credentials(client_id: Option<&str>, assertion: &str) -> ClientCredentials {
    ClientCredentials::from_request_with_assertion(
        &HeaderMap::new(),
        client_id,
        None,
        Some(JWT_BEARER),
        Some(assertion),
    )
    .unwrap()
}

#[cfg(feature = "client-id-metadata-document")]
pub(crate) use url_client::{JWKS, PATH, url_client};

#[cfg(feature = "client-id-metadata-document")]
mod url_client {
    use serde_json::{Value, json};
    use tower_dcr::Registration;
    use tower_dcr::client_assertion::ClientAssertions;
    use tower_dcr::metadata_document::MetadataDocuments;

    use crate::cimd_support::{DocServer, ISSUER, Reply, TestKey};

    /// Where the URL client's metadata document is served.
    pub(crate) const PATH: &str = "/agent.json";
    /// Where its key set is served.
    pub(crate) const JWKS: &str = "/jwks.json";

    /// A `private_key_jwt` URL client whose key set at `jwks_uri` is `keys`,
    /// and a service that resolves it under `rules`: the document server,
    /// the service and the client id.
    pub(crate) async fn url_client(
        rules: ClientAssertions,
        keys: &[&TestKey],
    ) -> (DocServer, Registration, String) {
        let server = DocServer::start().await;
        let id = server.url(PATH);
        let jwks: Vec<Value> = keys.iter().map(|k| k.jwk.clone()).collect();
        server.set(JWKS, Reply::json(&json!({ "keys": jwks })));
        server.set(
            PATH,
            Reply::json(&json!({
                "client_id": id,
                "client_name": "Agent",
                "redirect_uris": ["http://127.0.0.1/cb"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": server.url(JWKS),
            })),
        );
        let dcr = Registration::builder(ISSUER)
            .open()
            .metadata_documents(
                MetadataDocuments::any_host()
                    .loopback_documents(true)
                    .root_certificate_pem(server.ca_pem.clone()),
            )
            .client_assertions(rules)
            .build()
            .unwrap();
        (server, dcr, id)
    }
}
