//! `running` in JSON: what the host runs beside what it has installed.

use serde::{Deserialize, Serialize};

use crate::running::{LivePatch, Restart, RestartUnit, Running};

#[derive(Serialize, Deserialize, Default)]
pub(super) struct WireRunning {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    restart: Option<WireRestart>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    livepatches: Option<Vec<WireLivePatch>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    livepatch_state: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct WireRestart {
    processes: u32,
    sessions: u32,
    unreadable: u32,
    units: Vec<WireRestartUnit>,
}

#[derive(Serialize, Deserialize)]
struct WireRestartUnit {
    unit: String,
    packages: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct WireLivePatch {
    name: String,
    enabled: bool,
    transition: bool,
}

impl From<&Running> for Option<WireRunning> {
    fn from(r: &Running) -> Self {
        if *r == Running::default() {
            return None;
        }
        Some(WireRunning {
            restart: r.restart.as_ref().map(|x| WireRestart {
                processes: x.processes,
                sessions: x.sessions,
                unreadable: x.unreadable,
                units: x
                    .units
                    .iter()
                    .map(|u| WireRestartUnit {
                        unit: u.unit.clone(),
                        packages: u.packages.clone(),
                    })
                    .collect(),
            }),
            livepatches: r.livepatches.as_ref().map(|v| {
                v.iter()
                    .map(|p| WireLivePatch {
                        name: p.name.clone(),
                        enabled: p.enabled,
                        transition: p.transition,
                    })
                    .collect()
            }),
            livepatch_state: r.livepatch_state.clone(),
        })
    }
}

/// `running` alone as JSON, as the store keeps it; `None` when nothing is known.
pub fn running_to_json(r: &Running) -> Option<String> {
    let w: Option<WireRunning> = r.into();
    w.and_then(|w| serde_json::to_string(&w).ok())
}

/// `running` read back from [`running_to_json`].
pub fn running_from_json(text: &str) -> Result<Running, serde_json::Error> {
    serde_json::from_str::<WireRunning>(text).map(Running::from)
}

impl From<WireRunning> for Running {
    fn from(w: WireRunning) -> Self {
        Running {
            restart: w.restart.map(|x| Restart {
                processes: x.processes,
                sessions: x.sessions,
                unreadable: x.unreadable,
                units: x
                    .units
                    .into_iter()
                    .map(|u| RestartUnit {
                        unit: u.unit,
                        packages: u.packages,
                    })
                    .collect(),
            }),
            livepatches: w.livepatches.map(|v| {
                v.into_iter()
                    .map(|p| LivePatch {
                        name: p.name,
                        enabled: p.enabled,
                        transition: p.transition,
                    })
                    .collect()
            }),
            livepatch_state: w.livepatch_state,
        }
    }
}
