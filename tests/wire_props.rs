//! Property tests for the sans-I/O WebSocket core (`wsfp::wire`).
//!
//! Each property compares the implementation against an independent oracle
//! (a naive bytewise XOR, a hand-written header layout, httparse's request
//! parser, a one-shot decode of the same bytes...), so they fail on real
//! regressions rather than restating the code under test.

use bytes::BytesMut;
use proptest::prelude::*;
use proptest::sample::Index;

use wsfp::wire::encode::{MAX_HEADER_LEN, MaskedRepeat};
use wsfp::wire::{
    Anomalies, DecodedFrame, Decoder, DecoderConfig, Event, FrameHeader, FrameSpec, LenEncoding,
    Opcode, Request, ResponseError, encode_frame, encode_header, parse_response,
};
use wsfp::wire::{decode::parse_header, mask::apply_mask};

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn len_encoding() -> impl Strategy<Value = LenEncoding> {
    prop_oneof![
        Just(LenEncoding::Minimal),
        Just(LenEncoding::Ext16),
        Just(LenEncoding::Ext64),
    ]
}

/// A frame spec announcing its real length (`declared_len: None`).
fn frame_spec() -> impl Strategy<Value = FrameSpec> {
    (
        any::<bool>(),
        0u8..8,
        0u8..16,
        any::<Option<[u8; 4]>>(),
        len_encoding(),
    )
        .prop_map(|(fin, rsv, opcode, mask, len_encoding)| FrameSpec {
            fin,
            rsv,
            opcode,
            mask,
            declared_len: None,
            len_encoding,
        })
}

/// Payload lengths biased towards the 7/16/64-bit encoding boundaries;
/// large payloads are a minority so the default case count stays fast.
fn payload_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 0usize..130,
        2 => 120usize..=140,
        2 => 65_530usize..=65_542,
        1 => 0usize..70_000,
    ]
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    payload_len().prop_flat_map(|n| prop::collection::vec(any::<u8>(), n))
}

/// Payloads for multi-frame streams: small, with the odd 16-bit one.
fn small_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..130),
        1 => prop::collection::vec(any::<u8>(), 120..700),
    ]
}

fn decoder_config() -> impl Strategy<Value = DecoderConfig> {
    (
        prop_oneof![Just(None), Just(Some(true)), Just(Some(false))],
        0u8..8,
        prop_oneof![Just(usize::MAX), 0usize..800],
    )
        .prop_map(
            |(expect_masked, allowed_rsv, max_payload_keep)| DecoderConfig {
                expect_masked,
                allowed_rsv,
                max_payload_keep,
            },
        )
}

/// Cut `data` at the given (unsorted, possibly duplicated) points.
fn split_at_points<'a>(data: &'a [u8], points: &[Index]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points.iter().map(|i| i.index(data.len() + 1)).collect();
    cuts.push(0);
    cuts.push(data.len());
    cuts.sort_unstable();
    cuts.windows(2).map(|w| &data[w[0]..w[1]]).collect()
}

fn naive_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[offset.wrapping_add(i) % 4];
    }
}

/// The anomalies a header must carry, computed independently of the decoder.
fn expected_header_anomalies(
    spec: &FrameSpec,
    len: u64,
    header_len_form: usize,
    cfg: &DecoderConfig,
) -> Anomalies {
    let mut a = Anomalies::default();
    if spec.rsv & !cfg.allowed_rsv & 7 != 0 {
        a.insert(Anomalies::RSV_SET);
    }
    match (cfg.expect_masked, spec.mask.is_some()) {
        (Some(false), true) => a.insert(Anomalies::MASKED_SERVER_FRAME),
        (Some(true), false) => a.insert(Anomalies::UNMASKED_CLIENT_FRAME),
        _ => {}
    }
    let control = spec.opcode >= 8;
    if control && len > 125 {
        a.insert(Anomalies::CONTROL_TOO_LONG);
    }
    if control && !spec.fin {
        a.insert(Anomalies::CONTROL_FRAGMENTED);
    }
    if matches!(spec.opcode, 3..=7 | 11..=15) {
        a.insert(Anomalies::RESERVED_OPCODE);
    }
    if len >> 63 != 0 {
        a.insert(Anomalies::LENGTH_MSB_SET);
    }
    let minimal_form = if len <= 125 {
        2
    } else if len <= 0xffff {
        4
    } else {
        10
    };
    if header_len_form > minimal_form {
        a.insert(Anomalies::NON_MINIMAL_LENGTH);
    }
    a
}

/// Message-level anomalies for a sequence of (fin, opcode), in order:
/// a continuation with no open message, or a new data frame inside one.
fn expected_message_anomalies(frames: &[(bool, u8)]) -> Vec<Anomalies> {
    let mut open = false;
    frames
        .iter()
        .map(|&(fin, op)| {
            let mut a = Anomalies::default();
            if op >= 3 {
                // Control and reserved opcodes do not take part.
                return a;
            }
            if op == 0 && !open {
                a.insert(Anomalies::ORPHAN_CONTINUATION);
            }
            if op != 0 && open {
                a.insert(Anomalies::DATA_INSIDE_MESSAGE);
            }
            open = !fin;
            a
        })
        .collect()
}

/// The length form (2, 4 or 10 bytes before the key) a spec must produce.
fn expected_form(enc: LenEncoding, len: u64) -> usize {
    match enc {
        LenEncoding::Ext64 => 10,
        LenEncoding::Ext16 if len <= 0xffff => 4,
        _ if len <= 125 => 2,
        _ if len <= 0xffff => 4,
        _ => 10,
    }
}

fn decode_all(bytes: &[u8], cfg: DecoderConfig) -> (Vec<DecodedFrame>, BytesMut) {
    let mut d = Decoder::new(cfg);
    let mut buf = BytesMut::from(bytes);
    let frames = std::iter::from_fn(|| d.next_frame(&mut buf)).collect();
    (frames, buf)
}

/// `poll` events with adjacent payload chunks merged, so that streams cut
/// differently compare equal.
#[derive(Debug, PartialEq, Eq)]
enum Merged {
    Header(FrameHeader),
    Payload(Vec<u8>),
    End,
}

fn push_event(out: &mut Vec<Merged>, ev: Event) {
    match ev {
        Event::Header(h) => out.push(Merged::Header(h)),
        Event::End => out.push(Merged::End),
        Event::Payload(b) => {
            assert!(!b.is_empty(), "poll yielded an empty payload chunk");
            if let Some(Merged::Payload(p)) = out.last_mut() {
                p.extend_from_slice(&b);
            } else {
                out.push(Merged::Payload(b.to_vec()));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Frames: encode / decode
// ---------------------------------------------------------------------------

proptest! {
    /// encode_frame → Decoder::next_frame gives back every header field, the
    /// payload, the header length, and exactly the anomalies the spec implies.
    #[test]
    fn encode_decode_round_trip(
        spec in frame_spec(),
        payload in payload(),
        allowed_rsv in 0u8..8,
        expect_masked in prop_oneof![Just(None), Just(Some(true)), Just(Some(false))],
    ) {
        let cfg = DecoderConfig { expect_masked, allowed_rsv, max_payload_keep: usize::MAX };
        let wire = encode_frame(&spec, &payload);

        let mut head = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&spec, payload.len() as u64, &mut head);
        let form = expected_form(spec.len_encoding, payload.len() as u64);
        let expect_n = form + if spec.mask.is_some() { 4 } else { 0 };
        prop_assert_eq!(n, expect_n);
        prop_assert_eq!(&wire[..n], &head[..n]);
        prop_assert_eq!(wire.len(), n + payload.len());
        if let Some(k) = spec.mask {
            let mut unmasked = wire[n..].to_vec();
            naive_mask(&mut unmasked, k, 0);
            prop_assert_eq!(&unmasked, &payload);
        } else {
            prop_assert_eq!(&wire[n..], &payload[..]);
        }

        let (frames, rest) = decode_all(&wire, cfg);
        prop_assert!(rest.is_empty(), "left {} bytes", rest.len());
        prop_assert_eq!(frames.len(), 1);
        let f = &frames[0];
        let h = &f.header;
        prop_assert_eq!(h.fin, spec.fin);
        prop_assert_eq!(h.rsv, spec.rsv);
        prop_assert_eq!(h.opcode, Opcode(spec.opcode));
        prop_assert_eq!(h.mask, spec.mask);
        prop_assert_eq!(h.payload_len, payload.len() as u64);
        prop_assert_eq!(h.header_len, n);
        prop_assert_eq!(&f.payload[..], &payload[..]);
        prop_assert!(!f.payload_truncated);
        let mut expect = expected_header_anomalies(&spec, payload.len() as u64, form, &cfg);
        expect.insert(expected_message_anomalies(&[(spec.fin, spec.opcode)])[0]);
        prop_assert_eq!(
            h.anomalies,
            expect,
            "got {:?}", h.anomalies.labels()
        );
        prop_assert_eq!(f.close.is_some(), spec.opcode == 8);
    }

    /// encode_header → parse_header for any declared 64-bit length (MSB set
    /// included); every strict prefix of the header is "need more".
    #[test]
    fn header_round_trip_any_declared_len(
        spec in frame_spec(),
        len in prop_oneof![any::<u64>(), 0u64..70_000, Just(u64::MAX), Just(1u64 << 63)],
    ) {
        let cfg = DecoderConfig {
            expect_masked: None,
            allowed_rsv: 0,
            max_payload_keep: 0,
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&spec, len, &mut head);
        let h = parse_header(&head[..n], &cfg).expect("complete header");
        prop_assert_eq!(h.payload_len, len);
        prop_assert_eq!(h.header_len, n);
        prop_assert_eq!((h.fin, h.rsv, h.opcode, h.mask), (spec.fin, spec.rsv, Opcode(spec.opcode), spec.mask));
        let form = expected_form(spec.len_encoding, len);
        prop_assert_eq!(h.anomalies, expected_header_anomalies(&spec, len, form, &cfg));
        for k in 0..n {
            prop_assert!(parse_header(&head[..k], &cfg).is_none(), "prefix {} of {}", k, n);
        }
        // declared_len overrides the real length.
        let mut s = spec;
        s.declared_len = Some(len);
        let mut head2 = [0u8; MAX_HEADER_LEN];
        let n2 = encode_header(&s, 12345, &mut head2);
        prop_assert_eq!(&head2[..n2], &head[..n]);
    }

    /// Several frames cut into arbitrary pieces decode to the same frames
    /// (via next_frame) and the same merged events (via poll) as the whole
    /// stream at once, with the same counters.
    #[test]
    fn chunk_splits_do_not_change_frames(
        frames in prop::collection::vec((frame_spec(), small_payload()), 1..7),
        cfg in decoder_config(),
        keep_at_len in proptest::option::weighted(0.5, (any::<Index>(), -1i64..=1)),
        points in prop::collection::vec(any::<Index>(), 0..12),
        byte_at_a_time in prop::bool::weighted(0.1),
    ) {
        let mut cfg = cfg;
        if let Some((i, delta)) = keep_at_len {
            // Put the keep cap right at (or next to) one frame's length.
            let len = frames[i.index(frames.len())].1.len() as i64;
            cfg.max_payload_keep = (len + delta).max(0) as usize;
        }
        let mut wire = Vec::new();
        for (spec, p) in &frames {
            wire.extend(encode_frame(spec, p));
        }
        let chunks: Vec<&[u8]> = if byte_at_a_time {
            wire.chunks(1).collect()
        } else {
            split_at_points(&wire, &points)
        };

        // next_frame, all at once.
        let mut d1 = Decoder::new(cfg);
        let mut b1 = BytesMut::from(&wire[..]);
        let whole: Vec<DecodedFrame> = std::iter::from_fn(|| d1.next_frame(&mut b1)).collect();
        prop_assert_eq!(whole.len(), frames.len());
        prop_assert!(b1.is_empty());
        let msg = expected_message_anomalies(
            &frames.iter().map(|(s, _)| (s.fin, s.opcode)).collect::<Vec<_>>(),
        );
        for ((f, (spec, p)), m) in whole.iter().zip(&frames).zip(msg) {
            let mut expect = expected_header_anomalies(
                spec,
                p.len() as u64,
                expected_form(spec.len_encoding, p.len() as u64),
                &cfg,
            );
            expect.insert(m);
            prop_assert_eq!(f.header.anomalies, expect, "got {:?}", f.header.anomalies.labels());
            let keep = p.len().min(cfg.max_payload_keep);
            prop_assert_eq!(&f.payload[..], &p[..keep]);
            prop_assert_eq!(f.payload_truncated, p.len() > cfg.max_payload_keep);
            prop_assert_eq!(f.header.opcode, Opcode(spec.opcode));
        }

        // next_frame, chunked.
        let mut d2 = Decoder::new(cfg);
        let mut b2 = BytesMut::new();
        let mut split = Vec::new();
        for c in &chunks {
            b2.extend_from_slice(c);
            while let Some(f) = d2.next_frame(&mut b2) {
                split.push(f);
            }
            prop_assert!(b2.len() <= MAX_HEADER_LEN);
        }
        prop_assert_eq!(&split, &whole);
        prop_assert!(b2.is_empty());
        prop_assert_eq!((d2.frames, d2.payload_bytes), (d1.frames, d1.payload_bytes));
        prop_assert!(d2.at_boundary());

        // poll, all at once vs chunked.
        let mut d3 = Decoder::new(cfg);
        let mut b3 = BytesMut::from(&wire[..]);
        let mut ev_whole = Vec::new();
        while let Some(ev) = d3.poll(&mut b3) {
            push_event(&mut ev_whole, ev);
        }
        let mut d4 = Decoder::new(cfg);
        let mut b4 = BytesMut::new();
        let mut ev_split = Vec::new();
        for c in &chunks {
            b4.extend_from_slice(c);
            while let Some(ev) = d4.poll(&mut b4) {
                push_event(&mut ev_split, ev);
            }
        }
        prop_assert_eq!(&ev_split, &ev_whole);
        prop_assert_eq!(ev_whole.iter().filter(|e| matches!(e, Merged::End)).count(), frames.len());
        // Headers seen by poll are those seen by next_frame.
        let hs: Vec<FrameHeader> = ev_whole.iter().filter_map(|e| match e {
            Merged::Header(h) => Some(*h),
            _ => None,
        }).collect();
        let hs2: Vec<FrameHeader> = whole.iter().map(|f| f.header).collect();
        prop_assert_eq!(hs, hs2);
    }

    /// Arbitrary bytes, in arbitrary chunks, never panic, never leave more
    /// than one (incomplete) header buffered, and every input byte is
    /// accounted for as header, payload or leftover.
    #[test]
    fn decoder_bounded_on_random_input(
        data in prop::collection::vec(any::<u8>(), 0..3000),
        cfg in decoder_config(),
        points in prop::collection::vec(any::<Index>(), 0..20),
        use_poll in any::<bool>(),
    ) {
        let mut d = Decoder::new(cfg);
        let mut buf = BytesMut::new();
        let mut header_bytes = 0u64;
        for c in split_at_points(&data, &points) {
            buf.extend_from_slice(c);
            if use_poll {
                while let Some(ev) = d.poll(&mut buf) {
                    if let Event::Header(h) = ev {
                        header_bytes += h.header_len as u64;
                    }
                }
            } else {
                while let Some(f) = d.next_frame(&mut buf) {
                    header_bytes += f.header.header_len as u64;
                    prop_assert!(f.payload.len() <= cfg.max_payload_keep);
                }
            }
            prop_assert!(buf.len() <= 14, "decoder holds {} bytes", buf.len());
            if !buf.is_empty() {
                prop_assert!(d.at_boundary());
                prop_assert!(parse_header(&buf, &cfg).is_none());
            }
        }
        if !use_poll {
            // Headers of a frame still in progress are counted through take_partial.
            if let Some(p) = d.take_partial() {
                header_bytes += p.header.header_len as u64;
                prop_assert!(p.anomalies.contains(Anomalies::TRUNCATED));
            }
        }
        prop_assert_eq!(header_bytes + d.payload_bytes + buf.len() as u64, data.len() as u64);
    }
}

// ---------------------------------------------------------------------------
// Masking
// ---------------------------------------------------------------------------

proptest! {
    /// apply_mask equals a naive XOR at any offset and alignment, returns the
    /// continuation offset, and is an involution.
    #[test]
    fn apply_mask_matches_naive_and_is_involution(
        data in prop::collection::vec(any::<u8>(), 0..600),
        start in 0usize..16,
        key in any::<[u8; 4]>(),
        offset in prop_oneof![0usize..64, any::<usize>()],
    ) {
        let start = start.min(data.len());
        let mut a = data.clone();
        let next = apply_mask(&mut a[start..], key, offset);
        prop_assert_eq!(next, offset.wrapping_add(data.len() - start));
        let mut b = data.clone();
        naive_mask(&mut b[start..], key, offset);
        prop_assert_eq!(&a, &b);
        apply_mask(&mut a[start..], key, offset);
        prop_assert_eq!(&a, &data);
    }

    /// Masking in arbitrary pieces, carrying the returned offset, equals one pass.
    #[test]
    fn apply_mask_chunked_equals_one_pass(
        data in prop::collection::vec(any::<u8>(), 0..2000),
        key in any::<[u8; 4]>(),
        offset in 0usize..16,
        points in prop::collection::vec(any::<Index>(), 0..16),
    ) {
        let mut whole = data.clone();
        apply_mask(&mut whole, key, offset);
        let mut parts = data.clone();
        let mut cuts: Vec<usize> = points.iter().map(|i| i.index(data.len() + 1)).collect();
        cuts.push(0);
        cuts.push(data.len());
        cuts.sort_unstable();
        let mut off = offset;
        for w in cuts.windows(2) {
            off = apply_mask(&mut parts[w[0]..w[1]], key, off);
        }
        prop_assert_eq!(off, offset + data.len());
        prop_assert_eq!(parts, whole);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// MaskedRepeat::take(n) yields exactly the first n bytes of the masked,
    /// endlessly repeated pattern, in pieces no longer than its chunk.
    #[test]
    fn masked_repeat_take_equals_one_pass(
        pattern in prop::collection::vec(any::<u8>(), 1..20),
        key in any::<Option<[u8; 4]>>(),
        n in prop_oneof![0u64..300, 65_500u64..66_000, 0u64..300_000],
    ) {
        let r = MaskedRepeat::new(&pattern, key);
        let cl = r.chunk_len();
        prop_assert!(cl > 0 && cl.is_multiple_of(4) && cl.is_multiple_of(pattern.len()), "chunk_len {}", cl);
        let mut streamed = Vec::with_capacity(n as usize);
        let mut pieces = 0usize;
        for b in r.take(n) {
            prop_assert!(!b.is_empty() && b.len() <= cl);
            streamed.extend_from_slice(&b);
            pieces += 1;
        }
        prop_assert_eq!(pieces, (n as usize).div_ceil(cl));
        let mut expect: Vec<u8> = pattern.iter().copied().cycle().take(n as usize).collect();
        if let Some(k) = key {
            naive_mask(&mut expect, k, 0);
        }
        prop_assert_eq!(streamed.len(), expect.len());
        prop_assert!(streamed == expect, "first difference at {:?}",
            streamed.iter().zip(&expect).position(|(a, b)| a != b));
    }
}

// ---------------------------------------------------------------------------
// Handshake request
// ---------------------------------------------------------------------------

const TCHAR: &[u8] =
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

const WS: &[u8] = b" \t";

fn token() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(TCHAR), 1..24)
}

/// A header value without leading or trailing whitespace: VCHAR and
/// obs-text, with single spaces or tabs inside.
fn field_value() -> impl Strategy<Value = Vec<u8>> {
    let vchar = prop_oneof![8 => 0x21u8..=0x7e, 1 => 0x80u8..=0xff];
    let word = prop::collection::vec(vchar, 1..12);
    (
        prop::collection::vec((word, prop::sample::select(WS)), 0..4),
        prop::collection::vec(0x21u8..=0x7e, 0..12),
    )
        .prop_map(|(words, last)| {
            let mut v = Vec::new();
            for (w, sep) in words {
                v.extend(w);
                v.push(sep);
            }
            if last.is_empty() {
                // Do not end with the separator.
                v.pop();
            }
            v.extend(last);
            v
        })
}

fn request_path() -> impl Strategy<Value = String> {
    "/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,40}"
}

proptest! {
    /// Request::to_bytes is parsed by httparse into the same request line and
    /// the same headers, in order, with the body starting right after.
    #[test]
    fn request_bytes_parse_back(
        path in request_path(),
        host in "[a-z0-9.-]{1,30}(:[0-9]{1,5})?",
        origin in proptest::option::of("https?://[a-z0-9.-]{1,20}"),
        extra in prop::collection::vec((token(), field_value()), 0..12),
        set in proptest::option::of((token(), field_value())),
        bare_lf in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let key = wsfp::wire::random_key();
        let mut r = Request::websocket(&path, &host, &key, origin.as_deref());
        for (n, v) in &extra {
            r.push(n, v);
        }
        if let Some((n, v)) = &set {
            r.set(n, v);
            prop_assert_eq!(r.get(std::str::from_utf8(n).unwrap()), Some(&v[..]));
            prop_assert_eq!(
                r.headers.iter().filter(|(h, _)| h.eq_ignore_ascii_case(n)).count(),
                1
            );
        }
        if bare_lf {
            r.line_ending = b"\n".to_vec();
        }
        r.body = body.clone();
        let bytes = r.to_bytes();
        // Verbatim: request line, "name: value" lines, blank line, body.
        let le = r.line_ending.clone();
        let mut reference = [&r.request_line[..], &le].concat();
        for (n, v) in &r.headers {
            reference.extend([&n[..], b": ", v, &le].concat());
        }
        reference.extend([&le[..], &body].concat());
        prop_assert_eq!(&bytes, &reference);

        let mut storage = vec![httparse::EMPTY_HEADER; r.headers.len() + 1];
        let mut req = httparse::Request::new(&mut storage);
        let status = req.parse(&bytes).map_err(|e| {
            TestCaseError::fail(format!("httparse: {e} on {:?}", String::from_utf8_lossy(&bytes)))
        })?;
        let httparse::Status::Complete(n) = status else {
            return Err(TestCaseError::fail("httparse: partial"));
        };
        prop_assert_eq!(n, bytes.len() - body.len());
        prop_assert_eq!(&bytes[n..], &body[..]);
        let line = format!(
            "{} {} HTTP/1.{}",
            req.method.unwrap(),
            req.path.unwrap(),
            req.version.unwrap()
        );
        prop_assert_eq!(line.as_bytes(), &r.request_line[..]);
        prop_assert_eq!(req.path.unwrap(), path.as_str());
        let parsed: Vec<(Vec<u8>, Vec<u8>)> = req
            .headers
            .iter()
            .map(|h| (h.name.as_bytes().to_vec(), h.value.to_vec()))
            .collect();
        prop_assert_eq!(&parsed, &r.headers);
        prop_assert_eq!(r.get("sec-websocket-key"), Some(key.as_bytes()));
    }
}

// ---------------------------------------------------------------------------
// Handshake response
// ---------------------------------------------------------------------------

/// A reason phrase as RFC 9112 allows it, restricted to ASCII: HTAB / SP /
/// VCHAR, not starting with whitespace (leading spaces are a delimiter).
fn ascii_reason() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[!-~][\t -~]{0,40}"]
}

fn response_bytes(
    minor: u8,
    status: u16,
    reason: &[u8],
    headers: &[(Vec<u8>, Vec<u8>)],
    crlf: bool,
) -> Vec<u8> {
    let le: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let mut out = format!("HTTP/1.{minor} {status:03} ").into_bytes();
    out.extend_from_slice(reason);
    out.extend_from_slice(le);
    for (n, v) in headers {
        out.extend_from_slice(n);
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(le);
    }
    out.extend_from_slice(le);
    out
}

const RESPONSE_STARTS: &[&[u8]] = &[b"HTTP/1.1 101 ", b"HTTP/1.0 200\r\n", b"HTTP/1.1 400 Bad\n"];
const HEAD_BYTES: &[u8] = b"\r\n: \tAa-z0";

proptest! {
    /// Arbitrary bytes never panic, and the result is consistent with the
    /// caps: a complete head lies within the input and the window, and
    /// re-parsing exactly that head gives the same answer.
    #[test]
    fn parse_response_total_on_random_bytes(
        data in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..400),
            // Start like a response, so the header parser is reached.
            (prop::sample::select(RESPONSE_STARTS),
             prop::collection::vec(prop_oneof![
                 4 => prop::sample::select(HEAD_BYTES),
                 1 => any::<u8>(),
             ], 0..300))
                .prop_map(|(p, t)| [p, &t[..]].concat()),
        ],
        max_head in prop_oneof![1usize..64, 64usize..1024],
        max_headers in 0usize..8,
    ) {
        match parse_response(&data, max_head, max_headers) {
            Ok(Some(h)) => {
                prop_assert!(h.head_len <= data.len() && h.head_len <= max_head);
                prop_assert!(h.headers.len() <= max_headers);
                let again = parse_response(&data[..h.head_len], max_head, max_headers);
                prop_assert_eq!(again, Ok(Some(h)));
            }
            Ok(None) => prop_assert!(data.len() < max_head),
            Err(ResponseError::TooLarge(n)) => {
                prop_assert_eq!(n, max_head);
                prop_assert!(data.len() >= max_head);
            }
            Err(ResponseError::Malformed(_)) => {}
        }
    }

    /// A well-formed response head is returned verbatim, and head_len points
    /// exactly past the blank line (frames may follow in the same read).
    #[test]
    fn parse_response_verbatim(
        minor in 0u8..2,
        status in 100u16..600,
        reason in ascii_reason(),
        headers in prop::collection::vec((token(), field_value()), 0..20),
        crlf in any::<bool>(),
        trailer in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let head = response_bytes(minor, status, reason.as_bytes(), &headers, crlf);
        let data = [&head[..], &trailer[..]].concat();
        let h = parse_response(&data, 16 * 1024, 64)
            .map_err(|e| TestCaseError::fail(format!("{e} on {:?}", String::from_utf8_lossy(&data))))?
            .ok_or_else(|| TestCaseError::fail("incomplete"))?;
        prop_assert_eq!(h.version, minor);
        prop_assert_eq!(h.status, status);
        prop_assert_eq!(&h.reason, &reason);
        let expect: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (String::from_utf8(n.clone()).unwrap(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        prop_assert_eq!(&h.headers, &expect);
        prop_assert_eq!(h.head_len, head.len());
        prop_assert_eq!(&data[h.head_len..], &trailer[..]);
        // Every strict prefix of the head is "read more", never an error.
        for cut in [0, head.len() / 2, head.len() - 1] {
            prop_assert_eq!(parse_response(&head[..cut], 16 * 1024, 64), Ok(None));
        }
    }
}

/// Reason phrases with bytes >= 0x80 (obs-text, including valid UTF-8) are
/// kept, lossily; httparse alone would return an empty reason for them.
#[test]
fn parse_response_keeps_non_ascii_reason() {
    let data = "HTTP/1.1 101 Protokollwechsel ü\r\n\r\n".as_bytes();
    let h = parse_response(data, 1024, 8).unwrap().unwrap();
    assert_eq!(h.reason, "Protokollwechsel ü");
    let data = b"HTTP/1.1 101 X\xffY\r\n\r\n";
    let h = parse_response(data, 1024, 8).unwrap().unwrap();
    assert_eq!(h.reason, "X\u{fffd}Y");
}
