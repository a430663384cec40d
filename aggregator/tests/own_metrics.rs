//! The aggregator's own metrics when its store fails: no invented values.

use axum::body::{to_bytes, Body};
use axum::http::Request;
use tower::ServiceExt;

/// A store that never answered gives no host counts in the aggregator's
/// own metrics, never zeros (zero hosts would read as an empty fleet).
#[tokio::test]
async fn own_metrics_invent_no_hosts_when_the_store_never_answered() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let store: Arc<dyn pakiti_store::Store> =
        Arc::new(pakiti_store::SqliteStore::open(&db).unwrap());
    // The file goes away under the store: every new reader finds no tables.
    for f in ["a.db", "a.db-wal", "a.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    let file: pakiti_aggregator::config::File = toml::from_str("").unwrap();
    let state = pakiti_aggregator::app::AppState::new(
        store,
        Arc::new(pakiti_aggregator::config::Settings::from_file(&file).unwrap()),
        pakiti_aggregator::config::WebAccess::Open,
    );
    let resp = pakiti_aggregator::app::app(state)
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&to_bytes(resp.into_body(), 1 << 20).await.unwrap()).into_owned();
    assert!(text.contains("pakiti_aggregator_store_up 0\n"), "{text}");
    assert!(!text.contains("pakiti_aggregator_hosts{"), "{text}");
}
