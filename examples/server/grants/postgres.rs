//! [`PostgresGrants`]: grants in the PostgreSQL database of
//! `--store postgres://…`, next to the clients, on a pool of their own,
//! shared by every instance on that database: a flow may cross instances,
//! and a restart signs nobody out.
//!
//! Each method is one transaction; concurrent token keepings are batched by
//! one writer task into one transaction ([`KEEP_TOKENS`]), answered after its
//! commit. Across instances: a consent request is
//! taken by one `DELETE … RETURNING`; a code is redeemed under its row lock
//! (`FOR UPDATE`), so of two instances redeeming it at once exactly one wins
//! and the other, seeing it used, revokes the grant; everything that keeps or
//! revokes a grant's tokens first takes that grant's transaction-scoped
//! advisory lock, so tokens are never kept in a revoked grant and a refresh
//! token is rotated once. The bounds are those of the in-memory store: past
//! one, the holder's oldest row goes.

use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Row as _};
use tokio::sync::{mpsc, oneshot};
use tower_dcr::SecretDigest;

use super::{
    ACCESS_BOUNDS, Approved, AuthorizationRequest, CODE_BOUNDS, CODE_LIFETIME, CONSENT_LIFETIME,
    Code, Conflict, GrantError, GrantId, GrantStore, Key, KeyTable, NewTokens, PENDING_BOUNDS,
    Pending, REFRESH_BOUNDS, RefreshState, SPENT_BOUNDS, TokenInfo, now,
};
use crate::bounded::Bounds;

/// The tables, created if missing, under an advisory lock so that instances
/// starting together do not race. Tokens of every kind share one table:
/// `access`, `refresh`, and `spent` (a rotated refresh token's replay marker,
/// without scope or user). `seq` orders rows oldest first.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS server_pending (
        key BYTEA PRIMARY KEY,
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        owner TEXT NOT NULL,
        grp TEXT,
        expires_at BIGINT NOT NULL,
        browser BYTEA NOT NULL,
        request TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS server_pending_owner ON server_pending (owner, seq)",
    "CREATE INDEX IF NOT EXISTS server_pending_grp ON server_pending (grp, seq) WHERE grp IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS server_pending_expires ON server_pending (expires_at)",
    "CREATE TABLE IF NOT EXISTS server_codes (
        key BYTEA PRIMARY KEY,
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        owner TEXT NOT NULL,
        client_id TEXT NOT NULL,
        grant_id BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        evict_at BIGINT NOT NULL,
        redeemed BOOLEAN NOT NULL DEFAULT FALSE,
        approved TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS server_codes_owner ON server_codes (owner, seq)",
    "CREATE INDEX IF NOT EXISTS server_codes_evict ON server_codes (evict_at)",
    "CREATE TABLE IF NOT EXISTS server_tokens (
        key BYTEA PRIMARY KEY,
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        kind TEXT NOT NULL,
        client_id TEXT NOT NULL,
        grant_id BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        scope TEXT,
        user_id TEXT
    )",
    "CREATE INDEX IF NOT EXISTS server_tokens_grant ON server_tokens (grant_id)",
    "CREATE INDEX IF NOT EXISTS server_tokens_client ON server_tokens (kind, client_id, seq)",
    "CREATE INDEX IF NOT EXISTS server_tokens_expires ON server_tokens (expires_at)",
    "CREATE TABLE IF NOT EXISTS server_revoked_grants (
        grant_id BIGINT PRIMARY KEY,
        until BIGINT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS server_revoked_grants_until ON server_revoked_grants (until)",
    "CREATE TABLE IF NOT EXISTS server_signing_keys (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version BIGINT NOT NULL,
        sealed BYTEA NOT NULL
    )",
    KEEP_TOKENS,
];

/// Keeps a batch of tokens in one call (one round trip): takes the grants'
/// locks in order (two batches never deadlock), then, each statement seeing
/// what committed before (READ COMMITTED, a volatile function), refuses the
/// rows of revoked grants, makes room per client and kind at once as one
/// row at a time would (past `per_owner` the client's oldest, past `total`
/// the expired rows, then the oldest of the largest holder), and inserts the
/// rest. Returns the revoked grants.
const KEEP_TOKENS: &str = "CREATE OR REPLACE FUNCTION server_keep_tokens(
    p_keys BYTEA[], p_kinds TEXT[], p_clients TEXT[], p_grants INT8[], p_expires INT8[],
    p_scopes TEXT[], p_users TEXT[], p_bounds INT8[], p_now INT8
) RETURNS INT8[] LANGUAGE plpgsql VOLATILE AS $body$
DECLARE
    g INT8;
    revoked INT8[];
    r RECORD;
    per_owner INT8;
    bound INT8;
    total INT8;
    largest TEXT;
BEGIN
    FOR g IN SELECT DISTINCT x FROM unnest(p_grants) AS x ORDER BY x LOOP
        PERFORM pg_advisory_xact_lock(g);
    END LOOP;
    SELECT coalesce(array_agg(grant_id), '{}') INTO revoked
        FROM server_revoked_grants WHERE grant_id = ANY(p_grants);
    FOR r IN SELECT u.kind, u.client_id, count(*) AS n
        FROM unnest(p_kinds, p_clients, p_grants) AS u(kind, client_id, grant_id)
        WHERE NOT u.grant_id = ANY(revoked) GROUP BY u.kind, u.client_id
    LOOP
        per_owner := CASE r.kind WHEN 'access' THEN p_bounds[1] ELSE p_bounds[3] END;
        DELETE FROM server_tokens WHERE key IN (
            SELECT key FROM server_tokens WHERE kind = r.kind AND client_id = r.client_id
            ORDER BY seq
            LIMIT GREATEST(0, (SELECT count(*) FROM server_tokens
                WHERE kind = r.kind AND client_id = r.client_id) + r.n - per_owner));
    END LOOP;
    FOR r IN SELECT u.kind, count(*) AS n
        FROM unnest(p_kinds, p_grants) AS u(kind, grant_id)
        WHERE NOT u.grant_id = ANY(revoked) GROUP BY u.kind
    LOOP
        bound := CASE r.kind WHEN 'access' THEN p_bounds[2] ELSE p_bounds[4] END;
        SELECT count(*) INTO total FROM server_tokens WHERE kind = r.kind;
        IF total + r.n > bound THEN
            DELETE FROM server_tokens WHERE expires_at <= p_now;
            SELECT count(*) INTO total FROM server_tokens WHERE kind = r.kind;
        END IF;
        WHILE total + r.n > bound LOOP
            SELECT client_id INTO largest FROM server_tokens WHERE kind = r.kind
                GROUP BY client_id ORDER BY count(*) DESC LIMIT 1;
            EXIT WHEN largest IS NULL;
            DELETE FROM server_tokens WHERE key IN (SELECT key FROM server_tokens
                WHERE kind = r.kind AND client_id = largest ORDER BY seq LIMIT 1);
            total := total - 1;
        END LOOP;
    END LOOP;
    INSERT INTO server_tokens (key, kind, client_id, grant_id, expires_at, scope, user_id)
        SELECT u.key, u.kind, u.client_id, u.grant_id, u.expires_at, u.scope, u.user_id
        FROM unnest(p_keys, p_kinds, p_clients, p_grants, p_expires, p_scopes, p_users)
            AS u(key, kind, client_id, grant_id, expires_at, scope, user_id)
        WHERE NOT u.grant_id = ANY(revoked)
        ON CONFLICT (key) DO NOTHING;
    RETURN revoked;
END
$body$";

/// The advisory lock key of the schema's creation.
const MIGRATION_LOCK: i64 = 0x7464_6372_6772_6e74;

/// A database error; a serialization failure (`40001`) or a deadlock
/// (`40P01`) rolled the transaction back, and is a [`Conflict`] to run again.
fn db(error: sqlx::Error) -> GrantError {
    let lost_race = matches!(&error, sqlx::Error::Database(e)
        if matches!(e.code().as_deref(), Some("40001" | "40P01")));
    if lost_race {
        GrantError::Unavailable(Box::new(Conflict(error.into())))
    } else {
        GrantError::Unavailable(error.into())
    }
}

fn failed(error: impl Into<tower_dcr::BoxError>) -> GrantError {
    GrantError::Unavailable(error.into())
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

fn json<T: serde::Serialize>(value: &T) -> Result<String, GrantError> {
    serde_json::to_string(value).map_err(failed)
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, GrantError> {
    serde_json::from_str(text).map_err(failed)
}

/// See the module docs.
#[derive(Clone)]
pub struct PostgresGrants {
    pool: PgPool,
    /// The token writer's queue ([`write_tokens`]).
    tokens: mpsc::UnboundedSender<TokenJob>,
}

/// Tokens to keep, and where to answer once they are committed.
struct TokenJob {
    tokens: NewTokens,
    answer: oneshot::Sender<Result<(), GrantError>>,
}

/// Token keepings committed together at most (the rest wait for the next
/// batch). Below every per-client bound, so a batch never evicts its own.
const MAX_BATCH: usize = 64;

/// The token writer: takes every queued [`TokenJob`] (one batch), keeps them
/// in one transaction ([`keep_batch`]) and answers them only after its
/// commit: concurrent token requests share one commit and a few statements,
/// instead of each running its own and queueing on the same rows (every
/// request of one client evicting the same oldest token). Ends when every
/// handle is dropped.
async fn write_tokens(pool: PgPool, mut jobs: mpsc::UnboundedReceiver<TokenJob>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let tokens: Vec<&NewTokens> = batch.iter().map(|job| &job.tokens).collect();
        let kept = keep_batch(&pool, &tokens).await;
        match kept {
            Ok(refused) => {
                for (job, refused) in batch.into_iter().zip(refused) {
                    let result = if refused {
                        Err(GrantError::Replayed)
                    } else {
                        Ok(())
                    };
                    let _ = job.answer.send(result);
                }
            }
            Err(error) => {
                // Everything rolled back: each step fails (a lost race, a
                // [`Conflict`], is run again by its caller).
                let conflict = matches!(&error, GrantError::Unavailable(e) if e.is::<Conflict>());
                let message = match &error {
                    GrantError::Unavailable(e) => e.to_string(),
                    _ => "the token batch failed".to_owned(),
                };
                for job in batch {
                    let error: tower_dcr::BoxError = if conflict {
                        Box::new(Conflict(message.clone().into()))
                    } else {
                        message.clone().into()
                    };
                    let _ = job.answer.send(Err(GrantError::Unavailable(error)));
                }
            }
        }
    }
}

/// Keeps a batch of tokens in one statement ([`KEEP_TOKENS`], its own
/// transaction); returns, for each, whether it was refused because its grant
/// was revoked.
async fn keep_batch(pool: &PgPool, batch: &[&NewTokens]) -> Result<Vec<bool>, GrantError> {
    let mut rows: Vec<(&'static str, &Key, &TokenInfo)> = Vec::new();
    for tokens in batch {
        rows.push(("access", &tokens.access.0, &tokens.access.1));
        if let Some((key, info)) = &tokens.refresh {
            rows.push(("refresh", key, info));
        }
    }
    let column = |f: fn(&(&'static str, &Key, &TokenInfo)) -> Option<String>| {
        rows.iter().map(f).collect::<Vec<Option<String>>>()
    };
    let keys: Vec<Vec<u8>> = rows.iter().map(|(_, key, _)| key.to_vec()).collect();
    let kinds = column(|(kind, _, _)| Some((*kind).to_owned()));
    let clients = column(|(_, _, info)| Some(info.client_id.clone()));
    let scopes = column(|(_, _, info)| info.scope.clone());
    let users = column(|(_, _, info)| info.user.clone());
    let grant_ids: Vec<i64> = rows.iter().map(|(_, _, info)| to_sql(info.grant)).collect();
    let expiries: Vec<i64> = rows
        .iter()
        .map(|(_, _, info)| secs(info.expires_at))
        .collect();
    let bound = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let bounds = vec![
        bound(ACCESS_BOUNDS.per_owner),
        bound(ACCESS_BOUNDS.total),
        bound(REFRESH_BOUNDS.per_owner),
        bound(REFRESH_BOUNDS.total),
    ];
    let revoked: Vec<i64> =
        sqlx::query_scalar("SELECT server_keep_tokens($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(keys)
            .bind(kinds)
            .bind(clients)
            .bind(grant_ids)
            .bind(expiries)
            .bind(scopes)
            .bind(users)
            .bind(bounds)
            .bind(secs(now()))
            .fetch_one(pool)
            .await
            .map_err(db)?;
    Ok(batch
        .iter()
        .map(|t| revoked.contains(&to_sql(t.access.1.grant)))
        .collect())
}

impl PostgresGrants {
    /// Connects to the database of `url` and creates the grant tables.
    pub async fn open(url: &str) -> Result<Self, GrantError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(3))
            .connect(url)
            .await
            .map_err(db)?;
        let mut tx = pool.begin().await.map_err(db)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for &statement in SCHEMA {
            sqlx::query(statement).execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        let (tokens, jobs) = mpsc::unbounded_channel();
        tokio::spawn(write_tokens(pool.clone(), jobs));
        Ok(Self { pool, tokens })
    }
}

/// Makes room for one row, as [`crate::bounded`] does: past `per_owner` the
/// owner's oldest rows go, past `per_group` the group's, past `total` the
/// oldest of the owner holding the most. `kind` scopes the token table.
struct Room {
    table: &'static str,
    owner_column: &'static str,
    kind: Option<&'static str>,
    /// When a row may go (seconds since the epoch).
    expiry_column: &'static str,
    bounds: Bounds,
}

impl Room {
    fn scope(&self) -> &'static str {
        if self.kind.is_some() {
            "kind = $1"
        } else {
            "$1::TEXT IS NULL"
        }
    }

    async fn count(
        &self,
        c: &mut PgConnection,
        column: &str,
        value: &str,
    ) -> Result<usize, GrantError> {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {} AND {column} = $2",
            self.table,
            self.scope()
        );
        let count: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(self.kind)
            .bind(value)
            .fetch_one(&mut *c)
            .await
            .map_err(db)?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    async fn drop_oldest(
        &self,
        c: &mut PgConnection,
        column: &str,
        value: &str,
        n: usize,
    ) -> Result<(), GrantError> {
        if n == 0 {
            return Ok(());
        }
        let sql = format!(
            "DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE {s} AND {column} = $2 \
             ORDER BY seq LIMIT $3)",
            t = self.table,
            s = self.scope()
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(self.kind)
            .bind(value)
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .execute(&mut *c)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn total(&self, c: &mut PgConnection) -> Result<usize, GrantError> {
        let sql = format!("SELECT count(*) FROM {} WHERE {}", self.table, self.scope());
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(self.kind)
            .fetch_one(&mut *c)
            .await
            .map_err(db)?;
        Ok(usize::try_from(total).unwrap_or(0))
    }

    async fn make(
        &self,
        c: &mut PgConnection,
        owner: &str,
        group: Option<&str>,
    ) -> Result<(), GrantError> {
        let held = self.count(c, self.owner_column, owner).await?;
        self.drop_oldest(
            c,
            self.owner_column,
            owner,
            (held + 1).saturating_sub(self.bounds.per_owner),
        )
        .await?;
        if let Some(group) = group {
            let held = self.count(c, "grp", group).await?;
            self.drop_oldest(
                c,
                "grp",
                group,
                (held + 1).saturating_sub(self.bounds.per_group),
            )
            .await?;
        }
        let mut total = self.total(c).await?;
        if total >= self.bounds.total {
            // Expired rows go first.
            let sql = format!(
                "DELETE FROM {} WHERE {} <= $1",
                self.table, self.expiry_column
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(secs(now()))
                .execute(&mut *c)
                .await
                .map_err(db)?;
            total = self.total(c).await?;
        }
        if total >= self.bounds.total {
            let sql = format!(
                "SELECT {o} FROM {t} WHERE {s} GROUP BY {o} ORDER BY count(*) DESC LIMIT 1",
                o = self.owner_column,
                t = self.table,
                s = self.scope()
            );
            let largest: Option<String> = sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(self.kind)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?;
            if let Some(largest) = largest {
                self.drop_oldest(c, self.owner_column, &largest, 1).await?;
            }
        }
        Ok(())
    }
}

const PENDING: Room = Room {
    table: "server_pending",
    owner_column: "owner",
    kind: None,
    expiry_column: "expires_at",
    bounds: PENDING_BOUNDS,
};

const CODES: Room = Room {
    table: "server_codes",
    owner_column: "owner",
    kind: None,
    expiry_column: "evict_at",
    bounds: CODE_BOUNDS,
};

fn tokens_room(kind: &'static str) -> Room {
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

/// Takes `grant`'s lock until the transaction ends: every change to a
/// grant's tokens holds it, before any token row.
async fn lock_grant(c: &mut PgConnection, grant: GrantId) -> Result<(), GrantError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(to_sql(grant))
        .execute(&mut *c)
        .await
        .map_err(db)?;
    Ok(())
}

async fn revoke(c: &mut PgConnection, grant: GrantId) -> Result<(), GrantError> {
    lock_grant(c, grant).await?;
    // Kept as long as a code of the grant may still be redeemed late.
    let until = now().saturating_add(CODE_LIFETIME.as_secs() + CONSENT_LIFETIME.as_secs());
    sqlx::query(
        "INSERT INTO server_revoked_grants (grant_id, until) VALUES ($1, $2) \
         ON CONFLICT (grant_id) DO UPDATE SET until = excluded.until",
    )
    .bind(to_sql(grant))
    .bind(secs(until))
    .execute(&mut *c)
    .await
    .map_err(db)?;
    sqlx::query("DELETE FROM server_tokens WHERE grant_id = $1 AND kind IN ('access', 'refresh')")
        .bind(to_sql(grant))
        .execute(&mut *c)
        .await
        .map_err(db)?;
    Ok(())
}

async fn insert_token(
    c: &mut PgConnection,
    kind: &'static str,
    key: &Key,
    info: &TokenInfo,
) -> Result<(), GrantError> {
    tokens_room(kind).make(c, &info.client_id, None).await?;
    sqlx::query(
        "INSERT INTO server_tokens (key, kind, client_id, grant_id, expires_at, scope, user_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO NOTHING",
    )
    .bind(&key[..])
    .bind(kind)
    .bind(&info.client_id)
    .bind(to_sql(info.grant))
    .bind(secs(info.expires_at))
    .bind(&info.scope)
    .bind(&info.user)
    .execute(&mut *c)
    .await
    .map_err(db)?;
    Ok(())
}

/// Keeps `tokens`, its grant's lock already held.
async fn store_tokens(c: &mut PgConnection, tokens: &NewTokens) -> Result<(), GrantError> {
    let revoked: Option<i64> =
        sqlx::query_scalar("SELECT grant_id FROM server_revoked_grants WHERE grant_id = $1")
            .bind(to_sql(tokens.access.1.grant))
            .fetch_optional(&mut *c)
            .await
            .map_err(db)?;
    if revoked.is_some() {
        return Err(GrantError::Replayed);
    }
    insert_token(c, "access", &tokens.access.0, &tokens.access.1).await?;
    if let Some((key, info)) = &tokens.refresh {
        insert_token(c, "refresh", key, info).await?;
    }
    Ok(())
}

fn token_row(row: &sqlx::postgres::PgRow) -> Result<(String, TokenInfo), GrantError> {
    let get = |e: sqlx::Error| db(e);
    Ok((
        row.try_get("kind").map_err(get)?,
        TokenInfo {
            client_id: row.try_get("client_id").map_err(get)?,
            grant: from_sql(row.try_get("grant_id").map_err(get)?),
            expires_at: unsecs(row.try_get("expires_at").map_err(get)?),
            scope: row.try_get("scope").map_err(get)?,
            user: row.try_get("user_id").map_err(get)?,
        },
    ))
}

/// Commits unless the database failed: a refusal may have written (a used
/// code, a revoked grant).
async fn finish<T>(
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    result: Result<T, GrantError>,
) -> Result<T, GrantError> {
    if let Err(GrantError::Unavailable(_)) = result {
        return result;
    }
    tx.commit().await.map_err(db)?;
    result
}

#[async_trait::async_trait]
impl KeyTable for PostgresGrants {
    async fn load_keys(&self) -> Result<Option<(i64, Vec<u8>)>, GrantError> {
        let row = sqlx::query("SELECT version, sealed FROM server_signing_keys WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|row| {
            Ok((
                row.try_get("version").map_err(db)?,
                row.try_get("sealed").map_err(db)?,
            ))
        })
        .transpose()
    }

    async fn create_keys(&self, sealed: Vec<u8>) -> Result<bool, GrantError> {
        let created = sqlx::query(
            "INSERT INTO server_signing_keys (id, version, sealed) VALUES (1, 1, $1) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(sealed)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(created.rows_affected() == 1)
    }

    async fn replace_keys(&self, version: i64, sealed: Vec<u8>) -> Result<bool, GrantError> {
        let replaced = sqlx::query(
            "UPDATE server_signing_keys SET version = version + 1, sealed = $1 \
             WHERE id = 1 AND version = $2",
        )
        .bind(sealed)
        .bind(version)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(replaced.rows_affected() == 1)
    }
}

#[async_trait::async_trait]
impl GrantStore for PostgresGrants {
    async fn begin(&self, consent: Key, pending: Pending) -> Result<(), GrantError> {
        let request = json(&pending.request)?;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let result = async {
            PENDING
                .make(&mut tx, &pending.caller, pending.url_client_host.as_deref())
                .await?;
            sqlx::query(
                "INSERT INTO server_pending (key, owner, grp, expires_at, browser, request) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&consent[..])
            .bind(&pending.caller)
            .bind(&pending.url_client_host)
            .bind(secs(pending.expires_at))
            .bind(&pending.browser.as_bytes()[..])
            .bind(request)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn take_pending(
        &self,
        consent: &Key,
        browser: Option<&SecretDigest>,
        now: u64,
    ) -> Result<AuthorizationRequest, GrantError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let result = async {
            if let Some(browser) = browser {
                let taken: Option<String> = sqlx::query_scalar(
                    "DELETE FROM server_pending WHERE key = $1 AND browser = $2 AND expires_at > $3 \
                     RETURNING request",
                )
                .bind(&consent[..])
                .bind(&browser.as_bytes()[..])
                .bind(secs(now))
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
                if let Some(request) = taken {
                    return parse(&request);
                }
            }
            let expires_at: Option<i64> =
                sqlx::query_scalar("SELECT expires_at FROM server_pending WHERE key = $1")
                    .bind(&consent[..])
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            match expires_at {
                None => Err(GrantError::Invalid),
                Some(expires_at) if now >= unsecs(expires_at) => {
                    sqlx::query("DELETE FROM server_pending WHERE key = $1")
                        .bind(&consent[..])
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                    Err(GrantError::Invalid)
                }
                Some(_) => Err(GrantError::OtherBrowser),
            }
        }
        .await;
        finish(tx, result).await
    }

    async fn issue_code(&self, code: Key, entry: Code) -> Result<(), GrantError> {
        let approved = json(&entry.approved)?;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let result = async {
            CODES.make(&mut tx, &entry.caller, None).await?;
            // Used codes stay a while longer, so a late replay still revokes.
            let evict_at = entry.expires_at.saturating_add(CONSENT_LIFETIME.as_secs());
            sqlx::query(
                "INSERT INTO server_codes \
                 (key, owner, client_id, grant_id, expires_at, evict_at, redeemed, approved) \
                 VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7)",
            )
            .bind(&code[..])
            .bind(&entry.caller)
            .bind(&entry.approved.request.client_id)
            .bind(to_sql(entry.grant))
            .bind(secs(entry.expires_at))
            .bind(secs(evict_at))
            .bind(approved)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn redeem_code(
        &self,
        code: &Key,
        client_id: &str,
        now: u64,
    ) -> Result<(Approved, GrantId), GrantError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let result = async {
            let row = sqlx::query(
                "SELECT client_id, grant_id, expires_at, redeemed, approved \
                 FROM server_codes WHERE key = $1 FOR UPDATE",
            )
            .bind(&code[..])
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(GrantError::Invalid)?;
            let owner: String = row.try_get("client_id").map_err(db)?;
            if owner != client_id {
                return Err(GrantError::Invalid);
            }
            let grant = from_sql(row.try_get("grant_id").map_err(db)?);
            if row.try_get::<bool, _>("redeemed").map_err(db)? {
                revoke(&mut tx, grant).await?;
                return Err(GrantError::Replayed);
            }
            sqlx::query("UPDATE server_codes SET redeemed = TRUE WHERE key = $1")
                .bind(&code[..])
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            if now >= unsecs(row.try_get("expires_at").map_err(db)?) {
                return Err(GrantError::Invalid);
            }
            let approved: String = row.try_get("approved").map_err(db)?;
            Ok((parse(&approved)?, grant))
        }
        .await;
        finish(tx, result).await
    }

    async fn store_tokens(&self, tokens: NewTokens, _now: u64) -> Result<(), GrantError> {
        let (answer, answered) = oneshot::channel();
        self.tokens
            .send(TokenJob { tokens, answer })
            .map_err(|_| failed("the token writer stopped"))?;
        answered
            .await
            .map_err(|_| failed("the token writer dropped a request"))?
    }

    async fn refresh_token(&self, token: &Key) -> Result<Option<RefreshState>, GrantError> {
        let row = sqlx::query(
            "SELECT kind, client_id, grant_id, expires_at, scope, user_id FROM server_tokens \
             WHERE key = $1 AND kind IN ('refresh', 'spent')",
        )
        .bind(&token[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let (kind, info) = token_row(&row)?;
        Ok(Some(match kind.as_str() {
            "refresh" => RefreshState::Live(info),
            _ => RefreshState::Spent {
                client_id: info.client_id,
                grant: info.grant,
            },
        }))
    }

    async fn rotate(&self, old: &Key, tokens: NewTokens, _now: u64) -> Result<(), GrantError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let result = async {
            // The grant's lock first, then the token's row.
            lock_grant(&mut tx, tokens.access.1.grant).await?;
            let row = sqlx::query(
                "SELECT kind, client_id, grant_id, expires_at, scope, user_id FROM server_tokens \
                 WHERE key = $1 AND kind IN ('refresh', 'spent') FOR UPDATE",
            )
            .bind(&old[..])
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(GrantError::Invalid)?;
            let (kind, info) = token_row(&row)?;
            if info.grant != tokens.access.1.grant {
                return Err(GrantError::Invalid);
            }
            if kind == "spent" {
                revoke(&mut tx, info.grant).await?;
                return Err(GrantError::Replayed);
            }
            if let Err(error) = store_tokens(&mut tx, &tokens).await {
                sqlx::query("DELETE FROM server_tokens WHERE key = $1")
                    .bind(&old[..])
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                return Err(error);
            }
            tokens_room("spent").make(&mut tx, &info.client_id, None).await?;
            sqlx::query(
                "UPDATE server_tokens SET kind = 'spent', scope = NULL, user_id = NULL WHERE key = $1",
            )
            .bind(&old[..])
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn revoke(&self, grant: GrantId) -> Result<(), GrantError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let result = revoke(&mut tx, grant).await;
        finish(tx, result).await
    }

    async fn access_token(&self, token: &Key) -> Result<Option<TokenInfo>, GrantError> {
        let row = sqlx::query(
            "SELECT kind, client_id, grant_id, expires_at, scope, user_id FROM server_tokens \
             WHERE key = $1 AND kind = 'access'",
        )
        .bind(&token[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|row| token_row(&row).map(|(_, info)| info))
            .transpose()
    }

    async fn sweep(&self, now: u64) -> Result<(), GrantError> {
        for sql in [
            "DELETE FROM server_pending WHERE expires_at <= $1",
            "DELETE FROM server_codes WHERE evict_at <= $1",
            "DELETE FROM server_tokens WHERE expires_at <= $1",
            "DELETE FROM server_revoked_grants WHERE until <= $1",
        ] {
            sqlx::query(sql)
                .bind(secs(now))
                .execute(&self.pool)
                .await
                .map_err(db)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::bounds_scenario;
    use std::sync::Arc;

    /// A fresh database (`DATABASE_URL`'s server, default the local test
    /// one), or `None` when PostgreSQL is unreachable (the test is skipped,
    /// unless `TOWER_DCR_REQUIRE_POSTGRES=1`).
    async fn database() -> Option<(PgPool, String, String)> {
        let base = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let admin = match PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&base)
            .await
        {
            Ok(admin) => admin,
            Err(e) => {
                if std::env::var("TOWER_DCR_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                    panic!("PostgreSQL is unreachable: {e}, and TOWER_DCR_REQUIRE_POSTGRES=1");
                }
                eprintln!("SKIPPED: PostgreSQL is unreachable: {e}");
                return None;
            }
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("server_grants_unit_{}_{nanos}", std::process::id());
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        let mut url = url::Url::parse(&base).unwrap();
        url.set_path(&name);
        Some((admin, name, url.to_string()))
    }

    const SMALL: Room = Room {
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

    impl bounds_scenario::SmallPendingTable for PostgresGrants {
        async fn insert(&self, n: u8, owner: &str, group: Option<&str>, expires_at: u64) {
            let mut tx = self.pool.begin().await.unwrap();
            SMALL.make(&mut tx, owner, group).await.unwrap();
            sqlx::query(
                "INSERT INTO server_pending (key, owner, grp, expires_at, browser, request) \
                 VALUES ($1, $2, $3, $4, '\\x00', '{}')",
            )
            .bind(vec![n; 32])
            .bind(owner)
            .bind(group)
            .bind(secs(expires_at))
            .execute(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }

        async fn keys(&self) -> Vec<u8> {
            let keys: Vec<Vec<u8>> =
                sqlx::query_scalar("SELECT key FROM server_pending ORDER BY seq")
                    .fetch_all(&self.pool)
                    .await
                    .unwrap();
            keys.into_iter().map(|k| k[0]).collect()
        }
    }

    /// Before: every concurrent request of a client at its bound ran its own
    /// transaction and deleted the same oldest token, so they queued on that
    /// row for seconds, the pool ran dry (`503`), and the bound overflowed.
    /// Now the token writer keeps them in batches: all succeed, the bound
    /// holds exactly, the newest tokens work.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_token_requests_are_kept_together_within_the_bound() {
        let Some((admin, name, url)) = database().await else {
            return;
        };
        let store = Arc::new(PostgresGrants::open(&url).await.unwrap());
        let grants = super::super::Grants::new(store.clone());
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
        let held: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM server_tokens WHERE kind = 'access' AND client_id = 'flooder'",
        )
        .fetch_one(&store.pool)
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
        store.pool.close().await;
        sqlx::query(AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
            .execute(&admin)
            .await
            .unwrap();
    }

    /// The bounds in SQL behave as in memory (`crate::bounded`): the shared
    /// scenario `bounds_scenario::check`.
    #[tokio::test]
    async fn bounds_drop_the_holders_oldest_rows_and_the_sweep_expired_ones() {
        let Some((admin, name, url)) = database().await else {
            return;
        };
        let store = PostgresGrants::open(&url).await.unwrap();
        bounds_scenario::check(&store).await;
        store.pool.close().await;
        sqlx::query(AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
            .execute(&admin)
            .await
            .unwrap();
    }
}
