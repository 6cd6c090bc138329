//! Conformance cases for the lifecycle capability.

use std::sync::Arc;

use super::*;

/// `record_use` sets `last_used_at` without a new revision, never moves it
/// back, ignores unknown clients, and a later update keeps a newer use.
pub(super) async fn record_use_keeps_revision(store: Arc<dyn ClientStore>) {
    let Some(lifecycle) = store.lifecycle() else {
        return skip("record_use_keeps_revision", "lifecycle");
    };
    create(&*store, sample_record("used")).await;
    ok(lifecycle.record_use("used", NOW + 100).await, "record_use");
    let after = get(&*store, "used").await;
    assert_eq!(
        after.last_used_at,
        Some(NOW + 100),
        "record_use must set last_used_at"
    );
    assert_eq!(after.revision, 1, "record_use must not change the revision");

    ok(
        lifecycle.record_use("used", NOW + 50).await,
        "record_use earlier",
    );
    assert_eq!(
        get(&*store, "used").await.last_used_at,
        Some(NOW + 100),
        "an earlier use must not move last_used_at back"
    );
    ok(
        lifecycle.record_use("unknown", NOW).await,
        "record_use of an unknown client must succeed",
    );
    assert!(
        ok(store.get("unknown").await, "get").is_none(),
        "record_use must not create a client"
    );

    // An update built from a read taken before the use must not drop it.
    let mut next = sample_record("used");
    next.revision = 2;
    next.last_used_at = None;
    ok(store.update(Arc::new(next), 1).await, "update");
    let updated = get(&*store, "used").await;
    assert_eq!(updated.revision, 2);
    assert_eq!(
        updated.last_used_at,
        Some(NOW + 100),
        "an update must keep a newer recorded use"
    );
}

/// `list_clients` pages through every client in `client_id` order.
pub(super) async fn list_clients_pages_in_order(store: Arc<dyn ClientStore>) {
    let Some(lifecycle) = store.lifecycle() else {
        return skip("list_clients_pages_in_order", "lifecycle");
    };
    let ids = ["m", "c", "x", "a", "k", "e", "t"];
    for id in ids {
        create(&*store, sample_record(&format!("client-{id}"))).await;
    }
    let mut expected: Vec<String> = ids.iter().map(|id| format!("client-{id}")).collect();
    expected.sort();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = ok(
            lifecycle.list_clients(after.as_deref(), 3).await,
            "list_clients",
        );
        assert!(page.len() <= 3, "a page must hold at most `limit` clients");
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| r.client_id.clone());
        seen.extend(page.iter().map(|r| r.client_id.clone()));
        assert!(seen.len() <= ids.len(), "paging must end, seen {seen:?}");
    }
    assert_eq!(
        seen, expected,
        "pages must list every client once, in client_id order"
    );

    let tail: Vec<_> = ok(
        lifecycle.list_clients(Some("client-f"), 10).await,
        "list after a missing id",
    )
    .iter()
    .map(|r| r.client_id.clone())
    .collect();
    assert_eq!(
        tail,
        ["client-k", "client-m", "client-t", "client-x"],
        "`after` need not be a stored id"
    );
    assert!(
        ok(lifecycle.list_clients(None, 0).await, "list 0").is_empty(),
        "limit 0 must list nothing"
    );
}

/// `count_clients` counts by source, `software_id` and initial access token,
/// alone and combined.
pub(super) async fn count_clients_applies_filters(store: Arc<dyn ClientStore>) {
    let Some(lifecycle) = store.lifecycle() else {
        return skip("count_clients_applies_filters", "lifecycle");
    };
    let with = |id: &str, software: Option<&str>, token: Option<&str>, source: RecordSource| {
        let mut record = sample_record(id);
        record.metadata.software_id = software.map(str::to_owned);
        record.initial_access_token_id = token.map(str::to_owned);
        record.source = source;
        record
    };
    use RecordSource::{Dynamic, Host};
    for record in [
        with("1", Some("app"), Some("t1"), Dynamic),
        with("2", Some("app"), Some("t1"), Dynamic),
        with("3", Some("app"), Some("t2"), Dynamic),
        with("4", Some("other"), None, Dynamic),
        with("5", None, None, Dynamic),
        with("6", Some("app"), None, Host),
    ] {
        create(&*store, record).await;
    }
    let cases: [(ClientFilter<'_>, u64); 7] = [
        (ClientFilter::default(), 6),
        (
            ClientFilter {
                source: Some(Dynamic),
                ..Default::default()
            },
            5,
        ),
        (
            ClientFilter {
                source: Some(Host),
                ..Default::default()
            },
            1,
        ),
        (
            ClientFilter {
                software_id: Some("app"),
                ..Default::default()
            },
            4,
        ),
        (
            ClientFilter {
                initial_access_token_id: Some("t1"),
                ..Default::default()
            },
            2,
        ),
        (
            ClientFilter {
                source: Some(Dynamic),
                software_id: Some("app"),
                initial_access_token_id: Some("t2"),
            },
            1,
        ),
        (
            ClientFilter {
                software_id: Some("none-such"),
                ..Default::default()
            },
            0,
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            ok(lifecycle.count_clients(&filter).await, "count_clients"),
            expected,
            "count_clients({filter:?})"
        );
    }
}

fn lifecycle_record(
    id: &str,
    source: RecordSource,
    created_at: u64,
    last_used_at: Option<u64>,
) -> ClientRecord {
    let mut record = sample_record(id);
    record.source = source;
    record.created_at = created_at;
    record.last_used_at = last_used_at;
    record
}

/// `stale_clients` lists dynamic clients never used since before the grace
/// period or idle too long; host clients are never stale.
pub(super) async fn stale_clients_follow_criteria(store: Arc<dyn ClientStore>) {
    let Some(lifecycle) = store.lifecycle() else {
        return skip("stale_clients_follow_criteria", "lifecycle");
    };
    use RecordSource::{Dynamic, Host};
    for record in [
        lifecycle_record("unused-old", Dynamic, NOW - 1000, None),
        lifecycle_record("unused-new", Dynamic, NOW - 10, None),
        lifecycle_record("idle", Dynamic, NOW - 5000, Some(NOW - 900)),
        lifecycle_record("active", Dynamic, NOW - 5000, Some(NOW - 5)),
        lifecycle_record("host-unused", Host, NOW - 9000, None),
        lifecycle_record("host-idle", Host, NOW - 9000, Some(NOW - 9000)),
    ] {
        create(&*store, record).await;
    }
    let ids = |records: Vec<Arc<ClientRecord>>| -> Vec<String> {
        records.iter().map(|r| r.client_id.clone()).collect()
    };
    let both = StaleCriteria {
        unused_created_before: Some(NOW - 100),
        idle_since: Some(NOW - 100),
    };
    assert_eq!(
        ids(ok(lifecycle.stale_clients(&both, 10).await, "stale")),
        ["idle", "unused-old"]
    );
    let unused_only = StaleCriteria {
        unused_created_before: Some(NOW - 100),
        idle_since: None,
    };
    assert_eq!(
        ids(ok(lifecycle.stale_clients(&unused_only, 10).await, "stale")),
        ["unused-old"]
    );
    let idle_only = StaleCriteria {
        unused_created_before: None,
        idle_since: Some(NOW - 100),
    };
    assert_eq!(
        ids(ok(lifecycle.stale_clients(&idle_only, 10).await, "stale")),
        ["idle"]
    );
    let everything = StaleCriteria {
        unused_created_before: Some(u64::MAX),
        idle_since: Some(u64::MAX),
    };
    let all = ids(ok(lifecycle.stale_clients(&everything, 10).await, "stale"));
    assert_eq!(
        all,
        ["active", "idle", "unused-new", "unused-old"],
        "host clients must never be stale"
    );
    assert!(
        ok(
            lifecycle.stale_clients(&StaleCriteria::default(), 10).await,
            "stale"
        )
        .is_empty(),
        "no criteria must match no client"
    );
    assert_eq!(
        ok(lifecycle.stale_clients(&everything, 2).await, "stale").len(),
        2,
        "stale_clients must respect limit"
    );
}

/// `delete_if_stale` deletes only a client still stale: a use recorded since
/// it was listed saves it, and host clients are never deleted.
pub(super) async fn delete_if_stale_spares_client_used_since(store: Arc<dyn ClientStore>) {
    let Some(lifecycle) = store.lifecycle() else {
        return skip("delete_if_stale_spares_client_used_since", "lifecycle");
    };
    use RecordSource::{Dynamic, Host};
    create(
        &*store,
        lifecycle_record("saved", Dynamic, NOW - 1000, None),
    )
    .await;
    create(
        &*store,
        lifecycle_record("doomed", Dynamic, NOW - 1000, Some(NOW - 1000)),
    )
    .await;
    create(&*store, lifecycle_record("host", Host, NOW - 1000, None)).await;
    let criteria = StaleCriteria {
        unused_created_before: Some(NOW - 100),
        idle_since: Some(NOW - 100),
    };
    let listed = ok(lifecycle.stale_clients(&criteria, 10).await, "stale");
    assert_eq!(
        listed.len(),
        2,
        "both dynamic clients must be listed as stale"
    );

    ok(lifecycle.record_use("saved", NOW).await, "record_use");
    assert!(
        !ok(
            lifecycle.delete_if_stale("saved", &criteria).await,
            "delete_if_stale"
        ),
        "a client used since it was listed must not be deleted"
    );
    assert!(
        ok(store.get("saved").await, "get").is_some(),
        "the used client must still exist"
    );
    assert!(
        ok(
            lifecycle.delete_if_stale("doomed", &criteria).await,
            "delete_if_stale"
        ),
        "a stale client must be deleted"
    );
    assert!(ok(store.get("doomed").await, "get").is_none());
    assert!(
        !ok(
            lifecycle.delete_if_stale("host", &criteria).await,
            "delete_if_stale"
        ),
        "a host client must never be deleted as stale"
    );
    assert!(
        !ok(
            lifecycle.delete_if_stale("missing", &criteria).await,
            "delete_if_stale"
        ),
        "a missing client is not deleted"
    );
}

/// `expired_secrets` lists clients whose secret expired at or before `now`,
/// not those that never expire, expire later, or have no secret.
pub(super) async fn expired_secrets_lists_only_expired(store: Arc<dyn ClientStore>) {
    let Some(lifecycle) = store.lifecycle() else {
        return skip("expired_secrets_lists_only_expired", "lifecycle");
    };
    let with = |id: &str, expires_at: u64, has_secret: bool| {
        let mut record = sample_record(id);
        record.client_secret_expires_at = expires_at;
        if !has_secret {
            record.client_secret = None;
        }
        record
    };
    for record in [
        with("expired", NOW - 1, true),
        with("expires-now", NOW, true),
        with("later", NOW + 1, true),
        with("never", 0, true),
        with("no-secret", NOW - 1, false),
    ] {
        create(&*store, record).await;
    }
    let ids: Vec<_> = ok(lifecycle.expired_secrets(NOW, 10).await, "expired_secrets")
        .iter()
        .map(|r| r.client_id.clone())
        .collect();
    assert_eq!(ids, ["expired", "expires-now"]);
    assert_eq!(
        ok(lifecycle.expired_secrets(NOW, 1).await, "expired_secrets").len(),
        1,
        "expired_secrets must respect limit"
    );
}
