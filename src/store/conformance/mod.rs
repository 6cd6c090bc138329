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
//! [`conformance_tests!`](crate::conformance_tests) makes one test of each
//! case, on a multi-threaded runtime so that the race cases race, each named
//! after its case (`cargo test create_get_update_delete` runs one):
//!
//! ```no_run
//! mod my_store_conforms {
//!     tower_dcr::conformance_tests!(|case| case.run(tower_dcr::MemoryStore::new()));
//! }
//! ```
//!
//! [`run_all`] runs every case in one test instead.
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

/// One case of the suite, run on an empty store by [`Case::run`].
/// [`conformance_tests!`](crate::conformance_tests) makes a test of each.
#[derive(Clone, Copy)]
pub struct Case {
    name: &'static str,
    run: fn(Arc<dyn ClientStore>) -> CaseFuture,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Case").field(&self.name).finish()
    }
}

impl Case {
    /// The case's name, which is also its test's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs the case on `store`, which must be empty; panics with a message
    /// naming the broken rule.
    pub async fn run<S: ClientStore>(self, store: S) {
        eprintln!("store conformance: {}", self.name);
        (self.run)(Arc::new(store)).await;
    }

    /// The case called `name`, for [`conformance_tests!`](crate::conformance_tests).
    #[doc(hidden)]
    pub fn named(name: &str) -> Self {
        *CASES
            .iter()
            .find(|case| case.name == name)
            .unwrap_or_else(|| panic!("no store conformance case is called {name}"))
    }

    /// Hands the case to `run`, for [`conformance_tests!`](crate::conformance_tests)
    /// (which thereby gives its closure's argument a type).
    #[doc(hidden)]
    pub async fn run_with<F, Fut>(self, run: F)
    where
        F: FnOnce(Self) -> Fut,
        Fut: Future<Output = ()>,
    {
        run(self).await;
    }
}

/// Calls the macro named by the tokens in the first parentheses with the
/// tokens in the second, then every case's name in brackets: the one list of
/// the cases, which the suite and `conformance_tests!` both read.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    (($($callback:tt)*) ($($args:tt)*)) => {
        $($callback)*! { $($args)* [
            create_get_update_delete,
            create_of_existing_client_conflicts,
            update_with_stale_revision_fails,
            update_of_missing_client_is_stale,
            delete_of_missing_client_is_false,
            delete_with_stale_revision_keeps_the_client,
            concurrent_updates_have_one_winner,
            concurrent_read_modify_write_loses_no_update,
            secrets_round_trip,
            large_metadata_round_trips_byte_exact,
            out_of_range_numbers_do_not_fail,
            nul_characters_are_not_errors,
            initial_access_token_create_find_list_revoke,
            initial_access_token_expires,
            initial_access_token_max_uses,
            one_use_token_race_has_one_winner,
            record_use_keeps_revision,
            list_clients_pages_in_order,
            count_clients_applies_filters,
            stale_clients_follow_criteria,
            delete_if_stale_spares_client_used_since,
            expired_secrets_lists_only_expired,
            create_within_stops_at_each_quota,
            create_within_conflict_takes_no_place,
            deletions_and_updates_move_the_counts,
            concurrent_creates_never_overshoot,
        ] }
    };
}

/// One `#[tokio::test]` per case of the suite (multi-threaded runtime, four
/// workers, so that the race cases race), each named after its case, so
/// that a failing case hides no other and `cargo test NAME` runs one.
///
/// The argument is called with each [`Case`] and returns a future that runs
/// it, usually `case.run(store)` on a fresh, empty store; anything the store
/// needs (a temporary directory, a schema to drop afterwards) can live
/// around that call. Invoke it inside a module of its own: the tests take the
/// cases' names. The crate that invokes it needs `tokio` with its `macros`
/// and `rt-multi-thread` features.
///
/// ```no_run
/// mod memory_store_conforms {
///     tower_dcr::conformance_tests!(|case| case.run(tower_dcr::MemoryStore::new()));
/// }
/// ```
#[macro_export]
macro_rules! conformance_tests {
    (@tests ($run:expr) [$($case:ident,)*]) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::store::conformance::Case::named(::core::stringify!($case))
                    .run_with($run)
                    .await;
            }
        )*
    };
    ($run:expr $(,)?) => {
        $crate::__store_conformance_cases!(($crate::conformance_tests) (@tests ($run)));
    };
}

/// Makes `CASES` from the list of names.
macro_rules! cases {
    ([$($case:ident,)*]) => {
        /// Every case, in the order [`run_all`] runs them.
        const CASES: &[Case] = &[$(Case {
            name: stringify!($case),
            run: |s| Box::pin($case(s)),
        }),*];
    };
}

__store_conformance_cases!((cases)());

/// Runs every case, each on a fresh store from `make`, which must return an
/// empty store (for shared databases: a new table prefix or schema each time).
/// [`conformance_tests!`](crate::conformance_tests) runs each case as a test
/// of its own instead.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: ClientStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    for case in CASES {
        case.run(make().await).await;
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
