//! The Prometheus text exposition of a snapshot. The only module that knows
//! the exporter's metric names; the aggregator's `/federate` repeats the
//! family names documented in PRODUCT.md.

use pakiti_report::Severity;

use crate::config::UpdateInfo;
use crate::snapshot::Snapshot;
use pakiti_report::{LivePatch, Restart};

use pakiti_service::exposition::{bool_value, seconds, Exposition, Format};

const CACHED: &str =
    "(latest successful collection; collections run on a schedule, not per scrape)";

/// What the latest report says of the host's packages.
fn inventory_families(m: &mut Exposition, inv: &pakiti_report::Inventory, update_info: UpdateInfo) {
    m.gauge(
        "pakiti_updates_pending",
        &format!("Installed packages with a newer candidate version {CACHED}."),
        inv.updates.len() as f64,
    );
    m.family(
        "pakiti_security_updates_pending",
        "gauge",
        &format!("Pending updates that fix security issues, by severity {CACHED}."),
    );
    for sev in Severity::ALL {
        m.sample(
            "pakiti_security_updates_pending",
            &[("severity", sev.as_str())],
            inv.security_count(sev) as f64,
        );
    }
    m.gauge(
        "pakiti_updates_held",
        &format!("Pending updates that are held, pinned, kept back or phased {CACHED}."),
        inv.held_count() as f64,
    );
    m.family(
        "pakiti_security_updates_held",
        "gauge",
        &format!("Security updates among the held, kept-back or phased ones, by severity: fixes that will not install by themselves {CACHED}."),
    );
    for sev in Severity::ALL {
        let held = inv
            .updates
            .iter()
            .filter(|u| u.is_held() && u.security == Some(sev))
            .count();
        m.sample(
            "pakiti_security_updates_held",
            &[("severity", sev.as_str())],
            held as f64,
        );
    }
    if let Some(list) = &inv.unentitled {
        unentitled_families(m, list);
    }
    m.gauge(
        "pakiti_reboot_required",
        &format!("1 when the host must reboot to run what is installed {CACHED}."),
        bool_value(inv.reboot.required),
    );
    update_series(m, inv, update_info);
    m.gauge(
        "pakiti_installed_packages",
        &format!("Installed packages {CACHED}."),
        inv.installed_packages as f64,
    );
    m.gauge(
        "pakiti_security_metadata_available",
        &format!("1 when the repositories carry security metadata; 0 explains a security count of 0 {CACHED}."),
        bool_value(inv.security_metadata_available),
    );
    if let Some(t) = inv.metadata_updated_at {
        m.gauge(
            "pakiti_package_metadata_timestamp_seconds",
            &format!(
                "When the package lists were last refreshed, in seconds since the epoch {CACHED}."
            ),
            seconds(t),
        );
    }
}

/// The channels a fix may be behind; each always has its series where the
/// exporter can see them.
pub const ENTITLEMENT_CHANNELS: [&str; 2] = ["esm-infra", "esm-apps"];

/// Fixes only a channel the host is not entitled to offers, by channel.
fn unentitled_families(m: &mut Exposition, list: &[pakiti_report::Unentitled]) {
    let mut channels: Vec<&str> = ENTITLEMENT_CHANNELS.to_vec();
    for u in list {
        if !channels.contains(&u.channel.as_str()) {
            channels.push(&u.channel);
        }
    }
    for (name, help, security_only) in [
        (
            "pakiti_updates_unentitled",
            "Installed packages with a newer version only in a channel the host is not entitled to (Ubuntu Pro's ESM when not attached), by channel; not among the pending updates",
            false,
        ),
        (
            "pakiti_security_updates_unentitled",
            "The security fixes among them, by channel",
            true,
        ),
    ] {
        m.family(name, "gauge", &format!("{help} {CACHED}."));
        for ch in &channels {
            let n = list
                .iter()
                .filter(|u| u.channel == *ch && (u.security || !security_only))
                .count();
            m.sample(name, &[("channel", ch)], n as f64);
        }
    }
}

/// One series per pending update (all, or security ones), as asked.
fn update_series(m: &mut Exposition, inv: &pakiti_report::Inventory, update_info: UpdateInfo) {
    if update_info != UpdateInfo::None {
        m.family(
            "pakiti_update_info",
            "gauge",
            &format!(
                "One series per pending update ({} updates listed) {CACHED}.",
                match update_info {
                    UpdateInfo::All => "all",
                    _ => "security",
                }
            ),
        );
        for u in &inv.updates {
            if update_info == UpdateInfo::Security && !u.is_security() {
                continue;
            }
            m.sample(
                "pakiti_update_info",
                &[
                    ("package", &u.name),
                    ("arch", &u.arch),
                    ("installed_version", &u.installed_version),
                    ("candidate_version", &u.candidate_version),
                    ("security", if u.is_security() { "true" } else { "false" }),
                    ("severity", u.security.map_or("none", Severity::as_str)),
                ],
                1.0,
            );
        }
    }
}

/// Processes running code that an upgrade deleted or replaced.
fn restart_families(m: &mut Exposition, r: &Restart) {
    const SCAN: &str = "(latest look through /proc, after the latest successful collection)";
    m.gauge(
        "pakiti_restart_required_processes",
        &format!(
            "Processes running a library or executable that an upgrade deleted or replaced {SCAN}."
        ),
        f64::from(r.processes),
    );
    m.gauge(
        "pakiti_restart_required_units",
        &format!("Systemd services among them, to restart {SCAN}."),
        r.units.len() as f64,
    );
    m.gauge(
        "pakiti_restart_required_sessions",
        &format!("User sessions and user managers among them: log out and in {SCAN}."),
        f64::from(r.sessions),
    );
    m.gauge(
        "pakiti_restart_unreadable_processes",
        &format!("Processes the look could not read (another user's, without root): unknown, not clean {SCAN}."),
        f64::from(r.unreadable),
    );
    if !r.units.is_empty() {
        m.family(
            "pakiti_restart_required_unit_info",
            "gauge",
            &format!("One series per service to restart, with the packages whose files it runs outdated {SCAN}."),
        );
        for u in &r.units {
            m.sample(
                "pakiti_restart_required_unit_info",
                &[("unit", &u.unit), ("packages", &u.packages.join(","))],
                1.0,
            );
        }
    }
}

/// The running kernel's live patches.
fn livepatch_families(m: &mut Exposition, patches: &[LivePatch]) {
    const SEEN: &str =
        "(the kernel's /sys/kernel/livepatch, after the latest successful collection)";
    m.gauge(
        "pakiti_kernel_livepatches",
        &format!("Live patches loaded and enabled in the running kernel: fixes it runs without a reboot {SEEN}."),
        patches.iter().filter(|p| p.enabled).count() as f64,
    );
    if !patches.is_empty() {
        m.family(
            "pakiti_kernel_livepatch_info",
            "gauge",
            &format!("One series per live patch loaded, whether enabled and whether still being applied {SEEN}."),
        );
        for p in patches {
            m.sample(
                "pakiti_kernel_livepatch_info",
                &[
                    ("patch", &p.name),
                    ("enabled", if p.enabled { "true" } else { "false" }),
                    ("transition", if p.transition { "true" } else { "false" }),
                ],
                1.0,
            );
        }
    }
}

/// Renders the snapshot in the text format, whole (`collect`, `textfile`).
pub fn render(snap: &Snapshot, update_info: UpdateInfo) -> String {
    snapshot_families(Format::Text, snap, update_info).finish()
}

/// The snapshot's families in `format`, without the end an OpenMetrics
/// exposition needs: `/metrics` adds the exporter's own health after them.
pub fn render_part(format: Format, snap: &Snapshot, update_info: UpdateInfo) -> String {
    snapshot_families(format, snap, update_info).finish_part()
}

/// The snapshot's families. Built fresh each time from the snapshot alone: a
/// package no longer pending has no series, and counts are absent (not 0)
/// until a collection has succeeded.
fn snapshot_families(format: Format, snap: &Snapshot, update_info: UpdateInfo) -> Exposition {
    let mut m = Exposition::new(
        format,
        4096 + snap
            .report
            .as_ref()
            .map_or(0, |r| r.inventory.updates.len() * 200),
    );

    if let Some(report) = &snap.report {
        inventory_families(&mut m, &report.inventory, update_info);
    }
    if let Some(report) = &snap.report {
        let running = &report.inventory.running;
        if let Some(r) = &running.restart {
            restart_families(&mut m, r);
        }
        if let Some(patches) = &running.livepatches {
            livepatch_families(&mut m, patches);
        }
        if let Some(state) = &running.livepatch_state {
            m.family(
                "pakiti_kernel_livepatch_service_info",
                "gauge",
                "1, with the live-patch service's own state for the running kernel (Canonical Livepatch's patchState: applied, nothing-to-apply, unapplied, apply-failed, kernel-upgrade-required, …); absent where no service answers.",
            );
            m.sample(
                "pakiti_kernel_livepatch_service_info",
                &[("service", "canonical-livepatch"), ("state", state)],
                1.0,
            );
        }
    }

    if let Some(a) = &snap.last_attempt {
        m.gauge(
            "pakiti_last_collection_timestamp_seconds",
            "When the latest collection attempt started, in seconds since the epoch.",
            seconds(a.started_at),
        );
        m.gauge(
            "pakiti_collection_duration_seconds",
            "How long the latest collection attempt took.",
            a.duration.as_secs_f64(),
        );
        m.gauge(
            "pakiti_collection_success",
            "1 when the latest collection attempt succeeded.",
            bool_value(a.error.is_none()),
        );
    }

    let host = &snap.host;
    if let Some(w) = &host.support {
        m.family(
            "pakiti_os_support_end_timestamp_seconds",
            "gauge",
            "When the host's release stops getting security fixes: standard support, and the extended programme after it (program: LTS, ESM, ELS, LTSS), in seconds since the epoch. Absent for a release pakiti knows no window of.",
        );
        m.sample(
            "pakiti_os_support_end_timestamp_seconds",
            &[("kind", "standard")],
            seconds(w.standard_end),
        );
        if let Some((program, end)) = &w.extended {
            m.sample(
                "pakiti_os_support_end_timestamp_seconds",
                &[("kind", "extended"), ("program", program)],
                seconds(*end),
            );
        }
    }
    m.family(
        "pakiti_host_info",
        "gauge",
        "The host's operating system, kernel and package manager.",
    );
    m.sample(
        "pakiti_host_info",
        &[
            ("os_id", &host.os.id),
            ("os_version", &host.os.version),
            ("kernel", &host.kernel),
            ("manager", host.manager.map_or("unknown", |m| m.as_str())),
        ],
        1.0,
    );
    m.family(
        "pakiti_exporter_build_info",
        "gauge",
        "The exporter's version and source revision.",
    );
    m.sample(
        "pakiti_exporter_build_info",
        &[("version", crate::VERSION), ("revision", crate::REVISION)],
        1.0,
    );
    m
}

/// Upper bounds of the HTTP request histogram, seconds: `/metrics` and the
/// report are copies of what the scheduler rendered (well under a
/// millisecond on this machine); the upper buckets catch a slow client or
/// TLS handshake.
const HTTP_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// The exporter's own health, kept by the `prometheus` crate: HTTP requests
/// by route and code, collections and pushes by result, and the process
/// (CPU, memory, open file descriptors, start time, as every Prometheus
/// client library names them). Served by `serve` only: `collect` and
/// `textfile` describe the host, not a process that has ended.
pub struct Own {
    registry: prometheus::Registry,
    pub http: pakiti_httpserver::scrape::RequestMetrics,
    collections: prometheus::IntCounterVec,
    pushes: prometheus::IntCounterVec,
}

impl Own {
    pub fn new() -> Own {
        let registry = prometheus::Registry::new();
        let http = pakiti_httpserver::scrape::RequestMetrics::register(
            &registry,
            "pakiti_exporter_http_requests_total",
            "pakiti_exporter_http_request_duration_seconds",
            HTTP_BUCKETS.to_vec(),
        )
        .expect("fixed, valid and unique metric names");
        let counter = |name: &str, help: &str| {
            let c = prometheus::IntCounterVec::new(prometheus::Opts::new(name, help), &["result"])
                .expect("a fixed, valid metric name");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            c
        };
        let collections = counter(
            "pakiti_exporter_collections_total",
            "Collections run since the exporter started, by result (success, failure).",
        );
        let pushes = counter(
            "pakiti_exporter_pushes_total",
            "Reports pushed to the configured aggregators since the exporter started, by result (delivered: every aggregator took it; failed: one did not, after retries).",
        );
        for result in ["success", "failure"] {
            collections.with_label_values(&[result]);
        }
        for result in ["delivered", "failed"] {
            pushes.with_label_values(&[result]);
        }
        // The process collector reads /proc/self; where there is none it
        // has nothing to say, and the exporter serves on without it.
        let process = prometheus::process_collector::ProcessCollector::for_self();
        if let Err(e) = registry.register(Box::new(process)) {
            tracing::debug!(error = %e, "no process metrics");
        }
        Own {
            registry,
            http,
            collections,
            pushes,
        }
    }

    pub fn collection(&self, ok: bool) {
        self.collections
            .with_label_values(&[if ok { "success" } else { "failure" }])
            .inc();
    }

    pub fn push(&self, delivered: bool) {
        self.pushes
            .with_label_values(&[if delivered { "delivered" } else { "failed" }])
            .inc();
    }

    /// The own families in `format`, ended (OpenMetrics' `# EOF`): they
    /// come last in `/metrics`.
    pub fn render_end(&self, format: Format) -> String {
        let mut m = Exposition::new(format, 4096);
        m.families(&self.registry.gather());
        m.finish()
    }
}

impl Default for Own {
    fn default() -> Self {
        Own::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{tests::sample_report, Attempt, HostFacts};
    use std::time::{Duration, SystemTime};

    fn snapshot(report: bool, error: Option<&str>) -> Snapshot {
        let r = sample_report();
        Snapshot {
            host: HostFacts::from_report(&r),
            last_attempt: Some(Attempt {
                started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_165_000),
                duration: Duration::from_millis(734),
                error: error.map(str::to_string),
            }),
            report: report.then_some(r),
        }
    }

    #[test]
    fn full_exposition() {
        // The revision changes with every commit (and is "unknown" outside a
        // git checkout): it is redacted where it stands, the build info's
        // revision label, and the snapshot pins the rest.
        let text = render(&snapshot(true, None), UpdateInfo::All);
        insta::assert_snapshot!(redact_revision(&text));
    }

    fn redact_revision(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            match line
                .strip_prefix("pakiti_exporter_build_info{")
                .and_then(|rest| rest.find("revision=\"").map(|i| (rest, i)))
            {
                Some((rest, i)) => {
                    let start = "pakiti_exporter_build_info{".len() + i + "revision=\"".len();
                    let end = start + rest[i + "revision=\"".len()..].find('"').unwrap_or(0);
                    out.push_str(&line[..start]);
                    out.push_str("REVISION");
                    out.push_str(&line[end..]);
                }
                None => out.push_str(line),
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn the_revision_is_redacted_where_it_stands_only() {
        let text = "pakiti_security_updates_pending{severity=\"unknown\"} 1\npakiti_exporter_build_info{version=\"0.1.0\",revision=\"unknown\"} 1\n";
        assert_eq!(
            redact_revision(text),
            "pakiti_security_updates_pending{severity=\"unknown\"} 1\npakiti_exporter_build_info{version=\"0.1.0\",revision=\"REVISION\"} 1\n"
        );
    }

    #[test]
    fn security_mode_lists_only_security_updates() {
        let text = render(&snapshot(true, None), UpdateInfo::Security);
        assert_eq!(text.matches("pakiti_update_info{").count(), 1);
        let text = render(&snapshot(true, None), UpdateInfo::None);
        assert!(!text.contains("pakiti_update_info"));
    }

    #[test]
    fn no_invented_zeros_before_the_first_success() {
        let text = render(&snapshot(false, Some("apt-get failed")), UpdateInfo::All);
        assert!(!text.contains("pakiti_updates_pending"));
        assert!(!text.contains("pakiti_security_updates_pending"));
        assert!(text.contains("pakiti_collection_success 0\n"));
        assert!(text.contains("pakiti_host_info{"));
    }

    #[test]
    fn restart_families_count_units_sessions_and_name_packages() {
        let mut snap = snapshot(true, None);
        let unit = |u: &str, p: &[&str]| pakiti_report::RestartUnit {
            unit: u.into(),
            packages: p.iter().map(|s| s.to_string()).collect(),
        };
        snap.report.as_mut().unwrap().inventory.running.restart = Some(Restart {
            processes: 4,
            sessions: 1,
            unreadable: 2,
            units: vec![
                unit("cron.service", &[]),
                unit("nginx.service", &["libc6", "libssl3"]),
            ],
        });
        let text = render(&snap, UpdateInfo::Security);
        for line in [
            "pakiti_restart_required_processes 4\n",
            "pakiti_restart_required_units 2\n",
            "pakiti_restart_required_sessions 1\n",
            "pakiti_restart_unreadable_processes 2\n",
            "pakiti_restart_required_unit_info{unit=\"cron.service\",packages=\"\"} 1\n",
            "pakiti_restart_required_unit_info{unit=\"nginx.service\",packages=\"libc6,libssl3\"} 1\n",
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
        // No look, no counts: absent, not 0.
        assert!(!render(&snapshot(true, None), UpdateInfo::Security).contains("pakiti_restart"));
    }

    #[test]
    fn held_security_updates_are_counted_by_severity() {
        let mut snap = snapshot(true, None);
        let inv = &mut snap.report.as_mut().unwrap().inventory;
        let held = inv.updates.iter().position(|u| u.is_held()).unwrap();
        assert!(inv.updates[held].security.is_none());
        let text = render(&snap, UpdateInfo::Security);
        assert!(text.contains("pakiti_security_updates_held{severity=\"critical\"} 0\n"));
        let inv = &mut snap.report.as_mut().unwrap().inventory;
        inv.updates[held].security = Some(Severity::Critical);
        let text = render(&snap, UpdateInfo::Security);
        assert!(
            text.contains("pakiti_security_updates_held{severity=\"critical\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("pakiti_security_updates_held{severity=\"unknown\"} 0\n"));
    }

    #[test]
    fn fixes_behind_an_entitlement_are_counted_by_channel() {
        let mut snap = snapshot(true, None);
        assert!(
            !render(&snap, UpdateInfo::Security).contains("unentitled"),
            "not seen: absent"
        );
        let fix = |name: &str, channel: &str, security: bool| pakiti_report::Unentitled {
            name: name.into(),
            arch: "amd64".into(),
            installed_version: "1.0-1".into(),
            version: "1.0-1+esm1".into(),
            channel: channel.into(),
            security,
        };
        let inv = &mut snap.report.as_mut().unwrap().inventory;
        inv.unentitled = Some(vec![]);
        let text = render(&snap, UpdateInfo::Security);
        for line in [
            "pakiti_updates_unentitled{channel=\"esm-infra\"} 0\n",
            "pakiti_updates_unentitled{channel=\"esm-apps\"} 0\n",
            "pakiti_security_updates_unentitled{channel=\"esm-apps\"} 0\n",
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
        let inv = &mut snap.report.as_mut().unwrap().inventory;
        let pending_before = inv.updates.len();
        inv.unentitled = Some(vec![
            fix("curl", "esm-infra", true),
            fix("tzdata", "esm-infra", false),
            fix("vim", "esm-apps", true),
        ]);
        let text = render(&snap, UpdateInfo::Security);
        for line in [
            "pakiti_updates_unentitled{channel=\"esm-infra\"} 2\n",
            "pakiti_security_updates_unentitled{channel=\"esm-infra\"} 1\n",
            "pakiti_updates_unentitled{channel=\"esm-apps\"} 1\n",
            "pakiti_security_updates_unentitled{channel=\"esm-apps\"} 1\n",
            &format!("pakiti_updates_pending {pending_before}\n"),
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
    }

    #[test]
    fn live_patches_are_counted_and_named() {
        let mut snap = snapshot(true, None);
        let text = render(&snap, UpdateInfo::Security);
        assert!(!text.contains("livepatch"), "no interface, no series");
        let running = &mut snap.report.as_mut().unwrap().inventory.running;
        running.livepatches = Some(vec![]);
        assert!(render(&snap, UpdateInfo::Security).contains("pakiti_kernel_livepatches 0\n"));
        snap.report.as_mut().unwrap().inventory.running.livepatches = Some(vec![
            LivePatch {
                name: "lkp_Ubuntu_5_15_0_91_101_generic_109".into(),
                enabled: true,
                transition: false,
            },
            LivePatch {
                name: "kpatch_old".into(),
                enabled: false,
                transition: false,
            },
        ]);
        let text = render(&snap, UpdateInfo::Security);
        assert!(text.contains("pakiti_kernel_livepatches 1\n"), "{text}");
        assert!(text.contains("pakiti_kernel_livepatch_info{patch=\"kpatch_old\",enabled=\"false\",transition=\"false\"} 1\n"), "{text}");
        let running = &mut snap.report.as_mut().unwrap().inventory.running;
        running.livepatch_state = Some("unapplied".into());
        let text = render(&snap, UpdateInfo::Security);
        assert!(
            text.contains("pakiti_kernel_livepatch_service_info{service=\"canonical-livepatch\",state=\"unapplied\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn the_support_window_is_exposed_where_known() {
        let mut snap = snapshot(true, None);
        snap.host.support = None;
        assert!(!render(&snap, UpdateInfo::Security).contains("pakiti_os_support"));
        snap.host.support = pakiti_vulns::support::shipped()
            .find("debian", "12")
            .cloned();
        let text = render(&snap, UpdateInfo::Security);
        assert!(
            text.contains(
                "pakiti_os_support_end_timestamp_seconds{kind=\"standard\"} 1781049600\n"
            ),
            "{text}"
        );
        assert!(text.contains("pakiti_os_support_end_timestamp_seconds{kind=\"extended\",program=\"LTS\"} 1845936000\n"), "{text}");
    }
}
