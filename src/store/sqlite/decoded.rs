//! Client records decoded from their rows, handed out again while the row
//! reads back unchanged.
//!
//! A read by key is a cached B-tree seek (a few µs); turning the row into a
//! [`ClientRecord`] (parsing the metadata JSON, building the record) costs
//! more than the seek. A client read again and again (its registration
//! access token checked on every management request) decodes to the same
//! record each time, so the store keeps the last decoded record of a few
//! hundred clients next to the row it came from. Every read still runs its
//! `SELECT`: the record is reused only when every column of the row read now
//! equals the row it was decoded from, so a change by any connection or
//! process (an update, a delete and re-create) is always seen. Rows holding a
//! plain `client_secret_jwt` key are never kept (the key would stay in memory
//! outside the record's zeroizing secret).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::types::Value;

use crate::store::sql::{SECRET_PLAIN, SqliteRow, client_from_row};
use crate::store::{ClientRecord, StoreError};

/// At most this many decoded records are kept.
const CAPACITY: usize = 512;
/// The position of `client_secret_kind` in a client row.
const SECRET_KIND: usize = 2;

/// Decoded records by `client_id`, each with the row it was decoded from.
type Entries = HashMap<String, (Vec<Value>, Arc<ClientRecord>)>;

/// The records kept ([`Entries`]).
#[derive(Default)]
pub(crate) struct Decoded {
    entries: Mutex<Entries>,
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoded")
            .field("records", &self.lock().len())
            .finish()
    }
}

impl Decoded {
    /// The record `row` holds: the one decoded before if the row is unchanged
    /// since, else decoded now (and kept).
    pub(crate) fn record(&self, row: SqliteRow) -> Result<Arc<ClientRecord>, StoreError> {
        let Some(Value::Text(client_id)) = row.0.first() else {
            return client_from_row(&row).map(Arc::new);
        };
        if let Some((kept, record)) = self.lock().get(client_id)
            && *kept == row.0
        {
            return Ok(Arc::clone(record));
        }
        let record = Arc::new(client_from_row(&row)?);
        if matches!(row.0.get(SECRET_KIND), Some(Value::Text(kind)) if kind == SECRET_PLAIN) {
            return Ok(record);
        }
        let mut entries = self.lock();
        if entries.len() >= CAPACITY && !entries.contains_key(client_id) {
            // Any one goes: a hot client is decoded again on its next read.
            if let Some(evicted) = entries.keys().next().cloned() {
                entries.remove(&evicted);
            }
        }
        entries.insert(client_id.clone(), (row.0, Arc::clone(&record)));
        Ok(record)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
