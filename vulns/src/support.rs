//! When a host's operating-system release stops getting security fixes,
//! from the support windows shipped with pakiti (`vulns/data/support.toml`,
//! the vendors' published lifecycles with their sources). An end-of-life
//! release is not "clean": nobody publishes its fixes any more.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

/// The file shipped with pakiti.
pub const SHIPPED: &str = include_str!("../data/support.toml");

/// The shipped windows, parsed once. (The file is part of the program and
/// its tests parse it; were it ever broken, no window is known: unknown,
/// never a made-up date.)
pub fn shipped() -> &'static Windows {
    static WINDOWS: std::sync::OnceLock<Windows> = std::sync::OnceLock::new();
    WINDOWS.get_or_init(|| {
        Windows::parse(SHIPPED).unwrap_or_else(|_| Windows {
            as_of: SystemTime::UNIX_EPOCH,
            releases: HashMap::new(),
        })
    })
}

/// Where a release stands on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Standard security support.
    Standard,
    /// Its extended programme (`LTS`, `ESM`, …) only: fixes reach hosts entitled to it.
    Extended(String),
    /// No security fix is published for it any more.
    Ended,
}

impl Window {
    pub fn phase(&self, now: SystemTime) -> Phase {
        if now < self.standard_end {
            return Phase::Standard;
        }
        match &self.extended {
            Some((name, end)) if now < *end => Phase::Extended(name.clone()),
            _ => Phase::Ended,
        }
    }
}

/// One release's support window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// End of standard security support.
    pub standard_end: SystemTime,
    /// The extended programme after it (`LTS`, `ESM`, `ELS`, `LTSS`) and its end.
    pub extended: Option<(String, SystemTime)>,
    /// Where the dates come from.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    as_of: String,
    release: Vec<Release>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Release {
    id: String,
    version: String,
    standard_end: String,
    extended: Option<String>,
    extended_end: Option<String>,
    source: String,
}

/// The support windows, each keyed by os-release ID and VERSION_ID.
#[derive(Debug, Clone)]
pub struct Windows {
    /// When the file was last brought up to date.
    pub as_of: SystemTime,
    /// By os-release ID: each version and its window. The aggregator asks
    /// once per host of the fleet, so a lookup reads one ID's few entries.
    releases: HashMap<String, Vec<(String, Window)>>,
}

/// Midnight UTC of a `YYYY-MM-DD` date.
pub fn date(text: &str) -> Result<SystemTime, String> {
    let bad = || format!("{text:?} is not a date (YYYY-MM-DD)");
    let mut parts = text.splitn(3, '-');
    let mut next = |len: usize| {
        parts
            .next()
            .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<i64>().ok())
            .ok_or_else(bad)
    };
    let (y, m, d) = (next(4)?, next(2)?, next(2)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let days = pakiti_report::time::days_from_civil(y, m as u32, d as u32);
    let days = u64::try_from(days).map_err(|_| bad())?;
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(days * 86_400))
}

impl Windows {
    /// Parses a support file (the shipped one or an operator's), checking every date.
    pub fn parse(text: &str) -> Result<Windows, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut releases: HashMap<String, Vec<(String, Window)>> = HashMap::new();
        for r in file.release {
            let at = |what: &str, e: String| format!("{} {}: {what}: {e}", r.id, r.version);
            let standard_end = date(&r.standard_end).map_err(|e| at("standard_end", e))?;
            let extended = match (r.extended, r.extended_end) {
                (Some(name), Some(end)) => {
                    Some((name, date(&end).map_err(|e| at("extended_end", e))?))
                }
                (None, None) => None,
                _ => {
                    return Err(at(
                        "extended",
                        "needs both extended and extended_end".into(),
                    ))
                }
            };
            releases.entry(r.id).or_default().push((
                r.version,
                Window {
                    standard_end,
                    extended,
                    source: r.source,
                },
            ));
        }
        Ok(Windows {
            as_of: date(&file.as_of).map_err(|e| format!("as_of: {e}"))?,
            releases,
        })
    }

    /// The window of os-release `id` and `version_id`: an entry's version
    /// matches the same version or one of its minor versions ("9" matches
    /// "9.4", never "90"); the longest match wins.
    pub fn find(&self, id: &str, version_id: &str) -> Option<&Window> {
        self.releases
            .get(id)?
            .iter()
            .filter(|(v, _)| {
                version_id == v
                    || version_id
                        .strip_prefix(v.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
            .max_by_key(|(v, _)| v.len())
            .map(|(_, w)| w)
    }

    /// The os-release IDs the windows cover.
    pub fn ids(&self) -> std::collections::BTreeSet<&str> {
        self.releases.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> SystemTime {
        date(text).unwrap()
    }

    #[test]
    fn dates_are_days_of_the_civil_calendar() {
        assert_eq!(day("1970-01-01"), SystemTime::UNIX_EPOCH);
        // `date -u -d 2028-06-30 +%s`
        assert_eq!(
            day("2028-06-30")
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_845_936_000
        );
        assert_eq!(
            day("2024-02-29")
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_709_164_800
        );
        for bad in ["2024-13-01", "2024-1-01", "20240101", "2024-02-00", "x", ""] {
            assert!(date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_shipped_file_covers_the_families_and_is_not_old() {
        let w = Windows::parse(SHIPPED).unwrap();
        for id in [
            "debian",
            "ubuntu",
            "rhel",
            "almalinux",
            "rocky",
            "sles",
            "alpine",
            "amzn",
        ] {
            assert!(w.ids().contains(id), "no window for {id}");
        }
        // Looked at again within a year, or this fails.
        let age = SystemTime::now()
            .duration_since(w.as_of)
            .unwrap_or_default();
        assert!(
            age < Duration::from_secs(365 * 86_400),
            "vulns/data/support.toml was brought up to date {} days ago: compare it with the vendors' pages and move as_of",
            age.as_secs() / 86_400
        );
        // Every extended end is after the standard one.
        for (id, versions) in &w.releases {
            for (v, win) in versions {
                if let Some((_, end)) = &win.extended {
                    assert!(*end > win.standard_end, "{id} {v}");
                }
            }
        }
    }

    #[test]
    fn releases_are_found_by_id_and_version_with_minor_versions() {
        let w = Windows::parse(SHIPPED).unwrap();
        let debian = w.find("debian", "12").unwrap();
        assert_eq!(debian.standard_end, day("2026-06-10"));
        assert_eq!(debian.extended, Some(("LTS".into(), day("2028-06-30"))));
        assert_eq!(w.find("rhel", "9.4"), w.find("rhel", "9"));
        assert_eq!(w.find("almalinux", "9.5").unwrap().extended, None);
        assert_eq!(
            w.find("alpine", "3.21.3").unwrap().standard_end,
            day("2026-11-01")
        );
        assert_eq!(
            w.find("sles", "15.6").unwrap().extended.as_ref().unwrap().0,
            "LTSS"
        );
        assert!(w.find("rhel", "90").is_none());
        assert!(w.find("debian", "").is_none());
        assert!(
            w.find("arch", "").is_none(),
            "a rolling release has no window"
        );
    }

    #[test]
    fn a_release_moves_from_standard_to_extended_to_ended() {
        let w = shipped().find("debian", "12").unwrap();
        assert_eq!(w.phase(day("2026-06-09")), Phase::Standard);
        assert_eq!(w.phase(day("2026-06-10")), Phase::Extended("LTS".into()));
        assert_eq!(w.phase(day("2028-06-30")), Phase::Ended);
        let alma = shipped().find("almalinux", "9").unwrap();
        assert_eq!(
            alma.phase(day("2032-05-31")),
            Phase::Ended,
            "no extended programme"
        );
    }

    #[test]
    fn a_bad_file_says_where() {
        let err = Windows::parse(
            "as_of = \"2026-12-01\"\n[[release]]\nid = \"x\"\nversion = \"1\"\nstandard_end = \"2026-13-01\"\nsource = \"s\"\n",
        )
        .unwrap_err();
        assert!(err.contains("x 1: standard_end"), "{err}");
        let err = Windows::parse(
            "as_of = \"2026-12-01\"\n[[release]]\nid = \"x\"\nversion = \"1\"\nstandard_end = \"2026-01-01\"\nextended = \"LTS\"\nsource = \"s\"\n",
        )
        .unwrap_err();
        assert!(err.contains("needs both"), "{err}");
    }
}
