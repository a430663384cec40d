//! The digest of an installed inventory: what lets a host say "my inventory
//! is the one you have" instead of sending a thousand packages again, and
//! what the aggregator stores to check that claim. SHA-256 over a canonical
//! text (each entry's fields separated by tabs, one line per entry, the
//! entries sorted by their fields, so the order a tool lists them in does not
//! matter; fields are tokens, so neither separator can occur in one), written
//! as 64 lowercase hex digits. Stable across releases of anything.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use crate::model::{Installed, InstalledDelta};

pub fn installed_digest(installed: &[Installed]) -> String {
    digest_of_fields(
        installed
            .iter()
            .map(|p| {
                [
                    p.name.as_str(),
                    &p.version,
                    &p.arch,
                    &p.source_name,
                    &p.source_version,
                    p.module.as_deref().unwrap_or(""),
                ]
            })
            .collect(),
    )
}

/// [`installed_digest`] of entries given as their fields: name, version,
/// arch, source name, source version and module (`""` for none).
pub fn digest_of_fields(entries: Vec<[&str; 6]>) -> String {
    // Sorted by name, arch, version, then the rest. The first 16 bytes of
    // the name, as a number, decide most comparisons (fields never hold a
    // NUL byte, so padding with zeros keeps the order of the strings).
    let prefix = |s: &str| {
        let mut b = [0u8; 16];
        let n = s.len().min(16);
        b[..n].copy_from_slice(&s.as_bytes()[..n]);
        u128::from_be_bytes(b)
    };
    let mut keyed: Vec<(u128, [&str; 6])> =
        entries.into_iter().map(|e| (prefix(e[0]), e)).collect();
    keyed.sort_unstable_by(|(pa, a), (pb, b)| {
        pa.cmp(pb).then_with(|| {
            (a[0], a[2], a[1], a[3], a[4], a[5]).cmp(&(b[0], b[2], b[1], b[3], b[4], b[5]))
        })
    });
    let mut text = Vec::with_capacity(keyed.len() * 64);
    for (_, fields) in keyed {
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                text.push(b'\t');
            }
            text.extend_from_slice(field.as_bytes());
        }
        text.push(b'\n');
    }
    Sha256::digest(&text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What turns `old`, the inventory of digest `base`, into `new`: the
/// entries of `new` that `old` lacks, field for field, and those of `old`
/// that `new` lacks.
pub fn installed_delta(base: &str, old: &[Installed], new: &[Installed]) -> InstalledDelta {
    let (old_set, new_set): (HashSet<&Installed>, HashSet<&Installed>) =
        (old.iter().collect(), new.iter().collect());
    InstalledDelta {
        base: base.to_string(),
        added: new
            .iter()
            .filter(|p| !old_set.contains(p))
            .cloned()
            .collect(),
        removed: old
            .iter()
            .filter(|p| !new_set.contains(p))
            .cloned()
            .collect(),
    }
}

/// Whether `s` is written as [`installed_digest`] writes digests.
pub fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical text, sorted the plain way.
    fn reference(installed: &[Installed]) -> String {
        let mut lines: Vec<(&str, &str, &str, &str, &str, &str)> = installed
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.arch.as_str(),
                    p.version.as_str(),
                    p.source_name.as_str(),
                    p.source_version.as_str(),
                    p.module.as_deref().unwrap_or(""),
                )
            })
            .collect();
        lines.sort();
        let text: String = lines
            .iter()
            .map(|(n, a, v, sn, sv, m)| format!("{n}\t{v}\t{a}\t{sn}\t{sv}\t{m}\n"))
            .collect();
        Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn the_order_of_the_text_is_that_of_the_fields() {
        // Names that are prefixes of one another, share their first 16
        // bytes, differ past them, or repeat with other arches and versions.
        let names = [
            "a",
            "ab",
            "a-b",
            "a+",
            "libpython3.11-minimal",
            "libpython3.11-stdlib",
            "libpython3.11",
            "libpython3.1",
            "linux-image-6.1.0-18-amd64",
            "linux-image-6.1.0-18-amd64-dbg",
            "zzzzzzzzzzzzzzzz",
            "zzzzzzzzzzzzzzzza",
            "zzzzzzzzzzzzzzz",
        ];
        let mut list = Vec::new();
        for (i, n) in names.iter().enumerate() {
            for (j, arch) in ["amd64", "all", "i386"].iter().enumerate().take(1 + i % 3) {
                list.push(Installed {
                    source_name: format!("src{}", (i * 7 + j) % 4),
                    module: (i % 4 == 1).then(|| format!("m:{j}")),
                    ..Installed::new(n, &format!("1.{}-{}", (i * 5 + j) % 3, j), arch)
                });
            }
        }
        for rotation in 0..list.len() {
            let mut l = list.clone();
            l.rotate_left(rotation);
            if rotation % 2 == 1 {
                l.reverse();
            }
            assert_eq!(
                installed_digest(&l),
                reference(&list),
                "rotation {rotation}"
            );
        }
    }

    #[test]
    fn the_digest_is_sha256_of_the_canonical_text() {
        let inv = [
            Installed::new("bash", "5.2.15-2", "amd64"),
            Installed {
                module: Some("m:1".into()),
                ..Installed::new("x", "1", "all")
            },
        ];
        // printf 'bash\t5.2.15-2\tamd64\tbash\t5.2.15-2\t\nx\t1\tall\tx\t1\tm:1\n' | sha256sum
        let out = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().expect("stdin").write_all(
                    b"bash\t5.2.15-2\tamd64\tbash\t5.2.15-2\t\nx\t1\tall\tx\t1\tm:1\n",
                )?;
                c.wait_with_output()
            })
            .expect("sha256sum runs");
        let want = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            installed_digest(&inv),
            want.split_whitespace().next().unwrap()
        );
        let mut reversed = inv.clone();
        reversed.reverse();
        assert_eq!(
            installed_digest(&reversed),
            installed_digest(&inv),
            "order does not matter"
        );
        assert!(is_digest(&installed_digest(&[])));
        assert!(!is_digest("ABC"));
        assert!(!is_digest(&"A".repeat(64)));
    }
}
