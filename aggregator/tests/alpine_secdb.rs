//! Alpine's secdb end to end: `feeds import` of a branch's `main.json` (one
//! feed per branch and repository), an Alpine host pushed with its apk
//! inventory (binary packages with their origin), its findings matched by
//! origin in apk's order, and the branch's "never affected" ids left out.

mod process;

use pakiti_report::*;
use process::{findings, get, import, push, start};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../vulns/fixtures/alpine/v3.20-main.json"
);

fn alpine_host() -> Report {
    let mut r = testing::report(
        "alp-01",
        Some(&format!("{:032x}", 78)),
        None,
        vec![testing::update(
            "libcrypto3",
            "3.3.2-r1",
            "3.3.2-r10",
            Some(Severity::Unknown),
        )],
    );
    r.inventory.updates[0].arch = "x86_64".into();
    r.manager = Manager::Apk;
    r.os.id = "alpine".into();
    r.os.version = "3.20.3".into();
    r.os.codename = None;
    let p = |name: &str, version: &str, origin: &str| Installed {
        source_name: origin.into(),
        source_version: version.into(),
        ..Installed::new(name, version, "x86_64")
    };
    let installed = vec![
        // Binary packages of the origin openssl.
        p("libcrypto3", "3.3.2-r1", "openssl"),
        p("libssl3", "3.3.2-r1", "openssl"),
        p("busybox", "1.36.1-r29", "busybox"),
        p("curl", "8.9.0-r0", "curl"),
        p("zlib", "1.3.1-r1", "zlib"),
    ];
    r.inventory.installed_packages = installed.len() as u64;
    r.inventory.installed = Some(installed);
    r
}

#[test]
fn an_alpine_host_is_matched_against_its_branch_s_secdb() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pakiti.db");
    let main = dir.path().join("main.json");
    std::fs::copy(FIXTURE, &main).unwrap();
    let out = import(&db, &[&main]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("alpine-secdb-3.20-main: 7 records from "),
        "{stdout}"
    );
    // Another repository of the branch is another feed: both stay.
    let community = dir.path().join("community.json");
    std::fs::write(
        &community,
        r#"{"reponame":"community","distroversion":"v3.20","packages":[{"pkg":{"name":"vim","secfixes":{"9.1.0-r0":["CVE-2026-20010"]}}}]}"#,
    )
    .unwrap();
    let out = import(&db, &[&community]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("alpine-secdb-3.20-community: 1 records")
    );

    let (_server, base) = start(&db);
    push(&base, &alpine_host());
    let v = get(&base, "/api/v1/hosts/alp-01/vulnerabilities");
    assert_eq!(v["release"], "alpine:3.20", "{v}");
    let rows = findings(
        &base,
        "alp-01",
        &["package", "id", "status", "fixed_version", "fix_available"],
    );
    // openssl 3.3.2-r1 has the -r0 fix of CVE-2026-20001; -r9 (below -r10
    // in apk's order) is still ahead; the candidate -r10 reaches it for the
    // binary package it is pending for.
    assert_eq!(
        rows,
        [
            "curl CVE-2026-20006 fixed 8.9.1-r0 fix_available=false",
            "libcrypto3 CVE-2026-20002 fixed 3.3.2-r9 fix_available=true",
            "libssl3 CVE-2026-20002 fixed 3.3.2-r9 fix_available=false",
        ],
        "{v}"
    );
    let feeds = get(&base, "/api/v1/vulnerabilities");
    assert!(feeds.to_string().contains("CVE-2026-20002"), "{feeds}");
}
