//! `/hosts`: the hosts list — filters, sorting by any column, pages — and
//! its CSV and JSON exports, from the fleet copy.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Serialize;

use pakiti_report::Severity;
use pakiti_store::HostSummary;

use crate::export;
use crate::read::{host_json, is_stale};
use crate::state::{ApiError, AppState};
use crate::web::{
    attention_order, fixable, fleet, iso, os_of, query, render, row, urlencode, QueryResult, Row,
};

/// The filters, sort and page of the hosts list, as the query string gives them.
#[derive(Debug, Default, Clone, serde::Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostQuery {
    q: String,
    site: String,
    os: String,
    security: String,
    severity: String,
    reboot: String,
    stale: String,
    sort: String,
    order: String,
    page: Option<usize>,
    per: Option<usize>,
    format: String,
}

impl HostQuery {
    fn check(&mut self) -> Result<(), String> {
        let one_of = |field: &str, v: &str, allowed: &[&str]| {
            if v.is_empty() || allowed.contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "{field}={v:?}: expected one of {}",
                    allowed.join(", ")
                ))
            }
        };
        // The API's spelling too: a filter takes the same values everywhere.
        for v in [&mut self.security, &mut self.reboot, &mut self.stale] {
            match v.as_str() {
                "true" | "1" => *v = "yes".into(),
                "false" | "0" => *v = "no".into(),
                _ => {}
            }
        }
        one_of("security", &self.security, &["yes", "no"])?;
        one_of("reboot", &self.reboot, &["yes", "no"])?;
        one_of("stale", &self.stale, &["yes", "no"])?;
        one_of(
            "severity",
            &self.severity,
            &["critical", "important", "moderate", "low", "unknown"],
        )?;
        if self.sort != "attention" {
            one_of("sort", &self.sort, &SORTS.map(|s| s.0))?;
        }
        one_of("order", &self.order, &["asc", "desc"])?;
        one_of("format", &self.format, &["html", "csv", "json"])?;
        if self.sort.is_empty() {
            self.sort = "attention".into();
        }
        if self.order.is_empty() {
            self.order = default_order(&self.sort).into();
        }
        Ok(())
    }

    fn url(&self, change: impl FnOnce(&mut HostQuery)) -> String {
        let mut q = self.clone();
        change(&mut q);
        let mut pairs: Vec<(&str, String)> = vec![
            ("q", q.q),
            ("site", q.site),
            ("os", q.os),
            ("security", q.security),
            ("severity", q.severity),
            ("reboot", q.reboot),
            ("stale", q.stale),
            ("sort", q.sort),
            ("order", q.order),
            ("format", q.format),
        ];
        if let Some(p) = q.page.filter(|p| *p > 1) {
            pairs.push(("page", p.to_string()));
        }
        if let Some(p) = q.per {
            pairs.push(("per", p.to_string()));
        }
        let mut s = String::from("/hosts?");
        for (k, v) in pairs.into_iter().filter(|(_, v)| !v.is_empty()) {
            let _ = write!(s, "{k}={}&", urlencode(&v));
        }
        s.trim_end_matches(['&', '?']).to_string()
    }
}

const SORTS: [(&str, &str, bool); 9] = [
    ("host", "Host", false),
    ("site", "Site", false),
    ("os", "OS", false),
    ("pending", "Pending", true),
    ("security", "Security", true),
    ("vulns", "Fixable now", true),
    ("since", "Security pending since", false),
    ("reboot", "Reboot", false),
    ("last", "Last report", false),
];

/// Names read A to Z first; counts, times and attention most urgent first.
fn default_order(key: &str) -> &'static str {
    if ["host", "site", "os"].contains(&key) {
        "asc"
    } else {
        "desc"
    }
}

/// The order a column heading links to: the other direction when the list is
/// already sorted by that column, else the column's default.
fn next_order(sort: &str, order: &str, key: &str) -> &'static str {
    match (sort == key, order) {
        (true, "asc") => "desc",
        (true, _) => "asc",
        (false, _) => default_order(key),
    }
}

fn matches(state: &AppState, f: &HostQuery, h: &HostSummary, now: SystemTime) -> bool {
    let yes_no = |v: &str, actual: bool| v.is_empty() || (v == "yes") == actual;
    (f.q.is_empty() || h.hostname.contains(&f.q.to_ascii_lowercase()))
        && (f.site.is_empty() || h.site.as_deref() == Some(f.site.as_str()))
        && (f.os.is_empty() || os_of(h) == f.os)
        && yes_no(&f.security, h.counts.security_total() > 0)
        && yes_no(&f.reboot, h.counts.reboot_required)
        && yes_no(&f.stale, is_stale(state, h, now))
        && (f.severity.is_empty() || {
            // "At least" this severity.
            let idx = Severity::ALL
                .iter()
                .position(|s| s.as_str() == f.severity)
                .unwrap_or(4);
            let upto = if f.severity == "unknown" { 5 } else { idx + 1 };
            (0..upto).any(|i| h.counts.security[i] > 0)
        })
}

/// Ascending security urgency: by the count of the worst severity first
/// (one critical outranks any number of important), then the total; so
/// "descending" puts the most critical host first.
fn by_security(a: &pakiti_store::Counts, b: &pakiti_store::Counts) -> std::cmp::Ordering {
    a.security
        .cmp(&b.security)
        .then(a.security_total().cmp(&b.security_total()))
}

fn sort_hosts(list: &mut [&HostSummary], f: &HostQuery) {
    list.sort_by(|a, b| {
        let o = match f.sort.as_str() {
            "host" => a.hostname.cmp(&b.hostname),
            "site" => a.site.cmp(&b.site),
            "os" => os_of(a).cmp(&os_of(b)),
            "pending" => a.counts.pending.cmp(&b.counts.pending),
            "security" => by_security(&a.counts, &b.counts),
            // Oldest first is "descending" urgency; hosts with none sort last.
            "since" => match (a.security_pending_since, b.security_pending_since) {
                (Some(x), Some(y)) => y.cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Greater,
                (None, Some(_)) => std::cmp::Ordering::Less,
                (None, None) => std::cmp::Ordering::Equal,
            },
            // What to fix first: fixable critical and important, then all
            // fixable; unknown hosts below every covered one.
            "vulns" => fixable(a).cmp(&fixable(b)),
            "reboot" => a.counts.reboot_required.cmp(&b.counts.reboot_required),
            "last" => a.last_report_at.cmp(&b.last_report_at),
            // Most urgent first is "descending".
            "attention" => attention_order(a, b).reverse(),
            _ => std::cmp::Ordering::Equal,
        };
        let o = if f.order == "desc" { o.reverse() } else { o };
        o.then_with(|| a.hostname.cmp(&b.hostname))
    });
}

pub async fn hosts(
    State(state): State<AppState>,
    q: QueryResult<HostQuery>,
) -> Result<Response, ApiError> {
    let mut f = query(q)?;
    f.check()
        .map_err(|e| crate::state::error(StatusCode::BAD_REQUEST, e))?;
    let all = fleet(&state).await?;
    let now = SystemTime::now();
    if matches!(f.format.as_str(), "csv" | "json") {
        return Ok(hosts_export(state, all, f, now));
    }
    let mut list: Vec<&HostSummary> = all.iter().filter(|h| matches(&state, &f, h, now)).collect();
    sort_hosts(&mut list, &f);
    let per = f.per.unwrap_or(50).clamp(1, 500);
    let total = list.len();
    let pages = total.div_ceil(per).max(1);
    let page = f.page.unwrap_or(1).clamp(1, pages);
    let rows: Vec<Row> = list
        .iter()
        .skip((page - 1) * per)
        .take(per)
        .map(|h| row(&state, h, now))
        .collect();
    // Borrowed while gathered: a fleet of 100,000 hosts has a few sites and
    // releases, not 100,000 copies of them.
    let site_options: BTreeSet<&str> = all.iter().filter_map(|h| h.site.as_deref()).collect();
    let os_options: BTreeSet<String> = all
        .iter()
        .map(|h| (h.os_id.as_str(), h.os_version.as_str()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|(id, version)| format!("{id} {version}").trim().to_string())
        .collect();
    let columns = sort_columns(&f);
    let prev = (page > 1).then(|| f.url(|q| q.page = Some(page - 1)));
    let next = (page < pages).then(|| f.url(|q| q.page = Some(page + 1)));
    let attention_href = f.url(|q| {
        q.sort = "attention".into();
        q.order = "desc".into();
        q.page = None;
    });
    let export_csv = f.url(|q| {
        q.format = "csv".into();
        q.page = None;
    });
    let export_json = f.url(|q| {
        q.format = "json".into();
        q.page = None;
    });
    Ok(render(
        &state,
        "hosts.html",
        context! { f, rows, total, page, pages, prev, next, columns, site_options, os_options, export_csv, export_json, attention_href },
    ))
}

/// The hosts list as CSV or JSON, in the list's order, written as it goes.
fn hosts_export(
    state: AppState,
    all: Arc<Vec<HostSummary>>,
    f: HostQuery,
    now: SystemTime,
) -> Response {
    let csv = f.format == "csv";
    let kind = if csv {
        export::Kind::Csv {
            filename: "hosts.csv",
        }
    } else {
        export::Kind::Json
    };
    export::stream(kind, move |out| {
        let mut list: Vec<&HostSummary> =
            all.iter().filter(|h| matches(&state, &f, h, now)).collect();
        sort_hosts(&mut list, &f);
        if !csv {
            out.write(b"{\"hosts\":[")?;
            let mut first = true;
            for h in list {
                out.json_item(&mut first, &host_json(&state, h, now))?;
            }
            return out.write(b"]}");
        }
        out.csv_line(&[
            "host",
            "site",
            "os",
            "pending",
            "security",
            "critical",
            "important",
            "moderate",
            "low",
            "unknown",
            "security_pending_since",
            "reboot_required",
            "last_report",
            "stale",
        ])?;
        for h in list {
            let mut v = vec![
                h.hostname.clone(),
                h.site.as_deref().unwrap_or_default().to_string(),
                os_of(h),
                h.counts.pending.to_string(),
                h.counts.security_total().to_string(),
            ];
            v.extend(h.counts.security.iter().map(u32::to_string));
            v.extend([
                iso(h.security_pending_since),
                h.counts.reboot_required.to_string(),
                iso(Some(h.last_report_at)),
                is_stale(&state, h, now).to_string(),
            ]);
            out.csv_line(&v)?;
        }
        Ok(())
    })
}

/// A column of the hosts list: its header links to the list sorted by it.
#[derive(Serialize)]
struct Column {
    label: &'static str,
    href: String,
    sorted: bool,
    num: bool,
    /// Shown on a phone too: host, security and reboot (the rest drop out
    /// rather than make the list scroll sideways).
    phone: bool,
}

/// The hosts list's columns, each linking to the list sorted by it.
fn sort_columns(f: &HostQuery) -> Vec<Column> {
    SORTS
        .iter()
        .map(|(key, label, num)| Column {
            label,
            sorted: f.sort == *key,
            num: *num,
            phone: ["host", "security", "reboot"].contains(key),
            href: f.url(|q| {
                q.order = next_order(&q.sort, &q.order, key).into();
                q.sort = key.to_string();
                q.page = None;
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_headings_flip_the_sort_they_show() {
        assert_eq!(next_order("since", "desc", "since"), "asc");
        assert_eq!(next_order("since", "asc", "since"), "desc");
        assert_eq!(next_order("pending", "desc", "pending"), "asc");
        assert_eq!(next_order("since", "desc", "pending"), "desc");
        assert_eq!(next_order("since", "desc", "host"), "asc");
        assert_eq!(next_order("host", "asc", "host"), "desc");
    }

    #[test]
    fn the_most_critical_host_sorts_first_descending() {
        let counts = |security: [u32; 5]| pakiti_store::Counts {
            security,
            ..Default::default()
        };
        let mut list = [
            counts([0, 0, 0, 9, 9]),
            counts([1, 0, 0, 0, 0]),
            counts([0, 0, 0, 0, 0]),
            counts([0, 5, 0, 0, 0]),
            counts([1, 2, 0, 0, 0]),
        ];
        // "desc", as the hosts list applies it.
        list.sort_by(|a, b| by_security(a, b).reverse());
        let worst: Vec<[u32; 5]> = list.iter().map(|c| c.security).collect();
        assert_eq!(
            worst,
            [
                [1, 2, 0, 0, 0],
                [1, 0, 0, 0, 0],
                [0, 5, 0, 0, 0],
                [0, 0, 0, 9, 9],
                [0, 0, 0, 0, 0]
            ]
        );
    }
}
