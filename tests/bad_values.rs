//! Bad values from every side: a server's close reason, the command
//! line, record files and a reader that goes away. None may panic; a bad
//! option is exit 2 naming the option and its range; a bad input line is
//! reported as file:line and the rest is still read.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wsfp::cli::DbOpts;
use wsfp::output::Status;
use wsfp::target::Target;
use wsfp::wire::accept_for_key;

const BEFORE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/analytics/lab-before.ndjson"
);

/// Run the binary with `stdin` closed; kill it after 20 s (a value that
/// should have been refused may start a long scan). Returns (exit code,
/// stdout, stderr).
fn wsfp(args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsfp"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wsfp");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let ereader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break -9;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        code,
        String::from_utf8_lossy(&reader.join().unwrap()).into_owned(),
        String::from_utf8_lossy(&ereader.join().unwrap()).into_owned(),
    )
}

fn tmpdir(name: &str) -> PathBuf {
    common::tmpdir(&format!("bad-values-{name}"))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// A 101 for the request head `head` (its Accept right).
fn upgrade_response(head: &[u8]) -> Vec<u8> {
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
    .into_bytes()
}

/// Answers every request head with a 101 and at once a close frame with
/// code 1000 and `reason`, then reads until the client goes away.
async fn closing_server(reason: Vec<u8>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                continue;
            };
            let reason = reason.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 8192];
                let mut answered = false;
                loop {
                    match s.read(&mut buf).await {
                        Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                    let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    if answered {
                        continue;
                    }
                    answered = true;
                    let mut out = upgrade_response(&got[..end]);
                    out.extend_from_slice(&[0x88, (2 + reason.len()) as u8, 0x03, 0xe8]);
                    out.extend_from_slice(&reason);
                    if s.write_all(&out).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A close reason of 123 bytes 0xC3 (each an invalid sequence, lossily a
/// 3-byte U+FFFD) once panicked the probe task that read it, in the middle
/// of a character, and the record said `ok` with those probes missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_reason_of_invalid_utf8_keeps_every_probe() {
    let scanner = common::opts(&[
        "-a",
        "--exhaustive",
        "--frame-timeout",
        "150",
        "--handshake-timeout",
        "1000",
    ])
    .scanner(&DbOpts { db: Vec::new() })
    .unwrap();
    let want: BTreeSet<String> = scanner.selected.iter().cloned().collect();
    for (name, reason) in [
        ("ascii", b"bye".repeat(41)),
        ("0xC3 x 123", vec![0xc3u8; 123]),
    ] {
        let addr = closing_server(reason.clone()).await;
        let rec = scanner
            .scan(&Target::parse(&format!("ws://{addr}/"), true).unwrap())
            .await;
        assert_eq!(rec.status, Status::Ok, "{name}: {:?}", rec.error);
        assert!(
            !rec.error.as_deref().unwrap_or("").contains("panic"),
            "{name}: {:?}",
            rec.error
        );
        let got: BTreeSet<String> = rec.observations.keys().cloned().collect();
        let missing: Vec<&String> = want.difference(&got).collect();
        assert!(missing.is_empty(), "{name}: probes missing: {missing:?}");
        let reasons: Vec<&String> = rec
            .observations
            .values()
            .flat_map(|o| &o.frames)
            .filter(|f| f.close_code == Some(1000))
            .filter_map(|f| f.close_reason.as_ref())
            .collect();
        assert!(
            reasons.len() > 10,
            "{name}: {} close reasons",
            reasons.len()
        );
        let shown = String::from_utf8_lossy(&reason).into_owned();
        for r in reasons {
            assert!(r.len() <= 256, "{name}: reason of {} bytes", r.len());
            assert!(
                !r.is_empty() && shown.starts_with(r.as_str()),
                "{name}: {r:?}"
            );
        }
    }
}

/// Every numeric option of every subcommand, at values outside its range:
/// exit 2, before anything runs, with a message naming the option and
/// what it takes. 0 is refused where it means nothing (a zero timeout, no
/// connections); where it has a meaning (no gap, no retries, one thread per
/// core, no preview) it is left out of the bad values.
#[test]
fn every_numeric_option_refuses_values_outside_its_range() {
    const U64_MAX: &str = "18446744073709551615";
    let scan = ["scan", "-u", "ws://127.0.0.1:1/"];
    let generate = [
        "generate",
        "-u",
        "ws://127.0.0.1:1/",
        "--id",
        "x",
        "--name",
        "x",
    ];
    let pcap = ["pcap", "/dev/null"];
    let evaluate = ["evaluate", BEFORE, "--labels", BEFORE];
    let probe_opts: [(&str, bool, &[&str]); 7] = [
        ("--per-host", false, &["100001"]),
        ("--host-gap", true, &["3600001"]),
        ("--connect-timeout", false, &["3600001"]),
        ("--handshake-timeout", false, &["3600001"]),
        ("--frame-timeout", false, &["3600001"]),
        ("--intensity", true, &["10"]),
        ("--series", false, &["65536"]),
    ];
    // (command, option, 0 allowed, more bad values)
    let mut rows: Vec<(Vec<&str>, &str, bool, Vec<&str>)> = Vec::new();
    for cmd in [&scan[..], &generate[..], &["demo"], &["probes"]] {
        for (opt, zero_ok, more) in probe_opts {
            rows.push((cmd.to_vec(), opt, zero_ok, more.to_vec()));
        }
    }
    for (opt, zero_ok, more) in [
        ("--dns-timeout", false, vec!["3600001"]),
        ("--concurrency", false, vec!["100001"]),
        ("--rate", false, vec!["10000001"]),
        ("--retries", true, vec!["11"]),
        ("--target-timeout", false, vec!["3600001"]),
        ("--window", false, vec!["1000001"]),
        (
            "--stats-interval",
            false,
            vec!["1e300", "1e-300", "0.000001", "inf", "-inf", "86401"],
        ),
    ] {
        rows.push((scan.to_vec(), opt, zero_ok, more));
    }
    rows.push((generate.to_vec(), "--runs", false, vec!["101"]));
    rows.push((vec!["match", BEFORE], "--threads", true, vec!["1025"]));
    for (opt, more) in [
        ("--intensity", vec!["10"]),
        ("--min-accuracy", vec!["1.5", "inf", "1e300"]),
        ("--max-confident-wrong", vec!["1.5", "inf", "1e-300x"]),
        ("--min-library", vec!["1.5", "inf", "1e-300x"]),
    ] {
        rows.push((evaluate.to_vec(), opt, true, more));
    }
    for (opt, zero_ok, more) in [
        ("--payload-bytes", true, vec!["16777217"]),
        ("--max-inflate", false, vec!["1073741825"]),
        ("--max-ratio", false, vec!["1000001"]),
        (
            "--flow-timeout",
            false,
            vec!["1e300", "1e-300", "inf", "-inf", "86401"],
        ),
        ("--max-flows", false, vec!["10000001"]),
        ("--reassembly-buffer", true, vec!["67108865"]),
    ] {
        rows.push((pcap.to_vec(), opt, zero_ok, more));
    }
    let mut failures = Vec::new();
    let mut run = |cmd: &[&str], opt: &str, value: &str| {
        let mut args = cmd.to_vec();
        args.extend([opt, value]);
        let (code, _, err) = wsfp(&args);
        if code != 2 || !err.contains(opt) || !err.contains("expected") || err.contains("panicked")
        {
            failures.push(format!(
                "{} {opt} {value}: exit {code}, {:?}",
                cmd[0],
                err.lines().next().unwrap_or("")
            ));
        }
    };
    for (cmd, opt, zero_ok, more) in &rows {
        let mut bad = vec!["-1", U64_MAX, "NaN", "1.5x"];
        if !zero_ok {
            bad.push("0");
        }
        bad.extend(more.iter().copied());
        for v in bad {
            run(cmd, opt, v);
        }
    }
    // Any seed is a seed; what is not a u64 is not.
    for v in ["-1", "18446744073709551616", "NaN"] {
        run(&scan, "--seed", v);
    }
    assert!(
        failures.is_empty(),
        "{} bad values accepted or badly refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The ends of each range are values like any other.
    let (code, _, err) = wsfp(&["probes", "--per-host", "100000", "--connect-timeout", "1"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = wsfp(&["probes", "--host-gap", "0", "--intensity", "9"]);
    assert_eq!(code, 0, "{err}");
}

/// `--shard` counts beyond any real survey overflowed the shard arithmetic.
#[test]
fn shard_counts_are_bounded() {
    for v in ["0/18446744073709551615", "0/1000001", "-1/2", "1/1"] {
        let arg = format!("--shard={v}");
        let (code, _, err) = wsfp(&["scan", "-u", "ws://127.0.0.1:1/", &arg]);
        assert_eq!(code, 2, "--shard {v}: {err}");
        assert!(
            err.contains("--shard") && !err.contains("panicked"),
            "{err}"
        );
    }
}

/// Control characters in what becomes a header (`-o`, `-H`, `--cookie`,
/// `--user-agent`), a file name or a path are refused: `-o` with CR LF
/// injected a header line.
#[test]
fn control_characters_in_headers_names_and_paths_are_refused() {
    let dir = tmpdir("ctl");
    let inject = "http://a.example\r\nX-Injected: 1";
    let bad_path = dir.join("out\nx").display().to_string();
    let scan = ["scan", "-u", "ws://127.0.0.1:1/"];
    let generate = [
        "generate",
        "-u",
        "ws://127.0.0.1:1/",
        "--id",
        "x",
        "--name",
        "x",
    ];
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (scan.to_vec(), "--origin", inject),
        (scan.to_vec(), "--header", "X-A: 1\r\nX-Injected: 1"),
        (scan.to_vec(), "--cookie", inject),
        (scan.to_vec(), "--user-agent", inject),
        (generate.to_vec(), "--header", "X-A: 1\nX-Injected: 1"),
        (scan.to_vec(), "--out", &bad_path),
        (scan.to_vec(), "--stats", &bad_path),
        (scan.to_vec(), "--manifest", &bad_path),
        (scan.to_vec(), "--resume", &bad_path),
        (vec!["report", BEFORE], "--out", &bad_path),
        (vec!["pcap", "/dev/null"], "--out-dir", &bad_path),
        (generate.to_vec(), "--out-dir", &bad_path),
        (generate.to_vec(), "--name", "a\u{1b}[2Jb"),
        (generate.to_vec(), "--id", "a\tb"),
        (generate.to_vec(), "--id", "../../escape"),
    ];
    for (cmd, opt, value) in cases {
        let mut args = cmd.clone();
        args.extend([opt, value]);
        let (code, _, err) = wsfp(&args);
        assert_eq!(code, 2, "{} {opt} {value:?}: {err}", cmd[0]);
        assert!(
            err.contains(opt) && !err.contains("panicked"),
            "{} {opt}: {err}",
            cmd[0]
        );
    }
    assert!(
        !dir.join("out\nx").exists(),
        "nothing was written under the refused name"
    );
}

/// A NUL or another control character inside a target line: that line is
/// an invalid target (echoed whole, reported with its line number) and the
/// scan goes on with the next line.
#[test]
fn control_characters_in_target_lines_are_bad_lines() {
    let dir = tmpdir("targets");
    let port = common::closed_port();
    let f = write(
        &dir,
        "t.txt",
        format!("127.0.0.1:1/a\0b\n127.0.0.1:1/c\x01d\n127.0.0.1:{port}/\n").as_bytes(),
    );
    let (code, out, err) = wsfp(&["scan", "-n", "-f", &f, "--format", "ndjson", "--silent"]);
    assert_eq!(code, 0, "{err}");
    let recs = common::records(&out);
    assert_eq!(recs.len(), 3, "{out}");
    let by_line = |n: u64| {
        recs.iter()
            .find(|r| r["line"] == n)
            .unwrap_or_else(|| panic!("no record for line {n}: {out}"))
    };
    assert_eq!(by_line(1)["target"], "127.0.0.1:1/a\u{0}b");
    assert_eq!(by_line(1)["status"], "invalid_target");
    assert!(
        by_line(1)["error"]
            .as_str()
            .unwrap()
            .starts_with("contains"),
        "{}",
        by_line(1)["error"]
    );
    assert_eq!(by_line(2)["target"], "127.0.0.1:1/c\u{1}d");
    assert_eq!(by_line(2)["status"], "invalid_target");
    assert_eq!(by_line(3)["status"], "refused");
    let (_, _, err) = wsfp(&["scan", "-n", "-f", &f, "--format", "ndjson"]);
    assert!(err.contains(&format!("{f}:1: invalid target")), "{err}");
    // The text format shows the line with its control characters escaped.
    let (_, text, _) = wsfp(&["scan", "-n", "-f", &f, "--silent", "--window", "1"]);
    assert!(!text.contains('\0') && !text.contains('\u{1}'), "{text:?}");
    assert!(text.contains("127.0.0.1:1/a\\0b"), "{text}");
}

/// One line of invalid UTF-8 (and one line beyond the reader's cap) in the
/// middle of a record file: `match`, `report` and `diff` report them as
/// file:line, process every other line, and exit 2. `diff` used to stop
/// there and list every endpoint after it as gone.
#[test]
fn invalid_utf8_and_overlong_lines_are_skipped_not_the_end_of_input() {
    let text = std::fs::read_to_string(BEFORE).unwrap();
    let good: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(good.len(), 16);
    let mut body = Vec::new();
    for (i, l) in good.iter().enumerate() {
        if i == 4 {
            // Line 5: a record whose target has an invalid byte.
            body.extend_from_slice(&l.as_bytes()[..40]);
            body.push(0xff);
            body.extend_from_slice(&l.as_bytes()[40..]);
        } else if i == 9 {
            // Line 10: 17 MiB, no record.
            body.extend(std::iter::repeat_n(b'x', 17 << 20));
        } else {
            body.extend_from_slice(l.as_bytes());
        }
        body.push(b'\n');
    }
    let dir = tmpdir("utf8");
    let f = write(&dir, "mixed.ndjson", &body);

    let (code, out, err) = wsfp(&["match", &f]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(common::records(&out).len(), 14, "{err}");
    assert!(err.contains(&format!("{f}:5: not valid UTF-8")), "{err}");
    assert!(err.contains(&format!("{f}:10: line longer than")), "{err}");
    let (code, out, err) = wsfp(&["match", &f, "--format", "csv"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(out.lines().count(), 15, "header and 14 records: {err}");

    let (code, out, err) = wsfp(&["report", &f, "--format", "json"]);
    assert_eq!(code, 2, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["records"], 14);
    assert_eq!(report["bad_lines"], 2);
    assert!(err.contains(&format!("{f}:5: not valid UTF-8")), "{err}");

    // Against itself less the two bad lines: their two endpoints are all
    // that is gone (or changed), and the file is read to its end.
    let (code, out, err) = wsfp(&["diff", BEFORE, &f]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{f}:5: not valid UTF-8")), "{err}");
    assert!(err.contains(&format!("{f}:10: line longer than")), "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(err.contains("14 unchanged"), "{err}");
    let (code, _, err) = wsfp(&["diff", &f, BEFORE]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("14 unchanged"), "{err}");
}

/// A reader that goes away (`wsfp ... | head`) ends the command quietly
/// with exit 141 (128 + SIGPIPE, what a shell shows for a writer killed
/// by the signal) instead of a panic from `println!`.
#[test]
fn a_closed_stdout_is_a_quiet_exit() {
    let dir = tmpdir("pipe");
    // Labels for every lab target, so `evaluate` prints a row per record;
    // the file is given many times to print well over a pipe's buffer.
    let text = std::fs::read_to_string(BEFORE).unwrap();
    let labels: String = common::records(&text)
        .iter()
        .map(|r| {
            format!(
                "{}\t{}\n",
                r["target"].as_str().unwrap(),
                r["implementation"].as_str().unwrap()
            )
        })
        .collect();
    let labels = write(&dir, "labels.tsv", labels.as_bytes());
    let many: Vec<&str> = std::iter::repeat_n(BEFORE, 200).collect();
    let mut evaluate = vec!["evaluate", "--labels", &labels, "--no-loo"];
    evaluate.extend(&many);
    let mut report = vec!["report"];
    report.extend(&many);
    let mut matching = vec!["match"];
    matching.extend(&many);
    let mut csv = vec!["match", "--format", "csv"];
    csv.extend(&many);
    let commands: Vec<Vec<&str>> = vec![
        evaluate,
        report,
        matching,
        csv,
        vec!["diff", BEFORE, "/dev/null"],
        vec!["probes", "--long"],
    ];
    for args in commands {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wsfp"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run wsfp");
        // The read end goes away before (or while) the command writes.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{}: {err}",
            args[0]
        );
        assert_eq!(out.status.code(), Some(141), "{}: {err}", args[0]);
    }
    // A reader that takes a little and then goes away.
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsfp"))
        .args(["match", "--format", "text"].iter().chain(&many))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}

/// `--concurrency` beyond the soft open-file limit raises it toward the
/// hard one; beyond the hard limit the scan is refused up front (every
/// connect past it would fail with EMFILE, recorded as targets' errors).
#[cfg(unix)]
#[test]
fn concurrency_respects_the_open_file_limit() {
    let bin = env!("CARGO_BIN_EXE_wsfp");
    let port = common::closed_port();
    let run = |limits: &str| {
        let script = format!(
            "{limits} || exit 99; exec \"$0\" scan -n -u 127.0.0.1:{port} --concurrency 1000 --retries 0 --silent --format ndjson"
        );
        let out = Command::new("sh")
            .args(["-c", &script, bin])
            .output()
            .expect("run sh");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // 1000 connections, up to 256 DNS sockets and 64 more files: 1320.
    let (code, out, err) = run("ulimit -Sn 200");
    if code == 99 {
        eprintln!("skipped: the soft limit cannot be lowered here: {err}");
        return;
    }
    if !err.contains("hard limit") {
        assert_eq!(code, 0, "raised from 200: {err}");
        assert_eq!(common::records(&out)[0]["status"], "refused", "{out}");
    }
    let (code, out, err) = run("ulimit -Sn 200 && ulimit -Hn 300");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "--concurrency 1000 needs about 1320 open files, but the open-file limit is 300 (the hard limit)"
        ) && out.is_empty(),
        "{err}"
    );
}
