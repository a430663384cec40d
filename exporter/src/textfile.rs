//! Writing for node_exporter's textfile collector: all or nothing.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use anyhow::{bail, Context as _};

/// Checks, before any collection, that `output` can be written: its directory exists.
pub fn check_target(output: &Path) -> anyhow::Result<()> {
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!(
            "the directory of --output {} does not exist (create it, or point --output at node_exporter's --collector.textfile.directory)",
            output.display()
        );
    }
    if output.is_dir() {
        bail!(
            "--output {} is a directory; name a file such as pakiti.prom",
            output.display()
        );
    }
    Ok(())
}

/// Writes `contents` to a temporary file beside `output`, flushes it to disk
/// and renames it over `output`, so a reader never sees half a file.
pub fn write_atomically(output: &Path, contents: &[u8]) -> anyhow::Result<()> {
    check_target(output)?;
    let dir = output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = output
        .file_name()
        .with_context(|| format!("--output {} names no file", output.display()))?;
    // node_exporter reads only *.prom files, so the temporary name must not end so.
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f =
            fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(contents)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("cannot flush {}", tmp.display()))?;
        fs::rename(&tmp, output)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), output.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("pakiti.prom");
        write_atomically(&out, b"a 1\n").unwrap();
        write_atomically(&out, b"a 2\n").unwrap();
        assert_eq!(fs::read_to_string(&out).unwrap(), "a 2\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_directory_is_refused_up_front() {
        let err = check_target(Path::new("/nonexistent-dir/pakiti.prom")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
