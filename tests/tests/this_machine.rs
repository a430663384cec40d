//! This machine's own packages against a tracker feed written for them: the
//! real exporter collects the inventory apt and dpkg have here, a tracker
//! JSON is written (by this test, in the tracker's shape) for four of the
//! source packages installed here, the real aggregator imports it and
//! matches the pushed report, and the findings must be exactly the binaries
//! dpkg itself lists for the two affected sources: a source fixed in a
//! version above the installed one, and an open one. A source never
//! affected (fixed "0") and one fixed below the installed version give
//! nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};

use common::*;
use serde_json::{json, Value};

/// dpkg's own answer: installed binary package → (source, source version).
fn dpkg_sources() -> BTreeMap<String, (String, String)> {
    let out = Command::new("dpkg-query")
        .args([
            "-W",
            "-f=${db:Status-Status}\t${binary:Package}\t${source:Package}\t${source:Version}\n",
        ])
        .output()
        .expect("dpkg-query (Debian package dpkg)");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 4 && f[0] == "installed").then(|| {
                let name = f[1].split(':').next().unwrap_or(f[1]).to_string();
                (name, (f[2].to_string(), f[3].to_string()))
            })
        })
        .collect()
}

#[test]
fn this_machines_packages_match_a_feed_written_for_them_exactly() {
    let report = Command::new(bin("pakiti-exporter"))
        .args(["collect", "--format", "json"])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(report.status.success(), "pakiti-exporter collect failed");
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["os"]["id"], "debian", "this test runs on Debian");
    let release = report["os"]["version_codename"]
        .as_str()
        .expect("a codename")
        .to_string();
    let pending: BTreeSet<&str> = report["updates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    let dpkg = dpkg_sources();
    // Sources whose binaries have no pending update (so no fix is
    // installable), not kernels (matched apart), in name order.
    let mut by_source: BTreeMap<&str, (Vec<&str>, BTreeSet<&str>)> = BTreeMap::new();
    for (name, (source, version)) in &dpkg {
        let e = by_source.entry(source.as_str()).or_default();
        e.0.push(name);
        e.1.insert(version);
    }
    let usable: Vec<(&str, &str)> = by_source
        .iter()
        .filter(|(s, (bins, versions))| {
            !s.starts_with("linux")
                && versions.len() == 1
                && bins.iter().all(|b| !pending.contains(b))
        })
        .map(|(s, (_, versions))| (*s, *versions.iter().next().unwrap()))
        .collect();
    assert!(usable.len() >= 4, "too few installed source packages");
    let [fixed, open, never, older] = [usable[0], usable[1], usable[2], usable[3]];
    let issue = |status: &str, fixed: Option<String>, urgency: &str| {
        let mut r = json!({"status": status, "urgency": urgency, "repositories": {&release: "x"}});
        if let Some(v) = fixed {
            r["fixed_version"] = v.into();
        }
        json!({"description": "written for this machine by pakiti's test", "releases": {&release: r}})
    };
    let tracker = json!({
        fixed.0: {"CVE-2099-0001": issue("resolved", Some(format!("{}+pakiti1", fixed.1)), "high")},
        open.0: {"CVE-2099-0002": issue("open", None, "low")},
        never.0: {"CVE-2099-0003": issue("resolved", Some("0".into()), "high")},
        older.0: {"CVE-2099-0004": issue("resolved", Some(format!("0:0~{}", older.1.split(':').next_back().unwrap_or("0"))), "medium")},
    });
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("tracker.json");
    std::fs::write(&feed, tracker.to_string()).unwrap();
    let db = dir.path().join("p.db");
    let imported = Command::new(bin("pakiti-aggregator"))
        .args(["--config.file", "/dev/null", "--storage.url"])
        .arg(&db)
        .arg("feeds")
        .arg("import")
        .arg(&feed)
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let port = free_port();
    let _agg = Proc(
        Command::new(bin("pakiti-aggregator"))
            .args(["--config.file", "/dev/null", "--storage.url"])
            .arg(&db)
            .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    wait_for("the aggregator", 30, || {
        client
            .post(format!("{base}/api/v1/reports"))
            .header("content-type", "application/json")
            .body(report.to_string())
            .send()
            .ok()
            .filter(|r| r.status().is_success())
    });
    let host = report["host"]["hostname"].as_str().unwrap();
    let v: Value = client
        .get(format!("{base}/api/v1/hosts/{host}/vulnerabilities"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["coverage"], true, "{v}");
    let got: BTreeSet<String> = v["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {}",
                f["package"].as_str().unwrap(),
                f["id"].as_str().unwrap(),
                f["status"].as_str().unwrap(),
                f["fix_available"]
            )
        })
        .collect();
    let want: BTreeSet<String> = by_source[fixed.0]
        .0
        .iter()
        .map(|b| format!("{b} CVE-2099-0001 fixed false"))
        .chain(
            by_source[open.0]
                .0
                .iter()
                .map(|b| format!("{b} CVE-2099-0002 unfixed false")),
        )
        .collect();
    assert_eq!(
        got, want,
        "sources: fixed {fixed:?}, open {open:?}, never {never:?}, older {older:?}"
    );
    // The stored findings say the same, fleet-wide.
    let list: Value = client
        .get(format!("{base}/api/v1/vulnerabilities"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let ids: BTreeSet<&str> = list["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from(["CVE-2099-0001", "CVE-2099-0002"]),
        "{list}"
    );
}
