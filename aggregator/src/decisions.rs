//! What operators decided, applied (the rules are `pakiti-decisions`'):
//! the decisions file (`[decisions] file`) kept loaded and reloaded when it
//! changes (a file that does not read keeps the previous decisions and is
//! logged, naming the entry; at start it stops the aggregator), the
//! priorities others publish (KEV, EPSS, from the store) and tags beside each
//! vulnerability, and which open findings active exceptions cover: those
//! stay listed, marked, and leave the open counts.
//!
//! Time: [`now`]. Debug builds read it from the file named by
//! `PAKITI_AGGREGATOR_TEST_CLOCK` when set (an RFC 3339 time), so a test can
//! let an exception expire; release builds always use the system clock.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use pakiti_decisions::{exception, Decisions, Exception, Tag, Target};
use pakiti_store::{HostSummary, Score, Store, StoreError, VulnCounts};
use serde_json::{json, Value};

/// The time decisions are judged at.
pub fn now() -> SystemTime {
    #[cfg(debug_assertions)]
    if let Ok(path) = std::env::var("PAKITI_AGGREGATOR_TEST_CLOCK") {
        if let Some(t) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| pakiti_report::time::parse_rfc3339(s.trim()).ok())
        {
            return t;
        }
    }
    SystemTime::now()
}

/// The decisions in force, and the file they came from.
#[derive(Default)]
pub struct Book {
    file: Option<PathBuf>,
    current: RwLock<Arc<Loaded>>,
}

#[derive(Default)]
pub struct Loaded {
    pub decisions: Decisions,
    /// SHA-256 of the file as loaded.
    sha: Option<[u8; 32]>,
    /// Why the file as it is now was not taken (the previous decisions stay).
    pub error: Option<String>,
}

fn read(path: &Path) -> anyhow::Result<(Decisions, [u8; 32])> {
    use sha2::Digest as _;
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let decisions = pakiti_decisions::file::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok((decisions, sha2::Sha256::digest(text.as_bytes()).into()))
}

impl Book {
    /// Loads `file` (none: no decisions). A file that does not read fails.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Book> {
        let Some(path) = file else {
            return Ok(Book::default());
        };
        let (decisions, sha) = read(path)?;
        Ok(Book {
            file: Some(path.to_path_buf()),
            current: RwLock::new(Arc::new(Loaded {
                decisions,
                sha: Some(sha),
                error: None,
            })),
        })
    }

    pub fn current(&self) -> Arc<Loaded> {
        self.current
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Reads the file again; takes it when it changed and reads. Returns
    /// what happened, for the log (`None`: unchanged).
    pub fn reload(&self) -> Option<Result<usize, String>> {
        let path = self.file.as_ref()?;
        let old = self.current();
        let outcome = match read(path) {
            Ok((_, sha)) if Some(sha) == old.sha => return None,
            Ok((decisions, sha)) => {
                let n = decisions.exceptions.len() + decisions.tags.len();
                self.set(Loaded {
                    decisions,
                    sha: Some(sha),
                    error: None,
                });
                Ok(n)
            }
            Err(e) => {
                let why = format!("{e:#}");
                if old.error.as_deref() == Some(why.as_str()) {
                    return None;
                }
                self.set(Loaded {
                    decisions: old.decisions.clone(),
                    sha: old.sha,
                    error: Some(why.clone()),
                });
                Err(why)
            }
        };
        Some(outcome)
    }

    fn set(&self, l: Loaded) {
        match self.current.write() {
            Ok(mut c) => *c = Arc::new(l),
            Err(p) => *p.into_inner() = Arc::new(l),
        }
    }
}

/// A decision recorded in the web UI, read.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub id: i64,
    pub created_by: String,
    pub created_at: SystemTime,
    pub exception: Option<Exception>,
    pub tag: Option<Tag>,
}

/// The decisions in force: the file's and those recorded in the web UI.
pub struct Effective {
    pub decisions: Decisions,
    pub recorded: Vec<Recorded>,
}

/// The file's decisions and the web UI's, together. Blocking (reads the
/// store); a recorded decision that does not read (it was checked when
/// recorded) is logged and left out.
pub fn effective(store: &dyn Store, book: &Book) -> Result<Effective, StoreError> {
    let mut decisions = book.current().decisions.clone();
    let mut recorded = Vec::new();
    for d in store.decisions()? {
        let body: Value = match serde_json::from_str(&d.body) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(id = d.id, error = %e, "a recorded decision does not read; left out");
                continue;
            }
        };
        let mut r = Recorded {
            id: d.id,
            created_by: d.created_by.clone(),
            created_at: d.created_at,
            exception: None,
            tag: None,
        };
        match d.kind.as_str() {
            "exception" => match pakiti_decisions::file::exception_from_json(&body) {
                Ok(e) => {
                    decisions.exceptions.push(e.clone());
                    r.exception = Some(e);
                }
                Err(e) => {
                    tracing::error!(id = d.id, error = %e, "a recorded exception does not read; left out")
                }
            },
            "tag" => match pakiti_decisions::file::tag_from_json(&body) {
                Ok(t) => {
                    decisions.tags.push(t.clone());
                    r.tag = Some(t);
                }
                Err(e) => {
                    tracing::error!(id = d.id, error = %e, "a recorded tag does not read; left out")
                }
            },
            other => tracing::error!(
                id = d.id,
                kind = other,
                "a recorded decision of an unknown kind; left out"
            ),
        }
        recorded.push(r);
    }
    Ok(Effective {
        decisions,
        recorded,
    })
}

/// What changed between two versions of the decisions file, as audit
/// entries (a changed entry is one removed and one added).
pub fn file_changes(
    old: &Decisions,
    new: &Decisions,
    at: SystemTime,
) -> Vec<pakiti_store::AuditEntry> {
    let entry =
        |action: &str, kind: &str, id: &str, before: Option<Value>, after: Option<Value>| {
            pakiti_store::AuditEntry {
                at,
                who: "decisions file".into(),
                action: action.into(),
                kind: kind.into(),
                vulnerability: id.into(),
                before: before.map(|v| v.to_string()),
                after: after.map(|v| v.to_string()),
            }
        };
    let mut out = Vec::new();
    for e in old
        .exceptions
        .iter()
        .filter(|e| !new.exceptions.contains(e))
    {
        out.push(entry(
            "removed",
            "exception",
            &e.vulnerability,
            Some(pakiti_decisions::file::exception_json(e)),
            None,
        ));
    }
    for e in new
        .exceptions
        .iter()
        .filter(|e| !old.exceptions.contains(e))
    {
        out.push(entry(
            "added",
            "exception",
            &e.vulnerability,
            None,
            Some(pakiti_decisions::file::exception_json(e)),
        ));
    }
    for t in old.tags.iter().filter(|t| !new.tags.contains(t)) {
        out.push(entry(
            "removed",
            "tag",
            &t.vulnerability,
            Some(pakiti_decisions::file::tag_json(t)),
            None,
        ));
    }
    for t in new.tags.iter().filter(|t| !old.tags.contains(t)) {
        out.push(entry(
            "added",
            "tag",
            &t.vulnerability,
            None,
            Some(pakiti_decisions::file::tag_json(t)),
        ));
    }
    out
}

/// Looks at the decisions file every `every`, for ever.
pub async fn watch(book: Arc<Book>, store: Arc<dyn Store>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let before = book.current().decisions.clone();
        match book.reload() {
            None => {}
            Some(Ok(n)) => {
                tracing::info!(entries = n, "decisions file reloaded");
                let changes = file_changes(&before, &book.current().decisions, now());
                let store = store.clone();
                let written =
                    tokio::task::spawn_blocking(move || store.audit_decisions(&changes)).await;
                if !matches!(written, Ok(Ok(()))) {
                    tracing::error!(
                        "the decisions file's changes could not be written to the audit log"
                    );
                }
            }
            Some(Err(e)) => {
                tracing::error!(error = %e, "the decisions file does not read; the previous decisions stay in force")
            }
        }
    }
}

/// What is known and decided of one vulnerability.
#[derive(Debug, Clone, Default)]
pub struct Annotation {
    pub score: Option<Score>,
    pub tags: Vec<Tag>,
    /// Its exceptions in force now.
    pub exceptions: Vec<Exception>,
}

impl Annotation {
    pub fn kev(&self) -> bool {
        self.score.as_ref().is_some_and(|s| s.kev_due.is_some())
    }

    pub fn epss(&self) -> Option<f64> {
        self.score.as_ref().and_then(|s| s.epss)
    }

    pub fn kev_due(&self) -> Option<pakiti_decisions::Date> {
        self.score
            .as_ref()
            .and_then(|s| s.kev_due)
            .map(pakiti_decisions::Date::from_days)
    }

    /// The fields every vulnerability carries in the APIs: `kev`,
    /// `kev_due`, `epss`, `epss_percentile`, `tags`, `exceptions` (those in
    /// force, with their scope) and `exception` (the one covering every
    /// host, if any; a row's own when given one).
    pub fn fill(&self, v: &mut Value, covering: Option<&Exception>) {
        v["kev"] = self.kev().into();
        v["kev_due"] = self.kev_due().map(|d| d.to_string()).into();
        v["kev_ransomware"] = self.score.as_ref().is_some_and(|s| s.ransomware).into();
        v["epss"] = self.epss().into();
        v["epss_percent"] = self.epss().map(|e| format!("{:.1}%", e * 100.0)).into();
        v["epss_percentile"] = self.score.as_ref().and_then(|s| s.percentile).into();
        v["tags"] = self.tags.iter().map(tag_json).collect::<Vec<_>>().into();
        v["exceptions"] = self
            .exceptions
            .iter()
            .map(exception_json)
            .collect::<Vec<_>>()
            .into();
        let whole = self
            .exceptions
            .iter()
            .find(|e| e.scope == pakiti_decisions::Scope::default());
        v["exception"] = covering.or(whole).map(exception_json).into();
    }
}

pub fn tag_json(t: &Tag) -> Value {
    json!({"name": t.name, "reason": t.reason, "author": t.author})
}

pub fn exception_json(e: &Exception) -> Value {
    json!({
        "state": e.state.as_str(),
        "reason": e.reason,
        "owner": e.owner,
        "expires": e.expires.map(|d| d.to_string()),
        "scope": e.scope.describe(),
    })
}

/// The annotations of `ids` at `now`. Blocking (reads the store).
pub fn annotations(
    store: &dyn Store,
    book: &Book,
    ids: &[String],
    now: SystemTime,
) -> Result<HashMap<String, Annotation>, StoreError> {
    let all = effective(store, book)?;
    let loaded = &all;
    let mut out: HashMap<String, Annotation> = HashMap::new();
    for s in store.scores(ids)? {
        let id = s.id.clone();
        out.entry(id).or_default().score = Some(s);
    }
    let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    for t in &loaded.decisions.tags {
        if wanted.contains(t.vulnerability.as_str()) {
            out.entry(t.vulnerability.clone())
                .or_default()
                .tags
                .push(t.clone());
        }
    }
    for e in &loaded.decisions.exceptions {
        if wanted.contains(e.vulnerability.as_str()) && e.active(now) {
            out.entry(e.vulnerability.clone())
                .or_default()
                .exceptions
                .push(e.clone());
        }
    }
    Ok(out)
}

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
    book: &Book,
    hosts: &[HostSummary],
    now: SystemTime,
) -> Result<Excepted, StoreError> {
    let loaded = effective(store, book)?;
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

/// Exceptions in force by state, those ending within 7 days, and whether the
/// file reads, for `/metrics`.
pub fn counts(
    store: &dyn Store,
    book: &Book,
    now: SystemTime,
) -> Result<crate::metrics::ExceptionCounts, StoreError> {
    let file_error = book.current().error.is_some();
    let loaded = effective(store, book)?;
    let week = now + Duration::from_secs(7 * 86_400);
    let count = |soon: bool| {
        pakiti_decisions::State::ALL
            .iter()
            .map(|st| {
                let n = loaded
                    .decisions
                    .exceptions
                    .iter()
                    .filter(|e| e.state == *st && e.active(now))
                    .filter(|e| !soon || e.ends().is_some_and(|end| end <= week))
                    .count() as u64;
                (st.as_str(), n)
            })
            .collect()
    };
    Ok(crate::metrics::ExceptionCounts {
        in_force: count(false),
        expiring: count(true),
        file_ok: book.file.as_ref().map(|_| !file_error),
    })
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
