//! One TCP connection, from its first bytes to its summary: the HTTP/1.1
//! upgrade handshake, then WebSocket frames in both directions through the
//! shared decoder (`crate::wire`), message reassembly, inflation, and the
//! records of all four logs.
//!
//! The session receives each direction's reassembled byte stream (and
//! gaps) from [`super::reassembly`]; it never sees packets. Detection does
//! not depend on ports: any stream whose first bytes parse as an HTTP
//! request with `Upgrade: websocket` followed by a 101 is followed. A
//! stream that cannot be an HTTP request (TLS, SSH...) is dropped after its
//! first bytes, so non-WebSocket traffic costs almost nothing.
//!
//! Memory per connection is bounded: handshake heads by `max_head`, bytes
//! waiting for the 101 by `max_pending`, previews by `payload_bytes`, control
//! payloads by 125 (+ slack) bytes, inflation by [`InflateLimits`].

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::Simd;
use base64::engine::general_purpose::PAD;
use bytes::BytesMut;

use super::logs::*;
use super::reassembly::Chunk;
use super::sides::Sides;
use crate::fingerprint::app_protocol::{HEAD_BYTES, head_of};
use crate::wire::decode::{header_len_needed, parse_header};
use crate::wire::deflate::{InflateLimits, InflateState, Inflater, PmdParams, parse_extensions};
use crate::wire::mask::apply_mask;
use crate::wire::request::{could_be_request, parse_request, split_list};
use crate::wire::response::parse_response;
use crate::wire::utf8::Utf8Stream;
use crate::wire::{
    AcceptCheck, Anomalies, CloseBody, Decoder, DecoderConfig, Event, FrameHeader, Opcode,
    RequestHead, ResponseHead, SliceEvent,
};

/// Knobs of the analysis (the CLI maps its flags onto these).
#[derive(Debug, Clone)]
pub struct Config {
    /// Payload preview per message, in bytes (0: none).
    pub payload_bytes: usize,
    /// Write `websocket_frame` records.
    pub frames: bool,
    pub inflate: InflateLimits,
    /// Handshake head cap, per direction.
    pub max_head: usize,
    /// Bytes buffered per direction while the handshake is incomplete.
    pub max_pending: usize,
    /// Keep this many unmasked payload bytes in each [`FrameLog`] (never
    /// serialised; for tests and library users).
    pub frame_payload_keep: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            payload_bytes: 256,
            frames: false,
            inflate: InflateLimits::default(),
            max_head: 16 * 1024,
            max_pending: 64 * 1024,
            frame_payload_keep: 0,
        }
    }
}

/// Anomalies beyond the frame-level ones of [`Anomalies`].
pub mod label {
    pub const ACCEPT_MISMATCH: &str = "accept_mismatch";
    pub const ACCEPT_MISSING: &str = "accept_missing";
    pub const MALFORMED_RESPONSE: &str = "malformed_response";
    /// A request head a strict parser rejects (a bare CR in a header line),
    /// followed after a lenient reading because it asked for an upgrade.
    pub const LENIENT_REQUEST: &str = "lenient_request";
    /// A 101 with `Upgrade: websocket` to a request that did not ask for a
    /// WebSocket upgrade in proper form (an odd Upgrade or Connection
    /// token); the connection is followed as WebSocket.
    pub const NONSTANDARD_UPGRADE: &str = "nonstandard_upgrade";
    pub const HANDSHAKE_INCOMPLETE: &str = "handshake_incomplete";
    pub const HEAD_TOO_LARGE: &str = "head_too_large";
    pub const DATA_BEFORE_101: &str = "data_before_101";
    pub const TCP_GAP: &str = "tcp_gap";
    /// A gap of bytes the capture cut off its packets (the snap length):
    /// counted in `gap_bytes` like a `tcp_gap`, but the packets were there.
    pub const SNAPLEN_TRUNCATED: &str = "snaplen_truncated";
    pub const RESYNC: &str = "resync";
    pub const RSV1_NOT_FIRST: &str = "rsv1_not_first_frame";
    pub const INFLATE_CAPPED: &str = "inflate_capped";
    pub const INFLATE_ERROR: &str = "inflate_error";
    pub const INFLATE_CONTEXT_LOST: &str = "inflate_context_lost";
    pub const BAD_EXTENSION_PARAMS: &str = "bad_extension_params";
    pub const EXTENSION_NOT_OFFERED: &str = "extension_not_offered";
    pub const MESSAGE_INCOMPLETE: &str = "message_incomplete";
    pub const DATA_AFTER_CLOSE: &str = "data_after_close";
}

/// Ordinary HTTP requests skipped on one connection before giving up on
/// seeing it upgrade.
pub const MAX_SKIPPED_REQUESTS: u32 = 32;
/// Bytes of skipped requests' and responses' bodies before giving up.
pub const MAX_SKIPPED_BYTES: u64 = 16 * 1024 * 1024;
/// A chunk-size or trailer line longer than this is not HTTP.
const MAX_CHUNK_LINE: usize = 4096;

/// Where a skipped HTTP message's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// This many bytes left.
    Length(u64),
    /// Chunked coding: expecting a chunk-size line, chunk data (with its
    /// CRLF), or trailer lines up to an empty one.
    ChunkSize,
    ChunkData(u64),
    Trailer,
}

/// Whether the final transfer coding is chunked.
fn is_chunked(te: Option<String>) -> bool {
    te.is_some_and(|v| {
        v.rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    })
}

/// `Content-Length` (absent: 0); `None` if it is not a number.
fn content_length(v: Option<&str>) -> Option<u64> {
    v.map_or(Some(0), |v| v.trim().parse().ok())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Http,
    WebSocket,
    /// Not (or no longer) something we follow; data is dropped.
    Ignored,
}

/// A message being reassembled.
#[derive(Debug)]
struct Msg {
    opcode: u8,
    compressed: bool,
    frames: u32,
    wire_len: u64,
    data_len: u64,
    preview: Vec<u8>,
    /// Bytes of the payload kept in `preview`: the preview's, or more for
    /// the first messages, whose heads name the app protocol.
    keep: usize,
    utf8: Option<Utf8Stream>,
    incomplete: bool,
    anomalies: Vec<String>,
}

/// A control frame being collected (at most [`CTRL_KEEP`] bytes).
#[derive(Debug)]
struct Ctrl {
    opcode: u8,
    data: Vec<u8>,
    len: u64,
    anomalies: Vec<String>,
}

const CTRL_KEEP: usize = 256;

/// The frame in progress, for the frame log.
#[derive(Debug)]
struct FrameCur {
    header: FrameHeader,
    payload: Option<Vec<u8>>,
}

struct WsDir {
    dec: Decoder,
    /// A partial frame header between chunks, or (resynchronising) the
    /// data being searched for a frame boundary.
    buf: BytesMut,
    /// Unmasked payload of the current chunk (reused).
    scratch: Vec<u8>,
    /// The message and frame records, reused: their strings and buffers
    /// keep their capacity from one record to the next.
    msg_log: MessageLog,
    frame_log: FrameLog,
    /// Spare buffers for the next message's preview and control payload.
    spare_preview: Vec<u8>,
    spare_ctrl: Vec<u8>,
    inflater: Option<Inflater>,
    frame: Option<FrameCur>,
    msg: Option<Msg>,
    ctrl: Option<Ctrl>,
    /// Lost the frame boundary after a gap; looking for the next one.
    resync: bool,
    /// Whether this direction's frames were masked so far (for resync).
    masked: Option<bool>,
    summary: DirSummary,
    /// Messages and bytes per opcode, folded into `summary.opcodes` at the
    /// end: counted in place, where the map's node was one more cache miss
    /// per message.
    per_opcode: [OpcodeCount; 16],
    last_ping: Option<f64>,
    ping_sum: f64,
    close: Option<(Option<u16>, String)>,
    /// The heads of this direction's first [`APP_HEADS`] data messages
    /// (see [`crate::fingerprint::app_protocol::head_of`]).
    heads: Vec<String>,
}

/// Data messages per direction whose heads are kept for the app protocol.
const APP_HEADS: usize = 2;

pub struct Session {
    pub head: Head,
    pub last_ts: f64,
    phase: Phase,
    /// Which side (0 = the flow's first sender) is the client.
    client: usize,
    /// Handshake-phase bytes per side.
    pending: Sides<BytesMut>,
    /// Sides whose first bytes cannot be an HTTP request.
    not_client: Sides<bool>,
    /// A request was seen, so `client` is settled.
    client_known: bool,
    /// Keep-alive requests skipped before the upgrade, and whether each
    /// still unanswered one was a HEAD (whose response has no body).
    skipped_requests: u32,
    outstanding: std::collections::VecDeque<bool>,
    /// The last request skipped: a server may upgrade it anyway.
    last_skipped: Option<RequestHead>,
    /// Body bytes being skipped per side, and their total.
    body: Sides<Option<Body>>,
    skipped_bytes: u64,
    request: Option<RequestHead>,
    response: Option<ResponseHead>,
    handshake_logged: bool,
    ws: Option<Box<Sides<WsDir>>>,
    pmd: Option<PmdParams>,
    anomalies: BTreeMap<String, u64>,
    handshake_anomalies: Vec<String>,
    close_from: Option<Direction>,
    /// Bytes seen in each direction before the session knew what they were.
    pub gap_bytes: Sides<u64>,
    pub fingerprint: Option<Hint>,
    /// The app protocol named from the agreed subprotocol or the server's
    /// first messages (set before [`Session::finish`]).
    pub app_protocol: Option<String>,
}

impl Session {
    /// `head` carries the flow's first sender as orig; it is swapped if the
    /// other side turns out to be the client.
    pub fn new(mut head: Head) -> Self {
        head.render();
        Session {
            last_ts: head.ts,
            head,
            phase: Phase::Http,
            client: 0,
            pending: Sides::default(),
            not_client: Sides::default(),
            client_known: false,
            skipped_requests: 0,
            last_skipped: None,
            outstanding: std::collections::VecDeque::new(),
            body: Sides::default(),
            skipped_bytes: 0,
            request: None,
            response: None,
            handshake_logged: false,
            ws: None,
            pmd: None,
            anomalies: BTreeMap::new(),
            handshake_anomalies: Vec::new(),
            close_from: None,
            gap_bytes: Sides::default(),
            fingerprint: None,
            app_protocol: None,
        }
    }

    /// The heads of the server's first data messages, oldest first.
    pub fn server_heads(&self) -> &[String] {
        self.ws.as_ref().map_or(&[], |ws| &ws[1].heads)
    }

    /// True once nothing more will be analysed (the flow table can stop
    /// reassembling this connection).
    pub fn ignored(&self) -> bool {
        self.phase == Phase::Ignored
    }

    pub fn upgraded(&self) -> bool {
        self.ws.is_some()
    }

    pub fn request(&self) -> Option<&RequestHead> {
        self.request.as_ref()
    }

    pub fn response(&self) -> Option<&ResponseHead> {
        self.response.as_ref()
    }

    /// The close code and reason the server sent, if it did.
    pub fn server_close(&self) -> Option<(Option<u16>, String)> {
        self.ws.as_ref()?[1].close.clone()
    }

    fn flag(&mut self, l: &str) {
        *self.anomalies.entry(l.to_string()).or_default() += 1;
    }

    /// Flag `l` on the connection and list it on the handshake's log.
    fn handshake_anomaly(&mut self, l: &str) {
        self.flag(l);
        self.handshake_anomalies.push(l.to_string());
    }

    /// Bytes (or a gap) from side `side` of the flow.
    pub fn chunk(
        &mut self,
        side: usize,
        chunk: Chunk<'_>,
        ts: f64,
        cfg: &Config,
        sink: &mut dyn Sink,
    ) {
        self.last_ts = ts;
        match self.phase {
            Phase::Ignored => {}
            Phase::Http => match chunk {
                Chunk::Gap(n) | Chunk::Cut(n) => {
                    // A hole in a handshake: the heads cannot be trusted,
                    // give up on this connection.
                    self.gap_bytes[side] += n;
                    self.flag(gap_label(&chunk));
                    self.finish_handshake_early(cfg, sink);
                    self.phase = Phase::Ignored;
                }
                Chunk::Data(d) => {
                    if self.pending[side].len() + d.len() > cfg.max_pending {
                        self.flag(label::HEAD_TOO_LARGE);
                        self.finish_handshake_early(cfg, sink);
                        self.phase = Phase::Ignored;
                        return;
                    }
                    self.pending[side].extend_from_slice(d);
                    self.advance_http(ts, cfg, sink);
                }
            },
            Phase::WebSocket => {
                let dir = if side == self.client {
                    Direction::C2s
                } else {
                    Direction::S2c
                };
                self.ws_chunk(dir, chunk, ts, cfg, sink);
            }
        }
    }

    /// Parse what the handshake-phase buffers hold, as far as they go.
    /// Ordinary keep-alive requests before the upgrade are skipped with
    /// their responses (bodies by `Content-Length` or chunked coding), within
    /// [`MAX_SKIPPED_REQUESTS`] and [`MAX_SKIPPED_BYTES`].
    fn advance_http(&mut self, ts: f64, cfg: &Config, sink: &mut dyn Sink) {
        while self.phase == Phase::Http {
            let mut progress = false;
            for side in 0..2 {
                match self.skip_body(side) {
                    Some(true) => progress = true,
                    Some(false) => {}
                    None => return self.give_up(),
                }
            }
            if self.request.is_none() {
                match self.next_request(cfg) {
                    Some(true) => progress = true,
                    Some(false) => {}
                    None => return self.give_up(),
                }
            }
            if self.phase != Phase::Http {
                return;
            }
            if self.client_known {
                let server = 1 - self.client;
                if self.body[server].is_none() && !self.pending[server].is_empty() {
                    if !self.outstanding.is_empty() {
                        match self.skip_response(cfg) {
                            Some(true) => progress = true,
                            Some(false) => {}
                            None => return self.give_up(),
                        }
                    } else if self.request.is_some() {
                        return self.upgrade_response(ts, cfg, sink);
                    }
                }
            }
            if !progress {
                return;
            }
        }
    }

    /// Not (or no longer) something we can follow: plain HTTP past the
    /// bounds, a body whose end is unknown, a malformed message.
    fn give_up(&mut self) {
        self.phase = Phase::Ignored;
    }

    /// Discard body bytes of the message in progress on `side`. `Some(true)`
    /// if the body ended, `None` if its framing is broken or over the bound.
    fn skip_body(&mut self, side: usize) -> Option<bool> {
        let buf = &mut self.pending[side];
        let mut done = false;
        loop {
            let took = match &mut self.body[side] {
                None => break,
                Some(Body::Length(n)) => {
                    let k = (*n).min(buf.len() as u64);
                    *n -= k;
                    if *n == 0 {
                        self.body[side] = None;
                        done = true;
                    }
                    k as usize
                }
                Some(Body::ChunkData(n)) => {
                    let k = (*n).min(buf.len() as u64);
                    *n -= k;
                    if *n == 0 {
                        self.body[side] = Some(Body::ChunkSize);
                    }
                    k as usize
                }
                Some(state @ (Body::ChunkSize | Body::Trailer)) => {
                    let Some(eol) = memchr::memmem::find(buf, b"\r\n") else {
                        if buf.len() > MAX_CHUNK_LINE {
                            return None;
                        }
                        break;
                    };
                    let line = buf.get(..eol).unwrap_or_default();
                    if *state == Body::Trailer {
                        if line.is_empty() {
                            self.body[side] = None;
                            done = true;
                        }
                    } else {
                        let hex = line.split(|&c| c == b';').next().unwrap_or(b"");
                        let hex = std::str::from_utf8(hex).ok()?.trim();
                        let n = u64::from_str_radix(hex, 16).ok()?;
                        self.body[side] = Some(if n == 0 {
                            Body::Trailer
                        } else {
                            // The chunk's data and its CRLF.
                            Body::ChunkData(n.checked_add(2)?)
                        });
                    }
                    eol + 2
                }
            };
            if took == 0 {
                break;
            }
            let _ = buf.split_to(took);
            self.skipped_bytes += took as u64;
            if self.skipped_bytes > MAX_SKIPPED_BYTES {
                return None;
            }
        }
        Some(done)
    }

    /// The next request head from the client (or, before the client is
    /// known, from whichever side sends one). `Some(true)` if one was
    /// taken, `None` if this cannot be followed.
    fn next_request(&mut self, cfg: &Config) -> Option<bool> {
        for side in 0..2 {
            if self.client_known && side != self.client {
                continue;
            }
            let buf = &self.pending[side];
            if buf.is_empty() || self.not_client[side] || self.body[side].is_some() {
                continue;
            }
            if !could_be_request(buf.get(..17).unwrap_or(buf)) {
                if self.client_known {
                    return None;
                }
                self.not_client[side] = true;
                continue;
            }
            match parse_request(buf, cfg.max_head, 64) {
                Ok(None) => {}
                Ok(Some(strict)) => {
                    // A bare LF ends a line for httparse, but servers that
                    // split lines on CRLF read on to the first blank CRLF
                    // line (probe 305 sends `13\n\r\n`): the bytes in
                    // between would otherwise be taken for frames.
                    let head = buf.get(..strict.head_len).unwrap_or(buf);
                    let bare_lf = memchr::memchr_iter(b'\n', head)
                        .any(|i| i.checked_sub(1).and_then(|p| head.get(p)) != Some(&b'\r'));
                    let (req, len) = match bare_lf.then(|| lenient_request(buf, cfg)).flatten() {
                        Some((l, len)) if len > strict.head_len && l.is_websocket_upgrade() => {
                            self.handshake_anomaly(label::LENIENT_REQUEST);
                            (l, len)
                        }
                        _ => {
                            let len = strict.head_len;
                            (strict, len)
                        }
                    };
                    let _ = self.pending[side].split_to(len);
                    self.set_client(side);
                    self.client_known = true;
                    if req.is_websocket_upgrade() {
                        self.request = Some(req);
                        return Some(true);
                    }
                    // An ordinary request on a connection that may upgrade
                    // later (HTTP/1.1 keep-alive): skip it and its response.
                    self.skipped_requests += 1;
                    if self.skipped_requests > MAX_SKIPPED_REQUESTS {
                        return None;
                    }
                    self.outstanding
                        .push_back(req.method.eq_ignore_ascii_case("HEAD"));
                    self.body[side] = if is_chunked(req.header_joined("Transfer-Encoding")) {
                        Some(Body::ChunkSize)
                    } else {
                        match content_length(req.header("Content-Length"))? {
                            0 => None,
                            n => Some(Body::Length(n)),
                        }
                    };
                    self.last_skipped = Some(req);
                    return Some(true);
                }
                Err(_) => match lenient_request(buf, cfg) {
                    // Servers that read line by line accept such a head and
                    // upgrade (the lab's scans send one: probe 306).
                    Some((req, len)) if req.is_websocket_upgrade() => {
                        let _ = self.pending[side].split_to(len);
                        self.set_client(side);
                        self.client_known = true;
                        self.handshake_anomaly(label::LENIENT_REQUEST);
                        self.request = Some(req);
                        return Some(true);
                    }
                    _ if self.client_known => return None,
                    _ => self.not_client[side] = true,
                },
            }
        }
        if self.not_client[0] && self.not_client[1] {
            return None;
        }
        Some(false)
    }

    /// The response to the oldest skipped request: its head, and how its
    /// body ends (RFC 9112 §6.3). A body that runs to the end of the
    /// connection leaves nothing to upgrade.
    fn skip_response(&mut self, cfg: &Config) -> Option<bool> {
        let server = 1 - self.client;
        let resp = match parse_response(&self.pending[server], cfg.max_head, 64) {
            Ok(None) => return Some(false),
            Ok(Some(r)) => r,
            Err(_) => return None,
        };
        if resp.status == 101 {
            // The server upgraded a request that is not a proper WebSocket
            // upgrade (probe 701's `Upgrade: websocketa`): follow it as
            // one, flagged, if the 101 says websocket and it answers the
            // last request.
            let websocket = resp
                .header("Upgrade")
                .is_some_and(|u| u.trim().eq_ignore_ascii_case("websocket"));
            return match self.last_skipped.take() {
                Some(req) if websocket && self.outstanding.len() == 1 => {
                    self.outstanding.clear();
                    self.request = Some(req);
                    self.handshake_anomaly(label::NONSTANDARD_UPGRADE);
                    Some(true)
                }
                _ => None,
            };
        }
        let _ = self.pending[server].split_to(resp.head_len);
        if (100..200).contains(&resp.status) {
            // Interim (100 Continue): the final response follows.
            return if resp.status == 101 { None } else { Some(true) };
        }
        // Called only with a request outstanding.
        let head_request = self.outstanding.pop_front()?;
        self.body[server] = if head_request || resp.status == 204 || resp.status == 304 {
            None
        } else if is_chunked(resp.header_joined("Transfer-Encoding")) {
            Some(Body::ChunkSize)
        } else {
            // Without a length the body is delimited by the close.
            let len = resp.header("Content-Length")?;
            match content_length(Some(len))? {
                0 => None,
                n => Some(Body::Length(n)),
            }
        };
        Some(true)
    }

    /// The response to the upgrade request.
    fn upgrade_response(&mut self, ts: f64, cfg: &Config, sink: &mut dyn Sink) {
        let server = 1 - self.client;
        match parse_response(&self.pending[server], cfg.max_head, 64) {
            Ok(None) => {}
            Err(_) => {
                self.handshake_anomaly(label::MALFORMED_RESPONSE);
                self.finish_handshake_early(cfg, sink);
                self.phase = Phase::Ignored;
            }
            Ok(Some(resp)) => {
                let _ = self.pending[server].split_to(resp.head_len);
                let upgraded = resp.status == 101;
                self.response = Some(resp);
                if upgraded {
                    self.start_websocket(cfg);
                }
                self.log_handshake(ts, sink);
                if upgraded {
                    // Frames that arrived with (or right after) the heads.
                    let client = self.client;
                    for (side, dir) in [(client, Direction::C2s), (1 - client, Direction::S2c)] {
                        let rest = std::mem::take(&mut self.pending[side]);
                        if !rest.is_empty() {
                            self.ws_chunk(dir, Chunk::Data(&rest), ts, cfg, sink);
                        }
                    }
                } else {
                    self.phase = Phase::Ignored;
                }
            }
        }
    }

    fn set_client(&mut self, side: usize) {
        if side != self.client {
            self.client = side;
            let h = &mut self.head;
            std::mem::swap(&mut h.orig_h, &mut h.resp_h);
            std::mem::swap(&mut h.orig_p, &mut h.resp_p);
            h.render();
        }
    }

    fn start_websocket(&mut self, cfg: &Config) {
        // Called once both heads are in.
        let (Some(resp), Some(req)) = (self.response.as_ref(), self.request.as_ref()) else {
            return;
        };
        let mut anomalies = Vec::new();
        if let Some(v) = resp.header_joined("Sec-WebSocket-Extensions") {
            match PmdParams::from_response(&v) {
                Some(Ok(p)) => self.pmd = Some(p),
                Some(Err((p, why))) => {
                    self.pmd = Some(p);
                    anomalies.push(format!("{}: {why}", label::BAD_EXTENSION_PARAMS));
                }
                None => {}
            }
            let offered: Vec<String> = req
                .header_joined("Sec-WebSocket-Extensions")
                .map(|o| parse_extensions(&o).into_iter().map(|e| e.name).collect())
                .unwrap_or_default();
            if parse_extensions(&v)
                .iter()
                .any(|e| !offered.contains(&e.name))
            {
                anomalies.push(label::EXTENSION_NOT_OFFERED.to_string());
            }
        }
        for a in anomalies {
            self.flag(a.split(':').next().unwrap_or(&a));
            self.handshake_anomalies.push(a);
        }
        let rsv = if self.pmd.is_some() { 4 } else { 0 };
        let mk = |dir: Direction| {
            let mut dc = match dir {
                Direction::C2s => DecoderConfig::from_client(),
                Direction::S2c => DecoderConfig::from_server(),
            };
            dc.allowed_rsv = rsv;
            let inflater = self.pmd.map(|p| {
                Inflater::new(match dir {
                    Direction::C2s => p.client_no_context_takeover,
                    Direction::S2c => p.server_no_context_takeover,
                })
            });
            let _ = cfg;
            WsDir {
                dec: Decoder::new(dc),
                buf: BytesMut::new(),
                scratch: Vec::new(),
                msg_log: MessageLog {
                    head: self.head.clone(),
                    log: "websocket_message",
                    direction: dir,
                    opcode: 0,
                    length: 0,
                    compressed: false,
                    inflated_length: None,
                    frames: 0,
                    payload: None,
                    payload_encoding: None,
                    truncated: false,
                    close_code: None,
                    close_reason: None,
                    anomalies: Vec::new(),
                },
                frame_log: FrameLog {
                    head: self.head.clone(),
                    log: "websocket_frame",
                    direction: dir,
                    fin: false,
                    rsv: 0,
                    opcode: 0,
                    masked: false,
                    length: 0,
                    truncated: false,
                    payload: None,
                },
                spare_preview: Vec::new(),
                spare_ctrl: Vec::new(),
                heads: Vec::new(),
                inflater,
                frame: None,
                msg: None,
                ctrl: None,
                resync: false,
                masked: None,
                summary: DirSummary::default(),
                per_opcode: Default::default(),
                last_ping: None,
                ping_sum: 0.0,
                close: None,
            }
        };
        self.ws = Some(Box::new(Sides([mk(Direction::C2s), mk(Direction::S2c)])));
        self.phase = Phase::WebSocket;
    }

    /// A request without (usable) response: log what we have.
    fn finish_handshake_early(&mut self, _cfg: &Config, sink: &mut dyn Sink) {
        if self.request.is_some() && !self.handshake_logged {
            if self.response.is_none() {
                self.handshake_anomalies
                    .push(label::HANDSHAKE_INCOMPLETE.to_string());
            }
            self.log_handshake(self.last_ts, sink);
        }
    }

    fn log_handshake(&mut self, ts: f64, sink: &mut dyn Sink) {
        if self.handshake_logged {
            return;
        }
        self.handshake_logged = true;
        let Some(req) = &self.request else { return };
        let resp = self.response.as_ref();
        let key = req
            .header("Sec-WebSocket-Key")
            .map(|k| k.trim().to_string());
        let accept = resp.filter(|r| r.status == 101).map(|r| match &key {
            Some(k) => r.accept_check(k),
            None => AcceptCheck::Mismatch,
        });
        let accept_label = accept.map(|a| match a {
            AcceptCheck::Valid => "valid",
            AcceptCheck::Mismatch => "mismatch",
            AcceptCheck::Missing => "missing",
        });
        let mut anomalies = std::mem::take(&mut self.handshake_anomalies);
        match accept {
            Some(AcceptCheck::Mismatch) => anomalies.push(label::ACCEPT_MISMATCH.into()),
            Some(AcceptCheck::Missing) => anomalies.push(label::ACCEPT_MISSING.into()),
            _ => {}
        }
        for a in &anomalies {
            if a.starts_with("accept_") || a == label::HANDSHAKE_INCOMPLETE {
                *self.anomalies.entry(a.clone()).or_default() += 1;
            }
        }
        let list = |h: Option<String>| h.map(|v| split_list(&v)).unwrap_or_default();
        let rec = HandshakeLog {
            head: Head {
                ts,
                ..self.head.clone()
            },
            log: "websocket_handshake",
            method: req.method.clone(),
            host: req.header("Host").map(str::to_string),
            uri: req.uri.clone(),
            origin: req
                .header("Origin")
                .or_else(|| req.header("Sec-WebSocket-Origin"))
                .map(str::to_string),
            user_agent: req.header("User-Agent").map(str::to_string),
            version: req.header("Sec-WebSocket-Version").map(str::to_string),
            client_protocols: list(req.header_joined("Sec-WebSocket-Protocol")),
            client_extensions: list(req.header_joined("Sec-WebSocket-Extensions")),
            status: resp.map(|r| r.status),
            reason: resp.map(|r| r.reason.clone()),
            server: resp.and_then(|r| r.header("Server")).map(str::to_string),
            subprotocol: resp.and_then(|r| r.header_joined("Sec-WebSocket-Protocol")),
            server_extensions: list(resp.and_then(|r| r.header_joined("Sec-WebSocket-Extensions"))),
            accept: accept_label,
            key,
            server_accept: resp
                .and_then(|r| r.header("Sec-WebSocket-Accept"))
                .map(str::to_string),
            permessage_deflate: self.pmd,
            anomalies,
        };
        sink.record(Record::Handshake(rec));
    }

    fn ws_chunk(
        &mut self,
        dir: Direction,
        chunk: Chunk<'_>,
        ts: f64,
        cfg: &Config,
        sink: &mut dyn Sink,
    ) {
        let Session { head, ws, .. } = self;
        let head = &*head;
        // Only called in the WebSocket phase, which has its decoders.
        let Some(ws) = ws.as_mut() else {
            return;
        };
        let d = &mut ws[dir.index()];
        let mut flags: Vec<&'static str> = Vec::new();
        match chunk {
            Chunk::Gap(n) | Chunk::Cut(n) => {
                d.summary.gap_bytes += n;
                let l = gap_label(&chunk);
                flags.push(l);
                if !d.resync {
                    let inside = d.dec.skip_payload(n);
                    if let Some(m) = &mut d.msg {
                        m.incomplete = true;
                        m.wire_len += inside;
                        if !m.anomalies.iter().any(|a| a == l) {
                            m.anomalies.push(l.to_string());
                        }
                    }
                    if let Some(c) = &mut d.ctrl {
                        c.len += inside;
                    }
                    if let Some(inf) = &mut d.inflater
                        && d.msg.as_ref().is_some_and(|m| m.compressed)
                    {
                        inf.lose_context();
                    }
                    if inside < n || (inside == 0 && d.dec.at_boundary()) {
                        // The gap crossed a frame boundary: where the next
                        // frame starts is unknown.
                        d.finish_frame(head, ts, cfg, sink, true);
                        d.finish_message(head, ts, cfg, sink, &mut flags, true);
                        d.dec.resync();
                        d.buf.clear();
                        d.resync = true;
                    }
                }
            }
            Chunk::Data(mut data) if !d.resync => {
                // Complete a header left over from the previous chunk with
                // just the bytes it lacks; everything after it is decoded in
                // place, straight from the packet.
                while !d.buf.is_empty() && !data.is_empty() {
                    let need = header_len_needed(&d.buf).saturating_sub(d.buf.len());
                    let (head_bytes, rest) = data.split_at(need.clamp(1, data.len()));
                    d.buf.extend_from_slice(head_bytes);
                    data = rest;
                    d.pump(head, ts, cfg, sink, &mut flags);
                }
                if d.buf.is_empty() {
                    d.pump_slice(data, head, ts, cfg, sink, &mut flags);
                }
            }
            Chunk::Data(data) => {
                d.buf.extend_from_slice(data);
                if d.resync {
                    match d.find_boundary() {
                        Some(at) => {
                            let _ = d.buf.split_to(at);
                            d.resync = false;
                            flags.push(label::RESYNC);
                        }
                        None => {
                            // Keep a possible header's worth for next time.
                            let keep = d.buf.len().min(13);
                            let _ = d.buf.split_to(d.buf.len() - keep);
                        }
                    }
                }
                if !d.resync {
                    d.pump(head, ts, cfg, sink, &mut flags);
                }
            }
        }
        let closed = d.close.is_some();
        for f in flags {
            self.flag(f);
        }
        if closed && self.close_from.is_none() {
            self.close_from = Some(dir);
        }
    }

    /// The connection ended: flush partial frames and messages, then write
    /// the summary.
    pub fn finish(&mut self, end: &'static str, cfg: &Config, sink: &mut dyn Sink) {
        if self.phase == Phase::Http || (self.request.is_some() && !self.handshake_logged) {
            self.finish_handshake_early(cfg, sink);
        }
        let Some(ws) = self.ws.as_mut() else {
            return;
        };
        let head = self.head.clone();
        let ts = self.last_ts;
        let mut flags = Vec::new();
        for d in ws.iter_mut() {
            if d.frame.is_some() || d.msg.is_some() || d.ctrl.is_some() {
                d.finish_frame(&head, ts, cfg, sink, true);
                d.finish_message(&head, ts, cfg, sink, &mut flags, true);
            }
        }
        for f in flags {
            self.flag(f);
        }
        let Some(ws) = self.ws.as_mut() else {
            return;
        };
        let close = ws[self.close_from.map_or(1, Direction::index)]
            .close
            .clone()
            .or_else(|| ws[0].close.clone());
        let take_summary = |d: &mut WsDir| {
            let mut s = std::mem::take(&mut d.summary);
            for (op, c) in (0u8..).zip(d.per_opcode) {
                if c.messages > 0 {
                    s.opcodes.insert(op, c);
                }
            }
            d.per_opcode = Default::default();
            if s.pings > 1
                && let Some(iv) = &mut s.ping_interval
            {
                iv.mean = d.ping_sum / iv.count as f64;
            }
            s
        };
        let c2s = take_summary(&mut ws[0]);
        let s2c = take_summary(&mut ws[1]);
        let rec = ConnectionLog {
            head: self.head.clone(),
            log: "websocket_connection",
            duration: round6(self.last_ts - self.head.ts),
            upgraded: true,
            c2s,
            s2c,
            close_code: close.as_ref().and_then(|c| c.0),
            close_reason: close.map(|c| c.1),
            close_from: self.close_from,
            end,
            anomalies: std::mem::take(&mut self.anomalies),
            fingerprint: self.fingerprint.take(),
            app_protocol: self.app_protocol.take(),
        };
        sink.record(Record::Connection(rec));
    }
}

/// The anomaly a gap is flagged with: why the bytes are missing.
fn gap_label(c: &Chunk<'_>) -> &'static str {
    match c {
        Chunk::Cut(_) => label::SNAPLEN_TRUNCATED,
        _ => label::TCP_GAP,
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

impl WsDir {
    /// Run the decoder over the buffered bytes.
    fn pump(
        &mut self,
        head: &Head,
        ts: f64,
        cfg: &Config,
        sink: &mut dyn Sink,
        flags: &mut Vec<&'static str>,
    ) {
        while let Some(ev) = self.dec.poll(&mut self.buf) {
            match ev {
                Event::Header(h) => self.on_header(h, head, ts, cfg, sink, flags),
                Event::Payload(b) => self.on_payload(&b, cfg),
                Event::End => self.on_end(head, ts, cfg, sink, flags),
            }
        }
    }

    /// Run the decoder over `src` in place; a trailing partial header is
    /// kept in `buf`. Masked payload is unmasked into a reused scratch
    /// buffer.
    fn pump_slice(
        &mut self,
        mut src: &[u8],
        head: &Head,
        ts: f64,
        cfg: &Config,
        sink: &mut dyn Sink,
        flags: &mut Vec<&'static str>,
    ) {
        while let Some(ev) = self.dec.poll_slice(&mut src) {
            match ev {
                SliceEvent::Header(h) => self.on_header(h, head, ts, cfg, sink, flags),
                SliceEvent::Payload { data, mask: None } => self.on_payload(data, cfg),
                SliceEvent::Payload {
                    data,
                    mask: Some((key, offset)),
                } => {
                    let mut s = std::mem::take(&mut self.scratch);
                    s.clear();
                    s.extend_from_slice(data);
                    apply_mask(&mut s, key, offset);
                    self.on_payload(&s, cfg);
                    self.scratch = s;
                }
                SliceEvent::End => self.on_end(head, ts, cfg, sink, flags),
            }
        }
        self.buf.extend_from_slice(src);
    }

    fn on_header(
        &mut self,
        h: FrameHeader,
        head: &Head,
        ts: f64,
        cfg: &Config,
        sink: &mut dyn Sink,
        flags: &mut Vec<&'static str>,
    ) {
        self.summary.frames += 1;
        self.summary.bytes = self.summary.bytes.saturating_add(h.payload_len);
        self.masked.get_or_insert(h.mask.is_some());
        let a = h.anomalies;
        // A frame after our own close frame is a protocol error (§5.5.1).
        if self.close.is_some() {
            flags.push(label::DATA_AFTER_CLOSE);
        }
        let compressed_first = h.rsv & 4 != 0 && self.inflater.is_some();
        if compressed_first && (h.opcode.is_control() || h.opcode == Opcode::CONTINUATION) {
            flags.push(label::RSV1_NOT_FIRST);
        }
        // (Checked first: listing the labels walks every flag, per frame.)
        let labels = if a.is_empty() { Vec::new() } else { a.labels() };
        flags.extend_from_slice(&labels);
        self.frame = Some(FrameCur {
            header: h,
            payload: (cfg.frame_payload_keep > 0).then(Vec::new),
        });
        if h.opcode.is_control() {
            let mut data = std::mem::take(&mut self.spare_ctrl);
            data.clear();
            self.ctrl = Some(Ctrl {
                opcode: h.opcode.0,
                data,
                len: 0,
                anomalies: labels.iter().map(|l| l.to_string()).collect(),
            });
            return;
        }
        if h.opcode == Opcode::CONTINUATION
            && let Some(m) = &mut self.msg
        {
            m.frames += 1;
            for &l in &labels {
                if !m.anomalies.iter().any(|x| x == l) {
                    m.anomalies.push(l.to_string());
                }
            }
            return;
        }
        if self.msg.is_some() {
            // A new data frame inside an open message: that one is over.
            self.finish_message(head, ts, cfg, sink, flags, true);
        }
        let compressed = compressed_first && h.opcode != Opcode::CONTINUATION;
        if compressed && let Some(inf) = &mut self.inflater {
            inf.begin();
        }
        let mut preview = std::mem::take(&mut self.spare_preview);
        preview.clear();
        let keep = if self.heads.len() < APP_HEADS {
            cfg.payload_bytes.max(HEAD_BYTES)
        } else {
            cfg.payload_bytes
        };
        self.msg = Some(Msg {
            keep,
            opcode: h.opcode.0,
            compressed,
            frames: 1,
            wire_len: 0,
            data_len: 0,
            preview,
            utf8: (h.opcode == Opcode::TEXT).then(Utf8Stream::new),
            incomplete: false,
            anomalies: labels.iter().map(|l| l.to_string()).collect(),
        });
    }

    fn on_payload(&mut self, b: &[u8], cfg: &Config) {
        if let Some(f) = &mut self.frame
            && let Some(p) = &mut f.payload
        {
            let room = cfg.frame_payload_keep.saturating_sub(p.len());
            p.extend_from_slice(b.get(..room).unwrap_or(b));
        }
        if let Some(c) = &mut self.ctrl {
            c.len += b.len() as u64;
            let room = CTRL_KEEP.saturating_sub(c.data.len());
            c.data.extend_from_slice(b.get(..room).unwrap_or(b));
            return;
        }
        let Some(m) = &mut self.msg else { return };
        m.wire_len += b.len() as u64;
        // A message is compressed only where an inflater was negotiated.
        if m.compressed
            && let Some(inf) = self.inflater.as_mut()
        {
            inf.feed(b, &cfg.inflate, &mut |out| take(m, out));
        } else {
            take(m, b);
        }
    }

    fn on_end(
        &mut self,
        head: &Head,
        ts: f64,
        cfg: &Config,
        sink: &mut dyn Sink,
        flags: &mut Vec<&'static str>,
    ) {
        let fin = self.frame.as_ref().is_some_and(|f| f.header.fin);
        self.finish_frame(head, ts, cfg, sink, false);
        if self.ctrl.is_some() || fin {
            self.finish_message(head, ts, cfg, sink, flags, false);
        }
    }

    fn finish_frame(
        &mut self,
        head: &Head,
        ts: f64,
        cfg: &Config,
        sink: &mut dyn Sink,
        partial: bool,
    ) {
        let Some(f) = self.frame.take() else { return };
        if !cfg.frames {
            return;
        }
        let h = f.header;
        let r = &mut self.frame_log;
        debug_assert_eq!(r.head.uid, head.uid);
        r.head.ts = ts;
        r.fin = h.fin;
        r.rsv = h.rsv;
        r.opcode = h.opcode.0;
        r.masked = h.mask.is_some();
        r.length = h.payload_len;
        r.truncated = partial;
        r.payload = f.payload;
        sink.frame(r);
    }

    /// Write the open control frame, or else the open data message.
    /// `partial`: the stream ended or broke inside it.
    fn finish_message(
        &mut self,
        head: &Head,
        ts: f64,
        cfg: &Config,
        sink: &mut dyn Sink,
        flags: &mut Vec<&'static str>,
        partial: bool,
    ) {
        debug_assert_eq!(self.msg_log.head.uid, head.uid);
        self.msg_log.head.ts = ts;
        if let Some(mut c) = self.ctrl.take() {
            let mut anomalies = std::mem::take(&mut c.anomalies);
            let (mut close_code, mut close_reason) = (None, None);
            if c.opcode == 8 {
                let body = CloseBody::parse(c.data.get(..125).unwrap_or(&c.data));
                for l in body.anomalies.labels() {
                    flags.push(l);
                    anomalies.push(l.to_string());
                }
                close_code = body.code;
                let reason = body.reason_lossy();
                if self.close.is_none() {
                    self.close = Some((body.code, reason.clone()));
                }
                close_reason = Some(reason);
            }
            if c.opcode == 9 {
                self.summary.pings += 1;
                if let Some(last) = self.last_ping {
                    let dt = ts - last;
                    self.ping_sum += dt;
                    let iv = self.summary.ping_interval.get_or_insert(IntervalStats {
                        count: 0,
                        min: f64::INFINITY,
                        mean: 0.0,
                        max: 0.0,
                    });
                    iv.count += 1;
                    iv.min = iv.min.min(dt);
                    iv.max = iv.max.max(dt);
                    iv.mean = self.ping_sum / iv.count as f64;
                }
                self.last_ping = Some(ts);
            }
            if partial {
                anomalies.push(label::MESSAGE_INCOMPLETE.to_string());
                flags.push(label::MESSAGE_INCOMPLETE);
            }
            if let Some(oc) = self.per_opcode.get_mut(usize::from(c.opcode & 15)) {
                oc.messages += 1;
                oc.bytes += c.len;
            }
            self.summary.messages += 1;
            let shown = c.data.get(..cfg.payload_bytes).unwrap_or(&c.data);
            let r = &mut self.msg_log;
            set_preview(r, shown, false, cfg);
            r.opcode = c.opcode;
            r.length = c.len;
            r.compressed = false;
            r.inflated_length = None;
            r.frames = 1;
            r.truncated = partial || (c.len as usize) > shown.len();
            r.close_code = close_code;
            r.close_reason = close_reason;
            r.anomalies = anomalies;
            sink.message(r);
            self.spare_ctrl = c.data;
            return;
        }
        let Some(mut m) = self.msg.take() else { return };
        let mut anomalies = std::mem::take(&mut m.anomalies);
        let mut incomplete = partial || m.incomplete;
        if m.compressed
            && let Some(inf) = self.inflater.as_mut()
        {
            let state = if incomplete {
                inf.state()
            } else {
                inf.finish(&cfg.inflate, &mut |out| take(&mut m, out))
            };
            let l = match state {
                InflateState::Ok => None,
                InflateState::Capped => Some(label::INFLATE_CAPPED),
                InflateState::Error => Some(label::INFLATE_ERROR),
                InflateState::ContextLost => Some(label::INFLATE_CONTEXT_LOST),
            };
            if let Some(l) = l {
                flags.push(l);
                anomalies.push(l.to_string());
                incomplete = true;
            }
        }
        if partial {
            anomalies.push(label::MESSAGE_INCOMPLETE.to_string());
            flags.push(label::MESSAGE_INCOMPLETE);
        }
        if let Some(u) = &m.utf8
            && !incomplete
            && !u.finish()
        {
            for l in Anomalies::TEXT_INVALID_UTF8.labels() {
                flags.push(l);
                anomalies.push(l.to_string());
            }
        }
        if let Some(oc) = self.per_opcode.get_mut(usize::from(m.opcode & 15)) {
            oc.messages += 1;
            oc.bytes += m.wire_len;
        }
        self.summary.messages += 1;
        let text = m.opcode == 1 && m.utf8.as_ref().is_some_and(|u| !u.is_invalid());
        if self.heads.len() < APP_HEADS && !partial {
            self.heads.push(head_of(&m.preview));
        }
        let shown = m.preview.get(..cfg.payload_bytes).unwrap_or(&m.preview);
        let r = &mut self.msg_log;
        set_preview(r, shown, text, cfg);
        r.opcode = m.opcode;
        r.length = m.wire_len;
        r.compressed = m.compressed;
        r.inflated_length = m.compressed.then_some(m.data_len);
        r.frames = m.frames;
        r.truncated = incomplete || m.data_len > shown.len() as u64;
        r.close_code = None;
        r.close_reason = None;
        r.anomalies = anomalies;
        sink.message(r);
        self.spare_preview = m.preview;
    }

    /// After a gap: the first offset in `buf` where a plausible frame
    /// header starts. Plausible: a defined opcode, no RSV bits beyond the
    /// negotiated ones, the direction's masking, control frames short and
    /// final, and either the frame runs to the end of the data we have or
    /// another plausible header follows it.
    fn find_boundary(&self) -> Option<usize> {
        let cfg = self.dec.config();
        let ok = |h: &FrameHeader| {
            matches!(h.opcode.0, 0 | 1 | 2 | 8 | 9 | 10)
                && h.rsv & !cfg.allowed_rsv == 0
                && self.masked.is_none_or(|m| m == h.mask.is_some())
                && (!h.opcode.is_control() || (h.fin && h.payload_len <= 125))
                && h.payload_len < 1 << 31
        };
        let limit = self.buf.len().min(64 * 1024);
        (0..limit).find(|&i| {
            let rest = self.buf.get(i..).unwrap_or_default();
            let Some(h) = parse_header(rest, cfg).filter(ok) else {
                return false;
            };
            let end = i as u64 + h.header_len as u64 + h.payload_len;
            if end >= self.buf.len() as u64 {
                // Runs to (or past) the data we have: accept it only at the
                // start of a segment's data, the likeliest boundary.
                return i == 0 || end == self.buf.len() as u64;
            }
            self.buf
                .get(end as usize..)
                .and_then(|next| parse_header(next, cfg))
                .is_some_and(|n| ok(&n))
        })
    }
}

/// Account inflated (or plain) message bytes, keeping a bounded preview
/// and checking UTF-8 as they pass.
fn take(m: &mut Msg, data: &[u8]) {
    m.data_len += data.len() as u64;
    if let Some(u) = &mut m.utf8 {
        u.feed(data);
    }
    let room = m.keep.saturating_sub(m.preview.len());
    if room > 0 {
        m.preview
            .extend_from_slice(data.get(..room).unwrap_or(data));
    }
}

/// Fill the record's preview (none with `--payload-bytes 0`), reusing its
/// string.
fn set_preview(r: &mut MessageLog, bytes: &[u8], text: bool, cfg: &Config) {
    if cfg.payload_bytes == 0 {
        r.payload = None;
        r.payload_encoding = None;
        return;
    }
    let out = r.payload.get_or_insert_with(String::new);
    out.clear();
    r.payload_encoding = Some(preview(bytes, text, out));
}

/// The preview as text (when it is a valid text message; a character cut
/// by the preview limit is dropped) or base64, appended to `out`.
fn preview(bytes: &[u8], text: bool, out: &mut String) -> &'static str {
    if text {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return "text";
            }
            // Valid but for a character cut at the end: the text before it.
            Err(e) if e.error_len().is_none() => {
                if let Some(valid) = bytes
                    .get(..e.valid_up_to())
                    .and_then(|b| std::str::from_utf8(b).ok())
                {
                    out.push_str(valid);
                    return "text";
                }
            }
            Err(_) => {}
        }
    }
    // Encoded in place at the end of `out`: `encode_string` goes through a
    // chunked encoder that clears a 1 KiB buffer per call.
    let mut v = std::mem::take(out).into_bytes();
    let at = v.len();
    v.resize(at + bytes.len().div_ceil(3) * 4, 0);
    // Sized for the encoding just above, so it fits.
    let n = v
        .get_mut(at..)
        .and_then(|dst| BASE64.encode_slice(bytes, dst).ok())
        .unwrap_or(0);
    v.truncate(at + n);
    // Base64 is ASCII, so this is never lossy.
    *out =
        String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    "base64"
}

/// The standard alphabet with padding, on the SIMD engine where the CPU
/// has one (the same output as `general_purpose::STANDARD`, a few times
/// faster; binary previews are a large share of the log).
static BASE64: std::sync::LazyLock<Simd> = std::sync::LazyLock::new(|| Simd::standard(PAD));

/// A request head read as servers that split lines on CRLF do: up to the
/// first blank CRLF line, with bare CRs and bare LFs (not part of a CRLF)
/// dropped. Returns the head and its length in `buf`.
fn lenient_request(buf: &[u8], cfg: &Config) -> Option<(crate::wire::RequestHead, usize)> {
    let window = buf.get(..cfg.max_head).unwrap_or(buf);
    let end = memchr::memmem::find(window, b"\r\n\r\n")? + 4;
    let head = window.get(..end)?;
    let cleaned: Vec<u8> = head
        .iter()
        .enumerate()
        .filter(|&(i, &b)| match b {
            b'\r' => head.get(i + 1) == Some(&b'\n'),
            b'\n' => i.checked_sub(1).and_then(|p| head.get(p)) == Some(&b'\r'),
            _ => true,
        })
        .map(|(_, &b)| b)
        .collect();
    match parse_request(&cleaned, cfg.max_head, 64) {
        Ok(Some(req)) if req.head_len == cleaned.len() => Some((req, end)),
        _ => None,
    }
}
