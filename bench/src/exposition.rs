//! Issue 19's question: should the fleet's families (`/federate`, one series
//! per host and family) be built as the `prometheus` crate's metric families
//! (a custom collector) and written by its `TextEncoder`, or written by the
//! snapshot writer (`pakiti_service::exposition::Exposition`) as they are
//! read? The same 10,000 hosts and 18 series each (as `/federate` has them:
//! counts, five severities pending and held, host and build info, support
//! windows), written both ways, timed (median of 10) with the heap each needs
//! at its peak (a counting allocator). Both first lay the hosts' rows out the
//! same way, so the difference is the encoding path alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use pakiti_service::exposition::{Exposition, Format};
use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::Encoder as _;

struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = NOW.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        NOW.fetch_sub(l.size(), Ordering::Relaxed);
        System.dealloc(p, l)
    }
}

#[global_allocator]
static A: Counting = Counting;

const SEVERITIES: [&str; 5] = ["critical", "important", "moderate", "low", "unknown"];

struct Host {
    name: String,
    site: String,
    pending: f64,
    held: f64,
    security: [f64; 5],
}

/// (family, samples of one host: labels beyond host and site, value)
type Rows = Vec<(&'static str, Vec<(Vec<(&'static str, String)>, f64)>)>;

fn rows(h: &Host) -> Rows {
    let sev = |v: &[f64; 5]| {
        SEVERITIES
            .iter()
            .zip(v)
            .map(|(s, n)| (vec![("severity", s.to_string())], *n))
            .collect()
    };
    vec![
        ("pakiti_updates_pending", vec![(vec![], h.pending)]),
        ("pakiti_updates_held", vec![(vec![], h.held)]),
        ("pakiti_reboot_required", vec![(vec![], 0.0)]),
        (
            "pakiti_last_report_timestamp_seconds",
            vec![(vec![], 1.8e9)],
        ),
        ("pakiti_security_updates_pending", sev(&h.security)),
        ("pakiti_security_updates_held", sev(&[0.0; 5])),
        (
            "pakiti_host_info",
            vec![(
                vec![
                    ("os_id", "debian".into()),
                    ("os_version", "12".into()),
                    ("kernel", "6.1.0-18-amd64".into()),
                    ("manager", "apt".into()),
                ],
                1.0,
            )],
        ),
        (
            "pakiti_exporter_build_info",
            vec![(
                vec![("version", "0.1.0".into()), ("revision", "abc".into())],
                1.0,
            )],
        ),
        (
            "pakiti_os_support_end_timestamp_seconds",
            vec![
                (vec![("kind", "standard".into())], 1.78e9),
                (
                    vec![("kind", "extended".into()), ("program", "LTS".into())],
                    1.84e9,
                ),
            ],
        ),
    ]
}

fn fleet(n: usize) -> Vec<Host> {
    (0..n)
        .map(|i| Host {
            name: format!("host-{i:05}.example.org"),
            site: format!("Site{}", i % 20),
            pending: (i % 40) as f64,
            held: (i % 3) as f64,
            security: [0.0, (i % 2) as f64, (i % 5) as f64, 1.0, 2.0],
        })
        .collect()
}

/// The snapshot writer: family by family, host by host, as `/federate`.
fn snapshot_writer(hosts: &[Host]) -> usize {
    let all: Vec<Rows> = hosts.iter().map(rows).collect();
    let mut m = Exposition::new(Format::Text, 1 << 20);
    let families: Vec<&str> = all[0].iter().map(|(f, _)| *f).collect();
    for (i, family) in families.iter().enumerate() {
        m.family(family, "gauge", "Help.");
        for (h, r) in hosts.iter().zip(&all) {
            for (labels, v) in &r[i].1 {
                let mut all: Vec<(&str, &str)> = vec![("host", &h.name), ("site", &h.site)];
                all.extend(labels.iter().map(|(k, v)| (*k, v.as_str())));
                m.sample(family, &all, *v);
            }
        }
    }
    m.finish().len()
}

fn label(k: &str, v: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name(k.to_string());
    l.set_value(v.to_string());
    l
}

/// A custom collector's way: every series a `Metric` of a `MetricFamily`,
/// then the crate's `TextEncoder`.
fn crate_encoder(hosts: &[Host]) -> usize {
    let all: Vec<Rows> = hosts.iter().map(rows).collect();
    let names: Vec<&str> = all[0].iter().map(|(f, _)| *f).collect();
    let mut families: Vec<MetricFamily> = names
        .iter()
        .map(|n| {
            let mut f = MetricFamily::default();
            f.set_name(n.to_string());
            f.set_help("Help.".into());
            f.set_field_type(MetricType::GAUGE);
            f
        })
        .collect();
    let mut metrics: Vec<Vec<Metric>> = vec![Vec::new(); names.len()];
    for (h, r) in hosts.iter().zip(all) {
        for (i, (_, samples)) in r.into_iter().enumerate() {
            for (labels, v) in samples {
                let mut pairs = vec![label("host", &h.name), label("site", &h.site)];
                pairs.extend(labels.iter().map(|(k, v)| label(k, v)));
                let mut g = Gauge::default();
                g.set_value(v);
                let mut m = Metric::from_label(pairs);
                m.set_gauge(g);
                metrics[i].push(m);
            }
        }
    }
    for (f, m) in families.iter_mut().zip(metrics) {
        f.set_metric(m);
    }
    let mut out = Vec::with_capacity(1 << 20);
    prometheus::TextEncoder::new()
        .encode(&families, &mut out)
        .expect("writing to memory");
    out.len()
}

/// What both pay before writing: the rows laid out.
fn rows_alone(hosts: &[Host]) -> usize {
    let all: Vec<Rows> = hosts.iter().map(rows).collect();
    all.len()
}

fn measure(name: &str, hosts: &[Host], f: fn(&[Host]) -> usize) {
    let mut times = Vec::new();
    let mut bytes = 0;
    let mut peak = 0;
    for _ in 0..10 {
        let base = NOW.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let t = Instant::now();
        bytes = f(hosts);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        peak = peak.max(PEAK.load(Ordering::Relaxed) - base);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{name}: median {:.1} ms (min {:.1}, max {:.1}), {} bytes of text, peak heap {:.1} MiB",
        times[5],
        times[0],
        times[9],
        bytes,
        peak as f64 / (1 << 20) as f64
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let hosts = fleet(n);
    println!("{n} hosts, {} series", n * 18);
    measure("rows alone (both pay it)", &hosts, rows_alone);
    measure("snapshot writer (Exposition)", &hosts, snapshot_writer);
    measure("crate families + TextEncoder", &hosts, crate_encoder);
}
