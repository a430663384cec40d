//! The real exporter binary and the real apt against a Debian tree mounted
//! elsewhere (`--path.rootfs`), with local repositories whose Release fields
//! make them main, security, backports, a third party that calls itself
//! "-security", and Ubuntu ESM.

mod common;

use std::collections::BTreeMap;
use std::fs;

use common::*;

/// name → (candidate, security, held_reason)
fn updates(json: &serde_json::Value) -> BTreeMap<String, (String, bool, Option<String>)> {
    json["updates"]
        .as_array()
        .expect("updates array")
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_string(),
                (
                    u["candidate_version"].as_str().unwrap().to_string(),
                    u["security"].as_bool().unwrap(),
                    u["held_reason"].as_str().map(str::to_string),
                ),
            )
        })
        .collect()
}

fn collect_json(tree: &Tree) -> serde_json::Value {
    let out = tree.exporter(&["collect", "--format", "json"]);
    assert!(
        out.status.success(),
        "exporter failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn e(c: &str, security: bool, held: Option<&str>) -> (String, bool, Option<String>) {
    (c.to_string(), security, held.map(str::to_string))
}

#[test]
fn a_tree_mounted_elsewhere_is_read_as_apt_sees_it() {
    let tree = scenario();
    let status_before = fs::read(tree.path("var/lib/dpkg/status")).unwrap();
    let report = collect_json(&tree);
    let expected: BTreeMap<String, _> = [
        ("sec-direct", e("1.0-1+deb12u1", true, None)),
        // The point release 2.0-1+deb12u2 supersedes the security fix 2.0-1+deb12u1.
        ("superseded", e("2.0-1+deb12u2", true, None)),
        ("plain", e("3.0-2", false, None)),
        ("held", e("4.1-1", false, Some("hold"))),
        ("keptback", e("5.1-1", false, Some("kept-back"))),
        // A third party's "bookworm-security" suite is not Debian's security archive.
        ("evil", e("8.0-2", false, None)),
        ("esm", e("9.0-1ubuntu0.1", true, None)),
        // Phased in for 0% of machines: apt defers it on this one.
        ("phased", e("10.0-2", false, Some("phased"))),
        // A security version below the installed one fixes nothing pending.
        ("old-sec", e("12.0-2", false, None)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // Not pending: pinned (pinned to the installed version), bpo (NotAutomatic
    // archive), current (candidate == installed), newdep (not installed).
    assert_eq!(updates(&report), expected);
    assert_eq!(report["installed_packages"], 12);
    assert_eq!(report["security_metadata_available"], true);
    assert_eq!(report["host"]["hostname"], "testhost.example.org");
    assert_eq!(
        report["host"]["machine_id"],
        "0123456789abcdef0123456789abcdef"
    );
    assert_eq!(report["host"]["site"], "TestSite");
    assert_eq!(report["os"]["id"], "debian");
    assert_eq!(report["reboot"]["required"], false);
    assert!(
        report["metadata_updated_at"].is_string(),
        "lists were just fetched"
    );
    let sec = report["updates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "sec-direct")
        .unwrap();
    assert_eq!(
        sec["repository"],
        "Debian:bookworm-security/bookworm-security"
    );
    assert_eq!(sec["severity"], "unknown");
    // Reading changed nothing in the inspected system.
    assert_eq!(
        fs::read(tree.path("var/lib/dpkg/status")).unwrap(),
        status_before
    );
    // The report validates against our own reader.
    pakiti_report::from_json(&serde_json::to_vec(&report).unwrap()).expect("valid report");
}

#[test]
fn phased_updates_apt_is_told_to_include_are_not_held() {
    let tree = scenario();
    let out = tree.exporter_with_apt_conf(
        "APT::Get::Always-Include-Phased-Updates \"true\";\n",
        &["collect", "--format", "json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let u = updates(&report);
    assert_eq!(u["phased"], e("10.0-2", false, None));
    assert_eq!(u["plain"], e("3.0-2", false, None));
}

#[test]
fn metrics_of_the_tree_are_exact_and_pass_promtool() {
    let tree = scenario();
    tree.write("run/reboot-required", "*** System restart required ***\n");
    tree.write("run/reboot-required.pkgs", "libc6\n");
    let out = tree.exporter(&["collect"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        promtool_complaints(&text),
        "",
        "promtool check metrics complained:\n{text}"
    );
    for name in PRODUCT_METRICS {
        assert!(
            sample(&text, name, &[]).is_some(),
            "{name} missing from\n{text}"
        );
    }
    assert_eq!(sample(&text, "pakiti_updates_pending", &[]), Some(9.0));
    assert_eq!(
        sample(&text, "pakiti_security_updates_pending", &["unknown"]),
        Some(3.0)
    );
    for sev in ["critical", "important", "moderate", "low"] {
        assert_eq!(
            sample(&text, "pakiti_security_updates_pending", &[sev]),
            Some(0.0),
            "{sev}"
        );
    }
    assert_eq!(sample(&text, "pakiti_updates_held", &[]), Some(3.0));
    assert_eq!(sample(&text, "pakiti_reboot_required", &[]), Some(1.0));
    assert_eq!(sample(&text, "pakiti_installed_packages", &[]), Some(12.0));
    assert_eq!(
        sample(&text, "pakiti_security_metadata_available", &[]),
        Some(1.0)
    );
    assert_eq!(sample(&text, "pakiti_collection_success", &[]), Some(1.0));
    assert_eq!(
        text.matches("pakiti_update_info{").count(),
        9,
        "update_info = all"
    );
    assert_eq!(
        sample(
            &text,
            "pakiti_update_info",
            &[
                "package=\"superseded\"",
                "installed_version=\"2.0-1\"",
                "candidate_version=\"2.0-1+deb12u2\"",
                "security=\"true\"",
                "severity=\"unknown\""
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "pakiti_host_info",
            &["os_id=\"debian\"", "os_version=\"12\"", "manager=\"apt\""]
        ),
        Some(1.0)
    );
    let age = sample(&text, "pakiti_package_metadata_timestamp_seconds", &[]).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - age).abs() < 600.0,
        "lists were fetched just now: {age} vs {now}"
    );
}

#[test]
fn no_security_archive_means_no_security_metadata() {
    let tree = Tree::new(
        &[("plain", "1.0-1", "install")],
        &[Repo {
            dir: "main",
            origin: "Debian",
            label: "Debian",
            suite: "bookworm",
            extra_release: "",
            packages: &[("plain", "1.0-2", "")],
        }],
    );
    let out = tree.exporter(&["collect"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        sample(&text, "pakiti_security_metadata_available", &[]),
        Some(0.0)
    );
    assert_eq!(sample(&text, "pakiti_updates_pending", &[]), Some(1.0));
}

#[test]
fn a_host_configured_to_say_yes_is_still_only_read() {
    let tree = scenario();
    let status_before = fs::read(tree.path("var/lib/dpkg/status")).unwrap();
    // An administrator's apt.conf that makes apt-get proceed without asking.
    let out = tree.exporter_with_apt_conf(
        "APT::Get::Assume-Yes \"true\";\nquiet \"2\";\n",
        &["collect", "--format", "json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(updates(&report).len(), 9);
    assert_eq!(
        fs::read(tree.path("var/lib/dpkg/status")).unwrap(),
        status_before
    );
    let fetched: Vec<_> = fs::read_dir(tree.path("var/cache/apt/archives"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "partial" && e.file_name() != "lock")
        .collect();
    assert!(fetched.is_empty(), "nothing may be downloaded: {fetched:?}");
}

#[test]
fn a_hostile_status_file_never_reaches_apt_as_an_option() {
    let tree = Tree::new(
        &[
            ("plain", "1.0-1", "install"),
            // Read as an option, this would hide every repository from apt.
            ("-oDir::Etc::SourceParts=/nonexistent", "1.0-1", "install"),
            ("--help", "1.0-1", "install"),
        ],
        &[Repo {
            dir: "main",
            origin: "Debian",
            label: "Debian",
            suite: "bookworm",
            extra_release: "",
            packages: &[("plain", "1.0-2", "")],
        }],
    );
    let out = tree.exporter(&["collect", "--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("dpkg would refuse"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        updates(&report).keys().collect::<Vec<_>>(),
        ["plain"],
        "the real update is still seen"
    );
}

#[test]
fn a_tree_without_a_host_name_is_not_called_localhost() {
    let tree = Tree::new(&[("plain", "1.0-1", "install")], &[]);
    fs::remove_file(tree.path("etc/hostname")).unwrap();
    let out = tree.exporter(&["collect", "--format", "json"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("etc/hostname is missing or empty"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no report for an unnamed host");
}
