//! Which releases a host is matched in, and in which order: by its
//! os-release `ID`, `VERSION_ID` and `VERSION_CODENAME` ([`own_release`]'s
//! table), or as `[feeds.releases]` maps it; and the version order of its
//! distribution.

use std::collections::BTreeMap;

use pakiti_store::StoreError;

/// The releases whose records a host is matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Releases {
    /// The host's own release, as the API shows it (Debian: the codename;
    /// Ubuntu: `ubuntu:22.04`; `alpine:3.20`, `almalinux:9`, `rocky:9`).
    pub release: String,
    /// Every release whose records apply, in lookup order (see
    /// [`pakiti_vulns::HostPackages::releases`]); the host is covered when
    /// a loaded feed has records of one of them.
    pub chain: Vec<String>,
    /// Ubuntu Pro's release, whose fixes need ESM sources.
    pub pro: Option<String>,
    /// The distribution's version order.
    pub scheme: pakiti_versions::Scheme,
}

impl Releases {
    fn new(release: String, scheme: pakiti_versions::Scheme) -> Releases {
        Releases {
            chain: vec![release.clone()],
            release,
            pro: None,
            scheme,
        }
    }

    /// Whether a loaded feed has records of one of the releases.
    pub fn covered(
        &self,
        covers: &dyn Fn(&str) -> Result<bool, StoreError>,
    ) -> Result<bool, StoreError> {
        for r in &self.chain {
            if covers(r)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// `major` of a VERSION_ID `major[.minor…]`, when it is a number.
fn major(version: &str) -> Option<&str> {
    let m = version.split('.').next()?;
    (!m.is_empty() && m.bytes().all(|b| b.is_ascii_digit())).then_some(m)
}

/// SUSE's `15.6` (`15` is the release before the first service pack, `15.0`).
fn suse_version(version: &str) -> Option<String> {
    major_minor(version).or_else(|| major(version).map(|m| format!("{m}.0")))
}

/// `major.minor` of a VERSION_ID `major.minor[.patch…]`.
fn major_minor(version: &str) -> Option<String> {
    let mut parts = version.split('.');
    let (a, b) = (parts.next()?, parts.next()?);
    let b: String = b.chars().take_while(|c| c.is_ascii_digit()).collect();
    (major(a).is_some() && !b.is_empty()).then(|| format!("{a}.{b}"))
}

/// The releases whose records a host is matched against, or why there are
/// none, by its os-release `ID`, `VERSION_ID` and `VERSION_CODENAME`:
///
/// | `ID` | releases, in lookup order | version order |
/// | --- | --- | --- |
/// | `debian` | the codename (Debian's tracker), `debian:12` (OSV's DSA/DLA) | dpkg |
/// | `ubuntu` | `ubuntu-pro:22.04` (Ubuntu Pro's fixes), `ubuntu:22.04` | dpkg |
/// | `alpine` | `alpine:3.20` | apk |
/// | `rhel` | `rhel:9` (Red Hat's CSAF VEX) | rpm |
/// | `rhel-eus` (by `[feeds.releases]`; also `-aus`, `-e4s`, `-tus`) | `rhel-eus:9.2`, then `rhel:9` | rpm |
/// | `sles`, `opensuse-leap` | `sles:15.6`, `opensuse-leap:15.6` (SUSE's CSAF VEX) | rpm |
/// | `sled`, `sles_sap` | `sles_sap:15.6`, then `sles:15.6` | rpm |
/// | `sles-ltss` (by `[feeds.releases]`) | `sles-ltss:15.3`, then `sles:15.3` | rpm |
/// | `almalinux` | `almalinux:9` (its own fixes), then `rhel:9` (what RHEL leaves unfixed or will not fix) | rpm |
/// | `rocky` | `rocky:9`, then `rhel:9` | rpm |
/// | `arch` | `arch` (one rolling release) | pacman |
fn own_release(
    os_id: &str,
    version: &str,
    codename: Option<&str>,
    has_inventory: bool,
) -> Result<Releases, String> {
    use pakiti_versions::Scheme;
    if !has_inventory {
        return Err(
            "the host sends no installed inventory (an exporter older than the inventory)".into(),
        );
    }
    let numbered = |what: &str| {
        format!("the host's os-release has no numbered VERSION_ID ({version:?}) to name its {what} release")
    };
    match os_id {
        "debian" => {
            let osv = major(version).map(|m| format!("debian:{m}"));
            let chain: Vec<String> = codename.map(str::to_string).into_iter().chain(osv).collect();
            match chain.first() {
                Some(first) => Ok(Releases {
                    release: first.clone(),
                    chain,
                    pro: None,
                    scheme: Scheme::Dpkg,
                }),
                None => Err("the host's os-release has neither VERSION_CODENAME nor VERSION_ID".into()),
            }
        }
        "ubuntu" if !version.is_empty() => {
            let pro = format!("ubuntu-pro:{version}");
            let own = format!("ubuntu:{version}");
            Ok(Releases {
                release: own.clone(),
                chain: vec![pro.clone(), own],
                pro: Some(pro),
                scheme: Scheme::Dpkg,
            })
        }
        "ubuntu" => Err("the host's os-release has no VERSION_ID".into()),
        "alpine" => major_minor(version)
            .map(|v| Releases::new(format!("alpine:{v}"), Scheme::Apk))
            .ok_or_else(|| numbered("Alpine")),
        "arch" => Ok(Releases::new(
            pakiti_vulns::arch::RELEASE.to_string(),
            Scheme::Alpm,
        )),
        "rhel" => major(version)
            .map(|m| Releases::new(format!("rhel:{m}"), Scheme::Rpm))
            .ok_or_else(|| numbered("RHEL")),
        // An extended stream (EUS, AUS, E4S, TUS) of a minor release, as
        // `[feeds.releases]` names it: its own fixes first, then the main
        // stream's statuses.
        "rhel-eus" | "rhel-aus" | "rhel-e4s" | "rhel-tus" => major_minor(version)
            .map(|v| {
                let mut r = Releases::new(format!("{os_id}:{v}"), Scheme::Rpm);
                r.chain.push(format!("rhel:{}", v.split('.').next().unwrap_or(&v)));
                r
            })
            .ok_or_else(|| numbered("RHEL extended stream's")),
        // A rebuild's own fix decides where it has one (its release suffix
        // is its own); otherwise what RHEL says of the CVE: unfixed, won't
        // fix, or RHEL's fix, which the rebuild ships under its own suffix.
        // SUSE: the service pack's release (`15` alone is `15.0`); LTSS, its
        // own channel, where `[feeds.releases]` puts a host on it, then the
        // service pack's statuses.
        "sles" | "opensuse-leap" => suse_version(version)
            .map(|v| Releases::new(format!("{os_id}:{v}"), Scheme::Rpm))
            .ok_or_else(|| numbered(os_id)),
        // SLED and SLES for SAP: their own products first, then SLES's.
        "sled" | "sles_sap" => suse_version(version)
            .map(|v| {
                let mut r = Releases::new(format!("{os_id}:{v}"), Scheme::Rpm);
                r.chain.push(format!("sles:{v}"));
                r
            })
            .ok_or_else(|| numbered(os_id)),
        "sles-ltss" => suse_version(version)
            .map(|v| {
                let mut r = Releases::new(format!("sles-ltss:{v}"), Scheme::Rpm);
                r.chain.push(format!("sles:{v}"));
                r
            })
            .ok_or_else(|| numbered("SUSE LTSS")),
        "almalinux" | "rocky" => major(version)
            .map(|m| {
                let mut r = Releases::new(format!("{os_id}:{m}"), Scheme::Rpm);
                r.chain.push(format!("rhel:{m}"));
                r
            })
            .ok_or_else(|| numbered(os_id)),
        other => Err(format!(
            "no feed read by this aggregator covers {other:?} hosts yet (Debian, Ubuntu, Alpine, RHEL, AlmaLinux, Rocky Linux, SLES, openSUSE Leap and Arch Linux are read today)"
        )),
    }
}

/// `[feeds.releases]`: hosts matched as another distribution's release (a
/// derivative, a release whose os-release the feeds do not name), by their
/// os-release `ID:VERSION_ID` or `ID:VERSION_CODENAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseMap(BTreeMap<String, (String, String)>);

/// The distributions a host may be matched as.
const READ: [&str; 16] = [
    "debian",
    "ubuntu",
    "alpine",
    "rhel",
    "rhel-eus",
    "rhel-aus",
    "rhel-e4s",
    "rhel-tus",
    "sles",
    "sled",
    "sles_sap",
    "sles-ltss",
    "opensuse-leap",
    "almalinux",
    "rocky",
    "arch",
];

/// Debian's codenames by major version, for a host matched as Debian by its
/// version alone (the tracker names releases by codename).
const DEBIAN: [(&str, &str); 6] = [
    ("9", "stretch"),
    ("10", "buster"),
    ("11", "bullseye"),
    ("12", "bookworm"),
    ("13", "trixie"),
    ("14", "forky"),
];

impl ReleaseMap {
    /// Checks the configured entries; an error names the entry.
    pub fn parse(entries: &BTreeMap<String, String>) -> anyhow::Result<ReleaseMap> {
        let mut out = BTreeMap::new();
        for (from, to) in entries {
            let pair = |s: &str| {
                s.split_once(':')
                    .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            };
            if pair(from).is_none() {
                anyhow::bail!("feeds.releases {from:?}: the host's release must be ID:VERSION_ID (or ID:VERSION_CODENAME) as its os-release says, e.g. \"linuxmint:21.3\"");
            }
            let Some((id, version)) = pair(to) else {
                anyhow::bail!("feeds.releases {from:?} = {to:?}: the release to match it as must be ID:VERSION_ID, e.g. \"ubuntu:22.04\"");
            };
            if !READ.contains(&id.as_str()) {
                anyhow::bail!(
                    "feeds.releases {from:?} = {to:?}: {id:?} is not a distribution the feeds cover ({})",
                    READ.join(", ")
                );
            }
            out.insert(from.clone(), (id, version));
        }
        Ok(ReleaseMap(out))
    }
}

static RELEASE_MAP: std::sync::OnceLock<ReleaseMap> = std::sync::OnceLock::new();

/// Sets `[feeds.releases]` for this process, once, at its start.
pub fn set_release_map(map: ReleaseMap) {
    let _ = RELEASE_MAP.set(map);
}

/// The releases whose records a host is matched against, or why there are
/// none: its own ([`own_release`]), or what `[feeds.releases]` says.
pub(crate) fn release_of(
    os_id: &str,
    version: &str,
    codename: Option<&str>,
    has_inventory: bool,
) -> Result<Releases, String> {
    release_with(RELEASE_MAP.get(), os_id, version, codename, has_inventory)
}

fn release_with(
    map: Option<&ReleaseMap>,
    os_id: &str,
    version: &str,
    codename: Option<&str>,
    has_inventory: bool,
) -> Result<Releases, String> {
    // A rolling release (no VERSION_ID, as Arch and its derivatives) is
    // named `ID:rolling`.
    let version_key = if version.is_empty() {
        "rolling"
    } else {
        version
    };
    let mapped = map.and_then(|m| {
        m.0.get(&format!("{os_id}:{version_key}"))
            .or_else(|| codename.and_then(|c| m.0.get(&format!("{os_id}:{c}"))))
    });
    match mapped {
        Some((id, v)) => {
            let codename = (id == "debian")
                .then(|| DEBIAN.iter().find(|(n, _)| n == v).map(|(_, c)| *c))
                .flatten();
            own_release(id, v, codename, has_inventory)
        }
        None => own_release(os_id, version, codename, has_inventory),
    }
}

/// The host's releases, as stored.
pub(crate) fn releases_of(s: &pakiti_store::HostSummary) -> Result<Releases, String> {
    release_of(
        &s.os_id,
        &s.os_version,
        s.os_codename.as_deref(),
        s.has_inventory,
    )
}

/// Why a covered-looking host is not covered after all.
pub(crate) fn not_loaded(releases: &Releases) -> String {
    format!(
        "no loaded feed has records for release {}: import one with pakiti-aggregator feeds import",
        releases
            .chain
            .iter()
            .map(|r| format!("{r:?}"))
            .collect::<Vec<_>>()
            .join(" or ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pakiti_versions::Scheme;

    fn chain(r: Result<Releases, String>) -> (Vec<String>, Scheme) {
        let r = r.unwrap();
        (r.chain, r.scheme)
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn each_distribution_is_matched_in_its_releases_in_order() {
        assert_eq!(
            chain(own_release("debian", "12", Some("bookworm"), true)),
            (s(&["bookworm", "debian:12"]), Scheme::Dpkg)
        );
        assert_eq!(
            chain(own_release("debian", "", Some("trixie"), true)),
            (s(&["trixie"]), Scheme::Dpkg)
        );
        assert_eq!(
            chain(own_release("ubuntu", "22.04", Some("jammy"), true)),
            (s(&["ubuntu-pro:22.04", "ubuntu:22.04"]), Scheme::Dpkg)
        );
        assert_eq!(
            chain(own_release("alpine", "3.20.3", None, true)),
            (s(&["alpine:3.20"]), Scheme::Apk)
        );
        assert_eq!(
            chain(own_release("alpine", "3.21.0_alpha20250108", None, true)),
            (s(&["alpine:3.21"]), Scheme::Apk)
        );
        assert_eq!(
            chain(own_release("almalinux", "9.4", None, true)),
            (s(&["almalinux:9", "rhel:9"]), Scheme::Rpm)
        );
        assert_eq!(
            chain(own_release("rocky", "8.10", None, true)),
            (s(&["rocky:8", "rhel:8"]), Scheme::Rpm)
        );
        assert_eq!(
            chain(own_release("rhel", "9.4", None, true)),
            (s(&["rhel:9"]), Scheme::Rpm)
        );
        assert_eq!(
            chain(own_release("sles", "15.6", None, true)),
            (s(&["sles:15.6"]), Scheme::Rpm)
        );
        assert_eq!(
            chain(own_release("sles", "15", None, true)),
            (s(&["sles:15.0"]), Scheme::Rpm)
        );
        assert_eq!(
            chain(own_release("opensuse-leap", "15.6", None, true)),
            (s(&["opensuse-leap:15.6"]), Scheme::Rpm)
        );
        assert_eq!(
            chain(own_release("sles-ltss", "15.3", None, true)),
            (s(&["sles-ltss:15.3", "sles:15.3"]), Scheme::Rpm)
        );
        for (id, version) in [
            ("alpine", "edge"),
            ("rocky", ""),
            ("rhel", "nine"),
            ("ubuntu", ""),
            ("fedora", "40"),
        ] {
            assert!(
                own_release(id, version, None, true).is_err(),
                "{id} {version}"
            );
        }
        assert!(own_release("debian", "12", Some("bookworm"), false).is_err());
    }

    #[test]
    fn configured_releases_match_a_host_as_another() {
        let map = ReleaseMap::parse(&BTreeMap::from([
            ("linuxmint:21.3".to_string(), "ubuntu:22.04".to_string()),
            ("raspbian:12".to_string(), "debian:12".to_string()),
            ("debian:sid".to_string(), "debian:14".to_string()),
            ("manjaro:rolling".to_string(), "arch:rolling".to_string()),
        ]))
        .unwrap();
        let with =
            |id, version, codename| chain(release_with(Some(&map), id, version, codename, true));
        assert_eq!(
            with("linuxmint", "21.3", Some("virginia")),
            (s(&["ubuntu-pro:22.04", "ubuntu:22.04"]), Scheme::Dpkg)
        );
        // Debian by version: its codename from Debian's table.
        assert_eq!(
            with("raspbian", "12", Some("bookworm")),
            (s(&["bookworm", "debian:12"]), Scheme::Dpkg)
        );
        // By codename where the host has no version.
        assert_eq!(
            with("debian", "", Some("sid")),
            (s(&["forky", "debian:14"]), Scheme::Dpkg)
        );
        // A RHEL host on the 9.2 EUS stream.
        let eus = ReleaseMap::parse(&BTreeMap::from([(
            "rhel:9.2".to_string(),
            "rhel-eus:9.2".to_string(),
        )]))
        .unwrap();
        assert_eq!(
            chain(release_with(Some(&eus), "rhel", "9.2", None, true)),
            (s(&["rhel-eus:9.2", "rhel:9"]), Scheme::Rpm)
        );
        assert_eq!(
            chain(release_with(Some(&eus), "rhel", "9.4", None, true)),
            (s(&["rhel:9"]), Scheme::Rpm)
        );
        // A rolling derivative, which has no VERSION_ID.
        assert_eq!(with("manjaro", "", None), (s(&["arch"]), Scheme::Alpm));
        assert_eq!(with("arch", "", None), (s(&["arch"]), Scheme::Alpm));
        // Not listed: its own.
        assert_eq!(
            with("debian", "12", Some("bookworm")),
            (s(&["bookworm", "debian:12"]), Scheme::Dpkg)
        );
        for bad in [
            ("linuxmint", "ubuntu:22.04"),
            ("linuxmint:21.3", "ubuntu"),
            (":21.3", "ubuntu:22.04"),
            ("linuxmint:21.3", "fedora:40"),
        ] {
            let e = ReleaseMap::parse(&BTreeMap::from([(bad.0.to_string(), bad.1.to_string())]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("{:?}", bad.0)), "{e}");
        }
    }
}
