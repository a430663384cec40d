//! Which releases the loaded feeds cover, asked of the store at most every
//! 30 seconds per release (a `feeds import` from another process is seen
//! within that time), so that reports of releases no feed covers cost no
//! store read.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pakiti_store::{Store, StoreError};

const FRESH: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Covered {
    releases: Mutex<HashMap<String, (Instant, bool)>>,
}

impl Covered {
    /// What was last seen for `release`, if recent.
    pub fn cached(&self, release: &str) -> Option<bool> {
        let m = self.releases.lock().ok()?;
        m.get(release)
            .filter(|(at, _)| at.elapsed() < FRESH)
            .map(|(_, c)| *c)
    }

    /// Whether a loaded feed covers `release`. Blocking.
    pub fn covers(&self, store: &dyn Store, release: &str) -> Result<bool, StoreError> {
        if let Some(c) = self.cached(release) {
            return Ok(c);
        }
        let c = store.covers_release(release)?;
        if let Ok(mut m) = self.releases.lock() {
            m.insert(release.to_string(), (Instant::now(), c));
        }
        Ok(c)
    }
}
