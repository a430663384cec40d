//! zypper (SLES, openSUSE): pending updates from `list-updates`, security
//! from the needed patches of `list-patches` (their category, severity and
//! CVE references), which packages a patch fixes from `info -t patch`.
//!
//! zypper's exit codes: 0 is success; 100 (updates needed), 101 (security
//! updates needed), 102 (reboot needed after an action), 103 (zypper itself
//! must be restarted) are information, not failures; 104 (a name was not
//! found) and 106 (repositories were skipped, so the answer would be
//! incomplete) fail the collection, as does anything else.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use pakiti_report::{Inventory, Manager, Reboot, Severity, Update};

use crate::rpm;
use crate::{exec, reboot, severity_word, CollectError, Collector, Context};
use pakiti_versions::rpm::compare_evr;

/// One `<update kind="package">` of `zypper -x list-updates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageUpdate {
    pub name: String,
    pub arch: String,
    pub edition: String,
    pub edition_old: String,
    pub repo: String,
}

/// One `<update kind="patch">` of `zypper -x list-patches`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub name: String,
    pub category: String,
    pub severity: String,
    pub status: String,
    pub cves: Vec<String>,
}

impl Patch {
    pub fn is_security(&self) -> bool {
        self.category == "security"
    }
}

fn xml<'t>(text: &'t str, what: &str) -> Result<roxmltree::Document<'t>, CollectError> {
    // zypper prints progress messages before the XML declaration on some versions.
    let start = text.find("<?xml").unwrap_or(0);
    roxmltree::Document::parse(&text[start..]).map_err(|e| CollectError::Failed {
        program: format!("zypper {what}"),
        status: 0,
        stderr: format!("its XML output could not be read: {e}"),
    })
}

fn updates_of_kind<'a, 'i>(
    doc: &'a roxmltree::Document<'i>,
    kind: &'a str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> + 'a {
    doc.descendants()
        .filter(move |n| n.has_tag_name("update") && n.attribute("kind") == Some(kind))
}

/// Parses `zypper -x list-updates`.
pub fn parse_list_updates(text: &str) -> Result<Vec<PackageUpdate>, CollectError> {
    let doc = xml(text, "list-updates")?;
    Ok(updates_of_kind(&doc, "package")
        .filter_map(|n| {
            Some(PackageUpdate {
                name: n.attribute("name")?.to_string(),
                arch: n.attribute("arch")?.to_string(),
                edition: n.attribute("edition")?.to_string(),
                edition_old: n.attribute("edition-old").unwrap_or_default().to_string(),
                repo: n
                    .children()
                    .find(|c| c.has_tag_name("source"))
                    .and_then(|s| s.attribute("alias"))
                    .unwrap_or_default()
                    .to_string(),
            })
        })
        .collect())
}

/// Parses `zypper -x list-patches`.
pub fn parse_list_patches(text: &str) -> Result<Vec<Patch>, CollectError> {
    let doc = xml(text, "list-patches")?;
    Ok(updates_of_kind(&doc, "patch")
        .filter_map(|n| {
            let mut cves: Vec<String> = n
                .descendants()
                .filter(|i| i.has_tag_name("issue") && i.attribute("type") == Some("cve"))
                .filter_map(|i| i.attribute("id").map(str::to_string))
                .collect();
            cves.sort();
            cves.dedup();
            Some(Patch {
                name: n.attribute("name")?.to_string(),
                category: n.attribute("category").unwrap_or_default().to_string(),
                severity: n.attribute("severity").unwrap_or_default().to_string(),
                status: n.attribute("status").unwrap_or_default().to_string(),
                cves,
            })
        })
        .collect())
}

/// What a patch fixes: `(package name, optional arch, fixed edition)`.
pub type Fix = (String, Option<String>, String);

/// Parses `zypper info -t patch A B …`: for each patch, its `Conflicts`
/// entries `name[.arch] < edition` (one inline, or a count `[N]` and N
/// indented lines). Source packages (`srcpackage:`) are not installed and
/// are skipped.
pub fn parse_patch_info(text: &str) -> BTreeMap<String, Vec<Fix>> {
    let mut out: BTreeMap<String, Vec<Fix>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_conflicts = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Information for patch ") {
            current = Some(rest.trim_end_matches(':').trim().to_string());
            in_conflicts = false;
            continue;
        }
        let Some(patch) = current.clone() else {
            continue;
        };
        if let Some((key, value)) = line.split_once(':').filter(|_| !line.starts_with(' ')) {
            in_conflicts = key.trim() == "Conflicts";
            if in_conflicts && !value.trim().starts_with('[') {
                if let Some(fix) = parse_fix(value) {
                    out.entry(patch).or_default().push(fix);
                }
                in_conflicts = false;
            }
            continue;
        }
        if in_conflicts {
            if line.trim().is_empty() {
                in_conflicts = false;
            } else if let Some(fix) = parse_fix(line) {
                out.entry(patch).or_default().push(fix);
            }
        }
    }
    out
}

fn parse_fix(text: &str) -> Option<Fix> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [capability, "<", edition] = words.as_slice() else {
        return None;
    };
    if capability.contains(':') {
        return None;
    }
    // An arch suffix is one of the known rpm architectures; package names
    // themselves contain dots (python3.11).
    let (name, arch) = match capability.rsplit_once('.') {
        Some((n, a)) if is_arch(a) => (n, Some(a.to_string())),
        _ => (*capability, None),
    };
    Some((name.to_string(), arch, edition.to_string()))
}

/// A patch name as SUSE's repositories give them (`SUSE-SLE-Module-Basesystem-15-SP5-2024-1234`,
/// `openSUSE-2024-123`): alphanumerics and `-._+:`, beginning with an
/// alphanumeric, so that it can never read as an option.
pub fn valid_patch_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._+:".contains(c))
}

fn is_arch(s: &str) -> bool {
    matches!(
        s,
        "noarch"
            | "x86_64"
            | "i586"
            | "i686"
            | "aarch64"
            | "ppc64le"
            | "s390x"
            | "armv7hl"
            | "riscv64"
    )
}

/// A needed security patch, the arch it names (if any) and the edition that fixes.
type PatchFix<'a> = (&'a Patch, Option<&'a str>, &'a str);

/// Joins the answers. A needed security patch counts for a pending update
/// when it names the package (and, where given, its arch) with a fixed
/// edition newer than the installed one and no newer than the candidate.
pub fn build_updates(
    updates: &[PackageUpdate],
    patches: &[Patch],
    fixes: &BTreeMap<String, Vec<Fix>>,
) -> Vec<Update> {
    // Package name → (patch, arch, fixed edition), over the needed security patches.
    let mut by_package: BTreeMap<&str, Vec<PatchFix>> = BTreeMap::new();
    for p in patches
        .iter()
        .filter(|p| p.is_security() && p.status == "needed")
    {
        for (name, arch, edition) in fixes.get(&p.name).into_iter().flatten() {
            by_package.entry(name.as_str()).or_default().push((
                p,
                arch.as_deref(),
                edition.as_str(),
            ));
        }
    }
    let mut out: Vec<Update> = updates
        .iter()
        .map(|u| {
            let mut severity: Option<Severity> = None;
            let mut ids = BTreeSet::new();
            let mut cves = BTreeSet::new();
            for (p, arch, edition) in by_package.get(u.name.as_str()).into_iter().flatten() {
                let applies = arch.is_none_or(|a| a == u.arch || a == "noarch")
                    && compare_evr(edition, &u.edition).is_le()
                    && compare_evr(edition, &u.edition_old).is_gt();
                if applies {
                    let s = severity_word(&p.severity);
                    severity = Some(severity.map_or(s, |old| old.min(s)));
                    ids.insert(p.name.clone());
                    cves.extend(p.cves.iter().cloned());
                }
            }
            Update {
                name: u.name.clone(),
                arch: u.arch.clone(),
                installed_version: u.edition_old.clone(),
                candidate_version: u.edition.clone(),
                security: severity,
                held: None,
                repository: Some(u.repo.clone()).filter(|r| !r.is_empty()),
                advisories: ids.into_iter().collect(),
                cves: cves.into_iter().collect(),
            }
        })
        .collect();
    out.sort_by(|x, y| (&x.name, &x.arch).cmp(&(&y.name, &y.arch)));
    out.dedup_by(|a, b| a.name == b.name && a.arch == b.arch);
    out
}

/// The zypper collector.
pub struct Zypper {
    ctx: Context,
}

impl Zypper {
    pub fn new(ctx: Context) -> Self {
        Zypper { ctx }
    }

    fn root(&self, path: &str) -> PathBuf {
        self.ctx.rootfs.join(path)
    }

    fn run(&self, refresh: bool, args: &[&str]) -> Result<String, CollectError> {
        let mut all = vec!["--non-interactive".to_string()];
        if !refresh {
            all.push("--no-refresh".into());
        }
        if self.ctx.rootfs != Path::new("/") {
            all.push("--root".into());
            all.push(self.ctx.rootfs.display().to_string());
        }
        all.extend(args.iter().map(|a| a.to_string()));
        let out = exec::run("zypper", &all, self.ctx.timeout)?;
        match out.status {
            0 | 100 | 101 | 102 | 103 => Ok(out.stdout),
            status => {
                let why = match status {
                    104 => " (a requested name was not found)",
                    106 => " (some repositories were skipped: the answer would be incomplete; run `zypper refresh`)",
                    _ => "",
                };
                let mut stderr = out.stderr.lines().take(5).collect::<Vec<_>>().join(" | ");
                stderr.push_str(why);
                Err(CollectError::Failed {
                    program: format!("zypper {}", args.join(" ")),
                    status,
                    stderr,
                })
            }
        }
    }

    /// `/run/reboot-needed` (written by zypper after an update that needs
    /// one), else `zypper needs-rebooting` on the running host (exit 102),
    /// else the running kernel against the newest installed one.
    fn reboot(&self, installed: &[rpm::RpmPackage]) -> Reboot {
        if self.root("run/reboot-needed").exists() {
            return Reboot {
                required: true,
                packages: Vec::new(),
            };
        }
        if self.ctx.rootfs == Path::new("/") {
            match exec::run("zypper", &["needs-rebooting".to_string()], self.ctx.timeout) {
                Ok(out) if out.status == 102 => {
                    return Reboot {
                        required: true,
                        packages: Vec::new(),
                    }
                }
                Ok(out) if out.status == 0 => return Reboot::default(),
                Ok(out) => tracing::debug!(
                    status = out.status,
                    "zypper needs-rebooting is not available; comparing kernels instead"
                ),
                Err(e) => {
                    tracing::debug!(error = %e, "zypper needs-rebooting failed; comparing kernels instead")
                }
            }
        }
        rpm::kernel_reboot(installed, reboot::running_kernel().as_deref())
    }
}

impl Collector for Zypper {
    fn manager(&self) -> Manager {
        Manager::Zypper
    }

    fn collect(&self) -> Result<Inventory, CollectError> {
        for tool in ["zypper", "rpm"] {
            if !exec::available(tool) {
                return Err(CollectError::Unavailable {
                    manager: Manager::Zypper,
                    reason: format!("{tool} is not installed"),
                });
            }
        }
        if self.ctx.refresh_metadata {
            self.run(true, &["refresh"])?;
        }
        let installed = rpm::installed(&self.ctx)?;
        let updates = parse_list_updates(&self.run(false, &["-x", "list-updates"])?)?;
        let patches = parse_list_patches(&self.run(false, &["-x", "list-patches"])?)?;
        let wanted: Vec<&str> = patches
            .iter()
            .filter(|p| p.is_security() && p.status == "needed")
            .map(|p| p.name.as_str())
            .filter(|name| {
                let ok = valid_patch_name(name);
                if !ok {
                    tracing::warn!(patch = %name, "a patch name from the repository metadata is not one zypper gives; it is not looked up");
                }
                ok
            })
            .collect();
        let mut fixes = BTreeMap::new();
        // One call for many patches; chunks keep the command line short.
        for chunk in wanted.chunks(200) {
            let mut args = vec!["info", "-t", "patch", "--"];
            args.extend(chunk);
            fixes.extend(parse_patch_info(&self.run(false, &args)?));
        }
        let updates = build_updates(&updates, &patches, &fixes);
        Ok(rpm::inventory(
            updates,
            &installed,
            self.reboot(&installed),
            &self.root("etc/zypp/repos.d"),
            &self.root("var/cache/zypp/raw"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_names_that_could_read_as_options_are_refused() {
        for ok in [
            "SUSE-SLE-Module-Basesystem-15-SP5-2024-1234",
            "openSUSE-2024-123",
            "patch.1",
        ] {
            assert!(valid_patch_name(ok), "{ok}");
        }
        for bad in ["", "--help", "-t", "a b", "a;b", "a/b"] {
            assert!(!valid_patch_name(bad), "{bad:?}");
        }
    }

    const LIST_UPDATES: &str = include_str!("../fixtures/zypper/list-updates.xml");
    const LIST_PATCHES: &str = include_str!("../fixtures/zypper/list-patches.xml");
    const INFO: &str = include_str!("../fixtures/zypper/info-patch.txt");

    #[test]
    fn zypper_output_gives_every_update_with_its_patches() {
        let updates = parse_list_updates(LIST_UPDATES).unwrap();
        assert_eq!(updates.len(), 8);
        let patches = parse_list_patches(LIST_PATCHES).unwrap();
        let fixes = parse_patch_info(INFO);
        assert_eq!(
            fixes["TEST-2026:0002"],
            vec![
                (
                    "beta".to_string(),
                    Some("x86_64".to_string()),
                    "2.1-1".to_string()
                ),
                (
                    "beta".to_string(),
                    Some("noarch".to_string()),
                    "2.1-1".to_string()
                ),
            ]
        );
        assert_eq!(
            fixes["TEST-2026:0004"],
            vec![("delta".to_string(), None, "2:3.1-1".to_string())]
        );
        let built = build_updates(&updates, &patches, &fixes);
        let u: BTreeMap<&str, &Update> = built.iter().map(|u| (u.name.as_str(), u)).collect();
        assert_eq!(u["alpha"].security, Some(Severity::Critical));
        assert_eq!(u["alpha"].cves, ["CVE-2026-0001"]);
        assert_eq!(u["beta"].security, Some(Severity::Important));
        assert_eq!(u["delta"].security, Some(Severity::Moderate));
        assert_eq!(u["delta"].advisories, ["TEST-2026:0004", "TEST-2026:0005"]);
        assert_eq!(u["epsilon"].security, Some(Severity::Important));
        assert_eq!(u["eta"].security, Some(Severity::Unknown));
        // A bugfix patch, and a fix newer than the candidate.
        assert_eq!(u["gamma"].security, None);
        assert_eq!(u["theta"].security, None);
        assert_eq!(u["delta"].installed_version, "2:3.0-1");
    }

    #[test]
    fn conflicts_skip_source_packages_and_keep_dotted_names() {
        let text = "Information for patch SUSE-SLE-Module-Basesystem-15-SP5-2024-1234:\n\
            ---------------------------------------------\n\
            Repository  : SLE-Module-Basesystem15-SP5-Updates\n\
            Category    : security\n\
            Conflicts   : [3]\n    \
            srcpackage:openssl-3 < 3.0.8-150500.5.20.1\n    \
            libopenssl3.x86_64 < 3.0.8-150500.5.20.1\n    \
            python3.11 < 3.11.8-150400.9.23.1\n\n";
        let fixes = parse_patch_info(text);
        let f = &fixes["SUSE-SLE-Module-Basesystem-15-SP5-2024-1234"];
        assert_eq!(f.len(), 2);
        assert_eq!(
            f[0],
            (
                "libopenssl3".into(),
                Some("x86_64".into()),
                "3.0.8-150500.5.20.1".into()
            )
        );
        assert_eq!(
            f[1],
            ("python3.11".into(), None, "3.11.8-150400.9.23.1".into())
        );
    }

    #[test]
    fn unreadable_xml_is_an_error_not_an_empty_list() {
        assert!(parse_list_updates("<stream><update-status").is_err());
        assert!(parse_list_patches("no xml at all").is_err());
    }
}
