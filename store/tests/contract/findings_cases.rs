//! Vulnerability findings: exposure times across rematches, the host's
//! counts, the fleet's list, and rematches that lost a race to a report.

use super::inventory_cases::with_inventory;
use super::*;
use pakiti_store::{FindingsWrite, VulnCounts};
use pakiti_vulns::{Finding, KernelRole, Status};

const A: &str = "000000000000000000000000000000f1";
const B: &str = "000000000000000000000000000000f2";

fn finding(id: &str, package: &str, severity: Severity, fix: bool) -> Finding {
    Finding {
        id: id.into(),
        package: package.into(),
        arch: "amd64".into(),
        installed_version: "1.0-1".into(),
        source_package: format!("{package}-src"),
        source_version: "1.0-1".into(),
        status: Status::Fixed("1.0-2".into()),
        fixed_version: Some("1.0-2".into()),
        fix_available: fix,
        severity,
        vendor_severity: Some("high".into()),
        advisory: None,
        kernel: KernelRole::NotKernel,
    }
}

fn open(s: &dyn Store, id: i64) -> Vec<String> {
    s.host_findings(id)
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} first={:?} resolved={:?} fix={}",
                f.finding.id,
                f.finding.package,
                f.first_seen.duration_since(t(0)).unwrap().as_secs(),
                f.resolved_at
                    .map(|r| r.duration_since(t(0)).unwrap().as_secs()),
                f.finding.fix_available
            )
        })
        .collect()
}

pub fn findings_keep_their_exposure_times(s: &dyn Store) {
    let a = with_inventory("a", A, &[("openssl", "1.0-1"), ("curl", "1.0-1")]);
    let b = with_inventory("b", B, &[("openssl", "1.0-1")]);
    s.ingest(&a, Source::Push, t(10)).unwrap();
    s.ingest(&b, Source::Push, t(10)).unwrap();
    let ia = s.host_id(&a).unwrap().expect("host a");
    let ib = s.host_id(&b).unwrap().expect("host b");
    assert_ne!(ia, ib);
    let input = s.matching_input(ia).unwrap().unwrap();
    assert_eq!(input.summary.hostname, "a");
    assert_eq!(input.installed.as_ref().map(Vec::len), Some(2));
    assert_eq!(
        input.summary.vulnerabilities, None,
        "never matched: unknown"
    );
    let basis = input.basis.clone();
    let basis_b = s.matching_input(ib).unwrap().unwrap().basis;

    let ssl = finding("CVE-2024-0001", "openssl", Severity::Important, false);
    let mut curl = finding("CVE-2024-0002", "curl", Severity::Low, false);
    let mut kernel = finding(
        "CVE-2024-0003",
        "linux-image-6.1.0-17-amd64",
        Severity::Critical,
        false,
    );
    kernel.kernel = KernelRole::NotRunning;
    let first = [ssl.clone(), curl.clone(), kernel.clone()];
    assert!(s.put_findings(ia, &basis, Some(&first), t(100)).unwrap());
    assert!(s
        .put_findings(ib, &basis_b, Some(std::slice::from_ref(&ssl)), t(150))
        .unwrap());
    assert_eq!(
        open(s, ia),
        [
            "CVE-2024-0001 openssl first=100 resolved=None fix=false",
            "CVE-2024-0002 curl first=100 resolved=None fix=false",
            "CVE-2024-0003 linux-image-6.1.0-17-amd64 first=100 resolved=None fix=false",
        ]
    );
    // The digest of what was written, for the next rematch to compare.
    assert_eq!(
        s.matching_input(ia).unwrap().unwrap().findings_digest,
        Some(pakiti_store::findings_digest(&first))
    );
    let stored = s.host_findings(ia).unwrap();
    assert_eq!(stored[2].finding, kernel, "every field survives");
    // The kernel that does not run is not counted.
    let counts = s.host("a", None).unwrap().unwrap().summary.vulnerabilities;
    assert_eq!(
        counts,
        Some(VulnCounts {
            fixable: [0, 0, 0, 0, 0],
            unfixable: [0, 1, 0, 1, 0],
        })
    );
    let fleet = s.fleet_vulnerabilities().unwrap();
    let rows: Vec<String> = fleet
        .iter()
        .map(|v| {
            format!(
                "{} {} hosts={} fixable={} {:?}",
                v.id,
                v.severity.as_str(),
                v.hosts,
                v.fixable_hosts,
                v.source_packages
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            "CVE-2024-0001 important hosts=2 fixable=0 [\"openssl-src\"]",
            "CVE-2024-0002 low hosts=1 fixable=0 [\"curl-src\"]",
        ]
    );
    assert_eq!(fleet[0].first_seen, t(100), "the earliest still exposed");

    // A rematch: openssl's fix is now installable, curl's finding is gone,
    // a new one opens. openssl keeps its first-seen time.
    curl.fix_available = true;
    let xz = finding("CVE-2024-0004", "curl", Severity::Moderate, true);
    let mut ssl2 = ssl.clone();
    ssl2.fix_available = true;
    assert!(s
        .put_findings(
            ia,
            &basis,
            Some(&[ssl2.clone(), xz.clone(), kernel.clone()]),
            t(200)
        )
        .unwrap());
    assert_eq!(
        open(s, ia),
        [
            "CVE-2024-0001 openssl first=100 resolved=None fix=true",
            "CVE-2024-0002 curl first=100 resolved=Some(200) fix=false",
            "CVE-2024-0003 linux-image-6.1.0-17-amd64 first=100 resolved=None fix=false",
            "CVE-2024-0004 curl first=200 resolved=None fix=true",
        ]
    );
    // Exposed again: a new exposure, first seen now.
    assert!(s
        .put_findings(
            ia,
            &basis,
            Some(&[ssl2.clone(), xz.clone(), curl.clone()]),
            t(300)
        )
        .unwrap());
    assert_eq!(
        open(s, ia),
        [
            "CVE-2024-0001 openssl first=100 resolved=None fix=true",
            "CVE-2024-0002 curl first=300 resolved=None fix=true",
            "CVE-2024-0003 linux-image-6.1.0-17-amd64 first=100 resolved=Some(300) fix=false",
            "CVE-2024-0004 curl first=200 resolved=None fix=true",
        ]
    );
    let page = s.exposed_hosts("CVE-2024-0001", None, 10).unwrap();
    let exposed: Vec<String> = page
        .rows
        .iter()
        .map(|e| {
            format!(
                "{} {:?} fix={}",
                e.hostname, e.site, e.finding.finding.fix_available
            )
        })
        .collect();
    assert_eq!(
        exposed,
        ["a Some(\"SiteA\") fix=true", "b Some(\"SiteA\") fix=false"]
    );
    assert_eq!((page.findings, page.hosts), (2, 2));
    // A page at a time, resuming after the last row's key.
    let first = s.exposed_hosts("CVE-2024-0001", None, 1).unwrap();
    assert_eq!(first.rows.len(), 1);
    assert_eq!(first.hosts, 2, "counts cover every page");
    let next = s
        .exposed_hosts("CVE-2024-0001", Some(&first.rows[0].key()), 1)
        .unwrap();
    assert_eq!(next.rows[0].hostname, "b");
    let last = s
        .exposed_hosts("CVE-2024-0001", Some(&next.rows[0].key()), 1)
        .unwrap();
    assert!(last.rows.is_empty());
    let resolved: Vec<String> = s
        .resolved_hosts("CVE-2024-0003", 10)
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e.hostname, e.finding.finding.package))
        .collect();
    assert_eq!(resolved, ["a linux-image-6.1.0-17-amd64"]);
    assert!(s
        .exposed_hosts("CVE-2024-0003", None, 10)
        .unwrap()
        .rows
        .is_empty());
    let fleet = s.fleet_vulnerabilities().unwrap();
    assert_eq!((fleet[0].hosts, fleet[0].fixable_hosts), (2, 1));

    // No feed covers it any more: unknown, not resolved, no counts.
    assert!(s.put_findings(ia, &basis, None, t(400)).unwrap());
    assert_eq!(
        open(s, ia),
        ["CVE-2024-0003 linux-image-6.1.0-17-amd64 first=100 resolved=Some(300) fix=false"]
    );
    assert_eq!(
        s.host("a", None).unwrap().unwrap().summary.vulnerabilities,
        None
    );
    assert_eq!(s.matching_input(ia).unwrap().unwrap().findings_digest, None);
    let hosts = s.matching_hosts().unwrap();
    let a_row = hosts.iter().find(|h| h.id == ia).unwrap();
    assert!(a_row.has_inventory && !a_row.has_counts);
    assert!(hosts.iter().find(|h| h.id == ib).unwrap().has_counts);

    // Retention drops resolved findings older than the history kept.
    s.maintain(Retention {
        remove_hosts_before: t(0),
        drop_history_before: t(350),
    })
    .unwrap();
    assert!(open(s, ia).is_empty());
    assert_eq!(s.host_findings(ib).unwrap().len(), 1, "open ones stay");
}

pub fn findings_of_an_older_match_are_not_written(s: &dyn Store) {
    let a = with_inventory("a", A, &[("openssl", "1.0-1")]);
    s.ingest(&a, Source::Push, t(10)).unwrap();
    let id = s.host_id(&a).unwrap().unwrap();
    let old = s.matching_input(id).unwrap().unwrap().basis;
    // An unchanged report keeps the basis.
    let mut same = a.clone();
    same.collected_at = t(15);
    s.ingest(&same, Source::Push, t(20)).unwrap();
    assert_eq!(s.matching_input(id).unwrap().unwrap().basis, old);
    // A changed one does not: a rematch of the older one writes nothing.
    let newer = with_inventory("a", A, &[("openssl", "1.0-2")]);
    let mut newer = newer;
    newer.collected_at = t(30);
    s.ingest(&newer, Source::Push, t(40)).unwrap();
    let f = finding("CVE-2024-0001", "openssl", Severity::Important, false);
    assert!(!s
        .put_findings(id, &old, Some(std::slice::from_ref(&f)), t(50))
        .unwrap());
    assert!(s.host_findings(id).unwrap().is_empty());
    assert_eq!(
        s.host("a", None).unwrap().unwrap().summary.vulnerabilities,
        None
    );
    // A host that is gone: nothing written either.
    assert!(!s.put_findings(id + 1000, &old, Some(&[f]), t(50)).unwrap());
    assert_eq!(s.host_id(&with_inventory("zz", B, &[])).unwrap(), None);
}

pub fn findings_of_many_hosts_are_written_together_each_by_its_own_rule(s: &dyn Store) {
    let a = with_inventory("a", A, &[("openssl", "1.0-1")]);
    let b = with_inventory("b", B, &[("openssl", "1.0-1")]);
    s.ingest(&a, Source::Push, t(10)).unwrap();
    s.ingest(&b, Source::Push, t(10)).unwrap();
    let (ia, ib) = (
        s.host_id(&a).unwrap().unwrap(),
        s.host_id(&b).unwrap().unwrap(),
    );
    let (basis_a, stale_b) = (
        s.matching_input(ia).unwrap().unwrap().basis,
        s.matching_input(ib).unwrap().unwrap().basis,
    );
    // b reports again, changed: the rematch of its older report writes nothing.
    let mut newer = with_inventory("b", B, &[("openssl", "1.0-2")]);
    newer.collected_at = t(30);
    s.ingest(&newer, Source::Push, t(40)).unwrap();
    let f = finding("CVE-2024-0001", "openssl", Severity::Important, false);
    let g = finding("CVE-2024-0002", "openssl", Severity::Low, false);
    let both = [f.clone(), g];
    let written = s
        .put_findings_many(
            &[
                FindingsWrite {
                    id: ia,
                    basis: &basis_a,
                    findings: Some(&both),
                },
                FindingsWrite {
                    id: ib,
                    basis: &stale_b,
                    findings: Some(std::slice::from_ref(&f)),
                },
                FindingsWrite {
                    id: ia + ib + 1000,
                    basis: &basis_a,
                    findings: Some(std::slice::from_ref(&f)),
                },
            ],
            t(50),
        )
        .unwrap();
    assert_eq!(written, [true, false, false]);
    assert_eq!(open(s, ia).len(), 2);
    assert!(s.host_findings(ib).unwrap().is_empty());
    // The same again for a: one finding gone is resolved, the other keeps
    // its first-seen time.
    let written = s
        .put_findings_many(
            &[FindingsWrite {
                id: ia,
                basis: &basis_a,
                findings: Some(std::slice::from_ref(&f)),
            }],
            t(60),
        )
        .unwrap();
    assert_eq!(written, [true]);
    let stored = s.host_findings(ia).unwrap();
    assert_eq!(stored.len(), 2);
    let first = stored
        .iter()
        .find(|x| x.finding.id == "CVE-2024-0001")
        .unwrap();
    assert_eq!((first.first_seen, first.resolved_at), (t(50), None));
    let gone = stored
        .iter()
        .find(|x| x.finding.id == "CVE-2024-0002")
        .unwrap();
    assert_eq!(gone.resolved_at, Some(t(60)));
}

pub fn open_findings_stream_with_when_their_fix_became_installable(s: &dyn Store) {
    let mut a = with_inventory("a", A, &[("openssl", "1.0-1"), ("curl", "1.0-1")]);
    let mut u = update("openssl", "1.0-2", Some(Severity::Important));
    u.installed_version = "1.0-1".into();
    a.inventory.updates = vec![u];
    s.ingest(&a, Source::Push, t(40)).unwrap();
    let ia = s.host_id(&a).unwrap().expect("host a");
    let basis = s.matching_input(ia).unwrap().unwrap().basis;
    let ssl = finding("CVE-2024-0001", "openssl", Severity::Important, true);
    let curl = finding("CVE-2024-0002", "curl", Severity::Low, false);
    let mut kernel = finding(
        "CVE-2024-0003",
        "linux-image-6.1.0-17-amd64",
        Severity::Critical,
        false,
    );
    kernel.kernel = KernelRole::NotRunning;
    assert!(s
        .put_findings(ia, &basis, Some(&[ssl, curl, kernel]), t(100))
        .unwrap());
    let mut got = Vec::new();
    s.each_open_finding(&mut |f| got.push(f)).unwrap();
    got.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(
        got,
        vec![
            pakiti_store::OpenFinding {
                host_id: ia,
                id: "CVE-2024-0001".into(),
                package: "openssl".into(),
                arch: "amd64".into(),
                severity: Severity::Important,
                fix_available: true,
                fix_since: Some(t(40)),
            },
            pakiti_store::OpenFinding {
                host_id: ia,
                id: "CVE-2024-0002".into(),
                package: "curl".into(),
                arch: "amd64".into(),
                severity: Severity::Low,
                fix_available: false,
                fix_since: None,
            },
        ],
        "the kernel that does not run is not counted"
    );
}

pub fn findings_detected_and_resolved_are_counted_by_severity(s: &dyn Store) {
    let a = with_inventory("a", A, &[("openssl", "1.0-1"), ("curl", "1.0-1")]);
    s.ingest(&a, Source::Push, t(10)).unwrap();
    let ia = s.host_id(&a).unwrap().expect("host a");
    let basis = s.matching_input(ia).unwrap().unwrap().basis;
    let events = |s: &dyn Store| {
        let mut e: Vec<_> = s
            .finding_events()
            .unwrap()
            .into_iter()
            .filter(|(_, d, r)| *d > 0 || *r > 0)
            .map(|(sev, d, r)| format!("{} {d} {r}", sev.as_str()))
            .collect();
        e.sort();
        e
    };
    assert!(events(s).is_empty());
    let ssl = finding("CVE-2024-0001", "openssl", Severity::Important, true);
    let curl = finding("CVE-2024-0002", "curl", Severity::Low, false);
    let mut kernel = finding(
        "CVE-2024-0003",
        "linux-image-6.1.0-17-amd64",
        Severity::Critical,
        false,
    );
    kernel.kernel = KernelRole::NotRunning;
    let all = [ssl.clone(), curl.clone(), kernel.clone()];
    assert!(s.put_findings(ia, &basis, Some(&all), t(100)).unwrap());
    assert_eq!(
        events(s),
        ["important 1 0", "low 1 0"],
        "the kernel that does not run is not counted"
    );
    // The same again: nothing new. A change of fix: not new either.
    assert!(s.put_findings(ia, &basis, Some(&all), t(110)).unwrap());
    let mut fixed = curl.clone();
    fixed.fix_available = true;
    assert!(s
        .put_findings(
            ia,
            &basis,
            Some(&[ssl.clone(), fixed, kernel.clone()]),
            t(120)
        )
        .unwrap());
    assert_eq!(events(s), ["important 1 0", "low 1 0"]);
    // openssl fixed: resolved; then back: detected again.
    assert!(s
        .put_findings(ia, &basis, Some(std::slice::from_ref(&curl)), t(200))
        .unwrap());
    assert_eq!(events(s), ["important 1 1", "low 1 0"]);
    assert!(
        s.put_findings_many(
            &[FindingsWrite {
                id: ia,
                basis: &basis,
                findings: Some(&[curl, ssl])
            }],
            t(300)
        )
        .unwrap()[0]
    );
    assert_eq!(events(s), ["important 2 1", "low 1 0"]);
}
