//! The real aggregator binary on a real socket: durability under `kill -9`,
//! client certificates, the loud warning of an open aggregator, and its
//! metrics as promtool sees them.

use std::io::{BufRead, BufReader};

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pakiti_report::*;

const AGGREGATOR: &str = env!("CARGO_BIN_EXE_pakiti-aggregator");

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    // Never the same port twice in one test process: two servers asked for
    // ports one after the other must not be given the same one.
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if GIVEN.lock().unwrap_or_else(|p| p.into_inner()).insert(port) {
            return port;
        }
    }
}

fn start(dir: &Path, port: u16, extra: &[&str]) -> Server {
    let child = Command::new(AGGREGATOR)
        .args(["--storage.url", dir.join("pakiti.db").to_str().unwrap()])
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aggregator starts");
    let server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::blocking::get(format!("http://127.0.0.1:{port}/-/ready"))
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(
            Instant::now() < deadline,
            "the aggregator did not become ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// A host with `pending` updates, every third a security update.
fn report(host: &str, machine: u32, pending: usize, site: Option<&str>) -> Report {
    let updates = (0..pending)
        .map(|i| {
            testing::update(
                &format!("pkg{i}"),
                "1.0-1",
                "1.0-2",
                (i % 3 == 0).then_some(Severity::Unknown),
            )
        })
        .collect();
    testing::report(host, Some(&format!("{machine:032x}")), site, updates)
}

fn push(
    client: &reqwest::blocking::Client,
    base: &str,
    r: &Report,
) -> reqwest::Result<reqwest::blocking::Response> {
    client
        .post(format!("{base}/api/v1/reports"))
        .header("content-type", "application/json")
        .body(to_json(r))
        .send()
}

#[test]
fn acknowledged_reports_survive_kill_9_during_a_burst() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start(dir.path(), port, &["--config.file", "/dev/null"]);
    let base = format!("http://127.0.0.1:{port}");
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..8u32)
        .map(|i| {
            let (stop, base, acknowledged) = (stop.clone(), base.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let mut acked = 0usize;
                // Each push for this host has one more pending update than the last.
                for k in 1..100_000usize {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match push(&client, &base, &report(&format!("host-{i}"), i, k, None)) {
                        Ok(r) if r.status().is_success() => {
                            acked = k;
                            acknowledged.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    // Mid-burst: once well over fifty pushes have been acknowledged.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.load(Ordering::Relaxed) < 80 {
        assert!(Instant::now() < deadline, "the burst did not get going");
        std::thread::sleep(Duration::from_millis(10));
    }
    server.child.kill().unwrap(); // SIGKILL, mid-burst
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<usize> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(
        acked.iter().sum::<usize>() > 50,
        "the burst was too small to mean anything: {acked:?}"
    );
    eprintln!(
        "acknowledged before kill -9: {} reports, per host {acked:?}",
        acked.iter().sum::<usize>()
    );

    let server = start(dir.path(), port, &["--config.file", "/dev/null"]);
    let client = reqwest::blocking::Client::new();
    for (i, k) in acked.iter().enumerate() {
        let host: serde_json::Value = client
            .get(format!(
                "http://127.0.0.1:{}/api/v1/hosts/host-{i}",
                server.port
            ))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let stored = host["pending"].as_u64().unwrap_or(0) as usize;
        // The acknowledged report, or the one in flight when the process died.
        assert!(
            stored == *k || stored == k + 1,
            "host-{i}: acknowledged {k}, stored {stored}"
        );
        assert_eq!(
            host["updates"].as_array().map_or(0, Vec::len),
            stored,
            "host-{i}: a report is stored whole"
        );
    }
}

#[test]
fn a_start_that_cannot_listen_leaves_no_database_behind() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let db = dir.path().join("p.db");
    let out = Command::new(AGGREGATOR)
        .args(["--config.file", "/dev/null"])
        .args(["--storage.url", db.to_str().unwrap()])
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&port.to_string()), "{stderr}");
    assert!(!db.exists(), "no database before the port is ours");
    drop(taken);
}

#[test]
fn an_open_aggregator_beyond_loopback_warns_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(AGGREGATOR)
        .args(["--config.file", "/dev/null"])
        .args(["--storage.url", dir.path().join("p.db").to_str().unwrap()])
        .args(["--web.listen-address", &format!("0.0.0.0:{port}")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // Everything said before it listens (one line per migration first).
    let warned = lines
        .by_ref()
        .map_while(Result::ok)
        .take_while(|l| !l.contains("listening"))
        .any(|l| l.contains("WARN") && l.contains("NO CLIENTS ARE CONFIGURED"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(warned);
}

#[test]
fn bad_storage_and_config_stop_the_start_with_a_reason() {
    let out = Command::new(AGGREGATOR)
        .args([
            "--config.file",
            "/dev/null",
            "--storage.url",
            "/nonexistent/dir/p.db",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/dir/p.db"));
    let out = Command::new(AGGREGATOR)
        .args([
            "--config.file",
            "/dev/null",
            "--storage.url",
            "mysql://db/pakiti",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mysql://db/pakiti"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("a.toml");
    std::fs::write(&cfg, "[server]\nstale_afterr = \"1h\"\n").unwrap();
    let out = Command::new(AGGREGATOR)
        .args(["--config.file", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `stale_afterr`"));
}

#[test]
fn a_second_process_on_the_same_sqlite_file_is_refused_and_moves_wait_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path(), free_port(), &["--config.file", "/dev/null"]);
    let db = dir.path().join("pakiti.db");
    let move_host = || {
        Command::new(AGGREGATOR)
            .args([
                "--config.file",
                "/dev/null",
                "--storage.url",
                db.to_str().unwrap(),
            ])
            .args([
                "hosts", "move", "web-01", "--from", "SiteA", "--to", "SiteB",
            ])
            .output()
            .unwrap()
    };
    let out = Command::new(AGGREGATOR)
        .args([
            "--config.file",
            "/dev/null",
            "--storage.url",
            db.to_str().unwrap(),
        ])
        .args([
            "--web.listen-address",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another process uses the SQLite database"),
        "{err}"
    );
    // The operator's host move is such a process too.
    let out = move_host();
    assert_eq!(out.status.code(), Some(1));
    drop(first);
    let client = reqwest::blocking::Client::new();
    let port = free_port();
    let second = start(dir.path(), port, &["--config.file", "/dev/null"]);
    let stored = push(
        &client,
        &format!("http://127.0.0.1:{port}"),
        &report("web-01", 1, 2, Some("SiteA")),
    );
    assert_eq!(stored.unwrap().status().as_u16(), 200);
    drop(second);
    let moved = move_host();
    assert_eq!(
        moved.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    assert!(String::from_utf8_lossy(&moved.stdout).contains("moved 1 host(s) web-01"));
    let again = move_host();
    assert_eq!(again.status.code(), Some(1), "nothing left to move");
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing moved"));
}

#[test]
fn a_corrupt_sqlite_file_makes_the_aggregator_unready_and_refuse_pushes() {
    use std::io::{Seek, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), free_port(), &["--config.file", "/dev/null"]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let client = reqwest::blocking::Client::new();
    assert_eq!(
        push(&client, &base, &report("web-01", 1, 2, None))
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    // Overwrite the database header and its first pages with garbage.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("pakiti.db"))
        .unwrap();
    f.seek(std::io::SeekFrom::Start(0)).unwrap();
    f.write_all(&[0x5a; 16384]).unwrap();
    f.sync_all().unwrap();
    let ready = client.get(format!("{base}/-/ready")).send().unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("pakiti_aggregator_store_up 0"),
        "{metrics}"
    );
    let status = push(&client, &base, &report("web-02", 2, 1, None))
        .unwrap()
        .status()
        .as_u16();
    assert!(
        status >= 500,
        "a push into a corrupt database answered {status}"
    );
}

#[test]
fn idle_connections_cannot_starve_a_real_push() {
    use std::io::Read as _;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // systemd's default: a soft limit of 1024 open files.
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 1024 && exec {AGGREGATOR} --config.file /dev/null --storage.url {} --web.listen-address 127.0.0.1:{port}",
            dir.path().join("pakiti.db").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server { child, port };
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::blocking::get(format!("{base}/-/ready")).is_err() {
        assert!(Instant::now() < deadline, "not ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let soft: Vec<&str> = open_files.split_whitespace().collect();
    assert_ne!(
        soft[3], "1024",
        "the soft limit was raised to the hard one: {open_files}"
    );
    // Well over a thousand connections that send nothing.
    let idle: Vec<std::net::TcpStream> = (0..1500)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let answer = push(&client, &base, &report("web-01", 1, 3, None)).expect("a push is served");
    assert_eq!(answer.status().as_u16(), 200);
    // An idle connection is closed once the header read timeout has passed.
    let mut first = &idle[0];
    first
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 64];
    let started = Instant::now();
    let n = first
        .read(&mut buf)
        .expect("the server closes the idle connection before our 30 s are up");
    assert_eq!(n, 0, "the server closed the idle connection");
    assert!(started.elapsed() < Duration::from_secs(29));
}

#[test]
fn a_body_that_never_finishes_gets_408_and_frees_its_connection() {
    use std::io::{Read as _, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("a.toml");
    std::fs::write(&cfg, "[server]\nbody_timeout = \"1s\"\n").unwrap();
    let server = start(
        dir.path(),
        free_port(),
        &["--config.file", cfg.to_str().unwrap()],
    );
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    conn.write_all(
        b"POST /api/v1/reports HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"schema",
    )
    .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut answer = [0u8; 256];
    let n = conn
        .read(&mut answer)
        .expect("an answer before our 20 s are up");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

fn promtool(text: &str) -> String {
    use std::io::Write as _;
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
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .trim()
    .to_string()
}

/// `/federate?match[]=` as Prometheus' own federation takes it: only the
/// series a selector picks (and their families), gzip when asked for.
#[test]
fn federate_takes_match_selectors_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), free_port(), &["--config.file", "/dev/null"]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let client = reqwest::blocking::Client::builder()
        .no_gzip()
        .build()
        .unwrap();
    push(&client, &base, &report("web-01", 1, 6, Some("SiteA"))).unwrap();
    push(&client, &base, &report("db-01", 2, 0, Some("SiteB"))).unwrap();
    let get = |query: &str| {
        let r = client
            .get(format!("{base}/federate{query}"))
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let samples = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.to_string())
            .collect()
    };
    let select = |selectors: &[&str]| {
        let q: Vec<(&str, &str)> = selectors.iter().map(|s| ("match[]", *s)).collect();
        let (status, text) = get(&format!("?{}", serde_urlencoded::to_string(&q).unwrap()));
        assert_eq!(status, 200, "{text}");
        assert_eq!(promtool(&text), "", "{text}");
        text
    };
    let one = select(&[r#"pakiti_updates_pending{site="SiteA"}"#]);
    assert_eq!(
        samples(&one),
        ["pakiti_updates_pending{host=\"web-01\",site=\"SiteA\"} 6"]
    );
    assert_eq!(one.matches("# TYPE ").count(), 1, "{one}");
    // Any selector picks a series; regular expressions match whole values.
    let two = select(&[
        r#"{__name__=~"pakiti_(reboot_required|updates_held)", site="SiteB"}"#,
        r#"pakiti_updates_pending{host=~"web"}"#,
        r#"pakiti_updates_pending{host=~"web.*"}"#,
    ]);
    let mut got = samples(&two);
    got.sort();
    assert_eq!(
        got,
        [
            "pakiti_reboot_required{host=\"db-01\",site=\"SiteB\"} 0",
            "pakiti_updates_held{host=\"db-01\",site=\"SiteB\"} 0",
            "pakiti_updates_pending{host=\"web-01\",site=\"SiteA\"} 6",
        ]
    );
    assert!(samples(&select(&[r#"{site="nowhere"}"#])).is_empty());
    for (bad, why) in [
        ("?match[]=%7B%7D", "selects every series"),
        ("?match[]=%7Bsite%3D%22A%7D", "closing quote"),
        ("?site=A", "unknown parameter"),
    ] {
        let (status, text) = get(bad);
        assert_eq!(status, 400, "{bad}: {text}");
        assert!(text.contains(why), "{bad}: {text}");
    }
    // gzip when asked for: the same text.
    let (_, plain) = get("");
    let r = client
        .get(format!("{base}/federate"))
        .header("accept-encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(r.bytes().unwrap().as_ref()),
        &mut text,
    )
    .unwrap();
    assert_eq!(text, plain);
    assert!(plain.contains("pakiti_host_info{"), "{plain}");
}

#[test]
fn federate_and_metrics_show_the_fleet_and_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), free_port(), &["--config.file", "/dev/null"]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let client = reqwest::blocking::Client::new();
    push(&client, &base, &report("web-01", 1, 6, Some("SiteA"))).unwrap();
    push(&client, &base, &report("db-01", 2, 0, Some("SiteB"))).unwrap();
    let fed = client
        .get(format!("{base}/federate"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(promtool(&fed), "", "{fed}");
    for (series, value) in [
        ("pakiti_updates_pending{host=\"web-01\",site=\"SiteA\"}", "6"),
        ("pakiti_updates_pending{host=\"db-01\",site=\"SiteB\"}", "0"),
        ("pakiti_security_updates_pending{host=\"web-01\",site=\"SiteA\",severity=\"unknown\"}", "2"),
        ("pakiti_security_updates_pending{host=\"web-01\",site=\"SiteA\",severity=\"critical\"}", "0"),
        ("pakiti_updates_held{host=\"web-01\",site=\"SiteA\"}", "0"),
        ("pakiti_reboot_required{host=\"db-01\",site=\"SiteB\"}", "0"),
        ("pakiti_host_info{host=\"web-01\",site=\"SiteA\",os_id=\"debian\",os_version=\"12\",kernel=\"6.1.0\",manager=\"apt\"}", "1"),
    ] {
        assert!(fed.lines().any(|l| l == format!("{series} {value}")), "{series} {value} missing from\n{fed}");
    }
    assert!(fed.contains("pakiti_last_report_timestamp_seconds{host=\"db-01\",site=\"SiteB\"} "));
    assert!(fed.contains(
        "pakiti_security_update_pending_since_timestamp_seconds{host=\"web-01\",site=\"SiteA\"} "
    ));
    assert!(
        !fed.contains("pakiti_security_update_pending_since_timestamp_seconds{host=\"db-01\""),
        "no security update pending there"
    );
    for (line, present) in [
        ("pakiti_security_update_severity_pending_since_timestamp_seconds{host=\"web-01\",site=\"SiteA\",severity=\"unknown\"} ", true),
        ("pakiti_security_update_severity_pending_since_timestamp_seconds{host=\"web-01\",site=\"SiteA\",severity=\"critical\"}", false),
        ("pakiti_exporter_build_info{host=\"web-01\",site=\"SiteA\",version=\"0.1.0\",revision=\"test\"} 1", true),
    ] {
        assert_eq!(fed.contains(line), present, "{line}");
    }
    let own = client
        .get(format!("{base}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(promtool(&own), "", "{own}");
    assert!(
        own.contains(
            "pakiti_aggregator_reports_received_total{mode=\"push\",result=\"new_host\"} 2"
        ),
        "{own}"
    );
    assert!(
        own.contains("pakiti_aggregator_hosts{state=\"fresh\"} 2"),
        "{own}"
    );
}

#[test]
fn client_certificates_name_the_only_host_they_may_report() {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "pakiti test CA");
    let ca = p.self_signed(&ca_key).unwrap();
    let leaf = |names: Vec<String>, cn: &str, usage| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![usage];
        let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(
        vec!["localhost".into()],
        "localhost",
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("ca.pem", &ca.pem());
    write("server.pem", &server_cert);
    write("server.key", &server_key);
    write(
        "web.yml",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n",
    );
    write(
        "aggregator.toml",
        "[[client]]\nname = \"web-01\"\ncert_subject = \"CN=web-01\"\nsites = [\"SiteA\"]\nrole = \"host\"\n\n\
         [[client]]\nname = \"relay-a\"\ncert_subject = \"CN=relay-a\"\nsites = [\"SiteA\"]\nrole = \"relay\"\n",
    );
    let port = free_port();
    let child = Command::new(AGGREGATOR)
        .args([
            "--config.file",
            dir.path().join("aggregator.toml").to_str().unwrap(),
        ])
        .args([
            "--web.config.file",
            dir.path().join("web.yml").to_str().unwrap(),
        ])
        .args(["--storage.url", dir.path().join("p.db").to_str().unwrap()])
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Server { child, port };
    let client_for = |cn: &str| {
        let (c, k) = leaf(vec![], cn, ExtendedKeyUsagePurpose::ClientAuth);
        reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
            .identity(reqwest::Identity::from_pem(format!("{c}{k}").as_bytes()).unwrap())
            .build()
            .unwrap()
    };
    let base = format!("https://localhost:{port}");
    let web01 = client_for("web-01");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        match push(&web01, &base, &report("web-01", 1, 3, Some("SiteA"))) {
            Ok(r) => break r.status().as_u16(),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(status, 200);
    let r = push(&web01, &base, &report("web-02", 2, 3, Some("SiteA"))).unwrap();
    assert_eq!(
        r.status().as_u16(),
        403,
        "a host certificate cannot report another host"
    );
    assert!(r.text().unwrap().contains("may report only host"));
    let relay = client_for("relay-a");
    assert_eq!(
        push(&relay, &base, &report("web-02", 2, 3, Some("SiteA")))
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        push(&relay, &base, &report("db-09", 9, 3, Some("SiteB")))
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    let stranger = client_for("stranger");
    assert_eq!(
        push(&stranger, &base, &report("stranger", 7, 1, Some("SiteA")))
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    let hosts: serde_json::Value = relay
        .get(format!("{base}/api/v1/hosts"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(hosts["hosts"].as_array().unwrap().len(), 2);
}
