//! A small fleet for the page tests: reports made up in the exporter's own
//! format, pushed to a real aggregator.

use std::process::{Command, Stdio};
use std::time::SystemTime;

use serde_json::{json, Value};

use super::{bin, free_port, wait_for, Proc};

/// A pending update; `sev` "none" is not a security update.
pub fn update(name: &str, sev: &str, advisories: &[&str], cves: &[&str]) -> Value {
    let security = sev != "none";
    json!({"name": name, "arch": "amd64", "installed_version": "1.0-1", "candidate_version": "1.0-2",
           "security": security, "severity": sev, "held": false, "advisories": advisories, "cves": cves})
}

/// A host's report; `n` makes its machine id.
pub fn report(
    host: &str,
    n: u32,
    site: &str,
    os_name: &str,
    reboot: bool,
    updates: Vec<Value>,
) -> Value {
    json!({
        "schema_version": 1,
        "host": {"hostname": host, "machine_id": format!("{n:032x}"), "site": site},
        "os": {"id": "debian", "version": "12", "name": os_name},
        "kernel": "6.1.0", "arch": "x86_64", "manager": "apt",
        "exporter": {"version": "0.1.0", "revision": "web-test"},
        "collected_at": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        "collection_duration_seconds": 1.0,
        "reboot": {"required": reboot, "packages": if reboot { vec!["linux-image-6.1.0-19-amd64"] } else { vec![] }},
        "security_metadata_available": true,
        "installed_packages": 500,
        "updates": updates
    })
}

/// Four Debian hosts of two sites: a critical and an important openssl
/// update (one host needing a reboot), a low one among ordinary updates,
/// and a host with nothing pending.
pub fn small_fleet() -> Vec<Value> {
    vec![
        report(
            "web-01",
            1,
            "SiteA",
            "Debian GNU/Linux 12",
            false,
            vec![
                update("openssl", "critical", &["DSA-5555-1"], &["CVE-2026-0001"]),
                update("bash", "none", &[], &[]),
            ],
        ),
        report(
            "web-02",
            2,
            "SiteA",
            "Debian GNU/Linux 12",
            true,
            vec![update("openssl", "important", &[], &["CVE-2026-0001"])],
        ),
        report(
            "db-01",
            3,
            "SiteB",
            "Debian GNU/Linux 12",
            false,
            vec![
                update("curl", "none", &[], &[]),
                update("vim", "none", &[], &[]),
                update("zlib1g", "low", &[], &["CVE-2026-0002"]),
            ],
        ),
        report("clean-01", 4, "SiteB", "Debian GNU/Linux 12", false, vec![]),
    ]
}

/// An aggregator on loopback with its own database in `dir` and every
/// default (its pages open, as on loopback they are); its base URL.
pub fn aggregator(dir: &std::path::Path) -> (Proc, String) {
    aggregator_with(dir, std::path::Path::new("/dev/null"))
}

/// The same with the configuration file `config`.
pub fn aggregator_with(dir: &std::path::Path, config: &std::path::Path) -> (Proc, String) {
    let port = free_port();
    let proc = Proc(
        Command::new(bin("pakiti-aggregator"))
            .arg("--config.file")
            .arg(config)
            .args(["--storage.url", dir.join("p.db").to_str().unwrap()])
            .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_for("the aggregator", 30, || {
        reqwest::blocking::get(format!("{base}/-/ready"))
            .ok()
            .filter(|r| r.status().is_success())
    });
    (proc, base)
}

/// Pushes each report, failing the test on any refusal.
pub fn push_all(base: &str, reports: &[Value]) {
    let client = reqwest::blocking::Client::new();
    for r in reports {
        let resp = client
            .post(format!("{base}/api/v1/reports"))
            .header("content-type", "application/json")
            .body(r.to_string())
            .send()
            .unwrap();
        assert!(
            resp.status().is_success(),
            "{}",
            resp.text().unwrap_or_default()
        );
    }
}
