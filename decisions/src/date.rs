//! Whole days in UTC, as the catalogs and the decisions file write them
//! (`2027-01-31`). A date given as a limit (an exception's `expires`, a KEV
//! `dueDate`) holds through that whole day: it ends at the next day's
//! 00:00 UTC ([`Date::end`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pakiti_report::time::{days_from_civil, days_in_month};

/// A day, as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i64);

const DAY: u64 = 86_400;

impl Date {
    /// Parses `YYYY-MM-DD` exactly (a real day of the Gregorian calendar,
    /// 1970 or later).
    pub fn parse(s: &str) -> Result<Date, String> {
        let bad = || format!("{s:?} is not a date (YYYY-MM-DD)");
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
            let part = &b[r];
            if !part.iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            Ok(part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (month, day) = (m as u32, d as u32);
        if y < 1970 || !(1..=12).contains(&m) || d < 1 || day > days_in_month(y as u32, month) {
            return Err(bad());
        }
        Ok(Date(days_from_civil(y, month, day)))
    }

    /// The day an instant falls on.
    pub fn of(t: SystemTime) -> Date {
        let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Date((secs / DAY) as i64)
    }

    /// 00:00 UTC of this day.
    pub fn start(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0.max(0) as u64 * DAY)
    }

    /// 00:00 UTC of the next day: when a limit of this date has passed.
    pub fn end(self) -> SystemTime {
        Date(self.0 + 1).start()
    }

    pub fn days_since_epoch(self) -> i64 {
        self.0
    }

    pub fn from_days(days: i64) -> Date {
        Date(days.max(0))
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

// Howard Hinnant's civil_from_days (its inverse is `pakiti_report::time::days_from_civil`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_days_only() {
        assert_eq!(Date::parse("1970-01-01").unwrap().days_since_epoch(), 0);
        assert_eq!(Date::parse("2024-02-29").unwrap().to_string(), "2024-02-29");
        assert_eq!(Date::parse("2000-02-29").unwrap().to_string(), "2000-02-29");
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2027-13-01",
            "2027-04-31",
            "2027-1-31",
            "27-01-31",
            "2027-01-31T00:00:00Z",
            "",
            "1969-12-31",
            "2027/01/31",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trips_every_day_of_four_centuries() {
        for days in 0..146_097 {
            let d = Date(days);
            assert_eq!(Date::parse(&d.to_string()), Ok(d));
        }
    }

    #[test]
    fn a_limit_holds_through_its_day() {
        let d = Date::parse("2027-01-31").unwrap();
        // 2027-01-31T00:00:00Z = 1801353600 (date -u -d 2027-01-31 +%s)
        assert_eq!(d.start(), UNIX_EPOCH + Duration::from_secs(1_801_353_600));
        assert_eq!(
            d.end(),
            UNIX_EPOCH + Duration::from_secs(1_801_353_600 + DAY)
        );
        assert_eq!(Date::of(d.end() - Duration::from_secs(1)), d);
    }
}
