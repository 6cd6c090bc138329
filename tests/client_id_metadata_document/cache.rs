//! URL client ids: caching metadata documents
//! (draft-ietf-oauth-client-id-metadata-document-03 §5.2, RFC 9111), end to
//! end against the https document server of `cimd_support`.
#![cfg(all(feature = "client-id-metadata-document", feature = "client-assertion"))]

use crate::cimd_support;

use std::time::Duration;

use cimd_support::documents::{PATH, document, policy, served, service};
use cimd_support::{DocServer, Reply};
use serde_json::json;
use tower_dcr::metadata_document::CacheBounds;

/// Draft §5.2 / RFC 9111: `max-age` is honoured.
#[tokio::test]
async fn cimd_5_2_max_age_is_honoured() {
    let (server, dcr) = served(Reply::json(&json!(null))).await;
    server.set(
        PATH,
        Reply::json(&document(&server)).header("cache-control", "max-age=1"),
    );
    let id = server.url(PATH);
    for _ in 0..3 {
        assert!(dcr.client(&id).await.unwrap().is_some());
    }
    assert_eq!(server.hits(PATH), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(dcr.client(&id).await.unwrap().is_some());
    assert_eq!(server.hits(PATH), 2);
}

/// Draft §5.2: the lower bound raises a short lifetime.
#[tokio::test]
async fn cimd_5_2_the_lower_bound_raises_short_lifetimes() {
    let server = DocServer::start().await;
    server.set(
        PATH,
        Reply::json(&document(&server)).header("cache-control", "max-age=0"),
    );
    let dcr = service(policy(&server).cache_bounds(CacheBounds {
        min: Duration::from_secs(60),
        ..CacheBounds::default()
    }));
    for _ in 0..3 {
        dcr.client(&server.url(PATH)).await.unwrap();
    }
    assert_eq!(server.hits(PATH), 1);
}

/// RFC 9111 §5.2.2.5: `no-store` is never cached, whatever the bounds.
#[tokio::test]
async fn cimd_5_2_no_store_is_honoured() {
    let server = DocServer::start().await;
    server.set(
        PATH,
        Reply::json(&document(&server)).header("cache-control", "no-store"),
    );
    let dcr = service(policy(&server).cache_bounds(CacheBounds::default()));
    for _ in 0..3 {
        assert!(dcr.client(&server.url(PATH)).await.unwrap().is_some());
    }
    assert_eq!(server.hits(PATH), 3);
}

/// Draft §5.2: MUST NOT cache error responses, nor invalid documents.
#[tokio::test]
async fn cimd_5_2_errors_and_invalid_documents_are_not_cached() {
    let (server, dcr) = served(Reply::status(404)).await;
    let id = server.url(PATH);
    assert!(dcr.client(&id).await.is_err());
    assert!(dcr.client(&id).await.is_err());
    assert_eq!(server.hits(PATH), 2);
    let mut invalid = document(&server);
    invalid["client_secret"] = "x".into();
    server.set(
        PATH,
        Reply::json(&invalid).header("cache-control", "max-age=600"),
    );
    assert!(dcr.client(&id).await.is_err());
    assert!(dcr.client(&id).await.is_err());
    assert_eq!(server.hits(PATH), 4);
    server.set(
        PATH,
        Reply::json(&document(&server)).header("cache-control", "max-age=600"),
    );
    assert!(dcr.client(&id).await.unwrap().is_some());
    assert!(dcr.client(&id).await.unwrap().is_some());
    assert_eq!(server.hits(PATH), 5);
}

/// One fetch for 100 concurrent resolutions of the same URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cimd_5_2_one_fetch_for_100_concurrent_resolutions() {
    let server = DocServer::start().await;
    server.set(
        PATH,
        Reply::json(&document(&server)).delay(Duration::from_millis(300)),
    );
    let dcr = service(policy(&server));
    let id = server.url(PATH);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let dcr = dcr.clone();
            let id = id.clone();
            tokio::spawn(async move { dcr.client(&id).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().unwrap().is_some());
    }
    assert_eq!(server.hits(PATH), 1);
}

/// The decision for a failed refresh: a stale document is served while the
/// refresh fails transiently (5xx, no answer), within `stale_if_error`; an
/// answered failure (4xx, invalid document) drops it at once.
#[tokio::test]
async fn cimd_5_2_a_failed_refresh_serves_stale_only_on_transient_errors() {
    let (server, dcr) = served(Reply::json(&json!(null))).await;
    let id = server.url(PATH);
    server.set(
        PATH,
        Reply::json(&document(&server)).header("cache-control", "max-age=1"),
    );
    dcr.client(&id).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server.set(PATH, Reply::status(503));
    assert!(dcr.client(&id).await.unwrap().is_some(), "stale on 503");
    server.set(PATH, Reply::status(404));
    assert!(dcr.client(&id).await.is_err(), "404 withdraws it");
    server.set(PATH, Reply::status(503));
    assert!(dcr.client(&id).await.is_err(), "nothing stale left");
}
