//! The aggregator's TOML configuration, read strictly, and turned into
//! checked settings in one step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde::Deserialize;

pub const DEFAULT_CONFIG_FILE: &str = "/etc/pakiti/aggregator.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub client: Vec<ClientEntry>,
    #[serde(default)]
    pub scrape: ScrapeSection,
    #[serde(default)]
    pub web: WebSection,
    #[serde(default)]
    pub storage: StorageSection,
    #[serde(default)]
    pub upstream: Vec<UpstreamEntry>,
    #[serde(default)]
    pub log: pakiti_service::logging::LogSection,
    #[serde(default)]
    pub feeds: FeedsSection,
    #[serde(default)]
    pub decisions: DecisionsSection,
}

/// `[decisions]`: what operators decided (exceptions, tags) and deadlines.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionsSection {
    /// The decisions file (TOML: `[[exception]]`, `[[tag]]`), reloaded when it changes.
    pub file: Option<PathBuf>,
    /// How often the file is looked at (default 10s).
    pub check_every: Option<String>,
    #[serde(default)]
    pub deadlines: DeadlinesSection,
}

/// `[decisions.deadlines]`: per severity, per tag, and KEV's due date.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlinesSection {
    pub critical: Option<String>,
    pub important: Option<String>,
    pub moderate: Option<String>,
    pub low: Option<String>,
    pub unknown: Option<String>,
    /// Whether a KEV entry's `dueDate` is a deadline (default true).
    pub kev: Option<bool>,
    /// Tag name → deadline.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// `[feeds]`: vulnerability feeds the running aggregator imports itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedsSection {
    /// A folder of feed files, imported whenever its files change.
    pub dir: Option<PathBuf>,
    /// How often the folder is looked at (default 1m).
    pub check_every: Option<String>,
    /// What `feeds fetch` downloads: feed name → URL (default: Debian's
    /// tracker and Ubuntu's OSV at their vendors).
    #[serde(default)]
    pub urls: BTreeMap<String, String>,
    /// Hosts matched as another release: a host's os-release
    /// `ID:VERSION_ID` (or `ID:VERSION_CODENAME`) → the `ID:VERSION_ID` of a
    /// distribution the feeds cover (`"linuxmint:21.3" = "ubuntu:22.04"`).
    #[serde(default)]
    pub releases: BTreeMap<String, String>,
}

/// A central aggregator this one forwards to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamEntry {
    pub url: String,
    /// `stats` (per-site aggregates each interval) or `reports` (every host report).
    pub send: String,
    /// How often statistics are computed and sent (default 5m); for
    /// `reports`, the longest wait between delivery attempts while it is down.
    pub interval: Option<String>,
    /// File holding the bearer token to present.
    pub token_file: Option<PathBuf>,
    /// CA to verify the upstream's certificate (default: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key to present.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Most items kept waiting while the upstream is unreachable (default 100000).
    pub max_queued: Option<u64>,
    /// Most bytes of payload kept waiting (default 1073741824, 1 GiB).
    pub max_queued_bytes: Option<u64>,
    /// Limit for one request (default 30s).
    pub timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Largest accepted report body, compressed or not (default 16 MiB).
    pub max_body_bytes: Option<usize>,
    /// How long a sender may take to send a body once its headers are in (default 60s).
    pub body_timeout: Option<String>,
    /// A host not heard from for this long is stale (default 2h).
    pub stale_after: Option<String>,
    /// A host not heard from for this long is removed (default 30d).
    pub remove_after: Option<String>,
    /// Report-count history is kept this long (default 90d).
    pub history_retention: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    pub name: String,
    pub token_sha256: Option<String>,
    pub cert_subject: Option<String>,
    #[serde(default)]
    pub sites: Vec<String>,
    #[serde(default = "default_role")]
    pub role: String,
}

fn default_role() -> String {
    "host".into()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// PostgreSQL: connections in the pool (default 8).
    pub pool_size: Option<u32>,
    /// PostgreSQL: limit for one statement (default 10s).
    pub statement_timeout: Option<String>,
    /// PostgreSQL: limit for connecting (default 5s).
    pub connect_timeout: Option<String>,
    /// SQLite: the writer's page cache in MiB (default 64).
    pub sqlite_cache_mib: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    /// Who may see the web pages and the hosts API: open, basic, cert or proxy.
    pub access: Option<String>,
    /// For `basic`: user name → bcrypt hash.
    #[serde(default)]
    pub users: BTreeMap<String, String>,
    /// For `cert`: client-certificate subjects allowed (needs --web.config.file with client certificates).
    #[serde(default)]
    pub cert_subjects: Vec<String>,
    /// For `proxy`: the header a trusted reverse proxy sets to the authenticated user.
    pub proxy_header: Option<String>,
    /// For `proxy`: addresses of the proxies trusted to set it.
    #[serde(default)]
    pub proxy_addresses: Vec<std::net::IpAddr>,
    /// `/federate` (every host's data): `open` (default, for Prometheus
    /// servers that scrape without credentials) or `access`: behind `access`
    /// like the pages.
    pub federate: Option<String>,
    /// Who may record decisions in the web UI (the operator role): user names
    /// of `basic` or `proxy`, certificate subjects of `cert`. Everyone else
    /// who passes `access` only reads (the viewer role).
    #[serde(default)]
    pub operators: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeSection {
    /// Time between scrapes of each target (default 5m).
    pub interval: Option<String>,
    /// Limit for one target's answer (default 30s).
    pub timeout: Option<String>,
    /// Targets scraped at once (default 16).
    pub concurrency: Option<usize>,
    /// `http` (default) or `https` for targets given as host:port.
    pub scheme: Option<String>,
    /// CA to verify exporters' certificates; client certificate and key to present.
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Basic auth toward exporters.
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    #[serde(default, rename = "static")]
    pub static_configs: Vec<StaticConfig>,
    /// Prometheus file_sd JSON files (globs allowed), re-read when they change.
    #[serde(default)]
    pub file_sd: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    pub targets: Vec<String>,
    /// Site for reports that name none.
    pub site: Option<String>,
}

/// What a client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Only its own host.
    Host,
    /// Any host of its sites.
    Relay,
    /// Forwarded reports and statistics of its sites (a downstream aggregator).
    Server,
}

/// A client allowed to send reports.
#[derive(Debug, Clone)]
pub struct Client {
    pub name: String,
    pub token_sha256: Option<[u8; 32]>,
    pub cert_subject: Option<String>,
    /// `None`: any site.
    pub sites: Option<Vec<String>>,
    pub role: Role,
}

/// Who may see the web pages and the hosts API.
#[derive(Clone)]
pub enum WebAccess {
    Open,
    /// Not configured, and listening beyond loopback: pages answer 403.
    Closed,
    Basic(std::sync::Arc<pakiti_httpserver::BasicAuth>),
    Cert(Vec<String>),
    Proxy {
        header: axum::http::HeaderName,
        addresses: Vec<std::net::IpAddr>,
    },
}

impl std::fmt::Debug for WebAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WebAccess::Open => "open",
            WebAccess::Closed => "closed",
            WebAccess::Basic(_) => "basic",
            WebAccess::Cert(_) => "cert",
            WebAccess::Proxy { .. } => "proxy",
        })
    }
}

/// Checked settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
    pub stale_after: Duration,
    pub remove_after: Duration,
    pub history_retention: Duration,
    pub clients: Vec<Client>,
    pub scrape: Scrape,
    /// `None`: not configured (open on loopback, closed elsewhere: decided at start).
    pub web_access: Option<WebAccess>,
    /// `/federate` is behind `[web] access` (`[web] federate = "access"`).
    pub federate_behind_access: bool,
    pub postgres: pakiti_store::PgOptions,
    pub sqlite: pakiti_store::SqliteOptions,
    pub upstreams: Vec<Upstream>,
    /// `[feeds] dir` and how often it is looked at.
    pub feeds_dir: Option<(PathBuf, Duration)>,
    /// What `feeds fetch` downloads: (name, URL, file name).
    pub feed_urls: Vec<(String, String, String)>,
    /// `[feeds.releases]`, checked.
    pub release_map: crate::releases::ReleaseMap,
    /// `[decisions] file` and how often it is looked at.
    pub decisions_file: Option<(PathBuf, Duration)>,
    /// `[decisions.deadlines]`, checked.
    pub deadlines: pakiti_decisions::Deadlines,
    /// `[web] operators`: who may record decisions in the web UI.
    pub operators: Vec<String>,
}

/// What a downstream aggregator sends upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    Stats,
    Reports,
}

/// A checked `[[upstream]]`, its credentials read.
#[derive(Clone)]
pub struct Upstream {
    /// The base URL, without a trailing slash; also the name of its queue.
    pub url: String,
    pub send: SendMode,
    pub interval: Duration,
    pub token: Option<String>,
    pub ca_pem: Option<Vec<u8>>,
    /// Certificate and key, PEM, concatenated.
    pub identity_pem: Option<Vec<u8>>,
    pub max_queued: u64,
    pub max_queued_bytes: u64,
    pub timeout: Duration,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("url", &self.url)
            .field("send", &self.send)
            .field("interval", &self.interval)
            .field("token", &self.token.as_ref().map(|_| "<secret>"))
            .finish_non_exhaustive()
    }
}

fn upstream(i: usize, u: &UpstreamEntry) -> anyhow::Result<Upstream> {
    let field = format!("upstream[{i}] ({})", u.url);
    let url = u.url.trim_end_matches('/').to_string();
    let parsed = reqwest::Url::parse(&url).with_context(|| format!("{field}: url"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        bail!("{field}: url must be http:// or https:// with a host");
    }
    let send = match u.send.as_str() {
        "stats" => SendMode::Stats,
        "reports" => SendMode::Reports,
        other => bail!("{field}: send {other:?} is not \"stats\" or \"reports\""),
    };
    let read = |what: &str, p: &Path| {
        std::fs::read(p).with_context(|| format!("{field}: {what} {}", p.display()))
    };
    let token = match &u.token_file {
        Some(p) => {
            let t = String::from_utf8(read("token_file", p)?)
                .with_context(|| format!("{field}: token_file is not text"))?;
            let t = t.trim().to_string();
            if t.is_empty() {
                bail!("{field}: token_file {} is empty", p.display());
            }
            Some(t)
        }
        None => None,
    };
    let identity_pem = match (&u.cert_file, &u.key_file) {
        (Some(c), Some(k)) => {
            let mut pem = read("cert_file", c)?;
            pem.push(b'\n');
            pem.extend(read("key_file", k)?);
            reqwest::Identity::from_pem(&pem).with_context(|| {
                format!("{field}: cert_file and key_file are not a PEM certificate and key")
            })?;
            Some(pem)
        }
        (None, None) => None,
        _ => bail!("{field}: cert_file and key_file go together"),
    };
    let ca_pem = match &u.ca_file {
        Some(p) => {
            let pem = read("ca_file", p)?;
            reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("{field}: ca_file is not a PEM certificate"))?;
            Some(pem)
        }
        None => None,
    };
    if token.is_none() && identity_pem.is_none() {
        bail!("{field}: give token_file or cert_file and key_file: a central aggregator accepts only servers it can recognise");
    }
    let max_queued = u.max_queued.unwrap_or(100_000);
    if max_queued == 0 {
        bail!("{field}: max_queued must be at least 1");
    }
    let max_queued_bytes = u.max_queued_bytes.unwrap_or(1 << 30);
    if max_queued_bytes < 1 << 20 {
        bail!("{field}: max_queued_bytes must be at least 1048576 (1 MiB)");
    }
    Ok(Upstream {
        url,
        send,
        interval: duration(&format!("{field}: interval"), u.interval.as_deref(), "5m")?,
        token,
        ca_pem,
        identity_pem,
        max_queued,
        max_queued_bytes,
        timeout: duration(&format!("{field}: timeout"), u.timeout.as_deref(), "30s")?,
    })
}

#[derive(Debug, Clone)]
pub struct Scrape {
    pub interval: Duration,
    pub timeout: Duration,
    pub concurrency: usize,
    pub scheme: String,
    pub ca_file: Option<PathBuf>,
    pub identity: Option<(PathBuf, PathBuf)>,
    pub basic_auth: Option<(String, String)>,
    pub static_configs: Vec<StaticConfig>,
    pub file_sd: Vec<String>,
}

pub fn load(path: Option<&Path>) -> anyhow::Result<File> {
    pakiti_service::config::load_toml(path, DEFAULT_CONFIG_FILE)
}

/// `[web] operators`: each needs an identity `[web] access` gives (a user
/// of basic or proxy, a certificate subject of cert).
fn operators(f: &File) -> anyhow::Result<Vec<String>> {
    let ops = f.web.operators.clone();
    if ops.is_empty() {
        return Ok(ops);
    }
    match f.web.access.as_deref() {
        Some("basic") => {
            for o in &ops {
                if !f.web.users.contains_key(o) {
                    bail!("web.operators: {o:?} is not one of web.users");
                }
            }
        }
        Some("cert") => {
            for o in &ops {
                pakiti_httpserver::dn::DistinguishedName::parse(o)
                    .map_err(|e| anyhow::anyhow!("web.operators: {o:?} is not a certificate subject: {e}"))?;
            }
        }
        Some("proxy") => {}
        _ => bail!("web.operators needs web.access = \"basic\", \"cert\" or \"proxy\": an operator must be identified"),
    }
    Ok(ops)
}

fn positive(field: &str, value: Option<&str>, default: &str) -> anyhow::Result<Duration> {
    let d = duration(field, value, default)?;
    if d.is_zero() {
        bail!("{field} must be more than 0");
    }
    Ok(d)
}

/// `[decisions.deadlines]` over the defaults (critical 2d, important 7d,
/// moderate 30d, low 90d, KEV: its due date); `"0s"`... is refused, `"off"`
/// removes a severity's deadline.
fn deadlines(d: &DeadlinesSection) -> anyhow::Result<pakiti_decisions::Deadlines> {
    let mut out = pakiti_decisions::Deadlines::default();
    for (severity, value) in [
        (pakiti_report::Severity::Critical, &d.critical),
        (pakiti_report::Severity::Important, &d.important),
        (pakiti_report::Severity::Moderate, &d.moderate),
        (pakiti_report::Severity::Low, &d.low),
        (pakiti_report::Severity::Unknown, &d.unknown),
    ] {
        let field = format!("decisions.deadlines.{}", severity.as_str());
        match value.as_deref() {
            None => {}
            Some("off") => {
                out.severity.remove(&severity);
            }
            Some(v) => {
                out.severity
                    .insert(severity, positive(&field, Some(v), "")?);
            }
        }
    }
    if let Some(kev) = d.kev {
        out.kev = kev;
    }
    for (tag, v) in &d.tags {
        pakiti_decisions::file::check_tag_name(tag)
            .map_err(|e| anyhow::anyhow!("decisions.deadlines.tags: {e}"))?;
        out.tags.insert(
            tag.clone(),
            positive(&format!("decisions.deadlines.tags.{tag}"), Some(v), "")?,
        );
    }
    Ok(out)
}

fn duration(field: &str, value: Option<&str>, default: &str) -> anyhow::Result<Duration> {
    pakiti_service::config::duration(field, value.unwrap_or(default))
}

fn hex32(field: &str, s: &str) -> anyhow::Result<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{field} must be 64 hexadecimal digits (the SHA-256 of the token, e.g. from `printf %s TOKEN | sha256sum`)");
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)?;
    }
    Ok(out)
}

/// An IPv4 peer of a dual-stack listener arrives as `::ffff:a.b.c.d`: the
/// same peer as `a.b.c.d`, and compared as such.
pub fn canonical_ip(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `--web.listen-address` names only loopback addresses.
pub fn listens_on_loopback(address: &str) -> bool {
    let host = address
        .rsplit_once(':')
        .map_or(address, |(h, _)| h)
        .trim_matches(['[', ']']);
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn clients(f: &File) -> anyhow::Result<Vec<Client>> {
    let mut clients = Vec::new();
    for (i, c) in f.client.iter().enumerate() {
        let field = format!("client[{i}] ({})", c.name);
        if c.token_sha256.is_none() && c.cert_subject.is_none() {
            bail!(
                "{field}: give token_sha256 or cert_subject, or the client can never be recognised"
            );
        }
        if let Some(subject) = &c.cert_subject {
            pakiti_httpserver::DistinguishedName::parse(subject).map_err(|e| {
                anyhow::anyhow!("{field}: cert_subject {subject:?} is not an RFC 4514 name: {e}")
            })?;
        }
        let role = match c.role.as_str() {
            "host" => Role::Host,
            "relay" => Role::Relay,
            "server" => Role::Server,
            other => bail!("{field}: role {other:?} is not one of host, relay, server"),
        };
        if c.sites.is_empty() {
            bail!("{field}: sites is empty; list the sites it may speak for, or [\"*\"] for any");
        }
        let sites = if c.sites.iter().any(|s| s == "*") {
            None
        } else {
            Some(c.sites.clone())
        };
        clients.push(Client {
            name: c.name.clone(),
            token_sha256: c
                .token_sha256
                .as_deref()
                .map(|t| hex32(&format!("{field}: token_sha256"), t))
                .transpose()?,
            cert_subject: c.cert_subject.clone(),
            sites,
            role,
        });
    }
    Ok(clients)
}

fn scrape(f: &File) -> anyhow::Result<Scrape> {
    let s = &f.scrape;
    let identity = match (&s.cert_file, &s.key_file) {
        (Some(c), Some(k)) => Some((c.clone(), k.clone())),
        (None, None) => None,
        _ => bail!("scrape: cert_file and key_file go together"),
    };
    let basic_auth = match (&s.username, &s.password_file) {
        (Some(u), Some(p)) => {
            let pw = std::fs::read_to_string(p)
                .with_context(|| format!("scrape.password_file {}", p.display()))?;
            Some((u.clone(), pw.trim_end_matches(['\n', '\r']).to_string()))
        }
        (None, None) => None,
        _ => bail!("scrape: username and password_file go together"),
    };
    let scheme = s.scheme.clone().unwrap_or_else(|| "http".into());
    if scheme != "http" && scheme != "https" {
        bail!("scrape.scheme {scheme:?} is not http or https");
    }
    Ok(Scrape {
        interval: duration("scrape.interval", s.interval.as_deref(), "5m")?,
        timeout: duration("scrape.timeout", s.timeout.as_deref(), "30s")?,
        concurrency: s.concurrency.unwrap_or(16).max(1),
        scheme,
        ca_file: s.ca_file.clone(),
        identity,
        basic_auth,
        static_configs: s.static_configs.clone(),
        file_sd: s.file_sd.clone(),
    })
}

/// `[web] access` as configured (`None`: not configured).
fn web_access(f: &File) -> anyhow::Result<Option<WebAccess>> {
    let w = &f.web;
    Ok(match w.access.as_deref() {
        None => None,
        Some("open") => Some(WebAccess::Open),
        Some("basic") => {
            if w.users.is_empty() {
                bail!("web.access = \"basic\" needs web.users (name = bcrypt hash)");
            }
            Some(WebAccess::Basic(std::sync::Arc::new(
                pakiti_httpserver::BasicAuth::new(w.users.clone()).context("web.users")?,
            )))
        }
        Some("cert") => {
            if w.cert_subjects.is_empty() {
                bail!("web.access = \"cert\" needs web.cert_subjects");
            }
            for subject in &w.cert_subjects {
                pakiti_httpserver::DistinguishedName::parse(subject).map_err(|e| {
                    anyhow::anyhow!("web.cert_subjects: {subject:?} is not an RFC 4514 name: {e}")
                })?;
            }
            Some(WebAccess::Cert(w.cert_subjects.clone()))
        }
        Some("proxy") => {
            let header = w
                .proxy_header
                .as_deref()
                .context("web.access = \"proxy\" needs web.proxy_header")?;
            if w.proxy_addresses.is_empty() {
                bail!("web.access = \"proxy\" needs web.proxy_addresses: the proxies trusted to set {header}");
            }
            Some(WebAccess::Proxy {
                header: axum::http::HeaderName::try_from(header).context("web.proxy_header")?,
                addresses: w.proxy_addresses.iter().map(|a| canonical_ip(*a)).collect(),
            })
        }
        Some(other) => bail!("web.access {other:?} is not one of open, basic, cert, proxy"),
    })
}

impl Settings {
    /// `[web] access` as configured; unconfigured, open on loopback and
    /// closed (403) anywhere else.
    pub fn effective_web_access(&self, listen_address: &str) -> WebAccess {
        match &self.web_access {
            Some(a) => a.clone(),
            None if listens_on_loopback(listen_address) => WebAccess::Open,
            None => WebAccess::Closed,
        }
    }

    pub fn from_file(f: &File) -> anyhow::Result<Settings> {
        let st = &f.storage;
        let postgres = pakiti_store::PgOptions {
            pool_size: st.pool_size.unwrap_or(8).max(1),
            statement_timeout: duration(
                "storage.statement_timeout",
                st.statement_timeout.as_deref(),
                "10s",
            )?,
            connect_timeout: duration(
                "storage.connect_timeout",
                st.connect_timeout.as_deref(),
                "5s",
            )?,
        };
        let sqlite = match st.sqlite_cache_mib {
            None => pakiti_store::SqliteOptions::default(),
            Some(mib @ 1..=65536) => pakiti_store::SqliteOptions { cache_mib: mib },
            Some(other) => bail!("storage.sqlite_cache_mib = {other}: expected 1 to 65536 (MiB)"),
        };
        let mut upstreams: Vec<Upstream> = Vec::new();
        for (i, u) in f.upstream.iter().enumerate() {
            let up = upstream(i, u)?;
            if upstreams.iter().any(|o| o.url == up.url) {
                bail!("upstream[{i}]: {} is listed twice", up.url);
            }
            upstreams.push(up);
        }
        let feeds_dir = match &f.feeds.dir {
            Some(dir) => {
                if !dir.is_dir() {
                    bail!("feeds.dir {}: not a folder", dir.display());
                }
                let every = duration("feeds.check_every", f.feeds.check_every.as_deref(), "1m")?;
                if every.is_zero() {
                    bail!("feeds.check_every must be more than 0");
                }
                Some((dir.clone(), every))
            }
            None if f.feeds.check_every.is_some() => {
                bail!("feeds.check_every without feeds.dir")
            }
            None => None,
        };
        Ok(Settings {
            upstreams,
            postgres,
            sqlite,
            feeds_dir,
            feed_urls: crate::feed_fetch::configured(&f.feeds.urls)?,
            release_map: crate::releases::ReleaseMap::parse(&f.feeds.releases)?,
            decisions_file: match &f.decisions.file {
                Some(p) => Some((
                    p.clone(),
                    positive(
                        "decisions.check_every",
                        f.decisions.check_every.as_deref(),
                        "10s",
                    )?,
                )),
                None if f.decisions.check_every.is_some() => {
                    bail!("decisions.check_every without decisions.file")
                }
                None => None,
            },
            deadlines: deadlines(&f.decisions.deadlines)?,
            operators: operators(f)?,
            web_access: web_access(f)?,
            federate_behind_access: match f.web.federate.as_deref() {
                None | Some("open") => false,
                Some("access") => true,
                Some(other) => bail!("web.federate {other:?} is not open or access"),
            },
            max_body_bytes: f.server.max_body_bytes.unwrap_or(16 << 20),
            body_timeout: duration(
                "server.body_timeout",
                f.server.body_timeout.as_deref(),
                "60s",
            )?,
            stale_after: duration("server.stale_after", f.server.stale_after.as_deref(), "2h")?,
            remove_after: duration(
                "server.remove_after",
                f.server.remove_after.as_deref(),
                "30d",
            )?,
            history_retention: duration(
                "server.history_retention",
                f.server.history_retention.as_deref(),
                "90d",
            )?,
            clients: clients(f)?,
            scrape: scrape(f)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Settings> {
        Settings::from_file(&toml::from_str(text)?)
    }

    #[test]
    fn the_example_names_every_key_the_code_takes_and_no_other() {
        let diff = pakiti_service::example_keys::differences::<File>(include_str!(
            "../../config/aggregator.toml"
        ));
        assert!(diff.is_empty(), "config/aggregator.toml: {diff:#?}");
    }

    /// The example with its placeholder tables (`#[[client]]` and the keys under it written
    /// `#key = value`) taken in, as an operator who fills them in would.
    fn with_placeholders(example: &str, tables: &[&str]) -> String {
        let mut inside = false;
        let mut out = String::new();
        for line in example.lines() {
            let bare = line.strip_prefix('#').filter(|l| !l.starts_with(' '));
            match bare {
                Some(l) if l.starts_with('[') => inside = tables.contains(&l),
                None if line.starts_with('[') => inside = false,
                _ => {}
            }
            out.push_str(if inside { bare.unwrap_or(line) } else { line });
            out.push('\n');
        }
        out
    }

    #[test]
    fn the_example_config_starts_as_it_is_and_its_placeholders_parse() {
        let example = include_str!("../../config/aggregator.toml");
        // As shipped (the packages install it as /etc/pakiti/aggregator.toml): every default.
        let f: File = toml::from_str(example).unwrap();
        let s = Settings::from_file(&f).unwrap();
        assert!(s.clients.is_empty() && s.upstreams.is_empty());
        assert!(f.scrape.password_file.is_none() && f.scrape.static_configs.is_empty());

        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("upstream.token");
        std::fs::write(&token, "a-token\n").unwrap();
        let filled = with_placeholders(example, &["[[client]]", "[[upstream]]"])
            .replace("/etc/pakiti/upstream.token", token.to_str().unwrap());
        let s = Settings::from_file(&toml::from_str(&filled).unwrap()).unwrap();
        assert_eq!(s.clients.len(), 2);
        assert_eq!(s.clients[1].role, Role::Relay);
        assert_eq!(s.upstreams.len(), 1);
        assert_eq!(s.upstreams[0].send, SendMode::Reports);
        assert_eq!(s.upstreams[0].token.as_deref(), Some("a-token"));
    }

    #[test]
    fn upstreams_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("t");
        std::fs::write(&token, "tok\n").unwrap();
        let t = token.display();
        let ok = format!(
            "[[upstream]]\nurl = \"http://c:10151/\"\nsend = \"stats\"\ntoken_file = \"{t}\"\n"
        );
        let s = parse(&ok).unwrap();
        assert_eq!(s.upstreams[0].url, "http://c:10151", "no trailing slash");
        assert_eq!(s.upstreams[0].interval, Duration::from_secs(300));
        assert_eq!(s.upstreams[0].max_queued, 100_000);
        for (text, want) in [
            (ok.replace("stats", "everything"), "send \"everything\""),
            (
                ok.replace("http://c:10151/", "ftp://c"),
                "http:// or https://",
            ),
            (
                ok.replace(&format!("token_file = \"{t}\"\n"), ""),
                "token_file or cert_file",
            ),
            (
                ok.replace(&t.to_string(), "/nonexistent/token"),
                "/nonexistent/token",
            ),
            (format!("{ok}{ok}"), "listed twice"),
            (format!("{ok}max_queued = 0\n"), "max_queued"),
            (format!("{ok}max_queued_bytes = 1000\n"), "max_queued_bytes"),
            (format!("{ok}interval = \"soon\"\n"), "interval"),
            (format!("{ok}cert_file = \"{t}\"\n"), "go together"),
            (format!("{ok}colour = \"blue\"\n"), "unknown field"),
        ] {
            let e = format!("{:#}", parse(&text).unwrap_err());
            assert!(e.contains(want), "{text}\n→ {e}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        let e = |t: &str| format!("{:#}", parse(t).unwrap_err());
        assert!(e("[[client]]\nname = \"a\"\nsites = [\"A\"]\n")
            .contains("token_sha256 or cert_subject"));
        assert!(
            e("[[client]]\nname = \"a\"\ntoken_sha256 = \"abc\"\nsites = [\"A\"]\n")
                .contains("64 hexadecimal")
        );
        assert!(e(
            "[[client]]\nname = \"a\"\ncert_subject = \"CN=a\"\nsites = [\"A\"]\nrole = \"boss\"\n"
        )
        .contains("role"));
        assert!(e("[[client]]\nname = \"a\"\ncert_subject = \"CN=a\"\n").contains("sites is empty"));
        assert!(e("[server]\nstale_after = \"soon\"\n").contains("stale_after"));
        assert!(e("[serverr]\n").contains("unknown field"));
        for bad in ["0", "65537"] {
            assert!(e(&format!("[storage]\nsqlite_cache_mib = {bad}\n"))
                .contains("storage.sqlite_cache_mib"));
        }
    }

    #[test]
    fn the_sqlite_cache_is_chosen() {
        let cache = |t: &str| parse(t).unwrap().sqlite.cache_mib;
        assert_eq!(cache(""), 64);
        assert_eq!(cache("[storage]\nsqlite_cache_mib = 8\n"), 8);
    }
}
