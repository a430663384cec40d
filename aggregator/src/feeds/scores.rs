//! The priorities others publish, read as feeds: CISA's KEV catalog
//! (`kev`) and FIRST's EPSS scores (`epss`). Each replaces its own rows.

use std::io::{BufRead, Read};
use std::path::Path;
use std::time::SystemTime;

use anyhow::{bail, Context as _};
use pakiti_store::{FeedStatus, Score};

use super::documents::MAX_DOCUMENT;
use super::{hex, Content, Feed, Sha};

/// The feeds of priorities, not of packages.
pub const SCORE_FEEDS: [&str; 2] = ["kev", "epss"];

pub fn is_score_feed(name: &str) -> bool {
    SCORE_FEEDS.contains(&name)
}

fn feed(name: &str, path: &Path, sha: &Sha, time: Option<SystemTime>, scores: Vec<Score>) -> Feed {
    Feed {
        status: FeedStatus {
            name: name.into(),
            source: path.display().to_string(),
            sha256: hex(sha),
            imported_at: SystemTime::now(),
            records: scores.len() as u64,
            feed_time: time.or_else(|| std::fs::metadata(path).and_then(|m| m.modified()).ok()),
        },
        content: Content::Scores(scores),
    }
}

/// CISA's catalog: its time is its `dateReleased`.
pub(super) fn kev(path: &Path, decoded: &mut impl Read, sha: &Sha) -> anyhow::Result<Feed> {
    let mut json = Vec::new();
    decoded
        .take(MAX_DOCUMENT + 1)
        .read_to_end(&mut json)
        .with_context(|| format!("{}", path.display()))?;
    if json.len() as u64 > MAX_DOCUMENT {
        bail!("{}: larger than {MAX_DOCUMENT} bytes", path.display());
    }
    let catalog = pakiti_decisions::kev::read(&json).with_context(|| {
        format!(
            "{}: not CISA's Known Exploited Vulnerabilities catalog",
            path.display()
        )
    })?;
    let scores = catalog
        .entries
        .into_iter()
        .map(|e| Score {
            id: e.cve,
            kev_added: Some(e.added.days_since_epoch()),
            kev_due: Some(e.due.days_since_epoch()),
            ransomware: e.ransomware,
            ..Score::default()
        })
        .collect();
    Ok(feed("kev", path, sha, catalog.released, scores))
}

/// FIRST's scores, line by line: their time is the first line's
/// `score_date`.
pub(super) fn epss(path: &Path, decoded: &mut impl BufRead, sha: &Sha) -> anyhow::Result<Feed> {
    let mut scores = Vec::new();
    let (header, _) = pakiti_decisions::epss::read(decoded, |s| {
        scores.push(Score {
            id: s.cve,
            epss: Some(s.epss),
            percentile: Some(s.percentile),
            ..Score::default()
        })
    })
    .with_context(|| format!("{}: not FIRST's EPSS scores", path.display()))?;
    scores.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(w) = scores.windows(2).find(|w| w[0].id == w[1].id) {
        bail!("{}: {} is scored twice", path.display(), w[0].id);
    }
    let time = header.score_date.as_deref().and_then(score_date);
    Ok(feed("epss", path, sha, time, scores))
}

/// `2026-11-30T12:55:00Z`, `2023-06-27T00:00:00+0000` (older files), or a day.
fn score_date(s: &str) -> Option<SystemTime> {
    if let Ok(t) = pakiti_report::time::parse_rfc3339(s) {
        return Some(t);
    }
    if let Some((date, _)) = s.split_once('T') {
        return pakiti_decisions::Date::parse(date).ok().map(|d| d.start());
    }
    pakiti_decisions::Date::parse(s).ok().map(|d| d.start())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_dates_of_every_era_read() {
        let day = |d: &str| pakiti_decisions::Date::parse(d).unwrap().start();
        assert_eq!(
            score_date("2023-06-27T00:00:00+0000"),
            Some(day("2023-06-27"))
        );
        assert_eq!(score_date("2026-11-30"), Some(day("2026-11-30")));
        assert_eq!(
            score_date("2026-11-30T12:00:00Z"),
            Some(day("2026-11-30") + std::time::Duration::from_secs(12 * 3600))
        );
        assert_eq!(score_date("yesterday"), None);
    }
}
