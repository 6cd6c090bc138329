//! SQLite and PostgreSQL: `create` and `get` through the store next to a raw
//! INSERT and SELECT of a row of the same size through the same driver
//! (SQLite: rusqlite on a connection of its own, run on the calling thread;
//! PostgreSQL: the store's pool), and
//! `get`/`create` latency as the table grows (1 k and 10 k clients; 200 k with
//! `TOWER_DCR_BENCH_LARGE=1`).
//!
//! cargo bench --all-features --bench stores
//!
//! PostgreSQL: `DATABASE_URL`, else postgres://postgres@127.0.0.1:5432/test;
//! the bench works in its own schema and drops it. Skipped with a message when
//! the database does not answer.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use criterion::{Criterion, criterion_group, criterion_main};
use sqlx::Executor;
use tower_dcr::store::{PostgresStore, SqliteStore};
use tower_dcr::{ClientRecord, ClientStore, MemoryStore, generate_client_id};

struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// A record as the service stores it.
fn template(rt: &tokio::runtime::Runtime) -> Arc<ClientRecord> {
    let store = MemoryStore::new();
    let mut svc = service(store.clone());
    let client = rt.block_on(register(&mut svc));
    rt.block_on(store.get(&client.client_id)).unwrap().unwrap()
}

fn copy(template: &ClientRecord) -> Arc<ClientRecord> {
    let mut record = template.clone();
    record.client_id = generate_client_id().unwrap();
    Arc::new(record)
}

/// The bytes of the store's row for `record`: metadata JSON, two digests, and
/// the other columns (ids, kinds, seven integers).
fn row_size(record: &ClientRecord) -> usize {
    serde_json::to_vec(&record.metadata).unwrap().len()
        + record.client_id.len()
        + 32
        + 32
        + "digest".len()
        + "dynamic".len()
        + 7 * 8
}

/// What a backend offers the bench: the store, and raw statements on its pool.
trait Backend {
    fn store(&self) -> &dyn ClientStore;
    fn raw_insert(&self, id: &str, body: &[u8]) -> impl Future<Output = ()>;
    fn raw_select(&self, id: &str) -> impl Future<Output = Vec<u8>>;
    fn raw_delete(&self, id: &str) -> impl Future<Output = ()>;
    /// Adds rows quickly (no per-row durability wait), through the store API.
    fn fill(&self, template: &ClientRecord, n: usize) -> impl Future<Output = Vec<String>>;
}

struct Sqlite {
    store: SqliteStore,
    /// Raw statements: a connection of its own with the store's settings (WAL,
    /// synchronous = FULL), run on the calling thread as rusqlite does.
    raw: std::sync::Mutex<rusqlite::Connection>,
}

impl Backend for Sqlite {
    fn store(&self) -> &dyn ClientStore {
        &self.store
    }
    async fn raw_insert(&self, id: &str, body: &[u8]) {
        let raw = self.raw.lock().unwrap();
        let mut statement = raw
            .prepare_cached("INSERT INTO raw_clients (client_id, body) VALUES (?1, ?2)")
            .unwrap();
        statement.execute(rusqlite::params![id, body]).unwrap();
    }
    async fn raw_select(&self, id: &str) -> Vec<u8> {
        let raw = self.raw.lock().unwrap();
        let mut statement = raw
            .prepare_cached("SELECT body FROM raw_clients WHERE client_id = ?1")
            .unwrap();
        statement.query_row([id], |row| row.get(0)).unwrap()
    }
    async fn raw_delete(&self, id: &str) {
        let raw = self.raw.lock().unwrap();
        let mut statement = raw
            .prepare_cached("DELETE FROM raw_clients WHERE client_id = ?1")
            .unwrap();
        statement.execute([id]).unwrap();
    }
    async fn fill(&self, template: &ClientRecord, n: usize) -> Vec<String> {
        // 256 at a time: the store's group commit takes them in one
        // transaction, one fsync.
        let records: Vec<_> = (0..n).map(|_| copy(template)).collect();
        let ids = records.iter().map(|r| r.client_id.clone()).collect();
        for chunk in records.chunks(256) {
            let creates = chunk.iter().map(|r| self.store.create(Arc::clone(r)));
            for result in futures_util::future::join_all(creates).await {
                result.unwrap();
            }
        }
        ids
    }
}

struct Postgres {
    store: PostgresStore,
    fast: PostgresStore,
    schema: String,
}

impl Backend for Postgres {
    fn store(&self) -> &dyn ClientStore {
        &self.store
    }
    async fn raw_insert(&self, id: &str, body: &[u8]) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO \"{}\".raw_clients (client_id, body) VALUES ($1, $2)",
            self.schema
        )))
        .bind(id)
        .bind(body)
        .execute(self.store.pool())
        .await
        .unwrap();
    }
    async fn raw_select(&self, id: &str) -> Vec<u8> {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT body FROM \"{}\".raw_clients WHERE client_id = $1",
            self.schema
        )))
        .bind(id)
        .fetch_one(self.store.pool())
        .await
        .unwrap()
    }
    async fn raw_delete(&self, id: &str) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM \"{}\".raw_clients WHERE client_id = $1",
            self.schema
        )))
        .bind(id)
        .execute(self.store.pool())
        .await
        .unwrap();
    }
    async fn fill(&self, template: &ClientRecord, n: usize) -> Vec<String> {
        // Eight at a time over a pool that does not wait for the WAL flush.
        let records: Vec<_> = (0..n).map(|_| copy(template)).collect();
        let ids = records.iter().map(|r| r.client_id.clone()).collect();
        for chunk in records.chunks(8) {
            let creates = chunk.iter().map(|r| self.fast.create(Arc::clone(r)));
            for result in futures_util::future::join_all(creates).await {
                result.unwrap();
            }
        }
        ids
    }
}

fn bench_backend<B: Backend>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    backend: &B,
    template: &Arc<ClientRecord>,
) {
    let body = vec![b'x'; row_size(template)];
    let mut group = c.benchmark_group(format!("store_{name}"));

    // Raw and store rows side by side, 1 000 of each to read from.
    let ids = rt.block_on(backend.fill(template, 1_000));
    let raw_ids: Vec<String> = (0..1_000).map(|_| generate_client_id().unwrap()).collect();
    rt.block_on(async {
        for id in &raw_ids {
            backend.raw_insert(id, &body).await;
        }
    });

    // Each insert is removed again (not measured), so the table stays the same size.
    group.bench_function("create", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let record = copy(template);
                let start = Instant::now();
                backend.store().create(Arc::clone(&record)).await.unwrap();
                total += start.elapsed();
                backend
                    .store()
                    .delete(&record.client_id, None)
                    .await
                    .unwrap();
            }
            total
        })
    });
    group.bench_function("raw_insert", |b| {
        let body = &body;
        b.to_async(rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let id = generate_client_id().unwrap();
                let start = Instant::now();
                backend.raw_insert(&id, body).await;
                total += start.elapsed();
                backend.raw_delete(&id).await;
            }
            total
        })
    });
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    group.bench_function("get", |b| {
        b.to_async(rt).iter(|| {
            let id = &ids[rng.below(ids.len())];
            async move { backend.store().get(id).await.unwrap().unwrap() }
        })
    });
    group.bench_function("raw_select", |b| {
        b.to_async(rt).iter(|| {
            let id = &raw_ids[rng.below(raw_ids.len())];
            async move { backend.raw_select(id).await }
        })
    });
    group.finish();

    // Growth: the same get and create with more clients stored.
    let large = std::env::var_os("TOWER_DCR_BENCH_LARGE").is_some_and(|v| v == "1");
    let mut sizes = vec![10_000usize];
    if large {
        sizes.push(200_000);
    } else {
        eprintln!("store_{name}: 200 k clients skipped (set TOWER_DCR_BENCH_LARGE=1)");
    }
    let mut group = c.benchmark_group(format!("scale_{name}"));
    let mut ids = ids;
    for n in sizes {
        let started = Instant::now();
        let more = rt.block_on(backend.fill(template, n - ids.len()));
        ids.extend(more);
        eprintln!(
            "store_{name}: filled to {n} clients in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let label = if n >= 1000 && n % 1000 == 0 {
            format!("{}k", n / 1000)
        } else {
            n.to_string()
        };
        group.bench_function(format!("get/{label}"), |b| {
            b.to_async(rt).iter(|| {
                let id = &ids[rng.below(ids.len())];
                async move { backend.store().get(id).await.unwrap().unwrap() }
            })
        });
        group.bench_function(format!("create/{label}"), |b| {
            b.to_async(rt).iter_custom(|iters| async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let record = copy(template);
                    let start = Instant::now();
                    backend.store().create(Arc::clone(&record)).await.unwrap();
                    total += start.elapsed();
                    backend
                        .store()
                        .delete(&record.client_id, None)
                        .await
                        .unwrap();
                }
                total
            })
        });
    }
    group.finish();
}

fn sqlite_benches(c: &mut Criterion) {
    let rt = runtime();
    let template = template(&rt);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("bench.db").display());
    let backend = rt.block_on(async {
        // The store as the server opens it: WAL, synchronous = FULL.
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let raw = rusqlite::Connection::open(dir.path().join("bench.db")).unwrap();
        raw.busy_timeout(Duration::from_secs(5)).unwrap();
        raw.execute_batch(
            "PRAGMA synchronous = FULL; \
             CREATE TABLE raw_clients (client_id TEXT PRIMARY KEY, body BLOB NOT NULL)",
        )
        .unwrap();
        Sqlite {
            store,
            raw: std::sync::Mutex::new(raw),
        }
    });
    bench_backend(c, &rt, "sqlite", &backend, &template);
}

fn postgres_benches(c: &mut Criterion) {
    let rt = runtime();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("tower_dcr_bench_{}", std::process::id());
    let connected = rt.block_on(async {
        let store = PostgresStore::connect(&url).await?.schema(&schema);
        store.migrate().await?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET synchronous_commit = off").await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(tower_dcr::StoreError::unavailable)?;
        let fast = PostgresStore::new(pool).schema(&schema);
        Ok::<_, tower_dcr::StoreError>((store, fast))
    });
    let (store, fast) = match connected {
        Ok(stores) => stores,
        Err(error) => {
            eprintln!("store_postgres: skipped, PostgreSQL unreachable at {url}: {error}");
            return;
        }
    };
    let template = template(&rt);
    rt.block_on(async {
        store
            .pool()
            .execute(sqlx::AssertSqlSafe(format!(
                "CREATE TABLE \"{schema}\".raw_clients (client_id TEXT PRIMARY KEY, body BYTEA NOT NULL)"
            )))
            .await
            .unwrap();
    });
    let backend = Postgres {
        store,
        fast,
        schema: schema.clone(),
    };
    bench_backend(c, &rt, "postgres", &backend, &template);
    rt.block_on(async {
        backend
            .store
            .pool()
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA \"{schema}\" CASCADE"
            )))
            .await
            .unwrap();
    });
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = sqlite_benches, postgres_benches
}
criterion_main!(benches);
