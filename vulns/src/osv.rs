//! OSV documents (`ossf/osv-schema`) as Canonical publishes Ubuntu's
//! (`osv-all.tar.xz`, one document per CVE): each `affected` entry names a
//! source package in an ecosystem (`Ubuntu:22.04:LTS`, `Ubuntu:24.10`,
//! `Ubuntu:Pro:18.04:LTS`) with `ECOSYSTEM` ranges of `introduced` and
//! `fixed` events, and Ubuntu's priority in `ecosystem_specific`.
//!
//! How it reads (documented in the README's feed table):
//!
//! | OSV | release | status | severity |
//! | --- | --- | --- | --- |
//! | `Ubuntu:V…` | `ubuntu:V` | a `fixed` event: fixed in it; none: unfixed | `ubuntu_priority` |
//! | `Ubuntu:Pro:V…` | `ubuntu-pro:V` | the same | the same |
//!
//! The id is the document's (`CVE-…`; `UBUNTU-CVE-…` is read as its CVE).
//! With several `fixed` events (ranges reopened and fixed again), the last
//! one is the fix. `ubuntu_priority`: `critical` → critical, `high` →
//! important, `medium` → moderate, `low` and `negligible` → low; without
//! one, a CVSS v3 base score in `severity` (9.0+ critical, 7.0+ important,
//! 4.0+ moderate, else low); else unknown. Entries of other ecosystems, and
//! withdrawn documents, give no record.

use serde::Deserialize;

use pakiti_report::Severity;

use crate::{FeedError, Record, Status};

#[derive(Deserialize)]
struct Doc {
    id: String,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    severity: Vec<WireSeverity>,
    #[serde(default)]
    affected: Vec<Affected>,
}

#[derive(Deserialize)]
struct WireSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct Affected {
    package: Option<Package>,
    #[serde(default)]
    ranges: Vec<Range>,
    #[serde(default)]
    ecosystem_specific: Option<serde_json::Value>,
    #[serde(default)]
    severity: Vec<WireSeverity>,
}

#[derive(Deserialize)]
struct Package {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct Range {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// The release a record of `ecosystem` is for, or `None` for an ecosystem
/// this reader does not take.
pub fn release_of(ecosystem: &str) -> Option<String> {
    let mut parts = ecosystem.split(':');
    if parts.next()? != "Ubuntu" {
        return None;
    }
    let (pro, version) = match parts.next()? {
        "Pro" => (true, parts.next()?),
        v => (false, v),
    };
    let rest: Vec<&str> = parts.collect();
    let numeric = version.split('.').count() == 2
        && version
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !numeric || !(rest.is_empty() || rest == ["LTS"]) {
        return None; // FIPS streams and the like: not a release a host names
    }
    Some(format!(
        "{}:{version}",
        if pro { "ubuntu-pro" } else { "ubuntu" }
    ))
}

/// Ubuntu's priority as one of the five severities.
pub fn priority(p: &str) -> Severity {
    match p {
        "critical" => Severity::Critical,
        "high" => Severity::Important,
        "medium" => Severity::Moderate,
        "low" | "negligible" => Severity::Low,
        _ => Severity::Unknown,
    }
}

/// The five severities from a CVSS base score.
pub fn from_cvss(score: f64) -> Severity {
    match score {
        s if s >= 9.0 => Severity::Critical,
        s if s >= 7.0 => Severity::Important,
        s if s >= 4.0 => Severity::Moderate,
        s if s > 0.0 => Severity::Low,
        _ => Severity::Unknown,
    }
}

fn cvss_severity(list: &[WireSeverity]) -> Option<Severity> {
    list.iter()
        .filter(|s| s.kind == "CVSS_V3")
        .find_map(|s| crate::cvss::base_score_v3(&s.score))
        .map(from_cvss)
}

/// What one document gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOne {
    pub records: usize,
    /// Its `modified` time (a feed's time is its newest document's).
    pub modified: Option<std::time::SystemTime>,
}

/// Reads one OSV document, calling `each` for every record it gives.
pub fn read_one(json: &[u8], mut each: impl FnMut(Record)) -> Result<ReadOne, FeedError> {
    let doc: Doc = serde_json::from_slice(json)?;
    let modified = match &doc.modified {
        Some(m) => Some(humantime::parse_rfc3339_weak(m).map_err(|e| {
            FeedError::Invalid(format!(
                "{}: modified {m:?} is not an RFC 3339 time: {e}",
                doc.id
            ))
        })?),
        None => None,
    };
    if doc.withdrawn.is_some() {
        return Ok(ReadOne {
            records: 0,
            modified,
        });
    }
    let id = doc
        .id
        .strip_prefix("UBUNTU-")
        .unwrap_or(&doc.id)
        .to_string();
    if id.is_empty() {
        return Err(FeedError::Invalid(
            "an OSV document with an empty id".into(),
        ));
    }
    let doc_cvss = cvss_severity(&doc.severity);
    let description = doc.summary.or(doc.details);
    let mut n = 0;
    for a in doc.affected {
        let Some(package) = a.package else { continue };
        let Some(release) = release_of(&package.ecosystem) else {
            continue;
        };
        if package.name.is_empty() {
            return Err(FeedError::Invalid(format!(
                "{id}: an affected entry of {} without a package name",
                package.ecosystem
            )));
        }
        let mut fixed = None;
        for r in a.ranges.iter().filter(|r| r.kind == "ECOSYSTEM") {
            for e in &r.events {
                if let Some(v) = e.get("fixed") {
                    let v = v.as_str().filter(|v| !v.is_empty()).ok_or_else(|| {
                        FeedError::Invalid(format!(
                            "{id} {}: a fixed event without a version",
                            package.name
                        ))
                    })?;
                    fixed = Some(v.to_string());
                }
            }
        }
        let vendor = a
            .ecosystem_specific
            .as_ref()
            .and_then(|e| e.get("ubuntu_priority"))
            .and_then(|p| p.as_str())
            .map(str::to_string);
        let severity = match vendor.as_deref() {
            Some(p) if priority(p) != Severity::Unknown => priority(p),
            _ => cvss_severity(&a.severity)
                .or(doc_cvss)
                .unwrap_or(Severity::Unknown),
        };
        each(Record {
            id: id.clone(),
            source_package: package.name,
            release,
            status: match fixed {
                Some(v) => Status::Fixed(v),
                None => Status::Unfixed,
            },
            vendor_severity: vendor,
            severity,
            description: description.clone(),
        });
        n += 1;
    }
    Ok(ReadOne {
        records: n,
        modified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystems_name_releases() {
        assert_eq!(
            release_of("Ubuntu:22.04:LTS").as_deref(),
            Some("ubuntu:22.04")
        );
        assert_eq!(release_of("Ubuntu:24.10").as_deref(), Some("ubuntu:24.10"));
        assert_eq!(
            release_of("Ubuntu:Pro:18.04:LTS").as_deref(),
            Some("ubuntu-pro:18.04")
        );
        for other in [
            "Ubuntu:Pro:FIPS-updates:22.04:LTS",
            "Ubuntu",
            "Ubuntu:jammy",
            "Debian:12",
            "PyPI",
            "Ubuntu:22.04:LTS:extra",
        ] {
            assert_eq!(release_of(other), None, "{other}");
        }
    }

    #[test]
    fn the_fixture_documents_read_as_records() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/ubuntu-osv");
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        let mut got = Vec::new();
        for p in names {
            read_one(&std::fs::read(&p).unwrap(), |r| {
                got.push(format!(
                    "{} {} {} {:?} {} {:?}",
                    r.id,
                    r.release,
                    r.source_package,
                    r.status,
                    r.severity.as_str(),
                    r.vendor_severity
                ))
            })
            .unwrap();
        }
        assert_eq!(
            got,
            [
                "CVE-2024-9001 ubuntu:22.04 openssl Fixed(\"3.0.2-0ubuntu1.18\") moderate Some(\"medium\")",
                "CVE-2024-9001 ubuntu:24.04 openssl Fixed(\"3.0.13-0ubuntu3.4\") moderate Some(\"medium\")",
                "CVE-2024-9001 ubuntu-pro:16.04 openssl Fixed(\"1.0.2g-1ubuntu4.20+esm12\") moderate Some(\"medium\")",
                "CVE-2024-9002 ubuntu:22.04 curl Unfixed low Some(\"low\")",
                "CVE-2024-9003 ubuntu:22.04 vim Unfixed important Some(\"high\")",
                "CVE-2024-9003 ubuntu-pro:22.04 vim Fixed(\"2:8.2.3995-1ubuntu2.17+esm1\") important Some(\"high\")",
                "CVE-2024-9005 ubuntu:22.04 linux Fixed(\"5.15.0-95.105\") important Some(\"high\")",
                // CVE-2024-9006 is withdrawn; CVE-2024-9007 is Debian's and FIPS.
                // UBUNTU-CVE-… is its CVE; without a priority, CVSS 5.5 rates it.
                "CVE-2024-9004 ubuntu:22.04 bash Fixed(\"5.1-6ubuntu1\") moderate None",
                "CVE-2024-9004 ubuntu:22.04 zlib Fixed(\"1:1.2.11.dfsg-2ubuntu9.3\") moderate None",
            ]
        );
        assert!(read_one(b"{\"id\": \"CVE-1\", \"affected\": 3}", |_| {}).is_err());
        // A document's time: its modified field, which must be a time.
        let one = read_one(
            &std::fs::read(format!("{dir}/CVE-2024-9002.json")).unwrap(),
            |_| {},
        )
        .unwrap();
        assert_eq!(one.records, 1);
        assert_eq!(
            one.modified,
            Some(humantime::parse_rfc3339("2024-09-01T10:00:00Z").unwrap())
        );
        assert!(read_one(br#"{"id": "CVE-1", "modified": "yesterday"}"#, |_| {}).is_err());
        assert!(read_one(
            br#"{"id": "CVE-1", "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "a"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": ""}]}]}]}"#,
            |_| {}
        )
        .is_err());
    }

    #[test]
    fn severities_come_from_the_priority_then_cvss() {
        assert_eq!(priority("high"), Severity::Important);
        assert_eq!(priority("negligible"), Severity::Low);
        assert_eq!(priority("untriaged"), Severity::Unknown);
        assert_eq!(from_cvss(9.8), Severity::Critical);
        assert_eq!(from_cvss(7.0), Severity::Important);
        assert_eq!(from_cvss(6.9), Severity::Moderate);
        assert_eq!(from_cvss(3.9), Severity::Low);
        assert_eq!(from_cvss(0.0), Severity::Unknown);
    }
}
