//! Write a synthetic WebSocket capture of a given size, for the benchmark
//! (`scripts/bench_pcap.sh`): `cargo run --release --example synth_pcap --
//! OUT.pcap MEGABYTES [FLOWS]`. FLOWS connections (default 1000) run
//! interleaved, round-robin; each is upgraded, then exchanges masked client
//! and unmasked server text/binary messages of 20 B to 1400 B with pings
//! in between, and is closed and replaced by a new one (new port) after
//! 200 messages. With BULK_BYTES, every message has that size instead and
//! is sent in 1448-byte segments (bulk transfer). Deterministic.

use std::io::Write;

use wsfp::passive::synth::{Conn, PcapWriter, client_frame, server_frame};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: synth_pcap OUT.pcap MEGABYTES [FLOWS]");
        std::process::exit(2);
    }
    let target = args[2].parse::<u64>().expect("MEGABYTES") << 20;
    let nflows: usize = args.get(3).map_or(1000, |s| s.parse().expect("FLOWS"));
    let bulk: Option<usize> = args.get(4).map(|s| s.parse().expect("BULK_BYTES"));
    let bulk_text = "z".repeat(bulk.unwrap_or(0));
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&args[1])?);
    let mut w = PcapWriter::new();
    out.write_all(&w.out)?;
    w.out.clear();
    let mut written = 24u64;
    let mut port = 1024u32;
    let mut new_conn = |ts: f64, w: &mut PcapWriter| {
        port += 1;
        let p = port;
        let client = (
            [10, (p >> 16) as u8, (p >> 8) as u8, p as u8],
            1024 + (p % 60000) as u16,
        );
        let mut c = Conn::new(client, ([10, 255, 0, 1], 8080), ts);
        c.open(w);
        c.upgrade(w, "User-Agent: synth\r\n", "Server: synth\r\n");
        c
    };
    let mut ts = 1_700_000_000.0;
    let mut conns: Vec<(Conn, u32)> = (0..nflows).map(|_| (new_conn(ts, &mut w), 0)).collect();
    let text = "x".repeat(1400);
    let bin = vec![0xa5u8; 1400];
    let mut i = 0u64;
    let conns_len = conns.len() as u64;
    while written < target {
        for (c, n) in conns.iter_mut() {
            i += 1;
            ts += 0.000_01;
            c.ts = ts;
            let size = 20 + (i * 7919 % 1380) as usize;
            if let Some(len) = bulk {
                let up = (i + i / conns_len).is_multiple_of(2);
                let f = if up {
                    client_frame(2, &bulk_text.as_bytes()[..len])
                } else {
                    server_frame(1, &bulk_text.as_bytes()[..len])
                };
                for seg in f.chunks(1448) {
                    if up {
                        c.c2s(&mut w, seg);
                    } else {
                        c.s2c(&mut w, seg);
                    }
                }
                *n += 1;
                if *n == 200 {
                    c.close(&mut w);
                    *c = new_conn(ts, &mut w);
                    *n = 0;
                }
                continue;
            }
            // Vary the pattern per round, so every connection sees all kinds.
            match (i + i / conns_len) % 10 {
                0 => c.c2s(&mut w, &client_frame(9, b"ping")),
                1 | 2 => c.c2s(&mut w, &client_frame(1, &text.as_bytes()[..size])),
                3..=6 => c.s2c(&mut w, &server_frame(1, &text.as_bytes()[..size])),
                _ => c.s2c(&mut w, &server_frame(2, &bin[..size])),
            }
            *n += 1;
            if *n == 200 {
                c.c2s(&mut w, &client_frame(8, b"\x03\xe8bye"));
                c.s2c(&mut w, &server_frame(8, b"\x03\xe8"));
                c.close(&mut w);
                *c = new_conn(ts, &mut w);
                *n = 0;
            }
        }
        out.write_all(&w.out)?;
        written += w.out.len() as u64;
        w.out.clear();
    }
    for (c, _) in conns.iter_mut() {
        c.close(&mut w);
    }
    out.write_all(&w.out)?;
    out.flush()
}
