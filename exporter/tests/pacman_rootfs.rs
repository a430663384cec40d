//! The real exporter binary and the real pacman (Debian's
//! pacman-package-manager) against an Arch tree built from scratch: a local
//! database of installed packages, a sync database (`core.db`, the tarball
//! pacman reads) with newer versions, and a pacman.conf that ignores one
//! package. `pacman -Qu` reads the sync database and never writes.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{promtool_complaints, sample, EXPORTER};

struct ArchTree {
    dir: tempfile::TempDir,
}

fn desc(dir: &Path, name: &str, version: &str, arch: &str) {
    let d = dir.join(format!("{name}-{version}"));
    fs::create_dir_all(&d).unwrap();
    fs::write(
        d.join("desc"),
        format!("%NAME%\n{name}\n\n%VERSION%\n{version}\n\n%ARCH%\n{arch}\n\n"),
    )
    .unwrap();
}

/// `core.db`: a gzipped tar of `name-version/desc` entries (no `./` prefix).
fn write_sync_db(root: &Path, entries: &Path) {
    let mut names: Vec<String> = fs::read_dir(entries)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let status = Command::new("tar")
        .arg("czf")
        .arg(root.join("var/lib/pacman/sync/core.db"))
        .arg("-C")
        .arg(entries)
        .args(&names)
        .status()
        .expect("tar runs");
    assert!(status.success());
}

impl ArchTree {
    fn build() -> ArchTree {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let local = root.join("var/lib/pacman/local");
        fs::create_dir_all(&local).unwrap();
        fs::create_dir_all(root.join("var/lib/pacman/sync")).unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(local.join("ALPM_DB_VERSION"), "9\n").unwrap();
        for (name, version, arch) in [
            ("openssl", "3.1.4-1", "x86_64"),
            ("bash", "5.2.021-1", "x86_64"),
            ("ignoreme", "1.0-1", "any"),
            ("linux", "6.6.1.arch1-1", "x86_64"),
            ("glibc", "2.38-7", "x86_64"),
        ] {
            desc(&local, name, version, arch);
        }
        // A split package names its base; the kernel's file list holds the
        // running kernel's modules directory, as Arch's linux package does.
        let mut glibc = fs::read_to_string(local.join("glibc-2.38-7/desc")).unwrap();
        glibc.push_str("%BASE%\nglibc-base\n\n");
        fs::write(local.join("glibc-2.38-7/desc"), glibc).unwrap();
        fs::write(
            local.join("linux-6.6.1.arch1-1/files"),
            format!(
                "%FILES%\nusr/\nusr/lib/\nusr/lib/modules/\nusr/lib/modules/{}/\nusr/lib/modules/{}/vmlinuz\n\n",
                running_kernel(),
                running_kernel()
            ),
        )
        .unwrap();
        let sync = dir.path().join("sync");
        for (name, version, arch) in [
            ("openssl", "3.1.5-1", "x86_64"),
            ("bash", "5.2.021-1", "x86_64"),
            ("ignoreme", "2.0-1", "any"),
            ("linux", "6.6.2.arch1-1", "x86_64"),
            // An epoch outranks any version.
            ("glibc", "1:2.0-1", "x86_64"),
        ] {
            desc(&sync, name, version, arch);
        }
        write_sync_db(&root, &sync);
        fs::write(
            root.join("etc/pacman.conf"),
            "[options]\nArchitecture = auto\nIgnorePkg = ignoreme\n\n[core]\nServer = file:///nonexistent\n",
        )
        .unwrap();
        fs::write(
            root.join("etc/os-release"),
            "NAME=\"Arch Linux\"\nID=arch\n",
        )
        .unwrap();
        fs::write(root.join("etc/hostname"), "archhost\n").unwrap();
        ArchTree { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn exporter(&self, path_env: Option<&str>, args: &[&str]) -> Output {
        let mut c = Command::new(EXPORTER);
        c.args(["--config.file", "/dev/null", "--path.rootfs"])
            .arg(self.root())
            .args(args);
        if let Some(p) = path_env {
            c.env("PATH", p);
        }
        c.output().expect("exporter runs")
    }

    fn local_db(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut v: Vec<(PathBuf, Vec<u8>)> = walk(&self.root().join("var/lib/pacman"));
        v.sort();
        v
    }
}

fn walk(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push((e.path(), fs::read(e.path()).unwrap()));
        }
    }
    out
}

fn running_kernel() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn pacman_pending_ignored_and_reboot() {
    let tree = ArchTree::build();
    let before = tree.local_db();
    let out = tree.exporter(None, &["collect", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["manager"], "pacman",
        "os-release ID=arch picks pacman"
    );
    assert_eq!(report["installed_packages"], 5);
    // The inventory is what pacman itself lists, name and version.
    let q = Command::new("pacman")
        .arg("--root")
        .arg(tree.root())
        .arg("--dbpath")
        .arg(tree.root().join("var/lib/pacman"))
        .arg("-Q")
        .output()
        .expect("pacman runs");
    assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
    let mut pacman: Vec<String> = String::from_utf8_lossy(&q.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    pacman.sort();
    let installed = report["installed"].as_array().unwrap();
    let mut ours: Vec<String> = installed
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect();
    ours.sort();
    assert_eq!(ours, pacman);
    let glibc = installed.iter().find(|p| p["name"] == "glibc").unwrap();
    assert_eq!(glibc["source_name"], "glibc-base");
    assert_eq!(glibc["source_version"], "2.38-7");
    assert_eq!(
        installed.iter().find(|p| p["name"] == "bash").unwrap()["source_name"],
        "bash"
    );
    assert_eq!(
        report["running_kernel"],
        serde_json::json!({"package": "linux", "version": "6.6.1.arch1-1"})
    );
    let updates: Vec<(String, String, String, bool)> = report["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_string(),
                u["installed_version"].as_str().unwrap().to_string(),
                u["candidate_version"].as_str().unwrap().to_string(),
                u["held"].as_bool().unwrap(),
            )
        })
        .collect();
    let e = |n: &str, i: &str, c: &str, h: bool| (n.to_string(), i.to_string(), c.to_string(), h);
    assert_eq!(
        updates,
        vec![
            e("glibc", "2.38-7", "1:2.0-1", false),
            e("ignoreme", "1.0-1", "2.0-1", true),
            e("linux", "6.6.1.arch1-1", "6.6.2.arch1-1", false),
            e("openssl", "3.1.4-1", "3.1.5-1", false),
        ]
    );
    // No arch-audit here: no security information, and the report says so.
    assert_eq!(report["security_metadata_available"], false);
    // A kernel package is installed but the running kernel's modules are not in
    // the tree: the host runs a kernel this tree no longer has.
    assert_eq!(report["reboot"]["required"], true);
    assert_eq!(report["reboot"]["packages"][0], "linux-6.6.1.arch1-1");
    fs::create_dir_all(tree.root().join("usr/lib/modules").join(running_kernel())).unwrap();
    let out = tree.exporter(None, &["collect"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(promtool_complaints(&text), "");
    assert_eq!(sample(&text, "pakiti_reboot_required", &[]), Some(0.0));
    assert_eq!(sample(&text, "pakiti_updates_pending", &[]), Some(4.0));
    assert_eq!(sample(&text, "pakiti_updates_held", &[]), Some(1.0));
    assert_eq!(
        sample(&text, "pakiti_security_metadata_available", &[]),
        Some(0.0)
    );
    assert!(
        tree.local_db() == before,
        "pacman's databases are unchanged"
    );
}

#[test]
fn nothing_pending_is_zero_not_a_failure() {
    let tree = ArchTree::build();
    // Make the sync database match what is installed.
    let sync = tree.dir.path().join("sync2");
    for (name, version) in [
        ("openssl", "3.1.4-1"),
        ("bash", "5.2.021-1"),
        ("ignoreme", "1.0-1"),
        ("linux", "6.6.1.arch1-1"),
        ("glibc", "2.38-7"),
    ] {
        desc(&sync, name, version, "x86_64");
    }
    write_sync_db(&tree.root(), &sync);
    let out = tree.exporter(None, &["collect"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(sample(&text, "pakiti_updates_pending", &[]), Some(0.0));
    assert_eq!(sample(&text, "pakiti_collection_success", &[]), Some(1.0));
}

/// arch-audit is not packaged for Debian. A stand-in script on PATH checks
/// the wiring only: the exporter asks for upgradable packages in its format,
/// against the tree's database, and maps arch-audit's words onto severities.
#[test]
fn arch_audit_output_marks_security_updates() {
    let tree = ArchTree::build();
    let bin = tree.dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let script = bin.join("arch-audit");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$*\" = \"--upgradable --format %n|%s|%c --dbpath {}\" ] || {{ echo \"unexpected arguments: $*\" >&2; exit 3; }}\n\
             echo 'openssl|High|CVE-2024-0727,CVE-2023-6237'\necho 'glibc|Medium|CVE-2023-6246'\n",
            tree.root().join("var/lib/pacman").display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = tree.exporter(Some(&path), &["collect", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["security_metadata_available"], true);
    let by_name = |n: &str| {
        report["updates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("openssl")["severity"], "important");
    assert_eq!(
        by_name("openssl")["cves"],
        serde_json::json!(["CVE-2024-0727", "CVE-2023-6237"])
    );
    assert_eq!(by_name("glibc")["severity"], "moderate");
    assert_eq!(by_name("linux")["security"], false);
}
