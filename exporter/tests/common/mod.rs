//! A Debian tree built from scratch for each test: a dpkg status database,
//! flat local repositories with real Release fields, pins, and the lists
//! the real `apt-get update` fetches from them.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const EXPORTER: &str = env!("CARGO_BIN_EXE_pakiti-exporter");

pub fn native_arch() -> String {
    let out = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .expect("dpkg runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One repository: its Release fields and its packages `(name, version, extra fields)`.
pub struct Repo<'a> {
    pub dir: &'a str,
    pub origin: &'a str,
    pub label: &'a str,
    pub suite: &'a str,
    pub extra_release: &'a str,
    pub packages: &'a [(&'a str, &'a str, &'a str)],
}

pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.root().join(p)
    }

    /// Builds the tree: `installed` is `(name, version, dpkg want)` with want
    /// `install` or `hold`.
    pub fn new(installed: &[(&str, &str, &str)], repos: &[Repo]) -> Tree {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        for d in [
            "etc/apt/sources.list.d",
            "etc/apt/preferences.d",
            "etc/apt/apt.conf.d",
            "var/lib/dpkg",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "run",
        ] {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        let arch = native_arch();
        fs::write(root.join("etc/apt/sources.list"), "").unwrap();
        fs::write(
            root.join("etc/os-release"),
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
        )
        .unwrap();
        fs::write(root.join("etc/hostname"), "testhost.example.org\n").unwrap();
        fs::write(
            root.join("etc/machine-id"),
            "0123456789abcdef0123456789abcdef\n",
        )
        .unwrap();
        let mut status = String::new();
        for (name, version, want) in installed {
            status.push_str(&format!(
                "Package: {name}\nStatus: {want} ok installed\nPriority: optional\nArchitecture: {arch}\nMaintainer: Test <t@example.org>\nVersion: {version}\nDescription: test package\n\n"
            ));
        }
        fs::write(root.join("var/lib/dpkg/status"), status).unwrap();
        let sources = write_repos(&root.join("repos"), repos);
        fs::write(root.join("etc/apt/sources.list.d/test.list"), sources).unwrap();
        Tree { dir }
    }

    /// Another apt tree inside this one, at `at` (as the Ubuntu Pro client
    /// keeps its ESM tree): its own sources naming `repos`, an empty dpkg
    /// status, and the lists the real `apt-get update` fetched into it.
    pub fn add_apt_tree(&self, at: &str, repos: &[Repo]) {
        let root = self.path(at);
        for d in [
            "etc/apt/sources.list.d",
            "var/lib/dpkg",
            "var/lib/apt/lists/partial",
        ] {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        let sources = write_repos(&self.path(&format!("{at}-repos")), repos);
        fs::write(root.join("etc/apt/sources.list"), sources).unwrap();
        fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
        let out = Command::new("apt-get")
            .arg(format!("-oDir={}/", root.display()))
            .arg(format!(
                "-oDir::State::status={}/var/lib/dpkg/status",
                root.display()
            ))
            .args([
                "-oAPT::Sandbox::User=root",
                "-oDir::Cache::pkgcache=",
                "-oDir::Cache::srcpkgcache=",
                "-q",
                "update",
            ])
            .env("APT_CONFIG", "/dev/null")
            .output()
            .expect("apt-get runs");
        assert!(
            out.status.success(),
            "apt-get update of {at}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn write(&self, path: &str, contents: &str) {
        let p = self.path(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, contents).unwrap();
    }

    /// An exporter configuration for this tree; `extra` is appended.
    pub fn config(&self, extra: &str) -> PathBuf {
        let path = self.path("pakiti-exporter.toml");
        fs::write(
            &path,
            format!(
                "site = \"TestSite\"\n[collector]\ncache_dir = \"{}\"\n{extra}",
                self.path("var/cache/pakiti").display()
            ),
        )
        .unwrap();
        path
    }

    /// Runs the exporter against this tree with `refresh_metadata` on, so the
    /// real `apt-get update` fetches the local repositories first.
    pub fn exporter(&self, args: &[&str]) -> Output {
        self.exporter_with_apt_conf("", args)
    }

    /// Like [`Tree::exporter`], with `apt_conf` added to the tree's apt.conf.
    pub fn exporter_with_apt_conf(&self, apt_conf: &str, args: &[&str]) -> Output {
        let config = self.config("refresh_metadata = true\nupdate_info = \"all\"\n");
        // apt's file: method drops privileges to _apt, who cannot read a
        // private temporary directory; the tree's apt.conf lets it stay root.
        self.write(
            "etc/apt/apt.conf",
            &format!("APT::Sandbox::User \"root\";\n{apt_conf}"),
        );
        Command::new(EXPORTER)
            .arg("--config.file")
            .arg(&config)
            .arg("--path.rootfs")
            .arg(self.root())
            .args(args)
            .env("APT_CONFIG", self.path("etc/apt/apt.conf"))
            .output()
            .expect("exporter runs")
    }
}

/// Writes each repository's `Packages` and `Release` under `base`; returns
/// the sources.list lines naming them.
pub fn write_repos(base: &Path, repos: &[Repo]) -> String {
    let arch = native_arch();
    let mut sources = String::new();
    for repo in repos {
        let rdir = base.join(repo.dir);
        fs::create_dir_all(&rdir).unwrap();
        let mut packages = String::new();
        for (name, version, extra) in repo.packages {
            packages.push_str(&format!(
                    "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: Test <t@example.org>\nFilename: pool/{name}_{version}.deb\nSize: 1000\nSHA256: {zero}\nDescription: test package\n{extra}\n",
                    zero = "0".repeat(64),
                    extra = if extra.is_empty() { String::new() } else { format!("{extra}\n") },
                ));
        }
        fs::write(rdir.join("Packages"), packages).unwrap();
        fs::write(
                rdir.join("Release"),
                format!(
                    "Origin: {}\nLabel: {}\nSuite: {}\nCodename: {}\nDate: Thu, 26 Nov 2026 10:00:00 UTC\n{}",
                    repo.origin, repo.label, repo.suite, repo.suite, repo.extra_release
                ),
            )
            .unwrap();
        sources.push_str(&format!("deb [trusted=yes] file:{} ./\n", rdir.display()));
    }
    sources
}

/// The standard scenario: one package for each case the apt collector must get right.
pub fn scenario() -> Tree {
    let installed = [
        ("sec-direct", "1.0-1", "install"),
        ("superseded", "2.0-1", "install"),
        ("plain", "3.0-1", "install"),
        ("held", "4.0-1", "hold"),
        ("keptback", "5.0-1", "install"),
        ("pinned", "6.0-1", "install"),
        ("bpo", "7.0-1", "install"),
        ("evil", "8.0-1", "install"),
        ("esm", "9.0-1", "install"),
        ("phased", "10.0-1", "install"),
        ("current", "11.0-1", "install"),
        ("old-sec", "12.0-1", "install"),
    ];
    let repos = [
        Repo {
            dir: "main",
            origin: "Debian",
            label: "Debian",
            suite: "bookworm",
            extra_release: "",
            packages: &[
                ("superseded", "2.0-1+deb12u2", ""),
                ("plain", "3.0-2", ""),
                ("held", "4.1-1", ""),
                ("keptback", "5.1-1", "Depends: newdep"),
                ("newdep", "1.0-1", ""),
                ("pinned", "6.1-1", ""),
                ("phased", "10.0-2", "Phased-Update-Percentage: 0"),
                ("current", "11.0-1", ""),
                ("old-sec", "12.0-2", ""),
            ],
        },
        Repo {
            dir: "security",
            origin: "Debian",
            label: "Debian-Security",
            suite: "bookworm-security",
            extra_release: "",
            packages: &[
                ("sec-direct", "1.0-1+deb12u1", ""),
                ("superseded", "2.0-1+deb12u1", ""),
                // Below the installed version: fixes nothing pending.
                ("old-sec", "11.9-1", ""),
            ],
        },
        Repo {
            dir: "backports",
            origin: "Debian Backports",
            label: "Debian Backports",
            suite: "bookworm-backports",
            extra_release: "NotAutomatic: yes\n",
            packages: &[("bpo", "7.1-1~bpo12+1", "")],
        },
        Repo {
            dir: "evil",
            origin: "Evil",
            label: "Evil",
            suite: "bookworm-security",
            extra_release: "",
            packages: &[("evil", "8.0-2", "")],
        },
        Repo {
            dir: "esm",
            origin: "UbuntuESMApps",
            label: "UbuntuESMApps",
            suite: "noble-apps-security",
            extra_release: "",
            packages: &[("esm", "9.0-1ubuntu0.1", "")],
        },
    ];
    let tree = Tree::new(&installed, &repos);
    tree.write(
        "etc/apt/preferences.d/pin",
        "Package: pinned\nPin: version 6.0*\nPin-Priority: 1001\n",
    );
    tree
}

/// `promtool check metrics` on `text`: its complaints, empty when clean.
pub fn promtool_complaints(text: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian package prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() && s.trim().is_empty() {
        s = format!("promtool exited with {}", out.status);
    }
    s.trim().to_string()
}

/// Every exporter metric family named in PRODUCT.md.
pub const PRODUCT_METRICS: [&str; 13] = [
    "pakiti_updates_pending",
    "pakiti_security_updates_pending",
    "pakiti_updates_held",
    "pakiti_reboot_required",
    "pakiti_update_info",
    "pakiti_installed_packages",
    "pakiti_security_metadata_available",
    "pakiti_package_metadata_timestamp_seconds",
    "pakiti_last_collection_timestamp_seconds",
    "pakiti_collection_duration_seconds",
    "pakiti_collection_success",
    "pakiti_host_info",
    "pakiti_exporter_build_info",
];

/// The value of the first sample of `name` whose line contains every `needle`.
pub fn sample(text: &str, name: &str, needles: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
