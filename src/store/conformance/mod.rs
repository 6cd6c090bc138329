//! A conformance suite for [`ClientStore`] backends (feature `conformance`).
//!
//! Every built-in store passes it, and a custom store can run the same cases
//! from its own tests. Each case takes an empty store and panics with a message
//! naming the broken rule. Cases that need an optional capability
//! ([`ClientStore::initial_access_tokens`], [`ClientStore::lifecycle`],
//! [`ClientStore::quotas`]) are
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

use super::{
    ClientFilter, ClientRecord, ClientStore, InitialAccessToken, RecordSource, StaleCriteria,
    StoreError, StoredSecret,
};
use crate::credentials::{Secret, SecretDigest};
use crate::metadata::{ClientMetadata, Localized};

mod clients;
mod lifecycle;
mod quotas;
mod tokens;

use clients::*;
use lifecycle::*;
use quotas::*;
use tokens::*;

/// The "current time" the cases use, in seconds since the Unix epoch.
pub const NOW: u64 = 1_700_000_000;

/// How many tasks race in the concurrency cases.
const RACERS: usize = 16;

/// A boxed case future.
type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One case of the suite: its name and how to run it on an empty store.
type Case = (&'static str, fn(Arc<dyn ClientStore>) -> CaseFuture);

/// Every case, in the order [`run_all`] runs them.
const CASES: &[Case] = &[
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
    ("create_within_stops_at_each_quota", |s| {
        Box::pin(create_within_stops_at_each_quota(s))
    }),
    ("create_within_conflict_takes_no_place", |s| {
        Box::pin(create_within_conflict_takes_no_place(s))
    }),
    ("deletions_and_updates_move_the_counts", |s| {
        Box::pin(deletions_and_updates_move_the_counts(s))
    }),
    ("concurrent_creates_never_overshoot", |s| {
        Box::pin(concurrent_creates_never_overshoot(s))
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
        registration_access_token_expires_at: NOW + 3600,
        previous_registration_access_token: Some((
            SecretDigest::of(&format!("previous rat of {client_id}")),
            NOW + 60,
        )),
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
    registration_access_token_expires_at: u64,
    previous_registration_access_token: Option<([u8; 32], u64)>,
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
        registration_access_token_expires_at: record.registration_access_token_expires_at,
        previous_registration_access_token: record
            .previous_registration_access_token
            .map(|(d, until)| (*d.as_bytes(), until)),
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
