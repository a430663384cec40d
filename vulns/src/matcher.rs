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
    /// The releases whose records apply, in order (Debian: the codename,
    /// then `debian:12` of the OSV advisories; Ubuntu: `ubuntu-pro:22.04`,
    /// whose fixes reach hosts with ESM sources, then `ubuntu:22.04`): a
    /// vulnerability of a source package is decided by the first release
    /// that has a record of it, and not taken again from a later one.
    pub releases: &'a [String],
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
    /// The advisory that fixed it (`DSA-5678-1`), where the feed says.
    pub advisory: Option<String>,
    pub kernel: KernelRole,
}

/// Records by release and source package, for matching many hosts. Filled
/// at once ([`Index::new`]) or a source package at a time as hosts need
/// them ([`Index::add`], [`Index::missing`]).
#[derive(Default)]
pub struct Index {
    /// release → source package → its records (looked up by `&str`, no
    /// allocation per package matched).
    by_source: foldhash::HashMap<String, foldhash::HashMap<String, Vec<Record>>>,
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

/// Whether a package is a kernel: Debian's and Ubuntu's images
/// (`linux-image-<version>…`), the RPM family's packages built from the
/// source `kernel` (`kernel-core`, `kernel-modules`, … of each installed
/// version).
fn is_kernel(scheme: Scheme, p: &Installed) -> bool {
    match scheme {
        Scheme::Rpm => p.source_name == "kernel",
        Scheme::Alpm => ARCH_KERNELS.contains(&p.name.as_str()),
        _ => is_kernel_image(&p.name),
    }
}

/// Arch's kernels: one package per flavour, one version of each installed.
const ARCH_KERNELS: [&str; 6] = [
    "linux",
    "linux-lts",
    "linux-zen",
    "linux-hardened",
    "linux-rt",
    "linux-rt-lts",
];

/// Whether `p`, a kernel, is the running one: the image of that name
/// (Debian), every package of the running version (RPM).
fn is_running(scheme: Scheme, p: &Installed, k: &RunningKernel) -> bool {
    match scheme {
        Scheme::Rpm => p.version == k.version,
        _ => p.name == k.package,
    }
}

/// The package name and version a package is tracked under: the source
/// package and its version, where the vendor tracks sources (Debian,
/// Ubuntu, Alpine's origins); the binary package and its `epoch:version-release`
/// in the RPM family, whose advisories list binary packages, and on Arch,
/// whose tracker names pacman's packages. Debian's
/// kernel images are the source `linux` at their own version (signed
/// images come from `linux-signed-*`, whose versions differ).
pub fn tracked_as(scheme: Scheme, p: &Installed) -> (&str, &str) {
    match scheme {
        Scheme::Rpm | Scheme::Alpm => (&p.name, &p.version),
        _ if is_kernel_image(&p.name) || p.source_name.starts_with("linux-signed-") => {
            ("linux", &p.version)
        }
        _ => (&p.source_name, &p.source_version),
    }
}

/// The order of statuses when several records of one release name the same
/// vulnerability and none is fixed: the vendor's most specific word wins.
fn rank(s: &Status) -> u8 {
    match s {
        Status::NotAffected => 0,
        Status::Fixed(_) => 1,
        Status::EndOfLife => 2,
        Status::WontFix => 3,
        Status::Unfixed => 4,
        Status::Undetermined => 5,
    }
}

/// One record per vulnerability, from the records of one source package in
/// one release, where several name the same one (advisories that share a
/// CVE, a VEX feed that says "won't fix" where OSV says "unfixed"): not
/// affected wins, then the lowest fixed version (a later advisory of the
/// same CVE is a regression update), then end of life, won't fix, unfixed,
/// undetermined. Its severity is the worst the records give (a VEX record
/// has none of its own). In the order the ids first appear.
pub fn decide(scheme: Scheme, records: &[Record]) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::with_capacity(records.len());
    let mut at: HashMap<&str, usize> = HashMap::new();
    for r in records {
        let Some(&i) = at.get(r.id.as_str()) else {
            at.insert(&r.id, out.len());
            out.push(r.clone());
            continue;
        };
        let old = &mut out[i];
        let wins = match (&r.status, &old.status) {
            (Status::Fixed(a), Status::Fixed(b)) => pakiti_versions::compare(scheme, a, b).is_lt(),
            (a, b) => rank(a) < rank(b),
        };
        let (severity, vendor) = if old.severity == Severity::Unknown {
            (r.severity, r.vendor_severity.clone())
        } else if r.severity == Severity::Unknown {
            (old.severity, old.vendor_severity.clone())
        } else if worst([r.severity, old.severity]) == r.severity {
            (r.severity, r.vendor_severity.clone())
        } else {
            (old.severity, old.vendor_severity.clone())
        };
        if wins {
            let description = old.description.take();
            *old = r.clone();
            old.description = old.description.take().or(description);
        }
        old.severity = severity;
        old.vendor_severity = vendor;
    }
    out
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
    /// release → source → its records decided one per vulnerability
    /// ([`decide`]), made when a host first needs them.
    decided: foldhash::HashMap<String, foldhash::HashMap<String, Vec<Record>>>,
    /// release → source → version → the positions in `decided` of the
    /// records that version is affected by.
    memo:
        foldhash::HashMap<String, foldhash::HashMap<String, foldhash::HashMap<String, Vec<usize>>>>,
    /// How many distinct (release, source, version) the memo holds.
    distinct: usize,
}

impl Matcher {
    pub fn new(index: Index) -> Matcher {
        Matcher {
            index,
            decided: Default::default(),
            memo: Default::default(),
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

    fn decided(&mut self, scheme: Scheme, release: &str, source: &str) -> &[Record] {
        let known = self
            .decided
            .get(release)
            .is_some_and(|m| m.contains_key(source));
        if !known {
            let one = decide(scheme, self.index.of(release, source));
            self.decided
                .entry(release.to_string())
                .or_default()
                .insert(source.to_string(), one);
        }
        self.decided
            .get(release)
            .and_then(|m| m.get(source))
            .map_or(&[], Vec::as_slice)
    }

    /// Makes sure the memo holds which of `source`'s records (decided in
    /// `release`) `version` is affected by.
    fn remember(&mut self, scheme: Scheme, release: &str, source: &str, version: &str) {
        if self
            .memo
            .get(release)
            .and_then(|m| m.get(source))
            .is_some_and(|m| m.contains_key(version))
        {
            return;
        }
        let hits: Vec<usize> = self
            .decided(scheme, release, source)
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

    /// The records of `source` in `release` and which of them `version` is
    /// affected by, as [`Matcher::remember`] left them.
    fn remembered(&self, release: &str, source: &str, version: &str) -> (&[Record], &[usize]) {
        let records = self
            .decided
            .get(release)
            .and_then(|m| m.get(source))
            .map_or(&[][..], Vec::as_slice);
        let hits = self
            .memo
            .get(release)
            .and_then(|m| m.get(source))
            .and_then(|m| m.get(version))
            .map_or(&[][..], Vec::as_slice);
        (records, hits)
    }

    /// Every finding of the host, in the order of its packages, then of its
    /// releases and their records.
    pub fn match_host(&mut self, host: &HostPackages<'_>) -> Vec<Finding> {
        // First every (key, release) the host's packages meet is compared
        // (once per distinct version in the matcher's life), then the
        // findings are built from what was remembered, borrowed.
        let keys: Vec<Vec<(String, &str)>> = host
            .installed
            .iter()
            .map(|p| tracked_keys(host.scheme, p))
            .collect();
        for (source, version) in keys.iter().flatten() {
            for release in host.releases {
                if !self.index.of(release, source).is_empty() {
                    self.remember(host.scheme, release, source, version);
                }
            }
        }
        let candidates: foldhash::HashMap<(&str, &str), &str> = host
            .candidates
            .iter()
            .map(|((n, a), c)| ((n.as_str(), a.as_str()), c.as_str()))
            .collect();
        let mut out = Vec::new();
        // The vulnerabilities an earlier release (or key) decided.
        let mut decided_before: foldhash::HashSet<&str> = Default::default();
        for (p, keys) in host.installed.iter().zip(&keys) {
            let kernel = if !is_kernel(host.scheme, p) {
                KernelRole::NotKernel
            } else if host
                .running_kernel
                .is_some_and(|k| is_running(host.scheme, p, k))
            {
                KernelRole::Running
            } else {
                KernelRole::NotRunning
            };
            let candidate = candidates.get(&(p.name.as_str(), p.arch.as_str())).copied();
            decided_before.clear();
            let pairs: Vec<(&str, &str, &String)> = keys
                .iter()
                .flat_map(|(source, version)| {
                    host.releases
                        .iter()
                        .filter(|r| !self.index.of(r, source).is_empty())
                        .map(move |r| (source.as_str(), *version, r))
                })
                .collect();
            for (n, &(source, source_version, release)) in pairs.iter().enumerate() {
                let (records, hits) = self.remembered(release, source, source_version);
                for &i in hits {
                    let r = &records[i];
                    if decided_before.contains(r.id.as_str()) {
                        continue;
                    }
                    let fixed = match &r.status {
                        Status::Fixed(v) => Some(v.clone()),
                        _ => None,
                    };
                    // A source RPM's fix is installable when the
                    // package's candidate is of that source version or
                    // later (its binaries share the source's version).
                    let fix_available = fixed.as_deref().is_some_and(|v| {
                        candidate
                            .is_some_and(|c| !pakiti_versions::compare(host.scheme, c, v).is_lt())
                    });
                    out.push(Finding {
                        id: r.id.clone(),
                        package: p.name.clone(),
                        arch: p.arch.clone(),
                        installed_version: p.version.clone(),
                        source_package: source
                            .strip_prefix(crate::csaf::SRPM)
                            .unwrap_or(source)
                            .to_string(),
                        source_version: source_version.to_string(),
                        status: r.status.clone(),
                        fixed_version: fixed,
                        fix_available,
                        severity: r.severity,
                        vendor_severity: r.vendor_severity.clone(),
                        advisory: r.advisory.clone(),
                        kernel,
                    });
                }
                // Only a later pair needs to know what this one decided.
                if n + 1 < pairs.len() {
                    decided_before.extend(records.iter().map(|r| r.id.as_str()));
                }
            }
        }
        out
    }
}

/// Every key a package is tracked under, most specific first: in the RPM
/// family its binary name, then its source RPM's (`srpm:NAME`, at the
/// source's version), which Red Hat's VEX names; a module stream's package
/// under its stream alone (`nodejs:18/nodejs`, `srpm:nodejs:18/nodejs`), so
/// that another stream's records never reach it; elsewhere [`tracked_as`]
/// alone.
pub fn tracked_keys(scheme: Scheme, p: &Installed) -> Vec<(String, &str)> {
    if let (Scheme::Rpm, Some(stream)) = (scheme, p.module.as_deref().and_then(module_stream)) {
        return vec![
            (format!("{stream}/{}", p.name), p.version.as_str()),
            (
                format!("{}{stream}/{}", crate::csaf::SRPM, p.source_name),
                p.source_version.as_str(),
            ),
        ];
    }
    let (key, version) = tracked_as(scheme, p);
    let mut keys = vec![(key.to_string(), version)];
    if scheme == Scheme::Rpm && !p.source_name.is_empty() {
        keys.push((
            format!("{}{}", crate::csaf::SRPM, p.source_name),
            p.source_version.as_str(),
        ));
    }
    keys
}

/// `name:stream` of a module label (`nodejs:18:9030020231120082734:rhel9`,
/// rpm's MODULARITYLABEL; `nodejs:18` alone).
pub fn module_stream(label: &str) -> Option<String> {
    let mut parts = label.split(':');
    let (name, stream) = (parts.next()?, parts.next()?);
    (!name.is_empty() && !stream.is_empty()).then(|| format!("{name}:{stream}"))
}

/// The records a pending update fixes: those fixed in a version its
/// candidate reaches and its installed version does not.
pub fn fixed_by(
    scheme: Scheme,
    records: &[Record],
    installed: &str,
    candidate: &str,
) -> Vec<Record> {
    decide(scheme, records)
        .into_iter()
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
        let releases = ["bookworm".to_string()];
        let host = HostPackages {
            scheme: Scheme::Dpkg,
            releases: &releases,
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
        let ids = |v: Vec<Record>| v.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
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
        let releases = ["bookworm".to_string()];
        let host = |kernel| HostPackages {
            scheme: Scheme::Dpkg,
            releases: &releases,
            installed: &installed,
            candidates: &candidates,
            running_kernel: kernel,
        };
        // Records added as hosts need them, a source package at a time.
        let mut shared = Matcher::new(Index::default());
        let sources: Vec<String> = installed
            .iter()
            .map(|p| tracked_as(Scheme::Dpkg, p).0.to_string())
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
        let distinct: std::collections::HashSet<(&str, &str)> = installed
            .iter()
            .map(|p| tracked_as(Scheme::Dpkg, p))
            .collect();
        let with_records = distinct
            .iter()
            .filter(|(s, _)| !shared.index().of("bookworm", s).is_empty())
            .count();
        assert_eq!(shared.distinct_versions(), with_records);
    }

    fn lines(findings: &[Finding]) -> Vec<String> {
        findings
            .iter()
            .map(|f| {
                format!(
                    "{} {} {} {:?} {} {:?} {:?}",
                    f.package,
                    f.id,
                    f.status.as_str(),
                    f.fixed_version,
                    f.severity.as_str(),
                    f.advisory,
                    f.kernel
                )
            })
            .collect()
    }

    #[test]
    fn the_first_release_with_a_record_of_a_vulnerability_decides_it() {
        use crate::testing::osv_records;
        // Debian: the tracker first, then the OSV advisories of Debian 12.
        let mut records = tracker_records();
        records.extend(osv_records("osv"));
        let installed = vec![
            crate::testing::pkg("libssl3", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2"),
            crate::testing::pkg("libc6", "2.36-9+deb12u4", "glibc", "2.36-9+deb12u4"),
        ];
        let candidates = HashMap::new();
        let releases = ["bookworm".to_string(), "debian:12".to_string()];
        let host = HostPackages {
            scheme: Scheme::Dpkg,
            releases: &releases,
            installed: &installed,
            candidates: &candidates,
            running_kernel: None,
        };
        assert_eq!(
            lines(&match_host(&host, Index::new(records))),
            [
                // The tracker's record of CVE-2024-5535; DSA-9001-1's is not taken again.
                "libssl3 CVE-2024-5535 fixed Some(\"3.0.15-1~deb12u1\") low None NotKernel",
                // Named again by the regression advisory DSA-9001-2: the first fix counts.
                "libssl3 CVE-2024-9011 fixed Some(\"3.0.15-1~deb12u1\") unknown Some(\"DSA-9001-1\") NotKernel",
                "libc6 TEMP-0000000-4F1B2C unfixed None low None NotKernel",
                "libc6 CVE-2024-9013 unfixed None moderate None NotKernel",
            ]
        );
        // At the first fix, the regression advisory finds nothing more.
        let fixed = vec![crate::testing::pkg(
            "libssl3",
            "3.0.15-1~deb12u1",
            "openssl",
            "3.0.15-1~deb12u1",
        )];
        let host = HostPackages {
            installed: &fixed,
            ..host
        };
        assert!(match_host(&host, Index::new(osv_records("osv"))).is_empty());
    }

    #[test]
    fn a_fix_of_ubuntu_pro_that_is_installed_is_not_reopened_by_the_standard_archive() {
        let records = crate::testing::osv_records("ubuntu-osv");
        let releases = ["ubuntu-pro:22.04".to_string(), "ubuntu:22.04".to_string()];
        let candidates = HashMap::new();
        let vim = |v: &str| vec![crate::testing::pkg("vim", v, "vim", v)];
        let at = |installed: &[Installed]| {
            let host = HostPackages {
                scheme: Scheme::Dpkg,
                releases: &releases,
                installed,
                candidates: &candidates,
                running_kernel: None,
            };
            lines(&match_host(&host, Index::new(records.clone())))
        };
        // Unfixed in the archive, fixed in Pro: Pro's record decides.
        assert_eq!(
            at(&vim("2:8.2.3995-1ubuntu2.16")),
            ["vim CVE-2024-9003 fixed Some(\"2:8.2.3995-1ubuntu2.17+esm1\") important None NotKernel"]
        );
        assert!(at(&vim("2:8.2.3995-1ubuntu2.17+esm1")).is_empty());
    }

    #[test]
    fn rpm_hosts_match_binary_packages_and_count_the_running_kernel_only() {
        let installed = vec![
            pakiti_report::Installed {
                source_name: "openssl".into(),
                source_version: "3.0.7-27.el9".into(),
                ..Installed::new("openssl-libs", "1:3.0.7-27.el9", "x86_64")
            },
            pakiti_report::Installed {
                source_name: "kernel".into(),
                source_version: "5.14.0-427.13.1.el9_4".into(),
                ..Installed::new("kernel-core", "5.14.0-427.13.1.el9_4", "x86_64")
            },
            pakiti_report::Installed {
                source_name: "kernel".into(),
                source_version: "5.14.0-427.31.1.el9_4".into(),
                ..Installed::new("kernel-core", "5.14.0-427.31.1.el9_4", "x86_64")
            },
        ];
        let kernel = RunningKernel {
            package: "kernel-core".into(),
            version: "5.14.0-427.31.1.el9_4".into(),
        };
        let candidates = HashMap::from([(
            ("openssl-libs".to_string(), "x86_64".to_string()),
            "1:3.0.7-28.el9_4".to_string(),
        )]);
        let releases = ["almalinux:9".to_string()];
        let host = HostPackages {
            scheme: Scheme::Rpm,
            releases: &releases,
            installed: &installed,
            candidates: &candidates,
            running_kernel: Some(&kernel),
        };
        let got = match_host(&host, Index::new(crate::testing::osv_records("osv")));
        assert_eq!(
            lines(&got),
            [
                "openssl-libs CVE-2024-9031 fixed Some(\"1:3.0.7-28.el9_4\") important Some(\"ALSA-2024:9031\") NotKernel",
                "openssl-libs CVE-2024-9032 fixed Some(\"1:3.0.7-28.el9_4\") important Some(\"ALSA-2024:9031\") NotKernel",
                "kernel-core CVE-2024-9033 fixed Some(\"5.14.0-427.35.1.el9_4\") important Some(\"ALSA-2024:9033\") NotRunning",
                "kernel-core CVE-2024-9033 fixed Some(\"5.14.0-427.35.1.el9_4\") important Some(\"ALSA-2024:9033\") Running",
            ]
        );
        assert!(got[0].fix_available, "the candidate reaches the fix");
    }

    #[test]
    fn records_of_one_vulnerability_are_decided_as_one() {
        let r = |status: Status, severity: Severity| Record {
            id: "CVE-1".into(),
            source_package: "p".into(),
            release: "ubuntu:22.04".into(),
            status,
            vendor_severity: None,
            severity,
            description: None,
            advisory: None,
        };
        let one = |records: Vec<Record>| {
            let d = decide(Scheme::Dpkg, &records);
            assert_eq!(d.len(), 1);
            (d[0].status.clone(), d[0].severity)
        };
        // A VEX "won't fix" over OSV's "unfixed", keeping OSV's rating.
        assert_eq!(
            one(vec![
                r(Status::Unfixed, Severity::Moderate),
                r(Status::WontFix, Severity::Unknown)
            ]),
            (Status::WontFix, Severity::Moderate)
        );
        assert_eq!(
            one(vec![
                r(Status::EndOfLife, Severity::Unknown),
                r(Status::Unfixed, Severity::Low)
            ]),
            (Status::EndOfLife, Severity::Low)
        );
        // A fix wins over "won't fix"; the lowest fix over a later one.
        assert_eq!(
            one(vec![
                r(Status::WontFix, Severity::Unknown),
                r(Status::Fixed("1.10".into()), Severity::Low)
            ]),
            (Status::Fixed("1.10".into()), Severity::Low)
        );
        assert_eq!(
            one(vec![
                r(Status::Fixed("1.10".into()), Severity::Low),
                r(Status::Fixed("1.9".into()), Severity::Important)
            ]),
            (Status::Fixed("1.9".into()), Severity::Important)
        );
        assert_eq!(
            one(vec![
                r(Status::Fixed("1.9".into()), Severity::Low),
                r(Status::NotAffected, Severity::Unknown)
            ])
            .0,
            Status::NotAffected
        );
    }
}
