//! An exception: an operator's decision on a vulnerability, within a scope,
//! until a date. Excepted findings stay visible, marked; they leave the open
//! counts. An exception stops applying by itself: when its `expires` day has
//! passed (UTC), or, with a version ceiling, once the host's package reaches
//! it (the package changed: the decision was about the version below).

use std::time::SystemTime;

use pakiti_versions::Scheme;

use crate::Date;

/// What was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    AcceptedRisk,
    FalsePositive,
    Mitigated,
}

impl State {
    pub const ALL: [State; 3] = [State::AcceptedRisk, State::FalsePositive, State::Mitigated];

    pub fn as_str(self) -> &'static str {
        match self {
            State::AcceptedRisk => "accepted_risk",
            State::FalsePositive => "false_positive",
            State::Mitigated => "mitigated",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Which findings of the vulnerability an exception covers: every
/// condition given must hold (none given: every host).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scope {
    pub site: Option<String>,
    pub host: Option<String>,
    /// A release as the aggregator names them: `debian:12`, `rhel:9`.
    pub os: Option<String>,
    /// A binary package name (or its source package's).
    pub package: Option<String>,
    /// With `package`: only while the installed version is below this one,
    /// in the host's own version order.
    pub below_version: Option<String>,
}

impl Scope {
    /// How the scope reads, for pages and logs: `site SiteA, package openssl below 3.0.15`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.site {
            parts.push(format!("site {s}"));
        }
        if let Some(h) = &self.host {
            parts.push(format!("host {h}"));
        }
        if let Some(o) = &self.os {
            parts.push(format!("os {o}"));
        }
        match (&self.package, &self.below_version) {
            (Some(p), Some(v)) => parts.push(format!("package {p} below {v}")),
            (Some(p), None) => parts.push(format!("package {p}")),
            _ => {}
        }
        if parts.is_empty() {
            "all hosts".into()
        } else {
            parts.join(", ")
        }
    }
}

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Exception {
    /// A CVE or an advisory id, as findings name it.
    pub vulnerability: String,
    pub state: State,
    pub reason: String,
    pub owner: String,
    /// The last day it holds (UTC); required for an accepted risk.
    pub expires: Option<Date>,
    pub scope: Scope,
}

/// One finding, as an exception sees it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub vulnerability: &'a str,
    pub host: &'a str,
    pub site: Option<&'a str>,
    /// The host's releases (its own first).
    pub releases: &'a [String],
    pub package: &'a str,
    pub source_package: &'a str,
    pub installed_version: &'a str,
    pub scheme: Option<Scheme>,
}

impl Exception {
    /// Whether it still holds at `now` (not expired).
    pub fn active(&self, now: SystemTime) -> bool {
        self.expires.is_none_or(|d| now < d.end())
    }

    /// Whether it covers this finding at `now`.
    pub fn covers(&self, t: &Target<'_>, now: SystemTime) -> bool {
        let s = &self.scope;
        self.vulnerability == t.vulnerability
            && self.active(now)
            && s.site.as_deref().is_none_or(|x| t.site == Some(x))
            && s.host.as_deref().is_none_or(|x| x == t.host)
            && s.os
                .as_deref()
                .is_none_or(|x| t.releases.iter().any(|r| r == x))
            && s.package
                .as_deref()
                .is_none_or(|x| x == t.package || x == t.source_package)
            && s.below_version.as_deref().is_none_or(|ceiling| {
                // Without the host's version order no version is known to
                // be below: the exception does not apply.
                t.scheme.is_some_and(|scheme| {
                    pakiti_versions::compare(scheme, t.installed_version, ceiling).is_lt()
                })
            })
    }

    /// When it ends (its `expires` day's end), if ever.
    pub fn ends(&self) -> Option<SystemTime> {
        self.expires.map(Date::end)
    }
}

/// The exception that covers a finding at `now`, if any: of several, the
/// most specific scope (most conditions), then the one ending last.
pub fn covering<'a>(
    exceptions: &'a [Exception],
    t: &Target<'_>,
    now: SystemTime,
) -> Option<&'a Exception> {
    exceptions
        .iter()
        .filter(|e| e.covers(t, now))
        .max_by_key(|e| {
            (
                specificity(&e.scope),
                e.expires.map_or(i64::MAX, Date::days_since_epoch),
            )
        })
}

fn specificity(s: &Scope) -> usize {
    [
        s.site.is_some(),
        s.host.is_some(),
        s.os.is_some(),
        s.package.is_some(),
        s.below_version.is_some(),
    ]
    .into_iter()
    .filter(|b| *b)
    .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exception(scope: Scope, expires: Option<&str>) -> Exception {
        Exception {
            vulnerability: "CVE-2024-3094".into(),
            state: State::AcceptedRisk,
            reason: "not reachable".into(),
            owner: "alice".into(),
            expires: expires.map(|d| Date::parse(d).unwrap()),
            scope,
        }
    }

    fn target<'a>(releases: &'a [String]) -> Target<'a> {
        Target {
            vulnerability: "CVE-2024-3094",
            host: "web1",
            site: Some("SiteA"),
            releases,
            package: "liblzma5",
            source_package: "xz-utils",
            installed_version: "5.6.0-0.2",
            scheme: Some(Scheme::Dpkg),
        }
    }

    fn day(d: &str) -> SystemTime {
        Date::parse(d).unwrap().start()
    }

    #[test]
    fn holds_through_its_last_day_then_lapses() {
        let r = vec!["debian:12".to_string()];
        let e = exception(Scope::default(), Some("2027-01-31"));
        assert!(e.covers(
            &target(&r),
            day("2027-01-31") + std::time::Duration::from_secs(86_399)
        ));
        assert!(!e.covers(&target(&r), day("2027-02-01")));
        assert!(exception(Scope::default(), None).covers(&target(&r), day("2099-01-01")));
    }

    #[test]
    fn every_scope_condition_must_hold() {
        let r = vec!["debian:12".to_string()];
        let now = day("2026-12-01");
        let t = target(&r);
        let covers = |scope: Scope| exception(scope, Some("2027-01-31")).covers(&t, now);
        assert!(covers(Scope {
            site: Some("SiteA".into()),
            ..Scope::default()
        }));
        assert!(!covers(Scope {
            site: Some("SiteB".into()),
            ..Scope::default()
        }));
        assert!(!covers(Scope {
            site: Some("sitea".into()),
            ..Scope::default()
        }));
        assert!(covers(Scope {
            host: Some("web1".into()),
            ..Scope::default()
        }));
        assert!(!covers(Scope {
            host: Some("web2".into()),
            site: Some("SiteA".into()),
            ..Scope::default()
        }));
        assert!(covers(Scope {
            os: Some("debian:12".into()),
            ..Scope::default()
        }));
        assert!(!covers(Scope {
            os: Some("debian:11".into()),
            ..Scope::default()
        }));
        assert!(covers(Scope {
            package: Some("liblzma5".into()),
            ..Scope::default()
        }));
        assert!(covers(Scope {
            package: Some("xz-utils".into()),
            ..Scope::default()
        }));
        assert!(!covers(Scope {
            package: Some("xz".into()),
            ..Scope::default()
        }));
        let other = Target {
            vulnerability: "CVE-2024-0001",
            ..t
        };
        assert!(!exception(Scope::default(), None).covers(&other, now));
    }

    #[test]
    fn a_version_ceiling_is_passed_in_the_hosts_order() {
        let r = vec!["debian:12".to_string()];
        let now = day("2026-12-01");
        let below = |v: &str| Scope {
            package: Some("liblzma5".into()),
            below_version: Some(v.into()),
            ..Scope::default()
        };
        let t = target(&r);
        // dpkg: 5.6.0-0.2 < 5.6.0-0.2+b1 < 5.6.1; and ~ sorts before everything.
        assert!(exception(below("5.6.0-0.2+b1"), None).covers(&t, now));
        assert!(!exception(below("5.6.0-0.2"), None).covers(&t, now));
        assert!(!exception(below("5.6.0~rc1"), None).covers(&t, now));
        let rpm = Target {
            scheme: Some(Scheme::Rpm),
            installed_version: "1:5.2.5-8.el9",
            ..t
        };
        assert!(exception(below("1:5.2.5-8.el9_4"), None).covers(&rpm, now));
        assert!(
            !exception(below("5.9"), None).covers(&rpm, now),
            "the epoch wins in rpm's order"
        );
        let unknown = Target { scheme: None, ..t };
        assert!(!exception(below("9"), None).covers(&unknown, now));
    }

    #[test]
    fn the_most_specific_exception_wins() {
        let r = vec!["debian:12".to_string()];
        let now = day("2026-12-01");
        let all = Exception {
            state: State::Mitigated,
            ..exception(Scope::default(), None)
        };
        let site = exception(
            Scope {
                site: Some("SiteA".into()),
                ..Scope::default()
            },
            Some("2027-01-31"),
        );
        let list = [all.clone(), site.clone()];
        assert_eq!(covering(&list, &target(&r), now), Some(&site));
        assert_eq!(covering(&list, &target(&r), day("2027-02-01")), Some(&all));
        assert_eq!(covering(&[], &target(&r), now), None);
    }
}
