//! Whether the host must reboot to run what is installed.

use std::cmp::Ordering;
use std::fs;
use std::path::Path;

use pakiti_report::{LivePatch, Reboot, RunningKernel};

/// The live patches of the running kernel, from the kernel's own interface
/// (`/sys/kernel/livepatch/<name>/`: `enabled` 1 when its replacement
/// functions are in use, `transition` 1 while it is still being applied to
/// running tasks), which Ubuntu's Livepatch, Red Hat's kpatch and SUSE's
/// kernel live patching all load through. Seen under `rootfs`
/// (`sys/kernel/livepatch`); `None` when the kernel offers no live patching
/// there (not built in, or `/sys` not mounted in the inspected tree), which
/// says nothing of coverage, unlike an empty list.
pub fn livepatches(rootfs: &Path) -> Option<Vec<LivePatch>> {
    let dir = rootfs.join("sys/kernel/livepatch");
    let entries = fs::read_dir(&dir).ok()?;
    let flag = |path: std::path::PathBuf| fs::read_to_string(path).is_ok_and(|s| s.trim() == "1");
    let mut out: Vec<LivePatch> = entries
        .flatten()
        .filter(|e| e.path().join("enabled").exists())
        .map(|e| LivePatch {
            name: e.file_name().to_string_lossy().into_owned(),
            enabled: flag(e.path().join("enabled")),
            transition: flag(e.path().join("transition")),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Some(out)
}

/// The running kernel's release (`uname -r`).
pub fn running_kernel() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Debian and Ubuntu: `/run/reboot-required` (with `reboot-required.pkgs`)
/// when update-notifier or a package's hook wrote it; otherwise a running
/// kernel older than the newest installed kernel package.
///
/// `kernels` holds `(release, package version)` of the installed kernel
/// images, e.g. `("6.1.0-18-amd64", "6.1.76-1")`.
pub fn debian_style(
    rootfs: &Path,
    kernels: &[(String, String)],
    compare: fn(&str, &str) -> Ordering,
) -> Reboot {
    if let Some(r) = reboot_required_file(rootfs) {
        return r;
    }
    kernel_newer_than_running(running_kernel().as_deref(), kernels, compare)
}

fn reboot_required_file(rootfs: &Path) -> Option<Reboot> {
    let run = rootfs.join("run");
    if !run.join("reboot-required").exists() {
        return None;
    }
    let mut packages: Vec<String> = fs::read_to_string(run.join("reboot-required.pkgs"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    packages.sort();
    packages.dedup();
    Some(Reboot {
        required: true,
        packages,
    })
}

/// A reboot is required when an installed kernel package is newer than the
/// package of the running kernel. When the running kernel is not among the
/// installed ones (a container, a custom kernel) nothing can be said: no reboot.
pub fn kernel_newer_than_running(
    running: Option<&str>,
    kernels: &[(String, String)],
    compare: fn(&str, &str) -> Ordering,
) -> Reboot {
    let Some(running) = running else {
        return Reboot::default();
    };
    let Some((_, running_version)) = kernels.iter().find(|(release, _)| release == running) else {
        return Reboot::default();
    };
    let newest = kernels
        .iter()
        .filter(|(_, v)| compare(v, running_version).is_gt())
        .max_by(|a, b| compare(&a.1, &b.1));
    match newest {
        Some((release, _)) => Reboot {
            required: true,
            packages: vec![format!("linux-image-{release}")],
        },
        None => Reboot::default(),
    }
}

/// The package of the running kernel among `kernels`, each
/// `(release as uname -r prints it, package name, package version)`.
pub fn running_package(
    running: Option<&str>,
    kernels: &[(String, String, String)],
) -> Option<RunningKernel> {
    let running = running?;
    kernels
        .iter()
        .find(|(release, _, _)| release == running)
        .map(|(_, package, version)| RunningKernel {
            package: package.clone(),
            version: version.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pakiti_versions::dpkg::compare_versions;

    fn k(r: &str, v: &str) -> (String, String) {
        (r.into(), v.into())
    }

    #[test]
    fn a_newer_installed_kernel_requires_a_reboot() {
        let kernels = [
            k("6.1.0-17-amd64", "6.1.69-1"),
            k("6.1.0-18-amd64", "6.1.76-1"),
        ];
        let r = kernel_newer_than_running(Some("6.1.0-17-amd64"), &kernels, compare_versions);
        assert!(r.required);
        assert_eq!(r.packages, ["linux-image-6.1.0-18-amd64"]);
        let r = kernel_newer_than_running(Some("6.1.0-18-amd64"), &kernels, compare_versions);
        assert!(!r.required);
        // Unknown running kernel (container): nothing to say.
        let r = kernel_newer_than_running(Some("6.18.44-custom"), &kernels, compare_versions);
        assert!(!r.required);
    }

    #[test]
    fn the_reboot_required_file_wins_and_lists_packages() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(reboot_required_file(dir.path()), None);
        fs::create_dir_all(dir.path().join("run")).unwrap();
        fs::write(
            dir.path().join("run/reboot-required"),
            "*** System restart required ***\n",
        )
        .unwrap();
        assert_eq!(
            reboot_required_file(dir.path()).unwrap().packages,
            Vec::<String>::new()
        );
        fs::write(
            dir.path().join("run/reboot-required.pkgs"),
            "libc6\nlinux-image-6.1.0-18-amd64\nlibc6\n",
        )
        .unwrap();
        let r = debian_style(dir.path(), &[], compare_versions);
        assert!(r.required);
        assert_eq!(r.packages, ["libc6", "linux-image-6.1.0-18-amd64"]);
    }

    #[test]
    fn live_patches_are_read_from_the_kernels_own_interface() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(livepatches(root), None, "no livepatch interface: unknown");
        let lp = root.join("sys/kernel/livepatch");
        fs::create_dir_all(&lp).unwrap();
        assert_eq!(livepatches(root), Some(vec![]));
        // Names as Ubuntu's Livepatch and kpatch give their modules; the
        // files as the kernel's sysfs-kernel-livepatch ABI describes them.
        for (name, enabled, transition) in [
            ("lkp_Ubuntu_5_15_0_91_101_generic_109", "1\n", "0\n"),
            ("kpatch_5_14_0_362_8_1", "0\n", "0\n"),
            ("livepatch_61_1", "1\n", "1\n"),
        ] {
            let p = lp.join(name);
            fs::create_dir_all(p.join("vmlinux")).unwrap();
            fs::write(p.join("enabled"), enabled).unwrap();
            fs::write(p.join("transition"), transition).unwrap();
        }
        let got = livepatches(root).unwrap();
        let summary: Vec<(&str, bool, bool)> = got
            .iter()
            .map(|p| (p.name.as_str(), p.enabled, p.transition))
            .collect();
        assert_eq!(
            summary,
            [
                ("kpatch_5_14_0_362_8_1", false, false),
                ("livepatch_61_1", true, true),
                ("lkp_Ubuntu_5_15_0_91_101_generic_109", true, false),
            ]
        );
    }
}
