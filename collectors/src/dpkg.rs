//! dpkg: its status database (the version order is `pakiti_versions::dpkg`).

/// One package paragraph of `/var/lib/dpkg/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpkgPackage {
    pub name: String,
    pub arch: String,
    pub version: String,
    /// The selection is `hold` (`apt-mark hold`, `dpkg --set-selections`).
    pub hold: bool,
}

/// The installed packages of a dpkg status file: those whose status is
/// `installed` (as `dpkg-query` shows `ii` or `hi`); half-installed and
/// config-files entries are not installed packages.
pub fn parse_status(text: &str) -> Vec<DpkgPackage> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let (mut name, mut arch, mut version, mut status) = (None, None, None, None);
        for line in para.lines() {
            if line.starts_with([' ', '\t']) {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key {
                "Package" => name = Some(value),
                "Architecture" => arch = Some(value),
                "Version" => version = Some(value),
                "Status" => status = Some(value),
                _ => {}
            }
        }
        let (Some(name), Some(version), Some(status)) = (name, version, status) else {
            continue;
        };
        let mut words = status.split_whitespace();
        let want = words.next().unwrap_or("");
        let state = words.nth(1).unwrap_or("");
        if state != "installed" {
            continue;
        }
        out.push(DpkgPackage {
            name: name.to_string(),
            arch: arch.unwrap_or("all").to_string(),
            version: version.to_string(),
            hold: want == "hold",
        });
    }
    out
}

/// Whether dpkg would accept `name` as a package name: it begins with an
/// alphanumeric character and holds only alphanumerics and `-+._`. What a
/// status file names otherwise is never handed to apt (it could read as an
/// option).
pub fn valid_package_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-+._".contains(c))
}

/// Whether dpkg would accept `arch` as an architecture name: it begins with
/// an alphanumeric character and holds only alphanumerics and `-`.
pub fn valid_arch(arch: &str) -> bool {
    arch.starts_with(|c: char| c.is_ascii_alphanumeric())
        && arch.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_read_as_options_are_not_package_names() {
        for ok in [
            "bash",
            "libc6",
            "g++",
            "libstdc++6",
            "python3.11",
            "0ad",
            "xz-utils",
            "a_b",
        ] {
            assert!(valid_package_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-oAPT::Update::Pre-Invoke::=touch",
            "--help",
            "+x",
            ".hidden",
            "a b",
            "a/b",
            "a:b",
            "pkg\u{202e}",
            "ä",
        ] {
            assert!(!valid_package_name(bad), "{bad:?}");
        }
        for ok in ["amd64", "all", "arm64", "musl-linux-amd64"] {
            assert!(valid_arch(ok), "{ok}");
        }
        for bad in ["", "-x", "amd64 ", "a:b", "--"] {
            assert!(!valid_arch(bad), "{bad:?}");
        }
    }

    #[test]
    fn status_keeps_installed_packages_and_holds() {
        let text = "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\nDescription: x\n continued: line\n\n\
                    Package: b\nStatus: hold ok installed\nArchitecture: all\nVersion: 2.0\n\n\
                    Package: c\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 3.0\n\n\
                    Package: a\nStatus: install ok installed\nArchitecture: i386\nMulti-Arch: same\nVersion: 1.0\n";
        let pkgs = parse_status(text);
        let names: Vec<_> = pkgs
            .iter()
            .map(|p| format!("{}:{}:{}", p.name, p.arch, p.hold))
            .collect();
        assert_eq!(names, ["a:amd64:false", "b:all:true", "a:i386:false"]);
    }
}
