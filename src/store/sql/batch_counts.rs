//! PostgreSQL's client counts (`counts`), kept by each batch of the group
//! commit in the batch's transaction.
//!
//! After its writes, a batch adds what they changed (`add_counts`, keys in
//! order, so batches of several instances lock rows in one order): +1 per
//! client inserted, −1 per client deleted (the deletes return what the row
//! counted in), and an update that changed a counted column moves the
//! client. The statement returns the new counts: if one exceeds a quota of
//! the batch's creates, the batch rolls back and runs again, now locking the
//! count rows those quotas read before its writes (`lock_counts`: an `INSERT
//! … ON CONFLICT DO UPDATE` that returns each row) and refusing the creates
//! that do not fit, in their order. Row locks last until commit, so two
//! batches, on one instance or several, never both take the last place; and
//! while a quota has room, a batch holds the lock only from its last
//! statement to its commit, as without quotas.
//!
//! The count of every client is kept in several rows (`counts`): a batch
//! without a quota on it adds its change to one row picked at random; a
//! batch under that quota, and `admit`, lock every one of them and check
//! their sum.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sqlx::Row as _;
use sqlx::postgres::{PgConnection, PgRow};

use super::counts::{TOTAL_SHARDS, is_total_shard, total_shard};
use super::{ClientRow, Statements, Write, keys_of_row, sql};

/// What one batch changes in the counts of each statement set (store).
#[derive(Default)]
pub(super) struct BatchCounts {
    deltas: Vec<Group>,
}

/// The changes to one store's counts, and the most each count may reach.
struct Group {
    statements: Arc<Statements>,
    deltas: BTreeMap<String, i64>,
    limits: HashMap<String, i64>,
}

/// Whether `write` can change a count, so its batch needs a transaction.
pub(super) fn counts_in(write: &Write) -> bool {
    matches!(
        write,
        Write::CreateClient(_)
            | Write::CreateClientWithin(..)
            | Write::UpdateClient(..)
            | Write::DeleteClient(..)
            | Write::DeleteIfStale(..)
    )
}

/// Whether `write`'s statement returns the counts its rows were in (a
/// delete or an update).
pub(super) fn returns_counted(write: &Write) -> bool {
    matches!(
        write,
        Write::UpdateClient(..) | Write::DeleteClient(..) | Write::DeleteIfStale(..)
    )
}

impl BatchCounts {
    fn group(&mut self, statements: &Arc<Statements>) -> &mut Group {
        let at = match self
            .deltas
            .iter()
            .position(|group| Arc::ptr_eq(&group.statements, statements))
        {
            Some(at) => at,
            None => {
                self.deltas.push(Group {
                    statements: Arc::clone(statements),
                    deltas: BTreeMap::new(),
                    limits: HashMap::new(),
                });
                self.deltas.len() - 1
            }
        };
        &mut self.deltas[at]
    }

    fn of(&mut self, statements: &Arc<Statements>) -> &mut BTreeMap<String, i64> {
        &mut self.group(statements).deltas
    }

    /// Checks `limits` (count key, most clients) when the counts are
    /// written: [`write`](Self::write) then reports an overflow.
    pub(super) fn limit(&mut self, statements: &Arc<Statements>, limits: &[(String, i64)]) {
        let group = self.group(statements);
        for (key, max) in limits {
            let at_most = group.limits.entry(key.clone()).or_insert(*max);
            *at_most = (*at_most).min(*max);
        }
    }

    /// Counts an inserted client.
    pub(super) fn inserted(&mut self, statements: &Arc<Statements>, row: &ClientRow) {
        let deltas = self.of(statements);
        for key in row.count_keys() {
            *deltas.entry(key).or_default() += 1;
        }
    }

    /// Counts what a delete or an update (`write`) returned.
    pub(super) fn changed(
        &mut self,
        statements: &Arc<Statements>,
        write: &Write,
        rows: &[PgRow],
    ) -> Result<(), sqlx::Error> {
        let deltas = self.of(statements);
        let keys = |row: &PgRow, from: usize| -> Result<Vec<String>, sqlx::Error> {
            Ok(keys_of_row(
                row.try_get::<Option<String>, _>(from)?.as_deref(),
                row.try_get::<Option<String>, _>(from + 1)?.as_deref(),
                row.try_get::<Option<String>, _>(from + 2)?.as_deref(),
            ))
        };
        for row in rows {
            for key in keys(row, 0)? {
                *deltas.entry(key).or_default() -= 1;
            }
            if matches!(write, Write::UpdateClient(..)) {
                for key in keys(row, 3)? {
                    *deltas.entry(key).or_default() += 1;
                }
            }
        }
        Ok(())
    }

    /// Writes the batch's changes to the counts, in key order; `false` if a
    /// count then exceeds its [`limit`](Self::limit) (the caller rolls back).
    pub(super) async fn write(self, connection: &mut PgConnection) -> Result<bool, sqlx::Error> {
        let mut within = true;
        for mut group in self.deltas {
            let total_limit = group.limits.get("").copied();
            let total = group.deltas.remove("").unwrap_or_default();
            match total_limit {
                // Every row of the total, locked: their sum is checked.
                Some(_) => {
                    for shard in 0..TOTAL_SHARDS {
                        group.deltas.insert(total_shard(shard), 0);
                    }
                    group.deltas.insert(String::new(), total);
                }
                None if total != 0 => {
                    let shard = getrandom::u32().unwrap_or(0) as usize % TOTAL_SHARDS;
                    *group.deltas.entry(total_shard(shard)).or_default() += total;
                }
                None => {}
            }
            let (keys, deltas): (Vec<String>, Vec<i64>) = group
                .deltas
                .into_iter()
                .filter(|(key, delta)| {
                    *delta != 0 || (total_limit.is_some() && is_total_shard(key))
                })
                .unzip();
            if keys.is_empty() {
                continue;
            }
            let rows = sqlx::query(sql(&group.statements.add_counts))
                .bind(keys)
                .bind(deltas)
                .fetch_all(&mut *connection)
                .await?;
            let mut total = 0;
            for row in &rows {
                let key: String = row.try_get(0)?;
                let clients: i64 = row.try_get(1)?;
                if is_total_shard(&key) {
                    total += clients;
                } else if group.limits.get(&key).is_some_and(|max| clients > *max) {
                    within = false;
                }
            }
            if total_limit.is_some_and(|max| total > max) {
                within = false;
            }
        }
        Ok(within)
    }
}

/// One create under quotas of a batch: its index, statement set and limits.
pub(super) type Limited<'j> = (usize, &'j Arc<Statements>, &'j [(String, i64)]);

/// Locks the counts the `creates` check and returns the indexes of those
/// that do not fit, taking places in their order.
pub(super) async fn admit(
    connection: &mut PgConnection,
    creates: &[Limited<'_>],
) -> Result<Vec<usize>, sqlx::Error> {
    let mut refused = Vec::new();
    let mut groups: Vec<&Arc<Statements>> = Vec::new();
    for (_, statements, _) in creates {
        if !groups.iter().any(|s| Arc::ptr_eq(s, statements)) {
            groups.push(statements);
        }
    }
    for statements in groups {
        let mine = || {
            creates
                .iter()
                .filter(move |(_, s, _)| Arc::ptr_eq(s, statements))
        };
        // The count of every client: all its rows.
        let mut keys: Vec<String> = mine()
            .flat_map(|(_, _, limits)| limits.iter().map(|(key, _)| key.as_str()))
            .flat_map(|key| match key.is_empty() {
                true => (0..TOTAL_SHARDS).map(total_shard).collect(),
                false => vec![key.to_owned()],
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let rows = sqlx::query(sql(&statements.lock_counts))
            .bind(&keys)
            .fetch_all(&mut *connection)
            .await?;
        let mut counts: HashMap<String, i64> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let key: String = row.try_get(0)?;
            let clients: i64 = row.try_get(1)?;
            if is_total_shard(&key) {
                *counts.entry(String::new()).or_default() += clients;
            } else {
                counts.insert(key, clients);
            }
        }
        for (index, _, limits) in mine() {
            let fits = limits
                .iter()
                .all(|(key, max)| counts.get(key).copied().unwrap_or_default() < *max);
            if fits {
                for (key, _) in limits.iter() {
                    *counts.entry(key.clone()).or_default() += 1;
                }
            } else {
                refused.push(*index);
            }
        }
    }
    Ok(refused)
}
