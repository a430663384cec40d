//! The fleet for `/federate`: one series per host and family (the exporter's
//! family names with `host` and `site`), then the per-site statistics that
//! downstream servers forward.

use pakiti_report::Severity;
use pakiti_store::{HostSummary, SiteStats, StoredSiteStats};

use pakiti_service::exposition::{bool_value, seconds, Exposition};

/// The fleet: one series per host and family, then the per-site statistics
/// forwarded by downstream servers.
/// Written into `m` (which may filter or stream).
pub fn federate_into(
    m: &mut Exposition,
    hosts: &[HostSummary],
    sites: &[StoredSiteStats],
    decided: &Decided,
) {
    let hosts = one_per_series(hosts);
    host_gauges(m, &hosts);
    security_families(m, &hosts);
    info_families(m, &hosts);
    vulnerability_families(m, &hosts, decided);
    watched_families(m, decided);
    event_families(m, decided);
    running_families(m, &hosts);
    unentitled_families(m, &hosts);
    support_families(m, &hosts);
    federate_sites(m, sites);
}

/// When each host's release stops getting security fixes (pakiti's shipped
/// support windows); no series for a release it knows no window of.
fn support_families(m: &mut Exposition, hosts: &[&HostSummary]) {
    m.family(
        "pakiti_os_support_end_timestamp_seconds",
        "gauge",
        "When the host's release stops getting security fixes: standard support, and the extended programme after it (program: LTS, ESM, ELS, LTSS), in seconds since the epoch. Absent for a release pakiti knows no window of.",
    );
    let windows = pakiti_vulns::support::shipped();
    for h in hosts {
        let Some(w) = windows.find(&h.os_id, &h.os_version) else {
            continue;
        };
        let site = site_of(h);
        m.sample(
            "pakiti_os_support_end_timestamp_seconds",
            &[("host", &h.hostname), ("site", &site), ("kind", "standard")],
            seconds(w.standard_end),
        );
        if let Some((program, end)) = &w.extended {
            m.sample(
                "pakiti_os_support_end_timestamp_seconds",
                &[
                    ("host", &h.hostname),
                    ("site", &site),
                    ("kind", "extended"),
                    ("program", program),
                ],
                seconds(*end),
            );
        }
    }
}

/// What each host runs beside what it has installed: processes running
/// replaced code and the services and sessions among them, the kernel's
/// live patches. No series where the host's exporter did not say (unknown,
/// not none).
fn running_families(m: &mut Exposition, hosts: &[&HostSummary]) {
    let families: [(&str, &str, Count); 4] = [
        (
            "pakiti_restart_required_processes",
            "Processes running a library or executable that an upgrade deleted or replaced, per host (latest report).",
            |h| h.running.restart.map(|r| r.processes),
        ),
        (
            "pakiti_restart_required_units",
            "Systemd services among them, to restart, per host (latest report).",
            |h| h.running.restart.map(|r| r.units),
        ),
        (
            "pakiti_restart_required_sessions",
            "User sessions and user managers among them, per host (latest report).",
            |h| h.running.restart.map(|r| r.sessions),
        ),
        (
            "pakiti_kernel_livepatches",
            "Live patches loaded and enabled in the host's running kernel (latest report).",
            |h| h.running.livepatches,
        ),
    ];
    optional_counts(m, hosts, &families);
}

/// Fixes only a channel the host is not entitled to offers (the exporter's
/// families, summed over its `channel` label). No series where the host's
/// exporter cannot see such channels.
fn unentitled_families(m: &mut Exposition, hosts: &[&HostSummary]) {
    let families: [(&str, &str, Count); 2] = [
        (
            "pakiti_updates_unentitled",
            "Installed packages with a newer version only in a channel the host is not entitled to (Ubuntu Pro's ESM when not attached), per host, all channels (latest report).",
            |h| h.unentitled.map(|u| u.updates),
        ),
        (
            "pakiti_security_updates_unentitled",
            "The security fixes among them, per host, all channels (latest report).",
            |h| h.unentitled.map(|u| u.security),
        ),
    ];
    optional_counts(m, hosts, &families);
}

/// A count per host and family, where the host's exporter said it (no
/// series otherwise: unknown, not none).
type Count = fn(&HostSummary) -> Option<u32>;

fn optional_counts(m: &mut Exposition, hosts: &[&HostSummary], families: &[(&str, &str, Count)]) {
    for (name, help, count) in families {
        m.family(name, "gauge", help);
        for h in hosts {
            if let Some(n) = count(h) {
                m.sample(
                    name,
                    &[("host", &h.hostname), ("site", &site_of(h))],
                    f64::from(n),
                );
            }
        }
    }
}

fn site_of(h: &HostSummary) -> String {
    h.site.as_deref().unwrap_or_default().to_string()
}

/// One gauge per host: pending and held updates, reboot, last report.
fn host_gauges(m: &mut Exposition, hosts: &[&HostSummary]) {
    type Value = fn(&HostSummary) -> f64;
    let simple: [(&str, &str, Value); 4] = [
        (
            "pakiti_updates_pending",
            "Installed packages with a newer candidate version, per host (latest report).",
            |h| h.counts.pending as f64,
        ),
        (
            "pakiti_updates_held",
            "Pending updates that are held, pinned, kept back or phased, per host (latest report).",
            |h| h.counts.held as f64,
        ),
        (
            "pakiti_reboot_required",
            "1 when the host must reboot to run what is installed (latest report).",
            |h| bool_value(h.counts.reboot_required),
        ),
        (
            "pakiti_last_report_timestamp_seconds",
            "When the aggregator last received a report from the host.",
            |h| seconds(h.last_report_at),
        ),
    ];
    for (name, help, value) in simple {
        m.family(name, "gauge", help);
        for h in hosts {
            m.sample(
                name,
                &[("host", &h.hostname), ("site", &site_of(h))],
                value(h),
            );
        }
    }
}

/// Pending security updates per host and severity, and how long they wait.
fn security_families(m: &mut Exposition, hosts: &[&HostSummary]) {
    m.family(
        "pakiti_security_updates_pending",
        "gauge",
        "Pending updates that fix security issues, per host and severity (latest report).",
    );
    for h in hosts {
        let s = site_of(h);
        for sev in Severity::ALL {
            m.sample(
                "pakiti_security_updates_pending",
                &[
                    ("host", &h.hostname),
                    ("site", &s),
                    ("severity", sev.as_str()),
                ],
                h.counts.security(sev) as f64,
            );
        }
    }
    m.family(
        "pakiti_security_updates_held",
        "gauge",
        "Security updates among the held, kept-back or phased ones, per host and severity: fixes that will not install by themselves (latest report).",
    );
    for h in hosts {
        let s = site_of(h);
        for (i, sev) in Severity::ALL.iter().enumerate() {
            m.sample(
                "pakiti_security_updates_held",
                &[
                    ("host", &h.hostname),
                    ("site", &s),
                    ("severity", sev.as_str()),
                ],
                f64::from(h.held_security[i]),
            );
        }
    }
    m.family(
        "pakiti_security_update_pending_since_timestamp_seconds",
        "gauge",
        "First time the oldest still pending security update was seen pending on the host; absent when none is pending.",
    );
    for h in hosts {
        if let Some(t) = h.security_pending_since {
            m.sample(
                "pakiti_security_update_pending_since_timestamp_seconds",
                &[("host", &h.hostname), ("site", &site_of(h))],
                seconds(t),
            );
        }
    }
    m.family(
        "pakiti_security_update_severity_pending_since_timestamp_seconds",
        "gauge",
        "First time the oldest still pending security update of this severity was seen pending on the host; absent for severities with none pending. Patch deadlines count from here.",
    );
    for h in hosts {
        let s = site_of(h);
        for (sev, since) in Severity::ALL.iter().zip(h.security_since_by_severity) {
            if let Some(t) = since {
                m.sample(
                    "pakiti_security_update_severity_pending_since_timestamp_seconds",
                    &[
                        ("host", &h.hostname),
                        ("site", &s),
                        ("severity", sev.as_str()),
                    ],
                    seconds(t),
                );
            }
        }
    }
}

/// The exporter's build and the host's system, as info series.
fn info_families(m: &mut Exposition, hosts: &[&HostSummary]) {
    m.family(
        "pakiti_exporter_build_info",
        "gauge",
        "The version and revision of the exporter that sent the host's latest report.",
    );
    for h in hosts {
        m.sample(
            "pakiti_exporter_build_info",
            &[
                ("host", &h.hostname),
                ("site", &site_of(h)),
                ("version", &h.exporter_version),
                ("revision", &h.exporter_revision),
            ],
            1.0,
        );
    }
    m.family(
        "pakiti_host_info",
        "gauge",
        "The host's operating system, kernel and package manager.",
    );
    for h in hosts {
        m.sample(
            "pakiti_host_info",
            &[
                ("host", &h.hostname),
                ("site", &site_of(h)),
                ("os_id", &h.os_id),
                ("os_version", &h.os_version),
                ("kernel", &h.kernel),
                ("manager", &h.manager),
            ],
            1.0,
        );
    }
}

/// What operators decided, as `/federate` shows it.
#[derive(Debug, Default)]
pub struct Decided {
    /// Per host id: its open findings exceptions cover (they leave
    /// `pakiti_vulnerabilities`).
    pub excepted: std::collections::HashMap<i64, pakiti_store::VulnCounts>,
    /// The watch set: KEV-listed and tagged vulnerabilities some host is
    /// exposed to (at most [`MAX_WATCHED`]).
    pub watched: Vec<Watched>,
    /// Per host id: open findings past their deadline, by severity in
    /// `Severity::ALL` order (`None`: not known, no series).
    pub past_deadline: Option<std::collections::HashMap<i64, [u32; 5]>>,
    /// Findings detected and resolved since the database began, by severity.
    pub events: Vec<(Severity, u64, u64)>,
}

/// One vulnerability of the watch set.
#[derive(Debug, Clone)]
pub struct Watched {
    pub id: String,
    pub severity: Severity,
    pub kev: bool,
    /// Hosts exposed, those exceptions cover not counted.
    pub hosts: u64,
}

/// The most series of `pakiti_vulnerability_exposed_hosts`: the watch set is
/// KEV-listed and tagged vulnerabilities only, in fix-first order.
pub const MAX_WATCHED: usize = 1000;

fn event_families(m: &mut Exposition, decided: &Decided) {
    if decided.events.is_empty() {
        return;
    }
    for (name, help, detected) in [
        ("pakiti_vulnerabilities_detected_total", "Vulnerability findings detected across the fleet (new to a host's open findings), by severity, since the aggregator's database began.", true),
        ("pakiti_vulnerabilities_resolved_total", "Vulnerability findings resolved across the fleet (no longer found: fixed, or the package removed), by severity, since the aggregator's database began.", false),
    ] {
        m.family(name, "counter", help);
        for (s, d, r) in &decided.events {
            m.sample(name, &[("severity", s.as_str())], (if detected { *d } else { *r }) as f64);
        }
    }
}

fn watched_families(m: &mut Exposition, decided: &Decided) {
    m.family(
        "pakiti_vulnerability_exposed_hosts",
        "gauge",
        "Hosts exposed to a watched vulnerability (KEV-listed or tagged by an operator; at most 1000, fix-first order), those an exception covers not counted.",
    );
    for w in &decided.watched {
        m.sample(
            "pakiti_vulnerability_exposed_hosts",
            &[
                ("id", &w.id),
                ("severity", w.severity.as_str()),
                ("kev", if w.kev { "true" } else { "false" }),
            ],
            w.hosts as f64,
        );
    }
}

/// Vulnerability coverage and counts per host.
fn vulnerability_families(m: &mut Exposition, hosts: &[&HostSummary], decided: &Decided) {
    m.family(
        "pakiti_vulnerability_coverage",
        "gauge",
        "1 when a loaded vulnerability feed covers the host (its release, with its inventory) and it was matched; 0: its vulnerabilities are unknown, never none.",
    );
    for h in hosts {
        m.sample(
            "pakiti_vulnerability_coverage",
            &[("host", &h.hostname), ("site", &site_of(h))],
            bool_value(h.vulnerabilities.is_some()),
        );
    }
    m.family(
        "pakiti_vulnerabilities",
        "gauge",
        "Open vulnerabilities of the host's installed packages in the loaded feeds, by severity and whether the host's own candidate versions fix them now (fix: available, unavailable); installed kernels that do not run and findings an exception covers are not counted. No series for a host no feed covers: unknown, not none.",
    );
    past_deadline_family(m, hosts, decided);
    for h in hosts {
        let Some(stored) = &h.vulnerabilities else {
            continue;
        };
        let v = &open_counts(stored, decided.excepted.get(&h.id));
        for (fix, counts) in [("available", &v.fixable), ("unavailable", &v.unfixable)] {
            for (s, n) in Severity::ALL.iter().zip(counts) {
                m.sample(
                    "pakiti_vulnerabilities",
                    &[
                        ("host", &h.hostname),
                        ("site", &site_of(h)),
                        ("severity", s.as_str()),
                        ("fix", fix),
                    ],
                    *n as f64,
                );
            }
        }
    }
}

fn past_deadline_family(m: &mut Exposition, hosts: &[&HostSummary], decided: &Decided) {
    let Some(past) = &decided.past_deadline else {
        return;
    };
    m.family(
        "pakiti_vulnerabilities_past_deadline",
        "gauge",
        "Open vulnerability findings of the host past their deadline (per severity and tag, counted from when the host first reported the fix installable; a KEV entry's due date), by severity; those an exception covers are not counted. No series for a host no feed covers.",
    );
    for h in hosts {
        if h.vulnerabilities.is_none() {
            continue;
        }
        let counts = past.get(&h.id).copied().unwrap_or_default();
        for (s, n) in Severity::ALL.iter().zip(counts) {
            m.sample(
                "pakiti_vulnerabilities_past_deadline",
                &[
                    ("host", &h.hostname),
                    ("site", &site_of(h)),
                    ("severity", s.as_str()),
                ],
                f64::from(n),
            );
        }
    }
}

/// A host's counts with what exceptions cover taken out.
pub fn open_counts(
    stored: &pakiti_store::VulnCounts,
    excepted: Option<&pakiti_store::VulnCounts>,
) -> pakiti_store::VulnCounts {
    let mut c = *stored;
    if let Some(e) = excepted {
        for i in 0..5 {
            c.fixable[i] = c.fixable[i].saturating_sub(e.fixable[i]);
            c.unfixable[i] = c.unfixable[i].saturating_sub(e.unfixable[i]);
        }
    }
    c
}

/// One host per `{host, site}` label set: where several stored hosts share
/// both (a re-imaged host with a new machine id, a client inventing machine
/// ids), the most recently heard from speaks for them. Two series with equal
/// labels would make Prometheus keep either one.
fn one_per_series(hosts: &[HostSummary]) -> Vec<&HostSummary> {
    let mut newest: std::collections::HashMap<(&str, &str), &HostSummary> =
        std::collections::HashMap::with_capacity(hosts.len());
    for h in hosts {
        let key = (h.hostname.as_str(), h.site.as_deref().unwrap_or(""));
        let e = newest.entry(key).or_insert(h);
        if (h.last_report_at, h.id) > (e.last_report_at, e.id) {
            *e = h;
        }
    }
    // Keep the fleet's order (by host name).
    hosts
        .iter()
        .filter(|h| {
            let key = (h.hostname.as_str(), h.site.as_deref().unwrap_or(""));
            newest.get(&key).is_some_and(|n| std::ptr::eq(*n, *h))
        })
        .collect()
}

/// Per-site statistics forwarded by downstream servers, for `/federate`.
pub fn federate_sites(m: &mut Exposition, stats: &[StoredSiteStats]) {
    type Value = fn(&SiteStats) -> f64;
    let simple: [(&str, &str, Value); 5] = [
        (
            "pakiti_site_hosts",
            "Hosts at the site, as its aggregator last reported (statistics forwarding).",
            |s| s.hosts as f64,
        ),
        (
            "pakiti_site_hosts_with_pending_updates",
            "Hosts at the site with at least one pending update.",
            |s| s.hosts_pending as f64,
        ),
        (
            "pakiti_site_hosts_reboot_required",
            "Hosts at the site that must reboot.",
            |s| s.hosts_reboot as f64,
        ),
        (
            "pakiti_site_hosts_stale",
            "Hosts at the site its aggregator has not heard from within its stale_after.",
            |s| s.hosts_stale as f64,
        ),
        (
            "pakiti_site_updates_pending",
            "Pending updates over all hosts of the site.",
            |s| s.updates_pending as f64,
        ),
    ];
    for (name, help, value) in simple {
        m.family(name, "gauge", help);
        for s in stats {
            m.sample(
                name,
                &[("site", &s.stats.site), ("server", &s.server)],
                value(&s.stats),
            );
        }
    }
    for (name, help, pick) in [
        (
            "pakiti_site_hosts_with_security_updates",
            "Hosts at the site with at least one pending security update of this severity.",
            (|s: &SiteStats| s.hosts_security) as fn(&SiteStats) -> [u32; 5],
        ),
        (
            "pakiti_site_security_updates_pending",
            "Pending security updates over all hosts of the site, by severity.",
            |s: &SiteStats| s.security_updates,
        ),
    ] {
        m.family(name, "gauge", help);
        for s in stats {
            for (sev, n) in Severity::ALL.iter().zip(pick(&s.stats)) {
                m.sample(
                    name,
                    &[
                        ("site", &s.stats.site),
                        ("server", &s.server),
                        ("severity", sev.as_str()),
                    ],
                    n as f64,
                );
            }
        }
    }
    m.family(
        "pakiti_site_security_update_pending_since_timestamp_seconds",
        "gauge",
        "First time the oldest still pending security update of the site was seen pending; absent when none is.",
    );
    for s in stats {
        if let Some(t) = s.stats.oldest_security_since {
            m.sample(
                "pakiti_site_security_update_pending_since_timestamp_seconds",
                &[("site", &s.stats.site), ("server", &s.server)],
                seconds(t),
            );
        }
    }
    m.family(
        "pakiti_site_last_stats_timestamp_seconds",
        "gauge",
        "When the site's statistics were last received.",
    );
    for s in stats {
        m.sample(
            "pakiti_site_last_stats_timestamp_seconds",
            &[("site", &s.stats.site), ("server", &s.server)],
            seconds(s.received_at),
        );
    }
}
