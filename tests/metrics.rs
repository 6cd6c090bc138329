//! Metrics through the `metrics` facade (feature `metrics`), read back as a
//! Prometheus scrape would see them.
#![cfg(feature = "metrics")]

mod common;

use std::future::Future;

use common::*;
use metrics_exporter_prometheus::PrometheusBuilder;
use serde_json::json;
use tower_dcr::metrics::{
    MANAGEMENT, RATE_LIMITED, REGISTRATIONS, REJECTIONS, REQUEST_DURATION, STORE_DURATION,
};

/// Runs `body` on a current-thread runtime with a Prometheus recorder
/// installed for this thread only, and returns the text exposition.
fn scrape<F: Future<Output = ()>>(body: impl FnOnce() -> F) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(body());
    });
    handle.render()
}

/// The value of the sample whose line starts with `name{` and holds every
/// label in `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Registrations are counted by outcome and RFC 7591 error code; management
/// requests by operation and outcome; rejections by status and code; every
/// request and store call is timed.
#[test]
fn registrations_management_and_rejections_are_counted_by_outcome_and_code() {
    let registered_id = std::cell::RefCell::new(String::new());
    let text = scrape(|| async {
        let dcr = open();
        let a = registered(&dcr, web_client()).await;
        *registered_id.borrow_mut() = a.str("client_id").to_owned();
        register(
            &dcr,
            json!({"redirect_uris": ["http://client.example.org/cb"]}),
        )
        .await
        .assert_error(400, "invalid_redirect_uri");
        let path = client_path(&a);
        read(&dcr, &path, &rat(&a)).await;
        read(&dcr, &path, "wrong-token")
            .await
            .assert_error(401, "invalid_token");
        delete(&dcr, &path, &rat(&a)).await;
    });
    let count = |name: &str, labels: &[&str]| sample(&text, name, labels);
    assert_eq!(
        count(
            REGISTRATIONS,
            &[r#"outcome="registered""#, r#"error="none""#]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count(
            REGISTRATIONS,
            &[r#"outcome="rejected""#, r#"error="invalid_redirect_uri""#]
        ),
        Some(1.0)
    );
    assert_eq!(
        count(MANAGEMENT, &[r#"operation="read""#, r#"outcome="ok""#]),
        Some(1.0)
    );
    assert_eq!(
        count(
            MANAGEMENT,
            &[
                r#"operation="read""#,
                r#"outcome="rejected""#,
                r#"error="invalid_token""#
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        count(MANAGEMENT, &[r#"operation="delete""#, r#"outcome="ok""#]),
        Some(1.0)
    );
    assert_eq!(
        count(REJECTIONS, &[r#"operation="register""#, r#"status="400""#]),
        Some(1.0)
    );
    assert_eq!(
        count(REJECTIONS, &[r#"operation="read""#, r#"status="401""#]),
        Some(1.0)
    );
    // Histograms render as summaries: a _count per label set.
    assert_eq!(
        count(
            &format!("{REQUEST_DURATION}_count"),
            &[r#"operation="register""#]
        ),
        Some(2.0)
    );
    assert_eq!(
        count(
            &format!("{STORE_DURATION}_count"),
            &[r#"operation="create""#, r#"outcome="ok""#]
        ),
        Some(1.0)
    );
    assert!(
        count(
            &format!("{STORE_DURATION}_count"),
            &[r#"operation="get""#, r#"outcome="ok""#]
        )
        .is_some_and(|n| n >= 2.0)
    );
    // No label carries a client identifier.
    let client_id = registered_id.take();
    assert!(!client_id.is_empty());
    assert!(!text.contains(&client_id), "{text}");
}

/// Registrations refused by the rate limit are counted (`429`).
#[test]
fn rate_limited_registrations_are_counted() {
    let text = scrape(|| async {
        let dcr = builder()
            .rate_limit(tower_dcr::rate_limit::RateLimit::per_period(
                std::num::NonZeroU32::new(1).unwrap(),
                std::time::Duration::from_secs(60),
            ))
            .build()
            .unwrap();
        let peer: std::net::SocketAddr = "203.0.113.7:5000".parse().unwrap();
        for _ in 0..3 {
            let mut request =
                common::request(http::Method::POST, "/register", None, Some(&web_client()));
            request.extensions_mut().insert(peer);
            send(&dcr, request).await;
        }
    });
    assert_eq!(sample(&text, RATE_LIMITED, &[]), Some(2.0), "{text}");
    assert_eq!(
        sample(&text, REJECTIONS, &[r#"status="429""#]),
        Some(2.0),
        "{text}"
    );
}
