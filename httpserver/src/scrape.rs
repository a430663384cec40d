//! Answering a scraper: the exposition format it prefers (`Accept`), gzip
//! when it accepts it (`Accept-Encoding`), and each request counted and
//! timed by route and status code (`RequestMetrics`, named by the binary that
//! registers it).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pakiti_service::exposition::Format;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Whether `Accept-Encoding` accepts gzip (`gzip` or `x-gzip`, not weighted
/// `q=0`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip"))
                && !refused
        })
}

/// The exposition format the scraper's `Accept` header prefers.
pub fn format_of(headers: &HeaderMap) -> Format {
    let accept: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    Format::negotiate((!accept.is_empty()).then(|| accept.join(",")).as_deref())
}

/// The headers of an exposition: its content type, what it varies by, and
/// gzip when `gzip`.
pub fn exposition_headers(resp: &mut Response, format: Format, gzip: bool) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static("accept, accept-encoding"),
    );
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
}

/// A whole exposition as the scraper asked for it.
pub fn exposition(headers: &HeaderMap, format: Format, text: Vec<u8>) -> Response {
    let gzip = accepts_gzip(headers);
    let body = if gzip {
        pakiti_service::gzip::compress(&text)
    } else {
        text
    };
    let mut resp = body.into_response();
    exposition_headers(&mut resp, format, gzip);
    resp
}

/// HTTP requests by route and status code, and their duration by route.
#[derive(Clone)]
pub struct RequestMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl RequestMetrics {
    /// Registers the two families in `registry` under the names given
    /// (`…_http_requests_total`, `…_http_request_duration_seconds`), the
    /// duration with `buckets` (upper bounds, seconds).
    pub fn register(
        registry: &Registry,
        requests: &str,
        duration: &str,
        buckets: Vec<f64>,
    ) -> prometheus::Result<Self> {
        let m = RequestMetrics {
            requests: IntCounterVec::new(
                Opts::new(requests, "HTTP requests answered, by route (the path pattern; unmatched for none) and status code."),
                &["route", "code"],
            )?,
            duration: HistogramVec::new(
                HistogramOpts::new(duration, "Time to answer an HTTP request (until the body starts), by route.").buckets(buckets),
                &["route"],
            )?,
        };
        registry.register(Box::new(m.requests.clone()))?;
        registry.register(Box::new(m.duration.clone()))?;
        Ok(m)
    }

    fn observe(&self, route: &str, code: &str, secs: f64) {
        self.requests.with_label_values(&[route, code]).inc();
        self.duration.with_label_values(&[route]).observe(secs);
    }
}

/// The middleware that counts: add it with `Router::layer`, which runs it
/// after routing, so the route is the matched pattern (`/hosts/{hostname}`),
/// never the path a client made up.
pub async fn observe(State(m): State<RequestMetrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let start = Instant::now();
    let resp = next.run(req).await;
    m.observe(
        &route,
        resp.status().as_str(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn requests_are_counted_by_route_pattern_and_code() {
        let registry = Registry::new();
        let m = RequestMetrics::register(
            &registry,
            "t_requests_total",
            "t_duration_seconds",
            vec![0.1],
        )
        .unwrap();
        let app = Router::new()
            .route("/hosts/{name}", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(m, observe));
        for path in ["/hosts/a", "/hosts/b", "/nothing/here"] {
            let req = Request::get(path).body(axum::body::Body::empty()).unwrap();
            app.clone().oneshot(req).await.unwrap();
        }
        let mut e = pakiti_service::exposition::Exposition::with_capacity(1024);
        e.families(&registry.gather());
        let text = e.finish();
        assert!(
            text.contains("t_requests_total{code=\"200\",route=\"/hosts/{name}\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("t_requests_total{code=\"404\",route=\"unmatched\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("t_duration_seconds_count{route=\"/hosts/{name}\"} 2\n"),
            "{text}"
        );
    }

    #[test]
    fn gzip_is_taken_unless_refused() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(accepts_gzip(&h("gzip")));
        assert!(accepts_gzip(&h("deflate, x-gzip;q=0.5")));
        assert!(accepts_gzip(&h("identity, GZIP;q=0.5")));
        assert!(!accepts_gzip(&h("gzip;q=0")));
        assert!(!accepts_gzip(&h("gzip; q=0.0")));
        assert!(!accepts_gzip(&h("identity")));
        assert!(!accepts_gzip(&h("br, deflate")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
