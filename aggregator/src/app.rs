//! HTTP routes of the aggregator. `app(state)` builds them without a socket.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

use pakiti_httpserver::PeerCertificate;
use pakiti_report::{Hostname, Report, Severity};
use pakiti_service::gzip::GunzipError;
use pakiti_store::{
    Conflict, HostDetail, HostSummary, IngestOutcome, Source, Store, StoreError, StoredUpdate,
    Writer,
};

use crate::config::{Settings, WebAccess};
use crate::fleet::Fleet;
use crate::metrics::{self, Health};
use crate::trust::{self, Refusal};
use crate::web;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub settings: Arc<Settings>,
    pub health: Arc<Health>,
    pub fleet: Arc<Fleet>,
    pub pages: Arc<minijinja::Environment<'static>>,
    pub web_access: Arc<WebAccess>,
    /// This process among replicas sharing a database (for leases).
    pub instance: Arc<str>,
}

impl AppState {
    /// `web_access` is what `[web] access` says, or the default for where it listens.
    pub fn new(store: Arc<dyn Store>, settings: Arc<Settings>, web_access: WebAccess) -> AppState {
        AppState {
            store,
            settings,
            health: Arc::new(Health::default()),
            fleet: Arc::new(Fleet::default()),
            pages: Arc::new(crate::web::templates()),
            web_access: Arc::new(web_access),
            instance: format!(
                "{}-{}-{}",
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .unwrap_or_default()
                    .trim(),
                std::process::id(),
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0)
            )
            .into(),
        }
    }
}

pub fn app(state: AppState) -> Router {
    // What shows the fleet to people is behind [web] access; what machines use is not.
    let mut guarded = Router::new()
        .route("/", get(web::overview))
        .route("/hosts", get(web::hosts))
        .route("/hosts/{hostname}", get(web::host))
        .route("/packages/{name}", get(web::package))
        .route("/advisories/{id}", get(web::advisory))
        .route("/cves/{id}", get(web::cve))
        .route("/api/v1/hosts", get(hosts))
        .route("/api/v1/hosts/{hostname}", get(host))
        .route("/api/v1/sites", get(sites))
        .route("/sites", get(web::sites));
    let mut machines = Router::new()
        .route("/api/v1/reports", post(push))
        .route("/api/v1/forward/reports", post(forwarded_report))
        .route("/api/v1/forward/stats", post(forwarded_stats));
    if state.settings.federate_behind_access {
        guarded = guarded.route("/federate", get(federate));
    } else {
        machines = machines.route("/federate", get(federate));
    }
    let guarded = guarded.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        web::access,
    ));
    machines
        .route("/metrics", get(own_metrics))
        .route("/-/healthy", get(|| async { "OK\n" }))
        .route("/-/ready", get(ready))
        .merge(guarded)
        .with_state(state)
}

/// An error answer: its status and a JSON `{"error": …}` saying what is wrong.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The refusal concerns this one report (`"scope": "report"` in the
    /// answer), not the sender: a forwarding aggregator sets the item aside
    /// and goes on with the next instead of retrying it forever.
    pub this_report_only: bool,
}

impl ApiError {
    pub fn for_this_report(mut self) -> ApiError {
        self.this_report_only = true;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = if self.this_report_only {
            json!({ "error": self.message, "scope": "report" })
        } else {
            json!({ "error": self.message })
        };
        (self.status, Json(body)).into_response()
    }
}

pub fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
        this_report_only: false,
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

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
    let store = state.store.clone();
    let started = Instant::now();
    let outgoing = crate::forward::report_outgoing(&state.settings.upstreams, || {
        pakiti_report::to_json(&report)
    });
    let result = tokio::task::spawn_blocking(move || {
        store.ingest_and_queue(
            &report,
            &writer,
            source,
            forwarded_by.as_deref(),
            received_at,
            &outgoing,
        )
    })
    .await;
    state.health.store_latency("ingest", started.elapsed());
    let mode = source.as_str();
    match result {
        Ok(Ok(outcome)) => {
            // Even an unchanged report moves the host's last report time.
            state.fleet.changed();
            state.health.report(
                mode,
                match outcome {
                    IngestOutcome::NewHost => "new_host",
                    IngestOutcome::Changed => "changed",
                    IngestOutcome::Unchanged => "unchanged",
                },
            );
            Ok(outcome)
        }
        Ok(Err(StoreError::Conflict(c))) => {
            // Nothing was written: the report may not overwrite the stored host.
            let (result, status) = match c {
                Conflict::Older { .. } => ("older", StatusCode::CONFLICT),
                _ => ("forbidden", StatusCode::FORBIDDEN),
            };
            state.health.report(mode, result);
            tracing::warn!(mode, reason = %c, "report refused: it conflicts with the stored host");
            Err(error(status, c.to_string()).for_this_report())
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

/// Reads at most `limit` bytes of body, gunzipping when asked; `Err` is the answer to give.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the report is larger than {limit} bytes"),
        )
    };
    let raw = axum::body::to_bytes(body, limit).await.map_err(|e| {
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
    let bytes = read_body(body, headers, state.settings.max_body_bytes)
        .await
        .map_err(|e| {
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

async fn push(
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
            let outcome = match outcome {
                IngestOutcome::NewHost => "new_host",
                IngestOutcome::Changed => "changed",
                IngestOutcome::Unchanged => "unchanged",
            };
            Json(json!({ "status": "stored", "outcome": outcome, "host": hostname }))
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
async fn forwarded_report(
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
async fn forwarded_stats(
    State(state): State<AppState>,
    cert: Option<Extension<Arc<PeerCertificate>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let server = trusted_server(&state, &headers, cert)?;
    json_body(&headers)?;
    let bytes = read_body(body, &headers, state.settings.max_body_bytes).await?;
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
async fn sites(State(state): State<AppState>) -> Result<Response, ApiError> {
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
        "reboot_required": h.counts.reboot_required,
        "reboot_packages": h.reboot_packages,
        "installed_packages": h.installed_packages,
        "security_metadata_available": h.security_metadata_available,
        "metadata_updated_at": h.metadata_updated_at.map(rfc3339),
        "security_pending_since": h.security_pending_since.map(rfc3339),
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
    let r = tokio::task::spawn_blocking(move || fleet.hosts(&*store)).await;
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
        Some("true") | Some("1") => Ok(Some(true)),
        Some("false") | Some("0") => Ok(Some(false)),
        Some(other) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("{key}={other:?}: expected true or false"),
        )),
    }
}

async fn hosts(
    State(state): State<AppState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    for key in q.keys() {
        if !["site", "security", "stale", "reboot"].contains(&key.as_str()) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("unknown filter {key:?}: use site, security, stale, reboot"),
            ));
        }
    }
    let (security, stale, reboot) = (
        flag(&q, "security")?,
        flag(&q, "stale")?,
        flag(&q, "reboot")?,
    );
    let all = all_hosts(&state).await?;
    let now = SystemTime::now();
    let list: Vec<Value> = all
        .iter()
        .filter(|h| {
            q.get("site")
                .is_none_or(|s| h.site.as_deref() == Some(s.as_str()))
        })
        .filter(|h| security.is_none_or(|want| (h.counts.security_total() > 0) == want))
        .filter(|h| stale.is_none_or(|want| is_stale(&state, h, now) == want))
        .filter(|h| reboot.is_none_or(|want| h.counts.reboot_required == want))
        .map(|h| host_json(&state, h, now))
        .collect();
    Ok(Json(json!({ "hosts": list })).into_response())
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

async fn host(
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
    let mut v = host_json(&state, &detail.summary, SystemTime::now());
    v["updates"] = detail.updates.iter().map(update_json).collect();
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

async fn federate(State(state): State<AppState>) -> Result<Response, ApiError> {
    let hosts = all_hosts(&state).await?;
    // The hosts come from the fleet copy, which outlives a database outage;
    // the forwarded site statistics then wait for the database.
    let sites = site_statistics(&state).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e.message, "/federate without site statistics: the store did not answer");
        Vec::new()
    });
    Ok((
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::federate(&hosts, &sites),
    )
        .into_response())
}

async fn own_metrics(State(state): State<AppState>) -> Response {
    let now = SystemTime::now();
    let store = state.store.clone();
    let up = matches!(
        tokio::task::spawn_blocking(move || store.ping()).await,
        Ok(Ok(()))
    );
    let store = state.store.clone();
    let outbox = if state.settings.upstreams.is_empty() {
        Some(Vec::new())
    } else {
        tokio::task::spawn_blocking(move || store.outbox_status())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|mut known| {
                // Every configured upstream has its series, an empty queue too.
                for u in &state.settings.upstreams {
                    if !known.iter().any(|o| o.upstream == u.url) {
                        known.push(pakiti_store::OutboxStatus {
                            upstream: u.url.clone(),
                            ..Default::default()
                        });
                    }
                }
                known
            })
    };
    // Hosts by state from the fleet copy, which outlives a database outage.
    let (fresh, stale) = match all_hosts(&state).await {
        Ok(hosts) => {
            let stale = hosts.iter().filter(|h| is_stale(&state, h, now)).count();
            (hosts.len() - stale, stale)
        }
        Err(_) => (0, 0),
    };
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.health.render(fresh, stale, up, outbox.as_deref()),
    )
        .into_response()
}

async fn ready(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.ping()).await {
        Ok(Ok(())) => "OK\n".into_response(),
        Ok(Err(e)) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response(),
    }
}
