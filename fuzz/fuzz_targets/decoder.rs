//! Arbitrary bytes, fed to `Decoder` in arbitrary chunk sizes.
//!
//! Input layout: byte 0 gives how many of the following bytes (0..=31) are
//! chunk sizes (each `s` means a chunk of `s + 1` bytes, cycled); the rest
//! is the byte stream. No sizes means the whole stream in one piece.
//!
//! Checked for the server, client and a lenient configuration, through both
//! `next_frame` and `poll`:
//! - nothing panics;
//! - after draining, the decoder leaves at most 14 (one incomplete header)
//!   unconsumed bytes, and only between frames;
//! - every input byte is a header byte, a payload byte or left over;
//! - chunked decoding gives the same frames as decoding the whole stream.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use wsfp::wire::decode::parse_header;
use wsfp::wire::{DecodedFrame, Decoder, DecoderConfig, Event};

const MAX_HEADER: usize = 14;

fn chunks<'a>(stream: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    if sizes.is_empty() {
        return vec![stream];
    }
    let mut out = Vec::new();
    let mut rest = stream;
    for &s in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at((usize::from(s) + 1).min(rest.len()));
        out.push(a);
        rest = b;
    }
    out
}

fn check_leftover(d: &Decoder, buf: &BytesMut, cfg: &DecoderConfig) {
    assert!(buf.len() <= MAX_HEADER, "decoder holds {} bytes", buf.len());
    if !buf.is_empty() {
        assert!(d.at_boundary(), "bytes left inside a frame");
        assert!(parse_header(buf, cfg).is_none(), "complete header left");
    }
}

/// Frames via `next_frame`, plus the in-progress one (if any).
fn frames(cfg: DecoderConfig, pieces: &[&[u8]], total: usize) -> Vec<DecodedFrame> {
    let mut d = Decoder::new(cfg);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for p in pieces {
        buf.extend_from_slice(p);
        while let Some(f) = d.next_frame(&mut buf) {
            assert!(f.payload.len() <= cfg.max_payload_keep);
            out.push(f);
        }
        check_leftover(&d, &buf, &cfg);
    }
    out.extend(d.take_partial());
    let headers: u64 = out.iter().map(|f| f.header.header_len as u64).sum();
    assert_eq!(headers + d.payload_bytes + buf.len() as u64, total as u64);
    out
}

fn poll_all(cfg: DecoderConfig, pieces: &[&[u8]], total: usize) {
    let mut d = Decoder::new(cfg);
    let mut buf = BytesMut::new();
    let mut headers = 0u64;
    let mut payload = 0u64;
    for p in pieces {
        buf.extend_from_slice(p);
        while let Some(ev) = d.poll(&mut buf) {
            match ev {
                Event::Header(h) => headers += h.header_len as u64,
                Event::Payload(b) => {
                    assert!(!b.is_empty());
                    payload += b.len() as u64;
                }
                Event::End => {}
            }
        }
        check_leftover(&d, &buf, &cfg);
    }
    assert_eq!(payload, d.payload_bytes);
    assert_eq!(headers + payload + buf.len() as u64, total as u64);
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 32).min(rest.len());
    let (sizes, stream) = rest.split_at(n);
    let pieces = chunks(stream, sizes);

    let lenient = DecoderConfig {
        expect_masked: None,
        allowed_rsv: 7,
        max_payload_keep: 16,
    };
    for cfg in [
        DecoderConfig::from_server(),
        DecoderConfig::from_client(),
        lenient,
    ] {
        let split = frames(cfg, &pieces, stream.len());
        let whole = frames(cfg, &[stream], stream.len());
        assert_eq!(split, whole, "chunking changed the frames");
        poll_all(cfg, &pieces, stream.len());
    }
});
