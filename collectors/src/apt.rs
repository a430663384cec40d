//! apt (Debian, Ubuntu and derivatives).
//!
//! apt decides; we read. Three read-only calls, none of which takes apt's lock:
//! 1. `apt-cache policy` lists every package file with its Release fields
//!    (origin, label, archive, codename): this decides what is a security archive;
//! 2. `apt-cache policy PKG…` for every installed package gives apt's own
//!    candidate (pins, NotAutomatic, holds) and every available version with
//!    the package files that carry it;
//! 3. `apt-get upgrade --assume-no` computes what a plain upgrade would do:
//!    an upgradable package it would not upgrade is kept back, phased or held.
//!
//! The parsers below are pure functions over the text apt prints in the C locale.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use pakiti_report::{HeldReason, Inventory, Manager, Severity, Update};

pub use crate::apt_policy::{
    parse_policies, parse_sources, Policy, PolicyVersion, Release, SecurityPattern,
};
use crate::dpkg::{self, DpkgPackage};
use crate::esm;
use crate::exec;
use crate::reboot;
use crate::{CollectError, Collector, Context};
use pakiti_versions::dpkg::compare_versions;

/// What `apt-get upgrade` would do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpgradePlan {
    pub upgraded: HashSet<String>,
    pub kept_back: HashSet<String>,
    pub phasing: HashSet<String>,
}

/// Parses the lists `apt-get upgrade` prints before it asks. `None` when the
/// summary line (`N upgraded, N newly installed, …`) is missing, i.e. apt
/// stopped before it had computed the upgrade.
pub fn parse_upgrade(text: &str) -> Option<UpgradePlan> {
    let mut plan = UpgradePlan::default();
    let mut section: Option<&mut HashSet<String>> = None;
    let mut summary = false;
    for line in text.lines() {
        if let Some(names) = line.strip_prefix("  ") {
            if let Some(set) = section.as_deref_mut() {
                set.extend(names.split_whitespace().map(str::to_string));
            }
            continue;
        }
        section = None;
        if line.starts_with("The following packages will be upgraded:") {
            section = Some(&mut plan.upgraded);
        } else if line.starts_with("The following packages have been kept back:") {
            section = Some(&mut plan.kept_back);
        } else if line.starts_with("The following upgrades have been deferred due to phasing:") {
            section = Some(&mut plan.phasing);
        } else if line.contains(" upgraded, ") && line.contains(" newly installed") {
            summary = true;
        }
    }
    summary.then_some(plan)
}

/// The apt collector.
pub struct Apt {
    ctx: Context,
}

impl Apt {
    pub fn new(ctx: Context) -> Self {
        Apt { ctx }
    }

    fn root(&self, path: &str) -> PathBuf {
        self.ctx.rootfs.join(path.trim_start_matches('/'))
    }

    /// Options that point apt at the inspected tree and at our own binary cache.
    fn apt_options(&self) -> Vec<String> {
        self.options_for(&self.ctx.rootfs, self.ctx.rootfs != Path::new("/"))
    }

    /// Options for the apt tree at `root` (its own `Dir`, dpkg status and
    /// binary cache when `elsewhere`), with the inspected host's foreign
    /// architectures.
    fn options_for(&self, root: &Path, elsewhere: bool) -> Vec<String> {
        let mut opts = Vec::new();
        if elsewhere {
            opts.push(format!("-oDir={}/", root.display()));
            opts.push(format!(
                "-oDir::State::status={}",
                root.join("var/lib/dpkg/status").display()
            ));
            // apt asks the host's dpkg for foreign architectures; the tree's own
            // list lives in its dpkg database.
            if let Ok(archs) = fs::read_to_string(self.root("var/lib/dpkg/arch")) {
                let archs: Vec<&str> = archs.split_whitespace().collect();
                opts.extend(archs.iter().map(|a| format!("-oAPT::Architectures::={a}")));
            }
        }
        if let Some(dir) = self.cache_dir() {
            // apt keeps a binary cache of the package lists; where the system
            // has it disabled (containers), each apt call would rebuild it.
            let mut h = std::collections::hash_map::DefaultHasher::new();
            root.hash(&mut h);
            let tag = format!("{:016x}", h.finish());
            opts.push(format!(
                "-oDir::Cache::pkgcache={}",
                dir.join(format!("pkgcache-{tag}.bin")).display()
            ));
            opts.push(format!(
                "-oDir::Cache::srcpkgcache={}",
                dir.join(format!("srcpkgcache-{tag}.bin")).display()
            ));
        }
        opts
    }

    fn cache_dir(&self) -> Option<PathBuf> {
        let dir = self.ctx.cache_dir.as_ref()?;
        match fs::create_dir_all(dir) {
            Ok(()) => Some(dir.clone()),
            Err(e) => {
                tracing::debug!(dir = %dir.display(), error = %e, "no apt cache directory; apt rebuilds its cache on each call");
                None
            }
        }
    }

    /// `apt-cache policy [--] PKG…`: the names are operands, never options.
    fn apt_cache(&self, names: &[String]) -> Result<String, CollectError> {
        self.policy_with(self.apt_options(), names)
    }

    fn policy_with(&self, mut all: Vec<String>, names: &[String]) -> Result<String, CollectError> {
        all.push("policy".into());
        if !names.is_empty() {
            all.push("--".into());
            all.extend_from_slice(names);
        }
        Ok(exec::run_ok("apt-cache", &all, self.ctx.timeout)?.stdout)
    }

    fn upgrade_plan(&self) -> Result<UpgradePlan, CollectError> {
        let mut args = self.apt_options();
        // Compute the upgrade and stop at the prompt: never lock, never ask,
        // never proceed, whatever the host's apt configuration says.
        args.extend(
            [
                "-oDebug::NoLocking=true",
                "-oAPT::Get::Assume-No=true",
                "-oAPT::Get::Assume-Yes=false",
                "-oAPT::Get::Trivial-Only=false",
                "-oAPT::Get::Download-Only=false",
                "-oquiet=0",
                "upgrade",
            ]
            .map(String::from),
        );
        let out = exec::run("apt-get", &args, self.ctx.timeout)?;
        parse_upgrade(&out.stdout).ok_or_else(|| CollectError::Failed {
            program: "apt-get upgrade --assume-no".into(),
            status: out.status,
            stderr: out.stderr.lines().take(5).collect::<Vec<_>>().join(" | "),
        })
    }

    fn refresh(&self) -> Result<(), CollectError> {
        let mut args = self.apt_options();
        args.extend(["-q", "update"].map(String::from));
        exec::run_ok("apt-get", &args, self.ctx.timeout).map(|_| ())
    }

    /// When the package lists were last refreshed: apt's update stamp, else
    /// the newest Release file among the lists.
    /// Ubuntu only: whether ESM (Ubuntu Pro) archives are enabled, by the
    /// package files apt has from them or by a configured source naming
    /// `esm.ubuntu.com` (enabled, its lists not fetched yet).
    fn esm_enabled(&self, sources: &HashMap<String, Release>) -> Option<bool> {
        let os = crate::host::os_release(&self.ctx.rootfs).ok()?;
        if !os.iter().any(|(k, v)| k == "ID" && v == "ubuntu") {
            return None;
        }
        let from_lists = sources.values().any(|r| {
            r.origin
                .as_deref()
                .is_some_and(|o| o.starts_with("UbuntuESM"))
        });
        let configured = fs::read_dir(self.root("etc/apt/sources.list.d"))
            .into_iter()
            .flat_map(|d| d.flatten())
            .filter_map(|e| fs::read_to_string(e.path()).ok())
            .chain(fs::read_to_string(self.root("etc/apt/sources.list")).ok())
            .any(|text| names_esm(&text));
        Some(from_lists || configured)
    }

    /// Ubuntu: the fixes only Ubuntu Pro's ESM channels offer this host
    /// (`esm.rs`), read from the Pro client's own apt tree. `None` where
    /// there is no such tree with indexes to read, unless the host has ESM
    /// enabled (its channels are then among its own archives: nothing is
    /// behind an entitlement), and where apt cannot read that tree.
    fn unentitled(
        &self,
        esm_enabled: Option<bool>,
        installed: &[DpkgPackage],
        names: &[String],
        host: &HashMap<String, Policy>,
    ) -> Option<Vec<pakiti_report::Unentitled>> {
        esm_enabled?;
        let tree = self.root(esm::TREE);
        let has_lists = fs::read_dir(tree.join("var/lib/apt/lists"))
            .into_iter()
            .flat_map(|d| d.flatten())
            .any(|e| e.file_name().to_string_lossy().contains("_Packages"));
        if !has_lists {
            return (esm_enabled == Some(true)).then(Vec::new);
        }
        let read = || -> Result<_, CollectError> {
            let sources = parse_sources(&self.policy_with(self.options_for(&tree, true), &[])?);
            let policies = parse_policies(&self.policy_with(self.options_for(&tree, true), names)?);
            Ok(esm::unentitled(
                installed,
                host,
                &sources,
                &policies,
                &self.ctx.security_patterns,
            ))
        };
        match read() {
            Ok(found) => Some(found),
            Err(e) => {
                tracing::warn!(tree = %tree.display(), error = %e, "the Ubuntu Pro client's ESM apt tree could not be read; fixes behind an entitlement are unknown");
                None
            }
        }
    }

    fn metadata_time(&self) -> Option<SystemTime> {
        let stamp = self.root("var/lib/apt/periodic/update-success-stamp");
        if let Ok(m) = fs::metadata(&stamp).and_then(|m| m.modified()) {
            return Some(m);
        }
        fs::read_dir(self.root("var/lib/apt/lists"))
            .ok()?
            .flatten()
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.ends_with("_Release") || name.ends_with("_InRelease")
            })
            .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok())
            .max()
    }
}

/// Turns apt's answers into updates. Pure: every input is text apt printed
/// or data read from dpkg's database.
pub fn build_updates(
    installed: &[DpkgPackage],
    sources: &HashMap<String, Release>,
    policies: &HashMap<String, Policy>,
    plan: &UpgradePlan,
    patterns: &[SecurityPattern],
) -> Vec<Update> {
    let security_source: HashSet<&str> = sources
        .iter()
        .filter(|(_, r)| patterns.iter().any(|p| p.matches(r)))
        .map(|(k, _)| k.as_str())
        .collect();
    let mut updates = Vec::new();
    for pkg in installed {
        let Some((key, policy)) = crate::apt_policy::policy_of(policies, pkg) else {
            continue;
        };
        let (Some(inst), Some(cand)) = (&policy.installed, &policy.candidate) else {
            continue;
        };
        if inst != &pkg.version || inst == cand {
            continue;
        }
        // A security fix published for any version above the installed one, up
        // to the candidate, counts: a later point release must not hide it.
        let fixes: Vec<&PolicyVersion> = policy
            .versions
            .iter()
            .filter(|v| {
                compare_versions(&v.version, inst).is_gt()
                    && compare_versions(&v.version, cand).is_le()
            })
            .collect();
        let security = fixes.iter().any(|v| {
            v.sources
                .iter()
                .any(|s| security_source.contains(s.as_str()))
        });
        let candidate = policy.versions.iter().find(|v| &v.version == cand);
        let repository = candidate.and_then(|v| {
            let mut names: Vec<String> = v
                .sources
                .iter()
                .filter_map(|s| sources.get(s))
                .filter(|r| r.origin.is_some())
                .map(Release::display)
                .collect();
            names.sort();
            names.dedup();
            (!names.is_empty()).then(|| names.join(","))
        });
        let held = if pkg.hold {
            Some(HeldReason::Hold)
        } else if plan.phasing.contains(&key) {
            Some(HeldReason::Phased)
        } else if plan.upgraded.contains(&key) {
            None
        } else if candidate.is_some_and(|v| v.phased.is_some_and(|p| p < 100)) {
            // Not upgraded and only partly phased in: apt lists it as kept
            // back when told never to include phased updates.
            Some(HeldReason::Phased)
        } else {
            Some(HeldReason::KeptBack)
        };
        updates.push(Update {
            name: pkg.name.clone(),
            arch: pkg.arch.clone(),
            installed_version: inst.clone(),
            candidate_version: cand.clone(),
            security: security.then_some(Severity::Unknown),
            held,
            repository,
            advisories: Vec::new(),
            cves: Vec::new(),
        });
    }
    updates.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    updates
}

impl Collector for Apt {
    fn manager(&self) -> Manager {
        Manager::Apt
    }

    fn collect(&self) -> Result<Inventory, CollectError> {
        for tool in ["apt-cache", "apt-get"] {
            if !exec::available(tool) {
                return Err(CollectError::Unavailable {
                    manager: Manager::Apt,
                    reason: format!("{tool} is not installed"),
                });
            }
        }
        let status_path = self.root("var/lib/dpkg/status");
        let status = fs::read_to_string(&status_path).map_err(|source| CollectError::Read {
            path: status_path.clone(),
            source,
        })?;
        let mut installed = dpkg::parse_status(&status);
        // A name dpkg would refuse never reaches apt: it could read as an option.
        let before = installed.len();
        installed.retain(|p| dpkg::valid_package_name(&p.name) && dpkg::valid_arch(&p.arch));
        if installed.len() < before {
            tracing::warn!(
                skipped = before - installed.len(),
                path = %status_path.display(),
                "the dpkg status file lists packages whose name or architecture dpkg would refuse; they are left out"
            );
        }
        if self.ctx.refresh_metadata {
            self.refresh()?;
        }
        // The first call builds apt's binary cache; the others then reuse it.
        let sources = parse_sources(&self.apt_cache(&[])?);
        let names: Vec<String> = installed
            .iter()
            .map(|p| {
                if p.arch == "all" {
                    p.name.clone()
                } else {
                    format!("{}:{}", p.name, p.arch)
                }
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let policies = parse_policies(&self.apt_cache(&names)?);
        let plan = self.upgrade_plan()?;
        let updates = build_updates(
            &installed,
            &sources,
            &policies,
            &plan,
            &self.ctx.security_patterns,
        );
        let security_metadata_available = sources
            .values()
            .any(|r| self.ctx.security_patterns.iter().any(|p| p.matches(r)));
        let kernels: Vec<(String, String, String)> = installed
            .iter()
            .filter_map(|p| {
                let release = p.name.strip_prefix("linux-image-")?;
                let release = release.strip_suffix("-unsigned").unwrap_or(release);
                release
                    .starts_with(|c: char| c.is_ascii_digit())
                    .then(|| (release.to_string(), p.name.clone(), p.version.clone()))
            })
            .collect();
        let running = reboot::running_kernel();
        let esm_enabled = self.esm_enabled(&sources);
        let unentitled = self.unentitled(esm_enabled, &installed, &names, &policies);
        let by_release: Vec<(String, String)> = kernels
            .iter()
            .map(|(release, _, version)| (release.clone(), version.clone()))
            .collect();
        Ok(Inventory {
            updates,
            installed_packages: installed.len() as u64,
            reboot: reboot::debian_style(&self.ctx.rootfs, &by_release, compare_versions),
            metadata_updated_at: self.metadata_time(),
            security_metadata_available,
            installed: Some(installed.iter().map(DpkgPackage::installed).collect()),
            running_kernel: reboot::running_package(running.as_deref(), &kernels),
            esm_enabled,
            unentitled,
            installed_digest: None,
            installed_delta: None,
            running: Default::default(),
        })
    }
}

/// Whether a sources file (one-line or deb822) has an enabled entry on
/// `esm.ubuntu.com`.
pub fn names_esm(text: &str) -> bool {
    let deb822_disabled = text
        .lines()
        .any(|l| l.trim().eq_ignore_ascii_case("enabled: no"));
    !deb822_disabled
        && text
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .any(|l| l.contains("esm.ubuntu.com"))
}

/// Default per-call timeout for apt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCES: &str = include_str!("../fixtures/apt/debian12-policy-sources.txt");
    const POLICIES: &str = include_str!("../fixtures/apt/debian12-policy-packages.txt");
    const UPGRADE: &str = include_str!("../fixtures/apt/debian12-upgrade-assume-no.txt");

    fn pkg(name: &str, arch: &str, version: &str, hold: bool) -> DpkgPackage {
        DpkgPackage {
            name: name.into(),
            arch: arch.into(),
            version: version.into(),
            hold,
            source: None,
        }
    }

    #[test]
    fn esm_sources_are_recognised_when_enabled() {
        assert!(names_esm(
            "deb https://esm.ubuntu.com/infra/ubuntu noble-infra-security main\n"
        ));
        assert!(names_esm(
            "Types: deb\nURIs: https://esm.ubuntu.com/apps/ubuntu\nSuites: noble-apps-security\n"
        ));
        assert!(!names_esm(
            "# deb https://esm.ubuntu.com/infra/ubuntu noble-infra-security main\n"
        ));
        assert!(!names_esm(
            "Types: deb\nURIs: https://esm.ubuntu.com/apps/ubuntu\nEnabled: no\n"
        ));
        assert!(!names_esm(
            "deb http://archive.ubuntu.com/ubuntu noble main\n"
        ));
    }

    #[test]
    fn upgrade_lists_are_read() {
        let plan = parse_upgrade(UPGRADE).expect("summary present");
        assert_eq!(plan.upgraded.len(), 120);
        assert!(plan.upgraded.contains("apt"));
        assert!(plan.kept_back.is_empty());
        let text = "The following packages have been kept back:\n  a b\nThe following upgrades have been deferred due to phasing:\n  c\nThe following packages will be upgraded:\n  d\n1 upgraded, 0 newly installed, 0 to remove and 3 not upgraded.\n";
        let plan = parse_upgrade(text).unwrap();
        assert_eq!(plan.kept_back.len(), 2);
        assert!(plan.phasing.contains("c"));
        assert!(plan.upgraded.contains("d"));
        assert_eq!(parse_upgrade("E: Could not open lock file"), None);
    }

    #[test]
    fn security_is_decided_by_release_fields_not_by_the_candidate_alone() {
        let sources = parse_sources(SOURCES);
        let policies = parse_policies(POLICIES);
        let plan = parse_upgrade(UPGRADE).unwrap();
        let installed = [
            pkg("apt", "amd64", "2.6.1", false),
            pkg("krb5-locales", "all", "1.20.1-2+deb12u3", false),
            pkg("base-files", "amd64", "12.4+deb12u11", true),
            pkg("libc6", "amd64", "2.36-9+deb12u14", false),
        ];
        let u = build_updates(
            &installed,
            &sources,
            &policies,
            &plan,
            &SecurityPattern::defaults(),
        );
        let names: Vec<_> = u.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["apt", "base-files", "krb5-locales"]);
        assert_eq!(u[0].security, Some(Severity::Unknown));
        assert_eq!(
            u[0].repository.as_deref(),
            Some("Debian:bookworm-security/oldstable-security")
        );
        assert_eq!(u[1].security, None);
        assert_eq!(u[1].held, Some(HeldReason::Hold));
        // In both the point release and the security archive: security.
        assert_eq!(u[2].security, Some(Severity::Unknown));
        assert_eq!(u[2].held, None);
    }

    /// The security window is strictly above the installed version and at
    /// most the candidate: neither bound may move.
    #[test]
    fn the_security_window_is_above_the_installed_version_and_up_to_the_candidate() {
        let sources = parse_sources(SOURCES);
        let main = "        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n";
        let sec = "        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages\n";
        let status = "        100 /var/lib/dpkg/status\n";
        let plan = UpgradePlan {
            upgraded: ["openssl".to_string()].into(),
            ..Default::default()
        };
        let security_of = |text: String| {
            let u = build_updates(
                &[pkg("openssl", "amd64", "3.0.1-1", false)],
                &sources,
                &parse_policies(&text),
                &plan,
                &SecurityPattern::defaults(),
            );
            assert_eq!(u.len(), 1, "{text}");
            u[0].security
        };
        // The installed version itself came from the security archive; the
        // candidate is a newer point release: no security fix is pending.
        let installed_from_security = format!(
            "openssl:\n  Installed: 3.0.1-1\n  Candidate: 3.0.2-1\n  Version table:\n     3.0.2-1 500\n{main} *** 3.0.1-1 500\n{sec}{status}"
        );
        assert_eq!(security_of(installed_from_security), None);
        // A security version above a pinned candidate: a plain upgrade would
        // not install it, so the pending update is not a security one.
        let above_the_candidate = format!(
            "openssl:\n  Installed: 3.0.1-1\n  Candidate: 3.0.2-1\n  Version table:\n     3.0.3-1+deb12u1 500\n{sec}     3.0.2-1 990\n{main} *** 3.0.1-1 100\n{status}"
        );
        assert_eq!(security_of(above_the_candidate), None);
        // The candidate itself from the security archive: security.
        let candidate_from_security = format!(
            "openssl:\n  Installed: 3.0.1-1\n  Candidate: 3.0.2-1\n  Version table:\n     3.0.2-1 500\n{sec} *** 3.0.1-1 100\n{status}"
        );
        assert_eq!(
            security_of(candidate_from_security),
            Some(Severity::Unknown)
        );
    }

    #[test]
    fn a_point_release_superseding_a_security_version_does_not_hide_it() {
        let sources = parse_sources(SOURCES);
        let text = "openssl:\n  Installed: 3.0.1-1\n  Candidate: 3.0.3-1\n  Version table:\n     3.0.3-1 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n     3.0.2-1+deb12u1 500\n        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages\n *** 3.0.1-1 100\n        100 /var/lib/dpkg/status\n     3.0.0-1 500\n        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages\n";
        let policies = parse_policies(text);
        let plan = UpgradePlan {
            upgraded: ["openssl".to_string()].into(),
            ..Default::default()
        };
        let u = build_updates(
            &[pkg("openssl", "amd64", "3.0.1-1", false)],
            &sources,
            &policies,
            &plan,
            &SecurityPattern::defaults(),
        );
        assert_eq!(u[0].security, Some(Severity::Unknown));
        assert_eq!(u[0].held, None);
        // An older security version below the installed one does not count.
        let text = text.replace("3.0.2-1+deb12u1", "2.9.9-1");
        let u = build_updates(
            &[pkg("openssl", "amd64", "3.0.1-1", false)],
            &sources,
            &parse_policies(&text),
            &plan,
            &SecurityPattern::defaults(),
        );
        assert_eq!(u[0].security, None);
    }
}
