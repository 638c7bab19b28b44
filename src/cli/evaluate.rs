//! `wsfp evaluate`: how good is the DB on labelled scans (the lab)?
//!
//! Prints a confusion summary (expected → verdict, confidence, correct?)
//! and a leave-one-out check: for each labelled target, its own
//! fingerprint is removed and the scan re-scored; the verdict must then be
//! `unknown` or an implementation of the same library (a framework's
//! underlying library), never a confident wrong name.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::rematch::load;
use super::{DbOpts, usage, value};
use crate::fingerprint::Db;
use crate::fingerprint::score::Scorer;
use crate::output::read::for_each_record;
use crate::output::{Record, Status};
use crate::scan::observations_to_features;

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// NDJSON scan results.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Labels: `target<TAB>expected fingerprint id[<TAB>expected front]` per
    /// line ('#' comments); the third column is for targets behind a reverse
    /// proxy (the expected id is then the backend's).
    #[arg(long, value_name = "FILE")]
    pub labels: PathBuf,
    #[command(flatten)]
    pub db: DbOpts,
    #[arg(long = "probes", value_name = "FILE")]
    pub probe_files: Vec<PathBuf>,
    /// Skip the leave-one-out check.
    #[arg(long)]
    pub no_loo: bool,
    /// Exit 1 when the leave-one-out check gives more than this many wrong
    /// names (another library named where `unknown` or the same library
    /// is right). The default 0 makes any such name fail the run, as CI
    /// needs: a DB that names a server it was not built from as something
    /// else is the confident wrong answer a survey must never give.
    #[arg(long, default_value_t = 0, value_name = "N",
          value_parser = value::int::<usize>(0, 1_000_000, ""))]
    pub max_loo_wrong: usize,
    /// Score only observations of probes up to this risk, as if the scan
    /// had run with --safety (measures what each level can tell apart).
    #[arg(long, value_enum)]
    pub safety: Option<crate::probe::Risk>,
    /// Replay adaptive probing on each stored scan (the planner picks
    /// probes from the stored observations) and score what it would have
    /// seen; reports the probes it spent.
    #[arg(long)]
    pub adaptive: bool,
    /// Adaptive intensity 0-9 (with --adaptive).
    #[arg(long, default_value_t = 5, allow_negative_numbers = true,
          value_parser = value::int::<u8>(0, 9, ""))]
    pub intensity: u8,
    /// Exit 1 when top-1 accuracy is below this share (0 to 1).
    #[arg(long, default_value_t = 1.0, value_name = "SHARE", allow_hyphen_values = true,
          value_parser = value::number(0.0, 1.0, ""))]
    pub min_accuracy: f64,
    /// Held-out evaluation (comma-separated): learn the DB from the corpus
    /// without each release, app, configuration, proxy pair or whole
    /// implementation in turn, and score what was left out. Needs
    /// --identity and corpus labels (lab/corpus.py).
    #[arg(long, value_enum, value_delimiter = ',', requires = "identity")]
    pub holdout: Vec<super::holdout::Holdout>,
    /// What each fingerprint is (lab/identity.tsv), for --holdout.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// With --holdout: exit 1 when the share of confidently wrong verdicts
    /// (confidence >= 0.9, wrong library) of a split kind is above this,
    /// or any held-out implementation is given another name.
    #[arg(long, default_value_t = 0.01, value_name = "SHARE", allow_hyphen_values = true,
          value_parser = value::number(0.0, 1.0, ""))]
    pub max_confident_wrong: f64,
    /// With --holdout: exit 1 when a split kind (other than
    /// `implementation`, where `unknown` is right) names the right library
    /// for less than this share of its held-out scans (0 to 1; 0: no bound).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE", allow_hyphen_values = true,
          value_parser = value::number(0.0, 1.0, ""))]
    pub min_library: f64,
    /// With --holdout: print every held-out verdict.
    #[arg(long)]
    pub verbose: bool,
    /// With --holdout: write every held-out verdict's confidence basis to
    /// FILE (TSV, header line), the data the confidence is calibrated on.
    #[arg(long, value_name = "FILE", requires = "identity")]
    pub dump: Option<PathBuf>,
}

fn library_of<'a>(db: &'a Db, id: &str) -> Option<&'a str> {
    db.fingerprints
        .iter()
        .find(|f| f.id == id)
        .map(|f| f.library.as_str())
}

pub fn run(a: EvaluateArgs) -> Result<i32, Box<dyn std::error::Error>> {
    let (set, db) = load(&a.db, &a.probe_files, &[])?;
    if let (false, Some(identity)) = (a.holdout.is_empty(), &a.identity) {
        let o = super::holdout::Options {
            safety: a.safety,
            adaptive: a
                .adaptive
                .then(|| crate::fingerprint::adaptive::Budget::intensity(a.intensity)),
            confident: 0.9,
            verbose: a.verbose,
            dump: a.dump.clone(),
            min_library: a.min_library,
        };
        return super::holdout::run(
            &a.holdout,
            &set,
            identity,
            &a.labels,
            &a.files,
            &o,
            a.max_confident_wrong,
        );
    }
    let text = std::fs::read_to_string(&a.labels)
        .map_err(|e| usage(format!("cannot read labels {}: {e}", a.labels.display())))?;
    let mut labels = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let mut cols = l.split('\t');
        match (cols.next(), cols.next(), cols.next()) {
            (Some(t), Some(id), front) if !id.trim().is_empty() => {
                let front = front
                    .map(|f| f.trim().to_string())
                    .filter(|f| !f.is_empty());
                labels.insert(t.trim().to_string(), (id.trim().to_string(), front));
            }
            _ => {
                return Err(usage(format!(
                    "{}:{}: expected `target<TAB>fingerprint id`",
                    a.labels.display(),
                    i + 1
                )));
            }
        }
    }
    let mut recs: Vec<Record> = Vec::new();
    let mut errors = Vec::new();
    for f in &a.files {
        for_each_record(f, &mut errors, |r| recs.push(r))
            .map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?;
    }
    for e in &errors {
        crate::stderr!("wsfp: {e}");
    }
    let db = Arc::new(db);
    let scorer = Scorer::new(db.clone());
    let mut loo_scorers: BTreeMap<String, Scorer> = BTreeMap::new();
    let budget = crate::fingerprint::adaptive::Budget::intensity(a.intensity);
    let planned: Vec<&crate::probe::Probe> = set
        .probes
        .iter()
        .filter(|p| p.id != crate::scan::GATE_PROBE)
        .collect();
    let planner = crate::fingerprint::adaptive::Planner::new(&db, &planned);
    let mut loo_planners: BTreeMap<String, crate::fingerprint::adaptive::Planner> = BTreeMap::new();
    let mut spent: Vec<usize> = Vec::new();
    let mut loo_spent: Vec<usize> = Vec::new();
    // Locked once; a closed pipe comes back as an error (exit 141), where
    // `println!` panicked.
    let mut out = std::io::stdout().lock();

    writeln!(
        out,
        "{:<30} {:<26} {:<26} {:>5}  {:<4} {:<26} {:<4}",
        "target", "expected", "verdict", "conf", "ok", "leave-one-out verdict", "ok"
    )?;
    let (mut n, mut correct, mut loo_n, mut loo_ok, mut loo_wrong) = (0, 0, 0, 0, Vec::new());
    for r in &recs {
        let Some((expected, want_front)) = labels.get(&r.target) else {
            continue;
        };
        n += 1;
        let mut obs = r.observations.clone();
        if let Some(ceiling) = a.safety {
            obs.retain(|id, _| set.get(id).is_some_and(|p| p.risk <= ceiling));
        }
        let full_obs = obs.clone();
        if a.adaptive && r.status == Status::Ok {
            obs = crate::fingerprint::adaptive::replay(
                &scorer,
                &planner,
                &set,
                &full_obs,
                crate::scan::GATE_PROBE,
                budget,
            );
            spent.push(obs.len());
        }
        let feats = observations_to_features(&set, &obs);
        let v = if r.status == Status::Ok {
            scorer.score(&feats)
        } else {
            crate::fingerprint::score::Verdict::unknown()
        };
        // Naming the library of a wire-identical framework counts: the wire
        // cannot say more.
        // Behind a proxy the verdict is the backend's and the front must match too.
        let (v, front) = match scorer.layers(&feats) {
            Some((front, back)) if r.status == Status::Ok => (back, Some(front.implementation)),
            _ => (v, None),
        };
        let ok = (&v.implementation == expected
            || library_of(&db, expected).is_some_and(|l| l == v.implementation))
            && front == *want_front;
        correct += usize::from(ok);
        let mut loo = ("-".to_string(), "");
        if !a.no_loo && r.status == Status::Ok && library_of(&db, expected).is_some() {
            let s = loo_scorers.entry(expected.clone()).or_insert_with(|| {
                let mut d = (*db).clone();
                d.fingerprints.retain(|f| &f.id != expected);
                Scorer::new(Arc::new(d))
            });
            let feats = if a.adaptive {
                let p = loo_planners.entry(expected.clone()).or_insert_with(|| {
                    crate::fingerprint::adaptive::Planner::new(s.db(), &planned)
                });
                let o = crate::fingerprint::adaptive::replay(
                    s,
                    p,
                    &set,
                    &full_obs,
                    crate::scan::GATE_PROBE,
                    budget,
                );
                loo_spent.push(o.len());
                observations_to_features(&set, &o)
            } else {
                feats.clone()
            };
            let lv = match s.layers(&feats) {
                Some((_, back)) => back,
                None => s.score(&feats),
            };
            loo_n += 1;
            let lib = library_of(&db, &lv.implementation).unwrap_or(lv.implementation.as_str());
            let same_lib = Some(lib) == library_of(&db, expected);
            let good = lv.implementation == "unknown" || same_lib;
            if good {
                loo_ok += 1;
            } else {
                loo_wrong.push(format!(
                    "{} ({expected}) -> {} {:.2}",
                    r.target, lv.implementation, lv.confidence
                ));
            }
            loo = (
                format!("{} {:.2}", lv.implementation, lv.confidence),
                if good { "ok" } else { "BAD" },
            );
        }
        let shown = match (&front, r.status) {
            (Some(f), Status::Ok) => format!("{f} -> {}", v.implementation),
            (None, Status::Ok) => v.implementation.clone(),
            _ => r.status.as_str().to_string(),
        };
        let expected_shown = match want_front {
            Some(f) => format!("{f} -> {expected}"),
            None => expected.clone(),
        };
        writeln!(
            out,
            "{:<30} {:<26} {:<26} {:>5.2}  {:<4} {:<26} {:<4}",
            r.target,
            expected_shown,
            shown,
            v.confidence,
            if ok { "ok" } else { "BAD" },
            loo.0,
            loo.1
        )?;
    }
    if n == 0 {
        return Err(usage(
            "no record matched a label (labels are keyed by the record's `target`)",
        ));
    }
    let acc = correct as f64 / n as f64;
    writeln!(out, "\ntop-1: {correct}/{n} ({:.1}%)", acc * 100.0)?;
    let median = |v: &mut Vec<usize>| {
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    if a.adaptive {
        writeln!(
            out,
            "adaptive (intensity {}): connections (gate + probes, no chaining) median {}, max {}; leave-one-out median {}, max {}",
            a.intensity,
            median(&mut spent),
            spent.iter().max().unwrap_or(&0),
            median(&mut loo_spent),
            loo_spent.iter().max().unwrap_or(&0)
        )?;
    }
    if loo_n > 0 {
        writeln!(
            out,
            "leave-one-out: {loo_ok}/{loo_n} ({:.1}%) unknown or same library; {} wrong name(s) (at most {} allowed: --max-loo-wrong)",
            100.0 * loo_ok as f64 / loo_n as f64,
            loo_wrong.len(),
            a.max_loo_wrong
        )?;
        for w in &loo_wrong {
            writeln!(out, "  wrong: {w}")?;
        }
    }
    // Bad input lines (reported above, the rest scored) are exit 2, as
    // for every reader of records; then accuracy and wrong names.
    Ok(if !errors.is_empty() {
        2
    } else if acc + 1e-9 < a.min_accuracy || loo_wrong.len() > a.max_loo_wrong {
        1
    } else {
        0
    })
}
