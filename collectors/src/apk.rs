//! apk (Alpine): pending updates from `apk list --upgradable`, installed
//! packages from apk's database (`lib/apk/db/installed`), security from the
//! Alpine security database (secdb JSON) when the user configures local
//! copies of it; without one, `security_metadata_available` is false.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use pakiti_report::{Inventory, Manager, Reboot, Severity, Update};

use crate::{exec, reboot, CollectError, Collector, Context};
use pakiti_versions::apk::compare;

/// One installed package of `lib/apk/db/installed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApkPackage {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// `o`: the origin, the source package (aport) it was built from.
    pub origin: Option<String>,
}

impl ApkPackage {
    /// The inventory entry: the origin is the source package, of the same version.
    pub fn installed(&self) -> pakiti_report::Installed {
        let mut p = pakiti_report::Installed::new(&self.name, &self.version, &self.arch);
        if let Some(origin) = &self.origin {
            p.source_name = origin.clone();
        }
        p
    }
}

/// Parses apk's installed database: paragraphs of `X:value` lines, `P` the
/// name, `V` the version, `A` the architecture, `o` the origin.
pub fn parse_installed(text: &str) -> Vec<ApkPackage> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let (mut name, mut version, mut arch, mut origin) = (None, None, None, None);
        for line in para.lines() {
            match line.split_once(':') {
                Some(("P", v)) => name = Some(v),
                Some(("V", v)) => version = Some(v),
                Some(("A", v)) => arch = Some(v),
                Some(("o", v)) => origin = Some(v),
                _ => {}
            }
        }
        if let (Some(name), Some(version)) = (name, version) {
            out.push(ApkPackage {
                name: name.to_string(),
                version: version.to_string(),
                arch: arch.unwrap_or("noarch").to_string(),
                origin: origin.filter(|o| !o.is_empty()).map(str::to_string),
            });
        }
    }
    out
}

/// One row of `apk list --upgradable`:
/// `name-newver arch {origin} (license) [upgradable from: name-oldver]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgradable {
    pub name: String,
    /// The source package it was built from (`{origin}`): the secdb is keyed by it.
    pub origin: String,
    pub arch: String,
    pub candidate: String,
    pub installed: String,
}

/// Splits `name-version-rN` at the version: the last two `-` separated
/// fields are the version and the revision.
pub fn split_name_version(label: &str) -> Option<(&str, &str)> {
    let (rest, rev) = label.rsplit_once('-')?;
    if !rev.starts_with('r') {
        return None;
    }
    let (name, _) = rest.rsplit_once('-')?;
    Some((name, &label[name.len() + 1..]))
}

pub fn parse_upgradable(text: &str) -> Vec<Upgradable> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (name, candidate) = split_name_version(words.next()?)?;
            let arch = words.next()?.to_string();
            let origin = words
                .next()
                .and_then(|w| w.strip_prefix('{')?.strip_suffix('}'))
                .unwrap_or(name)
                .to_string();
            let from = line
                .split_once("[upgradable from: ")?
                .1
                .trim_end_matches(']');
            let (_, installed) = split_name_version(from.trim())?;
            Some(Upgradable {
                name: name.to_string(),
                origin,
                arch,
                candidate: candidate.to_string(),
                installed: installed.to_string(),
            })
        })
        .collect()
}

/// The fixed versions of each package, from one or more secdb documents:
/// name → [(fixed version, CVE ids)].
pub type SecDb = BTreeMap<String, Vec<(String, Vec<String>)>>;

/// Reads an Alpine secdb JSON document (`{"packages": [{"pkg": {"name": …,
/// "secfixes": {"1.2.3-r1": ["CVE-…"]}}}]}`). The pseudo-version `0` (never
/// vulnerable in this branch) is skipped.
pub fn parse_secdb(text: &str, into: &mut SecDb) -> Result<(), String> {
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let packages = doc
        .get("packages")
        .and_then(|p| p.as_array())
        .ok_or("it has no \"packages\" array")?;
    for p in packages {
        let pkg = &p["pkg"];
        let Some(name) = pkg["name"].as_str() else {
            continue;
        };
        let Some(fixes) = pkg["secfixes"].as_object() else {
            continue;
        };
        for (version, ids) in fixes {
            if version == "0" {
                continue;
            }
            let cves: Vec<String> = ids
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .flat_map(|s| s.split_whitespace())
                .filter(|w| {
                    w.starts_with("CVE-") || w.starts_with("XSA-") || w.starts_with("GHSA-")
                })
                .map(str::to_string)
                .collect();
            into.entry(name.to_string())
                .or_default()
                .push((version.clone(), cves));
        }
    }
    Ok(())
}

/// Joins the answers: an update is a security update when the secdb entry
/// of its origin package has a fix newer than the installed version and no newer than the candidate.
/// The secdb carries no severities.
pub fn build_updates(upgradable: &[Upgradable], secdb: &SecDb) -> Vec<Update> {
    let mut out: Vec<Update> = upgradable
        .iter()
        .map(|u| {
            let mut cves = BTreeSet::new();
            let mut fixed = false;
            for (version, ids) in secdb.get(&u.origin).into_iter().flatten() {
                if compare(version, &u.installed).is_gt() && compare(version, &u.candidate).is_le()
                {
                    fixed = true;
                    cves.extend(ids.iter().cloned());
                }
            }
            Update {
                name: u.name.clone(),
                arch: u.arch.clone(),
                installed_version: u.installed.clone(),
                candidate_version: u.candidate.clone(),
                security: fixed.then_some(Severity::Unknown),
                held: None,
                repository: None,
                advisories: Vec::new(),
                cves: cves.into_iter().collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    out.dedup_by(|a, b| a.name == b.name && a.arch == b.arch);
    out
}

/// Alpine kernels: package `linux-<flavour>` version `X-rN` runs as `X-N-<flavour>`.
pub fn kernel_reboot(installed: &[ApkPackage], running: Option<&str>) -> Reboot {
    let kernels: Vec<(String, String)> = kernel_releases(installed)
        .into_iter()
        .map(|(release, _, version)| (release, version))
        .collect();
    reboot::kernel_newer_than_running(running, &kernels, compare)
}

/// Each installed kernel as `(uname -r, package, version)`.
pub fn kernel_releases(installed: &[ApkPackage]) -> Vec<(String, String, String)> {
    installed
        .iter()
        .filter_map(|p| {
            let flavour = p.name.strip_prefix("linux-")?;
            if !matches!(flavour, "lts" | "virt" | "edge" | "rpi" | "stable") {
                return None;
            }
            let (v, r) = p.version.rsplit_once("-r")?;
            Some((
                format!("{v}-{r}-{flavour}"),
                p.name.clone(),
                p.version.clone(),
            ))
        })
        .collect()
}

/// The apk collector.
pub struct Apk {
    ctx: Context,
}

impl Apk {
    pub fn new(ctx: Context) -> Self {
        Apk { ctx }
    }

    fn root(&self, path: &str) -> PathBuf {
        self.ctx.rootfs.join(path)
    }

    fn run(&self, args: &[&str]) -> Result<String, CollectError> {
        let mut all = Vec::new();
        if self.ctx.rootfs != Path::new("/") {
            all.push("--root".to_string());
            all.push(self.ctx.rootfs.display().to_string());
        }
        all.extend(args.iter().map(|a| a.to_string()));
        Ok(exec::run_ok("apk", &all, self.ctx.timeout)?.stdout)
    }

    fn secdb(&self) -> Result<Option<SecDb>, CollectError> {
        if self.ctx.apk_secdb.is_empty() {
            return Ok(None);
        }
        let mut db = SecDb::new();
        for path in &self.ctx.apk_secdb {
            let text = fs::read_to_string(path).map_err(|source| CollectError::Read {
                path: path.clone(),
                source,
            })?;
            parse_secdb(&text, &mut db).map_err(|why| CollectError::Read {
                path: path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("not an Alpine secdb document: {why}"),
                ),
            })?;
        }
        Ok(Some(db))
    }

    /// The newest package index in apk's cache.
    fn metadata_time(&self) -> Option<std::time::SystemTime> {
        ["var/cache/apk", "etc/apk/cache"]
            .iter()
            .filter_map(|d| fs::read_dir(self.root(d)).ok())
            .flat_map(|entries| entries.flatten())
            .filter(|e| e.file_name().to_string_lossy().starts_with("APKINDEX."))
            .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok())
            .max()
    }
}

impl Collector for Apk {
    fn manager(&self) -> Manager {
        Manager::Apk
    }

    fn collect(&self) -> Result<Inventory, CollectError> {
        if !exec::available("apk") {
            return Err(CollectError::Unavailable {
                manager: Manager::Apk,
                reason: "apk is not installed".into(),
            });
        }
        // Read the security database first: a bad configured file fails the
        // collection before any work.
        let secdb = self.secdb()?;
        let db_path = self.root("lib/apk/db/installed");
        let installed = parse_installed(&fs::read_to_string(&db_path).map_err(|source| {
            CollectError::Read {
                path: db_path.clone(),
                source,
            }
        })?);
        if self.ctx.refresh_metadata {
            self.run(&["update", "--quiet"])?;
        }
        let upgradable = parse_upgradable(&self.run(&["--no-network", "list", "--upgradable"])?);
        let updates = build_updates(&upgradable, secdb.as_ref().unwrap_or(&SecDb::new()));
        let running = reboot::running_kernel();
        Ok(Inventory {
            updates,
            installed_packages: installed.len() as u64,
            reboot: kernel_reboot(&installed, running.as_deref()),
            metadata_updated_at: self.metadata_time(),
            security_metadata_available: secdb.is_some_and(|db| !db.is_empty()),
            installed: Some(installed.iter().map(ApkPackage::installed).collect()),
            running_kernel: reboot::running_package(
                running.as_deref(),
                &kernel_releases(&installed),
            ),
            esm_enabled: None,
            unentitled: None,
            installed_digest: None,
            installed_delta: None,
            running: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALLED: &str = include_str!("../fixtures/apk/installed");
    const UPGRADABLE: &str = include_str!("../fixtures/apk/list-upgradable.txt");
    const SECDB: &str = include_str!("../fixtures/apk/secdb-main.json");

    #[test]
    fn names_and_versions_are_split() {
        assert_eq!(
            split_name_version("busybox-1.36.1-r5"),
            Some(("busybox", "1.36.1-r5"))
        );
        assert_eq!(
            split_name_version("py3-setuptools-68.2.2-r0"),
            Some(("py3-setuptools", "68.2.2-r0"))
        );
        assert_eq!(split_name_version("nonsense"), None);
    }

    #[test]
    fn alpine_output_and_secdb_give_updates() {
        let installed = parse_installed(INSTALLED);
        assert_eq!(installed.len(), 6);
        let libcrypto = installed
            .iter()
            .find(|p| p.name == "libcrypto3")
            .unwrap()
            .installed();
        assert_eq!(libcrypto.source_name, "openssl");
        assert_eq!(libcrypto.source_version, libcrypto.version);
        let upgradable = parse_upgradable(UPGRADABLE);
        assert_eq!(upgradable.len(), 4);
        let mut db = SecDb::new();
        parse_secdb(SECDB, &mut db).unwrap();
        let updates = build_updates(&upgradable, &db);
        let u: BTreeMap<&str, &Update> = updates.iter().map(|u| (u.name.as_str(), u)).collect();
        assert_eq!(u["libcrypto3"].installed_version, "3.1.4-r1");
        assert_eq!(u["libcrypto3"].candidate_version, "3.1.4-r5");
        assert_eq!(u["libcrypto3"].security, Some(Severity::Unknown));
        assert_eq!(u["libcrypto3"].cves, ["CVE-2023-6129", "CVE-2023-6237"]);
        // The busybox fix is newer than the candidate; the curl fix older than what is installed.
        assert_eq!(u["busybox"].security, None);
        assert_eq!(u["curl"].security, None);
        assert_eq!(u["tzdata"].security, None);
        // Without a secdb nothing is security, and the caller says so.
        assert!(build_updates(&upgradable, &SecDb::new())
            .iter()
            .all(|u| u.security.is_none()));
    }

    #[test]
    fn a_bad_secdb_is_refused() {
        let mut db = SecDb::new();
        assert!(parse_secdb("{\"nope\": 1}", &mut db).is_err());
        assert!(parse_secdb("not json", &mut db).is_err());
    }

    #[test]
    fn alpine_kernels() {
        let installed = parse_installed(
            "P:linux-lts\nV:6.6.14-r0\nA:x86_64\n\nP:linux-lts\nV:6.6.16-r0\nA:x86_64\n",
        );
        assert!(kernel_reboot(&installed, Some("6.6.14-0-lts")).required);
        assert!(!kernel_reboot(&installed, Some("6.6.16-0-lts")).required);
    }
}
