//! Arbitrary bytes as a capture file, through the whole passive pipeline
//! (`wsfp::passive::analyze`): capture parsing, link/IP/TCP slicing,
//! reassembly, handshake, frames, inflation, logs.
//!
//! Checked: nothing panics; a read error names an offset inside the
//! input; every record serialises to JSON; message previews respect the
//! configured bound. Seeds: the shared captures (see fuzz/README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsfp::passive::logs::Record;
use wsfp::passive::session::Config;
use wsfp::passive::{Limits, analyze};

fuzz_target!(|data: &[u8]| {
    let cfg = Config {
        frames: true,
        payload_bytes: 32,
        frame_payload_keep: 64,
        ..Config::default()
    };
    let limits = Limits {
        reassembly_buffer: 4096,
        max_flows: 16,
        ..Limits::default()
    };
    let mut recs: Vec<Record> = Vec::new();
    let (_, res) = analyze("fuzz", data, cfg, limits, None, &mut recs);
    if let Err(e) = res {
        assert!(e.offset <= data.len() as u64, "{e}");
    }
    for r in &recs {
        let mut buf = Vec::new();
        r.to_json(&mut buf).expect("serialises");
        if let Record::Message(m) = r
            && m.payload_encoding == Some("text")
        {
            assert!(m.payload.as_ref().is_some_and(|p| p.len() <= 32));
        }
    }
});
