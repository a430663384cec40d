//! Finding kinds in SQLite: what a finding says apart from its host, stored
//! once (migration 0018) and known to the writer thread by id.

use pakiti_vulns::Finding;
use rusqlite::{params, OptionalExtension, Transaction};
use std::cell::RefCell;

use crate::findings::kernel_column;

/// The writer's kind ids: `committed` are in the database; `staged` were
/// found or added by the open transaction and are kept only if it commits
/// (`job` lists those of the current job, for its savepoint).
#[derive(Default)]
struct Kinds {
    committed: foldhash::HashMap<String, i64>,
    staged: foldhash::HashMap<String, i64>,
    job: Vec<String>,
}

/// Kinds a fleet holds are few (a package version's vulnerabilities); past
/// this many the cache starts again rather than grow without bound.
const MOST: usize = 1_000_000;

thread_local! {
    /// The writer thread's (each store has its own writer thread).
    static KINDS: RefCell<Kinds> = RefCell::new(Kinds::default());
}

pub(crate) fn job_done(kept: bool) {
    KINDS.with_borrow_mut(|k| {
        if !kept {
            for key in &k.job {
                k.staged.remove(key);
            }
        }
        k.job.clear();
    });
}

pub(crate) fn batch_done(committed: bool) {
    KINDS.with_borrow_mut(|k| {
        let staged = std::mem::take(&mut k.staged);
        if committed {
            if k.committed.len() + staged.len() > MOST {
                k.committed.clear();
            }
            k.committed.extend(staged);
        }
        k.job.clear();
    });
}

/// Forgets every id (kinds were deleted).
pub(crate) fn forget() {
    KINDS.with_borrow_mut(|k| {
        k.committed.clear();
        k.staged.clear();
        k.job.clear();
    });
}

/// The columns of a kind, in the order `key` and the statements use.
struct Columns<'a> {
    status: &'static str,
    fixed: Option<&'a str>,
    kernel: Option<&'static str>,
}

fn columns(f: &Finding) -> Columns<'_> {
    let (status, fixed) = crate::vulns::status_columns(&f.status);
    Columns {
        status,
        fixed,
        kernel: kernel_column(f.kernel),
    }
}

/// A finding's kind as one string: every field, each length-prefixed (`-`
/// for none), so two kinds are equal exactly when their strings are. Made
/// by the rematch's threads, so the writer only looks it up.
pub(crate) fn key_of(f: &Finding) -> String {
    key(f, &columns(f))
}

fn key(f: &Finding, c: &Columns<'_>) -> String {
    let mut k = String::with_capacity(128);
    let texts: [Option<&str>; 11] = [
        Some(&f.id),
        Some(&f.package),
        Some(&f.arch),
        Some(&f.installed_version),
        Some(&f.source_package),
        Some(&f.source_version),
        Some(c.status),
        c.fixed,
        Some(f.severity.as_str()),
        f.vendor_severity.as_deref(),
        c.kernel,
    ];
    for t in texts {
        match t {
            Some(t) => {
                k.push_str(&t.len().to_string());
                k.push(':');
                k.push_str(t);
            }
            None => k.push('-'),
        }
    }
    k
}

/// The id of `f`'s kind, added when new. Writer thread only.
/// `k` is [`key_of`] `f`.
pub(crate) fn intern(tx: &Transaction, f: &Finding, k: &str) -> rusqlite::Result<i64> {
    let known = KINDS.with_borrow(|kinds| {
        kinds
            .committed
            .get(k)
            .or_else(|| kinds.staged.get(k))
            .copied()
    });
    if let Some(kid) = known {
        return Ok(kid);
    }
    let c = columns(f);
    let values = params![
        f.id,
        f.package,
        f.arch,
        f.installed_version,
        f.source_package,
        f.source_version,
        c.status,
        c.fixed,
        f.severity.as_str(),
        f.vendor_severity,
        c.kernel
    ];
    let found: Option<i64> = tx
        .prepare_cached(
            "SELECT kid FROM vuln_finding_kinds WHERE id = ?1 AND package = ?2 AND arch = ?3 \
             AND installed_version = ?4 AND source_package = ?5 AND source_version = ?6 AND status = ?7 \
             AND fixed_version IS ?8 AND severity = ?9 AND vendor_severity IS ?10 AND kernel IS ?11",
        )?
        .query_row(values, |r| r.get(0))
        .optional()?;
    let kid = match found {
        Some(kid) => kid,
        None => {
            tx.prepare_cached(
                "INSERT INTO vuln_finding_kinds (id, package, arch, installed_version, source_package, source_version, \
                 status, fixed_version, severity, vendor_severity, kernel) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(values)?;
            tx.last_insert_rowid()
        }
    };
    KINDS.with_borrow_mut(|kinds| {
        kinds.staged.insert(k.to_string(), kid);
        kinds.job.push(k.to_string());
    });
    Ok(kid)
}

/// Removes the kinds no finding refers to (after history was pruned).
pub(crate) fn prune(tx: &Transaction) -> rusqlite::Result<usize> {
    let n = tx
        .prepare_cached(
            "DELETE FROM vuln_finding_kinds WHERE kid NOT IN (SELECT kind FROM vuln_findings)",
        )?
        .execute([])?;
    if n > 0 {
        forget();
    }
    Ok(n)
}
