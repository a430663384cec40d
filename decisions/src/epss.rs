//! FIRST's EPSS scores, their daily CSV (`epss_scores-YYYY-MM-DD.csv`, served
//! gzipped): a first comment line `#model_version:…,score_date:…`, the header
//! `cve,epss,percentile`, then one line per CVE with two numbers in 0–1.
//! About 300,000 lines: read line by line, each score given to the caller.

use std::io::BufRead;

use crate::kev::{is_cve, FeedError};

/// One CVE's score.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub cve: String,
    /// The probability of exploitation in the next 30 days.
    pub epss: f64,
    pub percentile: f64,
}

/// What the first line says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub model_version: Option<String>,
    /// `score_date` as written (an RFC 3339 time in recent files).
    pub score_date: Option<String>,
}

/// Whether the start of a file looks like EPSS scores.
pub fn looks_like(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&head[..head.len().min(512)]);
    let mut lines = head.lines().filter(|l| !l.starts_with('#'));
    head.starts_with("#model_version")
        || lines
            .next()
            .is_some_and(|l| l.trim() == "cve,epss,percentile")
}

/// Reads every score, giving each to `each`; returns the header and how
/// many. A line that does not read fails the file, naming its line number.
pub fn read(
    reader: impl BufRead,
    mut each: impl FnMut(Score),
) -> Result<(Header, usize), FeedError> {
    let mut header = Header::default();
    let mut seen_columns = false;
    let mut n = 0;
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| FeedError::Invalid(format!("line {}: {e}", i + 1)))?;
        let line = line.trim_end_matches('\r');
        let at = |why: &str| FeedError::Invalid(format!("line {}: {why}: {line:?}", i + 1));
        if let Some(comment) = line.strip_prefix('#') {
            for part in comment.split(',') {
                match part.split_once(':') {
                    Some(("model_version", v)) => header.model_version = Some(v.to_string()),
                    Some(("score_date", v)) => header.score_date = Some(v.to_string()),
                    _ => {}
                }
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if !seen_columns {
            if line != "cve,epss,percentile" {
                return Err(at("expected the header cve,epss,percentile"));
            }
            seen_columns = true;
            continue;
        }
        let mut cols = line.split(',');
        let (Some(cve), Some(epss), Some(percentile), None) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            return Err(at("expected three columns"));
        };
        if !is_cve(cve) {
            return Err(at("not a CVE id"));
        }
        let unit = |s: &str| s.parse::<f64>().ok().filter(|v| (0.0..=1.0).contains(v));
        let (Some(epss), Some(percentile)) = (unit(epss), unit(percentile)) else {
            return Err(at("scores are numbers from 0 to 1"));
        };
        each(Score {
            cve: cve.to_string(),
            epss,
            percentile,
        });
        n += 1;
    }
    if !seen_columns {
        return Err(FeedError::Invalid(
            "no header cve,epss,percentile: not EPSS scores".into(),
        ));
    }
    Ok((header, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "#model_version:v2025.03.14,score_date:2026-11-30T12:55:00Z\r\ncve,epss,percentile\r\nCVE-2021-44228,0.94358,0.99962\r\nCVE-2024-3094,0.84136,0.99269\r\nCVE-2026-0001,0.00043,0.10500\r\n";

    #[test]
    fn reads_every_score_and_the_header() {
        let mut scores = Vec::new();
        let (h, n) = read(FILE.as_bytes(), |s| scores.push(s)).unwrap();
        assert_eq!(n, 3);
        assert_eq!(h.model_version.as_deref(), Some("v2025.03.14"));
        assert_eq!(h.score_date.as_deref(), Some("2026-11-30T12:55:00Z"));
        assert_eq!(
            scores[1],
            Score {
                cve: "CVE-2024-3094".into(),
                epss: 0.84136,
                percentile: 0.99269
            }
        );
        assert!(looks_like(FILE.as_bytes()));
        assert!(!looks_like(b"{\"catalogVersion\": 1}"));
    }

    #[test]
    fn a_bad_line_fails_the_file_naming_it() {
        for (bad, why) in [
            ("CVE-2024-3094,1.5,0.9", "line 4"),
            ("CVE-2024-3094,x,0.9", "from 0 to 1"),
            ("CVE-2024-3094,0.5", "three columns"),
            ("GHSA-xxxx,0.5,0.5", "not a CVE"),
        ] {
            let text = FILE.replace("CVE-2024-3094,0.84136,0.99269", bad);
            let e = read(text.as_bytes(), |_| {}).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(read("id,score\nCVE-2024-3094,0.5\n".as_bytes(), |_| {}).is_err());
        assert!(read("".as_bytes(), |_| {}).is_err());
    }
}
