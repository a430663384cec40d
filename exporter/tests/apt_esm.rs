//! Ubuntu Pro's ESM channels, end to end with the real apt: an Ubuntu 22.04
//! tree whose own apt knows only Ubuntu's archives, and the Pro client's apt
//! tree inside it (`var/lib/ubuntu-advantage/apt-esm`) with esm-infra and
//! esm-apps archives the host does not have in its sources and cannot install
//! from. What only they offer is reported apart from the pending updates.

mod common;

use common::*;

const ESM_TREE: &str = "var/lib/ubuntu-advantage/apt-esm";

fn ubuntu(repos: &[Repo]) -> Tree {
    let installed = [
        ("libcurl4", "7.81.0-1ubuntu1.15", "install"),
        ("openssl", "3.0.2-0ubuntu1.15", "install"),
        ("tzdata", "2024a-0ubuntu0.22.04", "install"),
        (
            "imagemagick",
            "8:6.9.11.60+dfsg-1.3ubuntu0.22.04.3",
            "install",
        ),
        ("bash", "5.1-6ubuntu1.1", "install"),
    ];
    let tree = Tree::new(&installed, repos);
    tree.write(
        "etc/os-release",
        "PRETTY_NAME=\"Ubuntu 22.04.5 LTS\"\nID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\n",
    );
    tree
}

const JAMMY: Repo = Repo {
    dir: "jammy",
    origin: "Ubuntu",
    label: "Ubuntu",
    suite: "jammy",
    extra_release: "",
    packages: &[("bash", "5.1-6ubuntu1.1", "")],
};
const JAMMY_SECURITY: Repo = Repo {
    dir: "jammy-security",
    origin: "Ubuntu",
    label: "Ubuntu",
    suite: "jammy-security",
    extra_release: "",
    packages: &[
        ("openssl", "3.0.2-0ubuntu1.16", ""),
        ("tzdata", "2024b-0ubuntu0.22.04", ""),
    ],
};
const INFRA_SECURITY: Repo = Repo {
    dir: "infra-security",
    origin: "UbuntuESM",
    label: "UbuntuESM",
    suite: "jammy-infra-security",
    extra_release: "",
    packages: &[
        ("libcurl4", "7.81.0-1ubuntu1.16+esm1", ""),
        // The host's own archive has this version too: not an entitlement's.
        ("openssl", "3.0.2-0ubuntu1.16", ""),
    ],
};
const INFRA_UPDATES: Repo = Repo {
    dir: "infra-updates",
    origin: "UbuntuESM",
    label: "UbuntuESM",
    suite: "jammy-infra-updates",
    extra_release: "",
    // Below the host's own candidate (2024b): nothing to gain.
    packages: &[("tzdata", "2024a-0ubuntu0.22.04.1+esm1", "")],
};
const APPS_SECURITY: Repo = Repo {
    dir: "apps-security",
    origin: "UbuntuESMApps",
    label: "UbuntuESMApps",
    suite: "jammy-apps-security",
    extra_release: "",
    packages: &[(
        "imagemagick",
        "8:6.9.11.60+dfsg-1.3ubuntu0.22.04.5+esm1",
        "",
    )],
};
const APPS_UPDATES: Repo = Repo {
    dir: "apps-updates",
    origin: "UbuntuESMApps",
    label: "UbuntuESMApps",
    suite: "jammy-apps-updates",
    extra_release: "",
    packages: &[("bash", "5.1-6ubuntu1.1+esm1", "")],
};

fn collect(tree: &Tree, format: &str) -> String {
    let out = tree.exporter(&["collect", "--format", format]);
    assert!(
        out.status.success(),
        "exporter failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// (name, version, channel, security) of the report's `unentitled`.
fn unentitled(report: &serde_json::Value) -> Option<Vec<(String, String, String, bool)>> {
    let list = report.get("unentitled")?.as_array().expect("an array");
    Some(
        list.iter()
            .map(|u| {
                (
                    u["name"].as_str().unwrap().to_string(),
                    u["version"].as_str().unwrap().to_string(),
                    u["channel"].as_str().unwrap().to_string(),
                    u["security"].as_bool().unwrap(),
                )
            })
            .collect(),
    )
}

fn pending(report: &serde_json::Value) -> Vec<(String, String)> {
    report["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_string(),
                u["candidate_version"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn an_unattached_host_is_told_what_esm_would_fix_apart_from_its_updates() {
    let tree = ubuntu(&[JAMMY, JAMMY_SECURITY]);
    tree.add_apt_tree(
        ESM_TREE,
        &[INFRA_SECURITY, INFRA_UPDATES, APPS_SECURITY, APPS_UPDATES],
    );
    let report: serde_json::Value = serde_json::from_str(&collect(&tree, "json")).unwrap();
    // The host's own apt never offers what only ESM has.
    assert_eq!(
        pending(&report),
        [
            ("openssl".to_string(), "3.0.2-0ubuntu1.16".to_string()),
            ("tzdata".to_string(), "2024b-0ubuntu0.22.04".to_string()),
        ]
    );
    assert_eq!(report["esm_enabled"], false);
    let s = |v: &str| v.to_string();
    assert_eq!(
        unentitled(&report),
        Some(vec![
            (s("bash"), s("5.1-6ubuntu1.1+esm1"), s("esm-apps"), false),
            (
                s("imagemagick"),
                s("8:6.9.11.60+dfsg-1.3ubuntu0.22.04.5+esm1"),
                s("esm-apps"),
                true
            ),
            (
                s("libcurl4"),
                s("7.81.0-1ubuntu1.16+esm1"),
                s("esm-infra"),
                true
            ),
        ])
    );
    pakiti_report::from_json(&serde_json::to_vec(&report).unwrap()).expect("valid report");

    let text = collect(&tree, "prometheus");
    assert_eq!(promtool_complaints(&text), "", "{text}");
    let n = |name: &str, channel: &str| sample(&text, name, &[&format!("channel=\"{channel}\"")]);
    assert_eq!(n("pakiti_updates_unentitled", "esm-infra"), Some(1.0));
    assert_eq!(
        n("pakiti_security_updates_unentitled", "esm-infra"),
        Some(1.0)
    );
    assert_eq!(n("pakiti_updates_unentitled", "esm-apps"), Some(2.0));
    assert_eq!(
        n("pakiti_security_updates_unentitled", "esm-apps"),
        Some(1.0)
    );
    assert_eq!(sample(&text, "pakiti_updates_pending", &[]), Some(2.0));
}

#[test]
fn without_the_pro_clients_indexes_nothing_is_claimed_and_an_attached_host_owes_nothing() {
    // Ubuntu without the Pro client's ESM tree: cannot tell, so absent.
    let tree = ubuntu(&[JAMMY, JAMMY_SECURITY]);
    let report: serde_json::Value = serde_json::from_str(&collect(&tree, "json")).unwrap();
    assert_eq!(unentitled(&report), None, "{report}");
    let text = collect(&tree, "prometheus");
    assert!(!text.contains("unentitled"), "{text}");

    // Attached: the ESM archives are the host's own; their fixes are pending
    // updates it can install, and nothing is behind an entitlement.
    let tree = ubuntu(&[JAMMY, JAMMY_SECURITY, INFRA_SECURITY, APPS_SECURITY]);
    let report: serde_json::Value = serde_json::from_str(&collect(&tree, "json")).unwrap();
    assert_eq!(report["esm_enabled"], true);
    assert_eq!(unentitled(&report), Some(vec![]));
    let esm_pending: Vec<_> = pending(&report)
        .into_iter()
        .filter(|(_, v)| v.contains("+esm"))
        .collect();
    assert_eq!(esm_pending.len(), 2, "{esm_pending:?}");

    // Not Ubuntu: no such channels at all, whatever lies on disk.
    let tree = scenario();
    tree.add_apt_tree(ESM_TREE, &[INFRA_SECURITY]);
    let report: serde_json::Value = serde_json::from_str(&collect(&tree, "json")).unwrap();
    assert_eq!(unentitled(&report), None);
}
