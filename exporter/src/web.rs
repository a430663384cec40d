//! HTTP: `/metrics`, `/api/v1/report`, `/`, `/-/healthy`. Handlers only copy
//! what the scheduler rendered; no request ever triggers a collection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tower::Service;

use crate::metrics::CONTENT_TYPE;
use crate::snapshot::Shared;
use crate::webconfig::{BasicAuth, WebConfig};

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
        router = router.layer(middleware::from_fn_with_state(auth.clone(), require_auth));
    }
    for (name, value) in &web.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            router = router.layer(middleware::from_fn(move |req: Request, next: Next| {
                let (n, v) = (n.clone(), v.clone());
                async move {
                    let mut resp = next.run(req).await;
                    resp.headers_mut().insert(n, v);
                    resp
                }
            }));
        }
    }
    router
}

async fn require_auth(State(auth): State<Arc<BasicAuth>>, req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ok = tokio::task::spawn_blocking(move || auth.check(header.as_deref()))
        .await
        .unwrap_or(false);
    if ok {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"pakiti-exporter\"")],
            "Unauthorized\n",
        )
            .into_response()
    }
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

/// Turns `:10150`, `0.0.0.0:10150`, `[::1]:10150` or `localhost:10150` into a listener.
pub async fn bind(address: &str) -> anyhow::Result<TcpListener> {
    if let Some(port) = address.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .with_context(|| format!("--web.listen-address {address:?}: {port:?} is not a port"))?;
        // All interfaces: dual-stack where IPv6 exists, else IPv4.
        return match TcpListener::bind(("::", port)).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(("0.0.0.0", port))
                .await
                .with_context(|| format!("cannot listen on {address}")),
        };
    }
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))
}

/// Serves `router` on `listener`, with TLS when configured, until the process ends.
pub async fn serve(listener: TcpListener, router: Router, web: &WebConfig) -> anyhow::Result<()> {
    let tls = web.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(TokioIo::new(stream), router, peer).await,
                Some(acceptor) => {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls_stream)) => {
                            serve_connection(TokioIo::new(tls_stream), router, peer).await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

async fn serve_connection<I>(io: TokioIo<I>, router: Router, peer: SocketAddr)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let mut router = router.clone();
        async move { router.call(req.map(Body::new)).await }
    });
    if let Err(e) = auto::Builder::new(TokioExecutor::new())
        .serve_connection(io, service)
        .await
    {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UpdateInfo;
    use crate::snapshot::{tests::sample_report, Attempt, HostFacts};
    use axum::body::to_bytes;
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
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
            .unwrap();
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
        let web = crate::webconfig::parse(
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
