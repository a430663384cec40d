//! Rematching: a host's stored inventory against the loaded feeds, its
//! findings written back with their exposure times. A report rematches its
//! host (after it is stored); a feed import rematches the fleet, one
//! [`Matcher`] for all hosts, so each distinct (release, source package,
//! source version) is compared with its records once.
//!
//! A host no loaded feed covers (another distribution, no inventory, a
//! release without records) has its open findings and counts removed:
//! unknown, never clean.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Instant, SystemTime};

use pakiti_store::{MatchingHost, MatchingInput, Store, StoreError};
use pakiti_vulns::{Finding, HostPackages, Index, Matcher};

/// The releases whose records a host is matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Releases {
    /// The host's own release, as the API shows it (Debian: the codename;
    /// Ubuntu: `ubuntu:22.04`; `alpine:3.20`, `almalinux:9`, `rocky:9`).
    pub release: String,
    /// Every release whose records apply, in lookup order (see
    /// [`pakiti_vulns::HostPackages::releases`]); the host is covered when
    /// a loaded feed has records of one of them.
    pub chain: Vec<String>,
    /// Ubuntu Pro's release, whose fixes need ESM sources.
    pub pro: Option<String>,
    /// The distribution's version order.
    pub scheme: pakiti_versions::Scheme,
}

impl Releases {
    fn new(release: String, scheme: pakiti_versions::Scheme) -> Releases {
        Releases {
            chain: vec![release.clone()],
            release,
            pro: None,
            scheme,
        }
    }

    /// Whether a loaded feed has records of one of the releases.
    pub fn covered(
        &self,
        covers: &dyn Fn(&str) -> Result<bool, StoreError>,
    ) -> Result<bool, StoreError> {
        for r in &self.chain {
            if covers(r)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// `major` of a VERSION_ID `major[.minor…]`, when it is a number.
fn major(version: &str) -> Option<&str> {
    let m = version.split('.').next()?;
    (!m.is_empty() && m.bytes().all(|b| b.is_ascii_digit())).then_some(m)
}

/// `major.minor` of a VERSION_ID `major.minor[.patch…]`.
fn major_minor(version: &str) -> Option<String> {
    let mut parts = version.split('.');
    let (a, b) = (parts.next()?, parts.next()?);
    let b: String = b.chars().take_while(|c| c.is_ascii_digit()).collect();
    (major(a).is_some() && !b.is_empty()).then(|| format!("{a}.{b}"))
}

/// The releases whose records a host is matched against, or why there are
/// none, by its os-release `ID`, `VERSION_ID` and `VERSION_CODENAME`:
///
/// | `ID` | releases, in lookup order | version order |
/// | --- | --- | --- |
/// | `debian` | the codename (Debian's tracker), `debian:12` (OSV's DSA/DLA) | dpkg |
/// | `ubuntu` | `ubuntu-pro:22.04` (Ubuntu Pro's fixes), `ubuntu:22.04` | dpkg |
/// | `alpine` | `alpine:3.20` | apk |
/// | `rhel` | `rhel:9` (Red Hat's CSAF VEX) | rpm |
/// | `rhel-eus` (by `[feeds.releases]`; also `-aus`, `-e4s`, `-tus`) | `rhel-eus:9.2`, then `rhel:9` | rpm |
/// | `almalinux` | `almalinux:9` (its own fixes), then `rhel:9` (what RHEL leaves unfixed or will not fix) | rpm |
/// | `rocky` | `rocky:9`, then `rhel:9` | rpm |
/// | `arch` | `arch` (one rolling release) | pacman |
fn own_release(
    os_id: &str,
    version: &str,
    codename: Option<&str>,
    has_inventory: bool,
) -> Result<Releases, String> {
    use pakiti_versions::Scheme;
    if !has_inventory {
        return Err(
            "the host sends no installed inventory (an exporter older than the inventory)".into(),
        );
    }
    let numbered = |what: &str| {
        format!("the host's os-release has no numbered VERSION_ID ({version:?}) to name its {what} release")
    };
    match os_id {
        "debian" => {
            let osv = major(version).map(|m| format!("debian:{m}"));
            let chain: Vec<String> = codename.map(str::to_string).into_iter().chain(osv).collect();
            match chain.first() {
                Some(first) => Ok(Releases {
                    release: first.clone(),
                    chain,
                    pro: None,
                    scheme: Scheme::Dpkg,
                }),
                None => Err("the host's os-release has neither VERSION_CODENAME nor VERSION_ID".into()),
            }
        }
        "ubuntu" if !version.is_empty() => {
            let pro = format!("ubuntu-pro:{version}");
            let own = format!("ubuntu:{version}");
            Ok(Releases {
                release: own.clone(),
                chain: vec![pro.clone(), own],
                pro: Some(pro),
                scheme: Scheme::Dpkg,
            })
        }
        "ubuntu" => Err("the host's os-release has no VERSION_ID".into()),
        "alpine" => major_minor(version)
            .map(|v| Releases::new(format!("alpine:{v}"), Scheme::Apk))
            .ok_or_else(|| numbered("Alpine")),
        "arch" => Ok(Releases::new(
            pakiti_vulns::arch::RELEASE.to_string(),
            Scheme::Alpm,
        )),
        "rhel" => major(version)
            .map(|m| Releases::new(format!("rhel:{m}"), Scheme::Rpm))
            .ok_or_else(|| numbered("RHEL")),
        // An extended stream (EUS, AUS, E4S, TUS) of a minor release, as
        // `[feeds.releases]` names it: its own fixes first, then the main
        // stream's statuses.
        "rhel-eus" | "rhel-aus" | "rhel-e4s" | "rhel-tus" => major_minor(version)
            .map(|v| {
                let mut r = Releases::new(format!("{os_id}:{v}"), Scheme::Rpm);
                r.chain.push(format!("rhel:{}", v.split('.').next().unwrap_or(&v)));
                r
            })
            .ok_or_else(|| numbered("RHEL extended stream's")),
        // A rebuild's own fix decides where it has one (its release suffix
        // is its own); otherwise what RHEL says of the CVE: unfixed, won't
        // fix, or RHEL's fix, which the rebuild ships under its own suffix.
        "almalinux" | "rocky" => major(version)
            .map(|m| {
                let mut r = Releases::new(format!("{os_id}:{m}"), Scheme::Rpm);
                r.chain.push(format!("rhel:{m}"));
                r
            })
            .ok_or_else(|| numbered(os_id)),
        other => Err(format!(
            "no feed read by this aggregator covers {other:?} hosts yet (Debian, Ubuntu, Alpine, RHEL, AlmaLinux, Rocky Linux and Arch Linux are read today)"
        )),
    }
}

/// `[feeds.releases]`: hosts matched as another distribution's release (a
/// derivative, a release whose os-release the feeds do not name), by their
/// os-release `ID:VERSION_ID` or `ID:VERSION_CODENAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseMap(BTreeMap<String, (String, String)>);

/// The distributions a host may be matched as.
const READ: [&str; 11] = [
    "debian",
    "ubuntu",
    "alpine",
    "rhel",
    "rhel-eus",
    "rhel-aus",
    "rhel-e4s",
    "rhel-tus",
    "almalinux",
    "rocky",
    "arch",
];

/// Debian's codenames by major version, for a host matched as Debian by its
/// version alone (the tracker names releases by codename).
const DEBIAN: [(&str, &str); 6] = [
    ("9", "stretch"),
    ("10", "buster"),
    ("11", "bullseye"),
    ("12", "bookworm"),
    ("13", "trixie"),
    ("14", "forky"),
];

impl ReleaseMap {
    /// Checks the configured entries; an error names the entry.
    pub fn parse(entries: &BTreeMap<String, String>) -> anyhow::Result<ReleaseMap> {
        let mut out = BTreeMap::new();
        for (from, to) in entries {
            let pair = |s: &str| {
                s.split_once(':')
                    .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            };
            if pair(from).is_none() {
                anyhow::bail!("feeds.releases {from:?}: the host's release must be ID:VERSION_ID (or ID:VERSION_CODENAME) as its os-release says, e.g. \"linuxmint:21.3\"");
            }
            let Some((id, version)) = pair(to) else {
                anyhow::bail!("feeds.releases {from:?} = {to:?}: the release to match it as must be ID:VERSION_ID, e.g. \"ubuntu:22.04\"");
            };
            if !READ.contains(&id.as_str()) {
                anyhow::bail!(
                    "feeds.releases {from:?} = {to:?}: {id:?} is not a distribution the feeds cover ({})",
                    READ.join(", ")
                );
            }
            out.insert(from.clone(), (id, version));
        }
        Ok(ReleaseMap(out))
    }
}

static RELEASE_MAP: std::sync::OnceLock<ReleaseMap> = std::sync::OnceLock::new();

/// Sets `[feeds.releases]` for this process, once, at its start.
pub fn set_release_map(map: ReleaseMap) {
    let _ = RELEASE_MAP.set(map);
}

/// The releases whose records a host is matched against, or why there are
/// none: its own ([`own_release`]), or what `[feeds.releases]` says.
pub(crate) fn release_of(
    os_id: &str,
    version: &str,
    codename: Option<&str>,
    has_inventory: bool,
) -> Result<Releases, String> {
    release_with(RELEASE_MAP.get(), os_id, version, codename, has_inventory)
}

fn release_with(
    map: Option<&ReleaseMap>,
    os_id: &str,
    version: &str,
    codename: Option<&str>,
    has_inventory: bool,
) -> Result<Releases, String> {
    // A rolling release (no VERSION_ID, as Arch and its derivatives) is
    // named `ID:rolling`.
    let version_key = if version.is_empty() {
        "rolling"
    } else {
        version
    };
    let mapped = map.and_then(|m| {
        m.0.get(&format!("{os_id}:{version_key}"))
            .or_else(|| codename.and_then(|c| m.0.get(&format!("{os_id}:{c}"))))
    });
    match mapped {
        Some((id, v)) => {
            let codename = (id == "debian")
                .then(|| DEBIAN.iter().find(|(n, _)| n == v).map(|(_, c)| *c))
                .flatten();
            own_release(id, v, codename, has_inventory)
        }
        None => own_release(os_id, version, codename, has_inventory),
    }
}

/// The host's releases, as stored.
pub(crate) fn releases_of(s: &pakiti_store::HostSummary) -> Result<Releases, String> {
    release_of(
        &s.os_id,
        &s.os_version,
        s.os_codename.as_deref(),
        s.has_inventory,
    )
}

/// Why a covered-looking host is not covered after all.
pub(crate) fn not_loaded(releases: &Releases) -> String {
    format!(
        "no loaded feed has records for release {}: import one with pakiti-aggregator feeds import",
        releases
            .chain
            .iter()
            .map(|r| format!("{r:?}"))
            .collect::<Vec<_>>()
            .join(" or ")
    )
}

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
/// few seconds. The hosts are shared among a few threads (the cores, at
/// most 4), each with its own matcher; the store's writer takes their
/// writes in turn. Blocking.
pub fn fleet(
    store: &dyn Store,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<FleetRematch, StoreError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use pakiti_versions::Scheme;

    fn chain(r: Result<Releases, String>) -> (Vec<String>, Scheme) {
        let r = r.unwrap();
        (r.chain, r.scheme)
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn each_distribution_is_matched_in_its_releases_in_order() {
        assert_eq!(
            chain(own_release("debian", "12", Some("bookworm"), true)),
            (s(&["bookworm", "debian:12"]), Scheme::Dpkg)
        );
        assert_eq!(
            chain(own_release("debian", "", Some("trixie"), true)),
            (s(&["trixie"]), Scheme::Dpkg)
        );
        assert_eq!(
            chain(own_release("ubuntu", "22.04", Some("jammy"), true)),
            (s(&["ubuntu-pro:22.04", "ubuntu:22.04"]), Scheme::Dpkg)
        );
        assert_eq!(
            chain(own_release("alpine", "3.20.3", None, true)),
            (s(&["alpine:3.20"]), Scheme::Apk)
        );
        assert_eq!(
            chain(own_release("alpine", "3.21.0_alpha20250108", None, true)),
            (s(&["alpine:3.21"]), Scheme::Apk)
        );
        assert_eq!(
            chain(own_release("almalinux", "9.4", None, true)),
            (s(&["almalinux:9", "rhel:9"]), Scheme::Rpm)
        );
        assert_eq!(
            chain(own_release("rocky", "8.10", None, true)),
            (s(&["rocky:8", "rhel:8"]), Scheme::Rpm)
        );
        assert_eq!(
            chain(own_release("rhel", "9.4", None, true)),
            (s(&["rhel:9"]), Scheme::Rpm)
        );
        for (id, version) in [
            ("alpine", "edge"),
            ("rocky", ""),
            ("rhel", "nine"),
            ("ubuntu", ""),
            ("fedora", "40"),
        ] {
            assert!(
                own_release(id, version, None, true).is_err(),
                "{id} {version}"
            );
        }
        assert!(own_release("debian", "12", Some("bookworm"), false).is_err());
    }

    #[test]
    fn configured_releases_match_a_host_as_another() {
        let map = ReleaseMap::parse(&BTreeMap::from([
            ("linuxmint:21.3".to_string(), "ubuntu:22.04".to_string()),
            ("raspbian:12".to_string(), "debian:12".to_string()),
            ("debian:sid".to_string(), "debian:14".to_string()),
            ("manjaro:rolling".to_string(), "arch:rolling".to_string()),
        ]))
        .unwrap();
        let with =
            |id, version, codename| chain(release_with(Some(&map), id, version, codename, true));
        assert_eq!(
            with("linuxmint", "21.3", Some("virginia")),
            (s(&["ubuntu-pro:22.04", "ubuntu:22.04"]), Scheme::Dpkg)
        );
        // Debian by version: its codename from Debian's table.
        assert_eq!(
            with("raspbian", "12", Some("bookworm")),
            (s(&["bookworm", "debian:12"]), Scheme::Dpkg)
        );
        // By codename where the host has no version.
        assert_eq!(
            with("debian", "", Some("sid")),
            (s(&["forky", "debian:14"]), Scheme::Dpkg)
        );
        // A RHEL host on the 9.2 EUS stream.
        let eus = ReleaseMap::parse(&BTreeMap::from([(
            "rhel:9.2".to_string(),
            "rhel-eus:9.2".to_string(),
        )]))
        .unwrap();
        assert_eq!(
            chain(release_with(Some(&eus), "rhel", "9.2", None, true)),
            (s(&["rhel-eus:9.2", "rhel:9"]), Scheme::Rpm)
        );
        assert_eq!(
            chain(release_with(Some(&eus), "rhel", "9.4", None, true)),
            (s(&["rhel:9"]), Scheme::Rpm)
        );
        // A rolling derivative, which has no VERSION_ID.
        assert_eq!(with("manjaro", "", None), (s(&["arch"]), Scheme::Alpm));
        assert_eq!(with("arch", "", None), (s(&["arch"]), Scheme::Alpm));
        // Not listed: its own.
        assert_eq!(
            with("debian", "12", Some("bookworm")),
            (s(&["bookworm", "debian:12"]), Scheme::Dpkg)
        );
        for bad in [
            ("linuxmint", "ubuntu:22.04"),
            ("linuxmint:21.3", "ubuntu"),
            (":21.3", "ubuntu:22.04"),
            ("linuxmint:21.3", "fedora:40"),
        ] {
            let e = ReleaseMap::parse(&BTreeMap::from([(bad.0.to_string(), bad.1.to_string())]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("{:?}", bad.0)), "{e}");
        }
    }
}
