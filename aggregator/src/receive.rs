//! Receiving reports: pushes from hosts and relays, and what downstream
//! aggregators forward. Every road reads a bounded body, checks who sends
//! (`trust`), and stores through [`store_report_from`], which maps the
//! store's ownership conflicts to 403 and 409.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;

use pakiti_httpserver::PeerCertificate;
use pakiti_report::Report;
use pakiti_service::gzip::GunzipError;
use pakiti_store::{Conflict, IngestOutcome, Source, StoreError, Writer};

use crate::config::Settings;
use crate::state::{error, ApiError, AppState};
use crate::trust::{self, Refusal};

/// Stores a report that came in by any road, queueing it for the
/// `reports` upstreams in the same transaction, and counts the result.
pub async fn store_report(
    state: &AppState,
    report: Report,
    writer: Writer,
    source: Source,
) -> Result<IngestOutcome, ApiError> {
    store_report_from(state, report, writer, source, None, SystemTime::now()).await
}

/// [`store_report`] for a report another aggregator forwarded.
pub async fn store_report_from(
    state: &AppState,
    report: Report,
    writer: Writer,
    source: Source,
    forwarded_by: Option<String>,
    received_at: SystemTime,
) -> Result<IngestOutcome, ApiError> {
    let mut report = with_stored_inventory(state, report).await;
    crate::vulnerabilities::rate_updates(state, &mut report).await;
    let store = state.store.clone();
    let started = Instant::now();
    let outgoing = crate::forward::report_outgoing(&state.settings.upstreams, || {
        pakiti_report::to_json(&report)
    });
    let matcher = state.matcher.clone();
    let result = tokio::task::spawn_blocking(move || {
        let outcome = store.ingest_and_queue(
            &report,
            &writer,
            source,
            forwarded_by.as_deref(),
            received_at,
            &outgoing,
        )?;
        let ingested = started.elapsed();
        // The stored report is what the host's findings follow: rematched
        // now, so that an answer to this report means its findings are
        // there too. A failure is logged; the next report or feed import
        // rematches.
        // A panic there must not answer "not stored" for a stored report.
        if outcome != IngestOutcome::Unchanged
            && std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rematch_after(&*store, &matcher, &report)
            }))
            .is_err()
        {
            tracing::error!(host = %report.host.hostname.as_str(), "rematching the host panicked; the report is stored");
        }
        Ok::<_, StoreError>((outcome, ingested, started.elapsed() - ingested))
    })
    .await
    .map(|r| {
        r.map(|(outcome, ingested, rematched)| {
            state.health.store_latency("ingest", ingested);
            if outcome != IngestOutcome::Unchanged {
                state.health.store_latency("rematch", rematched);
            }
            outcome
        })
    });
    let mode = source.as_str();
    match result {
        Ok(Ok(outcome)) => {
            // Even an unchanged report moves the host's last report time.
            state.fleet.changed();
            if outcome != IngestOutcome::Unchanged {
                state.fleet_list.changed();
            }
            state.health.report(mode, outcome.as_str());
            Ok(outcome)
        }
        Ok(Err(StoreError::Conflict(c))) => {
            // Nothing was written: the report may not overwrite the stored host.
            let (result, status) = match c {
                Conflict::Older { .. } => ("older", StatusCode::CONFLICT),
                Conflict::FromTheFuture { .. } => ("invalid", StatusCode::BAD_REQUEST),
                Conflict::InventoryUnknown { .. } | Conflict::DeltaDoesNotApply { .. } => {
                    ("resend", StatusCode::CONFLICT)
                }
                _ => ("forbidden", StatusCode::FORBIDDEN),
            };
            state.health.report(mode, result);
            let mut e = error(status, c.to_string()).for_this_report();
            if let Conflict::InventoryUnknown { .. } | Conflict::DeltaDoesNotApply { .. } = c {
                // Routine: the host sends it again at once, in full.
                tracing::debug!(mode, reason = %c, "report refused: its inventory is needed");
                e.resend_installed = true;
            } else {
                tracing::warn!(mode, reason = %c, "report refused: it conflicts with the stored host");
            }
            Err(e)
        }
        Ok(Err(e)) => {
            state.health.report(mode, "store_error");
            tracing::error!(error = %e, "storing a report failed");
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the report was not stored: {e}"),
            ))
        }
        Err(e) => {
            state.health.report(mode, "store_error");
            Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the report was not stored: {e}"),
            ))
        }
    }
}

/// Rematches the host `report` was stored as (see `rematch.rs`).
fn rematch_after(
    store: &dyn pakiti_store::Store,
    matcher: &crate::rematch::SharedMatcher,
    report: &Report,
) {
    // Coverage asked of the store, not the 30-second cache: a release a
    // feed import just covered must not be written back as unknown.
    let outcome = store.host_id(report).and_then(|id| match id {
        Some(id) => {
            crate::rematch::host(store, id, &|r| store.covers_release(r), matcher).map(Some)
        }
        None => Ok(None),
    });
    match outcome {
        Ok(o) => tracing::debug!(host = %report.host.hostname.as_str(), outcome = ?o, "rematched"),
        Err(e) => {
            tracing::warn!(host = %report.host.hostname.as_str(), error = %e, "the host's vulnerabilities were not rematched")
        }
    }
}

/// A report that names its inventory by digest, or sends what changed in
/// it, when this aggregator forwards reports: the whole inventory is put
/// back in (the stored one of that digest, or the stored one with the delta
/// applied), so that upstreams, which may not have it, get the whole report.
async fn with_stored_inventory(state: &AppState, mut report: Report) -> Report {
    let forwards = state
        .settings
        .upstreams
        .iter()
        .any(|u| u.send == crate::config::SendMode::Reports);
    let Some(claimed) = report.inventory.installed_digest.clone() else {
        return report;
    };
    if !forwards || report.inventory.installed.is_some() {
        return report;
    }
    let store = state.store.clone();
    let (name, site) = (report.host.hostname.to_string(), report.host.site.clone());
    let stored = tokio::task::spawn_blocking(move || store.host(&name, site.as_deref())).await;
    let Ok(Ok(Some(Some(mut list)))) = stored.map(|r| r.map(|d| d.map(|d| d.installed))) else {
        return report;
    };
    if let Some(delta) = &report.inventory.installed_delta {
        if pakiti_report::installed_digest(&list) != delta.base {
            return report;
        }
        let gone: std::collections::HashSet<&pakiti_report::Installed> =
            delta.removed.iter().collect();
        list.retain(|p| !gone.contains(p));
        list.extend(delta.added.iter().cloned());
    }
    if pakiti_report::installed_digest(&list) == claimed {
        report.inventory.installed = Some(list);
        report.inventory.installed_delta = None;
    }
    report
}

/// Reads at most `max_body_bytes` of body within `body_timeout`, gunzipping
/// when asked; `Err` is the answer to give.
async fn read_body(state: &AppState, body: Body, headers: &HeaderMap) -> Result<Vec<u8>, ApiError> {
    let (limit, timeout) = (state.settings.max_body_bytes, state.settings.body_timeout);
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the report is larger than {limit} bytes"),
        )
    };
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| {
            error(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {}",
                    humantime::format_duration(timeout)
                ),
            )
        })?;
    let raw = read.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit")
        {
            too_large()
        } else {
            error(
                StatusCode::BAD_REQUEST,
                format!("the body could not be read: {e}"),
            )
        }
    })?;
    match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
    {
        None => Ok(raw.to_vec()),
        Some(e) if e == "identity" => Ok(raw.to_vec()),
        Some(e) if e == "gzip" || e == "x-gzip" => pakiti_service::gzip::decompress(&raw, limit)
            .map_err(|e| match e {
                GunzipError::TooLarge(_) => too_large(),
                e => error(StatusCode::BAD_REQUEST, e.to_string()),
            }),
        Some(other) => Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding {other:?} is not supported: send identity or gzip"),
        )),
    }
}

/// Reads and validates a report body; `Err` carries the result to count
/// (`too_large`, `invalid`) and the answer to give.
async fn read_report(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Report, (&'static str, ApiError)> {
    let bytes = read_body(state, body, headers).await.map_err(|e| {
        let result = if e.status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "invalid"
        };
        (result, e)
    })?;
    pakiti_report::from_json(&bytes)
        .map_err(|e| ("invalid", error(StatusCode::BAD_REQUEST, e.to_string())))
}

pub(crate) async fn push(
    State(state): State<AppState>,
    cert: Option<Extension<Arc<PeerCertificate>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let refuse = |result: &'static str, e: ApiError| {
        state.health.report("push", result);
        e.into_response()
    };
    if let Err(e) = json_body(&headers) {
        return refuse("invalid", e);
    }
    let cert = cert.map(|Extension(c)| (*c).clone());
    let sender = match trust::authenticate(&state.settings.clients, bearer(&headers), cert.as_ref())
    {
        Ok(s) => s,
        Err(Refusal::Unauthenticated(msg)) | Err(Refusal::Forbidden(msg)) => {
            tracing::warn!(reason = %msg, "report refused: unauthenticated");
            return refuse("unauthorized", error(StatusCode::UNAUTHORIZED, msg));
        }
    };
    let mut report = match read_report(&state, &headers, body).await {
        Ok(r) => r,
        Err((result, e)) => return refuse(result, e),
    };
    if let Err(Refusal::Forbidden(msg) | Refusal::Unauthenticated(msg)) =
        trust::authorize(&sender, &mut report)
    {
        tracing::warn!(sender = %sender.name(), host = %report.host.hostname, reason = %msg, "report refused: forbidden");
        return refuse("forbidden", error(StatusCode::FORBIDDEN, msg));
    }
    let hostname = report.host.hostname.to_string();
    match store_report(&state, report, sender.writer(), Source::Push).await {
        Ok(outcome) => {
            Json(json!({ "status": "stored", "outcome": outcome.as_str(), "host": hostname }))
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// A downstream aggregator this one trusts (`role = "server"`), recognised
/// from its token or certificate; anything else is refused with 403 and
/// counted, whatever its credentials.
fn trusted_server(
    state: &AppState,
    headers: &HeaderMap,
    cert: Option<Extension<Arc<PeerCertificate>>>,
) -> Result<crate::config::Client, ApiError> {
    let refuse = |reason: &'static str, msg: String| {
        state.health.forward_refused(reason);
        tracing::warn!(reason, detail = %msg, "forwarded data refused");
        error(StatusCode::FORBIDDEN, msg)
    };
    if state.settings.clients.is_empty() {
        return Err(refuse(
            "untrusted",
            "this aggregator trusts no downstream server: add a [[client]] with role = \"server\""
                .into(),
        ));
    }
    let cert = cert.map(|Extension(c)| (*c).clone());
    match trust::authenticate(&state.settings.clients, bearer(headers), cert.as_ref()) {
        Ok(sender) => match sender.client {
            Some(c) if c.role == crate::config::Role::Server => Ok(c),
            Some(c) => Err(refuse(
                "untrusted",
                format!(
                    "client {:?} is not a downstream server (its role is not \"server\")",
                    c.name
                ),
            )),
            None => Err(refuse("untrusted", "unknown sender".into())),
        },
        Err(Refusal::Unauthenticated(msg) | Refusal::Forbidden(msg)) => {
            Err(refuse("untrusted", msg))
        }
    }
}

/// Which requests the web config's basic auth lets through to the route:
/// pushes and forwards that carry a bearer token or a verified client
/// certificate, which the route checks against `[[client]]`. With no client
/// configured nothing is let through: basic auth is then all there is.
pub fn authenticates_itself(settings: &Settings) -> pakiti_httpserver::AuthenticatesItself {
    let clients = !settings.clients.is_empty();
    Arc::new(move |req: &axum::extract::Request| {
        let path = req.uri().path();
        let writes = path == "/api/v1/reports" || path.starts_with("/api/v1/forward/");
        let credential = bearer(req.headers()).is_some()
            || req.extensions().get::<Arc<PeerCertificate>>().is_some();
        clients && writes && credential
    })
}

/// The bearer token of `Authorization`, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    // The scheme name is case-insensitive (RFC 9110, section 11.1).
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// A body must say it is JSON.
fn json_body(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some("application/json") {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type must be application/json, not {content_type:?}"),
        ));
    }
    Ok(())
}

/// `POST /api/v1/forward/reports`: a host report as a downstream server
/// received it; `X-Pakiti-Received-At` says when (never later than now).
pub(crate) async fn forwarded_report(
    State(state): State<AppState>,
    cert: Option<Extension<Arc<PeerCertificate>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let server = match trusted_server(&state, &headers, cert) {
        Ok(c) => c,
        Err(e) => {
            state.health.report("forwarded", "forbidden");
            return e.into_response();
        }
    };
    let refuse = |result: &'static str, e: ApiError| {
        state.health.report("forwarded", result);
        e.into_response()
    };
    if let Err(e) = json_body(&headers) {
        return refuse("invalid", e);
    }
    let mut report = match read_report(&state, &headers, body).await {
        Ok(r) => r,
        Err((result, e)) => return refuse(result, e),
    };
    let now = SystemTime::now();
    let received_at = match headers
        .get(crate::forward::RECEIVED_AT)
        .map(|v| v.to_str().unwrap_or(""))
    {
        None => now,
        Some(v) => match pakiti_report::parse_rfc3339(v) {
            // Never later than now, never before the report was collected.
            Ok(t) => t.min(now).max(report.collected_at.min(now)),
            Err(e) => {
                return refuse(
                    "invalid",
                    error(
                        StatusCode::BAD_REQUEST,
                        format!("X-Pakiti-Received-At {v:?}: {e}"),
                    ),
                )
            }
        },
    };
    let sender = trust::Sender::of(server.clone());
    if let Err(Refusal::Forbidden(msg) | Refusal::Unauthenticated(msg)) =
        trust::authorize(&sender, &mut report)
    {
        state.health.forward_refused("site");
        tracing::warn!(server = %server.name, host = %report.host.hostname, reason = %msg, "forwarded report refused");
        return refuse(
            "forbidden",
            error(StatusCode::FORBIDDEN, msg).for_this_report(),
        );
    }
    let hostname = report.host.hostname.to_string();
    match store_report_from(
        &state,
        report,
        sender.writer(),
        Source::Forwarded,
        Some(server.name),
        received_at,
    )
    .await
    {
        Ok(_) => Json(json!({ "status": "stored", "host": hostname })).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /api/v1/forward/stats`: a downstream server's per-site statistics.
/// Every site must be one the server may speak for, or nothing is stored.
pub(crate) async fn forwarded_stats(
    State(state): State<AppState>,
    cert: Option<Extension<Arc<PeerCertificate>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let server = trusted_server(&state, &headers, cert)?;
    json_body(&headers)?;
    let bytes = read_body(&state, body, &headers).await?;
    let stats =
        crate::forward::read_stats(&bytes).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    if let Some(allowed) = &server.sites {
        if let Some(bad) = stats.iter().find(|s| !allowed.contains(&s.site)) {
            state.health.forward_refused("site");
            let msg = format!(
                "server {:?} may not speak for site {:?} (its sites: {})",
                server.name,
                bad.site,
                allowed.join(", ")
            );
            tracing::warn!(server = %server.name, reason = %msg, "forwarded statistics refused");
            return Err(error(StatusCode::FORBIDDEN, msg));
        }
    }
    let n = stats.len();
    let store = state.store.clone();
    let name = server.name.clone();
    let r =
        tokio::task::spawn_blocking(move || store.put_site_stats(&name, &stats, SystemTime::now()))
            .await;
    match r {
        Ok(Ok(())) => {
            state.health.stats_received(&server.name);
            Ok(Json(json!({ "status": "stored", "sites": n })).into_response())
        }
        Ok(Err(e)) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the statistics were not stored: {e}"),
        )),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}
