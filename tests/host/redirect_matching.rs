//! RFC 6749 §3.1.2.3 and RFC 8252 §7.3: matching a presented redirect URI
//! against the registered ones, on the edges the redirect_uri fuzz target
//! explores.

use crate::common;

use common::*;
use serde_json::{Value, json};
use tower_dcr::ClientMetadata;

/// Registers `uri` for a native client and returns the stored metadata.
async fn native_client(uri: &str) -> ClientMetadata {
    let answer = registered(
        &open(),
        json!({"application_type": "native", "redirect_uris": [uri], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let Value::Object(object) = answer.json else {
        unreachable!()
    };
    ClientMetadata::from_json_object(object).unwrap()
}

/// RFC 8252 §7.3: any port on the registered loopback host, and nothing else:
/// not another host, path or query, not userinfo tricks, not another scheme.
#[tokio::test]
async fn rfc8252_7_3_loopback_matches_any_port_and_nothing_else() {
    for registered in [
        "http://127.0.0.1/cb",
        "http://[::1]:8080/cb",
        "http://localhost/cb?x=1",
    ] {
        let m = native_client(registered).await;
        let (host, rest) = registered
            .strip_prefix("http://")
            .unwrap()
            .split_once('/')
            .unwrap();
        let host = host
            .rsplit_once(':')
            .filter(|_| !host.ends_with(']'))
            .map_or(host, |(h, _)| h);
        assert!(m.matches_redirect_uri(registered));
        assert!(m.matches_redirect_uri(&format!("http://{host}:51234/{rest}")));
        assert!(m.matches_redirect_uri(&format!("http://{host}/{rest}")));
        for presented in [
            format!("https://{host}:51234/{rest}"),
            format!("http://{host}:51234/{rest}x"),
            format!("http://{host}:51234/{rest}#f"),
            format!("http://{host}:51234@evil.example/{rest}"),
            format!("http://{host}@evil.example/{rest}"),
            format!("http://{host}:/{rest}"),
            format!("http://{host}:12a/{rest}"),
            format!("http://evil.example:51234/{rest}"),
            format!("http://{host}.evil.example/{rest}"),
            format!("http://{host}:51234\\@evil.example/{rest}"),
        ] {
            assert!(
                !m.matches_redirect_uri(&presented),
                "{registered} matched {presented}"
            );
        }
    }
}

/// Only http loopback redirects are port-agnostic: an https or private-use
/// redirect must match exactly.
#[tokio::test]
async fn other_redirects_match_exactly() {
    // (A native https loopback URI is refused at registration, RFC 8252 §7.3:
    // tests/registration/metadata_rules.rs.)
    let m = native_client("com.example.app:/cb").await;
    assert!(!m.matches_redirect_uri("com.example.app:/cb/"));
    assert!(!m.matches_redirect_uri("COM.EXAMPLE.APP:/cb"));
}

/// A port is at most 65535 (RFC 3986 §3.2.3 with RFC 793): a presented URI
/// whose "port" is larger is not a URI a user agent can be sent to, and must
/// not match.
///
/// Found by review of the redirect_uri fuzz target's tolerance. Fix in
/// `without_loopback_port` (src/metadata/redirect_uri.rs:173, the digit check):
/// require `digits.parse::<u16>().is_ok()` instead of "all ASCII digits".
#[tokio::test]
async fn loopback_port_over_65535_does_not_match() {
    let m = native_client("http://127.0.0.1/cb").await;
    assert!(!m.matches_redirect_uri("http://127.0.0.1:65536/cb"));
    assert!(!m.matches_redirect_uri("http://127.0.0.1:99999999999999999999/cb"));
}

/// RFC 8252 §7.3 (any port) holds for every loopback redirect URI the server
/// accepts. The validator reads the host through the URL parser (so `127.1`,
/// `0x7f.1`, `LOCALHOST` and `[0:0::1]` are loopback), while the matcher
/// compares the host text with `localhost`, `127.0.0.1` and `[::1]` only, so
/// such a registration is accepted and then never matches on another port.
///
/// Found by review of the redirect_uri fuzz target. Fix in `classify`
/// (src/metadata/redirect_uri.rs:62): count a host as loopback only when its text
/// in the URI is exactly `localhost`, `127.0.0.1` or `[::1]` (what RFC 8252
/// §7.3 and §8.3 name), so the rest are refused as http on a non-loopback host.
#[tokio::test]
async fn every_accepted_loopback_redirect_matches_any_port() {
    for uri in [
        "http://127.1/cb",
        "http://LOCALHOST/cb",
        "http://[0:0::1]/cb",
        "http://0x7f.1/cb",
    ] {
        let answer = register(
            &open(),
            json!({"application_type": "native", "redirect_uris": [uri], "token_endpoint_auth_method": "none"}),
        )
        .await;
        if answer.status != 201 {
            continue;
        }
        let Value::Object(object) = answer.json else {
            unreachable!()
        };
        let m = ClientMetadata::from_json_object(object).unwrap();
        let with_port = uri.replacen("/cb", "", 1) + ":51234/cb";
        assert!(
            m.matches_redirect_uri(&with_port),
            "{uri} registered, {with_port} refused"
        );
    }
}

/// RFC 8252 §7.3 lets *native* clients use any port on a loopback redirect;
/// RFC 9700 §2.1 asks for exact string matching of every other redirect URI.
/// A web client registering `http://127.0.0.1:8080/cb` (allowed by the default
/// profile) must present that exact string, port included, at the
/// authorization endpoint; a native client with the same URI may use any port.
#[tokio::test]
async fn rfc8252_7_3_any_port_is_for_native_clients_only_rfc9700_2_1_exact_for_web() {
    let dcr = open();
    for (application_type, any_port) in [("native", true), ("web", false)] {
        for uri in [
            "http://127.0.0.1:8080/cb",
            "http://localhost/cb",
            "http://[::1]:1234/cb",
        ] {
            let answer = registered(
                &dcr,
                json!({"application_type": application_type, "redirect_uris": [uri],
                       "token_endpoint_auth_method": "none"}),
            )
            .await;
            let client_id = answer.str("client_id");
            let exact = dcr.check_redirect_uri(client_id, Some(uri)).await;
            assert_eq!(exact.unwrap().1, uri, "{application_type} {uri}");
            let other_port = uri
                .replacen(":8080/", ":51234/", 1)
                .replacen("localhost/", "localhost:51234/", 1)
                .replacen(":1234/", ":51234/", 1);
            let moved = dcr
                .check_redirect_uri(client_id, Some(other_port.as_str()))
                .await;
            if any_port {
                assert_eq!(
                    moved.unwrap().1,
                    other_port,
                    "{application_type} {other_port}"
                );
            } else {
                assert_eq!(
                    moved.unwrap_err(),
                    tower_dcr::host::RedirectError::Mismatch,
                    "{application_type} {other_port}"
                );
            }
        }
    }
}
