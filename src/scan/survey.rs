//! Many targets: units stream in from the target source, at most
//! `targets_in_flight` are scanned at once (each under the scan-wide
//! connection limits of [`crate::net::Limits`]), and records stream out
//! as they complete: one per unit, whatever happened to it.
//!
//! Around the loop, on a timer: flush the output, write a `--stats` line,
//! and checkpoint for `--resume` (only after the output is durable).
//!
//! On SIGINT or SIGTERM ([`Interrupt`]) no new unit is admitted; those in
//! flight finish within their own deadline or are cut at [`STOP_GRACE`].
//! A cut unit gets no record and stays out of the ledger, so a resume
//! scans it again; then the output is flushed and checkpointed as at the
//! end.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::Scanner;
use super::interrupt::{Interrupt, Signal};
use super::resume::Checkpointer;
use crate::output::progress::{Progress, Tally};
use crate::output::{Record, RecordWriter, Status};
use crate::target::{Item, Unit};

pub struct SurveyOptions {
    pub targets_in_flight: usize,
    pub flush_interval: Duration,
    pub stats_interval: Duration,
    pub checkpoint_interval: Duration,
    /// Name of the target file, for warnings about its bad lines.
    pub input_label: String,
    /// Stop early on a signal (none: run to the end of the input).
    pub interrupt: Option<Interrupt>,
    /// Records go to the terminal the progress bar is drawn on: each is
    /// written and flushed with the bar suspended.
    pub records_on_terminal: bool,
}

/// How long units in flight may go on after a stop signal: long enough
/// for most to finish and keep their record, short enough to wait for.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// How a survey ended.
#[derive(Debug, Default)]
pub struct Ended {
    pub tally: Tally,
    /// Stopped by this signal before the end of the input.
    pub stopped: Option<Signal>,
    /// Units in flight cut at the grace (no record written).
    pub cut: u64,
}

/// Bad lines named on stderr before the rest are only counted.
const MAX_WARNINGS: u64 = 20;

impl Default for SurveyOptions {
    fn default() -> Self {
        SurveyOptions {
            targets_in_flight: 64,
            flush_interval: Duration::from_millis(200),
            stats_interval: Duration::from_secs(1),
            checkpoint_interval: Duration::from_secs(1),
            input_label: "targets".into(),
            interrupt: None,
            records_on_terminal: false,
        }
    }
}

/// The record of one unit; never fails (a panic in a scan becomes an
/// `error` record).
pub async fn scan_unit(scanner: Arc<Scanner>, unit: Unit) -> Record {
    let version = scanner.probes.version.clone();
    let mut r = match unit.item {
        Item::Target(t) => {
            // A panic in one target's scan becomes that target's record.
            // Caught here rather than by a task of its own: a spawn per
            // target copied the scan's whole future once more.
            use futures_util::FutureExt;
            match std::panic::AssertUnwindSafe(scanner.scan(&t))
                .catch_unwind()
                .await
            {
                Ok(r) => r,
                Err(p) => {
                    let what = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "panic".into());
                    Record::failed(
                        &t.input,
                        Status::Error,
                        format!("internal error: panic: {what}"),
                        &version,
                    )
                }
            }
        }
        Item::Invalid { text, message } => {
            Record::failed(&text, Status::InvalidTarget, message, &version)
        }
        Item::Excluded { text, message } => {
            Record::failed(&text, Status::Excluded, message, &version)
        }
    };
    r.line = unit.line;
    r.tag = unit.tag;
    r
}

/// Run the survey to the end of `units`, or until a stop signal. Returns
/// the tally; an error is an output error (a full disk), after which
/// nothing more is written.
pub async fn run(
    scanner: Arc<Scanner>,
    mut units: mpsc::Receiver<Unit>,
    writer: &mut RecordWriter,
    progress: &mut Progress,
    mut checkpoint: Option<&mut Checkpointer>,
    opts: &SurveyOptions,
) -> std::io::Result<Ended> {
    let limits = scanner.connector.limits.clone();
    let mut tally = Tally::default();
    let mut set: JoinSet<(u64, Record)> = JoinSet::new();
    let limit = opts.targets_in_flight.max(1);
    let mut input_done = false;
    let mut tick = tokio::time::interval(opts.flush_interval.min(opts.stats_interval));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let now = Instant::now();
    let (mut last_flush, mut last_stats, mut last_ck) = (now, now, now);
    let mut dirty = false;
    let mut invalid = 0u64;
    // Records that named an implementation, shown on the bar.
    let mut hits = 0u64;
    let mut interrupt = opts.interrupt.clone().unwrap_or_else(Interrupt::never);
    let (mut stopped, mut grace, mut cut) = (None, None, 0u64);
    loop {
        if (input_done || stopped.is_some()) && set.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            sig = interrupt.wait(), if stopped.is_none() => {
                stopped = Some(sig);
                grace = Some(tokio::time::Instant::now() + STOP_GRACE);
                progress.println(&format!(
                    "wsfp: {}: stopping; no new targets, {} in flight get up to {} s \
                     (send it again to exit at once)",
                    sig.name(),
                    set.len(),
                    STOP_GRACE.as_secs()
                ));
            }
            _ = tokio::time::sleep_until(grace.unwrap_or_else(tokio::time::Instant::now)),
                if grace.is_some() =>
            {
                // Their joins below come back cancelled (or done, if they
                // finished meanwhile: those keep their record).
                grace = None;
                set.abort_all();
            }
            Some(done) = set.join_next(), if !set.is_empty() => {
                let (seq, rec) = match done {
                    Ok(x) => x,
                    Err(e) if e.is_cancelled() => {
                        cut += 1;
                        continue;
                    }
                    Err(e) => return Err(std::io::Error::other(format!("scan task: {e}"))),
                };
                if opts.records_on_terminal {
                    // Each record whole on the screen, the bar below it.
                    progress.suspend(|| writer.write(&rec).and_then(|()| writer.flush()))?;
                } else {
                    writer.write(&rec)?;
                }
                tally.add(&rec);
                if rec.status == Status::Ok
                    && rec.implementation.as_deref().is_some_and(|i| i != "unknown")
                {
                    hits += 1;
                    // (No string per record for a bar nobody sees.)
                    if progress.visible() {
                        progress.message(format!("{hits} identified"));
                    }
                }
                if rec.status == Status::InvalidTarget {
                    invalid += 1;
                    if invalid <= MAX_WARNINGS {
                        let at = rec.line.map(|l| format!("{}:{l}: ", opts.input_label)).unwrap_or_default();
                        progress.println(&format!(
                            "wsfp: {at}invalid target {:?}: {}",
                            rec.target,
                            rec.error.as_deref().unwrap_or("")
                        ));
                    }
                }
                if let Some(c) = checkpoint.as_deref_mut() {
                    c.mark(seq);
                }
                progress.inc();
                dirty = true;
            }
            u = units.recv(), if !input_done && stopped.is_none() && set.len() < limit => match u {
                Some(u) => {
                    let s = scanner.clone();
                    set.spawn(async move {
                        let seq = u.seq;
                        (seq, scan_unit(s, u).await)
                    });
                }
                None => input_done = true,
            },
            _ = tick.tick() => {
                let now = Instant::now();
                if dirty && now - last_flush >= opts.flush_interval {
                    writer.flush()?;
                    last_flush = now;
                    dirty = false;
                }
                if let Some(c) = checkpoint.as_deref_mut()
                    && now - last_ck >= opts.checkpoint_interval
                {
                    c.save(writer, false)?;
                    last_ck = now;
                }
                if now - last_stats >= opts.stats_interval {
                    progress.stats(
                        &tally,
                        set.len(),
                        limits.in_flight(),
                        limits.attempts.load(Ordering::Relaxed),
                        false,
                    )?;
                    last_stats = now;
                }
            }
        }
    }
    // A signal that came when every unit was already in and none was
    // cut stopped nothing: the scan is complete.
    let stopped = stopped.filter(|_| !(input_done && cut == 0));
    writer.flush()?;
    if invalid > MAX_WARNINGS {
        progress.println(&format!(
            "wsfp: {} more invalid lines (see the invalid_target records)",
            invalid - MAX_WARNINGS
        ));
    }
    if let Some(c) = checkpoint {
        c.save(writer, stopped.is_none())?;
    }
    if stopped.is_none() {
        // Every input unit has its record now: if the counting pass has
        // not finished, this is the total.
        progress.total().set(tally.records);
    }
    progress.stats(
        &tally,
        0,
        limits.in_flight(),
        limits.attempts.load(Ordering::Relaxed),
        true,
    )?;
    Ok(Ended {
        tally,
        stopped,
        cut,
    })
}
