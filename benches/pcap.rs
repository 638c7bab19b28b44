//! Throughput of the passive pipeline (`wsfp::passive`): capture reading,
//! TCP reassembly, handshake, frame decoding, message logs, on an
//! in-memory synthetic capture (100 interleaved connections, 20 B to 1400 B
//! messages). Logs go to a sink that serialises them to NDJSON in memory
//! and drops them, so the figure includes the JSON cost.
//!
//! Run: `cargo bench --bench pcap` (add `-- --quick` for a fast pass).

use std::hint::black_box;
use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use wsfp::passive::logs::{FrameLog, MessageLog, Record, Sink};
use wsfp::passive::session::Config;
use wsfp::passive::synth::{Conn, PcapWriter, client_frame, server_frame};
use wsfp::passive::{Limits, analyze};

struct JsonDrop(Vec<u8>, u64);

impl Sink for JsonDrop {
    fn record(&mut self, r: Record) {
        self.0.clear();
        r.to_json(&mut self.0).unwrap();
        self.1 += 1;
    }

    // Messages and frames are lent, as to the CLI's sink; serialised the
    // same way (`Record::to_json` on a borrowed record would need a clone).
    fn message(&mut self, m: &MessageLog) {
        self.0.clear();
        m.to_json(&mut self.0).unwrap();
        self.1 += 1;
    }

    fn frame(&mut self, f: &FrameLog) {
        self.0.clear();
        f.to_json(&mut self.0).unwrap();
        self.1 += 1;
    }
}

fn capture() -> Vec<u8> {
    let mut w = PcapWriter::new();
    let mut conns: Vec<Conn> = (0..100u16)
        .map(|i| {
            let mut c = Conn::new(([10, 0, 0, 1], 20000 + i), ([10, 0, 0, 2], 8080), 1.0);
            c.open(&mut w);
            c.upgrade(&mut w, "", "");
            c
        })
        .collect();
    let text = "y".repeat(1400);
    for i in 0..20_000usize {
        let c = &mut conns[i % 100];
        let size = 20 + (i * 7919 % 1380);
        if i % 3 == 0 {
            c.c2s(&mut w, &client_frame(1, &text.as_bytes()[..size]));
        } else {
            c.s2c(&mut w, &server_frame(2, &text.as_bytes()[..size]));
        }
    }
    for c in &mut conns {
        c.close(&mut w);
    }
    w.out
}

fn bench(c: &mut Criterion) {
    let cap = capture();
    let mut g = c.benchmark_group("pcap");
    g.throughput(Throughput::Bytes(cap.len() as u64));
    g.bench_function("messages", |b| {
        b.iter(|| {
            let mut sink = JsonDrop(Vec::new(), 0);
            let (stats, res) = analyze(
                "mem",
                &cap[..],
                Config::default(),
                Limits::default(),
                None,
                &mut sink,
            );
            res.unwrap();
            black_box((stats, sink.1))
        })
    });
    g.bench_function("messages+frames", |b| {
        b.iter(|| {
            let mut sink = JsonDrop(Vec::new(), 0);
            let cfg = Config {
                frames: true,
                ..Config::default()
            };
            let (stats, res) = analyze("mem", &cap[..], cfg, Limits::default(), None, &mut sink);
            res.unwrap();
            black_box((stats, sink.1))
        })
    });
    g.finish();
    let _ = std::io::stderr().flush();
}

criterion_group!(benches, bench);
criterion_main!(benches);
