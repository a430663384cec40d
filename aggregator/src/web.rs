//! The web pages for administrators: overview, hosts (search, filters, sort,
//! pages) and host detail, and what the other pages share (`affected` has the
//! hosts affected by a package, an advisory or a CVE); every list also as CSV
//! and JSON. Server-rendered with minijinja (all
//! output escaped), no JavaScript, no external assets.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{context, Environment};
use serde::Serialize;
use serde_json::{json, Value};

use pakiti_httpserver::PeerCertificate;
use pakiti_report::{Hostname, Severity};
use pakiti_store::{HistoryPoint, HostDetail, HostSummary, Shared, StoredUpdate};

use crate::config::WebAccess;
use crate::export::{self, csv};
use crate::read::{host_json, is_stale, update_json};
use crate::state::{ApiError, AppState};

/// The page templates, parsed once at start.
pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    // Debug builds (every test) refuse to print a value the page does not
    // have, so a misspelled name fails the tests instead of rendering empty;
    // a release build renders what it can.
    if cfg!(debug_assertions) {
        env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
    }
    env.add_filter("urlencode", |s: String| urlencode(&s));
    // `{{ n }} {{ n|pl("host") }}`: "1 host", "2 hosts" (an irregular plural
    // as a second argument).
    env.add_filter("pl", |n: i64, one: String, many: Option<String>| {
        if n == 1 {
            one
        } else {
            many.unwrap_or_else(|| format!("{one}s"))
        }
    });
    for (name, src) in [
        ("base.html", include_str!("../templates/base.html")),
        ("macros.html", include_str!("../templates/macros.html")),
        ("overview.html", include_str!("../templates/overview.html")),
        ("hosts.html", include_str!("../templates/hosts.html")),
        ("host.html", include_str!("../templates/host.html")),
        ("affected.html", include_str!("../templates/affected.html")),
        ("message.html", include_str!("../templates/message.html")),
        ("sites.html", include_str!("../templates/sites.html")),
        (
            "vulnerabilities.html",
            include_str!("../templates/vulnerabilities.html"),
        ),
        (
            "vulnerability.html",
            include_str!("../templates/vulnerability.html"),
        ),
    ] {
        // The templates are part of the program; a broken one is a bug caught by every test.
        env.add_template(name, src)
            .expect("built-in template parses");
    }
    env
}

/// Enforces `[web] access` on the pages and the hosts API. Wrong or missing
/// credentials get 401 and nothing else.
pub async fn access(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let denied = |status: StatusCode, msg: &str| (status, format!("{msg}\n")).into_response();
    match &*state.web_access {
        WebAccess::Open => next.run(req).await,
        WebAccess::Closed => denied(
            StatusCode::FORBIDDEN,
            "The web pages are closed: this aggregator listens beyond loopback and [web] access is not configured.",
        ),
        WebAccess::Basic(auth) => {
            let header = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let auth = auth.clone();
            let ok = tokio::task::spawn_blocking(move || auth.check(header.as_deref()))
                .await
                .unwrap_or(false);
            if ok {
                next.run(req).await
            } else {
                let mut r = denied(StatusCode::UNAUTHORIZED, "Unauthorized");
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"pakiti\""));
                r
            }
        }
        WebAccess::Cert(subjects) => {
            let ok = req
                .extensions()
                .get::<Arc<PeerCertificate>>()
                .is_some_and(|c| subjects.iter().any(|s| c.subject_matches(s)));
            if ok {
                next.run(req).await
            } else {
                denied(StatusCode::UNAUTHORIZED, "Unauthorized")
            }
        }
        WebAccess::Proxy { header, addresses } => {
            let from_proxy = req
                .extensions()
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .is_some_and(|ConnectInfo(a)| addresses.contains(&crate::config::canonical_ip(a.ip())));
            let user = req.headers().get(header).and_then(|v| v.to_str().ok()).is_some_and(|u| !u.trim().is_empty());
            if from_proxy && user {
                next.run(req).await
            } else {
                denied(StatusCode::UNAUTHORIZED, "Unauthorized")
            }
        }
    }
}

/// A time as pages show it: an age, with the exact time for hovering.
#[derive(Serialize)]
pub(crate) struct When {
    iso: String,
    age: String,
}

pub(crate) fn when(t: SystemTime, now: SystemTime) -> When {
    When {
        iso: humantime::format_rfc3339_seconds(t).to_string(),
        age: age(now.duration_since(t).unwrap_or_default()),
    }
}

/// "3 days", "5 hours", "12 minutes", "just now".
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = match s {
        0..60 => return "just now".into(),
        60..3600 => (s / 60, "minute"),
        3600..86400 => (s / 3600, "hour"),
        _ => (s / 86400, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

pub(crate) fn render(state: &AppState, name: &str, ctx: minijinja::Value) -> Response {
    match state.pages.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "rendering a page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered\n",
            )
                .into_response()
        }
    }
}

pub(crate) fn message(state: &AppState, status: StatusCode, title: &str, msg: &str) -> Response {
    let mut r = render(state, "message.html", context! { title, message => msg });
    *r.status_mut() = status;
    r
}

/// Whether `path` is one of the pages people read (not the JSON API, the
/// machine routes or the probes).
fn is_page(path: &str) -> bool {
    !["/api/", "/federate", "/metrics", "/-/"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// People get pages, programs JSON: an error that a page answered in JSON
/// (a bad parameter, an unknown route, a store that does not answer)
/// becomes an HTML page with the same status and message, unless the request
/// asked for JSON (`format=json`). `/api/` and the machine routes keep JSON.
pub async fn html_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let wants_json = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "format=json"));
    let page = is_page(req.uri().path()) && !wants_json;
    let resp = next.run(req).await;
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let status = resp.status();
    if !page || !json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let body = axum::body::to_bytes(resp.into_body(), 64 << 10)
        .await
        .unwrap_or_default();
    let text = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default();
    let title = status.canonical_reason().unwrap_or("Error");
    message(&state, status, title, &text)
}

/// A route that does not exist: 404 (a page for people, by `html_errors`).
pub async fn not_found(uri: axum::http::Uri) -> Response {
    crate::state::error(
        StatusCode::NOT_FOUND,
        format!(
            "{} is not a page or an endpoint of this aggregator",
            uri.path()
        ),
    )
    .into_response()
}

async fn fleet(state: &AppState) -> Result<Arc<Vec<HostSummary>>, ApiError> {
    crate::read::all_hosts(state).await
}

fn os_of(h: &HostSummary) -> String {
    format!("{} {}", h.os_id, h.os_version).trim().to_string()
}

#[derive(Serialize)]
struct Row {
    hostname: String,
    site: String,
    os: String,
    pending: u32,
    security_total: u32,
    sev: [u32; 5],
    critical: u32,
    important: u32,
    security_since: Option<When>,
    reboot: bool,
    last_report: Option<When>,
    stale: bool,
    /// Open vulnerabilities whose fix the host can install now: critical
    /// and important, and all; `None`: no loaded feed covers it (unknown).
    vulns: Option<(u32, u32)>,
}

fn row(state: &AppState, h: &HostSummary, now: SystemTime) -> Row {
    Row {
        hostname: h.hostname.clone(),
        site: h.site.as_deref().unwrap_or_default().to_string(),
        os: os_of(h),
        pending: h.counts.pending,
        security_total: h.counts.security_total(),
        sev: h.counts.security,
        critical: h.counts.security(Severity::Critical),
        important: h.counts.security(Severity::Important),
        security_since: h.security_pending_since.map(|t| when(t, now)),
        reboot: h.counts.reboot_required,
        last_report: Some(when(h.last_report_at, now)),
        stale: is_stale(state, h, now),
        vulns: fixable(h),
    }
}

pub async fn overview(State(state): State<AppState>) -> Result<Response, ApiError> {
    let hosts = fleet(&state).await?;
    let now = SystemTime::now();
    #[derive(Serialize, Default)]
    struct Tally {
        site: Option<Shared>,
        hosts: usize,
        security: usize,
        critical_important: usize,
        reboot: usize,
        stale: usize,
        pending: u64,
        /// Exposed to a critical or important vulnerability whose fix the
        /// host's own repositories offer.
        fixable_ci: usize,
        /// No loaded feed covers them: unknown, not clean.
        vulns_unknown: usize,
    }
    let add = |t: &mut Tally, h: &HostSummary, stale: bool| {
        t.fixable_ci += usize::from(fixable(h).is_some_and(|(ci, _)| ci > 0));
        t.vulns_unknown += usize::from(h.vulnerabilities.is_none());
        t.hosts += 1;
        t.security += usize::from(h.counts.security_total() > 0);
        t.critical_important += usize::from(
            h.counts.security(Severity::Critical) + h.counts.security(Severity::Important) > 0,
        );
        t.reboot += usize::from(h.counts.reboot_required);
        t.stale += usize::from(stale);
        t.pending += u64::from(h.counts.pending);
    };
    let mut totals = Tally::default();
    let mut sites: BTreeMap<Option<Shared>, Tally> = BTreeMap::new();
    for h in hosts.iter() {
        let stale = is_stale(&state, h, now);
        add(&mut totals, h, stale);
        // A site's name is cloned once, not per host.
        let t = match sites.get_mut(&h.site) {
            Some(t) => t,
            None => sites.entry(h.site.clone()).or_insert_with(|| Tally {
                site: h.site.clone(),
                ..Tally::default()
            }),
        };
        add(t, h, stale);
    }
    // What to fix first: hosts that can patch the most critical and
    // important vulnerabilities now, then the oldest pending security update.
    let top = |h: &HostSummary| fixable(h).map_or(0, |(top, _)| top);
    let mut attention: Vec<&HostSummary> = hosts
        .iter()
        .filter(|h| h.security_pending_since.is_some() || top(h) > 0)
        .collect();
    let first = |a: &&HostSummary, b: &&HostSummary| {
        let key = |h: &HostSummary| {
            (
                std::cmp::Reverse(top(h)),
                h.security_pending_since.is_none(),
                h.security_pending_since,
            )
        };
        key(a)
            .cmp(&key(b))
            .then_with(|| a.hostname.cmp(&b.hostname))
    };
    // The first 20 of the fleet, without sorting all of it.
    if attention.len() > 20 {
        attention.select_nth_unstable_by(19, first);
        attention.truncate(20);
    }
    attention.sort_by(first);
    let attention: Vec<Row> = attention
        .iter()
        .take(20)
        .map(|h| row(&state, h, now))
        .collect();
    let sites: Vec<Tally> = sites.into_values().collect();
    // Sites that downstream aggregators report by statistics only.
    let forwarded_sites = crate::read::site_statistics(&state)
        .await
        .map(|s| s.len())
        .unwrap_or(0);
    Ok(render(
        &state,
        "overview.html",
        context! { totals, sites, attention, forwarded_sites },
    ))
}

/// `/sites`: the statistics downstream servers forward (`send = "stats"`),
/// one row per site and server, with when they last arrived.
pub async fn sites(State(state): State<AppState>) -> Result<Response, ApiError> {
    let stats = crate::read::site_statistics(&state).await?;
    let now = SystemTime::now();
    #[derive(Serialize)]
    struct SiteRow {
        site: String,
        server: String,
        hosts: u32,
        pending: u32,
        security: [u32; 5],
        hosts_security: [u32; 5],
        reboot: u32,
        stale: u32,
        updates_pending: u32,
        oldest_security: Option<When>,
        received: When,
        late: bool,
    }
    let rows: Vec<SiteRow> = stats
        .iter()
        .map(|s| {
            let st = &s.stats;
            SiteRow {
                site: st.site.clone(),
                server: s.server.clone(),
                hosts: st.hosts,
                pending: st.hosts_pending,
                security: st.security_updates,
                hosts_security: st.hosts_security,
                reboot: st.hosts_reboot,
                stale: st.hosts_stale,
                updates_pending: st.updates_pending,
                oldest_security: st.oldest_security_since.map(|t| when(t, now)),
                received: when(s.received_at, now),
                late: now.duration_since(s.received_at).unwrap_or_default()
                    > state.settings.stale_after,
            }
        })
        .collect();
    Ok(render(&state, "sites.html", context! { rows }))
}

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
        one_of("sort", &self.sort, &SORTS.map(|s| s.0))?;
        one_of("order", &self.order, &["asc", "desc"])?;
        one_of("format", &self.format, &["html", "csv", "json"])?;
        if self.sort.is_empty() {
            self.sort = "since".into();
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

/// Names read A to Z first; counts and times most urgent first.
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

pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
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

/// A host's open vulnerabilities with an installable fix: (critical and
/// important, all); `None` when no feed covers it.
fn fixable(h: &HostSummary) -> Option<(u32, u32)> {
    h.vulnerabilities
        .map(|v| (v.fixable[0] + v.fixable[1], v.fixable.iter().sum()))
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
            _ => std::cmp::Ordering::Equal,
        };
        let o = if f.order == "desc" { o.reverse() } else { o };
        o.then_with(|| a.hostname.cmp(&b.hostname))
    });
}

pub(crate) fn iso(t: Option<SystemTime>) -> String {
    t.map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_default()
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
        context! { f, rows, total, page, pages, prev, next, columns, site_options, os_options, export_csv, export_json },
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
}

/// The hosts list's columns, each linking to the list sorted by it.
fn sort_columns(f: &HostQuery) -> Vec<Column> {
    SORTS
        .iter()
        .map(|(key, label, num)| Column {
            label,
            sorted: f.sort == *key,
            num: *num,
            href: f.url(|q| {
                q.order = next_order(&q.sort, &q.order, key).into();
                q.sort = key.to_string();
                q.page = None;
            }),
        })
        .collect()
}

/// The host's history as an SVG chart of pending and security counts.
fn chart(points: &[HistoryPoint], now: SystemTime) -> String {
    if points.is_empty() {
        return "<p class=\"muted\">No history yet.</p>".into();
    }
    let (w, h, pad) = (900.0, 220.0, 40.0);
    let start = points[0].at;
    let span = now
        .duration_since(start)
        .unwrap_or_default()
        .as_secs_f64()
        .max(60.0);
    let max = points
        .iter()
        .map(|p| p.counts.pending)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let x = |t: SystemTime| {
        pad + (w - 2.0 * pad) * t.duration_since(start).unwrap_or_default().as_secs_f64() / span
    };
    let y = |v: u32| h - pad - (h - 2.0 * pad) * f64::from(v) / max;
    let line = |value: &dyn Fn(&HistoryPoint) -> u32| {
        let mut d = String::new();
        for (i, p) in points.iter().enumerate() {
            if i > 0 {
                let _ = write!(d, " L{:.1},{:.1}", x(p.at), y(value(&points[i - 1])));
            }
            let _ = write!(
                d,
                " {}{:.1},{:.1}",
                if i == 0 { "M" } else { "L" },
                x(p.at),
                y(value(p))
            );
        }
        let last = points.last().map(value).unwrap_or(0);
        let _ = write!(d, " L{:.1},{:.1}", x(now), y(last));
        d
    };
    let pending = line(&|p| p.counts.pending);
    let security = line(&|p| p.counts.security_total());
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"chart-title\"><title id=\"chart-title\">Pending (blue) and security (red) updates since {since}</title>\
         <line x1=\"{pad}\" y1=\"{yb}\" x2=\"{xr}\" y2=\"{yb}\" stroke=\"#999\"/><line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{yb}\" stroke=\"#999\"/>\
         <text x=\"4\" y=\"{ty}\" font-size=\"12\">{max}</text><text x=\"4\" y=\"{yb}\" font-size=\"12\">0</text>\
         <text x=\"{pad}\" y=\"{lb}\" font-size=\"12\">{since}</text><text x=\"{xr}\" y=\"{lb}\" font-size=\"12\" text-anchor=\"end\">now</text>\
         <path d=\"{pending}\" fill=\"none\" stroke=\"#0b57d0\" stroke-width=\"2\"/><path d=\"{security}\" fill=\"none\" stroke=\"#a50e0e\" stroke-width=\"2\"/>\
         <text x=\"{xr}\" y=\"14\" font-size=\"12\" text-anchor=\"end\" fill=\"#0b57d0\">pending</text><text x=\"{xr}\" y=\"28\" font-size=\"12\" text-anchor=\"end\" fill=\"#a50e0e\">security</text></svg>",
        since = humantime::format_rfc3339_seconds(start),
        yb = h - pad,
        xr = w - pad,
        ty = pad + 4.0,
        lb = h - pad + 16.0,
        max = max as u32,
    )
}

#[derive(Serialize)]
struct UpdateRow {
    name: String,
    arch: String,
    installed: String,
    candidate: String,
    severity: &'static str,
    advisories: Vec<String>,
    cves: Vec<String>,
    first_seen: When,
    held: Option<&'static str>,
}

fn update_row(u: &StoredUpdate, now: SystemTime) -> UpdateRow {
    UpdateRow {
        name: u.name.clone(),
        arch: u.arch.clone(),
        installed: u.installed_version.clone(),
        candidate: u.candidate_version.clone(),
        severity: u.security.map_or("none", Severity::as_str),
        advisories: u.advisories.clone(),
        cves: u.cves.clone(),
        first_seen: when(u.first_seen, now),
        held: u.held.map(|h| h.as_str()),
    }
}

/// A host page: its format, and its site where several sites have a host of that name.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostPageQuery {
    format: String,
    site: Option<String>,
    /// Installed packages whose name or source package holds this text.
    q: Option<String>,
}

pub async fn host(
    State(state): State<AppState>,
    Path(hostname): Path<String>,
    q: QueryResult<HostPageQuery>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let Ok(name) = Hostname::parse(&hostname) else {
        return Ok(message(
            &state,
            StatusCode::BAD_REQUEST,
            "Not a host name",
            "That is not a valid host name.",
        ));
    };
    let d = match crate::read::find_host(&state, &name, q.site.clone()).await {
        Ok(d) => d,
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return Ok(message(
                &state,
                e.status,
                "Unknown host",
                &format!("{}.", e.message),
            ))
        }
        Err(e) if e.status == StatusCode::CONFLICT => {
            return choose_site(&state, &name, e.status).await
        }
        Err(e) => return Err(e),
    };
    let now = SystemTime::now();
    match q.format.as_str() {
        "csv" => return Ok(host_csv(&d)),
        "json" => {
            let mut v = host_json(&state, &d.summary, now);
            v["updates"] = d.updates.iter().map(update_json).collect();
            crate::packages::add_inventory(&mut v, &d);
            return Ok(axum::Json(v).into_response());
        }
        "" | "html" => {}
        other => {
            return Err(crate::state::error(
                StatusCode::BAD_REQUEST,
                format!("format={other:?}: expected html, csv or json"),
            ))
        }
    }
    let h = host_context(&state, &d.summary, now);
    let updates: Vec<UpdateRow> = d.updates.iter().map(|u| update_row(u, now)).collect();
    let search = q.q.clone().unwrap_or_default();
    let installed = installed_rows(&d, &search.to_lowercase());
    let changes = change_rows(&d, now);
    let v = crate::vulnerabilities::of(&state, &d).await?;
    let vulnerabilities = vulnerabilities_context(&v, &d);
    Ok(render(
        &state,
        "host.html",
        context! {
            h,
            updates,
            vulnerabilities,
            chart => chart(&d.history, now),
            installed,
            installed_total => d.installed.as_ref().map(Vec::len),
            search,
            changes,
            kernel_package => d.platform.running_kernel.as_ref().map(|k| format!("{} {}", k.package, k.version)),
        },
    ))
}

/// The host's facts as the host page shows them.
fn host_context(state: &AppState, s: &HostSummary, now: SystemTime) -> minijinja::Value {
    context! {
        hostname => s.hostname,
        site => s.site.clone().unwrap_or_default(),
        os => os_of(s),
        os_name => s.os_name.as_deref().map_or_else(|| os_of(s), str::to_string),
        kernel => s.kernel,
        arch => s.arch,
        manager => s.manager,
        machine_id => s.machine_id.clone().unwrap_or_default(),
        source => s.source,
        forwarded_by => s.forwarded_by,
        pending => s.counts.pending,
        security_total => s.counts.security_total(),
        held => s.counts.held,
        reboot => s.counts.reboot_required,
        reboot_packages => s.reboot_packages,
        last_report => when(s.last_report_at, now),
        collected => when(s.collected_at, now),
        duration => format!("{:.1} s", s.collection_duration.as_secs_f64()),
        metadata => s.metadata_updated_at.map(|t| when(t, now)),
        security_metadata => s.security_metadata_available,
        exporter => format!("{} ({})", s.exporter_version, s.exporter_revision),
        first_seen => when(s.first_seen, now),
        stale => is_stale(state, s, now),
    }
}

/// The installed packages whose name or source contains `needle`
/// (lowercase); `None`: the host sends no inventory.
fn installed_rows(d: &HostDetail, needle: &str) -> Option<Vec<Value>> {
    d.installed.as_ref().map(|list| {
        list.iter()
            .filter(|p| {
                needle.is_empty()
                    || p.name.to_lowercase().contains(needle)
                    || p.source_name.to_lowercase().contains(needle)
            })
            .map(crate::packages::installed_json)
            .collect()
    })
}

/// The host's installed-version changes, newest as stored.
fn change_rows(d: &HostDetail, now: SystemTime) -> Vec<Value> {
    d.installed_changes
        .iter()
        .map(|c| {
            json!({
                "at": when(c.at, now),
                "name": c.name,
                "arch": c.arch,
                "old": c.old_version,
                "new": c.new_version,
            })
        })
        .collect()
}

/// The host page's Vulnerabilities section.
fn vulnerabilities_context(
    v: &crate::vulnerabilities::HostVulnerabilities,
    d: &HostDetail,
) -> minijinja::Value {
    context! {
        covered => v.coverage.is_ok(),
        release => v.coverage.as_ref().ok(),
        reason => v.coverage.as_ref().err(),
        counted => v.findings.iter().filter(|f| f.kernel != pakiti_vulns::KernelRole::NotRunning).count(),
        fixable => v.findings.iter().filter(|f| f.fix_available).count(),
        rows => v.rows(),
        // A constant of the program: the id is appended, URL-encoded.
        tracker => crate::vulnerabilities::vendor_url(&d.summary.os_id, ""),
    }
}

/// The page for a host name several sites share: one link per site.
async fn choose_site(
    state: &AppState,
    name: &Hostname,
    status: StatusCode,
) -> Result<Response, ApiError> {
    // One link per site that has a host of that name.
    let fleet = fleet(state).await?;
    let links: Vec<Value> = fleet
        .iter()
        .filter(|h| h.hostname == name.as_str())
        .filter_map(|h| h.site.as_deref())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|site| json!({ "host": name.as_str(), "site": site }))
        .collect();
    let mut r = render(
        state,
        "message.html",
        context! { title => "Several hosts of that name", message => "Hosts of this name report from several sites; choose one:", links },
    );
    *r.status_mut() = status;
    Ok(r)
}

/// A host's pending updates as CSV.
fn host_csv(d: &HostDetail) -> Response {
    csv(
        &[
            "package",
            "arch",
            "installed",
            "candidate",
            "security",
            "severity",
            "held",
            "advisories",
            "cves",
            "first_seen",
            "candidate_first_seen",
            "security_first_seen",
        ],
        d.updates.iter().map(|u| {
            vec![
                u.name.clone(),
                u.arch.clone(),
                u.installed_version.clone(),
                u.candidate_version.clone(),
                u.security.is_some().to_string(),
                u.security.map_or("none", Severity::as_str).to_string(),
                u.held.map_or("", |h| h.as_str()).to_string(),
                u.advisories.join(" "),
                u.cves.join(" "),
                iso(Some(u.first_seen)),
                iso(Some(u.candidate_first_seen)),
                iso(u.security_first_seen),
            ]
        }),
        &format!("{}.csv", d.summary.hostname),
    )
}

pub(crate) type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// The query string, or a JSON 400 saying what is wrong with it.
pub(crate) fn query<T>(q: QueryResult<T>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| crate::state::error(StatusCode::BAD_REQUEST, e.body_text()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_people_speak() {
        assert_eq!(age(Duration::from_secs(5)), "just now");
        assert_eq!(age(Duration::from_secs(60)), "1 minute");
        assert_eq!(age(Duration::from_secs(7200)), "2 hours");
        assert_eq!(age(Duration::from_secs(3 * 86400 + 5)), "3 days");
    }

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

    #[test]
    fn mapped_ipv4_peers_are_their_ipv4_address() {
        use crate::config::canonical_ip;
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(canonical_ip(ip("::ffff:10.0.0.5")), ip("10.0.0.5"));
        assert_eq!(canonical_ip(ip("10.0.0.5")), ip("10.0.0.5"));
        assert_eq!(canonical_ip(ip("::1")), ip("::1"));
        assert_eq!(canonical_ip(ip("2001:db8::1")), ip("2001:db8::1"));
    }
}
