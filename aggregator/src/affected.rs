//! The hosts affected by a package, an advisory or a CVE (`/packages/{name}`,
//! `/advisories/{id}`, `/cves/{id}`): the pending updates, and for a package
//! the hosts with it installed, by version; each table a page at a time
//! (`after`, `installed_after`: cursors as the next-page links give them),
//! with counts over every row, and whole as CSV or JSON.

use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Serialize;
use serde_json::json;

use pakiti_report::Severity;
use pakiti_store::{AffectedHost, AffectedKey, InstalledOn, InstalledOnKey, Lookup};

use crate::export::{self, Stop};
use crate::read::update_json;
use crate::state::{error, ApiError, AppState};
use crate::web::{iso, message, query, render, when, QueryResult, When};

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
    // The pending table's exports read only the pending rows; the package's
    // installed table is read for its own export and for the page.
    if q.table != "installed" {
        match q.format.as_str() {
            "csv" => return Ok(pending_csv(&state, kind, id)),
            "json" => return Ok(pending_json(&state, kind, id)),
            _ => {}
        }
    }
    let installed = match kind {
        Kind::Package => {
            Some(crate::packages::installed_on(&state, &id, q.version_lt.as_deref()).await?)
        }
        _ => None,
    };
    if q.table == "installed" {
        return installed_export(&id, &q.format, installed.unwrap_or_default());
    }
    html(&state, kind, id, q, installed.as_deref()).await
}

fn lookup(kind: Kind, id: &str) -> Lookup<'_> {
    match kind {
        Kind::Package => Lookup::Package(id),
        Kind::Advisory => Lookup::Advisory(id),
        Kind::Cve => Lookup::Cve(id),
    }
}

/// Rows read from the store per page of an export.
const EXPORT_PAGE: usize = 1000;

/// The pages of an export: the rows after a cursor, and the next cursor.
fn export_pages(
    state: &AppState,
    kind: Kind,
    id: String,
) -> impl FnMut(Option<AffectedKey>) -> Result<(Vec<AffectedHost>, Option<AffectedKey>), Stop>
       + Send
       + 'static {
    let store = state.store.clone();
    move |after| {
        let rows = store.affected(lookup(kind, &id), after.as_ref(), EXPORT_PAGE)?;
        let next = (rows.len() == EXPORT_PAGE)
            .then(|| rows.last().map(AffectedKey::of))
            .flatten();
        Ok((rows, next))
    }
}

fn installed_export(id: &str, format: &str, rows: Vec<InstalledOn>) -> Result<Response, ApiError> {
    let mut rows = Some(rows);
    let all = move |_: Option<()>| Ok((rows.take().unwrap_or_default(), None));
    match format {
        "csv" => Ok(export::csv_pages(
            &format!("installed-{id}.csv"),
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
            all,
            |r: &InstalledOn| {
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
            },
        )),
        "json" => Ok(export::json_pages(
            json!({}),
            "hosts",
            all,
            crate::packages::host_json,
        )),
        other => Err(error(
            StatusCode::BAD_REQUEST,
            format!("format={other:?} with table=installed: expected csv or json"),
        )),
    }
}

fn pending_csv(state: &AppState, kind: Kind, id: String) -> Response {
    export::csv_pages(
        &format!("{}.csv", kind.label().to_ascii_lowercase()),
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
        export_pages(state, kind, id),
        |r: &AffectedHost| {
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
        },
    )
}

fn pending_json(state: &AppState, kind: Kind, id: String) -> Response {
    export::json_pages(
        json!({ "id": id, "kind": kind.label().to_ascii_lowercase() }),
        "updates",
        export_pages(state, kind, id),
        |r: &AffectedHost| {
            let mut v = update_json(&r.update);
            v["host"] = r.hostname.clone().into();
            v["site"] = r.site.clone().into();
            v
        },
    )
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
    advisories: Vec<String>,
    cves: Vec<String>,
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

async fn html(
    state: &AppState,
    kind: Kind,
    id: String,
    q: AffectedQuery,
    installed: Option<&[InstalledOn]>,
) -> Result<Response, ApiError> {
    let now = SystemTime::now();
    let after = q
        .after
        .as_deref()
        .map(|c| {
            AffectedKey::from_cursor(c).ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("after={c:?} is not a cursor this page gave"),
                )
            })
        })
        .transpose()?;
    let store = state.store.clone();
    let key = id.clone();
    // One row more than shown: whether a next page exists.
    let (count, mut shown) = tokio::task::spawn_blocking(move || {
        let l = lookup(kind, &key);
        Ok::<_, pakiti_store::StoreError>((
            store.affected_count(l)?,
            store.affected(l, after.as_ref(), PAGE_ROWS + 1)?,
        ))
    })
    .await
    .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    // Nothing names it anywhere (a filter by version may leave a known
    // package with no row: that is an empty page, not an unknown name).
    let unknown = count.rows == 0
        && q.version_lt.is_none()
        && installed.is_none_or(<[InstalledOn]>::is_empty);
    if unknown {
        let what = match kind {
            Kind::Package => "has it pending or installed",
            _ => "has an update pending that names it",
        };
        return Ok(message(
            state,
            StatusCode::NOT_FOUND,
            &format!("{} {id} not found", kind.label()),
            &format!("No host of this fleet {what}."),
        ));
    }
    let more = shown.len() > PAGE_ROWS;
    shown.truncate(PAGE_ROWS);
    let next = more.then(|| {
        link(
            &q,
            "after",
            shown.last().map(|r| AffectedKey::of(r).to_cursor()),
        )
    });
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
            advisories: r.update.advisories.clone(),
            cves: r.update.cves.clone(),
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
            total => count.rows,
            hosts => count.hosts,
            next,
            first,
            installed => installed_page,
            version_lt => q.version_lt,
        },
    ))
}
