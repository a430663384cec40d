//! The order of [`crate::Store::installed_on`]: by version in each host's
//! own order (versions of different orders apart), then site, host name and
//! arch; and the key of a row in it, which the API's pages resume from.

use std::cmp::Ordering;

use pakiti_report::Manager;
use pakiti_versions::Scheme;

use crate::inventory::scheme;
use crate::InstalledOn;

fn order_of(manager: &str) -> Option<Scheme> {
    Manager::ALL
        .into_iter()
        .find(|x| x.as_str() == manager)
        .map(scheme)
}

/// Versions in their scheme's order, the text breaking ties; versions of
/// different schemes (or none known) by scheme, then text.
fn version_cmp(a: (Option<Scheme>, &str), b: (Option<Scheme>, &str)) -> Ordering {
    match (a.0, b.0) {
        (Some(x), Some(y)) if x == y => {
            pakiti_versions::compare(x, a.1, b.1).then_with(|| a.1.cmp(b.1))
        }
        (x, y) => x.cmp(&y).then_with(|| a.1.cmp(b.1)),
    }
}

/// Where a row of [`crate::Store::installed_on`] sits in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledOnKey {
    manager: String,
    version: String,
    site: Option<String>,
    hostname: String,
    arch: String,
}

impl InstalledOnKey {
    pub fn of(i: &InstalledOn) -> InstalledOnKey {
        InstalledOnKey {
            manager: i.manager.clone(),
            version: i.package.version.clone(),
            site: i.site.clone(),
            hostname: i.hostname.clone(),
            arch: i.package.arch.clone(),
        }
    }

    /// The key as text: its fields separated by spaces (none holds one; no
    /// site is an empty field).
    pub fn to_cursor(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.manager,
            self.version,
            self.site.as_deref().unwrap_or(""),
            self.hostname,
            self.arch
        )
    }

    pub fn from_cursor(s: &str) -> Option<InstalledOnKey> {
        let f: Vec<&str> = s.split(' ').collect();
        let [manager, version, site, hostname, arch] = f.as_slice() else {
            return None;
        };
        if [manager, version, hostname, arch]
            .iter()
            .any(|x| x.is_empty())
        {
            return None;
        }
        Some(InstalledOnKey {
            manager: manager.to_string(),
            version: version.to_string(),
            site: (!site.is_empty()).then(|| site.to_string()),
            hostname: hostname.to_string(),
            arch: arch.to_string(),
        })
    }
}

impl Ord for InstalledOnKey {
    fn cmp(&self, other: &Self) -> Ordering {
        version_cmp(
            (order_of(&self.manager), &self.version),
            (order_of(&other.manager), &other.version),
        )
        .then_with(|| {
            (&self.site, &self.hostname, &self.arch).cmp(&(
                &other.site,
                &other.hostname,
                &other.arch,
            ))
        })
    }
}

impl PartialOrd for InstalledOnKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Sorts rows in the order [`InstalledOnKey`] compares them. The distinct
/// versions are few: they are ranked once, and the rows sorted by rank.
pub(crate) fn sort_installed_on(v: &mut Vec<InstalledOn>) {
    let ranks: Vec<usize> = {
        let mut versions: Vec<(Option<Scheme>, &str)> = v
            .iter()
            .map(|i| (order_of(&i.manager), i.package.version.as_str()))
            .collect::<std::collections::HashSet<_>>()
            .into_iter()
            .collect();
        versions.sort_by(|a, b| version_cmp(*a, *b));
        let rank: std::collections::HashMap<(Option<Scheme>, &str), usize> = versions
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k, i))
            .collect();
        v.iter()
            .map(|i| rank[&(order_of(&i.manager), i.package.version.as_str())])
            .collect()
    };
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| {
        ranks[a].cmp(&ranks[b]).then_with(|| {
            (&v[a].site, &v[a].hostname, &v[a].package.arch).cmp(&(
                &v[b].site,
                &v[b].hostname,
                &v[b].package.arch,
            ))
        })
    });
    let mut slots: Vec<Option<InstalledOn>> = std::mem::take(v).into_iter().map(Some).collect();
    *v = idx.into_iter().filter_map(|i| slots[i].take()).collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use pakiti_report::Installed;

    fn row(manager: &str, version: &str, site: Option<&str>, host: &str) -> InstalledOn {
        InstalledOn {
            hostname: host.into(),
            site: site.map(str::to_string),
            manager: manager.into(),
            package: Installed::new("openssl", version, "amd64"),
        }
    }

    #[test]
    fn rows_sort_as_their_keys_compare_and_keys_survive_their_text() {
        let mut rows = vec![
            row("apt", "1.10-1", Some("B"), "h1"),
            row("apt", "1.9-1", None, "h2"),
            row("apt", "1:0.1-1", Some("A"), "h3"),
            row("dnf", "1.10-1.el9", Some("A"), "h4"),
            row("apt", "1.9-1", Some("A"), "h5"),
            row("dnf", "1.9-1.el9", None, "h6"),
            row("apt", "1.10-1", Some("A"), "h7"),
        ];
        sort_installed_on(&mut rows);
        let keys: Vec<InstalledOnKey> = rows.iter().map(InstalledOnKey::of).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        let hosts: Vec<&str> = rows.iter().map(|r| r.hostname.as_str()).collect();
        // dpkg: 1.9 < 1.10 < 1:0.1 (the epoch); no site before a site.
        assert_eq!(hosts, ["h2", "h5", "h7", "h1", "h3", "h6", "h4"]);
        for k in &keys {
            assert_eq!(
                InstalledOnKey::from_cursor(&k.to_cursor()).as_ref(),
                Some(k)
            );
        }
        for bad in ["", "apt 1.0", "apt 1.0 A h amd64 extra", "apt  A h amd64"] {
            assert_eq!(InstalledOnKey::from_cursor(bad), None, "{bad:?}");
        }
    }
}
