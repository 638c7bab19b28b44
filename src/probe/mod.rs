//! Probes: what to send (data, in `spec`), how to turn it into bytes
//! (`build`), how to run it on a connection (`runner`) and what was seen
//! (`observation`, with what the target itself chose normalised out by
//! `normalise`).

// No panics by construction: what a peer, a capture or an input file sends
// must not be able to reach an unwrap, an index or a slice that panics
// (issue #15). Tests may still unwrap.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::string_slice
    )
)]

pub mod build;
pub mod normalise;
pub mod observation;
pub mod runner;
pub mod spec;

pub use observation::{End, FrameObs, Observation, Outcome, end_feature};
pub use spec::{Layer, Probe, ProbeSet, Risk};
