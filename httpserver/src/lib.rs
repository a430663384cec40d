//! Serving HTTP for both programs: the exporter-toolkit web configuration
//! (`webconfig`), TLS with rustls and client certificates, basic auth, and the
//! accept loop (`server`), distinguished names compared as names (`dn`), and
//! answering scrapers (`scrape`: the format and encoding they ask for, requests
//! counted by route). Knows nothing of reports, metric names or storage.

mod basic;
pub mod dn;
pub mod scrape;
pub mod server;
mod tls;
pub mod webconfig;

pub use dn::DistinguishedName;
pub use server::{
    basic_auth, basic_auth_unless, bind, headers, serve, AuthenticatesItself, PeerCertificate,
};
pub use webconfig::{BasicAuth, WebConfig};
