//! HTTPS without a proxy: rustls (with an explicit crypto provider, since two live in the
//! binary) behind hyper's auto connection builder, so ALPN picks HTTP/2 or HTTP/1.1. The
//! certificate and key are read again on SIGHUP or when either file changes, without dropping
//! connections; a bad new pair is logged and the old one kept. With `HTTP_REDIRECT_BIND`, a
//! plain-HTTP listener answers every request with a permanent redirect to `PUBLIC_URL`.

use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use axum::{
    Router,
    extract::{ConnectInfo, Request},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto, graceful::GracefulShutdown},
};
use rustls::{
    ServerConfig,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::ProtectionError;
use crate::config::TlsConfig;

/// A TLS handshake that takes longer is dropped (a slow client must not hold a task forever).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the certificate files' modification times are compared.
const WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// The crypto provider of the hub's TLS server (aws-lc-rs, the one the hub's rustls enables).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The certificate in use, swapped on reload.
#[derive(Debug)]
pub struct Certificates {
    current: RwLock<Arc<CertifiedKey>>,
    cert_path: String,
    key_path: String,
    provider: Arc<CryptoProvider>,
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|current| current.clone())
    }
}

impl Certificates {
    /// Reads the PEM pair of the `[tls]` section.
    pub fn load(config: &TlsConfig) -> Result<Arc<Certificates>, ProtectionError> {
        let provider = provider();
        let key = read_pair(&config.cert, &config.key, &provider)?;
        Ok(Arc::new(Certificates {
            current: RwLock::new(Arc::new(key)),
            cert_path: config.cert.clone(),
            key_path: config.key.clone(),
            provider,
        }))
    }

    /// Reads the files again; on success new handshakes use the new pair.
    pub fn reload(&self) -> Result<(), ProtectionError> {
        let key = read_pair(&self.cert_path, &self.key_path, &self.provider)?;
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(key);
        }
        Ok(())
    }

    /// The rustls server configuration: TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, ProtectionError> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    fn modified(&self) -> (Option<SystemTime>, Option<SystemTime>) {
        let at = |path: &str| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        (at(&self.cert_path), at(&self.key_path))
    }

    /// Reloads on SIGHUP and whenever a file's modification time changes, until `shutdown`.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        let mut hangups = hangup_signals();
        let mut seen = self.modified();
        let mut tick = tokio::time::interval(WATCH_INTERVAL);
        loop {
            let why = tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    let now = self.modified();
                    if now == seen { continue; }
                    seen = now;
                    "file changed"
                }
                Some(()) = next_hangup(&mut hangups) => "SIGHUP",
            };
            match self.reload() {
                Ok(()) => tracing::info!(reason = why, "TLS certificate reloaded"),
                Err(err) => {
                    tracing::warn!(reason = why, error = %err, "TLS certificate not reloaded; the previous one stays in use");
                }
            }
        }
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

#[cfg(unix)]
fn hangup_signals() -> Hangups {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}
#[cfg(not(unix))]
fn hangup_signals() -> Hangups {}

#[cfg(unix)]
async fn next_hangup(hangups: &mut Hangups) -> Option<()> {
    match hangups {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}
#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangups) -> Option<()> {
    std::future::pending().await
}

fn read_pair(
    cert_path: &str,
    key_path: &str,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, ProtectionError> {
    let read = |path: &str| {
        std::fs::read(Path::new(path)).map_err(|source| ProtectionError::Read {
            path: path.to_string(),
            source,
        })
    };
    let chain = CertificateDer::pem_slice_iter(&read(cert_path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ProtectionError::Pem(format!("TLS_CERT {cert_path}: {e}")))?;
    if chain.is_empty() {
        return Err(ProtectionError::Pem(format!(
            "TLS_CERT {cert_path} holds no certificate"
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key_path)?)
        .map_err(|e| ProtectionError::Pem(format!("TLS_KEY {key_path}: {e}")))?;
    Ok(CertifiedKey::from_der(chain, key, provider)?)
}

/// Serves `router` over TLS on `listener` until `shutdown`, then lets open requests finish.
/// Each request carries its peer as `ConnectInfo`, like the plain server's.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Arc<ServerConfig>,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection failed");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => {
                    tracing::debug!(error = %err, %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let mut request = request.map(axum::body::Body::new);
                    request.extensions_mut().insert(ConnectInfo(peer));
                    router.clone().oneshot(request)
                });
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(err) = watcher.watch(connection).await {
                tracing::debug!(error = %err, %peer, "HTTPS connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The plain-HTTP listener that only redirects: every request gets 308 to the same path and
/// query under `public_url` (never under the request's Host, which the client chooses).
pub fn redirect_router(public_url: &str) -> Router {
    let base: Arc<str> = public_url.trim_end_matches('/').into();
    Router::new().fallback(move |request: Request| {
        let base = base.clone();
        async move { redirect(&base, &request) }
    })
}

fn redirect(base: &str, request: &Request) -> Response {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    match HeaderValue::try_from(format!("{base}{path}")) {
        Ok(location) => (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// Where `hub serve` tells the operator that Google push notifications and safe sign-in need
/// HTTPS: a public URL that is plain HTTP on an address other than loopback.
pub fn plain_public_url_warning(public_url: &str) -> Option<String> {
    let url = url::Url::parse(public_url).ok()?;
    if url.scheme() == "https" {
        return None;
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    (!loopback).then(|| {
        format!(
            "PUBLIC_URL {public_url} is not https: Google push notifications need https, and \
             tokens and sessions cross the network in the clear. Set TLS_CERT and TLS_KEY, or \
             put an HTTPS proxy in front and set PUBLIC_URL to its https address."
        )
    })
}

/// Binds the redirect listener of `HTTP_REDIRECT_BIND`.
pub async fn bind_redirect(bind: &str) -> Result<(TcpListener, SocketAddr), std::io::Error> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_fine_on_loopback_only() {
        assert!(plain_public_url_warning("http://127.0.0.1:8080").is_none());
        assert!(plain_public_url_warning("http://localhost:8080").is_none());
        assert!(plain_public_url_warning("https://hub.example.com").is_none());
        assert!(plain_public_url_warning("http://hub.example.com").is_some());
        assert!(plain_public_url_warning("http://0.0.0.0:8080").is_some());
    }
}
