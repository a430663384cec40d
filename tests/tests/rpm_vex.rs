//! Two views of one RHEL-like host agree: what dnf (and zypper) say from updateinfo
//! (the exporter's security updates, with their CVEs and severity) and what
//! matching Red Hat's CSAF VEX says (fixed findings whose fix the host can
//! install now). Both are generated from the same advisories by
//! `exporter/tests/rpm/make_tree.py --vex`: a hermetic install root and
//! repository for the real dnf, and one VEX document per CVE.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use common::bin;
use pakiti_report::{Installed, Severity};
use pakiti_vulns::{csaf, match_host, worst, HostPackages, Index, Status};
use serde_json::Value;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn severity(s: &str) -> Severity {
    Severity::ALL
        .into_iter()
        .find(|v| v.as_str() == s)
        .unwrap_or(Severity::Unknown)
}

#[test]
fn dnf_s_updateinfo_and_red_hat_s_vex_say_the_same_of_the_host() {
    agree("dnf");
}

#[test]
fn zypper_s_patches_and_red_hat_s_vex_say_the_same_of_the_host() {
    agree("zypper");
}

fn agree(manager: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = Command::new("python3")
        .arg(format!("{ROOT}/exporter/tests/rpm/make_tree.py"))
        .arg(d)
        .arg("--vex")
        .arg(d.join("vex"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = d.join("exporter.toml");
    std::fs::write(
        &config,
        format!(
            "[collector]\nrefresh_metadata = true\nupdate_info = \"all\"\ncache_dir = \"{}\"\n",
            d.join("cache").display()
        ),
    )
    .unwrap();
    let out = Command::new(bin("pakiti-exporter"))
        .arg("--config.file")
        .arg(&config)
        .arg("--path.rootfs")
        .arg(d.join("root"))
        .args([
            "--collector.manager",
            manager,
            "collect",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();

    // dnf's view: (package, CVE) of each security update, and its severity.
    let mut dnf: BTreeSet<(String, String)> = BTreeSet::new();
    let mut dnf_severity: BTreeMap<String, Severity> = BTreeMap::new();
    let mut candidates: HashMap<(String, String), String> = HashMap::new();
    for u in report["updates"].as_array().unwrap() {
        let name = u["name"].as_str().unwrap().to_string();
        candidates.insert(
            (name.clone(), u["arch"].as_str().unwrap().to_string()),
            u["candidate_version"].as_str().unwrap().to_string(),
        );
        if u["security"] == true {
            dnf_severity.insert(name.clone(), severity(u["severity"].as_str().unwrap()));
            for c in u["cves"].as_array().unwrap() {
                dnf.insert((name.clone(), c.as_str().unwrap().to_string()));
            }
        }
    }
    assert!(dnf.len() >= 5, "{report}");

    // The VEX's view, matched against the inventory the same report carries.
    let installed: Vec<Installed> = report["installed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Installed {
            source_name: p["source_name"].as_str().unwrap().to_string(),
            source_version: p["source_version"].as_str().unwrap().to_string(),
            ..Installed::new(
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap(),
                p["arch"].as_str().unwrap(),
            )
        })
        .collect();
    let mut records = Vec::new();
    for e in std::fs::read_dir(d.join("vex")).unwrap() {
        let path = e.unwrap().path();
        csaf::read_one(&std::fs::read(&path).unwrap(), |r| records.push(r))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let releases = vec!["rhel:9".to_string()];
    let findings = match_host(
        &HostPackages {
            scheme: pakiti_versions::Scheme::Rpm,
            releases: &releases,
            installed: &installed,
            candidates: &candidates,
            running_kernel: None,
        },
        Index::new(records),
    );
    let installable: BTreeSet<(String, String)> = findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fixed(_)) && f.fix_available)
        .map(|f| (f.package.clone(), f.id.clone()))
        .collect();
    assert_eq!(installable, dnf, "{manager}: VEX {findings:#?}");
    // Severity: each package's worst, as dnf gives it.
    for (pkg, sev) in &dnf_severity {
        let vex = worst(
            findings
                .iter()
                .filter(|f| &f.package == pkg && f.fix_available)
                .map(|f| f.severity),
        );
        assert_eq!(vex, *sev, "{manager}: {pkg}");
    }
    // What the VEX knows beyond: a fix no candidate reaches yet; what is
    // already installed (an older fix, the installed version's own) is no
    // finding in either view.
    let not_yet: Vec<(String, String)> = findings
        .iter()
        .filter(|f| !f.fix_available)
        .map(|f| (f.package.clone(), f.id.clone()))
        .collect();
    assert_eq!(
        not_yet,
        [("theta".to_string(), "CVE-2026-0009".to_string())]
    );
    assert!(findings
        .iter()
        .all(|f| f.id != "CVE-2025-0009" && f.id != "CVE-2026-0007"));
    assert!(Path::new(&d.join("vex/cve-2026-0007.json")).exists());
}
