//! Two aggregator processes on one PostgreSQL database: concurrent pushes for
//! the same and for different hosts lose nothing, duplicate no host, keep
//! first-seen times; a scrape target is fetched by one replica per interval;
//! an unreachable database is a clear error at start.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pakiti_report::*;
use pakiti_store::testing::TestDatabase;

const AGGREGATOR: &str = env!("CARGO_BIN_EXE_pakiti-aggregator");

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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

fn replica(url: &str, config: &std::path::Path) -> (Proc, String) {
    let port = free_port();
    let child = Command::new(AGGREGATOR)
        .args([
            "--config.file",
            config.to_str().unwrap(),
            "--storage.url",
            url,
        ])
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::blocking::get(format!("{base}/-/ready"))
        .map(|r| r.status().is_success())
        .ok()
        != Some(true)
    {
        assert!(Instant::now() < deadline, "a replica did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Proc(child), base)
}

/// A host with `base` pending since its first report plus `k` more updates.
fn report(host: &str, machine: u32, k: usize) -> Report {
    let mut updates = vec![testing::update(
        "base",
        "1.0-1",
        "1.0-2",
        Some(Severity::Important),
    )];
    updates.extend((0..k).map(|i| testing::update(&format!("pkg{i}"), "1.0-1", "1.0-2", None)));
    testing::report(
        host,
        Some(&format!("{machine:032x}")),
        Some("SiteR"),
        updates,
    )
}

fn push(client: &reqwest::blocking::Client, base: &str, r: &Report) -> bool {
    client
        .post(format!("{base}/api/v1/reports"))
        .header("content-type", "application/json")
        .body(to_json(r))
        .send()
        .is_ok_and(|r| r.status().is_success())
}

fn host(base: &str, name: &str) -> serde_json::Value {
    reqwest::blocking::get(format!("{base}/api/v1/hosts/{name}"))
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn two_replicas_share_one_database_without_losing_or_duplicating() {
    let (_db, _dir, (_a, a), (_b, b)) = two_replicas();
    let client = reqwest::blocking::Client::new();
    assert!(push(&client, &a, &report("shared", 1, 0)));
    let base_first_seen = host(&a, "shared")["updates"][0]["first_seen"].clone();
    std::thread::sleep(Duration::from_millis(1100));

    let acked_shared = Arc::new(std::sync::Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..8u32)
        .map(|i| {
            let target = if i % 2 == 0 { a.clone() } else { b.clone() };
            let acked_shared = acked_shared.clone();
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                let mut own = 0;
                for k in 1..=15usize {
                    // Its own host, through one replica…
                    if push(&client, &target, &report(&format!("host-{i}"), 100 + i, k)) {
                        own = k;
                    }
                    // …and the host everybody reports, through both.
                    let shared_k = (i as usize) * 100 + k;
                    if push(&client, &target, &report("shared", 1, shared_k % 7)) {
                        acked_shared.lock().unwrap().push(shared_k % 7);
                    }
                }
                own
            })
        })
        .collect();
    let own: Vec<usize> = workers.into_iter().map(|w| w.join().unwrap()).collect();

    let hosts: serde_json::Value = reqwest::blocking::get(format!("{b}/api/v1/hosts"))
        .unwrap()
        .json()
        .unwrap();
    let names: Vec<&str> = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 9, "one row per machine, never two: {names:?}");
    for (i, k) in own.iter().enumerate() {
        assert_eq!(*k, 15, "host-{i}: every push was acknowledged");
        let h = host(&a, &format!("host-{i}"));
        assert_eq!(h["pending"], 16, "host-{i} holds its last report, whole");
        assert_eq!(h["updates"].as_array().unwrap().len(), 16);
    }
    let shared = host(&b, "shared");
    let pending = shared["pending"].as_u64().unwrap() as usize;
    assert!(
        acked_shared
            .lock()
            .unwrap()
            .iter()
            .any(|k| k + 1 == pending),
        "shared holds one of the acknowledged reports"
    );
    assert_eq!(
        shared["updates"].as_array().unwrap().len(),
        pending,
        "and holds it whole"
    );
    let base = shared["updates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "base")
        .unwrap();
    assert_eq!(
        base["first_seen"], base_first_seen,
        "first seen stays the first report's time"
    );
}

/// A tiny exporter stand-in: answers every request with the same report and counts them.
fn counting_exporter(hits: Arc<AtomicUsize>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = to_json(&report("scraped", 7, 2));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            hits.fetch_add(1, Ordering::SeqCst);
            let _ = write!(stream, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(&body);
        }
    });
    port
}

#[test]
fn a_scrape_target_is_fetched_by_one_replica_per_interval() {
    let db = TestDatabase::create();
    let hits = Arc::new(AtomicUsize::new(0));
    let port = counting_exporter(hits.clone());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("aggregator.toml");
    std::fs::write(
        &cfg,
        format!(
            "[scrape]\ninterval = \"2s\"\n[[scrape.static]]\ntargets = [\"127.0.0.1:{port}\"]\n"
        ),
    )
    .unwrap();
    let (_a, a) = replica(&db.url, &cfg);
    let (_b, _) = replica(&db.url, &cfg);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    while hits.load(Ordering::SeqCst) < 4 {
        assert!(Instant::now() < deadline, "the target is not scraped");
        std::thread::sleep(Duration::from_millis(20));
    }
    let intervals = started.elapsed().as_secs_f64() / 2.0;
    let n = hits.load(Ordering::SeqCst);
    // Two replicas scraping independently would fetch about twice per interval.
    assert!(
        n >= 3 && (n as f64) <= intervals + 2.0,
        "{n} fetches in {intervals:.1} intervals"
    );
    assert_eq!(host(&a, "scraped")["source"], "scrape");
}

#[test]
fn an_unreachable_database_is_a_clear_error_at_start() {
    let port = free_port();
    let out = Command::new(AGGREGATOR)
        .args([
            "--config.file",
            "/dev/null",
            "--web.listen-address",
            "127.0.0.1:0",
        ])
        .args([
            "--storage.url",
            &format!("postgres://pakiti:secret@127.0.0.1:{port}/pakiti"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach PostgreSQL at postgres://pakiti@127.0.0.1"),
        "{err}"
    );
    assert!(
        !err.contains("secret"),
        "the password must not be printed: {err}"
    );
}

#[test]
fn a_database_that_goes_away_makes_the_replica_not_ready_until_it_is_back() {
    let db = TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("aggregator.toml");
    std::fs::write(
        &cfg,
        "[storage]\nconnect_timeout = \"1s\"\nstatement_timeout = \"2s\"\n",
    )
    .unwrap();
    let (_a, a) = replica(&db.url, &cfg);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    assert!(push(&client, &a, &report("before", 1, 1)));
    let name = db
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let admin_url = std::env::var("PAKITI_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| pakiti_store::testing::DEFAULT_ADMIN_URL.into());
    let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
    // The outage: no new connections, and the existing ones cut.
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&name],
        )
        .unwrap();
    let ready = |client: &reqwest::blocking::Client| {
        client
            .get(format!("{a}/-/ready"))
            .send()
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready(&client) != 503 {
        assert!(
            Instant::now() < deadline,
            "the replica never reported not-ready"
        );
    }
    assert!(
        !push(&client, &a, &report("during", 2, 1)),
        "a report that cannot be stored is refused"
    );
    // Still serving: the probes and its own metrics answer.
    assert_eq!(
        client
            .get(format!("{a}/-/healthy"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert!(client
        .get(format!("{a}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap()
        .contains("pakiti_aggregator_store_up 0"));
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready(&client) != 200 {
        assert!(
            Instant::now() < deadline,
            "the replica did not recover by itself"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(push(&client, &a, &report("after", 3, 1)));
    assert_eq!(host(&a, "before")["pending"], 2);
    assert_eq!(host(&a, "after")["pending"], 2);
}

/// Two replicas forward to one central aggregator: every report, queued by
/// whichever replica stored it, arrives once, delivered by the replica that
/// holds the upstream's lease.
#[test]
fn replicas_forward_each_report_once() {
    use sha2::{Digest, Sha256};
    let db = TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let token = "replica-forwarding-token";
    let digest: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let central_cfg = dir.path().join("central.toml");
    std::fs::write(
        &central_cfg,
        format!("[[client]]\nname = \"site-r\"\ntoken_sha256 = \"{digest}\"\nsites = [\"SiteR\"]\nrole = \"server\"\n"),
    )
    .unwrap();
    let central_db = dir.path().join("central.db");
    let (_central, central) = replica(central_db.to_str().unwrap(), &central_cfg);
    std::fs::write(dir.path().join("token"), token).unwrap();
    let cfg = dir.path().join("replica.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[upstream]]\nurl = \"{central}\"\nsend = \"reports\"\ninterval = \"1s\"\ntoken_file = \"{}\"\n",
            dir.path().join("token").display()
        ),
    )
    .unwrap();
    let (_r1, one) = replica(&db.url, &cfg);
    let (_r2, two) = replica(&db.url, &cfg);
    let client = reqwest::blocking::Client::new();
    for i in 0..20u32 {
        let base = if i % 2 == 0 { &one } else { &two };
        assert!(push(
            &client,
            base,
            &report(&format!("r-{i}"), 500 + i, i as usize)
        ));
    }
    let received = || -> f64 {
        let m = reqwest::blocking::get(format!("{central}/metrics"))
            .unwrap()
            .text()
            .unwrap();
        m.lines()
            .filter(|l| {
                l.starts_with("pakiti_aggregator_reports_received_total{mode=\"forwarded\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while received() < 20.0 {
        assert!(
            Instant::now() < deadline,
            "only {} of 20 forwarded reports arrived",
            received()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Until both replicas' queues are empty: then nothing can arrive twice.
    let queued = |base: &str| {
        reqwest::blocking::get(format!("{base}/metrics"))
            .unwrap()
            .text()
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("pakiti_aggregator_forward_queue_items"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while queued(&one) + queued(&two) > 0.0 {
        assert!(Instant::now() < deadline, "the queues do not empty");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(received(), 20.0);
    let hosts: serde_json::Value = reqwest::blocking::get(format!("{central}/api/v1/hosts"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(hosts["hosts"].as_array().unwrap().len(), 20);
}

/// A throwaway database and two replicas on it, with an empty configuration.
fn two_replicas() -> (
    TestDatabase,
    tempfile::TempDir,
    (Proc, String),
    (Proc, String),
) {
    let db = TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("aggregator.toml");
    std::fs::write(&cfg, "").unwrap();
    let a = replica(&db.url, &cfg);
    let b = replica(&db.url, &cfg);
    (db, dir, a, b)
}

/// Waits until `get` says yes, or fails after `within`.
fn eventually(within: Duration, what: &str, mut get: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !get() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_view_of_every_replica_shows_a_write_made_through_another() {
    let (_db, _dir, (_a, a), (_b, b)) = two_replicas();
    let get = |url: String| reqwest::blocking::get(url).unwrap().text().unwrap();
    // B has read (and cached) the empty fleet before A's write.
    for view in ["/api/v1/hosts", "/federate", "/hosts"] {
        assert!(!get(format!("{b}{view}")).contains("only-via-a"), "{view}");
    }
    let client = reqwest::blocking::Client::new();
    assert!(push(&client, &a, &report("only-via-a", 7, 2)));
    for view in ["/api/v1/hosts", "/federate", "/hosts"] {
        eventually(Duration::from_secs(5), view, || {
            get(format!("{b}{view}")).contains("only-via-a")
        });
    }
    // A later change too, not only the first appearance.
    let mut newer = report("only-via-a", 7, 0);
    newer.collected_at += Duration::from_secs(1);
    assert!(push(&client, &a, &newer));
    eventually(Duration::from_secs(5), "the changed count", || {
        get(format!("{b}/federate"))
            .contains("pakiti_updates_pending{host=\"only-via-a\",site=\"SiteR\"} 1")
    });
}

#[test]
fn a_replica_stops_cleanly_on_sigterm() {
    let db = TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("aggregator.toml");
    std::fs::write(&cfg, "").unwrap();
    let (mut a, base) = replica(&db.url, &cfg);
    let client = reqwest::blocking::Client::new();
    assert!(push(&client, &base, &report("before-stop", 9, 1)));
    let _ = reqwest::blocking::get(format!("{base}/api/v1/hosts"));
    let sent = Command::new("kill")
        .args(["-TERM", &a.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = a.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the replica did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
}
