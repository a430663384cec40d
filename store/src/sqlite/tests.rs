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
    assert!(crate::open("mysql://x", crate::PgOptions::default()).is_err());
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
