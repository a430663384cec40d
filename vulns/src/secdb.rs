//! Alpine's security database (`secdb.alpinelinux.org/vX.Y/{main,community}.json`):
//! one document per branch and repository, `distroversion` (`v3.20`) and
//! `reponame` (`main`), and for each origin package (`pkg.name`, the aport)
//! its `secfixes`: the version that fixed each vulnerability (`"3.3.2-r0":
//! ["CVE-…"]`), several ids sometimes in one string, and the pseudo-version
//! `0` for those the branch never had. Records are of the release
//! `alpine:3.20`, keyed by origin, compared in apk's order.
//!
//! | secdb | status |
//! | --- | --- |
//! | under `0` | not affected |
//! | under a version V | fixed in V (the first version that names it) |
//!
//! The secdb names fixes only: what is affected with no fix yet is not in
//! it. Severity: unknown (Alpine publishes none).

use std::collections::BTreeMap;

use serde::Deserialize;

use pakiti_report::Severity;
use pakiti_versions::Scheme;

use crate::{FeedError, Record, Status};

#[derive(Deserialize)]
struct Document {
    distroversion: String,
    reponame: String,
    packages: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    pkg: Package,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    #[serde(default)]
    secfixes: BTreeMap<String, Vec<String>>,
}

/// What one secdb document is of: its release (`alpine:3.20`) and repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Of {
    pub release: String,
    pub repository: String,
}

/// `v3.20` → `alpine:3.20`; `edge` stays `alpine:edge`.
fn release(distroversion: &str) -> Result<String, FeedError> {
    let v = distroversion.strip_prefix('v').unwrap_or(distroversion);
    let numbered = v.split('.').count() == 2
        && v.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if numbered || v == "edge" {
        Ok(format!("alpine:{v}"))
    } else {
        Err(FeedError::Invalid(format!(
            "distroversion {distroversion:?} is not an Alpine branch (v3.20, edge)"
        )))
    }
}

/// Reads one document, giving each record to `each`.
pub fn read(json: &[u8], mut each: impl FnMut(Record)) -> Result<Of, FeedError> {
    let doc: Document = serde_json::from_slice(json)?;
    let release = release(&doc.distroversion)?;
    if doc.reponame.is_empty()
        || !doc
            .reponame
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(FeedError::Invalid(format!(
            "reponame {:?} is not a repository name",
            doc.reponame
        )));
    }
    for entry in doc.packages {
        let name = entry.pkg.name;
        // The first (lowest) version naming an id fixed it; `0` means never.
        let mut fixed: BTreeMap<String, Status> = BTreeMap::new();
        let mut versions: Vec<(&String, &Vec<String>)> = entry.pkg.secfixes.iter().collect();
        versions.sort_by(|a, b| match (a.0.as_str(), b.0.as_str()) {
            ("0", "0") => std::cmp::Ordering::Equal,
            ("0", _) => std::cmp::Ordering::Less,
            (_, "0") => std::cmp::Ordering::Greater,
            (x, y) => pakiti_versions::compare(Scheme::Apk, x, y),
        });
        for (version, ids) in versions {
            let status = if version == "0" {
                Status::NotAffected
            } else {
                Status::Fixed(version.clone())
            };
            for id in ids.iter().flat_map(|s| s.split_whitespace()) {
                fixed
                    .entry(id.to_string())
                    .or_insert_with(|| status.clone());
            }
        }
        for (id, status) in fixed {
            each(Record {
                id,
                source_package: name.clone(),
                release: release.clone(),
                status,
                vendor_severity: None,
                severity: Severity::Unknown,
                description: None,
                advisory: None,
            });
        }
    }
    Ok(Of {
        release,
        repository: doc.reponame,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(json: &str) -> Result<(Of, Vec<Record>), FeedError> {
        let mut out = Vec::new();
        let of = read(json.as_bytes(), |r| out.push(r))?;
        Ok((of, out))
    }

    #[test]
    fn fixes_never_affected_and_several_ids_in_one_string_read_as_the_table_says() {
        let json = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/alpine/v3.20-main.json"
        ))
        .unwrap();
        let (of, records) = all(&json).unwrap();
        assert_eq!(
            of,
            Of {
                release: "alpine:3.20".into(),
                repository: "main".into()
            }
        );
        let find = |pkg: &str, id: &str| {
            records
                .iter()
                .find(|r| r.source_package == pkg && r.id == id)
                .unwrap_or_else(|| panic!("{pkg} {id}"))
                .status
                .clone()
        };
        assert_eq!(
            find("openssl", "CVE-2026-20001"),
            Status::Fixed("3.3.2-r0".into())
        );
        assert_eq!(find("openssl", "CVE-2026-20003"), Status::NotAffected);
        // Named again by a later revision: the first fix counts (apk's order: -r10 after -r9).
        assert_eq!(
            find("openssl", "CVE-2026-20002"),
            Status::Fixed("3.3.2-r9".into())
        );
        assert_eq!(
            find("busybox", "CVE-2026-20004"),
            Status::Fixed("1.36.1-r29".into())
        );
        assert_eq!(
            find("busybox", "CVE-2026-20005"),
            Status::Fixed("1.36.1-r29".into())
        );
        assert_eq!(records.len(), 7);
        assert!(records
            .iter()
            .all(|r| r.release == "alpine:3.20" && r.severity == Severity::Unknown));
    }

    #[test]
    fn what_is_not_a_secdb_document_fails() {
        for (json, words) in [
            (
                r#"{"distroversion":"3.x","reponame":"main","packages":[]}"#,
                "not an Alpine branch",
            ),
            (
                r#"{"distroversion":"v3.20","reponame":"../x","packages":[]}"#,
                "not a repository name",
            ),
            (r#"{"distroversion":"v3.20","reponame":"main"}"#, "packages"),
            (
                r#"{"distroversion":"v3.20","reponame":"main","packages":[{"pkg":{"name":"a","secfixes":{"1-r0":"CVE-1"}}}]}"#,
                "expected",
            ),
        ] {
            let err = all(json).unwrap_err().to_string();
            assert!(err.contains(words), "{json}: {err}");
        }
        let (of, _) =
            all(r#"{"distroversion":"edge","reponame":"community","packages":[]}"#).unwrap();
        assert_eq!(of.release, "alpine:edge");
    }
}
