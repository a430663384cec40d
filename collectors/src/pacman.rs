//! pacman (Arch): pending updates from the local sync database
//! (`pacman -Qu`, read-only), or from `checkupdates` (pacman-contrib) when
//! `refresh_metadata` is set, which syncs a temporary copy so the real
//! database is never modified; `pacman -Sy` is never run (a partial upgrade
//! hazard). Security from `arch-audit` when it is installed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use pakiti_report::{Inventory, Manager, Reboot, Severity, Update};

use crate::{exec, reboot, severity_word, CollectError, Collector, Context};

/// One installed package, from `var/lib/pacman/local/*/desc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacmanPackage {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// `%BASE%`: the package base (source package) it was built from.
    pub base: Option<String>,
}

impl PacmanPackage {
    /// The inventory entry: the base is the source package, of the same version.
    pub fn installed(&self) -> pakiti_report::Installed {
        let mut p = pakiti_report::Installed::new(&self.name, &self.version, &self.arch);
        if let Some(base) = &self.base {
            p.source_name = base.clone();
        }
        p
    }
}

/// Parses one `desc` file: `%KEY%` lines, each followed by its values.
pub fn parse_desc(text: &str) -> Option<PacmanPackage> {
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(key) = line.strip_prefix('%').and_then(|l| l.strip_suffix('%')) {
            if let Some(value) = lines.next() {
                fields.insert(key, value.trim());
            }
        }
    }
    Some(PacmanPackage {
        name: fields.get("NAME")?.to_string(),
        version: fields.get("VERSION")?.to_string(),
        arch: fields.get("ARCH").copied().unwrap_or("any").to_string(),
        base: fields.get("BASE").map(|b| b.to_string()),
    })
}

/// One row of `pacman -Qu` or `checkupdates`: `name old -> new`, with
/// ` [ignored]` when pacman.conf's IgnorePkg or IgnoreGroup holds it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub name: String,
    pub installed: String,
    pub candidate: String,
    pub ignored: bool,
}

pub fn parse_updates(text: &str) -> Vec<Pending> {
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [name, old, "->", new, rest @ ..] => Some(Pending {
                    name: name.to_string(),
                    installed: old.to_string(),
                    candidate: new.to_string(),
                    ignored: rest.contains(&"[ignored]"),
                }),
                _ => None,
            }
        })
        .collect()
}

/// What `arch-audit --upgradable --format '%n|%s|%c'` says: package →
/// (severity, CVE ids).
pub fn parse_audit(text: &str) -> BTreeMap<String, (Severity, Vec<String>)> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.trim().splitn(3, '|');
            let (name, severity, cves) = (f.next()?, f.next()?, f.next().unwrap_or(""));
            if name.is_empty() {
                return None;
            }
            let cves = cves
                .split([',', ' '])
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Some((name.to_string(), (severity_word(severity), cves)))
        })
        .collect()
}

pub fn build_updates(
    pending: &[Pending],
    installed: &[PacmanPackage],
    audit: &BTreeMap<String, (Severity, Vec<String>)>,
) -> Vec<Update> {
    let arch: BTreeMap<&str, &str> = installed
        .iter()
        .map(|p| (p.name.as_str(), p.arch.as_str()))
        .collect();
    let mut seen = BTreeSet::new();
    pending
        .iter()
        .filter(|p| seen.insert(p.name.as_str()))
        .map(|p| {
            let security = audit.get(&p.name);
            Update {
                name: p.name.clone(),
                arch: arch.get(p.name.as_str()).unwrap_or(&"any").to_string(),
                installed_version: p.installed.clone(),
                candidate_version: p.candidate.clone(),
                security: security.map(|(s, _)| *s),
                held: p.ignored.then_some(pakiti_report::HeldReason::Hold),
                repository: None,
                advisories: Vec::new(),
                cves: security.map(|(_, c)| c.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

const KERNELS: [&str; 4] = ["linux", "linux-lts", "linux-zen", "linux-hardened"];

/// The running kernel's package: the kernel package whose file list (the
/// local database's `files`) holds `usr/lib/modules/$(uname -r)/`.
pub fn running_kernel(
    rootfs: &Path,
    installed: &[PacmanPackage],
    running: Option<&str>,
) -> Option<pakiti_report::RunningKernel> {
    let running = running?;
    let wanted = format!("usr/lib/modules/{running}/");
    installed
        .iter()
        .filter(|p| KERNELS.contains(&p.name.as_str()))
        .find(|p| {
            let files = rootfs
                .join("var/lib/pacman/local")
                .join(format!("{}-{}", p.name, p.version))
                .join("files");
            fs::read_to_string(files).is_ok_and(|t| t.lines().any(|l| l.trim() == wanted))
        })
        .map(|p| pakiti_report::RunningKernel {
            package: p.name.clone(),
            version: p.version.clone(),
        })
}

/// Arch removes the running kernel's modules when the kernel package is
/// upgraded: a kernel package installed and no `usr/lib/modules/$(uname -r)`
/// means the host runs a kernel that is no longer installed.
pub fn kernel_reboot(rootfs: &Path, installed: &[PacmanPackage], running: Option<&str>) -> Reboot {
    let Some(running) = running else {
        return Reboot::default();
    };
    let kernels: Vec<String> = installed
        .iter()
        .filter(|p| KERNELS.contains(&p.name.as_str()))
        .map(|p| format!("{}-{}", p.name, p.version))
        .collect();
    if kernels.is_empty() || rootfs.join("usr/lib/modules").join(running).exists() {
        return Reboot::default();
    }
    Reboot {
        required: true,
        packages: kernels,
    }
}

/// The pacman collector.
pub struct Pacman {
    ctx: Context,
}

impl Pacman {
    pub fn new(ctx: Context) -> Self {
        Pacman { ctx }
    }

    fn root(&self, path: &str) -> PathBuf {
        self.ctx.rootfs.join(path)
    }

    fn elsewhere(&self) -> bool {
        self.ctx.rootfs != Path::new("/")
    }

    fn installed(&self) -> Result<Vec<PacmanPackage>, CollectError> {
        let dir = self.root("var/lib/pacman/local");
        let entries = fs::read_dir(&dir).map_err(|source| CollectError::Read {
            path: dir.clone(),
            source,
        })?;
        let mut out: Vec<PacmanPackage> = entries
            .flatten()
            .filter_map(|e| fs::read_to_string(e.path().join("desc")).ok())
            .filter_map(|t| parse_desc(&t))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn pending(&self) -> Result<Vec<Pending>, CollectError> {
        if self.ctx.refresh_metadata {
            if self.elsewhere() {
                return Err(CollectError::Unavailable {
                    manager: Manager::Pacman,
                    reason: "refresh_metadata needs checkupdates, which only inspects the running system; with --path.rootfs set refresh_metadata = false".into(),
                });
            }
            if !exec::available("checkupdates") {
                return Err(CollectError::Unavailable {
                    manager: Manager::Pacman,
                    reason: "refresh_metadata needs checkupdates (pacman-contrib), which is not installed; pakiti never runs pacman -Sy".into(),
                });
            }
            let out = exec::run("checkupdates", &[], self.ctx.timeout)?;
            // 0: updates listed; 2: none.
            return match out.status {
                0 | 2 => Ok(parse_updates(&out.stdout)),
                status => Err(CollectError::Failed {
                    program: "checkupdates".into(),
                    status,
                    stderr: out.stderr.lines().take(5).collect::<Vec<_>>().join(" | "),
                }),
            };
        }
        let mut args = self.base_args();
        args.push("-Qu".into());
        let out = exec::run("pacman", &args, self.ctx.timeout)?;
        // pacman -Qu exits 1 when nothing is pending, printing nothing.
        if out.status == 0
            || (out.status == 1 && out.stdout.trim().is_empty() && out.stderr.trim().is_empty())
        {
            Ok(parse_updates(&out.stdout))
        } else {
            Err(CollectError::Failed {
                program: "pacman -Qu".into(),
                status: out.status,
                stderr: out.stderr.lines().take(5).collect::<Vec<_>>().join(" | "),
            })
        }
    }

    fn base_args(&self) -> Vec<String> {
        if !self.elsewhere() {
            return Vec::new();
        }
        vec![
            "--root".into(),
            self.ctx.rootfs.display().to_string(),
            "--dbpath".into(),
            self.root("var/lib/pacman").display().to_string(),
            "--config".into(),
            self.root("etc/pacman.conf").display().to_string(),
        ]
    }

    /// arch-audit's view, or `None` when it is not installed or fails
    /// (it fetches the Arch security tracker's data over the network).
    fn audit(&self) -> Option<BTreeMap<String, (Severity, Vec<String>)>> {
        if !exec::available("arch-audit") {
            return None;
        }
        let mut args = vec![
            "--upgradable".to_string(),
            "--format".into(),
            "%n|%s|%c".into(),
        ];
        if self.elsewhere() {
            args.push("--dbpath".into());
            args.push(self.root("var/lib/pacman").display().to_string());
        }
        match exec::run("arch-audit", &args, self.ctx.timeout) {
            Ok(out) if out.status == 0 => Some(parse_audit(&out.stdout)),
            Ok(out) => {
                tracing::warn!(status = out.status, stderr = %out.stderr.trim(), "arch-audit failed: no security information this time");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "arch-audit failed: no security information this time");
                None
            }
        }
    }

    fn metadata_time(&self) -> Option<std::time::SystemTime> {
        fs::read_dir(self.root("var/lib/pacman/sync"))
            .ok()?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".db"))
            .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok())
            .max()
    }
}

impl Collector for Pacman {
    fn manager(&self) -> Manager {
        Manager::Pacman
    }

    fn collect(&self) -> Result<Inventory, CollectError> {
        if !exec::available("pacman") {
            return Err(CollectError::Unavailable {
                manager: Manager::Pacman,
                reason: "pacman is not installed".into(),
            });
        }
        let installed = self.installed()?;
        let pending = self.pending()?;
        let audit = self.audit();
        let updates = build_updates(
            &pending,
            &installed,
            audit.as_ref().unwrap_or(&BTreeMap::new()),
        );
        let running = reboot::running_kernel();
        Ok(Inventory {
            updates,
            installed_packages: installed.len() as u64,
            reboot: kernel_reboot(&self.ctx.rootfs, &installed, running.as_deref()),
            metadata_updated_at: self.metadata_time(),
            security_metadata_available: audit.is_some(),
            installed: Some(installed.iter().map(PacmanPackage::installed).collect()),
            running_kernel: running_kernel(&self.ctx.rootfs, &installed, running.as_deref()),
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

    #[test]
    fn updates_and_ignored_packages_are_read() {
        let text = "ignoreme 1.0-1 -> 2.0-1 [ignored]\nlinux 6.6.1.arch1-1 -> 6.6.2.arch1-1\nopenssl 3.1.4-1 -> 3.1.5-1\n";
        let p = parse_updates(text);
        assert_eq!(p.len(), 3);
        assert!(p[0].ignored);
        assert!(!p[1].ignored);
        assert_eq!(p[2].candidate, "3.1.5-1");
    }

    #[test]
    fn arch_audit_severities_map_onto_ours() {
        let a = parse_audit("openssl|High|CVE-2023-0286,CVE-2023-0215\ncurl|Medium|CVE-2023-38545\nzlib|Critical|\n");
        assert_eq!(
            a["openssl"],
            (
                Severity::Important,
                vec!["CVE-2023-0286".to_string(), "CVE-2023-0215".to_string()]
            )
        );
        assert_eq!(a["curl"].0, Severity::Moderate);
        assert_eq!(a["zlib"], (Severity::Critical, vec![]));
    }

    #[test]
    fn desc_files_are_parsed() {
        let p = parse_desc(
            "%NAME%\nopenssl\n\n%VERSION%\n3.1.4-1\n\n%BASE%\nopenssl\n\n%ARCH%\nx86_64\n",
        )
        .unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str(), p.arch.as_str()),
            ("openssl", "3.1.4-1", "x86_64")
        );
        assert!(parse_desc("%BASE%\nx\n").is_none());
    }

    #[test]
    fn a_running_kernel_without_modules_needs_a_reboot() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("usr/lib/modules/6.6.2-arch1-1")).unwrap();
        let installed = vec![PacmanPackage {
            name: "linux".into(),
            version: "6.6.2.arch1-1".into(),
            arch: "x86_64".into(),
            base: None,
        }];
        assert!(!kernel_reboot(dir.path(), &installed, Some("6.6.2-arch1-1")).required);
        let r = kernel_reboot(dir.path(), &installed, Some("6.6.1-arch1-1"));
        assert!(r.required);
        assert_eq!(r.packages, ["linux-6.6.2.arch1-1"]);
        assert!(!kernel_reboot(dir.path(), &[], Some("6.6.1-arch1-1")).required);
    }
}
