//! Interoperability: the `openidconnect` crate (a real relying-party library)
//! registers against a listening server (axum on 127.0.0.1) with its own
//! request and response types (OIDC DCR 1.0 §3, RFC 7591 §3).

mod common;

use axum::Router;
use common::*;
use openidconnect::core::{
    CoreApplicationType, CoreClientAuthMethod, CoreClientRegistrationRequest,
    CoreClientRegistrationResponse, CoreGrantType, CoreRegisterErrorResponseType, CoreResponseType,
};
use openidconnect::registration::{ClientRegistrationError, EmptyAdditionalClientMetadata};
use openidconnect::{
    AccessToken, ClientContactEmail, ClientName, ClientUrl, LanguageTag, LocalizedClaim,
    RedirectUrl, RegistrationUrl, ResponseTypes, reqwest,
};
use tower_dcr::Registration;
use tower_dcr::host::ClientCredentials;

/// A server on 127.0.0.1 whose issuer is its own origin.
async fn server(
    configure: impl FnOnce(tower_dcr::RegistrationBuilder) -> tower_dcr::RegistrationBuilder,
) -> (TestServer, Registration) {
    let listener = loopback_listener().await;
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let dcr = configure(Registration::builder(origin)).build().unwrap();
    let app = Router::new().nest_service("/register", dcr.clone());
    (serve_axum(listener, app), dcr)
}

/// The HTTP client openidconnect recommends: no redirects (SSRF), and no proxy
/// so that 127.0.0.1 is reached directly.
fn http_client() -> reqwest::Client {
    reqwest::ClientBuilder::new()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

fn registration_url(server: &TestServer) -> RegistrationUrl {
    RegistrationUrl::new(format!("{}/register", server.origin())).unwrap()
}

fn request(redirect_uris: &[&str]) -> CoreClientRegistrationRequest {
    CoreClientRegistrationRequest::new(
        redirect_uris
            .iter()
            .map(|u| RedirectUrl::new((*u).to_owned()).unwrap())
            .collect(),
        EmptyAdditionalClientMetadata {},
    )
}

/// OIDC DCR 1.0 §3.1–3.2 and RFC 7591 §3.2.1: openidconnect's
/// `CoreClientRegistrationRequest` registers; the `CoreClientRegistrationResponse`
/// it parses carries our `client_id`, a working `client_secret`, the
/// registration access token and URI, and echoes the metadata sent (redirect
/// URIs, localized client name, contacts, response and grant types).
#[tokio::test]
async fn openidconnect_registers_and_parses_the_client_information() {
    let (server, dcr) = server(|b| b.open()).await;
    let client_name: LocalizedClaim<ClientName> = [
        (None, ClientName::new("Interop Client".into())),
        (
            Some(LanguageTag::new("fr".into())),
            ClientName::new("Client d'interop".into()),
        ),
    ]
    .into_iter()
    .collect();
    let request = request(&[
        "https://client.example.org/callback",
        "http://127.0.0.1/native-callback",
    ])
    .set_client_name(Some(client_name))
    .set_client_uri(Some(
        [(
            None,
            ClientUrl::new("https://client.example.org/".into()).unwrap(),
        )]
        .into_iter()
        .collect(),
    ))
    .set_contacts(Some(vec![
        ClientContactEmail::new("ops@client.example.org".into()),
        ClientContactEmail::new("dev@client.example.org".into()),
    ]))
    .set_response_types(Some(vec![ResponseTypes::new(vec![CoreResponseType::Code])]))
    .set_grant_types(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::RefreshToken,
    ]))
    .set_application_type(Some(CoreApplicationType::Web))
    .set_token_endpoint_auth_method(Some(CoreClientAuthMethod::ClientSecretBasic));

    let http = http_client();
    let response: CoreClientRegistrationResponse = request
        .register_async(&registration_url(&server), &http)
        .await
        .expect("openidconnect accepts the registration response");

    let client_id = response.client_id().as_str().to_owned();
    let stored = dcr.client(&client_id).await.unwrap().expect("stored");
    assert_eq!(stored.client_id, client_id);
    let secret = response.client_secret().expect("a client_secret").secret();
    assert_eq!(secret.len(), 43);
    let headers = authorization_header(&basic_authorization(&client_id, secret));
    dcr.authenticate_client(&ClientCredentials::from_request(&headers, None, None).unwrap())
        .await
        .expect("the parsed secret authenticates");
    assert_eq!(
        response
            .registration_client_uri()
            .expect("registration_client_uri")
            .as_str(),
        format!("{}/register/{client_id}", server.origin())
    );
    let token = response
        .registration_access_token()
        .expect("registration_access_token")
        .secret()
        .to_owned();
    assert_eq!(token.len(), 43);
    assert!(response.client_id_issued_at().is_some());

    let redirects: Vec<&str> = response
        .redirect_uris()
        .iter()
        .map(|u| u.as_str())
        .collect();
    assert_eq!(
        redirects,
        [
            "https://client.example.org/callback",
            "http://127.0.0.1/native-callback"
        ]
    );
    let name = response.client_name().expect("client_name");
    assert_eq!(name.get(None).map(|n| n.as_str()), Some("Interop Client"));
    assert_eq!(
        name.get(Some(&LanguageTag::new("fr".into())))
            .map(|n| n.as_str()),
        Some("Client d'interop")
    );
    let contacts: Vec<&str> = response
        .contacts()
        .expect("contacts")
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(
        contacts,
        ["ops@client.example.org", "dev@client.example.org"]
    );
    assert_eq!(
        response.response_types(),
        Some(&vec![ResponseTypes::new(vec![CoreResponseType::Code])])
    );
    assert_eq!(
        response.grant_types(),
        Some(&vec![
            CoreGrantType::AuthorizationCode,
            CoreGrantType::RefreshToken
        ])
    );
    assert_eq!(
        response.token_endpoint_auth_method(),
        Some(&CoreClientAuthMethod::ClientSecretBasic)
    );
    assert_eq!(response.application_type(), Some(&CoreApplicationType::Web));

    // RFC 7592 §2.1: the read response parses as the same type.
    let read = http
        .get(response.registration_client_uri().unwrap().as_str())
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status().as_u16(), 200);
    let read: CoreClientRegistrationResponse =
        serde_json::from_slice(&read.bytes().await.unwrap()).unwrap();
    assert_eq!(read.client_id().as_str(), client_id);
    assert!(read.client_secret().is_none());
    assert_eq!(read.redirect_uris().len(), 2);
}

/// RFC 7591 §3.2.2 as openidconnect reads it: a `javascript:` redirect URI is
/// a `400` that openidconnect parses as `invalid_redirect_uri` with a
/// description.
#[tokio::test]
async fn openidconnect_parses_invalid_redirect_uri() {
    let (server, dcr) = server(|b| b.open()).await;
    let result = request(&["javascript:alert(1)"])
        .register_async(&registration_url(&server), &http_client())
        .await;
    match result {
        Err(ClientRegistrationError::ServerResponse(error)) => {
            assert_eq!(
                error.error(),
                &CoreRegisterErrorResponseType::InvalidRedirectUri
            );
            assert!(
                error
                    .error_description()
                    .is_some_and(|d| d.contains("redirect_uris"))
            );
        }
        other => panic!("expected invalid_redirect_uri, got {other:?}"),
    }
    let lifecycle = dcr.store().lifecycle().expect("memory store lists clients");
    assert_eq!(
        lifecycle.count_clients(&Default::default()).await.unwrap(),
        0
    );
}

/// RFC 7591 §3.2.2 as openidconnect reads it: an invalid metadata value (a
/// contact that is no e-mail address) is `invalid_client_metadata`.
#[tokio::test]
async fn openidconnect_parses_invalid_client_metadata() {
    let (server, _dcr) = server(|b| b.open()).await;
    let result = request(&["https://client.example.org/cb"])
        .set_contacts(Some(vec![ClientContactEmail::new("not an address".into())]))
        .register_async(&registration_url(&server), &http_client())
        .await;
    match result {
        Err(ClientRegistrationError::ServerResponse(error)) => {
            assert_eq!(
                error.error(),
                &CoreRegisterErrorResponseType::InvalidClientMetadata
            );
            assert!(
                error
                    .error_description()
                    .is_some_and(|d| d.contains("contacts"))
            );
        }
        other => panic!("expected invalid_client_metadata, got {other:?}"),
    }
}

/// RFC 7591 §3 (protected registration): openidconnect's initial access token
/// is accepted as a Bearer token; without it the server answers `401`, which
/// openidconnect reports as an unexpected status.
#[tokio::test]
async fn openidconnect_registers_with_an_initial_access_token() {
    let (server, _dcr) =
        server(|b| b.access(tower_dcr::Access::protected(["iat-0123456789"]))).await;
    let http = http_client();
    let registered = request(&["https://client.example.org/cb"])
        .set_initial_access_token(Some(AccessToken::new("iat-0123456789".into())))
        .register_async(&registration_url(&server), &http)
        .await
        .expect("registered with the initial access token");
    assert!(!registered.client_id().as_str().is_empty());

    let refused = request(&["https://client.example.org/cb"])
        .register_async(&registration_url(&server), &http)
        .await;
    match refused {
        Err(ClientRegistrationError::Response(status, _, _)) => assert_eq!(status.as_u16(), 401),
        other => panic!("expected a 401, got {other:?}"),
    }
}
