//! Collectors: ask a package manager what it would upgrade and return plain
//! data ([`pakiti_report::Inventory`]). They know nothing of HTTP, Prometheus,
//! JSON or databases.
//!
//! Each package manager is one module: pure parsers over the text the tool
//! prints, plus a thin part that runs the tool through [`exec`].

pub mod apt;
pub mod dpkg;
pub mod exec;
pub mod host;
pub mod reboot;

use std::path::PathBuf;
use std::time::Duration;

use pakiti_report::{Inventory, Manager};

pub use apt::SecurityPattern;

/// Why a collection failed.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("the {manager} collector cannot run here: {reason}")]
    Unavailable { manager: Manager, reason: String },
    #[error("could not start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} did not finish within {timeout:?} and was killed")]
    Timeout { command: String, timeout: Duration },
    #[error("{program} exited with status {status}: {stderr}")]
    Failed {
        program: String,
        status: i32,
        stderr: String,
    },
    #[error("{} has no etc/os-release or usr/lib/os-release: is --path.rootfs the root of a Linux system?", rootfs.display())]
    NotAnOsTree { rootfs: PathBuf },
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What every collector needs to know about the host and the user's wishes.
#[derive(Debug, Clone)]
pub struct Context {
    /// The root of the inspected tree (`/`, or a host mounted elsewhere).
    pub rootfs: PathBuf,
    /// Limit for each child process.
    pub timeout: Duration,
    /// Refresh the package lists (`apt-get update`) before collecting.
    pub refresh_metadata: bool,
    /// Where a collector may keep caches of its own (apt's binary cache).
    pub cache_dir: Option<PathBuf>,
    /// Which apt archives are security archives.
    pub security_patterns: Vec<SecurityPattern>,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            rootfs: PathBuf::from("/"),
            timeout: apt::DEFAULT_TIMEOUT,
            refresh_metadata: false,
            cache_dir: None,
            security_patterns: SecurityPattern::defaults(),
        }
    }
}

/// One package manager.
pub trait Collector: Send + Sync {
    fn manager(&self) -> Manager;
    /// One collection. Slow (seconds): callers run it off any request path.
    fn collect(&self) -> Result<Inventory, CollectError>;
}

/// The collector for `manager`.
pub fn collector(manager: Manager, ctx: Context) -> Result<Box<dyn Collector>, CollectError> {
    match manager {
        Manager::Apt => Ok(Box::new(apt::Apt::new(ctx))),
        other => Err(CollectError::Unavailable {
            manager: other,
            reason: "this build of pakiti has no collector for it yet".into(),
        }),
    }
}
