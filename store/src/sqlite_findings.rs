//! Vulnerability findings in SQLite (see `findings.rs`).

use std::collections::HashMap;

use pakiti_vulns::Finding;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::findings::{self, plan, Row, COLUMNS};
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
        "SELECT {COLUMNS} FROM vuln_findings_read WHERE host_id = ?1 AND resolved_at IS NULL"
    ))?
    .query_map([id], |r| row(r, 0).map(|f| f.finding))?
    .collect()
}

/// What a rematch writes, planned from the open findings read before the
/// writer's turn (so the single writer only writes): two rematches of one
/// host planned from the same report find the same findings, and upserts
/// and resolutions of what is already so change nothing.
pub(crate) struct Planned {
    /// With each its kind ([`crate::sqlite_kinds::key_of`]).
    upsert: Vec<(String, Finding)>,
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
                upsert: p
                    .upsert
                    .into_iter()
                    .map(|f| (crate::sqlite_kinds::key_of(f), f.clone()))
                    .collect(),
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

/// A host's rows of vulnerability ?2, package ?3 and arch ?4, whatever
/// their kind.
const SAME_KEY: &str =
    "kind IN (SELECT kid FROM vuln_finding_kinds WHERE id = ?2 AND package = ?3 AND arch = ?4)";

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
    // A host without any row (its first rematch) takes plain inserts.
    let fresh = tx
        .prepare_cached("SELECT 1 FROM vuln_findings WHERE host_id = ?1 LIMIT 1")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_none();
    let mut insert = tx.prepare_cached(
        "INSERT INTO vuln_findings (host_id, kind, fix_available, first_seen, resolved_at) VALUES (?1, ?2, ?3, ?4, NULL)",
    )?;
    for (k, f) in &p.upsert {
        let kind = crate::sqlite_kinds::intern(tx, f, k)?;
        if !fresh {
            // One row per host, vulnerability, package and arch: what was
            // resolved of it gives way (it opens again, first seen now), an
            // open one takes the new kind and keeps when it was first seen.
            tx.prepare_cached(&format!(
                "DELETE FROM vuln_findings WHERE host_id = ?1 AND resolved_at IS NOT NULL AND {SAME_KEY}"
            ))?
            .execute(params![id, f.id, f.package, f.arch])?;
            let changed = tx
                .prepare_cached(&format!(
                    "UPDATE vuln_findings SET kind = ?5, fix_available = ?6 WHERE host_id = ?1 AND resolved_at IS NULL AND {SAME_KEY}"
                ))?
                .execute(params![id, f.id, f.package, f.arch, kind, f.fix_available])?;
            if changed > 0 {
                continue;
            }
        }
        insert.execute(params![id, kind, f.fix_available, at])?;
    }
    let mut resolve = tx.prepare_cached(&format!(
        "UPDATE vuln_findings SET resolved_at = ?5 WHERE host_id = ?1 AND resolved_at IS NULL AND {SAME_KEY}"
    ))?;
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
    let mut seen = foldhash::HashSet::default();
    new.iter().filter(move |f| seen.insert(findings::key(f)))
}

pub(crate) fn of_host(c: &Connection, id: i64) -> rusqlite::Result<Vec<StoredFinding>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM vuln_findings_read WHERE host_id = ?1 ORDER BY id, package, arch"
    ))?
    .query_map([id], |r| row(r, 0))?
    .collect()
}

pub(crate) fn fleet(c: &Connection) -> rusqlite::Result<Vec<FleetVulnerability>> {
    c.prepare_cached(
        "SELECT k.id, GROUP_CONCAT(DISTINCT k.severity), COUNT(DISTINCT f.host_id), \
         COUNT(DISTINCT CASE WHEN f.fix_available THEN f.host_id END), GROUP_CONCAT(DISTINCT k.source_package), MIN(f.first_seen) \
         FROM vuln_finding_kinds k CROSS JOIN vuln_findings f ON f.kind = k.kid AND f.resolved_at IS NULL \
         WHERE k.kernel IS NULL OR k.kernel <> 'not_running' GROUP BY k.id ORDER BY k.id",
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
            "SELECT h.hostname, h.site, {} FROM vuln_findings_read f JOIN hosts h ON h.id = f.host_id \
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
            "SELECT COUNT(*), COUNT(DISTINCT host_id) FROM vuln_findings_read WHERE id = ?1 AND resolved_at IS NULL",
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
        "SELECT h.hostname, h.site, {} FROM vuln_findings_read f JOIN hosts h ON h.id = f.host_id \
         WHERE f.id = ?1 AND f.resolved_at IS NOT NULL ORDER BY f.resolved_at DESC, h.hostname LIMIT ?2",
        findings::columns_of("f")
    ))?
    .query_map(params![vid, limit as i64], exposed_row)?
    .collect()
}

/// Drops findings resolved before `before` (history retention).
pub(crate) fn prune(tx: &Transaction, before: i64) -> rusqlite::Result<usize> {
    let n = tx
        .prepare_cached("DELETE FROM vuln_findings WHERE resolved_at < ?1")?
        .execute([before])?;
    if n > 0 {
        crate::sqlite_kinds::prune(tx)?;
    }
    Ok(n)
}

pub(crate) fn each_open(
    c: &Connection,
    each: &mut dyn FnMut(crate::OpenFinding),
) -> rusqlite::Result<()> {
    let mut stmt = c.prepare_cached("SELECT f.host_id, f.id, f.package, f.arch, f.severity, f.fix_available, CASE WHEN f.fix_available THEN p.candidate_first_seen END \
         FROM vuln_findings_read f LEFT JOIN pending_updates p ON p.host_id = f.host_id AND p.name = f.package AND p.arch = f.arch \
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
