//! `--resume STATE`: a survey killed at any moment continues where it
//! stopped, losing no target and writing none twice.
//!
//! The rule httpx broke: the checkpoint may only advance after the output
//! it covers is durable. So a checkpoint is: flush the records, `fsync`
//! the output, note its length, then write the state file atomically
//! (temporary file, `fsync`, rename). Units are numbered by `seq`, their
//! position in the seeded, deterministic input order; the state holds the
//! low watermark (every `seq` below it is written) plus the few written
//! `seq`s above it (bounded by what was in flight).
//!
//! On resume, records written after the last checkpoint (the kill came
//! between two checkpoints) are read back from the output's tail and
//! skipped by their (line, target) key; a torn last line is cut off and
//! its unit scanned again. Nothing is lost, nothing is duplicated.

use std::collections::{BTreeSet, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::output::RecordWriter;

pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub version: u32,
    /// Hash of the options that decide the unit order (input, ports,
    /// paths, seed, shard, window): resuming with others would skip the
    /// wrong units.
    pub config: String,
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
        let s: State = serde_json::from_str(&text)
            .map_err(|e| format!("--resume {}: not a wsfp state file: {e}", path.display()))?;
        if s.version != STATE_VERSION {
            return Err(format!(
                "--resume {}: state version {} (this wsfp writes {STATE_VERSION})",
                path.display(),
                s.version
            ));
        }
        Ok(Some(s))
    }
}

/// Which units a resumed run skips.
#[derive(Debug, Default)]
pub struct Skip {
    pub watermark: u64,
    pub seqs: HashSet<u64>,
    pub keys: HashSet<(Option<u64>, String)>,
}

impl Skip {
    pub fn skips(&self, seq: u64, key: impl FnOnce() -> (Option<u64>, String)) -> bool {
        seq < self.watermark || self.seqs.contains(&seq) || self.keys.contains(&key())
    }

    pub fn is_empty(&self) -> bool {
        self.watermark == 0 && self.seqs.is_empty() && self.keys.is_empty()
    }
}

#[derive(Deserialize)]
struct KeyOnly {
    target: String,
    #[serde(default)]
    line: Option<u64>,
}

/// Read the records written after `state.out_len` and cut a torn last
/// line. Returns what to skip and how many records the tail held.
pub fn recover(out: &Path, state: &State) -> Result<(Skip, u64), String> {
    let err = |e: std::io::Error| format!("--resume: output {}: {e}", out.display());
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(out)
        .map_err(err)?;
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
    let mut reader = BufReader::new(&mut f);
    let mut skip = Skip {
        watermark: state.watermark,
        seqs: state.done.iter().copied().collect(),
        keys: HashSet::new(),
    };
    let (mut pos, mut good_end, mut n) = (state.out_len, state.out_len, 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        let got = reader.read_until(b'\n', &mut line).map_err(err)?;
        if got == 0 {
            break;
        }
        pos += got as u64;
        if !line.ends_with(b"\n") {
            break; // torn write: cut below
        }
        match serde_json::from_slice::<KeyOnly>(&line) {
            Ok(k) => {
                skip.keys.insert((k.line, k.target));
                n += 1;
                good_end = pos;
            }
            Err(_) => break, // garbage from a torn write: cut from here
        }
    }
    drop(reader);
    if good_end < len {
        f.set_len(good_end).map_err(err)?;
    }
    Ok((skip, n))
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

    #[test]
    fn watermark_advances_over_out_of_order_completions() {
        let dir = std::env::temp_dir().join(format!("wsfp-ck-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out.ndjson");
        std::fs::write(&out, "").unwrap();
        let state = State {
            version: STATE_VERSION,
            config: "x".into(),
            seed: 1,
            watermark: 0,
            done: vec![],
            out_len: 0,
            records: 0,
            finished: false,
        };
        let mut c = Checkpointer::new(dir.join("state"), File::open(&out).unwrap(), state);
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
    fn recovery_reads_the_tail_and_cuts_a_torn_line() {
        let dir = std::env::temp_dir().join(format!("wsfp-rc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out.ndjson");
        let head = "{\"target\":\"a\",\"line\":1}\n";
        let body = "{\"target\":\"b\",\"line\":2}\n{\"target\":\"c\"}\n{\"target\":\"d\",\"li";
        std::fs::write(&out, format!("{head}{body}")).unwrap();
        let state = State {
            version: STATE_VERSION,
            config: "x".into(),
            seed: 1,
            watermark: 1,
            done: vec![7],
            out_len: head.len() as u64,
            records: 1,
            finished: false,
        };
        let (skip, n) = recover(&out, &state).unwrap();
        assert_eq!(n, 2);
        assert!(skip.keys.contains(&(Some(2), "b".to_string())));
        assert!(skip.keys.contains(&(None, "c".to_string())));
        assert!(skip.skips(0, || (None, "z".into())) && skip.skips(7, || (None, "z".into())));
        assert!(!skip.skips(3, || (Some(9), "d".into())));
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.ends_with("{\"target\":\"c\"}\n"),
            "torn line cut: {text:?}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
