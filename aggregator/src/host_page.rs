//! `/hosts/{hostname}`: one host — its pending updates, history chart,
//! installed packages and their changes, vulnerabilities — and its CSV and
//! JSON forms.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde_json::{json, Value};

use pakiti_report::{Hostname, Severity};
use pakiti_store::{HistoryPoint, HostDetail, HostSummary};

use crate::export::csv;
use crate::read::{host_json, is_stale, update_json};
use crate::state::{ApiError, AppState};
use crate::web::{fleet, iso, message, os_of, query, render, urlencode, when, QueryResult};

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

/// A host page: its format, and its site where several sites have a host of that name.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostPageQuery {
    format: String,
    site: Option<String>,
    /// Installed packages whose name or source package holds this text.
    q: Option<String>,
    /// The pending updates' sort (a column heading's key; default: worst severity first).
    usort: String,
    /// Pending updates whose name, repository, advisory or CVE id holds this text.
    uq: String,
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
    let page = match &d.summary.site {
        Some(site) => format!("/hosts/{}?site={}", d.summary.hostname, urlencode(site)),
        None => format!("/hosts/{}", d.summary.hostname),
    };
    let updates = crate::host_updates::updates(&d.updates, &q.usort, &q.uq, &page, now)
        .map_err(|e| crate::state::error(StatusCode::BAD_REQUEST, e))?;
    let search = q.q.clone().unwrap_or_default();
    let installed = installed_rows(&d, &search.to_lowercase());
    let changes = change_rows(&d, now);
    let running = running_context(&d.running);
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
            running,
            unentitled => d.unentitled.as_ref().map(|list| list.iter().map(|u| context! {
                name => u.name, arch => u.arch, installed => u.installed_version,
                version => u.version, channel => u.channel, security => u.security,
            }).collect::<Vec<_>>()),
            kernel_package => d.platform.running_kernel.as_ref().map(|k| format!("{} {}", k.package, k.version)),
        },
    ))
}

/// Its release's security support window, for its page; `None` for a
/// release pakiti knows no window of.
fn support_context(s: &HostSummary, now: SystemTime) -> Option<minijinja::Value> {
    use pakiti_vulns::support::Phase;
    let w = pakiti_vulns::support::shipped().find(&s.os_id, &s.os_version)?;
    let day = |t: SystemTime| iso(Some(t)).chars().take(10).collect::<String>();
    Some(context! {
        standard_end => day(w.standard_end),
        extended => w.extended.as_ref().map(|(name, end)| context! { name, end => day(*end) }),
        phase => match w.phase(now) {
            Phase::Standard => "standard",
            Phase::Extended(_) => "extended",
            Phase::Ended => "ended",
        },
        source => w.source,
    })
}

/// What the host runs beside what it has installed, for its page.
fn running_context(r: &pakiti_report::Running) -> minijinja::Value {
    let restart = r.restart.as_ref().map(|x| {
        context! {
            processes => x.processes,
            sessions => x.sessions,
            unreadable => x.unreadable,
            units => x.units.iter().map(|u| context! { unit => u.unit, packages => u.packages }).collect::<Vec<_>>(),
        }
    });
    let livepatches = r.livepatches.as_ref().map(|v| {
        v.iter()
            .map(|p| context! { name => p.name, enabled => p.enabled, transition => p.transition })
            .collect::<Vec<_>>()
    });
    context! { restart, livepatches, livepatch_state => r.livepatch_state }
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
        support => support_context(s, now),
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
