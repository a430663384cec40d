//! `/federate`: the fleet as metrics for central Prometheus servers.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::metrics;
use crate::read::{all_hosts, site_statistics};
use crate::state::{ApiError, AppState};

pub(crate) async fn federate(State(state): State<AppState>) -> Result<Response, ApiError> {
    let hosts = all_hosts(&state).await?;
    // The hosts come from the fleet copy, which outlives a database outage;
    // the forwarded site statistics then wait for the database.
    let sites = site_statistics(&state).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e.message, "/federate without site statistics: the store did not answer");
        Vec::new()
    });
    Ok((
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::federate(&hosts, &sites),
    )
        .into_response())
}
