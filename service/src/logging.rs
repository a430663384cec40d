//! `--log.level` and `--log.format`, as Prometheus exporters spell them.

use anyhow::bail;

/// The `[log]` section both configuration files share; flags win over it.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// debug, info, warn or error.
    pub level: Option<String>,
    /// logfmt or json.
    pub format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Logfmt,
    Json,
}

pub fn level(value: Option<&str>) -> anyhow::Result<tracing::Level> {
    Ok(match value.unwrap_or("info") {
        "debug" => tracing::Level::DEBUG,
        "info" => tracing::Level::INFO,
        "warn" => tracing::Level::WARN,
        "error" => tracing::Level::ERROR,
        other => bail!("--log.level {other:?} is not one of debug, info, warn, error"),
    })
}

pub fn format(value: Option<&str>) -> anyhow::Result<LogFormat> {
    Ok(match value.unwrap_or("logfmt") {
        "logfmt" => LogFormat::Logfmt,
        "json" => LogFormat::Json,
        other => bail!("--log.format {other:?} is not one of logfmt, json"),
    })
}

/// Logs to stderr.
pub fn init(level: tracing::Level, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(false);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Logfmt => builder.init(),
    }
}
