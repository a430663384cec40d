//! The fleet as the pages, `/federate` and the hosts API read it: all host
//! summaries, cached in memory and reloaded from the store when reports have
//! changed it. Under a steady stream of reports a reload happens at most every
//! ten times the last reload's duration, so a big fleet is not re-read per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pakiti_store::{HostSummary, Store, StoreError};

struct Cached {
    generation: u64,
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

    /// Every host, ordered by hostname. Blocking: call from a blocking thread.
    pub fn hosts(&self, store: &dyn Store) -> Result<Arc<Vec<HostSummary>>, StoreError> {
        let generation = self.generation.load(Ordering::Acquire);
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| StoreError::Unavailable("fleet cache poisoned".into()))?;
        if let Some(c) = cached.as_ref() {
            let fresh = c.generation == generation;
            let too_soon = c.loaded_at.elapsed() < c.took * 10;
            if fresh || too_soon {
                return Ok(c.hosts.clone());
            }
        }
        let started = Instant::now();
        let hosts = Arc::new(store.hosts()?);
        *cached = Some(Cached {
            generation,
            loaded_at: Instant::now(),
            took: started.elapsed(),
            hosts: hosts.clone(),
        });
        Ok(hosts)
    }
}
