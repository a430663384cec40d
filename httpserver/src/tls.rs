//! The web config's `tls_server_config` as a rustls server configuration,
//! agreeing with exporter-toolkit where rustls can: certificates and keys from
//! files or inline, TLS versions, cipher suites and curves by Go's names,
//! client certificates verified against `client_ca_file`/`client_ca`, and
//! `client_allowed_sans`. What rustls cannot do is refused by name, never
//! ignored (see the README).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The certificate chain inline (PEM).
    #[serde(default)]
    pub cert: Option<String>,
    /// The private key inline (PEM).
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub client_auth_type: Option<String>,
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Client CAs inline (PEM).
    #[serde(default)]
    pub client_ca: Option<String>,
    #[serde(default)]
    pub cipher_suites: Option<Vec<String>>,
    #[serde(default)]
    pub curve_preferences: Option<Vec<String>>,
    #[serde(default)]
    pub min_version: Option<String>,
    #[serde(default)]
    pub max_version: Option<String>,
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    pub client_allowed_sans: Option<Vec<String>>,
}

/// Go's TLS version names and their number (TLS 1.x = 10 + x).
const VERSIONS: [(&str, u8); 4] = [("TLS10", 10), ("TLS11", 11), ("TLS12", 12), ("TLS13", 13)];

/// Go's cipher suite names (`tls.CipherSuites()` and `tls.InsecureCipherSuites()`).
const GO_CIPHERS: [&str; 29] = [
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_FALLBACK_SCSV",
    "TLS_RSA_WITH_AES_256_CBC_SHA256",
];

/// Go's curve names and rustls' (ring) key exchange group names.
const CURVES: [(&str, Option<&str>); 4] = [
    ("CurveP256", Some("secp256r1")),
    ("CurveP384", Some("secp384r1")),
    ("CurveP521", None),
    ("X25519", Some("X25519")),
];

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// A path the config names, `None` when absent or empty (Go treats "" as absent).
fn path(p: &Option<PathBuf>) -> Option<&Path> {
    p.as_deref().filter(|p| !p.as_os_str().is_empty())
}

fn text(t: &Option<String>) -> Option<&str> {
    t.as_deref().filter(|t| !t.is_empty())
}

/// PEM text from a file or inline.
fn pem(
    base: &Path,
    file: Option<&Path>,
    inline: Option<&str>,
    what: &str,
) -> anyhow::Result<Vec<u8>> {
    match (file, inline) {
        (Some(f), _) => {
            let f = resolve(base, f);
            std::fs::read(&f).with_context(|| format!("cannot read {what}_file {}", f.display()))
        }
        (None, Some(t)) => Ok(t.as_bytes().to_vec()),
        (None, None) => bail!("missing one of {what} or {what}_file"),
    }
}

fn certificates(data: &[u8], what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(data)
        .collect::<Result<_, _>>()
        .with_context(|| format!("{what} is not PEM certificates"))?;
    if certs.is_empty() {
        bail!("{what} holds no certificate");
    }
    Ok(certs)
}

fn system_roots() -> anyhow::Result<Vec<u8>> {
    const BUNDLES: [&str; 3] = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
    ];
    let path = BUNDLES
        .iter()
        .find(|p| Path::new(p).exists())
        .context("no client_ca_file given and no system CA bundle found")?;
    std::fs::read(path).with_context(|| format!("cannot read {path}"))
}

fn version(v: &Option<String>, default: u8, which: &str) -> anyhow::Result<u8> {
    match v.as_deref() {
        None | Some("") => Ok(default),
        Some(name) => VERSIONS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .with_context(|| format!("{which}: unknown TLS version: {name}")),
    }
}

/// The rustls server configuration the web config asks for.
pub fn server_config(t: &TlsServerConfig, base: &Path) -> anyhow::Result<rustls::ServerConfig> {
    let cert = pem(base, path(&t.cert_file), text(&t.cert), "cert")?;
    let key = pem(base, path(&t.key_file), text(&t.key), "key")?;
    let certs = certificates(&cert, "cert")?;
    let key = PrivateKeyDer::from_pem_slice(&key).context("key: no PEM private key")?;

    // TLS 1.0 and 1.1 are not spoken: a minimum below 1.2 serves from 1.2.
    let min = version(&t.min_version, 12, "min_version")?.max(12);
    let max = version(&t.max_version, 13, "max_version")?;
    if max < 12 {
        bail!("max_version below TLS12 is not supported: this server speaks TLS 1.2 and 1.3");
    }
    if min > max {
        bail!("min_version is above max_version");
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, p)| p)
            .collect();

    let provider = Arc::new(crypto_provider(t, min)?);
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .context("TLS versions")?;

    let builder = client_auth(builder, t, base, provider)?;
    let mut config = builder
        .with_single_cert(certs, key)
        .context("failed to load X509KeyPair: the certificate and key do not form a usable pair")?;
    config.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The ring provider narrowed to the configured cipher suites (TLS 1.2; Go
/// leaves TLS 1.3 alone) and curves, by Go's names.
fn crypto_provider(t: &TlsServerConfig, min: u8) -> anyhow::Result<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(names) = &t.cipher_suites {
        for name in names {
            if !GO_CIPHERS.contains(&name.as_str()) {
                bail!("unknown cipher: {name}");
            }
        }
        // Go applies the list to TLS 1.2 only; TLS 1.3 keeps its suites.
        provider.cipher_suites.retain(|s| match s.version() {
            v if *v == rustls::version::TLS13 => true,
            _ => names.iter().any(|n| s.suite().as_str() == Some(n.as_str())),
        });
        if min == 12
            && !provider
                .cipher_suites
                .iter()
                .any(|s| *s.version() == rustls::version::TLS12)
        {
            bail!("cipher_suites: none of {names:?} is one this server offers (AES-GCM and ChaCha20-Poly1305 with ECDHE)");
        }
    }
    if let Some(names) = &t.curve_preferences {
        let mut wanted = Vec::new();
        for name in names {
            match CURVES.iter().find(|(n, _)| n == name) {
                None => bail!("unknown curve: {name}"),
                Some((_, Some(rustls_name))) => wanted.push(*rustls_name),
                Some((_, None)) => {}
            }
        }
        provider
            .kx_groups
            .retain(|g| wanted.iter().any(|w| format!("{:?}", g.name()) == *w));
        if provider.kx_groups.is_empty() {
            bail!("curve_preferences: none of {names:?} is one this server offers (X25519, CurveP256, CurveP384)");
        }
    }
    Ok(provider)
}

/// Client certificates as `client_auth_type` asks: none, or verified against
/// `client_ca_file`/`client_ca` (the system's roots without one, as Go does).
fn client_auth(
    builder: rustls::ConfigBuilder<rustls::ServerConfig, rustls::WantsVerifier>,
    t: &TlsServerConfig,
    base: &Path,
    provider: Arc<CryptoProvider>,
) -> anyhow::Result<rustls::ConfigBuilder<rustls::ServerConfig, rustls::server::WantsServerCert>> {
    // Read as Go does: the file first (a missing one is named), then the policy.
    let ca_pem = match (path(&t.client_ca_file), text(&t.client_ca)) {
        (None, None) => None,
        (file, inline) => Some(pem(base, file, inline, "client_ca")?),
    };
    let auth_type = t.client_auth_type.as_deref().unwrap_or("");
    let sans = t.client_allowed_sans.clone();
    Ok(match (auth_type, ca_pem) {
        ("" | "NoClientCert", Some(_)) => {
            bail!("client CA's have been configured without a Client Auth Policy (client_auth_type)")
        }
        ("" | "NoClientCert", None) => {
            if sans.is_some() {
                bail!("client_allowed_sans needs client_auth_type RequireAndVerifyClientCert");
            }
            builder.with_no_client_auth()
        }
        ("RequireAndVerifyClientCert" | "VerifyClientCertIfGiven", ca_pem) => {
            // Without a client CA Go verifies against the system's roots; so does this.
            let ca = match ca_pem {
                Some(p) => certificates(&p, "client_ca_file")?,
                None => certificates(&system_roots()?, "the system CA bundle")?,
            };
            if sans.is_some() && auth_type != "RequireAndVerifyClientCert" {
                bail!("client_allowed_sans needs client_auth_type RequireAndVerifyClientCert");
            }
            let mut roots = rustls::RootCertStore::empty();
            let (_, unusable) = roots.add_parsable_certificates(ca.iter().cloned());
            if roots.is_empty() {
                bail!("client_ca_file: none of its {unusable} certificates is usable as a CA");
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let verifier = if auth_type == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let inner = verifier.build().context("client certificate verifier")?;
            builder.with_client_cert_verifier(Arc::new(ClientVerifier {
                inner,
                pinned: ca,
                sans,
                provider,
            }))
        }
        ("RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert", _) => bail!(
            "client_auth_type {auth_type} (certificates accepted without verification) is not supported: use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
        ),
        (other, _) => bail!("invalid ClientAuth: {other}"),
    })
}

/// WebPKI's client verification, plus what Go accepts beyond it: a
/// self-signed client certificate that is itself a configured CA (even with
/// the CA flag, as exporter-toolkit's own test certificates have), and the
/// `client_allowed_sans` check.
#[derive(Debug)]
struct ClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    pinned: Vec<CertificateDer<'static>>,
    sans: Option<Vec<String>>,
    provider: Arc<CryptoProvider>,
}

impl ClientVerifier {
    fn sans_allowed(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let Some(allowed) = &self.sans else {
            return Ok(());
        };
        let bad = || {
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )
        };
        let (_, cert) = x509_parser::parse_x509_certificate(end_entity).map_err(|_| bad())?;
        let names: Vec<String> = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|ext| {
                ext.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                        x509_parser::extensions::GeneralName::RFC822Name(e) => Some(e.to_string()),
                        x509_parser::extensions::GeneralName::URI(u) => Some(u.to_string()),
                        x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                            4 => <[u8; 4]>::try_from(*ip)
                                .ok()
                                .map(|a| std::net::Ipv4Addr::from(a).to_string()),
                            16 => <[u8; 16]>::try_from(*ip)
                                .ok()
                                .map(|a| std::net::Ipv6Addr::from(a).to_string()),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if names.iter().any(|n| allowed.contains(n)) {
            Ok(())
        } else {
            Err(bad())
        }
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Ok(v) => v,
            // The certificate is one of the configured CAs itself: trusted as such.
            Err(e) => {
                if self
                    .pinned
                    .iter()
                    .any(|p| p.as_ref() == end_entity.as_ref())
                {
                    ClientCertVerified::assertion()
                } else {
                    return Err(e);
                }
            }
        };
        self.sans_allowed(end_entity)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
