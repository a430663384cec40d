//! The documents of a feed file, recognised by their first key (OSV, OpenVEX,
//! CSAF VEX, the single-document feeds), and the archives that hold many
//! (`.tar`, compressed or not, and `.zip`), read one document at a time.

use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use anyhow::{bail, Context as _};
use pakiti_store::FeedStatus;
use pakiti_vulns::Record;

use super::{hex, open_hashing, Feed, Sha};

/// What a JSON document is, by its first key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Osv,
    Vex,
    /// The Debian tracker: its first key is a source package's name.
    Tracker,
    /// Arch's tracker: an array of vulnerability groups.
    Arch,
    /// Alpine's secdb: one branch and repository.
    Secdb,
    /// Red Hat's CSAF VEX: one document per CVE.
    Csaf,
    /// CISA's Known Exploited Vulnerabilities catalog.
    Kev,
    /// FIRST's EPSS scores (CSV).
    Epss,
}

pub(super) fn kind(head: &[u8]) -> Option<Kind> {
    let head = &head[..head.len().min(4096)];
    if pakiti_decisions::epss::looks_like(head) {
        return Some(Kind::Epss);
    }
    if pakiti_decisions::kev::looks_like(head) {
        return Some(Kind::Kev);
    }
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        return Some(Kind::Arch);
    }
    if first != Some(&b'{') {
        return None;
    }
    let Some(start) = head.iter().position(|b| *b == b'"') else {
        return Some(Kind::Tracker);
    };
    let Some(len) = head[start + 1..].iter().position(|b| *b == b'"') else {
        return Some(Kind::Tracker);
    };
    Some(match &head[start + 1..start + 1 + len] {
        b"schema_version" | b"id" | b"modified" | b"published" | b"withdrawn" | b"aliases"
        | b"upstream" | b"related" | b"summary" | b"details" | b"severity" | b"affected" => {
            Kind::Osv
        }
        b"@context" | b"@id" | b"metadata" | b"statements" | b"author" | b"timestamp"
        | b"version" => Kind::Vex,
        b"apkurl" | b"archs" | b"reponame" | b"urlprefix" | b"distroversion" => Kind::Secdb,
        b"document" | b"product_tree" => Kind::Csaf,
        _ => Kind::Tracker,
    })
}

/// The documents of a feed file as they are read.
#[derive(Default)]
pub(super) struct Documents {
    /// The document being read (one in memory at a time).
    buf: Vec<u8>,
    records: Vec<Record>,
    osv: u64,
    vex: u64,
    csaf: u64,
    /// Product entries of CSAF documents that name no host's release.
    csaf_left_out: u64,
    newest: Option<SystemTime>,
}

impl Documents {
    /// Reads one document of an archive, of `size` bytes as the archive
    /// says (at most [`MAX_DOCUMENT`]).
    pub(super) fn read(
        &mut self,
        entry: &mut impl Read,
        size: u64,
        what: &str,
    ) -> anyhow::Result<()> {
        if size > MAX_DOCUMENT {
            bail!("{what} is larger than {MAX_DOCUMENT} bytes");
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        entry
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut buf)
            .with_context(|| what.to_string())?;
        let added = self.add(&buf, what);
        self.buf = buf;
        added
    }

    /// Reads one OSV or OpenVEX document (`what` names it in errors).
    pub(super) fn add(&mut self, json: &[u8], what: &str) -> anyhow::Result<()> {
        let records = &mut self.records;
        let one = match kind(json) {
            Some(Kind::Osv) => {
                self.osv += 1;
                pakiti_vulns::osv::read_one(json, |r| records.push(r))
                    .with_context(|| format!("{what} is not an OSV document"))?
            }
            Some(Kind::Vex) => {
                self.vex += 1;
                pakiti_vulns::vex::read_one(json, |r| records.push(r))
                    .with_context(|| format!("{what} is not an OpenVEX document"))?
            }
            Some(Kind::Csaf) => {
                self.csaf += 1;
                let one = pakiti_vulns::csaf::read_one(json, |r| records.push(r))
                    .with_context(|| format!("{what} is not a CSAF VEX document"))?;
                self.csaf_left_out += one.left_out as u64;
                self.newest = self.newest.max(one.modified);
                return Ok(());
            }
            _ => bail!("{what} is neither an OSV, an OpenVEX nor a CSAF VEX document"),
        };
        self.newest = self.newest.max(one.modified);
        Ok(())
    }

    pub(super) fn feed(self, path: &Path, sha256: String) -> anyhow::Result<Feed> {
        if [self.osv, self.vex, self.csaf]
            .iter()
            .filter(|n| **n > 0)
            .count()
            > 1
        {
            bail!(
                "{}: OSV, OpenVEX or CSAF documents mixed in one file: import each kind apart",
                path.display()
            );
        }
        if self.records.is_empty() {
            bail!(
                "{}: no record of a release this aggregator reads (OSV ecosystems Ubuntu:…, Debian:N, Alpine:vX.Y, AlmaLinux:N, Rocky Linux:N; Ubuntu's OpenVEX \"will not fix\" and \"no longer supported\" statements; Red Hat's CSAF VEX of RHEL)",
                path.display()
            );
        }
        if self.csaf_left_out > 0 {
            tracing::info!(
                file = %path.display(),
                left_out = self.csaf_left_out,
                "CSAF VEX: product entries of other products (OpenShift, …) or of module streams left out"
            );
        }
        let name = if self.vex > 0 {
            "ubuntu-vex".to_string()
        } else if self.csaf > 0 {
            // By whose releases it holds: Red Hat's, SUSE's, or both.
            let suse = self
                .records
                .iter()
                .any(|r| r.release.starts_with("sle") || r.release.starts_with("opensuse"));
            let redhat = self.records.iter().any(|r| r.release.starts_with("rhel"));
            match (redhat, suse) {
                (true, true) => "redhat-vex+suse-vex".to_string(),
                (false, true) => "suse-vex".to_string(),
                _ => "redhat-vex".to_string(),
            }
        } else {
            feed_name(&self.records)
        };
        Ok(Feed {
            status: FeedStatus {
                name,
                source: path.display().to_string(),
                sha256,
                imported_at: SystemTime::now(),
                records: self.records.len() as u64,
                feed_time: self.newest,
            },
            content: super::Content::Records(self.records),
        })
    }
}

/// An OSV feed's name from the distributions of its records: `ubuntu` for
/// Ubuntu's (with its Pro records), `osv-debian`, `osv-alpine+rocky`.
pub fn feed_name(records: &[Record]) -> String {
    let families: std::collections::BTreeSet<&str> = records
        .iter()
        .map(|r| r.release.split(':').next().unwrap_or(""))
        .map(|f| if f == "ubuntu-pro" { "ubuntu" } else { f })
        .collect();
    if families.len() == 1 && families.contains("ubuntu") {
        return "ubuntu".into();
    }
    format!("osv-{}", families.into_iter().collect::<Vec<_>>().join("+"))
}

/// The largest document an archive may hold (Ubuntu's largest is a few MB).
pub(super) const MAX_DOCUMENT: u64 = 64 << 20;

/// A tar archive of documents, streamed: one document in memory at a time.
pub(super) fn read_tar(path: &Path, decoded: impl Read, sha: &Sha) -> anyhow::Result<Feed> {
    let mut archive = tar::Archive::new(decoded);
    let mut docs = Documents::default();
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
        let size = entry.size();
        docs.read(&mut entry, size, &format!("{}: {inner}", path.display()))?;
    }
    // The rest of the file counts in its hash too.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink())
        .with_context(|| format!("{}", path.display()))?;
    if docs.osv + docs.vex + docs.csaf == 0 {
        bail!("{}: no document (*.json) in the archive", path.display());
    }
    docs.feed(path, hex(sha))
}

/// A zip archive of documents (OSV's `all.zip`), one in memory at a time.
pub(super) fn read_zip(path: &Path) -> anyhow::Result<Feed> {
    let (hashing, sha) = open_hashing(path)?;
    // The file is hashed whole first: a zip is read from its end.
    let mut hashing = hashing;
    std::io::copy(&mut hashing, &mut std::io::sink())
        .with_context(|| format!("{}", path.display()))?;
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .with_context(|| format!("{}: not a zip archive", path.display()))?;
    let mut docs = Documents::default();
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .with_context(|| format!("{}: a damaged zip archive", path.display()))?;
        let inner = entry
            .name()
            .map(|n| n.to_string())
            .with_context(|| format!("{}: an entry without a readable name", path.display()))?;
        if !entry.is_file() || !inner.ends_with(".json") {
            continue;
        }
        let size = entry.size();
        docs.read(&mut entry, size, &format!("{}: {inner}", path.display()))?;
    }
    if docs.osv + docs.vex + docs.csaf == 0 {
        bail!("{}: no document (*.json) in the archive", path.display());
    }
    docs.feed(path, hex(&sha))
}
