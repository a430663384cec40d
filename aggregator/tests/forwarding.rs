//! Three real aggregators on loopback: site A forwards every report, site B
//! sends per-site statistics, and a central aggregator trusts both for their
//! own site only. The central one goes down while A and B keep working.

use std::fs;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pakiti_report::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

const AGGREGATOR: &str = env!("CARGO_BIN_EXE_pakiti-aggregator");

struct Aggregator {
    child: Child,
    port: u16,
    dir: PathBuf,
    name: &'static str,
}

impl Drop for Aggregator {
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

fn sha(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Aggregator {
    /// Starts (or restarts, on the same database) an aggregator in `dir`.
    fn start(name: &'static str, dir: &Path, port: u16, config: &str) -> Aggregator {
        fs::create_dir_all(dir).unwrap();
        let config_path = dir.join("aggregator.toml");
        fs::write(&config_path, config).unwrap();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("stderr.log"))
            .unwrap();
        let child = Command::new(AGGREGATOR)
            .arg("--config.file")
            .arg(&config_path)
            .args(["--storage.url", dir.join("pakiti.db").to_str().unwrap()])
            .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("aggregator starts");
        let a = Aggregator {
            child,
            port,
            dir: dir.to_path_buf(),
            name,
        };
        wait_for(&format!("{name} to be ready"), 30, || {
            reqwest::blocking::get(a.url("/-/ready")).is_ok_and(|r| r.status().as_u16() == 200)
        });
        a
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn get(&self, path: &str) -> Value {
        let r = reqwest::blocking::get(self.url(path)).unwrap();
        assert!(
            r.status().is_success(),
            "{} GET {path}: {}",
            self.name,
            r.status()
        );
        r.json().unwrap()
    }

    fn text(&self, path: &str) -> String {
        reqwest::blocking::get(self.url(path))
            .unwrap()
            .text()
            .unwrap()
    }

    fn push(&self, r: &Report) {
        let resp = reqwest::blocking::Client::new()
            .post(self.url("/api/v1/reports"))
            .header("content-type", "application/json")
            .body(to_json(r))
            .send()
            .unwrap();
        assert!(
            resp.status().is_success(),
            "{}: {}",
            self.name,
            resp.text().unwrap()
        );
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of the first sample of `name` whose line contains every needle.
fn sample(text: &str, name: &str, needles: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A host with `pending` updates, every third a security update.
fn report(host: &str, machine: u32, pending: usize, site: &str) -> Report {
    let updates = (0..pending)
        .map(|i| {
            testing::update(
                &format!("pkg{i}"),
                "1.0-1",
                "1.0-2",
                (i % 3 == 0).then_some(Severity::Important),
            )
        })
        .collect();
    testing::report(host, Some(&format!("{machine:032x}")), Some(site), updates)
}

const TOKEN_A: &str = "site-a-forwarding-token";
const TOKEN_B: &str = "site-b-forwarding-token";
const TOKEN_HOST: &str = "a-mere-host-token";

fn central_config() -> String {
    format!(
        "[[client]]\nname = \"site-a\"\ntoken_sha256 = \"{}\"\nsites = [\"SiteA\"]\nrole = \"server\"\n\n\
         [[client]]\nname = \"site-b\"\ntoken_sha256 = \"{}\"\nsites = [\"SiteB\"]\nrole = \"server\"\n\n\
         [[client]]\nname = \"web-9\"\ntoken_sha256 = \"{}\"\nsites = [\"SiteA\"]\nrole = \"host\"\n",
        sha(TOKEN_A),
        sha(TOKEN_B),
        sha(TOKEN_HOST)
    )
}

fn downstream_config(
    dir: &Path,
    central_port: u16,
    send: &str,
    token: &str,
    extra: &str,
) -> String {
    fs::create_dir_all(dir).unwrap();
    let token_file = dir.join("upstream.token");
    fs::write(&token_file, format!("{token}\n")).unwrap();
    format!(
        "[[upstream]]\nurl = \"http://127.0.0.1:{central_port}\"\nsend = \"{send}\"\ninterval = \"1s\"\ntoken_file = \"{}\"\n{extra}",
        token_file.display()
    )
}

fn hosts_of(a: &Aggregator) -> Vec<Value> {
    a.get("/api/v1/hosts")["hosts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// What must be equal between a host on its own aggregator and on the central one.
fn comparable(host: &Value) -> Value {
    let mut h = host.clone();
    // Who wrote the host is each aggregator's own: the server here, the pusher there.
    for key in ["source", "forwarded_by", "owner", "stale", "first_seen"] {
        h.as_object_mut().unwrap().remove(key);
    }
    if let Some(updates) = h["updates"].as_array_mut() {
        for u in updates {
            for key in ["first_seen", "candidate_first_seen", "security_first_seen"] {
                u.as_object_mut().unwrap().remove(key);
            }
        }
    }
    h.as_object_mut().unwrap().remove("history");
    h.as_object_mut().unwrap().remove("security_pending_since");
    h
}

#[test]
fn reports_and_statistics_reach_the_central_aggregator() {
    let dir = tempfile::tempdir().unwrap();
    let (pc, pa, pb) = (free_port(), free_port(), free_port());
    let central = Aggregator::start("central", &dir.path().join("c"), pc, &central_config());
    let a_dir = dir.path().join("a");
    let a = Aggregator::start(
        "site A",
        &a_dir,
        pa,
        &downstream_config(&a_dir, pc, "reports", TOKEN_A, ""),
    );
    let b_dir = dir.path().join("b");
    let b = Aggregator::start(
        "site B",
        &b_dir,
        pb,
        &downstream_config(&b_dir, pc, "stats", TOKEN_B, ""),
    );

    for i in 0..3 {
        a.push(&report(&format!("a-{i}"), 100 + i, 3 + i as usize, "SiteA"));
    }
    for i in 0..4 {
        b.push(&report(&format!("b-{i}"), 200 + i, 2 * i as usize, "SiteB"));
    }
    // Reports: every host of A appears on the central one, exactly as A shows it.
    wait_for("A's hosts on the central aggregator", 30, || {
        hosts_of(&central).len() == 3
    });
    for i in 0..3 {
        let local = a.get(&format!("/api/v1/hosts/a-{i}"));
        let remote = central.get(&format!("/api/v1/hosts/a-{i}"));
        assert_eq!(remote["site"], "SiteA");
        assert_eq!(remote["source"], "forwarded");
        assert_eq!(remote["forwarded_by"], "site-a");
        assert_eq!(comparable(&remote), comparable(&local), "a-{i}");
    }
    // Statistics: SiteB's counts, as B computes them from its own hosts.
    wait_for("SiteB's statistics on the central aggregator", 30, || {
        central.get("/api/v1/sites")["sites"]
            .as_array()
            .is_some_and(|s| s.iter().any(|x| x["site"] == "SiteB" && x["hosts"] == 4))
    });
    let sites = central.get("/api/v1/sites")["sites"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(sites.len(), 1, "only B sends statistics: {sites:?}");
    let s = &sites[0];
    let b_hosts = hosts_of(&b);
    let total = |key: &str| {
        b_hosts
            .iter()
            .map(|h| h[key].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(s["server"], "site-b");
    assert_eq!(s["updates_pending"].as_u64().unwrap(), total("pending"));
    assert_eq!(
        s["security_updates_pending"]["important"].as_u64().unwrap(),
        b_hosts
            .iter()
            .map(|h| h["security"]["important"].as_u64().unwrap())
            .sum::<u64>()
    );
    assert_eq!(
        s["hosts_with_pending_updates"], 3,
        "b-0 has nothing pending"
    );
    assert_eq!(s["hosts_with_security_updates"]["important"], 3);
    assert!(s["oldest_security_update_pending_since"].is_string());
    // B's hosts themselves stay at B.
    assert!(hosts_of(&central).iter().all(|h| h["site"] == "SiteA"));

    // /federate shows hosts for the reports sender and sites for the stats sender.
    let fed = central.text("/federate");
    assert_eq!(
        sample(
            &fed,
            "pakiti_updates_pending",
            &["host=\"a-2\"", "site=\"SiteA\""]
        ),
        Some(5.0)
    );
    assert_eq!(
        sample(
            &fed,
            "pakiti_site_hosts",
            &["site=\"SiteB\"", "server=\"site-b\""]
        ),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &fed,
            "pakiti_site_security_updates_pending",
            &["site=\"SiteB\"", "severity=\"important\""]
        ),
        Some(s["security_updates_pending"]["important"].as_f64().unwrap())
    );
    // The central pages show the sites and the forwarded hosts.
    let page = central.text("/sites");
    assert!(page.contains("SiteB") && page.contains("site-b"), "{page}");
    let overview = central.text("/");
    assert!(
        overview.contains("1 more site reported by its own aggregator"),
        "{overview}"
    );
    let host_page = central.text("/hosts/a-1");
    assert!(host_page.contains("forwarded by site-a"), "{host_page}");
    // The senders count what they delivered.
    let am = a.text("/metrics");
    assert!(
        sample(
            &am,
            "pakiti_aggregator_forward_items_total",
            &["kind=\"report\"", "result=\"delivered\""]
        )
        .unwrap()
            >= 3.0
    );
    assert_eq!(
        sample(&am, "pakiti_aggregator_forward_queue_items", &[]),
        Some(0.0)
    );
}

#[test]
fn nothing_is_lost_while_the_central_aggregator_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let (pc, pa, pb) = (free_port(), free_port(), free_port());
    let c_dir = dir.path().join("c");
    let central = Aggregator::start("central", &c_dir, pc, &central_config());
    let a_dir = dir.path().join("a");
    let a_config = downstream_config(&a_dir, pc, "reports", TOKEN_A, "");
    let a = Aggregator::start("site A", &a_dir, pa, &a_config);
    let b_dir = dir.path().join("b");
    // A small cap: statistics pile up while the central one is down.
    let b = Aggregator::start(
        "site B",
        &b_dir,
        pb,
        &downstream_config(&b_dir, pc, "stats", TOKEN_B, "max_queued = 3\n"),
    );
    a.push(&report("a-0", 100, 1, "SiteA"));
    b.push(&report("b-0", 200, 1, "SiteB"));
    wait_for("the first report upstream", 30, || {
        hosts_of(&central).len() == 1
    });

    central.kill();
    // Meanwhile: new hosts, and a changed one, at site A; a new host at site B.
    for i in 1..6 {
        a.push(&report(&format!("a-{i}"), 100 + i, i as usize, "SiteA"));
    }
    a.push(&report("a-0", 100, 7, "SiteA"));
    b.push(&report("b-1", 201, 4, "SiteB"));
    wait_for("A to queue what it cannot deliver", 30, || {
        sample(
            &a.text("/metrics"),
            "pakiti_aggregator_forward_queue_items",
            &[],
        )
        .is_some_and(|n| n >= 6.0)
    });
    wait_for("B's cap to drop old statistics", 30, || {
        sample(
            &b.text("/metrics"),
            "pakiti_aggregator_forward_dropped_total",
            &["kind=\"stats\""],
        )
        .is_some_and(|n| n > 0.0)
    });
    // A log line says so (the forwarder looks at the drop counters every ten seconds).
    wait_for("B's log line about the dropped items", 30, || {
        b.log().contains("the oldest items were dropped")
    });
    assert!(
        sample(
            &a.text("/metrics"),
            "pakiti_aggregator_forward_items_total",
            &["result=\"failed\""]
        )
        .unwrap_or(0.0)
            >= 1.0
    );
    // A restarts too, with its queue in its database.
    a.kill();
    let a = Aggregator::start("site A", &a_dir, pa, &a_config);
    let central = Aggregator::start("central", &c_dir, pc, &central_config());
    wait_for("every queued report on the central aggregator", 60, || {
        let hosts = hosts_of(&central);
        hosts.len() == 6
            && hosts
                .iter()
                .any(|h| h["hostname"] == "a-0" && h["pending"] == 7)
    });
    wait_for("A's queue to drain", 30, || {
        sample(
            &a.text("/metrics"),
            "pakiti_aggregator_forward_queue_items",
            &[],
        ) == Some(0.0)
    });
    for i in 0..6 {
        let local = a.get(&format!("/api/v1/hosts/a-{i}"));
        let remote = central.get(&format!("/api/v1/hosts/a-{i}"));
        assert_eq!(comparable(&remote), comparable(&local), "a-{i}");
    }
    // B's statistics resume with its latest numbers.
    wait_for("SiteB's current statistics", 30, || {
        central.get("/api/v1/sites")["sites"]
            .as_array()
            .is_some_and(|s| {
                s.iter()
                    .any(|x| x["site"] == "SiteB" && x["hosts"] == 2 && x["updates_pending"] == 5)
            })
    });
    drop(b);
}

#[test]
fn untrusted_senders_and_foreign_sites_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pc = free_port();
    let central = Aggregator::start("central", &dir.path().join("c"), pc, &central_config());
    let client = reqwest::blocking::Client::new();
    let stats = |site: &str| {
        format!(
            r#"{{"schema_version":1,"generated_at":"2026-11-26T10:00:00Z","sites":[{{"site":"{site}","hosts":1,"hosts_with_pending_updates":0,"hosts_with_security_updates":{{"critical":0,"important":0,"moderate":0,"low":0,"unknown":0}},"hosts_reboot_required":0,"hosts_stale":0,"updates_pending":0,"security_updates_pending":{{"critical":0,"important":0,"moderate":0,"low":0,"unknown":0}}}}]}}"#
        )
    };
    let post = |path: &str, token: Option<&str>, body: String| {
        let mut r = client
            .post(central.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().unwrap();
        (resp.status().as_u16(), resp.text().unwrap())
    };
    // Untrusted: no credentials, an unknown token, a host's token.
    for token in [None, Some("not-a-known-token"), Some(TOKEN_HOST)] {
        let (status, body) = post("/api/v1/forward/stats", token, stats("SiteA"));
        assert_eq!(status, 403, "{token:?}: {body}");
    }
    let (status, body) = post(
        "/api/v1/forward/reports",
        Some(TOKEN_HOST),
        String::from_utf8(to_json(&report("web-9", 9, 1, "SiteA"))).unwrap(),
    );
    assert_eq!(status, 403, "{body}");
    // Trusted servers speaking for another site.
    let (status, body) = post("/api/v1/forward/stats", Some(TOKEN_B), stats("SiteA"));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("SiteA"), "{body}");
    let (status, body) = post(
        "/api/v1/forward/reports",
        Some(TOKEN_A),
        String::from_utf8(to_json(&report("b-7", 7, 1, "SiteB"))).unwrap(),
    );
    assert_eq!(status, 403, "{body}");
    // Malformed statistics from a trusted server: 400, nothing stored.
    let (status, body) = post(
        "/api/v1/forward/stats",
        Some(TOKEN_B),
        "{\"schema_version\":1}".into(),
    );
    assert_eq!(status, 400, "{body}");
    // Nothing was stored, and every refusal was counted.
    assert!(hosts_of(&central).is_empty());
    assert!(central.get("/api/v1/sites")["sites"]
        .as_array()
        .unwrap()
        .is_empty());
    let m = central.text("/metrics");
    assert_eq!(
        sample(
            &m,
            "pakiti_aggregator_forward_refused_total",
            &["reason=\"untrusted\""]
        ),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &m,
            "pakiti_aggregator_forward_refused_total",
            &["reason=\"site\""]
        ),
        Some(2.0)
    );
    // The trusted server, for its own site: accepted.
    let (status, body) = post("/api/v1/forward/stats", Some(TOKEN_B), stats("SiteB"));
    assert_eq!(status, 200, "{body}");
}

/// A report the central aggregator refuses for good (a site the sender may
/// not speak for) is set aside and logged; the reports queued behind it go on.
#[test]
fn a_report_refused_for_good_does_not_block_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let (pc, pa) = (free_port(), free_port());
    let central = Aggregator::start("central", &dir.path().join("c"), pc, &central_config());
    let a_dir = dir.path().join("a");
    let a = Aggregator::start(
        "site-a",
        &a_dir,
        pa,
        &downstream_config(&a_dir, pc, "reports", TOKEN_A, ""),
    );
    // Site A's aggregator is open: it stores a SiteB host that the central
    // aggregator will never take from site A, then an ordinary SiteA host.
    a.push(&report("foreign-1", 501, 1, "SiteB"));
    a.push(&report("a-ok-1", 502, 2, "SiteA"));
    wait_for("the SiteA host at the central aggregator", 30, || {
        hosts_of(&central).iter().any(|h| h["hostname"] == "a-ok-1")
    });
    wait_for("site A's queue to empty", 30, || {
        sample(
            &a.text("/metrics"),
            "pakiti_aggregator_forward_queue_items",
            &[],
        ) == Some(0.0)
    });
    assert!(!hosts_of(&central)
        .iter()
        .any(|h| h["hostname"] == "foreign-1"));
    assert!(
        a.log().contains("set aside"),
        "the refusal is logged: {}",
        a.log()
    );
}

/// A site aggregator that forwards reports gets inventories by digest and
/// as deltas from its hosts; the central one, which may not have them (here
/// it lost its database), gets each report whole: the inventories on both
/// stay equal.
#[test]
fn inventories_named_by_digest_or_sent_as_deltas_reach_upstream_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (pc, pa) = (free_port(), free_port());
    let central = Aggregator::start("central", &dir.path().join("c"), pc, &central_config());
    let a_dir = dir.path().join("a");
    let a = Aggregator::start(
        "site A",
        &a_dir,
        pa,
        &downstream_config(&a_dir, pc, "reports", TOKEN_A, ""),
    );
    let installed = |list: &[(&str, &str)]| -> Vec<Installed> {
        list.iter()
            .map(|(n, v)| Installed::new(n, v, "amd64"))
            .collect()
    };
    let at = |r: &mut Report, secs: u64| {
        r.collected_at = std::time::SystemTime::now() - Duration::from_secs(100 - secs)
    };
    let mut full = report("inv", 300, 2, "SiteA");
    let old = installed(&[("xz-utils", "5.6.0-0.1"), ("bash", "5.2.15-2")]);
    full.inventory.installed_packages = 2;
    full.inventory.installed = Some(old.clone());
    at(&mut full, 10);
    a.push(&full);
    // The central aggregator loses what it had: it never saw the base.
    wait_for("the first report upstream", 30, || {
        hosts_of(&central).iter().any(|h| h["hostname"] == "inv")
    });
    central.kill();
    let central = Aggregator::start("central", &dir.path().join("c2"), pc, &central_config());
    let base = installed_digest(&old);
    let new = installed(&[("xz-utils", "5.6.1-1"), ("bash", "5.2.15-2")]);
    let mut delta = full.clone();
    delta.inventory.installed = None;
    delta.inventory.installed_digest = Some(installed_digest(&new));
    delta.inventory.installed_delta = Some(installed_delta(&base, &old, &new));
    at(&mut delta, 20);
    a.push(&delta);
    wait_for("the delta's inventory upstream", 30, || {
        hosts_of(&central).iter().any(|h| h["hostname"] == "inv")
            && central
                .text("/api/v1/packages/xz-utils")
                .contains("5.6.1-1")
    });
    let mut lean = delta.clone();
    lean.inventory.installed_delta = None;
    lean.inventory.updates.pop();
    at(&mut lean, 30);
    a.push(&lean);
    let versions = |agg: &Aggregator| -> Vec<String> {
        agg.get("/api/v1/hosts/inv")["installed"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|p| format!("{} {}", p["name"], p["version"]))
                    .collect()
            })
            .unwrap_or_default()
    };
    let want = ["\"bash\" \"5.2.15-2\"", "\"xz-utils\" \"5.6.1-1\""];
    assert_eq!(versions(&a), want);
    wait_for("the last report upstream", 30, || {
        hosts_of(&central)
            .iter()
            .any(|h| h["hostname"] == "inv" && h["pending"] == 1)
    });
    assert_eq!(versions(&central), want);
    assert!(!central.log().contains("refused"), "{}", central.log());
}
