//! The `jti` replay stores of client assertions (RFC 7523 §3 item 7, OIDC
//! Core §9) on their own: SQLite and PostgreSQL.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

use std::time::{SystemTime, UNIX_EPOCH};

use tower_dcr::store::PostgresReplayStore;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The replay store on its own, in a schema of its own.
#[tokio::test]
async fn the_postgres_replay_store_alone() {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let Ok(pool) = sqlx::PgPool::connect(&url).await else {
        assert!(std::env::var("TOWER_DCR_REQUIRE_POSTGRES").as_deref() != Ok("1"));
        return;
    };
    use tower_dcr::store::AssertionReplayStore;
    let schema = format!(
        "cimd_replay_alone_{}",
        now() ^ u64::from(std::process::id())
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await
        .unwrap();
    let store = PostgresReplayStore::new(pool.clone()).schema(&schema);
    store.migrate().await.unwrap();
    let jti = format!("j{}", now());
    assert!(store.first_use("c", &jti, now() + 60, now()).await.unwrap());
    assert!(!store.first_use("c", &jti, now() + 60, now()).await.unwrap());
    assert_eq!(store.purge_expired(now() + 120).await.unwrap(), 1);
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await
        .unwrap();
}

/// The SQLite replay store keeps a jti until it expires.
#[tokio::test]
async fn the_sqlite_replay_store_refuses_replays() {
    use tower_dcr::store::{AssertionReplayStore, SqliteReplayStore};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
    let store = SqliteReplayStore::connect(&url)
        .await
        .unwrap()
        .table_prefix("t_");
    store.migrate().await.unwrap();
    assert!(store.first_use("c", "j", 100, 10).await.unwrap());
    assert!(!store.first_use("c", "j", 100, 50).await.unwrap());
    assert!(
        store.first_use("c", "j", 300, 100).await.unwrap(),
        "expired"
    );
    assert_eq!(store.purge_expired(400).await.unwrap(), 1);
}
