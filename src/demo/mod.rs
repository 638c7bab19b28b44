//! An in-process farm of endpoints on loopback, for `wsfp demo`, the
//! integration tests and the benchmarks: real WebSocket implementations
//! from crates (tokio-tungstenite), plus a plain HTTP server, a closed port
//! and a silent listener, so every record status shows up.

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

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// tokio-tungstenite echo server, default configuration.
    Tungstenite,
    /// HTTP/1.1 404 for any request.
    Http404,
    /// Accepts and reads, never writes.
    Silent,
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
        Kind::Tungstenite => {
            let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                return;
            };
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
