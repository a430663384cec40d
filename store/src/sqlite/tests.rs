use std::time::{Duration, SystemTime};

use pakiti_report::*;

use super::SqliteStore;
use crate::{Source, Store};

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

fn update(name: &str, candidate: &str, security: Option<Severity>) -> Update {
    testing::update(name, "1.0-1", candidate, security)
}

fn report(hostname: &str, machine_id: Option<&str>, updates: Vec<Update>) -> Report {
    let mut r = testing::report(hostname, machine_id, Some("SiteA"), updates);
    r.collected_at = t(0);
    r
}

const MID: Option<&str> = Some("0123456789abcdef0123456789abcdef");

#[test]
fn data_and_schema_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pakiti.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        s.ingest(
            &report("web-01", MID, vec![update("a", "2", None)]),
            Source::Push,
            t(1),
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.host("web-01", None).unwrap().unwrap().updates.len(), 1);
    s.ping().unwrap();
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let err = SqliteStore::open(std::path::Path::new("/nonexistent/dir/pakiti.db"))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("/nonexistent/dir/pakiti.db"),
        "{err}"
    );
    assert!(crate::open(
        "mysql://x",
        crate::PgOptions::default(),
        crate::SqliteOptions::default()
    )
    .is_err());
}

#[test]
fn a_write_that_panics_is_rolled_back_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("pakiti.db")).unwrap();
    s.ingest(&report("a", None, vec![]), Source::Push, t(10))
        .unwrap();
    let e = s
        .submit(|reply| super::Job::Exec {
            run: Box::new(|tx| {
                tx.execute("DELETE FROM hosts", [])?;
                panic!("a bug in a write")
            }),
            reply,
        })
        .unwrap_err();
    assert!(e.to_string().contains("rolled back"), "{e}");
    // Nothing of it stayed, and the next write is stored.
    assert_eq!(s.hosts().unwrap().len(), 1);
    s.ingest(&report("b", None, vec![]), Source::Push, t(20))
        .unwrap();
    assert_eq!(s.hosts().unwrap().len(), 2);
}

#[test]
fn the_reference_lists_are_filled_from_pending_updates_stored_before_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pakiti.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        let mut u = update("openssl", "3", Some(Severity::Important));
        u.held = Some(HeldReason::KeptBack);
        u.advisories = vec!["DSA-1-1".into(), "DSA-2-1".into()];
        u.cves = vec!["CVE-2026-1".into()];
        s.ingest(
            &report("web-01", MID, vec![u, update("bash", "5", None)]),
            Source::Push,
            t(1),
        )
        .unwrap();
    }
    // The database as migration 10 left it.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(&format!(
        "DROP TABLE pending_refs; DROP INDEX pending_by_name;
         CREATE INDEX pending_by_name ON pending_updates (name);
         ALTER TABLE hosts DROP COLUMN restart_processes; ALTER TABLE hosts DROP COLUMN restart_units;
         ALTER TABLE hosts DROP COLUMN restart_sessions; ALTER TABLE hosts DROP COLUMN livepatches;
         ALTER TABLE hosts DROP COLUMN running;
         ALTER TABLE hosts DROP COLUMN unentitled_updates; ALTER TABLE hosts DROP COLUMN unentitled_security;
         ALTER TABLE hosts DROP COLUMN unentitled;
         ALTER TABLE hosts DROP COLUMN held_critical; ALTER TABLE hosts DROP COLUMN held_important;
         ALTER TABLE hosts DROP COLUMN held_moderate; ALTER TABLE hosts DROP COLUMN held_low;
         ALTER TABLE hosts DROP COLUMN held_unknown;
         DROP TABLE vuln_scores; DROP TABLE decisions; DROP TABLE decision_audit; DROP TABLE vuln_events;
         {FINDINGS_BEFORE_18}
         DELETE FROM schema_migrations WHERE version >= 11;"
    ))
    .unwrap();
    drop(c);
    let s = SqliteStore::open(&path).unwrap();
    let hosts = |l| {
        s.affected(l, None, 10)
            .unwrap()
            .into_iter()
            .map(|r| (r.hostname, r.update.name))
            .collect::<Vec<_>>()
    };
    let web = vec![("web-01".to_string(), "openssl".to_string())];
    // The held security fixes are counted from the stored pending updates.
    assert_eq!(s.hosts().unwrap()[0].held_security, [0, 1, 0, 0, 0]);
    assert_eq!(hosts(crate::Lookup::Advisory("DSA-1-1")), web);
    assert_eq!(hosts(crate::Lookup::Advisory("DSA-2-1")), web);
    assert_eq!(hosts(crate::Lookup::Cve("CVE-2026-1")), web);
    assert!(hosts(crate::Lookup::Cve("DSA-1-1")).is_empty());
    assert_eq!(
        s.affected_count(crate::Lookup::Package("bash")).unwrap(),
        crate::AffectedCount { rows: 1, hosts: 1 }
    );
}

/// `vuln_findings` as migrations 9 to 17 left it (one wide row per finding).
const FINDINGS_BEFORE_18: &str = "DROP VIEW vuln_findings_read; DROP TABLE vuln_findings; DROP TABLE vuln_finding_kinds;
    CREATE TABLE vuln_findings (host_id INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE, id TEXT NOT NULL,
        package TEXT NOT NULL, arch TEXT NOT NULL, installed_version TEXT NOT NULL, source_package TEXT NOT NULL,
        source_version TEXT NOT NULL, status TEXT NOT NULL, fixed_version TEXT, fix_available INTEGER NOT NULL,
        severity TEXT NOT NULL, vendor_severity TEXT, kernel TEXT, first_seen INTEGER NOT NULL, resolved_at INTEGER,
        PRIMARY KEY (host_id, id, package, arch)) WITHOUT ROWID;
    CREATE INDEX vuln_findings_open_by_id ON vuln_findings (id) WHERE resolved_at IS NULL;
    CREATE INDEX vuln_findings_resolved ON vuln_findings (resolved_at) WHERE resolved_at IS NOT NULL;";

#[test]
fn wide_findings_become_kinds_and_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pakiti.db");
    let host = {
        let s = SqliteStore::open(&path).unwrap();
        s.ingest(&report("web-01", MID, vec![]), Source::Push, t(1))
            .unwrap();
        s.ingest(
            &report("web-02", Some("fedcba9876543210fedcba9876543210"), vec![]),
            Source::Push,
            t(1),
        )
        .unwrap();
        s.hosts().unwrap()[0].id
    };
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(&format!(
        "{FINDINGS_BEFORE_18}
         DELETE FROM schema_migrations WHERE version >= 18;"
    ))
    .unwrap();
    // Two hosts with the same open finding, one open finding with no fix,
    // one resolved, a kernel that does not run.
    let rows = [
        (
            host,
            "CVE-2026-1",
            "openssl",
            "3.0.1-1",
            "fixed",
            Some("3.0.2-1"),
            1,
            None,
            None,
        ),
        (
            host + 1,
            "CVE-2026-1",
            "openssl",
            "3.0.1-1",
            "fixed",
            Some("3.0.2-1"),
            0,
            None,
            None,
        ),
        (
            host,
            "CVE-2026-2",
            "curl",
            "7.88-1",
            "unfixed",
            None,
            0,
            None,
            None,
        ),
        (
            host,
            "CVE-2026-3",
            "bash",
            "5.2-1",
            "fixed",
            Some("5.2-2"),
            1,
            Some(9_000),
            None,
        ),
        (
            host,
            "CVE-2026-4",
            "linux-image-6.1.0-17-amd64",
            "6.1.69-1",
            "unfixed",
            None,
            0,
            None,
            Some("not_running"),
        ),
    ];
    for (h, id, package, version, status, fixed, fix, resolved, kernel) in rows {
        c.execute(
            "INSERT INTO vuln_findings VALUES (?1, ?2, ?3, 'amd64', ?4, ?3, ?4, ?5, ?6, ?7, 'important', 'high', ?8, 5000, ?9)",
            rusqlite::params![h, id, package, version, status, fixed, fix, kernel, resolved],
        )
        .unwrap();
    }
    drop(c);
    let s = SqliteStore::open(&path).unwrap();
    let seen: Vec<String> = s
        .host_findings(host)
        .unwrap()
        .into_iter()
        .map(|f| {
            format!(
                "{} {} {} {:?} {:?} fix={} {:?} {:?} {:?}",
                f.finding.id,
                f.finding.package,
                f.finding.installed_version,
                f.finding.status,
                f.finding.fixed_version,
                f.finding.fix_available,
                f.finding.kernel,
                f.first_seen
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_millis(),
                f.resolved_at.map(|r| r
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            "CVE-2026-1 openssl 3.0.1-1 Fixed(\"3.0.2-1\") Some(\"3.0.2-1\") fix=true NotKernel 5000 None",
            "CVE-2026-2 curl 7.88-1 Unfixed None fix=false NotKernel 5000 None",
            "CVE-2026-3 bash 5.2-1 Fixed(\"5.2-2\") Some(\"5.2-2\") fix=true NotKernel 5000 Some(9000)",
            "CVE-2026-4 linux-image-6.1.0-17-amd64 6.1.69-1 Unfixed None fix=false NotRunning 5000 None",
        ]
    );
    // The two hosts' openssl finding is one kind; the other host's row
    // keeps its own fix flag.
    let fleet = s.fleet_vulnerabilities().unwrap();
    let one = fleet.iter().find(|v| v.id == "CVE-2026-1").unwrap();
    assert_eq!((one.hosts, one.fixable_hosts), (2, 1));
    assert!(!fleet.iter().any(|v| v.id == "CVE-2026-3"), "resolved");
    assert!(
        !fleet.iter().any(|v| v.id == "CVE-2026-4"),
        "a kernel that does not run"
    );
    let c = rusqlite::Connection::open(&path).unwrap();
    let kinds: i64 = c
        .query_row("SELECT COUNT(*) FROM vuln_finding_kinds", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kinds, 4);
}

/// A kind added by a job that is rolled back (its savepoint, or the whole
/// batch by a panic) is not remembered: the next job that needs it adds it
/// again, so no finding refers to a kind that does not exist.
#[test]
fn kinds_of_a_rolled_back_write_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("pakiti.db")).unwrap();
    let finding = |id: &str| pakiti_vulns::Finding {
        id: id.into(),
        package: "openssl".into(),
        arch: "amd64".into(),
        installed_version: "3.0.1-1".into(),
        source_package: "openssl".into(),
        source_version: "3.0.1-1".into(),
        status: pakiti_vulns::Status::Unfixed,
        fixed_version: None,
        fix_available: false,
        severity: Severity::Important,
        vendor_severity: None,
        advisory: None,
        kernel: pakiti_vulns::KernelRole::NotKernel,
    };
    let intern = |id: &'static str, then_fail: bool, then_panic: bool| {
        s.submit(move |reply| super::Job::Exec {
            run: Box::new(move |tx| {
                let f = finding(id);
                crate::sqlite_kinds::intern(tx, &f, &crate::sqlite_kinds::key_of(&f))?;
                if then_panic {
                    panic!("a bug after the kind was added");
                }
                if then_fail {
                    tx.execute("SELECT * FROM no_such_table", [])?;
                }
                Ok(())
            }),
            reply,
        })
    };
    let kinds = |id: &str| -> i64 {
        s.read(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM vuln_finding_kinds WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
        })
        .unwrap()
    };
    for (id, fail, panic) in [("CVE-2026-1", true, false), ("CVE-2026-2", false, true)] {
        assert!(intern(id, fail, panic).is_err());
        assert_eq!(kinds(id), 0, "{id}: rolled back");
        intern(id, false, false).unwrap();
        assert_eq!(kinds(id), 1, "{id}: added again, not taken from the cache");
    }
}
