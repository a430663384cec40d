//! exporter-toolkit's own web configuration test data (`exporter-toolkit/`,
//! see its README), every file, against `--web.config.file` as both programs
//! load it: what Go accepts is accepted and what it refuses is refused, for
//! the same reason; where this program refuses on purpose (a feature rustls
//! or an HTTP/1.1 server does not have), the table says so. Then real TLS
//! handshakes with the certificates there.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pakiti_httpserver::webconfig;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/exporter-toolkit")
}

/// How a file is expected to load: accepted, refused as Go refuses it (the
/// words the error must hold), or refused on purpose (and why).
enum Expect {
    Accepted,
    Refused(&'static str),
    RefusedOnPurpose(&'static str, &'static str),
}
use Expect::*;

const TABLE: &[(&str, Expect)] = &[
    ("web_config_empty.yml", Accepted),
    ("web_config_junk.yml", Refused("YAML error")),
    (
        "web_config_junk_key.yml",
        Refused("unknown field `cert_filse`"),
    ),
    (
        "web_config_noAuth_certPath_empty.bad.yml",
        Refused("missing one of cert or cert_file"),
    ),
    (
        "web_config_noAuth_cert_empty.bad.yml",
        Refused("missing one of cert or cert_file"),
    ),
    (
        "web_config_noAuth_keyPath_empty.bad.yml",
        Refused("missing one of key or key_file"),
    ),
    (
        "web_config_noAuth_key_empty.bad.yml",
        Refused("missing one of key or key_file"),
    ),
    (
        "web_config_noAuth_certPath_keyPath_empty.bad.yml",
        Refused("missing one of cert or cert_file"),
    ),
    (
        "web_config_noAuth_certPath_invalid.bad.yml",
        Refused("cannot read cert_file"),
    ),
    (
        "web_config_noAuth_keyPath_invalid.bad.yml",
        Refused("cannot read cert_file"),
    ),
    (
        "web_config_noAuth_certPath_keyPath_invalid.bad.yml",
        Refused("cannot read cert_file"),
    ),
    (
        "web_config_noAuth.bad.yml",
        Refused("client CA's have been configured without a Client Auth Policy"),
    ),
    (
        "web_config_auth_clientCAs_invalid.bad.yml",
        Refused("cannot read client_ca_file"),
    ),
    (
        "web_config_auth_user_list_invalid.bad.yml",
        Refused("bcrypt"),
    ),
    (
        "web_config_noAuth_inventedCiphers.bad.yml",
        Refused("unknown cipher"),
    ),
    (
        "web_config_noAuth_inventedCurves.bad.yml",
        Refused("unknown curve"),
    ),
    (
        "web_config_noAuth_wrongTLSVersion.bad.yml",
        Refused("unknown TLS version"),
    ),
    (
        "web_config_headers_content_type_options.bad.yml",
        Refused("invalid value for"),
    ),
    (
        "web_config_headers_frame_options.bad.yml",
        Refused("invalid value for"),
    ),
    (
        "web_config_headers_extra_header.bad.yml",
        Refused("can not be configured"),
    ),
    ("web_config_headers.good.yml", Accepted),
    ("web_config_noAuth.good.yml", Accepted),
    ("web_config_noAuth.good.blocking.yml", Accepted),
    ("web_config_noAuth_tlsInline.good.yml", Accepted),
    ("web_config_noAuth_allCiphers.good.yml", Accepted),
    ("web_config_noAuth_someCiphers.good.yml", Accepted),
    ("web_config_noAuth_someCiphers_noOrder.good.yml", Accepted),
    ("web_config_noAuth_allCurves.good.yml", Accepted),
    ("web_config_noAuth_noHTTP2.good.yml", Accepted),
    // Go refuses this one when it starts HTTP/2; this server speaks HTTP/1.1 only.
    ("web_config_noAuth_noHTTP2Cipher.bad.yml", Accepted),
    ("web_config_users.good.yml", Accepted),
    ("web_config_users_noTLS.good.yml", Accepted),
    ("web_config_auth_client_san.good.yaml", Accepted),
    // Loads in Go too; the handshake test below refuses its client.
    ("web_config_auth_client_san.bad.yaml", Accepted),
    // Not in exporter-toolkit's tests; it reads as Go would read it.
    ("web_config_auth_clientCAs_missing.bad.yml", Accepted),
    (
        "tls_config_noAuth.requireandverifyclientcert.good.yml",
        Accepted,
    ),
    ("web_config_rate_limiter_nonblocking.yaml", Accepted),
    (
        "web_config_rate_limiter_one_second.yaml",
        RefusedOnPurpose(
            "rate_limit is not supported",
            "no request rate limiter: refused rather than ignored",
        ),
    ),
    (
        "web_config_noAuth_someCurves.good.yml",
        RefusedOnPurpose(
            "curve_preferences",
            "CurveP521 is not offered by rustls (ring)",
        ),
    ),
    (
        "tls_config_noAuth.requireanyclientcert.good.yml",
        RefusedOnPurpose(
            "is not supported",
            "a client certificate accepted unverified would pass as an identity",
        ),
    ),
    (
        "tls_config_noAuth.requireanyclientcertkeyinline.good.yml",
        RefusedOnPurpose(
            "is not supported",
            "a client certificate accepted unverified would pass as an identity",
        ),
    ),
];

#[test]
fn every_configuration_of_exporter_toolkit_loads_as_it_should() {
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = TABLE.iter().map(|(f, _)| f.to_string()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "the table names every configuration file, once"
    );
    for (file, expect) in TABLE {
        let got = webconfig::load(&dir().join(file))
            .map(|_| ())
            .map_err(|e| format!("{e:#}"));
        match (expect, got) {
            (Accepted, Ok(())) => {}
            (Refused(words) | RefusedOnPurpose(words, _), Err(e)) if e.contains(words) => {}
            (Accepted, Err(e)) => panic!("{file}: refused: {e}"),
            (Refused(words) | RefusedOnPurpose(words, _), Err(e)) => {
                panic!("{file}: refused, but not for {words:?}: {e}")
            }
            (Refused(_), Ok(())) => panic!("{file}: accepted"),
            (RefusedOnPurpose(_, why), Ok(())) => panic!("{file}: accepted, though {why}"),
        }
    }
}

/// Serves "ok" with `config` on a free port; returns the port.
fn serve(config: &str) -> u16 {
    let web = webconfig::load(&dir().join(config)).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
            let _ = pakiti_httpserver::serve(listener, router, &web).await;
        });
    });
    port
}

/// A GET over TLS trusting exporter-toolkit's CA chain, with a client
/// certificate when named; `Err` says why it failed.
fn get(port: u16, client: Option<&str>) -> Result<u16, String> {
    let ca = std::fs::read(dir().join("tls-ca-chain.pem")).unwrap();
    let mut b = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .timeout(Duration::from_secs(10))
        .tls_built_in_root_certs(false);
    for cert in reqwest::Certificate::from_pem_bundle(&ca).unwrap() {
        b = b.add_root_certificate(cert);
    }
    if let Some(name) = client {
        let mut pem = std::fs::read(dir().join(format!("{name}.pem"))).unwrap();
        pem.extend(std::fs::read(dir().join(format!("{name}.key"))).unwrap());
        b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    let client = b.build().unwrap();
    client
        .get(format!("https://localhost:{port}/"))
        .send()
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}"))
}

#[test]
fn handshakes_agree_with_exporter_toolkit() {
    // A server certificate from file or inline.
    for config in [
        "web_config_noAuth.good.yml",
        "web_config_noAuth_tlsInline.good.yml",
    ] {
        assert_eq!(get(serve(config), None), Ok(200), "{config}");
    }
    // RequireAndVerifyClientCert with a self-signed client certificate that
    // carries the CA flag and is its own CA (Go accepts it).
    let port = serve("tls_config_noAuth.requireandverifyclientcert.good.yml");
    assert_eq!(get(port, Some("client_selfsigned")), Ok(200));
    assert!(get(port, None).is_err(), "no client certificate");
    assert!(
        get(port, Some("client2_selfsigned")).is_err(),
        "another CA's client"
    );
    // client_allowed_sans: test3 is allowed in the good file, not in the bad one.
    assert_eq!(
        get(
            serve("web_config_auth_client_san.good.yaml"),
            Some("client2_selfsigned")
        ),
        Ok(200)
    );
    assert!(get(
        serve("web_config_auth_client_san.bad.yaml"),
        Some("client2_selfsigned")
    )
    .is_err());
    // Without a client CA, clients are verified against the system's roots:
    // a self-signed one is refused.
    let port = serve("web_config_noAuth.good.blocking.yml");
    assert!(get(port, Some("client_selfsigned")).is_err());
}
