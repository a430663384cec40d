//! `[web] access` on the pages and the hosts API: wrong or missing credentials
//! get 401 and nothing else; what machines use (push, /federate) stays reachable.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use pakiti_aggregator::app::{app, AppState};
use pakiti_aggregator::config::{File, Settings, WebAccess};
use pakiti_httpserver::PeerCertificate;
use pakiti_store::{Source, Store};

/// The aggregator's state for `config`, listening beyond loopback.
fn state(config: &str, dir: &tempfile::TempDir) -> (AppState, WebAccess) {
    state_at(config, dir, "0.0.0.0:10151")
}

fn state_at(config: &str, dir: &tempfile::TempDir, listen: &str) -> (AppState, WebAccess) {
    let store: Arc<dyn Store> =
        Arc::new(pakiti_store::SqliteStore::open(&dir.path().join("a.db")).unwrap());
    let file: File = toml::from_str(config).unwrap();
    let settings = Settings::from_file(&file).unwrap();
    let access = settings.effective_web_access(listen);
    let mut r = pakiti_report::testing::report(
        "secret-host",
        Some("0123456789abcdef0123456789abcdef"),
        Some("S"),
        vec![],
    );
    // The inventory reveals hosts too: the packages API is a page like the others.
    r.inventory.installed = Some(vec![pakiti_report::Installed::new(
        "openssl", "3.0.11-1", "amd64",
    )]);
    r.inventory.installed_packages = 1;
    store
        .ingest(&r, Source::Push, std::time::SystemTime::now())
        .unwrap();
    (
        AppState::new(store, Arc::new(settings), access.clone()),
        access,
    )
}

async fn get(
    state: &AppState,
    path: &str,
    extra: impl FnOnce(&mut Request<Body>),
) -> (StatusCode, String) {
    let mut req = Request::get(path).body(Body::empty()).unwrap();
    extra(&mut req);
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

const PAGES: [&str; 7] = [
    "/",
    "/hosts",
    "/hosts/secret-host",
    "/api/v1/hosts",
    "/api/v1/hosts/secret-host/vulnerabilities",
    "/api/v1/packages/openssl",
    "/packages/openssl",
];

#[tokio::test]
async fn basic_auth_with_bcrypt_users() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("right", 4).unwrap();
    let (s, _) = state(
        &format!("[web]\naccess = \"basic\"\nusers = {{ admin = \"{hash}\" }}\n"),
        &dir,
    );
    use base64_header as b;
    for page in PAGES {
        let (status, body) = get(&s, page, |_| {}).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
        assert!(!body.contains("secret-host"), "{page} leaks: {body}");
        let (status, body) = get(&s, page, |r| b::set(r, "admin:wrong")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
        assert!(!body.contains("secret-host"));
        let (status, body) = get(&s, page, |r| b::set(r, "admin:right")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let shown = if page == "/" {
            "<span class=\"n\">1</span> host"
        } else {
            "secret-host"
        };
        assert!(body.contains(shown), "{page}: {body}");
    }
    // A 401 still asks the browser for credentials, on pages and the API.
    for page in ["/", "/api/v1/hosts"] {
        let resp = app(s.clone())
            .oneshot(Request::get(page).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Basic realm=\"pakiti\"",
            "{page}"
        );
    }
    // The fleet's vulnerabilities are behind the same door.
    for page in [
        "/vulnerabilities",
        "/vulnerabilities/CVE-2024-3094",
        "/api/v1/vulnerabilities",
        "/api/v1/vulnerabilities/CVE-2024-3094",
    ] {
        assert_eq!(
            get(&s, page, |_| {}).await.0,
            StatusCode::UNAUTHORIZED,
            "{page}"
        );
        let (status, _) = get(&s, page, |r| b::set(r, "admin:wrong")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
        let (status, _) = get(&s, page, |r| b::set(r, "admin:right")).await;
        assert_ne!(status, StatusCode::UNAUTHORIZED, "{page}");
    }
    // Machines are not asked for page credentials.
    assert_eq!(get(&s, "/federate", |_| {}).await.0, StatusCode::OK);
    assert_eq!(get(&s, "/-/ready", |_| {}).await.0, StatusCode::OK);
}

mod base64_header {
    pub fn set(req: &mut axum::http::Request<axum::body::Body>, user_pass: &str) {
        use base64::Engine as _;
        let v = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        );
        req.headers_mut()
            .insert("authorization", v.parse().unwrap());
    }
}

#[test]
fn unconfigured_access_is_open_on_loopback_only() {
    let settings = Settings::from_file(&toml::from_str("").unwrap()).unwrap();
    for listen in [
        "127.0.0.1:10151",
        "[::1]:10151",
        "localhost:10151",
        "127.0.0.2:1",
    ] {
        assert!(
            matches!(settings.effective_web_access(listen), WebAccess::Open),
            "{listen}"
        );
    }
    for listen in [
        ":10151",
        "0.0.0.0:10151",
        "[::]:10151",
        "192.0.2.7:10151",
        "pakiti.example.org:10151",
    ] {
        assert!(
            matches!(settings.effective_web_access(listen), WebAccess::Closed),
            "{listen}"
        );
    }
    let open = Settings::from_file(&toml::from_str("[web]\naccess = \"open\"\n").unwrap()).unwrap();
    assert!(matches!(
        open.effective_web_access(":10151"),
        WebAccess::Open
    ));
}

#[tokio::test]
async fn federate_can_be_put_behind_access() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("pw", 4).unwrap();
    let (s, _) = state(
        &format!(
            "[web]\naccess = \"basic\"\nfederate = \"access\"\n[web.users]\nprom = '{hash}'\n"
        ),
        &dir,
    );
    let (status, body) = get(&s, "/federate", |_| {}).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!body.contains("secret-host"));
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("prom:pw")
    );
    let (status, body) = get(&s, "/federate", |r| {
        r.headers_mut()
            .insert("authorization", basic.parse().unwrap());
    })
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("secret-host"));
    let e = Settings::from_file(&toml::from_str("[web]\nfederate = \"closed\"\n").unwrap())
        .err()
        .unwrap();
    assert!(e.to_string().contains("web.federate"), "{e}");
}

/// The web config's basic auth (exporter-toolkit's `basic_auth_users`) guards
/// everything, yet pushes that carry a client's bearer token still get through
/// to the route that checks it.
#[tokio::test]
async fn web_config_basic_auth_composes_with_token_pushes() {
    let dir = tempfile::tempdir().unwrap();
    let token_sha = {
        use sha2::Digest;
        sha2::Sha256::digest(b"push-token")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let config = format!(
        "[web]\naccess = \"open\"\n[[client]]\nname = \"web-01\"\ntoken_sha256 = \"{token_sha}\"\nsites = [\"S\"]\nrole = \"host\"\n"
    );
    let (s, _) = state(&config, &dir);
    let hash = bcrypt::hash("pw", 4).unwrap();
    let auth =
        Arc::new(pakiti_httpserver::BasicAuth::new([("admin".to_string(), hash)].into()).unwrap());
    let router = pakiti_httpserver::basic_auth_unless(
        app(s.clone()),
        auth,
        "test",
        pakiti_aggregator::app::authenticates_itself(&s.settings),
    );
    let mut report = pakiti_report::testing::report("web-01", Some("1111"), Some("S"), vec![]);
    report.host.machine_id = Some("11111111111111111111111111111111".into());
    let send = |auth: Option<&str>| {
        let mut req = Request::post("/api/v1/reports").header("content-type", "application/json");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        router.clone().oneshot(
            req.body(Body::from(pakiti_report::to_json(&report)))
                .unwrap(),
        )
    };
    assert_eq!(
        send(Some("Bearer push-token")).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        send(Some("Bearer wrong")).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(send(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // A bearer token opens no page: those still need basic auth.
    let page = router
        .clone()
        .oneshot(
            Request::get("/api/v1/hosts")
                .header("authorization", "Bearer push-token")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unconfigured_beyond_loopback_means_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (s, access) = state("", &dir);
    assert!(matches!(access, WebAccess::Closed));
    for page in PAGES {
        let (status, body) = get(&s, page, |_| {}).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
        assert!(body.contains("[web] access"), "{body}");
    }
    assert_eq!(get(&s, "/federate", |_| {}).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_client_certificate_allowlist() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = state(
        "[web]\naccess = \"cert\"\ncert_subjects = [\"CN=admin, O=Grid\"]\n",
        &dir,
    );
    let cert = |subject: &str| {
        let c = Arc::new(PeerCertificate::with_subject(subject).unwrap());
        move |r: &mut Request<Body>| {
            r.extensions_mut().insert(c);
        }
    };
    assert_eq!(get(&s, "/hosts", |_| {}).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&s, "/hosts", cert("CN=intruder, O=Grid")).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A common name that spells the allowed subject is one attribute, not two.
    assert_eq!(
        get(&s, "/hosts", cert("CN=admin\\, O=Grid")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&s, "/hosts", cert("O=Grid,CN=admin")).await.0,
        StatusCode::UNAUTHORIZED,
        "RFC 4514 order: the most specific first"
    );
    let (status, body) = get(&s, "/hosts", cert("CN=admin,O=Grid")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("secret-host"));
}

#[tokio::test]
async fn a_trusted_reverse_proxy_header() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = state("[web]\naccess = \"proxy\"\nproxy_header = \"X-Remote-User\"\nproxy_addresses = [\"10.0.0.5\"]\n", &dir);
    let from = |ip: &str, user: Option<&'static str>| {
        let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
        move |r: &mut Request<Body>| {
            r.extensions_mut().insert(ConnectInfo(addr));
            if let Some(u) = user {
                r.headers_mut().insert("x-remote-user", u.parse().unwrap());
            }
        }
    };
    assert_eq!(
        get(&s, "/", from("10.0.0.5", None)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The header from anyone but the proxy counts for nothing.
    assert_eq!(
        get(&s, "/", from("10.0.0.9", Some("alice"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&s, "/", from("10.0.0.5", Some("alice"))).await.0,
        StatusCode::OK
    );
    // A dual-stack listener sees the IPv4 proxy as an IPv4-mapped IPv6 address.
    assert_eq!(
        get(&s, "/", from("[::ffff:10.0.0.5]", Some("alice")))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        get(&s, "/", from("[::ffff:10.0.0.9]", Some("alice")))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn web_access_mistakes_are_named() {
    let e = |t: &str| {
        format!(
            "{:#}",
            Settings::from_file(&toml::from_str(t).unwrap()).unwrap_err()
        )
    };
    assert!(e("[web]\naccess = \"basic\"\n").contains("web.users"));
    assert!(e("[web]\naccess = \"basic\"\nusers = { a = \"plain\" }\n").contains("bcrypt"));
    assert!(e("[web]\naccess = \"cert\"\n").contains("cert_subjects"));
    assert!(e("[web]\naccess = \"proxy\"\nproxy_header = \"X-User\"\n").contains("proxy_addresses"));
    assert!(e("[web]\naccess = \"everyone\"\n").contains("open, basic, cert, proxy"));
}
