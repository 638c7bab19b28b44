//! wsfp: WebSocket fingerprinting.
//!
//! The modules follow the data: `target` → `net` → `probe` (driving the
//! sans-I/O `wire` core) → `fingerprint` → `output`.

pub mod wire;
