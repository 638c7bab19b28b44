//! Calibrating a named verdict's confidence.
//!
//! The scorer's closed-world posterior assumes the server is one of the
//! DB's fingerprints. A survey meets releases, apps and implementations
//! the DB was not built from, and a scan of a few probes can match the
//! nearest fingerprint perfectly for want of evidence that would tell
//! them apart (on the safe probe set, a held-out nodejs-websocket matched
//! tokio-websockets on all 11 units of discriminating weight it compared).
//! The confidence a record reports is therefore the posterior discounted
//! by the evidence that matched, `closed · (1 − e^(−matched_w / W))`, and
//! by [`DISAGREE`] when the head and the frames alone name different
//! libraries. `W` is fitted by `lab/calibrate.py` on held-out evaluation
//! (`wsfp evaluate --holdout version,app,config,pair,implementation
//! --dump`, with every probe, `--safety safe` and `--adaptive`): the
//! log-loss minimum, raised if needed until verdicts of confidence ≥ 0.9
//! are ≥ 98% right.

use super::score::Basis;

/// Discriminating weight at which the evidence factor is 1 − 1/e. Fitted
/// on 1887 held-out verdicts of the lab corpus (400 scans); see the
/// module doc.
pub const W: f64 = 3.25;

/// Factor for a verdict whose layers disagree (no known proxy, yet the
/// head and the frames name different libraries): something the DB does
/// not know is probably in the way.
pub const DISAGREE: f64 = 0.8;

/// The calibrated confidence of a named verdict.
pub fn confidence(b: &Basis) -> f64 {
    let c = b.closed * (1.0 - (-b.matched_w.max(0.0) / W).exp());
    if b.layers_disagree { c * DISAGREE } else { c }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basis(closed: f64, matched_w: f64) -> Basis {
        Basis {
            score: 1.0,
            closed,
            compared_w: matched_w,
            matched_w,
            library_gap: 10.0,
            layers_disagree: false,
        }
    }

    #[test]
    fn little_evidence_is_never_confident() {
        // A perfect match on a few units of weight (a short scan).
        assert!(confidence(&basis(1.0, 5.0)) < 0.8);
        // A full scan's evidence keeps the posterior.
        assert!(confidence(&basis(0.99, 100.0)) > 0.98);
        // More evidence, more confidence; a disagreement lowers it.
        assert!(confidence(&basis(1.0, 8.0)) < confidence(&basis(1.0, 9.0)));
        let mut b = basis(1.0, 100.0);
        b.layers_disagree = true;
        assert!(confidence(&b) < 0.9);
    }
}
