//! Priorities others publish (KEV, EPSS): each feed replaces its own rows,
//! and a vulnerability's score joins what every feed says of it.

use super::*;
use pakiti_store::{FeedStatus, Score};

fn feed(name: &str, n: u64, at: u64) -> FeedStatus {
    FeedStatus {
        name: name.into(),
        source: format!("/srv/feeds/{name}"),
        sha256: "cd".repeat(32),
        imported_at: t(at),
        records: n,
        feed_time: Some(t(at - 10)),
    }
}

fn kev(id: &str, added: i64, due: i64, ransomware: bool) -> Score {
    Score {
        id: id.into(),
        kev_added: Some(added),
        kev_due: Some(due),
        ransomware,
        ..Score::default()
    }
}

fn epss(id: &str, e: f64, p: f64) -> Score {
    Score {
        id: id.into(),
        epss: Some(e),
        percentile: Some(p),
        ..Score::default()
    }
}

pub fn priorities_join_their_feeds_and_each_import_replaces_its_own(s: &dyn Store) {
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    s.import_scores(
        &feed("kev", 2, 100),
        vec![
            kev("CVE-2024-3094", 20_000, 20_021, true),
            kev("CVE-2021-44228", 18_971, 18_985, false),
        ],
    )
    .unwrap();
    s.import_scores(
        &feed("epss", 2, 110),
        vec![
            epss("CVE-2024-3094", 0.84, 0.99),
            epss("CVE-2026-0001", 0.0004, 0.1),
        ],
    )
    .unwrap();
    let got = s
        .scores(&ids(&[
            "CVE-2026-0001",
            "CVE-2024-3094",
            "CVE-2024-3094",
            "CVE-1999-0001",
        ]))
        .unwrap();
    assert_eq!(
        got,
        vec![
            Score {
                epss: Some(0.84),
                percentile: Some(0.99),
                ..kev("CVE-2024-3094", 20_000, 20_021, true)
            },
            epss("CVE-2026-0001", 0.0004, 0.1),
        ]
    );
    let names: Vec<_> = s
        .feeds()
        .unwrap()
        .into_iter()
        .map(|f| (f.name, f.records))
        .collect();
    assert_eq!(names, vec![("epss".into(), 2), ("kev".into(), 2)]);
    // A new catalog replaces the old one whole; EPSS stays.
    s.import_scores(
        &feed("kev", 1, 200),
        vec![kev("CVE-2021-44228", 18_971, 18_985, false)],
    )
    .unwrap();
    let got = s
        .scores(&ids(&["CVE-2024-3094", "CVE-2021-44228"]))
        .unwrap();
    assert_eq!(
        got,
        vec![
            kev("CVE-2021-44228", 18_971, 18_985, false),
            epss("CVE-2024-3094", 0.84, 0.99)
        ]
    );
    assert_eq!(s.scores(&[]).unwrap(), vec![]);
}

pub fn decisions_are_kept_and_every_change_is_audited(s: &dyn Store) {
    use pakiti_store::AuditEntry;
    assert_eq!(s.decisions().unwrap(), vec![]);
    let body = r#"{"state":"accepted_risk","reason":"internal","owner":"alice","expires":"2027-01-31","site":"SiteA"}"#;
    let id = s
        .add_decision("exception", "CVE-2024-3094", body, "alice", t(100))
        .unwrap();
    let tag = s
        .add_decision(
            "tag",
            "CVE-2024-3094",
            r#"{"name":"incident","reason":"r"}"#,
            "bob",
            t(110),
        )
        .unwrap();
    assert_ne!(id, tag);
    let d = s.decisions().unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(
        (
            d[0].id,
            d[0].kind.as_str(),
            d[0].body.as_str(),
            d[0].created_by.as_str(),
            d[0].created_at
        ),
        (id, "exception", body, "alice", t(100))
    );
    assert!(s.remove_decision(id, "carol", t(200)).unwrap());
    assert!(
        !s.remove_decision(id, "carol", t(201)).unwrap(),
        "gone already"
    );
    s.audit_decisions(&[AuditEntry {
        at: t(300),
        who: "decisions file".into(),
        action: "added".into(),
        kind: "tag".into(),
        vulnerability: "CVE-2021-44228".into(),
        before: None,
        after: Some("{}".into()),
    }])
    .unwrap();
    let log = s.decision_audit(Some("CVE-2024-3094")).unwrap();
    let lines: Vec<_> = log
        .iter()
        .map(|e| {
            (
                e.who.as_str(),
                e.action.as_str(),
                e.kind.as_str(),
                e.before.is_some(),
                e.after.is_some(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("alice", "added", "exception", false, true),
            ("bob", "added", "tag", false, true),
            ("carol", "removed", "exception", true, false)
        ]
    );
    assert_eq!(log[2].before.as_deref(), Some(body));
    assert_eq!(s.decision_audit(None).unwrap().len(), 4);
    assert_eq!(
        s.decisions()
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        [tag]
    );
}
