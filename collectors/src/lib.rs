//! Collectors: ask a package manager what it would upgrade and return plain
//! data ([`pakiti_report::Inventory`]). They know nothing of HTTP, Prometheus,
//! JSON or databases.
//!
//! Each package manager is one module: pure parsers over the text the tool
//! prints, plus a thin part that runs the tool through [`exec`].

pub mod apk;
pub mod apt;
pub mod apt_policy;
pub mod dnf;
pub mod dpkg;
pub mod esm;
pub mod exec;
pub mod file_owners;
pub mod host;
pub mod livepatch;
pub mod pacman;
pub mod reboot;
pub mod restart;
pub mod rpm;
pub mod zypper;

use std::path::PathBuf;
use std::time::Duration;

use pakiti_report::{Inventory, Manager, Severity};

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
    #[error("the {manager} collector failed unexpectedly (a bug; please report it): {message}")]
    Panicked { manager: Manager, message: String },
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
    /// Local copies of the Alpine security database (secdb JSON) for apk.
    pub apk_secdb: Vec<PathBuf>,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            rootfs: PathBuf::from("/"),
            timeout: apt::DEFAULT_TIMEOUT,
            refresh_metadata: false,
            cache_dir: None,
            security_patterns: SecurityPattern::defaults(),
            apk_secdb: Vec::new(),
        }
    }
}

/// One package manager.
pub trait Collector: Send + Sync {
    fn manager(&self) -> Manager;
    /// One collection. Slow (seconds): callers run it off any request path.
    fn collect(&self) -> Result<Inventory, CollectError>;
}

/// The collector for `manager`. Whether its tools are there is found out
/// when it collects (`CollectError::Unavailable`).
pub fn collector(manager: Manager, ctx: Context) -> Box<dyn Collector> {
    match manager {
        Manager::Apt => Box::new(apt::Apt::new(ctx)),
        Manager::Dnf => Box::new(dnf::Dnf::new(ctx)),
        Manager::Yum => Box::new(dnf::Dnf::yum(ctx)),
        Manager::Zypper => Box::new(zypper::Zypper::new(ctx)),
        Manager::Apk => Box::new(apk::Apk::new(ctx)),
        Manager::Pacman => Box::new(pacman::Pacman::new(ctx)),
    }
}

/// A severity as advisories and audit tools word it: updateinfo's
/// `Critical`, `Important`, `Moderate`, `Low`, and the tracker words `High`
/// and `Medium`; anything else is unknown.
pub fn severity_word(word: &str) -> Severity {
    match word.to_ascii_lowercase().as_str() {
        "critical" => Severity::Critical,
        "important" | "high" => Severity::Important,
        "moderate" | "medium" => Severity::Moderate,
        "low" => Severity::Low,
        _ => Severity::Unknown,
    }
}
