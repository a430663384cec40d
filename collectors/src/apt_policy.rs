//! What `apt-cache policy` says, read: the package files with their Release
//! fields, and for each package its installed version, candidate and every
//! available version with the package files that carry it. Pure functions over
//! the text apt prints in the C locale; the apt collector and the ESM reader
//! (`esm.rs`) both read it.

use std::collections::HashMap;

use crate::dpkg::DpkgPackage;

/// A pattern over a package file's Release fields, in the manner of
/// unattended-upgrades' `Origins-Pattern`. Every given field must match;
/// `*` in a value matches any run of characters. `suite` matches either the
/// archive (`a=`) or the codename (`n=`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityPattern {
    pub origin: Option<String>,
    pub label: Option<String>,
    pub suite: Option<String>,
}

impl SecurityPattern {
    fn new(origin: &str, label: Option<&str>, suite: &str) -> Self {
        SecurityPattern {
            origin: Some(origin.into()),
            label: label.map(Into::into),
            suite: Some(suite.into()),
        }
    }

    /// Debian's security suites; Ubuntu's security pockets, including ESM.
    pub fn defaults() -> Vec<SecurityPattern> {
        vec![
            SecurityPattern::new("Debian", Some("Debian-Security"), "*-security"),
            SecurityPattern::new("Ubuntu", None, "*-security"),
            SecurityPattern::new("UbuntuESM", None, "*-infra-security"),
            SecurityPattern::new("UbuntuESMApps", None, "*-apps-security"),
        ]
    }

    pub fn matches(&self, r: &Release) -> bool {
        let field = |pat: &Option<String>, value: &Option<String>| match pat {
            None => true,
            Some(p) => value.as_deref().is_some_and(|v| glob(p, v)),
        };
        field(&self.origin, &r.origin)
            && field(&self.label, &r.label)
            && (self.suite.is_none()
                || field(&self.suite, &r.archive)
                || field(&self.suite, &r.codename))
    }
}

/// `*` matches any run of characters; everything else literally.
fn glob(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !value.starts_with(first) || value.len() < first.len() + last.len() || !value.ends_with(last)
    {
        return false;
    }
    let mut rest = &value[first.len()..value.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The Release fields apt shows for one package file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Release {
    pub origin: Option<String>,
    pub label: Option<String>,
    pub archive: Option<String>,
    pub codename: Option<String>,
    pub version: Option<String>,
}

impl Release {
    /// `Debian:bookworm-security/oldstable-security`, as apt_info.py names origins.
    pub(crate) fn display(&self) -> String {
        format!(
            "{}:{}/{}",
            self.origin.as_deref().unwrap_or(""),
            self.codename.as_deref().unwrap_or(""),
            self.archive.as_deref().unwrap_or("")
        )
    }
}

/// Parses `apt-cache policy` without arguments: package file → Release fields.
/// The key is the text after the priority, as it appears again in the
/// version tables (`http://… bookworm-security/main amd64 Packages`).
pub fn parse_sources(text: &str) -> HashMap<String, Release> {
    let mut out = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line == "Pinned packages:" {
            break;
        }
        let trimmed = line.trim_start();
        if let Some(fields) = trimmed.strip_prefix("release ") {
            if let Some(r) = current.as_ref().and_then(|k| out.get_mut(k)) {
                *r = parse_release_fields(fields);
            }
        } else if trimmed.starts_with("origin ") {
            continue;
        } else {
            // "  500 http://… Packages": the priority is right-aligned.
            current = trimmed
                .split_once(' ')
                .filter(|(prio, _)| prio.parse::<i32>().is_ok())
                .map(|(_, key)| key.to_string());
            if let Some(k) = &current {
                out.insert(k.clone(), Release::default());
            }
        }
    }
    out
}

fn parse_release_fields(fields: &str) -> Release {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for piece in fields.split(',') {
        match piece.split_once('=') {
            Some((k, v)) if k.len() == 1 => pairs.push((k.to_string(), v.to_string())),
            // A value that itself contains a comma.
            _ => {
                if let Some(last) = pairs.last_mut() {
                    last.1.push(',');
                    last.1.push_str(piece);
                }
            }
        }
    }
    let mut r = Release::default();
    for (k, v) in pairs {
        match k.as_str() {
            "o" => r.origin = Some(v),
            "l" => r.label = Some(v),
            "a" => r.archive = Some(v),
            "n" => r.codename = Some(v),
            "v" => r.version = Some(v),
            _ => {}
        }
    }
    r
}

/// One package's block of `apt-cache policy PKG`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    pub installed: Option<String>,
    pub candidate: Option<String>,
    pub versions: Vec<PolicyVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyVersion {
    pub version: String,
    /// `(phased N%)`: the percentage of machines this version is offered to.
    pub phased: Option<u8>,
    /// The package files carrying this version (keys of [`parse_sources`]).
    pub sources: Vec<String>,
}

/// Parses `apt-cache policy PKG…`. Keys are `name` for native and
/// architecture-independent packages and `name:arch` for foreign ones, as apt
/// prints them.
pub fn parse_policies(text: &str) -> HashMap<String, Policy> {
    let mut out: HashMap<String, Policy> = HashMap::new();
    let mut current: Option<(String, Policy)> = None;
    for line in text.lines() {
        if !line.starts_with(' ') {
            if let Some(name) = line.strip_suffix(':') {
                if let Some((k, p)) = current.take() {
                    out.insert(k, p);
                }
                current = Some((name.to_string(), Policy::default()));
            }
            continue;
        }
        let Some((_, policy)) = current.as_mut() else {
            continue;
        };
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(v) = trimmed.strip_prefix("Installed: ") {
            policy.installed = (v != "(none)").then(|| v.to_string());
        } else if let Some(v) = trimmed.strip_prefix("Candidate: ") {
            policy.candidate = (v != "(none)").then(|| v.to_string());
        } else if line.starts_with(" *** ") || indent == 5 {
            let rest = line[5..].trim();
            let mut words = rest.split_whitespace();
            let Some(version) = words.next() else {
                continue;
            };
            let phased = rest
                .split_once("(phased ")
                .and_then(|(_, p)| p.split_once('%'))
                .and_then(|(n, _)| n.parse().ok());
            policy.versions.push(PolicyVersion {
                version: version.to_string(),
                phased,
                sources: Vec::new(),
            });
        } else if indent >= 8 {
            if let (Some(v), Some((_, src))) = (policy.versions.last_mut(), trimmed.split_once(' '))
            {
                v.sources.push(src.to_string());
            }
        }
    }
    if let Some((k, p)) = current {
        out.insert(k, p);
    }
    out
}

/// The policy apt printed for `pkg`: `name:arch` for a foreign package,
/// `name` for a native or architecture-independent one.
pub fn policy_of<'a>(
    policies: &'a HashMap<String, Policy>,
    pkg: &DpkgPackage,
) -> Option<(String, &'a Policy)> {
    let foreign = format!("{}:{}", pkg.name, pkg.arch);
    match policies.get(&foreign) {
        Some(p) => Some((foreign, p)),
        None => policies.get(&pkg.name).map(|p| (pkg.name.clone(), p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCES: &str = include_str!("../fixtures/apt/debian12-policy-sources.txt");
    const POLICIES: &str = include_str!("../fixtures/apt/debian12-policy-packages.txt");

    #[test]
    fn sources_carry_their_release_fields() {
        let s = parse_sources(SOURCES);
        let sec = &s["http://deb.debian.org/debian-security bookworm-security/main amd64 Packages"];
        assert_eq!(sec.label.as_deref(), Some("Debian-Security"));
        assert_eq!(sec.codename.as_deref(), Some("bookworm-security"));
        assert_eq!(sec.archive.as_deref(), Some("oldstable-security"));
        let main = &s["http://deb.debian.org/debian bookworm/main amd64 Packages"];
        assert_eq!(main.label.as_deref(), Some("Debian"));
        assert!(s.contains_key("/var/lib/dpkg/status"));
        let defaults = SecurityPattern::defaults();
        assert!(defaults.iter().any(|p| p.matches(sec)));
        assert!(!defaults.iter().any(|p| p.matches(main)));
    }

    #[test]
    fn release_values_may_hold_commas() {
        let r = parse_release_fields("v=1,o=Example, Inc.,a=stable,l=Lab,c=main");
        assert_eq!(r.origin.as_deref(), Some("Example, Inc."));
        assert_eq!(r.archive.as_deref(), Some("stable"));
    }

    #[test]
    fn patterns_cover_ubuntu_pockets_and_esm() {
        let rel = |o: &str, a: &str| Release {
            origin: Some(o.into()),
            archive: Some(a.into()),
            codename: Some("noble".into()),
            label: Some(o.into()),
            version: None,
        };
        let d = SecurityPattern::defaults();
        let is_sec = |r: &Release| d.iter().any(|p| p.matches(r));
        assert!(is_sec(&rel("Ubuntu", "noble-security")));
        assert!(is_sec(&rel("UbuntuESM", "noble-infra-security")));
        assert!(is_sec(&rel("UbuntuESMApps", "noble-apps-security")));
        assert!(!is_sec(&rel("Ubuntu", "noble-updates")));
        assert!(!is_sec(&rel("UbuntuESMApps", "noble-apps-updates")));
        // A third-party archive that calls itself "-security" is not Debian's.
        assert!(!is_sec(&rel("Evil", "bookworm-security")));
    }

    #[test]
    fn globs() {
        assert!(glob("*-security", "bookworm-security"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXc"));
        assert!(!glob("*-security", "-securit"));
        assert!(glob("exact", "exact"));
    }

    #[test]
    fn policies_parse_installed_candidate_and_version_table() {
        let p = parse_policies(POLICIES);
        let apt = &p["apt"];
        assert_eq!(apt.installed.as_deref(), Some("2.6.1"));
        assert_eq!(apt.candidate.as_deref(), Some("2.6.2"));
        assert_eq!(apt.versions.len(), 2);
        assert_eq!(
            apt.versions[0].sources,
            ["http://deb.debian.org/debian-security bookworm-security/main amd64 Packages"]
        );
        assert_eq!(apt.versions[1].sources.len(), 2);
        let libc = &p["libc6"];
        assert_eq!(libc.installed, libc.candidate);
    }

    #[test]
    fn phased_versions_and_foreign_architectures_are_read() {
        // Layout of apt 2.6's output for a phased update of a foreign package.
        let text = "libfoo:i386:\n  Installed: 1.0-1\n  Candidate: 1.0-2\n  Version table:\n     1.0-2 500 (phased 10%)\n        500 file:/repo ./ Packages\n *** 1.0-1 100\n        100 /var/lib/dpkg/status\n";
        let p = parse_policies(text);
        assert_eq!(p["libfoo:i386"].versions[0].phased, Some(10));
        assert_eq!(p["libfoo:i386"].versions[1].phased, None);
    }
}
