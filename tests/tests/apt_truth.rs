//! The apt collector on the machine the tests run on, against two independent
//! answers from apt itself: python3-apt (`tests/oracles/apt_oracle.py`) and
//! `apt list --upgradable`. Whenever this machine's lists are fresh it has
//! real pending updates, so this compares hundreds of real packages.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use pakiti_collectors::{collector, Context};
use pakiti_report::Manager;

fn ours() -> pakiti_report::Inventory {
    let cache = tempfile::tempdir().unwrap();
    let ctx = Context {
        timeout: Duration::from_secs(300),
        cache_dir: Some(cache.path().to_path_buf()),
        ..Context::default()
    };
    collector(Manager::Apt, ctx)
        .collect()
        .expect("the apt collector works on this machine")
}

#[test]
fn pending_security_and_held_equal_what_python_apt_says() {
    let oracle = Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/oracles/apt_oracle.py"
        ))
        .output()
        .expect("python3-apt oracle runs");
    assert!(
        oracle.status.success(),
        "{}",
        String::from_utf8_lossy(&oracle.stderr)
    );
    let theirs: BTreeSet<(String, String, String, String, bool, bool)> =
        String::from_utf8_lossy(&oracle.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let s = |k: &str| v[k].as_str().unwrap().to_string();
                (
                    s("name"),
                    s("arch"),
                    s("installed"),
                    s("candidate"),
                    v["security"].as_bool().unwrap(),
                    v["held"].as_bool().unwrap(),
                )
            })
            .collect();
    let inv = ours();
    let ours: BTreeSet<_> = inv
        .updates
        .iter()
        .map(|u| {
            (
                u.name.clone(),
                u.arch.clone(),
                u.installed_version.clone(),
                u.candidate_version.clone(),
                u.is_security(),
                u.is_held(),
            )
        })
        .collect();
    let missing: Vec<_> = theirs.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "python3-apt only: {missing:#?}\npakiti only: {extra:#?}"
    );
    eprintln!(
        "this machine: {} pending, {} security, {} held, {} installed",
        ours.len(),
        ours.iter().filter(|u| u.4).count(),
        ours.iter().filter(|u| u.5).count(),
        inv.installed_packages
    );
}

#[test]
fn pending_equals_apt_list_upgradable_and_installed_equals_dpkg() {
    let out = Command::new("apt")
        .args(["list", "--upgradable"])
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(out.status.success());
    // "bash/oldstable 5.2.15-2+b13 amd64 [upgradable from: 5.2.15-2+b8]"
    let apt: BTreeSet<(String, String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("[upgradable from: "))
        .map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next().unwrap().split('/').next().unwrap().to_string();
            let cand = w.next().unwrap().to_string();
            let arch = w.next().unwrap().to_string();
            (name, arch, cand)
        })
        .collect();
    let inv = ours();
    let ours: BTreeSet<_> = inv
        .updates
        .iter()
        .map(|u| (u.name.clone(), u.arch.clone(), u.candidate_version.clone()))
        .collect();
    assert_eq!(ours, apt);

    // The inventory is what dpkg-query shows of every package whose files are
    // on the system: name, version, architecture and source, multiarch included.
    let out = Command::new("dpkg-query")
        .args([
            "-W",
            "-f",
            "${db:Status-Status}\\t${Package}\\t${Version}\\t${Architecture}\\t${source:Package}\\t${source:Version}\\n",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let dpkg: BTreeSet<Vec<String>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect::<Vec<_>>())
        .filter(|f| !matches!(f[0].as_str(), "not-installed" | "config-files"))
        .map(|f| f[1..].to_vec())
        .collect();
    let installed = inv
        .installed
        .as_ref()
        .expect("the apt collector reports the inventory");
    let ours: BTreeSet<Vec<String>> = installed
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.version.clone(),
                p.arch.clone(),
                p.source_name.clone(),
                p.source_version.clone(),
            ]
        })
        .collect();
    assert!(
        dpkg.len() > 100,
        "only {} packages on this machine",
        dpkg.len()
    );
    assert_eq!(ours, dpkg);
    assert_eq!(inv.installed_packages, installed.len() as u64);
    // Every pending update, held or not, starts from an installed version.
    for u in &inv.updates {
        assert!(
            installed
                .iter()
                .any(|p| p.name == u.name && p.arch == u.arch && p.version == u.installed_version),
            "{} {} {} is not in the inventory",
            u.name,
            u.arch,
            u.installed_version
        );
    }
}
