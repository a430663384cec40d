//! `pakiti-aggregator feeds import PATH...`: vulnerability feeds from files
//! the operator downloaded (machines need no internet). Each file is read
//! and checked before anything is stored, then its feed's records are
//! replaced in one transaction: a bad file changes nothing.
//!
//! Formats, recognised by content: the Debian security tracker's JSON; Arch
//! Linux's security tracker (`security.archlinux.org/json`, an array);
//! Alpine's secdb (`secdb.alpinelinux.org/v3.20/main.json`); OSV
//! documents (Ubuntu's `osv-all.tar.xz`, OSV's `<Ecosystem>/all.zip` of
//! Debian, Alpine, AlmaLinux or Rocky Linux advisories, or one `.json`);
//! Ubuntu's OpenVEX documents (its VEX tarball, or one `.json`). Files are
//! decompressed by their name (`.gz`, `.bz2`, `.xz`, `.zst`), archives
//! (`.tar` so compressed, `.zip`) read one document at a time, and the
//! tracker as a stream: no feed is ever whole in memory.
//!
//! A feed's name says what it holds, so files of different vendors are
//! different feeds: `debian` (the tracker), `arch`, `alpine-secdb-3.20-main`
//! (one per branch and repository), `ubuntu` (Ubuntu's OSV),
//! `ubuntu-vex`, and `osv-<distributions>` for OSV of others (`osv-debian`,
//! `osv-alpine`, `osv-almalinux`, `osv-rocky`, or joined by `+`).
//!
//! Beside them, the priorities others publish (`scores.rs`): CISA's Known
//! Exploited Vulnerabilities catalog (`kev`, its JSON) and FIRST's EPSS
//! scores (`epss`, its CSV, gzipped or not). They say nothing of packages:
//! importing only them rematches no host.

use std::io::{BufRead as _, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context as _};
use pakiti_store::{FeedStatus, Store};
use pakiti_vulns::Record;
use sha2::{Digest as _, Sha256};

mod documents;
mod scores;
pub use documents::feed_name;
use documents::{kind, read_tar, read_zip, Documents, Kind, MAX_DOCUMENT};
pub use scores::{is_score_feed, SCORE_FEEDS};

/// One feed file read and checked.
pub struct Feed {
    pub status: FeedStatus,
    pub content: Content,
}

/// What a feed holds.
pub enum Content {
    /// What vendors say of their packages.
    Records(Vec<Record>),
    /// Priorities others publish (KEV, EPSS).
    Scores(Vec<pakiti_store::Score>),
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

/// How a file is compressed, by its name; and its name without that.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

fn compression(name: &str) -> (Compression, String) {
    for (ext, c, inner) in [
        (".gz", Compression::Gzip, ""),
        (".tgz", Compression::Gzip, ".tar"),
        (".bz2", Compression::Bzip2, ""),
        (".tbz2", Compression::Bzip2, ".tar"),
        (".xz", Compression::Xz, ""),
        (".txz", Compression::Xz, ".tar"),
        (".zst", Compression::Zstd, ""),
        (".tzst", Compression::Zstd, ".tar"),
    ] {
        if let Some(stem) = name.strip_suffix(ext) {
            return (c, format!("{stem}{inner}"));
        }
    }
    (Compression::None, name.to_string())
}

/// The decompressed bytes of `inner`.
fn decompressed<'a>(c: Compression, inner: impl Read + 'a) -> anyhow::Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => Box::new(inner),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(inner)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(inner)),
        Compression::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(inner)),
        Compression::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(inner)
                .map_err(|e| anyhow::anyhow!("not zstd: {e}"))?,
        ),
    })
}

/// Passes bytes through while hashing them.
struct Hashing<R> {
    inner: R,
    sha: std::rc::Rc<std::cell::RefCell<Sha256>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.borrow_mut().update(&buf[..n]);
        Ok(n)
    }
}

pub(super) type Sha = std::rc::Rc<std::cell::RefCell<Sha256>>;

pub(super) fn hex(sha: &Sha) -> String {
    sha.borrow()
        .clone()
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The file, read through a hash of its bytes as they are.
fn open_hashing(path: &Path) -> anyhow::Result<(Hashing<std::io::BufReader<std::fs::File>>, Sha)> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let sha: Sha = Default::default();
    Ok((
        Hashing {
            inner: std::io::BufReader::with_capacity(1 << 20, file),
            sha: sha.clone(),
        },
        sha,
    ))
}

/// A feed that is one document of its own (the Debian and Arch trackers,
/// Alpine's secdb): it has no time of its own, so its file's is its time.
fn one_file_feed(name: String, path: &Path, sha: &Sha, records: Vec<Record>) -> Feed {
    Feed {
        status: FeedStatus {
            name,
            source: path.display().to_string(),
            sha256: hex(sha),
            imported_at: SystemTime::now(),
            records: records.len() as u64,
            feed_time: std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        },
        content: Content::Records(records),
    }
}

/// Reads one feed file: decompressed by its name, its format recognised by
/// its content, every record checked.
pub fn read(path: &Path) -> anyhow::Result<Feed> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let (c, inner) = compression(name);
    if inner.ends_with(".zip") {
        if c != Compression::None {
            bail!(
                "{}: a compressed zip archive: decompress it first",
                path.display()
            );
        }
        return read_zip(path);
    }
    let (hashing, sha) = open_hashing(path)?;
    let mut decoded = std::io::BufReader::with_capacity(
        1 << 20,
        decompressed(c, hashing).with_context(|| format!("{}", path.display()))?,
    );
    if inner.ends_with(".tar") {
        return read_tar(path, decoded, &sha);
    }
    let head = decoded
        .fill_buf()
        .with_context(|| {
            format!(
                "{}: not readable as named (compression by its name)",
                path.display()
            )
        })?
        .to_vec();
    match kind(&head) {
        None => bail!(
            "{}: not a feed this aggregator reads (the Debian security tracker's JSON, from /tracker/data/json; Arch's, from security.archlinux.org/json; Alpine's secdb; OSV, OpenVEX or CSAF VEX documents, or their archives: osv-all.tar.xz, all.zip, vex-all.tar.xz, csaf_vex_….tar.zst; CISA's KEV JSON; FIRST's EPSS CSV)",
            path.display()
        ),
        Some(Kind::Kev) => scores::kev(path, &mut decoded, &sha),
        Some(Kind::Epss) => scores::epss(path, &mut decoded, &sha),
        Some(Kind::Secdb) => {
            let mut json = Vec::new();
            (&mut decoded)
                .take(MAX_DOCUMENT + 1)
                .read_to_end(&mut json)
                .with_context(|| format!("{}", path.display()))?;
            if json.len() as u64 > MAX_DOCUMENT {
                bail!("{}: larger than {MAX_DOCUMENT} bytes", path.display());
            }
            let mut records = Vec::new();
            let of = pakiti_vulns::secdb::read(&json, |r| records.push(r)).with_context(|| {
                format!("{}: not Alpine's secdb JSON", path.display())
            })?;
            // One feed per branch and repository: main and community of
            // 3.20 are two.
            let name = format!(
                "alpine-secdb-{}-{}",
                of.release.trim_start_matches("alpine:"),
                of.repository
            );
            Ok(one_file_feed(name, path, &sha, records))
        }
        Some(Kind::Arch) => {
            let mut records = Vec::new();
            pakiti_vulns::arch::read(&mut decoded, |r| records.push(r)).with_context(|| {
                format!("{}: not Arch's security tracker JSON", path.display())
            })?;
            std::io::copy(&mut decoded, &mut std::io::sink())
                .with_context(|| format!("{}", path.display()))?;
            Ok(one_file_feed("arch".into(), path, &sha, records))
        }
        Some(Kind::Tracker) => {
            let mut records = Vec::new();
            pakiti_vulns::debian::read(&mut decoded, |r| records.push(r)).with_context(|| {
                format!("{}: not the Debian security tracker's JSON", path.display())
            })?;
            // The rest of the file counts in its hash too.
            std::io::copy(&mut decoded, &mut std::io::sink())
                .with_context(|| format!("{}", path.display()))?;
            Ok(one_file_feed("debian".into(), path, &sha, records))
        }
        Some(_) => {
            let mut text = Vec::new();
            (&mut decoded)
                .take(MAX_DOCUMENT + 1)
                .read_to_end(&mut text)
                .with_context(|| format!("{}", path.display()))?;
            if text.len() as u64 > MAX_DOCUMENT {
                bail!("{}: a document larger than {MAX_DOCUMENT} bytes", path.display());
            }
            let mut docs = Documents::default();
            docs.add(&text, &path.display().to_string())?;
            docs.feed(path, hex(&sha))
        }
    }
}

/// Reads every file first (nothing is stored if one is bad, or older than
/// the loaded feed of its name unless `allow_older`), then stores each
/// feed; returns one line per feed for the operator, and whether the hosts
/// need rematching (a feed of package records was among them).
pub fn import(
    store: &dyn Store,
    paths: &[PathBuf],
    allow_older: bool,
) -> anyhow::Result<(Vec<String>, bool)> {
    let feeds = read_all(paths)?;
    if !allow_older {
        refuse_older(store, &feeds)?;
    }
    let rematch = needs_rematch(&feeds);
    Ok((store_all(store, feeds)?, rematch))
}

/// Whether storing these feeds changes what hosts match.
pub fn needs_rematch(feeds: &[Feed]) -> bool {
    feeds
        .iter()
        .any(|f| matches!(f.content, Content::Records(_)))
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
        match feed.content {
            Content::Records(records) => store.import_feed(&feed.status, records),
            Content::Scores(scores) => store.import_scores(&feed.status, scores),
        }
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
