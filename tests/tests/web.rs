//! The web pages as a person meets them: Debian's headless Chromium loads the
//! real aggregator's pages over a small fleet (filters, sorting, host detail,
//! package and CVE pages, CSV export) and we read what it shows. Hostile names
//! must render as text with no script running. `browse.rs` clicks through
//! the same pages with WebDriver and takes their screenshots.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pages_fleet::{aggregator, aggregator_with, push_all, report, small_fleet, update};
use common::*;
use serde_json::{json, Value};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The payload a hostile report carries: if any of it ran, the body gets `data-pwned`.
const XSS_TOKEN: &str = "<img/src=x/onerror=document.body.dataset.pwned=1>";
const XSS_TEXT: &str = "<script>document.body.dataset.pwned=1</script>";

/// A page without the one script the pages load (`/pages.js`): any other
/// `<script` came from data.
fn without_own_script(page: &str) -> String {
    let own = "<script src=\"/pages.js\" defer></script>";
    assert_eq!(page.matches(own).count(), 1, "{page}");
    page.replace(own, "")
}

/// Runs headless Chromium, killed after a minute whatever it does.
fn chromium(args: &[&str], profile: &Path) -> String {
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium (Debian package chromium)");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap_or_default()
}

/// The DOM Chromium built from the page, after any script would have run.
fn dom(url: &str, profile: &Path) -> String {
    chromium(&["--dump-dom", url], profile)
}

/// Visible text of the table rows' first cells (the host column), in order.
fn hosts_listed(dom: &str) -> Vec<String> {
    dom.split("<tbody>")
        .nth(1)
        .unwrap_or("")
        .split("<th scope=\"row\"><a href=\"/hosts/")
        .skip(1)
        .map(|s| s.split(['"', '?']).next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn an_administrator_reads_the_fleet_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("chromium");
    let (_agg, base) = aggregator(dir.path());
    let client = reqwest::blocking::Client::new();
    let mut fleet = small_fleet();
    fleet.push(report(
        "evil-01",
        5,
        "SiteB",
        XSS_TEXT,
        false,
        vec![update(XSS_TOKEN, "moderate", &[XSS_TOKEN], &[XSS_TOKEN])],
    ));
    push_all(&base, &fleet);

    // Overview: the totals and the sites.
    let overview = dom(&format!("{base}/"), &profile);
    for text in [
        "<span class=\"n\">5</span> hosts",
        "<span class=\"n\">4</span> with security updates",
        "<span class=\"n\">2</span> with critical or important ones",
        "<span class=\"n\">1</span> needs a reboot",
        "<span class=\"n\">0</span> stale",
    ] {
        assert!(
            overview.contains(text),
            "overview lacks {text:?}:\n{overview}"
        );
    }
    assert!(
        overview.contains(">SiteA</a></th><td class=\"num\">2</td>"),
        "{overview}"
    );

    // Hosts: filters and sorting.
    assert_eq!(
        hosts_listed(&dom(
            &format!("{base}/hosts?site=SiteB&sort=host&order=asc"),
            &profile
        )),
        ["clean-01", "db-01", "evil-01"]
    );
    assert_eq!(
        hosts_listed(&dom(&format!("{base}/hosts?severity=critical"), &profile)),
        ["web-01"]
    );
    assert_eq!(
        hosts_listed(&dom(
            &format!("{base}/hosts?severity=important&sort=host&order=asc"),
            &profile
        )),
        ["web-01", "web-02"]
    );
    assert_eq!(
        hosts_listed(&dom(&format!("{base}/hosts?reboot=yes"), &profile)),
        ["web-02"]
    );
    assert_eq!(
        hosts_listed(&dom(&format!("{base}/hosts?security=no"), &profile)),
        ["clean-01"]
    );
    assert_eq!(
        hosts_listed(&dom(
            &format!("{base}/hosts?q=web&sort=host&order=desc"),
            &profile
        )),
        ["web-02", "web-01"]
    );
    let by_pending = hosts_listed(&dom(
        &format!("{base}/hosts?sort=pending&order=desc"),
        &profile,
    ));
    assert_eq!(
        by_pending.first().map(String::as_str),
        Some("db-01"),
        "{by_pending:?}"
    );
    // Most severe first when sorted by security, descending; each count
    // labelled with its severity.
    let by_security = dom(&format!("{base}/hosts?sort=security&order=desc"), &profile);
    assert_eq!(
        hosts_listed(&by_security),
        ["web-01", "web-02", "evil-01", "db-01", "clean-01"]
    );
    for chip in ["1 critical", "1 important", "1 moderate", "1 low"] {
        assert!(
            by_security.contains(&format!("{chip}</span>"))
                && by_security.contains("class=\"chip sev-"),
            "{chip}: {by_security}"
        );
    }
    assert!(!by_security.contains("(0/"), "{by_security}");
    let paged = dom(
        &format!("{base}/hosts?per=2&sort=host&order=asc&page=2"),
        &profile,
    );
    assert_eq!(hosts_listed(&paged), ["evil-01", "web-01"]);
    assert!(paged.contains("page 2 of 3"), "{paged}");

    // Host detail, package and CVE pages.
    let host = dom(&format!("{base}/hosts/web-01"), &profile);
    for text in [
        "openssl",
        "DSA-5555-1",
        "href=\"/cves/CVE-2026-0001\"",
        "class=\"sev-critical\">critical",
        "<svg class=\"chart\"",
    ] {
        assert!(host.contains(text), "host page lacks {text:?}");
    }
    let package = dom(&format!("{base}/packages/openssl"), &profile);
    assert_eq!(hosts_listed(&package), ["web-01", "web-02"]);
    let cve = dom(&format!("{base}/cves/CVE-2026-0001"), &profile);
    assert_eq!(hosts_listed(&cve), ["web-01", "web-02"]);
    assert!(dom(&format!("{base}/advisories/DSA-5555-1"), &profile).contains("web-01"));

    // CSV export (a browser downloads it; read it as the download would be).
    let page = dom(&format!("{base}/hosts?site=SiteA"), &profile);
    let link = page
        .split("href=\"")
        .find(|s| s.contains("format=csv"))
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    let csv = client
        .get(format!("{base}{link}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        csv.contains("host,site,os,pending,security,critical,important"),
        "{csv}"
    );
    assert!(csv.contains("web-01,SiteA,debian 12,2,1,1,0"), "{csv}");
    let json: Value = client
        .get(format!("{base}/hosts?site=SiteA&format=json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(json["hosts"].as_array().unwrap().len(), 2);

    // Hostile names render as text; nothing runs.
    for page in [
        "/",
        "/hosts",
        "/hosts/evil-01",
        "/packages/%3Cimg%2Fsrc%3Dx%2Fonerror%3Ddocument.body.dataset.pwned%3D1%3E",
    ] {
        let d = dom(&format!("{base}{page}"), &profile);
        assert!(!d.contains("data-pwned"), "a script ran on {page}:\n{d}");
        assert!(
            d.contains("<body>") || d.contains("<body "),
            "{page} did not load"
        );
        let raw = client
            .get(format!("{base}{page}"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(
            !without_own_script(&raw).contains("<script") && !raw.contains("<img"),
            "{page} carries markup from a report"
        );
    }
    let evil = dom(&format!("{base}/hosts/evil-01"), &profile);
    assert!(
        evil.contains("&lt;script&gt;document.body.dataset.pwned=1&lt;/script&gt;"),
        "{evil}"
    );
    assert!(
        evil.contains("&lt;img/src=x/onerror=document.body.dataset.pwned=1&gt;"),
        "{evil}"
    );
}

/// A central aggregator's Sites page, with statistics two downstream servers
/// sent, one of them naming a hostile site: it must show as text.
#[test]
fn a_central_administrator_reads_the_sites_in_a_real_browser() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("chromium");
    let digest = |t: &str| -> String {
        Sha256::digest(t.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let cfg = dir.path().join("aggregator.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[client]]\nname = \"site-a\"\ntoken_sha256 = \"{}\"\nsites = [\"SiteA\"]\nrole = \"server\"\n\n\
             [[client]]\nname = \"grid\"\ntoken_sha256 = \"{}\"\nsites = [\"*\"]\nrole = \"server\"\n",
            digest("token-a"),
            digest("token-grid")
        ),
    )
    .unwrap();
    let (_agg, base) = aggregator_with(dir.path(), &cfg);
    let site = |name: &str, hosts: u32, critical: u32| {
        json!({"site": name, "hosts": hosts, "hosts_with_pending_updates": hosts - 1,
               "hosts_with_security_updates": {"critical": critical, "important": 0, "moderate": 1, "low": 0, "unknown": 0},
               "hosts_reboot_required": 1, "hosts_stale": 0, "updates_pending": 40,
               "security_updates_pending": {"critical": critical * 2, "important": 0, "moderate": 3, "low": 0, "unknown": 0},
               "oldest_security_update_pending_since": "2026-11-20T08:00:00Z"})
    };
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    for (token, sites) in [
        ("token-a", vec![site("SiteA", 12, 2)]),
        (
            "token-grid",
            vec![site("SiteC", 30, 0), site(XSS_TOKEN, 2, 1)],
        ),
    ] {
        let resp = reqwest::blocking::Client::new()
            .post(format!("{base}/api/v1/forward/stats"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(json!({"schema_version": 1, "generated_at": now, "sites": sites}).to_string())
            .send()
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    }
    let d = dom(&format!("{base}/sites"), &profile);
    assert!(!d.contains("data-pwned"), "a script ran on /sites:\n{d}");
    assert!(
        d.contains("&lt;img/src=x/onerror="),
        "the hostile site shows as text:\n{d}"
    );
    let rows: Vec<&str> = d
        .split("<tbody>")
        .nth(1)
        .unwrap_or("")
        .split("<tr>")
        .skip(1)
        .collect();
    assert_eq!(rows.len(), 3, "{d}");
    // Sorted by site: the hostile name ("<…") first, then SiteA, SiteC.
    assert!(
        rows[1].contains("SiteA") && rows[1].contains("site-a"),
        "{}",
        rows[1]
    );
    assert!(rows[1].contains("<td class=\"num\">12</td>"), "{}", rows[1]);
    assert!(
        rows[2].contains("SiteC") && rows[2].contains("grid"),
        "{}",
        rows[2]
    );
    assert!(
        d.contains("<a href=\"/sites\">Sites</a>"),
        "the menu links the page"
    );
    let shot = std::path::PathBuf::from(ROOT).join("tests/artefacts/sites.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,600",
            &format!("{base}/sites"),
        ],
        &profile,
    );
    assert!(shot.exists(), "a screenshot of the Sites page");
}

/// The vulnerability pages over a feed that carries markup in its package
/// names, ids and descriptions (a feed is data from the internet): the fleet
/// list, one vulnerability, the host's section, all as text; a screenshot
/// of the fleet list is kept.
#[test]
fn an_administrator_reads_the_vulnerabilities_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("chromium");
    let db = dir.path().join("p.db");
    let feed = dir.path().join("tracker.json");
    std::fs::write(
        &feed,
        json!({
            "openssl": {"CVE-2026-1111": {"description": XSS_TEXT, "releases": {"bookworm": {
                "status": "resolved", "fixed_version": "3.0.15-1~deb12u1", "urgency": "high"}}}},
            XSS_TOKEN: {XSS_TEXT: {"description": XSS_TEXT, "releases": {"bookworm": {
                "status": "open", "urgency": "medium"}}}}
        })
        .to_string(),
    )
    .unwrap();
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
    let mut r = report("deb-01", 1, "SiteA", "Debian GNU/Linux 12", false, vec![]);
    r["os"]["version_codename"] = "bookworm".into();
    r["installed"] = json!([
        {"name": "libssl3", "version": "3.0.11-1~deb12u2", "arch": "amd64", "source_name": "openssl"},
        {"name": "evil-bin", "version": "1.0-1", "arch": "amd64", "source_name": XSS_TOKEN}
    ]);
    r["installed_packages"] = 2.into();
    r["updates"] = json!([{"name": "libssl3", "arch": "amd64", "installed_version": "3.0.11-1~deb12u2",
        "candidate_version": "3.0.15-1~deb12u1", "security": true, "severity": "unknown", "held": false}]);
    let client = reqwest::blocking::Client::new();
    wait_for("the aggregator", 30, || {
        client
            .post(format!("{base}/api/v1/reports"))
            .header("content-type", "application/json")
            .body(r.to_string())
            .send()
            .ok()
            .filter(|r| r.status().is_success())
    });
    let list = dom(&format!("{base}/vulnerabilities"), &profile);
    assert!(list.contains("2 vulnerabilities on 1 host the"), "{list}");
    // What to fix first: the important one, fixable now, on top.
    let first = list.find("CVE-2026-1111").expect("listed");
    let second = list
        .find("&lt;script&gt;")
        .expect("the hostile id, as text");
    assert!(first < second, "{list}");
    let one = dom(&format!("{base}/vulnerabilities/CVE-2026-1111"), &profile);
    assert!(
        one.contains("deb-01") && one.contains("3.0.15-1~deb12u1"),
        "{one}"
    );
    for page in [
        "/vulnerabilities".to_string(),
        "/hosts/deb-01".to_string(),
        format!("/vulnerabilities/{}", urlencode(XSS_TEXT)),
    ] {
        let d = dom(&format!("{base}{page}"), &profile);
        assert!(!d.contains("data-pwned"), "a script ran on {page}:\n{d}");
        let raw = client
            .get(format!("{base}{page}"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(
            !without_own_script(&raw).contains("<script") && !raw.contains("<img"),
            "{page} carries markup from the feed:\n{raw}"
        );
    }
    let artefacts = PathBuf::from(format!("{ROOT}/tests/artefacts"));
    std::fs::create_dir_all(&artefacts).unwrap();
    let shot = artefacts.join("vulnerabilities.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &[
            "--window-size=1280,700",
            &format!("--screenshot={}", shot.display()),
            &format!("{base}/vulnerabilities"),
        ],
        &profile,
    );
    assert!(std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0) > 5_000);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
