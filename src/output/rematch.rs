//! Re-scoring stored records under another DB (`wsfp match`), as a
//! stream: NDJSON lines in, NDJSON lines out, in input order.
//!
//! One function, [`Rematcher::rematch_line`], does a line's work; the
//! command and the benchmark both go through it (and [`Rematcher::run`]
//! spreads it over threads). Per line:
//! - the record is parsed once, version check included;
//! - a record whose status is not `ok` has no observations to re-score:
//!   its line is copied out unchanged once it has parsed as a record (so a
//!   bad line is still reported as `file:line`). In an open survey most
//!   targets are not WebSocket servers, so this is most lines;
//! - an `ok` record's features go straight from its observations into the
//!   scorer's [`Evidence`] (no feature map), the verdict fields are
//!   replaced, and the record is written as any writer would.

use std::collections::VecDeque;
use std::io::{self, BufRead, Write};
use std::sync::mpsc;

use super::read::{Lines, MAX_LINE, Next, ReadError, line_text, long_line_error};
use super::{Record, Status};
use crate::fingerprint::score::{Evidence, Scorer};
use crate::probe::ProbeSet;
use crate::probe::observation::for_each_feature;

/// A probe set and a scorer, ready to re-score records.
pub struct Rematcher {
    set: ProbeSet,
    scorer: Scorer,
    /// Per probe of `set`: its index in the scorer (`None`: no fingerprint
    /// expects anything of it).
    probe_ix: Vec<Option<usize>>,
}

/// Per-thread scratch space, reused from line to line.
pub struct Scratch {
    evidence: Evidence,
}

/// Lines handed to a worker at once: enough to make the hand-over cheap,
/// few enough to keep memory small (a full record is ~10 KB).
const BATCH_LINES: usize = 256;
const BATCH_BYTES: usize = 1 << 20;

impl Rematcher {
    pub fn new(set: ProbeSet, scorer: Scorer) -> Self {
        let probe_ix = set
            .probes
            .iter()
            .map(|p| scorer.probe_index(&p.id))
            .collect();
        Rematcher {
            set,
            scorer,
            probe_ix,
        }
    }

    pub fn scorer(&self) -> &Scorer {
        &self.scorer
    }

    pub fn scratch(&self) -> Scratch {
        Scratch {
            evidence: self.scorer.evidence(),
        }
    }

    /// Re-score a parsed record in place (a record that is not `ok` is
    /// left as it is): the same verdict as
    /// `r.rescore(scorer, &observations_to_features(set, &r.observations))`.
    pub fn rematch_record(&self, r: &mut Record, scratch: &mut Scratch) {
        if r.status != Status::Ok {
            return;
        }
        let ev = &mut scratch.evidence;
        ev.clear();
        // Probe-set order, as `observations_to_features` walks it (a
        // feature given twice keeps its last value either way).
        for (p, ix) in self.set.probes.iter().zip(&self.probe_ix) {
            if let (Some(ix), Some(o)) = (ix, r.observations.get(&p.id)) {
                for_each_feature(p, o, |k, v| self.scorer.observe(ev, *ix, k, v));
            }
        }
        r.set_verdicts(self.scorer.verdicts_of(ev));
        r.app_protocol = self
            .scorer
            .db()
            .app_protocols
            .classify(&self.set, &r.observations);
    }

    /// One input line (without or with its line ending) → its NDJSON output
    /// line, appended to `out`; or the reason the line is not a record
    /// (the message [`super::read::for_each_record`] gives).
    pub fn rematch_line(
        &self,
        line: &str,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let (mut r, read) = super::read::parse_line_versioned(line)?;
        if r.status == Status::Ok {
            self.rematch_record(&mut r, scratch);
            serde_json::to_writer(&mut *out, &r).map_err(|e| e.to_string())?;
        } else if read != super::SCHEMA_VERSION {
            // An older record, in this version's shape.
            serde_json::to_writer(&mut *out, &r).map_err(|e| e.to_string())?;
        } else {
            out.extend_from_slice(line.trim_end_matches(['\n', '\r']).as_bytes());
        }
        out.push(b'\n');
        Ok(())
    }

    /// Re-score every line of `input` (named `name` in errors) to `out` as
    /// NDJSON, in input order, on `threads` threads. Bad lines go to
    /// `errors` (in line order) and reading goes on, as
    /// [`super::read::for_each_record`] does; the only error returned is
    /// one writing `out`.
    pub fn run(
        &self,
        name: &str,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        threads: usize,
        errors: &mut Vec<ReadError>,
    ) -> io::Result<()> {
        let mut reader = Batches {
            input: Lines::new(input, MAX_LINE),
            eof: false,
            failed: None,
        };
        let error = |(line, message)| ReadError {
            file: name.to_string(),
            line,
            message,
        };
        if threads <= 1 {
            let mut scratch = self.scratch();
            while let Some(b) = reader.next() {
                let done = self.batch(&b, &mut scratch);
                errors.extend(done.errors.into_iter().map(error));
                out.write_all(&done.out)?;
            }
        } else {
            std::thread::scope(|s| -> io::Result<()> {
                // Batch i goes to worker i % threads, and each worker
                // answers in the order it was given: taking the answers
                // round-robin keeps the input order.
                let mut workers = Vec::new();
                for _ in 0..threads {
                    let (work_tx, work_rx) = mpsc::sync_channel::<Batch>(2);
                    let (done_tx, done_rx) = mpsc::channel::<Done>();
                    s.spawn(move || {
                        let mut scratch = self.scratch();
                        for b in work_rx {
                            if done_tx.send(self.batch(&b, &mut scratch)).is_err() {
                                break;
                            }
                        }
                    });
                    workers.push((work_tx, done_rx));
                }
                let mut pending = VecDeque::new();
                let mut next = 0;
                let mut take = |w: usize, errors: &mut Vec<ReadError>| -> io::Result<()> {
                    let done = workers[w].1.recv().expect("a worker answers each batch");
                    errors.extend(done.errors.into_iter().map(error));
                    out.write_all(&done.out)
                };
                while let Some(b) = reader.next() {
                    let w = next % threads;
                    next += 1;
                    workers[w]
                        .0
                        .send(b)
                        .expect("workers run until the input ends");
                    pending.push_back(w);
                    if pending.len() > 2 * threads {
                        take(pending.pop_front().expect("pending"), errors)?;
                    }
                }
                while let Some(w) = pending.pop_front() {
                    take(w, errors)?;
                }
                Ok(())
            })?;
        }
        // A read error ends the input, after every line before it.
        errors.extend(reader.failed.map(error));
        Ok(())
    }

    fn batch(&self, b: &Batch, scratch: &mut Scratch) -> Done {
        let mut done = Done {
            out: Vec::with_capacity(b.text.len() + b.text.len() / 8),
            errors: Vec::new(),
        };
        for &(line, span) in &b.lines {
            let res = match span {
                Some((a, z)) => line_text(&b.text[a..z]).and_then(|text| {
                    if text.trim().is_empty() {
                        Ok(())
                    } else {
                        self.rematch_line(text, scratch, &mut done.out)
                    }
                }),
                None => Err(long_line_error()),
            };
            if let Err(e) = res {
                done.errors.push((line, e));
            }
        }
        done
    }
}

/// Lines of the input, with their numbers and spans in `text` (`None`:
/// a line over the cap, skipped). The bytes are checked as UTF-8 by the
/// worker that takes the batch.
struct Batch {
    text: Vec<u8>,
    lines: Vec<(u64, Option<(usize, usize)>)>,
}

/// A batch's output and bad lines.
struct Done {
    out: Vec<u8>,
    errors: Vec<(u64, String)>,
}

/// Reads the input in batches of lines; blank lines are skipped but
/// counted, and a read error ends the input (recorded in `failed`).
struct Batches<'a> {
    input: Lines<&'a mut dyn BufRead>,
    eof: bool,
    failed: Option<(u64, String)>,
}

impl Batches<'_> {
    fn next(&mut self) -> Option<Batch> {
        let mut b = Batch {
            text: Vec::new(),
            lines: Vec::new(),
        };
        while !self.eof && b.lines.len() < BATCH_LINES && b.text.len() < BATCH_BYTES {
            let start = b.text.len();
            match self.input.next_into(&mut b.text) {
                Ok(Next::Eof) => self.eof = true,
                Ok(Next::Line) => {
                    if !b.text[start..].iter().all(u8::is_ascii_whitespace) {
                        b.lines
                            .push((self.input.line(), Some((start, b.text.len()))));
                    }
                }
                Ok(Next::Long) => b.lines.push((self.input.line(), None)),
                Err(e) => {
                    self.failed = Some((self.input.line() + 1, format!("cannot read: {e}")));
                    self.eof = true;
                }
            }
        }
        (!b.lines.is_empty()).then_some(b)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::fingerprint::Db;
    use crate::output::read::parse_line;

    const LAB: [&str; 2] = [
        include_str!("../../tests/data/analytics/lab-before.ndjson"),
        include_str!("../../tests/data/analytics/lab-after.ndjson"),
    ];

    fn rematcher() -> Rematcher {
        let set = ProbeSet::builtin();
        let db = Db::embedded(&set).unwrap();
        Rematcher::new(set, Scorer::new(Arc::new(db)))
    }

    /// What `wsfp match` wrote before it had a fast path: parse, derive
    /// the feature map, re-score, serialise the whole record.
    fn slow(m: &Rematcher, line: &str) -> Result<Vec<u8>, String> {
        let mut r = parse_line(line)?;
        if r.status == Status::Ok {
            let f = crate::scan::observations_to_features(&m.set, &r.observations);
            r.rescore(&m.scorer, &f);
        }
        let mut out = serde_json::to_vec(&r).unwrap();
        out.push(b'\n');
        Ok(out)
    }

    /// The stored lab records, and each WebSocket record again with only
    /// some of its probes (as adaptive and discovery scans store them).
    fn lines() -> Vec<String> {
        let mut lines = Vec::new();
        for text in LAB {
            for line in text.lines().filter(|l| !l.is_empty()) {
                lines.push(line.to_string());
                let r = parse_line(line).unwrap();
                if r.status != Status::Ok {
                    continue;
                }
                for keep in [2, 3, 5] {
                    let mut part = r.clone();
                    part.observations
                        .retain(|k, _| k.len() % keep == 0 || k.ends_with('1'));
                    lines.push(serde_json::to_string(&part).unwrap());
                }
            }
        }
        lines
    }

    #[test]
    fn fast_path_writes_what_the_slow_path_wrote() {
        let m = rematcher();
        let mut scratch = m.scratch();
        let lines = lines();
        assert!(lines.len() > 90, "{}", lines.len());
        let (mut ok, mut other) = (0, 0);
        for line in &lines {
            let mut out = Vec::new();
            m.rematch_line(line, &mut scratch, &mut out).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(slow(&m, line).unwrap()).unwrap()
            );
            // The line ending is not part of the record.
            let mut crlf = Vec::new();
            m.rematch_line(&format!("{line}\r\n"), &mut scratch, &mut crlf)
                .unwrap();
            assert_eq!(crlf, slow(&m, line).unwrap());
            if line.contains("\"status\":\"ok\"") {
                ok += 1;
            } else {
                other += 1;
            }
        }
        assert!(ok > 80 && other >= 2, "{ok} {other}");
        // Bad lines fail with the reader's messages.
        for bad in [
            "{\"schema_version\":3,\"status\":\"refused\"}",
            "{\"schema_version\":1,\"status\":\"refused\"}",
            "[1]",
            "{\"schema_version\":1,",
        ] {
            let mut out = Vec::new();
            assert_eq!(
                m.rematch_line(bad, &mut scratch, &mut out),
                Err(parse_line(bad).unwrap_err())
            );
            assert!(out.is_empty());
        }
    }

    #[test]
    fn threads_keep_the_input_order_and_the_bad_lines() {
        let m = rematcher();
        let good = lines();
        // Enough lines for several batches per worker, with blank and bad
        // lines among them.
        let mut input = String::new();
        let mut want = Vec::new();
        let mut scratch = m.scratch();
        let mut want_errors = Vec::new();
        for i in 0..2000 {
            let n = i + 1;
            if i % 97 == 5 {
                input.push('\n');
            } else if i % 331 == 7 {
                input.push_str("{\"schema_version\":7}\n");
                want_errors.push((n as u64, parse_line("{\"schema_version\":7}").unwrap_err()));
            } else {
                let l = &good[i % good.len()];
                input.push_str(l);
                input.push('\n');
                m.rematch_line(l, &mut scratch, &mut want).unwrap();
            }
        }
        for threads in [1, 2, 3] {
            let mut out = Vec::new();
            let mut errors = Vec::new();
            m.run("in", &mut input.as_bytes(), &mut out, threads, &mut errors)
                .unwrap();
            assert!(out == want, "{threads} threads: output differs");
            let got: Vec<(u64, String)> = errors
                .into_iter()
                .map(|e| {
                    assert_eq!(e.file, "in");
                    (e.line, e.message)
                })
                .collect();
            assert_eq!(got, want_errors, "{threads} threads");
        }
    }

    #[test]
    fn bad_bytes_are_a_bad_line_and_a_read_error_ends_the_input() {
        let m = rematcher();
        let good = &lines()[0];
        let mut input = format!("{good}\n{good}\n").into_bytes();
        input.extend_from_slice(b"\xff\xfe not UTF-8\n");
        input.extend_from_slice(format!("{good}\n").as_bytes());
        for threads in [1, 2] {
            let mut out = Vec::new();
            let mut errors = Vec::new();
            m.run("in", &mut &input[..], &mut out, threads, &mut errors)
                .unwrap();
            assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 3);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].line, 3);
            assert!(
                errors[0].message.starts_with("not valid UTF-8"),
                "{errors:?}"
            );
        }
        // A failing input: the lines before the failure, then its error.
        struct Failing<'a>(&'a [u8]);
        impl std::io::Read for Failing<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Err(std::io::Error::other("gone"));
                }
                let n = self.0.len().min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        for threads in [1, 2] {
            let mut out = Vec::new();
            let mut errors = Vec::new();
            let mut r = std::io::BufReader::new(Failing(&input));
            m.run("in", &mut r, &mut out, threads, &mut errors).unwrap();
            assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 3);
            let got: Vec<u64> = errors.iter().map(|e| e.line).collect();
            assert_eq!(got, [3, 5], "{errors:?}");
            assert!(errors[1].message.starts_with("cannot read:"), "{errors:?}");
        }
    }
}
