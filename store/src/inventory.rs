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
    pub scheme: &'static str,
    /// The version's sort key in `scheme`'s order, where it has one.
    pub key: Option<Vec<u8>>,
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
            scheme: scheme.as_str(),
            key: pakiti_versions::sort_key(scheme, &p.version),
        })
        .collect()
}

/// A hash of the inventory alone (order does not matter): an unchanged
/// inventory costs no rewrite even when the pending updates changed.
pub(crate) fn hash(report: &Report) -> Option<Vec<u8>> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let installed = report.inventory.installed.as_ref()?;
    let mut sorted: Vec<&Installed> = installed.iter().collect();
    sorted.sort_by(|a, b| (&a.name, &a.arch, &a.version).cmp(&(&b.name, &b.arch, &b.version)));
    let mut out = Vec::with_capacity(16);
    for i in 0..2u8 {
        let mut h = DefaultHasher::new();
        h.write_u8(i);
        scheme(report.manager).hash(&mut h);
        sorted.hash(&mut h);
        out.extend_from_slice(&h.finish().to_le_bytes());
    }
    Some(out)
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

/// Whether a stored version is below `bound` in `scheme`'s order: by the
/// keys where both have one, else by comparing the versions.
pub(crate) fn below(scheme: Scheme, version: &str, key: Option<&[u8]>, bound: &str) -> bool {
    match (key, pakiti_versions::lower_bound_key(scheme, bound)) {
        (Some(k), Some(b)) => k < b.as_slice(),
        _ => pakiti_versions::compare(scheme, version, bound).is_lt(),
    }
}

/// The order of [`crate::Store::installed_on`]: by version in the host's
/// order, then site and host name.
pub(crate) fn sort_installed_on(v: &mut [crate::InstalledOn]) {
    v.sort_by(|a, b| {
        let order = |m: &str| {
            Manager::ALL
                .into_iter()
                .find(|x| x.as_str() == m)
                .map(scheme)
        };
        let by_version = match (order(&a.manager), order(&b.manager)) {
            (Some(x), Some(y)) if x == y => {
                pakiti_versions::compare(x, &a.package.version, &b.package.version)
            }
            (x, y) => x.cmp(&y),
        };
        by_version
            .then_with(|| a.package.version.cmp(&b.package.version))
            .then_with(|| {
                (&a.site, &a.hostname, &a.package.arch).cmp(&(
                    &b.site,
                    &b.hostname,
                    &b.package.arch,
                ))
            })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

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
