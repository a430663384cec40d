//! Both exposition formats, end to end: the exporter's `/metrics`, the
//! aggregator's `/metrics` and `/federate`, each asked for the text format
//! and for OpenMetrics, plain and gzipped. Every answer is read by Python's
//! prometheus_client (its text parser, and its strict OpenMetrics parser)
//! and by promtool; `/federate` says the same samples in both formats; and
//! Debian's Prometheus scrapes every endpoint both ways (a recording proxy
//! shows which format it was given).

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::pages_fleet::{aggregator, push_all, small_fleet};
use common::{bin, free_port, proxy, wait_for, Proc};
use serde_json::Value;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
/// What Prometheus 2 sends.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Python's parser of `format` (`text`, `openmetrics`) on `body`: the
/// samples as JSON lines, or the parser's complaint.
fn python(format: &str, body: &str) -> Result<Vec<String>, String> {
    let mut child = Command::new("/usr/bin/python3")
        .arg(format!("{ROOT}/tests/oracles/exposition.py"))
        .arg(format)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (Debian's python3-prometheus-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `promtool check metrics`: its complaints, empty when none.
fn promtool(body: &str) -> String {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// GETs `url` with `accept` (and gzip when asked): content type and text.
fn fetch(url: &str, accept: Option<&str>, gzip: bool) -> (String, String) {
    let client = reqwest::blocking::Client::builder()
        .gzip(false)
        .build()
        .unwrap();
    let mut req = client.get(url);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    if gzip {
        req = req.header("accept-encoding", "gzip");
    }
    let resp = req.send().unwrap();
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    let encoding = resp
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_string());
    let vary = resp.headers()["vary"].to_str().unwrap().to_string();
    assert!(
        vary.contains("accept") && vary.contains("accept-encoding"),
        "{url}: vary {vary}"
    );
    let bytes = resp.bytes().unwrap();
    let text = if gzip {
        assert_eq!(encoding.as_deref(), Some("gzip"), "{url}");
        String::from_utf8(pakiti_service::gzip::decompress(&bytes, 1 << 26).unwrap()).unwrap()
    } else {
        assert_eq!(encoding, None, "{url}");
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    (ct, text)
}

/// Reads `url` in both formats, plain and gzipped, with every parser; returns
/// the samples Python read from the text format and from OpenMetrics.
fn check_both(url: &str) -> (Vec<String>, Vec<String>) {
    let mut text_samples = Vec::new();
    let mut om_samples = Vec::new();
    for gzip in [false, true] {
        for accept in [None, Some("text/plain;version=0.0.4")] {
            let (ct, body) = fetch(url, accept, gzip);
            assert_eq!(ct, TEXT, "{url} {accept:?}");
            assert!(!body.contains("# EOF"), "{url}");
            assert_eq!(
                promtool(&body),
                "",
                "{url}: promtool on the text format:\n{body}"
            );
            text_samples = python("text", &body).unwrap_or_else(|e| panic!("{url}: {e}\n{body}"));
        }
        let (ct, body) = fetch(url, Some(PROMETHEUS_ACCEPT), gzip);
        assert_eq!(ct, OPENMETRICS, "{url}");
        assert!(
            body.ends_with("\n# EOF\n") && body.matches("# EOF").count() == 1,
            "{url}"
        );
        om_samples = python("openmetrics", &body).unwrap_or_else(|e| panic!("{url}: {e}\n{body}"));
        // promtool reads the text format: on OpenMetrics it parses every
        // line, and its only remark is that a counter's HELP names the
        // family without `_total`, as OpenMetrics has it.
        for complaint in promtool(&body).lines() {
            assert!(
                complaint.ends_with("_total no help text"),
                "{url}: promtool on OpenMetrics: {complaint}"
            );
        }
    }
    assert!(!text_samples.is_empty() && !om_samples.is_empty(), "{url}");
    (text_samples, om_samples)
}

/// The name of each sample line of Python's output.
fn names(samples: &[String]) -> Vec<String> {
    let mut n: Vec<String> = samples
        .iter()
        .map(|s| {
            serde_json::from_str::<Value>(s).unwrap()[0]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    n.dedup();
    n
}

#[test]
fn every_endpoint_speaks_both_formats_to_every_parser_and_to_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let (_agg, agg) = aggregator(dir.path());
    push_all(&agg, &small_fleet());
    let ep = free_port();
    let cfg = dir.path().join("exporter.toml");
    std::fs::write(
        &cfg,
        format!(
            "[collector]\ncache_dir = \"{}\"\nupdate_info = \"all\"\n",
            dir.path().join("cache").display()
        ),
    )
    .unwrap();
    let _exporter = Proc(
        Command::new(bin("pakiti-exporter"))
            .args(["--config.file", cfg.to_str().unwrap()])
            .args(["--web.listen-address", &format!("127.0.0.1:{ep}")])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let exporter = format!("http://127.0.0.1:{ep}");
    wait_for("the exporter's first collection", 120, || {
        let body = reqwest::blocking::get(format!("{exporter}/metrics"))
            .ok()?
            .text()
            .ok()?;
        body.contains("pakiti_collection_success 1").then_some(())
    });

    // The fleet is the same, whichever format says it.
    let (text, om) = check_both(&format!("{agg}/federate"));
    assert_eq!(
        text, om,
        "/federate: the text format and OpenMetrics differ"
    );
    assert!(names(&om).contains(&"pakiti_updates_pending".to_string()));
    // The programs' own health: counters by their sample names in both.
    let (text, om) = check_both(&format!("{agg}/metrics"));
    for n in [
        "pakiti_aggregator_reports_received_total",
        "pakiti_aggregator_http_requests_total",
        "pakiti_aggregator_http_request_duration_seconds_bucket",
        "pakiti_aggregator_store_duration_seconds_bucket",
        "process_start_time_seconds",
        "process_open_fds",
        "process_resident_memory_bytes",
    ] {
        assert!(
            names(&text).contains(&n.to_string()),
            "{n} not in the text format"
        );
        assert!(
            names(&om).contains(&n.to_string()),
            "{n} not in OpenMetrics"
        );
    }
    let (text, om) = check_both(&format!("{exporter}/metrics"));
    for n in [
        "pakiti_updates_pending",
        "pakiti_update_info",
        "pakiti_exporter_collections_total",
        "pakiti_exporter_http_requests_total",
        "process_cpu_seconds_total",
    ] {
        assert!(
            names(&text).contains(&n.to_string()),
            "{n} not in the text format"
        );
        assert!(
            names(&om).contains(&n.to_string()),
            "{n} not in OpenMetrics"
        );
    }

    // Debian's Prometheus scrapes each endpoint as it negotiates
    // (OpenMetrics) and, through a proxy that asks for the text format
    // only, the text format.
    let agg_addr = agg.trim_start_matches("http://").to_string();
    let exp_addr = format!("127.0.0.1:{ep}");
    let mut jobs = String::new();
    let mut proxies = Vec::new();
    for (name, backend, path, honor) in [
        ("exporter", &exp_addr, "/metrics", false),
        ("aggregator", &agg_addr, "/metrics", false),
        ("federate", &agg_addr, "/federate", true),
    ] {
        for (variant, accept) in [("om", None), ("text", Some("text/plain;version=0.0.4"))] {
            let p = proxy::start(backend, accept);
            jobs.push_str(&format!(
                "- job_name: {name}-{variant}\n  honor_labels: {honor}\n  metrics_path: {path}\n  static_configs:\n  - targets: ['{}']\n",
                p.addr
            ));
            proxies.push((format!("{name}-{variant}"), p));
        }
    }
    let pp = free_port();
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n{jobs}"),
    )
    .unwrap();
    let _prometheus = Proc(
        Command::new("prometheus")
            .args(["--config.file", prom_cfg.to_str().unwrap()])
            .args([
                "--storage.tsdb.path",
                dir.path().join("tsdb").to_str().unwrap(),
            ])
            .args(["--web.listen-address", &format!("127.0.0.1:{pp}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian package prometheus)"),
    );
    let query = |expr: &str| -> Option<Vec<Value>> {
        let v: Value = reqwest::blocking::Client::new()
            .get(format!("http://127.0.0.1:{pp}/api/v1/query"))
            .query(&[("query", expr)])
            .send()
            .ok()?
            .json()
            .ok()?;
        v["data"]["result"].as_array().cloned()
    };
    wait_for("Prometheus to scrape all six jobs", 60, || {
        (query("count(up == 1)")?.first()?["value"][1] == "6").then_some(())
    });
    for (job, p) in &proxies {
        let seen = p.content_types.lock().unwrap().clone();
        let want = if job.ends_with("-om") {
            OPENMETRICS
        } else {
            TEXT
        };
        assert!(
            !seen.is_empty() && seen.iter().all(|c| c == want),
            "{job}: {seen:?}"
        );
    }
    // The same series reach Prometheus either way.
    for (metric, a, b) in [
        ("pakiti_updates_pending", "federate-om", "federate-text"),
        (
            "pakiti_security_updates_pending",
            "federate-om",
            "federate-text",
        ),
        ("pakiti_updates_pending", "exporter-om", "exporter-text"),
        (
            "pakiti_aggregator_reports_received_total",
            "aggregator-om",
            "aggregator-text",
        ),
        (
            "process_start_time_seconds",
            "aggregator-om",
            "aggregator-text",
        ),
    ] {
        let count = |job: &str| {
            query(&format!("count({metric}{{job=\"{job}\"}})"))
                .and_then(|r| r.first().map(|v| v["value"][1].clone()))
        };
        let (x, y) = (count(a), count(b));
        assert!(x.is_some() && x == y, "{metric}: {a} {x:?}, {b} {y:?}");
    }
}
