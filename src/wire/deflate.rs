//! permessage-deflate (RFC 7692): negotiated parameters and a bounded,
//! streaming inflater.
//!
//! Sans-I/O like the rest of `wire`: compressed bytes go in as they arrive
//! (one frame payload chunk at a time), inflated bytes come out through a
//! callback in small pieces, and nothing is ever accumulated here. The
//! caller decides what to keep (a preview, a length, a UTF-8 check).
//!
//! The inflater enforces a hard cap on the output of one message and on its
//! expansion ratio. This is what makes it safe on hostile input: a
//! "decompression bomb" (a few KB that inflate to GBs; Wireshark's
//! issue #21190) is stopped after `max_output` bytes and flagged, and the
//! rest of that message is not inflated at all.

use flate2::{Decompress, FlushDecompress, Status};

/// One extension from a `Sec-WebSocket-Extensions` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub name: String,
    /// Parameters in order, with their value (unquoted) if any.
    pub params: Vec<(String, Option<String>)>,
}

/// Parse `a; p=1; q, b` into extensions. Never fails; empty items are
/// skipped. (Commas inside quoted values are not special-cased: no
/// registered parameter value contains one.)
pub fn parse_extensions(value: &str) -> Vec<Extension> {
    value
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().filter(|n| !n.is_empty())?.to_ascii_lowercase();
            let params = parts
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (
                        k.trim().to_ascii_lowercase(),
                        Some(v.trim().trim_matches('"').to_string()),
                    ),
                    None => (p.to_ascii_lowercase(), None),
                })
                .collect();
            Some(Extension { name, params })
        })
        .collect()
}

/// The parameters a server accepted for permessage-deflate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PmdParams {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: Option<u8>,
    pub client_max_window_bits: Option<u8>,
}

impl PmdParams {
    /// The permessage-deflate parameters in a server's extension answer,
    /// `None` if it did not choose permessage-deflate. An invalid parameter
    /// (unknown name, window bits outside 8..=15) is returned as `Err` with
    /// the parameters that were understood, so the caller can flag it and
    /// still inflate.
    pub fn from_response(value: &str) -> Option<Result<PmdParams, (PmdParams, String)>> {
        let ext = parse_extensions(value)
            .into_iter()
            .find(|e| e.name == "permessage-deflate")?;
        let mut p = PmdParams::default();
        let mut problem = None;
        for (k, v) in &ext.params {
            let bits = || {
                v.as_deref()
                    .and_then(|v| v.parse::<u8>().ok())
                    .filter(|b| (8..=15).contains(b))
            };
            match k.as_str() {
                "server_no_context_takeover" => p.server_no_context_takeover = true,
                "client_no_context_takeover" => p.client_no_context_takeover = true,
                "server_max_window_bits" => match bits() {
                    Some(b) => p.server_max_window_bits = Some(b),
                    None => problem = Some(format!("{k}={}", v.as_deref().unwrap_or(""))),
                },
                "client_max_window_bits" => match bits() {
                    Some(b) => p.client_max_window_bits = Some(b),
                    None => problem = Some(format!("{k}={}", v.as_deref().unwrap_or(""))),
                },
                other => problem = Some(format!("unknown parameter {other}")),
            }
        }
        Some(match problem {
            None => Ok(p),
            Some(m) => Err((p, m)),
        })
    }
}

/// Caps for one inflated message.
#[derive(Debug, Clone, Copy)]
pub struct InflateLimits {
    /// Inflated bytes per message, at most.
    pub max_output: u64,
    /// Inflated bytes per compressed byte, at most (checked once the output
    /// passes `ratio_grace`, so short, very repetitive messages are fine).
    pub max_ratio: u64,
    pub ratio_grace: u64,
}

impl Default for InflateLimits {
    fn default() -> Self {
        InflateLimits {
            max_output: 1 << 20,
            max_ratio: 100,
            ratio_grace: 64 << 10,
        }
    }
}

/// What happened to a message's inflation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateState {
    /// Still inflating (or finished cleanly).
    Ok,
    /// A cap was hit; the rest of the message was not inflated.
    Capped,
    /// The compressed data was invalid.
    Error,
    /// Not inflated: an earlier message of this direction was capped or
    /// broken while context takeover was in force, so the shared window is
    /// unknown and anything inflated now would be garbage.
    ContextLost,
}

/// The RFC 7692 §7.2.2 tail every message's compressed data lacks.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
const SCRATCH: usize = 16 * 1024;

/// A per-direction inflater. With context takeover the window carries over
/// from message to message; without it, each message starts afresh.
pub struct Inflater {
    d: Decompress,
    no_context_takeover: bool,
    /// The window is no longer trustworthy (see [`InflateState::ContextLost`]).
    context_lost: bool,
    state: InflateState,
    msg_in: u64,
    msg_out: u64,
    scratch: Box<[u8]>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("state", &self.state)
            .field("msg_in", &self.msg_in)
            .field("msg_out", &self.msg_out)
            .finish()
    }
}

impl Inflater {
    pub fn new(no_context_takeover: bool) -> Self {
        Inflater {
            // Raw deflate; a 15-bit window also inflates data compressed
            // with any smaller window, so the negotiated bits need no setup.
            d: Decompress::new(false),
            no_context_takeover,
            context_lost: false,
            state: InflateState::Ok,
            msg_in: 0,
            msg_out: 0,
            scratch: vec![0u8; SCRATCH].into_boxed_slice(),
        }
    }

    /// Start a compressed message.
    pub fn begin(&mut self) {
        if self.no_context_takeover {
            self.d.reset(false);
            self.context_lost = false;
        }
        self.msg_in = 0;
        self.msg_out = 0;
        self.state = if self.context_lost {
            InflateState::ContextLost
        } else {
            InflateState::Ok
        };
    }

    /// Part of this direction's compressed stream was lost (a capture
    /// gap): with context takeover, later messages cannot be inflated.
    pub fn lose_context(&mut self) {
        self.fail(InflateState::ContextLost);
    }

    pub fn state(&self) -> InflateState {
        self.state
    }

    /// Inflated bytes of the current message so far.
    pub fn message_out(&self) -> u64 {
        self.msg_out
    }

    /// Feed compressed payload bytes; inflated pieces go to `out`.
    pub fn feed(&mut self, input: &[u8], lim: &InflateLimits, out: &mut dyn FnMut(&[u8])) {
        self.run(input, lim, out);
    }

    /// End the message: feed the implicit `00 00 ff ff` tail. Returns the
    /// final state.
    pub fn finish(&mut self, lim: &InflateLimits, out: &mut dyn FnMut(&[u8])) -> InflateState {
        self.run(&TAIL, lim, out);
        self.state
    }

    fn run(&mut self, mut input: &[u8], lim: &InflateLimits, out: &mut dyn FnMut(&[u8])) {
        if self.state != InflateState::Ok {
            return;
        }
        self.msg_in += input.len() as u64;
        loop {
            let (in0, out0) = (self.d.total_in(), self.d.total_out());
            let res = self
                .d
                .decompress(input, &mut self.scratch, FlushDecompress::None);
            let consumed = (self.d.total_in() - in0) as usize;
            let produced = (self.d.total_out() - out0) as usize;
            // flate2 reports no more than it was given and had room for.
            input = input.get(consumed..).unwrap_or_default();
            let room = lim.max_output.saturating_sub(self.msg_out);
            let give = (produced as u64).min(room) as usize;
            if let Some(chunk) = self.scratch.get(..give).filter(|c| !c.is_empty()) {
                out(chunk);
            }
            self.msg_out += give as u64;
            let ratio_hit = self.msg_out > lim.ratio_grace
                && self.msg_out > lim.max_ratio.saturating_mul(self.msg_in);
            if give < produced || ratio_hit {
                self.fail(InflateState::Capped);
                return;
            }
            match res {
                Err(_) => {
                    self.fail(InflateState::Error);
                    return;
                }
                // A final block (BFINAL) ends the deflate stream; the next
                // message starts a new one, without the old window.
                Ok(Status::StreamEnd) => {
                    self.d.reset(false);
                    if !input.is_empty() {
                        continue;
                    }
                    return;
                }
                Ok(_) => {}
            }
            if produced < self.scratch.len() && (input.is_empty() || consumed == 0) {
                return;
            }
        }
    }

    fn fail(&mut self, s: InflateState) {
        self.state = s;
        if self.no_context_takeover {
            // The next message resets the window anyway.
            self.d.reset(false);
        } else {
            self.context_lost = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};

    /// Compress `msgs` as one permessage-deflate sender with context
    /// takeover: sync-flush each message and strip the 4-byte tail.
    fn compress(msgs: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut c = Compress::new(Compression::default(), false);
        msgs.iter()
            .map(|m| {
                let mut out = Vec::with_capacity(m.len() + 64);
                c.compress_vec(m, &mut out, FlushCompress::Sync).unwrap();
                while out.capacity() - out.len() < 64 {
                    out.reserve(64);
                }
                assert!(out.ends_with(&TAIL));
                out.truncate(out.len() - 4);
                out
            })
            .collect()
    }

    fn inflate(inf: &mut Inflater, data: &[u8], lim: &InflateLimits) -> (Vec<u8>, InflateState) {
        let mut got = Vec::new();
        inf.begin();
        for chunk in data.chunks(7) {
            inf.feed(chunk, lim, &mut |b| got.extend_from_slice(b));
        }
        let s = inf.finish(lim, &mut |b| got.extend_from_slice(b));
        (got, s)
    }

    #[test]
    fn params_from_server_answer() {
        let p = PmdParams::from_response(
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
        )
        .unwrap()
        .unwrap();
        assert!(p.server_no_context_takeover && !p.client_no_context_takeover);
        assert_eq!(p.client_max_window_bits, Some(10));
        assert!(PmdParams::from_response("x-webkit-deflate-frame").is_none());
        let (_, why) = PmdParams::from_response("permessage-deflate; server_max_window_bits=7")
            .unwrap()
            .unwrap_err();
        assert!(why.contains("server_max_window_bits=7"), "{why}");
        let e = parse_extensions("permessage-deflate; client_max_window_bits, foo; a=\"1\"");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].params, vec![("client_max_window_bits".into(), None)]);
        assert_eq!(e[1].params, vec![("a".into(), Some("1".into()))]);
    }

    #[test]
    fn context_takeover_across_messages() {
        let msgs: [&[u8]; 3] = [b"hello hello hello", b"hello hello hello again", b"bye"];
        let wire = compress(&msgs);
        let lim = InflateLimits::default();
        let mut inf = Inflater::new(false);
        for (m, w) in msgs.iter().zip(&wire) {
            let (got, s) = inflate(&mut inf, w, &lim);
            assert_eq!(s, InflateState::Ok);
            assert_eq!(&got[..], *m);
        }
        // Without the first message's window the second cannot be read:
        // a fresh inflater (no takeover) fails or produces something else.
        let mut fresh = Inflater::new(true);
        let (got, _) = inflate(&mut fresh, &wire[1], &lim);
        assert_ne!(&got[..], msgs[1]);
    }

    #[test]
    fn bomb_stays_under_the_cap() {
        let zeros = vec![0u8; 64 << 20];
        let wire = compress(&[&zeros]);
        assert!(wire[0].len() < 200 << 10, "{}", wire[0].len());
        let lim = InflateLimits {
            max_output: 1 << 20,
            max_ratio: u64::MAX,
            ratio_grace: 0,
        };
        let mut inf = Inflater::new(false);
        let (got, s) = inflate(&mut inf, &wire[0], &lim);
        assert_eq!(s, InflateState::Capped);
        assert_eq!(got.len() as u64, lim.max_output);
        // The window is gone, so the next message is not inflated.
        let (got, s) = inflate(&mut inf, &compress(&[b"x"])[0], &lim);
        assert_eq!((got.len(), s), (0, InflateState::ContextLost));
        // The ratio cap alone also stops it, far earlier.
        let mut inf = Inflater::new(true);
        let (got, s) = inflate(&mut inf, &wire[0], &InflateLimits::default());
        assert_eq!(s, InflateState::Capped);
        assert!(got.len() < 1 << 20, "{}", got.len());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut inf = Inflater::new(true);
        let (_, s) = inflate(&mut inf, &[0xff; 40], &InflateLimits::default());
        assert_eq!(s, InflateState::Error);
        // No takeover: the next message starts clean.
        let (got, s) = inflate(&mut inf, &compress(&[b"ok"])[0], &InflateLimits::default());
        assert_eq!((got.as_slice(), s), (&b"ok"[..], InflateState::Ok));
    }
}
