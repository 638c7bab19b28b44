//! `wsfp scan`: fingerprint one or a few targets (the mass-scanning
//! pipeline grows from here). Bad `-u` values are usage errors (exit 2);
//! a bad line in a target file becomes an `invalid_target` record and the
//! scan goes on.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use clap::Args;
use tokio::task::JoinSet;

use super::{DbOpts, ProbeOpts, usage};
use crate::output::{Format, Record, RecordWriter, Status};
use crate::target::Target;

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Target: host[:port][/path], ws://..., wss://... (repeatable).
    #[arg(short = 'u', long = "url", value_name = "URL")]
    pub urls: Vec<String>,
    /// File of targets, one per line ('-' for stdin; '#' comments).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub probes: ProbeOpts,
    #[command(flatten)]
    pub db: DbOpts,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write records here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Targets scanned at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Print the probes this scan would run (id, series, risk, layer) and exit.
    #[arg(long)]
    pub list_probes: bool,
}

/// One unit of input: a parsed target or a bad line.
enum Input {
    Target(Target, Option<u64>),
    Invalid(String, String, Option<u64>),
}

fn read_inputs(a: &ScanArgs) -> Result<Vec<Input>, Box<dyn std::error::Error>> {
    let mut inputs = Vec::new();
    for u in &a.urls {
        let t = Target::parse(u, a.probes.plain).map_err(|e| usage(e.to_string()))?;
        inputs.push(Input::Target(t, None));
    }
    if let Some(path) = &a.file {
        let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
            Box::new(BufReader::new(std::io::stdin()))
        } else {
            Box::new(BufReader::new(std::fs::File::open(path).map_err(|e| {
                usage(format!("cannot read target file {}: {e}", path.display()))
            })?))
        };
        for (i, line) in reader.lines().enumerate() {
            let n = i as u64 + 1;
            let line =
                line.map_err(|e| usage(format!("{}:{n}: cannot read: {e}", path.display())))?;
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            match Target::parse(t, a.probes.plain) {
                Ok(tg) => inputs.push(Input::Target(tg, Some(n))),
                Err(e) => {
                    eprintln!("wsfp: {}:{n}: {e}", path.display());
                    inputs.push(Input::Invalid(t.to_string(), e.message, Some(n)));
                }
            }
        }
    }
    if inputs.is_empty() {
        return Err(usage("no targets: give -u URL or -f FILE"));
    }
    Ok(inputs)
}

pub async fn run(a: ScanArgs) -> Result<i32, Box<dyn std::error::Error>> {
    if a.list_probes {
        return super::probes::run(super::probes::ProbesArgs {
            probes: a.probes,
            long: false,
        });
    }
    let scanner = a.probes.scanner(&a.db)?;
    let inputs = read_inputs(&a)?;
    let out: Box<dyn std::io::Write + Send> = match &a.out {
        Some(p) => Box::new(
            std::fs::File::create(p)
                .map_err(|e| usage(format!("cannot create {}: {e}", p.display())))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let mut writer = RecordWriter::new(out, a.format)?;
    writer.detail = inputs.len() <= 3;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut set = JoinSet::new();
    let mut iter = inputs.into_iter();
    let limit = a.concurrency.max(1);
    loop {
        while set.len() < limit {
            let Some(input) = iter.next() else { break };
            let scanner = scanner.clone();
            set.spawn(async move {
                match input {
                    Input::Target(t, line) => {
                        // A bug that panics inside one scan must not cost
                        // the record: it becomes an `error` record.
                        let (text, version) = (t.input.clone(), scanner.probes.version.clone());
                        let inner = tokio::spawn(async move { scanner.scan(&t).await });
                        let mut r = inner.await.unwrap_or_else(|e| {
                            Record::failed(
                                &text,
                                Status::Error,
                                format!("internal error: {e}"),
                                &version,
                            )
                        });
                        r.line = line;
                        r
                    }
                    Input::Invalid(text, msg, line) => {
                        let mut r = Record::failed(
                            &text,
                            Status::InvalidTarget,
                            msg,
                            &scanner.probes.version,
                        );
                        r.line = line;
                        r
                    }
                }
            });
        }
        let Some(done) = set.join_next().await else {
            break;
        };
        let rec = done.map_err(|e| format!("scan task failed: {e}"))?;
        *counts.entry(rec.status.as_str().to_string()).or_default() += 1;
        if rec.target_down_after.is_some() {
            *counts.entry("target_down".into()).or_default() += 1;
        }
        if rec.status == Status::Ok {
            *counts
                .entry(format!("implementation={}", rec.implementation))
                .or_default() += 1;
        }
        writer.write(&rec)?;
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    eprintln!("wsfp: done; {}", summary.join(", "));
    Ok(0)
}
