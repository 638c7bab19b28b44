//! Adaptive probing: which probe to run next, given what the target has
//! shown so far, and when to stop.
//!
//! Like a game of twenty questions against the DB: the fingerprints still
//! plausible (log-likelihood within a margin of the best) are weighted by
//! their posterior, and each probe not yet run splits them by what they
//! expect from it (the probe's *signature* per fingerprint). The probe
//! whose split has the highest entropy is the most informative; ties go to
//! the safer, cheaper probe. Probing stops when the verdict is confident
//! and rests on enough compared evidence, when no probe splits the
//! plausible set any more, or when the budget (`--intensity`) is spent.
//!
//! The planner is pure (features in, probe ids out), so `wsfp evaluate
//! --adaptive` replays it on stored full scans to measure connections and
//! accuracy without touching a server.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::Db;
use super::score::{Scorer, Verdict};
use crate::probe::{Layer, Probe, Risk};

/// Candidates further than this below the best log-likelihood are out of
/// the running (about 3 fully discriminating mismatches).
const PLAUSIBLE_LN: f64 = 14.0;
/// A split carrying less information than this (nats) is not worth a
/// connection.
const MIN_GAIN: f64 = 0.02;

/// When adaptive probing may stop, and how much it may spend.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Probes per round (run concurrently).
    pub per_round: usize,
    /// Most probes in all (the gate excluded).
    pub max_probes: usize,
    /// Confidence the verdict must reach.
    pub confidence: f64,
    /// Features the best candidate must have been compared on.
    pub min_compared: usize,
}

impl Budget {
    /// `--intensity` 0 (cheapest) to 9 (most thorough), as nmap's
    /// version intensity.
    pub fn intensity(level: u8) -> Budget {
        let l = level.min(9) as usize;
        Budget {
            per_round: 2 + l / 3,
            max_probes: 6 + 6 * l,
            confidence: 0.80 + 0.02 * l as f64,
            // Compared features guard against a server that is not in the
            // DB but resembles one on the few probes that separated the
            // candidates: leave-one-out on the lab went from 3 confident
            // wrong names (8 + 3l) to 1 with 10l.
            min_compared: 10 * l.max(1),
        }
    }

    /// Whether `v` is enough to stop.
    pub fn satisfied(&self, v: &Verdict) -> bool {
        v.implementation != "unknown"
            && v.confidence >= self.confidence
            && v.candidates
                .first()
                .is_some_and(|c| c.compared >= self.min_compared)
    }
}

pub struct Planner {
    /// Candidate probes: id, risk, whether it needs its own handshake,
    /// and per fingerprint (DB order) an interned signature.
    probes: Vec<(String, Risk, bool, Vec<u32>)>,
    /// Each probe's evidence layer (same order).
    layers: Vec<Layer>,
    /// Per fingerprint (DB order): handshake evidence only, a reverse
    /// proxy's, which names a front and never a backend.
    proxy: Vec<bool>,
}

impl Planner {
    /// Plan over `probes` (the selected set) against `db`.
    pub fn new(db: &Db, probes: &[&Probe]) -> Planner {
        // Front-only probes (the HTTP/2 preface, `OPTIONS *`) are not
        // planned: on held-out implementations an adaptive scan that
        // asked them named a server that is itself nginx or lighttpd as
        // that proxy in front of a confidently wrong backend (6 of 731;
        // 2 without them); a full scan weighs them among all the rest.
        let probes: Vec<&Probe> = probes.iter().copied().filter(|p| !p.front).collect();
        let probes = &probes[..];
        let mut intern: HashMap<String, u32> = HashMap::new();
        let layers = probes.iter().map(|p| p.layer).collect();
        let planned = probes
            .iter()
            .map(|p| {
                let prefix = format!("{}.", p.id);
                let sigs = db
                    .fingerprints
                    .iter()
                    .map(|fp| {
                        let sig: String = fp
                            .features
                            .range(prefix.clone()..)
                            .take_while(|(k, _)| k.starts_with(&prefix))
                            .map(|(k, e)| format!("{k}={:?};", e.matcher))
                            .collect();
                        let n = intern.len() as u32;
                        *intern.entry(sig).or_insert(n)
                    })
                    .collect();
                (p.id.clone(), p.risk, !p.handshake.is_standard(), sigs)
            })
            .collect();
        let proxy = db
            .fingerprints
            .iter()
            .map(|f| f.features.values().all(|e| e.layer == Layer::Handshake))
            .collect();
        Planner {
            probes: planned,
            layers,
            proxy,
        }
    }

    /// Up to `k` probes to run next (not in `done`), most informative
    /// first; empty when none separates the plausible candidates. With
    /// `backend` (the handshake named a reverse proxy), the candidates are
    /// the fingerprints with frame evidence, ranked on the frames seen, and
    /// only frame probes are asked: the handshake is the proxy's.
    pub fn next(
        &self,
        scorer: &Scorer,
        features: &BTreeMap<String, String>,
        done: &HashSet<String>,
        k: usize,
        backend: bool,
    ) -> Vec<String> {
        let ll = scorer.log_likelihoods_in(features, backend.then_some(Layer::Frame));
        let eligible = |i: usize| !backend || !self.proxy[i];
        let best = ll
            .iter()
            .enumerate()
            .filter(|(i, _)| eligible(*i))
            .map(|(_, (l, _))| *l)
            .fold(f64::NEG_INFINITY, f64::max);
        let plausible: Vec<(usize, f64)> = ll
            .iter()
            .enumerate()
            .filter(|(i, (l, _))| eligible(*i) && best - l <= PLAUSIBLE_LN)
            .map(|(i, (l, _))| (i, (l - best).exp()))
            .collect();
        let total: f64 = plausible.iter().map(|(_, w)| w).sum();
        // Greedy joint choice: each pick maximises the entropy of the
        // split made by all picks so far together, so a round does not
        // spend two connections on the same question.
        let mut key: Vec<u64> = vec![0; plausible.len()];
        let mut picked: Vec<usize> = Vec::new();
        let mut base_h = 0.0;
        for _ in 0..k {
            let mut best_pick: Option<(f64, u8, bool, &str, usize)> = None;
            for (j, (id, risk, own_handshake, sigs)) in self.probes.iter().enumerate() {
                if done.contains(id)
                    || picked.contains(&j)
                    || backend && self.layers[j] != Layer::Frame
                {
                    continue;
                }
                let mut groups: BTreeMap<(u64, u32), f64> = BTreeMap::new();
                for ((i, w), kk) in plausible.iter().zip(&key) {
                    *groups.entry((*kk, sigs[*i])).or_default() += w / total;
                }
                let h: f64 = groups
                    .values()
                    .filter(|p| **p > 0.0)
                    .map(|p| -p * p.ln())
                    .sum();
                let cand = (h, *risk as u8, *own_handshake, id.as_str(), j);
                // Most information first; then safer; then probes that can
                // share a connection; then id order (deterministic).
                let better = match &best_pick {
                    None => true,
                    Some(b) => h
                        .total_cmp(&b.0)
                        .then(b.1.cmp(&cand.1))
                        .then(b.2.cmp(&cand.2))
                        .then(b.3.cmp(cand.3))
                        .is_gt(),
                };
                if better {
                    best_pick = Some(cand);
                }
            }
            let Some((h, .., j)) = best_pick else { break };
            if h - base_h < MIN_GAIN {
                break;
            }
            base_h = h;
            picked.push(j);
            let sigs = &self.probes[j].3;
            for ((i, _), kk) in plausible.iter().zip(key.iter_mut()) {
                *kk = crate::target::permute::mix(*kk ^ u64::from(sigs[*i]));
            }
        }
        picked
            .into_iter()
            .map(|j| self.probes[j].0.clone())
            .collect()
    }
}

impl Planner {
    /// The confirmation round: before a name is given, up to `k` probes
    /// not yet run where the named candidate's expectations weigh most.
    /// The probes that separated the DB's candidates say little about a
    /// server the DB lacks; these test the candidate's own distinctive
    /// behaviour, which a look-alike fails.
    pub fn confirm(
        &self,
        scorer: &Scorer,
        best: &str,
        done: &HashSet<String>,
        k: usize,
        backend: bool,
    ) -> Vec<String> {
        let Some(fp) = scorer.db().fingerprints.iter().position(|f| f.id == best) else {
            return Vec::new();
        };
        let mut w: Vec<(f64, &str)> = self
            .probes
            .iter()
            .zip(&self.layers)
            .filter(|((id, ..), layer)| !done.contains(id) && (!backend || **layer == Layer::Frame))
            .map(|(p, _)| p)
            .map(|(id, ..)| (scorer.probe_weight(fp, id), id.as_str()))
            .filter(|(w, _)| *w > 0.5)
            .collect();
        w.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        w.into_iter()
            .take(k)
            .map(|(_, id)| id.to_string())
            .collect()
    }
}

/// Replay adaptive probing on a stored full scan: start from the gate's
/// observation and reveal the planner's picks from `full`, as a live scan
/// would run them. Returns the observations it would have made.
pub fn replay(
    scorer: &Scorer,
    planner: &Planner,
    probes: &crate::probe::ProbeSet,
    full: &BTreeMap<String, crate::probe::Observation>,
    gate: &str,
    budget: Budget,
) -> BTreeMap<String, crate::probe::Observation> {
    let mut seen: BTreeMap<String, crate::probe::Observation> = full
        .iter()
        .filter(|(id, _)| *id == gate)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut done: HashSet<String> = seen.keys().cloned().collect();
    let mut spent = 0;
    let mut confirmed: Option<String> = None;
    loop {
        let feats = crate::scan::observations_to_features(probes, &seen);
        let (front, v) = scorer.verdicts(&feats);
        if spent >= budget.max_probes {
            break;
        }
        let k = budget.per_round.min(budget.max_probes - spent);
        let next = match next_step(
            scorer,
            planner,
            &feats,
            &v,
            &done,
            k,
            budget,
            &mut confirmed,
            front_named(front.as_ref()),
        ) {
            Step::Stop => break,
            Step::Run(next) => next,
        };
        if next.is_empty() {
            break;
        }
        for id in next {
            spent += 1;
            if let Some(o) = full.get(&id) {
                seen.insert(id.clone(), o.clone());
            }
            done.insert(id);
        }
    }
    seen
}

/// Whether the head named a reverse proxy, so that the backend is what is
/// left to ask (frame probes only). A front the head cannot tell from
/// another proxy (nginx or lighttpd on probe 309 alone) is not named: the
/// head is still to be asked.
pub fn front_named(front: Option<&Verdict>) -> bool {
    front.is_some_and(|f| f.implementation != "unknown")
}

/// What an adaptive round does next.
pub enum Step {
    Stop,
    Run(Vec<String>),
}

/// One decision of adaptive probing (shared by live scans and replay): a
/// satisfied verdict is confirmed once (a round of the candidate's most
/// distinctive probes) before probing stops; otherwise the planner's
/// most informative picks run. `backend`: the handshake named a reverse
/// proxy, and `v` is the backend's verdict, to be planned on frames.
#[allow(clippy::too_many_arguments)]
pub fn next_step(
    scorer: &Scorer,
    planner: &Planner,
    features: &BTreeMap<String, String>,
    v: &Verdict,
    done: &HashSet<String>,
    k: usize,
    budget: Budget,
    confirmed: &mut Option<String>,
    backend: bool,
) -> Step {
    if budget.satisfied(v) {
        if confirmed.as_deref() == Some(v.implementation.as_str()) {
            return Step::Stop;
        }
        let best = v.candidates.first().map_or("", |c| c.id.as_str());
        *confirmed = Some(v.implementation.clone());
        let picks = planner.confirm(scorer, best, done, k, backend);
        return if picks.is_empty() {
            Step::Stop
        } else {
            Step::Run(picks)
        };
    }
    let mut next = planner.next(scorer, features, done, k, backend);
    if next.is_empty() && v.implementation != "unknown" {
        // Nothing separates the candidates left (two wire-identical
        // implementations of one library), but the verdict is short of
        // the evidence it needs: the best candidate's most distinctive
        // probes add to it.
        let best = v.candidates.first().map_or("", |c| c.id.as_str());
        next = planner.confirm(scorer, best, done, k, backend);
    }
    if next.is_empty() {
        Step::Stop
    } else {
        Step::Run(next)
    }
}
