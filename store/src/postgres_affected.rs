//! PostgreSQL's answers to "which hosts have this pending" (`affected.rs`):
//! a page is a range of an index — `pending_by_name` (name, host id, arch)
//! for a package, `pending_refs_by_ref` for an advisory or a CVE — joined to
//! its rows by primary key; names compare byte for byte (`COLLATE "C"`), as
//! on SQLite, whatever the database's collation.

use postgres::GenericClient;

use crate::affected::{reference, refs, AffectedCount, AffectedKey};
use crate::pg_statements::Tx;
use crate::postgres::{stored_update, UPDATE_COLUMNS};
use crate::{diff, AffectedHost, Lookup};

pub(crate) fn page(
    c: &mut impl GenericClient,
    lookup: Lookup<'_>,
    after: Option<&AffectedKey>,
    limit: usize,
) -> Result<Vec<AffectedHost>, postgres::Error> {
    let start = AffectedKey::start();
    let after = after.unwrap_or(&start);
    let limit = limit as i64;
    let rows = match (lookup, reference(lookup)) {
        (Lookup::Package(name), _) => {
            // All rows have this name: the cursor's row is before this
            // host's, among them or after them by its name.
            let arch = match after.name.as_bytes().cmp(name.as_bytes()) {
                std::cmp::Ordering::Less => "",
                std::cmp::Ordering::Equal => &after.arch,
                std::cmp::Ordering::Greater => "\u{10FFFF}",
            };
            c.query(
                &format!(
                    "SELECT h.id, h.hostname, h.site, {UPDATE_COLUMNS} FROM pending_updates u JOIN hosts h ON h.id = u.host_id \
                     WHERE u.name = $1 AND (u.host_id, u.arch COLLATE \"C\") > ($2, $3) \
                     ORDER BY u.host_id, u.arch COLLATE \"C\" LIMIT $4"
                ),
                &[&name, &after.host_id, &arch, &limit],
            )?
        }
        (_, Some((kind, id))) => c.query(
            &format!(
                "SELECT h.id, h.hostname, h.site, {UPDATE_COLUMNS} FROM pending_refs r \
                 JOIN pending_updates u ON u.host_id = r.host_id AND u.name = r.name AND u.arch = r.arch \
                 JOIN hosts h ON h.id = r.host_id \
                 WHERE r.kind = $1 AND r.ref = $2 \
                 AND (r.host_id, r.name COLLATE \"C\", r.arch COLLATE \"C\") > ($3, $4, $5) \
                 ORDER BY r.host_id, r.name COLLATE \"C\", r.arch COLLATE \"C\" LIMIT $6"
            ),
            &[&kind, &id, &after.host_id, &after.name, &after.arch, &limit],
        )?,
        (_, None) => Vec::new(),
    };
    rows.iter()
        .map(|r| {
            Ok(AffectedHost {
                host_id: r.try_get(0)?,
                hostname: r.try_get(1)?,
                site: r.try_get(2)?,
                update: stored_update(r, 3)?,
            })
        })
        .collect()
}

pub(crate) fn count(
    c: &mut impl GenericClient,
    lookup: Lookup<'_>,
) -> Result<AffectedCount, postgres::Error> {
    let row = match (lookup, reference(lookup)) {
        (Lookup::Package(name), _) => c.query_one(
            "SELECT count(*), count(DISTINCT host_id) FROM pending_updates WHERE name = $1",
            &[&name],
        )?,
        (_, Some((kind, id))) => c.query_one(
            "SELECT count(*), count(DISTINCT host_id) FROM pending_refs WHERE kind = $1 AND ref = $2",
            &[&kind, &id],
        )?,
        (_, None) => return Ok(AffectedCount::default()),
    };
    Ok(AffectedCount {
        rows: row.try_get::<_, i64>(0)? as u64,
        hosts: row.try_get::<_, i64>(1)? as u64,
    })
}

/// The reference rows of a host's written pending updates: those of each
/// upserted or deleted update replaced by what it names now.
pub(crate) fn write_refs(
    tx: &mut Tx<'_, '_>,
    host: i64,
    plan: &diff::Plan,
) -> Result<(), postgres::Error> {
    let (names, arches): (Vec<&str>, Vec<&str>) = plan
        .upserts
        .iter()
        .map(|r| (r.name.as_str(), r.arch.as_str()))
        .chain(plan.deletes.iter().map(|(n, a)| (n.as_str(), a.as_str())))
        .unzip();
    if !names.is_empty() {
        tx.execute(
            "DELETE FROM pending_refs p USING unnest($2::text[], $3::text[]) AS d(name, arch) \
             WHERE p.host_id = $1 AND p.name = d.name AND p.arch = d.arch",
            &[&host, &names, &arches],
        )?;
    }
    let mut add: [Vec<&str>; 4] = Default::default();
    for r in &plan.upserts {
        for (kind, id) in refs(r) {
            add[0].push(&r.name);
            add[1].push(&r.arch);
            add[2].push(kind);
            add[3].push(id);
        }
    }
    if !add[0].is_empty() {
        tx.execute(
            "INSERT INTO pending_refs (host_id, name, arch, kind, ref) \
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) ON CONFLICT DO NOTHING",
            &[&host, &add[0], &add[1], &add[2], &add[3]],
        )?;
    }
    Ok(())
}
