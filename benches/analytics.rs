//! Throughput of the offline analytics on real records (the lab scan in
//! tests/data/analytics, 16 records, 15 of them full WebSocket scans with
//! ~130 observations each, repeated to a batch).
//!
//! Run: `cargo bench --bench analytics` (`-- --quick` for a fast pass).
//! Groups report records per second:
//! - `match/line`: what `wsfp match` does per input line (parse, check
//!   the schema version, derive features, re-score, serialise);
//! - `match/features`: observations → feature map (parsed records);
//! - `match/score`: scoring only, on feature maps;
//! - `report/line`: parse + count, what `wsfp report` does per line;
//! - `match/survey_mix` and `report/survey_mix`: the same on a batch shaped
//!   like an open survey, where most targets are not WebSocket servers:
//!   1 full WebSocket record in 20, the rest the lab scan's refused record
//!   (one observation). The mix is an assumption, stated so the figure can
//!   be scaled to another survey's share of WebSocket endpoints.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use wsfp::analyze::report::Prevalence;
use wsfp::analyze::{DbIndex, Summary};
use wsfp::fingerprint::Db;
use wsfp::fingerprint::score::Scorer;
use wsfp::output::Status;
use wsfp::output::read::{parse_line, parse_line_as};
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

fn match_lines(lines: &[&str], set: &ProbeSet, scorer: &Scorer, out: &mut Vec<u8>) -> usize {
    out.clear();
    for l in lines {
        let mut r = parse_line(l).unwrap();
        if r.status == Status::Ok {
            let f = observations_to_features(set, &r.observations);
            r.rescore(scorer, &f);
        }
        serde_json::to_writer(&mut *out, &r).unwrap();
        out.push(b'\n');
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
    let lines = batch();

    let mix = survey_mix(20);

    let mut g = c.benchmark_group("match");
    g.throughput(Throughput::Elements(lines.len() as u64));
    let mut out = Vec::with_capacity(8 << 20);
    g.bench_function("line", |b| {
        b.iter(|| black_box(match_lines(&lines, &set, &scorer, &mut out)))
    });
    g.bench_function("survey_mix", |b| {
        b.iter(|| black_box(match_lines(&mix, &set, &scorer, &mut out)))
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
    g.bench_function("score", |b| {
        b.iter(|| {
            let mut n = 0;
            for f in &features {
                n += scorer.verdicts(f).1.candidates.len();
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
