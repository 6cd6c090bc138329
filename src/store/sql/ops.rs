//! Every statement a SQL store runs, as a value: a [`Write`] or a [`Read`]
//! holds its bind values, so one backend can queue writes for a group commit
//! (SQLite) and another can run them at once (PostgreSQL), from one
//! description of the SQL.

use std::borrow::Cow;
use std::sync::Arc;

use sqlx::query::Query;
use sqlx::{Database, Encode, Type};

use super::{ClientRow, Statements, limit, sql, to_i64};
use crate::credentials::SecretDigest;
use crate::store::{ClientFilter, InitialAccessToken, StaleCriteria};

/// A statement that changes the database. Owns its values, so it can wait in
/// a queue. No `Debug`: a row holds secret material.
pub(crate) enum Write {
    /// `INSERT … ON CONFLICT DO NOTHING`: 0 rows means a conflict.
    CreateClient(Box<ClientRow>),
    /// `UPDATE … WHERE revision = $16`: 0 rows means stale.
    UpdateClient(Box<ClientRow>, i64),
    /// `DELETE` by `client_id`, at a revision if given.
    DeleteClient(String, Option<i64>),
    /// `last_used_at` forward.
    RecordUse(String, i64),
    /// `DELETE` if still stale: `client_id`, unused-created-before, idle-since.
    DeleteIfStale(String, Option<i64>, Option<i64>),
    /// `INSERT … ON CONFLICT DO NOTHING` of a token.
    CreateToken(Box<InitialAccessToken>),
    /// `UPDATE … RETURNING` one use of the token with this digest, at `now`.
    ConsumeToken(SecretDigest, i64),
    /// `DELETE` of a token by id.
    RevokeToken(String),
}

impl Write {
    /// The statement text, from `statements`.
    pub(crate) fn statement<'s>(&self, statements: &'s Statements) -> &'s Arc<str> {
        match self {
            Self::CreateClient(_) => &statements.insert_client,
            Self::UpdateClient(..) => &statements.update_client,
            Self::DeleteClient(_, None) => &statements.delete_client,
            Self::DeleteClient(_, Some(_)) => &statements.delete_client_at_revision,
            Self::RecordUse(..) => &statements.record_use,
            Self::DeleteIfStale(..) => &statements.delete_if_stale,
            Self::CreateToken(_) => &statements.insert_token,
            Self::ConsumeToken(..) => &statements.consume_token,
            Self::RevokeToken(_) => &statements.revoke_token,
        }
    }

    /// Whether the statement returns a row (the consumed token) rather than a
    /// count of changed rows.
    pub(crate) fn returns_row(&self) -> bool {
        matches!(self, Self::ConsumeToken(..))
    }

    /// The statement with its values bound.
    pub(crate) fn query<'q, DB>(
        &'q self,
        statements: &Statements,
    ) -> Query<'q, DB, <DB as Database>::Arguments>
    where
        DB: Database,
        for<'a> &'a str: Encode<'a, DB> + Type<DB>,
        for<'a> Option<&'a str>: Encode<'a, DB> + Type<DB>,
        for<'a> &'a [u8]: Encode<'a, DB> + Type<DB>,
        for<'a> Option<&'a [u8]>: Encode<'a, DB> + Type<DB>,
        for<'a> i64: Encode<'a, DB> + Type<DB>,
        for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
    {
        let query = sqlx::query(sql(self.statement(statements)));
        match self {
            Self::CreateClient(row) => row.bind(query),
            Self::UpdateClient(row, revision) => row.bind(query).bind(*revision),
            Self::DeleteClient(id, None) | Self::RevokeToken(id) => query.bind(id.as_str()),
            Self::DeleteClient(id, Some(revision)) => query.bind(id.as_str()).bind(*revision),
            Self::RecordUse(id, at) => query.bind(id.as_str()).bind(*at),
            Self::DeleteIfStale(id, unused, idle) => {
                query.bind(id.as_str()).bind(*unused).bind(*idle)
            }
            Self::CreateToken(token) => super::bind_token(token, query),
            Self::ConsumeToken(digest, now) => query.bind(digest.as_bytes().as_slice()).bind(*now),
        }
    }
}

/// What a [`Write`] did: how many rows it changed, and the row it returned
/// (a consumed token).
#[derive(Debug)]
pub(crate) struct Done<R> {
    /// Rows changed.
    pub(crate) affected: u64,
    /// The row returned, for a statement with `RETURNING`.
    pub(crate) row: Option<R>,
}

/// A statement that only reads.
pub(crate) enum Read<'a> {
    /// One client by id.
    Client(&'a str),
    /// Clients in id order after an id, at most `limit`.
    Clients(Option<&'a str>, usize),
    /// Stale clients, at most `limit`.
    Stale(&'a StaleCriteria, usize),
    /// Clients whose secret expired by `now`, at most `limit`.
    ExpiredSecrets(u64, usize),
    /// One token by digest.
    Token(&'a SecretDigest),
    /// Every token.
    Tokens,
    /// `COUNT(*)` of the clients matching a filter.
    Count(&'a ClientFilter<'a>),
}

impl Read<'_> {
    /// The statement with its values bound. Counting builds its statement for
    /// the filter, which is why the text is returned owned.
    pub(crate) fn query<'q, DB>(
        &'q self,
        statements: &Statements,
    ) -> Query<'q, DB, <DB as Database>::Arguments>
    where
        DB: Database,
        for<'a> &'a str: Encode<'a, DB> + Type<DB>,
        for<'a> String: Encode<'a, DB> + Type<DB>,
        for<'a> &'a [u8]: Encode<'a, DB> + Type<DB>,
        for<'a> i64: Encode<'a, DB> + Type<DB>,
        for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
    {
        let query = |text: &Arc<str>| sqlx::query(sql(text));
        match *self {
            Self::Client(id) => query(&statements.get_client).bind(id),
            Self::Clients(None, n) => query(&statements.list_clients).bind(limit(n)),
            Self::Clients(Some(after), n) => query(&statements.list_clients_after)
                .bind(after)
                .bind(limit(n)),
            Self::Stale(criteria, n) => query(&statements.stale_clients)
                .bind(criteria.unused_created_before.map(to_i64))
                .bind(criteria.idle_since.map(to_i64))
                .bind(limit(n)),
            Self::ExpiredSecrets(now, n) => query(&statements.expired_secrets)
                .bind(to_i64(now))
                .bind(limit(n)),
            Self::Token(digest) => query(&statements.find_token).bind(digest.as_bytes().as_slice()),
            Self::Tokens => query(&statements.list_tokens),
            Self::Count(filter) => {
                let (text, binds) = statements.count_clients(filter);
                let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
                for value in binds {
                    query = query.bind(Cow::into_owned(value));
                }
                query
            }
        }
    }
}
