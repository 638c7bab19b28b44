//! `wsfp demo`: start the in-process loopback farm and scan it through the
//! whole survey pipeline (target source, scan-wide limits, survey loop,
//! record writer, progress, prevalence summary).

use std::io::IsTerminal;
use std::sync::Arc;

use clap::Args;

use super::{DbOpts, ProbeOpts};
use crate::demo::Farm;
use crate::net::Limits;
use crate::output::progress::Progress;
use crate::output::{Format, RecordWriter};
use crate::scan::survey::{self, SurveyOptions};
use crate::target::{Expand, Plan, Shard, Source};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output format for the records.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub probes: ProbeOpts,
}

pub async fn run(a: DemoArgs) -> Result<i32, Box<dyn std::error::Error>> {
    let farm = Farm::start().await?;
    crate::stderr!(
        "wsfp demo: farm of {} endpoints on loopback:",
        farm.endpoints.len()
    );
    for e in &farm.endpoints {
        crate::stderr!("  {:<28} {}", e.url, e.what);
    }
    let mut scanner = a.probes.build_scanner(&DbOpts { db: None })?;
    scanner.connector.limits = Arc::new(Limits::new(64, None));
    scanner.retries = 0;
    let scanner = Arc::new(scanner);

    let urls: Vec<String> = farm.endpoints.iter().map(|e| e.url.clone()).collect();
    let total = urls.len() as u64;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let plan = Plan {
        expand: Expand::default(),
        seed: 0,
        shard: Shard::default(),
        window: 1,
    };
    for unit in Source::new(plan, urls, None) {
        tx.send(unit).await?;
    }
    drop(tx);

    let mut writer = RecordWriter::new(Box::new(std::io::stdout()), a.format)?;
    writer.detail = false;
    let mut progress = Progress::new(std::io::stderr().is_terminal(), Some(total), None);
    let started = std::time::Instant::now();
    let opts = SurveyOptions::default();
    let tally = survey::run(scanner.clone(), rx, &mut writer, &mut progress, None, &opts)
        .await?
        .tally;
    progress.finish();
    let conns = scanner
        .connector
        .limits
        .attempts
        .load(std::sync::atomic::Ordering::Relaxed);
    crate::stderr!("\n{}", tally.summary(started.elapsed(), conns));
    crate::stderr!("\nexpected per endpoint (fingerprint id or status):");
    for e in &farm.endpoints {
        crate::stderr!("  {:<28} {}", e.url, e.expect);
    }
    farm.stop();
    Ok(0)
}
