//! Which exposition format a scraper gets: the text format by default,
//! OpenMetrics when its `Accept` header prefers it, as Prometheus asks
//! (`application/openmetrics-text;version=1.0.0,…;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1`).

/// The text format's content type.
pub(super) const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus' text format 0.0.4.
    Text,
    /// OpenMetrics text, with the version the scraper named: `1.0.0`, or
    /// `0.0.1`, the draft Prometheus still accepts and writes the same way.
    OpenMetrics(&'static str),
}

impl Format {
    /// The format for an `Accept` header: the supported media range of the
    /// highest quality (`q`), OpenMetrics on a tie; the text format when
    /// there is no header, none is supported, or the header cannot be read.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut best: Option<(f32, u8, Format)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let (mut q, mut version) = (1.0f32, None::<String>);
            for p in parts {
                let Some((k, v)) = p.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => q = v.parse().unwrap_or(0.0),
                    "version" => version = Some(v.to_string()),
                    _ => {}
                }
            }
            if q.is_nan() || q <= 0.0 {
                continue;
            }
            let candidate = match (media.as_str(), version.as_deref()) {
                ("application/openmetrics-text", None | Some("1.0.0")) => {
                    (2, Format::OpenMetrics("1.0.0"))
                }
                ("application/openmetrics-text", Some("0.0.1")) => {
                    (1, Format::OpenMetrics("0.0.1"))
                }
                ("text/plain", None | Some("0.0.4")) | ("*/*" | "text/*", _) => (0, Format::Text),
                _ => continue,
            };
            let better = match best {
                None => true,
                Some((bq, brank, _)) => q > bq || (q == bq && candidate.0 > brank),
            };
            if better {
                best = Some((q, candidate.0, candidate.1));
            }
        }
        best.map_or(Format::Text, |(_, _, f)| f)
    }

    /// The `Content-Type` of an exposition in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT,
            Format::OpenMetrics("0.0.1") => {
                "application/openmetrics-text; version=0.0.1; charset=utf-8"
            }
            Format::OpenMetrics(_) => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scrapers_preference_decides_and_text_is_the_default() {
        let om = Format::OpenMetrics("1.0.0");
        for (accept, want) in [
            (None, Format::Text),
            (Some(""), Format::Text),
            (Some("*/*"), Format::Text),
            (Some("text/plain"), Format::Text),
            (Some("application/json"), Format::Text),
            // What Prometheus 2.x sends.
            (Some("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"), om),
            (Some("application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"), Format::OpenMetrics("0.0.1")),
            (Some("text/plain;version=0.0.4;q=0.9, application/openmetrics-text;q=0.5"), Format::Text),
            (Some("Application/OpenMetrics-Text"), om),
            // A version we do not write, or a refusal, is no choice.
            (Some("application/openmetrics-text;version=2.0.0,text/plain;q=0.2"), Format::Text),
            (Some("application/openmetrics-text;q=0"), Format::Text),
            (Some("application/openmetrics-text;q=banana,text/plain"), Format::Text),
            (Some("text/plain;version=0.0.4,application/openmetrics-text"), om),
        ] {
            assert_eq!(Format::negotiate(accept), want, "{accept:?}");
        }
        assert_eq!(
            om.content_type(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        assert_eq!(Format::Text.content_type(), TEXT);
    }
}
