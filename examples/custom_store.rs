//! A custom `ClientStore`: a JSON-lines file. Every change is appended as one
//! line and flushed to disk before the store answers; at start the file is
//! replayed into memory. Small, but durable across restarts, and it passes the
//! crate's conformance suite (`cargo test --example custom_store`).
//!
//! ```text
//! cargo run --example custom_store -- clients.jsonl
//! ```
//!
//! It implements only the four required methods; the optional capabilities
//! (initial access tokens, lifecycle) keep their default `None`, and the
//! conformance suite skips their cases.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tower_dcr::store::{ClientRecord, ClientStore, RecordSource, StoreError, StoredSecret};
use tower_dcr::{ClientMetadata, Registration, Secret, SecretDigest};

/// One line of the file: a record as stored, or a deletion.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Line {
    Put(Box<StoredRecord>),
    Delete { client_id: String },
}

/// A `ClientRecord` in a form serde can write. Secrets are kept as the record
/// keeps them: digests in hex, the plaintext only for `client_secret_jwt`.
#[derive(Serialize, Deserialize)]
struct StoredRecord {
    client_id: String,
    metadata: ClientMetadata,
    secret_digest: Option<String>,
    secret_plain: Option<String>,
    client_id_issued_at: u64,
    client_secret_expires_at: u64,
    registration_access_token: Option<String>,
    registration_access_token_expires_at: u64,
    previous_registration_access_token: Option<(String, u64)>,
    revision: u64,
    host_created: bool,
    profile: Option<String>,
    initial_access_token_id: Option<String>,
    created_at: u64,
    updated_at: u64,
    last_used_at: Option<u64>,
}

fn hex(digest: &SecretDigest) -> String {
    digest
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unhex(text: &str) -> Option<SecretDigest> {
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    SecretDigest::from_slice(&bytes?)
}

impl From<&ClientRecord> for StoredRecord {
    fn from(r: &ClientRecord) -> Self {
        let (secret_digest, secret_plain) = match &r.client_secret {
            Some(StoredSecret::Digest(d)) => (Some(hex(d)), None),
            Some(StoredSecret::Plain(s)) => (None, Some(s.secret().to_owned())),
            None => (None, None),
        };
        Self {
            client_id: r.client_id.clone(),
            metadata: r.metadata.clone(),
            secret_digest,
            secret_plain,
            client_id_issued_at: r.client_id_issued_at,
            client_secret_expires_at: r.client_secret_expires_at,
            registration_access_token: r.registration_access_token.as_ref().map(hex),
            registration_access_token_expires_at: r.registration_access_token_expires_at,
            previous_registration_access_token: r
                .previous_registration_access_token
                .as_ref()
                .map(|(d, until)| (hex(d), *until)),
            revision: r.revision,
            host_created: r.source == RecordSource::Host,
            profile: r.profile.clone(),
            initial_access_token_id: r.initial_access_token_id.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            last_used_at: r.last_used_at,
        }
    }
}

impl StoredRecord {
    fn into_record(self) -> Option<ClientRecord> {
        let client_secret = match (self.secret_digest, self.secret_plain) {
            (Some(d), None) => Some(StoredSecret::Digest(unhex(&d)?)),
            (None, Some(s)) => Some(StoredSecret::Plain(Secret::new(s))),
            (None, None) => None,
            (Some(_), Some(_)) => return None,
        };
        let registration_access_token = match self.registration_access_token {
            Some(d) => Some(unhex(&d)?),
            None => None,
        };
        Some(ClientRecord {
            client_id: self.client_id,
            metadata: self.metadata,
            client_secret,
            client_id_issued_at: self.client_id_issued_at,
            client_secret_expires_at: self.client_secret_expires_at,
            registration_access_token,
            registration_access_token_expires_at: self.registration_access_token_expires_at,
            previous_registration_access_token: match self.previous_registration_access_token {
                Some((d, until)) => Some((unhex(&d)?, until)),
                None => None,
            },
            revision: self.revision,
            source: if self.host_created {
                RecordSource::Host
            } else {
                RecordSource::Dynamic
            },
            profile: self.profile,
            initial_access_token_id: self.initial_access_token_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_used_at: self.last_used_at,
        })
    }
}

/// The store: the replayed records, and the file the changes go to. One mutex
/// guards both, so the file's order is the order of the changes; it is never
/// held across an `.await` (the methods do no async work).
#[derive(Debug)]
struct JsonLinesStore {
    path: PathBuf,
    state: Mutex<(HashMap<String, Arc<ClientRecord>>, File)>,
}

impl JsonLinesStore {
    /// Opens (or creates) the file and replays it.
    fn open(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let path = path.as_ref().to_owned();
        let mut clients = HashMap::new();
        if let Ok(file) = File::open(&path) {
            for (number, line) in BufReader::new(file).lines().enumerate() {
                let line = line?;
                match serde_json::from_str::<Line>(&line) {
                    Ok(Line::Put(stored)) => match (*stored).into_record() {
                        Some(record) => {
                            clients.insert(record.client_id.clone(), Arc::new(record));
                        }
                        None => eprintln!(
                            "{}:{}: unreadable record skipped",
                            path.display(),
                            number + 1
                        ),
                    },
                    Ok(Line::Delete { client_id }) => {
                        clients.remove(&client_id);
                    }
                    // A torn last line after a crash: the change was never acknowledged.
                    Err(_) => {
                        eprintln!("{}:{}: incomplete line ignored", path.display(), number + 1)
                    }
                }
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self {
            path,
            state: Mutex::new((clients, file)),
        })
    }

    /// Appends one line and waits until it is on disk.
    fn append(file: &mut File, line: &Line) -> Result<(), StoreError> {
        let mut text = serde_json::to_string(line).map_err(StoreError::unavailable)?;
        text.push('\n');
        file.write_all(text.as_bytes())
            .map_err(StoreError::unavailable)?;
        file.sync_data().map_err(StoreError::unavailable)
    }
}

#[async_trait]
impl ClientStore for JsonLinesStore {
    async fn create(&self, record: Arc<ClientRecord>) -> Result<(), StoreError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| StoreError::unavailable("poisoned"))?;
        let (clients, file) = &mut *state;
        if clients.contains_key(&record.client_id) {
            return Err(StoreError::Conflict);
        }
        Self::append(file, &Line::Put(Box::new((&*record).into())))?;
        clients.insert(record.client_id.clone(), record);
        Ok(())
    }

    async fn get(&self, client_id: &str) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        let state = self
            .state
            .lock()
            .map_err(|_| StoreError::unavailable("poisoned"))?;
        Ok(state.0.get(client_id).cloned())
    }

    async fn update(
        &self,
        record: Arc<ClientRecord>,
        expected_revision: u64,
    ) -> Result<(), StoreError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| StoreError::unavailable("poisoned"))?;
        let (clients, file) = &mut *state;
        let Some(current) = clients.get(&record.client_id) else {
            return Err(StoreError::Stale);
        };
        if current.revision != expected_revision {
            return Err(StoreError::Stale);
        }
        // The trait's rule: last_used_at only moves forward.
        let record = if current.last_used_at > record.last_used_at {
            let mut kept = ClientRecord::clone(&record);
            kept.last_used_at = current.last_used_at;
            Arc::new(kept)
        } else {
            record
        };
        Self::append(file, &Line::Put(Box::new((&*record).into())))?;
        clients.insert(record.client_id.clone(), record);
        Ok(())
    }

    async fn delete(
        &self,
        client_id: &str,
        expected_revision: Option<u64>,
    ) -> Result<bool, StoreError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| StoreError::unavailable("poisoned"))?;
        let (clients, file) = &mut *state;
        match clients.get(client_id) {
            Some(current) if expected_revision.is_none_or(|r| r == current.revision) => {
                Self::append(
                    file,
                    &Line::Delete {
                        client_id: client_id.to_owned(),
                    },
                )?;
                clients.remove(client_id);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "clients.jsonl".into());
    let store = JsonLinesStore::open(&path)?;
    println!(
        "clients from {} ({} loaded)",
        store.path.display(),
        store.state.lock().unwrap().0.len()
    );
    let dcr = Registration::builder("http://127.0.0.1:3002")
        .open()
        .store(store)
        .build()?;
    let app = axum::Router::new().nest_service("/register", dcr);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3002").await?;
    println!("POST http://127.0.0.1:3002/register; Ctrl-C to stop");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crate's conformance suite: every required-method case passes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn json_lines_store_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let counter = std::sync::atomic::AtomicUsize::new(0);
        tower_dcr::store::conformance::run_all(|| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = dir.path().join(format!("{n}.jsonl"));
            async move { JsonLinesStore::open(path).unwrap() }
        })
        .await;
    }

    /// What was acknowledged is there after a reopen, deletions included.
    #[tokio::test]
    async fn survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients.jsonl");
        let store = JsonLinesStore::open(&path).unwrap();
        let record = tower_dcr::store::conformance::sample_record("kept");
        store.create(Arc::new(record.clone())).await.unwrap();
        store
            .create(Arc::new(tower_dcr::store::conformance::sample_record(
                "gone",
            )))
            .await
            .unwrap();
        assert!(store.delete("gone", None).await.unwrap());
        drop(store);
        let reopened = JsonLinesStore::open(&path).unwrap();
        let kept = reopened
            .get("kept")
            .await
            .unwrap()
            .expect("kept after reopen");
        assert_eq!(
            serde_json::to_string(&kept.metadata).unwrap(),
            serde_json::to_string(&record.metadata).unwrap()
        );
        assert!(reopened.get("gone").await.unwrap().is_none());
    }
}
