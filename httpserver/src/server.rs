//! The accept loop: plain TCP or TLS, one task per connection; the verified
//! client certificate, when there is one, travels with every request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::Service;

use crate::dn::DistinguishedName;
use crate::webconfig::{BasicAuth, WebConfig};

/// The client certificate a TLS peer presented and the server verified.
#[derive(Debug, Clone)]
pub struct PeerCertificate {
    /// The subject in RFC 4514 form (most specific first, escaped), for logs and pages.
    pub subject: String,
    /// The subject's common name, when it has one.
    pub common_name: Option<String>,
    dn: DistinguishedName,
}

impl PeerCertificate {
    fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        Some(Self::of(DistinguishedName::of_x509(cert.subject())))
    }

    /// A certificate with this RFC 4514 subject (for tests and tools).
    pub fn with_subject(subject: &str) -> Result<Self, String> {
        DistinguishedName::parse(subject).map(Self::of)
    }

    fn of(dn: DistinguishedName) -> Self {
        PeerCertificate {
            subject: dn.to_string(),
            common_name: dn.common_name().map(str::to_string),
            dn,
        }
    }

    /// Whether the subject is the configured RFC 4514 name, compared as a
    /// parsed name (a configured name that does not parse matches nothing;
    /// configurations are checked with [`DistinguishedName::parse`] at start).
    pub fn subject_matches(&self, configured: &str) -> bool {
        DistinguishedName::parse(configured).is_ok_and(|c| c == self.dn)
    }
}

/// Turns `:10150`, `0.0.0.0:10150`, `[::1]:10150` or `localhost:10150` into a listener.
pub async fn bind(address: &str) -> anyhow::Result<TcpListener> {
    if let Some(port) = address.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .with_context(|| format!("--web.listen-address {address:?}: {port:?} is not a port"))?;
        // All interfaces: dual-stack where IPv6 exists, else IPv4.
        return match TcpListener::bind(("::", port)).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(("0.0.0.0", port))
                .await
                .with_context(|| format!("cannot listen on {address}")),
        };
    }
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))
}

/// How long a client has to send a request's headers, from the moment its
/// connection opens or its previous answer was sent: an idle or slow
/// connection is closed, never left to hold a slot.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Descriptors kept free of connections, for the store, files and children.
const RESERVED_DESCRIPTORS: u64 = 128;

/// Raises the soft limit of open files to the hard one, as Go servers do
/// (systemd's default soft limit is 1024); returns the limit now in force.
pub fn raise_open_files_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// How many connections are served at once: what the open-files limit
/// leaves after a reserve. Past it, new connections wait in the listen queue
/// until one closes (idle ones close after [`HEADER_READ_TIMEOUT`]).
pub fn connection_limit(open_files: u64) -> usize {
    open_files
        .saturating_sub(RESERVED_DESCRIPTORS)
        .clamp(16, 1 << 20) as usize
}

/// Serves `router` on `listener`, with TLS when configured, until the process ends.
pub async fn serve(listener: TcpListener, router: Router, web: &WebConfig) -> anyhow::Result<()> {
    let tls = web.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let open_files = raise_open_files_limit();
    let slots = Arc::new(tokio::sync::Semaphore::new(connection_limit(open_files)));
    tracing::debug!(
        open_files,
        connections = slots.available_permits(),
        "serving limits"
    );
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => serve_connection(TokioIo::new(stream), router, peer, None).await,
                Some(acceptor) => {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls_stream)) => {
                            let cert = tls_stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .and_then(|c| PeerCertificate::from_der(c.as_ref()));
                            serve_connection(TokioIo::new(tls_stream), router, peer, cert).await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

async fn serve_connection<I>(
    io: TokioIo<I>,
    router: Router,
    peer: SocketAddr,
    cert: Option<PeerCertificate>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let cert = cert.map(Arc::new);
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let mut router = router.clone();
        let mut req = req.map(Body::new);
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        if let Some(c) = &cert {
            req.extensions_mut().insert(c.clone());
        }
        async move { router.call(req).await }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(io, service)
        .await
    {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Which requests authenticate by other means than basic auth (a route that
/// checks its own bearer token or client certificate).
pub type AuthenticatesItself = Arc<dyn Fn(&Request) -> bool + Send + Sync>;

/// Requires basic auth on every route of `router`.
pub fn basic_auth(router: Router, auth: Arc<BasicAuth>, realm: &'static str) -> Router {
    basic_auth_unless(router, auth, realm, Arc::new(|_| false))
}

/// Requires basic auth on every request of `router` but those `itself` says
/// authenticate themselves: basic auth composes with token pushes instead of
/// refusing them.
pub fn basic_auth_unless(
    router: Router,
    auth: Arc<BasicAuth>,
    realm: &'static str,
    itself: AuthenticatesItself,
) -> Router {
    router.layer(middleware::from_fn_with_state(
        (auth, realm, itself),
        require_auth,
    ))
}

async fn require_auth(
    State((auth, realm, itself)): State<(Arc<BasicAuth>, &'static str, AuthenticatesItself)>,
    req: Request,
    next: Next,
) -> Response {
    if itself(&req) {
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ok = tokio::task::spawn_blocking(move || auth.check(header.as_deref()))
        .await
        .unwrap_or(false);
    if ok {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, format!("Basic realm=\"{realm}\""))],
            "Unauthorized\n",
        )
            .into_response()
    }
}

/// Adds the web config's extra response headers to every response.
pub fn headers(mut router: Router, web: &WebConfig) -> Router {
    for (name, value) in &web.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            router = router.layer(middleware::from_fn(move |req: Request, next: Next| {
                let (n, v) = (n.clone(), v.clone());
                async move {
                    let mut resp = next.run(req).await;
                    resp.headers_mut().insert(n, v);
                    resp
                }
            }));
        }
    }
    router
}
