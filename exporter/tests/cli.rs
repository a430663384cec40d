//! The command line as a user meets it: bad input gets a clear message and a
//! non-zero exit with nothing written; `textfile` writes whole files.

mod common;

use std::fs;
use std::process::{Command, Output};

use common::*;

fn run(args: &[&str]) -> Output {
    Command::new(EXPORTER)
        .args(args)
        .output()
        .expect("exporter runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn unknown_config_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("exporter.toml");
    fs::write(&cfg, "[collector]\nintervall = \"5m\"\n").unwrap();
    let out = run(&["--config.file", cfg.to_str().unwrap(), "collect"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown field `intervall`"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(cfg.to_str().unwrap()),
        "names the file: {}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_config_file_named_explicitly_is_an_error() {
    let out = run(&["--config.file", "/nonexistent/exporter.toml", "collect"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read config file /nonexistent/exporter.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unusable_package_manager_is_named() {
    let tree = scenario();
    let cfg = tree.config("");
    let base = [
        "--config.file",
        cfg.to_str().unwrap(),
        "--path.rootfs",
        tree.root().to_str().unwrap(),
    ];
    let out = Command::new(EXPORTER)
        .args(base)
        .args(["--collector.manager", "portage", "collect"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--collector.manager"),
        "{}",
        stderr(&out)
    );

    let out = Command::new(EXPORTER)
        .args(base)
        .args(["--collector.manager", "pacman", "collect"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("var/lib/pacman/local"),
        "a Debian tree has no pacman database: {}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty(), "no invented output on failure");

    // Every other manager, chosen where its tool is missing, fails the collection clearly.
    for (manager, tool) in [
        ("dnf", "dnf"),
        ("yum", "yum"),
        ("zypper", "zypper"),
        ("apk", "apk"),
        ("pacman", "pacman"),
    ] {
        let out = Command::new(EXPORTER)
            .args(base)
            .args(["--collector.manager", manager, "collect"])
            .env("PATH", "/nonexistent")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{manager}");
        assert!(
            stderr(&out).contains(&format!("{tool} is not installed")),
            "{manager}: {}",
            stderr(&out)
        );
        assert!(
            out.stdout.is_empty(),
            "{manager}: no invented output on failure"
        );
    }

    // apt chosen, but not installed where we look for it: the collection fails.
    let out = Command::new(EXPORTER)
        .args(base)
        .args(["collect"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("apt-cache is not installed"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty(), "no invented output on failure");
}

#[test]
fn a_tree_without_os_release_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "--config.file",
        "/dev/null",
        "--path.rootfs",
        dir.path().to_str().unwrap(),
        "collect",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no etc/os-release"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn textfile_refuses_a_missing_directory_and_writes_nothing() {
    let tree = scenario();
    let out = tree.exporter(&["textfile", "--output", "/nonexistent-dir/pakiti.prom"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent-dir/pakiti.prom"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert!(!std::path::Path::new("/nonexistent-dir").exists());
}

#[test]
fn textfile_writes_the_collection_and_a_failure_too() {
    let tree = scenario();
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("pakiti.prom");
    let out = tree.exporter(&["textfile", "--output", prom.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = fs::read_to_string(&prom).unwrap();
    assert_eq!(promtool_complaints(&text), "");
    assert_eq!(sample(&text, "pakiti_updates_pending", &[]), Some(9.0));
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );

    // Now the package manager is gone: the file says so, with no stale counts.
    let cfg = tree.config("");
    let out = Command::new(EXPORTER)
        .args([
            "--config.file",
            cfg.to_str().unwrap(),
            "--path.rootfs",
            tree.root().to_str().unwrap(),
        ])
        .args(["textfile", "--output", prom.to_str().unwrap()])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = fs::read_to_string(&prom).unwrap();
    assert_eq!(sample(&text, "pakiti_collection_success", &[]), Some(0.0));
    assert_eq!(sample(&text, "pakiti_updates_pending", &[]), None);
    assert_eq!(promtool_complaints(&text), "");
}

#[test]
fn the_json_report_matches_the_published_schema() {
    let tree = scenario();
    let out = tree.exporter(&["collect", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    fs::write(&report, &out.stdout).unwrap();
    let schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../report/schema/report-v1.schema.json"
    );
    let check = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import json,sys,jsonschema; s=json.load(open(sys.argv[1])); jsonschema.Draft202012Validator.check_schema(s); jsonschema.validate(json.load(open(sys.argv[2])), s, cls=jsonschema.Draft202012Validator)",
            schema,
            report.to_str().unwrap(),
        ])
        .output()
        .expect("python3 with jsonschema (Debian python3-jsonschema)");
    assert!(check.status.success(), "{}", stderr(&check));
    // And the schema rejects what our reader rejects.
    let mut bad: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    bad["updates"][0]["severity"] = "urgent".into();
    fs::write(&report, serde_json::to_vec(&bad).unwrap()).unwrap();
    let check = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))",
            schema,
            report.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        !check.status.success(),
        "schema accepted severity \"urgent\""
    );
}
