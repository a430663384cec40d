//! Exact matching: a host's installed packages against the records of its
//! release. A binary package is matched through its *source* package and
//! source version (that is what vendors track), in the distribution's own
//! version order:
//!
//! - fixed in V: affected while the source version is below V; the fix is
//!   available now when the host's own candidate for that binary package
//!   (its pending update) reaches V;
//! - unfixed, won't fix, end of life, undetermined: affected, no fix
//!   available;
//! - not affected: nothing.
//!
//! Kernels: a kernel image (`linux-image-<version>…`) is matched as the
//! source `linux` at its own version (Debian's signed images come from
//! `linux-signed-*`, whose versions differ), and only the running kernel's
//! findings count; the other installed images' are listed apart
//! ([`KernelRole::NotRunning`]).

use std::collections::HashMap;

use pakiti_report::{Installed, RunningKernel, Severity};
use pakiti_versions::Scheme;

use crate::{Record, Status};

/// What the host gives matching.
pub struct HostPackages<'a> {
    pub scheme: Scheme,
    /// The release its records are for (Debian: the codename; Ubuntu:
    /// `ubuntu:22.04`).
    pub release: &'a str,
    /// Records looked up first, before the release's own (Ubuntu Pro's,
    /// `ubuntu-pro:22.04`, whose fixes reach hosts with ESM sources): a
    /// vulnerability found there is not taken again from `release`.
    pub first: Option<&'a str>,
    pub installed: &'a [Installed],
    /// Pending updates: (name, arch) → candidate version.
    pub candidates: &'a HashMap<(String, String), String>,
    pub running_kernel: Option<&'a RunningKernel>,
}

/// Whether a finding is about a kernel image, and the running one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelRole {
    NotKernel,
    Running,
    /// Installed, not running: listed apart, not counted.
    NotRunning,
}

/// One vulnerability of one installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub id: String,
    pub package: String,
    pub arch: String,
    pub installed_version: String,
    pub source_package: String,
    pub source_version: String,
    pub status: Status,
    pub fixed_version: Option<String>,
    pub fix_available: bool,
    pub severity: Severity,
    pub vendor_severity: Option<String>,
    pub kernel: KernelRole,
}

/// Records by release and source package, for matching many hosts. Filled
/// at once ([`Index::new`]) or a source package at a time as hosts need
/// them ([`Index::add`], [`Index::missing`]).
#[derive(Default)]
pub struct Index {
    /// release → source package → its records (looked up by `&str`, no
    /// allocation per package matched).
    by_source: HashMap<String, HashMap<String, Vec<Record>>>,
}

impl Index {
    pub fn new(records: impl IntoIterator<Item = Record>) -> Index {
        let mut index = Index::default();
        index.extend(records);
        index
    }

    fn extend(&mut self, records: impl IntoIterator<Item = Record>) {
        for r in records {
            self.by_source
                .entry(r.release.clone())
                .or_default()
                .entry(r.source_package.clone())
                .or_default()
                .push(r);
        }
    }

    /// Adds the records of these source packages of `release` (all of
    /// them: a source without records is remembered as having none).
    pub fn add(&mut self, release: &str, sources: &[String], records: Vec<Record>) {
        let of = self.by_source.entry(release.to_string()).or_default();
        for s in sources {
            of.entry(s.clone()).or_default();
        }
        self.extend(records);
    }

    /// Which of `sources` of `release` were never added.
    pub fn missing(&self, release: &str, sources: &[String]) -> Vec<String> {
        let of = self.by_source.get(release);
        sources
            .iter()
            .filter(|s| !of.is_some_and(|m| m.contains_key(s.as_str())))
            .cloned()
            .collect()
    }

    pub fn of(&self, release: &str, source: &str) -> &[Record] {
        self.by_source
            .get(release)
            .and_then(|m| m.get(source))
            .map_or(&[], Vec::as_slice)
    }
}

fn is_kernel_image(name: &str) -> bool {
    name.strip_prefix("linux-image-")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// The source package and version a package is tracked under.
pub fn tracked_as(p: &Installed) -> (&str, &str) {
    if is_kernel_image(&p.name) || p.source_name.starts_with("linux-signed-") {
        ("linux", &p.version)
    } else {
        (&p.source_name, &p.source_version)
    }
}

/// Every finding of the host, in the order of its packages, then of the
/// records.
pub fn match_host(host: &HostPackages<'_>, index: Index) -> Vec<Finding> {
    Matcher::new(index).match_host(host)
}

/// Matching of many hosts against one index: each distinct (release,
/// source package, source version) is compared with its records once, and
/// the hosts that have it share the answer (a fleet runs few distinct
/// versions of each package; the kernel has thousands of records).
pub struct Matcher {
    index: Index,
    /// release → source → version → the positions in `index.of(release,
    /// source)` of the records that version is affected by.
    memo: HashMap<String, HashMap<String, HashMap<String, Vec<usize>>>>,
    /// How many distinct (release, source, version) the memo holds.
    distinct: usize,
}

impl Matcher {
    pub fn new(index: Index) -> Matcher {
        Matcher {
            index,
            memo: HashMap::new(),
            distinct: 0,
        }
    }

    /// The records, to add those of source packages a host needs.
    pub fn index_mut(&mut self) -> &mut Index {
        &mut self.index
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    /// How many distinct (release, source, version) were compared.
    pub fn distinct_versions(&self) -> usize {
        self.distinct
    }

    fn affected(&mut self, scheme: Scheme, release: &str, source: &str, version: &str) -> &[usize] {
        let known = self
            .memo
            .get(release)
            .and_then(|m| m.get(source))
            .is_some_and(|m| m.contains_key(version));
        if !known {
            let hits: Vec<usize> = self
                .index
                .of(release, source)
                .iter()
                .enumerate()
                .filter(|(_, r)| match &r.status {
                    Status::NotAffected => false,
                    Status::Fixed(v) => pakiti_versions::compare(scheme, version, v).is_lt(),
                    _ => true,
                })
                .map(|(i, _)| i)
                .collect();
            self.memo
                .entry(release.to_string())
                .or_default()
                .entry(source.to_string())
                .or_default()
                .insert(version.to_string(), hits);
            self.distinct += 1;
        }
        self.memo
            .get(release)
            .and_then(|m| m.get(source))
            .and_then(|m| m.get(version))
            .map_or(&[], Vec::as_slice)
    }

    /// Every finding of the host, in the order of its packages, then of the
    /// records (those of `first`, then the release's own).
    pub fn match_host(&mut self, host: &HostPackages<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for p in host.installed {
            let (source, source_version) = tracked_as(p);
            let kernel = if !is_kernel_image(&p.name) {
                KernelRole::NotKernel
            } else if host.running_kernel.is_some_and(|k| k.package == p.name) {
                KernelRole::Running
            } else {
                KernelRole::NotRunning
            };
            let candidate = host.candidates.get(&(p.name.clone(), p.arch.clone()));
            let from = out.len();
            for release in host.first.into_iter().chain([host.release]) {
                if self.index.of(release, source).is_empty() {
                    continue;
                }
                let affected = self
                    .affected(host.scheme, release, source, source_version)
                    .to_vec();
                for i in affected {
                    let r = &self.index.of(release, source)[i];
                    if out[from..].iter().any(|f: &Finding| f.id == r.id) {
                        continue;
                    }
                    let fixed = match &r.status {
                        Status::Fixed(v) => Some(v.clone()),
                        _ => None,
                    };
                    let fix_available = fixed.as_deref().is_some_and(|v| {
                        candidate
                            .is_some_and(|c| !pakiti_versions::compare(host.scheme, c, v).is_lt())
                    });
                    out.push(Finding {
                        id: r.id.clone(),
                        package: p.name.clone(),
                        arch: p.arch.clone(),
                        installed_version: p.version.clone(),
                        source_package: source.to_string(),
                        source_version: source_version.to_string(),
                        status: r.status.clone(),
                        fixed_version: fixed,
                        fix_available,
                        severity: r.severity,
                        vendor_severity: r.vendor_severity.clone(),
                        kernel,
                    });
                }
            }
        }
        out
    }
}

/// The records a pending update fixes: those fixed in a version its
/// candidate reaches and its installed version does not.
pub fn fixed_by<'r>(
    scheme: Scheme,
    records: &'r [Record],
    installed: &str,
    candidate: &str,
) -> Vec<&'r Record> {
    records
        .iter()
        .filter(|r| match &r.status {
            Status::Fixed(v) => {
                pakiti_versions::compare(scheme, installed, v).is_lt()
                    && !pakiti_versions::compare(scheme, candidate, v).is_lt()
            }
            _ => false,
        })
        .collect()
}

/// The most severe of `severities` (unknown when none is known).
pub fn worst(severities: impl IntoIterator<Item = Severity>) -> Severity {
    severities
        .into_iter()
        .min_by_key(|s| Severity::ALL.iter().position(|x| x == s))
        .unwrap_or(Severity::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::{bookworm_packages, tracker_records};

    fn index() -> Index {
        Index::new(tracker_records())
    }

    #[test]
    fn findings_follow_the_source_package_and_the_vendor_status() {
        let index = index();
        let installed = bookworm_packages();
        let candidates = HashMap::from([(
            ("libssl3".to_string(), "amd64".to_string()),
            "3.0.15-1~deb12u1".to_string(),
        )]);
        let kernel = RunningKernel {
            package: "linux-image-6.1.0-18-amd64".into(),
            version: "6.1.76-1".into(),
        };
        let host = HostPackages {
            scheme: Scheme::Dpkg,
            release: "bookworm",
            first: None,
            installed: &installed,
            candidates: &candidates,
            running_kernel: Some(&kernel),
        };
        let got: Vec<String> = match_host(&host, index)
            .iter()
            .map(|f| {
                format!(
                    "{} {} {} {:?} fix_available={} {:?}",
                    f.package,
                    f.id,
                    f.status.as_str(),
                    f.fixed_version,
                    f.fix_available,
                    f.kernel
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                // Both binaries of openssl; only libssl3's candidate reaches the fix.
                "libssl3 CVE-2024-5535 fixed Some(\"3.0.15-1~deb12u1\") fix_available=true NotKernel",
                "openssl CVE-2024-5535 fixed Some(\"3.0.15-1~deb12u1\") fix_available=false NotKernel",
                // The source version, not the binNMU's, is compared.
                "libgcrypt20 CVE-2024-2236 fixed Some(\"1.10.1-3+deb12u1\") fix_available=false NotKernel",
                // The epoch counts: 1:4.13+dfsg1-1 < 1:4.13+dfsg1-1+deb12u1.
                "passwd CVE-2023-4641 fixed Some(\"1:4.13+dfsg1-1+deb12u1\") fix_available=false NotKernel",
                "libc6 TEMP-0000000-4F1B2C unfixed None fix_available=false NotKernel",
                "curl CVE-2024-7264 undetermined None fix_available=false NotKernel",
                // Kernel images are the source linux at their own version;
                // 6.1.69 is below the fix of CVE-2024-1086, 6.1.76 is not.
                "linux-image-6.1.0-17-amd64 CVE-2024-1086 fixed Some(\"6.1.76-1\") fix_available=false NotRunning",
                "linux-image-6.1.0-17-amd64 CVE-2024-26581 unfixed None fix_available=false NotRunning",
                "linux-image-6.1.0-18-amd64 CVE-2024-26581 unfixed None fix_available=false Running",
            ]
        );
        // bash 5.2.15-2 is past the fix (5.2-1); xz-utils was never affected
        // in bookworm: neither appears.
    }

    #[test]
    fn an_update_fixes_what_its_candidate_reaches() {
        let index = index();
        let openssl = index.of("bookworm", "openssl");
        let ids = |v: Vec<&Record>| v.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(
            ids(fixed_by(
                Scheme::Dpkg,
                openssl,
                "3.0.11-1~deb12u2",
                "3.0.15-1~deb12u1"
            )),
            ["CVE-2024-5535"]
        );
        assert!(
            fixed_by(
                Scheme::Dpkg,
                openssl,
                "3.0.11-1~deb12u2",
                "3.0.14-1~deb12u1"
            )
            .is_empty(),
            "not reached"
        );
        assert!(
            fixed_by(Scheme::Dpkg, openssl, "3.0.15-1~deb12u1", "3.0.16-1").is_empty(),
            "already fixed"
        );
        let linux = index.of("bookworm", "linux");
        assert!(
            fixed_by(Scheme::Dpkg, linux, "6.1.69-1", "6.1.90-1")
                .iter()
                .all(|r| r.id == "CVE-2024-1086"),
            "unfixed ones are not fixed by it"
        );
        assert_eq!(
            worst([Severity::Low, Severity::Important, Severity::Unknown]),
            Severity::Important
        );
        assert_eq!(worst([]), Severity::Unknown);
    }

    #[test]
    fn one_matcher_for_many_hosts_answers_as_a_fresh_one_for_each() {
        let installed = bookworm_packages();
        let candidates = HashMap::new();
        let kernel = RunningKernel {
            package: "linux-image-6.1.0-17-amd64".into(),
            version: "6.1.69-1".into(),
        };
        let host = |kernel| HostPackages {
            scheme: Scheme::Dpkg,
            release: "bookworm",
            first: None,
            installed: &installed,
            candidates: &candidates,
            running_kernel: kernel,
        };
        // Records added as hosts need them, a source package at a time.
        let mut shared = Matcher::new(Index::default());
        let sources: Vec<String> = installed
            .iter()
            .map(|p| tracked_as(p).0.to_string())
            .collect();
        let missing = shared.index().missing("bookworm", &sources);
        assert!(!missing.is_empty());
        let records: Vec<Record> = tracker_records()
            .into_iter()
            .filter(|r| r.release == "bookworm" && missing.contains(&r.source_package))
            .collect();
        shared.index_mut().add("bookworm", &missing, records);
        assert!(shared.index().missing("bookworm", &sources).is_empty());
        for k in [Some(&kernel), None, Some(&kernel)] {
            assert_eq!(shared.match_host(&host(k)), match_host(&host(k), index()));
        }
        // Each distinct (release, source, version) compared once.
        let distinct: std::collections::HashSet<(&str, &str)> =
            installed.iter().map(tracked_as).collect();
        let with_records = distinct
            .iter()
            .filter(|(s, _)| !shared.index().of("bookworm", s).is_empty())
            .count();
        assert_eq!(shared.distinct_versions(), with_records);
    }
}
