//! End-to-end scans against in-process servers on loopback: a real
//! WebSocket implementation (tokio-tungstenite), a byte-recording raw
//! listener, TLS, and the failure statuses. No lab needed.

mod common;

use common::opts;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wsfp::cli::DbOpts;
use wsfp::demo::{Farm, Kind};
use wsfp::output::Status;
use wsfp::probe::ProbeSet;
use wsfp::probe::build::{TargetCtx, default_user_agent, request_bytes};
use wsfp::target::Target;
use wsfp::wire::{Decoder, DecoderConfig, accept_for_key};

fn target(url: &str) -> Target {
    Target::parse(url, true).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifies_tokio_tungstenite_with_every_stews_case() {
    let mut farm = Farm::empty();
    let addr = farm
        .add("127.0.0.1", "tt", "rs-tokio-tungstenite", Kind::Tungstenite)
        .await
        .unwrap();
    let scanner = opts(&["-a", "--exhaustive"])
        .scanner(&DbOpts { db: Vec::new() })
        .unwrap();
    let rec = scanner.scan(&target(&format!("ws://{addr}/"))).await;
    assert_eq!(rec.status, Status::Ok, "{rec:?}");
    assert_eq!(
        rec.implementation.as_deref(),
        Some("rs-tokio-tungstenite"),
        "{:?}",
        rec.candidates
    );
    assert!(rec.confidence > 0.5);
    assert_eq!(rec.observations.len(), 93, "51 STEWS cases and 42 more");
    assert!(rec.bytes_sent <= 256 * 1024, "uploaded {}", rec.bytes_sent);
    assert!(
        rec.connections < 90,
        "chained frame probes share connections: {}",
        rec.connections
    );
    // Typed observations: tungstenite drops the TCP connection on an
    // orphan continuation (no close frame), answers pings, and the liveness
    // pong proves 100 left the link up.
    let end = |id: &str| serde_json::to_value(rec.observations[id].end).unwrap();
    assert!(["eof", "reset"].contains(&end("104").as_str().unwrap()));
    assert!(rec.observations["104"].frames.iter().all(|f| f.opcode != 8));
    assert_eq!(end("100"), "alive");
    assert_eq!(rec.observations["102"].frames[0].opcode, 0xA);
    farm.stop();
}

/// A plain 101 answering the request head in `head` (its Accept right).
fn upgrade_response(head: &[u8]) -> String {
    let text = String::from_utf8_lossy(head);
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap_or("")
        .trim();
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_for_key(key)
    )
}

/// Once `got` holds a whole request head: takes it off and returns the
/// 101 that answers it.
fn take_upgrade(got: &mut BytesMut) -> Option<String> {
    let end = got.windows(4).position(|w| w == b"\r\n\r\n")?;
    let resp = upgrade_response(&got[..end]);
    let _ = got.split_to(end + 4);
    Some(resp)
}

/// Accepts everything with a valid 101 and records each connection's
/// bytes: what a probe really put on the wire. A connection is logged
/// when it ends (the client closed it, or 300 ms without a byte).
struct Recording {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Vec<u8>>>>,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
    logged: Arc<tokio::sync::Notify>,
}

impl Recording {
    /// Every connection accepted so far, once each has ended and been
    /// logged: waits for that event (bounded: 10 s, then the test fails),
    /// so no connection still open is left out of the checks.
    async fn conns(&self) -> Vec<Vec<u8>> {
        use std::sync::atomic::Ordering;
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let waiting = self.logged.notified();
            {
                let log = self.log.lock().unwrap();
                if log.len() >= self.accepted.load(Ordering::SeqCst) {
                    return log.clone();
                }
            }
            if tokio::time::timeout_at(until, waiting).await.is_err() {
                panic!(
                    "{} connections accepted, {} ended within 10 s",
                    self.accepted.load(Ordering::SeqCst),
                    self.log.lock().unwrap().len()
                );
            }
        }
    }

    /// Forget what was recorded (between scans; call after `conns`).
    fn clear(&self) {
        self.log.lock().unwrap().clear();
        self.accepted.store(0, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn recording_listener() -> Recording {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let logged = Arc::new(tokio::sync::Notify::new());
    let (log2, accepted2, logged2) = (log.clone(), accepted.clone(), logged.clone());
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            accepted2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let log = log2.clone();
            let logged = logged2.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 8192];
                let mut answered = false;
                loop {
                    let r =
                        tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await;
                    match r {
                        Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                    if !answered && got.windows(4).any(|w| w == b"\r\n\r\n") {
                        answered = true;
                        let _ = s.write_all(upgrade_response(&got).as_bytes()).await;
                    }
                }
                log.lock().unwrap().push(got);
                logged.notify_waiters();
            });
        }
    });
    Recording {
        addr,
        log,
        accepted,
        logged,
    }
}

fn split_request(conn: &[u8]) -> (&[u8], &[u8]) {
    let end = conn
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(conn.len(), |p| p + 4);
    conn.split_at(end)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsv_and_extension_probes_are_distinct_on_the_wire() {
    let rl = recording_listener().await;
    let addr = rl.addr;
    let scanner = opts(&["-2", "-4", "--frame-timeout", "200"])
        .scanner(&DbOpts { db: Vec::new() })
        .unwrap();
    let rec = scanner.scan(&target(&format!("ws://{addr}/"))).await;
    assert_eq!(rec.status, Status::Ok);
    let conns = rl.conns().await;
    let mut rsvs = Vec::new();
    let mut exts = BTreeSet::new();
    for c in &conns {
        let (head, rest) = split_request(c);
        let head = String::from_utf8_lossy(head);
        assert_eq!(
            head.matches("Sec-WebSocket-Version:").count(),
            1,
            "no header leaks between probes: {head}"
        );
        for l in head.lines() {
            if let Some(v) = l.strip_prefix("Sec-WebSocket-Extensions: ") {
                exts.insert(v.to_string());
            }
        }
        // A connection may carry several probes (chained, or hosted by an
        // extension offer the server declined): every binary frame counts.
        let mut d = Decoder::new(DecoderConfig::from_client());
        let mut b = BytesMut::from(rest);
        while let Some(f) = d.next_frame(&mut b) {
            if f.header.opcode.0 == 2 {
                rsvs.push(f.header.rsv);
                assert_eq!(&f.payload[..], b"'", "payload unmasked correctly");
            }
        }
    }
    rsvs.sort();
    assert_eq!(rsvs, vec![1, 2, 3, 4, 5, 6, 7], "200-206 set RSV 001..111");
    assert_eq!(exts.len(), 6, "400-405 send six distinct offers: {exts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_payloads_prefix_by_default_full_on_request() {
    let rl = recording_listener().await;
    let addr = rl.addr;
    let dir = std::env::temp_dir().join(format!("wsfp-probe-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("p.toml");
    std::fs::write(
        &file,
        "version = \"t\"\n[[probe]]\nid = \"9600\"\nseries = 9600\nname = \"1 MiB\"\nintent = \"t\"\nrisk = \"heavy\"\nlayer = \"frame\"\n[[probe.frames]]\nopcode = 2\nfill = \"ab\"\nlen = 1048576\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    for (mode, min, max) in [("prefix", 0, 4096), ("full", 1 << 20, (1 << 20) + 4096)] {
        rl.clear();
        let scanner = opts(&[
            "--series",
            "9600",
            "--probes",
            f,
            "--payload-mode",
            mode,
            "--frame-timeout",
            "200",
        ])
        .scanner(&DbOpts { db: Vec::new() })
        .unwrap();
        let rec = scanner.scan(&target(&format!("ws://{addr}/"))).await;
        assert_eq!(rec.status, Status::Ok);
        let conns = rl.conns().await;
        let probe_conn = conns
            .iter()
            .map(|c| split_request(c).1.len())
            .max()
            .unwrap();
        assert!(
            (min..=max).contains(&probe_conn),
            "{mode}: {probe_conn} bytes after the handshake"
        );
        let (_, rest) = split_request(conns.iter().max_by_key(|c| c.len()).unwrap());
        let mut d = Decoder::new(DecoderConfig::from_client());
        let mut b = BytesMut::from(rest);
        // The probe's data frame (after the ping that opens a connection).
        let mut payload = Vec::new();
        let mut data = false;
        while let Some(ev) = d.poll(&mut b) {
            match ev {
                wsfp::wire::Event::Header(h) => data = h.opcode.0 == 2,
                wsfp::wire::Event::Payload(p) if data => payload.extend_from_slice(&p),
                wsfp::wire::Event::End if data => break,
                _ => {}
            }
        }
        assert!(payload.len() >= 64);
        assert!(
            payload.chunks(2).all(|c| c == b"ab" || c == b"a"),
            "{mode}: unmasks to the fill"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_statuses_not_crashes() {
    let mut farm = Farm::empty();
    let http = farm
        .add("127.0.0.1", "http", "not_websocket", Kind::Http404)
        .await
        .unwrap();
    let silent = farm
        .add("127.0.0.1", "silent", "timeout", Kind::Silent)
        .await
        .unwrap();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let scanner = opts(&["-a", "--handshake-timeout", "300"])
        .scanner(&DbOpts { db: Vec::new() })
        .unwrap();
    let r = scanner.scan(&target(&format!("ws://{http}/"))).await;
    assert_eq!((r.status, r.http_status), (Status::NotWebsocket, Some(404)));
    let r = scanner.scan(&target(&format!("ws://{silent}/"))).await;
    assert_eq!(r.status, Status::Timeout);
    assert!(r.elapsed_ms < 2000);
    let r = scanner.scan(&target(&format!("ws://{closed}/"))).await;
    assert_eq!(r.status, Status::Refused);
    assert_eq!(r.connections, 0);
    farm.stop();
}

/// A reply that is not HTTP arrives in two segments 30 ms apart: the
/// observation's preview holds both, every time, rather than whatever the
/// first read happened to get.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_reply_is_previewed_whole_not_by_segment() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut b = [0u8; 1024];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&b[..n]),
                    }
                }
                let _ = s.write_all(b"Error 426: Upgrade Required\n").await;
                tokio::time::sleep(Duration::from_millis(30)).await;
                let _ = s
                    .write_all(b"Protocol upgrade to RFC 6455 required\n")
                    .await;
            });
        }
    });
    let scanner = opts(&[]).scanner(&DbOpts { db: Vec::new() }).unwrap();
    for _ in 0..3 {
        let r = scanner.scan(&target(&format!("ws://{addr}/"))).await;
        let (_, o) = r
            .observations
            .iter()
            .next()
            .expect("the gate's observation");
        assert_eq!(o.outcome, wsfp::probe::Outcome::Malformed, "{o:?}");
        let tail = o.body_tail.as_deref().unwrap_or("");
        assert!(
            tail.starts_with("Error 426: Upgrade Required\\nProtocol upgrade to RFC"),
            "{tail}"
        );
    }
}

/// A TLS tokio-tungstenite server with tests/data's localhost
/// certificate; the counter is (handshakes, resumed).
async fn tls_tungstenite() -> (SocketAddr, Arc<(AtomicU64, AtomicU64)>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(format!("{dir}localhost.crt"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}localhost.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    tls_tungstenite_with(config).await
}

/// A TLS tokio-tungstenite echo server of `config`; the counter is
/// (handshakes, resumed).
async fn tls_tungstenite_with(
    config: rustls::ServerConfig,
) -> (SocketAddr, Arc<(AtomicU64, AtomicU64)>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let c2 = counts.clone();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let counts = c2.clone();
            tokio::spawn(async move {
                use futures_util::{SinkExt, StreamExt};
                let Ok(tls) = acceptor.accept(s).await else {
                    return;
                };
                counts.0.fetch_add(1, Ordering::SeqCst);
                if tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    counts.1.fetch_add(1, Ordering::SeqCst);
                }
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
    (addr, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_with_and_without_certificate_checks() {
    let (addr, counts) = tls_tungstenite().await;
    let url = format!("wss://localhost:{}/", addr.port());
    let insecure = opts(&["-k", "-1", "-3"])
        .scanner(&DbOpts { db: Vec::new() })
        .unwrap();
    let r = insecure.scan(&Target::parse(&url, false).unwrap()).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.observations["102"].frames[0].opcode, 0xA, "pong over TLS");
    // This server names no ALPN protocol: none is recorded.
    let tls = r.tls.as_ref().expect("the TLS facts of a wss target");
    assert_eq!(tls.alpn, None, "{tls:?}");
    assert_eq!(
        tls.cert.as_ref().unwrap().subject_cn.as_deref(),
        Some("localhost")
    );
    // An orphan continuation: this echo loop stops on tungstenite's
    // protocol error and drops the TLS stream. Whether our side then sees a
    // clean EOF or a reset depends on whether the server's socket still
    // held unread bytes when it closed (a kernel race), so both count; a
    // timeout or a TLS error would not.
    let o = &r.observations["104"];
    let end = serde_json::to_value(o.end).unwrap();
    assert!(end == "eof" || end == "reset", "{end}");
    // One connector per scan: its session cache resumes TLS sessions
    // across the probes of a target (tickets from earlier connections).
    let (full, resumed) = (
        counts.0.load(Ordering::SeqCst),
        counts.1.load(Ordering::SeqCst),
    );
    eprintln!("TLS handshakes: {full}, resumed: {resumed}");
    assert!(full >= 10 && resumed >= 2, "{resumed} of {full} resumed");
    let strict = opts(&["-1"]).scanner(&DbOpts { db: Vec::new() }).unwrap();
    let r = strict.scan(&Target::parse(&url, false).unwrap()).await;
    assert_eq!(r.status, Status::TlsError, "{r:?}");
    assert_eq!(r.tls, None, "no handshake succeeded");
    let e = r.error.unwrap();
    assert!(e.contains("TLS") && e.contains("-k"), "{e}");
    // A plain ws:// server asked for TLS: the hint says -n.
    let plain = recording_listener().await;
    let url = format!("wss://127.0.0.1:{}/", plain.addr.port());
    let r = strict.scan(&Target::parse(&url, false).unwrap()).await;
    assert_eq!(r.status, Status::TlsError, "{r:?}");
    let e = r.error.unwrap();
    assert!(e.contains("try -n"), "{e}");
}

/// A private CA (`O=wsfp test, CN=wsfp test CA`) and a server key.
fn test_ca() -> (rcgen::CertificateParams, rcgen::KeyPair) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name
        .push(rcgen::DnType::OrganizationName, "wsfp test");
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "wsfp test CA");
    (ca, rcgen::KeyPair::generate().unwrap())
}

/// The server certificate's parameters: `O=wsfp test, CN=wsfp.test`,
/// names localhost and 127.0.0.1, valid 2025-01-02 to 2030-06-30,
/// serial 01:02:a3.
fn leaf_params() -> rcgen::CertificateParams {
    let mut p =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(rcgen::DnType::OrganizationName, "wsfp test");
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "wsfp.test");
    p.not_before = rcgen::date_time_ymd(2025, 1, 2);
    p.not_after = rcgen::date_time_ymd(2030, 6, 30);
    p.serial_number = Some(rcgen::SerialNumber::from(vec![0x01, 0x02, 0xa3]));
    p
}

fn server_config(
    versions: &[&'static rustls::SupportedProtocolVersion],
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: &rcgen::KeyPair,
    alpn: &[&[u8]],
) -> rustls::ServerConfig {
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let mut c = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    c
}

fn sha256_hex(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Issue #16: a wss record keeps its first handshake's TLS facts, as
/// zgrab2 and httpx do; each checked against what the test's own
/// certificate and server configuration say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_records_keep_the_tls_facts_of_the_first_handshake() {
    let scanner = opts(&["-k", "-1", "-3"])
        .scanner(&DbOpts { db: Vec::new() })
        .unwrap();

    // A self-signed certificate, TLS 1.3, ALPN http/1.1 (what we offer).
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = leaf_params().self_signed(&key).unwrap();
    let config = server_config(
        &[&rustls::version::TLS13],
        vec![cert.der().clone()],
        &key,
        &[b"http/1.1"],
    );
    let (addr, counts) = tls_tungstenite_with(config).await;
    let url = format!("wss://localhost:{}/", addr.port());
    let r = scanner.scan(&Target::parse(&url, false).unwrap()).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(
        counts.0.load(Ordering::SeqCst) > 1,
        "several handshakes, one record of them"
    );
    let tls = r.tls.clone().expect("the TLS facts of a wss target");
    assert_eq!(tls.version, "TLSv1.3");
    let tls13 = [
        "TLS_AES_256_GCM_SHA384",
        "TLS_AES_128_GCM_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
    ];
    assert!(tls13.contains(&tls.cipher.as_str()), "{}", tls.cipher);
    assert_eq!(tls.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(tls.chain_length, 1);
    let c = tls.cert.clone().unwrap();
    assert_eq!(c.subject_cn.as_deref(), Some("wsfp.test"));
    assert_eq!(c.subject.as_deref(), Some("O=wsfp test, CN=wsfp.test"));
    assert_eq!(c.issuer.as_deref(), Some("O=wsfp test, CN=wsfp.test"));
    assert_eq!(c.san_dns, ["localhost"]);
    assert_eq!(c.san_ip, ["127.0.0.1"]);
    assert_eq!(c.not_before.as_deref(), Some("2025-01-02T00:00:00Z"));
    assert_eq!(c.not_after.as_deref(), Some("2030-06-30T00:00:00Z"));
    assert_eq!(c.serial.as_deref(), Some("0102a3"));
    assert_eq!(c.sha256, sha256_hex(cert.der()));
    assert!(c.self_signed);
    assert_eq!(c.error, None);
    // The text view's line, and the CSV cells.
    let text = wsfp::output::render_text(&r, false);
    let line = format!(
        "  tls: TLSv1.3 {} (alpn http/1.1), cert CN=wsfp.test (self-signed), expires 2030-06-30T00:00:00Z\n",
        tls.cipher
    );
    assert!(text.contains(&line), "{text}");
    let cell = |name: &str| {
        let (_, f) = wsfp::output::CSV_COLUMNS
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap();
        f(&r)
    };
    assert_eq!(cell("tls_version"), "TLSv1.3");
    assert_eq!(cell("tls_alpn"), "http/1.1");
    assert_eq!(cell("cert_subject"), "O=wsfp test, CN=wsfp.test");
    assert_eq!(cell("cert_sans"), "localhost;127.0.0.1");
    assert_eq!(cell("cert_not_after"), "2030-06-30T00:00:00Z");
    assert_eq!(cell("cert_sha256"), c.sha256);
    // NDJSON: an object the record schema describes, read back as it
    // was written.
    let json = serde_json::to_string(&r).unwrap();
    let back = wsfp::output::read::parse_line(&json).unwrap();
    assert_eq!(back.tls, r.tls);
    let schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/schema/record.schema.json"
    );
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errs: Vec<String> = v
        .iter_errors(&serde_json::to_value(&r).unwrap())
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errs.is_empty(), "{errs:#?}");

    // Issued by a CA, sent with it (a chain of 2), TLS 1.2, no ALPN.
    let (ca_params, ca_key) = test_ca();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = leaf_params().signed_by(&key, &issuer).unwrap();
    let config = server_config(
        &[&rustls::version::TLS12],
        vec![leaf.der().clone(), ca_cert.der().clone()],
        &key,
        &[],
    );
    let (addr, _) = tls_tungstenite_with(config).await;
    let url = format!("wss://127.0.0.1:{}/", addr.port());
    let r = scanner.scan(&Target::parse(&url, false).unwrap()).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let tls = r.tls.expect("the TLS facts of a wss target");
    assert_eq!(tls.version, "TLSv1.2");
    assert!(
        tls.cipher.starts_with("TLS_ECDHE_ECDSA_WITH_"),
        "an ECDSA key: {}",
        tls.cipher
    );
    assert_eq!(tls.alpn, None, "the server chose no protocol");
    assert_eq!(tls.chain_length, 2);
    let c = tls.cert.unwrap();
    assert_eq!(c.sha256, sha256_hex(leaf.der()), "the leaf's, not the CA's");
    assert_eq!(c.issuer.as_deref(), Some("O=wsfp test, CN=wsfp test CA"));
    assert_eq!(c.issuer_cn.as_deref(), Some("wsfp test CA"));
    assert!(!c.self_signed);

    // A ws:// record has no `tls` at all (absent, not null).
    let mut farm = Farm::empty();
    let addr = farm
        .add("127.0.0.1", "tt", "rs-tokio-tungstenite", Kind::Tungstenite)
        .await
        .unwrap();
    let r = scanner.scan(&target(&format!("ws://{addr}/"))).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let v = serde_json::to_value(&r).unwrap();
    assert!(v.get("tls").is_none(), "{v}");
    assert!(!wsfp::output::render_text(&r, false).contains("tls:"));
    farm.stop();
}

/// A plain HTTP server scanned as wss answers our ClientHello with a 400:
/// the record says so, and names -n.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_port_scanned_as_wss_names_try_n() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    let scanner = opts(&["-1"]).scanner(&DbOpts { db: Vec::new() }).unwrap();
    let r = scanner
        .scan(&Target::parse(&format!("wss://127.0.0.1:{}/", addr.port()), false).unwrap())
        .await;
    assert_eq!(r.status, Status::TlsError, "{r:?}");
    assert_eq!(r.tls, None);
    let e = r.error.unwrap();
    assert!(
        e.contains("the server answered in plain HTTP (\"HTTP/1.1 400 Bad Request\"), not TLS")
            && e.ends_with("try -n"),
        "{e}"
    );
}

#[test]
fn builtin_probe_set_has_risk_and_layer_for_every_probe() {
    let set = ProbeSet::builtin();
    assert_eq!(set.probes.len(), 93);
    assert!(set.probes.iter().all(|p| !p.intent.is_empty()));
}

/// Issue #7: no probe of the `safe` set sends a malformed handshake or
/// frame. Checked on the bytes a raw listener received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_probes_are_well_formed_on_the_wire() {
    let rl = recording_listener().await;
    let addr = rl.addr;
    let scanner = opts(&["--safety", "safe", "--frame-timeout", "200"])
        .scanner(&DbOpts { db: Vec::new() })
        .unwrap();
    let rec = scanner.scan(&target(&format!("ws://{addr}/"))).await;
    assert_eq!(rec.status, Status::Ok);
    assert!(
        rec.observations.len() >= 10,
        "{:?}",
        rec.observations.keys()
    );
    let conns = rl.conns().await;
    assert_eq!(conns.len(), rec.connections as usize);
    assert!(conns.len() >= 10);
    let mut fronts = 0;
    for c in &conns {
        // The front probes (1100, 1101): the exact HTTP/2 preface, or
        // `OPTIONS *` with a Host, and nothing after either.
        let closes_only = |rest: &[u8]| {
            // (This listener upgrades anything: a 101 gets our close.)
            let mut d = Decoder::new(DecoderConfig::from_client());
            let mut b = BytesMut::from(rest);
            while let Some(f) = d.next_frame(&mut b) {
                assert_eq!(f.header.opcode.0, 8, "after a front probe");
            }
            assert!(b.is_empty() && d.at_boundary());
        };
        if let Some(rest) = c.strip_prefix(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") {
            closes_only(rest);
            fronts += 1;
            continue;
        }
        assert!(!c.starts_with(b"PRI "), "not the exact preface");
        if c.starts_with(b"OPTIONS ") {
            let (head, rest) = split_request(c);
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut req = httparse::Request::new(&mut headers);
            assert!(req.parse(head).unwrap().is_complete());
            assert_eq!((req.path, req.version), (Some("*"), Some(1)));
            assert_eq!(req.headers.len(), 1);
            assert!(req.headers[0].name.eq_ignore_ascii_case("Host"));
            closes_only(rest);
            fronts += 1;
            continue;
        }
        // The request: strict HTTP/1.1, CRLF only, the five mandatory
        // headers exactly once, version 13, a 16-byte base64 key.
        let (head, rest) = split_request(c);
        let text = std::str::from_utf8(head).expect("ASCII request");
        assert!(
            !text.replace("\r\n", "").contains(['\r', '\n']),
            "bare CR or LF: {text:?}"
        );
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        assert!(req.parse(head).unwrap().is_complete());
        assert_eq!((req.method, req.version), (Some("GET"), Some(1)));
        let count = |n: &str| {
            req.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(n))
                .count()
        };
        for n in [
            "Host",
            "Upgrade",
            "Connection",
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Version",
        ] {
            assert_eq!(count(n), 1, "{n} in {text}");
        }
        let version = req
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Version"))
            .unwrap();
        assert!(
            version.value == b"13" || version.value == b"7" || version.value == b"8",
            "{text}"
        );
        // The frames: masked, RSV clear, defined opcodes, minimal lengths,
        // control frames final and short, close bodies valid.
        let mut d = Decoder::new(DecoderConfig::from_client());
        let mut b = BytesMut::from(rest);
        while let Some(f) = d.next_frame(&mut b) {
            assert!(f.header.mask.is_some());
            assert!(
                f.anomalies.is_empty(),
                "{:?} in a safe probe",
                f.anomalies.labels()
            );
            // Fragmented messages are legal; orphan continuations and data
            // inside an open message are flagged as anomalies above.
            assert!(matches!(f.header.opcode.0, 0 | 1 | 2 | 8 | 9 | 10));
        }
        assert!(
            d.at_boundary(),
            "a safe probe never leaves a frame unfinished"
        );
    }
    assert_eq!(fronts, 2, "the two front probes");
}

/// Issue #16: the headers of `-H`, `--cookie` and the default User-Agent
/// go out, in that order and after the request's own headers, on every
/// request built from the standard one (the gate, the frame probes'
/// connections, every edited handshake), as the server saw them in a
/// full `-a` scan; the verbatim probes (700-705, 1100, 1101) send exactly
/// their own bytes; and `--user-agent ''` sends no User-Agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_headers_go_out_on_every_request_but_the_verbatim_ones() {
    let rl = recording_listener().await;
    let addr = rl.addr;
    let set = ProbeSet::builtin();
    // The verbatim requests, as written without any option.
    let ctx = TargetCtx::new("127.0.0.1", addr.port(), "/", false, None);
    let verbatim: Vec<(&str, Vec<u8>)> = set
        .probes
        .iter()
        .filter(|p| p.handshake.raw.is_some())
        .map(|p| (p.id.as_str(), request_bytes(p, &ctx, "unused")))
        .collect();
    let ua = format!("User-Agent: {}", default_user_agent());
    assert!(
        ua.starts_with(&format!(
            "User-Agent: wsfp/{} (+",
            env!("CARGO_PKG_VERSION")
        )),
        "{ua}"
    );
    let wanted = [
        "X-Token: t0k3n",
        "Authorization: Bearer abc",
        "Cookie: a=1; b=2",
        ua.as_str(),
    ];
    let scanner = opts(&[
        "-a",
        "--frame-timeout",
        "200",
        "-H",
        "X-Token: t0k3n",
        "-H",
        "Authorization:Bearer abc",
        "--cookie",
        "a=1",
        "--cookie",
        "b=2",
    ])
    .scanner(&DbOpts { db: Vec::new() })
    .unwrap();
    let rec = scanner.scan(&target(&format!("ws://{addr}/"))).await;
    assert_eq!(rec.status, Status::Ok);
    let conns = rl.conns().await;
    assert_eq!(conns.len(), rec.connections as usize);
    let mut raw_seen = BTreeSet::new();
    let mut built = 0;
    for c in &conns {
        let head = split_request(c).0;
        if let Some((id, v)) = verbatim.iter().find(|(_, v)| split_request(v).0 == head) {
            // Its own bytes, and not one of ours before or after them.
            assert!(c.starts_with(v), "{id}: {:?}", String::from_utf8_lossy(c));
            let sent = String::from_utf8_lossy(c);
            for w in ["X-Token", "Authorization", "Cookie", "User-Agent"] {
                assert!(!sent.contains(w), "{id} sent {w}: {sent:?}");
            }
            raw_seen.insert(id.to_string());
            continue;
        }
        built += 1;
        let (head, _) = split_request(c);
        let text = String::from_utf8_lossy(head);
        let lines: Vec<&str> = text.trim_end_matches("\r\n").split("\r\n").collect();
        assert!(lines.len() > wanted.len(), "{text}");
        assert_eq!(&lines[lines.len() - wanted.len()..], &wanted, "{text}");
        for w in wanted {
            assert_eq!(text.matches(w).count(), 1, "{w} once: {text}");
        }
    }
    // Every verbatim probe that had a connection of its own sent its own
    // bytes, and nothing else did.
    let ran_raw: BTreeSet<String> = rec
        .observations
        .iter()
        .filter(|(id, o)| {
            set.get(id).is_some_and(|p| p.handshake.raw.is_some())
                && o.outcome != wsfp::probe::Outcome::Skipped
                && o.via.is_none()
        })
        .map(|(id, _)| id.clone())
        .collect();
    assert!(
        ran_raw.contains("700") && ran_raw.contains("1101"),
        "{ran_raw:?}"
    );
    assert_eq!(raw_seen, ran_raw);
    assert!(built >= 20, "{built} requests built from the standard one");

    // `--user-agent ''`: no User-Agent, and nothing else added.
    rl.clear();
    let scanner = opts(&["--frame-timeout", "200", "--user-agent", ""])
        .scanner(&DbOpts { db: Vec::new() })
        .unwrap();
    let rec = scanner.scan(&target(&format!("ws://{addr}/"))).await;
    assert_eq!(rec.status, Status::Ok);
    let conns = rl.conns().await;
    assert!(conns.len() >= 10);
    for c in &conns {
        let head = String::from_utf8_lossy(split_request(c).0).to_ascii_lowercase();
        assert!(
            !head.contains("user-agent") && !head.contains("cookie"),
            "{head}"
        );
    }
}

/// A fragile server: a 101 for everyone, and on an orphan continuation
/// frame (probe 104) it "crashes": stops listening and drops every
/// connection, like a Node `ws` app without an 'error' listener.
async fn fragile_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (crash_tx, mut crash_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = crash_rx.changed() => return, // listener dropped: refused from now on
                acc = l.accept() => {
                    let Ok((mut s, _)) = acc else { return };
                    let crash_tx = crash_tx.clone();
                    let mut crashed = crash_tx.subscribe();
                    tokio::spawn(async move {
                        let mut got = Vec::new();
                        let mut buf = [0u8; 4096];
                        loop {
                            let n = tokio::select! {
                                _ = crashed.changed() => return,
                                r = s.read(&mut buf) => match r { Ok(n) if n > 0 => n, _ => return },
                            };
                            got.extend_from_slice(&buf[..n]);
                            let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                            let resp = upgrade_response(&got[..end]);
                            let _ = s.write_all(resp.as_bytes()).await;
                            let mut d = Decoder::new(DecoderConfig::from_client());
                            let mut b = BytesMut::from(&got[end + 4..]);
                            loop {
                                while let Some(f) = d.next_frame(&mut b) {
                                    match f.header.opcode.0 {
                                        0 if f.anomalies.contains(wsfp::wire::Anomalies::ORPHAN_CONTINUATION) => {
                                            let _ = crash_tx.send(true);
                                            return;
                                        }
                                        9 => {
                                            let pong = wsfp::wire::encode_frame(&wsfp::wire::FrameSpec::new(10), &f.payload);
                                            let _ = s.write_all(&pong).await;
                                        }
                                        8 => return,
                                        _ => {}
                                    }
                                }
                                let n = tokio::select! {
                                    _ = crashed.changed() => return,
                                    r = s.read(&mut buf) => match r { Ok(n) if n > 0 => n, _ => return },
                                };
                                b.extend_from_slice(&buf[..n]);
                            }
                        }
                    });
                }
            }
        }
    });
    addr
}

/// Issue #7: a target that goes down after an intrusive probe is reported
/// with that probe, probing stops, and safe scans leave it running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_is_attributed_and_probing_stops() {
    let addr = fragile_server().await;
    let url = format!("ws://{addr}/");
    for _ in 0..3 {
        let safe = opts(&[]).scanner(&DbOpts { db: Vec::new() }).unwrap();
        let r = safe.scan(&target(&url)).await;
        assert_eq!(r.status, Status::Ok);
        assert_eq!(r.target_down_after, None, "safe probes never crash it");
    }
    let intrusive = opts(&["--series", "100", "--per-host", "1"])
        .scanner(&DbOpts { db: Vec::new() })
        .unwrap();
    let started = std::time::Instant::now();
    let r = intrusive.scan(&target(&url)).await;
    assert_eq!(r.target_down_after.as_deref(), Some("104"), "{r:?}");
    assert!(r.error.unwrap().contains("after probe 104"));
    assert!(started.elapsed() < Duration::from_secs(5), "no hang");
    assert!(
        r.connections <= 9,
        "no retry storm: {} connections",
        r.connections
    );
    // And it is really down.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// Issue #3: adaptive probing names real implementations with few
/// connections, and the full set stays within its budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_names_three_implementations_with_few_connections() {
    let mut farm = Farm::empty();
    let mut targets = Vec::new();
    for (kind, id) in [
        (Kind::Tungstenite, "rs-tokio-tungstenite"),
        (Kind::FastWebSockets, "rs-fastwebsockets"),
        (Kind::Soketto, "rs-soketto"),
    ] {
        let addr = farm.add("127.0.0.1", "x", id, kind).await.unwrap();
        targets.push((format!("ws://{addr}/"), id));
    }
    let adaptive = opts(&["-a", "--adaptive"])
        .scanner(&DbOpts { db: Vec::new() })
        .unwrap();
    let full = opts(&["-a"]).scanner(&DbOpts { db: Vec::new() }).unwrap();
    for (url, id) in targets {
        let r = adaptive.scan(&target(&url)).await;
        assert_eq!(r.implementation.as_deref(), Some(id), "{:?}", r.candidates);
        assert!(r.connections <= 15, "{id}: {} connections", r.connections);
        let f = full.scan(&target(&url)).await;
        assert_eq!(f.implementation.as_deref(), Some(id));
        assert!(f.connections <= 65, "{id}: full set took {}", f.connections);
        // Under a third of the full set's connections (session 13: 14 of
        // 52 for tokio-tungstenite, among 84 fingerprints).
        assert!(
            r.connections * 3 < f.connections,
            "{id}: {} vs {}",
            r.connections,
            f.connections
        );
    }
    farm.stop();
}

/// A server that never answers pings (the recording listener): handshake
/// probes whose 101 is clean host frame probes, safe probes that end in
/// silence pass the connection on, and requests that could leave bytes
/// or state behind (verbatim requests, CR/LF inside a value) never carry
/// frames. The record's connection count is what the server saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_handshakes_host_frame_probes_even_without_pongs() {
    let rl = recording_listener().await;
    let addr = rl.addr;
    let scanner = opts(&["-a", "--frame-timeout", "150"])
        .scanner(&DbOpts { db: Vec::new() })
        .unwrap();
    let rec = scanner.scan(&target(&format!("ws://{addr}/"))).await;
    assert_eq!(rec.status, Status::Ok, "{rec:?}");
    let conns = rl.conns().await;
    assert_eq!(rec.connections as usize, conns.len());
    let set = ProbeSet::builtin();
    let hosts: BTreeSet<&str> = rec
        .observations
        .values()
        .filter_map(|o| o.via.as_deref())
        .collect();
    let by_handshakes = hosts
        .iter()
        .filter(|id| set.get(id).unwrap().frames.is_empty())
        .count();
    assert!(by_handshakes >= 3, "handshake probes hosted: {hosts:?}");
    // (Whether a frame probe also passes its connection on depends on
    // its lane: the lane's hosting handshakes often carry all its
    // chainable probes. `late_pongs_are_not_taken_for_a_later_probe`
    // checks that silent safe probes chain, with frame probes only.)
    // Every probe that needs a connection of its own would take 66.
    assert!(rec.connections <= 50, "{} connections", rec.connections);
    // Close probes end a lane's connections: some ride one the lane's
    // other probes left open (this server keeps every one open), and
    // nothing follows a close on any connection, not even to a server
    // that ignored it (but the liveness ping of a probe that asks whether
    // the server still answers after its close).
    let closers: Vec<&str> = rec
        .observations
        .iter()
        .filter(|(id, o)| {
            o.via.is_some()
                && set
                    .get(id)
                    .unwrap()
                    .frames
                    .last()
                    .is_some_and(|f| f.opcode == 8)
        })
        .map(|(id, _)| id.as_str())
        .collect();
    assert!(
        closers.len() >= 3,
        "close probes that rode a connection: {closers:?}"
    );
    for c in &conns {
        let (_, rest) = split_request(c);
        let mut d = Decoder::new(DecoderConfig::from_client());
        let mut b = BytesMut::from(rest);
        let mut closed = false;
        while let Some(f) = d.next_frame(&mut b) {
            let liveness = f.header.opcode.0 == 9 && f.payload.starts_with(b"wsfp-live");
            assert!(
                !closed || liveness,
                "a frame (opcode {}) after our close",
                f.header.opcode.0
            );
            closed |= f.header.opcode.0 == 8;
        }
    }
    for c in &conns {
        let (head, rest) = split_request(c);
        let head = String::from_utf8_lossy(head);
        let odd = head.starts_with("HTTP/")
            || head.contains("Sec-WebSocket-Key1")
            || head.contains("13\n\r\n")
            || head.contains("13\r\r\n");
        if odd {
            // (Some of these requests carry a body of their own.)
            let mut d = Decoder::new(DecoderConfig::from_client());
            let mut b = BytesMut::from(rest);
            while let Some(f) = d.next_frame(&mut b) {
                assert!(
                    !(f.header.opcode.0 == 9 && f.payload.starts_with(b"wsfp-live")),
                    "a liveness ping after an odd request: {head}"
                );
            }
        }
    }
}

/// Each probe on a connection pings with its own payload: a pong that
/// comes after its probe gave up waiting is not taken for the next
/// probe's. This server answers every ping, 300 ms late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_pongs_are_not_taken_for_a_later_probe() {
    let addr = ping_server(Pongs::Late(Duration::from_millis(300))).await;
    let scanner = opts(&["-1", "--frame-timeout", "200"])
        .scanner(&DbOpts { db: Vec::new() })
        .unwrap();
    let rec = scanner.scan(&target(&format!("ws://{addr}/"))).await;
    assert_eq!(rec.status, Status::Ok, "{rec:?}");
    let chained: Vec<_> = rec
        .observations
        .iter()
        .filter(|(_, o)| o.via.is_some())
        .collect();
    assert!(!chained.is_empty(), "safe probes ending silent chain");
    for (id, o) in &rec.observations {
        let end = serde_json::to_value(o.end).unwrap();
        assert_ne!(end, "alive", "{id}: a late pong taken for its own");
    }
}

/// A server with a message-size limit (None: no limit): it upgrades every
/// request, reads frame headers, and answers a frame announced over the
/// limit with close 1009; everything else it reads and ignores. Counts
/// the connections it accepts.
async fn limited_server(limit: Option<u64>) -> (SocketAddr, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let conns = Arc::new(AtomicU64::new(0));
    let seen = conns.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut got = BytesMut::new();
                let mut buf = [0u8; 8192];
                let mut upgraded = false;
                // Payload bytes of the current frame still to pass over.
                let mut skip = 0u64;
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if !upgraded {
                        let Some(resp) = take_upgrade(&mut got) else {
                            continue;
                        };
                        let _ = s.write_all(resp.as_bytes()).await;
                        upgraded = true;
                    }
                    loop {
                        let k = skip.min(got.len() as u64) as usize;
                        let _ = got.split_to(k);
                        skip -= k as u64;
                        if skip > 0 || got.len() < 2 {
                            break;
                        }
                        let (len, at) = match got[1] & 0x7f {
                            126 if got.len() >= 4 => {
                                (u16::from_be_bytes([got[2], got[3]]) as u64, 4)
                            }
                            127 if got.len() >= 10 => {
                                (u64::from_be_bytes(got[2..10].try_into().unwrap()), 10)
                            }
                            126 | 127 => break,
                            n => (n as u64, 2),
                        };
                        let at = at + if got[1] & 0x80 != 0 { 4 } else { 0 };
                        if got.len() < at {
                            break;
                        }
                        if limit.is_some_and(|m| len > m) {
                            let close = wsfp::wire::encode_frame(
                                &wsfp::wire::FrameSpec::new(8),
                                &1009u16.to_be_bytes(),
                            );
                            let _ = s.write_all(&close).await;
                            return;
                        }
                        let _ = got.split_to(at);
                        skip = len;
                    }
                }
            });
        }
    });
    (addr, conns)
}

/// The 600 series' announced lengths are a ladder: the full set runs its
/// two ends first and the middle only when they disagree. The skipped
/// rungs say why, and cost no connection (counted at the server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ladder_middles_run_only_when_the_ends_disagree() {
    let ends = ["601", "612"];
    let middle = ["602", "603", "605", "606", "607", "608", "609", "610"];
    let scan = |limit: Option<u64>, extra: &'static [&'static str]| async move {
        let (addr, conns) = limited_server(limit).await;
        let mut args = vec!["--safety", "heavy", "--frame-timeout", "200"];
        args.extend_from_slice(extra);
        let scanner = opts(&args).scanner(&DbOpts { db: Vec::new() }).unwrap();
        let rec = scanner.scan(&target(&format!("ws://{addr}/"))).await;
        assert_eq!(rec.status, Status::Ok, "{rec:?}");
        assert_eq!(
            u64::from(rec.connections),
            conns.load(Ordering::SeqCst),
            "{limit:?}"
        );
        rec
    };
    let (none, tiny, mid, every) = tokio::join!(
        scan(None, &[]),
        scan(Some(1000), &[]),
        scan(Some(16 << 20), &[]),
        scan(None, &["--exhaustive"]),
    );
    let outcome = |rec: &wsfp::output::Record, id: &str| {
        serde_json::to_value(rec.observations[id].outcome).unwrap()
    };
    let end = |rec: &wsfp::output::Record, id: &str| {
        serde_json::to_value(rec.observations[id].end).unwrap()
    };
    // No limit: the highest rung waits, so every lower one would.
    assert_eq!(end(&none, "612"), "timeout");
    // A limit below the lowest rung: it is rejected, so every higher one would be.
    assert_eq!(end(&tiny, "601"), "close");
    for rec in [&none, &tiny] {
        for id in ends {
            assert_eq!(outcome(rec, id), "upgraded", "{id}");
        }
        for id in middle {
            assert_eq!(outcome(rec, id), "skipped", "{id}");
            let why = rec.observations[id].error.as_deref().unwrap_or("");
            assert!(why.contains("ladder \"announce\""), "{id}: {why}");
        }
    }
    // A limit in the middle: the ends disagree and the middle finds it.
    assert_eq!(end(&mid, "601"), "timeout");
    assert_eq!(end(&mid, "612"), "close");
    assert_eq!(end(&mid, "605"), "timeout");
    assert_eq!(end(&mid, "606"), "close");
    for id in middle {
        assert_eq!(outcome(&mid, id), "upgraded", "{id}");
    }
    // --exhaustive runs every rung, and so spends a connection on each.
    for id in middle.iter().chain(&ends).chain(&["604", "611"]) {
        assert_eq!(end(&every, id), "timeout", "{id}");
    }
    assert!(every.connections >= none.connections + 10);
}

/// A server whose protocol layer answers a ping at once while its app
/// handles data messages a little later, in order, as Python's
/// `websockets` does: each complete message is echoed (same opcode and
/// payload) after `APP_DELAY`, and a text message that is not UTF-8 gets
/// a close 1007 from the app, after the pong to the ping that followed
/// it. Protocol errors (orphan continuation, reserved opcodes and bits, a
/// fragmented or long control frame, an unmasked frame, a data frame
/// inside an open message) are closed with 1002 at once.
async fn pong_first_echo_server() -> SocketAddr {
    const APP_DELAY: Duration = Duration::from_millis(20);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let (mut rd, wr) = s.into_split();
                let wr = Arc::new(tokio::sync::Mutex::new(wr));
                // The app: one message at a time, in order.
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u8, Vec<u8>)>();
                let app_wr = wr.clone();
                tokio::spawn(async move {
                    while let Some((opcode, payload)) = rx.recv().await {
                        tokio::time::sleep(APP_DELAY).await;
                        let out = if opcode == 1 && std::str::from_utf8(&payload).is_err() {
                            wsfp::wire::encode_frame(
                                &wsfp::wire::FrameSpec::new(8),
                                b"\x03\xefinvalid UTF-8",
                            )
                        } else {
                            wsfp::wire::encode_frame(&wsfp::wire::FrameSpec::new(opcode), &payload)
                        };
                        let _ = app_wr.lock().await.write_all(&out).await;
                        if opcode == 1 && std::str::from_utf8(&payload).is_err() {
                            return;
                        }
                    }
                });
                let send = |bytes: Vec<u8>| {
                    let wr = wr.clone();
                    async move {
                        let _ = wr.lock().await.write_all(&bytes).await;
                    }
                };
                let close = |code: u16| {
                    wsfp::wire::encode_frame(&wsfp::wire::FrameSpec::new(8), &code.to_be_bytes())
                };
                let mut got = BytesMut::new();
                let mut buf = [0u8; 8192];
                let mut upgraded = false;
                let mut d = Decoder::new(DecoderConfig::from_client());
                let mut open: Option<(u8, Vec<u8>)> = None;
                'conn: while let Ok(n) = rd.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if !upgraded {
                        let Some(resp) = take_upgrade(&mut got) else {
                            continue;
                        };
                        send(resp.into_bytes()).await;
                        upgraded = true;
                    }
                    while let Some(f) = d.next_frame(&mut got) {
                        let h = &f.header;
                        let op = h.opcode.0;
                        let bad = h.rsv != 0
                            || h.mask.is_none()
                            || (3..8).contains(&op)
                            || op > 10
                            || op >= 8 && (!h.fin || h.payload_len > 125)
                            || op == 0 && open.is_none()
                            || (op == 1 || op == 2) && open.is_some();
                        if bad {
                            send(close(1002)).await;
                            break 'conn;
                        }
                        match op {
                            9 => {
                                send(wsfp::wire::encode_frame(
                                    &wsfp::wire::FrameSpec::new(0xA),
                                    &f.payload,
                                ))
                                .await
                            }
                            0xA => {}
                            8 => {
                                send(close(1000)).await;
                                break 'conn;
                            }
                            _ => {
                                let (opcode, mut payload) = open.take().unwrap_or((op, Vec::new()));
                                payload.extend_from_slice(&f.payload);
                                if h.fin {
                                    let _ = tx.send((opcode, payload));
                                } else {
                                    open = Some((opcode, payload));
                                }
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Chained probes on a server that answers the liveness ping before its
/// app reacts to the data before it: every echo, and the app's late close
/// for invalid UTF-8, is recorded under the probe that caused it, never
/// under the probe that ran next on the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_probes_keep_their_own_late_reactions() {
    let addr = pong_first_echo_server().await;
    let scanner = opts(&["--series", "100,800"])
        .scanner(&DbOpts { db: Vec::new() })
        .unwrap();
    let rec = scanner.scan(&target(&format!("ws://{addr}/"))).await;
    assert_eq!(rec.status, Status::Ok, "{rec:?}");
    assert!(
        rec.observations
            .values()
            .filter(|o| o.via.is_some())
            .count()
            >= 4,
        "probes were chained: {:?}",
        rec.observations
    );
    // (opcode, length) of the echoes each probe's messages get back.
    let echoes: &[(&str, &[(u8, u64)])] = &[
        ("100", &[(1, 1)]),
        ("101", &[(2, 1)]),
        ("106", &[(1, 0)]),
        ("803", &[(1, 2)]),
        ("805", &[(1, 2)]),
        ("807", &[(1, 1)]),
        ("812", &[(1, 126)]),
        ("813", &[(1, 2)]),
        ("814", &[(1, 1)]),
    ];
    for (id, o) in &rec.observations {
        let data: Vec<(u8, u64)> = o
            .frames
            .iter()
            .filter(|f| f.opcode <= 2)
            .map(|f| (f.opcode, f.len))
            .collect();
        let want = echoes
            .iter()
            .find(|(e, _)| e == id)
            .map_or(&[][..], |(_, w)| w);
        assert_eq!(data, want, "{id}: {o:?}");
        let late_close = o.frames.iter().any(|f| f.close_code == Some(1007));
        assert_eq!(late_close, id == "804", "{id}: {o:?}");
    }
    let end = |id: &str| serde_json::to_value(rec.observations[id].end).unwrap();
    assert_eq!(end("804"), "close");
    for id in [
        "100", "101", "102", "103", "106", "107", "803", "805", "807", "810", "812", "813", "814",
    ] {
        assert_eq!(end(id), "alive", "{id}");
    }
}

/// `-a` runs a subset of the STEWS cases (the rest repeat another
/// probe's evidence, or are ladder rungs its ends decided), but the
/// record names every case: run, `same_as` the probe whose evidence
/// stands for it, or skipped with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_scan_records_every_stews_case() {
    let mut farm = Farm::empty();
    let addr = farm
        .add("127.0.0.1", "tt", "rs-tokio-tungstenite", Kind::Tungstenite)
        .await
        .unwrap();
    let url = format!("ws://{addr}/");
    let (code, out, err) = common::wsfp(common::args(&[
        "scan", "-n", "-a", "--format", "ndjson", "--silent", "-u", &url,
    ]))
    .await;
    farm.stop();
    assert_eq!(code, 0, "{err}");
    let recs = common::records(&out);
    assert_eq!(recs.len(), 1);
    let obs = recs[0]["observations"].as_object().unwrap();
    let set = ProbeSet::builtin();
    let stews: BTreeSet<String> = wsfp::probe::spec::stews_cases().collect();
    assert_eq!(stews.len(), 51);
    let recorded: BTreeSet<String> = obs
        .keys()
        .filter(|id| stews.contains(*id))
        .cloned()
        .collect();
    assert_eq!(
        stews.difference(&recorded).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "STEWS cases missing from the -a record"
    );
    for (id, o) in obs {
        let Some(p) = set.get(id) else { continue };
        if o["outcome"] == "skipped" {
            let why = o["error"].as_str().unwrap_or("");
            assert!(!why.is_empty(), "{id}: skipped without a reason");
        }
        if let Some(of) = &p.same_as {
            // Not run: the probe whose evidence stands for it is named,
            // and its observation is in the record.
            assert_eq!(o["outcome"], "skipped", "{id}: {o}");
            assert_eq!(o["same_as"].as_str(), Some(of.as_str()), "{id}: {o}");
            assert!(obs.contains_key(of), "{id}: same_as {of}, not recorded");
        }
    }
}

/// A relay to `to` that holds each connection's first reply chunk for a
/// random 0-40 ms: connections made together finish their handshakes in
/// a different order every run, as they do on a loaded server.
async fn jitter_relay(to: SocketAddr) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seed = Arc::new(AtomicU64::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1,
    ));
    tokio::spawn(async move {
        loop {
            let (client, _) = l.accept().await.unwrap();
            // xorshift: a fresh delay per connection.
            let mut x = seed.load(Ordering::Relaxed);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            seed.store(x, Ordering::Relaxed);
            let delay = Duration::from_millis(x % 41);
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(to).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    let _ = sw.shutdown().await;
                });
                let mut buf = vec![0u8; 16384];
                let mut first = true;
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if first {
                        tokio::time::sleep(delay).await;
                        first = false;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = cw.shutdown().await;
                up.abort();
            });
        }
    });
    addr
}

/// Which connection a chained probe rides (its `via`) is dealt, not
/// raced for: with handshakes finishing in a random order each run, the
/// same server gives the same `via` for every probe, run after run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_probes_ride_the_same_connection_every_run() {
    let mut farm = Farm::empty();
    let backend = farm
        .add("127.0.0.1", "tt", "rs-tokio-tungstenite", Kind::Tungstenite)
        .await
        .unwrap();
    let addr = jitter_relay(backend).await;
    let scanner = opts(&["-a"]).scanner(&DbOpts { db: Vec::new() }).unwrap();
    let mut seen: Vec<Vec<(String, Option<String>)>> = Vec::new();
    for _ in 0..4 {
        let rec = scanner.scan(&target(&format!("ws://{addr}/"))).await;
        assert_eq!(rec.status, Status::Ok, "{rec:?}");
        seen.push(
            rec.observations
                .iter()
                .map(|(id, o)| (id.clone(), o.via.clone()))
                .collect(),
        );
    }
    farm.stop();
    assert!(
        seen[0].iter().filter(|(_, via)| via.is_some()).count() >= 10,
        "probes chain: {:?}",
        seen[0]
    );
    for (run, s) in seen.iter().enumerate().skip(1) {
        let moved: Vec<_> = s
            .iter()
            .zip(&seen[0])
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("{}: {:?} then {:?}", a.0, b.1, a.1))
            .collect();
        assert!(moved.is_empty(), "run {}: {moved:?}", run + 1);
    }
}

/// How [`ping_server`] answers the pings it reads.
#[derive(Clone, Copy)]
enum Pongs {
    /// Every ping, this late.
    Late(Duration),
    /// Only the first ping of each read, at once: like libwebsockets, which
    /// answers one of the pings it reads together (RFC 6455 §5.5.3 allows
    /// answering only the latest; the lab's libwebsockets answered the first).
    FirstPerRead,
}

/// A server that upgrades every request, reads frames and answers pings
/// as `pongs` says; nothing else.
async fn ping_server(pongs: Pongs) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let (mut rd, wr) = s.into_split();
                let wr = Arc::new(tokio::sync::Mutex::new(wr));
                let mut got = BytesMut::new();
                let mut buf = [0u8; 8192];
                let mut upgraded = false;
                let mut d = Decoder::new(DecoderConfig::from_client());
                while let Ok(n) = rd.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if !upgraded {
                        let Some(resp) = take_upgrade(&mut got) else {
                            continue;
                        };
                        let _ = wr.lock().await.write_all(resp.as_bytes()).await;
                        upgraded = true;
                    }
                    let mut answered = false;
                    while let Some(f) = d.next_frame(&mut got) {
                        if f.header.opcode.0 != 9 {
                            continue;
                        }
                        let pong =
                            wsfp::wire::encode_frame(&wsfp::wire::FrameSpec::new(0xA), &f.payload);
                        match pongs {
                            Pongs::Late(delay) => {
                                let wr = wr.clone();
                                tokio::spawn(async move {
                                    tokio::time::sleep(delay).await;
                                    let _ = wr.lock().await.write_all(&pong).await;
                                });
                            }
                            Pongs::FirstPerRead if !answered => {
                                answered = true;
                                let _ = wr.lock().await.write_all(&pong).await;
                            }
                            Pongs::FirstPerRead => {}
                        }
                    }
                }
            });
        }
    });
    addr
}

/// A probe that pings and then our liveness ping: the second waits for
/// the first's pong, so a server that answers one ping per read answers
/// both, and the probe ends alive every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_ping_and_the_liveness_ping_are_both_answered() {
    let addr = ping_server(Pongs::FirstPerRead).await;
    let scanner = opts(&["-a", "--frame-timeout", "300"])
        .scanner(&DbOpts { db: Vec::new() })
        .unwrap();
    let set = ProbeSet::builtin();
    for _ in 0..3 {
        let rec = scanner.scan(&target(&format!("ws://{addr}/"))).await;
        assert_eq!(rec.status, Status::Ok, "{rec:?}");
        let mut pinging = 0;
        for (id, o) in &rec.observations {
            let Some(p) = set.get(id) else { continue };
            if o.outcome != wsfp::probe::Outcome::Upgraded
                || !p.observe.liveness_ping
                || !p
                    .frames
                    .iter()
                    .all(|f| f.opcode == 9 && f.fin && f.rsv == 0)
                || p.frames.is_empty()
            {
                continue;
            }
            pinging += 1;
            let end = serde_json::to_value(o.end).unwrap();
            assert_eq!(end, "alive", "{id}: {o:?}");
        }
        assert!(pinging >= 1, "no well-formed ping probe ran");
    }
}

/// The text a greeting server sends on every new connection, as
/// Engine.IO sends its open packet (an odd length no probe sends).
const GREETING: &[u8] = b"0{\"sid\":\"wsfp-test\",\"upgrades\":[],\"pingInterval\":25000}";

/// A server with Netty's frame-by-frame echo: each text or binary frame
/// goes back as it came (FIN bit included), continuations are dropped,
/// so a fragmented message's first frame is echoed and the message never
/// finished. Pings are answered (with `empty_pongs`, by a pong without
/// the ping's payload, as uWSGI answers), a close is answered and ends
/// it. With `greet`, the 101 is followed at once by [`GREETING`].
async fn frame_echo_server(greet: bool, empty_pongs: bool) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let frame = |op: u8, fin: bool, payload: &[u8]| {
                    let mut spec = wsfp::wire::FrameSpec::new(op);
                    spec.fin = fin;
                    wsfp::wire::encode_frame(&spec, payload)
                };
                let mut got = BytesMut::new();
                let mut buf = [0u8; 8192];
                let mut upgraded = false;
                let mut d = Decoder::new(DecoderConfig::from_client());
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if !upgraded {
                        let Some(resp) = take_upgrade(&mut got) else {
                            continue;
                        };
                        let mut out = resp.into_bytes();
                        if greet {
                            out.extend(frame(1, true, GREETING));
                        }
                        let _ = s.write_all(&out).await;
                        upgraded = true;
                    }
                    while let Some(f) = d.next_frame(&mut got) {
                        let (op, fin) = (f.header.opcode.0, f.header.fin);
                        let out = match op {
                            1 | 2 => frame(op, fin, &f.payload),
                            9 if empty_pongs => frame(0xA, true, b""),
                            9 => frame(0xA, true, &f.payload),
                            8 => {
                                let _ = s.write_all(&frame(8, true, b"\x03\xe8")).await;
                                return;
                            }
                            _ => continue,
                        };
                        let _ = s.write_all(&out).await;
                    }
                }
            });
        }
    });
    addr
}

/// What an app sends unprompted on each connection is no probe's
/// reaction: it is recorded under the probe that opened the connection
/// as `pushed`, whether that probe sends frames or only hosts others, and
/// never among a probe's `frames`. (Before, the greeting was in the
/// frames of whichever frame probe opened a connection, a set that moved
/// with the plan: node-socketio's open packet was in 6 probes' frames
/// with the safe set and in 25 with `-a`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_greeting_is_pushed_not_a_probes_reaction() {
    let addr = frame_echo_server(true, false).await;
    for mode in [&["-a"][..], &[][..]] {
        let scanner = opts(mode).scanner(&DbOpts { db: Vec::new() }).unwrap();
        let rec = scanner.scan(&target(&format!("ws://{addr}/"))).await;
        assert_eq!(rec.status, Status::Ok, "{rec:?}");
        let greeting = |f: &wsfp::probe::FrameObs| f.opcode == 1 && f.len == GREETING.len() as u64;
        let (mut own_frames, mut hosts) = (0, 0);
        for (id, o) in &rec.observations {
            assert!(!o.frames.iter().any(greeting), "{mode:?} {id}: {o:?}");
            if o.pushed.iter().any(greeting) {
                assert!(o.via.is_none(), "{mode:?} {id}: chained, yet pushed to");
                let p = ProbeSet::builtin();
                if p.get(id).is_some_and(|p| p.frames.is_empty()) {
                    hosts += 1;
                } else {
                    own_frames += 1;
                }
            }
        }
        // Both ways a connection opens: a handshake probe that hosts, and
        // (with -a, where some frame probes end their connection) a frame
        // probe on a connection of its own.
        assert!(hosts >= 1, "{mode:?}: {hosts}");
        assert!(mode.is_empty() || own_frames >= 1, "{mode:?}: {own_frames}");
    }
}

/// A message the server left open in an earlier probe's reaction (it
/// echoed a fragment and never the rest, as Netty's echo does) is not the
/// next probe's anomaly: `data_inside_message` appears only where the
/// probe's own script puts a data frame inside an open message, which
/// this echo sends straight back. (Before, probes 201, 600, 813 and 814
/// had it or not by which probe ran before them on the connection.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_left_open_by_one_probe_is_not_the_next_ones_anomaly() {
    let addr = frame_echo_server(false, false).await;
    let set = ProbeSet::builtin();
    // Scripts whose echo, frame by frame, puts data inside a message.
    let inside = |id: &str| {
        let Some(p) = set.get(id) else { return false };
        let mut open = false;
        p.frames.iter().any(|f| {
            let data = f.opcode == 1 || f.opcode == 2;
            let hit = data && open;
            if data {
                open = !f.fin;
            }
            hit
        })
    };
    let scanner = opts(&["-a"]).scanner(&DbOpts { db: Vec::new() }).unwrap();
    let rec = scanner.scan(&target(&format!("ws://{addr}/"))).await;
    assert_eq!(rec.status, Status::Ok, "{rec:?}");
    let chained = rec
        .observations
        .values()
        .filter(|o| o.via.is_some())
        .count();
    assert!(chained >= 20, "probes were chained: {chained}");
    let mut seen = 0;
    for (id, o) in &rec.observations {
        let flagged = o.frames.iter().any(|f| {
            f.anomalies
                .iter()
                .any(|a| a == "data_inside_message" || a == "orphan_continuation")
        });
        assert_eq!(flagged, inside(id), "{id}: {o:?}");
        seen += usize::from(flagged);
    }
    assert!(seen >= 1, "no probe's own script was seen flagged");
}

/// A server that answers every ping with an empty pong (uWSGI): the
/// opening ping's answer is still told from the reaction (any pong but
/// the liveness pong's), so a frame probe on a connection of its own
/// records no more pongs than one chained onto another's, and the
/// greeting still goes to `pushed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_pong_answers_the_opening_ping() {
    let addr = frame_echo_server(true, true).await;
    let set = ProbeSet::builtin();
    let scanner = opts(&["-a", "--frame-timeout", "100"])
        .scanner(&DbOpts { db: Vec::new() })
        .unwrap();
    let rec = scanner.scan(&target(&format!("ws://{addr}/"))).await;
    assert_eq!(rec.status, Status::Ok, "{rec:?}");
    let (mut fresh, mut pushed) = (0, 0);
    for (id, o) in &rec.observations {
        let Some(p) = set.get(id) else { continue };
        if p.frames.is_empty() || p.frames.iter().any(|f| f.opcode == 9) {
            continue;
        }
        let pongs = o.frames.iter().filter(|f| f.opcode == 0xA).count();
        assert!(pongs <= 1, "{id} (via {:?}): {pongs} pongs: {o:?}", o.via);
        assert!(
            !o.frames
                .iter()
                .any(|f| f.opcode == 1 && f.len == GREETING.len() as u64),
            "{id}: {o:?}"
        );
        if o.via.is_none() && o.outcome == wsfp::probe::Outcome::Upgraded {
            fresh += 1;
            pushed += usize::from(!o.pushed.is_empty());
        }
    }
    assert!(
        fresh >= 1 && pushed == fresh,
        "{pushed} of {fresh} fresh frame probes pushed to"
    );
}
