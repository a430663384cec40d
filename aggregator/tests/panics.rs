//! A handler that panics (a bug: input nobody foresaw) answers 500, is
//! counted, and the aggregator serves on, for that route and every other.

mod common;

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
/// (debug builds' test route) answers 500 and the process serves on.
#[test]
fn the_running_binary_survives_a_panicking_handler() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pakiti-aggregator"))
        .args(["--config.file", "/dev/null", "--storage.url"])
        .arg(dir.path().join("pakiti.db"))
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .env("PAKITI_AGGREGATOR_TEST_PANIC", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::blocking::get(format!("{base}/-/ready"))
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(
            Instant::now() < deadline,
            "the aggregator did not become ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..3 {
        let resp = reqwest::blocking::get(format!("{base}/-/test-panic")).unwrap();
        assert_eq!(resp.status().as_u16(), 500);
        assert_eq!(
            reqwest::blocking::get(format!("{base}/-/ready"))
                .unwrap()
                .status()
                .as_u16(),
            200
        );
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
        child.try_wait().unwrap().is_none(),
        "the process is still running"
    );
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("the test asked for a panic"),
        "the panic is logged: {log}"
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
