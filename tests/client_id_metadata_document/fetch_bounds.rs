//! URL client ids: bounds on metadata document fetches. Anyone can name any
//! https URL as a `client_id`, so the server must not fetch at the caller's
//! rate: a failed URL is paused, each host gets a rate and a share of the
//! fetches in flight. A lookup over a bound is a temporary failure (`503`
//! `temporarily_unavailable`), never an error served as if it were the
//! document (draft-ietf-oauth-client-id-metadata-document §5.2 forbids caching
//! errors, not throttling) and never `invalid_client`.
//! Fetches are counted at a local https document server.
#![cfg(all(feature = "client-id-metadata-document", feature = "client-assertion"))]

use crate::cimd_support;

use std::time::Duration;

use cimd_support::{DocServer, ISSUER, Reply};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tower_dcr::Registration;
use tower_dcr::host::{
    ClientAuthError, ClientCredentials, RedirectError, ResolveError, TokenError,
};
use tower_dcr::metadata_document::{FetchBounds, MetadataDocuments};

fn document(server: &DocServer, path: &str) -> Value {
    json!({
        "client_id": server.url(path),
        "redirect_uris": ["https://agent.example/cb"],
        "token_endpoint_auth_method": "none",
    })
}

fn service(server: &DocServer, bounds: FetchBounds) -> Registration {
    Registration::builder(ISSUER)
        .open()
        .metadata_documents(
            MetadataDocuments::any_host()
                .loopback_documents(true)
                .root_certificate_pem(server.ca_pem.clone())
                .fetch_bounds(bounds),
        )
        .build()
        .unwrap()
}

fn is_throttled(
    outcome: &Result<Option<std::sync::Arc<tower_dcr::ClientRecord>>, ResolveError>,
) -> bool {
    matches!(outcome, Err(ResolveError::Throttled { retry_after }) if !retry_after.is_zero())
}

/// The attack: 200 `/authorize` and `/token` lookups naming one URL client id
/// that answers 404 made 200 fetches. With the default bounds they make one;
/// the others are answered as a temporary failure (authorization endpoint:
/// `RedirectError::Throttled`; token endpoint: `503 temporarily_unavailable`,
/// RFC 6749 §5.2 has no code for it), not as `invalid_client`.
#[tokio::test]
async fn fetch_bounds_200_lookups_of_a_failing_url_make_one_fetch() {
    let server = DocServer::start().await;
    let dcr = service(&server, FetchBounds::default());
    let id = server.url("/missing.json");
    match dcr.client(&id).await {
        Err(ResolveError::Document(error)) => assert!(error.to_string().contains("404")),
        other => panic!("the first lookup fetches and fails: {other:?}"),
    }
    let credentials =
        ClientCredentials::from_request(&HeaderMap::new(), Some(id.as_str()), None).unwrap();
    for i in 0..199 {
        if i % 2 == 0 {
            match dcr.check_redirect_uri(&id, None).await {
                Err(RedirectError::Throttled { retry_after }) => {
                    assert!(retry_after <= Duration::from_secs(30), "{retry_after:?}");
                }
                other => panic!("{other:?}"),
            }
        } else {
            let error = dcr.authenticate_client(&credentials).await.unwrap_err();
            assert!(
                matches!(error, ClientAuthError::Throttled { .. }),
                "{error:?}"
            );
            assert_eq!(error.error_code(), "temporarily_unavailable");
            let answer = TokenError::from_client_auth(&error, &HeaderMap::new());
            assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(answer.error_code(), "temporarily_unavailable");
        }
    }
    assert_eq!(server.hits("/missing.json"), 1);
}

/// The same with 16 concurrent workers (the attack's second form): the
/// lookups share one fetch or are paused, whatever their interleaving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_bounds_16_concurrent_workers_on_a_failing_url_make_one_fetch() {
    let server = DocServer::start().await;
    server.set(
        "/slow.json",
        Reply::status(404).delay(Duration::from_millis(200)),
    );
    let dcr = service(&server, FetchBounds::default());
    let id = server.url("/slow.json");
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (dcr, id) = (dcr.clone(), id.clone());
            tokio::spawn(async move {
                for _ in 0..20 {
                    assert!(dcr.client(&id).await.is_err());
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(server.hits("/slow.json"), 1);
}

/// The pause after a failure is short and bounded: once it has passed, the
/// URL is fetched again (a client that fixed its document is not locked
/// out), and a success ends the pause at once.
#[tokio::test]
async fn fetch_bounds_a_failed_url_is_fetched_again_after_the_backoff() {
    let server = DocServer::start().await;
    let dcr = service(
        &server,
        FetchBounds {
            failure_backoff: Duration::from_secs(1),
            ..FetchBounds::default()
        },
    );
    let id = server.url("/c.json");
    assert!(matches!(
        dcr.client(&id).await,
        Err(ResolveError::Document(_))
    ));
    server.set(
        "/c.json",
        Reply::json(&document(&server, "/c.json")).header("cache-control", "no-store"),
    );
    assert!(is_throttled(&dcr.client(&id).await));
    assert_eq!(server.hits("/c.json"), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(dcr.client(&id).await.unwrap().is_some());
    // no-store: every lookup fetches, and nothing pauses a good document.
    assert!(dcr.client(&id).await.unwrap().is_some());
    assert_eq!(server.hits("/c.json"), 3);
}

/// Per host: distinct URLs on one host (an attacker varying the path) get at
/// most `per_host` fetches per interval; the rest are throttled without a
/// fetch. Another host is not affected.
#[tokio::test]
async fn fetch_bounds_one_host_gets_at_most_per_host_fetches_per_interval() {
    let server = DocServer::start().await;
    let dcr = service(
        &server,
        FetchBounds {
            per_host: 5,
            per_host_interval: Duration::from_secs(3600),
            ..FetchBounds::default()
        },
    );
    let mut throttled = 0;
    for i in 0..40 {
        let outcome = dcr.client(&server.url(&format!("/c/{i}.json"))).await;
        throttled += usize::from(is_throttled(&outcome));
    }
    let fetches: usize = (0..40).map(|i| server.hits(&format!("/c/{i}.json"))).sum();
    assert_eq!(fetches, 5);
    assert_eq!(throttled, 35);
    // Same server, another host name: its own share.
    let other = format!("https://localhost:{}/other.json", server.port);
    server.set(
        "/other.json",
        Reply::json(&json!({
            "client_id": other,
            "redirect_uris": ["https://agent.example/cb"],
            "token_endpoint_auth_method": "none",
        })),
    );
    assert!(dcr.client(&other).await.unwrap().is_some());
    assert_eq!(server.hits("/other.json"), 1);
}

/// Per host in flight: with slow answers, at most `max_in_flight_per_host`
/// fetches to one host run at once; concurrent lookups of other URLs on it
/// are throttled instead of opening more connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_bounds_fetches_in_flight_to_one_host_are_bounded() {
    let server = DocServer::start().await;
    for i in 0..10 {
        let path = format!("/slow/{i}.json");
        server.set(
            &path,
            Reply::json(&document(&server, &path)).delay(Duration::from_millis(500)),
        );
    }
    let dcr = service(
        &server,
        FetchBounds {
            max_in_flight_per_host: 2,
            ..FetchBounds::default()
        },
    );
    let lookups: Vec<_> = (0..10)
        .map(|i| {
            let dcr = dcr.clone();
            let id = server.url(&format!("/slow/{i}.json"));
            tokio::spawn(async move { dcr.client(&id).await })
        })
        .collect();
    let mut resolved = 0;
    for lookup in lookups {
        let outcome = lookup.await.unwrap();
        if outcome.as_ref().is_ok_and(Option::is_some) {
            resolved += 1;
        } else {
            assert!(is_throttled(&outcome), "{outcome:?}");
        }
    }
    let fetches: usize = (0..10)
        .map(|i| server.hits(&format!("/slow/{i}.json")))
        .sum();
    assert_eq!((resolved, fetches), (2, 2));
}

/// A throttled refresh of a cached document serves the stale copy within
/// `stale_if_error`, like any transient failure (draft §5.2 with RFC 5861):
/// the throttle never turns a good client into an error.
#[tokio::test]
async fn fetch_bounds_a_throttled_refresh_serves_the_stale_document() {
    let server = DocServer::start().await;
    server.set(
        "/a.json",
        Reply::json(&document(&server, "/a.json")).header("cache-control", "max-age=0"),
    );
    let dcr = Registration::builder(ISSUER)
        .open()
        .metadata_documents(
            MetadataDocuments::any_host()
                .loopback_documents(true)
                .root_certificate_pem(server.ca_pem.clone())
                .cache_bounds(tower_dcr::metadata_document::CacheBounds {
                    min: Duration::ZERO,
                    ..Default::default()
                })
                .fetch_bounds(FetchBounds {
                    per_host: 1,
                    per_host_interval: Duration::from_secs(3600),
                    ..FetchBounds::default()
                }),
        )
        .build()
        .unwrap();
    let id = server.url("/a.json");
    assert!(dcr.client(&id).await.unwrap().is_some());
    assert!(dcr.client(&id).await.unwrap().is_some(), "stale, throttled");
    assert_eq!(server.hits("/a.json"), 1);
}

/// Bounds that would let no fetch through are a configuration error, found
/// when the service is built.
#[tokio::test]
async fn fetch_bounds_that_allow_nothing_are_refused_by_the_builder() {
    let server = DocServer::start().await;
    let built = Registration::builder(ISSUER)
        .open()
        .metadata_documents(
            MetadataDocuments::any_host()
                .loopback_documents(true)
                .root_certificate_pem(server.ca_pem.clone())
                .fetch_bounds(FetchBounds {
                    per_host: 0,
                    ..FetchBounds::default()
                }),
        )
        .build();
    assert!(built.is_err());
}
