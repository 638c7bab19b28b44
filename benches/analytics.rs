//! Throughput of the offline analytics on real records (the lab scan in
//! tests/data/analytics, 16 records, 15 of them full WebSocket scans with
//! ~130 observations each, repeated to a batch).
//!
//! Run: `cargo bench --bench analytics` (`-- --quick` for a fast pass).
//! Groups report records per second:
//! - `match/line`: what `wsfp match` does per input line (parse, check
//!   the schema version, derive features, re-score, serialise);
//! - `match/score`: features + re-score only, on parsed records;
//! - `report/line`: parse + count, what `wsfp report` does per line.

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

fn bench(c: &mut Criterion) {
    let set = ProbeSet::builtin();
    let db = Db::embedded(&set).unwrap();
    let index = DbIndex::new(&db);
    let scorer = Scorer::new(Arc::new(db));
    let lines = batch();

    let mut g = c.benchmark_group("match");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("line", |b| {
        let mut out = Vec::with_capacity(8 << 20);
        b.iter(|| {
            out.clear();
            for l in &lines {
                let mut r = parse_line(l).unwrap();
                if r.status == Status::Ok {
                    let f = observations_to_features(&set, &r.observations);
                    r.rescore(&scorer, &f);
                }
                serde_json::to_writer(&mut out, &r).unwrap();
                out.push(b'\n');
            }
            black_box(out.len())
        })
    });
    let parsed: Vec<_> = lines.iter().map(|l| parse_line(l).unwrap()).collect();
    g.bench_function("score", |b| {
        b.iter(|| {
            let mut n = 0;
            for r in &parsed {
                if r.status == Status::Ok {
                    let mut r = r.clone();
                    let f = observations_to_features(&set, &r.observations);
                    r.rescore(&scorer, &f);
                    n += r.candidates.len();
                }
            }
            black_box(n)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("report");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("line", |b| {
        b.iter(|| {
            let mut p = Prevalence::new(index.clone());
            for l in &lines {
                p.add(&parse_line_as::<Summary>(l).unwrap());
            }
            black_box(p.finish(Vec::new(), 0).records)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
