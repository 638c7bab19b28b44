//! The active runner on scripted server bytes: `run_connected` over an
//! in-memory connection (`tokio::io::duplex`), the server's side written
//! in full and closed before the probe runs. Regression tests for what the
//! `runner` fuzz target found; no sockets, no timing.

use std::time::Instant;

use tokio::io::AsyncWriteExt;
use wsfp::probe::build::{PayloadCache, TargetCtx};
use wsfp::probe::runner::{Endpoint, ProbeRun, RunConfig, chainable, run_connected};
use wsfp::probe::{End, Probe, ProbeSet};

const UPGRADE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n";

/// An unmasked server frame.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut f = vec![0x80 | opcode, payload.len() as u8];
    f.extend_from_slice(payload);
    f
}

/// Run `probe` alone on a connection whose server sends `server` and
/// closes.
async fn run(probe: &Probe, server: &[u8]) -> ProbeRun {
    let mut runs = chain(probe, None, server).await;
    assert_eq!(runs.len(), 1);
    runs.pop().unwrap()
}

/// Run `probe`, then `next` chained on its connection, against `server`.
async fn chain(probe: &Probe, next: Option<&Probe>, server: &[u8]) -> Vec<ProbeRun> {
    let (client, mut peer) = tokio::io::duplex(1 << 20);
    peer.write_all(server).await.unwrap();
    peer.shutdown().await.unwrap();
    let ep = Endpoint {
        dest: wsfp::net::Dest::Addr("127.0.0.1:9".parse().unwrap()),
        tls_name: None,
        ctx: TargetCtx::new("test.invalid", 80, "/", false, None),
        tls_facts: Default::default(),
    };
    let mut queue = next;
    run_connected(
        &mut queue,
        probe,
        Instant::now(),
        Box::new(client),
        &ep,
        &RunConfig::default(),
        &PayloadCache::default(),
    )
    .await
}

/// A frame probe of the built-in set (it keeps `observe.frames` data
/// frames).
fn frame_probe() -> Probe {
    let set = ProbeSet::builtin();
    set.probes
        .iter()
        .find(|p| chainable(p, &RunConfig::default()))
        .expect("a frame probe")
        .clone()
}

#[tokio::test]
async fn a_frame_cut_by_eof_counts_against_the_frame_cap() {
    let probe = frame_probe();
    let cap = probe.observe.frames;
    let mut server = UPGRADE.to_vec();
    for _ in 0..cap + 2 {
        server.extend(frame(1, b"x"));
    }
    // A text frame announcing 5 bytes, 1 sent: the stream ends inside it.
    server.extend_from_slice(&[0x81, 0x05, b'a']);
    let r = run(&probe, &server).await;
    let o = &r.observation;
    assert_eq!(o.end, End::Eof);
    assert_eq!(o.frames.len(), cap, "{:?}", o.frames);
    assert!(o.frames.iter().all(|f| f.opcode == 1 && f.len == 1));
}

#[tokio::test]
async fn below_the_cap_the_cut_frame_is_kept() {
    let probe = frame_probe();
    let mut server = UPGRADE.to_vec();
    server.extend(frame(1, b"x"));
    server.extend_from_slice(&[0x81, 0x05, b'a']);
    let r = run(&probe, &server).await;
    let o = &r.observation;
    assert_eq!(o.end, End::Eof);
    assert_eq!(o.frames.len(), 2, "{:?}", o.frames);
    assert!(o.frames[1].anomalies.iter().any(|a| a == "truncated"));
}

#[tokio::test]
async fn a_late_echo_counts_against_its_probes_frame_cap() {
    let set = ProbeSet::builtin();
    let cfg = RunConfig::default();
    // A chainable probe sending one short text message, and another.
    let first = set
        .probes
        .iter()
        .find(|p| {
            chainable(p, &cfg)
                && p.frames.len() == 1
                && p.frames[0].opcode == 1
                && p.frames[0].fin
                && p.frames[0].fill.is_none()
                && p.frames[0].payload.as_ref().is_some_and(|t| t.len() < 126)
        })
        .expect("a probe sending one short text message");
    let second = set
        .probes
        .iter()
        .find(|p| chainable(p, &cfg) && p.id != first.id)
        .unwrap();
    let cap = first.observe.frames;
    let message = first.frames[0].payload.clone().unwrap();
    let mut server = UPGRADE.to_vec();
    // The first probe's wait: its cap of data frames, then its pong.
    let junk = "j".repeat(message.len() + 1);
    for _ in 0..cap {
        server.extend(frame(1, junk.as_bytes()));
    }
    server.extend(frame(10, b"wsfp-live"));
    // During the second's wait: the first's message echoed, late.
    server.extend(frame(1, message.as_bytes()));
    server.extend(frame(10, b"wsfp-live1"));
    let runs = chain(first, Some(second), &server).await;
    assert_eq!(runs.len(), 2);
    let kept = &runs[0].observation.frames;
    assert_eq!(kept.len(), cap, "{kept:?}");
    assert!(kept.iter().all(|f| f.len == junk.len() as u64), "{kept:?}");
}

/// Werkzeug writes an HTTP response onto the upgraded socket when a
/// flask-sock handler returns. Its `HT` would decode as a fragmented
/// close with RSV1 set and the headers (with the Date) as its reason: it
/// is named in the error instead, and nothing after it is decoded.
#[tokio::test]
async fn an_http_response_after_the_upgrade_is_not_read_as_frames() {
    let probe = frame_probe();
    let mut server = UPGRADE.to_vec();
    server.extend_from_slice(
        b"HTTP/1.1 200 OK\r\nServer: Werkzeug/3.1.9 Python/3.11.7\r\n\
Date: Thu, 03 Dec 2026 06:49:06 GMT\r\nContent-Length: 0\r\n\r\n",
    );
    server.extend(frame(8, &[0x03, 0xea]));
    let r = run(&probe, &server).await;
    let o = &r.observation;
    assert!(o.frames.is_empty(), "{:?}", o.frames);
    assert_eq!(o.end, End::Eof);
    let e = o.error.as_deref().unwrap_or_default();
    assert!(e.contains("HTTP/1.1 200 OK"), "{e}");
    // A message that says "HTTP/1.1" is a message.
    let mut server = UPGRADE.to_vec();
    server.extend(frame(1, b"HTTP/1.1 200 OK"));
    let o = run(&probe, &server).await.observation;
    assert!(o.error.is_none(), "{:?}", o.error);
    assert_eq!(o.frames.len(), 1, "{:?}", o.frames);
}
