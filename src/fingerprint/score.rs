//! Scoring a scan's feature map against the DB.
//!
//! Each expected feature is weighted by how well it discriminates: the
//! share of *other* fingerprints whose expectation for the same key would
//! not accept this fingerprint's value. A feature every implementation
//! shares (say `100.status = 101`) weighs almost nothing; one only this
//! implementation shows weighs 1. Features absent on either side are
//! skipped. The score is the matched share of the compared weight, scaled
//! by coverage (how much of the fingerprint's weight could be compared),
//! and the verdict is `unknown` unless the best candidate is strong and
//! clearly ahead of the runner-up.
//!
//! Issue #3 calibrates these thresholds on the whole lab; the constants
//! below are the first, documented choice.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Db, Match};
use crate::probe::Layer;

/// Below this score the verdict is `unknown`: the server is not close
/// enough to anything in the DB. Calibrated by leave-one-out on the lab
/// (`wsfp evaluate`): a server scored against the DB without its own
/// fingerprint must come out `unknown` or as its library.
pub const MIN_SCORE: f64 = 0.9;
/// ln ε: how much less likely a mismatch of weight 1 makes a candidate
/// (one fully discriminating mismatch is more than a tie).
const MISMATCH_LN: f64 = -4.605_170_186; // ln 0.01
/// Candidates within this log-likelihood of the best are indistinguishable
/// (a factor of 20).
const TIE_LN: f64 = 2.995_732_274;
/// Discriminating weight that must be compared before any name is given:
/// a scan that ran one or two probes cannot name an implementation.
const MIN_EVIDENCE: f64 = 2.0;
/// Weight floor, so a DB of one fingerprint still scores.
const WEIGHT_FLOOR: f64 = 0.05;
/// Candidates reported.
pub const TOP_K: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: String,
    pub name: String,
    pub score: f64,
    /// Features compared / matched (for explaining a verdict).
    pub compared: usize,
    pub matched: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// A fingerprint id, a library (when the evidence cannot separate
    /// implementations of one library), or `"unknown"`.
    pub implementation: String,
    /// The library of the verdict, when there is one.
    pub library: Option<String>,
    pub confidence: f64,
    pub candidates: Vec<Candidate>,
}

impl Verdict {
    pub fn unknown() -> Verdict {
        Verdict {
            implementation: "unknown".into(),
            library: None,
            confidence: 0.0,
            candidates: Vec::new(),
        }
    }
}

/// Discrimination weights, computed once per DB, and the DB compiled for
/// scoring: every feature key and every distinct (key, expectation) pair
/// numbered, so scoring a record evaluates each distinct expectation once
/// and then only adds weights, instead of looking strings up per
/// fingerprint (`wsfp match` over a survey scores millions of records).
#[derive(Debug, Clone)]
pub struct Scorer {
    db: Arc<Db>,
    /// Per fingerprint: key → weight.
    weights: Vec<BTreeMap<String, f64>>,
    /// Every feature key the DB expects, sorted (merge-joined with a
    /// record's sorted feature map).
    keys: Vec<String>,
    /// Number of distinct (key, expectation) pairs.
    matchers: usize,
    /// Per key: its exact expectations by value (one lookup finds the only
    /// one that can hit), and its other expectations (evaluated in turn).
    by_key: Vec<KeyMatchers>,
    /// Probe id → index, for "which probes ran".
    probes: HashMap<String, usize>,
    /// Per fingerprint, its features in key order (the order the weights
    /// are summed in, so scores are bit-for-bit those of a plain loop).
    compiled: Vec<Vec<Feat>>,
    /// Per fingerprint, its features' runs of one probe: (probe, start,
    /// end) into `compiled` (keys sort by probe, so each probe's features
    /// are contiguous). A probe that did not run skips its run in one
    /// step; a discovery record (one probe) touches a few features per
    /// fingerprint instead of all of them.
    runs: Vec<Vec<(usize, usize, usize)>>,
}

#[derive(Debug, Clone, Default)]
struct KeyMatchers {
    exact: HashMap<String, usize>,
    other: Vec<(usize, Match)>,
}

#[derive(Debug, Clone)]
struct Feat {
    matcher: usize,
    /// Index into `keys`.
    key: usize,
    probe: usize,
    layer: Layer,
    weight: f64,
}

/// Compared and matched weight and count of one fingerprint, for one
/// evidence slot: all layers, handshake only, frame only.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    compared_w: f64,
    matched_w: f64,
    compared: usize,
    matched: usize,
}

const SLOT_ALL: usize = 0;

fn slot(layer: Option<Layer>) -> usize {
    match layer {
        None => SLOT_ALL,
        Some(Layer::Handshake) => 1,
        Some(Layer::Frame) => 2,
    }
}

/// A representative value a matcher accepts, used to ask whether another
/// fingerprint's matcher would accept it too.
fn representative(m: &Match) -> String {
    match m {
        Match::Exact(v) | Match::Contains(v) | Match::Prefix(v) => v.clone(),
        Match::AnyOf(v) => v[0].clone(),
        Match::Range(lo, _) => lo.to_string(),
    }
}

impl Scorer {
    pub fn new(db: Arc<Db>) -> Self {
        let fps = &db.fingerprints;
        // key → every fingerprint's expectation for it, built once, so the
        // weights cost one matcher call per (feature, other fingerprint).
        let mut index: BTreeMap<&str, Vec<(usize, &Match)>> = BTreeMap::new();
        for (i, fp) in fps.iter().enumerate() {
            for (k, e) in &fp.features {
                index.entry(k.as_str()).or_default().push((i, &e.matcher));
            }
        }
        let others = fps.len().saturating_sub(1);
        let weights: Vec<BTreeMap<String, f64>> = fps
            .iter()
            .enumerate()
            .map(|(i, fp)| {
                fp.features
                    .iter()
                    .map(|(k, e)| {
                        let w = if others == 0 {
                            1.0
                        } else {
                            let rep = representative(&e.matcher);
                            let accept = index[k.as_str()]
                                .iter()
                                .filter(|(j, m)| *j != i && m.matches(&rep))
                                .count();
                            (others - accept) as f64 / others as f64
                        };
                        (k.clone(), w.max(WEIGHT_FLOOR) * e.weight)
                    })
                    .collect()
            })
            .collect();
        let keys: Vec<String> = index.keys().map(|k| k.to_string()).collect();
        let key_ix: HashMap<&str, usize> = index.keys().enumerate().map(|(i, k)| (*k, i)).collect();
        let mut by_key: Vec<KeyMatchers> = vec![KeyMatchers::default(); keys.len()];
        let mut matcher_ix: HashMap<(usize, &Match), usize> = HashMap::new();
        let mut probes: HashMap<String, usize> = HashMap::new();
        let compiled: Vec<Vec<Feat>> = fps
            .iter()
            .zip(&weights)
            .map(|(fp, w)| {
                fp.features
                    .iter()
                    .map(|(k, e)| {
                        let key = key_ix[k.as_str()];
                        let n = matcher_ix.len();
                        let matcher = *matcher_ix.entry((key, &e.matcher)).or_insert_with(|| {
                            let km = &mut by_key[key];
                            match &e.matcher {
                                Match::Exact(v) => {
                                    km.exact.insert(v.clone(), n);
                                }
                                m => km.other.push((n, m.clone())),
                            }
                            n
                        });
                        let p = k.split_once('.').map_or(k.as_str(), |(p, _)| p);
                        let n = probes.len();
                        let probe = *probes.entry(p.to_string()).or_insert(n);
                        Feat {
                            matcher,
                            key,
                            probe,
                            layer: e.layer,
                            weight: w[k],
                        }
                    })
                    .collect()
            })
            .collect();
        let matchers = matcher_ix.len();
        drop(matcher_ix);
        let runs = compiled
            .iter()
            .map(|feats: &Vec<Feat>| {
                let mut r: Vec<(usize, usize, usize)> = Vec::new();
                for (i, f) in feats.iter().enumerate() {
                    match r.last_mut() {
                        Some(last) if last.0 == f.probe && last.2 == i => last.2 = i + 1,
                        _ => r.push((f.probe, i, i + 1)),
                    }
                }
                r
            })
            .collect();
        Scorer {
            runs,
            db,
            weights,
            keys,
            matchers,
            by_key,
            probes,
            compiled,
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The discrimination weight of fingerprint `fp`'s feature `key` (for
    /// explaining a verdict: which features counted).
    pub fn weight(&self, fp: usize, key: &str) -> Option<f64> {
        self.weights.get(fp)?.get(key).copied()
    }

    /// The summed discrimination weight of fingerprint `fp`'s expectations
    /// for probe `probe`: how much that probe can confirm or refute it.
    pub fn probe_weight(&self, fp: usize, probe: &str) -> f64 {
        let prefix = format!("{probe}.");
        self.weights.get(fp).map_or(0.0, |w| {
            w.range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(_, v)| v)
                .sum()
        })
    }

    pub fn score(&self, features: &BTreeMap<String, String>) -> Verdict {
        self.verdict(&self.tallies(features), SLOT_ALL)
    }

    /// Score one layer's evidence only (handshake or frame), for targets
    /// behind a reverse proxy: the handshake is the proxy's, the frames
    /// after it the backend's.
    pub fn score_layer(&self, features: &BTreeMap<String, String>, layer: Layer) -> Verdict {
        self.verdict(&self.tallies(features), slot(Some(layer)))
    }

    /// Both layers, when the handshake is a reverse proxy's (a fingerprint
    /// with handshake features only): `(front, backend)`.
    pub fn layers(&self, features: &BTreeMap<String, String>) -> Option<(Verdict, Verdict)> {
        self.split(&self.tallies(features))
    }

    /// The verdict for a record: `(Some(front), backend)` behind a reverse
    /// proxy (see [`Scorer::layers`]), else `(None, verdict)`. One pass
    /// over the evidence serves all three scorings.
    pub fn verdicts(&self, features: &BTreeMap<String, String>) -> (Option<Verdict>, Verdict) {
        let t = self.tallies(features);
        match self.split(&t) {
            Some((front, back)) => (Some(front), back),
            None => (None, self.verdict(&t, SLOT_ALL)),
        }
    }

    fn split(&self, t: &[[Tally; 3]]) -> Option<(Verdict, Verdict)> {
        let front = self.verdict(t, slot(Some(Layer::Handshake)));
        let known = |v: &Verdict| v.implementation != "unknown";
        // A handshake-only fingerprint (a reverse proxy) names the front
        // even when the frames alone cannot name the backend.
        let proxy_front = self
            .db
            .fingerprints
            .iter()
            .find(|f| f.id == front.implementation)
            .is_some_and(|f| f.features.values().all(|e| e.layer == Layer::Handshake));
        // Only a proxy fingerprint splits the verdict: when a server's own
        // fingerprint is missing, its handshake and its frames may each
        // resemble a different neighbour, and splitting then would turn two
        // weak resemblances into a confident wrong backend (leave-one-out
        // on the lab showed exactly that).
        if !(known(&front) && proxy_front) {
            return None;
        }
        Some((front, self.verdict(t, slot(Some(Layer::Frame)))))
    }

    /// Per fingerprint (DB order), the log-likelihood of the evidence so
    /// far (mismatched weight × ln ε) and the weight compared: what the
    /// adaptive planner ranks candidates by.
    pub fn log_likelihoods(&self, features: &BTreeMap<String, String>) -> Vec<(f64, f64)> {
        self.log_likelihoods_in(features, None)
    }

    /// [`Scorer::log_likelihoods`] on one layer's evidence only (`None`:
    /// all of it): behind a named proxy the backend is planned on frames.
    pub fn log_likelihoods_in(
        &self,
        features: &BTreeMap<String, String>,
        layer: Option<Layer>,
    ) -> Vec<(f64, f64)> {
        let s = slot(layer);
        self.tallies(features)
            .iter()
            .map(|t| {
                let t = t[s];
                ((t.compared_w - t.matched_w) * MISMATCH_LN, t.compared_w)
            })
            .collect()
    }

    /// Whether fingerprint `fp` (DB order) holds handshake evidence only:
    /// a reverse proxy's, which names a front and never a backend.
    pub fn handshake_only(&self, fp: usize) -> bool {
        self.db
            .fingerprints
            .get(fp)
            .is_some_and(|f| f.features.values().all(|e| e.layer == Layer::Handshake))
    }

    /// Per fingerprint and slot, the compared and matched weights.
    fn tallies(&self, features: &BTreeMap<String, String>) -> Vec<[Tally; 3]> {
        self.tallies_of(features, false)
    }

    /// Score only the expectations whose feature was observed, for thin
    /// evidence that covers part of a probe (passive capture analysis: a
    /// capture shows a handshake's headers but no reaction to a probe). A
    /// missing feature is then unknown rather than a mismatch, and the
    /// usual evidence floor still applies, so a single header never names
    /// an implementation.
    pub fn score_observed(
        &self,
        features: &BTreeMap<String, String>,
        layer: Option<Layer>,
    ) -> Verdict {
        self.verdict(&self.tallies_of(features, true), slot(layer))
    }

    fn tallies_of(
        &self,
        features: &BTreeMap<String, String>,
        only_observed: bool,
    ) -> Vec<[Tally; 3]> {
        // Probes that ran: every connection probe yields `<id>.status`, a
        // URL probe `<id>.url_match`. Expectations of probes that did not
        // run are skipped; of probes that ran, a missing feature is a
        // mismatch (expected a close, got none).
        let mut ran = vec![false; self.probes.len()];
        let mut observed: Vec<Option<&str>> = vec![None; self.keys.len()];
        let mut seen: Vec<usize> = Vec::with_capacity(features.len());
        let mut last_probe = None;
        for (k, v) in features {
            if let Some((p, _)) = k.split_once('.')
                && last_probe != Some(p)
            {
                last_probe = Some(p);
                if let Some(&i) = self.probes.get(p) {
                    ran[i] = true;
                }
            }
            // A record has few features next to the DB's keys: a binary
            // search each beats walking every key.
            if let Ok(i) = self.keys.binary_search_by(|dk| dk.as_str().cmp(k.as_str())) {
                observed[i] = Some(v.as_str());
                seen.push(i);
            }
        }
        // Which expectations the observed values meet; an unobserved key
        // meets none.
        let mut hit = vec![false; self.matchers];
        for &i in &seen {
            let (km, Some(o)) = (&self.by_key[i], observed[i]) else {
                continue;
            };
            if let Some(&m) = km.exact.get(o) {
                hit[m] = true;
            }
            for (m, matcher) in &km.other {
                hit[*m] = matcher.matches(o);
            }
        }
        self.compiled
            .iter()
            .zip(&self.runs)
            .map(|(feats, runs)| {
                let mut t = [Tally::default(); 3];
                let ran_feats = runs
                    .iter()
                    .filter(|(p, ..)| ran[*p])
                    .flat_map(|&(_, a, b)| &feats[a..b]);
                for f in ran_feats {
                    if only_observed && observed[f.key].is_none() {
                        continue;
                    }
                    let layer = slot(Some(f.layer));
                    t[SLOT_ALL].compared += 1;
                    t[SLOT_ALL].compared_w += f.weight;
                    t[layer].compared += 1;
                    t[layer].compared_w += f.weight;
                    if hit[f.matcher] {
                        t[SLOT_ALL].matched += 1;
                        t[SLOT_ALL].matched_w += f.weight;
                        t[layer].matched += 1;
                        t[layer].matched_w += f.weight;
                    }
                }
                t
            })
            .collect()
    }

    fn verdict(&self, tallies: &[[Tally; 3]], slot: usize) -> Verdict {
        let fps = &self.db.fingerprints;
        // (fingerprint, rounded score, log-likelihood, tally)
        let mut scored: Vec<(usize, f64, f64, Tally)> = tallies
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let t = t[slot];
                let enough = t.compared_w >= MIN_EVIDENCE;
                let score = if enough {
                    t.matched_w / t.compared_w
                } else {
                    0.0
                };
                // Log-likelihood: each mismatch of weight w costs w·ln(ε).
                // Without enough evidence a candidate is not in the running
                // at all (a proxy's handshake-only fingerprint, scored on
                // frames, must not tie with everything).
                let ll = if enough {
                    (t.compared_w - t.matched_w) * MISMATCH_LN
                } else {
                    f64::NEG_INFINITY
                };
                (i, round3(score), ll, t)
            })
            .collect();
        scored.sort_by(|a, b| {
            b.2.total_cmp(&a.2)
                .then_with(|| b.1.total_cmp(&a.1))
                .then_with(|| fps[a.0].id.cmp(&fps[b.0].id))
        });
        let candidates = || -> Vec<Candidate> {
            scored
                .iter()
                .take(TOP_K)
                .map(|&(i, score, _, t)| Candidate {
                    id: fps[i].id.clone(),
                    name: fps[i].name.clone(),
                    score,
                    compared: t.compared,
                    matched: t.matched,
                })
                .collect()
        };
        let Some(&(best, best_score, best_ll, _)) = scored.first() else {
            return Verdict::unknown();
        };
        if !best_ll.is_finite() {
            let mut v = Verdict::unknown();
            v.candidates = candidates();
            return v;
        }
        let best_lib = fps[best].library.as_str();
        // Posterior over the DB with a uniform prior.
        let norm: f64 = scored.iter().map(|s| (s.2 - best_ll).exp()).sum();
        let posterior = |ll: f64| (ll - best_ll).exp() / norm;
        // Candidates the evidence cannot tell from the best.
        let tied: Vec<&(usize, f64, f64, Tally)> = scored
            .iter()
            .take_while(|s| best_ll - s.2 < TIE_LN)
            .collect();
        let (implementation, library, confidence) = if best_score < MIN_SCORE {
            ("unknown".to_string(), None, round3(1.0 - best_score))
        } else if tied.len() == 1 {
            (
                fps[best].id.clone(),
                Some(best_lib.to_string()),
                round3(posterior(best_ll) * best_score),
            )
        } else if tied.iter().all(|s| fps[s.0].library == best_lib) {
            // Wire-identical implementations of one library (a framework
            // that adds nothing visible): name the library.
            let p: f64 = tied.iter().map(|s| posterior(s.2)).sum();
            (
                best_lib.to_string(),
                Some(best_lib.to_string()),
                round3(p * best_score),
            )
        } else {
            (
                "unknown".to_string(),
                None,
                round3(1.0 - posterior(best_ll)),
            )
        };
        Verdict {
            implementation,
            library,
            confidence,
            candidates: candidates(),
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::Fingerprint;
    use crate::probe::ProbeSet;

    fn fp(id: &str, feats: &str) -> Fingerprint {
        let text = format!(
            "id = \"{id}\"\nname = \"{id}\"\nlibrary = \"{id}\"\nlanguage = \"x\"\n[provenance]\ndate = \"d\"\nprobe_set = \"p\"\n[features]\n{feats}"
        );
        Fingerprint::parse(&text, id, &ProbeSet::builtin()).unwrap()
    }

    fn obs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn db() -> Arc<Db> {
        Arc::new(Db {
            fingerprints: vec![
                fp(
                    "a",
                    "\"309.status\" = 101\n\"104.close_code\" = 1002\n\"104.close_reason\" = \"A says no\"\n\"105.close_reason\" = \"A5\"\n",
                ),
                fp(
                    "b",
                    "\"309.status\" = 101\n\"104.close_code\" = 1002\n\"104.close_reason\" = \"B says no\"\n\"105.close_reason\" = \"B5\"\n",
                ),
                fp(
                    "c",
                    "\"309.status\" = 101\n\"104.close_code\" = 1007\n\"104.close_reason\" = \"\"\n\"105.close_reason\" = \"C5\"\n",
                ),
            ],
        })
    }

    #[test]
    fn discriminating_features_decide() {
        let db = db();
        let s = Scorer::new(db.clone());
        let v = s.score(&obs(&[
            ("309.status", "101"),
            ("104.status", "101"),
            ("104.close_code", "1002"),
            ("104.close_reason", "B says no"),
            ("105.status", "101"),
            ("105.close_reason", "B5"),
        ]));
        assert_eq!(v.implementation, "b", "{v:?}");
        assert!(v.confidence > 0.75, "{v:?}");
        assert_eq!(v.candidates[0].matched, 4);
        // The same evidence without probe 105 is too little to name anyone.
        let v = s.score(&obs(&[
            ("309.status", "101"),
            ("104.status", "101"),
            ("104.close_code", "1002"),
            ("104.close_reason", "B says no"),
        ]));
        assert_eq!(v.implementation, "unknown");
    }

    #[test]
    fn nothing_matching_is_unknown_not_a_guess() {
        let db = db();
        let s = Scorer::new(db.clone());
        let v = s.score(&obs(&[
            ("309.status", "101"),
            ("104.status", "101"),
            ("104.close_code", "1011"),
            ("104.close_reason", "zzz"),
            ("105.status", "101"),
            ("105.close_reason", "zzz"),
        ]));
        assert_eq!(v.implementation, "unknown");
        // A probe that ran but lacks an expected feature is a mismatch.
        let v = s.score(&obs(&[
            ("309.status", "101"),
            ("104.status", "101"),
            ("105.status", "101"),
        ]));
        assert_eq!(v.implementation, "unknown");
        assert!(v.candidates.iter().all(|c| c.matched < c.compared));
        let v = s.score(&obs(&[("309.status", "refused")]));
        assert_eq!(v.implementation, "unknown");
    }

    #[test]
    fn shared_features_weigh_little() {
        let db = db();
        let s = Scorer::new(db.clone());
        assert!(s.weight(0, "309.status").unwrap() < 0.1);
        assert!((s.weight(0, "104.close_reason").unwrap() - 1.0).abs() < 1e-9);
        // Only the shared feature observed: no verdict.
        let v = s.score(&obs(&[("309.status", "101")]));
        assert_eq!(v.implementation, "unknown");
    }
}
