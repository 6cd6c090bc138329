//! The four operations in-process through `Service::call` with the memory
//! store, next to their floor measured in the same run: parse the same body
//! into a `serde_json::Value`, mint two 256-bit tokens, serialize a response of
//! the same size. Also the client authentication helper next to a PBKDF2
//! verification. Figures are read as ratios (see BENCHMARKS.md).
//!
//! cargo bench --bench registration

mod common;

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::*;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method, header};
use tower_dcr::host::ClientCredentials;
use tower_dcr::store::StoredSecret;
use tower_dcr::{MemoryStore, Secret};

fn floor_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("floor");
    group.bench_function("parse_mint2_serialize", |b| {
        b.iter(|| floor(black_box(BODY.as_bytes())))
    });
    group.bench_function("parse_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(BODY.as_bytes())).unwrap())
    });
    let response: serde_json::Value = serde_json::from_slice(&floor(BODY.as_bytes())).unwrap();
    group.bench_function("serialize_value", |b| {
        b.iter(|| serde_json::to_vec(black_box(&response)).unwrap())
    });
    group.bench_function("mint_token", |b| b.iter(mint_token));
    group.finish();
}

fn service_benches(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("service");

    let svc = memory_service();
    let first = rt.block_on(register(&mut svc.clone()));
    eprintln!(
        "response sizes: service register {} bytes, floor {} bytes",
        first.response.len(),
        floor(BODY.as_bytes()).len()
    );

    // Requests are built outside the measurement (iter_batched), as the
    // floor gets its body ready-made.
    group.bench_function("register", |b| {
        let svc = svc.clone();
        b.to_async(&rt).iter_batched(
            || register_request(BODY),
            |request| {
                let mut svc = svc.clone();
                async move {
                    let (status, body) = send(&mut svc, request).await;
                    debug_assert_eq!(status, 201);
                    body
                }
            },
            BatchSize::SmallInput,
        )
    });

    group.bench_function("read", |b| {
        let svc = svc.clone();
        let (id, token) = (first.client_id.clone(), first.token.clone());
        b.to_async(&rt).iter_batched(
            || manage_request(Method::GET, &id, &token, None),
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

    group.bench_function("update", |b| {
        let mut svc = svc.clone();
        let client = rt.block_on(register(&mut svc));
        let body = update_body(&client.client_id);
        let id = client.client_id;
        // The token rotates on every update (RatRotation::OnUpdate).
        let token = Rc::new(RefCell::new(client.token));
        b.to_async(&rt).iter_custom(|iters| {
            let mut svc = svc.clone();
            let (id, body, token) = (id.clone(), body.clone(), Rc::clone(&token));
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let current = token.borrow().clone();
                    let request = manage_request(Method::PUT, &id, &current, Some(&body));
                    let start = Instant::now();
                    let (status, response) = send(&mut svc, request).await;
                    total += start.elapsed();
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&response));
                    let value: serde_json::Value = serde_json::from_slice(&response).unwrap();
                    *token.borrow_mut() = value["registration_access_token"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                }
                total
            }
        })
    });

    group.bench_function("delete", |b| {
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
    group.finish();
}

/// The client authentication helper (a 256-bit random secret: SHA-256 and a
/// constant-time compare) next to PBKDF2-HMAC-SHA256 at 25,000 iterations,
/// the KDF some servers run on every token request.
fn client_auth_benches(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("client_auth");
    let secret = Secret::generate().unwrap();
    let stored = StoredSecret::Digest(secret.digest());
    let presented = secret.secret().to_owned();
    group.bench_function("verify_secret", |b| {
        b.iter(|| stored.verify(black_box(&presented)))
    });

    // The whole helper: parse the Basic header, load the client from the
    // memory store, check method, secret and expiry.
    let store = MemoryStore::new();
    let svc = service(store);
    let client = rt.block_on(register(&mut svc.clone()));
    let value: serde_json::Value = serde_json::from_slice(&client.response).unwrap();
    let client_secret = value["client_secret"].as_str().unwrap().to_owned();
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{}:{}", client.client_id, client_secret),
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Basic {basic}")).unwrap(),
    );
    group.bench_function("authenticate_client", |b| {
        b.to_async(&rt).iter(|| {
            let svc = svc.clone();
            let headers = headers.clone();
            async move {
                let credentials = ClientCredentials::from_request(&headers, None, None).unwrap();
                svc.authenticate_client(&credentials).await.unwrap()
            }
        })
    });

    let salt = [7u8; 16];
    let mut expected = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(presented.as_bytes(), &salt, 25_000, &mut expected);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("pbkdf2_sha256_25000", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                black_box(presented.as_bytes()),
                &salt,
                25_000,
                &mut out,
            );
            bool::from(subtle::ConstantTimeEq::ct_eq(&out[..], &expected[..]))
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = floor_benches, service_benches, client_auth_benches
}
criterion_main!(benches);
