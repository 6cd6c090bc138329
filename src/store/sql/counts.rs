//! The client counts of the SQL stores (`store::quota`): a table of one row
//! per count, keyed `''` (every dynamically registered client), `'s' ||
//! software_id` and `'t' || initial_access_token_id`, kept in the transaction
//! that stores or deletes the client.
//!
//! SQLite keeps it with triggers on the clients table, so every statement
//! that inserts, deletes or changes a client (a registration, a sweep, an
//! update that changes the `software_id`) counts, inside the group commit's
//! transaction. PostgreSQL keeps it in each batch of its group commit
//! (`group_commit`, `batch_counts`): CockroachDB has no triggers in the
//! versions we support.
//!
//! PostgreSQL keeps the count of every client in [`TOTAL_SHARDS`] rows
//! (keys `''`, `'#1'`, `'#2'`, …) and reads their sum: without a quota on
//! it, a batch adds its change to one of them, picked at random, so that
//! concurrent batches (of one instance or several) do not wait on one row's
//! lock; a batch under that quota locks them all, so the sum it checks
//! cannot move before it commits. SQLite, with one writer, uses `''` alone.
//!
//! `migrate()` builds the counts of an existing database once, in one
//! statement that also writes a marker row, so running it again (or on
//! several instances at once) changes nothing.

use super::{Dialect, software_id_column};
use crate::store::quota::Counted;

/// The key of the marker row: the counts were built.
const BUILT: &str = "#counted";

/// How many rows hold PostgreSQL's count of every client (key `''`).
pub(crate) const TOTAL_SHARDS: usize = 8;

/// The key of row `shard` (below [`TOTAL_SHARDS`]) of the count of every
/// client: `''` (the row SQLite and `migrate()` write), then `'#1'`, `'#2'`, …
/// (`#` starts no other key but the marker's).
pub(crate) fn total_shard(shard: usize) -> String {
    match shard {
        0 => String::new(),
        n => format!("#{n}"),
    }
}

/// Whether `key` is a row of the count of every client.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn is_total_shard(key: &str) -> bool {
    key.is_empty()
        || key
            .strip_prefix('#')
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| (1..TOTAL_SHARDS).contains(&n))
}

/// The condition of a `SELECT` of one count by key `$1`: the sum of the
/// total's rows for `''`.
pub(super) fn count_of_condition() -> String {
    let shards: Vec<String> = (1..TOTAL_SHARDS)
        .map(|shard| format!("'{}'", total_shard(shard)))
        .collect();
    format!("key = $1 OR ($1 = '' AND key IN ({}))", shards.join(", "))
}

/// The key of a count.
pub(crate) fn key(counted: Counted<'_>) -> String {
    match counted {
        Counted::All => String::new(),
        Counted::SoftwareId(id) => format!("s{}", software_id_column(id)),
        Counted::InitialAccessToken(id) => format!("t{id}"),
    }
}

/// The keys of the counts a row of the clients table is in, from its
/// `source`, `software_id` (as stored) and `initial_access_token_id`.
pub(crate) fn keys_of_row(
    source: Option<&str>,
    software_id: Option<&str>,
    initial_access_token_id: Option<&str>,
) -> Vec<String> {
    if source != Some("dynamic") {
        return Vec::new();
    }
    let mut keys = vec![String::new()];
    keys.extend(software_id.map(|id| format!("s{id}")));
    keys.extend(initial_access_token_id.map(|id| format!("t{id}")));
    keys
}

/// `migrate`'s statements for the counts table `k` of the clients table `c`,
/// in `dialect`, `name` naming each trigger: the table, (SQLite) the
/// triggers, then the build of the counts of an existing database.
pub(super) fn schema(
    dialect: Dialect,
    c: &str,
    k: &str,
    name: &dyn Fn(&str) -> String,
) -> Vec<String> {
    let mut statements = vec![format!(
        "CREATE TABLE IF NOT EXISTS {k} (key TEXT NOT NULL PRIMARY KEY, clients BIGINT NOT NULL)"
    )];
    if dialect == Dialect::Sqlite {
        let add = |row: &str| {
            format!(
                "INSERT INTO {k} (key, clients) SELECT key, 1 FROM (\
                 SELECT '' AS key WHERE {row}.source = 'dynamic' \
                 UNION ALL SELECT 's' || {row}.software_id \
                 WHERE {row}.source = 'dynamic' AND {row}.software_id IS NOT NULL \
                 UNION ALL SELECT 't' || {row}.initial_access_token_id \
                 WHERE {row}.source = 'dynamic' AND {row}.initial_access_token_id IS NOT NULL\
                 ) WHERE true ON CONFLICT (key) DO UPDATE SET clients = clients + 1;"
            )
        };
        let sub = |row: &str| {
            format!(
                "UPDATE {k} SET clients = clients - 1 WHERE {row}.source = 'dynamic' AND key IN \
                 ('', 's' || {row}.software_id, 't' || {row}.initial_access_token_id);"
            )
        };
        statements.extend([
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} AFTER INSERT ON {c} BEGIN {} END",
                name("clients_counted_insert"),
                add("NEW")
            ),
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} AFTER DELETE ON {c} BEGIN {} END",
                name("clients_counted_delete"),
                sub("OLD")
            ),
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} \
                 AFTER UPDATE OF source, software_id, initial_access_token_id ON {c} \
                 WHEN OLD.source IS NOT NEW.source OR OLD.software_id IS NOT NEW.software_id \
                 OR OLD.initial_access_token_id IS NOT NEW.initial_access_token_id \
                 BEGIN {} {} END",
                name("clients_counted_update"),
                sub("OLD"),
                add("NEW")
            ),
        ]);
    }
    let dynamic = "FROM {c} WHERE source = 'dynamic'".replace("{c}", c);
    statements.push(format!(
        "INSERT INTO {k} (key, clients) SELECT key, n FROM (\
         SELECT '{BUILT}' AS key, 0 AS n \
         UNION ALL SELECT '', COUNT(*) {dynamic} \
         UNION ALL SELECT 's' || software_id, COUNT(*) {dynamic} \
         AND software_id IS NOT NULL GROUP BY software_id \
         UNION ALL SELECT 't' || initial_access_token_id, COUNT(*) {dynamic} \
         AND initial_access_token_id IS NOT NULL GROUP BY initial_access_token_id\
         ) AS counted WHERE NOT EXISTS (SELECT 1 FROM {k} WHERE key = '{BUILT}') \
         ON CONFLICT (key) DO UPDATE SET clients = excluded.clients"
    ));
    statements
}
