//! Fixes the host cannot install: newer versions of its installed packages
//! that exist only in a channel it is not entitled to (Ubuntu Pro's
//! `esm-infra` and `esm-apps` on a host that is not attached). They are
//! counted apart from the pending updates, which are what the host *can*
//! install. Plain data, checked by [`validate`].

use crate::model::{check_token, InvalidValue};

/// At most this many entries in a report (one per installed package).
pub const MAX_UNENTITLED: usize = 100_000;

/// One installed package with a newer version behind an entitlement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Unentitled {
    pub name: String,
    pub arch: String,
    pub installed_version: String,
    /// The newest version the channel offers beyond what the host can install.
    pub version: String,
    /// The channel that has it: `esm-infra`, `esm-apps`.
    pub channel: String,
    /// Whether it comes from the channel's security pocket.
    pub security: bool,
}

/// Checks every entry; the first problem found is returned.
pub fn validate(entries: &[Unentitled]) -> Result<(), InvalidValue> {
    if entries.len() > MAX_UNENTITLED {
        return Err(InvalidValue::Malformed {
            field: "unentitled",
            value: format!("{} entries", entries.len()),
            reason: "more than a report may list",
        });
    }
    let mut seen = std::collections::HashSet::new();
    for u in entries {
        check_token("unentitled name", &u.name)?;
        check_token("unentitled arch", &u.arch)?;
        check_token("unentitled installed_version", &u.installed_version)?;
        check_token("unentitled version", &u.version)?;
        check_token("unentitled channel", &u.channel)?;
        if !seen.insert((u.name.as_str(), u.arch.as_str())) {
            return Err(InvalidValue::Malformed {
                field: "unentitled",
                value: format!("{}:{}", u.name, u.arch),
                reason: "the package is listed twice",
            });
        }
    }
    Ok(())
}

/// The counts the fleet's pages and metrics show: all, and the security ones.
pub fn counts(entries: &[Unentitled]) -> (u32, u32) {
    let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    (
        n(entries.len()),
        n(entries.iter().filter(|u| u.security).count()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> Unentitled {
        Unentitled {
            name: name.into(),
            arch: "amd64".into(),
            installed_version: "1.0-1".into(),
            version: "1.0-1ubuntu0.1+esm1".into(),
            channel: "esm-infra".into(),
            security: true,
        }
    }

    #[test]
    fn odd_names_twins_and_endless_lists_are_refused() {
        let ok = [entry("libssl3"), entry("curl")];
        assert!(validate(&ok).is_ok());
        assert_eq!(counts(&ok), (2, 2));
        for bad in ["", "two words", "x\u{7}"] {
            assert!(validate(&[entry(bad)]).is_err(), "{bad:?}");
        }
        let mut bad_channel = entry("curl");
        bad_channel.channel = "esm infra".into();
        assert!(validate(&[bad_channel]).is_err());
        let err = validate(&[entry("curl"), entry("curl")]).unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
        let many = vec![entry("a"); MAX_UNENTITLED + 1];
        assert!(validate(&many).is_err());
        let mut plain = entry("curl");
        plain.security = false;
        assert_eq!(counts(&[plain, entry("libssl3")]), (2, 1));
    }
}
