//! What a running survey tells its operator, on stderr and never in the
//! data: an indicatif bar on a terminal (done/total, rate, ETA), periodic
//! NDJSON stats lines for `--stats FILE`, and the closing summary.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// Running counts of a survey.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub records: u64,
    pub by_status: BTreeMap<String, u64>,
    pub by_implementation: BTreeMap<String, u64>,
    pub target_down: u64,
}

impl Tally {
    pub fn add(&mut self, r: &super::Record) {
        self.records += 1;
        bump(&mut self.by_status, r.status.as_str());
        if r.target_down_after.is_some() {
            self.target_down += 1;
        }
        if r.status == super::Status::Ok {
            bump(&mut self.by_implementation, r.implementation());
        }
    }

    /// One line for stderr at the end.
    pub fn summary(&self, elapsed: Duration, connections: u64) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let status: Vec<String> = self
            .by_status
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let mut s = format!(
            "{} records in {:.1} s ({:.0}/s), {} connections ({:.0}/s); {}",
            self.records,
            secs,
            self.records as f64 / secs,
            connections,
            connections as f64 / secs,
            status.join(", ")
        );
        if self.target_down > 0 {
            s += &format!("; target_down {}", self.target_down);
        }
        if !self.by_implementation.is_empty() {
            let mut imps: Vec<(&String, &u64)> = self.by_implementation.iter().collect();
            imps.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let ok = self.by_status.get("ok").copied().unwrap_or(0).max(1);
            let list: Vec<String> = imps
                .iter()
                .take(12)
                .map(|(k, v)| format!("{k} {v} ({:.0}%)", **v as f64 * 100.0 / ok as f64))
                .collect();
            s += &format!("\nprevalence among ok: {}", list.join(", "));
        }
        s
    }
}

/// Count one more `key`, allocating the key only the first time (this
/// runs once per record).
fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

/// One `--stats` line.
#[derive(Debug, Serialize)]
pub struct StatsLine<'a> {
    pub ts: f64,
    pub elapsed_s: f64,
    pub done: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    pub targets_in_flight: usize,
    pub connections_in_flight: usize,
    pub connections: u64,
    /// New connections per second over the last interval.
    pub connection_rate: f64,
    /// Records per second over the last interval.
    pub record_rate: f64,
    pub status: &'a BTreeMap<String, u64>,
    /// Units the default blocklist cut so far, per rule (absent: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_excluded: Option<BTreeMap<String, u64>>,
    #[serde(rename = "final")]
    pub last: bool,
}

/// Progress bar plus stats writer.
pub struct Progress {
    bar: ProgressBar,
    stats: Option<Box<dyn Write + Send>>,
    total: Total,
    started: Instant,
    last: (Instant, u64, u64),
    cuts: Option<(Arc<crate::target::CutTally>, Arc<crate::target::Blocklist>)>,
}

const BAR_TEMPLATE: &str = "{elapsed_precise} [{bar:30}] {pos}/{len} {rate} ETA {eta} {msg}";
const SPINNER_TEMPLATE: &str = "{elapsed_precise} {spinner} {pos} targets {rate} {msg}";

/// `{rate}`: targets per second, in units and without indicatif's four
/// decimals (`1,237.2535/s`): `1,237 targets/s`, `8.5 targets/s`.
fn rate(state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write) {
    let r = state.per_sec();
    let _ = if !r.is_finite() {
        write!(w, "- targets/s")
    } else if r < 10.0 {
        write!(w, "{r:.1} targets/s")
    } else {
        write!(w, "{} targets/s", thousands(r.round() as u64))
    };
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn style(template: &str) -> Option<ProgressStyle> {
    ProgressStyle::with_template(template)
        .ok()
        .map(|s| s.with_key("rate", rate))
}

/// The number of targets, which may become known after the scan started
/// (a second pass over the target file counts them while the first is
/// scanned). Setting it turns the spinner into a bar with an ETA; the
/// stats lines carry it from then on.
#[derive(Clone)]
pub struct Total {
    bar: ProgressBar,
    value: Arc<OnceLock<u64>>,
}

impl Total {
    pub fn set(&self, total: u64) {
        if self.value.set(total).is_ok() && !self.bar.is_hidden() {
            self.bar.set_length(total);
            if let Some(style) = style(BAR_TEMPLATE) {
                self.bar.set_style(style.progress_chars("=> "));
            }
        }
    }

    pub fn get(&self) -> Option<u64> {
        self.value.get().copied()
    }
}

impl Progress {
    /// `show`: draw a bar (a terminal, and not `--silent`). `total`, when
    /// already known; otherwise see [`Progress::total`].
    pub fn new(show: bool, total: Option<u64>, stats: Option<Box<dyn Write + Send>>) -> Self {
        let bar = if show {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Some(style) = style(SPINNER_TEMPLATE) {
                b.set_style(style);
            }
            b
        } else {
            ProgressBar::hidden()
        };
        let now = Instant::now();
        let p = Progress {
            total: Total {
                bar: bar.clone(),
                value: Arc::default(),
            },
            bar,
            stats,
            started: now,
            last: (now, 0, 0),
            cuts: None,
        };
        if let Some(t) = total {
            p.total.set(t);
        }
        p
    }

    /// Where the default blocklist's cuts are counted, for the stats lines.
    pub fn set_cuts(
        &mut self,
        cuts: Arc<crate::target::CutTally>,
        bl: Arc<crate::target::Blocklist>,
    ) {
        self.cuts = Some((cuts, bl));
    }

    /// Whether anything shows progress (a bar or stats lines): if not,
    /// the total need not be counted.
    pub fn wants_total(&self) -> bool {
        self.visible() || self.stats.is_some()
    }

    /// Whether a bar is drawn.
    pub fn visible(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// A handle to set the total from another task.
    pub fn total(&self) -> Total {
        self.total.clone()
    }

    pub fn inc(&self) {
        self.bar.inc(1);
    }

    pub fn message(&self, m: String) {
        self.bar.set_message(m);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Run `f` (which writes to the terminal) with the bar off the screen,
    /// then draw it again: records printed to a terminal the bar shares
    /// would otherwise land after the bar's line and leave it behind.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.bar.is_hidden() {
            f()
        } else {
            self.bar.suspend(f)
        }
    }

    /// Print a line above the bar (or plainly when there is none).
    pub fn println(&self, line: &str) {
        if self.bar.is_hidden() {
            crate::stderr!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Write one stats line (when `--stats` was given).
    pub fn stats(
        &mut self,
        tally: &Tally,
        targets_in_flight: usize,
        connections_in_flight: usize,
        connections: u64,
        last: bool,
    ) -> std::io::Result<()> {
        let Some(out) = self.stats.as_mut() else {
            return Ok(());
        };
        let now = Instant::now();
        let dt = now.duration_since(self.last.0).as_secs_f64().max(1e-9);
        let line = StatsLine {
            ts: super::record::now_unix(),
            elapsed_s: (now - self.started).as_secs_f64(),
            done: tally.records,
            total: self.total.get(),
            targets_in_flight,
            connections_in_flight,
            connections,
            connection_rate: (connections - self.last.2) as f64 / dt,
            record_rate: (tally.records - self.last.1) as f64 / dt,
            status: &tally.by_status,
            default_excluded: self
                .cuts
                .as_ref()
                .map(|(c, bl)| c.get().by_text(bl))
                .filter(|m| !m.is_empty()),
            last,
        };
        let mut bytes = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        out.write_all(&bytes)?;
        out.flush()?;
        self.last = (now, tally.records, connections);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn rates_group_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1237), "1,237");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
