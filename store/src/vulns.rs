//! Vulnerability feeds as both stores keep them: one row per record, each
//! import replacing its feed's rows in one transaction (a failed import
//! leaves the previous one). What a record's status is in columns, and back.

use std::time::SystemTime;

use pakiti_report::Severity;
use pakiti_vulns::{Record, Status};

/// A feed as the last import left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedStatus {
    /// The feed's kind (`debian`).
    pub name: String,
    /// Where it was read from.
    pub source: String,
    /// SHA-256 of the file as read (compressed or not).
    pub sha256: String,
    pub imported_at: SystemTime,
    pub records: u64,
    /// The feed's own time, where it has one (OSV: its newest document's
    /// `modified`; the tracker: its file's modification time).
    pub feed_time: Option<SystemTime>,
}

/// What others publish about one vulnerability's priority: CISA's KEV
/// catalog and FIRST's EPSS, as one value per id (each feed fills its part).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    pub id: String,
    /// KEV: the days it was added and is due (days since 1970).
    pub kev_added: Option<i64>,
    pub kev_due: Option<i64>,
    /// KEV: used in ransomware campaigns, as far as CISA knows.
    pub ransomware: bool,
    /// EPSS: probability of exploitation in 30 days, and its percentile.
    pub epss: Option<f64>,
    pub percentile: Option<f64>,
}

impl Score {
    /// Fills what `other` (of another feed, the same id) knows.
    pub(crate) fn merge(&mut self, other: Score) {
        self.kev_added = self.kev_added.or(other.kev_added);
        self.kev_due = self.kev_due.or(other.kev_due);
        self.ransomware |= other.ransomware;
        self.epss = self.epss.or(other.epss);
        self.percentile = self.percentile.or(other.percentile);
    }
}

/// Rows of several feeds for one id, as one [`Score`] each, in id order.
pub(crate) fn merged(rows: impl IntoIterator<Item = Score>) -> Vec<Score> {
    let mut out: Vec<Score> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some(last) if last.id == r.id => last.merge(r),
            _ => out.push(r),
        }
    }
    out
}

/// A record's status as the `status` and `fixed_version` columns hold it.
pub(crate) fn status_columns(s: &Status) -> (&'static str, Option<&str>) {
    (
        s.as_str(),
        match s {
            Status::Fixed(v) => Some(v.as_str()),
            _ => None,
        },
    )
}

/// A status back from its columns; the columns back when no import could
/// have written them.
pub(crate) fn status_from(
    status: &str,
    fixed_version: Option<String>,
) -> Result<Status, (String, Option<String>)> {
    Ok(match (status, fixed_version) {
        ("fixed", Some(v)) => Status::Fixed(v),
        ("unfixed", None) => Status::Unfixed,
        ("wont_fix", None) => Status::WontFix,
        ("end_of_life", None) => Status::EndOfLife,
        ("undetermined", None) => Status::Undetermined,
        ("not_affected", None) => Status::NotAffected,
        (s, v) => return Err((s.to_string(), v)),
    })
}

/// A stored row back as a record; a row no import could have written is
/// an error, never a guess.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    id: String,
    source_package: String,
    release: String,
    status: &str,
    fixed_version: Option<String>,
    severity: &str,
    vendor_severity: Option<String>,
    description: Option<String>,
    advisory: Option<String>,
) -> Result<Record, String> {
    let status = status_from(status, fixed_version).map_err(|(s, v)| {
        format!("{id} {source_package}: stored status {s:?} with fixed version {v:?}")
    })?;
    let severity: Severity = severity
        .parse()
        .map_err(|_| format!("{id} {source_package}: stored severity {severity:?}"))?;
    Ok(Record {
        id,
        source_package,
        release,
        status,
        vendor_severity,
        severity,
        description,
        advisory,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_survives_its_columns() {
        for status in [
            Status::Fixed("1.2-3".into()),
            Status::Unfixed,
            Status::WontFix,
            Status::EndOfLife,
            Status::Undetermined,
            Status::NotAffected,
        ] {
            let (s, v) = status_columns(&status);
            let r = record(
                "CVE-1".into(),
                "p".into(),
                "bookworm".into(),
                s,
                v.map(str::to_string),
                "low",
                None,
                None,
                None,
            )
            .unwrap();
            assert_eq!(r.status, status);
        }
        assert!(record(
            "C".into(),
            "p".into(),
            "r".into(),
            "fixed",
            None,
            "low",
            None,
            None,
            None
        )
        .is_err());
        assert!(record(
            "C".into(),
            "p".into(),
            "r".into(),
            "open",
            None,
            "low",
            None,
            None,
            None
        )
        .is_err());
        assert!(record(
            "C".into(),
            "p".into(),
            "r".into(),
            "unfixed",
            None,
            "grave",
            None,
            None,
            None
        )
        .is_err());
    }
}
