//! The apt collector on a tree built for the purpose (every case the collector
//! must get right: security in the window and out of it, held, kept back,
//! pinned, phased, NotAutomatic, a repository pretending to be a security
//! one) against python3-apt (`tests/oracles/apt_oracle.py`) on the same tree.
//! Unlike the comparison on this machine, it never runs empty.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;

type Row = (String, String, String, String, bool, bool);

#[test]
fn the_built_tree_agrees_with_python_apt() {
    let tree = scenario();
    let out = tree.exporter(&["collect", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours: BTreeSet<Row> = report["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let s = |k: &str| u[k].as_str().unwrap().to_string();
            (
                s("name"),
                s("arch"),
                s("installed_version"),
                s("candidate_version"),
                u["security"].as_bool().unwrap(),
                u["held"].as_bool().unwrap(),
            )
        })
        .collect();
    let oracle = Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/oracles/apt_oracle.py"
        ))
        .arg(tree.root())
        .env("APT_CONFIG", tree.path("etc/apt/apt.conf"))
        .output()
        .expect("python3-apt oracle runs");
    assert!(
        oracle.status.success(),
        "{}",
        String::from_utf8_lossy(&oracle.stderr)
    );
    let theirs: BTreeSet<Row> = String::from_utf8_lossy(&oracle.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            (
                s("name"),
                s("arch"),
                s("installed"),
                s("candidate"),
                v["security"].as_bool().unwrap(),
                v["held"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        ours.len() >= 9,
        "the scenario has at least 9 pending updates: {ours:#?}"
    );
    assert!(ours.iter().any(|u| u.4), "and security ones");
    assert!(ours.iter().any(|u| u.5), "and held ones");
    let missing: Vec<_> = theirs.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "python3-apt only: {missing:#?}\npakiti only: {extra:#?}"
    );
}
