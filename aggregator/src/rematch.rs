//! Rematching: a host's stored inventory against the loaded feeds, its
//! findings written back with their exposure times. A report rematches its
//! host (after it is stored); a feed import rematches the fleet, one
//! [`Matcher`] for all hosts, so each distinct (release, source package,
//! source version) is compared with its records once.
//!
//! A host no loaded feed covers (another distribution, no inventory, a
//! release without records) has its open findings and counts removed:
//! unknown, never clean.

use std::collections::{BTreeSet, HashMap};
use std::time::{Instant, SystemTime};

use pakiti_store::{MatchingHost, MatchingInput, Store, StoreError};
use pakiti_vulns::{Finding, HostPackages, Index, Matcher};

use crate::releases::{release_of, releases_of, Releases};

/// The source packages (or, in the RPM family, binary packages and their
/// source RPMs) a host's packages are tracked under, each once.
pub(crate) fn tracked(
    scheme: pakiti_versions::Scheme,
    installed: &[pakiti_report::Installed],
) -> Vec<String> {
    installed
        .iter()
        .flat_map(|p| {
            pakiti_vulns::tracked_keys(scheme, p)
                .into_iter()
                .map(|(k, _)| k)
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Matches one host with `matcher`, first adding the records of the
/// source packages it has that the matcher lacks. The release is the
/// caller's (see [`release_of`]), and covered.
pub(crate) fn match_input(
    store: &dyn Store,
    matcher: &mut Matcher,
    releases: &Releases,
    input: &MatchingInput,
) -> Result<Vec<Finding>, StoreError> {
    let installed = input.installed.as_deref().unwrap_or_default();
    let sources = tracked(releases.scheme, installed);
    for release in &releases.chain {
        let missing = matcher.index().missing(release, &sources);
        if !missing.is_empty() {
            let records = store.vulnerability_records(release, &missing)?;
            matcher.index_mut().add(release, &missing, records);
        }
    }
    Ok(matcher.match_host(&HostPackages {
        scheme: releases.scheme,
        releases: &releases.chain,
        installed,
        candidates: &input.candidates,
        running_kernel: input.platform.running_kernel.as_ref(),
    }))
}

/// What one rematch did to one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Findings written (this many).
    Matched(usize),
    /// No loaded feed covers it: findings and counts removed, or none there.
    Unknown,
    /// A newer report came in meanwhile (its own rematch writes), or the
    /// host is gone.
    Skipped,
}

/// One matcher for the reports of a running aggregator: the records of
/// the source packages hosts have, and each distinct version's answer, are
/// kept between reports, and dropped whenever the loaded feeds change (their
/// names and hashes are read per use: one small query).
#[derive(Default)]
pub struct SharedMatcher {
    inner: std::sync::Mutex<Option<(Feeds, Matcher)>>,
}

/// The loaded feeds a matcher was filled from: (name, SHA-256).
type Feeds = Vec<(String, String)>;

impl SharedMatcher {
    /// Runs `f` with the matcher for the feeds loaded now. Blocking.
    fn with<R>(
        &self,
        store: &dyn Store,
        f: impl FnOnce(&mut Matcher) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let feeds: Feeds = store
            .feeds()?
            .into_iter()
            .filter(|f| !crate::feeds::is_score_feed(&f.name))
            .map(|f| (f.name, f.sha256))
            .collect();
        let mut guard = self
            .inner
            .lock()
            .map_err(|_| StoreError::Unavailable("the shared matcher is poisoned".into()))?;
        if guard.as_ref().is_none_or(|(loaded, _)| *loaded != feeds) {
            *guard = Some((feeds, Matcher::new(Index::default())));
        }
        match guard.as_mut() {
            Some((_, matcher)) => f(matcher),
            None => Err(StoreError::Unavailable("no matcher".into())),
        }
    }
}

/// Rematches one host with the shared matcher. Blocking.
pub fn host(
    store: &dyn Store,
    id: i64,
    covered: &dyn Fn(&str) -> Result<bool, StoreError>,
    shared: &SharedMatcher,
) -> Result<Outcome, StoreError> {
    let Some(input) = store.matching_input(id)? else {
        return Ok(Outcome::Skipped);
    };
    let findings = match covered_release(&input, covered)? {
        Some(r) => Some(shared.with(store, |m| match_input(store, m, &r, &input))?),
        None => None,
    };
    write(store, &input, findings, SystemTime::now())
}

/// The releases the host is matched in, when a loaded feed covers it.
fn covered_release(
    input: &MatchingInput,
    covered: &dyn Fn(&str) -> Result<bool, StoreError>,
) -> Result<Option<Releases>, StoreError> {
    match releases_of(&input.summary) {
        Ok(r) if input.installed.is_some() && r.covered(covered)? => Ok(Some(r)),
        _ => Ok(None),
    }
}

/// Writes a host's findings (`None`: not covered).
fn write(
    store: &dyn Store,
    input: &MatchingInput,
    findings: Option<Vec<Finding>>,
    at: SystemTime,
) -> Result<Outcome, StoreError> {
    if let Some(done) = needless(input, findings.as_deref()) {
        return Ok(done);
    }
    let written = store.put_findings(input.summary.id, &input.basis, findings.as_deref(), at)?;
    Ok(outcome(written, findings.as_deref()))
}

/// What a rematch did without writing, when it need not write: a host
/// unknown before and after, or the same findings as the last rematch
/// wrote (nothing to read or write).
fn needless(input: &MatchingInput, findings: Option<&[Finding]>) -> Option<Outcome> {
    let s = &input.summary;
    match findings {
        None if s.vulnerabilities.is_none() => Some(Outcome::Unknown),
        Some(f)
            if s.vulnerabilities.is_some()
                && input.findings_digest.as_deref()
                    == Some(pakiti_store::findings_digest(f).as_slice()) =>
        {
            Some(Outcome::Matched(f.len()))
        }
        _ => None,
    }
}

fn outcome(written: bool, findings: Option<&[Finding]>) -> Outcome {
    match (written, findings) {
        (false, _) => Outcome::Skipped,
        (true, Some(f)) => Outcome::Matched(f.len()),
        (true, None) => Outcome::Unknown,
    }
}

/// What a fleet rematch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetRematch {
    pub hosts: usize,
    pub matched: usize,
    pub unknown: usize,
    pub skipped: usize,
    pub findings: usize,
    /// Distinct (release, source package, source version) compared.
    pub distinct_versions: usize,
    /// From reading the hosts to the last write.
    pub took: std::time::Duration,
}

impl std::fmt::Display for FleetRematch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rematched {} hosts: {} matched ({} findings, {} distinct package versions compared), {} without coverage (unknown), {} changed meanwhile (rematched by their reports), in {:.1} s",
            self.hosts, self.matched, self.findings, self.distinct_versions, self.unknown, self.skipped,
            self.took.as_secs_f64()
        )
    }
}

/// Rematches every host, calling `progress(done, total)` at most every
/// few seconds. The hosts are shared among a few threads (the cores, at
/// most 4), each with its own matcher; the store's writer takes their
/// writes in turn. Blocking.
pub fn fleet(
    store: &dyn Store,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<FleetRematch, StoreError> {
    let started = Instant::now();
    let hosts: Vec<MatchingHost> = store.matching_hosts()?;
    let mut covered_releases: HashMap<String, bool> = HashMap::new();
    for h in &hosts {
        if let Ok(r) = release_of(
            &h.os_id,
            &h.os_version,
            h.codename.as_deref(),
            h.has_inventory,
        ) {
            for release in r.chain {
                if let std::collections::hash_map::Entry::Vacant(e) =
                    covered_releases.entry(release)
                {
                    let c = store.covers_release(e.key())?;
                    e.insert(c);
                }
            }
        }
    }
    let covered = |r: &str| -> Result<bool, StoreError> {
        match covered_releases.get(r) {
            Some(c) => Ok(*c),
            None => store.covers_release(r),
        }
    };
    let at = SystemTime::now();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let results: Vec<Result<FleetRematch, StoreError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (hosts, covered, done, failed) = (&hosts, &covered, &done, &failed);
                scope.spawn(move || {
                    let mine = hosts.iter().skip(w).step_by(workers);
                    let r = worker(store, mine, covered, at, done, failed);
                    if r.is_err() {
                        failed.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    r
                })
            })
            .collect();
        let mut said = Instant::now();
        while handles.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(std::time::Duration::from_millis(50));
            if said.elapsed().as_secs() >= 5 {
                progress(done.load(std::sync::atomic::Ordering::Relaxed), hosts.len());
                said = Instant::now();
            }
        }
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(StoreError::Unavailable("a rematch thread panicked".into()))
                })
            })
            .collect()
    });
    progress(hosts.len(), hosts.len());
    let mut out = FleetRematch {
        hosts: hosts.len(),
        ..FleetRematch::default()
    };
    for r in results {
        let r = r?;
        out.matched += r.matched;
        out.unknown += r.unknown;
        out.skipped += r.skipped;
        out.findings += r.findings;
        // Each worker compares the versions its hosts have; the most any
        // one compared is a floor of the distinct versions in the fleet.
        out.distinct_versions = out.distinct_versions.max(r.distinct_versions);
    }
    out.took = started.elapsed();
    Ok(out)
}

/// One thread of a fleet rematch: its hosts matched with its own matcher,
/// their findings written [`WRITE_BATCH`] hosts at a time; it stops when
/// another thread failed.
fn worker<'a>(
    store: &dyn Store,
    hosts: impl Iterator<Item = &'a MatchingHost>,
    covered: &dyn Fn(&str) -> Result<bool, StoreError>,
    at: SystemTime,
    done: &std::sync::atomic::AtomicUsize,
    failed: &std::sync::atomic::AtomicBool,
) -> Result<FleetRematch, StoreError> {
    let mut out = FleetRematch::default();
    let mut matcher = Matcher::new(Index::default());
    let mut pending = Vec::new();
    for h in hosts {
        if failed.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        pending.extend(rematch_one(store, &mut matcher, h, covered, &mut out)?);
        if pending.len() >= WRITE_BATCH {
            flush(store, &mut pending, at, &mut out)?;
        }
        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    flush(store, &mut pending, at, &mut out)?;
    out.distinct_versions = matcher.distinct_versions();
    Ok(out)
}

/// Hosts whose findings a fleet rematch writes together, in one
/// transaction: the pages every host touches (the index by vulnerability)
/// are written once per batch, not once per host.
const WRITE_BATCH: usize = 128;

/// A host matched whose findings are to be written.
type Pending = (MatchingInput, Option<Vec<Finding>>);

fn count(out: &mut FleetRematch, o: Outcome) {
    match o {
        Outcome::Matched(n) => {
            out.matched += 1;
            out.findings += n;
        }
        Outcome::Unknown => out.unknown += 1,
        Outcome::Skipped => out.skipped += 1,
    }
}

/// Matches one host of the fleet: counted when nothing needs writing, else
/// what to write.
fn rematch_one(
    store: &dyn Store,
    matcher: &mut Matcher,
    h: &MatchingHost,
    covered: &dyn Fn(&str) -> Result<bool, StoreError>,
    out: &mut FleetRematch,
) -> Result<Option<Pending>, StoreError> {
    let candidate = release_of(
        &h.os_id,
        &h.os_version,
        h.codename.as_deref(),
        h.has_inventory,
    )
    .is_ok();
    if !candidate && !h.has_counts {
        out.unknown += 1;
        return Ok(None);
    }
    let Some(input) = store.matching_input(h.id)? else {
        out.skipped += 1;
        return Ok(None);
    };
    let findings = match covered_release(&input, covered)? {
        Some(r) => Some(match_input(store, matcher, &r, &input)?),
        None => None,
    };
    if let Some(done) = needless(&input, findings.as_deref()) {
        count(out, done);
        return Ok(None);
    }
    Ok(Some((input, findings)))
}

/// Writes the pending hosts' findings in one go.
fn flush(
    store: &dyn Store,
    pending: &mut Vec<Pending>,
    at: SystemTime,
    out: &mut FleetRematch,
) -> Result<(), StoreError> {
    if pending.is_empty() {
        return Ok(());
    }
    let writes: Vec<pakiti_store::FindingsWrite<'_>> = pending
        .iter()
        .map(|(input, findings)| pakiti_store::FindingsWrite {
            id: input.summary.id,
            basis: &input.basis,
            findings: findings.as_deref(),
        })
        .collect();
    let written = store.put_findings_many(&writes, at)?;
    for ((_, findings), w) in pending.iter().zip(written) {
        count(out, outcome(w, findings.as_deref()));
    }
    pending.clear();
    Ok(())
}
