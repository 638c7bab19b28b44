//! Command line: one small file per subcommand; this file holds the
//! options they share. Exit codes: 0 success, 2 bad input (arguments,
//! files, DB), 1 other failures, 141 the reader of stdout went away
//! ([`EXIT_BROKEN_PIPE`]). Option values are checked as they are parsed
//! ([`value`]).

pub mod completions;
pub mod demo;
pub mod diff;
pub mod evaluate;
pub mod fingerprints;
pub mod generate;
pub mod holdout;
pub mod man;
pub mod pcap;
pub mod probes;
pub mod rematch;
pub mod report;
pub mod scan;
pub mod value;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::fingerprint::Db;
use crate::fingerprint::score::Scorer;
use crate::net::Connector;
use crate::probe::build::{ExtraHeaders, PayloadMode, default_user_agent};
use crate::probe::runner::RunConfig;
use crate::probe::{ProbeSet, Risk};
use crate::scan::Scanner;

#[derive(Debug, Parser)]
#[command(name = "wsfp", version, about = "WebSocket fingerprinting scanner")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fingerprint WebSocket servers (STEWS-compatible flags).
    Scan(scan::ScanArgs),
    /// Scan a known server and write its fingerprint file.
    Generate(generate::GenerateArgs),
    /// Start an in-process farm of real servers on loopback and scan it.
    Demo(demo::DemoArgs),
    /// List the probes (id, series, risk, layer, name).
    Probes(probes::ProbesArgs),
    /// List what the DB can name: implementations, versions, app protocols.
    Fingerprints(fingerprints::FingerprintsArgs),
    /// Re-score stored results under the current (or a given) DB.
    Match(rematch::MatchArgs),
    /// Confusion summary and leave-one-out check on labelled results.
    Evaluate(evaluate::EvaluateArgs),
    /// Prevalence tables (text, CSV, JSON, self-contained HTML) over results.
    Report(report::ReportArgs),
    /// What changed between two scans (exit 0 none, 1 changes, 2 trouble).
    Diff(diff::DiffArgs),
    /// Passive analysis of WebSocket traffic in pcap/pcapng captures.
    Pcap(pcap::PcapArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff), of wsfp or of one subcommand.
    Man(man::ManArgs),
}

/// A user error: printed as `wsfp: <message>`, exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub fn usage(msg: impl Into<String>) -> Box<dyn std::error::Error> {
    Box::new(UsageError(msg.into()))
}

/// Probe selection and behaviour, shared by `scan`, `generate` and `demo`.
#[derive(Debug, Args, Clone)]
pub struct ProbeOpts {
    /// Run every series, intrusive and heavy probes included (STEWS's
    /// -a/--all-tests). Without -a or a series flag only the safe probes
    /// run (see --safety).
    #[arg(short = 'a', long = "all", visible_alias = "all-tests")]
    pub all: bool,
    /// Series 100: opcodes.
    #[arg(short = '1', long = "series-100")]
    pub s1: bool,
    /// Series 200: RSV bits.
    #[arg(short = '2', long = "series-200")]
    pub s2: bool,
    /// Series 300: version headers and plain handshake.
    #[arg(short = '3', long = "series-300")]
    pub s3: bool,
    /// Series 400: extensions.
    #[arg(short = '4', long = "series-400")]
    pub s4: bool,
    /// Series 500: subprotocols.
    #[arg(short = '5', long = "series-500")]
    pub s5: bool,
    /// Series 600: long payloads.
    #[arg(short = '6', long = "series-600")]
    pub s6: bool,
    /// Series 700: old drafts and malformed requests.
    #[arg(short = '7', long = "series-700")]
    pub s7: bool,
    /// Series to run, comma-separated (e.g. 100,300; 1 to 65535).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true,
          value_parser = value::int::<u16>(1, 65_535, ""))]
    pub series: Vec<u16>,
    /// Highest probe risk to run: safe (well-formed traffic only),
    /// intrusive (malformed handshakes, protocol violations), heavy (long
    /// payloads). Default: safe, or heavy when series are named (-a, -1..-7,
    /// --series), as STEWS ran them.
    #[arg(long, value_enum)]
    pub safety: Option<Risk>,
    /// Adaptive probing: after the gate, run the most informative probes
    /// (of the selected set) a round at a time, and stop once confident.
    #[arg(long)]
    pub adaptive: bool,
    /// With --adaptive: 0 (cheapest) to 9 (most evidence before stopping).
    #[arg(long, default_value_t = 5, allow_negative_numbers = true,
          value_parser = value::int::<u8>(0, 9, ""))]
    pub intensity: u8,
    /// Also run probes marked `same_as` another (they split the lab's
    /// servers exactly as that one does; the full set skips them), and
    /// every rung of a probe ladder (the full set runs a ladder's middle
    /// rungs only when its two ends disagree).
    #[arg(long)]
    pub exhaustive: bool,
    /// Extra probe file(s): add probes, or replace those with the same id.
    #[arg(long = "probes", value_name = "FILE")]
    pub probe_files: Vec<PathBuf>,
    /// Long payloads (600 series): header and a short prefix, or all bytes.
    #[arg(long, value_enum, default_value_t = PayloadMode::Prefix)]
    pub payload_mode: PayloadMode,
    /// Plain ws:// for targets without a scheme (default is wss://), as
    /// STEWS's -n/--no-encryption.
    #[arg(short = 'n', long = "no-tls", visible_alias = "no-encryption")]
    pub plain: bool,
    /// Do not verify TLS certificates (STEWS's -k/--nocert).
    #[arg(short = 'k', long = "insecure", visible_alias = "nocert")]
    pub insecure: bool,
    /// Origin header for every probe (default http(s)://host[:port]).
    #[arg(short = 'o', long, value_parser = value::text())]
    pub origin: Option<String>,
    /// Extra request header NAME:VALUE (repeatable), sent with every probe
    /// built from the standard request, after its own headers. Probes with
    /// a verbatim request (700-705, 1100, 1101) send none, and a probe
    /// whose own edits name a header (1000 removes Host, 500 offers its
    /// own Sec-WebSocket-Protocol) keeps its own. A header the standard
    /// request has (Host, Upgrade, Connection, Sec-WebSocket-Version) gets
    /// this value in its place instead (the last -H of a name wins):
    /// -H 'Host: app.example' reaches a virtual host. -H 'Origin: V' is -o
    /// V; -H 'User-Agent: V' replaces --user-agent. Refused:
    /// Sec-WebSocket-Key, Sec-WebSocket-Extensions, CR, LF and NUL.
    #[arg(short = 'H', long = "header", value_name = "NAME:VALUE",
          value_parser = value::header())]
    pub headers: Vec<(String, String)>,
    /// Cookie header, sent after the -H headers on the same probes
    /// (repeatable: joined with "; " into one header; not with -H
    /// 'Cookie: ...').
    #[arg(long, value_name = "COOKIE", value_parser = value::header_value())]
    pub cookie: Vec<String>,
    /// User-Agent, sent last on the probes -H goes to ('' sends none).
    #[arg(long, value_name = "TEXT", default_value = default_user_agent(),
          value_parser = value::header_value())]
    pub user_agent: String,
    /// Connections in flight per target. (4: lab servers with four worker
    /// threads (CivetWeb, uWSGI) answer no more at once; beyond that their
    /// queued handshakes time out and the retries cost connections. On the
    /// lab, 4 scans as fast as 8 and 16.) 1 to 100000.
    #[arg(long, default_value_t = 4, value_name = "N", allow_negative_numbers = true,
          value_parser = value::int::<usize>(1, value::MAX_CONNECTIONS, ""))]
    pub per_host: usize,
    /// One connection per probe (no chaining of frame probes on a
    /// connection the previous probe left alive).
    #[arg(long)]
    pub no_chain: bool,
    /// Minimum gap between new connections to one target, ms (politeness;
    /// 0 to 3600000).
    #[arg(long, default_value_t = 0, value_name = "MS", allow_negative_numbers = true,
          value_parser = value::millis(0))]
    pub host_gap: u64,
    /// TCP connect (and TLS handshake) timeout, ms (1 to 3600000).
    #[arg(long, default_value_t = 3000, value_name = "MS", allow_negative_numbers = true,
          value_parser = value::millis(1))]
    pub connect_timeout: u64,
    /// Wait for the response head, and for each request or frame to be
    /// written (a long payload of --payload-mode full is cut there), ms (1
    /// to 3600000).
    #[arg(long, default_value_t = 3000, value_name = "MS", allow_negative_numbers = true,
          value_parser = value::millis(1))]
    pub handshake_timeout: u64,
    /// Wait for a reaction after a probe's frames (and for an error body), ms
    /// (1 to 3600000).
    #[arg(long, default_value_t = 500, value_name = "MS", allow_negative_numbers = true,
          value_parser = value::millis(1))]
    pub frame_timeout: u64,
    /// Trace the communication to stderr: each probe's summary and the
    /// bytes sent (`->`) and received (`<-`), as STEWS's -v/--verbose
    /// ("verbose tracing of communications").
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Trace each probe as it runs to stderr (what it got: status, frames,
    /// end), as STEWS's -d/--debug ("print each test case").
    #[arg(short = 'd', long)]
    pub debug: bool,
}

/// Fingerprint DB choice.
#[derive(Debug, Args, Clone)]
pub struct DbOpts {
    /// Fingerprint directory or file (default: the DB built into the
    /// binary). Repeatable: later ones add to the first, and a fingerprint
    /// with an id already loaded replaces it; `--db +DIR` (or `+FILE`)
    /// adds to the built-in DB instead of replacing it.
    #[arg(long, value_name = "DIR|+DIR")]
    pub db: Vec<std::ffi::OsString>,
}

impl DbOpts {
    /// The DB these options name (see [`Db::layered`]).
    pub fn load(&self, set: &ProbeSet) -> Result<Db, Box<dyn std::error::Error>> {
        Db::layered(&self.db, set).map_err(|e| usage(e.to_string()))
    }
}

impl ProbeOpts {
    /// The defaults, as if no flag was given.
    pub fn parse_default() -> ProbeOpts {
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            p: ProbeOpts,
        }
        Wrap::parse_from(["wsfp"]).p
    }

    pub fn probe_set(&self) -> Result<ProbeSet, Box<dyn std::error::Error>> {
        let mut set = ProbeSet::builtin();
        for f in &self.probe_files {
            set.merge(ProbeSet::load(f).map_err(|e| usage(e.to_string()))?);
        }
        Ok(set)
    }

    /// Series named by -1..-7 / --series (none for -a or no choice).
    pub fn named_series(&self) -> Vec<u16> {
        let mut series: Vec<u16> = self.series.clone();
        for (on, s) in [
            (self.s1, 100),
            (self.s2, 200),
            (self.s3, 300),
            (self.s4, 400),
            (self.s5, 500),
            (self.s6, 600),
            (self.s7, 700),
        ] {
            if on {
                series.push(s);
            }
        }
        series
    }

    /// Whether this is the full set, which may leave out probes whose
    /// evidence others already give (`same_as`, ladder middles), or a
    /// choice that runs everything chosen (`--exhaustive`, named series).
    fn full_set(&self) -> bool {
        !self.exhaustive && self.named_series().is_empty()
    }

    /// Ids of the probes selected by -a / -1..-7 / --series.
    pub fn selected(&self, set: &ProbeSet) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let series = self.named_series();
        let full = self.full_set();
        let named = self.all || !series.is_empty();
        let all = self.all || series.is_empty();
        let ceiling = self
            .safety
            .unwrap_or(if named { Risk::Heavy } else { Risk::Safe });
        let known: Vec<u16> = set.probes.iter().map(|p| p.series).collect();
        if let Some(bad) = series.iter().find(|s| !known.contains(s)) {
            return Err(usage(format!(
                "--series {bad}: no such series (known: {})",
                {
                    let mut k = known.clone();
                    k.sort();
                    k.dedup();
                    k.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
                }
            )));
        }
        Ok(set
            .probes
            .iter()
            .filter(|p| all || series.contains(&p.series))
            .filter(|p| p.risk <= ceiling)
            // Naming a series runs all of it; the full set leaves out
            // probes that only repeat another's evidence.
            .filter(|p| !full || p.same_as.is_none())
            .map(|p| p.id.clone())
            .collect())
    }

    pub fn run_config(&self) -> RunConfig {
        RunConfig {
            handshake_timeout: Duration::from_millis(self.handshake_timeout),
            frame_timeout: Duration::from_millis(self.frame_timeout),
            write_timeout: Duration::from_millis(self.handshake_timeout),
            payload_mode: self.payload_mode,
            trace: if self.verbose {
                2
            } else {
                u8::from(self.debug)
            },
            ..RunConfig::default()
        }
    }

    /// The headers for every probe built from the standard request, in
    /// the order sent (`-H` as given, then `Cookie` from `--cookie`, then
    /// `User-Agent`), and the Origin (`-o`, or `-H 'Origin: ...'`, which
    /// also goes into the `{origin}` of verbatim probes).
    pub fn extra_headers(
        &self,
    ) -> Result<(ExtraHeaders, Option<String>), Box<dyn std::error::Error>> {
        let named = |name: &str| {
            self.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        let cookies: Vec<&str> = self
            .cookie
            .iter()
            .map(String::as_str)
            .filter(|c| !c.is_empty())
            .collect();
        if !cookies.is_empty() && named("Cookie") {
            return Err(usage(
                "--cookie and -H 'Cookie: ...' both given: give the cookies once (one Cookie header)",
            ));
        }
        let mut origin = self.origin.clone();
        if named("Origin") && origin.is_some() {
            return Err(usage(
                "-o/--origin and -H 'Origin: ...' both given: give the Origin once",
            ));
        }
        let mut list = Vec::new();
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case("Origin") {
                origin = Some(v.clone());
            } else {
                list.push((n.clone(), v.clone()));
            }
        }
        if !cookies.is_empty() {
            list.push(("Cookie".to_string(), cookies.join("; ")));
        }
        if !self.user_agent.is_empty() && !named("User-Agent") {
            list.push(("User-Agent".to_string(), self.user_agent.clone()));
        }
        let headers = ExtraHeaders::new(list).map_err(|e| usage(format!("-H: {e}")))?;
        Ok((headers, origin))
    }

    /// A scanner for these options and DB.
    pub fn scanner(&self, db: &DbOpts) -> Result<Arc<Scanner>, Box<dyn std::error::Error>> {
        self.build_scanner(db).map(Arc::new)
    }

    /// [`ProbeOpts::scanner`], before it is shared (callers add limits).
    pub fn build_scanner(&self, db: &DbOpts) -> Result<Scanner, Box<dyn std::error::Error>> {
        let set = self.probe_set()?;
        let db = db.load(&set)?;
        self.build_scanner_with(set, db)
    }

    /// [`ProbeOpts::build_scanner`] with the probe set and DB given.
    pub fn build_scanner_with(
        &self,
        set: ProbeSet,
        db: Db,
    ) -> Result<Scanner, Box<dyn std::error::Error>> {
        let selected = self.selected(&set)?;
        let connector = Connector::new(self.insecure, Duration::from_millis(self.connect_timeout))?;
        let mut s = Scanner::new(
            set,
            selected,
            connector,
            self.run_config(),
            Scorer::new(Arc::new(db)),
        );
        s.per_host = self.per_host.max(1);
        s.host_gap = Duration::from_millis(self.host_gap);
        let (headers, origin) = self.extra_headers()?;
        s.headers = Arc::new(headers);
        s.origin = origin;
        s.chain = !self.no_chain;
        s.ladders = self.full_set();
        if self.adaptive {
            let probes: Vec<&crate::probe::Probe> = s
                .selected
                .iter()
                .filter(|id| id.as_str() != crate::scan::GATE_PROBE)
                .filter_map(|id| s.probes.get(id))
                .collect();
            let planner = crate::fingerprint::adaptive::Planner::new(s.scorer.db(), &probes);
            s.adaptive = Some((
                crate::fingerprint::adaptive::Budget::intensity(self.intensity),
                Arc::new(planner),
            ));
        }
        Ok(s)
    }
}

/// STEWS is run without a subcommand (`STEWS-fingerprint.py -n -a -u
/// HOST`): a command line whose first argument is an option, other than
/// help and version, is a `scan` (`wsfp -n -a -u HOST`).
pub fn stews_args(mut args: Vec<OsString>) -> Vec<OsString> {
    let first = args.get(1).map(|a| a.to_string_lossy());
    let option = first.is_some_and(|a| {
        a.starts_with('-') && a != "-" && !matches!(&*a, "-h" | "--help" | "-V" | "--version")
    });
    if option {
        args.insert(1, OsString::from("scan"));
    }
    args
}

/// Run the CLI; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse_from(stews_args(std::env::args_os().collect()));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            crate::stderr!("wsfp: cannot start the runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Scan(a) => scan::run(a).await,
            Command::Generate(a) => generate::run(a).await,
            Command::Demo(a) => demo::run(a).await,
            Command::Probes(a) => probes::run(a),
            Command::Fingerprints(a) => fingerprints::run(a),
            Command::Match(a) => rematch::run(a),
            Command::Evaluate(a) => evaluate::run(a),
            Command::Report(a) => report::run(a),
            Command::Diff(a) => diff::run(a),
            Command::Pcap(a) => pcap::run(a),
            Command::Completions(a) => completions::run(a),
            Command::Man(a) => man::run(a),
        }
    });
    // Blocking threads still running are not waited for: a scan stopped
    // by a signal leaves its target source blocked reading stdin, perhaps.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(code) => code,
        Err(e) if broken_pipe(e.as_ref()) => EXIT_BROKEN_PIPE,
        Err(e) => {
            crate::stderr!("wsfp: {e}");
            if e.is::<UsageError>() { 2 } else { 1 }
        }
    }
}

/// The exit code when the reader of stdout went away (`wsfp ... | head`):
/// quiet, and 141 (128 + SIGPIPE), what a shell reports for a writer the
/// signal ended, not 0, which for `diff` would say "no change" of output
/// that was cut short. (Rust ignores SIGPIPE, so the write fails with
/// EPIPE instead; every stdout write returns that error up to here.)
pub const EXIT_BROKEN_PIPE: i32 = 141;

/// Whether `e`, or an error under it, is a write to a closed pipe.
fn broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    let mut cur = Some(e);
    while let Some(e) = cur {
        let kind = if let Some(io) = e.downcast_ref::<std::io::Error>() {
            Some(io.kind())
        } else if let Some(j) = e.downcast_ref::<serde_json::Error>() {
            j.io_error_kind()
        } else if let Some(c) = e.downcast_ref::<csv::Error>() {
            match c.kind() {
                csv::ErrorKind::Io(io) => Some(io.kind()),
                _ => None,
            }
        } else {
            None
        };
        if kind == Some(BrokenPipe) {
            return true;
        }
        cur = e.source();
    }
    false
}
