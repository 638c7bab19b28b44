//! Incremental frame decoder.
//!
//! The decoder never owns more than one frame header (at most 14 bytes) of
//! unconsumed input: payload bytes are split off the caller's buffer as
//! they arrive, unmasked in place and handed out as zero-copy [`Bytes`].
//! A frame announcing 2^63 bytes therefore costs nothing but a counter.
//!
//! Two levels are offered:
//! - [`Decoder::poll`] streams [`Event`]s (header, payload chunks, end), for
//!   consumers that reassemble or inflate messages themselves;
//! - [`Decoder::next_frame`] collects whole frames, keeping at most
//!   `max_payload_keep` payload bytes of each, which is what a prober wants.

use bytes::{Bytes, BytesMut};

use super::frame::{Anomalies, CloseBody, FrameHeader, Opcode};
use super::mask::apply_mask;

#[derive(Debug, Clone, Copy)]
pub struct DecoderConfig {
    /// `Some(true)`: frames should be masked (we are reading a client);
    /// `Some(false)`: they should not (we are reading a server).
    pub expect_masked: Option<bool>,
    /// RSV bits that a negotiated extension permits (RSV1 = 4).
    pub allowed_rsv: u8,
    /// How many payload bytes of each frame [`Decoder::next_frame`] keeps.
    pub max_payload_keep: usize,
}

impl DecoderConfig {
    /// Reading frames sent by a server.
    pub fn from_server() -> Self {
        DecoderConfig {
            expect_masked: Some(false),
            allowed_rsv: 0,
            max_payload_keep: 4096,
        }
    }
    /// Reading frames sent by a client.
    pub fn from_client() -> Self {
        DecoderConfig {
            expect_masked: Some(true),
            ..Self::from_server()
        }
    }
}

/// What [`Decoder::poll`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A frame starts. Message-level anomalies (orphan continuation, data
    /// frame inside an open message) are already included.
    Header(FrameHeader),
    /// Some unmasked payload bytes of the current frame.
    Payload(Bytes),
    /// The current frame's payload is complete.
    End,
}

/// What [`Decoder::poll_slice`] yields: like [`Event`], but the payload is
/// a borrowed, still masked slice of the input, with the mask key and the
/// offset into it at which the slice starts (unmask with
/// [`super::mask::apply_mask`] if the bytes are needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceEvent<'a> {
    Header(FrameHeader),
    Payload {
        data: &'a [u8],
        mask: Option<([u8; 4], usize)>,
    },
    End,
}

/// A frame collected by [`Decoder::next_frame`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedFrame {
    pub header: FrameHeader,
    /// The first `max_payload_keep` bytes of the payload, unmasked.
    pub payload: Bytes,
    /// True when the payload was longer than what was kept.
    pub payload_truncated: bool,
    /// Set for close frames.
    pub close: Option<CloseBody>,
    /// Header anomalies plus close-body anomalies.
    pub anomalies: Anomalies,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Header,
    Payload {
        remaining: u64,
        mask: Option<[u8; 4]>,
        offset: usize,
    },
}

#[derive(Debug)]
pub struct Decoder {
    cfg: DecoderConfig,
    state: State,
    /// Whether a fragmented data message is open (its first frame had FIN
    /// clear); `None` when nothing is known of it.
    in_message: Option<bool>,
    // next_frame's accumulator.
    current: Option<FrameHeader>,
    kept: BytesMut,
    truncated: bool,
    /// Total payload bytes consumed, for statistics.
    pub payload_bytes: u64,
    pub frames: u64,
}

impl Decoder {
    pub fn new(cfg: DecoderConfig) -> Self {
        Decoder {
            cfg,
            state: State::Header,
            in_message: Some(false),
            current: None,
            kept: BytesMut::new(),
            truncated: false,
            payload_bytes: 0,
            frames: 0,
        }
    }

    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }

    /// Permit RSV bits after an extension was negotiated.
    pub fn set_allowed_rsv(&mut self, rsv: u8) {
        self.cfg.allowed_rsv = rsv;
    }

    /// True between frames: nothing of a frame is pending.
    pub fn at_boundary(&self) -> bool {
        matches!(self.state, State::Header)
    }

    /// Bytes still expected for the current frame's payload.
    pub fn payload_remaining(&self) -> u64 {
        match self.state {
            State::Header => 0,
            State::Payload { remaining, .. } => remaining,
        }
    }

    /// Account for `n` payload bytes that were lost (a gap in a capture)
    /// without having them: the current frame's remaining length and mask
    /// offset advance as if they had been read. Returns how many of the `n`
    /// fell inside the current frame; the rest lie beyond its end, where
    /// the next frame boundary is unknown.
    pub fn skip_payload(&mut self, n: u64) -> u64 {
        match &mut self.state {
            State::Header => 0,
            State::Payload {
                remaining, offset, ..
            } => {
                let k = n.min(*remaining);
                *remaining -= k;
                *offset = offset.wrapping_add((k % 4) as usize);
                k
            }
        }
    }

    /// Forget whether a message is open: the next data frame, whichever
    /// it is, gets no message-level anomaly (an orphan continuation, data
    /// inside a message), and tracking starts again from it. The runner
    /// calls it where a probe's reaction begins on a connection an earlier
    /// probe used: a server that left a message of that probe unfinished
    /// (Netty's echo sends a fragment back and never the rest) would
    /// otherwise have the anomaly recorded under whichever probe came next.
    pub fn forget_message(&mut self) {
        self.in_message = None;
    }

    /// Forget the frame in progress and any open message, to resume at a
    /// frame boundary found by other means (resynchronisation after a gap:
    /// the frames lost in it may have opened or closed a message).
    pub fn resync(&mut self) {
        self.state = State::Header;
        self.in_message = None;
        self.current = None;
        self.kept.clear();
        self.truncated = false;
    }

    /// A header was parsed: account for it and expect its payload.
    fn begin_frame(&mut self, mut header: FrameHeader) -> FrameHeader {
        self.track_message(&mut header);
        self.frames += 1;
        self.state = State::Payload {
            remaining: header.payload_len,
            mask: header.mask,
            offset: 0,
        };
        header
    }

    /// Next event from `src`, consuming what it uses. `None` means more
    /// input is needed.
    pub fn poll(&mut self, src: &mut BytesMut) -> Option<Event> {
        match self.state {
            State::Header => {
                let header = parse_header(src, &self.cfg)?;
                let _ = src.split_to(header.header_len);
                Some(Event::Header(self.begin_frame(header)))
            }
            State::Payload { remaining: 0, .. } => {
                self.state = State::Header;
                Some(Event::End)
            }
            State::Payload {
                remaining,
                mask,
                offset,
            } => {
                let take = self.take_payload(src.len(), remaining, mask, offset)?;
                let mut chunk = src.split_to(take);
                if let Some(k) = mask {
                    apply_mask(&mut chunk, k, offset);
                }
                Some(Event::Payload(chunk.freeze()))
            }
        }
    }

    /// How many of `available` payload bytes the current frame takes
    /// (`None`: none available), with the state advanced past them. The
    /// mask offset grows with the bytes taken; its users reduce it mod 4.
    fn take_payload(
        &mut self,
        available: usize,
        remaining: u64,
        mask: Option<[u8; 4]>,
        offset: usize,
    ) -> Option<usize> {
        if available == 0 {
            return None;
        }
        let take = (available as u64).min(remaining) as usize;
        self.payload_bytes += take as u64;
        self.state = State::Payload {
            remaining: remaining - take as u64,
            mask,
            offset: offset.wrapping_add(take),
        };
        Some(take)
    }

    /// [`Decoder::poll`] over a borrowed slice, advancing `src` past what
    /// it consumes: payload bytes are handed out in place, still masked, so
    /// a consumer that reads straight from a captured packet copies nothing
    /// it does not need. `None` means more input is needed; `src` then holds
    /// at most an incomplete header (fewer than 14 bytes), which the caller
    /// must keep and present again with what follows it.
    pub fn poll_slice<'a>(&mut self, src: &mut &'a [u8]) -> Option<SliceEvent<'a>> {
        match self.state {
            State::Header => {
                let header = parse_header(src, &self.cfg)?;
                *src = src.get(header.header_len..)?;
                Some(SliceEvent::Header(self.begin_frame(header)))
            }
            State::Payload { remaining: 0, .. } => {
                self.state = State::Header;
                Some(SliceEvent::End)
            }
            State::Payload {
                remaining,
                mask,
                offset,
            } => {
                let take = self.take_payload(src.len(), remaining, mask, offset)?;
                let (data, rest) = src.split_at(take);
                *src = rest;
                Some(SliceEvent::Payload {
                    data,
                    mask: mask.map(|k| (k, offset)),
                })
            }
        }
    }

    /// Collect the next complete frame, or `None` if more input is needed.
    pub fn next_frame(&mut self, src: &mut BytesMut) -> Option<DecodedFrame> {
        while let Some(ev) = self.poll(src) {
            match ev {
                Event::Header(h) => {
                    self.current = Some(h);
                    self.kept.clear();
                    self.truncated = false;
                }
                Event::Payload(b) => {
                    let room = self.cfg.max_payload_keep.saturating_sub(self.kept.len());
                    if b.len() > room {
                        self.truncated = true;
                    }
                    self.kept
                        .extend_from_slice(b.get(..room).unwrap_or(b.as_ref()));
                }
                Event::End => {
                    // `poll` ends only a frame it began with a Header.
                    if let Some(header) = self.current.take() {
                        return Some(self.finish(header));
                    }
                }
            }
        }
        None
    }

    /// The frame in progress as far as it got, when the stream ends inside
    /// it; flagged [`Anomalies::TRUNCATED`].
    pub fn take_partial(&mut self) -> Option<DecodedFrame> {
        let header = self.current.take()?;
        self.state = State::Header;
        let mut f = self.finish(header);
        f.anomalies.insert(Anomalies::TRUNCATED);
        f.payload_truncated = true;
        Some(f)
    }

    fn finish(&mut self, header: FrameHeader) -> DecodedFrame {
        let payload = self.kept.split().freeze();
        let mut anomalies = header.anomalies;
        let close = (header.opcode == Opcode::CLOSE).then(|| {
            let c = CloseBody::parse(&payload);
            anomalies.insert(c.anomalies);
            c
        });
        DecodedFrame {
            header,
            payload,
            payload_truncated: self.truncated,
            close,
            anomalies,
        }
    }

    fn track_message(&mut self, h: &mut FrameHeader) {
        if h.opcode.is_control() || h.opcode.is_reserved() {
            return;
        }
        if h.opcode == Opcode::CONTINUATION {
            if self.in_message == Some(false) {
                h.anomalies.insert(Anomalies::ORPHAN_CONTINUATION);
            }
        } else if self.in_message == Some(true) {
            h.anomalies.insert(Anomalies::DATA_INSIDE_MESSAGE);
        }
        self.in_message = Some(!h.fin);
    }
}

/// How many bytes the header starting at `buf` needs, as far as `buf`
/// tells: 2 until the length byte is there, then the exact length. A
/// consumer holding a partial header completes it with exactly this many
/// bytes, so the rest of its input can be decoded in place.
pub fn header_len_needed(buf: &[u8]) -> usize {
    let Some(&b1) = buf.get(1) else { return 2 };
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// Parse a header at the start of `buf`, without consuming. `None` if
/// `buf` does not yet hold the whole header.
pub fn parse_header(buf: &[u8], cfg: &DecoderConfig) -> Option<FrameHeader> {
    let &[b0, b1, ..] = buf else {
        return None;
    };
    let masked = b1 & 0x80 != 0;
    let (len, mut n, non_minimal) = match b1 & 0x7f {
        126 => {
            let l = u64::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?));
            (l, 4, l < 126)
        }
        127 => {
            let l = u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?);
            (l, 10, l <= 0xffff)
        }
        l => (u64::from(l), 2, false),
    };
    let mask = if masked {
        let k: [u8; 4] = buf.get(n..n + 4)?.try_into().ok()?;
        n += 4;
        Some(k)
    } else {
        None
    };
    let fin = b0 & 0x80 != 0;
    let rsv = (b0 >> 4) & 0x7;
    let opcode = Opcode(b0 & 0x0f);
    let mut a = Anomalies::default();
    if rsv & !cfg.allowed_rsv != 0 {
        a.insert(Anomalies::RSV_SET);
    }
    match (cfg.expect_masked, masked) {
        (Some(false), true) => a.insert(Anomalies::MASKED_SERVER_FRAME),
        (Some(true), false) => a.insert(Anomalies::UNMASKED_CLIENT_FRAME),
        _ => {}
    }
    if opcode.is_control() {
        if len > 125 {
            a.insert(Anomalies::CONTROL_TOO_LONG);
        }
        if !fin {
            a.insert(Anomalies::CONTROL_FRAGMENTED);
        }
    }
    if opcode.is_reserved() {
        a.insert(Anomalies::RESERVED_OPCODE);
    }
    if len >> 63 != 0 {
        a.insert(Anomalies::LENGTH_MSB_SET);
    }
    if non_minimal {
        a.insert(Anomalies::NON_MINIMAL_LENGTH);
    }
    Some(FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: len,
        header_len: n,
        anomalies: a,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::encode::{FrameSpec, LenEncoding, encode_frame};

    fn frames(bytes: &[u8], cfg: DecoderConfig) -> Vec<DecodedFrame> {
        let mut d = Decoder::new(cfg);
        let mut buf = BytesMut::from(bytes);
        std::iter::from_fn(|| d.next_frame(&mut buf)).collect()
    }

    #[test]
    fn byte_at_a_time_equals_all_at_once() {
        let mut wire = encode_frame(&FrameSpec::new(1).masked([1, 2, 3, 4]), b"hello world");
        wire.extend(encode_frame(&FrameSpec::new(8), b"\x03\xe8bye"));
        let whole = frames(&wire, DecoderConfig::from_client());
        let mut d = Decoder::new(DecoderConfig::from_client());
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in &wire {
            buf.extend_from_slice(&[*b]);
            while let Some(f) = d.next_frame(&mut buf) {
                got.push(f);
            }
        }
        assert_eq!(whole, got);
        assert_eq!(&got[0].payload[..], b"hello world");
        let close = got[1].close.as_ref().unwrap();
        assert_eq!(close.code, Some(1000));
        assert_eq!(close.reason, b"bye");
        assert!(got[1].anomalies.contains(Anomalies::UNMASKED_CLIENT_FRAME));
    }

    #[test]
    fn huge_declared_length_costs_no_memory() {
        let mut s = FrameSpec::new(2);
        s.declared_len = Some(u64::MAX);
        let wire = encode_frame(&s, &[7u8; 100]);
        let mut d = Decoder::new(DecoderConfig::from_server());
        let mut buf = BytesMut::from(&wire[..]);
        assert!(d.next_frame(&mut buf).is_none());
        assert!(buf.is_empty(), "payload bytes are consumed, not buffered");
        assert_eq!(d.payload_remaining(), u64::MAX - 100);
        let partial = d.take_partial().unwrap();
        assert!(partial.anomalies.contains(Anomalies::LENGTH_MSB_SET));
        assert!(partial.anomalies.contains(Anomalies::TRUNCATED));
        assert_eq!(partial.payload.len(), 100);
    }

    #[test]
    fn anomalies_are_reported_not_rejected() {
        let mut s = FrameSpec::new(9).masked([0, 0, 0, 0]);
        s.fin = false;
        s.rsv = 2;
        s.len_encoding = LenEncoding::Ext16;
        let wire = encode_frame(&s, &[0u8; 130]);
        let f = &frames(&wire, DecoderConfig::from_server())[0];
        for a in [
            Anomalies::RSV_SET,
            Anomalies::MASKED_SERVER_FRAME,
            Anomalies::CONTROL_TOO_LONG,
            Anomalies::CONTROL_FRAGMENTED,
        ] {
            assert!(f.anomalies.contains(a), "{:?}", a.labels());
        }
        let f = &frames(&encode_frame(&s, b"x"), DecoderConfig::from_server())[0];
        assert!(f.anomalies.contains(Anomalies::NON_MINIMAL_LENGTH));
    }

    #[test]
    fn message_level_anomalies() {
        let mut wire = encode_frame(&FrameSpec::new(0), b"orphan");
        let mut first = FrameSpec::new(1);
        first.fin = false;
        wire.extend(encode_frame(&first, b"a"));
        wire.extend(encode_frame(&FrameSpec::new(9), b"")); // control inside: fine
        wire.extend(encode_frame(&FrameSpec::new(2), b"b")); // data inside: bad
        let f = frames(&wire, DecoderConfig::from_server());
        assert!(f[0].anomalies.contains(Anomalies::ORPHAN_CONTINUATION));
        assert!(f[1].anomalies.is_empty());
        assert!(f[2].anomalies.is_empty());
        assert!(f[3].anomalies.contains(Anomalies::DATA_INSIDE_MESSAGE));
    }

    #[test]
    fn a_forgotten_message_state_flags_neither_way_until_the_next_data_frame() {
        let mut first = FrameSpec::new(1);
        first.fin = false;
        let open = encode_frame(&first, b"a");
        let cfg = DecoderConfig::from_server;
        // A message left open, then forgotten: a new message is no anomaly,
        // nor is a continuation; after it, tracking resumes.
        for next in [FrameSpec::new(1), FrameSpec::new(0)] {
            let mut d = Decoder::new(cfg());
            let mut buf = BytesMut::from(&open[..]);
            assert!(d.next_frame(&mut buf).is_some());
            d.forget_message();
            buf.extend_from_slice(&encode_frame(&next, b"b"));
            buf.extend_from_slice(&encode_frame(&FrameSpec::new(0), b"c"));
            let f = d.next_frame(&mut buf).unwrap();
            assert!(f.anomalies.is_empty(), "{:?}", f.anomalies.labels());
            let f = d.next_frame(&mut buf).unwrap();
            assert!(f.anomalies.contains(Anomalies::ORPHAN_CONTINUATION));
        }
        // Not forgotten, the same bytes are flagged.
        let mut wire = open.clone();
        wire.extend(encode_frame(&FrameSpec::new(1), b"b"));
        let f = frames(&wire, cfg());
        assert!(f[1].anomalies.contains(Anomalies::DATA_INSIDE_MESSAGE));
    }

    /// The borrowed-slice decoder yields the same headers and, once
    /// unmasked, the same payload bytes as the buffered one, however the
    /// input is split (headers included).
    #[test]
    fn poll_slice_equals_poll() {
        let mut wire = encode_frame(&FrameSpec::new(1).masked([1, 2, 3, 4]), b"hello world");
        wire.extend(encode_frame(
            &FrameSpec::new(2).masked([9, 8, 7, 6]),
            &[5u8; 300],
        ));
        wire.extend(encode_frame(&FrameSpec::new(8), b"\x03\xe8bye"));
        let mut d = Decoder::new(DecoderConfig::from_client());
        let mut buf = BytesMut::from(&wire[..]);
        let mut want = Vec::new();
        while let Some(ev) = d.poll(&mut buf) {
            match ev {
                Event::Payload(b) => want.extend(b.iter().map(|&x| Some(x))),
                Event::Header(_) => want.push(None),
                Event::End => {}
            }
        }
        for split in [1, 2, 3, 7, 13, 64, wire.len()] {
            let mut d = Decoder::new(DecoderConfig::from_client());
            let mut got = Vec::new();
            let mut held: Vec<u8> = Vec::new();
            for piece in wire.chunks(split) {
                held.extend_from_slice(piece);
                let mut src = &held[..];
                while let Some(ev) = d.poll_slice(&mut src) {
                    match ev {
                        SliceEvent::Payload { data, mask } => {
                            let mut v = data.to_vec();
                            if let Some((k, off)) = mask {
                                apply_mask(&mut v, k, off);
                            }
                            got.extend(v.into_iter().map(Some));
                        }
                        SliceEvent::Header(_) => got.push(None),
                        SliceEvent::End => {}
                    }
                }
                assert!(src.len() < 14, "only a partial header is left");
                held = src.to_vec();
            }
            assert_eq!(got, want, "split {split}");
        }
    }

    #[test]
    fn keep_cap_truncates_payload() {
        let mut cfg = DecoderConfig::from_server();
        cfg.max_payload_keep = 4;
        let f = &frames(&encode_frame(&FrameSpec::new(2), b"abcdefgh"), cfg)[0];
        assert_eq!(&f.payload[..], b"abcd");
        assert!(f.payload_truncated);
    }
}
