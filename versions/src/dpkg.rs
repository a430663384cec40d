//! dpkg's version order: `[epoch:]upstream[-revision]`, compared as
//! `dpkg --compare-versions` does, and a byte key that sorts the same way.

use std::cmp::Ordering;

/// Compares two Debian versions exactly as `dpkg --compare-versions` does.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    compare_parts(split(a), split(b))
}

/// Compares versions given as (epoch, upstream version, revision).
pub fn compare_parts(a: (u64, &str, &str), b: (u64, &str, &str)) -> Ordering {
    a.0.cmp(&b.0)
        .then_with(|| verrevcmp(a.1, b.1))
        .then_with(|| verrevcmp(a.2, b.2))
}

/// A Debian version as dpkg's `parseversion` reads it, with its checks
/// (errors and the warnings that dpkg also refuses in package metadata):
/// surrounding white space is ignored; the epoch is a number up to
/// `i32::MAX`; the upstream version is not empty, starts with a digit and
/// holds only alphanumerics and `.+-~:`; the revision (after the last `-`)
/// is not empty and holds only alphanumerics and `.+~`.
pub fn parse_version(v: &str) -> Result<(u64, &str, &str), String> {
    let v = v.trim_matches([' ', '\t']);
    if v.is_empty() {
        return Err("the version is empty".into());
    }
    if v.contains([' ', '\t']) {
        return Err(format!("{v:?} has embedded white space"));
    }
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) => {
            if e.is_empty() {
                return Err(format!("{v:?}: the epoch is empty"));
            }
            if !e.bytes().all(|c| c.is_ascii_digit()) {
                return Err(format!("{v:?}: the epoch is not a number"));
            }
            match e.parse::<u64>() {
                Ok(n) if n <= i32::MAX as u64 => (n, rest),
                _ => return Err(format!("{v:?}: the epoch is too big")),
            }
        }
        None => (0, v),
    };
    if rest.is_empty() {
        return Err(format!("{v:?}: nothing after the epoch"));
    }
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((_, "")) => return Err(format!("{v:?}: the revision is empty")),
        Some((u, r)) => (u, r),
        None => (rest, ""),
    };
    if upstream.is_empty() {
        return Err(format!("{v:?}: the upstream version is empty"));
    }
    if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "{v:?}: the upstream version must start with a digit"
        ));
    }
    if let Some(c) = upstream
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ".-+~:".contains(*c)))
    {
        return Err(format!(
            "{v:?}: {c:?} is not allowed in the upstream version"
        ));
    }
    if let Some(c) = revision
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ".+~".contains(*c)))
    {
        return Err(format!("{v:?}: {c:?} is not allowed in the revision"));
    }
    Ok((epoch, upstream, revision))
}

/// A key that sorts as [`compare_versions`] does; `None` for a version
/// dpkg refuses ([`parse_version`]). The epoch (8 bytes), then the upstream
/// version and the revision, each as runs of non-digits (each character by
/// its dpkg weight, two bytes, the end of the run as weight 0) alternating
/// with numbers ([`crate::key::push_number`]), and a final end. No revision
/// and a revision of zeros are the revision `0`, as dpkg compares them.
pub fn sort_key(v: &str) -> Option<Vec<u8>> {
    let (epoch, upstream, revision) = parse_version(v).ok()?;
    let mut out = Vec::with_capacity(8 + 2 * v.len() + 16);
    out.extend_from_slice(&epoch.to_be_bytes());
    verrev_key(&mut out, upstream.as_bytes());
    // No revision compares as the revision "0" (and so do "00", "000"…):
    // encoded as "0", it sorts above a revision such as "0~1", as dpkg has
    // it (found by fuzzing: "" encoded as nothing sorted below).
    let revision = if revision.bytes().all(|c| c == b'0') {
        "0"
    } else {
        revision
    };
    verrev_key(&mut out, revision.as_bytes());
    Some(out)
}

const END: u16 = 2;

fn verrev_key(out: &mut Vec<u8>, s: &[u8]) {
    let mut i = 0;
    while i < s.len() {
        while i < s.len() && !s[i].is_ascii_digit() {
            let weight = u16::try_from(order(Some(s[i])) + 2).unwrap_or(u16::MAX);
            out.extend_from_slice(&weight.to_be_bytes());
            i += 1;
        }
        out.extend_from_slice(&END.to_be_bytes());
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        crate::key::push_number(out, &s[start..i]);
    }
    out.extend_from_slice(&END.to_be_bytes());
}

fn split(v: &str) -> (u64, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), rest)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::process::Command;

    /// Every check of dpkg's own `lib/dpkg/t/t-version.c` (see
    /// `fixtures/peers/README.md`) that concerns comparing and parsing,
    /// written out as rows. A blank version (epoch 0, no version, no
    /// revision) is `(0, "", "")`.
    #[test]
    fn dpkg_t_version_c() {
        use Ordering::{Equal as E, Greater as G, Less as L};
        type Parts = (u64, &'static str, &'static str);
        // test_version_compare and test_version_relate: a, b, a compared to b.
        let compare: [(Parts, Parts, Ordering); 12] = [
            ((0, "", ""), (0, "", ""), E),
            ((1, "", ""), (2, "", ""), L),
            ((0, "1", "1"), (0, "2", "1"), L),
            ((0, "1", "1"), (0, "1", "2"), L),
            ((0, "0", "0"), (0, "0", "0"), E),
            ((0, "0", "00"), (0, "00", "0"), E),
            ((1, "2", "3"), (1, "2", "3"), E),
            ((0, "0", "0"), (1, "0", "0"), L),
            ((0, "a", "0"), (0, "b", "0"), L),
            ((0, "0", "a"), (0, "0", "b"), L),
            ((0, "1", "1"), (0, "1", "1"), E),
            ((0, "2", "1"), (0, "1", "1"), G),
        ];
        for (a, b, want) in compare {
            assert_eq!(compare_parts(a, b), want, "{a:?} vs {b:?}");
            assert_eq!(compare_parts(b, a), want.reverse(), "{b:?} vs {a:?}");
        }
        // test_version_parse: what parses, and to what.
        let parses: [(&str, Parts); 17] = [
            ("0", (0, "0", "")),
            ("0:0", (0, "0", "")),
            ("0:0-0", (0, "0", "0")),
            ("0:0.0-0.0", (0, "0.0", "0.0")),
            ("1:0", (1, "0", "")),
            ("5:1", (5, "1", "")),
            ("0:0-0-0", (0, "0-0", "0")),
            ("0:0-0-0-0", (0, "0-0-0", "0")),
            ("0:0:0-0", (0, "0:0", "0")),
            ("0:0:0:0-0", (0, "0:0:0", "0")),
            ("0:0:0-0-0", (0, "0:0-0", "0")),
            ("0:0-0:0-0", (0, "0-0:0", "0")),
            ("0:09azAZ.-+~:-0", (0, "09azAZ.-+~:", "0")),
            ("0:0-azAZ09.+~", (0, "0", "azAZ09.+~")),
            ("  \t0:0-1", (0, "0", "1")),
            ("0:0-1\t  ", (0, "0", "1")),
            ("\t  0:0-1  \t", (0, "0", "1")),
        ];
        for (text, want) in parses {
            let got = parse_version(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(compare_parts(got, want), E, "{text:?} parsed as {got:?}");
            assert_eq!(got, want, "{text:?}");
        }
        // What dpkg refuses (errors and warnings).
        let mut refused: Vec<String> = [
            "",
            "  ",
            "0:",
            ":1.0",
            "1.0-",
            "0:0 0-1",
            "-1:0-1",
            "999999999999999999999999:0-1",
            "a:0-0",
            "A:0-0",
            "-0",
            "0:-0",
            "0:abc3-0",
            "0:0-0:0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for c in "!#@$%&/|\\<>()[]{};,_=*^'".chars() {
            refused.push(format!("0:0{c}-0"));
        }
        for c in "!#@$%&/|\\<>()[]{}:;,_=*^'".chars() {
            refused.push(format!("0:0-{c}"));
        }
        assert_eq!(refused.len(), 14 + 24 + 25);
        for text in &refused {
            assert!(parse_version(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn known_orderings() {
        let less = [
            ("1.0", "1.1"),
            ("1.0~rc1", "1.0"),
            ("1.0", "1.0+deb12u1"),
            ("1.0-1", "1.0-1+b1"),
            ("1:0.1", "2:0.0"),
            ("9.9", "1:0.1"),
            ("1.0a", "1.0b"),
            ("1.0~~", "1.0~"),
            ("1.0", "1.0a"),
            ("2.36-9+deb12u7", "2.36-9+deb12u14"),
            ("20230311+deb12u1", "20250419~deb12u2"),
            ("1.9", "1.10"),
        ];
        for (a, b) in less {
            assert!(sort_key(a) < sort_key(b), "keys: {a} < {b}");
            assert_eq!(compare_versions(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(compare_versions(b, a), Ordering::Greater, "{b} > {a}");
        }
        assert_eq!(sort_key("1.0-0"), sort_key("1.0"));
        assert_eq!(sort_key("1:1.01-00"), sort_key("1:1.1"));
        assert_eq!(compare_versions("1.0-0", "1.0"), Ordering::Equal);
        assert_eq!(compare_versions("0:1.0", "1.0"), Ordering::Equal);
        assert_eq!(compare_versions("1.01", "1.1"), Ordering::Equal);
    }

    fn dpkg_says(a: &str, op: &str, b: &str) -> bool {
        Command::new("dpkg")
            .args(["--compare-versions", a, op, b])
            .status()
            .expect("dpkg runs")
            .success()
    }

    fn version() -> impl Strategy<Value = String> {
        ("([0-9]:)?[0-9][0-9a-z.+~]{0,6}(-[0-9a-z.+~]{1,5})?").prop_map(|s| s)
    }

    #[test]
    fn no_revision_sorts_above_a_revision_of_zero_and_tilde() {
        // Found by fuzzing (fuzz/corpus/versions): the key of no revision
        // sorted below "0~1" while dpkg has it above.
        for (a, b) in [
            ("00000", "0-0~1"),
            ("1.0", "1.0-0~rc1"),
            ("1.0", "1.0-00~"),
            ("1.0", "1.0-0"),
            ("1.0", "1.0-0a"),
            ("1.0-0", "1.0-000"),
        ] {
            let (ka, kb) = (sort_key(a).unwrap(), sort_key(b).unwrap());
            assert_eq!(ka.cmp(&kb), compare_versions(a, b), "{a} vs {b}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// dpkg itself is the oracle: our order must agree with it on every pair.
        #[test]
        fn agrees_with_dpkg(a in version(), b in version()) {
            let ours = compare_versions(&a, &b);
            let theirs = if dpkg_says(&a, "lt", &b) {
                Ordering::Less
            } else if dpkg_says(&a, "eq", &b) {
                Ordering::Equal
            } else {
                Ordering::Greater
            };
            prop_assert_eq!(ours, theirs, "{} vs {}", a, b);
        }

        #[test]
        fn keys_sort_as_compare(a in version(), b in version()) {
            if let (Some(ka), Some(kb)) = (sort_key(&a), sort_key(&b)) {
                prop_assert_eq!(ka.cmp(&kb), compare_versions(&a, &b), "{} vs {}", a, b);
            } else {
                prop_assert!(parse_version(&a).is_err() || parse_version(&b).is_err());
            }
        }

        #[test]
        fn is_antisymmetric_and_reflexive(a in version(), b in version()) {
            prop_assert_eq!(compare_versions(&a, &b), compare_versions(&b, &a).reverse());
            prop_assert_eq!(compare_versions(&a, &a), Ordering::Equal);
        }

        #[test]
        fn is_transitive(a in version(), b in version(), c in version()) {
            let mut v = [a, b, c];
            v.sort_by(|x, y| compare_versions(x, y));
            prop_assert_ne!(compare_versions(&v[0], &v[2]), Ordering::Greater);
        }
    }
}
