//! What each fuzz target checks: every parser of outside data gets any
//! bytes and must answer (a value or an error), never panic; the version
//! orders must stay antisymmetric and, where the tool's order is one,
//! transitive, and agree with their sort keys. `fuzz/` runs these under
//! libFuzzer (cargo-fuzz, nightly); `tests/replay.rs` runs every file of
//! the committed corpora through them on stable, in CI.

use std::cmp::Ordering;

use pakiti_versions::Scheme;

/// What a target checks of one input.
pub type Target = fn(&[u8]);

/// The targets by name (the folder of their corpus under `fuzz/corpus/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("report_json", report_json),
    ("report_gzip", report_gzip),
    ("web_config", web_config),
    ("exporter_config", exporter_config),
    ("aggregator_config", aggregator_config),
    ("apt", apt),
    ("dpkg_status", dpkg_status),
    ("dnf", dnf),
    ("zypper", zypper),
    ("apk", apk),
    ("pacman", pacman),
    ("os_release", os_release),
    ("versions", versions),
    ("file_sd", file_sd),
    ("debian_tracker", debian_tracker),
    ("osv", osv),
    ("openvex", openvex),
    ("selector", selector),
    ("accept", accept),
    ("arch_tracker", arch_tracker),
    ("alpine_secdb", alpine_secdb),
    ("csaf_vex", csaf_vex),
    ("kev", kev),
    ("epss", epss),
    ("decisions_file", decisions_file),
];

fn text(data: &[u8]) -> &str {
    std::str::from_utf8(data).unwrap_or("")
}

pub fn report_json(data: &[u8]) {
    if let Ok(r) = pakiti_report::from_json(data) {
        // What was accepted is written back as what is read again.
        let again = pakiti_report::from_json(&pakiti_report::to_json(&r))
            .expect("an accepted report survives its own JSON");
        assert_eq!(again, r);
    }
}

pub fn report_gzip(data: &[u8]) {
    if let Ok(json) = pakiti_service::gzip::decompress(data, 1 << 20) {
        report_json(&json);
    }
}

pub fn web_config(data: &[u8]) {
    let _ = pakiti_httpserver::webconfig::parse(text(data), std::path::Path::new("/nonexistent"));
}

pub fn exporter_config(data: &[u8]) {
    let _ = pakiti_exporter::config::parse(text(data));
}

pub fn aggregator_config(data: &[u8]) {
    if let Ok(f) = toml::from_str::<pakiti_aggregator::config::File>(text(data)) {
        let _ = pakiti_aggregator::config::Settings::from_file(&f);
    }
}

pub fn apt(data: &[u8]) {
    let t = text(data);
    let _ = pakiti_collectors::apt::parse_sources(t);
    let _ = pakiti_collectors::apt::parse_policies(t);
    let _ = pakiti_collectors::apt::parse_upgrade(t);
    let _ = pakiti_collectors::apt::names_esm(t);
}

pub fn dpkg_status(data: &[u8]) {
    let _ = pakiti_collectors::dpkg::parse_status(text(data));
}

pub fn dnf(data: &[u8]) {
    let t = text(data);
    let _ = pakiti_collectors::dnf::parse_check_update(t);
    let _ = pakiti_collectors::dnf::parse_updateinfo(t);
    let _ = pakiti_collectors::dnf::parse_needs_restarting(t);
}

pub fn zypper(data: &[u8]) {
    let t = text(data);
    let _ = pakiti_collectors::zypper::parse_list_updates(t);
    let _ = pakiti_collectors::zypper::parse_list_patches(t);
    let _ = pakiti_collectors::zypper::parse_patch_info(t);
}

pub fn apk(data: &[u8]) {
    let t = text(data);
    let installed = pakiti_collectors::apk::parse_installed(t);
    let _ = pakiti_collectors::apk::kernel_releases(&installed);
    let _ = pakiti_collectors::apk::parse_upgradable(t);
    let mut db = Default::default();
    let _ = pakiti_collectors::apk::parse_secdb(t, &mut db);
}

pub fn pacman(data: &[u8]) {
    let t = text(data);
    let _ = pakiti_collectors::pacman::parse_desc(t);
    let _ = pakiti_collectors::pacman::parse_updates(t);
    let _ = pakiti_collectors::pacman::parse_audit(t);
}

pub fn os_release(data: &[u8]) {
    let kv = pakiti_collectors::host::parse_os_release(text(data));
    let _ = pakiti_collectors::host::os_info(&kv);
    let _ = pakiti_collectors::host::detect_manager(&kv);
}

/// Three versions from the input (split at the first two NUL bytes): each
/// order compares them antisymmetrically; dpkg's, rpm's and apk's also
/// transitively; where two have sort keys, the keys agree with the order.
pub fn versions(data: &[u8]) {
    let mut parts = data
        .splitn(3, |b| *b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let (a, b, c) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    for scheme in [Scheme::Dpkg, Scheme::Rpm, Scheme::Apk, Scheme::Alpm] {
        let cmp = |x: &str, y: &str| pakiti_versions::compare(scheme, x, y);
        for (x, y) in [(&a, &b), (&b, &c), (&a, &c)] {
            assert_eq!(cmp(x, y), cmp(y, x).reverse(), "{scheme:?}: {x:?} {y:?}");
            if let (Some(kx), Some(ky)) = (
                pakiti_versions::sort_key(scheme, x),
                pakiti_versions::sort_key(scheme, y),
            ) {
                assert_eq!(kx.cmp(&ky), cmp(x, y), "{scheme:?} keys: {x:?} {y:?}");
            }
        }
        // libalpm's vercmp is not transitive on some odd versions
        // (`1a.` > `1a.b` > `1a1` > `1a.`): pakiti follows it, keys aside.
        if scheme != Scheme::Alpm
            && cmp(&a, &b) != Ordering::Greater
            && cmp(&b, &c) != Ordering::Greater
        {
            assert_ne!(
                cmp(&a, &c),
                Ordering::Greater,
                "{scheme:?}: {a:?} <= {b:?} <= {c:?}"
            );
        }
    }
}

pub fn file_sd(data: &[u8]) {
    let _ = pakiti_aggregator::scrape::parse_file_sd(text(data), "http");
}

pub fn debian_tracker(data: &[u8]) {
    let _ = pakiti_vulns::debian::read(data, |_| {});
}

/// An OSV document; what it gives is decided in each version order (a
/// fixed version is whatever the document says).
pub fn osv(data: &[u8]) {
    let mut records = Vec::new();
    if pakiti_vulns::osv::read_one(data, |r| records.push(r)).is_ok() {
        for scheme in [Scheme::Dpkg, Scheme::Rpm, Scheme::Apk, Scheme::Alpm] {
            let _ = pakiti_vulns::decide(scheme, &records);
        }
    }
}

pub fn openvex(data: &[u8]) {
    let _ = pakiti_vulns::vex::read_one(data, |_| {});
}

pub fn selector(data: &[u8]) {
    if let Ok(s) = pakiti_aggregator::selector::Selector::parse(text(data)) {
        let _ = s.matches("pakiti_updates_pending", &[("host", "h"), ("site", "")]);
    }
}

/// A scraper's `Accept` header: always one of the formats written.
pub fn accept(data: &[u8]) {
    use pakiti_service::exposition::Format;
    let f = Format::negotiate(Some(text(data)));
    assert!(matches!(
        f,
        Format::Text | Format::OpenMetrics("1.0.0") | Format::OpenMetrics("0.0.1")
    ));
}

/// Arch's security tracker JSON.
pub fn arch_tracker(data: &[u8]) {
    let _ = pakiti_vulns::arch::read(data, |_| {});
}

/// Alpine's secdb JSON, as a feed.
pub fn alpine_secdb(data: &[u8]) {
    let _ = pakiti_vulns::secdb::read(data, |_| {});
}

/// One of Red Hat's CSAF VEX documents.
pub fn csaf_vex(data: &[u8]) {
    let _ = pakiti_vulns::csaf::read_one(data, |_| {});
}

/// CISA's KEV catalog.
pub fn kev(data: &[u8]) {
    if let Ok(c) = pakiti_decisions::kev::read(data) {
        // What is read is sorted and without duplicates.
        assert!(c.entries.windows(2).all(|w| w[0].cve < w[1].cve));
    }
}

/// FIRST's EPSS scores.
pub fn epss(data: &[u8]) {
    let _ = pakiti_decisions::epss::read(data, |s| {
        assert!((0.0..=1.0).contains(&s.epss) && (0.0..=1.0).contains(&s.percentile));
    });
}

/// The decisions file; each entry it takes reads back the same through its
/// JSON (the web UI's form of it).
pub fn decisions_file(data: &[u8]) {
    if let Ok(d) = pakiti_decisions::file::parse(text(data)) {
        for e in &d.exceptions {
            let again = pakiti_decisions::file::exception_from_json(
                &pakiti_decisions::file::exception_json(e),
            )
            .expect("an exception taken reads back");
            assert_eq!(&again, e);
        }
        for t in &d.tags {
            let again = pakiti_decisions::file::tag_from_json(&pakiti_decisions::file::tag_json(t))
                .expect("a tag taken reads back");
            assert_eq!(&again, t);
        }
    }
}
