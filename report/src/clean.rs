//! One rule that makes a report the aggregator accepts out of what a host
//! says, however odd: the exporter applies it before it sends or serves a
//! report and logs what it changed, so that a long package name or a strange
//! os-release value never costs the host its whole report.
//!
//! Text loses control and invisible formatting characters and is cut to its
//! limit; tokens also turn white space into `_`; a required token left empty
//! reads `unknown`; an update or list entry that cannot be kept is dropped;
//! a second update of the same package and architecture is dropped.

use crate::model::{
    is_invisible, Report, MAX_COUNT, MAX_INSTALLED, MAX_LONG_STRING, MAX_SHORT_STRING, MAX_UPDATES,
};

/// Cleans `report` in place; returns one line per kind of change made.
pub fn clean(report: &mut Report) -> Vec<String> {
    let mut notes = Notes::default();
    let r = report;
    if let Some(id) = &r.host.machine_id {
        let ok = !id.is_empty()
            && id.len() <= MAX_SHORT_STRING
            && id.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok {
            notes.add("machine_id is not a plain identifier: left out");
            r.host.machine_id = None;
        }
    }
    if let Some(site) = r.host.site.take() {
        r.host.site = optional_token(&mut notes, "site", site);
    }
    required_token(&mut notes, "os id", &mut r.os.id);
    r.os.version = token(&mut notes, "os version", std::mem::take(&mut r.os.version));
    if let Some(name) = r.os.pretty_name.take() {
        r.os.pretty_name = text(&mut notes, "os name", name, MAX_LONG_STRING);
    }
    for (field, value) in [
        ("os version_codename", &mut r.os.codename),
        ("os cpe_name", &mut r.os.cpe_name),
        ("os platform_id", &mut r.os.platform_id),
    ] {
        if let Some(v) = value.take() {
            *value = optional_token(&mut notes, field, v);
        }
    }
    required_token(&mut notes, "kernel", &mut r.kernel);
    required_token(&mut notes, "arch", &mut r.arch);
    required_token(&mut notes, "exporter version", &mut r.producer.version);
    required_token(&mut notes, "exporter revision", &mut r.producer.revision);
    let inv = &mut r.inventory;
    if inv.installed_packages > MAX_COUNT {
        notes.add("installed_packages beyond what a store keeps: capped");
        inv.installed_packages = MAX_COUNT;
    }
    inv.reboot.packages = tokens(
        &mut notes,
        "reboot package",
        std::mem::take(&mut inv.reboot.packages),
    );
    let mut seen = std::collections::HashSet::new();
    let updates = std::mem::take(&mut inv.updates);
    for mut u in updates {
        u.name = token(&mut notes, "update name", u.name);
        u.arch = token(&mut notes, "update arch", u.arch);
        u.installed_version = token(&mut notes, "installed_version", u.installed_version);
        u.candidate_version = token(&mut notes, "candidate_version", u.candidate_version);
        let whole = [&u.name, &u.arch, &u.installed_version, &u.candidate_version]
            .iter()
            .all(|s| !s.is_empty());
        if !whole {
            notes.add("an update lacks a name, architecture or version: left out");
            continue;
        }
        if !seen.insert((u.name.clone(), u.arch.clone())) {
            notes.add("a package and architecture listed twice: the second left out");
            continue;
        }
        if let Some(repo) = u.repository.take() {
            u.repository = text(&mut notes, "repository", repo, MAX_LONG_STRING);
        }
        u.advisories = tokens(&mut notes, "advisory id", std::mem::take(&mut u.advisories));
        u.cves = tokens(&mut notes, "CVE id", std::mem::take(&mut u.cves));
        inv.updates.push(u);
    }
    if inv.updates.len() > MAX_UPDATES {
        notes.add("more pending updates than a report may hold: the rest left out");
        inv.updates.truncate(MAX_UPDATES);
    }
    if let Some(k) = inv.running_kernel.take() {
        let package = token(&mut notes, "running_kernel package", k.package);
        let version = token(&mut notes, "running_kernel version", k.version);
        if !package.is_empty() && !version.is_empty() {
            inv.running_kernel = Some(crate::model::RunningKernel { package, version });
        }
    }
    if let Some(installed) = inv.installed.take() {
        let kept = clean_installed(&mut notes, installed);
        inv.installed_packages = kept.len() as u64;
        inv.installed = Some(kept);
    }
    clean_running(&mut notes, &mut inv.running);
    if let Some(list) = inv.unentitled.take() {
        inv.unentitled = Some(clean_unentitled(&mut notes, list));
    }
    notes.lines
}

/// Fixes behind an entitlement: fields made tokens, an entry missing one
/// or naming a package twice left out, the list cut to what a report holds.
fn clean_unentitled(
    notes: &mut Notes,
    list: Vec<crate::entitlement::Unentitled>,
) -> Vec<crate::entitlement::Unentitled> {
    let mut seen = std::collections::HashSet::new();
    let mut kept = Vec::new();
    for mut u in list {
        u.name = token(notes, "unentitled name", u.name);
        u.arch = token(notes, "unentitled arch", u.arch);
        u.installed_version = token(notes, "unentitled installed_version", u.installed_version);
        u.version = token(notes, "unentitled version", u.version);
        u.channel = token(notes, "unentitled channel", u.channel);
        let whole = [
            &u.name,
            &u.arch,
            &u.installed_version,
            &u.version,
            &u.channel,
        ]
        .iter()
        .all(|s| !s.is_empty());
        if !whole || !seen.insert((u.name.clone(), u.arch.clone())) {
            notes.add("a fix behind an entitlement lacks a field or is listed twice: left out");
            continue;
        }
        kept.push(u);
    }
    if kept.len() > crate::entitlement::MAX_UNENTITLED {
        notes.add("more fixes behind an entitlement than a report may hold: the rest left out");
        kept.truncate(crate::entitlement::MAX_UNENTITLED);
    }
    kept
}

/// What the host runs: names made tokens (an empty one left out with its
/// entry), lists cut to what a report may hold.
fn clean_running(notes: &mut Notes, running: &mut crate::running::Running) {
    use crate::running::{MAX_RUNNING_ITEMS, MAX_UNIT_PACKAGES};
    if let Some(r) = &mut running.restart {
        let units = std::mem::take(&mut r.units);
        for mut u in units {
            u.unit = token(notes, "running restart unit", u.unit);
            if u.unit.is_empty() {
                continue;
            }
            u.packages = tokens(
                notes,
                "running restart package",
                std::mem::take(&mut u.packages),
            );
            u.packages.truncate(MAX_UNIT_PACKAGES);
            r.units.push(u);
        }
        if r.units.len() > MAX_RUNNING_ITEMS {
            notes.add("more services to restart than a report may hold: the rest left out");
            r.units.truncate(MAX_RUNNING_ITEMS);
        }
    }
    if let Some(state) = running.livepatch_state.take() {
        running.livepatch_state = optional_token(notes, "running livepatch_state", state);
    }
    if let Some(patches) = running.livepatches.take() {
        let mut kept: Vec<crate::running::LivePatch> = patches
            .into_iter()
            .filter_map(|mut p| {
                p.name = optional_token(notes, "running livepatch", p.name)?;
                Some(p)
            })
            .collect();
        kept.truncate(MAX_RUNNING_ITEMS);
        running.livepatches = Some(kept);
    }
}

/// The inventory: each entry's tokens cleaned; an entry without a name,
/// version or architecture, or listed twice, left out.
fn clean_installed(
    notes: &mut Notes,
    installed: Vec<crate::model::Installed>,
) -> Vec<crate::model::Installed> {
    let mut seen = std::collections::HashSet::new();
    let mut kept = Vec::with_capacity(installed.len());
    for mut p in installed {
        p.name = token(notes, "installed name", p.name);
        p.version = token(notes, "installed version", p.version);
        p.arch = token(notes, "installed arch", p.arch);
        if p.name.is_empty() || p.version.is_empty() || p.arch.is_empty() {
            notes.add("an installed package lacks a name, version or architecture: left out");
            continue;
        }
        p.source_name = token(notes, "installed source_name", p.source_name);
        if p.source_name.is_empty() {
            p.source_name = p.name.clone();
        }
        p.source_version = token(notes, "installed source_version", p.source_version);
        if p.source_version.is_empty() {
            p.source_version = p.version.clone();
        }
        p.module = p
            .module
            .and_then(|m| optional_token(notes, "installed module", m));
        if !seen.insert((p.name.clone(), p.arch.clone(), p.version.clone())) {
            notes.add("an installed package listed twice: the second left out");
            continue;
        }
        kept.push(p);
    }
    if kept.len() > MAX_INSTALLED {
        notes.add("more installed packages than a report may hold: the rest left out");
        kept.truncate(MAX_INSTALLED);
    }
    kept
}

#[derive(Default)]
struct Notes {
    lines: Vec<String>,
}

impl Notes {
    fn add(&mut self, line: &str) {
        if !self.lines.iter().any(|l| l == line) {
            self.lines.push(line.to_string());
        }
    }
}

/// Free text: no control or invisible characters, at most `max` characters.
fn text(notes: &mut Notes, field: &str, value: String, max: usize) -> Option<String> {
    let kept: String = value
        .chars()
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .collect();
    if kept.len() != value.len() {
        notes.add(&format!("{field}: control or invisible characters removed"));
    }
    let cut = cut(notes, field, kept, max);
    let trimmed = cut.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// A token: text without white space (turned into `_`), at most the short limit.
fn token(notes: &mut Notes, field: &str, value: String) -> String {
    let Some(t) = text(notes, field, value, MAX_SHORT_STRING) else {
        return String::new();
    };
    if t.chars().any(char::is_whitespace) {
        notes.add(&format!("{field}: white space turned into '_'"));
        return t.split_whitespace().collect::<Vec<_>>().join("_");
    }
    t
}

fn required_token(notes: &mut Notes, field: &str, value: &mut String) {
    *value = token(notes, field, std::mem::take(value));
    if value.is_empty() {
        notes.add(&format!("{field} is empty: reads \"unknown\""));
        *value = "unknown".into();
    }
}

fn optional_token(notes: &mut Notes, field: &str, value: String) -> Option<String> {
    let t = token(notes, field, value);
    (!t.is_empty()).then_some(t)
}

fn tokens(notes: &mut Notes, field: &str, values: Vec<String>) -> Vec<String> {
    values
        .into_iter()
        .filter_map(|v| optional_token(notes, field, v))
        .collect()
}

fn cut(notes: &mut Notes, field: &str, value: String, max: usize) -> String {
    if value.chars().count() <= max {
        return value;
    }
    notes.add(&format!("{field}: cut to {max} characters"));
    value.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{report, update};
    use proptest::prelude::*;

    #[test]
    fn odd_values_are_cleaned_and_said() {
        let mut r = report(
            "web-01",
            Some("not a machine id!"),
            Some("Site A"),
            vec![
                update(&"n".repeat(300), "1 0", "2\u{202E}0", None),
                update("dup", "1", "2", None),
                update("dup", "1", "3", None),
                update("\u{200B}", "1", "2", None),
            ],
        );
        r.os.pretty_name = Some("Debian\u{7}\u{200D}".into());
        r.kernel = " ".into();
        r.inventory.installed_packages = u64::MAX;
        let notes = clean(&mut r);
        r.validate().unwrap();
        assert_eq!(r.host.machine_id, None);
        assert_eq!(r.host.site.as_deref(), Some("Site_A"));
        assert_eq!(r.os.pretty_name.as_deref(), Some("Debian"));
        assert_eq!(r.kernel, "unknown");
        assert_eq!(r.inventory.installed_packages, MAX_COUNT);
        let names: Vec<_> = r.inventory.updates.iter().map(|u| u.name.len()).collect();
        assert_eq!(names, [256, 3]);
        assert_eq!(r.inventory.updates[0].installed_version, "1_0");
        assert_eq!(r.inventory.updates[0].candidate_version, "20");
        assert_eq!(
            r.inventory.updates[1].candidate_version, "2",
            "the first of two is kept"
        );
        for words in [
            "machine_id",
            "cut to 256",
            "listed twice",
            "unknown",
            "capped",
            "white space",
        ] {
            assert!(
                notes.iter().any(|n| n.contains(words)),
                "{words}: {notes:?}"
            );
        }
    }

    #[test]
    fn a_clean_report_is_left_as_it_is() {
        let mut r = report(
            "web-01",
            Some("0123456789abcdef"),
            Some("SiteA"),
            vec![update("a", "1", "2", None)],
        );
        let before = r.clone();
        assert!(clean(&mut r).is_empty());
        assert_eq!(r, before);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Whatever the host says, the cleaned report is one the aggregator accepts.
        #[test]
        fn any_report_cleaned_validates(
            fields in prop::collection::vec(any::<String>(), 12),
            long in "[a-z]{250,300}",
        ) {
            let mut r = report("web-01", Some(&fields[0]), Some(&fields[1]), vec![
                update(&fields[2], &fields[3], &fields[4], None),
                update(&long, &fields[5], &fields[6], None),
                update(&fields[2], &fields[3], &fields[4], None),
            ]);
            r.os.id = fields[7].clone();
            r.os.version = fields[8].clone();
            r.os.pretty_name = Some(fields[9].clone());
            r.kernel = fields[10].clone();
            r.inventory.reboot.packages = vec![fields[11].clone()];
            r.inventory.updates[0].repository = Some(fields[11].repeat(50));
            r.inventory.updates[0].cves = vec![fields[5].clone()];
            r.os.cpe_name = Some(fields[6].clone());
            r.inventory.installed = Some(vec![
                crate::model::Installed::new(&fields[2], &fields[3], &fields[4]),
                crate::model::Installed::new(&fields[2], &fields[3], &fields[4]),
                crate::model::Installed {
                    module: Some(fields[8].clone()),
                    ..crate::model::Installed::new(&long, &fields[5], &fields[6])
                },
            ]);
            r.inventory.running_kernel = Some(crate::model::RunningKernel {
                package: fields[9].clone(),
                version: fields[10].clone(),
            });
            let fix = |name: &str, version: &str| crate::Unentitled {
                name: name.to_string(),
                arch: fields[4].clone(),
                installed_version: fields[3].clone(),
                version: version.to_string(),
                channel: fields[7].clone(),
                security: true,
            };
            r.inventory.unentitled = Some(vec![
                fix(&fields[2], &fields[5]),
                fix(&fields[2], &fields[6]),
                fix(&long, &fields[9]),
            ]);
            clean(&mut r);
            prop_assert!(r.validate().is_ok(), "{:?}", r.validate());
            prop_assert!(crate::from_json(&crate::to_json(&r)).is_ok());
        }
    }

    #[test]
    fn what_the_host_runs_is_made_acceptable() {
        let mut r = report("web-01", None, None, vec![]);
        r.inventory.running = crate::running::Running {
            restart: Some(crate::running::Restart {
                processes: 2,
                units: vec![
                    crate::running::RestartUnit {
                        unit: "my unit.service".into(),
                        packages: vec!["".into(), "libc6".into()],
                    },
                    crate::running::RestartUnit {
                        unit: "\u{7}".into(),
                        packages: vec![],
                    },
                ],
                ..Default::default()
            }),
            livepatches: Some(vec![crate::running::LivePatch {
                name: "".into(),
                enabled: true,
                transition: false,
            }]),
            livepatch_state: Some("two words".into()),
        };
        let notes = clean(&mut r);
        assert!(!notes.is_empty());
        r.validate().unwrap();
        let restart = r.inventory.running.restart.as_ref().unwrap();
        assert_eq!(restart.units.len(), 1);
        assert_eq!(restart.units[0].unit, "my_unit.service");
        assert_eq!(restart.units[0].packages, ["libc6"]);
        assert_eq!(r.inventory.running.livepatches, Some(vec![]));
        assert_eq!(
            r.inventory.running.livepatch_state.as_deref(),
            Some("two_words")
        );
    }

    #[test]
    fn fixes_behind_an_entitlement_are_made_acceptable() {
        let fix = |name: &str, channel: &str| crate::Unentitled {
            name: name.into(),
            arch: "amd64".into(),
            installed_version: "1.0-1".into(),
            version: "1.0-1ubuntu0.1+esm1".into(),
            channel: channel.into(),
            security: true,
        };
        let mut r = report("web-01", None, None, vec![]);
        r.inventory.unentitled = Some(vec![
            fix("curl", "esm infra"),
            fix("curl", "esm-infra"),
            fix("", "esm-apps"),
            fix("vim", "esm-apps"),
        ]);
        let notes = clean(&mut r);
        assert!(notes.iter().any(|n| n.contains("entitlement")), "{notes:?}");
        r.validate().unwrap();
        let kept = r.inventory.unentitled.as_ref().unwrap();
        let names: Vec<(&str, &str)> = kept
            .iter()
            .map(|u| (u.name.as_str(), u.channel.as_str()))
            .collect();
        assert_eq!(names, [("curl", "esm_infra"), ("vim", "esm-apps")]);
    }
}
