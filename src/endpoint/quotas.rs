//! Quotas on dynamically registered clients, checked before a registration.

use crate::config::Config;
use crate::error::Rejection;
use crate::metadata::ClientMetadata;
use crate::store::{ClientFilter, RecordSource};

use super::unavailable;

/// Checks the quotas before a registration: `429` with a description naming the
/// full quota when one is reached.
pub(super) async fn check_quotas(
    config: &Config,
    metadata: &ClientMetadata,
    initial_access_token_id: Option<&str>,
) -> Result<(), Rejection> {
    let quotas = &config.quotas;
    if quotas.is_empty() {
        return Ok(());
    }
    let Some(store) = config.store.lifecycle() else {
        return Ok(());
    };
    let dynamic = ClientFilter {
        source: Some(RecordSource::Dynamic),
        ..ClientFilter::default()
    };
    let checks = [
        (
            quotas.max_clients,
            Some(dynamic),
            "the registration quota of this server is full",
        ),
        (
            quotas.max_per_software_id,
            metadata.software_id.as_deref().map(|id| ClientFilter {
                software_id: Some(id),
                ..dynamic
            }),
            "the registration quota for this software_id is full",
        ),
        (
            quotas.max_per_initial_access_token,
            initial_access_token_id.map(|id| ClientFilter {
                initial_access_token_id: Some(id),
                ..dynamic
            }),
            "the registration quota for this initial access token is full",
        ),
    ];
    for (max, filter, description) in checks {
        if let (Some(max), Some(filter)) = (max, filter)
            && store.count_clients(&filter).await.map_err(unavailable)? >= max
        {
            return Err(Rejection::QuotaExceeded(description));
        }
    }
    Ok(())
}
