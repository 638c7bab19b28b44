//! Synthetic captures: a minimal pcap writer (Ethernet, IPv4, TCP) and a
//! scripted WebSocket connection on top of it. Used by the tests, the
//! benchmark and the fuzz seeds, so that cases the real captures lack
//! (64-bit lengths, gaps, reordering, decompression bombs, huge files) can
//! be produced without a network. Checksums are left zero: the analyser,
//! like tshark by default, does not verify them.

use crate::wire::encode::{FrameSpec, encode_frame};
use crate::wire::handshake::accept_for_key;

/// TCP flags.
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// Legacy pcap, microsecond timestamps, Ethernet.
#[derive(Debug, Clone)]
pub struct PcapWriter {
    pub out: Vec<u8>,
}

impl Default for PcapWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl PcapWriter {
    pub fn new() -> Self {
        let mut out = Vec::with_capacity(1 << 16);
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&262_144u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        PcapWriter { out }
    }

    /// Append one TCP/IPv4 packet as IPv4 fragments carrying at most
    /// `frag` bytes of the IP payload each (a multiple of 8), in reverse
    /// order if `reverse`, all with IP identification `id`.
    ///
    /// Test and benchmark support: it slices the packet it has just
    /// written, whose layout it knows, and panics on a bad `frag`.
    #[allow(clippy::too_many_arguments, clippy::indexing_slicing)]
    pub fn tcp_fragments(
        &mut self,
        ts: f64,
        src: ([u8; 4], u16),
        dst: ([u8; 4], u16),
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
        id: u16,
        frag: usize,
        reverse: bool,
    ) {
        assert!(frag > 0 && frag.is_multiple_of(8));
        let mut whole = PcapWriter { out: Vec::new() };
        whole.tcp(ts, src, dst, seq, ack, flags, payload);
        // Skip the record header (16) and Ethernet (14); keep IPv4 header.
        let ip = &whole.out[30..];
        let (header, body) = ip.split_at(20);
        let mut pieces: Vec<(usize, &[u8])> = body
            .chunks(frag)
            .enumerate()
            .map(|(i, c)| (i * frag, c))
            .collect();
        if reverse {
            pieces.reverse();
        }
        let n = body.len().div_ceil(frag);
        for (off, piece) in pieces {
            let more = off / frag + 1 < n;
            let mut h = header.to_vec();
            h[2..4].copy_from_slice(&((20 + piece.len()) as u16).to_be_bytes());
            h[4..6].copy_from_slice(&id.to_be_bytes());
            let fo = (off / 8) as u16 | if more { 0x2000 } else { 0 };
            h[6..8].copy_from_slice(&fo.to_be_bytes());
            let frame = [&whole.out[16..30], &h[..], piece].concat();
            self.record(ts, &frame);
        }
    }

    fn record(&mut self, ts: f64, frame: &[u8]) {
        let sec = ts.floor();
        self.out.extend_from_slice(&(sec as u32).to_le_bytes());
        self.out.extend_from_slice(
            &(((ts - sec) * 1e6).round() as u32)
                .min(999_999)
                .to_le_bytes(),
        );
        self.out
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out.extend_from_slice(frame);
    }

    /// Append one TCP/IPv4/Ethernet packet.
    #[allow(clippy::too_many_arguments)]
    pub fn tcp(
        &mut self,
        ts: f64,
        src: ([u8; 4], u16),
        dst: ([u8; 4], u16),
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) {
        let ip_len = 20 + 20 + payload.len();
        let frame_len = 14 + ip_len;
        let sec = ts.floor();
        self.out.extend_from_slice(&(sec as u32).to_le_bytes());
        self.out.extend_from_slice(
            &(((ts - sec) * 1e6).round() as u32)
                .min(999_999)
                .to_le_bytes(),
        );
        self.out
            .extend_from_slice(&(frame_len as u32).to_le_bytes());
        self.out
            .extend_from_slice(&(frame_len as u32).to_le_bytes());
        // Ethernet
        self.out
            .extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        // IPv4
        self.out.extend_from_slice(&[0x45, 0]);
        self.out.extend_from_slice(&(ip_len as u16).to_be_bytes());
        self.out.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        self.out.extend_from_slice(&src.0);
        self.out.extend_from_slice(&dst.0);
        // TCP
        self.out.extend_from_slice(&src.1.to_be_bytes());
        self.out.extend_from_slice(&dst.1.to_be_bytes());
        self.out.extend_from_slice(&seq.to_be_bytes());
        self.out.extend_from_slice(&ack.to_be_bytes());
        self.out
            .extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        self.out.extend_from_slice(payload);
    }
}

/// One scripted connection: SYN handshake, then data in either direction
/// (each `send` is one segment, acknowledged by the peer's next segment).
#[derive(Debug, Clone)]
pub struct Conn {
    pub client: ([u8; 4], u16),
    pub server: ([u8; 4], u16),
    pub cseq: u32,
    pub sseq: u32,
    pub ts: f64,
}

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

impl Conn {
    pub fn new(client: ([u8; 4], u16), server: ([u8; 4], u16), ts: f64) -> Self {
        Conn {
            client,
            server,
            cseq: 1000,
            sseq: 5000,
            ts,
        }
    }

    fn tick(&mut self) -> f64 {
        self.ts += 0.000_1;
        self.ts
    }

    pub fn open(&mut self, w: &mut PcapWriter) {
        let t = self.tick();
        w.tcp(t, self.client, self.server, self.cseq, 0, SYN, &[]);
        let t = self.tick();
        w.tcp(
            t,
            self.server,
            self.client,
            self.sseq,
            self.cseq + 1,
            SYN | ACK,
            &[],
        );
        self.cseq += 1;
        self.sseq += 1;
    }

    /// A client segment.
    pub fn c2s(&mut self, w: &mut PcapWriter, data: &[u8]) {
        let t = self.tick();
        w.tcp(
            t,
            self.client,
            self.server,
            self.cseq,
            self.sseq,
            ACK | PSH,
            data,
        );
        self.cseq = self.cseq.wrapping_add(data.len() as u32);
    }

    /// A server segment.
    pub fn s2c(&mut self, w: &mut PcapWriter, data: &[u8]) {
        let t = self.tick();
        w.tcp(
            t,
            self.server,
            self.client,
            self.sseq,
            self.cseq,
            ACK | PSH,
            data,
        );
        self.sseq = self.sseq.wrapping_add(data.len() as u32);
    }

    /// A client segment sent as IPv4 fragments (see
    /// [`PcapWriter::tcp_fragments`]).
    pub fn c2s_fragments(
        &mut self,
        w: &mut PcapWriter,
        data: &[u8],
        id: u16,
        frag: usize,
        reverse: bool,
    ) {
        let t = self.tick();
        w.tcp_fragments(
            t,
            self.client,
            self.server,
            self.cseq,
            self.sseq,
            ACK | PSH,
            data,
            id,
            frag,
            reverse,
        );
        self.cseq = self.cseq.wrapping_add(data.len() as u32);
    }

    /// The upgrade: request with `extra` request headers, 101 with
    /// `resp_extra` response headers.
    pub fn upgrade(&mut self, w: &mut PcapWriter, extra: &str, resp_extra: &str) {
        let req = format!(
            "GET /ws HTTP/1.1\r\nHost: lab\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        );
        self.c2s(w, req.as_bytes());
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{resp_extra}\r\n",
            accept_for_key(KEY)
        );
        self.s2c(w, resp.as_bytes());
    }

    pub fn close(&mut self, w: &mut PcapWriter) {
        let t = self.tick();
        w.tcp(
            t,
            self.client,
            self.server,
            self.cseq,
            self.sseq,
            FIN | ACK,
            &[],
        );
        let t = self.tick();
        w.tcp(
            t,
            self.server,
            self.client,
            self.sseq,
            self.cseq + 1,
            FIN | ACK,
            &[],
        );
    }
}

/// A masked client frame.
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode_frame(
        &FrameSpec::new(opcode).masked([0x11, 0x22, 0x33, 0x44]),
        payload,
    )
}

/// An unmasked server frame.
pub fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode_frame(&FrameSpec::new(opcode), payload)
}

/// The capture `pcap` (legacy pcap, as [`PcapWriter`] writes it) with
/// every record after the first `keep` cut to `snaplen` bytes, as
/// `editcap -s` cuts them: each record's captured length shrinks, its
/// original length stays the packet's.
///
/// Test support, like [`ipv6_capture`]: `pcap` must be what
/// [`PcapWriter`] wrote; anything else panics.
#[allow(clippy::indexing_slicing, clippy::expect_used)]
pub fn snap(pcap: &[u8], snaplen: usize, keep: usize) -> Vec<u8> {
    let mut out = pcap[..24].to_vec();
    let mut rest = &pcap[24..];
    let mut n = 0;
    while rest.len() >= 16 {
        let (rec, after) = rest.split_at(16);
        let len = u32::from_le_bytes(rec[8..12].try_into().expect("4 bytes")) as usize;
        let (frame, after) = after.split_at(len);
        rest = after;
        let kept = if n < keep {
            frame
        } else {
            &frame[..len.min(snaplen)]
        };
        n += 1;
        out.extend_from_slice(&rec[..8]);
        out.extend_from_slice(&(kept.len() as u32).to_le_bytes());
        out.extend_from_slice(&rec[12..16]);
        out.extend_from_slice(kept);
    }
    out
}

/// The same capture over IPv6: every Ethernet/IPv4 record of the pcap `v4`
/// (as [`PcapWriter`] writes them) becomes Ethernet/IPv6, with addresses
/// `fd00::a.b.c.d`. With `frag`, a packet whose TCP segment is longer is
/// sent as IPv6 fragments carrying at most `frag` bytes (a multiple of 8)
/// each, behind a hop-by-hop options header (part of the unfragmentable
/// part), last fragment first.
///
/// Test and benchmark support: `v4` must be what [`PcapWriter`] wrote
/// (its fixed layout is sliced as such); anything else panics.
#[allow(clippy::indexing_slicing, clippy::expect_used)]
pub fn ipv6_capture(v4: &[u8], frag: Option<usize>) -> Vec<u8> {
    let mut out = v4[..24].to_vec();
    let mut rest = &v4[24..];
    let mut id = 0u32;
    while rest.len() >= 16 {
        let (rec, after) = rest.split_at(16);
        let len = u32::from_le_bytes(rec[8..12].try_into().expect("4 bytes")) as usize;
        let (frame, after) = after.split_at(len);
        rest = after;
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let tcp = &ip[ihl..usize::from(u16::from_be_bytes([ip[2], ip[3]]))];
        let addr = |a: &[u8]| {
            let mut v = [0u8; 16];
            v[0] = 0xfd;
            v[12..].copy_from_slice(a);
            v
        };
        let header = |next: u8, plen: usize| {
            let mut h = vec![0x60, 0, 0, 0];
            h.extend_from_slice(&(plen as u16).to_be_bytes());
            h.extend_from_slice(&[next, 64]);
            h.extend_from_slice(&addr(&ip[12..16]));
            h.extend_from_slice(&addr(&ip[16..20]));
            h
        };
        let mut push = |ip6: &[u8]| {
            let frame = [&frame[..12], &[0x86, 0xdd], ip6].concat();
            out.extend_from_slice(&rec[..8]);
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&frame);
        };
        match frag {
            Some(f) if tcp.len() > f => {
                assert!(f > 0 && f.is_multiple_of(8));
                id += 1;
                let n = tcp.len().div_ceil(f);
                for i in (0..n).rev() {
                    let piece = &tcp[i * f..tcp.len().min((i + 1) * f)];
                    let more = u16::from(i + 1 < n);
                    // Hop-by-hop: next = Fragment, length 0 (8 bytes), PadN.
                    let hbh = [44, 0, 1, 4, 0, 0, 0, 0];
                    let off = ((i * f) as u16) | more;
                    let mut fh = vec![6, 0];
                    fh.extend_from_slice(&off.to_be_bytes());
                    fh.extend_from_slice(&id.to_be_bytes());
                    push(&[&header(0, 16 + piece.len())[..], &hbh, &fh, piece].concat());
                }
            }
            _ => push(&[&header(6, tcp.len())[..], tcp].concat()),
        }
    }
    out
}
