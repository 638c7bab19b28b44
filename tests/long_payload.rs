//! `--payload-mode full` streams a long payload from one shared buffer
//! (issue #15, item 10): a probe announcing 2^40 bytes costs no memory
//! for its length, its writes are cut by the write timeout, and its
//! observation says how many payload bytes went out.
//!
//! The test runs the binary against a loopback server that upgrades every
//! connection and then reads and discards all it is sent, counting it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{args, records, tmpdir, wsfp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wsfp::wire::accept_for_key;

/// Announced payload length of the probe.
const ANNOUNCED: u64 = 1 << 40;
/// Header of a masked text frame with a 64-bit length.
const FRAME_HEAD: u64 = 2 + 8 + 4;
/// The ping a frame probe sends first on a connection of its own: a
/// masked frame header (2 + 4) and its payload.
const OPENING_PING: u64 = 2 + 4 + wsfp::probe::runner::OPENING_PAYLOAD.len() as u64;

/// What the server saw on one connection: the request head's length and
/// every byte read, up to the client's EOF.
#[derive(Debug, Clone, Copy)]
struct Seen {
    head: u64,
    total: u64,
}

/// A server that answers each handshake with a 101 and then reads and
/// discards everything. Returns its address, the number of connections
/// accepted, and what each finished connection carried.
async fn sink() -> (std::net::SocketAddr, Arc<Mutex<(u64, Vec<Seen>)>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let state = Arc::new(Mutex::new((0u64, Vec::new())));
    let st = state.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            st.lock().unwrap().0 += 1;
            let st = st.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = vec![0u8; 256 * 1024];
                let mut head = None;
                let mut total = 0u64;
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    total += n as u64;
                    if head.is_some() {
                        continue;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    head = Some(end as u64 + 4);
                    let text = String::from_utf8_lossy(&got[..end]).into_owned();
                    let key = text
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
                    if s.write_all(resp.as_bytes()).await.is_err() {
                        break;
                    }
                    got = Vec::new();
                }
                st.lock().unwrap().1.push(Seen {
                    head: head.unwrap_or(0),
                    total,
                });
            });
        }
    });
    (addr, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_announcing_2_pow_40_is_streamed_and_cut_by_the_write_timeout() {
    let (addr, state) = sink().await;
    let dir = tmpdir("long-payload");
    let probes = dir.join("big.toml");
    std::fs::write(
        &probes,
        format!(
            "version = \"big-1\"\n\n\
             [[probe]]\nid = \"9040\"\nseries = 9000\nname = \"announce 2^40\"\n\
             intent = \"A text frame announcing 2^40 bytes, streamed in full.\"\n\
             risk = \"heavy\"\nlayer = \"frame\"\n\n\
             [[probe.frames]]\nopcode = 1\nfill = \"a\"\nlen = {ANNOUNCED}\n"
        ),
    )
    .unwrap();
    // The write timeout (--handshake-timeout) is what cuts the stream; the
    // target's deadline is far off, so a record cut by it would fail below.
    let target_timeout = 30_000u64;
    let (code, out, err) = wsfp(args(&[
        "scan",
        "-n",
        "-u",
        &format!("ws://{addr}/"),
        "--probes",
        probes.to_str().unwrap(),
        "--series",
        "9000",
        "--payload-mode",
        "full",
        "--handshake-timeout",
        "400",
        "--frame-timeout",
        "100",
        "--target-timeout",
        &target_timeout.to_string(),
        "--format",
        "ndjson",
        "--silent",
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    let recs = records(&out);
    assert_eq!(recs.len(), 1, "{out}");
    let rec = &recs[0];
    assert!(
        rec["elapsed_ms"].as_u64().unwrap() < target_timeout,
        "cut by the deadline, not the write timeout: {rec}"
    );
    let o = &rec["observations"]["9040"];
    assert_eq!(o["outcome"], "upgraded", "{rec}");
    assert_eq!(o["end"], "timeout", "a silent server: {o}");
    let sent = o["payload_sent"].as_u64().expect("payload_sent");
    assert!(sent > 0 && sent < ANNOUNCED, "payload_sent {sent}");

    // Every connection closed and read to its end by the server: what it
    // read is what the record says was sent.
    let seen = {
        let mut polls = 0;
        loop {
            {
                let s = state.lock().unwrap();
                if s.1.len() as u64 == s.0 {
                    break s.1.clone();
                }
            }
            polls += 1;
            assert!(polls < 500, "connections left open: {:?}", state.lock());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let total: u64 = seen.iter().map(|s| s.total).sum();
    assert_eq!(rec["bytes_sent"].as_u64().unwrap(), total, "{seen:?}");
    let probe_conn = seen.iter().max_by_key(|s| s.total).unwrap();
    assert_eq!(
        probe_conn.total,
        probe_conn.head + OPENING_PING + FRAME_HEAD + sent,
        "the probe's connection carried its request, the opening ping, the \
         frame header and payload_sent bytes, no more: {seen:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
