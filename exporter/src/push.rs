//! Push: send the JSON report to aggregators, like the original Pakiti client
//! did from cron. gzip on the wire, retries with backoff for failures that
//! may pass (network, 5xx, 429), none for a refusal (other 4xx).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};

use pakiti_report::{Installed, Report};

/// Checked push settings.
#[derive(Debug, Clone)]
pub struct PushSettings {
    pub urls: Vec<String>,
    pub ca_file: Option<PathBuf>,
    pub identity: Option<(PathBuf, PathBuf)>,
    pub token_file: Option<PathBuf>,
    /// Random delay up to this long before a `push` command collects.
    pub jitter: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
}

/// Where a report goes: `…/api/v1/reports` of the given aggregator URL.
pub fn endpoint(url: &str) -> anyhow::Result<String> {
    let url = url.trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("push URL {url:?} must start with http:// or https://");
    }
    Ok(if url.ends_with("/api/v1/reports") {
        url.to_string()
    } else {
        format!("{url}/api/v1/reports")
    })
}

/// An HTTP client and the credentials to present, built once.
pub struct Pusher {
    client: reqwest::Client,
    token: Option<String>,
    settings: PushSettings,
    /// Per aggregator URL, the inventory it acknowledged and its digest:
    /// while the inventory is that one, reports name it by digest instead of
    /// sending a thousand packages again; once it changed, they send what
    /// changed since.
    acked: std::sync::Mutex<std::collections::HashMap<String, Acked>>,
}

/// An inventory an aggregator acknowledged.
#[derive(Clone)]
struct Acked {
    digest: String,
    installed: Arc<Vec<Installed>>,
}

/// The aggregator asked for the report again with its installed packages
/// (`409` with `"resend": "installed"`): it does not have that inventory.
#[derive(Debug)]
struct ResendInstalled;

impl std::fmt::Display for ResendInstalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the aggregator does not have this inventory and asked for it")
    }
}

impl std::error::Error for ResendInstalled {}

impl Pusher {
    pub fn new(settings: PushSettings) -> anyhow::Result<Pusher> {
        for u in &settings.urls {
            endpoint(u)?;
        }
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(settings.timeout)
            .user_agent(concat!("pakiti-exporter/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &settings.ca_file {
            let pem =
                std::fs::read(ca).with_context(|| format!("push.ca_file {}", ca.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
                format!("push.ca_file {} is not PEM certificates", ca.display())
            })?;
            if certs.is_empty() {
                bail!("push.ca_file {} holds no certificate", ca.display());
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if let Some((cert, key)) = &settings.identity {
            let mut pem = std::fs::read(cert)
                .with_context(|| format!("push.cert_file {}", cert.display()))?;
            pem.extend(
                std::fs::read(key).with_context(|| format!("push.key_file {}", key.display()))?,
            );
            b = b.identity(
                reqwest::Identity::from_pem(&pem)
                    .context("push.cert_file and push.key_file do not form an identity")?,
            );
        }
        let token = match &settings.token_file {
            Some(p) => {
                let t = std::fs::read_to_string(p)
                    .with_context(|| format!("push.token_file {}", p.display()))?;
                let t = t.trim().to_string();
                if t.is_empty() {
                    bail!("push.token_file {} is empty", p.display());
                }
                Some(t)
            }
            None => None,
        };
        Ok(Pusher {
            client: b.build().context("cannot build the push client")?,
            token,
            settings,
            acked: Default::default(),
        })
    }

    pub fn urls(&self) -> &[String] {
        &self.settings.urls
    }

    /// Sends `report` to every URL; the error lists every URL that failed.
    /// An aggregator that acknowledged this inventory gets it by digest only;
    /// one that asks for it again gets the whole report at once.
    pub async fn push(&self, report: &Report) -> anyhow::Result<()> {
        let installed = report.inventory.installed.clone().map(Arc::new);
        let digest = installed
            .as_deref()
            .map(|list| pakiti_report::installed_digest(list));
        let full = pakiti_service::gzip::compress(&pakiti_report::to_json(report));
        let mut failures = Vec::new();
        for url in &self.settings.urls {
            let acked = self.acked.lock().ok().and_then(|a| a.get(url).cloned());
            let lean = match (&installed, &digest, acked) {
                (Some(list), Some(d), Some(a)) => lean_report(report, list, d, &a),
                _ => None,
            };
            let (body, what) = match lean {
                Some((body, what)) => (body, what),
                None => (full.clone(), "whole"),
            };
            let mut bytes = body.len();
            let mut inventory = what;
            let mut result = self.push_one(url, body).await;
            if what != "whole"
                && matches!(&result, Err(e) if e.downcast_ref::<ResendInstalled>().is_some())
            {
                tracing::info!(url = %url, "the aggregator asked for the installed packages; sending them");
                bytes = full.len();
                inventory = "whole";
                result = self.push_one(url, full.clone()).await;
            }
            match result {
                Ok(msg) => {
                    tracing::info!(url = %url, result = %msg, bytes, inventory, "report pushed");
                    if let (Some(list), Some(d), Ok(mut a)) =
                        (&installed, &digest, self.acked.lock())
                    {
                        a.insert(
                            url.clone(),
                            Acked {
                                digest: d.clone(),
                                installed: list.clone(),
                            },
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(url = %url, error = %format!("{e:#}"), "push failed");
                    failures.push(format!("{url}: {e:#}"));
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            bail!("{}", failures.join("; "))
        }
    }

    async fn push_one(&self, url: &str, body: Vec<u8>) -> anyhow::Result<String> {
        let endpoint = endpoint(url)?;
        let mut delay = self.settings.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self
                .client
                .post(&endpoint)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::CONTENT_ENCODING, "gzip")
                .body(body.clone());
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            let (retry, err) = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let text = answer(resp).await;
                    if status.is_success() {
                        return Ok(text.trim().to_string());
                    }
                    let answer = serde_json::from_str::<serde_json::Value>(&text).ok();
                    if status == reqwest::StatusCode::CONFLICT
                        && answer.as_ref().is_some_and(|v| v["resend"] == "installed")
                    {
                        return Err(anyhow::Error::new(ResendInstalled));
                    }
                    let msg = answer
                        .and_then(|v| v["error"].as_str().map(str::to_string))
                        .unwrap_or(text);
                    let retry = status.is_server_error() || status.as_u16() == 429;
                    (
                        retry,
                        anyhow::anyhow!(
                            "the aggregator answered {status}: {}",
                            msg.trim().chars().take(500).collect::<String>()
                        ),
                    )
                }
                // With its causes ("connection refused", the TLS error).
                Err(e) => (true, anyhow::Error::new(e)),
            };
            if !retry || attempt > self.settings.retries {
                return Err(err.context(format!("after {attempt} attempt(s)")));
            }
            tracing::warn!(
                url,
                attempt,
                retry_in = ?delay,
                error = %format!("{err:#}"),
                "push attempt failed, retrying"
            );
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(600));
        }
    }
}

/// The report as an aggregator that acknowledged `acked` gets it: naming
/// the inventory by digest while it is that one, else with what changed
/// since (when that is smaller than the inventory); `None`: send it whole.
fn lean_report(
    report: &Report,
    installed: &[Installed],
    digest: &str,
    acked: &Acked,
) -> Option<(Vec<u8>, &'static str)> {
    if acked.digest == digest {
        let body = pakiti_report::to_json_without_installed(report);
        return Some((pakiti_service::gzip::compress(&body), "digest"));
    }
    let delta = pakiti_report::installed_delta(&acked.digest, &acked.installed, installed);
    if delta.added.len() + delta.removed.len() >= installed.len() / 2 {
        return None;
    }
    let mut r = report.clone();
    r.inventory.installed = None;
    r.inventory.installed_digest = Some(digest.to_string());
    r.inventory.installed_delta = Some(delta);
    Some((
        pakiti_service::gzip::compress(&pakiti_report::to_json(&r)),
        "delta",
    ))
}

/// The start of the aggregator's answer (at most 64 KiB): an answer, good or
/// bad, is never read whole.
async fn answer(mut resp: reqwest::Response) -> String {
    const LIMIT: usize = 64 << 10;
    let mut body = Vec::new();
    while body.len() < LIMIT {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(LIMIT - body.len())])
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledged_inventory_is_named_by_digest_or_sent_as_what_changed() {
        let list: Vec<Installed> = (0..10)
            .map(|i| Installed::new(&format!("p{i}"), "1.0-1", "amd64"))
            .collect();
        let mut report = pakiti_report::testing::report("h.example.org", None, None, vec![]);
        report.inventory.installed_packages = 10;
        report.inventory.installed = Some(list.clone());
        let acked = Acked {
            digest: pakiti_report::installed_digest(&list),
            installed: Arc::new(list.clone()),
        };
        let read = |body: Vec<u8>| {
            let json = pakiti_service::gzip::decompress(&body, 1 << 20).unwrap();
            pakiti_report::from_json(&json).unwrap()
        };
        let (body, what) = lean_report(&report, &list, &acked.digest, &acked).unwrap();
        assert_eq!(what, "digest");
        let sent = read(body);
        assert_eq!(sent.inventory.installed, None);
        assert_eq!(sent.inventory.installed_delta, None);
        assert_eq!(
            sent.inventory.installed_digest.as_ref(),
            Some(&acked.digest)
        );
        // One upgrade: sent as one entry out and one in.
        let mut upgraded = list.clone();
        upgraded[3].version = "1.0-2".into();
        let digest = pakiti_report::installed_digest(&upgraded);
        let (body, what) = lean_report(&report, &upgraded, &digest, &acked).unwrap();
        assert_eq!(what, "delta");
        let delta = read(body).inventory.installed_delta.unwrap();
        assert_eq!(delta.base, acked.digest);
        assert_eq!(delta.removed, vec![list[3].clone()]);
        assert_eq!(delta.added, vec![upgraded[3].clone()]);
        // Most of it changed: whole.
        let mut most = list.clone();
        for p in &mut most[..5] {
            p.version = "2.0-1".into();
        }
        let digest = pakiti_report::installed_digest(&most);
        assert!(lean_report(&report, &most, &digest, &acked).is_none());
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            endpoint("https://a:10151").unwrap(),
            "https://a:10151/api/v1/reports"
        );
        assert_eq!(
            endpoint("https://a:10151/").unwrap(),
            "https://a:10151/api/v1/reports"
        );
        assert_eq!(
            endpoint("http://a/api/v1/reports").unwrap(),
            "http://a/api/v1/reports"
        );
        assert!(endpoint("a:10151").is_err());
    }

    /// A pusher to 127.0.0.1:`port`, without TLS, token or jitter.
    fn local_pusher(port: u16, timeout: Duration, retries: u32, backoff: Duration) -> Pusher {
        Pusher::new(PushSettings {
            urls: vec![format!("http://127.0.0.1:{port}")],
            ca_file: None,
            identity: None,
            token_file: None,
            jitter: Duration::ZERO,
            timeout,
            retries,
            backoff,
        })
        .unwrap()
    }

    /// An aggregator (or anything at its address) that answers without end
    /// costs the push 64 KiB and a clear error, not memory and time.
    #[tokio::test]
    async fn an_endless_answer_is_not_read_whole() {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 65536];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\n\r\n");
            let chunk = [b'x'; 65536];
            while conn.write_all(&chunk).is_ok() {}
        });
        let pusher = local_pusher(port, Duration::from_secs(60), 0, Duration::from_millis(10));
        let started = std::time::Instant::now();
        let report = pakiti_report::testing::report("web-01", None, None, vec![]);
        let err = pusher.push(&report).await.unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("400"), "{msg}");
        assert!(msg.len() < 1000, "the message is cut: {} bytes", msg.len());
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
    }

    /// Nothing listens: every attempt fails with the cause, the retries
    /// wait as configured, and the error names the cause and the attempts.
    #[tokio::test]
    async fn a_refused_connection_is_retried_and_named() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let pusher = local_pusher(port, Duration::from_secs(5), 2, Duration::from_millis(50));
        let started = std::time::Instant::now();
        let report = pakiti_report::testing::report("web-01", None, None, vec![]);
        let msg = format!("{:#}", pusher.push(&report).await.unwrap_err());
        assert!(msg.contains("after 3 attempt(s)"), "{msg}");
        assert!(msg.to_lowercase().contains("connection refused"), "{msg}");
        // 50 ms, then 100 ms.
        assert!(started.elapsed() >= Duration::from_millis(150));
    }
}
