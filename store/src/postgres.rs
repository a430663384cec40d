//! PostgreSQL: many aggregator replicas on one database. Each report is one
//! transaction that locks its host's row, so concurrent reports for the same
//! host from different replicas apply one after the other; a new host is
//! created with `ON CONFLICT DO NOTHING` and re-read, so it is never duplicated.
//! Connections come from a pool with a statement timeout; a broken connection
//! is dropped and the next call reconnects.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use postgres::Transaction;
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;

use crate::pg_statements::{Manager, Tx};
use crate::shared::Interner;

use pakiti_report::{HeldReason, Report, Severity};

use crate::diff::{self, Stored};
use crate::ownership::{self, Conflict, StoredHost, Writer};
use crate::{
    from_millis, join5, millis, split5, AffectedCount, AffectedHost, AffectedKey, Counts,
    HistoryPoint, HostDetail, HostSummary, IngestOutcome, Lookup, MaintenanceOutcome, OutboxItem,
    OutboxKind, OutboxStatus, Outgoing, Retention, SiteStats, Source, Store, StoreError,
    StoredSiteStats, StoredUpdate,
};

const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_initial.sql")),
    (
        2,
        include_str!("../migrations/postgres/0002_forwarding.sql"),
    ),
    (3, include_str!("../migrations/postgres/0003_ownership.sql")),
    (
        4,
        include_str!("../migrations/postgres/0004_outbox_counts.sql"),
    ),
    (5, include_str!("../migrations/postgres/0005_inventory.sql")),
    (
        6,
        include_str!("../migrations/postgres/0006_vulnerabilities.sql"),
    ),
    (7, include_str!("../migrations/postgres/0007_dpkg_keys.sql")),
    (8, include_str!("../migrations/postgres/0008_findings.sql")),
    (9, include_str!("../migrations/postgres/0009_advisory.sql")),
    (
        10,
        include_str!("../migrations/postgres/0010_pending_refs.sql"),
    ),
    (11, include_str!("../migrations/postgres/0011_running.sql")),
    (
        12,
        include_str!("../migrations/postgres/0012_unentitled.sql"),
    ),
    (
        13,
        include_str!("../migrations/postgres/0013_held_security.sql"),
    ),
    (14, include_str!("../migrations/postgres/0014_scores.sql")),
    (
        15,
        include_str!("../migrations/postgres/0015_decisions.sql"),
    ),
    (
        16,
        include_str!("../migrations/postgres/0016_finding_events.sql"),
    ),
];

/// Pool and timeout settings.
#[derive(Debug, Clone, Copy)]
pub struct PgOptions {
    pub pool_size: u32,
    pub statement_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 8,
            statement_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

pub struct PgStore {
    pool: Pool<Manager>,
    /// Package ids this process has seen (see `inventory::PackageCache`).
    packages: std::sync::Mutex<crate::inventory::PackageCache>,
}

pub(crate) fn db(e: postgres::Error) -> StoreError {
    let mut why = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        why.push_str(&format!(": {s}"));
        source = s.source();
    }
    // A row that does not read as its column should (a NULL, another type)
    // is the data's fault, not the connection's.
    let row = why.starts_with("error deserializing");
    if !row && (e.is_closed() || e.as_db_error().is_none()) {
        StoreError::Unavailable(format!("PostgreSQL: {why}"))
    } else {
        StoreError::Database(why)
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> StoreError {
        db(e)
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..s + 3], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl PgStore {
    /// Connects, checks the server answers, and applies migrations (one
    /// replica at a time, under an advisory lock).
    pub fn connect(url: &str, opts: PgOptions) -> Result<PgStore, StoreError> {
        let (mut config, tls) = crate::pgtls::configure(url, &redact(url))?;
        config.options(&format!(
            "-c statement_timeout={}",
            opts.statement_timeout.as_millis()
        ));
        config.connect_timeout(opts.connect_timeout);
        // One connection first, for an error that says why (the pool's says
        // only that it timed out): a refused certificate, a wrong password.
        config.connect(tls.clone()).map_err(|e| {
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why.push_str(&format!(": {s}"));
                source = s.source();
            }
            StoreError::Unavailable(format!("cannot reach PostgreSQL at {}: {why}", redact(url)))
        })?;
        let manager = Manager(PostgresConnectionManager::new(config, tls));
        let pool = Pool::builder()
            .max_size(opts.pool_size.max(1))
            .connection_timeout(opts.connect_timeout)
            // Failures reach the callers as errors; r2d2 need not log each attempt.
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(manager)
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot reach PostgreSQL at {}: {e}", redact(url)))
            })?;
        let store = PgStore {
            pool,
            packages: Default::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(format!("no PostgreSQL connection: {e}")))
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock(728354)", &[])
            .map_err(db)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .map_err(db)?;
        let current: i32 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        let newest = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > newest {
            return Err(StoreError::Migration {
                version: current as u32,
                reason: format!("the database was written by a newer pakiti (schema {current}, this program knows up to {newest})"),
            });
        }
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            tx.batch_execute(sql).map_err(|e| StoreError::Migration {
                version: *version as u32,
                reason: e.to_string(),
            })?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[version, &millis(SystemTime::now())],
            )
            .map_err(db)?;
            tracing::info!(version, "applied PostgreSQL migration");
        }
        tx.commit().map_err(db)
    }
}

fn counts_at(r: &postgres::Row, start: usize) -> Result<Counts, postgres::Error> {
    let n = |i: usize| -> Result<u32, postgres::Error> {
        Ok(r.try_get::<_, i32>(start + i)?.max(0) as u32)
    };
    Ok(Counts {
        pending: n(0)?,
        security: [n(1)?, n(2)?, n(3)?, n(4)?, n(5)?],
        held: n(6)?,
        reboot_required: r.try_get(start + 7)?,
    })
}

/// Why an ingest failed: the database said so, the host vanished under us,
/// or the report may not overwrite it.
pub(crate) enum IngestError {
    Pg(postgres::Error),
    Vanished,
    Conflict(Conflict),
    /// A package the inventory names could be neither found nor stored.
    Package(String),
}

impl From<postgres::Error> for IngestError {
    fn from(e: postgres::Error) -> Self {
        IngestError::Pg(e)
    }
}

#[allow(clippy::too_many_arguments)]
fn ingest(
    tx: &mut Tx<'_, '_>,
    report: &Report,
    writer: &Writer,
    forwarded_by: Option<&str>,
    hash: &[u8],
    source: Source,
    received_at: SystemTime,
    cache: &std::sync::Mutex<crate::inventory::PackageCache>,
    learnt: &mut crate::postgres_inventory::Learnt,
) -> Result<(IngestOutcome, i64), IngestError> {
    ownership::not_from_the_future(report, received_at).map_err(IngestError::Conflict)?;
    let now = millis(received_at);
    let hostname = report.host.hostname.as_str();
    type Found = Option<(i64, Vec<u8>, StoredHost, Option<Counts>)>;
    let select = |tx: &mut Tx<'_, '_>| -> Result<Found, postgres::Error> {
        const COLUMNS: &str =
            "id, content_hash, hostname, site, owner, collected_at, inventory_hash, pending, sec_critical, sec_important, sec_moderate, sec_low, sec_unknown, held, reboot_required";
        let row = match &report.host.machine_id {
            Some(mid) => tx.query_opt(&format!("SELECT {COLUMNS} FROM hosts WHERE machine_id = $1 FOR UPDATE"), &[mid])?,
            None => tx.query_opt(
                &format!("SELECT {COLUMNS} FROM hosts WHERE machine_id IS NULL AND hostname = $1 AND COALESCE(site, '') = COALESCE($2, '') FOR UPDATE"),
                &[&hostname, &report.host.site],
            )?,
        };
        row.map(|r| {
            Ok((
                r.try_get(0)?,
                r.try_get(1)?,
                StoredHost {
                    hostname: r.try_get(2)?,
                    site: r.try_get(3)?,
                    owner: r.try_get(4)?,
                    collected_at: r.try_get(5)?,
                    inventory_hash: r.try_get(6)?,
                },
                Some(counts_at(&r, 7)?),
            ))
        })
        .transpose()
    };
    let mut found = select(tx)?;
    let mut created = false;
    if found.is_none() {
        let conflict = if report.host.machine_id.is_some() {
            "ON CONFLICT (machine_id) DO NOTHING"
        } else {
            "ON CONFLICT (COALESCE(site, ''), hostname) WHERE machine_id IS NULL DO NOTHING"
        };
        let inserted = tx.query_opt(
            &format!(
                "INSERT INTO hosts (machine_id, hostname, site, owner, os_id, os_version, kernel, arch, manager, exporter_version, exporter_revision, source, first_seen, last_report_at, collected_at, collection_duration_ms, content_hash, reboot_required, reboot_packages, security_metadata_available, installed_packages, pending, sec_critical, sec_important, sec_moderate, sec_low, sec_unknown, held) \
                 VALUES ($1, $2, $3, $4, '', '', '', '', '', '', '', '', $5, $5, $5, 0, '\\x'::bytea, false, '', false, 0, -1, 0, 0, 0, 0, 0, 0) {conflict} RETURNING id"
            ),
            &[&report.host.machine_id, &hostname, &report.host.site, &writer.client, &now],
        )?;
        match inserted {
            Some(r) => {
                created = true;
                found = Some((
                    r.try_get(0)?,
                    Vec::new(),
                    StoredHost {
                        hostname: hostname.to_string(),
                        site: report.host.site.clone(),
                        owner: writer.client.clone(),
                        collected_at: now,
                        inventory_hash: None,
                    },
                    None,
                ));
            }
            // Another replica created it a moment ago: use theirs, locked.
            None => found = select(tx)?,
        }
    }
    // Only a concurrent removal of the host between the insert and the re-read gets here.
    let Some((host_id, old_hash, stored, stored_counts)) = found else {
        return Err(IngestError::Vanished);
    };
    if !created {
        ownership::check(&stored, report, writer).map_err(IngestError::Conflict)?;
    }
    ownership::inventory_known(Some(&stored), report).map_err(IngestError::Conflict)?;
    let w = crate::host_write::HostWrite::new(report, hash, source, forwarded_by, received_at);
    let mut rows = PgRows {
        tx,
        stored_counts,
        inventory_hash: stored.inventory_hash,
        cache,
        learnt,
    };
    let outcome = crate::host_write::write(&mut rows, host_id, created, &old_hash, &w)?;
    Ok((outcome, host_id))
}

/// PostgreSQL's statements for [`crate::host_write`]: each plan written
/// with one statement of arrays, not a round trip per row.
struct PgRows<'t, 'a, 'c> {
    tx: &'t mut Tx<'a, 'c>,
    /// The counts read with the host row (locked).
    stored_counts: Option<Counts>,
    inventory_hash: Option<Vec<u8>>,
    cache: &'t std::sync::Mutex<crate::inventory::PackageCache>,
    learnt: &'t mut crate::postgres_inventory::Learnt,
}

impl crate::host_write::HostRows for PgRows<'_, '_, '_> {
    type Error = IngestError;

    fn touch(
        &mut self,
        host: i64,
        w: &crate::host_write::HostWrite<'_>,
    ) -> Result<(), IngestError> {
        self.tx.execute(
            "UPDATE hosts SET last_report_at = $2, collected_at = $3, collection_duration_ms = $4, source = $5, forwarded_by = $6 WHERE id = $1",
            &[&host, &w.at, &w.collected, &w.duration_ms, &w.source.as_str(), &w.forwarded_by],
        )?;
        Ok(())
    }

    fn pending(&mut self, host: i64) -> Result<HashMap<(String, String), Stored>, IngestError> {
        let mut existing = HashMap::new();
        for r in self.tx.query(
            "SELECT name, arch, candidate_version, first_seen, candidate_first_seen, security_first_seen, installed_version, severity, held_reason, repository, advisories, cves FROM pending_updates WHERE host_id = $1",
            &[&host],
        )? {
            existing.insert(
                (r.try_get(0)?, r.try_get(1)?),
                Stored {
                    candidate: r.try_get(2)?,
                    first_seen: r.try_get(3)?,
                    candidate_first_seen: r.try_get(4)?,
                    security_first_seen: r.try_get(5)?,
                    installed: r.try_get(6)?,
                    severity: r.try_get(7)?,
                    held: r.try_get(8)?,
                    repository: r.try_get(9)?,
                    advisories: r.try_get(10)?,
                    cves: r.try_get(11)?,
                },
            );
        }
        Ok(existing)
    }

    fn apply(&mut self, host: i64, plan: &diff::Plan) -> Result<(), IngestError> {
        if !plan.upserts.is_empty() {
            let col = |f: fn(&diff::Row) -> Option<&str>| -> Vec<Option<&str>> {
                plan.upserts.iter().map(f).collect()
            };
            let num = |f: fn(&diff::Row) -> Option<i64>| -> Vec<Option<i64>> {
                plan.upserts.iter().map(f).collect()
            };
            self.tx.execute(
                "INSERT INTO pending_updates (host_id, name, arch, installed_version, candidate_version, severity, held_reason, repository, advisories, cves, first_seen, candidate_first_seen, security_first_seen) \
                 SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[]) \
                 ON CONFLICT (host_id, name, arch) DO UPDATE SET installed_version = EXCLUDED.installed_version, candidate_version = EXCLUDED.candidate_version, severity = EXCLUDED.severity, held_reason = EXCLUDED.held_reason, repository = EXCLUDED.repository, advisories = EXCLUDED.advisories, cves = EXCLUDED.cves, first_seen = EXCLUDED.first_seen, candidate_first_seen = EXCLUDED.candidate_first_seen, security_first_seen = EXCLUDED.security_first_seen",
                &[
                    &host,
                    &col(|r| Some(&r.name)),
                    &col(|r| Some(&r.arch)),
                    &col(|r| Some(&r.value.installed)),
                    &col(|r| Some(&r.value.candidate)),
                    &col(|r| r.value.severity.as_deref()),
                    &col(|r| r.value.held.as_deref()),
                    &col(|r| r.value.repository.as_deref()),
                    &col(|r| Some(&r.value.advisories)),
                    &col(|r| Some(&r.value.cves)),
                    &num(|r| Some(r.value.first_seen)),
                    &num(|r| Some(r.value.candidate_first_seen)),
                    &num(|r| r.value.security_first_seen),
                ],
            )?;
        }
        if !plan.deletes.is_empty() {
            let (names, arches): (Vec<&str>, Vec<&str>) = plan
                .deletes
                .iter()
                .map(|(n, a)| (n.as_str(), a.as_str()))
                .unzip();
            self.tx.execute(
                "DELETE FROM pending_updates u USING unnest($2::text[], $3::text[]) AS d(name, arch) \
                 WHERE u.host_id = $1 AND u.name = d.name AND u.arch = d.arch",
                &[&host, &names, &arches],
            )?;
        }
        crate::postgres_affected::write_refs(self.tx, host, plan)?;
        Ok(())
    }

    fn previous_counts(&mut self, _host: i64) -> Result<Option<Counts>, IngestError> {
        Ok(self.stored_counts)
    }

    fn host(
        &mut self,
        host: i64,
        w: &crate::host_write::HostWrite<'_>,
        plan: &diff::Plan,
    ) -> Result<(), IngestError> {
        let (report, counts) = (w.report, &w.counts);
        let inv = &report.inventory;
        let c = |n: u32| n as i32;
        let running = crate::RunningCounts::of(&inv.running);
        let unentitled = crate::UnentitledCounts::of(inv.unentitled.as_deref());
        let held = crate::held_security(report);
        let i = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        self.tx.execute(
            "UPDATE hosts SET hostname = $2, site = $3, os_id = $4, os_version = $5, os_name = $6, kernel = $7, arch = $8, manager = $9, exporter_version = $10, exporter_revision = $11, source = $12, last_report_at = $13, collected_at = $14, collection_duration_ms = $15, content_hash = $16, reboot_required = $17, reboot_packages = $18, metadata_updated_at = $19, security_metadata_available = $20, installed_packages = $21, pending = $22, sec_critical = $23, sec_important = $24, sec_moderate = $25, sec_low = $26, sec_unknown = $27, held = $28, security_pending_since = $29, since_critical = $30, since_important = $31, since_moderate = $32, since_low = $33, since_unknown = $34, \
             os_codename = $35, os_cpe_name = $36, os_platform_id = $37, running_kernel_package = $38, running_kernel_version = $39, esm_enabled = $40, forwarded_by = $41, inventory_hash = $42, \
             restart_processes = $43, restart_units = $44, restart_sessions = $45, livepatches = $46, running = $47, unentitled_updates = $48, unentitled_security = $49, unentitled = $50, \
             held_critical = $51, held_important = $52, held_moderate = $53, held_low = $54, held_unknown = $55 WHERE id = $1",
            &[
                &host,
                &report.host.hostname.as_str(),
                &report.host.site,
                &report.os.id,
                &report.os.version,
                &report.os.pretty_name,
                &report.kernel,
                &report.arch,
                &report.manager.as_str(),
                &report.producer.version,
                &report.producer.revision,
                &w.source.as_str(),
                &w.at,
                &w.collected,
                &w.duration_ms,
                &w.hash,
                &inv.reboot.required,
                &inv.reboot.packages.join(" "),
                &inv.metadata_updated_at.map(millis),
                &inv.security_metadata_available,
                &(inv.installed_packages as i64),
                &c(counts.pending),
                &c(counts.security[0]),
                &c(counts.security[1]),
                &c(counts.security[2]),
                &c(counts.security[3]),
                &c(counts.security[4]),
                &c(counts.held),
                &plan.security_since,
                &plan.since_by_severity[0],
                &plan.since_by_severity[1],
                &plan.since_by_severity[2],
                &plan.since_by_severity[3],
                &plan.since_by_severity[4],
                &report.os.codename,
                &report.os.cpe_name,
                &report.os.platform_id,
                &inv.running_kernel.as_ref().map(|k| &k.package),
                &inv.running_kernel.as_ref().map(|k| &k.version),
                &inv.esm_enabled,
                &w.forwarded_by,
                &crate::inventory::hash(report),
                &running.restart.map(|r| i(r.processes)),
                &running.restart.map(|r| i(r.units)),
                &running.restart.map(|r| i(r.sessions)),
                &running.livepatches.map(i),
                &pakiti_report::wire::running_to_json(&inv.running),
                &unentitled.map(|u| i(u.updates)),
                &unentitled.map(|u| i(u.security)),
                &inv
                    .unentitled
                    .as_deref()
                    .and_then(pakiti_report::wire::unentitled_to_json),
                &i(held[0]),
                &i(held[1]),
                &i(held[2]),
                &i(held[3]),
                &i(held[4]),
            ],
        )?;
        Ok(())
    }

    fn history(&mut self, host: i64, at: i64, counts: &Counts) -> Result<(), IngestError> {
        let c = |n: u32| n as i32;
        self.tx.execute(
            "INSERT INTO history (host_id, at, pending, sec_critical, sec_important, sec_moderate, sec_low, sec_unknown, held, reboot_required) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (host_id, at) DO UPDATE SET pending = EXCLUDED.pending, sec_critical = EXCLUDED.sec_critical, sec_important = EXCLUDED.sec_important, sec_moderate = EXCLUDED.sec_moderate, sec_low = EXCLUDED.sec_low, sec_unknown = EXCLUDED.sec_unknown, held = EXCLUDED.held, reboot_required = EXCLUDED.reboot_required",
            &[&host, &at, &c(counts.pending), &c(counts.security[0]), &c(counts.security[1]), &c(counts.security[2]), &c(counts.security[3]), &c(counts.security[4]), &c(counts.held), &counts.reboot_required],
        )?;
        Ok(())
    }

    fn inventory(
        &mut self,
        host: i64,
        w: &crate::host_write::HostWrite<'_>,
    ) -> Result<(), IngestError> {
        crate::postgres_inventory::write(
            self.tx,
            host,
            self.inventory_hash.take(),
            w.report,
            w.at,
            self.cache,
            self.learnt,
        )
    }
}

/// How many columns [`SUMMARY`] names: a query selecting more reads them from here.
pub(crate) const SUMMARY_WIDTH: usize = 51;

pub(crate) const SUMMARY: &str = "id, hostname, machine_id, site, os_id, os_version, os_name, kernel, arch, manager, exporter_version, source, first_seen, last_report_at, collected_at, collection_duration_ms, metadata_updated_at, security_metadata_available, installed_packages, reboot_packages, security_pending_since, pending, sec_critical, sec_important, sec_moderate, sec_low, sec_unknown, held, reboot_required, since_critical, since_important, since_moderate, since_low, since_unknown, exporter_revision, forwarded_by, owner, os_codename, inventory_hash IS NOT NULL, vuln_counts, restart_processes, restart_units, restart_sessions, livepatches, unentitled_updates, unentitled_security, held_critical, held_important, held_moderate, held_low, held_unknown";

fn held_count(r: &postgres::Row, i: usize) -> Result<u32, postgres::Error> {
    Ok(u32::try_from(r.try_get::<_, i32>(i)?.max(0)).unwrap_or(0))
}

/// A host row; a NULL or a type the column should not hold is an error, never a panic.
pub(crate) fn summary(r: &postgres::Row) -> Result<HostSummary, postgres::Error> {
    summary_with(r, &mut Interner::default())
}

/// A host row, its shared texts taken from `names`.
pub(crate) fn summary_with(
    r: &postgres::Row,
    names: &mut Interner,
) -> Result<HostSummary, postgres::Error> {
    let t = |i: usize| r.try_get::<_, i64>(i).map(from_millis);
    let ot = |i: usize| -> Result<Option<SystemTime>, postgres::Error> {
        Ok(r.try_get::<_, Option<i64>>(i)?.map(from_millis))
    };
    let reboot_packages: String = r.try_get(19)?;
    Ok(HostSummary {
        id: r.try_get(0)?,
        hostname: r.try_get(1)?,
        machine_id: r.try_get(2)?,
        site: names.maybe(r.try_get(3)?),
        os_id: names.text(r.try_get(4)?),
        os_version: names.text(r.try_get(5)?),
        os_name: names.maybe(r.try_get(6)?),
        kernel: names.text(r.try_get(7)?),
        arch: names.text(r.try_get(8)?),
        manager: names.text(r.try_get(9)?),
        exporter_version: names.text(r.try_get(10)?),
        source: names.text(r.try_get(11)?),
        first_seen: t(12)?,
        last_report_at: t(13)?,
        collected_at: t(14)?,
        collection_duration: Duration::from_millis(r.try_get::<_, i64>(15)?.max(0) as u64),
        metadata_updated_at: ot(16)?,
        security_metadata_available: r.try_get(17)?,
        installed_packages: r.try_get::<_, i64>(18)?.max(0) as u64,
        reboot_packages: reboot_packages
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        security_pending_since: ot(20)?,
        counts: counts_at(r, 21)?,
        security_since_by_severity: [ot(29)?, ot(30)?, ot(31)?, ot(32)?, ot(33)?],
        exporter_revision: names.text(r.try_get(34)?),
        forwarded_by: names.maybe(r.try_get(35)?),
        owner: names.maybe(r.try_get(36)?),
        os_codename: names.maybe(r.try_get(37)?),
        has_inventory: r.try_get(38)?,
        vulnerabilities: r
            .try_get::<_, Option<String>>(39)?
            .as_deref()
            .map(crate::VulnCounts::from_column),
        running: crate::RunningCounts::from_columns(
            [
                r.try_get::<_, Option<i32>>(40)?.map(i64::from),
                r.try_get::<_, Option<i32>>(41)?.map(i64::from),
                r.try_get::<_, Option<i32>>(42)?.map(i64::from),
            ],
            r.try_get::<_, Option<i32>>(43)?.map(i64::from),
        ),
        unentitled: crate::UnentitledCounts::from_columns(
            r.try_get::<_, Option<i32>>(44)?.map(i64::from),
            r.try_get::<_, Option<i32>>(45)?.map(i64::from),
        ),
        held_security: [
            held_count(r, 46)?,
            held_count(r, 47)?,
            held_count(r, 48)?,
            held_count(r, 49)?,
            held_count(r, 50)?,
        ],
    })
}

/// Queues items and applies each upstream's cap (see the SQLite twin).
/// The upstream's queue is locked first so concurrent replicas trim in turn.
fn enqueue(
    tx: &mut Transaction,
    items: &[Outgoing],
    at: SystemTime,
) -> Result<(), postgres::Error> {
    for item in items {
        tx.execute(
            "SELECT pg_advisory_xact_lock(728355, hashtext($1))",
            &[&item.upstream],
        )?;
        tx.execute(
            "INSERT INTO outbox (upstream, kind, payload, created_at) VALUES ($1, $2, $3, $4)",
            &[
                &item.upstream,
                &item.kind.as_str(),
                &item.payload,
                &millis(at),
            ],
        )?;
        let row = tx.query_one(
            "INSERT INTO outbox_counts (upstream, items, bytes) VALUES ($1, 1, $2) \
             ON CONFLICT (upstream) DO UPDATE SET items = outbox_counts.items + 1, bytes = outbox_counts.bytes + EXCLUDED.bytes \
             RETURNING items, bytes",
            &[&item.upstream, &(item.payload.len() as i64)],
        )?;
        let (mut items, mut bytes): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        // Over the cap: the oldest statistics go first, then the oldest reports.
        while items > item.cap as i64 || bytes > item.cap_bytes as i64 {
            let mut victim = None;
            for kind in ["stats", "report"] {
                victim = tx
                    .query_opt(
                        "DELETE FROM outbox WHERE id = (SELECT id FROM outbox WHERE upstream = $1 AND kind = $2 ORDER BY id LIMIT 1) \
                         RETURNING length(payload)::bigint",
                        &[&item.upstream, &kind],
                    )?
                    .map(|r| r.try_get::<_, i64>(0).map(|len| (len, kind)))
                    .transpose()?;
                if victim.is_some() {
                    break;
                }
            }
            let Some((len, kind)) = victim else { break };
            tx.execute(
                "UPDATE outbox_counts SET items = items - 1, bytes = bytes - $2 WHERE upstream = $1",
                &[&item.upstream, &len],
            )?;
            tx.execute(
                "INSERT INTO outbox_drops (upstream, kind, dropped) VALUES ($1, $2, 1) \
                 ON CONFLICT (upstream, kind) DO UPDATE SET dropped = outbox_drops.dropped + 1",
                &[&item.upstream, &kind],
            )?;
            items -= 1;
            bytes -= len;
        }
    }
    Ok(())
}

pub(crate) const UPDATE_COLUMNS: &str = "u.name, u.arch, u.installed_version, u.candidate_version, u.severity, u.held_reason, u.repository, u.advisories, u.cves, u.first_seen, u.candidate_first_seen, u.security_first_seen";

pub(crate) fn stored_update(r: &postgres::Row, at: usize) -> Result<StoredUpdate, postgres::Error> {
    let words = |i: usize| -> Result<Vec<String>, postgres::Error> {
        Ok(r.try_get::<_, String>(at + i)?
            .split_whitespace()
            .map(str::to_string)
            .collect())
    };
    Ok(StoredUpdate {
        name: r.try_get(at)?,
        arch: r.try_get(at + 1)?,
        installed_version: r.try_get(at + 2)?,
        candidate_version: r.try_get(at + 3)?,
        security: r
            .get::<_, Option<String>>(at + 4)
            .map(|s| s.parse::<Severity>().unwrap_or(Severity::Unknown)),
        held: r
            .get::<_, Option<String>>(at + 5)
            .map(|h| h.parse::<HeldReason>().unwrap_or(HeldReason::Hold)),
        repository: r.try_get(at + 6)?,
        advisories: words(7)?,
        cves: words(8)?,
        first_seen: from_millis(r.try_get(at + 9)?),
        candidate_first_seen: from_millis(r.try_get(at + 10)?),
        security_first_seen: r.get::<_, Option<i64>>(at + 11).map(from_millis),
    })
}

/// Tells the other replicas that hosts changed, after the commit (a sequence
/// is not transactional: bumped before, a replica could reload too early and
/// then wait for the next change). A failure only delays their reload to
/// their periodic one.
fn changed(c: &mut postgres::Client) {
    if let Err(e) = c.execute("SELECT nextval('fleet_changes')", &[]) {
        tracing::debug!(error = %e, "could not bump fleet_changes");
    }
}

impl Store for PgStore {
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
        let mut c = self.conn()?;
        let conn = &mut *c;
        let mut tx = conn.client.transaction().map_err(db)?;
        let mut learnt = Vec::new();
        let mut t = Tx {
            tx: &mut tx,
            statements: &mut conn.statements,
        };
        let stored = (|| {
            let (outcome, _) = ingest(
                &mut t,
                report,
                writer,
                forwarded_by,
                &hash,
                source,
                received_at,
                &self.packages,
                &mut learnt,
            )?;
            enqueue(t.tx, outgoing, received_at)?;
            Ok(outcome)
        })();
        let outcome = match stored {
            Ok(o) => o,
            Err(e) => {
                drop(tx);
                if let IngestError::Pg(_) = e {
                    // Whatever failed, the next report prepares afresh.
                    conn.statements.clear();
                }
                return Err(match e {
                    IngestError::Pg(e) => db(e),
                    IngestError::Vanished => StoreError::Database(
                        "the host was removed while its report was stored; send it again".into(),
                    ),
                    IngestError::Conflict(c) => StoreError::Conflict(c),
                    IngestError::Package(why) => StoreError::Database(why),
                });
            }
        };
        tx.commit().map_err(db)?;
        if !learnt.is_empty() {
            let mut cache = self.packages.lock().unwrap_or_else(|p| p.into_inner());
            for (identity, id) in learnt {
                cache.stage_identity(identity, id);
            }
            cache.commit();
        }
        changed(&mut c);
        Ok(outcome)
    }

    fn enqueue(&self, outgoing: &[Outgoing]) -> Result<(), StoreError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(db)?;
        enqueue(&mut tx, outgoing, SystemTime::now()).map_err(db)?;
        tx.commit().map_err(db)
    }

    fn outbox(&self, upstream: &str, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        let mut c = self.conn()?;
        let rows = c
            .query(
                "SELECT id, kind, payload, created_at FROM outbox WHERE upstream = $1 ORDER BY id LIMIT $2",
                &[&upstream, &(limit as i64)],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(OutboxItem {
                    id: r.try_get(0)?,
                    kind: OutboxKind::parse(r.try_get(1)?),
                    payload: r.try_get(2)?,
                    created_at: from_millis(r.try_get(3)?),
                })
            })
            .collect::<Result<_, postgres::Error>>()
            .map_err(db)
    }

    fn outbox_remove(&self, ids: &[i64]) -> Result<(), StoreError> {
        let mut c = self.conn()?;
        c.execute(
            "WITH gone AS (DELETE FROM outbox WHERE id = ANY($1) RETURNING upstream, length(payload)::bigint AS len), \
             totals AS (SELECT upstream, COUNT(*)::bigint AS n, SUM(len)::bigint AS b FROM gone GROUP BY upstream) \
             UPDATE outbox_counts c SET items = c.items - t.n, bytes = c.bytes - t.b FROM totals t WHERE c.upstream = t.upstream",
            &[&ids],
        )
        .map_err(db)
        .map(|_| ())
    }

    fn outbox_status(&self) -> Result<Vec<OutboxStatus>, StoreError> {
        let mut c = self.conn()?;
        let queues = c
            .query(
                "SELECT upstream, COUNT(*), MIN(created_at) FROM outbox GROUP BY upstream",
                &[],
            )
            .map_err(db)?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, postgres::Error>>()
            .map_err(db)?;
        let drops = c
            .query("SELECT upstream, kind, dropped FROM outbox_drops", &[])
            .map_err(db)?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, postgres::Error>>()
            .map_err(db)?;
        Ok(crate::outbox_status(queues, drops))
    }

    fn put_site_stats(
        &self,
        server: &str,
        stats: &[SiteStats],
        received_at: SystemTime,
    ) -> Result<(), StoreError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(db)?;
        let n = |v: u32| v as i64;
        for s in stats {
            tx.execute(
                "INSERT INTO site_stats (server, site, received_at, generated_at, hosts, hosts_pending, hosts_security, hosts_reboot, hosts_stale, updates_pending, security_updates, oldest_security_since) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (server, site) DO UPDATE SET received_at = EXCLUDED.received_at, generated_at = EXCLUDED.generated_at, hosts = EXCLUDED.hosts, hosts_pending = EXCLUDED.hosts_pending, hosts_security = EXCLUDED.hosts_security, hosts_reboot = EXCLUDED.hosts_reboot, hosts_stale = EXCLUDED.hosts_stale, updates_pending = EXCLUDED.updates_pending, security_updates = EXCLUDED.security_updates, oldest_security_since = EXCLUDED.oldest_security_since",
                &[
                    &server,
                    &s.site,
                    &millis(received_at),
                    &s.generated_at.map(millis),
                    &n(s.hosts),
                    &n(s.hosts_pending),
                    &join5(&s.hosts_security),
                    &n(s.hosts_reboot),
                    &n(s.hosts_stale),
                    &n(s.updates_pending),
                    &join5(&s.security_updates),
                    &s.oldest_security_since.map(millis),
                ],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    fn site_stats(&self) -> Result<Vec<StoredSiteStats>, StoreError> {
        let mut c = self.conn()?;
        let rows = c
            .query(
                "SELECT server, site, received_at, generated_at, hosts, hosts_pending, hosts_security, hosts_reboot, hosts_stale, updates_pending, security_updates, oldest_security_since FROM site_stats ORDER BY site, server",
                &[],
            )
            .map_err(db)?;
        let n = |r: &postgres::Row, i: usize| -> Result<u32, postgres::Error> {
            Ok(r.try_get::<_, i64>(i)?.clamp(0, u32::MAX as i64) as u32)
        };
        rows.iter()
            .map(|r| {
                Ok(StoredSiteStats {
                    server: r.try_get(0)?,
                    received_at: from_millis(r.try_get(2)?),
                    stats: SiteStats {
                        site: r.try_get(1)?,
                        generated_at: r.try_get::<_, Option<i64>>(3)?.map(from_millis),
                        hosts: n(r, 4)?,
                        hosts_pending: n(r, 5)?,
                        hosts_security: split5(r.try_get(6)?),
                        hosts_reboot: n(r, 7)?,
                        hosts_stale: n(r, 8)?,
                        updates_pending: n(r, 9)?,
                        security_updates: split5(r.try_get(10)?),
                        oldest_security_since: r.try_get::<_, Option<i64>>(11)?.map(from_millis),
                    },
                })
            })
            .collect::<Result<_, postgres::Error>>()
            .map_err(db)
    }

    fn hosts(&self) -> Result<Vec<HostSummary>, StoreError> {
        use postgres::fallible_iterator::FallibleIterator as _;
        let mut c = self.conn()?;
        // Row by row, the texts hosts share kept once: the whole result
        // never sits in memory beside the summaries made of it.
        let mut rows = c
            .client
            .query_raw(
                &format!("SELECT {SUMMARY} FROM hosts ORDER BY hostname, id"),
                std::iter::empty::<i64>(),
            )
            .map_err(db)?;
        let (mut out, mut names) = (Vec::new(), Interner::default());
        while let Some(r) = rows.next().map_err(db)? {
            out.push(summary_with(&r, &mut names).map_err(db)?);
        }
        Ok(out)
    }

    fn move_host(
        &self,
        hostname: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<u64, StoreError> {
        let mut c = self.conn()?;
        let moved = c
            .execute(
                "UPDATE hosts SET site = $3 WHERE hostname = $1 AND COALESCE(site, '') = COALESCE($2, '')",
                &[&hostname, &from, &to],
            )
            .map_err(db)?;
        changed(&mut c);
        Ok(moved)
    }

    fn change_stamp(&self) -> Result<Option<i64>, StoreError> {
        let mut c = self.conn()?;
        let row = c
            .query_one("SELECT last_value, is_called FROM fleet_changes", &[])
            .map_err(db)?;
        let (value, called): (i64, bool) =
            (row.try_get(0).map_err(db)?, row.try_get(1).map_err(db)?);
        Ok(Some(if called { value } else { 0 }))
    }

    fn host(&self, hostname: &str, site: Option<&str>) -> Result<Option<HostDetail>, StoreError> {
        let mut c = self.conn()?;
        let Some(row) = c
            .query_opt(&format!("SELECT {SUMMARY} FROM hosts WHERE hostname = $1 AND ($2::text IS NULL OR site = $2) ORDER BY last_report_at DESC, id DESC LIMIT 1"), &[&hostname, &site])
            .map_err(db)?
        else {
            return Ok(None);
        };
        let s = summary(&row).map_err(db)?;
        let updates = c
            .query(&format!("SELECT {UPDATE_COLUMNS} FROM pending_updates u WHERE u.host_id = $1 ORDER BY u.name, u.arch"), &[&s.id])
            .map_err(db)?
            .iter()
            .map(|r| stored_update(r, 0))
            .collect::<Result<_, _>>()
            .map_err(db)?;
        let history = c
            .query(
                "SELECT at, pending, sec_critical, sec_important, sec_moderate, sec_low, sec_unknown, held, reboot_required FROM history WHERE host_id = $1 ORDER BY at",
                &[&s.id],
            )
            .map_err(db)?
            .iter()
            .map(|r| {
                Ok(HistoryPoint {
                    at: from_millis(r.try_get(0)?),
                    counts: counts_at(r, 1)?,
                })
            })
            .collect::<Result<_, postgres::Error>>()
            .map_err(db)?;
        let inv = crate::postgres_inventory::read(&mut c.client, s.id, true).map_err(db)?;
        let row = c
            .query_one(
                "SELECT running, unentitled FROM hosts WHERE id = $1",
                &[&s.id],
            )
            .map_err(db)?;
        let (running, unentitled): (Option<String>, Option<String>) =
            (row.try_get(0).map_err(db)?, row.try_get(1).map_err(db)?);
        Ok(Some(HostDetail {
            summary: s,
            updates,
            history,
            installed: inv.installed,
            installed_changes: inv.changes,
            platform: inv.platform,
            running: crate::running_of(running.as_deref()),
            unentitled: crate::unentitled_of(unentitled.as_deref()),
        }))
    }

    fn installed_on(
        &self,
        name: &str,
        version_lt: Option<&str>,
    ) -> Result<Vec<crate::InstalledOn>, StoreError> {
        let mut c = self.conn()?;
        crate::postgres_inventory::installed_on(&mut c.client, name, version_lt).map_err(db)
    }

    fn affected(
        &self,
        lookup: Lookup<'_>,
        after: Option<&AffectedKey>,
        limit: usize,
    ) -> Result<Vec<AffectedHost>, StoreError> {
        crate::postgres_affected::page(&mut self.conn()?.client, lookup, after, limit).map_err(db)
    }

    fn affected_count(&self, lookup: Lookup<'_>) -> Result<AffectedCount, StoreError> {
        crate::postgres_affected::count(&mut self.conn()?.client, lookup).map_err(db)
    }

    /// One transaction, as on SQLite: a failure halfway removes nothing.
    fn maintain(&self, r: Retention) -> Result<MaintenanceOutcome, StoreError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(db)?;
        let hosts_removed = tx
            .execute(
                "DELETE FROM hosts WHERE last_report_at < $1",
                &[&millis(r.remove_hosts_before)],
            )
            .map_err(db)?;
        let history_dropped = tx
            .execute(
                "DELETE FROM history WHERE at < $1",
                &[&millis(r.drop_history_before)],
            )
            .map_err(db)?
            + crate::postgres_inventory::prune(&mut tx, millis(r.drop_history_before))
                .map_err(db)?
            + crate::postgres_findings::prune(&mut tx, millis(r.drop_history_before))?;
        tx.execute(
            "DELETE FROM site_stats WHERE received_at < $1",
            &[&millis(r.remove_hosts_before)],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        if hosts_removed > 0 {
            changed(&mut c);
        }
        Ok(MaintenanceOutcome {
            hosts_removed,
            history_dropped,
        })
    }

    /// Lease times are the database's clock, never a replica's own: two
    /// replicas whose clocks disagree still agree on who holds a lease.
    fn claim(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let ttl = ttl.as_millis() as i64;
        let mut c = self.conn()?;
        let row = c
            .query_opt(
                "INSERT INTO leases (name, owner, until)                  VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint + $3)                  ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until                  WHERE leases.until <= EXCLUDED.until - $3 OR leases.owner = EXCLUDED.owner RETURNING owner",
                &[&name, &owner, &ttl],
            )
            .map_err(db)?;
        Ok(row.is_some())
    }

    fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn()?;
        c.simple_query("SELECT 1").map_err(db).map(|_| ())
    }

    fn import_feed(
        &self,
        feed: &crate::FeedStatus,
        records: Vec<pakiti_vulns::Record>,
    ) -> Result<(), StoreError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(db)?;
        crate::postgres_vulns::import(&mut tx, feed, &records).map_err(db)?;
        tx.commit().map_err(db)
    }

    fn feeds(&self) -> Result<Vec<crate::FeedStatus>, StoreError> {
        let mut c = self.conn()?;
        crate::postgres_vulns::feeds(&mut c.client).map_err(db)
    }

    fn import_scores(
        &self,
        feed: &crate::FeedStatus,
        scores: Vec<crate::Score>,
    ) -> Result<(), StoreError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(db)?;
        crate::postgres_vulns::import_scores(&mut tx, feed, &scores).map_err(db)?;
        tx.commit().map_err(db)
    }

    fn scores(&self, ids: &[String]) -> Result<Vec<crate::Score>, StoreError> {
        let mut c = self.conn()?;
        crate::postgres_vulns::scores(&mut c.client, ids).map_err(db)
    }

    fn decisions(&self) -> Result<Vec<crate::StoredDecision>, StoreError> {
        crate::postgres_vulns::decisions(&mut self.conn()?.client).map_err(db)
    }

    fn finding_events(&self) -> Result<Vec<(pakiti_report::Severity, u64, u64)>, StoreError> {
        crate::postgres_findings::events(&mut self.conn()?.client)
    }

    fn add_decision(
        &self,
        kind: &str,
        vulnerability: &str,
        body: &str,
        who: &str,
        at: SystemTime,
    ) -> Result<i64, StoreError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(db)?;
        let id = crate::postgres_vulns::add_decision(
            &mut tx,
            kind,
            vulnerability,
            body,
            who,
            millis(at),
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(id)
    }

    fn remove_decision(&self, id: i64, who: &str, at: SystemTime) -> Result<bool, StoreError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(db)?;
        let found =
            crate::postgres_vulns::remove_decision(&mut tx, id, who, millis(at)).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(found)
    }

    fn audit_decisions(&self, entries: &[crate::AuditEntry]) -> Result<(), StoreError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(db)?;
        crate::postgres_vulns::audit(&mut tx, entries).map_err(db)?;
        tx.commit().map_err(db)
    }

    fn decision_audit(
        &self,
        vulnerability: Option<&str>,
    ) -> Result<Vec<crate::AuditEntry>, StoreError> {
        crate::postgres_vulns::audit_log(&mut self.conn()?.client, vulnerability).map_err(db)
    }

    fn vulnerability_records(
        &self,
        release: &str,
        sources: &[String],
    ) -> Result<Vec<pakiti_vulns::Record>, StoreError> {
        let mut c = self.conn()?;
        crate::postgres_vulns::records(&mut c.client, release, sources)
    }

    fn covers_release(&self, release: &str) -> Result<bool, StoreError> {
        let mut c = self.conn()?;
        crate::postgres_vulns::covers(&mut c.client, release).map_err(db)
    }

    fn package_sources(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let mut c = self.conn()?;
        crate::postgres_vulns::package_sources(&mut c.client, names).map_err(db)
    }

    fn matching_hosts(&self) -> Result<Vec<crate::MatchingHost>, StoreError> {
        crate::postgres_findings::matching_hosts(&mut self.conn()?.client)
    }

    fn host_id(&self, report: &Report) -> Result<Option<i64>, StoreError> {
        crate::postgres_findings::host_id(&mut self.conn()?.client, report)
    }

    fn matching_input(&self, id: i64) -> Result<Option<crate::MatchingInput>, StoreError> {
        crate::postgres_findings::matching_input(&mut self.conn()?.client, id)
    }

    fn put_findings(
        &self,
        id: i64,
        basis: &[u8],
        findings: Option<&[pakiti_vulns::Finding]>,
        at: SystemTime,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        let written = crate::postgres_findings::put(&mut tx, id, basis, findings, millis(at))?;
        tx.commit()?;
        if written {
            changed(&mut c);
        }
        Ok(written)
    }

    fn put_findings_many(
        &self,
        writes: &[crate::FindingsWrite<'_>],
        at: SystemTime,
    ) -> Result<Vec<bool>, StoreError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        let mut flags = Vec::with_capacity(writes.len());
        for w in writes {
            flags.push(crate::postgres_findings::put(
                &mut tx,
                w.id,
                w.basis,
                w.findings,
                millis(at),
            )?);
        }
        tx.commit()?;
        if flags.iter().any(|w| *w) {
            changed(&mut c);
        }
        Ok(flags)
    }

    fn host_findings(&self, id: i64) -> Result<Vec<crate::StoredFinding>, StoreError> {
        crate::postgres_findings::of_host(&mut self.conn()?.client, id)
    }

    fn fleet_vulnerabilities(&self) -> Result<Vec<crate::FleetVulnerability>, StoreError> {
        crate::postgres_findings::fleet(&mut self.conn()?.client)
    }

    fn each_open_finding(
        &self,
        each: &mut dyn FnMut(crate::OpenFinding),
    ) -> Result<(), StoreError> {
        crate::postgres_findings::each_open(&mut self.conn()?.client, each)
    }

    fn exposed_hosts(
        &self,
        id: &str,
        after: Option<&crate::ExposedKey>,
        limit: usize,
    ) -> Result<crate::ExposedPage, StoreError> {
        crate::postgres_findings::exposed(&mut self.conn()?.client, id, after, limit)
    }

    fn resolved_hosts(
        &self,
        id: &str,
        limit: usize,
    ) -> Result<Vec<crate::ExposedHost>, StoreError> {
        crate::postgres_findings::resolved(&mut self.conn()?.client, id, limit)
    }
}
