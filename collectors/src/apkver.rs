//! apk's version ordering (Alpine): `1.2.3[letter][_suffix[N]]...[-rN]`.
//!
//! Versions are read as tokens: numbers (a number after a dot with leading
//! zeros sorts as a fraction, `1.02 < 1.2`), one letter after a number,
//! suffixes (`_alpha`, `_beta`, `_pre`, `_rc` sort before the bare version;
//! `_cvs`, `_svn`, `_git`, `_hg`, `_p` after it) with an optional number, and
//! the package revision `-rN`. A version apk would call invalid is compared
//! as apk compares it: up to the first bad token.

use std::cmp::Ordering;

/// Token kinds in apk's order; a longer version whose next token ranks
/// lower here is the newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    Invalid,
    DigitOrZero,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    RevisionNo,
    End,
}

const PRE_SUFFIXES: [&str; 4] = ["alpha", "beta", "pre", "rc"];
const POST_SUFFIXES: [&str; 5] = ["cvs", "svn", "git", "hg", "p"];

struct Reader<'a> {
    rest: &'a [u8],
    kind: Token,
}

impl Reader<'_> {
    /// Decides the kind of the next token, consuming its separator.
    fn next_kind(&mut self) {
        let prev = self.kind;
        let Some(&c) = self.rest.first() else {
            self.kind = Token::End;
            return;
        };
        let mut n = Token::Invalid;
        if matches!(prev, Token::Digit | Token::DigitOrZero) && c.is_ascii_lowercase() {
            n = Token::Letter;
        } else if prev == Token::Letter && c.is_ascii_digit() {
            n = Token::Digit;
        } else if prev == Token::Suffix && c.is_ascii_digit() {
            n = Token::SuffixNo;
        } else {
            match c {
                b'.' => n = Token::DigitOrZero,
                b'_' => n = Token::Suffix,
                b'-' if self.rest.get(1) == Some(&b'r') => {
                    n = Token::RevisionNo;
                    self.rest = &self.rest[1..];
                }
                _ => {}
            }
            self.rest = &self.rest[1..];
        }
        if n < prev
            && !((n == Token::DigitOrZero && prev == Token::Digit)
                || (n == Token::Suffix && prev == Token::SuffixNo)
                || (n == Token::Digit && prev == Token::Letter))
        {
            n = Token::Invalid;
        }
        self.kind = n;
    }

    /// Reads the value of the current token and moves to the next one.
    fn value(&mut self) -> i64 {
        if self.rest.is_empty() {
            self.kind = Token::End;
            return 0;
        }
        let mut value: i64 = 0;
        let mut used = 0;
        let mut forced = None;
        match self.kind {
            Token::DigitOrZero if self.rest[0] == b'0' => {
                // Leading zeros after a dot: a fraction, less than any plain number.
                used = self.rest.iter().take_while(|c| **c == b'0').count();
                value = -(used as i64);
                forced = Some(Token::Digit);
            }
            Token::DigitOrZero | Token::Digit | Token::SuffixNo | Token::RevisionNo => {
                for &c in self.rest.iter().take_while(|c| c.is_ascii_digit()) {
                    value = value.saturating_mul(10).saturating_add(i64::from(c - b'0'));
                    used += 1;
                }
            }
            Token::Letter => {
                value = i64::from(self.rest[0]);
                used = 1;
            }
            Token::Suffix => {
                let rest = self.rest;
                if let Some(i) = PRE_SUFFIXES
                    .iter()
                    .position(|s| rest.starts_with(s.as_bytes()))
                {
                    value = i as i64 - PRE_SUFFIXES.len() as i64;
                    used = PRE_SUFFIXES[i].len();
                } else if let Some(i) = POST_SUFFIXES
                    .iter()
                    .position(|s| rest.starts_with(s.as_bytes()))
                {
                    value = i as i64;
                    used = POST_SUFFIXES[i].len();
                } else {
                    self.kind = Token::Invalid;
                    return -1;
                }
            }
            Token::Invalid | Token::End => {
                self.kind = Token::Invalid;
                return -1;
            }
        }
        self.rest = &self.rest[used..];
        if self.rest.is_empty() {
            self.kind = Token::End;
        } else if let Some(kind) = forced {
            self.kind = kind;
        } else {
            self.next_kind();
        }
        value
    }
}

/// Compares two apk versions as `apk version -t` does.
pub fn compare(a: &str, b: &str) -> Ordering {
    let mut ra = Reader {
        rest: a.as_bytes(),
        kind: Token::Digit,
    };
    let mut rb = Reader {
        rest: b.as_bytes(),
        kind: Token::Digit,
    };
    let (mut av, mut bv) = (0, 0);
    while ra.kind == rb.kind && !matches!(ra.kind, Token::End | Token::Invalid) && av == bv {
        av = ra.value();
        bv = rb.value();
    }
    match av.cmp(&bv) {
        Ordering::Equal => {}
        other => return other,
    }
    if ra.kind == rb.kind {
        return Ordering::Equal;
    }
    // Equal so far: the longer version is newer, unless what follows is a
    // pre-release suffix.
    if ra.kind == Token::Suffix && ra.value() < 0 {
        return Ordering::Less;
    }
    if rb.kind == Token::Suffix && rb.value() < 0 {
        return Ordering::Greater;
    }
    match ra.kind.cmp(&rb.kind) {
        Ordering::Greater => Ordering::Less,
        Ordering::Less => Ordering::Greater,
        Ordering::Equal => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Pairs chosen to exercise every rule; the expected orders are those of
    /// apk-tools' own version test data and of `apk version -t` on Alpine.
    #[test]
    fn known_orderings() {
        let cases = [
            ("2.34", '>', "0.1.0_alpha"),
            ("0.1.0_alpha2", '>', "0.1.0_alpha"),
            ("1.0.4-r3", '<', "1.0.4-r4"),
            ("1.1", '>', "1.1_alpha1"),
            ("1.3_alpha2", '<', "1.3_alpha3"),
            ("0.12.3", '>', "0.12"),
            ("3.1_p16", '<', "3.1_p17"),
            ("1.06-r6", '<', "006"),
            ("1.2.2-r1", '>', "1.2.2"),
            ("2.3.0b-r1", '<', "2.3.0b-r2"),
            ("1.02", '<', "1.03-r1"),
            ("1.0", '>', "0.99.3.20040818"),
            ("2.01.01_alpha10", '>', "0.94"),
            ("20060720", '>', "3.0.20060720"),
            ("2.5.1-r8", '<', "2.5.1a-r1"),
            ("1.7", '<', "1.7b"),
            ("1.8.5", '<', "1.8.5_p2"),
            ("4.5_p1-r1", '>', "4.5_p1"),
            ("0.10.0", '<', "0.10.1_rc1"),
            ("3.9_pre20060124", '>', "0.01"),
            ("0.20070118", '<', "0.20070207_rc1"),
            ("2.9.11_pre20051101-r3", '>', "2.9.11_pre20051101"),
            ("1.0_p10-r0", '>', "1.0_p9-r0"),
            ("0.1.0_alpha_pre2", '<', "0.1.0_alpha"),
            (
                "1.0.0_pre20191002222144-r0",
                '<',
                "1.0.0_pre20210530193627-r0",
            ),
            ("1.3-r0", '<', "1.3.1-r0"),
            ("3.1.4-r5", '>', "3.1.4-r1"),
            ("1.36.1-r2", '<', "1.36.1-r15"),
            ("2.0.6", '=', "2.0.6"),
            ("1.1", '>', "1.1_rc1"),
        ];
        for (a, op, b) in cases {
            let want = match op {
                '<' => Ordering::Less,
                '>' => Ordering::Greater,
                _ => Ordering::Equal,
            };
            assert_eq!(compare(a, b), want, "{a} {op} {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    fn version() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(0u16..30, 1..4),
            prop::option::of("[a-c]"),
            prop::option::of((
                prop::sample::select(vec!["alpha", "beta", "pre", "rc", "p", "git"]),
                prop::option::of(0u8..5),
            )),
            prop::option::of(0u8..12),
        )
            .prop_map(|(nums, letter, suffix, rev)| {
                let mut s = nums
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(".");
                if let Some(l) = letter {
                    s.push_str(&l);
                }
                if let Some((name, n)) = suffix {
                    s.push('_');
                    s.push_str(name);
                    if let Some(n) = n {
                        s.push_str(&n.to_string());
                    }
                }
                if let Some(r) = rev {
                    s.push_str(&format!("-r{r}"));
                }
                s
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn is_antisymmetric_reflexive_and_transitive(a in version(), b in version(), c in version()) {
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
            prop_assert_eq!(compare(&a, &a), Ordering::Equal);
            let mut v = [a, b, c];
            v.sort_by(|x, y| compare(x, y));
            prop_assert_ne!(compare(&v[0], &v[2]), Ordering::Greater);
        }

        /// A higher revision of the same upstream version is always newer.
        #[test]
        fn revision_orders(nums in prop::collection::vec(0u16..30, 1..4), r1 in 0u8..20, r2 in 0u8..20) {
            let base = nums.iter().map(u16::to_string).collect::<Vec<_>>().join(".");
            let (a, b) = (format!("{base}-r{r1}"), format!("{base}-r{r2}"));
            prop_assert_eq!(compare(&a, &b), r1.cmp(&r2));
        }
    }
}
