//! One collection, and the latest state the exporter serves.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use std::collections::BTreeSet;

use pakiti_collectors::{
    file_owners, host, livepatch, reboot, restart, CollectError, Collector, Context,
};
use pakiti_report::{
    HostIdentity, Hostname, Manager, OsInfo, Producer, Report, Restart, RestartUnit, Running,
};
use pakiti_vulns::support;

use crate::config::UpdateInfo;
use crate::metrics;

/// What the exporter knows about its host without asking the package manager.
#[derive(Debug, Clone)]
pub struct HostFacts {
    pub os: OsInfo,
    pub kernel: String,
    pub manager: Option<Manager>,
    pub identity: HostIdentity,
    pub arch: String,
    /// Its release's security support window; `None` when pakiti knows none.
    pub support: Option<support::Window>,
}

impl HostFacts {
    /// Reads os-release, machine id and host name of the tree at `rootfs`.
    pub fn read(rootfs: &std::path::Path, site: Option<String>) -> anyhow::Result<Self> {
        let kv = host::os_release(rootfs)?;
        let name = host::hostname(rootfs).ok_or_else(|| {
            anyhow::anyhow!(
                "no host name: {} is missing or empty (a tree inspected with --path.rootfs names its host there)",
                rootfs.join("etc/hostname").display()
            )
        })?;
        let hostname = Hostname::parse(&name)
            .or_else(|_| Hostname::parse(name.split('.').next().unwrap_or("")))
            .map_err(|e| anyhow::anyhow!("the host name {name:?} is not usable: {e}"))?;
        Ok(HostFacts {
            os: host::os_info(&kv),
            kernel: reboot::running_kernel().unwrap_or_else(|| "unknown".into()),
            manager: host::detect_manager(&kv),
            identity: HostIdentity {
                hostname,
                machine_id: host::machine_id(rootfs),
                site,
            },
            arch: std::env::consts::ARCH.to_string(),
            support: None,
        })
    }

    pub fn from_report(r: &Report) -> Self {
        HostFacts {
            os: r.os.clone(),
            kernel: r.kernel.clone(),
            manager: Some(r.manager),
            identity: r.host.clone(),
            arch: r.arch.clone(),
            support: support::shipped().find(&r.os.id, &r.os.version).cloned(),
        }
    }
}

/// The latest collection attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub started_at: SystemTime,
    pub duration: Duration,
    pub error: Option<String>,
}

/// Everything `/metrics` and `/api/v1/report` show.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub host: HostFacts,
    pub last_attempt: Option<Attempt>,
    /// The latest successful collection.
    pub report: Option<Report>,
}

/// What a panic said, where it said it with a string.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs one collection and wraps it in a report.
pub struct Runner {
    pub collector: Box<dyn Collector>,
    pub host: HostFacts,
    /// The manager and context to look for processes running outdated code
    /// with; `None`: not asked (`[collector] restart_scan = false`).
    pub restart: Option<(Manager, Context)>,
    /// The root of the inspected tree (its `sys` for live patches).
    pub rootfs: PathBuf,
}

impl Runner {
    /// What the host runs: processes running outdated code, the kernel's
    /// live patches (the report's `running`).
    pub fn running(&self) -> Running {
        Running {
            restart: self.restart(),
            livepatches: reboot::livepatches(&self.rootfs),
            livepatch_state: livepatch::canonical(&self.rootfs, Duration::from_secs(30)),
        }
    }

    /// Looks through the tree's `/proc` for processes running outdated
    /// packaged code and names the packages of those files. `None` when not
    /// asked, or when that `/proc` shows no process (not mounted there).
    pub fn restart(&self) -> Option<Restart> {
        let (manager, ctx) = self.restart.as_ref()?;
        let clock = Instant::now();
        let scan = restart::scan(&ctx.rootfs.join("proc"), restart::PACKAGED_CODE);
        if scan.scanned == 0 && scan.unreadable == 0 {
            return None;
        }
        let files: BTreeSet<String> = scan
            .stale
            .iter()
            .flat_map(|s| s.files.iter().cloned())
            .collect();
        let owned = file_owners::owners(*manager, ctx, &files).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the packages of outdated files could not be read");
            Default::default()
        });
        let needed = restart::summarise(&scan.stale, &|f| owned.get(f).cloned());
        let duration = clock.elapsed();
        tracing::info!(
            duration_ms = duration.as_millis() as u64,
            scanned = scan.scanned,
            unreadable = scan.unreadable,
            outdated = needed.processes,
            units = needed.units.len(),
            "looked for processes running replaced code"
        );
        Some(Restart {
            processes: needed.processes,
            sessions: u32::try_from(needed.sessions.len()).unwrap_or(u32::MAX),
            unreadable: scan.unreadable,
            units: needed
                .units
                .into_iter()
                .map(|(unit, packages)| RestartUnit {
                    unit,
                    packages: packages.into_iter().collect(),
                })
                .collect(),
        })
    }

    pub fn run(&self) -> (Attempt, Result<Report, CollectError>) {
        let started_at = SystemTime::now();
        let clock = Instant::now();
        // A bug in a collector (a panic on input nobody foresaw) fails this
        // collection, never the exporter: the next one runs.
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.collector.collect()))
                .unwrap_or_else(|panic| {
                    Err(CollectError::Panicked {
                        manager: self.collector.manager(),
                        message: panic_message(&panic),
                    })
                });
        let duration = clock.elapsed();
        let result = result.map(|inventory| {
            let mut report = Report {
            host: self.host.identity.clone(),
            os: self.host.os.clone(),
            kernel: self.host.kernel.clone(),
            arch: self.host.arch.clone(),
            manager: self.collector.manager(),
            producer: Producer {
                version: crate::VERSION.into(),
                revision: crate::REVISION.into(),
            },
            collected_at: started_at,
            collection_duration: duration,
            inventory,
            };
            report.inventory.running = self.running();
            // What the host says, made into a report the aggregator accepts.
            let changes = pakiti_report::clean(&mut report);
            if !changes.is_empty() {
                tracing::warn!(changes = %changes.join("; "), "the report was cleaned to be accepted");
            }
            report
        });
        let attempt = Attempt {
            started_at,
            duration,
            error: result.as_ref().err().map(|e| e.to_string()),
        };
        (attempt, result)
    }
}

/// A snapshot with its answers rendered once, so that serving is a copy.
pub struct Rendered {
    pub snapshot: Snapshot,
    /// The snapshot's families in the text format, whole.
    pub metrics: Bytes,
    /// The same in OpenMetrics, without its end (`/metrics` adds the
    /// exporter's own families and the end).
    pub metrics_openmetrics: Bytes,
    pub report_json: Option<Bytes>,
}

impl Rendered {
    pub fn new(snapshot: Snapshot, update_info: UpdateInfo) -> Self {
        let metrics: Bytes = metrics::render(&snapshot, update_info).into();
        let metrics_openmetrics: Bytes = metrics::render_part(
            pakiti_service::exposition::Format::OpenMetrics("1.0.0"),
            &snapshot,
            update_info,
        )
        .into();
        let report_json = snapshot
            .report
            .as_ref()
            .map(|r| pakiti_report::to_json(r).into());
        Rendered {
            snapshot,
            metrics,
            metrics_openmetrics,
            report_json,
        }
    }
}

/// The state shared between the scheduler and the web handlers.
pub struct Shared {
    current: RwLock<Arc<Rendered>>,
    update_info: UpdateInfo,
    /// The exporter's own health.
    pub own: metrics::Own,
}

impl Shared {
    pub fn new(host: HostFacts, update_info: UpdateInfo) -> Self {
        let snapshot = Snapshot {
            host,
            last_attempt: None,
            report: None,
        };
        Shared {
            current: RwLock::new(Arc::new(Rendered::new(snapshot, update_info))),
            update_info,
            own: metrics::Own::new(),
        }
    }

    pub fn current(&self) -> Arc<Rendered> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Records an attempt; a failed one keeps the latest successful report.
    pub fn record(&self, attempt: Attempt, report: Option<Report>) {
        self.own.collection(attempt.error.is_none());
        let old = self.current();
        let mut snapshot = Snapshot {
            host: old.snapshot.host.clone(),
            last_attempt: Some(attempt),
            report: report.or_else(|| old.snapshot.report.clone()),
        };
        if let Some(r) = &snapshot.report {
            snapshot.host.manager = Some(r.manager);
        }
        let rendered = Arc::new(Rendered::new(snapshot, self.update_info));
        match self.current.write() {
            Ok(mut g) => *g = rendered,
            Err(poisoned) => *poisoned.into_inner() = rendered,
        }
    }
}

/// Where collectors keep caches when the configuration names none.
pub fn default_cache_dir() -> PathBuf {
    PathBuf::from("/var/cache/pakiti")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pakiti_report::{HeldReason, Inventory, Reboot, Severity, Update};

    struct Panicking;

    impl Collector for Panicking {
        fn manager(&self) -> Manager {
            Manager::Apt
        }
        fn collect(&self) -> Result<Inventory, CollectError> {
            let index: Vec<u8> = Vec::new();
            // What a parser bug looks like: an index out of bounds.
            Ok(Inventory {
                installed_packages: u64::from(index[3]),
                ..Inventory::default()
            })
        }
    }

    #[test]
    fn a_collector_that_panics_fails_the_collection_not_the_exporter() {
        let r = sample_report();
        let runner = Runner {
            collector: Box::new(Panicking),
            restart: None,
            rootfs: PathBuf::from("/"),
            host: HostFacts {
                os: r.os.clone(),
                kernel: r.kernel.clone(),
                manager: Some(Manager::Apt),
                identity: r.host.clone(),
                arch: r.arch.clone(),
                support: None,
            },
        };
        let (attempt, result) = runner.run();
        let e = result.unwrap_err().to_string();
        assert!(
            e.contains("apt collector failed unexpectedly") && e.contains("index out of bounds"),
            "{e}"
        );
        assert_eq!(attempt.error.as_deref(), Some(e.as_str()));
        // And again: the runner is still usable.
        assert!(runner.run().1.is_err());
    }

    pub fn sample_report() -> Report {
        let update = |name: &str, security: Option<Severity>, held: Option<HeldReason>| Update {
            name: name.into(),
            arch: "amd64".into(),
            installed_version: "1.0-1".into(),
            candidate_version: "1.0-1+deb12u1".into(),
            security,
            held,
            repository: Some("Debian:bookworm-security/oldstable-security".into()),
            advisories: vec![],
            cves: vec![],
        };
        Report {
            host: HostIdentity {
                hostname: Hostname::parse("web-01").unwrap(),
                machine_id: Some("0123456789abcdef0123456789abcdef".into()),
                site: Some("SiteA".into()),
            },
            os: OsInfo {
                id: "debian".into(),
                version: "12".into(),
                pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
                ..OsInfo::default()
            },
            kernel: "6.1.0-18-amd64".into(),
            arch: "x86_64".into(),
            manager: Manager::Apt,
            producer: Producer {
                version: crate::VERSION.into(),
                revision: crate::REVISION.into(),
            },
            collected_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_165_000),
            collection_duration: Duration::from_millis(734),
            inventory: Inventory {
                updates: vec![
                    update("openssl", Some(Severity::Unknown), None),
                    update("bash", None, Some(HeldReason::Hold)),
                    update("weird\"name", None, None),
                ],
                installed_packages: 512,
                reboot: Reboot {
                    required: true,
                    packages: vec!["libc6".into()],
                },
                metadata_updated_at: Some(
                    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_100_000),
                ),
                security_metadata_available: true,
                ..Inventory::default()
            },
        }
    }

    #[test]
    fn a_failed_attempt_keeps_the_last_good_report() {
        let r = sample_report();
        let shared = Shared::new(HostFacts::from_report(&r), UpdateInfo::All);
        assert!(shared.current().report_json.is_none());
        let ok = Attempt {
            started_at: SystemTime::now(),
            duration: Duration::from_secs(1),
            error: None,
        };
        shared.record(ok, Some(r.clone()));
        let failed = Attempt {
            started_at: SystemTime::now(),
            duration: Duration::from_secs(1),
            error: Some("boom".into()),
        };
        shared.record(failed, None);
        let cur = shared.current();
        assert_eq!(cur.snapshot.report.as_ref(), Some(&r));
        let text = std::str::from_utf8(&cur.metrics).unwrap();
        assert!(text.contains("pakiti_collection_success 0"));
        assert!(text.contains("pakiti_updates_pending 3"));
    }
}
