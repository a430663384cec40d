//! CISA's Known Exploited Vulnerabilities catalog, its JSON form
//! (`known_exploited_vulnerabilities.json`): `catalogVersion`,
//! `dateReleased`, `count` and `vulnerabilities`, each with `cveID`,
//! `dateAdded` and `dueDate` (days), `knownRansomwareCampaignUse` (`Known` or
//! `Unknown`) and texts. The catalog is small (about 1,500 entries); it is
//! read whole. An entry that cannot be read fails the catalog, naming it.

use serde::Deserialize;

use crate::Date;

/// One vulnerability CISA lists as exploited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kev {
    pub cve: String,
    pub added: Date,
    /// The date by which US federal agencies must remediate it.
    pub due: Date,
    pub ransomware: bool,
    /// `vulnerabilityName`.
    pub name: String,
}

/// The catalog read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    pub version: String,
    /// `dateReleased` (an RFC 3339 time), where it reads.
    pub released: Option<std::time::SystemTime>,
    pub entries: Vec<Kev>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    catalog_version: Option<String>,
    #[serde(default)]
    date_released: Option<String>,
    #[serde(default)]
    count: Option<u64>,
    vulnerabilities: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    #[serde(rename = "cveID")]
    cve_id: String,
    date_added: String,
    due_date: String,
    #[serde(default)]
    known_ransomware_campaign_use: Option<String>,
    #[serde(default)]
    vulnerability_name: Option<String>,
}

/// Why a catalog or score file could not be read. Nothing of it is used.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("not JSON of CISA's KEV shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Whether `bytes` look like the KEV catalog (its first keys), so an
/// import can tell it from other JSON feeds without reading it twice.
pub fn looks_like(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    head.contains("\"catalogVersion\"")
        || head.contains("\"dateReleased\"") && head.contains("\"vulnerabilities\"")
}

/// Reads the whole catalog.
pub fn read(bytes: &[u8]) -> Result<Catalog, FeedError> {
    let raw: Raw = serde_json::from_slice(bytes)?;
    let Some(version) = raw.catalog_version.filter(|v| !v.trim().is_empty()) else {
        return Err(FeedError::Invalid(
            "the catalog has no catalogVersion".into(),
        ));
    };
    let released = match raw.date_released.as_deref() {
        Some(t) => Some(
            pakiti_report::time::parse_rfc3339(t)
                .map_err(|e| FeedError::Invalid(format!("dateReleased {t:?}: {e}")))?,
        ),
        None => None,
    };
    if let Some(count) = raw.count {
        if count != raw.vulnerabilities.len() as u64 {
            return Err(FeedError::Invalid(format!(
                "the catalog says it has {count} vulnerabilities but lists {} (truncated?)",
                raw.vulnerabilities.len()
            )));
        }
    }
    let mut entries = Vec::with_capacity(raw.vulnerabilities.len());
    for (i, e) in raw.vulnerabilities.into_iter().enumerate() {
        let at = |why: String| {
            FeedError::Invalid(format!("vulnerability {} ({}): {why}", i + 1, e.cve_id))
        };
        if !is_cve(&e.cve_id) {
            return Err(at("cveID is not a CVE id".into()));
        }
        let added = Date::parse(&e.date_added).map_err(|w| at(format!("dateAdded: {w}")))?;
        let due = Date::parse(&e.due_date).map_err(|w| at(format!("dueDate: {w}")))?;
        entries.push(Kev {
            ransomware: e.known_ransomware_campaign_use.as_deref() == Some("Known"),
            name: e.vulnerability_name.unwrap_or_default(),
            cve: e.cve_id,
            added,
            due,
        });
    }
    entries.sort_by(|a, b| a.cve.cmp(&b.cve));
    if let Some(w) = entries.windows(2).find(|w| w[0].cve == w[1].cve) {
        return Err(FeedError::Invalid(format!("{} is listed twice", w[0].cve)));
    }
    Ok(Catalog {
        version,
        released,
        entries,
    })
}

/// `CVE-YYYY-NNNN…`.
pub fn is_cve(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("CVE-") else {
        return false;
    };
    let mut parts = rest.splitn(2, '-');
    let (Some(year), Some(num)) = (parts.next(), parts.next()) else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && num.len() >= 4
        && num.len() <= 12
        && num.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/kev.json")).unwrap()
    }

    #[test]
    fn reads_the_catalog() {
        let c = read(&fixture()).unwrap();
        assert_eq!(c.version, "2026.11.30");
        assert!(c.released.is_some());
        assert_eq!(c.entries.len(), 3);
        let cves: Vec<&str> = c.entries.iter().map(|e| e.cve.as_str()).collect();
        assert_eq!(cves, ["CVE-2021-44228", "CVE-2023-4863", "CVE-2024-3094"]);
        let e = &c.entries[2];
        assert_eq!(e.added.to_string(), "2026-11-20");
        assert_eq!(e.due.to_string(), "2026-12-11");
        assert!(e.ransomware);
        assert!(!c.entries[1].ransomware && c.entries[0].ransomware);
        assert!(looks_like(&fixture()));
    }

    #[test]
    fn a_bad_entry_fails_the_catalog_naming_it() {
        let text = String::from_utf8(fixture()).unwrap();
        let e = read(text.replace("\"2026-12-11\"", "\"2026-12-32\"").as_bytes()).unwrap_err();
        assert!(
            e.to_string().contains("CVE-2024-3094") && e.to_string().contains("dueDate"),
            "{e}"
        );
        let e = read(text.replace("\"count\": 3", "\"count\": 4").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = read(text.replace("CVE-2023-4863", "CVE-2024-3094").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        let e = read(text.replace("CVE-2023-4863", "GHSA-1").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("not a CVE"), "{e}");
        assert!(read(b"{\"vulnerabilities\": []}").is_err());
        assert!(read(b"[1,2]").is_err());
    }
}
