//! The installed inventory in SQLite (see `inventory.rs` for what is shared
//! with PostgreSQL): written inside the report's transaction, read by the
//! host page and the package query.

use std::collections::{HashMap, HashSet};

use pakiti_report::{Installed, Report, RunningKernel};
use pakiti_versions::Scheme;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::inventory::{self, HostInventory, InstalledChange, PackageRow};
use crate::{from_millis, InstalledOn, Platform, INSTALLED_CHANGES_SHOWN};

/// Stores `report`'s inventory and platform for `host_id`; rewrites the
/// host's package links only when the inventory hash changed, and records
/// each changed version in the history.
pub(crate) fn write(
    tx: &Transaction,
    host_id: i64,
    report: &Report,
    now: i64,
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
    let mut old: HashMap<i64, (String, String, String)> = HashMap::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT p.id, p.name, p.arch, p.version FROM host_packages hp JOIN packages p ON p.id = hp.package_id WHERE hp.host_id = ?1",
        )?;
        let rows = stmt.query_map([host_id], |r| {
            Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
        })?;
        for row in rows {
            let (id, v) = row?;
            old.insert(id, v);
        }
    }
    let installed: &[Installed] = inv.installed.as_deref().unwrap_or(&[]);
    let mut new_ids = HashSet::with_capacity(installed.len());
    for row in inventory::rows(report, installed) {
        new_ids.insert(package_id(tx, &row)?);
    }
    {
        let mut delete =
            tx.prepare_cached("DELETE FROM host_packages WHERE host_id = ?1 AND package_id = ?2")?;
        for id in old.keys().filter(|id| !new_ids.contains(id)) {
            delete.execute(params![host_id, id])?;
        }
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO host_packages (host_id, package_id) VALUES (?1, ?2)",
        )?;
        for id in new_ids.iter().filter(|id| !old.contains_key(id)) {
            insert.execute(params![host_id, id])?;
        }
    }
    // The first inventory of a host is where it starts, not a change.
    if old_hash.is_some() && inv.installed.is_some() {
        let old: Vec<_> = old.into_values().collect();
        let mut stmt = tx.prepare_cached(
            "INSERT INTO installed_history (host_id, at, name, arch, old_version, new_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for c in inventory::changes(&old, installed, from_millis(now)) {
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

fn package_id(tx: &Transaction, p: &PackageRow<'_>) -> rusqlite::Result<i64> {
    let found = tx
        .prepare_cached(
            "SELECT id FROM packages WHERE name = ?1 AND version = ?2 AND arch = ?3 AND source_name = ?4 AND source_version = ?5 AND module = ?6 AND scheme = ?7",
        )?
        .query_row(
            params![p.name, p.version, p.arch, p.source_name, p.source_version, p.module, p.scheme],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
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
        p.scheme,
        p.key
    ])?;
    Ok(tx.last_insert_rowid())
}

/// A host's inventory (`None`: it sends none), its latest changes and platform.
pub(crate) fn read(conn: &Connection, host_id: i64) -> rusqlite::Result<HostInventory> {
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
        let mut stmt = conn.prepare_cached(
            "SELECT p.name, p.version, p.arch, p.source_name, p.source_version, p.module FROM host_packages hp JOIN packages p ON p.id = hp.package_id WHERE hp.host_id = ?1 ORDER BY p.name, p.arch, p.version",
        )?;
        let rows = stmt.query_map([host_id], installed_row(0))?;
        Some(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    } else {
        None
    };
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
/// sides have one, else by comparing the versions), then their hosts by the
/// package index.
pub(crate) fn installed_on(
    conn: &Connection,
    name: &str,
    version_lt: Option<&str>,
) -> rusqlite::Result<Vec<InstalledOn>> {
    let mut ids: Vec<i64> = Vec::new();
    let mut stmt = conn
        .prepare_cached("SELECT id, scheme, version, version_key FROM packages WHERE name = ?1")?;
    let rows = stmt.query_map([name], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<Vec<u8>>>(3)?,
        ))
    })?;
    for row in rows {
        let (id, scheme, version, key) = row?;
        let keep = match (version_lt, Scheme::parse(&scheme)) {
            (None, _) => true,
            (Some(bound), Some(s)) => inventory::below(s, &version, key.as_deref(), bound),
            (Some(_), None) => false,
        };
        if keep {
            ids.push(id);
        }
    }
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT p.name, p.version, p.arch, p.source_name, p.source_version, p.module, h.hostname, h.site, h.manager \
         FROM host_packages hp JOIN packages p ON p.id = hp.package_id JOIN hosts h ON h.id = hp.host_id WHERE hp.package_id = ?1",
    )?;
    for id in ids {
        let rows = stmt.query_map([id], |r| {
            Ok(InstalledOn {
                package: installed_row(0)(r)?,
                hostname: r.get(6)?,
                site: r.get(7)?,
                manager: r.get(8)?,
            })
        })?;
        for row in rows {
            out.push(row?);
        }
    }
    crate::inventory::sort_installed_on(&mut out);
    Ok(out)
}

/// Drops version history older than `before` and packages no host has.
pub(crate) fn prune(tx: &Transaction, before: i64) -> rusqlite::Result<usize> {
    let n = tx
        .prepare_cached("DELETE FROM installed_history WHERE at < ?1")?
        .execute([before])?;
    tx.prepare_cached(
        "DELETE FROM packages WHERE NOT EXISTS (SELECT 1 FROM host_packages hp WHERE hp.package_id = packages.id)",
    )?
    .execute([])?;
    Ok(n)
}
