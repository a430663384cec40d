//! rpm's version ordering: `rpmvercmp` on versions and releases, and
//! `[epoch:]version[-release]` labels compared the way rpm and libsolv do.

use std::cmp::Ordering;

/// Compares two version (or release) strings exactly as rpm's `rpmvercmp`:
/// runs of digits and runs of letters are compared segment by segment
/// (numbers numerically, letters lexically, a number beats letters), other
/// characters only separate, `~` sorts before everything (even the end) and
/// `^` sorts after the end but before anything else.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < a.len() || j < b.len() {
        while i < a.len() && separator(a[i]) {
            i += 1;
        }
        while j < b.len() && separator(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        // The tilde sorts before everything else, the end of the string included.
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        // The caret sorts after the end of the string, before anything else.
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = ca.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let seg_a_end = i + a[i..].iter().take_while(|c| class(c)).count();
        let seg_b_end = j + b[j..].iter().take_while(|c| class(c)).count();
        let (mut sa, mut sb) = (&a[i..seg_a_end], &b[j..seg_b_end]);
        if sb.is_empty() {
            // Different kinds of segment: a number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        if numeric {
            sa = trim_leading_zeros(sa);
            sb = trim_leading_zeros(sb);
            match sa.len().cmp(&sb.len()) {
                Ordering::Equal => {}
                longer => return longer,
            }
        }
        match sa.cmp(sb) {
            Ordering::Equal => {}
            other => return other,
        }
        i = seg_a_end;
        j = seg_b_end;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

fn trim_leading_zeros(s: &[u8]) -> &[u8] {
    let zeros = s.iter().take_while(|c| **c == b'0').count();
    &s[zeros..]
}

/// An `[epoch:]version[-release]` label, as dnf, yum and zypper print them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evr<'a> {
    pub epoch: u64,
    pub version: &'a str,
    pub release: Option<&'a str>,
}

impl<'a> Evr<'a> {
    /// Splits a label; a missing or unreadable epoch is 0, as rpm treats it.
    pub fn parse(label: &'a str) -> Self {
        let (epoch, rest) = match label.split_once(':') {
            Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
                (e.parse().unwrap_or(0), rest)
            }
            _ => (0, label),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((v, r)) => (v, Some(r)),
            None => (rest, None),
        };
        Evr {
            epoch,
            version,
            release,
        }
    }
}

/// Compares two labels: epoch, then version, then release, as rpm's own
/// `rpm.vercmp` does: of two equal versions, one with a release is newer than
/// one without, whatever the release (`1.0 < 1.0-1`, and `0 < 0-~0`).
pub fn compare_evr(a: &str, b: &str) -> Ordering {
    let (a, b) = (Evr::parse(a), Evr::parse(b));
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| match (a.release, b.release) {
            (Some(x), Some(y)) => rpmvercmp(x, y),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        })
}

/// A key that sorts as [`compare_evr`] does: the epoch (8 bytes), the
/// version's tokens, then the release (absent sorts below any release).
/// Tokens: `~` 1, the end 2, `^` 3, letters 4 (then the letters), a number
/// 5 (then [`crate::key::push_number`]); separators are not tokens.
pub fn sort_key(label: &str) -> Vec<u8> {
    let evr = Evr::parse(label);
    let mut out = Vec::with_capacity(8 + 2 * label.len() + 8);
    out.extend_from_slice(&evr.epoch.to_be_bytes());
    tokens_key(&mut out, evr.version);
    match evr.release {
        None => out.push(0),
        Some(release) => {
            out.push(1);
            tokens_key(&mut out, release);
        }
    }
    out
}

fn tokens_key(out: &mut Vec<u8>, s: &str) {
    let s = s.as_bytes();
    let mut i = 0;
    loop {
        while i < s.len() && !s[i].is_ascii_alphanumeric() && s[i] != b'~' && s[i] != b'^' {
            i += 1;
        }
        let Some(&c) = s.get(i) else {
            out.push(2);
            return;
        };
        let class: fn(&u8) -> bool = match c {
            b'~' | b'^' => {
                out.push(if c == b'~' { 1 } else { 3 });
                i += 1;
                continue;
            }
            b'0'..=b'9' => u8::is_ascii_digit,
            _ => u8::is_ascii_alphabetic,
        };
        let end = i + s[i..].iter().take_while(|c| class(c)).count();
        if c.is_ascii_digit() {
            out.push(5);
            crate::key::push_number(out, &s[i..end]);
        } else {
            out.push(4);
            crate::key::push_text(out, &s[i..end]);
        }
        i = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::process::Command;

    /// Every active `RPMVERCMP(a, b, result)` line of rpm's own
    /// `tests/rpmvercmp.at` (see `fixtures/peers/README.md`).
    #[test]
    fn rpm_rpmvercmp_at() {
        let data = include_str!("../fixtures/peers/rpmvercmp.at");
        let mut failures = Vec::new();
        let mut checked = 0;
        for line in data.lines() {
            let Some(args) = line
                .strip_prefix("RPMVERCMP(")
                .and_then(|l| l.strip_suffix(')'))
            else {
                continue;
            };
            let parts: Vec<&str> = args.split(',').map(str::trim).collect();
            let [a, b, want] = parts[..] else {
                panic!("unreadable line {line:?}");
            };
            let want = match want {
                "-1" => Ordering::Less,
                "0" => Ordering::Equal,
                "1" => Ordering::Greater,
                other => panic!("result {other:?} in {line:?}"),
            };
            checked += 1;
            if rpmvercmp(a, b) != want {
                failures.push(line.to_string());
            }
            if !a.contains(['-', ':'])
                && !b.contains(['-', ':'])
                && sort_key(a).cmp(&sort_key(b)) != want
            {
                failures.push(format!("{line} (sort keys)"));
            }
        }
        assert!(checked > 80, "only {checked} cases read");
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn known_orderings() {
        let less = [
            ("1.0", "1.0.1"),
            ("1.0", "1.0a"),
            ("1.0a", "1.0b"),
            ("1.9", "1.10"),
            ("1.0~rc1", "1.0"),
            ("1.0~rc1", "1.0~rc2"),
            ("1.0~~", "1.0~"),
            ("1.0", "1.0^git1"),
            ("1.0^git1", "1.0.1"),
            ("1.0^", "1.0a"),
            ("a", "1"),
            ("2.36", "2.36.0"),
            ("5.14.0-362.8.1.el9_3", "5.14.0-362.13.1.el9_3"),
        ];
        for (a, b) in less {
            assert_eq!(rpmvercmp(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(rpmvercmp(b, a), Ordering::Greater, "{b} > {a}");
        }
        for (a, b) in [("1.01", "1.1"), ("1_0", "1.0"), ("1..0", "1.0")] {
            assert_eq!(rpmvercmp(a, b), Ordering::Equal, "{a} = {b}");
        }
        assert_eq!(compare_evr("1:1.0-1", "2.0-1"), Ordering::Greater);
        assert_eq!(compare_evr("0:1.0-1", "1.0-1"), Ordering::Equal);
        assert_eq!(compare_evr("1.0", "1.0-5"), Ordering::Less);
        // Found by the property test below against rpm itself.
        assert_eq!(compare_evr("0-~0", "0"), Ordering::Greater);
        assert_eq!(compare_evr("1.0-2", "1.0-10"), Ordering::Less);
    }

    fn label() -> impl Strategy<Value = String> {
        let part = "[0-9a-c.~^_+]{0,6}[0-9a-c]";
        (prop::option::of(0u8..3), part, prop::option::of(part)).prop_map(|(e, v, r)| {
            let mut s = String::new();
            if let Some(e) = e {
                s.push_str(&format!("{e}:"));
            }
            s.push_str(&v);
            if let Some(r) = r {
                s.push('-');
                s.push_str(&r);
            }
            s
        })
    }

    /// rpm itself is the oracle: its Lua `rpm.vercmp` on each pair, in one call.
    fn rpm_says(pairs: &[(String, String)]) -> Vec<Ordering> {
        let expr: String = pairs
            .iter()
            .map(|(a, b)| format!("%{{lua:print(rpm.vercmp(\"{a}\",\"{b}\"))}} "))
            .collect();
        let out = Command::new("rpm")
            .args(["--eval", &expr])
            .output()
            .expect("rpm is installed (tests/run installs it)");
        assert!(out.status.success(), "rpm --eval failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let words: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(words.len(), pairs.len(), "rpm printed {text:?}");
        words
            .iter()
            .map(|w| match *w {
                "-1" => Ordering::Less,
                "0" => Ordering::Equal,
                "1" => Ordering::Greater,
                other => panic!("rpm printed {other:?}"),
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20))]
        /// 20 batches of 40 random pairs: our order must agree with rpm's on every one.
        #[test]
        fn agrees_with_rpm(pairs in prop::collection::vec((label(), label()), 40)) {
            let theirs = rpm_says(&pairs);
            for ((a, b), want) in pairs.iter().zip(theirs) {
                prop_assert_eq!(compare_evr(a, b), want, "{} vs {}", a, b);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn is_antisymmetric_and_transitive(a in label(), b in label(), c in label()) {
            prop_assert_eq!(compare_evr(&a, &b), compare_evr(&b, &a).reverse());
            prop_assert_eq!(sort_key(&a).cmp(&sort_key(&b)), compare_evr(&a, &b), "keys of {} vs {}", a, b);
            let mut v = [a, b, c];
            v.sort_by(|x, y| compare_evr(x, y));
            prop_assert_ne!(compare_evr(&v[0], &v[2]), Ordering::Greater);
        }
    }
}
