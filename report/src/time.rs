//! RFC 3339 times as the wire carries them: a date, a time and an explicit
//! offset (`Z` or `±hh:mm`), nothing looser. A time without an offset names no
//! instant, so it is refused rather than guessed to be UTC.

use std::time::{Duration, SystemTime};

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (RFC 3339 section 5.6;
/// `t`, `z` and a space for `T` as its note allows). Times before 1970 are refused.
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, &'static str> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return Err("too short for an RFC 3339 date and time");
    }
    let digits = |range: std::ops::Range<usize>| -> Result<u32, &'static str> {
        let part = b.get(range).ok_or("truncated")?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err("expected digits");
        }
        Ok(part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let sep = |i: usize, allowed: &[u8], what: &'static str| {
        if b.get(i).is_some_and(|c| allowed.contains(c)) {
            Ok(())
        } else {
            Err(what)
        }
    };
    let year = digits(0..4)?;
    sep(4, b"-", "expected '-' after the year")?;
    let month = digits(5..7)?;
    sep(7, b"-", "expected '-' after the month")?;
    let day = digits(8..10)?;
    sep(10, b"Tt ", "expected 'T' between date and time")?;
    let hour = digits(11..13)?;
    sep(13, b":", "expected ':' after the hour")?;
    let minute = digits(14..16)?;
    sep(16, b":", "expected ':' after the minute")?;
    let second = digits(17..19)?;
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return Err("expected digits after '.'");
        }
        for _ in (i - start).min(9)..9 {
            nanos *= 10;
        }
    }
    let offset_minutes: i64 = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), ..] if b.len() - i == 6 => {
            sep(i + 3, b":", "expected ':' in the offset")?;
            let (h, m) = (digits(i + 1..i + 3)?, digits(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return Err("the offset is out of range");
            }
            let minutes = i64::from(h * 60 + m);
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        [] => return Err("it has no offset: add Z or ±hh:mm"),
        _ => return Err("expected Z or ±hh:mm at the end"),
    };
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err("no such date");
    }
    // 60 is a leap second: the instant is the end of second 59.
    if hour > 23 || minute > 59 || second > 60 {
        return Err("no such time of day");
    }
    let second = second.min(59);
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_minutes * 60;
    if secs < 0 {
        return Err("it is before 1970");
    }
    Ok(SystemTime::UNIX_EPOCH + Duration::new(secs as u64, nanos))
}

/// Days of a month of the proleptic Gregorian calendar.
pub fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn offsets_name_the_same_instant() {
        let utc = at(1_764_165_000, 123_000_000);
        for s in [
            "2025-11-26T13:50:00.123Z",
            "2025-11-26t13:50:00.123z",
            "2025-11-26 13:50:00.123Z",
            "2025-11-26T15:50:00.123+02:00",
            "2025-11-26T08:20:00.123-05:30",
            "2025-11-26T13:50:00.123000000Z",
            "2025-11-26T13:50:00.1230000009Z",
        ] {
            assert_eq!(parse_rfc3339(s), Ok(utc), "{s}");
        }
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(at(0, 0)));
        assert_eq!(
            parse_rfc3339("2000-02-29T23:59:60Z"),
            Ok(at(951_868_799, 0))
        );
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59Z"),
            Ok(at(253_402_300_799, 0))
        );
    }

    #[test]
    fn loose_or_impossible_times_are_refused() {
        for s in [
            "2025-11-26T13:50:00",
            "2025-11-26T13:50:00.123",
            "2025-11-26 13:50:00",
            "2025-11-26T13:50Z",
            "2025-11-26T13:50:00+0200",
            "2025-11-26T13:50:00+02",
            "2025-11-26T13:50:00+24:00",
            "2025-11-26T13:50:00.Z",
            "2025-11-26T13:50:00ZZ",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2025-04-31T00:00:00Z",
            "2025-11-26T24:00:00Z",
            "2025-11-26T13:60:00Z",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:30:00+01:00",
            "+2025-11-26T13:50:00Z",
            "2025-1-26T13:50:00Z",
            "２０２５-11-26T13:50:00Z",
            "",
        ] {
            assert!(parse_rfc3339(s).is_err(), "{s} was accepted");
        }
    }
}
