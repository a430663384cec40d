//! The fleet's vulnerabilities as last computed (see `exposure.rs`, which
//! serves them): the aggregation reads every open finding, so it is not
//! redone per request.

use pakiti_store::{FleetVulnerability, Store, StoreError};

/// The fleet's list, as last computed: the aggregation reads every open
/// finding, so it is not redone per request. It is recomputed when findings
/// may have changed (a report stored, a feed imported: [`FleetList::changed`])
/// or every minute, and at most every ten times its last duration; while it
/// is recomputed, requests get the previous one.
#[derive(Default)]
pub struct FleetList {
    generation: std::sync::atomic::AtomicU64,
    cached: std::sync::Mutex<Option<Cached>>,
    loading: tokio::sync::Mutex<()>,
}

struct Cached {
    generation: u64,
    at: std::time::Instant,
    took: std::time::Duration,
    list: std::sync::Arc<Vec<FleetVulnerability>>,
}

impl FleetList {
    pub fn changed(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    fn fresh(&self) -> (Option<std::sync::Arc<Vec<FleetVulnerability>>>, bool) {
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let Ok(c) = self.cached.lock() else {
            return (None, false);
        };
        match c.as_ref() {
            None => (None, false),
            Some(c) => {
                let fresh = (c.generation == generation
                    && c.at.elapsed() < std::time::Duration::from_secs(60))
                    || c.at.elapsed() < c.took * 10;
                (Some(c.list.clone()), fresh)
            }
        }
    }

    pub async fn get(
        &self,
        store: std::sync::Arc<dyn Store>,
    ) -> Result<std::sync::Arc<Vec<FleetVulnerability>>, StoreError> {
        let (old, fresh) = self.fresh();
        if let (Some(list), true) = (&old, fresh) {
            return Ok(list.clone());
        }
        // One request recomputes; the others take the previous list (or,
        // the first time, wait for it).
        let guard = match (&old, self.loading.try_lock()) {
            (_, Ok(g)) => g,
            (Some(list), Err(_)) => return Ok(list.clone()),
            (None, Err(_)) => self.loading.lock().await,
        };
        if let (Some(list), true) = self.fresh() {
            return Ok(list);
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let started = std::time::Instant::now();
        let list = tokio::task::spawn_blocking(move || store.fleet_vulnerabilities())
            .await
            .map_err(|e| StoreError::Unavailable(format!("the fleet list task failed: {e}")))??;
        let list = std::sync::Arc::new(list);
        if let Ok(mut c) = self.cached.lock() {
            *c = Some(Cached {
                generation,
                at: std::time::Instant::now(),
                took: started.elapsed(),
                list: list.clone(),
            });
        }
        drop(guard);
        Ok(list)
    }
}
