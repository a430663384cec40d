//! SQLite: one writer thread that commits reports in batches (group commit),
//! and a small pool of reader connections. WAL mode: readers never wait for
//! the writer. `synchronous = FULL`: every commit is on disk (the WAL is
//! synced) before `ingest` returns, so an acknowledged report survives a power
//! loss, not only a crash of the process. One process only: `<db>.lock`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, SystemTime};

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use pakiti_report::{HeldReason, Report, Severity};

use crate::diff::{self, Stored};
use crate::ownership::{self, StoredHost, Writer};
use crate::shared::Interner;
use crate::{
    from_millis, join5, millis, split5, AffectedCount, AffectedHost, AffectedKey, Counts,
    HistoryPoint, HostDetail, HostSummary, IngestOutcome, InstalledOn, Lookup, MaintenanceOutcome,
    OutboxItem, OutboxKind, OutboxStatus, Outgoing, Retention, SiteStats, Source, Store,
    StoreError, StoredSiteStats, StoredUpdate,
};

const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_initial.sql")),
    (
        2,
        include_str!("../migrations/sqlite/0002_severity_since.sql"),
    ),
    (3, include_str!("../migrations/sqlite/0003_forwarding.sql")),
    (4, include_str!("../migrations/sqlite/0004_ownership.sql")),
    (
        5,
        include_str!("../migrations/sqlite/0005_outbox_counts.sql"),
    ),
    (6, include_str!("../migrations/sqlite/0006_inventory.sql")),
    (
        7,
        include_str!("../migrations/sqlite/0007_vulnerabilities.sql"),
    ),
    (8, include_str!("../migrations/sqlite/0008_dpkg_keys.sql")),
    (9, include_str!("../migrations/sqlite/0009_findings.sql")),
    (10, include_str!("../migrations/sqlite/0010_advisory.sql")),
    (
        11,
        include_str!("../migrations/sqlite/0011_pending_refs.sql"),
    ),
    (12, include_str!("../migrations/sqlite/0012_running.sql")),
    (13, include_str!("../migrations/sqlite/0013_unentitled.sql")),
    (
        14,
        include_str!("../migrations/sqlite/0014_held_security.sql"),
    ),
    (15, include_str!("../migrations/sqlite/0015_scores.sql")),
    (16, include_str!("../migrations/sqlite/0016_decisions.sql")),
    (
        17,
        include_str!("../migrations/sqlite/0017_finding_events.sql"),
    ),
    (
        18,
        include_str!("../migrations/sqlite/0018_finding_kinds.sql"),
    ),
];

/// Most jobs committed in one transaction.
const BATCH: usize = 512;

type Reply<T> = mpsc::Sender<Result<T, StoreError>>;

enum Job {
    Ingest {
        report: Box<Report>,
        writer: Writer,
        hash: [u8; 16],
        source: Source,
        forwarded_by: Option<String>,
        received_at: SystemTime,
        outgoing: Vec<Outgoing>,
        reply: Reply<IngestOutcome>,
    },
    Maintain {
        retention: Retention,
        reply: Reply<MaintenanceOutcome>,
    },
    /// Any other write, committed with the batch it arrives in.
    Exec { run: WriteFn, reply: Reply<()> },
}

type WriteFn = Box<dyn Fn(&Transaction) -> Result<(), rusqlite::Error> + Send>;

pub struct SqliteStore {
    jobs: Mutex<SyncSender<Job>>,
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
    /// `<database>.lock`, locked for as long as this store lives: SQLite
    /// serves one aggregator process.
    _lock: std::fs::File,
}

pub(crate) fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// The writer's page cache (SQLite allocates it as pages are read).
/// SQLite settings the operator may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// The writer connection's page cache, MiB (`[storage] sqlite_cache_mib`).
    pub cache_mib: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions { cache_mib: 64 }
    }
}

/// SQLite's own allocation statistics off, before its first use: they take
/// a global mutex on every allocation and free, which the writer pays for
/// each row, and nothing here reads them.
fn memstatus_off() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is called with one int argument, as
        // SQLITE_CONFIG_MEMSTATUS takes; once SQLite is initialised it only
        // answers SQLITE_MISUSE and changes nothing.
        unsafe {
            rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0);
        }
    });
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    memstatus_off();
    let conn = Connection::open(path).map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot open SQLite database {}: {e}",
            path.display()
        ))
    })?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
    // Every statement of an ingest stays prepared (rusqlite keeps 16 by default).
    conn.set_prepared_statement_cache_capacity(128);
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
    )
    .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
    Ok(conn)
}

/// Whether the file still starts as an SQLite database. The WAL can hide a
/// damaged main file from readers until the next checkpoint writes into it, so
/// the probes and the writer look at the file itself.
fn check_header(path: &Path) -> Result<(), StoreError> {
    use std::io::Read as _;
    let mut header = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
    if &header != b"SQLite format 3\0" {
        return Err(StoreError::Unavailable(format!(
            "{} is no longer an SQLite database (its header is damaged): restore it from a backup",
            path.display()
        )));
    }
    Ok(())
}

/// Takes `<database>.lock` for this process, or says who cannot share it.
fn lock(path: &Path) -> Result<std::fs::File, StoreError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            StoreError::Unavailable(format!("cannot open {}: {e}", lock_path.display()))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Unavailable(format!(
            "another process uses the SQLite database {} (it holds {}): SQLite serves one aggregator; stop the other one, or use PostgreSQL for replicas",
            path.display(),
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unavailable(format!(
            "cannot lock {}: {e}",
            lock_path.display()
        ))),
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
        .map_err(db)?;
    let current: u32 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > newest {
        return Err(StoreError::Migration {
            version: current,
            reason: format!("the database was written by a newer pakiti (schema {current}, this program knows up to {newest})"),
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = conn.transaction().map_err(db)?;
        tx.execute_batch(sql).map_err(|e| StoreError::Migration {
            version: *version,
            reason: e.to_string(),
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![version, millis(SystemTime::now())],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, SqliteOptions::default())
    }

    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(StoreError::Unavailable(format!(
                    "the directory of the SQLite database {} does not exist",
                    path.display()
                )));
            }
        }
        let lock = lock(path)?;
        let mut writer = connect(path)?;
        // The writer looks up a host and its inventory per report: its pages
        // stay in memory instead of being read again through the kernel.
        writer
            .execute_batch(&format!(
                "PRAGMA cache_size = -{}",
                u64::from(options.cache_mib.max(1)) * 1024
            ))
            .map_err(db)?;
        migrate(&mut writer)?;
        let (tx, rx) = mpsc::sync_channel(4 * BATCH);
        thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn({
                let path = path.to_path_buf();
                move || write_loop(writer, rx, &path)
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            jobs: Mutex::new(tx),
            readers: Mutex::new(Vec::new()),
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    fn submit<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::channel();
        let sender = self
            .jobs
            .lock()
            .map_err(|_| StoreError::Unavailable("the writer is gone".into()))?
            .clone();
        sender
            .send(make(reply))
            .map_err(|_| StoreError::Unavailable("the writer thread has stopped".into()))?;
        answer.recv().map_err(|_| {
            StoreError::Unavailable(
                "the write failed unexpectedly and was rolled back (see the log)".into(),
            )
        })?
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        let conn = match self.readers.lock().ok().and_then(|mut p| p.pop()) {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        let result = f(&conn).map_err(db);
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < 8 {
                pool.push(conn);
            }
        }
        result
    }
}

fn write_loop(mut conn: Connection, jobs: Receiver<Job>, path: &Path) {
    while let Ok(first) = jobs.recv() {
        let mut drained = vec![first];
        while drained.len() < BATCH {
            match jobs.try_recv() {
                Ok(j) => drained.push(j),
                Err(_) => break,
            }
        }
        // Small jobs first, together; a heavy report then commits alone, so
        // that it never holds the small ones that came with it.
        let (light, heavy): (Vec<Job>, Vec<Job>) =
            drained.into_iter().partition(|j| weight(j) < HEAVY);
        if !light.is_empty() {
            guarded_batch(&mut conn, light, path);
        }
        for job in heavy {
            guarded_batch(&mut conn, vec![job], path);
        }
    }
}

/// [`commit_batch`], surviving a panic (a bug): the batch's transaction is
/// rolled back as it unwinds, its jobs get an error (their answers are
/// dropped), the package cache forgets what the batch staged, and the
/// writer goes on with the next batch.
fn guarded_batch(conn: &mut Connection, batch: Vec<Job>, path: &Path) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        commit_batch(conn, batch, path)
    }));
    if let Err(panic) = outcome {
        crate::sqlite_inventory::batch_done(false);
        crate::sqlite_kinds::batch_done(false);
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(panic = %message, "a write failed unexpectedly (a bug); its batch was rolled back, the writer goes on");
    }
}

/// A job at least this heavy (pending updates of a report) commits alone.
const HEAVY: usize = 5_000;

fn weight(job: &Job) -> usize {
    match job {
        Job::Ingest { report, .. } => 1 + report.inventory.updates.len(),
        _ => 1,
    }
}

/// Runs `batch` in one transaction, each job in its savepoint, and answers each.
fn commit_batch(conn: &mut Connection, batch: Vec<Job>, path: &Path) {
    let mut results: Vec<Result<Done, StoreError>> = Vec::with_capacity(batch.len());
    if let Err(e) = check_header(path) {
        tracing::error!(error = %e, "the database file is damaged; nothing is written");
        reply_all(batch, |_| Err(StoreError::Unavailable(e.to_string())));
        return;
    }
    let committed = (|| -> Result<(), rusqlite::Error> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for job in &batch {
            tx.prepare_cached("SAVEPOINT job")?.execute([])?;
            let r = run_job(&tx, job);
            if r.is_err() {
                tx.prepare_cached("ROLLBACK TO job")?.execute([])?;
            }
            crate::sqlite_inventory::job_done(r.is_ok());
            crate::sqlite_kinds::job_done(r.is_ok());
            tx.prepare_cached("RELEASE job")?.execute([])?;
            results.push(r);
        }
        tx.commit()
    })();
    crate::sqlite_inventory::batch_done(committed.is_ok());
    crate::sqlite_kinds::batch_done(committed.is_ok());
    if let Err(e) = committed {
        tracing::error!(error = %e, jobs = batch.len(), "commit failed");
        results = batch
            .iter()
            .map(|_| Err(StoreError::Database(format!("commit failed: {e}"))))
            .collect();
    }
    let mut results = results.into_iter();
    reply_all(batch, |_| {
        results
            .next()
            .unwrap_or_else(|| Err(StoreError::Database("no result".into())))
    });
}

/// Answers every job of a batch with what `result` says for it.
fn reply_all(batch: Vec<Job>, mut result: impl FnMut(usize) -> Result<Done, StoreError>) {
    for (i, job) in batch.into_iter().enumerate() {
        let r = result(i);
        match job {
            Job::Ingest { reply, .. } => {
                let _ = reply.send(r.map(|d| match d {
                    Done::Ingest(o) => o,
                    _ => IngestOutcome::Changed,
                }));
            }
            Job::Maintain { reply, .. } => {
                let _ = reply.send(r.map(|d| match d {
                    Done::Maintain(o) => o,
                    _ => MaintenanceOutcome::default(),
                }));
            }
            Job::Exec { reply, .. } => {
                let _ = reply.send(r.map(|_| ()));
            }
        }
    }
}

enum Done {
    Ingest(IngestOutcome),
    Maintain(MaintenanceOutcome),
    Exec,
}

fn run_job(tx: &Transaction, job: &Job) -> Result<Done, StoreError> {
    match job {
        Job::Ingest {
            report,
            writer,
            hash,
            source,
            forwarded_by,
            received_at,
            outgoing,
            ..
        } => {
            let (outcome, host_id) = ingest(tx, report, writer, hash, *source, *received_at)?;
            (|| {
                tx.prepare_cached("UPDATE hosts SET forwarded_by = ?1 WHERE id = ?2")?
                    .execute(params![forwarded_by, host_id])?;
                enqueue(tx, outgoing, *received_at)
            })()
            .map_err(db)?;
            Ok(Done::Ingest(outcome))
        }
        Job::Maintain { retention, .. } => maintain(tx, *retention).map(Done::Maintain).map_err(db),
        Job::Exec { run, .. } => run(tx).map(|_| Done::Exec).map_err(db),
    }
}

/// The stored host a report names: by machine id, else by site and host name;
/// with its id, content hash and what [`ownership::check`] needs.
fn find_host(
    tx: &Transaction,
    report: &Report,
) -> Result<Option<(i64, Vec<u8>, StoredHost)>, rusqlite::Error> {
    const COLUMNS: &str = "id, content_hash, hostname, site, owner, collected_at, inventory_hash";
    let row = |r: &rusqlite::Row| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            StoredHost {
                hostname: r.get(2)?,
                site: r.get(3)?,
                owner: r.get(4)?,
                collected_at: r.get(5)?,
                inventory_hash: r.get(6)?,
            },
        ))
    };
    match &report.host.machine_id {
        Some(mid) => tx
            .prepare_cached(&format!("SELECT {COLUMNS} FROM hosts WHERE machine_id = ?1"))?
            .query_row([mid], row)
            .optional(),
        None => tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM hosts WHERE machine_id IS NULL AND hostname = ?1 AND site IS ?2 ORDER BY last_report_at DESC LIMIT 1"
            ))?
            .query_row(params![report.host.hostname.as_str(), report.host.site], row)
            .optional(),
    }
}

fn ingest(
    tx: &Transaction,
    report: &Report,
    writer: &Writer,
    hash: &[u8; 16],
    source: Source,
    received_at: SystemTime,
) -> Result<(IngestOutcome, i64), StoreError> {
    ownership::not_from_the_future(report, received_at)?;
    let found = find_host(tx, report).map_err(db)?;
    if let Some((_, _, stored)) = &found {
        ownership::check(stored, report, writer)?;
    }
    ownership::inventory_known(found.as_ref().map(|f| &f.2), report)?;
    let found = found.map(|(id, hash, _)| (id, hash));
    // A delta was checked against the stored host's inventory just above.
    let applied = match &found {
        Some((id, _)) => crate::sqlite_inventory::apply_delta(tx, *id, report, received_at)?,
        None => None,
    };
    write_host(
        tx,
        report,
        writer,
        hash,
        source,
        received_at,
        found,
        applied,
    )
    .map_err(db)
}

/// Writes a report the ownership rules allowed over `found` (id, content
/// hash), its inventory delta `applied` already: the row of a new host
/// first, then what every store does ([`crate::host_write`]).
#[allow(clippy::too_many_arguments)]
fn write_host(
    tx: &Transaction,
    report: &Report,
    writer: &Writer,
    hash: &[u8; 16],
    source: Source,
    received_at: SystemTime,
    found: Option<(i64, Vec<u8>)>,
    applied: Option<crate::delta::Applied>,
) -> Result<(IngestOutcome, i64), rusqlite::Error> {
    let w = crate::host_write::HostWrite::new(report, hash, source, None, received_at);
    let (host_id, stored_hash, created) = match found {
        Some((id, stored)) => (id, stored, false),
        None => {
            tx.prepare_cached(
                "INSERT INTO hosts (machine_id, hostname, site, owner, os_id, os_version, kernel, arch, manager, exporter_version, exporter_revision, source, first_seen, last_report_at, collected_at, collection_duration_ms, content_hash, reboot_required, reboot_packages, security_metadata_available, installed_packages, pending, sec_critical, sec_important, sec_moderate, sec_low, sec_unknown, held) \
                 VALUES (?1, ?2, ?3, ?4, '', '', '', '', '', '', '', '', ?5, ?5, ?5, 0, x'', 0, '', 0, 0, -1, 0, 0, 0, 0, 0, 0)",
            )?
            .execute(params![
                report.host.machine_id,
                report.host.hostname.as_str(),
                report.host.site,
                writer.client,
                w.at
            ])?;
            (tx.last_insert_rowid(), Vec::new(), true)
        }
    };
    let outcome = crate::host_write::write(
        &mut SqliteRows { tx, applied },
        host_id,
        created,
        &stored_hash,
        &w,
    )?;
    Ok((outcome, host_id))
}

/// SQLite's statements for [`crate::host_write`].
struct SqliteRows<'a, 'c> {
    tx: &'a Transaction<'c>,
    /// The inventory delta applied, for the inventory's history.
    applied: Option<crate::delta::Applied>,
}

impl crate::host_write::HostRows for SqliteRows<'_, '_> {
    type Error = rusqlite::Error;

    fn touch(&mut self, host: i64, w: &crate::host_write::HostWrite<'_>) -> rusqlite::Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE hosts SET last_report_at = ?2, collected_at = ?3, collection_duration_ms = ?4, source = ?5 WHERE id = ?1",
            )?
            .execute(params![host, w.at, w.collected, w.duration_ms, w.source.as_str()])?;
        Ok(())
    }

    fn pending(&mut self, host: i64) -> rusqlite::Result<HashMap<(String, String), Stored>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT name, arch, candidate_version, first_seen, candidate_first_seen, security_first_seen, installed_version, severity, held_reason, repository, advisories, cves FROM pending_updates WHERE host_id = ?1",
        )?;
        let rows = stmt.query_map([host], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                Stored {
                    candidate: r.get(2)?,
                    first_seen: r.get(3)?,
                    candidate_first_seen: r.get(4)?,
                    security_first_seen: r.get(5)?,
                    installed: r.get(6)?,
                    severity: r.get(7)?,
                    held: r.get(8)?,
                    repository: r.get(9)?,
                    advisories: r.get(10)?,
                    cves: r.get(11)?,
                },
            ))
        })?;
        rows.collect()
    }

    fn apply(&mut self, host: i64, plan: &diff::Plan) -> rusqlite::Result<()> {
        let mut upsert = self.tx.prepare_cached(
            "INSERT OR REPLACE INTO pending_updates (host_id, name, arch, installed_version, candidate_version, severity, held_reason, repository, advisories, cves, first_seen, candidate_first_seen, security_first_seen) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?;
        for r in &plan.upserts {
            let v = &r.value;
            upsert.execute(params![
                host,
                r.name,
                r.arch,
                v.installed,
                v.candidate,
                v.severity,
                v.held,
                v.repository,
                v.advisories,
                v.cves,
                v.first_seen,
                v.candidate_first_seen,
                v.security_first_seen
            ])?;
        }
        let mut delete = self.tx.prepare_cached(
            "DELETE FROM pending_updates WHERE host_id = ?1 AND name = ?2 AND arch = ?3",
        )?;
        for (name, arch) in &plan.deletes {
            delete.execute(params![host, name, arch])?;
        }
        crate::sqlite_affected::write_refs(self.tx, host, plan)
    }

    fn previous_counts(&mut self, host: i64) -> rusqlite::Result<Option<Counts>> {
        self.tx
            .prepare_cached(
                "SELECT pending, sec_critical, sec_important, sec_moderate, sec_low, sec_unknown, held, reboot_required FROM hosts WHERE id = ?1",
            )?
            .query_row([host], counts_from_row(0))
            .optional()
    }

    fn host(
        &mut self,
        host: i64,
        w: &crate::host_write::HostWrite<'_>,
        plan: &diff::Plan,
    ) -> rusqlite::Result<()> {
        let (report, counts) = (w.report, &w.counts);
        let inv = &report.inventory;
        let running = crate::RunningCounts::of(&inv.running);
        let running_json = pakiti_report::wire::running_to_json(&inv.running);
        let unentitled = crate::UnentitledCounts::of(inv.unentitled.as_deref());
        let held = crate::held_security(report);
        let unentitled_json = inv
            .unentitled
            .as_deref()
            .and_then(pakiti_report::wire::unentitled_to_json);
        self.tx.prepare_cached(
            "UPDATE hosts SET hostname = ?2, site = ?3, os_id = ?4, os_version = ?5, os_name = ?6, kernel = ?7, arch = ?8, manager = ?9, exporter_version = ?10, exporter_revision = ?11, source = ?12, last_report_at = ?13, collected_at = ?14, collection_duration_ms = ?15, content_hash = ?16, reboot_required = ?17, reboot_packages = ?18, metadata_updated_at = ?19, security_metadata_available = ?20, installed_packages = ?21, pending = ?22, sec_critical = ?23, sec_important = ?24, sec_moderate = ?25, sec_low = ?26, sec_unknown = ?27, held = ?28, security_pending_since = ?29, since_critical = ?30, since_important = ?31, since_moderate = ?32, since_low = ?33, since_unknown = ?34, restart_processes = ?35, restart_units = ?36, restart_sessions = ?37, livepatches = ?38, running = ?39, unentitled_updates = ?40, unentitled_security = ?41, unentitled = ?42, held_critical = ?43, held_important = ?44, held_moderate = ?45, held_low = ?46, held_unknown = ?47 WHERE id = ?1",
        )?
        .execute(params![
            host,
            report.host.hostname.as_str(),
            report.host.site,
            report.os.id,
            report.os.version,
            report.os.pretty_name,
            report.kernel,
            report.arch,
            report.manager.as_str(),
            report.producer.version,
            report.producer.revision,
            w.source.as_str(),
            w.at,
            w.collected,
            w.duration_ms,
            w.hash,
            inv.reboot.required,
            inv.reboot.packages.join(" "),
            inv.metadata_updated_at.map(millis),
            inv.security_metadata_available,
            inv.installed_packages as i64,
            counts.pending,
            counts.security[0],
            counts.security[1],
            counts.security[2],
            counts.security[3],
            counts.security[4],
            counts.held,
            plan.security_since,
            plan.since_by_severity[0],
            plan.since_by_severity[1],
            plan.since_by_severity[2],
            plan.since_by_severity[3],
            plan.since_by_severity[4],
            running.restart.map(|r| r.processes),
            running.restart.map(|r| r.units),
            running.restart.map(|r| r.sessions),
            running.livepatches,
            running_json,
            unentitled.map(|u| u.updates),
            unentitled.map(|u| u.security),
            unentitled_json,
            held[0],
            held[1],
            held[2],
            held[3],
            held[4],
        ])?;
        Ok(())
    }

    fn history(&mut self, host: i64, at: i64, counts: &Counts) -> rusqlite::Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO history (host_id, at, pending, sec_critical, sec_important, sec_moderate, sec_low, sec_unknown, held, reboot_required) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                host,
                at,
                counts.pending,
                counts.security[0],
                counts.security[1],
                counts.security[2],
                counts.security[3],
                counts.security[4],
                counts.held,
                counts.reboot_required
            ])?;
        Ok(())
    }

    fn inventory(
        &mut self,
        host: i64,
        w: &crate::host_write::HostWrite<'_>,
    ) -> rusqlite::Result<()> {
        crate::sqlite_inventory::write(self.tx, host, w.report, w.at, self.applied.take())
    }
}

fn maintain(tx: &Transaction, r: Retention) -> Result<MaintenanceOutcome, rusqlite::Error> {
    crate::sqlite_inventory::forget_hosts(tx, millis(r.remove_hosts_before))?;
    let hosts_removed = tx.execute(
        "DELETE FROM hosts WHERE last_report_at < ?1",
        [millis(r.remove_hosts_before)],
    )? as u64;
    let history_dropped = tx.execute(
        "DELETE FROM history WHERE at < ?1",
        [millis(r.drop_history_before)],
    )? as u64
        + crate::sqlite_inventory::prune(tx, millis(r.drop_history_before))? as u64
        + crate::sqlite_findings::prune(tx, millis(r.drop_history_before))? as u64;
    tx.execute(
        "DELETE FROM site_stats WHERE received_at < ?1",
        [millis(r.remove_hosts_before)],
    )?;
    Ok(MaintenanceOutcome {
        hosts_removed,
        history_dropped,
    })
}

fn counts_from_row(start: usize) -> impl Fn(&rusqlite::Row) -> rusqlite::Result<Counts> {
    move |r| {
        Ok(Counts {
            pending: r.get(start)?,
            security: [
                r.get(start + 1)?,
                r.get(start + 2)?,
                r.get(start + 3)?,
                r.get(start + 4)?,
                r.get(start + 5)?,
            ],
            held: r.get(start + 6)?,
            reboot_required: r.get(start + 7)?,
        })
    }
}

pub(crate) const SUMMARY_COLUMNS: &str = "id, hostname, machine_id, site, os_id, os_version, os_name, kernel, arch, manager, exporter_version, source, first_seen, last_report_at, collected_at, collection_duration_ms, metadata_updated_at, security_metadata_available, installed_packages, reboot_packages, security_pending_since, pending, sec_critical, sec_important, sec_moderate, sec_low, sec_unknown, held, reboot_required, since_critical, since_important, since_moderate, since_low, since_unknown, exporter_revision, forwarded_by, owner, os_codename, inventory_hash IS NOT NULL, vuln_counts, restart_processes, restart_units, restart_sessions, livepatches, unentitled_updates, unentitled_security, held_critical, held_important, held_moderate, held_low, held_unknown";

/// How many columns [`SUMMARY_COLUMNS`] names: a query selecting more reads them from here.
pub(crate) const SUMMARY_WIDTH: usize = 51;

pub(crate) fn summary(r: &rusqlite::Row) -> rusqlite::Result<HostSummary> {
    summary_with(r, &mut Interner::default())
}

/// A host row, its shared texts taken from `names`.
pub(crate) fn summary_with(
    r: &rusqlite::Row,
    names: &mut Interner,
) -> rusqlite::Result<HostSummary> {
    let reboot_packages: String = r.get(19)?;
    Ok(HostSummary {
        id: r.get(0)?,
        hostname: r.get(1)?,
        machine_id: r.get(2)?,
        site: names.maybe(r.get(3)?),
        os_id: names.text(r.get(4)?),
        os_version: names.text(r.get(5)?),
        os_name: names.maybe(r.get(6)?),
        kernel: names.text(r.get(7)?),
        arch: names.text(r.get(8)?),
        manager: names.text(r.get(9)?),
        exporter_version: names.text(r.get(10)?),
        source: names.text(r.get(11)?),
        first_seen: from_millis(r.get(12)?),
        last_report_at: from_millis(r.get(13)?),
        collected_at: from_millis(r.get(14)?),
        collection_duration: Duration::from_millis(r.get::<_, i64>(15)?.max(0) as u64),
        metadata_updated_at: r.get::<_, Option<i64>>(16)?.map(from_millis),
        security_metadata_available: r.get(17)?,
        installed_packages: r.get::<_, i64>(18)?.max(0) as u64,
        reboot_packages: reboot_packages
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        security_pending_since: r.get::<_, Option<i64>>(20)?.map(from_millis),
        counts: counts_from_row(21)(r)?,
        security_since_by_severity: [
            r.get::<_, Option<i64>>(29)?.map(from_millis),
            r.get::<_, Option<i64>>(30)?.map(from_millis),
            r.get::<_, Option<i64>>(31)?.map(from_millis),
            r.get::<_, Option<i64>>(32)?.map(from_millis),
            r.get::<_, Option<i64>>(33)?.map(from_millis),
        ],
        exporter_revision: names.text(r.get(34)?),
        forwarded_by: names.maybe(r.get(35)?),
        owner: names.maybe(r.get(36)?),
        os_codename: names.maybe(r.get(37)?),
        has_inventory: r.get(38)?,
        vulnerabilities: r
            .get::<_, Option<String>>(39)?
            .as_deref()
            .map(crate::VulnCounts::from_column),
        running: crate::RunningCounts::from_columns(
            [r.get(40)?, r.get(41)?, r.get(42)?],
            r.get(43)?,
        ),
        unentitled: crate::UnentitledCounts::from_columns(r.get(44)?, r.get(45)?),
        held_security: [r.get(46)?, r.get(47)?, r.get(48)?, r.get(49)?, r.get(50)?],
    })
}

/// Queues items and applies each upstream's cap: over it, the oldest
/// statistics go first, then the oldest reports; drops are counted.
fn enqueue(tx: &Transaction, items: &[Outgoing], at: SystemTime) -> Result<(), rusqlite::Error> {
    for item in items {
        tx.prepare_cached(
            "INSERT INTO outbox (upstream, kind, payload, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            item.upstream,
            item.kind.as_str(),
            item.payload,
            millis(at)
        ])?;
        let (mut items, mut bytes): (i64, i64) = tx
            .prepare_cached(
                "INSERT INTO outbox_counts (upstream, items, bytes) VALUES (?1, 1, ?2) \
                 ON CONFLICT (upstream) DO UPDATE SET items = items + 1, bytes = bytes + excluded.bytes \
                 RETURNING items, bytes",
            )?
            .query_row(params![item.upstream, item.payload.len() as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        // Over the cap: the oldest statistics go first, then the oldest reports.
        while items > item.cap as i64 || bytes > item.cap_bytes as i64 {
            let mut victim = None;
            for kind in ["stats", "report"] {
                victim = tx
                    .prepare_cached(
                        "SELECT id, length(payload) FROM outbox WHERE upstream = ?1 AND kind = ?2 ORDER BY id LIMIT 1",
                    )?
                    .query_row(params![item.upstream, kind], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, kind))
                    })
                    .optional()?;
                if victim.is_some() {
                    break;
                }
            }
            let Some((id, len, kind)) = victim else { break };
            tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?
                .execute([id])?;
            tx.prepare_cached(
                "UPDATE outbox_counts SET items = items - 1, bytes = bytes - ?2 WHERE upstream = ?1",
            )?
            .execute(params![item.upstream, len])?;
            tx.prepare_cached(
                "INSERT INTO outbox_drops (upstream, kind, dropped) VALUES (?1, ?2, 1) \
                 ON CONFLICT (upstream, kind) DO UPDATE SET dropped = dropped + 1",
            )?
            .execute(params![item.upstream, kind])?;
            items -= 1;
            bytes -= len;
        }
    }
    Ok(())
}

fn put_site_stats(
    tx: &Transaction,
    server: &str,
    stats: &[SiteStats],
    received_at: SystemTime,
) -> Result<(), rusqlite::Error> {
    for s in stats {
        tx.prepare_cached(
            "INSERT INTO site_stats (server, site, received_at, generated_at, hosts, hosts_pending, hosts_security, hosts_reboot, hosts_stale, updates_pending, security_updates, oldest_security_since) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT (server, site) DO UPDATE SET received_at = excluded.received_at, generated_at = excluded.generated_at, hosts = excluded.hosts, hosts_pending = excluded.hosts_pending, hosts_security = excluded.hosts_security, hosts_reboot = excluded.hosts_reboot, hosts_stale = excluded.hosts_stale, updates_pending = excluded.updates_pending, security_updates = excluded.security_updates, oldest_security_since = excluded.oldest_security_since",
        )?
        .execute(params![
            server,
            s.site,
            millis(received_at),
            s.generated_at.map(millis),
            s.hosts,
            s.hosts_pending,
            join5(&s.hosts_security),
            s.hosts_reboot,
            s.hosts_stale,
            s.updates_pending,
            join5(&s.security_updates),
            s.oldest_security_since.map(millis),
        ])?;
    }
    Ok(())
}

pub(crate) const UPDATE_COLUMNS: &str = "name, arch, installed_version, candidate_version, severity, held_reason, repository, advisories, cves, first_seen, candidate_first_seen, security_first_seen";

pub(crate) fn stored_update(r: &rusqlite::Row, at: usize) -> rusqlite::Result<StoredUpdate> {
    let severity: Option<String> = r.get(at + 4)?;
    let held: Option<String> = r.get(at + 5)?;
    Ok(StoredUpdate {
        name: r.get(at)?,
        arch: r.get(at + 1)?,
        installed_version: r.get(at + 2)?,
        candidate_version: r.get(at + 3)?,
        security: severity.map(|s| s.parse::<Severity>().unwrap_or(Severity::Unknown)),
        held: held.map(|h| h.parse::<HeldReason>().unwrap_or(HeldReason::Hold)),
        repository: r.get(at + 6)?,
        advisories: split_words(r.get(at + 7)?),
        cves: split_words(r.get(at + 8)?),
        first_seen: from_millis(r.get(at + 9)?),
        candidate_first_seen: from_millis(r.get(at + 10)?),
        security_first_seen: r.get::<_, Option<i64>>(at + 11)?.map(from_millis),
    })
}

fn split_words(s: String) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

impl Store for SqliteStore {
    fn ingest_and_queue(
        &self,
        report: &Report,
        writer: &Writer,
        source: Source,
        forwarded_by: Option<&str>,
        received_at: SystemTime,
        outgoing: &[Outgoing],
    ) -> Result<IngestOutcome, StoreError> {
        let hash = crate::diff::content_hash(report);
        self.submit(|reply| Job::Ingest {
            report: Box::new(report.clone()),
            writer: writer.clone(),
            hash,
            source,
            forwarded_by: forwarded_by.map(str::to_string),
            received_at,
            outgoing: outgoing.to_vec(),
            reply,
        })
    }

    fn hosts(&self) -> Result<Vec<HostSummary>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS} FROM hosts ORDER BY hostname, id"
            ))?;
            let mut names = Interner::default();
            let rows = stmt.query_map([], |r| summary_with(r, &mut names))?;
            rows.collect()
        })
    }

    fn host(&self, hostname: &str, site: Option<&str>) -> Result<Option<HostDetail>, StoreError> {
        self.read(|c| {
            let Some(summary) = c
                .prepare_cached(&format!(
                    "SELECT {SUMMARY_COLUMNS} FROM hosts WHERE hostname = ?1 AND (?2 IS NULL OR site = ?2) ORDER BY last_report_at DESC, id DESC LIMIT 1"
                ))?
                .query_row(params![hostname, site], summary)
                .optional()?
            else {
                return Ok(None);
            };
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {UPDATE_COLUMNS} FROM pending_updates WHERE host_id = ?1 ORDER BY name, arch"
            ))?;
            let updates = stmt
                .query_map([summary.id], |r| stored_update(r, 0))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut stmt = c.prepare_cached(
                "SELECT at, pending, sec_critical, sec_important, sec_moderate, sec_low, sec_unknown, held, reboot_required FROM history WHERE host_id = ?1 ORDER BY at",
            )?;
            let history = stmt
                .query_map([summary.id], |r| {
                    Ok(HistoryPoint {
                        at: from_millis(r.get(0)?),
                        counts: counts_from_row(1)(r)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let inv = crate::sqlite_inventory::read(c, summary.id, true)?;
            let (running, unentitled): (Option<String>, Option<String>) = c
                .prepare_cached("SELECT running, unentitled FROM hosts WHERE id = ?1")?
                .query_row([summary.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(Some(HostDetail {
                summary,
                updates,
                history,
                installed: inv.installed,
                installed_changes: inv.changes,
                platform: inv.platform,
                running: crate::running_of(running.as_deref()),
                unentitled: crate::unentitled_of(unentitled.as_deref()),
            }))
        })
    }

    fn installed_on(
        &self,
        name: &str,
        version_lt: Option<&str>,
    ) -> Result<Vec<InstalledOn>, StoreError> {
        self.read(|c| crate::sqlite_inventory::installed_on(c, name, version_lt))
    }

    fn affected(
        &self,
        lookup: Lookup<'_>,
        after: Option<&AffectedKey>,
        limit: usize,
    ) -> Result<Vec<AffectedHost>, StoreError> {
        self.read(|c| crate::sqlite_affected::page(c, lookup, after, limit))
    }

    fn affected_count(&self, lookup: Lookup<'_>) -> Result<AffectedCount, StoreError> {
        self.read(|c| crate::sqlite_affected::count(c, lookup))
    }

    fn maintain(&self, retention: Retention) -> Result<MaintenanceOutcome, StoreError> {
        self.submit(|reply| Job::Maintain { retention, reply })
    }

    fn enqueue(&self, outgoing: &[Outgoing]) -> Result<(), StoreError> {
        let items = outgoing.to_vec();
        let at = SystemTime::now();
        self.submit(|reply| Job::Exec {
            run: Box::new(move |tx| enqueue(tx, &items, at)),
            reply,
        })
    }

    fn outbox(&self, upstream: &str, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, kind, payload, created_at FROM outbox WHERE upstream = ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![upstream, limit as i64], |r| {
                Ok(OutboxItem {
                    id: r.get(0)?,
                    kind: OutboxKind::parse(&r.get::<_, String>(1)?),
                    payload: r.get(2)?,
                    created_at: from_millis(r.get(3)?),
                })
            })?;
            rows.collect()
        })
    }

    fn outbox_remove(&self, ids: &[i64]) -> Result<(), StoreError> {
        let ids = ids.to_vec();
        self.submit(|reply| Job::Exec {
            run: Box::new(move |tx| {
                for id in &ids {
                    let gone: Option<(String, i64)> = tx
                        .prepare_cached(
                            "DELETE FROM outbox WHERE id = ?1 RETURNING upstream, length(payload)",
                        )?
                        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    if let Some((upstream, len)) = gone {
                        tx.prepare_cached(
                            "UPDATE outbox_counts SET items = items - 1, bytes = bytes - ?2 WHERE upstream = ?1",
                        )?
                        .execute(params![upstream, len])?;
                    }
                }
                Ok(())
            }),
            reply,
        })
    }

    fn outbox_status(&self) -> Result<Vec<OutboxStatus>, StoreError> {
        self.read(|c| {
            let queues = c
                .prepare_cached(
                    "SELECT upstream, COUNT(*), MIN(created_at) FROM outbox GROUP BY upstream",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            let drops = c
                .prepare_cached("SELECT upstream, kind, dropped FROM outbox_drops")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(crate::outbox_status(queues, drops))
        })
    }

    fn move_host(
        &self,
        hostname: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<u64, StoreError> {
        let moved = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (hostname, from, to) = (
            hostname.to_string(),
            from.map(str::to_string),
            to.map(str::to_string),
        );
        let counter = moved.clone();
        self.submit(|reply| Job::Exec {
            run: Box::new(move |tx| {
                let n = tx
                    .prepare_cached(
                        "UPDATE hosts SET site = ?3 WHERE hostname = ?1 AND site IS ?2",
                    )?
                    .execute(params![hostname, from, to])?;
                counter.store(n as u64, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }),
            reply,
        })?;
        Ok(moved.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn put_site_stats(
        &self,
        server: &str,
        stats: &[SiteStats],
        received_at: SystemTime,
    ) -> Result<(), StoreError> {
        let (server, stats) = (server.to_string(), stats.to_vec());
        self.submit(|reply| Job::Exec {
            run: Box::new(move |tx| put_site_stats(tx, &server, &stats, received_at)),
            reply,
        })
    }

    fn site_stats(&self) -> Result<Vec<StoredSiteStats>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT server, site, received_at, generated_at, hosts, hosts_pending, hosts_security, hosts_reboot, hosts_stale, updates_pending, security_updates, oldest_security_since FROM site_stats ORDER BY site, server",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(StoredSiteStats {
                    server: r.get(0)?,
                    received_at: from_millis(r.get(2)?),
                    stats: SiteStats {
                        site: r.get(1)?,
                        generated_at: r.get::<_, Option<i64>>(3)?.map(from_millis),
                        hosts: r.get(4)?,
                        hosts_pending: r.get(5)?,
                        hosts_security: split5(&r.get::<_, String>(6)?),
                        hosts_reboot: r.get(7)?,
                        hosts_stale: r.get(8)?,
                        updates_pending: r.get(9)?,
                        security_updates: split5(&r.get::<_, String>(10)?),
                        oldest_security_since: r.get::<_, Option<i64>>(11)?.map(from_millis),
                    },
                })
            })?;
            rows.collect()
        })
    }

    /// Reads the file itself through a new connection (its header, schema
    /// and the first page of every table), so that a file damaged or replaced
    /// under the running process is seen, not hidden by cached connections.
    fn ping(&self) -> Result<(), StoreError> {
        check_header(&self.path)?;
        let c = connect(&self.path)?;
        let tables: Vec<String> = c
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", self.path.display())))?;
        if !tables.iter().any(|t| t == "hosts") {
            return Err(StoreError::Unavailable(format!(
                "{}: the hosts table is gone",
                self.path.display()
            )));
        }
        for t in tables {
            c.query_row(
                &format!("SELECT count(*) FROM (SELECT 1 FROM \"{t}\" LIMIT 1)"),
                [],
                |_| Ok(()),
            )
            .map_err(|e| {
                StoreError::Unavailable(format!("{}: table {t}: {e}", self.path.display()))
            })?;
        }
        Ok(())
    }

    fn import_feed(
        &self,
        feed: &crate::FeedStatus,
        records: Vec<pakiti_vulns::Record>,
    ) -> Result<(), StoreError> {
        let (feed, records) = (feed.clone(), std::sync::Arc::new(records));
        self.submit(|reply| Job::Exec {
            run: Box::new(move |tx| crate::sqlite_vulns::import(tx, &feed, &records)),
            reply,
        })
    }

    fn feeds(&self) -> Result<Vec<crate::FeedStatus>, StoreError> {
        self.read(crate::sqlite_vulns::feeds)
    }

    fn import_scores(
        &self,
        feed: &crate::FeedStatus,
        scores: Vec<crate::Score>,
    ) -> Result<(), StoreError> {
        let (feed, scores) = (feed.clone(), std::sync::Arc::new(scores));
        self.submit(|reply| Job::Exec {
            run: Box::new(move |tx| crate::sqlite_vulns::import_scores(tx, &feed, &scores)),
            reply,
        })
    }

    fn scores(&self, ids: &[String]) -> Result<Vec<crate::Score>, StoreError> {
        self.read(|c| crate::sqlite_vulns::scores(c, ids))
    }

    fn decisions(&self) -> Result<Vec<crate::StoredDecision>, StoreError> {
        self.read(crate::sqlite_vulns::decisions)
    }

    fn finding_events(&self) -> Result<Vec<(pakiti_report::Severity, u64, u64)>, StoreError> {
        self.read(crate::sqlite_findings::events)
    }

    fn add_decision(
        &self,
        kind: &str,
        vulnerability: &str,
        body: &str,
        who: &str,
        at: SystemTime,
    ) -> Result<i64, StoreError> {
        let id = std::sync::Arc::new(std::sync::Mutex::new(0i64));
        let out = id.clone();
        let (kind, vulnerability, body, who) = (
            kind.to_string(),
            vulnerability.to_string(),
            body.to_string(),
            who.to_string(),
        );
        self.submit(|reply| Job::Exec {
            run: Box::new(move |tx| {
                let n = crate::sqlite_vulns::add_decision(
                    tx,
                    &kind,
                    &vulnerability,
                    &body,
                    &who,
                    millis(at),
                )?;
                if let Ok(mut o) = out.lock() {
                    *o = n;
                }
                Ok(())
            }),
            reply,
        })?;
        let n = *id
            .lock()
            .map_err(|_| StoreError::Unavailable("the writer's answer was lost".into()))?;
        Ok(n)
    }

    fn remove_decision(&self, id: i64, who: &str, at: SystemTime) -> Result<bool, StoreError> {
        let found = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let out = found.clone();
        let who = who.to_string();
        self.submit(|reply| Job::Exec {
            run: Box::new(move |tx| {
                let f = crate::sqlite_vulns::remove_decision(tx, id, &who, millis(at))?;
                out.store(f, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }),
            reply,
        })?;
        Ok(found.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn audit_decisions(&self, entries: &[crate::AuditEntry]) -> Result<(), StoreError> {
        let entries = std::sync::Arc::new(entries.to_vec());
        self.submit(|reply| Job::Exec {
            run: Box::new(move |tx| crate::sqlite_vulns::audit(tx, &entries)),
            reply,
        })
    }

    fn decision_audit(
        &self,
        vulnerability: Option<&str>,
    ) -> Result<Vec<crate::AuditEntry>, StoreError> {
        self.read(|c| crate::sqlite_vulns::audit_log(c, vulnerability))
    }

    fn vulnerability_records(
        &self,
        release: &str,
        sources: &[String],
    ) -> Result<Vec<pakiti_vulns::Record>, StoreError> {
        self.read(|c| crate::sqlite_vulns::records(c, release, sources))
    }

    fn covers_release(&self, release: &str) -> Result<bool, StoreError> {
        self.read(|c| crate::sqlite_vulns::covers(c, release))
    }

    fn package_sources(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, String, String, String)>, StoreError> {
        self.read(|c| crate::sqlite_vulns::package_sources(c, names))
    }

    fn matching_hosts(&self) -> Result<Vec<crate::MatchingHost>, StoreError> {
        self.read(crate::sqlite_findings::matching_hosts)
    }

    fn host_id(&self, report: &Report) -> Result<Option<i64>, StoreError> {
        self.read(|c| crate::sqlite_findings::host_id(c, report))
    }

    fn matching_input(&self, id: i64) -> Result<Option<crate::MatchingInput>, StoreError> {
        self.read(|c| crate::sqlite_findings::matching_input(c, id))
    }

    fn put_findings(
        &self,
        id: i64,
        basis: &[u8],
        findings: Option<&[pakiti_vulns::Finding]>,
        at: SystemTime,
    ) -> Result<bool, StoreError> {
        let written = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = written.clone();
        // Read and planned by the caller's thread; the writer only writes.
        let open = match findings {
            Some(_) => self.read(|c| crate::sqlite_findings::open_findings(c, id))?,
            None => Vec::new(),
        };
        let planned = crate::sqlite_findings::planned(&open, findings);
        let basis = basis.to_vec();
        self.submit(|reply| Job::Exec {
            run: Box::new(move |tx| {
                let w = crate::sqlite_findings::put(tx, id, &basis, &planned, millis(at))?;
                flag.store(w, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }),
            reply,
        })?;
        Ok(written.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn put_findings_many(
        &self,
        writes: &[crate::FindingsWrite<'_>],
        at: SystemTime,
    ) -> Result<Vec<bool>, StoreError> {
        // Read and planned by the caller's thread; the writer only writes,
        // every host in one transaction (the pages of the index by
        // vulnerability that all hosts touch are written once, not once
        // per host).
        let mut planned = Vec::with_capacity(writes.len());
        for w in writes {
            let open = match w.findings {
                Some(_) => self.read(|c| crate::sqlite_findings::open_findings(c, w.id))?,
                None => Vec::new(),
            };
            planned.push((
                w.id,
                w.basis.to_vec(),
                crate::sqlite_findings::planned(&open, w.findings),
            ));
        }
        let written = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = written.clone();
        self.submit(|reply| Job::Exec {
            run: Box::new(move |tx| {
                let mut flags = Vec::with_capacity(planned.len());
                for (id, basis, p) in &planned {
                    flags.push(crate::sqlite_findings::put(tx, *id, basis, p, millis(at))?);
                }
                if let Ok(mut o) = out.lock() {
                    *o = flags;
                }
                Ok(())
            }),
            reply,
        })?;
        let flags = written
            .lock()
            .map_err(|_| StoreError::Unavailable("the writer's answer was lost".into()))?
            .clone();
        Ok(flags)
    }

    fn host_findings(&self, id: i64) -> Result<Vec<crate::StoredFinding>, StoreError> {
        self.read(|c| crate::sqlite_findings::of_host(c, id))
    }

    fn fleet_vulnerabilities(&self) -> Result<Vec<crate::FleetVulnerability>, StoreError> {
        self.read(crate::sqlite_findings::fleet)
    }

    fn each_open_finding(
        &self,
        each: &mut dyn FnMut(crate::OpenFinding),
    ) -> Result<(), StoreError> {
        self.read(|c| crate::sqlite_findings::each_open(c, each))
    }

    fn exposed_hosts(
        &self,
        id: &str,
        after: Option<&crate::ExposedKey>,
        limit: usize,
    ) -> Result<crate::ExposedPage, StoreError> {
        self.read(|c| crate::sqlite_findings::exposed(c, id, after, limit))
    }

    fn resolved_hosts(
        &self,
        id: &str,
        limit: usize,
    ) -> Result<Vec<crate::ExposedHost>, StoreError> {
        self.read(|c| crate::sqlite_findings::resolved(c, id, limit))
    }
}

#[cfg(test)]
mod tests;
