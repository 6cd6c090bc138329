//! The memory store with many clients: register and read latency with 10 k
//! and with 1 M clients already stored, and bytes per stored client against
//! the size of the client's JSON (a counting global allocator).
//!
//! cargo bench --bench scale
//!
//! The stores are filled directly through `MemoryStore::create` with copies of
//! a record the service registered (each with its own `client_id`), which is
//! what the service stores, in a fraction of the time.

mod common;

use std::alloc::System;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::Method;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower_dcr::{ClientRecord, ClientStore, MemoryStore, generate_client_id};

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

fn scale_benches(c: &mut Criterion) {
    let rt = runtime();
    let (template, token, response_len) = template(&rt);
    let metadata_len = serde_json::to_vec(&template.metadata).unwrap().len();

    let mut group = c.benchmark_group("scale_memory");
    for (label, n) in [("10k", 10_000usize), ("1M", 1_000_000)] {
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

        // A registration, then (not measured) its removal: the store stays at n.
        group.bench_function(format!("register/{label}"), |b| {
            let (svc, store) = (svc.clone(), store.clone());
            b.to_async(&rt).iter_custom(|iters| {
                let (mut svc, store) = (svc.clone(), store.clone());
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let request = register_request(BODY);
                        let start = Instant::now();
                        let (status, body) = send(&mut svc, request).await;
                        total += start.elapsed();
                        assert_eq!(status, 201);
                        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        let id = value["client_id"].as_str().unwrap();
                        assert!(store.delete(id, None).await.unwrap());
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

criterion_group! {
    name = benches;
    config = criterion();
    targets = scale_benches
}
criterion_main!(benches);
