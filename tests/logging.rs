//! Logs never contain a secret: the only test in its binary, so that a global
//! subscriber captures every log line from every thread.

mod common;

use common::*;
use http::HeaderMap;
use serde_json::json;
use tower_dcr::Registration;
use tower_dcr::host::ClientCredentials;

/// Basic credentials (RFC 6749 §2.3.1) as request headers.
fn basic(client_id: &str, secret: &str) -> HeaderMap {
    authorization_header(&basic_authorization(client_id, secret))
}

/// All log output at the most verbose level, during register, read, update,
/// delete and client authentication, contains no issued secret or token.
#[test]
fn logs_never_contain_secrets() {
    let logs = Logs::default();
    let subscriber = logs.subscriber(tracing::Level::TRACE);
    // The only test in this binary: a global subscriber sees every thread.
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let secrets = {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let dcr = Registration::builder(ISSUER)
                    .access(tower_dcr::Access::protected(["initial-token-xyz"]))
                    .build()
                    .unwrap();
                let a = register_with(&dcr, "initial-token-xyz", web_client()).await;
                let path = client_path(&a);
                let rat = a.str("registration_access_token").to_owned();
                let secret = a.str("client_secret").to_owned();
                read(&dcr, &path, &rat).await;
                let mut body = web_client();
                body["client_id"] = a.json["client_id"].clone();
                body["client_secret"] = json!(secret);
                let u = update(&dcr, &path, &rat, body).await;
                let rat2 = u.str("registration_access_token").to_owned();
                read(&dcr, &path, "wrong-token").await;
                let creds = ClientCredentials::from_request(
                    &basic(a.str("client_id"), &secret),
                    None,
                    None,
                )
                .unwrap();
                dcr.authenticate_client(&creds).await.unwrap();
                delete(&dcr, &path, &rat2).await;
                vec![rat, rat2, secret, "initial-token-xyz".to_owned()]
            })
    };
    let logs = logs.text();
    assert!(
        logs.contains("client registered"),
        "the subscriber captured the logs"
    );
    for secret in secrets {
        assert!(!logs.contains(&secret), "a secret leaked into the logs");
    }
}
