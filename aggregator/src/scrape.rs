//! Scrape mode: fetch each exporter's `/api/v1/report` on an interval, with a
//! timeout and a concurrency limit; targets from the config and from
//! Prometheus file_sd files, which are re-read when they change.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use pakiti_store::Source;

use crate::config::Scrape;
use crate::metrics::TargetHealth;
use crate::receive::store_report;
use crate::state::AppState;

/// One exporter to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// As configured (`host:port` or a URL): the `target` label of its health.
    pub name: String,
    pub url: String,
    /// Given to reports that name no site.
    pub site: Option<String>,
}

fn target(name: &str, scheme: &str, site: Option<String>) -> Target {
    let base = if name.contains("://") {
        name.trim_end_matches('/').to_string()
    } else {
        format!("{scheme}://{name}")
    };
    let url = if base.ends_with("/api/v1/report") {
        base
    } else {
        format!("{base}/api/v1/report")
    };
    Target {
        name: name.to_string(),
        url,
        site,
    }
}

#[derive(Deserialize)]
struct FileSdGroup {
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Parses one Prometheus file_sd JSON file.
pub fn parse_file_sd(text: &str, scheme: &str) -> anyhow::Result<Vec<Target>> {
    let groups: Vec<FileSdGroup> = serde_json::from_str(text)?;
    Ok(groups
        .into_iter()
        .flat_map(|g| {
            let site = g.labels.get("site").cloned();
            g.targets
                .into_iter()
                .map(move |t| target(&t, scheme, site.clone()))
        })
        .collect())
}

/// file_sd files already read, by path: their modification time and targets.
type SdCache = HashMap<PathBuf, (SystemTime, Vec<Target>)>;

/// Every target: static ones, then those of the file_sd files (re-read when changed).
pub fn targets(cfg: &Scrape, cache: &mut SdCache) -> Vec<Target> {
    let mut out: Vec<Target> = cfg
        .static_configs
        .iter()
        .flat_map(|s| {
            s.targets
                .iter()
                .map(|t| target(t, &cfg.scheme, s.site.clone()))
        })
        .collect();
    let mut seen = Vec::new();
    for pattern in &cfg.file_sd {
        let paths = match glob::glob(pattern) {
            Ok(p) => p.flatten().collect::<Vec<_>>(),
            Err(e) => {
                tracing::warn!(pattern, error = %e, "bad file_sd pattern");
                continue;
            }
        };
        for path in paths {
            let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            let fresh = matches!((cache.get(&path), mtime), (Some((t, _)), Some(m)) if *t == m);
            if !fresh {
                match std::fs::read_to_string(&path)
                    .map_err(anyhow::Error::from)
                    .and_then(|t| parse_file_sd(&t, &cfg.scheme))
                {
                    Ok(list) => {
                        tracing::info!(file = %path.display(), targets = list.len(), "read file_sd targets");
                        cache.insert(
                            path.clone(),
                            (mtime.unwrap_or(SystemTime::UNIX_EPOCH), list),
                        );
                    }
                    // Keep the last good list of a file being rewritten.
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "cannot read file_sd file")
                    }
                }
            }
            seen.push(path);
        }
    }
    let seen_set: std::collections::HashSet<&PathBuf> = seen.iter().collect();
    cache.retain(|p, _| seen_set.contains(p));
    for p in &seen {
        if let Some((_, list)) = cache.get(p) {
            out.extend(list.iter().cloned());
        }
    }
    // One scrape per URL, however often it is listed (statically and in
    // file_sd): the first listing's name and site win.
    let mut urls = std::collections::HashSet::new();
    out.retain(|t| urls.insert(t.url.clone()));
    out
}

/// The HTTP client for scraping, with the configured TLS and timeout.
pub fn client(cfg: &Scrape) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(cfg.timeout)
        .user_agent(concat!("pakiti-aggregator/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &cfg.ca_file {
        let pem = std::fs::read(ca).with_context(|| format!("scrape.ca_file {}", ca.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("scrape.ca_file {} is not PEM certificates", ca.display()))?
        {
            b = b.add_root_certificate(cert);
        }
    }
    if let Some((cert, key)) = &cfg.identity {
        let mut pem =
            std::fs::read(cert).with_context(|| format!("scrape.cert_file {}", cert.display()))?;
        pem.extend(
            std::fs::read(key).with_context(|| format!("scrape.key_file {}", key.display()))?,
        );
        b = b.identity(
            reqwest::Identity::from_pem(&pem)
                .context("scrape.cert_file and key_file do not form an identity")?,
        );
    }
    b.build().context("cannot build the scrape client")
}

async fn scrape_one(
    state: &AppState,
    client: &reqwest::Client,
    cfg: &Scrape,
    t: &Target,
) -> Result<(), String> {
    let mut req = client.get(&t.url);
    if let Some((user, pass)) = &cfg.basic_auth {
        req = req.basic_auth(user, Some(pass));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("the exporter answered {status}"));
    }
    // An exporter's answer is read like a push: at most max_body_bytes.
    let limit = state.settings.max_body_bytes;
    let (body, more) = crate::bounded::read(resp, limit)
        .await
        .map_err(|e| format!("reading the answer failed: {e}"))?;
    if more {
        return Err(format!("the answer is larger than {limit} bytes"));
    }
    let mut report = pakiti_report::from_json(&body).map_err(|e| {
        state.health.report("scrape", "invalid");
        format!("invalid report: {e}")
    })?;
    match (&report.host.site, &t.site) {
        (None, _) => report.host.site = t.site.clone(),
        (Some(reported), Some(configured)) if reported != configured => {
            state.health.report("scrape", "forbidden");
            return Err(format!(
                "the exporter reports site {reported:?}, but the target is configured for site {configured:?}"
            ));
        }
        _ => {}
    }
    // A target is no credential: it may write only the host it first wrote.
    let writer = pakiti_store::Writer {
        client: Some(format!("scrape:{}", t.name)),
        host_only: true,
    };
    store_report(state, report, writer, Source::Scrape)
        .await
        .map(|_| ())
        .map_err(|e| format!("the report was not stored: {}", e.message))
}

/// Scrapes every target once per interval, forever.
pub async fn run(state: AppState, cfg: Scrape, client: reqwest::Client) {
    let client = Arc::new(client);
    let cfg = Arc::new(cfg);
    let limit = Arc::new(Semaphore::new(cfg.concurrency));
    let mut cache = SdCache::new();
    loop {
        let started = Instant::now();
        let list = targets(&cfg, &mut cache);
        let names: Vec<String> = list.iter().map(|t| t.name.clone()).collect();
        state
            .health
            .retain_targets(&|n| names.iter().any(|x| x == n));
        let mut set = JoinSet::new();
        for t in list {
            let (state, client, cfg, limit) =
                (state.clone(), client.clone(), cfg.clone(), limit.clone());
            set.spawn(async move {
                let Ok(_permit) = limit.acquire_owned().await else {
                    return;
                };
                // Replicas on one database share the targets: one scrape per target and interval.
                let (store, name, owner, ttl) = (
                    state.store.clone(),
                    format!("scrape:{}", t.url),
                    state.instance.clone(),
                    cfg.interval.mul_f64(0.9),
                );
                match tokio::task::spawn_blocking(move || store.claim(&name, &owner, ttl)).await {
                    Ok(Ok(true)) => {}
                    Ok(Ok(false)) => return,
                    Ok(Err(e)) => {
                        tracing::warn!(target = %t.name, error = %e, "cannot claim the scrape; skipping it this interval");
                        return;
                    }
                    Err(_) => return,
                }
                let began = Instant::now();
                let result = scrape_one(&state, &client, &cfg, &t).await;
                let mut health = state.health.target_health(&t.name);
                health.duration = began.elapsed();
                match result {
                    Ok(()) => {
                        health.up = true;
                        health.last_success = Some(SystemTime::now());
                        health.last_error = None;
                    }
                    Err(e) => {
                        if health.up || health.last_error.is_none() {
                            tracing::warn!(target = %t.name, error = %e, "scrape failed");
                        }
                        state.health.report("scrape", "failed");
                        health.up = false;
                        health.last_error = Some(e);
                    }
                }
                state.health.target(&t.name, TargetHealth { ..health });
            });
        }
        while set.join_next().await.is_some() {}
        let elapsed = started.elapsed();
        tokio::time::sleep(
            cfg.interval
                .saturating_sub(elapsed)
                .max(Duration::from_secs(1)),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_become_report_urls() {
        assert_eq!(
            target("db-01:10150", "http", None).url,
            "http://db-01:10150/api/v1/report"
        );
        assert_eq!(
            target("https://db-01:10150/", "http", None).url,
            "https://db-01:10150/api/v1/report"
        );
        let list = parse_file_sd(
            r#"[{"targets": ["a:1", "b:2"], "labels": {"site": "S"}}, {"targets": ["c:3"]}]"#,
            "https",
        )
        .unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].site.as_deref(), Some("S"));
        assert_eq!(list[2].url, "https://c:3/api/v1/report");
        assert!(parse_file_sd("{\"targets\": 1}", "http").is_err());
    }

    #[test]
    fn a_target_listed_statically_and_in_file_sd_is_scraped_once() {
        let dir = tempfile::tempdir().unwrap();
        let sd = dir.path().join("targets.json");
        std::fs::write(
            &sd,
            r#"[{"targets": ["b:2", "a:1", "c:3"], "labels": {"site": "FromFile"}}]"#,
        )
        .unwrap();
        let file: crate::config::File = toml::from_str(&format!(
            "[scrape]\nfile_sd = [\"{}\"]\n[[scrape.static]]\ntargets = [\"a:1\", \"b:2\"]\nsite = \"Static\"\n",
            sd.display()
        ))
        .unwrap();
        let settings = crate::config::Settings::from_file(&file).unwrap();
        let list = targets(&settings.scrape, &mut SdCache::new());
        let names: Vec<(&str, Option<&str>)> = list
            .iter()
            .map(|t| (t.name.as_str(), t.site.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("a:1", Some("Static")),
                ("b:2", Some("Static")),
                ("c:3", Some("FromFile"))
            ]
        );
    }
}
