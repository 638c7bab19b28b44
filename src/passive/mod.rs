//! Passive analysis of WebSocket traffic in packet captures (`wsfp pcap`).
//!
//! The pipeline, one stage per module:
//! [`capture`] (pcap/pcapng records → link layer → IP → TCP segment) →
//! [`reassembly`] (per direction, in order, gaps declared) →
//! [`session`] (HTTP upgrade, then frames through the shared `crate::wire`
//! decoder, messages, inflation) → [`logs`] (NDJSON records), plus
//! [`fingerprint`] (a hint from the active scanner's DB).
//!
//! Everything streams. Memory depends on the number of concurrent
//! connections and the per-connection bounds (see [`Limits`]), never on the
//! size of the capture.

// No panics by construction: what a peer, a capture or an input file sends
// must not be able to reach an unwrap, an index or a slice that panics
// (issue #15). Tests may still unwrap.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::string_slice
    )
)]

pub mod capture;
pub mod defrag;
pub mod fingerprint;
pub mod logs;
pub mod reassembly;
pub mod session;
pub mod sides;
pub mod synth;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use capture::{Packet, Skip, tcp_segment};
use logs::{Head, Sink};
use reassembly::Reassembler;
use session::{Config, Session};

use crate::fingerprint::app_protocol::AppProtocols;
use crate::fingerprint::score::Scorer;

/// Flow-table bounds.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A connection idle this long (capture time, seconds) is finished.
    pub flow_timeout: f64,
    /// Connections tracked at once; beyond it the least recently active
    /// eighth is finished early.
    pub max_flows: usize,
    /// Out-of-order bytes held per direction before a hole is skipped.
    pub reassembly_buffer: usize,
    /// Out-of-order bytes held across all connections.
    pub reassembly_total: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            flow_timeout: 300.0,
            max_flows: 100_000,
            reassembly_buffer: 256 * 1024,
            reassembly_total: 256 * 1024 * 1024,
        }
    }
}

/// Counters for the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub packets: u64,
    pub bytes: u64,
    pub tcp_segments: u64,
    pub skipped_linktype: u64,
    pub skipped_not_tcp: u64,
    /// Fragments that could not be read as one (a broken IPv6 header
    /// chain, say).
    pub skipped_fragment: u64,
    /// IPv4 fragments seen, and the datagrams they made up: reassembled, or
    /// dropped by the bounds of [`defrag`].
    pub ipv4_fragments: u64,
    pub ipv4_reassembled: u64,
    pub ipv4_reassembly_dropped: u64,
    /// The same for IPv6.
    pub ipv6_fragments: u64,
    pub ipv6_reassembled: u64,
    pub ipv6_reassembly_dropped: u64,
    pub skipped_malformed: u64,
    /// Packets the capture cut short (captured length below the packet's
    /// length: a snap length), and the TCP payload bytes they lost (each
    /// a gap in its stream, see [`reassembly::Chunk::Cut`]).
    pub snaplen_truncated: u64,
    pub snaplen_missing_bytes: u64,
    pub flows: u64,
    pub websocket_connections: u64,
    pub flows_timed_out: u64,
    pub flows_evicted: u64,
    pub peak_flows: u64,
}

type Key = (IpAddr, u16, IpAddr, u16);

struct Flow {
    /// Side 0 is the flow's first sender (or the SYN's sender).
    addrs: [(IpAddr, u16); 2],
    reasm: [Reassembler; 2],
    session: Session,
    last_seen: f64,
    fin: [bool; 2],
}

/// The analyser: feed it packets, then call [`Analyzer::finish`].
pub struct Analyzer<'s> {
    pub cfg: Config,
    pub limits: Limits,
    pub stats: Stats,
    /// Looked up for every packet: foldhash rather than SipHash, which was
    /// a tenth of the time on small packets. Still randomly seeded per run,
    /// so a crafted capture cannot aim for collisions.
    /// Flows are boxed so the table's buckets stay small (key and pointer)
    /// and a probe touches one cache line rather than a whole session.
    flows: HashMap<Key, Box<Flow>, foldhash::fast::RandomState>,
    scorer: Option<Scorer>,
    /// App-protocol signatures: the scorer's DB's, else the built-in ones
    /// (`--no-fingerprint` skips the hint, not the app protocol).
    apps: std::sync::Arc<AppProtocols>,
    sink: &'s mut dyn Sink,
    created: u64,
    last_sweep: f64,
    buffered: usize,
    /// Fragments in reassembly: IPv4, IPv6.
    defrag: [defrag::Defrag; 2],
}

fn key(a: (IpAddr, u16), b: (IpAddr, u16)) -> Key {
    if a <= b {
        (a.0, a.1, b.0, b.1)
    } else {
        (b.0, b.1, a.0, a.1)
    }
}

/// A Zeek-like connection id: `C` and 17 base-62 characters, derived from
/// the addresses and the connection's ordinal in the run, so the same
/// capture always yields the same ids (and two captures of the same
/// exchange compare equal).
fn uid(k: &Key, n: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut h = std::hash::DefaultHasher::new();
    k.hash(&mut h);
    n.hash(&mut h);
    let mut a = h.finish();
    let mut h2 = std::hash::DefaultHasher::new();
    a.hash(&mut h2);
    let mut b = h2.finish();
    let mut s = String::with_capacity(18);
    s.push('C');
    for i in 0..17 {
        let src = if i < 10 { &mut a } else { &mut b };
        s.push(
            ALPHABET
                .get((*src % 62) as usize)
                .map_or('0', |&c| char::from(c)),
        );
        *src /= 62;
    }
    s
}

impl<'s> Analyzer<'s> {
    pub fn new(
        cfg: Config,
        limits: Limits,
        scorer: Option<Scorer>,
        sink: &'s mut dyn Sink,
    ) -> Self {
        let apps = match &scorer {
            Some(sc) => std::sync::Arc::new(sc.db().app_protocols.clone()),
            None => AppProtocols::builtin(),
        };
        Analyzer {
            cfg,
            limits,
            stats: Stats::default(),
            flows: HashMap::default(),
            scorer,
            apps,
            sink,
            created: 0,
            last_sweep: f64::NEG_INFINITY,
            buffered: 0,
            defrag: Default::default(),
        }
    }

    pub fn sink(&mut self) -> &mut dyn Sink {
        self.sink
    }

    /// Connections currently tracked.
    pub fn flows(&self) -> usize {
        self.flows.len()
    }

    pub fn packet(&mut self, p: Packet<'_>) {
        self.stats.packets += 1;
        self.stats.bytes += p.data.len() as u64;
        if p.ts - self.last_sweep >= 10.0 {
            self.sweep(p.ts);
        }
        let cut = p.cut();
        if cut {
            self.stats.snaplen_truncated += 1;
        }
        let seg = match tcp_segment(p.linktype, p.data) {
            Ok(s) => s,
            // Cut by the snap length: the headers may still be whole, and
            // what the payload lost is a gap, not a reason to drop it all.
            Err(Skip::Malformed) if cut => match capture::cut_tcp_segment(p.linktype, p.data) {
                Ok(s) => s,
                Err(Skip::NotTcp) => return self.stats.skipped_not_tcp += 1,
                Err(Skip::Fragment) => return self.fragment(p),
                Err(_) => return self.stats.skipped_malformed += 1,
            },
            Err(Skip::Linktype) => return self.stats.skipped_linktype += 1,
            Err(Skip::NotTcp) => return self.stats.skipped_not_tcp += 1,
            Err(Skip::Fragment) => return self.fragment(p),
            Err(Skip::Malformed) => return self.stats.skipped_malformed += 1,
        };
        self.segment(seg, p.ts);
    }

    fn fragment(&mut self, p: Packet<'_>) {
        let Some(f) = capture::ip_fragment(p.linktype, p.data) else {
            self.stats.skipped_fragment += 1;
            return;
        };
        let v6 = f.src.is_ipv6();
        let [defrag4, defrag6] = &mut self.defrag;
        let defrag = if v6 { defrag6 } else { defrag4 };
        let datagram = defrag.add(f, p.ts);
        let s = &mut self.stats;
        let d = &defrag.stats;
        if v6 {
            s.ipv6_fragments += 1;
            (s.ipv6_reassembled, s.ipv6_reassembly_dropped) = (d.reassembled, d.dropped);
        } else {
            s.ipv4_fragments += 1;
            (s.ipv4_reassembled, s.ipv4_reassembly_dropped) = (d.reassembled, d.dropped);
        }
        let Some(datagram) = datagram else { return };
        match tcp_segment(capture::LINKTYPE_RAW_IP, &datagram) {
            Ok(seg) => self.segment(seg, p.ts),
            Err(Skip::NotTcp) => self.stats.skipped_not_tcp += 1,
            Err(_) => self.stats.skipped_malformed += 1,
        }
    }

    fn segment(&mut self, seg: capture::Segment<'_>, ts: f64) {
        self.stats.tcp_segments += 1;
        self.stats.snaplen_missing_bytes += u64::from(seg.missing);
        let src = (seg.src, seg.sport);
        let dst = (seg.dst, seg.dport);
        let k = key(src, dst);
        // A new SYN on a finished 4-tuple starts a new connection.
        if seg.syn
            && seg.ack.is_none()
            && self.flows.get(&k).is_some_and(|f| f.fin[0] || f.fin[1])
            && let Some(f) = self.flows.remove(&k)
        {
            self.end_flow(f, "fin");
        }
        if !self.flows.contains_key(&k) {
            if !seg.syn && seg.payload.is_empty() {
                return;
            }
            if self.flows.len() >= self.limits.max_flows {
                self.evict();
            }
            // The SYN's sender (or the SYN-ACK's receiver) is side 0.
            let (a, b) = if seg.syn && seg.ack.is_some() {
                (dst, src)
            } else {
                (src, dst)
            };
            self.created += 1;
            self.stats.flows += 1;
            let head = Head {
                ts,
                uid: uid(&k, self.created),
                orig_h: a.0,
                orig_p: a.1,
                resp_h: b.0,
                resp_p: b.1,
                ids_json: None,
            };
            let rb = self.limits.reassembly_buffer;
            self.flows.insert(
                k,
                Box::new(Flow {
                    addrs: [a, b],
                    reasm: [Reassembler::new(rb), Reassembler::new(rb)],
                    session: Session::new(head),
                    last_seen: ts,
                    fin: [false; 2],
                }),
            );
            self.stats.peak_flows = self.stats.peak_flows.max(self.flows.len() as u64);
        }
        let Some(flow) = self.flows.get_mut(&k) else {
            return; // inserted above
        };
        let flow: &mut Flow = flow;
        flow.last_seen = ts;
        let side = usize::from(flow.addrs[0] != src);
        let Flow {
            reasm,
            session,
            fin,
            ..
        } = flow;
        if !session.ignored() {
            let before = reasm[0].buffered() + reasm[1].buffered();
            let (cfg, sink) = (&self.cfg, &mut *self.sink);
            let [r0, r1] = &mut *reasm;
            let (mine, other) = if side == 0 { (r0, r1) } else { (r1, r0) };
            if seg.syn {
                mine.syn(seg.seq);
            }
            mine.cut_segment(seg.seq, seg.payload, u64::from(seg.missing), &mut |c| {
                session.chunk(side, c, ts, cfg, sink)
            });
            if let Some(ack) = seg.ack {
                other.peer_ack(ack, &mut |c| session.chunk(1 - side, c, ts, cfg, sink));
            }
            if self.buffered + mine.buffered() + other.buffered()
                > self.limits.reassembly_total + before
            {
                // Over the global budget: this connection's holes go now.
                mine.flush(&mut |c| session.chunk(side, c, ts, cfg, sink));
                other.flush(&mut |c| session.chunk(1 - side, c, ts, cfg, sink));
            }
            let after = reasm[0].buffered() + reasm[1].buffered();
            self.buffered = (self.buffered + after).saturating_sub(before);
            if session.ignored() {
                // Release the buffers; nothing more will be looked at.
                self.buffered = self
                    .buffered
                    .saturating_sub(reasm[0].buffered() + reasm[1].buffered());
                *reasm = [Reassembler::new(0), Reassembler::new(0)];
            }
        }
        if seg.fin
            && let Some(done) = fin.get_mut(side)
        {
            *done = true;
        }
        if (seg.rst || (fin[0] && fin[1]))
            && let Some(f) = self.flows.remove(&k)
        {
            let end = if seg.rst { "rst" } else { "fin" };
            self.end_flow(f, end);
        }
    }

    fn end_flow(&mut self, mut f: Box<Flow>, end: &'static str) {
        let (cfg, sink) = (&self.cfg, &mut *self.sink);
        let ts = f.last_seen;
        self.buffered = self
            .buffered
            .saturating_sub(f.reasm[0].buffered() + f.reasm[1].buffered());
        let s = &mut f.session;
        for (side, r) in f.reasm.iter_mut().enumerate() {
            r.flush(&mut |c| s.chunk(side, c, ts, cfg, sink));
        }
        if f.session.upgraded() {
            self.stats.websocket_connections += 1;
            if let (Some(sc), Some(req), Some(resp)) =
                (&self.scorer, f.session.request(), f.session.response())
            {
                f.session.fingerprint = Some(fingerprint::hint(sc, req, resp));
            }
            let s = &f.session;
            let sub = s
                .response()
                .and_then(|r| r.header("Sec-WebSocket-Protocol"));
            let heads = s.server_heads().iter().map(String::as_str);
            f.session.app_protocol = self.apps.classify_session(sub, heads);
        }
        f.session.finish(end, cfg, sink);
    }

    /// Finish connections idle beyond the timeout.
    fn sweep(&mut self, now: f64) {
        self.last_sweep = now;
        let limit = now - self.limits.flow_timeout;
        let mut old: Vec<(f64, String, Key)> = self
            .flows
            .iter()
            .filter(|(_, f)| f.last_seen < limit)
            .map(|(k, f)| (f.session.head.ts, f.session.head.uid.clone(), *k))
            .collect();
        old.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        for (_, _, k) in old {
            if let Some(f) = self.flows.remove(&k) {
                self.stats.flows_timed_out += 1;
                self.end_flow(f, "timeout");
            }
        }
    }

    /// The table is full: finish the least recently active eighth.
    fn evict(&mut self) {
        let mut by_age: Vec<(f64, Key)> =
            self.flows.iter().map(|(k, f)| (f.last_seen, *k)).collect();
        by_age.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = (self.flows.len() / 8).max(1);
        for (_, k) in by_age.into_iter().take(n) {
            if let Some(f) = self.flows.remove(&k) {
                self.stats.flows_evicted += 1;
                self.end_flow(f, "evicted");
            }
        }
    }

    /// End of input: finish every connection, oldest first.
    pub fn finish(&mut self) {
        let mut all: Vec<(f64, String, Key)> = self
            .flows
            .iter()
            .map(|(k, f)| (f.session.head.ts, f.session.head.uid.clone(), *k))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        for (_, _, k) in all {
            if let Some(f) = self.flows.remove(&k) {
                self.end_flow(f, "end_of_capture");
            }
        }
    }
}

/// Analyse one capture (file or stream) into `sink`. Returns the counters,
/// or the read error after everything before the damage was analysed and
/// logged.
pub fn analyze(
    name: &str,
    input: impl std::io::Read + Send,
    cfg: Config,
    limits: Limits,
    scorer: Option<Scorer>,
    sink: &mut dyn Sink,
) -> (Stats, Result<(), capture::CaptureError>) {
    let mut a = Analyzer::new(cfg, limits, scorer, sink);
    let res = capture::for_each_packet(name, input, |p| a.packet(p));
    a.finish();
    (a.stats.clone(), res.map(|_| ()))
}
