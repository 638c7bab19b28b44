//! `wsfp pcap` against an independent oracle: Debian's tshark.
//!
//! Reads the real captures in `$CARGO_MANIFEST_DIR/../shared/pcaps` (the
//! shared test data beside the repository, never copied into it) and, for
//! every capture, compares per TCP direction the sequence of WebSocket
//! frames: opcode, FIN, mask bit, payload length and the unmasked payload
//! bytes, as tshark dissects them (`-o tcp.reassemble_out_of_order:TRUE`)
//! and as our pipeline reports them. Skips, with a message on the
//! terminal, when the directory or tshark is absent; fails under `CI=true`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use wsfp::passive::logs::{Direction, Record};
use wsfp::passive::session::Config;
use wsfp::passive::{Limits, analyze};

type Frames = BTreeMap<String, Vec<(u8, bool, bool, u64, String)>>;

fn captures() -> Option<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        common::missing(
            "pcap_tshark",
            &format!("no capture directory at {}", dir.display()),
        );
        return None;
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    v.sort();
    Some(v)
}

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn tshark_frames(file: &Path) -> Frames {
    let out = Command::new("tshark")
        .args(["-o", "tcp.reassemble_out_of_order:TRUE", "-r"])
        .arg(file)
        .args(["-Y", "websocket", "-T", "json", "--no-duplicate-keys", "-x"])
        .output()
        .expect("run tshark");
    assert!(out.status.success(), "tshark failed on {}", file.display());
    let packets: Value = serde_json::from_slice(&out.stdout).expect("tshark json");
    let mut frames = Frames::new();
    for p in packets.as_array().expect("array") {
        let l = &p["_source"]["layers"];
        let src = field(&l["ip"], "ip.src")
            .or_else(|| field(&l["ipv6"], "ipv6.src"))
            .expect("ip source")
            .to_string();
        let port = field(&l["tcp"], "tcp.srcport").expect("port");
        let ws: Vec<&Value> = match &l["websocket"] {
            Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        for w in ws {
            let num = |k: &str| field(w, k).map(|s| s.parse::<u64>().expect(k));
            let len = num("websocket.payload_length_ext_64")
                .or_else(|| num("websocket.payload_length_ext_16"))
                .or_else(|| num("websocket.payload_length"))
                .expect("length");
            let payload = w
                .get("websocket.payload_raw")
                .and_then(|r| r.get(0))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            frames.entry(format!("{src}:{port}")).or_default().push((
                num("websocket.opcode").expect("opcode") as u8,
                field(w, "websocket.fin") == Some("1"),
                field(w, "websocket.mask") == Some("1"),
                len,
                payload,
            ));
        }
    }
    frames
}

fn our_frames(file: &Path) -> Frames {
    let cfg = Config {
        frames: true,
        frame_payload_keep: 1 << 20,
        ..Config::default()
    };
    let mut recs: Vec<Record> = Vec::new();
    let name = file.display().to_string();
    let (_, res) = analyze(
        &name,
        std::fs::File::open(file).unwrap(),
        cfg,
        Limits::default(),
        None,
        &mut recs,
    );
    res.expect("capture reads cleanly");
    let mut frames = Frames::new();
    for r in recs {
        if let Record::Frame(f) = r {
            let (h, p) = match f.direction {
                Direction::C2s => (f.head.orig_h, f.head.orig_p),
                Direction::S2c => (f.head.resp_h, f.head.resp_p),
            };
            frames.entry(format!("{h}:{p}")).or_default().push((
                f.opcode,
                f.fin,
                f.masked,
                f.length,
                hex(f.payload.as_deref().unwrap_or(&[])),
            ));
        }
    }
    frames
}

#[test]
fn frames_agree_with_tshark_on_every_capture() {
    let Some(files) = captures() else { return };
    if !tshark_available() {
        common::missing(
            "frames_agree_with_tshark_on_every_capture",
            "tshark not installed",
        );
        return;
    }
    assert!(!files.is_empty());
    let mut total = 0;
    for f in &files {
        let theirs = tshark_frames(f);
        let ours = our_frames(f);
        let n: usize = theirs.values().map(Vec::len).sum();
        assert!(n > 0, "tshark saw no frames in {}", f.display());
        assert_eq!(
            theirs.keys().collect::<Vec<_>>(),
            ours.keys().collect::<Vec<_>>(),
            "directions differ in {}",
            f.display()
        );
        for (k, t) in &theirs {
            let o = &ours[k];
            assert_eq!(t.len(), o.len(), "frame count from {k} in {}", f.display());
            for (i, (a, b)) in t.iter().zip(o).enumerate() {
                assert_eq!(a, b, "frame {i} from {k} in {}", f.display());
            }
        }
        eprintln!("{}: {n} frames agree", f.display());
        total += n;
    }
    eprintln!("{} captures, {total} frames agree with tshark", files.len());
}
