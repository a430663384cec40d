//! The aggregator's storage. [`Store`] is the only thing the aggregator sees;
//! its signatures carry domain types only, never a driver's, so that SQLite
//! (here) and PostgreSQL implement the same contract.

mod affected;
mod decisions;
mod delta;
mod diff;
mod findings;
mod host_write;
mod installed_order;
mod inventory;
mod ownership;
mod pg_statements;
mod pgtls;
mod postgres;
mod postgres_affected;
mod postgres_findings;
mod postgres_inventory;
mod postgres_vulns;
mod shared;
mod sqlite;
mod sqlite_affected;
mod sqlite_findings;
mod sqlite_inventory;
mod sqlite_kinds;
mod sqlite_vulns;
pub mod testing;
mod vulns;

use std::time::{Duration, SystemTime};

use pakiti_report::{HeldReason, Installed, Report, Severity};

/// One host's rematch for [`Store::put_findings_many`].
#[derive(Debug, Clone, Copy)]
pub struct FindingsWrite<'a> {
    pub id: i64,
    /// [`MatchingInput::basis`] of the report matched.
    pub basis: &'a [u8],
    /// `None`: no loaded feed covers the host.
    pub findings: Option<&'a [pakiti_vulns::Finding]>,
}

pub use affected::{AffectedCount, AffectedKey};
pub use decisions::{AuditEntry, StoredDecision};
pub use findings::{
    digest as findings_digest, ExposedHost, ExposedKey, ExposedPage, FleetVulnerability,
    MatchingInput, StoredFinding, VulnCounts,
};
pub use installed_order::InstalledOnKey;
pub use inventory::InstalledChange;
pub use ownership::{Conflict, Writer};
pub use postgres::{PgOptions, PgStore};
pub use shared::Shared;
pub use sqlite::{SqliteOptions, SqliteStore};
pub use vulns::{FeedStatus, Score};

/// An open finding as deadlines see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFinding {
    pub host_id: i64,
    pub id: String,
    pub package: String,
    pub arch: String,
    pub severity: Severity,
    pub fix_available: bool,
    /// When the host first reported the candidate of the package's pending
    /// update (the fix installable), when it can install one.
    pub fix_since: Option<SystemTime>,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("migration {version} failed: {reason}")]
    Migration { version: u32, reason: String },
    #[error("--storage.url {0:?} is not understood: use a file path, sqlite:PATH or postgres://…")]
    BadUrl(String),
    /// The report may not overwrite the stored host; nothing was written.
    #[error("{0}")]
    Conflict(#[from] Conflict),
}

/// How a report arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Push,
    Scrape,
    /// Sent on by a downstream aggregator (issue 7's `send = "reports"`).
    Forwarded,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Push => "push",
            Source::Scrape => "scrape",
            Source::Forwarded => "forwarded",
        }
    }
}

/// What a downstream aggregator queues for an upstream one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    Stats,
    Report,
}

impl OutboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Stats => "stats",
            OutboxKind::Report => "report",
        }
    }

    fn parse(s: &str) -> OutboxKind {
        if s == "stats" {
            OutboxKind::Stats
        } else {
            OutboxKind::Report
        }
    }
}

/// One item to queue for an upstream aggregator. When the upstream's queue
/// would hold more than `cap` items or `cap_bytes` bytes of payload, the
/// oldest statistics are dropped first, then the oldest reports, and the
/// drops are counted. Each item costs the same whatever the queue's length:
/// the stores keep a count per upstream and find the oldest by an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub upstream: String,
    pub kind: OutboxKind,
    pub payload: Vec<u8>,
    pub cap: u64,
    pub cap_bytes: u64,
}

/// A queued item, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    pub kind: OutboxKind,
    pub payload: Vec<u8>,
    pub created_at: SystemTime,
}

/// One upstream's queue: how long, how old, and what the cap dropped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutboxStatus {
    pub upstream: String,
    pub queued: u64,
    pub oldest: Option<SystemTime>,
    pub dropped_stats: u64,
    pub dropped_reports: u64,
}

/// One site's statistics, as a downstream aggregator computes and sends them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SiteStats {
    pub site: String,
    pub generated_at: Option<SystemTime>,
    pub hosts: u32,
    pub hosts_pending: u32,
    /// Hosts with at least one pending security update of each severity,
    /// indexed like [`Severity::ALL`].
    pub hosts_security: [u32; 5],
    pub hosts_reboot: u32,
    pub hosts_stale: u32,
    pub updates_pending: u32,
    /// Pending security updates over all hosts, per severity.
    pub security_updates: [u32; 5],
    /// When the oldest still pending security update was first seen.
    pub oldest_security_since: Option<SystemTime>,
}

/// Statistics as the central aggregator keeps them: the latest per server and site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSiteStats {
    pub server: String,
    pub received_at: SystemTime,
    pub stats: SiteStats,
}

/// What storing a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// A host never seen before.
    NewHost,
    /// The report differed from the host's previous one.
    Changed,
    /// Identical to the previous report: only its time was refreshed.
    Unchanged,
}

impl IngestOutcome {
    /// Its name in answers and metrics: `new_host`, `changed`, `unchanged`.
    pub fn as_str(self) -> &'static str {
        match self {
            IngestOutcome::NewHost => "new_host",
            IngestOutcome::Changed => "changed",
            IngestOutcome::Unchanged => "unchanged",
        }
    }
}

/// Counts of one host's pending updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub pending: u32,
    /// Indexed like [`Severity::ALL`].
    pub security: [u32; 5],
    pub held: u32,
    pub reboot_required: bool,
}

impl Counts {
    pub fn of(report: &Report) -> Counts {
        let inv = &report.inventory;
        let mut security = [0u32; 5];
        for u in &inv.updates {
            if let Some(s) = u.security {
                security[severity_index(s)] += 1;
            }
        }
        Counts {
            pending: inv.updates.len() as u32,
            security,
            held: inv.held_count() as u32,
            reboot_required: inv.reboot.required,
        }
    }

    pub fn security_total(&self) -> u32 {
        self.security.iter().sum()
    }

    pub fn security(&self, s: Severity) -> u32 {
        self.security[severity_index(s)]
    }
}

pub fn severity_index(s: Severity) -> usize {
    Severity::ALL.iter().position(|x| *x == s).unwrap_or(4)
}

/// One host as the store knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSummary {
    pub id: i64,
    pub hostname: String,
    pub machine_id: Option<String>,
    pub site: Option<Shared>,
    /// The client that wrote the host first (`None`: open aggregator or scrape).
    pub owner: Option<Shared>,
    pub os_id: Shared,
    pub os_version: Shared,
    pub os_name: Option<Shared>,
    pub kernel: Shared,
    pub arch: Shared,
    pub manager: Shared,
    pub exporter_version: Shared,
    pub source: Shared,
    pub first_seen: SystemTime,
    pub last_report_at: SystemTime,
    pub collected_at: SystemTime,
    pub collection_duration: Duration,
    pub metadata_updated_at: Option<SystemTime>,
    pub security_metadata_available: bool,
    pub installed_packages: u64,
    pub reboot_packages: Vec<String>,
    pub counts: Counts,
    /// First time the oldest still pending security update was seen pending as such.
    pub security_pending_since: Option<SystemTime>,
    /// The same per severity, indexed like [`Severity::ALL`].
    pub security_since_by_severity: [Option<SystemTime>; 5],
    pub exporter_revision: Shared,
    /// The downstream aggregator that forwarded the latest report, if any.
    pub forwarded_by: Option<Shared>,
    /// os-release `VERSION_CODENAME`, where the host says it.
    pub os_codename: Option<Shared>,
    /// Whether the host sends its installed inventory.
    pub has_inventory: bool,
    /// Its open vulnerabilities by severity and fix state, as the last
    /// rematch left them; `None` when no loaded feed covers it (or it was
    /// never matched): unknown, never clean.
    pub vulnerabilities: Option<VulnCounts>,
    /// What it runs beside what it has installed, counted.
    pub running: RunningCounts,
    /// Fixes behind a channel it is not entitled to, counted; `None` where
    /// its exporter cannot see such channels.
    pub unentitled: Option<UnentitledCounts>,
    /// The security updates among the held ones, indexed like
    /// [`Severity::ALL`]: fixes that will not install by themselves.
    pub held_security: [u32; 5],
}

/// The security updates among a report's held ones, by severity.
pub fn held_security(report: &Report) -> [u32; 5] {
    let mut out = [0u32; 5];
    for u in &report.inventory.updates {
        if let (Some(s), true) = (u.security, u.is_held()) {
            out[severity_index(s)] += 1;
        }
    }
    out
}

/// A host's `unentitled`, counted: all, and the security fixes among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnentitledCounts {
    pub updates: u32,
    pub security: u32,
}

impl UnentitledCounts {
    pub fn of(list: Option<&[pakiti_report::Unentitled]>) -> Option<UnentitledCounts> {
        list.map(|l| {
            let (updates, security) = pakiti_report::entitlement::counts(l);
            UnentitledCounts { updates, security }
        })
    }

    /// From the hosts table's two columns, NULL where unknown.
    pub(crate) fn from_columns(updates: Option<i64>, security: Option<i64>) -> Option<Self> {
        let n = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        Some(UnentitledCounts {
            updates: n(updates?),
            security: n(security?),
        })
    }
}

/// A host's stored `unentitled` (JSON in the hosts table); unknown when
/// absent or unreadable.
pub(crate) fn unentitled_of(json: Option<&str>) -> Option<Vec<pakiti_report::Unentitled>> {
    json.and_then(|j| pakiti_report::wire::unentitled_from_json(j).ok())
}

/// A host's `running`, counted for the fleet's pages and `/federate`; each
/// part `None` where the host's exporter did not look or cannot see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunningCounts {
    pub restart: Option<RestartCounts>,
    /// Live patches enabled in the running kernel.
    pub livepatches: Option<u32>,
}

/// Processes running replaced code, and the services and sessions among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RestartCounts {
    pub processes: u32,
    pub units: u32,
    pub sessions: u32,
}

impl RunningCounts {
    pub fn of(r: &pakiti_report::Running) -> RunningCounts {
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        RunningCounts {
            restart: r.restart.as_ref().map(|x| RestartCounts {
                processes: x.processes,
                units: n(x.units.len()),
                sessions: x.sessions,
            }),
            livepatches: r.livepatches_enabled(),
        }
    }

    /// From the hosts table's columns (restart processes, units, sessions;
    /// live patches), NULL where unknown.
    pub(crate) fn from_columns(restart: [Option<i64>; 3], livepatches: Option<i64>) -> Self {
        let n = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        RunningCounts {
            restart: match restart {
                [Some(p), Some(u), Some(s)] => Some(RestartCounts {
                    processes: n(p),
                    units: n(u),
                    sessions: n(s),
                }),
                _ => None,
            },
            livepatches: livepatches.map(n),
        }
    }
}

/// A host's stored `running` (JSON in the hosts table); unknown when absent
/// or unreadable.
pub(crate) fn running_of(json: Option<&str>) -> pakiti_report::Running {
    json.and_then(|j| pakiti_report::wire::running_from_json(j).ok())
        .unwrap_or_default()
}

/// A pending update with its patch age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpdate {
    pub name: String,
    pub arch: String,
    pub installed_version: String,
    pub candidate_version: String,
    pub security: Option<Severity>,
    pub held: Option<HeldReason>,
    pub repository: Option<String>,
    pub advisories: Vec<String>,
    pub cves: Vec<String>,
    /// Pending since (across candidate changes).
    pub first_seen: SystemTime,
    /// This candidate version first seen.
    pub candidate_first_seen: SystemTime,
    /// Pending as a security update since.
    pub security_first_seen: Option<SystemTime>,
}

/// A host with a pending update of a given package (or advisory, or CVE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedHost {
    pub host_id: i64,
    pub hostname: String,
    pub site: Option<String>,
    pub update: StoredUpdate,
}

/// What to look pending updates up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    Package(&'a str),
    Advisory(&'a str),
    Cve(&'a str),
}

/// One point of a host's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPoint {
    pub at: SystemTime,
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostDetail {
    pub summary: HostSummary,
    pub updates: Vec<StoredUpdate>,
    pub history: Vec<HistoryPoint>,
    /// Every installed package, by name; `None` when the host's exporter
    /// sends no inventory.
    pub installed: Option<Vec<Installed>>,
    /// The latest changes of installed versions, newest first (at most
    /// [`INSTALLED_CHANGES_SHOWN`]).
    pub installed_changes: Vec<InstalledChange>,
    /// What else the host said for vulnerability matching.
    pub platform: Platform,
    /// What it runs beside what it has installed.
    pub running: pakiti_report::Running,
    /// Fixes behind a channel it is not entitled to; `None` where unknown.
    pub unentitled: Option<Vec<pakiti_report::Unentitled>>,
}

/// How many changes of installed versions [`Store::host`] returns.
pub const INSTALLED_CHANGES_SHOWN: usize = 200;

/// The os-release fields and facts matching needs, as the host reported them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Platform {
    pub codename: Option<String>,
    pub cpe_name: Option<String>,
    pub platform_id: Option<String>,
    pub running_kernel: Option<pakiti_report::RunningKernel>,
    pub esm_enabled: Option<bool>,
}

/// A host with a package installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledOn {
    pub hostname: String,
    pub site: Option<String>,
    pub manager: String,
    pub package: Installed,
}

/// What [`Store::maintain`] should delete.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Hosts not heard from since this are removed with everything they had.
    pub remove_hosts_before: SystemTime,
    /// History points older than this are dropped.
    pub drop_history_before: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MaintenanceOutcome {
    pub hosts_removed: u64,
    pub history_dropped: u64,
}

/// The aggregator's storage contract.
///
/// Calls block; async callers run them on a blocking thread. `ingest` is
/// atomic: the report is stored completely or not at all, and when it
/// returns `Ok` the report survives a crash of the process.
pub trait Store: Send + Sync {
    fn ingest(
        &self,
        report: &Report,
        source: Source,
        received_at: SystemTime,
    ) -> Result<IngestOutcome, StoreError> {
        self.ingest_and_queue(report, &Writer::anonymous(), source, None, received_at, &[])
    }
    /// [`Store::ingest`] by `writer`, recording the aggregator that forwarded
    /// the report (if any) and queueing `outgoing` in the same transaction: a
    /// stored report is always queued for its upstreams, even across a crash.
    /// A report that may not overwrite its stored host (another site, another
    /// owner, older than what is stored) fails with [`StoreError::Conflict`]
    /// and changes nothing.
    fn ingest_and_queue(
        &self,
        report: &Report,
        writer: &Writer,
        source: Source,
        forwarded_by: Option<&str>,
        received_at: SystemTime,
        outgoing: &[Outgoing],
    ) -> Result<IngestOutcome, StoreError>;
    /// Queues items for upstream aggregators (statistics).
    fn enqueue(&self, outgoing: &[Outgoing]) -> Result<(), StoreError>;
    /// Up to `limit` queued items of `upstream`, oldest first.
    fn outbox(&self, upstream: &str, limit: usize) -> Result<Vec<OutboxItem>, StoreError>;
    /// Removes delivered (or refused for good) items.
    fn outbox_remove(&self, ids: &[i64]) -> Result<(), StoreError>;
    /// Every upstream's queue, by name.
    fn outbox_status(&self) -> Result<Vec<OutboxStatus>, StoreError>;
    /// Replaces the statistics `server` sent for these sites.
    fn put_site_stats(
        &self,
        server: &str,
        stats: &[SiteStats],
        received_at: SystemTime,
    ) -> Result<(), StoreError>;
    /// The latest statistics of every (server, site), by site.
    fn site_stats(&self) -> Result<Vec<StoredSiteStats>, StoreError>;
    /// Every host, ordered by hostname.
    fn hosts(&self) -> Result<Vec<HostSummary>, StoreError>;
    /// The host of that name in that site (any site when `None`); the most
    /// recently heard from if several match.
    fn host(&self, hostname: &str, site: Option<&str>) -> Result<Option<HostDetail>, StoreError>;
    /// Moves the hosts named `hostname` from site `from` to site `to` (the
    /// operator's action; no report does this). Returns how many moved.
    fn move_host(
        &self,
        hostname: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<u64, StoreError>;
    /// At most `limit` pending updates of this package, advisory or CVE (and
    /// their hosts), after `after` in the order of [`AffectedKey`] (host id,
    /// package name, arch). Costs what its rows cost, whatever the fleet.
    fn affected(
        &self,
        lookup: Lookup<'_>,
        after: Option<&AffectedKey>,
        limit: usize,
    ) -> Result<Vec<AffectedHost>, StoreError>;
    /// How many pending updates of this package, advisory or CVE there
    /// are, on how many hosts (read from an index, not the rows).
    fn affected_count(&self, lookup: Lookup<'_>) -> Result<AffectedCount, StoreError>;
    /// The hosts with package `name` installed, each version it has there;
    /// with `version_lt`, only versions below it in the host's own order.
    /// Sorted by version, then site and host name.
    fn installed_on(
        &self,
        name: &str,
        version_lt: Option<&str>,
    ) -> Result<Vec<InstalledOn>, StoreError>;
    /// Removes old hosts, history, and statistics not refreshed since
    /// `remove_hosts_before`.
    fn maintain(&self, retention: Retention) -> Result<MaintenanceOutcome, StoreError>;
    /// Takes (or renews) the lease `name` for `owner` for `ttl`; `false` when
    /// another owner holds it. Replicas share work this way (a scrape target
    /// per interval). A store that only one process can use always grants it.
    fn claim(&self, _name: &str, _owner: &str, _ttl: Duration) -> Result<bool, StoreError> {
        Ok(true)
    }
    /// A number that changes whenever any process changed the hosts (a
    /// report stored, a host moved or removed), for processes that share the
    /// database to notice each other's writes; `None` for a store only this
    /// process writes.
    fn change_stamp(&self) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }
    /// Cheap check that the database answers.
    fn ping(&self) -> Result<(), StoreError>;
    /// Replaces the records of the feed `feed.name` with `records`, all or
    /// nothing.
    fn import_feed(
        &self,
        feed: &FeedStatus,
        records: Vec<pakiti_vulns::Record>,
    ) -> Result<(), StoreError>;
    /// Replaces the priorities of the feed `feed.name` (`kev`, `epss`)
    /// with `scores`, all or nothing.
    fn import_scores(&self, feed: &FeedStatus, scores: Vec<Score>) -> Result<(), StoreError>;
    /// The priorities published for these vulnerability ids, one [`Score`]
    /// per id that has any (the feeds' rows joined), in id order.
    fn scores(&self, ids: &[String]) -> Result<Vec<Score>, StoreError>;
    /// Findings detected and resolved by rematches since the database
    /// began, by severity (counters).
    fn finding_events(&self) -> Result<Vec<(Severity, u64, u64)>, StoreError>;
    /// The decisions recorded in the web UI, by id.
    fn decisions(&self) -> Result<Vec<StoredDecision>, StoreError>;
    /// Records a decision and its audit entry (`added`), in one
    /// transaction; returns its id.
    fn add_decision(
        &self,
        kind: &str,
        vulnerability: &str,
        body: &str,
        who: &str,
        at: SystemTime,
    ) -> Result<i64, StoreError>;
    /// Removes decision `id` and records its audit entry (`removed`), in one
    /// transaction; `false` when there is no such decision.
    fn remove_decision(&self, id: i64, who: &str, at: SystemTime) -> Result<bool, StoreError>;
    /// Appends audit entries (the decisions file's changes).
    fn audit_decisions(&self, entries: &[AuditEntry]) -> Result<(), StoreError>;
    /// The audit log, oldest first: of one vulnerability, or all.
    fn decision_audit(&self, vulnerability: Option<&str>) -> Result<Vec<AuditEntry>, StoreError>;
    /// Every feed imported, by name.
    fn feeds(&self) -> Result<Vec<FeedStatus>, StoreError>;
    /// The records of `release` for these source packages.
    fn vulnerability_records(
        &self,
        release: &str,
        sources: &[String],
    ) -> Result<Vec<pakiti_vulns::Record>, StoreError>;
    /// Whether a loaded feed has records for `release` (a host of a release
    /// none covers is unknown, never clean).
    fn covers_release(&self, release: &str) -> Result<bool, StoreError>;
    /// The source package of each stored package of these names, as
    /// (name, arch, version, source name).
    fn package_sources(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, String, String, String)>, StoreError>;
    /// Every host id with what it was last stored as, for a fleet rematch:
    /// (id, os id and version, codename, whether it sends an inventory,
    /// whether it has counts).
    fn matching_hosts(&self) -> Result<Vec<MatchingHost>, StoreError>;
    /// The id of the stored host `report` names (by machine id, else by
    /// site and host name), as [`Store::ingest`] finds it.
    fn host_id(&self, report: &Report) -> Result<Option<i64>, StoreError>;
    /// What matching host `id` needs; `None` when it is gone.
    fn matching_input(&self, id: i64) -> Result<Option<MatchingInput>, StoreError>;
    /// Replaces host `id`'s open findings with `findings` as of `at` (new
    /// ones first seen then, gone ones resolved then, the others keeping
    /// their first-seen time) and sets its counts; `None`: no loaded feed
    /// covers it, its open findings and counts are removed (unknown). Only
    /// while the host's stored report is still the one matched (`basis`,
    /// [`MatchingInput::basis`]): `false`, nothing written, when a newer
    /// report came in since (its own rematch writes).
    fn put_findings(
        &self,
        id: i64,
        basis: &[u8],
        findings: Option<&[pakiti_vulns::Finding]>,
        at: SystemTime,
    ) -> Result<bool, StoreError>;
    /// [`Store::put_findings`] for several hosts, in one transaction where
    /// the store can (a fleet rematch: one commit for many hosts instead
    /// of one each); each host's answer in order.
    fn put_findings_many(
        &self,
        writes: &[FindingsWrite<'_>],
        at: SystemTime,
    ) -> Result<Vec<bool>, StoreError> {
        writes
            .iter()
            .map(|w| self.put_findings(w.id, w.basis, w.findings, at))
            .collect()
    }
    /// Host `id`'s findings, open and resolved, by vulnerability id.
    fn host_findings(&self, id: i64) -> Result<Vec<StoredFinding>, StoreError>;
    /// Every vulnerability some host is exposed to now, by id.
    fn fleet_vulnerabilities(&self) -> Result<Vec<FleetVulnerability>, StoreError>;
    /// Every open, counted finding of the fleet (not an installed kernel
    /// that does not run), given to `each` as it is read, with when the
    /// host first reported the pending update that fixes it (for
    /// deadlines).
    fn each_open_finding(&self, each: &mut dyn FnMut(OpenFinding)) -> Result<(), StoreError>;
    /// The open findings of vulnerability `id` by host name, site, package
    /// and arch, at most `limit` after `after` (that order's key: host name,
    /// site or "", package, arch), with the counts over all of them.
    fn exposed_hosts(
        &self,
        id: &str,
        after: Option<&ExposedKey>,
        limit: usize,
    ) -> Result<ExposedPage, StoreError>;
    /// The findings of vulnerability `id` resolved most recently, at most
    /// `limit`, newest first.
    fn resolved_hosts(&self, id: &str, limit: usize) -> Result<Vec<ExposedHost>, StoreError>;
}

/// A host as a fleet rematch walks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchingHost {
    pub id: i64,
    pub os_id: String,
    /// os-release `VERSION_ID`.
    pub os_version: String,
    pub codename: Option<String>,
    pub has_inventory: bool,
    pub has_counts: bool,
}

/// Opens the store named by `--storage.url`: a path or `sqlite:PATH` for
/// SQLite, `postgres://…` for PostgreSQL (with `pg` pool and timeout settings).
pub fn open(url: &str, pg: PgOptions, sqlite: SqliteOptions) -> Result<Box<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Box::new(PgStore::connect(url, pg)?));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() || path.contains("://") {
        return Err(StoreError::BadUrl(url.to_string()));
    }
    Ok(Box::new(SqliteStore::open_with(
        std::path::Path::new(path),
        sqlite,
    )?))
}

pub(crate) fn millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn from_millis(ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// Every upstream's queue from the two queries both stores run: queued items
/// `(upstream, count, oldest ms)` and drop counters `(upstream, kind, dropped)`.
pub(crate) fn outbox_status(
    queues: Vec<(String, i64, Option<i64>)>,
    drops: Vec<(String, String, i64)>,
) -> Vec<OutboxStatus> {
    let mut out: std::collections::BTreeMap<String, OutboxStatus> = Default::default();
    fn out_entry(
        out: &mut std::collections::BTreeMap<String, OutboxStatus>,
        upstream: String,
    ) -> &mut OutboxStatus {
        out.entry(upstream.clone()).or_insert_with(|| OutboxStatus {
            upstream,
            ..OutboxStatus::default()
        })
    }
    for (upstream, n, oldest) in queues {
        let e = out_entry(&mut out, upstream);
        e.queued = n.max(0) as u64;
        e.oldest = oldest.map(from_millis);
    }
    for (upstream, kind, n) in drops {
        let e = out_entry(&mut out, upstream);
        match OutboxKind::parse(&kind) {
            OutboxKind::Stats => e.dropped_stats = n.max(0) as u64,
            OutboxKind::Report => e.dropped_reports = n.max(0) as u64,
        }
    }
    out.into_values().collect()
}

/// `a b c d e` ↔ `[u32; 5]`, how both stores keep per-severity arrays of site statistics.
pub(crate) fn join5(v: &[u32; 5]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
}

pub(crate) fn split5(s: &str) -> [u32; 5] {
    let mut out = [0u32; 5];
    for (slot, w) in out.iter_mut().zip(s.split_whitespace()) {
        *slot = w.parse().unwrap_or(0);
    }
    out
}
