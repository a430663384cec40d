//! What a host runs beside what it has installed (the report's `running`):
//! kept whole for its page, counted for the fleet, changed and cleared by
//! later reports, and unknown (never zero) where the host did not say.

use super::*;
use pakiti_store::{RestartCounts, RunningCounts};

fn unit(name: &str, packages: &[&str]) -> RestartUnit {
    RestartUnit {
        unit: name.into(),
        packages: packages.iter().map(|p| p.to_string()).collect(),
    }
}

pub fn what_a_host_runs_is_kept_counted_and_cleared(s: &dyn Store) {
    let mut r = report("web-01", MID, vec![]);
    s.ingest(&r, Source::Push, t(10)).unwrap();
    let h = s.host("web-01", None).unwrap().unwrap();
    assert_eq!(
        h.summary.running,
        RunningCounts::default(),
        "not said: unknown"
    );
    assert_eq!(h.running, Running::default());

    r.inventory.running = Running {
        restart: Some(Restart {
            processes: 5,
            sessions: 1,
            unreadable: 2,
            units: vec![
                unit("nginx.service", &["libssl3", "libc6"]),
                unit("cron.service", &[]),
            ],
        }),
        livepatches: Some(vec![
            LivePatch {
                name: "lkp_Ubuntu_5_15_0_91".into(),
                enabled: true,
                transition: false,
            },
            LivePatch {
                name: "kpatch_old".into(),
                enabled: false,
                transition: false,
            },
        ]),
        livepatch_state: Some("applied".into()),
    };
    r.collected_at = t(20);
    assert_eq!(
        s.ingest(&r, Source::Push, t(30)).unwrap(),
        IngestOutcome::Changed,
        "what runs changing is a change"
    );
    let h = s.host("web-01", None).unwrap().unwrap();
    let counts = RunningCounts {
        restart: Some(RestartCounts {
            processes: 5,
            units: 2,
            sessions: 1,
        }),
        livepatches: Some(1),
    };
    assert_eq!(h.summary.running, counts);
    assert_eq!(h.running, r.inventory.running);
    assert_eq!(s.hosts().unwrap()[0].running, counts, "the fleet's list");

    // Restarted, and the kernel's live patching no longer visible.
    r.inventory.running = Running {
        restart: Some(Restart::default()),
        livepatches: None,
        livepatch_state: None,
    };
    r.collected_at = t(40);
    assert_eq!(
        s.ingest(&r, Source::Push, t(50)).unwrap(),
        IngestOutcome::Changed
    );
    let h = s.host("web-01", None).unwrap().unwrap();
    assert_eq!(
        h.summary.running,
        RunningCounts {
            restart: Some(RestartCounts::default()),
            livepatches: None,
        }
    );
    assert_eq!(h.running, r.inventory.running);
}

/// Fixes behind a channel the host is not entitled to (the report's
/// `unentitled`): kept for its page, counted for the fleet, unknown where the
/// host did not say, and a change of them alone is a change.
pub fn fixes_behind_an_entitlement_are_kept_counted_and_cleared(s: &dyn Store) {
    use pakiti_store::UnentitledCounts;
    let fix = |name: &str, channel: &str, security: bool| pakiti_report::Unentitled {
        name: name.into(),
        arch: "amd64".into(),
        installed_version: "1.0-1".into(),
        version: "1.0-1+esm1".into(),
        channel: channel.into(),
        security,
    };
    let mut r = report("web-01", MID, vec![]);
    s.ingest(&r, Source::Push, t(10)).unwrap();
    let h = s.host("web-01", None).unwrap().unwrap();
    assert_eq!(h.summary.unentitled, None, "not said: unknown");
    assert_eq!(h.unentitled, None);

    r.inventory.unentitled = Some(vec![
        fix("curl", "esm-infra", true),
        fix("tzdata", "esm-infra", false),
        fix("vim", "esm-apps", true),
    ]);
    r.collected_at = t(20);
    assert_eq!(
        s.ingest(&r, Source::Push, t(30)).unwrap(),
        IngestOutcome::Changed,
        "fixes behind an entitlement changing is a change"
    );
    let h = s.host("web-01", None).unwrap().unwrap();
    let counts = Some(UnentitledCounts {
        updates: 3,
        security: 2,
    });
    assert_eq!(h.summary.unentitled, counts);
    assert_eq!(h.unentitled, r.inventory.unentitled);
    assert_eq!(s.hosts().unwrap()[0].unentitled, counts, "the fleet's list");

    // Attached: nothing behind an entitlement, which is not "unknown".
    r.inventory.unentitled = Some(vec![]);
    r.collected_at = t(40);
    assert_eq!(
        s.ingest(&r, Source::Push, t(50)).unwrap(),
        IngestOutcome::Changed
    );
    let h = s.host("web-01", None).unwrap().unwrap();
    assert_eq!(
        h.summary.unentitled,
        Some(UnentitledCounts {
            updates: 0,
            security: 0
        })
    );
    assert_eq!(h.unentitled, Some(vec![]));
    r.inventory.unentitled = None;
    r.collected_at = t(60);
    s.ingest(&r, Source::Push, t(70)).unwrap();
    let h = s.host("web-01", None).unwrap().unwrap();
    assert_eq!(h.summary.unentitled, None);
    assert_eq!(h.unentitled, None);
}

/// The security updates among the held ones, by severity: counted with the
/// host for /federate, changed by later reports.
pub fn held_security_fixes_are_counted_by_severity(s: &dyn Store) {
    let held = |name: &str, sev: Option<Severity>| Update {
        held: Some(HeldReason::KeptBack),
        ..update(name, "2", sev)
    };
    let r = report(
        "web-01",
        MID,
        vec![
            held("openssl", Some(Severity::Critical)),
            held("curl", Some(Severity::Critical)),
            held("vim", None),
            held("zlib", Some(Severity::Low)),
            update("bash", "2", Some(Severity::Important)),
        ],
    );
    s.ingest(&r, Source::Push, t(10)).unwrap();
    let h = s.host("web-01", None).unwrap().unwrap();
    assert_eq!(h.summary.held_security, [2, 0, 0, 1, 0]);
    assert_eq!(s.hosts().unwrap()[0].held_security, [2, 0, 0, 1, 0]);
    let mut r = r;
    r.inventory.updates[0].held = None;
    r.collected_at = t(20);
    s.ingest(&r, Source::Push, t(30)).unwrap();
    assert_eq!(s.hosts().unwrap()[0].held_security, [1, 0, 0, 1, 0]);
}
