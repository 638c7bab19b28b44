//! `--resume` made exact, and SIGINT/SIGTERM made graceful, as a user
//! drives them: the binary against loopback servers, killed with SIGKILL
//! (any number of times) or stopped with a signal, then resumed. Every
//! unit must have exactly one record in the end, duplicates in the input
//! included; a resume whose input changed is refused.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use wsfp::demo::{Farm, Kind};

/// Complete records in the output (a torn last line is not one).
fn complete_lines(out: &Path) -> usize {
    std::fs::read_to_string(out).map_or(0, |t| {
        t.split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .count()
    })
}

/// Start the binary with stderr captured.
fn spawn(cmd: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wsfp"))
        .args(cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Poll until the output holds at least `n` complete records or the
/// child exits; false when the child ended first.
fn wait_for_records(child: &mut Child, out: &Path, n: usize) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        if complete_lines(out) >= n {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("no {n} records in {} within 60 s", out.display());
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// Wait for the child with a bound; its exit code and stderr.
fn finish(mut child: Child, within: Duration) -> (Option<i32>, String) {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (st.code(), err);
        }
        if t0.elapsed() > within {
            child.kill().ok();
            panic!("wsfp still running {within:?} after being told to stop");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Records per input line (file scans) — every one must be 1.
fn per_line(out: &Path) -> BTreeMap<u64, u64> {
    let mut m = BTreeMap::new();
    for r in records(&std::fs::read_to_string(out).unwrap()) {
        *m.entry(r["line"].as_u64().expect("a file record has its line"))
            .or_insert(0) += 1;
    }
    m
}

fn assert_each_line_once(out: &Path, lines: u64) {
    let m = per_line(out);
    let wrong: Vec<_> = m.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        wrong.is_empty(),
        "lines with other than one record: {wrong:?}"
    );
    assert_eq!(m.len() as u64, lines, "every line has its record");
}

struct Scan {
    dir: PathBuf,
    out: PathBuf,
    state: PathBuf,
    cmd: Vec<String>,
}

/// A resumable scan of `lines` (a target file) at `rate` connections/s.
fn scan_of(name: &str, lines: &[String], rate: u32, extra: &[&str]) -> Scan {
    let dir = tmpdir(name);
    let file = dir.join("t.txt");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let input = args(&["-f", file.to_str().unwrap()]);
    resumable(dir, input, rate, extra)
}

/// A resumable scan of `input` (-f FILE or -u values), records in `dir`.
fn resumable(dir: PathBuf, input: Vec<String>, rate: u32, extra: &[&str]) -> Scan {
    let (out, state) = (dir.join("out.ndjson"), dir.join("state.json"));
    let mut cmd = args(&["scan", "-n", "--discover"]);
    cmd.extend(input);
    cmd.extend(args(&[
        "--format",
        "ndjson",
        "--out",
        out.to_str().unwrap(),
        "--resume",
        state.to_str().unwrap(),
        "--rate",
        &rate.to_string(),
        "--retries",
        "0",
    ]));
    cmd.extend(args(extra));
    Scan {
        dir,
        out,
        state,
        cmd,
    }
}

/// SIGKILL the scan once for each threshold (after that many new
/// records), then let it run to the end.
fn kill_and_resume(s: &Scan, thresholds: &[usize]) {
    for (i, n) in thresholds.iter().enumerate() {
        let before = complete_lines(&s.out);
        let mut child = spawn(&s.cmd);
        assert!(
            wait_for_records(&mut child, &s.out, before + n),
            "run {i} ended before its kill"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let (code, err) = finish(spawn(&s.cmd), Duration::from_secs(120));
    assert_eq!(code, Some(0), "{err}");
}

/// Lines to closed ports, some repeated (distinct units on distinct lines).
fn closed_lines(n: usize) -> Vec<String> {
    let closed = closed_port();
    (0..n)
        .map(|i| format!("ws://127.0.0.1:{closed}/{}", i % (n - n / 10)))
        .collect()
}

#[test]
fn two_sigkills_then_resume_give_every_line_exactly_once() {
    let s = scan_of("two-kills", &closed_lines(200), 100, &["--silent"]);
    kill_and_resume(&s, &[10, 40]);
    assert_each_line_once(&s.out, 200);
    std::fs::remove_dir_all(&s.dir).ok();
}

#[test]
fn ten_sigkills_then_resume_give_every_line_exactly_once() {
    // Some kills land before the first periodic checkpoint (all records
    // in the tail), some after one (about 100 records a second).
    let s = scan_of("ten-kills", &closed_lines(800), 100, &["--silent"]);
    kill_and_resume(&s, &[8, 115, 12, 25, 105, 5, 20, 40, 10, 15]);
    assert_each_line_once(&s.out, 800);
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&s.state).unwrap()).unwrap();
    assert_eq!(st["records"], 800);
    assert_eq!(st["watermark"], 800);
    std::fs::remove_dir_all(&s.dir).ok();
}

#[test]
fn the_same_target_sixty_times_gives_sixty_records_across_kills() {
    let closed = closed_port();
    let url = format!("ws://127.0.0.1:{closed}/same");
    let mut input = Vec::new();
    for _ in 0..60 {
        input.extend(args(&["-u", &url]));
    }
    let s = resumable(tmpdir("dup-u"), input, 20, &["--silent"]);
    kill_and_resume(&s, &[5, 15]);
    let recs = records(&std::fs::read_to_string(&s.out).unwrap());
    assert_eq!(recs.len(), 60, "one record per -u value");
    assert!(recs.iter().all(|r| r["target"] == url.as_str()));
    std::fs::remove_dir_all(&s.dir).ok();
}

/// Interrupt a scan of `lines` with SIGKILL once records are out; the
/// state then describes an unfinished scan.
fn interrupted(name: &str, lines: &[String]) -> Scan {
    let s = scan_of(name, lines, 50, &["--silent"]);
    let mut child = spawn(&s.cmd);
    assert!(wait_for_records(&mut child, &s.out, 10));
    child.kill().unwrap();
    child.wait().unwrap();
    s
}

#[test]
fn a_changed_input_or_a_watermark_past_its_end_is_refused() {
    let lines = closed_lines(100);
    let s = interrupted("changed", &lines);
    let file = s.dir.join("t.txt");
    let original = std::fs::read(&file).unwrap();
    let out_before = std::fs::read(&s.out).unwrap();
    let refused = |what: &str| {
        let (code, err) = finish(spawn(&s.cmd), Duration::from_secs(60));
        assert_eq!(code, Some(2), "{what}: {err}");
        assert!(err.contains("changed"), "{what}: {err}");
        assert_eq!(
            std::fs::read(&s.out).unwrap(),
            out_before,
            "{what}: output untouched"
        );
    };
    // One byte changed, same length.
    let mut edited = original.clone();
    let at = edited.iter().rposition(|b| b.is_ascii_digit()).unwrap();
    edited[at] = if edited[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(&file, &edited).unwrap();
    refused("same-length edit");
    // Two lines swapped.
    let mut swapped = lines.clone();
    swapped.swap(3, 60);
    std::fs::write(&file, swapped.join("\n") + "\n").unwrap();
    refused("line swap");
    // The original back: the resume is accepted (checked below), but not
    // with a state whose watermark is past the input's end.
    std::fs::write(&file, &original).unwrap();
    let text = std::fs::read_to_string(&s.state).unwrap();
    let mut st: serde_json::Value = serde_json::from_str(&text).unwrap();
    st["watermark"] = 1000.into();
    std::fs::write(&s.state, st.to_string()).unwrap();
    let (code, err) = finish(spawn(&s.cmd), Duration::from_secs(60));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("past the end"), "{err}");
    std::fs::write(&s.state, text).unwrap();
    let (code, err) = finish(spawn(&s.cmd), Duration::from_secs(60));
    assert_eq!(code, Some(0), "{err}");
    assert_each_line_once(&s.out, 100);
    std::fs::remove_dir_all(&s.dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_checkpoints_and_hints_then_resume_completes() {
    let mut farm = Farm::empty();
    let ws = farm
        .add("127.0.0.1", "ws", "ok", Kind::Tungstenite)
        .await
        .unwrap();
    let lines: Vec<String> = (0..200).map(|i| format!("ws://{ws}/{}", i % 150)).collect();
    let s = scan_of("sigterm", &lines, 50, &[]);
    let cmd = s.cmd.clone();
    let out = s.out.clone();
    let (code, err) = tokio::task::spawn_blocking(move || {
        let mut child = spawn(&cmd);
        assert!(wait_for_records(&mut child, &out, 20));
        signal(&child, "-TERM");
        finish(child, Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert_eq!(code, Some(143), "{err}");
    // Flushed and checkpointed: whole lines only, all covered by the state.
    let text = std::fs::read_to_string(&s.out).unwrap();
    assert!(text.ends_with('\n'));
    let n = records(&text).len();
    assert!((20..200).contains(&n), "{n} records");
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&s.state).unwrap()).unwrap();
    assert_eq!(
        st["out_len"],
        text.len() as u64,
        "the checkpoint covers the output"
    );
    assert_eq!(st["records"], n as u64);
    assert_eq!(st["finished"], false);
    // The summary and the exact command to continue.
    assert!(err.contains("SIGTERM"), "{err}");
    assert!(err.contains(&format!("{n} records")), "{err}");
    let state = s.state.to_str().unwrap();
    assert!(
        err.lines()
            .any(|l| l.contains(env!("CARGO_BIN_EXE_wsfp"))
                && l.contains(&format!("--resume {state}"))),
        "{err}"
    );
    let (code, _, err) = wsfp(s.cmd.clone()).await;
    assert_eq!(code, 0, "{err}");
    assert_each_line_once(&s.out, 200);
    std::fs::remove_dir_all(&s.dir).ok();
}

/// A listener that accepts, counts, and holds every connection open
/// without a word (a target that hangs until its deadline).
async fn holding_listener() -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let a2 = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = l.accept().await {
            a2.fetch_add(1, Ordering::SeqCst);
            held.push(sock);
        }
    });
    (addr, accepted)
}

/// Poll until `n` connections were accepted (the targets are in flight).
fn wait_accepted(child: &mut Child, accepted: &AtomicU64, n: u64) {
    let t0 = Instant::now();
    while accepted.load(Ordering::SeqCst) < n {
        assert!(child.try_wait().unwrap().is_none(), "wsfp ended early");
        assert!(t0.elapsed() < Duration::from_secs(60), "no {n} connections");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_cuts_hung_targets_at_the_grace_and_a_second_one_exits_at_once() {
    let (addr, accepted) = holding_listener().await;
    // Targets that would hold their connection for a minute.
    let lines: Vec<String> = (0..4).map(|i| format!("ws://{addr}/{i}")).collect();
    let slow = ["--handshake-timeout", "60000", "--target-timeout", "60000"];
    let s = scan_of("sigint", &lines, 1000, &slow);
    let (cmd, acc) = (s.cmd.clone(), accepted.clone());
    let (code, err, took) = tokio::task::spawn_blocking(move || {
        let mut child = spawn(&cmd);
        wait_accepted(&mut child, &acc, 4);
        signal(&child, "-INT");
        let t1 = Instant::now();
        let (code, err) = finish(child, Duration::from_secs(30));
        (code, err, t1.elapsed())
    })
    .await
    .unwrap();
    assert_eq!(code, Some(130), "{err}");
    assert!(
        took < Duration::from_secs(30),
        "cut at the grace, not at the deadline"
    );
    assert!(err.contains("SIGINT") && err.contains("--resume"), "{err}");
    // Cut targets have no record: a resume scans them again.
    assert_eq!(complete_lines(&s.out), 0);
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&s.state).unwrap()).unwrap();
    assert_eq!(st["watermark"], 0);
    assert_eq!(st["records"], 0);

    // A second signal does not wait for the grace.
    let (cmd, acc) = (s.cmd.clone(), accepted.clone());
    let (code, took) = tokio::task::spawn_blocking(move || {
        let mut child = spawn(&cmd);
        wait_accepted(&mut child, &acc, 8);
        signal(&child, "-INT");
        std::thread::sleep(Duration::from_millis(100));
        signal(&child, "-INT");
        let t1 = Instant::now();
        let (code, _) = finish(child, Duration::from_secs(30));
        (code, t1.elapsed())
    })
    .await
    .unwrap();
    assert_eq!(code, Some(130));
    assert!(took < Duration::from_secs(1), "{took:?}: at once");
    std::fs::remove_dir_all(&s.dir).ok();
}
