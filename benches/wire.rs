//! Throughput of the sans-I/O WebSocket core (`wsfp::wire`).
//!
//! Run: `cargo bench --bench wire` (add `-- --quick` for a fast pass, or a
//! filter such as `-- decode/`). Byte groups report GB/s of wire bytes;
//! the response group reports parsed heads per second.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use wsfp::wire::encode::MaskedRepeat;
use wsfp::wire::mask::apply_mask;
use wsfp::wire::{
    Decoder, DecoderConfig, Event, FrameSpec, encode_frame, parse_response,
    response::{DEFAULT_MAX_HEAD, DEFAULT_MAX_HEADERS},
};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + 7) as u8).collect()
}

fn size_label(n: usize) -> String {
    match n {
        n if n >= MIB => format!("{}MiB", n / MIB),
        n if n >= KIB => format!("{}KiB", n / KIB),
        n => format!("{n}B"),
    }
}

/// A buffer of about `total` bytes of back-to-back binary frames carrying
/// `size`-byte payloads, masked (client) or not (server).
fn frame_stream(size: usize, masked: bool, total: usize) -> (Vec<u8>, usize) {
    let mut spec = FrameSpec::new(2);
    if masked {
        spec = spec.masked(KEY);
    }
    let frame = encode_frame(&spec, &payload(size));
    let count = (total / frame.len()).max(1);
    (frame.repeat(count), count)
}

fn bench_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode/masked");
    let spec = FrameSpec::new(2).masked(KEY);
    for size in [16, KIB, 64 * KIB, MIB] {
        let p = payload(size);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size_label(size)), &p, |b, p| {
            b.iter(|| encode_frame(black_box(&spec), black_box(p)))
        });
    }
    g.finish();
}

fn bench_decode(c: &mut Criterion) {
    const TOTAL: usize = 4 * MIB;
    for (name, masked, cfg) in [
        ("server", false, DecoderConfig::from_server()),
        ("client", true, DecoderConfig::from_client()),
    ] {
        let mut g = c.benchmark_group(format!("decode/{name}"));
        for size in [16, KIB, 64 * KIB] {
            let (wire, count) = frame_stream(size, masked, TOTAL);
            g.throughput(Throughput::Bytes(wire.len() as u64));
            let label = size_label(size);

            // Whole frames, keeping at most `max_payload_keep` (4 KiB) of each.
            g.bench_with_input(BenchmarkId::new("next_frame", &label), &wire, |b, wire| {
                b.iter_batched_ref(
                    || BytesMut::from(&wire[..]),
                    |buf| {
                        let mut d = Decoder::new(cfg);
                        let mut n = 0;
                        while let Some(f) = d.next_frame(buf) {
                            black_box(&f);
                            n += 1;
                        }
                        assert_eq!(n, count);
                    },
                    BatchSize::LargeInput,
                )
            });

            // Streaming events, every payload byte handed out (and unmasked).
            g.bench_with_input(BenchmarkId::new("poll", &label), &wire, |b, wire| {
                b.iter_batched_ref(
                    || BytesMut::from(&wire[..]),
                    |buf| {
                        let mut d = Decoder::new(cfg);
                        let mut ends = 0;
                        while let Some(ev) = d.poll(buf) {
                            if let Event::End = ev {
                                ends += 1;
                            }
                            black_box(&ev);
                        }
                        assert_eq!(ends, count);
                    },
                    BatchSize::LargeInput,
                )
            });
        }
        g.finish();
    }
}

fn bench_mask(c: &mut Criterion) {
    let mut g = c.benchmark_group("apply_mask");
    g.throughput(Throughput::Bytes(MIB as u64));
    let mut buf = payload(MIB);
    for offset in [0usize, 3] {
        g.bench_function(BenchmarkId::new("1MiB", format!("offset{offset}")), |b| {
            b.iter(|| apply_mask(black_box(&mut buf), black_box(KEY), black_box(offset)))
        });
    }
    g.finish();
}

fn bench_masked_repeat(c: &mut Criterion) {
    const N: u64 = 100 * MIB as u64;
    let mut g = c.benchmark_group("masked_repeat");
    g.throughput(Throughput::Bytes(N));
    let r = MaskedRepeat::new(b"wsfp-flood-", Some(KEY));
    g.bench_function("take_100MiB", |b| {
        b.iter(|| {
            let mut total = 0u64;
            for chunk in black_box(&r).take(black_box(N)) {
                total += black_box(chunk).len() as u64;
            }
            assert_eq!(total, N);
        })
    });
    g.finish();

    // Building the shared chunk (once per process in the scanner).
    let mut g = c.benchmark_group("masked_repeat_new");
    g.throughput(Throughput::Bytes(r.chunk_len() as u64));
    g.bench_function(format!("{}B_chunk", r.chunk_len()), |b| {
        b.iter(|| MaskedRepeat::new(black_box(b"wsfp-flood-"), black_box(Some(KEY))))
    });
    g.finish();
}

/// A realistic 101 from a common server stack (about 200 bytes) followed
/// by the first frame in the same read.
const RESPONSE_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Server: nginx/1.24.0\r\n\
Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n\
Connection: upgrade\r\n\
Upgrade: websocket\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\
\x81\x05hello";

/// A rejection with ten headers and a body.
const RESPONSE_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Server: Apache/2.4.58 (Unix)\r\n\
Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n\
Content-Type: text/html; charset=iso-8859-1\r\n\
Content-Length: 226\r\n\
Connection: close\r\n\
Cache-Control: no-cache, no-store, must-revalidate\r\n\
X-Content-Type-Options: nosniff\r\n\
X-Frame-Options: SAMEORIGIN\r\n\
Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n\
Vary: Accept-Encoding\r\n\r\n\
<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">";

fn bench_response(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_response");
    g.throughput(Throughput::Elements(1));
    for (name, bytes, headers) in [("101", RESPONSE_101, 5), ("400_10hdr", RESPONSE_400, 10)] {
        let head = parse_response(bytes, DEFAULT_MAX_HEAD, DEFAULT_MAX_HEADERS)
            .unwrap()
            .unwrap();
        assert_eq!(head.headers.len(), headers);
        let label = format!("{name}_{}B", head.head_len);
        g.bench_with_input(BenchmarkId::from_parameter(label), &bytes, |b, bytes| {
            b.iter(|| parse_response(black_box(bytes), DEFAULT_MAX_HEAD, DEFAULT_MAX_HEADERS))
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_encode,
    bench_decode,
    bench_mask,
    bench_masked_repeat,
    bench_response
);
criterion_main!(benches);
