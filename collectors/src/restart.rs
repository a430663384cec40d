//! Processes that still run code which was deleted or replaced since they
//! started: an upgraded library or executable stays mapped in every process
//! that loaded the old one until it restarts, so a host with every fix
//! installed can still run the vulnerable code. This is what `needrestart`,
//! `zypper ps` and `dnf needs-restarting` report.
//!
//! Read-only and without tools: `/proc/PID/maps` (each executable file
//! mapping with its device and inode, and the kernel's " (deleted)" mark),
//! `/proc/PID/exe`, and `/proc/PID/cgroup` for the systemd unit or user
//! session the process belongs to. A mapped file counts when the kernel says
//! it was deleted, or when the file now at its path (seen from the process's
//! own root, `/proc/PID/root`, so containers are judged in their own tree)
//! is another inode. Only code from where packages put it counts (by default
//! `/usr`, `/lib*`, `/bin`, `/sbin`, `/opt`): a deleted temporary file mapped
//! executable (libffi's trampolines, a JIT's cache) is not an upgrade.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Where packaged code lives: a mapping elsewhere is not judged.
pub const PACKAGED_CODE: &[&str] = &["/usr/", "/lib", "/bin/", "/sbin/", "/opt/"];

/// One executable file mapping of a process, from a line of its `maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub path: String,
    /// The device's major and minor numbers.
    pub dev: (u64, u64),
    pub inode: u64,
    /// The kernel marked it " (deleted)".
    pub deleted: bool,
}

/// An executable file mapping from one line of `/proc/PID/maps`
/// (`address perms offset dev inode path`); `None` for anything else
/// (data, anonymous memory, `[vdso]`, `memfd:`).
pub fn parse_maps_line(line: &str) -> Option<Mapping> {
    let mut fields = line.splitn(6, ' ');
    let _address = fields.next()?;
    let perms = fields.next()?;
    let _offset = fields.next()?;
    let dev = fields.next()?;
    let inode: u64 = fields.next()?.parse().ok()?;
    let path = fields.next()?.trim_start();
    if !perms.contains('x') || inode == 0 || !path.starts_with('/') || path.starts_with("/memfd:") {
        return None;
    }
    let (major, minor) = dev.split_once(':')?;
    let dev = (
        u64::from_str_radix(major, 16).ok()?,
        u64::from_str_radix(minor, 16).ok()?,
    );
    let (path, deleted) = match path.strip_suffix(" (deleted)") {
        Some(p) => (p, true),
        None => (path, false),
    };
    Some(Mapping {
        path: path.to_string(),
        dev,
        inode,
        deleted,
    })
}

/// What a process belongs to, from its `/proc/PID/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A system service: restart the unit.
    Unit(String),
    /// A user's login session or user manager (`session-3.scope`,
    /// `user@1000.service`): the user logs out and in.
    Session(String),
    /// Neither (no systemd, or the root cgroup).
    None,
}

/// The unit or session of a cgroup file: the unified hierarchy's path
/// (`0::/system.slice/nginx.service`), or on a hybrid host the
/// `name=systemd` hierarchy's.
pub fn owner_of_cgroup(text: &str) -> Owner {
    let path_of = |prefix: &str| {
        text.lines()
            .find_map(|l| {
                l.split_once(':')
                    .and_then(|(_, rest)| rest.strip_prefix(prefix))
            })
            .filter(|p| *p != "/")
    };
    let Some(path) = path_of(":").or_else(|| path_of("name=systemd:")) else {
        return Owner::None;
    };
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if let Some(user) = parts
        .iter()
        .find(|p| p.starts_with("user@") && p.ends_with(".service"))
    {
        return Owner::Session((*user).to_string());
    }
    if let Some(session) = parts
        .iter()
        .find(|p| p.starts_with("session-") && p.ends_with(".scope"))
    {
        return Owner::Session((*session).to_string());
    }
    match parts.iter().rev().find(|p| p.ends_with(".service")) {
        Some(unit) => Owner::Unit((*unit).to_string()),
        None => Owner::None,
    }
}

/// Linux's `major()` and `minor()` of a `st_dev`.
fn major_minor(dev: u64) -> (u64, u64) {
    (
        ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000),
        (dev & 0xff) | ((dev >> 12) & 0xffff_ff00),
    )
}

/// Whether `m` is code that is no longer what its path holds, looked up
/// under `root` (the process's own root).
fn outdated(m: &Mapping, root: &Path) -> bool {
    if m.deleted {
        return true;
    }
    match fs::metadata(root.join(m.path.trim_start_matches('/'))) {
        // Another file at that path on the same device: replaced. (On
        // another device the process sees another mount: no judgement.)
        Ok(meta) => major_minor(meta.dev()) == m.dev && meta.ino() != m.inode,
        // Gone without the kernel saying so: a mount it cannot see.
        Err(_) => false,
    }
}

/// One process running outdated code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub pid: u32,
    /// Its name (`/proc/PID/comm`).
    pub name: String,
    pub owner: Owner,
    /// The outdated files, by path.
    pub files: BTreeSet<String>,
}

/// What a scan of `/proc` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// The processes running outdated code, by pid.
    pub stale: Vec<Stale>,
    /// Processes whose mappings were read.
    pub scanned: u32,
    /// Processes whose mappings could not be read (another user's, without
    /// root): what runs there is unknown, not clean.
    pub unreadable: u32,
}

/// Every process under `proc` (a `/proc`) that maps outdated packaged code.
/// A process that ends meanwhile is skipped; one that cannot be read is
/// counted as such. Needs no more than read access.
pub fn scan(proc: &Path, packaged: &[&str]) -> Scan {
    let mut out = Scan::default();
    let Ok(entries) = fs::read_dir(proc) else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        let maps = match fs::read_to_string(dir.join("maps")) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                out.unreadable += 1;
                continue;
            }
            Err(_) => continue,
        };
        out.scanned += 1;
        let root = dir.join("root");
        let files: BTreeSet<String> = maps
            .lines()
            .filter_map(parse_maps_line)
            .filter(|m| packaged.iter().any(|p| m.path.starts_with(p)))
            .filter(|m| outdated(m, &root))
            .map(|m| m.path)
            .collect();
        if files.is_empty() {
            continue;
        }
        out.stale.push(Stale {
            pid,
            name: fs::read_to_string(dir.join("comm"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            owner: fs::read_to_string(dir.join("cgroup"))
                .map(|t| owner_of_cgroup(&t))
                .unwrap_or(Owner::None),
            files,
        });
    }
    out.stale.sort_by_key(|s| s.pid);
    out
}

/// The scan summed up for the metrics and the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestartNeeded {
    pub processes: u32,
    /// Each system unit to restart, with the packages of its outdated files
    /// (empty where no package owns them).
    pub units: BTreeMap<String, BTreeSet<String>>,
    /// User sessions and user managers running outdated code.
    pub sessions: BTreeSet<String>,
    /// Processes in neither a unit nor a session.
    pub other_processes: u32,
}

/// Sums up `stale`, naming each file's package through `owner_of` (a path's
/// package, `None` when no package owns it).
pub fn summarise(stale: &[Stale], owner_of: &dyn Fn(&str) -> Option<String>) -> RestartNeeded {
    let mut r = RestartNeeded {
        processes: u32::try_from(stale.len()).unwrap_or(u32::MAX),
        ..RestartNeeded::default()
    };
    for s in stale {
        match &s.owner {
            Owner::Unit(unit) => {
                let packages = r.units.entry(unit.clone()).or_default();
                packages.extend(s.files.iter().filter_map(|f| owner_of(f)));
            }
            Owner::Session(session) => {
                r.sessions.insert(session.clone());
            }
            Owner::None => r.other_processes += 1,
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_give_executable_file_mappings_only() {
        // Lines as this machine's /proc/self/maps prints them.
        assert_eq!(
            parse_maps_line("7f1c2a3d5000-7f1c2a546000 r-xp 00026000 fe:00 263042                     /usr/lib/x86_64-linux-gnu/libc.so.6"),
            Some(Mapping { path: "/usr/lib/x86_64-linux-gnu/libc.so.6".into(), dev: (0xfe, 0), inode: 263042, deleted: false })
        );
        assert_eq!(
            parse_maps_line("7f0e1c200000-7f0e1c3a1000 r-xp 00022000 103:02 1837205                   /usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)"),
            Some(Mapping { path: "/usr/lib/x86_64-linux-gnu/libssl.so.3".into(), dev: (0x103, 2), inode: 1837205, deleted: true })
        );
        // A path with spaces keeps them.
        assert_eq!(
            parse_maps_line("7f00-7f01 r-xp 00000000 08:01 12 /opt/My App/lib x.so")
                .map(|m| m.path),
            Some("/opt/My App/lib x.so".to_string())
        );
        for not_code in [
            "5625f796b000-5625f796d000 r--p 00000000 fe:00 247282                     /usr/bin/head",
            "7ffd1c5e1000-7ffd1c602000 rw-p 00000000 00:00 0                          [stack]",
            "7ffd1c7d1000-7ffd1c7d3000 r-xp 00000000 00:00 0                          [vdso]",
            "7f2d3c000000-7f2d3c021000 rw-p 00000000 00:00 0 ",
            "7f4b1e9f4000-7f4b1e9f5000 r-xs 00000000 00:01 2051                       /memfd:jit (deleted)",
            "garbage",
            "",
        ] {
            assert_eq!(parse_maps_line(not_code), None, "{not_code:?}");
        }
    }

    #[test]
    fn cgroups_name_the_unit_or_the_session() {
        assert_eq!(
            owner_of_cgroup("0::/system.slice/nginx.service\n"),
            Owner::Unit("nginx.service".into())
        );
        assert_eq!(
            owner_of_cgroup("0::/system.slice/docker-3f2a.scope\n"),
            Owner::None
        );
        assert_eq!(
            owner_of_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n"),
            Owner::Session("session-3.scope".into())
        );
        assert_eq!(
            owner_of_cgroup(
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/pipewire.service\n"
            ),
            Owner::Session("user@1000.service".into())
        );
        // A hybrid host: the unified line is "/", systemd's hierarchy names the unit.
        assert_eq!(
            owner_of_cgroup("12:name=systemd:/system.slice/cron.service\n4:memory:/system.slice/cron.service\n0::/\n"),
            Owner::Unit("cron.service".into())
        );
        // This machine's: no systemd.
        assert_eq!(
            owner_of_cgroup("9:name=systemd:/\n4:memory:/process_api/f3b8c9eb\n0::/\n"),
            Owner::None
        );
        assert_eq!(owner_of_cgroup(""), Owner::None);
    }

    #[test]
    fn the_summary_groups_by_unit_with_packages_and_counts_sessions() {
        let stale = |pid, owner: Owner, files: &[&str]| Stale {
            pid,
            name: "x".into(),
            owner,
            files: files.iter().map(|f| f.to_string()).collect(),
        };
        let list = [
            stale(
                10,
                Owner::Unit("nginx.service".into()),
                &["/usr/lib/libssl.so.3", "/usr/lib/libcrypto.so.3"],
            ),
            stale(
                11,
                Owner::Unit("nginx.service".into()),
                &["/usr/lib/libssl.so.3"],
            ),
            stale(
                12,
                Owner::Unit("cron.service".into()),
                &["/usr/local/lib/unowned.so"],
            ),
            stale(
                13,
                Owner::Session("session-3.scope".into()),
                &["/usr/bin/bash"],
            ),
            stale(
                14,
                Owner::Session("session-3.scope".into()),
                &["/usr/bin/bash"],
            ),
            stale(15, Owner::None, &["/usr/bin/sleep"]),
        ];
        let owner = |p: &str| match p {
            "/usr/lib/libssl.so.3" => Some("libssl3".to_string()),
            "/usr/lib/libcrypto.so.3" => Some("libssl3".to_string()),
            "/usr/bin/bash" => Some("bash".to_string()),
            _ => None,
        };
        let r = summarise(&list, &owner);
        assert_eq!(r.processes, 6);
        assert_eq!(r.other_processes, 1);
        assert_eq!(r.sessions.len(), 1);
        assert_eq!(r.units.len(), 2);
        assert_eq!(
            r.units["nginx.service"],
            BTreeSet::from(["libssl3".to_string()])
        );
        assert!(r.units["cron.service"].is_empty());
    }

    #[test]
    fn device_numbers_decode_as_linux_encodes_them() {
        // makedev(254, 0) and makedev(259, 2) as glibc encodes them.
        assert_eq!(major_minor(0xfe00), (254, 0));
        assert_eq!(major_minor((259 << 8) | 2), (259, 2));
        assert_eq!(
            major_minor((0x1000 << 32) | (1 << 8) | (0x100 << 12)),
            (0x1000 | 1, 0x100)
        );
    }
}
