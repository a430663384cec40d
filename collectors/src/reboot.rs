//! Whether the host must reboot to run what is installed.

use std::cmp::Ordering;
use std::fs;
use std::path::Path;

use pakiti_report::{Reboot, RunningKernel};

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
}
