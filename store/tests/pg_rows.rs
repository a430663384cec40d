//! PostgreSQL rows that break the schema's promises (a NULL where a value must
//! be, a column of another type) are errors with context, never a panic: the
//! aggregator is built with `panic = "abort"`, and one bad row must not stop it.

use std::time::SystemTime;

use pakiti_report::testing;
use pakiti_store::testing::TestDatabase;
use pakiti_store::{PgOptions, PgStore, Source, Store};

#[test]
fn a_damaged_row_is_an_error_not_a_panic() {
    let db = TestDatabase::create();
    let store = PgStore::connect(&db.url, PgOptions::default()).unwrap();
    let r = testing::report(
        "web-01",
        Some("0123456789abcdef0123456789abcdef"),
        Some("SiteA"),
        vec![testing::update("openssl", "1", "2", None)],
    );
    store.ingest(&r, Source::Push, SystemTime::now()).unwrap();
    assert_eq!(store.hosts().unwrap().len(), 1);
    let mut admin = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    admin
        .batch_execute(
            "ALTER TABLE hosts ALTER COLUMN kernel DROP NOT NULL; UPDATE hosts SET kernel = NULL;
             ALTER TABLE pending_updates ALTER COLUMN first_seen TYPE text USING first_seen::text;",
        )
        .unwrap();
    let e = store.hosts().unwrap_err();
    assert!(matches!(e, pakiti_store::StoreError::Database(_)), "{e:?}");
    assert!(e.to_string().contains("was `NULL`"), "{e}");
    assert!(store.host("web-01", None).is_err());
    assert!(store
        .affected(pakiti_store::Lookup::Package("openssl"), None, 10)
        .is_err());
    drop(admin);
}
