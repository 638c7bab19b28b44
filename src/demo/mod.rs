//! An in-process farm of endpoints on loopback, for `wsfp demo`, the
//! integration tests and the benchmarks: real WebSocket implementations
//! from crates (tokio-tungstenite, fastwebsockets on hyper, soketto), a
//! slow one, a plain HTTP server, a closed port, a silent listener, and
//! hostile servers (slowloris heads, endless headers, a 2^63-byte frame,
//! endless fragments, garbage after the 101, RST mid-frame), so every
//! record status and every bound of the scanner shows up.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One endpoint of the farm.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub addr: SocketAddr,
    /// What the endpoint is, for people.
    pub what: &'static str,
    /// The fingerprint id a scan should report, or the record status.
    pub expect: &'static str,
}

pub struct Farm {
    pub endpoints: Vec<Endpoint>,
    tasks: Vec<JoinHandle<()>>,
}

impl Farm {
    /// A farm with no endpoints yet (add them with [`Farm::add`]).
    pub fn empty() -> Farm {
        Farm {
            endpoints: Vec::new(),
            tasks: Vec::new(),
        }
    }

    /// Start the default farm on 127.0.0.1, 127.0.0.2, ... (ephemeral ports).
    pub async fn start() -> std::io::Result<Farm> {
        let mut farm = Farm::empty();
        farm.add(
            "127.0.0.1",
            "tokio-tungstenite 0.30 echo",
            "rs-tokio-tungstenite",
            Kind::Tungstenite,
        )
        .await?;
        farm.add(
            "127.0.0.2",
            "tokio-tungstenite 0.30 echo",
            "rs-tokio-tungstenite",
            Kind::Tungstenite,
        )
        .await?;
        farm.add(
            "127.0.0.3",
            "plain HTTP server (404)",
            "not_websocket",
            Kind::Http404,
        )
        .await?;
        farm.add(
            "127.0.0.4",
            "listener that never answers",
            "timeout",
            Kind::Silent,
        )
        .await?;
        farm.add(
            "127.0.0.6",
            "fastwebsockets 0.10 on hyper 1 echo",
            "rs-fastwebsockets",
            Kind::FastWebSockets,
        )
        .await?;
        farm.add("127.0.0.7", "soketto 0.8 echo", "rs-soketto", Kind::Soketto)
            .await?;
        farm.add(
            "127.0.0.8",
            "tokio-tungstenite, 150 ms slow to answer",
            "rs-tokio-tungstenite",
            Kind::Slow,
        )
        .await?;
        farm.add(
            "127.0.0.9",
            "hostile: 101, then a frame announcing 2^63 bytes",
            "ok",
            Kind::Hostile(Hostile::HugeFrame),
        )
        .await?;
        // A closed port: bind, learn the port, close.
        let l = TcpListener::bind("127.0.0.5:0").await?;
        let addr = l.local_addr()?;
        drop(l);
        farm.endpoints.push(Endpoint {
            url: format!("ws://{addr}/"),
            addr,
            what: "closed port",
            expect: "refused",
        });
        Ok(farm)
    }

    /// Add one endpoint of `kind` on `ip` (ephemeral port).
    pub async fn add(
        &mut self,
        ip: &str,
        what: &'static str,
        expect: &'static str,
        kind: Kind,
    ) -> std::io::Result<SocketAddr> {
        let l = TcpListener::bind((ip, 0)).await?;
        let addr = l.local_addr()?;
        self.tasks.push(tokio::spawn(serve(l, kind)));
        self.endpoints.push(Endpoint {
            url: format!("ws://{addr}/"),
            addr,
            what,
            expect,
        });
        Ok(addr)
    }

    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// tokio-tungstenite echo server, default configuration.
    Tungstenite,
    /// fastwebsockets echo on hyper's upgrade (as the lab's rs-fastwebsockets).
    FastWebSockets,
    /// soketto echo (as the lab's rs-soketto).
    Soketto,
    /// tokio-tungstenite after a 150 ms pause on every connection.
    Slow,
    /// tokio-tungstenite that sends this text message first on every
    /// connection (as an app protocol's greeting: Engine.IO's open
    /// packet, NATS's `INFO`), then echoes.
    Greeter(&'static str),
    /// HTTP/1.1 404 for any request.
    Http404,
    /// Accepts and reads, never writes.
    Silent,
    /// A server built to hurt scanners.
    Hostile(Hostile),
}

/// Hostile behaviours (each one a bound the scanner must have).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// The response head, one byte every 200 ms, never finished.
    SlowlorisHead,
    /// `101` and then header lines forever.
    EndlessHeaders,
    /// A valid 101, then a binary frame announcing 2^63 - 1 bytes, then
    /// payload bytes for as long as we read.
    HugeFrame,
    /// A valid 101, then non-final fragments forever.
    EndlessFragments,
    /// A valid 101, then random-looking bytes forever.
    GarbageAfter101,
    /// A valid 101, half a frame, then a TCP reset.
    RstMidFrame,
    /// Bytes that are not TLS, to a TLS client.
    TlsGarbage,
}

impl Hostile {
    pub const ALL: [Hostile; 7] = [
        Hostile::SlowlorisHead,
        Hostile::EndlessHeaders,
        Hostile::HugeFrame,
        Hostile::EndlessFragments,
        Hostile::GarbageAfter101,
        Hostile::RstMidFrame,
        Hostile::TlsGarbage,
    ];
}

async fn serve(l: TcpListener, kind: Kind) {
    loop {
        let Ok((s, _)) = l.accept().await else {
            continue;
        };
        tokio::spawn(handle(s, kind));
    }
}

async fn handle(mut s: TcpStream, kind: Kind) {
    match kind {
        Kind::Slow => {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            Box::pin(handle(s, Kind::Tungstenite)).await;
        }
        Kind::FastWebSockets => fastws(s).await,
        Kind::Soketto => {
            let _ = soketto_echo(s).await;
        }
        Kind::Hostile(h) => hostile(s, h).await,
        Kind::Tungstenite | Kind::Greeter(_) => {
            let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                return;
            };
            if let Kind::Greeter(text) = kind
                && ws.send(text.into()).await.is_err()
            {
                return;
            }
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    break;
                }
            }
        }
        Kind::Http404 => {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let body = "not found\n";
            let _ = s
                .write_all(
                    format!(
                        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
        Kind::Silent => {
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        }
    }
}

async fn fastws(s: TcpStream) {
    use fastwebsockets::{FragmentCollector, OpCode, upgrade};
    use http_body_util::Empty;
    use hyper::body::{Bytes, Incoming};
    use hyper::{Request, Response};

    async fn upgrade_one(
        mut req: Request<Incoming>,
    ) -> Result<Response<Empty<Bytes>>, fastwebsockets::WebSocketError> {
        let (response, fut) = upgrade::upgrade(&mut req)?;
        tokio::spawn(async move {
            let Ok(ws) = fut.await else { return };
            let mut ws = FragmentCollector::new(ws);
            while let Ok(frame) = ws.read_frame().await {
                match frame.opcode {
                    OpCode::Close => break,
                    OpCode::Text | OpCode::Binary => {
                        let sent = ws.write_frame(frame).await;
                        if sent.is_err() {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        });
        Ok(response)
    }
    let io = hyper_util::rt::TokioIo::new(s);
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, hyper::service::service_fn(upgrade_one))
        .with_upgrades()
        .await;
}

async fn soketto_echo(s: TcpStream) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use soketto::handshake::{Server, server::Response};
    use tokio_util::compat::TokioAsyncReadCompatExt;
    let mut server = Server::new(s.compat());
    let key = server.receive_request().await?.key();
    server
        .send_response(&Response::Accept {
            key,
            protocol: None,
        })
        .await?;
    let (mut tx, mut rx) = server.into_builder().finish();
    let mut data = Vec::new();
    loop {
        data.clear();
        let ty = rx.receive_data(&mut data).await?;
        if ty.is_text() {
            tx.send_text(std::str::from_utf8(&data)?).await?;
        } else {
            tx.send_binary(&data).await?;
        }
        tx.flush().await?;
    }
}

/// Read a request head (bounded) and return its Sec-WebSocket-Key.
async fn read_key(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > 16 * 1024 {
            return None;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| v.trim().to_string())
        })
        .or(Some(String::new()))
}

async fn switch(s: &mut TcpStream) -> Option<()> {
    let key = read_key(s).await?;
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        crate::wire::accept_for_key(&key)
    );
    s.write_all(head.as_bytes()).await.ok()
}

async fn hostile(mut s: TcpStream, h: Hostile) {
    use std::time::Duration;
    let junk = [0x5au8; 16 * 1024];
    match h {
        Hostile::SlowlorisHead => {
            let _ = read_key(&mut s).await;
            for b in b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                .iter()
                .cycle()
            {
                if s.write_all(&[*b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Hostile::EndlessHeaders => {
            let _ = read_key(&mut s).await;
            if s.write_all(b"HTTP/1.1 101 Switching Protocols\r\n")
                .await
                .is_err()
            {
                return;
            }
            let line = b"X-Endless: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
                .repeat(256);
            while s.write_all(&line).await.is_ok() {}
        }
        Hostile::HugeFrame => {
            if switch(&mut s).await.is_none() {
                return;
            }
            let mut head = vec![0x82u8, 127];
            head.extend_from_slice(&(i64::MAX as u64).to_be_bytes());
            if s.write_all(&head).await.is_err() {
                return;
            }
            while s.write_all(&junk).await.is_ok() {}
        }
        Hostile::EndlessFragments => {
            if switch(&mut s).await.is_none() {
                return;
            }
            let mut frames = Vec::new();
            frames.extend_from_slice(&[0x01, 4, b'f', b'r', b'a', b'g']);
            for _ in 0..1024 {
                frames.extend_from_slice(&[0x00, 4, b'm', b'o', b'r', b'e']);
            }
            if s.write_all(&frames[..6]).await.is_err() {
                return;
            }
            while s.write_all(&frames[6..]).await.is_ok() {}
        }
        Hostile::GarbageAfter101 => {
            if switch(&mut s).await.is_none() {
                return;
            }
            let mut x = 0x1234_5678u32;
            let garbage: Vec<u8> = (0..16 * 1024)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            while s.write_all(&garbage).await.is_ok() {}
        }
        Hostile::RstMidFrame => {
            if switch(&mut s).await.is_none() {
                return;
            }
            let _ = s.write_all(&[0x81, 100, b'h', b'a', b'l', b'f']).await;
            let _ = s.flush().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            // Linger 0: close sends RST instead of FIN.
            let _ = s.set_zero_linger();
            drop(s);
        }
        Hostile::TlsGarbage => {
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"\x16\x03\x01\xff\xffnot a TLS server hello at all")
                .await;
            while s.write_all(&junk).await.is_ok() {}
        }
    }
}
