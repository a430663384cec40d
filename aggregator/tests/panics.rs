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
