//! The one "fix first" order: KEV-listed first, then by severity of what
//! can be fixed now (a fixable finding before an unfixable one of the same
//! severity), then by EPSS (higher first, unscored last), then the oldest
//! first, then by id.

use std::cmp::Ordering;
use std::time::SystemTime;

use pakiti_report::Severity;

/// What the order looks at of one vulnerability.
#[derive(Debug, Clone, Copy)]
pub struct Rank<'a> {
    pub id: &'a str,
    pub kev: bool,
    pub severity: Severity,
    /// Whether some host can install a fix now.
    pub fixable: bool,
    pub epss: Option<f64>,
    pub first_seen: SystemTime,
}

fn severity_rank(s: Severity) -> u8 {
    match s {
        Severity::Critical => 4,
        Severity::Important => 3,
        Severity::Moderate => 2,
        Severity::Low => 1,
        _ => 0,
    }
}

/// `a` before `b` when `Less`.
pub fn fix_first(a: &Rank<'_>, b: &Rank<'_>) -> Ordering {
    b.kev
        .cmp(&a.kev)
        .then_with(|| severity_rank(b.severity).cmp(&severity_rank(a.severity)))
        .then_with(|| b.fixable.cmp(&a.fixable))
        .then_with(|| {
            let e = |r: &Rank<'_>| r.epss.unwrap_or(-1.0);
            e(b).total_cmp(&e(a))
        })
        .then_with(|| a.first_seen.cmp(&b.first_seen))
        .then_with(|| a.id.cmp(b.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn kev_then_fixable_severity_then_epss_then_age() {
        let t = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        let r = |id, kev, severity, fixable, epss, seen| Rank {
            id,
            kev,
            severity,
            fixable,
            epss,
            first_seen: t(seen),
        };
        let mut list = [
            r("old-low", false, Severity::Low, true, Some(0.9), 1),
            r(
                "crit-unfixable",
                false,
                Severity::Critical,
                false,
                Some(0.5),
                5,
            ),
            r("crit-epss-none", false, Severity::Critical, true, None, 1),
            r("kev-low", true, Severity::Low, false, None, 9),
            r(
                "crit-epss-high",
                false,
                Severity::Critical,
                true,
                Some(0.7),
                9,
            ),
            r(
                "crit-epss-high-older",
                false,
                Severity::Critical,
                true,
                Some(0.7),
                3,
            ),
            r("unknown", false, Severity::Unknown, true, Some(1.0), 0),
        ];
        list.sort_by(fix_first);
        let ids: Vec<_> = list.iter().map(|r| r.id).collect();
        assert_eq!(
            ids,
            [
                "kev-low",
                "crit-epss-high-older",
                "crit-epss-high",
                "crit-epss-none",
                "crit-unfixable",
                "old-low",
                "unknown"
            ]
        );
    }
}
