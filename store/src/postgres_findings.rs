//! Vulnerability findings in PostgreSQL (see `findings.rs`): a rematch's
//! changes are written as arrays, one statement each.

use std::collections::HashMap;

use pakiti_vulns::Finding;
use postgres::{GenericClient, Transaction};

use crate::findings::{self, kernel_column, plan, Row, COLUMNS};
use crate::{
    ExposedHost, FleetVulnerability, MatchingHost, MatchingInput, StoreError, StoredFinding,
    VulnCounts,
};
use crate::{ExposedKey, ExposedPage};

/// Every function answers the store's error: a row no rematch could have
/// written is [`StoreError::Database`], like one the driver cannot read.
type R<T> = Result<T, StoreError>;

fn row(r: &postgres::Row, at: usize) -> R<StoredFinding> {
    Row {
        id: r.try_get(at)?,
        package: r.try_get(at + 1)?,
        arch: r.try_get(at + 2)?,
        installed_version: r.try_get(at + 3)?,
        source_package: r.try_get(at + 4)?,
        source_version: r.try_get(at + 5)?,
        status: r.try_get(at + 6)?,
        fixed_version: r.try_get(at + 7)?,
        fix_available: r.try_get(at + 8)?,
        severity: r.try_get(at + 9)?,
        vendor_severity: r.try_get(at + 10)?,
        kernel: r.try_get(at + 11)?,
        first_seen: r.try_get(at + 12)?,
        resolved_at: r.try_get(at + 13)?,
    }
    .finding()
    .map_err(StoreError::Database)
}

pub(crate) fn matching_hosts(c: &mut impl GenericClient) -> R<Vec<MatchingHost>> {
    c.query(
        "SELECT id, os_id, os_codename, inventory_hash IS NOT NULL, vuln_counts IS NOT NULL, os_version FROM hosts ORDER BY id",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(MatchingHost {
            id: r.try_get(0)?,
            os_id: r.try_get(1)?,
            codename: r.try_get(2)?,
            has_inventory: r.try_get(3)?,
            has_counts: r.try_get(4)?,
            os_version: r.try_get(5)?,
        })
    })
    .collect()
}

pub(crate) fn host_id(
    c: &mut impl GenericClient,
    report: &pakiti_report::Report,
) -> R<Option<i64>> {
    let row = match &report.host.machine_id {
        Some(mid) => c.query_opt("SELECT id FROM hosts WHERE machine_id = $1", &[mid])?,
        None => c.query_opt(
            "SELECT id FROM hosts WHERE machine_id IS NULL AND hostname = $1 AND COALESCE(site, '') = COALESCE($2, '') ORDER BY last_report_at DESC LIMIT 1",
            &[&report.host.hostname.as_str(), &report.host.site],
        )?,
    };
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub(crate) fn matching_input(c: &mut impl GenericClient, id: i64) -> R<Option<MatchingInput>> {
    let Some(r) = c.query_opt(
        &format!(
            "SELECT {}, content_hash, vuln_digest FROM hosts WHERE id = $1",
            crate::postgres::SUMMARY
        ),
        &[&id],
    )?
    else {
        return Ok(None);
    };
    let (summary, basis, findings_digest) = (
        crate::postgres::summary(&r)?,
        r.try_get(crate::postgres::SUMMARY_WIDTH)?,
        r.try_get(crate::postgres::SUMMARY_WIDTH + 1)?,
    );
    let candidates = c
        .query(
            "SELECT name, arch, candidate_version FROM pending_updates WHERE host_id = $1",
            &[&id],
        )?
        .iter()
        .map(|r| Ok(((r.try_get(0)?, r.try_get(1)?), r.try_get(2)?)))
        .collect::<Result<HashMap<_, _>, postgres::Error>>()?;
    let inv = crate::postgres_inventory::read(c, id, false)?;
    Ok(Some(MatchingInput {
        summary,
        basis,
        findings_digest,
        installed: inv.installed,
        candidates,
        platform: inv.platform,
    }))
}

pub(crate) fn put(
    tx: &mut Transaction<'_>,
    id: i64,
    basis: &[u8],
    new: Option<&[Finding]>,
    at: i64,
) -> R<bool> {
    // The host row is locked, so a report of the host waits for this
    // rematch, or this rematch sees its new hash and writes nothing.
    let stored: Option<Vec<u8>> = tx
        .query_opt(
            "SELECT content_hash FROM hosts WHERE id = $1 FOR UPDATE",
            &[&id],
        )?
        .map(|r| r.try_get(0))
        .transpose()?;
    if stored.as_deref() != Some(basis) {
        return Ok(false);
    }
    let Some(new) = new else {
        tx.execute(
            "DELETE FROM vuln_findings WHERE host_id = $1 AND resolved_at IS NULL",
            &[&id],
        )?;
        tx.execute(
            "UPDATE hosts SET vuln_counts = NULL, vuln_digest = NULL WHERE id = $1",
            &[&id],
        )?;
        return Ok(true);
    };
    let open: Vec<Finding> = tx
        .query(
            &format!(
                "SELECT {COLUMNS} FROM vuln_findings WHERE host_id = $1 AND resolved_at IS NULL"
            ),
            &[&id],
        )?
        .iter()
        .map(|r| row(r, 0).map(|f| f.finding))
        .collect::<Result<_, _>>()?;
    let p = plan(&open, new);
    let events = findings::events(&open, &p);
    for (s, (d, r)) in pakiti_report::Severity::ALL.iter().zip(events) {
        if d > 0 || r > 0 {
            tx.execute(
                "UPDATE vuln_events SET detected = detected + $2, resolved = resolved + $3 WHERE severity = $1",
                &[&s.as_str(), &(d as i64), &(r as i64)],
            )?;
        }
    }
    if !p.upsert.is_empty() {
        let text = |f: fn(&Finding) -> Option<&str>| -> Vec<Option<&str>> {
            p.upsert.iter().map(|x| f(x)).collect()
        };
        let fix: Vec<bool> = p.upsert.iter().map(|f| f.fix_available).collect();
        tx.execute(
            &format!(
                "INSERT INTO vuln_findings (host_id, {COLUMNS}) \
                 SELECT $1, u.*, $14::bigint, NULL::bigint FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                 $7::text[], $8::text[], $9::text[], $10::bool[], $11::text[], $12::text[], $13::text[]) AS u \
                 ON CONFLICT (host_id, id, package, arch) DO UPDATE SET installed_version = EXCLUDED.installed_version, \
                 source_package = EXCLUDED.source_package, source_version = EXCLUDED.source_version, status = EXCLUDED.status, \
                 fixed_version = EXCLUDED.fixed_version, fix_available = EXCLUDED.fix_available, severity = EXCLUDED.severity, \
                 vendor_severity = EXCLUDED.vendor_severity, kernel = EXCLUDED.kernel, \
                 first_seen = CASE WHEN vuln_findings.resolved_at IS NULL THEN vuln_findings.first_seen ELSE EXCLUDED.first_seen END, \
                 resolved_at = NULL"
            ),
            &[
                &id,
                &text(|f| Some(&f.id)),
                &text(|f| Some(&f.package)),
                &text(|f| Some(&f.arch)),
                &text(|f| Some(&f.installed_version)),
                &text(|f| Some(&f.source_package)),
                &text(|f| Some(&f.source_version)),
                &text(|f| Some(crate::vulns::status_columns(&f.status).0)),
                &text(|f| crate::vulns::status_columns(&f.status).1),
                &fix,
                &text(|f| Some(f.severity.as_str())),
                &text(|f| f.vendor_severity.as_deref()),
                &text(|f| kernel_column(f.kernel)),
                &at,
            ],
        )?;
    }
    if !p.resolve.is_empty() {
        let col =
            |i: usize| -> Vec<&str> { p.resolve.iter().map(|k| [k.0, k.1, k.2][i]).collect() };
        tx.execute(
            "UPDATE vuln_findings f SET resolved_at = $5 FROM unnest($2::text[], $3::text[], $4::text[]) AS g (id, package, arch) \
             WHERE f.host_id = $1 AND f.id = g.id AND f.package = g.package AND f.arch = g.arch AND f.resolved_at IS NULL",
            &[&id, &col(0), &col(1), &col(2), &at],
        )?;
    }
    let counts = VulnCounts::of(crate::sqlite_findings::open_or_new(new));
    let digest = findings::digest(new);
    tx.execute(
        "UPDATE hosts SET vuln_counts = $2, vuln_digest = $3 WHERE id = $1 AND (vuln_counts IS DISTINCT FROM $2 OR vuln_digest IS DISTINCT FROM $3)",
        &[&id, &counts.column(), &digest],
    )?;
    Ok(true)
}

pub(crate) fn of_host(c: &mut impl GenericClient, id: i64) -> R<Vec<StoredFinding>> {
    c.query(
        &format!(
            "SELECT {COLUMNS} FROM vuln_findings WHERE host_id = $1 ORDER BY id, package, arch"
        ),
        &[&id],
    )?
    .iter()
    .map(|r| row(r, 0))
    .collect()
}

pub(crate) fn fleet(c: &mut impl GenericClient) -> R<Vec<FleetVulnerability>> {
    c.query(
        "SELECT id, string_agg(DISTINCT severity, ','), COUNT(DISTINCT host_id), \
         COUNT(DISTINCT host_id) FILTER (WHERE fix_available), string_agg(DISTINCT source_package, ',' ORDER BY source_package), MIN(first_seen) \
         FROM vuln_findings WHERE resolved_at IS NULL AND (kernel IS NULL OR kernel <> 'not_running') GROUP BY id ORDER BY id",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(FleetVulnerability {
            id: r.try_get(0)?,
            severity: findings::worst_of(&r.try_get::<_, String>(1)?),
            hosts: r.try_get::<_, i64>(2)? as u64,
            fixable_hosts: r.try_get::<_, i64>(3)? as u64,
            source_packages: r
                .try_get::<_, String>(4)?
                .split(',')
                .map(str::to_string)
                .collect(),
            first_seen: crate::from_millis(r.try_get(5)?),
        })
    })
    .collect()
}

fn exposed_row(r: &postgres::Row) -> R<ExposedHost> {
    Ok(ExposedHost {
        hostname: r.try_get(0)?,
        site: r.try_get(1)?,
        finding: row(r, 2)?,
    })
}

pub(crate) fn exposed(
    c: &mut impl GenericClient,
    vid: &str,
    after: Option<&ExposedKey>,
    limit: usize,
) -> R<ExposedPage> {
    let (h, s, p, a) = after.cloned().unwrap_or_default();
    let rows = c
        .query(
            &format!(
                "SELECT h.hostname, h.site, {} FROM vuln_findings f JOIN hosts h ON h.id = f.host_id \
                 WHERE f.id = $1 AND f.resolved_at IS NULL \
                 AND (NOT $2 OR (h.hostname COLLATE \"C\", COALESCE(h.site, '') COLLATE \"C\", f.package COLLATE \"C\", f.arch COLLATE \"C\") > ($3, $4, $5, $6)) \
                 ORDER BY h.hostname COLLATE \"C\", COALESCE(h.site, '') COLLATE \"C\", f.package COLLATE \"C\", f.arch COLLATE \"C\" LIMIT $7",
                findings::columns_of("f")
            ),
            &[&vid, &after.is_some(), &h, &s, &p, &a, &(limit as i64)],
        )?
        .iter()
        .map(exposed_row)
        .collect::<R<Vec<_>>>()?;
    let r = c.query_one(
        "SELECT COUNT(*), COUNT(DISTINCT host_id) FROM vuln_findings WHERE id = $1 AND resolved_at IS NULL",
        &[&vid],
    )?;
    Ok(ExposedPage {
        rows,
        findings: r.try_get::<_, i64>(0)? as u64,
        hosts: r.try_get::<_, i64>(1)? as u64,
    })
}

pub(crate) fn resolved(c: &mut impl GenericClient, vid: &str, limit: usize) -> R<Vec<ExposedHost>> {
    c.query(
        &format!(
            "SELECT h.hostname, h.site, {} FROM vuln_findings f JOIN hosts h ON h.id = f.host_id \
             WHERE f.id = $1 AND f.resolved_at IS NOT NULL ORDER BY f.resolved_at DESC, h.hostname LIMIT $2",
            findings::columns_of("f")
        ),
        &[&vid, &(limit as i64)],
    )?
    .iter()
    .map(exposed_row)
    .collect()
}

/// Drops findings resolved before `before` (history retention).
pub(crate) fn prune(tx: &mut Transaction<'_>, before: i64) -> R<u64> {
    Ok(tx.execute(
        "DELETE FROM vuln_findings WHERE resolved_at < $1",
        &[&before],
    )?)
}

pub(crate) fn each_open(
    c: &mut impl GenericClient,
    each: &mut dyn FnMut(crate::OpenFinding),
) -> R<()> {
    use postgres::fallible_iterator::FallibleIterator as _;
    let mut tx = c.transaction()?;
    let mut rows = tx.query_raw("SELECT f.host_id, f.id, f.package, f.arch, f.severity, f.fix_available, CASE WHEN f.fix_available THEN p.candidate_first_seen END \
         FROM vuln_findings f LEFT JOIN pending_updates p ON p.host_id = f.host_id AND p.name = f.package AND p.arch = f.arch \
         WHERE f.resolved_at IS NULL AND (f.kernel IS NULL OR f.kernel <> 'not_running')", std::iter::empty::<&str>())?;
    while let Some(r) = rows.next()? {
        let severity: String = r.try_get(4)?;
        each(crate::OpenFinding {
            host_id: r.try_get(0)?,
            id: r.try_get(1)?,
            package: r.try_get(2)?,
            arch: r.try_get(3)?,
            severity: severity.parse().unwrap_or(pakiti_report::Severity::Unknown),
            fix_available: r.try_get(5)?,
            fix_since: r.try_get::<_, Option<i64>>(6)?.map(crate::from_millis),
        });
    }
    drop(rows);
    Ok(tx.commit()?)
}

pub(crate) fn events(c: &mut impl GenericClient) -> R<Vec<(pakiti_report::Severity, u64, u64)>> {
    c.query("SELECT severity, detected, resolved FROM vuln_events", &[])?
        .iter()
        .map(|r| {
            let s: String = r.try_get(0)?;
            Ok((
                s.parse().unwrap_or(pakiti_report::Severity::Unknown),
                r.try_get::<_, i64>(1)? as u64,
                r.try_get::<_, i64>(2)? as u64,
            ))
        })
        .collect()
}
