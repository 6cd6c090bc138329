//! Noise-free counts per operation: heap allocations (a counting global
//! allocator) and, under callgrind, instructions. On 2 shared cores these are
//! the second opinion next to criterion's ratios.
//!
//! cargo bench --bench instructions             # allocations per operation
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='instructions::measured' \
//!     target/release/deps/instructions-<hash> OP   # instructions: Ir / N
//!
//! OP is one of floor, register, read, update, delete, verify (default: all,
//! which is what `cargo bench` runs).

mod common;

use std::alloc::System;
use std::hint::black_box;

use common::*;
use http::Method;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower_dcr::Registration;
use tower_dcr::store::StoredSecret;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Iterations per operation.
const N: usize = 2000;

struct Fixture {
    rt: tokio::runtime::Runtime,
    svc: Registration,
    client: Registered,
    update_body: String,
    stored: StoredSecret,
    presented: String,
    to_delete: Vec<Registered>,
    requests: Vec<http::Request<http_body_util::Full<bytes::Bytes>>>,
}

fn fixture() -> Fixture {
    let rt = runtime();
    let mut svc = memory_service();
    let client = rt.block_on(register(&mut svc));
    let update_body = update_body(&client.client_id);
    let secret = tower_dcr::Secret::generate().unwrap();
    Fixture {
        rt,
        svc,
        client,
        update_body,
        stored: StoredSecret::Digest(secret.digest()),
        presented: secret.secret().to_owned(),
        to_delete: Vec::new(),
        requests: Vec::new(),
    }
}

fn token_of(response: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(response).unwrap();
    value["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// One operation; what is measured is its whole cost, `n` times.
#[inline(never)]
fn measured(op: &str, f: &mut Fixture, n: usize) {
    let Fixture { rt, svc, .. } = f;
    match op {
        "floor" => {
            for _ in 0..n {
                black_box(floor(black_box(BODY.as_bytes())));
            }
        }
        "register" => rt.block_on(async {
            for request in f.requests.drain(..).take(n) {
                let (status, _) = send(svc, request).await;
                assert_eq!(status, 201);
            }
        }),
        "read" => rt.block_on(async {
            for request in f.requests.drain(..).take(n) {
                let (status, _) = send(svc, request).await;
                assert_eq!(status, 200);
            }
        }),
        "update" => rt.block_on(async {
            for _ in 0..n {
                let request = manage_request(
                    Method::PUT,
                    &f.client.client_id,
                    &f.client.token,
                    Some(&f.update_body),
                );
                let (status, body) = send(svc, request).await;
                assert_eq!(status, 200);
                f.client.token = token_of(&body);
            }
        }),
        "delete" => rt.block_on(async {
            // The clients were registered before, outside `measured`.
            for client in f.to_delete.drain(..).take(n) {
                let request =
                    manage_request(Method::DELETE, &client.client_id, &client.token, None);
                let (status, _) = send(svc, request).await;
                assert_eq!(status, 204);
            }
        }),
        "verify" => {
            for _ in 0..n {
                black_box(f.stored.verify(black_box(&f.presented)));
            }
        }
        other => panic!("unknown operation {other}"),
    }
}

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let all = ["floor", "register", "read", "update", "delete", "verify"];
    let ops: Vec<&str> = if wanted.is_empty() {
        all.to_vec()
    } else {
        wanted.iter().map(String::as_str).collect()
    };
    let mut f = fixture();
    println!(
        "{:<10} {:>12} {:>14}",
        "operation", "allocs/op", "bytes alloc/op"
    );
    for op in ops {
        // Requests are built before, outside `measured`.
        f.requests = match op {
            "register" => (0..N).map(|_| register_request(BODY)).collect(),
            "read" => (0..N)
                .map(|_| manage_request(Method::GET, &f.client.client_id, &f.client.token, None))
                .collect(),
            _ => Vec::new(),
        };
        if op == "delete" {
            let Fixture { rt, svc, .. } = &mut f;
            f.to_delete = rt.block_on(async {
                let mut clients = Vec::with_capacity(N);
                for _ in 0..N {
                    clients.push(register(svc).await);
                }
                clients
            });
        }
        let region = Region::new(GLOBAL);
        measured(op, &mut f, N);
        let stats = region.change();
        println!(
            "{:<10} {:>12.1} {:>14.0}",
            op,
            stats.allocations as f64 / N as f64,
            stats.bytes_allocated as f64 / N as f64
        );
    }
}
