//! The exposition formats Prometheus scrapes: its text format (0.0.4) and
//! OpenMetrics 1.0, written by one writer — families, samples, label
//! escaping — for what a program renders itself (snapshots of the fleet,
//! streamed) and for what the `prometheus` crate's registry gathers
//! (`registry.rs`). Which one a scraper gets is negotiated from its
//! `Accept` header (`format.rs`). It knows the formats, never a metric name.

use std::fmt::Write as _;
use std::time::SystemTime;

mod format;
mod registry;

pub use format::Format;

/// Which samples an exposition keeps: by metric name and labels.
pub type Keep = Box<dyn Fn(&str, &[(&str, &str)]) -> bool + Send>;

/// Where a streamed exposition sends what it wrote so far.
pub type Sink = Box<dyn FnMut(String) + Send>;

/// A text exposition being written: whole, or streamed to a sink in chunks,
/// and with every sample, or those a filter keeps (a family then appears
/// only with a sample kept).
pub struct Exposition {
    format: Format,
    out: String,
    keep: Option<Keep>,
    /// With a filter: the `# HELP`/`# TYPE` lines of the family being
    /// written, until one of its samples is kept.
    header: Option<String>,
    sink: Option<(usize, Sink)>,
}

impl Exposition {
    /// The text format.
    pub fn with_capacity(bytes: usize) -> Self {
        Exposition::new(Format::Text, bytes)
    }

    pub fn new(format: Format, bytes: usize) -> Self {
        Exposition {
            format,
            out: String::with_capacity(bytes),
            keep: None,
            header: None,
            sink: None,
        }
    }

    /// Only the samples `keep` accepts.
    pub fn filtered(mut self, keep: Keep) -> Self {
        self.keep = Some(keep);
        self
    }

    /// Sends what is written to `sink` whenever it holds `chunk` bytes, so
    /// that the whole text never sits in memory.
    pub fn streaming(mut self, chunk: usize, sink: Sink) -> Self {
        self.sink = Some((chunk, sink));
        self
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// `# HELP` and `# TYPE` lines; `kind` is gauge, counter or histogram.
    /// A counter's samples end in `_total`; OpenMetrics names its family
    /// without that suffix.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let name = match self.format {
            Format::OpenMetrics(_) if kind == "counter" => {
                name.strip_suffix("_total").unwrap_or(name)
            }
            _ => name,
        };
        let mut header = String::with_capacity(name.len() * 2 + help.len() + 24);
        header.push_str("# HELP ");
        header.push_str(name);
        header.push(' ');
        escape_help_into(&mut header, help, self.format);
        let _ = write!(header, "\n# TYPE {name} {kind}\n");
        if self.keep.is_some() {
            self.header = Some(header);
        } else {
            self.out.push_str(&header);
        }
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        if let Some(keep) = &self.keep {
            if !keep(name, labels) {
                return;
            }
            if let Some(h) = self.header.take() {
                self.out.push_str(&h);
            }
        }
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_into(&mut self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        value_into(&mut self.out, value);
        self.out.push('\n');
        if let Some((chunk, sink)) = &mut self.sink {
            if self.out.len() >= *chunk {
                sink(std::mem::replace(
                    &mut self.out,
                    String::with_capacity(*chunk + 256),
                ));
            }
        }
    }

    /// A gauge family with a single unlabelled sample.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }

    /// Ends the exposition: OpenMetrics' `# EOF`, nothing in the text
    /// format. Then the text, as [`Exposition::finish_part`].
    pub fn finish(mut self) -> String {
        if let Format::OpenMetrics(_) = self.format {
            self.out.push_str("# EOF\n");
        }
        self.finish_part()
    }

    /// The text so far, without ending the exposition: a part that others
    /// follow (a snapshot the live part of a scrape completes). Streaming,
    /// what remains (sent to the sink too; the text returned is then empty).
    pub fn finish_part(mut self) -> String {
        match &mut self.sink {
            Some((_, sink)) => {
                if !self.out.is_empty() {
                    sink(std::mem::take(&mut self.out));
                }
                String::new()
            }
            None => self.out,
        }
    }
}

/// A sample value: Go's `ParseFloat` spellings for the infinities and NaN.
fn value_into(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// HELP text: backslash and line feed escaped, and in OpenMetrics the
/// double quote too.
fn escape_help_into(out: &mut String, v: &str, format: Format) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format != Format::Text => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Seconds since the epoch, as timestamps are exposed.
pub fn seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// 1 or 0.
pub fn bool_value(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(e: &mut Exposition) {
        e.family("a", "gauge", "A.");
        e.sample("a", &[("site", "x")], 1.0);
        e.sample("a", &[("site", "y")], 2.0);
        e.family("b", "gauge", "B.");
        e.sample("b", &[("site", "y")], 3.0);
        e.family("c", "gauge", "C, with no sample.");
    }

    #[test]
    fn a_filter_keeps_samples_and_the_families_they_belong_to() {
        let mut e = Exposition::with_capacity(64);
        write(&mut e);
        let whole = e.finish();
        assert!(
            whole.contains("# TYPE c gauge"),
            "every family unfiltered: {whole}"
        );
        let mut e = Exposition::with_capacity(64).filtered(Box::new(|name, labels| {
            name == "b" || labels.contains(&("site", "x"))
        }));
        write(&mut e);
        assert_eq!(
            e.finish(),
            "# HELP a A.\n# TYPE a gauge\na{site=\"x\"} 1\n# HELP b B.\n# TYPE b gauge\nb{site=\"y\"} 3\n"
        );
    }

    #[test]
    fn a_streamed_exposition_is_the_whole_one_in_chunks() {
        let mut e = Exposition::with_capacity(64);
        write(&mut e);
        let whole = e.finish();
        let chunks = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let into = chunks.clone();
        let mut e = Exposition::with_capacity(64)
            .streaming(20, Box::new(move |c| into.lock().unwrap().push(c)));
        write(&mut e);
        assert_eq!(e.finish(), "");
        let chunks = chunks.lock().unwrap();
        assert!(chunks.len() >= 3, "{chunks:?}");
        assert_eq!(chunks.concat(), whole);
    }

    #[test]
    fn label_values_are_escaped() {
        let mut e = Exposition::with_capacity(64);
        e.sample("m", &[("l", "a\"b\\c\nd")], 1.0);
        assert_eq!(e.finish(), "m{l=\"a\\\"b\\\\c\\nd\"} 1\n");
    }
}
