//! pakiti-fleet: a synthetic fleet pushing to a real aggregator over HTTP.
//!
//! Reports are built and gzip-compressed before the clock starts, so what is
//! measured is the aggregator (and the loopback), not this generator.
//!
//!   pakiti-fleet --url http://127.0.0.1:10151 --hosts 10000 --updates 150 --phase new
//!   pakiti-fleet ... --phase unchanged     (the same reports again)
//!   pakiti-fleet ... --phase changed --change-percent 5
//!   pakiti-fleet ... --installed 1000 --installed-change-percent 1
//!
//! With `--installed N` each report carries an inventory of N packages (its
//! pending updates' packages among them) drawn so that most hosts share
//! most versions: 1 package in 20 is at one of three other versions,
//! varying by host; each `changed` round also upgrades a window of
//! `--installed-change-percent` of them, and sends what changed since the
//! previous round (`installed_delta`), as the exporter does.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context as _};
use clap::{Parser, ValueEnum};
use pakiti_report::*;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:10151")]
    url: String,
    #[arg(long, default_value_t = 10_000)]
    hosts: usize,
    /// Number of the first host (to split one fleet between several generators).
    #[arg(long, default_value_t = 0)]
    first: usize,
    #[arg(long, default_value_t = 150)]
    updates: usize,
    #[arg(long, value_enum)]
    phase: Phase,
    /// Share of each host's updates that change in the `changed` phase.
    #[arg(long, default_value_t = 5)]
    change_percent: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Round of changes: `changed` with round r changes what round r-1 sent;
    /// `unchanged` re-sends round r. Round 0 is what `new` sends.
    #[arg(long, default_value_t = 0)]
    round: usize,
    /// Also push one report of this many pending updates (another host) at the
    /// start, and print the latencies of the others: does it stall them?
    #[arg(long)]
    huge: Option<usize>,
    /// Installed packages per report (0: reports without an inventory, as
    /// older exporters send).
    #[arg(long, default_value_t = 0)]
    installed: usize,
    /// Share of each host's installed packages upgraded in each `changed` round.
    #[arg(long, default_value_t = 1)]
    installed_change_percent: usize,
    /// Send the inventory whole: in `unchanged` rounds instead of by digest,
    /// in `changed` rounds instead of what changed since the previous round
    /// (as an exporter does once the aggregator has acknowledged that one).
    #[arg(long)]
    whole_inventory: bool,
    /// The hosts' distribution: Debian 12, or RHEL 9.4 (dnf, x86_64 and
    /// noarch packages, their source RPMs `source-NNNN`).
    #[arg(long, value_enum, default_value = "debian")]
    os: Os,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Os {
    Debian,
    Rhel,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Phase {
    New,
    Unchanged,
    Changed,
}

/// The inventory of `host`: its pending updates' packages at their installed
/// versions, then shared packages, most at the version every host has.
fn inventory(
    host: usize,
    updates: &[Update],
    n: usize,
    bumps: &dyn Fn(usize) -> usize,
) -> Vec<Installed> {
    let mut out: Vec<Installed> = updates
        .iter()
        .take(n)
        .map(|u| Installed {
            source_name: u.name.trim_end_matches("-lib").to_string(),
            ..Installed::new(&u.name, &u.installed_version, &u.arch)
        })
        .collect();
    for j in 0..n.saturating_sub(out.len()) {
        let variant = if (host * 31 + j * 17).is_multiple_of(20) {
            1 + host % 3
        } else {
            0
        };
        let version = format!("2.{j}.{}-{}", variant + bumps(j), 1 + j % 3);
        let arch = if j % 5 == 0 { "all" } else { "amd64" };
        out.push(Installed {
            source_name: format!("source-{:04}", j / 3),
            ..Installed::new(
                &format!("installed-{j:04}-{}", ["lib", "bin", "data"][j % 3]),
                &version,
                arch,
            )
        });
    }
    out
}

fn report(host: usize, updates: usize, bumps: &dyn Fn(usize) -> usize) -> Report {
    let sites = ["SiteA", "SiteB", "SiteC", "SiteD"];
    Report {
        host: HostIdentity {
            hostname: Hostname::parse(&format!("host-{host:05}.example.org")).expect("valid name"),
            machine_id: Some(format!("{host:032x}")),
            site: Some(sites[host % sites.len()].to_string()),
        },
        os: OsInfo {
            id: "debian".into(),
            version: "12".into(),
            pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
            codename: Some("bookworm".into()),
            ..OsInfo::default()
        },
        kernel: "6.1.0-18-amd64".into(),
        arch: "x86_64".into(),
        manager: Manager::Apt,
        producer: Producer {
            version: "0.1.0".into(),
            revision: "bench".into(),
        },
        collected_at: SystemTime::now(),
        collection_duration: Duration::from_millis(900),
        inventory: Inventory {
            updates: (0..updates)
                .map(|i| {
                    let bump = bumps(i);
                    Update {
                        name: format!(
                            "package-{i:03}-{}",
                            ["lib", "tools", "data", "common"][i % 4]
                        ),
                        arch: "amd64".into(),
                        installed_version: format!("1.{i}.0-1"),
                        candidate_version: format!("1.{i}.{}-1+deb12u{}", 1 + bump, 1 + bump),
                        security: i.is_multiple_of(5).then_some(Severity::Unknown),
                        held: (i % 50 == 7).then_some(HeldReason::KeptBack),
                        repository: Some("Debian:bookworm-security/oldstable-security".into()),
                        advisories: vec![],
                        cves: vec![],
                    }
                })
                .collect(),
            installed_packages: 800,
            reboot: Reboot {
                required: host.is_multiple_of(10),
                packages: vec![],
            },
            metadata_updated_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000)),
            security_metadata_available: true,
            ..Inventory::default()
        },
    }
}

/// The same host as RHEL 9.4 with dnf: its updates' architectures as rpm
/// names them.
fn as_rhel(r: &mut Report) {
    r.os = OsInfo {
        id: "rhel".into(),
        version: "9.4".into(),
        pretty_name: Some("Red Hat Enterprise Linux 9.4 (Plow)".into()),
        platform_id: Some("platform:el9".into()),
        ..OsInfo::default()
    };
    r.kernel = "5.14.0-427.13.1.el9_4.x86_64".into();
    r.manager = Manager::Dnf;
    for u in &mut r.inventory.updates {
        u.arch = "x86_64".into();
        u.repository = Some("rhel-9-for-x86_64-baseos-rpms".into());
    }
}

/// Debian's architectures as rpm names them (`all` is `noarch`).
fn rpm_arches(inv: &mut [Installed]) {
    for p in inv {
        p.arch = if p.arch == "all" { "noarch" } else { "x86_64" }.into();
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let per_host = (a.updates * a.change_percent).div_ceil(100);
    let prep = Instant::now();
    // Round r of a host moves a window of `per_host` updates to a newer candidate;
    // consecutive rounds' windows are adjacent, so each round changes exactly
    // `per_host` updates of every host. `unchanged` re-sends round `--round`.
    let round = if a.phase == Phase::New { 0 } else { a.round };
    let bodies: Vec<Vec<u8>> = (a.first..a.first + a.hosts)
        .map(|h| {
            let n = a.updates.max(1);
            let bumps = move |i: usize| {
                (1..=round)
                    .filter(|r| (i + n - (h * 7 + r * per_host) % n) % n < per_host)
                    .count()
            };
            let mut r = report(h, a.updates, &bumps);
            if a.os == Os::Rhel {
                as_rhel(&mut r);
            }
            if a.installed > 0 {
                let m = a.installed;
                let per_host = (m * a.installed_change_percent).div_ceil(100);
                let installed_bumps = move |upto: usize, j: usize| {
                    (1..=upto)
                        .filter(|r| (j + m - (h * 13 + r * per_host) % m) % m < per_host)
                        .count()
                };
                let mut inv = inventory(h, &r.inventory.updates, m, &|j| installed_bumps(round, j));
                if a.os == Os::Rhel {
                    rpm_arches(&mut inv);
                }
                r.inventory.installed_packages = inv.len() as u64;
                if a.phase == Phase::Unchanged && !a.whole_inventory {
                    r.inventory.installed = Some(inv);
                    return gzip(&to_json_without_installed(&r));
                }
                if a.phase == Phase::Changed && !a.whole_inventory {
                    // What the exporter sends once the aggregator has the
                    // previous round's inventory: what changed since.
                    let mut prev = inventory(h, &r.inventory.updates, m, &|j| {
                        installed_bumps(round.saturating_sub(1), j)
                    });
                    if a.os == Os::Rhel {
                        rpm_arches(&mut prev);
                    }
                    let base = installed_digest(&prev);
                    r.inventory.installed_digest = Some(installed_digest(&inv));
                    r.inventory.installed_delta = Some(installed_delta(&base, &prev, &inv));
                } else {
                    r.inventory.installed = Some(inv);
                }
            }
            gzip(&to_json(&r))
        })
        .collect();
    let raw: usize = bodies.iter().map(Vec::len).sum();
    eprintln!(
        "prepared {} reports of {} updates ({} KiB gzipped on average) in {:.1}s",
        a.hosts,
        a.updates,
        raw / a.hosts.max(1) / 1024,
        prep.elapsed().as_secs_f64()
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency)
        .build()?;
    let endpoint = format!("{}/api/v1/reports", a.url.trim_end_matches('/'));
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(a.hosts)));
    let huge = a
        .huge
        .map(|n| gzip(&to_json(&report(a.first + a.hosts, n, &|_| 0))));
    let started = Instant::now();
    let mut tasks = Vec::new();
    let huge_task = huge.map(|body| {
        let (client, endpoint) = (client.clone(), endpoint.clone());
        tokio::spawn(async move {
            let t = Instant::now();
            let ok = client
                .post(&endpoint)
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            (ok, t.elapsed().as_secs_f64())
        })
    });
    for _ in 0..a.concurrency {
        let (client, endpoint, bodies, next, failures, latencies) = (
            client.clone(),
            endpoint.clone(),
            bodies.clone(),
            next.clone(),
            failures.clone(),
            latencies.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let sent = Instant::now();
                let r = client
                    .post(&endpoint)
                    .header("content-type", "application/json")
                    .header("content-encoding", "gzip")
                    .body(body.clone())
                    .send()
                    .await;
                if !r.is_ok_and(|r| r.status().is_success()) {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                if let Ok(mut l) = latencies.lock() {
                    l.push(sent.elapsed().as_secs_f64());
                }
            }
        }));
    }
    for t in tasks {
        t.await.context("sender task")?;
    }
    let secs = started.elapsed().as_secs_f64();
    let mut failed = failures.load(Ordering::Relaxed);
    if let Some(t) = huge_task {
        let (ok, took) = t.await.context("huge report task")?;
        if !ok {
            failed += 1;
        }
        let mut l = latencies.lock().map(|l| l.clone()).unwrap_or_default();
        l.sort_by(f64::total_cmp);
        let q = |p: f64| {
            l.get(((l.len() as f64 - 1.0) * p) as usize)
                .copied()
                .unwrap_or(0.0)
                * 1000.0
        };
        println!(
            "huge report of {} updates stored in {:.2}s; meanwhile the other pushes took median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            a.huge.unwrap_or(0),
            took,
            q(0.5),
            q(0.99),
            q(1.0)
        );
    }
    println!(
        "phase {}: {} reports in {:.2}s = {:.0} reports/s, {} failed",
        match a.phase {
            Phase::New => "new",
            Phase::Unchanged => "unchanged",
            Phase::Changed => "changed",
        },
        a.hosts,
        secs,
        a.hosts as f64 / secs,
        failed
    );
    if failed > 0 {
        bail!("{failed} reports were not stored");
    }
    Ok(())
}
