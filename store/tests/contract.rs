//! The store contract: the same cases against SQLite and PostgreSQL. The
//! PostgreSQL cases use a throwaway database on the server of
//! `PAKITI_TEST_POSTGRES_URL` (default 127.0.0.1:5432); without one they fail.

use std::time::{Duration, SystemTime};

use pakiti_report::*;
use pakiti_store::testing::TestDatabase;
use pakiti_store::{IngestOutcome, PgOptions, PgStore, Retention, Source, SqliteStore, Store};

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

mod cases {
    use super::*;

    pub fn outcomes_new_unchanged_changed(s: &dyn Store) {
        let r = report(
            "web-01",
            MID,
            vec![update("openssl", "1.0-2", Some(Severity::Unknown))],
        );
        assert_eq!(
            s.ingest(&r, Source::Push, t(10)).unwrap(),
            IngestOutcome::NewHost
        );
        let mut again = r.clone();
        again.collected_at = t(60);
        assert_eq!(
            s.ingest(&again, Source::Push, t(70)).unwrap(),
            IngestOutcome::Unchanged
        );
        let h = s.host("web-01").unwrap().unwrap();
        assert_eq!(
            h.summary.last_report_at,
            t(70),
            "an unchanged report refreshes the time"
        );
        assert_eq!(h.summary.collected_at, t(60));
        let changed = report("web-01", MID, vec![]);
        assert_eq!(
            s.ingest(&changed, Source::Scrape, t(80)).unwrap(),
            IngestOutcome::Changed
        );
        let h = s.host("web-01").unwrap().unwrap();
        assert!(h.updates.is_empty(), "an update no longer pending is gone");
        assert_eq!(h.summary.source, "scrape");
        assert_eq!(h.summary.counts.pending, 0);
    }
    pub fn first_seen_times_give_patch_age(s: &dyn Store) {
        let v1 = vec![
            update("openssl", "1.0-2", Some(Severity::Important)),
            update("bash", "5.0-2", None),
        ];
        s.ingest(&report("web-01", MID, v1), Source::Push, t(100))
            .unwrap();
        // Later: openssl has a newer candidate, bash became a security update, curl appears.
        let v2 = vec![
            update("openssl", "1.0-3", Some(Severity::Important)),
            update("bash", "5.0-2", Some(Severity::Low)),
            update("curl", "8.0-2", None),
        ];
        s.ingest(&report("web-01", MID, v2), Source::Push, t(200))
            .unwrap();
        let h = s.host("web-01").unwrap().unwrap();
        let get = |n: &str| h.updates.iter().find(|u| u.name == n).unwrap().clone();
        assert_eq!(
            get("openssl").first_seen,
            t(100),
            "pending since the first report"
        );
        assert_eq!(
            get("openssl").candidate_first_seen,
            t(200),
            "a new candidate restarts its own clock"
        );
        assert_eq!(get("openssl").security_first_seen, Some(t(100)));
        assert_eq!(get("bash").first_seen, t(100));
        assert_eq!(get("bash").security_first_seen, Some(t(200)));
        assert_eq!(get("curl").first_seen, t(200));
        assert_eq!(get("curl").security_first_seen, None);
        assert_eq!(h.summary.security_pending_since, Some(t(100)));
        let idx = |s| pakiti_store::severity_index(s);
        assert_eq!(
            h.summary.security_since_by_severity[idx(Severity::Important)],
            Some(t(100))
        );
        assert_eq!(
            h.summary.security_since_by_severity[idx(Severity::Low)],
            Some(t(200))
        );
        assert_eq!(
            h.summary.security_since_by_severity[idx(Severity::Critical)],
            None
        );
        assert_eq!(h.summary.counts.security(Severity::Important), 1);
        assert_eq!(h.summary.counts.security(Severity::Low), 1);
        // Once openssl is patched, the oldest pending security update is bash's.
        let v3 = vec![update("bash", "5.0-2", Some(Severity::Low))];
        s.ingest(&report("web-01", MID, v3), Source::Push, t(300))
            .unwrap();
        let h = s.host("web-01").unwrap().unwrap();
        assert_eq!(h.summary.security_pending_since, Some(t(200)));
    }
    pub fn a_machine_id_keeps_one_host_across_renames(s: &dyn Store) {
        s.ingest(&report("old-name", MID, vec![]), Source::Push, t(1))
            .unwrap();
        let out = s
            .ingest(&report("new-name", MID, vec![]), Source::Push, t(2))
            .unwrap();
        assert_eq!(out, IngestOutcome::Changed);
        let hosts = s.hosts().unwrap();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].hostname, "new-name");
        assert!(s.host("old-name").unwrap().is_none());
        // Without a machine id the host name is the identity.
        s.ingest(&report("bare", None, vec![]), Source::Push, t(3))
            .unwrap();
        s.ingest(&report("bare", None, vec![]), Source::Push, t(4))
            .unwrap();
        assert_eq!(s.hosts().unwrap().len(), 2);
    }
    pub fn history_records_changes_of_counts_only(s: &dyn Store) {
        let r = report("web-01", MID, vec![update("a", "2", None)]);
        s.ingest(&r, Source::Push, t(1)).unwrap();
        s.ingest(&r, Source::Push, t(2)).unwrap();
        let mut same_counts = r.clone();
        same_counts.kernel = "6.1.1".into();
        s.ingest(&same_counts, Source::Push, t(3)).unwrap();
        s.ingest(&report("web-01", MID, vec![]), Source::Push, t(4))
            .unwrap();
        let h = s.host("web-01").unwrap().unwrap();
        let points: Vec<_> = h.history.iter().map(|p| (p.at, p.counts.pending)).collect();
        assert_eq!(points, [(t(1), 1), (t(4), 0)]);
    }
    pub fn maintenance_removes_silent_hosts_and_old_history(s: &dyn Store) {
        s.ingest(
            &report("gone", Some("11111111111111111111111111111111"), vec![]),
            Source::Push,
            t(1),
        )
        .unwrap();
        s.ingest(
            &report("here", MID, vec![update("a", "2", None)]),
            Source::Push,
            t(1),
        )
        .unwrap();
        s.ingest(&report("here", MID, vec![]), Source::Push, t(100))
            .unwrap();
        let out = s
            .maintain(Retention {
                remove_hosts_before: t(50),
                drop_history_before: t(50),
            })
            .unwrap();
        assert_eq!(out.hosts_removed, 1);
        assert_eq!(out.history_dropped, 1);
        assert!(s.host("gone").unwrap().is_none());
        assert_eq!(s.host("here").unwrap().unwrap().history.len(), 1);
    }
    pub fn hosts_affected_by_a_package_an_advisory_or_a_cve(s: &dyn Store) {
        let mut a = update("openssl", "3.0-2", Some(Severity::Important));
        a.advisories = vec!["DSA-5555-1".into()];
        a.cves = vec!["CVE-2026-0001".into(), "CVE-2026-00012".into()];
        s.ingest(
            &report("web-01", MID, vec![a, update("bash", "5-2", None)]),
            Source::Push,
            t(1),
        )
        .unwrap();
        let mut b = update("openssl", "3.0-3", Some(Severity::Important));
        b.cves = vec!["CVE-2026-00012".into()];
        s.ingest(
            &report("db-01", Some("22222222222222222222222222222222"), vec![b]),
            Source::Push,
            t(2),
        )
        .unwrap();
        let names = |l| {
            s.affected(l)
                .unwrap()
                .into_iter()
                .map(|h| h.hostname)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(pakiti_store::Lookup::Package("openssl")),
            ["db-01", "web-01"]
        );
        assert_eq!(names(pakiti_store::Lookup::Package("bash")), ["web-01"]);
        assert_eq!(
            names(pakiti_store::Lookup::Advisory("DSA-5555-1")),
            ["web-01"]
        );
        // Whole ids only: CVE-2026-0001 is not a prefix match of CVE-2026-00012.
        assert_eq!(
            names(pakiti_store::Lookup::Cve("CVE-2026-0001")),
            ["web-01"]
        );
        assert_eq!(
            names(pakiti_store::Lookup::Cve("CVE-2026-00012")),
            ["db-01", "web-01"]
        );
        assert!(
            names(pakiti_store::Lookup::Cve("CVE-2026-%")).is_empty(),
            "LIKE wildcards are literal"
        );
        let first = &s
            .affected(pakiti_store::Lookup::Package("openssl"))
            .unwrap()[0];
        assert_eq!(first.update.candidate_version, "3.0-3");
        assert_eq!(first.site.as_deref(), Some("SiteA"));
    }

    pub fn leases_go_to_one_owner_at_a_time(s: &dyn Store) {
        let ttl = Duration::from_secs(60);
        assert!(s.claim("scrape:a", "replica-1", ttl).unwrap());
        assert!(
            s.claim("scrape:a", "replica-1", ttl).unwrap(),
            "the holder renews"
        );
        let shared = !s.claim("scrape:a", "replica-2", ttl).unwrap();
        if shared {
            assert!(s.claim("scrape:b", "replica-2", Duration::ZERO).unwrap());
            assert!(
                s.claim("scrape:b", "replica-1", ttl).unwrap(),
                "an expired lease is free"
            );
            assert!(
                !s.claim("scrape:b", "replica-2", ttl).unwrap(),
                "a live lease is not"
            );
        }
    }
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $case() {
                let dir = tempfile::tempdir().unwrap();
                let s = super::SqliteStore::open(&dir.path().join("pakiti.db")).unwrap();
                super::cases::$case(&s);
            })*
        }
        mod postgres {
            $(#[test]
            fn $case() {
                let db = super::TestDatabase::create();
                let s = super::PgStore::connect(&db.url, super::PgOptions::default()).unwrap();
                super::cases::$case(&s);
            })*
        }
    };
}

contract!(
    outcomes_new_unchanged_changed,
    first_seen_times_give_patch_age,
    a_machine_id_keeps_one_host_across_renames,
    history_records_changes_of_counts_only,
    maintenance_removes_silent_hosts_and_old_history,
    hosts_affected_by_a_package_an_advisory_or_a_cve,
    leases_go_to_one_owner_at_a_time,
);
