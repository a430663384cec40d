//! Reading Red Hat's and SUSE's CSAF VEX documents, and matching hosts with them.

use super::*;
use pakiti_report::Severity;

fn fixture(name: &str) -> (ReadOne, Vec<Record>) {
    let dir = if name.starts_with("suse") {
        "suse-vex"
    } else {
        "redhat-vex"
    };
    let json = std::fs::read(format!(
        "{}/fixtures/{dir}/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut out = Vec::new();
    let one = read_one(&json, |r| out.push(r)).unwrap();
    (one, out)
}

fn find<'a>(records: &'a [Record], pkg: &str, release: &str) -> &'a Record {
    records
        .iter()
        .find(|r| r.source_package == pkg && r.release == release)
        .unwrap_or_else(|| panic!("{pkg} {release}: {records:#?}"))
}

#[test]
fn binary_rpms_streams_and_statuses_read_as_the_table_says() {
    let (one, records) = fixture("cve-2026-30001.json");
    let libs = find(&records, "openssl-libs", "rhel:9");
    // The epoch is only in the purl; x86_64 and aarch64 give one record.
    assert_eq!(libs.status, Status::Fixed("1:3.0.7-27.el9".into()));
    assert_eq!(libs.advisory.as_deref(), Some("RHSA-2026:30011"));
    assert_eq!(libs.severity, Severity::Important);
    assert_eq!(
        find(&records, "openssl-perl", "rhel:9").status,
        Status::Fixed("1:3.0.7-27.el9".into())
    );
    let eus = find(&records, "openssl-libs", "rhel-eus:9.2");
    assert_eq!(eus.status, Status::Fixed("1:3.0.7-18.el9_2".into()));
    assert_eq!(eus.advisory.as_deref(), Some("RHSA-2026:30012"));
    let el8 = find(&records, "srpm:openssl", "rhel:8");
    assert_eq!(el8.status, Status::Unfixed);
    assert_eq!(el8.severity, Severity::Moderate, "the product's own impact");
    assert_eq!(
        find(&records, "srpm:openssl", "rhel:7").status,
        Status::EndOfLife
    );
    assert_eq!(
        find(&records, "srpm:openssl", "rhel:7").severity,
        Severity::Important,
        "the document's"
    );
    // The module stream's package, under its stream; OpenShift left out.
    assert_eq!(
        find(&records, "nodejs:18/nodejs", "rhel:8").status,
        Status::Fixed("1:18.20.4-1.module+el8.10.0+22211+e71d5e9b".into())
    );
    assert!(records.iter().all(|r| r.release.starts_with("rhel")));
    assert_eq!(one.left_out, 1);
    assert_eq!(records.len(), 7, "{records:#?}");
    assert!(records.iter().all(|r| r.id == "CVE-2026-30001"));
}

#[test]
fn source_rpms_not_affected_and_will_not_fix_read_as_the_table_says() {
    let (_, records) = fixture("cve-2026-30002.json");
    let curl = find(&records, "srpm:curl", "rhel:9");
    assert_eq!(curl.status, Status::Fixed("7.76.1-31.el9".into()));
    assert_eq!(curl.advisory.as_deref(), Some("RHSA-2026:30021"));
    assert_eq!(curl.severity, Severity::Moderate);
    assert_eq!(
        find(&records, "srpm:curl", "rhel:8").status,
        Status::NotAffected
    );
    assert_eq!(
        find(&records, "srpm:libtiff", "rhel:9").status,
        Status::WontFix
    );
    assert_eq!(records.len(), 3);
}

#[test]
fn purls_give_the_package_and_its_epoch_version_release() {
    assert_eq!(
        purl("pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1"),
        Some(Package {
            name: "openssl-libs".into(),
            evr: Some("1:3.0.7-27.el9".into()),
            arch: Some("x86_64".into()),
            module: None,
        })
    );
    assert_eq!(
        purl("pkg:rpm/redhat/bash@5.1.8-9.el9?arch=src&epoch=0")
            .unwrap()
            .evr
            .as_deref(),
        Some("5.1.8-9.el9")
    );
    assert_eq!(
        purl("pkg:rpm/redhat/nodejs@18.20.4-1.module%2Bel8.10.0?arch=x86_64&rpmmod=nodejs:18:1:a")
            .unwrap()
            .evr
            .as_deref(),
        Some("18.20.4-1.module+el8.10.0")
    );
    assert!(purl("pkg:rpm/redhat/a@1-1%2").is_none(), "a broken escape");
    assert!(purl("pkg:rpm/redhat/").is_none());
    assert!(purl("pkg:deb/debian/openssl").is_none());
}

#[test]
fn what_is_not_a_csaf_vex_document_fails() {
    for (json, words) in [
        (
            r#"{"document":{"category":"csaf_security_advisory"}}"#,
            "not a CSAF VEX document",
        ),
        (
            r#"{"document":{"category":"csaf_vex"}}"#,
            "no \"vulnerabilities\"",
        ),
        ("[1,2]", "not a CSAF VEX document"),
        ("{", "not JSON"),
    ] {
        let err = read_one(json.as_bytes(), |_| {}).unwrap_err().to_string();
        assert!(err.contains(words), "{json}: {err}");
    }
}

/// A RHEL 9.4 host and an AlmaLinux one: fixes by binary name in rpm's
/// order (`.el9_4` after `.el9`), unfixed and won't-fix statuses by the
/// source RPM, the EUS stream only for a host on it.
#[test]
fn hosts_are_matched_by_binary_then_by_source_rpm() {
    use crate::{match_host, HostPackages, Index};
    use pakiti_report::Installed;
    use std::collections::HashMap;
    let records: Vec<Record> = ["cve-2026-30001.json", "cve-2026-30002.json"]
        .iter()
        .flat_map(|f| fixture(f).1)
        .collect();
    let pkg = |name: &str, evr: &str, source: &str, source_evr: &str| Installed {
        source_name: source.into(),
        source_version: source_evr.into(),
        ..Installed::new(name, evr, "x86_64")
    };
    let installed = vec![
        pkg(
            "openssl-libs",
            "1:3.0.7-25.el9_3",
            "openssl",
            "1:3.0.7-25.el9_3",
        ),
        // A z-stream build newer than the fix: .el9_4 sorts after .el9.
        pkg("openssl", "1:3.0.7-27.el9_4", "openssl", "1:3.0.7-27.el9_4"),
        pkg("libcurl", "7.76.1-29.el9", "curl", "7.76.1-29.el9"),
        pkg("libtiff", "4.4.0-12.el9", "libtiff", "4.4.0-12.el9"),
    ];
    let candidates: HashMap<(String, String), String> = [(
        ("openssl-libs".to_string(), "x86_64".to_string()),
        "1:3.0.7-27.el9".to_string(),
    )]
    .into();
    let run = |releases: &[&str], installed: &[Installed]| {
        let releases: Vec<String> = releases.iter().map(|r| r.to_string()).collect();
        let mut got: Vec<String> = match_host(
            &HostPackages {
                scheme: pakiti_versions::Scheme::Rpm,
                releases: &releases,
                installed,
                candidates: &candidates,
                running_kernel: None,
            },
            Index::new(records.clone()),
        )
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {} {}",
                f.package,
                f.source_package,
                f.status.as_str(),
                f.fixed_version.as_deref().unwrap_or("-"),
                f.fix_available
            )
        })
        .collect();
        got.sort();
        got
    };
    assert_eq!(
        run(&["rhel:9"], &installed),
        [
            "libcurl curl fixed 7.76.1-31.el9 false",
            "libtiff libtiff wont_fix - false",
            "openssl-libs openssl-libs fixed 1:3.0.7-27.el9 true",
        ]
    );
    // On EUS 9.2 (its stream first): the EUS fix decides for openssl-libs,
    // not the main stream's later one.
    let eus = [pkg(
        "openssl-libs",
        "1:3.0.7-16.el9_2",
        "openssl",
        "1:3.0.7-16.el9_2",
    )];
    assert_eq!(
        run(&["rhel-eus:9.2", "rhel:9"], &eus),
        ["openssl-libs openssl-libs fixed 1:3.0.7-18.el9_2 true"]
    );
    // RHEL 8: unfixed through the source RPM; curl not affected.
    let el8: Vec<Installed> = vec![
        pkg(
            "openssl-libs",
            "1:1.1.1k-12.el8_9",
            "openssl",
            "1:1.1.1k-12.el8_9",
        ),
        pkg("curl", "7.61.1-34.el8", "curl", "7.61.1-34.el8"),
    ];
    let releases = vec!["rhel:8".to_string()];
    let found = match_host(
        &HostPackages {
            scheme: pakiti_versions::Scheme::Rpm,
            releases: &releases,
            installed: &el8,
            candidates: &HashMap::new(),
            running_kernel: None,
        },
        Index::new(records.clone()),
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (
            found[0].package.as_str(),
            found[0].source_package.as_str(),
            found[0].status.as_str()
        ),
        ("openssl-libs", "openssl", "unfixed")
    );
}

/// Every rpm version decision of these tests, asked of rpm itself (its
/// Lua `rpm.vercmp`): pakiti's order agrees.
#[test]
fn rpm_agrees_with_every_version_decision_here() {
    let pairs = [
        ("1:3.0.7-25.el9_3", "1:3.0.7-27.el9"),
        ("1:3.0.7-27.el9_4", "1:3.0.7-27.el9"),
        ("1:3.0.7-16.el9_2", "1:3.0.7-18.el9_2"),
        ("1:3.0.7-27.el9", "1:3.0.7-18.el9_2"),
        ("7.76.1-29.el9", "7.76.1-31.el9"),
        ("3.0.7-27.el9", "1:3.0.7-27.el9"),
        ("1:3.0.7-27.el9.alma.1", "1:3.0.7-27.el9"),
    ];
    let expr: String = pairs
        .iter()
        .map(|(a, b)| format!("%{{lua:print(rpm.vercmp(\"{a}\",\"{b}\"))}} "))
        .collect();
    let out = std::process::Command::new("rpm")
        .args(["--eval", &expr])
        .output()
        .expect("rpm is installed (tests/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let rpm: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(rpm.len(), pairs.len(), "{text}");
    for ((a, b), said) in pairs.iter().zip(rpm) {
        let ours = match pakiti_versions::compare(pakiti_versions::Scheme::Rpm, a, b) {
            std::cmp::Ordering::Less => "-1",
            std::cmp::Ordering::Equal => "0",
            std::cmp::Ordering::Greater => "1",
        };
        assert_eq!(ours, said, "{a} vs {b}");
    }
}

/// SUSE's shape: binary packages of a service pack, the same fix in LTSS
/// (its own channel), an older service pack out of support, openSUSE Leap.
#[test]
fn suse_s_streams_and_ltss_read_as_their_own_releases() {
    let (one, records) = fixture("suse-cve-2026-40001.json");
    let sp6 = find(&records, "libopenssl3", "sles:15.6");
    assert_eq!(sp6.status, Status::Fixed("3.1.4-150600.5.15.1".into()));
    assert_eq!(sp6.advisory.as_deref(), Some("SUSE-SU-2026:40011-1"));
    assert_eq!(sp6.severity, Severity::Important);
    assert_eq!(
        find(&records, "libopenssl3", "sles-ltss:15.3").status,
        Status::Fixed("3.0.8-150300.3.40.1".into())
    );
    assert_eq!(
        find(&records, "srpm:openssl-3", "sles:15.2").status,
        Status::EndOfLife
    );
    assert_eq!(
        find(&records, "libopenssl3", "opensuse-leap:15.6").status,
        Status::Fixed("3.1.4-150600.5.15.1".into())
    );
    assert_eq!(one.left_out, 1, "SUSE Manager is no host's release");
    assert_eq!(records.len(), 4, "{records:#?}");
}

/// A module stream's fix reaches the host's package of that stream only:
/// not another stream's, not a package outside modules.
#[test]
fn a_module_stream_s_fix_reaches_that_stream_alone() {
    use crate::{match_host, HostPackages, Index};
    use pakiti_report::Installed;
    use std::collections::HashMap;
    let (_, records) = fixture("cve-2026-30001.json");
    let nodejs = |version: &str, module: Option<&str>| Installed {
        source_name: "nodejs".into(),
        source_version: version.into(),
        module: module.map(str::to_string),
        ..Installed::new("nodejs", version, "x86_64")
    };
    let run = |p: Installed| {
        let releases = vec!["rhel:8".to_string()];
        match_host(
            &HostPackages {
                scheme: pakiti_versions::Scheme::Rpm,
                releases: &releases,
                installed: &[p],
                candidates: &HashMap::new(),
                running_kernel: None,
            },
            Index::new(records.clone()),
        )
        .into_iter()
        .map(|f| format!("{} {}", f.source_package, f.status.as_str()))
        .collect::<Vec<_>>()
    };
    let old18 = "1:18.19.0-1.module+el8.9.0+21019+a9b5aa4b";
    assert_eq!(
        run(nodejs(
            old18,
            Some("nodejs:18:8090020231120082734:a75119d5")
        )),
        ["nodejs:18/nodejs fixed"]
    );
    // nodejs 20's stream: 1:20.x is past 1:18.20.4 anyway, and another
    // stream's version below it must not read as affected either.
    assert!(run(nodejs(
        "1:16.20.2-1.module+el8.9.0+1+a",
        Some("nodejs:16:8090020231120082734:a75119d5")
    ))
    .is_empty());
    assert!(run(nodejs(old18, None)).is_empty(), "outside modules");
    assert_eq!(
        crate::module_stream("nodejs:18:8090020231120082734:rhel9").as_deref(),
        Some("nodejs:18")
    );
    assert_eq!(crate::module_stream("nodejs"), None);
}
