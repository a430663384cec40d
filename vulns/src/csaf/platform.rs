//! Where a CSAF VEX product stands: the release a platform's CPE names, and
//! the advisory a `vendor_fix` points at. Red Hat's and SUSE's.

/// The release a platform's CPE names, or `None` for a product that is not
/// a host's release:
///
/// | CPE | release |
/// | --- | --- |
/// | `cpe:/o:redhat:enterprise_linux:9::baseos` (also `:a:`, any variant) | `rhel:9` |
/// | `cpe:/a:redhat:rhel_eus:9.2::appstream` (and `rhel_aus`, `rhel_e4s`, `rhel_tus`) | `rhel-eus:9.2` |
/// | `cpe:/o:suse:sles:15:sp6` (also `sled`, `sles_sap`) | `sles:15.6` (`sles:15.0` without a service pack) |
/// | `cpe:/o:suse:sles-ltss:15:sp3` | `sles-ltss:15.3` |
/// | `cpe:/o:opensuse:leap:15.6` | `opensuse-leap:15.6` |
pub fn release_of_cpe(cpe: &str) -> Option<String> {
    let rest = cpe.strip_prefix("cpe:/")?;
    let parts: Vec<&str> = rest.split(':').collect();
    let (vendor, product, version) = (*parts.get(1)?, *parts.get(2)?, *parts.get(3)?);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let minor_release = |v: &str| v.split('.').count() == 2 && v.split('.').all(digits);
    if version.is_empty() {
        return None;
    }
    match (vendor, product) {
        ("redhat", "enterprise_linux") => {
            let major = version.split('.').next()?;
            digits(major).then(|| format!("rhel:{major}"))
        }
        ("redhat", p) => {
            let stream = p.strip_prefix("rhel_")?;
            (["eus", "aus", "e4s", "tus"].contains(&stream) && minor_release(version))
                .then(|| format!("rhel-{stream}:{version}"))
        }
        ("suse", "sles" | "sled" | "sles_sap" | "sles-ltss") => {
            if !digits(version) {
                return None;
            }
            let sp = match parts.get(4).copied().unwrap_or("") {
                "" => "0",
                s => s.strip_prefix("sp").filter(|n| digits(n))?,
            };
            Some(format!("{product}:{version}.{sp}"))
        }
        ("opensuse", "leap") => minor_release(version).then(|| format!("opensuse-leap:{version}")),
        _ => None,
    }
}

/// The advisory a `vendor_fix` names: the last part of Red Hat's errata URL
/// (`RHSA-2026:1234`), or SUSE's id in the remediation's details
/// (`SUSE-SU-2026:1234-1`, `openSUSE-SU-…`).
pub fn advisory(url: Option<&str>, details: &str) -> Option<String> {
    let from_url = url
        .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
        .filter(|a| a.starts_with("RH"))
        .map(str::to_string);
    from_url.or_else(|| {
        details
            .split_whitespace()
            .find(|w| w.starts_with("SUSE-") || w.starts_with("openSUSE-"))
            .map(|w| w.trim_end_matches(['.', ',']).to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_releases_by_their_cpe() {
        for (cpe, want) in [
            ("cpe:/o:redhat:enterprise_linux:9::baseos", Some("rhel:9")),
            (
                "cpe:/a:redhat:enterprise_linux:9::appstream",
                Some("rhel:9"),
            ),
            ("cpe:/o:redhat:enterprise_linux:8", Some("rhel:8")),
            (
                "cpe:/a:redhat:rhel_eus:9.2::appstream",
                Some("rhel-eus:9.2"),
            ),
            ("cpe:/o:redhat:rhel_e4s:8.6::baseos", Some("rhel-e4s:8.6")),
            ("cpe:/a:redhat:openshift:4.16::el9", None),
            ("cpe:/a:redhat:rhel_eus:9::appstream", None),
            ("cpe:/o:suse:sles:15:sp6", Some("sles:15.6")),
            ("cpe:/o:suse:sles:15", Some("sles:15.0")),
            ("cpe:/o:suse:sles-ltss:15:sp3", Some("sles-ltss:15.3")),
            ("cpe:/o:suse:sles_sap:15:sp5", Some("sles_sap:15.5")),
            ("cpe:/o:suse:sles:15:beta", None),
            ("cpe:/o:suse:suse-manager-server:4.3", None),
            ("cpe:/o:opensuse:leap:15.6", Some("opensuse-leap:15.6")),
            ("cpe:/o:opensuse:tumbleweed:-", None),
            ("cpe:/o:fedoraproject:fedora:40", None),
            ("cpe:/o:redhat:enterprise_linux:", None),
            ("not a cpe", None),
        ] {
            assert_eq!(release_of_cpe(cpe).as_deref(), want, "{cpe}");
        }
    }

    #[test]
    fn advisories_from_red_hat_s_urls_and_suse_s_details() {
        assert_eq!(
            advisory(Some("https://access.redhat.com/errata/RHSA-2026:30011"), "").as_deref(),
            Some("RHSA-2026:30011")
        );
        assert_eq!(
            advisory(
                Some("https://www.suse.com/support/update/announcement/2026/suse-su-202640011-1/"),
                "To install this SUSE Security Update use the SUSE recommended installation methods like YaST online_update or \"zypper patch\". SUSE-SU-2026:40011-1."
            )
            .as_deref(),
            Some("SUSE-SU-2026:40011-1")
        );
        assert_eq!(advisory(None, "Affected"), None);
    }
}
