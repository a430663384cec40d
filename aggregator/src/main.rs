//! pakiti-aggregator: glue between flags, configuration, the store and the web server.
//!
//! Exit status: 0 after a clean shutdown, 2 for bad flags, configuration or storage.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::Parser;

use pakiti_aggregator::app::{app, AppState};
use pakiti_aggregator::config::WebAccess;
use pakiti_aggregator::config::{self, Settings};
use pakiti_aggregator::scrape;
use pakiti_httpserver::webconfig;
use pakiti_store::Retention;

/// Reports are thousands of small strings each: mimalloc handles that churn
/// markedly better than the system allocator (see bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_STORAGE: &str = "/var/lib/pakiti/aggregator.db";

#[derive(Debug, Parser)]
#[command(
    name = "pakiti-aggregator",
    version,
    about = "Collects pakiti reports from a fleet, keeps them with their history and serves them"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// TOML configuration file (an absent default file means defaults).
    #[arg(long = "config.file", value_name = "FILE", global = true)]
    config_file: Option<PathBuf>,
    /// Address to listen on.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDR",
        default_value = ":10151"
    )]
    listen_address: String,
    /// exporter-toolkit web configuration: TLS, client certificates, basic auth.
    #[arg(long = "web.config.file", value_name = "FILE")]
    web_config_file: Option<PathBuf>,
    /// Where reports are kept: a SQLite file (path or sqlite:PATH), or postgres://… for replicas sharing one database.
    #[arg(long = "storage.url", value_name = "URL", default_value = DEFAULT_STORAGE, global = true)]
    storage_url: String,
    /// Log level: debug, info, warn, error.
    #[arg(long = "log.level", value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log format: logfmt or json.
    #[arg(long = "log.format", value_name = "FORMAT")]
    log_format: Option<String>,
}

/// Operator actions on the store; without one, the aggregator serves.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Operator actions on stored hosts.
    Hosts {
        #[command(subcommand)]
        action: HostsAction,
    },
    /// Vulnerability feeds.
    Feeds {
        #[command(subcommand)]
        action: FeedsAction,
    },
}

#[derive(Debug, clap::Subcommand)]
enum FeedsAction {
    /// Imports feed files or folders of them into the store (each feed's
    /// records replaced whole; a bad file changes nothing).
    Import {
        #[arg(required = true)]
        paths: Vec<std::path::PathBuf>,
        /// Import a feed older than the loaded one of its name (to go back).
        #[arg(long)]
        allow_older: bool,
    },
    /// Downloads the configured feeds ([feeds] urls; by default Debian's
    /// tracker and Ubuntu's OSV) into a folder, each checked before it
    /// replaces the previous file.
    Fetch { dir: std::path::PathBuf },
}

#[derive(Debug, clap::Subcommand)]
enum HostsAction {
    /// Moves a host to another site (no report can: a report naming another
    /// site for a stored host is refused).
    Move {
        /// The host name, as the pages show it.
        hostname: String,
        /// The site it is in now ("" for none).
        #[arg(long)]
        from: String,
        /// The site it moves to ("" for none).
        #[arg(long)]
        to: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Feeds {
        action: FeedsAction::Import { paths, allow_older },
    }) = &args.command
    {
        return match feeds_command(&args, paths, *allow_older) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pakiti-aggregator: {e:#}; nothing was imported");
                ExitCode::from(1)
            }
        };
    }
    if let Some(Command::Feeds {
        action: FeedsAction::Fetch { dir },
    }) = &args.command
    {
        return fetch_command(&args, dir);
    }
    if let Some(Command::Hosts { action }) = &args.command {
        return match hosts_command(&args, action) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("pakiti-aggregator: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pakiti-aggregator: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let file = config::load(args.config_file.as_deref())?;
    let settings = Settings::from_file(&file).with_context(|| {
        format!(
            "invalid configuration {}",
            args.config_file
                .as_deref()
                .unwrap_or(Path::new(config::DEFAULT_CONFIG_FILE))
                .display()
        )
    })?;
    pakiti_aggregator::releases::set_release_map(settings.release_map.clone());
    pakiti_service::logging::init(
        pakiti_service::logging::level(args.log_level.as_deref().or(file.log.level.as_deref()))?,
        pakiti_service::logging::format(args.log_format.as_deref().or(file.log.format.as_deref()))?,
    );
    let web = match &args.web_config_file {
        Some(p) => webconfig::load(p)?,
        None => webconfig::WebConfig::none(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    // The port before the database: a start that cannot listen leaves no
    // database file behind.
    let listener = rt.block_on(pakiti_httpserver::bind(&args.listen_address))?;
    let store = open_store(&args.storage_url, &settings)?;
    let scrape_client = scrape::client(&settings.scrape)?;
    let has_targets =
        !settings.scrape.static_configs.is_empty() || !settings.scrape.file_sd.is_empty();
    let settings = Arc::new(settings);
    let web_access = settings.effective_web_access(&args.listen_address);
    if matches!(web_access, WebAccess::Closed) {
        tracing::warn!(
            address = %args.listen_address,
            "the web pages and the hosts API stay closed (403) until [web] access is set in the configuration, since the aggregator listens beyond loopback"
        );
    }
    // Kept here so that the store is dropped after the runtime, on this thread:
    // PostgreSQL's blocking client may not be dropped inside the runtime.
    let keep_store = store.clone();
    let mut state = AppState::new(store, settings.clone(), web_access);
    state.decisions = std::sync::Arc::new(
        pakiti_aggregator::decisions::Book::load(
            settings.decisions_file.as_ref().map(|(p, _)| p.as_path()),
        )
        .context("[decisions] file")?,
    );
    let code = rt.block_on(serve(
        args,
        listener,
        settings,
        web,
        state,
        scrape_client,
        has_targets,
    ));
    // Background tasks end here; what they held of the store goes with them.
    rt.shutdown_timeout(Duration::from_secs(10));
    drop(keep_store);
    code
}

/// The store `--storage.url` names; the default SQLite file's folder is made.
fn open_store(url: &str, settings: &Settings) -> anyhow::Result<Arc<dyn pakiti_store::Store>> {
    if url == DEFAULT_STORAGE {
        if let Some(dir) = Path::new(DEFAULT_STORAGE).parent() {
            std::fs::create_dir_all(dir).with_context(|| {
                format!(
                    "cannot create {} for the default database; pass --storage.url FILE",
                    dir.display()
                )
            })?;
        }
    }
    Ok(Arc::from(
        pakiti_store::open(url, settings.postgres, settings.sqlite).context("--storage.url")?,
    ))
}

/// Starts the background work (maintenance, scrapes, forwarding)
/// and serves until SIGINT or SIGTERM.
async fn serve(
    args: Args,
    listener: tokio::net::TcpListener,
    settings: Arc<Settings>,
    web: webconfig::WebConfig,
    state: AppState,
    scrape_client: reqwest::Client,
    has_targets: bool,
) -> anyhow::Result<ExitCode> {
    let local: Option<SocketAddr> = listener.local_addr().ok();
    if settings.clients.is_empty() && local.is_some_and(|a| !a.ip().is_loopback()) {
        tracing::warn!(
            address = %args.listen_address,
            "NO CLIENTS ARE CONFIGURED: anyone who can reach this address can push reports for any host. Add [[client]] entries, or listen on 127.0.0.1 only."
        );
    }
    tracing::info!(
        address = %local.map(|a| a.to_string()).unwrap_or_default(),
        storage = %args.storage_url,
        tls = web.tls.is_some(),
        clients = settings.clients.len(),
        scrape_targets = has_targets,
        "pakiti-aggregator listening"
    );
    tokio::spawn(maintain(state.clone()));
    if let Some((_, every)) = settings.decisions_file.clone() {
        tokio::spawn(pakiti_aggregator::decisions::watch(
            state.decisions.clone(),
            state.store.clone(),
            every,
        ));
    }
    if let Some((dir, every)) = settings.feeds_dir.clone() {
        tracing::info!(dir = %dir.display(), every = ?every, "importing vulnerability feeds from a folder when its files change");
        tokio::spawn(pakiti_aggregator::feed_dir::watch(
            state.clone(),
            dir,
            every,
        ));
    }
    if has_targets {
        tokio::spawn(scrape::run(
            state.clone(),
            settings.scrape.clone(),
            scrape_client,
        ));
    }
    for u in settings.upstreams.iter().cloned() {
        tracing::info!(upstream = %u.url, send = ?u.send, interval = ?u.interval, "forwarding to an upstream aggregator");
        tokio::spawn(pakiti_aggregator::forward::run(state.clone(), u));
    }
    let mut router = app(state);
    if let Some(auth) = &web.auth {
        router = pakiti_httpserver::basic_auth_unless(
            router,
            auth.clone(),
            "pakiti-aggregator",
            pakiti_aggregator::app::authenticates_itself(&settings),
        );
    }
    let router = pakiti_httpserver::headers(router, &web);
    tokio::select! {
        r = pakiti_httpserver::serve(listener, router, &web) => r?,
        _ = pakiti_service::shutdown_signal() => tracing::info!("shutting down"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `pakiti-aggregator feeds import PATH...`: prints what it loaded.
fn feeds_command(
    args: &Args,
    paths: &[std::path::PathBuf],
    allow_older: bool,
) -> anyhow::Result<()> {
    let file = config::load(args.config_file.as_deref())?;
    let settings = Settings::from_file(&file).context("invalid configuration")?;
    pakiti_aggregator::releases::set_release_map(settings.release_map.clone());
    let store = pakiti_store::open(&args.storage_url, settings.postgres, settings.sqlite)
        .context("--storage.url")?;
    let (lines, rematch) = pakiti_aggregator::feeds::import(store.as_ref(), paths, allow_older)?;
    for line in lines {
        println!("{line}");
    }
    if !rematch {
        // Priorities only: no host matches differently.
        return Ok(());
    }
    let mut progress = |done: usize, total: usize| {
        if done < total {
            eprintln!("pakiti-aggregator: rematching: {done} of {total} hosts");
        }
    };
    match pakiti_aggregator::rematch::fleet(store.as_ref(), &mut progress) {
        Ok(r) => {
            println!("{r}");
            Ok(())
        }
        Err(e) => {
            // The feeds are in: not "nothing was imported".
            eprintln!(
                "pakiti-aggregator: the feeds were imported, but rematching the hosts failed: {e}; the next import or each host's next changed report rematches"
            );
            std::process::exit(1)
        }
    }
}

/// `pakiti-aggregator feeds fetch DIR`: one line per feed; exit 1 when one
/// failed (its previous file stays), 2 on bad usage.
fn fetch_command(args: &Args, dir: &std::path::Path) -> ExitCode {
    let settings = config::load(args.config_file.as_deref())
        .and_then(|file| Settings::from_file(&file).context("invalid configuration"));
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pakiti-aggregator: {e:#}");
            return ExitCode::from(2);
        }
    };
    match pakiti_aggregator::feed_fetch::fetch(dir, &settings.feed_urls) {
        Ok((lines, all)) => {
            for line in lines {
                println!("{line}");
            }
            if all {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("pakiti-aggregator: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `pakiti-aggregator hosts …`: one operator action on the store, then exit.
fn hosts_command(args: &Args, action: &HostsAction) -> anyhow::Result<ExitCode> {
    let file = config::load(args.config_file.as_deref())?;
    let settings = Settings::from_file(&file).context("invalid configuration")?;
    let store = pakiti_store::open(&args.storage_url, settings.postgres, settings.sqlite)
        .context("--storage.url")?;
    match action {
        HostsAction::Move { hostname, from, to } => {
            let name = pakiti_report::Hostname::parse(hostname)
                .map_err(|e| anyhow::anyhow!("{hostname:?}: {e}"))?;
            let site = |s: &str, flag: &str| -> anyhow::Result<Option<String>> {
                if s.is_empty() {
                    return Ok(None);
                }
                pakiti_report::check_token("site", s)
                    .map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
                Ok(Some(s.to_string()))
            };
            let (from, to) = (site(from, "--from")?, site(to, "--to")?);
            let moved = store
                .move_host(name.as_str(), from.as_deref(), to.as_deref())
                .with_context(|| {
                    format!(
                        "moving {name} to site {:?} failed (does that site already have a host {name} without a machine id? two such hosts are never merged)",
                        to.as_deref().unwrap_or("")
                    )
                })?;
            if moved == 0 {
                eprintln!(
                    "pakiti-aggregator: no host {name} in site {:?}: nothing moved",
                    from.as_deref().unwrap_or("")
                );
                return Ok(ExitCode::from(1));
            }
            println!(
                "moved {moved} host(s) {name} from site {:?} to site {:?}",
                from.as_deref().unwrap_or(""),
                to.as_deref().unwrap_or("")
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Removes silent hosts and old history, at start and every ten minutes.
async fn maintain(state: AppState) {
    loop {
        let now = SystemTime::now();
        let retention = Retention {
            remove_hosts_before: now - state.settings.remove_after,
            drop_history_before: now - state.settings.history_retention,
        };
        let store = state.store.clone();
        match tokio::task::spawn_blocking(move || store.maintain(retention)).await {
            Ok(Ok(out)) if out.hosts_removed > 0 || out.history_dropped > 0 => {
                state.fleet.changed();
                state.fleet_list.changed();
                tracing::info!(
                    hosts_removed = out.hosts_removed,
                    history_dropped = out.history_dropped,
                    "maintenance"
                )
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "maintenance failed"),
            Err(e) => tracing::warn!(error = %e, "maintenance task failed"),
        }
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
}
