//! Vulnerability feeds end to end: `pakiti-aggregator feeds import` reads the
//! Debian tracker's JSON into the store (a bad file changes nothing), and a
//! Debian host's vulnerabilities are its inventory matched against it; a
//! host no feed covers is unknown, never clean.

mod process;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use pakiti_report::*;
use process::{get, import, push, start, start_with, wait_for, AGGREGATOR};
use serde_json::Value;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../vulns/fixtures/debian-tracker.json"
);

fn host(name: &str, machine: u32, os_id: &str, codename: &str) -> Report {
    let mut r = testing::report(
        name,
        Some(&format!("{machine:032x}")),
        None,
        vec![testing::update(
            "libssl3",
            "3.0.11-1~deb12u2",
            "3.0.15-1~deb12u1",
            Some(Severity::Unknown),
        )],
    );
    r.os.id = os_id.into();
    r.os.codename = Some(codename.into());
    // Of the bookworm host: openssl's two binaries, bash, both kernels.
    let installed: Vec<Installed> = pakiti_vulns::testing::bookworm_packages()
        .into_iter()
        .filter(|p| {
            ["libssl3", "openssl", "bash"].contains(&p.name.as_str())
                || p.name.starts_with("linux-image-")
        })
        .collect();
    r.inventory.installed_packages = installed.len() as u64;
    r.inventory.installed = Some(installed);
    r.inventory.running_kernel = Some(RunningKernel {
        package: "linux-image-6.1.0-18-amd64".into(),
        version: "6.1.76-1".into(),
    });
    r
}

#[test]
fn a_debian_host_is_matched_against_the_imported_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pakiti.db");
    let out = import(&db, &[Path::new(FIXTURE)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("debian: 14 records from "), "{stdout}");
    // A bad file: exit 1, and the imported feed stays.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"openssl": {"CVE-1": {"releases": {"bookworm": {"status": "gone"}}}}}"#,
    )
    .unwrap();
    let out = import(&db, &[&bad]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown status") && stderr.contains("nothing was imported"),
        "{stderr}"
    );
    let out = import(&db, &[dir.path().join("missing.json").as_path()]);
    assert_eq!(out.status.code(), Some(1));
    // An older download of the feed (its file's time) is refused; asked
    // for, it goes in.
    let older = dir.path().join("older-tracker.json");
    std::fs::copy(FIXTURE, &older).unwrap();
    let day_ago =
        std::fs::metadata(FIXTURE).unwrap().modified().unwrap() - Duration::from_secs(86_400);
    std::fs::File::options()
        .write(true)
        .open(&older)
        .unwrap()
        .set_modified(day_ago)
        .unwrap();
    let out = import(&db, &[&older]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is older than the loaded debian feed"),
        "{stderr}"
    );
    let out = Command::new(AGGREGATOR)
        .args(["--config.file", "/dev/null", "--storage.url"])
        .arg(&db)
        .args(["feeds", "import", "--allow-older"])
        .arg(&older)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = import(&db, &[Path::new(FIXTURE)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (server, base) = start(&db);
    let client = reqwest::blocking::Client::new();
    for r in [
        host("deb-01", 1, "debian", "bookworm"),
        host("ubu-01", 2, "ubuntu", "jammy"),
    ] {
        let resp = client
            .post(format!("{base}/api/v1/reports"))
            .header("content-type", "application/json")
            .body(to_json(&r))
            .send()
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    }
    let v = get(&base, "/api/v1/hosts/deb-01/vulnerabilities");
    assert_eq!(v["coverage"], true, "{v}");
    let got: Vec<String> = v["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {} {} {}",
                f["package"].as_str().unwrap(),
                f["id"].as_str().unwrap(),
                f["status"].as_str().unwrap(),
                f["fix_available"],
                f["severity"].as_str().unwrap(),
                f["counted"]
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            // Fixable now first; then by severity; other kernels last.
            "libssl3 CVE-2024-5535 fixed true low true",
            "linux-image-6.1.0-18-amd64 CVE-2024-26581 unfixed false moderate true",
            "openssl CVE-2024-5535 fixed false low true",
            "linux-image-6.1.0-17-amd64 CVE-2024-1086 fixed false important false",
            "linux-image-6.1.0-17-amd64 CVE-2024-26581 unfixed false moderate false",
        ]
    );
    // The security update apt could not rate gets the feed's severity and
    // the CVE it fixes; the Ubuntu host's stays unknown.
    let h = get(&base, "/api/v1/hosts/deb-01");
    assert_eq!(h["updates"][0]["severity"], "low", "{h}");
    assert_eq!(
        h["updates"][0]["cves"],
        serde_json::json!(["CVE-2024-5535"])
    );
    assert_eq!(
        get(&base, "/api/v1/hosts/ubu-01")["updates"][0]["severity"],
        "unknown"
    );
    // A report naming its inventory by digest is rated from the stored packages.
    let mut lean = host("deb-01", 1, "debian", "bookworm");
    lean.collected_at += Duration::from_secs(1);
    lean.inventory
        .updates
        .push(testing::update("bash", "5.2.15-2+b2", "5.2.15-2+b3", None));
    let resp = client
        .post(format!("{base}/api/v1/reports"))
        .header("content-type", "application/json")
        .body(to_json_without_installed(&lean))
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    let h = get(&base, "/api/v1/hosts/deb-01");
    assert_eq!(h["pending"], 2, "{h}");
    assert_eq!(h["updates"][1]["severity"], "low", "{h}");
    let fed = reqwest::blocking::get(format!("{base}/federate"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        fed.contains(
            "pakiti_security_updates_pending{host=\"deb-01\",site=\"\",severity=\"low\"} 1"
        ),
        "{fed}"
    );
    let own = reqwest::blocking::get(format!("{base}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        own.contains("pakiti_feed_records{feed=\"debian\"} 14"),
        "{own}"
    );
    assert!(own.contains("pakiti_feed_last_import_timestamp_seconds{feed=\"debian\"} "));
    // The host page shows them, the tracker linked, other kernels apart.
    let page = reqwest::blocking::get(format!("{base}/hosts/deb-01"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("3 in the loaded feeds for bookworm, 1 with the fix installable now"),
        "{page}"
    );
    assert!(page.contains("href=\"https://security-tracker.debian.org/tracker/CVE-2024-5535\""));
    assert_eq!(
        page.matches("installed kernel, not running: not counted")
            .count(),
        2
    );
    let page = reqwest::blocking::get(format!("{base}/hosts/ubu-01"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        // Ubuntu's feed is read, but none is loaded here.
        page.contains(
            "Unknown, not clean: no loaded feed has records for release &quot;ubuntu-pro:"
        ) && page.contains("&quot; or &quot;ubuntu:"),
        "{page}"
    );
    let v = get(&base, "/api/v1/hosts/ubu-01/vulnerabilities");
    assert_eq!(v["coverage"], false, "{v}");
    assert!(v["reason"].as_str().unwrap().contains("ubuntu"), "{v}");
    assert_eq!(v["vulnerabilities"].as_array().unwrap().len(), 0);

    fleet_views(&base, &fed);
    // SQLite serves one process: the aggregator stops for the import.
    drop(server);
    a_feed_import_rematches_the_fleet(&db, dir.path());
}

/// What the stored findings give: the fleet's list, one vulnerability's
/// hosts, `/federate`, the pages.
fn fleet_views(base: &str, fed: &str) {
    let v = get(base, "/api/v1/hosts/deb-01/vulnerabilities");
    assert!(
        v["vulnerabilities"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["first_seen"].as_str().is_some_and(|t| t.ends_with('Z'))),
        "every open finding has its first-seen time: {v}"
    );
    // The fleet copy follows a push within ten times its last load's time.
    let list = wait_for(base, "/api/v1/vulnerabilities", "one host covered", |v| {
        v["hosts_covered"] == 1
    });
    assert_eq!(
        (
            list["hosts_covered"].as_u64(),
            list["hosts_unknown"].as_u64()
        ),
        (Some(1), Some(1)),
        "{list}"
    );
    let rows: Vec<String> = list["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            format!(
                "{} {} hosts={} fixable={} {}",
                v["id"].as_str().unwrap(),
                v["severity"].as_str().unwrap(),
                v["hosts"],
                v["fixable_hosts"],
                v["source_packages"]
            )
        })
        .collect();
    // Worst first; the kernel that does not run (CVE-2024-1086) is not counted.
    assert_eq!(
        rows,
        [
            "CVE-2024-26581 moderate hosts=1 fixable=0 [\"linux\"]",
            "CVE-2024-5535 low hosts=1 fixable=1 [\"openssl\"]",
        ]
    );
    let fixable = get(base, "/api/v1/vulnerabilities?fix=available");
    assert_eq!(fixable["vulnerabilities"].as_array().unwrap().len(), 1);
    let bad =
        reqwest::blocking::get(format!("{base}/api/v1/vulnerabilities?severity=grave")).unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let one = get(base, "/api/v1/vulnerabilities/CVE-2024-5535");
    let hosts: Vec<String> = one["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{} {} {}",
                h["hostname"].as_str().unwrap(),
                h["package"].as_str().unwrap(),
                h["fix_available"]
            )
        })
        .collect();
    assert_eq!(
        hosts,
        ["deb-01 libssl3 true", "deb-01 openssl false"],
        "{one}"
    );
    assert_eq!(one["severity"], "low");
    assert_eq!(
        (one["total_hosts"].as_u64(), one["total_findings"].as_u64()),
        (Some(1), Some(2))
    );
    assert!(one["next"].is_null());
    // A page at a time: the next link gives the rest.
    let first = get(base, "/api/v1/vulnerabilities/CVE-2024-5535?limit=1");
    assert_eq!(first["hosts"].as_array().unwrap().len(), 1, "{first}");
    assert_eq!(first["hosts"][0]["package"], "libssl3");
    let next = first["next"].as_str().expect("a next page");
    let second = get(base, next);
    assert_eq!(second["hosts"][0]["package"], "openssl", "{second}");
    assert!(second["next"].is_null(), "{second}");
    for bad in ["?limit=0", "?limit=10001", "?after=nonsense"] {
        let r = reqwest::blocking::get(format!("{base}/api/v1/vulnerabilities/CVE-2024-5535{bad}"))
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{bad}");
    }
    let none =
        reqwest::blocking::get(format!("{base}/api/v1/vulnerabilities/CVE-1999-0001")).unwrap();
    assert_eq!(none.status().as_u16(), 404);
    // /federate: counts for the covered host, none for the other.
    for line in [
        "pakiti_vulnerabilities{host=\"deb-01\",site=\"\",severity=\"low\",fix=\"available\"} 1",
        "pakiti_vulnerabilities{host=\"deb-01\",site=\"\",severity=\"low\",fix=\"unavailable\"} 1",
        "pakiti_vulnerabilities{host=\"deb-01\",site=\"\",severity=\"moderate\",fix=\"unavailable\"} 1",
        "pakiti_vulnerabilities{host=\"deb-01\",site=\"\",severity=\"important\",fix=\"unavailable\"} 0",
        "pakiti_vulnerability_coverage{host=\"deb-01\",site=\"\"} 1",
        "pakiti_vulnerability_coverage{host=\"ubu-01\",site=\"\"} 0",
    ] {
        assert!(fed.contains(line), "{line} in {fed}");
    }
    assert!(
        !fed.contains("pakiti_vulnerabilities{host=\"ubu-01\""),
        "{fed}"
    );
    // The overview says how many hosts can patch a critical or important
    // vulnerability now (none here: CVE-2024-5535 is low), and how many
    // are unknown.
    let overview = reqwest::blocking::get(format!("{base}/"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        overview.contains("<span class=\"n\">0</span> exposed to a critical or important vulnerability they can patch now"),
        "{overview}"
    );
    assert!(
        overview.contains("<span class=\"n\">1</span> with vulnerabilities unknown"),
        "{overview}"
    );
    // The hosts list by fixable vulnerabilities, least first: the unknown
    // host below every covered one, so first here (its name sorts after).
    let hosts = reqwest::blocking::get(format!("{base}/hosts?sort=vulns&order=asc"))
        .unwrap()
        .text()
        .unwrap();
    let (deb, ubu) = (
        hosts.find(">deb-01<").unwrap(),
        hosts.find(">ubu-01<").unwrap(),
    );
    assert!(ubu < deb, "{hosts}");
    assert!(
        hosts.contains("title=\"no loaded vulnerability feed covers this host\">unknown"),
        "{hosts}"
    );
    let page = reqwest::blocking::get(format!("{base}/vulnerabilities"))
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("2 vulnerabilities on 1 host the"), "{page}");
    assert!(page.contains("1 host is not covered"), "{page}");
    assert!(
        page.contains("href=\"/vulnerabilities/CVE-2024-5535\""),
        "{page}"
    );
    let csv = reqwest::blocking::get(format!("{base}/vulnerabilities?format=csv&severity=low"))
        .unwrap()
        .text()
        .unwrap();
    assert!(csv.starts_with("id,severity,kev,epss,tags,hosts,excepted_hosts,fixable_hosts,source_packages,first_seen\nCVE-2024-5535,low,false,,,1,0,1,openssl,"), "{csv}");
    assert_eq!(csv.lines().count(), 2, "{csv}");
    let page = reqwest::blocking::get(format!("{base}/vulnerabilities/CVE-2024-5535"))
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("2 findings on 1 exposed host,"), "{page}");
    assert!(
        page.contains("href=\"/hosts/deb-01#vulnerabilities\""),
        "{page}"
    );
    // Its export: every open finding, as the page counts them.
    let csv = reqwest::blocking::get(format!("{base}/vulnerabilities/CVE-2024-5535?format=csv"))
        .unwrap()
        .text()
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("host,site,package,arch,"), "{csv}");
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1..].iter().all(|l| l.starts_with("deb-01,")), "{csv}");
}

/// A feed import rematches every host: what the new feed no longer has
/// is resolved, with its exposure time kept.
fn a_feed_import_rematches_the_fleet(db: &Path, dir: &Path) {
    let mut feed: Value = serde_json::from_slice(&std::fs::read(FIXTURE).unwrap()).unwrap();
    // Fixed before the version deb-01 has: no longer exposed.
    feed["openssl"]["CVE-2024-5535"]["releases"]["bookworm"]["fixed_version"] =
        "3.0.11-1~deb12u1".into();
    let newer = dir.join("tracker-newer.json");
    std::fs::write(&newer, serde_json::to_vec(&feed).unwrap()).unwrap();
    let out = import(db, &[&newer]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("rematched 2 hosts: 1 matched (3 findings, ")
            && stdout.contains("1 without coverage (unknown)"),
        "{stdout}"
    );
    let (_server, base) = start(db);
    let base = base.as_str();
    let one = get(base, "/api/v1/vulnerabilities/CVE-2024-5535");
    assert_eq!(one["hosts"].as_array().unwrap().len(), 0, "{one}");
    let resolved = one["resolved"].as_array().unwrap();
    assert_eq!(resolved.len(), 2, "{one}");
    assert!(resolved.iter().all(|r| r["resolved_at"].as_str().is_some()
        && r["first_seen"].as_str() <= r["resolved_at"].as_str()));
    // The export has the resolved ones after the (no) open ones.
    let csv = reqwest::blocking::get(format!("{base}/vulnerabilities/CVE-2024-5535?format=csv"))
        .unwrap()
        .text()
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.starts_with("deb-01,") && !l.ends_with(',')),
        "a resolved time on each: {csv}"
    );
    let list = get(base, "/api/v1/vulnerabilities");
    assert_eq!(list["total"], 1, "{list}");
}

#[test]
fn the_running_aggregator_imports_the_feeds_folder_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("feeds");
    std::fs::create_dir(&feeds).unwrap();
    let config = dir.path().join("aggregator.toml");
    std::fs::write(
        &config,
        format!(
            "[feeds]\ndir = \"{}\"\ncheck_every = \"1s\"\n",
            feeds.display()
        ),
    )
    .unwrap();
    let (_server, base) = start_with(&dir.path().join("pakiti.db"), &config);
    push(&base, &host("deb-01", 1, "debian", "bookworm"));
    let v = get(&base, "/api/v1/hosts/deb-01/vulnerabilities");
    assert_eq!(v["coverage"], false, "no feed yet: {v}");

    std::fs::copy(FIXTURE, feeds.join("debian.json")).unwrap();
    wait_for(
        &base,
        "/api/v1/vulnerabilities",
        "the folder's feed imported",
        |v| v["total"] == 2,
    );
    // A bad file beside it: nothing changes, the server goes on.
    std::fs::write(feeds.join("broken.json"), "{\"openssl\": 1}").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(get(&base, "/api/v1/vulnerabilities")["total"], 2);
    // Removed, and the feed replaced by a newer one: rematched.
    std::fs::remove_file(feeds.join("broken.json")).unwrap();
    let mut feed: Value = serde_json::from_slice(&std::fs::read(FIXTURE).unwrap()).unwrap();
    feed["openssl"]["CVE-2024-5535"]["releases"]["bookworm"]["fixed_version"] =
        "3.0.11-1~deb12u1".into();
    std::fs::write(
        feeds.join("debian.json"),
        serde_json::to_vec(&feed).unwrap(),
    )
    .unwrap();
    wait_for(
        &base,
        "/api/v1/vulnerabilities",
        "the newer feed imported",
        |v| v["total"] == 1,
    );
    let one = get(&base, "/api/v1/vulnerabilities/CVE-2024-5535");
    assert_eq!(one["resolved"].as_array().unwrap().len(), 2, "{one}");
    // The fleet copy follows: /federate counts what is open now.
    let fed = reqwest::blocking::get(format!("{base}/federate"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        fed.contains("pakiti_vulnerabilities{host=\"deb-01\",site=\"\",severity=\"low\",fix=\"available\"} 0"),
        "{fed}"
    );
}

/// A small HTTP server for `feeds fetch`: `/tracker.json` is the fixture,
/// `/broken.json` is not a feed, `/cut.json` stops halfway.
fn feed_server() -> String {
    process::http_server(|path| {
        let fixture = std::fs::read(FIXTURE).unwrap();
        match path {
            "/tracker.json" => Some((fixture.clone(), fixture.len())),
            "/broken.json" => Some((b"{\"openssl\": 1}".to_vec(), 14)),
            "/cut.json" => Some((fixture[..100].to_vec(), fixture.len())),
            _ => None,
        }
    })
}

fn fetch(config: &Path, dir: &Path) -> Output {
    Command::new(AGGREGATOR)
        .arg("--config.file")
        .arg(config)
        .args(["feeds", "fetch"])
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn feeds_fetch_downloads_checked_feeds_and_keeps_the_last_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("feeds");
    std::fs::create_dir(&feeds).unwrap();
    let base = feed_server();
    let config = |path: &str| {
        let c = dir.path().join("aggregator.toml");
        std::fs::write(&c, format!("[feeds.urls]\ndebian = \"{base}{path}\"\n")).unwrap();
        c
    };
    let out = fetch(&config("/tracker.json"), &feeds);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("14 records"), "{stdout}");
    let kept = feeds.join("debian-tracker.json");
    assert_eq!(
        std::fs::read(&kept).unwrap(),
        std::fs::read(FIXTURE).unwrap()
    );
    // Not a feed, cut short, missing: exit 1, the good file stays, no debris.
    for path in ["/broken.json", "/cut.json", "/missing.json"] {
        let out = fetch(&config(path), &feeds);
        assert_eq!(out.status.code(), Some(1), "{path}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("the previous file stays"));
        assert_eq!(
            std::fs::read(&kept).unwrap(),
            std::fs::read(FIXTURE).unwrap(),
            "{path}"
        );
        let names: Vec<String> = std::fs::read_dir(&feeds)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["debian-tracker.json"], "{path}");
    }
    // No such folder, a bad URL: bad usage.
    assert_eq!(
        fetch(&config("/tracker.json"), &dir.path().join("nope"))
            .status
            .code(),
        Some(2)
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[feeds.urls]\ndebian = \"ftp://x/y.json\"\n").unwrap();
    assert_eq!(fetch(&bad, &feeds).status.code(), Some(2));
    // The fetched folder imports.
    let out = import(&dir.path().join("p.db"), &[&feeds]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
