//! The host page's pending updates: the security updates first, worst
//! severity first, and the others apart (collapsed on the page); both sorted
//! by a column heading and filtered by one text.

use std::time::SystemTime;

use serde::Serialize;

use pakiti_report::Severity;
use pakiti_store::StoredUpdate;

use crate::web::{urlencode, when, When};

/// The sorts a column heading offers: key, heading.
const SORTS: [(&str, &str); 4] = [
    ("severity", "Security"),
    ("package", "Package"),
    ("repository", "Repository"),
    ("since", "Pending since"),
];

#[derive(Serialize)]
pub(crate) struct UpdateRow {
    name: String,
    arch: String,
    installed: String,
    candidate: String,
    /// `none` for an update that is not a security update.
    severity: &'static str,
    repository: String,
    advisories: Vec<String>,
    cves: Vec<String>,
    first_seen: When,
    held: Option<&'static str>,
}

#[derive(Serialize)]
pub(crate) struct Heading {
    label: &'static str,
    href: String,
    sorted: bool,
}

/// The updates section of a host page.
#[derive(Serialize)]
pub(crate) struct Updates {
    security: Vec<UpdateRow>,
    others: Vec<UpdateRow>,
    /// Every pending update, filtered or not.
    total: usize,
    filter: String,
    sort: &'static str,
    headings: Vec<Heading>,
    /// The section without its filter.
    clear: String,
    /// The other updates start open when a filter is set or no security
    /// update is pending (nothing else to look at first).
    open_others: bool,
}

/// Severity rank: 0 critical … 4 unknown, 5 not a security update.
fn rank(u: &StoredUpdate) -> usize {
    u.security
        .and_then(|s| Severity::ALL.iter().position(|x| *x == s))
        .unwrap_or(Severity::ALL.len())
}

/// `sort` (a heading's key, empty for the default: by severity) and
/// `filter` (text the package name, repository, an advisory or a CVE id
/// holds, any case). `page` is the host page's own address with its site.
pub(crate) fn updates(
    list: &[StoredUpdate],
    sort: &str,
    filter: &str,
    page: &str,
    now: SystemTime,
) -> Result<Updates, String> {
    let sort = match sort {
        "" => "severity",
        s => SORTS
            .iter()
            .map(|(k, _)| *k)
            .find(|k| *k == s)
            .ok_or_else(|| {
                format!(
                    "usort={s:?}: expected one of {}",
                    SORTS.map(|(k, _)| k).join(", ")
                )
            })?,
    };
    let needle = filter.trim().to_lowercase();
    let holds = |u: &StoredUpdate| {
        needle.is_empty()
            || u.name.to_lowercase().contains(&needle)
            || u.repository
                .as_deref()
                .is_some_and(|r| r.to_lowercase().contains(&needle))
            || u.advisories
                .iter()
                .chain(&u.cves)
                .any(|id| id.to_lowercase().contains(&needle))
    };
    let mut kept: Vec<&StoredUpdate> = list.iter().filter(|u| holds(u)).collect();
    kept.sort_by(|a, b| {
        let by_name = a.name.cmp(&b.name).then_with(|| a.arch.cmp(&b.arch));
        match sort {
            "package" => by_name,
            "repository" => a.repository.cmp(&b.repository).then(by_name),
            // Longest waiting first.
            "since" => a.first_seen.cmp(&b.first_seen).then(by_name),
            _ => rank(a).cmp(&rank(b)).then(by_name),
        }
    });
    let (security, others): (Vec<&StoredUpdate>, Vec<&StoredUpdate>) =
        kept.into_iter().partition(|u| u.security.is_some());
    let row = |u: &&StoredUpdate| UpdateRow {
        name: u.name.clone(),
        arch: u.arch.clone(),
        installed: u.installed_version.clone(),
        candidate: u.candidate_version.clone(),
        severity: u.security.map_or("none", Severity::as_str),
        repository: u.repository.clone().unwrap_or_default(),
        advisories: u.advisories.clone(),
        cves: u.cves.clone(),
        first_seen: when(u.first_seen, now),
        held: u.held.map(|h| h.as_str()),
    };
    let link = |sort: &str, filter: &str| {
        let mut href = page.to_string();
        for (k, v) in [("usort", sort), ("uq", filter)] {
            if !v.is_empty() {
                href.push(if href.contains('?') { '&' } else { '?' });
                href.push_str(&format!("{k}={}", urlencode(v)));
            }
        }
        href + "#updates"
    };
    let default_sort = |k: &'static str| if k == "severity" { "" } else { k };
    Ok(Updates {
        headings: SORTS
            .iter()
            .map(|(key, label)| Heading {
                label,
                href: link(default_sort(key), filter.trim()),
                sorted: *key == sort,
            })
            .collect(),
        open_others: !needle.is_empty() || security.is_empty(),
        security: security.iter().map(row).collect(),
        others: others.iter().map(row).collect(),
        total: list.len(),
        filter: filter.trim().to_string(),
        sort,
        clear: link(default_sort(sort), ""),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn u(name: &str, sev: Option<Severity>, repo: &str, age_days: u64) -> StoredUpdate {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100 * 86400);
        let at = now - Duration::from_secs(age_days * 86400);
        StoredUpdate {
            name: name.into(),
            arch: "amd64".into(),
            installed_version: "1".into(),
            candidate_version: "2".into(),
            security: sev,
            held: None,
            repository: Some(repo.into()),
            advisories: vec![],
            cves: if name == "openssl" {
                vec!["CVE-2026-0001".into()]
            } else {
                vec![]
            },
            first_seen: at,
            candidate_first_seen: at,
            security_first_seen: sev.map(|_| at),
        }
    }

    fn names(rows: &[UpdateRow]) -> Vec<&str> {
        rows.iter().map(|r| r.name.as_str()).collect()
    }

    fn list() -> Vec<StoredUpdate> {
        vec![
            u("bash", None, "bookworm", 3),
            u("zlib1g", Some(Severity::Low), "bookworm-security", 9),
            u("openssl", Some(Severity::Critical), "bookworm-security", 1),
            u("curl", Some(Severity::Important), "bookworm-security", 5),
            u("apt", None, "bookworm-updates", 7),
        ]
    }

    #[test]
    fn security_updates_come_first_worst_first_and_the_rest_apart() {
        let now = SystemTime::now();
        let up = updates(&list(), "", "", "/hosts/h", now).unwrap();
        assert_eq!(names(&up.security), ["openssl", "curl", "zlib1g"]);
        assert_eq!(names(&up.others), ["apt", "bash"]);
        assert!(!up.open_others);
        assert_eq!(up.total, 5);
        let since = updates(&list(), "since", "", "/hosts/h", now).unwrap();
        assert_eq!(names(&since.security), ["zlib1g", "curl", "openssl"]);
        assert_eq!(names(&since.others), ["apt", "bash"]);
        let repo = updates(&list(), "repository", "", "/hosts/h", now).unwrap();
        assert_eq!(names(&repo.others), ["bash", "apt"]);
    }

    #[test]
    fn the_filter_takes_names_repositories_and_ids_and_opens_the_rest() {
        let now = SystemTime::now();
        let f = updates(&list(), "", "UPDATES", "/hosts/h?site=A", now).unwrap();
        assert!(f.security.is_empty());
        assert_eq!(names(&f.others), ["apt"]);
        assert!(f.open_others);
        let f = updates(&list(), "", "cve-2026-0001", "/hosts/h", now).unwrap();
        assert_eq!(names(&f.security), ["openssl"]);
        // The headings keep the filter and the site; "clear" drops the filter only.
        let f = updates(&list(), "since", "a b", "/hosts/h?site=A", now).unwrap();
        assert_eq!(
            f.headings[1].href,
            "/hosts/h?site=A&usort=package&uq=a%20b#updates"
        );
        assert_eq!(f.headings[0].href, "/hosts/h?site=A&uq=a%20b#updates");
        assert_eq!(f.clear, "/hosts/h?site=A&usort=since#updates");
        assert!(updates(&list(), "nope", "", "/hosts/h", now).is_err());
    }
}
