//! What operators decided, applied (the rules are `pakiti-decisions`'):
//! the decisions file (`[decisions] file`) kept loaded and reloaded when it
//! changes (a file that does not read keeps the previous decisions and is
//! logged, naming the entry; at start it stops the aggregator), the
//! decisions recorded in the web UI joined to the file's (`effective`), the
//! priorities others publish (KEV, EPSS, from the store) and tags beside each
//! vulnerability. Which open findings the exceptions cover (they stay listed,
//! marked, and leave the open counts): `excepted.rs`.
//!
//! Time: [`now`]. Debug builds read it from the file named by
//! `PAKITI_AGGREGATOR_TEST_CLOCK` when set (an RFC 3339 time), so a test can
//! let an exception expire; release builds always use the system clock.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use pakiti_decisions::{Decisions, Exception, Tag};
use pakiti_store::{Score, Store, StoreError};
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

/// The annotations of `ids` at `now`, under the decisions `loaded` (one
/// [`effective`] read per request). Blocking (reads the store's scores).
pub fn annotations(
    store: &dyn Store,
    loaded: &Effective,
    ids: &[String],
    now: SystemTime,
) -> Result<HashMap<String, Annotation>, StoreError> {
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
