//! Arbitrary server bytes through the active runner's own code: a probe
//! from the built-in set (and the chainable probes after it) is run by
//! `wsfp::probe::runner::run_connected`, the function `run_chain` calls
//! once its connection is made, over an in-memory connection whose reads
//! hand out the input. So the bytes take the path a real server's do:
//! response-head parsing, the malformed preview, non-101 bodies, frame
//! decoding, close codes and reasons, liveness pongs, chaining, and every
//! cap and end of a wait (EOF, reset, error, or silence until the frame
//! timeout, passed in an instant on tokio's paused clock).
//!
//! Input layout: byte 0 picks the probe; byte 1 holds flags (bits 0–1:
//! how the input ends: EOF, silence, reset, other error; bit 2: close
//! frames; bit 3: full payloads; bit 4: a target deadline; bit 5: TLS
//! (its shutdown); bit 6: a 512-byte head cap); byte 2 gives how many of
//! the following bytes (0..=15) are read sizes (each `s` means reads of
//! at most `s + 1` bytes, cycled); the rest is what the server sends. In
//! it, `{accept}` is replaced by the right Sec-WebSocket-Accept for the
//! key of the request the runner wrote, so that clean upgrades (and
//! the chains they host) are reachable.
//!
//! Checked: nothing panics and every run ends; what is kept is bounded
//! (data frames by the probe's `observe.frames`, control frames by
//! `MAX_CONTROL_FRAMES`, close reasons by `MAX_REASON` bytes, body tail and
//! previews, the first body line); no run counts more bytes received than
//! the input has; every observation round-trips through JSON and yields
//! its features.
#![no_main]

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsfp::probe::build::{PayloadCache, PayloadMode, TargetCtx};
use wsfp::probe::observation::features;
use wsfp::probe::runner::{
    Endpoint, MAX_CONTROL_FRAMES, MAX_REASON, ProbeQueue, RunConfig, chainable, run_connected,
};
use wsfp::probe::{Observation, Probe, ProbeSet};
use wsfp::wire::accept_for_key;

const PLACEHOLDER: &[u8] = b"{accept}";
/// Chained probes offered after the first one.
const CHAINED: usize = 3;

static PROBES: LazyLock<ProbeSet> = LazyLock::new(ProbeSet::builtin);
static PAYLOADS: LazyLock<PayloadCache> = LazyLock::new(PayloadCache::default);

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
}

#[derive(Clone, Copy)]
enum Ending {
    Eof,
    Silence,
    Reset,
    Error,
}

/// A server that has sent everything already: reads hand it out (in the
/// given sizes), then end as `ending` says. Writes are taken whole.
struct Scripted {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    next_size: usize,
    ending: Ending,
    /// The start of what the runner wrote, up to the end of its request.
    written: Vec<u8>,
    keyed: bool,
}

impl Scripted {
    /// Once the request is written, put its Accept where the input asks.
    fn key_in(&mut self) {
        if self.keyed {
            return;
        }
        let Some(end) = find(&self.written, b"\r\n\r\n") else {
            return;
        };
        self.keyed = true;
        let head = String::from_utf8_lossy(&self.written[..end]).into_owned();
        let Some(key) = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_string())
        }) else {
            return;
        };
        let accept = accept_for_key(&key);
        let mut out = self.data[..self.pos].to_vec();
        let mut rest = &self.data[self.pos..];
        while let Some(i) = find(rest, PLACEHOLDER) {
            out.extend_from_slice(&rest[..i]);
            out.extend_from_slice(accept.as_bytes());
            rest = &rest[i + PLACEHOLDER.len()..];
        }
        out.extend_from_slice(rest);
        self.data = out;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.key_in();
        let left = self.data.len() - self.pos;
        if left == 0 {
            return match self.ending {
                Ending::Eof => Poll::Ready(Ok(())),
                // No waker: the runner's own timeout wakes it.
                Ending::Silence => Poll::Pending,
                Ending::Reset => Poll::Ready(Err(io::ErrorKind::ConnectionReset.into())),
                Ending::Error => Poll::Ready(Err(io::Error::other("fuzz"))),
            };
        }
        let size = if self.sizes.is_empty() {
            left
        } else {
            let s = self.sizes[self.next_size % self.sizes.len()];
            self.next_size += 1;
            s
        };
        let n = left.min(size).min(buf.remaining());
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !self.keyed && self.written.len() < 64 * 1024 {
            self.written.extend_from_slice(data);
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The chainable probes after the first, as a scan's queue would offer.
struct Queue(Vec<&'static Probe>);

impl ProbeQueue<'static> for Queue {
    fn next(&mut self) -> Option<&'static Probe> {
        (!self.0.is_empty()).then(|| self.0.remove(0))
    }
    fn pending(&self) -> bool {
        !self.0.is_empty()
    }
}

fn check(probe: &Probe, o: &Observation, cfg: &RunConfig) {
    let data = o.frames.iter().filter(|f| f.opcode <= 2).count();
    let control = o.frames.len() - data;
    assert!(
        data <= probe.observe.frames,
        "{data} data frames kept, cap {}",
        probe.observe.frames
    );
    assert!(
        control <= MAX_CONTROL_FRAMES,
        "{control} control frames kept"
    );
    for f in &o.frames {
        if let Some(r) = &f.close_reason {
            assert!(r.len() <= MAX_REASON, "close reason of {} bytes", r.len());
        }
    }
    // A body tail is at most 512 bytes read lossily, a preview at most 64
    // bytes escaped (4 characters each).
    if let Some(t) = &o.body_tail {
        assert!(
            t.chars().count() <= 512,
            "body tail of {} chars",
            t.chars().count()
        );
    }
    if let Some(h) = &o.body_head {
        assert!(
            h.chars().count() <= 200,
            "body head of {} chars",
            h.chars().count()
        );
    }
    // Lossy text from the head: at most three bytes per byte read.
    let head_cap = 3 * cfg.max_head;
    assert!(o.reason.as_ref().is_none_or(|r| r.len() <= head_cap));
    assert!(o.headers.values().all(|v| v.len() <= head_cap));

    let mut plain = o.clone();
    plain.latency_ms = None; // wall-clock time: not compared
    let json = serde_json::to_string(&plain).expect("serialises");
    let back: Observation = serde_json::from_str(&json).expect("parses back");
    assert_eq!(back, plain, "JSON round trip");
    let mut map = BTreeMap::new();
    features(probe, o, &mut map);
}

fuzz_target!(|input: &[u8]| {
    let [pick, flags, nsizes, rest @ ..] = input else {
        return;
    };
    let probes = &PROBES.probes;
    let i = usize::from(*pick) % probes.len();
    let first = &probes[i];
    let n = usize::from(nsizes % 16).min(rest.len());
    let (sizes, data) = rest.split_at(n);

    let cfg = RunConfig {
        close_frame: flags & 4 != 0,
        payload_mode: if flags & 8 != 0 {
            PayloadMode::Full
        } else {
            PayloadMode::Prefix
        },
        max_head: if flags & 64 != 0 { 512 } else { 16 * 1024 },
        ..RunConfig::default()
    };
    let queue: Vec<&'static Probe> = probes
        .iter()
        .cycle()
        .skip(i + 1)
        .take(probes.len())
        .filter(|p| chainable(p, &cfg))
        .take(CHAINED)
        .collect();
    let chained: Vec<&Probe> = queue.clone();
    let ending = match flags & 3 {
        0 => Ending::Eof,
        1 => Ending::Silence,
        2 => Ending::Reset,
        _ => Ending::Error,
    };
    let io = Scripted {
        data: data.to_vec(),
        pos: 0,
        sizes: sizes.iter().map(|&s| usize::from(s) + 1).collect(),
        next_size: 0,
        ending,
        written: Vec::new(),
        keyed: false,
    };
    let ep = Endpoint {
        dest: wsfp::net::Dest::Addr("127.0.0.1:9".parse().expect("address")),
        tls_name: (flags & 32 != 0).then(|| "fuzz.test".to_string()),
        ctx: TargetCtx::new("fuzz.test", 80, "/", false, None),
        tls_facts: Default::default(),
    };
    let runs = RT.with(|rt| {
        rt.block_on(async {
            let cfg = RunConfig {
                deadline: (flags & 16 != 0)
                    .then(|| tokio::time::Instant::now() + Duration::from_millis(700)),
                ..cfg.clone()
            };
            let mut q = Queue(queue);
            run_connected(
                &mut q,
                first,
                Instant::now(),
                Box::new(io),
                &ep,
                &cfg,
                &PAYLOADS,
            )
            .await
        })
    });

    assert!(!runs.is_empty(), "the first probe always runs");
    assert!(runs.len() <= 1 + CHAINED);
    // Each `{accept}` may have grown by 20 bytes.
    let grown = data
        .windows(PLACEHOLDER.len())
        .filter(|w| *w == PLACEHOLDER)
        .count()
        * 20;
    let received: u64 = runs.iter().map(|r| r.bytes_received).sum();
    assert!(
        received <= (data.len() + grown) as u64,
        "{received} bytes received"
    );
    for (k, r) in runs.iter().enumerate() {
        let p = if k == 0 { first } else { chained[k - 1] };
        assert_eq!(r.id, p.id);
        check(p, &r.observation, &cfg);
    }
});
