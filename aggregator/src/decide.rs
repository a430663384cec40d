//! Recording decisions in the web UI: forms that work without JavaScript,
//! for operators only (`[web] operators`; viewers read), each protected
//! against cross-site request forgery (a token bound to the operator and
//! this process, and the browser's `Origin`/`Sec-Fetch-Site` when sent).
//! A decision is checked exactly as the decisions file's entries are
//! (`pakiti_decisions::file`), stored with its audit entry, and applies as
//! the file's do. The audit log of a vulnerability: `/vulnerabilities/{id}/audit`
//! (`?format=csv`, else JSON).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::state::{error, ApiError, AppState};
use crate::web::{message, Viewer};

/// The secret CSRF tokens are keyed with: random per process.
pub fn new_secret() -> [u8; 32] {
    let mut key = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut key);
    }
    key
}

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let pad = |b: u8| block.iter().map(|k| k ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The form token of `user`.
pub fn token(state: &AppState, user: &str) -> String {
    hmac(
        &state.csrf_secret,
        format!("pakiti-decisions\0{user}").as_bytes(),
    )
    .iter()
    .map(|b| format!("{b:02x}"))
    .collect()
}

/// Equal in constant time.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Why a form is refused before it is read, if it is.
fn refused(
    state: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    form: &BTreeMap<String, String>,
) -> Option<Response> {
    let forbidden =
        |title: &str, msg: &str| Some(message(state, StatusCode::FORBIDDEN, title, msg));
    let Some(user) = viewer.user.as_deref().filter(|_| viewer.operator) else {
        return forbidden(
            "Operators only",
            "Recording decisions needs the operator role: a user listed in [web] operators, identified by [web] access (basic, cert or proxy). Viewers read.",
        );
    };
    // The browser says where the form came from: another site's page is refused.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
        if origin_host != host {
            return forbidden("Refused", "This form was sent from another site's page.");
        }
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return forbidden("Refused", "This form was sent from another site's page.");
        }
    }
    let sent = form.get("csrf").map(String::as_str).unwrap_or("");
    if !same(sent, &token(state, user)) {
        return forbidden(
            "Refused",
            "This form is not one this aggregator gave you (its token is missing or wrong): load the page again and resend it.",
        );
    }
    None
}

fn bad_request(state: &AppState, msg: &str) -> Response {
    message(state, StatusCode::BAD_REQUEST, "Not recorded", msg)
}

fn back(id: &str) -> Response {
    Redirect::to(&format!(
        "/vulnerabilities/{}#decisions",
        crate::web::urlencode(id)
    ))
    .into_response()
}

fn valid_id(id: &str) -> bool {
    pakiti_report::check_token("vulnerability", id).is_ok()
}

/// The form's fields as the decisions file's keys (empty ones left out).
fn fields(form: &BTreeMap<String, String>, keys: &[&str]) -> serde_json::Map<String, Value> {
    keys.iter()
        .filter_map(|k| {
            let v = form.get(*k)?.trim();
            (!v.is_empty()).then(|| (k.to_string(), Value::from(v.replace("\r\n", "\n"))))
        })
        .collect()
}

async fn record(
    state: &AppState,
    kind: &'static str,
    id: &str,
    body: Value,
    who: String,
) -> Result<(), ApiError> {
    let (store, id, body) = (state.store.clone(), id.to_string(), body.to_string());
    tokio::task::spawn_blocking(move || {
        store.add_decision(kind, &id, &body, &who, crate::decisions::now())
    })
    .await
    .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(())
}

/// What an operator's form records: an exception or a tag.
#[derive(Clone, Copy)]
enum Kind {
    Exception,
    Tag,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Exception => "exception",
            Kind::Tag => "tag",
        }
    }

    /// The form's fields it takes.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Exception => &[
                "state",
                "reason",
                "owner",
                "expires",
                "site",
                "host",
                "os",
                "package",
                "below_version",
            ],
            Kind::Tag => &["name", "reason"],
        }
    }

    /// The decision the form gives (`user` its default owner, or its
    /// author), checked as the file's entries are.
    fn body(self, form: &BTreeMap<String, String>, id: &str, user: &str) -> Result<Value, String> {
        let mut body = fields(form, self.keys());
        body.insert("vulnerability".into(), id.into());
        let body = match self {
            Kind::Exception => {
                body.entry("owner").or_insert_with(|| user.into());
                let body = Value::Object(body);
                pakiti_decisions::file::exception_from_json(&body)?;
                body
            }
            Kind::Tag => {
                body.insert("author".into(), user.into());
                let body = Value::Object(body);
                pakiti_decisions::file::tag_from_json(&body)?;
                body
            }
        };
        Ok(body)
    }
}

/// Records the decision an operator's form gives.
async fn add(
    state: AppState,
    viewer: Viewer,
    id: String,
    headers: HeaderMap,
    form: BTreeMap<String, String>,
    kind: Kind,
) -> Result<Response, ApiError> {
    if let Some(r) = refused(&state, &viewer, &headers, &form) {
        return Ok(r);
    }
    if !valid_id(&id) {
        return Ok(bad_request(
            &state,
            "That id holds characters no CVE or advisory id has.",
        ));
    }
    let user = viewer.user.clone().unwrap_or_default();
    match kind.body(&form, &id, &user) {
        Ok(body) => {
            record(&state, kind.name(), &id, body, user).await?;
            Ok(back(&id))
        }
        Err(why) => Ok(bad_request(
            &state,
            &format!("The {} was not recorded: {why}.", kind.name()),
        )),
    }
}

/// `POST /vulnerabilities/{id}/exceptions`: records an exception.
pub(crate) async fn add_exception(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    add(state, viewer, id, headers, form, Kind::Exception).await
}

/// `POST /vulnerabilities/{id}/tags`: tags it.
pub(crate) async fn add_tag(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    add(state, viewer, id, headers, form, Kind::Tag).await
}

/// `POST /vulnerabilities/{id}/decisions/{n}/remove`: removes a decision
/// recorded in the web UI (the file's are changed in the file).
pub(crate) async fn remove(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path((id, n)): Path<(String, i64)>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    if let Some(r) = refused(&state, &viewer, &headers, &form) {
        return Ok(r);
    }
    let user = viewer.user.clone().unwrap_or_default();
    let store = state.store.clone();
    let (vid, found) = tokio::task::spawn_blocking(move || {
        let of = store
            .decisions()?
            .into_iter()
            .find(|d| d.id == n)
            .map(|d| d.vulnerability);
        match of {
            Some(v) if v == id => {
                Ok((v, store.remove_decision(n, &user, crate::decisions::now())?))
            }
            _ => Ok((id, false)),
        }
    })
    .await
    .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e: pakiti_store::StoreError| error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    if !found {
        return Ok(message(
            &state,
            StatusCode::NOT_FOUND,
            "No such decision",
            "That decision is not recorded (any more) for this vulnerability.",
        ));
    }
    Ok(back(&vid))
}

fn audit_json(e: &pakiti_store::AuditEntry) -> Value {
    let parse = |s: &Option<String>| {
        s.as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
    };
    json!({
        "at": crate::web::iso(Some(e.at)),
        "who": e.who,
        "action": e.action,
        "kind": e.kind,
        "vulnerability": e.vulnerability,
        "before": parse(&e.before),
        "after": parse(&e.after),
    })
}

/// A vulnerability's audit log, oldest first. Blocking.
pub(crate) fn audit_of(
    store: &dyn pakiti_store::Store,
    id: &str,
) -> Result<Vec<Value>, pakiti_store::StoreError> {
    Ok(store
        .decision_audit(Some(id))?
        .iter()
        .map(audit_json)
        .collect())
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditQuery {
    format: String,
}

/// `GET /vulnerabilities/{id}/audit`: JSON, or `?format=csv`.
pub(crate) async fn audit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: crate::web::QueryResult<AuditQuery>,
) -> Result<Response, ApiError> {
    let q = crate::web::query(q)?;
    let store = state.store.clone();
    let key = id.clone();
    let entries = tokio::task::spawn_blocking(move || store.decision_audit(Some(&key)))
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    match q.format.as_str() {
        "" | "json" => Ok(Json(json!({"vulnerability": id, "audit": entries.iter().map(audit_json).collect::<Vec<_>>()})).into_response()),
        "csv" => Ok(crate::export::csv(
            &["at", "who", "action", "kind", "vulnerability", "before", "after"],
            entries.iter().map(|e| {
                vec![
                    crate::web::iso(Some(e.at)),
                    e.who.clone(),
                    e.action.clone(),
                    e.kind.clone(),
                    e.vulnerability.clone(),
                    e.before.clone().unwrap_or_default(),
                    e.after.clone().unwrap_or_default(),
                ]
            }),
            &format!("{id}-audit.csv"),
        )),
        other => Err(error(StatusCode::BAD_REQUEST, format!("format={other:?}: expected csv or json"))),
    }
}
