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
//!
//! A fit that missed some of what it compared is discounted too, by
//! `e^(−K · (1 − score) · min(1, C / compared_w))` ([`MISFIT`],
//! [`MISFIT_SCALE`]): the nearest fingerprint of an implementation the DB
//! lacks usually fits all but a feature or two, and on a short scan (the
//! safe set compares about 20 units of weight) that is all the evidence
//! there is against it. Held out (session 10, 653 scans), a held-out
//! nodejs-websocket matched tokio-websockets on everything the safe set
//! compared but the close reason, at 0.955. The discount took the
//! confidently wrong verdicts (≥ 0.9) of the safe set from 40 to 10, of
//! every probe and of adaptive runs from 2 to 0, and kept 70-88% of the
//! confidently right ones (a full scan compares over 100 units, so its
//! rare misfits cost it less).

use super::score::Basis;

/// Discriminating weight at which the evidence factor is 1 − 1/e. Fitted
/// on 1887 held-out verdicts of the lab corpus (400 scans); see the
/// module doc.
pub const W: f64 = 3.25;

/// Factor for a verdict whose layers disagree (no known proxy, yet the
/// head and the frames name different libraries): something the DB does
/// not know is probably in the way.
pub const DISAGREE: f64 = 0.8;

/// How strongly a misfit (the share of compared weight that did not
/// match) lowers the confidence; see the module doc.
pub const MISFIT: f64 = 2.0;

/// Compared weight up to which a misfit counts in full; past it, by
/// `MISFIT_SCALE / compared_w`.
pub const MISFIT_SCALE: f64 = 30.0;

/// The calibrated confidence of a named verdict.
pub fn confidence(b: &Basis) -> f64 {
    let c = b.closed * (1.0 - (-b.matched_w.max(0.0) / W).exp());
    let misfit = (1.0 - b.score).clamp(0.0, 1.0);
    let scale = (MISFIT_SCALE / b.compared_w).min(1.0);
    let c = c * (-MISFIT * misfit * scale).exp();
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

    #[test]
    fn a_short_scan_that_misfits_is_not_confident() {
        // The held-out nodejs-websocket named tokio-websockets on the safe
        // set: 0.75 of 18.5 units of weight did not match.
        let mut b = basis(0.959, 17.74);
        b.compared_w = 18.48;
        b.score = 0.96;
        assert!(confidence(&b) < 0.9, "{}", confidence(&b));
        // The same share missed on a full scan's evidence costs less.
        let mut full = basis(0.999, 144.0);
        full.compared_w = 150.0;
        full.score = 0.96;
        assert!(confidence(&full) > 0.95, "{}", confidence(&full));
    }
}
