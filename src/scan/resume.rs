//! `--resume STATE`: a survey killed at any moment continues where it
//! stopped, losing no target and writing none twice, however many times
//! it is killed.
//!
//! The ledger is keyed by unit index: units are numbered by `seq`, their
//! position in the seeded, deterministic input order; the state holds the
//! low watermark (every `seq` below it is written) plus the few written
//! `seq`s above it (bounded by what was in flight). The rule httpx broke:
//! the ledger may only advance after the output it covers is durable. So
//! a checkpoint is: flush the records, `fsync` the output, note its
//! length, then write the state file atomically (temporary file, `fsync`,
//! rename).
//!
//! A kill between two checkpoints leaves records after the checkpoint's
//! length (the tail) whose units the ledger does not list. On resume the
//! tail is read back ([`read_tail`]) and each of its records is given the
//! index of its unit ([`recover`]): the input is walked in the same order
//! again and a tail record goes to the first pending unit with its (line,
//! target) key. Two pending units share a key only when they are the same
//! target on the same input line (`-u X` given twice): interchangeable,
//! so the count per key is what must be right, and is. Those indices
//! enter the ledger before the first checkpoint of the resumed run moves
//! past the tail. A torn last line is cut and its unit scanned again.
//!
//! The input must be the one the ledger counts: its content hash (and the
//! options that shape the order) are in the state, and a resume whose
//! input changed, or whose watermark lies past the input's end, is refused.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::output::RecordWriter;
use crate::output::manifest::hex;
use crate::target::Unit;

/// 2: the ledger of `seq`s with the tail matched to them, and the input's
/// content hash (version 1 hashed the file's path and length only).
pub const STATE_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub version: u32,
    /// Hash of the options that decide the unit order (`-u` values,
    /// ports, paths, window, seed, shard, default blocklist): resuming
    /// with others would skip the wrong units.
    pub config: String,
    /// SHA-1 of the target file's bytes (of nothing without a file): an
    /// edit of the same length, or two lines swapped, changes it.
    pub input: String,
    pub seed: u64,
    /// Every unit with `seq < watermark` has its record written.
    pub watermark: u64,
    /// Written units above the watermark.
    pub done: Vec<u64>,
    /// Output length covered by this checkpoint.
    pub out_len: u64,
    /// Records written in all runs so far.
    pub records: u64,
    pub finished: bool,
}

impl State {
    pub fn load(path: &Path) -> Result<Option<State>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("--resume {}: {e}", path.display())),
        };
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let v: VersionOnly = serde_json::from_str(&text)
            .map_err(|e| format!("--resume {}: not a wsfp state file: {e}", path.display()))?;
        if v.version != STATE_VERSION {
            return Err(format!(
                "--resume {}: state version {} (this wsfp writes {STATE_VERSION}); \
                 finish that scan with the wsfp that started it, or start anew",
                path.display(),
                v.version
            ));
        }
        let s: State = serde_json::from_str(&text)
            .map_err(|e| format!("--resume {}: not a wsfp state file: {e}", path.display()))?;
        Ok(Some(s))
    }
}

/// SHA-1 of everything `r` yields, read in 64 KiB blocks: a million-line
/// list costs one buffer, not its size.
pub fn content_hash(mut r: impl Read) -> std::io::Result<String> {
    let mut h = Sha1::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hex(&h.finalize()))
}

/// Which units a resumed run skips: those the ledger lists.
#[derive(Debug, Default)]
pub struct Skip {
    pub watermark: u64,
    pub seqs: HashSet<u64>,
}

impl Skip {
    pub fn skips(&self, seq: u64) -> bool {
        seq < self.watermark || self.seqs.contains(&seq)
    }

    pub fn is_empty(&self) -> bool {
        self.watermark == 0 && self.seqs.is_empty()
    }
}

/// A record's unit key: input line (None for `-u` values) and target text.
type Key = (Option<u64>, String);

#[derive(Deserialize)]
struct KeyOnly {
    target: String,
    #[serde(default)]
    line: Option<u64>,
}

/// The records written after the last checkpoint, as read back.
#[derive(Debug, Default)]
pub struct Tail {
    /// How many complete records each key has in the tail.
    pub keys: HashMap<Key, u64>,
    pub records: u64,
    /// End of the last complete record: a torn line after it is cut.
    pub good_end: u64,
    /// The output's length as found.
    pub len: u64,
}

/// Read the records written after `state.out_len`, without changing the
/// output (a refused resume leaves it as it was; see [`Tail::cut`]).
pub fn read_tail(out: &Path, state: &State) -> Result<Tail, String> {
    let err = |e: std::io::Error| format!("--resume: output {}: {e}", out.display());
    let mut f = File::open(out).map_err(err)?;
    let len = f.metadata().map_err(err)?.len();
    if len < state.out_len {
        return Err(format!(
            "--resume: output {} is shorter ({len} bytes) than the checkpoint says ({}); \
             it was changed since",
            out.display(),
            state.out_len
        ));
    }
    f.seek(SeekFrom::Start(state.out_len)).map_err(err)?;
    let mut reader = BufReader::new(f);
    let mut tail = Tail {
        good_end: state.out_len,
        len,
        ..Tail::default()
    };
    let mut pos = state.out_len;
    let mut line = Vec::new();
    loop {
        line.clear();
        let got = reader.read_until(b'\n', &mut line).map_err(err)?;
        if got == 0 || !line.ends_with(b"\n") {
            break; // the end, or a torn write: cut below
        }
        pos += got as u64;
        match serde_json::from_slice::<KeyOnly>(&line) {
            Ok(k) => {
                *tail.keys.entry((k.line, k.target)).or_insert(0) += 1;
                tail.records += 1;
                tail.good_end = pos;
            }
            Err(_) => break, // garbage from a torn write: cut from here
        }
    }
    Ok(tail)
}

impl Tail {
    /// Cut a torn last line off the output: its unit is scanned again.
    pub fn cut(&self, out: &Path) -> Result<(), String> {
        if self.good_end < self.len {
            OpenOptions::new()
                .write(true)
                .open(out)
                .and_then(|f| f.set_len(self.good_end))
                .map_err(|e| format!("--resume: output {}: {e}", out.display()))?;
        }
        Ok(())
    }
}

/// A resume, planned: what the ledger gains from the tail, what to skip.
#[derive(Debug)]
pub struct Recovery {
    /// The units of the tail's records, to mark before the first
    /// checkpoint.
    pub recovered: Vec<u64>,
    pub skip: Skip,
    /// Units in the input (this shard's).
    pub units: u64,
}

/// Walk the input's units (in the scan's order, from the start) and give
/// each tail record its unit: the first pending unit with its key. Fails
/// when the state cannot belong to this input: a watermark or a written
/// unit past its end, or tail records no pending unit accounts for.
pub fn recover(
    state: &State,
    tail: &Tail,
    units: impl Iterator<Item = Unit>,
) -> Result<Recovery, String> {
    let mut keys = tail.keys.clone();
    let mut left: u64 = keys.values().sum();
    let done: HashSet<u64> = state.done.iter().copied().collect();
    let (mut n, mut recovered) = (0u64, Vec::new());
    for u in units {
        n += 1;
        if left == 0 || u.seq < state.watermark || done.contains(&u.seq) {
            continue;
        }
        if let Some(c) = keys.get_mut(&u.key())
            && *c > 0
        {
            *c -= 1;
            left -= 1;
            recovered.push(u.seq);
        }
    }
    let last = state.done.iter().copied().max().map_or(0, |d| d + 1);
    if state.watermark > n || last > n {
        return Err(format!(
            "the state's ledger reaches unit {} but the input has {n}: its watermark is \
             past the end of the input (it belongs to another input)",
            state.watermark.max(last)
        ));
    }
    if left > 0 {
        return Err(format!(
            "{left} records after the last checkpoint belong to no pending unit of the \
             input: the output was changed since"
        ));
    }
    let mut seqs = done;
    seqs.extend(recovered.iter().copied());
    Ok(Recovery {
        recovered,
        skip: Skip {
            watermark: state.watermark,
            seqs,
        },
        units: n,
    })
}

/// Tracks written units and writes checkpoints.
pub struct Checkpointer {
    path: PathBuf,
    out: File,
    pub state: State,
    above: BTreeSet<u64>,
}

impl Checkpointer {
    /// `out`: a second handle on the output file (for `fsync` and length).
    pub fn new(path: PathBuf, out: File, state: State) -> Self {
        let above = state.done.iter().copied().collect();
        Checkpointer {
            path,
            out,
            state,
            above,
        }
    }

    /// A unit's record was handed to the writer.
    pub fn mark(&mut self, seq: u64) {
        self.state.records += 1;
        if seq == self.state.watermark {
            self.state.watermark += 1;
            while self.above.remove(&self.state.watermark) {
                self.state.watermark += 1;
            }
        } else if seq > self.state.watermark {
            self.above.insert(seq);
        }
    }

    /// Make the output durable, then advance the state file.
    pub fn save(&mut self, writer: &mut RecordWriter, finished: bool) -> std::io::Result<()> {
        writer.flush()?;
        self.out.sync_data()?;
        self.state.out_len = self.out.metadata()?.len();
        self.state.done = self.above.iter().copied().collect();
        self.state.finished = finished;
        let tmp = self.path.with_extension("tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(&self.state).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Item;

    fn state(watermark: u64, done: Vec<u64>, out_len: u64) -> State {
        State {
            version: STATE_VERSION,
            config: "x".into(),
            input: "y".into(),
            seed: 1,
            watermark,
            done,
            out_len,
            records: 0,
            finished: false,
        }
    }

    /// Units with these (line, target) keys, numbered in order.
    fn units(keys: &[(Option<u64>, &str)]) -> Vec<Unit> {
        keys.iter()
            .enumerate()
            .map(|(i, (line, t))| Unit {
                seq: i as u64,
                line: *line,
                tag: None,
                item: Item::Invalid {
                    text: t.to_string(),
                    message: String::new(),
                },
            })
            .collect()
    }

    #[test]
    fn watermark_advances_over_out_of_order_completions() {
        let dir = std::env::temp_dir().join(format!("wsfp-ck-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out.ndjson");
        std::fs::write(&out, "").unwrap();
        let mut c = Checkpointer::new(
            dir.join("state"),
            File::open(&out).unwrap(),
            state(0, vec![], 0),
        );
        for s in [2, 0, 3, 5] {
            c.mark(s);
        }
        assert_eq!(c.state.watermark, 1);
        c.mark(1);
        assert_eq!(c.state.watermark, 4);
        assert_eq!(c.above.iter().copied().collect::<Vec<_>>(), [5]);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_tail_is_read_without_change_and_a_torn_line_cut_on_demand() {
        let dir = std::env::temp_dir().join(format!("wsfp-rc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out.ndjson");
        let head = "{\"target\":\"a\",\"line\":1}\n";
        let body = "{\"target\":\"b\",\"line\":2}\n{\"target\":\"c\"}\n{\"target\":\"c\"}\n";
        let torn = "{\"target\":\"d\",\"li";
        let all = format!("{head}{body}{torn}");
        std::fs::write(&out, &all).unwrap();
        let tail = read_tail(&out, &state(1, vec![7], head.len() as u64)).unwrap();
        assert_eq!(tail.records, 3);
        assert_eq!(tail.keys[&(Some(2), "b".to_string())], 1);
        assert_eq!(tail.keys[&(None, "c".to_string())], 2);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), all, "read only");
        tail.cut(&out).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("{head}{body}")
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn tail_records_go_to_pending_units_one_each_duplicates_counted() {
        // Unit 0 is below the watermark, 2 is in the ledger already; the
        // tail holds "c" twice and "b" once: the first two pending "c"s
        // (3 and 4, not the written 2) and "b" (1) are recovered; the
        // third pending "c" (5) is still to scan.
        let u = units(&[
            (Some(1), "a"),
            (Some(2), "b"),
            (None, "c"),
            (None, "c"),
            (None, "c"),
            (None, "c"),
        ]);
        let mut tail = Tail::default();
        tail.keys.insert((Some(2), "b".into()), 1);
        tail.keys.insert((None, "c".into()), 2);
        let p = recover(&state(1, vec![2], 0), &tail, u.into_iter()).unwrap();
        assert_eq!(p.recovered, [1, 3, 4]);
        assert_eq!(p.units, 6);
        let skipped: Vec<u64> = (0..6).filter(|s| p.skip.skips(*s)).collect();
        assert_eq!(skipped, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_ledger_past_the_input_or_a_stray_tail_is_refused() {
        let u = || units(&[(Some(1), "a"), (Some(2), "b")]).into_iter();
        let e = recover(&state(3, vec![], 0), &Tail::default(), u()).unwrap_err();
        assert!(e.contains("past the end"), "{e}");
        let e = recover(&state(0, vec![2], 0), &Tail::default(), u()).unwrap_err();
        assert!(e.contains("past the end"), "{e}");
        assert!(recover(&state(2, vec![], 0), &Tail::default(), u()).is_ok());
        let mut tail = Tail::default();
        tail.keys.insert((Some(1), "a".into()), 1);
        let e = recover(&state(1, vec![], 0), &tail, u()).unwrap_err();
        assert!(e.contains("no pending unit"), "{e}");
    }

    #[test]
    fn content_hash_sees_same_length_edits() {
        let h = |s: &str| content_hash(s.as_bytes()).unwrap();
        assert_eq!(h("a\nb\n"), h("a\nb\n"));
        assert_ne!(h("a\nb\n"), h("b\na\n"));
        assert_ne!(h("a\nb\n"), h("a\nc\n"));
    }
}
