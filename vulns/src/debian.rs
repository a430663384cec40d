//! The Debian security tracker's JSON (`security-tracker.debian.org/tracker/data/json`):
//! an object keyed by source package, each an object keyed by issue id
//! (`CVE-…`, or `TEMP-…` for an issue without one), each with a
//! `description` and per release (codename) a `status` (`resolved`, `open`,
//! `undetermined`), a `fixed_version` when resolved (`"0"`: never affected),
//! an `urgency` and, for issues Debian will not fix by an advisory, `nodsa`
//! and `nodsa_reason` (`ignored`, `postponed`). Other fields are ignored.
//!
//! Read as a stream: one source package at a time is in memory, never the
//! whole feed (about 70 MB of JSON).
//!
//! How it reads (documented in the README's feed table):
//!
//! | tracker | status | severity |
//! | --- | --- | --- |
//! | `resolved`, `fixed_version` `0` | not affected | — |
//! | `resolved`, `fixed_version` V | fixed in V | from `urgency` |
//! | `open`, `urgency` `end-of-life` | end of life | unknown |
//! | `open`, `nodsa_reason` `ignored` | won't fix | from `urgency` |
//! | `open` (also `postponed`) | unfixed | from `urgency` |
//! | `undetermined` | undetermined | from `urgency` |
//!
//! `urgency`: `high` → important, `medium` → moderate, `low` and
//! `unimportant` → low, anything else (`not yet assigned`, `end-of-life`) →
//! unknown; a trailing `**` (a guessed urgency) is read like the plain one.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use pakiti_report::Severity;

use crate::{FeedError, Record, Status};

#[derive(Deserialize)]
struct WireIssue {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    releases: BTreeMap<String, WireRelease>,
}

#[derive(Deserialize)]
struct WireRelease {
    status: String,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    nodsa_reason: Option<String>,
}

/// The five severities from Debian's urgency.
pub fn severity(urgency: Option<&str>) -> Severity {
    match urgency.map(|u| u.trim_end_matches('*')) {
        Some("high") => Severity::Important,
        Some("medium") => Severity::Moderate,
        Some("low") | Some("unimportant") => Severity::Low,
        _ => Severity::Unknown,
    }
}

fn record(
    package: &str,
    id: &str,
    release: &str,
    r: WireRelease,
    description: Option<String>,
) -> Result<Record, String> {
    let urgency = r.urgency.as_deref().map(|u| u.trim_end_matches('*'));
    let status = match r.status.as_str() {
        "resolved" => match r.fixed_version.as_deref() {
            Some("0") => Status::NotAffected,
            Some(v) if !v.is_empty() => Status::Fixed(v.to_string()),
            _ => {
                return Err(format!(
                    "{package} {id} {release}: resolved without a fixed_version"
                ))
            }
        },
        "open" if urgency == Some("end-of-life") => Status::EndOfLife,
        "open" if r.nodsa_reason.as_deref() == Some("ignored") => Status::WontFix,
        "open" => Status::Unfixed,
        "undetermined" => Status::Undetermined,
        other => {
            return Err(format!(
                "{package} {id} {release}: unknown status {other:?} (expected resolved, open or undetermined)"
            ))
        }
    };
    Ok(Record {
        id: id.to_string(),
        source_package: package.to_string(),
        release: release.to_string(),
        severity: if status == Status::EndOfLife {
            Severity::Unknown
        } else {
            severity(r.urgency.as_deref())
        },
        status,
        vendor_severity: r.urgency,
        description,
        advisory: None,
    })
}

struct Packages<'a, F> {
    each: &'a mut F,
}

impl<'de, F: FnMut(Record)> Visitor<'de> for Packages<'_, F> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of source packages, each an object of issues")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        let mut count = 0;
        while let Some(package) = map.next_key::<String>()? {
            let issues: BTreeMap<String, WireIssue> = map.next_value()?;
            for (id, issue) in issues {
                for (release, r) in issue.releases {
                    let rec = record(&package, &id, &release, r, issue.description.clone())
                        .map_err(de::Error::custom)?;
                    (self.each)(rec);
                    count += 1;
                }
            }
        }
        Ok(count)
    }
}

/// Reads the tracker's JSON from `reader`, giving `each` every record (one
/// per issue, package and release), and returns how many. On an error,
/// records already given must be thrown away: the feed is not usable.
pub fn read(reader: impl Read, mut each: impl FnMut(Record)) -> Result<usize, FeedError> {
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader));
    let count = (&mut de).deserialize_map(Packages { each: &mut each })?;
    de.end()?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(json: &str) -> Result<Vec<Record>, FeedError> {
        let mut out = Vec::new();
        read(json.as_bytes(), |r| out.push(r))?;
        Ok(out)
    }

    #[test]
    fn every_status_reads_as_the_table_says() {
        let json = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/debian-tracker.json"
        ))
        .unwrap();
        let records = all(&json).unwrap();
        let find = |pkg: &str, id: &str, rel: &str| {
            records
                .iter()
                .find(|r| r.source_package == pkg && r.id == id && r.release == rel)
                .unwrap_or_else(|| panic!("{pkg} {id} {rel}"))
                .clone()
        };
        let r = find("xz-utils", "CVE-2024-3094", "bookworm");
        assert_eq!(r.status, Status::NotAffected);
        let r = find("xz-utils", "CVE-2024-3094", "sid");
        assert_eq!(r.status, Status::Fixed("5.6.1+really5.4.5-1".into()));
        assert_eq!(r.severity, Severity::Important);
        let r = find("openssl", "CVE-2024-5535", "bookworm");
        assert_eq!(r.status, Status::Fixed("3.0.15-1~deb12u1".into()));
        assert_eq!(
            (r.severity, r.vendor_severity.as_deref()),
            (Severity::Low, Some("low**"))
        );
        let r = find("openssl", "CVE-2024-5535", "bullseye");
        assert_eq!(r.status, Status::WontFix, "no-dsa, ignored");
        let r = find("openssl", "CVE-2024-5535", "buster");
        assert_eq!(
            (r.status.clone(), r.severity),
            (Status::EndOfLife, Severity::Unknown)
        );
        let r = find("linux", "CVE-2024-26581", "bookworm");
        assert_eq!(r.status, Status::Unfixed, "no-dsa, postponed");
        assert_eq!(r.severity, Severity::Moderate);
        let r = find("glibc", "TEMP-0000000-4F1B2C", "bookworm");
        assert_eq!(
            (r.status.clone(), r.severity),
            (Status::Unfixed, Severity::Low),
            "unimportant"
        );
        let r = find("curl", "CVE-2024-7264", "bookworm");
        assert_eq!(
            (r.status.clone(), r.severity),
            (Status::Undetermined, Severity::Unknown)
        );
        assert!(r.description.as_deref().unwrap_or("").contains("ASN.1"));
    }

    #[test]
    fn a_bad_feed_says_where() {
        let e = all(r#"{"p": {"CVE-1": {"releases": {"bookworm": {"status": "fixed"}}}}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown status \"fixed\""), "{e}");
        let e = all(r#"{"p": {"CVE-1": {"releases": {"bookworm": {"status": "resolved"}}}}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("without a fixed_version"), "{e}");
        assert!(all(r#"["not", "an", "object"]"#).is_err());
        assert!(all(r#"{"p": {}} trailing"#).is_err());
        assert_eq!(all("{}").unwrap(), vec![]);
    }
}
