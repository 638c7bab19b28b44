//! `wsfp generate`: scan a known server several times and write the
//! features that were stable across runs as `fingerprints/ID.toml`.

use std::path::PathBuf;

use clap::Args;

use super::{DbOpts, ProbeOpts, usage};
use crate::fingerprint::generate::{Meta, stable_features, to_toml};
use crate::output::Status;
use crate::target::Target;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The server to record.
    #[arg(short = 'u', long = "url", value_name = "URL")]
    pub url: String,
    /// Fingerprint id (file name), e.g. py-websockets.
    #[arg(long)]
    pub id: String,
    /// Implementation name.
    #[arg(long)]
    pub name: String,
    /// Version(s) of the implementation observed (repeatable).
    #[arg(long = "version", value_name = "V")]
    pub versions: Vec<String>,
    /// Underlying library (default: the name).
    #[arg(long)]
    pub library: Option<String>,
    /// Family (default: the library).
    #[arg(long)]
    pub family: Option<String>,
    /// Implementation language.
    #[arg(long, default_value = "unknown")]
    pub language: String,
    /// Lab entry id, recorded as provenance.
    #[arg(long)]
    pub lab_id: Option<String>,
    /// Scans to intersect; features that differ between them are dropped.
    #[arg(long, default_value_t = 2)]
    pub runs: usize,
    /// Keep only one layer's features: `handshake` for a reverse proxy,
    /// whose frames are its backend's.
    #[arg(long, value_enum)]
    pub layer: Option<crate::probe::Layer>,
    /// Directory to write into.
    #[arg(long, default_value = "fingerprints")]
    pub out_dir: PathBuf,
    #[command(flatten)]
    pub probes: ProbeOpts,
}

pub async fn run(mut a: GenerateArgs) -> Result<i32, Box<dyn std::error::Error>> {
    // A fingerprint records every probe unless told otherwise.
    if a.probes.series.is_empty() && !a.probes.all {
        a.probes.all = true;
    }
    // ...including probes the full set skips as `same_as` another: the
    // DB keeps their evidence for `--exhaustive` scans.
    a.probes.exhaustive = true;
    let target = Target::parse(&a.url, a.probes.plain).map_err(|e| usage(e.to_string()))?;
    // Generation does not need a DB; score against an empty one.
    let empty = tempdir_empty()?;
    let scanner = a.probes.scanner(&DbOpts {
        db: Some(empty.clone()),
    })?;
    let _ = std::fs::remove_dir(&empty);
    let mut runs = Vec::new();
    for i in 0..a.runs.max(1) {
        let rec = scanner.scan(&target).await;
        if rec.status != Status::Ok {
            return Err(format!(
                "run {}: {} is {}{}",
                i + 1,
                a.url,
                rec.status.as_str(),
                rec.error.map(|e| format!(" ({e})")).unwrap_or_default()
            )
            .into());
        }
        runs.push(scanner.features(&rec.observations));
    }
    let mut stable = stable_features(&runs);
    let dropped = runs[0].len() - stable.len();
    if let Some(layer) = a.layer {
        stable.retain(|k, _| {
            let probe = k.split_once('.').map_or(k.as_str(), |(p, _)| p);
            scanner.probes.get(probe).is_some_and(|p| p.layer == layer)
        });
    }
    let meta = Meta {
        id: a.id.clone(),
        name: a.name,
        library: a.library.clone().unwrap_or_else(|| a.id.clone()),
        family: a.family,
        language: a.language,
        versions: a.versions,
        lab_id: a.lab_id,
        date: today(),
        probe_set: scanner.probes.version.clone(),
    };
    let text = to_toml(&meta, &stable);
    std::fs::create_dir_all(&a.out_dir)?;
    let path = a.out_dir.join(format!("{}.toml", a.id));
    std::fs::write(&path, text)?;
    eprintln!(
        "wsfp: wrote {} ({} features, {} unstable dropped over {} runs)",
        path.display(),
        stable.len(),
        dropped,
        runs.len()
    );
    Ok(0)
}

fn tempdir_empty() -> std::io::Result<PathBuf> {
    let p = std::env::temp_dir().join(format!("wsfp-empty-db-{}", std::process::id()));
    std::fs::create_dir_all(&p)?;
    Ok(p)
}

/// Today's date (UTC) as YYYY-MM-DD, without a date library.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{:02}-{:02}", if m <= 2 { y + 1 } else { y }, m, d)
}
