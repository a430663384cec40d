//! The installed inventory in SQLite (see `inventory.rs` for what is shared
//! with PostgreSQL): written inside the report's transaction by the single
//! writer thread, read by the host page and the package query.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use pakiti_report::{Installed, Report, RunningKernel};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use std::time::SystemTime;

use pakiti_versions::Scheme;

use crate::delta::{self, Applied};
use crate::inventory::{self, HostInventory, InstalledChange, PackageCache, PackageRow};
use crate::ownership::Conflict;
use crate::sqlite::db;
use crate::{from_millis, InstalledOn, Platform, StoreError, INSTALLED_CHANGES_SHOWN};

thread_local! {
    /// The writer thread's package ids (each store has its own writer thread).
    static CACHE: RefCell<PackageCache> = RefCell::new(PackageCache::default());
}

/// The writer's transaction outcome, for the cache: a job's savepoint kept
/// or rolled back, the batch committed or rolled back.
pub(crate) fn job_done(kept: bool) {
    CACHE.with_borrow_mut(|c| if kept { c.keep_job() } else { c.discard_job() });
}

pub(crate) fn batch_done(committed: bool) {
    CACHE.with_borrow_mut(|c| if committed { c.commit() } else { c.rollback() });
}

fn damaged(why: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, why.into())
}

/// Stores `report`'s inventory and platform for `host_id`. Only when the
/// inventory hash changed: the host's package ids are rewritten, the
/// bitmaps of the packages it gained or lost updated, and each changed
/// version recorded in the history.
pub(crate) fn write(
    tx: &Transaction,
    host_id: i64,
    report: &Report,
    now: i64,
    applied: Option<Applied>,
) -> rusqlite::Result<()> {
    let inv = &report.inventory;
    tx.prepare_cached(
        "UPDATE hosts SET os_codename = ?2, os_cpe_name = ?3, os_platform_id = ?4, running_kernel_package = ?5, running_kernel_version = ?6, esm_enabled = ?7 WHERE id = ?1",
    )?
    .execute(params![
        host_id,
        report.os.codename,
        report.os.cpe_name,
        report.os.platform_id,
        inv.running_kernel.as_ref().map(|k| &k.package),
        inv.running_kernel.as_ref().map(|k| &k.version),
        inv.esm_enabled,
    ])?;
    let new_hash = inventory::hash(report);
    let old_hash: Option<Vec<u8>> = tx
        .prepare_cached("SELECT inventory_hash FROM hosts WHERE id = ?1")?
        .query_row([host_id], |r| r.get(0))?;
    if old_hash == new_hash {
        return Ok(());
    }
    let installed: &[Installed] = inv.installed.as_deref().unwrap_or(&[]);
    let (old_ids, new_ids, delta_changes) = match applied {
        Some(a) => (a.old_ids, a.new_ids, Some(a.changes)),
        None => {
            let mut new_ids = Vec::with_capacity(installed.len());
            for row in inventory::rows(report, installed) {
                new_ids.push(package_id(tx, &row)?);
            }
            (stored_ids(tx, host_id)?, new_ids, None)
        }
    };
    let has_inventory = inv.installed.is_some() || delta_changes.is_some();
    let (old_set, new_set): (inventory::IdSet, inventory::IdSet) = (
        old_ids.iter().copied().collect(),
        new_ids.iter().copied().collect(),
    );
    let (shard, bit) = inventory::shard_of(host_id);
    let mut flips: Vec<(i64, bool)> = old_set
        .difference(&new_set)
        .map(|id| (*id, false))
        .chain(new_set.difference(&old_set).map(|id| (*id, true)))
        .collect();
    flips.sort_unstable();
    for (id, on) in flips {
        flip(tx, id, shard, bit, on)?;
    }
    if has_inventory {
        tx.prepare_cached(
            "INSERT OR REPLACE INTO host_inventory (host_id, package_ids) VALUES (?1, ?2)",
        )?
        .execute(params![host_id, inventory::encode_ids(&new_ids)])?;
    } else {
        tx.prepare_cached("DELETE FROM host_inventory WHERE host_id = ?1")?
            .execute([host_id])?;
    }
    // The first inventory of a host is where it starts, not a change.
    if old_hash.is_some() && has_inventory {
        let changes = match delta_changes {
            Some(c) => c,
            None => inventory::rewrite_changes(
                &old_set,
                &new_set,
                installed,
                &new_ids,
                from_millis(now),
                |ids| names_of(tx, ids),
            )?,
        };
        let mut stmt = tx.prepare_cached(
            "INSERT INTO installed_history (host_id, at, name, arch, old_version, new_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for c in changes {
            stmt.execute(params![
                host_id,
                now,
                c.name,
                c.arch,
                c.old_version,
                c.new_version
            ])?;
        }
    }
    tx.prepare_cached("UPDATE hosts SET inventory_hash = ?2 WHERE id = ?1")?
        .execute(params![host_id, new_hash])?;
    Ok(())
}

/// A report's `installed_delta` applied to the host's stored inventory
/// (`None` without one). One that does not apply is a conflict: nothing is
/// written and the host sends its whole inventory.
pub(crate) fn apply_delta(
    tx: &Transaction,
    host_id: i64,
    report: &Report,
    at: SystemTime,
) -> Result<Option<Applied>, StoreError> {
    let Some(d) = &report.inventory.installed_delta else {
        return Ok(None);
    };
    let old_ids = stored_ids(tx, host_id).map_err(db)?;
    let ids = |list: &[Installed]| -> Result<Vec<i64>, StoreError> {
        inventory::rows(report, list)
            .iter()
            .map(|r| package_id(tx, r).map_err(db))
            .collect()
    };
    let (removed, added) = (ids(&d.removed)?, ids(&d.added)?);
    let refuse = |why: String| StoreError::Conflict(Conflict::DeltaDoesNotApply { why });
    let new_ids = delta::apply(d, &old_ids, &removed, &added).map_err(refuse)?;
    // Every package the inventory keeps is read once, then from the cache.
    let unknown: Vec<i64> = CACHE.with_borrow(|c| {
        new_ids
            .iter()
            .filter(|id| c.identity(**id).is_none())
            .copied()
            .collect()
    });
    let mut stmt = tx
        .prepare_cached("SELECT name, version, arch, source_name, source_version, module, scheme FROM packages WHERE id = ?1")
        .map_err(db)?;
    for id in unknown {
        type Row = (String, String, String, String, String, String, String);
        let r: Row = stmt
            .query_row([id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .map_err(db)?;
        let scheme = Scheme::parse(&r.6).ok_or_else(|| {
            db(damaged(format!(
                "package {id} has the unknown scheme {:?}",
                r.6
            )))
        })?;
        let identity = (r.0, r.1, r.2, r.3, r.4, r.5, scheme);
        CACHE.with_borrow_mut(|c| c.stage_identity(identity, id));
    }
    let changes = CACHE
        .with_borrow(|c| delta::check(report, d, &new_ids, &added, |id| c.identity(id), at))
        .map_err(refuse)?;
    Ok(Some(Applied {
        old_ids,
        new_ids,
        changes,
    }))
}

fn stored_ids(conn: &Connection, host_id: i64) -> rusqlite::Result<Vec<i64>> {
    let blob: Option<Vec<u8>> = conn
        .prepare_cached("SELECT package_ids FROM host_inventory WHERE host_id = ?1")?
        .query_row([host_id], |r| r.get(0))
        .optional()?;
    match blob {
        Some(b) => inventory::decode_ids(&b).map_err(damaged),
        None => Ok(Vec::new()),
    }
}

/// Sets or clears one host's bit in a package's bitmap; an emptied bitmap goes.
fn flip(tx: &Transaction, package: i64, shard: i64, bit: i32, on: bool) -> rusqlite::Result<()> {
    let mut bits: Vec<u8> = tx
        .prepare_cached("SELECT bits FROM package_hosts WHERE package_id = ?1 AND shard = ?2")?
        .query_row(params![package, shard], |r| r.get(0))
        .optional()?
        .unwrap_or_default();
    inventory::set_bit(&mut bits, bit, on);
    if bits.iter().all(|b| *b == 0) {
        tx.prepare_cached("DELETE FROM package_hosts WHERE package_id = ?1 AND shard = ?2")?
            .execute(params![package, shard])?;
    } else {
        tx.prepare_cached(
            "INSERT OR REPLACE INTO package_hosts (package_id, shard, bits) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![package, shard, bits])?;
    }
    Ok(())
}

/// (name, arch, version) of each id: from the cache, else the database.
fn names_of(tx: &Transaction, ids: &[i64]) -> rusqlite::Result<Vec<(String, String, String)>> {
    let mut out = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    CACHE.with_borrow(|c| {
        for id in ids {
            match c.name(*id) {
                Some((n, a, v)) => out.push((n.to_string(), a.to_string(), v.to_string())),
                None => missing.push(*id),
            }
        }
    });
    let mut stmt = tx.prepare_cached("SELECT name, arch, version FROM packages WHERE id = ?1")?;
    for id in missing {
        out.push(stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?);
    }
    Ok(out)
}

fn package_id(tx: &Transaction, p: &PackageRow<'_>) -> rusqlite::Result<i64> {
    if let Some(id) = CACHE.with_borrow(|c| c.id(p)) {
        return Ok(id);
    }
    let found = tx
        .prepare_cached(
            "SELECT id FROM packages WHERE name = ?1 AND version = ?2 AND arch = ?3 AND source_name = ?4 AND source_version = ?5 AND module = ?6 AND scheme = ?7",
        )?
        .query_row(
            params![p.name, p.version, p.arch, p.source_name, p.source_version, p.module, p.scheme_name()],
            |r| r.get(0),
        )
        .optional()?;
    let id = match found {
        Some(id) => id,
        None => {
            tx.prepare_cached(
                "INSERT INTO packages (name, version, arch, source_name, source_version, module, scheme, version_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                p.name,
                p.version,
                p.arch,
                p.source_name,
                p.source_version,
                p.module,
                p.scheme_name(),
                p.key()
            ])?;
            tx.last_insert_rowid()
        }
    };
    CACHE.with_borrow_mut(|c| c.stage(p, id));
    Ok(id)
}

/// A host's inventory (`None`: it sends none), its latest changes and platform.
/// Without `with_changes`, the changes are left out (matching needs none).
pub(crate) fn read(
    conn: &Connection,
    host_id: i64,
    with_changes: bool,
) -> rusqlite::Result<HostInventory> {
    let (has, platform) = conn
        .prepare_cached(
            "SELECT inventory_hash IS NOT NULL, os_codename, os_cpe_name, os_platform_id, running_kernel_package, running_kernel_version, esm_enabled FROM hosts WHERE id = ?1",
        )?
        .query_row([host_id], |r| {
            let kernel = match (r.get::<_, Option<String>>(4)?, r.get::<_, Option<String>>(5)?) {
                (Some(package), Some(version)) => Some(RunningKernel { package, version }),
                _ => None,
            };
            Ok((
                r.get::<_, bool>(0)?,
                Platform {
                    codename: r.get(1)?,
                    cpe_name: r.get(2)?,
                    platform_id: r.get(3)?,
                    running_kernel: kernel,
                    esm_enabled: r.get(6)?,
                },
            ))
        })?;
    let installed = if has {
        let ids = stored_ids(conn, host_id)?;
        let json = format!(
            "[{}]",
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        );
        let mut stmt = conn.prepare_cached(
            "SELECT name, version, arch, source_name, source_version, module FROM packages WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY name, arch, version",
        )?;
        let rows = stmt.query_map([json], installed_row(0))?;
        Some(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    } else {
        None
    };
    if !with_changes {
        return Ok(HostInventory {
            installed,
            changes: Vec::new(),
            platform,
        });
    }
    let mut stmt = conn.prepare_cached(
        "SELECT at, name, arch, old_version, new_version FROM installed_history WHERE host_id = ?1 ORDER BY at DESC, name, arch LIMIT ?2",
    )?;
    let changes = stmt
        .query_map(params![host_id, INSTALLED_CHANGES_SHOWN as i64], |r| {
            Ok(InstalledChange {
                at: from_millis(r.get(0)?),
                name: r.get(1)?,
                arch: r.get(2)?,
                old_version: r.get(3)?,
                new_version: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(HostInventory {
        installed,
        changes,
        platform,
    })
}

fn installed_row(at: usize) -> impl Fn(&rusqlite::Row) -> rusqlite::Result<Installed> {
    move |r| {
        let module: String = r.get(at + 5)?;
        Ok(Installed {
            name: r.get(at)?,
            version: r.get(at + 1)?,
            arch: r.get(at + 2)?,
            source_name: r.get(at + 3)?,
            source_version: r.get(at + 4)?,
            module: (!module.is_empty()).then_some(module),
        })
    }
}

/// The hosts with `name` installed: its distinct versions are few (each is
/// stored once), so they are chosen first (by their sort keys where both
/// sides have one, else by comparing the versions), then their hosts read
/// from the versions' bitmaps.
pub(crate) fn installed_on(
    conn: &Connection,
    name: &str,
    version_lt: Option<&str>,
) -> rusqlite::Result<Vec<InstalledOn>> {
    let mut chosen: Vec<(i64, Installed)> = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT id, scheme, version_key, name, version, arch, source_name, source_version, module FROM packages WHERE name = ?1",
    )?;
    let rows = stmt.query_map([name], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<Vec<u8>>>(2)?,
            installed_row(3)(r)?,
        ))
    })?;
    for row in rows {
        let (id, scheme, key, package) = row?;
        if inventory::wanted(&scheme, &package.version, key.as_deref(), version_lt) {
            chosen.push((id, package));
        }
    }
    let mut holders: Vec<(i64, usize)> = Vec::new();
    let mut stmt =
        conn.prepare_cached("SELECT shard, bits FROM package_hosts WHERE package_id = ?1")?;
    for (i, (id, _)) in chosen.iter().enumerate() {
        let rows = stmt.query_map([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        for row in rows {
            let (shard, bits) = row?;
            holders.extend(inventory::hosts_in(shard, &bits).map(|h| (h, i)));
        }
    }
    let hosts = host_names(conn, holders.iter().map(|(h, _)| *h))?;
    let mut out: Vec<InstalledOn> = holders
        .into_iter()
        .filter_map(|(h, i)| {
            let (hostname, site, manager) = hosts.get(&h)?.clone();
            Some(InstalledOn {
                hostname,
                site,
                manager,
                package: chosen[i].1.clone(),
            })
        })
        .collect();
    crate::installed_order::sort_installed_on(&mut out);
    Ok(out)
}

type HostNames = HashMap<i64, (String, Option<String>, String)>;

/// Name, site and manager of each host id: a few looked up one by one, many
/// read in one pass over the hosts.
fn host_names(conn: &Connection, ids: impl Iterator<Item = i64>) -> rusqlite::Result<HostNames> {
    let wanted: HashSet<i64> = ids.collect();
    let mut out = HashMap::with_capacity(wanted.len());
    let row = |r: &rusqlite::Row| Ok((r.get::<_, i64>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)));
    if wanted.len() < 256 {
        let mut stmt =
            conn.prepare_cached("SELECT id, hostname, site, manager FROM hosts WHERE id = ?1")?;
        for id in &wanted {
            if let Some((id, v)) = stmt.query_row([id], row).optional()? {
                out.insert(id, v);
            }
        }
    } else {
        let mut stmt = conn.prepare_cached("SELECT id, hostname, site, manager FROM hosts")?;
        for r in stmt.query_map([], row)? {
            let (id, v) = r?;
            if wanted.contains(&id) {
                out.insert(id, v);
            }
        }
    }
    Ok(out)
}

/// Before hosts are removed: their bits leave the bitmaps.
pub(crate) fn forget_hosts(tx: &Transaction, last_report_before: i64) -> rusqlite::Result<()> {
    let gone: Vec<(i64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT h.id, i.package_ids FROM hosts h JOIN host_inventory i ON i.host_id = h.id WHERE h.last_report_at < ?1",
        )?
        .query_map([last_report_before], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (host, blob) in gone {
        let (shard, bit) = inventory::shard_of(host);
        for id in inventory::decode_ids(&blob).map_err(damaged)? {
            flip(tx, id, shard, bit, false)?;
        }
    }
    Ok(())
}

/// Drops version history older than `before`.
pub(crate) fn prune(tx: &Transaction, before: i64) -> rusqlite::Result<usize> {
    tx.prepare_cached("DELETE FROM installed_history WHERE at < ?1")?
        .execute([before])
}
