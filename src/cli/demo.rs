//! `wsfp demo`: start the in-process loopback farm and scan it through the
//! whole pipeline.

use clap::Args;

use super::{DbOpts, ProbeOpts};
use crate::demo::Farm;
use crate::output::{Format, RecordWriter};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output format for the records.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub async fn run(a: DemoArgs) -> Result<i32, Box<dyn std::error::Error>> {
    let farm = Farm::start().await?;
    eprintln!(
        "wsfp demo: farm of {} endpoints on loopback:",
        farm.endpoints.len()
    );
    for e in &farm.endpoints {
        eprintln!("  {:<28} {}", e.url, e.what);
    }
    let opts = ProbeOpts::parse_default();
    let scanner = opts.scanner(&DbOpts { db: None })?;
    let mut writer = RecordWriter::new(Box::new(std::io::stdout()), a.format)?;
    writer.detail = false;
    let mut tally: std::collections::BTreeMap<String, u32> = Default::default();
    let mut handles = Vec::new();
    for e in &farm.endpoints {
        let t = crate::target::Target::parse(&e.url, true)?;
        let s = scanner.clone();
        handles.push(tokio::spawn(async move { s.scan(&t).await }));
    }
    for h in handles {
        let r = h.await?;
        let key = if r.status == crate::output::Status::Ok {
            r.implementation.clone()
        } else {
            r.status.as_str().to_string()
        };
        *tally.entry(key).or_default() += 1;
        writer.write(&r)?;
    }
    eprintln!("\nprevalence:");
    let total: u32 = tally.values().sum();
    for (k, v) in &tally {
        eprintln!(
            "  {:<28} {:>3}  {:>5.1}%",
            k,
            v,
            100.0 * f64::from(*v) / f64::from(total)
        );
    }
    farm.stop();
    Ok(0)
}
