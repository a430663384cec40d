//! What a host runs, beside what it has installed: processes still running
//! code that an upgrade deleted or replaced, and the running kernel's live
//! patches. Plain data, checked by [`Running::validate`].

use crate::model::{check_token, InvalidValue};

/// At most this many services or live patches in a report.
pub const MAX_RUNNING_ITEMS: usize = 4096;
/// At most this many packages named for one service.
pub const MAX_UNIT_PACKAGES: usize = 256;

/// What the host runs. Each part is `None` where it was not looked at or
/// cannot be seen (which is never "nothing to restart", "no live patch").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Running {
    pub restart: Option<Restart>,
    pub livepatches: Option<Vec<LivePatch>>,
    /// The live-patch service's own state for the running kernel
    /// (Canonical Livepatch's `patchState`: `applied`, `unapplied`, …).
    pub livepatch_state: Option<String>,
}

/// Processes running code that an upgrade deleted or replaced.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Restart {
    pub processes: u32,
    /// User sessions and user managers among them.
    pub sessions: u32,
    /// Processes that could not be read (another user's, without root).
    pub unreadable: u32,
    /// The system services among them, by name.
    pub units: Vec<RestartUnit>,
}

/// A service to restart, with the packages whose files it runs outdated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RestartUnit {
    pub unit: String,
    pub packages: Vec<String>,
}

/// A live patch loaded into the running kernel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LivePatch {
    pub name: String,
    pub enabled: bool,
    pub transition: bool,
}

fn too_many(field: &'static str, n: usize, max: usize) -> Result<(), InvalidValue> {
    if n > max {
        return Err(InvalidValue::Malformed {
            field,
            value: format!("{n} entries"),
            reason: "more than a report may list",
        });
    }
    Ok(())
}

impl Running {
    pub fn validate(&self) -> Result<(), InvalidValue> {
        if let Some(r) = &self.restart {
            too_many("running restart units", r.units.len(), MAX_RUNNING_ITEMS)?;
            for u in &r.units {
                check_token("running restart unit", &u.unit)?;
                too_many(
                    "running restart packages",
                    u.packages.len(),
                    MAX_UNIT_PACKAGES,
                )?;
                for p in &u.packages {
                    check_token("running restart package", p)?;
                }
            }
        }
        if let Some(state) = &self.livepatch_state {
            check_token("running livepatch_state", state)?;
        }
        if let Some(patches) = &self.livepatches {
            too_many("running livepatches", patches.len(), MAX_RUNNING_ITEMS)?;
            for p in patches {
                check_token("running livepatch", &p.name)?;
            }
        }
        Ok(())
    }

    /// The enabled live patches; `None` where they cannot be seen.
    pub fn livepatches_enabled(&self) -> Option<u32> {
        self.livepatches
            .as_ref()
            .map(|p| u32::try_from(p.iter().filter(|p| p.enabled).count()).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_names_and_endless_lists_are_refused() {
        let unit = |name: &str| RestartUnit {
            unit: name.into(),
            packages: vec!["libssl3".into()],
        };
        let ok = Running {
            restart: Some(Restart {
                processes: 2,
                units: vec![unit("nginx.service")],
                ..Restart::default()
            }),
            livepatches: Some(vec![LivePatch {
                name: "lkp_Ubuntu_5_15_0_91".into(),
                enabled: true,
                transition: false,
            }]),
            livepatch_state: Some("applied".into()),
        };
        assert!(ok.validate().is_ok());
        assert_eq!(ok.livepatches_enabled(), Some(1));
        assert_eq!(Running::default().livepatches_enabled(), None);
        for bad in ["", "a b.service", "x\u{7}.service"] {
            let mut r = ok.clone();
            r.restart.as_mut().unwrap().units = vec![unit(bad)];
            assert!(r.validate().is_err(), "{bad:?}");
        }
        let mut r = ok.clone();
        r.restart.as_mut().unwrap().units = vec![unit("a.service"); MAX_RUNNING_ITEMS + 1];
        assert!(r.validate().is_err());
        let mut r = ok;
        r.livepatches = Some(vec![LivePatch::default()]);
        assert!(r.validate().is_err(), "an empty patch name");
    }
}
