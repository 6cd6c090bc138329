//! Operating an open endpoint: quotas, last-use tracking, the reaper, events,
//! rate limits, and logs that never contain a secret.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use http::{HeaderMap, Method};
use serde_json::json;
use tower_dcr::events::{Event, EventKind};
use tower_dcr::host::ClientCredentials;
use tower_dcr::store::{ClientLifecycleStore, ClientRecord, ClientStore};
use tower_dcr::{ClientMetadata, MemoryStore, Registration};
use tower_dcr::{Quotas, ReaperConfig};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Basic credentials (RFC 6749 §2.3.1) as request headers.
fn basic(client_id: &str, secret: &str) -> HeaderMap {
    authorization_header(&basic_authorization(client_id, secret))
}

fn recorder() -> (
    Arc<Mutex<Vec<Event>>>,
    impl Fn(&Event) + Send + Sync + 'static,
) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    (log, move |e: &Event| sink.lock().unwrap().push(e.clone()))
}

/// Quotas count only dynamically registered clients; when full the answer is
/// 429 with a description naming the quota, and room frees up on deletion.
#[tokio::test]
async fn quotas_count_dynamic_clients_and_free_up() {
    let store = MemoryStore::new();
    store
        .create(Arc::new(ClientRecord::new_host_client(
            "host-app",
            ClientMetadata::default(),
            now(),
        )))
        .await
        .unwrap();
    let dcr = builder()
        .store(store.clone())
        .quotas(Quotas {
            max_clients: Some(2),
            ..Quotas::default()
        })
        .build()
        .unwrap();
    let first = registered(&dcr, web_client()).await;
    registered(&dcr, web_client()).await;
    let full = register(&dcr, web_client()).await;
    full.assert_error(429, "temporarily_unavailable");
    assert!(
        full.description().contains("quota"),
        "{}",
        full.description()
    );
    assert!(full.header("retry-after").is_some());
    assert_eq!(
        delete(
            &dcr,
            &client_path(&first),
            first.str("registration_access_token")
        )
        .await
        .status,
        204
    );
    registered(&dcr, web_client()).await;
}

/// Per-software_id and per-initial-access-token quotas.
#[tokio::test]
async fn quotas_per_software_id_and_token() {
    let dcr = Registration::builder(ISSUER)
        .access(tower_dcr::Access::protected(["team-a", "team-b"]))
        .quotas(Quotas {
            max_per_software_id: Some(1),
            max_per_initial_access_token: Some(2),
            ..Quotas::default()
        })
        .build()
        .unwrap();
    let mut app = web_client();
    app["software_id"] = json!("cli-tool");
    assert_eq!(register_with(&dcr, "team-a", app.clone()).await.status, 201);
    let a = register_with(&dcr, "team-b", app).await;
    a.assert_error(429, "temporarily_unavailable");
    assert!(a.description().contains("software_id"));
    assert_eq!(
        register_with(&dcr, "team-a", web_client()).await.status,
        201
    );
    let a = register_with(&dcr, "team-a", web_client()).await;
    a.assert_error(429, "temporarily_unavailable");
    assert!(a.description().contains("initial access token"));
    assert_eq!(
        register_with(&dcr, "team-b", web_client()).await.status,
        201
    );
}

/// A memory store that counts `record_use` writes.
#[derive(Debug, Clone, Default)]
struct CountingStore {
    inner: MemoryStore,
    writes: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait::async_trait]
impl ClientStore for CountingStore {
    async fn create(&self, r: Arc<ClientRecord>) -> Result<(), tower_dcr::StoreError> {
        self.inner.create(r).await
    }
    async fn get(&self, id: &str) -> Result<Option<Arc<ClientRecord>>, tower_dcr::StoreError> {
        self.inner.get(id).await
    }
    async fn update(&self, r: Arc<ClientRecord>, rev: u64) -> Result<(), tower_dcr::StoreError> {
        self.inner.update(r, rev).await
    }
    async fn delete(&self, id: &str, rev: Option<u64>) -> Result<bool, tower_dcr::StoreError> {
        self.inner.delete(id, rev).await
    }
    fn lifecycle(&self) -> Option<&dyn ClientLifecycleStore> {
        Some(self)
    }
}

#[async_trait::async_trait]
impl ClientLifecycleStore for CountingStore {
    async fn record_use(&self, id: &str, at: u64) -> Result<(), tower_dcr::StoreError> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.record_use(id, at).await
    }
    async fn list_clients(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Arc<ClientRecord>>, tower_dcr::StoreError> {
        self.inner.list_clients(after, limit).await
    }
    async fn count_clients(
        &self,
        f: &tower_dcr::store::ClientFilter<'_>,
    ) -> Result<u64, tower_dcr::StoreError> {
        self.inner.count_clients(f).await
    }
    async fn stale_clients(
        &self,
        c: &tower_dcr::store::StaleCriteria,
        limit: usize,
    ) -> Result<Vec<Arc<ClientRecord>>, tower_dcr::StoreError> {
        self.inner.stale_clients(c, limit).await
    }
    async fn delete_if_stale(
        &self,
        id: &str,
        c: &tower_dcr::store::StaleCriteria,
    ) -> Result<bool, tower_dcr::StoreError> {
        self.inner.delete_if_stale(id, c).await
    }
    async fn expired_secrets(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<Vec<Arc<ClientRecord>>, tower_dcr::StoreError> {
        self.inner.expired_secrets(now, limit).await
    }
}

/// The host helpers record the last use, at most once per interval per client.
#[tokio::test]
async fn last_use_is_recorded_with_throttling() {
    let store = CountingStore::default();
    let dcr = builder()
        .store(store.clone())
        .last_used_interval(Some(Duration::from_secs(3600)))
        .build()
        .unwrap();
    let writes = || store.writes.load(std::sync::atomic::Ordering::SeqCst);
    let a = registered(&dcr, web_client()).await;
    let (id, secret) = (
        a.str("client_id").to_owned(),
        a.str("client_secret").to_owned(),
    );
    let creds = ClientCredentials::from_request(&basic(&id, &secret), None, None).unwrap();
    assert!(
        store
            .get(&id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at
            .is_none()
    );
    dcr.authenticate_client(&creds).await.unwrap();
    assert_eq!(writes(), 1);
    assert!(
        store
            .get(&id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at
            .is_some()
    );
    // Within the interval: no more writes, from either helper.
    for _ in 0..5 {
        dcr.authenticate_client(&creds).await.unwrap();
        dcr.check_redirect_uri(&id, Some("https://client.example.org/callback"))
            .await
            .unwrap();
    }
    assert_eq!(writes(), 1);

    // A client last used longer ago than the interval is written again.
    let mut old = ClientRecord::new_host_client("old", ClientMetadata::default(), now() - 9000);
    old.metadata.redirect_uris = Some(vec!["https://old.example/cb".into()]);
    old.last_used_at = Some(now() - 7200);
    store.create(Arc::new(old)).await.unwrap();
    dcr.check_redirect_uri("old", None).await.unwrap();
    assert_eq!(writes(), 2);
    assert!(
        store
            .get("old")
            .await
            .unwrap()
            .unwrap()
            .last_used_at
            .unwrap()
            >= now() - 5
    );
}

async fn backdated(
    store: &MemoryStore,
    dcr: &Registration,
    created_ago: u64,
    used_ago: Option<u64>,
) -> (String, String, String) {
    let a = registered(dcr, web_client()).await;
    let id = a.str("client_id").to_owned();
    let current = store.get(&id).await.unwrap().unwrap();
    let mut old = ClientRecord::clone(&current);
    old.created_at = now() - created_ago;
    old.last_used_at = used_ago.map(|ago| now() - ago);
    old.revision += 1;
    store.update(Arc::new(old), current.revision).await.unwrap();
    (
        id,
        a.str("registration_access_token").to_owned(),
        a.str("client_secret").to_owned(),
    )
}

/// The reaper deletes dynamic clients never used within the grace period or idle
/// too long, never host clients, emits an event for each, and the deleted
/// clients get the RFC errors afterwards.
#[tokio::test]
async fn reaper_deletes_stale_clients_only() {
    let store = MemoryStore::new();
    let (events, sink) = recorder();
    let dcr = builder()
        .store(store.clone())
        .events(sink)
        .quotas(Quotas {
            max_clients: Some(4),
            ..Quotas::default()
        })
        .build()
        .unwrap();
    let day = 24 * 3600;
    let (never_used, rat, secret) = backdated(&store, &dcr, 2 * day, None).await;
    let (idle, _, _) = backdated(&store, &dcr, 200 * day, Some(100 * day)).await;
    let (fresh, _, _) = backdated(&store, &dcr, 3600, None).await;
    let (active, _, _) = backdated(&store, &dcr, 200 * day, Some(day)).await;
    store
        .create(Arc::new(ClientRecord::new_host_client(
            "host-app",
            ClientMetadata::default(),
            now() - 400 * day,
        )))
        .await
        .unwrap();
    register(&dcr, web_client())
        .await
        .assert_error(429, "temporarily_unavailable");

    let report = dcr
        .reaper(ReaperConfig {
            unused_grace: Some(Duration::from_secs(day)),
            idle_timeout: Some(Duration::from_secs(30 * day)),
            batch: 100,
        })
        .unwrap()
        .sweep()
        .await
        .unwrap();
    let mut reaped = report.reaped.clone();
    reaped.sort();
    let mut expected = vec![never_used.clone(), idle.clone()];
    expected.sort();
    assert_eq!(reaped, expected);
    for kept in [&fresh, &active, &"host-app".to_owned()] {
        assert!(store.get(kept).await.unwrap().is_some(), "{kept} kept");
    }
    let reaped_events: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.kind == EventKind::Reaped)
        .cloned()
        .collect();
    assert_eq!(reaped_events.len(), 2);
    // The quota has room again.
    registered(&dcr, web_client()).await;
    // A reaped client learns it must register again.
    assert_eq!(
        read(&dcr, &format!("/register/{never_used}"), &rat)
            .await
            .status,
        401
    );
    let creds = ClientCredentials::from_request(&basic(&never_used, &secret), None, None).unwrap();
    assert_eq!(
        dcr.authenticate_client(&creds)
            .await
            .unwrap_err()
            .error_code(),
        "invalid_client"
    );
}

/// A client used between the stale query and the deletion is kept.
#[tokio::test]
async fn reaper_spares_a_client_used_meanwhile() {
    let store = MemoryStore::new();
    let dcr = builder().store(store.clone()).build().unwrap();
    let (id, _, _) = backdated(&store, &dcr, 10 * 24 * 3600, None).await;
    let criteria = tower_dcr::store::StaleCriteria {
        unused_created_before: Some(now() - 3600),
        idle_since: None,
    };
    assert_eq!(store.stale_clients(&criteria, 10).await.unwrap().len(), 1);
    store.record_use(&id, now()).await.unwrap();
    assert!(!store.delete_if_stale(&id, &criteria).await.unwrap());
}

/// The sweep reports clients whose secret has expired.
#[tokio::test]
async fn sweep_reports_expired_secrets() {
    let store = MemoryStore::new();
    let (events, sink) = recorder();
    let dcr = builder().store(store.clone()).events(sink).build().unwrap();
    let a = registered(&dcr, web_client()).await;
    let id = a.str("client_id").to_owned();
    let current = store.get(&id).await.unwrap().unwrap();
    let mut expired = ClientRecord::clone(&current);
    expired.client_secret_expires_at = now() - 1;
    expired.revision += 1;
    store
        .update(Arc::new(expired), current.revision)
        .await
        .unwrap();
    let report = dcr
        .reaper(ReaperConfig {
            unused_grace: None,
            idle_timeout: None,
            batch: 10,
        })
        .unwrap()
        .sweep()
        .await
        .unwrap();
    assert_eq!(report.expired_secrets, vec![id.clone()]);
    assert!(report.reaped.is_empty());
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.kind == EventKind::SecretExpired
                && e.client_id.as_deref() == Some(id.as_str()))
    );
}

/// Events for each operation, with client_id, software_id, profile and peer
/// address, and never a secret.
#[tokio::test]
async fn events_for_every_operation_without_secrets() {
    let (events, sink) = recorder();
    // No grace for the replaced token, so the read with it below is refused.
    let dcr = builder()
        .events(sink)
        .registration_access_token_grace(std::time::Duration::ZERO)
        .build()
        .unwrap();
    let mut body = web_client();
    body["software_id"] = json!("sw-1");
    let mut req = request(Method::POST, "/register", None, Some(&body));
    req.extensions_mut()
        .insert("198.51.100.7:1000".parse::<SocketAddr>().unwrap());
    let a = send(&dcr, req).await;
    let path = client_path(&a);
    let rat = a.str("registration_access_token").to_owned();
    body["client_id"] = a.json["client_id"].clone();
    let u = update(&dcr, &path, &rat, body).await;
    assert_eq!(read(&dcr, &path, &rat).await.status, 401);
    register(&dcr, json!({"redirect_uris": ["javascript:x"]})).await;
    delete(&dcr, &path, u.str("registration_access_token")).await;

    let log = events.lock().unwrap().clone();
    let kinds: Vec<String> = log.iter().map(|e| e.kind.to_string()).collect();
    assert_eq!(
        kinds,
        [
            "registered",
            "updated",
            "rejected (401 invalid_token)",
            "rejected (400 invalid_redirect_uri)",
            "deleted"
        ]
    );
    assert_eq!(log[0].software_id.as_deref(), Some("sw-1"));
    assert_eq!(log[0].peer_addr, Some("198.51.100.7:1000".parse().unwrap()));
    assert_eq!(log[0].client_id.as_deref(), a.json["client_id"].as_str());
    assert_eq!(log[2].operation, "read");
    let all = format!("{log:?}");
    for secret in [
        a.str("client_secret"),
        &rat,
        u.str("registration_access_token"),
    ] {
        assert!(!all.contains(secret));
    }
}

#[cfg(feature = "rate-limit")]
mod rate_limit {
    use super::*;
    use tower_dcr::rate_limit::{RateLimit, RateLimitKey};

    fn from(
        addr: &str,
        token: Option<&str>,
        xff: Option<&str>,
    ) -> http::Request<http_body_util::Full<bytes::Bytes>> {
        let mut req = request(Method::POST, "/register", token, Some(&web_client()));
        req.extensions_mut()
            .insert(addr.parse::<SocketAddr>().unwrap());
        if let Some(xff) = xff {
            req.headers_mut()
                .insert("x-forwarded-for", xff.parse().unwrap());
        }
        req
    }

    /// Over the limit → 429 with Retry-After and a JSON error; other addresses
    /// are not affected; IPv6 counts per /64.
    #[tokio::test]
    async fn per_address_limit() {
        let (events, sink) = recorder();
        let dcr = builder()
            .rate_limit(RateLimit::per_period(
                std::num::NonZeroU32::new(2).unwrap(),
                Duration::from_secs(60),
            ))
            .events(sink)
            .build()
            .unwrap();
        assert_eq!(
            send(&dcr, from("192.0.2.1:1", None, None)).await.status,
            201
        );
        assert_eq!(
            send(&dcr, from("192.0.2.1:2", None, None)).await.status,
            201
        );
        let limited = send(&dcr, from("192.0.2.1:3", None, None)).await;
        limited.assert_error(429, "temporarily_unavailable");
        let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=31).contains(&wait), "{wait}");
        assert_eq!(
            send(&dcr, from("192.0.2.2:1", None, None)).await.status,
            201
        );
        assert!(
            events
                .lock()
                .unwrap()
                .iter()
                .any(|e| e.kind == EventKind::RateLimited)
        );

        assert_eq!(
            send(&dcr, from("[2001:db8:1:2::1]:1", None, None))
                .await
                .status,
            201
        );
        assert_eq!(
            send(&dcr, from("[2001:db8:1:2::2]:1", None, None))
                .await
                .status,
            201
        );
        assert_eq!(
            send(&dcr, from("[2001:db8:1:2::3]:1", None, None))
                .await
                .status,
            429
        );
        assert_eq!(
            send(&dcr, from("[2001:db8:1:3::1]:1", None, None))
                .await
                .status,
            201
        );
    }

    /// X-Forwarded-For is believed only from trusted proxies.
    #[tokio::test]
    async fn forwarded_for_only_from_trusted_proxies() {
        let untrusted = builder()
            .rate_limit(RateLimit::per_period(
                std::num::NonZeroU32::new(1).unwrap(),
                Duration::from_secs(60),
            ))
            .build()
            .unwrap();
        assert_eq!(
            send(&untrusted, from("192.0.2.1:1", None, Some("203.0.113.1")))
                .await
                .status,
            201
        );
        assert_eq!(
            send(&untrusted, from("192.0.2.1:1", None, Some("203.0.113.2")))
                .await
                .status,
            429
        );

        let proxied = builder()
            .rate_limit(
                RateLimit::per_period(
                    std::num::NonZeroU32::new(1).unwrap(),
                    Duration::from_secs(60),
                )
                .trusted_proxies(["10.0.0.0/8".parse().unwrap()]),
            )
            .build()
            .unwrap();
        assert_eq!(
            send(&proxied, from("10.0.0.5:1", None, Some("203.0.113.1")))
                .await
                .status,
            201
        );
        assert_eq!(
            send(
                &proxied,
                from("10.0.0.5:1", None, Some("203.0.113.2, 10.0.0.9"))
            )
            .await
            .status,
            201
        );
        assert_eq!(
            send(&proxied, from("10.0.0.6:1", None, Some("203.0.113.1")))
                .await
                .status,
            429
        );
        // A proxy that writes `address:port` is understood.
        let key = |xff: &'static str| from("10.0.0.5:1", None, Some(xff));
        assert_eq!(send(&proxied, key("203.0.113.9:5555")).await.status, 201);
        assert_eq!(send(&proxied, key("203.0.113.9")).await.status, 429);
        // Left of an entry that is not an address, everything was written by
        // the client: the key is the last address the proxies vouch for.
        let garbage = |xff: &'static str| from("10.0.0.8:1", None, Some(xff));
        assert_eq!(
            send(&proxied, garbage("198.51.100.1, not-an-ip"))
                .await
                .status,
            201
        );
        assert_eq!(
            send(&proxied, garbage("198.51.100.2, not-an-ip"))
                .await
                .status,
            429,
            "the client cannot choose its own key"
        );
    }

    /// Keyed by initial access token, clients behind one address do not lock
    /// each other out; management requests are never limited.
    #[tokio::test]
    async fn per_token_limit_and_management_unlimited() {
        let dcr = Registration::builder(ISSUER)
            .access(tower_dcr::Access::protected(["token-a", "token-b"]))
            .rate_limit(
                RateLimit::per_period(
                    std::num::NonZeroU32::new(1).unwrap(),
                    Duration::from_secs(60),
                )
                .key(RateLimitKey::InitialAccessToken),
            )
            .build()
            .unwrap();
        let a = send(&dcr, from("192.0.2.1:1", Some("token-a"), None)).await;
        assert_eq!(a.status, 201);
        assert_eq!(
            send(&dcr, from("192.0.2.1:1", Some("token-b"), None))
                .await
                .status,
            201
        );
        assert_eq!(
            send(&dcr, from("192.0.2.1:1", Some("token-a"), None))
                .await
                .status,
            429
        );
        for _ in 0..5 {
            assert_eq!(
                read(&dcr, &client_path(&a), a.str("registration_access_token"))
                    .await
                    .status,
                200
            );
        }
    }

    /// A request without a client address falls into one shared bucket; the
    /// service says so once, at `warn`, at the first such request (and never
    /// again), so that an operator learns the limit is global.
    #[test]
    fn without_a_client_address_one_warning_and_one_shared_bucket() {
        let logs = Logs::default();
        let statuses =
            tracing::subscriber::with_default(logs.subscriber(tracing::Level::WARN), || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async {
                        let dcr = builder()
                            .rate_limit(RateLimit::per_period(
                                std::num::NonZeroU32::new(2).unwrap(),
                                Duration::from_secs(60),
                            ))
                            .build()
                            .unwrap();
                        let mut statuses = Vec::new();
                        for _ in 0..3 {
                            let anonymous =
                                request(Method::POST, "/register", None, Some(&web_client()));
                            statuses.push(send(&dcr, anonymous).await.status);
                        }
                        statuses
                    })
            });
        assert_eq!(
            statuses,
            [201, 201, 429],
            "one bucket for every such request"
        );
        let log = logs.text();
        assert_eq!(log.matches("share one bucket").count(), 1, "{log}");
        assert!(log.contains("WARN"), "{log}");
    }
}

/// A store with the four required methods and no optional capability.
#[derive(Debug, Clone, Default)]
struct BareStore(MemoryStore);

#[async_trait::async_trait]
impl ClientStore for BareStore {
    async fn create(&self, r: Arc<ClientRecord>) -> Result<(), tower_dcr::StoreError> {
        self.0.create(r).await
    }
    async fn get(&self, id: &str) -> Result<Option<Arc<ClientRecord>>, tower_dcr::StoreError> {
        self.0.get(id).await
    }
    async fn update(&self, r: Arc<ClientRecord>, rev: u64) -> Result<(), tower_dcr::StoreError> {
        self.0.update(r, rev).await
    }
    async fn delete(&self, id: &str, rev: Option<u64>) -> Result<bool, tower_dcr::StoreError> {
        self.0.delete(id, rev).await
    }
}

/// What needs a store capability the store lacks is refused when it is
/// configured, as a `ConfigError`: never a request answered `503`, never a
/// sweep that fails as if the store were down.
#[test]
fn a_missing_store_capability_is_a_configuration_error() {
    use tower_dcr::ConfigError;
    let quotas = Registration::builder("https://a.example")
        .open()
        .store(BareStore::default())
        .quotas(Quotas {
            max_clients: Some(10),
            ..Quotas::default()
        })
        .build();
    assert_eq!(quotas.unwrap_err(), ConfigError::QuotasNeedLifecycle);
    let protected = Registration::builder("https://a.example")
        .access(tower_dcr::Access::Protected {
            static_tokens: vec![],
        })
        .store(BareStore::default())
        .build();
    assert_eq!(protected.unwrap_err(), ConfigError::NoInitialAccessTokens);
    let dcr = Registration::builder("https://a.example")
        .open()
        .store(BareStore::default())
        .build()
        .unwrap();
    assert_eq!(
        dcr.reaper(ReaperConfig::default()).unwrap_err(),
        ConfigError::ReaperNeedsLifecycle
    );
    let with_lifecycle = Registration::builder("https://a.example")
        .open()
        .build()
        .unwrap();
    assert!(with_lifecycle.reaper(ReaperConfig::default()).is_ok());
}
