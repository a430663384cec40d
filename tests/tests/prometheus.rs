//! Dashboards and alert rules against a real Prometheus (Debian's) scraping the
//! real exporter and the real aggregator's /federate: every panel query, every
//! template variable and every alert expression must parse, and each names only
//! metrics that really exist. Also: the example configuration files are accepted
//! by the programs that read them.

mod common;

use std::process::{Command, Stdio};

use common::*;
use serde_json::{json, Value};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// A synthetic pushed host with a security update of every severity, so that
/// every family exists whatever this machine has pending.
fn synthetic_report() -> Value {
    synthetic_report_of("5555555555555555aaaaaaaaaaaaaaaa")
}

/// The synthetic host under another machine id: the same host re-imaged.
fn synthetic_report_of(machine_id: &str) -> Value {
    let updates: Vec<Value> = ["critical", "important", "moderate", "low", "unknown"]
        .iter()
        .enumerate()
        .map(|(i, sev)| {
            json!({"name": format!("pkg-{sev}"), "arch": "amd64", "installed_version": "1.0-1",
                   "candidate_version": format!("1.0-{}", i + 2), "security": true, "severity": sev, "held": false})
        })
        .collect();
    json!({
        "schema_version": 1,
        "host": {"hostname": "synthetic-01", "machine_id": machine_id, "site": "SiteS"},
        "os": {"id": "rocky", "version": "9.4"},
        "kernel": "5.14.0", "arch": "x86_64", "manager": "dnf",
        "exporter": {"version": "0.1.0", "revision": "synthetic"},
        "collected_at": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "collection_duration_seconds": 2.0,
        "reboot": {"required": true, "packages": ["kernel"]},
        "security_metadata_available": true,
        "installed_packages": 600,
        "updates": updates
    })
}

/// A synthetic Debian host with an inventory the imported tracker fixture
/// covers: openssl below its fix, the fix pending for libssl3. Its
/// `pakiti_vulnerabilities` series exist whatever this machine runs, and
/// those of fixes behind an entitlement (one for openssl).
fn synthetic_debian_report() -> Value {
    json!({
        "schema_version": 1,
        "host": {"hostname": "synthetic-deb", "machine_id": "7777777777777777cccccccccccccccc", "site": "SiteS"},
        "os": {"id": "debian", "version": "12", "version_codename": "bookworm"},
        "kernel": "6.1.0-18-amd64", "arch": "x86_64", "manager": "apt",
        "exporter": {"version": "0.1.0", "revision": "synthetic"},
        "collected_at": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "collection_duration_seconds": 1.0,
        "reboot": {"required": false, "packages": []},
        "security_metadata_available": true,
        "installed_packages": 2,
        "installed": [
            {"name": "libssl3", "version": "3.0.11-1~deb12u2", "arch": "amd64", "source_name": "openssl"},
            {"name": "openssl", "version": "3.0.11-1~deb12u2", "arch": "amd64"}
        ],
        "updates": [{"name": "libssl3", "arch": "amd64", "installed_version": "3.0.11-1~deb12u2",
                     "candidate_version": "3.0.15-1~deb12u1", "security": true, "severity": "unknown", "held": false}],
        "unentitled": [{"name": "openssl", "arch": "amd64", "installed_version": "3.0.11-1~deb12u2",
                        "version": "3.0.15-1~deb12u1+esm1", "channel": "esm-infra", "security": true}]
    })
}

struct Stack {
    _dir: tempfile::TempDir,
    _procs: Vec<Proc>,
    prometheus: String,
    exporter_instance: String,
    /// What Alertmanager delivered to the webhook receivers.
    delivered: common::webhook::Received,
    /// The aggregator's decisions file (reloaded every second).
    decisions: std::path::PathBuf,
}

/// CISA's catalog, in its shape: the synthetic Debian host's openssl
/// vulnerability is known to be exploited and overdue.
const KEV: &str = r#"{"title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2026.12.01",
 "dateReleased": "2026-12-01T15:00:00.000Z", "count": 1, "vulnerabilities": [
 {"cveID": "CVE-2024-5535", "vendorProject": "OpenSSL", "product": "OpenSSL", "vulnerabilityName": "written for this test",
  "dateAdded": "2026-01-02", "shortDescription": "-", "requiredAction": "-", "dueDate": "2026-01-23",
  "knownRansomwareCampaignUse": "Unknown", "notes": "", "cwes": []}]}"#;

/// The decisions file at first: a tag, and an exception ending in 3 days
/// (so every decisions series exists).
fn decisions_file() -> String {
    let soon = std::time::SystemTime::now() + std::time::Duration::from_secs(3 * 86_400);
    let day = humantime::format_rfc3339_seconds(soon).to_string()[..10].to_string();
    format!(
        "[[tag]]\nvulnerability = \"CVE-2024-5535\"\nname = \"incident-2026-11\"\nreason = \"seen in the incident\"\n\n\
         [[exception]]\nvulnerability = \"CVE-2024-0001\"\nstate = \"accepted_risk\"\nreason = \"not reachable\"\nowner = \"alice\"\nexpires = \"{day}\"\n"
    )
}

fn try_query(prom: &str, expr: &str) -> Option<Value> {
    reqwest::blocking::Client::new()
        .get(format!("{prom}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .ok()?
        .json()
        .ok()
}

fn query(prom: &str, expr: &str) -> Value {
    try_query(prom, expr).unwrap_or_else(|| panic!("Prometheus did not answer {expr}"))
}

fn stack() -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ep, ap, pp, amp) = (free_port(), free_port(), free_port(), free_port());
    let exporter_cfg = d.join("exporter.toml");
    std::fs::write(
        &exporter_cfg,
        format!(
            "[collector]\ncache_dir = \"{}\"\nupdate_info = \"all\"\n",
            d.join("cache").display()
        ),
    )
    .unwrap();
    let exporter = Proc(
        Command::new(bin("pakiti-exporter"))
            .args([
                "--config.file",
                exporter_cfg.to_str().unwrap(),
                "--web.listen-address",
                &format!("127.0.0.1:{ep}"),
            ])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let agg_cfg = d.join("aggregator.toml");
    // The aggregator forwards statistics to itself (so the central side's
    // pakiti_site_* series exist for the dashboards) and to an upstream that
    // never answers (so the forwarding queue's series exist for the rules).
    // With clients configured, the synthetic push presents a relay's token.
    std::fs::write(d.join("upstream.token"), "server-token\n").unwrap();
    let sha = |t: &str| -> String {
        use sha2::Digest;
        sha2::Sha256::digest(t.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    std::fs::write(
        &agg_cfg,
        format!(
            "[[client]]\nname = \"self\"\ntoken_sha256 = \"{}\"\nsites = [\"*\"]\nrole = \"server\"\n\
             [[client]]\nname = \"pusher\"\ntoken_sha256 = \"{}\"\nsites = [\"*\"]\nrole = \"relay\"\n\
             [scrape]\ninterval = \"2s\"\n[[scrape.static]]\ntargets = [\"127.0.0.1:{ep}\"]\nsite = \"SiteLocal\"\n\
             [[upstream]]\nurl = \"http://127.0.0.1:{ap}\"\nsend = \"stats\"\ninterval = \"1s\"\ntoken_file = \"{token}\"\n\
             [[upstream]]\nurl = \"http://127.0.0.1:{}\"\nsend = \"stats\"\ninterval = \"1s\"\ntoken_file = \"{token}\"\n\
             [decisions]\nfile = \"{decisions}\"\ncheck_every = \"1s\"\n",
            sha("server-token"),
            sha("pusher-token"),
            free_port(),
            token = d.join("upstream.token").display(),
            decisions = d.join("decisions.toml").display()
        ),
    )
    .unwrap();
    std::fs::write(d.join("decisions.toml"), decisions_file()).unwrap();
    std::fs::write(d.join("known_exploited_vulnerabilities.json"), KEV).unwrap();
    // A vulnerability feed, as an operator imports it: its metrics exist.
    let imported = Command::new(bin("pakiti-aggregator"))
        .args(["--config.file", agg_cfg.to_str().unwrap()])
        .args(["--storage.url", d.join("pakiti.db").to_str().unwrap()])
        .args([
            "feeds",
            "import",
            &format!("{ROOT}/vulns/fixtures/debian-tracker.json"),
            d.join("known_exploited_vulnerabilities.json")
                .to_str()
                .unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let aggregator = Proc(
        Command::new(bin("pakiti-aggregator"))
            .args(["--config.file", agg_cfg.to_str().unwrap()])
            .args(["--storage.url", d.join("pakiti.db").to_str().unwrap()])
            .args(["--web.listen-address", &format!("127.0.0.1:{ap}")])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let agg = format!("http://127.0.0.1:{ap}");
    let client = reqwest::blocking::Client::new();
    wait_for("the aggregator", 30, || {
        client
            .post(format!("{agg}/api/v1/reports"))
            .bearer_auth("pusher-token")
            .header("content-type", "application/json")
            .body(synthetic_report().to_string())
            .send()
            .ok()
            .filter(|r| r.status().is_success())
    });
    // The same host re-imaged (a new machine id, the same name and site): two
    // stored hosts, which /federate must show as one series each.
    let reimaged = client
        .post(format!("{agg}/api/v1/reports"))
        .bearer_auth("pusher-token")
        .header("content-type", "application/json")
        .body(synthetic_report_of("6666666666666666bbbbbbbbbbbbbbbb").to_string())
        .send()
        .unwrap();
    assert_eq!(reimaged.status().as_u16(), 200);
    let debian = client
        .post(format!("{agg}/api/v1/reports"))
        .bearer_auth("pusher-token")
        .header("content-type", "application/json")
        .body(synthetic_debian_report().to_string())
        .send()
        .unwrap();
    assert_eq!(
        debian.status().as_u16(),
        200,
        "{}",
        debian.text().unwrap_or_default()
    );
    wait_for("the scraped host", 60, || {
        let v: Value = client
            .get(format!("{agg}/api/v1/hosts?site=SiteLocal"))
            .send()
            .ok()?
            .json()
            .ok()?;
        (!v["hosts"].as_array()?.is_empty()).then_some(())
    });
    // Alertmanager with the shipped example's routes, its receivers this
    // test's webhook, its waits shortened.
    let (hook, delivered) = common::webhook::receiver();
    let am_cfg = d.join("alertmanager.yml");
    std::fs::write(
        &am_cfg,
        std::fs::read_to_string(format!("{ROOT}/config/alertmanager.yml"))
            .unwrap()
            .replace("http://alerts.example.org", &hook)
            .replace("group_wait: 30s", "group_wait: 1s")
            .replace("group_interval: 5m", "group_interval: 1s")
            .replace("group_interval: 24h", "group_interval: 1s"),
    )
    .unwrap();
    let alertmanager = Proc(
        Command::new("prometheus-alertmanager")
            .args(["--config.file", am_cfg.to_str().unwrap()])
            .args(["--storage.path", d.join("am").to_str().unwrap()])
            .args(["--web.listen-address", &format!("127.0.0.1:{amp}")])
            .args(["--cluster.listen-address", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager (Debian package prometheus-alertmanager)"),
    );
    let prom_cfg = d.join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {ROOT}/alerts/pakiti.rules.yml\n\
             alerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['127.0.0.1:{amp}']\nscrape_configs:\n\
             - job_name: pakiti-exporter\n  static_configs:\n  - targets: ['127.0.0.1:{ep}']\n\
             - job_name: pakiti-federate\n  honor_labels: true\n  metrics_path: /federate\n  params:\n    'match[]': ['{{__name__=~\"pakiti_.+\"}}']\n  static_configs:\n  - targets: ['127.0.0.1:{ap}']\n\
             - job_name: pakiti-aggregator\n  static_configs:\n  - targets: ['127.0.0.1:{ap}']\n"
        ),
    )
    .unwrap();
    let prometheus = Proc(
        Command::new("prometheus")
            .args(["--config.file", prom_cfg.to_str().unwrap()])
            .args(["--storage.tsdb.path", d.join("tsdb").to_str().unwrap()])
            .args(["--web.listen-address", &format!("127.0.0.1:{pp}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian package prometheus)"),
    );
    let prom = format!("http://127.0.0.1:{pp}");
    wait_for(
        "Prometheus to scrape all three jobs with pakiti data",
        60,
        || {
            let up = try_query(&prom, "count(up == 1)")?;
            let fed = try_query(&prom, "count(pakiti_updates_pending{host!=\"\"})")?;
            let exp = try_query(&prom, "count(pakiti_update_info)")?;
            let n = |v: &Value| {
                v["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|s| s.parse::<f64>().ok())
            };
            let sites = try_query(&prom, "count(pakiti_site_hosts)")?;
            (n(&up) == Some(3.0)
                && n(&fed) == Some(3.0)
                && n(&exp).is_some()
                && n(&sites).is_some())
            .then_some(())
        },
    );
    // A few more scrapes of every job, so that range functions have points.
    wait_for("four scrapes of every job", 60, || {
        let v = try_query(&prom, "min(count_over_time(up[1m])) >= 4")?;
        (!v["data"]["result"].as_array()?.is_empty()).then_some(())
    });
    Stack {
        decisions: d.join("decisions.toml"),
        _dir: dir,
        _procs: vec![prometheus, alertmanager, aggregator, exporter],
        prometheus: prom,
        exporter_instance: format!("127.0.0.1:{ep}"),
        delivered,
    }
}

fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &expr[i..];
        let starts = rest.starts_with("pakiti_")
            || (rest.starts_with("up{") || rest.starts_with("up ") || rest == "up");
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts && boundary {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            names.push(rest[..end].to_string());
            i += end;
        } else {
            i += 1;
        }
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn dashboards_and_alerts_match_what_prometheus_really_has() {
    let s = stack();
    let prom = &s.prometheus;
    let exists = |name: &str| {
        let v = query(prom, &format!("count({{__name__=\"{name}\"}})"));
        v["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    };
    let mut checked = 0;
    for (file, vars) in [
        (
            "pakiti-fleet.json",
            vec![("$site", ".*".to_string()), ("$host", ".*".to_string())],
        ),
        (
            "pakiti-host.json",
            vec![
                ("$host", s.exporter_instance.clone()),
                ("$job", "pakiti-exporter".to_string()),
            ],
        ),
    ] {
        let d: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{ROOT}/dashboards/{file}")).unwrap(),
        )
        .unwrap();
        // The data source is a variable, never a fixed one.
        assert!(
            d["templating"]["list"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["type"] == "datasource"),
            "{file}"
        );
        let text = d.to_string();
        assert!(
            !text.contains("\"uid\":\"prometheus\""),
            "{file} names a fixed data source"
        );
        let subst = |q: &str| {
            vars.iter()
                .fold(q.to_string(), |acc, (k, v)| acc.replace(k, v))
        };
        for v in d["templating"]["list"].as_array().unwrap() {
            if let Some(q) = v["definition"].as_str() {
                // label_values(SELECTOR, LABEL): the selector must match series having LABEL.
                let inner = q.trim_start_matches("label_values(").trim_end_matches(')');
                let (selector, label) = inner.rsplit_once(", ").unwrap();
                let r = query(prom, &format!("count by ({label}) ({})", subst(selector)));
                assert!(
                    r["data"]["result"]
                        .as_array()
                        .is_some_and(|a| !a.is_empty()),
                    "{file}: variable {q} is empty: {r}"
                );
            }
        }
        for p in d["panels"].as_array().unwrap() {
            assert!(
                p["datasource"]["uid"] == "${datasource}",
                "{file}: {} has a fixed data source",
                p["title"]
            );
            assert!(
                p["fieldConfig"]["defaults"]["unit"].is_string(),
                "{file}: {} has no unit",
                p["title"]
            );
            let expect = p["pakiti"]["expect_data"].as_bool().unwrap_or(true);
            for t in p["targets"].as_array().unwrap() {
                let expr = subst(t["expr"].as_str().unwrap());
                let r = query(prom, &expr);
                assert_eq!(
                    r["status"], "success",
                    "{file}: {}: {expr}: {r}",
                    p["title"]
                );
                if expect {
                    assert!(
                        !r["data"]["result"].as_array().unwrap().is_empty(),
                        "{file}: {} has no data: {expr}",
                        p["title"]
                    );
                }
                for name in metric_names(&expr) {
                    assert!(
                        exists(&name),
                        "{file}: {} uses {name}, which nothing exports",
                        p["title"]
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 25, "only {checked} queries checked");

    let rules = std::fs::read_to_string(format!("{ROOT}/alerts/pakiti.rules.yml")).unwrap();
    let exprs: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr: "))
        .collect();
    assert!(exprs.len() >= 10);
    for expr in exprs {
        let r = query(prom, expr);
        assert_eq!(r["status"], "success", "{expr}: {r}");
        for name in metric_names(expr) {
            assert!(
                exists(&name),
                "alert expression {expr:?} uses {name}, which nothing exports"
            );
        }
    }
    // Prometheus itself loaded and evaluated every rule without error.
    let loaded: Value = wait_for("rule evaluation", 30, || {
        let v: Value = reqwest::blocking::get(format!("{prom}/api/v1/rules"))
            .ok()?
            .json()
            .ok()?;
        let all: Vec<Value> = v["data"]["groups"]
            .as_array()?
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        all.iter()
            .all(|r| r["health"] == "ok")
            .then_some(Value::Array(all))
    });
    assert_eq!(
        loaded.as_array().unwrap().len(),
        rules.matches("- alert: ").count()
    );
    // The synthetic host needs a reboot: the fleet series carries host and site labels.
    let r = query(
        prom,
        "pakiti_reboot_required{host=\"synthetic-01\",site=\"SiteS\",job=\"pakiti-federate\"}",
    );
    assert_eq!(r["data"]["result"][0]["value"][1], "1", "{r}");
}

/// A re-imaged host is stored twice but federated once: Prometheus sees no
/// duplicate series (it counts them in its own metrics, which promtool does not check).
#[test]
fn a_real_prometheus_sees_one_series_per_host_and_site() {
    let s = stack();
    let v = query(
        &s.prometheus,
        "count(pakiti_updates_pending{host=\"synthetic-01\"})",
    );
    assert_eq!(v["data"]["result"][0]["value"][1], "1", "{v}");
    let own = reqwest::blocking::get(format!("{}/metrics", s.prometheus))
        .unwrap()
        .text()
        .unwrap();
    let duplicates: f64 = own
        .lines()
        .find(|l| l.starts_with("prometheus_target_scrapes_sample_duplicate_timestamp_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("Prometheus counts duplicate samples");
    assert_eq!(duplicates, 0.0, "duplicate series in /federate");
}

#[test]
fn the_committed_dashboards_are_what_build_py_writes() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("/usr/bin/python3")
        .arg(format!("{ROOT}/dashboards/build.py"))
        .args(["--out", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["pakiti-fleet.json", "pakiti-host.json"] {
        let built = std::fs::read_to_string(dir.path().join(f)).unwrap();
        let committed = std::fs::read_to_string(format!("{ROOT}/dashboards/{f}")).unwrap();
        assert!(
            built == committed,
            "dashboards/{f} differs from what dashboards/build.py writes: run it and commit"
        );
    }
}

#[test]
fn example_configurations_are_accepted_by_their_programs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // prometheus.yml: promtool, with the rule file of this repository.
    let prom = std::fs::read_to_string(format!("{ROOT}/config/prometheus.yml"))
        .unwrap()
        .replace(
            "/etc/prometheus/pakiti.rules.yml",
            &format!("{ROOT}/alerts/pakiti.rules.yml"),
        );
    std::fs::write(d.join("prometheus.yml"), prom).unwrap();
    let out = Command::new("promtool")
        .args(["check", "config"])
        .arg(d.join("prometheus.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // alertmanager.yml: amtool, as Alertmanager reads it.
    let out = Command::new("amtool")
        .args(["check-config", &format!("{ROOT}/config/alertmanager.yml")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // exporter.toml: the exporter collects with it.
    let out = Command::new(bin("pakiti-exporter"))
        .args([
            "--config.file",
            &format!("{ROOT}/config/exporter.toml"),
            "collect",
            "--format",
            "text",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // aggregator.toml: the aggregator starts with it as it is (its placeholders are
    // commented out), as the packages install it.
    std::fs::copy(
        format!("{ROOT}/config/aggregator.toml"),
        d.join("aggregator.toml"),
    )
    .unwrap();
    let port = free_port();
    let _agg = Proc(
        Command::new(bin("pakiti-aggregator"))
            .args(["--config.file", d.join("aggregator.toml").to_str().unwrap()])
            .args(["--storage.url", d.join("p.db").to_str().unwrap()])
            .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the aggregator with the example configuration", 30, || {
        reqwest::blocking::get(format!("http://127.0.0.1:{port}/-/ready"))
            .ok()
            .filter(|r| r.status().is_success())
    });

    // systemd units: systemd-analyze, with ExecStart pointing at the built binaries.
    for unit in [
        "pakiti-exporter.service",
        "pakiti-aggregator.service",
        "pakiti-push.service",
        "pakiti-push.timer",
    ] {
        let text = std::fs::read_to_string(format!("{ROOT}/config/systemd/{unit}"))
            .unwrap()
            .replace(
                "/usr/bin/pakiti-exporter",
                bin("pakiti-exporter").to_str().unwrap(),
            )
            .replace(
                "/usr/bin/pakiti-aggregator",
                bin("pakiti-aggregator").to_str().unwrap(),
            )
            .replace("User=pakiti\nGroup=pakiti\n", "");
        std::fs::write(d.join(unit), text).unwrap();
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(
            [
                "pakiti-exporter.service",
                "pakiti-aggregator.service",
                "pakiti-push.service",
                "pakiti-push.timer",
            ]
            .map(|u| d.join(u)),
        )
        .output()
        .expect("systemd-analyze");
    let err = String::from_utf8_lossy(&out.stderr);
    let complaints: Vec<&str> = err.lines().filter(|l| l.contains("pakiti")).collect();
    assert!(complaints.is_empty(), "{err}");

    // Grafana provisioning files are YAML of the documented shape.
    for f in ["pakiti-dashboards.yml", "prometheus-datasource.yml"] {
        let text = std::fs::read_to_string(format!("{ROOT}/config/grafana/{f}")).unwrap();
        assert!(text.contains("apiVersion: 1"), "{f}");
    }
}

/// The alerts Alertmanager delivered to `path`, as (status, labels, summary).
fn delivered_to(s: &Stack, path: &str, alertname: &str) -> Vec<(String, Value, String)> {
    s.delivered
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == path)
        .flat_map(|(_, body)| body["alerts"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["labels"]["alertname"] == alertname)
        .map(|a| {
            (
                a["status"].as_str().unwrap_or("").to_string(),
                a["labels"].clone(),
                a["annotations"]["summary"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

/// Alerts that reach a person: Debian's Prometheus evaluates the shipped
/// rules against the real aggregator, Debian's Alertmanager routes them by
/// the shipped example (critical pages; a host's alerts by site) to the
/// webhook receivers; an exception recorded in the decisions file makes the
/// KEV alert resolve.
#[test]
fn alerts_reach_a_person_through_alertmanager() {
    let s = stack();
    // A known exploited vulnerability in the fleet pages.
    let kev = wait_for("the KEV alert at the pager", 90, || {
        let got = delivered_to(
            &s,
            "/pakiti/pager",
            "PakitiKnownExploitedVulnerabilityInFleet",
        );
        got.into_iter().find(|(status, _, _)| status == "firing")
    });
    assert_eq!(kev.1["id"], "CVE-2024-5535", "{:?}", kev);
    assert_eq!(kev.1["severity"], "critical");
    assert_eq!(kev.1["vulnerability_severity"], "low");
    assert_eq!(
        kev.2,
        "CVE-2024-5535, known to be exploited (CISA KEV), is on 1 hosts"
    );
    // The host's findings past KEV's due date reach the team (its site has no
    // route of its own), with host, site and severity.
    let past = wait_for("the past-deadline alert at the team", 90, || {
        delivered_to(&s, "/pakiti/team", "PakitiVulnerabilitiesPastDeadline")
            .into_iter()
            .find(|(status, l, _)| status == "firing" && l["host"] == "synthetic-deb")
    });
    assert_eq!(
        (past.1["site"].clone(), past.1["severity"].clone()),
        ("SiteS".into(), "warning".into()),
        "{past:?}"
    );
    assert_eq!(
        past.2,
        "synthetic-deb: 2 low vulnerabilities past their deadline"
    );
    assert!(
        delivered_to(&s, "/pakiti/pager", "PakitiVulnerabilitiesPastDeadline").is_empty(),
        "a warning does not page"
    );
    // An accepted risk for the whole fleet: the KEV alert goes quiet.
    let day = humantime::format_rfc3339_seconds(
        std::time::SystemTime::now() + std::time::Duration::from_secs(30 * 86_400),
    )
    .to_string();
    std::fs::write(
        &s.decisions,
        format!(
            "{}\n[[exception]]\nvulnerability = \"CVE-2024-5535\"\nstate = \"accepted_risk\"\nreason = \"only a test host\"\nowner = \"alice\"\nexpires = \"{}\"\n",
            decisions_file(),
            &day[..10]
        ),
    )
    .unwrap();
    wait_for("the KEV alert resolved at the pager", 90, || {
        delivered_to(
            &s,
            "/pakiti/pager",
            "PakitiKnownExploitedVulnerabilityInFleet",
        )
        .into_iter()
        .find(|(status, _, _)| status == "resolved")
    });
}
