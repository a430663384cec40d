//! pakiti-outbox: what queueing one item costs when an upstream's queue is at
//! its cap, on SQLite (a file here) and, when `--postgres URL` is given, on
//! PostgreSQL. The queue is filled to the cap first, then each further item
//! makes the cap drop the oldest.
//!
//!   pakiti-outbox --items 100000 --extra 1000 [--postgres postgres://…]

use std::time::Instant;

use clap::Parser;
use pakiti_store::{OutboxKind, Outgoing, Store};

#[derive(Parser)]
struct Args {
    /// The cap, and how many items fill the queue first.
    #[arg(long, default_value_t = 100_000)]
    items: u64,
    /// Items queued at the cap, each timed.
    #[arg(long, default_value_t = 1_000)]
    extra: u64,
    /// Also measure on this PostgreSQL database (its tables are used as they are).
    #[arg(long)]
    postgres: Option<String>,
}

fn item(i: u64, cap: u64) -> Outgoing {
    Outgoing {
        upstream: "https://central.example.org:10151".into(),
        kind: if i.is_multiple_of(10) {
            OutboxKind::Stats
        } else {
            OutboxKind::Report
        },
        payload: vec![b'x'; 2_000],
        cap,
        cap_bytes: u64::MAX >> 1,
    }
}

fn measure(name: &str, store: &dyn Store, a: &Args) -> anyhow::Result<()> {
    let fill = Instant::now();
    for chunk in (0..a.items).collect::<Vec<_>>().chunks(1_000) {
        let batch: Vec<Outgoing> = chunk.iter().map(|i| item(*i, a.items)).collect();
        store.enqueue(&batch)?;
    }
    let filled = fill.elapsed();
    let mut times = Vec::with_capacity(a.extra as usize);
    for i in 0..a.extra {
        let t = Instant::now();
        store.enqueue(&[item(a.items + i, a.items)])?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let q = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    let status = store.outbox_status()?;
    println!(
        "{name}: queue of {} filled in {:.1}s; one item at the cap: median {:.2} ms, p99 {:.2} ms, max {:.2} ms; queued {}, dropped {} statistics and {} reports",
        a.items,
        filled.as_secs_f64(),
        q(0.5),
        q(0.99),
        q(1.0),
        status.first().map_or(0, |s| s.queued),
        status.first().map_or(0, |s| s.dropped_stats),
        status.first().map_or(0, |s| s.dropped_reports),
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let dir = tempfile::tempdir()?;
    let sqlite = pakiti_store::SqliteStore::open(&dir.path().join("outbox.db"))?;
    measure("SQLite", &sqlite, &a)?;
    if let Some(url) = &a.postgres {
        let pg = pakiti_store::PgStore::connect(url, pakiti_store::PgOptions::default())?;
        measure("PostgreSQL", &pg, &a)?;
    }
    Ok(())
}
