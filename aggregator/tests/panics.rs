//! A handler that panics (a bug: input nobody foresaw) answers 500, is
//! counted, and the aggregator serves on, for that route and every other.

mod common;
mod process;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::routing::get;
use tower::ServiceExt;

use common::*;
use pakiti_aggregator::app::with_defences;

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_aggregator_serves_on() {
    let f = fixture("");
    let routes = axum::Router::new()
        .route(
            "/boom",
            get(|| async {
                let empty: Vec<u8> = Vec::new();
                format!("{}", empty[1])
            }),
        )
        .route("/fine", get(|| async { "fine" }));
    let app = with_defences(routes, f.state.clone());
    for _ in 0..2 {
        let resp = app
            .clone()
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v["error"].as_str().unwrap().contains("serves on"), "{v}");
        let resp = app
            .clone()
            .oneshot(Request::get("/fine").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    // Counted in the aggregator's own metrics, which the real app serves.
    let resp = pakiti_aggregator::app::app(f.state.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&to_bytes(resp.into_body(), 1 << 20).await.unwrap()).into_owned();
    assert!(text.contains("pakiti_aggregator_panics_total 2"), "{text}");
}

/// The real binary, served by its own HTTP stack: a panicking handler
/// (debug builds' test route) answers 500, is logged, and the process
/// serves on.
#[test]
fn the_running_binary_survives_a_panicking_handler() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("aggregator.log");
    let (mut server, base) = process::start_logged(
        &dir.path().join("pakiti.db"),
        std::path::Path::new("/dev/null"),
        &[("PAKITI_AGGREGATOR_TEST_PANIC", "1")],
        std::fs::File::create(&log).unwrap().into(),
    );
    for _ in 0..3 {
        let resp = reqwest::blocking::get(format!("{base}/-/test-panic")).unwrap();
        assert_eq!(resp.status().as_u16(), 500);
        let ready = reqwest::blocking::get(format!("{base}/-/ready")).unwrap();
        assert_eq!(ready.status().as_u16(), 200);
    }
    let metrics = reqwest::blocking::get(format!("{base}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("pakiti_aggregator_panics_total 3"),
        "{metrics}"
    );
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "the process still runs"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("the test asked for a panic"),
        "the panic is logged: {logged}"
    );
}

/// Release builds unwind: with `panic = "abort"` the first panic in a
/// handler would end the process, whatever the handler's guard.
#[test]
fn release_builds_unwind() {
    let manifest: toml::Table = toml::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml")).unwrap(),
    )
    .unwrap();
    let profiles = manifest.get("profile");
    for name in ["release", "dev", "bench"] {
        let panic = profiles
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("panic"))
            .and_then(|p| p.as_str());
        assert!(
            matches!(panic, None | Some("unwind")),
            "profile.{name}.panic = {panic:?}"
        );
    }
}
