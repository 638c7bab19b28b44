//! `wsfp pcap`: passive analysis of WebSocket traffic in capture files.
//! Each file is analysed on its own (its connections end with it); `-` is
//! standard input. A damaged capture is an input error (exit 2) reported
//! with the byte offset and packet number, after the logs for everything
//! before the damage have been written.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{DbOpts, usage, value};
use crate::fingerprint::score::Scorer;
use crate::passive::logs::NdjsonSink;
use crate::passive::session::Config;
use crate::passive::{Limits, analyze};
use crate::probe::ProbeSet;
use crate::wire::deflate::InflateLimits;

#[derive(Debug, Args)]
pub struct PcapArgs {
    /// Capture files, pcap or pcapng ('-' for stdin).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write one NDJSON file per log here instead of one stream to stdout.
    #[arg(long, value_name = "DIR", value_parser = value::out_path())]
    pub out_dir: Option<PathBuf>,
    /// Also write the websocket_frame log (one record per frame).
    #[arg(long)]
    pub frames: bool,
    /// Payload preview per message, bytes (0 disables it; up to 16 MiB).
    #[arg(long, default_value_t = 128, value_name = "N", allow_negative_numbers = true,
          value_parser = value::int::<usize>(0, 16 << 20, " bytes"))]
    pub payload_bytes: usize,
    /// Cap on the inflated size of one compressed message, bytes (1 to 1 GiB).
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES", allow_negative_numbers = true,
          value_parser = value::int::<u64>(1, 1 << 30, " bytes"))]
    pub max_inflate: u64,
    /// Cap on the inflation ratio of one message (beyond its first 64 KiB;
    /// 1 to 1000000).
    #[arg(long, default_value_t = 100, value_name = "N", allow_negative_numbers = true,
          value_parser = value::int::<u64>(1, 1_000_000, ""))]
    pub max_ratio: u64,
    /// Finish a connection idle this long (capture time; 0.001 to 86400).
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS", allow_hyphen_values = true,
          value_parser = value::number(0.001, value::DAY_S, " s"))]
    pub flow_timeout: f64,
    /// Connections tracked at once (1 to 10000000).
    #[arg(long, default_value_t = 100_000, value_name = "N", allow_negative_numbers = true,
          value_parser = value::int::<usize>(1, 10_000_000, ""))]
    pub max_flows: usize,
    /// Out-of-order bytes held per connection direction (0 to 64 MiB).
    #[arg(long, default_value_t = 256 * 1024, value_name = "BYTES", allow_negative_numbers = true,
          value_parser = value::int::<usize>(0, 64 << 20, " bytes"))]
    pub reassembly_buffer: usize,
    /// Skip the passive fingerprint hint.
    #[arg(long)]
    pub no_fingerprint: bool,
    #[command(flatten)]
    pub db: DbOpts,
    /// Print run counters to stderr as JSON.
    #[arg(long)]
    pub stats: bool,
}

pub fn run(a: PcapArgs) -> Result<i32, Box<dyn std::error::Error>> {
    let scorer = if a.no_fingerprint {
        None
    } else {
        let set = ProbeSet::builtin();
        let db = a.db.load(&set)?;
        Some(Scorer::new(Arc::new(db)))
    };
    let cfg = Config {
        payload_bytes: a.payload_bytes,
        frames: a.frames,
        inflate: InflateLimits {
            max_output: a.max_inflate,
            max_ratio: a.max_ratio,
            ..InflateLimits::default()
        },
        ..Config::default()
    };
    let limits = Limits {
        flow_timeout: a.flow_timeout,
        max_flows: a.max_flows,
        reassembly_buffer: a.reassembly_buffer,
        ..Limits::default()
    };
    let mut sink = match &a.out_dir {
        Some(dir) => NdjsonSink::to_dir(dir)
            .map_err(|e| usage(format!("--out-dir {}: {e}", dir.display())))?,
        None => NdjsonSink::to_writer(Box::new(std::io::stdout())),
    };
    let mut first_err = None;
    for f in &a.files {
        let name = f.display().to_string();
        let (stats, res) = if name == "-" {
            analyze(
                "-",
                std::io::stdin(),
                cfg.clone(),
                limits.clone(),
                scorer.clone(),
                &mut sink,
            )
        } else {
            let file = std::fs::File::open(f).map_err(|e| usage(format!("{name}: {e}")))?;
            analyze(
                &name,
                file,
                cfg.clone(),
                limits.clone(),
                scorer.clone(),
                &mut sink,
            )
        };
        if a.stats {
            crate::stderr!("{}", serde_json::json!({"file": name, "stats": stats}));
        }
        if stats.snaplen_truncated > 0 {
            // Said even without --stats: a capture taken with a short snap
            // length looks like one with little WebSocket traffic in it.
            crate::stderr!(
                "wsfp: {name}: {} packets were cut by the capture's snap length \
                 ({} TCP payload bytes missing, logged as gaps: snaplen_truncated); \
                 a handshake cut this way cannot be followed",
                stats.snaplen_truncated,
                stats.snaplen_missing_bytes
            );
        }
        if let Some(e) = sink.error.take() {
            return Err(Box::new(e));
        }
        if let Err(e) = res {
            crate::stderr!("wsfp: {e}");
            first_err.get_or_insert(e);
        }
    }
    sink.flush()?;
    Ok(if first_err.is_some() { 2 } else { 0 })
}
