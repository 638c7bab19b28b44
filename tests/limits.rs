//! The scan-wide and per-target connection limits of `src/net` and the
//! scheduler, observed where they matter: at the server. Each test runs the
//! binary against listeners of its own on loopback that log every accept
//! (its time, and how many of the listeners' connections were open at
//! that moment) and check what the flag promises: `--concurrency` (peak
//! open connections, scan-wide), `--per-host` (peak open at one target),
//! `--host-gap` (spacing of one target's accepts), `--rate` (accepts per
//! second), `--retries` (attempts and their backoff) and
//! `--connect-timeout` (a connect that never completes).
//!
//! The listeners close every connection themselves, after lowering their
//! open count: a client sees the close only after the count went down,
//! so the count never lags the client (a peak over the limit is the
//! scanner's, not a race of the test).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{args, closed_port, records, tmpdir, wsfp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wsfp::wire::accept_for_key;

/// What a listener does with a connection.
#[derive(Clone, Copy)]
enum Reply {
    /// Read the request, wait, answer 101 (a valid upgrade), close.
    Upgrade { after: Duration },
}

/// Accepts on one port of several loopback addresses, logs accepts.
struct Recorder {
    port: u16,
    /// (time, connections open including this one) per accept.
    log: Arc<Mutex<Vec<(Instant, usize)>>>,
}

impl Recorder {
    async fn new(ips: &[String], reply: Reply) -> Recorder {
        let log = Arc::new(Mutex::new(Vec::new()));
        let open = Arc::new(AtomicUsize::new(0));
        let mut port = 0;
        for ip in ips {
            let l = TcpListener::bind((ip.as_str(), port)).await.unwrap();
            port = l.local_addr().unwrap().port();
            let (log, open) = (log.clone(), open.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((s, _)) = l.accept().await else {
                        return;
                    };
                    let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                    log.lock().unwrap().push((Instant::now(), now));
                    let open = open.clone();
                    tokio::spawn(serve(s, reply, open));
                }
            });
        }
        Recorder { port, log }
    }

    fn accepts(&self) -> Vec<(Instant, usize)> {
        self.log.lock().unwrap().clone()
    }

    fn peak(&self) -> usize {
        self.accepts().iter().map(|a| a.1).max().unwrap_or(0)
    }
}

async fn serve(mut s: tokio::net::TcpStream, reply: Reply, open: Arc<AtomicUsize>) {
    let Reply::Upgrade { after } = reply;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head = loop {
        match s.read(&mut buf).await {
            Ok(n) if n > 0 && got.len() < 65_536 => {
                got.extend_from_slice(&buf[..n]);
                if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(String::from_utf8_lossy(&got[..end]).into_owned());
                }
            }
            _ => break None,
        }
    };
    if let Some(head) = head {
        tokio::time::sleep(after).await;
        let key = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default();
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            accept_for_key(&key)
        );
        open.fetch_sub(1, Ordering::SeqCst);
        let _ = s.write_all(resp.as_bytes()).await;
    } else {
        open.fetch_sub(1, Ordering::SeqCst);
    }
    let _ = s.shutdown().await;
}

/// `n` loopback addresses in 127.0.`net`.0/24 (one range per test, so
/// tests running at once never share a listener).
fn hosts(net: u8, n: u8) -> Vec<String> {
    (1..=n).map(|i| format!("127.0.{net}.{i}")).collect()
}

/// Scan `targets` (one per line) with `extra`; the records.
async fn scan(name: &str, targets: &[String], extra: &[&str]) -> Vec<serde_json::Value> {
    scan_with_summary(name, targets, extra).await.0
}

/// [`scan`], and the number of connection attempts the closing summary
/// reports (`..., N connections (...)`).
async fn scan_with_summary(
    name: &str,
    targets: &[String],
    extra: &[&str],
) -> (Vec<serde_json::Value>, u64) {
    let dir = tmpdir(name);
    let file = dir.join("targets.txt");
    std::fs::write(&file, targets.join("\n") + "\n").unwrap();
    let mut a = args(&[
        "scan",
        "-n",
        "-f",
        file.to_str().unwrap(),
        "--format",
        "ndjson",
    ]);
    a.extend(args(extra));
    let (code, out, err) = wsfp(a).await;
    assert_eq!(code, 0, "{err}");
    let recs = records(&out);
    assert_eq!(recs.len(), targets.len(), "one record per target: {out}");
    let attempts = err
        .rsplit_once(" connections (")
        .and_then(|(head, _)| head.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no connection count in the summary: {err}"));
    (recs, attempts)
}

/// `--concurrency N` caps open connections over the whole scan, not only
/// targets in flight: 3 targets of the handshake series at `--per-host
/// 4` would open 12 at once, each held 150 ms by the server; never more
/// than 5 are open, and 5 are reached. (With `--discover`, one connection
/// per target, the cap on targets in flight alone would hold it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_caps_open_connections_scan_wide() {
    let ips = hosts(31, 3);
    let after = Duration::from_millis(150);
    let r = Recorder::new(&ips, Reply::Upgrade { after }).await;
    let targets: Vec<String> = ips.iter().map(|ip| format!("{ip}:{}", r.port)).collect();
    let extra = ["--series", "100", "--per-host", "4", "--concurrency", "5"];
    let recs = scan("limit-conc", &targets, &extra).await;
    assert!(recs.iter().all(|r| r["status"] == "ok"), "{recs:?}");
    assert!(r.accepts().len() >= 18, "{} connections", r.accepts().len());
    assert_eq!(r.peak(), 5, "peak open connections with --concurrency 5");
}

/// `--per-host N` caps one target's open connections: a full scan (`-a`:
/// the probe lanes and the probes outside them), each connection held
/// 100 ms by the server, at most 2 open at once (and 2 reached); with 1,
/// accepts are a hold apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_caps_one_targets_open_connections() {
    let after = Duration::from_millis(100);
    for (net, n) in [(32u8, 2usize), (33, 1)] {
        let ips = hosts(net, 1);
        let r = Recorder::new(&ips, Reply::Upgrade { after }).await;
        let target = format!("{}:{}", ips[0], r.port);
        let per_host = n.to_string();
        let recs = scan(
            &format!("limit-host{n}"),
            &[target],
            &["-a", "--per-host", &per_host],
        )
        .await;
        assert_eq!(recs[0]["status"], "ok", "{:?}", recs[0]);
        let accepts = r.accepts();
        assert!(accepts.len() >= 6, "{} connections", accepts.len());
        assert_eq!(r.peak(), n, "peak open at one target with --per-host {n}");
        if n == 1 {
            for w in accepts.windows(2) {
                assert!(w[1].0 - w[0].0 >= after, "one at a time: {accepts:?}");
            }
        }
    }
}

/// `--host-gap MS` spaces every new connection to one target: the gate,
/// the probes and the still-up check alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_gap_spaces_one_targets_connections() {
    let ips = hosts(34, 1);
    let r = Recorder::new(
        &ips,
        Reply::Upgrade {
            after: Duration::ZERO,
        },
    )
    .await;
    let target = format!("{}:{}", ips[0], r.port);
    let recs = scan(
        "limit-gap",
        &[target],
        &["--series", "100", "--host-gap", "150"],
    )
    .await;
    assert_eq!(recs[0]["status"], "ok", "{:?}", recs[0]);
    let accepts = r.accepts();
    assert!(accepts.len() >= 6, "{} connections", accepts.len());
    // The gap is between connection starts; an accept is logged a little
    // after its connect began, by at most a scheduling delay.
    for w in accepts.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(
            gap >= Duration::from_millis(140),
            "gap {gap:?} in {accepts:?}"
        );
    }
}

/// `--rate R` bounds new connections per second, scan-wide: 30 targets
/// at 20 per second take at least (30 - 1 - burst) / 20 s from the first
/// accept to the last, and no second holds more than 20 + burst (1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_bounds_new_connections_per_second() {
    let ips = hosts(35, 30);
    let r = Recorder::new(
        &ips,
        Reply::Upgrade {
            after: Duration::ZERO,
        },
    )
    .await;
    let targets: Vec<String> = ips.iter().map(|ip| format!("{ip}:{}", r.port)).collect();
    let recs = scan("limit-rate", &targets, &["--discover", "--rate", "20"]).await;
    assert!(recs.iter().all(|r| r["status"] == "ok"), "{recs:?}");
    let t: Vec<Instant> = r.accepts().iter().map(|a| a.0).collect();
    assert_eq!(t.len(), 30);
    let span = t[29] - t[0];
    assert!(
        span >= Duration::from_millis(1_350),
        "30 accepts in {span:?}"
    );
    for (i, start) in t.iter().enumerate() {
        let within = t[i..]
            .iter()
            .take_while(|&&x| x - *start < Duration::from_secs(1))
            .count();
        assert!(within <= 21, "{within} accepts within one second");
    }
}

/// `--retries N` with `--retry-refused`: a target whose connects are
/// refused is tried N + 1 times (the scan's summary counts the attempts;
/// a record counts only connections made), with a backoff that doubles
/// from 100 ms: at least 100 + 200 + 400 ms of sleep for 3 retries, under
/// the jittered maximum of 300 + 600 + 1200 ms. Without the flag a refused
/// port is an answer: one attempt, whatever `--retries` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_try_again_with_backoff() {
    let target = format!("127.0.0.1:{}", closed_port());
    let one = std::slice::from_ref(&target);
    let (recs, attempts) =
        scan_with_summary("limit-retry3", one, &["--retries", "3", "--retry-refused"]).await;
    let r = &recs[0];
    assert_eq!(r["status"], "refused", "{r}");
    assert_eq!(attempts, 4, "{r}");
    let ms = r["elapsed_ms"].as_u64().unwrap();
    assert!((700..2_100 + 500).contains(&ms), "3 retries took {ms} ms");

    for extra in [
        &["--retries", "3"][..],
        &["--retries", "0", "--retry-refused"],
    ] {
        let (recs, attempts) = scan_with_summary("limit-retry0", one, extra).await;
        let r = &recs[0];
        assert_eq!(r["status"], "refused", "{extra:?}: {r}");
        assert_eq!(attempts, 1, "{extra:?}: {r}");
        assert!(r["elapsed_ms"].as_u64().unwrap() < 100, "{extra:?}: {r}");
    }
}

/// A listener whose accept queue is full (backlog 1, filled, never
/// accepted): it drops further SYNs, so a connect neither succeeds nor is
/// refused. Keep the returned sockets alive while it is used.
fn unanswering_listener() -> (SocketAddr, Vec<socket2::Socket>) {
    use socket2::{Domain, Socket, Type};
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(&addr.into()).unwrap();
    l.listen(1).unwrap();
    let addr: SocketAddr = l.local_addr().unwrap().as_socket().unwrap();
    // Fill the accept queue (backlog 1 holds two on Linux).
    let mut keep = vec![l];
    for _ in 0..4 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        keep.push(s);
    }
    std::thread::sleep(Duration::from_millis(50));
    (addr, keep)
}

/// A connect that timed out is retried without `--retry-refused`: three
/// attempts of 200 ms with `--retries 2`, and the backoff between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_that_timed_out_is_retried() {
    let (addr, _keep) = unanswering_listener();
    let target = addr.to_string();
    let (recs, attempts) = scan_with_summary(
        "limit-retry-timeout",
        std::slice::from_ref(&target),
        &[
            "--connect-timeout",
            "200",
            "--retries",
            "2",
            "--target-timeout",
            "20000",
        ],
    )
    .await;
    let r = &recs[0];
    assert_eq!(r["status"], "timeout", "{r}");
    assert_eq!(attempts, 3, "{r}");
    let ms = r["elapsed_ms"].as_u64().unwrap();
    assert!(
        (3 * 200 + 300..3 * 200 + 900 + 500).contains(&ms),
        "took {ms} ms"
    );
}

/// `--connect-timeout MS` ends a connect the target never completes: a
/// listener whose accept queue is full (backlog 1, filled, never
/// accepted) drops the scanner's SYNs, and the connect gives up at the
/// timeout, not before and not long after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_ends_a_connect_that_never_completes() {
    let (addr, keep) = unanswering_listener();
    let target = addr.to_string();
    for ms in [400u64, 1_200] {
        let t = ms.to_string();
        let recs = scan(
            &format!("limit-connect{ms}"),
            std::slice::from_ref(&target),
            &[
                "--connect-timeout",
                &t,
                "--retries",
                "0",
                "--target-timeout",
                "20000",
            ],
        )
        .await;
        let r = &recs[0];
        assert_eq!(r["status"], "timeout", "{r}");
        let took = r["elapsed_ms"].as_u64().unwrap();
        assert!(
            (ms..ms + 300).contains(&took),
            "--connect-timeout {ms}: gave up after {took} ms"
        );
    }
    drop(keep);
}
