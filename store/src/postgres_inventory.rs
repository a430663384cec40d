//! The installed inventory in PostgreSQL (see `inventory.rs` for what is
//! shared with SQLite): written inside the report's transaction with a few
//! array statements, read by the host page and the package query.

use std::collections::HashSet;

use pakiti_report::{Installed, Report, RunningKernel};
use pakiti_versions::Scheme;
use postgres::{GenericClient, Transaction};

use crate::inventory::{self, HostInventory, InstalledChange};
use crate::{from_millis, InstalledOn, Platform, INSTALLED_CHANGES_SHOWN};

/// Stores `report`'s inventory and platform for `host_id` (its row is
/// locked by the caller); rewrites the links only when the inventory hash
/// changed, and records each changed version in the history.
pub(crate) fn write(
    tx: &mut Transaction<'_>,
    host_id: i64,
    report: &Report,
    now: i64,
) -> Result<(), postgres::Error> {
    let inv = &report.inventory;
    let old_hash: Option<Vec<u8>> = tx
        .query_one(
            "SELECT inventory_hash FROM hosts WHERE id = $1",
            &[&host_id],
        )?
        .try_get(0)?;
    tx.execute(
            "UPDATE hosts SET os_codename = $2, os_cpe_name = $3, os_platform_id = $4, running_kernel_package = $5, running_kernel_version = $6, esm_enabled = $7 WHERE id = $1",
            &[
                &host_id,
                &report.os.codename,
                &report.os.cpe_name,
                &report.os.platform_id,
                &inv.running_kernel.as_ref().map(|k| &k.package),
                &inv.running_kernel.as_ref().map(|k| &k.version),
                &inv.esm_enabled,
            ],
        )?;
    let new_hash = inventory::hash(report);
    if old_hash == new_hash {
        return Ok(());
    }
    let installed: &[Installed] = inv.installed.as_deref().unwrap_or(&[]);
    let ids = package_ids(tx, report, installed)?;
    let old: Vec<(String, String, String)> = if old_hash.is_some() {
        tx.query(
            "SELECT p.name, p.arch, p.version FROM host_packages hp JOIN packages p ON p.id = hp.package_id WHERE hp.host_id = $1",
            &[&host_id],
        )?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<_, postgres::Error>>()?
    } else {
        Vec::new()
    };
    tx.execute(
        "DELETE FROM host_packages WHERE host_id = $1 AND NOT (package_id = ANY($2))",
        &[&host_id, &ids],
    )?;
    tx.execute(
        "INSERT INTO host_packages (host_id, package_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
        &[&host_id, &ids],
    )?;
    if old_hash.is_some() && inv.installed.is_some() {
        let changes = inventory::changes(&old, installed, from_millis(now));
        if !changes.is_empty() {
            let col = |f: fn(&InstalledChange) -> Option<&str>| -> Vec<Option<&str>> {
                changes.iter().map(f).collect()
            };
            tx.execute(
                "INSERT INTO installed_history (host_id, at, name, arch, old_version, new_version) \
                 SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[])",
                &[
                    &host_id,
                    &now,
                    &col(|c| Some(c.name.as_str())),
                    &col(|c| Some(c.arch.as_str())),
                    &col(|c| c.old_version.as_deref()),
                    &col(|c| c.new_version.as_deref()),
                ],
            )?;
        }
    }
    tx.execute(
        "UPDATE hosts SET inventory_hash = $2 WHERE id = $1",
        &[&host_id, &new_hash],
    )?;
    Ok(())
}

/// The ids of the inventory's packages, inserting those not stored yet
/// (another replica inserting the same one at once is not an error).
fn package_ids(
    tx: &mut Transaction<'_>,
    report: &Report,
    installed: &[Installed],
) -> Result<Vec<i64>, postgres::Error> {
    let rows = inventory::rows(report, installed);
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let scheme = rows[0].scheme;
    let names: Vec<&str> = rows.iter().map(|r| r.name).collect();
    let versions: Vec<&str> = rows.iter().map(|r| r.version).collect();
    let arches: Vec<&str> = rows.iter().map(|r| r.arch).collect();
    let source_names: Vec<&str> = rows.iter().map(|r| r.source_name).collect();
    let source_versions: Vec<&str> = rows.iter().map(|r| r.source_version).collect();
    let modules: Vec<&str> = rows.iter().map(|r| r.module).collect();
    let keys: Vec<Option<&[u8]>> = rows.iter().map(|r| r.key.as_deref()).collect();
    let params: [&(dyn postgres::types::ToSql + Sync); 8] = [
        &names,
        &versions,
        &arches,
        &source_names,
        &source_versions,
        &modules,
        &keys,
        &scheme,
    ];
    const INPUT: &str = "WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[]) \
                         AS t(name, version, arch, source_name, source_version, module, version_key))";
    let mut ids: HashSet<i64> = tx
        .query(
            &format!(
                "{INPUT}, ins AS (INSERT INTO packages (name, version, arch, source_name, source_version, module, scheme, version_key) \
                 SELECT name, version, arch, source_name, source_version, module, $8, version_key FROM input ON CONFLICT DO NOTHING RETURNING id) \
                 SELECT id FROM ins UNION SELECT p.id FROM packages p JOIN input i USING (name, version, arch, source_name, source_version, module) WHERE p.scheme = $8"
            ),
            &params,
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    if ids.len() < rows.len() {
        // Rows another transaction committed while this statement ran: a new
        // statement sees them.
        for r in tx.query(
            &format!("{INPUT} SELECT p.id FROM packages p JOIN input i USING (name, version, arch, source_name, source_version, module) WHERE p.scheme = $8"),
            &params,
        )? {
            ids.insert(r.try_get(0)?);
        }
    }
    Ok(ids.into_iter().collect())
}

/// A host's inventory (`None`: it sends none), its latest changes and platform.
pub(crate) fn read(
    c: &mut impl GenericClient,
    host_id: i64,
) -> Result<HostInventory, postgres::Error> {
    let row = c.query_one(
        "SELECT inventory_hash IS NOT NULL, os_codename, os_cpe_name, os_platform_id, running_kernel_package, running_kernel_version, esm_enabled FROM hosts WHERE id = $1",
        &[&host_id],
    )?;
    let kernel = match (
        row.try_get::<_, Option<String>>(4)?,
        row.try_get::<_, Option<String>>(5)?,
    ) {
        (Some(package), Some(version)) => Some(RunningKernel { package, version }),
        _ => None,
    };
    let platform = Platform {
        codename: row.try_get(1)?,
        cpe_name: row.try_get(2)?,
        platform_id: row.try_get(3)?,
        running_kernel: kernel,
        esm_enabled: row.try_get(6)?,
    };
    let installed = if row.try_get::<_, bool>(0)? {
        Some(
            c.query(
                "SELECT p.name, p.version, p.arch, p.source_name, p.source_version, p.module FROM host_packages hp JOIN packages p ON p.id = hp.package_id WHERE hp.host_id = $1 ORDER BY p.name, p.arch, p.version",
                &[&host_id],
            )?
            .iter()
            .map(|r| installed_row(r, 0))
            .collect::<Result<_, _>>()?,
        )
    } else {
        None
    };
    let changes = c
        .query(
            "SELECT at, name, arch, old_version, new_version FROM installed_history WHERE host_id = $1 ORDER BY at DESC, name, arch LIMIT $2",
            &[&host_id, &(INSTALLED_CHANGES_SHOWN as i64)],
        )?
        .iter()
        .map(|r| {
            Ok(InstalledChange {
                at: from_millis(r.try_get(0)?),
                name: r.try_get(1)?,
                arch: r.try_get(2)?,
                old_version: r.try_get(3)?,
                new_version: r.try_get(4)?,
            })
        })
        .collect::<Result<_, postgres::Error>>()?;
    Ok(HostInventory {
        installed,
        changes,
        platform,
    })
}

fn installed_row(r: &postgres::Row, at: usize) -> Result<Installed, postgres::Error> {
    let module: String = r.try_get(at + 5)?;
    Ok(Installed {
        name: r.try_get(at)?,
        version: r.try_get(at + 1)?,
        arch: r.try_get(at + 2)?,
        source_name: r.try_get(at + 3)?,
        source_version: r.try_get(at + 4)?,
        module: (!module.is_empty()).then_some(module),
    })
}

/// As on SQLite: the few distinct versions of `name` are chosen first, then
/// their hosts.
pub(crate) fn installed_on(
    c: &mut impl GenericClient,
    name: &str,
    version_lt: Option<&str>,
) -> Result<Vec<InstalledOn>, postgres::Error> {
    let mut ids: Vec<i64> = Vec::new();
    for r in c.query(
        "SELECT id, scheme, version, version_key FROM packages WHERE name = $1",
        &[&name],
    )? {
        let (id, scheme, version, key): (i64, String, String, Option<Vec<u8>>) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        let keep = match (version_lt, Scheme::parse(&scheme)) {
            (None, _) => true,
            (Some(bound), Some(s)) => inventory::below(s, &version, key.as_deref(), bound),
            (Some(_), None) => false,
        };
        if keep {
            ids.push(id);
        }
    }
    let mut out = c
        .query(
            "SELECT p.name, p.version, p.arch, p.source_name, p.source_version, p.module, h.hostname, h.site, h.manager \
             FROM host_packages hp JOIN packages p ON p.id = hp.package_id JOIN hosts h ON h.id = hp.host_id WHERE hp.package_id = ANY($1)",
            &[&ids],
        )?
        .iter()
        .map(|r| {
            Ok(InstalledOn {
                package: installed_row(r, 0)?,
                hostname: r.try_get(6)?,
                site: r.try_get(7)?,
                manager: r.try_get(8)?,
            })
        })
        .collect::<Result<Vec<_>, postgres::Error>>()?;
    inventory::sort_installed_on(&mut out);
    Ok(out)
}

/// Drops version history older than `before` and packages no host has.
pub(crate) fn prune(tx: &mut Transaction<'_>, before: i64) -> Result<u64, postgres::Error> {
    let n = tx.execute("DELETE FROM installed_history WHERE at < $1", &[&before])?;
    tx.execute(
        "DELETE FROM packages p WHERE NOT EXISTS (SELECT 1 FROM host_packages hp WHERE hp.package_id = p.id)",
        &[],
    )?;
    Ok(n)
}
