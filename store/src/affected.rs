//! "Which hosts have this update pending" — a package, an advisory or a CVE —
//! as both stores answer it: a page at a time in one stable order (host id,
//! then package name and arch, byte for byte), resumed from the last row's
//! key, and counted over every row without reading them. Advisory and CVE
//! ids are also kept one row per id (`pending_refs`), written with the
//! pending updates that name them, so a lookup reads only its own rows: a
//! page costs what its rows cost, however large the fleet.

use crate::{diff, AffectedHost, Lookup};

/// A row's place in the order of affected rows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AffectedKey {
    pub host_id: i64,
    pub name: String,
    pub arch: String,
}

impl AffectedKey {
    pub fn of(r: &AffectedHost) -> AffectedKey {
        AffectedKey {
            host_id: r.host_id,
            name: r.update.name.clone(),
            arch: r.update.arch.clone(),
        }
    }

    /// The key as a page link carries it: `host_id name arch` (neither a
    /// package name nor an arch holds a space).
    pub fn to_cursor(&self) -> String {
        format!("{} {} {}", self.host_id, self.name, self.arch)
    }

    /// A key a page gave; `None` for anything else.
    pub fn from_cursor(c: &str) -> Option<AffectedKey> {
        let mut f = c.split(' ');
        let host_id = f.next()?.parse::<i64>().ok()?;
        let (name, arch) = (f.next()?, f.next()?);
        if f.next().is_some() || name.is_empty() || arch.is_empty() {
            return None;
        }
        Some(AffectedKey {
            host_id,
            name: name.to_string(),
            arch: arch.to_string(),
        })
    }

    /// Before every row: where a first page starts.
    pub(crate) fn start() -> AffectedKey {
        AffectedKey {
            host_id: i64::MIN,
            name: String::new(),
            arch: String::new(),
        }
    }
}

/// How many rows a lookup has, on how many hosts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AffectedCount {
    pub rows: u64,
    pub hosts: u64,
}

/// The kind column of `pending_refs`.
pub(crate) const ADVISORY: &str = "a";
pub(crate) const CVE: &str = "c";

/// The ids a lookup by reference searches: `(kind, id)`; `None` for a package.
pub(crate) fn reference<'a>(lookup: Lookup<'a>) -> Option<(&'static str, &'a str)> {
    match lookup {
        Lookup::Package(_) => None,
        Lookup::Advisory(id) => Some((ADVISORY, id)),
        Lookup::Cve(id) => Some((CVE, id)),
    }
}

/// The `pending_refs` rows of one written pending update: each advisory and
/// CVE id it names, once.
pub(crate) fn refs(row: &diff::Row) -> Vec<(&'static str, &str)> {
    let mut out: Vec<(&'static str, &str)> = row
        .value
        .advisories
        .split(' ')
        .map(|id| (ADVISORY, id))
        .chain(row.value.cves.split(' ').map(|id| (CVE, id)))
        .filter(|(_, id)| !id.is_empty())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_no_page_gave() {
        let k = AffectedKey {
            host_id: 42,
            name: "openssl".into(),
            arch: "amd64".into(),
        };
        assert_eq!(k.to_cursor(), "42 openssl amd64");
        assert_eq!(AffectedKey::from_cursor(&k.to_cursor()), Some(k));
        for bad in [
            "",
            "x openssl amd64",
            "42 openssl",
            "42  amd64",
            "42 openssl amd64 more",
            "web-01 SiteA openssl amd64",
        ] {
            assert_eq!(AffectedKey::from_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn refs_are_each_id_once_by_kind() {
        let mut row = diff::Row {
            name: "openssl".into(),
            arch: "amd64".into(),
            value: diff::Stored {
                candidate: "2".into(),
                first_seen: 0,
                candidate_first_seen: 0,
                security_first_seen: None,
                installed: "1".into(),
                severity: None,
                held: None,
                repository: None,
                advisories: "DSA-1-1  DSA-1-1".into(),
                cves: "CVE-2026-1 DSA-1-1".into(),
            },
        };
        assert_eq!(
            refs(&row),
            [(ADVISORY, "DSA-1-1"), (CVE, "CVE-2026-1"), (CVE, "DSA-1-1")]
        );
        row.value.advisories.clear();
        row.value.cves.clear();
        assert!(refs(&row).is_empty());
    }
}
