//! Client lifecycle for open registration endpoints: last-use tracking, and a
//! reaper that removes stale registrations so a full quota
//! ([`Quotas`](crate::Quotas), checked by the endpoint) never becomes a
//! permanent lock-out.
//!
//! All of it needs the store's [`ClientLifecycleStore`] capability.

use std::time::Duration;

use super::ConfigError;
use super::Registration;
use crate::events::{Event, EventKind, Operation};
use crate::store::{ClientRecord, StaleCriteria, StoreError};
use crate::time::now;

/// How the reaper decides a client is stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaperConfig {
    /// Delete clients never used this long after they registered.
    pub unused_grace: Option<Duration>,
    /// Delete clients not used for this long.
    pub idle_timeout: Option<Duration>,
    /// Most clients handled per sweep (default 1000).
    pub batch: usize,
}

impl Default for ReaperConfig {
    fn default() -> Self {
        Self {
            unused_grace: Some(Duration::from_secs(24 * 3600)),
            idle_timeout: Some(Duration::from_secs(90 * 24 * 3600)),
            batch: 1000,
        }
    }
}

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Clients deleted as stale.
    pub reaped: Vec<String>,
    /// Clients whose secret has expired (reported, not deleted).
    pub expired_secrets: Vec<String>,
}

/// Deletes stale dynamically registered clients; see [`Registration::reaper`].
#[derive(Clone, Debug)]
pub struct Reaper {
    registration: Registration,
    config: ReaperConfig,
}

impl Registration {
    /// A reaper for stale clients. Run [`Reaper::sweep`] periodically, or spawn
    /// [`Reaper::run`]:
    ///
    /// ```
    /// # async fn example(dcr: tower_dcr::Registration) -> Result<(), tower_dcr::ConfigError> {
    /// use std::time::Duration;
    /// use tower_dcr::ReaperConfig;
    ///
    /// let reaper = dcr.reaper(ReaperConfig::default())?;
    /// tokio::spawn(reaper.run(Duration::from_secs(600)));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A store without the lifecycle capability cannot list stale clients:
    /// that is [`ConfigError::ReaperNeedsLifecycle`], here, rather than a
    /// failing sweep later.
    pub fn reaper(&self, config: ReaperConfig) -> Result<Reaper, ConfigError> {
        if self.config().store.lifecycle().is_none() {
            return Err(ConfigError::ReaperNeedsLifecycle);
        }
        Ok(Reaper {
            registration: self.clone(),
            config,
        })
    }

    /// Records that a client was used now, at most once per configured interval
    /// per client (see `RegistrationBuilder::last_used_interval`). Called by the
    /// host helpers; errors are logged, never returned, so the hot path never
    /// fails because of bookkeeping.
    pub async fn record_use(&self, record: &ClientRecord) {
        if record.source == crate::store::RecordSource::MetadataDocument {
            return;
        }
        let config = self.config();
        let (Some(interval), Some(store)) = (config.last_used_interval, config.store.lifecycle())
        else {
            return;
        };
        let now = now();
        let due = record
            .last_used_at
            .is_none_or(|last| now.saturating_sub(last) >= interval.as_secs());
        if due && let Err(error) = store.record_use(&record.client_id, now).await {
            tracing::warn!(%error, client_id = %record.client_id, "could not record client use");
        }
    }
}

impl Reaper {
    /// One sweep: deletes up to `batch` stale clients (each only if still stale
    /// at the moment of deletion) and reports up to `batch` expired secrets,
    /// emitting an event for each.
    pub async fn sweep(&self) -> Result<SweepReport, StoreError> {
        // Checked by `Registration::reaper`; the store cannot lose it.
        let Some(store) = self.registration.store().lifecycle() else {
            return Ok(SweepReport::default());
        };
        let now = now();
        let before = |d: Option<Duration>| d.map(|d| now.saturating_sub(d.as_secs()));
        let criteria = StaleCriteria {
            unused_created_before: before(self.config.unused_grace),
            idle_since: before(self.config.idle_timeout),
        };
        let mut report = SweepReport::default();
        if criteria != StaleCriteria::default() {
            for record in store.stale_clients(&criteria, self.config.batch).await? {
                if store.delete_if_stale(&record.client_id, &criteria).await? {
                    self.emit(EventKind::Reaped, &record);
                    #[cfg(feature = "metrics")]
                    crate::metrics::reaped();
                    report.reaped.push(record.client_id.clone());
                }
            }
        }
        for record in store.expired_secrets(now, self.config.batch).await? {
            self.emit(EventKind::SecretExpired, &record);
            report.expired_secrets.push(record.client_id.clone());
        }
        if !report.reaped.is_empty() {
            tracing::info!(reaped = report.reaped.len(), "stale clients deleted");
        }
        Ok(report)
    }

    /// Sweeps every `period`, forever; spawn it on the runtime. Failures are
    /// logged and the next sweep runs as planned.
    pub async fn run(self, period: Duration) {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = self.sweep().await {
                tracing::warn!(%error, "client sweep failed");
            }
        }
    }

    fn emit(&self, kind: EventKind, record: &ClientRecord) {
        let config = self.registration.config();
        if let Some(events) = &config.events {
            let mut event = Event::new(kind, Operation::Reap);
            event.client_id = Some(record.client_id.clone());
            event.software_id.clone_from(&record.metadata.software_id);
            event.profile.clone_from(&record.profile);
            events.on_event(&event);
        }
    }
}
