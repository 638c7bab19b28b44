//! Scanning one target: resolve, gate on a standard handshake, run the
//! selected probes concurrently under a per-host cap, then match.
//!
//! The gate is probe 309 (a plain handshake): a target that is refused,
//! times out or does not answer 101 gets its status from it and costs one
//! connection, not fifty.

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

pub mod interrupt;
pub mod ladder;
pub mod resume;
pub mod survey;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::fingerprint::adaptive::{Budget, Planner};
use crate::fingerprint::score::{MemoKey, Scorer};
use crate::net::{Connector, Dest, Pacer, Resolver};
use crate::output::{Record, SCHEMA_VERSION, Status};
use crate::probe::build::{ExtraHeaders, PayloadCache, TargetCtx};
use crate::probe::observation::for_each_feature;
use crate::probe::runner::{
    Endpoint, ProbeQueue, ProbeRun, RunConfig, chainable, run_chain, run_probe, terminal,
};
use crate::probe::{End, Observation, Outcome, Probe, ProbeSet};
use crate::target::{Exclusions, Target};

thread_local! {
    /// The verdict memo's key for a discovery record, reused per thread.
    static FEATURE_KEY: std::cell::RefCell<MemoKey> = std::cell::RefCell::default();
}

/// The probe used as the gate, also recorded as an observation.
pub const GATE_PROBE: &str = "309";

/// How long past the deadline the scan waits for probes in flight to
/// return. Their waits all end at the deadline (see [`RunConfig::deadline`]),
/// so they return at once; this only bounds a probe that would not, and
/// keeps the target within its deadline plus a blink.
const DEADLINE_GRACE: Duration = Duration::from_millis(50);

pub struct Scanner {
    pub probes: ProbeSet,
    /// Ids of the probes to run (besides the gate).
    pub selected: Vec<String>,
    pub connector: Connector,
    pub run: RunConfig,
    pub payloads: Arc<PayloadCache>,
    pub per_host: usize,
    /// Minimum time between two new connections to one target.
    pub host_gap: Duration,
    pub origin: Option<String>,
    /// Headers added to every probe built from the standard request
    /// (`-H`, `--cookie`, `--user-agent`; none by default here, the CLI
    /// adds its User-Agent).
    pub headers: Arc<ExtraHeaders>,
    pub scorer: Scorer,
    pub resolver: Arc<Resolver>,
    /// Never connected to, also when a name resolves into them.
    pub exclusions: Arc<Exclusions>,
    /// `--discover`: the gate handshake only (does it answer 101?).
    pub discover: bool,
    /// Write in each record this many features that separated its verdict
    /// from the runner-up (`why`; 0: none).
    pub explain: usize,
    /// Extra attempts for a gate connection that failed to connect.
    pub retries: u32,
    /// Retry a refused gate connection too (`--retry-refused`). Off by
    /// default: an RST is the port's answer, not a lost packet, and
    /// retrying it made a sparse survey 18 times slower.
    pub retry_refused: bool,
    /// Total time one target may take, all probes included.
    pub target_timeout: Duration,
    /// Run chainable probes one after another on shared connections.
    pub chain: bool,
    /// Run the ends of each probe ladder first and its middle only when
    /// they disagree (see [`ladder`]); off for `--exhaustive`.
    pub ladders: bool,
    /// `--adaptive`: after the gate, run the planner's most informative
    /// probes a round at a time until the verdict is confident.
    pub adaptive: Option<(Budget, Arc<Planner>)>,
}

impl Scanner {
    pub fn new(
        probes: ProbeSet,
        selected: Vec<String>,
        connector: Connector,
        run: RunConfig,
        scorer: Scorer,
    ) -> Self {
        Scanner {
            probes,
            selected,
            connector,
            run,
            payloads: Arc::new(PayloadCache::default()),
            per_host: 4,
            host_gap: Duration::ZERO,
            origin: None,
            headers: ExtraHeaders::none(),
            scorer,
            resolver: Arc::new(Resolver::new(None, 64, Duration::from_secs(5))),
            exclusions: Arc::new(Exclusions::default()),
            discover: false,
            explain: 0,
            retries: 0,
            retry_refused: false,
            target_timeout: Duration::from_secs(120),
            chain: true,
            ladders: true,
            adaptive: None,
        }
    }

    /// Scan one target and return its record. Never fails: every problem
    /// becomes a status.
    pub async fn scan(self: &Arc<Self>, target: &Target) -> Record {
        let started = Instant::now();
        let ts = crate::output::record::now_unix();
        let ctx = TargetCtx::new(
            &target.host,
            target.port,
            &target.path,
            target.tls,
            self.origin.as_deref(),
        )
        .with_headers(self.headers.clone());
        let mut rec = Record::failed(&target.input, Status::Error, "", &self.probes.version);
        rec.error = None;
        rec.ts = ts;
        rec.url = Some(ctx.url());
        // One deadline for all of this target, from its start: the lookup,
        // connects, retries and their sleeps, every probe's waits and the
        // still-up check end by it, and nothing starts after it.
        let deadline = tokio::time::Instant::from_std(started) + self.target_timeout;
        // `--host-gap` spaces every connection to this target: the gate and
        // its retries, the probes, the still-up check.
        let run = RunConfig {
            deadline: Some(deadline),
            pacer: (!self.host_gap.is_zero()).then(|| Arc::new(Pacer::new(self.host_gap))),
            ..self.run.clone()
        };
        // Through a proxy, a name goes to the proxy as it is (remote DNS:
        // the proxy resolves it), so neither the lookup nor --exclude sees
        // its address; an address target is checked as on a direct scan.
        let dest = match (target.addr, &self.connector.proxy) {
            (None, Some(_)) => Dest::Name(target.host.clone(), target.port),
            _ => {
                let ips = match target.addr {
                    Some(ip) => Some(Ok(vec![ip])),
                    // Boxed: most targets are addresses, and a lookup's future is big.
                    None => Box::pin(self.resolver.resolve(&target.host, deadline)).await,
                };
                let Some(ips) = ips else {
                    rec.status = Status::TargetTimeout;
                    rec.error = Some(
                        self.cut_note(&format!("before the DNS lookup of {} ended", target.host)),
                    );
                    rec.elapsed_ms = started.elapsed().as_millis() as u64;
                    return rec;
                };
                let ip = match ips {
                    Ok(ips) => match ips.iter().find(|ip| !self.exclusions.contains(**ip)) {
                        Some(ip) => *ip,
                        None => {
                            // The resolver answers at least one address (or an error).
                            match ips.first() {
                                Some(first) => {
                                    rec.status = Status::Excluded;
                                    rec.ip = Some(first.to_string());
                                    rec.error = Some(format!("{first} is excluded (--exclude)"));
                                }
                                None => {
                                    rec.status = Status::DnsError;
                                    rec.error = Some(format!("no address for {}", target.host));
                                }
                            }
                            rec.elapsed_ms = started.elapsed().as_millis() as u64;
                            return rec;
                        }
                    },
                    Err(e) => {
                        rec.status = Status::DnsError;
                        rec.error = Some(e);
                        rec.elapsed_ms = started.elapsed().as_millis() as u64;
                        return rec;
                    }
                };
                rec.ip = Some(ip.to_string());
                Dest::Addr(SocketAddr::new(ip, target.port))
            }
        };
        rec.proxy = self.connector.proxy.as_ref().map(|p| p.shown().to_string());
        let ep = Arc::new(Endpoint {
            dest,
            tls_name: target.tls.then(|| target.host.clone()),
            ctx,
            tls_facts: Default::default(),
        });

        let default_gate;
        let gate = match self.probes.get(GATE_PROBE) {
            Some(p) => p,
            None => match ProbeSet::builtin().get(GATE_PROBE) {
                Some(p) => {
                    default_gate = p.clone();
                    &default_gate
                }
                // Cannot happen: the built-in set has the gate (tested).
                None => {
                    rec.error = Some(format!("no gate probe {GATE_PROBE}"));
                    rec.elapsed_ms = started.elapsed().as_millis() as u64;
                    return rec;
                }
            },
        };
        let mut gate_started = Instant::now();
        let mut attempt = 0;
        // Retries the deadline left no time for.
        let mut retries_cut = 0;
        let g = loop {
            // The probe's waits end by the deadline; the timeout only
            // guards against one that would not.
            let gate_run = run_probe(gate, &ep, &self.connector, &run, &self.payloads);
            let g = match tokio::time::timeout_at(deadline + DEADLINE_GRACE, gate_run).await {
                Ok(g) if !cut_short(&g, &run) => g,
                cut => {
                    if let Ok(g) = &cut {
                        rec.add_costs(g);
                    }
                    rec.tls = ep.tls_facts.get().cloned();
                    rec.status = Status::TargetTimeout;
                    rec.error = Some(self.cut_note("during the gate handshake"));
                    rec.observations
                        .insert(gate.id.clone(), self.deadline_skip(true));
                    rec.elapsed_ms = started.elapsed().as_millis() as u64;
                    return rec;
                }
            };
            // Connection failures (not answers) are retried with jittered
            // backoff: a lost SYN or a full accept queue is not a verdict.
            // A refused port (an RST) is an answer, as for masscan and
            // zgrab2: retried only with --retry-refused.
            let refused = g.observation.outcome == Outcome::Refused;
            if g.connected || attempt >= self.retries || (refused && !self.retry_refused) {
                break g;
            }
            let base = 100u64 << (attempt + 1).min(6);
            let jitter = crate::target::permute::mix(
                started.elapsed().as_nanos() as u64 ^ u64::from(attempt + 1),
            ) % base;
            let wake = tokio::time::Instant::now() + Duration::from_millis(base / 2 + jitter);
            if wake >= deadline {
                // No attempt could start after this sleep: the last answer
                // stands, and the record says the rest were not made.
                retries_cut = self.retries - attempt;
                break g;
            }
            rec.add_costs(&g);
            attempt += 1;
            tokio::time::sleep_until(wake).await;
            gate_started = Instant::now();
        };
        let gate_time = gate_started.elapsed();
        rec.add_costs(&g);
        // The gate made the target's first connections: a handshake that
        // succeeded was one of them (what probes see later is not kept).
        rec.tls = ep.tls_facts.get().cloned();
        let go = g.observation;
        rec.http_status = go.status;
        let status = gate_status(&go);
        rec.status = status;
        if status != Status::Ok {
            rec.error = go.error.clone().or_else(|| {
                (status == Status::NotWebsocket).then(|| match go.status {
                    Some(s) => format!("HTTP {s} to a WebSocket handshake"),
                    None => "not an HTTP response".to_string(),
                })
            });
            if retries_cut > 0 {
                let note = self.cut_note(&format!(
                    "with {retries_cut} of {} retries not made",
                    self.retries
                ));
                rec.error = Some(match rec.error.take() {
                    Some(e) => format!("{e}; {note}"),
                    None => note,
                });
            }
            rec.observations.insert(gate.id.clone(), go);
            rec.elapsed_ms = started.elapsed().as_millis() as u64;
            return rec;
        }
        rec.observations.insert(gate.id.clone(), go);
        if self.discover {
            // Scored through the memo without building the feature map,
            // unless this set of gate features is new.
            let verdicts = FEATURE_KEY.with_borrow_mut(|key| {
                key.clear();
                for_each_observed_feature(&self.probes, &rec.observations, |p, name, value| {
                    key.push(&p.id, name, value)
                });
                self.scorer
                    .verdicts_keyed(key, || self.features(&rec.observations))
            });
            rec.set_verdicts(verdicts);
            self.name_app_protocol(&mut rec);
            rec.elapsed_ms = started.elapsed().as_millis() as u64;
            return rec;
        }
        // Everything after the gate lives in its own future, boxed: the
        // many targets that end at the gate (every discovery, every failed
        // target) then carry and move a smaller future (5.1 -> 4.0 KiB).
        Box::pin(self.after_gate(rec, ep, gate, gate_time, run, started)).await
    }

    /// Adaptive rounds, or every selected probe, after a gate that upgraded.
    /// `base`: the scan's run configuration with this target's deadline.
    async fn after_gate(
        self: &Arc<Self>,
        mut rec: Record,
        ep: Arc<Endpoint>,
        gate: &Probe,
        gate_time: Duration,
        base: RunConfig,
        started: Instant,
    ) -> Record {
        if let Some((budget, planner)) = &self.adaptive {
            self.adaptive_rounds(&mut rec, &ep, *budget, planner, &Arc::new(base))
                .await;
            let features = self.features(&rec.observations);
            rec.rescore(&self.scorer, &features);
            rec.explain(&self.scorer, &features, self.explain);
            self.name_app_protocol(&mut rec);
            rec.schema_version = SCHEMA_VERSION;
            rec.elapsed_ms = started.elapsed().as_millis() as u64;
            return rec;
        }
        // `scan` always sets the deadline; without one, the target's time
        // would start now.
        let deadline = base
            .deadline
            .unwrap_or_else(|| tokio::time::Instant::now() + self.target_timeout);

        // The rest, slowest first (silence-bound probes), under the cap.
        // Indices into the shared probe set: tasks borrow the probes
        // through the scanner's Arc instead of cloning them per target.
        let all = &self.probes.probes;
        let mut todo: Vec<usize> = all
            .iter()
            .enumerate()
            .filter(|(_, p)| p.id != gate.id && self.selected.contains(&p.id))
            .map(|(i, _)| i)
            .collect();
        todo.sort_by_key(|&i| all.get(i).map(expected_cost));
        // Every probe meant to run: those the deadline leaves without an
        // observation are listed as skipped at the end.
        let wanted = todo.clone();
        // A server that answered the gate in t needs far less than the
        // full handshake timeout to answer a probe; silence beyond
        // frame_timeout + 10 t is the server waiting for more (the signal
        // of a hixie-76 server, for one), not a slow network.
        let mut run = base.clone();
        run.handshake_timeout = run
            .handshake_timeout
            .min(run.frame_timeout + gate_time * 10)
            .max(run.frame_timeout);
        let run = Arc::new(run);
        let sem = Arc::new(Semaphore::new(self.per_host.max(1)));
        // Chainable probes (standard handshake, frames that end on a
        // message boundary) share connections: one that a probe leaves
        // alive (the server answered our liveness ping) carries the next.
        // The rest get a connection each, as their requests differ.
        // Close probes end the connection they run on: each lane runs them
        // last, on whatever connection its other probes leave alive.
        let (terminals, todo): (Vec<usize>, Vec<usize>) = todo
            .into_iter()
            .partition(|&i| self.chain && all.get(i).is_some_and(|p| terminal(p, &run)));
        let (mut chained, mut single): (Vec<usize>, Vec<usize>) = todo
            .into_iter()
            .partition(|&i| self.chain && all.get(i).is_some_and(|p| chainable(p, &run)));
        // Safe probes first: they leave a connection alive, so the hosts
        // carry them before the intrusive ones, which often
        // end it, and those then come when the queue is nearly empty and
        // a chain they end needs no new connection.
        chained.sort_by_key(|&i| {
            all.get(i)
                .is_none_or(|p| p.risk != crate::probe::Risk::Safe)
        });
        let mut ladders = if self.ladders {
            ladder::Ladders::withhold(all, &mut single)
        } else {
            ladder::Ladders::default()
        };
        // Chains are dealt, not raced for: the probes are split into one
        // lane per connection slot, singles and chainable probes dealt
        // round-robin in the order above, and each lane runs its own list
        // in order. Its handshake probes host its chainable ones, and what
        // they leave opens fresh connections at the end of the lane. So
        // which connection a chained probe rides (its `via`, and the
        // response head it records) depends only on what the server did,
        // never on which task was quicker: the same server gives the same
        // record every run. Connection slots stay at `per_host`.
        // Probes that wait out a silence are in no lane: each runs on its
        // own connection as a slot frees (first, as they are slowest), so
        // two of them never queue in one lane and the others' lanes go on
        // meanwhile. Their connection hosts nothing, which keeps the
        // lanes' chains the same whatever order the slots free up in.
        let (loners, single): (Vec<usize>, Vec<usize>) = single
            .into_iter()
            .partition(|&i| all.get(i).is_some_and(|p| expected_cost(p) == 0));
        let lanes = self
            .per_host
            .max(1)
            .min(single.len() + chained.len() + terminals.len())
            .max(1);
        let mut plan: Vec<(Vec<usize>, VecDeque<usize>)> = vec![Default::default(); lanes];
        for (k, i) in single.into_iter().enumerate() {
            if let Some(l) = plan.get_mut(k % lanes) {
                l.0.push(i);
            }
        }
        // The close probes are dealt on from where the chainable ones
        // stopped, so the lanes with the shorter chain (more hosts left
        // over at their end) get the first. A lane's close probes come
        // after all its chainable ones: the first rides the last
        // connection left alive (or a handshake probe's, when the chain is
        // done before the lane's hosts are), and ends it.
        for (k, i) in chained.into_iter().chain(terminals).enumerate() {
            if let Some(l) = plan.get_mut(k % lanes) {
                l.1.push_back(i);
            }
        }
        let mut set = JoinSet::new();
        let spawn = |set: &mut JoinSet<Vec<ProbeRun>>,
                     hosts: Vec<usize>,
                     mut queue: VecDeque<usize>| {
            let ep = ep.clone();
            let me = self.clone();
            let sem = sem.clone();
            let run = run.clone();
            set.spawn(async move {
                let all = &me.probes.probes;
                let mut out = Vec::new();
                // One connection per single probe, each hosting the lane's
                // next chainable probes while it stays alive; then fresh
                // connections for the chainable ones left, until the lane
                // is done or the deadline has passed (what is left then is
                // listed as not run).
                let mut hosts = hosts.into_iter();
                loop {
                    let first = hosts.next();
                    if first.is_none() && queue.is_empty() {
                        break;
                    }
                    let Ok(Ok(_permit)) = tokio::time::timeout_at(deadline, sem.acquire()).await
                    else {
                        break;
                    };
                    if run.past_deadline() {
                        break;
                    }
                    let mut q = Lane {
                        first: first.and_then(|i| all.get(i)),
                        all,
                        queue: &mut queue,
                    };
                    out.extend(run_chain(&mut q, &ep, &me.connector, &run, &me.payloads).await);
                }
                out
            });
        };
        for i in loners {
            spawn(&mut set, vec![i], VecDeque::new());
        }
        for (hosts, queue) in plan {
            spawn(&mut set, hosts, queue);
        }
        let mut retry = Vec::new();
        // (id, start, end, ended badly, risky) of every finished probe.
        let mut timeline: Vec<(String, Instant, Instant, bool, bool)> = Vec::new();
        let mut down_at: Option<Instant> = None;
        // Probes whose waits the deadline ended.
        let mut cut = 0;
        loop {
            let res =
                match tokio::time::timeout_at(deadline + DEADLINE_GRACE, set.join_next()).await {
                    Ok(Some(res)) => res,
                    Ok(None) => break,
                    Err(_) => {
                        // A probe that did not return by the deadline: listed
                        // as not run below (its costs are lost with it).
                        set.abort_all();
                        break;
                    }
                };
            let runs = match res {
                Ok(x) => x,
                Err(e) if e.is_cancelled() => continue,
                Err(e) => {
                    rec.error = Some(format!("probe task failed: {e}"));
                    continue;
                }
            };
            for r in runs {
                rec.add_costs(&r);
                if cut_short(&r, &run) {
                    // What the server did not do by the deadline is no
                    // observation of it.
                    cut += 1;
                    rec.observations.insert(r.id, self.deadline_skip(true));
                    continue;
                }
                let o = &r.observation;
                if o.outcome == Outcome::Refused
                    && down_at.is_none()
                    && self.confirm_down(gate, &ep, &base, &mut rec).await
                {
                    // The target accepted the gate and now refuses: it went
                    // down. Stop probing it at once.
                    down_at = Some(r.started);
                    set.abort_all();
                }
                let risky = self
                    .probes
                    .get(&r.id)
                    .is_some_and(|p| p.risk != crate::probe::Risk::Safe);
                let badly = o.outcome != Outcome::Upgraded && o.outcome != Outcome::Http
                    || matches!(o.end, End::Eof | End::Reset | End::Close);
                timeline.push((r.id.clone(), r.started, r.ended, badly, risky));
                if o.outcome == Outcome::Timeout && self.per_host > 1 {
                    retry.push(r.id.clone());
                }
                match ladders.note(&r.id, o) {
                    Some(ladder::Settled::Run(middle)) if down_at.is_none() => {
                        for i in middle {
                            spawn(&mut set, vec![i], VecDeque::new());
                        }
                    }
                    Some(ladder::Settled::Skip(middle, why)) => {
                        for p in middle.into_iter().filter_map(|i| all.get(i)) {
                            rec.observations.insert(
                                p.id.clone(),
                                Observation::failed(Outcome::Skipped, why.clone()),
                            );
                        }
                    }
                    _ => {}
                }
                rec.observations.insert(r.id, r.observation);
            }
        }
        // Every probe may have connected before a crash, so none was
        // refused: after risky probes that ended badly, check once more
        // (if the deadline leaves time for it: see `confirm_down`).
        if down_at.is_none()
            && timeline
                .iter()
                .any(|(_, _, _, badly, risky)| *badly && *risky)
            && self.confirm_down(gate, &ep, &base, &mut rec).await
        {
            down_at = Some(Instant::now());
        }
        if let Some(t) = down_at {
            rec.target_down_after = culprit(&timeline, t);
            rec.error = Some(format!(
                "target stopped accepting connections{}; probing stopped",
                rec.target_down_after
                    .as_ref()
                    .map(|p| format!(" after probe {p}"))
                    .unwrap_or_default()
            ));
            // Probes after the crash saw a dead server, not the implementation.
            rec.observations.retain(|id, _| {
                timeline
                    .iter()
                    .any(|(i, _, end, _, _)| i == id && *end <= t)
                    || id == &gate.id
            });
            retry.clear();
        }
        // Servers that handle one connection at a time (or few) leave
        // queued probes unanswered under concurrency. A timeout seen under
        // concurrency is confirmed alone, once, before it is believed --
        // but silence after a malformed request is what many servers do
        // (they wait for the rest of it), so those are retried only when a
        // standard request timed out too: the sign of a saturated server.
        retry.sort();
        let standard = |id: &String| {
            self.probes
                .get(id)
                .is_some_and(|p| p.handshake.is_standard())
        };
        if !retry.iter().any(standard) {
            retry.clear();
        }
        for id in retry {
            if run.past_deadline() {
                break;
            }
            if let Some(p) = self.probes.get(&id) {
                let r = run_probe(p, &ep, &self.connector, &run, &self.payloads).await;
                rec.add_costs(&r);
                if cut_short(&r, &run) {
                    // The timeout seen under concurrency stands.
                    break;
                }
                rec.observations.insert(id, r.observation);
            }
        }
        // The probes the deadline left unrun: never started (queued,
        // waiting for a slot, a ladder's middle not yet settled) or given
        // up on at the deadline. After a crash they are left out instead,
        // like every probe after it.
        let mut not_run = 0;
        if down_at.is_none() {
            for p in wanted.into_iter().filter_map(|i| all.get(i)) {
                if !rec.observations.contains_key(&p.id) {
                    not_run += 1;
                    rec.observations
                        .insert(p.id.clone(), self.deadline_skip(false));
                }
            }
        }
        if down_at.is_none() && cut + not_run > 0 {
            rec.error = Some(self.cut_note(&format!(
                "with {cut} probes cut short and {not_run} not run (skipped, reason deadline)"
            )));
        }
        self.record_stand_ins(&mut rec.observations);
        let features = self.features(&rec.observations);
        rec.rescore(&self.scorer, &features);
        rec.explain(&self.scorer, &features, self.explain);
        self.name_app_protocol(&mut rec);
        rec.schema_version = SCHEMA_VERSION;
        rec.elapsed_ms = started.elapsed().as_millis() as u64;
        rec
    }

    /// The record's app protocol, from what its server volunteered.
    fn name_app_protocol(&self, rec: &mut Record) {
        rec.app_protocol = self
            .scorer
            .db()
            .app_protocols
            .classify(&self.probes, &rec.observations);
    }

    /// `rec.error` for work the target's deadline cut: the token
    /// `target_timeout`, the deadline, and `what` was cut.
    fn cut_note(&self, what: &str) -> String {
        format!(
            "target_timeout: the target deadline ({} ms) passed {what}",
            self.target_timeout.as_millis()
        )
    }

    /// The observation of a probe the deadline ended (`cut`: it was under
    /// way) or left unrun: skipped, for the reason `deadline`.
    fn deadline_skip(&self, cut: bool) -> Observation {
        let how = if cut {
            "cut short by"
        } else {
            "not run before"
        };
        Observation::failed(
            Outcome::Skipped,
            format!(
                "deadline: {how} the target deadline ({} ms)",
                self.target_timeout.as_millis()
            ),
        )
    }

    /// Give each probe the full set left out as `same_as` another an
    /// observation naming that probe, so that the record has a result for
    /// every case (a STEWS user running `-a` looks for all 51). When that
    /// probe left no observation (it was not selected, or the target went
    /// down first), neither does this one.
    fn record_stand_ins(&self, obs: &mut BTreeMap<String, Observation>) {
        for p in &self.probes.probes {
            let Some(of) = &p.same_as else { continue };
            if obs.contains_key(&p.id) || !obs.contains_key(of) || self.selected.contains(&p.id) {
                continue;
            }
            let mut o = Observation::failed(
                Outcome::Skipped,
                format!(
                    "not run: probe {of} splits the lab's servers as this one does \
                     (same_as); --exhaustive runs it"
                ),
            );
            o.same_as = Some(of.clone());
            obs.insert(p.id.clone(), o);
        }
    }

    /// The flat feature map of a record's observations.
    pub fn features(&self, obs: &BTreeMap<String, Observation>) -> BTreeMap<String, String> {
        observations_to_features(&self.probes, obs)
    }
}

/// Features of every observation whose probe is known to `probes`.
pub fn observations_to_features(
    probes: &ProbeSet,
    obs: &BTreeMap<String, Observation>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for_each_observed_feature(probes, obs, |p, k, v| {
        out.insert(format!("{}.{k}", p.id), v.to_string());
    });
    out
}

/// [`observations_to_features`] without the map: `put(probe, feature,
/// value)` for each, in probe-set order. Walks the probes and looks each
/// up in the map: a search of the map per probe, not a scan of the probe
/// list per observation.
fn for_each_observed_feature(
    probes: &ProbeSet,
    obs: &BTreeMap<String, Observation>,
    mut put: impl FnMut(&Probe, &str, &str),
) {
    for p in &probes.probes {
        if let Some(o) = obs.get(&p.id) {
            for_each_feature(p, o, |k, v| put(p, k, v));
        }
    }
}

/// A connection's probes in a full scan: its lane's single probe (which
/// may host chained ones), then the lane's chainable probes in order.
struct Lane<'p, 'q> {
    first: Option<&'p Probe>,
    all: &'p [Probe],
    queue: &'q mut VecDeque<usize>,
}

impl<'p> ProbeQueue<'p> for Lane<'p, '_> {
    fn next(&mut self) -> Option<&'p Probe> {
        self.first.take().or_else(|| {
            let i = self.queue.pop_front()?;
            self.all.get(i)
        })
    }
    fn pending(&self) -> bool {
        self.first.is_some() || !self.queue.is_empty()
    }
}

impl Scanner {
    /// Adaptive probing: rounds of the planner's picks (run concurrently)
    /// until the verdict satisfies the budget, nothing separates the
    /// candidates any more, the budget is spent, or the deadline passes
    /// (`run` carries it; the probes it cuts are skipped, reason deadline).
    async fn adaptive_rounds(
        self: &Arc<Self>,
        rec: &mut Record,
        ep: &Arc<Endpoint>,
        budget: Budget,
        planner: &Planner,
        run: &Arc<RunConfig>,
    ) {
        // As in `after_gate`: `scan` always sets it.
        let deadline = run
            .deadline
            .unwrap_or_else(|| tokio::time::Instant::now() + self.target_timeout);
        let mut done: std::collections::HashSet<String> =
            rec.observations.keys().cloned().collect();
        let mut spent = 0;
        let mut confirmed = None;
        while spent < budget.max_probes {
            if run.past_deadline() {
                rec.error = Some(self.cut_note("during adaptive probing"));
                return;
            }
            let features = self.features(&rec.observations);
            let (front, v) = self.scorer.verdicts(&features);
            let k = budget.per_round.min(budget.max_probes - spent);
            let next = match crate::fingerprint::adaptive::next_step(
                &self.scorer,
                planner,
                &features,
                &v,
                &done,
                k,
                budget,
                &mut confirmed,
                crate::fingerprint::adaptive::front_named(front.as_ref()),
            ) {
                crate::fingerprint::adaptive::Step::Stop => break,
                crate::fingerprint::adaptive::Step::Run(next) => next,
            };
            let mut set = JoinSet::new();
            let round = next.clone();
            for id in next {
                done.insert(id.clone());
                spent += 1;
                let (me, ep, run) = (self.clone(), ep.clone(), run.clone());
                set.spawn(async move {
                    let r = match me.probes.get(&id) {
                        Some(p) => Some(run_probe(p, &ep, &me.connector, &run, &me.payloads).await),
                        None => None,
                    };
                    (id, r)
                });
            }
            let mut cut = 0;
            loop {
                match tokio::time::timeout_at(deadline + DEADLINE_GRACE, set.join_next()).await {
                    Ok(Some(Ok((id, Some(r))))) => {
                        rec.add_costs(&r);
                        if cut_short(&r, run) {
                            cut += 1;
                            rec.observations.insert(id, self.deadline_skip(true));
                        } else {
                            rec.observations.insert(id, r.observation);
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => {
                        set.abort_all();
                        for id in &round {
                            if !rec.observations.contains_key(id) {
                                cut += 1;
                                rec.observations
                                    .insert(id.clone(), self.deadline_skip(true));
                            }
                        }
                        break;
                    }
                }
            }
            if cut > 0 {
                rec.error = Some(self.cut_note(&format!(
                    "during adaptive probing, with {cut} probes cut short (skipped, reason deadline)"
                )));
                return;
            }
        }
    }

    /// A refused probe after a successful gate: is the target really down?
    /// One fresh handshake decides (a busy server may refuse one connection).
    /// Its connection counts in the record's costs like any other.
    ///
    /// Only a check that ran before the deadline (`run`'s) decides: none
    /// starts after it, and one the deadline cuts says nothing, as the
    /// server may simply not have answered yet.
    async fn confirm_down(
        &self,
        gate: &Probe,
        ep: &Endpoint,
        run: &RunConfig,
        rec: &mut Record,
    ) -> bool {
        if run.past_deadline() {
            return false;
        }
        let r = run_probe(gate, ep, &self.connector, run, &self.payloads).await;
        rec.add_costs(&r);
        !cut_short(&r, run) && matches!(r.observation.outcome, Outcome::Refused | Outcome::Timeout)
    }
}

/// Whether the target's deadline, not the server, ended `r`: it ended
/// waiting (a timeout) once the deadline had come. Every wait ends by the
/// deadline, so such a wait was cut there, and what it saw (silence so
/// far) is not the server's answer.
fn cut_short(r: &ProbeRun, run: &RunConfig) -> bool {
    let o = &r.observation;
    run.deadline
        .is_some_and(|d| tokio::time::Instant::from_std(r.ended) >= d)
        && (o.outcome == Outcome::Timeout || o.end == End::Timeout)
}

/// Which probe took the target down: the last one whose connection was
/// still fine is followed by the first risky probe that ended badly
/// (closed, reset, EOF) before the first refusal.
fn culprit(
    timeline: &[(String, Instant, Instant, bool, bool)],
    refused_at: Instant,
) -> Option<String> {
    let mut done: Vec<_> = timeline
        .iter()
        .filter(|(_, _, end, _, _)| *end <= refused_at)
        .collect();
    done.sort_by_key(|(_, _, end, _, _)| *end);
    let last_fine = done.iter().rposition(|(_, _, _, badly, _)| !badly);
    let after = last_fine.map_or(0, |i| i + 1);
    // `after` is at most `done.len()` (one past a position in it).
    let (upto, from) = done
        .split_at_checked(after)
        .unwrap_or((done.as_slice(), &[]));
    from.iter()
        .chain(upto.iter().rev())
        .find(|(_, _, _, badly, risky)| *badly && *risky)
        .map(|(id, ..)| id.clone())
}

/// Probes that must wait out a silence go first, so the target's wall time
/// is one silence, not several in a row.
fn expected_cost(p: &Probe) -> u8 {
    if !p.frames.is_empty() && (!p.observe.liveness_ping || p.frames.iter().any(|f| f.is_long())) {
        0
    } else if p.handshake.raw.is_some() {
        1
    } else {
        2
    }
}

fn gate_status(o: &Observation) -> Status {
    match o.outcome {
        Outcome::Upgraded => Status::Ok,
        Outcome::Http | Outcome::Malformed | Outcome::Eof => Status::NotWebsocket,
        Outcome::Refused => Status::Refused,
        Outcome::Timeout => Status::Timeout,
        Outcome::Reset => Status::Reset,
        Outcome::TlsError => Status::TlsError,
        Outcome::UrlOnly | Outcome::Skipped | Outcome::Error => Status::Error,
        Outcome::ProxyError => Status::ProxyError,
    }
}
