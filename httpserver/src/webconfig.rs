//! `--web.config.file`: the Prometheus exporter-toolkit web configuration
//! (YAML): TLS with rustls (`tls.rs`), optional client-certificate
//! verification, basic auth with bcrypt hashes (`basic.rs`), and the extra
//! response headers exporter-toolkit allows.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use serde::Deserialize;

pub use crate::basic::BasicAuth;
pub use crate::tls::TlsServerConfig;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    pub tls_server_config: Option<TlsServerConfig>,
    pub http_server_config: Option<HttpServerConfig>,
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
    pub rate_limit: Option<RateLimit>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Accepted for compatibility; this server speaks HTTP/1.1.
    pub http2: Option<bool>,
    /// Extra response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// exporter-toolkit's request rate limiter: accepted only when it is off.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(default)]
    pub interval: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub burst: Option<u64>,
}

/// The response headers exporter-toolkit lets a web config add, and the
/// values it allows for each (none listed: any value).
const EXTRA_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// The validated web configuration.
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub auth: Option<Arc<BasicAuth>>,
    pub headers: Vec<(String, String)>,
}

impl WebConfig {
    pub fn none() -> Self {
        WebConfig {
            tls: None,
            auth: None,
            headers: Vec::new(),
        }
    }
}

/// Reads and checks `--web.config.file`; every path it names must be usable.
pub fn load(path: &Path) -> anyhow::Result<WebConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read web config file {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base).with_context(|| format!("invalid web config file {}", path.display()))
}

pub fn parse(text: &str, base: &Path) -> anyhow::Result<WebConfig> {
    let file: WebConfigFile = if text.trim().is_empty() {
        WebConfigFile::default()
    } else {
        serde_yaml_ng::from_str(text).context("YAML error")?
    };
    if let Some(r) = &file.rate_limit {
        let off = |v: &serde_yaml_ng::Value| match v {
            serde_yaml_ng::Value::Number(n) => n.as_f64() == Some(0.0),
            serde_yaml_ng::Value::String(s) => matches!(s.trim(), "0" | "0s" | ""),
            serde_yaml_ng::Value::Null => true,
            _ => false,
        };
        if !r.interval.as_ref().is_none_or(off) {
            bail!("rate_limit is not supported by this program: leave it out or set interval to 0");
        }
    }
    let tls = file
        .tls_server_config
        .as_ref()
        .map(|t| crate::tls::server_config(t, base))
        .transpose()?
        .map(Arc::new);
    let auth = if file.basic_auth_users.is_empty() {
        None
    } else {
        Some(Arc::new(
            BasicAuth::new(file.basic_auth_users)
                .map_err(|e| anyhow::anyhow!("basic_auth_users: {e}"))?,
        ))
    };
    let headers: Vec<(String, String)> = file
        .http_server_config
        .map(|h| h.headers.into_iter().collect())
        .unwrap_or_default();
    for (name, value) in &headers {
        let Some((_, allowed)) = EXTRA_HEADERS.iter().find(|(n, _)| n == name) else {
            bail!("HTTP header {name:?} can not be configured");
        };
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            bail!("invalid value for {name}. Expected one of: {allowed:?}, but got: {value:?}");
        }
        if axum::http::HeaderValue::from_str(value).is_err() {
            bail!("invalid value for {name}: {value:?} is not a valid header value");
        }
    }
    Ok(WebConfig { tls, auth, headers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_checks_bcrypt_hashes() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let cfg = parse(
            &format!("basic_auth_users:\n  alice: '{hash}'\n"),
            Path::new("."),
        )
        .unwrap();
        let auth = cfg.auth.unwrap();
        use base64::Engine as _;
        let header = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert!(auth.check(Some(&header("alice:s3cret"))));
        assert!(auth.check(Some(&header("alice:s3cret"))), "cached path");
        assert!(!auth.check(Some(&header("alice:wrong"))));
        assert!(!auth.check(Some(&header("bob:s3cret"))));
        assert!(!auth.check(Some("Bearer x")));
        let encoded = header("alice:s3cret")[6..].to_string();
        for scheme in ["basic", "BASIC", "bAsIc"] {
            assert!(auth.check(Some(&format!("{scheme} {encoded}"))), "{scheme}");
        }
        assert!(!auth.check(Some(&format!("Basicx {encoded}"))));
        assert!(!auth.check(None));
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: &str| {
            parse(text, Path::new("."))
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default()
        };
        assert!(err("basic_auth_users:\n  alice: plain\n").contains("bcrypt"));
        assert!(err(
            "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n"
        )
        .contains("/nonexistent.crt"));
        assert!(err("tls_sever_config: {}\n").contains("unknown field"));
        assert!(parse("", Path::new(".")).unwrap().tls.is_none());
    }
}
