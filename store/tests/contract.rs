//! The store contract: the same cases against SQLite and PostgreSQL. The
//! PostgreSQL cases use a throwaway database on the server of
//! `PAKITI_TEST_POSTGRES_URL` (default 127.0.0.1:5432); without one they fail.

use std::time::{Duration, SystemTime};

use pakiti_report::*;
use pakiti_store::testing::TestDatabase;
use pakiti_store::{
    Conflict, FeedStatus, IngestOutcome, OutboxKind, Outgoing, PgOptions, PgStore, Retention,
    SiteStats, Source, SqliteStore, Store, StoreError, Writer,
};

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
        let h = s.host("web-01", None).unwrap().unwrap();
        assert_eq!(
            h.summary.last_report_at,
            t(70),
            "an unchanged report refreshes the time"
        );
        assert_eq!(h.summary.collected_at, t(60));
        let mut changed = report("web-01", MID, vec![]);
        changed.collected_at = t(75);
        assert_eq!(
            s.ingest(&changed, Source::Scrape, t(80)).unwrap(),
            IngestOutcome::Changed
        );
        let h = s.host("web-01", None).unwrap().unwrap();
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
            // A second important update, newer: the severity's clock keeps the oldest.
            update("libssl", "1.0-2", Some(Severity::Important)),
        ];
        s.ingest(&report("web-01", MID, v2), Source::Push, t(200))
            .unwrap();
        let h = s.host("web-01", None).unwrap().unwrap();
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
        assert_eq!(h.summary.counts.security(Severity::Important), 2);
        assert_eq!(h.summary.counts.security(Severity::Low), 1);
        // Once openssl is patched, the oldest pending security update is bash's.
        let v3 = vec![update("bash", "5.0-2", Some(Severity::Low))];
        s.ingest(&report("web-01", MID, v3), Source::Push, t(300))
            .unwrap();
        let h = s.host("web-01", None).unwrap().unwrap();
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
        assert!(s.host("old-name", None).unwrap().is_none());
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
        let h = s.host("web-01", None).unwrap().unwrap();
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
        assert!(s.host("gone", None).unwrap().is_none());
        assert_eq!(s.host("here", None).unwrap().unwrap().history.len(), 1);
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
            s.affected(l, None, 100)
                .unwrap()
                .into_iter()
                .map(|h| h.hostname)
                .collect::<Vec<_>>()
        };
        // In the order hosts were first stored (host id), not by name.
        assert_eq!(
            names(pakiti_store::Lookup::Package("openssl")),
            ["web-01", "db-01"]
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
            ["web-01", "db-01"]
        );
        assert!(
            names(pakiti_store::Lookup::Cve("CVE-2026-%")).is_empty(),
            "LIKE wildcards are literal"
        );
        let last = &s
            .affected(pakiti_store::Lookup::Package("openssl"), None, 100)
            .unwrap()[1];
        assert_eq!(last.update.candidate_version, "3.0-3");
        assert_eq!(last.site.as_deref(), Some("SiteA"));
        let count = |l| s.affected_count(l).unwrap();
        assert_eq!(
            count(pakiti_store::Lookup::Cve("CVE-2026-00012")),
            pakiti_store::AffectedCount { rows: 2, hosts: 2 }
        );
        assert_eq!(
            count(pakiti_store::Lookup::Package("bash")),
            pakiti_store::AffectedCount { rows: 1, hosts: 1 }
        );
        assert_eq!(
            count(pakiti_store::Lookup::Advisory("CVE-2026-00012")),
            pakiti_store::AffectedCount::default(),
            "a CVE id is not an advisory"
        );
        // An update that no longer names an id, or is no longer pending,
        // leaves its lists.
        let mut b = update("openssl", "3.0-4", Some(Severity::Important));
        b.cves = vec!["CVE-2026-7".into()];
        s.ingest(
            &report("db-01", Some("22222222222222222222222222222222"), vec![b]),
            Source::Push,
            t(3),
        )
        .unwrap();
        assert_eq!(
            names(pakiti_store::Lookup::Cve("CVE-2026-00012")),
            ["web-01"]
        );
        assert_eq!(names(pakiti_store::Lookup::Cve("CVE-2026-7")), ["db-01"]);
        s.ingest(
            &report("web-01", MID, vec![update("bash", "5-2", None)]),
            Source::Push,
            t(4),
        )
        .unwrap();
        assert!(names(pakiti_store::Lookup::Advisory("DSA-5555-1")).is_empty());
        assert!(names(pakiti_store::Lookup::Cve("CVE-2026-0001")).is_empty());
        assert_eq!(
            count(pakiti_store::Lookup::Cve("CVE-2026-0001")),
            pakiti_store::AffectedCount::default()
        );
    }

    /// Pages of affected rows: every row once, in order, however the pages
    /// are cut, by package and by reference; counts over all of them.
    pub fn affected_rows_come_a_page_at_a_time(s: &dyn Store) {
        let mut names = Vec::new();
        for i in 0..7 {
            // Host 3 has the package on two arches; every host names the CVE
            // on two packages.
            let mut updates = vec![update("zlib", "2", Some(Severity::Low))];
            if i == 3 {
                updates.push(update("zlib", "2", Some(Severity::Low)));
                updates[1].arch = "i386".into();
            }
            let mut other = update("curl", "8", Some(Severity::Low));
            other.cves = vec!["CVE-2026-1".into()];
            updates[0].cves = vec!["CVE-2026-1".into()];
            updates.push(other);
            let name = format!("h{}", 7 - i);
            s.ingest(
                &report(&name, Some(&format!("{i:032x}")), updates),
                Source::Push,
                t(1),
            )
            .unwrap();
            names.push(name);
        }
        for (lookup, rows, hosts) in [
            (pakiti_store::Lookup::Package("zlib"), 8, 7),
            (pakiti_store::Lookup::Cve("CVE-2026-1"), 14, 7),
        ] {
            assert_eq!(
                s.affected_count(lookup).unwrap(),
                pakiti_store::AffectedCount { rows, hosts }
            );
            let all = s.affected(lookup, None, 100).unwrap();
            assert_eq!(all.len() as u64, rows);
            let keys: Vec<_> = all.iter().map(pakiti_store::AffectedKey::of).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, sorted, "in key order");
            let mut seen: Vec<String> = all.iter().map(|r| r.hostname.clone()).collect();
            seen.dedup();
            assert_eq!(seen, names, "hosts in the order they were stored");
            for limit in 1..=4 {
                let mut paged = Vec::new();
                let mut after = None;
                loop {
                    let page = s.affected(lookup, after.as_ref(), limit).unwrap();
                    assert!(page.len() <= limit);
                    paged.extend(page.iter().map(pakiti_store::AffectedKey::of));
                    if page.len() < limit {
                        break;
                    }
                    after = page.last().map(pakiti_store::AffectedKey::of);
                }
                assert_eq!(paged, keys, "pages of {limit}");
            }
        }
        // A cursor of another package's row on the same host: that host's
        // rows come after it when its name sorts first, else before it.
        let zlib = s
            .affected(pakiti_store::Lookup::Package("zlib"), None, 100)
            .unwrap();
        let host3 = zlib
            .iter()
            .find(|r| r.update.arch == "i386")
            .unwrap()
            .host_id;
        let at = |name: &str| pakiti_store::AffectedKey {
            host_id: host3,
            name: name.into(),
            arch: "amd64".into(),
        };
        let first_host = |k| {
            s.affected(pakiti_store::Lookup::Package("zlib"), Some(&k), 1)
                .unwrap()[0]
                .host_id
        };
        assert_eq!(first_host(at("curl")), host3);
        assert!(first_host(at("zz")) > host3);
    }

    /// `shared`: whether the store serves several processes (PostgreSQL), so
    /// that a lease can be refused; SQLite serves one and grants every claim.
    pub fn leases_go_to_one_owner_at_a_time(s: &dyn Store, shared: bool) {
        let ttl = Duration::from_secs(60);
        assert!(s.claim("scrape:a", "replica-1", ttl).unwrap());
        assert!(
            s.claim("scrape:a", "replica-1", ttl).unwrap(),
            "the holder renews"
        );
        assert_eq!(
            s.claim("scrape:a", "replica-2", ttl).unwrap(),
            !shared,
            "a live lease is refused to another owner exactly when the store is shared"
        );
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

    fn writer(client: &str, host_only: bool) -> Writer {
        Writer {
            client: Some(client.into()),
            host_only,
        }
    }

    fn conflict(s: &dyn Store, r: &Report, w: &Writer) -> Conflict {
        match s.ingest_and_queue(r, w, Source::Push, None, t(20), &[]) {
            Err(StoreError::Conflict(c)) => c,
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    pub fn no_report_overwrites_what_its_writer_does_not_own(s: &dyn Store) {
        let owner = writer("web-01", true);
        let r = report(
            "web-01",
            MID,
            vec![update("openssl", "1.0-2", Some(Severity::Critical))],
        );
        s.ingest_and_queue(&r, &owner, Source::Push, None, t(10), &[])
            .unwrap();
        // Another host's credential naming web-01's machine id: no rename, no wipe.
        let forged = report("db-01", MID, vec![]);
        assert!(matches!(
            conflict(s, &forged, &writer("db-01", true)),
            Conflict::OtherOwner { .. }
        ));
        // Its own name but another client's credential.
        assert!(matches!(
            conflict(s, &report("web-01", MID, vec![]), &writer("db-01", true)),
            Conflict::OtherOwner { .. }
        ));
        // A relay of another site: no site move.
        let mut moved = report("web-01", MID, vec![]);
        moved.host.site = Some("SiteB".into());
        assert!(matches!(
            conflict(s, &moved, &writer("relay-b", false)),
            Conflict::OtherSite { .. }
        ));
        // An older report, even from the owner.
        let mut old = report("web-01", MID, vec![]);
        old.collected_at = t(0) - Duration::from_millis(1);
        assert!(matches!(conflict(s, &old, &owner), Conflict::Older { .. }));
        let h = s.host("web-01", None).unwrap().unwrap();
        assert_eq!(s.hosts().unwrap().len(), 1);
        assert_eq!(h.summary.site.as_deref(), Some("SiteA"));
        assert_eq!(h.summary.owner.as_deref(), Some("web-01"));
        assert_eq!(h.summary.last_report_at, t(10), "nothing was written");
        assert_eq!(h.updates.len(), 1);
        assert!(h.summary.security_pending_since.is_some());
        // The owner and a relay of its site still write it.
        let mut newer = report("web-01", MID, vec![]);
        newer.collected_at = t(1);
        s.ingest_and_queue(&newer, &owner, Source::Push, None, t(30), &[])
            .unwrap();
        newer.collected_at = t(2);
        s.ingest_and_queue(
            &newer,
            &writer("relay-a", false),
            Source::Push,
            None,
            t(31),
            &[],
        )
        .unwrap();
        let h = s.host("web-01", None).unwrap().unwrap();
        assert!(h.updates.is_empty());
        assert_eq!(
            h.summary.owner.as_deref(),
            Some("web-01"),
            "the first writer owns it"
        );
    }

    pub fn equal_host_names_in_two_sites_are_two_hosts(s: &dyn Store) {
        let a = report("web-01", None, vec![update("openssl", "1.0-2", None)]);
        let mut b = report("web-01", None, vec![]);
        b.host.site = Some("SiteB".into());
        s.ingest(&a, Source::Push, t(1)).unwrap();
        assert_eq!(
            s.ingest(&b, Source::Push, t(2)).unwrap(),
            IngestOutcome::NewHost
        );
        assert_eq!(s.hosts().unwrap().len(), 2);
        let in_site = |site| s.host("web-01", Some(site)).unwrap().unwrap();
        assert_eq!(
            in_site("SiteA").updates.len(),
            1,
            "SiteB's report hid nothing"
        );
        assert_eq!(in_site("SiteB").updates.len(), 0);
        assert!(s.host("web-01", Some("SiteC")).unwrap().is_none());
        // Moving a host is the operator's action.
        assert_eq!(
            s.move_host("web-01", Some("SiteB"), Some("SiteC")).unwrap(),
            1
        );
        assert_eq!(in_site("SiteC").summary.site.as_deref(), Some("SiteC"));
        assert_eq!(
            s.move_host("web-01", Some("SiteB"), Some("SiteC")).unwrap(),
            0
        );
    }

    fn out(upstream: &str, kind: OutboxKind, payload: &str, cap: u64) -> Outgoing {
        Outgoing {
            upstream: upstream.into(),
            kind,
            payload: payload.as_bytes().to_vec(),
            cap,
            cap_bytes: u64::MAX >> 1,
        }
    }

    pub fn the_queue_is_capped_by_bytes_too_and_counts_follow_removals(s: &dyn Store) {
        let sized = |payload: &str, kind| Outgoing {
            cap_bytes: 10,
            ..out("up", kind, payload, 100)
        };
        s.enqueue(&[sized("sss", OutboxKind::Stats)]).unwrap();
        s.enqueue(&[sized("rrrr", OutboxKind::Report)]).unwrap();
        s.enqueue(&[sized("qqq", OutboxKind::Report)]).unwrap();
        // 10 bytes: all fit. Four more make 14: the statistics go (11 left,
        // still over), then the oldest report.
        s.enqueue(&[sized("pppp", OutboxKind::Report)]).unwrap();
        let left = |s: &dyn Store| {
            s.outbox("up", 10)
                .unwrap()
                .into_iter()
                .map(|i| String::from_utf8(i.payload).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(left(s), ["qqq", "pppp"]);
        s.enqueue(&[sized("oo", OutboxKind::Report)]).unwrap();
        assert_eq!(left(s), ["qqq", "pppp", "oo"]);
        // Delivered items free their room: two more fit without a drop.
        let ids: Vec<i64> = s.outbox("up", 2).unwrap().iter().map(|i| i.id).collect();
        s.outbox_remove(&ids).unwrap();
        s.enqueue(&[sized("nnnn", OutboxKind::Report)]).unwrap();
        s.enqueue(&[sized("mm", OutboxKind::Report)]).unwrap();
        assert_eq!(left(s), ["oo", "nnnn", "mm"]);
        let st = &s.outbox_status().unwrap()[0];
        assert_eq!((st.queued, st.dropped_stats, st.dropped_reports), (3, 1, 1));
    }

    pub fn a_stored_report_is_queued_with_it_and_records_its_forwarder(s: &dyn Store) {
        let r = report("web-01", MID, vec![update("openssl", "1.0-2", None)]);
        let q = [out("central", OutboxKind::Report, "r1", 100)];
        s.ingest_and_queue(
            &r,
            &Writer::anonymous(),
            Source::Forwarded,
            Some("site-a"),
            t(10),
            &q,
        )
        .unwrap();
        let h = s.host("web-01", None).unwrap().unwrap();
        assert_eq!(h.summary.source, "forwarded");
        assert_eq!(h.summary.forwarded_by.as_deref(), Some("site-a"));
        let items = s.outbox("central", 10).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].payload, b"r1");
        assert_eq!(items[0].kind, OutboxKind::Report);
        assert!(s.outbox("elsewhere", 10).unwrap().is_empty());
        // An unchanged report is still queued: the upstream sees it arrive.
        s.ingest_and_queue(
            &r,
            &Writer::anonymous(),
            Source::Push,
            None,
            t(20),
            &[out("central", OutboxKind::Report, "r2", 100)],
        )
        .unwrap();
        let h = s.host("web-01", None).unwrap().unwrap();
        assert_eq!(h.summary.forwarded_by, None, "pushed directly this time");
        let items = s.outbox("central", 10).unwrap();
        assert_eq!(
            items.iter().map(|i| i.payload.clone()).collect::<Vec<_>>(),
            vec![b"r1".to_vec(), b"r2".to_vec()]
        );
        s.outbox_remove(&[items[0].id]).unwrap();
        let left = s.outbox("central", 10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].payload, b"r2");
        let status = s.outbox_status().unwrap();
        assert_eq!(status.len(), 1);
        assert_eq!(
            (status[0].upstream.as_str(), status[0].queued),
            ("central", 1)
        );
    }

    pub fn the_queue_cap_drops_the_oldest_statistics_first(s: &dyn Store) {
        s.enqueue(&[out("up", OutboxKind::Stats, "s1", 3)]).unwrap();
        s.enqueue(&[out("up", OutboxKind::Report, "r1", 3)])
            .unwrap();
        s.enqueue(&[out("up", OutboxKind::Stats, "s2", 3)]).unwrap();
        s.enqueue(&[out("up", OutboxKind::Report, "r2", 3)])
            .unwrap();
        let payloads = |s: &dyn Store| {
            s.outbox("up", 10)
                .unwrap()
                .into_iter()
                .map(|i| String::from_utf8(i.payload).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            payloads(s),
            ["r1", "s2", "r2"],
            "the oldest statistics went first"
        );
        s.enqueue(&[out("up", OutboxKind::Report, "r3", 3)])
            .unwrap();
        assert_eq!(payloads(s), ["r1", "r2", "r3"]);
        s.enqueue(&[out("up", OutboxKind::Report, "r4", 3)])
            .unwrap();
        assert_eq!(payloads(s), ["r2", "r3", "r4"], "then the oldest reports");
        let st = &s.outbox_status().unwrap()[0];
        assert_eq!((st.queued, st.dropped_stats, st.dropped_reports), (3, 2, 1));
    }

    pub fn site_statistics_keep_the_latest_per_server_and_site(s: &dyn Store) {
        let a = SiteStats {
            site: "SiteA".into(),
            generated_at: Some(t(5)),
            hosts: 10,
            hosts_pending: 7,
            hosts_security: [1, 2, 3, 0, 4],
            hosts_reboot: 2,
            hosts_stale: 1,
            updates_pending: 70,
            security_updates: [1, 5, 9, 0, 12],
            oldest_security_since: Some(t(1)),
        };
        s.put_site_stats("site-a", std::slice::from_ref(&a), t(10))
            .unwrap();
        let mut newer = a.clone();
        newer.hosts = 11;
        s.put_site_stats("site-a", &[newer.clone()], t(20)).unwrap();
        let b = SiteStats {
            site: "SiteB".into(),
            ..SiteStats::default()
        };
        s.put_site_stats("site-b", std::slice::from_ref(&b), t(20))
            .unwrap();
        let all = s.site_stats().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].server, "site-a");
        assert_eq!(all[0].stats, newer);
        assert_eq!(all[0].received_at, t(20));
        assert_eq!(all[1].stats, b);
        // Statistics not refreshed since the removal horizon go, like silent hosts.
        s.put_site_stats("site-b", &[b], t(5)).unwrap();
        s.maintain(Retention {
            remove_hosts_before: t(15),
            drop_history_before: t(0),
        })
        .unwrap();
        let left = s.site_stats().unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].stats.site, "SiteA");
    }
}

mod inventory_cases {
    use super::*;

    pub(crate) fn with_inventory(hostname: &str, mid: &str, installed: &[(&str, &str)]) -> Report {
        let mut r = report(hostname, Some(mid), vec![]);
        let list: Vec<Installed> = installed
            .iter()
            .map(|(n, v)| Installed {
                source_name: format!("{n}-src"),
                ..Installed::new(n, v, "amd64")
            })
            .collect();
        r.inventory.installed_packages = list.len() as u64;
        r.inventory.installed = Some(list);
        r.os.cpe_name = Some("cpe:/o:debian:debian_linux:12".into());
        r.inventory.running_kernel = Some(RunningKernel {
            package: "linux-image-6.1.0-18-amd64".into(),
            version: "6.1.76-1".into(),
        });
        r
    }

    pub fn the_inventory_is_kept_queried_and_its_changes_recorded(s: &dyn Store) {
        const A: &str = "0000000000000000000000000000000a";
        const B: &str = "0000000000000000000000000000000b";
        let a = with_inventory(
            "a",
            A,
            &[
                ("xz-utils", "5.6.0-0.1"),
                ("bash", "5.2.15-2"),
                ("libc6", "2.36-9"),
                ("linux", "6.1-1"),
            ],
        );
        let b = with_inventory("b", B, &[("xz-utils", "5.4.1-0.2"), ("bash", "5.2.15-2")]);
        s.ingest(&a, Source::Push, t(10)).unwrap();
        s.ingest(&b, Source::Push, t(10)).unwrap();
        let h = s.host("a", None).unwrap().unwrap();
        let names: Vec<String> = h
            .installed
            .as_ref()
            .expect("an inventory")
            .iter()
            .map(|p| format!("{} {} {}", p.name, p.version, p.source_name))
            .collect();
        assert_eq!(
            names,
            [
                "bash 5.2.15-2 bash-src",
                "libc6 2.36-9 libc6-src",
                "linux 6.1-1 linux-src",
                "xz-utils 5.6.0-0.1 xz-utils-src"
            ]
        );
        assert_eq!(
            h.platform.cpe_name.as_deref(),
            Some("cpe:/o:debian:debian_linux:12")
        );
        assert_eq!(h.platform.codename.as_deref(), Some("bookworm"));
        assert_eq!(
            h.platform.running_kernel.as_ref().unwrap().version,
            "6.1.76-1"
        );
        assert!(
            h.installed_changes.is_empty(),
            "a first inventory is no change"
        );

        let on = |lt: Option<&str>| -> Vec<String> {
            s.installed_on("xz-utils", lt)
                .unwrap()
                .iter()
                .map(|i| format!("{} {}", i.hostname, i.package.version))
                .collect()
        };
        assert_eq!(
            on(None),
            ["b 5.4.1-0.2", "a 5.6.0-0.1"],
            "by version in dpkg's order"
        );
        assert_eq!(on(Some("5.6.0")), ["b 5.4.1-0.2"]);
        assert_eq!(on(Some("5.6.0-0.1")), ["b 5.4.1-0.2"], "below, not equal");
        assert_eq!(on(Some("5.6.0-0.2")), ["b 5.4.1-0.2", "a 5.6.0-0.1"]);
        assert_eq!(on(Some("5.4")), Vec::<String>::new());
        // In the host's own order: 5.6.0~rc1 is below 5.6.0 for dpkg.
        assert!(s.installed_on("nothing", None).unwrap().is_empty());

        // Pending updates change, the inventory does not: no version change recorded.
        let mut a2 = a.clone();
        a2.inventory.updates = vec![update("bash", "5.2.15-3", None)];
        a2.collected_at = t(20);
        assert_eq!(
            s.ingest(&a2, Source::Push, t(30)).unwrap(),
            IngestOutcome::Changed
        );
        assert!(s
            .host("a", None)
            .unwrap()
            .unwrap()
            .installed_changes
            .is_empty());

        // An upgrade, a removal, an installation.
        let mut a3 = with_inventory(
            "a",
            A,
            &[
                ("xz-utils", "5.6.1+really5.4.5-1"),
                ("bash", "5.2.15-2"),
                ("curl", "7.88.1-10"),
                ("linux", "6.2-1"),
                ("linux", "6.1-1"),
            ],
        );
        a3.collected_at = t(40);
        s.ingest(&a3, Source::Push, t(50)).unwrap();
        let h = s.host("a", None).unwrap().unwrap();
        let changes: Vec<String> = h
            .installed_changes
            .iter()
            .map(|c| format!("{} {:?}->{:?}", c.name, c.old_version, c.new_version))
            .collect();
        assert_eq!(
            changes,
            [
                "curl None->Some(\"7.88.1-10\")",
                "libc6 Some(\"2.36-9\")->None",
                "linux Some(\"6.1-1\")->Some(\"6.1-1 6.2-1\")",
                "xz-utils Some(\"5.6.0-0.1\")->Some(\"5.6.1+really5.4.5-1\")",
            ]
        );
        assert_eq!(h.installed_changes[0].at, t(50));
        assert_eq!(on(None), ["b 5.4.1-0.2", "a 5.6.1+really5.4.5-1"]);

        // An older exporter's report: no inventory, never an empty one.
        let mut old = report("a", Some(A), vec![]);
        old.collected_at = t(60);
        s.ingest(&old, Source::Push, t(70)).unwrap();
        let h = s.host("a", None).unwrap().unwrap();
        assert_eq!(h.installed, None);
        assert_eq!(on(None), ["b 5.4.1-0.2"]);

        // History of versions goes with the retention.
        let out = s
            .maintain(Retention {
                remove_hosts_before: t(0),
                drop_history_before: t(60),
            })
            .unwrap();
        assert!(out.history_dropped >= 3, "{out:?}");
        assert!(s
            .host("a", None)
            .unwrap()
            .unwrap()
            .installed_changes
            .is_empty());
        assert_eq!(on(None), ["b 5.4.1-0.2"], "what hosts have stays");

        // A removed host leaves no trace in what hosts have, even when a new
        // host takes its place (SQLite reuses the highest row id).
        let out = s
            .maintain(Retention {
                remove_hosts_before: t(20),
                drop_history_before: t(0),
            })
            .unwrap();
        assert_eq!(out.hosts_removed, 1, "b, silent since t(10)");
        assert_eq!(on(None), Vec::<String>::new());
        let mut c = with_inventory(
            "c",
            "0000000000000000000000000000000c",
            &[("bash", "5.2.15-2")],
        );
        c.collected_at = t(80);
        s.ingest(&c, Source::Push, t(90)).unwrap();
        assert_eq!(on(None), Vec::<String>::new());
        let bash: Vec<String> = s
            .installed_on("bash", None)
            .unwrap()
            .iter()
            .map(|i| i.hostname.clone())
            .collect();
        assert_eq!(bash, ["c"]);
    }

    pub fn an_inventory_named_by_digest_is_taken_only_when_stored(s: &dyn Store) {
        const A: &str = "0000000000000000000000000000000a";
        let full = with_inventory("a", A, &[("xz-utils", "5.6.0-0.1"), ("bash", "5.2.15-2")]);
        s.ingest(&full, Source::Push, t(10)).unwrap();
        let mut lean = full.clone();
        lean.inventory.installed_digest = Some(installed_digest(
            full.inventory.installed.as_deref().unwrap(),
        ));
        lean.inventory.installed = None;
        lean.collected_at = t(20);
        assert_eq!(
            s.ingest(&lean, Source::Push, t(30)).unwrap(),
            IngestOutcome::Unchanged,
            "the same inventory, named by its digest"
        );
        let h = s.host("a", None).unwrap().unwrap();
        assert_eq!(h.installed.map(|v| v.len()), Some(2));
        assert_eq!(h.summary.last_report_at, t(30));
        // Pending updates changed, the inventory named by digest: kept.
        let mut lean2 = lean.clone();
        lean2.inventory.updates = vec![update("bash", "5.2.15-3", None)];
        lean2.collected_at = t(40);
        assert_eq!(
            s.ingest(&lean2, Source::Push, t(50)).unwrap(),
            IngestOutcome::Changed
        );
        let h = s.host("a", None).unwrap().unwrap();
        assert_eq!(h.installed.map(|v| v.len()), Some(2));
        assert!(h.installed_changes.is_empty());
        // A digest the store does not have: refused, nothing of it stored.
        let mut wrong = lean2.clone();
        wrong.inventory.installed_digest = Some("0".repeat(64));
        wrong.inventory.updates = vec![];
        wrong.collected_at = t(60);
        match s.ingest(&wrong, Source::Push, t(70)) {
            Err(StoreError::Conflict(Conflict::InventoryUnknown { .. })) => {}
            other => panic!("{other:?}"),
        }
        let h = s.host("a", None).unwrap().unwrap();
        assert_eq!(h.summary.counts.pending, 1);
        assert_eq!(h.summary.last_report_at, t(50));
        // A host never seen cannot begin by digest.
        let mut newcomer = lean.clone();
        newcomer.host.hostname = Hostname::parse("b").unwrap();
        newcomer.host.machine_id = Some("0000000000000000000000000000000b".into());
        match s.ingest(&newcomer, Source::Push, t(80)) {
            Err(StoreError::Conflict(Conflict::InventoryUnknown { .. })) => {}
            other => panic!("{other:?}"),
        }
        assert!(s.host("b", None).unwrap().is_none());
    }

    pub fn an_inventory_sent_as_a_delta_applies_only_to_its_base(s: &dyn Store) {
        const A: &str = "0000000000000000000000000000000a";
        let old = with_inventory(
            "a",
            A,
            &[
                ("xz-utils", "5.6.0-0.1"),
                ("bash", "5.2.15-2"),
                ("linux-image", "6.1.76-1"),
            ],
        );
        s.ingest(&old, Source::Push, t(10)).unwrap();
        let old_list = old.inventory.installed.clone().unwrap();
        let base = installed_digest(&old_list);
        let next = with_inventory(
            "a",
            A,
            &[
                ("xz-utils", "5.6.1-1"),
                ("linux-image", "6.1.76-1"),
                ("linux-image", "6.1.90-1"),
                ("curl", "7.88.1-10"),
            ],
        );
        let new_list = next.inventory.installed.clone().unwrap();
        let as_delta = |at: u64, base: &str, list: &[Installed]| {
            let mut r = next.clone();
            r.collected_at = t(at);
            r.inventory.installed = None;
            r.inventory.installed_packages = list.len() as u64;
            r.inventory.installed_digest = Some(installed_digest(list));
            r.inventory.installed_delta = Some(installed_delta(base, &old_list, list));
            r
        };
        let delta = as_delta(20, &base, &new_list);
        assert_eq!(
            delta
                .inventory
                .installed_delta
                .as_ref()
                .map(|d| (d.added.len(), d.removed.len())),
            Some((3, 2))
        );
        assert_eq!(
            s.ingest(&delta, Source::Push, t(30)).unwrap(),
            IngestOutcome::Changed
        );
        let h = s.host("a", None).unwrap().unwrap();
        let mut want = new_list.clone();
        want.sort_by(|a, b| (&a.name, &a.arch, &a.version).cmp(&(&b.name, &b.arch, &b.version)));
        assert_eq!(
            h.installed.as_ref(),
            Some(&want),
            "the inventory the delta makes"
        );
        let changes: Vec<String> = h
            .installed_changes
            .iter()
            .map(|c| format!("{} {:?} {:?}", c.name, c.old_version, c.new_version))
            .collect();
        assert_eq!(
            changes,
            [
                "bash Some(\"5.2.15-2\") None",
                "curl None Some(\"7.88.1-10\")",
                "linux-image Some(\"6.1.76-1\") Some(\"6.1.76-1 6.1.90-1\")",
                "xz-utils Some(\"5.6.0-0.1\") Some(\"5.6.1-1\")",
            ]
        );
        let on = |name: &str| -> Vec<String> {
            s.installed_on(name, None)
                .unwrap()
                .iter()
                .map(|i| format!("{} {}", i.hostname, i.package.version))
                .collect()
        };
        assert_eq!(on("xz-utils"), ["a 5.6.1-1"]);
        assert_eq!(on("bash"), Vec::<String>::new());
        assert_eq!(on("curl"), ["a 7.88.1-10"]);
        // The same delta again: its base is no longer the stored inventory.
        let again = as_delta(40, &base, &new_list);
        match s.ingest(&again, Source::Push, t(50)) {
            Err(StoreError::Conflict(Conflict::InventoryUnknown { .. })) => {}
            other => panic!("{other:?}"),
        }
        // Deltas from the stored inventory that do not make what they claim:
        // refused whole, nothing of them stored.
        let stored = new_list.clone();
        let from_stored = |at: u64, list: &[Installed]| {
            let mut r = next.clone();
            r.collected_at = t(at);
            r.inventory.updates = vec![update("curl", "7.88.1-11", None)];
            r.inventory.installed = None;
            r.inventory.installed_packages = list.len() as u64;
            r.inventory.installed_digest = Some(installed_digest(list));
            r.inventory.installed_delta =
                Some(installed_delta(&installed_digest(&stored), &stored, list));
            r
        };
        let mut newer = stored.clone();
        newer.push(Installed::new("zstd", "1.5.4-2", "amd64"));
        let mut lying = from_stored(60, &newer);
        lying.inventory.installed_digest = Some("0".repeat(64));
        let mut removes_absent = from_stored(60, &newer);
        if let Some(d) = removes_absent.inventory.installed_delta.as_mut() {
            d.removed.push(Installed::new("bash", "5.2.15-2", "amd64"));
        }
        let mut miscounted = from_stored(60, &newer);
        miscounted.inventory.installed_packages = 9;
        for bad in [lying, removes_absent, miscounted] {
            match s.ingest(&bad, Source::Push, t(70)) {
                Err(StoreError::Conflict(Conflict::DeltaDoesNotApply { why })) => {
                    assert!(!why.is_empty())
                }
                other => panic!("{other:?}"),
            }
        }
        let h = s.host("a", None).unwrap().unwrap();
        assert_eq!(h.summary.last_report_at, t(30));
        assert_eq!(h.summary.counts.pending, 0);
        assert_eq!(h.installed.map(|v| v.len()), Some(4));
        assert_eq!(on("zstd"), Vec::<String>::new());
        // The true one is taken, and the inventory then named by digest.
        assert_eq!(
            s.ingest(&from_stored(80, &newer), Source::Push, t(90))
                .unwrap(),
            IngestOutcome::Changed
        );
        assert_eq!(on("zstd"), ["a 1.5.4-2"]);
        let mut lean = from_stored(100, &newer);
        lean.inventory.installed_delta = None;
        assert_eq!(
            s.ingest(&lean, Source::Push, t(110)).unwrap(),
            IngestOutcome::Unchanged
        );
        // A host never seen cannot begin with a delta.
        let mut newcomer = as_delta(120, &base, &new_list);
        newcomer.host.hostname = Hostname::parse("b").unwrap();
        newcomer.host.machine_id = Some("0000000000000000000000000000000b".into());
        match s.ingest(&newcomer, Source::Push, t(130)) {
            Err(StoreError::Conflict(Conflict::InventoryUnknown { .. })) => {}
            other => panic!("{other:?}"),
        }
        assert!(s.host("b", None).unwrap().is_none());
    }

    pub fn a_feed_import_replaces_its_records_whole(s: &dyn Store) {
        let json = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../vulns/fixtures/debian-tracker.json"
        ))
        .unwrap();
        let mut records = Vec::new();
        pakiti_vulns::debian::read(json.as_slice(), |r| records.push(r)).unwrap();
        let total = records.len() as u64;
        let feed = |n: u64| FeedStatus {
            name: "debian".into(),
            source: "/srv/feeds/debian.json".into(),
            sha256: "ab".repeat(32),
            imported_at: t(100),
            records: n,
            feed_time: Some(t(90)),
        };
        assert!(!s.covers_release("bookworm").unwrap());
        s.import_feed(&feed(total), records.clone()).unwrap();
        assert_eq!(s.feeds().unwrap(), vec![feed(total)]);
        assert!(s.covers_release("bookworm").unwrap());
        assert!(!s.covers_release("jammy").unwrap());
        let sources = [
            "openssl".to_string(),
            "xz-utils".to_string(),
            "absent".to_string(),
        ];
        let got = s.vulnerability_records("bookworm", &sources).unwrap();
        let mut want: Vec<pakiti_vulns::Record> = records
            .iter()
            .filter(|r| r.release == "bookworm" && sources.contains(&r.source_package))
            .cloned()
            .collect();
        let key = |r: &pakiti_vulns::Record| (r.source_package.clone(), r.id.clone());
        let mut got_sorted = got.clone();
        got_sorted.sort_by_key(key);
        want.sort_by_key(key);
        assert_eq!(got_sorted, want, "every field survives");
        assert_eq!(got.len(), 2);
        // A new import replaces the feed's records.
        let fewer: Vec<pakiti_vulns::Record> = records
            .iter()
            .filter(|r| r.source_package != "openssl")
            .cloned()
            .collect();
        s.import_feed(&feed(fewer.len() as u64), fewer).unwrap();
        let got = s.vulnerability_records("bookworm", &sources).unwrap();
        assert_eq!(
            got.iter()
                .map(|r| r.source_package.as_str())
                .collect::<Vec<_>>(),
            ["xz-utils"]
        );
        assert_eq!(s.feeds().unwrap()[0].records, total - 3);
        // An OSV feed of advisories: each record keeps the advisory that
        // fixed it, and another feed's records stay.
        let osv: Vec<pakiti_vulns::Record> = pakiti_vulns::testing::osv_records("osv");
        let osv_feed = FeedStatus {
            name: "osv-debian".into(),
            records: osv.len() as u64,
            ..feed(0)
        };
        s.import_feed(&osv_feed, osv.clone()).unwrap();
        let by_advisory = |r: &pakiti_vulns::Record| (r.id.clone(), r.advisory.clone());
        let mut got = s
            .vulnerability_records("debian:12", &["openssl".to_string()])
            .unwrap();
        got.sort_by_key(by_advisory);
        let mut want: Vec<pakiti_vulns::Record> = osv
            .iter()
            .filter(|r| r.release == "debian:12" && r.source_package == "openssl")
            .cloned()
            .collect();
        want.sort_by_key(by_advisory);
        assert_eq!(got, want, "the advisory survives");
        assert_eq!(got[0].advisory.as_deref(), Some("DSA-9001-1"));
        assert_eq!(s.feeds().unwrap().len(), 2);
        assert_eq!(
            s.vulnerability_records("bookworm", &sources).unwrap().len(),
            1
        );
    }

    pub fn inventory_order_is_the_hosts_own(s: &dyn Store) {
        let mut r = with_inventory(
            "rh",
            "000000000000000000000000000000c1",
            &[("openssl", "1:3.0.7-25.el9_3")],
        );
        r.manager = Manager::Dnf;
        s.ingest(&r, Source::Push, t(10)).unwrap();
        let mut r = with_inventory(
            "arch",
            "000000000000000000000000000000c2",
            &[("openssl", "3.1.4-1")],
        );
        r.manager = Manager::Pacman;
        s.ingest(&r, Source::Push, t(10)).unwrap();
        let on = |lt: &str| -> Vec<String> {
            let mut v: Vec<String> = s
                .installed_on("openssl", Some(lt))
                .unwrap()
                .iter()
                .map(|i| i.hostname.clone())
                .collect();
            v.sort();
            v
        };
        // The epoch outranks any version for rpm; pacman's bound without a
        // release equals each of its releases.
        assert_eq!(on("3.9"), ["arch"]);
        assert_eq!(on("2:0.1"), ["arch", "rh"]);
        assert_eq!(on("3.1.4"), Vec::<String>::new());
        assert_eq!(on("3.1.4-2"), ["arch"]);
    }
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            #[test]
            fn leases_go_to_one_owner_at_a_time() {
                let dir = tempfile::tempdir().unwrap();
                let s = super::SqliteStore::open(&dir.path().join("pakiti.db")).unwrap();
                super::cases::leases_go_to_one_owner_at_a_time(&s, false);
            }
            $(#[test]
            fn $case() {
                let dir = tempfile::tempdir().unwrap();
                let s = super::SqliteStore::open(&dir.path().join("pakiti.db")).unwrap();
                super::$case(&s);
            })*
        }
        mod postgres {
            #[test]
            fn leases_go_to_one_owner_at_a_time() {
                let db = super::TestDatabase::create();
                let s = super::PgStore::connect(&db.url, super::PgOptions::default()).unwrap();
                super::cases::leases_go_to_one_owner_at_a_time(&s, true);
            }
            $(#[test]
            fn $case() {
                let db = super::TestDatabase::create();
                let s = super::PgStore::connect(&db.url, super::PgOptions::default()).unwrap();
                super::$case(&s);
            })*
        }
    };
}

#[path = "contract/findings_cases.rs"]
mod findings_cases;
#[path = "contract/running_cases.rs"]
mod running_cases;
#[path = "contract/scores_cases.rs"]
mod scores_cases;

use cases::*;
use findings_cases::*;
use inventory_cases::*;
use running_cases::*;
use scores_cases::*;

contract!(
    priorities_join_their_feeds_and_each_import_replaces_its_own,
    open_findings_stream_with_when_their_fix_became_installable,
    decisions_are_kept_and_every_change_is_audited,
    findings_detected_and_resolved_are_counted_by_severity,
    what_a_host_runs_is_kept_counted_and_cleared,
    fixes_behind_an_entitlement_are_kept_counted_and_cleared,
    held_security_fixes_are_counted_by_severity,
    the_inventory_is_kept_queried_and_its_changes_recorded,
    an_inventory_named_by_digest_is_taken_only_when_stored,
    an_inventory_sent_as_a_delta_applies_only_to_its_base,
    a_feed_import_replaces_its_records_whole,
    findings_keep_their_exposure_times,
    findings_of_an_older_match_are_not_written,
    findings_of_many_hosts_are_written_together_each_by_its_own_rule,
    inventory_order_is_the_hosts_own,
    outcomes_new_unchanged_changed,
    first_seen_times_give_patch_age,
    a_machine_id_keeps_one_host_across_renames,
    history_records_changes_of_counts_only,
    maintenance_removes_silent_hosts_and_old_history,
    hosts_affected_by_a_package_an_advisory_or_a_cve,
    affected_rows_come_a_page_at_a_time,
    no_report_overwrites_what_its_writer_does_not_own,
    equal_host_names_in_two_sites_are_two_hosts,
    a_stored_report_is_queued_with_it_and_records_its_forwarder,
    the_queue_cap_drops_the_oldest_statistics_first,
    the_queue_is_capped_by_bytes_too_and_counts_follow_removals,
    site_statistics_keep_the_latest_per_server_and_site,
);
