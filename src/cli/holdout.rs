//! `wsfp evaluate --holdout`: identification measured on servers the DB
//! was not built from.
//!
//! Each split learns a DB from the corpus without one part (a release, an
//! app, a configuration, a proxy pair, a whole implementation) and scores
//! that part. Same-build accuracy (`--holdout none`: learn from
//! everything, score everything) is a smoke test; these splits are what a
//! survey meets.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use super::usage;
use crate::fingerprint::corpus::{self, Identity, Kind, Sample};
use crate::fingerprint::score::{Scorer, Verdict};
use crate::fingerprint::{Db, Fingerprint};
use crate::probe::{ProbeSet, Risk};

/// What is held out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Holdout {
    /// Nothing: learn from every sample, score every sample (same build).
    None,
    /// Each release of an implementation with several.
    Version,
    /// Each app variant (and the base app of implementations that have some).
    App,
    /// Each configuration variant.
    Config,
    /// Each proxy pair (front + backend).
    Pair,
    /// Each implementation (and each proxy) as a whole: it must come out
    /// `unknown` or its library, never another name.
    Implementation,
}

impl Holdout {
    fn name(self) -> &'static str {
        match self {
            Holdout::None => "none (same build)",
            Holdout::Version => "leave-one-version-out",
            Holdout::App => "leave-one-app-out",
            Holdout::Config => "leave-one-configuration-out",
            Holdout::Pair => "leave-one-pair-out",
            Holdout::Implementation => "leave-one-implementation-out",
        }
    }
}

/// How a verdict is scored.
pub struct Options {
    pub safety: Option<Risk>,
    pub adaptive: Option<crate::fingerprint::adaptive::Budget>,
    /// Confidence at and above which a wrong verdict is "confidently wrong".
    pub confident: f64,
    pub verbose: bool,
    /// Where to write each held-out verdict's confidence basis (TSV).
    pub dump: Option<std::path::PathBuf>,
    /// Least share of held-out scans whose library is named right, per
    /// split kind (not `implementation`), for exit 0.
    pub min_library: f64,
}

/// One split: its name and which samples it holds out.
struct Split {
    name: String,
    held: Vec<usize>,
    /// Fingerprints whose samples it touches (re-learned without them).
    touched: Vec<String>,
}

fn splits(kind: Holdout, samples: &[Sample], idents: &BTreeMap<String, Identity>) -> Vec<Split> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let is_proxy = |id: &str| idents.get(id).is_some_and(|i| i.layer.is_some());
    for (i, s) in samples.iter().enumerate() {
        let l = &s.label;
        let key = match kind {
            Holdout::None => Some("all".to_string()),
            Holdout::Version => (l.front.is_none() && l.kind != Kind::Proxy)
                .then(|| format!("{} @ {}", l.fingerprint, l.version)),
            Holdout::App => (l.kind == Kind::App).then(|| l.variant.clone()),
            Holdout::Config => (l.kind == Kind::Config).then(|| l.variant.clone()),
            Holdout::Pair => l.front.is_some().then(|| l.variant.clone()),
            Holdout::Implementation => Some(l.fingerprint.clone()),
        };
        if let Some(k) = key {
            groups.entry(k).or_default().push(i);
        }
        // A proxy held out as a whole: every target behind it.
        if kind == Holdout::Implementation
            && let Some(f) = &l.front
        {
            groups.entry(format!("{f} (front)")).or_default().push(i);
        }
    }
    // The base app of an implementation that has app variants is one app
    // among them.
    if kind == Holdout::App {
        let with_apps: std::collections::BTreeSet<&str> = samples
            .iter()
            .filter(|s| s.label.kind == Kind::App)
            .map(|s| s.label.fingerprint.as_str())
            .collect();
        for (i, s) in samples.iter().enumerate() {
            if s.label.kind == Kind::Base
                && s.label.front.is_none()
                && with_apps.contains(s.label.fingerprint.as_str())
            {
                groups.entry(s.label.variant.clone()).or_default().push(i);
            }
        }
    }
    let mut out = Vec::new();
    for (name, held) in groups {
        // A release is held out only where the implementation has another
        // one to learn from.
        if kind == Holdout::Version {
            let fp = &samples[held[0]].label.fingerprint;
            let version = &samples[held[0]].label.version;
            let others = samples.iter().any(|s| {
                &s.label.fingerprint == fp
                    && s.label.front.is_none()
                    && matches!(s.label.kind, Kind::Base | Kind::Version)
                    && &s.label.version != version
            });
            if !others || is_proxy(fp) {
                continue;
            }
        }
        let mut touched: Vec<String> = Vec::new();
        for &i in &held {
            let l = &samples[i].label;
            for id in std::iter::once(&l.fingerprint).chain(l.front.iter()) {
                if !touched.contains(id) {
                    touched.push(id.clone());
                }
            }
        }
        out.push(Split {
            name,
            held,
            touched,
        });
    }
    out
}

/// The tallies of one mode.
#[derive(Default)]
struct Tally {
    n: usize,
    library: usize,
    implementation: usize,
    unknown: usize,
    confident_wrong: Vec<String>,
    /// Named an implementation (not a library) of the right library but
    /// the wrong one, confidently.
    confident_wrong_impl: Vec<String>,
    fronts: usize,
    front_right: usize,
    versions: usize,
    version_in: usize,
    version_bounded: usize,
    /// Confidence bucket → (verdicts naming something, right).
    reliability: BTreeMap<usize, (usize, usize)>,
    /// Rows for `--dump`.
    dump: String,
}

const BUCKETS: [f64; 6] = [0.0, 0.5, 0.7, 0.8, 0.9, 0.95];

fn bucket(c: f64) -> usize {
    BUCKETS.iter().rposition(|&b| c >= b).unwrap_or(0)
}

fn library_of<'a>(idents: &'a BTreeMap<String, Identity>, id: &str) -> Option<&'a str> {
    idents.get(id).map(|i| i.library.as_str())
}

/// Score the held-out samples of every split of `kind`.
fn evaluate_kind(
    kind: Holdout,
    set: &ProbeSet,
    idents: &BTreeMap<String, Identity>,
    samples: &[Sample],
    full: &BTreeMap<String, Fingerprint>,
    o: &Options,
) -> Result<Tally, Box<dyn std::error::Error>> {
    let mut t = Tally::default();
    let mut out = std::io::stdout().lock();
    let planned: Vec<&crate::probe::Probe> = set
        .probes
        .iter()
        .filter(|p| p.id != crate::scan::GATE_PROBE)
        .collect();
    for split in splits(kind, samples, idents) {
        // Every split holds out whole variants (all runs of a set-up).
        let held: std::collections::BTreeSet<&str> = split
            .held
            .iter()
            .map(|&i| samples[i].label.variant.as_str())
            .collect();
        let keep = |s: &Sample| kind == Holdout::None || !held.contains(s.label.variant.as_str());
        // Untouched fingerprints are the full DB's; touched ones are
        // learned again without the held-out samples (or dropped).
        let mut db = Db::default();
        for (id, fp) in full {
            if !split.touched.contains(id) {
                db.fingerprints.push(fp.clone());
            } else if let Some(ident) = idents.get(id)
                && let Some(text) = corpus::learn_fingerprint(set, ident, samples, &keep, "-")
            {
                db.fingerprints
                    .push(Fingerprint::parse(&text, &format!("<learned {id}>"), set)?);
            }
        }
        let db = Arc::new(db);
        let in_db = |id: &str| db.fingerprints.iter().any(|f| f.id == id);
        let scorer = Scorer::new(db.clone());
        let planner = o
            .adaptive
            .map(|_| crate::fingerprint::adaptive::Planner::new(&db, &planned));
        for &i in &split.held {
            let s = &samples[i];
            let l = &s.label;
            let mut obs = s.observations.clone();
            if let Some(ceiling) = o.safety {
                obs.retain(|id, _| set.get(id).is_some_and(|p| p.risk <= ceiling));
            }
            if let (Some(budget), Some(planner)) = (o.adaptive, &planner) {
                obs = crate::fingerprint::adaptive::replay(
                    &scorer,
                    planner,
                    set,
                    &obs,
                    crate::scan::GATE_PROBE,
                    budget,
                );
            }
            let feats = crate::scan::observations_to_features(set, &obs);
            let (front, v) = scorer.verdicts(&feats);
            let want_lib = library_of(idents, &l.fingerprint);
            let got_lib = v.library.as_deref();
            let named = v.implementation != "unknown";
            let lib_ok = named && got_lib.is_some() && got_lib == want_lib;
            // Held out as a whole, the implementation cannot be named: its
            // library (another implementation of it) or unknown is right.
            let fp_known = in_db(&l.fingerprint);
            let impl_ok = if fp_known {
                v.implementation == l.fingerprint
                    || lib_ok && v.implementation == want_lib.unwrap_or("")
            } else {
                !named || lib_ok
            };
            let right = if fp_known { lib_ok } else { !named || lib_ok };
            t.n += 1;
            t.library += usize::from(lib_ok);
            t.implementation += usize::from(impl_ok);
            t.unknown += usize::from(!named);
            let shown = |v: &Verdict| format!("{} {:.2}", v.implementation, v.confidence);
            let case = format!(
                "[{}] {} ({}{}) -> {}{}",
                split.name,
                s.target,
                l.front
                    .as_deref()
                    .map(|f| format!("{f} -> "))
                    .unwrap_or_default(),
                l.fingerprint,
                front
                    .as_ref()
                    .map(|f| format!("{} -> ", f.implementation))
                    .unwrap_or_default(),
                shown(&v)
            );
            if named && v.confidence >= o.confident && !right {
                t.confident_wrong.push(case.clone());
            } else if named
                && v.confidence >= o.confident
                && right
                && !impl_ok
                && idents.contains_key(&v.implementation)
            {
                t.confident_wrong_impl.push(case.clone());
            }
            if let (Some(b), true) = (&v.basis, named) {
                use std::fmt::Write as _;
                let _ = writeln!(
                    t.dump,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.4}\t{:.4}\t{:.4}\t{:.4}\t{:.4}\t{}\t{}",
                    kind.name(),
                    split.name,
                    s.target,
                    l.fingerprint,
                    v.implementation,
                    u8::from(right),
                    v.confidence,
                    b.score,
                    b.closed,
                    b.compared_w,
                    b.matched_w,
                    b.library_gap,
                    u8::from(fp_known),
                    u8::from(b.layers_disagree)
                );
            }
            if named {
                let e = t.reliability.entry(bucket(v.confidence)).or_default();
                e.0 += 1;
                e.1 += usize::from(right);
            }
            if o.verbose {
                writeln!(out, "  {} {case}", if right { "ok " } else { "BAD" })?;
            }
            // The front, for targets behind a proxy (and none for the rest).
            if l.front.is_some() || front.is_some() {
                t.fronts += 1;
                let want = l.front.as_deref().filter(|f| in_db(f));
                let got = front.as_ref().map(|f| f.implementation.as_str());
                let ok = match want {
                    Some(w) => got == Some(w) && lib_ok,
                    // A front held out: unknown or no front is right.
                    None => got.is_none_or(|g| g == "unknown"),
                };
                t.front_right += usize::from(ok);
            }
            // The version, where the library is right and the row says one.
            if lib_ok
                && !l.version.is_empty()
                && l.kind != Kind::Proxy
                && let Some(e) = &v.version
            {
                t.versions += 1;
                t.version_in += usize::from(e.contains(&l.version));
                t.version_bounded += usize::from(e.bounded());
            }
        }
    }
    Ok(t)
}

fn pct(a: usize, n: usize) -> String {
    if n == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * a as f64 / n as f64)
    }
}

/// Run every requested split kind; print a table per kind and the
/// reliability of confidences; the exit code says whether the confidently
/// wrong share stayed within `max_wrong` everywhere (0) or not (1), or
/// that some input lines were bad (2).
pub fn run(
    kinds: &[Holdout],
    set: &ProbeSet,
    identity: &std::path::Path,
    labels: &std::path::Path,
    files: &[std::path::PathBuf],
    o: &Options,
    max_wrong: f64,
) -> Result<i32, Box<dyn std::error::Error>> {
    let idents = corpus::read_identity(identity).map_err(usage)?;
    let labels = corpus::read_labels(labels).map_err(usage)?;
    let (samples, errors) = corpus::samples(set, files, &labels).map_err(usage)?;
    for e in &errors {
        crate::stderr!("wsfp: {e}");
    }
    if samples.is_empty() {
        return Err(usage(
            "no ok record matched a label (labels are keyed by the record's `target`)",
        ));
    }
    let full: BTreeMap<String, Fingerprint> = corpus::learn_db(set, &idents, &samples, &|_| true)?
        .fingerprints
        .into_iter()
        .map(|f| (f.id.clone(), f))
        .collect();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "corpus: {} samples, {} fingerprints learned; safety {}, {}",
        samples.len(),
        full.len(),
        o.safety
            .map_or("all".to_string(), |r| format!("{r:?}").to_lowercase()),
        if o.adaptive.is_some() {
            "adaptive"
        } else {
            "every probe of the scan"
        }
    )?;
    writeln!(
        out,
        "{:<30} {:>5} {:>8} {:>8} {:>8} {:>10} {:>9} {:>9}",
        "split", "n", "library", "impl", "unknown", "conf.wrong", "front", "version"
    )?;
    let mut failed = false;
    let mut dump = String::from(
        "mode\tsplit\ttarget\twant\tgot\tright\tconfidence\tscore\tclosed\tcompared_w\tmatched_w\tlibrary_gap\tin_db\tlayers_disagree\n",
    );
    let mut rel: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    let mut wrong_all = Vec::new();
    for &k in kinds {
        let t = evaluate_kind(k, set, &idents, &samples, &full, o)?;
        writeln!(
            out,
            "{:<30} {:>5} {:>8} {:>8} {:>8} {:>10} {:>9} {:>9}",
            k.name(),
            t.n,
            pct(t.library, t.n),
            pct(t.implementation, t.n),
            pct(t.unknown, t.n),
            format!(
                "{} {}",
                t.confident_wrong.len(),
                pct(t.confident_wrong.len(), t.n)
            ),
            pct(t.front_right, t.fronts),
            pct(t.version_in, t.versions),
        )?;
        let share = t.confident_wrong.len() as f64 / t.n.max(1) as f64;
        if share > max_wrong || k == Holdout::Implementation && !t.confident_wrong.is_empty() {
            failed = true;
        }
        let library = t.library as f64 / t.n.max(1) as f64;
        if k != Holdout::Implementation && t.n > 0 && library < o.min_library {
            writeln!(
                out,
                "{:<30} library right {} is below --min-library {}",
                "",
                pct(t.library, t.n),
                o.min_library
            )?;
            failed = true;
        }
        dump.push_str(&t.dump);
        for (b, (n, r)) in t.reliability {
            let e = rel.entry(b).or_default();
            e.0 += n;
            e.1 += r;
        }
        if t.versions > 0 {
            writeln!(
                out,
                "{:<30} version estimates: {} of {} contain the true version, {} bounded on both sides",
                "", t.version_in, t.versions, t.version_bounded
            )?;
        }
        wrong_all.extend(t.confident_wrong.into_iter().map(|w| format!("wrong: {w}")));
        wrong_all.extend(
            t.confident_wrong_impl
                .into_iter()
                .map(|w| format!("wrong implementation (right library): {w}")),
        );
    }
    if let Some(path) = &o.dump {
        std::fs::write(path, &dump)
            .map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
    }
    writeln!(
        out,
        "\nreliability (named verdicts of every split above: confidence -> share right)"
    )?;
    for (b, (n, r)) in &rel {
        let hi = BUCKETS
            .get(b + 1)
            .map_or("1.00".to_string(), |h| format!("{h:.2}"));
        writeln!(
            out,
            "  [{:.2}, {hi}{}  {:>5} verdicts  {:>7} right",
            BUCKETS[*b],
            if *b + 1 == BUCKETS.len() { "]" } else { ")" },
            n,
            pct(*r, *n)
        )?;
    }
    for w in &wrong_all {
        writeln!(out, "  {w}")?;
    }
    // Bad input lines (reported above) are exit 2, as for every reader
    // of records.
    Ok(if !errors.is_empty() {
        2
    } else {
        i32::from(failed)
    })
}
