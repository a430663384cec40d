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
    c.execute_batch(
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
         DELETE FROM schema_migrations WHERE version >= 11;",
    )
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
