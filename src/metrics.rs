//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`): install any recorder (for Prometheus,
//! `metrics-exporter-prometheus`) and these appear. Labels never carry a
//! client identifier or a secret, so their number stays bounded.
//!
//! | Name | Kind | Labels |
//! |---|---|---|
//! | [`REGISTRATIONS`] | counter | `outcome` (`registered`, `rejected`), `error` (the RFC error code, `none`) |
//! | [`MANAGEMENT`] | counter | `operation` (`read`, `update`, `delete`), `outcome` (`ok`, `rejected`), `error` |
//! | [`REJECTIONS`] | counter | `operation`, `status`, `error` |
//! | [`RATE_LIMITED`] | counter | – |
//! | [`REQUEST_DURATION`] | histogram (seconds) | `operation` |
//! | [`STORE_DURATION`] | histogram (seconds) | `operation` (`create`, `get`, `update`, `delete`), `outcome` (`ok`, `conflict`, `stale`, `unavailable`, `corrupt`) |
//! | [`REAPED`] | counter | – |
//!
//! `operation` is `register`, `read`, `update`, `delete` or `other` (a request
//! that matched no operation).

use std::time::Duration;

use crate::error::Rejection;
use crate::events::Operation;

/// Registrations (RFC 7591), by outcome and error code.
pub const REGISTRATIONS: &str = "tower_dcr_registrations_total";
/// Reads, updates and deletes (RFC 7592), by operation, outcome and error code.
pub const MANAGEMENT: &str = "tower_dcr_management_requests_total";
/// Refused requests of any operation, by HTTP status and error code.
pub const REJECTIONS: &str = "tower_dcr_rejections_total";
/// Registrations refused by the rate limit (`429`).
pub const RATE_LIMITED: &str = "tower_dcr_rate_limited_total";
/// Time to answer a request, by operation.
pub const REQUEST_DURATION: &str = "tower_dcr_request_duration_seconds";
/// Time of one client store call, by store operation and outcome.
pub const STORE_DURATION: &str = "tower_dcr_store_duration_seconds";
/// Clients deleted by the lifecycle reaper.
pub const REAPED: &str = "tower_dcr_reaped_clients_total";

/// A counter or histogram whose name and labels are all constants: its key is
/// a `static`, hashed at compile time, so recording it allocates nothing (the
/// macros of `metrics` build a key on the heap for every call whose label
/// values are not literals). The same key and metadata as the macros give.
macro_rules! static_metric {
    ($register:ident, $name:expr, $($key:literal => $value:literal),+) => {{
        static LABELS: &[::metrics::Label] =
            &[$(::metrics::Label::from_static_parts($key, $value)),+];
        static KEY: ::metrics::Key = ::metrics::Key::from_static_parts($name, LABELS);
        static METADATA: ::metrics::Metadata<'static> = ::metrics::Metadata::new(
            ::core::module_path!(),
            ::metrics::Level::INFO,
            ::core::option::Option::Some(::core::module_path!()),
        );
        ::metrics::with_recorder(|recorder| recorder.$register(&KEY, &METADATA))
    }};
}

/// Records one request answered without a rejection: every label is known,
/// so the keys are static.
fn answered(operation: Operation, elapsed: Duration) {
    match operation {
        Operation::Register => {
            static_metric!(register_counter, REGISTRATIONS, "outcome" => "registered", "error" => "none")
                .increment(1);
            static_metric!(register_histogram, REQUEST_DURATION, "operation" => "register")
                .record(elapsed);
        }
        Operation::Read => {
            static_metric!(register_counter, MANAGEMENT, "operation" => "read", "outcome" => "ok", "error" => "none")
                .increment(1);
            static_metric!(register_histogram, REQUEST_DURATION, "operation" => "read")
                .record(elapsed);
        }
        Operation::Update => {
            static_metric!(register_counter, MANAGEMENT, "operation" => "update", "outcome" => "ok", "error" => "none")
                .increment(1);
            static_metric!(register_histogram, REQUEST_DURATION, "operation" => "update")
                .record(elapsed);
        }
        Operation::Delete => {
            static_metric!(register_counter, MANAGEMENT, "operation" => "delete", "outcome" => "ok", "error" => "none")
                .increment(1);
            static_metric!(register_histogram, REQUEST_DURATION, "operation" => "delete")
                .record(elapsed);
        }
        _ => {
            ::metrics::histogram!(REQUEST_DURATION, "operation" => operation.as_str())
                .record(elapsed);
        }
    }
}

/// Records one answered request.
pub(crate) fn request(operation: Operation, rejection: Option<&Rejection>, elapsed: Duration) {
    if rejection.is_none() {
        answered(operation, elapsed);
        return;
    }
    let op = operation.as_str();
    let error = rejection.map_or("none", |r| r.error_code().as_str());
    match operation {
        Operation::Register => {
            let outcome = if rejection.is_some() {
                "rejected"
            } else {
                "registered"
            };
            ::metrics::counter!(REGISTRATIONS, "outcome" => outcome, "error" => error).increment(1);
        }
        Operation::Read | Operation::Update | Operation::Delete => {
            let outcome = if rejection.is_some() {
                "rejected"
            } else {
                "ok"
            };
            ::metrics::counter!(MANAGEMENT, "operation" => op, "outcome" => outcome, "error" => error)
                .increment(1);
        }
        _ => {}
    }
    if let Some(rejection) = rejection {
        let status = rejection.status();
        ::metrics::counter!(REJECTIONS, "operation" => op, "status" => status.as_str().to_owned(), "error" => error)
            .increment(1);
        if matches!(rejection, Rejection::RateLimited(_)) {
            ::metrics::counter!(RATE_LIMITED).increment(1);
        }
    }
    ::metrics::histogram!(REQUEST_DURATION, "operation" => op).record(elapsed);
}

/// Records one client store call.
pub(crate) fn store_call(operation: &'static str, outcome: &'static str, elapsed: Duration) {
    // The calls that succeed, with static keys.
    let histogram = match (operation, outcome) {
        ("create", "ok") => {
            static_metric!(register_histogram, STORE_DURATION, "operation" => "create", "outcome" => "ok")
        }
        ("get", "ok") => {
            static_metric!(register_histogram, STORE_DURATION, "operation" => "get", "outcome" => "ok")
        }
        ("update", "ok") => {
            static_metric!(register_histogram, STORE_DURATION, "operation" => "update", "outcome" => "ok")
        }
        ("delete", "ok") => {
            static_metric!(register_histogram, STORE_DURATION, "operation" => "delete", "outcome" => "ok")
        }
        _ => ::metrics::histogram!(STORE_DURATION, "operation" => operation, "outcome" => outcome),
    };
    histogram.record(elapsed);
}

/// Records a client deleted by the reaper.
pub(crate) fn reaped() {
    ::metrics::counter!(REAPED).increment(1);
}
