//! Reading the fleet: the hosts API (`/api/v1/hosts`, one host by name and
//! site), the forwarded site statistics, and the JSON forms the pages share.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use pakiti_report::{Hostname, Severity};
use pakiti_store::{HostDetail, HostSummary, StoredUpdate};

use crate::page::{self, Page};
use crate::state::{error, rfc3339, ApiError, AppState};

/// The latest statistics each downstream server sent, per site.
pub(crate) async fn site_statistics(
    state: &AppState,
) -> Result<Vec<pakiti_store::StoredSiteStats>, ApiError> {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.site_stats()).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

/// `GET /api/v1/sites`: the forwarded statistics, per site and server.
pub(crate) async fn sites(State(state): State<AppState>) -> Result<Response, ApiError> {
    let stats = site_statistics(&state).await?;
    let sites: Vec<Value> = stats
        .iter()
        .map(|s| {
            let mut v =
                serde_json::to_value(crate::forward::site_doc(&s.stats)).unwrap_or(Value::Null);
            v["server"] = json!(s.server);
            v["received_at"] = json!(rfc3339(s.received_at));
            v["generated_at"] = json!(s.stats.generated_at.map(crate::forward::rfc3339));
            v
        })
        .collect();
    Ok(Json(json!({ "sites": sites })).into_response())
}

pub(crate) fn is_stale(state: &AppState, h: &HostSummary, now: SystemTime) -> bool {
    now.duration_since(h.last_report_at).unwrap_or_default() > state.settings.stale_after
}

pub(crate) fn host_json(state: &AppState, h: &HostSummary, now: SystemTime) -> Value {
    let mut security: BTreeMap<&str, u32> = Severity::ALL
        .iter()
        .map(|s| (s.as_str(), h.counts.security(*s)))
        .collect();
    security.insert("total", h.counts.security_total());
    let held_security: BTreeMap<&str, u32> = Severity::ALL
        .iter()
        .zip(h.held_security)
        .map(|(s, n)| (s.as_str(), n))
        .collect();
    json!({
        "hostname": h.hostname,
        "machine_id": h.machine_id,
        "site": h.site,
        "owner": h.owner,
        "os": { "id": h.os_id, "version": h.os_version, "name": h.os_name },
        "kernel": h.kernel,
        "arch": h.arch,
        "manager": h.manager,
        "exporter_version": h.exporter_version,
        "source": h.source,
        "forwarded_by": h.forwarded_by,
        "first_seen": rfc3339(h.first_seen),
        "last_report_at": rfc3339(h.last_report_at),
        "collected_at": rfc3339(h.collected_at),
        "stale": is_stale(state, h, now),
        "pending": h.counts.pending,
        "security": security,
        "held": h.counts.held,
        // The security updates among the held ones, by severity.
        "held_security": held_security,
        "reboot_required": h.counts.reboot_required,
        "reboot_packages": h.reboot_packages,
        "installed_packages": h.installed_packages,
        "security_metadata_available": h.security_metadata_available,
        "metadata_updated_at": h.metadata_updated_at.map(rfc3339),
        "security_pending_since": h.security_pending_since.map(rfc3339),
        // null: the host's exporter did not say (unknown, not none).
        "restart_required": h.running.restart.map(|r| json!({
            "processes": r.processes, "units": r.units, "sessions": r.sessions,
        })),
        "kernel_livepatches": h.running.livepatches,
        // null: the host's exporter cannot see such channels (unknown, not none).
        "unentitled": h.unentitled.map(|u| json!({
            "updates": u.updates, "security": u.security,
        })),
    })
}

pub(crate) fn update_json(u: &StoredUpdate) -> Value {
    json!({
        "name": u.name,
        "arch": u.arch,
        "installed_version": u.installed_version,
        "candidate_version": u.candidate_version,
        "security": u.security.is_some(),
        "severity": u.security.map_or("none", Severity::as_str),
        "held": u.held.is_some(),
        "held_reason": u.held.map(|h| h.as_str()),
        "repository": u.repository,
        "advisories": u.advisories,
        "cves": u.cves,
        "first_seen": rfc3339(u.first_seen),
        "candidate_first_seen": rfc3339(u.candidate_first_seen),
        "security_first_seen": u.security_first_seen.map(rfc3339),
    })
}

/// Every host, from the fleet cache.
pub(crate) async fn all_hosts(state: &AppState) -> Result<Arc<Vec<HostSummary>>, ApiError> {
    let (store, fleet) = (state.store.clone(), state.fleet.clone());
    let started = Instant::now();
    let r = tokio::task::spawn_blocking(move || fleet.hosts(&store)).await;
    state.health.store_latency("hosts", started.elapsed());
    match r {
        Ok(Ok(h)) => Ok(h),
        Ok(Err(e)) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

fn flag(q: &BTreeMap<String, String>, key: &str) -> Result<Option<bool>, ApiError> {
    match q.get(key).map(String::as_str) {
        None | Some("") => Ok(None),
        // The pages' spelling too: a filter takes the same values everywhere.
        Some("true" | "1" | "yes") => Ok(Some(true)),
        Some("false" | "0" | "no") => Ok(Some(false)),
        Some(other) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("{key}={other:?}: expected true or false (or yes or no)"),
        )),
    }
}

/// `GET /api/v1/hosts`: the hosts the filters keep, by host name, a page
/// at a time (`limit`, `after`; `next` links the following page, `total`
/// counts every host the filters keep).
pub(crate) async fn hosts(
    State(state): State<AppState>,
    Query(mut q): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = Page::take(&mut q)?;
    for key in q.keys() {
        if !["site", "security", "stale", "reboot"].contains(&key.as_str()) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown parameter {key:?}: use site, security, stale, reboot, limit, after"
                ),
            ));
        }
    }
    let after = page
        .after
        .as_deref()
        .map(|a| {
            a.rsplit_once(':')
                .and_then(|(name, id)| Some((name.to_string(), id.parse::<i64>().ok()?)))
                .ok_or_else(|| {
                    error(
                        StatusCode::BAD_REQUEST,
                        format!("after={a:?} is not a cursor this API gave (see next)"),
                    )
                })
        })
        .transpose()?;
    let (security, stale, reboot) = (
        flag(&q, "security")?,
        flag(&q, "stale")?,
        flag(&q, "reboot")?,
    );
    let all = all_hosts(&state).await?;
    let now = SystemTime::now();
    let keep = |h: &HostSummary| {
        q.get("site")
            .is_none_or(|s| h.site.as_deref() == Some(s.as_str()))
            && security.is_none_or(|want| (h.counts.security_total() > 0) == want)
            && stale.is_none_or(|want| is_stale(&state, h, now) == want)
            && reboot.is_none_or(|want| h.counts.reboot_required == want)
    };
    let total = all.iter().filter(|h| keep(h)).count();
    let (rows, more) = page::slice(
        &all,
        |h| (h.hostname.clone(), h.id),
        after,
        page.limit,
        keep,
    );
    let next = match (more, rows.last()) {
        (true, Some(last)) => Some(page.next(
            "/api/v1/hosts",
            &q,
            &format!("{}:{}", last.hostname, last.id),
        )),
        _ => None,
    };
    let list: Vec<Value> = rows.iter().map(|h| host_json(&state, h, now)).collect();
    Ok(Json(json!({ "hosts": list, "total": total, "next": next })).into_response())
}

/// One host by name and, where several sites have a host of that name, site:
/// 404 when none matches, 409 naming the sites when the name alone is ambiguous.
pub(crate) async fn find_host(
    state: &AppState,
    name: &Hostname,
    site: Option<String>,
) -> Result<HostDetail, ApiError> {
    if site.is_none() {
        let all = all_hosts(state).await?;
        let sites: BTreeSet<Option<&str>> = all
            .iter()
            .filter(|h| h.hostname == name.as_str())
            .map(|h| h.site.as_deref())
            .collect();
        if sites.len() > 1 {
            let names: Vec<&str> = sites.iter().map(|s| s.unwrap_or("(none)")).collect();
            return Err(error(
                StatusCode::CONFLICT,
                format!(
                    "hosts named {name:?} report from several sites ({}): add ?site=SITE",
                    names.join(", ")
                ),
            ));
        }
    }
    let (store, name, wanted) = (state.store.clone(), name.clone(), site.clone());
    let started = Instant::now();
    let r = tokio::task::spawn_blocking(move || store.host(name.as_str(), wanted.as_deref())).await;
    state.health.store_latency("host", started.elapsed());
    match r {
        Ok(Ok(Some(d))) => Ok(d),
        Ok(Ok(None)) => Err(error(
            StatusCode::NOT_FOUND,
            match site {
                Some(s) => format!("no host of that name has reported in site {s:?}"),
                None => "no host of that name has reported".to_string(),
            },
        )),
        Ok(Err(e)) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

/// The host a `/api/v1/hosts/{hostname}…` request names (`?site=` only).
pub(crate) async fn requested_host(
    state: &AppState,
    hostname: &str,
    q: &BTreeMap<String, String>,
) -> Result<HostDetail, ApiError> {
    if let Some(key) = q.keys().find(|k| *k != "site") {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("unknown parameter {key:?}: use site"),
        ));
    }
    let name =
        Hostname::parse(hostname).map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))?;
    find_host(state, &name, q.get("site").cloned()).await
}

pub(crate) async fn host(
    State(state): State<AppState>,
    Path(hostname): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let detail = requested_host(&state, &hostname, &q).await?;
    let mut v = host_json(&state, &detail.summary, SystemTime::now());
    v["updates"] = detail.updates.iter().map(update_json).collect();
    if let Some(list) = &detail.unentitled {
        v["unentitled"]["fixes"] = list
            .iter()
            .map(|u| {
                json!({
                    "name": u.name, "arch": u.arch, "installed_version": u.installed_version,
                    "version": u.version, "channel": u.channel, "security": u.security,
                })
            })
            .collect();
    }
    crate::packages::add_inventory(&mut v, &detail);
    v["history"] = detail
        .history
        .iter()
        .map(|p| {
            json!({
                "at": rfc3339(p.at),
                "pending": p.counts.pending,
                "security": p.counts.security_total(),
                "held": p.counts.held,
                "reboot_required": p.counts.reboot_required,
            })
        })
        .collect();
    Ok(Json(v).into_response())
}
