//! Every statement a SQL store runs, as a value: a [`Write`] or a [`Read`]
//! holds its bind values, so one backend can queue writes for a group commit
//! (SQLite) and another can run them at once (PostgreSQL), from one
//! description of the SQL.

use std::borrow::Cow;
use std::sync::Arc;

use super::{ClientRow, Statements, Value, limit, to_i64};
use crate::credentials::SecretDigest;
use crate::store::{ClientFilter, InitialAccessToken, StaleCriteria};

/// A statement that changes the database. Owns its values, so it can wait in
/// a queue. No `Debug`: a row holds secret material.
pub(crate) enum Write {
    /// `INSERT … ON CONFLICT DO NOTHING`: 0 rows means a conflict.
    CreateClient(Box<ClientRow>),
    /// A create only within the limits: (count key, most clients) of each
    /// limited count the row is in. 0 rows means a conflict or a full quota.
    CreateClientWithin(Box<ClientRow>, Vec<(String, i64)>),
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
    /// A statement of another table or the schema (the jti replay store,
    /// `migrate`), with its text and values: the number of rows it changed.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Other(Arc<str>, Vec<Value<'static>>),
}

impl Write {
    /// The statement text, from `statements`.
    pub(crate) fn statement<'s>(&'s self, statements: &'s Statements) -> &'s Arc<str> {
        match self {
            Self::CreateClient(_) => &statements.insert_client,
            Self::CreateClientWithin(..) => &statements.insert_client_within,
            Self::UpdateClient(..) => &statements.update_client,
            Self::DeleteClient(_, None) => &statements.delete_client,
            Self::DeleteClient(_, Some(_)) => &statements.delete_client_at_revision,
            Self::RecordUse(..) => &statements.record_use,
            Self::DeleteIfStale(..) => &statements.delete_if_stale,
            Self::CreateToken(_) => &statements.insert_token,
            Self::ConsumeToken(..) => &statements.consume_token,
            Self::RevokeToken(_) => &statements.revoke_token,
            Self::Other(statement, _) => statement,
        }
    }

    /// Whether the statement returns a row (the consumed token) rather than a
    /// count of changed rows.
    pub(crate) fn returns_row(&self) -> bool {
        matches!(self, Self::ConsumeToken(..))
    }

    /// The values the statement binds, in order (`$1`, `$2`, …), appended
    /// to `out`.
    pub(crate) fn values<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        let id = |id: &'a String| Value::text(id);
        match self {
            Self::CreateClient(row) => row.values(out),
            Self::CreateClientWithin(row, limits) => {
                row.values(out);
                for at in 0..3 {
                    let limit = limits.get(at);
                    out.push(Value::opt_text(limit.map(|(key, _)| key.as_str())));
                    out.push(Value::Int(limit.map(|(_, max)| *max)));
                }
            }
            Self::UpdateClient(row, revision) => {
                row.values(out);
                out.push(Value::Int(Some(*revision)));
            }
            Self::DeleteClient(key, None) | Self::RevokeToken(key) => out.push(id(key)),
            Self::DeleteClient(key, Some(revision)) => {
                out.extend([id(key), Value::Int(Some(*revision))]);
            }
            Self::RecordUse(key, at) => out.extend([id(key), Value::Int(Some(*at))]),
            Self::DeleteIfStale(key, unused, idle) => {
                out.extend([id(key), Value::Int(*unused), Value::Int(*idle)]);
            }
            Self::CreateToken(token) => super::row::token_values(token, out),
            Self::ConsumeToken(digest, now) => {
                out.extend([Value::blob(digest.as_bytes()), Value::Int(Some(*now))]);
            }
            Self::Other(_, values) => out.extend(values.iter().cloned()),
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
    /// One client by id (SQLite; PostgreSQL reads clients in batches).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
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
    /// One kept count, by key (`counts`).
    CountOf(&'a str),
}

impl<'a> Read<'a> {
    /// The statement text and its values. Counting builds its statement for
    /// the filter, which is why the text may be owned.
    pub(crate) fn statement<'s>(&self, statements: &'s Statements) -> (Cow<'s, str>, Vec<Value<'a>>)
    where
        'a: 's,
    {
        let text = |statement: &'s Arc<str>| Cow::Borrowed(&**statement);
        match *self {
            Self::Client(id) => (text(&statements.get_client), vec![Value::text(id)]),
            Self::Clients(None, n) => (
                text(&statements.list_clients),
                vec![Value::Int(Some(limit(n)))],
            ),
            Self::Clients(Some(after), n) => (
                text(&statements.list_clients_after),
                vec![Value::text(after), Value::Int(Some(limit(n)))],
            ),
            Self::Stale(criteria, n) => (
                text(&statements.stale_clients),
                vec![
                    Value::Int(criteria.unused_created_before.map(to_i64)),
                    Value::Int(criteria.idle_since.map(to_i64)),
                    Value::Int(Some(limit(n))),
                ],
            ),
            Self::ExpiredSecrets(now, n) => (
                text(&statements.expired_secrets),
                vec![Value::Int(Some(to_i64(now))), Value::Int(Some(limit(n)))],
            ),
            Self::Token(digest) => (
                text(&statements.find_token),
                vec![Value::blob(digest.as_bytes())],
            ),
            Self::Tokens => (text(&statements.list_tokens), Vec::new()),
            Self::CountOf(key) => (text(&statements.count_of), vec![Value::text(key)]),
            Self::Count(filter) => {
                let (text, binds) = statements.count_clients(filter);
                let values = binds.into_iter().map(|v| Value::Text(Some(v))).collect();
                (Cow::Owned(text), values)
            }
        }
    }

    /// Whether this is a point lookup by key (one B-tree seek, a few
    /// microseconds when cached), rather than a scan.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn is_point(&self) -> bool {
        matches!(self, Self::Client(_) | Self::Token(_) | Self::CountOf(_))
    }
}
