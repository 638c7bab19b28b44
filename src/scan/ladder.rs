//! Ladders: probes that are rungs of one monotone test, run ends first.
//!
//! The 600 series announces ever longer frames. A server has one limit:
//! it waits for the rest of every frame up to it (the wait ends in
//! silence) and rejects every frame beyond it (a close, EOF or reset).
//! Across the 60 lab servers the reactions along the ladder were
//! monotone every time, and 31 of them gave the same reaction on every
//! rung. So a full scan runs the lowest and the highest rung first: when
//! the highest is accepted, every lower rung would be too; when the
//! lowest is rejected, every higher one would be. Only when the ends
//! disagree does the middle run, to find where the limit lies. That
//! spares eight connections on a server without a limit (or without any
//! tolerance), at the price of one frame wait before the middle starts
//! on the others.
//!
//! The rungs left out are recorded as `skipped` with the reason, and
//! carry no features, so matching ignores them. `--exhaustive`, naming
//! the series and `wsfp generate` run every rung.

use std::collections::BTreeMap;

use crate::probe::{End, Observation, Outcome, Probe};

/// What one rung's observation says about the server's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rung {
    /// The server waited for the rest: the frame is within its limit.
    Accepted,
    /// The server ended the connection: the frame is over its limit.
    Rejected,
    /// Anything else (the handshake failed, a frame came back, ...):
    /// nothing can be inferred, so the middle runs.
    Unclear,
}

fn rung(o: &Observation) -> Rung {
    if o.outcome != Outcome::Upgraded || o.error.is_some() {
        return Rung::Unclear;
    }
    match o.end {
        End::Timeout if o.frames.is_empty() => Rung::Accepted,
        End::Close | End::Eof | End::Reset => Rung::Rejected,
        _ => Rung::Unclear,
    }
}

struct Ladder {
    name: String,
    low: String,
    high: String,
    middle: Vec<usize>,
    low_seen: Option<Rung>,
    high_seen: Option<Rung>,
}

/// What to do with a ladder's middle rungs once its ends have spoken.
#[derive(Debug, PartialEq, Eq)]
pub enum Settled {
    /// Run them (indices into the probe set).
    Run(Vec<usize>),
    /// Leave them out: each gets a `skipped` observation with this reason.
    Skip(Vec<usize>, String),
}

/// The ladders of one target's scan, waiting on their ends.
#[derive(Default)]
pub struct Ladders {
    ladders: Vec<Ladder>,
}

impl Ladders {
    /// Take the middle rungs of every ladder with three or more rungs out
    /// of `todo` (indices into `all`, which lists rungs in ladder order),
    /// to be run or skipped once [`Ladders::note`] has seen both ends.
    pub fn withhold(all: &[Probe], todo: &mut Vec<usize>) -> Ladders {
        let mut rungs: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &i in todo.iter() {
            if let Some(name) = all.get(i).and_then(|p| p.ladder.as_ref()) {
                rungs.entry(name).or_default().push(i);
            }
        }
        let mut ladders = Vec::new();
        for (name, mut r) in rungs {
            r.sort_unstable();
            let [low, middle @ .., high] = r.as_slice() else {
                continue;
            };
            let (Some(low), Some(high)) = (all.get(*low), all.get(*high)) else {
                continue;
            };
            if middle.is_empty() {
                continue;
            }
            let middle = middle.to_vec();
            todo.retain(|i| !middle.contains(i));
            ladders.push(Ladder {
                name: name.to_string(),
                low: low.id.clone(),
                high: high.id.clone(),
                middle,
                low_seen: None,
                high_seen: None,
            });
        }
        Ladders { ladders }
    }

    /// A probe finished with `o`. When that settles its ladder, says what
    /// becomes of the middle rungs (once per ladder).
    pub fn note(&mut self, id: &str, o: &Observation) -> Option<Settled> {
        let at = self
            .ladders
            .iter()
            .position(|l| l.low == id || l.high == id)?;
        let l = self.ladders.get_mut(at)?;
        if l.low == id {
            l.low_seen = Some(rung(o));
        } else {
            l.high_seen = Some(rung(o));
        }
        let why = match (l.low_seen, l.high_seen) {
            (_, Some(Rung::Accepted)) => Some(format!(
                "the highest rung of ladder {:?} ({}) was accepted, so this lower one would be",
                l.name, l.high
            )),
            (Some(Rung::Rejected), _) => Some(format!(
                "the lowest rung of ladder {:?} ({}) was rejected, so this higher one would be",
                l.name, l.low
            )),
            _ => None,
        };
        let settled = match (why, l.low_seen.is_some() && l.high_seen.is_some()) {
            (Some(why), _) => Some(Settled::Skip(
                std::mem::take(&mut l.middle),
                format!("not run: {why} (--exhaustive runs every rung)"),
            )),
            (None, true) => Some(Settled::Run(std::mem::take(&mut l.middle))),
            (None, false) => None,
        };
        if settled.is_some() {
            self.ladders.remove(at);
        }
        settled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ProbeSet;

    fn rungs() -> (ProbeSet, Vec<usize>) {
        let set = ProbeSet::builtin();
        let todo: Vec<usize> = (0..set.probes.len())
            .filter(|&i| set.probes[i].series == 600)
            .collect();
        (set, todo)
    }

    fn seen(end: End) -> Observation {
        let mut o = Observation::new(Outcome::Upgraded);
        o.end = end;
        o
    }

    #[test]
    fn middles_wait_for_both_ends_unless_one_decides() {
        let (set, mut todo) = rungs();
        let before = todo.len();
        let mut l = Ladders::withhold(&set.probes, &mut todo);
        // 600 is no rung; 601 and 612 are the ends; the ten between wait.
        assert_eq!(before - todo.len(), 10);
        let ids: Vec<&str> = todo.iter().map(|&i| set.probes[i].id.as_str()).collect();
        assert_eq!(ids, ["600", "601", "612"]);
        assert_eq!(l.note("600", &seen(End::Eof)), None);
        // The low end accepted: the high end decides.
        assert_eq!(l.note("601", &seen(End::Timeout)), None);
        match l.note("612", &seen(End::Close)) {
            Some(Settled::Run(m)) => assert_eq!(m.len(), 10),
            other => panic!("{other:?}"),
        }
        // Settled once: a second report changes nothing.
        assert_eq!(l.note("612", &seen(End::Close)), None);
    }

    #[test]
    fn one_end_can_settle_alone_and_unclear_ends_run_the_middle() {
        let (set, mut todo) = rungs();
        let mut l = Ladders::withhold(&set.probes, &mut todo);
        match l.note("601", &seen(End::Reset)) {
            Some(Settled::Skip(m, why)) => {
                assert_eq!(m.len(), 10);
                assert!(why.contains("lowest rung") && why.contains("601"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        let (set, mut todo) = rungs();
        let mut l = Ladders::withhold(&set.probes, &mut todo);
        // A frame back instead of silence, a failed handshake: no inference.
        let mut echoed = seen(End::Timeout);
        echoed.frames.push(crate::probe::observation::FrameObs {
            opcode: 1,
            fin: true,
            rsv: 0,
            masked: false,
            len: 3,
            close_code: None,
            close_reason: None,
            anomalies: vec![],
            head: None,
        });
        assert_eq!(l.note("612", &echoed), None);
        let failed = Observation::failed(Outcome::Timeout, "handshake timed out");
        assert!(matches!(l.note("601", &failed), Some(Settled::Run(_))));
    }
}
