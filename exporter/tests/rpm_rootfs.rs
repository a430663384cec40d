//! The real exporter binary against the real dnf and zypper (and rpm) on an
//! RPM install root built from scratch by `tests/rpm/make_tree.py`: tiny
//! packages built with rpmbuild, a local repository made by createrepo_c
//! with updateinfo advisories added by modifyrepo_c. No network.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{promtool_complaints, sample, EXPORTER};

struct RpmTree {
    dir: tempfile::TempDir,
}

impl RpmTree {
    fn build(extra_args: &[&str]) -> RpmTree {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rpm/make_tree.py");
        let out = Command::new("python3")
            .arg(&script)
            .arg(dir.path())
            .args(extra_args)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "make_tree.py failed (are rpm, createrepo-c and modifyrepo_c installed?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        RpmTree { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn expected(&self) -> serde_json::Value {
        serde_json::from_slice(&fs::read(self.dir.path().join("expected.json")).unwrap()).unwrap()
    }

    fn exporter(&self, manager: &str, refresh: bool, args: &[&str]) -> Output {
        self.exporter_with_path(None, manager, refresh, args)
    }

    fn exporter_with_path(
        &self,
        path: Option<&str>,
        manager: &str,
        refresh: bool,
        args: &[&str],
    ) -> Output {
        let config = self.dir.path().join("exporter.toml");
        fs::write(
            &config,
            format!(
                "site = \"TestSite\"\n[collector]\nrefresh_metadata = {refresh}\nupdate_info = \"all\"\ncache_dir = \"{}\"\n",
                self.dir.path().join("cache").display()
            ),
        )
        .unwrap();
        let mut c = Command::new(EXPORTER);
        c.arg("--config.file")
            .arg(&config)
            .arg("--path.rootfs")
            .arg(self.root())
            .args(["--collector.manager", manager])
            .args(args);
        if let Some(p) = path {
            c.env("PATH", p);
        }
        c.output().expect("exporter runs")
    }

    fn collect_json(&self, manager: &str, refresh: bool) -> serde_json::Value {
        let out = self.exporter(manager, refresh, &["collect", "--format", "json"]);
        assert!(
            out.status.success(),
            "{manager}: exporter failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON report")
    }

    /// What `rpm -qa` prints of every installed package: name, version as
    /// dnf shows it (the epoch only when there is one), arch, source rpm.
    fn rpm_qa(&self) -> Vec<String> {
        let out = Command::new("rpm")
            .arg("--root")
            .arg(self.root())
            .args([
                "-qa",
                "--qf",
                "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %{ARCH} %{SOURCERPM}\\n",
            ])
            .output()
            .expect("rpm runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("gpg-pubkey "))
            .map(str::to_string)
            .collect();
        lines.sort();
        assert!(lines.len() >= 10, "{lines:?}");
        lines
    }

    /// Every file of the rpm database, by content: a collection must not change it.
    fn rpmdb(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        for dir in ["root/.rpmdb", "var/lib/rpm", "usr/lib/sysimage/rpm"] {
            let Ok(entries) = fs::read_dir(self.root().join(dir)) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                // SQLite's shared-memory index and lock files change on any open.
                if name.ends_with("-shm") || name.ends_with(".lock") {
                    continue;
                }
                out.insert(e.path(), fs::read(e.path()).unwrap_or_default());
            }
        }
        assert!(!out.is_empty(), "the tree has an rpm database");
        out
    }
}

/// The report's inventory in the form of [`RpmTree::rpm_qa`]: the source
/// rpm's file name rebuilt from the source name and version (without epoch).
fn inventory(report: &serde_json::Value) -> Vec<String> {
    let mut lines: Vec<String> = report["installed"]
        .as_array()
        .expect("the report has the inventory")
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap().to_string();
            let source_version = s("source_version");
            let source_vr = source_version
                .split_once(':')
                .map_or(source_version.as_str(), |(_, vr)| vr);
            format!(
                "{} {} {} {}-{}.src.rpm",
                s("name"),
                s("version"),
                s("arch"),
                s("source_name"),
                source_vr
            )
        })
        .collect();
    lines.sort();
    lines
}

/// The report's updates, as the expected.json written by make_tree.py shows them.
fn as_expected(report: &serde_json::Value) -> serde_json::Value {
    let updates: serde_json::Map<String, serde_json::Value> = report["updates"]
        .as_array()
        .expect("updates")
        .iter()
        .map(|u| {
            let severity = if u["security"].as_bool().unwrap() {
                u["severity"].clone()
            } else {
                serde_json::Value::Null
            };
            (
                u["name"].as_str().unwrap().to_string(),
                serde_json::json!({
                    "arch": u["arch"],
                    "installed_version": u["installed_version"],
                    "candidate_version": u["candidate_version"],
                    "severity": severity,
                    "advisories": u["advisories"],
                    "cves": u["cves"],
                }),
            )
        })
        .collect();
    serde_json::json!({
        "installed": report["installed_packages"],
        "updates": updates,
    })
}

#[test]
fn dnf_and_zypper_see_every_update_advisory_and_severity() {
    let tree = RpmTree::build(&[]);
    let db_before = tree.rpmdb();
    for manager in ["dnf", "zypper"] {
        let report = tree.collect_json(manager, true);
        assert_eq!(report["manager"], manager);
        assert_eq!(report["security_metadata_available"], true, "{manager}");
        assert_eq!(as_expected(&report), tree.expected(), "{manager}");
        assert_eq!(
            inventory(&report),
            tree.rpm_qa(),
            "{manager}: the inventory is rpm's"
        );
        assert!(
            report["metadata_updated_at"].is_string(),
            "{manager}: the cache's age is known"
        );
        // From the cache alone, without refreshing, the answer is the same.
        let cached = tree.collect_json(manager, false);
        assert_eq!(
            as_expected(&cached),
            tree.expected(),
            "{manager}, from cache"
        );
    }
    let db_after = tree.rpmdb();
    for (path, bytes) in &db_before {
        assert!(
            db_after.get(path) == Some(bytes),
            "{} changed",
            path.display()
        );
    }
}

#[test]
fn the_metrics_count_packages_not_advisories() {
    let tree = RpmTree::build(&[]);
    for manager in ["dnf", "zypper"] {
        let out = tree.exporter(manager, true, &["collect"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(promtool_complaints(&text), "", "{manager}");
        let s = |name: &str, needles: &[&str]| {
            sample(&text, name, needles).unwrap_or_else(|| panic!("{manager}: {name} {needles:?}"))
        };
        assert_eq!(s("pakiti_updates_pending", &[]), 8.0, "{manager}");
        // delta has two security advisories (low and moderate): one package, moderate.
        for (severity, n) in [
            ("critical", 1.0),
            ("important", 2.0),
            ("moderate", 1.0),
            ("low", 0.0),
            ("unknown", 1.0),
        ] {
            assert_eq!(
                s(
                    "pakiti_security_updates_pending",
                    &[&format!("severity=\"{severity}\"")]
                ),
                n,
                "{manager} {severity}"
            );
        }
        assert_eq!(s("pakiti_updates_held", &[]), 0.0);
        assert_eq!(s("pakiti_installed_packages", &[]), 10.0);
        assert_eq!(s("pakiti_security_metadata_available", &[]), 1.0);
        assert_eq!(s("pakiti_collection_success", &[]), 1.0);
        assert_eq!(
            s("pakiti_host_info", &[&format!("manager=\"{manager}\"")]),
            1.0
        );
        assert_eq!(
            s(
                "pakiti_update_info",
                &[
                    "package=\"delta\"",
                    "installed_version=\"2:3.0-1\"",
                    "candidate_version=\"2:3.1-1\"",
                    "severity=\"moderate\""
                ]
            ),
            1.0
        );
    }
}

#[test]
fn without_updateinfo_a_zero_security_count_says_so() {
    let tree = RpmTree::build(&["--no-updateinfo"]);
    for manager in ["dnf", "zypper"] {
        let report = tree.collect_json(manager, true);
        assert_eq!(report["security_metadata_available"], false, "{manager}");
        assert_eq!(as_expected(&report), tree.expected(), "{manager}");
        let out = tree.exporter(manager, false, &["collect"]);
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            sample(&text, "pakiti_security_metadata_available", &[]),
            Some(0.0)
        );
        assert_eq!(sample(&text, "pakiti_updates_pending", &[]), Some(8.0));
    }
}

#[test]
fn an_empty_metadata_cache_fails_the_collection_clearly() {
    let tree = RpmTree::build(&[]);
    // Nothing was ever fetched and refreshing is off: dnf cannot answer.
    let out = tree.exporter("dnf", false, &["collect"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("makecache") && err.contains("refresh_metadata"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no invented zeros");
    // textfile mode records the failure for node_exporter.
    let prom = tree.dir.path().join("pakiti.prom");
    let out = tree.exporter(
        "dnf",
        false,
        &["textfile", "--output", prom.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = fs::read_to_string(&prom).unwrap();
    assert_eq!(sample(&text, "pakiti_collection_success", &[]), Some(0.0));
    assert_eq!(
        sample(&text, "pakiti_updates_pending", &[]),
        None,
        "counts are absent, not 0"
    );
}

#[test]
fn os_release_picks_the_manager() {
    let tree = RpmTree::build(&[]);
    // ID_LIKE="rhel fedora": auto means dnf.
    let report = {
        let out = tree.exporter("auto", true, &["collect", "--format", "json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(report["manager"], "dnf");
    assert_eq!(report["updates"].as_array().unwrap().len(), 8);
}

/// Where `dnf` is dnf5 (Fedora 41 and later), pakiti runs dnf 4 beside it
/// (`dnf4` or `dnf-3`, here Debian's real `dnf-3`), and without one it says
/// what to install rather than misread dnf5.
#[test]
fn beside_dnf5_dnf_4_is_used_and_without_it_the_error_says_what_to_install() {
    let tree = RpmTree::build(&[]);
    let bin = tree.dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    // A stand-in dnf5 that must never run: dnf is a link to it, as on Fedora.
    fs::write(
        bin.join("dnf5"),
        "#!/bin/sh\necho dnf5 must not run >&2\nexit 3\n",
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(bin.join("dnf5"))
        .status()
        .unwrap();
    std::os::unix::fs::symlink(bin.join("dnf5"), bin.join("dnf")).unwrap();
    let with_dnf4 = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = tree.exporter_with_path(
        Some(&with_dnf4),
        "dnf",
        true,
        &["collect", "--format", "json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(as_expected(&report), tree.expected());
    // Only dnf5 and rpm on PATH.
    let only = tree.dir.path().join("only");
    fs::create_dir_all(&only).unwrap();
    std::os::unix::fs::symlink(bin.join("dnf5"), only.join("dnf")).unwrap();
    let rpm = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v rpm"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::os::unix::fs::symlink(rpm.trim(), only.join("rpm")).unwrap();
    let out = tree.exporter_with_path(Some(only.to_str().unwrap()), "dnf", false, &["collect"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dnf5") && err.contains("dnf4 package"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no invented zeros");
}
