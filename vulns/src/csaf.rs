//! Red Hat's CSAF VEX documents (`security.access.redhat.com/data/csaf/v2/vex/`,
//! one per CVE): what every product stream of RHEL says of the CVE, fixed,
//! affected with no fix yet, not to be fixed, or not affected.
//!
//! A document's `product_tree` names products (a platform with its CPE,
//! `cpe:/o:redhat:enterprise_linux:9::baseos`; a package with its purl,
//! `pkg:rpm/redhat/openssl@3.0.7-27.el9?arch=x86_64&epoch=1`) and its
//! `relationships` join them (`default_component_of`: this package as a
//! component of that platform, under a product id of its own). The
//! vulnerability's `product_status` lists those ids under `fixed`,
//! `known_affected`, `known_not_affected` and `under_investigation`; its
//! `remediations` say why for each (`vendor_fix` with the RHSA's URL,
//! `none_available`, `no_fix_planned`), and its `threats` the impact per
//! product (else the document's `aggregate_severity`).
//!
//! Records (read defensively: a product this reader cannot place is left
//! out, never guessed):
//!
//! | VEX | status |
//! | --- | --- |
//! | `fixed` (a `vendor_fix`) | fixed in the purl's `epoch:version-release`, with the RHSA |
//! | `known_affected`, `none_available` or no remediation | unfixed |
//! | `known_affected`, `no_fix_planned` "Out of support scope" | end of life |
//! | `known_affected`, `no_fix_planned` otherwise ("Will not fix") | won't fix |
//! | `known_not_affected` | not affected |
//! | `under_investigation` | undetermined |
//!
//! Releases by the platform's CPE: `enterprise_linux:9` is `rhel:9`, the
//! extended streams `rhel_eus:9.2` (and `rhel_aus`, `rhel_e4s`, `rhel_tus`)
//! are `rhel-eus:9.2` and so on; other products (OpenShift, Satellite, …)
//! are not hosts' releases and are left out. A binary package (`arch=x86_64`,
//! `noarch`: every architecture the same) is keyed by its name; a source
//! package (`arch=src`, and the components of unfixed statuses, which name
//! the source) by `srpm:NAME`, which the matcher compares with each binary
//! package's source RPM. Packages of a module stream (`rpmmod`) are left
//! out: they are matched only against the host's enabled stream, which this
//! reader does not yet do.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::osv::impact;
use crate::{FeedError, Record, Status};

/// The prefix of a record keyed by its source RPM's name.
pub const SRPM: &str = "srpm:";

/// What a product id of the tree is.
#[derive(Debug, Default, Clone)]
struct Product {
    cpe: Option<String>,
    purl: Option<String>,
}

/// A package from its purl.
#[derive(Debug, PartialEq, Eq)]
struct Package {
    name: String,
    /// `epoch:version-release`, the epoch where the purl gives one.
    evr: Option<String>,
    arch: Option<String>,
    module: bool,
}

fn purl(p: &str) -> Option<Package> {
    let rest = p.strip_prefix("pkg:rpm/")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (_namespace, nv) = path.split_once('/')?;
    let (name, version) = match nv.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (nv, None),
    };
    if name.is_empty() {
        return None;
    }
    let mut arch = None;
    let mut epoch = None;
    let mut module = false;
    for kv in query.split('&').filter(|s| !s.is_empty()) {
        match kv.split_once('=') {
            Some(("arch", a)) => arch = Some(a.to_string()),
            Some(("epoch", e)) => epoch = Some(e.to_string()),
            Some(("rpmmod", _)) => module = true,
            _ => {}
        }
    }
    let evr = version.map(|v| match epoch.as_deref() {
        Some(e) if e != "0" => format!("{e}:{v}"),
        _ => v.to_string(),
    });
    Some(Package {
        name: name.to_string(),
        evr,
        arch,
        module,
    })
}

/// The release a platform's CPE names, or `None` for a product that is not
/// a host's release.
pub fn release_of_cpe(cpe: &str) -> Option<String> {
    let rest = cpe.strip_prefix("cpe:/")?;
    let parts: Vec<&str> = rest.split(':').collect();
    let (vendor, product, version) = (parts.get(1)?, parts.get(2)?, parts.get(3)?);
    if *vendor != "redhat" || version.is_empty() {
        return None;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match *product {
        "enterprise_linux" => {
            let major = version.split('.').next()?;
            digits(major).then(|| format!("rhel:{major}"))
        }
        p => {
            let stream = p.strip_prefix("rhel_")?;
            let ok = ["eus", "aus", "e4s", "tus"].contains(&stream)
                && version.split('.').count() == 2
                && version.split('.').all(digits);
            ok.then(|| format!("rhel-{stream}:{version}"))
        }
    }
}

fn walk(branches: &Value, products: &mut HashMap<String, Product>) {
    for b in branches.as_array().into_iter().flatten() {
        if let Some(p) = b.get("product") {
            if let Some(id) = p.get("product_id").and_then(Value::as_str) {
                let helper = p.get("product_identification_helper");
                products.insert(
                    id.to_string(),
                    Product {
                        cpe: helper
                            .and_then(|h| h.get("cpe"))
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        purl: helper
                            .and_then(|h| h.get("purl"))
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    },
                );
            }
        }
        if let Some(inner) = b.get("branches") {
            walk(inner, products);
        }
    }
}

/// What one document gave.
#[derive(Debug, Default)]
pub struct ReadOne {
    pub records: usize,
    /// Product ids it could not place (another product, a module stream).
    pub left_out: usize,
    /// Its `tracking.current_release_date` (a feed's time is its newest
    /// document's).
    pub modified: Option<std::time::SystemTime>,
}

fn strings(v: Option<&Value>) -> impl Iterator<Item = &str> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Reads one CSAF VEX document, calling `each` for every record.
pub fn read_one(json: &[u8], mut each: impl FnMut(Record)) -> Result<ReadOne, FeedError> {
    let doc: Value = serde_json::from_slice(json)?;
    let category = doc
        .pointer("/document/category")
        .and_then(Value::as_str)
        .unwrap_or("");
    if category != "csaf_vex" {
        return Err(FeedError::Invalid(format!(
            "document category {category:?}: not a CSAF VEX document (csaf_vex)"
        )));
    }
    let default_severity = doc
        .pointer("/document/aggregate_severity/text")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut products = HashMap::new();
    walk(
        doc.pointer("/product_tree/branches")
            .unwrap_or(&Value::Null),
        &mut products,
    );
    // Full product id → (component, platform).
    let mut joined: HashMap<&str, (&str, &str)> = HashMap::new();
    for r in doc
        .pointer("/product_tree/relationships")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = r
            .pointer("/full_product_name/product_id")
            .and_then(Value::as_str);
        let component = r.get("product_reference").and_then(Value::as_str);
        let platform = r
            .get("relates_to_product_reference")
            .and_then(Value::as_str);
        if let (Some(id), Some(c), Some(p)) = (id, component, platform) {
            joined.insert(id, (c, p));
        }
    }
    let mut out = ReadOne {
        modified: doc
            .pointer("/document/tracking/current_release_date")
            .and_then(Value::as_str)
            .and_then(|t| pakiti_report::parse_rfc3339(t).ok()),
        ..ReadOne::default()
    };
    let vulns = doc
        .get("vulnerabilities")
        .and_then(Value::as_array)
        .ok_or_else(|| FeedError::Invalid("no \"vulnerabilities\" array".into()))?;
    for v in vulns {
        let Some(cve) = v.get("cve").and_then(Value::as_str) else {
            continue;
        };
        // Per product: the remediation (category, details, advisory) and impact.
        let mut remedy: HashMap<&str, (&str, &str, Option<String>)> = HashMap::new();
        for r in v
            .get("remediations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let category = r.get("category").and_then(Value::as_str).unwrap_or("");
            let details = r.get("details").and_then(Value::as_str).unwrap_or("");
            let advisory = r
                .get("url")
                .and_then(Value::as_str)
                .and_then(|u| u.rsplit('/').next())
                .filter(|a| a.starts_with("RH"))
                .map(str::to_string);
            for id in strings(r.get("product_ids")) {
                remedy.insert(id, (category, details, advisory.clone()));
            }
        }
        let mut impact_of: HashMap<&str, &str> = HashMap::new();
        for t in v
            .get("threats")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if t.get("category").and_then(Value::as_str) == Some("impact") {
                if let Some(d) = t.get("details").and_then(Value::as_str) {
                    for id in strings(t.get("product_ids")) {
                        impact_of.insert(id, d);
                    }
                }
            }
        }
        let status = v.get("product_status");
        let mut seen = BTreeSet::new();
        for (list, kind) in [
            ("fixed", 0u8),
            ("known_affected", 1),
            ("known_not_affected", 2),
            ("under_investigation", 3),
        ] {
            for id in strings(status.and_then(|s| s.get(list))) {
                let Some(record) = record_of(
                    id,
                    kind,
                    cve,
                    &products,
                    &joined,
                    remedy.get(id),
                    impact_of.get(id).copied().or(default_severity.as_deref()),
                ) else {
                    out.left_out += 1;
                    continue;
                };
                let key = (
                    record.source_package.clone(),
                    record.release.clone(),
                    format!("{:?}", record.status),
                );
                if seen.insert(key) {
                    out.records += 1;
                    each(record);
                }
            }
        }
    }
    Ok(out)
}

fn record_of(
    id: &str,
    kind: u8,
    cve: &str,
    products: &HashMap<String, Product>,
    joined: &HashMap<&str, (&str, &str)>,
    remedy: Option<&(&str, &str, Option<String>)>,
    severity: Option<&str>,
) -> Option<Record> {
    let (component, platform) = joined.get(id).copied()?;
    let release = products
        .get(platform)?
        .cpe
        .as_deref()
        .and_then(release_of_cpe)?;
    // An unfixed component may be named by its id alone (`openssl`).
    let package = match products.get(component).and_then(|p| p.purl.as_deref()) {
        Some(p) => purl(p)?,
        None => Package {
            name: component.to_string(),
            evr: None,
            arch: None,
            module: false,
        },
    };
    // A module stream's package, or a component named as one
    // (`nodejs:18/nodejs`): left out, never matched against every stream.
    if package.module || package.name.contains([':', '/']) {
        return None;
    }
    let status = match kind {
        0 => Status::Fixed(package.evr.clone()?),
        1 => match remedy {
            Some(("no_fix_planned", details, _)) if details.contains("Out of support scope") => {
                Status::EndOfLife
            }
            Some(("no_fix_planned", _, _)) => Status::WontFix,
            _ => Status::Unfixed,
        },
        2 => Status::NotAffected,
        _ => Status::Undetermined,
    };
    // Source RPMs, and the components of what is not fixed (versionless:
    // Red Hat names the source), are keyed by the source's name.
    let by_source =
        package.arch.as_deref() == Some("src") || (package.evr.is_none() && package.arch.is_none());
    let source_package = if by_source {
        format!("{SRPM}{}", package.name)
    } else {
        package.name
    };
    let advisory = match (kind, remedy) {
        (0, Some((_, _, a))) => a.clone(),
        _ => None,
    };
    Some(Record {
        id: cve.to_string(),
        source_package,
        release,
        status,
        vendor_severity: severity.map(str::to_string),
        severity: severity.map_or(pakiti_report::Severity::Unknown, impact),
        description: None,
        advisory,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pakiti_report::Severity;

    fn fixture(name: &str) -> (ReadOne, Vec<Record>) {
        let json = std::fs::read(format!(
            "{}/fixtures/redhat-vex/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut out = Vec::new();
        let one = read_one(&json, |r| out.push(r)).unwrap();
        (one, out)
    }

    fn find<'a>(records: &'a [Record], pkg: &str, release: &str) -> &'a Record {
        records
            .iter()
            .find(|r| r.source_package == pkg && r.release == release)
            .unwrap_or_else(|| panic!("{pkg} {release}: {records:#?}"))
    }

    #[test]
    fn binary_rpms_streams_and_statuses_read_as_the_table_says() {
        let (one, records) = fixture("cve-2026-30001.json");
        let libs = find(&records, "openssl-libs", "rhel:9");
        // The epoch is only in the purl; x86_64 and aarch64 give one record.
        assert_eq!(libs.status, Status::Fixed("1:3.0.7-27.el9".into()));
        assert_eq!(libs.advisory.as_deref(), Some("RHSA-2026:30011"));
        assert_eq!(libs.severity, Severity::Important);
        assert_eq!(
            find(&records, "openssl-perl", "rhel:9").status,
            Status::Fixed("1:3.0.7-27.el9".into())
        );
        let eus = find(&records, "openssl-libs", "rhel-eus:9.2");
        assert_eq!(eus.status, Status::Fixed("1:3.0.7-18.el9_2".into()));
        assert_eq!(eus.advisory.as_deref(), Some("RHSA-2026:30012"));
        let el8 = find(&records, "srpm:openssl", "rhel:8");
        assert_eq!(el8.status, Status::Unfixed);
        assert_eq!(el8.severity, Severity::Moderate, "the product's own impact");
        assert_eq!(
            find(&records, "srpm:openssl", "rhel:7").status,
            Status::EndOfLife
        );
        assert_eq!(
            find(&records, "srpm:openssl", "rhel:7").severity,
            Severity::Important,
            "the document's"
        );
        // The module stream's package and OpenShift are left out.
        assert!(records.iter().all(|r| !r.source_package.contains("nodejs")));
        assert!(records.iter().all(|r| r.release.starts_with("rhel")));
        assert_eq!(one.left_out, 2);
        assert_eq!(records.len(), 6, "{records:#?}");
        assert!(records.iter().all(|r| r.id == "CVE-2026-30001"));
    }

    #[test]
    fn source_rpms_not_affected_and_will_not_fix_read_as_the_table_says() {
        let (_, records) = fixture("cve-2026-30002.json");
        let curl = find(&records, "srpm:curl", "rhel:9");
        assert_eq!(curl.status, Status::Fixed("7.76.1-31.el9".into()));
        assert_eq!(curl.advisory.as_deref(), Some("RHSA-2026:30021"));
        assert_eq!(curl.severity, Severity::Moderate);
        assert_eq!(
            find(&records, "srpm:curl", "rhel:8").status,
            Status::NotAffected
        );
        assert_eq!(
            find(&records, "srpm:libtiff", "rhel:9").status,
            Status::WontFix
        );
        assert_eq!(records.len(), 3);
    }

    #[test]
    fn platforms_are_releases_by_their_cpe() {
        for (cpe, want) in [
            ("cpe:/o:redhat:enterprise_linux:9::baseos", Some("rhel:9")),
            (
                "cpe:/a:redhat:enterprise_linux:9::appstream",
                Some("rhel:9"),
            ),
            ("cpe:/o:redhat:enterprise_linux:8", Some("rhel:8")),
            (
                "cpe:/a:redhat:rhel_eus:9.2::appstream",
                Some("rhel-eus:9.2"),
            ),
            ("cpe:/o:redhat:rhel_e4s:8.6::baseos", Some("rhel-e4s:8.6")),
            ("cpe:/a:redhat:openshift:4.16::el9", None),
            ("cpe:/a:redhat:rhel_eus:9::appstream", None),
            ("cpe:/o:fedoraproject:fedora:40", None),
            ("cpe:/o:redhat:enterprise_linux:", None),
            ("not a cpe", None),
        ] {
            assert_eq!(release_of_cpe(cpe).as_deref(), want, "{cpe}");
        }
        assert_eq!(
            purl("pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1"),
            Some(Package {
                name: "openssl-libs".into(),
                evr: Some("1:3.0.7-27.el9".into()),
                arch: Some("x86_64".into()),
                module: false,
            })
        );
        assert_eq!(
            purl("pkg:rpm/redhat/bash@5.1.8-9.el9?arch=src&epoch=0")
                .unwrap()
                .evr
                .as_deref(),
            Some("5.1.8-9.el9")
        );
        assert!(purl("pkg:rpm/redhat/").is_none());
        assert!(purl("pkg:deb/debian/openssl").is_none());
    }

    #[test]
    fn what_is_not_a_csaf_vex_document_fails() {
        for (json, words) in [
            (
                r#"{"document":{"category":"csaf_security_advisory"}}"#,
                "not a CSAF VEX document",
            ),
            (
                r#"{"document":{"category":"csaf_vex"}}"#,
                "no \"vulnerabilities\"",
            ),
            ("[1,2]", "not a CSAF VEX document"),
            ("{", "not JSON"),
        ] {
            let err = read_one(json.as_bytes(), |_| {}).unwrap_err().to_string();
            assert!(err.contains(words), "{json}: {err}");
        }
    }

    /// A RHEL 9.4 host and an AlmaLinux one: fixes by binary name in rpm's
    /// order (`.el9_4` after `.el9`), unfixed and won't-fix statuses by the
    /// source RPM, the EUS stream only for a host on it.
    #[test]
    fn hosts_are_matched_by_binary_then_by_source_rpm() {
        use crate::{match_host, HostPackages, Index};
        use pakiti_report::Installed;
        use std::collections::HashMap;
        let records: Vec<Record> = ["cve-2026-30001.json", "cve-2026-30002.json"]
            .iter()
            .flat_map(|f| fixture(f).1)
            .collect();
        let pkg = |name: &str, evr: &str, source: &str, source_evr: &str| Installed {
            source_name: source.into(),
            source_version: source_evr.into(),
            ..Installed::new(name, evr, "x86_64")
        };
        let installed = vec![
            pkg(
                "openssl-libs",
                "1:3.0.7-25.el9_3",
                "openssl",
                "1:3.0.7-25.el9_3",
            ),
            // A z-stream build newer than the fix: .el9_4 sorts after .el9.
            pkg("openssl", "1:3.0.7-27.el9_4", "openssl", "1:3.0.7-27.el9_4"),
            pkg("libcurl", "7.76.1-29.el9", "curl", "7.76.1-29.el9"),
            pkg("libtiff", "4.4.0-12.el9", "libtiff", "4.4.0-12.el9"),
        ];
        let candidates: HashMap<(String, String), String> = [(
            ("openssl-libs".to_string(), "x86_64".to_string()),
            "1:3.0.7-27.el9".to_string(),
        )]
        .into();
        let run = |releases: &[&str], installed: &[Installed]| {
            let releases: Vec<String> = releases.iter().map(|r| r.to_string()).collect();
            let mut got: Vec<String> = match_host(
                &HostPackages {
                    scheme: pakiti_versions::Scheme::Rpm,
                    releases: &releases,
                    installed,
                    candidates: &candidates,
                    running_kernel: None,
                },
                Index::new(records.clone()),
            )
            .iter()
            .map(|f| {
                format!(
                    "{} {} {} {} {}",
                    f.package,
                    f.source_package,
                    f.status.as_str(),
                    f.fixed_version.as_deref().unwrap_or("-"),
                    f.fix_available
                )
            })
            .collect();
            got.sort();
            got
        };
        assert_eq!(
            run(&["rhel:9"], &installed),
            [
                "libcurl curl fixed 7.76.1-31.el9 false",
                "libtiff libtiff wont_fix - false",
                "openssl-libs openssl-libs fixed 1:3.0.7-27.el9 true",
            ]
        );
        // On EUS 9.2 (its stream first): the EUS fix decides for openssl-libs,
        // not the main stream's later one.
        let eus = [pkg(
            "openssl-libs",
            "1:3.0.7-16.el9_2",
            "openssl",
            "1:3.0.7-16.el9_2",
        )];
        assert_eq!(
            run(&["rhel-eus:9.2", "rhel:9"], &eus),
            ["openssl-libs openssl-libs fixed 1:3.0.7-18.el9_2 true"]
        );
        // RHEL 8: unfixed through the source RPM; curl not affected.
        let el8: Vec<Installed> = vec![
            pkg(
                "openssl-libs",
                "1:1.1.1k-12.el8_9",
                "openssl",
                "1:1.1.1k-12.el8_9",
            ),
            pkg("curl", "7.61.1-34.el8", "curl", "7.61.1-34.el8"),
        ];
        let releases = vec!["rhel:8".to_string()];
        let found = match_host(
            &HostPackages {
                scheme: pakiti_versions::Scheme::Rpm,
                releases: &releases,
                installed: &el8,
                candidates: &HashMap::new(),
                running_kernel: None,
            },
            Index::new(records.clone()),
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (
                found[0].package.as_str(),
                found[0].source_package.as_str(),
                found[0].status.as_str()
            ),
            ("openssl-libs", "openssl", "unfixed")
        );
    }

    /// Every rpm version decision of these tests, asked of rpm itself (its
    /// Lua `rpm.vercmp`): pakiti's order agrees.
    #[test]
    fn rpm_agrees_with_every_version_decision_here() {
        let pairs = [
            ("1:3.0.7-25.el9_3", "1:3.0.7-27.el9"),
            ("1:3.0.7-27.el9_4", "1:3.0.7-27.el9"),
            ("1:3.0.7-16.el9_2", "1:3.0.7-18.el9_2"),
            ("1:3.0.7-27.el9", "1:3.0.7-18.el9_2"),
            ("7.76.1-29.el9", "7.76.1-31.el9"),
            ("3.0.7-27.el9", "1:3.0.7-27.el9"),
            ("1:3.0.7-27.el9.alma.1", "1:3.0.7-27.el9"),
        ];
        let expr: String = pairs
            .iter()
            .map(|(a, b)| format!("%{{lua:print(rpm.vercmp(\"{a}\",\"{b}\"))}} "))
            .collect();
        let out = std::process::Command::new("rpm")
            .args(["--eval", &expr])
            .output()
            .expect("rpm is installed (tests/run installs it)");
        let text = String::from_utf8_lossy(&out.stdout);
        let rpm: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(rpm.len(), pairs.len(), "{text}");
        for ((a, b), said) in pairs.iter().zip(rpm) {
            let ours = match pakiti_versions::compare(pakiti_versions::Scheme::Rpm, a, b) {
                std::cmp::Ordering::Less => "-1",
                std::cmp::Ordering::Equal => "0",
                std::cmp::Ordering::Greater => "1",
            };
            assert_eq!(ours, said, "{a} vs {b}");
        }
    }
}
