//! Ubuntu's OpenVEX documents (`security-metadata.canonical.com/vex/`, one
//! document per CVE, OpenVEX 0.2.0): each statement names a vulnerability,
//! a status and the products it covers as package URLs, the source package
//! of a release among them (`pkg:deb/ubuntu/vim@2:8.2.3995-1ubuntu2?arch=source&distro=jammy`;
//! older documents write `?arch=src?distro=ubuntu/jammy`). Both document
//! shapes are read: the statements at the top, or beside a `metadata`
//! object.
//!
//! Read for what Ubuntu's OSV does not say: that an affected package will
//! not be fixed. How it reads (documented in the README's feed table):
//!
//! | statement | release | status |
//! | --- | --- | --- |
//! | `affected`, an action statement saying the package is no longer supported (or end of life) | `ubuntu:V` | end of life |
//! | `affected`, an action statement saying it will not be fixed (or ignored) | `ubuntu:V` | won't fix |
//!
//! Every other statement (`fixed`, `not_affected`, `under_investigation`,
//! an `affected` one still to be fixed) gives no record: the OSV feed holds
//! those. The release is the codename's version (`jammy` → `ubuntu:22.04`,
//! by the table below); a codename not in it gives no record. The records
//! have no rating: matching keeps the OSV record's ([`crate::decide`]).

use serde::Deserialize;

use pakiti_report::Severity;

use crate::{FeedError, Record, Status};

/// Ubuntu's releases by codename.
pub const CODENAMES: &[(&str, &str)] = &[
    ("trusty", "14.04"),
    ("xenial", "16.04"),
    ("bionic", "18.04"),
    ("focal", "20.04"),
    ("jammy", "22.04"),
    ("kinetic", "22.10"),
    ("lunar", "23.04"),
    ("mantic", "23.10"),
    ("noble", "24.04"),
    ("oracular", "24.10"),
    ("plucky", "25.04"),
    ("questing", "25.10"),
    ("resolute", "26.04"),
];

#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    metadata: Option<Meta>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    statements: Vec<Statement>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Deserialize)]
struct Statement {
    vulnerability: Vulnerability,
    status: String,
    #[serde(default)]
    products: Vec<Product>,
    #[serde(default)]
    action_statement: Option<String>,
}

#[derive(Deserialize)]
struct Vulnerability {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct Product {
    #[serde(rename = "@id")]
    id: String,
}

/// (source package, release) of a package URL naming the source package
/// of an Ubuntu release, else `None`.
pub fn source_of(purl: &str) -> Option<(&str, String)> {
    let rest = purl.strip_prefix("pkg:deb/ubuntu/")?;
    let (name_version, qualifiers) = rest.split_once('?')?;
    let (name, _version) = name_version.split_once('@')?;
    let mut arch = None;
    let mut distro = None;
    for q in qualifiers.split(['?', '&']) {
        match q.split_once('=') {
            Some(("arch", a)) => arch = Some(a),
            Some(("distro", d)) => distro = Some(d.strip_prefix("ubuntu/").unwrap_or(d)),
            _ => {}
        }
    }
    if !matches!(arch, Some("source" | "src")) || name.is_empty() {
        return None;
    }
    let codename = distro?;
    let version = CODENAMES.iter().find(|(c, _)| *c == codename)?.1;
    Some((name, format!("ubuntu:{version}")))
}

/// What an affected statement's action says, if it is not "to be fixed".
fn not_to_be_fixed(action: &str) -> Option<Status> {
    let a = action.to_ascii_lowercase();
    if ["no longer supported", "end of life", "end-of-life"]
        .iter()
        .any(|w| a.contains(w))
    {
        Some(Status::EndOfLife)
    } else if ["will not", "won't", "ignored"]
        .iter()
        .any(|w| a.contains(w))
    {
        Some(Status::WontFix)
    } else {
        None
    }
}

/// Reads one OpenVEX document, calling `each` for every record it gives.
pub fn read_one(
    json: &[u8],
    mut each: impl FnMut(Record),
) -> Result<crate::osv::ReadOne, FeedError> {
    let doc: Doc = serde_json::from_slice(json)?;
    let stamp = doc.timestamp.or(doc.metadata.and_then(|m| m.timestamp));
    let modified = match &stamp {
        Some(t) => Some(humantime::parse_rfc3339_weak(t).map_err(|e| {
            FeedError::Invalid(format!("timestamp {t:?} is not an RFC 3339 time: {e}"))
        })?),
        None => None,
    };
    let mut n = 0;
    for s in doc.statements {
        if s.vulnerability.name.is_empty() {
            return Err(FeedError::Invalid(
                "a statement without a vulnerability name".into(),
            ));
        }
        if s.status != "affected" {
            continue;
        }
        let Some(status) = s.action_statement.as_deref().and_then(not_to_be_fixed) else {
            continue;
        };
        for p in &s.products {
            let Some((name, release)) = source_of(&p.id) else {
                continue;
            };
            each(Record {
                id: s.vulnerability.name.clone(),
                source_package: name.to_string(),
                release,
                status: status.clone(),
                vendor_severity: None,
                severity: Severity::Unknown,
                description: s.vulnerability.description.clone(),
                advisory: None,
            });
            n += 1;
        }
    }
    Ok(crate::osv::ReadOne {
        records: n,
        modified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_packages_of_releases_are_read_from_package_urls() {
        assert_eq!(
            source_of("pkg:deb/ubuntu/vim@2:8.2.3995-1ubuntu2?arch=source&distro=jammy"),
            Some(("vim", "ubuntu:22.04".to_string()))
        );
        assert_eq!(
            source_of("pkg:deb/ubuntu/gcc-4.4@4.4.7-8ubuntu1?arch=src?distro=ubuntu/trusty"),
            Some(("gcc-4.4", "ubuntu:14.04".to_string()))
        );
        for not in [
            "pkg:deb/ubuntu/vim@2:8.2.3995-1ubuntu2?arch=amd64",
            "pkg:deb/ubuntu/vim@2:8.2.3995-1ubuntu2?arch=source&distro=warty",
            "pkg:deb/ubuntu/vim@2:8.2.3995-1ubuntu2?arch=source",
            "pkg:deb/debian/vim@2:9.0-1?arch=source&distro=bookworm",
            "pkg:deb/ubuntu/vim?arch=source&distro=jammy",
        ] {
            assert_eq!(source_of(not), None, "{not}");
        }
    }

    #[test]
    fn the_fixture_documents_say_what_will_not_be_fixed() {
        let mut got = Vec::new();
        let mut times = Vec::new();
        for (_, json) in crate::testing::fixture_documents("ubuntu-vex") {
            let one = read_one(&json, |r| {
                got.push(format!(
                    "{} {} {} {:?}",
                    r.id, r.release, r.source_package, r.status
                ))
            })
            .unwrap();
            times.push(
                one.modified
                    .map(humantime::format_rfc3339_seconds)
                    .map(|t| t.to_string()),
            );
        }
        assert_eq!(
            got,
            [
                "CVE-2024-9002 ubuntu:22.04 curl WontFix",
                "CVE-2024-9002 ubuntu:16.04 curl EndOfLife",
                // The older shape: statements beside `metadata`.
                "CVE-2024-9008 ubuntu:14.04 gcc-4.4 EndOfLife",
            ]
        );
        assert_eq!(
            times,
            [
                Some("2024-09-02T10:00:00Z".to_string()),
                Some("2024-12-18T16:54:46Z".to_string())
            ]
        );
        assert!(read_one(
            br#"{"statements": [{"vulnerability": {"name": ""}, "status": "affected"}]}"#,
            |_| {}
        )
        .is_err());
        assert!(read_one(br#"{"timestamp": "soon", "statements": []}"#, |_| {}).is_err());
        assert!(read_one(br#"{"statements": 3}"#, |_| {}).is_err());
    }
}
