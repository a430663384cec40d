//! HTTP: `/metrics`, `/api/v1/report`, `/`, `/-/healthy`. Handlers only copy
//! what the scheduler rendered; no request ever triggers a collection.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pakiti_httpserver::WebConfig;

use crate::metrics::CONTENT_TYPE;
use crate::snapshot::Shared;

#[derive(Clone)]
struct AppState {
    shared: Arc<Shared>,
}

/// The exporter's routes, without any socket: tests call it directly.
pub fn app(shared: Arc<Shared>, web: &WebConfig) -> Router {
    let mut router = Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/report", get(report))
        .route("/", get(landing))
        .route("/-/healthy", get(|| async { "OK\n" }))
        .with_state(AppState { shared });
    if let Some(auth) = &web.auth {
        router = pakiti_httpserver::basic_auth(router, auth.clone(), "pakiti-exporter");
    }
    pakiti_httpserver::headers(router, web)
}

async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let cur = s.shared.current();
    let gzip = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|enc| {
            let mut parts = enc.trim().split(';');
            parts.next() == Some("gzip") && !parts.any(|p| p.trim().replace(' ', "") == "q=0")
        });
    if gzip {
        (
            [
                (header::CONTENT_TYPE, CONTENT_TYPE),
                (header::CONTENT_ENCODING, "gzip"),
            ],
            cur.metrics_gzip.clone(),
        )
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, CONTENT_TYPE)], cur.metrics.clone()).into_response()
    }
}

async fn report(State(s): State<AppState>) -> Response {
    let cur = s.shared.current();
    match &cur.report_json {
        Some(body) => ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response(),
        None => {
            let last_error = cur
                .snapshot
                .last_attempt
                .as_ref()
                .and_then(|a| a.error.clone());
            let body = serde_json::json!({
                "error": "no collection has succeeded yet",
                "last_error": last_error,
            });
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}

async fn landing(State(s): State<AppState>) -> Html<String> {
    let cur = s.shared.current();
    let snap = &cur.snapshot;
    let status = match (&snap.report, &snap.last_attempt) {
        (_, Some(a)) if a.error.is_some() => format!(
            "the latest collection failed: {}",
            html_escape(a.error.as_deref().unwrap_or(""))
        ),
        (Some(r), _) => format!(
            "{} pending updates, {} of them security updates, {} held",
            r.inventory.updates.len(),
            r.inventory
                .updates
                .iter()
                .filter(|u| u.is_security())
                .count(),
            r.inventory.held_count()
        ),
        _ => "the first collection is running".into(),
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>pakiti exporter</title></head>\
         <body><h1>pakiti exporter</h1><p>{host}: {status}.</p>\
         <ul><li><a href=\"metrics\">metrics</a></li><li><a href=\"api/v1/report\">report (JSON)</a></li>\
         <li><a href=\"-/healthy\">health</a></li></ul><p>version {version}</p></body></html>",
        host = html_escape(snap.host.identity.hostname.as_str()),
        version = crate::VERSION,
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UpdateInfo;
    use crate::snapshot::{tests::sample_report, Attempt, HostFacts};
    use axum::body::{to_bytes, Body};
    use std::time::Duration;
    use std::time::SystemTime;
    use tower::ServiceExt;

    async fn get_path(router: Router, path: &str, auth: Option<&str>) -> (StatusCode, String) {
        let mut req = axum::http::Request::get(path);
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let resp = router
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = to_bytes(resp.into_body(), 1 << 24).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn shared_with_report() -> Arc<Shared> {
        let r = sample_report();
        let shared = Arc::new(Shared::new(
            HostFacts::from_report(&r),
            UpdateInfo::Security,
        ));
        shared.record(
            Attempt {
                started_at: SystemTime::now(),
                duration: Duration::from_secs(1),
                error: None,
            },
            Some(r),
        );
        shared
    }

    #[tokio::test]
    async fn endpoints_serve_the_snapshot() {
        let router = app(shared_with_report(), &WebConfig::none());
        let (status, body) = get_path(router.clone(), "/metrics", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("pakiti_updates_pending 3"));
        let (status, body) = get_path(router.clone(), "/api/v1/report", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            pakiti_report::from_json(body.as_bytes()).unwrap(),
            sample_report()
        );
        let (status, body) = get_path(router.clone(), "/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("3 pending updates, 1 of them security updates, 1 held"),
            "{body}"
        );
        let (status, _) = get_path(router.clone(), "/-/healthy", None).await;
        assert_eq!(status, StatusCode::OK);

        // Prometheus asks for gzip; the body is the same text, compressed once per collection.
        let req = axum::http::Request::get("/metrics")
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Body::empty())
            .unwrap();
        let (_, plain) = get_path(router.clone(), "/metrics", None).await;
        let resp = router.oneshot(req).await.unwrap();
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
        let body = to_bytes(resp.into_body(), 1 << 24).await.unwrap();
        let text =
            String::from_utf8(pakiti_service::gzip::decompress(&body, 1 << 24).unwrap()).unwrap();
        assert_eq!(text, plain);
    }

    #[tokio::test]
    async fn the_report_is_503_until_a_collection_succeeds() {
        let shared = Arc::new(Shared::new(
            HostFacts::from_report(&sample_report()),
            UpdateInfo::Security,
        ));
        let (status, body) =
            get_path(app(shared, &WebConfig::none()), "/api/v1/report", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("no collection has succeeded yet"));
    }

    #[tokio::test]
    async fn basic_auth_guards_every_endpoint() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let web = pakiti_httpserver::webconfig::parse(
            &format!("basic_auth_users:\n  prom: '{hash}'\n"),
            std::path::Path::new("."),
        )
        .unwrap();
        let router = app(shared_with_report(), &web);
        for path in ["/metrics", "/api/v1/report", "/"] {
            let (status, body) = get_path(router.clone(), path, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            assert!(!body.contains("pakiti_updates_pending"));
        }
        let (status, _) = get_path(router, "/metrics", Some("Basic cHJvbTpwdw==")).await;
        assert_eq!(status, StatusCode::OK);
    }
}
