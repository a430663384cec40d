//! `unentitled` in JSON: fixes behind a channel the host is not entitled to.

use serde::{Deserialize, Serialize};

use crate::entitlement::Unentitled;

#[derive(Serialize, Deserialize)]
pub(super) struct WireUnentitled {
    name: String,
    arch: String,
    installed_version: String,
    version: String,
    channel: String,
    security: bool,
}

impl From<&Unentitled> for WireUnentitled {
    fn from(u: &Unentitled) -> Self {
        WireUnentitled {
            name: u.name.clone(),
            arch: u.arch.clone(),
            installed_version: u.installed_version.clone(),
            version: u.version.clone(),
            channel: u.channel.clone(),
            security: u.security,
        }
    }
}

impl From<WireUnentitled> for Unentitled {
    fn from(w: WireUnentitled) -> Self {
        Unentitled {
            name: w.name,
            arch: w.arch,
            installed_version: w.installed_version,
            version: w.version,
            channel: w.channel,
            security: w.security,
        }
    }
}

/// `unentitled` alone as JSON, as the store keeps it.
pub fn unentitled_to_json(list: &[Unentitled]) -> Option<String> {
    serde_json::to_string(&list.iter().map(WireUnentitled::from).collect::<Vec<_>>()).ok()
}

/// `unentitled` read back from [`unentitled_to_json`].
pub fn unentitled_from_json(text: &str) -> Result<Vec<Unentitled>, serde_json::Error> {
    serde_json::from_str::<Vec<WireUnentitled>>(text)
        .map(|v| v.into_iter().map(Unentitled::from).collect())
}
