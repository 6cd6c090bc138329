//! PostgreSQL's multi-row insert of a batch's creates: one statement for any
//! number of rows, each column bound as an array (`UNNEST`).

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::Row as _;
use sqlx::postgres::PgConnection;

use super::{ClientRow, Value, sql};

/// One column of the multi-row insert, as an array parameter.
enum Column<'v> {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<&'v str>>),
    Blob(Vec<Option<&'v [u8]>>),
}

/// Inserts `rows` (distinct ids) with `statement`, the statement set's
/// `insert_clients_unnest`; for each, 1 if its row went in, 0 if its id
/// existed (a conflict).
pub(super) async fn insert_many(
    connection: &mut PgConnection,
    statement: &Arc<str>,
    rows: &[&ClientRow],
) -> Result<Vec<u64>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut values = Vec::with_capacity(rows.len() * super::CLIENT_COLUMN_NAMES.len());
    for row in rows {
        row.values(&mut values);
    }
    let width = super::CLIENT_COLUMN_NAMES.len();
    let mut columns: Vec<Column<'_>> = super::CLIENT_COLUMN_TYPES
        .iter()
        .map(|kind| match *kind {
            "bigint" => Column::Int(Vec::with_capacity(rows.len())),
            "bytea" => Column::Blob(Vec::with_capacity(rows.len())),
            _ => Column::Text(Vec::with_capacity(rows.len())),
        })
        .collect();
    for (at, value) in values.iter().enumerate() {
        match (&mut columns[at % width], value) {
            (Column::Int(column), Value::Int(v)) => column.push(*v),
            (Column::Text(column), Value::Text(v)) => column.push(v.as_deref()),
            (Column::Blob(column), Value::Blob(v)) => column.push(v.as_deref()),
            _ => return Err(sqlx::Error::Protocol("a column of the wrong type".into())),
        }
    }
    let mut query = sqlx::query(sql(statement));
    for column in columns {
        query = match column {
            Column::Int(column) => query.bind(column),
            Column::Text(column) => query.bind(column),
            Column::Blob(column) => query.bind(column),
        };
    }
    let returned = query.fetch_all(&mut *connection).await?;
    let mut inserted = HashSet::with_capacity(returned.len());
    for row in &returned {
        inserted.insert(row.try_get::<String, _>(0)?);
    }
    Ok(rows
        .iter()
        .map(|row| u64::from(inserted.contains(row.client_id())))
        .collect())
}
