//! Command line: raw flags ([`Args`]) are turned into validated [`Settings`]
//! in one step, so nothing past here sees an unchecked value.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand, ValueEnum};

use pakiti_collectors::{Context, SecurityPattern};
use pakiti_report::Manager;
pub use pakiti_service::logging::{self, LogFormat};

use crate::config::{self, UpdateInfo};

#[derive(Debug, Parser)]
#[command(
    name = "pakiti-exporter",
    version,
    about = "Pending and security package updates of this host, for Prometheus",
    after_help = "Without a command, `serve` runs."
)]
pub struct Args {
    /// TOML configuration file (an absent default file means defaults).
    #[arg(long = "config.file", global = true, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Address to listen on for `serve`.
    #[arg(
        long = "web.listen-address",
        global = true,
        value_name = "ADDR",
        default_value = ":10150"
    )]
    pub listen_address: String,
    /// exporter-toolkit web configuration: TLS, client certificates, basic auth.
    #[arg(long = "web.config.file", global = true, value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
    /// Root of the system to inspect (a host mounted elsewhere, e.g. in a container).
    #[arg(
        long = "path.rootfs",
        global = true,
        value_name = "DIR",
        default_value = "/"
    )]
    pub rootfs: PathBuf,
    /// Package manager: auto, apt, dnf, yum, zypper, apk or pacman.
    #[arg(long = "collector.manager", global = true, value_name = "NAME")]
    pub manager: Option<String>,
    /// Log level: debug, info, warn, error.
    #[arg(long = "log.level", global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log format: logfmt or json.
    #[arg(long = "log.format", global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Daemon: collect on a schedule and serve the latest result over HTTP.
    Serve,
    /// One collection now, printed to stdout.
    Collect {
        #[arg(long, value_enum, default_value_t = Format::Prometheus)]
        format: Format,
    },
    /// One collection now, pushed to the aggregator(s): the cron mode of the original client.
    Push {
        /// Aggregator URL; repeat for several. Default: push.urls of the configuration.
        #[arg(long = "server", value_name = "URL")]
        servers: Vec<String>,
    },
    /// One collection now, written atomically for node_exporter's textfile collector.
    Textfile {
        /// The .prom file to write; its directory must exist.
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// The Prometheus text format, as /metrics serves it.
    Prometheus,
    /// The JSON report, as /api/v1/report serves it.
    Json,
    /// A table for people.
    Text,
}

/// Which package manager to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagerChoice {
    Auto,
    Fixed(Manager),
}

/// Everything the exporter runs with, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub rootfs: PathBuf,
    pub manager: ManagerChoice,
    pub interval: Duration,
    pub jitter: Duration,
    pub timeout: Duration,
    pub refresh_metadata: bool,
    pub update_info: UpdateInfo,
    pub cache_dir: PathBuf,
    pub restart_scan: bool,
    pub support: config::SupportSection,
    pub site: Option<String>,
    pub security_patterns: Vec<SecurityPattern>,
    pub apk_secdb: Vec<PathBuf>,
    pub listen_address: String,
    pub web_config_file: Option<PathBuf>,
    pub push: crate::push::PushSettings,
    pub log_level: tracing::Level,
    pub log_format: LogFormat,
}

impl Settings {
    pub fn resolve(args: &Args) -> anyhow::Result<Settings> {
        let file = config::load(args.config_file.as_deref())?;
        let c = &file.collector;
        let manager = match args
            .manager
            .as_deref()
            .or(c.manager.as_deref())
            .unwrap_or("auto")
        {
            "auto" => ManagerChoice::Auto,
            name => ManagerChoice::Fixed(
                name.parse()
                    .map_err(|e| anyhow::anyhow!("--collector.manager: {e}"))?,
            ),
        };
        let interval =
            config::duration("collector.interval", c.interval.as_deref().unwrap_or("30m"))?;
        if interval < Duration::from_secs(10) {
            bail!("collector.interval {interval:?} is too short: collections ask the package manager, use at least 10s");
        }
        let log_level = match args
            .log_level
            .as_deref()
            .or(file.log.level.as_deref())
            .unwrap_or("info")
        {
            "debug" => tracing::Level::DEBUG,
            "info" => tracing::Level::INFO,
            "warn" => tracing::Level::WARN,
            "error" => tracing::Level::ERROR,
            other => bail!("--log.level {other:?} is not one of debug, info, warn, error"),
        };
        let log_format = match args
            .log_format
            .as_deref()
            .or(file.log.format.as_deref())
            .unwrap_or("logfmt")
        {
            "logfmt" => LogFormat::Logfmt,
            "json" => LogFormat::Json,
            other => bail!("--log.format {other:?} is not one of logfmt, json"),
        };
        if !args.rootfs.is_dir() {
            bail!("--path.rootfs {} is not a directory", args.rootfs.display());
        }
        let rootfs = args
            .rootfs
            .canonicalize()
            .with_context(|| format!("--path.rootfs {}", args.rootfs.display()))?;
        let p = &file.push;
        let identity = match (&p.cert_file, &p.key_file) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => None,
            _ => bail!("push.cert_file and push.key_file go together"),
        };
        let servers = match &args.command {
            Some(Command::Push { servers }) if !servers.is_empty() => servers.clone(),
            _ => p.urls.clone(),
        };
        for url in &servers {
            crate::push::endpoint(url)?;
        }
        let push = crate::push::PushSettings {
            urls: servers,
            ca_file: p.ca_file.clone(),
            identity,
            token_file: p.token_file.clone(),
            jitter: config::duration("push.jitter", p.jitter.as_deref().unwrap_or("0s"))?,
            timeout: config::duration("push.timeout", p.timeout.as_deref().unwrap_or("30s"))?,
            retries: p.retries.unwrap_or(3),
            backoff: config::duration(
                "push.retry_backoff",
                p.retry_backoff.as_deref().unwrap_or("10s"),
            )?,
        };
        Ok(Settings {
            rootfs,
            manager,
            interval,
            jitter: config::duration("collector.jitter", c.jitter.as_deref().unwrap_or("0s"))?,
            timeout: config::duration("collector.timeout", c.timeout.as_deref().unwrap_or("5m"))?,
            refresh_metadata: c.refresh_metadata.unwrap_or(false),
            update_info: c.update_info.as_deref().unwrap_or("security").parse()?,
            cache_dir: c
                .cache_dir
                .clone()
                .unwrap_or_else(crate::snapshot::default_cache_dir),
            restart_scan: c.restart_scan.unwrap_or(true),
            support: file.support.clone(),
            site: file.site.clone(),
            security_patterns: config::security_patterns(&file.apt),
            apk_secdb: file.apk.secdb.clone(),
            listen_address: args.listen_address.clone(),
            web_config_file: args.web_config_file.clone(),
            push,
            log_level,
            log_format,
        })
    }

    pub fn collector_context(&self) -> Context {
        Context {
            rootfs: self.rootfs.clone(),
            timeout: self.timeout,
            refresh_metadata: self.refresh_metadata,
            cache_dir: Some(self.cache_dir.clone()),
            security_patterns: self.security_patterns.clone(),
            apk_secdb: self.apk_secdb.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut v = vec!["pakiti-exporter", "--config.file", "/dev/null"];
        v.extend_from_slice(extra);
        Args::parse_from(v)
    }

    #[test]
    fn defaults_follow_the_product_contract() {
        let a = args(&[]);
        assert_eq!(a.listen_address, ":10150");
        let s = Settings::resolve(&a).unwrap();
        assert_eq!(s.manager, ManagerChoice::Auto);
        assert_eq!(s.update_info, UpdateInfo::Security);
        assert_eq!(s.rootfs, PathBuf::from("/"));
    }

    #[test]
    fn bad_flags_are_named() {
        let e = |extra: &[&str]| format!("{:#}", Settings::resolve(&args(extra)).unwrap_err());
        assert!(e(&["--collector.manager", "emerge"]).contains("--collector.manager"));
        assert!(e(&["--log.level", "loud"]).contains("--log.level"));
        assert!(e(&["--path.rootfs", "/nonexistent"]).contains("--path.rootfs /nonexistent"));
    }
}
