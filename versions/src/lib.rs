//! Package version orders, exactly as the package managers compare, and a
//! byte key for each that sorts the same way, so a database can compare
//! ranges (`key < key_of(bound)`) without knowing any order.
//!
//! A key exists where the order is a total order over the versions the key
//! accepts: dpkg's and apk's for every version they accept, rpm's for every
//! label, pacman's for versions with a release and single separators (its
//! `vercmp` is not transitive otherwise: `1a. > 1a.b > 1a1 > 1a.`). Where
//! [`sort_key`] answers `None`, compare with [`compare`].
//!
//! Pure functions; no I/O.

pub mod alpm;
pub mod apk;
pub mod dpkg;
mod key;
pub mod rpm;

use std::cmp::Ordering;

/// Whose version order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Debian and Ubuntu: `dpkg --compare-versions`.
    Dpkg,
    /// RPM distributions (dnf, yum, zypper): `rpm.vercmp` on `[epoch:]version[-release]`.
    Rpm,
    /// Alpine: `apk version -t`.
    Apk,
    /// Arch: pacman's `vercmp` (`alpm_pkg_vercmp`).
    Alpm,
}

impl Scheme {
    pub const ALL: [Scheme; 4] = [Scheme::Dpkg, Scheme::Rpm, Scheme::Apk, Scheme::Alpm];

    /// The name stored and shown: `dpkg`, `rpm`, `apk`, `alpm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Dpkg => "dpkg",
            Scheme::Rpm => "rpm",
            Scheme::Apk => "apk",
            Scheme::Alpm => "alpm",
        }
    }

    pub fn parse(name: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Compares two versions in `scheme`'s order.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Ordering {
    match scheme {
        Scheme::Dpkg => dpkg::compare_versions(a, b),
        Scheme::Rpm => rpm::compare_evr(a, b),
        Scheme::Apk => apk::compare(a, b),
        Scheme::Alpm => alpm::vercmp(a, b),
    }
}

/// A byte string that sorts as `version` does in `scheme`'s order:
/// `compare(s, a, b) == sort_key(s, a).cmp(&sort_key(s, b))` whenever both
/// keys exist. `None` where `scheme` gives `version` no place in a total
/// order (see the crate documentation).
pub fn sort_key(scheme: Scheme, version: &str) -> Option<Vec<u8>> {
    match scheme {
        Scheme::Dpkg => dpkg::sort_key(version),
        Scheme::Rpm => Some(rpm::sort_key(version)),
        Scheme::Apk => Some(apk::sort_key(version)),
        Scheme::Alpm => alpm::sort_key(version),
    }
}

/// A key that every version strictly below `bound` sorts under, and every
/// other version (with a key) sorts at or above: `key < lower_bound_key`
/// is `version < bound`. Differs from [`sort_key`] only for pacman, where a
/// bound without a release (`1.5`) is below every `1.5-N`.
pub fn lower_bound_key(scheme: Scheme, bound: &str) -> Option<Vec<u8>> {
    match scheme {
        Scheme::Alpm => alpm::lower_bound_key(bound),
        _ => sort_key(scheme, bound),
    }
}
