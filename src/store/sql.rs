//! What the SQL stores share: the schema, the statements, and how a
//! [`ClientRecord`](super::ClientRecord) or an
//! [`InitialAccessToken`](super::InitialAccessToken) maps to a row and back.
//!
//! SQLite and PostgreSQL run the same statement texts: each is written once
//! with `$n` placeholders, which the SQLite dialect turns into `?n` (SQLite
//! reads `$1` as a *named* parameter, numbered by first appearance); only the
//! binary column type of the schema differs. Every operation is a single
//! statement ([`Write`], [`Read`]) that carries its bind values ([`Value`]),
//! so a backend may retry one that failed with a serialization failure
//! without leaving anything half done, and SQLite can commit many in one
//! transaction. The store traits are implemented once for both backends
//! ([`sql_store!`]); each backend binds values and reads columns ([`SqlRow`])
//! with its own driver: sqlx for PostgreSQL, rusqlite for SQLite.
//!
//! Unsigned integers are stored as `BIGINT`: values above `i64::MAX` saturate
//! (timestamps and counters that large mean "never"), and a negative value read
//! back is reported as a corrupt row rather than wrapped around.

use std::borrow::Cow;
#[cfg(feature = "postgres")]
use std::sync::Arc;

#[cfg(feature = "postgres")]
mod batch_counts;
mod counts;
#[cfg(feature = "postgres")]
mod group_commit;
#[cfg(feature = "postgres")]
mod lease;
mod ops;
#[cfg(feature = "postgres")]
mod plan;
mod queue;
#[cfg(feature = "postgres")]
mod read_batch;
mod row;
mod statements;
mod store_impl;
#[cfg(feature = "postgres")]
mod unnest;
mod value;

pub(crate) use counts::{key as count_key, keys_of_row};
#[cfg(feature = "postgres")]
pub(crate) use group_commit::GroupCommit;
#[cfg(feature = "postgres")]
pub(crate) use lease::Connections;
pub(crate) use ops::{Done, Read, Write};
pub(crate) use queue::hand_off;
#[cfg(feature = "postgres")]
pub(crate) use queue::{SharedQueue, Tasks, next_batch};
#[cfg(feature = "postgres")]
pub(crate) use read_batch::ReadBatch;
pub(crate) use row::{ClientRow, client_from_row, token_from_row};
#[cfg(feature = "postgres")]
use statements::CLIENT_COLUMN_TYPES;
use statements::{CLIENT_COLUMN_NAMES, SECRET_DIGEST, TOKEN_COLUMN_NAMES};
pub(crate) use statements::{SECRET_PLAIN, Statements};
pub(crate) use store_impl::sql_store;
#[cfg(feature = "sqlite")]
pub(crate) use value::SqliteRow;
#[cfg(feature = "postgres")]
pub(crate) use value::bind;
pub(crate) use value::{SqlRow, Value, WrongType};

use super::{ClientFilter, StoreError};

/// The SQL dialect a store's statements are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite: `BLOB`, `?n` placeholders.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
    /// PostgreSQL and CockroachDB: `BYTEA`, `$n` placeholders.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

impl Dialect {
    /// The binary column type.
    fn blob(self) -> &'static str {
        match self {
            Self::Sqlite => "BLOB",
            Self::Postgres => "BYTEA",
        }
    }

    /// `sql`, written with `$n` placeholders, in this dialect: SQLite's
    /// numbered parameters are `?n`. Our statements hold no `$` elsewhere (no
    /// literal holds one; identifiers are quoted and may, so only a `$`
    /// followed by a digit outside double quotes is a placeholder).
    pub(crate) fn placeholders(self, sql: String) -> String {
        if self == Self::Postgres {
            return sql;
        }
        let mut out = String::with_capacity(sql.len());
        let mut quoted = false;
        let mut chars = sql.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' => quoted = !quoted,
                '$' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => {
                    out.push('?');
                    continue;
                }
                _ => {}
            }
            out.push(c);
        }
        out
    }
}

/// Quotes an SQL identifier, so any table prefix or schema name is safe to
/// splice into a statement.
pub(crate) fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// The columns `filter` constrains, with the values to compare them to, in
/// the order their parameters are bound: `source`, `software_id`,
/// `initial_access_token_id`.
pub(crate) fn filter_columns<'f>(filter: &ClientFilter<'f>) -> Vec<(&'static str, Cow<'f, str>)> {
    [
        ("source", filter.source.map(|s| Cow::Borrowed(s.as_str()))),
        ("software_id", filter.software_id.map(software_id_column)),
        (
            "initial_access_token_id",
            filter.initial_access_token_id.map(Cow::Borrowed),
        ),
    ]
    .into_iter()
    .filter_map(|(column, value)| value.map(|value| (column, value)))
    .collect()
}

/// The `software_id` column's value. It only serves counting (quotas), and
/// PostgreSQL text cannot hold U+0000, which a client may send in its metadata:
/// that character is stored as U+FFFD, in the column and in filters alike. The
/// metadata keeps the exact value.
pub(crate) fn software_id_column(software_id: &str) -> Cow<'_, str> {
    if software_id.contains('\0') {
        Cow::Owned(software_id.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(software_id)
    }
}

/// A statement text as sqlx takes it. Our statements splice only quoted
/// identifiers from the store's configuration; every value is a bind parameter.
#[cfg(feature = "postgres")]
pub(crate) fn sql(statement: &Arc<str>) -> sqlx::AssertSqlSafe<Arc<str>> {
    sqlx::AssertSqlSafe(Arc::clone(statement))
}

/// A stored row that cannot be turned back into a record. The message names the
/// row by its public key (a `client_id` or token id) and the column, never a
/// value.
#[derive(Debug, thiserror::Error)]
#[error("stored row {key:?} is corrupt: {problem}")]
pub(crate) struct CorruptRow {
    key: String,
    problem: String,
}

fn corrupt(key: &str, problem: impl Into<String>) -> StoreError {
    StoreError::corrupt(CorruptRow {
        key: key.to_owned(),
        problem: problem.into(),
    })
}

/// A database error, keeping only its SQLSTATE and primary message: the
/// driver's detail fields can quote row values.
#[derive(Debug, thiserror::Error)]
#[error("database error {code}: {message}")]
pub(crate) struct DatabaseError {
    code: String,
    message: String,
}

impl DatabaseError {
    /// The error for a database's answer: a unique violation is a
    /// [`StoreError::Conflict`], a missing table names `migrate()` (see
    /// `missing_table`), any other makes the store [`StoreError::Unavailable`].
    pub(crate) fn store_error(code: String, message: &str, unique_violation: bool) -> StoreError {
        if unique_violation {
            return StoreError::Conflict;
        }
        if let Some(error) = super::missing_table::error(Some(&code), message) {
            return error;
        }
        StoreError::unavailable(Self {
            code,
            message: message.to_owned(),
        })
    }
}

/// Maps a sqlx error: see [`DatabaseError::store_error`]; a failure other than
/// the database's answer makes the store [`StoreError::Unavailable`].
#[cfg(feature = "postgres")]
pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(e) => DatabaseError::store_error(
            e.code().map(|c| c.into_owned()).unwrap_or_default(),
            e.message(),
            e.is_unique_violation(),
        ),
        other => StoreError::unavailable(other),
    }
}

/// A column that does not hold what the store wrote there is a corrupt row.
fn wrong_type(key: &str, columns: &[&str], error: WrongType) -> StoreError {
    let column = columns.get(error.0).copied().unwrap_or("?");
    corrupt(key, format!("{column} has an unexpected type"))
}

/// A `u64` as stored: values above `i64::MAX` saturate.
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A `usize` limit as stored.
pub(crate) fn limit(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::row::to_u64;
    use super::*;

    #[test]
    fn unsigned_values_saturate_instead_of_wrapping() {
        assert_eq!(to_i64(0), 0);
        assert_eq!(to_i64(i64::MAX as u64), i64::MAX);
        assert_eq!(to_i64(u64::MAX), i64::MAX);
        assert_eq!(limit(usize::MAX), i64::MAX);
        assert!(to_u64("c", "created_at", -1).is_err());
    }

    #[test]
    fn a_revision_beyond_bigint_is_refused_not_truncated() {
        let mut record = crate::store::ClientRecord::new_host_client("c", Default::default(), 1);
        record.revision = u64::MAX;
        assert!(matches!(
            ClientRow::new(&record),
            Err(StoreError::Unavailable(_))
        ));
    }

    #[test]
    fn software_id_column_replaces_only_nul() {
        assert_eq!(software_id_column("app"), "app");
        assert_eq!(software_id_column("a\0b"), "a\u{FFFD}b");
    }
}
