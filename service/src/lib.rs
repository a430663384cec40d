//! What both binaries share outside HTTP: strict TOML loading and durations
//! (`config`), logging flags (`logging`), the Prometheus text format writer
//! (`exposition`, which knows the format but no metric names), gzip both ways
//! (`gzip`), and shutdown.

pub mod config;
pub mod example_keys;
pub mod exposition;
pub mod gzip;
pub mod logging;

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}
