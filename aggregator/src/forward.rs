//! Aggregator to aggregator: what a downstream aggregator sends to its
//! `[[upstream]]` servers, and the statistics document both sides read.
//!
//! Everything outgoing waits in the store's outbox (durable, capped; a
//! report is queued in the transaction that stores it) and is delivered
//! oldest first, one request per item, retried with exponential backoff
//! while the upstream is unreachable or answers 5xx, 401, 403 or 429. An
//! item the upstream refuses as malformed (400, 413, 415, 422) is dropped,
//! counted and logged, so one bad item cannot block the queue. Among
//! replicas sharing PostgreSQL, one holds each upstream's lease and delivers.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use pakiti_report::Severity;
use pakiti_store::{
    severity_index, HostSummary, OutboxItem, OutboxKind, Outgoing, SiteStats, Store,
};

use crate::config::{SendMode, Upstream};
use crate::state::AppState;

/// Header carrying when the downstream aggregator received a forwarded report.
pub const RECEIVED_AT: &str = "x-pakiti-received-at";

/// Version of the statistics document.
pub const STATS_SCHEMA_VERSION: u32 = 1;

/// Per-site statistics over `hosts`; hosts that name no site are left out
/// (an upstream accepts only the sites it trusts this server for).
pub fn site_stats(hosts: &[HostSummary], now: SystemTime, stale_after: Duration) -> Vec<SiteStats> {
    let mut by_site: std::collections::BTreeMap<&str, SiteStats> = Default::default();
    for h in hosts {
        let Some(site) = h.site.as_deref() else {
            continue;
        };
        let s = by_site.entry(site).or_insert_with(|| SiteStats {
            site: site.to_string(),
            generated_at: Some(now),
            ..SiteStats::default()
        });
        s.hosts += 1;
        s.hosts_pending += u32::from(h.counts.pending > 0);
        for sev in Severity::ALL {
            let i = severity_index(sev);
            s.hosts_security[i] += u32::from(h.counts.security[i] > 0);
            s.security_updates[i] += h.counts.security[i];
        }
        s.hosts_reboot += u32::from(h.counts.reboot_required);
        s.hosts_stale +=
            u32::from(now.duration_since(h.last_report_at).unwrap_or_default() > stale_after);
        s.updates_pending += h.counts.pending;
        if let Some(since) = h.security_pending_since {
            s.oldest_security_since = Some(s.oldest_security_since.map_or(since, |o| o.min(since)));
        }
    }
    by_site.into_values().collect()
}

/// Counts per severity, as the statistics document writes them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BySeverity {
    pub critical: u32,
    pub important: u32,
    pub moderate: u32,
    pub low: u32,
    pub unknown: u32,
}

impl BySeverity {
    fn from(a: [u32; 5]) -> Self {
        BySeverity {
            critical: a[0],
            important: a[1],
            moderate: a[2],
            low: a[3],
            unknown: a[4],
        }
    }

    fn array(&self) -> [u32; 5] {
        [
            self.critical,
            self.important,
            self.moderate,
            self.low,
            self.unknown,
        ]
    }
}

/// One site in the statistics document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SiteDoc {
    pub site: String,
    pub hosts: u32,
    pub hosts_with_pending_updates: u32,
    pub hosts_with_security_updates: BySeverity,
    pub hosts_reboot_required: u32,
    pub hosts_stale: u32,
    pub updates_pending: u32,
    pub security_updates_pending: BySeverity,
    /// RFC 3339; absent when no security update is pending at the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_security_update_pending_since: Option<String>,
}

/// `POST /api/v1/forward/stats`: one server's sites at one moment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StatsDoc {
    pub schema_version: u32,
    pub generated_at: String,
    pub sites: Vec<SiteDoc>,
}

fn parse_time(field: &str, s: &str) -> Result<SystemTime, String> {
    pakiti_report::parse_rfc3339(s)
        .map_err(|e| format!("{field} {s:?} is not an RFC 3339 time with an offset: {e}"))
}

pub fn stats_doc(stats: &[SiteStats], now: SystemTime) -> StatsDoc {
    StatsDoc {
        schema_version: STATS_SCHEMA_VERSION,
        generated_at: rfc3339(now),
        sites: stats.iter().map(site_doc).collect(),
    }
}

/// One site as the statistics document (and `GET /api/v1/sites`) writes it.
pub fn site_doc(s: &SiteStats) -> SiteDoc {
    SiteDoc {
        site: s.site.clone(),
        hosts: s.hosts,
        hosts_with_pending_updates: s.hosts_pending,
        hosts_with_security_updates: BySeverity::from(s.hosts_security),
        hosts_reboot_required: s.hosts_reboot,
        hosts_stale: s.hosts_stale,
        updates_pending: s.updates_pending,
        security_updates_pending: BySeverity::from(s.security_updates),
        oldest_security_update_pending_since: s.oldest_security_since.map(rfc3339),
    }
}

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Reads a statistics document, checking what serde cannot: the version,
/// the times, site names, and that no site is listed twice.
pub fn read_stats(bytes: &[u8]) -> Result<Vec<SiteStats>, String> {
    let doc: StatsDoc =
        serde_json::from_slice(bytes).map_err(|e| format!("not a statistics document: {e}"))?;
    if doc.schema_version != STATS_SCHEMA_VERSION {
        return Err(format!(
            "schema_version {} is not supported (this aggregator reads {STATS_SCHEMA_VERSION})",
            doc.schema_version
        ));
    }
    let generated_at = parse_time("generated_at", &doc.generated_at)?;
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(doc.sites.len());
    for s in doc.sites {
        pakiti_report::check_token("site", &s.site).map_err(|e| e.to_string())?;
        if !seen.insert(s.site.clone()) {
            return Err(format!("site {:?} is listed twice", s.site));
        }
        let oldest = s
            .oldest_security_update_pending_since
            .as_deref()
            .map(|t| parse_time("oldest_security_update_pending_since", t))
            .transpose()?;
        out.push(SiteStats {
            site: s.site,
            generated_at: Some(generated_at),
            hosts: s.hosts,
            hosts_pending: s.hosts_with_pending_updates,
            hosts_security: s.hosts_with_security_updates.array(),
            hosts_reboot: s.hosts_reboot_required,
            hosts_stale: s.hosts_stale,
            updates_pending: s.updates_pending,
            security_updates: s.security_updates_pending.array(),
            oldest_security_since: oldest,
        });
    }
    Ok(out)
}

/// What a downstream queues for its `reports` upstreams when it stores a report.
pub fn report_outgoing(upstreams: &[Upstream], report_json: impl Fn() -> Vec<u8>) -> Vec<Outgoing> {
    let targets: Vec<&Upstream> = upstreams
        .iter()
        .filter(|u| u.send == SendMode::Reports)
        .collect();
    if targets.is_empty() {
        return Vec::new();
    }
    let payload = report_json();
    targets
        .into_iter()
        .map(|u| Outgoing {
            upstream: u.url.clone(),
            kind: OutboxKind::Report,
            payload: payload.clone(),
            cap: u.max_queued,
            cap_bytes: u.max_queued_bytes,
        })
        .collect()
}

/// The HTTP client for one upstream: its CA, client certificate, timeout.
pub fn client(u: &Upstream) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .timeout(u.timeout)
        .user_agent(format!("pakiti-aggregator/{}", crate::VERSION));
    if let Some(pem) = &u.ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem)? {
            b = b.add_root_certificate(cert);
        }
    }
    if let Some(pem) = &u.identity_pem {
        b = b.identity(reqwest::Identity::from_pem(pem)?);
    }
    Ok(b.build()?)
}

/// How one delivery attempt ended.
enum Delivery {
    Delivered,
    /// Refused as malformed: retrying cannot help.
    Rejected(String),
    /// Try again later.
    Retry(String),
}

async fn deliver(client: &reqwest::Client, u: &Upstream, item: &OutboxItem) -> Delivery {
    let path = match item.kind {
        OutboxKind::Report => "/api/v1/forward/reports",
        OutboxKind::Stats => "/api/v1/forward/stats",
    };
    let mut req = client
        .post(format!("{}{path}", u.url))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::CONTENT_ENCODING, "gzip")
        .header(RECEIVED_AT, rfc3339(item.created_at))
        .body(pakiti_service::gzip::compress(&item.payload));
    if let Some(t) = &u.token {
        req = req.bearer_auth(t);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            if status.is_success() {
                return Delivery::Delivered;
            }
            let body = error_body(resp).await;
            // 403 and 409 concern the sender (fix its credentials and retry)
            // unless the upstream says the refusal is about this report alone.
            let this_report = serde_json::from_str::<serde_json::Value>(&body)
                .is_ok_and(|v| v["scope"] == "report");
            match status.as_u16() {
                400 | 413 | 415 | 422 => Delivery::Rejected(format!("{status}: {body}")),
                403 | 409 if this_report => Delivery::Rejected(format!("{status}: {body}")),
                _ => Delivery::Retry(format!("{status}: {body}")),
            }
        }
        Err(e) => Delivery::Retry(format!("{e}")),
    }
}

/// The start of an error answer (at most 4 KiB), for logs.
async fn error_body(resp: reqwest::Response) -> String {
    let body = crate::bounded::read(resp, 4096).await.map(|(b, _)| b);
    String::from_utf8_lossy(&body.unwrap_or_default()).into_owned()
}

async fn blocking<T: std::marker::Send + 'static>(
    store: &Arc<dyn Store>,
    f: impl FnOnce(&dyn Store) -> Result<T, pakiti_store::StoreError> + std::marker::Send + 'static,
) -> Result<T, String> {
    let store = store.clone();
    match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Longest pause between delivery attempts while an upstream is down.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Forwards to one upstream until the process ends.
pub async fn run(state: AppState, u: Upstream) {
    let client = match client(&u) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(upstream = %u.url, error = %e, "cannot build the client for this upstream; nothing will be forwarded to it");
            return;
        }
    };
    let mut lease = Lease {
        name: format!("forward:{}", u.url),
        ttl: lease_ttl(&u),
        due: tokio::time::Instant::now(),
    };
    let idle = Duration::from_secs(1).min(u.interval);
    let mut next_stats = tokio::time::Instant::now();
    let mut link = Link::default();
    let mut dropped_seen: Option<(u64, u64)> = None;
    // The drop counters are looked at every ten seconds, not on every pass.
    let mut drops_due = tokio::time::Instant::now();
    loop {
        if !lease.hold(&state).await {
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        }
        if u.send == SendMode::Stats && tokio::time::Instant::now() >= next_stats {
            next_stats = tokio::time::Instant::now() + u.interval;
            queue_stats(&state, &u).await;
        }
        if tokio::time::Instant::now() >= drops_due {
            drops_due = tokio::time::Instant::now() + Duration::from_secs(10);
            report_drops(&state, &u, &mut dropped_seen).await;
        }
        let url = u.url.clone();
        let batch = match blocking(&state.store, move |s| s.outbox(&url, 64)).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(upstream = %u.url, error = %e, "could not read the outbox");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        let failed = deliver_batch(&state, &client, &u, &batch, &mut lease, &mut link).await;
        if failed {
            link.backoff = (link.backoff * 2).clamp(
                Duration::from_secs(1),
                MAX_BACKOFF.min(u.interval.max(Duration::from_secs(1))),
            );
            tokio::time::sleep(link.backoff).await;
        } else if batch.len() < 64 {
            tokio::time::sleep(idle).await;
        }
    }
}

/// How deliveries to one upstream go: since when they fail, and the wait
/// before the next try.
#[derive(Default)]
struct Link {
    failing_since: Option<SystemTime>,
    backoff: Duration,
}

/// Delivers a batch of the outbox in order, removing each item delivered or
/// refused for good; `true` when a delivery failed (the rest waits).
async fn deliver_batch(
    state: &AppState,
    client: &reqwest::Client,
    u: &Upstream,
    batch: &[OutboxItem],
    lease: &mut Lease,
    link: &mut Link,
) -> bool {
    for item in batch {
        // Renewed on time within a batch too: a batch of slow deliveries
        // must not outlive the lease and let another replica send the same items.
        if !lease.hold(state).await {
            tracing::info!(upstream = %u.url, "the forwarding lease went to another replica");
            break;
        }
        match deliver(client, u, item).await {
            Delivery::Delivered => {
                state
                    .health
                    .forwarded(&u.url, item.kind.as_str(), "delivered");
                if let Some(since) = link.failing_since.take() {
                    tracing::info!(upstream = %u.url, down_for_s = SystemTime::now().duration_since(since).unwrap_or_default().as_secs(), "upstream reachable again; delivering the queue");
                }
                link.backoff = Duration::ZERO;
            }
            Delivery::Rejected(why) => {
                state
                    .health
                    .forwarded(&u.url, item.kind.as_str(), "rejected");
                tracing::error!(upstream = %u.url, kind = item.kind.as_str(), reason = %why, "the upstream refused this item for good (malformed, or a report it may not accept from us); it is set aside and the queue goes on");
            }
            Delivery::Retry(why) => {
                state.health.forwarded(&u.url, item.kind.as_str(), "failed");
                if link.failing_since.is_none() {
                    link.failing_since = Some(SystemTime::now());
                    tracing::warn!(upstream = %u.url, reason = %why, "cannot deliver to the upstream; items wait in the queue and are retried");
                } else {
                    tracing::debug!(upstream = %u.url, reason = %why, "delivery failed again");
                }
                return true;
            }
        }
        let id = item.id;
        if let Err(e) = blocking(&state.store, move |s| s.outbox_remove(&[id])).await {
            tracing::warn!(upstream = %u.url, error = %e, "could not remove a delivered item; it may be sent twice");
        }
    }
    false
}

/// This replica's hold on delivering to one upstream (among replicas sharing
/// PostgreSQL), renewed a third of the way through its life.
struct Lease {
    name: String,
    ttl: Duration,
    due: tokio::time::Instant,
}

impl Lease {
    /// Whether this replica holds the lease, renewing it when due.
    async fn hold(&mut self, state: &AppState) -> bool {
        if tokio::time::Instant::now() < self.due {
            return true;
        }
        let (owner, name, ttl) = (state.instance.clone(), self.name.clone(), self.ttl);
        let mine = blocking(&state.store, move |s| s.claim(&name, &owner, ttl)).await;
        if matches!(mine, Ok(true)) {
            self.due = tokio::time::Instant::now() + self.ttl / 3;
            true
        } else {
            false
        }
    }
}

/// Queues the per-site statistics of the fleet for a `stats` upstream.
async fn queue_stats(state: &AppState, u: &Upstream) {
    match crate::read::all_hosts(state).await {
        Ok(hosts) => {
            let now = SystemTime::now();
            let stats = site_stats(&hosts, now, state.settings.stale_after);
            let payload = serde_json::to_vec(&stats_doc(&stats, now)).unwrap_or_default();
            let item = Outgoing {
                upstream: u.url.clone(),
                kind: OutboxKind::Stats,
                payload,
                cap: u.max_queued,
                cap_bytes: u.max_queued_bytes,
            };
            if let Err(e) = blocking(&state.store, move |s| s.enqueue(&[item])).await {
                tracing::warn!(upstream = %u.url, error = %e, "could not queue statistics");
            }
        }
        Err(e) => {
            tracing::warn!(upstream = %u.url, error = %e.message, "could not read the fleet for statistics")
        }
    }
}

/// How long this replica's hold on an upstream lasts. It is renewed a third
/// of the way through, before each delivery, so it must outlast a third plus
/// one request's timeout: at least three timeouts, two intervals, 30 s.
fn lease_ttl(u: &Upstream) -> Duration {
    Duration::from_secs(30)
        .max(u.interval * 2)
        .max(u.timeout * 3)
}

/// Logs when the cap dropped items since the last look.
async fn report_drops(state: &AppState, u: &Upstream, seen: &mut Option<(u64, u64)>) {
    let Ok(all) = blocking(&state.store, |s| s.outbox_status()).await else {
        return;
    };
    let now = all
        .iter()
        .find(|s| s.upstream == u.url)
        .map_or((0, 0), |s| (s.dropped_stats, s.dropped_reports));
    if let Some(before) = *seen {
        if now.0 > before.0 || now.1 > before.1 {
            tracing::warn!(
                upstream = %u.url,
                statistics_dropped = now.0 - before.0,
                reports_dropped = now.1 - before.1,
                max_queued = u.max_queued,
                "the queue for the upstream is full: the oldest items were dropped"
            );
        }
    }
    *seen = Some(now);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_outlasts_a_renewal_period_and_one_request() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("t");
        std::fs::write(&token, "x\n").unwrap();
        let settings = |extra: &str| {
            let file: crate::config::File = toml::from_str(&format!(
                "[[upstream]]\nurl = \"http://127.0.0.1:1\"\nsend = \"reports\"\ntoken_file = \"{}\"\n{extra}",
                token.display()
            ))
            .unwrap();
            crate::config::Settings::from_file(&file).unwrap()
        };
        for extra in [
            "",
            "interval = \"1s\"\ntimeout = \"2m\"\n",
            "interval = \"1h\"\n",
        ] {
            let s = settings(extra);
            let u = &s.upstreams[0];
            let ttl = lease_ttl(u);
            assert!(
                ttl / 3 + u.timeout < ttl,
                "{extra}: {ttl:?} vs {:?}",
                u.timeout
            );
            assert!(
                ttl >= u.interval * 2 && ttl >= Duration::from_secs(30),
                "{extra}"
            );
        }
    }

    #[test]
    fn statistics_survive_their_document() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let s = SiteStats {
            site: "SiteA".into(),
            generated_at: Some(now),
            hosts: 3,
            hosts_pending: 2,
            hosts_security: [1, 0, 2, 0, 0],
            hosts_reboot: 1,
            hosts_stale: 0,
            updates_pending: 17,
            security_updates: [1, 0, 4, 0, 0],
            oldest_security_since: Some(now - Duration::from_secs(86400)),
        };
        let bytes = serde_json::to_vec(&stats_doc(std::slice::from_ref(&s), now)).unwrap();
        assert_eq!(read_stats(&bytes).unwrap(), vec![s]);
    }

    #[test]
    fn bad_statistics_are_refused_with_a_reason() {
        let good = r#"{"schema_version":1,"generated_at":"2026-11-26T10:00:00Z","sites":[]}"#;
        assert!(read_stats(good.as_bytes()).unwrap().is_empty());
        for (doc, want) in [
            (
                r#"{"schema_version":2,"generated_at":"2026-11-26T10:00:00Z","sites":[]}"#,
                "schema_version 2",
            ),
            (
                r#"{"schema_version":1,"generated_at":"yesterday","sites":[]}"#,
                "RFC 3339",
            ),
            (
                r#"{"schema_version":1,"generated_at":"2026-11-26T10:00:00Z","sites":[],"extra":1}"#,
                "unknown field",
            ),
            ("[]", "not a statistics document"),
        ] {
            let e = read_stats(doc.as_bytes()).unwrap_err();
            assert!(e.contains(want), "{doc}: {e}");
        }
        let site = r#"{"site":"A","hosts":1,"hosts_with_pending_updates":0,"hosts_with_security_updates":{"critical":0,"important":0,"moderate":0,"low":0,"unknown":0},"hosts_reboot_required":0,"hosts_stale":0,"updates_pending":0,"security_updates_pending":{"critical":0,"important":0,"moderate":0,"low":0,"unknown":0}}"#;
        let twice = format!(
            r#"{{"schema_version":1,"generated_at":"2026-11-26T10:00:00Z","sites":[{site},{site}]}}"#
        );
        assert!(read_stats(twice.as_bytes()).unwrap_err().contains("twice"));
        let spaced = twice.replacen(r#""site":"A""#, r#""site":"A B""#, 1);
        assert!(read_stats(spaced.as_bytes())
            .unwrap_err()
            .contains("white space"));
    }
}
