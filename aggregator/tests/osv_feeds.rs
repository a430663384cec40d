//! OSV and OpenVEX feeds end to end: Ubuntu's OSV with its Pro fixes and
//! its OpenVEX "won't fix", and OSV's archives of other distributions
//! (`<Ecosystem>/all.zip`: Debian's advisories, Alpine, AlmaLinux, Rocky
//! Linux), imported by `pakiti-aggregator feeds import` and matched against
//! hosts of each, in their own version order.

mod process;

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use pakiti_report::*;
use process::{get, import, push, start, start_with, wait_for};

const OSV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../vulns/fixtures/osv");

fn ubuntu_host(name: &str, machine: u32, esm: bool) -> Report {
    let mut r = testing::report(
        name,
        Some(&format!("{machine:032x}")),
        None,
        vec![
            testing::update(
                "libssl3",
                "3.0.2-0ubuntu1.15",
                "3.0.2-0ubuntu1.18",
                Some(Severity::Unknown),
            ),
            testing::update(
                "vim",
                "2:8.2.3995-1ubuntu2.15",
                if esm {
                    "2:8.2.3995-1ubuntu2.17+esm1"
                } else {
                    "2:8.2.3995-1ubuntu2.16"
                },
                Some(Severity::Unknown),
            ),
        ],
    );
    r.os.id = "ubuntu".into();
    r.os.version = "22.04".into();
    r.os.codename = Some("jammy".into());
    let p = |name: &str, version: &str, source: &str| Installed {
        source_name: source.into(),
        ..Installed::new(name, version, "amd64")
    };
    let installed = vec![
        p("libssl3", "3.0.2-0ubuntu1.15", "openssl"),
        p("openssl", "3.0.2-0ubuntu1.15", "openssl"),
        p("curl", "7.81.0-1ubuntu1.15", "curl"),
        p("vim", "2:8.2.3995-1ubuntu2.15", "vim"),
        p("bash", "5.1-6ubuntu1", "bash"),
        p(
            "linux-image-5.15.0-91-generic",
            "5.15.0-91.101",
            "linux-signed",
        ),
        p(
            "linux-image-5.15.0-88-generic",
            "5.15.0-88.98",
            "linux-signed",
        ),
    ];
    r.inventory.installed_packages = installed.len() as u64;
    r.inventory.installed = Some(installed);
    r.inventory.running_kernel = Some(RunningKernel {
        package: "linux-image-5.15.0-91-generic".into(),
        version: "5.15.0-91.101".into(),
    });
    r.inventory.esm_enabled = Some(esm);
    r
}

#[test]
fn ubuntu_hosts_are_matched_against_ubuntus_osv_with_pro_fixes_apart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pakiti.db");
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../vulns/fixtures/ubuntu-osv");
    // The archive as Canonical publishes it: osv-all.tar.xz.
    let archive = dir.path().join("osv-all.tar.xz");
    let tar = Command::new("tar")
        .arg("-cJf")
        .arg(&archive)
        .args(["-C", fixtures, "."])
        .status()
        .unwrap();
    assert!(tar.success());
    // Its OpenVEX documents, as a zstd tarball: what will not be fixed.
    let vex = dir.path().join("vex-all.tar.zst");
    let tar = Command::new("tar")
        .arg("--zstd")
        .arg("-cf")
        .arg(&vex)
        .args(["-C", &format!("{fixtures}/../ubuntu-vex"), "."])
        .status()
        .unwrap();
    assert!(tar.success());
    let out = import(&db, &[&archive, &vex]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("ubuntu: 9 records from "), "{stdout}");
    assert!(stdout.contains("\nubuntu-vex: 3 records from "), "{stdout}");
    // Not an archive: exit 1, nothing changed.
    let bad = dir.path().join("broken.tar.xz");
    std::fs::write(&bad, b"not xz at all").unwrap();
    let out = import(&db, &[&bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was imported"));

    let (_server, base) = start(&db);
    push(&base, &ubuntu_host("ubu-plain", 11, false));
    push(&base, &ubuntu_host("ubu-pro", 12, true));
    let rows = |host: &str| -> Vec<String> {
        let v = get(&base, &format!("/api/v1/hosts/{host}/vulnerabilities"));
        assert_eq!(v["release"], "ubuntu:22.04");
        rows(&base, host, "fix_needs_esm")
    };
    assert_eq!(
        rows("ubu-plain"),
        [
            "libssl3 CVE-2024-9001 fixed 3.0.2-0ubuntu1.18 fix_available=true moderate fix_needs_esm=false counted=true",
            // Fixed only in Ubuntu Pro; this host has no ESM sources.
            "vim CVE-2024-9003 fixed 2:8.2.3995-1ubuntu2.17+esm1 fix_available=false important fix_needs_esm=true counted=true",
            "linux-image-5.15.0-91-generic CVE-2024-9005 fixed 5.15.0-95.105 fix_available=false important fix_needs_esm=false counted=true",
            "openssl CVE-2024-9001 fixed 3.0.2-0ubuntu1.18 fix_available=false moderate fix_needs_esm=false counted=true",
            // Unfixed in OSV; Ubuntu's VEX says it will not be fixed. The
            // rating stays OSV's.
            "curl CVE-2024-9002 wont_fix - fix_available=false low fix_needs_esm=false counted=true",
            "linux-image-5.15.0-88-generic CVE-2024-9005 fixed 5.15.0-95.105 fix_available=false important fix_needs_esm=false counted=false",
        ]
    );
    // With ESM sources, the Pro fix is its candidate: installable now.
    assert!(rows("ubu-pro").contains(
        &"vim CVE-2024-9003 fixed 2:8.2.3995-1ubuntu2.17+esm1 fix_available=true important fix_needs_esm=false counted=true"
            .to_string()
    ));
    let v = get(&base, "/api/v1/hosts/ubu-plain/vulnerabilities");
    assert_eq!(
        v["vulnerabilities"][0]["url"],
        "https://ubuntu.com/security/CVE-2024-9001"
    );
    let page = reqwest::blocking::get(format!("{base}/hosts/ubu-plain"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("href=\"https://ubuntu.com/security/CVE-2024-9003\""),
        "{page}"
    );
    assert!(page.contains("no: needs Ubuntu Pro (ESM)"), "{page}");
    // apt's unrated security updates get the severity and CVEs of what they fix.
    let updates = |host: &str| -> Vec<String> {
        get(&base, &format!("/api/v1/hosts/{host}"))["updates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                format!(
                    "{} {} {}",
                    u["name"].as_str().unwrap(),
                    u["severity"].as_str().unwrap(),
                    u["cves"]
                )
            })
            .collect()
    };
    assert_eq!(
        updates("ubu-plain"),
        ["libssl3 moderate [\"CVE-2024-9001\"]", "vim unknown []"]
    );
    assert_eq!(
        updates("ubu-pro"),
        [
            "libssl3 moderate [\"CVE-2024-9001\"]",
            "vim important [\"CVE-2024-9003\"]"
        ]
    );
    // Only ubu-pro can patch an important one now (vim, from ESM).
    let overview = reqwest::blocking::get(format!("{base}/"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        overview.contains("<span class=\"n\">1</span> exposed to a critical or important vulnerability they can patch now"),
        "{overview}"
    );
    // What to fix first: ubu-pro can patch an important one now; ubu-plain,
    // whose security updates wait longer, comes after it.
    let attention = &overview[overview.find("id=\"attention\"").unwrap()..];
    assert!(
        attention.find(">ubu-pro<").unwrap() < attention.find(">ubu-plain<").unwrap(),
        "{attention}"
    );
    // The fleet copy follows a push within ten times its last load's time.
    let list = wait_for(
        &base,
        "/api/v1/vulnerabilities",
        "both hosts covered",
        |v| v["hosts_covered"] == 2,
    );
    assert_eq!(list["hosts_covered"], 2, "{list}");
    let vim = list["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "CVE-2024-9003")
        .unwrap()
        .clone();
    assert_eq!(
        (vim["hosts"].as_u64(), vim["fixable_hosts"].as_u64()),
        (Some(2), Some(1)),
        "{vim}"
    );
}

/// OSV's archive of one ecosystem: the fixture documents whose names start
/// with `prefix`, zipped as OSV serves them.
fn all_zip(dir: &Path, ecosystem: &str, prefix: &str) -> std::path::PathBuf {
    let folder = dir.join(ecosystem);
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("all.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let mut names: Vec<_> = std::fs::read_dir(OSV)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".json"))
        .collect();
    names.sort();
    for n in names {
        zip.start_file(n.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&std::fs::read(Path::new(OSV).join(&n)).unwrap())
            .unwrap();
    }
    zip.finish().unwrap();
    path
}

fn host(name: &str, machine: u32, os_id: &str, version: &str, installed: Vec<Installed>) -> Report {
    let mut r = testing::report(name, Some(&format!("{machine:032x}")), None, vec![]);
    r.os.id = os_id.into();
    r.os.version = version.into();
    r.os.codename = None;
    r.inventory.installed_packages = installed.len() as u64;
    r.inventory.installed = Some(installed);
    r
}

fn pkg(name: &str, version: &str, source: &str, source_version: &str) -> Installed {
    Installed {
        source_name: source.into(),
        source_version: source_version.into(),
        ..Installed::new(name, version, "x86_64")
    }
}

/// A host's findings, one line each, with the field `extra` of each.
fn rows(base: &str, host: &str, extra: &str) -> Vec<String> {
    let v = get(base, &format!("/api/v1/hosts/{host}/vulnerabilities"));
    assert_eq!(v["coverage"], true, "{v}");
    v["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {} fix_available={} {} {extra}={} counted={}",
                f["package"].as_str().unwrap(),
                f["id"].as_str().unwrap(),
                f["status"].as_str().unwrap(),
                f["fixed_version"].as_str().unwrap_or("-"),
                f["fix_available"],
                f["severity"].as_str().unwrap(),
                f[extra],
                f["counted"],
            )
        })
        .collect()
}

#[test]
fn osv_archives_of_other_distributions_cover_their_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pakiti.db");
    let alpine = all_zip(dir.path(), "Alpine", "ALPINE-");
    let alma = all_zip(dir.path(), "AlmaLinux", "ALSA-");
    let rocky = all_zip(dir.path(), "Rocky Linux", "RLSA-");
    // One document of Debian's, bzip2-compressed.
    let dsa = dir.path().join("DSA-9001-1.json.bz2");
    let bz = Command::new("bzip2")
        .arg("-c")
        .arg(Path::new(OSV).join("DSA-9001-1.json"))
        .output()
        .unwrap();
    assert!(bz.status.success());
    std::fs::write(&dsa, &bz.stdout).unwrap();
    let out = import(&db, &[&alpine, &alma, &rocky, &dsa]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each distribution is a feed of its own; a withdrawn advisory gives nothing.
    for line in [
        "osv-alpine: 3 records from ",
        "osv-almalinux: 6 records from ",
        "osv-rocky: 2 records from ",
        "osv-debian: 2 records from ",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    // A zip that is not one, a document of no distribution read: exit 1,
    // nothing changed.
    let bad = dir.path().join("all.zip");
    std::fs::write(&bad, b"PK not really").unwrap();
    let out = import(&db, &[&bad]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a zip archive"), "{stderr}");
    let npm = dir.path().join("GHSA.json");
    std::fs::write(
        &npm,
        br#"{"id": "GHSA-1", "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"}}]}"#,
    )
    .unwrap();
    let out = import(&db, &[&npm]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("no record of a release this aggregator reads"));

    // A derivative matched as the release it follows.
    let config = dir.path().join("aggregator.toml");
    std::fs::write(
        &config,
        "[feeds.releases]\n\"raspbian:12\" = \"debian:12\"\n",
    )
    .unwrap();
    let (_server, base) = start_with(&db, &config);
    // Alpine: origin packages in apk's order; the candidate reaches the fix.
    let mut a = host(
        "alp-01",
        21,
        "alpine",
        "3.20.3",
        vec![
            pkg("libcrypto3", "3.3.1-r3", "openssl", "3.3.1-r3"),
            pkg("busybox", "1.36.1-r29", "busybox", "1.36.1-r29"),
        ],
    );
    a.inventory.updates = vec![testing::update(
        "libcrypto3",
        "3.3.1-r3",
        "3.3.2-r0",
        Some(Severity::Unknown),
    )];
    a.inventory.updates[0].arch = "x86_64".into();
    push(&base, &a);
    assert_eq!(
        rows(&base, "alp-01", "aliases"),
        ["libcrypto3 CVE-2024-9021 fixed 3.3.2-r0 fix_available=true critical aliases=[] counted=true"]
    );
    // AlmaLinux: binary packages in rpm's order, the advisory as an alias,
    // only the running kernel counted.
    let mut alma = host(
        "alma-01",
        22,
        "almalinux",
        "9.4",
        vec![
            pkg("openssl-libs", "1:3.0.7-27.el9", "openssl", "3.0.7-27.el9"),
            pkg(
                "kernel-core",
                "5.14.0-427.13.1.el9_4",
                "kernel",
                "5.14.0-427.13.1.el9_4",
            ),
            pkg(
                "kernel-core",
                "5.14.0-427.31.1.el9_4",
                "kernel",
                "5.14.0-427.31.1.el9_4",
            ),
            // The epoch counts: 1:3.0.7-28 is the fix, 0:3.0.8 is below it.
            pkg("openssl", "0:3.0.8-1.el9", "openssl", "3.0.8-1.el9"),
        ],
    );
    alma.inventory.running_kernel = Some(RunningKernel {
        package: "kernel-core".into(),
        version: "5.14.0-427.31.1.el9_4".into(),
    });
    push(&base, &alma);
    assert_eq!(
        rows(&base, "alma-01", "aliases"),
        [
            "openssl CVE-2024-9031 fixed 1:3.0.7-28.el9_4 fix_available=false important aliases=[\"ALSA-2024:9031\"] counted=true",
            "openssl-libs CVE-2024-9031 fixed 1:3.0.7-28.el9_4 fix_available=false important aliases=[\"ALSA-2024:9031\"] counted=true",
            "openssl CVE-2024-9032 fixed 1:3.0.7-28.el9_4 fix_available=false important aliases=[\"ALSA-2024:9031\"] counted=true",
            "openssl-libs CVE-2024-9032 fixed 1:3.0.7-28.el9_4 fix_available=false important aliases=[\"ALSA-2024:9031\"] counted=true",
            "kernel-core CVE-2024-9033 fixed 5.14.0-427.35.1.el9_4 fix_available=false important aliases=[\"ALSA-2024:9033\"] counted=true",
            "kernel-core CVE-2024-9033 fixed 5.14.0-427.35.1.el9_4 fix_available=false important aliases=[\"ALSA-2024:9033\"] counted=false",
        ]
    );
    // The host page links the vulnerability and the advisory that fixed it.
    let page = reqwest::blocking::get(format!("{base}/hosts/alma-01"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("href=\"https://osv.dev/vulnerability/CVE-2024-9031\"")
            && page.contains(
                "<a href=\"https://osv.dev/vulnerability/ALSA-2024%3A9031\">ALSA-2024:9031</a>"
            ),
        "{page}"
    );
    // Rocky: a release no record names stays unknown.
    push(
        &base,
        &host(
            "rocky-01",
            23,
            "rocky",
            "9.4",
            vec![pkg("libcurl", "7.76.1-29.el9_4", "curl", "7.76.1-29.el9_4")],
        ),
    );
    assert_eq!(
        rows(&base, "rocky-01", "aliases"),
        ["libcurl CVE-2024-9041 fixed 7.76.1-29.el9_4.1 fix_available=false moderate aliases=[\"RLSA-2024:9041\"] counted=true"]
    );
    push(
        &base,
        &host(
            "rocky-02",
            24,
            "rocky",
            "8.10",
            vec![pkg("libcurl", "7.61.1-34.el8", "curl", "7.61.1-34.el8")],
        ),
    );
    let v = get(&base, "/api/v1/hosts/rocky-02/vulnerabilities");
    assert_eq!(v["coverage"], false, "{v}");
    assert!(v["reason"].as_str().unwrap().contains("\"rocky:8\""), "{v}");
    // Debian: the advisory's CVEs, by its release number.
    push(
        &base,
        &host(
            "deb-01",
            25,
            "debian",
            "12",
            vec![pkg(
                "libssl3",
                "3.0.11-1~deb12u2",
                "openssl",
                "3.0.11-1~deb12u2",
            )],
        ),
    );
    assert_eq!(
        rows(&base, "deb-01", "aliases"),
        [
            "libssl3 CVE-2024-5535 fixed 3.0.15-1~deb12u1 fix_available=false unknown aliases=[\"DSA-9001-1\"] counted=true",
            "libssl3 CVE-2024-9011 fixed 3.0.15-1~deb12u1 fix_available=false unknown aliases=[\"DSA-9001-1\"] counted=true",
        ]
    );
    push(
        &base,
        &host(
            "pi-01",
            26,
            "raspbian",
            "12",
            vec![pkg(
                "libssl3",
                "3.0.11-1~deb12u2",
                "openssl",
                "3.0.11-1~deb12u2",
            )],
        ),
    );
    assert_eq!(
        rows(&base, "pi-01", "aliases"),
        rows(&base, "deb-01", "aliases")
    );
    // The fleet's list has them, by CVE.
    // The fleet copy follows a push within ten times its last load's time.
    let list = wait_for(
        &base,
        "/api/v1/vulnerabilities",
        "every host covered",
        |v| v["hosts_covered"] == 5,
    );
    assert_eq!(list["hosts_covered"], 5, "{list}");
    let ids: Vec<&str> = list["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    for id in [
        "CVE-2024-9021",
        "CVE-2024-9031",
        "CVE-2024-9033",
        "CVE-2024-9041",
        "CVE-2024-5535",
    ] {
        assert!(ids.contains(&id), "{id}: {ids:?}");
    }
}
