//! A conformance suite for [`ClientStore`] backends (feature `conformance`).
//!
//! Every built-in store passes it, and a custom store can run the same cases
//! from its own tests. Each case takes an empty store and panics with a message
//! naming the broken rule. Cases that need an optional capability
//! ([`ClientStore::initial_access_tokens`], [`ClientStore::lifecycle`]) are
//! skipped, with a note on stderr, when the store returns `None`, so a minimal
//! store that implements the four required methods can run the suite too.
//!
//! Run it inside a Tokio runtime; the race cases spawn tasks, so a
//! multi-threaded runtime makes the races real:
//!
//! ```no_run
//! #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! async fn my_store_conforms() {
//!     tower_dcr::store::conformance::run_all(|| async { tower_dcr::MemoryStore::new() }).await;
//! }
//! ```
//!
//! Timestamps in the cases are fixed values around [`NOW`], not the clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Barrier;

use super::{
    ClientFilter, ClientRecord, ClientStore, InitialAccessToken, RecordSource, StaleCriteria,
    StoreError, StoredSecret,
};
use crate::credentials::{Secret, SecretDigest};
use crate::metadata::{ClientMetadata, Localized};

/// The "current time" the cases use, in seconds since the Unix epoch.
pub const NOW: u64 = 1_700_000_000;

/// How many tasks race in the concurrency cases.
const RACERS: usize = 16;

/// A boxed case future.
pub type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One case of the suite: its name and how to run it on an empty store.
pub type Case = (&'static str, fn(Arc<dyn ClientStore>) -> CaseFuture);

/// Every case, in the order [`run_all`] runs them.
pub const CASES: &[Case] = &[
    ("create_get_update_delete", |s| {
        Box::pin(create_get_update_delete(s))
    }),
    ("create_of_existing_client_conflicts", |s| {
        Box::pin(create_of_existing_client_conflicts(s))
    }),
    ("update_with_stale_revision_fails", |s| {
        Box::pin(update_with_stale_revision_fails(s))
    }),
    ("update_of_missing_client_is_stale", |s| {
        Box::pin(update_of_missing_client_is_stale(s))
    }),
    ("delete_of_missing_client_is_false", |s| {
        Box::pin(delete_of_missing_client_is_false(s))
    }),
    ("delete_with_stale_revision_keeps_the_client", |s| {
        Box::pin(delete_with_stale_revision_keeps_the_client(s))
    }),
    ("concurrent_updates_have_one_winner", |s| {
        Box::pin(concurrent_updates_have_one_winner(s))
    }),
    ("concurrent_read_modify_write_loses_no_update", |s| {
        Box::pin(concurrent_read_modify_write_loses_no_update(s))
    }),
    ("secrets_round_trip", |s| Box::pin(secrets_round_trip(s))),
    ("large_metadata_round_trips_byte_exact", |s| {
        Box::pin(large_metadata_round_trips_byte_exact(s))
    }),
    ("out_of_range_numbers_do_not_fail", |s| {
        Box::pin(out_of_range_numbers_do_not_fail(s))
    }),
    ("nul_characters_are_not_errors", |s| {
        Box::pin(nul_characters_are_not_errors(s))
    }),
    ("initial_access_token_create_find_list_revoke", |s| {
        Box::pin(initial_access_token_create_find_list_revoke(s))
    }),
    ("initial_access_token_expires", |s| {
        Box::pin(initial_access_token_expires(s))
    }),
    ("initial_access_token_max_uses", |s| {
        Box::pin(initial_access_token_max_uses(s))
    }),
    ("one_use_token_race_has_one_winner", |s| {
        Box::pin(one_use_token_race_has_one_winner(s))
    }),
    ("record_use_keeps_revision", |s| {
        Box::pin(record_use_keeps_revision(s))
    }),
    ("list_clients_pages_in_order", |s| {
        Box::pin(list_clients_pages_in_order(s))
    }),
    ("count_clients_applies_filters", |s| {
        Box::pin(count_clients_applies_filters(s))
    }),
    ("stale_clients_follow_criteria", |s| {
        Box::pin(stale_clients_follow_criteria(s))
    }),
    ("delete_if_stale_spares_client_used_since", |s| {
        Box::pin(delete_if_stale_spares_client_used_since(s))
    }),
    ("expired_secrets_lists_only_expired", |s| {
        Box::pin(expired_secrets_lists_only_expired(s))
    }),
];

/// Runs every case, each on a fresh store from `make`, which must return an
/// empty store (for shared databases: a new table prefix or schema each time).
pub async fn run_all<S, F, Fut>(make: F)
where
    S: ClientStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    for (name, case) in CASES {
        eprintln!("store conformance: {name}");
        let store: Arc<dyn ClientStore> = Arc::new(make().await);
        case(store).await;
    }
}

/// A dynamically registered client as the service stores it: metadata, a
/// client secret digest and a registration access token digest, revision 1.
pub fn sample_record(client_id: &str) -> ClientRecord {
    ClientRecord {
        client_id: client_id.to_owned(),
        metadata: metadata(json!({
            "redirect_uris": ["https://client.example.org/cb"],
            "client_name": "Sample",
        })),
        client_secret: Some(StoredSecret::Digest(SecretDigest::of(&format!(
            "secret of {client_id}"
        )))),
        client_id_issued_at: NOW,
        client_secret_expires_at: 0,
        registration_access_token: Some(SecretDigest::of(&format!("rat of {client_id}"))),
        revision: 1,
        source: RecordSource::Dynamic,
        profile: None,
        initial_access_token_id: None,
        created_at: NOW,
        updated_at: NOW,
        last_used_at: None,
    }
}

fn metadata(value: Value) -> ClientMetadata {
    let Value::Object(object) = value else {
        panic!("test metadata must be a JSON object");
    };
    ClientMetadata::from_json_object(object).expect("test metadata is well-typed")
}

/// Everything a record holds, comparable; secrets appear only as digests.
#[derive(Debug, PartialEq)]
struct Snapshot {
    client_id: String,
    metadata: String,
    client_secret: Option<(&'static str, [u8; 32])>,
    client_id_issued_at: u64,
    client_secret_expires_at: u64,
    registration_access_token: Option<[u8; 32]>,
    revision: u64,
    source: RecordSource,
    profile: Option<String>,
    initial_access_token_id: Option<String>,
    created_at: u64,
    updated_at: u64,
    last_used_at: Option<u64>,
}

fn snapshot(record: &ClientRecord) -> Snapshot {
    Snapshot {
        client_id: record.client_id.clone(),
        metadata: serde_json::to_string(&record.metadata).expect("metadata serializes"),
        client_secret: record.client_secret.as_ref().map(|s| match s {
            StoredSecret::Digest(d) => ("digest", *d.as_bytes()),
            StoredSecret::Plain(p) => ("plain", *p.digest().as_bytes()),
        }),
        client_id_issued_at: record.client_id_issued_at,
        client_secret_expires_at: record.client_secret_expires_at,
        registration_access_token: record.registration_access_token.map(|d| *d.as_bytes()),
        revision: record.revision,
        source: record.source,
        profile: record.profile.clone(),
        initial_access_token_id: record.initial_access_token_id.clone(),
        created_at: record.created_at,
        updated_at: record.updated_at,
        last_used_at: record.last_used_at,
    }
}

#[track_caller]
fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: unexpected store error: {e} ({e:?})"),
    }
}

async fn create(store: &dyn ClientStore, record: ClientRecord) {
    let id = record.client_id.clone();
    ok(
        store.create(Arc::new(record)).await,
        &format!("create {id}"),
    );
}

async fn get(store: &dyn ClientStore, client_id: &str) -> Arc<ClientRecord> {
    ok(store.get(client_id).await, &format!("get {client_id}"))
        .unwrap_or_else(|| panic!("get {client_id}: a stored client is missing"))
}

fn skip(case: &str, capability: &str) {
    eprintln!("store conformance: {case} skipped, the store has no {capability} capability");
}

/// `create`, then `get` returns the same record; `update` with the current
/// revision replaces it; `delete` removes it.
pub async fn create_get_update_delete(store: Arc<dyn ClientStore>) {
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
pub async fn create_of_existing_client_conflicts(store: Arc<dyn ClientStore>) {
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
pub async fn update_with_stale_revision_fails(store: Arc<dyn ClientStore>) {
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
pub async fn update_of_missing_client_is_stale(store: Arc<dyn ClientStore>) {
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
pub async fn delete_of_missing_client_is_false(store: Arc<dyn ClientStore>) {
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
pub async fn delete_with_stale_revision_keeps_the_client(store: Arc<dyn ClientStore>) {
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
pub async fn concurrent_updates_have_one_winner(store: Arc<dyn ClientStore>) {
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
pub async fn concurrent_read_modify_write_loses_no_update(store: Arc<dyn ClientStore>) {
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
pub async fn secrets_round_trip(store: Arc<dyn ClientStore>) {
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
pub async fn large_metadata_round_trips_byte_exact(store: Arc<dyn ClientStore>) {
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
pub async fn out_of_range_numbers_do_not_fail(store: Arc<dyn ClientStore>) {
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
pub async fn nul_characters_are_not_errors(store: Arc<dyn ClientStore>) {
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

fn token(id: &str, secret: &str) -> InitialAccessToken {
    InitialAccessToken {
        id: id.to_owned(),
        digest: SecretDigest::of(secret),
        profile: Some("partners".into()),
        created_at: NOW,
        expires_at: None,
        max_uses: None,
        uses: 0,
    }
}

type TokenSnapshot = (
    String,
    [u8; 32],
    Option<String>,
    u64,
    Option<u64>,
    Option<u64>,
    u64,
);

fn token_snapshot(t: &InitialAccessToken) -> TokenSnapshot {
    (
        t.id.clone(),
        *t.digest.as_bytes(),
        t.profile.clone(),
        t.created_at,
        t.expires_at,
        t.max_uses,
        t.uses,
    )
}

/// Initial access tokens: create, find by digest, list by id, revoke; a
/// duplicate id or digest is a `Conflict`.
pub async fn initial_access_token_create_find_list_revoke(store: Arc<dyn ClientStore>) {
    let Some(tokens) = store.initial_access_tokens() else {
        return skip(
            "initial_access_token_create_find_list_revoke",
            "initial access token",
        );
    };
    let mut b = token("b", "token-b");
    b.expires_at = Some(NOW + 3600);
    b.max_uses = Some(5);
    b.profile = None;
    let a = token("a", "token-a");
    ok(
        tokens.create_initial_access_token(&b).await,
        "create token b",
    );
    ok(
        tokens.create_initial_access_token(&a).await,
        "create token a",
    );

    let found = ok(
        tokens
            .find_initial_access_token(&SecretDigest::of("token-b"))
            .await,
        "find",
    );
    assert_eq!(
        found.as_ref().map(token_snapshot),
        Some(token_snapshot(&b)),
        "find must return the stored token"
    );
    assert!(
        ok(
            tokens
                .find_initial_access_token(&SecretDigest::of("unknown"))
                .await,
            "find unknown"
        )
        .is_none(),
        "an unknown digest must find nothing"
    );

    for duplicate in [token("a", "token-c"), token("c", "token-b")] {
        match tokens.create_initial_access_token(&duplicate).await {
            Err(StoreError::Conflict) => {}
            other => {
                panic!("a token with an existing id or digest must be Conflict, got {other:?}")
            }
        }
    }

    let listed: Vec<_> = ok(tokens.list_initial_access_tokens().await, "list")
        .iter()
        .map(token_snapshot)
        .collect();
    assert_eq!(
        listed,
        vec![token_snapshot(&a), token_snapshot(&b)],
        "list must return every token ordered by id"
    );

    assert!(
        ok(tokens.revoke_initial_access_token("a").await, "revoke"),
        "revoking a stored token must be true"
    );
    assert!(
        !ok(
            tokens.revoke_initial_access_token("a").await,
            "revoke again"
        ),
        "revoking it again must be false"
    );
    assert!(
        ok(
            tokens
                .find_initial_access_token(&SecretDigest::of("token-a"))
                .await,
            "find revoked"
        )
        .is_none(),
        "a revoked token must be gone"
    );
    assert!(
        ok(
            tokens
                .consume_initial_access_token(&SecretDigest::of("token-a"), NOW)
                .await,
            "consume revoked"
        )
        .is_none(),
        "a revoked token must not be usable"
    );
}

/// A token works strictly before `expires_at` and not from then on.
pub async fn initial_access_token_expires(store: Arc<dyn ClientStore>) {
    let Some(tokens) = store.initial_access_tokens() else {
        return skip("initial_access_token_expires", "initial access token");
    };
    let mut t = token("exp", "expiring");
    t.expires_at = Some(NOW + 10);
    ok(tokens.create_initial_access_token(&t).await, "create");
    let digest = SecretDigest::of("expiring");
    let used = ok(
        tokens.consume_initial_access_token(&digest, NOW + 9).await,
        "consume",
    );
    assert_eq!(
        used.map(|t| t.uses),
        Some(1),
        "a token must work before it expires"
    );
    for at in [NOW + 10, NOW + 11, u64::MAX] {
        assert!(
            ok(
                tokens.consume_initial_access_token(&digest, at).await,
                "consume"
            )
            .is_none(),
            "a token must not work at or after expires_at (tried {at})"
        );
    }
    let stored = ok(tokens.find_initial_access_token(&digest).await, "find");
    assert_eq!(
        stored.map(|t| t.uses),
        Some(1),
        "a refused use must not be counted"
    );
}

/// A token with `max_uses` works that many times; an unlimited one keeps
/// working; an unknown digest is `None`.
pub async fn initial_access_token_max_uses(store: Arc<dyn ClientStore>) {
    let Some(tokens) = store.initial_access_tokens() else {
        return skip("initial_access_token_max_uses", "initial access token");
    };
    let mut limited = token("two", "two-uses");
    limited.max_uses = Some(2);
    ok(
        tokens.create_initial_access_token(&limited).await,
        "create limited",
    );
    ok(
        tokens
            .create_initial_access_token(&token("many", "unlimited"))
            .await,
        "create unlimited",
    );
    let digest = SecretDigest::of("two-uses");
    for expected in 1..=2 {
        let used = ok(
            tokens.consume_initial_access_token(&digest, NOW).await,
            "consume",
        );
        let used =
            used.unwrap_or_else(|| panic!("use {expected} of a two-use token must be granted"));
        assert_eq!(
            used.uses, expected,
            "consume must return the token with uses incremented"
        );
        assert_eq!(used.id, "two");
    }
    assert!(
        ok(
            tokens.consume_initial_access_token(&digest, NOW).await,
            "consume"
        )
        .is_none(),
        "a third use of a two-use token must be refused"
    );
    assert_eq!(
        ok(tokens.find_initial_access_token(&digest).await, "find").map(|t| t.uses),
        Some(2),
        "uses must stay at max_uses"
    );
    for expected in 1..=5 {
        let used = ok(
            tokens
                .consume_initial_access_token(&SecretDigest::of("unlimited"), NOW)
                .await,
            "consume",
        );
        assert_eq!(
            used.map(|t| t.uses),
            Some(expected),
            "an unlimited token must keep working"
        );
    }
    assert!(
        ok(
            tokens
                .consume_initial_access_token(&SecretDigest::of("nope"), NOW)
                .await,
            "consume unknown"
        )
        .is_none(),
        "an unknown token must be refused"
    );
}

/// Many concurrent uses of a one-use token: exactly one is granted.
pub async fn one_use_token_race_has_one_winner(store: Arc<dyn ClientStore>) {
    if store.initial_access_tokens().is_none() {
        return skip("one_use_token_race_has_one_winner", "initial access token");
    }
    for round in 0..3 {
        let secret = format!("one-use-{round}");
        let mut t = token(&format!("once-{round}"), &secret);
        t.max_uses = Some(1);
        let tokens = store.initial_access_tokens().expect("checked above");
        ok(tokens.create_initial_access_token(&t).await, "create");
        let barrier = Arc::new(Barrier::new(RACERS));
        let tasks: Vec<_> = (0..RACERS)
            .map(|_| {
                let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
                let digest = SecretDigest::of(&secret);
                tokio::spawn(async move {
                    let tokens = store.initial_access_tokens().expect("checked above");
                    barrier.wait().await;
                    tokens.consume_initial_access_token(&digest, NOW).await
                })
            })
            .collect();
        let mut granted = 0;
        for task in tasks {
            if ok(task.await.expect("a consume task panicked"), "consume").is_some() {
                granted += 1;
            }
        }
        assert_eq!(
            granted, 1,
            "round {round}: exactly one of {RACERS} concurrent uses of a one-use token must be granted"
        );
        let tokens = store.initial_access_tokens().expect("checked above");
        let stored = ok(
            tokens
                .find_initial_access_token(&SecretDigest::of(&secret))
                .await,
            "find",
        );
        assert_eq!(stored.map(|t| t.uses), Some(1));
    }
}

/// `record_use` sets `last_used_at` without a new revision, never moves it
/// back, ignores unknown clients, and a later update keeps a newer use.
pub async fn record_use_keeps_revision(store: Arc<dyn ClientStore>) {
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
pub async fn list_clients_pages_in_order(store: Arc<dyn ClientStore>) {
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
pub async fn count_clients_applies_filters(store: Arc<dyn ClientStore>) {
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
pub async fn stale_clients_follow_criteria(store: Arc<dyn ClientStore>) {
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
pub async fn delete_if_stale_spares_client_used_since(store: Arc<dyn ClientStore>) {
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
pub async fn expired_secrets_lists_only_expired(store: Arc<dyn ClientStore>) {
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
