//! Serving HTTP for both programs: the exporter-toolkit web configuration
//! (`webconfig`), TLS with rustls and client certificates, basic auth, and the
//! accept loop (`server`). Knows nothing of reports, metrics or storage.

pub mod server;
pub mod webconfig;

pub use server::{basic_auth, bind, headers, serve, PeerCertificate};
pub use webconfig::{BasicAuth, WebConfig};
