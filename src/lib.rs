//! wsfp: WebSocket fingerprinting.
//!
//! The modules follow the data: `target` (what to scan) → `net`
//! (connect, TLS) → `probe` (probes as data, run over the sans-I/O `wire`
//! core) → `scan` (one target, end to end) → `fingerprint` (DB and
//! scoring) → `output` (one record per target). `cli` wires them into
//! subcommands; `demo` is an in-process farm of real servers.

pub mod analyze;
pub mod cli;
pub mod demo;
pub mod error;
pub mod fingerprint;
pub mod net;
pub mod output;
pub mod passive;
pub mod probe;
pub mod scan;
pub mod target;
pub mod wire;
