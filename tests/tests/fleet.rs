//! Both real programs together on this machine: the exporter pushes (cron
//! mode and scheduled) and is scraped (file_sd), and the aggregator shows the
//! host once, with what the exporter saw.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

fn aggregator(dir: &Path, config: &str) -> (Proc, String) {
    let cfg = dir.join("aggregator.toml");
    std::fs::write(&cfg, config).unwrap();
    let port = free_port();
    let child = Command::new(bin("pakiti-aggregator"))
        .args(["--config.file", cfg.to_str().unwrap()])
        .args(["--storage.url", dir.join("pakiti.db").to_str().unwrap()])
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_for("the aggregator", 60, || {
        reqwest::blocking::get(format!("{base}/-/ready"))
            .ok()
            .filter(|r| r.status().is_success())
    });
    (Proc(child), base)
}

fn get_json(url: &str) -> Option<Value> {
    let r = reqwest::blocking::get(url).ok()?;
    r.status().is_success().then(|| r.json().ok()).flatten()
}

/// What the exporter itself reports on this machine right now.
fn exporter_json(config: &Path) -> Value {
    let out = Command::new(bin("pakiti-exporter"))
        .args([
            "--config.file",
            config.to_str().unwrap(),
            "collect",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sha256_hex(s: &str) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn the_exporter_pushes_with_a_token_and_the_aggregator_shows_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let token = "s3cret-site-token";
    let (_agg, base) = aggregator(
        dir.path(),
        &format!(
            "[[client]]\nname = \"testsite-relay\"\ntoken_sha256 = \"{}\"\nsites = [\"TestSite\"]\nrole = \"relay\"\n",
            sha256_hex(token)
        ),
    );
    std::fs::write(dir.path().join("push.token"), format!("{token}\n")).unwrap();
    let exporter_cfg = dir.path().join("exporter.toml");
    std::fs::write(
        &exporter_cfg,
        format!(
            "site = \"TestSite\"\n[collector]\ncache_dir = \"{}\"\n[push]\nurls = [\"{base}\"]\ntoken_file = \"{}\"\nretries = 0\n",
            dir.path().join("cache").display(),
            dir.path().join("push.token").display()
        ),
    )
    .unwrap();
    let seen = exporter_json(&exporter_cfg);
    let hostname = seen["host"]["hostname"].as_str().unwrap().to_string();

    // Cron mode.
    let out = Command::new(bin("pakiti-exporter"))
        .args(["--config.file", exporter_cfg.to_str().unwrap(), "push"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let host =
        get_json(&format!("{base}/api/v1/hosts/{hostname}")).expect("the pushed host is there");
    assert_eq!(host["site"], "TestSite");
    assert_eq!(host["source"], "push");
    assert_eq!(host["pending"], seen["updates"].as_array().unwrap().len());
    assert_eq!(host["machine_id"], seen["host"]["machine_id"]);
    let security = seen["updates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["security"] == true)
        .count();
    assert_eq!(host["security"]["total"], security);

    // A wrong token is refused, and the exporter says why.
    std::fs::write(dir.path().join("push.token"), "wrong\n").unwrap();
    let out = Command::new(bin("pakiti-exporter"))
        .args(["--config.file", exporter_cfg.to_str().unwrap(), "push"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401") && err.contains("bearer token"), "{err}");

    // Scheduled mode: `serve` pushes after its first collection.
    std::fs::write(dir.path().join("push.token"), format!("{token}\n")).unwrap();
    let before = host["last_report_at"].clone();
    std::thread::sleep(Duration::from_millis(1100));
    let _exporter = Proc(
        Command::new(bin("pakiti-exporter"))
            .args(["--config.file", exporter_cfg.to_str().unwrap()])
            .args([
                "--web.listen-address",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the scheduled push", 60, || {
        get_json(&format!("{base}/api/v1/hosts/{hostname}"))
            .filter(|h| h["last_report_at"] != before)
    });
    let hosts = get_json(&format!("{base}/api/v1/hosts")).unwrap();
    assert_eq!(
        hosts["hosts"].as_array().unwrap().len(),
        1,
        "one machine, one host"
    );
}

#[test]
fn the_aggregator_scrapes_exporters_named_in_file_sd() {
    let dir = tempfile::tempdir().unwrap();
    let exporter_cfg = dir.path().join("exporter.toml");
    std::fs::write(
        &exporter_cfg,
        format!(
            "[collector]\ncache_dir = \"{}\"\n",
            dir.path().join("cache").display()
        ),
    )
    .unwrap();
    let port = free_port();
    let _exporter = Proc(
        Command::new(bin("pakiti-exporter"))
            .args(["--config.file", exporter_cfg.to_str().unwrap()])
            .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let target = format!("127.0.0.1:{port}");
    let sd = dir.path().join("targets.json");
    std::fs::write(
        &sd,
        format!(r#"[{{"targets": ["{target}", "127.0.0.1:1"], "labels": {{"site": "Scraped"}}}}]"#),
    )
    .unwrap();
    let (_agg, base) = aggregator(
        dir.path(),
        &format!(
            "[scrape]\ninterval = \"1s\"\ntimeout = \"5s\"\nfile_sd = [\"{}\"]\n",
            dir.path().join("*.json").display()
        ),
    );
    let hosts = wait_for("a scraped host", 60, || {
        get_json(&format!("{base}/api/v1/hosts"))
            .filter(|h| !h["hosts"].as_array().unwrap().is_empty())
    });
    let host = &hosts["hosts"][0];
    assert_eq!(host["source"], "scrape");
    assert_eq!(
        host["site"], "Scraped",
        "the file_sd label gives the site to a report that names none"
    );
    let seen = exporter_json(&exporter_cfg);
    assert_eq!(host["pending"], seen["updates"].as_array().unwrap().len());

    let metrics = |base: &str| {
        reqwest::blocking::get(format!("{base}/metrics"))
            .unwrap()
            .text()
            .unwrap()
    };
    let m = wait_for("target health", 60, || {
        let m = metrics(&base);
        m.contains("pakiti_aggregator_scrape_up{target=\"127.0.0.1:1\"} 0")
            .then_some(m)
    });
    assert!(
        m.contains(&format!(
            "pakiti_aggregator_scrape_up{{target=\"{target}\"}} 1"
        )),
        "{m}"
    );

    // The file changes: the unreachable target is gone, and so is its health.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&sd, format!(r#"[{{"targets": ["{target}"]}}]"#)).unwrap();
    wait_for("the file_sd change", 60, || {
        let m = metrics(&base);
        (!m.contains("127.0.0.1:1\"")).then_some(())
    });
}

fn aggregator_on(dir: &Path, port: u16) -> Proc {
    let child = Command::new(bin("pakiti-aggregator"))
        .args(["--config.file", "/dev/null"])
        .args(["--storage.url", dir.join("pakiti.db").to_str().unwrap()])
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the aggregator", 60, || {
        reqwest::blocking::get(format!("http://127.0.0.1:{port}/-/ready"))
            .ok()
            .filter(|r| r.status().is_success())
    });
    Proc(child)
}

/// The bytes of each push the exporter logged, in order.
fn pushes(log: &Path) -> Vec<u64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("report pushed"))
        .filter_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            v["fields"]["bytes"].as_u64()
        })
        .collect()
}

#[test]
fn an_unchanged_inventory_is_pushed_by_digest_and_sent_again_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let first = dir.path().join("first");
    std::fs::create_dir_all(&first).unwrap();
    let agg = aggregator_on(&first, port);
    let base = format!("http://127.0.0.1:{port}");
    let cfg = dir.path().join("exporter.toml");
    std::fs::write(
        &cfg,
        format!(
            "[collector]\ninterval = \"10s\"\ncache_dir = \"{}\"\n[push]\nurls = [\"{base}\"]\nretries = 0\n",
            dir.path().join("cache").display()
        ),
    )
    .unwrap();
    let log = dir.path().join("exporter.log");
    let _exporter = Proc(
        Command::new(bin("pakiti-exporter"))
            .args([
                "--config.file",
                cfg.to_str().unwrap(),
                "--log.format",
                "json",
            ])
            .args([
                "--web.listen-address",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("two pushes", 90, || (pushes(&log).len() >= 2).then_some(()));
    let sizes = pushes(&log);
    assert!(
        sizes[1] * 4 < sizes[0],
        "the second push names the inventory by digest: {sizes:?}"
    );
    let hosts = get_json(&format!("{base}/api/v1/hosts")).unwrap();
    let name = hosts["hosts"][0]["hostname"].as_str().unwrap().to_string();
    let host = get_json(&format!("{base}/api/v1/hosts/{name}")).unwrap();
    let installed = host["installed"]
        .as_array()
        .expect("the inventory is stored")
        .len();
    assert!(installed > 100, "{installed}");

    // A new aggregator without that inventory asks for it, and gets it.
    drop(agg);
    let second = dir.path().join("second");
    std::fs::create_dir_all(&second).unwrap();
    let _agg = aggregator_on(&second, port);
    wait_for("the host on the new aggregator", 90, || {
        get_json(&format!("{base}/api/v1/hosts/{name}")).filter(|h| {
            h["installed"]
                .as_array()
                .is_some_and(|a| a.len() == installed)
        })
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("asked for the installed packages"), "{text}");
}
