//! An inventory sent as what changed (`installed_delta`): applied to the
//! host's stored package ids, checked against the digest and count the
//! report claims, and read as the version changes it makes. Pure: both
//! stores find the ids, this says what they make.
//!
//! A delta that does not apply (an entry it removes is not stored, one it
//! adds already is, or the result is not the inventory the report names) is
//! refused as a whole: the host then sends its whole inventory.

use std::collections::HashSet;
use std::time::SystemTime;

use pakiti_report::{Installed, InstalledDelta, Report};

use crate::inventory::{changes, IdSet, Identity, InstalledChange};

/// A delta applied: the host's package ids before and after, and the
/// version changes for the history.
#[derive(Debug)]
pub(crate) struct Applied {
    pub old_ids: Vec<i64>,
    pub new_ids: Vec<i64>,
    pub changes: Vec<InstalledChange>,
}

fn entry(p: &Installed) -> String {
    format!("{}:{} {}", p.name, p.arch, p.version)
}

/// The ids a delta leaves of `old_ids`: those of `removed` (the package ids
/// of `delta.removed`, in its order) go, those of `added` come.
pub(crate) fn apply(
    delta: &InstalledDelta,
    old_ids: &[i64],
    removed: &[i64],
    added: &[i64],
) -> Result<Vec<i64>, String> {
    let mut set: IdSet = old_ids.iter().copied().collect();
    for (p, id) in delta.removed.iter().zip(removed) {
        if !set.remove(id) {
            return Err(format!("it removes {}, which is not installed", entry(p)));
        }
    }
    for (p, id) in delta.added.iter().zip(added) {
        if !set.insert(*id) {
            return Err(format!("it adds {}, which is installed", entry(p)));
        }
    }
    let mut ids: Vec<i64> = set.into_iter().collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Checks the inventory [`apply`] left (`new_ids`, of which `added` came
/// with the delta) against the count and digest the report claims, and
/// says which versions changed: those of the (name, arch)s the delta
/// touches, with every version of them the host keeps (several kernels).
pub(crate) fn check<'a>(
    report: &Report,
    delta: &InstalledDelta,
    new_ids: &[i64],
    added: &[i64],
    identity: impl Fn(i64) -> Option<&'a Identity>,
    at: SystemTime,
) -> Result<Vec<InstalledChange>, String> {
    let inv = &report.inventory;
    if new_ids.len() as u64 != inv.installed_packages {
        return Err(format!(
            "it leaves {} packages, not the {} of installed_packages",
            new_ids.len(),
            inv.installed_packages
        ));
    }
    let touched: HashSet<(&str, &str)> = delta
        .removed
        .iter()
        .chain(&delta.added)
        .map(|p| (p.name.as_str(), p.arch.as_str()))
        .collect();
    let came: IdSet = added.iter().copied().collect();
    let mut fields = Vec::with_capacity(new_ids.len());
    let mut kept: Vec<&Identity> = Vec::new();
    for id in new_ids {
        let i = identity(*id).ok_or_else(|| format!("package id {id} is not known"))?;
        fields.push([
            i.0.as_str(),
            i.1.as_str(),
            i.2.as_str(),
            i.3.as_str(),
            i.4.as_str(),
            i.5.as_str(),
        ]);
        if !came.contains(id) && touched.contains(&(i.0.as_str(), i.2.as_str())) {
            kept.push(i);
        }
    }
    let digest = pakiti_report::digest_of_fields(fields);
    if inv.installed_digest.as_deref() != Some(digest.as_str()) {
        return Err(format!(
            "it makes the inventory of digest {digest}, not the {} the report names",
            inv.installed_digest.as_deref().unwrap_or("none")
        ));
    }
    let triple = |i: &Identity| (i.0.clone(), i.2.clone(), i.1.clone());
    let old: Vec<(String, String, String)> = delta
        .removed
        .iter()
        .map(|p| (p.name.clone(), p.arch.clone(), p.version.clone()))
        .chain(kept.iter().map(|i| triple(i)))
        .collect();
    let new: Vec<Installed> = delta
        .added
        .iter()
        .cloned()
        .chain(kept.iter().map(|i| Installed::new(&i.0, &i.1, &i.2)))
        .collect();
    Ok(changes(&old, &new, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pakiti_versions::Scheme;

    fn identity(p: &Installed) -> Identity {
        (
            p.name.clone(),
            p.version.clone(),
            p.arch.clone(),
            p.source_name.clone(),
            p.source_version.clone(),
            p.module.clone().unwrap_or_default(),
            Scheme::Dpkg,
        )
    }

    /// A store of one host: package ids are positions in `known`.
    struct Fixture {
        known: Vec<Installed>,
    }

    impl Fixture {
        fn id(&mut self, p: &Installed) -> i64 {
            match self.known.iter().position(|k| k == p) {
                Some(i) => i as i64,
                None => {
                    self.known.push(p.clone());
                    self.known.len() as i64 - 1
                }
            }
        }

        /// What a store does with a delta report over the stored `old`.
        fn run(&mut self, old: &[Installed], report: &Report) -> Result<Applied, String> {
            let delta = report.inventory.installed_delta.as_ref().unwrap();
            let old_ids: Vec<i64> = old.iter().map(|p| self.id(p)).collect();
            let removed: Vec<i64> = delta.removed.iter().map(|p| self.id(p)).collect();
            let added: Vec<i64> = delta.added.iter().map(|p| self.id(p)).collect();
            let new_ids = apply(delta, &old_ids, &removed, &added)?;
            let ids: Vec<Identity> = self.known.iter().map(identity).collect();
            let changes = check(
                report,
                delta,
                &new_ids,
                &added,
                |id| ids.get(id as usize),
                SystemTime::UNIX_EPOCH,
            )?;
            Ok(Applied {
                old_ids,
                new_ids,
                changes,
            })
        }
    }

    fn report(old: &[Installed], new: &[Installed]) -> Report {
        let mut r = pakiti_report::testing::report("h.example.org", None, None, vec![]);
        let base = pakiti_report::installed_digest(old);
        r.inventory.installed = None;
        r.inventory.installed_packages = new.len() as u64;
        r.inventory.installed_digest = Some(pakiti_report::installed_digest(new));
        r.inventory.installed_delta = Some(pakiti_report::installed_delta(&base, old, new));
        r
    }

    fn old() -> Vec<Installed> {
        vec![
            Installed::new("bash", "5.2.15-2", "amd64"),
            Installed::new("linux-image-amd64", "6.1.76-1", "amd64"),
            Installed::new("linux-image", "6.1.76-1", "amd64"),
            Installed::new("xz-utils", "5.4.1-0.2", "amd64"),
        ]
    }

    #[test]
    fn a_delta_makes_the_inventory_it_names_and_its_changes() {
        let old = old();
        let mut new = old.clone();
        new[3] = Installed::new("xz-utils", "5.4.1-1", "amd64");
        new.push(Installed::new("linux-image", "6.1.90-1", "amd64"));
        new.push(Installed::new("curl", "7.88.1-10", "amd64"));
        new.remove(0);
        let mut f = Fixture { known: vec![] };
        let applied = f.run(&old, &report(&old, &new)).unwrap();
        let mut want: Vec<i64> = new.iter().map(|p| f.id(p)).collect();
        want.sort_unstable();
        assert_eq!(applied.new_ids, want);
        assert_eq!(applied.old_ids.len(), 4);
        let got: Vec<String> = applied
            .changes
            .iter()
            .map(|c| format!("{} {:?} {:?}", c.name, c.old_version, c.new_version))
            .collect();
        assert_eq!(
            got,
            [
                "bash Some(\"5.2.15-2\") None",
                "curl None Some(\"7.88.1-10\")",
                // The kernel kept is listed with the one that came.
                "linux-image Some(\"6.1.76-1\") Some(\"6.1.76-1 6.1.90-1\")",
                "xz-utils Some(\"5.4.1-0.2\") Some(\"5.4.1-1\")",
            ]
        );
    }

    #[test]
    fn a_delta_made_against_another_inventory_does_not_apply() {
        let old = old();
        let mut new = old.clone();
        new[0] = Installed::new("bash", "5.2.21-2", "amd64");
        let r = report(&old, &new);
        // Stored: an inventory without bash.
        let e = Fixture { known: vec![] }.run(&old[1..], &r).unwrap_err();
        assert!(e.contains("removes bash:amd64 5.2.15-2"), "{e}");
        // Stored: the inventory the delta makes already.
        let e = Fixture { known: vec![] }.run(&new, &r).unwrap_err();
        assert!(e.contains("not installed"), "{e}");
        // Stored: one package more than the base.
        let mut more = old.clone();
        more.push(Installed::new("curl", "7.88.1-10", "amd64"));
        let e = Fixture { known: vec![] }.run(&more, &r).unwrap_err();
        assert!(e.contains("leaves 5 packages"), "{e}");
        // Stored: the same names, another source: the digest tells.
        let mut other = old.clone();
        other[2].source_name = "linux-signed".into();
        let e = Fixture { known: vec![] }.run(&other, &r).unwrap_err();
        assert!(e.contains("digest"), "{e}");
        // A wrong claim of the result is refused as well.
        let mut lying = r.clone();
        lying.inventory.installed_digest = Some("0".repeat(64));
        let e = Fixture { known: vec![] }.run(&old, &lying).unwrap_err();
        assert!(e.contains("not the 0000"), "{e}");
    }
}
