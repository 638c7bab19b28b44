//! The log records and where they go.
//!
//! Records are NDJSON objects with Zeek's connection naming (`ts`, `uid`,
//! `id.orig_h`, `id.orig_p`, `id.resp_h`, `id.resp_p`), so a SIEM that maps
//! Zeek logs joins these on `uid` without a new parser. Every record also
//! says which log it belongs to in `log`, so one stream can carry all four.
//! `docs/passive.md` documents every field.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

use crate::wire::deflate::PmdParams;

/// The fields every record starts with.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Head {
    pub ts: f64,
    pub uid: String,
    #[serde(rename = "id.orig_h")]
    pub orig_h: IpAddr,
    #[serde(rename = "id.orig_p")]
    pub orig_p: u16,
    #[serde(rename = "id.resp_h")]
    pub resp_h: IpAddr,
    #[serde(rename = "id.resp_p")]
    pub resp_p: u16,
    /// `,"uid":..,"id.resp_p":N` pre-rendered once per connection (see
    /// [`Head::render`]); formatting addresses per record was a tenth of
    /// the pipeline's time.
    #[serde(skip)]
    pub ids_json: Option<std::sync::Arc<str>>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    C2s,
    S2c,
}

impl Direction {
    pub fn index(self) -> usize {
        self as usize
    }
}

/// `websocket_handshake`: one per upgrade request, written when its
/// response is seen (or when the connection ends without one).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HandshakeLog {
    #[serde(flatten)]
    pub head: Head,
    pub log: &'static str,
    pub method: String,
    pub host: Option<String>,
    pub uri: String,
    pub origin: Option<String>,
    pub user_agent: Option<String>,
    /// `Sec-WebSocket-Version` sent by the client.
    pub version: Option<String>,
    pub client_protocols: Vec<String>,
    pub client_extensions: Vec<String>,
    /// The response status, `null` if no response was seen.
    pub status: Option<u16>,
    pub reason: Option<String>,
    pub server: Option<String>,
    pub subprotocol: Option<String>,
    pub server_extensions: Vec<String>,
    /// `valid`, `mismatch` or `missing`; `null` without a response.
    pub accept: Option<&'static str>,
    pub key: Option<String>,
    pub server_accept: Option<String>,
    /// The negotiated permessage-deflate parameters, if any.
    pub permessage_deflate: Option<PmdParams>,
    pub anomalies: Vec<String>,
}

/// `websocket_message`: one per reassembled message (data messages across
/// their fragments; each control frame is a message of its own).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MessageLog {
    #[serde(flatten)]
    pub head: Head,
    pub log: &'static str,
    pub direction: Direction,
    pub opcode: u8,
    /// Payload bytes on the wire (after unmasking, before inflation).
    pub length: u64,
    pub compressed: bool,
    /// Inflated length when compressed (up to the cap).
    pub inflated_length: Option<u64>,
    pub frames: u32,
    /// The first `--payload-bytes` bytes of the (inflated) payload.
    pub payload: Option<String>,
    /// `text` or `base64`.
    pub payload_encoding: Option<&'static str>,
    /// The preview is shorter than the payload, or the payload itself is
    /// incomplete (gap, cap, end of capture).
    pub truncated: bool,
    pub close_code: Option<u16>,
    pub close_reason: Option<String>,
    pub anomalies: Vec<String>,
}

/// `websocket_frame` (with `--frames`): one per frame.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FrameLog {
    #[serde(flatten)]
    pub head: Head,
    pub log: &'static str,
    pub direction: Direction,
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub length: u64,
    /// The stream ended or broke (gap) before the frame's payload did.
    pub truncated: bool,
    /// Unmasked payload (first `frame_payload_keep` bytes); for tests and
    /// library users, never logged.
    #[serde(skip)]
    pub payload: Option<Vec<u8>>,
}

/// Per-direction counters of the connection summary.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DirSummary {
    pub frames: u64,
    pub messages: u64,
    /// Payload bytes on the wire.
    pub bytes: u64,
    /// Messages and payload bytes per opcode (keys are opcode numbers).
    pub opcodes: BTreeMap<u8, OpcodeCount>,
    pub pings: u64,
    /// Seconds between consecutive pings of this direction.
    pub ping_interval: Option<IntervalStats>,
    pub gap_bytes: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct OpcodeCount {
    pub messages: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct IntervalStats {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub max: f64,
}

/// The passive fingerprint hint.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hint {
    pub implementation: String,
    pub confidence: f64,
    /// The probe whose request the captured handshake resembles.
    pub probe: Option<String>,
    /// How many features the capture provided.
    pub features: usize,
    pub candidates: Vec<String>,
}

/// `websocket_connection`: the summary, when the connection ends (FIN/RST
/// seen in both directions, timeout, or end of capture).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConnectionLog {
    #[serde(flatten)]
    pub head: Head,
    pub log: &'static str,
    pub duration: f64,
    /// Whether a 101 was seen.
    pub upgraded: bool,
    pub c2s: DirSummary,
    pub s2c: DirSummary,
    pub close_code: Option<u16>,
    pub close_reason: Option<String>,
    /// Which side closed first.
    pub close_from: Option<Direction>,
    /// How it ended: `fin`, `rst`, `timeout`, `end_of_capture`.
    pub end: &'static str,
    /// Anomaly labels with how often each was seen.
    pub anomalies: BTreeMap<String, u64>,
    pub fingerprint: Option<Hint>,
    /// The app protocol (`engine.io`, `mqtt`...) named from the agreed
    /// subprotocol or the server's first messages.
    pub app_protocol: Option<String>,
}

/// One record of any log.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Handshake(HandshakeLog),
    Message(MessageLog),
    Frame(FrameLog),
    Connection(ConnectionLog),
}

impl Record {
    pub fn log_name(&self) -> &'static str {
        match self {
            Record::Handshake(_) => "websocket_handshake",
            Record::Message(_) => "websocket_message",
            Record::Frame(_) => "websocket_frame",
            Record::Connection(_) => "websocket_connection",
        }
    }

    pub fn head(&self) -> &Head {
        match self {
            Record::Handshake(r) => &r.head,
            Record::Message(r) => &r.head,
            Record::Frame(r) => &r.head,
            Record::Connection(r) => &r.head,
        }
    }

    /// One NDJSON line. Message and frame records, the bulk of the output,
    /// are written by hand (serde's flattened map costs more than the rest
    /// of the pipeline); a test keeps them equal to the derived form.
    pub fn to_json(&self, w: &mut impl Write) -> io::Result<()> {
        match self {
            Record::Handshake(r) => serde_json::to_writer(&mut *w, r).map_err(io::Error::other)?,
            Record::Message(r) => r.write_json(w)?,
            Record::Frame(r) => r.write_json(w)?,
            Record::Connection(r) => serde_json::to_writer(&mut *w, r).map_err(io::Error::other)?,
        }
        w.write_all(b"\n")
    }

    /// The derived (serde) form, the reference for the hand-written one.
    pub fn to_json_serde(&self, w: &mut impl Write) -> io::Result<()> {
        match self {
            Record::Handshake(r) => serde_json::to_writer(&mut *w, r),
            Record::Message(r) => serde_json::to_writer(&mut *w, r),
            Record::Frame(r) => serde_json::to_writer(&mut *w, r),
            Record::Connection(r) => serde_json::to_writer(&mut *w, r),
        }
        .map_err(io::Error::other)?;
        w.write_all(b"\n")
    }
}

/// A JSON string. Strings without anything to escape (nearly all: labels,
/// previews of text, base64) are copied as they are; anything else goes
/// through serde_json, the reference.
fn json_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    if needs_escape(s.as_bytes()) {
        serde_json::to_writer(&mut *w, s).map_err(io::Error::other)
    } else {
        w.write_all(b"\"")?;
        w.write_all(s.as_bytes())?;
        w.write_all(b"\"")
    }
}

/// Whether JSON needs any of `b` escaped (a control character, `"` or
/// `\`). Checked a 32-byte block at a time with a branch-free OR across
/// the block, which compiles to vector compares: the previews make this
/// the most scanned data of the output.
fn needs_escape(b: &[u8]) -> bool {
    let hit = |x: u8| u8::from(x < 0x20) | u8::from(x == b'"') | u8::from(x == b'\\');
    let block_hit = |block: &[u8]| block.iter().fold(0u8, |acc, &x| acc | hit(x)) != 0;
    if b.len() < 32 {
        return b.iter().any(|&x| hit(x) != 0);
    }
    // The last block overlaps the one before it rather than leaving a
    // remainder to a byte-at-a-time loop.
    b.chunks_exact(32).any(block_hit) || b.last_chunk::<32>().is_some_and(|c| block_hit(c))
}

/// A label of ours (`log`, `payload_encoding`): a fixed identifier, so
/// written without the escape scan.
fn json_label(w: &mut impl Write, s: &'static str) -> io::Result<()> {
    debug_assert!(!needs_escape(s.as_bytes()), "{s:?}");
    w.write_all(b"\"")?;
    w.write_all(s.as_bytes())?;
    w.write_all(b"\"")
}

/// An unsigned integer in decimal, without `fmt` (its machinery cost more
/// than the digits). One digit (opcodes, frame counts) is one byte.
fn json_u64(w: &mut impl Write, mut n: u64) -> io::Result<()> {
    if n < 10 {
        return w.write_all(&[b'0' + n as u8]);
    }
    // u64::MAX has 20 digits.
    let mut buf = [0u8; 20];
    let mut len = 0;
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    w.write_all(buf.get(buf.len() - len..).unwrap_or_default())
}

fn json_bool(w: &mut impl Write, b: bool) -> io::Result<()> {
    w.write_all(if b { b"true" } else { b"false" })
}

fn json_opt_u64(w: &mut impl Write, v: Option<u64>) -> io::Result<()> {
    match v {
        Some(n) => json_u64(w, n),
        None => w.write_all(b"null"),
    }
}

fn json_opt_str(w: &mut impl Write, v: Option<&str>) -> io::Result<()> {
    match v {
        Some(s) => json_str(w, s),
        None => w.write_all(b"null"),
    }
}

impl Head {
    fn write_ids(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(b",\"uid\":")?;
        json_str(w, &self.uid)?;
        write!(
            w,
            ",\"id.orig_h\":\"{}\",\"id.orig_p\":{},\"id.resp_h\":\"{}\",\"id.resp_p\":{}",
            self.orig_h, self.orig_p, self.resp_h, self.resp_p
        )
    }

    /// Pre-render the connection fields; call again after changing them.
    pub fn render(&mut self) {
        let mut b = Vec::with_capacity(128);
        // Writing to a Vec does not fail, and what is written is UTF-8;
        // were either not so, the fields would be written out each time.
        self.ids_json = self
            .write_ids(&mut b)
            .ok()
            .and_then(|()| String::from_utf8(b).ok())
            .map(Into::into);
    }

    /// `{"ts":..,"uid":..,"id.*":..` (no closing brace).
    fn write_json(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(b"{\"ts\":")?;
        serde_json::to_writer(&mut *w, &self.ts).map_err(io::Error::other)?;
        match &self.ids_json {
            Some(s) => w.write_all(s.as_bytes()),
            None => self.write_ids(w),
        }
    }
}

impl Direction {
    fn json(self) -> &'static [u8] {
        match self {
            Direction::C2s => b"\"c2s\"",
            Direction::S2c => b"\"s2c\"",
        }
    }
}

impl MessageLog {
    /// One NDJSON line, as [`Record::to_json`] writes it.
    pub fn to_json(&self, w: &mut impl Write) -> io::Result<()> {
        self.write_json(w)?;
        w.write_all(b"\n")
    }

    fn write_json(&self, w: &mut impl Write) -> io::Result<()> {
        self.head.write_json(w)?;
        w.write_all(b",\"log\":")?;
        json_label(w, self.log)?;
        w.write_all(b",\"direction\":")?;
        w.write_all(self.direction.json())?;
        w.write_all(b",\"opcode\":")?;
        json_u64(w, self.opcode.into())?;
        w.write_all(b",\"length\":")?;
        json_u64(w, self.length)?;
        w.write_all(b",\"compressed\":")?;
        json_bool(w, self.compressed)?;
        w.write_all(b",\"inflated_length\":")?;
        json_opt_u64(w, self.inflated_length)?;
        w.write_all(b",\"frames\":")?;
        json_u64(w, self.frames.into())?;
        w.write_all(b",\"payload\":")?;
        json_opt_str(w, self.payload.as_deref())?;
        w.write_all(b",\"payload_encoding\":")?;
        match self.payload_encoding {
            Some(e) => json_label(w, e)?,
            None => w.write_all(b"null")?,
        }
        w.write_all(b",\"truncated\":")?;
        json_bool(w, self.truncated)?;
        w.write_all(b",\"close_code\":")?;
        json_opt_u64(w, self.close_code.map(u64::from))?;
        w.write_all(b",\"close_reason\":")?;
        json_opt_str(w, self.close_reason.as_deref())?;
        w.write_all(b",\"anomalies\":[")?;
        for (i, a) in self.anomalies.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            json_str(w, a)?;
        }
        w.write_all(b"]}")
    }
}

impl FrameLog {
    /// One NDJSON line, as [`Record::to_json`] writes it.
    pub fn to_json(&self, w: &mut impl Write) -> io::Result<()> {
        self.write_json(w)?;
        w.write_all(b"\n")
    }

    fn write_json(&self, w: &mut impl Write) -> io::Result<()> {
        self.head.write_json(w)?;
        w.write_all(b",\"log\":")?;
        json_label(w, self.log)?;
        w.write_all(b",\"direction\":")?;
        w.write_all(self.direction.json())?;
        w.write_all(b",\"fin\":")?;
        json_bool(w, self.fin)?;
        w.write_all(b",\"rsv\":")?;
        json_u64(w, self.rsv.into())?;
        w.write_all(b",\"opcode\":")?;
        json_u64(w, self.opcode.into())?;
        w.write_all(b",\"masked\":")?;
        json_bool(w, self.masked)?;
        w.write_all(b",\"length\":")?;
        json_u64(w, self.length)?;
        w.write_all(b",\"truncated\":")?;
        json_bool(w, self.truncated)?;
        w.write_all(b"}")
    }
}

/// Where records go.
pub trait Sink {
    fn record(&mut self, r: Record);

    /// A message record, lent: the session reuses the record's buffers for
    /// the next message, so a sink that writes it out right away costs no
    /// allocation per message. The default hands on a copy.
    fn message(&mut self, m: &MessageLog) {
        self.record(Record::Message(m.clone()));
    }

    /// A frame record, lent (see [`Sink::message`]).
    fn frame(&mut self, f: &FrameLog) {
        self.record(Record::Frame(f.clone()));
    }
}

/// Collects records in memory (tests, library users).
impl Sink for Vec<Record> {
    fn record(&mut self, r: Record) {
        self.push(r);
    }
}

/// NDJSON to one writer, or to one file per log in a directory. Keeps the
/// first write error (a closed pipe, a full disk) for the caller.
pub struct NdjsonSink {
    out: Outputs,
    pub error: Option<io::Error>,
    pub written: u64,
}

enum Outputs {
    One(LineOut<Box<dyn Write>>),
    PerLog(Vec<(&'static str, LineOut<File>)>),
}

/// Lines are written into a plain `Vec` and handed to the writer in
/// blocks of at least `flush_at` bytes. The line writers append a field
/// at a time; into a `Vec` those appends inline (a bounds check and a few
/// moves), where `BufWriter::write_all` was a call and a `memcpy` per
/// field, a tenth of the passive pipeline's time.
struct LineOut<W: Write> {
    buf: Vec<u8>,
    flush_at: usize,
    inner: W,
}

impl<W: Write> LineOut<W> {
    fn new(inner: W, flush_at: usize) -> Self {
        LineOut {
            // One line may take the buffer past `flush_at`.
            buf: Vec::with_capacity(flush_at + 4096),
            flush_at,
            inner,
        }
    }

    fn line(&mut self, l: &impl Line) -> io::Result<()> {
        l.write_line(&mut self.buf)?;
        if self.buf.len() >= self.flush_at {
            self.drain()?;
        }
        Ok(())
    }

    fn drain(&mut self) -> io::Result<()> {
        // Cleared even on error: the sink stops writing after the first
        // error, so the bytes would never go anywhere else.
        let res = self.inner.write_all(&self.buf);
        self.buf.clear();
        res
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.inner.flush()
    }
}

/// What is buffered is written when the sink goes away, as `BufWriter`
/// does (errors at that point have nowhere to go).
impl<W: Write> Drop for LineOut<W> {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            let _ = self.flush();
        }
    }
}

impl NdjsonSink {
    pub fn to_writer(w: Box<dyn Write>) -> Self {
        NdjsonSink {
            out: Outputs::One(LineOut::new(w, 256 * 1024)),
            error: None,
            written: 0,
        }
    }

    /// `<dir>/<log>.ndjson` for each of the four logs (created empty, so
    /// a missing file never means "not run").
    pub fn to_dir(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut files = Vec::new();
        for name in [
            "websocket_handshake",
            "websocket_message",
            "websocket_frame",
            "websocket_connection",
        ] {
            let f = File::create(dir.join(format!("{name}.ndjson")))?;
            files.push((name, LineOut::new(f, 64 * 1024)));
        }
        Ok(NdjsonSink {
            out: Outputs::PerLog(files),
            error: None,
            written: 0,
        })
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Outputs::One(w) => w.flush(),
            Outputs::PerLog(v) => v.iter_mut().try_for_each(|(_, w)| w.flush()),
        }
    }
}

/// Something written as one NDJSON line (generic, so the writes into the
/// buffer are direct calls).
trait Line {
    fn log(&self) -> &'static str;
    fn write_line<W: Write>(&self, w: &mut W) -> io::Result<()>;
}

impl Line for Record {
    fn log(&self) -> &'static str {
        self.log_name()
    }
    fn write_line<W: Write>(&self, w: &mut W) -> io::Result<()> {
        self.to_json(w)
    }
}

impl Line for MessageLog {
    fn log(&self) -> &'static str {
        self.log
    }
    fn write_line<W: Write>(&self, w: &mut W) -> io::Result<()> {
        self.to_json(w)
    }
}

impl Line for FrameLog {
    fn log(&self) -> &'static str {
        self.log
    }
    fn write_line<W: Write>(&self, w: &mut W) -> io::Result<()> {
        self.to_json(w)
    }
}

impl NdjsonSink {
    fn line(&mut self, l: &impl Line) {
        if self.error.is_some() {
            return;
        }
        let res = match &mut self.out {
            Outputs::One(w) => w.line(l),
            Outputs::PerLog(v) => {
                let name = l.log();
                // Every log has its file (made with the sink).
                match v.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, w)) => w.line(l),
                    None => Err(io::Error::other(format!("no output file for log {name}"))),
                }
            }
        };
        match res {
            Ok(()) => self.written += 1,
            Err(e) => self.error = Some(e),
        }
    }
}

impl Sink for NdjsonSink {
    fn record(&mut self, r: Record) {
        self.line(&r);
    }

    fn message(&mut self, m: &MessageLog) {
        self.line(m);
    }

    fn frame(&mut self, f: &FrameLog) {
        self.line(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> Head {
        Head {
            ts: 1_700_000_000.25,
            uid: "Cabc".into(),
            orig_h: "::1".parse().unwrap(),
            orig_p: 1,
            resp_h: "10.0.0.1".parse().unwrap(),
            resp_p: 80,
            ids_json: None,
        }
    }

    fn same(r: Record) {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        r.to_json(&mut a).unwrap();
        r.to_json_serde(&mut b).unwrap();
        // Byte for byte: the output of the hand-written writers must not
        // change with it.
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "hand-written vs serde"
        );
        assert!(a.ends_with(b"}\n"));
        // The lent forms write the same line.
        let mut c = Vec::new();
        match &r {
            Record::Message(m) => m.to_json(&mut c).unwrap(),
            Record::Frame(f) => f.to_json(&mut c).unwrap(),
            _ => c = a.clone(),
        }
        assert_eq!(a, c);
    }

    #[test]
    fn json_strings_and_numbers_equal_serde() {
        for s in [
            "",
            "plain",
            "ü€😀",
            "a\"b",
            "back\\slash",
            "\u{0}\u{1f}\n\t",
            "\u{7f}",
            "x</y>",
        ] {
            let mut a = Vec::new();
            json_str(&mut a, s).unwrap();
            assert_eq!(a, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
        // Long strings are scanned in 32-byte blocks plus a remainder: an
        // escape anywhere, in any block, is found.
        for len in [31, 32, 33, 64, 100] {
            for at in 0..len {
                for c in ['"', '\\', '\n', '\u{1f}'] {
                    let mut s: Vec<char> = vec!['x'; len];
                    s[at] = c;
                    let s: String = s.into_iter().collect();
                    let mut a = Vec::new();
                    json_str(&mut a, &s).unwrap();
                    assert_eq!(a, serde_json::to_vec(&s).unwrap(), "{s:?}");
                }
            }
        }
        for n in [0, 9, 10, 99, 100, 12345, u64::from(u32::MAX), u64::MAX] {
            let mut a = Vec::new();
            json_u64(&mut a, n).unwrap();
            assert_eq!(a, serde_json::to_vec(&n).unwrap(), "{n}");
        }
    }

    #[test]
    fn hand_written_json_equals_derived() {
        let m = MessageLog {
            head: head(),
            log: "websocket_message",
            direction: Direction::S2c,
            opcode: 8,
            length: 12,
            compressed: true,
            inflated_length: Some(40),
            frames: 2,
            payload: Some("quote \" back\\slash \u{1} ü".into()),
            payload_encoding: Some("text"),
            truncated: true,
            close_code: Some(1009),
            close_reason: Some("too \"big\"".into()),
            anomalies: vec!["rsv_set".into(), "x\ny".into()],
        };
        same(Record::Message(m.clone()));
        let mut rendered = m.clone();
        rendered.head.render();
        same(Record::Message(rendered));
        same(Record::Message(MessageLog {
            inflated_length: None,
            payload: None,
            payload_encoding: None,
            close_code: None,
            close_reason: None,
            anomalies: vec![],
            ..m
        }));
        same(Record::Frame(FrameLog {
            head: head(),
            log: "websocket_frame",
            direction: Direction::C2s,
            fin: false,
            rsv: 5,
            opcode: 0,
            masked: true,
            length: u64::MAX,
            truncated: false,
            payload: Some(vec![1]),
        }));
    }
}
