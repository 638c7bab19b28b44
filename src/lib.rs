//! wsfp: WebSocket fingerprinting.
//!
//! The modules follow the data: `target` (what to scan) → `net`
//! (connect, TLS) → `probe` (probes as data, run over the sans-I/O `wire`
//! core) → `scan` (one target, end to end) → `fingerprint` (DB and
//! scoring) → `output` (one record per target). `cli` wires them into
//! subcommands; `demo` is an in-process farm of real servers.

// Standard error goes through `stderr!`, which cannot panic.
#![deny(clippy::print_stderr)]

/// `eprintln!` that never panics: a line to standard error, or nothing
/// when it cannot be written. `eprintln!` panics when stderr is a pipe
/// whose reader has gone (`wsfp scan ... 2>&1 | head -1`), which would
/// turn a finished scan into exit 101 after its records were written.
#[macro_export]
macro_rules! stderr {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

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
