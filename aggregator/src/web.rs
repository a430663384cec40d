//! The web pages for administrators: overview, hosts (search, filters, sort,
//! pages) and host detail, and what the other pages share (`affected` has the
//! hosts affected by a package, an advisory or a CVE); every list also as CSV
//! and JSON. Server-rendered with minijinja (all
//! output escaped), no JavaScript, no external assets.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{context, Environment};
use pakiti_vulns::support::Phase;
use serde::Serialize;
use serde_json::Value;

use pakiti_httpserver::PeerCertificate;
use pakiti_report::Severity;
use pakiti_store::{HostSummary, Shared};

use crate::config::WebAccess;
use crate::read::is_stale;
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

/// Who is asking, as `[web] access` identified them (a request extension
/// the access check adds; none: access is open or closed).
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// The user name (basic, proxy) or certificate subject (cert).
    pub user: Option<String>,
    /// Listed in `[web] operators`: may record decisions.
    pub operator: bool,
}

/// Enforces `[web] access` on the pages and the hosts API, and tells the
/// handlers who is asking ([`Viewer`]). Wrong or missing credentials get
/// 401 and nothing else.
pub async fn access(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let denied = |status: StatusCode, msg: &str| (status, format!("{msg}\n")).into_response();
    let operators = &state.settings.operators;
    let viewer = match &*state.web_access {
        WebAccess::Open => Viewer::default(),
        WebAccess::Closed => {
            return denied(
                StatusCode::FORBIDDEN,
                "The web pages are closed: this aggregator listens beyond loopback and [web] access is not configured.",
            )
        }
        WebAccess::Basic(auth) => {
            let header = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let auth = auth.clone();
            let checked = header.clone();
            let ok = tokio::task::spawn_blocking(move || auth.check(checked.as_deref()))
                .await
                .unwrap_or(false);
            if !ok {
                let mut r = denied(StatusCode::UNAUTHORIZED, "Unauthorized");
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"pakiti\""));
                return r;
            }
            let user = pakiti_httpserver::BasicAuth::user_of(header.as_deref());
            Viewer {
                operator: user.as_ref().is_some_and(|u| operators.contains(u)),
                user,
            }
        }
        WebAccess::Cert(subjects) => {
            let cert = req.extensions().get::<Arc<PeerCertificate>>().cloned();
            match cert {
                Some(c) if subjects.iter().any(|s| c.subject_matches(s)) => Viewer {
                    operator: operators.iter().any(|o| c.subject_matches(o)),
                    user: Some(c.subject.clone()),
                },
                _ => return denied(StatusCode::UNAUTHORIZED, "Unauthorized"),
            }
        }
        WebAccess::Proxy { header, addresses } => {
            let from_proxy = req
                .extensions()
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .is_some_and(|ConnectInfo(a)| addresses.contains(&crate::config::canonical_ip(a.ip())));
            let user = req
                .headers()
                .get(header)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string);
            match user {
                Some(u) if from_proxy => Viewer {
                    operator: operators.contains(&u),
                    user: Some(u),
                },
                _ => return denied(StatusCode::UNAUTHORIZED, "Unauthorized"),
            }
        }
    };
    req.extensions_mut().insert(viewer);
    next.run(req).await
}

/// A time as pages show it: an age, with the exact time for hovering.
#[derive(Serialize)]
pub(crate) struct When {
    iso: String,
    /// "3 days ago", "just now".
    age: String,
    /// "2026-12-02 14:05:09 UTC", for hovering (the script adds local time).
    utc: String,
}

pub(crate) fn when(t: SystemTime, now: SystemTime) -> When {
    let iso = humantime::format_rfc3339_seconds(t).to_string();
    let age = match age(now.duration_since(t).unwrap_or_default()) {
        a if a == "just now" => a,
        a => format!("{a} ago"),
    };
    let utc = format!("{} UTC", iso.trim_end_matches('Z').replacen('T', " ", 1));
    When { iso, age, utc }
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

/// What a page may load: its own script (`/pages.js`) and nothing from
/// elsewhere; inline styles only. A name that slipped past escaping could
/// still not run.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
     img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub(crate) fn render(state: &AppState, name: &str, ctx: minijinja::Value) -> Response {
    match state.pages.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (
            [
                (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            Html(html),
        )
            .into_response(),
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

/// `/pages.js`: the pages' script (local times on hover).
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        include_str!("../templates/pages.js"),
    )
        .into_response()
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

pub(crate) async fn fleet(state: &AppState) -> Result<Arc<Vec<HostSummary>>, ApiError> {
    crate::read::all_hosts(state).await
}

pub(crate) fn os_of(h: &HostSummary) -> String {
    format!("{} {}", h.os_id, h.os_version).trim().to_string()
}

#[derive(Serialize)]
pub(crate) struct Row {
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

pub(crate) fn row(state: &AppState, h: &HostSummary, now: SystemTime) -> Row {
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
        /// Services running code an upgrade replaced.
        replaced_code: usize,
        /// With security fixes only a channel they are not entitled to
        /// offers (Ubuntu Pro's ESM when not attached).
        unentitled_security: usize,
        /// On a release whose standard security support has ended (in its
        /// extended programme, or past that).
        past_standard: usize,
        /// On a release nobody publishes security fixes for any more.
        unsupported: usize,
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
        t.replaced_code += usize::from(h.running.restart.is_some_and(|r| r.units > 0));
        t.unentitled_security += usize::from(h.unentitled.is_some_and(|u| u.security > 0));
        match support_phase(h, now) {
            Some(Phase::Ended) => {
                t.unsupported += 1;
                t.past_standard += 1;
            }
            Some(Phase::Extended(_)) => t.past_standard += 1,
            _ => {}
        }
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
    // What to fix first (attention_order), without sorting the whole fleet.
    let top = |h: &HostSummary| fixable(h).map_or(0, |(top, _)| top);
    let mut attention: Vec<&HostSummary> = hosts
        .iter()
        .filter(|h| h.security_pending_since.is_some() || top(h) > 0)
        .collect();
    let needing = attention.len();
    let first = |a: &&HostSummary, b: &&HostSummary| attention_order(a, b);
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
    // How fresh the picture is: the latest report any host sent.
    let newest = hosts
        .iter()
        .map(|h| h.last_report_at)
        .max()
        .map(|t| when(t, now));
    // Sites that downstream aggregators report by statistics only.
    let forwarded_sites = crate::read::site_statistics(&state)
        .await
        .map(|s| s.len())
        .unwrap_or(0);
    Ok(render(
        &state,
        "overview.html",
        context! { totals, sites, attention, needing, forwarded_sites, newest },
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

/// A host's open vulnerabilities with an installable fix: (critical and
/// important, all); `None` when no feed covers it.
pub(crate) fn fixable(h: &HostSummary) -> Option<(u32, u32)> {
    h.vulnerabilities
        .map(|v| (v.fixable[0] + v.fixable[1], v.fixable.iter().sum()))
}

/// What needs attention first, most urgent first: the most critical and
/// important vulnerabilities it can patch now, then its pending security
/// updates by their worst severity (one critical outranks any number of
/// important), then the longest-waiting security update; hosts with nothing
/// pending last. The overview's "Needs attention first" and the hosts list's
/// default order are this one order.
pub(crate) fn attention_order(a: &HostSummary, b: &HostSummary) -> std::cmp::Ordering {
    let key = |h: &HostSummary| {
        (
            std::cmp::Reverse(fixable(h).map_or(0, |(top, _)| top)),
            std::cmp::Reverse(h.counts.security),
            h.security_pending_since.is_none(),
            h.security_pending_since,
        )
    };
    key(a)
        .cmp(&key(b))
        .then_with(|| a.hostname.cmp(&b.hostname))
}

/// Where the host's release stands in its security support at `now`;
/// `None` for a release pakiti knows no window of.
pub(crate) fn support_phase(h: &HostSummary, now: SystemTime) -> Option<Phase> {
    pakiti_vulns::support::shipped()
        .find(&h.os_id, &h.os_version)
        .map(|w| w.phase(now))
}

pub(crate) fn iso(t: Option<SystemTime>) -> String {
    t.map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_default()
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
        // On a page: "ago", and the UTC time for hovering.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_684_309);
        let w = when(t, t + Duration::from_secs(7200));
        assert_eq!(
            (w.age.as_str(), w.utc.as_str(), w.iso.as_str()),
            (
                "2 hours ago",
                "2025-12-02 14:05:09 UTC",
                "2025-12-02T14:05:09Z"
            )
        );
        assert_eq!(when(t, t).age, "just now");
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
