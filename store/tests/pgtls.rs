//! TLS to a real PostgreSQL server by libpq's `sslmode` words. The server is
//! the test server (`PAKITI_TEST_POSTGRES_URL`, default this machine's), which
//! must offer TLS: Debian's postgresql does, with a certificate for localhost.

use pakiti_store::testing::TestDatabase;
use pakiti_store::{PgOptions, PgStore, Store};

fn with(url: &str, params: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

/// How many of the database's connections are encrypted.
fn encrypted(db: &TestDatabase, admin: &mut postgres::Client) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE datname = $1 AND ssl",
            &[&db.name()],
        )
        .unwrap()
        .get(0)
}

fn connect(url: &str) -> Result<PgStore, String> {
    PgStore::connect(url, PgOptions::default()).map_err(|e| e.to_string())
}

#[test]
fn sslmode_decides_encryption_and_what_is_verified() {
    let db = TestDatabase::create();
    let mut admin = db.admin();
    let ssl: String = admin.query_one("SHOW ssl", &[]).unwrap().get(0);
    assert_eq!(ssl, "on", "the test server must offer TLS for this test");
    let data_dir: String = admin.query_one("SHOW data_directory", &[]).unwrap().get(0);
    let cert: String = admin.query_one("SHOW ssl_cert_file", &[]).unwrap().get(0);
    let cert = std::path::Path::new(&data_dir).join(cert);
    let cert = cert.display().to_string();

    // No sslmode: in the clear, as before.
    let plain = connect(&db.url).unwrap();
    plain.ping().unwrap();
    assert_eq!(encrypted(&db, &mut admin), 0);
    drop(plain);

    // require: encrypted, nothing verified.
    let s = connect(&with(&db.url, "sslmode=require")).unwrap();
    s.ping().unwrap();
    assert!(encrypted(&db, &mut admin) >= 1);
    drop(s);

    // verify-ca with the server's own certificate as the root: the chain holds.
    let s = connect(&with(
        &db.url,
        &format!("sslmode=verify-ca&sslrootcert={cert}"),
    ))
    .unwrap();
    s.ping().unwrap();
    drop(s);

    // verify-full: the name must be the certificate's.
    let by_ip = with(&db.url, &format!("sslmode=verify-full&sslrootcert={cert}"));
    let e = connect(&by_ip)
        .err()
        .expect("127.0.0.1 is not the certificate's name");
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    let by_name = by_ip.replacen("@127.0.0.1", "@localhost", 1);
    assert_ne!(by_name, by_ip);
    let s = connect(&by_name).unwrap();
    s.ping().unwrap();
    drop(s);

    // A root that did not sign the server's certificate: refused, whatever the name.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(&other, params.self_signed(&key).unwrap().pem()).unwrap();
    for mode in ["verify-ca", "verify-full", "require"] {
        let url = by_name
            .replace(&cert, &other.display().to_string())
            .replace("verify-full", mode);
        let e = connect(&url)
            .err()
            .unwrap_or_else(|| panic!("{mode}: an unknown CA was accepted"));
        assert!(
            e.to_lowercase().contains("certificate") || e.contains("issuer"),
            "{mode}: {e}"
        );
    }
}
