//! Debian's own `debsecan` as an oracle: the fixture's bookworm records are
//! written in the form debsecan reads (what the tracker serves at
//! `/tracker/debsecan/release/1/<suite>`: zlib-compressed lines of issue
//! names, then per source package the issue, flags and fixed version), a
//! dpkg status file is written for a host, and debsecan's verdicts (issue,
//! binary package) must be ours, but for the one difference explained below.

use std::collections::{BTreeSet, HashMap};
use std::io::Write as _;
use std::process::Command;

use pakiti_report::{Installed, RunningKernel, Severity};
use pakiti_versions::Scheme;
use pakiti_vulns::testing::{bookworm_packages, pkg, tracker_records};
use pakiti_vulns::{match_host, HostPackages, Index, KernelRole, Record, Status};

/// The records of `suite` in debsecan's form.
fn debsecan_data(records: &[Record], suite: &str) -> Vec<u8> {
    let mine: Vec<&Record> = records
        .iter()
        .filter(|r| r.release == suite && r.status != Status::NotAffected)
        .collect();
    let mut text = String::from("VERSION 1\n");
    for r in &mine {
        text.push_str(&format!(
            "{},,{}\n",
            r.id,
            r.description.as_deref().unwrap_or("")
        ));
    }
    text.push('\n');
    for (i, r) in mine.iter().enumerate() {
        let urgency = match r.severity {
            Severity::Important | Severity::Critical => 'H',
            Severity::Moderate => 'M',
            Severity::Low => 'L',
            Severity::Unknown => ' ',
        };
        let (fix, fixed) = match &r.status {
            Status::Fixed(v) => ('F', v.as_str()),
            _ => (' ', ""),
        };
        text.push_str(&format!(
            "{},{i},S{urgency}?{fix},{fixed},\n",
            r.source_package
        ));
    }
    text.push_str("\n\n");
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(text.as_bytes()).unwrap();
    z.finish().unwrap()
}

fn status_file(installed: &[Installed]) -> String {
    installed
        .iter()
        .map(|p| {
            let source = if p.source_name == p.name && p.source_version == p.version {
                String::new()
            } else if p.source_version == p.version {
                format!("Source: {}\n", p.source_name)
            } else {
                format!("Source: {} ({})\n", p.source_name, p.source_version)
            };
            format!(
                "Package: {}\nStatus: install ok installed\nArchitecture: {}\n{source}Version: {}\n\n",
                p.name, p.arch, p.version
            )
        })
        .collect()
}

#[test]
fn debsecan_and_pakiti_find_the_same_vulnerable_packages() {
    let mut installed = bookworm_packages();
    installed.push(pkg(
        "login",
        "1:4.13+dfsg1-1+deb12u1",
        "shadow",
        "1:4.13+dfsg1-1+deb12u1",
    ));
    installed.push(pkg("linux-libc-dev", "6.1.69-1", "linux", "6.1.69-1"));
    let records = tracker_records();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bookworm"),
        debsecan_data(&records, "bookworm"),
    )
    .unwrap();
    std::fs::write(dir.path().join("status"), status_file(&installed)).unwrap();
    std::fs::write(dir.path().join("config"), "").unwrap();
    let out = Command::new("debsecan")
        .args(["--suite", "bookworm", "--format", "simple"])
        .arg("--source")
        .arg(format!("file://{}/", dir.path().display()))
        .arg("--status")
        .arg(dir.path().join("status"))
        .arg("--config")
        .arg(dir.path().join("config"))
        .arg("--whitelist")
        .arg(dir.path().join("whitelist"))
        .output()
        .expect("debsecan runs (Debian package debsecan)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        theirs.len() >= 6,
        "debsecan found too little to compare: {theirs:?}"
    );

    let kernel = RunningKernel {
        package: "linux-image-6.1.0-18-amd64".into(),
        version: "6.1.76-1".into(),
    };
    let candidates = HashMap::new();
    let releases = ["bookworm".to_string()];
    let host = HostPackages {
        scheme: Scheme::Dpkg,
        releases: &releases,
        installed: &installed,
        candidates: &candidates,
        running_kernel: Some(&kernel),
    };
    let findings = match_host(&host, Index::new(records));
    let ours: BTreeSet<String> = findings
        .iter()
        .filter(|f| f.kernel == KernelRole::NotKernel)
        .map(|f| format!("{} {}", f.id, f.package))
        .collect();
    assert_eq!(ours, theirs);
    // The one difference: Debian's signed kernel images come from the
    // source linux-signed-amd64, which the tracker does not list; debsecan
    // sees nothing for them. pakiti tracks them as the source linux at
    // their own version, counts the running one and lists the other apart.
    let kernels: BTreeSet<String> = findings
        .iter()
        .filter(|f| f.kernel != KernelRole::NotKernel)
        .map(|f| format!("{} {} {:?}", f.id, f.package, f.kernel))
        .collect();
    assert_eq!(
        kernels,
        BTreeSet::from([
            "CVE-2024-1086 linux-image-6.1.0-17-amd64 NotRunning".to_string(),
            "CVE-2024-26581 linux-image-6.1.0-17-amd64 NotRunning".to_string(),
            "CVE-2024-26581 linux-image-6.1.0-18-amd64 Running".to_string(),
        ])
    );
    assert!(theirs.iter().all(|l| !l.contains("linux-image")));
}
