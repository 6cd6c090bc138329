//! URL clients and client assertions next to their baselines in the same run:
//!
//! - `resolve/url_client_cached`: `client` on a URL client whose
//!   document is cached, next to `resolve/registered_memory`, the same call
//!   for a registered client in the memory store (target: within 2x);
//! - `assertion/authenticate_es256`: `authenticate_client` with an ES256
//!   `private_key_jwt` assertion (parse, key, signature, claims, replay
//!   store), next to `assertion/jsonwebtoken_decode_es256`, jsonwebtoken's own
//!   `decode` of the same kind of token (target: within 1.5x).
//!
//! cargo bench --bench url_clients --features client-id-metadata-document,client-assertion

mod common;

use std::hint::black_box;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use common::{criterion, runtime};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::HeaderMap;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand_core::OsRng;
use serde_json::{Value, json};
use tower_dcr::client_assertion::{ClientAssertions, JWT_BEARER};
use tower_dcr::fetch::{FetchError, Fetcher};
use tower_dcr::host::ClientCredentials;
use tower_dcr::metadata_document::MetadataDocuments;
use tower_dcr::{ClientMetadata, ClientRecord, MemoryStore, Registration};

const ISSUER: &str = "https://auth.example.com";
const URL_CLIENT: &str = "https://agent.example/client.json";

/// Serves one canned document (no network in the benchmark).
#[derive(Debug)]
struct Canned(Bytes);

#[async_trait]
impl Fetcher for Canned {
    async fn fetch(&self, _url: &str) -> Result<Bytes, FetchError> {
        Ok(self.0.clone())
    }
}

fn resolve_benches(c: &mut Criterion) {
    let rt = runtime();
    let document = json!({
        "client_id": URL_CLIENT,
        "client_name": "Agent",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    });
    let dcr = Registration::builder(ISSUER)
        .open()
        .store(MemoryStore::new())
        .metadata_documents(
            MetadataDocuments::any_host().fetcher(Canned(document.to_string().into())),
        )
        .build()
        .unwrap();
    let metadata = ClientMetadata::from_json_object(
        json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"})
            .as_object()
            .unwrap()
            .clone(),
    )
    .unwrap();
    rt.block_on(async {
        dcr.store()
            .create(Arc::new(ClientRecord::new_host_client(
                "registered-1",
                metadata,
                0,
            )))
            .await
            .unwrap();
        assert!(dcr.client(URL_CLIENT).await.unwrap().is_some());
    });
    let mut group = c.benchmark_group("resolve");
    group.bench_function("registered_memory", |b| {
        b.to_async(&rt)
            .iter(|| async { dcr.client(black_box("registered-1")).await.unwrap() })
    });
    group.bench_function("url_client_cached", |b| {
        b.to_async(&rt)
            .iter(|| async { dcr.client(black_box(URL_CLIENT)).await.unwrap() })
    });
    group.finish();
}

fn assertion_benches(c: &mut Criterion) {
    use p256::pkcs8::EncodePrivateKey as _;
    let rt = runtime();
    let der = p256::SecretKey::random(&mut OsRng).to_pkcs8_der().unwrap();
    let encoding = EncodingKey::from_ec_der(der.as_bytes());
    let jwk: Jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
    let jwk_value = serde_json::to_value(&jwk).unwrap();
    let dcr = Registration::builder(ISSUER)
        .open()
        .store(MemoryStore::new())
        .client_assertions(ClientAssertions::new())
        .build()
        .unwrap();
    let metadata = ClientMetadata::from_json_object(
        json!({
            "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [jwk_value]},
        })
        .as_object()
        .unwrap()
        .clone(),
    )
    .unwrap();
    rt.block_on(async {
        dcr.store()
            .create(Arc::new(ClientRecord::new_host_client(
                "jwt-client",
                metadata,
                0,
            )))
            .await
            .unwrap();
    });
    let mut counter = 0u64;
    let mut token = || {
        counter += 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({
            "iss": "jwt-client", "sub": "jwt-client", "aud": ISSUER,
            "iat": now, "exp": now + 60, "jti": format!("bench-{counter}"),
        });
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &encoding).unwrap()
    };
    let mut group = c.benchmark_group("assertion");
    let decoding = DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[ISSUER]);
    validation.set_issuer(&["jwt-client"]);
    let fixed = token();
    group.bench_function("jsonwebtoken_decode_es256", |b| {
        b.iter(|| jsonwebtoken::decode::<Value>(black_box(&fixed), &decoding, &validation).unwrap())
    });
    group.bench_function("authenticate_es256", |b| {
        b.to_async(&rt).iter_batched(
            &mut token,
            |assertion| {
                let dcr = &dcr;
                async move {
                    let credentials = ClientCredentials::from_request_with_assertion(
                        &HeaderMap::new(),
                        Some("jwt-client"),
                        None,
                        Some(JWT_BEARER),
                        Some(assertion.as_str()),
                    )
                    .unwrap();
                    dcr.authenticate_client(&credentials).await.unwrap();
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = resolve_benches, assertion_benches
}
criterion_main!(benches);
