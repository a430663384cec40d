//! `pakiti-aggregator feeds import PATH...`: vulnerability feeds from files
//! the operator downloaded (machines need no internet). Each file is read
//! whole and checked before anything is stored, then its feed's records are
//! replaced in one transaction: a bad file changes nothing.
//!
//! Formats read today: the Debian security tracker's JSON (plain or `.gz`),
//! and Ubuntu's OSV: one document (`.json`) or an archive of them
//! (`osv-all.tar.xz`; `.tar`, `.tar.gz` too), read as a stream.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context as _};
use pakiti_store::{FeedStatus, Store};
use pakiti_vulns::Record;
use sha2::{Digest as _, Sha256};

/// One feed file read and checked.
pub struct Feed {
    pub status: FeedStatus,
    pub records: Vec<Record>,
}

fn is_hidden(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// The files `paths` name: each file, and the files of each folder (sorted;
/// not its dot files).
pub fn files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("{}", p.display()))?;
        if meta.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("{}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                // Dot files are downloads in progress (`feeds fetch`).
                .filter(|f| f.is_file() && !is_hidden(f))
                .collect();
            inside.sort();
            out.extend(inside);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Reads one feed file: decompressed by its name, its format recognised by
/// its content, every record checked.
pub fn read(path: &Path) -> anyhow::Result<Feed> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if [".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz"]
        .iter()
        .any(|e| name.ends_with(e))
    {
        return read_osv_archive(path);
    }
    let raw = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let sha256: String = Sha256::digest(&raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let text = if name.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .with_context(|| format!("{}: not gzip", path.display()))?;
        out
    } else if let Some(ext) = [".bz2", ".xz", ".zst"].iter().find(|e| name.ends_with(*e)) {
        bail!(
            "{}: {ext} files are not read yet: decompress it first, or use the plain or .gz file",
            path.display()
        )
    } else {
        raw
    };
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        bail!(
            "{}: not a feed this aggregator reads (the Debian security tracker's JSON, from /tracker/data/json; Ubuntu's OSV documents, or osv-all.tar.xz)",
            path.display()
        );
    }
    let mut records = Vec::new();
    if is_osv_document(&text) {
        let one = pakiti_vulns::osv::read_one(&text, |r| records.push(r))
            .with_context(|| format!("{}: not an OSV document", path.display()))?;
        return osv_feed(path, sha256, records, one.modified);
    }
    pakiti_vulns::debian::read(text.as_slice(), |r| records.push(r))
        .with_context(|| format!("{}: not the Debian security tracker's JSON", path.display()))?;
    Ok(Feed {
        status: FeedStatus {
            name: "debian".into(),
            source: path.display().to_string(),
            sha256,
            imported_at: SystemTime::now(),
            records: records.len() as u64,
            // The tracker has no time of its own: its file's.
            feed_time: std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        },
        records,
    })
}

/// Whether a JSON object is an OSV document: its first key is one of the
/// schema's (the tracker's first key is a source package's name).
fn is_osv_document(text: &[u8]) -> bool {
    let head = &text[..text.len().min(4096)];
    let Some(start) = head.iter().position(|b| *b == b'"') else {
        return false;
    };
    let Some(len) = head[start + 1..].iter().position(|b| *b == b'"') else {
        return false;
    };
    matches!(
        &head[start + 1..start + 1 + len],
        b"schema_version"
            | b"id"
            | b"modified"
            | b"published"
            | b"withdrawn"
            | b"aliases"
            | b"related"
            | b"summary"
            | b"details"
            | b"severity"
            | b"affected"
    )
}

/// The Ubuntu feed from OSV records (none: not an Ubuntu feed).
fn osv_feed(
    path: &Path,
    sha256: String,
    records: Vec<Record>,
    feed_time: Option<SystemTime>,
) -> anyhow::Result<Feed> {
    if records.is_empty() {
        bail!(
            "{}: no record of an Ubuntu release (ecosystems Ubuntu:22.04:LTS, Ubuntu:Pro:…): only Ubuntu's OSV is read yet",
            path.display()
        );
    }
    Ok(Feed {
        status: FeedStatus {
            name: "ubuntu".into(),
            source: path.display().to_string(),
            sha256,
            imported_at: SystemTime::now(),
            records: records.len() as u64,
            feed_time,
        },
        records,
    })
}

/// Passes bytes through while hashing them.
struct Hashing<R> {
    inner: R,
    sha: std::rc::Rc<std::cell::RefCell<Sha256>>,
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.borrow_mut().update(&buf[..n]);
        Ok(n)
    }
}

/// The largest document an archive may hold (Ubuntu's largest is a few MB).
const MAX_DOCUMENT: u64 = 64 << 20;

/// An archive of OSV documents, streamed: one document in memory at a time.
fn read_osv_archive(path: &Path) -> anyhow::Result<Feed> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let sha = std::rc::Rc::new(std::cell::RefCell::new(Sha256::new()));
    let hashing = Hashing {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        sha: sha.clone(),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let decoded: Box<dyn std::io::Read> = if name.ends_with(".xz") || name.ends_with(".txz") {
        Box::new(xz2::read::XzDecoder::new_multi_decoder(hashing))
    } else if name.ends_with(".gz") || name.ends_with(".tgz") {
        Box::new(flate2::read::MultiGzDecoder::new(hashing))
    } else {
        Box::new(hashing)
    };
    let mut archive = tar::Archive::new(decoded);
    let mut records = Vec::new();
    let mut documents = 0u64;
    let mut newest: Option<SystemTime> = None;
    let mut buf = Vec::new();
    for entry in archive
        .entries()
        .with_context(|| format!("{}: not a tar archive", path.display()))?
    {
        let mut entry =
            entry.with_context(|| format!("{}: a damaged tar archive", path.display()))?;
        let inner = entry
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if !entry.header().entry_type().is_file() || !inner.ends_with(".json") {
            continue;
        }
        if entry.size() > MAX_DOCUMENT {
            bail!(
                "{}: {inner} is larger than {MAX_DOCUMENT} bytes",
                path.display()
            );
        }
        buf.clear();
        entry
            .read_to_end(&mut buf)
            .with_context(|| format!("{}: {inner}", path.display()))?;
        let one = pakiti_vulns::osv::read_one(&buf, |r| records.push(r))
            .with_context(|| format!("{}: {inner} is not an OSV document", path.display()))?;
        newest = newest.max(one.modified);
        documents += 1;
    }
    // The rest of the file counts in its hash too.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink())
        .with_context(|| format!("{}", path.display()))?;
    if documents == 0 {
        bail!(
            "{}: no OSV document (*.json) in the archive",
            path.display()
        );
    }
    let sha256: String = sha
        .borrow()
        .clone()
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    osv_feed(path, sha256, records, newest)
}

/// Reads every file first (nothing is stored if one is bad, or older than
/// the loaded feed of its name unless `allow_older`), then stores each
/// feed; returns one line per feed for the operator.
pub fn import(
    store: &dyn Store,
    paths: &[PathBuf],
    allow_older: bool,
) -> anyhow::Result<Vec<String>> {
    let feeds = read_all(paths)?;
    if !allow_older {
        refuse_older(store, &feeds)?;
    }
    store_all(store, feeds)
}

/// Fails when a feed is older than the loaded one of its name (by their own
/// times: an older download must not replace a newer feed).
pub fn refuse_older(store: &dyn Store, feeds: &[Feed]) -> anyhow::Result<()> {
    let loaded = store.feeds().context("reading the loaded feeds")?;
    for f in feeds {
        let Some(l) = loaded.iter().find(|l| l.name == f.status.name) else {
            continue;
        };
        if let (Some(new), Some(old)) = (f.status.feed_time, l.feed_time) {
            if new < old {
                bail!(
                    "{} ({}) is older than the loaded {} feed ({}, from {}); pass --allow-older to import it anyway",
                    f.status.source,
                    humantime::format_rfc3339_seconds(new),
                    f.status.name,
                    humantime::format_rfc3339_seconds(old),
                    l.source
                );
            }
        }
    }
    Ok(())
}

/// Reads and checks the feed files `paths` name, one file per feed.
pub fn read_all(paths: &[PathBuf]) -> anyhow::Result<Vec<Feed>> {
    let files = files(paths)?;
    if files.is_empty() {
        bail!(
            "no feed file in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut feeds: Vec<Feed> = Vec::new();
    for f in &files {
        let feed = read(f)?;
        if let Some(other) = feeds.iter().find(|x| x.status.name == feed.status.name) {
            bail!(
                "{} and {} are both the {} feed: import one",
                other.status.source,
                feed.status.source,
                feed.status.name
            );
        }
        feeds.push(feed);
    }
    Ok(feeds)
}

/// Stores each feed (each replaced whole); one line per feed.
pub fn store_all(store: &dyn Store, feeds: Vec<Feed>) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for feed in feeds {
        let line = format!(
            "{}: {} records from {} (sha256 {})",
            feed.status.name, feed.status.records, feed.status.source, feed.status.sha256
        );
        store
            .import_feed(&feed.status, feed.records)
            .with_context(|| format!("storing the {} feed", feed.status.name))?;
        lines.push(line);
    }
    Ok(lines)
}

/// The feeds of `feeds` whose file differs from the one last imported for
/// that feed (by SHA-256).
pub fn changed(store: &dyn Store, feeds: Vec<Feed>) -> anyhow::Result<Vec<Feed>> {
    let loaded = store.feeds().context("reading the loaded feeds")?;
    Ok(feeds
        .into_iter()
        .filter(|f| {
            !loaded
                .iter()
                .any(|l| l.name == f.status.name && l.sha256 == f.status.sha256)
        })
        .collect())
}
