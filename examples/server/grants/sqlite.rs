//! [`SqliteGrants`]: grants in the SQLite database of `--store sqlite:PATH`,
//! next to the clients, on a connection of their own, so a restart signs
//! nobody out.
//!
//! Every write is one step of a writer thread, which commits the steps queued
//! meanwhile together: one `BEGIN IMMEDIATE` transaction per batch, a
//! savepoint per step, so each is one atomic step for every process on the
//! file (a code is redeemed once, a refresh token rotated once, tokens are
//! never kept in a revoked grant), and is answered only after the commit.
//! The file is in WAL mode with `synchronous = FULL`, like the client store:
//! an answered token survives `SIGKILL`. Reads (a token check) use a
//! connection of their own and never wait for the writer. The bounds are
//! those of the in-memory store: past one, the holder's oldest row goes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, Transaction, TransactionBehavior, params};
use tokio::sync::oneshot;
use tower_dcr::SecretDigest;

use super::{
    ACCESS_BOUNDS, Approved, AuthorizationRequest, CODE_BOUNDS, CODE_LIFETIME, CONSENT_LIFETIME,
    Code, GrantError, GrantId, GrantStore, Key, KeyTable, NewTokens, PENDING_BOUNDS, Pending,
    REFRESH_BOUNDS, RefreshState, SPENT_BOUNDS, TokenInfo, now,
};
use crate::bounded::Bounds;

/// The tables, created if missing (`migrate`). Tokens of every kind share
/// one table: `access`, `refresh`, and `spent` (a rotated refresh token's
/// replay marker, without scope or user).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS server_pending (
    key BLOB PRIMARY KEY,
    owner TEXT NOT NULL,
    grp TEXT,
    expires_at INTEGER NOT NULL,
    browser BLOB NOT NULL,
    request TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS server_pending_owner ON server_pending (owner);
CREATE INDEX IF NOT EXISTS server_pending_grp ON server_pending (grp) WHERE grp IS NOT NULL;
CREATE INDEX IF NOT EXISTS server_pending_expires ON server_pending (expires_at);
CREATE TABLE IF NOT EXISTS server_codes (
    key BLOB PRIMARY KEY,
    owner TEXT NOT NULL,
    client_id TEXT NOT NULL,
    grant_id INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    evict_at INTEGER NOT NULL,
    redeemed INTEGER NOT NULL DEFAULT 0,
    approved TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS server_codes_owner ON server_codes (owner);
CREATE INDEX IF NOT EXISTS server_codes_evict ON server_codes (evict_at);
CREATE TABLE IF NOT EXISTS server_tokens (
    key BLOB PRIMARY KEY,
    kind TEXT NOT NULL,
    client_id TEXT NOT NULL,
    grant_id INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    scope TEXT,
    user_id TEXT
);
CREATE INDEX IF NOT EXISTS server_tokens_grant ON server_tokens (grant_id);
CREATE INDEX IF NOT EXISTS server_tokens_client ON server_tokens (kind, client_id);
CREATE INDEX IF NOT EXISTS server_tokens_expires ON server_tokens (expires_at);
CREATE TABLE IF NOT EXISTS server_revoked_grants (
    grant_id INTEGER PRIMARY KEY,
    until INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS server_signing_keys (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    sealed BLOB NOT NULL
);
";

/// How long another process's write lock is waited for.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn failed(error: impl Into<tower_dcr::BoxError>) -> GrantError {
    GrantError::Unavailable(error.into())
}

fn db(error: rusqlite::Error) -> GrantError {
    failed(error)
}

/// The database file of a `sqlite:PATH` (or `sqlite://PATH`) store.
fn path_of(url: &str) -> PathBuf {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    PathBuf::from(rest.split('?').next().unwrap_or(rest))
}

fn to_sql(grant: GrantId) -> i64 {
    i64::from_be_bytes(grant.0.to_be_bytes())
}

fn from_sql(grant: i64) -> GrantId {
    GrantId(u64::from_be_bytes(grant.to_be_bytes()))
}

fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn unsecs(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// See the module docs.
#[derive(Clone)]
pub struct SqliteGrants {
    /// The writer thread's queue ([`write_loop`]).
    writer: mpsc::Sender<Job>,
    /// A connection of its own for reads, so a token check never waits for
    /// the writer (WAL: readers see the last commit).
    reader: Arc<Mutex<Connection>>,
}

/// A step's answer, sent once its batch's commit succeeded (`Ok`) or
/// failed (`Err`, the commit's error).
type Deliver = Box<dyn FnOnce(Result<(), &str>) + Send>;

/// A step queued for the writer.
enum Job {
    /// Runs in the batch's transaction and returns how to deliver its
    /// result once the batch is committed.
    Step(Box<dyn FnOnce(&Transaction<'_>) -> Deliver + Send>),
    /// Tokens to keep: every one in a batch is kept at once
    /// ([`keep_batch`]).
    Tokens(Box<NewTokens>, oneshot::Sender<Result<(), GrantError>>),
}

/// Steps committed together at most (the rest wait for the next batch).
/// Below every per-client bound, so a batch never evicts its own tokens.
const MAX_BATCH: usize = 128;

/// The writer thread: takes every queued step (one batch), runs each under a
/// savepoint in one `BEGIN IMMEDIATE` transaction, the batch's tokens last
/// and together, commits once, and only then answers them all (group
/// commit: one `fsync` for the batch). A step that failed in the database is
/// rolled back to its savepoint alone; a failed commit fails the whole
/// batch. Ends when every handle is dropped.
fn write_loop(mut connection: Connection, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(error) => {
                // Dropping the steps answers them as failed.
                tracing::error!(%error, "the grant store could not begin a transaction");
                continue;
            }
        };
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut tokens = Vec::new();
        for job in batch {
            let step = match job {
                Job::Step(step) => step,
                Job::Tokens(new, answer) => {
                    tokens.push((new, answer));
                    continue;
                }
            };
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(&tx)));
            match ran {
                Ok(deliver) => deliveries.push(deliver),
                // A panicking step is answered as failed (its sender dropped);
                // roll it back with the savepoint it left open.
                Err(_) => {
                    let _ = tx.execute_batch("ROLLBACK TO step; RELEASE step");
                }
            }
        }
        let kept = if tokens.is_empty() {
            Ok(Vec::new())
        } else {
            let new: Vec<&NewTokens> = tokens.iter().map(|(new, _)| &**new).collect();
            in_savepoint(&tx, |tx| keep_batch(tx, &new))
        };
        let committed = tx.commit().map_err(|e| e.to_string());
        for deliver in deliveries {
            deliver(committed.as_ref().map(|_| ()).map_err(String::as_str));
        }
        match (kept, committed) {
            (Ok(refused), Ok(())) => {
                for ((_, answer), refused) in tokens.into_iter().zip(refused) {
                    let result = if refused {
                        Err(GrantError::Replayed)
                    } else {
                        Ok(())
                    };
                    let _ = answer.send(result);
                }
            }
            (kept, committed) => {
                let message = match (kept, committed) {
                    (Err(error), _) => format!("{error:?}"),
                    (_, Err(error)) => format!("the commit failed: {error}"),
                    _ => String::new(),
                };
                for (_, answer) in tokens {
                    let _ = answer.send(Err(failed(message.clone())));
                }
            }
        }
    }
}

/// Runs `step` under a savepoint, rolled back if the database failed.
fn in_savepoint<T>(
    tx: &Transaction<'_>,
    step: impl FnOnce(&Transaction<'_>) -> Result<T, GrantError>,
) -> Result<T, GrantError> {
    tx.execute_batch("SAVEPOINT step").map_err(db)?;
    let result = step(tx);
    let end = if let Err(GrantError::Unavailable(_)) = result {
        "ROLLBACK TO step; RELEASE step"
    } else {
        "RELEASE step"
    };
    tx.execute_batch(end).map_err(db)?;
    result
}

/// Keeps a batch of tokens; returns, for each, whether it was refused
/// because its grant was revoked. Makes room per client and kind at once,
/// exactly as one row at a time would.
fn keep_batch(tx: &Transaction<'_>, batch: &[&NewTokens]) -> Result<Vec<bool>, GrantError> {
    let mut refused = Vec::with_capacity(batch.len());
    let mut rows: Vec<(&'static str, &Key, &TokenInfo)> = Vec::new();
    for tokens in batch {
        let revoked = is_revoked(tx, tokens.access.1.grant)?;
        refused.push(revoked);
        if revoked {
            continue;
        }
        rows.push(("access", &tokens.access.0, &tokens.access.1));
        if let Some((key, info)) = &tokens.refresh {
            rows.push(("refresh", key, info));
        }
    }
    for kind in ["access", "refresh"] {
        let mut owners: Vec<(&str, usize)> = Vec::new();
        for (_, _, info) in rows.iter().filter(|(k, _, _)| *k == kind) {
            match owners.iter_mut().find(|(o, _)| *o == info.client_id) {
                Some((_, n)) => *n += 1,
                None => owners.push((&info.client_id, 1)),
            }
        }
        if !owners.is_empty() {
            tokens_room(kind).make_many(tx, &owners)?;
        }
    }
    for (kind, key, info) in rows {
        insert_row(tx, kind, key, info)?;
    }
    Ok(refused)
}

fn open_connection(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    let _: String = connection.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    Ok(connection)
}

impl SqliteGrants {
    /// Opens the database of `url` (creating it if missing), creates the
    /// grant tables and starts the writer thread.
    pub async fn open(url: &str) -> Result<Self, GrantError> {
        let path = path_of(url);
        let (writer, reader) = tokio::task::spawn_blocking(move || {
            let writer = open_connection(&path)?;
            writer.execute_batch(SCHEMA)?;
            let reader = open_connection(&path)?;
            Ok::<_, rusqlite::Error>((writer, reader))
        })
        .await
        .map_err(failed)?
        .map_err(db)?;
        let (queue, jobs) = mpsc::channel();
        std::thread::Builder::new()
            .name("grant-writer".into())
            .spawn(move || write_loop(writer, jobs))
            .map_err(failed)?;
        Ok(Self {
            writer: queue,
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    /// Runs `step` as one atomic step of the writer's next batch (under a
    /// savepoint, in one immediate transaction), answered once that batch is
    /// committed. The step's writes are kept unless the database failed: a
    /// refusal may have written (a used code, a revoked grant).
    async fn run<T: Send + 'static>(
        &self,
        step: impl FnOnce(&Transaction<'_>) -> Result<T, GrantError> + Send + 'static,
    ) -> Result<T, GrantError> {
        let (answer, answered) = oneshot::channel();
        let job = Job::Step(Box::new(move |tx| {
            let result = in_savepoint(tx, step);
            Box::new(move |committed: Result<(), &str>| {
                let result = match committed {
                    Ok(()) => result,
                    Err(error) => Err(failed(format!("the commit failed: {error}"))),
                };
                let _ = answer.send(result);
            })
        }));
        self.writer
            .send(job)
            .map_err(|_| failed("the grant writer stopped"))?;
        answered
            .await
            .map_err(|_| failed("the grant writer dropped a step"))?
    }

    /// Runs a read on the reader connection, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, GrantError> + Send + 'static,
    ) -> Result<T, GrantError> {
        let reader = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || {
            let connection = reader.lock().unwrap_or_else(|e| e.into_inner());
            read(&connection)
        })
        .await
        .map_err(failed)?
    }
}

/// Makes room for one row in `table` (rows matching `filter`, `kind` bound as
/// `?1` when given), as [`crate::bounded`] does: past `per_owner` the owner's
/// oldest rows go, past `per_group` the group's, past `total` the oldest of
/// the owner holding the most.
struct Room<'a> {
    table: &'a str,
    /// The owner column.
    owner_column: &'a str,
    /// `kind` of the token table, or `None`.
    kind: Option<&'a str>,
    /// When a row may go (seconds since the epoch).
    expiry_column: &'a str,
    bounds: Bounds,
}

impl Room<'_> {
    fn scope(&self) -> &'static str {
        if self.kind.is_some() {
            "kind = ?1"
        } else {
            "?1 IS NULL"
        }
    }

    fn count(&self, tx: &Transaction<'_>, column: &str, value: &str) -> Result<usize, GrantError> {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {} AND {column} = ?2",
            self.table,
            self.scope()
        );
        let count: i64 = tx
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row(params![self.kind, value], |r| r.get(0)))
            .map_err(db)?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// Deletes the `n` oldest rows whose `column` is `value`.
    fn drop_oldest(
        &self,
        tx: &Transaction<'_>,
        column: &str,
        value: &str,
        n: usize,
    ) -> Result<(), GrantError> {
        if n == 0 {
            return Ok(());
        }
        let sql = format!(
            "DELETE FROM {t} WHERE rowid IN (SELECT rowid FROM {t} WHERE {s} AND {column} = ?2 \
             ORDER BY rowid LIMIT ?3)",
            t = self.table,
            s = self.scope()
        );
        tx.prepare_cached(&sql)
            .and_then(|mut s| s.execute(params![self.kind, value, n as i64]))
            .map_err(db)?;
        Ok(())
    }

    /// Makes room for `n` rows of each owner at once, as `n` calls of
    /// [`Room::make`] would (for `n` below the per-owner bound).
    fn make_many(&self, tx: &Transaction<'_>, owners: &[(&str, usize)]) -> Result<(), GrantError> {
        for &(owner, n) in owners {
            let held = self.count(tx, self.owner_column, owner)?;
            self.drop_oldest(
                tx,
                self.owner_column,
                owner,
                (held + n).saturating_sub(self.bounds.per_owner),
            )?;
        }
        let adding: usize = owners.iter().map(|(_, n)| n).sum();
        let sql = format!("SELECT count(*) FROM {} WHERE {}", self.table, self.scope());
        let total = |tx: &Transaction<'_>| -> Result<usize, GrantError> {
            let total: i64 = tx
                .prepare_cached(&sql)
                .and_then(|mut s| s.query_row(params![self.kind], |r| r.get(0)))
                .map_err(db)?;
            Ok(usize::try_from(total).unwrap_or(0))
        };
        let mut held = total(tx)?;
        if held + adding > self.bounds.total {
            let sql = format!(
                "DELETE FROM {} WHERE {} <= ?1",
                self.table, self.expiry_column
            );
            tx.execute(&sql, params![secs(now())]).map_err(db)?;
            held = total(tx)?;
        }
        for _ in self.bounds.total..held + adding {
            let sql = format!(
                "SELECT {o} FROM {t} WHERE {s} GROUP BY {o} ORDER BY count(*) DESC LIMIT 1",
                o = self.owner_column,
                t = self.table,
                s = self.scope()
            );
            let largest: Option<String> = tx
                .query_row(&sql, params![self.kind], |r| r.get(0))
                .optional()
                .map_err(db)?;
            match largest {
                Some(largest) => self.drop_oldest(tx, self.owner_column, &largest, 1)?,
                None => break,
            }
        }
        Ok(())
    }

    fn make(
        &self,
        tx: &Transaction<'_>,
        owner: &str,
        group: Option<&str>,
    ) -> Result<(), GrantError> {
        let held = self.count(tx, self.owner_column, owner)?;
        self.drop_oldest(
            tx,
            self.owner_column,
            owner,
            (held + 1).saturating_sub(self.bounds.per_owner),
        )?;
        if let Some(group) = group {
            let held = self.count(tx, "grp", group)?;
            self.drop_oldest(
                tx,
                "grp",
                group,
                (held + 1).saturating_sub(self.bounds.per_group),
            )?;
        }
        let sql = format!("SELECT count(*) FROM {} WHERE {}", self.table, self.scope());
        let total = |tx: &Transaction<'_>| -> Result<usize, GrantError> {
            let total: i64 = tx
                .prepare_cached(&sql)
                .and_then(|mut s| s.query_row(params![self.kind], |r| r.get(0)))
                .map_err(db)?;
            Ok(usize::try_from(total).unwrap_or(0))
        };
        if total(tx)? >= self.bounds.total {
            // Expired rows go first.
            let sql = format!(
                "DELETE FROM {} WHERE {} <= ?1",
                self.table, self.expiry_column
            );
            tx.execute(&sql, params![secs(now())]).map_err(db)?;
        }
        if total(tx)? >= self.bounds.total {
            let sql = format!(
                "SELECT {o} FROM {t} WHERE {s} GROUP BY {o} ORDER BY count(*) DESC LIMIT 1",
                o = self.owner_column,
                t = self.table,
                s = self.scope()
            );
            let largest: Option<String> = tx
                .query_row(&sql, params![self.kind], |r| r.get(0))
                .optional()
                .map_err(db)?;
            if let Some(largest) = largest {
                self.drop_oldest(tx, self.owner_column, &largest, 1)?;
            }
        }
        Ok(())
    }
}

const PENDING: Room<'static> = Room {
    table: "server_pending",
    owner_column: "owner",
    kind: None,
    expiry_column: "expires_at",
    bounds: PENDING_BOUNDS,
};

const CODES: Room<'static> = Room {
    table: "server_codes",
    owner_column: "owner",
    kind: None,
    expiry_column: "evict_at",
    bounds: CODE_BOUNDS,
};

fn tokens_room(kind: &'static str) -> Room<'static> {
    Room {
        table: "server_tokens",
        owner_column: "client_id",
        kind: Some(kind),
        expiry_column: "expires_at",
        bounds: match kind {
            "access" => ACCESS_BOUNDS,
            "refresh" => REFRESH_BOUNDS,
            _ => SPENT_BOUNDS,
        },
    }
}

fn revoke(tx: &Transaction<'_>, grant: GrantId) -> Result<(), GrantError> {
    // Kept as long as a code of the grant may still be redeemed late.
    let until = now().saturating_add(CODE_LIFETIME.as_secs() + CONSENT_LIFETIME.as_secs());
    tx.execute(
        "INSERT INTO server_revoked_grants (grant_id, until) VALUES (?1, ?2) \
         ON CONFLICT (grant_id) DO UPDATE SET until = excluded.until",
        params![to_sql(grant), secs(until)],
    )
    .map_err(db)?;
    tx.execute(
        "DELETE FROM server_tokens WHERE grant_id = ?1 AND kind IN ('access', 'refresh')",
        params![to_sql(grant)],
    )
    .map_err(db)?;
    Ok(())
}

fn insert_token(
    tx: &Transaction<'_>,
    kind: &'static str,
    key: &Key,
    info: &TokenInfo,
) -> Result<(), GrantError> {
    tokens_room(kind).make(tx, &info.client_id, None)?;
    insert_row(tx, kind, key, info)
}

fn insert_row(
    tx: &Transaction<'_>,
    kind: &'static str,
    key: &Key,
    info: &TokenInfo,
) -> Result<(), GrantError> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO server_tokens (key, kind, client_id, grant_id, expires_at, scope, user_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            &key[..],
            kind,
            info.client_id,
            to_sql(info.grant),
            secs(info.expires_at),
            info.scope,
            info.user
        ])
    })
    .map_err(db)?;
    Ok(())
}

fn is_revoked(tx: &Transaction<'_>, grant: GrantId) -> Result<bool, GrantError> {
    let revoked: Option<i64> = tx
        .prepare_cached("SELECT 1 FROM server_revoked_grants WHERE grant_id = ?1")
        .and_then(|mut s| s.query_row(params![to_sql(grant)], |r| r.get(0)).optional())
        .map_err(db)?;
    Ok(revoked.is_some())
}

fn store_tokens(tx: &Transaction<'_>, tokens: &NewTokens) -> Result<(), GrantError> {
    if is_revoked(tx, tokens.access.1.grant)? {
        return Err(GrantError::Replayed);
    }
    insert_token(tx, "access", &tokens.access.0, &tokens.access.1)?;
    if let Some((key, info)) = &tokens.refresh {
        insert_token(tx, "refresh", key, info)?;
    }
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, GrantError> {
    serde_json::to_string(value).map_err(failed)
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, GrantError> {
    serde_json::from_str(text).map_err(failed)
}

fn token_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, TokenInfo)> {
    Ok((
        row.get(0)?,
        TokenInfo {
            client_id: row.get(1)?,
            grant: from_sql(row.get(2)?),
            expires_at: unsecs(row.get(3)?),
            scope: row.get(4)?,
            user: row.get(5)?,
        },
    ))
}

const TOKEN_COLUMNS: &str = "kind, client_id, grant_id, expires_at, scope, user_id";

#[async_trait::async_trait]
impl KeyTable for SqliteGrants {
    async fn load_keys(&self) -> Result<Option<(i64, Vec<u8>)>, GrantError> {
        self.read(|tx| {
            tx.query_row(
                "SELECT version, sealed FROM server_signing_keys WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn create_keys(&self, sealed: Vec<u8>) -> Result<bool, GrantError> {
        self.run(move |tx| {
            let created = tx
                .execute(
                    "INSERT INTO server_signing_keys (id, version, sealed) VALUES (1, 1, ?1) \
                     ON CONFLICT (id) DO NOTHING",
                    params![sealed],
                )
                .map_err(db)?;
            Ok(created == 1)
        })
        .await
    }

    async fn replace_keys(&self, version: i64, sealed: Vec<u8>) -> Result<bool, GrantError> {
        self.run(move |tx| {
            let replaced = tx
                .execute(
                    "UPDATE server_signing_keys SET version = version + 1, sealed = ?1 \
                     WHERE id = 1 AND version = ?2",
                    params![sealed, version],
                )
                .map_err(db)?;
            Ok(replaced == 1)
        })
        .await
    }
}

#[async_trait::async_trait]
impl GrantStore for SqliteGrants {
    async fn begin(&self, consent: Key, pending: Pending) -> Result<(), GrantError> {
        let request = json(&pending.request)?;
        self.run(move |tx| {
            PENDING.make(tx, &pending.caller, pending.url_client_host.as_deref())?;
            tx.execute(
                "INSERT OR REPLACE INTO server_pending (key, owner, grp, expires_at, browser, request) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    &consent[..],
                    pending.caller,
                    pending.url_client_host,
                    secs(pending.expires_at),
                    &pending.browser.as_bytes()[..],
                    request
                ],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn take_pending(
        &self,
        consent: &Key,
        browser: Option<&SecretDigest>,
        now: u64,
    ) -> Result<AuthorizationRequest, GrantError> {
        let consent = *consent;
        let browser = browser.map(|b| *b.as_bytes());
        self.run(move |tx| {
            let row: Option<(i64, Vec<u8>, String)> = tx
                .query_row(
                    "SELECT expires_at, browser, request FROM server_pending WHERE key = ?1",
                    params![&consent[..]],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db)?;
            let (expires_at, bound, request) = row.ok_or(GrantError::Invalid)?;
            let delete = || {
                tx.execute(
                    "DELETE FROM server_pending WHERE key = ?1",
                    params![&consent[..]],
                )
                .map_err(db)
            };
            if now >= unsecs(expires_at) {
                delete()?;
                return Err(GrantError::Invalid);
            }
            if browser.is_none_or(|b| b[..] != bound[..]) {
                return Err(GrantError::OtherBrowser);
            }
            delete()?;
            parse(&request)
        })
        .await
    }

    async fn issue_code(&self, code: Key, entry: Code) -> Result<(), GrantError> {
        let approved = json(&entry.approved)?;
        self.run(move |tx| {
            CODES.make(tx, &entry.caller, None)?;
            // Used codes stay a while longer, so a late replay still revokes.
            let evict_at = entry.expires_at.saturating_add(CONSENT_LIFETIME.as_secs());
            tx.execute(
                "INSERT OR REPLACE INTO server_codes \
                 (key, owner, client_id, grant_id, expires_at, evict_at, redeemed, approved) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)",
                params![
                    &code[..],
                    entry.caller,
                    entry.approved.request.client_id,
                    to_sql(entry.grant),
                    secs(entry.expires_at),
                    secs(evict_at),
                    approved
                ],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn redeem_code(
        &self,
        code: &Key,
        client_id: &str,
        now: u64,
    ) -> Result<(Approved, GrantId), GrantError> {
        let (code, client_id) = (*code, client_id.to_owned());
        self.run(move |tx| {
            let row: Option<(String, i64, i64, bool, String)> = tx
                .query_row(
                    "SELECT client_id, grant_id, expires_at, redeemed, approved \
                     FROM server_codes WHERE key = ?1",
                    params![&code[..]],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()
                .map_err(db)?;
            let (owner, grant, expires_at, redeemed, approved) = row.ok_or(GrantError::Invalid)?;
            if owner != client_id {
                return Err(GrantError::Invalid);
            }
            let grant = from_sql(grant);
            if redeemed {
                revoke(tx, grant)?;
                return Err(GrantError::Replayed);
            }
            tx.execute(
                "UPDATE server_codes SET redeemed = 1 WHERE key = ?1",
                params![&code[..]],
            )
            .map_err(db)?;
            if now >= unsecs(expires_at) {
                return Err(GrantError::Invalid);
            }
            Ok((parse(&approved)?, grant))
        })
        .await
    }

    async fn store_tokens(&self, tokens: NewTokens, _now: u64) -> Result<(), GrantError> {
        let (answer, answered) = oneshot::channel();
        self.writer
            .send(Job::Tokens(Box::new(tokens), answer))
            .map_err(|_| failed("the grant writer stopped"))?;
        answered
            .await
            .map_err(|_| failed("the grant writer dropped a step"))?
    }

    async fn refresh_token(&self, token: &Key) -> Result<Option<RefreshState>, GrantError> {
        let token = *token;
        self.read(move |tx| {
            let sql = format!(
                "SELECT {TOKEN_COLUMNS} FROM server_tokens WHERE key = ?1 AND kind IN ('refresh', 'spent')"
            );
            let row = tx
                .query_row(&sql, params![&token[..]], token_row)
                .optional()
                .map_err(db)?;
            Ok(row.map(|(kind, info)| match kind.as_str() {
                "refresh" => RefreshState::Live(info),
                _ => RefreshState::Spent {
                    client_id: info.client_id,
                    grant: info.grant,
                },
            }))
        })
        .await
    }

    async fn rotate(&self, old: &Key, tokens: NewTokens, _now: u64) -> Result<(), GrantError> {
        let old = *old;
        self.run(move |tx| {
            let sql = format!(
                "SELECT {TOKEN_COLUMNS} FROM server_tokens WHERE key = ?1 AND kind IN ('refresh', 'spent')"
            );
            let (kind, info) = tx
                .query_row(&sql, params![&old[..]], token_row)
                .optional()
                .map_err(db)?
                .ok_or(GrantError::Invalid)?;
            if kind == "spent" {
                revoke(tx, info.grant)?;
                return Err(GrantError::Replayed);
            }
            if let Err(error) = store_tokens(tx, &tokens) {
                tx.execute("DELETE FROM server_tokens WHERE key = ?1", params![&old[..]])
                    .map_err(db)?;
                return Err(error);
            }
            tokens_room("spent").make(tx, &info.client_id, None)?;
            tx.execute(
                "UPDATE server_tokens SET kind = 'spent', scope = NULL, user_id = NULL WHERE key = ?1",
                params![&old[..]],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn revoke(&self, grant: GrantId) -> Result<(), GrantError> {
        self.run(move |tx| revoke(tx, grant)).await
    }

    async fn access_token(&self, token: &Key) -> Result<Option<TokenInfo>, GrantError> {
        let token = *token;
        self.read(move |tx| {
            let sql = format!(
                "SELECT {TOKEN_COLUMNS} FROM server_tokens WHERE key = ?1 AND kind = 'access'"
            );
            Ok(tx
                .query_row(&sql, params![&token[..]], token_row)
                .optional()
                .map_err(db)?
                .map(|(_, info)| info))
        })
        .await
    }

    async fn sweep(&self, now: u64) -> Result<(), GrantError> {
        self.run(move |tx| {
            let now = secs(now);
            for sql in [
                "DELETE FROM server_pending WHERE expires_at <= ?1",
                "DELETE FROM server_codes WHERE evict_at <= ?1",
                "DELETE FROM server_tokens WHERE expires_at <= ?1",
                "DELETE FROM server_revoked_grants WHERE until <= ?1",
            ] {
                tx.execute(sql, params![now]).map_err(db)?;
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Grants, Redeem, Refused};
    use super::*;
    use crate::grants::bounds_scenario;
    use tower_dcr::Secret;

    fn database() -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "tower-dcr-server-grants-{}-{nanos}.db",
            std::process::id()
        ));
        format!("sqlite:{}", path.display())
    }

    fn request() -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "c".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            redirect_uri_presented: true,
            scope: Some("openid".into()),
            state: Some("s".into()),
            code_challenge: None,
            fragment: false,
            nonce: None,
            auth_time_required: false,
        }
    }

    fn keep(scope: Option<&str>) -> Result<Option<String>, ()> {
        Ok(scope.map(str::to_owned))
    }

    fn remove(url: &str) {
        let path = path_of(url);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    const SMALL: Room<'static> = Room {
        table: "server_pending",
        owner_column: "owner",
        kind: None,
        expiry_column: "expires_at",
        bounds: Bounds {
            total: 6,
            per_owner: 3,
            per_group: 2,
        },
    };

    impl bounds_scenario::SmallPendingTable for SqliteGrants {
        async fn insert(
            &self,
            n: u8,
            owner: &'static str,
            group: Option<&'static str>,
            expires_at: u64,
        ) {
            self.run(move |tx| {
                SMALL.make(tx, owner, group)?;
                tx.execute(
                    "INSERT INTO server_pending (key, owner, grp, expires_at, browser, request) \
                         VALUES (?1, ?2, ?3, ?4, x'00', '{}')",
                    params![vec![n; 32], owner, group, secs(expires_at)],
                )
                .map_err(db)?;
                Ok(())
            })
            .await
            .unwrap();
        }

        async fn keys(&self) -> Vec<u8> {
            self.run(|tx| {
                let mut statement = tx
                    .prepare("SELECT key FROM server_pending ORDER BY rowid")
                    .map_err(db)?;
                let keys = statement
                    .query_map([], |r| r.get::<_, Vec<u8>>(0))
                    .map_err(db)?
                    .map(|k| k.map(|k| k[0]))
                    .collect::<Result<Vec<u8>, _>>()
                    .map_err(db)?;
                Ok(keys)
            })
            .await
            .unwrap()
        }
    }

    /// The bounds in SQL behave as in memory (`crate::bounded`): the shared
    /// scenario `bounds_scenario::check`.
    #[tokio::test]
    async fn bounds_drop_the_holders_oldest_rows_and_the_sweep_expired_ones() {
        let url = database();
        let store = SqliteGrants::open(&url).await.unwrap();
        bounds_scenario::check(&store).await;
        remove(&url);
    }

    /// Concurrent token requests are committed together (one writer, one
    /// transaction per batch) and each is answered only once kept: all of a
    /// flood of one client's requests succeed, its per-client bound holds
    /// exactly, its newest tokens work, and a reader sees them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_token_requests_are_kept_together_within_the_bound() {
        let url = database();
        let store = Arc::new(SqliteGrants::open(&url).await.unwrap());
        let grants = Grants::new(store.clone());
        let mut issued = Vec::new();
        for _ in 0..11 {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..100 {
                let grants = grants.clone();
                set.spawn(async move { grants.issue_client_token("flooder", None).await });
            }
            while let Some(result) = set.join_next().await {
                issued.push(result.unwrap().unwrap());
            }
        }
        let held: i64 = store
            .read(|c| {
                c.query_row(
                    "SELECT count(*) FROM server_tokens WHERE kind = 'access' AND client_id = 'flooder'",
                    [],
                    |r| r.get(0),
                )
                .map_err(db)
            })
            .await
            .unwrap();
        assert_eq!(held, i64::try_from(ACCESS_BOUNDS.per_owner).unwrap());
        for token in &issued[issued.len() - 100..] {
            assert!(
                grants
                    .access_token(token.access_token.secret())
                    .await
                    .is_some()
            );
        }
        remove(&url);
    }

    /// The flow on SQLite, across a reopening of the file (a restart): the
    /// tokens issued before work after; a replayed code and a replayed
    /// refresh token each revoke their grant (RFC 6749 §4.1.2, RFC 9700
    /// §4.14.2).
    #[tokio::test]
    async fn grants_survive_a_reopening_and_replays_revoke() {
        let url = database();
        let grants = Grants::new(Arc::new(SqliteGrants::open(&url).await.unwrap()));
        let browser = Secret::generate().unwrap();
        let consent = grants
            .begin(request(), browser.digest(), "192.0.2.1".into(), None)
            .await
            .unwrap();
        let other = Secret::generate().unwrap();
        assert!(matches!(
            grants
                .take_pending(consent.secret(), Some(other.digest()))
                .await,
            Err(super::super::NotTaken::OtherBrowser)
        ));
        let taken = grants
            .take_pending(consent.secret(), Some(browser.digest()))
            .await
            .unwrap();
        assert_eq!(taken.state.as_deref(), Some("s"));
        let code = grants
            .issue_code(
                Approved {
                    request: taken,
                    auth_time: now(),
                    user: "demo-user".into(),
                },
                "192.0.2.1".into(),
            )
            .await
            .unwrap();
        let (_, _, issued) = grants
            .redeem_code(code.secret(), "c", true, |_| Ok::<_, ()>(()))
            .await
            .unwrap();
        drop(grants);

        let grants = Grants::new(Arc::new(SqliteGrants::open(&url).await.unwrap()));
        let info = grants
            .access_token(issued.access_token.secret())
            .await
            .unwrap();
        assert_eq!(info.user.as_deref(), Some("demo-user"));
        let first = issued.refresh_token.unwrap();
        let (_, rotated) = grants.refresh(first.secret(), "c", keep).await.unwrap();
        assert!(
            grants
                .access_token(rotated.access_token.secret())
                .await
                .is_some()
        );
        let replay = grants.refresh(first.secret(), "c", keep).await;
        assert!(matches!(replay, Err(Redeem::Refused(Refused::Replayed))));
        assert!(
            grants
                .access_token(rotated.access_token.secret())
                .await
                .is_none()
        );
        let replay = grants
            .redeem_code(code.secret(), "c", true, |_| Ok::<_, ()>(()))
            .await;
        assert!(matches!(replay, Err(Redeem::Refused(Refused::Replayed))));
        grants.sweep().await;
        remove(&url);
    }
}
