//! `wsfp diff OLD NEW`: what changed between two scans of the same
//! targets. Exit codes as diff(1): 0 no change, 1 changes, 2 trouble (an
//! unreadable file or bad lines; the changes found are still written).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::DbOpts;
use super::rematch::load;
use crate::analyze::DbIndex;
use crate::analyze::diff::{Change, Differ};
use crate::output::Record;
use crate::output::read::{for_each_line, for_each_record};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// `+` appeared, `-` disappeared, `~` changed; one line each.
    Text,
    /// One JSON object per change (docs/schema/diff.schema.json).
    Ndjson,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier scan (NDJSON; held in memory, keyed by endpoint).
    pub old: PathBuf,
    /// The later scan (NDJSON, streamed; '-' for stdin).
    pub new: PathBuf,
    #[command(flatten)]
    pub db: DbOpts,
    #[arg(long = "probes", value_name = "FILE")]
    pub probe_files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Compare the evidence too: every feature the scorer sees and every
    /// observation field apart from timing (`latency_ms`), probe by probe.
    /// An endpoint whose evidence differs is `changed` with field
    /// `evidence`, each difference listed. Reads full records (slower, and
    /// a few KB per endpoint of OLD held in memory).
    #[arg(long)]
    pub evidence: bool,
}

pub fn run(a: DiffArgs) -> Result<i32, Box<dyn std::error::Error>> {
    let (set, db) = load(&a.db, &a.probe_files, &[])?;
    let mut differ = Differ::new(DbIndex::new(&db));
    let mut errors = Vec::new();
    let read_old = if a.evidence {
        for_each_record(&a.old, &mut errors, |r: Record| {
            differ.add_old_record(&set, &r)
        })
    } else {
        for_each_line(&a.old, &mut errors, |r| differ.add_old(&r))
    };
    if let Err(e) = read_old {
        crate::stderr!("wsfp: cannot read {}: {e}", a.old.display());
        return Ok(2);
    }
    let mut out = std::io::stdout().lock();
    let mut io_err = None;
    let format = a.format;
    let emit = |c: &Change, out: &mut dyn Write| -> std::io::Result<()> {
        match format {
            DiffFormat::Text => writeln!(out, "{}", c.to_text()),
            DiffFormat::Ndjson => {
                let line = serde_json::to_string(c).map_err(std::io::Error::other)?;
                writeln!(out, "{line}")
            }
        }
    };
    let res = if a.evidence {
        for_each_record(&a.new, &mut errors, |r: Record| {
            if let Some(c) = differ.add_new_record(&set, &r)
                && let Err(e) = emit(&c, &mut out)
            {
                io_err.get_or_insert(e);
            }
        })
    } else {
        for_each_line(&a.new, &mut errors, |r| {
            if let Some(c) = differ.add_new(&r)
                && let Err(e) = emit(&c, &mut out)
            {
                io_err.get_or_insert(e);
            }
        })
    };
    if let Err(e) = res {
        crate::stderr!("wsfp: cannot read {}: {e}", a.new.display());
        return Ok(2);
    }
    for c in differ.disappeared() {
        if let Err(e) = emit(&c, &mut out) {
            io_err.get_or_insert(e);
        }
    }
    if let Some(e) = io_err {
        return Err(e.into());
    }
    out.flush()?;
    for e in &errors {
        crate::stderr!("wsfp: {e}");
    }
    let t = differ.tally;
    crate::stderr!(
        "wsfp diff: {} appeared, {} disappeared, {} changed, {} unchanged{}",
        t.appeared,
        t.disappeared,
        t.changed,
        t.unchanged,
        if t.duplicates > 0 {
            format!(" ({} duplicate endpoints skipped)", t.duplicates)
        } else {
            String::new()
        }
    );
    Ok(if !errors.is_empty() {
        2
    } else if t.appeared + t.disappeared + t.changed > 0 {
        1
    } else {
        0
    })
}
