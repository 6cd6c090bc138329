//! Driver errors as store errors: what a caller may retry, what is a
//! conflict, and a store that was never migrated.

use super::StoreError;

/// A database error, keeping only its SQLSTATE and primary message: the
/// driver's detail fields can quote row values.
#[derive(Debug, thiserror::Error)]
#[error("database error {code}: {message}")]
pub(crate) struct DatabaseError {
    code: String,
    message: String,
}

/// A table of the store does not exist: `migrate()` was never run.
#[derive(Debug, thiserror::Error)]
#[error("table {table} does not exist: the store was not migrated (call migrate() before serving)")]
pub(crate) struct MissingTable {
    table: String,
}

/// The table a "no such table" error names: SQLite's `no such table: NAME`,
/// PostgreSQL's SQLSTATE 42P01 `relation "NAME" does not exist`.
fn missing_table<'m>(code: Option<&str>, message: &'m str) -> Option<&'m str> {
    if let Some(table) = message.strip_prefix("no such table: ") {
        return Some(table);
    }
    if code == Some("42P01") {
        let name = message.strip_prefix("relation \"")?;
        return name.split('"').next();
    }
    None
}

/// Maps a driver error: a unique violation is a [`StoreError::Conflict`], any
/// other failure makes the store [`StoreError::Unavailable`].
///
/// A missing table (the store was never migrated) is logged at error level,
/// naming the table and `migrate()`: the `503` alone would not say why.
pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(e) if e.is_unique_violation() => StoreError::Conflict,
        sqlx::Error::Database(e) if missing_table(e.code().as_deref(), e.message()).is_some() => {
            let table = missing_table(e.code().as_deref(), e.message())
                .unwrap_or_default()
                .to_owned();
            tracing::error!(
                table = %table,
                "the client store's table {table} does not exist: \
                 call migrate() on the store (SqliteStore::migrate, PostgresStore::migrate) before serving"
            );
            StoreError::unavailable(MissingTable { table })
        }
        sqlx::Error::Database(e) => StoreError::unavailable(DatabaseError {
            code: e.code().map(|c| c.into_owned()).unwrap_or_default(),
            message: e.message().to_owned(),
        }),
        other => StoreError::unavailable(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tables_are_named_for_both_backends() {
        assert_eq!(
            missing_table(Some("1"), "no such table: tower_dcr_clients"),
            Some("tower_dcr_clients")
        );
        assert_eq!(
            missing_table(Some("42P01"), "relation \"s.clients\" does not exist"),
            Some("s.clients")
        );
        assert_eq!(missing_table(Some("42P01"), "something else"), None);
        assert_eq!(missing_table(Some("23505"), "duplicate key"), None);
    }
}
