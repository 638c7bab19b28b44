//! The scan benchmark (`cargo bench --bench scan`): wsfp against two
//! loopback farms, side by side with the physical floor of this machine (a
//! minimal raw handshake loop: connect, send a handshake, read the head,
//! close) at the same concurrency and on the same number of runtime workers.
//!
//! - The identical farm: 1,000 tokio-tungstenite echo endpoints (100
//!   addresses of 127.1.0.0/16 x 10 ports). Every verdict is the same one,
//!   the best case of wsfp's verdict memo.
//! - The mixed farm: 1,000 endpoints on 127.3.0.0/24 of five behaviours,
//!   interleaved: 400 tokio-tungstenite, 200 fastwebsockets on hyper, 200
//!   soketto (echo servers, `ok`), 100 plain HTTP 404 (`not_websocket`), 95
//!   that close right after their 101, and 5 that never answer (`timeout`;
//!   both sides wait 1 s for a head there).
//!
//! Per farm: discovery (`--discover`) targets/s and full fingerprinting (the
//! default safe set, and -a) connections/s against the floor's rate; CPU
//! (user + sys, start-up subtracted) per target for both sides and for the
//! farm. Then, on the identical farm: `--rate 1000` and `--rate 5000` over
//! every 10 s window, from the farm's accept counts (an independent clock),
//! and the peak RSS of a 1,000,000-line target list at --concurrency 1000.
//!
//! Success is checked, not assumed: the floor counts only completed 101
//! handshakes with the right Accept as handshakes (and reports every other
//! outcome); every wsfp record is read back and its status (and, for a full
//! scan, its implementation) compared with what the endpoint is. Any
//! mismatch is printed at once and again at the end, and the benchmark
//! exits 1.
//!
//! The farm, the floor and wsfp are three processes (this binary with
//! WSFP_BENCH_ROLE=farm or floor, and the wsfp binary): the farm on one
//! runtime worker, the floor and wsfp on WSFP_BENCH_WORKERS each (default:
//! the core count, which is what wsfp's runtime uses; wsfp is given it
//! through tokio's TOKIO_WORKER_THREADS). All three share the machine's
//! cores. Env: WSFP_BENCH_QUICK=1 runs ten discovery passes instead of
//! thirty, skips -a and the rate and 1M-line parts.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADDRS: usize = 100;
const PORTS: usize = 10;
const CONCURRENCY: usize = 100;
/// wsfp's default --connect-timeout and --handshake-timeout, ms.
const DEFAULT_TIMEOUT_MS: u64 = 3000;
/// The handshake timeout of both sides on the mixed farm, ms: each silent
/// endpoint costs this much of one slot. (Not for -a there: its long
/// payloads keep the farm's one worker busy on soketto's endpoints, and at
/// 1 s a few gate handshakes of other endpoints time out; -a keeps wsfp's
/// default.)
const MIXED_TIMEOUT_MS: u64 = 1000;
/// The Sec-WebSocket-Key of the floor's request (RFC 6455's sample).
const FLOOR_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// What an endpoint of a farm is.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
enum Kind {
    Tungstenite,
    FastWs,
    Soketto,
    Http404,
    CloseAfter101,
    Silent,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Tungstenite,
        Kind::FastWs,
        Kind::Soketto,
        Kind::Http404,
        Kind::CloseAfter101,
        Kind::Silent,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Tungstenite => "tokio-tungstenite",
            Kind::FastWs => "fastwebsockets",
            Kind::Soketto => "soketto",
            Kind::Http404 => "http-404",
            Kind::CloseAfter101 => "close-after-101",
            Kind::Silent => "silent",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The kind of the mixed farm's endpoint `i` (0..1000): 400/200/200/100/95/5.
    fn mixed(i: usize) -> Kind {
        match i % 200 {
            0..80 => Kind::Tungstenite,
            80..120 => Kind::FastWs,
            120..160 => Kind::Soketto,
            160..180 => Kind::Http404,
            180..199 => Kind::CloseAfter101,
            _ => Kind::Silent,
        }
    }

    /// What a wsfp record of this endpoint must say: its status, and after
    /// a full scan its implementation (None: not checked).
    fn expect(self) -> (&'static str, Option<&'static str>) {
        match self {
            Kind::Tungstenite => ("ok", Some("rs-tokio-tungstenite")),
            Kind::FastWs => ("ok", Some("rs-fastwebsockets")),
            Kind::Soketto => ("ok", Some("rs-soketto")),
            Kind::Http404 => ("not_websocket", None),
            Kind::CloseAfter101 => ("ok", None),
            Kind::Silent => ("timeout", None),
        }
    }

    /// What the floor must see.
    fn floor_expect(self) -> &'static str {
        match self {
            Kind::Http404 => "not_101",
            Kind::Silent => "timeout",
            _ => "ok_101",
        }
    }
}

type Farm = Vec<(SocketAddr, Kind)>;

/// Check failures, printed when they happen and again at the end.
static FAILED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn flag(msg: String) {
    println!("!!! CHECK FAILED: {msg}");
    FAILED.lock().unwrap().push(msg);
}

fn quick() -> bool {
    std::env::var("WSFP_BENCH_QUICK").is_ok()
}

fn workers() -> usize {
    std::env::var("WSFP_BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

fn main() {
    match std::env::var("WSFP_BENCH_ROLE").as_deref() {
        Ok("farm") => return farm(),
        Ok("floor") => return floor_child(),
        _ => {}
    }
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // useful: only run when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("wsfp-scanbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // The farm: a child process that prints its endpoints ("identical ADDR",
    // "mixed KIND ADDR"), then a line "accepts N" every 100 ms (its own count
    // of connections accepted by the identical farm).
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("WSFP_BENCH_ROLE", "farm")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let farm_pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut identical, mut mixed): (Farm, Farm) = (Vec::new(), Vec::new());
    for l in lines.by_ref() {
        let l = l.unwrap();
        if l == "ready" {
            break;
        }
        let mut w = l.split_whitespace();
        match (w.next(), w.next(), w.next()) {
            (Some("identical"), Some(a), None) => {
                identical.push((a.parse().unwrap(), Kind::Tungstenite))
            }
            (Some("mixed"), Some(k), Some(a)) => {
                mixed.push((a.parse().unwrap(), Kind::parse(k).unwrap()))
            }
            _ => panic!("farm: unexpected line {l:?}"),
        }
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

    let ctx = Ctx {
        wsfp: env!("CARGO_BIN_EXE_wsfp"),
        dir: dir.clone(),
        farm_pid,
        workers: workers(),
        tck: clock_ticks(),
        startup: (0.0, 0.0),
    };
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    // Start-up CPU (the DB and scorer load; the floor's runtime), the least
    // of three runs, subtracted from every run's CPU.
    let startup_wsfp = (0..3)
        .map(|_| ctx.wsfp_run(&["-f", empty.to_str().unwrap()], None).t.cpu_s)
        .fold(f64::MAX, f64::min);
    let startup_floor = (0..3)
        .map(|_| ctx.floor_run(&empty, DEFAULT_TIMEOUT_MS).cpu_s)
        .fold(f64::MAX, f64::min);
    let ctx = Ctx {
        startup: (startup_wsfp, startup_floor),
        ..ctx
    };
    let up1 = uptime();
    println!(
        "client runtime workers: {} for the floor and for wsfp (TOKIO_WORKER_THREADS); the farm: 1 worker in its own process; {} cores shared by the three; concurrency {CONCURRENCY}",
        ctx.workers,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "start-up CPU subtracted: wsfp {:.0} ms, floor {:.0} ms; load average at the start: {up1}",
        startup_wsfp * 1e3,
        startup_floor * 1e3
    );

    ctx.bench_farm(
        "identical",
        "1000 tokio-tungstenite endpoints on 100 addresses x 10 ports",
        &identical,
        DEFAULT_TIMEOUT_MS,
    );
    ctx.bench_farm(
        "mixed",
        "1000 endpoints: 400 tokio-tungstenite, 200 fastwebsockets, 200 soketto, 100 HTTP 404, 95 close after 101, 5 silent",
        &mixed,
        MIXED_TIMEOUT_MS,
    );

    if !quick() {
        ctx.rates(&identical, &accepts);
        ctx.million(&identical);
    }
    let up2 = uptime();
    println!("load average at the end: {up2}");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let failed = FAILED.lock().unwrap();
    if !failed.is_empty() {
        println!("\n!!! {} CHECK(S) FAILED:", failed.len());
        for f in failed.iter() {
            println!("!!!   {f}");
        }
        std::process::exit(1);
    }
    println!("all checks passed (every floor outcome and every wsfp record as expected)");
}

struct Ctx {
    wsfp: &'static str,
    dir: PathBuf,
    farm_pid: u32,
    workers: usize,
    /// Clock ticks per second of /proc/PID/stat.
    tck: f64,
    /// Start-up CPU seconds of (wsfp, floor).
    startup: (f64, f64),
}

/// One timed child run.
struct Timed {
    cpu_s: f64,
    rss_kib: u64,
    farm_cpu_s: f64,
    stdout: String,
}

/// One wsfp run.
struct WsfpRun {
    /// The survey's own clock (start-up excluded).
    secs: f64,
    conns: u64,
    t: Timed,
    /// The last --stats line's status tally.
    stats_status: BTreeMap<String, u64>,
}

/// One floor run.
struct FloorRun {
    secs: f64,
    targets: u64,
    ok: u64,
    outcomes: BTreeMap<String, u64>,
    cpu_s: f64,
    farm_cpu_s: f64,
}

impl FloorRun {
    /// Completed targets per second (any outcome), and 101 handshakes per second.
    fn rates(&self) -> (f64, f64) {
        (self.targets as f64 / self.secs, self.ok as f64 / self.secs)
    }
}

impl Ctx {
    /// Run `cmd args` under /usr/bin/time -v; the farm's CPU over the run too.
    fn timed(&self, program: &str, args: &[&str], env: &[(&str, String)]) -> Timed {
        let farm0 = proc_cpu(self.farm_pid, self.tck);
        let mut c = Command::new("/usr/bin/time");
        c.arg("-v").arg(program).args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let farm_cpu_s = proc_cpu(self.farm_pid, self.tck) - farm0;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{program} failed: {err}");
        let field = |name: &str| {
            err.lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Timed {
            cpu_s: field("User time (seconds):") + field("System time (seconds):"),
            rss_kib: field("Maximum resident set size (kbytes):") as u64,
            farm_cpu_s,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        }
    }

    /// `wsfp scan -n --format ndjson --retries 0 --silent --stats ...` with
    /// `extra`; records to `out` (or /dev/null).
    fn wsfp_run(&self, extra: &[&str], out: Option<&Path>) -> WsfpRun {
        let stats = self.dir.join("stats.ndjson");
        let out = out.map_or("/dev/null".to_string(), |p| p.display().to_string());
        let mut args: Vec<&str> = vec![
            "scan",
            "-n",
            "--format",
            "ndjson",
            "--out",
            &out,
            "--retries",
            "0",
            "--silent",
            "--stats",
            stats.to_str().unwrap(),
            "--stats-interval",
            "1000",
        ];
        args.extend_from_slice(extra);
        let t = self.timed(
            self.wsfp,
            &args,
            &[("TOKIO_WORKER_THREADS", self.workers.to_string())],
        );
        let last = std::fs::read_to_string(&stats).unwrap_or_default();
        let v = last
            .lines()
            .last()
            .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .unwrap_or_default();
        let stats_status = v["status"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        WsfpRun {
            secs: v["elapsed_s"].as_f64().unwrap_or(f64::NAN),
            conns: v["connections"].as_u64().unwrap_or(0),
            t,
            stats_status,
        }
    }

    /// The floor over `list` (lines "ADDR EXPECTED-OUTCOME").
    fn floor_run(&self, list: &Path, timeout_ms: u64) -> FloorRun {
        let exe = std::env::current_exe().unwrap();
        let t = self.timed(
            exe.to_str().unwrap(),
            &[],
            &[
                ("WSFP_BENCH_ROLE", "floor".to_string()),
                ("WSFP_BENCH_LIST", list.display().to_string()),
                ("WSFP_BENCH_WORKERS", self.workers.to_string()),
                ("WSFP_BENCH_TIMEOUT_MS", timeout_ms.to_string()),
            ],
        );
        let v: serde_json::Value = serde_json::from_str(t.stdout.trim()).unwrap();
        let outcomes: BTreeMap<String, u64> = v["outcomes"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
            .collect();
        let unexpected = v["unexpected"].as_u64().unwrap();
        if unexpected > 0 {
            flag(format!(
                "floor over {}: {unexpected} outcome(s) not what the endpoint is (outcomes {outcomes:?}; e.g. {})",
                list.display(),
                v["examples"]
            ));
        }
        FloorRun {
            secs: v["elapsed_s"].as_f64().unwrap(),
            targets: v["targets"].as_u64().unwrap(),
            ok: outcomes.get("ok_101").copied().unwrap_or(0),
            outcomes,
            cpu_s: (t.cpu_s - self.startup.1).max(0.0),
            farm_cpu_s: t.farm_cpu_s,
        }
    }

    /// wsfp over `list` (`copies` passes of `farm`), records read back and
    /// checked against the endpoints' kinds. Returns the run and the count
    /// of records by status.
    fn wsfp_checked(
        &self,
        label: &str,
        farm: &Farm,
        list: &Path,
        copies: usize,
        full: bool,
        extra: &[&str],
    ) -> (WsfpRun, BTreeMap<String, u64>) {
        let out = self.dir.join("records.ndjson");
        let mut args = vec!["-f", list.to_str().unwrap()];
        args.extend_from_slice(extra);
        let run = self.wsfp_run(&args, Some(&out));
        let kinds: HashMap<String, Kind> = farm.iter().map(|(a, k)| (a.to_string(), *k)).collect();
        let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
        let (mut records, mut bad) = (0usize, Vec::<String>::new());
        let mut bad_n = 0usize;
        let f = BufReader::new(std::fs::File::open(&out).unwrap());
        for l in f.lines() {
            let l = l.unwrap();
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            records += 1;
            let (target, status, imp) = (
                v["target"].as_str().unwrap_or(""),
                v["status"].as_str().unwrap_or("?"),
                v["implementation"].as_str().unwrap_or("?"),
            );
            *by_status.entry(status.to_string()).or_default() += 1;
            let Some(kind) = kinds.get(target) else {
                bad_n += 1;
                if bad.len() < 3 {
                    bad.push(format!("{target}: not a farm endpoint"));
                }
                continue;
            };
            let (want_status, want_imp) = kind.expect();
            let imp_wrong = full && want_imp.is_some_and(|w| w != imp);
            if status != want_status || imp_wrong {
                bad_n += 1;
                if bad.len() < 3 {
                    bad.push(format!(
                        "{target} ({}): {status}/{imp}, expected {want_status}/{}",
                        kind.name(),
                        want_imp.unwrap_or("*")
                    ));
                }
            }
        }
        let want = farm.len() * copies;
        if records != want {
            flag(format!("{label}: {records} records for {want} targets"));
        }
        if bad_n > 0 {
            flag(format!(
                "{label}: {bad_n} of {records} records not what the endpoint is (statuses {by_status:?}; e.g. {})",
                bad.join("; ")
            ));
        }
        if run.stats_status != by_status {
            flag(format!(
                "{label}: --stats status tally {:?} differs from the records' {by_status:?}",
                run.stats_status
            ));
        }
        (run, by_status)
    }

    fn bench_farm(&self, name: &str, what: &str, farm: &Farm, timeout_ms: u64) {
        println!(
            "\n== {name} farm: {what}; handshake timeout {:.0} s (both sides)",
            timeout_ms as f64 / 1e3
        );
        let passes = if quick() { 10 } else { 30 };
        let list1 = self.dir.join(format!("{name}-1.txt"));
        let listn = self.dir.join(format!("{name}-{passes}.txt"));
        write_list(&list1, farm, 1, false);
        write_list(&listn, farm, passes, false);
        let floor_list = self.dir.join(format!("{name}-floor.txt"));
        write_list(&floor_list, farm, passes, true);
        let to = timeout_ms.to_string();
        let conc = CONCURRENCY.to_string();
        let common = ["--concurrency", &conc, "--handshake-timeout", &to];
        let n = farm.len() as f64;

        // The floor moves by ±10% between runs on this shared machine, so it
        // is measured before and after wsfp's runs, and wsfp is compared with
        // the higher of the two (the conservative ratio).
        let fb = self.floor_run(&floor_list, timeout_ms);
        let mut runs = Vec::new();
        let mut disc = vec!["--discover"];
        disc.extend_from_slice(&common);
        runs.push((
            "--discover".to_string(),
            passes,
            self.wsfp_checked(
                &format!("{name} --discover"),
                farm,
                &listn,
                passes,
                false,
                &disc,
            ),
        ));
        runs.push((
            "full, default safe set".to_string(),
            1,
            self.wsfp_checked(&format!("{name} safe set"), farm, &list1, 1, true, &common),
        ));
        if !quick() {
            let all_to = DEFAULT_TIMEOUT_MS.to_string();
            let all = ["-a", "--concurrency", &conc, "--handshake-timeout", &all_to];
            runs.push((
                format!(
                    "full, -a (handshake timeout {} s)",
                    DEFAULT_TIMEOUT_MS / 1000
                ),
                1,
                self.wsfp_checked(&format!("{name} -a"), farm, &list1, 1, true, &all),
            ));
        }
        let fa = self.floor_run(&floor_list, timeout_ms);

        let ((tb, hb), (ta, ha)) = (fb.rates(), fa.rates());
        let floor = tb.max(ta);
        let floor_cpu = fb.cpu_s.min(fa.cpu_s) / fb.targets as f64;
        let floor_farm = fb.farm_cpu_s.min(fa.farm_cpu_s) / fb.targets as f64;
        println!(
            "floor (raw handshake loop, {passes} passes, {} targets): {tb:.0} targets/s before ({hb:.0} completed 101 handshakes/s), {ta:.0} after ({ha:.0}); compared with {floor:.0}",
            fb.targets
        );
        println!(
            "  outcomes per run: {}; CPU {:.1} us/connection (farm {:.1} us)",
            fmt_counts(&fb.outcomes),
            floor_cpu * 1e6,
            floor_farm * 1e6
        );
        for (label, copies, (r, st)) in &runs {
            let targets = n * *copies as f64;
            let cpu = (r.t.cpu_s - self.startup.0).max(0.0);
            println!(
                "wsfp {label}: {:.0} targets/s, {:.0} connections/s = {:.0}% of floor ({} connections, {:.2} s); peak RSS {:.1} MiB",
                targets / r.secs,
                r.conns as f64 / r.secs,
                100.0 * r.conns as f64 / r.secs / floor,
                r.conns,
                r.secs,
                r.t.rss_kib as f64 / 1024.0
            );
            println!(
                "  statuses: {}; CPU {:.1} us/target, {:.1} us/connection = {:.1}x the floor's per connection (farm {:.1} us/connection)",
                fmt_counts(st),
                cpu / targets * 1e6,
                cpu / r.conns.max(1) as f64 * 1e6,
                cpu / r.conns.max(1) as f64 / floor_cpu,
                r.t.farm_cpu_s / r.conns.max(1) as f64 * 1e6
            );
        }
    }

    fn rates(&self, farm: &Farm, accepts: &Arc<AtomicU64>) {
        println!();
        for rate in [1000u32, 5000] {
            // Enough targets for 12 s at this rate.
            let copies = (12 * rate as usize).div_ceil(farm.len());
            let l = self.dir.join(format!("rate{rate}.txt"));
            write_list(&l, farm, copies, false);
            let samples = Arc::new(Mutex::new(Vec::<(Instant, u64)>::new()));
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
            let (r, st) = self.wsfp_checked(
                &format!("--rate {rate}"),
                farm,
                &l,
                copies,
                false,
                &["--discover", "--rate", &rate_s, "--concurrency", "1000"],
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
            let cpu = (r.t.cpu_s - self.startup.0).max(0.0);
            println!(
                "--rate {rate}: {} connections in {:.2} s = {:.1}/s overall; worst 10 s window (server accepts) off by {:.2}% over {windows} windows; statuses {}; CPU {:.1} us/target",
                r.conns,
                r.secs,
                r.conns as f64 / r.secs,
                worst * 100.0,
                fmt_counts(&st),
                cpu / r.conns.max(1) as f64 * 1e6
            );
        }
    }

    /// A million-line list: closed ports on 127.2.0.0/16 and the farm's
    /// endpoints mixed in (1%). Records go to /dev/null; the statuses are
    /// checked from the --stats tally.
    fn million(&self, farm: &Farm) {
        let big = self.dir.join("million.txt");
        {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
            for i in 0..1_000_000u32 {
                if i % 100 == 0 {
                    let t = farm[(i / 100) as usize % farm.len()].0;
                    writeln!(f, "{t}").unwrap();
                } else {
                    writeln!(f, "127.2.{}.{}:9", (i >> 8) & 0xff, i & 0xff).unwrap();
                }
            }
        }
        let r = self.wsfp_run(
            &[
                "--discover",
                "-f",
                big.to_str().unwrap(),
                "--concurrency",
                "1000",
            ],
            None,
        );
        let want: BTreeMap<String, u64> =
            [("ok".to_string(), 10_000), ("refused".to_string(), 990_000)]
                .into_iter()
                .collect();
        if r.stats_status != want {
            flag(format!(
                "1,000,000-line list: status tally {:?}, expected {want:?}",
                r.stats_status
            ));
        }
        let cpu = (r.t.cpu_s - self.startup.0).max(0.0);
        println!(
            "1,000,000-line list, --discover --concurrency 1000: {:.1} s, {} connections, peak RSS {:.1} MiB; statuses {}; CPU {:.1} us/target",
            r.secs,
            r.conns,
            r.t.rss_kib as f64 / 1024.0,
            fmt_counts(&r.stats_status),
            cpu // seconds per million targets = microseconds per target
        );
    }
}

fn fmt_counts(m: &BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The list of `copies` passes over `farm`; with `expect`, each line also
/// names the floor outcome the endpoint must give.
fn write_list(path: &Path, farm: &Farm, copies: usize, expect: bool) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for _ in 0..copies {
        for (a, k) in farm {
            if expect {
                writeln!(f, "{a} {}", k.floor_expect()).unwrap();
            } else {
                writeln!(f, "{a}").unwrap();
            }
        }
    }
}

/// User + system CPU seconds of process `pid` so far (/proc/PID/stat).
fn proc_cpu(pid: u32, tck: f64) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = s.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15.
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (get(11) + get(12)) / tck
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The load averages, as `uptime` prints them.
fn uptime() -> String {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The floor, in its own process: WSFP_BENCH_LIST lines "ADDR EXPECTED",
/// WSFP_BENCH_WORKERS runtime workers, CONCURRENCY tasks taking the next
/// line each. Prints one JSON line: elapsed, targets, outcome counts, and
/// how many outcomes were not the expected one.
fn floor_child() {
    let list = std::fs::read_to_string(std::env::var("WSFP_BENCH_LIST").unwrap()).unwrap();
    let work: Vec<(SocketAddr, String)> = list
        .lines()
        .map(|l| {
            let (a, e) = l.split_once(' ').unwrap();
            (a.parse().unwrap(), e.to_string())
        })
        .collect();
    let timeout = Duration::from_millis(
        std::env::var("WSFP_BENCH_TIMEOUT_MS")
            .unwrap()
            .parse()
            .unwrap(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers())
        .enable_all()
        .build()
        .unwrap();
    let accept = format!(
        "\r\nsec-websocket-accept: {}\r\n",
        wsfp::wire::accept_for_key(FLOOR_KEY)
    );
    let work = Arc::new(work);
    let next = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let results = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENCY {
            let (work, next, accept) = (work.clone(), next.clone(), accept.clone());
            tasks.push(tokio::spawn(async move {
                let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
                let mut unexpected = Vec::new();
                let mut buf = vec![0u8; 1024];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some((addr, want)) = work.get(i) else {
                        break;
                    };
                    let got = floor_one(*addr, &mut buf, timeout, &accept).await;
                    *counts.entry(got).or_default() += 1;
                    if got != want {
                        unexpected.push(format!("{addr}: {got}, expected {want}"));
                    }
                }
                (counts, unexpected)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap());
        }
        all
    });
    let secs = t0.elapsed().as_secs_f64();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut unexpected = Vec::new();
    for (c, u) in results {
        for (k, v) in c {
            *counts.entry(k).or_default() += v;
        }
        unexpected.extend(u);
    }
    let n = unexpected.len();
    unexpected.truncate(3);
    println!(
        "{}",
        serde_json::json!({
            "elapsed_s": secs,
            "targets": work.len(),
            "outcomes": counts,
            "unexpected": n,
            "examples": unexpected,
        })
    );
}

/// One raw handshake: connect, send the request, read the head, close.
async fn floor_one(
    addr: SocketAddr,
    buf: &mut [u8],
    timeout: Duration,
    accept: &str,
) -> &'static str {
    let connect = Duration::from_millis(DEFAULT_TIMEOUT_MS);
    let mut s = match tokio::time::timeout(connect, tokio::net::TcpStream::connect(addr)).await {
        Err(_) => return "connect_timeout",
        Ok(Err(_)) => return "connect_failed",
        Ok(Ok(s)) => s,
    };
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {FLOOR_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let head = async {
        s.write_all(req.as_bytes()).await.map_err(|_| "io_error")?;
        let mut n = 0;
        loop {
            if let Some(end) = buf[..n].windows(4).position(|w| w == b"\r\n\r\n") {
                return Ok(end + 4);
            }
            if n == buf.len() {
                return Err("head_too_long");
            }
            match s.read(&mut buf[n..]).await {
                Ok(0) => return Err("closed"),
                Err(_) => return Err("io_error"),
                Ok(k) => n += k,
            }
        }
    };
    let end = match tokio::time::timeout(timeout, head).await {
        Err(_) => return "timeout",
        Ok(Err(e)) => return e,
        Ok(Ok(end)) => end,
    };
    let head = &buf[..end];
    if !head.starts_with(b"HTTP/1.1 101 ") {
        return "not_101";
    }
    let lower = head.to_ascii_lowercase();
    let want = accept.to_ascii_lowercase();
    if lower.windows(want.len()).any(|w| w == want.as_bytes()) {
        "ok_101"
    } else {
        "bad_accept"
    }
}

/// The farm process: one runtime worker; the identical farm on 127.1.0.x
/// (counted accepts) and the mixed farm on 127.3.0.x.
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
                writeln!(out, "identical {}", l.local_addr().unwrap()).unwrap();
                let acc = accepts.clone();
                tokio::spawn(async move {
                    loop {
                        let Ok((s, _)) = l.accept().await else {
                            continue;
                        };
                        acc.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(tungstenite_echo(s));
                    }
                });
            }
        }
        let mut demo = wsfp::demo::Farm::empty();
        for a in 0..ADDRS {
            let ip = format!("127.3.0.{}", a + 1);
            for p in 0..PORTS {
                use wsfp::demo::Kind as D;
                let kind = Kind::mixed(a * PORTS + p);
                let d = match kind {
                    Kind::Tungstenite => Some(D::Tungstenite),
                    Kind::FastWs => Some(D::FastWebSockets),
                    Kind::Soketto => Some(D::Soketto),
                    Kind::Http404 => Some(D::Http404),
                    Kind::Silent => Some(D::Silent),
                    Kind::CloseAfter101 => None,
                };
                let addr = match d {
                    Some(d) => demo.add(&ip, "bench", "bench", d).await.unwrap(),
                    None => {
                        let l = tokio::net::TcpListener::bind((ip.as_str(), 0))
                            .await
                            .unwrap();
                        let addr = l.local_addr().unwrap();
                        tokio::spawn(async move {
                            loop {
                                if let Ok((s, _)) = l.accept().await {
                                    tokio::spawn(close_after_101(s));
                                }
                            }
                        });
                        addr
                    }
                };
                writeln!(out, "mixed {} {addr}", kind.name()).unwrap();
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

async fn tungstenite_echo(s: tokio::net::TcpStream) {
    use futures_util::{SinkExt, StreamExt};
    let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
        return;
    };
    while let Some(Ok(m)) = ws.next().await {
        if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
            break;
        }
    }
}

/// A valid 101 to any request with a key, then FIN.
async fn close_after_101(mut s: tokio::net::TcpStream) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > 16 * 1024 {
            return;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let key = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        wsfp::wire::accept_for_key(&key)
    );
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.shutdown().await;
}
