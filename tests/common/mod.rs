//! Test infrastructure shared by the survey tests: a DNS server on
//! loopback (tests never use the machine's resolver), a listener that
//! counts connections, and a runner for the binary.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::{TcpListener, UdpSocket};

/// A minimal authoritative DNS server: A records from `names`, NXDOMAIN
/// for other names, empty answers for other types. Counts queries per
/// name and type, as `"name A"`, `"name AAAA"` (`"name TYPE<n>"` for
/// others), to check the resolver's cache and its de-duplication.
pub struct Dns {
    pub addr: SocketAddr,
    pub queries: Arc<Mutex<HashMap<String, u64>>>,
}

impl Dns {
    /// Queries for `name` of each type seen, sorted: `[("A", 1), ...]`.
    pub fn asked(&self, name: &str) -> Vec<(String, u64)> {
        let q = self.queries.lock().unwrap();
        let mut v: Vec<(String, u64)> = q
            .iter()
            .filter_map(|(k, n)| {
                let (kn, t) = k.rsplit_once(' ')?;
                (kn == name).then(|| (t.to_string(), *n))
            })
            .collect();
        v.sort();
        v
    }
}

pub async fn dns(names: &[(&str, Ipv4Addr)]) -> Dns {
    dns_slow(names, std::time::Duration::ZERO).await
}

/// [`dns`], answering each query `delay` after it arrived (lookups of a
/// name overlap, as they do on a real resolver far away).
pub async fn dns_slow(names: &[(&str, Ipv4Addr)], delay: std::time::Duration) -> Dns {
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = sock.local_addr().unwrap();
    let table: HashMap<String, Ipv4Addr> =
        names.iter().map(|(n, ip)| (n.to_string(), *ip)).collect();
    let queries = Arc::new(Mutex::new(HashMap::new()));
    let q2 = queries.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                continue;
            };
            let q = &buf[..n];
            if q.len() < 12 {
                continue;
            }
            // Question: labels, then type and class.
            let (mut i, mut labels) = (12usize, Vec::new());
            while i < q.len() && q[i] != 0 {
                let l = q[i] as usize;
                labels.push(
                    String::from_utf8_lossy(&q[i + 1..(i + 1 + l).min(q.len())]).to_lowercase(),
                );
                i += 1 + l;
            }
            if i + 5 > q.len() {
                continue;
            }
            let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
            let qend = i + 5;
            let name = labels.join(".");
            let kind = match qtype {
                1 => "A".to_string(),
                28 => "AAAA".to_string(),
                t => format!("TYPE{t}"),
            };
            *q2.lock()
                .unwrap()
                .entry(format!("{name} {kind}"))
                .or_insert(0) += 1;
            let mut r = Vec::with_capacity(64);
            r.extend_from_slice(&q[0..2]); // id
            let hit = table.get(&name);
            let rcode = if hit.is_some() { 0 } else { 3 };
            r.extend_from_slice(&[0x84 | (q[2] & 1), 0x80 | rcode]); // QR AA RD, RA
            r.extend_from_slice(&[0, 1]); // qdcount
            let answer = hit.filter(|_| qtype == 1);
            r.extend_from_slice(&[0, u8::from(answer.is_some())]); // ancount
            r.extend_from_slice(&[0, 0, 0, 0]); // ns, ar
            r.extend_from_slice(&q[12..qend]);
            if let Some(ip) = answer {
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                r.extend_from_slice(&ip.octets());
            }
            if delay.is_zero() {
                let _ = sock.send_to(&r, peer).await;
            } else {
                let sock = sock.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = sock.send_to(&r, peer).await;
                });
            }
        }
    });
    Dns { addr, queries }
}

/// A listener that accepts, counts and closes (or holds) connections.
pub struct Counter {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicU64>,
}

pub async fn counting_listener(ip: &str) -> Counter {
    let l = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let a2 = accepted.clone();
    tokio::spawn(async move {
        loop {
            if let Ok((s, _)) = l.accept().await {
                a2.fetch_add(1, Ordering::SeqCst);
                drop(s);
            }
        }
    });
    Counter { addr, accepted }
}

pub fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("wsfp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run the binary (off the async runtime); returns (exit code, stdout, stderr).
pub async fn wsfp(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wsfp"))
            .args(&args)
            .output()
            .expect("run wsfp");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

pub fn records(ndjson: &str) -> Vec<serde_json::Value> {
    ndjson
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad record {l:?}: {e}")))
        .collect()
}

pub fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Probe options as the CLI would parse them from `extra`.
pub fn opts(extra: &[&str]) -> wsfp::cli::ProbeOpts {
    use clap::Parser;
    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        p: wsfp::cli::ProbeOpts,
    }
    let mut args = vec!["wsfp"];
    args.extend_from_slice(extra);
    Wrap::parse_from(args).p
}

/// A test's prerequisite (`what`: a capture, an oracle) is absent.
///
/// Under `CI=true` that is a failure: CI always has `../shared` and tshark,
/// so a test that skipped there would pass without having run. Elsewhere
/// the test skips, and says so on the terminal: the line is written to the
/// process's stderr directly, past the harness's output capture, so
/// `cargo test` shows it even for a passing test.
pub fn missing(test: &str, what: &str) {
    use std::io::Write;
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0") {
        panic!(
            "{test}: {what}; CI=true needs it (../shared beside the checkout, tshark installed)"
        );
    }
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {what}");
}
