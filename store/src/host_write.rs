//! What both stores do with a report the ownership rules allowed, in one
//! order: an unchanged report only touches its host's times; a changed one
//! has its pending updates planned against the stored ones (first-seen
//! times kept, `diff.rs`) and written, then the host row with its counts
//! and waiting times, a history point when the counts changed, and the
//! installed inventory. Each store gives the statements ([`HostRows`]); the
//! order and the rules are here, once.

use std::collections::HashMap;
use std::time::SystemTime;

use pakiti_report::Report;

use crate::diff::{self, Plan, Stored};
use crate::{millis, Counts, IngestOutcome, Source};

/// The statements of one store, inside the report's transaction.
pub(crate) trait HostRows {
    type Error;
    /// An unchanged report: the host's report times and source only.
    fn touch(&mut self, host: i64, w: &HostWrite<'_>) -> Result<(), Self::Error>;
    /// The host's stored pending updates, by (name, arch).
    fn pending(&mut self, host: i64) -> Result<HashMap<(String, String), Stored>, Self::Error>;
    /// The plan's upserts and deletes.
    fn apply(&mut self, host: i64, plan: &Plan) -> Result<(), Self::Error>;
    /// The counts the host row holds before this report.
    fn previous_counts(&mut self, host: i64) -> Result<Option<Counts>, Self::Error>;
    /// The host row, as the report and its plan make it.
    fn host(&mut self, host: i64, w: &HostWrite<'_>, plan: &Plan) -> Result<(), Self::Error>;
    /// A point of the host's history.
    fn history(&mut self, host: i64, at: i64, counts: &Counts) -> Result<(), Self::Error>;
    /// The installed inventory (rewritten only when it changed).
    fn inventory(&mut self, host: i64, w: &HostWrite<'_>) -> Result<(), Self::Error>;
}

/// What is written of one report.
pub(crate) struct HostWrite<'a> {
    pub report: &'a Report,
    pub hash: &'a [u8],
    pub source: Source,
    pub forwarded_by: Option<&'a str>,
    /// When it was received (ms).
    pub at: i64,
    pub collected: i64,
    pub duration_ms: i64,
    pub counts: Counts,
}

impl<'a> HostWrite<'a> {
    pub fn new(
        report: &'a Report,
        hash: &'a [u8],
        source: Source,
        forwarded_by: Option<&'a str>,
        received_at: SystemTime,
    ) -> HostWrite<'a> {
        HostWrite {
            report,
            hash,
            source,
            forwarded_by,
            at: millis(received_at),
            collected: millis(report.collected_at),
            duration_ms: report.collection_duration.as_millis() as i64,
            counts: Counts::of(report),
        }
    }
}

/// Writes the report over host `host`: `created` when this transaction
/// made its row, else `stored_hash` is the content hash it had.
pub(crate) fn write<R: HostRows>(
    rows: &mut R,
    host: i64,
    created: bool,
    stored_hash: &[u8],
    w: &HostWrite<'_>,
) -> Result<IngestOutcome, R::Error> {
    if !created && stored_hash == w.hash {
        rows.touch(host, w)?;
        return Ok(IngestOutcome::Unchanged);
    }
    let existing = if created {
        HashMap::new()
    } else {
        rows.pending(host)?
    };
    let plan = diff::plan(w.report, existing, w.at);
    rows.apply(host, &plan)?;
    let previous = if created {
        None
    } else {
        rows.previous_counts(host)?
    };
    rows.host(host, w, &plan)?;
    if previous != Some(w.counts) {
        rows.history(host, w.at, &w.counts)?;
    }
    rows.inventory(host, w)?;
    Ok(if created {
        IngestOutcome::NewHost
    } else {
        IngestOutcome::Changed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what the sequence asks of a store.
    #[derive(Default)]
    struct Log {
        calls: Vec<String>,
        stored_counts: Option<Counts>,
    }

    impl HostRows for Log {
        type Error = ();
        fn touch(&mut self, _: i64, _: &HostWrite<'_>) -> Result<(), ()> {
            self.calls.push("touch".into());
            Ok(())
        }
        fn pending(&mut self, _: i64) -> Result<HashMap<(String, String), Stored>, ()> {
            self.calls.push("pending".into());
            Ok(HashMap::new())
        }
        fn apply(&mut self, _: i64, plan: &Plan) -> Result<(), ()> {
            self.calls.push(format!("apply {}", plan.upserts.len()));
            Ok(())
        }
        fn previous_counts(&mut self, _: i64) -> Result<Option<Counts>, ()> {
            self.calls.push("previous".into());
            Ok(self.stored_counts)
        }
        fn host(&mut self, _: i64, _: &HostWrite<'_>, _: &Plan) -> Result<(), ()> {
            self.calls.push("host".into());
            Ok(())
        }
        fn history(&mut self, _: i64, _: i64, _: &Counts) -> Result<(), ()> {
            self.calls.push("history".into());
            Ok(())
        }
        fn inventory(&mut self, _: i64, _: &HostWrite<'_>) -> Result<(), ()> {
            self.calls.push("inventory".into());
            Ok(())
        }
    }

    #[test]
    fn a_report_is_written_in_one_order_whatever_the_store() {
        let report = pakiti_report::testing::report(
            "h",
            None,
            None,
            vec![pakiti_report::testing::update("a", "1", "2", None)],
        );
        let w = HostWrite::new(&report, b"new", Source::Push, None, SystemTime::UNIX_EPOCH);
        let run = |log: &mut Log, created: bool, stored: &[u8]| {
            let outcome = write(log, 1, created, stored, &w).unwrap();
            (outcome, std::mem::take(&mut log.calls))
        };
        let mut log = Log::default();
        assert_eq!(
            run(&mut log, true, b""),
            (
                IngestOutcome::NewHost,
                ["apply 1", "host", "history", "inventory"]
                    .map(String::from)
                    .to_vec()
            )
        );
        assert_eq!(
            run(&mut log, false, b"new"),
            (IngestOutcome::Unchanged, vec!["touch".to_string()])
        );
        assert_eq!(
            run(&mut log, false, b"old"),
            (
                IngestOutcome::Changed,
                [
                    "pending",
                    "apply 1",
                    "previous",
                    "host",
                    "history",
                    "inventory"
                ]
                .map(String::from)
                .to_vec()
            )
        );
        // The same counts as stored: no history point.
        log.stored_counts = Some(w.counts);
        assert_eq!(
            run(&mut log, false, b"old").1,
            ["pending", "apply 1", "previous", "host", "inventory"].map(String::from)
        );
    }
}
