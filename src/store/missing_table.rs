//! A SQL store whose `migrate()` never ran: its tables do not exist. Every
//! request still answers `503` (the operator can migrate and the service
//! recovers), and each failure logs an error naming the table and `migrate()`,
//! since the `503` alone would not say why.

use super::StoreError;

/// A table of the store does not exist: `migrate()` was never run.
#[derive(Debug, thiserror::Error)]
#[error("table {table} does not exist: the store was not migrated (call migrate() before serving)")]
pub(crate) struct MissingTable {
    table: String,
}

/// The store error for a database error (its SQLSTATE or SQLite code, and
/// message) that says a table does not exist, logged at error level; `None`
/// for any other error.
pub(crate) fn error(code: Option<&str>, message: &str) -> Option<StoreError> {
    let table = table(code, message)?.to_owned();
    tracing::error!(
        table = %table,
        "the client store's table {table} does not exist: \
         call migrate() on the store (SqliteStore::migrate, PostgresStore::migrate) before serving"
    );
    Some(StoreError::unavailable(MissingTable { table }))
}

/// The table a "no such table" error names: SQLite's `no such table: NAME`,
/// PostgreSQL's SQLSTATE 42P01 `relation "NAME" does not exist`.
fn table<'m>(code: Option<&str>, message: &'m str) -> Option<&'m str> {
    if let Some(table) = message.strip_prefix("no such table: ") {
        return Some(table);
    }
    if code == Some("42P01") {
        let name = message.strip_prefix("relation \"")?;
        return name.split('"').next();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tables_are_named_for_both_backends() {
        assert_eq!(
            table(Some("1"), "no such table: tower_dcr_clients"),
            Some("tower_dcr_clients")
        );
        assert_eq!(
            table(Some("42P01"), "relation \"s.clients\" does not exist"),
            Some("s.clients")
        );
        assert_eq!(table(Some("42P01"), "something else"), None);
        assert_eq!(table(Some("23505"), "duplicate key"), None);
    }
}
