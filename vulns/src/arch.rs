//! Arch Linux's security tracker (`security.archlinux.org/json`): a JSON
//! array of vulnerability groups (AVG), each naming the binary packages it
//! concerns (`packages`, pacman's package names), a `status`, a `severity`,
//! the version known `affected`, the version that `fixed` it (or null), the
//! CVEs it groups (`issues`) and the advisories that announced the fix
//! (`advisories`, `ASA-…`). Arch is one rolling release: every record is of
//! the release `arch`, compared in pacman's order.
//!
//! How it reads (the way `arch-audit` judges a host, made exact):
//!
//! | tracker | status |
//! | --- | --- |
//! | `Not affected` | not affected |
//! | a `fixed` version (`Fixed`; `Testing`: the fix is in `[testing]` only, installable where the host takes testing) | fixed in it |
//! | `Vulnerable`, no `fixed` | unfixed |
//! | `Unknown`, no `fixed` | undetermined |
//!
//! `severity`: `Critical` → critical, `High` → important, `Medium` → moderate,
//! `Low` → low, anything else → unknown. One record per CVE and package;
//! an issue that is not a CVE id keeps its own id.

use std::io::Read;

use serde::Deserialize;

use pakiti_report::Severity;

use crate::{FeedError, Record, Status};

/// The release every Arch record is of.
pub const RELEASE: &str = "arch";

#[derive(Deserialize)]
struct Group {
    name: String,
    packages: Vec<String>,
    status: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    fixed: Option<String>,
    #[serde(default)]
    issues: Vec<String>,
    #[serde(default)]
    advisories: Vec<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// The five severities from the tracker's.
pub fn severity(s: Option<&str>) -> Severity {
    match s {
        Some("Critical") => Severity::Critical,
        Some("High") => Severity::Important,
        Some("Medium") => Severity::Moderate,
        Some("Low") => Severity::Low,
        _ => Severity::Unknown,
    }
}

fn status(g: &Group) -> Result<Status, String> {
    let fixed = g.fixed.as_deref().filter(|v| !v.trim().is_empty());
    Ok(match (g.status.as_str(), fixed) {
        ("Not affected", _) => Status::NotAffected,
        (_, Some(v)) => Status::Fixed(v.to_string()),
        ("Vulnerable", None) => Status::Unfixed,
        ("Unknown", None) => Status::Undetermined,
        ("Fixed" | "Testing", None) => {
            return Err(format!(
                "{}: status {:?} names no fixed version",
                g.name, g.status
            ))
        }
        (other, None) => return Err(format!("{}: unknown status {other:?}", g.name)),
    })
}

/// Reads the whole array, giving each record to `each`; returns how many.
/// A group that cannot be read fails the feed, naming the group.
pub fn read(reader: impl Read, mut each: impl FnMut(Record)) -> Result<usize, FeedError> {
    let groups: Vec<Group> = serde_json::from_reader(std::io::BufReader::new(reader))?;
    let mut n = 0;
    for g in groups {
        if !g.name.starts_with("AVG-") {
            return Err(FeedError::Invalid(format!(
                "{:?} is not a vulnerability group (AVG-…)",
                g.name
            )));
        }
        let status = status(&g).map_err(FeedError::Invalid)?;
        if g.packages.is_empty() {
            return Err(FeedError::Invalid(format!("{}: no package", g.name)));
        }
        // A group with no issue yet is still a vulnerability: its own id.
        let ids: Vec<&str> = if g.issues.is_empty() {
            vec![g.name.as_str()]
        } else {
            g.issues.iter().map(String::as_str).collect()
        };
        let advisory = g.advisories.first().cloned();
        for package in &g.packages {
            for id in &ids {
                each(Record {
                    id: id.to_string(),
                    source_package: package.clone(),
                    release: RELEASE.to_string(),
                    status: status.clone(),
                    vendor_severity: g.severity.clone(),
                    severity: severity(g.severity.as_deref()),
                    description: Some(match &g.kind {
                        Some(k) => format!("{} ({k})", g.name),
                        None => g.name.clone(),
                    }),
                    advisory: advisory.clone(),
                });
                n += 1;
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(json: &str) -> Result<Vec<Record>, FeedError> {
        let mut out = Vec::new();
        read(json.as_bytes(), |r| out.push(r))?;
        Ok(out)
    }

    #[test]
    fn every_status_reads_as_the_table_says() {
        let json = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/arch/security.json"
        ))
        .unwrap();
        let records = all(&json).unwrap();
        let find = |pkg: &str, id: &str| {
            records
                .iter()
                .find(|r| r.source_package == pkg && r.id == id)
                .unwrap_or_else(|| panic!("{pkg} {id}"))
                .clone()
        };
        let r = find("openssl", "CVE-2026-10001");
        assert_eq!(r.status, Status::Fixed("3.4.1-1".into()));
        assert_eq!(r.severity, Severity::Important);
        assert_eq!(r.release, "arch");
        assert_eq!(r.advisory.as_deref(), Some("ASA-202602-1"));
        // One group, two packages and two CVEs: four records.
        assert_eq!(
            find("lib32-openssl", "CVE-2026-10002").status,
            Status::Fixed("3.4.1-1".into())
        );
        assert_eq!(
            find("exiv2", "CVE-2026-10009").status,
            Status::Fixed("1:0.28.5-1".into())
        );
        assert_eq!(
            find("openssl", "CVE-2026-10002").severity,
            Severity::Important
        );
        assert_eq!(find("vim", "CVE-2026-10003").status, Status::Unfixed);
        assert_eq!(find("vim", "CVE-2026-10003").severity, Severity::Moderate);
        assert_eq!(
            find("curl", "CVE-2026-10004").status,
            Status::Fixed("8.12.1-2".into())
        );
        assert_eq!(find("bash", "CVE-2026-10005").status, Status::NotAffected);
        assert_eq!(find("zsh", "AVG-2906").status, Status::Undetermined);
        assert_eq!(find("linux", "CVE-2026-10007").severity, Severity::Critical);
        assert_eq!(find("sudo", "CVE-2026-10008").severity, Severity::Low);
        assert_eq!(records.len(), 11);
    }

    #[test]
    fn what_cannot_be_read_fails_the_feed_naming_the_group() {
        for (json, words) in [
            (
                r#"[{"name":"AVG-1","packages":["a"],"status":"Fixed","fixed":null}]"#,
                "AVG-1: status \"Fixed\" names no fixed version",
            ),
            (
                r#"[{"name":"AVG-2","packages":["a"],"status":"Maybe"}]"#,
                "AVG-2: unknown status \"Maybe\"",
            ),
            (
                r#"[{"name":"AVG-3","packages":[],"status":"Vulnerable"}]"#,
                "AVG-3: no package",
            ),
            (
                r#"[{"name":"CVE-1","packages":["a"],"status":"Vulnerable"}]"#,
                "not a vulnerability group",
            ),
            (r#"{"name":"AVG-4"}"#, "not JSON of the expected shape"),
        ] {
            let err = all(json).unwrap_err().to_string();
            assert!(err.contains(words), "{json}: {err}");
        }
    }

    #[test]
    fn an_arch_host_is_matched_by_package_name_in_pacmans_order() {
        use crate::{match_host, HostPackages, Index, KernelRole};
        use pakiti_report::{Installed, RunningKernel};
        use std::collections::HashMap;
        let json = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/arch/security.json"
        ))
        .unwrap();
        let index = Index::new(all(&json).unwrap());
        // pacman records the base as the source: Arch's tracker names packages.
        let pkg = |name: &str, version: &str, base: &str| Installed {
            source_name: base.into(),
            ..Installed::new(name, version, "x86_64")
        };
        let installed = vec![
            pkg("openssl", "3.4.0-3", "openssl"),
            pkg("lib32-openssl", "1:3.4.1-1", "lib32-openssl"),
            pkg("vim", "9.1.1000-1", "vim"),
            // Split from the same base as vim, and not named by the group:
            // the tracker names packages, not bases.
            pkg("gvim", "9.1.1000-1", "vim"),
            pkg("curl", "8.12.1-1", "curl"),
            pkg("bash", "5.2.037-1", "bash"),
            pkg("zsh", "5.9-5", "zsh"),
            pkg("sudo", "1.9.16.p2-1", "sudo"),
            // No epoch is below any epoch: 0.29 is older than 1:0.28.5.
            pkg("exiv2", "0.29.0-1", "exiv2"),
            pkg("linux", "6.13.1.arch1-1", "linux"),
            pkg("linux-lts", "6.6.70-1", "linux-lts"),
        ];
        let candidates: HashMap<(String, String), String> = [
            (
                ("openssl".to_string(), "x86_64".to_string()),
                "3.4.1-1".to_string(),
            ),
            // The fix is in [testing]; the host's candidate does not reach it.
            (
                ("curl".to_string(), "x86_64".to_string()),
                "8.12.1-1".to_string(),
            ),
        ]
        .into();
        let running = RunningKernel {
            package: "linux-lts".into(),
            version: "6.6.70-1".into(),
        };
        let releases = vec![RELEASE.to_string()];
        let found = match_host(
            &HostPackages {
                scheme: pakiti_versions::Scheme::Alpm,
                releases: &releases,
                installed: &installed,
                candidates: &candidates,
                running_kernel: Some(&running),
            },
            index,
        );
        let mut got: Vec<(&str, &str, &str, bool, KernelRole)> = found
            .iter()
            .map(|f| {
                (
                    f.package.as_str(),
                    f.id.as_str(),
                    f.status.as_str(),
                    f.fix_available,
                    f.kernel,
                )
            })
            .collect();
        got.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let nk = KernelRole::NotKernel;
        assert_eq!(
            got,
            [
                ("curl", "CVE-2026-10004", "fixed", false, nk),
                ("exiv2", "CVE-2026-10009", "fixed", false, nk),
                (
                    "linux",
                    "CVE-2026-10007",
                    "fixed",
                    false,
                    KernelRole::NotRunning
                ),
                ("openssl", "CVE-2026-10001", "fixed", true, nk),
                ("openssl", "CVE-2026-10002", "fixed", true, nk),
                ("vim", "CVE-2026-10003", "unfixed", false, nk),
                ("zsh", "AVG-2906", "undetermined", false, nk),
            ]
        );
    }
}
