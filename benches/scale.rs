//! The stores with many clients: what each request costs with 1 k and with
//! 1 M clients already stored, with a registration quota on (as the example
//! server runs by default), and bytes per stored client against the size of
//! the client's JSON (a counting global allocator).
//!
//! cargo bench --bench scale --all-features      # about 3 minutes
//!
//! - `scale_memory/{register,register_capped,read,update,delete}/{1k,1M}`:
//!   the memory store without a quota and with `max_clients` on;
//! - `scale_sqlite/{register,register_capped,read}/{1k,1M}` (feature
//!   `sqlite`): the SQLite store, without a quota and with one.
//!
//! A cost that grows with the number of clients shows as a 1M/1k ratio above
//! 1 (the quota's count was a scan; it is now a kept count, O(1)). The memory
//! stores are filled directly through `MemoryStore::create` with copies of a
//! record the service registered (each with its own `client_id`), which is
//! what the service stores, in a fraction of the time; the SQLite file with one
//! `INSERT … SELECT` of copies of a registered row.

mod common;

use std::alloc::System;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::Method;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower_dcr::{ClientRecord, ClientStore, MemoryStore, Quotas, Registration, generate_client_id};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A small, fast, deterministic generator for picking clients at random.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// A record as the service builds it, and the registration access token that
/// opens it (every copy keeps the same token digest, so any copy can be read).
fn template(rt: &tokio::runtime::Runtime) -> (Arc<ClientRecord>, String, usize) {
    let store = MemoryStore::new();
    let mut svc = service(store.clone());
    let client = rt.block_on(register(&mut svc));
    let record = rt.block_on(store.get(&client.client_id)).unwrap().unwrap();
    (record, client.token, client.response.len())
}

/// Fills a new store with `n` copies of `template`; returns it, the ids, and the
/// heap bytes the store holds for them (allocated minus freed while filling).
fn filled(
    rt: &tokio::runtime::Runtime,
    template: &ClientRecord,
    n: usize,
) -> (MemoryStore, Vec<String>, i64) {
    let ids: Vec<String> = (0..n).map(|_| generate_client_id().unwrap()).collect();
    let region = Region::new(GLOBAL);
    let store = MemoryStore::new();
    rt.block_on(async {
        for id in &ids {
            let mut record = template.clone();
            record.client_id.clone_from(id);
            store.create(Arc::new(record)).await.unwrap();
        }
    });
    let change = region.change();
    let held = change.bytes_allocated as i64 - change.bytes_deallocated as i64
        + change.bytes_reallocated as i64;
    (store, ids, held)
}

/// The benches' service with a registration quota on, far above what they
/// store (the example server's default is a cap too).
fn capped_service(store: impl ClientStore) -> Registration {
    Registration::builder(ISSUER)
        .open()
        .store(store)
        .quotas(Quotas {
            max_clients: Some(100_000_000),
            ..Quotas::default()
        })
        .build()
        .unwrap()
}

/// Registers one client, then (not measured) deletes it: the store stays at
/// its size. Returns the time of the registration.
async fn register_and_remove(svc: &mut Registration, store: &dyn ClientStore) -> Duration {
    let request = register_request(BODY);
    let start = Instant::now();
    let (status, body) = send(svc, request).await;
    let took = start.elapsed();
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = value["client_id"].as_str().unwrap();
    assert!(store.delete(id, None).await.unwrap());
    took
}

fn scale_benches(c: &mut Criterion) {
    let rt = runtime();
    let (template, token, response_len) = template(&rt);
    let metadata_len = serde_json::to_vec(&template.metadata).unwrap().len();

    let mut group = c.benchmark_group("scale_memory");
    for (label, n) in [("1k", 1_000usize), ("1M", 1_000_000)] {
        let started = Instant::now();
        let (store, ids, held) = filled(&rt, &template, n);
        let per_client = held as f64 / n as f64;
        eprintln!(
            "memory store, {label} clients (filled in {:.1} s): {per_client:.0} bytes per client; \
             client information JSON {response_len} bytes ({:.2}x), metadata JSON {metadata_len} \
             bytes ({:.2}x)",
            started.elapsed().as_secs_f64(),
            per_client / response_len as f64,
            per_client / metadata_len as f64,
        );
        let svc = service(store.clone());

        // A registration, then (not measured) its removal: the store stays at
        // n. Without a quota, then with one.
        for (name, svc) in [
            ("register", svc.clone()),
            ("register_capped", capped_service(store.clone())),
        ] {
            group.bench_function(format!("{name}/{label}"), |b| {
                let (svc, store) = (svc.clone(), store.clone());
                b.to_async(&rt).iter_custom(|iters| {
                    let (mut svc, store) = (svc.clone(), store.clone());
                    async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            total += register_and_remove(&mut svc, &store).await;
                        }
                        total
                    }
                })
            });
        }

        // An update (RFC 7592 §2.2) of a client picked at random.
        group.bench_function(format!("update/{label}"), |b| {
            let svc = svc.clone();
            let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
            b.to_async(&rt).iter_batched(
                || {
                    let id = &ids[rng.below(ids.len())];
                    manage_request(Method::PUT, id, &token, Some(&update_body(id)))
                },
                |request| {
                    let mut svc = svc.clone();
                    async move {
                        let (status, body) = send(&mut svc, request).await;
                        debug_assert_eq!(status, 200);
                        body
                    }
                },
                BatchSize::SmallInput,
            )
        });

        // A deletion (RFC 7592 §2.3) of a client registered (not measured)
        // just before: the store stays at n.
        group.bench_function(format!("delete/{label}"), |b| {
            let svc = svc.clone();
            b.to_async(&rt).iter_custom(|iters| {
                let mut svc = svc.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let client = register(&mut svc).await;
                        let request =
                            manage_request(Method::DELETE, &client.client_id, &client.token, None);
                        let start = Instant::now();
                        let (status, _) = send(&mut svc, request).await;
                        total += start.elapsed();
                        assert_eq!(status, 204);
                    }
                    total
                }
            })
        });

        // A read of a client picked at random among the n.
        group.bench_function(format!("read/{label}"), |b| {
            let svc = svc.clone();
            let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
            b.to_async(&rt).iter_batched(
                || manage_request(Method::GET, &ids[rng.below(ids.len())], &token, None),
                |request| {
                    let mut svc = svc.clone();
                    async move {
                        let (status, body) = send(&mut svc, request).await;
                        debug_assert_eq!(status, 200);
                        body
                    }
                },
                BatchSize::SmallInput,
            )
        });
        drop((svc, store, ids));
    }
    group.finish();
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use tower_dcr::store::SqliteStore;

    /// A migrated SQLite file with `n` clients: one registered through the
    /// service, copied `n - 1` times by one statement (the count triggers
    /// count each copy). Returns the store and the ids `fill-1` … of the
    /// copies.
    fn filled(rt: &tokio::runtime::Runtime, dir: &std::path::Path, n: usize) -> SqliteStore {
        let path = dir.join(format!("scale-{n}.db"));
        let store = rt.block_on(async {
            let store = SqliteStore::open(&path).await.unwrap();
            store.migrate().await.unwrap();
            let mut svc = capped_service(store.clone());
            register(&mut svc).await;
            store.close().await;
            store
        });
        drop(store);
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute(
                "INSERT INTO clients SELECT 'fill-' || seq.n, metadata, client_secret_kind, \
                 client_secret, registration_access_token, revision, source, profile, \
                 initial_access_token_id, software_id, client_id_issued_at, \
                 client_secret_expires_at, created_at, updated_at, last_used_at, \
                 registration_access_token_expires_at, previous_registration_access_token, \
                 previous_registration_access_token_expires_at \
                 FROM (SELECT * FROM clients LIMIT 1) AS template, \
                 (WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ?1) \
                 SELECT n FROM s) AS seq",
                [n as i64 - 1],
            )
            .unwrap();
        drop(connection);
        rt.block_on(async {
            let store = SqliteStore::open(&path).await.unwrap();
            store.migrate().await.unwrap();
            store
        })
    }

    pub(super) fn benches(c: &mut Criterion) {
        let rt = runtime();
        let dir = tempfile::tempdir().unwrap();
        let mut group = c.benchmark_group("scale_sqlite");
        for (label, n) in [("1k", 1_000usize), ("1M", 1_000_000)] {
            let started = Instant::now();
            let store = filled(&rt, dir.path(), n);
            eprintln!(
                "sqlite store, {label} clients (filled in {:.1} s)",
                started.elapsed().as_secs_f64()
            );
            let svc = capped_service(store.clone());
            let token = rt.block_on(async {
                let mut svc = svc.clone();
                register(&mut svc).await
            });
            for (name, svc) in [
                ("register", service(store.clone())),
                ("register_capped", svc.clone()),
            ] {
                group.bench_function(format!("{name}/{label}"), |b| {
                    let (svc, store) = (svc.clone(), store.clone());
                    b.to_async(&rt).iter_custom(|iters| {
                        let (mut svc, store) = (svc.clone(), store.clone());
                        async move {
                            let mut total = Duration::ZERO;
                            for _ in 0..iters {
                                total += register_and_remove(&mut svc, &store).await;
                            }
                            total
                        }
                    })
                });
            }
            group.bench_function(format!("read/{label}"), |b| {
                let svc = svc.clone();
                b.to_async(&rt).iter_batched(
                    || manage_request(Method::GET, &token.client_id, &token.token, None),
                    |request| {
                        let mut svc = svc.clone();
                        async move { send(&mut svc, request).await }
                    },
                    BatchSize::SmallInput,
                )
            });
            rt.block_on(store.close());
        }
        group.finish();
    }
}

#[cfg(feature = "sqlite")]
criterion_group! {
    name = benches;
    config = criterion();
    targets = scale_benches, sqlite::benches
}
#[cfg(not(feature = "sqlite"))]
criterion_group! {
    name = benches;
    config = criterion();
    targets = scale_benches
}
criterion_main!(benches);
