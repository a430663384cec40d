//! An operator decides in the browser (WebDriver: Debian's chromedriver and
//! Chromium, clicking and submitting): finds the known exploited
//! vulnerability that matters, sees its hosts, records an accepted risk for
//! one site until a date with a reason, watches it leave the open counts and
//! that site's past-deadline series go quiet, and sees it come back when the
//! date passes (the aggregator's clock is the test's, in debug builds).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use common::browser::Browser;
use common::{bin, free_port, wait_for, Proc};
use serde_json::{json, Value};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const DAY: u64 = 86_400;

/// Today at 00:00 UTC, plus `n` days.
fn day(n: u64) -> SystemTime {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    SystemTime::UNIX_EPOCH + Duration::from_secs((now / DAY + n) * DAY)
}

fn date(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()[..10].to_string()
}

/// An Arch host of `site` whose openssl the Arch tracker fixture says is
/// vulnerable to CVE-2026-10001, its fix pending.
fn arch_host(name: &str, n: u32, site: &str) -> Value {
    json!({
        "schema_version": 1,
        "host": {"hostname": name, "machine_id": format!("{n:032x}"), "site": site},
        "os": {"id": "arch", "version": ""},
        "kernel": "6.13.1-arch1-1", "arch": "x86_64", "manager": "pacman",
        "exporter": {"version": "0.1.0", "revision": "decide-test"},
        "collected_at": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        "collection_duration_seconds": 1.0,
        "reboot": {"required": false, "packages": []},
        "security_metadata_available": true,
        "installed_packages": 2,
        "installed": [
            {"name": "openssl", "version": "3.4.0-3", "arch": "x86_64", "source_name": "openssl"},
            {"name": "bash", "version": "5.2.037-1", "arch": "x86_64", "source_name": "bash"}
        ],
        "updates": [{"name": "openssl", "arch": "x86_64", "installed_version": "3.4.0-3",
                     "candidate_version": "3.4.1-1", "security": true, "severity": "unknown", "held": false}]
    })
}

fn set_clock(file: &std::path::Path, t: SystemTime) {
    std::fs::write(file, humantime::format_rfc3339_seconds(t).to_string()).unwrap();
}

/// The value of one `/federate` sample.
fn federated(base: &str, series: &str) -> Option<f64> {
    let text = reqwest::blocking::Client::new()
        .get(format!("{base}/federate"))
        .basic_auth("alice", Some("pw"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn an_operator_records_an_accepted_risk_in_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("p.db");
    // Arch's tracker and CISA's catalog (CVE-2026-10001 due in two days).
    let kev = d.join("known_exploited_vulnerabilities.json");
    std::fs::write(
        &kev,
        json!({"title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2026.12.01",
               "dateReleased": "2026-12-01T15:00:00.000Z", "count": 1,
               "vulnerabilities": [{"cveID": "CVE-2026-10001", "vendorProject": "OpenSSL", "product": "OpenSSL",
                 "vulnerabilityName": "written for this test", "dateAdded": date(day(0)), "shortDescription": "-",
                 "requiredAction": "-", "dueDate": date(day(2)), "knownRansomwareCampaignUse": "Unknown", "notes": "", "cwes": []}]})
        .to_string(),
    )
    .unwrap();
    let out = Command::new(bin("pakiti-aggregator"))
        .args([
            "--config.file",
            "/dev/null",
            "--storage.url",
            db.to_str().unwrap(),
            "feeds",
            "import",
        ])
        .arg(format!("{ROOT}/vulns/fixtures/arch/security.json"))
        .arg(&kev)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hash = bcrypt::hash("pw", 4).unwrap();
    let config = d.join("aggregator.toml");
    std::fs::write(
        &config,
        format!("[web]\naccess = \"basic\"\nfederate = \"access\"\noperators = [\"alice\"]\n[web.users]\nalice = '{hash}'\n"),
    )
    .unwrap();
    // Three days on: KEV's due day has passed.
    let clock = d.join("clock");
    set_clock(&clock, day(3));
    let port = free_port();
    let _agg = Proc(
        Command::new(bin("pakiti-aggregator"))
            .args([
                "--config.file",
                config.to_str().unwrap(),
                "--storage.url",
                db.to_str().unwrap(),
            ])
            .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
            .env("PAKITI_AGGREGATOR_TEST_CLOCK", &clock)
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
    let client = reqwest::blocking::Client::new();
    for (name, n, site) in [("arch-01", 1, "SiteA"), ("arch-02", 2, "SiteB")] {
        let r = client
            .post(format!("{base}/api/v1/reports"))
            .header("content-type", "application/json")
            .body(arch_host(name, n, site).to_string())
            .send()
            .unwrap();
        assert!(r.status().is_success());
    }
    let past_a = "pakiti_vulnerabilities_past_deadline{host=\"arch-01\",site=\"SiteA\",severity=\"important\"}";
    wait_for("both hosts matched", 30, || {
        (federated(&base, past_a) == Some(1.0)).then_some(())
    });

    let b = Browser::desktop(1280, 900);
    // Signed in as alice (the browser keeps the credentials for the site).
    b.goto(&format!("http://alice:pw@127.0.0.1:{port}/vulnerabilities"));
    // The known exploited ones: the filter form.
    b.click(&b.find("select[name=kev] option[value='1']"));
    b.follow(&b.find("form.filter button[type=submit]"));
    assert!(b.url().contains("kev=1"), "{}", b.url());
    let rows = b.texts("table tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].starts_with("CVE-2026-10001") && rows[0].contains("KEV"),
        "{rows:?}"
    );
    // Its hosts.
    b.follow(&b.find("table tbody th[scope=row] a"));
    assert!(
        b.url().ends_with("/vulnerabilities/CVE-2026-10001"),
        "{}",
        b.url()
    );
    let hosts = b.texts("table[aria-labelledby=exposed] tbody tr");
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    assert!(hosts.iter().all(|h| h.ends_with("open")), "{hosts:?}");
    // An accepted risk for SiteA until the tenth day.
    let until = date(day(10));
    b.click(&b.find("#record-exception select[name=state] option[value=accepted_risk]"));
    // A date field's typing follows the browser's locale: its value is set.
    b.script(&format!("document.querySelector('#record-exception input[name=expires]').value = '{until}'; return null;"));
    b.type_into(
        &b.find("#record-exception input[name=reason]"),
        "the TLS endpoint is internal",
    );
    b.type_into(&b.find("#record-exception input[name=site]"), "SiteA");
    b.follow(&b.find("#record-exception button[type=submit]"));
    assert!(
        b.url()
            .ends_with("/vulnerabilities/CVE-2026-10001#decisions"),
        "{}",
        b.url()
    );
    let exceptions = b.texts("ul.exceptions li");
    assert_eq!(exceptions.len(), 1, "{exceptions:?}");
    assert!(
        exceptions[0].starts_with(&format!("accepted risk for site SiteA until {until}")),
        "{exceptions:?}"
    );
    assert!(
        exceptions[0].contains("the TLS endpoint is internal") && exceptions[0].contains("alice"),
        "{exceptions:?}"
    );
    let hosts = b.texts("table[aria-labelledby=exposed] tbody tr");
    assert!(
        hosts[0].starts_with("arch-01")
            && hosts[0].contains(&format!("accepted risk until {until}")),
        "{hosts:?}"
    );
    assert!(
        hosts[1].starts_with("arch-02") && hosts[1].ends_with("open"),
        "{hosts:?}"
    );
    let audit = b.texts("table[aria-labelledby=audit] tbody tr");
    assert!(
        audit.len() == 1 && audit[0].contains("alice") && audit[0].contains("exception added"),
        "{audit:?}"
    );
    // It leaves the open counts: the list, and SiteA's past-deadline series.
    b.goto(&format!("{base}/vulnerabilities?kev=1"));
    let row = b.texts("table tbody tr").remove(0);
    assert!(
        row.contains(" 1 1 1 openssl"),
        "hosts exposed 1, excepted 1, fix installable on 1: {row}"
    );
    assert_eq!(federated(&base, past_a), Some(0.0));
    assert_eq!(
        federated(&base, "pakiti_vulnerability_exposed_hosts{id=\"CVE-2026-10001\",severity=\"important\",kev=\"true\"}"),
        Some(1.0)
    );
    // After its last day it is gone: open again, on the page and in the counts.
    set_clock(&clock, day(11));
    b.goto(&format!("{base}/vulnerabilities/CVE-2026-10001"));
    let hosts = b.texts("table[aria-labelledby=exposed] tbody tr");
    assert!(hosts.iter().all(|h| h.ends_with("open")), "{hosts:?}");
    assert!(b.texts("ul.exceptions li").is_empty());
    // Past deadline again, beside CVE-2026-10002, whose 7 days have passed too.
    assert_eq!(federated(&base, past_a), Some(2.0));
    b.goto(&format!("{base}/vulnerabilities?kev=1"));
    let row = b.texts("table tbody tr").remove(0);
    assert!(
        row.contains(" 2 2 openssl"),
        "hosts exposed 2, none excepted: {row}"
    );
}
