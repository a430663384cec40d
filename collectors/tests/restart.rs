//! Outdated code found in a real process: a helper runs with a copy of a
//! library it loads (libc, through LD_LIBRARY_PATH), the copy is replaced
//! as a package upgrade replaces a file (a new file renamed over it), and
//! the scan of this machine's /proc must name the process, the file and the
//! package that owns the path; once the helper restarts, it must not.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use pakiti_collectors::file_owners::owners;
use pakiti_collectors::restart::{scan, summarise, Owner};
use pakiti_collectors::Context;
use pakiti_report::Manager;

struct Helper(Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The libc `sleep` loads, as `ldd` names it.
fn libc() -> PathBuf {
    let out = Command::new("ldd")
        .arg("/usr/bin/sleep")
        .output()
        .expect("ldd");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = text
        .lines()
        .find(|l| l.contains("libc.so"))
        .unwrap_or_else(|| panic!("ldd /usr/bin/sleep: {text}"));
    PathBuf::from(line.split_whitespace().nth(2).unwrap())
}

fn start(lib_dir: &Path) -> Helper {
    Helper(
        Command::new("/usr/bin/sleep")
            .arg("120")
            .env("LD_LIBRARY_PATH", lib_dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Waits until the helper has loaded its libraries (its maps name `file`).
fn wait_mapped(pid: u32, file: &Path) {
    for _ in 0..100 {
        let maps = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        if maps.contains(file.to_str().unwrap()) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the helper never mapped {}", file.display());
}

/// Replaces `file` as dpkg and rpm do: a new file written beside it, renamed over it.
fn upgrade(file: &Path, from: &Path) {
    let new = file.with_extension("dpkg-new");
    fs::copy(from, &new).unwrap();
    fs::rename(&new, file).unwrap();
}

#[test]
fn a_process_mapping_a_replaced_library_is_found_until_it_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let lib_dir = dir.path().join("lib");
    fs::create_dir_all(&lib_dir).unwrap();
    let lib = lib_dir.join("libc.so.6");
    fs::copy(libc(), &lib).unwrap();
    let packaged = [lib_dir.to_str().unwrap()];

    let helper = start(&lib_dir);
    let pid = helper.0.id();
    wait_mapped(pid, &lib);
    let before = scan(Path::new("/proc"), &packaged);
    assert!(
        before.stale.iter().all(|s| s.pid != pid),
        "fresh code counted: {:?}",
        before.stale
    );
    assert!(before.scanned > 1, "{before:?}");

    upgrade(&lib, &libc());
    let after = scan(Path::new("/proc"), &packaged);
    let stale = after
        .stale
        .iter()
        .find(|s| s.pid == pid)
        .unwrap_or_else(|| panic!("the helper is not found: {:?}", after.stale));
    assert_eq!(stale.name, "sleep");
    assert_eq!(
        stale.files,
        BTreeSet::from([lib.to_str().unwrap().to_string()])
    );
    // This machine runs no systemd: no unit, no session.
    assert_eq!(stale.owner, Owner::None);

    // The package that owns the path, from a dpkg database that lists it.
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    fs::write(
        root.join("var/lib/dpkg/info/libc6:amd64.list"),
        format!("/.\n{}\n{}\n", lib_dir.display(), lib.display()),
    )
    .unwrap();
    let ctx = Context {
        rootfs: root,
        ..Context::default()
    };
    let owned = owners(Manager::Apt, &ctx, &stale.files).unwrap();
    assert_eq!(owned[lib.to_str().unwrap()], "libc6");
    let mine: Vec<_> = after
        .stale
        .iter()
        .filter(|s| s.pid == pid)
        .cloned()
        .collect();
    let summary = summarise(&mine, &|f| owned.get(f).cloned());
    assert_eq!((summary.processes, summary.other_processes), (1, 1));

    // Restarted: it maps the new file; nothing is outdated any more.
    drop(helper);
    let helper = start(&lib_dir);
    let pid = helper.0.id();
    wait_mapped(pid, &lib);
    let restarted = scan(Path::new("/proc"), &packaged);
    assert!(
        restarted.stale.iter().all(|s| s.pid != pid),
        "{:?}",
        restarted.stale
    );

    // Deleted outright, as a package's removal would: still found.
    fs::remove_file(&lib).unwrap();
    let removed = scan(Path::new("/proc"), &packaged);
    assert!(
        removed.stale.iter().any(|s| s.pid == pid),
        "{:?}",
        removed.stale
    );
}

/// The processes `needrestart -v -b -r l` (Debian's needrestart, list only)
/// says use deleted or obsolete files where packages put code. (It also
/// names a process whose executable is a sealed `memfd:`, as sandboxes run
/// their tools: no upgrade made that, and pakiti does not count it.)
fn needrestart_pids() -> BTreeSet<u32> {
    let out = Command::new("needrestart")
        .args(["-v", "-b", "-r", "l"])
        .env("NEEDRESTART_SUSPEND", "")
        .output()
        .expect("needrestart (Debian package needrestart)");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .filter(|l| l.contains(" uses deleted ") || l.contains(" uses obsolete "))
        .filter(|l| {
            let path = l.split_whitespace().last().unwrap_or_default();
            pakiti_collectors::restart::PACKAGED_CODE
                .iter()
                .any(|p| path.starts_with(p))
        })
        .filter_map(|l| l.split_whitespace().nth(1)?.strip_prefix('#')?.parse().ok())
        .collect()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// needrestart and pakiti, on this machine, name the same processes: a
/// helper is made outdated under /opt (where packaged code lives, and which
/// needrestart does not ignore) so the comparison is never empty, beside
/// whatever this machine runs outdated already.
#[test]
fn needrestart_and_the_scan_name_the_same_processes() {
    let dir = PathBuf::from(format!("/opt/pakiti-restart-test-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("a folder under /opt (the test runs as root)");
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(dir.clone());
    let lib = dir.join("libc.so.6");
    fs::copy(libc(), &lib).unwrap();
    let helper = start(&dir);
    let pid = helper.0.id();
    wait_mapped(pid, &lib);
    upgrade(&lib, &libc());

    let ours: BTreeSet<u32> = scan(
        Path::new("/proc"),
        pakiti_collectors::restart::PACKAGED_CODE,
    )
    .stale
    .iter()
    .map(|s| s.pid)
    .collect();
    let theirs = needrestart_pids();
    assert!(
        ours.contains(&pid) && theirs.contains(&pid),
        "ours {ours:?}, needrestart's {theirs:?}"
    );
    // Processes that ended between the two looks say nothing.
    let ours: BTreeSet<u32> = ours.into_iter().filter(|p| alive(*p)).collect();
    let theirs: BTreeSet<u32> = theirs.into_iter().filter(|p| alive(*p)).collect();
    assert_eq!(ours, theirs, "pakiti's scan and needrestart disagree");
}
