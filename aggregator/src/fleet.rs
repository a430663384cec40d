//! The fleet as the pages, `/federate` and the hosts API read it: all host
//! summaries, cached in memory and reloaded from the store when reports have
//! changed it: through this process (it says so), or through another process
//! on the same database (its change stamp moves; looked at most once a
//! second, and every minute the copy is reloaded whatever the stamp says).
//! Under a steady stream of reports a reload happens at most every ten times
//! the last reload's duration, so a big fleet is not re-read per request.
//! The minute's reload, when nothing is known to have changed, runs behind
//! the requests: they are served the copy meanwhile, so that re-reading
//! 100,000 hosts does not stall the request that happens to come then.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// A reload behind the requests is under way.
    refreshing: AtomicBool,
}

impl Fleet {
    /// Something was stored: the next read reloads (within the rate limit).
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Every host, ordered by hostname (bytes), then id. Blocking: call from
    /// a blocking thread.
    pub fn hosts(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
    ) -> Result<Arc<Vec<HostSummary>>, StoreError> {
        let generation = self.generation.load(Ordering::Acquire);
        let mut cached = self.lock()?;
        let mut stamp = None;
        if let Some(c) = cached.as_mut() {
            let too_soon = c.loaded_at.elapsed() < c.took * 10;
            let unchanged = c.generation == generation;
            let mut fresh = unchanged && c.loaded_at.elapsed() < RELOAD_EVERY;
            let mut stamp_same = true;
            if unchanged && c.stamp.is_some() && c.stamp_checked.elapsed() >= STAMP_EVERY {
                stamp = store.change_stamp()?;
                c.stamp_checked = Instant::now();
                stamp_same = stamp == c.stamp;
                fresh &= stamp_same;
            }
            if fresh || too_soon {
                return Ok(c.hosts.clone());
            }
            if unchanged && stamp_same {
                // Only old: reloaded behind the requests.
                if !self.refreshing.swap(true, Ordering::AcqRel) {
                    let (fleet, store) = (self.clone(), store.clone());
                    std::thread::spawn(move || {
                        // Cleared however the reload ends, a panic too.
                        struct Done<'a>(&'a AtomicBool);
                        impl Drop for Done<'_> {
                            fn drop(&mut self) {
                                self.0.store(false, Ordering::Release);
                            }
                        }
                        let _done = Done(&fleet.refreshing);
                        if let Err(e) = fleet.refresh(&*store, generation) {
                            tracing::warn!(error = %e, "the fleet copy could not be reloaded");
                        }
                    });
                }
                return Ok(c.hosts.clone());
            }
        }
        let loaded = self.load(&mut cached, store.as_ref(), generation, stamp);
        drop(cached);
        // What the old copy and the reports since freed goes back to the
        // system, without holding the other readers.
        crate::memory::trim();
        loaded
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Option<Cached>>, StoreError> {
        self.cached
            .lock()
            .map_err(|_| StoreError::Unavailable("fleet cache poisoned".into()))
    }

    /// The minute's reload: read without the lock, kept unless a newer
    /// copy came meanwhile.
    fn refresh(&self, store: &dyn Store, generation: u64) -> Result<(), StoreError> {
        let started = Instant::now();
        let stamp = store.change_stamp()?;
        let hosts = read(store)?;
        let mut cached = self.lock()?;
        if cached
            .as_ref()
            .is_some_and(|c| c.generation == generation && c.loaded_at < started)
        {
            *cached = Some(Cached {
                generation,
                stamp,
                stamp_checked: Instant::now(),
                loaded_at: Instant::now(),
                took: started.elapsed(),
                hosts,
            });
        }
        drop(cached);
        // What the old copy, this read and the reports since freed goes back
        // to the system.
        crate::memory::trim();
        Ok(())
    }

    fn load(
        &self,
        cached: &mut Option<Cached>,
        store: &dyn Store,
        generation: u64,
        stamp: Option<i64>,
    ) -> Result<Arc<Vec<HostSummary>>, StoreError> {
        let started = Instant::now();
        // The stamp before the read: a write that lands during it moves the
        // stamp again and is picked up by the next read.
        let stamp = match stamp {
            Some(s) => Some(s),
            None => store.change_stamp()?,
        };
        let hosts = read(store)?;
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

/// Every host, by name, then id, byte for byte (a database's collation may
/// order names otherwise): the order the paginated lists search.
fn read(store: &dyn Store) -> Result<Arc<Vec<HostSummary>>, StoreError> {
    let mut hosts = store.hosts()?;
    hosts.sort_unstable_by(|a, b| (&a.hostname, a.id).cmp(&(&b.hostname, b.id)));
    // Grown by doubling while read: up to half of it would be empty room.
    hosts.shrink_to_fit();
    Ok(Arc::new(hosts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pakiti_report::testing;
    use pakiti_store::{Source, SqliteStore};

    fn names(hosts: &[HostSummary]) -> Vec<&str> {
        hosts.iter().map(|h| h.hostname.as_str()).collect()
    }

    #[test]
    fn the_minutes_reload_runs_behind_the_requests_and_a_change_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("p.db")).unwrap());
        let push = |name: &str, mid: &str| {
            let r = testing::report(name, Some(mid), None, Vec::new());
            store
                .ingest(&r, Source::Push, std::time::SystemTime::now())
                .unwrap();
        };
        push("a", "0123456789abcdef0123456789abcdef");
        let fleet = Arc::new(Fleet::default());
        let first = fleet.hosts(&store).unwrap();
        assert_eq!(names(&first), ["a"]);
        // Written behind the fleet's back: the copy stands for a minute.
        push("b", "1123456789abcdef0123456789abcdef");
        assert!(Arc::ptr_eq(&fleet.hosts(&store).unwrap(), &first));
        // A minute later: this request gets the copy, the reload comes after.
        fleet.cached.lock().unwrap().as_mut().unwrap().loaded_at -= RELOAD_EVERY;
        assert!(Arc::ptr_eq(&fleet.hosts(&store).unwrap(), &first));
        let deadline = Instant::now() + Duration::from_secs(10);
        let reloaded = loop {
            let h = fleet.hosts(&store).unwrap();
            if !Arc::ptr_eq(&h, &first) || Instant::now() > deadline {
                break h;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(names(&reloaded), ["a", "b"]);
        // A change through this process is read before the answer.
        push("c", "2123456789abcdef0123456789abcdef");
        fleet.changed();
        fleet.cached.lock().unwrap().as_mut().unwrap().took = Duration::ZERO;
        assert_eq!(names(&fleet.hosts(&store).unwrap()), ["a", "b", "c"]);
    }
}
