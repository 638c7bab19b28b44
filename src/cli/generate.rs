//! `wsfp generate`: write fingerprints, either from a labelled corpus of
//! stored scans (`--corpus`: one fingerprint per implementation, learned
//! from all its versions, apps, configurations and proxy pairs; what
//! `lab/regenerate.sh` runs), or by scanning one known server several
//! times and keeping the features that were stable across runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{ProbeOpts, usage, value};
use crate::fingerprint::generate::{Meta, stable_features, to_toml};
use crate::output::Status;
use crate::scan::Scanner;
use crate::target::Target;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The server to record (without --corpus).
    #[arg(
        short = 'u',
        long = "url",
        value_name = "URL",
        required_unless_present = "corpus"
    )]
    pub url: Option<String>,
    /// Fingerprint id (file name), e.g. py-websockets.
    #[arg(long, required_unless_present = "corpus", value_parser = value::id())]
    pub id: Option<String>,
    /// Implementation name.
    #[arg(long, required_unless_present = "corpus", value_parser = value::text())]
    pub name: Option<String>,
    /// Learn from stored scans (NDJSON, repeatable) instead of scanning:
    /// every fingerprint of --identity that the --labels name.
    #[arg(long, value_name = "FILE", requires_all = ["labels", "identity"], conflicts_with = "url")]
    pub corpus: Vec<PathBuf>,
    /// The corpus labels (`target, fingerprint, front, kind, variant,
    /// version` per line, as lab/corpus.py writes them).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// What each fingerprint is (lab/identity.tsv).
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// With --corpus: only these fingerprint ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Version(s) of the implementation observed (repeatable).
    #[arg(long = "version", value_name = "V", value_parser = value::text())]
    pub versions: Vec<String>,
    /// Underlying library (default: the name).
    #[arg(long, value_parser = value::text())]
    pub library: Option<String>,
    /// Family (default: the library).
    #[arg(long, value_parser = value::text())]
    pub family: Option<String>,
    /// Implementation language.
    #[arg(long, default_value = "unknown", value_parser = value::text())]
    pub language: String,
    /// Lab entry id, recorded as provenance.
    #[arg(long, value_parser = value::text())]
    pub lab_id: Option<String>,
    /// Scans to intersect (1 to 100); features that differ between them
    /// are dropped.
    #[arg(long, default_value_t = 2, value_name = "N", allow_negative_numbers = true,
          value_parser = value::int::<usize>(1, 100, ""))]
    pub runs: usize,
    /// Keep only one layer's features: `handshake` for a reverse proxy,
    /// whose frames are its backend's.
    #[arg(long, value_enum)]
    pub layer: Option<crate::probe::Layer>,
    /// Directory to write into.
    #[arg(long, default_value = "fingerprints", value_parser = value::out_path())]
    pub out_dir: PathBuf,
    /// Every connection through this proxy: socks5://[user:pass@]host:port
    /// (socks5h:// is the same) or http://[user:pass@]host:port (CONNECT).
    /// A target given as a name is resolved by the proxy, not here, so
    /// --exclude cannot check its address.
    #[arg(long, value_name = "URL", value_parser = value::proxy())]
    pub proxy: Option<crate::net::ProxyUrl>,
    #[command(flatten)]
    pub probes: ProbeOpts,
}

/// `--corpus`: learn every fingerprint the labels speak for.
fn from_corpus(a: &GenerateArgs) -> Result<i32, Box<dyn std::error::Error>> {
    use crate::fingerprint::corpus;
    let mut set = crate::probe::ProbeSet::builtin();
    for f in &a.probes.probe_files {
        set.merge(crate::probe::ProbeSet::load(f).map_err(|e| usage(e.to_string()))?);
    }
    let (Some(labels), Some(identity)) = (&a.labels, &a.identity) else {
        return Err(usage("--corpus needs --labels and --identity"));
    };
    let labels = corpus::read_labels(labels).map_err(usage)?;
    let idents = corpus::read_identity(identity).map_err(usage)?;
    if let Some(bad) = a.only.iter().find(|i| !idents.contains_key(*i)) {
        return Err(usage(format!(
            "--only {bad}: not in {}",
            identity.display()
        )));
    }
    let (samples, errors) = corpus::samples(&set, &a.corpus, &labels).map_err(usage)?;
    for e in &errors {
        crate::stderr!("wsfp: {e}");
    }
    std::fs::create_dir_all(&a.out_dir)?;
    let date = today();
    let (mut written, mut missing) = (0, Vec::new());
    for ident in idents.values() {
        if !a.only.is_empty() && !a.only.contains(&ident.id) {
            continue;
        }
        match corpus::learn_fingerprint(&set, ident, &samples, &|_| true, &date) {
            Some(text) => {
                // Written only if it loads back.
                let path = a.out_dir.join(format!("{}.toml", ident.id));
                crate::fingerprint::Fingerprint::parse(&text, &path.display().to_string(), &set)
                    .map_err(|e| format!("learned fingerprint does not load: {e}"))?;
                std::fs::write(&path, text)?;
                written += 1;
            }
            None => missing.push(ident.id.as_str()),
        }
    }
    crate::stderr!(
        "wsfp: wrote {written} fingerprint(s) to {} from {} sample(s){}",
        a.out_dir.display(),
        samples.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!("; no samples for: {}", missing.join(", "))
        }
    );
    Ok(if errors.is_empty() && written > 0 {
        0
    } else {
        1
    })
}

/// What generation keeps of one live server ([`stable_scan`]).
pub struct Stable {
    /// The features identical in every run.
    pub features: BTreeMap<String, String>,
    /// Features of the first run left out as unstable.
    pub dropped: usize,
    pub runs: usize,
    pub scanner: Arc<Scanner>,
}

/// Scan `url` `runs` times as generation does and keep what every run
/// showed: every probe (or only the named series), the `same_as` probes
/// the full set skips included, as the DB keeps their evidence for
/// `--exhaustive` scans. No DB is needed (the scan scores against an
/// empty one); every connection through `proxy` if given. `wsfp
/// generate -u` and `wsfp scan -g` both use it.
pub async fn stable_scan(
    probes: &ProbeOpts,
    target: &Target,
    proxy: Option<&crate::net::ProxyUrl>,
    runs: usize,
) -> Result<Stable, Box<dyn std::error::Error>> {
    let mut probes = probes.clone();
    // A fingerprint records every probe unless told otherwise.
    if probes.named_series().is_empty() {
        probes.all = true;
    }
    probes.exhaustive = true;
    let set = probes.probe_set()?;
    let mut scanner = probes.build_scanner_with(set, crate::fingerprint::Db::default())?;
    if let Some(p) = proxy {
        scanner.connector.proxy = Some(Arc::new(
            crate::net::Proxy::resolve(p).await.map_err(usage)?,
        ));
    }
    let scanner = Arc::new(scanner);
    let mut seen = Vec::new();
    for i in 0..runs.max(1) {
        let rec = scanner.scan(target).await;
        if rec.status != Status::Ok {
            return Err(format!(
                "run {}: {} is {}{}",
                i + 1,
                target.input,
                rec.status.as_str(),
                rec.error.map(|e| format!(" ({e})")).unwrap_or_default()
            )
            .into());
        }
        seen.push(scanner.features(&rec.observations));
    }
    let features = stable_features(&seen);
    Ok(Stable {
        dropped: seen[0].len() - features.len(),
        runs: seen.len(),
        features,
        scanner,
    })
}

pub async fn run(a: GenerateArgs) -> Result<i32, Box<dyn std::error::Error>> {
    if !a.corpus.is_empty() {
        return from_corpus(&a);
    }
    let (Some(url), Some(id), Some(name)) = (a.url.clone(), a.id.clone(), a.name.clone()) else {
        return Err(usage("give -u URL, --id and --name (or --corpus)"));
    };
    let Stable {
        features: mut stable,
        dropped,
        runs,
        scanner,
    } = stable_scan(
        &a.probes,
        &Target::parse(&url, a.probes.plain).map_err(|e| usage(e.to_string()))?,
        a.proxy.as_ref(),
        a.runs,
    )
    .await?;
    if let Some(layer) = a.layer {
        stable.retain(|k, _| {
            let probe = k.split_once('.').map_or(k.as_str(), |(p, _)| p);
            scanner.probes.get(probe).is_some_and(|p| p.layer == layer)
        });
    }
    let meta = Meta {
        id: id.clone(),
        name,
        library: a.library.clone().unwrap_or_else(|| id.clone()),
        family: a.family,
        language: a.language,
        versions: a.versions,
        lab_id: a.lab_id,
        date: today(),
        probe_set: scanner.probes.version.clone(),
    };
    let text = to_toml(&meta, &stable);
    std::fs::create_dir_all(&a.out_dir)?;
    let path = a.out_dir.join(format!("{id}.toml"));
    std::fs::write(&path, text)?;
    crate::stderr!(
        "wsfp: wrote {} ({} features, {} unstable dropped over {} runs)",
        path.display(),
        stable.len(),
        dropped,
        runs
    );
    Ok(0)
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
