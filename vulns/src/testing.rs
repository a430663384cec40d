//! A Debian bookworm host and the tracker fixture, for the tests of this
//! crate and of the aggregator. Not used by the programs.

use pakiti_report::Installed;

use crate::Record;

/// An installed binary package built from `source` at `source_version`.
pub fn pkg(name: &str, version: &str, source: &str, source_version: &str) -> Installed {
    Installed {
        source_name: source.into(),
        source_version: source_version.into(),
        ..Installed::new(name, version, "amd64")
    }
}

/// The records of `vulns/fixtures/debian-tracker.json` (written for these
/// tests, in the tracker's own format).
pub fn tracker_records() -> Vec<Record> {
    let json = include_bytes!("../fixtures/debian-tracker.json");
    let mut out = Vec::new();
    crate::debian::read(json.as_slice(), |r| out.push(r)).expect("the fixture reads");
    out
}

/// A bookworm host: two binaries of one source, a binNMU, an epoch, two
/// kernel images (`linux-image-6.1.0-18-amd64` is the one meant to run).
pub fn bookworm_packages() -> Vec<Installed> {
    vec![
        pkg("libssl3", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2"),
        pkg("openssl", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2"),
        // A binNMU: the binary is +b1, the source is not.
        pkg("libgcrypt20", "1.10.1-3+b1", "libgcrypt20", "1.10.1-3"),
        pkg("passwd", "1:4.13+dfsg1-1+b1", "shadow", "1:4.13+dfsg1-1"),
        pkg("bash", "5.2.15-2+b2", "bash", "5.2.15-2"),
        pkg("liblzma5", "5.4.1-0.2", "xz-utils", "5.4.1-0.2"),
        pkg("libc6", "2.36-9+deb12u4", "glibc", "2.36-9+deb12u4"),
        pkg("curl", "7.88.1-10+deb12u5", "curl", "7.88.1-10+deb12u5"),
        pkg(
            "linux-image-6.1.0-17-amd64",
            "6.1.69-1",
            "linux-signed-amd64",
            "6.1.69+1",
        ),
        pkg(
            "linux-image-6.1.0-18-amd64",
            "6.1.76-1",
            "linux-signed-amd64",
            "6.1.76+1",
        ),
    ]
}

/// The `.json` files of a fixture folder of this crate, by name.
pub fn fixture_documents(folder: &str) -> Vec<(String, Vec<u8>)> {
    let dir = format!("{}/fixtures/{folder}", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .expect("the fixture folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            let name = p.display().to_string();
            (name, std::fs::read(&p).expect("a fixture"))
        })
        .collect()
}

/// The records of every OSV document of a fixture folder of this crate
/// (`osv`: the generic OSV advisories; `ubuntu-osv`: Ubuntu's).
pub fn osv_records(folder: &str) -> Vec<Record> {
    let mut out = Vec::new();
    for (_, json) in fixture_documents(folder) {
        crate::osv::read_one(&json, |r| out.push(r)).expect("the fixture reads");
    }
    out
}
