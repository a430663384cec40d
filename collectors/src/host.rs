//! Who and what the inspected host is: os-release, machine id, host name.

use std::fs;
use std::path::Path;

use pakiti_report::{Manager, OsInfo};

use crate::CollectError;

/// `os-release` of the tree at `rootfs` as key/value pairs.
pub fn os_release(rootfs: &Path) -> Result<Vec<(String, String)>, CollectError> {
    for candidate in ["etc/os-release", "usr/lib/os-release"] {
        let path = rootfs.join(candidate);
        match fs::read_to_string(&path) {
            Ok(text) => return Ok(parse_os_release(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(CollectError::Read { path, source }),
        }
    }
    Err(CollectError::NotAnOsTree {
        rootfs: rootfs.to_path_buf(),
    })
}

/// Parses the shell-like `KEY="value"` lines of os-release.
pub fn parse_os_release(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                return None;
            }
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            Some((k.trim().to_string(), v.replace("\\\"", "\"")))
        })
        .collect()
}

fn get<'a>(kv: &'a [(String, String)], key: &str) -> Option<&'a str> {
    kv.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

pub fn os_info(kv: &[(String, String)]) -> OsInfo {
    OsInfo {
        id: get(kv, "ID").unwrap_or("linux").to_string(),
        version: get(kv, "VERSION_ID").unwrap_or("").to_string(),
        pretty_name: get(kv, "PRETTY_NAME").map(str::to_string),
        codename: token(kv, "VERSION_CODENAME").or_else(|| token(kv, "UBUNTU_CODENAME")),
        cpe_name: token(kv, "CPE_NAME"),
        platform_id: token(kv, "PLATFORM_ID"),
    }
}

/// A field that a report can carry as a token (no white space or control
/// characters); an empty or unusable value is left out.
fn token(kv: &[(String, String)], key: &str) -> Option<String> {
    get(kv, key)
        .filter(|v| pakiti_report::check_token("os-release field", v).is_ok())
        .map(str::to_string)
}

/// The package manager an os-release implies, from `ID` then `ID_LIKE`.
/// The Red Hat family before release 8 (CentOS and RHEL 7, Oracle Linux 7,
/// Amazon Linux 2) has yum, not dnf.
pub fn detect_manager(kv: &[(String, String)]) -> Option<Manager> {
    let major: Option<u32> = get(kv, "VERSION_ID")
        .and_then(|v| v.split('.').next())
        .and_then(|v| v.parse().ok());
    let old_red_hat = match get(kv, "ID") {
        Some("fedora") | None => false,
        Some("amzn") => major == Some(2),
        Some(_) => major.is_some_and(|m| m < 8),
    };
    let mut ids: Vec<&str> = get(kv, "ID").into_iter().collect();
    ids.extend(get(kv, "ID_LIKE").unwrap_or("").split_whitespace());
    ids.into_iter().find_map(|id| match id {
        "debian" | "ubuntu" | "linuxmint" | "raspbian" | "devuan" | "kali" | "pop" => {
            Some(Manager::Apt)
        }
        "rhel" | "centos" | "ol" | "amzn" | "fedora" | "rocky" | "almalinux" if old_red_hat => {
            Some(Manager::Yum)
        }
        "fedora" | "rhel" | "centos" | "rocky" | "almalinux" | "ol" | "amzn" => Some(Manager::Dnf),
        "suse" | "opensuse" | "sles" | "opensuse-leap" | "opensuse-tumbleweed" => {
            Some(Manager::Zypper)
        }
        "alpine" => Some(Manager::Apk),
        "arch" | "manjaro" | "endeavouros" => Some(Manager::Pacman),
        _ => None,
    })
}

/// `/etc/machine-id` of the tree, when it holds one.
pub fn machine_id(rootfs: &Path) -> Option<String> {
    let id = fs::read_to_string(rootfs.join("etc/machine-id")).ok()?;
    let id = id.trim();
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_string())
}

/// The host name: the kernel's for the running system, `etc/hostname` of an
/// inspected tree.
pub fn hostname(rootfs: &Path) -> Option<String> {
    let from = |p: &Path| {
        fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    if rootfs == Path::new("/") {
        from(Path::new("/proc/sys/kernel/hostname")).or_else(|| from(Path::new("/etc/hostname")))
    } else {
        from(&rootfs.join("etc/hostname"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_of_debian_and_derivatives() {
        let debian = parse_os_release("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n");
        assert_eq!(os_info(&debian).version, "12");
        assert_eq!(detect_manager(&debian), Some(Manager::Apt));
        let mint = parse_os_release("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\nVERSION_ID='21.3'\n");
        assert_eq!(detect_manager(&mint), Some(Manager::Apt));
        assert_eq!(os_info(&mint).version, "21.3");
        let rocky = parse_os_release("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n");
        assert_eq!(detect_manager(&rocky), Some(Manager::Dnf));
        let leap = parse_os_release("ID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\n");
        assert_eq!(detect_manager(&leap), Some(Manager::Zypper));
        assert_eq!(detect_manager(&parse_os_release("ID=gentoo\n")), None);
        let centos7 =
            parse_os_release("ID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\n");
        assert_eq!(detect_manager(&centos7), Some(Manager::Yum));
        let rhel9 = parse_os_release("ID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.3\"\n");
        assert_eq!(detect_manager(&rhel9), Some(Manager::Dnf));
        let amzn2 =
            parse_os_release("ID=\"amzn\"\nID_LIKE=\"centos rhel fedora\"\nVERSION_ID=\"2\"\n");
        assert_eq!(detect_manager(&amzn2), Some(Manager::Yum));
        let amzn2023 = parse_os_release("ID=\"amzn\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"2023\"\n");
        assert_eq!(detect_manager(&amzn2023), Some(Manager::Dnf));
        let fedora39 = parse_os_release("ID=fedora\nVERSION_ID=39\n");
        assert_eq!(detect_manager(&fedora39), Some(Manager::Dnf));
        let alpine = parse_os_release("ID=alpine\nVERSION_ID=3.19.1\n");
        assert_eq!(detect_manager(&alpine), Some(Manager::Apk));
        assert_eq!(
            detect_manager(&parse_os_release("ID=arch\n")),
            Some(Manager::Pacman)
        );
        let sles = parse_os_release("ID=\"sles\"\nID_LIKE=\"suse\"\nVERSION_ID=\"15.5\"\n");
        assert_eq!(detect_manager(&sles), Some(Manager::Zypper));
    }

    #[test]
    fn machine_ids_must_look_like_one() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        assert_eq!(machine_id(dir.path()), None);
        fs::write(dir.path().join("etc/machine-id"), "uninitialized\n").unwrap();
        assert_eq!(machine_id(dir.path()), None);
        fs::write(
            dir.path().join("etc/machine-id"),
            "0123456789abcdef0123456789abcdef\n",
        )
        .unwrap();
        assert_eq!(
            machine_id(dir.path()).as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
    }
}
