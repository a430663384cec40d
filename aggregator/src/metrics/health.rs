//! The aggregator's own health for `/metrics`: reports by result, store
//! latency, scrape and forwarding health, feeds, HTTP requests, panics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use pakiti_store::{FeedStatus, OutboxStatus};

use pakiti_service::exposition::{bool_value, seconds, Exposition};

impl Health {
    /// The store's latency histogram, by operation.
    fn render_store(&self, m: &mut Exposition) {
        m.family(
            "pakiti_aggregator_store_duration_seconds",
            "histogram",
            "Time spent in the store, by operation.",
        );
        if let Ok(s) = self.store.lock() {
            for (op, h) in s.iter() {
                for (i, b) in BUCKETS.iter().enumerate() {
                    let le = b.to_string();
                    m.sample(
                        "pakiti_aggregator_store_duration_seconds_bucket",
                        &[("operation", op), ("le", &le)],
                        h.buckets[i].load(Ordering::Relaxed) as f64,
                    );
                }
                let count = h.count.load(Ordering::Relaxed) as f64;
                m.sample(
                    "pakiti_aggregator_store_duration_seconds_bucket",
                    &[("operation", op), ("le", "+Inf")],
                    count,
                );
                m.sample(
                    "pakiti_aggregator_store_duration_seconds_sum",
                    &[("operation", op)],
                    h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
                );
                m.sample(
                    "pakiti_aggregator_store_duration_seconds_count",
                    &[("operation", op)],
                    count,
                );
            }
        }
    }

    /// The health of each scrape target.
    fn render_scrapes(&self, m: &mut Exposition) {
        let targets = self.targets();
        m.family(
            "pakiti_aggregator_scrape_up",
            "gauge",
            "1 when the latest scrape of the target succeeded.",
        );
        for (t, h) in &targets {
            m.sample(
                "pakiti_aggregator_scrape_up",
                &[("target", t)],
                bool_value(h.up),
            );
        }
        m.family(
            "pakiti_aggregator_scrape_duration_seconds",
            "gauge",
            "How long the latest scrape of the target took.",
        );
        for (t, h) in &targets {
            m.sample(
                "pakiti_aggregator_scrape_duration_seconds",
                &[("target", t)],
                h.duration.as_secs_f64(),
            );
        }
        m.family(
            "pakiti_aggregator_scrape_last_success_timestamp_seconds",
            "gauge",
            "When the target was last scraped successfully.",
        );
        for (t, h) in &targets {
            if let Some(at) = h.last_success {
                m.sample(
                    "pakiti_aggregator_scrape_last_success_timestamp_seconds",
                    &[("target", t)],
                    seconds(at),
                );
            }
        }
    }

    fn render_forwarding(&self, m: &mut Exposition, outbox: Option<&[OutboxStatus]>) {
        m.family(
            "pakiti_aggregator_forward_items_total",
            "counter",
            "Delivery attempts to upstream aggregators, by upstream, kind (report, stats) and result (delivered, failed: retried later, rejected: refused as malformed and dropped).",
        );
        if let Ok(f) = self.forwarded.lock() {
            for ((upstream, kind, result), n) in f.iter() {
                m.sample(
                    "pakiti_aggregator_forward_items_total",
                    &[("upstream", upstream), ("kind", kind), ("result", result)],
                    *n as f64,
                );
            }
        }
        m.family(
            "pakiti_aggregator_forward_last_success_timestamp_seconds",
            "gauge",
            "When an item was last delivered to the upstream.",
        );
        if let Ok(s) = self.forward_success.lock() {
            for (upstream, at) in s.iter() {
                m.sample(
                    "pakiti_aggregator_forward_last_success_timestamp_seconds",
                    &[("upstream", upstream)],
                    seconds(*at),
                );
            }
        }
        if let Some(outbox) = outbox {
            render_outbox(m, outbox);
        }
        m.family(
            "pakiti_aggregator_forward_refused_total",
            "counter",
            "Forwarded reports and statistics refused (403), by reason: untrusted (not a configured downstream server) or site (a site the server may not speak for).",
        );
        if let Ok(r) = self.forward_refused.lock() {
            for reason in ["untrusted", "site"] {
                m.sample(
                    "pakiti_aggregator_forward_refused_total",
                    &[("reason", reason)],
                    r.get(reason).copied().unwrap_or(0) as f64,
                );
            }
        }
        m.family(
            "pakiti_aggregator_stats_received_total",
            "counter",
            "Statistics documents received from downstream servers.",
        );
        if let Ok(r) = self.stats_received.lock() {
            for (server, n) in r.iter() {
                m.sample(
                    "pakiti_aggregator_stats_received_total",
                    &[("server", server)],
                    *n as f64,
                );
            }
        }
    }
}

/// When each vulnerability feed was imported, and its records.
fn render_feeds(m: &mut Exposition, feeds: Option<&[FeedStatus]>) {
    m.family(
        "pakiti_feed_last_import_timestamp_seconds",
        "gauge",
        "When the vulnerability feed was last imported.",
    );
    for f in feeds.unwrap_or(&[]) {
        m.sample(
            "pakiti_feed_last_import_timestamp_seconds",
            &[("feed", &f.name)],
            seconds(f.imported_at),
        );
    }
    m.family(
        "pakiti_feed_records",
        "gauge",
        "Records of the vulnerability feed as last imported.",
    );
    for f in feeds.unwrap_or(&[]) {
        m.sample(
            "pakiti_feed_records",
            &[("feed", &f.name)],
            f.records as f64,
        );
    }
}

/// Upper bounds of the store-latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// Health of one scrape target.
#[derive(Debug, Clone, Default)]
pub struct TargetHealth {
    pub up: bool,
    pub duration: Duration,
    pub last_success: Option<SystemTime>,
    pub last_error: Option<String>,
}

/// Counters and gauges of the aggregator's own health.
#[derive(Default)]
pub struct Health {
    reports: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// (upstream, kind, result) → items.
    forwarded: Mutex<BTreeMap<(String, &'static str, &'static str), u64>>,
    /// Latest successful delivery per upstream.
    forward_success: Mutex<BTreeMap<String, SystemTime>>,
    /// Refusals of forwarded data, by reason.
    forward_refused: Mutex<BTreeMap<&'static str, u64>>,
    /// Statistics documents received, per downstream server.
    stats_received: Mutex<BTreeMap<String, u64>>,
    store: Mutex<BTreeMap<&'static str, Histogram>>,
    targets: Mutex<BTreeMap<String, TargetHealth>>,
    /// Requests whose handler panicked (answered 500; the process serves on).
    panics: AtomicU64,
}

impl Health {
    /// Counts a request whose handler panicked.
    pub fn panicked(&self) {
        self.panics.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a report by mode (`push`, `scrape`) and result.
    pub fn report(&self, mode: &'static str, result: &'static str) {
        if let Ok(mut r) = self.reports.lock() {
            *r.entry((mode, result)).or_default() += 1;
        }
    }

    /// Counts one delivery attempt to an upstream: `delivered`, `rejected`, `failed`.
    pub fn forwarded(&self, upstream: &str, kind: &'static str, result: &'static str) {
        if let Ok(mut f) = self.forwarded.lock() {
            *f.entry((upstream.to_string(), kind, result)).or_default() += 1;
        }
        if result == "delivered" {
            if let Ok(mut s) = self.forward_success.lock() {
                s.insert(upstream.to_string(), SystemTime::now());
            }
        }
    }

    /// Counts forwarded data refused: `untrusted` sender, or a `site` it may not speak for.
    pub fn forward_refused(&self, reason: &'static str) {
        if let Ok(mut r) = self.forward_refused.lock() {
            *r.entry(reason).or_default() += 1;
        }
    }

    pub fn stats_received(&self, server: &str) {
        if let Ok(mut r) = self.stats_received.lock() {
            *r.entry(server.to_string()).or_default() += 1;
        }
    }

    pub fn store_latency(&self, operation: &'static str, d: Duration) {
        if let Ok(mut s) = self.store.lock() {
            let h = s.entry(operation).or_default();
            let secs = d.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.buckets[i].fetch_add(1, Ordering::Relaxed);
                }
            }
            h.count.fetch_add(1, Ordering::Relaxed);
            h.sum_micros
                .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        }
    }

    pub fn target(&self, target: &str, health: TargetHealth) {
        if let Ok(mut t) = self.targets.lock() {
            t.insert(target.to_string(), health);
        }
    }

    /// Forgets targets no longer configured.
    pub fn retain_targets(&self, keep: &dyn Fn(&str) -> bool) {
        if let Ok(mut t) = self.targets.lock() {
            t.retain(|k, _| keep(k));
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

    /// The aggregator's own metrics; `hosts` gives hosts by state (fresh,
    /// stale), `outbox` the upstream queues, `feeds` the imported
    /// vulnerability feeds (each `None` when the store did not answer: then
    /// the series are absent, never zero).
    pub fn render(
        &self,
        hosts: Option<(usize, usize)>,
        store_up: bool,
        outbox: Option<&[OutboxStatus]>,
        feeds: Option<&[FeedStatus]>,
    ) -> String {
        let mut m = Exposition::with_capacity(4096);
        self.render_forwarding(&mut m, outbox);
        render_feeds(&mut m, feeds);
        m.family(
            "pakiti_aggregator_panics_total",
            "counter",
            "Requests whose handler failed unexpectedly (a bug): answered 500, the aggregator serves on.",
        );
        m.sample(
            "pakiti_aggregator_panics_total",
            &[],
            self.panics.load(Ordering::Relaxed) as f64,
        );
        m.family(
            "pakiti_aggregator_reports_received_total",
            "counter",
            "Reports received, by mode (push, scrape) and result.",
        );
        if let Ok(r) = self.reports.lock() {
            for ((mode, result), n) in r.iter() {
                m.sample(
                    "pakiti_aggregator_reports_received_total",
                    &[("mode", mode), ("result", result)],
                    *n as f64,
                );
            }
        }
        m.family(
            "pakiti_aggregator_hosts",
            "gauge",
            "Hosts known, by state (fresh, stale).",
        );
        if let Some((fresh, stale)) = hosts {
            m.sample(
                "pakiti_aggregator_hosts",
                &[("state", "fresh")],
                fresh as f64,
            );
            m.sample(
                "pakiti_aggregator_hosts",
                &[("state", "stale")],
                stale as f64,
            );
        }
        m.family(
            "pakiti_aggregator_store_up",
            "gauge",
            "1 when the database answered the latest check.",
        );
        m.sample("pakiti_aggregator_store_up", &[], bool_value(store_up));
        self.render_store(&mut m);
        self.render_scrapes(&mut m);
        m.family(
            "pakiti_aggregator_build_info",
            "gauge",
            "The aggregator's version and source revision.",
        );
        m.sample(
            "pakiti_aggregator_build_info",
            &[("version", crate::VERSION), ("revision", crate::REVISION)],
            1.0,
        );
        m.finish()
    }
}

/// The durable queue for each upstream: items waiting, the oldest, drops.
fn render_outbox(m: &mut Exposition, outbox: &[OutboxStatus]) {
    m.family(
        "pakiti_aggregator_forward_queue_items",
        "gauge",
        "Items waiting in the durable queue for the upstream.",
    );
    for o in outbox {
        m.sample(
            "pakiti_aggregator_forward_queue_items",
            &[("upstream", &o.upstream)],
            o.queued as f64,
        );
    }
    m.family(
        "pakiti_aggregator_forward_queue_oldest_timestamp_seconds",
        "gauge",
        "When the oldest item waiting for the upstream was queued; absent when the queue is empty.",
    );
    for o in outbox {
        if let Some(t) = o.oldest {
            m.sample(
                "pakiti_aggregator_forward_queue_oldest_timestamp_seconds",
                &[("upstream", &o.upstream)],
                seconds(t),
            );
        }
    }
    m.family(
        "pakiti_aggregator_forward_dropped_total",
        "counter",
        "Items the queue cap (max_queued) dropped, oldest statistics first, by upstream and kind.",
    );
    for o in outbox {
        for (kind, n) in [("stats", o.dropped_stats), ("report", o.dropped_reports)] {
            m.sample(
                "pakiti_aggregator_forward_dropped_total",
                &[("upstream", &o.upstream), ("kind", kind)],
                n as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_counts_are_absent_not_zero_when_the_fleet_is_unknown() {
        let h = Health::default();
        let unknown = h.render(None, false, None, None);
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
        let known = h.render(Some((3, 1)), true, Some(&[]), Some(&[feed]));
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
