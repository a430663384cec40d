//! The decisions file (`[decisions] file`, TOML, under version control):
//! `[[exception]]` and `[[tag]]` entries. Read whole and checked entry by
//! entry; any error names the entry (its number and vulnerability) and the
//! whole file is refused, so a typo never silently drops a decision.
//!
//! ```toml
//! [[exception]]
//! vulnerability = "CVE-2024-1234"
//! state = "accepted_risk"          # accepted_risk | false_positive | mitigated
//! reason = "service not reachable from outside"
//! owner = "alice@example.org"
//! expires = "2027-01-31"           # required for accepted_risk; holds through that day (UTC)
//! site = "SiteA"                   # optional scope: site, host, os, package, below_version
//!
//! [[tag]]
//! vulnerability = "CVE-2024-1234"
//! name = "incident-2026-11"
//! reason = "…"
//! author = "bob@example.org"       # optional
//! ```

use serde::Deserialize;

use crate::{Date, Exception, Scope, State};

/// An operator's tag on a vulnerability.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag {
    pub vulnerability: String,
    pub name: String,
    pub reason: String,
    pub author: Option<String>,
}

/// Everything a decisions file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    pub exceptions: Vec<Exception>,
    pub tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    exception: Vec<toml::Value>,
    #[serde(default)]
    tag: Vec<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawException {
    vulnerability: String,
    state: String,
    reason: String,
    owner: String,
    #[serde(default)]
    expires: Option<toml::Value>,
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    below_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTag {
    vulnerability: String,
    name: String,
    reason: String,
    #[serde(default)]
    author: Option<String>,
}

/// The longest text a decision keeps in one field.
pub const MAX_TEXT: usize = 1000;

/// Reads a decisions file.
pub fn parse(text: &str) -> Result<Decisions, String> {
    let raw: RawFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Decisions::default();
    for (i, v) in raw.exception.into_iter().enumerate() {
        let name = entry_name("exception", i, &v);
        let e: RawException = v
            .try_into()
            .map_err(|e: toml::de::Error| format!("{name}: {}", e.message()))?;
        out.exceptions
            .push(exception(e).map_err(|why| format!("{name}: {why}"))?);
    }
    for (i, v) in raw.tag.into_iter().enumerate() {
        let name = entry_name("tag", i, &v);
        let t: RawTag = v
            .try_into()
            .map_err(|e: toml::de::Error| format!("{name}: {}", e.message()))?;
        out.tags
            .push(tag(t).map_err(|why| format!("{name}: {why}"))?);
    }
    for (i, e) in out.exceptions.iter().enumerate() {
        if out.exceptions[..i]
            .iter()
            .any(|o| o.vulnerability == e.vulnerability && o.scope == e.scope)
        {
            return Err(format!(
                "exception {} ({}): another exception has the same vulnerability and scope ({})",
                i + 1,
                e.vulnerability,
                e.scope.describe()
            ));
        }
    }
    for (i, t) in out.tags.iter().enumerate() {
        if out.tags[..i]
            .iter()
            .any(|o| o.vulnerability == t.vulnerability && o.name == t.name)
        {
            return Err(format!(
                "tag {} ({}): tagged {:?} twice",
                i + 1,
                t.vulnerability,
                t.name
            ));
        }
    }
    Ok(out)
}

/// One exception from its fields (the file's keys) as JSON, checked as the
/// file's entries are (the web UI records them this way).
pub fn exception_from_json(v: &serde_json::Value) -> Result<Exception, String> {
    let t = toml::Value::try_from(without_nulls(v)).map_err(|e| e.to_string())?;
    let e: RawException = t
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_string())?;
    exception(e)
}

/// One tag from its fields as JSON, checked as the file's are.
pub fn tag_from_json(v: &serde_json::Value) -> Result<Tag, String> {
    let t = toml::Value::try_from(without_nulls(v)).map_err(|e| e.to_string())?;
    let raw: RawTag = t
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_string())?;
    tag(raw)
}

fn without_nulls(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// An exception's fields as JSON, in the file's keys (what the audit log
/// keeps of it).
pub fn exception_json(e: &Exception) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("vulnerability".into(), e.vulnerability.clone().into());
    m.insert("state".into(), e.state.as_str().into());
    m.insert("reason".into(), e.reason.clone().into());
    m.insert("owner".into(), e.owner.clone().into());
    if let Some(d) = e.expires {
        m.insert("expires".into(), d.to_string().into());
    }
    for (k, v) in [
        ("site", &e.scope.site),
        ("host", &e.scope.host),
        ("os", &e.scope.os),
        ("package", &e.scope.package),
        ("below_version", &e.scope.below_version),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), v.clone().into());
        }
    }
    serde_json::Value::Object(m)
}

/// A tag's fields as JSON, in the file's keys.
pub fn tag_json(t: &Tag) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("vulnerability".into(), t.vulnerability.clone().into());
    m.insert("name".into(), t.name.clone().into());
    m.insert("reason".into(), t.reason.clone().into());
    if let Some(a) = &t.author {
        m.insert("author".into(), a.clone().into());
    }
    serde_json::Value::Object(m)
}

fn entry_name(kind: &str, i: usize, v: &toml::Value) -> String {
    match v.get("vulnerability").and_then(toml::Value::as_str) {
        Some(id) => format!("{kind} {} ({id})", i + 1),
        None => format!("{kind} {}", i + 1),
    }
}

/// A vulnerability id: a CVE or an advisory id, printable, no spaces.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 100 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("vulnerability {id:?} is not a vulnerability id"));
    }
    Ok(())
}

/// A required text: something, not too long.
pub fn check_text(what: &str, s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if s.len() > MAX_TEXT || s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(format!(
            "{what} is longer than {MAX_TEXT} bytes or has control characters"
        ));
    }
    Ok(())
}

/// A tag name: `incident-2026-11`, `critical-for-us`, `team:web`.
pub fn check_tag_name(s: &str) -> Result<(), String> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        return Err(format!(
            "tag name {s:?}: use 1 to 64 letters, digits, '-', '_', '.', ':'"
        ));
    }
    Ok(())
}

fn optional(what: &str, s: Option<String>) -> Result<Option<String>, String> {
    match s {
        Some(s) => {
            check_text(what, &s)?;
            Ok(Some(s))
        }
        None => Ok(None),
    }
}

fn exception(e: RawException) -> Result<Exception, String> {
    check_id(&e.vulnerability)?;
    let Some(state) = State::parse(&e.state) else {
        return Err(format!(
            "state {:?}: use accepted_risk, false_positive or mitigated",
            e.state
        ));
    };
    check_text("reason", &e.reason)?;
    check_text("owner", &e.owner)?;
    let expires = match e.expires {
        None => None,
        // A TOML date (`expires = 2027-01-31`) or a string.
        Some(toml::Value::Datetime(d)) if d.time.is_none() && d.offset.is_none() => {
            Some(Date::parse(&d.to_string())?)
        }
        Some(toml::Value::String(s)) => Some(Date::parse(&s).map_err(|w| format!("expires: {w}"))?),
        Some(other) => return Err(format!("expires {other}: give a day, YYYY-MM-DD")),
    };
    if state == State::AcceptedRisk && expires.is_none() {
        return Err("an accepted risk needs `expires` (the last day it holds)".into());
    }
    let scope = Scope {
        site: optional("site", e.site)?,
        host: optional("host", e.host)?,
        os: optional("os", e.os)?,
        package: optional("package", e.package)?,
        below_version: optional("below_version", e.below_version)?,
    };
    if scope.below_version.is_some() && scope.package.is_none() {
        return Err("below_version needs `package` (the version of which package?)".into());
    }
    if let Some(os) = &scope.os {
        if !os.contains(':') {
            return Err(format!(
                "os {os:?}: name a release as the aggregator does, e.g. \"debian:12\", \"rhel:9\""
            ));
        }
    }
    Ok(Exception {
        vulnerability: e.vulnerability,
        state,
        reason: e.reason,
        owner: e.owner,
        expires,
        scope,
    })
}

fn tag(t: RawTag) -> Result<Tag, String> {
    check_id(&t.vulnerability)?;
    check_tag_name(&t.name)?;
    check_text("reason", &t.reason)?;
    Ok(Tag {
        vulnerability: t.vulnerability,
        name: t.name,
        reason: t.reason,
        author: optional("author", t.author)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[exception]]
vulnerability = "CVE-2024-3094"
state = "accepted_risk"
reason = "service not reachable from outside"
owner = "alice@example.org"
expires = "2027-01-31"
site = "SiteA"

[[exception]]
vulnerability = "CVE-2023-4863"
state = "false_positive"
reason = "no WebP decoder is used"
owner = "bob"
package = "libwebp7"
below_version = "1.2.4-0.2+deb12u1"

[[exception]]
vulnerability = "CVE-2023-4863"
state = "mitigated"
reason = "seccomp"
owner = "carol"
expires = 2027-03-01

[[tag]]
vulnerability = "CVE-2024-3094"
name = "incident-2026-11"
reason = "the supply-chain incident"
author = "alice"
"#;

    #[test]
    fn reads_the_documented_form() {
        let d = parse(GOOD).unwrap();
        assert_eq!(d.exceptions.len(), 3);
        assert_eq!(d.exceptions[0].state, State::AcceptedRisk);
        assert_eq!(d.exceptions[0].expires.unwrap().to_string(), "2027-01-31");
        assert_eq!(d.exceptions[0].scope.describe(), "site SiteA");
        assert_eq!(
            d.exceptions[1].scope.describe(),
            "package libwebp7 below 1.2.4-0.2+deb12u1"
        );
        assert_eq!(d.exceptions[2].expires.unwrap().to_string(), "2027-03-01");
        assert_eq!(
            d.tags,
            vec![Tag {
                vulnerability: "CVE-2024-3094".into(),
                name: "incident-2026-11".into(),
                reason: "the supply-chain incident".into(),
                author: Some("alice".into())
            }]
        );
        assert_eq!(parse("").unwrap(), Decisions::default());
    }

    #[test]
    fn an_entry_as_json_reads_back_the_same_and_is_checked_alike() {
        let d = parse(GOOD).unwrap();
        for e in &d.exceptions {
            assert_eq!(&exception_from_json(&exception_json(e)).unwrap(), e);
        }
        assert_eq!(tag_from_json(&tag_json(&d.tags[0])).unwrap(), d.tags[0]);
        let mut bad = exception_json(&d.exceptions[0]);
        bad["expires"] = serde_json::Value::Null;
        assert!(exception_from_json(&bad)
            .unwrap_err()
            .contains("needs `expires`"));
        bad["expires"] = "2027-02-30".into();
        assert!(exception_from_json(&bad)
            .unwrap_err()
            .contains("not a date"));
        bad["sitee"] = "x".into();
        assert!(exception_from_json(&bad)
            .unwrap_err()
            .contains("unknown field"));
    }

    #[test]
    fn every_error_names_its_entry() {
        for (from, to, says) in [
            ("expires = \"2027-01-31\"\n", "", "exception 1 (CVE-2024-3094): an accepted risk needs `expires`"),
            ("state = \"accepted_risk\"", "state = \"accepted\"", "exception 1 (CVE-2024-3094): state \"accepted\""),
            ("site = \"SiteA\"", "sitee = \"SiteA\"", "exception 1 (CVE-2024-3094): unknown field `sitee`"),
            ("expires = \"2027-01-31\"", "expires = \"2027-02-30\"", "exception 1 (CVE-2024-3094): expires: \"2027-02-30\" is not a date"),
            ("owner = \"bob\"", "owner = \" \"", "exception 2 (CVE-2023-4863): owner is empty"),
            ("package = \"libwebp7\"\n", "", "exception 2 (CVE-2023-4863): below_version needs `package`"),
            ("owner = \"carol\"\n", "", "exception 3 (CVE-2023-4863): missing field `owner`"),
            ("name = \"incident-2026-11\"", "name = \"incident 2026\"", "tag 1 (CVE-2024-3094): tag name \"incident 2026\""),
            ("site = \"SiteA\"", "os = \"debian\"", "exception 1 (CVE-2024-3094): os \"debian\""),
            ("vulnerability = \"CVE-2023-4863\"\nstate = \"mitigated\"", "vulnerability = \"CVE-2023-4863\"\nstate = \"mitigated\"\npackage = \"libwebp7\"\nbelow_version = \"1.2.4-0.2+deb12u1\"", "exception 3 (CVE-2023-4863): another exception has the same vulnerability and scope"),
            ("[[tag]]", "[[tags]]", "unknown field `tags`"),
        ] {
            assert!(GOOD.contains(from), "{from}");
            let e = parse(&GOOD.replacen(from, to, 1)).unwrap_err();
            assert!(e.contains(says), "{says}\n got: {e}");
        }
    }
}
