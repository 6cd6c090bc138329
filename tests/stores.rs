//! The store conformance suite on every backend, and what only the SQL stores
//! can show: nothing secret in their tables, migrations racing, several
//! instances sharing one database, durability, and recovery from an outage.
//!
//! PostgreSQL: `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//! Each test works in its own schema and drops it afterwards. When the database
//! is unreachable (checked once per test binary) the PostgreSQL tests are
//! skipped with one `SKIPPED` line on stderr, unless
//! `TOWER_DCR_REQUIRE_POSTGRES=1`, when they fail.
#![cfg(feature = "conformance")]

mod common;

/// The suite on the memory store, a test per case.
mod memory {
    mod conforms {
        use tower_dcr::MemoryStore;

        tower_dcr::conformance_tests!(|case| case.run(MemoryStore::new()));
    }
}

/// Helpers shared by the SQL backends' tests.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_common {
    use http::{Method, StatusCode};
    use serde_json::json;
    use tower_dcr::store::InitialAccessToken;
    use tower_dcr::{ClientStore, Profile, Registration, Secret, TokenEndpointAuthMethod};

    use crate::common::{self, Answer};

    /// A name no other test run uses.
    #[cfg(feature = "postgres")]
    pub fn unique(prefix: &str) -> String {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}{}_{nanos:x}_{n}", std::process::id())
    }

    /// An open registration service that also allows `client_secret_jwt`.
    pub fn service(store: impl ClientStore) -> Registration {
        common::builder()
            .profile(Profile::default().token_endpoint_auth_methods([
                TokenEndpointAuthMethod::ClientSecretBasic,
                TokenEndpointAuthMethod::ClientSecretPost,
                TokenEndpointAuthMethod::ClientSecretJwt,
                TokenEndpointAuthMethod::None,
            ]))
            .client_assertions(tower_dcr::client_assertion::ClientAssertions::new())
            .store(store)
            .build()
            .expect("valid configuration")
    }

    /// What was issued through the service and the store, to look for in a dump.
    pub struct Issued {
        /// Values that must never be stored as such.
        pub secrets: Vec<String>,
        /// The `client_secret_jwt` key, which is stored as is.
        pub jwt_key: String,
        pub client_ids: Vec<String>,
    }

    /// Registers clients of every kind through the service (updating one, which
    /// rotates its registration access token) and stores initial access
    /// tokens, one of them used.
    pub async fn issue_everything(store: impl ClientStore + Clone) -> Issued {
        let dcr = service(store.clone());
        let mut issued = Issued {
            secrets: Vec::new(),
            jwt_key: String::new(),
            client_ids: Vec::new(),
        };
        let keep = |answer: &Answer, issued: &mut Issued| {
            issued.client_ids.push(answer.str("client_id").to_owned());
            issued
                .secrets
                .push(answer.str("registration_access_token").to_owned());
        };
        for method in ["client_secret_basic", "client_secret_post"] {
            let a = common::registered(
                &dcr,
                json!({"redirect_uris": ["https://c.example/cb"], "token_endpoint_auth_method": method}),
            )
            .await;
            assert!(!a.str("client_secret").is_empty(), "{method} gets a secret");
            issued.secrets.push(a.str("client_secret").to_owned());
            keep(&a, &mut issued);
        }
        let jwt = common::registered(
            &dcr,
            json!({"redirect_uris": ["https://j.example/cb"], "token_endpoint_auth_method": "client_secret_jwt"}),
        )
        .await;
        issued.jwt_key = jwt.str("client_secret").to_owned();
        assert!(!issued.jwt_key.is_empty());
        keep(&jwt, &mut issued);

        let public = common::registered(
            &dcr,
            json!({"redirect_uris": ["https://p.example/cb"], "token_endpoint_auth_method": "none"}),
        )
        .await;
        keep(&public, &mut issued);
        let updated = common::update(
            &dcr,
            &common::client_path(&public),
            public.str("registration_access_token"),
            json!({
                "client_id": public.str("client_id"),
                "redirect_uris": ["https://p.example/cb2"],
                "token_endpoint_auth_method": "none",
            }),
        )
        .await;
        assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.json);
        let rotated = updated.str("registration_access_token");
        assert!(!rotated.is_empty() && rotated != public.str("registration_access_token"));
        issued.secrets.push(rotated.to_owned());

        let tokens = store
            .initial_access_tokens()
            .expect("SQL stores keep initial access tokens");
        for (i, max_uses) in [None, Some(1)].into_iter().enumerate() {
            let secret = Secret::generate().expect("OS randomness");
            let token = InitialAccessToken {
                id: format!("iat-{i}"),
                digest: secret.digest(),
                profile: None,
                created_at: 1,
                expires_at: None,
                max_uses,
                uses: 0,
            };
            tokens.create_initial_access_token(&token).await.unwrap();
            issued.secrets.push(secret.secret().to_owned());
        }
        let used = tokens
            .consume_initial_access_token(&Secret::new(issued.secrets.last().unwrap()).digest(), 2)
            .await
            .unwrap();
        assert!(used.is_some());
        // A read through the service still works with the stored digests.
        let read = common::send(
            &dcr,
            common::request(
                Method::GET,
                &common::client_path(&jwt),
                Some(jwt.str("registration_access_token")),
                None,
            ),
        )
        .await;
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(read.str("client_secret"), issued.jwt_key);
        issued
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The forms in which a value could show in a dump: as text, or as the hex
    /// of its bytes (how both databases print binary columns).
    fn forms(value: &str) -> [String; 3] {
        let h = hex(value.as_bytes());
        [value.to_owned(), h.to_uppercase(), h]
    }

    /// Asserts that `dump` (every row of every table, as text) holds no issued
    /// secret, while it does hold what it should: client ids and the
    /// `client_secret_jwt` key, which proves the dump covers those columns.
    pub fn assert_no_secret_in(dump: &str, issued: &Issued) {
        for id in &issued.client_ids {
            assert!(dump.contains(id.as_str()), "the dump misses client {id}");
        }
        assert!(
            forms(&issued.jwt_key)
                .iter()
                .any(|f| dump.contains(f.as_str())),
            "the dump must show the client_secret_jwt key (it is stored as is)"
        );
        for (i, secret) in issued.secrets.iter().enumerate() {
            assert!(secret.len() >= 43, "issued secret {i} is a real secret");
            for form in forms(secret) {
                assert!(
                    !dump.contains(form.as_str()),
                    "issued secret {i} is stored in a readable form"
                );
            }
        }
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::path::Path;
    use std::sync::Arc;

    use http::StatusCode;
    use rusqlite::Connection;
    use serde_json::json;
    use tower_dcr::store::{SqliteStore, conformance};
    use tower_dcr::{ClientStore, StoreError};

    use super::sql_common::{assert_no_secret_in, issue_everything, service};
    use crate::common;

    async fn open(path: &Path) -> SqliteStore {
        let store = SqliteStore::connect(&format!("sqlite:{}", path.display()))
            .await
            .expect("open the database file");
        store.migrate().await.expect("migrate");
        store
    }

    /// A connection of another program on the file (the store's own are
    /// not reachable), waiting for the store's writer when it must.
    fn writable(path: &Path) -> Connection {
        let connection = Connection::open(path).unwrap();
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        connection
    }

    /// The suite, a test per case, each in a database file of its own.
    mod conforms {
        tower_dcr::conformance_tests!(|case| async move {
            let dir = tempfile::tempdir().unwrap();
            let store = super::open(&dir.path().join("conformance.db")).await;
            case.run(store).await;
        });
    }

    #[tokio::test]
    async fn sqlite_connect_creates_the_file_in_wal_mode_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        assert!(!path.exists());
        let store = open(&path).await;
        assert!(path.exists(), "connect must create a missing database file");
        // WAL is a property of the file; `synchronous = FULL` is one of the
        // store's write connection, checked by the crate's unit tests
        // (`a_write_connection_is_wal_with_full_sync`).
        let mode: String = writable(&path)
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        store.close().await;
    }

    /// Two pools on one file, like two processes starting at once, migrate
    /// concurrently, repeatedly; then each sees the other's writes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_migrate_is_idempotent_and_safe_concurrently() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.db");
        let url = format!("sqlite:{}", path.display());
        let a = SqliteStore::connect(&url).await.unwrap();
        let b = SqliteStore::connect(&url).await.unwrap();
        let runs = (0..8).map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { store.migrate().await })
        });
        for run in runs.collect::<Vec<_>>() {
            run.await.unwrap().expect("concurrent migrate");
        }
        a.migrate().await.expect("migrate again");
        a.create(Arc::new(conformance::sample_record("x")))
            .await
            .unwrap();
        assert!(b.get("x").await.unwrap().is_some());
    }

    /// Every row of every table as text, blobs as `X'HEX'`.
    fn dump(connection: &Connection) -> String {
        let strings = |sql: &str| -> Vec<String> {
            let mut statement = connection.prepare(sql).unwrap();
            statement
                .query_map([], |row| row.get::<_, String>(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let tables = strings("SELECT name FROM sqlite_master WHERE type = 'table'");
        assert!(tables.len() >= 2, "tables: {tables:?}");
        let mut out = String::new();
        for table in tables {
            let quoted = format!("\"{}\"", table.replace('"', "\"\""));
            let columns = strings(&format!("SELECT name FROM pragma_table_info('{table}')"));
            let select = columns
                .iter()
                .map(|c| format!("quote(\"{c}\")"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let rows = strings(&format!("SELECT {select} FROM {quoted}"));
            out.push_str(&format!("{table}: {}\n", columns.join("|")));
            for row in rows {
                out.push_str(&row);
                out.push('\n');
            }
        }
        out
    }

    /// Registration access tokens, initial access tokens and client secrets
    /// (other than `client_secret_jwt` keys) are stored only as digests
    /// (RFC 7592 §3 and DESIGN §5).
    #[tokio::test]
    async fn sqlite_tables_hold_no_issued_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dump.db");
        let store = open(&path).await;
        let issued = issue_everything(store.clone()).await;
        assert_no_secret_in(&dump(&writable(&path)), &issued);
    }

    /// Rows a person or another program broke come back as errors, never as a
    /// panic or a wrong record.
    #[tokio::test]
    async fn sqlite_corrupt_rows_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("corrupt.db")).await;
        let raw = writable(&dir.path().join("corrupt.db"));
        let breakages = [
            "metadata = '{not json'",
            "metadata = '[1, 2]'",
            "metadata = '{\"redirect_uris\": \"not an array\"}'",
            "client_secret = X'0102'",
            "client_secret_kind = 'rot13'",
            "client_secret_kind = NULL",
            "registration_access_token = X'00'",
            "revision = -1",
            "created_at = -5",
            "last_used_at = -1",
            "source = 'martian'",
            "client_secret = X'FF', client_secret_kind = 'plain'",
        ];
        for (i, breakage) in breakages.iter().enumerate() {
            let id = format!("broken-{i}");
            store
                .create(Arc::new(conformance::sample_record(&id)))
                .await
                .unwrap();
            raw.execute(
                &format!("UPDATE clients SET {breakage} WHERE client_id = ?1"),
                [&id],
            )
            .unwrap();
            match store.get(&id).await {
                Err(StoreError::Corrupt(e)) => {
                    let message = e.to_string();
                    assert!(
                        message.contains(&id),
                        "{breakage}: the error names the row: {message}"
                    );
                }
                other => panic!("{breakage}: expected a Corrupt error, got {other:?}"),
            }
            let lifecycle = store.lifecycle().unwrap();
            assert!(
                lifecycle.list_clients(None, 100).await.is_err(),
                "{breakage}: list"
            );
            store.delete(&id, None).await.unwrap();
        }
        let tokens = store.initial_access_tokens().unwrap();
        raw.execute(
            "INSERT INTO initial_access_tokens VALUES ('t', X'01', NULL, 1, NULL, NULL, -3)",
            [],
        )
        .unwrap();
        assert!(tokens.list_initial_access_tokens().await.is_err());
    }

    /// The registration service over a store whose database went away answers
    /// `503` with `Retry-After`, never a 5xx without body or a panic.
    #[tokio::test]
    async fn sqlite_closed_pool_answers_503() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("closed.db")).await;
        let dcr = service(store.clone());
        let ok = common::registered(&dcr, common::web_client()).await;
        store.close().await;
        let answer = common::register(&dcr, common::web_client()).await;
        answer.assert_error(503, "temporarily_unavailable");
        assert!(answer.header("retry-after").is_some());
        let read = common::read(
            &dcr,
            &common::client_path(&ok),
            ok.str("registration_access_token"),
        )
        .await;
        assert_eq!(
            read.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "not 401: the client may exist"
        );
    }

    /// A registration answered `201` is on disk: the process that registered it
    /// is killed with SIGKILL right after, and a new process reads it back.
    #[tokio::test]
    async fn sqlite_acknowledged_registration_survives_sigkill() {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("killed.db");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sqlite::sqlite_sigkill_child",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_DB, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut acknowledged = Vec::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        while acknowledged.len() < 20 {
            let line = lines
                .next()
                .expect("the child stopped before registering 20 clients")
                .unwrap();
            if let Some(rest) = line.strip_prefix("registered ") {
                let (path, rat) = rest.split_once(' ').unwrap();
                acknowledged.push((path.to_owned(), rat.to_owned()));
            }
        }
        child.kill().unwrap(); // SIGKILL, while it keeps registering.
        child.wait().unwrap();

        let dcr = service(open(&path).await);
        for (path, rat) in &acknowledged {
            let read = common::read(&dcr, path, rat).await;
            assert_eq!(
                read.status,
                StatusCode::OK,
                "{path} was acknowledged but is lost"
            );
        }
    }

    const CHILD_DB: &str = "TOWER_DCR_SIGKILL_CHILD_DB";

    /// The process killed by `sqlite_acknowledged_registration_survives_sigkill`:
    /// registers clients until killed, printing each one after its `201`.
    #[tokio::test]
    #[ignore = "run by sqlite_acknowledged_registration_survives_sigkill"]
    async fn sqlite_sigkill_child() {
        use std::io::Write;
        let Some(path) = std::env::var_os(CHILD_DB) else {
            eprintln!("{CHILD_DB} is not set: nothing to do outside the SIGKILL test");
            return;
        };
        let dcr = service(open(Path::new(&path)).await);
        // Bounded, in case the parent never kills it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let a =
                common::registered(&dcr, json!({"redirect_uris": ["https://k.example/cb"]})).await;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "registered {} {}",
                common::client_path(&a),
                a.str("registration_access_token")
            )
            .unwrap();
            out.flush().unwrap();
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::future::Future;
    use std::io::Write as _;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::Duration;

    use http::StatusCode;
    use sqlx::postgres::{PgPool, PgPoolOptions};
    use tokio::sync::Barrier;
    use tower_dcr::store::{InitialAccessToken, PostgresStore, conformance};
    use tower_dcr::{ClientStore, SecretDigest, StoreError};

    use super::sql_common::{assert_no_secret_in, issue_everything, service, unique};
    use crate::common;

    fn required() -> bool {
        std::env::var("TOWER_DCR_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
    }

    /// Skips the test (returns from it) with a message, or fails it when
    /// PostgreSQL is required. Each message is written once per test binary,
    /// straight to stderr: the test harness captures `eprintln!`, and a skip
    /// must show in a plain `cargo test`.
    fn unavailable(what: &str) {
        if required() {
            panic!("{what}, and TOWER_DCR_REQUIRE_POSTGRES=1");
        }
        static SAID: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
        if !said.iter().any(|s| s == what) {
            said.push(what.to_owned());
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {what}; the PostgreSQL tests pass without running \
                 (set TOWER_DCR_REQUIRE_POSTGRES=1 to fail instead)"
            );
        }
    }

    async fn connect(url: &str) -> Result<PgPool, sqlx::Error> {
        PgPoolOptions::new()
            .max_connections(20)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
    }

    fn database_url() -> String {
        std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
    }

    /// Whether PostgreSQL answers, asked once per test binary with one plain
    /// connection and a short timeout (a pool would retry for its whole
    /// acquire timeout, in every test).
    fn reachable() -> Result<(), String> {
        static REACHABLE: OnceLock<Result<(), String>> = OnceLock::new();
        REACHABLE
            .get_or_init(|| {
                let url = database_url();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime for the reachability check");
                    runtime.block_on(async {
                        use sqlx::Connection as _;
                        let connect = sqlx::PgConnection::connect(&url);
                        match tokio::time::timeout(Duration::from_secs(3), connect).await {
                            Ok(Ok(connection)) => {
                                let _ = connection.close().await;
                                Ok(())
                            }
                            Ok(Err(e)) => Err(e.to_string()),
                            Err(_) => Err("no answer within 3 s".into()),
                        }
                    })
                })
                .join()
                .unwrap_or_else(|_| Err("the reachability check panicked".into()))
            })
            .clone()
    }

    async fn shared_database() -> Option<PgPool> {
        if let Err(e) = reachable() {
            unavailable(&format!("PostgreSQL (DATABASE_URL) is unreachable: {e}"));
            return None;
        }
        match connect(&database_url()).await {
            Ok(pool) => Some(pool),
            Err(e) => {
                unavailable(&format!("PostgreSQL (DATABASE_URL) is unreachable: {e}"));
                None
            }
        }
    }

    /// Schemas a test created, dropped when it ends, even if it failed.
    #[derive(Clone)]
    struct Schemas(Arc<Mutex<Vec<String>>>);

    impl Schemas {
        fn fresh(&self) -> String {
            let name = unique("tower_dcr_test_");
            self.0.lock().unwrap().push(name.clone());
            name
        }
    }

    /// Runs `body` with a schema registry, then drops every schema it made and
    /// re-raises the body's panic, if any.
    async fn with_schemas<F, Fut>(pool: &PgPool, body: F)
    where
        F: FnOnce(Schemas) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let schemas = Schemas(Arc::default());
        let outcome = tokio::spawn(body(schemas.clone())).await;
        let names = std::mem::take(&mut *schemas.0.lock().unwrap());
        for name in names {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
            )))
            .execute(pool)
            .await
            .expect("drop the test schema");
        }
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    async fn store_in(pool: &PgPool, schema: &str) -> PostgresStore {
        let store = PostgresStore::new(pool.clone()).schema(schema);
        store.migrate().await.expect("migrate");
        store
    }

    /// The suite, a test per case, each in a schema of its own (dropped
    /// afterwards).
    mod conforms {
        use super::{shared_database, store_in, with_schemas};

        tower_dcr::conformance_tests!(|case| async move {
            let Some(pool) = shared_database().await else {
                return;
            };
            with_schemas(&pool.clone(), |schemas| async move {
                case.run(store_in(&pool, &schemas.fresh()).await).await;
            })
            .await;
        });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_table_prefix_separates_stores_in_one_schema() {
        let Some(pool) = shared_database().await else {
            return;
        };
        with_schemas(&pool.clone(), |schemas| async move {
            let schema = schemas.fresh();
            let a = PostgresStore::new(pool.clone())
                .schema(&schema)
                .table_prefix("a_");
            let b = PostgresStore::new(pool.clone())
                .schema(&schema)
                .table_prefix("b_");
            a.migrate().await.unwrap();
            b.migrate().await.unwrap();
            a.create(Arc::new(conformance::sample_record("only-in-a")))
                .await
                .unwrap();
            assert!(b.get("only-in-a").await.unwrap().is_none());
            assert!(a.get("only-in-a").await.unwrap().is_some());
        })
        .await;
    }

    /// Many instances starting together run `migrate` on the same new schema at
    /// once; PostgreSQL's catalog races are retried, so every one succeeds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_migrate_is_safe_concurrently() {
        let Some(pool) = shared_database().await else {
            return;
        };
        with_schemas(&pool.clone(), |schemas| async move {
            for _ in 0..4 {
                let schema = schemas.fresh();
                let barrier = Arc::new(Barrier::new(8));
                let runs: Vec<_> = (0..8)
                    .map(|_| {
                        let store = PostgresStore::new(pool.clone()).schema(&schema);
                        let barrier = Arc::clone(&barrier);
                        tokio::spawn(async move {
                            barrier.wait().await;
                            store.migrate().await
                        })
                    })
                    .collect();
                for run in runs {
                    run.await.unwrap().expect("concurrent migrate must succeed");
                }
                let store = store_in(&pool, &schema).await;
                store
                    .create(Arc::new(conformance::sample_record("after-migrate")))
                    .await
                    .unwrap();
            }
        })
        .await;
    }

    async fn dump(pool: &PgPool, schema: &str) -> String {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
        )
        .bind(schema)
        .fetch_all(pool)
        .await
        .unwrap();
        assert!(tables.len() >= 2, "tables: {tables:?}");
        let mut out = String::new();
        for table in tables {
            // A row cast to text shows every column, bytea as \x hex.
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT t::text FROM \"{schema}\".\"{table}\" t"
            )))
            .fetch_all(pool)
            .await
            .unwrap();
            out.push_str(&format!("{table}:\n{}\n", rows.join("\n")));
        }
        out
    }

    /// Registration access tokens, initial access tokens and client secrets
    /// (other than `client_secret_jwt` keys) are stored only as digests.
    #[tokio::test]
    async fn postgres_tables_hold_no_issued_secret() {
        let Some(pool) = shared_database().await else {
            return;
        };
        with_schemas(&pool.clone(), |schemas| async move {
            let schema = schemas.fresh();
            let store = store_in(&pool, &schema).await;
            let issued = issue_everything(store).await;
            assert_no_secret_in(&dump(&pool, &schema).await, &issued);
        })
        .await;
    }

    /// The count of every client is kept in several rows (so that concurrent
    /// batches without a client cap do not all wait on one row's lock), and
    /// read, and checked against a cap, as their sum.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_count_of_every_client_is_spread_over_rows_and_summed() {
        use tower_dcr::store::{ClientFilter, QuotaFull, Quotas};

        let Some(pool) = shared_database().await else {
            return;
        };
        with_schemas(&pool.clone(), |schemas| async move {
            let schema = schemas.fresh();
            let store = store_in(&pool, &schema).await;
            // One at a time: each its own batch, each on a row picked at random.
            for n in 0..40 {
                let record = conformance::sample_record(&format!("c{n}"));
                store.create(Arc::new(record)).await.unwrap();
            }
            for n in 0..5 {
                assert!(store.delete(&format!("c{n}"), None).await.unwrap());
            }
            let lifecycle = store.lifecycle().unwrap();
            let all = ClientFilter::default();
            assert_eq!(lifecycle.count_clients(&all).await.unwrap(), 35);
            let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM \"{schema}\".client_counts \
                 WHERE key = '' OR (key LIKE '#%' AND key <> '#counted')"
            )))
            .fetch_one(&pool)
            .await
            .unwrap();
            assert!(rows > 1, "the total is kept in one row ({rows})");

            let quotas = store.quotas().unwrap();
            let capped = |max| Quotas {
                max_clients: Some(max),
                ..Quotas::default()
            };
            let next = Arc::new(conformance::sample_record("next"));
            assert_eq!(
                quotas
                    .create_within(Arc::clone(&next), &capped(35))
                    .await
                    .unwrap(),
                Some(QuotaFull::Clients),
                "35 clients fill a cap of 35"
            );
            assert_eq!(
                quotas
                    .create_within(Arc::clone(&next), &capped(36))
                    .await
                    .unwrap(),
                None
            );
            assert_eq!(lifecycle.count_clients(&all).await.unwrap(), 36);
        })
        .await;
    }

    /// Two instances (two pools) on one schema: what one writes the other reads,
    /// updates and deletes; racing updates through both have one winner; a
    /// one-use initial access token is granted once across both.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_instances_share_one_database() {
        let Some(pool) = shared_database().await else {
            return;
        };
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        with_schemas(&pool.clone(), |schemas| async move {
            let schema = schemas.fresh();
            let other_pool = connect(&url).await.expect("second pool");
            let (a, b) = tokio::join!(store_in(&pool, &schema), store_in(&other_pool, &schema));

            let record = conformance::sample_record("shared");
            a.create(Arc::new(record.clone())).await.unwrap();
            let seen = b.get("shared").await.unwrap().expect("b sees a's client");
            assert_eq!(seen.revision, 1);
            match b.create(Arc::new(record.clone())).await {
                Err(StoreError::Conflict) => {}
                other => panic!("b must see a's client_id as taken, got {other:?}"),
            }
            let mut next = record.clone();
            next.revision = 2;
            b.update(Arc::new(next), 1).await.unwrap();
            assert_eq!(a.get("shared").await.unwrap().unwrap().revision, 2);

            // 16 racers, half through each instance, on revision 2.
            let barrier = Arc::new(Barrier::new(16));
            let racers: Vec<_> = (0..16)
                .map(|i| {
                    let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                    let barrier = Arc::clone(&barrier);
                    let mut next = record.clone();
                    next.revision = 3;
                    tokio::spawn(async move {
                        barrier.wait().await;
                        store.update(Arc::new(next), 2).await
                    })
                })
                .collect();
            let mut winners = 0;
            for racer in racers {
                match racer.await.unwrap() {
                    Ok(()) => winners += 1,
                    Err(StoreError::Stale) => {}
                    Err(e) => panic!("racing update: {e:?}"),
                }
            }
            assert_eq!(
                winners, 1,
                "exactly one update of revision 2 wins across instances"
            );
            assert_eq!(b.get("shared").await.unwrap().unwrap().revision, 3);

            let token = InitialAccessToken {
                id: "once".into(),
                digest: SecretDigest::of("one-use"),
                profile: None,
                created_at: 1,
                expires_at: None,
                max_uses: Some(1),
                uses: 0,
            };
            a.initial_access_tokens()
                .unwrap()
                .create_initial_access_token(&token)
                .await
                .unwrap();
            let barrier = Arc::new(Barrier::new(16));
            let consumers: Vec<_> = (0..16)
                .map(|i| {
                    let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                    let barrier = Arc::clone(&barrier);
                    tokio::spawn(async move {
                        barrier.wait().await;
                        let tokens = store.initial_access_tokens().unwrap();
                        tokens
                            .consume_initial_access_token(&SecretDigest::of("one-use"), 2)
                            .await
                    })
                })
                .collect();
            let mut granted = 0;
            for consumer in consumers {
                if consumer.await.unwrap().unwrap().is_some() {
                    granted += 1;
                }
            }
            assert_eq!(
                granted, 1,
                "a one-use token is granted once across instances"
            );

            // Through two services: register on one, manage on the other.
            let (dcr_a, dcr_b) = (service(a.clone()), service(b.clone()));
            let registered = common::registered(&dcr_a, common::web_client()).await;
            let path = common::client_path(&registered);
            let rat = registered.str("registration_access_token");
            assert_eq!(
                common::read(&dcr_b, &path, rat).await.status,
                StatusCode::OK
            );
            assert_eq!(
                common::delete(&dcr_b, &path, rat).await.status,
                StatusCode::NO_CONTENT
            );
            assert_eq!(
                common::read(&dcr_a, &path, rat).await.status,
                StatusCode::UNAUTHORIZED
            );

            assert!(b.delete("shared", None).await.unwrap());
            assert!(a.get("shared").await.unwrap().is_none());
            other_pool.close().await;
        })
        .await;
    }

    /// Group commit (issue 14): concurrent creates commit in shared
    /// transactions, one multi-row insert each. Required: a statement that
    /// fails, a duplicate `client_id` and a create of an id already stored
    /// fail only their own request, never a batch-mate's; every other create
    /// is stored and readable; of several creates of one new id exactly one
    /// succeeds, and the stored row is that one's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_group_commit_fails_only_the_failing_request() {
        let Some(pool) = shared_database().await else {
            return;
        };
        with_schemas(&pool.clone(), |schemas| async move {
            let schema = schemas.fresh();
            let store = store_in(&pool, &schema).await;
            // Inserting a client whose id starts with `poison` raises an
            // error, which aborts the whole transaction it runs in.
            for statement in [
                format!(
                    "CREATE FUNCTION \"{schema}\".poison() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN IF NEW.client_id LIKE 'poison%' THEN RAISE EXCEPTION 'poisoned'; \
                     END IF; RETURN NEW; END $$"
                ),
                format!(
                    "CREATE TRIGGER poison BEFORE INSERT ON \"{schema}\".clients \
                     FOR EACH ROW EXECUTE FUNCTION \"{schema}\".poison()"
                ),
            ] {
                sqlx::query(sqlx::AssertSqlSafe(statement))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            // Odd rounds poisoned: a failing statement sends its batch one
            // write per transaction, so even rounds keep the multi-row insert.
            for round in 0..4u64 {
                let taken = format!("r{round}-taken");
                store
                    .create(Arc::new(conformance::sample_record(&taken)))
                    .await
                    .unwrap();
                // 96 creates: four of the id already stored, twelve of one new
                // id (told apart by created_at), in odd rounds every eighth
                // poisoned.
                let creates: Vec<_> = (0..96)
                    .map(|i| {
                        let id = match i % 8 {
                            0 if round % 2 == 1 => format!("poison-r{round}-{i}"),
                            3 if i < 32 => taken.clone(),
                            5 => format!("r{round}-same"),
                            _ => format!("r{round}-c-{i}"),
                        };
                        let mut record = conformance::sample_record(&id);
                        record.created_at += i;
                        let store = store.clone();
                        tokio::spawn(async move {
                            let result = store.create(Arc::new(record)).await;
                            (id, i, result)
                        })
                    })
                    .collect();
                let mut same_winner = Vec::new();
                for create in creates {
                    let (id, i, result) = create.await.unwrap();
                    if id.starts_with("poison") {
                        assert!(
                            matches!(result, Err(StoreError::Unavailable(_))),
                            "{id}: {result:?}"
                        );
                        assert!(store.get(&id).await.unwrap().is_none(), "{id} stored");
                    } else if id == taken {
                        assert!(
                            matches!(result, Err(StoreError::Conflict)),
                            "{id}: {result:?}"
                        );
                    } else if id.ends_with("-same") {
                        match result {
                            Ok(()) => same_winner.push(i),
                            Err(StoreError::Conflict) => {}
                            Err(e) => panic!("{id} failed with its batch-mates: {e}"),
                        }
                    } else {
                        result.unwrap_or_else(|e| panic!("{id} failed with its batch-mates: {e}"));
                        let stored = store.get(&id).await.unwrap();
                        assert_eq!(
                            stored.expect("acknowledged, so stored").created_at,
                            conformance::sample_record(&id).created_at + i
                        );
                    }
                }
                assert_eq!(same_winner.len(), 1, "one create of a new id wins");
                let stored = store.get(&format!("r{round}-same")).await.unwrap().unwrap();
                assert_eq!(
                    stored.created_at,
                    conformance::sample_record("x").created_at + same_winner[0],
                    "the stored row is the winner's"
                );
                assert_eq!(
                    store.get(&taken).await.unwrap().unwrap().created_at,
                    conformance::sample_record("x").created_at
                );
            }
            // Rows a transaction wrote share its id (xmin): fewer transactions
            // than rows means creates were committed together.
            let (rows, transactions): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*), COUNT(DISTINCT xmin::text) FROM \"{schema}\".clients"
            )))
            .fetch_one(&pool)
            .await
            .unwrap();
            assert!(
                transactions < rows,
                "{rows} clients in {transactions} transactions: no group commit"
            );
        })
        .await;
    }

    /// A throwaway PostgreSQL cluster in a temporary directory, stopped (hard)
    /// when dropped.
    struct Cluster {
        bin: PathBuf,
        data: PathBuf,
        dir: tempfile::TempDir,
        port: u16,
        as_postgres: bool,
    }

    impl Cluster {
        /// The newest `/usr/lib/postgresql/*/bin` with `initdb` and `pg_ctl`.
        fn binaries() -> Option<PathBuf> {
            let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(|entry| {
                    let entry = entry.ok()?;
                    let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                    let bin = entry.path().join("bin");
                    (bin.join("initdb").exists() && bin.join("pg_ctl").exists())
                        .then_some((version, bin))
                })
                .collect();
            found.sort();
            found.pop().map(|(_, bin)| bin)
        }

        fn command(&self, program: &str) -> Command {
            let program = self.bin.join(program);
            if self.as_postgres {
                // initdb refuses to run as root.
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            } else {
                Command::new(program)
            }
        }

        fn run(&self, mut command: Command, what: &str) {
            let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(
                output.status.success(),
                "{what} failed: {}\n{}\nserver log:\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
            );
        }

        fn init(bin: PathBuf) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let as_postgres = Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
            if as_postgres {
                let status = Command::new("chown")
                    .args(["-R", "postgres:"])
                    .arg(dir.path())
                    .status()
                    .unwrap();
                assert!(status.success(), "chown the cluster directory to postgres");
            }
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let cluster = Self {
                bin,
                data: dir.path().join("data"),
                dir,
                port,
                as_postgres,
            };
            let mut initdb = cluster.command("initdb");
            initdb
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "-D",
                ])
                .arg(&cluster.data);
            cluster.run(initdb, "initdb");
            cluster
        }

        fn url(&self) -> String {
            format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
        }

        fn start(&self) {
            let mut start = self.command("pg_ctl");
            start
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(self.dir.path().join("server.log"))
                .arg("-o")
                .arg(format!(
                    "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
                    self.port,
                    self.dir.path().display()
                ))
                .args(["-w", "start"]);
            self.run(start, "pg_ctl start");
        }

        /// Stops the server at once, as a crash would (`-m immediate`).
        fn crash(&self) {
            let mut stop = self.command("pg_ctl");
            stop.arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "stop"]);
            self.run(stop, "pg_ctl stop");
        }

        fn path(&self) -> &Path {
            &self.data
        }
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            if self.path().join("postmaster.pid").exists() {
                let mut stop = self.command("pg_ctl");
                stop.arg("-D")
                    .arg(&self.data)
                    .args(["-m", "immediate", "stop"]);
                let _ = stop.output();
            }
        }
    }

    /// The database goes down: the service answers `503` with a JSON error body
    /// and `Retry-After` (a management request too, not a misleading `401`);
    /// the database comes back: the same service, not rebuilt, works again and
    /// the clients registered before are still there.
    #[tokio::test]
    async fn postgres_outage_answers_503_then_recovers() {
        let Some(bin) = Cluster::binaries() else {
            return unavailable(
                "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql",
            );
        };
        let cluster = Cluster::init(bin);
        cluster.start();
        let store = PostgresStore::connect(&cluster.url())
            .await
            .expect("connect to the throwaway cluster");
        store.migrate().await.unwrap();
        let dcr = service(store);

        let before = common::registered(&dcr, common::web_client()).await;
        let path = common::client_path(&before);
        let rat = before.str("registration_access_token");

        cluster.crash();
        let started = std::time::Instant::now();
        let down = common::register(&dcr, common::web_client()).await;
        down.assert_error(503, "temporarily_unavailable");
        assert!(
            down.header("retry-after").is_some(),
            "503 must carry Retry-After"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a request must fail fast while the database is down, took {:?}",
            started.elapsed()
        );
        let read = common::read(&dcr, &path, rat).await;
        read.assert_error(503, "temporarily_unavailable");

        cluster.start();
        let after = common::registered(&dcr, common::web_client()).await;
        assert_ne!(after.str("client_id"), before.str("client_id"));
        let read = common::read(&dcr, &path, rat).await;
        assert_eq!(read.status, StatusCode::OK, "{:?}", read.json);
        assert_eq!(read.str("client_id"), before.str("client_id"));
    }
}

/// Group commit on SQLite (issue 14): writes queued together commit in one
/// transaction, and a statement that fails fails only its own request.
#[cfg(feature = "sqlite")]
mod sqlite_group_commit {
    use std::sync::Arc;

    use tower_dcr::store::{SqliteStore, conformance};
    use tower_dcr::{ClientStore, StoreError};

    /// A store with a trigger that fails every insert of a client whose id
    /// starts with `poison`, with `action` (`ABORT` undoes the statement,
    /// `ROLLBACK` the whole transaction, batch-mates' statements included).
    async fn poisoned(dir: &std::path::Path, action: &str) -> SqliteStore {
        let path = dir.join("poisoned.db");
        let url = format!("sqlite:{}", path.display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch(&format!(
            "CREATE TRIGGER poison BEFORE INSERT ON clients \
             WHEN NEW.client_id LIKE 'poison%' \
             BEGIN SELECT RAISE({action}, 'poisoned'); END"
        ))
        .unwrap();
        drop(raw);
        store
    }

    /// 96 concurrent creates, every eighth poisoned: those fail, every other
    /// one succeeds and is stored, whichever batch it shared.
    async fn only_the_poisoned_fail(store: SqliteStore) {
        let creates = (0..96).map(|i| {
            let store = store.clone();
            let id = if i % 8 == 0 {
                format!("poison-{i}")
            } else {
                format!("client-{i}")
            };
            tokio::spawn(async move {
                let result = store
                    .create(Arc::new(conformance::sample_record(&id)))
                    .await;
                (id, result)
            })
        });
        let creates: Vec<_> = creates.collect();
        for create in creates {
            let (id, result) = create.await.unwrap();
            if id.starts_with("poison") {
                assert!(
                    matches!(result, Err(StoreError::Unavailable(_))),
                    "{id}: {result:?}"
                );
                assert!(store.get(&id).await.unwrap().is_none(), "{id} stored");
            } else {
                result.unwrap_or_else(|e| panic!("{id} failed with its batch-mate: {e}"));
                assert!(store.get(&id).await.unwrap().is_some(), "{id} lost");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_group_commit_failed_statement_fails_only_its_request() {
        let dir = tempfile::tempdir().unwrap();
        only_the_poisoned_fail(poisoned(dir.path(), "ABORT").await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_group_commit_rolled_back_transaction_fails_only_its_request() {
        let dir = tempfile::tempdir().unwrap();
        only_the_poisoned_fail(poisoned(dir.path(), "ROLLBACK").await).await;
    }

    /// Conflicts inside one batch: of many concurrent creates of one id,
    /// exactly one succeeds; of concurrent updates from one revision, exactly
    /// one wins.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_group_commit_keeps_conflicts_exact() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("conflicts.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let creates: Vec<_> = (0..32)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .create(Arc::new(conformance::sample_record("same")))
                        .await
                })
            })
            .collect();
        let mut created = 0;
        for create in creates {
            match create.await.unwrap() {
                Ok(()) => created += 1,
                Err(StoreError::Conflict) => {}
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(created, 1);
        let stored = store.get("same").await.unwrap().unwrap();
        let updates: Vec<_> = (0..32)
            .map(|_| {
                let (store, mut next) = (store.clone(), (*stored).clone());
                next.revision = stored.revision + 1;
                let expected = stored.revision;
                tokio::spawn(async move { store.update(Arc::new(next), expected).await })
            })
            .collect();
        let mut updated = 0;
        for update in updates {
            match update.await.unwrap() {
                Ok(()) => updated += 1,
                Err(StoreError::Stale) => {}
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(updated, 1);
    }

    /// Creates queued together go in as one multi-row insert: one whose id
    /// exists gets its conflict, the others are stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_group_commit_multi_row_insert_reports_each_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("multi.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        for round in 0..3 {
            let taken = format!("r{round}-c-5");
            store
                .create(Arc::new(conformance::sample_record(&taken)))
                .await
                .unwrap();
            let creates: Vec<_> = (0..90)
                .map(|i| {
                    let store = store.clone();
                    let id = format!("r{round}-c-{i}");
                    tokio::spawn(async move {
                        let result = store
                            .create(Arc::new(conformance::sample_record(&id)))
                            .await;
                        (id, result)
                    })
                })
                .collect();
            for create in creates {
                let (id, result) = create.await.unwrap();
                if id == taken {
                    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
                } else {
                    result.unwrap();
                    assert!(store.get(&id).await.unwrap().is_some(), "{id} lost");
                }
            }
        }
    }
}
