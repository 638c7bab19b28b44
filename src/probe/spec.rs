//! Probes as data: the declarative probe file and its validation.
//!
//! A probe is one connection: a handshake variant, an optional script of
//! frames, and what to observe. The default set (`probes/default.toml`) is
//! compiled into the binary; `--probes FILE` adds probes or replaces ones
//! with the same id, so a user extends the scanner without touching Rust.
//! See `docs/probes.md` for the format.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::wire::encode::LenEncoding;

/// The probe file compiled into the binary.
pub const DEFAULT_PROBES: &str = include_str!("../../probes/default.toml");

/// Bytes of a long payload sent in the default payload mode: enough for
/// the server to see a real frame start, far from the announced length.
pub const LONG_PAYLOAD_PREFIX: usize = 64;
/// A payload at least this long is "long": in the default payload mode only
/// its header and [`LONG_PAYLOAD_PREFIX`] bytes are sent.
pub const LONG_PAYLOAD_THRESHOLD: u64 = 64 * 1024;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// A well-formed handshake and well-formed frames only.
    Safe,
    /// A malformed handshake or a protocol-violating frame.
    Intrusive,
    /// Long payloads sent in full.
    Heavy,
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Risk::Safe => "safe",
            Risk::Intrusive => "intrusive",
            Risk::Heavy => "heavy",
        })
    }
}

/// Which party the evidence of a probe most likely comes from when a
/// reverse proxy sits in front of the WebSocket server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Handshake,
    Frame,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Connect, handshake, optionally send frames and read the reaction.
    #[default]
    Connect,
    /// Inspect the target URL only; nothing is sent (STEWS 310).
    Url,
}

/// How the opening handshake deviates from the standard one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HandshakeSpec {
    /// The whole request, verbatim, with placeholders; overrides the rest.
    pub raw: Option<String>,
    /// Replaces `GET {path} HTTP/1.1`.
    pub request_line: Option<String>,
    /// Replace a header's value in place (append if absent).
    #[serde(default)]
    pub set: Vec<(String, String)>,
    /// Remove headers (any case).
    #[serde(default)]
    pub remove: Vec<String>,
    /// Rename headers: `[old, new]` (e.g. to send them lower-case).
    #[serde(default)]
    pub rename: Vec<(String, String)>,
    /// Append headers after the standard ones (duplicates allowed).
    #[serde(default)]
    pub add: Vec<(String, String)>,
    /// Line ending for every line; default CRLF.
    pub line_ending: Option<String>,
    /// Bytes after the blank line.
    pub body: Option<String>,
}

impl HandshakeSpec {
    /// The standard handshake, unchanged.
    pub fn is_standard(&self) -> bool {
        *self == HandshakeSpec::default()
    }

    /// Whether the probe's header edits (`set`, `remove`, `rename` from
    /// or to, `add`) name the header `name` (any case): then that header
    /// is the probe's, and a user's `-H` of that name is not sent with it
    /// (see [`crate::probe::build::ExtraHeaders`]).
    pub fn names(&self, name: &str) -> bool {
        let is = |n: &String| n.eq_ignore_ascii_case(name);
        self.set.iter().chain(&self.add).any(|(n, _)| is(n))
            || self.remove.iter().any(is)
            || self.rename.iter().any(|(a, b)| is(a) || is(b))
    }
}

/// One frame of a probe's script.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FrameStep {
    #[serde(default = "yes")]
    pub fin: bool,
    #[serde(default)]
    pub rsv: u8,
    pub opcode: u8,
    /// Client frames are masked unless this says otherwise.
    #[serde(default = "yes")]
    pub mask: bool,
    /// Fixed mask key as 8 hex digits; default: random per frame.
    pub key: Option<String>,
    /// Payload as text (TOML escapes available).
    pub payload: Option<String>,
    /// Payload as hex, for bytes that are not text.
    pub payload_hex: Option<String>,
    /// Repeat this text `len` times... (with `len`): a generated payload.
    pub fill: Option<String>,
    /// Total payload length when `fill` is given.
    pub len: Option<u64>,
    /// Announce this length instead of the real one.
    pub declared_len: Option<u64>,
    #[serde(default)]
    pub len_encoding: LenEncoding,
}

fn yes() -> bool {
    true
}

/// What a probe records besides the basics (status, frames, end).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObserveSpec {
    /// Response headers to record (any case).
    #[serde(default = "default_headers")]
    pub headers: Vec<String>,
    /// Record the response header names in order, as sent.
    #[serde(default)]
    pub header_order: bool,
    /// How many server frames to keep.
    #[serde(default = "default_frames")]
    pub frames: usize,
    /// Follow the script with a ping, so that a pong bounds the wait and
    /// proves the connection survived, independently of the application.
    #[serde(default = "yes")]
    pub liveness_ping: bool,
}

fn default_headers() -> Vec<String> {
    [
        "Server",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
    ]
    .map(String::from)
    .to_vec()
}

fn default_frames() -> usize {
    4
}

impl Default for ObserveSpec {
    fn default() -> Self {
        ObserveSpec {
            headers: default_headers(),
            header_order: false,
            frames: default_frames(),
            liveness_ping: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// Case id; STEWS numbers are kept (100–105, 200–206, ...).
    pub id: String,
    /// Series number: 100, 200, ... 700, or a new series.
    pub series: u16,
    /// Short name.
    pub name: String,
    /// What it sends and why: which behaviour it separates.
    pub intent: String,
    pub risk: Risk,
    pub layer: Layer,
    /// A probe that told the lab's servers apart exactly as this one
    /// does (the same partition of every fingerprinted server): the full
    /// set (`-a`, or no series named) skips this probe to save a
    /// connection; `--exhaustive`, naming its series, and `wsfp generate`
    /// run it. Safe probes are never marked, so the safe set is whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_as: Option<String>,
    /// Probes sharing a ladder name are rungs of one monotone test,
    /// listed from the least to the most demanding (the 600 series:
    /// ever longer announced frames). A server that accepts a rung (the
    /// wait ends in silence) accepts every lower one; one that rejects a
    /// rung rejects every higher one. The full set runs the two ends
    /// first and the middle only when they disagree (`scan::ladder`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ladder: Option<String>,
    /// A request a reverse proxy answers itself instead of passing it on
    /// (the HTTP/2 preface, `OPTIONS *`): its reaction is the front's, so
    /// `wsfp generate` keeps its features only in the fronts' (head-only)
    /// fingerprints. A server's own fingerprint never holds them, so a
    /// proxy's answer to it cannot count against the backend behind it,
    /// known or not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub front: bool,
    #[serde(default)]
    pub kind: Kind,
    #[serde(default)]
    pub handshake: HandshakeSpec,
    #[serde(default)]
    pub frames: Vec<FrameStep>,
    #[serde(default)]
    pub observe: ObserveSpec,
    /// For `kind = "url"`: substrings (any case) looked for in the URL.
    #[serde(default)]
    pub url_contains: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeFile {
    /// Version of the probe set, stored in fingerprints' provenance.
    version: String,
    #[serde(default)]
    probe: Vec<Probe>,
}

/// An ordered, validated set of probes.
#[derive(Debug, Clone)]
pub struct ProbeSet {
    pub version: String,
    pub probes: Vec<Probe>,
}

/// A probe-file problem, naming the file and, where known, the line.
pub type ProbeError = crate::error::FileError;

use crate::error::line_of;

/// Line of the `id = "..."` of a probe, for validation messages.
fn line_of_probe(text: &str, id: &str) -> Option<usize> {
    let needle = format!("id = \"{id}\"");
    text.find(&needle).map(|o| line_of(text, o))
}

/// STEWS's case numbers, series by series. The default set keeps every
/// one with its meaning, and a full scan (`-a`) records every one: run,
/// stood in for by the probe it is `same_as`, or skipped with a reason.
const STEWS_SERIES: [(u16, u16); 7] = [
    (100, 105),
    (200, 206),
    (300, 310),
    (400, 405),
    (500, 501),
    (600, 612),
    (700, 705),
];

/// The ids of the 51 STEWS cases, in order.
pub fn stews_cases() -> impl Iterator<Item = String> {
    STEWS_SERIES
        .iter()
        .flat_map(|&(first, last)| first..=last)
        .map(|n| n.to_string())
}

impl ProbeSet {
    /// The compiled-in default set.
    // The file is part of the binary, not input: every test parses it, so
    // a bad one never ships.
    #[allow(clippy::expect_used)]
    pub fn builtin() -> ProbeSet {
        Self::parse(DEFAULT_PROBES, "<builtin probes/default.toml>")
            .expect("the built-in probe file is valid (checked by tests)")
    }

    pub fn load(path: &Path) -> Result<ProbeSet, ProbeError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProbeError {
            file: path.display().to_string(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, file: &str) -> Result<ProbeSet, ProbeError> {
        let parsed: ProbeFile = toml::from_str(text).map_err(|e| ProbeError {
            file: file.to_string(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().to_string(),
        })?;
        let mut seen = BTreeMap::new();
        for p in &parsed.probe {
            let err = |message: String| ProbeError {
                file: file.to_string(),
                line: line_of_probe(text, &p.id),
                message: format!("probe {}: {message}", p.id),
            };
            if seen.insert(p.id.clone(), ()).is_some() {
                return Err(err("duplicate id".into()));
            }
            validate(p).map_err(err)?;
        }
        for p in &parsed.probe {
            if let Some(other) = &p.same_as {
                let message = if !seen.contains_key(other) || other == &p.id {
                    format!(
                        "probe {}: same_as = {other:?} names no other probe of this file",
                        p.id
                    )
                } else if p.risk == Risk::Safe {
                    format!(
                        "probe {}: a safe probe cannot be same_as another (the safe set stays whole)",
                        p.id
                    )
                } else {
                    continue;
                };
                return Err(ProbeError {
                    file: file.to_string(),
                    line: line_of_probe(text, &p.id),
                    message,
                });
            }
        }
        Ok(ProbeSet {
            version: parsed.version,
            probes: parsed.probe,
        })
    }

    /// Add `other`'s probes, replacing those with the same id.
    pub fn merge(&mut self, other: ProbeSet) {
        for p in other.probes {
            match self.probes.iter_mut().find(|q| q.id == p.id) {
                Some(q) => *q = p,
                None => self.probes.push(p),
            }
        }
        self.version = format!("{}+{}", self.version, other.version);
    }

    pub fn get(&self, id: &str) -> Option<&Probe> {
        self.probes.iter().find(|p| p.id == id)
    }
}

fn validate(p: &Probe) -> Result<(), String> {
    if p.id.is_empty()
        || !p
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("id must be non-empty ASCII letters, digits, '-' or '_'".into());
    }
    if p.kind == Kind::Url && p.url_contains.is_empty() {
        return Err("kind = \"url\" needs url_contains".into());
    }
    if p.ladder.is_some() && p.frames.is_empty() {
        return Err(
            "a ladder rung needs frames: rungs are told apart by how the frame wait ends".into(),
        );
    }
    for (i, f) in p.frames.iter().enumerate() {
        let at = |m: &str| format!("frame {}: {m}", i + 1);
        if f.opcode > 15 {
            return Err(at("opcode must be 0..=15"));
        }
        if f.rsv > 7 {
            return Err(at("rsv must be 0..=7 (RSV1 = 4, RSV2 = 2, RSV3 = 1)"));
        }
        let sources = [
            f.payload.is_some(),
            f.payload_hex.is_some(),
            f.fill.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if sources > 1 {
            return Err(at("give only one of payload, payload_hex, fill"));
        }
        if f.fill.is_some() != f.len.is_some() {
            return Err(at("fill and len go together"));
        }
        if f.fill.as_deref() == Some("") {
            return Err(at("fill must not be empty"));
        }
        if let Some(h) = &f.payload_hex {
            decode_hex(h).map_err(|e| at(&format!("payload_hex: {e}")))?;
        }
        if let Some(k) = &f.key {
            let b = decode_hex(k).map_err(|e| at(&format!("key: {e}")))?;
            if b.len() != 4 {
                return Err(at("key must be 4 bytes (8 hex digits)"));
            }
        }
    }
    Ok(())
}

/// Hex digits (whitespace between them ignored) to bytes. Read a
/// character at a time: a probe file's non-ASCII character must be a
/// "bad hex" error, not a slice through its bytes.
pub fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    digits
        .as_chunks::<2>()
        .0
        .iter()
        .enumerate()
        .map(|(i, [hi, lo])| match (hi.to_digit(16), lo.to_digit(16)) {
            (Some(hi), Some(lo)) => Ok((hi * 16 + lo) as u8),
            _ => Err(format!("bad hex at {}", 2 * i)),
        })
        .collect()
}

impl FrameStep {
    /// Total payload length (what is announced unless `declared_len`).
    pub fn payload_len(&self) -> u64 {
        match (&self.payload, &self.payload_hex, &self.len) {
            (Some(p), _, _) => p.len() as u64,
            (_, Some(h), _) => decode_hex(h).map(|b| b.len() as u64).unwrap_or(0),
            (_, _, Some(n)) => *n,
            _ => 0,
        }
    }

    /// The first `n` bytes of the payload (all of it when shorter).
    pub fn payload_head(&self, n: usize) -> Vec<u8> {
        match (&self.payload, &self.payload_hex, &self.fill) {
            (Some(p), _, _) => p.as_bytes().iter().take(n).copied().collect(),
            (_, Some(h), _) => decode_hex(h)
                .map(|mut b| {
                    b.truncate(n);
                    b
                })
                .unwrap_or_default(),
            (_, _, Some(f)) => {
                let len = usize::try_from(self.payload_len()).unwrap_or(usize::MAX);
                f.bytes().cycle().take(n.min(len)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Whether this is a long payload (sent as header + prefix by default).
    pub fn is_long(&self) -> bool {
        self.payload_len() >= LONG_PAYLOAD_THRESHOLD
    }
}

impl Probe {
    /// Does this probe yield feature `name` (the part of a feature key
    /// after `"<probe id>."`)? A DB file naming one it never yields would
    /// never match, so the loader refuses it.
    pub fn yields(&self, name: &str) -> bool {
        if self.kind == Kind::Url {
            return name == "url_match";
        }
        let common = matches!(
            name,
            "status" | "end" | "control" | "close_code" | "close_reason" | "server_anomalies"
        );
        let head = self.layer == Layer::Handshake
            && (matches!(name, "reason" | "accept" | "body")
                || name == "header_order" && self.observe.header_order
                || name.strip_prefix("h.").is_some_and(|h| {
                    let (h, version) = match h.strip_suffix(".version") {
                        Some(b) => (b, true),
                        None => (h, false),
                    };
                    (!version || crate::probe::normalise::is_banner(h))
                        && self
                            .observe
                            .headers
                            .iter()
                            .any(|o| o.eq_ignore_ascii_case(h))
                }));
        common || head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_set_is_valid_and_has_every_stews_case() {
        let set = ProbeSet::builtin();
        let stews: Vec<String> = stews_cases().collect();
        assert_eq!(stews.len(), 51);
        for id in &stews {
            assert!(set.get(id).is_some(), "missing STEWS case {id}");
        }
    }

    #[test]
    fn errors_name_file_and_line() {
        let bad = "version = \"t\"\n[[probe]]\nid = \"1\"\nseries = 1\nname = \"x\"\nintent = \"x\"\nrisk = \"safe\"\nlayer = \"frame\"\n[[probe.frames]]\nopcode = 16\n";
        let e = ProbeSet::parse(bad, "p.toml").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(
            e.to_string().contains("p.toml:3: probe 1: frame 1: opcode"),
            "{e}"
        );
        let e = ProbeSet::parse("version = \"t\"\n[[probe]]\nid = 5\n", "q.toml").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.to_string().starts_with("q.toml:3:"));
    }

    #[test]
    fn hex_is_read_by_character() {
        assert_eq!(decode_hex("0a FF\n10"), Ok(vec![0x0a, 0xff, 0x10]));
        assert_eq!(decode_hex(""), Ok(vec![]));
        assert_eq!(decode_hex("abc").unwrap_err(), "odd number of hex digits");
        // A multi-byte character where a digit should be (this sliced
        // through "€" and panicked), and a sign `from_str_radix` took.
        assert_eq!(decode_hex("a€bc").unwrap_err(), "bad hex at 0");
        assert_eq!(decode_hex("00+f").unwrap_err(), "bad hex at 2");
    }

    #[test]
    fn merge_replaces_by_id_and_appends() {
        let mut set = ProbeSet::builtin();
        let n = set.probes.len();
        let extra = ProbeSet::parse(
            "version = \"x\"\n[[probe]]\nid = \"100\"\nseries = 100\nname = \"mine\"\nintent = \"i\"\nrisk = \"safe\"\nlayer = \"frame\"\n\
             [[probe]]\nid = \"9000\"\nseries = 9000\nname = \"new\"\nintent = \"i\"\nrisk = \"safe\"\nlayer = \"handshake\"\n",
            "x.toml",
        )
        .unwrap();
        set.merge(extra);
        assert_eq!(set.probes.len(), n + 1);
        assert_eq!(set.get("100").unwrap().name, "mine");
    }
}
