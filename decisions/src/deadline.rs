//! Deadlines: how long a host may keep a fixable finding open. Configured
//! per severity and per tag (`[decisions.deadlines]`); a KEV-listed
//! vulnerability's deadline is CISA's `dueDate` (through that day, UTC)
//! unless turned off. The clock starts when the fix first became
//! available to the host — when its own reports first showed the update
//! pending — not when the aggregator learned that the update fixes
//! something. Of several deadlines the earliest holds; an unfixable finding
//! has only the KEV one.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use pakiti_report::Severity;

use crate::Date;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadlines {
    pub severity: BTreeMap<Severity, Duration>,
    pub tags: BTreeMap<String, Duration>,
    /// Whether a KEV entry's `dueDate` is a deadline.
    pub kev: bool,
}

impl Default for Deadlines {
    /// critical 2 days, important 7, moderate 30, low 90; KEV: its due date.
    fn default() -> Self {
        let day = Duration::from_secs(86_400);
        Deadlines {
            severity: [
                (Severity::Critical, 2 * day),
                (Severity::Important, 7 * day),
                (Severity::Moderate, 30 * day),
                (Severity::Low, 90 * day),
            ]
            .into_iter()
            .collect(),
            tags: BTreeMap::new(),
            kev: true,
        }
    }
}

/// One finding, as a deadline sees it.
#[derive(Debug, Clone, Copy)]
pub struct Clock<'a> {
    pub severity: Severity,
    pub tags: &'a [String],
    pub kev_due: Option<Date>,
    /// When the fix first became available to the host; `None` while it
    /// has none.
    pub fix_since: Option<SystemTime>,
}

impl Deadlines {
    /// The finding's deadline, if any.
    pub fn of(&self, c: &Clock<'_>) -> Option<SystemTime> {
        let kev = c.kev_due.filter(|_| self.kev).map(Date::end);
        let counted = c.fix_since.and_then(|since| {
            let by_severity = self.severity.get(&c.severity).copied();
            let by_tag = c
                .tags
                .iter()
                .filter_map(|t| self.tags.get(t).copied())
                .min();
            [by_severity, by_tag]
                .into_iter()
                .flatten()
                .min()
                .map(|d| since + d)
        });
        [kev, counted].into_iter().flatten().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: &str) -> SystemTime {
        Date::parse(d).unwrap().start()
    }

    #[test]
    fn the_earliest_deadline_holds() {
        let mut d = Deadlines::default();
        d.tags
            .insert("critical-for-us".into(), Duration::from_secs(86_400));
        let tags = vec!["critical-for-us".to_string()];
        let base = Clock {
            severity: Severity::Important,
            tags: &[],
            kev_due: None,
            fix_since: Some(day("2026-11-01")),
        };
        assert_eq!(d.of(&base), Some(day("2026-11-08")));
        assert_eq!(
            d.of(&Clock {
                tags: &tags,
                ..base
            }),
            Some(day("2026-11-02"))
        );
        let kev = Clock {
            kev_due: Some(Date::parse("2026-11-05").unwrap()),
            ..base
        };
        assert_eq!(d.of(&kev), Some(day("2026-11-06")), "through the due day");
        assert_eq!(
            d.of(&Clock {
                kev_due: Some(Date::parse("2026-12-30").unwrap()),
                ..base
            }),
            Some(day("2026-11-08"))
        );
        assert_eq!(
            d.of(&Clock {
                fix_since: None,
                ..base
            }),
            None,
            "no fix: no clock"
        );
        assert_eq!(
            d.of(&Clock {
                fix_since: None,
                ..kev
            }),
            Some(day("2026-11-06")),
            "KEV: even without a fix"
        );
        assert_eq!(
            d.of(&Clock {
                severity: Severity::Unknown,
                ..base
            }),
            None
        );
        d.kev = false;
        assert_eq!(d.of(&kev), Some(day("2026-11-08")));
    }
}
