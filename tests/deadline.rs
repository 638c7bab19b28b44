//! `--target-timeout` is a hard bound (issue #15): DNS, connects, retries
//! and their sleeps, every probe's waits and the still-up check all end by
//! the target's deadline, and a record cut by it says so instead of
//! reporting what the cut made up (a timeout, a crash).
//!
//! Each test runs the binary against a loopback server of its own and
//! checks the record's timing (`elapsed_ms`, and `ts` against the wall
//! clock when the process ended) against the deadline plus 100 ms.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{args, closed_port, records, wsfp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use wsfp::wire::accept_for_key;

/// Slack over the deadline for writing the record and exiting.
const SLACK_MS: f64 = 100.0;

/// Seconds since the Unix epoch, as records' `ts`.
fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Runs `wsfp scan` with `extra` and returns its one record, after
/// checking that the target ended within `deadline_ms` + [`SLACK_MS`] of
/// its start, by its own account and by the clock.
async fn scan_within(deadline_ms: u64, extra: &[&str]) -> serde_json::Value {
    let mut a = args(&["scan", "--format", "ndjson", "--silent"]);
    a.extend(args(extra));
    let (code, out, err) = wsfp(a).await;
    let ended = now_unix();
    assert_eq!(code, 0, "{err}");
    let mut recs = records(&out);
    assert_eq!(recs.len(), 1, "{out}");
    let rec = recs.remove(0);
    let bound = deadline_ms as f64 + SLACK_MS;
    let elapsed = rec["elapsed_ms"].as_u64().expect("elapsed_ms") as f64;
    assert!(
        elapsed <= bound,
        "elapsed_ms {elapsed} past {deadline_ms} + {SLACK_MS} ms: {rec}"
    );
    let since_start = (ended - rec["ts"].as_f64().expect("ts")) * 1000.0;
    assert!(
        since_start <= bound + 1.0, // ts is rounded to the millisecond
        "the process ended {since_start:.0} ms after the target started: {rec}"
    );
    rec
}

/// A server that answers the first connection's handshake with a 101 and
/// then goes silent: that connection and every later one are accepted
/// and read, never answered (a server that hung after the gate). Returns
/// its address and the number of connections accepted.
async fn silent_after_first_upgrade() -> (SocketAddr, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let first = count.fetch_add(1, Ordering::SeqCst) == 0;
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                let mut answered = !first;
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if answered {
                        continue;
                    }
                    let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    answered = true;
                    let head = String::from_utf8_lossy(&got[..end]).into_owned();
                    let key = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                        .unwrap_or("")
                        .trim()
                        .to_string();
                    let resp = format!(
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                         Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                        accept_for_key(&key)
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                }
            });
        }
    });
    (addr, accepted)
}

/// A listener that accepts and reads, never writes.
async fn silent_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A DNS server that receives every query and answers none.
async fn silent_resolver() -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while sock.recv_from(&mut buf).await.is_ok() {}
    });
    addr
}

/// The ids of the observations skipped for the deadline.
fn skipped_for_deadline(rec: &serde_json::Value) -> Vec<String> {
    rec["observations"]
        .as_object()
        .expect("observations")
        .iter()
        .filter(|(_, o)| {
            o["outcome"] == "skipped"
                && o["error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("deadline"))
        })
        .map(|(id, _)| id.clone())
        .collect()
}

/// The case: 101 to the gate, then silence. Probing stops at the
/// deadline, the unfinished probes say why, and the still-up check, which
/// would have waited out a 10 s handshake, does not run past it, so no
/// crash is claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_silent_after_the_gate_ends_at_the_deadline_without_a_crash_claim() {
    let (addr, accepted) = silent_after_first_upgrade().await;
    let url = format!("ws://{addr}/");
    let rec = scan_within(
        2000,
        &[
            "-u",
            &url,
            "-a",
            "--target-timeout",
            "2000",
            "--handshake-timeout",
            "10000",
        ],
    )
    .await;
    assert_eq!(rec["status"], "ok", "the gate upgraded: {rec}");
    assert!(rec.get("target_down_after").is_none(), "{rec}");
    let error = rec["error"].as_str().unwrap_or("");
    assert!(error.starts_with("target_timeout"), "{error}");
    assert!(!skipped_for_deadline(&rec).is_empty(), "{rec}");
    // Every connection the scan made is counted, the cut ones too.
    assert_eq!(
        rec["connections"].as_u64(),
        Some(accepted.load(Ordering::SeqCst)),
        "{rec}"
    );
}

/// A server that accepts and never answers the gate: the gate's wait is
/// cut by the deadline, which the status says (not `timeout`, which is
/// the handshake timeout's verdict), and its connection is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_gate_is_cut_by_the_deadline_and_says_so() {
    let addr = silent_server().await;
    let url = format!("ws://{addr}/");
    let rec = scan_within(
        2000,
        &[
            "-u",
            &url,
            "-a",
            "--target-timeout",
            "2000",
            "--handshake-timeout",
            "10000",
        ],
    )
    .await;
    assert_eq!(rec["status"], "target_timeout", "{rec}");
    assert!(rec.get("target_down_after").is_none(), "{rec}");
    assert_eq!(rec["connections"], 1, "{rec}");
    assert_eq!(rec["observations"]["309"]["outcome"], "skipped", "{rec}");
}

/// A resolver that never answers: the lookup ends at the target's
/// deadline, not after the DNS timeout (twice over, A then AAAA).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_resolver_is_cut_by_the_deadline() {
    let dns = silent_resolver().await.to_string();
    let rec = scan_within(
        1000,
        &[
            "-u",
            "ws://silent.test/",
            "--resolver",
            &dns,
            "--dns-timeout",
            "8000",
            "--target-timeout",
            "1000",
        ],
    )
    .await;
    assert_eq!(rec["status"], "target_timeout", "{rec}");
    assert!(rec["error"].as_str().unwrap_or("").contains("DNS"), "{rec}");
    assert_eq!(rec["connections"], 0, "{rec}");
}

/// One `--dns-timeout` bounds the whole lookup, A and AAAA together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_takes_one_dns_timeout_for_a_and_aaaa() {
    let dns = silent_resolver().await.to_string();
    let rec = scan_within(
        300,
        &[
            "-u",
            "ws://silent.test/",
            "--resolver",
            &dns,
            "--dns-timeout",
            "300",
            "--target-timeout",
            "5000",
        ],
    )
    .await;
    assert_eq!(rec["status"], "dns_error", "{rec}");
}

/// A refused port with retries to spare (`--retry-refused`): the backoff
/// sleeps stop at the deadline, and the record says the retries were cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_their_sleeps_end_by_the_deadline() {
    let url = format!("ws://127.0.0.1:{}/", closed_port());
    let rec = scan_within(
        2000,
        &[
            "-u",
            &url,
            "--retries",
            "8",
            "--retry-refused",
            "--target-timeout",
            "2000",
        ],
    )
    .await;
    assert_eq!(rec["status"], "refused", "{rec}");
    assert!(
        rec["error"]
            .as_str()
            .unwrap_or("")
            .contains("target_timeout"),
        "{rec}"
    );
    assert_eq!(rec["connections"], 0, "{rec}");
}
