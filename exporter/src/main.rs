//! pakiti-exporter: glue between the command line, the collectors and the web server.
//!
//! Exit status: 0 success, 1 the collection failed, 2 bad flags or configuration.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use clap::Parser;

use pakiti_exporter::cli::{Args, Command, Format, ManagerChoice, Settings};
use pakiti_exporter::push::Pusher;
use pakiti_exporter::snapshot::{HostFacts, Runner, Shared, Snapshot};
use pakiti_exporter::{metrics, textfile, web};
use pakiti_httpserver::webconfig;

fn main() -> ExitCode {
    let args = Args::parse();
    let settings = match Settings::resolve(&args) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    pakiti_service::logging::init(settings.log_level, settings.log_format);
    let result = match args.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Collect { format } => collect(&settings, format),
        Command::Textfile { output } => write_textfile(&settings, &output),
        Command::Push { .. } => push(&settings),
    };
    result.unwrap_or_else(usage_error)
}

fn usage_error(e: anyhow::Error) -> ExitCode {
    eprintln!("pakiti-exporter: {e:#}");
    ExitCode::from(2)
}

/// The collector for this host, checked before any work starts.
fn runner(s: &Settings) -> anyhow::Result<Runner> {
    let mut host = HostFacts::read(&s.rootfs, s.site.clone())?;
    let manager = match s.manager {
        ManagerChoice::Fixed(m) => m,
        ManagerChoice::Auto => host.manager.ok_or_else(|| {
            anyhow!(
                "cannot tell the package manager from {}/etc/os-release (ID={}); set --collector.manager",
                s.rootfs.display().to_string().trim_end_matches('/'),
                host.os.id
            )
        })?,
    };
    host.manager = Some(manager);
    let shipped = pakiti_vulns::support::shipped().find(&host.os.id, &host.os.version);
    host.support = pakiti_exporter::config::support_window(&s.support, shipped)?;
    let collector = pakiti_collectors::collector(manager, s.collector_context());
    let restart = s.restart_scan.then(|| (manager, s.collector_context()));
    Ok(Runner {
        collector,
        host,
        restart,
        rootfs: s.rootfs.clone(),
    })
}

fn collect(s: &Settings, format: Format) -> anyhow::Result<ExitCode> {
    let runner = runner(s)?;
    let (attempt, result) = runner.run();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pakiti-exporter: collection failed: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let out = match format {
        Format::Json => {
            let mut v = pakiti_report::to_json_pretty(&report);
            v.push(b'\n');
            v
        }
        Format::Text => pakiti_exporter::text::table(&report).into_bytes(),
        Format::Prometheus => {
            let snap = Snapshot {
                host: runner.host.clone(),
                last_attempt: Some(attempt),
                report: Some(report),
            };
            metrics::render(&snap, s.update_info).into_bytes()
        }
    };
    std::io::stdout()
        .lock()
        .write_all(&out)
        .context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn push(s: &Settings) -> anyhow::Result<ExitCode> {
    if s.push.urls.is_empty() {
        anyhow::bail!("nowhere to push: give --server URL or set push.urls in the configuration");
    }
    let pusher = Pusher::new(s.push.clone())?;
    let runner = runner(s)?;
    if !s.push.jitter.is_zero() {
        let delay = s.push.jitter.mul_f64(fastrand::f64());
        tracing::info!(
            delay_s = delay.as_secs(),
            "waiting before collecting (push.jitter)"
        );
        std::thread::sleep(delay);
    }
    let (_, result) = runner.run();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pakiti-exporter: collection failed: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    match rt.block_on(pusher.push(&report)) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("pakiti-exporter: push failed: {e:#}");
            Ok(ExitCode::from(1))
        }
    }
}

fn write_textfile(s: &Settings, output: &Path) -> anyhow::Result<ExitCode> {
    textfile::check_target(output)?;
    let runner = runner(s)?;
    let (attempt, result) = runner.run();
    let failed = attempt.error.clone();
    let snap = Snapshot {
        host: runner.host.clone(),
        last_attempt: Some(attempt),
        report: result.ok(),
    };
    // A failed collection is written too: success 0 and no stale counts.
    textfile::write_atomically(output, metrics::render(&snap, s.update_info).as_bytes())?;
    match failed {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => {
            eprintln!("pakiti-exporter: collection failed: {e} (written to {} as pakiti_collection_success 0)", output.display());
            Ok(ExitCode::from(1))
        }
    }
}

fn serve(s: Settings) -> anyhow::Result<ExitCode> {
    let web_config = match &s.web_config_file {
        Some(p) => webconfig::load(p)?,
        None => webconfig::WebConfig::none(),
    };
    let runner = Arc::new(runner(&s)?);
    let pusher = if s.push.urls.is_empty() {
        None
    } else {
        Some(Arc::new(Pusher::new(s.push.clone())?))
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async move {
        let listener = pakiti_httpserver::bind(&s.listen_address).await?;
        let shared = Arc::new(Shared::new(runner.host.clone(), s.update_info));
        tracing::info!(
            address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            tls = web_config.tls.is_some(),
            basic_auth = web_config.auth.is_some(),
            manager = %runner.collector.manager(),
            interval = ?s.interval,
            jitter = ?s.jitter,
            "pakiti-exporter listening"
        );
        if let Some(p) = &pusher {
            tracing::info!(urls = ?p.urls(), "pushing each collection");
        }
        tokio::spawn(schedule(
            runner,
            shared.clone(),
            pusher,
            s.interval,
            s.jitter,
        ));
        let router = web::app(shared, &web_config);
        tokio::select! {
            r = pakiti_httpserver::serve(listener, router, &web_config) => r?,
            _ = pakiti_service::shutdown_signal() => tracing::info!("shutting down"),
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Collects at start, then every `interval` plus a random delay up to `jitter`.
async fn schedule(
    runner: Arc<Runner>,
    shared: Arc<Shared>,
    pusher: Option<Arc<Pusher>>,
    interval: Duration,
    jitter: Duration,
) {
    loop {
        let r = runner.clone();
        match tokio::task::spawn_blocking(move || r.run()).await {
            Ok((attempt, result)) => {
                match &result {
                    Ok(report) => tracing::info!(
                        duration_ms = attempt.duration.as_millis() as u64,
                        pending = report.inventory.updates.len(),
                        security = report
                            .inventory
                            .updates
                            .iter()
                            .filter(|u| u.is_security())
                            .count(),
                        held = report.inventory.held_count(),
                        "collection finished"
                    ),
                    Err(e) => {
                        tracing::warn!(duration_ms = attempt.duration.as_millis() as u64, error = %e, "collection failed")
                    }
                }
                if let (Some(p), Ok(report)) = (&pusher, &result) {
                    // Pushing (with its retries) never delays the next collection.
                    let (p, report, counts) = (p.clone(), report.clone(), shared.clone());
                    tokio::spawn(async move {
                        let delivered = p.push(&report).await.is_ok();
                        counts.own.push(delivered);
                    });
                }
                shared.record(attempt, result.ok());
            }
            Err(e) => tracing::error!(error = %e, "collection task panicked"),
        }
        let delay = interval + jitter.mul_f64(fastrand::f64());
        tracing::debug!(next_in_s = delay.as_secs(), "next collection scheduled");
        tokio::time::sleep(delay).await;
    }
}
