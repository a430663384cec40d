//! Vulnerability feeds in PostgreSQL (see `vulns.rs`).

use pakiti_vulns::Record;
use postgres::{GenericClient, Transaction};

use crate::vulns::{record, status_columns, FeedStatus};
use crate::{from_millis, millis, StoreError};

/// Rows per insert statement.
const CHUNK: usize = 5_000;

/// The feed's row, as this import leaves it.
fn feed_row(tx: &mut Transaction<'_>, feed: &FeedStatus, n: usize) -> Result<(), postgres::Error> {
    tx.execute(
        "INSERT INTO feeds (name, source, sha256, imported_at, records, feed_time) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (name) DO UPDATE SET source = EXCLUDED.source, sha256 = EXCLUDED.sha256, imported_at = EXCLUDED.imported_at, records = EXCLUDED.records, feed_time = EXCLUDED.feed_time",
        &[&feed.name, &feed.source, &feed.sha256, &millis(feed.imported_at), &(n as i64), &feed.feed_time.map(millis)],
    )?;
    Ok(())
}

/// Replaces the feed's rows in one transaction, in statements of arrays.
pub(crate) fn import(
    tx: &mut Transaction<'_>,
    feed: &FeedStatus,
    records: &[Record],
) -> Result<(), postgres::Error> {
    tx.execute("DELETE FROM vuln_records WHERE feed = $1", &[&feed.name])?;
    feed_row(tx, feed, records.len())?;
    for chunk in records.chunks(CHUNK) {
        let col =
            |f: fn(&Record) -> Option<&str>| -> Vec<Option<&str>> { chunk.iter().map(f).collect() };
        tx.execute(
            "INSERT INTO vuln_records (feed, release, source_package, id, status, fixed_version, severity, vendor_severity, description, advisory) \
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])",
            &[
                &feed.name,
                &col(|r| Some(&r.release)),
                &col(|r| Some(&r.source_package)),
                &col(|r| Some(&r.id)),
                &col(|r| Some(status_columns(&r.status).0)),
                &col(|r| status_columns(&r.status).1),
                &col(|r| Some(r.severity.as_str())),
                &col(|r| r.vendor_severity.as_deref()),
                &col(|r| r.description.as_deref()),
                &col(|r| r.advisory.as_deref()),
            ],
        )?;
    }
    Ok(())
}

pub(crate) fn feeds(c: &mut impl GenericClient) -> Result<Vec<FeedStatus>, postgres::Error> {
    c.query(
        "SELECT name, source, sha256, imported_at, records, feed_time FROM feeds ORDER BY name",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(FeedStatus {
            name: r.try_get(0)?,
            source: r.try_get(1)?,
            sha256: r.try_get(2)?,
            imported_at: from_millis(r.try_get(3)?),
            records: r.try_get::<_, i64>(4)? as u64,
            feed_time: r.try_get::<_, Option<i64>>(5)?.map(from_millis),
        })
    })
    .collect()
}

pub(crate) fn records(
    c: &mut impl GenericClient,
    release: &str,
    sources: &[String],
) -> Result<Vec<Record>, StoreError> {
    let rows = c
        .query(
            "SELECT id, source_package, release, status, fixed_version, severity, vendor_severity, description, advisory \
             FROM vuln_records WHERE release = $1 AND source_package = ANY($2) ORDER BY source_package, id, feed",
            &[&release, &sources],
        )
        .map_err(|e| StoreError::Database(e.to_string()))?;
    let get = |e: postgres::Error| StoreError::Database(e.to_string());
    rows.iter()
        .map(|r| {
            let status: String = r.try_get(3).map_err(get)?;
            let severity: String = r.try_get(5).map_err(get)?;
            record(
                r.try_get(0).map_err(get)?,
                r.try_get(1).map_err(get)?,
                r.try_get(2).map_err(get)?,
                &status,
                r.try_get(4).map_err(get)?,
                &severity,
                r.try_get(6).map_err(get)?,
                r.try_get(7).map_err(get)?,
                r.try_get(8).map_err(get)?,
            )
            .map_err(StoreError::Database)
        })
        .collect()
}

pub(crate) fn covers(c: &mut impl GenericClient, release: &str) -> Result<bool, postgres::Error> {
    c.query_one(
        "SELECT EXISTS (SELECT 1 FROM vuln_records WHERE release = $1)",
        &[&release],
    )?
    .try_get(0)
}

pub(crate) fn package_sources(
    c: &mut impl GenericClient,
    names: &[String],
) -> Result<Vec<(String, String, String, String)>, postgres::Error> {
    c.query(
        "SELECT name, arch, version, source_name FROM packages WHERE name = ANY($1)",
        &[&names],
    )?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
    .collect()
}

/// Replaces the feed's priorities in one transaction, in statements of arrays.
pub(crate) fn import_scores(
    tx: &mut Transaction<'_>,
    feed: &FeedStatus,
    scores: &[crate::Score],
) -> Result<(), postgres::Error> {
    tx.execute("DELETE FROM vuln_scores WHERE feed = $1", &[&feed.name])?;
    feed_row(tx, feed, scores.len())?;
    for chunk in scores.chunks(CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(|s| s.id.as_str()).collect();
        let added: Vec<Option<i64>> = chunk.iter().map(|s| s.kev_added).collect();
        let due: Vec<Option<i64>> = chunk.iter().map(|s| s.kev_due).collect();
        let ransomware: Vec<bool> = chunk.iter().map(|s| s.ransomware).collect();
        let epss: Vec<Option<f64>> = chunk.iter().map(|s| s.epss).collect();
        let percentile: Vec<Option<f64>> = chunk.iter().map(|s| s.percentile).collect();
        tx.execute(
            "INSERT INTO vuln_scores (feed, id, kev_added, kev_due, ransomware, epss, percentile) \
             SELECT $1, * FROM unnest($2::text[], $3::int8[], $4::int8[], $5::bool[], $6::float8[], $7::float8[])",
            &[&feed.name, &ids, &added, &due, &ransomware, &epss, &percentile],
        )?;
    }
    Ok(())
}

pub(crate) fn scores(
    c: &mut impl GenericClient,
    ids: &[String],
) -> Result<Vec<crate::Score>, postgres::Error> {
    let rows = c.query(
        "SELECT id, kev_added, kev_due, ransomware, epss, percentile FROM vuln_scores WHERE id = ANY($1) ORDER BY id, feed",
        &[&ids],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(crate::Score {
            id: r.try_get(0)?,
            kev_added: r.try_get(1)?,
            kev_due: r.try_get(2)?,
            ransomware: r.try_get(3)?,
            epss: r.try_get(4)?,
            percentile: r.try_get(5)?,
        });
    }
    Ok(crate::vulns::merged(out))
}

pub(crate) fn decisions(
    c: &mut impl GenericClient,
) -> Result<Vec<crate::StoredDecision>, postgres::Error> {
    c.query(
        "SELECT id, kind, vulnerability, body, created_at, created_by FROM decisions ORDER BY id",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(crate::StoredDecision {
            id: r.try_get(0)?,
            kind: r.try_get(1)?,
            vulnerability: r.try_get(2)?,
            body: r.try_get(3)?,
            created_at: from_millis(r.try_get(4)?),
            created_by: r.try_get(5)?,
        })
    })
    .collect()
}

pub(crate) fn add_decision(
    tx: &mut Transaction<'_>,
    kind: &str,
    vulnerability: &str,
    body: &str,
    who: &str,
    at: i64,
) -> Result<i64, postgres::Error> {
    let id: i64 = tx
        .query_one(
            "INSERT INTO decisions (kind, vulnerability, body, created_at, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&kind, &vulnerability, &body, &at, &who],
        )?
        .try_get(0)?;
    tx.execute(
        "INSERT INTO decision_audit (at, who, action, kind, vulnerability, before, after) VALUES ($1, $2, 'added', $3, $4, NULL, $5)",
        &[&at, &who, &kind, &vulnerability, &body],
    )?;
    Ok(id)
}

pub(crate) fn remove_decision(
    tx: &mut Transaction<'_>,
    id: i64,
    who: &str,
    at: i64,
) -> Result<bool, postgres::Error> {
    let Some(row) = tx.query_opt(
        "DELETE FROM decisions WHERE id = $1 RETURNING kind, vulnerability, body",
        &[&id],
    )?
    else {
        return Ok(false);
    };
    let (kind, vulnerability, body): (String, String, String) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    tx.execute(
        "INSERT INTO decision_audit (at, who, action, kind, vulnerability, before, after) VALUES ($1, $2, 'removed', $3, $4, $5, NULL)",
        &[&at, &who, &kind, &vulnerability, &body],
    )?;
    Ok(true)
}

pub(crate) fn audit(
    tx: &mut Transaction<'_>,
    entries: &[crate::AuditEntry],
) -> Result<(), postgres::Error> {
    for e in entries {
        tx.execute(
            "INSERT INTO decision_audit (at, who, action, kind, vulnerability, before, after) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&millis(e.at), &e.who, &e.action, &e.kind, &e.vulnerability, &e.before, &e.after],
        )?;
    }
    Ok(())
}

pub(crate) fn audit_log(
    c: &mut impl GenericClient,
    vulnerability: Option<&str>,
) -> Result<Vec<crate::AuditEntry>, postgres::Error> {
    c.query(
        "SELECT at, who, action, kind, vulnerability, before, after FROM decision_audit WHERE $1::text IS NULL OR vulnerability = $1 ORDER BY seq",
        &[&vulnerability],
    )?
    .iter()
    .map(|r| {
        Ok(crate::AuditEntry {
            at: from_millis(r.try_get(0)?),
            who: r.try_get(1)?,
            action: r.try_get(2)?,
            kind: r.try_get(3)?,
            vulnerability: r.try_get(4)?,
            before: r.try_get(5)?,
            after: r.try_get(6)?,
        })
    })
    .collect()
}
