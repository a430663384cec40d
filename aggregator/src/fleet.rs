//! The fleet as the pages, `/federate` and the hosts API read it: all host
//! summaries, cached in memory and reloaded from the store when reports have
//! changed it: through this process (it says so), or through another process
//! on the same database (its change stamp moves; looked at most once a
//! second, and every minute the copy is reloaded whatever the stamp says).
//! Under a steady stream of reports a reload happens at most every ten times
//! the last reload's duration, so a big fleet is not re-read per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pakiti_store::{HostSummary, Store, StoreError};

/// How often another process's writes are looked for.
const STAMP_EVERY: Duration = Duration::from_secs(1);
/// How old a copy may get whatever the stamps say (a bump lost to a crash).
const RELOAD_EVERY: Duration = Duration::from_secs(60);

struct Cached {
    generation: u64,
    stamp: Option<i64>,
    stamp_checked: Instant,
    loaded_at: Instant,
    took: Duration,
    hosts: Arc<Vec<HostSummary>>,
}

#[derive(Default)]
pub struct Fleet {
    generation: AtomicU64,
    cached: Mutex<Option<Cached>>,
}

impl Fleet {
    /// Something was stored: the next read reloads (within the rate limit).
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Every host, ordered by hostname (bytes), then id. Blocking: call from
    /// a blocking thread.
    pub fn hosts(&self, store: &dyn Store) -> Result<Arc<Vec<HostSummary>>, StoreError> {
        let generation = self.generation.load(Ordering::Acquire);
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| StoreError::Unavailable("fleet cache poisoned".into()))?;
        let mut stamp = None;
        if let Some(c) = cached.as_mut() {
            let too_soon = c.loaded_at.elapsed() < c.took * 10;
            let mut fresh = c.generation == generation && c.loaded_at.elapsed() < RELOAD_EVERY;
            if fresh && c.stamp.is_some() && c.stamp_checked.elapsed() >= STAMP_EVERY {
                stamp = store.change_stamp()?;
                c.stamp_checked = Instant::now();
                fresh = stamp == c.stamp;
            }
            if fresh || too_soon {
                return Ok(c.hosts.clone());
            }
        }
        let started = Instant::now();
        // The stamp before the read: a write that lands during it moves the
        // stamp again and is picked up by the next read.
        let stamp = match stamp {
            Some(s) => Some(s),
            None => store.change_stamp()?,
        };
        let mut hosts = store.hosts()?;
        // By name, then id, byte for byte (a database's collation may order
        // names otherwise): the order the paginated lists search.
        hosts.sort_unstable_by(|a, b| (&a.hostname, a.id).cmp(&(&b.hostname, b.id)));
        let hosts = Arc::new(hosts);
        *cached = Some(Cached {
            generation,
            stamp,
            stamp_checked: Instant::now(),
            loaded_at: Instant::now(),
            took: started.elapsed(),
            hosts: hosts.clone(),
        });
        Ok(hosts)
    }
}
