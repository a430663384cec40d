//! pacman's version order (libalpm's `alpm_pkg_vercmp`, what `vercmp`
//! prints): `[epoch:]version[-release]`, each part compared by libalpm's own
//! copy of an older `rpmvercmp`. It differs from rpm's: no `~` or `^`, the
//! length of a separator run counts (`1..0 > 1.0`), letters left over lose
//! to the end (`1.0a < 1.0`) but a separator left over wins (`1.0.a > 1.0`),
//! and the release is compared only when both versions have one
//! (`1.5 = 1.5-1`).

use std::cmp::Ordering;

/// Compares two pacman versions as `vercmp` does.
pub fn vercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (Evr::parse(a), Evr::parse(b));
    rpmvercmp(a.epoch, b.epoch)
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| match (a.release, b.release) {
            (Some(x), Some(y)) => rpmvercmp(x, y),
            _ => Ordering::Equal,
        })
}

/// `[epoch:]version[-release]` as libalpm's `parseEVR` splits it: the epoch
/// is the digits before a `:` (none: `0`), the release follows the last `-`.
struct Evr<'a> {
    epoch: &'a str,
    version: &'a str,
    release: Option<&'a str>,
}

impl<'a> Evr<'a> {
    fn parse(evr: &'a str) -> Evr<'a> {
        let digits = evr.bytes().take_while(u8::is_ascii_digit).count();
        let (epoch, rest) = match evr[digits..].strip_prefix(':') {
            Some(rest) if digits > 0 => (&evr[..digits], rest),
            Some(rest) => ("0", rest),
            None => ("0", evr),
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

fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    // `one`/`two` walk the strings; `p1`/`p2` mark where the last segment ended.
    let (mut one, mut two, mut p1, mut p2) = (0, 0, 0, 0);
    while one < a.len() && two < b.len() {
        while one < a.len() && !a[one].is_ascii_alphanumeric() {
            one += 1;
        }
        while two < b.len() && !b[two].is_ascii_alphanumeric() {
            two += 1;
        }
        if one >= a.len() || two >= b.len() {
            break;
        }
        // Separator runs of different lengths: the longer one is newer.
        if one - p1 != two - p2 {
            return (one - p1).cmp(&(two - p2));
        }
        let numeric = a[one].is_ascii_digit();
        let class: fn(&u8) -> bool = if numeric {
            u8::is_ascii_digit
        } else {
            u8::is_ascii_alphabetic
        };
        p1 = one + a[one..].iter().take_while(|c| class(c)).count();
        p2 = two + b[two..].iter().take_while(|c| class(c)).count();
        if p2 == two {
            // A number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut s1, mut s2) = (&a[one..p1], &b[two..p2]);
        if numeric {
            s1 = &s1[s1.iter().take_while(|c| **c == b'0').count()..];
            s2 = &s2[s2.iter().take_while(|c| **c == b'0').count()..];
            match s1.len().cmp(&s2.len()) {
                Ordering::Equal => {}
                longer => return longer,
            }
        }
        match s1.cmp(s2) {
            Ordering::Equal => {}
            other => return other,
        }
        one = p1;
        two = p2;
    }
    let (c1, c2) = (a.get(one), b.get(two));
    if c1.is_none() && c2.is_none() {
        return Ordering::Equal;
    }
    // Letters left over never beat the end; anything else left over wins.
    if (c1.is_none() && !c2.is_some_and(u8::is_ascii_alphabetic))
        || c1.is_some_and(u8::is_ascii_alphabetic)
    {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

/// A key that sorts as [`vercmp`] does, for versions with a release whose
/// parts neither start nor end with a separator and separate with single
/// characters (every package pacman installs from Arch's repositories);
/// `None` otherwise, where `vercmp` is not a total order. Each segment is a
/// byte for what precedes it (letters right after a number 1, the end of a
/// part 2, a number right after letters 3, letters after a separator 4, a
/// number after a separator 5), then its value.
pub fn sort_key(version: &str) -> Option<Vec<u8>> {
    let evr = Evr::parse(version);
    let mut out = lower_bound_key_of(&evr)?;
    part_key(&mut out, evr.release?)?;
    Some(out)
}

/// A key below the keys of every version not older than `bound` and above
/// every older one; a bound without a release sorts below each of its
/// releases (`vercmp` calls them all equal to it).
pub fn lower_bound_key(bound: &str) -> Option<Vec<u8>> {
    let evr = Evr::parse(bound);
    let mut out = lower_bound_key_of(&evr)?;
    if let Some(release) = evr.release {
        part_key(&mut out, release)?;
    }
    Some(out)
}

fn lower_bound_key_of(evr: &Evr<'_>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(2 * (evr.epoch.len() + evr.version.len()) + 24);
    part_key(&mut out, evr.epoch)?;
    part_key(&mut out, evr.version)?;
    Some(out)
}

fn part_key(out: &mut Vec<u8>, s: &str) -> Option<()> {
    let s = s.as_bytes();
    if s.is_empty() || !s[0].is_ascii_alphanumeric() || !s[s.len() - 1].is_ascii_alphanumeric() {
        return None;
    }
    let mut i = 0;
    let mut separated = false;
    while i < s.len() {
        let numeric = s[i].is_ascii_digit();
        let class: fn(&u8) -> bool = if numeric {
            u8::is_ascii_digit
        } else {
            u8::is_ascii_alphabetic
        };
        let end = i + s[i..].iter().take_while(|c| class(c)).count();
        if numeric {
            out.push(if separated { 5 } else { 3 });
            crate::key::push_number(out, &s[i..end]);
        } else {
            out.push(if separated { 4 } else { 1 });
            crate::key::push_text(out, &s[i..end]);
        }
        let seps = s[end..]
            .iter()
            .take_while(|c| !c.is_ascii_alphanumeric())
            .count();
        if seps > 1 {
            return None;
        }
        separated = seps == 1;
        i = end + seps;
    }
    out.push(2);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every case of pacman's own `test/util/vercmptest.sh` (pacman commit
    /// for 7.0, 2025; see `fixtures/peers/README.md`), each also mirrored as
    /// that script does.
    #[test]
    fn pacman_vercmptest_sh() {
        use Ordering::{Equal as E, Greater as G, Less as L};
        let cases = [
            ("1.5.0", "1.5.0", E),
            ("1.5.1", "1.5.0", G),
            ("1.5.1", "1.5", G),
            ("1.5.0-1", "1.5.0-1", E),
            ("1.5.0-1", "1.5.0-2", L),
            ("1.5.0-1", "1.5.1-1", L),
            ("1.5.0-2", "1.5.1-1", L),
            ("1.5-1", "1.5.1-1", L),
            ("1.5-2", "1.5.1-1", L),
            ("1.5-2", "1.5.1-2", L),
            ("1.5", "1.5-1", E),
            ("1.5-1", "1.5", E),
            ("1.1-1", "1.1", E),
            ("1.0-1", "1.1", L),
            ("1.1-1", "1.0", G),
            ("1.5b-1", "1.5-1", L),
            ("1.5b", "1.5", L),
            ("1.5b-1", "1.5", L),
            ("1.5b", "1.5.1", L),
            ("1.0a", "1.0alpha", L),
            ("1.0alpha", "1.0b", L),
            ("1.0b", "1.0beta", L),
            ("1.0beta", "1.0rc", L),
            ("1.0rc", "1.0", L),
            ("1.5.a", "1.5", G),
            ("1.5.b", "1.5.a", G),
            ("1.5.1", "1.5.b", G),
            ("1.5.b-1", "1.5.b", E),
            ("1.5-1", "1.5.b", L),
            ("2.0", "2_0", E),
            ("2.0_a", "2_0.a", E),
            ("2.0a", "2.0.a", L),
            ("2___a", "2_a", G),
            ("0:1.0", "0:1.0", E),
            ("0:1.0", "0:1.1", L),
            ("1:1.0", "0:1.0", G),
            ("1:1.0", "0:1.1", G),
            ("1:1.0", "2:1.1", L),
            ("1:1.0", "0:1.0-1", G),
            ("1:1.0-1", "0:1.1-1", G),
            ("0:1.0", "1.0", E),
            ("0:1.0", "1.1", L),
            ("0:1.1", "1.0", G),
            ("1:1.0", "1.0", G),
            ("1:1.0", "1.1", G),
            ("1:1.1", "1.1", G),
        ];
        assert_eq!(cases.len() * 2, 92, "the script plans 92 checks");
        for (a, b, want) in cases {
            assert_eq!(vercmp(a, b), want, "{a} vs {b}");
            assert_eq!(vercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn known_orderings() {
        let less = [
            ("6.6.8.arch1-1", "6.6.9.arch1-1"),
            ("1:2.0-1", "2:1.0-1"),
            ("1.0-1", "1.0-1.1"),
            ("1.0.r12.gabc-1", "1.0.r13.gdef-1"),
            ("1..0", "1...0"),
        ];
        for (a, b) in less {
            assert_eq!(vercmp(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(vercmp(b, a), Ordering::Greater, "{b} > {a}");
        }
        // Not transitive: why there is no key for such versions.
        assert_eq!(vercmp("1a.", "1a.b"), Ordering::Greater);
        assert_eq!(vercmp("1a.b", "1a1"), Ordering::Greater);
        assert_eq!(vercmp("1a1", "1a."), Ordering::Greater);
        assert_eq!(sort_key("1a.-1"), None);
        assert_eq!(sort_key("1.5"), None, "no release");
        assert!(sort_key("1.5-1").is_some());
    }

    #[test]
    fn a_bound_without_release_is_below_its_releases() {
        let bound = lower_bound_key("1.5").unwrap();
        for v in ["1.5-1", "1.5-20", "1.5.1-1"] {
            assert!(sort_key(v).unwrap() >= bound, "{v}");
        }
        for v in ["1.4-9", "1.5rc-1", "0:1.4.9-1"] {
            assert!(sort_key(v).unwrap() < bound, "{v}");
        }
    }

    /// libalpm itself is the oracle (pacman's Debian package ships the
    /// library, not the `vercmp` program): `alpm_pkg_vercmp` on each pair,
    /// through Python's ctypes, in one call.
    fn alpm_says(pairs: &[(String, String)]) -> Vec<Ordering> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let script = "import ctypes,glob,sys\n\
            lib = ctypes.CDLL(sorted(glob.glob('/usr/lib/*/libalpm.so.*'))[0])\n\
            f = lib.alpm_pkg_vercmp\n\
            f.argtypes = [ctypes.c_char_p, ctypes.c_char_p]\n\
            for line in sys.stdin.buffer:\n\
            \x20   a, b = line.rstrip(b'\\n').split(b'\\t')\n\
            \x20   print(f(a, b))\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let input: String = pairs.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write pairs");
        let out = child.wait_with_output().expect("python3 ends");
        assert!(
            out.status.success(),
            "libalpm (pacman-package-manager) is installed"
        );
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(|w| w.parse::<i32>().expect("a number").cmp(&0))
            .collect()
    }

    fn version() -> impl Strategy<Value = String> {
        "([0-3]:)?[0-9a-c][0-9a-c._]{0,6}(-[0-9a-c._]{1,3})?"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn keys_sort_as_vercmp(a in version(), b in version()) {
            if let (Some(ka), Some(kb)) = (sort_key(&a), sort_key(&b)) {
                prop_assert_eq!(ka.cmp(&kb), vercmp(&a, &b), "{} vs {}", a, b);
            }
            if let (Some(ka), Some(kb)) = (sort_key(&a), lower_bound_key(&b)) {
                prop_assert_eq!(ka < kb, vercmp(&a, &b).is_lt(), "{} below {}", a, b);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20))]
        /// 20 batches of 50 random pairs: our order must agree with libalpm's on every one.
        #[test]
        fn agrees_with_libalpm(pairs in prop::collection::vec((
            "([0-3]?:)?[0-9a-c._~^+-]{0,8}", "([0-3]?:)?[0-9a-c._~^+-]{0,8}"), 50)) {
            let theirs = alpm_says(&pairs);
            prop_assert_eq!(theirs.len(), pairs.len());
            for ((a, b), want) in pairs.iter().zip(theirs) {
                prop_assert_eq!(vercmp(a, b), want, "{} vs {}", a, b);
            }
        }
    }
}
