//! `pakiti-aggregator feeds fetch DIR`: downloads the configured feeds into
//! a folder, where a network exists (then `feeds import DIR`, or `[feeds]
//! dir = DIR` on the running aggregator, takes them). Each download is read
//! and checked whole as a feed before it replaces the file of the same
//! name, so a cut or damaged download never replaces a good feed; a feed
//! that fails leaves its previous file and the others go on.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};

/// The feeds `feeds fetch` downloads unless `[feeds] urls` says otherwise:
/// (name, URL, the file it is kept as).
pub const DEFAULT_FEEDS: [(&str, &str, &str); 6] = [
    (
        "debian",
        "https://security-tracker.debian.org/tracker/data/json",
        "debian-tracker.json",
    ),
    (
        "ubuntu",
        "https://security-metadata.canonical.com/osv/osv-all.tar.xz",
        "ubuntu-osv-all.tar.xz",
    ),
    (
        "ubuntu-vex",
        "https://security-metadata.canonical.com/vex/vex-all.tar.xz",
        "ubuntu-vex-all.tar.xz",
    ),
    (
        "arch",
        "https://security.archlinux.org/json",
        "arch-security.json",
    ),
    (
        "kev",
        "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json",
        "known_exploited_vulnerabilities.json",
    ),
    (
        "epss",
        "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz",
        "epss_scores-current.csv.gz",
    ),
];

/// The file a feed is kept as in the folder: the default's, else the last
/// part of its URL path (a pointer to Red Hat's latest archive is resolved
/// when fetched, [`latest`]).
fn file_name(name: &str, url: &str) -> anyhow::Result<String> {
    let last = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("");
    if last.is_empty() {
        bail!("feeds.urls.{name}: {url} does not end in a file name");
    }
    let base = DEFAULT_FEEDS
        .iter()
        .find(|(n, u, _)| *n == name && *u == url)
        .map(|(_, _, f)| f.to_string())
        .unwrap_or_else(|| format!("{name}-{last}"));
    if base.is_empty() || base.starts_with('.') || base.contains(['/', '\\']) || !base.is_ascii() {
        bail!("feeds.urls.{name}: {url} does not end in a file name");
    }
    Ok(base)
}

/// The feeds to fetch: `[feeds] urls` when given (name → URL), else the
/// defaults.
pub fn configured(
    urls: &BTreeMap<String, String>,
) -> anyhow::Result<Vec<(String, String, String)>> {
    if urls.is_empty() {
        return Ok(DEFAULT_FEEDS
            .iter()
            .map(|(n, u, f)| (n.to_string(), u.to_string(), f.to_string()))
            .collect());
    }
    urls.iter()
        .map(|(name, url)| {
            let parsed = reqwest::Url::parse(url).with_context(|| format!("feeds.urls.{name}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                bail!("feeds.urls.{name}: {url} is not http:// or https://");
            }
            Ok((name.clone(), url.clone(), file_name(name, url)?))
        })
        .collect()
}

/// Downloads each feed into `dir`; one line per feed, and whether all
/// succeeded.
pub fn fetch(
    dir: &Path,
    feeds: &[(String, String, String)],
) -> anyhow::Result<(Vec<String>, bool)> {
    if !dir.is_dir() {
        bail!("{}: not a folder", dir.display());
    }
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(1800))
        .user_agent(concat!("pakiti-aggregator/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("an HTTP client")?;
    let mut lines = Vec::new();
    let mut ok = true;
    for (name, url, file) in feeds {
        let resolved = latest(&client, name, url, file);
        let result = resolved.and_then(|(url, file)| one(&client, dir, &url, &file));
        match result {
            Ok(line) => lines.push(format!("{name}: {line}")),
            Err(e) => {
                ok = false;
                lines.push(format!(
                    "{name}: not fetched, the previous file stays: {e:#}"
                ));
            }
        }
    }
    Ok((lines, ok))
}

/// Red Hat publishes its CSAF VEX bulk archive under a dated name
/// (`csaf_vex_2026-12-01.tar.zst`) that `archive_latest.txt`, beside it,
/// names. A feed URL naming that pointer is followed: the archive it names
/// is fetched, and kept as `NAME.tar.zst` (its own extensions), one file
/// that each new archive replaces. Any other URL is fetched as it is.
fn latest(
    client: &reqwest::blocking::Client,
    name: &str,
    url: &str,
    file: &str,
) -> anyhow::Result<(String, String)> {
    let Some(folder) = url.strip_suffix("archive_latest.txt") else {
        return Ok((url.to_string(), file.to_string()));
    };
    let resp = client
        .get(url)
        .send()
        .with_context(|| format!("GET {url}"))?;
    if !resp.status().is_success() {
        bail!("GET {url}: {}", resp.status());
    }
    let text = resp.text().with_context(|| format!("GET {url}"))?;
    let latest = text.trim();
    let safe = !latest.is_empty()
        && latest.len() < 200
        && latest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !latest.starts_with('.');
    let Some((_, ext)) = latest.split_once('.').filter(|_| safe) else {
        bail!("{url}: {latest:?} does not name an archive beside it");
    };
    Ok((format!("{folder}{latest}"), format!("{name}.{ext}")))
}

fn one(
    client: &reqwest::blocking::Client,
    dir: &Path,
    url: &str,
    file: &str,
) -> anyhow::Result<String> {
    let mut resp = client
        .get(url)
        .send()
        .with_context(|| format!("GET {url}"))?;
    if !resp.status().is_success() {
        bail!("GET {url}: {}", resp.status());
    }
    // Beside the file, under a name the feed folder's readers skip (a dot
    // file) until it is checked.
    let part: PathBuf = dir.join(format!(".{file}.part"));
    let result = (|| {
        let mut out =
            std::fs::File::create(&part).with_context(|| format!("{}", part.display()))?;
        let bytes = resp
            .copy_to(&mut out)
            .with_context(|| format!("GET {url}: the download was cut"))?;
        out.flush()?;
        out.sync_all()?;
        drop(out);
        // Read back as the importer reads it: under its final name's
        // extension, so compression and format are judged the same way.
        let probe = dir.join(format!(".{file}.check.{file}"));
        std::fs::rename(&part, &probe)?;
        let checked = crate::feeds::read(&probe);
        let renamed = match &checked {
            Ok(_) => std::fs::rename(&probe, dir.join(file)).map_err(anyhow::Error::from),
            Err(_) => {
                let _ = std::fs::remove_file(&probe);
                Ok(())
            }
        };
        let feed = checked.with_context(|| format!("{url}: not a feed"))?;
        renamed?;
        Ok(format!(
            "{} ({bytes} bytes, {} records, sha256 {})",
            dir.join(file).display(),
            feed.status.records,
            feed.status.sha256
        ))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_are_kept_under_safe_names() {
        let all = configured(&BTreeMap::new()).unwrap();
        assert_eq!(all[0].2, "debian-tracker.json");
        assert_eq!(all[1].2, "ubuntu-osv-all.tar.xz");
        let mirror = BTreeMap::from([(
            "ubuntu".to_string(),
            "http://mirror.local/osv/osv-all.tar.xz?x=1".to_string(),
        )]);
        assert_eq!(configured(&mirror).unwrap()[0].2, "ubuntu-osv-all.tar.xz");
        for bad in ["ftp://m/x.json", "http://m/", "not a url"] {
            let m = BTreeMap::from([("debian".to_string(), bad.to_string())]);
            assert!(configured(&m).is_err(), "{bad}");
        }
    }
}
