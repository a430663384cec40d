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
