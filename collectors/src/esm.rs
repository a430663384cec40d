//! Ubuntu Pro's ESM channels on a host that does not have them: what they
//! would fix.
//!
//! A host that is not attached to Ubuntu Pro (or has `esm-infra` or
//! `esm-apps` disabled) cannot install from those archives, and its apt does
//! not know them. The Pro client keeps their indexes anyway, in an apt tree of
//! its own (`/var/lib/ubuntu-advantage/apt-esm/`: sources, keyrings, lists,
//! an empty dpkg status), refreshed by its `esm-cache` service, so that
//! `pro security-status` can say what attaching would bring. We ask apt the
//! same question of that tree, `apt-cache policy PKG…` for the host's
//! installed packages, and keep each package's newest version there that the
//! host's own candidate does not reach.

use std::collections::HashMap;

use pakiti_report::Unentitled;
use pakiti_versions::dpkg::compare_versions;

use crate::apt_policy::{policy_of, Policy, Release, SecurityPattern};
use crate::dpkg::DpkgPackage;

/// The Pro client's own apt tree, relative to the root.
pub const TREE: &str = "var/lib/ubuntu-advantage/apt-esm";

/// The channel a package file belongs to, by its Release origin, as the Pro
/// client maps them: `UbuntuESM` is `esm-infra`, `UbuntuESMApps` `esm-apps`.
pub fn channel(release: &Release) -> Option<&'static str> {
    match release.origin.as_deref()? {
        "UbuntuESM" => Some("esm-infra"),
        "UbuntuESMApps" => Some("esm-apps"),
        _ => None,
    }
}

/// The fixes behind an entitlement. `host` is the host's own `apt-cache
/// policy` of its packages; `esm_sources` and `esm` are the same two answers
/// from the Pro client's tree. A version counts when it is newer than both
/// the installed version and the host's own candidate (what the host can
/// install already is a pending update, not an entitlement's), and a package
/// file of an ESM channel carries it; the newest such version names the
/// channel, and the entry is a security fix when any of them comes from a
/// security pocket (`patterns`, the collector's security archives).
pub fn unentitled(
    installed: &[DpkgPackage],
    host: &HashMap<String, Policy>,
    esm_sources: &HashMap<String, Release>,
    esm: &HashMap<String, Policy>,
    patterns: &[SecurityPattern],
) -> Vec<Unentitled> {
    let mut out = Vec::new();
    for pkg in installed {
        let Some((_, policy)) = policy_of(esm, pkg) else {
            continue;
        };
        // What the host can reach by itself: its candidate, else what it has.
        let reach = policy_of(host, pkg)
            .and_then(|(_, p)| p.candidate.clone())
            .filter(|c| compare_versions(c, &pkg.version).is_gt())
            .unwrap_or_else(|| pkg.version.clone());
        let mut newest: Option<(&str, &'static str)> = None;
        let mut security = false;
        for v in &policy.versions {
            if !compare_versions(&v.version, &reach).is_gt() {
                continue;
            }
            let releases: Vec<&Release> = v
                .sources
                .iter()
                .filter_map(|s| esm_sources.get(s))
                .collect();
            let Some(ch) = releases.iter().find_map(|r| channel(r)) else {
                continue;
            };
            security |= releases
                .iter()
                .any(|r| channel(r).is_some() && patterns.iter().any(|p| p.matches(r)));
            if newest.is_none_or(|(n, _)| compare_versions(&v.version, n).is_gt()) {
                newest = Some((&v.version, ch));
            }
        }
        if let Some((version, ch)) = newest {
            out.push(Unentitled {
                name: pkg.name.clone(),
                arch: pkg.arch.clone(),
                installed_version: pkg.version.clone(),
                version: version.to_string(),
                channel: ch.to_string(),
                security,
            });
        }
    }
    out.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    out.dedup_by(|a, b| (&a.name, &a.arch) == (&b.name, &b.arch));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apt_policy::{parse_policies, parse_sources};

    // Captured shapes: `apt-cache policy` of the Pro client's tree on an
    // unattached Ubuntu 22.04 (sources), and of that tree and the host for
    // its packages; see fixtures/apt/README.md.
    const ESM_SOURCES: &str = include_str!("../fixtures/apt/ubuntu2204-esm-policy-sources.txt");
    const ESM_POLICIES: &str = include_str!("../fixtures/apt/ubuntu2204-esm-policy-packages.txt");
    const HOST_POLICIES: &str = include_str!("../fixtures/apt/ubuntu2204-host-policy-packages.txt");

    fn pkg(name: &str, arch: &str, version: &str) -> DpkgPackage {
        DpkgPackage {
            name: name.into(),
            arch: arch.into(),
            version: version.into(),
            hold: false,
            source: None,
        }
    }

    #[test]
    fn esm_versions_beyond_the_hosts_reach_are_behind_an_entitlement() {
        let sources = parse_sources(ESM_SOURCES);
        assert_eq!(
            sources.len(),
            5,
            "the dpkg status and four archives: {sources:?}"
        );
        let found = unentitled(
            &[
                pkg("libcurl4", "amd64", "7.81.0-1ubuntu1.15"),
                pkg(
                    "imagemagick",
                    "amd64",
                    "8:6.9.11.60+dfsg-1.3ubuntu0.22.04.3",
                ),
                // The host's own candidate already reaches the ESM version.
                pkg("tzdata", "all", "2024a-0ubuntu0.22.04"),
                // Not in the ESM channels at all.
                pkg("bash", "amd64", "5.1-6ubuntu1.1"),
                // Foreign architecture, named `name:arch` by apt.
                pkg("libcurl4", "i386", "7.81.0-1ubuntu1.15"),
            ],
            &parse_policies(HOST_POLICIES),
            &sources,
            &parse_policies(ESM_POLICIES),
            &SecurityPattern::defaults(),
        );
        let got: Vec<(&str, &str, &str, &str, bool)> = found
            .iter()
            .map(|u| {
                (
                    u.name.as_str(),
                    u.arch.as_str(),
                    u.version.as_str(),
                    u.channel.as_str(),
                    u.security,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "imagemagick",
                    "amd64",
                    "8:6.9.11.60+dfsg-1.3ubuntu0.22.04.5+esm1",
                    "esm-apps",
                    true
                ),
                (
                    "libcurl4",
                    "amd64",
                    "7.81.0-1ubuntu1.16+esm1",
                    "esm-infra",
                    true
                ),
                (
                    "libcurl4",
                    "i386",
                    "7.81.0-1ubuntu1.16+esm1",
                    "esm-infra",
                    true
                ),
            ]
        );
    }

    #[test]
    fn only_esm_origins_name_a_channel_and_updates_pockets_are_not_security() {
        let release = |origin: &str, archive: &str| Release {
            origin: Some(origin.into()),
            archive: Some(archive.into()),
            ..Release::default()
        };
        assert_eq!(
            channel(&release("UbuntuESM", "jammy-infra-security")),
            Some("esm-infra")
        );
        assert_eq!(
            channel(&release("UbuntuESMApps", "jammy-apps-updates")),
            Some("esm-apps")
        );
        assert_eq!(channel(&release("Ubuntu", "jammy-security")), None);
        assert_eq!(channel(&release("EvilESM", "jammy-infra-security")), None);
        let sources: HashMap<String, Release> = [
            (
                "infra-updates".to_string(),
                release("UbuntuESM", "jammy-infra-updates"),
            ),
            ("evil".to_string(), release("Evil", "jammy-infra-security")),
        ]
        .into();
        let policy = |versions: &[(&str, &str)]| Policy {
            installed: None,
            candidate: versions.first().map(|v| v.0.to_string()),
            versions: versions
                .iter()
                .map(|(v, s)| crate::apt_policy::PolicyVersion {
                    version: v.to_string(),
                    phased: None,
                    sources: vec![s.to_string()],
                })
                .collect(),
        };
        let esm: HashMap<String, Policy> = [
            ("a".to_string(), policy(&[("2.0-1+esm1", "infra-updates")])),
            ("b".to_string(), policy(&[("2.0-1+esm1", "evil")])),
        ]
        .into();
        let found = unentitled(
            &[pkg("a", "amd64", "1.0-1"), pkg("b", "amd64", "1.0-1")],
            &HashMap::new(),
            &sources,
            &esm,
            &SecurityPattern::defaults(),
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].name.as_str(), found[0].security), ("a", false));
    }
}
