//! HTTP: `/metrics`, `/api/v1/report`, `/`, `/-/healthy`. Handlers only copy
//! what the scheduler rendered; no request ever triggers a collection.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pakiti_httpserver::WebConfig;

use pakiti_httpserver::scrape;
use pakiti_service::exposition::Format;

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
        .layer(axum::middleware::from_fn_with_state(
            shared.own.http.clone(),
            scrape::observe,
        ))
        .with_state(AppState { shared });
    if let Some(auth) = &web.auth {
        router = pakiti_httpserver::basic_auth(router, auth.clone(), "pakiti-exporter");
    }
    pakiti_httpserver::headers(router, web)
}

/// The snapshot's families as the scheduler rendered them, then the
/// exporter's own, in the format the scraper prefers, gzipped when it
/// accepts gzip.
async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let cur = s.shared.current();
    let format = scrape::format_of(&headers);
    let part = match format {
        Format::Text => &cur.metrics,
        Format::OpenMetrics(_) => &cur.metrics_openmetrics,
    };
    let own = s.shared.own.render_end(format);
    let mut text = Vec::with_capacity(part.len() + own.len());
    text.extend_from_slice(part);
    text.extend_from_slice(own.as_bytes());
    scrape::exposition(&headers, format, text)
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

        // Prometheus asks for gzip, and OpenMetrics; the snapshot's
        // families come first, the exporter's own health after them.
        let shared = shared_with_report();
        let router = app(shared.clone(), &WebConfig::none());
        let snapshot_part = String::from_utf8(shared.current().metrics.to_vec()).unwrap();
        let (_, plain) = get_path(router.clone(), "/metrics", None).await;
        assert!(plain.starts_with(&snapshot_part));
        assert!(!plain.contains("# EOF"));
        let req = axum::http::Request::get("/metrics")
            .header(header::ACCEPT_ENCODING, "gzip")
            .header(
                header::ACCEPT,
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            )
            .body(Body::empty())
            .unwrap();
        let resp = router.oneshot(req).await.unwrap();
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        let body = to_bytes(resp.into_body(), 1 << 24).await.unwrap();
        let om =
            String::from_utf8(pakiti_service::gzip::decompress(&body, 1 << 24).unwrap()).unwrap();
        assert!(om.starts_with(std::str::from_utf8(&shared.current().metrics_openmetrics).unwrap()));
        assert!(om.ends_with("\n# EOF\n"), "{om}");
        assert_eq!(om.matches("# EOF").count(), 1);
        for line in [
            "pakiti_updates_pending 3\n",
            "# TYPE pakiti_exporter_collections counter\n",
            "pakiti_exporter_collections_total{result=\"success\"} 1\n",
            "pakiti_exporter_http_requests_total{code=\"200\",route=\"/metrics\"} 1\n",
            "# TYPE pakiti_exporter_http_request_duration_seconds histogram\n",
        ] {
            assert!(om.contains(line), "{line:?} not in\n{om}");
        }
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(
                om.contains("# TYPE process_start_time_seconds gauge\n"),
                "{om}"
            );
        }
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
