//! CSAF VEX documents, one per CVE: Red Hat's
//! (`security.access.redhat.com/data/csaf/v2/vex/`) and SUSE's
//! (`ftp.suse.com/pub/projects/security/csaf-vex/`): what every product
//! stream says of the CVE, fixed, affected with no fix yet, not to be fixed,
//! or not affected.
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
//! Releases by the platform's CPE (`platform.rs`): `enterprise_linux:9` is
//! `rhel:9`, the extended streams `rhel_eus:9.2` (and `rhel_aus`, `rhel_e4s`,
//! `rhel_tus`) `rhel-eus:9.2` and so on; SUSE's `sles:15:sp6` is `sles:15.6`,
//! LTSS its own channel `sles-ltss:15.3`, `opensuse:leap:15.6`
//! `opensuse-leap:15.6`; other products (OpenShift, SUSE Manager, …) are not
//! hosts' releases and are left out. The advisory: Red Hat's errata URL,
//! SUSE's id in the remediation's details. A binary package (`arch=x86_64`,
//! `noarch`: every architecture the same) is keyed by its name; a source
//! package (`arch=src`, and the components of unfixed statuses, which name
//! the source) by `srpm:NAME`, which the matcher compares with each binary
//! package's source RPM. A module stream's packages (`rpmmod=nodejs:18:…`,
//! or a component named `nodejs:18/nodejs`) are keyed under their stream
//! (`nodejs:18/nodejs`): the matcher compares them with a host's package of
//! that stream alone (its MODULARITYLABEL), never with another stream's or a
//! package outside modules.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::osv::impact;
use crate::{FeedError, Record, Status};

mod platform;
pub use platform::release_of_cpe;

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
    /// The module stream (`nodejs:18`) of a module's package (`rpmmod`).
    module: Option<String>,
}

/// A purl component with its `%XX` escapes decoded (`module%2Bel8` is
/// `module+el8`); `None` for a broken escape or what is not UTF-8.
fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn purl(p: &str) -> Option<Package> {
    let rest = p.strip_prefix("pkg:rpm/")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (_namespace, nv) = path.split_once('/')?;
    let (name, version) = match nv.split_once('@') {
        Some((n, v)) => (unescape(n)?, Some(unescape(v)?)),
        None => (unescape(nv)?, None),
    };
    if name.is_empty() {
        return None;
    }
    let mut arch = None;
    let mut epoch = None;
    let mut module = None;
    for kv in query.split('&').filter(|s| !s.is_empty()) {
        match kv.split_once('=') {
            Some(("arch", a)) => arch = Some(unescape(a)?),
            Some(("epoch", e)) => epoch = Some(unescape(e)?),
            Some(("rpmmod", m)) => module = crate::matcher::module_stream(&unescape(m)?),
            _ => {}
        }
    }
    let evr = version.as_deref().map(|v| match epoch.as_deref() {
        Some(e) if e != "0" => format!("{e}:{v}"),
        _ => v.to_string(),
    });
    Some(Package {
        name,
        evr,
        arch,
        module,
    })
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
            let advisory = platform::advisory(r.get("url").and_then(Value::as_str), details);
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
    // An unfixed component may be named by its id alone (`openssl`, or
    // a module stream's `nodejs:18/nodejs`).
    let mut package = match products.get(component).and_then(|p| p.purl.as_deref()) {
        Some(p) => purl(p)?,
        None => Package {
            name: component.to_string(),
            evr: None,
            arch: None,
            module: None,
        },
    };
    if let Some((stream, name)) = package.name.clone().rsplit_once('/') {
        package.module = Some(crate::matcher::module_stream(stream)?);
        package.name = name.to_string();
    }
    if package.name.is_empty() || package.name.contains([':', '/']) {
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
    // A module stream's package only under its stream (`nodejs:18/nodejs`).
    let name = match &package.module {
        Some(stream) => format!("{stream}/{}", package.name),
        None => package.name,
    };
    let source_package = if by_source {
        format!("{SRPM}{name}")
    } else {
        name
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
mod tests;
