//! Concurrent management requests (RFC 7592 §2.2 and §2.3 under races): token
//! rotation lets one of two racing writers win, without lost updates.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use http::StatusCode;
use serde_json::{Value, json};
use tower_dcr::store::ClientLifecycleStore;
use tower_dcr::{ClientRecord, ClientStore, MemoryStore, RatRotation, Registration, StoreError};

/// A store whose reads take `get_delay` after looking up the record (like a slow
/// database round trip) and whose deletes wait `delete_delay` first, to make
/// concurrent requests interleave deterministically.
#[derive(Debug, Clone)]
struct SlowStore {
    inner: MemoryStore,
    get_delay: Duration,
    delete_delay: Duration,
    /// Notified each time a `get` has read the record.
    got: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl ClientStore for SlowStore {
    async fn create(&self, record: Arc<ClientRecord>) -> Result<(), StoreError> {
        self.inner.create(record).await
    }
    async fn get(&self, client_id: &str) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        let record = self.inner.get(client_id).await;
        self.got.notify_one();
        tokio::time::sleep(self.get_delay).await;
        record
    }
    async fn update(
        &self,
        record: Arc<ClientRecord>,
        expected_revision: u64,
    ) -> Result<(), StoreError> {
        self.inner.update(record, expected_revision).await
    }
    async fn delete(
        &self,
        client_id: &str,
        expected_revision: Option<u64>,
    ) -> Result<bool, StoreError> {
        tokio::time::sleep(self.delete_delay).await;
        self.inner.delete(client_id, expected_revision).await
    }
    fn lifecycle(&self) -> Option<&dyn ClientLifecycleStore> {
        Some(&self.inner)
    }
}

fn slow(get_ms: u64, delete_ms: u64) -> SlowStore {
    SlowStore {
        inner: MemoryStore::new(),
        get_delay: Duration::from_millis(get_ms),
        delete_delay: Duration::from_millis(delete_ms),
        got: Arc::new(tokio::sync::Notify::new()),
    }
}

/// A client whose metadata takes a while to validate, which widens the window
/// between a request's token check and its write.
fn heavy_client() -> Value {
    let redirect_uris: Vec<String> = (0..16)
        .map(|i| format!("https://client{i}.example.org/callback/{}", "p".repeat(200)))
        .collect();
    let contacts: Vec<String> = (0..32)
        .map(|i| format!("person{i}@client.example.org"))
        .collect();
    json!({
        "redirect_uris": redirect_uris,
        "contacts": contacts,
        "client_name": "Heavy",
        "client_uri": "https://client.example.org/",
    })
}

/// Two `PUT`s with the same token, released together by a barrier. With
/// `threads`, each runs on its own OS thread and runtime, so they truly run in
/// parallel (two tasks of one runtime woken by the same barrier tend to run one
/// after the other on the same worker).
async fn racing_updates(
    dcr: &Registration,
    created: &Answer,
    threads: bool,
) -> [(Answer, &'static str); 2] {
    let start = Arc::new(std::sync::Barrier::new(2));
    let spawn_one = |name: &'static str| {
        let dcr = dcr.clone();
        let path = client_path(created);
        let token = rat(created);
        let mut body = update_body(&created.json);
        body["client_name"] = json!(name);
        let start = Arc::clone(&start);
        let put = async move { (update(&dcr, &path, &token, body).await, name) };
        if threads {
            tokio::task::spawn_blocking(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .unwrap();
                start.wait();
                runtime.block_on(put)
            })
        } else {
            tokio::spawn(put)
        }
    };
    let a = spawn_one("A");
    let b = spawn_one("B");
    let (a, b) = tokio::join!(a, b);
    [a.unwrap(), b.unwrap()]
}

/// Checks the outcome of two racing `PUT`s under token rotation: exactly one
/// `200` and one `401 invalid_token`, and the stored record is the winner's
/// (no lost update), reachable with the winner's new token only.
async fn assert_one_winner(dcr: &Registration, created: &Answer, results: [(Answer, &str); 2]) {
    let (winners, losers): (Vec<_>, Vec<_>) = results
        .iter()
        .partition(|(answer, _)| answer.status == StatusCode::OK);
    assert_eq!(
        (winners.len(), losers.len()),
        (1, 1),
        "{:?}",
        results
            .iter()
            .map(|(a, n)| (n, a.status, a.json.clone()))
            .collect::<Vec<_>>()
    );
    let (winner, name) = winners[0];
    assert_invalid_token(&losers[0].0);
    assert_eq!(winner.str("client_name"), *name);
    let path = client_path(created);
    assert_invalid_token(&read(dcr, &path, &rat(created)).await);
    let stored = read(dcr, &path, &rat(winner)).await;
    assert_eq!(stored.status, StatusCode::OK);
    assert_eq!(stored.str("client_name"), *name, "lost update");
}

/// RFC 7592 §2.2 with token rotation: two concurrent `PUT`s presenting the same
/// token cannot both succeed (the first one kills the token): exactly one `200`
/// and one `401`, and the stored record is the winner's. Repeated 50 times, the two
/// requests on two OS threads released by a barrier, with the in-memory store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_with_rotation_have_exactly_one_winner() {
    // Without the grace that lets a client recover a lost answer with the
    // replaced token (on by default; within it both PUTs may succeed).
    let dcr = builder()
        .registration_access_token_grace(Duration::ZERO)
        .build()
        .unwrap();
    for _ in 0..50 {
        let created = registered(&dcr, heavy_client()).await;
        let results = racing_updates(&dcr, &created, true).await;
        assert_one_winner(&dcr, &created, results).await;
    }
}

/// The same rule when both requests certainly authenticate before either
/// writes (a slow store): the revision check must turn the second write into a
/// `401`, not a second `200` nor a lost update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_with_rotation_have_exactly_one_winner_on_a_slow_store() {
    let dcr = builder()
        .store(slow(50, 0))
        .registration_access_token_grace(Duration::ZERO)
        .build()
        .unwrap();
    for _ in 0..5 {
        let created = registered(&dcr, web_client()).await;
        let results = racing_updates(&dcr, &created, false).await;
        assert_one_winner(&dcr, &created, results).await;
    }
}

/// RFC 7592 §2.2 with `RatRotation::Never`: two concurrent `PUT`s with the same
/// token (on two OS threads) both succeed, and the stored configuration is exactly one of the two
/// bodies (the last writer's), never a mix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_without_rotation_both_succeed_and_one_body_is_stored() {
    for store in [slow(0, 0), slow(50, 0)] {
        let dcr = builder()
            .registration_access_token_rotation(RatRotation::Never)
            .store(store)
            .build()
            .unwrap();
        for _ in 0..10 {
            let created = registered(&dcr, web_client()).await;
            let results = racing_updates(&dcr, &created, true).await;
            for (answer, name) in &results {
                assert_eq!(answer.status, StatusCode::OK, "{name}: {:?}", answer.json);
            }
            let stored = read(&dcr, &client_path(&created), &rat(&created)).await;
            assert_eq!(stored.status, StatusCode::OK);
            let stored_body = update_body(&stored.json);
            assert!(
                results
                    .iter()
                    .any(|(answer, _)| update_body(&answer.json) == stored_body),
                "stored {stored_body} is neither response"
            );
        }
    }
}

/// RFC 7592 §2.2 and §2.3 under token rotation: a `DELETE` and a `PUT` race with
/// the same token. Only one may succeed: if the `PUT` won (and rotated the
/// token), the `DELETE` presented a dead token and must get `401` with the
/// client left in place; if the `DELETE` won, the `PUT` must get `401`. Here the
/// `DELETE`'s store call is slower, so the `PUT` commits first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn delete_racing_a_rotating_update_is_linearizable() {
    let dcr = builder()
        .store(slow(30, 100))
        .registration_access_token_grace(Duration::ZERO)
        .build()
        .unwrap();
    let created = registered(&dcr, web_client()).await;
    let path = client_path(&created);
    let token = rat(&created);
    let put = {
        let (dcr, path, token) = (dcr.clone(), path.clone(), token.clone());
        let body = update_body(&created.json);
        tokio::spawn(async move { update(&dcr, &path, &token, body).await })
    };
    let del = {
        let (dcr, path, token) = (dcr.clone(), path.clone(), token.clone());
        tokio::spawn(async move { delete(&dcr, &path, &token).await })
    };
    let (put, del) = tokio::join!(put, del);
    let (put, del) = (put.unwrap(), del.unwrap());
    match (put.status.as_u16(), del.status.as_u16()) {
        (200, 401) => {
            let stored = read(&dcr, &path, &rat(&put)).await;
            assert_eq!(
                stored.status,
                StatusCode::OK,
                "the updated client was deleted"
            );
        }
        (401, 204) => assert!(
            dcr.client(created.str("client_id"))
                .await
                .unwrap()
                .is_none()
        ),
        outcome => panic!(
            "PUT {} and DELETE {} cannot both succeed with one token under rotation; \
             the client now exists: {}",
            outcome.0,
            outcome.1,
            dcr.client(created.str("client_id"))
                .await
                .unwrap()
                .is_some()
        ),
    }
}

/// RFC 7592 §2.2 (an update replaces the client's *metadata*) with the
/// lifecycle store's contract ("records that the client was used ... without
/// changing its revision"): a `PUT` must not write back the `last_used_at` it
/// read before a concurrent `record_use`, or a client in active use looks idle
/// to the stale-client sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn update_does_not_lose_a_concurrent_record_use() {
    let store = slow(100, 0);
    let dcr = builder().store(store.clone()).build().unwrap();
    let created = registered(&dcr, web_client()).await;
    let client_id = created.str("client_id").to_owned();
    let put = {
        let (dcr, path, token) = (dcr.clone(), client_path(&created), rat(&created));
        let body = update_body(&created.json);
        tokio::spawn(async move { update(&dcr, &path, &token, body).await })
    };
    // The PUT has read the record and is waiting on the store.
    store.got.notified().await;
    let used_at = 1_900_000_000;
    store
        .lifecycle()
        .unwrap()
        .record_use(&client_id, used_at)
        .await
        .unwrap();
    let put = put.await.unwrap();
    assert_eq!(put.status, StatusCode::OK, "{:?}", put.json);
    let stored = dcr.client(&client_id).await.unwrap().unwrap();
    assert_eq!(
        stored.last_used_at,
        Some(used_at),
        "the recorded use was lost"
    );
}
