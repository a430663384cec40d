//! Who may overwrite a stored host, decided without a database: both stores
//! look the host up inside the transaction that would write it and ask
//! [`check`]; a refused report changes nothing.
//!
//! A host is identified by its machine id, or without one by its site and
//! host name. It belongs to the site of its first report and to the client
//! that wrote it first. No report moves it to another site, lets a `host`
//! client rewrite a host that is not itself, or replaces a newer report.

use std::time::SystemTime;

use pakiti_report::Report;

use crate::{from_millis, millis};

/// Who writes a report, as the aggregator's trust rules recognised them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writer {
    /// The configured client's name; `None` for an open aggregator and for scrapes.
    pub client: Option<String>,
    /// A `host` client: it may write only the host it is.
    pub host_only: bool,
}

impl Writer {
    /// A writer with no client identity (open aggregator, scrape).
    pub fn anonymous() -> Writer {
        Writer::default()
    }
}

/// The stored host a report would overwrite, as far as the check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredHost {
    pub hostname: String,
    pub site: Option<String>,
    pub owner: Option<String>,
    /// Milliseconds, as stored.
    pub collected_at: i64,
    /// The digest of the stored inventory (`None`: none stored).
    pub inventory_hash: Option<Vec<u8>>,
}

/// Why a report may not overwrite the stored host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("host {hostname:?} with this machine id belongs to site {stored}, not {reported}: a report never moves a host between sites (an operator does, with `pakiti-aggregator hosts move`)", stored = show(stored), reported = show(reported))]
    OtherSite {
        hostname: String,
        stored: Option<String>,
        reported: Option<String>,
    },
    #[error("the machine id belongs to host {hostname:?} of client {owner}: client {writer:?} may write only its own host", owner = show(owner))]
    OtherOwner {
        hostname: String,
        owner: Option<String>,
        writer: String,
    },
    #[error("the report was collected at {reported}, before the stored one ({stored}): an older report never replaces a newer one (if the sender's clock was ahead before, its reports are taken again once it passes that time)", reported = humantime::format_rfc3339_millis(*reported), stored = humantime::format_rfc3339_millis(*stored))]
    Older {
        reported: SystemTime,
        stored: SystemTime,
    },
    #[error("the report says it was collected at {reported}, more than 5 minutes after it was received ({received}): the sender's clock is ahead; fix it and send again", reported = humantime::format_rfc3339_millis(*reported), received = humantime::format_rfc3339_millis(*received))]
    FromTheFuture {
        reported: SystemTime,
        received: SystemTime,
    },
    #[error("the report names its installed packages by digest {claimed}, which is not the inventory stored for this host: send the report with its installed packages")]
    InventoryUnknown { claimed: String },
    #[error("the report's installed_delta does not apply to the inventory stored for this host: {why}; send the report with its installed packages")]
    DeltaDoesNotApply { why: String },
}

/// A report that names its inventory only by digest ("unchanged") is taken
/// only when that is the stored inventory: otherwise the host must send it.
pub(crate) fn inventory_known(
    stored: Option<&StoredHost>,
    report: &Report,
) -> Result<(), Conflict> {
    let inv = &report.inventory;
    let have = stored.and_then(|s| s.inventory_hash.as_deref());
    // A delta is made against the inventory of its base.
    let (claimed, wanted) = match (&inv.installed, &inv.installed_delta, &inv.installed_digest) {
        (None, Some(d), _) => (&d.base, crate::inventory::digest_bytes(&d.base)),
        (None, None, Some(claimed)) => (claimed, crate::inventory::hash(report)),
        _ => return Ok(()),
    };
    if have.is_some() && have == wanted.as_deref() {
        return Ok(());
    }
    Err(Conflict::InventoryUnknown {
        claimed: claimed.clone(),
    })
}

/// How far ahead of the receiving clock a collection time may be.
pub const CLOCK_AHEAD: std::time::Duration = std::time::Duration::from_secs(300);

/// A report collected after it was received (beyond clock skew) is refused:
/// stored, it would make every true report of its host look older.
pub(crate) fn not_from_the_future(
    report: &Report,
    received_at: SystemTime,
) -> Result<(), Conflict> {
    if report.collected_at > received_at + CLOCK_AHEAD {
        return Err(Conflict::FromTheFuture {
            reported: report.collected_at,
            received: received_at,
        });
    }
    Ok(())
}

fn show(v: &Option<String>) -> String {
    v.as_deref()
        .map_or_else(|| "(none)".to_string(), |s| format!("{s:?}"))
}

/// Whether `writer` may store `report` over `stored`.
pub(crate) fn check(stored: &StoredHost, report: &Report, writer: &Writer) -> Result<(), Conflict> {
    if stored.site != report.host.site {
        return Err(Conflict::OtherSite {
            hostname: stored.hostname.clone(),
            stored: stored.site.clone(),
            reported: report.host.site.clone(),
        });
    }
    if writer.host_only {
        let name = writer.client.clone().unwrap_or_default();
        let other_owner = stored.owner.as_ref().is_some_and(|o| *o != name);
        if other_owner || stored.hostname != report.host.hostname.as_str() {
            return Err(Conflict::OtherOwner {
                hostname: stored.hostname.clone(),
                owner: stored.owner.clone(),
                writer: name,
            });
        }
    }
    if millis(report.collected_at) < stored.collected_at {
        return Err(Conflict::Older {
            reported: report.collected_at,
            stored: from_millis(stored.collected_at),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pakiti_report::Update;
    use std::time::Duration;

    /// A report collected at a fixed time (the test helper's is now).
    fn report(name: &str, machine: Option<&str>, site: Option<&str>, u: Vec<Update>) -> Report {
        let mut r = pakiti_report::testing::report(name, machine, site, u);
        r.collected_at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_123);
        r
    }

    fn stored() -> StoredHost {
        let r = report("web-01", Some("m1"), Some("SiteA"), vec![]);
        StoredHost {
            hostname: "web-01".into(),
            site: r.host.site.clone(),
            owner: Some("web-01".into()),
            collected_at: millis(r.collected_at),
            inventory_hash: None,
        }
    }

    #[test]
    fn an_inventory_named_by_digest_must_be_the_stored_one() {
        let mut full = report("web-01", Some("m1"), Some("SiteA"), vec![]);
        full.inventory.installed = Some(vec![pakiti_report::Installed::new("a", "1", "all")]);
        let digest = pakiti_report::installed_digest(full.inventory.installed.as_deref().unwrap());
        let mut lean = full.clone();
        lean.inventory.installed = None;
        lean.inventory.installed_digest = Some(digest);
        let mut have = stored();
        assert_eq!(
            inventory_known(Some(&have), &full),
            Ok(()),
            "a whole report is always taken"
        );
        assert!(matches!(
            inventory_known(Some(&have), &lean),
            Err(Conflict::InventoryUnknown { .. })
        ));
        assert!(matches!(
            inventory_known(None, &lean),
            Err(Conflict::InventoryUnknown { .. })
        ));
        have.inventory_hash = crate::inventory::hash(&full);
        assert_eq!(inventory_known(Some(&have), &lean), Ok(()));
        lean.inventory.installed_digest = Some("0".repeat(64));
        assert!(inventory_known(Some(&have), &lean).is_err());
    }

    fn host_client(name: &str) -> Writer {
        Writer {
            client: Some(name.into()),
            host_only: true,
        }
    }

    #[test]
    fn the_owner_and_relays_of_its_site_may_write() {
        let r = report("web-01", Some("m1"), Some("SiteA"), vec![]);
        assert_eq!(check(&stored(), &r, &host_client("web-01")), Ok(()));
        let relay = Writer {
            client: Some("relay-a".into()),
            host_only: false,
        };
        assert_eq!(check(&stored(), &r, &relay), Ok(()));
        // Same time: a repeated report is not older.
        assert_eq!(check(&stored(), &r, &Writer::anonymous()), Ok(()));
        // A host first seen by a scrape (no owner) may be pushed by itself.
        let unowned = StoredHost {
            owner: None,
            ..stored()
        };
        assert_eq!(check(&unowned, &r, &host_client("web-01")), Ok(()));
    }

    #[test]
    fn a_site_move_an_other_owner_and_an_older_report_are_refused() {
        let mut r = report("web-01", Some("m1"), Some("SiteA"), vec![]);
        r.host.site = Some("SiteB".into());
        assert!(matches!(
            check(&stored(), &r, &Writer::anonymous()),
            Err(Conflict::OtherSite { .. })
        ));
        r.host.site = None;
        assert!(matches!(
            check(&stored(), &r, &Writer::anonymous()),
            Err(Conflict::OtherSite { .. })
        ));

        // Another host client naming web-01's machine id, under its own name.
        let r = report("db-01", Some("m1"), Some("SiteA"), vec![]);
        let e = check(&stored(), &r, &host_client("db-01")).unwrap_err();
        assert!(matches!(e, Conflict::OtherOwner { .. }), "{e}");
        assert!(e.to_string().contains("\"web-01\""), "{e}");
        // Or under web-01's name, with another client's credential.
        let r = report("web-01", Some("m1"), Some("SiteA"), vec![]);
        assert!(check(&stored(), &r, &host_client("intruder")).is_err());

        let mut r = report("web-01", Some("m1"), Some("SiteA"), vec![]);
        r.collected_at -= Duration::from_millis(1);
        let e = check(&stored(), &r, &Writer::anonymous()).unwrap_err();
        assert!(matches!(e, Conflict::Older { .. }), "{e}");
        assert!(e.to_string().contains("older report never replaces"), "{e}");
    }

    #[test]
    fn a_report_from_the_future_is_refused_beyond_clock_skew() {
        let r = report("web-01", Some("m1"), Some("SiteA"), vec![]);
        let at = r.collected_at;
        assert_eq!(not_from_the_future(&r, at), Ok(()));
        assert_eq!(not_from_the_future(&r, at - CLOCK_AHEAD), Ok(()));
        let e = not_from_the_future(&r, at - CLOCK_AHEAD - Duration::from_millis(1)).unwrap_err();
        assert!(matches!(e, Conflict::FromTheFuture { .. }), "{e}");
        assert!(e.to_string().contains("clock is ahead"), "{e}");
    }
}
