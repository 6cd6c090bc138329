//! Conformance cases for the required [`ClientStore`] methods.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::Barrier;

use super::*;

/// `create`, then `get` returns the same record; `update` with the current
/// revision replaces it; `delete` removes it.
pub(super) async fn create_get_update_delete(store: Arc<dyn ClientStore>) {
    let store = &*store;
    assert!(
        ok(store.get("c1").await, "get before create").is_none(),
        "get of a client never created must be None"
    );
    let mut record = sample_record("c1");
    record.profile = Some("partner".into());
    record.initial_access_token_id = Some("iat-7".into());
    record.last_used_at = Some(NOW + 5);
    create(store, record.clone()).await;
    assert_eq!(
        snapshot(&*get(store, "c1").await),
        snapshot(&record),
        "get must return what create stored"
    );

    let mut next = record.clone();
    next.revision = 2;
    next.updated_at = NOW + 60;
    next.metadata.client_name = Localized::new("Renamed");
    next.registration_access_token = Some(SecretDigest::of("rotated rat"));
    ok(store.update(Arc::new(next.clone()), 1).await, "update");
    assert_eq!(
        snapshot(&*get(store, "c1").await),
        snapshot(&next),
        "get must return what update stored"
    );

    assert!(
        ok(store.delete("c1", None).await, "delete"),
        "delete of a stored client must be true"
    );
    assert!(
        ok(store.get("c1").await, "get after delete").is_none(),
        "a deleted client must be gone"
    );
}

/// A second `create` with the same `client_id` fails with `Conflict` and leaves
/// the first record in place.
pub(super) async fn create_of_existing_client_conflicts(store: Arc<dyn ClientStore>) {
    let store = &*store;
    let first = sample_record("dup");
    create(store, first.clone()).await;
    let mut second = sample_record("dup");
    second.metadata.client_name = Localized::new("Impostor");
    second.registration_access_token = Some(SecretDigest::of("other rat"));
    match store.create(Arc::new(second)).await {
        Err(StoreError::Conflict) => {}
        other => panic!("create of an existing client_id must be Conflict, got {other:?}"),
    }
    assert_eq!(
        snapshot(&*get(store, "dup").await),
        snapshot(&first),
        "a conflicting create must not change the stored client"
    );
}

/// `update` with an expected revision other than the stored one fails with
/// `Stale` and changes nothing.
pub(super) async fn update_with_stale_revision_fails(store: Arc<dyn ClientStore>) {
    let store = &*store;
    let mut record = sample_record("s1");
    record.revision = 3;
    create(store, record.clone()).await;
    for expected in [2, 4, 0] {
        let mut next = record.clone();
        next.revision = expected + 1;
        next.metadata.client_name = Localized::new("Lost");
        match store.update(Arc::new(next), expected).await {
            Err(StoreError::Stale) => {}
            other => panic!(
                "update expecting revision {expected} of a client at revision 3 must be Stale, got {other:?}"
            ),
        }
    }
    assert_eq!(
        snapshot(&*get(store, "s1").await),
        snapshot(&record),
        "a stale update must not change the stored client"
    );
}

/// `update` of a client that does not exist fails with `Stale` and creates
/// nothing.
pub(super) async fn update_of_missing_client_is_stale(store: Arc<dyn ClientStore>) {
    let store = &*store;
    let mut record = sample_record("ghost");
    record.revision = 2;
    match store.update(Arc::new(record), 1).await {
        Err(StoreError::Stale) => {}
        other => panic!("update of a missing client must be Stale, got {other:?}"),
    }
    assert!(
        ok(store.get("ghost").await, "get").is_none(),
        "update of a missing client must not create it"
    );
}

/// `delete` of a missing client is `false`; deleting twice is `true`, then
/// `false`.
pub(super) async fn delete_of_missing_client_is_false(store: Arc<dyn ClientStore>) {
    let store = &*store;
    assert!(
        !ok(store.delete("nobody", None).await, "delete"),
        "delete of a missing client must be false"
    );
    create(store, sample_record("once")).await;
    assert!(ok(store.delete("once", None).await, "first delete"));
    assert!(
        !ok(store.delete("once", None).await, "second delete"),
        "the second delete of a client must be false"
    );
}

/// `delete` with an expected revision removes the client only at that
/// revision: a client changed since it was read is kept.
pub(super) async fn delete_with_stale_revision_keeps_the_client(store: Arc<dyn ClientStore>) {
    let store = &*store;
    let record = sample_record("versioned");
    let revision = record.revision;
    create(store, record).await;
    assert!(
        !ok(
            store.delete("versioned", Some(revision + 1)).await,
            "delete"
        ),
        "delete at another revision must be false"
    );
    assert!(
        ok(store.get("versioned").await, "get").is_some(),
        "a client changed since it was read must be kept"
    );
    assert!(ok(
        store.delete("versioned", Some(revision)).await,
        "delete"
    ));
    assert!(ok(store.get("versioned").await, "get").is_none());
}

/// Rounds of many tasks updating the same revision at once: exactly one wins
/// each round, the others get `Stale`, and the winner's change is what is
/// stored.
pub(super) async fn concurrent_updates_have_one_winner(store: Arc<dyn ClientStore>) {
    const ROUNDS: u64 = 4;
    create(&*store, sample_record("race")).await;
    for round in 0..ROUNDS {
        let current = get(&*store, "race").await;
        assert_eq!(current.revision, 1 + round, "revision after {round} rounds");
        let barrier = Arc::new(Barrier::new(RACERS));
        let tasks: Vec<_> = (0..RACERS)
            .map(|task| {
                let (store, barrier, current) = (
                    Arc::clone(&store),
                    Arc::clone(&barrier),
                    Arc::clone(&current),
                );
                tokio::spawn(async move {
                    let mut next = ClientRecord::clone(&current);
                    next.revision += 1;
                    next.metadata.client_name =
                        Localized::new(format!("round {round} task {task}"));
                    barrier.wait().await;
                    (task, store.update(Arc::new(next), current.revision).await)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.expect("an update task panicked") {
                (task, Ok(())) => winners.push(task),
                (_, Err(StoreError::Stale)) => {}
                (_, Err(e)) => panic!("a racing update must succeed or be Stale, got {e:?}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one of {RACERS} updates of revision {} must win, winners: {winners:?}",
            current.revision
        );
        let stored = get(&*store, "race").await;
        assert_eq!(stored.revision, current.revision + 1);
        assert_eq!(
            stored.metadata.client_name.get(),
            Some(format!("round {round} task {}", winners[0]).as_str()),
            "the stored record must be the winner's"
        );
    }
}

/// Tasks incrementing a counter with read, update, retry-on-`Stale`: no
/// increment is lost and the revision counts every update.
pub(super) async fn concurrent_read_modify_write_loses_no_update(store: Arc<dyn ClientStore>) {
    const TASKS: usize = 8;
    const INCREMENTS: u64 = 3;
    create(&*store, sample_record("counter")).await;
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for _ in 0..INCREMENTS {
                    loop {
                        let current = get(&*store, "counter").await;
                        let mut next = ClientRecord::clone(&current);
                        let count = next
                            .metadata
                            .extensions
                            .get("x_count")
                            .and_then(Value::as_u64);
                        next.metadata
                            .extensions
                            .insert("x_count".into(), json!(count.unwrap_or(0) + 1));
                        next.revision += 1;
                        match store.update(Arc::new(next), current.revision).await {
                            Ok(()) => break,
                            Err(StoreError::Stale) => continue,
                            Err(e) => panic!("update: unexpected store error {e:?}"),
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("an update task panicked");
    }
    let stored = get(&*store, "counter").await;
    let total = TASKS as u64 * INCREMENTS;
    assert_eq!(
        stored.metadata.extensions.get("x_count"),
        Some(&json!(total)),
        "every successful update must be kept (lost update)"
    );
    assert_eq!(
        stored.revision,
        1 + total,
        "the revision must count every update"
    );
}

/// A digest and a plain `client_secret_jwt` key read back as the same kind and
/// value; a client without secret or registration access token keeps none.
pub(super) async fn secrets_round_trip(store: Arc<dyn ClientStore>) {
    let store = &*store;
    let digest_secret = Secret::new("digest-secret-value");
    let mut hashed = sample_record("hashed");
    hashed.client_secret = Some(StoredSecret::Digest(digest_secret.digest()));
    create(store, hashed).await;

    let jwt_key = Secret::new("hmac-key-for-client_secret_jwt-✓");
    let mut plain = sample_record("plain");
    plain.client_secret = Some(StoredSecret::Plain(jwt_key.clone()));
    create(store, plain).await;

    let mut public = sample_record("public");
    public.client_secret = None;
    public.registration_access_token = None;
    create(store, public).await;

    match &get(store, "hashed").await.client_secret {
        Some(StoredSecret::Digest(d)) => {
            assert!(
                d.verify(digest_secret.secret()),
                "the digest must verify the secret"
            );
            assert!(!d.verify("wrong"), "the digest must reject another secret");
        }
        other => panic!("a stored digest must read back as a digest, got {other:?}"),
    }
    match &get(store, "plain").await.client_secret {
        Some(StoredSecret::Plain(s)) => {
            assert_eq!(
                s.secret(),
                jwt_key.secret(),
                "the client_secret_jwt key must read back unchanged"
            );
        }
        other => panic!("a plain client_secret_jwt key must read back as plain, got {other:?}"),
    }
    let public = get(store, "public").await;
    assert!(
        public.client_secret.is_none(),
        "no secret must read back as none"
    );
    assert!(
        public.registration_access_token.is_none(),
        "no RAT must read back as none"
    );
    assert!(
        get(store, "hashed")
            .await
            .registration_access_token
            .is_some_and(|d| d.verify("rat of hashed")),
        "the registration access token digest must read back"
    );
}

/// Large metadata with language-tagged members, emoji, right-to-left text and
/// nested extension members reads back byte for byte.
pub(super) async fn large_metadata_round_trips_byte_exact(store: Arc<dyn ClientStore>) {
    let store = &*store;
    let redirect_uris: Vec<String> = (0..64)
        .map(|i| format!("https://app.example/cb/{i}?state=ü&x=%20"))
        .collect();
    let keys: Vec<Value> = (0..8)
        .map(|i| json!({"kty": "RSA", "kid": format!("key-{i}"), "use": "sig", "e": "AQAB", "n": "x".repeat(342)}))
        .collect();
    let mut record = sample_record("big");
    record.metadata = metadata(json!({
        "redirect_uris": redirect_uris,
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "Ünïcødé Client 🚀",
        "client_name#fr": "Client d’exemple",
        "client_name#ar": "عميل تجريبي",
        "client_name#he-IL": "לקוח לדוגמה",
        "client_name#ja-Jpan-JP": "クライアント",
        "client_name#zh-Hant-TW": "客戶端 👩‍👩‍👧‍👦",
        "logo_uri": "https://app.example/logo.png",
        "logo_uri#de": "https://app.example/logo-de.png",
        "tos_uri#fr-CA": "https://app.example/cgu",
        "scope": "openid profile email",
        "contacts": ["ops@app.example", "sécurité@app.example"],
        "jwks": {"keys": keys},
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
        "software_version": "2.1",
        "default_max_age": 3600,
        "require_auth_time": true,
        "x_nested": {
            "array": [1, 2.5, -3, true, null, "tab\tnewline\nnul\u{0}"],
            "object": {"deep": {"deeper": ["🦀", "\u{202e}override", "שלום"]}},
            "big": u64::MAX,
        },
        "x_blob": "é".repeat(16 * 1024),
    }));
    let before = serde_json::to_string(&record.metadata).expect("metadata serializes");
    create(store, record).await;
    let after =
        serde_json::to_string(&get(store, "big").await.metadata).expect("metadata serializes");
    assert!(
        before == after,
        "metadata must read back byte for byte (lengths {} and {})",
        before.len(),
        after.len()
    );
}

/// Values beyond what SQL `BIGINT` holds neither panic nor fail: a secret
/// expiry at `u64::MAX` reads back as "far future", and an update expecting a
/// revision no record can have is `Stale`.
pub(super) async fn out_of_range_numbers_do_not_fail(store: Arc<dyn ClientStore>) {
    let store = &*store;
    let mut record = sample_record("huge");
    record.client_secret_expires_at = u64::MAX;
    record.last_used_at = Some(u64::MAX);
    create(store, record.clone()).await;
    let stored = get(store, "huge").await;
    assert!(
        stored.client_secret_expires_at >= i64::MAX as u64,
        "a huge expiry must stay in the far future, got {}",
        stored.client_secret_expires_at
    );
    assert!(!stored.secret_expired(NOW));
    match store.update(Arc::new(record), u64::MAX).await {
        Err(StoreError::Stale) => {}
        other => panic!("update expecting revision u64::MAX must be Stale, got {other:?}"),
    }
}

/// U+0000 in values a client controls (a `client_id` it presents, its
/// `software_id`) is ordinary input: lookups find nothing, and metadata keeps
/// it. (PostgreSQL text cannot store it, which must not turn into an error.)
pub(super) async fn nul_characters_are_not_errors(store: Arc<dyn ClientStore>) {
    let store = &*store;
    let odd = "client\0id";
    assert!(
        ok(store.get(odd).await, "get").is_none(),
        "get of a client_id with U+0000"
    );
    assert!(
        !ok(store.delete(odd, None).await, "delete"),
        "delete of a client_id with U+0000"
    );
    let mut missing = sample_record(odd);
    missing.revision = 2;
    match store.update(Arc::new(missing), 1).await {
        Err(StoreError::Stale) => {}
        other => panic!("update of a missing client_id with U+0000 must be Stale, got {other:?}"),
    }

    let mut record = sample_record("nul-software");
    record.metadata.software_id = Some("soft\0ware".into());
    create(store, record.clone()).await;
    assert_eq!(
        get(store, "nul-software")
            .await
            .metadata
            .software_id
            .as_deref(),
        Some("soft\0ware"),
        "metadata must keep U+0000"
    );
    if let Some(lifecycle) = store.lifecycle() {
        ok(
            lifecycle.record_use(odd, NOW).await,
            "record_use of a client_id with U+0000",
        );
        let filter = ClientFilter {
            software_id: Some("soft\0ware"),
            ..Default::default()
        };
        assert_eq!(
            ok(lifecycle.count_clients(&filter).await, "count_clients"),
            1
        );
        let after = ok(
            lifecycle.list_clients(Some("n\0"), 10).await,
            "list_clients",
        );
        assert_eq!(after.len(), 1, "list_clients after an id with U+0000");
        let criteria = StaleCriteria {
            unused_created_before: Some(u64::MAX),
            idle_since: None,
        };
        assert!(!ok(
            lifecycle.delete_if_stale(odd, &criteria).await,
            "delete_if_stale"
        ));
    }
    if let Some(tokens) = store.initial_access_tokens() {
        assert!(!ok(tokens.revoke_initial_access_token(odd).await, "revoke"));
    }
}
