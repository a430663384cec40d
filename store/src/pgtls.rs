//! TLS to PostgreSQL with rustls, by libpq's `sslmode` words in the URL:
//! `disable`, `allow` and `prefer` (the default) connect in the clear;
//! `require` encrypts and verifies nothing unless `sslrootcert` names a CA
//! (then as `verify-ca`, as libpq does); `verify-ca` checks the chain;
//! `verify-full` checks the chain and the host name. Roots come from
//! `sslrootcert`, else the system's bundle.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;

/// Where the system keeps its CA bundle (Debian, Ubuntu; RHEL; SUSE; Alpine).
const SYSTEM_ROOTS: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Clear,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The connection settings of `url` and the TLS connector its `sslmode` asks for.
pub(crate) fn configure(
    url: &str,
    redacted: &str,
) -> Result<(postgres::Config, MakeRustlsConnect), StoreError> {
    let bad = |msg: String| StoreError::Unavailable(format!("--storage.url {redacted}: {msg}"));
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut mode, mut root_file) = (Mode::Clear, None);
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                mode = match value {
                    "disable" | "allow" | "prefer" => Mode::Clear,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => {
                        return Err(bad(format!(
                            "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                        )))
                    }
                }
            }
            "sslrootcert" => root_file = Some(percent_decode(value)),
            _ => rest.push(pair),
        }
    }
    let cleaned = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let mut config: postgres::Config = cleaned.parse().map_err(|e| bad(format!("{e}")))?;
    if mode == Mode::Require && root_file.is_some() {
        mode = Mode::VerifyCa;
    }
    config.ssl_mode(match mode {
        Mode::Clear => postgres::config::SslMode::Disable,
        _ => postgres::config::SslMode::Require,
    });
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        Mode::Clear | Mode::Require => Arc::new(Unverified(provider.clone())),
        Mode::VerifyCa | Mode::VerifyFull => {
            let roots = roots(root_file.as_deref()).map_err(bad)?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| bad(format!("the CA certificates are not usable: {e}")))?;
            if mode == Mode::VerifyCa {
                Arc::new(ChainOnly(webpki))
            } else {
                webpki
            }
        }
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok((config, MakeRustlsConnect::new(tls)))
}

fn roots(file: Option<&str>) -> Result<RootCertStore, String> {
    let path = match file {
        Some(f) => f.to_string(),
        None => SYSTEM_ROOTS
            .iter()
            .find(|p| std::path::Path::new(p).exists())
            .map(|p| p.to_string())
            .ok_or("no sslrootcert given and no system CA bundle found")?,
    };
    let mut store = RootCertStore::empty();
    let certs =
        CertificateDer::pem_file_iter(&path).map_err(|e| format!("sslrootcert {path}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("sslrootcert {path}: {e}"))?;
        store
            .add(cert)
            .map_err(|e| format!("sslrootcert {path}: {e}"))?;
    }
    if store.is_empty() {
        return Err(format!("sslrootcert {path} holds no certificate"));
    }
    Ok(store)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            s.get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
        ) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `sslmode=require` without a CA: encrypted, the server not verified (libpq's meaning).
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain must lead to a trusted CA; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_words_are_libpqs_and_pakiti_strips_what_the_driver_does_not_know() {
        let (c, _) = configure(
            "postgres://u@db.example.org/p?sslmode=verify-full&application_name=x",
            "r",
        )
        .unwrap();
        assert_eq!(c.get_ssl_mode(), postgres::config::SslMode::Require);
        assert_eq!(c.get_application_name(), Some("x"));
        let (c, _) = configure("postgres://u@db/p", "r").unwrap();
        assert_eq!(c.get_ssl_mode(), postgres::config::SslMode::Disable);
        let e = configure("postgres://u@db/p?sslmode=maybe", "postgres://u@db/p")
            .err()
            .unwrap();
        assert!(e.to_string().contains("sslmode \"maybe\""), "{e}");
        let e = configure(
            "postgres://u@db/p?sslmode=verify-ca&sslrootcert=%2Fnonexistent.pem",
            "r",
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("/nonexistent.pem"), "{e}");
    }
}
