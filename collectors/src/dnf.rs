//! dnf (Fedora, RHEL 8+, Rocky, Alma) and yum (CentOS and RHEL 7): pending
//! updates from `check-update`, security from the repositories' updateinfo
//! advisories (`updateinfo list --security`), installed versions from rpm.
//!
//! Every call runs from the metadata cache (`-C`), so a collection never
//! touches the network unless `refresh_metadata` asks for `makecache` first.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use pakiti_report::{Inventory, Manager, Severity, Update};

use crate::rpm::{self, display_evr, Nevra, RpmPackage};
use crate::{exec, reboot, severity_word, CollectError, Collector, Context};
use pakiti_versions::rpm::compare_evr;

/// One row of `check-update`: the newest version of an installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    pub name: String,
    pub arch: String,
    pub evr: String,
    pub repo: String,
}

/// Parses `check-update` output. Rows are `name.arch evr repo`; dnf and yum
/// wrap a row whose name is too long onto the next line. The list of
/// obsoleting packages that may follow is not a list of updates.
pub fn parse_check_update(text: &str) -> Vec<Available> {
    let mut out = Vec::new();
    let mut pending: Vec<&str> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("Obsoleting Packages") {
            break;
        }
        if trimmed.is_empty() {
            pending.clear();
            continue;
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let row: Vec<&str> = if !pending.is_empty() && words.len() == 2 && line.starts_with(' ') {
            pending.iter().chain(words.iter()).copied().collect()
        } else {
            words
        };
        pending.clear();
        match row.as_slice() {
            [name_arch] if name_arch.contains('.') && !name_arch.ends_with('.') => {
                pending.push(name_arch)
            }
            [name_arch, evr, repo] => {
                let Some((name, arch)) = name_arch.rsplit_once('.') else {
                    continue;
                };
                if name.is_empty()
                    || arch.is_empty()
                    || !evr.starts_with(|c: char| c.is_ascii_alphanumeric())
                    || !evr.contains('-')
                {
                    continue;
                }
                out.push(Available {
                    name: name.to_string(),
                    arch: arch.to_string(),
                    evr: evr.to_string(),
                    repo: repo.to_string(),
                });
            }
            _ => {}
        }
    }
    out
}

/// One row of `updateinfo list`: an advisory (or CVE) for a package version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisoryRow {
    /// The advisory id, or the CVE id in the CVE listing.
    pub id: String,
    /// `Some` for security advisories.
    pub security: Option<Severity>,
    pub package: Nevra,
}

/// Parses `updateinfo list` rows: `ID TYPE name-evr.arch`, where TYPE is
/// `Critical/Sec.`, `Important/Sec.` … for security advisories (`Sec.` or
/// `Unknown/Sec.` when the advisory has no severity) and `bugfix`,
/// `enhancement`, `newpackage` otherwise. `dnf updateinfo list --all` marks
/// installed advisories with a leading `i`; those are skipped.
pub fn parse_updateinfo(text: &str) -> Vec<AdvisoryRow> {
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let [id, kind, label] = words.as_slice() else {
                return None;
            };
            let package = Nevra::parse(label)?;
            let security = if *kind == "Sec." || kind.eq_ignore_ascii_case("security") {
                Some(Severity::Unknown)
            } else {
                kind.strip_suffix("/Sec.").map(severity_word)
            };
            Some(AdvisoryRow {
                id: id.to_string(),
                security,
                package,
            })
        })
        .collect()
}

/// Joins the answers into updates. An advisory counts for a pending update
/// when it names the same package and architecture at a version newer than
/// the installed one and no newer than the candidate; the update's severity
/// is the highest of its advisories.
pub fn build_updates(
    installed: &[RpmPackage],
    available: &[Available],
    advisories: &[AdvisoryRow],
    cves: &[AdvisoryRow],
) -> Vec<Update> {
    let applies = |row: &AdvisoryRow, a: &Available, installed_evr: &str| {
        row.package.name == a.name
            && row.package.arch == a.arch
            && compare_evr(&row.package.evr, &a.evr).is_le()
            && compare_evr(&row.package.evr, installed_evr).is_gt()
    };
    // Rows by package name, so each update looks at its own advisories only.
    let (advisories, cves) = (by_package(advisories), by_package(cves));
    let none: Vec<&AdvisoryRow> = Vec::new();
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for a in available {
        if !seen.insert((a.name.as_str(), a.arch.as_str())) {
            continue;
        }
        let Some(installed_evr) = rpm::installed_version(installed, &a.name, &a.arch) else {
            // check-update only lists upgrades of installed packages.
            tracing::debug!(package = %a.name, arch = %a.arch, "an update for a package rpm does not list; skipped");
            continue;
        };
        let mut severity: Option<Severity> = None;
        let mut ids = BTreeSet::new();
        let of_package = advisories.get(a.name.as_str()).unwrap_or(&none);
        for row in of_package.iter().filter(|r| applies(r, a, installed_evr)) {
            if let Some(s) = row.security {
                severity = Some(severity.map_or(s, |old| old.min(s)));
                ids.insert(row.id.clone());
            }
        }
        let cve_ids: BTreeSet<String> = if severity.is_some() {
            cves.get(a.name.as_str())
                .unwrap_or(&none)
                .iter()
                .filter(|r| r.security.is_some() && applies(r, a, installed_evr))
                .map(|r| r.id.clone())
                .collect()
        } else {
            BTreeSet::new()
        };
        out.push(Update {
            name: a.name.clone(),
            arch: a.arch.clone(),
            installed_version: display_evr(installed_evr).to_string(),
            candidate_version: a.evr.clone(),
            security: severity,
            held: None,
            repository: Some(a.repo.clone()),
            advisories: ids.into_iter().collect(),
            cves: cve_ids.into_iter().collect(),
        });
    }
    out.sort_by(|x, y| (&x.name, &x.arch).cmp(&(&y.name, &y.arch)));
    out
}

fn by_package(rows: &[AdvisoryRow]) -> HashMap<&str, Vec<&AdvisoryRow>> {
    let mut m: HashMap<&str, Vec<&AdvisoryRow>> = HashMap::new();
    for r in rows {
        m.entry(r.package.name.as_str()).or_default().push(r);
    }
    m
}

/// The dnf or yum collector.
pub struct Dnf {
    ctx: Context,
    manager: Manager,
}

impl Dnf {
    pub fn new(ctx: Context) -> Self {
        Dnf {
            ctx,
            manager: Manager::Dnf,
        }
    }

    pub fn yum(ctx: Context) -> Self {
        Dnf {
            ctx,
            manager: Manager::Yum,
        }
    }

    /// The program to run: yum; or dnf, unless dnf is dnf5 and dnf 4 is
    /// installed beside it (`dnf4`, Fedora's package; `dnf-3`).
    fn program(&self) -> &'static str {
        match self.manager {
            Manager::Yum => "yum",
            _ if is_dnf5(exec::which("dnf").as_deref()) => ["dnf4", "dnf-3"]
                .into_iter()
                .find(|p| exec::available(p))
                .unwrap_or("dnf"),
            _ => "dnf",
        }
    }

    fn root(&self, path: &str) -> PathBuf {
        self.ctx.rootfs.join(path)
    }

    /// Runs the tool from its cache, in the inspected tree.
    fn run(&self, cache_only: bool, args: &[&str]) -> Result<exec::Output, CollectError> {
        // Not quiet: with -q, dnf hides "Ignoring repositories" and exits 0.
        // Plugins stay on: versionlock and excludes decide what is pending,
        // and yum's security plugin is what gives it updateinfo.
        let mut all = Vec::new();
        if cache_only {
            all.push("-C".into());
        }
        if self.ctx.rootfs != Path::new("/") {
            all.push(format!("--installroot={}", self.ctx.rootfs.display()));
        }
        all.extend(args.iter().map(|a| a.to_string()));
        exec::run(self.program(), &all, self.ctx.timeout)
    }

    fn run_ok(&self, args: &[&str]) -> Result<String, CollectError> {
        let out = self.run(true, args)?;
        if out.status != 0 || skipped_repositories(&out.stderr) {
            return Err(self.failed(args, &out));
        }
        Ok(out.stdout)
    }

    fn failed(&self, args: &[&str], out: &exec::Output) -> CollectError {
        let mut stderr = out.stderr.lines().take(5).collect::<Vec<_>>().join(" | ");
        if out.stderr.contains("Cache-only enabled but no cache") {
            stderr.push_str(" (a repository has no metadata in the cache: run `makecache`, or set refresh_metadata = true)");
        } else if skipped_repositories(&out.stderr) {
            stderr.push_str(" (repositories were skipped: the answer would be incomplete)");
        }
        CollectError::Failed {
            program: format!("{} {}", self.program(), args.join(" ")),
            status: out.status,
            stderr,
        }
    }

    fn check_update(&self) -> Result<Vec<Available>, CollectError> {
        let out = self.run(true, &["check-update"])?;
        match out.status {
            // 100: updates are available; 0: none.
            0 | 100 if !skipped_repositories(&out.stderr) => Ok(parse_check_update(&out.stdout)),
            _ => Err(self.failed(&["check-update"], &out)),
        }
    }

    fn cache_root(&self) -> PathBuf {
        match self.manager {
            Manager::Yum => self.root("var/cache/yum"),
            _ => self.root("var/cache/dnf"),
        }
    }
}

impl Collector for Dnf {
    fn manager(&self) -> Manager {
        self.manager
    }

    fn collect(&self) -> Result<Inventory, CollectError> {
        let program = self.program();
        for tool in [program, "rpm"] {
            if !exec::available(tool) {
                return Err(CollectError::Unavailable {
                    manager: self.manager,
                    reason: format!("{tool} is not installed"),
                });
            }
        }
        // dnf5 (Fedora 41 and later) prints other formats; reading them as
        // dnf 4's would invent zeros, so without dnf 4 beside it pakiti refuses.
        if program == "dnf" && is_dnf5(exec::which("dnf").as_deref()) {
            return Err(CollectError::Unavailable {
                manager: self.manager,
                reason: "dnf here is dnf5, whose output this version of pakiti does not read yet; install dnf 4 beside it (Fedora's dnf4 package), which pakiti then uses".into(),
            });
        }
        if self.ctx.refresh_metadata {
            let out = self.run(false, &["makecache"])?;
            if out.status != 0 {
                return Err(self.failed(&["makecache"], &out));
            }
        }
        let installed = rpm::installed(&self.ctx)?;
        let available = self.check_update()?;
        let advisories = parse_updateinfo(&self.run_ok(&["updateinfo", "list", "--security"])?);
        let cve_args: &[&str] = match self.manager {
            Manager::Yum => &["updateinfo", "list", "cves"],
            _ => &["updateinfo", "list", "--security", "--with-cve"],
        };
        let cves = parse_updateinfo(&self.run_ok(cve_args)?);
        let updates = build_updates(&installed, &available, &advisories, &cves);
        Ok(rpm::inventory(
            updates,
            &installed,
            self.reboot(&installed),
            &self.root("etc/yum.repos.d"),
            &self.cache_root(),
        ))
    }
}

impl Dnf {
    /// `needs-restarting -r` (dnf-plugins-core, yum-utils) on the running
    /// host: exit 1 means a reboot is needed. Elsewhere, or without the
    /// plugin: the running kernel against the newest installed one.
    fn reboot(&self, installed: &[RpmPackage]) -> pakiti_report::Reboot {
        if self.ctx.rootfs == Path::new("/") {
            let tried = match self.manager {
                Manager::Yum if exec::available("needs-restarting") => Some(exec::run(
                    "needs-restarting",
                    &["-r".to_string()],
                    self.ctx.timeout,
                )),
                Manager::Yum => None,
                _ => Some(self.run(true, &["needs-restarting", "-r"])),
            };
            match tried {
                Some(Ok(out)) if out.status == 0 => return pakiti_report::Reboot::default(),
                Some(Ok(out)) if out.status == 1 && out.stdout.contains("eboot") => {
                    return pakiti_report::Reboot {
                        required: true,
                        packages: parse_needs_restarting(&out.stdout),
                    };
                }
                Some(Ok(out)) => {
                    tracing::debug!(
                        status = out.status,
                        "needs-restarting is not available; comparing kernels instead"
                    )
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "needs-restarting failed; comparing kernels instead")
                }
                None => {}
            }
        }
        rpm::kernel_reboot(installed, reboot::running_kernel().as_deref())
    }
}

/// Whether the `dnf` found is dnf5 (a link to, or a copy named, `dnf5`).
pub fn is_dnf5(dnf: Option<&std::path::Path>) -> bool {
    dnf.and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().starts_with("dnf5"))
        })
        .unwrap_or(false)
}

/// dnf carries on without a repository whose metadata it cannot load
/// (`Ignoring repositories: …`, e.g. an empty cache with `-C`) and exits 0:
/// its answer would be missing that repository's updates, so it is refused.
pub fn skipped_repositories(stderr: &str) -> bool {
    stderr.contains("Ignoring repositories:") || stderr.contains("Cache-only enabled but no cache")
}

/// The packages `needs-restarting -r` names after "Core libraries or
/// services have been updated since boot-up:" (lines `  * name`).
pub fn parse_needs_restarting(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("* "))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty() && !p.contains(' '))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const CHECK_UPDATE: &str = include_str!("../fixtures/dnf/check-update.txt");
    const SECURITY: &str = include_str!("../fixtures/dnf/updateinfo-security.txt");
    const CVES: &str = include_str!("../fixtures/dnf/updateinfo-security-cve.txt");
    const RPM_QA: &str = include_str!("../fixtures/dnf/rpm-qa.txt");
    const YUM_CHECK_UPDATE: &str = include_str!("../fixtures/dnf/yum-check-update.txt");
    const YUM_SECURITY: &str = include_str!("../fixtures/dnf/yum-updateinfo-security.txt");

    fn by_name(updates: &[Update]) -> BTreeMap<&str, &Update> {
        updates.iter().map(|u| (u.name.as_str(), u)).collect()
    }

    #[test]
    fn dnf_output_gives_every_update_with_its_advisories() {
        let installed = rpm::parse_installed(RPM_QA);
        let available = parse_check_update(CHECK_UPDATE);
        assert_eq!(available.len(), 8);
        let updates = build_updates(
            &installed,
            &available,
            &parse_updateinfo(SECURITY),
            &parse_updateinfo(CVES),
        );
        let u = by_name(&updates);
        assert_eq!(u["alpha"].security, Some(Severity::Critical));
        assert_eq!(u["beta"].cves, ["CVE-2026-0002", "CVE-2026-0003"]);
        // Two advisories, one package, the higher severity.
        assert_eq!(u["delta"].security, Some(Severity::Moderate));
        assert_eq!(u["delta"].advisories, ["TEST-2026:0004", "TEST-2026:0005"]);
        assert_eq!(u["delta"].installed_version, "2:3.0-1");
        assert_eq!(u["delta"].candidate_version, "2:3.1-1");
        // Fixed in between installed and candidate.
        assert_eq!(u["epsilon"].security, Some(Severity::Important));
        assert_eq!(u["eta"].security, Some(Severity::Unknown));
        // Fixed only after the candidate; a bugfix advisory.
        assert_eq!(u["theta"].security, None);
        assert!(u["theta"].advisories.is_empty());
        assert_eq!(u["gamma"].security, None);
        assert_eq!(u["gamma"].repository.as_deref(), Some("tests"));
    }

    #[test]
    fn yum_output_with_wrapped_rows_obsoletes_and_epochs() {
        let available = parse_check_update(YUM_CHECK_UPDATE);
        let names: Vec<&str> = available.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "NetworkManager",
                "bind-libs",
                "java-1.8.0-openjdk-headless",
                "kernel",
                "python-perf-debuginfo-common-with-a-very-long-name",
                "openssl",
                "tzdata"
            ]
        );
        assert_eq!(available[4].evr, "3.10.0-1160.108.1.el7");
        let installed = rpm::parse_installed(
            "NetworkManager\tx86_64\t1:1.18.8-1.el7\n\
             bind-libs\tx86_64\t32:9.11.4-26.P2.el7_9.14\n\
             java-1.8.0-openjdk-headless\tx86_64\t1:1.8.0.392.b08-2.el7_9\n\
             kernel\tx86_64\t0:3.10.0-1160.102.1.el7\n\
             kernel\tx86_64\t0:3.10.0-1160.105.1.el7\n\
             python-perf-debuginfo-common-with-a-very-long-name\tx86_64\t0:3.10.0-1160.105.1.el7\n\
             openssl\tx86_64\t1:1.0.2k-25.el7_9\n\
             tzdata\tnoarch\t0:2023c-1.el7\n",
        );
        let advisories = parse_updateinfo(YUM_SECURITY);
        assert_eq!(advisories.len(), 7);
        let updates = build_updates(&installed, &available, &advisories, &[]);
        let u = by_name(&updates);
        assert_eq!(updates.len(), 7);
        assert_eq!(u["bind-libs"].security, Some(Severity::Important));
        assert_eq!(
            u["java-1.8.0-openjdk-headless"].security,
            Some(Severity::Moderate)
        );
        // The newest installed kernel already has the Low fix; the Important one is pending.
        assert_eq!(u["kernel"].installed_version, "3.10.0-1160.105.1.el7");
        assert_eq!(u["kernel"].advisories, ["RHSA-2024:0346"]);
        // The Critical openssl fix is older than what is installed.
        assert_eq!(u["openssl"].security, Some(Severity::Important));
        assert_eq!(u["openssl"].advisories, ["RHSA-2023:3741"]);
        assert_eq!(u["tzdata"].security, None);
    }

    #[test]
    fn advisory_types_are_read() {
        let rows = parse_updateinfo(
            "A-1 bugfix pkg-1.0-1.noarch\nA-2 enhancement pkg-1.0-1.noarch\nA-3 Sec. pkg-1.0-1.noarch\nA-4 Critical/Sec. pkg-1:1.0-1.x86_64\n",
        );
        let kinds: Vec<Option<Severity>> = rows.iter().map(|r| r.security).collect();
        assert_eq!(
            kinds,
            [
                None,
                None,
                Some(Severity::Unknown),
                Some(Severity::Critical)
            ]
        );
        assert_eq!(rows[3].package.evr, "1:1.0-1");
    }

    #[test]
    fn dnf5_is_recognised_by_its_link() {
        let dir = tempfile::tempdir().unwrap();
        let dnf5 = dir.path().join("dnf5");
        std::fs::write(&dnf5, "").unwrap();
        let link = dir.path().join("dnf");
        std::os::unix::fs::symlink(&dnf5, &link).unwrap();
        assert!(is_dnf5(Some(&link)));
        let dnf4 = dir.path().join("dnf-3");
        std::fs::write(&dnf4, "").unwrap();
        assert!(!is_dnf5(Some(&dnf4)));
        assert!(!is_dnf5(None));
    }

    #[test]
    fn needs_restarting_names_packages() {
        let text = "Core libraries or services have been updated since boot-up:\n  * kernel\n  * systemd\n\nReboot is required to fully utilize these updates.\nMore information: https://access.redhat.com/solutions/27943\n";
        assert_eq!(parse_needs_restarting(text), ["kernel", "systemd"]);
    }
}
