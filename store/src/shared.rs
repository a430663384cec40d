//! Text that many hosts share — a site, a release, a kernel, an exporter
//! version — kept once for the whole fleet in the summaries the aggregator
//! holds in memory: at 100,000 hosts that is tens of MiB less than a copy
//! per host.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A shared, immutable string; reads as a `&str`.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shared(Arc<str>);

impl Shared {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Shared {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Shared {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Shared {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl From<&str> for Shared {
    fn from(s: &str) -> Shared {
        Shared(Arc::from(s))
    }
}

impl From<String> for Shared {
    fn from(s: String) -> Shared {
        Shared(Arc::from(s))
    }
}

impl From<Shared> for String {
    fn from(s: Shared) -> String {
        s.0.to_string()
    }
}

impl PartialEq<str> for Shared {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Shared {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Shared {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

/// Written as the string it is (pages and JSON answers show it as text).
impl serde::Serialize for Shared {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Hands out one [`Shared`] per distinct text, for the rows of one read.
#[derive(Default)]
pub(crate) struct Interner(HashSet<Shared>);

impl Interner {
    pub fn text(&mut self, s: String) -> Shared {
        if let Some(t) = self.0.get(s.as_str()) {
            return t.clone();
        }
        let t = Shared::from(s);
        self.0.insert(t.clone());
        t
    }

    pub fn maybe(&mut self, s: Option<String>) -> Option<Shared> {
        s.map(|s| self.text(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_are_one_allocation() {
        let mut i = Interner::default();
        let a = i.text("debian".to_string());
        let b = i.text("debian".to_string());
        let c = i.text("ubuntu".to_string());
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert!(!Arc::ptr_eq(&a.0, &c.0));
        assert_eq!(a, "debian");
        assert_eq!(a.to_string(), "debian");
        assert_eq!(format!("{a:?}"), "\"debian\"");
        assert_eq!(i.maybe(None), None);
    }
}
