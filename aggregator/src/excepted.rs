//! Which open findings the exceptions in force cover, across the fleet
//! (they leave the open counts), and the findings past their deadline —
//! both read from every open finding of the vulnerabilities concerned, or
//! of the fleet, in the store (see `decisions.rs` for what is decided).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pakiti_decisions::{exception, Exception, Target};
use pakiti_store::{HostSummary, Store, StoreError, VulnCounts};

use crate::decisions::{Annotation, Effective};

/// A finding of a host, as an exception sees it.
pub fn target<'a>(
    host: &'a HostSummary,
    releases: &'a [String],
    scheme: Option<pakiti_versions::Scheme>,
    f: &'a pakiti_vulns::Finding,
) -> Target<'a> {
    Target {
        vulnerability: &f.id,
        host: &host.hostname,
        site: host.site.as_deref(),
        releases,
        package: &f.package,
        source_package: &f.source_package,
        installed_version: &f.installed_version,
        scheme,
    }
}

/// The host's releases and version order, for exceptions.
pub fn host_releases(h: &HostSummary) -> (Vec<String>, Option<pakiti_versions::Scheme>) {
    match crate::releases::releases_of(h) {
        Ok(r) => (r.chain, Some(r.scheme)),
        Err(_) => (Vec::new(), None),
    }
}

/// The open findings active exceptions cover, across the fleet.
#[derive(Debug, Default)]
pub struct Excepted {
    /// Per vulnerability: hosts whose every open finding of it is excepted.
    pub hosts: HashMap<String, u64>,
    /// Of those, the hosts that can install a fix of it now.
    pub fixable_hosts: HashMap<String, u64>,
    /// Per host id: its counted findings excepted, to leave its open counts.
    pub counts: HashMap<i64, VulnCounts>,
    /// Per exception state: findings covered.
    pub findings: HashMap<&'static str, u64>,
    /// The findings covered: (host id, vulnerability, package, arch).
    pub keys: HashSet<(i64, String, String, String)>,
}

impl Excepted {
    /// A fingerprint of the findings covered (order does not matter).
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        self.keys
            .iter()
            .map(|k| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                k.hash(&mut h);
                h.finish()
            })
            .fold(self.keys.len() as u64, u64::wrapping_add)
    }
}

/// Reads the open findings of every vulnerability an exception is in force
/// for, and judges each. Blocking.
pub fn excepted(
    store: &dyn Store,
    loaded: &Effective,
    hosts: &[HostSummary],
    now: SystemTime,
) -> Result<Excepted, StoreError> {
    let active: Vec<&Exception> = loaded
        .decisions
        .exceptions
        .iter()
        .filter(|e| e.active(now))
        .collect();
    let mut out = Excepted::default();
    if active.is_empty() {
        return Ok(out);
    }
    let mut by_name: HashMap<(String, String), HostSummary> = hosts
        .iter()
        .map(|h| {
            (
                (
                    h.hostname.clone(),
                    h.site.as_deref().unwrap_or("").to_string(),
                ),
                h.clone(),
            )
        })
        .collect();
    let mut releases: HashMap<i64, (Vec<String>, Option<pakiti_versions::Scheme>)> = HashMap::new();
    let ids: std::collections::BTreeSet<&str> =
        active.iter().map(|e| e.vulnerability.as_str()).collect();
    for id in ids {
        let of_id: Vec<Exception> = active
            .iter()
            .filter(|e| e.vulnerability == id)
            .map(|e| (*e).clone())
            .collect();
        // host id → (all excepted so far, some fix installable)
        let mut per_host: HashMap<i64, (bool, bool)> = HashMap::new();
        let mut after = None;
        loop {
            let page = store.exposed_hosts(id, after.as_ref(), 1000)?;
            for row in &page.rows {
                let key = (row.hostname.clone(), row.site.clone().unwrap_or_default());
                if !by_name.contains_key(&key) {
                    // Newer than the fleet copy: read from the store.
                    if let Some(d) = store.host(&row.hostname, row.site.as_deref())? {
                        by_name.insert(key.clone(), d.summary);
                    }
                }
                let Some(h) = by_name.get(&key) else {
                    continue;
                };
                let (chain, scheme) = releases.entry(h.id).or_insert_with(|| host_releases(h));
                let f = &row.finding.finding;
                let covering = exception::covering(&of_id, &target(h, chain, *scheme, f), now);
                let (all, fixable) = per_host.entry(h.id).or_insert((true, false));
                *fixable |= f.fix_available;
                match covering {
                    Some(e) => {
                        *out.findings.entry(e.state.as_str()).or_default() += 1;
                        out.keys
                            .insert((h.id, f.id.clone(), f.package.clone(), f.arch.clone()));
                        let c = out.counts.entry(h.id).or_default();
                        let one = VulnCounts::of([f]);
                        for i in 0..5 {
                            c.fixable[i] += one.fixable[i];
                            c.unfixable[i] += one.unfixable[i];
                        }
                    }
                    None => *all = false,
                }
            }
            match page.rows.last() {
                Some(last) if page.rows.len() == 1000 => after = Some(last.key()),
                _ => break,
            }
        }
        let n = per_host.values().filter(|(all, _)| *all).count() as u64;
        if n > 0 {
            out.hosts.insert(id.to_string(), n);
            let fixable = per_host.values().filter(|(all, f)| *all && *f).count() as u64;
            out.fixable_hosts.insert(id.to_string(), fixable);
        }
    }
    Ok(out)
}

/// Per host id, its open findings past their deadline by severity (in
/// `Severity::ALL` order); those exceptions cover are not counted. Reads
/// every open finding. Blocking.
pub fn past_deadline(
    store: &dyn Store,
    deadlines: &pakiti_decisions::Deadlines,
    annotations: &HashMap<String, Annotation>,
    excepted: &Excepted,
    now: SystemTime,
) -> Result<HashMap<i64, [u32; 5]>, StoreError> {
    let mut out: HashMap<i64, [u32; 5]> = HashMap::new();
    let no_tags: Vec<String> = Vec::new();
    let tags: HashMap<&str, Vec<String>> = annotations
        .iter()
        .map(|(id, a)| (id.as_str(), a.tags.iter().map(|t| t.name.clone()).collect()))
        .collect();
    store.each_open_finding(&mut |f| {
        let ann = annotations.get(&f.id);
        let deadline = deadlines.of(&pakiti_decisions::deadline::Clock {
            severity: f.severity,
            tags: tags.get(f.id.as_str()).unwrap_or(&no_tags),
            kev_due: ann.and_then(Annotation::kev_due),
            fix_since: f.fix_since.filter(|_| f.fix_available),
        });
        if deadline.is_some_and(|d| d <= now)
            && !excepted.keys.contains(&(
                f.host_id,
                f.id.clone(),
                f.package.clone(),
                f.arch.clone(),
            ))
        {
            let i = pakiti_report::Severity::ALL
                .iter()
                .position(|s| *s == f.severity)
                .unwrap_or(4);
            out.entry(f.host_id).or_default()[i] += 1;
        }
    })?;
    Ok(out)
}

/// A value computed by reading every open finding: kept for a while (30 s,
/// and at least ten times as long as it took) rather than recomputed per
/// scrape, while the time it was judged at is as near to [`now`] (which a
/// test's clock may move) and what it depends on (`key`: the exceptions
/// in force) is the same.
pub struct Recent<T> {
    cached: std::sync::Mutex<Option<Kept<T>>>,
}

struct Kept<T> {
    at: std::time::Instant,
    took: Duration,
    judged_at: SystemTime,
    key: u64,
    value: Arc<T>,
}

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Recent {
            cached: std::sync::Mutex::new(None),
        }
    }
}

impl<T: Clone> Recent<T> {
    /// The kept value while fresh for `now`, else `compute`'s. Blocking.
    pub fn get(
        &self,
        now: SystemTime,
        key: u64,
        compute: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut c = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = c.as_ref() {
            let keep = Duration::from_secs(30).max(k.took * 10);
            let apart = now
                .duration_since(k.judged_at)
                .unwrap_or_else(|e| e.duration());
            if k.key == key && k.at.elapsed() < keep && apart < keep {
                return Ok((*k.value).clone());
            }
        }
        let started = std::time::Instant::now();
        let value = compute()?;
        *c = Some(Kept {
            at: std::time::Instant::now(),
            took: started.elapsed(),
            judged_at: now,
            key,
            value: Arc::new(value.clone()),
        });
        Ok(value)
    }
}
