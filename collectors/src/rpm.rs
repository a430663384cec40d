//! What the RPM-based collectors (dnf, yum, zypper) share: the rpm database,
//! package labels as these tools print them, repository files and caches,
//! and kernels.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use pakiti_report::Reboot;

use crate::{exec, reboot, CollectError, Context};
use pakiti_versions::rpm::compare_evr;

/// One installed package, from the rpm database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmPackage {
    pub name: String,
    pub arch: String,
    /// `epoch:version-release`, the epoch always present (0 when none).
    pub evr: String,
    /// `%{SOURCERPM}`: `openssl-3.0.7-25.el9_3.src.rpm`, `(none)` for none.
    pub source_rpm: String,
    /// `%{MODULARITYLABEL}`: `nodejs:18:9040020230411133542:rhel9`, `(none)` for none.
    pub module: String,
}

impl RpmPackage {
    /// The inventory entry: the version as dnf prints it (`epoch:` only when
    /// not 0, which rpm compares alike), the source package's name and
    /// version from SOURCERPM with the binary's epoch.
    pub fn installed(&self) -> pakiti_report::Installed {
        let version = display_evr(&self.evr);
        let mut p = pakiti_report::Installed::new(&self.name, version, &self.arch);
        if let Some((name, vr)) = split_source_rpm(&self.source_rpm) {
            p.source_name = name.to_string();
            p.source_version = match self.evr.split_once(':') {
                Some((epoch, _)) if epoch != "0" => format!("{epoch}:{vr}"),
                _ => vr.to_string(),
            };
        }
        if self.module != "(none)" && !self.module.is_empty() {
            p.module = Some(self.module.clone());
        }
        p
    }
}

/// `name-version-release.src.rpm` → (`name`, `version-release`).
pub fn split_source_rpm(file: &str) -> Option<(&str, &str)> {
    let stem = file
        .strip_suffix(".src.rpm")
        .or_else(|| file.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    if name.is_empty() || version.is_empty() || release.is_empty() {
        return None;
    }
    Some((name, &stem[name.len() + 1..]))
}

/// The query format [`parse_installed`] reads.
pub const QUERY_FORMAT: &str =
    "%{NAME}\\t%{ARCH}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{SOURCERPM}\\t%{MODULARITYLABEL}\\n";

/// Parses `rpm -qa --qf QUERY_FORMAT`. `gpg-pubkey` entries (keys, not
/// packages; their arch is `(none)`) are left out.
pub fn parse_installed(text: &str) -> Vec<RpmPackage> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let (name, arch, evr) = (f.next()?, f.next()?, f.next()?);
            let (source_rpm, module) = (f.next().unwrap_or("(none)"), f.next().unwrap_or("(none)"));
            if name.is_empty() || arch == "(none)" || name == "gpg-pubkey" {
                return None;
            }
            Some(RpmPackage {
                name: name.to_string(),
                arch: arch.to_string(),
                evr: evr.trim().to_string(),
                source_rpm: source_rpm.trim().to_string(),
                module: module.trim().to_string(),
            })
        })
        .collect()
}

/// The installed packages of the inspected tree, from `rpm -qa`.
pub fn installed(ctx: &Context) -> Result<Vec<RpmPackage>, CollectError> {
    let mut args = Vec::new();
    if ctx.rootfs != Path::new("/") {
        args.push(format!("--root={}", ctx.rootfs.display()));
    }
    args.extend([
        "-qa".to_string(),
        "--qf".to_string(),
        QUERY_FORMAT.to_string(),
    ]);
    let out = exec::run_ok("rpm", &args, ctx.timeout)?;
    Ok(parse_installed(&out.stdout))
}

/// The highest installed version of `name.arch` (several for install-only
/// packages such as kernels).
pub fn installed_version<'a>(
    installed: &'a [RpmPackage],
    name: &str,
    arch: &str,
) -> Option<&'a str> {
    installed
        .iter()
        .filter(|p| p.name == name && (p.arch == arch || arch == "noarch" || p.arch == "noarch"))
        .map(|p| p.evr.as_str())
        .max_by(|a, b| compare_evr(a, b))
}

/// Drops a `0:` epoch, as dnf and zypper print labels.
pub fn display_evr(evr: &str) -> &str {
    evr.strip_prefix("0:").unwrap_or(evr)
}

/// A package label `name-[epoch:]version-release.arch` split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nevra {
    pub name: String,
    pub evr: String,
    pub arch: String,
}

impl Nevra {
    pub fn parse(label: &str) -> Option<Nevra> {
        let (rest, arch) = label.rsplit_once('.')?;
        let (rest, release) = rest.rsplit_once('-')?;
        let (name, version) = rest.rsplit_once('-')?;
        if name.is_empty() || version.is_empty() || release.is_empty() || arch.is_empty() {
            return None;
        }
        Some(Nevra {
            name: name.to_string(),
            evr: format!("{version}-{release}"),
            arch: arch.to_string(),
        })
    }
}

/// The enabled repositories of the `.repo` files in `dir` (INI sections;
/// `enabled` defaults to 1, as in dnf, yum and zypper).
pub fn enabled_repos(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        if entry.path().extension().and_then(|e| e.to_str()) != Some("repo") {
            continue;
        }
        let Ok(text) = fs::read_to_string(entry.path()) else {
            continue;
        };
        out.extend(parse_repo_file(&text));
    }
    out
}

/// The enabled sections of one `.repo` file.
pub fn parse_repo_file(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<(String, bool)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if let Some((id, true)) = current.take() {
                out.push(id);
            }
            current = Some((section.trim().to_string(), true));
        } else if let Some((key, value)) = line.split_once('=') {
            if key.trim() == "enabled" {
                if let Some((_, enabled)) = current.as_mut() {
                    *enabled = matches!(value.trim(), "1" | "yes" | "true" | "True");
                }
            }
        }
    }
    if let Some((id, true)) = current {
        out.push(id);
    }
    out
}

/// A cached copy of a repository's metadata index (`repomd.xml`).
#[derive(Debug, Clone)]
pub struct CachedRepo {
    /// The repository id the cache directory belongs to.
    pub id: String,
    pub updateinfo: bool,
    pub modified: Option<SystemTime>,
}

/// Finds the cached `repomd.xml` files under `cache_root`, up to four levels
/// deep: dnf keeps `<id>-<hash>/repodata/repomd.xml`, yum
/// `<arch>/<release>/<id>/repomd.xml`, zypper `raw/<alias>/repodata/repomd.xml`.
pub fn cached_repos(cache_root: &Path) -> Vec<CachedRepo> {
    let mut out = Vec::new();
    walk(cache_root, 0, &mut out);
    out
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<CachedRepo>) {
    let md = dir.join("repomd.xml");
    if let Ok(text) = fs::read_to_string(&md) {
        let repo_dir = if dir.file_name().is_some_and(|n| n == "repodata") {
            dir.parent().unwrap_or(dir)
        } else {
            dir
        };
        let name = repo_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(CachedRepo {
            id: strip_cache_hash(&name).to_string(),
            updateinfo: text.contains("type=\"updateinfo\""),
            modified: fs::metadata(&md).and_then(|m| m.modified()).ok(),
        });
        return;
    }
    if depth >= 4 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for d in dirs {
        walk(&d, depth + 1, out);
    }
}

/// `fedora-8d3f2c1b0a9e7d6c` → `fedora`: dnf names cache directories after
/// the repository id and a 16-digit hash of its URL.
fn strip_cache_hash(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((id, hash)) if hash.len() == 16 && hash.bytes().all(|c| c.is_ascii_hexdigit()) => id,
        _ => name,
    }
}

/// What the caches say about the enabled repositories: whether any carries
/// updateinfo (security advisories), and when the newest index was fetched.
pub fn repo_metadata(cache_root: &Path, enabled: &BTreeSet<String>) -> (bool, Option<SystemTime>) {
    let repos: Vec<CachedRepo> = cached_repos(cache_root)
        .into_iter()
        .filter(|r| enabled.contains(&r.id))
        .collect();
    (
        repos.iter().any(|r| r.updateinfo),
        repos.iter().filter_map(|r| r.modified).max(),
    )
}

/// The inventory of an RPM-family collection: security metadata and its age
/// from the enabled repositories' cached indexes.
pub fn inventory(
    updates: Vec<pakiti_report::Update>,
    installed: &[RpmPackage],
    reboot: Reboot,
    repo_dir: &Path,
    cache_root: &Path,
) -> pakiti_report::Inventory {
    let enabled = enabled_repos(repo_dir);
    let (security_metadata_available, metadata_updated_at) = repo_metadata(cache_root, &enabled);
    pakiti_report::Inventory {
        updates,
        installed_packages: installed.len() as u64,
        reboot,
        metadata_updated_at,
        security_metadata_available,
        installed: Some(installed.iter().map(RpmPackage::installed).collect()),
        running_kernel: reboot::running_package(
            reboot::running_kernel().as_deref(),
            &kernel_releases(installed),
        ),
        esm_enabled: None,
        unentitled: None,
        installed_digest: None,
        installed_delta: None,
        running: Default::default(),
    }
}

/// Names of the kernel packages of the RPM distributions.
const KERNEL_PACKAGES: [&str; 6] = [
    "kernel",
    "kernel-core",
    "kernel-default",
    "kernel-uek",
    "kernel-rt-core",
    "kernel-azure",
];

/// Each installed kernel as `(uname -r, package, version)`, in both the
/// forms `uname -r` takes: Red Hat's `version-release.arch` and SUSE's
/// version-release without its last component, then the flavour.
pub fn kernel_releases(installed: &[RpmPackage]) -> Vec<(String, String, String)> {
    let mut kernels = Vec::new();
    for p in installed
        .iter()
        .filter(|p| KERNEL_PACKAGES.contains(&p.name.as_str()))
    {
        let evr = display_evr(&p.evr);
        let vr = evr.split_once(':').map_or(evr, |(_, vr)| vr);
        let entry = |release: String| (release, p.name.clone(), evr.to_string());
        kernels.push(entry(format!("{vr}.{}", p.arch)));
        if let Some(flavour) = p.name.strip_prefix("kernel-") {
            if let Some((short, _)) = vr.rsplit_once('.') {
                kernels.push(entry(format!("{short}-{flavour}")));
            }
        }
    }
    kernels
}

/// Reboot from kernels alone: the running kernel's package is older than
/// the newest installed kernel.
pub fn kernel_reboot(installed: &[RpmPackage], running: Option<&str>) -> Reboot {
    let kernels: Vec<(String, String)> = kernel_releases(installed)
        .into_iter()
        .map(|(release, _, version)| (release, version))
        .collect();
    let mut r = reboot::kernel_newer_than_running(running, &kernels, compare_evr);
    // Name the package, not the release string.
    if r.required {
        r.packages = installed
            .iter()
            .filter(|p| KERNEL_PACKAGES.contains(&p.name.as_str()))
            .max_by(|a, b| compare_evr(&a.evr, &b.evr))
            .map(|p| vec![format!("{}-{}", p.name, display_evr(&p.evr))])
            .unwrap_or_default();
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, arch: &str, evr: &str) -> RpmPackage {
        RpmPackage {
            name: name.into(),
            arch: arch.into(),
            evr: evr.into(),
            source_rpm: "(none)".into(),
            module: "(none)".into(),
        }
    }

    #[test]
    fn installed_packages_are_parsed_and_keys_skipped() {
        let text = "bash\tx86_64\t0:5.1.8-6.el9\ngpg-pubkey\t(none)\t0:fd431d51-4ae0493b\nopenssl\tx86_64\t1:3.0.7-24.el9\n";
        assert_eq!(
            parse_installed(text),
            vec![
                pkg("bash", "x86_64", "0:5.1.8-6.el9"),
                pkg("openssl", "x86_64", "1:3.0.7-24.el9")
            ]
        );
    }

    #[test]
    fn inventory_entries_carry_source_and_module() {
        let text = "nodejs\tx86_64\t1:18.19.0-1.module+el9.3.0+21019+a9b5aa4b\tnodejs-18.19.0-1.module+el9.3.0+21019+a9b5aa4b.src.rpm\tnodejs:18:9030020231120082734:rhel9\n\
                    libssl3\tx86_64\t0:3.0.7-25.el9_3\topenssl-3.0.7-25.el9_3.src.rpm\t(none)\n\
                    old\tnoarch\t0:1.0-1\n";
        let got: Vec<_> = parse_installed(text)
            .iter()
            .map(RpmPackage::installed)
            .collect();
        assert_eq!(got[0].version, "1:18.19.0-1.module+el9.3.0+21019+a9b5aa4b");
        assert_eq!(got[0].source_name, "nodejs");
        assert_eq!(
            got[0].source_version,
            "1:18.19.0-1.module+el9.3.0+21019+a9b5aa4b"
        );
        assert_eq!(
            got[0].module.as_deref(),
            Some("nodejs:18:9030020231120082734:rhel9")
        );
        assert_eq!(
            (
                got[1].version.as_str(),
                got[1].source_name.as_str(),
                got[1].source_version.as_str()
            ),
            ("3.0.7-25.el9_3", "openssl", "3.0.7-25.el9_3")
        );
        assert_eq!(got[1].module, None);
        // An older query without the source fields: the package is its own source.
        assert_eq!(
            (got[2].source_name.as_str(), got[2].source_version.as_str()),
            ("old", "1.0-1")
        );
        assert_eq!(
            split_source_rpm("a-b-c-1.0-2.fc40.src.rpm"),
            Some(("a-b-c", "1.0-2.fc40"))
        );
        assert_eq!(split_source_rpm("broken.src.rpm"), None);
        assert_eq!(split_source_rpm("(none)"), None);
    }

    #[test]
    fn labels_are_split() {
        let n = Nevra::parse("openssl-libs-1:3.0.7-27.el9.x86_64").unwrap();
        assert_eq!(
            (n.name.as_str(), n.evr.as_str(), n.arch.as_str()),
            ("openssl-libs", "1:3.0.7-27.el9", "x86_64")
        );
        assert!(Nevra::parse("nonsense").is_none());
    }

    #[test]
    fn repo_files_name_enabled_sections() {
        let text =
            "[baseos]\nname=BaseOS\nenabled=1\n\n[debug]\nenabled=0\n[appstream]\nbaseurl=x\n";
        assert_eq!(parse_repo_file(text), vec!["baseos", "appstream"]);
    }

    #[test]
    fn cache_hashes_are_stripped() {
        assert_eq!(strip_cache_hash("baseos-044cae74d71fe9ea"), "baseos");
        assert_eq!(strip_cache_hash("my-repo"), "my-repo");
    }

    #[test]
    fn a_newer_kernel_than_the_running_one_needs_a_reboot() {
        let installed = [
            pkg("kernel-core", "x86_64", "0:5.14.0-362.8.1.el9_3"),
            pkg("kernel-core", "x86_64", "0:5.14.0-362.13.1.el9_3"),
        ];
        let r = kernel_reboot(&installed, Some("5.14.0-362.8.1.el9_3.x86_64"));
        assert!(r.required);
        assert_eq!(r.packages, vec!["kernel-core-5.14.0-362.13.1.el9_3"]);
        assert!(!kernel_reboot(&installed, Some("5.14.0-362.13.1.el9_3.x86_64")).required);
        // SUSE names its running kernels after the flavour.
        let suse = [
            pkg("kernel-default", "x86_64", "0:5.14.21-150500.55.39.1"),
            pkg("kernel-default", "x86_64", "0:5.14.21-150500.55.44.1"),
        ];
        assert!(kernel_reboot(&suse, Some("5.14.21-150500.55.39-default")).required);
        assert!(!kernel_reboot(&suse, Some("5.14.21-150500.55.44-default")).required);
        // A kernel that is not installed (a container): nothing can be said.
        assert!(!kernel_reboot(&installed, Some("6.1.0-18-amd64")).required);
    }
}
