//! The JSON form of a report, schema version 1. The only module that knows it.
//!
//! Times are RFC 3339 strings, written in UTC, read with any explicit offset. Unknown fields are ignored so that a
//! newer exporter can add optional fields without a new schema version; any
//! change of meaning bumps [`SCHEMA_VERSION`].

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::model::{
    HeldReason, HostIdentity, Hostname, Installed, InstalledDelta, InvalidValue, Inventory, OsInfo,
    Producer, Reboot, Report, RunningKernel, Severity, Update, MAX_COUNT,
};
use crate::running::Running;

mod running;
mod unentitled;

use running::WireRunning;
pub use running::{running_from_json, running_to_json};
use unentitled::WireUnentitled;
pub use unentitled::{unentitled_from_json, unentitled_to_json};

pub const SCHEMA_VERSION: u32 = 1;

/// Deepest nesting of arrays and objects accepted; a report needs 4.
pub const MAX_DEPTH: usize = 16;

/// Whether `bytes` nest arrays or objects deeper than [`MAX_DEPTH`]; strings are skipped.
fn too_deep(bytes: &[u8]) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Why a JSON document is not a valid report.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the report is not valid JSON of the expected shape: {}{source}", if path.is_empty() || path == "." { String::new() } else { format!("at {path}: ") })]
    Json {
        /// Where in the document, e.g. `updates[3].name`.
        path: String,
        source: serde_json::Error,
    },
    #[error(
        "schema_version {found} is not supported (this program reads version {SCHEMA_VERSION})"
    )]
    SchemaVersion { found: u32 },
    #[error("{0}")]
    Invalid(#[from] InvalidValue),
    #[error("the report nests arrays or objects deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("{field} {value:?} is not an RFC 3339 time with an offset: {reason}")]
    Time {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
}

#[derive(Serialize, Deserialize)]
struct WireReport {
    schema_version: u32,
    host: WireHost,
    os: WireOs,
    kernel: String,
    arch: String,
    manager: String,
    exporter: WireProducer,
    collected_at: String,
    collection_duration_seconds: f64,
    reboot: WireReboot,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata_updated_at: Option<String>,
    security_metadata_available: bool,
    installed_packages: u64,
    updates: Vec<WireUpdate>,
    /// Absent in reports of exporters older than the inventory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    installed: Option<Vec<WireInstalled>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    running_kernel: Option<WireKernel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    esm_enabled: Option<bool>,
    /// With `installed`, its digest; alone, "unchanged since you have it".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    installed_digest: Option<String>,
    /// Instead of `installed`: what changed since the inventory of `base`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    installed_delta: Option<WireDelta>,
    /// What the host runs; absent in reports of older exporters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    running: Option<WireRunning>,
    /// Fixes behind a channel the host is not entitled to; absent where
    /// the exporter cannot see such channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unentitled: Option<Vec<WireUnentitled>>,
}

#[derive(Serialize, Deserialize)]
struct WireDelta {
    base: String,
    added: Vec<WireInstalled>,
    removed: Vec<WireInstalled>,
}

#[derive(Serialize, Deserialize)]
struct WireInstalled {
    name: String,
    version: String,
    arch: String,
    /// Read as the package's own name when absent.
    #[serde(default)]
    source_name: Option<String>,
    #[serde(default)]
    source_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    module: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct WireKernel {
    package: String,
    version: String,
}

impl From<&Installed> for WireInstalled {
    fn from(p: &Installed) -> Self {
        WireInstalled {
            name: p.name.clone(),
            version: p.version.clone(),
            arch: p.arch.clone(),
            source_name: Some(p.source_name.clone()),
            source_version: Some(p.source_version.clone()),
            module: p.module.clone(),
        }
    }
}

impl From<WireInstalled> for Installed {
    fn from(w: WireInstalled) -> Self {
        Installed {
            source_name: w.source_name.unwrap_or_else(|| w.name.clone()),
            source_version: w.source_version.unwrap_or_else(|| w.version.clone()),
            name: w.name,
            version: w.version,
            arch: w.arch,
            module: w.module,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct WireHost {
    hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    machine_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    site: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct WireOs {
    id: String,
    #[serde(default)]
    version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version_codename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cpe_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    platform_id: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct WireProducer {
    version: String,
    revision: String,
}

#[derive(Serialize, Deserialize)]
struct WireReboot {
    required: bool,
    #[serde(default)]
    packages: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct WireUpdate {
    name: String,
    arch: String,
    installed_version: String,
    candidate_version: String,
    security: bool,
    /// `none` for updates that are not security updates.
    severity: String,
    held: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    held_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    repository: Option<String>,
    #[serde(default)]
    advisories: Vec<String>,
    #[serde(default)]
    cves: Vec<String>,
}

fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn parse_time(field: &'static str, value: &str) -> Result<SystemTime, WireError> {
    crate::time::parse_rfc3339(value).map_err(|reason| WireError::Time {
        field,
        value: value.chars().take(64).collect(),
        reason,
    })
}

impl From<&Update> for WireUpdate {
    fn from(u: &Update) -> Self {
        WireUpdate {
            name: u.name.clone(),
            arch: u.arch.clone(),
            installed_version: u.installed_version.clone(),
            candidate_version: u.candidate_version.clone(),
            security: u.security.is_some(),
            severity: u.security.map_or("none", Severity::as_str).to_string(),
            held: u.held.is_some(),
            held_reason: u.held.map(|r| r.as_str().to_string()),
            repository: u.repository.clone(),
            advisories: u.advisories.clone(),
            cves: u.cves.clone(),
        }
    }
}

impl TryFrom<WireUpdate> for Update {
    type Error = WireError;
    fn try_from(w: WireUpdate) -> Result<Self, WireError> {
        let security = match (w.security, w.severity.as_str()) {
            (false, "none") => None,
            (false, other) => {
                return Err(InvalidValue::Malformed {
                    field: "severity",
                    value: other.to_string(),
                    reason: "an update that is not a security update has severity \"none\"",
                }
                .into())
            }
            (true, s) => Some(s.parse::<Severity>()?),
        };
        let held = match (w.held, w.held_reason) {
            (false, None) => None,
            (false, Some(r)) => {
                return Err(InvalidValue::Malformed {
                    field: "held_reason",
                    value: r,
                    reason: "only a held update has a held_reason",
                }
                .into())
            }
            (true, None) => Some(HeldReason::Hold),
            (true, Some(r)) => Some(r.parse::<HeldReason>()?),
        };
        let update = Update {
            name: w.name,
            arch: w.arch,
            installed_version: w.installed_version,
            candidate_version: w.candidate_version,
            security,
            held,
            repository: w.repository,
            advisories: w.advisories,
            cves: w.cves,
        };
        update.validate()?;
        Ok(update)
    }
}

impl From<&Report> for WireReport {
    fn from(r: &Report) -> Self {
        let inv = &r.inventory;
        WireReport {
            schema_version: SCHEMA_VERSION,
            host: WireHost {
                hostname: r.host.hostname.to_string(),
                machine_id: r.host.machine_id.clone(),
                site: r.host.site.clone(),
            },
            os: WireOs {
                id: r.os.id.clone(),
                version: r.os.version.clone(),
                name: r.os.pretty_name.clone(),
                version_codename: r.os.codename.clone(),
                cpe_name: r.os.cpe_name.clone(),
                platform_id: r.os.platform_id.clone(),
            },
            kernel: r.kernel.clone(),
            arch: r.arch.clone(),
            manager: r.manager.as_str().to_string(),
            exporter: WireProducer {
                version: r.producer.version.clone(),
                revision: r.producer.revision.clone(),
            },
            collected_at: format_time(r.collected_at),
            collection_duration_seconds: r.collection_duration.as_secs_f64(),
            reboot: WireReboot {
                required: inv.reboot.required,
                packages: inv.reboot.packages.clone(),
            },
            metadata_updated_at: inv.metadata_updated_at.map(format_time),
            security_metadata_available: inv.security_metadata_available,
            installed_packages: inv.installed_packages,
            updates: inv.updates.iter().map(WireUpdate::from).collect(),
            installed: inv
                .installed
                .as_ref()
                .map(|v| v.iter().map(WireInstalled::from).collect()),
            running_kernel: inv.running_kernel.as_ref().map(|k| WireKernel {
                package: k.package.clone(),
                version: k.version.clone(),
            }),
            esm_enabled: inv.esm_enabled,
            installed_digest: inv
                .installed
                .as_deref()
                .map(crate::installed_digest)
                .or_else(|| inv.installed_digest.clone()),
            installed_delta: inv.installed_delta.as_ref().map(|d| WireDelta {
                base: d.base.clone(),
                added: d.added.iter().map(WireInstalled::from).collect(),
                removed: d.removed.iter().map(WireInstalled::from).collect(),
            }),
            running: (&inv.running).into(),
            unentitled: inv
                .unentitled
                .as_ref()
                .map(|v| v.iter().map(WireUnentitled::from).collect()),
        }
    }
}

impl TryFrom<WireReport> for Report {
    type Error = WireError;
    fn try_from(mut w: WireReport) -> Result<Self, WireError> {
        let sent_digest = w.installed_digest.take();
        if w.schema_version != SCHEMA_VERSION {
            return Err(WireError::SchemaVersion {
                found: w.schema_version,
            });
        }
        if !(w.collection_duration_seconds.is_finite() && w.collection_duration_seconds >= 0.0)
            || w.collection_duration_seconds > 86_400.0
        {
            return Err(InvalidValue::Malformed {
                field: "collection_duration_seconds",
                value: w.collection_duration_seconds.to_string(),
                reason: "expected a number of seconds between 0 and 86400",
            }
            .into());
        }
        if w.installed_packages > MAX_COUNT {
            return Err(InvalidValue::Malformed {
                field: "installed_packages",
                value: w.installed_packages.to_string(),
                reason: "more than a store can keep exactly",
            }
            .into());
        }
        let mut report = Report {
            host: HostIdentity {
                hostname: Hostname::parse(&w.host.hostname)?,
                machine_id: w.host.machine_id,
                site: w.host.site,
            },
            os: OsInfo {
                id: w.os.id,
                version: w.os.version,
                pretty_name: w.os.name,
                codename: w.os.version_codename,
                cpe_name: w.os.cpe_name,
                platform_id: w.os.platform_id,
            },
            kernel: w.kernel,
            arch: w.arch,
            manager: w.manager.parse()?,
            producer: Producer {
                version: w.exporter.version,
                revision: w.exporter.revision,
            },
            collected_at: parse_time("collected_at", &w.collected_at)?,
            collection_duration: Duration::from_secs_f64(w.collection_duration_seconds),
            inventory: Inventory {
                metadata_updated_at: w
                    .metadata_updated_at
                    .as_deref()
                    .map(|t| parse_time("metadata_updated_at", t))
                    .transpose()?,
                security_metadata_available: w.security_metadata_available,
                installed_packages: w.installed_packages,
                reboot: Reboot {
                    required: w.reboot.required,
                    packages: w.reboot.packages,
                },
                updates: w
                    .updates
                    .into_iter()
                    .map(Update::try_from)
                    .collect::<Result<_, _>>()?,
                installed: w
                    .installed
                    .map(|v| v.into_iter().map(Installed::from).collect()),
                running_kernel: w.running_kernel.map(|k| RunningKernel {
                    package: k.package,
                    version: k.version,
                }),
                esm_enabled: w.esm_enabled,
                installed_digest: sent_digest,
                installed_delta: w.installed_delta.map(|d| InstalledDelta {
                    base: d.base,
                    added: d.added.into_iter().map(Installed::from).collect(),
                    removed: d.removed.into_iter().map(Installed::from).collect(),
                }),
                running: w.running.map(Running::from).unwrap_or_default(),
                unentitled: w
                    .unentitled
                    .map(|v| v.into_iter().map(crate::Unentitled::from).collect()),
            },
        };
        report.validate()?;
        // Sent with the inventory, the digest must be its own; the digest
        // kept is always computed here.
        if let Some(list) = &report.inventory.installed {
            let ours = crate::installed_digest(list);
            if let Some(theirs) = &report.inventory.installed_digest {
                if *theirs != ours {
                    return Err(InvalidValue::Malformed {
                        field: "installed_digest",
                        value: theirs.chars().take(80).collect(),
                        reason: "it is not the digest of the installed packages sent with it",
                    }
                    .into());
                }
            }
            report.inventory.installed_digest = Some(ours);
        }
        Ok(report)
    }
}

/// Parses and validates a report.
pub fn from_json(bytes: &[u8]) -> Result<Report, WireError> {
    if too_deep(bytes) {
        return Err(WireError::TooDeep);
    }
    // The fast path; on an error, parse again to say where in the document it is.
    let wire: WireReport = match serde_json::from_slice(bytes) {
        Ok(w) => w,
        Err(plain) => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            return Err(
                match serde_path_to_error::deserialize::<_, WireReport>(&mut de) {
                    Err(e) => WireError::Json {
                        path: e.path().to_string(),
                        source: e.into_inner(),
                    },
                    Ok(_) => WireError::Json {
                        path: String::new(),
                        source: plain,
                    },
                },
            );
        }
    };
    Report::try_from(wire)
}

/// The compact JSON form of a report.
pub fn to_json(report: &Report) -> Vec<u8> {
    // Serialising plain strings, numbers and vectors cannot fail.
    serde_json::to_vec(&WireReport::from(report)).unwrap_or_default()
}

/// The compact JSON form of a report without its installed packages, only
/// their digest: what a host sends once the aggregator has that inventory.
pub fn to_json_without_installed(report: &Report) -> Vec<u8> {
    let mut w = WireReport::from(report);
    w.installed = None;
    serde_json::to_vec(&w).unwrap_or_default()
}

/// The indented JSON form of a report, for people.
pub fn to_json_pretty(report: &Report) -> Vec<u8> {
    serde_json::to_vec_pretty(&WireReport::from(report)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Manager;

    pub(crate) fn sample() -> Report {
        let mut r = Report {
            host: HostIdentity {
                hostname: Hostname::parse("web-01").unwrap(),
                machine_id: Some("0123456789abcdef0123456789abcdef".into()),
                site: Some("SiteA".into()),
            },
            os: OsInfo {
                id: "debian".into(),
                version: "12".into(),
                pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
                codename: Some("bookworm".into()),
                cpe_name: Some("cpe:/o:debian:debian_linux:12".into()),
                platform_id: None,
            },
            kernel: "6.1.0-18-amd64".into(),
            arch: "x86_64".into(),
            manager: Manager::Apt,
            producer: Producer {
                version: "0.1.0".into(),
                revision: "abc123".into(),
            },
            collected_at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_165_000_123),
            collection_duration: Duration::from_millis(1500),
            inventory: Inventory {
                updates: vec![
                    Update {
                        name: "openssl".into(),
                        arch: "amd64".into(),
                        installed_version: "3.0.11-1~deb12u1".into(),
                        candidate_version: "3.0.11-1~deb12u2".into(),
                        security: Some(Severity::Unknown),
                        held: None,
                        repository: Some("Debian:bookworm-security".into()),
                        advisories: vec![],
                        cves: vec![],
                    },
                    Update {
                        name: "bash".into(),
                        arch: "amd64".into(),
                        installed_version: "5.2.15-2".into(),
                        candidate_version: "5.2.15-2+b2".into(),
                        security: None,
                        held: Some(HeldReason::KeptBack),
                        repository: None,
                        advisories: vec![],
                        cves: vec![],
                    },
                ],
                installed_packages: 3,
                reboot: Reboot {
                    required: true,
                    packages: vec!["linux-image-6.1.0-18-amd64".into()],
                },
                metadata_updated_at: Some(
                    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_100_000),
                ),
                security_metadata_available: true,
                installed: Some(vec![
                    Installed {
                        source_name: "openssl".into(),
                        ..Installed::new("libssl3", "3.0.11-1~deb12u1", "amd64")
                    },
                    Installed::new("openssl", "3.0.11-1~deb12u1", "amd64"),
                    Installed {
                        source_version: "5.2.15-2".into(),
                        ..Installed::new("bash", "5.2.15-2+b2", "amd64")
                    },
                ]),
                running_kernel: Some(RunningKernel {
                    package: "linux-image-6.1.0-18-amd64".into(),
                    version: "6.1.76-1".into(),
                }),
                esm_enabled: None,
                installed_digest: None,
                installed_delta: None,
                running: crate::Running {
                    restart: Some(crate::Restart {
                        processes: 3,
                        sessions: 1,
                        unreadable: 0,
                        units: vec![crate::RestartUnit {
                            unit: "nginx.service".into(),
                            packages: vec!["libssl3".into()],
                        }],
                    }),
                    livepatches: Some(vec![]),
                    livepatch_state: Some("applied".into()),
                },
                unentitled: Some(vec![crate::Unentitled {
                    name: "bash".into(),
                    arch: "amd64".into(),
                    installed_version: "5.2.15-2+b2".into(),
                    version: "5.2.15-2+b2+esm1".into(),
                    channel: "esm-infra".into(),
                    security: true,
                }]),
            },
        };
        r.inventory.installed_digest = r
            .inventory
            .installed
            .as_deref()
            .map(crate::installed_digest);
        r
    }

    #[test]
    fn an_inventory_can_be_named_by_its_digest() {
        let full = sample();
        let digest = crate::installed_digest(full.inventory.installed.as_deref().unwrap());
        let parsed = from_json(&to_json(&full)).unwrap();
        assert_eq!(
            parsed.inventory.installed_digest.as_deref(),
            Some(digest.as_str())
        );
        let lean = from_json(&to_json_without_installed(&full)).unwrap();
        assert_eq!(lean.inventory.installed, None);
        assert_eq!(lean.inventory.installed_digest, Some(digest.clone()));
        // A digest that is not the one of the packages sent with it is refused.
        let mut v: serde_json::Value = serde_json::from_slice(&to_json(&full)).unwrap();
        v["installed_digest"] = "0".repeat(64).into();
        let e = from_json(&serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not the digest"), "{e}");
        v.as_object_mut().unwrap().remove("installed");
        v["installed_digest"] = "not hex".into();
        let e = from_json(&serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("64 lowercase hex"), "{e}");
    }

    #[test]
    fn an_inventory_can_be_sent_as_what_changed() {
        let old = sample();
        let old_list = old.inventory.installed.clone().unwrap();
        let mut new_list = old_list.clone();
        new_list[2] = Installed::new("bash", "5.2.21-2", "amd64");
        new_list.push(Installed::new("curl", "7.88.1-10", "amd64"));
        let base = crate::installed_digest(&old_list);
        let mut r = old.clone();
        r.inventory.installed_packages = new_list.len() as u64;
        r.inventory.installed = None;
        r.inventory.installed_digest = Some(crate::installed_digest(&new_list));
        r.inventory.installed_delta = Some(crate::installed_delta(&base, &old_list, &new_list));
        let delta = r.inventory.installed_delta.clone().unwrap();
        assert_eq!(delta.added.len(), 2);
        assert_eq!(delta.removed, vec![old_list[2].clone()]);
        assert_eq!(from_json(&to_json(&r)).unwrap(), r);
        let reject_delta = |mutate: &dyn Fn(&mut serde_json::Value)| {
            let mut v: serde_json::Value = serde_json::from_slice(&to_json(&r)).unwrap();
            mutate(&mut v);
            from_json(&serde_json::to_vec(&v).unwrap())
                .unwrap_err()
                .to_string()
        };
        let mut whole = r.clone();
        whole.inventory.installed = Some(new_list.clone());
        let whole: serde_json::Value = serde_json::from_slice(&to_json(&whole)).unwrap();
        let both = reject_delta(&|v| v["installed"] = whole["installed"].clone());
        assert!(both.contains("not both"), "{both}");
        let no_digest = reject_delta(&|v| {
            v.as_object_mut().unwrap().remove("installed_digest");
        });
        assert!(no_digest.contains("needs the digest"), "{no_digest}");
        let bad_base = reject_delta(&|v| v["installed_delta"]["base"] = "HEAD".into());
        assert!(bad_base.contains("base"), "{bad_base}");
        let twice = reject_delta(&|v| {
            v["installed_delta"]["added"][1] = v["installed_delta"]["added"][0].clone()
        });
        assert!(twice.contains("listed twice"), "{twice}");
        let gone_and_back = reject_delta(&|v| {
            v["installed_delta"]["added"][0] = v["installed_delta"]["removed"][0].clone()
        });
        assert!(
            gone_and_back.contains("both added and removed"),
            "{gone_and_back}"
        );
        let bad_entry = reject_delta(&|v| v["installed_delta"]["removed"][0]["arch"] = "".into());
        assert!(bad_entry.contains("installed arch"), "{bad_entry}");
        // A rebuild that only changes the source is one entry out, one in.
        let mut rebuilt = old_list.clone();
        rebuilt[0].source_version = "3.0.11-2".into();
        let d = crate::installed_delta(&base, &old_list, &rebuilt);
        assert_eq!((d.added.len(), d.removed.len()), (1, 1));
        let mut r2 = old.clone();
        r2.inventory.installed = None;
        r2.inventory.installed_digest = Some(crate::installed_digest(&rebuilt));
        r2.inventory.installed_delta = Some(d);
        assert_eq!(from_json(&to_json(&r2)).unwrap(), r2);
    }

    #[test]
    fn reports_of_older_exporters_have_no_inventory() {
        let mut v: serde_json::Value = serde_json::from_slice(&to_json(&sample())).unwrap();
        for field in ["installed", "running_kernel"] {
            v.as_object_mut().unwrap().remove(field);
        }
        v["installed_packages"] = 512.into();
        let report = from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(report.inventory.installed, None);
        assert_eq!(report.inventory.installed_packages, 512);
        // Without source fields, the package is its own source.
        let mut v: serde_json::Value = serde_json::from_slice(&to_json(&sample())).unwrap();
        let entry = v["installed"][1].as_object_mut().unwrap();
        entry.remove("source_name");
        entry.remove("source_version");
        let report = from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(report, sample());
    }

    #[test]
    fn a_report_survives_the_round_trip() {
        let report = sample();
        assert_eq!(from_json(&to_json(&report)).unwrap(), report);
        assert_eq!(from_json(&to_json_pretty(&report)).unwrap(), report);
    }

    #[test]
    fn what_the_host_runs_is_optional_and_checked() {
        // Older exporters send no "running": nothing is known of it, not "nothing".
        let mut v: serde_json::Value = serde_json::from_slice(&to_json(&sample())).unwrap();
        assert_eq!(v["running"]["restart"]["units"][0]["unit"], "nginx.service");
        assert_eq!(v["running"]["livepatches"], serde_json::json!([]));
        v.as_object_mut().unwrap().remove("running");
        let r = from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(r.inventory.running, crate::Running::default());
        // A part not looked at stays absent on the wire.
        let mut only_patches = sample();
        only_patches.inventory.running.restart = None;
        let v: serde_json::Value = serde_json::from_slice(&to_json(&only_patches)).unwrap();
        assert!(v["running"].get("restart").is_none(), "{v}");
        assert_eq!(from_json(&to_json(&only_patches)).unwrap(), only_patches);
        let mut none = sample();
        none.inventory.running = crate::Running::default();
        let v: serde_json::Value = serde_json::from_slice(&to_json(&none)).unwrap();
        assert!(v.get("running").is_none());
        let err = reject(|v| v["running"]["restart"]["units"][0]["unit"] = "two words".into());
        assert!(err.contains("running restart unit"), "{err}");
        let err = reject(|v| v["running"]["restart"]["processes"] = (-1).into());
        assert!(err.contains("running"), "{err}");
    }

    #[test]
    fn fixes_behind_an_entitlement_are_optional_and_checked() {
        let mut v: serde_json::Value = serde_json::from_slice(&to_json(&sample())).unwrap();
        assert_eq!(v["unentitled"][0]["channel"], "esm-infra");
        assert_eq!(v["unentitled"][0]["security"], true);
        // Absent: the exporter could not see such channels, which is not "none".
        v.as_object_mut().unwrap().remove("unentitled");
        let r = from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(r.inventory.unentitled, None);
        let mut none = sample();
        none.inventory.unentitled = Some(vec![]);
        let v: serde_json::Value = serde_json::from_slice(&to_json(&none)).unwrap();
        assert_eq!(v["unentitled"], serde_json::json!([]));
        let list = sample().inventory.unentitled.unwrap();
        let stored = unentitled_to_json(&list).unwrap();
        assert_eq!(unentitled_from_json(&stored).unwrap(), list);
        let err = reject(|v| v["unentitled"][0]["channel"] = "esm infra".into());
        assert!(err.contains("unentitled channel"), "{err}");
        let err = reject(|v| {
            let twin = v["unentitled"][0].clone();
            v["unentitled"].as_array_mut().unwrap().push(twin);
        });
        assert!(err.contains("listed twice"), "{err}");
    }

    fn reject(mutate: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v: serde_json::Value = serde_json::from_slice(&to_json(&sample())).unwrap();
        mutate(&mut v);
        from_json(&serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn times_with_an_offset_name_their_instant() {
        let mut v: serde_json::Value = serde_json::from_slice(&to_json(&sample())).unwrap();
        v["collected_at"] = "2025-11-26T15:50:00.123+02:00".into();
        let r = from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(r.collected_at, sample().collected_at);
        v["installed_packages"] = (i64::MAX as u64).into();
        v.as_object_mut().unwrap().remove("installed");
        assert!(from_json(&serde_json::to_vec(&v).unwrap()).is_ok());
    }

    #[test]
    fn nesting_is_bounded_and_strings_do_not_count() {
        assert!(too_deep(
            format!("{}{}", "[".repeat(17), "]".repeat(17)).as_bytes()
        ));
        assert!(!too_deep(b"{\"a\": \"[[[[[[[[[[[[[[[[[[[[[[[[\\\"\"}"));
        assert!(!too_deep(&to_json(&sample())));
    }

    #[test]
    fn bad_reports_are_refused_with_a_reason() {
        assert!(reject(|v| v["schema_version"] = 2.into()).contains("schema_version 2"));
        assert!(reject(|v| v["host"]["hostname"] = "a b".into()).contains("hostname"));
        assert!(reject(|v| v["manager"] = "emerge".into()).contains("manager"));
        assert!(reject(|v| v["updates"][0]["severity"] = "urgent".into()).contains("severity"));
        assert!(reject(|v| v["updates"][1]["severity"] = "low".into()).contains("severity"));
        assert!(reject(|v| v["collected_at"] = "yesterday".into()).contains("RFC 3339"));
        assert!(reject(|v| v["collected_at"] = "2025-11-26T13:50:00".into()).contains("no offset"));
        assert!(
            reject(|v| v["metadata_updated_at"] = "2025-11-26 13:50".into())
                .contains("metadata_updated_at")
        );
        assert!(
            reject(|v| v["installed_packages"] = (i64::MAX as u64 + 1).into())
                .contains("installed_packages")
        );
        assert!(reject(|v| v["host"]["site"] = "Site\u{202E}A".into()).contains("invisible"));
        assert!(reject(|v| v["os"]["name"] = "Debian\u{200B}".into()).contains("invisible"));
        assert!(reject(|v| v["updates"][1]["name"] = "openssl".into()).contains("listed twice"));
        assert!(reject(|v| v["updates"][0]["name"] = "a\nb".into()).contains("control"));
        assert!(reject(|v| v["installed_packages"] = 4.into()).contains("count the entries"));
        assert!(reject(|v| v["installed"][2] = v["installed"][1].clone()).contains("listed twice"));
        assert!(reject(|v| v["installed"][0]["version"] = "".into()).contains("installed version"));
        assert!(reject(|v| v["installed"][0]["module"] = "a b".into()).contains("installed module"));
        assert!(reject(|v| v["os"]["cpe_name"] = "cpe:/o x".into()).contains("cpe_name"));
        assert!(reject(|v| v["running_kernel"]["version"] = "".into()).contains("running_kernel"));
        assert!(reject(|v| {
            v.as_object_mut().unwrap().remove("updates");
        })
        .contains("missing field `updates`"));
    }
}
