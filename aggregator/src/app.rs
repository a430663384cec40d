//! The aggregator's routes, composed: `app(state)` builds them without a
//! socket. What each road does lives in its module: `receive` (reports in,
//! with trust), `read` (the hosts API), `federate`, `web` (the pages); the
//! probes and the aggregator's own `/metrics` are here.

use std::time::SystemTime;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use pakiti_httpserver::scrape;

pub use crate::receive::{authenticates_itself, store_report, store_report_from};
pub use crate::state::{error, ApiError, AppState};

use crate::read::{all_hosts, is_stale};
use crate::{affected, federate, read, receive, vulnerabilities, web};

pub fn app(state: AppState) -> Router {
    // What shows the fleet to people is behind [web] access; what machines use is not.
    let mut guarded = Router::new()
        .route("/", get(web::overview))
        .route("/hosts", get(crate::hosts_page::hosts))
        .route("/hosts/{hostname}", get(crate::host_page::host))
        .route("/packages/{name}", get(affected::package))
        .route("/advisories/{id}", get(affected::advisory))
        .route("/cves/{id}", get(affected::cve))
        .route("/vulnerabilities", get(crate::exposure::page_list))
        .route("/vulnerabilities/{id}", get(crate::exposure::page_one))
        .route(
            "/vulnerabilities/{id}/exceptions",
            post(crate::decide::add_exception),
        )
        .route("/vulnerabilities/{id}/tags", post(crate::decide::add_tag))
        .route(
            "/vulnerabilities/{id}/decisions/{n}/remove",
            post(crate::decide::remove),
        )
        .route("/vulnerabilities/{id}/audit", get(crate::decide::audit))
        .route("/api/v1/vulnerabilities", get(crate::exposure::api_list))
        .route(
            "/api/v1/vulnerabilities/{id}",
            get(crate::exposure::api_one),
        )
        .route("/api/v1/hosts", get(read::hosts))
        .route("/api/v1/hosts/{hostname}", get(read::host))
        .route(
            "/api/v1/hosts/{hostname}/vulnerabilities",
            get(vulnerabilities::host),
        )
        .route("/api/v1/sites", get(read::sites))
        .route("/api/v1/packages/{name}", get(crate::packages::api))
        .route("/sites", get(web::sites))
        .route("/pages.js", get(web::script));
    let mut machines = Router::new()
        .route("/api/v1/reports", post(receive::push))
        .route("/api/v1/forward/reports", post(receive::forwarded_report))
        .route("/api/v1/forward/stats", post(receive::forwarded_stats));
    if state.settings.federate_behind_access {
        guarded = guarded.route("/federate", get(federate::federate));
    } else {
        machines = machines.route("/federate", get(federate::federate));
    }
    let guarded = guarded.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        web::access,
    ));
    let routes = machines
        .route("/metrics", get(own_metrics))
        .route("/-/healthy", get(|| async { "OK\n" }))
        .route("/-/ready", get(ready))
        .merge(guarded);
    with_defences(test_panic(routes), state)
}

/// Debug builds only, and only with `PAKITI_AGGREGATOR_TEST_PANIC=1` in the
/// environment: `GET /-/test-panic` panics, so that a test can show the
/// running binary survives a panicking handler. Release builds have no such
/// route.
#[cfg(debug_assertions)]
fn test_panic(routes: Router<AppState>) -> Router<AppState> {
    if std::env::var("PAKITI_AGGREGATOR_TEST_PANIC").as_deref() != Ok("1") {
        return routes;
    }
    routes.route("/-/test-panic", get(panics))
}

#[cfg(debug_assertions)]
async fn panics() -> &'static str {
    panic!("the test asked for a panic")
}

#[cfg(not(debug_assertions))]
fn test_panic(routes: Router<AppState>) -> Router<AppState> {
    routes
}

/// The layers every route gets: unknown routes are 404, a page's error is a
/// page (`web::html_errors`), and a handler that panics (a bug: input nobody
/// foresaw) answers 500, is logged and counted, and the aggregator serves
/// on for everyone else.
pub fn with_defences(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(web::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            web::html_errors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            catch_panics,
        ))
        // Outermost: every answer is counted, a panic's 500 too.
        .layer(axum::middleware::from_fn_with_state(
            state.health.http.clone(),
            pakiti_httpserver::scrape::observe,
        ))
        .with_state(state)
}

async fn catch_panics(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use futures_util::FutureExt as _;
    let path = req.uri().path().to_string();
    match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(resp) => resp,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            state.health.panicked();
            tracing::error!(path, panic = %message, "a request handler panicked (a bug); answered 500");
            crate::state::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the aggregator failed unexpectedly on this request (a bug, logged); it serves on",
            )
            .into_response()
        }
    }
}

async fn own_metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let now = SystemTime::now();
    let store = state.store.clone();
    let up = matches!(
        tokio::task::spawn_blocking(move || store.ping()).await,
        Ok(Ok(()))
    );
    let store = state.store.clone();
    let outbox = if state.settings.upstreams.is_empty() {
        Some(Vec::new())
    } else {
        tokio::task::spawn_blocking(move || store.outbox_status())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|mut known| {
                // Every configured upstream has its series, an empty queue too.
                for u in &state.settings.upstreams {
                    if !known.iter().any(|o| o.upstream == u.url) {
                        known.push(pakiti_store::OutboxStatus {
                            upstream: u.url.clone(),
                            ..Default::default()
                        });
                    }
                }
                known
            })
    };
    // Hosts by state from the fleet copy, which outlives a database outage.
    // No fleet (the store never answered): no host counts, rather than zeros.
    let by_state = all_hosts(&state).await.ok().map(|hosts| {
        let stale = hosts.iter().filter(|h| is_stale(&state, h, now)).count();
        (hosts.len() - stale, stale)
    });
    let store = state.store.clone();
    let feeds = tokio::task::spawn_blocking(move || store.feeds())
        .await
        .ok()
        .and_then(Result::ok);
    let format = scrape::format_of(&headers);
    let (store, book) = (state.store.clone(), state.decisions.clone());
    let exceptions = tokio::task::spawn_blocking(move || {
        crate::decisions::counts(&*store, &book, crate::decisions::now())
    })
    .await
    .ok()
    .and_then(Result::ok)
    .unwrap_or_default();
    let text = state.health.render(
        format,
        by_state,
        up,
        outbox.as_deref(),
        feeds.as_deref(),
        &exceptions,
    );
    scrape::exposition(&headers, format, text.into_bytes())
}

async fn ready(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.ping()).await {
        Ok(Ok(())) => "OK\n".into_response(),
        Ok(Err(e)) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response(),
    }
}
