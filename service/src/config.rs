//! Configuration files: TOML, read strictly by the caller's types.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde::de::DeserializeOwned;

/// Reads a TOML configuration. A missing file is an error only when the user
/// named it; the default path may be absent (then `T::default()`).
pub fn load_toml<T: DeserializeOwned + Default>(
    path: Option<&Path>,
    default_path: &str,
) -> anyhow::Result<T> {
    let (path, explicit) = match path {
        Some(p) => (p, true),
        None => (Path::new(default_path), false),
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(T::default()),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read config file {}", path.display()))
        }
    };
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

/// Parses `30s`, `5m`, `1h 30m`, `2d`; the error names the setting.
pub fn duration(field: &str, value: &str) -> anyhow::Result<Duration> {
    humantime::parse_duration(value)
        .with_context(|| format!("{field} {value:?} is not a duration such as 30s, 5m or 1h"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        #[allow(dead_code)]
        a: Option<u32>,
    }

    #[test]
    fn absent_default_means_defaults_and_a_named_file_must_exist() {
        let c: Cfg = load_toml(None, "/nonexistent/default.toml").unwrap();
        assert!(c.a.is_none());
        let e = load_toml::<Cfg>(Some(Path::new("/nonexistent/x.toml")), "/d").unwrap_err();
        assert!(format!("{e:#}").contains("cannot read config file /nonexistent/x.toml"));
        assert_eq!(duration("x", "5m").unwrap(), Duration::from_secs(300));
        assert!(
            format!("{:#}", duration("server.stale_after", "soon").unwrap_err())
                .contains("server.stale_after")
        );
    }
}
