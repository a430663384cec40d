//! What the aggregator's process-level tests share: the real binary run
//! on a SQLite file (`feeds import`, serving), and JSON requests to it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pakiti_report::{to_json, Report};
use serde_json::Value;

pub const AGGREGATOR: &str = env!("CARGO_BIN_EXE_pakiti-aggregator");

/// The aggregator's process, killed when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start(db: &Path) -> (Server, String) {
    start_with(db, Path::new("/dev/null"))
}

pub fn start_with(db: &Path, config: &Path) -> (Server, String) {
    start_logged(db, config, &[], Stdio::null())
}

/// The aggregator serving `db` with `config`, these variables in its
/// environment and its log to `stderr`, once it is ready.
pub fn start_logged(
    db: &Path,
    config: &Path,
    env: &[(&str, &str)],
    stderr: Stdio,
) -> (Server, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(AGGREGATOR)
        .arg("--config.file")
        .arg(config)
        .arg("--storage.url")
        .arg(db)
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::blocking::get(format!("{base}/-/ready"))
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(
            Instant::now() < deadline,
            "the aggregator did not become ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (Server(child), base)
}

pub fn get(base: &str, path: &str) -> Value {
    reqwest::blocking::get(format!("{base}{path}"))
        .unwrap()
        .json()
        .unwrap()
}

pub fn push(base: &str, r: &Report) {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{base}/api/v1/reports"))
        .header("content-type", "application/json")
        .body(to_json(r))
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
}

/// Polls `path` until `done` holds of it (the folder is looked at every second).
pub fn wait_for(base: &str, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = get(base, path);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `feeds import` of these files into the store at `db`.
pub fn import(db: &Path, paths: &[&Path]) -> Output {
    Command::new(AGGREGATOR)
        .args(["--config.file", "/dev/null", "--storage.url"])
        .arg(db)
        .args(["feeds", "import"])
        .args(paths)
        .output()
        .unwrap()
}

/// A host's findings (it must be covered), one sorted line each: the
/// `fields` of each finding, strings as they are (`-` for none), other
/// values as `field=value`.
#[allow(dead_code)]
pub fn findings(base: &str, host: &str, fields: &[&str]) -> Vec<String> {
    let v = get(base, &format!("/api/v1/hosts/{host}/vulnerabilities"));
    assert_eq!(v["coverage"], true, "{v}");
    let mut rows: Vec<String> = v["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            fields
                .iter()
                .map(|k| match &f[*k] {
                    Value::String(s) => s.clone(),
                    Value::Null => "-".into(),
                    other => format!("{k}={other}"),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    rows.sort();
    rows
}

/// A small HTTP server on loopback, one request per connection: `answer`
/// gives for a path its body and the length to declare (more than the body:
/// a download cut short), `None` a 404. Returns its base URL.
#[allow(dead_code)]
pub fn http_server(answer: impl Fn(&str) -> Option<(Vec<u8>, usize)> + Send + 'static) -> String {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) <= 2 {
                    break;
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("");
            let (status, body, declared) = match answer(path) {
                Some((body, declared)) => ("200 OK", body, declared),
                None => ("404 Not Found", Vec::new(), 0),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: {declared}\r\nconnection: close\r\n\r\n"
            );
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{addr}")
}

/// An Arch host of `site` (machine id from `n`): openssl with its fix
/// pending, vim and gvim of one base, exiv2, the running `linux` and an
/// installed `linux-lts` that does not run; its pacman inventory as the
/// tests of Arch's tracker fixture (`vulns/fixtures/arch/security.json`) need.
pub fn arch_host(name: &str, n: u32, site: Option<&str>) -> Report {
    use pakiti_report::{testing, Installed, Manager, RunningKernel, Severity};
    let mut r = testing::report(
        name,
        Some(&format!("{n:032x}")),
        site,
        vec![testing::update(
            "openssl",
            "3.4.0-3",
            "3.4.1-1",
            Some(Severity::Unknown),
        )],
    );
    r.inventory.updates[0].arch = "x86_64".into();
    r.manager = Manager::Pacman;
    r.os.id = "arch".into();
    r.os.version = String::new();
    r.os.codename = None;
    let p = |name: &str, version: &str, base: &str| Installed {
        source_name: base.into(),
        ..Installed::new(name, version, "x86_64")
    };
    let installed = vec![
        p("openssl", "3.4.0-3", "openssl"),
        p("vim", "9.1.1000-1", "vim"),
        p("gvim", "9.1.1000-1", "vim"),
        p("bash", "5.2.037-1", "bash"),
        p("exiv2", "0.29.0-1", "exiv2"),
        p("linux", "6.13.1.arch1-1", "linux"),
        p("linux-lts", "6.6.70-1", "linux-lts"),
    ];
    r.inventory.installed_packages = installed.len() as u64;
    r.inventory.installed = Some(installed);
    r.inventory.running_kernel = Some(RunningKernel {
        package: "linux".into(),
        version: "6.13.1.arch1-1".into(),
    });
    r
}
