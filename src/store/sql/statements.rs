//! The statements of one SQL store, built once for its table names: the
//! schema `migrate` creates, and every statement the store runs, written once
//! with `$n` placeholders for both dialects ([`Dialect::placeholders`]).

use std::borrow::Cow;
use std::sync::Arc;

use super::{Dialect, filter_columns, quote};
use crate::store::ClientFilter;

/// The columns of the clients table, in the order statements bind and read them.
const CLIENT_COLUMNS: &str = "client_id, metadata, client_secret_kind, client_secret, \
     registration_access_token, revision, source, profile, initial_access_token_id, \
     software_id, client_id_issued_at, client_secret_expires_at, created_at, updated_at, \
     last_used_at, registration_access_token_expires_at, previous_registration_access_token, \
     previous_registration_access_token_expires_at";

/// [`CLIENT_COLUMNS`] one by one: a row is read by position.
pub(super) const CLIENT_COLUMN_NAMES: [&str; 18] = [
    "client_id",
    "metadata",
    "client_secret_kind",
    "client_secret",
    "registration_access_token",
    "revision",
    "source",
    "profile",
    "initial_access_token_id",
    "software_id",
    "client_id_issued_at",
    "client_secret_expires_at",
    "created_at",
    "updated_at",
    "last_used_at",
    "registration_access_token_expires_at",
    "previous_registration_access_token",
    "previous_registration_access_token_expires_at",
];

/// The PostgreSQL type of each of [`CLIENT_COLUMN_NAMES`], for the arrays of
/// the multi-row insert ([`Statements::insert_clients_unnest`]).
pub(super) const CLIENT_COLUMN_TYPES: [&str; 18] = [
    "text", "text", "text", "bytea", "bytea", "bigint", "text", "text", "text", "text", "bigint",
    "bigint", "bigint", "bigint", "bigint", "bigint", "bytea", "bigint",
];

/// The columns of the initial access token table.
const TOKEN_COLUMNS: &str = "id, digest, profile, created_at, expires_at, max_uses, uses";

/// [`TOKEN_COLUMNS`] one by one.
pub(super) const TOKEN_COLUMN_NAMES: [&str; 7] = [
    "id",
    "digest",
    "profile",
    "created_at",
    "expires_at",
    "max_uses",
    "uses",
];

/// `client_secret_kind` of a SHA-256 digest.
pub(super) const SECRET_DIGEST: &str = "digest";
/// `client_secret_kind` of a `client_secret_jwt` HMAC key, kept as is.
pub(crate) const SECRET_PLAIN: &str = "plain";

/// The row counts of the multi-row inserts, largest first: a few fixed sizes,
/// so each is prepared once per connection and cached.
const MULTI_INSERT_ROWS: [usize; 3] = [64, 16, 4];

/// The clients table's indexes on `software_id` and `initial_access_token_id`
/// (quota counts) and `client_secret_expires_at` (the expired-secrets sweep),
/// as `migrate` creates them in `dialect`, on the table `c`, `index` naming
/// each.
///
/// PostgreSQL indexes every row. SQLite indexes only the rows each is
/// searched for (partial indexes): most clients have no `software_id`, no
/// initial access token and a secret that never expires, and a row outside an
/// index costs no write to it, so a typical registration updates one secondary
/// index (`last_used_at`) instead of four: fewer pages in each group commit's
/// WAL frames. SQLite uses a partial index only for a query whose `WHERE`
/// implies its predicate: `software_id = $1` implies `software_id IS NOT
/// NULL`, and the sweep states `client_secret_expires_at <> 0` as written
/// here. The full indexes of earlier versions are dropped after the partial
/// ones exist (`CREATE … IF NOT EXISTS`, then `DROP … IF EXISTS`: idempotent,
/// and SQLite serializes concurrent migrations).
fn secondary_indexes(dialect: Dialect, c: &str, index: &dyn Fn(&str) -> String) -> Vec<String> {
    const FULL: [(&str, &str); 3] = [
        ("clients_software_id", "software_id"),
        ("clients_initial_access_token_id", "initial_access_token_id"),
        (
            "clients_client_secret_expires_at",
            "client_secret_expires_at",
        ),
    ];
    match dialect {
        Dialect::Postgres => FULL
            .iter()
            .map(|(name, column)| {
                format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {c} ({column})",
                    index(name)
                )
            })
            .collect(),
        Dialect::Sqlite => {
            let partial = [
                (
                    "clients_software_id_set",
                    "software_id",
                    "software_id IS NOT NULL",
                ),
                (
                    "clients_initial_access_token_id_set",
                    "initial_access_token_id",
                    "initial_access_token_id IS NOT NULL",
                ),
                (
                    "clients_client_secret_expiring",
                    "client_secret_expires_at",
                    "client_secret_expires_at <> 0",
                ),
            ];
            partial
                .iter()
                .map(|(name, column, predicate)| {
                    format!(
                        "CREATE INDEX IF NOT EXISTS {} ON {c} ({column}) WHERE {predicate}",
                        index(name)
                    )
                })
                .chain(
                    FULL.iter()
                        .map(|(name, _)| format!("DROP INDEX IF EXISTS {}", index(name))),
                )
                .collect()
        }
    }
}

/// The statements of one store, built once for its table names.
#[derive(Debug)]
pub(crate) struct Statements {
    dialect: Dialect,
    /// What `migrate` runs, in order: `CREATE TABLE IF NOT EXISTS` and
    /// `CREATE INDEX IF NOT EXISTS`, and (SQLite) `DROP INDEX IF EXISTS` of
    /// the indexes partial ones replaced (see [`secondary_indexes`]).
    pub(crate) schema: Vec<Arc<str>>,
    clients: String,
    /// `SELECT` of one count by key (`counts`), summed over its rows.
    pub(crate) count_of: Arc<str>,
    /// SQLite: `insert_client` only if no count of `$19`, `$21`, `$23` is at
    /// or above the limit after it (`$20`, `$22`, `$24`); the triggers count
    /// the row.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) insert_client_within: Arc<str>,
    /// PostgreSQL: creates the count rows of the keys `$1` (an array, in
    /// order) that are missing, locks them until commit and returns
    /// `key, clients` of each.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) lock_counts: Arc<str>,
    /// PostgreSQL: adds `$2[i]` to the count `$1[i]`, returning the new
    /// counts.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) add_counts: Arc<str>,
    pub(crate) insert_client: Arc<str>,
    /// `insert_client` for several rows at once, `RETURNING client_id` of
    /// those inserted: (rows, statement), largest first (SQLite's writer).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) insert_clients: Vec<(usize, Arc<str>)>,
    /// PostgreSQL only: `insert_client` for any number of rows, each column an
    /// array parameter (`UNNEST`), `RETURNING client_id` of those inserted.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) insert_clients_unnest: Arc<str>,
    pub(crate) get_client: Arc<str>,
    /// PostgreSQL only: the clients whose ids are in the array `$1` (a batch
    /// of reads).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) get_clients: Arc<str>,
    pub(crate) update_client: Arc<str>,
    pub(crate) delete_client: Arc<str>,
    pub(crate) delete_client_at_revision: Arc<str>,
    pub(crate) record_use: Arc<str>,
    pub(crate) list_clients: Arc<str>,
    pub(crate) list_clients_after: Arc<str>,
    pub(crate) stale_clients: Arc<str>,
    pub(crate) delete_if_stale: Arc<str>,
    pub(crate) expired_secrets: Arc<str>,
    pub(crate) insert_token: Arc<str>,
    pub(crate) find_token: Arc<str>,
    pub(crate) consume_token: Arc<str>,
    pub(crate) list_tokens: Arc<str>,
    pub(crate) revoke_token: Arc<str>,
}

impl Statements {
    /// Statements for the tables `{prefix}clients` and
    /// `{prefix}initial_access_tokens`, in `schema` if given, in `dialect`.
    pub(crate) fn new(schema: Option<&str>, prefix: &str, dialect: Dialect) -> Self {
        let blob = dialect.blob();
        let table = |name: &str| match schema {
            Some(schema) => format!("{}.{}", quote(schema), quote(&format!("{prefix}{name}"))),
            None => quote(&format!("{prefix}{name}")),
        };
        let index = |name: &str| quote(&format!("{prefix}{name}"));
        let c = table("clients");
        let t = table("initial_access_tokens");
        let k = table("client_counts");
        // PostgreSQL counts in the batch (`counts`): a delete returns what the
        // deleted row counted in, an update what the row counted in before and
        // after.
        let (deleted, updated_from, updated) = match dialect {
            Dialect::Sqlite => ("", String::new(), ""),
            Dialect::Postgres => (
                " RETURNING source, software_id, initial_access_token_id",
                format!(
                    " FROM (SELECT source AS old_source, software_id AS old_software_id, \
                     initial_access_token_id AS old_token FROM {c} \
                     WHERE client_id = $1 FOR UPDATE) AS old"
                ),
                " RETURNING old_source, old_software_id, old_token, \
                 source, software_id, initial_access_token_id",
            ),
        };
        // StaleCriteria::matches: a NULL bound compares as unknown, so an absent
        // criterion matches nothing, and host clients are never stale.
        let stale = |unused: u8, idle: u8| {
            format!(
                "source = 'dynamic' AND \
                 ((last_used_at IS NULL AND created_at < ${unused}) OR last_used_at < ${idle})"
            )
        };
        let s = |sql: String| -> Arc<str> { dialect.placeholders(sql).into() };
        Self {
            dialect,
            schema: vec![
                s(format!(
                    "CREATE TABLE IF NOT EXISTS {c} (
                        client_id TEXT NOT NULL PRIMARY KEY,
                        metadata TEXT NOT NULL,
                        client_secret_kind TEXT,
                        client_secret {blob},
                        registration_access_token {blob},
                        revision BIGINT NOT NULL,
                        source TEXT NOT NULL,
                        profile TEXT,
                        initial_access_token_id TEXT,
                        software_id TEXT,
                        client_id_issued_at BIGINT NOT NULL,
                        client_secret_expires_at BIGINT NOT NULL,
                        created_at BIGINT NOT NULL,
                        updated_at BIGINT NOT NULL,
                        last_used_at BIGINT,
                        registration_access_token_expires_at BIGINT NOT NULL DEFAULT 0,
                        previous_registration_access_token {blob},
                        previous_registration_access_token_expires_at BIGINT
                    )"
                )),
                s(format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {c} (last_used_at, created_at)",
                    index("clients_last_used_at")
                )),
            ]
            .into_iter()
            .chain(secondary_indexes(dialect, &c, &index).into_iter().map(s))
            .chain(
                super::counts::schema(dialect, &c, &k, &index)
                    .into_iter()
                    .map(s),
            )
            .chain([s(format!(
                "CREATE TABLE IF NOT EXISTS {t} (
                        id TEXT NOT NULL PRIMARY KEY,
                        digest {blob} NOT NULL UNIQUE,
                        profile TEXT,
                        created_at BIGINT NOT NULL,
                        expires_at BIGINT,
                        max_uses BIGINT,
                        uses BIGINT NOT NULL
                    )"
            ))])
            .collect(),
            insert_clients: MULTI_INSERT_ROWS
                .iter()
                .map(|&rows| {
                    let values = (0..rows)
                        .map(|row| {
                            let columns = CLIENT_COLUMNS.split(',').count();
                            let params = (1..=columns)
                                .map(|column| format!("${}", row * columns + column))
                                .collect::<Vec<_>>();
                            format!("({})", params.join(", "))
                        })
                        .collect::<Vec<_>>();
                    let sql = format!(
                        "INSERT INTO {c} ({CLIENT_COLUMNS}) VALUES {} \
                         ON CONFLICT DO NOTHING RETURNING client_id",
                        values.join(", ")
                    );
                    (rows, s(sql))
                })
                .collect(),
            insert_clients_unnest: s(format!(
                "INSERT INTO {c} ({CLIENT_COLUMNS}) SELECT * FROM UNNEST({}) \
                 ON CONFLICT DO NOTHING RETURNING client_id",
                CLIENT_COLUMN_TYPES
                    .iter()
                    .enumerate()
                    .map(|(at, kind)| format!("${}::{kind}[]", at + 1))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            insert_client_within: s(format!(
                "INSERT INTO {c} ({CLIENT_COLUMNS}) SELECT \
                 $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18 \
                 WHERE NOT EXISTS (SELECT 1 FROM {k} WHERE (key = $19 AND clients >= $20) \
                 OR (key = $21 AND clients >= $22) OR (key = $23 AND clients >= $24)) \
                 ON CONFLICT DO NOTHING"
            )),
            count_of: s(format!(
                "SELECT CAST(SUM(clients) AS BIGINT) FROM {k} WHERE {}",
                super::counts::count_of_condition()
            )),
            lock_counts: s(format!(
                "INSERT INTO {k} (key, clients) SELECT key, 0 FROM UNNEST($1::text[]) AS u(key) \
                 ON CONFLICT (key) DO UPDATE SET clients = {k}.clients RETURNING key, clients"
            )),
            add_counts: s(format!(
                "INSERT INTO {k} (key, clients) SELECT * FROM UNNEST($1::text[], $2::bigint[]) \
                 ON CONFLICT (key) DO UPDATE SET clients = {k}.clients + excluded.clients \
                 RETURNING key, clients"
            )),
            insert_client: s(format!(
                "INSERT INTO {c} ({CLIENT_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
                 ON CONFLICT DO NOTHING"
            )),
            get_client: s(format!(
                "SELECT {CLIENT_COLUMNS} FROM {c} WHERE client_id = $1"
            )),
            get_clients: s(format!(
                "SELECT {CLIENT_COLUMNS} FROM {c} WHERE client_id = ANY($1::text[])"
            )),
            // A use recorded since the caller read the record is kept: last_used_at
            // only moves forward, so an update cannot make a client look stale.
            update_client: s(format!(
                "UPDATE {c} SET metadata = $2, client_secret_kind = $3, client_secret = $4, \
                 registration_access_token = $5, revision = $6, source = $7, profile = $8, \
                 initial_access_token_id = $9, software_id = $10, client_id_issued_at = $11, \
                 client_secret_expires_at = $12, created_at = $13, updated_at = $14, \
                 last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $15 \
                 THEN $15 ELSE last_used_at END, \
                 registration_access_token_expires_at = $16, \
                 previous_registration_access_token = $17, \
                 previous_registration_access_token_expires_at = $18\
                 {updated_from} WHERE client_id = $1 AND revision = $19{updated}"
            )),
            delete_client: s(format!("DELETE FROM {c} WHERE client_id = $1{deleted}")),
            delete_client_at_revision: s(format!(
                "DELETE FROM {c} WHERE client_id = $1 AND revision = $2{deleted}"
            )),
            record_use: s(format!(
                "UPDATE {c} SET last_used_at = $2 \
                 WHERE client_id = $1 AND (last_used_at IS NULL OR last_used_at < $2)"
            )),
            list_clients: s(format!(
                "SELECT {CLIENT_COLUMNS} FROM {c} ORDER BY client_id LIMIT $1"
            )),
            list_clients_after: s(format!(
                "SELECT {CLIENT_COLUMNS} FROM {c} WHERE client_id > $1 \
                 ORDER BY client_id LIMIT $2"
            )),
            // The sweeps find their rows through the indexes on
            // `(last_used_at, created_at)` and the expiring secrets, then sort
            // only those: ordered by `client_id` with a bound limit, both
            // planners walked the primary key, every client, at every sweep.
            stale_clients: s(format!(
                "SELECT {CLIENT_COLUMNS} FROM {c} WHERE client_id IN (\
                 SELECT client_id FROM {c} WHERE last_used_at IS NULL AND created_at < $1 \
                 UNION ALL SELECT client_id FROM {c} WHERE last_used_at < $2) \
                 AND {} ORDER BY client_id LIMIT $3",
                stale(1, 2)
            )),
            delete_if_stale: s(format!(
                "DELETE FROM {c} WHERE client_id = $1 AND {}{deleted}",
                stale(2, 3)
            )),
            expired_secrets: s(format!(
                "SELECT {CLIENT_COLUMNS} FROM {c} WHERE client_id IN (\
                 SELECT client_id FROM {c} WHERE client_secret_kind IS NOT NULL \
                 AND client_secret_expires_at <> 0 AND client_secret_expires_at <= $1) \
                 ORDER BY client_id LIMIT $2"
            )),
            insert_token: s(format!(
                "INSERT INTO {t} ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT DO NOTHING"
            )),
            find_token: s(format!("SELECT {TOKEN_COLUMNS} FROM {t} WHERE digest = $1")),
            // One statement checks and takes the use: two concurrent calls on a
            // one-use token cannot both pass the `uses < max_uses` test.
            consume_token: s(format!(
                "UPDATE {t} SET uses = uses + 1 WHERE digest = $1 \
                 AND (expires_at IS NULL OR expires_at > $2) \
                 AND (max_uses IS NULL OR uses < max_uses) \
                 RETURNING {TOKEN_COLUMNS}"
            )),
            list_tokens: s(format!("SELECT {TOKEN_COLUMNS} FROM {t} ORDER BY id")),
            revoke_token: s(format!("DELETE FROM {t} WHERE id = $1")),
            clients: c,
        }
    }

    /// `SELECT COUNT(*)` for `filter`, with the values to bind in order. Built per
    /// call so each combination of filters is a plain indexable statement.
    pub(crate) fn count_clients<'f>(
        &self,
        filter: &ClientFilter<'f>,
    ) -> (String, Vec<Cow<'f, str>>) {
        let mut conditions = Vec::new();
        let mut binds = Vec::new();
        for (column, value) in filter_columns(filter) {
            binds.push(value);
            conditions.push(format!("{column} = ${}", binds.len()));
        }
        let mut sql = format!("SELECT COUNT(*) FROM {}", self.clients);
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        (self.dialect.placeholders(sql), binds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RecordSource;

    #[test]
    fn identifiers_are_quoted_so_a_prefix_cannot_inject() {
        assert_eq!(quote("dcr_clients"), "\"dcr_clients\"");
        assert_eq!(
            quote("x\"; DROP TABLE y; --"),
            "\"x\"\"; DROP TABLE y; --\""
        );
        let statements = Statements::new(Some("my\"schema"), "p_", Dialect::Postgres);
        assert!(
            statements
                .get_client
                .contains("FROM \"my\"\"schema\".\"p_clients\" WHERE")
        );
    }

    #[test]
    fn a_multi_row_insert_binds_every_column_of_every_row() {
        let statements = Statements::new(None, "", Dialect::Postgres);
        let columns = CLIENT_COLUMNS.split(',').count();
        for (rows, sql) in &statements.insert_clients {
            let last = rows * columns;
            assert!(sql.contains(&format!("${last})")), "{rows} rows");
            assert!(!sql.contains(&format!("${}", last + 1)), "{rows} rows");
            assert!(sql.ends_with("RETURNING client_id"));
        }
    }

    #[test]
    fn column_lists_match_the_names_rows_are_read_by() {
        let split = |list: &str| {
            list.split(',')
                .map(|c| c.trim().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(split(CLIENT_COLUMNS), CLIENT_COLUMN_NAMES);
        assert_eq!(split(TOKEN_COLUMNS), TOKEN_COLUMN_NAMES);
    }

    #[test]
    fn sqlite_placeholders_are_numbered_not_named() {
        let sql = "UPDATE \"a$1\" SET x = $2 WHERE id = $1 AND y = $10 AND z = '$'";
        assert_eq!(
            Dialect::Sqlite.placeholders(sql.to_owned()),
            "UPDATE \"a$1\" SET x = ?2 WHERE id = ?1 AND y = ?10 AND z = '$'"
        );
        assert_eq!(Dialect::Postgres.placeholders(sql.to_owned()), sql);
        let statements = Statements::new(None, "", Dialect::Sqlite);
        assert!(statements.update_client.contains("revision = ?19"));
        assert!(!statements.update_client.contains('$'));
    }

    #[test]
    fn count_binds_only_present_filters_in_order() {
        let statements = Statements::new(None, "", Dialect::Postgres);
        let (sql, binds) = statements.count_clients(&ClientFilter::default());
        assert_eq!(sql, "SELECT COUNT(*) FROM \"clients\"");
        assert!(binds.is_empty());
        let filter = ClientFilter {
            source: Some(RecordSource::Host),
            software_id: None,
            initial_access_token_id: Some("t"),
        };
        let (sql, binds) = statements.count_clients(&filter);
        assert!(sql.ends_with("WHERE source = $1 AND initial_access_token_id = $2"));
        assert_eq!(binds, ["host", "t"]);
    }
}
