//! Who is sending, and whether they may speak for the host and site they report.

use pakiti_httpserver::PeerCertificate;
use pakiti_report::Report;
use pakiti_store::Writer;
use sha2::{Digest, Sha256};

use crate::config::{Client, Role};

/// Why a sender was turned away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no or unknown credentials.
    Unauthenticated(String),
    /// 403: known sender, not allowed for this report.
    Forbidden(String),
}

/// The recognised sender of a request.
#[derive(Debug, Clone)]
pub struct Sender {
    /// `None` when the aggregator is open (no clients configured).
    pub client: Option<Client>,
    pub certificate: Option<PeerCertificate>,
    via_certificate: bool,
}

impl Sender {
    /// A sender already recognised as this client (by token, not certificate).
    pub fn of(client: Client) -> Sender {
        Sender {
            client: Some(client),
            certificate: None,
            via_certificate: false,
        }
    }

    /// Who writes, for the store's ownership rules: the client's name, and
    /// whether it may write only the host it is.
    pub fn writer(&self) -> Writer {
        match &self.client {
            Some(c) => Writer {
                client: Some(c.name.clone()),
                host_only: c.role == Role::Host,
            },
            None => Writer::anonymous(),
        }
    }

    pub fn name(&self) -> String {
        match (&self.client, &self.certificate) {
            (Some(c), _) => c.name.clone(),
            (None, Some(cert)) => cert.subject.clone(),
            (None, None) => "anonymous".into(),
        }
    }
}

/// Recognises the sender from a bearer token or a verified client certificate.
pub fn authenticate(
    clients: &[Client],
    bearer: Option<&str>,
    certificate: Option<&PeerCertificate>,
) -> Result<Sender, Refusal> {
    if clients.is_empty() {
        return Ok(Sender {
            client: None,
            certificate: certificate.cloned(),
            via_certificate: certificate.is_some(),
        });
    }
    if let Some(token) = bearer {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        return match clients.iter().find(|c| c.token_sha256 == Some(digest)) {
            Some(c) => Ok(Sender {
                client: Some(c.clone()),
                certificate: certificate.cloned(),
                via_certificate: false,
            }),
            None => Err(Refusal::Unauthenticated(
                "the bearer token is not one this aggregator knows".into(),
            )),
        };
    }
    if let Some(cert) = certificate {
        return match clients.iter().find(|c| {
            c.cert_subject
                .as_deref()
                .is_some_and(|s| cert.subject_matches(s))
        }) {
            Some(c) => Ok(Sender {
                client: Some(c.clone()),
                certificate: Some(cert.clone()),
                via_certificate: true,
            }),
            None => Err(Refusal::Unauthenticated(format!(
                "the client certificate {:?} is not configured as a client",
                cert.subject
            ))),
        };
    }
    Err(Refusal::Unauthenticated(
        "credentials required: a bearer token or a client certificate".into(),
    ))
}

/// Checks that `sender` may report this host and site; a report that names no
/// site gets its client's only site.
pub fn authorize(sender: &Sender, report: &mut Report) -> Result<(), Refusal> {
    let host = report.host.hostname.as_str().to_string();
    let Some(client) = &sender.client else {
        // Open: a presented certificate still names the only host it may report.
        if let Some(cn) = sender
            .certificate
            .as_ref()
            .and_then(|c| c.common_name.as_deref())
        {
            if !cn.eq_ignore_ascii_case(&host) {
                return Err(Refusal::Forbidden(format!(
                    "the client certificate is for {cn:?}, not for host {host:?}"
                )));
            }
        }
        return Ok(());
    };
    if let Some(sites) = &client.sites {
        match &report.host.site {
            Some(site) if sites.iter().any(|s| s == site) => {}
            Some(site) => {
                return Err(Refusal::Forbidden(format!(
                    "client {:?} may not speak for site {site:?} (its sites: {})",
                    client.name,
                    sites.join(", ")
                )))
            }
            None if sites.len() == 1 => report.host.site = Some(sites[0].clone()),
            None => {
                return Err(Refusal::Forbidden(format!(
                    "the report names no site and client {:?} speaks for several",
                    client.name
                )))
            }
        }
    }
    if client.role == Role::Host {
        let identity = if sender.via_certificate {
            sender
                .certificate
                .as_ref()
                .and_then(|c| c.common_name.clone())
                .unwrap_or_else(|| client.name.clone())
        } else {
            client.name.clone()
        };
        if !identity.eq_ignore_ascii_case(&host) {
            return Err(Refusal::Forbidden(format!(
                "client {:?} may report only host {identity:?}, not {host:?} (configure it as a relay to send for others)",
                client.name
            )));
        }
    }
    Ok(())
}
