//! Throughput of the offline analytics on real records (the lab scan in
//! tests/data/analytics, 16 records, 15 of them full WebSocket scans with
//! ~130 observations each, repeated to a batch).
//!
//! Run: `cargo bench --bench analytics` (`-- --quick` for a fast pass).
//! Groups report records per second:
//! - `match/line`: what `wsfp match` does per input line, on one thread
//!   (`Rematcher::rematch_line`, the command's own code: parse, check the
//!   schema version, derive features, re-score, serialise);
//! - `match/features`: observations → feature map (parsed records);
//! - `match/score`: scoring only, on feature maps (evidence reused);
//! - `report/line`: parse + count, what `wsfp report` does per line;
//! - `match/survey_mix` and `report/survey_mix`: the same on a batch shaped
//!   like an open survey, where most targets are not WebSocket servers:
//!   1 full WebSocket record in 20, the rest the lab scan's refused record
//!   (one observation). The mix is an assumption, stated so the figure can
//!   be scaled to another survey's share of WebSocket endpoints;
//! - `match/survey_mix_2_threads`: the survey mix through
//!   `Rematcher::run` on two threads, what `wsfp match` does on a
//!   two-core machine (reading, ordered output included).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use wsfp::analyze::report::Prevalence;
use wsfp::analyze::{DbIndex, Summary};
use wsfp::fingerprint::Db;
use wsfp::fingerprint::score::Scorer;
use wsfp::output::Status;
use wsfp::output::read::{parse_line, parse_line_as};
use wsfp::output::rematch::{Rematcher, Scratch};
use wsfp::probe::ProbeSet;
use wsfp::scan::observations_to_features;

const LAB: &str = include_str!("../tests/data/analytics/lab-before.ndjson");
const BATCH: usize = 1600;

fn batch() -> Vec<&'static str> {
    let lines: Vec<&str> = LAB.lines().filter(|l| !l.is_empty()).collect();
    lines.iter().cycle().take(BATCH).copied().collect()
}

/// One WebSocket record in `every`, the rest the refused record.
fn survey_mix(every: usize) -> Vec<&'static str> {
    let lines: Vec<&str> = LAB.lines().filter(|l| !l.is_empty()).collect();
    let refused = *lines
        .iter()
        .find(|l| l.contains("\"status\":\"refused\""))
        .expect("the lab scan has a refused record");
    let ok: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains("\"status\":\"ok\""))
        .copied()
        .collect();
    (0..BATCH)
        .map(|i| {
            if i % every == 0 {
                ok[(i / every) % ok.len()]
            } else {
                refused
            }
        })
        .collect()
}

fn match_lines(lines: &[&str], m: &Rematcher, scratch: &mut Scratch, out: &mut Vec<u8>) -> usize {
    out.clear();
    for l in lines {
        m.rematch_line(l, scratch, out).unwrap();
    }
    out.len()
}

fn report_lines(lines: &[&str], index: &DbIndex) -> u64 {
    let mut p = Prevalence::new(index.clone());
    for l in lines {
        p.add(&parse_line_as::<Summary>(l).unwrap());
    }
    p.finish(Vec::new(), 0).records
}

fn bench(c: &mut Criterion) {
    let set = ProbeSet::builtin();
    let db = Db::embedded(&set).unwrap();
    let index = DbIndex::new(&db);
    let scorer = Scorer::new(Arc::new(db));
    let m = Rematcher::new(set.clone(), scorer.clone());
    let mut scratch = m.scratch();
    let lines = batch();

    let mix = survey_mix(20);
    let mix_text: String = mix.iter().flat_map(|l| [*l, "\n"]).collect();

    let mut g = c.benchmark_group("match");
    g.throughput(Throughput::Elements(lines.len() as u64));
    let mut out = Vec::with_capacity(8 << 20);
    g.bench_function("line", |b| {
        b.iter(|| black_box(match_lines(&lines, &m, &mut scratch, &mut out)))
    });
    g.bench_function("survey_mix", |b| {
        b.iter(|| black_box(match_lines(&mix, &m, &mut scratch, &mut out)))
    });
    g.bench_function("survey_mix_2_threads", |b| {
        b.iter(|| {
            out.clear();
            let mut errors = Vec::new();
            m.run("bench", &mut mix_text.as_bytes(), &mut out, 2, &mut errors)
                .unwrap();
            assert!(errors.is_empty());
            black_box(out.len())
        })
    });
    let parsed: Vec<_> = lines.iter().map(|l| parse_line(l).unwrap()).collect();
    let features: Vec<_> = parsed
        .iter()
        .filter(|r| r.status == Status::Ok)
        .map(|r| observations_to_features(&set, &r.observations))
        .collect();
    g.bench_function("features", |b| {
        b.iter(|| {
            let mut n = 0;
            for r in &parsed {
                n += observations_to_features(&set, &r.observations).len();
            }
            black_box(n)
        })
    });
    g.throughput(Throughput::Elements(features.len() as u64));
    let mut ev = scorer.evidence();
    g.bench_function("score", |b| {
        b.iter(|| {
            let mut n = 0;
            for f in &features {
                ev.clear();
                scorer.observe_map(&mut ev, f);
                n += scorer.verdicts_of(&mut ev).1.candidates.len();
            }
            black_box(n)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("report");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("line", |b| {
        b.iter(|| black_box(report_lines(&lines, &index)))
    });
    g.bench_function("survey_mix", |b| {
        b.iter(|| black_box(report_lines(&mix, &index)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
