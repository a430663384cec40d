//! The installed inventory, as both stores keep it: each distinct package
//! (name, version, arch, source, module, version order) stored once with
//! its sort key, hosts pointing at the ones they have. Pure: what a new
//! inventory changes, and the hash that says it changed nothing.

use std::collections::HashMap;

use pakiti_report::{Installed, Manager, Report};
use pakiti_versions::Scheme;

/// Whose version order a host's packages follow.
pub(crate) fn scheme(manager: Manager) -> Scheme {
    match manager {
        Manager::Apt => Scheme::Dpkg,
        Manager::Dnf | Manager::Yum | Manager::Zypper => Scheme::Rpm,
        Manager::Apk => Scheme::Apk,
        Manager::Pacman => Scheme::Alpm,
    }
}

/// One distinct package as stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PackageRow<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    pub source_name: &'a str,
    pub source_version: &'a str,
    /// `""` for none (a key column is never NULL).
    pub module: &'a str,
    pub scheme: Scheme,
}

impl PackageRow<'_> {
    /// The version's sort key in the scheme's order, where it has one
    /// (computed only for a package stored for the first time).
    pub fn key(&self) -> Option<Vec<u8>> {
        pakiti_versions::sort_key(self.scheme, self.version)
    }

    pub fn scheme_name(&self) -> &'static str {
        self.scheme.as_str()
    }
}

pub(crate) fn rows<'a>(report: &'a Report, installed: &'a [Installed]) -> Vec<PackageRow<'a>> {
    let scheme = scheme(report.manager);
    installed
        .iter()
        .map(|p| PackageRow {
            name: &p.name,
            version: &p.version,
            arch: &p.arch,
            source_name: &p.source_name,
            source_version: &p.source_version,
            module: p.module.as_deref().unwrap_or(""),
            scheme,
        })
        .collect()
}

/// The inventory's digest ([`pakiti_report::installed_digest`]) as bytes:
/// what the store keeps to tell an unchanged inventory (no rewrite, even
/// when the pending updates changed) and to check a host that names its
/// inventory by digest alone. `None` without an inventory.
pub(crate) fn hash(report: &Report) -> Option<Vec<u8>> {
    let inv = &report.inventory;
    match (&inv.installed_digest, &inv.installed) {
        (Some(d), _) => digest_bytes(d),
        (None, Some(list)) => digest_bytes(&pakiti_report::installed_digest(list)),
        (None, None) => None,
    }
}

/// A digest written in hex, as the store keeps it.
pub(crate) fn digest_bytes(hex: &str) -> Option<Vec<u8>> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// A host's packages are stored as one value: the sorted package ids, each as
/// its difference from the previous one in LEB128 (hosts share most
/// packages, so ids are dense and most take one or two bytes).
pub(crate) fn encode_ids(ids: &[i64]) -> Vec<u8> {
    let mut sorted: Vec<i64> = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = Vec::with_capacity(sorted.len() * 2);
    let mut prev = 0i64;
    for id in sorted {
        let mut d = (id - prev) as u64;
        prev = id;
        loop {
            let byte = (d & 0x7f) as u8;
            d >>= 7;
            if d == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

/// The ids of [`encode_ids`]; a damaged value is an error, never a guess.
pub(crate) fn decode_ids(bytes: &[u8]) -> Result<Vec<i64>, String> {
    let mut out = Vec::with_capacity(bytes.len());
    let (mut prev, mut d, mut shift) = (0i64, 0u64, 0u32);
    for &b in bytes {
        if shift > 56 {
            return Err("a package id of the host's inventory is too long".into());
        }
        d |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            prev = prev
                .checked_add(i64::try_from(d).map_err(|_| "a package id overflows")?)
                .ok_or("a package id overflows")?;
            out.push(prev);
            d = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    if shift != 0 {
        return Err("the host's inventory ends inside a package id".into());
    }
    Ok(out)
}

/// Which hosts have a package: a bitmap per package and shard of 1,024
/// consecutive host ids (128 bytes), bit `id % 1024` of byte `bit / 8`,
/// least significant first (PostgreSQL's `set_bit` numbering).
pub(crate) const SHARD_HOSTS: i64 = 1024;
pub(crate) const BITMAP_BYTES: usize = (SHARD_HOSTS / 8) as usize;

pub(crate) fn shard_of(host_id: i64) -> (i64, i32) {
    (
        host_id.div_euclid(SHARD_HOSTS),
        host_id.rem_euclid(SHARD_HOSTS) as i32,
    )
}

pub(crate) fn set_bit(bits: &mut Vec<u8>, bit: i32, on: bool) {
    bits.resize(BITMAP_BYTES.max(bits.len()), 0);
    let (byte, mask) = ((bit / 8) as usize, 1u8 << (bit % 8));
    if on {
        bits[byte] |= mask;
    } else {
        bits[byte] &= !mask;
    }
}

/// The host ids a shard's bitmap holds.
pub(crate) fn hosts_in(shard: i64, bits: &[u8]) -> impl Iterator<Item = i64> + '_ {
    bits.iter().enumerate().flat_map(move |(i, b)| {
        (0..8)
            .filter(move |k| b & (1 << k) != 0)
            .map(move |k| shard * SHARD_HOSTS + (i * 8 + k) as i64)
    })
}

/// A set of package ids, hashed cheaply.
pub(crate) type IdSet = std::collections::HashSet<i64, Plain>;

/// Keys that are already hashes (or ids) need no hashing again.
type Plain = std::hash::BuildHasherDefault<PlainHasher>;

#[derive(Default)]
pub(crate) struct PlainHasher(u64);

impl std::hash::Hasher for PlainHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Spread ids (dense small numbers) over the table's bits.
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
}

/// Everything that tells two packages apart.
pub(crate) type Identity = (String, String, String, String, String, String, Scheme);

/// PostgreSQL keeps a host's package ids by block of [`SHARD_HOSTS`] ids:
/// `(block, encoded offsets)` for each block the host has packages in.
pub(crate) fn blocks(ids: &[i64]) -> Vec<(i64, Vec<u8>)> {
    let mut by_block: std::collections::BTreeMap<i64, Vec<u16>> = Default::default();
    for id in ids {
        by_block
            .entry(id.div_euclid(SHARD_HOSTS))
            .or_default()
            .push(id.rem_euclid(SHARD_HOSTS) as u16);
    }
    by_block
        .into_iter()
        .map(|(b, mut offsets)| {
            offsets.sort_unstable();
            offsets.dedup();
            (b, encode_block(&offsets))
        })
        .collect()
}

/// Fewer than 64 offsets: each as 2 bytes; else a 128-byte bitmap.
fn encode_block(offsets: &[u16]) -> Vec<u8> {
    if offsets.len() < BITMAP_BYTES / 2 {
        offsets.iter().flat_map(|o| o.to_be_bytes()).collect()
    } else {
        let mut bits = Vec::new();
        for o in offsets {
            set_bit(&mut bits, i32::from(*o), true);
        }
        bits
    }
}

/// Whether one block's row holds package id `id` (of that block), without
/// decoding the row.
pub(crate) fn block_has(bytes: &[u8], id: i64) -> bool {
    let offset = id.rem_euclid(SHARD_HOSTS) as u16;
    if bytes.len() == BITMAP_BYTES {
        return bytes[usize::from(offset / 8)] & (1 << (offset % 8)) != 0;
    }
    bytes
        .chunks_exact(2)
        .any(|c| u16::from_be_bytes([c[0], c[1]]) == offset)
}

/// The package ids of one block's row; a damaged row is an error.
pub(crate) fn block_ids(block: i64, bytes: &[u8]) -> Result<Vec<i64>, String> {
    if bytes.len() == BITMAP_BYTES {
        return Ok(hosts_in(block, bytes).collect());
    }
    if !bytes.len().is_multiple_of(2) || bytes.len() >= BITMAP_BYTES {
        return Err(format!(
            "a stored block of package ids has {} bytes",
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|c| block * SHARD_HOSTS + i64::from(u16::from_be_bytes([c[0], c[1]])))
        .collect())
}

/// Package ids by identity, and what each id is, as far as this process has
/// seen them: a changed inventory then needs the database only for packages
/// new to it. The map is keyed by a hash with this process's random key, and
/// a hit is compared field by field, so no report can make another host's
/// package read as its own. Ids never change meaning (package rows are never
/// deleted), so the cache is never stale; what a transaction adds is staged
/// and kept only when it commits.
#[derive(Default)]
pub(crate) struct PackageCache {
    hasher: std::collections::hash_map::RandomState,
    ids: HashMap<u64, i64, Plain>,
    rows: HashMap<i64, Identity, Plain>,
    staged: Vec<(u64, i64, Identity)>,
    /// Where the current job's staging begins (SQLite's savepoints).
    job_start: usize,
}

fn same(row: &PackageRow<'_>, id: &Identity) -> bool {
    row.name == id.0
        && row.version == id.1
        && row.arch == id.2
        && row.source_name == id.3
        && row.source_version == id.4
        && row.module == id.5
        && row.scheme == id.6
}

impl PackageCache {
    fn key(&self, row: &PackageRow<'_>) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(row)
    }

    pub fn id(&self, row: &PackageRow<'_>) -> Option<i64> {
        let k = self.key(row);
        if let Some(id) = self.ids.get(&k) {
            if self.rows.get(id).is_some_and(|i| same(row, i)) {
                return Some(*id);
            }
        }
        self.staged
            .iter()
            .rev()
            .find(|(sk, _, i)| *sk == k && same(row, i))
            .map(|(_, id, _)| *id)
    }

    /// (name, arch, version) of a package id.
    pub fn name(&self, id: i64) -> Option<(&str, &str, &str)> {
        self.identity(id)
            .map(|r| (r.0.as_str(), r.2.as_str(), r.1.as_str()))
    }

    /// Everything about a package id, where this process has seen it.
    pub fn identity(&self, id: i64) -> Option<&Identity> {
        self.rows.get(&id).or_else(|| {
            self.staged
                .iter()
                .rev()
                .find(|(_, i, _)| *i == id)
                .map(|(_, _, r)| r)
        })
    }

    pub fn stage(&mut self, row: &PackageRow<'_>, id: i64) {
        let k = self.key(row);
        self.staged.push((k, id, row.identity()));
    }

    pub fn stage_identity(&mut self, i: Identity, id: i64) {
        let row = PackageRow {
            name: &i.0,
            version: &i.1,
            arch: &i.2,
            source_name: &i.3,
            source_version: &i.4,
            module: &i.5,
            scheme: i.6,
        };
        let k = self.key(&row);
        self.staged.push((k, id, i));
    }

    /// A job's savepoint was released: its staging goes with the transaction.
    pub fn keep_job(&mut self) {
        self.job_start = self.staged.len();
    }

    /// A job's savepoint was rolled back.
    pub fn discard_job(&mut self) {
        self.staged.truncate(self.job_start);
    }

    pub fn commit(&mut self) {
        for (k, id, row) in self.staged.drain(..) {
            self.ids.insert(k, id);
            self.rows.insert(id, row);
        }
        self.job_start = 0;
    }

    pub fn rollback(&mut self) {
        self.staged.clear();
        self.job_start = 0;
    }
}

impl PackageRow<'_> {
    pub fn identity(&self) -> Identity {
        (
            self.name.to_string(),
            self.version.to_string(),
            self.arch.to_string(),
            self.source_name.to_string(),
            self.source_version.to_string(),
            self.module.to_string(),
            self.scheme,
        )
    }
}

/// What [`crate::Store::host`] shows of a host's inventory.
pub(crate) struct HostInventory {
    pub installed: Option<Vec<Installed>>,
    pub changes: Vec<InstalledChange>,
    pub platform: crate::Platform,
}

/// A change of a host's installed version of one package (name, arch):
/// installed (`old` none), upgraded or downgraded, or removed (`new` none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledChange {
    pub at: std::time::SystemTime,
    pub name: String,
    pub arch: String,
    pub old_version: Option<String>,
    pub new_version: Option<String>,
}

/// The version changes a rewrite of a host's package ids makes, reading
/// through `names` only the ids it touched: those removed, and those kept
/// under a name that changed (one kernel of several).
pub(crate) fn rewrite_changes<E>(
    old_set: &IdSet,
    new_set: &IdSet,
    installed: &[Installed],
    new_ids: &[i64],
    at: std::time::SystemTime,
    mut names: impl FnMut(&[i64]) -> Result<Vec<(String, String, String)>, E>,
) -> Result<Vec<InstalledChange>, E> {
    let gone: Vec<i64> = old_set.difference(new_set).copied().collect();
    let mut old = names(&gone)?;
    let mut touched: std::collections::HashSet<(String, String)> =
        old.iter().map(|(n, a, _)| (n.clone(), a.clone())).collect();
    for (p, id) in installed.iter().zip(new_ids) {
        if !old_set.contains(id) {
            touched.insert((p.name.clone(), p.arch.clone()));
        }
    }
    let stayed: Vec<i64> = new_ids
        .iter()
        .zip(installed)
        .filter(|(id, p)| {
            old_set.contains(id) && touched.contains(&(p.name.clone(), p.arch.clone()))
        })
        .map(|(id, _)| *id)
        .collect();
    old.extend(names(&stayed)?);
    Ok(changes_of(&old, installed, &touched, at))
}

/// [`changes`] for the (name, arch)s a rewrite touched: those of the
/// packages it removed or added (`touched`), the others unchanged.
pub(crate) fn changes_of(
    old: &[(String, String, String)],
    new: &[Installed],
    touched: &std::collections::HashSet<(String, String)>,
    at: std::time::SystemTime,
) -> Vec<InstalledChange> {
    let hit = |n: &str, a: &str| touched.contains(&(n.to_string(), a.to_string()));
    let old: Vec<(String, String, String)> =
        old.iter().filter(|(n, a, _)| hit(n, a)).cloned().collect();
    let new: Vec<Installed> = new
        .iter()
        .filter(|p| hit(&p.name, &p.arch))
        .cloned()
        .collect();
    changes(&old, &new, at)
}

/// What changed between the stored `(name, arch, version)`s and the new
/// inventory, one entry per (name, arch); several installed versions (kernels)
/// read as their sorted, space-separated list.
pub(crate) fn changes(
    old: &[(String, String, String)],
    new: &[Installed],
    at: std::time::SystemTime,
) -> Vec<InstalledChange> {
    fn group<'a>(
        it: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> HashMap<(&'a str, &'a str), String> {
        let mut m: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
        for (n, a, v) in it {
            m.entry((n, a)).or_default().push(v);
        }
        m.into_iter()
            .map(|(k, mut v)| {
                v.sort_unstable();
                (k, v.join(" "))
            })
            .collect()
    }
    let before = group(
        old.iter()
            .map(|(n, a, v)| (n.as_str(), a.as_str(), v.as_str())),
    );
    let after = group(
        new.iter()
            .map(|p| (p.name.as_str(), p.arch.as_str(), p.version.as_str())),
    );
    let mut out: Vec<InstalledChange> = Vec::new();
    for (k, v) in &after {
        if before.get(k) != Some(v) {
            out.push(InstalledChange {
                at,
                name: k.0.to_string(),
                arch: k.1.to_string(),
                old_version: before.get(k).cloned(),
                new_version: Some(v.clone()),
            });
        }
    }
    for (k, v) in &before {
        if !after.contains_key(k) {
            out.push(InstalledChange {
                at,
                name: k.0.to_string(),
                arch: k.1.to_string(),
                old_version: Some(v.clone()),
                new_version: None,
            });
        }
    }
    out.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    out
}

/// Whether a stored package (its scheme's name, version and key) answers
/// `version_lt`: every version without a bound; with one, those below it in
/// the scheme's order (a scheme this program does not know answers none).
pub(crate) fn wanted(
    scheme: &str,
    version: &str,
    key: Option<&[u8]>,
    version_lt: Option<&str>,
) -> bool {
    match (version_lt, Scheme::parse(scheme)) {
        (None, _) => true,
        (Some(bound), Some(s)) => below(s, version, key, bound),
        (Some(_), None) => false,
    }
}

/// Whether a stored version is below `bound` in `scheme`'s order: by the
/// keys where both have one, else by comparing the versions.
pub(crate) fn below(scheme: Scheme, version: &str, key: Option<&[u8]>, bound: &str) -> bool {
    match (key, pakiti_versions::lower_bound_key(scheme, bound)) {
        (Some(k), Some(b)) => k < b.as_slice(),
        _ => pakiti_versions::compare(scheme, version, bound).is_lt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn package_ids_survive_their_encoding_and_damage_is_refused() {
        let ids = [5, 1, 300, 70_000, 2, 1 << 40, 300];
        let bytes = encode_ids(&ids);
        assert_eq!(decode_ids(&bytes).unwrap(), [1, 2, 5, 300, 70_000, 1 << 40]);
        assert_eq!(decode_ids(&encode_ids(&[])).unwrap(), Vec::<i64>::new());
        // Dense ids cost a byte each.
        assert_eq!(encode_ids(&(1..=1000).collect::<Vec<_>>()).len(), 1000);
        assert!(
            decode_ids(&bytes[..bytes.len() - 1]).is_err() || bytes[bytes.len() - 2] & 0x80 == 0
        );
        assert!(decode_ids(&[0x80]).is_err());
        assert!(decode_ids(&[0xff; 12]).is_err());
    }

    #[test]
    fn blocks_hold_package_ids_sparse_or_dense() {
        let mut ids: Vec<i64> = vec![3, 5, 2048 + 7];
        ids.extend(5 * 1024..5 * 1024 + 100);
        let b = blocks(&ids);
        assert_eq!(
            b.iter().map(|(k, v)| (*k, v.len())).collect::<Vec<_>>(),
            [(0, 4), (2, 2), (5, 128)]
        );
        let mut back: Vec<i64> = b
            .iter()
            .flat_map(|(k, v)| block_ids(*k, v).unwrap())
            .collect();
        back.sort_unstable();
        ids.sort_unstable();
        assert_eq!(back, ids);
        assert!(block_ids(0, &[1, 2, 3]).is_err());
    }

    #[test]
    fn bitmaps_hold_the_hosts_of_their_shard() {
        let mut bits = Vec::new();
        for host in [1024 * 3, 1024 * 3 + 9, 1024 * 4 - 1] {
            let (shard, bit) = shard_of(host);
            assert_eq!(shard, 3);
            set_bit(&mut bits, bit, true);
        }
        assert_eq!(bits.len(), BITMAP_BYTES);
        assert_eq!(bits[1], 0b10, "bit 9 is the second of byte 1");
        set_bit(&mut bits, 9, false);
        assert_eq!(hosts_in(3, &bits).collect::<Vec<_>>(), [3072, 4095]);
    }

    #[test]
    fn the_cache_keeps_only_what_committed() {
        let mut c = PackageCache::default();
        let row = |v: &'static str| PackageRow {
            name: "a",
            version: v,
            arch: "amd64",
            source_name: "a",
            source_version: v,
            module: "",
            scheme: Scheme::Dpkg,
        };
        c.stage(&row("1"), 10);
        c.keep_job();
        c.stage(&row("2"), 20);
        assert_eq!(c.id(&row("2")), Some(20), "seen within its own job");
        c.discard_job();
        assert_eq!(c.id(&row("2")), None);
        c.commit();
        assert_eq!(c.id(&row("1")), Some(10));
        c.stage(&row("3"), 30);
        c.rollback();
        assert_eq!(c.id(&row("3")), None);
        assert_eq!(c.name(10), Some(("a", "amd64", "1")));
        // Another source is another package.
        assert_eq!(
            c.id(&PackageRow {
                source_name: "b",
                ..row("1")
            }),
            None
        );
    }

    #[test]
    fn changes_name_what_was_installed_upgraded_and_removed() {
        let old = vec![
            ("a".into(), "amd64".into(), "1".into()),
            ("b".into(), "amd64".into(), "1".into()),
            ("k".into(), "amd64".into(), "5".into()),
        ];
        let new = vec![
            Installed::new("a", "2", "amd64"),
            Installed::new("c", "1", "all"),
            Installed::new("k", "6", "amd64"),
            Installed::new("k", "5", "amd64"),
        ];
        let got: Vec<String> = changes(&old, &new, SystemTime::UNIX_EPOCH)
            .iter()
            .map(|c| format!("{} {:?} {:?}", c.name, c.old_version, c.new_version))
            .collect();
        assert_eq!(
            got,
            [
                "a Some(\"1\") Some(\"2\")",
                "b Some(\"1\") None",
                "c None Some(\"1\")",
                "k Some(\"5\") Some(\"5 6\")",
            ]
        );
    }

    #[test]
    fn below_uses_the_hosts_own_order() {
        assert!(below(
            Scheme::Dpkg,
            "5.6.0-1",
            pakiti_versions::sort_key(Scheme::Dpkg, "5.6.0-1").as_deref(),
            "5.6.1"
        ));
        assert!(!below(
            Scheme::Dpkg,
            "5.6.1-1",
            pakiti_versions::sort_key(Scheme::Dpkg, "5.6.1-1").as_deref(),
            "5.6.1"
        ));
        assert!(below(Scheme::Dpkg, "5.6.1~rc1-1", None, "5.6.1"));
        // pacman: a bound without release is equal to each of its releases.
        assert!(!below(
            Scheme::Alpm,
            "5.6.1-3",
            pakiti_versions::sort_key(Scheme::Alpm, "5.6.1-3").as_deref(),
            "5.6.1"
        ));
        assert!(below(Scheme::Rpm, "1:1.0-1", None, "2:0.1"));
    }
}
