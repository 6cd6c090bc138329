//! Store failures (the security rules of ARCHITECTURE.md): an unavailable store is `503` with
//! `Retry-After`, a corrupt record is `500` without it, and no store detail
//! reaches the client.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use tower_dcr::store::{ClientRecord, ClientStore, StoreError};

/// A failing store gives 503 with a JSON error body and Retry-After.
#[tokio::test]
async fn store_failure_is_503_with_retry_after() {
    let dcr = builder().store(DownStore).build().unwrap();
    let a = register(&dcr, web_client()).await;
    a.assert_error(503, "temporarily_unavailable");
    assert!(a.header("retry-after").is_some());
    let a = read(&dcr, "/register/abc", "token").await;
    a.assert_error(503, "temporarily_unavailable");
    assert!(
        !a.description().contains("connection refused"),
        "no backend detail leaks"
    );
}

/// A store holding a corrupt record for every client.
#[derive(Debug)]
struct CorruptStore;

#[async_trait]
impl ClientStore for CorruptStore {
    async fn create(&self, _: Arc<ClientRecord>) -> Result<(), StoreError> {
        Ok(())
    }
    async fn get(&self, _: &str) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        Err(StoreError::corrupt(
            "stored row \"abc\" is corrupt: metadata",
        ))
    }
    async fn update(&self, _: Arc<ClientRecord>, _: u64) -> Result<(), StoreError> {
        Err(StoreError::corrupt(
            "stored row \"abc\" is corrupt: metadata",
        ))
    }
    async fn delete(&self, _: &str, _: Option<u64>) -> Result<bool, StoreError> {
        Err(StoreError::corrupt(
            "stored row \"abc\" is corrupt: metadata",
        ))
    }
}

/// A corrupt stored record is not an outage: `500` with an RFC 6749 §5.2-shaped
/// `server_error` JSON body and no `Retry-After` (retrying would not help), and
/// no store detail in the answer.
#[tokio::test]
async fn corrupt_record_is_500_server_error_without_retry_after() {
    let dcr = builder().store(CorruptStore).build().unwrap();
    let a = read(&dcr, "/register/abc", "token").await;
    a.assert_error(500, "server_error");
    assert!(a.header("retry-after").is_none(), "no Retry-After on 500");
    assert!(
        !a.description().contains("metadata"),
        "no store detail leaks: {}",
        a.description()
    );
}
