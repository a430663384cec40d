//! Domain types of a report. Plain data: no serialisation, no I/O.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// Longest accepted package name, version, architecture or identifier.
pub const MAX_SHORT_STRING: usize = 256;
/// Longest accepted free-text field (OS name, repository, reboot package).
pub const MAX_LONG_STRING: usize = 1024;
/// Most pending updates one report may list: far above any real host (a
/// full Debian archive has fewer packages), small enough that one report
/// cannot occupy the aggregator's writer for long.
pub const MAX_UPDATES: usize = 100_000;
/// Most installed packages a report may list.
pub const MAX_INSTALLED: usize = 100_000;
/// Largest count a report may carry: what both stores keep exactly (a signed 64-bit integer).
pub const MAX_COUNT: u64 = i64::MAX as u64;

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} is {len} characters long, the limit is {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field} contains a control character")]
    ControlCharacter { field: &'static str },
    #[error("{field} contains an invisible formatting character (U+{code:04X}: bidi control, zero-width or similar)")]
    Invisible { field: &'static str, code: u32 },
    #[error("{field} {value:?} is not valid: {reason}")]
    Malformed {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// Checks a free-text field: not empty, within `max` characters, no control characters.
pub fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), InvalidValue> {
    check(field, value, max, false)
}

/// Checks a token-like field (package names, versions, architectures, ids):
/// like [`check_text`], and no white space either.
pub fn check_token(field: &'static str, value: &str) -> Result<(), InvalidValue> {
    check(field, value, MAX_SHORT_STRING, true)
}

/// One pass over the characters: length, control characters, white space.
fn check(field: &'static str, value: &str, max: usize, token: bool) -> Result<(), InvalidValue> {
    if value.is_empty() {
        return Err(InvalidValue::Empty { field });
    }
    // Fast path: short ASCII, checked byte by byte.
    if value.len() <= max && value.is_ascii() {
        for b in value.bytes() {
            if b.is_ascii_control() {
                return Err(InvalidValue::ControlCharacter { field });
            }
            if token && b == b' ' {
                return Err(white_space(field, value));
            }
        }
        return Ok(());
    }
    let len = value.chars().count();
    if len > max {
        return Err(InvalidValue::TooLong { field, len, max });
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidValue::ControlCharacter { field });
    }
    if let Some(c) = value.chars().find(|c| is_invisible(*c)) {
        return Err(InvalidValue::Invisible {
            field,
            code: u32::from(c),
        });
    }
    if token && value.chars().any(char::is_whitespace) {
        return Err(white_space(field, value));
    }
    Ok(())
}

/// Unicode's format characters (general category Cf): bidi embeddings,
/// overrides and isolates, zero-width spaces and joiners, the BOM, soft hyphens,
/// tags. They change how a name reads without being seen, so a name that looks
/// like another could hide behind them.
pub fn is_invisible(c: char) -> bool {
    matches!(u32::from(c),
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
        | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

fn white_space(field: &'static str, value: &str) -> InvalidValue {
    InvalidValue::Malformed {
        field,
        value: value.chars().take(64).collect(),
        reason: "it contains white space",
    }
}

/// A host name as reported: an RFC 1123 name (letters, digits, `-`, `_`, dots),
/// at most 253 characters, each label at most 63. Stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hostname(String);

impl Hostname {
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        const FIELD: &str = "hostname";
        check_text(FIELD, value, 253)?;
        let bad = |reason| InvalidValue::Malformed {
            field: FIELD,
            value: value.to_string(),
            reason,
        };
        for label in value.split('.') {
            if label.is_empty() {
                return Err(bad("it has an empty label"));
            }
            if label.len() > 63 {
                return Err(bad("a label is longer than 63 characters"));
            }
            if !label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(bad("only letters, digits, '-', '_' and '.' are allowed"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(bad("a label starts or ends with '-'"));
            }
        }
        Ok(Hostname(value.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Severity of a security update, as the package manager's advisories rate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Critical,
    Important,
    Moderate,
    Low,
    /// A security update whose advisory carries no severity (always so for apt).
    Unknown,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::Important,
        Severity::Moderate,
        Severity::Low,
        Severity::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Important => "important",
            Severity::Moderate => "moderate",
            Severity::Low => "low",
            Severity::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| InvalidValue::Malformed {
                field: "severity",
                value: s.to_string(),
                reason: "expected critical, important, moderate, low or unknown",
            })
    }
}

/// The package managers pakiti knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Manager {
    Apt,
    Dnf,
    Yum,
    Zypper,
    Apk,
    Pacman,
}

impl Manager {
    pub const ALL: [Manager; 6] = [
        Manager::Apt,
        Manager::Dnf,
        Manager::Yum,
        Manager::Zypper,
        Manager::Apk,
        Manager::Pacman,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Manager::Apt => "apt",
            Manager::Dnf => "dnf",
            Manager::Yum => "yum",
            Manager::Zypper => "zypper",
            Manager::Apk => "apk",
            Manager::Pacman => "pacman",
        }
    }
}

impl fmt::Display for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Manager {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Manager::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| InvalidValue::Malformed {
                field: "manager",
                value: s.to_string(),
                reason: "expected apt, dnf, yum, zypper, apk or pacman",
            })
    }
}

/// Why a pending update would not be applied by a plain upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeldReason {
    /// Held or locked by the administrator (`apt-mark hold`, versionlock).
    Hold,
    /// Kept back: the upgrade needs packages installed or removed.
    KeptBack,
    /// A phased update not yet due on this host.
    Phased,
}

impl HeldReason {
    pub const ALL: [HeldReason; 3] = [HeldReason::Hold, HeldReason::KeptBack, HeldReason::Phased];

    pub fn as_str(self) -> &'static str {
        match self {
            HeldReason::Hold => "hold",
            HeldReason::KeptBack => "kept-back",
            HeldReason::Phased => "phased",
        }
    }
}

impl FromStr for HeldReason {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HeldReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| InvalidValue::Malformed {
                field: "held_reason",
                value: s.to_string(),
                reason: "expected hold, kept-back or phased",
            })
    }
}

/// One installed package with a newer candidate version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Update {
    pub name: String,
    pub arch: String,
    pub installed_version: String,
    pub candidate_version: String,
    /// `Some` exactly when the update fixes a security issue.
    pub security: Option<Severity>,
    /// `Some` when the update is pending but a plain upgrade would not apply it.
    pub held: Option<HeldReason>,
    /// Where the candidate comes from, as the package manager names it.
    pub repository: Option<String>,
    pub advisories: Vec<String>,
    pub cves: Vec<String>,
}

impl Update {
    pub fn is_security(&self) -> bool {
        self.security.is_some()
    }

    pub fn is_held(&self) -> bool {
        self.held.is_some()
    }

    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        check_token("update name", &self.name)?;
        check_token("update arch", &self.arch)?;
        check_token("installed_version", &self.installed_version)?;
        check_token("candidate_version", &self.candidate_version)?;
        if let Some(repo) = &self.repository {
            check_text("repository", repo, MAX_LONG_STRING)?;
        }
        for id in &self.advisories {
            check_token("advisory id", id)?;
        }
        for id in &self.cves {
            check_token("CVE id", id)?;
        }
        Ok(())
    }
}

/// Who the host is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostIdentity {
    pub hostname: Hostname,
    /// `/etc/machine-id`: stable across renames and address changes.
    pub machine_id: Option<String>,
    /// Short label naming the organisation that runs the host.
    pub site: Option<String>,
}

/// The operating system, from `os-release`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct OsInfo {
    pub id: String,
    pub version: String,
    pub pretty_name: Option<String>,
    /// `VERSION_CODENAME` (`bookworm`, `noble`): what Debian's and Ubuntu's
    /// feeds name a release by.
    pub codename: Option<String>,
    /// `CPE_NAME` (`cpe:/o:redhat:enterprise_linux:9::baseos`, SUSE's too).
    pub cpe_name: Option<String>,
    /// `PLATFORM_ID` (`platform:el9`).
    pub platform_id: Option<String>,
}

/// One installed package, as its package manager's database records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Installed {
    pub name: String,
    /// The full version the package manager compares, epoch included where
    /// it has one (`1:2.3-4`).
    pub version: String,
    pub arch: String,
    /// The source package it was built from (dpkg's `Source`, rpm's
    /// SOURCERPM name, apk's origin, pacman's base); its own name when none
    /// is recorded.
    pub source_name: String,
    /// The source package's version; the package's own when none differs.
    pub source_version: String,
    /// The modular stream (`nodejs:18:9040020230411...`), where one applies.
    pub module: Option<String>,
}

impl Installed {
    /// An entry whose source is itself.
    pub fn new(name: &str, version: &str, arch: &str) -> Installed {
        Installed {
            name: name.to_string(),
            version: version.to_string(),
            arch: arch.to_string(),
            source_name: name.to_string(),
            source_version: version.to_string(),
            module: None,
        }
    }

    /// What tells two entries of one inventory apart.
    pub fn key(&self) -> (&str, &str, &str) {
        (&self.name, &self.arch, &self.version)
    }

    pub fn validate(&self) -> Result<(), InvalidValue> {
        check_token("installed name", &self.name)?;
        check_token("installed version", &self.version)?;
        check_token("installed arch", &self.arch)?;
        check_token("installed source_name", &self.source_name)?;
        check_token("installed source_version", &self.source_version)?;
        if let Some(m) = &self.module {
            check_token("installed module", m)?;
        }
        Ok(())
    }
}

/// The kernel the host runs, as the package that installed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunningKernel {
    pub package: String,
    pub version: String,
}

/// Whether the host must reboot to run what is installed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Reboot {
    pub required: bool,
    /// The packages that asked for it, where the system says so.
    pub packages: Vec<String>,
}

/// What a package manager says about one host: the part a collector produces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Inventory {
    pub updates: Vec<Update>,
    pub installed_packages: u64,
    pub reboot: Reboot,
    /// When the package lists were last refreshed, where known.
    pub metadata_updated_at: Option<SystemTime>,
    /// Whether the repositories carry security metadata at all.
    pub security_metadata_available: bool,
    /// Every installed package; `None` where the exporter predates it (the
    /// host then has no inventory, which is never "no vulnerabilities").
    pub installed: Option<Vec<Installed>>,
    /// The package of the running kernel, where one installed it.
    pub running_kernel: Option<RunningKernel>,
    /// Ubuntu: whether ESM (Ubuntu Pro) sources are enabled; `None` elsewhere.
    pub esm_enabled: Option<bool>,
    /// The digest of the inventory ([`crate::installed_digest`]). Read from
    /// the wire it is always that of `installed` when the report carries it;
    /// alone, it says "the inventory is the one of this digest, unchanged
    /// since it was sent".
    pub installed_digest: Option<String>,
    /// Instead of `installed`: what changed since the inventory the
    /// aggregator acknowledged; `installed_digest` is then the digest of the
    /// inventory it makes.
    pub installed_delta: Option<InstalledDelta>,
    /// What the host runs beside what it has installed (set by the
    /// exporter after a collection).
    pub running: crate::running::Running,
    /// Newer versions of installed packages that only a channel the host is
    /// not entitled to offers (Ubuntu Pro's ESM on a host not attached);
    /// `None` where the exporter cannot see such channels (never "none").
    pub unentitled: Option<Vec<crate::entitlement::Unentitled>>,
}

/// What changed in an inventory since the one of digest `base`: the entries
/// that came and those that went (an upgrade is one of each).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct InstalledDelta {
    pub base: String,
    pub added: Vec<Installed>,
    pub removed: Vec<Installed>,
}

impl Inventory {
    pub fn security_count(&self, severity: Severity) -> usize {
        self.updates
            .iter()
            .filter(|u| u.security == Some(severity))
            .count()
    }

    pub fn held_count(&self) -> usize {
        self.updates.iter().filter(|u| u.is_held()).count()
    }
}

/// The program that produced a report.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Producer {
    pub version: String,
    pub revision: String,
}

/// One host's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub host: HostIdentity,
    pub os: OsInfo,
    pub kernel: String,
    pub arch: String,
    pub manager: Manager,
    pub producer: Producer,
    pub collected_at: SystemTime,
    pub collection_duration: Duration,
    pub inventory: Inventory,
}

impl Report {
    /// Feeds everything but the collection's timing into `state`: two reports
    /// that hash alike say the same about their host.
    pub fn hash_content<H: std::hash::Hasher>(&self, state: &mut H) {
        use std::hash::Hash as _;
        self.host.hash(state);
        self.os.hash(state);
        self.kernel.hash(state);
        self.arch.hash(state);
        self.manager.hash(state);
        self.producer.hash(state);
        self.inventory.hash(state);
    }

    /// Checks every field of the report, the first problem found is returned.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        if let Some(id) = &self.host.machine_id {
            check_token("machine_id", id)?;
        }
        if let Some(site) = &self.host.site {
            check_token("site", site)?;
        }
        check_token("os id", &self.os.id)?;
        if !self.os.version.is_empty() {
            check_token("os version", &self.os.version)?;
        }
        if let Some(name) = &self.os.pretty_name {
            check_text("os name", name, MAX_LONG_STRING)?;
        }
        check_token("kernel", &self.kernel)?;
        check_token("arch", &self.arch)?;
        check_token("exporter version", &self.producer.version)?;
        check_token("exporter revision", &self.producer.revision)?;
        for p in &self.inventory.reboot.packages {
            check_token("reboot package", p)?;
        }
        if self.inventory.updates.len() > MAX_UPDATES {
            return Err(InvalidValue::Malformed {
                field: "updates",
                value: format!("{} entries", self.inventory.updates.len()),
                reason: "a report may list at most 100000 pending updates",
            });
        }
        for (field, value) in [
            ("os version_codename", &self.os.codename),
            ("os cpe_name", &self.os.cpe_name),
            ("os platform_id", &self.os.platform_id),
        ] {
            if let Some(v) = value {
                check_token(field, v)?;
            }
        }
        if let Some(k) = &self.inventory.running_kernel {
            check_token("running_kernel package", &k.package)?;
            check_token("running_kernel version", &k.version)?;
        }
        if let Some(installed) = &self.inventory.installed {
            self.validate_installed(installed)?;
        }
        if let Some(delta) = &self.inventory.installed_delta {
            self.validate_delta(delta)?;
        }
        self.inventory.running.validate()?;
        if let Some(u) = &self.inventory.unentitled {
            crate::entitlement::validate(u)?;
        }
        if let Some(d) = &self.inventory.installed_digest {
            if !crate::is_digest(d) {
                return Err(InvalidValue::Malformed {
                    field: "installed_digest",
                    value: d.chars().take(80).collect(),
                    reason: "expected 64 lowercase hex digits (SHA-256)",
                });
            }
        }
        let mut seen = std::collections::HashSet::new();
        for u in &self.inventory.updates {
            u.validate()?;
            if !seen.insert((u.name.as_str(), u.arch.as_str())) {
                return Err(InvalidValue::Malformed {
                    field: "updates",
                    value: format!("{}:{}", u.name, u.arch),
                    reason: "the package is listed twice",
                });
            }
        }
        Ok(())
    }
}

impl Report {
    fn validate_installed(&self, installed: &[Installed]) -> Result<(), InvalidValue> {
        if installed.len() > MAX_INSTALLED {
            return Err(InvalidValue::Malformed {
                field: "installed",
                value: format!("{} entries", installed.len()),
                reason: "a report may list at most 100000 installed packages",
            });
        }
        if self.inventory.installed_packages != installed.len() as u64 {
            return Err(InvalidValue::Malformed {
                field: "installed_packages",
                value: self.inventory.installed_packages.to_string(),
                reason: "it must count the entries of installed",
            });
        }
        listed_once("installed", installed)
    }

    fn validate_delta(&self, delta: &InstalledDelta) -> Result<(), InvalidValue> {
        let malformed = |value: String, reason| {
            Err(InvalidValue::Malformed {
                field: "installed_delta",
                value,
                reason,
            })
        };
        if self.inventory.installed.is_some() {
            return malformed(
                "with installed".into(),
                "a report carries installed or installed_delta, not both",
            );
        }
        if self.inventory.installed_digest.is_none() {
            return malformed(
                "without installed_digest".into(),
                "it needs the digest of the inventory it makes",
            );
        }
        if !crate::is_digest(&delta.base) {
            return malformed(
                delta.base.chars().take(80).collect(),
                "base: expected 64 lowercase hex digits (SHA-256)",
            );
        }
        if delta.added.len() + delta.removed.len() > MAX_INSTALLED {
            return malformed(
                format!("{} entries", delta.added.len() + delta.removed.len()),
                "a delta may list at most 100000 packages",
            );
        }
        listed_once("installed_delta added", &delta.added)?;
        listed_once("installed_delta removed", &delta.removed)?;
        let removed: std::collections::HashSet<&Installed> = delta.removed.iter().collect();
        if let Some(p) = delta.added.iter().find(|p| removed.contains(p)) {
            return malformed(
                format!("{}:{} {}", p.name, p.arch, p.version),
                "the package is both added and removed",
            );
        }
        Ok(())
    }
}

/// Every entry valid, and none listed twice (by name, arch and version).
fn listed_once(field: &'static str, list: &[Installed]) -> Result<(), InvalidValue> {
    for p in list {
        p.validate()?;
    }
    // Sorted, a package listed twice sits beside itself.
    let mut keys: Vec<(&str, &str, &str)> = list.iter().map(Installed::key).collect();
    keys.sort_unstable();
    if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
        return Err(InvalidValue::Malformed {
            field,
            value: format!("{}:{} {}", w[0].0, w[0].1, w[0].2),
            reason: "the package is listed twice",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_checked_and_lower_cased() {
        assert_eq!(
            Hostname::parse("Web-01.Example.org").unwrap().as_str(),
            "web-01.example.org"
        );
        for bad in [
            "",
            "a..b",
            "-a",
            "a-",
            "a b",
            "a/b",
            "<script>",
            &"a".repeat(64),
            "é",
        ] {
            assert!(Hostname::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn text_checks_name_the_field() {
        let err = check_token("update name", "a\u{7}b").unwrap_err();
        assert_eq!(err.to_string(), "update name contains a control character");
        let err = check_token("update name", &"x".repeat(300)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "update name is 300 characters long, the limit is 256"
        );
    }

    #[test]
    fn invisible_formatting_characters_are_refused_everywhere() {
        // Right-to-left override, isolates, zero-width space/joiner, BOM, soft hyphen, a tag.
        for c in [
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{200B}',
            '\u{200D}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{E0041}',
            '\u{061C}',
        ] {
            let value = format!("open{c}ssl");
            for err in [
                check_token("site", &value).unwrap_err(),
                check_text("os name", &value, MAX_LONG_STRING).unwrap_err(),
            ] {
                assert!(
                    matches!(err, InvalidValue::Invisible { code, .. } if code == u32::from(c)),
                    "{c:?}: {err}"
                );
            }
        }
        // Visible non-ASCII text stays welcome in free text.
        assert!(check_text("os name", "Debian GNU/Linux 12 (bookworm) — ÄÖ 日本", 100).is_ok());
    }

    #[test]
    fn a_report_lists_a_bounded_number_of_updates() {
        let many: Vec<Update> = (0..=MAX_UPDATES)
            .map(|i| crate::testing::update(&format!("p{i}"), "1", "2", None))
            .collect();
        let mut r = crate::testing::report("web-01", None, None, many);
        let err = r.validate().unwrap_err().to_string();
        assert!(err.contains("at most 100000"), "{err}");
        r.inventory.updates.pop();
        assert!(r.validate().is_ok());
    }

    #[test]
    fn enums_round_trip_through_their_names() {
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>().unwrap(), s);
        }
        for m in Manager::ALL {
            assert_eq!(m.as_str().parse::<Manager>().unwrap(), m);
        }
        for r in HeldReason::ALL {
            assert_eq!(r.as_str().parse::<HeldReason>().unwrap(), r);
        }
        assert!("urgent".parse::<Severity>().is_err());
    }
}
