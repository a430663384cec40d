//! `/federate`: the fleet as metrics for central Prometheus servers. Like
//! Prometheus' own federation it takes `match[]` selectors (a series is sent
//! when any of them selects it; without one, every series is), and its body
//! streams as it is written, gzipped when the scraper accepts gzip: the
//! whole text never sits in memory, however large the fleet.

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use flate2::write::GzEncoder;
use pakiti_httpserver::scrape;
use pakiti_service::exposition::Exposition;

use crate::metrics;
use crate::read::{all_hosts, site_statistics};
use crate::selector::Selector;
use crate::state::{error, ApiError, AppState};

/// Bytes of text written before they go out.
const CHUNK: usize = 256 << 10;

pub(crate) async fn federate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let mut selectors = Vec::new();
    for (k, v) in &q {
        if k != "match[]" {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("unknown parameter {k:?}: /federate takes match[] selectors"),
            ));
        }
        selectors.push(
            Selector::parse(v)
                .map_err(|e| error(StatusCode::BAD_REQUEST, format!("match[]: {e}")))?,
        );
    }
    let hosts = all_hosts(&state).await?;
    // The hosts come from the fleet copy, which outlives a database outage;
    // the forwarded site statistics then wait for the database.
    let sites = site_statistics(&state).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e.message, "/federate without site statistics: the store did not answer");
        Vec::new()
    });
    let decided = decided(&state, &hosts).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e.message, "/federate without decisions: the store did not answer");
        metrics::Decided::default()
    });
    let gzip = scrape::accepts_gzip(&headers);
    let format = scrape::format_of(&headers);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::task::spawn_blocking(move || {
        let encoder =
            Arc::new(Mutex::new(gzip.then(|| {
                GzEncoder::new(Vec::new(), flate2::Compression::fast())
            })));
        let out = encoder.clone();
        let send = move |text: Vec<u8>, tx: &tokio::sync::mpsc::Sender<Bytes>| {
            // A scraper that went away stops nothing but the sending.
            if !text.is_empty() {
                let _ = tx.blocking_send(Bytes::from(text));
            }
        };
        let sink_tx = tx.clone();
        let sink = Box::new(move |chunk: String| {
            let mut enc = out.lock().unwrap_or_else(|p| p.into_inner());
            match enc.as_mut() {
                Some(e) => {
                    let _ = e.write_all(chunk.as_bytes());
                    let done = std::mem::take(e.get_mut());
                    send(done, &sink_tx);
                }
                None => send(chunk.into_bytes(), &sink_tx),
            }
        });
        let mut m = Exposition::new(format, CHUNK + 4096).streaming(CHUNK, sink);
        if !selectors.is_empty() {
            m = m.filtered(Box::new(move |name, labels| {
                selectors.iter().any(|s| s.matches(name, labels))
            }));
        }
        metrics::federate_into(&mut m, &hosts, &sites, &decided);
        m.finish();
        let last = encoder.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(e) = last {
            if let Ok(rest) = e.finish() {
                if !rest.is_empty() {
                    let _ = tx.blocking_send(Bytes::from(rest));
                }
            }
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<Bytes, std::convert::Infallible>(chunk), rx))
    }));
    let mut resp = body.into_response();
    scrape::exposition_headers(&mut resp, format, gzip);
    Ok(resp)
}

/// The findings exceptions cover, and the watch set (KEV-listed and tagged
/// vulnerabilities some host is exposed to, in fix-first order, at most
/// [`metrics::MAX_WATCHED`]).
async fn decided(
    state: &AppState,
    hosts: &Arc<Vec<pakiti_store::HostSummary>>,
) -> Result<metrics::Decided, ApiError> {
    let list = state
        .fleet_list
        .get(state.store.clone())
        .await
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let (store, book, hosts) = (state.store.clone(), state.decisions.clone(), hosts.clone());
    let deadlines = state.settings.deadlines.clone();
    let past_cache = state.past_deadline.clone();
    tokio::task::spawn_blocking(move || {
        let now = crate::decisions::now();
        let ids: Vec<String> = list.iter().map(|v| v.id.clone()).collect();
        let loaded = crate::decisions::effective(&*store, &book)?;
        let ann = crate::decisions::annotations(&*store, &loaded, &ids, now)?;
        let excepted = crate::excepted::excepted(&*store, &loaded, &hosts, now)?;
        let mut watched: Vec<(pakiti_decisions::priority::Rank<'_>, metrics::Watched)> = list
            .iter()
            .filter_map(|v| {
                let a = ann.get(&v.id)?;
                if !a.kev() && a.tags.is_empty() {
                    return None;
                }
                let rank = pakiti_decisions::priority::Rank {
                    id: &v.id,
                    kev: a.kev(),
                    severity: v.severity,
                    fixable: v.fixable_hosts > 0,
                    epss: a.epss(),
                    first_seen: v.first_seen,
                };
                let hosts = v
                    .hosts
                    .saturating_sub(excepted.hosts.get(&v.id).copied().unwrap_or(0));
                Some((
                    rank,
                    metrics::Watched {
                        id: v.id.clone(),
                        severity: v.severity,
                        kev: a.kev(),
                        hosts,
                    },
                ))
            })
            .collect();
        watched.sort_by(|a, b| pakiti_decisions::priority::fix_first(&a.0, &b.0));
        watched.truncate(metrics::MAX_WATCHED);
        let past_deadline = past_cache.get(now, excepted.fingerprint(), || {
            crate::excepted::past_deadline(&*store, &deadlines, &ann, &excepted, now)
        })?;
        Ok::<_, pakiti_store::StoreError>(metrics::Decided {
            excepted: excepted.counts,
            watched: watched.into_iter().map(|(_, w)| w).collect(),
            past_deadline: Some(past_deadline),
            events: store.finding_events()?,
        })
    })
    .await
    .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}
