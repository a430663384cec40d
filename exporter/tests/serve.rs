//! `serve` as Prometheus meets it: the real binary on a real socket, plain and
//! with TLS, client certificates and basic auth from certificates generated here.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    // Never the same port twice in one test process: two servers asked for
    // ports one after the other must not be given the same one.
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if GIVEN.lock().unwrap_or_else(|p| p.into_inner()).insert(port) {
            return port;
        }
    }
}

fn start(tree: &Tree, extra: &[&str]) -> Server {
    let config =
        tree.config("refresh_metadata = true\nupdate_info = \"all\"\ninterval = \"10s\"\n");
    tree.write("etc/apt/apt.conf", "APT::Sandbox::User \"root\";\n");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(EXPORTER)
        .args(["--config.file", config.to_str().unwrap()])
        .args(["--path.rootfs", tree.root().to_str().unwrap()])
        .args(["--web.listen-address", &listen])
        .args(extra)
        .arg("serve")
        .env("APT_CONFIG", tree.path("etc/apt/apt.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("exporter starts");
    Server { child, port }
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn get(client: &reqwest::blocking::Client, url: &str) -> Option<(u16, String)> {
    let resp = client.get(url).send().ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.text().ok()?))
}

#[test]
fn metrics_follow_the_schedule_not_the_scrapes_and_vanished_updates_vanish() {
    let tree = scenario();
    let server = start(&tree, &[]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let client = reqwest::blocking::Client::new();
    let report = wait_for("the first collection", || {
        get(&client, &format!("{base}/api/v1/report")).filter(|(s, _)| *s == 200)
    });
    let report = pakiti_report::from_json(report.1.as_bytes()).expect("valid report");
    assert_eq!(report.inventory.updates.len(), 9);

    let (status, text) = get(&client, &format!("{base}/metrics")).unwrap();
    assert_eq!(status, 200);
    assert_eq!(promtool_complaints(&text), "");
    let first = sample(&text, "pakiti_last_collection_timestamp_seconds", &[]).unwrap();
    for _ in 0..5 {
        let (_, again) = get(&client, &format!("{base}/metrics")).unwrap();
        assert_eq!(
            sample(&again, "pakiti_last_collection_timestamp_seconds", &[]),
            Some(first),
            "a scrape must not collect"
        );
    }
    assert!(text.contains("package=\"plain\""));
    let (status, landing) = get(&client, &format!("{base}/")).unwrap();
    assert_eq!(status, 200);
    assert!(
        landing.contains("9 pending updates, 3 of them security updates"),
        "{landing}"
    );
    assert_eq!(get(&client, &format!("{base}/-/healthy")).unwrap().0, 200);

    // The administrator upgrades `plain`; the next scheduled collection drops it.
    let status_path = tree.path("var/lib/dpkg/status");
    let status = std::fs::read_to_string(&status_path).unwrap();
    std::fs::write(
        &status_path,
        status.replace("Version: 3.0-1\n", "Version: 3.0-2\n"),
    )
    .unwrap();
    let text = wait_for("the next scheduled collection", || {
        let (_, t) = get(&client, &format!("{base}/metrics"))?;
        (sample(&t, "pakiti_last_collection_timestamp_seconds", &[])? > first).then_some(t)
    });
    assert_eq!(sample(&text, "pakiti_updates_pending", &[]), Some(8.0));
    assert!(
        !text.contains("package=\"plain\""),
        "a package no longer pending must vanish"
    );
}

struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    client_identity: String,
    stranger_identity: String,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };
    let ca = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let cert = p.self_signed(&key).unwrap();
        (cert, key)
    };
    let leaf = |names: Vec<String>, cn: &str, usage, issuer: &(rcgen::Certificate, KeyPair)| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![usage];
        let cert = p.signed_by(&key, &issuer.0, &issuer.1).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let our_ca = ca("pakiti test CA");
    let other_ca = ca("somebody else's CA");
    let (server_cert, server_key) = leaf(
        vec!["localhost".into(), "127.0.0.1".into()],
        "localhost",
        ExtendedKeyUsagePurpose::ServerAuth,
        &our_ca,
    );
    let (c, k) = leaf(
        vec![],
        "prometheus",
        ExtendedKeyUsagePurpose::ClientAuth,
        &our_ca,
    );
    let (sc, sk) = leaf(
        vec![],
        "stranger",
        ExtendedKeyUsagePurpose::ClientAuth,
        &other_ca,
    );
    Pki {
        ca_pem: our_ca.0.pem(),
        server_cert,
        server_key,
        client_identity: format!("{c}{k}"),
        stranger_identity: format!("{sc}{sk}"),
    }
}

fn tls_client(ca: &str, identity: Option<&str>) -> reqwest::blocking::Client {
    let mut b = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10));
    if let Some(id) = identity {
        b = b.identity(reqwest::Identity::from_pem(id.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

#[test]
fn tls_with_client_certificates_and_basic_auth() {
    let tree = scenario();
    let pki = pki();
    tree.write("web/ca.pem", &pki.ca_pem);
    tree.write("web/server.pem", &pki.server_cert);
    tree.write("web/server.key", &pki.server_key);
    let hash = bcrypt::hash("scrape-secret", 4).unwrap();
    // Relative paths resolve against the web config file's directory, as in exporter-toolkit.
    tree.write(
        "web/web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  min_version: TLS12\nbasic_auth_users:\n  prometheus: '{hash}'\n"
        ),
    );
    let web = tree.path("web/web.yml");
    let server = start(&tree, &["--web.config.file", web.to_str().unwrap()]);
    let url = format!("https://localhost:{}/metrics", server.port);

    let good = tls_client(&pki.ca_pem, Some(&pki.client_identity));
    let text = wait_for("the first collection over TLS", || {
        let r = good
            .get(&url)
            .basic_auth("prometheus", Some("scrape-secret"))
            .send()
            .ok()?;
        let t = r.text().ok()?;
        t.contains("pakiti_updates_pending").then_some(t)
    });
    assert_eq!(sample(&text, "pakiti_updates_pending", &[]), Some(9.0));

    let r = good.get(&url).send().unwrap();
    assert_eq!(
        r.status().as_u16(),
        401,
        "a certificate alone is not enough when basic auth is on"
    );
    let r = good
        .get(&url)
        .basic_auth("prometheus", Some("wrong"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(!r.text().unwrap().contains("pakiti_"));

    let anonymous = tls_client(&pki.ca_pem, None);
    assert!(
        anonymous
            .get(&url)
            .basic_auth("prometheus", Some("scrape-secret"))
            .send()
            .is_err(),
        "no client certificate must fail the handshake"
    );
    let stranger = tls_client(&pki.ca_pem, Some(&pki.stranger_identity));
    assert!(
        stranger
            .get(&url)
            .basic_auth("prometheus", Some("scrape-secret"))
            .send()
            .is_err(),
        "a certificate from another CA must fail"
    );
    let plain = reqwest::blocking::Client::new();
    let r = plain
        .get(format!("http://localhost:{}/metrics", server.port))
        .send();
    assert!(
        r.map(|r| !r.status().is_success()).unwrap_or(true),
        "plain HTTP must not be served"
    );
}

#[test]
fn serve_stops_cleanly_on_sigterm_and_sigint() {
    let tree = scenario();
    for signal in ["-TERM", "-INT"] {
        let mut server = start(&tree, &[]);
        let base = format!("http://127.0.0.1:{}", server.port);
        let client = reqwest::blocking::Client::new();
        wait_for("the exporter to serve", || {
            get(&client, &format!("{base}/-/healthy")).filter(|(s, _)| *s == 200)
        });
        let sent = Command::new("kill")
            .args([signal, &server.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = wait_for("the exporter to stop", || server.child.try_wait().unwrap());
        assert_eq!(status.code(), Some(0), "{signal}: {status:?}");
    }
}

#[test]
fn a_bad_web_config_stops_the_start() {
    let tree = scenario();
    tree.write("web.yml", "basic_auth_users:\n  prometheus: plaintext\n");
    let config = tree.config("");
    let out = Command::new(EXPORTER)
        .args([
            "--config.file",
            config.to_str().unwrap(),
            "--path.rootfs",
            tree.root().to_str().unwrap(),
        ])
        .args([
            "--web.listen-address",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .args([
            "--web.config.file",
            tree.path("web.yml").to_str().unwrap(),
            "serve",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bcrypt"), "{err}");
    assert!(err.contains("web.yml"), "{err}");
}
