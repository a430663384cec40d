//! The aggregator's own health for `/metrics`, kept by the `prometheus`
//! crate: reports by mode and result, store latency, scrape and forwarding
//! health, feeds, HTTP requests by route and code, panics, the process.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use pakiti_httpserver::scrape::RequestMetrics;
use pakiti_store::{FeedStatus, OutboxStatus};
use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use pakiti_service::exposition::{seconds, Exposition, Format};

/// Upper bounds of the store-latency histogram, in seconds: a report's
/// ingest takes 1–5 ms on SQLite and PostgreSQL here (`bench/README.md`), a
/// fleet read of 10,000 hosts some 100 ms; the upper buckets catch a
/// database that stalls.
const STORE_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Upper bounds of the HTTP request histogram, in seconds: a push answers in
/// a few milliseconds, a page or `/federate` of 10,000 hosts in tens to a few
/// hundred (`bench/README.md`).
const HTTP_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Health of one scrape target.
#[derive(Debug, Clone, Default)]
pub struct TargetHealth {
    pub up: bool,
    pub duration: Duration,
    pub last_success: Option<SystemTime>,
    pub last_error: Option<String>,
}

/// The aggregator's own metrics.
pub struct Health {
    registry: Registry,
    /// Setting the gauges read at scrape time and gathering happen under it,
    /// so two scrapes at once never see each other's half.
    scrape: Mutex<()>,
    pub http: RequestMetrics,
    reports: IntCounterVec,
    forwarded: IntCounterVec,
    forward_success: GaugeVec,
    forward_refused: IntCounterVec,
    stats_received: IntCounterVec,
    store: HistogramVec,
    scrape_up: IntGaugeVec,
    scrape_duration: GaugeVec,
    scrape_last_success: GaugeVec,
    /// Each target's health, for the scrape loop and its log.
    targets: Mutex<BTreeMap<String, TargetHealth>>,
    panics: IntCounter,
    // Read at scrape time.
    hosts: IntGaugeVec,
    store_up: IntGauge,
    queue_items: IntGaugeVec,
    queue_oldest: GaugeVec,
    dropped: IntCounterVec,
    feed_imported: GaugeVec,
    feed_records: IntGaugeVec,
    exceptions: IntGaugeVec,
    exceptions_expiring: IntGaugeVec,
    decisions_file_ok: IntGauge,
}

/// What operators decided, as `/metrics` counts it.
#[derive(Debug, Default, Clone)]
pub struct ExceptionCounts {
    /// Exceptions in force, by state.
    pub in_force: Vec<(&'static str, u64)>,
    /// Of those, ending within 7 days.
    pub expiring: Vec<(&'static str, u64)>,
    /// `None`: no decisions file; `Some(false)`: it does not read as it is now.
    pub file_ok: Option<bool>,
}

/// Registers one metric; the names are fixed here, so a failure is a bug.
fn register<M: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: M) -> M {
    r.register(Box::new(m.clone()))
        .expect("a fixed metric name, registered once");
    m
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        r,
        IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric name"),
    )
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    register(
        r,
        GaugeVec::new(Opts::new(name, help), labels).expect("a valid metric name"),
    )
}

fn int_gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(
        r,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid metric name"),
    )
}

impl Default for Health {
    fn default() -> Self {
        Health::new()
    }
}

impl Health {
    pub fn new() -> Health {
        let r = Registry::new();
        let http = RequestMetrics::register(
            &r,
            "pakiti_aggregator_http_requests_total",
            "pakiti_aggregator_http_request_duration_seconds",
            HTTP_BUCKETS.to_vec(),
        )
        .expect("fixed, valid and unique metric names");
        let forward_refused = counter(
            &r,
            "pakiti_aggregator_forward_refused_total",
            "Forwarded reports and statistics refused (403), by reason: untrusted (not a configured downstream server) or site (a site the server may not speak for).",
            &["reason"],
        );
        for reason in ["untrusted", "site"] {
            forward_refused.with_label_values(&[reason]);
        }
        let build = int_gauge(
            &r,
            "pakiti_aggregator_build_info",
            "The aggregator's version and source revision.",
            &["version", "revision"],
        );
        build
            .with_label_values(&[crate::VERSION, crate::REVISION])
            .set(1);
        // The process collector reads /proc/self; without it the aggregator
        // serves on with no process metrics.
        if let Err(e) = r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        )) {
            tracing::debug!(error = %e, "no process metrics");
        }
        Health {
            http,
            reports: counter(
                &r,
                "pakiti_aggregator_reports_received_total",
                "Reports received, by mode (push, scrape, forwarded) and result.",
                &["mode", "result"],
            ),
            forwarded: counter(
                &r,
                "pakiti_aggregator_forward_items_total",
                "Delivery attempts to upstream aggregators, by upstream, kind (report, stats) and result (delivered, failed: retried later, rejected: refused as malformed and dropped).",
                &["upstream", "kind", "result"],
            ),
            forward_success: gauge(
                &r,
                "pakiti_aggregator_forward_last_success_timestamp_seconds",
                "When an item was last delivered to the upstream.",
                &["upstream"],
            ),
            forward_refused,
            stats_received: counter(
                &r,
                "pakiti_aggregator_stats_received_total",
                "Statistics documents received from downstream servers.",
                &["server"],
            ),
            store: register(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "pakiti_aggregator_store_duration_seconds",
                        "Time spent in the store, by operation.",
                    )
                    .buckets(STORE_BUCKETS.to_vec()),
                    &["operation"],
                )
                .expect("a valid metric name"),
            ),
            scrape_up: int_gauge(
                &r,
                "pakiti_aggregator_scrape_up",
                "1 when the latest scrape of the target succeeded.",
                &["target"],
            ),
            scrape_duration: gauge(
                &r,
                "pakiti_aggregator_scrape_duration_seconds",
                "How long the latest scrape of the target took.",
                &["target"],
            ),
            scrape_last_success: gauge(
                &r,
                "pakiti_aggregator_scrape_last_success_timestamp_seconds",
                "When the target was last scraped successfully.",
                &["target"],
            ),
            targets: Mutex::new(BTreeMap::new()),
            panics: register(
                &r,
                IntCounter::new(
                    "pakiti_aggregator_panics_total",
                    "Requests whose handler failed unexpectedly (a bug): answered 500, the aggregator serves on.",
                )
                .expect("a valid metric name"),
            ),
            hosts: int_gauge(
                &r,
                "pakiti_aggregator_hosts",
                "Hosts known, by state (fresh, stale).",
                &["state"],
            ),
            store_up: register(
                &r,
                IntGauge::new(
                    "pakiti_aggregator_store_up",
                    "1 when the database answered the latest check.",
                )
                .expect("a valid metric name"),
            ),
            queue_items: int_gauge(
                &r,
                "pakiti_aggregator_forward_queue_items",
                "Items waiting in the durable queue for the upstream.",
                &["upstream"],
            ),
            queue_oldest: gauge(
                &r,
                "pakiti_aggregator_forward_queue_oldest_timestamp_seconds",
                "When the oldest item waiting for the upstream was queued; absent when the queue is empty.",
                &["upstream"],
            ),
            dropped: counter(
                &r,
                "pakiti_aggregator_forward_dropped_total",
                "Items the queue cap (max_queued) dropped, oldest statistics first, by upstream and kind.",
                &["upstream", "kind"],
            ),
            feed_imported: gauge(
                &r,
                "pakiti_feed_last_import_timestamp_seconds",
                "When the vulnerability feed was last imported.",
                &["feed"],
            ),
            feed_records: int_gauge(
                &r,
                "pakiti_feed_records",
                "Records of the vulnerability feed as last imported.",
                &["feed"],
            ),
            exceptions: int_gauge(
                &r,
                "pakiti_exceptions",
                "Exceptions (operators' decisions on vulnerabilities) in force, by state: accepted_risk, false_positive, mitigated.",
                &["state"],
            ),
            exceptions_expiring: int_gauge(
                &r,
                "pakiti_exceptions_expiring",
                "Exceptions in force that end within 7 days, by state: their findings come back open then.",
                &["state"],
            ),
            decisions_file_ok: register(
                &r,
                IntGauge::new(
                    "pakiti_aggregator_decisions_file_ok",
                    "0 when the decisions file, as it is now, does not read (the previous decisions stay in force; the log names the entry); 1 when it was taken. Absent without a decisions file.",
                )
                .expect("a valid metric"),
            ),
            registry: r,
            scrape: Mutex::new(()),
        }
    }

    /// Counts a request whose handler panicked.
    pub fn panicked(&self) {
        self.panics.inc();
    }

    /// Counts a report by mode (`push`, `scrape`, `forwarded`) and result.
    pub fn report(&self, mode: &'static str, result: &'static str) {
        self.reports.with_label_values(&[mode, result]).inc();
    }

    /// Counts one delivery attempt to an upstream: `delivered`, `rejected`, `failed`.
    pub fn forwarded(&self, upstream: &str, kind: &'static str, result: &'static str) {
        self.forwarded
            .with_label_values(&[upstream, kind, result])
            .inc();
        if result == "delivered" {
            self.forward_success
                .with_label_values(&[upstream])
                .set(seconds(SystemTime::now()));
        }
    }

    /// Counts forwarded data refused: `untrusted` sender, or a `site` it may not speak for.
    pub fn forward_refused(&self, reason: &'static str) {
        self.forward_refused.with_label_values(&[reason]).inc();
    }

    pub fn stats_received(&self, server: &str) {
        self.stats_received.with_label_values(&[server]).inc();
    }

    pub fn store_latency(&self, operation: &'static str, d: Duration) {
        self.store
            .with_label_values(&[operation])
            .observe(d.as_secs_f64());
    }

    pub fn target(&self, target: &str, health: TargetHealth) {
        self.scrape_up
            .with_label_values(&[target])
            .set(i64::from(health.up));
        self.scrape_duration
            .with_label_values(&[target])
            .set(health.duration.as_secs_f64());
        if let Some(at) = health.last_success {
            self.scrape_last_success
                .with_label_values(&[target])
                .set(seconds(at));
        }
        if let Ok(mut t) = self.targets.lock() {
            t.insert(target.to_string(), health);
        }
    }

    /// Forgets targets no longer configured.
    pub fn retain_targets(&self, keep: &dyn Fn(&str) -> bool) {
        if let Ok(mut t) = self.targets.lock() {
            t.retain(|k, _| {
                let kept = keep(k);
                if !kept {
                    for g in [&self.scrape_duration, &self.scrape_last_success] {
                        let _ = g.remove_label_values(&[k]);
                    }
                    let _ = self.scrape_up.remove_label_values(&[k]);
                }
                kept
            });
        }
    }

    pub fn targets(&self) -> BTreeMap<String, TargetHealth> {
        self.targets.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// One target's health so far (a copy of that entry alone).
    pub fn target_health(&self, target: &str) -> TargetHealth {
        self.targets
            .lock()
            .ok()
            .and_then(|t| t.get(target).cloned())
            .unwrap_or_default()
    }

    /// The aggregator's own metrics in `format`; `hosts` gives hosts by
    /// state (fresh, stale), `outbox` the upstream queues, `feeds` the
    /// imported vulnerability feeds (each `None` when the store did not
    /// answer: then the series are absent, never zero).
    pub fn render(
        &self,
        format: Format,
        hosts: Option<(usize, usize)>,
        store_up: bool,
        outbox: Option<&[OutboxStatus]>,
        feeds: Option<&[FeedStatus]>,
        exceptions: &ExceptionCounts,
    ) -> String {
        let families = {
            let _one_at_a_time = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
            self.hosts.reset();
            if let Some((fresh, stale)) = hosts {
                let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
                self.hosts.with_label_values(&["fresh"]).set(n(fresh));
                self.hosts.with_label_values(&["stale"]).set(n(stale));
            }
            self.store_up.set(i64::from(store_up));
            self.set_outbox(outbox);
            self.set_feeds(feeds);
            self.exceptions.reset();
            self.exceptions_expiring.reset();
            for (state, n) in &exceptions.in_force {
                self.exceptions
                    .with_label_values(&[state])
                    .set(i64::try_from(*n).unwrap_or(i64::MAX));
            }
            for (state, n) in &exceptions.expiring {
                self.exceptions_expiring
                    .with_label_values(&[state])
                    .set(i64::try_from(*n).unwrap_or(i64::MAX));
            }
            self.decisions_file_ok
                .set(i64::from(exceptions.file_ok.unwrap_or(true)));
            let mut families = self.registry.gather();
            if exceptions.file_ok.is_none() {
                families.retain(|f| f.name() != "pakiti_aggregator_decisions_file_ok");
            }
            families
        };
        let mut m = Exposition::new(format, 8192);
        m.families(&families);
        m.finish()
    }

    /// The durable queue for each upstream: items waiting, the oldest, drops
    /// (counted by the store, which outlives the process).
    fn set_outbox(&self, outbox: Option<&[OutboxStatus]>) {
        self.queue_items.reset();
        self.queue_oldest.reset();
        self.dropped.reset();
        for o in outbox.unwrap_or(&[]) {
            let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            self.queue_items
                .with_label_values(&[&o.upstream])
                .set(n(o.queued));
            if let Some(t) = o.oldest {
                self.queue_oldest
                    .with_label_values(&[&o.upstream])
                    .set(seconds(t));
            }
            for (kind, dropped) in [("stats", o.dropped_stats), ("report", o.dropped_reports)] {
                self.dropped
                    .with_label_values(&[&o.upstream, kind])
                    .inc_by(dropped);
            }
        }
    }

    /// When each vulnerability feed was imported, and its records.
    fn set_feeds(&self, feeds: Option<&[FeedStatus]>) {
        self.feed_imported.reset();
        self.feed_records.reset();
        for f in feeds.unwrap_or(&[]) {
            self.feed_imported
                .with_label_values(&[&f.name])
                .set(seconds(f.imported_at));
            self.feed_records
                .with_label_values(&[&f.name])
                .set(i64::try_from(f.records).unwrap_or(i64::MAX));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_counts_are_absent_not_zero_when_the_fleet_is_unknown() {
        let h = Health::new();
        let unknown = h.render(
            Format::Text,
            None,
            false,
            None,
            None,
            &ExceptionCounts::default(),
        );
        assert!(!unknown.contains("pakiti_aggregator_hosts{"), "{unknown}");
        assert!(unknown.contains("pakiti_aggregator_store_up 0"));
        let feed = FeedStatus {
            name: "debian".into(),
            source: "/srv/debian.json".into(),
            sha256: String::new(),
            imported_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000),
            records: 97_321,
            feed_time: None,
        };
        let known = h.render(
            Format::Text,
            Some((3, 1)),
            true,
            Some(&[]),
            Some(&[feed]),
            &ExceptionCounts::default(),
        );
        assert!(
            known.contains("pakiti_feed_records{feed=\"debian\"} 97321"),
            "{known}"
        );
        assert!(
            known.contains("pakiti_feed_last_import_timestamp_seconds{feed=\"debian\"} 1790000000"),
            "{known}"
        );
        assert!(
            !unknown.contains("pakiti_feed_records{"),
            "no store answer: no series"
        );
        assert!(
            known.contains("pakiti_aggregator_hosts{state=\"fresh\"} 3"),
            "{known}"
        );
        assert!(
            known.contains("pakiti_aggregator_hosts{state=\"stale\"} 1"),
            "{known}"
        );
    }
}
