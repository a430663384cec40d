//! Red Hat's CSAF VEX end to end: its bulk archive (`csaf_vex_….tar.zst`,
//! one document per CVE, read one at a time) imported as `redhat-vex`; a
//! RHEL 9 host matched by binary package and by source RPM; an AlmaLinux 9
//! host matched first by AlmaLinux's own advisory (a fix later than RHEL's,
//! under its own release suffix), then by what RHEL leaves unfixed or will
//! not fix. SUSE's: a SLES 15 SP6 host, and one on SP3's LTSS channel.

mod process;

use std::process::Command;

use pakiti_report::*;
use process::{get, import, push, start};

const VEX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../vulns/fixtures/redhat-vex");

fn host(name: &str, machine: u32, os_id: &str, suffix: &str) -> Report {
    let mut r = testing::report(name, Some(&format!("{machine:032x}")), None, vec![]);
    r.manager = Manager::Dnf;
    r.os.id = os_id.into();
    r.os.version = "9.4".into();
    r.os.codename = None;
    let p = |name: &str, evr: &str, source: &str| Installed {
        source_name: source.into(),
        source_version: evr.into(),
        ..Installed::new(name, evr, "x86_64")
    };
    let installed = vec![
        p(
            "openssl-libs",
            &format!("1:3.0.7-27.el9{suffix}"),
            "openssl",
        ),
        p("libcurl", &format!("7.76.1-29.el9{suffix}"), "curl"),
        p("libtiff", &format!("4.4.0-12.el9{suffix}"), "libtiff"),
        p("bash", &format!("5.1.8-9.el9{suffix}"), "bash"),
    ];
    r.inventory.installed_packages = installed.len() as u64;
    r.inventory.installed = Some(installed);
    r
}

/// A host's findings: package, id, status, fixed version, one line each.
fn rows(base: &str, host: &str) -> Vec<String> {
    process::findings(base, host, &["package", "id", "status", "fixed_version"])
}

#[test]
fn rhel_and_its_rebuilds_are_matched_against_red_hat_s_vex() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pakiti.db");
    let archive = dir.path().join("csaf_vex_2026-12-01.tar.zst");
    let tar = Command::new("tar")
        .arg("--zstd")
        .arg("-cf")
        .arg(&archive)
        .args(["-C", VEX, "cve-2026-30001.json", "cve-2026-30002.json"])
        .status()
        .unwrap();
    assert!(tar.success());
    // AlmaLinux's own advisory of the first CVE: a later build than RHEL's fix.
    let alsa = dir.path().join("ALSA-2026-30001.json");
    std::fs::write(
        &alsa,
        r#"{"schema_version":"1.6.0","id":"ALSA-2026:30001","modified":"2026-11-22T00:00:00Z",
            "related":["CVE-2026-30001"],"summary":"Important: openssl security update",
            "affected":[{"package":{"ecosystem":"AlmaLinux:9","name":"openssl-libs"},
              "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:3.0.7-28.el9.alma.1"}]}]}]}"#,
    )
    .unwrap();
    let out = import(&db, &[&archive, &alsa]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("redhat-vex: 10 records from "), "{stdout}");
    assert!(
        stdout.contains("osv-almalinux: 1 records from "),
        "{stdout}"
    );

    let (_server, base) = start(&db);
    push(&base, &host("rhel-01", 31, "rhel", ""));
    push(&base, &host("alma-01", 32, "almalinux", ".alma.1"));
    // RHEL: openssl-libs has RHEL's fix; curl's source RPM is below its fix;
    // libtiff will not be fixed; bash has no record.
    assert_eq!(
        rows(&base, "rhel-01"),
        [
            "libcurl CVE-2026-30002 fixed 7.76.1-31.el9",
            "libtiff CVE-2026-30002 wont_fix -",
        ]
    );
    // AlmaLinux: its own fix decides openssl-libs (27.el9.alma.1 is past
    // RHEL's 27.el9, not past Alma's 28); the rest as RHEL says.
    assert_eq!(
        rows(&base, "alma-01"),
        [
            "libcurl CVE-2026-30002 fixed 7.76.1-31.el9",
            "libtiff CVE-2026-30002 wont_fix -",
            "openssl-libs CVE-2026-30001 fixed 1:3.0.7-28.el9.alma.1",
        ]
    );
    let v = get(&base, "/api/v1/hosts/rhel-01/vulnerabilities");
    assert!(
        v.to_string()
            .contains("https://access.redhat.com/security/cve/CVE-2026-30002"),
        "{v}"
    );
}

#[test]
fn sles_hosts_are_matched_against_suse_s_vex_ltss_as_its_own_channel() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pakiti.db");
    let doc = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../vulns/fixtures/suse-vex/suse-cve-2026-40001.json"
    );
    let out = import(&db, &[std::path::Path::new(doc)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("suse-vex: 4 records from "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let config = dir.path().join("aggregator.toml");
    std::fs::write(
        &config,
        "[feeds.releases]\n\"sles:15.3\" = \"sles-ltss:15.3\"\n",
    )
    .unwrap();
    let (_server, base) = process::start_with(&db, &config);
    let sles = |name: &str, machine: u32, version: &str, evr: &str| {
        let mut r = testing::report(name, Some(&format!("{machine:032x}")), None, vec![]);
        r.manager = Manager::Zypper;
        r.os.id = "sles".into();
        r.os.version = version.into();
        r.os.codename = None;
        let installed = vec![Installed {
            source_name: "openssl-3".into(),
            source_version: evr.into(),
            ..Installed::new("libopenssl3", evr, "x86_64")
        }];
        r.inventory.installed_packages = 1;
        r.inventory.installed = Some(installed);
        r
    };
    push(&base, &sles("sles-sp6", 41, "15.6", "3.1.4-150600.5.12.1"));
    push(&base, &sles("sles-sp3", 42, "15.3", "3.0.8-150300.3.35.1"));
    assert_eq!(
        rows(&base, "sles-sp6"),
        ["libopenssl3 CVE-2026-40001 fixed 3.1.4-150600.5.15.1"]
    );
    // SP3 is on LTSS: the fix LTSS carries.
    assert_eq!(
        rows(&base, "sles-sp3"),
        ["libopenssl3 CVE-2026-40001 fixed 3.0.8-150300.3.40.1"]
    );
    let v = get(&base, "/api/v1/hosts/sles-sp6/vulnerabilities");
    assert!(
        v.to_string()
            .contains("https://www.suse.com/security/cve/CVE-2026-40001/"),
        "{v}"
    );
}

/// `feeds fetch` follows Red Hat's `archive_latest.txt` to the dated bulk
/// archive it names, keeps it as `redhat.tar.zst`, and the folder imports;
/// a pointer naming something unsafe fetches nothing.
#[test]
fn feeds_fetch_follows_red_hat_s_latest_archive_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("csaf_vex_2026-12-01.tar.zst");
    assert!(Command::new("tar")
        .arg("--zstd")
        .arg("-cf")
        .arg(&archive)
        .args(["-C", VEX, "cve-2026-30001.json", "cve-2026-30002.json"])
        .status()
        .unwrap()
        .success());
    let bytes = std::fs::read(&archive).unwrap();
    let base = process::http_server(move |path| {
        let body: Vec<u8> = match path {
            "/vex/archive_latest.txt" => b"csaf_vex_2026-12-01.tar.zst\n".to_vec(),
            "/vex/csaf_vex_2026-12-01.tar.zst" => bytes.clone(),
            "/bad/archive_latest.txt" => b"../../etc/passwd\n".to_vec(),
            _ => return None,
        };
        let len = body.len();
        Some((body, len))
    });
    let feeds = dir.path().join("feeds");
    std::fs::create_dir(&feeds).unwrap();
    let fetch = |url: String| {
        let config = dir.path().join("aggregator.toml");
        std::fs::write(&config, format!("[feeds.urls]\nredhat = \"{url}\"\n")).unwrap();
        Command::new(env!("CARGO_BIN_EXE_pakiti-aggregator"))
            .arg("--config.file")
            .arg(&config)
            .args(["feeds", "fetch"])
            .arg(&feeds)
            .output()
            .unwrap()
    };
    let out = fetch(format!("{base}/vex/archive_latest.txt"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("redhat.tar.zst") && stdout.contains("10 records"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(feeds.join("redhat.tar.zst")).unwrap(),
        std::fs::read(&archive).unwrap()
    );
    let out = fetch(format!("{base}/bad/archive_latest.txt"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("does not name an archive"));
    let names: Vec<String> = std::fs::read_dir(&feeds)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["redhat.tar.zst"]);
    let out = import(&dir.path().join("p.db"), &[&feeds]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
