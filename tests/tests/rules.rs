//! The alert rules as Prometheus sees them: `promtool check rules` is clean and
//! `promtool test rules` passes, and the tests show every alert both firing
//! and staying silent.

use std::process::Command;

const ALERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../alerts");

fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(ALERTS)
        .output()
        .expect("promtool (Debian package prometheus)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn rules_pass_promtool_check() {
    let (ok, text) = promtool(&["check", "rules", "pakiti.rules.yml"]);
    assert!(ok, "{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn rules_pass_their_unit_tests() {
    let (ok, text) = promtool(&[
        "test",
        "rules",
        "pakiti.rules.test.yml",
        "pakiti.deadlines.test.yml",
    ]);
    assert!(ok, "{text}");
}

#[test]
fn every_alert_is_tested_firing_and_silent() {
    let rules = std::fs::read_to_string(format!("{ALERTS}/pakiti.rules.yml")).unwrap();
    let tests = ["pakiti.rules.test.yml", "pakiti.deadlines.test.yml"]
        .map(|f| std::fs::read_to_string(format!("{ALERTS}/{f}")).unwrap())
        .join("\n");
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 10, "{alerts:?}");
    // Split the tests into alert_rule_test items: `alertname: X` then its exp_alerts.
    let items: Vec<(&str, bool)> = tests
        .split("alertname: ")
        .skip(1)
        .map(|chunk| {
            let name = chunk.lines().next().unwrap_or("").trim();
            let silent = chunk
                .lines()
                .nth(1)
                .is_some_and(|l| l.trim() == "exp_alerts: []");
            (name, silent)
        })
        .collect();
    for a in alerts {
        assert!(
            items.contains(&(a, true)),
            "{a} is never tested staying silent"
        );
        assert!(items.contains(&(a, false)), "{a} is never tested firing");
        let rule = rules.split("- alert: ").find(|r| r.starts_with(a)).unwrap();
        for needle in ["severity: ", "summary: ", "description: "] {
            assert!(rule.contains(needle), "{a} has no {needle}");
        }
    }
}
