//! dpkg: its status database (the version order is `pakiti_versions::dpkg`).

/// One package paragraph of `/var/lib/dpkg/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpkgPackage {
    pub name: String,
    pub arch: String,
    pub version: String,
    /// The selection is `hold` (`apt-mark hold`, `dpkg --set-selections`).
    pub hold: bool,
    /// `Source`: the source package's name, and its version when it
    /// differs from the binary's (`Source: glibc (2.36-9+deb12u7)`).
    pub source: Option<(String, Option<String>)>,
}

impl DpkgPackage {
    /// The inventory entry, as `dpkg-query` shows `${source:Package}` and
    /// `${source:Version}`.
    pub fn installed(&self) -> pakiti_report::Installed {
        let mut p = pakiti_report::Installed::new(&self.name, &self.version, &self.arch);
        if let Some((name, version)) = &self.source {
            p.source_name = name.clone();
            if let Some(v) = version {
                p.source_version = v.clone();
            }
        }
        p
    }
}

/// The installed packages of a dpkg status file: those whose files are on
/// the system (status `installed`, as `dpkg-query` shows `ii` or `hi`, and
/// the states between unpacking and configuring); `not-installed` and
/// `config-files` entries are not installed packages.
pub fn parse_status(text: &str) -> Vec<DpkgPackage> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let (mut name, mut arch, mut version, mut status, mut source) =
            (None, None, None, None, None);
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
                "Source" => source = parse_source(value),
                _ => {}
            }
        }
        let (Some(name), Some(version), Some(status)) = (name, version, status) else {
            continue;
        };
        let mut words = status.split_whitespace();
        let want = words.next().unwrap_or("");
        let state = words.nth(1).unwrap_or("");
        if matches!(state, "" | "not-installed" | "config-files") {
            continue;
        }
        out.push(DpkgPackage {
            name: name.to_string(),
            arch: arch.unwrap_or("all").to_string(),
            version: version.to_string(),
            hold: want == "hold",
            source,
        });
    }
    out
}

/// `Source: name` or `Source: name (version)`.
fn parse_source(value: &str) -> Option<(String, Option<String>)> {
    let (name, version) = match value.split_once('(') {
        Some((name, rest)) => (name.trim(), rest.strip_suffix(')').map(str::trim)),
        None => (value.trim(), None),
    };
    (!name.is_empty()).then(|| {
        (
            name.to_string(),
            version.filter(|v| !v.is_empty()).map(str::to_string),
        )
    })
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
    fn sources_are_read_as_dpkg_query_shows_them() {
        let text = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u7\n\n\
                    Package: bash\nStatus: install ok installed\nArchitecture: amd64\nSource: bash (5.2.15-2)\nVersion: 5.2.15-2+b7\n\n\
                    Package: tzdata\nStatus: install ok unpacked\nArchitecture: all\nVersion: 2024a-0+deb12u1\n\n\
                    Package: gone\nStatus: deinstall ok not-installed\nArchitecture: amd64\n";
        let got: Vec<_> = parse_status(text)
            .iter()
            .map(DpkgPackage::installed)
            .collect();
        let rows: Vec<_> = got
            .iter()
            .map(|p| {
                format!(
                    "{} {} {} {} {}",
                    p.name, p.version, p.arch, p.source_name, p.source_version
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                "libc6 2.36-9+deb12u7 amd64 glibc 2.36-9+deb12u7",
                "bash 5.2.15-2+b7 amd64 bash 5.2.15-2",
                "tzdata 2024a-0+deb12u1 all tzdata 2024a-0+deb12u1",
            ]
        );
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
