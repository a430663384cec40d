//! Arch Linux's security tracker end to end: `feeds import` of its JSON
//! (gzipped, as a mirror may keep it), an Arch host pushed with its pacman
//! inventory and pending updates, its findings matched by package name in
//! pacman's order, the running kernel alone counted.

mod process;

use process::{arch_host, findings, get, import, push, start};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../vulns/fixtures/arch/security.json"
);

#[test]
fn an_arch_host_is_matched_against_arch_s_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pakiti.db");
    let gz = dir.path().join("arch-security.json.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &std::fs::read(FIXTURE).unwrap()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let out = import(&db, &[&gz]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("arch: 11 records from "), "{stdout}");
    // A damaged tracker file changes nothing and says what is wrong.
    let bad = dir.path().join("arch-bad.json");
    std::fs::write(
        &bad,
        r#"[{"name":"AVG-1","packages":["a"],"status":"Fixed","fixed":null}]"#,
    )
    .unwrap();
    let out = import(&db, &[&bad]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("AVG-1") && err.contains("nothing was imported"),
        "{err}"
    );

    let (_server, base) = start(&db);
    push(&base, &arch_host("arch-01", 77, None));
    let v = get(&base, "/api/v1/hosts/arch-01/vulnerabilities");
    let rows = findings(
        &base,
        "arch-01",
        &[
            "package",
            "id",
            "status",
            "fixed_version",
            "fix_available",
            "severity",
            "counted",
        ],
    );
    assert!(
        v["vulnerabilities"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://security.archlinux.org/CVE-"),
        "{v}"
    );
    assert_eq!(
        rows,
        [
            "exiv2 CVE-2026-10009 fixed 1:0.28.5-1 fix_available=false moderate counted=true",
            "linux CVE-2026-10007 fixed 6.13.2.arch1-1 fix_available=false critical counted=true",
            "openssl CVE-2026-10001 fixed 3.4.1-1 fix_available=true important counted=true",
            "openssl CVE-2026-10002 fixed 3.4.1-1 fix_available=true important counted=true",
            "vim CVE-2026-10003 unfixed - fix_available=false moderate counted=true",
        ],
        "{v}"
    );
    // The fleet's view: the host's counts, and the vulnerability's hosts.
    let one = get(&base, "/api/v1/vulnerabilities/CVE-2026-10007");
    assert!(one.to_string().contains("arch-01"), "{one}");
}
