//! Plausible reports for tests and benchmarks, so that each test states only
//! what it cares about. Not used by the programs themselves.

use std::time::{Duration, SystemTime};

use crate::model::*;

/// A Debian host with `updates` pending, collected now.
pub fn report(
    hostname: &str,
    machine_id: Option<&str>,
    site: Option<&str>,
    updates: Vec<Update>,
) -> Report {
    Report {
        host: HostIdentity {
            hostname: Hostname::parse(hostname).expect("a valid test host name"),
            machine_id: machine_id.map(str::to_string),
            site: site.map(str::to_string),
        },
        os: OsInfo {
            id: "debian".into(),
            version: "12".into(),
            pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
            codename: Some("bookworm".into()),
            ..OsInfo::default()
        },
        kernel: "6.1.0".into(),
        arch: "x86_64".into(),
        manager: Manager::Apt,
        producer: Producer {
            version: "0.1.0".into(),
            revision: "test".into(),
        },
        collected_at: SystemTime::now(),
        collection_duration: Duration::from_millis(800),
        inventory: Inventory {
            updates,
            installed_packages: 400,
            reboot: Reboot::default(),
            metadata_updated_at: None,
            security_metadata_available: true,
            ..Inventory::default()
        },
    }
}

/// An amd64 update from `installed` to `candidate`.
pub fn update(name: &str, installed: &str, candidate: &str, security: Option<Severity>) -> Update {
    Update {
        name: name.into(),
        arch: "amd64".into(),
        installed_version: installed.into(),
        candidate_version: candidate.into(),
        security,
        held: None,
        repository: None,
        advisories: vec![],
        cves: vec![],
    }
}
