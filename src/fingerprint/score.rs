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

use std::collections::BTreeMap;
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

/// Discrimination weights, computed once per DB.
#[derive(Debug, Clone)]
pub struct Scorer {
    db: Arc<Db>,
    /// Per fingerprint: key → weight.
    weights: Vec<BTreeMap<String, f64>>,
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
        let weights = fps
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
        Scorer { db, weights }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn score(&self, features: &BTreeMap<String, String>) -> Verdict {
        self.score_in(features, None, false)
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
        self.score_in(features, layer, true)
    }

    /// Score one layer's evidence only (handshake or frame), for targets
    /// behind a reverse proxy: the handshake is the proxy's, the frames
    /// after it the backend's.
    pub fn score_layer(&self, features: &BTreeMap<String, String>, layer: Layer) -> Verdict {
        self.score_in(features, Some(layer), false)
    }

    /// Both layers, when the handshake is a reverse proxy's (a fingerprint
    /// with handshake features only): `(front, backend)`.
    pub fn layers(&self, features: &BTreeMap<String, String>) -> Option<(Verdict, Verdict)> {
        let front = self.score_layer(features, Layer::Handshake);
        let back = self.score_layer(features, Layer::Frame);
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
        (known(&front) && proxy_front).then_some((front, back))
    }

    fn score_in(
        &self,
        features: &BTreeMap<String, String>,
        layer: Option<Layer>,
        only_observed: bool,
    ) -> Verdict {
        // Probes that ran: every connection probe yields `<id>.status`, a
        // URL probe `<id>.url_match`. Expectations of probes that did not
        // run are skipped; of probes that ran, a missing feature is a
        // mismatch (expected a close, got none).
        let ran: std::collections::BTreeSet<&str> = features
            .keys()
            .filter_map(|k| k.split_once('.').map(|(p, _)| p))
            .collect();
        let mut scored: Vec<(Candidate, f64, &str)> = self
            .db
            .fingerprints
            .iter()
            .zip(&self.weights)
            .map(|(fp, w)| {
                let (mut compared_w, mut matched_w) = (0.0, 0.0);
                let (mut compared, mut matched) = (0, 0);
                for (k, e) in &fp.features {
                    let probe = k.split_once('.').map_or(k.as_str(), |(p, _)| p);
                    if !ran.contains(probe)
                        || layer.is_some_and(|l| l != e.layer)
                        || (only_observed && !features.contains_key(k))
                    {
                        continue;
                    }
                    let wk = w[k];
                    compared += 1;
                    compared_w += wk;
                    if features.get(k).is_some_and(|obs| e.matcher.matches(obs)) {
                        matched += 1;
                        matched_w += wk;
                    }
                }
                let score = if compared_w >= MIN_EVIDENCE {
                    matched_w / compared_w
                } else {
                    0.0
                };
                // Log-likelihood: each mismatch of weight w costs w·ln(ε).
                // Without enough evidence a candidate is not in the running
                // at all (a proxy's handshake-only fingerprint, scored on
                // frames, must not tie with everything).
                let ll = if compared_w >= MIN_EVIDENCE {
                    (compared_w - matched_w) * MISMATCH_LN
                } else {
                    f64::NEG_INFINITY
                };
                let c = Candidate {
                    id: fp.id.clone(),
                    name: fp.name.clone(),
                    score: round3(score),
                    compared,
                    matched,
                };
                (c, ll, fp.library.as_str())
            })
            .collect();
        scored.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| b.0.score.total_cmp(&a.0.score))
                .then_with(|| a.0.id.cmp(&b.0.id))
        });
        let Some((best, best_ll, best_lib)) = scored.first().cloned() else {
            return Verdict::unknown();
        };
        if !best_ll.is_finite() {
            let mut v = Verdict::unknown();
            v.candidates = scored.into_iter().take(TOP_K).map(|(c, _, _)| c).collect();
            return v;
        }
        // Posterior over the DB with a uniform prior.
        let norm: f64 = scored.iter().map(|(_, ll, _)| (ll - best_ll).exp()).sum();
        let posterior = |ll: f64| (ll - best_ll).exp() / norm;
        // Candidates the evidence cannot tell from the best.
        let tied: Vec<&(Candidate, f64, &str)> = scored
            .iter()
            .take_while(|(_, ll, _)| best_ll - ll < TIE_LN)
            .collect();
        let (implementation, library, confidence) = if best.score < MIN_SCORE {
            ("unknown".to_string(), None, round3(1.0 - best.score))
        } else if tied.len() == 1 {
            (
                best.id.clone(),
                Some(best_lib.to_string()),
                round3(posterior(best_ll) * best.score),
            )
        } else if tied.iter().all(|(_, _, lib)| *lib == best_lib) {
            // Wire-identical implementations of one library (a framework
            // that adds nothing visible): name the library.
            let p: f64 = tied.iter().map(|(_, ll, _)| posterior(*ll)).sum();
            (
                best_lib.to_string(),
                Some(best_lib.to_string()),
                round3(p * best.score),
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
            candidates: scored.into_iter().take(TOP_K).map(|(c, _, _)| c).collect(),
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
        assert!(s.weights[0]["309.status"] < 0.1);
        assert!((s.weights[0]["104.close_reason"] - 1.0).abs() < 1e-9);
        // Only the shared feature observed: no verdict.
        let v = s.score(&obs(&[("309.status", "101")]));
        assert_eq!(v.implementation, "unknown");
    }
}
