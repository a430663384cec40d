//! The fleet's vulnerabilities, from the stored findings (see `rematch.rs`):
//! `/api/v1/vulnerabilities` and `/vulnerabilities` (each vulnerability
//! some host is exposed to, what to fix first on top), and
//! `/api/v1/vulnerabilities/{id}` and `/vulnerabilities/{id}` (every host
//! exposed, with its status, and the hosts no longer exposed). Pages export
//! as CSV and JSON.
//!
//! What to fix first: by severity, then vulnerabilities whose fix hosts can
//! install now, then the most hosts, then the longest exposed.

use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use minijinja::context;
use serde_json::{json, Value};

use pakiti_report::Severity;
use pakiti_store::{ExposedHost, FleetVulnerability};

use crate::state::{error, ApiError, AppState};
use crate::vulnerabilities::{finding_json, tracker_url};
use crate::web::{csv, iso, message, query, render, when, QueryResult};

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListQuery {
    format: String,
    /// Only vulnerabilities of this severity.
    severity: String,
    /// `available`: only those some host can install the fix of now;
    /// `unavailable`: only those no host can.
    fix: String,
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

fn rank(s: Severity) -> usize {
    Severity::ALL.iter().position(|x| *x == s).unwrap_or(9)
}

/// What to fix first.
fn order(v: &FleetVulnerability) -> (usize, bool, std::cmp::Reverse<u64>, SystemTime, String) {
    (
        rank(v.severity),
        v.fixable_hosts == 0,
        std::cmp::Reverse(v.hosts),
        v.first_seen,
        v.id.clone(),
    )
}

fn vulnerability_json(v: &FleetVulnerability) -> Value {
    json!({
        "id": v.id,
        "url": tracker_url(&v.id),
        "severity": v.severity.as_str(),
        "hosts": v.hosts,
        "fixable_hosts": v.fixable_hosts,
        "source_packages": v.source_packages,
        "first_seen": iso(Some(v.first_seen)),
    })
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

/// The fleet's list, as last computed: the aggregation reads every open
/// finding, so it is not redone per request. It is recomputed when findings
/// may have changed (a report stored, a feed imported: [`FleetList::changed`])
/// or every minute, and at most every ten times its last duration; while it
/// is recomputed, requests get the previous one.
#[derive(Default)]
pub struct FleetList {
    generation: std::sync::atomic::AtomicU64,
    cached: std::sync::Mutex<Option<Cached>>,
    loading: tokio::sync::Mutex<()>,
}

struct Cached {
    generation: u64,
    at: std::time::Instant,
    took: std::time::Duration,
    list: std::sync::Arc<Vec<FleetVulnerability>>,
}

impl FleetList {
    pub fn changed(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    fn fresh(&self) -> (Option<std::sync::Arc<Vec<FleetVulnerability>>>, bool) {
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let Ok(c) = self.cached.lock() else {
            return (None, false);
        };
        match c.as_ref() {
            None => (None, false),
            Some(c) => {
                let fresh = (c.generation == generation
                    && c.at.elapsed() < std::time::Duration::from_secs(60))
                    || c.at.elapsed() < c.took * 10;
                (Some(c.list.clone()), fresh)
            }
        }
    }

    async fn get(
        &self,
        state: &AppState,
    ) -> Result<std::sync::Arc<Vec<FleetVulnerability>>, ApiError> {
        let (old, fresh) = self.fresh();
        if let (Some(list), true) = (&old, fresh) {
            return Ok(list.clone());
        }
        // One request recomputes; the others take the previous list (or,
        // the first time, wait for it).
        let guard = match (&old, self.loading.try_lock()) {
            (_, Ok(g)) => g,
            (Some(list), Err(_)) => return Ok(list.clone()),
            (None, Err(_)) => self.loading.lock().await,
        };
        if let (Some(list), true) = self.fresh() {
            return Ok(list);
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let started = std::time::Instant::now();
        let list = std::sync::Arc::new(blocking(state, |s| s.fleet_vulnerabilities()).await?);
        if let Ok(mut c) = self.cached.lock() {
            *c = Some(Cached {
                generation,
                at: std::time::Instant::now(),
                took: started.elapsed(),
                list: list.clone(),
            });
        }
        drop(guard);
        Ok(list)
    }
}

async fn list(state: &AppState, q: &ListQuery) -> Result<Vec<FleetVulnerability>, ApiError> {
    q.check()?;
    let mut all: Vec<FleetVulnerability> = state
        .fleet_list
        .get(state)
        .await?
        .iter()
        .filter(|v| q.keeps(v))
        .cloned()
        .collect();
    all.sort_by_cached_key(order);
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
                    "hosts",
                    "fixable_hosts",
                    "source_packages",
                    "first_seen",
                ],
                all.iter().map(|v| {
                    vec![
                        v.id.clone(),
                        v.severity.as_str().to_string(),
                        v.hosts.to_string(),
                        v.fixable_hosts.to_string(),
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
        .map(|v| {
            let mut j = vulnerability_json(v);
            j["since"] = serde_json::to_value(when(v.first_seen, now)).unwrap_or(Value::Null);
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
}

fn exposed_json(e: &ExposedHost) -> Value {
    let mut v = finding_json(&e.finding.finding);
    v["hostname"] = e.hostname.clone().into();
    v["site"] = e.site.clone().into();
    v["first_seen"] = iso(Some(e.finding.first_seen)).into();
    v["resolved_at"] = e.finding.resolved_at.map(|t| iso(Some(t))).into();
    v
}

/// The hosts with findings of `id`: exposed now, then no longer.
async fn exposed(
    state: &AppState,
    id: &str,
) -> Result<(Vec<ExposedHost>, Vec<ExposedHost>), ApiError> {
    if pakiti_report::check_token("vulnerability", id).is_err() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "that id holds characters no CVE or advisory id has",
        ));
    }
    let key = id.to_string();
    let all = blocking(state, move |s| s.exposed_hosts(&key)).await?;
    Ok(all
        .into_iter()
        .partition(|e| e.finding.resolved_at.is_none()))
}

fn one_json(id: &str, open: &[ExposedHost], resolved: &[ExposedHost]) -> Value {
    let severity = pakiti_vulns::worst(
        open.iter()
            .filter(|e| e.finding.finding.kernel != pakiti_vulns::KernelRole::NotRunning)
            .map(|e| e.finding.finding.severity),
    );
    json!({
        "id": id,
        "url": tracker_url(id),
        "severity": severity.as_str(),
        "hosts": open.iter().map(exposed_json).collect::<Vec<_>>(),
        "resolved": resolved.iter().map(exposed_json).collect::<Vec<_>>(),
    })
}

pub(crate) async fn api_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (open, resolved) = exposed(&state, &id).await?;
    if open.is_empty() && resolved.is_empty() {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("no host has or had a finding of {id}"),
        ));
    }
    Ok(Json(one_json(&id, &open, &resolved)).into_response())
}

pub(crate) async fn page_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: QueryResult<OneQuery>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    if pakiti_report::check_token("vulnerability", &id).is_err() {
        return Ok(message(
            &state,
            StatusCode::BAD_REQUEST,
            "Not a valid id",
            "That id holds characters no CVE or advisory id has.",
        ));
    }
    let (open, resolved) = exposed(&state, &id).await?;
    match q.format.as_str() {
        "json" => return Ok(Json(one_json(&id, &open, &resolved)).into_response()),
        "csv" => {
            return Ok(csv(
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
                open.iter().chain(&resolved).map(|e| {
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
                }),
                &format!("{id}.csv"),
            ))
        }
        "" | "html" => {}
        other => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("format={other:?}: expected html, csv or json"),
            ))
        }
    }
    let now = SystemTime::now();
    let row = |e: &ExposedHost| {
        let mut v = exposed_json(e);
        v["since"] = serde_json::to_value(when(e.finding.first_seen, now)).unwrap_or(Value::Null);
        v["resolved"] = e
            .finding
            .resolved_at
            .and_then(|t| serde_json::to_value(when(t, now)).ok())
            .into();
        v
    };
    let j = one_json(&id, &open, &resolved);
    Ok(render(
        &state,
        "vulnerability.html",
        context! {
            id,
            url => tracker_url(&id),
            severity => j["severity"].clone(),
            hosts => open.iter().map(row).collect::<Vec<_>>(),
            resolved => resolved.iter().map(row).collect::<Vec<_>>(),
        },
    ))
}
