//! `--web.config.file`: the Prometheus exporter-toolkit web configuration
//! (YAML): TLS with rustls, optional client-certificate verification, and
//! basic auth with bcrypt hashes.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    pub tls_server_config: Option<TlsServerConfig>,
    pub http_server_config: Option<HttpServerConfig>,
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    #[serde(default)]
    pub client_auth_type: Option<String>,
    pub client_ca_file: Option<PathBuf>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Accepted for compatibility; this server speaks HTTP/1.1.
    pub http2: Option<bool>,
    /// Extra response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// The validated web configuration.
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub auth: Option<Arc<BasicAuth>>,
    pub headers: Vec<(String, String)>,
}

impl WebConfig {
    pub fn none() -> Self {
        WebConfig {
            tls: None,
            auth: None,
            headers: Vec::new(),
        }
    }
}

/// Reads and checks `--web.config.file`; every path it names must be usable.
pub fn load(path: &Path) -> anyhow::Result<WebConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read web config file {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base).with_context(|| format!("invalid web config file {}", path.display()))
}

pub fn parse(text: &str, base: &Path) -> anyhow::Result<WebConfig> {
    let file: WebConfigFile = if text.trim().is_empty() {
        WebConfigFile::default()
    } else {
        serde_yaml_ng::from_str(text)?
    };
    let tls = file
        .tls_server_config
        .as_ref()
        .map(|t| tls_config(t, base))
        .transpose()?
        .map(Arc::new);
    let auth = if file.basic_auth_users.is_empty() {
        None
    } else {
        Some(Arc::new(
            BasicAuth::new(file.basic_auth_users)
                .map_err(|e| anyhow::anyhow!("basic_auth_users: {e}"))?,
        ))
    };
    let headers = file
        .http_server_config
        .map(|h| h.headers.into_iter().collect())
        .unwrap_or_default();
    Ok(WebConfig { tls, auth, headers })
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn tls_config(t: &TlsServerConfig, base: &Path) -> anyhow::Result<rustls::ServerConfig> {
    let cert_file = resolve(base, &t.cert_file);
    let key_file = resolve(base, &t.key_file);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
        .with_context(|| format!("cannot read cert_file {}", cert_file.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cert_file {} is not PEM certificates", cert_file.display()))?;
    if certs.is_empty() {
        bail!("cert_file {} holds no certificate", cert_file.display());
    }
    let key = PrivateKeyDer::from_pem_file(&key_file).with_context(|| {
        format!(
            "cannot read a private key from key_file {}",
            key_file.display()
        )
    })?;

    let version = |v: &Option<String>, default| match v.as_deref() {
        None => Ok(default),
        Some("TLS12") => Ok(12),
        Some("TLS13") => Ok(13),
        Some(other) => bail!("TLS version {other:?} is not supported: use TLS12 or TLS13"),
    };
    let (min, max) = (version(&t.min_version, 12)?, version(&t.max_version, 13)?);
    if min > max {
        bail!("min_version is above max_version");
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, p)| p)
            .collect();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .context("TLS versions")?;

    let auth_type = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth_type {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let ca_file = t
                .client_ca_file
                .as_ref()
                .map(|p| resolve(base, p))
                .with_context(|| format!("client_auth_type {auth_type} needs client_ca_file"))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&ca_file)
                .with_context(|| format!("cannot read client_ca_file {}", ca_file.display()))?
            {
                let cert = cert.with_context(|| format!("client_ca_file {} is not PEM", ca_file.display()))?;
                roots.add(cert).context("client CA certificate")?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth_type == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().context("client certificate verifier")?)
        }
        "RequestClientCert" | "RequireAnyClientCert" => bail!(
            "client_auth_type {auth_type} (certificates accepted without verification) is not supported: use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
        ),
        other => bail!("client_auth_type {other:?} is not one of NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .context("the certificate and key do not form a usable pair")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Basic auth against bcrypt hashes. bcrypt is slow on purpose, so a
/// successful check is remembered (as a SHA-256 of user and password) and
/// later requests with the same credentials cost one hash.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    verified: Mutex<HashSet<[u8; 32]>>,
    /// A hash of the users' cost that an unknown user's password is checked
    /// against, so that a wrong user name costs what a wrong password costs.
    dummy: String,
    /// bcrypt verifications done, as a test's witness of the work.
    bcrypt_checks: std::sync::atomic::AtomicUsize,
}

impl BasicAuth {
    /// Users and their bcrypt hashes; a value that is not a bcrypt hash is refused.
    pub fn new(users: BTreeMap<String, String>) -> anyhow::Result<BasicAuth> {
        for (user, hash) in &users {
            if !hash.starts_with("$2") {
                bail!("user {user}: the password must be a bcrypt hash ($2y$…), not plain text");
            }
        }
        // "$2y$10$…": the cost is the third field.
        let cost = users
            .values()
            .filter_map(|h| h.split('$').nth(2)?.parse::<u32>().ok())
            .max()
            .unwrap_or(bcrypt::DEFAULT_COST)
            .clamp(4, 31);
        let dummy = bcrypt::hash("pakiti: no such user", cost)
            .context("cannot compute the bcrypt hash that unknown users are checked against")?;
        Ok(BasicAuth {
            users,
            verified: Mutex::new(HashSet::new()),
            dummy,
            bcrypt_checks: Default::default(),
        })
    }

    fn bcrypt(&self, password: &str, hash: &str) -> bool {
        self.bcrypt_checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bcrypt::verify(password, hash).unwrap_or(false)
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, header: Option<&str>) -> bool {
        use base64::Engine as _;
        // The scheme name is case-insensitive (RFC 9110, section 11.1).
        let Some(encoded) = header
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .map(|(_, rest)| rest)
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(decoded) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = decoded.split_once(':') else {
            return false;
        };
        let Some(hash) = self.users.get(user) else {
            let _ = self.bcrypt(password, &self.dummy);
            return false;
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0u8])
            .chain_update(password.as_bytes())
            .chain_update([0u8])
            .chain_update(hash.as_bytes())
            .finalize()
            .into();
        if self
            .verified
            .lock()
            .map(|s| s.contains(&key))
            .unwrap_or(false)
        {
            return true;
        }
        let ok = self.bcrypt(password, hash);
        if ok {
            if let Ok(mut s) = self.verified.lock() {
                if s.len() > 1024 {
                    s.clear();
                }
                s.insert(key);
            }
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_checks_bcrypt_hashes() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let cfg = parse(
            &format!("basic_auth_users:\n  alice: '{hash}'\n"),
            Path::new("."),
        )
        .unwrap();
        let auth = cfg.auth.unwrap();
        use base64::Engine as _;
        let header = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert!(auth.check(Some(&header("alice:s3cret"))));
        assert!(auth.check(Some(&header("alice:s3cret"))), "cached path");
        assert!(!auth.check(Some(&header("alice:wrong"))));
        assert!(!auth.check(Some(&header("bob:s3cret"))));
        assert!(!auth.check(Some("Bearer x")));
        let encoded = header("alice:s3cret")[6..].to_string();
        for scheme in ["basic", "BASIC", "bAsIc"] {
            assert!(auth.check(Some(&format!("{scheme} {encoded}"))), "{scheme}");
        }
        assert!(!auth.check(Some(&format!("Basicx {encoded}"))));
        assert!(!auth.check(None));
    }

    /// An unknown user costs a bcrypt check of the users' cost, like a known
    /// user's wrong password: timing does not tell which user names exist.
    #[test]
    fn unknown_users_cost_a_bcrypt_check_of_the_same_cost() {
        use base64::Engine as _;
        let hash = bcrypt::hash("s3cret", 6).unwrap();
        let auth = BasicAuth::new([("alice".to_string(), hash)].into()).unwrap();
        assert_eq!(auth.dummy.split('$').nth(2), Some("06"), "{}", auth.dummy);
        let checks = || {
            auth.bcrypt_checks
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        for user in ["alice", "mallory"] {
            let h = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:wrong"))
            );
            let before = checks();
            assert!(!auth.check(Some(&h)));
            assert_eq!(checks() - before, 1, "{user}: one bcrypt check");
        }
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: &str| {
            parse(text, Path::new("."))
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default()
        };
        assert!(err("basic_auth_users:\n  alice: plain\n").contains("bcrypt"));
        assert!(err(
            "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n"
        )
        .contains("/nonexistent.crt"));
        assert!(err("tls_sever_config: {}\n").contains("unknown field"));
        assert!(parse("", Path::new(".")).unwrap().tls.is_none());
    }
}
