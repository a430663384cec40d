//! Vulnerability findings in SQLite (see `findings.rs`).

use std::collections::HashMap;

use pakiti_vulns::Finding;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::findings::{self, kernel_column, plan, Row, COLUMNS};
use crate::{
    ExposedHost, ExposedKey, ExposedPage, FleetVulnerability, MatchingHost, MatchingInput,
    StoredFinding, VulnCounts,
};

fn damaged(why: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, why.into())
}

/// A finding row read from column `at` on, in [`COLUMNS`] order.
fn row(r: &rusqlite::Row, at: usize) -> rusqlite::Result<StoredFinding> {
    Row {
        id: r.get(at)?,
        package: r.get(at + 1)?,
        arch: r.get(at + 2)?,
        installed_version: r.get(at + 3)?,
        source_package: r.get(at + 4)?,
        source_version: r.get(at + 5)?,
        status: r.get(at + 6)?,
        fixed_version: r.get(at + 7)?,
        fix_available: r.get(at + 8)?,
        severity: r.get(at + 9)?,
        vendor_severity: r.get(at + 10)?,
        kernel: r.get(at + 11)?,
        first_seen: r.get(at + 12)?,
        resolved_at: r.get(at + 13)?,
    }
    .finding()
    .map_err(damaged)
}

pub(crate) fn matching_hosts(c: &Connection) -> rusqlite::Result<Vec<MatchingHost>> {
    c.prepare_cached(
        "SELECT id, os_id, os_codename, inventory_hash IS NOT NULL, vuln_counts IS NOT NULL, os_version FROM hosts ORDER BY id",
    )?
    .query_map([], |r| {
        Ok(MatchingHost {
            id: r.get(0)?,
            os_id: r.get(1)?,
            codename: r.get(2)?,
            has_inventory: r.get(3)?,
            has_counts: r.get(4)?,
            os_version: r.get(5)?,
        })
    })?
    .collect()
}

pub(crate) fn host_id(
    c: &Connection,
    report: &pakiti_report::Report,
) -> rusqlite::Result<Option<i64>> {
    match &report.host.machine_id {
        Some(mid) => c
            .prepare_cached("SELECT id FROM hosts WHERE machine_id = ?1")?
            .query_row([mid], |r| r.get(0))
            .optional(),
        None => c
            .prepare_cached(
                "SELECT id FROM hosts WHERE machine_id IS NULL AND hostname = ?1 AND site IS ?2 ORDER BY last_report_at DESC LIMIT 1",
            )?
            .query_row(params![report.host.hostname.as_str(), report.host.site], |r| r.get(0))
            .optional(),
    }
}

pub(crate) fn matching_input(c: &Connection, id: i64) -> rusqlite::Result<Option<MatchingInput>> {
    let Some((summary, basis, findings_digest)) = c
        .prepare_cached(&format!(
            "SELECT {}, content_hash, vuln_digest FROM hosts WHERE id = ?1",
            crate::sqlite::SUMMARY_COLUMNS
        ))?
        .query_row([id], |r| {
            let at = crate::sqlite::SUMMARY_WIDTH;
            Ok((crate::sqlite::summary(r)?, r.get(at)?, r.get(at + 1)?))
        })
        .optional()?
    else {
        return Ok(None);
    };
    let candidates = c
        .prepare_cached(
            "SELECT name, arch, candidate_version FROM pending_updates WHERE host_id = ?1",
        )?
        .query_map([id], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?
        .collect::<rusqlite::Result<HashMap<_, _>>>()?;
    let inv = crate::sqlite_inventory::read(c, id, false)?;
    Ok(Some(MatchingInput {
        summary,
        basis,
        findings_digest,
        installed: inv.installed,
        candidates,
        platform: inv.platform,
    }))
}

/// A host's open findings (read before the writer's turn: see [`put`]).
pub(crate) fn open_findings(c: &Connection, id: i64) -> rusqlite::Result<Vec<Finding>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM vuln_findings WHERE host_id = ?1 AND resolved_at IS NULL"
    ))?
    .query_map([id], |r| row(r, 0).map(|f| f.finding))?
    .collect()
}

/// What a rematch writes, planned from the open findings read before the
/// writer's turn (so the single writer only writes): two rematches of one
/// host planned from the same report find the same findings, and upserts
/// and resolutions of what is already so change nothing.
pub(crate) struct Planned {
    upsert: Vec<Finding>,
    resolve: Vec<(String, String, String)>,
    /// `None`: the host is not covered (open findings and counts removed).
    counts: Option<String>,
    digest: Option<Vec<u8>>,
    /// Detected and resolved by severity (see `findings::events`).
    events: [(u64, u64); 5],
}

pub(crate) fn planned(open: &[Finding], new: Option<&[Finding]>) -> Planned {
    match new {
        None => Planned {
            upsert: Vec::new(),
            resolve: Vec::new(),
            counts: None,
            digest: None,
            events: [(0, 0); 5],
        },
        Some(new) => {
            let mut p = plan(open, new);
            let events = findings::events(open, &p);
            // In the table's key order: each row goes next to the last.
            p.upsert
                .sort_unstable_by(|a, b| findings::key(a).cmp(&findings::key(b)));
            Planned {
                upsert: p.upsert.into_iter().cloned().collect(),
                resolve: p
                    .resolve
                    .into_iter()
                    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
                    .collect(),
                counts: Some(VulnCounts::of(open_or_new(new)).column()),
                digest: Some(findings::digest(new)),
                events,
            }
        }
    }
}

pub(crate) fn put(
    tx: &Transaction,
    id: i64,
    basis: &[u8],
    p: &Planned,
    at: i64,
) -> rusqlite::Result<bool> {
    let stored: Option<Vec<u8>> = tx
        .prepare_cached("SELECT content_hash FROM hosts WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    if stored.as_deref() != Some(basis) {
        return Ok(false);
    }
    let Some(counts) = &p.counts else {
        tx.prepare_cached("DELETE FROM vuln_findings WHERE host_id = ?1 AND resolved_at IS NULL")?
            .execute([id])?;
        tx.prepare_cached("UPDATE hosts SET vuln_counts = NULL, vuln_digest = NULL WHERE id = ?1")?
            .execute([id])?;
        return Ok(true);
    };
    let mut upsert = tx.prepare_cached(&format!(
        "INSERT INTO vuln_findings (host_id, {COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, NULL) \
         ON CONFLICT (host_id, id, package, arch) DO UPDATE SET installed_version = excluded.installed_version, \
         source_package = excluded.source_package, source_version = excluded.source_version, status = excluded.status, \
         fixed_version = excluded.fixed_version, fix_available = excluded.fix_available, severity = excluded.severity, \
         vendor_severity = excluded.vendor_severity, kernel = excluded.kernel, \
         first_seen = CASE WHEN vuln_findings.resolved_at IS NULL THEN vuln_findings.first_seen ELSE excluded.first_seen END, \
         resolved_at = NULL"
    ))?;
    for f in &p.upsert {
        let (status, fixed) = crate::vulns::status_columns(&f.status);
        upsert.execute(params![
            id,
            f.id,
            f.package,
            f.arch,
            f.installed_version,
            f.source_package,
            f.source_version,
            status,
            fixed,
            f.fix_available,
            f.severity.as_str(),
            f.vendor_severity,
            kernel_column(f.kernel),
            at
        ])?;
    }
    let mut resolve = tx.prepare_cached(
        "UPDATE vuln_findings SET resolved_at = ?5 WHERE host_id = ?1 AND id = ?2 AND package = ?3 AND arch = ?4 AND resolved_at IS NULL",
    )?;
    for (vid, package, arch) in &p.resolve {
        resolve.execute(params![id, vid, package, arch, at])?;
    }
    tx.prepare_cached(
        "UPDATE hosts SET vuln_counts = ?2, vuln_digest = ?3 WHERE id = ?1 AND (vuln_counts IS NOT ?2 OR vuln_digest IS NOT ?3)",
    )?
    .execute(params![id, counts, p.digest])?;
    add_events(tx, &p.events)?;
    Ok(true)
}

/// The findings a rematch leaves open (a finding twice counted once).
pub(crate) fn open_or_new(new: &[Finding]) -> impl Iterator<Item = &Finding> {
    let mut seen = std::collections::HashSet::new();
    new.iter().filter(move |f| seen.insert(findings::key(f)))
}

pub(crate) fn of_host(c: &Connection, id: i64) -> rusqlite::Result<Vec<StoredFinding>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM vuln_findings WHERE host_id = ?1 ORDER BY id, package, arch"
    ))?
    .query_map([id], |r| row(r, 0))?
    .collect()
}

pub(crate) fn fleet(c: &Connection) -> rusqlite::Result<Vec<FleetVulnerability>> {
    c.prepare_cached(
        "SELECT id, GROUP_CONCAT(DISTINCT severity), COUNT(DISTINCT host_id), \
         COUNT(DISTINCT CASE WHEN fix_available THEN host_id END), GROUP_CONCAT(DISTINCT source_package), MIN(first_seen) \
         FROM vuln_findings WHERE resolved_at IS NULL AND (kernel IS NULL OR kernel <> 'not_running') GROUP BY id ORDER BY id",
    )?
    .query_map([], |r| {
        let mut sources: Vec<String> = r
            .get::<_, String>(4)?
            .split(',')
            .map(str::to_string)
            .collect();
        sources.sort();
        Ok(FleetVulnerability {
            id: r.get(0)?,
            severity: findings::worst_of(&r.get::<_, String>(1)?),
            hosts: r.get::<_, i64>(2)? as u64,
            fixable_hosts: r.get::<_, i64>(3)? as u64,
            source_packages: sources,
            first_seen: crate::from_millis(r.get(5)?),
        })
    })?
    .collect()
}

fn exposed_row(r: &rusqlite::Row) -> rusqlite::Result<ExposedHost> {
    Ok(ExposedHost {
        hostname: r.get(0)?,
        site: r.get(1)?,
        finding: row(r, 2)?,
    })
}

pub(crate) fn exposed(
    c: &Connection,
    vid: &str,
    after: Option<&ExposedKey>,
    limit: usize,
) -> rusqlite::Result<ExposedPage> {
    let (h, s, p, a) = after.cloned().unwrap_or_default();
    let rows = c
        .prepare_cached(&format!(
            "SELECT h.hostname, h.site, {} FROM vuln_findings f JOIN hosts h ON h.id = f.host_id \
             WHERE f.id = ?1 AND f.resolved_at IS NULL \
             AND (?2 = 0 OR (h.hostname, COALESCE(h.site, ''), f.package, f.arch) > (?3, ?4, ?5, ?6)) \
             ORDER BY h.hostname, COALESCE(h.site, ''), f.package, f.arch LIMIT ?7",
            findings::columns_of("f")
        ))?
        .query_map(
            params![vid, after.is_some(), h, s, p, a, limit as i64],
            exposed_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let (findings, hosts) = c
        .prepare_cached(
            "SELECT COUNT(*), COUNT(DISTINCT host_id) FROM vuln_findings WHERE id = ?1 AND resolved_at IS NULL",
        )?
        .query_row([vid], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
    Ok(ExposedPage {
        rows,
        findings: findings as u64,
        hosts: hosts as u64,
    })
}

pub(crate) fn resolved(
    c: &Connection,
    vid: &str,
    limit: usize,
) -> rusqlite::Result<Vec<ExposedHost>> {
    c.prepare_cached(&format!(
        "SELECT h.hostname, h.site, {} FROM vuln_findings f JOIN hosts h ON h.id = f.host_id \
         WHERE f.id = ?1 AND f.resolved_at IS NOT NULL ORDER BY f.resolved_at DESC, h.hostname LIMIT ?2",
        findings::columns_of("f")
    ))?
    .query_map(params![vid, limit as i64], exposed_row)?
    .collect()
}

/// Drops findings resolved before `before` (history retention).
pub(crate) fn prune(tx: &Transaction, before: i64) -> rusqlite::Result<usize> {
    tx.prepare_cached("DELETE FROM vuln_findings WHERE resolved_at < ?1")?
        .execute([before])
}

pub(crate) fn each_open(
    c: &Connection,
    each: &mut dyn FnMut(crate::OpenFinding),
) -> rusqlite::Result<()> {
    let mut stmt = c.prepare_cached("SELECT f.host_id, f.id, f.package, f.arch, f.severity, f.fix_available, CASE WHEN f.fix_available THEN p.candidate_first_seen END \
         FROM vuln_findings f LEFT JOIN pending_updates p ON p.host_id = f.host_id AND p.name = f.package AND p.arch = f.arch \
         WHERE f.resolved_at IS NULL AND (f.kernel IS NULL OR f.kernel <> 'not_running')")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let severity: String = r.get(4)?;
        each(crate::OpenFinding {
            host_id: r.get(0)?,
            id: r.get(1)?,
            package: r.get(2)?,
            arch: r.get(3)?,
            severity: severity
                .parse()
                .map_err(|_| damaged(format!("severity {severity:?}")))?,
            fix_available: r.get(5)?,
            fix_since: r.get::<_, Option<i64>>(6)?.map(crate::from_millis),
        });
    }
    Ok(())
}

fn add_events(tx: &Transaction, events: &[(u64, u64); 5]) -> rusqlite::Result<()> {
    let mut up = tx.prepare_cached(
        "UPDATE vuln_events SET detected = detected + ?2, resolved = resolved + ?3 WHERE severity = ?1",
    )?;
    for (s, (d, r)) in pakiti_report::Severity::ALL.iter().zip(events) {
        if *d > 0 || *r > 0 {
            up.execute(params![s.as_str(), *d as i64, *r as i64])?;
        }
    }
    Ok(())
}

pub(crate) fn events(c: &Connection) -> rusqlite::Result<Vec<(pakiti_report::Severity, u64, u64)>> {
    c.prepare_cached("SELECT severity, detected, resolved FROM vuln_events")?
        .query_map([], |r| {
            let s: String = r.get(0)?;
            Ok((
                s.parse().map_err(|_| damaged(format!("severity {s:?}")))?,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
            ))
        })?
        .collect()
}
