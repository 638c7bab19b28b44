//! `wsfp match`: re-score stored observations under the current (or a
//! given) DB, without rescanning. Streams: one record in, one record out.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{DbOpts, usage};
use crate::fingerprint::Db;
use crate::fingerprint::score::Scorer;
use crate::output::read::for_each_record;
use crate::output::{Format, RecordWriter, Status};
use crate::probe::ProbeSet;
use crate::scan::observations_to_features;

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
    let mut d = match &db.db {
        Some(dir) => Db::load_dir(dir, &set),
        None => Db::embedded(&set),
    }
    .map_err(|e| usage(e.to_string()))?;
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
    let scorer = Scorer::new(Arc::new(db));
    let mut w = RecordWriter::new(Box::new(std::io::stdout()), a.format)?;
    w.detail = false;
    let mut errors = Vec::new();
    let mut io_err = None;
    for f in &a.files {
        let res = for_each_record(f, &mut errors, |mut r| {
            if r.status == Status::Ok {
                let features = observations_to_features(&set, &r.observations);
                r.rescore(&scorer, &features);
            }
            if let Err(e) = w.write(&r) {
                io_err.get_or_insert(e);
            }
        });
        if let Err(e) = res {
            eprintln!("wsfp: cannot read {}: {e}", f.display());
            return Ok(2);
        }
    }
    if let Some(e) = io_err {
        return Err(e.into());
    }
    for e in &errors {
        eprintln!("wsfp: {e}");
    }
    Ok(if errors.is_empty() { 0 } else { 2 })
}
