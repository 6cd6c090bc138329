//! Conformance cases for the quota capability ([`QuotaStore`]): a create
//! within quotas stops at each limit, counts only dynamically registered
//! clients, frees a place on every deletion, follows an update, and never
//! overshoots under concurrent creates.

use std::sync::Arc;

use super::*;
use crate::store::{QuotaFull, QuotaStore, Quotas};

fn quotas_of<'s>(store: &'s dyn ClientStore, case: &str) -> Option<&'s dyn QuotaStore> {
    let quotas = store.quotas();
    if quotas.is_none() {
        skip(case, "quota");
    }
    quotas
}

async fn within(
    quotas: &dyn QuotaStore,
    record: ClientRecord,
    limits: &Quotas,
) -> Option<QuotaFull> {
    let id = record.client_id.clone();
    ok(
        quotas.create_within(Arc::new(record), limits).await,
        &format!("create_within {id}"),
    )
}

fn with(id: &str, software_id: Option<&str>, token: Option<&str>) -> ClientRecord {
    let mut record = sample_record(id);
    record.metadata.software_id = software_id.map(str::to_owned);
    record.initial_access_token_id = token.map(str::to_owned);
    record
}

/// RFC 7591 §3 quotas: each limit (in all, per `software_id`, per initial
/// access token) stops the registration that would exceed it, names itself,
/// and stores nothing; host-created clients are never counted.
pub(super) async fn create_within_stops_at_each_quota(store: Arc<dyn ClientStore>) {
    let Some(quotas) = quotas_of(&*store, "create_within_stops_at_each_quota") else {
        return;
    };
    let mut host = sample_record("host");
    host.source = RecordSource::Host;
    create(&*store, host).await;
    let limits = Quotas {
        max_clients: Some(3),
        max_per_software_id: Some(1),
        max_per_initial_access_token: Some(1),
    };
    assert_eq!(
        within(quotas, with("a", Some("app"), None), &limits).await,
        None
    );
    assert_eq!(
        within(quotas, with("b", Some("app"), None), &limits).await,
        Some(QuotaFull::SoftwareId),
        "a second client with one software_id must not fit under a quota of 1"
    );
    assert!(
        ok(store.get("b").await, "get b").is_none(),
        "a refused create must store nothing"
    );
    assert_eq!(
        within(quotas, with("c", None, Some("t1")), &limits).await,
        None
    );
    assert_eq!(
        within(quotas, with("d", None, Some("t1")), &limits).await,
        Some(QuotaFull::InitialAccessToken)
    );
    assert_eq!(
        within(quotas, with("e", Some("other"), Some("t2")), &limits).await,
        None
    );
    assert_eq!(
        within(quotas, with("f", None, None), &limits).await,
        Some(QuotaFull::Clients),
        "the host client must not count: three dynamic clients fill a quota of 3"
    );
    assert_eq!(
        within(quotas, with("g", None, None), &Quotas::default()).await,
        None,
        "without limits a create always fits"
    );
    let none = Quotas {
        max_clients: Some(0),
        ..Quotas::default()
    };
    assert_eq!(
        within(quotas, with("h", None, None), &none).await,
        Some(QuotaFull::Clients)
    );
    if let Some(lifecycle) = store.lifecycle() {
        let dynamic = ClientFilter {
            source: Some(RecordSource::Dynamic),
            ..ClientFilter::default()
        };
        assert_eq!(ok(lifecycle.count_clients(&dynamic).await, "count"), 4);
        let app = ClientFilter {
            software_id: Some("app"),
            ..dynamic
        };
        assert_eq!(ok(lifecycle.count_clients(&app).await, "count app"), 1);
    }
}

/// A create within quotas of an existing `client_id` is a conflict and takes
/// no place.
pub(super) async fn create_within_conflict_takes_no_place(store: Arc<dyn ClientStore>) {
    let Some(quotas) = quotas_of(&*store, "create_within_conflict_takes_no_place") else {
        return;
    };
    let limits = Quotas {
        max_clients: Some(2),
        ..Quotas::default()
    };
    assert_eq!(within(quotas, with("a", None, None), &limits).await, None);
    assert!(
        matches!(
            quotas
                .create_within(Arc::new(with("a", None, None)), &limits)
                .await,
            Err(StoreError::Conflict)
        ),
        "an existing client_id must be a conflict"
    );
    assert_eq!(
        within(quotas, with("b", None, None), &limits).await,
        None,
        "a conflicting create must not have taken a place"
    );
}

/// Deleting a client, by `delete` or by a sweep's `delete_if_stale`, frees
/// its places, and an update that changes the `software_id` moves it.
pub(super) async fn deletions_and_updates_move_the_counts(store: Arc<dyn ClientStore>) {
    let Some(quotas) = quotas_of(&*store, "deletions_and_updates_move_the_counts") else {
        return;
    };
    let limits = Quotas {
        max_clients: Some(2),
        max_per_software_id: Some(1),
        ..Quotas::default()
    };
    assert_eq!(
        within(quotas, with("a", Some("app"), None), &limits).await,
        None
    );
    assert_eq!(within(quotas, with("b", None, None), &limits).await, None);
    assert_eq!(
        within(quotas, with("c", None, None), &limits).await,
        Some(QuotaFull::Clients)
    );
    assert!(ok(store.delete("b", None).await, "delete b"));
    assert_eq!(
        within(quotas, with("c", None, None), &limits).await,
        None,
        "a deleted client must free its place"
    );
    // An update moves "a" from "app" to "other": "app" has room again.
    let mut moved = with("a", Some("other"), None);
    moved.revision = 2;
    ok(store.update(Arc::new(moved), 1).await, "update a");
    assert!(ok(store.delete("c", Some(1)).await, "delete c"));
    assert_eq!(
        within(quotas, with("d", Some("other"), None), &limits).await,
        Some(QuotaFull::SoftwareId),
        "an update must move the client to its new software_id"
    );
    assert_eq!(
        within(quotas, with("d", Some("app"), None), &limits).await,
        None,
        "an update must free the place of the old software_id"
    );
    if let Some(lifecycle) = store.lifecycle() {
        let criteria = StaleCriteria {
            unused_created_before: Some(NOW + 1),
            idle_since: None,
        };
        assert!(ok(
            lifecycle.delete_if_stale("d", &criteria).await,
            "sweep d"
        ));
        assert_eq!(
            within(quotas, with("e", None, None), &limits).await,
            None,
            "a client removed by a sweep must free its place"
        );
    }
}

/// Concurrent creates within quotas fill a quota exactly, never beyond.
pub(super) async fn concurrent_creates_never_overshoot(store: Arc<dyn ClientStore>) {
    if quotas_of(&*store, "concurrent_creates_never_overshoot").is_none() {
        return;
    }
    let limits = Quotas {
        max_clients: Some(5),
        max_per_software_id: Some(3),
        ..Quotas::default()
    };
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = Arc::clone(&store);
            let limits = limits.clone();
            tokio::spawn(async move {
                let quotas = store.quotas().expect("quota capability");
                let software_id = (i % 2 == 0).then_some("app");
                let record = with(&format!("racer-{i:02}"), software_id, None);
                ok(
                    quotas.create_within(Arc::new(record), &limits).await,
                    "race",
                )
            })
        })
        .collect();
    let mut stored = 0;
    let mut with_app = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        if task.await.expect("racer task").is_none() {
            stored += 1;
            with_app += usize::from(i % 2 == 0);
        }
    }
    assert_eq!(
        stored, 5,
        "concurrent creates must fill the quota of 5 exactly"
    );
    assert!(
        with_app <= 3,
        "{with_app} clients with one software_id, quota 3"
    );
}
