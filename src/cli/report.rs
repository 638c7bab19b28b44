//! `wsfp report`: prevalence tables over stored results (one survey, or
//! the concatenated shard files of a distributed one). Streams the
//! records; bad lines are reported as file:line, skipped, and make the
//! exit code 2 while the report of the readable records is still written.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::rematch::load;
use super::{DbOpts, usage, value};
use crate::analyze::DbIndex;
use crate::analyze::report::Prevalence;
use crate::output::manifest::{ShardManifest, check_merge};
use crate::output::read::for_each_line;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Csv,
    Json,
    /// One self-contained file (inline SVG chart, no external resources).
    Html,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// NDJSON result files ('-' for stdin).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub db: DbOpts,
    /// Probe files the DB needs (beyond the built-in set).
    #[arg(long = "probes", value_name = "FILE")]
    pub probe_files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Write here instead of stdout.
    #[arg(long, value_name = "FILE", value_parser = value::out_path())]
    pub out: Option<PathBuf>,
    /// Shard manifests of a distributed scan: refuse to report unless they
    /// form one complete survey (same seed, input, DB, probe set; every
    /// shard exactly once).
    #[arg(long, value_name = "MANIFEST", num_args = 1..)]
    pub manifests: Vec<PathBuf>,
}

pub fn run(a: ReportArgs) -> Result<i32, Box<dyn std::error::Error>> {
    if !a.manifests.is_empty() {
        let mut shards = Vec::new();
        for m in &a.manifests {
            shards.push(ShardManifest::read(m).map_err(|e| usage(e.to_string()))?);
        }
        check_merge(&shards).map_err(|e| usage(format!("refusing to merge: {e}")))?;
    }
    let (_, db) = load(&a.db, &a.probe_files, &[])?;
    let mut prevalence = Prevalence::new(DbIndex::new(&db));
    let mut errors = Vec::new();
    let mut unreadable = false;
    for f in &a.files {
        if let Err(e) = for_each_line(f, &mut errors, |r| prevalence.add(&r)) {
            crate::stderr!("wsfp: cannot read {}: {e}", f.display());
            unreadable = true;
        }
    }
    for e in &errors {
        crate::stderr!("wsfp: {e}");
    }
    let inputs = a.files.iter().map(|f| f.display().to_string()).collect();
    let report = prevalence.finish(inputs, errors.len() as u64);
    let mut out: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p)
                .map_err(|e| usage(format!("cannot write {}: {e}", p.display())))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    match a.format {
        ReportFormat::Text => out.write_all(report.to_text().as_bytes())?,
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            out.write_all(b"\n")?;
        }
        ReportFormat::Csv => report.write_csv(&mut out)?,
        ReportFormat::Html => out.write_all(crate::analyze::html::render(&report).as_bytes())?,
    }
    out.flush()?;
    Ok(if errors.is_empty() && !unreadable {
        0
    } else {
        2
    })
}
