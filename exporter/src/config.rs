//! The exporter's TOML configuration (`--config.file`), read strictly: an
//! unknown key is an error, never silently ignored.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::Deserialize;

use pakiti_collectors::SecurityPattern;

pub const DEFAULT_CONFIG_FILE: &str = "/etc/pakiti/exporter.toml";

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Short label naming the organisation that runs the host (Pakiti's `admin`).
    pub site: Option<String>,
    #[serde(default)]
    pub collector: CollectorSection,
    #[serde(default)]
    pub apt: AptSection,
    #[serde(default)]
    pub apk: ApkSection,
    #[serde(default)]
    pub push: PushSection,
    #[serde(default)]
    pub log: pakiti_service::logging::LogSection,
    #[serde(default)]
    pub support: SupportSection,
}

/// This host's security support window, where the shipped one is wrong for
/// it or missing (a release pakiti does not know, a contract of its own).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportSection {
    /// End of standard security support, `YYYY-MM-DD`.
    pub standard_end: Option<String>,
    /// The extended programme's name (`LTS`, `ESM`, `ELS`, `LTSS`)…
    pub extended: Option<String>,
    /// …and its end, `YYYY-MM-DD`.
    pub extended_end: Option<String>,
}

/// The support window these settings give for a host whose shipped window
/// is `shipped`: each key set replaces that part.
pub fn support_window(
    s: &SupportSection,
    shipped: Option<&pakiti_vulns::support::Window>,
) -> anyhow::Result<Option<pakiti_vulns::support::Window>> {
    use pakiti_vulns::support::{date, Window};
    let day = |key: &str, v: &str| date(v).map_err(|e| anyhow::anyhow!("support.{key}: {e}"));
    let mut w = match (shipped, &s.standard_end) {
        (Some(w), _) => w.clone(),
        (None, Some(end)) => Window {
            standard_end: day("standard_end", end)?,
            extended: None,
            source: "exporter.toml [support]".into(),
        },
        (None, None) => {
            if s.extended.is_some() || s.extended_end.is_some() {
                anyhow::bail!(
                    "support: extended needs standard_end for a release pakiti does not know"
                );
            }
            return Ok(None);
        }
    };
    if let Some(end) = &s.standard_end {
        w.standard_end = day("standard_end", end)?;
        w.source = "exporter.toml [support]".into();
    }
    match (&s.extended, &s.extended_end) {
        (Some(name), Some(end)) => {
            w.extended = Some((name.clone(), day("extended_end", end)?));
            w.source = "exporter.toml [support]".into();
        }
        (None, None) => {}
        _ => anyhow::bail!("support: set extended and extended_end together"),
    }
    Ok(Some(w))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorSection {
    /// `auto`, `apt`, `dnf`, `yum`, `zypper`, `apk` or `pacman` (Pakiti's `method`).
    pub manager: Option<String>,
    /// Time between scheduled collections in `serve`.
    pub interval: Option<String>,
    /// A random delay up to this long before each scheduled collection (Pakiti's `delay`).
    pub jitter: Option<String>,
    /// Limit for each package-manager call.
    pub timeout: Option<String>,
    /// Refresh the package lists before each collection (`apt-get update`,
    /// `dnf makecache`, `zypper refresh`, `apk update`, pacman's `checkupdates`).
    pub refresh_metadata: Option<bool>,
    /// Which pending updates get a `pakiti_update_info` series: `security`, `all`, `none`.
    pub update_info: Option<String>,
    /// Where collectors may keep caches (apt's binary package cache).
    pub cache_dir: Option<PathBuf>,
    /// Look for processes running deleted or replaced code after each collection.
    pub restart_scan: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSection {
    /// Aggregators to push to (the original Pakiti's `server_url`).
    #[serde(default)]
    pub urls: Vec<String>,
    /// CA to verify the aggregators (the original's `ca_certificate`).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key to present.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// File holding the bearer token to present.
    pub token_file: Option<PathBuf>,
    /// `push` (cron mode) waits a random delay up to this long before collecting,
    /// so that a fleet's cron jobs do not all arrive at once (the original's `delay`).
    pub jitter: Option<String>,
    /// Limit for one push.
    pub timeout: Option<String>,
    /// Further attempts after a failure that may pass.
    pub retries: Option<u32>,
    /// Delay before the first retry; doubled each time.
    pub retry_backoff: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptSection {
    /// Replaces the built-in list of security archives.
    pub security_patterns: Option<Vec<PatternEntry>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApkSection {
    /// Local copies of the Alpine security database (secdb JSON, one per
    /// repository); without them apk updates carry no security flag.
    #[serde(default)]
    pub secdb: Vec<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternEntry {
    pub origin: Option<String>,
    pub label: Option<String>,
    pub suite: Option<String>,
}

/// Which pending updates get a `pakiti_update_info` series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateInfo {
    Security,
    All,
    None,
}

impl std::str::FromStr for UpdateInfo {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "security" => UpdateInfo::Security,
            "all" => UpdateInfo::All,
            "none" => UpdateInfo::None,
            _ => bail!("update_info {s:?} is not one of security, all, none"),
        })
    }
}

/// Reads the configuration. A missing file is an error only when the user
/// named it; the default path may be absent (then every setting has its default).
pub fn load(path: Option<&Path>) -> anyhow::Result<File> {
    let file: File = pakiti_service::config::load_toml(path, DEFAULT_CONFIG_FILE)?;
    check(&file).with_context(|| {
        format!(
            "invalid config file {}",
            path.unwrap_or(Path::new(DEFAULT_CONFIG_FILE)).display()
        )
    })?;
    Ok(file)
}

pub fn parse(text: &str) -> anyhow::Result<File> {
    let file: File = toml::from_str(text)?;
    check(&file)?;
    Ok(file)
}

fn check(file: &File) -> anyhow::Result<()> {
    if let Some(site) = &file.site {
        pakiti_report::check_token("site", site)?;
    }
    Ok(())
}

pub use pakiti_service::config::duration;

pub fn security_patterns(section: &AptSection) -> Vec<SecurityPattern> {
    match &section.security_patterns {
        None => SecurityPattern::defaults(),
        Some(list) => list
            .iter()
            .map(|p| SecurityPattern {
                origin: p.origin.clone(),
                label: p.label.clone(),
                suite: p.suite.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_support_section_replaces_the_shipped_window_part_by_part() {
        use pakiti_vulns::support::date;
        let shipped = pakiti_vulns::support::shipped().find("rhel", "9.4");
        let none = SupportSection::default();
        assert_eq!(support_window(&none, shipped).unwrap().as_ref(), shipped);
        assert_eq!(support_window(&none, None).unwrap(), None);
        let own = SupportSection {
            standard_end: Some("2030-01-31".into()),
            ..SupportSection::default()
        };
        let w = support_window(&own, shipped).unwrap().unwrap();
        assert_eq!(w.standard_end, date("2030-01-31").unwrap());
        assert_eq!(w.extended, shipped.unwrap().extended, "the rest stays");
        // A release pakiti does not know gets its window from here alone.
        let w = support_window(&own, None).unwrap().unwrap();
        assert_eq!(
            (w.extended, w.source.as_str()),
            (None, "exporter.toml [support]")
        );
        for bad in [
            SupportSection {
                standard_end: Some("2030-02-30x".into()),
                ..SupportSection::default()
            },
            SupportSection {
                extended: Some("ELS".into()),
                ..SupportSection::default()
            },
        ] {
            assert!(support_window(&bad, shipped).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_example_names_every_key_the_code_takes_and_no_other() {
        let diff = pakiti_service::example_keys::differences::<File>(include_str!(
            "../../config/exporter.toml"
        ));
        assert!(diff.is_empty(), "config/exporter.toml: {diff:#?}");
    }

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../../config/exporter.toml");
        let f = parse(text).unwrap();
        assert_eq!(f.collector.update_info.as_deref(), Some("security"));
        assert_eq!(security_patterns(&f.apt).len(), 4);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = parse("[collector]\nintervall = \"5m\"\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `intervall`"),
            "{err:#}"
        );
        let err = parse("sight = \"x\"\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `sight`"),
            "{err:#}"
        );
    }

    #[test]
    fn an_absent_default_file_means_defaults_but_a_named_one_must_exist() {
        let missing = Path::new("/nonexistent/pakiti.toml");
        let err = load(Some(missing)).unwrap_err();
        assert!(format!("{err:#}").contains("cannot read config file /nonexistent/pakiti.toml"));
    }

    #[test]
    fn durations_and_choices() {
        assert_eq!(
            duration("interval", "5m").unwrap(),
            Duration::from_secs(300)
        );
        assert!(duration("interval", "soon").is_err());
        assert!("some".parse::<UpdateInfo>().is_err());
        assert!(parse("site = \"two words\"").is_err());
    }
}
