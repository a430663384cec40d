//! Which releases the loaded feeds cover, asked of the store at most every
//! 30 seconds per release (a `feeds import` from another process is seen
//! within that time), so that reports of releases no feed covers cost no
//! store read.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pakiti_store::{Store, StoreError};

const FRESH: Duration = Duration::from_secs(30);
/// Releases remembered at most: a host names its own release, so a host
/// naming a new one in every report must not grow this without bound.
const MOST: usize = 256;

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
        self.remember(release, c);
        Ok(c)
    }

    /// Keeps what the store said of `release`, within [`MOST`] releases.
    fn remember(&self, release: &str, covered: bool) {
        if let Ok(mut m) = self.releases.lock() {
            if m.len() >= MOST {
                m.retain(|_, (at, _)| at.elapsed() < FRESH);
                if m.len() >= MOST {
                    m.clear();
                }
            }
            m.insert(release.to_string(), (Instant::now(), covered));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_named_by_hosts_are_remembered_within_a_bound() {
        let c = Covered::default();
        for i in 0..3 * MOST {
            c.remember(&format!("release-{i}"), false);
            assert!(c.releases.lock().unwrap().len() <= MOST);
        }
        assert_eq!(c.cached(&format!("release-{}", 3 * MOST - 1)), Some(false));
    }
}
