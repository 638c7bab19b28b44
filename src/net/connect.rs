//! Connecting: a slot from the scan-wide [`Limits`], TCP with a timeout
//! (to the target, or to a `--proxy` and through its tunnel: see
//! [`super::proxy`]), then TLS (rustls, ring provider) with SNI. Nothing
//! here knows about WebSocket.
//!
//! One [`Connector`] is shared by every probe of a scan, so its rustls
//! client config (and its session cache) resumes TLS sessions across the
//! many connections made to one host.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::limit::{Limited, Limits};
use super::proxy::Proxy;
use super::tls::{self, Sniffed, TlsFacts};

/// Where a connection goes: an address, or (through a proxy, which
/// resolves it) a name and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    Addr(SocketAddr),
    Name(String, u16),
}

impl std::fmt::Display for Dest {
    /// `host:port`, an IPv6 address in brackets (a CONNECT request's
    /// authority).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dest::Addr(a) => write!(f, "{a}"),
            Dest::Name(h, p) => write!(f, "{h}:{p}"),
        }
    }
}

/// What a proxy reported of the target, as a direct connection would
/// have seen it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relayed {
    /// The target refused (SOCKS5 reply 5): `refused`.
    Refused,
    /// The target did not answer in time (SOCKS5 reply 6, CONNECT 504,
    /// or no reply before our timeout): `timeout`.
    Timeout,
    /// The proxy could not reach it (SOCKS5 replies 3 and 4, CONNECT 502
    /// and 503): `error`, as an unreachable network is on a direct scan.
    Unreachable,
}

/// A byte stream to a target, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Why a connection could not be made. Mapped to record statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    Refused,
    Timeout,
    Reset,
    Tls(String),
    Other(String),
    /// The proxy itself failed: down, not speaking its protocol, our
    /// credentials refused, its rules: a `proxy_error`, not the target's
    /// answer.
    Proxy(String),
    /// The proxy's word on the target, in words naming the proxy.
    Relayed(Relayed, String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Refused => f.write_str("connection refused"),
            ConnectError::Timeout => f.write_str("timed out"),
            ConnectError::Reset => f.write_str("connection reset"),
            ConnectError::Tls(e) => write!(f, "TLS: {e}"),
            ConnectError::Other(e) | ConnectError::Proxy(e) | ConnectError::Relayed(_, e) => {
                f.write_str(e)
            }
        }
    }
}

/// Classify an I/O error the way records report it.
pub fn classify(e: &io::Error) -> ConnectError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ConnectError::Refused,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => ConnectError::Reset,
        io::ErrorKind::TimedOut => ConnectError::Timeout,
        _ => ConnectError::Other(e.to_string()),
    }
}

#[derive(Clone)]
pub struct Connector {
    tls: TlsConnector,
    pub connect_timeout: Duration,
    /// Shared by every clone: one budget for the whole scan.
    pub limits: Arc<Limits>,
    /// Disable Nagle on plain TCP and acknowledge reads at once (see
    /// [`Limited`]). Probes write frames in several small writes and wait
    /// for answers that servers may send in several writes, so they need
    /// both; `--discover` writes one request, reads one response, and
    /// saves the system calls. TLS always gets TCP_NODELAY (its handshake
    /// ends in back-to-back writes).
    pub nodelay: bool,
    /// `--proxy`: every connection through it (None: direct).
    pub proxy: Option<Arc<Proxy>>,
}

impl Connector {
    /// `insecure`: accept any certificate (STEWS's `-k`). Fails only if
    /// the ring provider lacked the default protocol versions.
    pub fn new(insecure: bool, connect_timeout: Duration) -> Result<Self, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let mut config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
                .with_no_client_auth()
        } else {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        // WebSocket upgrades are HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Connector {
            tls: TlsConnector::from(Arc::new(config)),
            connect_timeout,
            limits: Arc::new(Limits::unlimited()),
            nodelay: true,
            proxy: None,
        })
    }

    /// Connect to `to`; with `tls_name`, run TLS with that SNI name (an
    /// IP address name sends no SNI, as RFC 6066 requires). Through a
    /// proxy, the connection to it and the tunnel's setup each have
    /// `connect_timeout` (the tunnel's ends when the proxy has reached the
    /// target), and TLS runs inside the tunnel; a [`Dest::Name`] is only
    /// reached through one.
    ///
    /// `facts`: the target's slot for the facts of its first successful
    /// TLS handshake, filled by the first connection that finds it empty
    /// (the certificate is parsed once per target, not per probe).
    ///
    /// `deadline` (the target's) bounds everything here, the wait for a
    /// slot under the scan-wide limits included: a target must not spend
    /// its time queueing, and none is started once it has passed. What it
    /// cuts is a [`ConnectError::Timeout`].
    pub async fn connect(
        &self,
        to: &Dest,
        tls_name: Option<&str>,
        deadline: Option<tokio::time::Instant>,
        facts: Option<&OnceLock<TlsFacts>>,
    ) -> Result<Box<dyn Stream>, ConnectError> {
        let until = |timeout: Duration| {
            let own = tokio::time::Instant::now() + timeout;
            deadline.map_or(own, |d| own.min(d))
        };
        let permit = match deadline {
            None => self.limits.admit().await,
            Some(d) if tokio::time::Instant::now() >= d => return Err(ConnectError::Timeout),
            Some(d) => tokio::time::timeout_at(d, self.limits.admit())
                .await
                .map_err(|_| ConnectError::Timeout)?,
        }
        .ok_or_else(|| ConnectError::Other("connection limits closed".into()))?;
        let tcp = match (&self.proxy, to) {
            (Some(proxy), _) => {
                let tcp = proxy.dial(until(self.connect_timeout), deadline).await?;
                let _ = tcp.set_nodelay(true);
                proxy
                    .tunnel(tcp, to, until(self.connect_timeout), deadline)
                    .await?
            }
            (None, Dest::Addr(addr)) => {
                let connecting = TcpStream::connect(*addr);
                match tokio::time::timeout_at(until(self.connect_timeout), connecting).await {
                    Err(_) => return Err(ConnectError::Timeout),
                    Ok(Err(e)) => return Err(classify(&e)),
                    Ok(Ok(s)) => s,
                }
            }
            (None, Dest::Name(host, _)) => {
                return Err(ConnectError::Other(format!(
                    "no address for {host}: a name is resolved before connecting, or by a --proxy"
                )));
            }
        };
        if self.nodelay || tls_name.is_some() {
            let _ = tcp.set_nodelay(true);
        }
        let Some(name) = tls_name else {
            return Ok(Box::new(Limited::new(tcp, Some(permit), self.nodelay)));
        };
        let server_name = ServerName::try_from(name.trim_matches(['[', ']']).to_string())
            .map_err(|e| ConnectError::Tls(format!("bad server name {name:?}: {e}")))?;
        // Boxed: a TLS handshake's future is about 1 KiB, which every
        // plain connection's future would otherwise carry (and move) too.
        // Fallible: a failed handshake hands the stream back, with the
        // server's first bytes (a plain HTTP port's `HTTP/1.1 400`).
        let tls = Box::pin(
            self.tls
                .connect(server_name, Sniffed::new(tcp))
                .into_fallible(),
        );
        match tokio::time::timeout_at(until(self.connect_timeout), tls).await {
            Err(_) => Err(ConnectError::Timeout),
            Ok(Err((e, io))) => Err(handshake_error(&e, io.head())),
            Ok(Ok(s)) => {
                if let Some(slot) = facts
                    && slot.get().is_none()
                {
                    let _ = slot.set(TlsFacts::of(s.get_ref().1));
                }
                Ok(Box::new(Limited::new(s, Some(permit), self.nodelay)))
            }
        }
    }
}

/// A failed handshake as a record reports it. What the server sent comes
/// first: an answer that is not TLS names the port's mistake better than
/// the error rustls made of it (a reset, an EOF, a bad record).
fn handshake_error(e: &io::Error, head: &[u8]) -> ConnectError {
    if let Some(why) = tls::not_tls(head) {
        return ConnectError::Tls(why);
    }
    match classify(e) {
        ConnectError::Other(_) => ConnectError::Tls(tls::failure(e)),
        ConnectError::Reset => ConnectError::Tls(
            "reset during the TLS handshake: is this a ws:// (not wss://) port? try -n".into(),
        ),
        other => other,
    }
}

/// `-k`: certificates are not checked, signatures still are (so the
/// handshake is a real one).
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
