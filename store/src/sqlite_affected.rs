//! SQLite's answers to "which hosts have this pending" (`affected.rs`):
//! a page is a range of an index — `pending_by_name` (name, host id, arch)
//! for a package, `pending_refs_by_ref` for an advisory or a CVE — joined to
//! its rows by primary key; a count reads the same range of the index only.

use rusqlite::{params, Connection, Transaction};

use crate::affected::{reference, refs, AffectedCount, AffectedKey};
use crate::sqlite::{stored_update, UPDATE_COLUMNS};
use crate::{diff, AffectedHost, Lookup};

pub(crate) fn page(
    c: &Connection,
    lookup: Lookup<'_>,
    after: Option<&AffectedKey>,
    limit: usize,
) -> rusqlite::Result<Vec<AffectedHost>> {
    let start = AffectedKey::start();
    let after = after.unwrap_or(&start);
    let columns = UPDATE_COLUMNS
        .split(", ")
        .map(|col| format!("u.{col}"))
        .collect::<Vec<_>>()
        .join(", ");
    let row = |r: &rusqlite::Row| {
        Ok(AffectedHost {
            host_id: r.get(0)?,
            hostname: r.get(1)?,
            site: r.get(2)?,
            update: stored_update(r, 3)?,
        })
    };
    let limit = limit as i64;
    match (lookup, reference(lookup)) {
        (Lookup::Package(name), _) => {
            // All rows have this name: the cursor's row is before this
            // host's, among them or after them by its name.
            let arch = match after.name.as_str().cmp(name) {
                std::cmp::Ordering::Less => "",
                std::cmp::Ordering::Equal => &after.arch,
                std::cmp::Ordering::Greater => "\u{10FFFF}",
            };
            let mut stmt = c.prepare_cached(&format!(
                "SELECT h.id, h.hostname, h.site, {columns} FROM pending_updates u JOIN hosts h ON h.id = u.host_id \
                 WHERE u.name = ?1 AND (u.host_id, u.arch) > (?2, ?3) ORDER BY u.host_id, u.arch LIMIT ?4"
            ))?;
            let rows = stmt.query_map(params![name, after.host_id, arch, limit], row)?;
            rows.collect()
        }
        (_, Some((kind, id))) => {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT h.id, h.hostname, h.site, {columns} FROM pending_refs r \
                 JOIN pending_updates u ON u.host_id = r.host_id AND u.name = r.name AND u.arch = r.arch \
                 JOIN hosts h ON h.id = r.host_id \
                 WHERE r.kind = ?1 AND r.ref = ?2 AND (r.host_id, r.name, r.arch) > (?3, ?4, ?5) \
                 ORDER BY r.host_id, r.name, r.arch LIMIT ?6"
            ))?;
            let rows = stmt.query_map(
                params![kind, id, after.host_id, after.name, after.arch, limit],
                row,
            )?;
            rows.collect()
        }
        (_, None) => Ok(Vec::new()),
    }
}

pub(crate) fn count(c: &Connection, lookup: Lookup<'_>) -> rusqlite::Result<AffectedCount> {
    let counts = |r: &rusqlite::Row| {
        Ok(AffectedCount {
            rows: r.get::<_, i64>(0)? as u64,
            hosts: r.get::<_, i64>(1)? as u64,
        })
    };
    match (lookup, reference(lookup)) {
        (Lookup::Package(name), _) => c
            .prepare_cached(
                "SELECT count(*), count(DISTINCT host_id) FROM pending_updates WHERE name = ?1",
            )?
            .query_row([name], counts),
        (_, Some((kind, id))) => c
            .prepare_cached(
                "SELECT count(*), count(DISTINCT host_id) FROM pending_refs WHERE kind = ?1 AND ref = ?2",
            )?
            .query_row([kind, id], counts),
        (_, None) => Ok(AffectedCount::default()),
    }
}

/// The reference rows of a host's written pending updates: those of each
/// upserted or deleted update replaced by what it names now.
pub(crate) fn write_refs(tx: &Transaction, host: i64, plan: &diff::Plan) -> rusqlite::Result<()> {
    let mut clear = tx.prepare_cached(
        "DELETE FROM pending_refs WHERE host_id = ?1 AND name = ?2 AND arch = ?3",
    )?;
    let mut add = tx.prepare_cached(
        "INSERT OR IGNORE INTO pending_refs (host_id, name, arch, kind, ref) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for r in &plan.upserts {
        clear.execute(params![host, r.name, r.arch])?;
        for (kind, id) in refs(r) {
            add.execute(params![host, r.name, r.arch, kind, id])?;
        }
    }
    for (name, arch) in &plan.deletes {
        clear.execute(params![host, name, arch])?;
    }
    Ok(())
}
