//! The live-patch service's own word on the running kernel: Canonical
//! Livepatch's `canonical-livepatch status --format json`. The kernel's
//! loaded patches come from sysfs ([`crate::reboot::livepatches`]); this
//! says whether the service has applied every patch it has for the running
//! kernel (`applied`, `nothing-to-apply`) or not (`unapplied`,
//! `apply-failed`, `kernel-upgrade-required`, …).
//!
//! Parsed defensively: the client writes its keys lower-case
//! (`status[].livepatch.patchState`), the Ubuntu Pro client relays them
//! capitalised (`Status[].Livepatch.State`); both are read.

use std::path::Path;

use serde_json::Value;

use crate::exec;

/// Where the snap puts the client when `/snap/bin` is not on the path.
const SNAP_CLIENT: &str = "/snap/bin/canonical-livepatch";

/// The service's state for the running kernel (e.g. `applied`); `None` when
/// the output names no running kernel or no state.
pub fn canonical_state(json: &str) -> Result<Option<String>, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let key = |o: &Value, names: &[&str]| names.iter().find_map(|n| o.get(*n)).cloned();
    let Some(Value::Array(kernels)) = key(&v, &["status", "Status"]) else {
        return Ok(None);
    };
    let running = kernels
        .iter()
        .find(|k| key(k, &["running", "Running"]) == Some(Value::Bool(true)));
    Ok(running
        .and_then(|k| key(k, &["livepatch", "Livepatch"]))
        .and_then(|lp| key(&lp, &["patchState", "State", "patch-state"]))
        .and_then(|s| s.as_str().map(str::to_string))
        .filter(|s| !s.is_empty()))
}

/// Asks the client on this machine, when it is installed (only for the
/// machine itself: the service does not see a tree under `--path.rootfs`).
/// `None` when there is no client or it does not answer.
pub fn canonical(rootfs: &Path, timeout: std::time::Duration) -> Option<String> {
    if rootfs != Path::new("/") {
        return None;
    }
    let program = if exec::available("canonical-livepatch") {
        "canonical-livepatch"
    } else if Path::new(SNAP_CLIENT).exists() {
        SNAP_CLIENT
    } else {
        return None;
    };
    let args = ["status", "--format", "json"].map(String::from);
    match exec::run_ok(program, &args, timeout) {
        Ok(out) => canonical_state(&out.stdout).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "canonical-livepatch status is not the JSON expected");
            None
        }),
        Err(e) => {
            tracing::warn!(error = %e, "canonical-livepatch status failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/fixtures/livepatch/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn the_running_kernels_state_is_read_in_both_shapes() {
        assert_eq!(
            canonical_state(&fixture("canonical-status.json")).unwrap(),
            Some("applied".into()),
            "the running kernel's, not the first listed"
        );
        assert_eq!(
            canonical_state(&fixture("canonical-status-pro.json")).unwrap(),
            Some("unapplied".into())
        );
        assert_eq!(canonical_state(r#"{"status": []}"#).unwrap(), None);
        assert_eq!(
            canonical_state(
                r#"{"status": [{"kernel": "x", "running": true, "livepatch": {"patchState": ""}}]}"#
            )
            .unwrap(),
            None
        );
        assert!(canonical_state("not json").is_err());
    }

    #[test]
    fn a_tree_under_rootfs_is_not_asked() {
        assert_eq!(
            canonical(Path::new("/srv/host"), std::time::Duration::from_secs(1)),
            None
        );
    }
}
