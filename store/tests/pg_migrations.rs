//! PostgreSQL migrations that fill new tables from rows stored before them.

use std::time::SystemTime;

use pakiti_report::{testing, Severity};
use pakiti_store::testing::TestDatabase;
use pakiti_store::{AffectedCount, Lookup, PgOptions, PgStore, Source, Store};

#[test]
fn the_reference_lists_are_filled_from_pending_updates_stored_before_them() {
    let db = TestDatabase::create();
    let store = PgStore::connect(&db.url, PgOptions::default()).unwrap();
    let mut u = testing::update("openssl", "1", "3", Some(Severity::Important));
    u.held = Some(pakiti_report::HeldReason::KeptBack);
    u.advisories = vec!["DSA-1-1".into(), "DSA-2-1".into()];
    u.cves = vec!["CVE-2026-1".into()];
    let r = testing::report(
        "web-01",
        Some("0123456789abcdef0123456789abcdef"),
        Some("SiteA"),
        vec![u, testing::update("bash", "1", "5", None)],
    );
    store.ingest(&r, Source::Push, SystemTime::now()).unwrap();
    drop(store);
    // The database as migration 9 left it.
    let mut admin = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    admin
        .batch_execute(
            "DROP TABLE pending_refs; DROP INDEX pending_by_name;
             CREATE INDEX pending_by_name ON pending_updates (name);
             ALTER TABLE hosts DROP COLUMN restart_processes, DROP COLUMN restart_units,
                 DROP COLUMN restart_sessions, DROP COLUMN livepatches, DROP COLUMN running,
                 DROP COLUMN unentitled_updates, DROP COLUMN unentitled_security, DROP COLUMN unentitled,
                 DROP COLUMN held_critical, DROP COLUMN held_important, DROP COLUMN held_moderate,
                 DROP COLUMN held_low, DROP COLUMN held_unknown;
             DROP TABLE vuln_scores; DROP TABLE decisions; DROP TABLE decision_audit; DROP TABLE vuln_events;
             DELETE FROM schema_migrations WHERE version >= 10;",
        )
        .unwrap();
    let store = PgStore::connect(&db.url, PgOptions::default()).unwrap();
    let hosts = |l| {
        store
            .affected(l, None, 10)
            .unwrap()
            .into_iter()
            .map(|r| (r.hostname, r.update.name))
            .collect::<Vec<_>>()
    };
    let web = vec![("web-01".to_string(), "openssl".to_string())];
    // The held security fixes are counted from the stored pending updates.
    assert_eq!(store.hosts().unwrap()[0].held_security, [0, 1, 0, 0, 0]);
    assert_eq!(hosts(Lookup::Advisory("DSA-1-1")), web);
    assert_eq!(hosts(Lookup::Advisory("DSA-2-1")), web);
    assert_eq!(hosts(Lookup::Cve("CVE-2026-1")), web);
    assert!(hosts(Lookup::Cve("DSA-1-1")).is_empty());
    assert_eq!(
        store.affected_count(Lookup::Package("bash")).unwrap(),
        AffectedCount { rows: 1, hosts: 1 }
    );
    drop(admin);
}
