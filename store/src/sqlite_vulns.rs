//! Vulnerability feeds in SQLite (see `vulns.rs`).

use pakiti_vulns::Record;
use rusqlite::{params, Connection, Transaction};

use crate::vulns::{record, status_columns, FeedStatus};
use crate::{from_millis, millis};

fn damaged(why: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, why.into())
}

/// The feed's row, as this import leaves it.
fn feed_row(tx: &Transaction, feed: &FeedStatus, n: usize) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO feeds (name, source, sha256, imported_at, records, feed_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (name) DO UPDATE SET source = excluded.source, sha256 = excluded.sha256, imported_at = excluded.imported_at, records = excluded.records, feed_time = excluded.feed_time",
        params![feed.name, feed.source, feed.sha256, millis(feed.imported_at), n as i64, feed.feed_time.map(millis)],
    )?;
    Ok(())
}

/// Replaces the feed's rows, inside the writer's transaction.
pub(crate) fn import(
    tx: &Transaction,
    feed: &FeedStatus,
    records: &[Record],
) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM vuln_records WHERE feed = ?1", [&feed.name])?;
    feed_row(tx, feed, records.len())?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO vuln_records (feed, release, source_package, id, status, fixed_version, severity, vendor_severity, description, advisory) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for r in records {
        let (status, fixed) = status_columns(&r.status);
        insert.execute(params![
            feed.name,
            r.release,
            r.source_package,
            r.id,
            status,
            fixed,
            r.severity.as_str(),
            r.vendor_severity,
            r.description,
            r.advisory
        ])?;
    }
    Ok(())
}

pub(crate) fn feeds(c: &Connection) -> rusqlite::Result<Vec<FeedStatus>> {
    let mut stmt = c.prepare_cached(
        "SELECT name, source, sha256, imported_at, records, feed_time FROM feeds ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(FeedStatus {
            name: r.get(0)?,
            source: r.get(1)?,
            sha256: r.get(2)?,
            imported_at: from_millis(r.get(3)?),
            records: r.get::<_, i64>(4)? as u64,
            feed_time: r.get::<_, Option<i64>>(5)?.map(from_millis),
        })
    })?;
    rows.collect()
}

pub(crate) fn records(
    c: &Connection,
    release: &str,
    sources: &[String],
) -> rusqlite::Result<Vec<Record>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, source_package, release, status, fixed_version, severity, vendor_severity, description, advisory \
         FROM vuln_records WHERE release = ?1 AND source_package = ?2 ORDER BY id, feed",
    )?;
    let mut out = Vec::new();
    for source in sources {
        let rows = stmt.query_map(params![release, source], |r| {
            let status: String = r.get(3)?;
            let severity: String = r.get(5)?;
            record(
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                &status,
                r.get(4)?,
                &severity,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            )
            .map_err(damaged)
        })?;
        for row in rows {
            out.push(row?);
        }
    }
    Ok(out)
}

pub(crate) fn covers(c: &Connection, release: &str) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT EXISTS (SELECT 1 FROM vuln_records WHERE release = ?1)")?
        .query_row([release], |r| r.get(0))
}

pub(crate) fn package_sources(
    c: &Connection,
    names: &[String],
) -> rusqlite::Result<Vec<(String, String, String, String)>> {
    let mut stmt =
        c.prepare_cached("SELECT name, arch, version, source_name FROM packages WHERE name = ?1")?;
    let mut out = Vec::new();
    for name in names {
        for row in stmt.query_map([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))? {
            out.push(row?);
        }
    }
    Ok(out)
}

/// Replaces the feed's priorities, inside the writer's transaction.
pub(crate) fn import_scores(
    tx: &Transaction,
    feed: &FeedStatus,
    scores: &[crate::Score],
) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM vuln_scores WHERE feed = ?1", [&feed.name])?;
    feed_row(tx, feed, scores.len())?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO vuln_scores (feed, id, kev_added, kev_due, ransomware, epss, percentile) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for s in scores {
        insert.execute(params![
            feed.name,
            s.id,
            s.kev_added,
            s.kev_due,
            s.ransomware,
            s.epss,
            s.percentile
        ])?;
    }
    Ok(())
}

pub(crate) fn scores(c: &Connection, ids: &[String]) -> rusqlite::Result<Vec<crate::Score>> {
    let mut sorted: Vec<&String> = ids.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut stmt = c.prepare_cached(
        "SELECT id, kev_added, kev_due, ransomware, epss, percentile FROM vuln_scores WHERE id = ?1 ORDER BY feed",
    )?;
    let mut rows = Vec::new();
    for id in sorted {
        for r in stmt.query_map([id], |r| {
            Ok(crate::Score {
                id: r.get(0)?,
                kev_added: r.get(1)?,
                kev_due: r.get(2)?,
                ransomware: r.get(3)?,
                epss: r.get(4)?,
                percentile: r.get(5)?,
            })
        })? {
            rows.push(r?);
        }
    }
    Ok(crate::vulns::merged(rows))
}

pub(crate) fn decisions(c: &Connection) -> rusqlite::Result<Vec<crate::StoredDecision>> {
    c.prepare_cached(
        "SELECT id, kind, vulnerability, body, created_at, created_by FROM decisions ORDER BY id",
    )?
    .query_map([], |r| {
        Ok(crate::StoredDecision {
            id: r.get(0)?,
            kind: r.get(1)?,
            vulnerability: r.get(2)?,
            body: r.get(3)?,
            created_at: from_millis(r.get(4)?),
            created_by: r.get(5)?,
        })
    })?
    .collect()
}

pub(crate) fn add_decision(
    tx: &Transaction,
    kind: &str,
    vulnerability: &str,
    body: &str,
    who: &str,
    at: i64,
) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO decisions (kind, vulnerability, body, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![kind, vulnerability, body, at, who],
    )?;
    let id = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO decision_audit (at, who, action, kind, vulnerability, before, after) VALUES (?1, ?2, 'added', ?3, ?4, NULL, ?5)",
        params![at, who, kind, vulnerability, body],
    )?;
    Ok(id)
}

pub(crate) fn remove_decision(
    tx: &Transaction,
    id: i64,
    who: &str,
    at: i64,
) -> rusqlite::Result<bool> {
    let row: Option<(String, String, String)> = tx
        .query_row(
            "SELECT kind, vulnerability, body FROM decisions WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    let Some((kind, vulnerability, body)) = row else {
        return Ok(false);
    };
    tx.execute("DELETE FROM decisions WHERE id = ?1", [id])?;
    tx.execute(
        "INSERT INTO decision_audit (at, who, action, kind, vulnerability, before, after) VALUES (?1, ?2, 'removed', ?3, ?4, ?5, NULL)",
        params![at, who, kind, vulnerability, body],
    )?;
    Ok(true)
}

pub(crate) fn audit(tx: &Transaction, entries: &[crate::AuditEntry]) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO decision_audit (at, who, action, kind, vulnerability, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for e in entries {
        insert.execute(params![
            millis(e.at),
            e.who,
            e.action,
            e.kind,
            e.vulnerability,
            e.before,
            e.after
        ])?;
    }
    Ok(())
}

pub(crate) fn audit_log(
    c: &Connection,
    vulnerability: Option<&str>,
) -> rusqlite::Result<Vec<crate::AuditEntry>> {
    c.prepare_cached(
        "SELECT at, who, action, kind, vulnerability, before, after FROM decision_audit WHERE ?1 IS NULL OR vulnerability = ?1 ORDER BY seq",
    )?
    .query_map([vulnerability], |r| {
        Ok(crate::AuditEntry {
            at: from_millis(r.get(0)?),
            who: r.get(1)?,
            action: r.get(2)?,
            kind: r.get(3)?,
            vulnerability: r.get(4)?,
            before: r.get(5)?,
            after: r.get(6)?,
        })
    })?
    .collect()
}
