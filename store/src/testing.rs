//! A throwaway PostgreSQL database for tests: created on the server named by
//! `PAKITI_TEST_POSTGRES_URL` (default: this machine's, 127.0.0.1:5432) and
//! dropped afterwards. Tests never skip: no server is a failure that says so.

use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct TestDatabase {
    admin_url: String,
    name: String,
    /// Where the test's store should connect.
    pub url: String,
}

impl TestDatabase {
    pub fn create() -> TestDatabase {
        let admin_url =
            std::env::var("PAKITI_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.into());
        let name = format!(
            "pakiti_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap_or_else(|e| {
            panic!("the PostgreSQL tests need a server: set PAKITI_TEST_POSTGRES_URL or run one on 127.0.0.1:5432 (tests/run starts this machine's): {e}")
        });
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        let (base, query) = admin_url
            .split_once('?')
            .map_or((admin_url.as_str(), ""), |(b, q)| (b, q));
        let root = base.rsplit_once('/').map_or(base, |(r, _)| r);
        let url = if query.is_empty() {
            format!("{root}/{name}")
        } else {
            format!("{root}/{name}?{query}")
        };
        TestDatabase {
            admin_url,
            name,
            url,
        }
    }
}

impl TestDatabase {
    /// The database's name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A plain connection as the administrator, to look at the server's side.
    pub fn admin(&self) -> postgres::Client {
        postgres::Client::connect(&self.admin_url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("the PostgreSQL server does not answer: {e}"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
