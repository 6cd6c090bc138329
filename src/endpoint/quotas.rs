//! Quotas on dynamically registered clients, taken in the same step that
//! stores a registration, so that concurrent registrations never overshoot
//! one.

use std::sync::Arc;

use crate::config::Config;
use crate::error::Rejection;
use crate::store::{ClientFilter, ClientRecord, QuotaFull, RecordSource, StoreError};

/// Stores `record`, a new registration, within the configured quotas: with
/// the store's quota capability in one O(1) step of the store (atomic across
/// instances); without it, this process's registrations are serialized from
/// the count to the store's answer. A full quota is `Ok(Err(_))`: `429` with
/// a description naming it.
pub(super) async fn create_within_quotas(
    config: &Config,
    record: Arc<ClientRecord>,
) -> Result<Result<(), StoreError>, Rejection> {
    let quotas = &config.quotas;
    if quotas.is_empty() {
        return Ok(config.store.create(record).await);
    }
    if let Some(store) = config.store.quotas() {
        return match store.create_within(record, quotas).await {
            Ok(None) => Ok(Ok(())),
            Ok(Some(full)) => Err(Rejection::QuotaExceeded(description(full))),
            Err(error) => Ok(Err(error)),
        };
    }
    let Some(lifecycle) = config.store.lifecycle() else {
        return Ok(config.store.create(record).await);
    };
    let _serialized = config.quota_lock.lock().await;
    let dynamic = ClientFilter {
        source: Some(RecordSource::Dynamic),
        ..ClientFilter::default()
    };
    let checks = [
        (quotas.max_clients, Some(dynamic), QuotaFull::Clients),
        (
            quotas.max_per_software_id,
            record
                .metadata
                .software_id
                .as_deref()
                .map(|id| ClientFilter {
                    software_id: Some(id),
                    ..dynamic
                }),
            QuotaFull::SoftwareId,
        ),
        (
            quotas.max_per_initial_access_token,
            record
                .initial_access_token_id
                .as_deref()
                .map(|id| ClientFilter {
                    initial_access_token_id: Some(id),
                    ..dynamic
                }),
            QuotaFull::InitialAccessToken,
        ),
    ];
    for (max, filter, full) in checks {
        let (Some(max), Some(filter)) = (max, filter) else {
            continue;
        };
        match lifecycle.count_clients(&filter).await {
            Ok(count) if count >= max => return Err(Rejection::QuotaExceeded(description(full))),
            Ok(_) => {}
            Err(error) => return Ok(Err(error)),
        }
    }
    Ok(config.store.create(record).await)
}

/// The `error_description` of a full quota.
fn description(full: QuotaFull) -> &'static str {
    match full {
        QuotaFull::Clients => "the registration quota of this server is full",
        QuotaFull::SoftwareId => "the registration quota for this software_id is full",
        QuotaFull::InitialAccessToken => {
            "the registration quota for this initial access token is full"
        }
    }
}
