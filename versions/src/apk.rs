//! apk's version ordering (Alpine, apk-tools 3):
//! `digits{.digits}[letter]{_suffix[N]}[~hash][-rN]`.
//!
//! A version is read as tokens, each of a kind that may only follow certain
//! others: the first number, further `.`-separated numbers, one letter,
//! suffixes (`_alpha`, `_beta`, `_pre`, `_rc` sort before the bare version;
//! `_cvs`, `_svn`, `_git`, `_hg`, `_p` after it), each with an optional
//! number, a commit hash `~hex`, and the package revision `-rN`. Two versions
//! are compared token by token while their kinds agree; a number after a dot
//! with a leading zero on either side compares as text (`1.02 < 1.2`, Gentoo's
//! rule). Where one runs out or turns invalid first, the longer one is newer,
//! unless what it goes on with is a pre-release suffix. A version apk would
//! call invalid is compared as apk compares it: up to its first bad token.

use std::cmp::Ordering;

/// Token kinds in apk's order: where two versions differ in kind, the one
/// whose token ranks lower goes on further and is the newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    FirstNumber,
    Number,
    Letter,
    Suffix,
    SuffixNumber,
    CommitHash,
    Revision,
    End,
    Invalid,
}

/// Suffixes in their order; `None` is the bare version between the
/// pre-release ones and the post-release ones.
const SUFFIXES: [&str; 9] = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"];
/// Rank of the bare version among [`SUFFIXES`]: the first four come before it.
const BARE: usize = 4;

/// One token: its kind, its text, and its number where it has one.
#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    text: &'a [u8],
    number: u64,
}

struct Reader<'a> {
    rest: &'a [u8],
    token: Token<'a>,
}

impl<'a> Reader<'a> {
    fn new(version: &'a str) -> Reader<'a> {
        let mut r = Reader {
            rest: version.as_bytes(),
            token: Token {
                kind: Kind::FirstNumber,
                text: b"",
                number: 0,
            },
        };
        r.digits(Kind::FirstNumber);
        r
    }

    /// Takes a run of digits as a token of `kind` (none: invalid).
    fn digits(&mut self, kind: Kind) {
        let n = self.rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let (text, rest) = self.rest.split_at(n);
        self.rest = rest;
        let number = text.iter().fold(0u64, |v, d| {
            v.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
        self.token = Token {
            kind: if n == 0 { Kind::Invalid } else { kind },
            text,
            number,
        };
    }

    /// Takes the longest run of `class` as a token of `kind` (none: invalid).
    fn run(&mut self, kind: Kind, class: fn(&u8) -> bool) {
        let n = self.rest.iter().take_while(|c| class(c)).count();
        let (text, rest) = self.rest.split_at(n);
        self.rest = rest;
        self.token = Token {
            kind: if n == 0 { Kind::Invalid } else { kind },
            text,
            number: 0,
        };
    }

    fn invalid(&mut self) {
        self.token.kind = Kind::Invalid;
    }

    /// Moves to the next token, checking that it may follow the current one.
    fn advance(&mut self) {
        let prev = self.token.kind;
        let Some(&c) = self.rest.first() else {
            self.token.kind = Kind::End;
            return;
        };
        match c {
            b'a'..=b'z' if prev <= Kind::Number => {
                self.token = Token {
                    kind: Kind::Letter,
                    text: &self.rest[..1],
                    number: 0,
                };
                self.rest = &self.rest[1..];
            }
            b'.' if prev <= Kind::Number => {
                self.rest = &self.rest[1..];
                self.digits(Kind::Number);
            }
            b'0'..=b'9' if prev == Kind::Suffix => self.digits(Kind::SuffixNumber),
            b'_' if prev <= Kind::SuffixNumber => {
                self.rest = &self.rest[1..];
                self.run(Kind::Suffix, u8::is_ascii_lowercase);
                if suffix_rank(self.token.text).is_none() {
                    self.invalid();
                }
            }
            b'~' if prev < Kind::CommitHash => {
                self.rest = &self.rest[1..];
                self.run(Kind::CommitHash, |c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
            }
            b'-' if prev < Kind::Revision && self.rest.get(1) == Some(&b'r') => {
                self.rest = &self.rest[2..];
                self.digits(Kind::Revision);
            }
            _ => self.invalid(),
        }
    }
}

fn suffix_rank(text: &[u8]) -> Option<usize> {
    SUFFIXES.iter().position(|s| s.as_bytes() == text)
}

/// Two tokens of the same kind.
fn compare_tokens(a: &Token<'_>, b: &Token<'_>) -> Ordering {
    match a.kind {
        Kind::Number if a.text.first() == Some(&b'0') || b.text.first() == Some(&b'0') => {
            a.text.cmp(b.text)
        }
        Kind::FirstNumber | Kind::Number | Kind::SuffixNumber | Kind::Revision => {
            a.number.cmp(&b.number)
        }
        Kind::Suffix => suffix_rank(a.text).cmp(&suffix_rank(b.text)),
        _ => a.text.cmp(b.text),
    }
}

/// Compares two apk versions as `apk version -t` does.
pub fn compare(a: &str, b: &str) -> Ordering {
    compare_fuzzy(a, b, false)
}

/// [`compare`]; with `fuzzy`, `a` equals every `b` it begins with token by
/// token (apk's `~`: `3.6.9 ~ 3.6`).
pub fn compare_fuzzy(a: &str, b: &str, fuzzy: bool) -> Ordering {
    let (mut ra, mut rb) = (Reader::new(a), Reader::new(b));
    while ra.token.kind == rb.token.kind && ra.token.kind < Kind::End {
        match compare_tokens(&ra.token, &rb.token) {
            Ordering::Equal => {}
            other => return other,
        }
        ra.advance();
        rb.advance();
    }
    let (ta, tb) = (ra.token, rb.token);
    if ta.kind == tb.kind || (fuzzy && tb.kind == Kind::End) {
        return Ordering::Equal;
    }
    let pre_release =
        |t: &Token<'_>| t.kind == Kind::Suffix && suffix_rank(t.text).is_some_and(|r| r < BARE);
    if pre_release(&ta) {
        return Ordering::Less;
    }
    if pre_release(&tb) {
        return Ordering::Greater;
    }
    // The one that went on further (a lower-ranked next token) is newer.
    tb.kind.cmp(&ta.kind)
}

/// Whether apk accepts `version` as a version at all.
pub fn is_valid(version: &str) -> bool {
    let mut r = Reader::new(version);
    while r.token.kind < Kind::End {
        r.advance();
    }
    r.token.kind == Kind::End
}

/// A key that sorts as [`compare`] does. Each token is a byte for its
/// kind, where a later kind sorts lower (the version that goes on further
/// is newer) and a pre-release suffix lowest of all, then its value: numbers
/// as 8 bytes (a dotted number with a leading zero as its text, below every
/// one without), a letter, a suffix's rank, a hash's text. The key stops at
/// the end or at the first invalid token, as the comparison does.
pub fn sort_key(version: &str) -> Vec<u8> {
    let mut r = Reader::new(version);
    let mut out = Vec::with_capacity(2 * version.len() + 16);
    loop {
        let t = r.token;
        let pre_release = t.kind == Kind::Suffix && suffix_rank(t.text).is_some_and(|r| r < BARE);
        out.push(if pre_release { 1 } else { 0x20 - t.kind as u8 });
        match t.kind {
            Kind::End | Kind::Invalid => return out,
            Kind::Number if t.text.first() == Some(&b'0') => {
                out.push(0);
                crate::key::push_text(&mut out, t.text);
            }
            Kind::Number => {
                out.push(1);
                out.extend_from_slice(&t.number.to_be_bytes());
            }
            Kind::FirstNumber | Kind::SuffixNumber | Kind::Revision => {
                out.extend_from_slice(&t.number.to_be_bytes());
            }
            Kind::Suffix => out.push(suffix_rank(t.text).map_or(u8::MAX, |r| r as u8)),
            Kind::Letter | Kind::CommitHash => crate::key::push_text(&mut out, t.text),
        }
        r.advance();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every line of apk-tools' own `test/unit/version.data` (see
    /// `fixtures/peers/README.md`), read as its `version_test.c` reads it:
    /// `v` valid, `!v` invalid, `a OP b` holds, `a !OP b` does not, where OP
    /// combines `<`, `>`, `=` and `~` (fuzzy: equal as a prefix).
    #[test]
    fn apk_tools_version_data() {
        let data = include_str!("../fixtures/peers/apk-tools-version.data");
        let (mut checked, mut failures) = (0, Vec::new());
        for raw in data.lines() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            checked += 1;
            let ok = match line.split_whitespace().collect::<Vec<_>>()[..] {
                [a, op, b] => {
                    let (invert, op) = op.strip_prefix('!').map_or((false, op), |o| (true, o));
                    let fuzzy = op.contains('~');
                    let got = compare_fuzzy(a, b, fuzzy);
                    if !fuzzy && sort_key(a).cmp(&sort_key(b)) != got {
                        failures.push(format!("{line} (sort keys)"));
                    }
                    let holds = op.chars().any(|c| match c {
                        '<' => got == Ordering::Less,
                        '>' => got == Ordering::Greater,
                        '=' | '~' => got == Ordering::Equal,
                        _ => panic!("unknown operator in {line:?}"),
                    });
                    holds != invert
                }
                [v] => match v.strip_prefix('!') {
                    Some(v) => !is_valid(v),
                    None => is_valid(v),
                },
                _ => panic!("unreadable line {line:?}"),
            };
            if !ok {
                failures.push(line.to_string());
            }
        }
        assert!(checked > 700, "only {checked} cases read");
        assert!(
            failures.is_empty(),
            "{} of {checked} cases fail: {failures:#?}",
            failures.len()
        );
    }

    #[test]
    fn pre_releases_sort_before_the_release_and_are_antisymmetric() {
        for (a, b) in [
            ("6.0_pre1", "6.0"),
            ("6.0_rc2", "6.0"),
            ("6.0_alpha", "6.0"),
            ("6.0_beta3", "6.0-r0"),
            ("6.0", "6.0_p1"),
            ("6.0", "6.0_git20240101"),
        ] {
            assert_eq!(compare(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(compare(b, a), Ordering::Greater, "{b} > {a}");
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Keys sort as the comparison, valid versions or not.
        #[test]
        fn keys_sort_as_compare(
            a in "[0-9][0-9a-z._~-]{0,10}|[0-9]+(\\.0?[0-9]+)*[a-z]?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]?)*(~[0-9a-f]{1,3})?(-r[0-9]+)?",
            b in "[0-9][0-9a-z._~-]{0,10}|[0-9]+(\\.0?[0-9]+)*[a-z]?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]?)*(~[0-9a-f]{1,3})?(-r[0-9]+)?",
        ) {
            prop_assert_eq!(sort_key(&a).cmp(&sort_key(&b)), compare(&a, &b), "{} vs {}", a, b);
        }
    }
}
