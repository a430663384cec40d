//! What the `prometheus` crate's registry gathers, written by the same
//! writer as everything else, in either format.

use prometheus::proto::{MetricFamily, MetricType};

use super::Exposition;

impl Exposition {
    /// Writes gathered families: counters, gauges and histograms, the
    /// types the programs register (summaries and untyped metrics are not
    /// registered, and skipped).
    pub fn families(&mut self, families: &[MetricFamily]) {
        let mut labels: Vec<(&str, &str)> = Vec::new();
        for f in families {
            let name = f.name();
            let kind = match f.get_field_type() {
                MetricType::COUNTER => "counter",
                MetricType::GAUGE => "gauge",
                MetricType::HISTOGRAM => "histogram",
                MetricType::SUMMARY | MetricType::UNTYPED => continue,
            };
            self.family(name, kind, f.help());
            for m in f.get_metric() {
                labels.clear();
                labels.extend(m.get_label().iter().map(|l| (l.name(), l.value())));
                match f.get_field_type() {
                    MetricType::COUNTER => self.sample(name, &labels, m.get_counter().get_value()),
                    MetricType::GAUGE => self.sample(name, &labels, m.get_gauge().get_value()),
                    MetricType::HISTOGRAM => {
                        let h = m.get_histogram();
                        let bucket = format!("{name}_bucket");
                        for b in h.get_bucket() {
                            let le = le_of(b.upper_bound());
                            let mut with_le = labels.clone();
                            with_le.push(("le", &le));
                            self.sample(&bucket, &with_le, b.cumulative_count() as f64);
                        }
                        let mut inf = labels.clone();
                        inf.push(("le", "+Inf"));
                        self.sample(&bucket, &inf, h.get_sample_count() as f64);
                        self.sample(&format!("{name}_sum"), &labels, h.get_sample_sum());
                        self.sample(
                            &format!("{name}_count"),
                            &labels,
                            h.get_sample_count() as f64,
                        );
                    }
                    // Never registered here: no sample is invented for them.
                    MetricType::SUMMARY | MetricType::UNTYPED => {}
                }
            }
        }
    }
}

/// A bucket's bound as both formats read it: `0.5`, `1.0`, `+Inf`.
fn le_of(bound: f64) -> String {
    if bound.is_infinite() {
        return "+Inf".into();
    }
    let s = bound.to_string();
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Format;
    use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

    fn registry() -> Registry {
        let r = Registry::new();
        let c = IntCounterVec::new(
            Opts::new("x_requests_total", "Requests \"so far\"."),
            &["code"],
        )
        .unwrap();
        c.with_label_values(&["200"]).inc_by(3);
        let h = HistogramVec::new(
            HistogramOpts::new("x_duration_seconds", "Time.").buckets(vec![0.5, 1.0]),
            &["route"],
        )
        .unwrap();
        h.with_label_values(&["/metrics"]).observe(0.7);
        r.register(Box::new(c)).unwrap();
        r.register(Box::new(h)).unwrap();
        r
    }

    #[test]
    fn gathered_families_are_written_in_either_format() {
        let mut e = Exposition::new(Format::Text, 256);
        e.families(&registry().gather());
        assert_eq!(
            e.finish(),
            "# HELP x_duration_seconds Time.\n# TYPE x_duration_seconds histogram\n\
             x_duration_seconds_bucket{route=\"/metrics\",le=\"0.5\"} 0\n\
             x_duration_seconds_bucket{route=\"/metrics\",le=\"1.0\"} 1\n\
             x_duration_seconds_bucket{route=\"/metrics\",le=\"+Inf\"} 1\n\
             x_duration_seconds_sum{route=\"/metrics\"} 0.7\n\
             x_duration_seconds_count{route=\"/metrics\"} 1\n\
             # HELP x_requests_total Requests \"so far\".\n# TYPE x_requests_total counter\n\
             x_requests_total{code=\"200\"} 3\n"
        );
        let mut e = Exposition::new(Format::OpenMetrics("1.0.0"), 256);
        e.families(&registry().gather());
        let om = e.finish();
        assert!(
            om.contains("# HELP x_requests Requests \\\"so far\\\".\n# TYPE x_requests counter\nx_requests_total{code=\"200\"} 3\n"),
            "{om}"
        );
        assert!(
            om.ends_with("x_requests_total{code=\"200\"} 3\n# EOF\n"),
            "{om}"
        );
    }
}
