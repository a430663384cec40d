//! Serving HTTP for both programs: the exporter-toolkit web configuration
//! (`webconfig`), TLS with rustls and client certificates, basic auth, and the
//! accept loop (`server`), distinguished names compared as names (`dn`). Knows nothing of reports, metrics or storage.

mod basic;
pub mod dn;
pub mod server;
mod tls;
pub mod webconfig;

pub use dn::DistinguishedName;
pub use server::{
    basic_auth, basic_auth_unless, bind, headers, serve, AuthenticatesItself, PeerCertificate,
};
pub use webconfig::{BasicAuth, WebConfig};
