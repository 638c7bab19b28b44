//! `--proxy` (issue #16 item 2): scans through an in-process SOCKS5 proxy
//! and an in-process HTTP CONNECT proxy, both written here, in front of a
//! real WebSocket server (tokio-tungstenite, plain and TLS). Each proxy
//! logs every target it was asked for and the credentials it was given,
//! so the tests see what went over the wire to it. Loopback only.

mod common;

use common::{args, closed_port, opts, records, wsfp};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsfp::cli::DbOpts;
use wsfp::demo::{Farm, Kind};
use wsfp::net::{Proxy, ProxyUrl};
use wsfp::output::Status;
use wsfp::scan::Scanner;
use wsfp::target::Target;

/// What a test proxy saw: each target asked for (`host:port` as the
/// client sent it: a name stays a name), and each set of credentials.
#[derive(Default)]
struct Seen {
    targets: Vec<String>,
    creds: Vec<String>,
}

struct TestProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

impl TestProxy {
    fn targets(&self) -> Vec<String> {
        self.seen.lock().unwrap().targets.clone()
    }
    fn creds(&self) -> Vec<String> {
        self.seen.lock().unwrap().creds.clone()
    }
}

/// Where a test proxy connects for `host`: the test's own names only
/// (`localhost` is loopback; no lookup ever leaves the machine).
fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    match host {
        "localhost" => Some(SocketAddr::from(([127, 0, 0, 1], port))),
        h => h.parse().ok().map(|ip| SocketAddr::new(ip, port)),
    }
}

/// A SOCKS5 proxy (RFC 1928, CONNECT only; RFC 1929 username/password
/// when `auth` is given, which it then requires).
async fn socks5_proxy(auth: Option<(&'static str, &'static str)>) -> TestProxy {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let (c, _) = l.accept().await.unwrap();
            let seen = s2.clone();
            tokio::spawn(async move {
                let _ = socks5_session(c, auth, seen).await;
            });
        }
    });
    TestProxy { addr, seen }
}

async fn socks5_session(
    mut c: TcpStream,
    auth: Option<(&str, &str)>,
    seen: Arc<Mutex<Seen>>,
) -> std::io::Result<()> {
    let mut hello = [0u8; 2];
    c.read_exact(&mut hello).await?;
    if hello[0] != 5 {
        // Not SOCKS5 (an HTTP client): hang up, as a SOCKS server does.
        return Ok(());
    }
    let mut methods = vec![0u8; hello[1] as usize];
    c.read_exact(&mut methods).await?;
    match auth {
        None => c.write_all(&[5, 0]).await?,
        Some(_) if !methods.contains(&2) => {
            c.write_all(&[5, 0xff]).await?;
            return Ok(());
        }
        Some((user, pass)) => {
            c.write_all(&[5, 2]).await?;
            let mut v = [0u8; 2];
            c.read_exact(&mut v).await?;
            let mut u = vec![0u8; v[1] as usize];
            c.read_exact(&mut u).await?;
            let mut pl = [0u8; 1];
            c.read_exact(&mut pl).await?;
            let mut p = vec![0u8; pl[0] as usize];
            c.read_exact(&mut p).await?;
            let (u, p) = (String::from_utf8(u).unwrap(), String::from_utf8(p).unwrap());
            let ok = u == user && p == pass;
            seen.lock().unwrap().creds.push(format!("{u}:{p}"));
            c.write_all(&[1, if ok { 0 } else { 1 }]).await?;
            if !ok {
                return Ok(());
            }
        }
    }
    let mut req = [0u8; 4];
    c.read_exact(&mut req).await?;
    assert_eq!(&req[..3], &[5, 1, 0], "CONNECT");
    let host = match req[3] {
        1 => {
            let mut ip = [0u8; 4];
            c.read_exact(&mut ip).await?;
            std::net::Ipv4Addr::from(ip).to_string()
        }
        4 => {
            let mut ip = [0u8; 16];
            c.read_exact(&mut ip).await?;
            std::net::Ipv6Addr::from(ip).to_string()
        }
        3 => {
            let mut n = [0u8; 1];
            c.read_exact(&mut n).await?;
            let mut name = vec![0u8; n[0] as usize];
            c.read_exact(&mut name).await?;
            String::from_utf8(name).unwrap()
        }
        t => panic!("address type {t}"),
    };
    let mut port = [0u8; 2];
    c.read_exact(&mut port).await?;
    let port = u16::from_be_bytes(port);
    seen.lock().unwrap().targets.push(format!("{host}:{port}"));
    let reply = |code: u8| [5, code, 0, 1, 127, 0, 0, 1, 0, 0];
    let Some(to) = resolve(&host, port) else {
        c.write_all(&reply(4)).await?;
        return Ok(());
    };
    match TcpStream::connect(to).await {
        Err(_) => c.write_all(&reply(5)).await,
        Ok(mut t) => {
            c.write_all(&reply(0)).await?;
            tokio::io::copy_bidirectional(&mut c, &mut t)
                .await
                .map(|_| ())
        }
    }
}

/// How the HTTP proxy answers CONNECT.
#[derive(Clone, Copy)]
enum Answer {
    /// 200, its head in two writes apart (a head read in pieces), then
    /// the tunnel.
    Tunnel,
    /// 403 Forbidden, then close.
    Forbidden,
}

/// An HTTP CONNECT proxy; logs each CONNECT authority and each
/// Proxy-Authorization value.
async fn connect_proxy(answer: Answer) -> TestProxy {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let (c, _) = l.accept().await.unwrap();
            let seen = s2.clone();
            tokio::spawn(async move {
                let _ = connect_session(c, answer, seen).await;
            });
        }
    });
    TestProxy { addr, seen }
}

async fn connect_session(
    mut c: TcpStream,
    answer: Answer,
    seen: Arc<Mutex<Seen>>,
) -> std::io::Result<()> {
    // The request head, a byte at a time: nothing past it is taken.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        if c.read(&mut b).await? == 0 {
            return Ok(());
        }
        head.push(b[0]);
        assert!(head.len() < 8192, "CONNECT head too long");
    }
    let text = String::from_utf8(head).unwrap();
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap();
    let parts: Vec<&str> = first.split(' ').collect();
    assert_eq!((parts[0], parts[2]), ("CONNECT", "HTTP/1.1"), "{first}");
    let authority = parts[1].to_string();
    for l in lines {
        if let Some((n, v)) = l.split_once(':')
            && n.eq_ignore_ascii_case("proxy-authorization")
        {
            seen.lock().unwrap().creds.push(v.trim().to_string());
        }
    }
    seen.lock().unwrap().targets.push(authority.clone());
    if let Answer::Forbidden = answer {
        c.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            .await?;
        return Ok(());
    }
    let (host, port) = authority.rsplit_once(':').unwrap();
    let host = host.trim_matches(['[', ']']);
    let to = resolve(host, port.parse().unwrap()).unwrap();
    let Ok(mut t) = TcpStream::connect(to).await else {
        c.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await?;
        return Ok(());
    };
    c.write_all(b"HTTP/1.1 200 Connection established\r\n")
        .await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    c.write_all(b"Proxy-Agent: wsfp-test\r\n\r\n").await?;
    tokio::io::copy_bidirectional(&mut c, &mut t)
        .await
        .map(|_| ())
}

/// A scanner of `flags` (the built-in DB), through `proxy` when given.
async fn scanner(flags: &[&str], proxy: Option<&str>) -> Arc<Scanner> {
    let mut s = opts(flags)
        .build_scanner(&DbOpts { db: Vec::new() })
        .unwrap();
    if let Some(p) = proxy {
        let url = ProxyUrl::parse(p).unwrap();
        s.connector.proxy = Some(Arc::new(Proxy::resolve(&url).await.unwrap()));
    }
    Arc::new(s)
}

fn target(url: &str) -> Target {
    Target::parse(url, true).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_through_either_proxy_sees_what_a_direct_scan_sees() {
    let mut farm = Farm::empty();
    let ws = farm
        .add("127.0.0.1", "tt", "rs-tokio-tungstenite", Kind::Tungstenite)
        .await
        .unwrap();
    let url = format!("ws://{ws}/");
    let direct = scanner(&[], None).await;
    let d = direct.scan(&target(&url)).await;
    assert_eq!(d.status, Status::Ok, "{d:?}");
    assert_eq!(d.implementation.as_deref(), Some("rs-tokio-tungstenite"));
    assert_eq!(d.proxy, None);
    let direct_features = direct.features(&d.observations);

    let socks = socks5_proxy(None).await;
    let http = connect_proxy(Answer::Tunnel).await;
    for (proxy, shown) in [
        (&socks, format!("socks5://{}", socks.addr)),
        (&http, format!("http://{}", http.addr)),
    ] {
        let s = scanner(&[], Some(&shown)).await;
        let r = s.scan(&target(&url)).await;
        assert_eq!(r.status, Status::Ok, "{shown}: {r:?}");
        assert_eq!(r.implementation, d.implementation, "{shown}");
        assert_eq!(s.features(&r.observations), direct_features, "{shown}");
        assert_eq!(r.proxy.as_deref(), Some(shown.as_str()));
        // An address target: the proxy was asked for that address, and
        // the record names it.
        assert_eq!(r.ip.as_deref(), Some("127.0.0.1"));
        let asked = proxy.targets();
        assert_eq!(asked.len(), r.connections as usize, "{shown}: {asked:?}");
        assert!(asked.iter().all(|t| *t == ws.to_string()), "{asked:?}");
        assert!(proxy.creds().is_empty(), "no credentials were given");
    }
    farm.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_go_to_the_proxy_unresolved_with_the_credentials_given() {
    let mut farm = Farm::empty();
    let ws = farm
        .add("127.0.0.1", "tt", "rs-tokio-tungstenite", Kind::Tungstenite)
        .await
        .unwrap();
    let url = format!("ws://localhost:{}/", ws.port());
    let name = format!("localhost:{}", ws.port());

    // SOCKS5 with a username and password: remote DNS.
    let socks = socks5_proxy(Some(("alice", "s3cr:t@"))).await;
    let via = format!("socks5h://alice:s3cr%3At%40@{}", socks.addr);
    let s = scanner(&["-3"], Some(&via)).await;
    let r = s.scan(&target(&url)).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    // Credentials never reach the record.
    assert_eq!(r.proxy, Some(format!("socks5h://{}", socks.addr)));
    assert_eq!(
        r.ip, None,
        "the proxy resolved the name: no address is known here"
    );
    let asked = socks.targets();
    assert_eq!(asked.len(), r.connections as usize);
    assert!(
        asked.iter().all(|t| *t == name),
        "the name, not an address: {asked:?}"
    );
    let creds = socks.creds();
    assert_eq!(creds.len(), asked.len(), "each connection authenticated");
    assert!(creds.iter().all(|c| c == "alice:s3cr:t@"), "{creds:?}");

    // Without them, the proxy's refusal is the proxy's error.
    let s = scanner(&["-3"], Some(&format!("socks5://{}", socks.addr))).await;
    let r = s.scan(&target(&url)).await;
    assert_eq!(r.status, Status::ProxyError, "{r:?}");
    let e = r.error.unwrap();
    assert!(
        e.contains("authentication") && e.contains(&socks.addr.to_string()),
        "{e}"
    );
    // A wrong password.
    let s = scanner(
        &["-3"],
        Some(&format!("socks5://alice:nope@{}", socks.addr)),
    )
    .await;
    let r = s.scan(&target(&url)).await;
    assert_eq!(r.status, Status::ProxyError, "{r:?}");
    assert!(
        r.error
            .unwrap()
            .contains("rejected the username and password")
    );

    // HTTP CONNECT: the name in the request, Basic credentials.
    let http = connect_proxy(Answer::Tunnel).await;
    let s = scanner(&["-3"], Some(&format!("http://bob:pw@{}", http.addr))).await;
    let r = s.scan(&target(&url)).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.ip, None);
    let asked = http.targets();
    assert_eq!(asked.len(), r.connections as usize);
    assert!(asked.iter().all(|t| *t == name), "{asked:?}");
    // base64("bob:pw")
    assert!(
        http.creds().iter().all(|c| c == "Basic Ym9iOnB3"),
        "{:?}",
        http.creds()
    );
    assert_eq!(http.creds().len(), asked.len());
    farm.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_failures_are_records_not_hangs() {
    let closed = closed_port();
    let url = "ws://127.0.0.1:9/";
    // Nothing listens where the proxy should be.
    for scheme in ["socks5", "http"] {
        let s = scanner(&["-3"], Some(&format!("{scheme}://127.0.0.1:{closed}"))).await;
        let r = s.scan(&target(url)).await;
        assert_eq!(r.status, Status::ProxyError, "{r:?}");
        let e = r.error.unwrap();
        assert!(
            e.contains(&format!(
                "127.0.0.1:{closed} unreachable: connection refused"
            )),
            "{e}"
        );
        assert_eq!(r.connections, 0);
    }
    // A proxy that refuses CONNECT: the record names its answer.
    let http = connect_proxy(Answer::Forbidden).await;
    let s = scanner(&["-3"], Some(&format!("http://{}", http.addr))).await;
    let r = s.scan(&target(url)).await;
    assert_eq!(r.status, Status::ProxyError, "{r:?}");
    let e = r.error.unwrap();
    assert!(
        e.contains("HTTP/1.1 403 Forbidden") && e.contains("refused CONNECT"),
        "{e}"
    );
    assert_eq!(r.connections, 0);
    // The target refuses the proxy: a refused target, in the proxy's words.
    let socks = socks5_proxy(None).await;
    let s = scanner(&["-3"], Some(&format!("socks5://{}", socks.addr))).await;
    let r = s.scan(&target(&format!("ws://127.0.0.1:{closed}/"))).await;
    assert_eq!(r.status, Status::Refused, "{r:?}");
    assert!(r.error.unwrap().contains("SOCKS5 reply 5"));
    assert_eq!(
        socks.targets(),
        vec![format!("127.0.0.1:{closed}")],
        "not retried"
    );
    // A name the proxy cannot resolve: its reply 4 (host unreachable).
    let r = s.scan(&target("ws://no-such-name.invalid:80/")).await;
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(r.error.unwrap().contains("SOCKS5 reply 4"));
    // An HTTP port given as a SOCKS proxy, and a SOCKS one as HTTP.
    let s = scanner(&["-3"], Some(&format!("socks5://{}", http.addr))).await;
    let r = s.scan(&target(url)).await;
    assert_eq!(r.status, Status::ProxyError, "{r:?}");
    let s = scanner(&["-3"], Some(&format!("http://{}", socks.addr))).await;
    let r = s.scan(&target(url)).await;
    assert_eq!(r.status, Status::ProxyError, "{r:?}");
    // A proxy that accepts and never answers: the connect timeout ends
    // it, and it is the proxy's fault. One that answers its part of the
    // handshake and then waits (for a target that does not answer): the
    // target's timeout.
    for (greets, status, says) in [
        (
            false,
            Status::ProxyError,
            "did not answer the SOCKS5 handshake",
        ),
        (true, Status::Timeout, "timed out waiting for the proxy"),
    ] {
        let stalling = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = stalling.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (mut c, _) = stalling.accept().await.unwrap();
                if greets {
                    let mut hello = [0u8; 3];
                    c.read_exact(&mut hello).await.unwrap();
                    c.write_all(&[5, 0]).await.unwrap();
                }
                held.push(c);
            }
        });
        let s = scanner(
            &["-3", "--connect-timeout", "200"],
            Some(&format!("socks5://{at}")),
        )
        .await;
        let r = s.scan(&target(url)).await;
        assert_eq!(r.status, status, "{r:?}");
        let e = r.error.unwrap();
        assert!(e.contains(says) && e.contains(&at.to_string()), "{e}");
        hold.abort();
    }
}

/// A TLS tokio-tungstenite echo server with a fresh self-signed
/// certificate for localhost; records the SNI of each handshake.
async fn tls_server() -> (SocketAddr, Arc<Mutex<Vec<Option<String>>>>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let sni = Arc::new(Mutex::new(Vec::new()));
    let s2 = sni.clone();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let (acceptor, sni) = (acceptor.clone(), s2.clone());
            tokio::spawn(async move {
                use futures_util::{SinkExt, StreamExt};
                let Ok(tls) = acceptor.accept(s).await else {
                    return;
                };
                sni.lock()
                    .unwrap()
                    .push(tls.get_ref().1.server_name().map(str::to_string));
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, sni)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_runs_tls_inside_the_tunnel_with_the_targets_name() {
    let (addr, sni) = tls_server().await;
    let url = format!("wss://localhost:{}/", addr.port());
    let direct = scanner(&["-k", "-1", "-3"], None).await;
    let d = direct.scan(&Target::parse(&url, false).unwrap()).await;
    assert_eq!(d.status, Status::Ok, "{d:?}");
    let direct_sni = sni.lock().unwrap().len();
    let socks = socks5_proxy(None).await;
    let http = connect_proxy(Answer::Tunnel).await;
    for (proxy, via) in [
        (&socks, format!("socks5://{}", socks.addr)),
        (&http, format!("http://{}", http.addr)),
    ] {
        let s = scanner(&["-k", "-1", "-3"], Some(&via)).await;
        let r = s.scan(&Target::parse(&url, false).unwrap()).await;
        assert_eq!(r.status, Status::Ok, "{via}: {r:?}");
        assert_eq!(r.implementation, d.implementation, "{via}");
        assert_eq!(
            s.features(&r.observations),
            direct.features(&d.observations),
            "{via}"
        );
        let tls = r.tls.as_ref().expect("TLS facts through the tunnel");
        assert_eq!(tls.cert.as_ref().unwrap().san_dns, vec!["localhost"]);
        assert_eq!(tls.cert, d.tls.as_ref().unwrap().cert.clone());
        let asked = proxy.targets();
        assert_eq!(asked.len(), r.connections as usize, "{via}");
        let name = format!("localhost:{}", addr.port());
        assert!(asked.iter().all(|t| *t == name), "{asked:?}");
    }
    // Every handshake, direct or tunnelled, named localhost.
    let sni = sni.lock().unwrap();
    assert!(
        sni.len() > direct_sni,
        "handshakes went through the proxies"
    );
    assert!(
        sni.iter().all(|n| n.as_deref() == Some("localhost")),
        "{sni:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_checks_proxy_urls_and_records_the_proxy() {
    for (bad, why) in [
        ("ftp://127.0.0.1:21", "unsupported proxy scheme"),
        ("http://127.0.0.1", "expected a port"),
        ("socks5://127.0.0.1:1080\r\nX: y", "control characters"),
    ] {
        let (code, _, err) = wsfp(args(&["scan", "-u", "ws://127.0.0.1:9/", "--proxy", bad])).await;
        assert_eq!(code, 2, "{bad:?}: {err}");
        assert!(err.contains("--proxy") && err.contains(why), "{err}");
    }
    // The demo connects only to its own farm: no --proxy.
    let (code, _, err) = wsfp(args(&["demo", "--proxy", "socks5://127.0.0.1:1080"])).await;
    assert_eq!(code, 2, "{err}");

    // A proxy that is down exits as an unreachable target does.
    let closed = closed_port();
    let (direct_code, _, _) = wsfp(args(&[
        "scan",
        "-u",
        &format!("ws://127.0.0.1:{closed}/"),
        "--format",
        "ndjson",
        "--silent",
    ]))
    .await;
    let (code, out, err) = wsfp(args(&[
        "scan",
        "-u",
        "ws://localhost:9/",
        "--proxy",
        &format!("socks5://u:secret@127.0.0.1:{closed}"),
        "--format",
        "ndjson",
        "--silent",
    ]))
    .await;
    assert_eq!(code, direct_code, "{err}");
    let recs = records(&out);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["status"], "proxy_error");
    assert_eq!(recs[0]["proxy"], format!("socks5://127.0.0.1:{closed}"));
    assert!(recs[0].get("ip").is_none(), "a name: not resolved here");
    assert!(!out.contains("secret"), "credentials stay out of records");
    // The record schema knows the field and the status.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/schema/record.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errs: Vec<String> = v.iter_errors(&recs[0]).map(|e| e.to_string()).collect();
    assert!(errs.is_empty(), "{errs:?}");

    // Through a working proxy, from the command line; CSV has the column.
    let mut farm = Farm::empty();
    let ws = farm
        .add("127.0.0.1", "tt", "rs-tokio-tungstenite", Kind::Tungstenite)
        .await
        .unwrap();
    let socks = socks5_proxy(None).await;
    let via = format!("socks5://{}", socks.addr);
    let (code, out, err) = wsfp(args(&[
        "scan",
        "-u",
        &format!("ws://{ws}/"),
        "--proxy",
        &via,
        "--format",
        "csv",
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    let mut rows = csv::Reader::from_reader(out.as_bytes());
    let header = rows.headers().unwrap().clone();
    let row = rows.records().next().unwrap().unwrap();
    let cell = |name: &str| &row[header.iter().position(|h| h == name).unwrap()];
    assert_eq!(cell("status"), "ok");
    assert_eq!(cell("implementation"), "rs-tokio-tungstenite");
    assert_eq!(cell("proxy"), via);
    assert_eq!(
        socks.targets().len(),
        cell("connections").parse::<usize>().unwrap()
    );
    farm.stop();
}
