//! Probes: what to send (data, in `spec`), how to turn it into bytes
//! (`build`), how to run it on a connection (`runner`) and what was seen
//! (`observation`, with what the target itself chose normalised out by
//! `normalise`).

pub mod build;
pub mod normalise;
pub mod observation;
pub mod runner;
pub mod spec;

pub use observation::{End, FrameObs, Observation, Outcome};
pub use spec::{Layer, Probe, ProbeSet, Risk};
