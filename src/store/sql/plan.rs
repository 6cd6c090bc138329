//! The statements of a PostgreSQL batch (`group_commit`): which creates go
//! into the multi-row insert, and in which order the other writes run.

use std::collections::HashSet;
use std::sync::Arc;

use super::{Statements, Write};

/// The statements of one batch: which creates go into the multi-row insert,
/// and the order of the other writes.
pub(super) struct Plan {
    /// Indexes of the creates in the multi-row insert, by `client_id`
    /// (empty unless at least two).
    pub(super) many: Vec<usize>,
    /// Indexes of the writes run one statement each, in order.
    pub(super) single: Vec<usize>,
}

impl Plan {
    /// The plan of a batch's `jobs` (each write with its statement set) but
    /// those at `refused` (creates that do not fit under their quotas).
    pub(super) fn of(jobs: &[(&Write, &Arc<Statements>)], refused: &[usize]) -> Self {
        let mut many: Vec<(&str, usize)> = Vec::new();
        let mut single = Vec::new();
        let mut ids = HashSet::new();
        let first = jobs.iter().find_map(|(write, statements)| match write {
            Write::CreateClient(_) | Write::CreateClientWithin(..) => Some(*statements),
            _ => None,
        });
        for (index, (write, statements)) in jobs.iter().enumerate() {
            if refused.contains(&index) {
                continue;
            }
            match write {
                Write::CreateClient(row) | Write::CreateClientWithin(row, _)
                    if first.is_some_and(|first| Arc::ptr_eq(first, statements))
                        && ids.insert(row.client_id()) =>
                {
                    many.push((row.client_id(), index));
                }
                _ => single.push(index),
            }
        }
        if many.len() < 2 {
            single.extend(many.drain(..).map(|(_, index)| index));
            single.sort_unstable();
        }
        many.sort_unstable();
        // Clients' writes in id order, after the others (tokens); equal keys
        // keep their order.
        single.sort_by_key(|&index| client_key(jobs[index].0));
        Self {
            many: many.into_iter().map(|(_, index)| index).collect(),
            single,
        }
    }
}

/// The `client_id` a write changes, if it changes a client.
fn client_key(write: &Write) -> Option<&str> {
    match write {
        Write::CreateClient(row)
        | Write::CreateClientWithin(row, _)
        | Write::UpdateClient(row, _) => Some(row.client_id()),
        Write::DeleteClient(id, _) | Write::RecordUse(id, _) | Write::DeleteIfStale(id, ..) => {
            Some(id)
        }
        Write::CreateToken(_)
        | Write::ConsumeToken(..)
        | Write::RevokeToken(_)
        | Write::Other(..) => None,
    }
}
