//! What the shared captures are documented to contain
//! (`../shared/pcaps/SOURCES.md`), asserted on our logs; plus synthetic
//! captures for what the real ones lack: reordering, gaps, a decompression
//! bomb, a truncated file. The real-capture tests skip with a message on
//! the terminal when `$CARGO_MANIFEST_DIR/../shared/pcaps` is absent, and
//! fail under `CI=true`.

mod common;

use std::path::{Path, PathBuf};

use flate2::{Compress, Compression, FlushCompress};
use serde_json::Value;
use wsfp::passive::logs::Record;
use wsfp::passive::session::Config;
use wsfp::passive::synth::{Conn, PcapWriter, client_frame, ipv6_capture, server_frame, snap};
use wsfp::passive::{Limits, analyze};
use wsfp::wire::encode::{FrameSpec, encode_frame};

fn capture(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/pcaps")
        .join(name);
    if p.exists() {
        Some(p)
    } else {
        common::missing(name, &format!("{} not found", p.display()));
        None
    }
}

/// Every record as JSON, from a file.
fn run_file(p: &Path, cfg: Config) -> Vec<Value> {
    let mut recs: Vec<Record> = Vec::new();
    let (_, res) = analyze(
        "x",
        std::fs::File::open(p).unwrap(),
        cfg,
        Limits::default(),
        None,
        &mut recs,
    );
    res.unwrap();
    to_json(&recs)
}

fn run_bytes(
    b: &[u8],
    cfg: Config,
) -> (Vec<Value>, Result<(), wsfp::passive::capture::CaptureError>) {
    let mut recs: Vec<Record> = Vec::new();
    let (_, res) = analyze("mem", b, cfg, Limits::default(), None, &mut recs);
    (to_json(&recs), res)
}

fn to_json(recs: &[Record]) -> Vec<Value> {
    recs.iter()
        .map(|r| {
            let mut buf = Vec::new();
            r.to_json(&mut buf).unwrap();
            serde_json::from_slice(&buf).unwrap()
        })
        .collect()
}

fn of<'a>(v: &'a [Value], log: &str) -> Vec<&'a Value> {
    v.iter().filter(|r| r["log"] == log).collect()
}

fn conn_anomalies(v: &[Value]) -> Value {
    of(v, "websocket_connection")[0]["anomalies"].clone()
}

#[test]
fn compressed_capture_inflates_to_the_toggle() {
    let Some(p) = capture("sv-websocket-compressed-example_websocket.pcap") else {
        return;
    };
    let v = run_file(&p, Config::default());
    let msgs = of(&v, "websocket_message");
    assert_eq!(msgs.len(), 10);
    assert!(msgs.iter().all(|m| m["compressed"] == true));
    let texts: Vec<&str> = msgs
        .iter()
        .map(|m| m["payload"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"TOGGLE=5659131662f54334"), "{texts:?}");
    assert!(texts.iter().any(|t| t.starts_with("KEY=")));
    let hs = of(&v, "websocket_handshake")[0];
    assert_eq!(hs["permessage_deflate"]["client_max_window_bits"], 15);
    assert_eq!(conn_anomalies(&v), serde_json::json!({}));
}

#[test]
fn evasion_message_reassembles_across_the_injected_ping() {
    let Some(p) = capture("sv-websocket-control-frag-input.pcap") else {
        return;
    };
    let v = run_file(&p, Config::default());
    let msgs = of(&v, "websocket_message");
    let text: Vec<&&Value> = msgs.iter().filter(|m| m["opcode"] == 1).collect();
    assert_eq!(text.len(), 1);
    assert_eq!(
        text[0]["payload"],
        "MALWARE_DOWNLOAD cmd.exe /c powershell -enc AAAA"
    );
    assert_eq!(text[0]["frames"], 2);
    // The ping is its own message, logged before the text completes.
    let ping = msgs.iter().position(|m| m["opcode"] == 9).unwrap();
    let txt = msgs.iter().position(|m| m["opcode"] == 1).unwrap();
    assert!(ping < txt);
}

#[test]
fn coalesced_and_separate_ping_give_the_same_logs() {
    let (Some(a), Some(b)) = (
        capture("zeek-reply-ping-coalesced.pcap"),
        capture("zeek-reply-ping-separate.pcap"),
    ) else {
        return;
    };
    let cfg = Config {
        frames: true,
        ..Config::default()
    };
    // The two files are two real connections of the same exchange, so
    // besides timing (ts, duration) what must differ is what identifies
    // the connection: the client port, hence the uid (derived from the
    // 4-tuple), and the random Sec-WebSocket-Key with its Accept. All
    // else, the frame and message records in particular, must be equal.
    let strip = |mut v: Vec<Value>| {
        for r in &mut v {
            let o = r.as_object_mut().unwrap();
            for k in ["ts", "duration", "id.orig_p", "uid", "key", "server_accept"] {
                o.remove(k);
            }
        }
        v
    };
    let va = strip(run_file(&a, cfg.clone()));
    let vb = strip(run_file(&b, cfg));
    assert_eq!(va.len(), 14);
    assert_eq!(va, vb);
}

#[test]
fn wrong_accept_is_flagged() {
    let Some(p) = capture("zeek-wrong-accept-header.pcap") else {
        return;
    };
    let v = run_file(&p, Config::default());
    let hs = of(&v, "websocket_handshake")[0];
    assert_eq!(hs["accept"], "mismatch");
    assert!(hs["server_accept"].as_str().unwrap().ends_with("-wrong"));
    assert_eq!(conn_anomalies(&v)["accept_mismatch"], 1);
}

#[test]
fn unmasked_client_frames_are_flagged() {
    for (name, n) in [
        ("zeek-wstunnel-http.pcap", 2),
        ("sv-websocket-ping-input.pcap", 1),
    ] {
        let Some(p) = capture(name) else { return };
        let v = run_file(&p, Config::default());
        assert_eq!(conn_anomalies(&v)["unmasked_client_frame"], n, "{name}");
        let flagged = of(&v, "websocket_message")
            .into_iter()
            .filter(|m| m["direction"] == "c2s")
            .all(|m| {
                m["anomalies"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a == "unmasked_client_frame")
            });
        assert!(flagged, "{name}");
    }
    // A masked client (broker) is not flagged.
    let Some(p) = capture("zeek-broker-websocket.pcap") else {
        return;
    };
    assert!(
        conn_anomalies(&run_file(&p, Config::default()))
            .get("unmasked_client_frame")
            .is_none()
    );
}

#[test]
fn close_codes_and_oversized_close() {
    let Some(p) = capture("zeek-message-too-big-status.pcap") else {
        return;
    };
    let v = run_file(&p, Config::default());
    let closes: Vec<(u64, String)> = of(&v, "websocket_message")
        .iter()
        .filter(|m| m["opcode"] == 8)
        .map(|m| {
            (
                m["close_code"].as_u64().unwrap(),
                m["close_reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        closes[0],
        (1009, "over size limit (4 > 2 bytes)".to_string())
    );
    let Some(p) = capture("zeek-oversized-close-frame.pcapng") else {
        return;
    };
    let v = run_file(&p, Config::default());
    assert_eq!(conn_anomalies(&v)["control_too_long"], 1);
}

// ---------------------------------------------------------------- synthetic

fn conn() -> Conn {
    Conn::new(
        ([10, 0, 0, 1], 40000),
        ([10, 0, 0, 2], 8765),
        1_700_000_000.0,
    )
}

#[test]
fn reordered_and_retransmitted_segments_give_the_in_order_logs() {
    let frames: Vec<Vec<u8>> = (0..6)
        .map(|i| client_frame(1, format!("message number {i}").as_bytes()))
        .collect();
    let build = |shuffle: bool| {
        let mut w = PcapWriter::new();
        let mut c = conn();
        c.open(&mut w);
        c.upgrade(&mut w, "", "");
        // Segments split mid-frame; with `shuffle`, sent 1,0,2,2(dup),4,3,5.
        let all: Vec<u8> = frames.concat();
        let pieces: Vec<&[u8]> = all.chunks(9).collect();
        let start = c.cseq;
        let mut offs = vec![0u32];
        for p in &pieces {
            offs.push(offs.last().unwrap() + p.len() as u32);
        }
        let order: Vec<usize> = if shuffle {
            let mut o: Vec<usize> = (0..pieces.len()).collect();
            for i in (0..o.len() - 1).step_by(2) {
                o.swap(i, i + 1);
            }
            o.insert(3, o[2]);
            o
        } else {
            (0..pieces.len()).collect()
        };
        for i in order {
            c.cseq = start + offs[i];
            let t = c.ts + 0.0001;
            c.ts = t;
            w.tcp(t, c.client, c.server, c.cseq, c.sseq, 0x18, pieces[i]);
        }
        c.cseq = start + offs[pieces.len()];
        c.close(&mut w);
        w.out
    };
    let msgs = |b: &[u8]| -> Vec<Value> {
        let (v, res) = run_bytes(b, Config::default());
        res.unwrap();
        of(&v, "websocket_message")
            .into_iter()
            .map(|m| m["payload"].clone())
            .collect()
    };
    let straight = msgs(&build(false));
    assert_eq!(straight.len(), 6);
    assert_eq!(straight[5], "message number 5");
    assert_eq!(msgs(&build(true)), straight);
}

#[test]
fn a_gap_inside_a_frame_is_flagged_and_the_stream_continues() {
    let mut w = PcapWriter::new();
    let mut c = conn();
    c.open(&mut w);
    c.upgrade(&mut w, "", "");
    let big = server_frame(2, &vec![7u8; 3000]);
    c.s2c(&mut w, &big[..1000]);
    c.sseq += 1000; // lost in the capture
    c.s2c(&mut w, &big[2000..]);
    c.s2c(&mut w, &server_frame(1, b"after the gap"));
    c.c2s(&mut w, &client_frame(1, b"ack")); // acknowledges past the hole
    c.close(&mut w);
    let (v, res) = run_bytes(&w.out, Config::default());
    res.unwrap();
    let msgs = of(&v, "websocket_message");
    let s2c: Vec<&&Value> = msgs.iter().filter(|m| m["direction"] == "s2c").collect();
    assert_eq!(s2c.len(), 2, "{s2c:?}");
    assert_eq!(s2c[0]["truncated"], true);
    assert_eq!(s2c[1]["payload"], "after the gap");
    let conn = &of(&v, "websocket_connection")[0];
    assert_eq!(conn["s2c"]["gap_bytes"], 1000);
    assert_eq!(conn["anomalies"]["tcp_gap"], 1);
}

/// Raw deflate of `data`, sync-flushed, without the 00 00 ff ff tail.
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(data.len() / 500 + 1024);
    let mut input = data;
    loop {
        let before = c.total_in();
        c.compress_vec(input, &mut out, FlushCompress::Sync)
            .unwrap();
        input = &input[(c.total_in() - before) as usize..];
        if input.is_empty() && out.capacity() > out.len() {
            break;
        }
        out.reserve(out.capacity());
    }
    out.truncate(out.len() - 4);
    out
}

#[test]
fn decompression_bomb_stays_under_the_cap_and_is_flagged() {
    // 256 MiB of zeros in ~250 KB; a second, honest message follows.
    let bomb = deflate(&vec![0u8; 256 << 20]);
    assert!(bomb.len() < 400 << 10, "{}", bomb.len());
    let mut w = PcapWriter::new();
    let mut c = conn();
    c.open(&mut w);
    c.upgrade(
        &mut w,
        "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
    );
    let mut spec = FrameSpec::new(2);
    spec.rsv = 4;
    let frame = encode_frame(&spec, &bomb);
    for chunk in frame.chunks(60_000) {
        c.s2c(&mut w, chunk);
    }
    let mut spec = FrameSpec::new(1);
    spec.rsv = 4;
    c.s2c(&mut w, &encode_frame(&spec, &deflate(b"still fine")));
    c.close(&mut w);
    let cfg = Config::default();
    let cap = cfg.inflate.max_output;
    let (v, res) = run_bytes(&w.out, cfg);
    res.unwrap();
    let msgs = of(&v, "websocket_message");
    assert_eq!(msgs.len(), 2);
    let inflated = msgs[0]["inflated_length"].as_u64().unwrap();
    assert!(inflated <= cap, "{inflated}");
    assert_eq!(msgs[0]["truncated"], true);
    assert!(
        msgs[0]["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "inflate_capped")
    );
    // No context takeover: the next message inflates normally.
    assert_eq!(msgs[1]["payload"], "still fine");
    assert_eq!(conn_anomalies(&v)["inflate_capped"], 1);
}

#[test]
fn out_dir_writes_each_log_to_its_own_file() {
    let mut w = PcapWriter::new();
    let mut c = conn();
    c.open(&mut w);
    c.upgrade(&mut w, "", "");
    for i in 0..300 {
        // Enough lines to pass the per-file write buffer (64 KiB).
        c.s2c(
            &mut w,
            &server_frame(1, format!("message {i} {}", "x".repeat(300)).as_bytes()),
        );
    }
    c.s2c(&mut w, &server_frame(8, &[0x03, 0xe8]));
    let dir = std::env::temp_dir().join(format!("wsfp-outdir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("in.pcap");
    std::fs::write(&f, &w.out).unwrap();
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wsfp"))
            .args(["pcap", "--no-fingerprint", "--frames"])
            .args(extra)
            .arg(&f)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let stdout = run(&[]);
    let logs = dir.join("logs");
    assert_eq!(run(&["--out-dir", logs.to_str().unwrap()]), "");
    for log in [
        "websocket_handshake",
        "websocket_message",
        "websocket_frame",
        "websocket_connection",
    ] {
        // The lines of one log, in the order stdout has them.
        let want: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains(&format!("\"log\":\"{log}\"")))
            .collect();
        let got = std::fs::read_to_string(logs.join(format!("{log}.ndjson"))).unwrap();
        assert_eq!(got.lines().collect::<Vec<_>>(), want, "{log}");
        assert!(!want.is_empty(), "{log}");
    }
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains("websocket_message"))
            .count(),
        301
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn truncated_capture_reports_where_and_keeps_the_logs_before() {
    let mut w = PcapWriter::new();
    let mut c = conn();
    c.open(&mut w);
    c.upgrade(&mut w, "", "");
    c.s2c(&mut w, &server_frame(1, b"before the damage"));
    let good = w.out.len();
    c.s2c(&mut w, &server_frame(1, b"this record is cut"));
    let cut = &w.out[..good + 30];
    let (v, res) = run_bytes(cut, Config::default());
    let e = res.unwrap_err();
    assert_eq!(e.offset, good as u64);
    assert_eq!(e.packet, 6);
    assert!(e.to_string().contains("truncated"), "{e}");
    let msgs = of(&v, "websocket_message");
    assert_eq!(msgs[0]["payload"], "before the damage");
    assert_eq!(of(&v, "websocket_connection").len(), 1);

    // The CLI: logs on stdout, the error on stderr, exit 2.
    let dir = std::env::temp_dir().join(format!("wsfp-trunc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("cut.pcap");
    std::fs::write(&f, cut).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wsfp"))
        .args(["pcap", "--no-fingerprint"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("byte offset {good}, packet 6")),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("before the damage"));
    // Not a capture at all.
    std::fs::write(&f, b"hello, this is not a pcap file at all....").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wsfp"))
        .args(["pcap", "--no-fingerprint"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pcap or pcapng"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn idle_connections_time_out_and_flows_are_bounded() {
    let mut w = PcapWriter::new();
    let mut a = conn();
    a.open(&mut w);
    a.upgrade(&mut w, "", "");
    a.s2c(&mut w, &server_frame(1, b"first"));
    // Another connection 400 s later: the first is idle past the timeout.
    let mut b = Conn::new(([10, 0, 0, 3], 40001), ([10, 0, 0, 2], 8765), a.ts + 400.0);
    b.open(&mut w);
    b.upgrade(&mut w, "", "");
    let (v, res) = run_bytes(&w.out, Config::default());
    res.unwrap();
    let ends: Vec<&str> = of(&v, "websocket_connection")
        .iter()
        .map(|c| c["end"].as_str().unwrap())
        .collect();
    assert_eq!(ends, vec!["timeout", "end_of_capture"]);
    // The flow table bound: with room for one connection, the older is
    // finished early ("evicted") when the second starts.
    let mut recs: Vec<Record> = Vec::new();
    let limits = Limits {
        max_flows: 1,
        flow_timeout: 1e9,
        ..Limits::default()
    };
    let (stats, res) = analyze(
        "mem",
        &w.out[..],
        Config::default(),
        limits,
        None,
        &mut recs,
    );
    res.unwrap();
    assert_eq!(stats.flows_evicted, 1);
    assert_eq!(stats.peak_flows, 1);
}

/// HTTP/1.1 keep-alive: ordinary requests and responses (bodies by
/// Content-Length and chunked coding split across segments, HEAD, 304,
/// 100 Continue, a pipelined request) before the upgrade on the same
/// connection. `plain` ordinary exchanges come first.
fn keepalive_capture(plain: usize, until_close: bool) -> Vec<u8> {
    let mut w = PcapWriter::new();
    let mut c = conn();
    c.open(&mut w);
    for i in 0..plain {
        c.c2s(
            &mut w,
            format!("GET /p{i} HTTP/1.1\r\nHost: lab\r\n\r\n").as_bytes(),
        );
        c.s2c(&mut w, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
    c.c2s(&mut w, b"GET /a HTTP/1.1\r\nHost: lab\r\n\r\n");
    c.s2c(
        &mut w,
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello",
    );
    c.s2c(&mut w, b" world");
    c.c2s(
        &mut w,
        b"POST /b HTTP/1.1\r\nHost: lab\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    c.s2c(&mut w, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.c2s(&mut w, b"abcde");
    c.s2c(
        &mut w,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;x=1\r\nhel",
    );
    c.s2c(&mut w, b"lo\r\n1");
    c.s2c(&mut w, b"0\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n");
    c.s2c(&mut w, b"\r\n");
    c.c2s(&mut w, b"HEAD /c HTTP/1.1\r\nHost: lab\r\n\r\n");
    c.s2c(&mut w, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    c.c2s(&mut w, b"GET /d HTTP/1.1\r\nHost: lab\r\n\r\n");
    if until_close {
        // No length: the body runs to the end of the connection.
        c.s2c(&mut w, b"HTTP/1.1 200 OK\r\n\r\nbody");
    } else {
        c.s2c(&mut w, b"HTTP/1.1 304 Not Modified\r\n\r\n");
    }
    // Pipelined: a request and the upgrade in one segment, their responses
    // and a first frame in another.
    let key = wsfp::passive::synth::KEY;
    let accept = wsfp::wire::accept_for_key(key);
    c.c2s(
        &mut w,
        format!(
            "GET /e HTTP/1.1\r\nHost: lab\r\n\r\nGET /ws HTTP/1.1\r\nHost: lab\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    );
    let mut resp = format!(
        "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes();
    resp.extend(server_frame(1, b"welcome"));
    c.s2c(&mut w, &resp);
    c.c2s(&mut w, &client_frame(1, b"thanks"));
    c.close(&mut w);
    w.out
}

#[test]
fn upgrade_after_keepalive_requests_is_followed() {
    let (v, res) = run_bytes(&keepalive_capture(3, false), Config::default());
    res.unwrap();
    let hs = of(&v, "websocket_handshake");
    assert_eq!(hs.len(), 1, "{v:#?}");
    assert_eq!(
        (hs[0]["uri"].as_str(), hs[0]["status"].as_u64()),
        (Some("/ws"), Some(101))
    );
    assert_eq!(hs[0]["accept"], "valid");
    let msgs: Vec<(&str, &str)> = of(&v, "websocket_message")
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap(),
                m["payload"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(msgs, vec![("s2c", "welcome"), ("c2s", "thanks")]);
    let c = &of(&v, "websocket_connection")[0];
    assert_eq!(c["id.orig_p"], 40000);
    assert_eq!(c["anomalies"], serde_json::json!({}));
}

#[test]
fn keepalive_skipping_is_bounded() {
    // The script adds five ordinary requests (/a to /e) to `plain`: at the
    // bound the upgrade is still followed, one more and it is not.
    let max = wsfp::passive::session::MAX_SKIPPED_REQUESTS as usize;
    let (v, _) = run_bytes(&keepalive_capture(max - 5, false), Config::default());
    assert_eq!(of(&v, "websocket_handshake").len(), 1);
    let (v, _) = run_bytes(&keepalive_capture(max - 4, false), Config::default());
    assert!(v.is_empty(), "past the bound nothing is followed: {v:#?}");
    // A response whose body runs to the close: nothing can follow it.
    let (v, _) = run_bytes(&keepalive_capture(0, true), Config::default());
    assert!(v.is_empty(), "{v:#?}");
}

/// IPv4 fragments are reassembled (in any order); an incomplete datagram
/// is dropped, leaving a gap that is flagged, not silently closed.
#[test]
fn ipv4_fragments_are_reassembled() {
    let mut w = PcapWriter::new();
    let mut c = conn();
    c.open(&mut w);
    c.upgrade(&mut w, "", "");
    let big = "f".repeat(3000);
    c.c2s_fragments(&mut w, &client_frame(1, big.as_bytes()), 7, 1480, true);
    c.c2s_fragments(&mut w, &client_frame(1, b"small"), 8, 8, false);
    // A datagram whose middle fragment is lost: never completed.
    let mut lost = PcapWriter::new();
    let mut l = c.clone();
    l.c2s_fragments(&mut lost, &client_frame(2, &[1u8; 100]), 9, 48, false);
    let mut recs = lost.out[24..].to_vec();
    // Drop the second record (16-byte header + 14 + 20 + 48 bytes).
    recs.drain(98..196);
    w.out.extend_from_slice(&recs);
    c.cseq = l.cseq;
    c.c2s(&mut w, &client_frame(1, b"after"));
    c.s2c(&mut w, &server_frame(1, b"ack"));
    c.close(&mut w);
    let mut out: Vec<Record> = Vec::new();
    let (stats, res) = analyze(
        "mem",
        &w.out[..],
        Config::default(),
        Limits::default(),
        None,
        &mut out,
    );
    res.unwrap();
    assert_eq!(stats.ipv4_reassembled, 2);
    // 3028, 31 and 126 bytes of TCP: 3 + 4 + 3 fragments, one of them lost.
    assert_eq!(stats.ipv4_fragments, 3 + 4 + 2);
    let v = to_json(&out);
    let msgs: Vec<(u64, u64)> = of(&v, "websocket_message")
        .iter()
        .filter(|m| m["direction"] == "c2s")
        .map(|m| (m["length"].as_u64().unwrap(), m["opcode"].as_u64().unwrap()))
        .collect();
    assert_eq!(msgs, vec![(3000, 1), (5, 1), (5, 1)]);
    assert_eq!(conn_anomalies(&v)["tcp_gap"], 1, "{v:#?}");
}

/// IPv6 fragments (behind a hop-by-hop header, last fragment first) are
/// reassembled: the logs equal those of the unfragmented IPv6 capture, and
/// of the IPv4 original but for the addresses.
#[test]
fn ipv6_fragments_are_reassembled() {
    let mut w = PcapWriter::new();
    let mut c = conn();
    c.open(&mut w);
    c.upgrade(&mut w, "", "");
    c.c2s(&mut w, &client_frame(1, "g".repeat(3000).as_bytes()));
    c.s2c(&mut w, &server_frame(2, &[7u8; 1200]));
    c.c2s(&mut w, &client_frame(1, b"small"));
    c.close(&mut w);
    let run = |cap: &[u8]| {
        let mut out: Vec<Record> = Vec::new();
        let (stats, res) = analyze(
            "mem",
            cap,
            Config::default(),
            Limits::default(),
            None,
            &mut out,
        );
        res.unwrap();
        (stats, to_json(&out))
    };
    let strip = |v: &[Value]| -> Vec<Value> {
        v.iter()
            .map(|r| {
                let mut r = r.clone();
                let o = r.as_object_mut().unwrap();
                for k in ["uid", "id.orig_h", "id.resp_h"] {
                    o.remove(k);
                }
                r
            })
            .collect()
    };
    let (_, v4) = run(&w.out);
    let (whole_stats, whole) = run(&ipv6_capture(&w.out, None));
    let (stats, frags) = run(&ipv6_capture(&w.out, Some(512)));
    assert_eq!(whole_stats.ipv6_fragments, 0);
    // 3000 + 8 + 20 bytes of TCP in 6 fragments, 1200 + 4 + 20 in 3;
    // every other segment fits in 512 bytes.
    assert_eq!(stats.ipv6_reassembled, 2, "{stats:?}");
    assert_eq!(stats.ipv6_fragments, 6 + 3, "{stats:?}");
    assert_eq!(
        (stats.ipv6_reassembly_dropped, stats.skipped_fragment),
        (0, 0)
    );
    assert_eq!(frags, whole);
    assert_eq!(strip(&frags), strip(&v4));
    assert_eq!(whole[0]["id.orig_h"], "fd00::a00:1");
    let msgs: Vec<u64> = of(&frags, "websocket_message")
        .iter()
        .map(|m| m["length"].as_u64().unwrap())
        .collect();
    assert_eq!(msgs, vec![3000, 1200, 5]);
}

/// Requests our own probes send (issue #6, lab captures): a server that
/// splits lines on CRLF upgrades a head with a bare CR (probe 306) or a
/// bare LF (probe 305) inside it, or with an odd Upgrade token (probe
/// 701). Each is followed as WebSocket from the end of the head the server
/// read, and flagged; the frames after it are decoded, not taken for text.
#[test]
fn odd_requests_the_server_upgraded_are_followed_and_flagged() {
    let key = wsfp::passive::synth::KEY;
    let accept = wsfp::wire::accept_for_key(key);
    let cases = [
        (
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13\r\r\n",
            "lenient_request",
        ),
        (
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13\n\r\n",
            "lenient_request",
        ),
        (
            "Upgrade: websocketa",
            "Sec-WebSocket-Version: 13\r\n",
            "nonstandard_upgrade",
        ),
    ];
    for (upgrade, version, flag) in cases {
        let mut w = PcapWriter::new();
        let mut c = conn();
        c.open(&mut w);
        c.c2s(
            &mut w,
            format!(
                "GET /ws HTTP/1.1\r\nHost: lab\r\n{upgrade}\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n{version}Origin: http://lab\r\n\r\n"
            )
            .as_bytes(),
        );
        c.s2c(
            &mut w,
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            .as_bytes(),
        );
        c.c2s(&mut w, &client_frame(1, b"hello"));
        c.s2c(&mut w, &server_frame(1, b"hello"));
        c.close(&mut w);
        let (v, res) = run_bytes(&w.out, Config::default());
        res.unwrap();
        let hs = of(&v, "websocket_handshake");
        assert_eq!(hs.len(), 1, "{upgrade} {version:?}: {v:#?}");
        assert_eq!(hs[0]["origin"], "http://lab", "the whole head was read");
        let msgs = of(&v, "websocket_message");
        assert_eq!(msgs.len(), 2, "{version:?}: {msgs:#?}");
        assert!(msgs.iter().all(|m| m["payload"] == "hello"));
        let conn = of(&v, "websocket_connection");
        assert!(
            conn[0]["anomalies"].to_string().contains(flag),
            "{flag}: {}",
            conn[0]["anomalies"]
        );
    }
}

/// Data packets captured at a snap length of 96 bytes (issue #15, item
/// 12): what each one lost of its TCP payload is a gap of that size,
/// flagged `snaplen_truncated`, and decoding goes on with what was kept
/// and after the gap. Over IPv4 and IPv6 (whose longer header leaves less
/// payload in 96 bytes).
#[test]
fn packets_cut_by_the_snap_length_are_gaps_and_decoding_continues() {
    const SNAPLEN: usize = 96;
    let mut w = PcapWriter::new();
    let mut c = conn();
    c.open(&mut w);
    c.upgrade(&mut w, "", "");
    // (direction is c2s, TCP payload) of every data segment.
    let mut sent: Vec<(bool, Vec<u8>)> = Vec::new();
    let mut s2c = |c: &mut Conn, w: &mut PcapWriter, b: Vec<u8>| {
        c.s2c(w, &b);
        sent.push((false, b));
    };
    s2c(&mut c, &mut w, server_frame(1, "a".repeat(200).as_bytes()));
    s2c(&mut c, &mut w, server_frame(1, b"hi"));
    // Two frames in one segment: the cut crosses the boundary between them.
    s2c(
        &mut c,
        &mut w,
        [
            server_frame(1, "c".repeat(60).as_bytes()),
            server_frame(2, &[9; 30]),
        ]
        .concat(),
    );
    s2c(&mut c, &mut w, server_frame(1, b"after"));
    let client = client_frame(1, "b".repeat(100).as_bytes());
    c.c2s(&mut w, &client);
    sent.push((true, client));
    c.close(&mut w);
    for (v6, header) in [(false, 14 + 20 + 20), (true, 14 + 40 + 20)] {
        let whole = if v6 {
            ipv6_capture(&w.out, None)
        } else {
            w.out.clone()
        };
        // SYN, SYN-ACK, request and 101 whole; every later packet cut.
        let cut = snap(&whole, SNAPLEN, 4);
        let lost = |c2s: bool| -> u64 {
            sent.iter()
                .filter(|(d, _)| *d == c2s)
                .map(|(_, b)| (header + b.len()).saturating_sub(SNAPLEN) as u64)
                .sum()
        };
        let mut out: Vec<Record> = Vec::new();
        let (stats, res) = analyze(
            "mem",
            &cut[..],
            Config::default(),
            Limits::default(),
            None,
            &mut out,
        );
        res.unwrap();
        let v = to_json(&out);
        assert_eq!(stats.skipped_malformed, 0, "v6 {v6}");
        assert_eq!(stats.snaplen_truncated, 3, "v6 {v6}");
        assert_eq!(stats.snaplen_missing_bytes, lost(true) + lost(false));
        let conn = &of(&v, "websocket_connection")[0];
        assert!(lost(false) > 0 && lost(true) > 0);
        assert_eq!(conn["s2c"]["gap_bytes"], lost(false), "v6 {v6}: {conn}");
        assert_eq!(conn["c2s"]["gap_bytes"], lost(true), "v6 {v6}: {conn}");
        assert_eq!(conn["anomalies"]["snaplen_truncated"], 3, "{conn}");
        assert!(conn["anomalies"].get("tcp_gap").is_none(), "{conn}");
        let msgs = of(&v, "websocket_message");
        let text = |dir: &str| -> Vec<(u64, bool, String)> {
            msgs.iter()
                .filter(|m| m["direction"] == dir && m["opcode"] == 1)
                .map(|m| {
                    (
                        m["length"].as_u64().unwrap(),
                        m["truncated"].as_bool().unwrap(),
                        m["payload"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        };
        // What the snap length kept of a message's payload: what is left
        // of 96 bytes after the packet's headers and the frame's header:
        // 4 bytes for 200 (a 16-bit length), 6 for 100 masked bytes.
        let kept = |frame_head: usize| "x".repeat(SNAPLEN - header - frame_head);
        let s = text("s2c");
        assert_eq!(s.len(), 4, "{s:?}");
        assert_eq!((s[0].0, s[0].1), (200, true));
        assert_eq!(s[0].2, kept(4).replace('x', "a"));
        assert_eq!(s[1], (2, false, "hi".into()));
        assert_eq!((s[2].0, s[2].1), (60, true), "cut inside the first of two");
        assert_eq!(s[3], (5, false, "after".into()), "found after the gap");
        let c = text("c2s");
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].0, c[0].1), (100, true));
        assert_eq!(c[0].2, kept(6).replace('x', "b"));
        let cut_msgs = msgs
            .iter()
            .filter(|m| {
                m["anomalies"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a == "snaplen_truncated")
            })
            .count();
        assert_eq!(cut_msgs, 3, "each cut message says why: {msgs:#?}");
        assert_eq!(conn["anomalies"]["resync"], 1, "{conn}");
    }
}

/// The app protocol of a captured connection: from the subprotocol the
/// server agreed to (Jupyter's kernel channels, Kaazing's gateway), or
/// from the head of the server's first messages (Zeek Broker's ack, kept
/// even when the log shows no payload at all); none for a plain app.
#[test]
fn captured_connections_name_their_app_protocol() {
    let cases = [
        ("zeek-jupyter-websocket.pcap", Some("jupyter-kernel")),
        ("zeek-http-websocket.pcap", Some("kaazing")),
        ("zeek-broker-websocket.pcap", Some("zeek-broker")),
        ("zeek-reply-ping-separate.pcap", None),
        ("sv-websocket-basic_websockets.pcap", None),
    ];
    for (name, want) in cases {
        let Some(p) = capture(name) else { return };
        for payload_bytes in [256, 0] {
            let cfg = Config {
                payload_bytes,
                ..Config::default()
            };
            let v = run_file(&p, cfg);
            let conns = of(&v, "websocket_connection");
            assert_eq!(conns.len(), 1, "{name}");
            assert_eq!(
                conns[0]["app_protocol"].as_str(),
                want,
                "{name} {payload_bytes}"
            );
            // The heads kept for it do not widen the log's previews.
            for m in of(&v, "websocket_message") {
                let shown = m["payload"].as_str().unwrap_or("");
                assert!(payload_bytes > 0 || m["payload"].is_null(), "{name}: {m}");
                assert!(shown.len() <= 4 * 256 / 3 + 4, "{name}: {m}");
            }
        }
    }
}
