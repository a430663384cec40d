//! A host's vulnerabilities (`GET /api/v1/hosts/{hostname}/vulnerabilities`):
//! its stored inventory matched against the loaded feeds of its release, at
//! read time. A host no loaded feed covers (its release, or no inventory)
//! answers `"coverage": false` with the reason: unknown, never clean.
//!
//! Feeds read today: Debian's (hosts whose os-release id is `debian`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use pakiti_report::{Hostname, Severity};
use pakiti_store::HostDetail;
use pakiti_vulns::{match_host, Finding, HostPackages, Index, KernelRole};

use crate::read::find_host;
use crate::state::{error, ApiError, AppState};

/// Why a host is not covered, or its release when it is.
fn coverage(d: &HostDetail) -> Result<&str, String> {
    if d.installed.is_none() {
        return Err(
            "the host sends no installed inventory (an exporter older than the inventory)".into(),
        );
    }
    if d.summary.os_id != "debian" {
        return Err(format!(
            "no feed read by this aggregator covers {:?} hosts yet (Debian's is the one read today)",
            d.summary.os_id
        ));
    }
    d.platform
        .codename
        .as_deref()
        .ok_or_else(|| "the host's os-release has no VERSION_CODENAME".to_string())
}

pub(crate) fn finding_json(f: &Finding) -> Value {
    json!({
        "id": f.id,
        "url": tracker_url(&f.id),
        "aliases": [],
        "package": f.package,
        "arch": f.arch,
        "installed_version": f.installed_version,
        "source_package": f.source_package,
        "source_version": f.source_version,
        "fixed_version": f.fixed_version,
        "status": f.status.as_str(),
        "fix_available": f.fix_available,
        "severity": f.severity.as_str(),
        "vendor_severity": f.vendor_severity,
        "kernel": match f.kernel {
            KernelRole::NotKernel => Value::Null,
            KernelRole::Running => "running".into(),
            KernelRole::NotRunning => "not_running".into(),
        },
        // Installed kernels that do not run are listed apart, not counted.
        "counted": f.kernel != KernelRole::NotRunning,
    })
}

/// What to fix first: counted ones, fixable now, by severity, then id.
fn order(f: &Finding) -> (bool, bool, usize, String, String) {
    let rank = Severity::ALL
        .iter()
        .position(|s| *s == f.severity)
        .unwrap_or(9);
    (
        f.kernel == KernelRole::NotRunning,
        !f.fix_available,
        rank,
        f.id.clone(),
        f.package.clone(),
    )
}

/// A host's vulnerabilities: the release a loaded feed covers, or why
/// none does (then there are no findings: unknown, not clean).
pub(crate) struct HostVulnerabilities {
    pub coverage: Result<String, String>,
    pub findings: Vec<Finding>,
}

/// Matches one host at read time, in what to fix first.
pub(crate) async fn of(
    state: &AppState,
    detail: &HostDetail,
) -> Result<HostVulnerabilities, ApiError> {
    let release = match coverage(detail) {
        Ok(r) => r.to_string(),
        Err(reason) => {
            return Ok(HostVulnerabilities {
                coverage: Err(reason),
                findings: Vec::new(),
            })
        }
    };
    let installed = detail.installed.clone().unwrap_or_default();
    let sources: Vec<String> = installed
        .iter()
        .map(|p| pakiti_vulns::tracked_as(p).0.to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let store = state.store.clone();
    let rel = release.clone();
    let (covered, records) = tokio::task::spawn_blocking(move || {
        Ok::<_, pakiti_store::StoreError>((
            store.covers_release(&rel)?,
            store.vulnerability_records(&rel, &sources)?,
        ))
    })
    .await
    .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    if !covered {
        return Ok(HostVulnerabilities {
            coverage: Err(format!(
                "no loaded feed has records for release {release:?}: import one with pakiti-aggregator feeds import"
            )),
            findings: Vec::new(),
        });
    }
    let candidates: HashMap<(String, String), String> = detail
        .updates
        .iter()
        .map(|u| {
            (
                (u.name.clone(), u.arch.clone()),
                u.candidate_version.clone(),
            )
        })
        .collect();
    let host = HostPackages {
        scheme: pakiti_versions::Scheme::Dpkg,
        release: &release,
        installed: &installed,
        candidates: &candidates,
        running_kernel: detail.platform.running_kernel.as_ref(),
    };
    let mut findings = match_host(&host, &Index::new(records));
    findings.sort_by_key(order);
    Ok(HostVulnerabilities {
        coverage: Ok(release),
        findings,
    })
}

/// The vendor's page for a vulnerability id.
pub(crate) fn tracker_url(id: &str) -> String {
    format!("https://security-tracker.debian.org/tracker/{id}")
}

pub(crate) async fn host(
    State(state): State<AppState>,
    Path(hostname): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    if let Some(key) = q.keys().find(|k| *k != "site") {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("unknown parameter {key:?}: use site"),
        ));
    }
    let name =
        Hostname::parse(&hostname).map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))?;
    let detail = find_host(&state, &name, q.get("site").cloned()).await?;
    let v = of(&state, &detail).await?;
    let mut out = json!({
        "hostname": detail.summary.hostname,
        "site": detail.summary.site,
        "coverage": v.coverage.is_ok(),
        "vulnerabilities": v.findings.iter().map(finding_json).collect::<Vec<_>>(),
    });
    match &v.coverage {
        Ok(release) => out["release"] = release.as_str().into(),
        Err(reason) => out["reason"] = reason.as_str().into(),
    }
    Ok(Json(out).into_response())
}
