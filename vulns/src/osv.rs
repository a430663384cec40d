//! OSV documents (`ossf/osv-schema`) as the distributions publish them:
//! Canonical's Ubuntu feed (`osv-all.tar.xz`, one document per CVE) and
//! the per-ecosystem archives of OSV's bucket (`<Ecosystem>/all.zip`:
//! Debian's DSA/DLA advisories, Alpine, AlmaLinux, Rocky Linux). Each
//! `affected` entry names a package in an ecosystem with `ECOSYSTEM` ranges
//! of `introduced` and `fixed` events.
//!
//! How it reads (documented in the README's feed table):
//!
//! | ecosystem | release | package | version order |
//! | --- | --- | --- | --- |
//! | `Ubuntu:22.04:LTS`, `Ubuntu:24.10` | `ubuntu:22.04` | source | dpkg |
//! | `Ubuntu:Pro:18.04:LTS` | `ubuntu-pro:18.04` | source | dpkg |
//! | `Debian:12` | `debian:12` | source | dpkg |
//! | `Alpine:v3.20` | `alpine:3.20` | origin | apk |
//! | `AlmaLinux:9` | `almalinux:9` | binary | rpm |
//! | `Rocky Linux:9` | `rocky:9` | binary | rpm |
//!
//! Status: a `fixed` event: fixed in it (with several, ranges reopened and
//! fixed again, the last one); none: unfixed. `introduced` is not read: the
//! distributions' ranges start at 0.
//!
//! Ids: a document is about the CVEs it names — its own id when that is a
//! CVE (`UBUNTU-CVE-…`, `DEBIAN-CVE-…`, `ALPINE-CVE-…` are read as the CVE),
//! and those in `aliases`, `upstream` and `related` — and gives one record
//! per CVE, with the document's id as its `advisory` when that is an
//! advisory (`DSA-5678-1`, `ALSA-2024:1234`). Two advisories of one CVE are
//! one vulnerability ([`crate::decide`]). A document naming no CVE is a
//! record of its own id.
//!
//! Severity: the vendor's rating first — Ubuntu's `ubuntu_priority`
//! (`critical` → critical, `high` → important, `medium` → moderate, `low`
//! and `negligible` → low), Debian's `urgency` (as in the tracker), the Red
//! Hat impact that begins an AlmaLinux or Rocky summary (`Important: …`) —
//! then a CVSS v3 base score in `severity` (9.0+ critical, 7.0+ important,
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
    aliases: Vec<String>,
    #[serde(default)]
    upstream: Vec<String>,
    #[serde(default)]
    related: Vec<String>,
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

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The release a record of `ecosystem` is for, or `None` for an ecosystem
/// this reader does not take.
pub fn release_of(ecosystem: &str) -> Option<String> {
    let (name, rest) = ecosystem.split_once(':')?;
    match name {
        "Ubuntu" => ubuntu_release(rest),
        "Debian" if all_digits(rest) => Some(format!("debian:{rest}")),
        "Alpine" => {
            let (major, minor) = rest.strip_prefix('v')?.split_once('.')?;
            (all_digits(major) && all_digits(minor)).then(|| format!("alpine:{major}.{minor}"))
        }
        "AlmaLinux" if all_digits(rest) => Some(format!("almalinux:{rest}")),
        "Rocky Linux" if all_digits(rest) => Some(format!("rocky:{rest}")),
        _ => None,
    }
}

fn ubuntu_release(rest: &str) -> Option<String> {
    let mut parts = rest.split(':');
    let (pro, version) = match parts.next()? {
        "Pro" => (true, parts.next()?),
        v => (false, v),
    };
    let rest: Vec<&str> = parts.collect();
    let numeric = version
        .split_once('.')
        .is_some_and(|(a, b)| all_digits(a) && all_digits(b));
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

/// A Red Hat impact word (`Important`) as one of the five severities: they
/// are the same four words.
pub fn impact(word: &str) -> Severity {
    match word.to_ascii_lowercase().as_str() {
        "critical" => Severity::Critical,
        "important" => Severity::Important,
        "moderate" => Severity::Moderate,
        "low" => Severity::Low,
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

/// `CVE-…` from an id that names one: itself, or a vendor's prefix of it
/// (`UBUNTU-CVE-…`, `DEBIAN-CVE-…`).
fn as_cve(id: &str) -> Option<&str> {
    let at = id.find("CVE-")?;
    let prefix = &id[..at];
    let vendor = prefix.is_empty()
        || prefix
            .strip_suffix('-')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_uppercase()));
    let cve = &id[at..];
    let number = cve["CVE-".len()..].split_once('-');
    (vendor && number.is_some_and(|(y, n)| all_digits(y) && all_digits(n))).then_some(cve)
}

/// The vendor's rating of one affected entry, as written and as one of
/// the five severities (unknown when there is none).
fn vendor_rating(a: &Affected, summary: Option<&str>) -> (Option<String>, Severity) {
    let specific = |key: &str| {
        a.ecosystem_specific
            .as_ref()
            .and_then(|e| e.get(key))
            .and_then(|p| p.as_str())
            .map(str::to_string)
    };
    if let Some(p) = specific("ubuntu_priority") {
        let s = priority(&p);
        return (Some(p), s);
    }
    if let Some(u) = specific("urgency") {
        let s = crate::debian::severity(Some(&u));
        return (Some(u), s);
    }
    // AlmaLinux and Rocky: "Important: openssl security update".
    if let Some(word) = summary
        .and_then(|s| s.split_once(':'))
        .map(|(w, _)| w.trim())
    {
        let s = impact(word);
        if s != Severity::Unknown {
            return (Some(word.to_string()), s);
        }
    }
    (None, Severity::Unknown)
}

/// The CVEs a document is about, sorted, each once: its own id when that
/// is one, and those it names in `aliases`, `upstream` and `related`.
fn cves_of(doc: &Doc) -> Vec<String> {
    let mut cves: Vec<String> = as_cve(&doc.id)
        .into_iter()
        .chain(
            doc.aliases
                .iter()
                .chain(&doc.upstream)
                .chain(&doc.related)
                .filter_map(|a| as_cve(a)),
        )
        .map(str::to_string)
        .collect();
    cves.sort();
    cves.dedup();
    cves
}

/// The fixed version of an affected entry: the last `fixed` event of its
/// `ECOSYSTEM` ranges (ranges reopened and fixed again), or none.
fn fixed_of(a: &Affected) -> Result<Option<String>, &'static str> {
    let mut fixed = None;
    for r in a.ranges.iter().filter(|r| r.kind == "ECOSYSTEM") {
        for e in &r.events {
            if let Some(v) = e.get("fixed") {
                let v = v
                    .as_str()
                    .filter(|v| !v.is_empty())
                    .ok_or("a fixed event without a version")?;
                fixed = Some(v.to_string());
            }
        }
    }
    Ok(fixed)
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
    if doc.id.is_empty() {
        return Err(FeedError::Invalid(
            "an OSV document with an empty id".into(),
        ));
    }
    // The CVEs it is about, and the advisory it is, if it is one.
    let cves = cves_of(&doc);
    let advisory = (as_cve(&doc.id).is_none() && !cves.is_empty()).then(|| doc.id.clone());
    let ids: Vec<String> = if cves.is_empty() {
        vec![doc.id.clone()]
    } else {
        cves
    };
    let doc_cvss = cvss_severity(&doc.severity);
    let summary = doc.summary.as_deref();
    let description = doc.summary.clone().or(doc.details.clone());
    let mut n = 0;
    for a in &doc.affected {
        let Some(package) = &a.package else { continue };
        let Some(release) = release_of(&package.ecosystem) else {
            continue;
        };
        if package.name.is_empty() {
            return Err(FeedError::Invalid(format!(
                "{}: an affected entry of {} without a package name",
                doc.id, package.ecosystem
            )));
        }
        let fixed = fixed_of(a)
            .map_err(|e| FeedError::Invalid(format!("{} {}: {e}", doc.id, package.name)))?;
        let (vendor, rated) = vendor_rating(a, summary);
        let severity = match rated {
            Severity::Unknown => cvss_severity(&a.severity)
                .or(doc_cvss)
                .unwrap_or(Severity::Unknown),
            s => s,
        };
        for id in &ids {
            each(Record {
                id: id.clone(),
                source_package: package.name.clone(),
                release: release.clone(),
                status: match &fixed {
                    Some(v) => Status::Fixed(v.clone()),
                    None => Status::Unfixed,
                },
                vendor_severity: vendor.clone(),
                severity,
                description: description.clone(),
                advisory: advisory.clone(),
            });
            n += 1;
        }
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
        assert_eq!(release_of("Debian:12").as_deref(), Some("debian:12"));
        assert_eq!(release_of("Alpine:v3.20").as_deref(), Some("alpine:3.20"));
        assert_eq!(release_of("AlmaLinux:9").as_deref(), Some("almalinux:9"));
        assert_eq!(release_of("Rocky Linux:8").as_deref(), Some("rocky:8"));
        for other in [
            "Ubuntu:Pro:FIPS-updates:22.04:LTS",
            "Ubuntu",
            "Ubuntu:jammy",
            "Debian",
            "Debian:bookworm",
            "Alpine:3.20",
            "Alpine:v3",
            "AlmaLinux:9.4",
            "Rocky Linux",
            "Red Hat:9",
            "PyPI",
            "Ubuntu:22.04:LTS:extra",
        ] {
            assert_eq!(release_of(other), None, "{other}");
        }
    }

    #[test]
    fn the_fixture_documents_read_as_records() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/ubuntu-osv");
        let mut got = Vec::new();
        for (_, json) in crate::testing::fixture_documents("ubuntu-osv") {
            read_one(&json, |r| {
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
                // CVE-2024-9006 is withdrawn; CVE-2024-9007 is Red Hat's and FIPS.
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

    /// Every record of the documents of a fixture folder, one line each.
    fn read_folder(folder: &str) -> Vec<String> {
        let mut got = Vec::new();
        for (_, json) in crate::testing::fixture_documents(folder) {
            read_one(&json, |r| {
                got.push(format!(
                    "{} {} {} {:?} {} {:?} {:?}",
                    r.id,
                    r.release,
                    r.source_package,
                    r.status,
                    r.severity.as_str(),
                    r.vendor_severity,
                    r.advisory
                ))
            })
            .unwrap();
        }
        got
    }

    #[test]
    fn advisories_read_as_one_record_per_cve_they_name() {
        let got = read_folder("osv");
        assert_eq!(
            got,
            [
                // Alpine: origin packages, two releases, CVSS 9.8 rates it.
                "CVE-2024-9021 alpine:3.20 openssl Fixed(\"3.3.2-r0\") critical None None",
                "CVE-2024-9021 alpine:3.19 openssl Fixed(\"3.1.7-r0\") critical None None",
                "CVE-2024-9022 alpine:3.20 busybox Fixed(\"1.36.1-r29\") unknown None None",
                // AlmaLinux: CVEs in related, binary packages, the impact
                // from the summary.
                "CVE-2024-9031 almalinux:9 openssl Fixed(\"1:3.0.7-28.el9_4\") important Some(\"Important\") Some(\"ALSA-2024:9031\")",
                "CVE-2024-9032 almalinux:9 openssl Fixed(\"1:3.0.7-28.el9_4\") important Some(\"Important\") Some(\"ALSA-2024:9031\")",
                "CVE-2024-9031 almalinux:9 openssl-libs Fixed(\"1:3.0.7-28.el9_4\") important Some(\"Important\") Some(\"ALSA-2024:9031\")",
                "CVE-2024-9032 almalinux:9 openssl-libs Fixed(\"1:3.0.7-28.el9_4\") important Some(\"Important\") Some(\"ALSA-2024:9031\")",
                "CVE-2024-9033 almalinux:9 kernel-core Fixed(\"5.14.0-427.35.1.el9_4\") important Some(\"Important\") Some(\"ALSA-2024:9033\")",
                "CVE-2024-9033 almalinux:9 kernel Fixed(\"5.14.0-427.35.1.el9_4\") important Some(\"Important\") Some(\"ALSA-2024:9033\")",
                // Debian's own document of an open issue: its urgency.
                "CVE-2024-9013 debian:12 glibc Unfixed moderate Some(\"medium\") None",
                "CVE-2024-9012 debian:11 curl Fixed(\"7.74.0-1.3+deb11u13\") unknown None Some(\"DLA-9002-1\")",
                "CVE-2024-5535 debian:12 openssl Fixed(\"3.0.15-1~deb12u1\") unknown None Some(\"DSA-9001-1\")",
                "CVE-2024-9011 debian:12 openssl Fixed(\"3.0.15-1~deb12u1\") unknown None Some(\"DSA-9001-1\")",
                "CVE-2024-9011 debian:12 openssl Fixed(\"3.0.15-1~deb12u2\") unknown None Some(\"DSA-9001-2\")",
                // Rocky: CVEs in aliases; RLSA-2024:9042 is withdrawn.
                "CVE-2024-9041 rocky:9 curl Fixed(\"7.76.1-29.el9_4.1\") moderate Some(\"Moderate\") Some(\"RLSA-2024:9041\")",
                "CVE-2024-9041 rocky:9 libcurl Fixed(\"7.76.1-29.el9_4.1\") moderate Some(\"Moderate\") Some(\"RLSA-2024:9041\")",
            ]
        );
        // An advisory naming no CVE is a record of its own id.
        let mut ids = Vec::new();
        read_one(
            br#"{"id": "DSA-1-1", "affected": [{"package": {"ecosystem": "Debian:12", "name": "a"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": "1"}]}]}]}"#,
            |r| ids.push((r.id, r.advisory)),
        )
        .unwrap();
        assert_eq!(ids, [("DSA-1-1".to_string(), None)]);
    }

    #[test]
    fn only_vendor_prefixes_of_a_cve_are_read_as_it() {
        assert_eq!(as_cve("CVE-2024-1"), Some("CVE-2024-1"));
        assert_eq!(as_cve("DEBIAN-CVE-2024-1"), Some("CVE-2024-1"));
        assert_eq!(as_cve("ALPINE-CVE-2024-12345"), Some("CVE-2024-12345"));
        for not in [
            "GHSA-CVE-x",
            "DSA-1-1",
            "CVE-2024",
            "cve-2024-1",
            "my-CVE-2024-1",
            "CVE-2024-1a",
        ] {
            assert_eq!(as_cve(not), None, "{not}");
        }
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
