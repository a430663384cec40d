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

/// The release whose records a host is matched against, or why there is
/// none. Feeds read today: Debian's (hosts whose os-release id is `debian`,
/// matched by `VERSION_CODENAME`).
pub(crate) fn release_of<'a>(
    os_id: &str,
    codename: Option<&'a str>,
    has_inventory: bool,
) -> Result<&'a str, String> {
    if !has_inventory {
        return Err(
            "the host sends no installed inventory (an exporter older than the inventory)".into(),
        );
    }
    if os_id != "debian" {
        return Err(format!(
            "no feed read by this aggregator covers {os_id:?} hosts yet (Debian's is the one read today)"
        ));
    }
    codename.ok_or_else(|| "the host's os-release has no VERSION_CODENAME".to_string())
}

/// Why a covered-looking host is not covered after all.
pub(crate) fn not_loaded(release: &str) -> String {
    format!(
        "no loaded feed has records for release {release:?}: import one with pakiti-aggregator feeds import"
    )
}

/// Matches one host with `matcher`, first adding the records of the
/// source packages it has that the matcher lacks. The release is the
/// caller's (see [`release_of`]), and covered.
pub(crate) fn match_input(
    store: &dyn Store,
    matcher: &mut Matcher,
    release: &str,
    input: &MatchingInput,
) -> Result<Vec<Finding>, StoreError> {
    let installed = input.installed.as_deref().unwrap_or_default();
    let sources: Vec<String> = installed
        .iter()
        .map(|p| pakiti_vulns::tracked_as(p).0.to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let missing = matcher.index().missing(release, &sources);
    if !missing.is_empty() {
        let records = store.vulnerability_records(release, &missing)?;
        matcher.index_mut().add(release, &missing, records);
    }
    Ok(matcher.match_host(&HostPackages {
        scheme: pakiti_versions::Scheme::Dpkg,
        release,
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

/// Rematches one host, with a matcher of its own. Blocking.
pub fn host(
    store: &dyn Store,
    id: i64,
    covered: &dyn Fn(&str) -> Result<bool, StoreError>,
) -> Result<Outcome, StoreError> {
    let Some(input) = store.matching_input(id)? else {
        return Ok(Outcome::Skipped);
    };
    let mut matcher = Matcher::new(Index::default());
    one(store, &mut matcher, &input, covered, SystemTime::now())
}

fn one(
    store: &dyn Store,
    matcher: &mut Matcher,
    input: &MatchingInput,
    covered: &dyn Fn(&str) -> Result<bool, StoreError>,
    at: SystemTime,
) -> Result<Outcome, StoreError> {
    let s = &input.summary;
    let release = release_of(&s.os_id, s.os_codename.as_deref(), s.has_inventory)
        .ok()
        .filter(|_| input.installed.is_some());
    let findings = match release {
        Some(r) if covered(r)? => Some(match_input(store, matcher, r, input)?),
        _ => None,
    };
    if findings.is_none() && s.vulnerabilities.is_none() {
        return Ok(Outcome::Unknown);
    }
    let written = store.put_findings(s.id, &input.basis, findings.as_deref(), at)?;
    Ok(match (written, findings) {
        (false, _) => Outcome::Skipped,
        (true, Some(f)) => Outcome::Matched(f.len()),
        (true, None) => Outcome::Unknown,
    })
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
}

impl std::fmt::Display for FleetRematch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rematched {} hosts: {} matched ({} findings, {} distinct package versions compared), {} without coverage (unknown), {} changed meanwhile (rematched by their reports)",
            self.hosts, self.matched, self.findings, self.distinct_versions, self.unknown, self.skipped
        )
    }
}

/// Rematches every host, calling `progress(done, total)` at most every
/// few seconds. Blocking.
pub fn fleet(
    store: &dyn Store,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<FleetRematch, StoreError> {
    let hosts: Vec<MatchingHost> = store.matching_hosts()?;
    let mut covered_releases: HashMap<String, bool> = HashMap::new();
    for h in &hosts {
        if let Ok(r) = release_of(&h.os_id, h.codename.as_deref(), h.has_inventory) {
            if !covered_releases.contains_key(r) {
                covered_releases.insert(r.to_string(), store.covers_release(r)?);
            }
        }
    }
    let covered = |r: &str| -> Result<bool, StoreError> {
        match covered_releases.get(r) {
            Some(c) => Ok(*c),
            None => store.covers_release(r),
        }
    };
    let mut out = FleetRematch {
        hosts: hosts.len(),
        ..FleetRematch::default()
    };
    let mut matcher = Matcher::new(Index::default());
    let at = SystemTime::now();
    let mut said = Instant::now();
    for (n, h) in hosts.iter().enumerate() {
        if said.elapsed().as_secs() >= 5 {
            progress(n, hosts.len());
            said = Instant::now();
        }
        let candidate = release_of(&h.os_id, h.codename.as_deref(), h.has_inventory).is_ok();
        if !candidate && !h.has_counts {
            out.unknown += 1;
            continue;
        }
        let Some(input) = store.matching_input(h.id)? else {
            out.skipped += 1;
            continue;
        };
        match one(store, &mut matcher, &input, &covered, at)? {
            Outcome::Matched(n) => {
                out.matched += 1;
                out.findings += n;
            }
            Outcome::Unknown => out.unknown += 1,
            Outcome::Skipped => out.skipped += 1,
        }
    }
    progress(hosts.len(), hosts.len());
    out.distinct_versions = matcher.distinct_versions();
    Ok(out)
}
