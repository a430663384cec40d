//! `[feeds] dir`: the running aggregator imports the feed files of a
//! folder whenever they change (the way to update feeds of an aggregator on
//! SQLite, which one process serves). The folder is looked at every
//! `check_every`; when its files changed (name, size, modification time),
//! they are read and checked whole, the feeds whose content differs from
//! the loaded ones are stored, and the fleet is rematched. A bad file is
//! logged and changes nothing; it is read again once the folder changes.
//! Replicas on one PostgreSQL database take turns through a lease.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::state::AppState;

/// What the folder holds, as far as noticing a change goes.
fn signature(dir: &Path) -> std::io::Result<Vec<(PathBuf, u64, Option<SystemTime>)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let meta = e.metadata()?;
        if meta.is_file() && !e.file_name().to_string_lossy().starts_with('.') {
            out.push((e.path(), meta.len(), meta.modified().ok()));
        }
    }
    out.sort();
    Ok(out)
}

/// What one look at the folder did.
#[derive(Debug, PartialEq, Eq)]
pub enum Looked {
    Unchanged,
    /// Every feed file was the loaded one already.
    AlreadyLoaded,
    /// Another replica holds the lease.
    NotMine,
    Imported(Vec<String>),
}

/// Imports what changed in `dir` and rematches the fleet. Blocking.
pub fn look(state: &AppState, dir: &Path, ttl: Duration) -> anyhow::Result<Looked> {
    let store = &*state.store;
    if !store.claim("feeds-dir", &state.instance, ttl)? {
        return Ok(Looked::NotMine);
    }
    let feeds = crate::feeds::read_all(&[dir.to_path_buf()])?;
    let changed = crate::feeds::changed(store, feeds)?;
    if changed.is_empty() {
        return Ok(Looked::AlreadyLoaded);
    }
    crate::feeds::refuse_older(store, &changed)?;
    let rematch = crate::feeds::needs_rematch(&changed);
    let mut lines = crate::feeds::store_all(store, changed)?;
    if !rematch {
        state.fleet_list.changed();
        return Ok(Looked::Imported(lines));
    }
    let mut progress = |done: usize, total: usize| {
        tracing::info!(done, total, "rematching the fleet after a feed import");
    };
    let r = crate::rematch::fleet(store, &mut progress)?;
    state.fleet.changed();
    state.fleet_list.changed();
    lines.push(r.to_string());
    Ok(Looked::Imported(lines))
}

/// Looks at `dir` every `every`, for ever.
pub async fn watch(state: AppState, dir: PathBuf, every: Duration) {
    let mut last = None;
    loop {
        let now = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || signature(&dir)).await
        };
        match now {
            Ok(Ok(sig)) if Some(&sig) != last.as_ref() => {
                let (s, d) = (state.clone(), dir.clone());
                let ttl = every * 2;
                match tokio::task::spawn_blocking(move || look(&s, &d, ttl)).await {
                    Ok(Ok(Looked::NotMine)) => {}
                    Ok(Ok(Looked::Imported(lines))) => {
                        for line in lines {
                            tracing::info!(dir = %dir.display(), "{line}");
                        }
                        last = Some(sig);
                    }
                    Ok(Ok(_)) => last = Some(sig),
                    Ok(Err(e)) => {
                        tracing::error!(dir = %dir.display(), error = %format!("{e:#}"), "feeds not imported: nothing changed; fix the files, they are read again once the folder changes");
                        last = Some(sig);
                    }
                    Err(e) => tracing::error!(error = %e, "the feed import task failed"),
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(dir = %dir.display(), error = %e, "[feeds] dir cannot be read")
            }
            Err(e) => tracing::warn!(error = %e, "[feeds] dir task failed"),
        }
        tokio::time::sleep(every).await;
    }
}
