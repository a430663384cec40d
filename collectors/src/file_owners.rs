//! Which package owns a file, for the files that outdated processes map
//! ([`crate::restart`]). Read from the package database of the inspected
//! tree: dpkg's `info/*.list`, pacman's `local/*/files`, apk's
//! `installed` (no tool runs); rpm's database through `rpm -qf`.
//!
//! A path is looked up as it is and under its other name on a merged-/usr
//! system (`/usr/lib/x.so` and `/lib/x.so` are one file there; the
//! database records the one the package shipped).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use pakiti_report::Manager;

use crate::{exec, CollectError, Context};

/// The path and its merged-/usr twin.
fn aliases(path: &str) -> [String; 2] {
    let twin = match path.strip_prefix("/usr") {
        Some(rest)
            if ["/lib", "/bin/", "/sbin/"]
                .iter()
                .any(|p| rest.starts_with(p)) =>
        {
            rest.to_string()
        }
        _ => format!("/usr{path}"),
    };
    [path.to_string(), twin]
}

/// The owners of `paths` (each path to its package's name); paths no
/// package owns are left out.
pub fn owners(
    manager: Manager,
    ctx: &Context,
    paths: &BTreeSet<String>,
) -> Result<BTreeMap<String, String>, CollectError> {
    if paths.is_empty() {
        return Ok(BTreeMap::new());
    }
    // Every name a wanted path may be recorded under → the wanted path.
    let mut wanted: BTreeMap<String, &str> = BTreeMap::new();
    for p in paths {
        for a in aliases(p) {
            wanted.entry(a).or_insert(p);
        }
    }
    let root = &ctx.rootfs;
    let mut found = BTreeMap::new();
    let mut take = |package: &str, file: &str| {
        if let Some(p) = wanted.get(file) {
            found
                .entry((*p).to_string())
                .or_insert_with(|| package.to_string());
        }
    };
    match manager {
        Manager::Apt => {
            let dir = root.join("var/lib/dpkg/info");
            for (package, text) in read_each(&dir, ".list")? {
                // "libssl3:amd64.list" → libssl3
                let name = package.split(':').next().unwrap_or(&package);
                text.lines().for_each(|f| take(name, f));
            }
        }
        Manager::Pacman => {
            let dir = root.join("var/lib/pacman/local");
            for entry in read_dir(&dir)? {
                let path = entry.path();
                let Ok(desc) = fs::read_to_string(path.join("desc")) else {
                    continue;
                };
                let Some(name) = section(&desc, "%NAME%").next() else {
                    continue;
                };
                let files = fs::read_to_string(path.join("files")).unwrap_or_default();
                for f in section(&files, "%FILES%") {
                    take(name, &format!("/{f}"));
                }
            }
        }
        Manager::Apk => {
            let db = root.join("lib/apk/db/installed");
            let text = fs::read_to_string(&db).map_err(|source| CollectError::Read {
                path: db.clone(),
                source,
            })?;
            let (mut package, mut folder) = (String::new(), String::new());
            for line in text.lines() {
                match line.split_once(':') {
                    Some(("P", v)) => package = v.to_string(),
                    Some(("F", v)) => folder = v.to_string(),
                    Some(("R", v)) => take(&package, &format!("/{folder}/{v}")),
                    _ if line.is_empty() => {
                        package.clear();
                        folder.clear();
                    }
                    _ => {}
                }
            }
        }
        Manager::Dnf | Manager::Yum | Manager::Zypper => {
            let mut args = Vec::new();
            if root != Path::new("/") {
                args.push(format!("--root={}", root.display()));
            }
            args.extend([
                "-qf".into(),
                "--qf".into(),
                "%{NAME}\\n".into(),
                "--".into(),
            ]);
            let asked: Vec<&String> = paths.iter().collect();
            args.extend(asked.iter().map(|p| p.to_string()));
            // Exit 1 when some path is not owned: its line says so.
            let out = exec::run("rpm", &args, ctx.timeout)?;
            for (path, line) in asked.iter().zip(out.stdout.lines()) {
                if !line.contains(' ') && !line.is_empty() {
                    found.insert(path.to_string(), line.to_string());
                }
            }
        }
    }
    Ok(found)
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, CollectError> {
    Ok(fs::read_dir(dir)
        .map_err(|source| CollectError::Read {
            path: dir.to_path_buf(),
            source,
        })?
        .flatten()
        .collect())
}

/// Each file of `dir` named `*suffix`: its stem and text.
fn read_each(dir: &Path, suffix: &str) -> Result<Vec<(String, String)>, CollectError> {
    Ok(read_dir(dir)?
        .into_iter()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.strip_suffix(suffix)?.to_string();
            Some((name, fs::read_to_string(e.path()).ok()?))
        })
        .collect())
}

/// The lines of a pacman database section (`%FILES%` up to a blank line).
fn section<'a>(text: &'a str, header: &'a str) -> impl Iterator<Item = &'a str> {
    text.lines()
        .skip_while(move |l| *l != header)
        .skip(1)
        .take_while(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(root: &Path) -> Context {
        Context {
            rootfs: root.to_path_buf(),
            ..Context::default()
        }
    }

    fn paths(p: &[&str]) -> BTreeSet<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn merged_usr_paths_have_a_twin() {
        assert_eq!(
            aliases("/usr/lib/x86_64-linux-gnu/libssl.so.3")[1],
            "/lib/x86_64-linux-gnu/libssl.so.3"
        );
        assert_eq!(
            aliases("/lib/x86_64-linux-gnu/libc.so.6")[1],
            "/usr/lib/x86_64-linux-gnu/libc.so.6"
        );
        assert_eq!(aliases("/usr/bin/bash")[1], "/bin/bash");
        assert_eq!(aliases("/usr/libexec/x")[1], "/libexec/x");
        assert_eq!(aliases("/opt/x")[1], "/usr/opt/x");
    }

    #[test]
    fn dpkg_lists_pacman_files_and_apk_installed_name_the_owners() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let info = root.join("var/lib/dpkg/info");
        fs::create_dir_all(&info).unwrap();
        // dpkg's .list files: one path a line, directories included.
        fs::write(
            info.join("libssl3:amd64.list"),
            "/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libssl.so.3\n",
        )
        .unwrap();
        fs::write(info.join("bash.list"), "/.\n/bin\n/bin/bash\n").unwrap();
        fs::write(info.join("bash.md5sums"), "x  bin/bash\n").unwrap();
        let want = paths(&[
            "/usr/lib/x86_64-linux-gnu/libssl.so.3",
            "/usr/bin/bash",
            "/usr/local/bin/mine",
        ]);
        let found = owners(Manager::Apt, &ctx(root), &want).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found["/usr/lib/x86_64-linux-gnu/libssl.so.3"], "libssl3");
        assert_eq!(found["/usr/bin/bash"], "bash");

        // pacman's local database: desc and files, as pacman 6 writes them.
        let pkg = root.join("var/lib/pacman/local/openssl-3.2.1-1");
        fs::create_dir_all(&pkg).unwrap();
        fs::write(
            pkg.join("desc"),
            "%NAME%\nopenssl\n\n%VERSION%\n3.2.1-1\n\n",
        )
        .unwrap();
        fs::write(
            pkg.join("files"),
            "%FILES%\nusr/\nusr/lib/\nusr/lib/libssl.so.3\n\n%BACKUP%\netc/ssl/openssl.cnf\tabc\n",
        )
        .unwrap();
        let found = owners(
            Manager::Pacman,
            &ctx(root),
            &paths(&["/usr/lib/libssl.so.3", "/etc/ssl/openssl.cnf"]),
        )
        .unwrap();
        assert_eq!(
            found,
            BTreeMap::from([("/usr/lib/libssl.so.3".to_string(), "openssl".to_string())])
        );

        // apk's installed database: P (package), F (folder), R (file in it).
        fs::create_dir_all(root.join("lib/apk/db")).unwrap();
        fs::write(
            root.join("lib/apk/db/installed"),
            "C:Q1abc=\nP:libssl3\nV:3.1.4-r5\nF:usr/lib\nR:libssl.so.3\n\nC:Q1def=\nP:busybox\nV:1.36.1-r15\nF:bin\nR:busybox\nF:usr/lib\n\n",
        )
        .unwrap();
        let found = owners(
            Manager::Apk,
            &ctx(root),
            &paths(&["/usr/lib/libssl.so.3", "/bin/busybox", "/usr/lib/other"]),
        )
        .unwrap();
        assert_eq!(found["/usr/lib/libssl.so.3"], "libssl3");
        assert_eq!(found["/bin/busybox"], "busybox");
        assert_eq!(found.len(), 2);
    }
}
