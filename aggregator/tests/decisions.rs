//! Decisions end to end, on the real binary: CISA's KEV catalog and
//! FIRST's EPSS imported as feeds (no rematch), a decisions file with an
//! accepted risk for one site until a date and a tag; the excepted findings
//! stay listed, marked, and leave the open counts (APIs, `/federate`); the
//! watch set and the exception gauges; a controllable clock lets the
//! exception expire and the findings come back open; the file is reloaded
//! when it changes, and a broken one keeps the previous decisions (and
//! stops a starting aggregator, naming the entry).

mod process;

use std::path::Path;

use pakiti_decisions::Date;
use pakiti_report::*;
use process::{arch_host, get, import, push, start_logged, wait_for, AGGREGATOR};

const ARCH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../vulns/fixtures/arch/security.json"
);

const KEV: &str = r#"{
  "title": "CISA Catalog of Known Exploited Vulnerabilities",
  "catalogVersion": "2026.12.01",
  "dateReleased": "2026-12-01T15:00:00.000Z",
  "count": 2,
  "vulnerabilities": [
    {"cveID": "CVE-2026-10001", "vendorProject": "OpenSSL", "product": "OpenSSL", "vulnerabilityName": "written for this test",
     "dateAdded": "2026-11-27", "shortDescription": "-", "requiredAction": "-", "dueDate": "DUE",
     "knownRansomwareCampaignUse": "Unknown", "notes": "", "cwes": []},
    {"cveID": "CVE-2019-0001", "vendorProject": "x", "product": "y", "vulnerabilityName": "not in this fleet",
     "dateAdded": "2021-11-03", "shortDescription": "-", "requiredAction": "-", "dueDate": "2022-05-03",
     "knownRansomwareCampaignUse": "Known", "notes": "", "cwes": []}
  ]
}"#;

const EPSS: &str = "#model_version:v2025.03.14,score_date:2026-12-01T12:55:00Z\ncve,epss,percentile\nCVE-2026-10001,0.41000,0.97000\nCVE-2026-10003,0.92000,0.99900\n";

const DECISIONS: &str = r#"
[[exception]]
vulnerability = "CVE-2026-10001"
state = "accepted_risk"
reason = "the TLS endpoint is internal"
owner = "alice@example.org"
expires = "EXPIRES"
site = "SiteA"

[[tag]]
vulnerability = "CVE-2026-10003"
name = "incident-2026-11"
reason = "seen in the November incident"
author = "bob"
"#;

fn text(base: &str, path: &str) -> String {
    reqwest::blocking::get(format!("{base}{path}"))
        .unwrap()
        .text()
        .unwrap()
}

/// The value of the one sample of `name` with these labels (in this order).
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

fn listed<'a>(list: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    list["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not listed: {list}"))
}

fn set_clock(file: &Path, t: std::time::SystemTime) {
    std::fs::write(file, humantime::format_rfc3339_seconds(t).to_string()).unwrap();
}

/// The days of this test, counted from today (the reports carry today's
/// times: when the hosts first reported their fixes).
struct Days {
    today: Date,
}

impl Days {
    fn day(&self, n: i64) -> Date {
        Date::from_days(self.today.days_since_epoch() + n)
    }
    fn at(&self, n: i64) -> std::time::SystemTime {
        self.day(n).start()
    }
}

#[test]
fn an_accepted_risk_leaves_the_open_counts_until_it_expires() {
    let days = Days {
        today: Date::of(std::time::SystemTime::now()),
    };
    // KEV: due in two days; the accepted risk: until the tenth day.
    let (due, expires) = (days.day(2).to_string(), days.day(10).to_string());
    let kev_text = KEV.replace("DUE", &due);
    let decisions_text = DECISIONS.replace("EXPIRES", &expires);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pakiti.db");
    let out = import(&db, &[Path::new(ARCH)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Priorities are feeds of their own; importing them rematches nothing.
    let (kev, epss) = (
        dir.path().join("known_exploited_vulnerabilities.json"),
        dir.path().join("epss_scores-2026-12-01.csv.gz"),
    );
    std::fs::write(&kev, &kev_text).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, EPSS.as_bytes()).unwrap();
    std::fs::write(&epss, gz.finish().unwrap()).unwrap();
    let out = import(&db, &[&kev, &epss]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("epss: 2 records from") && stdout.contains("kev: 2 records from"),
        "{stdout}"
    );
    assert!(!stdout.contains("rematched"), "{stdout}");
    // A damaged catalog changes nothing, and says which entry.
    std::fs::write(&kev, KEV.replace("DUE", "2026-12-32")).unwrap();
    let out = import(&db, &[&kev]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CVE-2026-10001") && err.contains("dueDate"),
        "{err}"
    );

    let decisions = dir.path().join("decisions.toml");
    std::fs::write(&decisions, &decisions_text).unwrap();
    let config = dir.path().join("aggregator.toml");
    std::fs::write(
        &config,
        format!(
            "[decisions]\nfile = {:?}\ncheck_every = \"200ms\"\n",
            decisions.display().to_string()
        ),
    )
    .unwrap();
    let clock = dir.path().join("clock");
    // Three days on: KEV's due day has passed, the 7 days of an
    // important fix have not.
    set_clock(&clock, days.at(3));
    let clock_path = clock.display().to_string();
    let env = [("PAKITI_AGGREGATOR_TEST_CLOCK", clock_path.as_str())];
    let (_server, base) = start_logged(&db, &config, &env, std::process::Stdio::null());
    push(&base, &arch_host("arch-01", 1, Some("SiteA")));
    push(&base, &arch_host("arch-02", 2, Some("SiteB")));

    // The fleet's list: KEV first; the accepted risk takes SiteA's host out.
    let list = wait_for(
        &base,
        "/api/v1/vulnerabilities",
        "both hosts matched",
        |v| {
            v["vulnerabilities"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x["id"] == "CVE-2026-10002" && x["hosts"] == 2)
            })
        },
    );
    assert_eq!(
        list["vulnerabilities"][0]["id"], "CVE-2026-10001",
        "KEV first: {list}"
    );
    let v = listed(&list, "CVE-2026-10001");
    assert_eq!(
        (v["kev"].clone(), v["kev_due"].clone(), v["epss"].clone()),
        (true.into(), due.clone().into(), 0.41.into()),
        "{v}"
    );
    assert_eq!(
        (v["hosts"].clone(), v["excepted_hosts"].clone()),
        (1.into(), 1.into()),
        "{v}"
    );
    assert_eq!(v["exceptions"][0]["state"], "accepted_risk", "{v}");
    assert_eq!(v["exceptions"][0]["scope"], "site SiteA", "{v}");
    assert_eq!(
        v["deadline"],
        humantime::format_rfc3339_seconds(days.at(3)).to_string(),
        "through the due day: {v}"
    );
    let tagged = listed(&list, "CVE-2026-10003");
    assert_eq!(tagged["tags"][0]["name"], "incident-2026-11", "{tagged}");
    assert_eq!(
        (tagged["kev"].clone(), tagged["epss"].clone()),
        (false.into(), 0.92.into())
    );
    let ids = |path: &str| -> Vec<String> {
        get(&base, path)["vulnerabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids("/api/v1/vulnerabilities?tag=incident-2026-11"),
        ["CVE-2026-10003"]
    );
    assert_eq!(ids("/api/v1/vulnerabilities?kev=1"), ["CVE-2026-10001"]);
    let of_host: Vec<String> = get(
        &base,
        "/api/v1/hosts/arch-02/vulnerabilities?site=SiteB&tag=incident-2026-11",
    )["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            format!(
                "{} {}",
                v["id"].as_str().unwrap(),
                v["package"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(of_host, ["CVE-2026-10003 vim"], "a host's list by tag too");
    let bad = reqwest::blocking::get(format!("{base}/api/v1/vulnerabilities?tag=a%20b")).unwrap();
    assert_eq!(bad.status(), 400);

    // One vulnerability: each host's row says whether it is excepted.
    let one = get(&base, "/api/v1/vulnerabilities/CVE-2026-10001");
    let rows: Vec<(String, serde_json::Value)> = one["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["hostname"].as_str().unwrap().to_string(),
                h["exception"]["state"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("arch-01".to_string(), "accepted_risk".into()),
            ("arch-02".to_string(), serde_json::Value::Null)
        ],
        "{one}"
    );
    // The host's own list: marked, with its deadline.
    let host = get(&base, "/api/v1/hosts/arch-01/vulnerabilities?site=SiteA");
    let f = host["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "CVE-2026-10001")
        .unwrap()
        .clone();
    assert_eq!(f["exception"]["state"], "accepted_risk", "{f}");
    // Its deadline: the earlier of KEV's due day and 7 days (important)
    // from when the host first reported the fix installable.
    let reported = humantime::parse_rfc3339(f["first_seen"].as_str().unwrap()).unwrap();
    let expected = days
        .at(3)
        .min(reported + std::time::Duration::from_secs(7 * 86_400));
    assert_eq!(
        (f["deadline"].clone(), f["past_deadline"].clone()),
        (
            humantime::format_rfc3339_seconds(expected)
                .to_string()
                .into(),
            true.into()
        ),
        "{f}"
    );
    // The page shows it too.
    let page = text(&base, "/vulnerabilities/CVE-2026-10001");
    assert!(
        page.contains(&format!("Known exploited (CISA KEV), due {due}"))
            && page.contains("the TLS endpoint is internal"),
        "{page}"
    );

    // The host's page marks it; SiteB's host shows it past its deadline.
    let host_page = text(&base, "/hosts/arch-01?site=SiteA");
    assert!(
        host_page.contains(&format!(
            "<strong>KEV</strong> accepted risk until {expires}"
        )),
        "{host_page}"
    );
    let other = text(&base, "/hosts/arch-02?site=SiteB");
    assert!(
        other.contains("<strong>KEV</strong> <strong>past deadline</strong>"),
        "{other}"
    );
    // /federate: SiteA's finding leaves its open count; the watch set.
    let fed = text(&base, "/federate");
    let open = |fed: &str, host: &str, site: &str| {
        sample(fed, &format!("pakiti_vulnerabilities{{host=\"{host}\",site=\"{site}\",severity=\"important\",fix=\"available\"}}"))
    };
    assert_eq!(
        (
            open(&fed, "arch-01", "SiteA"),
            open(&fed, "arch-02", "SiteB")
        ),
        (Some(1.0), Some(2.0)),
        "{fed}"
    );
    // Past deadline: KEV's due day has passed for SiteB's host; SiteA's
    // finding is excepted.
    let past = |fed: &str, host: &str, site: &str| {
        sample(fed, &format!("pakiti_vulnerabilities_past_deadline{{host=\"{host}\",site=\"{site}\",severity=\"important\"}}"))
    };
    assert_eq!(
        (
            past(&fed, "arch-01", "SiteA"),
            past(&fed, "arch-02", "SiteB")
        ),
        (Some(0.0), Some(1.0)),
        "{fed}"
    );
    // Eight days on, the 7 days of the other important fix have passed too.
    set_clock(&clock, days.at(8) + std::time::Duration::from_secs(3600));
    let fed = text(&base, "/federate");
    assert_eq!(
        (
            past(&fed, "arch-01", "SiteA"),
            past(&fed, "arch-02", "SiteB")
        ),
        (Some(1.0), Some(2.0)),
        "{fed}"
    );
    set_clock(&clock, days.at(3));
    assert_eq!(sample(&fed, "pakiti_vulnerability_exposed_hosts{id=\"CVE-2026-10001\",severity=\"important\",kev=\"true\"}"), Some(1.0), "{fed}");
    assert_eq!(sample(&fed, "pakiti_vulnerability_exposed_hosts{id=\"CVE-2026-10003\",severity=\"moderate\",kev=\"false\"}"), Some(2.0), "{fed}");
    // Counters of what rematches found and resolved (burn-down, time to remediate).
    assert_eq!(
        sample(
            &fed,
            "pakiti_vulnerabilities_detected_total{severity=\"important\"}"
        ),
        Some(4.0),
        "{fed}"
    );
    assert_eq!(
        sample(
            &fed,
            "pakiti_vulnerabilities_resolved_total{severity=\"important\"}"
        ),
        Some(0.0),
        "{fed}"
    );
    assert!(
        !fed.contains("CVE-2026-10002"),
        "neither KEV nor tagged: not watched"
    );
    let metrics = text(&base, "/metrics");
    assert_eq!(
        sample(&metrics, "pakiti_exceptions{state=\"accepted_risk\"}"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "pakiti_exceptions_expiring{state=\"accepted_risk\"}"
        ),
        Some(0.0),
        "it ends after the tenth day, more than 7 days after the third: {metrics}"
    );
    assert_eq!(
        sample(&metrics, "pakiti_aggregator_decisions_file_ok"),
        Some(1.0)
    );

    // On its last day it ends within the week; after it, it is gone.
    set_clock(&clock, days.at(11) - std::time::Duration::from_secs(1));
    let metrics = text(&base, "/metrics");
    assert_eq!(
        sample(
            &metrics,
            "pakiti_exceptions_expiring{state=\"accepted_risk\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    set_clock(&clock, days.at(11));
    let v = listed(&get(&base, "/api/v1/vulnerabilities"), "CVE-2026-10001").clone();
    assert_eq!(
        (
            v["hosts"].clone(),
            v["excepted_hosts"].clone(),
            v["exceptions"].clone()
        ),
        (2.into(), 0.into(), serde_json::json!([])),
        "{v}"
    );
    let fed = text(&base, "/federate");
    assert_eq!(
        open(&fed, "arch-01", "SiteA"),
        Some(2.0),
        "back open: {fed}"
    );
    assert_eq!(
        past(&fed, "arch-01", "SiteA"),
        Some(2.0),
        "past deadline, no longer excepted: {fed}"
    );
    assert_eq!(
        sample(
            &text(&base, "/metrics"),
            "pakiti_exceptions{state=\"accepted_risk\"}"
        ),
        Some(0.0)
    );

    // The file changes: a false positive for one host is taken.
    std::fs::write(
        &decisions,
        format!("{decisions_text}\n[[exception]]\nvulnerability = \"CVE-2026-10003\"\nstate = \"false_positive\"\nreason = \"vim is never run\"\nowner = \"carol\"\nhost = \"arch-02\"\n"),
    )
    .unwrap();
    let list = wait_for(
        &base,
        "/api/v1/vulnerabilities",
        "the changed file taken",
        |l| {
            l["vulnerabilities"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["id"] == "CVE-2026-10003" && v["excepted_hosts"] == 1)
        },
    );
    assert_eq!(listed(&list, "CVE-2026-10003")["hosts"], 1);
    // The file's change is in the audit log.
    let audit = get(&base, "/vulnerabilities/CVE-2026-10003/audit");
    let e = &audit["audit"][0];
    assert_eq!(
        (
            e["who"].clone(),
            e["action"].clone(),
            e["kind"].clone(),
            e["after"]["state"].clone()
        ),
        (
            "decisions file".into(),
            "added".into(),
            "exception".into(),
            "false_positive".into()
        ),
        "{audit}"
    );
    // A broken file keeps what was in force, and says so.
    std::fs::write(
        &decisions,
        decisions_text.replace("owner = \"alice@example.org\"", ""),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while sample(
        &text(&base, "/metrics"),
        "pakiti_aggregator_decisions_file_ok",
    ) != Some(0.0)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the broken file was not noticed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        listed(&get(&base, "/api/v1/vulnerabilities"), "CVE-2026-10003")["excepted_hosts"],
        1
    );

    // An aggregator does not start on a broken file; it names the entry.
    let out = std::process::Command::new(AGGREGATOR)
        .arg("--config.file")
        .arg(&config)
        .arg("--storage.url")
        .arg(dir.path().join("other.db"))
        .args(["--web.listen-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("exception 1 (CVE-2026-10001): missing field `owner`"),
        "{err}"
    );
}

/// The web UI's decisions: operators only, each form with its token and
/// from this site, checked as the file's entries are, in the audit log.
#[test]
fn operators_record_decisions_in_the_web_ui() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pakiti.db");
    assert!(import(&db, &[Path::new(ARCH)]).status.success());
    let hash = bcrypt::hash("pw", 4).unwrap();
    let config = dir.path().join("aggregator.toml");
    std::fs::write(
        &config,
        format!("[web]\naccess = \"basic\"\noperators = [\"alice\"]\n[web.users]\nalice = '{hash}'\nvictor = '{hash}'\n"),
    )
    .unwrap();
    let (_server, base) = start_logged(&db, &config, &[], std::process::Stdio::null());
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (name, n, site) in [("arch-01", 1, "SiteA"), ("arch-02", 2, "SiteB")] {
        let r = client
            .post(format!("{base}/api/v1/reports"))
            .header("content-type", "application/json")
            .body(to_json(&arch_host(name, n, Some(site))))
            .send()
            .unwrap();
        assert!(r.status().is_success());
    }
    let as_user = |user: &str, path: &str| {
        client
            .get(format!("{base}{path}"))
            .basic_auth(user, Some("pw"))
            .send()
            .unwrap()
    };
    let post = |user: &str, path: &str, form: &[(&str, &str)], origin: Option<&str>| {
        let mut r = client
            .post(format!("{base}{path}"))
            .basic_auth(user, Some("pw"))
            .form(form);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send().unwrap()
    };
    let page = as_user("alice", "/vulnerabilities/CVE-2026-10001")
        .text()
        .unwrap();
    let token = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .map(|t| t[..64].to_string())
        .unwrap_or_else(|| panic!("an operator gets the forms: {page}"));
    let viewer_page = as_user("victor", "/vulnerabilities/CVE-2026-10001")
        .text()
        .unwrap();
    assert!(
        !viewer_page.contains("name=\"csrf\"") && viewer_page.contains("needs the operator role")
    );
    let until =
        Date::from_days(Date::of(std::time::SystemTime::now()).days_since_epoch() + 10).to_string();
    let good = [
        ("csrf", token.as_str()),
        ("state", "accepted_risk"),
        ("expires", until.as_str()),
        ("reason", "the TLS endpoint is internal"),
        ("site", "SiteA"),
    ];
    let path = "/vulnerabilities/CVE-2026-10001/exceptions";
    // Refused: a viewer (even with the operator's token), no token, another
    // user's token, a form from another site; nothing recorded.
    assert_eq!(post("victor", path, &good, None).status(), 403);
    let mut no_token = good.to_vec();
    no_token.retain(|(k, _)| *k != "csrf");
    assert_eq!(post("alice", path, &no_token, None).status(), 403);
    let mut wrong = good.to_vec();
    wrong[0].1 = "00";
    assert_eq!(post("alice", path, &wrong, None).status(), 403);
    assert_eq!(
        post("alice", path, &good, Some("http://evil.example")).status(),
        403
    );
    // Checked as the file's entries are.
    let mut no_date = good.to_vec();
    no_date.retain(|(k, _)| *k != "expires");
    let r = post("alice", path, &no_date, None);
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("needs `expires`"));
    let list = |user: &str| -> serde_json::Value {
        as_user(user, "/api/v1/vulnerabilities").json().unwrap()
    };
    assert_eq!(
        listed(&list("alice"), "CVE-2026-10001")["excepted_hosts"],
        0
    );
    // Recorded: the page it came from, the open counts.
    let r = post("alice", path, &good, Some(&base));
    assert_eq!(r.status(), 303, "{}", r.text().unwrap_or_default());
    let v = listed(&list("victor"), "CVE-2026-10001").clone();
    assert_eq!(
        (v["hosts"].clone(), v["excepted_hosts"].clone()),
        (1.into(), 1.into()),
        "{v}"
    );
    assert_eq!(
        v["exceptions"][0]["owner"], "alice",
        "the owner defaults to the operator: {v}"
    );
    let r = post(
        "alice",
        "/vulnerabilities/CVE-2026-10001/tags",
        &[
            ("csrf", &token),
            ("name", "critical-for-us"),
            ("reason", "payments"),
        ],
        None,
    );
    assert_eq!(r.status(), 303);
    assert_eq!(
        as_user("victor", "/api/v1/vulnerabilities?tag=critical-for-us")
            .json::<serde_json::Value>()
            .unwrap()["vulnerabilities"][0]["id"],
        "CVE-2026-10001"
    );
    // Removed by its id; every change in the audit log, as JSON and CSV.
    let page = as_user("alice", "/vulnerabilities/CVE-2026-10001")
        .text()
        .unwrap();
    let remove = page
        .split("action=\"/vulnerabilities/CVE-2026-10001/decisions/")
        .nth(1)
        .and_then(|t| t.split('/').next())
        .unwrap_or_else(|| panic!("a remove button: {page}"))
        .to_string();
    let r = post(
        "alice",
        &format!("/vulnerabilities/CVE-2026-10001/decisions/{remove}/remove"),
        &[("csrf", &token)],
        None,
    );
    assert_eq!(r.status(), 303);
    assert_eq!(
        listed(&list("alice"), "CVE-2026-10001")["excepted_hosts"],
        0
    );
    let audit: serde_json::Value = as_user("victor", "/vulnerabilities/CVE-2026-10001/audit")
        .json()
        .unwrap();
    let lines: Vec<String> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {}",
                e["who"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
                e["before"].is_null()
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "alice added exception true",
            "alice added tag true",
            "alice removed exception false"
        ],
        "{audit}"
    );
    assert_eq!(
        audit["audit"][2]["before"]["reason"],
        "the TLS endpoint is internal"
    );
    let csv = as_user("victor", "/vulnerabilities/CVE-2026-10001/audit?format=csv")
        .text()
        .unwrap();
    assert!(
        csv.starts_with("at,who,action,kind,vulnerability,before,after\n")
            && csv.lines().count() == 4,
        "{csv}"
    );
    // Operators need an identity: without one, the setting is refused.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[web]\noperators = [\"alice\"]\n").unwrap();
    let out = std::process::Command::new(AGGREGATOR)
        .args([
            "--config.file",
            bad.to_str().unwrap(),
            "--storage.url",
            dir.path().join("x.db").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("web.operators needs web.access"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
