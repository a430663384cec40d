//! `collect --format text`: the report as a table for a person at a terminal.

use std::fmt::Write as _;

use pakiti_report::Report;

pub fn table(r: &Report) -> String {
    let inv = &r.inventory;
    let security = inv.updates.iter().filter(|u| u.is_security()).count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({} {}, {}): {} pending updates, {} security, {} held; {} packages installed{}",
        r.host.hostname,
        r.os.id,
        r.os.version,
        r.manager,
        inv.updates.len(),
        security,
        inv.held_count(),
        inv.installed_packages,
        if inv.reboot.required {
            "; reboot required"
        } else {
            ""
        }
    );
    if !inv.security_metadata_available {
        let _ = writeln!(out, "note: no configured repository carries security metadata, so no update can be told apart as a security fix");
    }
    if let Some(restart) = &inv.running.restart {
        if restart.processes > 0 {
            let units: Vec<String> = restart
                .units
                .iter()
                .map(|u| match u.packages.as_slice() {
                    [] => u.unit.clone(),
                    p => format!("{} ({})", u.unit, p.join(", ")),
                })
                .collect();
            let _ = writeln!(
                out,
                "restart: {} {} a library or executable that an upgrade replaced{}{}",
                restart.processes,
                if restart.processes == 1 {
                    "process runs"
                } else {
                    "processes run"
                },
                if units.is_empty() {
                    String::new()
                } else {
                    format!("; services: {}", units.join(", "))
                },
                if restart.sessions > 0 {
                    let s = if restart.sessions == 1 { "" } else { "s" };
                    format!("; {} user session{s}", restart.sessions)
                } else {
                    String::new()
                }
            );
        }
    }
    if inv.updates.is_empty() {
        return out;
    }
    let headers = [
        "PACKAGE",
        "ARCH",
        "INSTALLED",
        "CANDIDATE",
        "SECURITY",
        "HELD",
    ];
    let rows: Vec<[String; 6]> = inv
        .updates
        .iter()
        .map(|u| {
            [
                u.name.clone(),
                u.arch.clone(),
                u.installed_version.clone(),
                u.candidate_version.clone(),
                u.security.map_or("-".into(), |s| s.to_string()),
                u.held.map_or("-".into(), |h| h.as_str().to_string()),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:<w$}  ");
            }
        }
        let _ = writeln!(out, "{}", l.trim_end());
    };
    line(&headers);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::tests::sample_report;

    #[test]
    fn a_table_for_people() {
        insta::assert_snapshot!(table(&sample_report()));
    }

    #[test]
    fn processes_running_replaced_code_are_named_with_their_services() {
        let mut r = sample_report();
        r.inventory.running.restart = Some(pakiti_report::Restart {
            processes: 3,
            sessions: 1,
            unreadable: 0,
            units: vec![
                pakiti_report::RestartUnit {
                    unit: "nginx.service".into(),
                    packages: vec!["libssl3".into(), "libc6".into()],
                },
                pakiti_report::RestartUnit {
                    unit: "cron.service".into(),
                    packages: vec![],
                },
            ],
        });
        let text = table(&r);
        assert!(
            text.contains("restart: 3 processes run a library or executable that an upgrade replaced; services: nginx.service (libssl3, libc6), cron.service; 1 user session\n"),
            "{text}"
        );
        let restart = r.inventory.running.restart.as_mut().unwrap();
        restart.processes = 1;
        restart.units.clear();
        restart.sessions = 0;
        assert!(table(&r).contains(
            "restart: 1 process runs a library or executable that an upgrade replaced\n"
        ));
        r.inventory.running.restart.as_mut().unwrap().processes = 0;
        assert!(!table(&r).contains("restart:"));
    }
}
