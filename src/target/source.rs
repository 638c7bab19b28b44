//! The stream of work units: `-u` values, then the lines of a target file
//! (or stdin), each expanded lazily, sharded, and shuffled in a bounded
//! window. Memory is the window, never the list: a million-line file or a
//! /8 costs the same.
//!
//! Order is deterministic for a given input and `--seed`:
//! - every unit has a global position in input order (lines in order,
//!   each line's space walked through its own keyed [`Permutation`]);
//! - shard `i/N` owns the positions `p` with `p % N == i`, so N processes
//!   over the same input are disjoint and cover it, bad lines included;
//! - a window of W units is shuffled with a seeded generator; the output
//!   order gives each unit its `seq`, which `--resume` checkpoints.

use std::io::{BufRead, Read};
use std::sync::Arc;

use super::blocklist::CutTally;
use super::permute::{Permutation, SplitMix, mix};
use super::spec::{Expand, Space};
use super::url::Target;

/// Lines longer than this are bad input, not a reason to buffer forever.
pub const MAX_LINE: usize = 64 * 1024;

/// Most shards of one survey: far beyond any real one, and small enough
/// that the position arithmetic (`index + count`) cannot overflow.
pub const MAX_SHARDS: u64 = 1_000_000;

/// `--shard i/N` (0-based, like `JOB_COMPLETION_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// `i/N`, or `N` alone with the index taken from `env_index`.
    pub fn parse(s: &str, env_index: Option<&str>) -> Result<Shard, String> {
        let (i, n) = match s.split_once('/') {
            Some((i, n)) => (i.to_string(), n),
            None => (
                env_index
                    .ok_or_else(|| {
                        format!("--shard {s}: give i/N, or N with JOB_COMPLETION_INDEX set")
                    })?
                    .to_string(),
                s,
            ),
        };
        let count: u64 = n
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=MAX_SHARDS).contains(n))
            .ok_or_else(|| {
                format!("--shard: bad shard count {n:?} (expected 1 to {MAX_SHARDS})")
            })?;
        let index: u64 = i
            .trim()
            .parse()
            .map_err(|_| format!("--shard: bad shard index {i:?}"))?;
        if index >= count {
            return Err(format!(
                "--shard {index}/{count}: shards are numbered 0..{count} (like JOB_COMPLETION_INDEX)"
            ));
        }
        Ok(Shard { index, count })
    }

    /// How many of `total` positions this shard owns.
    pub fn share(&self, total: u64) -> u64 {
        total / self.count + u64::from(total % self.count > self.index)
    }

    /// First position `>= from` owned by this shard.
    fn first_owned(&self, from: u64) -> u64 {
        let r = from % self.count;
        from + (self.index + self.count - r) % self.count
    }
}

#[derive(Debug, Clone)]
pub enum Item {
    Target(Target),
    /// A line that could not be parsed: it still gets its record.
    Invalid {
        text: String,
        message: String,
    },
    /// A CIDR or range line the default blocklist cut whole: one
    /// `excluded` record, naming the rules.
    Excluded {
        text: String,
        message: String,
    },
}

/// One unit of work: exactly one output record.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Position in this process's output order (what `--resume` counts).
    pub seq: u64,
    /// Line number in the target file (None for `-u` values).
    pub line: Option<u64>,
    pub tag: Option<String>,
    pub item: Item,
}

impl Unit {
    /// What the record's `target` field shows.
    pub fn text(&self) -> &str {
        match &self.item {
            Item::Target(t) => &t.input,
            Item::Invalid { text, .. } | Item::Excluded { text, .. } => text,
        }
    }

    /// A key unique within one input: line and target text.
    pub fn key(&self) -> (Option<u64>, String) {
        (self.line, self.text().to_string())
    }
}

/// A target line that is no target: the text its record shows, and why.
/// (A NUL inside the line once separated the two, and cut the text.)
struct BadLine {
    text: String,
    message: String,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub expand: Expand,
    pub seed: u64,
    pub shard: Shard,
    /// Shuffle window (1 = input order).
    pub window: usize,
}

struct Current {
    space: Space,
    perm: Permutation,
    /// Global position of the space's first unit.
    base: u64,
    /// Next position inside the space to consider.
    next: u64,
    line: Option<u64>,
}

/// The unit stream. An I/O error ends it; [`Source::error`] says why.
pub struct Source {
    plan: Plan,
    args: std::vec::IntoIter<String>,
    reader: Option<Box<dyn BufRead + Send>>,
    label: String,
    line_no: u64,
    lines_seen: u64,
    global: u64,
    current: Option<Current>,
    window: Vec<Unit>,
    rng: SplitMix,
    seq: u64,
    exhausted: bool,
    error: Option<String>,
    cuts: Arc<CutTally>,
}

impl Source {
    pub fn new(
        plan: Plan,
        args: Vec<String>,
        reader: Option<(Box<dyn BufRead + Send>, String)>,
    ) -> Self {
        let (reader, label) = match reader {
            Some((r, l)) => (Some(r), l),
            None => (None, String::new()),
        };
        let rng = SplitMix::new(mix(plan.seed ^ 0x5eed));
        Source {
            plan,
            args: args.into_iter(),
            reader,
            label,
            line_no: 0,
            lines_seen: 0,
            global: 0,
            current: None,
            window: Vec::new(),
            rng,
            seq: 0,
            exhausted: false,
            error: None,
            cuts: Arc::default(),
        }
    }

    /// What the default blocklist cut so far (complete once the source
    /// is exhausted). A line's cuts are counted by the shard that owns
    /// the line's first position, so the shards' counts add up to the
    /// input's.
    pub fn cuts(&self) -> Arc<CutTally> {
        self.cuts.clone()
    }

    /// Why the input ended early (an unreadable file), if it did.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The next raw input (argument or trimmed file line) with its line
    /// number, or a line that is bad as bytes (its text as shown, and
    /// why); None at the end of input.
    fn next_line(&mut self) -> Option<(Option<u64>, Result<String, BadLine>)> {
        if let Some(a) = self.args.next() {
            return Some((None, Ok(a)));
        }
        let reader = self.reader.as_mut()?;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            self.line_no += 1;
            let n = match reader
                .by_ref()
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut buf)
            {
                Ok(n) => n,
                Err(e) => {
                    self.error = Some(format!("{}:{}: cannot read: {e}", self.label, self.line_no));
                    self.reader = None;
                    return None;
                }
            };
            if n == 0 {
                self.reader = None;
                return None;
            }
            if buf.len() > MAX_LINE && !buf.ends_with(b"\n") {
                // Skip the rest of the monster line.
                loop {
                    let mut rest = Vec::new();
                    match reader
                        .by_ref()
                        .take(MAX_LINE as u64)
                        .read_until(b'\n', &mut rest)
                    {
                        Ok(0) => break,
                        Ok(_) if rest.ends_with(b"\n") => break,
                        Ok(_) => continue,
                        Err(_) => break,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..64]).into_owned();
                return Some((
                    Some(self.line_no),
                    Err(BadLine {
                        text: format!("{head}..."),
                        message: format!("line longer than {MAX_LINE} bytes"),
                    }),
                ));
            }
            let text = match std::str::from_utf8(&buf) {
                Ok(t) => t.trim(),
                Err(_) => {
                    let shown = String::from_utf8_lossy(&buf).trim().to_string();
                    return Some((
                        Some(self.line_no),
                        Err(BadLine {
                            text: shown,
                            message: "line is not valid UTF-8".into(),
                        }),
                    ));
                }
            };
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            return Some((Some(self.line_no), Ok(text.to_string())));
        }
    }

    /// The next unit this shard owns, in global (input) order.
    fn next_owned(&mut self) -> Option<Unit> {
        let shard = self.plan.shard;
        loop {
            if let Some(c) = &mut self.current {
                let owned = shard.first_owned(c.base + c.next) - c.base;
                if owned < c.space.len() {
                    c.next = owned + 1;
                    let t = c.space.get(c.perm.index(owned));
                    return Some(Unit {
                        seq: 0,
                        line: c.line,
                        tag: c.space.tag.clone(),
                        item: Item::Target(t),
                    });
                }
                self.global = c.base + c.space.len();
                self.current = None;
            }
            let (line, text) = self.next_line()?;
            self.lines_seen += 1;
            let parsed = text.and_then(|t| {
                Space::parse(&t, &self.plan.expand).map_err(|e| BadLine {
                    text: t,
                    message: e.0,
                })
            });
            match parsed {
                Ok(space) if space.excluded().is_some() => {
                    // Cut whole: one position, like a bad line, and one record.
                    let pos = self.global;
                    self.global += 1;
                    if pos % shard.count == shard.index {
                        self.cuts.add(space.cut_units(), true);
                        return Some(Unit {
                            seq: 0,
                            line,
                            tag: None,
                            item: Item::Excluded {
                                text: space.input().to_string(),
                                message: space.excluded().unwrap_or_default().to_string(),
                            },
                        });
                    }
                }
                Ok(space) => {
                    if self.global % shard.count == shard.index {
                        self.cuts.add(space.cut_units(), false);
                    }
                    let key = mix(self.plan.seed ^ mix(self.lines_seen));
                    self.current = Some(Current {
                        perm: Permutation::new(space.len(), key),
                        base: self.global,
                        next: 0,
                        line,
                        space,
                    });
                }
                Err(e) => {
                    let pos = self.global;
                    self.global += 1;
                    if pos % shard.count == shard.index {
                        return Some(Unit {
                            seq: 0,
                            line,
                            tag: None,
                            item: Item::Invalid {
                                text: e.text,
                                message: e.message,
                            },
                        });
                    }
                }
            }
        }
    }
}

impl Iterator for Source {
    type Item = Unit;

    fn next(&mut self) -> Option<Unit> {
        let w = self.plan.window.max(1);
        while !self.exhausted && self.window.len() < w {
            match self.next_owned() {
                Some(u) => self.window.push(u),
                None => self.exhausted = true,
            }
        }
        if self.window.is_empty() {
            return None;
        }
        let i = if w == 1 {
            0
        } else {
            self.rng.below(self.window.len() as u64) as usize
        };
        let mut u = self.window.swap_remove(i);
        u.seq = self.seq;
        self.seq += 1;
        Some(u)
    }
}

/// Count the units of an input without scanning it (for the progress
/// bar's total): a second, cheap pass over a regular file.
pub fn count_units(
    expand: &Expand,
    args: &[String],
    reader: Option<Box<dyn BufRead + Send>>,
    shard: Shard,
) -> u64 {
    let plan = Plan {
        expand: expand.clone(),
        seed: 0,
        shard: Shard::default(),
        window: 1,
    };
    let mut s = Source::new(plan, args.to_vec(), reader.map(|r| (r, String::new())));
    let mut total = 0u64;
    while let Some((_, text)) = s.next_line() {
        total += match text.map(|t| Space::parse(&t, expand)) {
            // A line cut whole still has its one record.
            Ok(Ok(space)) => space.len().max(1),
            _ => 1,
        };
    }
    shard.share(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::io::Cursor;
    use std::sync::Arc;

    fn plan(shard: Shard, window: usize, seed: u64) -> Plan {
        Plan {
            expand: Expand {
                ports: Arc::from(vec![80u16, 81]),
                paths: Arc::from(Vec::new()),
                plain: true,
                blocklist: None,
            },
            seed,
            shard,
            window,
        }
    }

    const INPUT: &str = "# comment\n10.0.0.0/29\n\nbad host!\nh.example:9\n127.0.0.1-127.0.0.3\n";

    fn run(p: Plan) -> Vec<Unit> {
        let r: Box<dyn BufRead + Send> = Box::new(Cursor::new(INPUT.as_bytes().to_vec()));
        Source::new(p, vec!["ws://a.example/x".into()], Some((r, "t".into()))).collect()
    }

    #[test]
    fn shards_are_disjoint_and_cover_everything() {
        let all: Vec<_> = run(plan(Shard::default(), 1, 3))
            .iter()
            .map(Unit::key)
            .collect();
        // 1 URL + 8×2 + 1 bad line + 1 explicit port + 3×2.
        assert_eq!(all.len(), 1 + 16 + 1 + 1 + 6);
        let set: HashSet<_> = all.iter().cloned().collect();
        assert_eq!(set.len(), all.len(), "keys are unique");
        for n in [2u64, 3, 7, 40] {
            let mut union = Vec::new();
            for i in 0..n {
                let shard = Shard { index: i, count: n };
                let part = run(plan(shard, 5, 3));
                assert_eq!(part.len() as u64, shard.share(all.len() as u64));
                union.extend(part.iter().map(Unit::key));
            }
            let u: HashSet<_> = union.iter().cloned().collect();
            assert_eq!(union.len(), all.len(), "{n} shards: no duplicates");
            assert_eq!(u, set, "{n} shards cover the input");
        }
    }

    #[test]
    fn order_is_seeded_and_window_bounded() {
        let a: Vec<_> = run(plan(Shard::default(), 8, 1))
            .iter()
            .map(Unit::key)
            .collect();
        let b: Vec<_> = run(plan(Shard::default(), 8, 1))
            .iter()
            .map(Unit::key)
            .collect();
        let c: Vec<_> = run(plan(Shard::default(), 8, 2))
            .iter()
            .map(Unit::key)
            .collect();
        assert_eq!(a, b, "same seed, same order");
        assert_ne!(a, c, "another seed, another order");
        let seqs: Vec<u64> = run(plan(Shard::default(), 8, 1))
            .iter()
            .map(|u| u.seq)
            .collect();
        assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
        let bad = run(plan(Shard::default(), 1, 1))
            .into_iter()
            .find(|u| matches!(u.item, Item::Invalid { .. }))
            .unwrap();
        assert_eq!(bad.line, Some(4));
        assert_eq!(bad.text(), "bad host!");
    }

    #[test]
    fn bad_bytes_and_long_lines_are_units_not_errors() {
        let mut data = b"127.0.0.1:1\n\xff\xfe\n".to_vec();
        data.extend(std::iter::repeat_n(b'a', MAX_LINE + 10));
        data.extend(b"\n127.0.0.1:2\n");
        let r: Box<dyn BufRead + Send> = Box::new(Cursor::new(data));
        let units: Vec<Unit> =
            Source::new(plan(Shard::default(), 1, 0), vec![], Some((r, "f".into()))).collect();
        let msgs: Vec<String> = units
            .iter()
            .map(|u| match &u.item {
                Item::Target(t) => t.input.clone(),
                Item::Invalid { message, .. } | Item::Excluded { message, .. } => message.clone(),
            })
            .collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(
            msgs[1].contains("UTF-8") && msgs[2].contains("longer"),
            "{msgs:?}"
        );
        assert_eq!(units[3].line, Some(4));
    }

    #[test]
    fn a_nul_in_a_line_is_part_of_its_text() {
        let r: Box<dyn BufRead + Send> = Box::new(Cursor::new(b"127.0.0.1:1/a\0b\n".to_vec()));
        let units: Vec<Unit> =
            Source::new(plan(Shard::default(), 1, 0), vec![], Some((r, "f".into()))).collect();
        assert_eq!(units.len(), 1);
        match &units[0].item {
            Item::Invalid { text, message } => {
                assert_eq!(text, "127.0.0.1:1/a\0b");
                assert!(message.starts_with("contains"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn blocklist_cuts_are_counted_once_across_shards() {
        let bl = Arc::new(crate::target::Blocklist::builtin());
        let input = "126.255.255.252-127.0.0.3\n224.0.0.0/3\n127.0.0.0/30\n";
        let go = |shard: Shard| {
            let mut p = plan(shard, 3, 5);
            p.expand.blocklist = Some(bl.clone());
            let r: Box<dyn BufRead + Send> = Box::new(Cursor::new(input.as_bytes().to_vec()));
            let mut s = Source::new(p, vec![], Some((r, "t".into())));
            let units: Vec<Unit> = s.by_ref().collect();
            (units, s.cuts().get())
        };
        let (all, cuts) = go(Shard::default());
        // 4 addresses kept × 2 ports, 1 record for the line cut whole,
        // 4 loopback addresses of the /30 (inside 127/8) × 2 ports.
        assert_eq!(all.len(), 8 + 1 + 8);
        let excluded: Vec<&Unit> = all
            .iter()
            .filter(|u| matches!(u.item, Item::Excluded { .. }))
            .collect();
        assert_eq!(excluded.len(), 1);
        assert_eq!(
            (excluded[0].text(), excluded[0].line),
            ("224.0.0.0/3", Some(2))
        );
        assert!(
            all.iter()
                .all(|u| !u.text().starts_with("127.0.0.") || u.line == Some(3))
        );
        assert_eq!(cuts.lines, 1);
        let by = cuts.by_text(&bl);
        assert_eq!(by["127.0.0.0/8"], 8, "{by:?}");
        assert_eq!(by["224.0.0.0/4"], 2 << 28, "{by:?}");
        assert_eq!(
            count_units(
                &{
                    let mut e = plan(Shard::default(), 1, 0).expand;
                    e.blocklist = Some(bl.clone());
                    e
                },
                &[],
                Some(Box::new(Cursor::new(input.as_bytes().to_vec()))),
                Shard::default()
            ),
            17
        );
        for n in [2u64, 3, 4] {
            let mut sum = super::super::blocklist::CutCounts::default();
            let mut units = 0;
            for i in 0..n {
                let (u, c) = go(Shard { index: i, count: n });
                units += u.len();
                for (r, k) in c.by_rule {
                    *sum.by_rule.entry(r).or_insert(0) += k;
                }
                sum.lines += c.lines;
            }
            assert_eq!(units, all.len(), "{n} shards");
            assert_eq!(sum, cuts, "{n} shards");
        }
    }

    #[test]
    fn shard_parsing() {
        assert_eq!(
            Shard::parse("1/4", None).unwrap(),
            Shard { index: 1, count: 4 }
        );
        assert_eq!(
            Shard::parse("4", Some("3")).unwrap(),
            Shard { index: 3, count: 4 }
        );
        assert!(Shard::parse("4/4", None).unwrap_err().contains("numbered"));
        assert!(Shard::parse("4", None).is_err());
        assert!(Shard::parse("0/0", None).is_err());
        assert!(Shard::parse("0/1000001", None).is_err());
        assert!(Shard::parse("0/18446744073709551615", None).is_err());
        assert!(Shard::parse("999999/1000000", None).is_ok());
    }
}
