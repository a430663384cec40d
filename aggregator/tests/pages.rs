//! Every page and every template, rendered with representative data through
//! the real router: a host with updates of every kind, advisories and CVEs,
//! two sites, forwarded statistics. Debug builds render templates strictly
//! (a value a template names but does not get is an error), so a broken
//! template fails here, not only in a browser.

mod common;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;

use common::*;
use pakiti_aggregator::app::app;

async fn page(state: &pakiti_aggregator::app::AppState, path: &str) -> (StatusCode, String) {
    let resp = app(state.clone())
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = to_bytes(resp.into_body(), 1 << 24).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn every_page_renders_its_data() {
    let config = format!(
        "[[client]]\nname = \"central\"\ntoken_sha256 = \"{}\"\nsites = [\"*\"]\nrole = \"server\"\n",
        sha("server-token")
    );
    let f = fixture(&config);
    let push = |body: Vec<u8>| {
        let state = f.state.clone();
        async move {
            let req = Request::post("/api/v1/forward/reports")
                .header("content-type", "application/json")
                .header("authorization", "Bearer server-token")
                .body(Body::from(body))
                .unwrap();
            app(state).oneshot(req).await.unwrap().status()
        }
    };
    let first = with(|v| {
        v["updates"][0]["advisories"] = json!(["DSA-5555-1"]);
        v["updates"][0]["cves"] = json!(["CVE-2026-0001"]);
        v["updates"][0]["severity"] = "critical".into();
        v["reboot"] = json!({"required": true, "packages": ["linux-image-amd64"]});
    });
    assert_eq!(push(first).await, StatusCode::OK);
    let second = with(|v| {
        v["host"]["hostname"] = "db-01".into();
        v["host"]["machine_id"] = "fedcba9876543210fedcba9876543210".into();
        v["host"]["site"] = "SiteB".into();
        v["os"] = json!({"id": "rocky", "version": "9.4"});
        v["manager"] = "dnf".into();
    });
    assert_eq!(push(second).await, StatusCode::OK);
    let stats = r#"{"schema_version":1,"generated_at":"2026-11-26T10:00:00Z","sites":[{"site":"SiteC","hosts":3,"hosts_with_pending_updates":2,"hosts_with_security_updates":{"critical":1,"important":0,"moderate":0,"low":0,"unknown":1},"hosts_reboot_required":1,"hosts_stale":0,"updates_pending":7,"security_updates_pending":{"critical":1,"important":0,"moderate":0,"low":0,"unknown":2},"oldest_security_update_pending_since":"2026-11-20T00:00:00Z"}]}"#;
    let req = Request::post("/api/v1/forward/stats")
        .header("content-type", "application/json")
        .header("authorization", "Bearer server-token")
        .body(Body::from(stats))
        .unwrap();
    let resp = app(f.state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // (path, words the page must show)
    let pages: [(&str, &[&str]); 13] = [
        ("/", &["web-01", "SiteA", "SiteB"]),
        ("/hosts", &["web-01", "db-01", "rocky"]),
        ("/hosts?security=yes&sort=pending&order=desc", &["web-01"]),
        (
            "/hosts/web-01?site=SiteA",
            &[
                "openssl",
                "DSA-5555-1",
                "CVE-2026-0001",
                "linux-image-amd64",
            ],
        ),
        ("/hosts/web-01?site=SiteA&format=csv", &["openssl,amd64"]),
        ("/hosts/web-01?site=SiteA&format=json", &["\"openssl\""]),
        ("/packages/openssl", &["web-01", "db-01"]),
        ("/packages/openssl?format=csv", &["web-01"]),
        ("/advisories/DSA-5555-1", &["web-01"]),
        ("/cves/CVE-2026-0001", &["web-01"]),
        ("/sites", &["SiteC", "central"]),
        ("/hosts?format=json", &["db-01"]),
        (
            "/hosts?format=csv",
            &["host,site,os,pending,security", "db-01"],
        ),
    ];
    for (path, words) in pages {
        let (status, body) = page(&f.state, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        for w in words {
            assert!(body.contains(w), "{path} lacks {w:?}:\n{body}");
        }
    }
    // The message page, for a host nobody reported.
    let (status, body) = page(&f.state, "/hosts/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("Unknown host"), "{body}");
}

#[tokio::test]
async fn errors_of_pages_are_pages_and_errors_of_the_api_are_json() {
    let f = fixture("");
    let kind = |path: &'static str| {
        let state = f.state.clone();
        async move {
            let resp = app(state)
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = resp.status();
            let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
            let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
            (status, ct, String::from_utf8_lossy(&body).into_owned())
        }
    };
    for (path, status) in [
        ("/hosts?sort=bogus", StatusCode::BAD_REQUEST),
        ("/hosts?nonsense=1", StatusCode::BAD_REQUEST),
        ("/no/such/page", StatusCode::NOT_FOUND),
        ("/cves/CVE-2024-0001?after=x", StatusCode::BAD_REQUEST),
    ] {
        let (s, ct, body) = kind(path).await;
        assert_eq!(s, status, "{path}: {body}");
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        assert!(body.contains("<html"), "{path}: {body}");
    }
    let (_, _, body) = kind("/no/such/page").await;
    assert!(body.contains("is not a page or an endpoint"), "{body}");
    for (path, status) in [
        ("/api/v1/hosts?limit=0", StatusCode::BAD_REQUEST),
        ("/api/v1/no-such-endpoint", StatusCode::NOT_FOUND),
        ("/hosts?sort=bogus&format=json", StatusCode::BAD_REQUEST),
    ] {
        let (s, ct, body) = kind(path).await;
        assert_eq!(s, status, "{path}: {body}");
        assert!(ct.starts_with("application/json"), "{path}: {ct}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(v["error"].is_string(), "{path}: {body}");
    }
}

#[tokio::test]
async fn filters_take_the_same_values_in_the_pages_and_the_api() {
    let f = fixture("");
    let (s, b) = post(&f.state, &[JSON], with(|_| {})).await;
    assert!(s.is_success(), "{b}");
    for v in ["yes", "true", "1"] {
        let (s, html) = page(&f.state, &format!("/hosts?security={v}")).await;
        assert_eq!(s, StatusCode::OK, "{v}: {html}");
        assert!(html.contains("web-01"), "{v}");
        let (s, json) = get_json(&f.state, &format!("/api/v1/hosts?security={v}")).await;
        assert_eq!(s, StatusCode::OK, "{v}: {json}");
        assert_eq!(json["total"], 1, "{v}: {json}");
    }
    for v in ["no", "false", "0"] {
        let (_, json) = get_json(&f.state, &format!("/api/v1/hosts?security={v}")).await;
        assert_eq!(json["total"], 0, "{v}: {json}");
        let (_, csv) = page(&f.state, &format!("/hosts?security={v}&format=csv")).await;
        assert_eq!(csv.lines().count(), 1, "{v}: only the header: {csv}");
    }
}

#[tokio::test]
async fn the_overview_says_how_fresh_it_is_and_when_nothing_has_reported() {
    let f = fixture("");
    let (s, empty) = page(&f.state, "/").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        empty.matches("No host has reported yet.").count(),
        3,
        "{empty}"
    );
    assert!(
        !empty.contains("No security update is pending anywhere"),
        "{empty}"
    );
    let (s, b) = post(&f.state, &[JSON], with(|_| {})).await;
    assert!(s.is_success(), "{b}");
    // The fleet copy is reloaded at most every ten times its last load
    // took: within that, a read may still get the empty copy.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let one = loop {
        let (_, one) = page(&f.state, "/").await;
        if one.contains("Latest report") || std::time::Instant::now() > deadline {
            break one;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(one.contains("Latest report received <time"), "{one}");
    assert!(!one.contains("No host has reported yet."), "{one}");
}
