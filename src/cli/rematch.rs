//! `wsfp match`: re-score stored observations under the current (or a
//! given) DB, without rescanning. Streams: one record in, one record out.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::{DbOpts, usage, value};
use crate::fingerprint::Db;
use crate::fingerprint::score::Scorer;
use crate::output::read::for_each_record;
use crate::output::rematch::Rematcher;
use crate::output::{Format, RecordWriter};
use crate::probe::ProbeSet;

#[derive(Debug, Args)]
pub struct MatchArgs {
    /// NDJSON result files ('-' for stdin).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub db: DbOpts,
    /// Probe files the results were made with (beyond the built-in set).
    #[arg(long = "probes", value_name = "FILE")]
    pub probe_files: Vec<PathBuf>,
    /// Leave these fingerprint ids out of the DB (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub without: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Ndjson)]
    pub format: Format,
    /// Threads re-scoring NDJSON output (0: one per core; up to 1024).
    /// Output keeps the input order.
    #[arg(long, default_value_t = 0, value_name = "N", allow_negative_numbers = true,
          value_parser = value::int::<usize>(0, 1024, ""))]
    pub threads: usize,
}

/// The probe set and DB for offline matching.
pub fn load(
    db: &DbOpts,
    probe_files: &[PathBuf],
    without: &[String],
) -> Result<(ProbeSet, Db), Box<dyn std::error::Error>> {
    let mut set = ProbeSet::builtin();
    for f in probe_files {
        set.merge(ProbeSet::load(f).map_err(|e| usage(e.to_string()))?);
    }
    let mut d = db.load(&set)?;
    let drop: BTreeSet<&str> = without.iter().map(String::as_str).collect();
    if let Some(missing) = drop
        .iter()
        .find(|id| !d.fingerprints.iter().any(|f| f.id == **id))
    {
        return Err(usage(format!(
            "--without {missing}: no such fingerprint in the DB"
        )));
    }
    d.fingerprints.retain(|f| !drop.contains(f.id.as_str()));
    Ok((set, d))
}

pub fn run(a: MatchArgs) -> Result<i32, Box<dyn std::error::Error>> {
    let (set, db) = load(&a.db, &a.probe_files, &a.without)?;
    let m = Rematcher::new(set, Scorer::new(Arc::new(db)));
    let mut errors = Vec::new();
    if a.format == Format::Ndjson {
        let threads = match a.threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for f in &a.files {
            let mut input = match open(f) {
                Ok(i) => i,
                Err(e) => {
                    crate::stderr!("wsfp: cannot read {}: {e}", f.display());
                    return Ok(2);
                }
            };
            let name = f.display().to_string();
            m.run(&name, &mut *input, &mut out, threads, &mut errors)?;
        }
        out.flush()?;
    } else {
        let mut w = RecordWriter::new(Box::new(std::io::stdout()), a.format)?;
        w.detail = false;
        w.flush_each = false;
        let mut scratch = m.scratch();
        let mut io_err = None;
        for f in &a.files {
            let res = for_each_record(f, &mut errors, |mut r| {
                m.rematch_record(&mut r, &mut scratch);
                if io_err.is_none()
                    && let Err(e) = w.write(&r)
                {
                    io_err = Some(e);
                }
            });
            if let Err(e) = res {
                crate::stderr!("wsfp: cannot read {}: {e}", f.display());
                return Ok(2);
            }
        }
        if let Some(e) = io_err {
            return Err(e.into());
        }
        w.flush()?;
    }
    for e in &errors {
        crate::stderr!("wsfp: {e}");
    }
    Ok(if errors.is_empty() { 0 } else { 2 })
}

/// A result file, or stdin for `-`.
fn open(path: &Path) -> std::io::Result<Box<dyn BufRead>> {
    Ok(if path.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, File::open(path)?))
    })
}
