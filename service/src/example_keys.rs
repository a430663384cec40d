//! Keeps an example configuration and the code that reads it in step: every
//! key the example names (set or commented out) is one the code takes, and
//! every key the code takes is in the example. The code's keys are asked of
//! serde itself: a table with an unknown key is refused with the list of the
//! keys that table takes (`deny_unknown_fields`).

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;

const PROBE: &str = "zz_not_a_key";

/// The keys the code takes in the table `header` (`""` for the top level,
/// `[server]`, `[[client]]`); `None` when the table takes any key (a map).
fn code_keys<T: DeserializeOwned>(header: &str) -> Option<BTreeSet<String>> {
    let text = format!("{header}\n{PROBE} = 1\n");
    let err = toml::from_str::<T>(&text).err()?.to_string();
    let list = err.split("unknown field `").nth(1)?;
    let expected = list.split_once("expected ")?.1;
    Some(
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect(),
    )
}

/// The tables of the example (`[a]`, `[[a.b]]`, commented out or not) and
/// the keys each names.
fn example_keys(example: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut tables: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    tables.insert(String::new(), (String::new(), BTreeSet::new()));
    let mut current = String::new();
    for line in example.lines() {
        let l = line.trim_start_matches('#').trim();
        if l.starts_with('[') && l.ends_with(']') && !l.contains(' ') && !l.contains('"') {
            let name = l.trim_matches(|c| c == '[' || c == ']').to_string();
            // A table is a key of its parent.
            let (parent, own) = name.rsplit_once('.').unwrap_or(("", &name));
            if let Some(p) = tables.get_mut(parent) {
                p.1.insert(own.to_string());
            }
            tables
                .entry(name.clone())
                .or_insert_with(|| (l.to_string(), BTreeSet::new()));
            current = name;
            continue;
        }
        let Some((key, _)) = l.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            if let Some(t) = tables.get_mut(&current) {
                t.1.insert(key.to_string());
            }
        }
    }
    tables
}

/// What differs between the example and the code `T`: keys the example
/// names that the code does not take, and keys the code takes that the
/// example does not name, each as `table.key`. Tables the code takes any
/// key in (maps) are not compared.
pub fn differences<T: DeserializeOwned>(example: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (name, (header, keys)) in example_keys(example) {
        let Some(code) = code_keys::<T>(&header) else {
            continue;
        };
        let at = |k: &str| {
            if name.is_empty() {
                k.to_string()
            } else {
                format!("{name}.{k}")
            }
        };
        out.extend(
            keys.difference(&code)
                .map(|k| format!("{}: in the example, not taken by the code", at(k))),
        );
        out.extend(
            code.difference(&keys)
                .map(|k| format!("{}: taken by the code, not in the example", at(k))),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Top {
        a: Option<u32>,
        sub: Option<Sub>,
        #[serde(default)]
        many: Vec<Sub>,
        #[serde(default)]
        map: BTreeMap<String, String>,
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sub {
        x: Option<String>,
        y: Option<String>,
    }

    #[test]
    fn keys_missing_on_either_side_are_named() {
        let example = "a = 1\n[sub]\nx = \"1\"\n# y = \"2\"\n#[[many]]\n#x = \"\"\n#y = \"\"\n[map]\nanything = \"1\"\n";
        assert_eq!(differences::<Top>(example), Vec::<String>::new());
        let example = "a = 1\nb = 2\n[sub]\nx = \"1\"\n[map]\n";
        assert_eq!(
            differences::<Top>(example),
            [
                "b: in the example, not taken by the code",
                "many: taken by the code, not in the example",
                "sub.y: taken by the code, not in the example",
            ]
        );
    }
}
