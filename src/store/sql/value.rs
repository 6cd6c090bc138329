//! What crosses between the shared SQL code and a driver: the values a
//! statement binds ([`Value`], typed even when null, since PostgreSQL infers a
//! parameter's type from it), and the columns of a row read back
//! ([`SqlRow`]). Each backend binds the values and reads the columns with its
//! own driver (sqlx for PostgreSQL, rusqlite for SQLite).

use std::borrow::Cow;

/// One bind value of a statement.
#[derive(Clone, Debug)]
pub(crate) enum Value<'a> {
    /// `BIGINT`.
    Int(Option<i64>),
    /// `TEXT`.
    Text(Option<Cow<'a, str>>),
    /// `BLOB` / `BYTEA`.
    Blob(Option<Cow<'a, [u8]>>),
}

impl<'a> Value<'a> {
    /// A text value borrowed from `text`.
    pub(crate) fn text(text: &'a str) -> Self {
        Self::Text(Some(Cow::Borrowed(text)))
    }

    /// An optional text value borrowed from `text`.
    pub(crate) fn opt_text(text: Option<&'a str>) -> Self {
        Self::Text(text.map(Cow::Borrowed))
    }

    /// A binary value borrowed from `bytes`.
    pub(crate) fn blob(bytes: &'a [u8]) -> Self {
        Self::Blob(Some(Cow::Borrowed(bytes)))
    }

    /// An optional binary value borrowed from `bytes`.
    pub(crate) fn opt_blob(bytes: Option<&'a [u8]>) -> Self {
        Self::Blob(bytes.map(Cow::Borrowed))
    }

    /// The value with nothing borrowed, to wait in a queue.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn into_owned(self) -> Value<'static> {
        match self {
            Self::Int(v) => Value::Int(v),
            Self::Text(v) => Value::Text(v.map(|t| Cow::Owned(t.into_owned()))),
            Self::Blob(v) => Value::Blob(v.map(|b| Cow::Owned(b.into_owned()))),
        }
    }
}

/// A column that does not hold the type the store wrote there.
#[derive(Debug, thiserror::Error)]
#[error("column {0} has an unexpected type")]
pub(crate) struct WrongType(pub(crate) usize);

/// The columns of one row read back, by position in the statement's select
/// list. `NULL` reads as `None`.
pub(crate) trait SqlRow {
    /// An integer column.
    fn int(&self, index: usize) -> Result<Option<i64>, WrongType>;
    /// A text column.
    fn text(&self, index: usize) -> Result<Option<String>, WrongType>;
    /// A binary column.
    fn blob(&self, index: usize) -> Result<Option<Vec<u8>>, WrongType>;
}

#[cfg(feature = "postgres")]
mod postgres {
    use sqlx::Postgres;
    use sqlx::postgres::{PgArguments, PgRow};
    use sqlx::query::Query;

    use super::{SqlRow, Value, WrongType};

    impl SqlRow for PgRow {
        fn int(&self, index: usize) -> Result<Option<i64>, WrongType> {
            sqlx::Row::try_get(self, index).map_err(|_| WrongType(index))
        }
        fn text(&self, index: usize) -> Result<Option<String>, WrongType> {
            sqlx::Row::try_get(self, index).map_err(|_| WrongType(index))
        }
        fn blob(&self, index: usize) -> Result<Option<Vec<u8>>, WrongType> {
            sqlx::Row::try_get(self, index).map_err(|_| WrongType(index))
        }
    }

    /// Binds `values` in order (`$1`, `$2`, …).
    pub(crate) fn bind<'q>(
        mut query: Query<'q, Postgres, PgArguments>,
        values: &[Value<'_>],
    ) -> Query<'q, Postgres, PgArguments> {
        for value in values {
            query = match value {
                Value::Int(v) => query.bind(*v),
                Value::Text(v) => query.bind(v.as_deref()),
                Value::Blob(v) => query.bind(v.as_deref()),
            };
        }
        query
    }
}

#[cfg(feature = "postgres")]
pub(crate) use postgres::bind;

#[cfg(feature = "sqlite")]
mod sqlite {
    use rusqlite::ToSql;
    use rusqlite::types::{ToSqlOutput, Value as Owned, ValueRef};

    use super::{SqlRow, Value, WrongType};

    impl ToSql for Value<'_> {
        fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
            Ok(ToSqlOutput::Borrowed(match self {
                Value::Int(Some(v)) => ValueRef::Integer(*v),
                Value::Text(Some(v)) => ValueRef::Text(v.as_bytes()),
                Value::Blob(Some(v)) => ValueRef::Blob(v),
                Value::Int(None) | Value::Text(None) | Value::Blob(None) => ValueRef::Null,
            }))
        }
    }

    /// A row read from SQLite, its columns copied out of the statement.
    #[derive(Debug)]
    pub(crate) struct SqliteRow(pub(crate) Vec<Owned>);

    impl SqliteRow {
        /// Copies the current row of a query with `columns` columns.
        pub(crate) fn read(row: &rusqlite::Row<'_>, columns: usize) -> rusqlite::Result<Self> {
            (0..columns)
                .map(|i| row.get::<_, Owned>(i))
                .collect::<rusqlite::Result<_>>()
                .map(Self)
        }

        fn column(&self, index: usize) -> Result<&Owned, WrongType> {
            self.0.get(index).ok_or(WrongType(index))
        }
    }

    impl SqlRow for SqliteRow {
        fn int(&self, index: usize) -> Result<Option<i64>, WrongType> {
            match self.column(index)? {
                Owned::Null => Ok(None),
                Owned::Integer(v) => Ok(Some(*v)),
                _ => Err(WrongType(index)),
            }
        }
        fn text(&self, index: usize) -> Result<Option<String>, WrongType> {
            match self.column(index)? {
                Owned::Null => Ok(None),
                Owned::Text(v) => Ok(Some(v.clone())),
                _ => Err(WrongType(index)),
            }
        }
        fn blob(&self, index: usize) -> Result<Option<Vec<u8>>, WrongType> {
            match self.column(index)? {
                Owned::Null => Ok(None),
                Owned::Blob(v) => Ok(Some(v.clone())),
                Owned::Text(v) => Ok(Some(v.clone().into_bytes())),
                _ => Err(WrongType(index)),
            }
        }
    }
}

#[cfg(feature = "sqlite")]
pub(crate) use sqlite::SqliteRow;
