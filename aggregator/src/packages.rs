//! The installed inventory across the fleet: which hosts have a package
//! installed, at which versions (`GET /api/v1/packages/{name}`, and the
//! installed part of the package page, which `web` renders).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

use pakiti_store::{InstalledOn, InstalledOnKey};
use serde_json::{json, Value};

use crate::page::{self, Page};
use crate::state::{error, ApiError, AppState};

/// The hosts with `name` installed, checked input first: a name or bound no
/// package manager would write is a 400 that says so.
pub(crate) async fn installed_on(
    state: &AppState,
    name: &str,
    version_lt: Option<&str>,
) -> Result<Vec<InstalledOn>, ApiError> {
    pakiti_report::check_token("package name", name)
        .map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))?;
    if let Some(v) = version_lt {
        pakiti_report::check_token("version_lt", v)
            .map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))?;
    }
    let store = state.store.clone();
    let (name, bound) = (name.to_string(), version_lt.map(str::to_string));
    tokio::task::spawn_blocking(move || store.installed_on(&name, bound.as_deref()))
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

pub(crate) fn host_json(i: &InstalledOn) -> Value {
    json!({
        "hostname": i.hostname,
        "site": i.site,
        "manager": i.manager,
        "version": i.package.version,
        "arch": i.package.arch,
        "source_name": i.package.source_name,
        "source_version": i.package.source_version,
        "module": i.package.module,
    })
}

/// The rows grouped by version (in the order the store gave: each host's
/// own version order), each group with its hosts.
pub(crate) fn groups(rows: &[InstalledOn]) -> Vec<Value> {
    let mut out: Vec<(String, Vec<Value>)> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some((v, hosts)) if *v == r.package.version => hosts.push(host_json(r)),
            _ => out.push((r.package.version.clone(), vec![host_json(r)])),
        }
    }
    out.into_iter()
        .map(|(version, hosts)| json!({ "version": version, "count": hosts.len(), "hosts": hosts }))
        .collect()
}

/// Each version of the rows and how many rows have it, in the rows' order.
pub(crate) fn version_counts(rows: &[InstalledOn]) -> Vec<Value> {
    let mut out: Vec<(&str, usize)> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some((v, n)) if *v == r.package.version => *n += 1,
            _ => out.push((&r.package.version, 1)),
        }
    }
    out.into_iter()
        .map(|(version, count)| json!({ "version": version, "count": count }))
        .collect()
}

/// One host of the packages API, serialised without building a JSON tree
/// (the answer may list every host of the fleet).
#[derive(serde::Serialize)]
struct HostRow<'a> {
    hostname: &'a str,
    site: Option<&'a str>,
    manager: &'a str,
    version: &'a str,
    arch: &'a str,
    source_name: &'a str,
    source_version: &'a str,
    module: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct VersionCount<'a> {
    version: &'a str,
    hosts: usize,
}

#[derive(serde::Serialize)]
struct Answer<'a> {
    name: &'a str,
    version_lt: Option<&'a str>,
    host_count: usize,
    versions: Vec<VersionCount<'a>>,
    hosts: Vec<HostRow<'a>>,
    next: Option<String>,
}

/// `GET /api/v1/packages/{name}`: the hosts with it installed, a page at a
/// time (`limit`, `after`; `next` links the following page), with the count
/// of hosts and the count per version over all pages (in the order of the
/// rows: each host's version order).
pub async fn api(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(mut q): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = Page::take(&mut q)?;
    if let Some(key) = q.keys().find(|k| k.as_str() != "version_lt") {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("unknown parameter {key:?}: use version_lt, limit, after"),
        ));
    }
    let version_lt = q.get("version_lt").map(String::as_str);
    let after = page
        .after
        .as_deref()
        .map(|a| {
            InstalledOnKey::from_cursor(a).ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("after={a:?} is not a cursor this API gave (see next)"),
                )
            })
        })
        .transpose()?;
    let rows = installed_on(&state, &name, version_lt).await?;
    let mut versions: Vec<VersionCount<'_>> = Vec::new();
    for r in &rows {
        match versions.last_mut() {
            Some(v) if v.version == r.package.version => v.hosts += 1,
            _ => versions.push(VersionCount {
                version: &r.package.version,
                hosts: 1,
            }),
        }
    }
    let (shown, more) = page::slice(&rows, InstalledOnKey::of, after, page.limit, |_| true);
    let next = match (more, shown.last()) {
        (true, Some(last)) => Some(page.next(
            &format!("/api/v1/packages/{}", urlencoding(&name)),
            &q,
            &InstalledOnKey::of(last).to_cursor(),
        )),
        _ => None,
    };
    let answer = Answer {
        name: &name,
        version_lt,
        host_count: rows
            .iter()
            .map(|r| (&r.site, &r.hostname))
            .collect::<std::collections::HashSet<_>>()
            .len(),
        versions,
        hosts: shown
            .iter()
            .map(|i| HostRow {
                hostname: &i.hostname,
                site: i.site.as_deref(),
                manager: &i.manager,
                version: &i.package.version,
                arch: &i.package.arch,
                source_name: &i.package.source_name,
                source_version: &i.package.source_version,
                module: i.package.module.as_deref(),
            })
            .collect(),
        next,
    };
    let body = serde_json::to_vec(&answer)
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// A path segment as a URL carries it (package names are tokens: only a
/// few characters need it).
fn urlencoding(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'+' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One installed package in a host's JSON and page.
pub(crate) fn installed_json(p: &pakiti_report::Installed) -> Value {
    json!({
        "name": p.name,
        "version": p.version,
        "arch": p.arch,
        "source_name": p.source_name,
        "source_version": p.source_version,
        "module": p.module,
    })
}

/// What a host's JSON adds for its inventory: `installed` (null without
/// one), `installed_changes` (newest first) and the platform facts.
pub(crate) fn add_inventory(v: &mut Value, d: &pakiti_store::HostDetail) {
    v["installed"] = match &d.installed {
        None => Value::Null,
        Some(list) => list.iter().map(installed_json).collect(),
    };
    v["installed_changes"] = d
        .installed_changes
        .iter()
        .map(|c| {
            json!({
                "at": humantime::format_rfc3339_millis(c.at).to_string(),
                "name": c.name,
                "arch": c.arch,
                "old_version": c.old_version,
                "new_version": c.new_version,
            })
        })
        .collect();
    let p = &d.platform;
    v["os"]["version_codename"] = json!(p.codename);
    v["os"]["cpe_name"] = json!(p.cpe_name);
    v["os"]["platform_id"] = json!(p.platform_id);
    v["running_kernel"] = match &p.running_kernel {
        Some(k) => json!({"package": k.package, "version": k.version}),
        None => Value::Null,
    };
    v["esm_enabled"] = json!(p.esm_enabled);
}
