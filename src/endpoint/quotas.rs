//! Quotas on dynamically registered clients, taken before a registration is
//! stored so that concurrent registrations never overshoot one.

use tokio::sync::MutexGuard;

use crate::config::Config;
use crate::error::Rejection;
use crate::metadata::ClientMetadata;
use crate::store::{
    ClientFilter, QuotaCheck, QuotaReservation, QuotaReservationStore, RecordSource,
};
use crate::time::now;

use super::unavailable;

/// How long a reservation counts when its registration never releases it (the
/// instance died between reserving and storing).
const RESERVATION_LIFETIME_SECS: u64 = 60;

/// A place held under the quotas while the client is stored.
pub(super) enum QuotaHold<'c> {
    /// No quota is configured.
    Free,
    /// This process's registrations are serialized until the client is stored.
    Serialized(#[allow(dead_code)] MutexGuard<'c, ()>),
    /// The store holds a reservation for this `client_id`.
    Reserved(&'c dyn QuotaReservationStore, String),
}

impl QuotaHold<'_> {
    /// Gives the place up: the client is stored (and counts itself) or its
    /// registration failed.
    pub(super) async fn release(self) {
        if let Self::Reserved(store, client_id) = self
            && let Err(error) = store.release(&client_id).await
        {
            tracing::warn!(%error, %client_id, "could not release a quota reservation; it lapses by itself");
        }
    }
}

/// Takes a place under every configured quota for a client about to be
/// stored as `client_id`, or answers `429` with a description naming the full
/// quota. With the store's reservation capability the place is reserved in the
/// store, atomically across instances; without it, this process's
/// registrations are serialized from the count to the store's answer.
pub(super) async fn reserve_quota<'c>(
    config: &'c Config,
    metadata: &ClientMetadata,
    initial_access_token_id: Option<&str>,
    client_id: &str,
) -> Result<QuotaHold<'c>, Rejection> {
    let quotas = &config.quotas;
    if quotas.is_empty() {
        return Ok(QuotaHold::Free);
    }
    let Some(lifecycle) = config.store.lifecycle() else {
        return Ok(QuotaHold::Free);
    };
    let dynamic = ClientFilter {
        source: Some(RecordSource::Dynamic),
        ..ClientFilter::default()
    };
    let candidates = [
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
    let (checks, descriptions): (Vec<QuotaCheck<'_>>, Vec<&'static str>) = candidates
        .into_iter()
        .filter_map(|(max, filter, description)| {
            Some((
                QuotaCheck {
                    filter: filter?,
                    max: max?,
                },
                description,
            ))
        })
        .unzip();
    if let Some(store) = config.store.quota_reservations() {
        let now = now();
        let reservation = QuotaReservation {
            client_id,
            software_id: metadata.software_id.as_deref(),
            initial_access_token_id,
            now,
            expires_at: now.saturating_add(RESERVATION_LIFETIME_SECS),
        };
        return match store
            .reserve(&reservation, &checks)
            .await
            .map_err(unavailable)?
        {
            Some(full) => Err(Rejection::QuotaExceeded(descriptions[full])),
            None => Ok(QuotaHold::Reserved(store, client_id.to_owned())),
        };
    }
    let serialized = config.quota_lock.lock().await;
    for (check, description) in checks.iter().zip(descriptions) {
        if lifecycle
            .count_clients(&check.filter)
            .await
            .map_err(unavailable)?
            >= check.max
        {
            return Err(Rejection::QuotaExceeded(description));
        }
    }
    Ok(QuotaHold::Serialized(serialized))
}
