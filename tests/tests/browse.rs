//! The pages as an administrator uses them, through WebDriver (Debian's
//! chromedriver and Chromium): clicking column headings and checking the
//! order, submitting filter forms, following host → package → CVE links,
//! opening the collapsed updates of a host with 160 of them, and reading the
//! hosts list and a host page on a 390-pixel phone without sideways
//! scrolling. Screenshots at desktop and phone width go to `tests/artefacts/`.

mod common;

use std::path::PathBuf;

use common::browser::Browser;
use common::pages_fleet::{aggregator, push_all, report, small_fleet, update};
use serde_json::Value;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The host names of a list's rows, in order.
const HOST_CELLS: &str = "table tbody th[scope=row] a";

fn fleet() -> Vec<Value> {
    // A host with 160 pending updates, 3 of them security updates.
    let mut many = vec![
        update("openssl", "critical", &["DSA-5555-1"], &["CVE-2026-0001"]),
        update("libxml2", "moderate", &[], &["CVE-2026-0003"]),
        update("zlib1g", "low", &[], &["CVE-2026-0002"]),
    ];
    // zlib1g's fix is kept back: a security fix that will not install by itself.
    many[2]["held"] = true.into();
    many[2]["held_reason"] = "kept-back".into();
    many.extend((0..157).map(|i| update(&format!("pkg-{i:03}"), "none", &[], &[])));
    let mut fleet = small_fleet();
    fleet.push(report(
        "big-01",
        5,
        "SiteB",
        "Debian GNU/Linux 12",
        true,
        many,
    ));
    // clean-01 runs Debian 10, whose long-term support ended in 2024.
    fleet[3]["os"]["version"] = "10".into();
    // web-01's exporter looked at what runs: nginx still runs the replaced libssl.
    fleet[0]["running"] = serde_json::json!({
        "restart": {"processes": 3, "sessions": 1, "unreadable": 0,
                    "units": [{"unit": "nginx.service", "packages": ["libssl3"]}]},
        "livepatches": [{"name": "lkp_Ubuntu_6_1_0", "enabled": true, "transition": false}],
        "livepatch_state": "unapplied"
    });
    // web-02 is not entitled to two fixes ESM has for it, one a security fix.
    assert_eq!(fleet[1]["host"]["hostname"], "web-02");
    fleet[1]["unentitled"] = serde_json::json!([
        {"name": "libcurl4", "arch": "amd64", "installed_version": "7.81.0-1ubuntu1.15",
         "version": "7.81.0-1ubuntu1.16+esm1", "channel": "esm-infra", "security": true},
        {"name": "tzdata", "arch": "all", "installed_version": "2024a-0ubuntu0.22.04",
         "version": "2024a-0ubuntu0.22.04.1+esm1", "channel": "esm-infra", "security": false}
    ]);
    fleet
}

fn artefact(name: &str) -> PathBuf {
    let dir = PathBuf::from(format!("{ROOT}/tests/artefacts"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn screenshot(b: &Browser, name: &str) {
    let path = artefact(name);
    b.screenshot(&path);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    assert!(size > 5_000, "{name} is {size} bytes");
}

#[test]
fn an_administrator_clicks_through_the_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (_agg, base) = aggregator(dir.path());
    push_all(&base, &fleet());
    let b = Browser::desktop(1280, 900);
    // Pages load their own script only: no inline script would run.
    let page = reqwest::blocking::get(format!("{base}/hosts")).unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("script-src 'self'") && policy.contains("default-src 'none'"),
        "{policy}"
    );

    // The hosts list starts with what needs attention first: the critical
    // host, then the important one, then by worst severity; clean hosts last.
    b.goto(&format!("{base}/hosts"));
    assert_eq!(
        b.texts(HOST_CELLS),
        ["big-01", "web-01", "web-02", "db-01", "clean-01"]
    );
    screenshot(&b, "hosts-desktop.png");

    // A heading sorts; the same heading again reverses.
    b.follow(&b.find("thead a[href*='sort=host']"));
    assert_eq!(
        b.texts(HOST_CELLS),
        ["big-01", "clean-01", "db-01", "web-01", "web-02"]
    );
    assert!(b.url().contains("sort=host&order=asc"), "{}", b.url());
    b.follow(&b.find("thead a[href*='sort=host']"));
    assert_eq!(
        b.texts(HOST_CELLS),
        ["web-02", "web-01", "db-01", "clean-01", "big-01"]
    );
    b.follow(&b.find("thead a[href*='sort=pending']"));
    assert_eq!(b.texts(HOST_CELLS)[0], "big-01");
    // Security: one critical outranks any number of lesser ones.
    b.follow(&b.find("thead a[href*='sort=security']"));
    assert_eq!(
        b.texts(HOST_CELLS),
        ["big-01", "web-01", "web-02", "db-01", "clean-01"]
    );
    b.follow(&b.find("caption a"));
    assert!(b.url().contains("sort=attention"), "{}", b.url());

    // The filter form, submitted as a person would: a site chosen, a name typed.
    b.click(&b.find("#site option[value=SiteB]"));
    let q = b.find("#q");
    b.clear(&q);
    b.type_into(&q, "01");
    b.follow(&b.find("form.filters button[type=submit]"));
    assert_eq!(b.texts(HOST_CELLS), ["big-01", "db-01", "clean-01"]);
    assert!(
        b.url().contains("site=SiteB") && b.url().contains("q=01"),
        "{}",
        b.url()
    );
    let reboot = b.find("#reboot option[value=yes]");
    b.click(&reboot);
    b.follow(&b.find("form.filters button[type=submit]"));
    assert_eq!(b.texts(HOST_CELLS), ["big-01"]);

    // Host → package → CVE.
    b.goto(&format!("{base}/hosts"));
    b.follow(&b.find("tbody a[href='/hosts/web-01?site=SiteA']"));
    assert_eq!(b.text(&b.find("h1")), "web-01");
    assert_eq!(
        b.texts("#security-updates + .scroll tbody th[scope=row]"),
        ["openssl"]
    );
    assert_eq!(
        b.text(&b.find("#security-updates + .scroll tbody td")),
        "critical"
    );
    b.follow(&b.find("#security-updates + .scroll tbody a[href='/packages/openssl']"));
    assert!(b.url().ends_with("/packages/openssl"), "{}", b.url());
    assert_eq!(b.texts(HOST_CELLS), ["web-01", "web-02", "big-01"]);
    b.follow(&b.find("tbody a[href='/cves/CVE-2026-0001']"));
    assert!(b.url().ends_with("/cves/CVE-2026-0001"), "{}", b.url());
    assert_eq!(b.texts(HOST_CELLS), ["web-01", "web-02", "big-01"]);
    b.follow(&b.find("tbody a[href='/hosts/web-02?site=SiteA']"));
    assert_eq!(b.text(&b.find("h1")), "web-02");

    // What web-01 runs: on its page, in /federate with host and site, in the API;
    // hosts whose exporter did not say have no series (unknown, not none).
    b.goto(&format!("{base}/hosts/web-01?site=SiteA"));
    let running = b.text(&b.find("#running + p"));
    assert!(
        running.starts_with("3 processes still run a library or executable"),
        "{running}"
    );
    assert_eq!(
        b.texts("#running ~ .scroll tbody th[scope=row]")[0],
        "nginx.service"
    );
    let patches = b.text(&b.find("#running ~ .scroll + p"));
    assert!(
        patches.contains("lkp_Ubuntu_6_1_0 enabled")
            && patches.contains("Canonical Livepatch says of the running kernel: unapplied (not every patch it has is applied)"),
        "{patches}"
    );
    let federate = reqwest::blocking::get(format!("{base}/federate"))
        .unwrap()
        .text()
        .unwrap();
    for line in [
        "pakiti_restart_required_units{host=\"web-01\",site=\"SiteA\"} 1\n",
        "pakiti_restart_required_processes{host=\"web-01\",site=\"SiteA\"} 3\n",
        "pakiti_kernel_livepatches{host=\"web-01\",site=\"SiteA\"} 1\n",
    ] {
        assert!(federate.contains(line), "{line}");
    }
    assert!(!federate.contains("pakiti_restart_required_units{host=\"web-02\""));
    let api: Value = reqwest::blocking::get(format!("{base}/api/v1/hosts/web-01?site=SiteA"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(api["restart_required"]["units"], 1, "{api}");
    assert_eq!(api["kernel_livepatches"], 1);
    b.goto(&format!("{base}/hosts/web-02?site=SiteA"));
    assert!(b.text(&b.find("#running + p")).starts_with("Unknown:"));

    // Fixes web-02 is not entitled to: apart from its updates, security first;
    // web-01's exporter did not say, so its page has no such section.
    let said = b.text(&b.find("#unentitled + p"));
    assert!(
        said.starts_with("2 packages have a newer version only in a channel this host is not entitled to (1 from a security pocket)"),
        "{said}"
    );
    assert_eq!(
        b.texts("#unentitled + p + .scroll tbody th[scope=row]"),
        ["libcurl4", "tzdata"]
    );
    let api: Value = reqwest::blocking::get(format!("{base}/api/v1/hosts/web-02?site=SiteA"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(api["unentitled"]["security"], 1, "{api}");
    assert_eq!(
        api["unentitled"]["fixes"][0]["channel"], "esm-infra",
        "{api}"
    );
    for line in [
        "pakiti_updates_unentitled{host=\"web-02\",site=\"SiteA\"} 2\n",
        "pakiti_security_updates_unentitled{host=\"web-02\",site=\"SiteA\"} 1\n",
    ] {
        assert!(federate.contains(line), "{line}");
    }
    assert!(!federate.contains("pakiti_updates_unentitled{host=\"web-01\""));
    // Held security fixes, per host and severity.
    for line in [
        "pakiti_security_updates_held{host=\"big-01\",site=\"SiteB\",severity=\"low\"} 1\n",
        "pakiti_security_updates_held{host=\"big-01\",site=\"SiteB\",severity=\"critical\"} 0\n",
        "pakiti_security_updates_held{host=\"web-01\",site=\"SiteA\",severity=\"low\"} 0\n",
    ] {
        assert!(federate.contains(line), "{line}");
    }
    b.goto(&format!("{base}/hosts/web-01?site=SiteA"));
    assert!(b.find_all("#unentitled").is_empty());
    let hosts: Value = reqwest::blocking::get(format!("{base}/api/v1/hosts"))
        .unwrap()
        .json()
        .unwrap();
    let web01 = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hostname"] == "web-01")
        .unwrap();
    assert!(web01["unentitled"].is_null(), "unknown, not none: {web01}");
    let big = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hostname"] == "big-01")
        .unwrap();
    assert_eq!(big["held_security"]["low"], 1, "{big}");
    assert_eq!(big["held_security"]["critical"], 0, "{big}");

    // Support windows: an end-of-life release is not clean, on its page, in
    // /federate and on the overview.
    b.goto(&format!("{base}/hosts/clean-01?site=SiteB"));
    let about = b.text(&b.find("#about + .scroll table"));
    assert!(
        about.contains("Security support ended: nobody publishes security fixes for debian 10"),
        "{about}"
    );
    b.goto(&format!("{base}/hosts/web-01?site=SiteA"));
    let about = b.text(&b.find("#about + .scroll table"));
    assert!(
        about.contains("2026-06-10") && about.contains("LTS") && about.contains("2028-06-30"),
        "{about}"
    );
    for line in [
        "pakiti_os_support_end_timestamp_seconds{host=\"web-01\",site=\"SiteA\",kind=\"standard\"} 1781049600\n",
        "pakiti_os_support_end_timestamp_seconds{host=\"web-01\",site=\"SiteA\",kind=\"extended\",program=\"LTS\"} 1845936000\n",
        "pakiti_os_support_end_timestamp_seconds{host=\"clean-01\",site=\"SiteB\",kind=\"extended\",program=\"LTS\"} 1719705600\n",
    ] {
        assert!(federate.contains(line), "{line}");
    }
    b.goto(&format!("{base}/"));
    assert!(
        b.texts(".cards .card")
            .iter()
            .any(|c| c == "1\nruns replaced code in services (fix installed, not running)"),
        "{:?}",
        b.texts(".cards .card")
    );
    assert!(
        b.texts(".cards .card")
            .iter()
            .any(|c| c.starts_with("1\nwith security fixes they are not entitled to")),
        "{:?}",
        b.texts(".cards .card")
    );
    assert!(
        b.texts(".cards .card")
            .iter()
            .any(|c| c.starts_with("1\non a release nobody publishes security fixes for")),
        "{:?}",
        b.texts(".cards .card")
    );

    // A host with 160 pending updates: its 3 security updates first, worst
    // first; the other 157 collapsed until asked for.
    b.goto(&format!("{base}/hosts/big-01?site=SiteB"));
    assert_eq!(
        b.texts("#security-updates + .scroll tbody th[scope=row]"),
        ["openssl", "libxml2", "zlib1g"]
    );
    assert_eq!(
        b.text(&b.find("#other-updates summary")),
        "157 other pending updates"
    );
    let first_other = b.find("#other-updates tbody th[scope=row]");
    assert!(
        !b.displayed(&first_other),
        "the other updates start collapsed"
    );
    screenshot(&b, "host-desktop.png");
    b.click(&b.find("#other-updates summary"));
    assert!(b.displayed(&first_other));
    assert_eq!(b.text(&first_other), "pkg-000");
    // Sorted by package name instead of severity: the security table follows.
    b.follow(&b.find("#security-updates + .scroll thead a[href*='usort=package']"));
    assert_eq!(
        b.texts("#security-updates + .scroll tbody th[scope=row]"),
        ["libxml2", "openssl", "zlib1g"]
    );
    // The filter: names, repositories and ids; it opens the rest.
    let uq = b.find("#uq");
    b.type_into(&uq, "pkg-15");
    b.follow(&b.find("#updates ~ form button[type=submit]"));
    assert_eq!(
        b.texts("#other-updates tbody th[scope=row]"),
        (150..157).map(|i| format!("pkg-{i}")).collect::<Vec<_>>()
    );
    assert!(b.displayed(&b.find("#other-updates tbody th[scope=row]")));
    assert_eq!(
        b.text(&b.find("#security-updates + p")),
        "No security update matches."
    );
    assert!(b.url().contains("usort=package"), "{}", b.url());

    // Times: an age with "ago", the UTC time and the viewer's local time on hover.
    b.goto(&format!("{base}/"));
    let t = b.find("main time");
    assert!(
        b.text(&t).ends_with(" ago") || b.text(&t) == "just now",
        "{}",
        b.text(&t)
    );
    let title = b.script("return document.querySelector('main time').title");
    let title = title.as_str().unwrap_or_default();
    assert!(
        title.contains("(your time) · ") && title.ends_with(" UTC"),
        "{title}"
    );
    assert_eq!(
        b.texts("#attention ~ .scroll tbody th[scope=row] a"),
        ["big-01", "web-01", "web-02", "db-01"]
    );
    screenshot(&b, "overview-desktop.png");
}

/// Whether anything on the page is wider than the viewport: the page itself,
/// or a table inside its scrolling box.
fn sideways(b: &Browser) -> Value {
    b.script(
        "const w = document.documentElement.clientWidth;
         const wide = [];
         if (document.documentElement.scrollWidth > w) wide.push('page ' + document.documentElement.scrollWidth + ' > ' + w);
         for (const s of document.querySelectorAll('.scroll')) {
           if (s.scrollWidth > s.clientWidth) wide.push((s.querySelector('table').getAttribute('aria-labelledby') || 'table') + ' ' + s.scrollWidth + ' > ' + s.clientWidth);
         }
         return wide;",
    )
}

/// The texts of the elements `css` selects that are displayed.
fn shown(b: &Browser, css: &str) -> Vec<String> {
    b.find_all(css)
        .iter()
        .filter(|e| b.displayed(e))
        .map(|e| b.text(e))
        .collect()
}

#[test]
fn a_phone_shows_host_security_severity_and_reboot_without_scrolling_sideways() {
    let dir = tempfile::tempdir().unwrap();
    let (_agg, base) = aggregator(dir.path());
    push_all(&base, &fleet());
    let b = Browser::phone(390, 844);

    b.goto(&format!("{base}/hosts"));
    assert_eq!(b.script("return window.innerWidth"), 390);
    assert_eq!(sideways(&b), Value::Array(vec![]), "the hosts list");
    // Host, security (with its severity) and reboot are what a row shows.
    let headings: Vec<String> = shown(&b, "thead th");
    assert_eq!(headings, ["Host", "Security", "Reboot"]);
    let row: Vec<String> = shown(&b, "tbody tr:first-child > *");
    assert_eq!(row, ["big-01", "1 critical 1 moderate 1 low", "yes"]);
    screenshot(&b, "hosts-phone.png");

    b.goto(&format!("{base}/hosts/big-01?site=SiteB"));
    assert_eq!(sideways(&b), Value::Array(vec![]), "the host page");
    let row: Vec<String> = shown(&b, "#security-updates + .scroll tbody tr:first-child > *");
    assert_eq!(row, ["openssl", "critical", "1.0-2"]);
    let cards = b.text(&b.find(".cards"));
    assert!(
        cards.contains("3\nsecurity updates") && cards.contains("yes\nreboot required"),
        "{cards}"
    );
    screenshot(&b, "host-phone.png");

    b.goto(&format!("{base}/"));
    assert_eq!(sideways(&b), Value::Array(vec![]), "the overview");
    screenshot(&b, "overview-phone.png");
}
