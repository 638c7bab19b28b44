//! The scan benchmark (`cargo bench --bench scan`): wsfp against a
//! loopback farm of 1,000 real WebSocket endpoints (tokio-tungstenite on
//! 100 addresses of 127.1.0.0/16 × 10 ports), side by side with the
//! physical floor of this machine: a minimal raw handshake loop (connect,
//! send a handshake, read the 101 head, close) at the same concurrency.
//!
//! Measured, in one run:
//! - discovery (`--discover`) targets/s vs the floor's handshakes/s;
//! - full fingerprinting (default safe set, and -a) connections/s vs floor;
//! - `--rate 1000` and `--rate 5000`: the rate over every 10 s window,
//!   from the server's accept counts (an independent clock);
//! - peak RSS of a 1,000,000-line target list at --concurrency 1000.
//!
//! The farm runs in a child process (this binary with WSFP_BENCH_ROLE=farm)
//! so that the farm, the floor and wsfp do not share a runtime. Env:
//! WSFP_BENCH_QUICK=1 skips the rate and 1M-line parts.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADDRS: usize = 100;
const PORTS: usize = 10;
const CONCURRENCY: usize = 100;

fn main() {
    if std::env::var("WSFP_BENCH_ROLE").as_deref() == Ok("farm") {
        return farm();
    }
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // useful: only run when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("wsfp-scanbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // The farm: a child process that prints its endpoints, then a line
    // "accepts N" every 100 ms (its own count of accepted connections).
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("WSFP_BENCH_ROLE", "farm")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut targets: Vec<SocketAddr> = Vec::new();
    for l in lines.by_ref() {
        let l = l.unwrap();
        if l == "ready" {
            break;
        }
        targets.push(l.parse().unwrap());
    }
    let accepts = Arc::new(AtomicU64::new(0));
    let a2 = accepts.clone();
    std::thread::spawn(move || {
        for l in lines {
            if let Some(n) = l
                .ok()
                .and_then(|l| l.strip_prefix("accepts ")?.parse().ok())
            {
                a2.store(n, Ordering::SeqCst);
            }
        }
    });
    let list = dir.join("targets.txt");
    write_list(&list, &targets, 1);
    println!(
        "farm: {} tokio-tungstenite endpoints on {ADDRS} addresses x {PORTS} ports",
        targets.len()
    );

    let wsfp = env!("CARGO_BIN_EXE_wsfp");
    // The floor moves by ±10% between runs on this shared machine, so it
    // is measured before and after wsfp's runs, and wsfp is compared with
    // the higher of the two (the conservative ratio).
    let floor_before = rt.block_on(floor(&targets, 10));

    let conc = CONCURRENCY.to_string();
    // Thirty passes: about 3 s, long enough to smooth the noise of a 1 s run.
    let list3 = dir.join("targets30.txt");
    write_list(&list3, &targets, 30);
    let (d_secs, d_conns, _) = run_wsfp(
        wsfp,
        &[
            "--discover",
            "-f",
            list3.to_str().unwrap(),
            "--concurrency",
            &conc,
        ],
    );
    let (s_secs, s_conns, _) = run_wsfp(
        wsfp,
        &["-f", list.to_str().unwrap(), "--concurrency", &conc],
    );
    let (a_secs, a_conns, _) = run_wsfp(
        wsfp,
        &["-a", "-f", list.to_str().unwrap(), "--concurrency", &conc],
    );
    let floor_after = rt.block_on(floor(&targets, 10));
    let floor = floor_before.max(floor_after);
    println!(
        "floor (raw handshake loop, concurrency {CONCURRENCY}): {floor_before:.0} handshakes/s before, {floor_after:.0} after; compared with {floor:.0}"
    );
    let disc = 30.0 * targets.len() as f64 / d_secs;
    println!(
        "wsfp --discover: {disc:.0} targets/s ({d_conns} connections in {d_secs:.2} s) = {:.0}% of floor",
        100.0 * disc / floor
    );
    println!(
        "wsfp full (default safe set): {:.0} targets/s, {:.0} connections/s = {:.0}% of floor ({s_conns} connections, {s_secs:.2} s)",
        targets.len() as f64 / s_secs,
        s_conns as f64 / s_secs,
        100.0 * s_conns as f64 / s_secs / floor
    );
    println!(
        "wsfp full (-a, 68 probes, chained): {:.0} targets/s, {:.0} connections/s = {:.0}% of floor ({a_conns} connections, {a_secs:.2} s)",
        targets.len() as f64 / a_secs,
        a_conns as f64 / a_secs,
        100.0 * a_conns as f64 / a_secs / floor
    );

    if std::env::var("WSFP_BENCH_QUICK").is_err() {
        for rate in [1000u32, 5000] {
            // Enough targets for 12 s at this rate.
            let copies = (12 * rate as usize).div_ceil(targets.len());
            let l = dir.join(format!("rate{rate}.txt"));
            write_list(&l, &targets, copies);
            let samples = Arc::new(std::sync::Mutex::new(Vec::<(Instant, u64)>::new()));
            let (s2, a3) = (samples.clone(), accepts.clone());
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let stop2 = stop.clone();
            let sampler = std::thread::spawn(move || {
                while !stop2.load(Ordering::SeqCst) {
                    s2.lock()
                        .unwrap()
                        .push((Instant::now(), a3.load(Ordering::SeqCst)));
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            let rate_s = rate.to_string();
            let (secs, conns, _) = run_wsfp(
                wsfp,
                &[
                    "--discover",
                    "-f",
                    l.to_str().unwrap(),
                    "--rate",
                    &rate_s,
                    "--concurrency",
                    "1000",
                ],
            );
            stop.store(true, Ordering::SeqCst);
            sampler.join().unwrap();
            let s = samples.lock().unwrap();
            // 10 s windows inside the steady part (skip the first second).
            let mut worst: f64 = 0.0;
            let mut windows = 0;
            for (i, (t0, c0)) in s.iter().enumerate() {
                if t0.duration_since(s[0].0) < Duration::from_secs(1) {
                    continue;
                }
                if let Some((t1, c1)) = s[i..]
                    .iter()
                    .find(|(t, _)| t.duration_since(*t0) >= Duration::from_secs(10))
                {
                    if *c1 - *c0 == 0 {
                        continue;
                    }
                    let r = (*c1 - *c0) as f64 / t1.duration_since(*t0).as_secs_f64();
                    // Only windows fully inside the scan.
                    if *c1 < s.last().unwrap().1 {
                        worst = worst.max((r / rate as f64 - 1.0).abs());
                        windows += 1;
                    }
                }
            }
            println!(
                "--rate {rate}: {conns} connections in {secs:.2} s = {:.1}/s overall; worst 10 s window (server accepts) off by {:.2}% over {windows} windows",
                conns as f64 / secs,
                worst * 100.0
            );
        }

        // A million-line list: closed ports on 127.2.0.0/16-ish addresses
        // and the farm's endpoints mixed in.
        let big = dir.join("million.txt");
        {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
            for i in 0..1_000_000u32 {
                if i % 100 == 0 {
                    let t = targets[(i / 100) as usize % targets.len()];
                    writeln!(f, "{t}").unwrap();
                } else {
                    writeln!(f, "127.2.{}.{}:9", (i >> 8) & 0xff, i & 0xff).unwrap();
                }
            }
        }
        let (secs, conns, rss) = run_wsfp(
            wsfp,
            &[
                "--discover",
                "-f",
                big.to_str().unwrap(),
                "--concurrency",
                "1000",
            ],
        );
        println!(
            "1,000,000-line list, --discover --concurrency 1000: {secs:.1} s, {conns} connections, peak RSS {:.1} MiB",
            rss as f64 / 1024.0
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

fn write_list(path: &std::path::Path, targets: &[SocketAddr], copies: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for _ in 0..copies {
        for t in targets {
            writeln!(f, "{t}").unwrap();
        }
    }
}

/// Run `wsfp scan -n ... --format ndjson --out /dev/null` under
/// /usr/bin/time; returns (seconds, connections, peak RSS KiB).
fn run_wsfp(wsfp: &str, extra: &[&str]) -> (f64, u64, u64) {
    let stats = std::env::temp_dir().join(format!("wsfp-bench-stats-{}", std::process::id()));
    let mut args: Vec<&str> = vec![
        "-v",
        wsfp,
        "scan",
        "-n",
        "--format",
        "ndjson",
        "--out",
        "/dev/null",
        "--retries",
        "0",
        "--silent",
        "--stats",
        stats.to_str().unwrap(),
        "--stats-interval",
        "1000",
    ];
    args.extend_from_slice(extra);
    let t0 = Instant::now();
    let out = Command::new("/usr/bin/time").args(&args).output().unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "wsfp failed: {err}");
    let rss = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let last = std::fs::read_to_string(&stats).unwrap_or_default();
    let conns = last
        .lines()
        .last()
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .and_then(|v| v["connections"].as_u64())
        .unwrap_or(0);
    // Subtract start-up (DB load) from the wall time: the stats line's
    // elapsed_s is the survey's own clock.
    let survey = last
        .lines()
        .last()
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .and_then(|v| v["elapsed_s"].as_f64())
        .unwrap_or(secs);
    (survey, conns, rss)
}

async fn floor(targets: &[SocketAddr], passes: usize) -> f64 {
    let work: Vec<SocketAddr> = (0..passes).flat_map(|_| targets.iter().copied()).collect();
    let work = Arc::new(work);
    let next = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (work, next) = (work.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 1024];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(addr) = work.get(i) else { break };
                let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
                    continue;
                };
                let req = format!(
                    "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                );
                if s.write_all(req.as_bytes()).await.is_err() {
                    continue;
                }
                let mut n = 0;
                while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") && n < buf.len() {
                    match s.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => n += k,
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    work.len() as f64 / t0.elapsed().as_secs_f64()
}

fn farm() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let accepts = Arc::new(AtomicU64::new(0));
        let mut out = std::io::stdout().lock();
        for a in 0..ADDRS {
            let ip = format!("127.1.0.{}", a + 1);
            for _ in 0..PORTS {
                let l = tokio::net::TcpListener::bind((ip.as_str(), 0))
                    .await
                    .unwrap();
                writeln!(out, "{}", l.local_addr().unwrap()).unwrap();
                let acc = accepts.clone();
                tokio::spawn(async move {
                    loop {
                        let Ok((s, _)) = l.accept().await else {
                            continue;
                        };
                        acc.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(async move {
                            use futures_util::{SinkExt, StreamExt};
                            let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
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
            }
        }
        writeln!(out, "ready").unwrap();
        out.flush().unwrap();
        drop(out);
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            println!("accepts {}", accepts.load(Ordering::Relaxed));
        }
    });
}
