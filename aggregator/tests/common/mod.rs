//! What the router-level aggregator tests share: a real SQLite store behind
//! the real router (no socket), a valid report to mutate, and requests.
#![allow(dead_code)]

use std::io::Write as _;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use pakiti_aggregator::app::{app, AppState};
use pakiti_aggregator::config::WebAccess;
use pakiti_aggregator::config::{File, Settings};
use pakiti_store::Store;

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub state: AppState,
}

pub fn fixture(config: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(pakiti_store::SqliteStore::open(&dir.path().join("a.db")).unwrap());
    let file: File = toml::from_str(config).unwrap();
    let state = AppState::new(
        store,
        Arc::new(Settings::from_file(&file).unwrap()),
        WebAccess::Open,
    );
    Fixture { _dir: dir, state }
}

pub fn valid() -> Value {
    json!({
        "schema_version": 1,
        "host": {"hostname": "web-01", "machine_id": "0123456789abcdef0123456789abcdef", "site": "SiteA"},
        "os": {"id": "debian", "version": "12", "name": "Debian GNU/Linux 12 (bookworm)"},
        "kernel": "6.1.0-18-amd64",
        "arch": "x86_64",
        "manager": "apt",
        "exporter": {"version": "0.1.0", "revision": "abc"},
        "collected_at": "2026-11-26T10:00:00Z",
        "collection_duration_seconds": 1.5,
        "reboot": {"required": false, "packages": []},
        "metadata_updated_at": "2026-11-26T09:00:00Z",
        "security_metadata_available": true,
        "installed_packages": 500,
        "updates": [
            {"name": "openssl", "arch": "amd64", "installed_version": "3.0.11-1", "candidate_version": "3.0.11-2",
             "security": true, "severity": "unknown", "held": false},
            {"name": "bash", "arch": "amd64", "installed_version": "5.2-1", "candidate_version": "5.2-2",
             "security": false, "severity": "none", "held": true, "held_reason": "hold"}
        ]
    })
}

pub fn with(mutate: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = valid();
    mutate(&mut v);
    serde_json::to_vec(&v).unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub async fn post(
    state: &AppState,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = Request::post("/api/v1/reports");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app(state.clone())
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

pub const JSON: (&str, &str) = ("content-type", "application/json");

pub fn sha(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub async fn get_json(state: &AppState, path: &str) -> (StatusCode, Value) {
    let resp = app(state.clone())
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = to_bytes(resp.into_body(), 1 << 24).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}
