//! The fleet's vulnerabilities, from the stored findings (see `rematch.rs`):
//! `/api/v1/vulnerabilities` and `/vulnerabilities` (each vulnerability
//! some host is exposed to, what to fix first on top), and
//! `/api/v1/vulnerabilities/{id}` and `/vulnerabilities/{id}` (every host
//! exposed, with its status, and the hosts no longer exposed). Pages export
//! as CSV and JSON.
//!
//! What to fix first (`pakiti_decisions::priority`): KEV-listed, then by
//! severity with a fix hosts can install now before one without, then EPSS,
//! then the longest exposed. Each carries its KEV and EPSS, its tags and
//! the exceptions in force (see `decisions.rs`); hosts whose findings of it
//! exceptions cover leave its `hosts` count (`excepted_hosts`).

use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use minijinja::context;
use serde_json::{json, Value};

use pakiti_report::Severity;
use pakiti_store::{ExposedHost, ExposedKey, ExposedPage, FleetVulnerability};

use crate::decisions::Annotation;
use crate::export::{self, csv, Stop};
use crate::state::{error, ApiError, AppState};
use crate::vulnerabilities::{finding_json, fleet_url};
use crate::web::{iso, message, query, render, when, QueryResult};

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListQuery {
    format: String,
    /// Only vulnerabilities of this severity.
    severity: String,
    /// `available`: only those some host can install the fix of now;
    /// `unavailable`: only those no host can.
    fix: String,
    /// Only those with this tag.
    tag: String,
    /// `1`: only KEV-listed ones.
    kev: String,
}

impl ListQuery {
    fn check(&self) -> Result<(), ApiError> {
        let bad = |name: &str, v: &str, expected: &str| {
            Err(error(
                StatusCode::BAD_REQUEST,
                format!("{name}={v:?}: expected {expected}"),
            ))
        };
        if !matches!(self.format.as_str(), "" | "html" | "csv" | "json") {
            return bad("format", &self.format, "html, csv or json");
        }
        if !self.severity.is_empty() && self.severity.parse::<Severity>().is_err() {
            return bad(
                "severity",
                &self.severity,
                "critical, important, moderate, low or unknown",
            );
        }
        if !matches!(self.fix.as_str(), "" | "available" | "unavailable") {
            return bad("fix", &self.fix, "available or unavailable");
        }
        if !self.tag.is_empty() && pakiti_decisions::file::check_tag_name(&self.tag).is_err() {
            return bad("tag", &self.tag, "a tag name");
        }
        if !matches!(self.kev.as_str(), "" | "1" | "0") {
            return bad("kev", &self.kev, "1 or 0");
        }
        Ok(())
    }

    fn keeps(&self, v: &FleetVulnerability) -> bool {
        (self.severity.is_empty() || v.severity.as_str() == self.severity)
            && match self.fix.as_str() {
                "available" => v.fixable_hosts > 0,
                "unavailable" => v.fixable_hosts == 0,
                _ => true,
            }
    }
}

/// A vulnerability of the fleet, with what is known and decided of it.
struct Listed {
    v: FleetVulnerability,
    ann: Annotation,
    /// Hosts whose every open finding of it an exception covers.
    excepted_hosts: u64,
    /// Of those, the hosts that could install a fix now.
    excepted_fixable: u64,
}

impl Listed {
    fn rank(&self) -> pakiti_decisions::priority::Rank<'_> {
        pakiti_decisions::priority::Rank {
            id: &self.v.id,
            kev: self.ann.kev(),
            severity: self.v.severity,
            fixable: self.open_fixable() > 0,
            epss: self.ann.epss(),
            first_seen: self.v.first_seen,
        }
    }

    /// Exposed hosts no exception covers.
    fn open_hosts(&self) -> u64 {
        self.v.hosts.saturating_sub(self.excepted_hosts)
    }

    /// Of those, the hosts that can install a fix now.
    fn open_fixable(&self) -> u64 {
        self.v.fixable_hosts.saturating_sub(self.excepted_fixable)
    }
}

fn vulnerability_json(l: &Listed) -> Value {
    let v = &l.v;
    let mut j = json!({
        "id": v.id,
        "url": fleet_url(&v.id),
        "severity": v.severity.as_str(),
        "hosts": l.open_hosts(),
        "excepted_hosts": l.excepted_hosts,
        "fixable_hosts": l.open_fixable(),
        "source_packages": v.source_packages,
        "first_seen": iso(Some(v.first_seen)),
    });
    l.ann.fill(&mut j, None);
    j["deadline"] = l.ann.kev_due().map(|d| iso(Some(d.end()))).into();
    j
}

async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&dyn pakiti_store::Store) -> Result<T, pakiti_store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || f(&*store))
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

async fn list(state: &AppState, q: &ListQuery) -> Result<Vec<Listed>, ApiError> {
    q.check()?;
    let store = state.store.clone();
    let kept: Vec<FleetVulnerability> = state
        .fleet_list
        .get(store)
        .await
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
        .iter()
        .filter(|v| q.keeps(v))
        .cloned()
        .collect();
    let hosts = crate::read::all_hosts(state).await?;
    let book = state.decisions.clone();
    let (kept, mut ann, excepted) = blocking(state, move |s| {
        let now = crate::decisions::now();
        let ids: Vec<String> = kept.iter().map(|v| v.id.clone()).collect();
        let loaded = crate::decisions::effective(s, &book)?;
        let a = crate::decisions::annotations(s, &loaded, &ids, now)?;
        let e = crate::excepted::excepted(s, &loaded, &hosts, now)?;
        Ok((kept, a, e))
    })
    .await?;
    let mut all: Vec<Listed> = kept
        .into_iter()
        .map(|v| Listed {
            excepted_hosts: excepted.hosts.get(&v.id).copied().unwrap_or(0),
            excepted_fixable: excepted.fixable_hosts.get(&v.id).copied().unwrap_or(0),
            ann: ann.remove(&v.id).unwrap_or_default(),
            v,
        })
        .filter(|l| q.tag.is_empty() || l.ann.tags.iter().any(|t| t.name == q.tag))
        .filter(|l| match q.kev.as_str() {
            "1" => l.ann.kev(),
            "0" => !l.ann.kev(),
            _ => true,
        })
        .collect();
    all.sort_by(|a, b| pakiti_decisions::priority::fix_first(&a.rank(), &b.rank()));
    Ok(all)
}

/// How many hosts a loaded feed covers (matched), and how many it does not.
fn coverage(hosts: &[pakiti_store::HostSummary]) -> (usize, usize) {
    let covered = hosts.iter().filter(|h| h.vulnerabilities.is_some()).count();
    (covered, hosts.len() - covered)
}

pub(crate) async fn api_list(
    State(state): State<AppState>,
    q: QueryResult<ListQuery>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let all = list(&state, &q).await?;
    let hosts = crate::read::all_hosts(&state).await?;
    let (covered, unknown) = coverage(&hosts);
    Ok(Json(json!({
        "total": all.len(),
        "hosts_covered": covered,
        "hosts_unknown": unknown,
        "vulnerabilities": all.iter().map(vulnerability_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

pub(crate) async fn page_list(
    State(state): State<AppState>,
    q: QueryResult<ListQuery>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let all = list(&state, &q).await?;
    match q.format.as_str() {
        "json" => {
            return Ok(Json(all.iter().map(vulnerability_json).collect::<Vec<_>>()).into_response())
        }
        "csv" => {
            return Ok(csv(
                &[
                    "id",
                    "severity",
                    "kev",
                    "epss",
                    "tags",
                    "hosts",
                    "excepted_hosts",
                    "fixable_hosts",
                    "source_packages",
                    "first_seen",
                ],
                all.iter().map(|l| {
                    let v = &l.v;
                    vec![
                        v.id.clone(),
                        v.severity.as_str().to_string(),
                        l.ann.kev().to_string(),
                        l.ann.epss().map(|e| e.to_string()).unwrap_or_default(),
                        l.ann
                            .tags
                            .iter()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                        l.open_hosts().to_string(),
                        l.excepted_hosts.to_string(),
                        l.open_fixable().to_string(),
                        v.source_packages.join(" "),
                        iso(Some(v.first_seen)),
                    ]
                }),
                "vulnerabilities.csv",
            ))
        }
        _ => {}
    }
    let hosts = crate::read::all_hosts(&state).await?;
    let (covered, unknown) = coverage(&hosts);
    let now = SystemTime::now();
    let rows: Vec<Value> = all
        .iter()
        .map(|l| {
            let mut j = vulnerability_json(l);
            j["since"] = serde_json::to_value(when(l.v.first_seen, now)).unwrap_or(Value::Null);
            j
        })
        .collect();
    let export = |format: &str| {
        let mut parts = vec![format!("format={format}")];
        if !q.severity.is_empty() {
            parts.push(format!("severity={}", q.severity));
        }
        if !q.fix.is_empty() {
            parts.push(format!("fix={}", q.fix));
        }
        if !q.tag.is_empty() {
            parts.push(format!("tag={}", q.tag));
        }
        if !q.kev.is_empty() {
            parts.push(format!("kev={}", q.kev));
        }
        format!("?{}", parts.join("&"))
    };
    Ok(render(
        &state,
        "vulnerabilities.html",
        context! {
            rows,
            covered,
            unknown,
            severity => q.severity,
            fix => q.fix,
            tag => q.tag,
            kev => q.kev,
            severities => Severity::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            export_csv => export("csv"),
            export_json => export("json"),
        },
    ))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OneQuery {
    format: String,
    /// The rows after this one (a cursor as `next` gives it).
    after: Option<String>,
    /// Rows per answer (the API: default 1000, at most 10000).
    limit: Option<usize>,
}

/// Rows of a page of one vulnerability's hosts.
const PAGE_ROWS: usize = 200;
/// The API's rows per answer: by default, and at most.
const API_ROWS: (usize, usize) = (1000, 10_000);
/// Resolved findings shown (the latest).
const RESOLVED_SHOWN: usize = 200;

fn exposed_json(e: &ExposedHost, exception: Option<&pakiti_decisions::Exception>) -> Value {
    let mut v = finding_json(&e.finding.finding);
    v["exception"] = exception.map(crate::decisions::exception_json).into();
    v["hostname"] = e.hostname.clone().into();
    v["site"] = e.site.clone().into();
    v["first_seen"] = iso(Some(e.finding.first_seen)).into();
    v["resolved_at"] = e.finding.resolved_at.map(|t| iso(Some(t))).into();
    v
}

/// A row's cursor: its key's fields, separated by spaces (none holds one;
/// no site is an empty field).
fn cursor(e: &ExposedHost) -> String {
    let (h, s, p, a) = e.key();
    format!("{h} {s} {p} {a}")
}

fn parse_cursor(c: &str) -> Result<ExposedKey, ApiError> {
    match c.split(' ').collect::<Vec<_>>().as_slice() {
        [h, s, p, a] if !h.is_empty() && !p.is_empty() && !a.is_empty() => {
            Ok((h.to_string(), s.to_string(), p.to_string(), a.to_string()))
        }
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            format!("after={c:?} is not a cursor this page gave"),
        )),
    }
}

/// One page of the hosts exposed to `id`, and (on the first page) the
/// latest resolved ones.
struct One {
    page: ExposedPage,
    /// For each open row, the exception covering it.
    covering: Vec<Option<pakiti_decisions::Exception>>,
    ann: Annotation,
    resolved: Vec<ExposedHost>,
    /// The cursor of the next page, when there are more rows.
    next: Option<String>,
}

async fn exposed(
    state: &AppState,
    id: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<One, ApiError> {
    if pakiti_report::check_token("vulnerability", id).is_err() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "that id holds characters no CVE or advisory id has",
        ));
    }
    let after = after.map(parse_cursor).transpose()?;
    let key = id.to_string();
    let first = after.is_none();
    let (page, resolved) = blocking(state, move |s| {
        // One row more than asked: whether a next page exists.
        let mut page = s.exposed_hosts(&key, after.as_ref(), limit + 1)?;
        let resolved = if first {
            s.resolved_hosts(&key, RESOLVED_SHOWN)?
        } else {
            Vec::new()
        };
        page.rows.truncate(limit + 1);
        Ok((page, resolved))
    })
    .await?;
    let mut page = page;
    let next = (page.rows.len() > limit).then(|| {
        page.rows.truncate(limit);
        page.rows.last().map(cursor).unwrap_or_default()
    });
    let hosts = crate::read::all_hosts(state).await?;
    let (book, vid) = (state.decisions.clone(), id.to_string());
    let (page, covering, ann) = blocking(state, move |s| {
        let now = crate::decisions::now();
        let loaded = crate::decisions::effective(s, &book)?;
        let mut ann = crate::decisions::annotations(s, &loaded, std::slice::from_ref(&vid), now)?
            .remove(&vid)
            .unwrap_or_default();
        let by_name: std::collections::HashMap<(&str, &str), &pakiti_store::HostSummary> = hosts
            .iter()
            .map(|h| ((h.hostname.as_str(), h.site.as_deref().unwrap_or("")), h))
            .collect();
        let covering = page
            .rows
            .iter()
            .map(|row| {
                let h = by_name.get(&(row.hostname.as_str(), row.site.as_deref().unwrap_or("")))?;
                let (chain, scheme) = crate::excepted::host_releases(h);
                let t = crate::excepted::target(h, &chain, scheme, &row.finding.finding);
                pakiti_decisions::exception::covering(&ann.exceptions, &t, now).cloned()
            })
            .collect();
        ann.exceptions.sort_by_key(|e| e.scope.describe());
        Ok((page, covering, ann))
    })
    .await?;
    Ok(One {
        page,
        covering,
        ann,
        resolved,
        next,
    })
}

fn one_json(id: &str, one: &One, next_url: Option<String>) -> Value {
    let severity = pakiti_vulns::worst(
        one.page
            .rows
            .iter()
            .filter(|e| e.finding.finding.kernel != pakiti_vulns::KernelRole::NotRunning)
            .map(|e| e.finding.finding.severity),
    );
    let mut j = json!({
        "id": id,
        "url": fleet_url(id),
        "severity": severity.as_str(),
        "total_hosts": one.page.hosts,
        "total_findings": one.page.findings,
        "hosts": one.page.rows.iter().zip(&one.covering).map(|(e, x)| exposed_json(e, x.as_ref())).collect::<Vec<_>>(),
        "next": next_url,
        "resolved": one.resolved.iter().map(|e| exposed_json(e, None)).collect::<Vec<_>>(),
    });
    one.ann.fill(&mut j, None);
    j["deadline"] = one.ann.kev_due().map(|d| iso(Some(d.end()))).into();
    j
}

fn next_url(path: &str, cursor: &str, extra: &str) -> String {
    format!("{path}?{extra}after={}", crate::web::urlencode(cursor))
}

pub(crate) async fn api_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: QueryResult<OneQuery>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    if !q.format.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "format applies to the pages",
        ));
    }
    let limit = q.limit.unwrap_or(API_ROWS.0);
    if limit == 0 || limit > API_ROWS.1 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("limit={limit}: expected 1 to {}", API_ROWS.1),
        ));
    }
    let one = exposed(&state, &id, q.after.as_deref(), limit).await?;
    if q.after.is_none() && one.page.rows.is_empty() && one.resolved.is_empty() {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("no host has or had a finding of {id}"),
        ));
    }
    let next = one.next.as_deref().map(|c| {
        next_url(
            &format!("/api/v1/vulnerabilities/{}", crate::web::urlencode(&id)),
            c,
            &format!("limit={limit}&"),
        )
    });
    Ok(Json(one_json(&id, &one, next)).into_response())
}

pub(crate) async fn page_one(
    State(state): State<AppState>,
    viewer: Option<axum::Extension<crate::web::Viewer>>,
    Path(id): Path<String>,
    q: QueryResult<OneQuery>,
) -> Result<Response, ApiError> {
    let viewer = viewer.map(|axum::Extension(v)| v).unwrap_or_default();
    let q = query(q)?;
    if q.limit.is_some() {
        return Err(error(StatusCode::BAD_REQUEST, "limit applies to the API"));
    }
    if pakiti_report::check_token("vulnerability", &id).is_err() {
        return Ok(message(
            &state,
            StatusCode::BAD_REQUEST,
            "Not a valid id",
            "That id holds characters no CVE or advisory id has.",
        ));
    }
    let path = format!("/vulnerabilities/{}", crate::web::urlencode(&id));
    match q.format.as_str() {
        "json" => {
            let one = exposed(&state, &id, q.after.as_deref(), API_ROWS.1).await?;
            let next = one
                .next
                .as_deref()
                .map(|c| next_url(&path, c, "format=json&"));
            return Ok(Json(one_json(&id, &one, next)).into_response());
        }
        "csv" => return Ok(whole_csv(&state, &id)),
        "" | "html" => {}
        other => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("format={other:?}: expected html, csv or json"),
            ))
        }
    }
    let one = exposed(&state, &id, q.after.as_deref(), PAGE_ROWS).await?;
    let (open, resolved) = (&one.page.rows, &one.resolved);
    let now = SystemTime::now();
    let row = |(e, x): (&ExposedHost, Option<&pakiti_decisions::Exception>)| {
        let mut v = exposed_json(e, x);
        v["since"] = serde_json::to_value(when(e.finding.first_seen, now)).unwrap_or(Value::Null);
        v["resolved"] = e
            .finding
            .resolved_at
            .and_then(|t| serde_json::to_value(when(t, now)).ok())
            .into();
        v
    };
    let j = one_json(&id, &one, None);
    let (book, key) = (state.decisions.clone(), id.clone());
    let (recorded, audit) = blocking(&state, move |s| {
        let recorded: Vec<Value> = crate::decisions::effective(s, &book)?
            .recorded
            .into_iter()
            .filter_map(|r| {
                let (kind, what) = match (&r.exception, &r.tag) {
                    (Some(e), _) if e.vulnerability == key => ("exception", crate::decisions::exception_json(e)),
                    (_, Some(t)) if t.vulnerability == key => ("tag", crate::decisions::tag_json(t)),
                    _ => return None,
                };
                Some(json!({"id": r.id, "kind": kind, "what": what, "by": r.created_by, "at": iso(Some(r.created_at))}))
            })
            .collect();
        Ok((recorded, crate::decide::audit_of(s, &key)?))
    })
    .await?;
    let csrf = viewer
        .user
        .as_deref()
        .filter(|_| viewer.operator)
        .map(|u| crate::decide::token(&state, u));
    Ok(render(
        &state,
        "vulnerability.html",
        context! {
            url => fleet_url(&id),
            severity => j["severity"].clone(),
            total_hosts => one.page.hosts,
            total_findings => one.page.findings,
            hosts => open.iter().zip(&one.covering).map(|(e, x)| row((e, x.as_ref()))).collect::<Vec<_>>(),
            resolved => resolved.iter().map(|e| row((e, None))).collect::<Vec<_>>(),
            kev => j["kev"].clone(),
            kev_due => j["kev_due"].clone(),
            epss => j["epss"].clone(),
            epss_percentile => j["epss_percentile"].clone(),
            tags => j["tags"].clone(),
            exceptions => j["exceptions"].clone(),
            recorded,
            audit,
            operator => viewer.operator,
            user => viewer.user,
            csrf,
            today => pakiti_decisions::Date::of(crate::decisions::now()).to_string(),
            first => q.after.is_some().then(|| path.clone()),
            next => one.next.as_deref().map(|c| next_url(&path, c, "")),
            id,
        },
    ))
}

/// Every open and the latest resolved findings of `id`, as CSV, written as
/// they are read: the open ones a page at a time, then the resolved.
fn whole_csv(state: &AppState, id: &str) -> Response {
    let store = state.store.clone();
    let key = id.to_string();
    // The cursor: `None` for the first page of open findings, `Some(Some(k))`
    // for the page after `k`, `Some(None)` for the resolved ones.
    let pages = move |after: Option<Option<ExposedKey>>| -> Result<_, Stop> {
        if let Some(None) = after {
            return Ok((store.resolved_hosts(&key, RESOLVED_SHOWN)?, None));
        }
        let page = store.exposed_hosts(&key, after.flatten().as_ref(), API_ROWS.0)?;
        let next = match page.rows.last() {
            Some(last) if page.rows.len() == API_ROWS.0 => Some(Some(last.key())),
            _ => Some(None),
        };
        Ok((page.rows, next))
    };
    export::csv_pages(
        &format!("{id}.csv"),
        &[
            "host",
            "site",
            "package",
            "arch",
            "installed_version",
            "source_package",
            "status",
            "fixed_version",
            "fix_available",
            "severity",
            "counted",
            "first_seen",
            "resolved_at",
        ],
        pages,
        |e: &ExposedHost| {
            let f = &e.finding.finding;
            vec![
                e.hostname.clone(),
                e.site.clone().unwrap_or_default(),
                f.package.clone(),
                f.arch.clone(),
                f.installed_version.clone(),
                f.source_package.clone(),
                f.status.as_str().to_string(),
                f.fixed_version.clone().unwrap_or_default(),
                f.fix_available.to_string(),
                f.severity.as_str().to_string(),
                (f.kernel != pakiti_vulns::KernelRole::NotRunning).to_string(),
                iso(Some(e.finding.first_seen)),
                iso(e.finding.resolved_at),
            ]
        },
    )
}
