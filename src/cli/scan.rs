//! `wsfp scan`: from one URL to an internet-wide survey. Wires the target
//! source (streamed, sharded, shuffled), the scan-wide limits, the
//! resolver and exclusions into the survey loop, and the output.
//!
//! Bad `-u` values and options are usage errors (exit 2); a bad line in a
//! target file becomes an `invalid_target` record and the scan goes on.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use clap::Args;
use sha1::{Digest, Sha1};

use super::{DbOpts, ProbeOpts, usage, value};
use crate::net::{Limits, Proxy, Resolver};
use crate::output::manifest::{MANIFEST_VERSION, ShardManifest, db_version, hex};
use crate::output::progress::Progress;
use crate::output::{Format, RecordWriter};
use crate::scan::interrupt::Interrupt;
use crate::scan::resume::{
    Checkpointer, STATE_VERSION, Skip, State, Tail, content_hash, read_tail, recover,
};
use crate::scan::survey::{self, SurveyOptions};
use crate::target::source::count_units;
use crate::target::spec::{parse_paths, parse_ports};
use crate::target::{Blocklist, Exclusions, Expand, Item, Plan, Shard, Source, Space, Unit};

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Target: URL, host[:port][/path], IP, CIDR or range (repeatable).
    #[arg(short = 'u', long = "url", value_name = "TARGET")]
    pub urls: Vec<String>,
    /// File of targets, one per line ('-' for stdin; '#' comments). Lines
    /// take the forms of -u, or zgrab's CSV `ip,domain,tag,port,path`.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Ports for targets that name none (bare hosts, IPs, CIDRs): 80,8000-8010.
    #[arg(short = 'p', long = "ports", value_name = "PORTS")]
    pub ports: Option<String>,
    /// Paths for targets that name none: a file (one per line) or /,/ws,...
    #[arg(long = "paths", value_name = "FILE|LIST")]
    pub paths: Option<String>,
    /// Never connect here: CIDR, address, range, or a file of those (repeatable).
    #[arg(long = "exclude", value_name = "CIDR|FILE")]
    pub exclude: Vec<String>,
    /// Turn off the default blocklist (IANA special-purpose and reserved
    /// ranges cut from CIDR and range expansions; see --list-excluded).
    #[arg(long)]
    pub no_default_exclude: bool,
    /// Print the effective exclusions (the default blocklist with each
    /// rule's name and RFC, then the --exclude entries) and exit.
    #[arg(long)]
    pub list_excluded: bool,
    /// Print the targets this scan would scan, one per line, in its order
    /// (after the blocklist's cuts; no connection, no DNS) and exit.
    #[arg(long)]
    pub list_targets: bool,
    /// Every connection through this proxy: socks5://[user:pass@]host:port
    /// (socks5h:// is the same) or http://[user:pass@]host:port (CONNECT).
    /// A target given as a name is resolved by the proxy, not here, so
    /// --exclude cannot check its address.
    #[arg(long, value_name = "URL", value_parser = value::proxy())]
    pub proxy: Option<crate::net::ProxyUrl>,
    /// DNS server ip[:port] (default: the system's).
    #[arg(long, value_name = "IP[:PORT]")]
    pub resolver: Option<String>,
    /// DNS lookup timeout, ms (1 to 3600000).
    #[arg(long, default_value_t = 3000, value_name = "MS", allow_negative_numbers = true,
          value_parser = value::millis(1))]
    pub dns_timeout: u64,
    #[command(flatten)]
    pub probes: ProbeOpts,
    #[command(flatten)]
    pub db: DbOpts,
    /// Handshake only: does the target answer 101? (one connection each)
    #[arg(long)]
    pub discover: bool,
    /// Say why each verdict and not the runner-up: every feature that
    /// separated the two (the record's `why`; the text view shows the
    /// three that counted most without this flag).
    #[arg(long)]
    pub explain: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write only these records (repeatable, or comma-separated):
    /// `identified` (ok, implementation named), `unknown` (ok,
    /// implementation unknown), or a status (ok, refused, timeout, ...).
    /// The summary still counts every record; --resume every target.
    #[arg(long, value_name = "WHICH", value_delimiter = ',', value_parser = value::only())]
    pub only: Vec<crate::output::Only>,
    /// Write records here instead of stdout.
    #[arg(long, value_name = "FILE", value_parser = value::out_path())]
    pub out: Option<PathBuf>,
    /// Connections in flight, scan-wide (also caps targets in flight); 1 to
    /// 100000, and within the open-file limit (`ulimit -n`).
    #[arg(long, default_value_t = 64, value_name = "N", allow_negative_numbers = true,
          value_parser = value::int::<usize>(1, value::MAX_CONNECTIONS, ""))]
    pub concurrency: usize,
    /// New connections per second, scan-wide, 1 to 10000000 (default:
    /// unlimited).
    #[arg(long, value_name = "PER_SECOND", allow_negative_numbers = true,
          value_parser = value::int::<u32>(1, 10_000_000, " per second"))]
    pub rate: Option<u32>,
    /// Extra attempts when a target's first connection fails to connect: a
    /// connect that timed out or was reset (0 to 10). A refused port is an
    /// answer and is not retried (see --retry-refused).
    #[arg(long, default_value_t = 1, value_name = "N", allow_negative_numbers = true,
          value_parser = value::int::<u32>(0, 10, ""))]
    pub retries: u32,
    /// Retry refused connections too (a firewall that answers some SYNs
    /// with an RST at random; off by default, as in masscan and zgrab2).
    #[arg(long)]
    pub retry_refused: bool,
    /// Total time for one target, all probes included, ms (1 to 3600000).
    #[arg(long, default_value_t = 60_000, value_name = "MS", allow_negative_numbers = true,
          value_parser = value::millis(1))]
    pub target_timeout: u64,
    /// Seed of the target order (default: random; kept in --resume state).
    #[arg(long, allow_negative_numbers = true,
          value_parser = value::int::<u64>(0, u64::MAX, ""))]
    pub seed: Option<u64>,
    /// This process's slice: i/N (0-based), or N with JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Targets shuffled together from a file (1 = file order; up to
    /// 1000000, each held in memory).
    #[arg(long, default_value_t = 10_000, value_name = "N", allow_negative_numbers = true,
          value_parser = value::int::<usize>(1, 1_000_000, ""))]
    pub window: usize,
    /// Checkpoint file: continue an interrupted scan (needs --out, ndjson).
    #[arg(long, value_name = "STATE", value_parser = value::out_path())]
    pub resume: Option<PathBuf>,
    /// Write this shard's manifest here at the end (seed, shard, input
    /// hash, DB version, records) so a merge can check the shards belong
    /// together (`wsfp report --manifests`).
    #[arg(long, value_name = "FILE", value_parser = value::out_path())]
    pub manifest: Option<PathBuf>,
    /// Write NDJSON progress stats here every --stats-interval.
    #[arg(long, value_name = "FILE", value_parser = value::out_path())]
    pub stats: Option<PathBuf>,
    /// Seconds between stats lines (0.1 to 86400).
    #[arg(long, default_value_t = 1.0, value_name = "S", allow_hyphen_values = true,
          value_parser = value::number(0.1, value::DAY_S, " s"))]
    pub stats_interval: f64,
    /// No progress bar and no summary on stderr.
    #[arg(long)]
    pub silent: bool,
    /// Print the probes this scan would run (id, series, risk, layer) and exit.
    #[arg(long)]
    pub list_probes: bool,
    /// Print each target's fingerprint instead of naming it (STEWS's
    /// -g/--generate-fingerprint): the target is scanned as `wsfp generate
    /// -u` scans it (every probe, or the named series; twice, keeping what
    /// both runs showed) and its fingerprint TOML goes to stdout (or --out),
    /// one document per target, each after a `# Fingerprint of TARGET`
    /// line. Its id and name are made up from the address: edit them, then
    /// load it with --db +FILE.
    #[arg(short = 'g', long, conflicts_with_all = ["discover", "resume", "adaptive"])]
    pub generate_fingerprint: bool,
}

fn input_reader(path: &PathBuf) -> Result<Box<dyn BufRead + Send>, Box<dyn std::error::Error>> {
    Ok(Box::new(BufReader::with_capacity(
        1 << 16,
        raw_input(path)?,
    )))
}

fn raw_input(path: &PathBuf) -> Result<Box<dyn Read + Send>, Box<dyn std::error::Error>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdin()));
    }
    let f = std::fs::File::open(path)
        .map_err(|e| usage(format!("cannot read target file {}: {e}", path.display())))?;
    Ok(Box::new(f))
}

/// Hashes the input bytes as the source reads them (stdin included), for
/// the shard manifest's `input_hash`.
struct Hashing<R> {
    inner: R,
    hash: Arc<Mutex<Sha1>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.lock().expect("hash lock").update(&buf[..n]);
        Ok(n)
    }
}

/// What every shard of one survey shares, hashed: options that shape the
/// targets, the `-u` values, then (streamed in) the target file's bytes.
fn input_hasher(a: &ScanArgs) -> Sha1 {
    let mut h = Sha1::new();
    for part in [&a.ports, &a.paths] {
        h.update(part.as_deref().unwrap_or("").as_bytes());
        h.update([0]);
    }
    h.update((a.window as u64).to_le_bytes());
    h.update([u8::from(a.probes.plain)]);
    // The default blocklist decides which units exist: a change to it (or
    // turning it off) is another input.
    if !a.no_default_exclude {
        h.update(b"blocklist\n");
        h.update(crate::target::blocklist::BUILTIN.as_bytes());
    }
    for u in &a.urls {
        h.update(u.as_bytes());
        h.update(b"\n");
    }
    h.update(b"--\n");
    h
}

/// What decides the unit order besides the file's content (which the
/// state holds apart, see [`file_hash`]); a resumed scan must match it:
/// what shapes the targets ([`input_hasher`]), the seed and the shard.
fn config_hash(a: &ScanArgs, seed: u64, shard: Shard) -> String {
    let mut h = input_hasher(a);
    h.update(seed.to_le_bytes());
    h.update(shard.index.to_le_bytes());
    h.update(shard.count.to_le_bytes());
    hex(&h.finalize())
}

/// The target file's content hash (of nothing without a file), read on a
/// blocking thread in bounded memory.
async fn file_hash(a: &ScanArgs) -> Result<String, Box<dyn std::error::Error>> {
    let file = a.file.clone();
    let hash = tokio::task::spawn_blocking(move || match &file {
        None => content_hash(std::io::empty()).map_err(|e| e.to_string()),
        Some(p) => std::fs::File::open(p)
            .and_then(content_hash)
            .map_err(|e| format!("cannot read target file {}: {e}", p.display())),
    })
    .await?;
    hash.map_err(usage)
}

/// The command line as typed, quoted for a POSIX shell: what continues an
/// interrupted scan (the state supplies the seed).
fn shell_line() -> String {
    let quote = |s: String| {
        let plain = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b));
        if plain {
            s
        } else {
            format!("'{}'", s.replace('\'', "'\\''"))
        }
    };
    std::env::args_os()
        .map(|a| quote(a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn run(a: ScanArgs) -> Result<i32, Box<dyn std::error::Error>> {
    if a.list_probes {
        return super::probes::run(super::probes::ProbesArgs {
            probes: a.probes,
            long: false,
            format: super::probes::ProbesFormat::Text,
        });
    }
    let mut exclusions = Exclusions::default();
    for e in &a.exclude {
        exclusions.add_arg(e).map_err(usage)?;
    }
    let blocklist = (!a.no_default_exclude).then(|| Arc::new(Blocklist::builtin()));
    if a.list_excluded {
        list_excluded(blocklist.as_deref(), &exclusions)?;
        return Ok(0);
    }
    if a.urls.is_empty() && a.file.is_none() {
        return Err(usage("no targets: give -u TARGET or -f FILE"));
    }
    if a.generate_fingerprint {
        return generate_fingerprints(&a).await;
    }
    let expand = Expand {
        ports: Arc::from(match &a.ports {
            Some(p) => parse_ports(p).map_err(|e| usage(format!("-p {p:?}: {e}")))?,
            None => Vec::new(),
        }),
        paths: Arc::from(match &a.paths {
            Some(p) => parse_paths(p).map_err(usage)?,
            None => Vec::new(),
        }),
        plain: a.probes.plain,
        blocklist: blocklist.clone(),
    };
    // -u values are checked up front: a typo on the command line is a
    // usage error, not a record.
    for u in &a.urls {
        Space::parse(u, &expand).map_err(|e| usage(format!("invalid target {u:?}: {e}")))?;
    }
    let shard = match &a.shard {
        Some(s) => {
            Shard::parse(s, std::env::var("JOB_COMPLETION_INDEX").ok().as_deref()).map_err(usage)?
        }
        None => Shard::default(),
    };
    let resolver_addr = match &a.resolver {
        Some(r) => Some(Resolver::parse_server(r).map_err(usage)?),
        None => None,
    };

    let plan_of = |seed| Plan {
        expand: expand.clone(),
        seed,
        shard,
        window: a.window.max(1),
    };
    if a.list_targets {
        // (Run on this thread: nothing else runs beside it.)
        return list_targets(
            plan_of(a.seed.unwrap_or_else(random_seed)),
            a.urls.clone(),
            a.file.clone(),
            a.out.clone(),
            &exclusions,
            blocklist.as_deref(),
            a.silent,
        );
    }

    // From here on a signal stops the scan cleanly (flush, checkpoint,
    // summary) rather than killing it, also during the slow start-up.
    let interrupt = Interrupt::install()?;

    // Resume: the state decides the seed; the output is appended to.
    let mut seed = a.seed.unwrap_or_else(random_seed);
    let mut skip = Skip::default();
    let mut resumed: Option<State> = None;
    // Units of the tail's records, for the ledger; the input's unit count.
    let (mut recovered, mut units) = (Vec::new(), None);
    let mut input_hash = String::new();
    if let Some(state_path) = &a.resume {
        let Some(out) = &a.out else {
            return Err(usage("--resume needs --out FILE"));
        };
        if a.format != Format::Ndjson {
            return Err(usage("--resume needs --format ndjson"));
        }
        if a.file.as_ref().is_some_and(|f| f.as_os_str() == "-") {
            return Err(usage(
                "--resume needs a target file, not stdin: a resume reads it again \
                 to check it is unchanged",
            ));
        }
        input_hash = file_hash(&a).await?;
        if let Some(st) = State::load(state_path).map_err(usage)? {
            let here = state_path.display();
            if a.seed.is_some_and(|s| s != st.seed) {
                return Err(usage(format!(
                    "--seed {} differs from the seed {} in {here}",
                    a.seed.unwrap_or(0),
                    st.seed,
                )));
            }
            seed = st.seed;
            if st.config != config_hash(&a, seed, shard) {
                return Err(usage(format!(
                    "{here}: the targets, ports, paths, shard, window or default blocklist differ from the \
                     interrupted scan; resume with the same options",
                )));
            }
            if st.input != input_hash {
                return Err(usage(format!(
                    "{here}: the target file {} changed since the interrupted scan (its \
                     content hash differs), so the state's unit numbers no longer name \
                     the same targets; restore the file, or start a new scan",
                    a.file
                        .as_deref()
                        .unwrap_or(std::path::Path::new(""))
                        .display()
                )));
            }
            if st.finished {
                if !a.silent {
                    crate::stderr!(
                        "wsfp: {here} says this scan finished ({} records); nothing to do",
                        st.records
                    );
                }
                return Ok(0);
            }
            // Read the tail, then walk the input once to give its records
            // their units and check the ledger fits the input; only then
            // touch the output (cut a torn last line).
            let tail = read_tail(out, &st).map_err(usage)?;
            let (plan, urls, file, state) =
                (plan_of(seed), a.urls.clone(), a.file.clone(), st.clone());
            let (r, tail) = tokio::task::spawn_blocking(move || {
                let reader = match &file {
                    Some(p) => Some((
                        input_reader(p).map_err(|e| e.to_string())?,
                        p.display().to_string(),
                    )),
                    None => None,
                };
                let mut source = Source::new(plan, urls, reader);
                let r = recover(&state, &tail, source.by_ref())?;
                match source.error() {
                    Some(e) => Err(e.to_string()),
                    None => Ok::<_, String>((r, tail)),
                }
            })
            .await?
            .map_err(|e| usage(format!("{here}: {e}")))?;
            Tail::cut(&tail, out).map_err(usage)?;
            skip = r.skip;
            recovered = r.recovered;
            units = Some(r.units);
            resumed = Some(st);
        }
    }

    open_files(a.concurrency).map_err(usage)?;
    let mut scanner = a.probes.build_scanner(&a.db)?;
    scanner.connector.limits = Arc::new(Limits::new(a.concurrency.max(1), a.rate));
    if let Some(p) = &a.proxy {
        scanner.connector.proxy = Some(Arc::new(Proxy::resolve(p).await.map_err(usage)?));
    }
    scanner.resolver = Arc::new(Resolver::new(
        resolver_addr,
        a.concurrency.clamp(1, 256),
        Duration::from_millis(a.dns_timeout),
    ));
    scanner.exclusions = Arc::new(exclusions);
    scanner.discover = a.discover;
    scanner.explain = match (a.explain, a.format) {
        (true, _) => usize::MAX,
        (false, Format::Text) => 3,
        (false, _) => 0,
    };
    scanner.run.close_frame = !a.discover;
    scanner.connector.nodelay = !a.discover;
    scanner.retries = a.retries;
    scanner.retry_refused = a.retry_refused;
    scanner.target_timeout = Duration::from_millis(a.target_timeout.max(1));
    let scanner = Arc::new(scanner);

    // Output: a new file, or the interrupted one continued.
    let (out, out_file): (Box<dyn Write + Send>, Option<std::fs::File>) = match &a.out {
        Some(p) => {
            let f = if resumed.is_some() {
                std::fs::OpenOptions::new().append(true).open(p)
            } else {
                std::fs::File::create(p)
            }
            .map_err(|e| usage(format!("cannot write {}: {e}", p.display())))?;
            let handle = f.try_clone()?;
            (
                Box::new(std::io::BufWriter::with_capacity(1 << 16, f)),
                Some(handle),
            )
        }
        None => (
            Box::new(std::io::BufWriter::with_capacity(
                1 << 16,
                std::io::stdout(),
            )),
            None,
        ),
    };
    let mut writer = RecordWriter::new(out, a.format)?;
    writer.detail = a.urls.len() <= 3 && a.file.is_none();
    writer.only = a.only.clone();
    // A person watching a terminal sees each record as it completes; a
    // file or pipe gets them in batches (flushed every 200 ms).
    writer.flush_each = a.out.is_none() && std::io::stdout().is_terminal();

    let mut checkpointer = match (&a.resume, out_file) {
        (Some(path), Some(handle)) => {
            let state = resumed.clone().unwrap_or(State {
                version: STATE_VERSION,
                config: config_hash(&a, seed, shard),
                input: input_hash.clone(),
                seed,
                watermark: 0,
                done: Vec::new(),
                out_len: 0,
                records: 0,
                finished: false,
            });
            let mut c = Checkpointer::new(path.clone(), handle, state);
            // The tail's records enter the ledger before this checkpoint
            // moves past them.
            for seq in &recovered {
                c.mark(*seq);
            }
            c.save(&mut writer, false)?;
            Some(c)
        }
        _ => None,
    };

    let show_bar = !a.silent && std::io::stderr().is_terminal();
    let stats_out: Option<Box<dyn Write + Send>> = match &a.stats {
        Some(p) => Some(Box::new(std::fs::File::create(p).map_err(|e| {
            usage(format!("cannot write --stats {}: {e}", p.display()))
        })?)),
        None => None,
    };
    // Units already written (all runs), which this run skips.
    let skipped = checkpointer.as_ref().map_or(0, |c| c.state.records);
    let mut progress = Progress::new(
        show_bar,
        units.map(|n: u64| n.saturating_sub(skipped)),
        stats_out,
    );
    // The total for the bar and the stats lines: a second, cheap pass over
    // a regular file, on its own thread while the scan starts (the scan
    // does not wait for it), and only when something shows it.
    if progress.wants_total() && units.is_none() {
        let (expand, urls, file, total) = (
            expand.clone(),
            a.urls.clone(),
            a.file.clone(),
            progress.total(),
        );
        tokio::task::spawn_blocking(move || {
            let reader = match &file {
                // Standard input is read once, by the scan.
                Some(p) if p.as_os_str() == "-" => return,
                Some(p) => match input_reader(p) {
                    Ok(r) => Some(r),
                    Err(_) => return,
                },
                None => None,
            };
            total.set(count_units(&expand, &urls, reader, shard).saturating_sub(skipped));
        });
    }

    // The source runs on a blocking thread (file and stdin reads block)
    // and feeds a bounded channel: memory is the window plus the channel.
    let (tx, rx) = tokio::sync::mpsc::channel::<Unit>(1024);
    let plan = plan_of(seed);
    let hash = Arc::new(Mutex::new(input_hasher(&a)));
    let reader: Option<(Box<dyn BufRead + Send>, String)> = match &a.file {
        Some(p) => Some((
            Box::new(BufReader::with_capacity(
                1 << 16,
                Hashing {
                    inner: raw_input(p)?,
                    hash: hash.clone(),
                },
            )),
            p.display().to_string(),
        )),
        None => None,
    };
    let mut source = Source::new(plan, a.urls.clone(), reader);
    let cuts = source.cuts();
    if let Some(bl) = &blocklist {
        progress.set_cuts(cuts.clone(), bl.clone());
    }
    // The blocklist's line for the summary (counts of the whole input,
    // once the source has read it).
    let cut_line = || {
        blocklist
            .as_deref()
            .and_then(|bl| cuts.get().summary(bl))
            .map(|s| format!("\n{s}"))
            .unwrap_or_default()
    };
    let producer = tokio::task::spawn_blocking(move || {
        for unit in source.by_ref() {
            if !skip.is_empty() && skip.skips(unit.seq) {
                continue;
            }
            if tx.blocking_send(unit).is_err() {
                break;
            }
        }
        source.error().map(str::to_string)
    });

    let opts = SurveyOptions {
        targets_in_flight: a.concurrency.max(1),
        stats_interval: Duration::from_secs_f64(a.stats_interval),
        input_label: a
            .file
            .as_ref()
            .map_or("targets".into(), |p| p.display().to_string()),
        interrupt: Some(interrupt),
        records_on_terminal: show_bar && writer.flush_each,
        ..SurveyOptions::default()
    };
    let started = std::time::Instant::now();
    let started_unix = crate::output::record::now_unix();
    let ended = survey::run(
        scanner.clone(),
        rx,
        &mut writer,
        &mut progress,
        checkpointer.as_mut(),
        &opts,
    )
    .await?;
    let tally = ended.tally;
    progress.finish();
    let conns = scanner
        .connector
        .limits
        .attempts
        .load(std::sync::atomic::Ordering::Relaxed);
    if let Some(sig) = ended.stopped {
        // Output flushed and checkpointed: say what was done and how to
        // go on. No manifest: the shard is not complete. The source is
        // not waited for (it may be blocked reading stdin).
        if !a.silent {
            let mut line = format!(
                "wsfp: stopped by {}; {}{}",
                sig.name(),
                tally.summary(started.elapsed(), conns),
                cut_line()
            );
            if ended.cut > 0 {
                line += &format!(
                    "\n{} targets in flight were cut at the {} s grace (no record)",
                    ended.cut,
                    survey::STOP_GRACE.as_secs()
                );
            }
            if let (Some(c), Some(n)) = (&checkpointer, units) {
                line += &format!("\n{} of {n} units written in all runs", c.state.records);
            }
            crate::stderr!("{line}");
        }
        match &checkpointer {
            Some(_) => crate::stderr!("wsfp: to continue: {}", shell_line()),
            None => crate::stderr!(
                "wsfp: not resumable: only a scan run with --resume STATE \
                 (and --out FILE --format ndjson) can be continued"
            ),
        }
        return Ok(sig.exit_code());
    }
    let input_error = producer.await.ok().flatten();
    if let Some(path) = &a.manifest {
        let digest = hash.lock().expect("hash lock").clone().finalize();
        let m = ShardManifest {
            schema_version: MANIFEST_VERSION,
            wsfp_version: env!("CARGO_PKG_VERSION").to_string(),
            seed,
            shard_index: shard.index as u32,
            shard_count: shard.count as u32,
            input_hash: hex(&digest),
            db_version: db_version(scanner.scorer.db()),
            probe_set: scanner.probes.version.clone(),
            started: format!("{started_unix:.3}"),
            finished: format!("{:.3}", crate::output::record::now_unix()),
            records: checkpointer
                .as_ref()
                .map_or(tally.records, |c| c.state.records),
            default_exclude: blocklist.is_some(),
            default_excluded: blocklist
                .as_deref()
                .map(|bl| cuts.get().by_text(bl))
                .unwrap_or_default(),
        };
        m.write(path).map_err(|e| usage(e.to_string()))?;
    }
    if !a.silent {
        let mut line = format!(
            "wsfp: done; {}{}",
            tally.summary(started.elapsed(), conns),
            cut_line()
        );
        if !a.only.is_empty() {
            line += &format!(
                "\n{} of {} records written (--only)",
                tally.records - writer.skipped,
                tally.records
            );
        }
        if shard.count > 1 {
            line += &format!("\nshard {}/{} seed {seed}", shard.index, shard.count);
        }
        crate::stderr!("{line}");
    }
    if let Some(e) = input_error {
        crate::stderr!("wsfp: {e}; records for the targets read before it were written");
        return Ok(2);
    }
    Ok(0)
}

/// `-g`: each target of -u and -f (one URL or host[:port][/path] a line,
/// as STEWS takes them) scanned as `wsfp generate` scans, and its
/// fingerprint printed. A target that does not answer is said on stderr
/// and makes the exit code 1; the others are still printed.
async fn generate_fingerprints(a: &ScanArgs) -> Result<i32, Box<dyn std::error::Error>> {
    use crate::fingerprint::generate::{Meta, to_toml};
    let mut targets: Vec<String> = a.urls.clone();
    if let Some(path) = &a.file {
        let mut text = String::new();
        raw_input(path)?
            .read_to_string(&mut text)
            .map_err(|e| usage(format!("cannot read target file {}: {e}", path.display())))?;
        targets.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    // Checked up front, as a scan checks -u: one fingerprint is of one
    // endpoint, not of a range, a CIDR or a list of ports.
    let expand = Expand {
        ports: Arc::from(Vec::new()),
        paths: Arc::from(Vec::new()),
        plain: a.probes.plain,
        blocklist: None,
    };
    let mut parsed = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let place = match (&a.file, i.checked_sub(a.urls.len())) {
            (Some(f), Some(_)) => format!(" in {}", f.display()),
            _ => String::new(),
        };
        let space = Space::parse(t, &expand)
            .map_err(|e| usage(format!("-g: invalid target {t:?}{place}: {e}")))?;
        if space.len() != 1 {
            return Err(usage(format!(
                "-g: {t:?}{place} is {} targets: -g takes one URL or host[:port][/path] a target",
                space.len()
            )));
        }
        parsed.push(space.get(0));
    }
    let mut out: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(
            std::fs::File::create(p)
                .map_err(|e| usage(format!("cannot write {}: {e}", p.display())))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let mut failed = 0;
    for (t, target) in targets.iter().zip(&parsed) {
        let stable =
            match super::generate::stable_scan(&a.probes, target, a.proxy.as_ref(), 2).await {
                Ok(s) => s,
                Err(e) if e.is::<super::UsageError>() => return Err(e),
                Err(e) => {
                    crate::stderr!("wsfp: -g: {e}");
                    failed += 1;
                    continue;
                }
            };
        let id = made_up_id(target);
        let meta = Meta {
            id: id.clone(),
            name: t.clone(),
            library: id,
            language: "unknown".into(),
            date: super::generate::today(),
            probe_set: stable.scanner.probes.version.clone(),
            ..Meta::default()
        };
        writeln!(
            out,
            "# Fingerprint of {t} ({} features, {} unstable dropped over {} runs)",
            stable.features.len(),
            stable.dropped,
            stable.runs
        )?;
        out.write_all(to_toml(&meta, &stable.features).as_bytes())?;
        writeln!(out)?;
        out.flush()?;
    }
    Ok(i32::from(failed > 0))
}

/// A fingerprint id (a file name) for a target: `host-port`, every
/// character that is not a letter, digit, '.', '_' or '-' as '-'.
fn made_up_id(t: &crate::target::Target) -> String {
    format!("{}-{}", t.host, t.port)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

/// A seed for a scan given none: the clock and the process id, mixed.
fn random_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    crate::target::permute::mix(t ^ u64::from(std::process::id()))
}

/// `--list-excluded`: the default blocklist as its file has it (each rule
/// with its name and RFC), then the user's `--exclude` entries, each with
/// where it came from. The output is itself an `--exclude` file.
fn list_excluded(
    blocklist: Option<&Blocklist>,
    user: &Exclusions,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut out = std::io::stdout().lock();
    match blocklist {
        Some(bl) => {
            writeln!(
                out,
                "# default blocklist ({} rules, built in; --no-default-exclude turns it off): \
                 cut from CIDR and range expansions, unless the expansion lies wholly inside \
                 the rule",
                bl.rules().len()
            )?;
            let width = bl.rules().iter().map(|r| r.text.len()).max().unwrap_or(0);
            for r in bl.rules() {
                writeln!(out, "{:<width$}  # {}", r.text, r.name)?;
            }
        }
        None => writeln!(out, "# default blocklist: off (--no-default-exclude)")?,
    }
    if user.entries().is_empty() {
        writeln!(out, "# --exclude: none")?;
    } else {
        writeln!(
            out,
            "# --exclude ({} entries): never connected to, named or expanded",
            user.entries().len()
        )?;
        let width = user.entries().iter().map(|e| e.0.len()).max().unwrap_or(0);
        for (entry, from) in user.entries() {
            writeln!(out, "{entry:<width$}  # {from}")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `--list-targets`: every unit of the input, in the scan's order (seed,
/// shard, window), after the default blocklist's cuts, without a
/// connection or a DNS lookup; one target a line, so the output is a
/// target file. A unit that would get its record without being scanned
/// is a `#` comment line saying why: an invalid line, a line the
/// blocklist cut whole, an address `--exclude` names (a name is not
/// resolved, so its answers are not checked here).
fn list_targets(
    plan: Plan,
    urls: Vec<String>,
    file: Option<PathBuf>,
    out: Option<PathBuf>,
    exclusions: &Exclusions,
    blocklist: Option<&Blocklist>,
    silent: bool,
) -> Result<i32, Box<dyn std::error::Error>> {
    let reader = match &file {
        Some(p) => Some((input_reader(p)?, p.display().to_string())),
        None => None,
    };
    let mut w: Box<dyn Write> = match &out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p)
                .map_err(|e| usage(format!("cannot write {}: {e}", p.display())))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut source = Source::new(plan, urls, reader);
    let (mut targets, mut notes) = (0u64, 0u64);
    for unit in source.by_ref() {
        let at = unit.line.map(|l| format!("line {l}: ")).unwrap_or_default();
        match &unit.item {
            Item::Target(t) if t.addr.is_some_and(|ip| exclusions.contains(ip)) => {
                notes += 1;
                writeln!(w, "# excluded (--exclude): {at}{}", t.input)?;
            }
            Item::Target(t) => {
                targets += 1;
                writeln!(w, "{}", t.input)?;
            }
            Item::Excluded { text, message } => {
                notes += 1;
                writeln!(w, "# excluded: {at}{text}: {message}")?;
            }
            Item::Invalid { text, message } => {
                notes += 1;
                writeln!(w, "# invalid_target: {at}{text:?}: {message}")?;
            }
        }
    }
    w.flush()?;
    if !silent {
        let mut line = format!(
            "wsfp: {targets} targets listed, {notes} units that would be recorded unscanned"
        );
        if let Some(s) = blocklist.and_then(|bl| source.cuts().get().summary(bl)) {
            line += &format!("\n{s}");
        }
        crate::stderr!("{line}");
    }
    if let Some(e) = source.error() {
        crate::stderr!("wsfp: {e}");
        return Ok(2);
    }
    Ok(0)
}

/// Files a scan holds open besides its connections: stdio, the output,
/// stats and state files, the runtime's own descriptors, headroom.
const FILES_BESIDES_CONNECTIONS: u64 = 64;

/// Make room for `concurrency` connections (and as many DNS sockets, up
/// to the resolver's 256) within the open-file limit: raise the soft limit
/// toward the hard one if it is short, and refuse the scan if even that is
/// not enough. Past the limit every connect would fail with EMFILE and be
/// recorded as a target's error.
#[cfg(unix)]
fn open_files(concurrency: usize) -> Result<(), String> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let c = concurrency as u64;
    let needed = c + c.min(256) + FILES_BESIDES_CONNECTIONS;
    let have = getrlimit(Resource::Nofile);
    // `None` is "unlimited".
    let soft = have.current.unwrap_or(u64::MAX);
    if soft >= needed {
        return Ok(());
    }
    let raised = have.maximum.map_or(needed, |hard| hard.min(needed));
    if raised > soft {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(raised),
                maximum: have.maximum,
            },
        );
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if now >= needed {
        return Ok(());
    }
    let hard = match have.maximum {
        Some(h) if h == now => " (the hard limit)".to_string(),
        Some(h) => format!(" (hard limit {h})"),
        None => String::new(),
    };
    Err(format!(
        "--concurrency {concurrency} needs about {needed} open files, but the open-file \
         limit is {now}{hard}: raise it (ulimit -n) or lower --concurrency"
    ))
}

#[cfg(not(unix))]
fn open_files(_concurrency: usize) -> Result<(), String> {
    Ok(())
}
