//! `--proxy`: every connection of a scan through a SOCKS5 proxy or an
//! HTTP CONNECT proxy (an intercepting proxy such as Burp, an `ssh -D`
//! tunnel). The tunnel is a TCP stream to the proxy that carries the
//! target's bytes; TLS, when the target is wss, runs inside it as it would
//! on a direct connection (SNI = the target's name).
//!
//! A target given as a name is resolved by the proxy, never here (remote
//! DNS, like curl's `socks5h://`): the proxy is asked for the name, which
//! is what a tunnel into another network needs, and what an intercepting
//! proxy shows. The SOCKS5 client is `tokio-socks`; HTTP CONNECT is small
//! enough to be written here: one request, one response head read with
//! httparse, bounded in bytes, and none of the bytes after it (the peek
//! below), so the tunnel hands the target's first byte to whoever reads
//! next.
//!
//! Failures say which side they are about ([`ConnectError`]): the proxy's
//! own (down, not that protocol, our credentials refused, its rules) are
//! [`ConnectError::Proxy`], a `proxy_error` record; what the proxy reports
//! of the target (SOCKS5 reply 5, a CONNECT 504) is
//! [`ConnectError::Relayed`], the status a direct connect would have had.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use base64::Engine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_socks::TargetAddr;
use tokio_socks::tcp::Socks5Stream;

use super::connect::{ConnectError, Dest, Relayed, classify};

/// Largest CONNECT response head read (what proxies send is a line or
/// three; a proxy that sends more is not answering CONNECT).
const MAX_HEAD: usize = 16 * 1024;
/// Headers parsed in a CONNECT response head.
const MAX_HEADERS: usize = 64;

/// The protocol spoken to the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `socks5://` and `socks5h://` (both resolve names at the proxy).
    Socks5,
    /// `http://`: HTTP CONNECT.
    Http,
}

/// A `--proxy` URL, checked: `socks5://[user:pass@]host:port`,
/// `socks5h://...` or `http://[user:pass@]host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    pub kind: Kind,
    /// The scheme as given (lower-cased): `socks5`, `socks5h` or `http`.
    pub scheme: String,
    /// A name or an address (an IPv6 address without its brackets).
    pub host: String,
    pub port: u16,
    /// Username and password, percent-decoded.
    pub auth: Option<(String, String)>,
}

impl ProxyUrl {
    /// Parse and check `s`; the error says what is wrong, without the
    /// credentials.
    pub fn parse(s: &str) -> Result<ProxyUrl, String> {
        if let Some(c) = s.chars().find(|c| c.is_control() || *c == ' ') {
            return Err(format!(
                "expected no spaces or control characters (found '{}')",
                c.escape_default()
            ));
        }
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(
                "expected socks5://[user:pass@]host:port or http://[user:pass@]host:port".into(),
            );
        };
        let scheme = scheme.to_ascii_lowercase();
        let kind = match scheme.as_str() {
            "socks5" | "socks5h" => Kind::Socks5,
            "http" => Kind::Http,
            "https" => {
                return Err(
                    "https:// proxies (TLS to the proxy) are not supported: use \
                     http:// (CONNECT; wss targets still get TLS inside the tunnel) or socks5://"
                        .into(),
                );
            }
            other => {
                return Err(format!(
                    "unsupported proxy scheme {other:?}: expected socks5://, socks5h:// or http://"
                ));
            }
        };
        // A trailing '/' is what a URL may end with; any other path,
        // query or fragment means something a proxy address cannot.
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if let Some(c) = rest.chars().find(|c| matches!(c, '/' | '?' | '#')) {
            return Err(format!(
                "expected only [user:pass@]host:port after {scheme}:// (found '{c}')"
            ));
        }
        let (auth, hostport) = match rest.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, rest),
        };
        let auth = match auth {
            None => None,
            Some(userinfo) => {
                let Some((user, pass)) = userinfo.split_once(':') else {
                    return Err(
                        "expected user:pass@ before the host (no ':' in the credentials)".into(),
                    );
                };
                let (user, pass) = (percent_decode(user)?, percent_decode(pass)?);
                if user.is_empty() {
                    return Err("expected a username before the ':' of user:pass@".into());
                }
                match kind {
                    // RFC 1929: each is one to 255 bytes.
                    Kind::Socks5 if user.len() > 255 || pass.is_empty() || pass.len() > 255 => {
                        return Err("SOCKS5 usernames and passwords are 1 to 255 bytes each".into());
                    }
                    // RFC 7617: Basic's user-id cannot hold a colon.
                    Kind::Http if user.contains(':') => {
                        return Err("an HTTP proxy's username cannot hold ':' (Basic)".into());
                    }
                    _ => {}
                }
                if let Some(c) = user.chars().chain(pass.chars()).find(|c| c.is_control()) {
                    return Err(format!(
                        "expected no control characters in the credentials (found '{}')",
                        c.escape_default()
                    ));
                }
                Some((user, pass))
            }
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let Some((addr, port)) = v6.split_once(']') else {
                return Err("expected ']' after an IPv6 address".into());
            };
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("{addr:?} is not an IPv6 address"));
            }
            (addr.to_string(), port.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        let Some(port) = port else {
            return Err(format!(
                "expected a port: {scheme}://{}:PORT (there is no default)",
                bracket(&host)
            ));
        };
        let port: u16 = match port.parse() {
            Ok(p) if p > 0 => p,
            _ => return Err(format!("{port:?} is not a port (1 to 65535)")),
        };
        if host.is_empty() {
            return Err("expected a host before the port".into());
        }
        if !host.contains(':')
            && !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
        {
            return Err(format!(
                "{host:?} is not a host name or address (letters, digits, '-', '.', or [IPv6])"
            ));
        }
        Ok(ProxyUrl {
            kind,
            scheme,
            host,
            port,
            auth,
        })
    }

    /// The URL without its credentials: what records and messages show.
    pub fn shown(&self) -> String {
        format!("{}://{}:{}", self.scheme, bracket(&self.host), self.port)
    }
}

/// An IPv6 address in brackets, anything else as it is.
fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// `%XX` escapes of URL userinfo decoded (so a password can hold `@` or
/// `:`); the result must be UTF-8.
fn percent_decode(s: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hex = |b: Option<u8>| b.and_then(|b| (b as char).to_digit(16));
        match (hex(bytes.next()), hex(bytes.next())) {
            (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
            _ => return Err("expected two hex digits after '%' in the credentials".into()),
        }
    }
    String::from_utf8(out).map_err(|_| "the credentials are not UTF-8 once decoded".to_string())
}

/// A checked proxy with its addresses: what the connector tunnels through.
#[derive(Debug)]
pub struct Proxy {
    url: ProxyUrl,
    shown: String,
    addrs: Vec<SocketAddr>,
    /// `Proxy-Authorization` for CONNECT, when credentials were given.
    basic: Option<String>,
}

impl Proxy {
    /// Look the proxy's host up once, with the system's resolver (an
    /// address needs no lookup): every connection of the scan goes to it.
    pub async fn resolve(url: &ProxyUrl) -> Result<Proxy, String> {
        let shown = url.shown();
        let addrs: Vec<SocketAddr> = match url.host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, url.port)],
            Err(_) => tokio::net::lookup_host((url.host.as_str(), url.port))
                .await
                .map_err(|e| format!("--proxy {shown}: cannot resolve {}: {e}", url.host))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(format!("--proxy {shown}: no address for {}", url.host));
        }
        Ok(Proxy::with_addrs(url, addrs))
    }

    /// A proxy at `addrs` (tests: no lookup).
    pub fn with_addrs(url: &ProxyUrl, addrs: Vec<SocketAddr>) -> Proxy {
        let basic = url.auth.as_ref().map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        Proxy {
            shown: url.shown(),
            url: url.clone(),
            addrs,
            basic,
        }
    }

    /// Whether the target's `deadline` has passed (what cut a wait then
    /// is the deadline, a `target_timeout`).
    fn cut(&self, deadline: Option<Instant>) -> bool {
        deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The proxy URL without credentials (a record's `proxy`).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// A TCP stream to the proxy, connected by `until`. A proxy that is
    /// down is the proxy's failure, not the target's; only the target's
    /// own `deadline`, when it is what cut the wait, makes it a plain
    /// timeout (the record's `target_timeout`).
    pub async fn dial(
        &self,
        until: Instant,
        deadline: Option<Instant>,
    ) -> Result<TcpStream, ConnectError> {
        let connecting = TcpStream::connect(self.addrs.as_slice());
        match tokio::time::timeout_at(until, connecting).await {
            Err(_) if self.cut(deadline) => Err(ConnectError::Timeout),
            Err(_) => Err(ConnectError::Proxy(format!(
                "proxy {} did not accept a connection in time (--connect-timeout)",
                self.shown
            ))),
            Ok(Err(e)) => Err(ConnectError::Proxy(format!(
                "proxy {} unreachable: {}{}",
                self.shown,
                classify(&e),
                if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    " (is the proxy running?)"
                } else {
                    ""
                }
            ))),
            Ok(Ok(s)) => Ok(s),
        }
    }

    /// Ask the proxy, on `tcp`, for a tunnel to `dest`, by `until` (a
    /// timeout is the target's: the proxy answers once the target did).
    pub async fn tunnel(
        &self,
        tcp: TcpStream,
        dest: &Dest,
        until: Instant,
        deadline: Option<Instant>,
    ) -> Result<TcpStream, ConnectError> {
        // Bytes the proxy has sent so far: a SOCKS5 proxy that has not
        // finished its own part of the handshake (2 bytes to pick a
        // method, 2 more to accept a password) when time runs out is not
        // waiting for the target; it is not answering us.
        let heard = Arc::new(AtomicUsize::new(0));
        let own_part = if self.url.auth.is_some() { 4 } else { 2 };
        let asking = async {
            match self.url.kind {
                Kind::Socks5 => self.socks5(Heard(tcp, heard.clone()), dest).await,
                Kind::Http => self.connect(tcp, dest).await,
            }
        };
        match tokio::time::timeout_at(until, asking).await {
            Err(_)
                if self.url.kind == Kind::Socks5
                    && heard.load(Ordering::Relaxed) < own_part
                    && !self.cut(deadline) =>
            {
                Err(ConnectError::Proxy(format!(
                    "proxy {} did not answer the SOCKS5 handshake in time (is it a SOCKS5 proxy?)",
                    self.shown
                )))
            }
            Err(_) => Err(ConnectError::Relayed(
                Relayed::Timeout,
                format!(
                    "timed out waiting for the proxy {} to connect to {dest}",
                    self.shown
                ),
            )),
            Ok(r) => r,
        }
    }

    async fn socks5(&self, tcp: Heard, dest: &Dest) -> Result<TcpStream, ConnectError> {
        let target = match dest {
            Dest::Addr(a) => TargetAddr::Ip(*a),
            Dest::Name(host, port) => TargetAddr::Domain(host.as_str().into(), *port),
        };
        let r = match &self.url.auth {
            None => Socks5Stream::connect_with_socket(tcp, target).await,
            Some((u, p)) => Socks5Stream::connect_with_password_and_socket(tcp, target, u, p).await,
        };
        r.map(|s| s.into_inner().0)
            .map_err(|e| self.socks_error(e, dest))
    }

    /// A SOCKS5 failure as the record reports it: the reply codes that
    /// speak of the target as the target's status, the rest as the
    /// proxy's.
    fn socks_error(&self, e: tokio_socks::Error, dest: &Dest) -> ConnectError {
        use tokio_socks::Error as E;
        let p = &self.shown;
        let relayed = |how, what: &str, code: u8| {
            ConnectError::Relayed(
                how,
                format!("{what}: the proxy {p} answered SOCKS5 reply {code} for {dest}"),
            )
        };
        match e {
            E::ConnectionRefused => relayed(Relayed::Refused, "connection refused", 5),
            E::TtlExpired => relayed(Relayed::Timeout, "timed out (TTL expired)", 6),
            E::NetworkUnreachable => relayed(Relayed::Unreachable, "network unreachable", 3),
            E::HostUnreachable => relayed(Relayed::Unreachable, "host unreachable", 4),
            E::GeneralSocksServerFailure => ConnectError::Proxy(format!(
                "proxy {p}: general SOCKS server failure (reply 1) for {dest}"
            )),
            E::ConnectionNotAllowedByRuleset => ConnectError::Proxy(format!(
                "proxy {p} refused to connect to {dest}: not allowed by its rules (SOCKS5 reply 2)"
            )),
            E::AuthorizationRequired => ConnectError::Proxy(format!(
                "proxy {p} wants a username and password: give socks5://user:pass@host:port"
            )),
            E::NoAcceptableAuthMethods => ConnectError::Proxy(format!(
                "proxy {p} accepts none of the authentication methods offered{}",
                if self.url.auth.is_none() {
                    " (none; give user:pass@?)"
                } else {
                    " (none, username/password)"
                }
            )),
            E::PasswordAuthFailure(code) => ConnectError::Proxy(format!(
                "proxy {p} rejected the username and password (status {code})"
            )),
            E::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                ConnectError::Proxy(format!(
                    "proxy {p} closed the connection during the SOCKS5 handshake \
                     (is it a SOCKS5 proxy?)"
                ))
            }
            E::Io(io) => ConnectError::Proxy(format!(
                "proxy {p}: {} during the SOCKS5 handshake",
                classify(&io)
            )),
            E::InvalidResponseVersion => ConnectError::Proxy(format!(
                "proxy {p} did not answer in SOCKS5 (is it an HTTP proxy? use http://)"
            )),
            other => ConnectError::Proxy(format!("proxy {p}: {other}")),
        }
    }

    /// HTTP CONNECT: the request, then the response head, read with no
    /// byte past it.
    async fn connect(&self, mut tcp: TcpStream, dest: &Dest) -> Result<TcpStream, ConnectError> {
        let p = &self.shown;
        let mut req = format!("CONNECT {dest} HTTP/1.1\r\nHost: {dest}\r\n");
        if let Some(b) = &self.basic {
            req.push_str(&format!("Proxy-Authorization: {b}\r\n"));
        }
        req.push_str("\r\n");
        let io = |e: std::io::Error| {
            ConnectError::Proxy(format!("proxy {p}: {} during CONNECT", classify(&e)))
        };
        tcp.write_all(req.as_bytes()).await.map_err(io)?;
        let mut head: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 2048];
        loop {
            // Peek, so that the bytes after the head (the target's, should
            // it speak first) stay in the socket; bytes of an unfinished
            // head are taken, so the next peek waits for more.
            let n = tcp.peek(&mut buf).await.map_err(io)?;
            let Some(got) = buf.get(..n).filter(|g| !g.is_empty()) else {
                return Err(ConnectError::Proxy(format!(
                    "proxy {p} closed the connection before answering CONNECT{}",
                    if head.is_empty() {
                        " (is it an HTTP proxy? a SOCKS5 one needs socks5://)"
                    } else {
                        ""
                    }
                )));
            };
            let before = head.len();
            head.extend_from_slice(got);
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&head) {
                Ok(httparse::Status::Complete(len)) => {
                    let take = len.saturating_sub(before);
                    let mut sink = vec![0u8; take];
                    tcp.read_exact(&mut sink).await.map_err(io)?;
                    let code = resp.code.unwrap_or(0);
                    let line = status_line(resp.version, code, resp.reason);
                    return match code {
                        200..=299 => Ok(tcp),
                        504 => Err(ConnectError::Relayed(
                            Relayed::Timeout,
                            format!("the proxy {p} answered CONNECT {dest} with {line}"),
                        )),
                        502 | 503 => Err(ConnectError::Relayed(
                            Relayed::Unreachable,
                            format!(
                                "the proxy {p} could not connect to {dest}: it answered CONNECT with {line}"
                            ),
                        )),
                        407 if self.basic.is_some() => Err(ConnectError::Proxy(format!(
                            "proxy {p} rejected the credentials: {line}"
                        ))),
                        407 => Err(ConnectError::Proxy(format!(
                            "proxy {p} wants credentials ({line}): give http://user:pass@host:port"
                        ))),
                        _ => Err(ConnectError::Proxy(format!(
                            "proxy {p} refused CONNECT {dest}: {line}"
                        ))),
                    };
                }
                Ok(httparse::Status::Partial) => {
                    if let Some(taken) = buf.get_mut(..n) {
                        tcp.read_exact(taken).await.map_err(io)?;
                    }
                    if head.len() > MAX_HEAD {
                        return Err(ConnectError::Proxy(format!(
                            "proxy {p}: the answer to CONNECT has no end of head in {MAX_HEAD} bytes"
                        )));
                    }
                }
                Err(e) => {
                    return Err(ConnectError::Proxy(format!(
                        "proxy {p} did not answer CONNECT in HTTP ({e}; is it a SOCKS5 proxy? use socks5://)"
                    )));
                }
            }
        }
    }
}

/// A stream to the proxy that counts the bytes read from it (shared, so
/// the count outlives a handshake its timeout dropped).
struct Heard(TcpStream, Arc<AtomicUsize>);

impl AsyncRead for Heard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.0).poll_read(cx, buf);
        self.1
            .fetch_add(buf.filled().len().saturating_sub(before), Ordering::Relaxed);
        r
    }
}

impl AsyncWrite for Heard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// `HTTP/1.1 403 Forbidden`, control characters of the reason escaped
/// and the reason cut at 100 characters.
fn status_line(version: Option<u8>, code: u16, reason: Option<&str>) -> String {
    let reason: String = reason
        .unwrap_or("")
        .chars()
        .take(100)
        .flat_map(char::escape_default)
        .collect();
    format!("HTTP/1.{} {code} {reason}", version.unwrap_or(1))
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_schemes_and_hides_credentials() {
        let u = ProxyUrl::parse("socks5://127.0.0.1:1080").unwrap();
        assert_eq!((u.kind, u.port, u.auth.clone()), (Kind::Socks5, 1080, None));
        assert_eq!(u.shown(), "socks5://127.0.0.1:1080");
        let u = ProxyUrl::parse("SOCKS5H://me:p%40ss@localhost:9050/").unwrap();
        assert_eq!(u.kind, Kind::Socks5);
        assert_eq!(u.auth, Some(("me".into(), "p@ss".into())));
        assert_eq!(u.shown(), "socks5h://localhost:9050");
        let u = ProxyUrl::parse("http://user:pw@[::1]:8080").unwrap();
        assert_eq!((u.kind, u.host.as_str()), (Kind::Http, "::1"));
        assert_eq!(u.shown(), "http://[::1]:8080");
        let p = Proxy::with_addrs(&u, vec![]);
        assert_eq!(p.basic.as_deref(), Some("Basic dXNlcjpwdw=="));
    }

    #[test]
    fn refuses_what_is_not_a_proxy_address() {
        for (bad, why) in [
            ("ftp://x:21", "unsupported proxy scheme"),
            ("socks4://x:1080", "unsupported proxy scheme"),
            ("https://x:443", "not supported"),
            ("127.0.0.1:8080", "expected socks5://"),
            ("http://127.0.0.1", "expected a port"),
            ("http://[::1]", "expected a port"),
            ("http://127.0.0.1:0", "not a port"),
            ("http://127.0.0.1:99999", "not a port"),
            ("http://127.0.0.1:80x", "not a port"),
            ("http://:8080", "expected a host"),
            ("http://127.0.0.1:8080/path", "expected only"),
            ("http://127.0.0.1:8080\r\nX: y", "control characters"),
            ("http://a b:1", "spaces"),
            ("http://us\u{e9}r:1", "not a host name"),
            ("http://user@127.0.0.1:8080", "no ':'"),
            ("socks5://u:@127.0.0.1:1080", "1 to 255"),
            ("http://u:%zz@127.0.0.1:8080", "hex digits"),
            ("http://u:%0d%0a@127.0.0.1:8080", "control characters"),
            ("http://[::1:8080", "']'"),
        ] {
            let e = ProxyUrl::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn status_lines_are_shown_escaped() {
        assert_eq!(
            status_line(Some(1), 403, Some("Forbidden")),
            "HTTP/1.1 403 Forbidden"
        );
        assert_eq!(status_line(Some(0), 502, None), "HTTP/1.0 502");
        assert_eq!(
            status_line(Some(1), 403, Some("a\u{1b}b")),
            "HTTP/1.1 403 a\\u{1b}b"
        );
    }
}
