//! The installed inventory in PostgreSQL (see `inventory.rs` for what is
//! shared with SQLite): written inside the report's transaction with a few
//! array statements, read by the host page and the package query.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use pakiti_report::{Installed, InstalledDelta, Report, RunningKernel};
use pakiti_versions::Scheme;
use postgres::{GenericClient, Transaction};

use crate::pg_statements::Tx;

use crate::delta;
use crate::inventory::{self, HostInventory, InstalledChange, PackageCache};
use crate::ownership::Conflict;
use crate::postgres::IngestError;
use crate::{from_millis, InstalledOn, Platform, INSTALLED_CHANGES_SHOWN};

/// Package ids this transaction learnt, for the cache once it commits.
pub(crate) type Learnt = Vec<(inventory::Identity, i64)>;

/// Stores `report`'s inventory for `host_id` (its row is locked by the
/// caller, who read its inventory hash `old_hash` and wrote its platform
/// and new inventory hash). Only when the inventory hash changed: the host's
/// package ids are rewritten, the bitmaps of the packages it gained or lost
/// updated (in package order, in one statement, so concurrent reports never
/// deadlock), and each changed version recorded in the history.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write(
    tx: &mut Tx<'_, '_>,
    host_id: i64,
    old_hash: Option<Vec<u8>>,
    report: &Report,
    now: i64,
    cache: &Mutex<PackageCache>,
    learnt: &mut Learnt,
) -> Result<(), IngestError> {
    let inv = &report.inventory;
    let new_hash = inventory::hash(report);
    if old_hash == new_hash {
        return Ok(());
    }
    let old_blocks: Vec<(i64, Vec<u8>)> = tx
        .query(
            "SELECT block, ids FROM host_blocks WHERE host_id = $1",
            &[&host_id],
        )?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, postgres::Error>>()?;
    let mut old_ids = Vec::new();
    for (block, bytes) in &old_blocks {
        match inventory::block_ids(*block, bytes) {
            Ok(ids) => old_ids.extend(ids),
            Err(why) => tracing::error!(
                host_id,
                why,
                "a host's stored inventory is damaged; it is rewritten"
            ),
        }
    }
    let installed: &[Installed] = inv.installed.as_deref().unwrap_or(&[]);
    let (new_ids, delta_changes) = match &inv.installed_delta {
        Some(d) => {
            let (new_ids, changes) = apply_delta(tx, report, d, &old_ids, now, cache, learnt)?;
            (new_ids, Some(changes))
        }
        None => (package_ids(tx, report, installed, cache, learnt)?, None),
    };
    let has_inventory = inv.installed.is_some() || delta_changes.is_some();
    let (old_set, new_set): (inventory::IdSet, inventory::IdSet) = (
        old_ids.iter().copied().collect(),
        new_ids.iter().copied().collect(),
    );
    // Only the blocks whose content changed are written.
    let old_rows: HashMap<i64, &Vec<u8>> = old_blocks.iter().map(|(b, v)| (*b, v)).collect();
    let new_rows = inventory::blocks(&new_ids);
    let new_blocks: HashSet<i64> = new_rows.iter().map(|(b, _)| *b).collect();
    let gone: Vec<i64> = old_rows
        .keys()
        .filter(|b| !new_blocks.contains(b))
        .copied()
        .collect();
    if !gone.is_empty() {
        tx.execute(
            "DELETE FROM host_blocks WHERE host_id = $1 AND block = ANY($2)",
            &[&host_id, &gone],
        )?;
    }
    let (blocks, rows): (Vec<i64>, Vec<Vec<u8>>) = new_rows
        .into_iter()
        .filter(|(b, v)| old_rows.get(b) != Some(&v))
        .unzip();
    if !blocks.is_empty() {
        tx.execute(
            "INSERT INTO host_blocks (host_id, block, ids) SELECT $1, * FROM unnest($2::bigint[], $3::bytea[]) \
             ON CONFLICT (host_id, block) DO UPDATE SET ids = EXCLUDED.ids",
            &[&host_id, &blocks, &rows],
        )?;
    }
    if old_hash.is_some() && has_inventory {
        let changes = match delta_changes {
            Some(c) => c,
            None => inventory::rewrite_changes(
                &old_set,
                &new_set,
                installed,
                &new_ids,
                from_millis(now),
                |ids| names_of(tx, ids, cache),
            )?,
        };
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
    Ok(())
}

/// A report's `installed_delta` applied to the host's stored package ids:
/// the ids it leaves and the version changes it makes. One that does not
/// apply is a conflict: nothing is written and the host sends its whole
/// inventory.
fn apply_delta(
    tx: &mut Tx<'_, '_>,
    report: &Report,
    d: &InstalledDelta,
    old_ids: &[i64],
    now: i64,
    cache: &Mutex<PackageCache>,
    learnt: &mut Learnt,
) -> Result<(Vec<i64>, Vec<InstalledChange>), IngestError> {
    let refuse = |why: String| IngestError::Conflict(Conflict::DeltaDoesNotApply { why });
    let removed = package_ids(tx, report, &d.removed, cache, learnt)?;
    let added = package_ids(tx, report, &d.added, cache, learnt)?;
    let new_ids = delta::apply(d, old_ids, &removed, &added).map_err(refuse)?;
    let new_here: HashMap<i64, &inventory::Identity> =
        learnt.iter().map(|(i, id)| (*id, i)).collect();
    let unknown: Vec<i64> = {
        let c = cache.lock().unwrap_or_else(|p| p.into_inner());
        new_ids
            .iter()
            .filter(|id| c.identity(**id).is_none() && !new_here.contains_key(id))
            .copied()
            .collect()
    };
    let mut read: HashMap<i64, inventory::Identity> = HashMap::new();
    if !unknown.is_empty() {
        for r in tx.query(
            "SELECT id, name, version, arch, source_name, source_version, module, scheme FROM packages WHERE id = ANY($1)",
            &[&unknown],
        )? {
            let scheme: String = r.try_get(7)?;
            let scheme = Scheme::parse(&scheme).ok_or_else(|| {
                IngestError::Package(format!("a stored package has the unknown scheme {scheme:?}"))
            })?;
            read.insert(
                r.try_get(0)?,
                (
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                    r.try_get(5)?,
                    r.try_get(6)?,
                    scheme,
                ),
            );
        }
    }
    let c = cache.lock().unwrap_or_else(|p| p.into_inner());
    let identity = |id: i64| {
        c.identity(id)
            .or_else(|| new_here.get(&id).copied())
            .or_else(|| read.get(&id))
    };
    let changes =
        delta::check(report, d, &new_ids, &added, identity, from_millis(now)).map_err(refuse)?;
    Ok((new_ids, changes))
}

fn names_of(
    tx: &mut Tx<'_, '_>,
    ids: &[i64],
    cache: &Mutex<PackageCache>,
) -> Result<Vec<(String, String, String)>, postgres::Error> {
    let mut out = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    {
        let c = cache.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            match c.name(*id) {
                Some((n, a, v)) => out.push((n.to_string(), a.to_string(), v.to_string())),
                None => missing.push(*id),
            }
        }
    }
    if !missing.is_empty() {
        for r in tx.query(
            "SELECT name, arch, version FROM packages WHERE id = ANY($1)",
            &[&missing],
        )? {
            out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
        }
    }
    Ok(out)
}

/// The ids of the inventory's packages: from the cache, the rest in one
/// statement that also inserts those not stored yet (another replica
/// inserting the same one at once is not an error).
fn package_ids(
    tx: &mut Tx<'_, '_>,
    report: &Report,
    installed: &[Installed],
    cache: &Mutex<PackageCache>,
    learnt: &mut Learnt,
) -> Result<Vec<i64>, IngestError> {
    let rows = inventory::rows(report, installed);
    // In the order of `installed`: the caller pairs them.
    let mut ids: Vec<Option<i64>> = Vec::with_capacity(rows.len());
    let mut missing: Vec<&inventory::PackageRow<'_>> = Vec::new();
    {
        let c = cache.lock().unwrap_or_else(|p| p.into_inner());
        for r in &rows {
            let id = c.id(r);
            if id.is_none() {
                missing.push(r);
            }
            ids.push(id);
        }
    }
    if missing.is_empty() {
        return Ok(ids.into_iter().flatten().collect());
    }
    let scheme = missing[0].scheme_name();
    let names: Vec<&str> = missing.iter().map(|r| r.name).collect();
    let versions: Vec<&str> = missing.iter().map(|r| r.version).collect();
    let arches: Vec<&str> = missing.iter().map(|r| r.arch).collect();
    let source_names: Vec<&str> = missing.iter().map(|r| r.source_name).collect();
    let source_versions: Vec<&str> = missing.iter().map(|r| r.source_version).collect();
    let modules: Vec<&str> = missing.iter().map(|r| r.module).collect();
    let keys: Vec<Option<Vec<u8>>> = missing.iter().map(|r| r.key()).collect();
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
    const FOUND: &str = "SELECT p.id, p.name, p.version, p.arch, p.source_name, p.source_version, p.module FROM packages p \
                         JOIN input i USING (name, version, arch, source_name, source_version, module) WHERE p.scheme = $8";
    type Key = (String, String, String, String, String, String);
    let mut found: HashMap<Key, i64> = HashMap::new();
    fn read(
        found: &mut HashMap<Key, i64>,
        rows: Vec<postgres::Row>,
    ) -> Result<(), postgres::Error> {
        for r in rows {
            found.insert(
                (
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                    r.try_get(5)?,
                    r.try_get(6)?,
                ),
                r.try_get(0)?,
            );
        }
        Ok(())
    }
    read(&mut found, tx.query(
        &format!(
            "{INPUT}, ins AS (INSERT INTO packages (name, version, arch, source_name, source_version, module, scheme, version_key) \
             SELECT name, version, arch, source_name, source_version, module, $8, version_key FROM input ON CONFLICT DO NOTHING \
             RETURNING id, name, version, arch, source_name, source_version, module) \
             SELECT * FROM ins UNION ALL {FOUND}"
        ),
        &params,
    )?)?;
    if found.len() < missing.len() {
        // Rows another transaction committed while that statement ran: a new
        // statement sees them.
        read(&mut found, tx.query(&format!("{INPUT} {FOUND}"), &params)?)?;
    }
    let mut learnt_here: HashMap<inventory::Identity, i64> = HashMap::new();
    for r in missing {
        let key = (
            r.name.to_string(),
            r.version.to_string(),
            r.arch.to_string(),
            r.source_name.to_string(),
            r.source_version.to_string(),
            r.module.to_string(),
        );
        match found.get(&key) {
            Some(id) => {
                learnt_here.insert(r.identity(), *id);
            }
            None => {
                return Err(IngestError::Package(format!(
                    "package {} {} {} could be neither found nor stored; the report was not stored, send it again",
                    r.name, r.version, r.arch
                )))
            }
        }
    }
    let out = rows
        .iter()
        .zip(ids)
        .filter_map(|(r, id)| id.or_else(|| learnt_here.get(&r.identity()).copied()))
        .collect();
    learnt.extend(learnt_here);
    Ok(out)
}

/// A host's inventory (`None`: it sends none), its latest changes and platform.
/// Without `with_changes`, the changes are left out (matching needs none).
pub(crate) fn read(
    c: &mut impl GenericClient,
    host_id: i64,
    with_changes: bool,
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
        let mut ids = Vec::new();
        for r in c.query(
            "SELECT block, ids FROM host_blocks WHERE host_id = $1",
            &[&host_id],
        )? {
            match inventory::block_ids(r.try_get(0)?, &r.try_get::<_, Vec<u8>>(1)?) {
                Ok(v) => ids.extend(v),
                Err(why) => tracing::error!(host_id, why, "a host's stored inventory is damaged"),
            }
        }
        Some(
            c.query(
                "SELECT name, version, arch, source_name, source_version, module FROM packages WHERE id = ANY($1) ORDER BY name, arch, version",
                &[&ids],
            )?
            .iter()
            .map(|r| installed_row(r, 0))
            .collect::<Result<_, _>>()?,
        )
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
/// their hosts from the bitmaps.
pub(crate) fn installed_on(
    c: &mut impl GenericClient,
    name: &str,
    version_lt: Option<&str>,
) -> Result<Vec<InstalledOn>, postgres::Error> {
    let mut chosen: Vec<(i64, Installed)> = Vec::new();
    for r in c.query(
        "SELECT id, scheme, version_key, name, version, arch, source_name, source_version, module FROM packages WHERE name = $1",
        &[&name],
    )? {
        let (id, scheme, key): (i64, String, Option<Vec<u8>>) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        let package = installed_row(&r, 3)?;
        if inventory::wanted(&scheme, &package.version, key.as_deref(), version_lt) {
            chosen.push((id, package));
        }
    }
    let ids: Vec<i64> = chosen.iter().map(|c| c.0).collect();
    let wanted: HashSet<i64> = ids
        .iter()
        .map(|id| id.div_euclid(inventory::SHARD_HOSTS))
        .collect();
    let mut out: Vec<InstalledOn> = Vec::new();
    // Each host's row of the block, with the host: one pass, no second
    // look-up of thousands of host ids.
    for block in wanted {
        let here: Vec<(i64, usize)> = ids
            .iter()
            .enumerate()
            .filter(|(_, id)| id.div_euclid(inventory::SHARD_HOSTS) == block)
            .map(|(i, id)| (*id, i))
            .collect();
        for r in c.query(
            "SELECT b.ids, h.hostname, h.site, h.manager FROM host_blocks b JOIN hosts h ON h.id = b.host_id WHERE b.block = $1",
            &[&block],
        )? {
            let bytes: &[u8] = r.try_get(0)?;
            for (id, i) in &here {
                if inventory::block_has(bytes, *id) {
                    out.push(InstalledOn {
                        hostname: r.try_get(1)?,
                        site: r.try_get(2)?,
                        manager: r.try_get(3)?,
                        package: chosen[*i].1.clone(),
                    });
                }
            }
        }
    }
    crate::installed_order::sort_installed_on(&mut out);
    Ok(out)
}

/// Drops version history older than `before`.
pub(crate) fn prune(tx: &mut Transaction<'_>, before: i64) -> Result<u64, postgres::Error> {
    tx.execute("DELETE FROM installed_history WHERE at < $1", &[&before])
}
