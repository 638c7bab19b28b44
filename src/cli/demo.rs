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
use crate::output::{Format, RecordWriter, Status};
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
    let mut scanner = a.probes.build_scanner(&DbOpts { db: Vec::new() })?;
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
    writer.kept = Some(Vec::new());
    let show = std::io::stderr().is_terminal();
    let mut progress = Progress::new(show, Some(total), None);
    let started = std::time::Instant::now();
    let opts = SurveyOptions {
        records_on_terminal: show && std::io::stdout().is_terminal(),
        ..SurveyOptions::default()
    };
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
    // The farm knows what each endpoint is: say whether the scan agreed,
    // and fail (exit 1) when it did not, so the demo is a check too.
    let kept = writer.kept.take().unwrap_or_default();
    crate::stderr!("\nexpected per endpoint (fingerprint id or status):");
    let mut differ = 0;
    for e in &farm.endpoints {
        let got = kept.iter().find(|(t, _, _)| *t == e.url);
        let agrees = got.is_some_and(|(_, status, id)| as_expected(e.expect, *status, id));
        let shown = match got {
            Some((_, Status::Ok, id)) => id.as_str(),
            Some((_, status, _)) => status.as_str(),
            None => "no record",
        };
        if agrees {
            crate::stderr!("  {:<28} {:<22} ok", e.url, e.expect);
        } else {
            differ += 1;
            crate::stderr!("  {:<28} {:<22} DIFFERS: got {shown}", e.url, e.expect);
        }
    }
    let n = farm.endpoints.len();
    farm.stop();
    if differ == 0 {
        crate::stderr!("all {n} endpoints as expected");
        Ok(0)
    } else {
        crate::stderr!("{differ} endpoint(s) not as expected");
        Ok(1)
    }
}

/// Does a record (its status and implementation) meet an endpoint's
/// expectation: a status name (`ok` is any upgraded verdict), or else a
/// fingerprint id, which needs an upgraded scan that named it.
fn as_expected(expect: &str, status: Status, id: &str) -> bool {
    let named_status = serde_json::from_value::<Status>(serde_json::Value::from(expect)).is_ok();
    if named_status {
        status.as_str() == expect
    } else {
        status == Status::Ok && id == expect
    }
}
