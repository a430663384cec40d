//! The hosts affected by a package, an advisory or a CVE (`/packages/{name}`,
//! `/advisories/{id}`, `/cves/{id}`): the pending updates, and for a package
//! the hosts with it installed, by version; each table a page at a time
//! (`after`, `installed_after`: cursors as the next-page links give them),
//! with counts over every row, and whole as CSV or JSON.

use std::collections::BTreeSet;
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::Serialize;
use serde_json::{json, Value};

use pakiti_report::Severity;
use pakiti_store::{AffectedHost, InstalledOn, InstalledOnKey, Lookup};

use crate::read::update_json;
use crate::state::{error, ApiError, AppState};
use crate::web::{csv, iso, message, query, render, when, QueryResult, When};

/// Rows of each table on one page.
const PAGE_ROWS: usize = 200;

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AffectedQuery {
    format: String,
    /// Package pages: only installed versions below this one.
    version_lt: Option<String>,
    /// Package pages: `installed` exports the installed table.
    table: String,
    /// The pending updates after this row (host, site, package, arch).
    after: Option<String>,
    /// The installed table after this row.
    installed_after: Option<String>,
}

/// What a page of affected hosts is about.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Package,
    Advisory,
    Cve,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Package => "Package",
            Kind::Advisory => "Advisory",
            Kind::Cve => "CVE",
        }
    }
}

pub async fn package(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryResult<AffectedQuery>,
) -> Result<Response, ApiError> {
    affected(s, Kind::Package, id, q).await
}

pub async fn advisory(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryResult<AffectedQuery>,
) -> Result<Response, ApiError> {
    affected(s, Kind::Advisory, id, q).await
}

pub async fn cve(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryResult<AffectedQuery>,
) -> Result<Response, ApiError> {
    affected(s, Kind::Cve, id, q).await
}

async fn affected(
    state: AppState,
    kind: Kind,
    id: String,
    q: QueryResult<AffectedQuery>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let kind_label = kind.label();
    if kind != Kind::Package
        && (q.version_lt.is_some() || !q.table.is_empty() || q.installed_after.is_some())
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "version_lt, table and installed_after apply to package pages only",
        ));
    }
    if !matches!(q.table.as_str(), "" | "pending" | "installed") {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("table={:?}: expected pending or installed", q.table),
        ));
    }
    if !matches!(q.format.as_str(), "" | "html" | "csv" | "json") {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("format={:?}: expected html, csv or json", q.format),
        ));
    }
    if pakiti_report::check_token(kind_label, &id).is_err() {
        return Ok(message(
            &state,
            StatusCode::BAD_REQUEST,
            "Not a valid name",
            "That name holds characters no package, advisory or CVE id has.",
        ));
    }
    let installed = match kind {
        Kind::Package => {
            Some(crate::packages::installed_on(&state, &id, q.version_lt.as_deref()).await?)
        }
        _ => None,
    };
    if q.table == "installed" {
        return installed_export(&id, &q.format, &installed.unwrap_or_default());
    }
    let store = state.store.clone();
    let key = id.clone();
    let mut rows: Vec<AffectedHost> = tokio::task::spawn_blocking(move || {
        let lookup = match kind {
            Kind::Package => Lookup::Package(&key),
            Kind::Advisory => Lookup::Advisory(&key),
            Kind::Cve => Lookup::Cve(&key),
        };
        store.affected(lookup)
    })
    .await
    .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    // By host, site, package and arch, byte for byte: the order pages follow.
    rows.sort_by(|a, b| pending_key(a).cmp(&pending_key(b)));
    match q.format.as_str() {
        "csv" => Ok(pending_csv(kind, &rows)),
        "json" => Ok(pending_json(kind, &id, &rows)),
        _ => html(&state, kind, id, q, &rows, installed.as_deref()),
    }
}

type PendingKey<'a> = (&'a str, &'a str, &'a str, &'a str);

fn pending_key(r: &AffectedHost) -> PendingKey<'_> {
    (
        &r.hostname,
        r.site.as_deref().unwrap_or(""),
        &r.update.name,
        &r.update.arch,
    )
}

/// A pending row's cursor: its key's fields, separated by spaces (none
/// holds one; no site is an empty field).
fn pending_cursor(r: &AffectedHost) -> String {
    let (h, s, n, a) = pending_key(r);
    format!("{h} {s} {n} {a}")
}

fn parse_pending_cursor(c: &str) -> Result<(String, String, String, String), ApiError> {
    let f: Vec<&str> = c.split(' ').collect();
    match f.as_slice() {
        [h, s, n, a] if !h.is_empty() && !n.is_empty() && !a.is_empty() => {
            Ok((h.to_string(), s.to_string(), n.to_string(), a.to_string()))
        }
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            format!("after={c:?} is not a cursor this page gave"),
        )),
    }
}

fn installed_export(id: &str, format: &str, rows: &[InstalledOn]) -> Result<Response, ApiError> {
    match format {
        "csv" => Ok(csv(
            &[
                "host",
                "site",
                "manager",
                "version",
                "arch",
                "source_name",
                "source_version",
                "module",
            ],
            rows.iter().map(|r| {
                vec![
                    r.hostname.clone(),
                    r.site.clone().unwrap_or_default(),
                    r.manager.clone(),
                    r.package.version.clone(),
                    r.package.arch.clone(),
                    r.package.source_name.clone(),
                    r.package.source_version.clone(),
                    r.package.module.clone().unwrap_or_default(),
                ]
            }),
            &format!("installed-{id}.csv"),
        )),
        "json" => Ok(axum::Json(json!({
            "hosts": rows.iter().map(crate::packages::host_json).collect::<Vec<_>>()
        }))
        .into_response()),
        other => Err(error(
            StatusCode::BAD_REQUEST,
            format!("format={other:?} with table=installed: expected csv or json"),
        )),
    }
}

fn pending_csv(kind: Kind, rows: &[AffectedHost]) -> Response {
    csv(
        &[
            "host",
            "site",
            "package",
            "arch",
            "installed",
            "candidate",
            "severity",
            "first_seen",
        ],
        rows.iter().map(|r| {
            vec![
                r.hostname.clone(),
                r.site.clone().unwrap_or_default(),
                r.update.name.clone(),
                r.update.arch.clone(),
                r.update.installed_version.clone(),
                r.update.candidate_version.clone(),
                r.update
                    .security
                    .map_or("none", Severity::as_str)
                    .to_string(),
                iso(Some(r.update.first_seen)),
            ]
        }),
        &format!("{}.csv", kind.label().to_ascii_lowercase()),
    )
}

fn pending_json(kind: Kind, id: &str, rows: &[AffectedHost]) -> Response {
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = update_json(&r.update);
            v["host"] = r.hostname.clone().into();
            v["site"] = r.site.clone().into();
            v
        })
        .collect();
    axum::Json(json!({ "id": id, "kind": kind.label().to_ascii_lowercase(), "updates": list }))
        .into_response()
}

#[derive(Serialize)]
struct AffectedRow {
    hostname: String,
    site: String,
    name: String,
    arch: String,
    installed: String,
    candidate: String,
    severity: &'static str,
    first_seen: When,
}

/// The page's link with `key` set to `value` (the other cursors and the
/// filter kept).
fn link(q: &AffectedQuery, key: &str, value: Option<String>) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(v) = &q.version_lt {
        pairs.push(("version_lt", v.clone()));
    }
    let after = if key == "after" {
        value.clone()
    } else {
        q.after.clone()
    };
    if let Some(a) = after {
        pairs.push(("after", a));
    }
    let installed = if key == "installed_after" {
        value
    } else {
        q.installed_after.clone()
    };
    if let Some(a) = installed {
        pairs.push(("installed_after", a));
    }
    let anchor = if key == "installed_after" {
        "#installed"
    } else {
        ""
    };
    format!(
        "?{}{anchor}",
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    )
}

fn html(
    state: &AppState,
    kind: Kind,
    id: String,
    q: AffectedQuery,
    rows: &[AffectedHost],
    installed: Option<&[InstalledOn]>,
) -> Result<Response, ApiError> {
    let now = SystemTime::now();
    let hosts = rows
        .iter()
        .map(|r| (&r.hostname, &r.site))
        .collect::<BTreeSet<_>>()
        .len();
    let after = q.after.as_deref().map(parse_pending_cursor).transpose()?;
    let (shown, more) = crate::page::slice(
        rows,
        |r| {
            let (h, s, n, a) = pending_key(r);
            (h.to_string(), s.to_string(), n.to_string(), a.to_string())
        },
        after,
        PAGE_ROWS,
        |_| true,
    );
    let next = more.then(|| link(&q, "after", shown.last().map(|r| pending_cursor(r))));
    let first = q.after.is_some().then(|| link(&q, "after", None));
    let page: Vec<AffectedRow> = shown
        .iter()
        .map(|r| AffectedRow {
            hostname: r.hostname.clone(),
            site: r.site.clone().unwrap_or_default(),
            name: r.update.name.clone(),
            arch: r.update.arch.clone(),
            installed: r.update.installed_version.clone(),
            candidate: r.update.candidate_version.clone(),
            severity: r.update.security.map_or("none", Severity::as_str),
            first_seen: when(r.update.first_seen, now),
        })
        .collect();
    let installed_page = match installed {
        None => None,
        Some(all) => {
            let after = q
                .installed_after
                .as_deref()
                .map(|c| {
                    InstalledOnKey::from_cursor(c).ok_or_else(|| {
                        error(
                            StatusCode::BAD_REQUEST,
                            format!("installed_after={c:?} is not a cursor this page gave"),
                        )
                    })
                })
                .transpose()?;
            let (shown, more) =
                crate::page::slice(all, InstalledOnKey::of, after, PAGE_ROWS, |_| true);
            let next = more.then(|| {
                link(
                    &q,
                    "installed_after",
                    shown.last().map(|r| InstalledOnKey::of(r).to_cursor()),
                )
            });
            let first = q
                .installed_after
                .is_some()
                .then(|| link(&q, "installed_after", None));
            let shown: Vec<InstalledOn> = shown.into_iter().cloned().collect();
            Some(context! {
                count => all.len(),
                versions => crate::packages::version_counts(all),
                groups => crate::packages::groups(&shown),
                next,
                first,
            })
        }
    };
    Ok(render(
        state,
        "affected.html",
        context! {
            kind => kind.label(),
            id,
            rows => page,
            total => rows.len(),
            hosts,
            next,
            first,
            installed => installed_page,
            version_lt => q.version_lt,
        },
    ))
}
