//! Scanning one target: resolve, gate on a standard handshake, run the
//! selected probes concurrently under a per-host cap, then match.
//!
//! The gate is probe 309 (a plain handshake): a target that is refused,
//! times out or does not answer 101 gets its status from it and costs one
//! connection, not fifty.

pub mod ladder;
pub mod resume;
pub mod survey;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::fingerprint::adaptive::{Budget, Planner};
use crate::fingerprint::score::{MemoKey, Scorer};
use crate::net::{Connector, Resolver};
use crate::output::{Record, SCHEMA_VERSION, Status};
use crate::probe::build::{PayloadCache, TargetCtx};
use crate::probe::observation::for_each_feature;
use crate::probe::runner::{
    Endpoint, ProbeQueue, ProbeRun, RunConfig, chainable, run_chain, run_probe,
};
use crate::probe::{End, Observation, Outcome, Probe, ProbeSet};
use crate::target::{Exclusions, Target};

thread_local! {
    /// The verdict memo's key for a discovery record, reused per thread.
    static FEATURE_KEY: std::cell::RefCell<MemoKey> = std::cell::RefCell::default();
}

/// Connections running chains of frame probes at once, per target.
const CHAIN_WORKERS: usize = 4;

/// The probe used as the gate, also recorded as an observation.
pub const GATE_PROBE: &str = "309";

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
    pub scorer: Scorer,
    pub resolver: Arc<Resolver>,
    /// Never connected to, also when a name resolves into them.
    pub exclusions: Arc<Exclusions>,
    /// `--discover`: the gate handshake only (does it answer 101?).
    pub discover: bool,
    /// Extra attempts for a gate connection that failed to connect.
    pub retries: u32,
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
            scorer,
            resolver: Arc::new(Resolver::new(None, 64, Duration::from_secs(5))),
            exclusions: Arc::new(Exclusions::default()),
            discover: false,
            retries: 0,
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
        );
        let mut rec = Record::failed(&target.input, Status::Error, "", &self.probes.version);
        rec.error = None;
        rec.ts = ts;
        rec.url = Some(ctx.url());
        let deadline = tokio::time::Instant::now() + self.target_timeout;
        let ips = match target.addr {
            Some(ip) => Ok(vec![ip]),
            // Boxed: most targets are addresses, and a lookup's future is big.
            None => Box::pin(self.resolver.resolve(&target.host)).await,
        };
        let ip = match ips {
            Ok(ips) => match ips.iter().find(|ip| !self.exclusions.contains(**ip)) {
                Some(ip) => *ip,
                None => {
                    rec.status = Status::Excluded;
                    rec.ip = Some(ips[0].to_string());
                    rec.error = Some(format!("{} is excluded (--exclude)", ips[0]));
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
        let ep = Arc::new(Endpoint {
            addr: SocketAddr::new(ip, target.port),
            tls_name: target.tls.then(|| target.host.clone()),
            ctx,
        });

        let default_gate;
        let gate = match self.probes.get(GATE_PROBE) {
            Some(p) => p,
            None => {
                default_gate = ProbeSet::builtin()
                    .get(GATE_PROBE)
                    .cloned()
                    .expect("builtin gate");
                &default_gate
            }
        };
        let mut gate_started = Instant::now();
        let mut attempt = 0;
        let g = loop {
            let g = match tokio::time::timeout_at(
                deadline,
                run_probe(gate, &ep, &self.connector, &self.run, &self.payloads),
            )
            .await
            {
                Ok(g) => g,
                Err(_) => {
                    rec.status = Status::Timeout;
                    rec.error = Some(format!(
                        "target deadline ({} ms) passed during the gate handshake",
                        self.target_timeout.as_millis()
                    ));
                    rec.elapsed_ms = started.elapsed().as_millis() as u64;
                    return rec;
                }
            };
            // Connection failures (not answers) are retried with jittered
            // backoff: a lost SYN or a full accept queue is not a verdict.
            if g.connected || attempt >= self.retries {
                break g;
            }
            rec.add_costs(&g);
            attempt += 1;
            let base = 100u64 << attempt.min(6);
            let jitter = crate::target::permute::mix(
                started.elapsed().as_nanos() as u64 ^ u64::from(attempt),
            ) % base;
            tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
            gate_started = Instant::now();
        };
        let gate_time = gate_started.elapsed();
        rec.add_costs(&g);
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
            rec.elapsed_ms = started.elapsed().as_millis() as u64;
            return rec;
        }
        // Everything after the gate lives in its own future, boxed: the
        // many targets that end at the gate (every discovery, every failed
        // target) then carry and move a smaller future (5.1 -> 4.0 KiB).
        Box::pin(self.after_gate(rec, ep, gate, gate_time, deadline, started)).await
    }

    /// Adaptive rounds, or every selected probe, after a gate that upgraded.
    async fn after_gate(
        self: &Arc<Self>,
        mut rec: Record,
        ep: Arc<Endpoint>,
        gate: &Probe,
        gate_time: Duration,
        deadline: tokio::time::Instant,
        started: Instant,
    ) -> Record {
        if let Some((budget, planner)) = &self.adaptive {
            self.adaptive_rounds(&mut rec, &ep, *budget, planner, deadline)
                .await;
            let features = self.features(&rec.observations);
            rec.rescore(&self.scorer, &features);
            rec.schema_version = SCHEMA_VERSION;
            rec.elapsed_ms = started.elapsed().as_millis() as u64;
            return rec;
        }

        // The rest, slowest first (silence-bound probes), under the cap.
        // Indices into the shared probe set: tasks borrow the probes
        // through the scanner's Arc instead of cloning them per target.
        let all = &self.probes.probes;
        let mut todo: Vec<usize> = (0..all.len())
            .filter(|&i| all[i].id != gate.id && self.selected.contains(&all[i].id))
            .collect();
        todo.sort_by_key(|&i| expected_cost(&all[i]));
        // A server that answered the gate in t needs far less than the
        // full handshake timeout to answer a probe; silence beyond
        // frame_timeout + 10 t is the server waiting for more (the signal
        // of a hixie-76 server, for one), not a slow network.
        let mut run = self.run.clone();
        run.handshake_timeout = run
            .handshake_timeout
            .min(run.frame_timeout + gate_time * 10)
            .max(run.frame_timeout);
        let run = Arc::new(run);
        let sem = Arc::new(Semaphore::new(self.per_host.max(1)));
        let pacer = Arc::new(Pacer::new(self.host_gap));
        // Chainable probes (standard handshake, frames that end on a
        // message boundary) share connections: a task opens one with the
        // next probe in the queue and keeps taking probes while the
        // server answers our liveness ping. The rest get a connection
        // each, as their requests differ.
        let (mut chained, mut single): (Vec<usize>, Vec<usize>) = todo
            .into_iter()
            .partition(|&i| self.chain && chainable(&all[i], &run));
        // Safe probes first: they leave a connection alive, so the hosts
        // and workers carry them before the intrusive ones, which often
        // end it, and those then come when the queue is nearly empty and
        // a chain they end needs no new connection.
        chained.sort_by_key(|&i| all[i].risk != crate::probe::Risk::Safe);
        let mut ladders = if self.ladders {
            ladder::Ladders::withhold(all, &mut single)
        } else {
            ladder::Ladders::default()
        };
        let queue = Arc::new(std::sync::Mutex::new(
            chained
                .iter()
                .copied()
                .collect::<std::collections::VecDeque<usize>>(),
        ));
        let mut set = JoinSet::new();
        let spawn = |set: &mut JoinSet<Vec<ProbeRun>>, single: Option<usize>| {
            let ep = ep.clone();
            let me = self.clone();
            let sem = sem.clone();
            let run = run.clone();
            let pacer = pacer.clone();
            let queue = queue.clone();
            set.spawn(async move {
                let all = &me.probes.probes;
                let mut out = Vec::new();
                // A single probe, or a chain worker: open a connection
                // with the next queued probe, run the chain, repeat until
                // the queue is empty.
                loop {
                    let _permit = sem.acquire().await.expect("semaphore open");
                    if single.is_none() && queue.lock().expect("queue lock").is_empty() {
                        break;
                    }
                    pacer.wait().await;
                    let mut q = Queued {
                        first: single.map(|i| &all[i]),
                        all,
                        queue: &queue,
                    };
                    out.extend(run_chain(&mut q, &ep, &me.connector, &run, &me.payloads).await);
                    if single.is_some() {
                        break;
                    }
                }
                out
            });
        };
        for i in single {
            spawn(&mut set, Some(i));
        }
        // Few chain workers: each connection ends at the first probe that
        // does not end alive, and every worker's last chain may end alive
        // with nothing left to run, so fewer workers spend fewer
        // connections (at the price of running chained probes in series).
        for _ in 0..CHAIN_WORKERS.min(chained.len()) {
            spawn(&mut set, None);
        }
        let mut retry = Vec::new();
        // (id, start, end, ended badly, risky) of every finished probe.
        let mut timeline: Vec<(String, Instant, Instant, bool, bool)> = Vec::new();
        let mut down_at: Option<Instant> = None;
        let mut overdue = false;
        loop {
            let res = match tokio::time::timeout_at(deadline, set.join_next()).await {
                Ok(Some(res)) => res,
                Ok(None) => break,
                Err(_) => {
                    overdue = true;
                    let left = set.len();
                    set.abort_all();
                    rec.error = Some(format!(
                        "target deadline ({} ms) passed; {left} probes unfinished",
                        self.target_timeout.as_millis()
                    ));
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
                let o = &r.observation;
                if o.outcome == Outcome::Refused
                    && down_at.is_none()
                    && self.confirm_down(gate, &ep, &mut rec).await
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
                            spawn(&mut set, Some(i));
                        }
                    }
                    Some(ladder::Settled::Skip(middle, why)) => {
                        for i in middle {
                            rec.observations.insert(
                                all[i].id.clone(),
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
        // refused: after risky probes that ended badly, check once more.
        if down_at.is_none()
            && timeline
                .iter()
                .any(|(_, _, _, badly, risky)| *badly && *risky)
            && self.confirm_down(gate, &ep, &mut rec).await
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
        if overdue {
            retry.clear();
        }
        for id in retry {
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            if let Some(p) = self.probes.get(&id) {
                let r = match tokio::time::timeout_at(
                    deadline,
                    run_probe(p, &ep, &self.connector, &run, &self.payloads),
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => break,
                };
                rec.add_costs(&r);
                rec.observations.insert(id, r.observation);
            }
        }
        self.record_stand_ins(&mut rec.observations);
        let features = self.features(&rec.observations);
        rec.rescore(&self.scorer, &features);
        rec.schema_version = SCHEMA_VERSION;
        rec.elapsed_ms = started.elapsed().as_millis() as u64;
        rec
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

/// A connection's probes in a full scan: its own first probe (a single
/// probe, which may host chained ones) or else the next chainable probe
/// from the target's shared queue.
struct Queued<'a> {
    first: Option<&'a Probe>,
    all: &'a [Probe],
    queue: &'a std::sync::Mutex<std::collections::VecDeque<usize>>,
}

impl<'a> ProbeQueue<'a> for Queued<'a> {
    fn next(&mut self) -> Option<&'a Probe> {
        self.first.take().or_else(|| {
            let i = self.queue.lock().expect("queue lock").pop_front()?;
            Some(&self.all[i])
        })
    }
    fn pending(&self) -> bool {
        self.first.is_some() || !self.queue.lock().expect("queue lock").is_empty()
    }
}

/// Spaces out new connections to one target by at least `gap`, so a
/// survey with many probes per host does not look like a flood.
struct Pacer {
    gap: Duration,
    next: std::sync::Mutex<Option<tokio::time::Instant>>,
}

impl Pacer {
    fn new(gap: Duration) -> Self {
        Pacer {
            gap,
            next: std::sync::Mutex::new(None),
        }
    }

    async fn wait(&self) {
        if self.gap.is_zero() {
            return;
        }
        let slot = {
            let mut next = self.next.lock().expect("pacer lock");
            let now = tokio::time::Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.gap);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

impl Scanner {
    /// Adaptive probing: rounds of the planner's picks (run concurrently)
    /// until the verdict satisfies the budget, nothing separates the
    /// candidates any more, the budget is spent, or the deadline passes.
    async fn adaptive_rounds(
        self: &Arc<Self>,
        rec: &mut Record,
        ep: &Arc<Endpoint>,
        budget: Budget,
        planner: &Planner,
        deadline: tokio::time::Instant,
    ) {
        let mut done: std::collections::HashSet<String> =
            rec.observations.keys().cloned().collect();
        let mut spent = 0;
        let mut confirmed = None;
        while spent < budget.max_probes {
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
                front.is_some(),
            ) {
                crate::fingerprint::adaptive::Step::Stop => break,
                crate::fingerprint::adaptive::Step::Run(next) => next,
            };
            let mut set = JoinSet::new();
            for id in next {
                done.insert(id.clone());
                spent += 1;
                let (me, ep) = (self.clone(), ep.clone());
                set.spawn(async move {
                    let r = match me.probes.get(&id) {
                        Some(p) => {
                            Some(run_probe(p, &ep, &me.connector, &me.run, &me.payloads).await)
                        }
                        None => None,
                    };
                    (id, r)
                });
            }
            loop {
                match tokio::time::timeout_at(deadline, set.join_next()).await {
                    Ok(Some(Ok((id, Some(r))))) => {
                        rec.add_costs(&r);
                        rec.observations.insert(id, r.observation);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => {
                        set.abort_all();
                        rec.error = Some(format!(
                            "target deadline ({} ms) passed during adaptive probing",
                            self.target_timeout.as_millis()
                        ));
                        return;
                    }
                }
            }
        }
    }

    /// A refused probe after a successful gate: is the target really down?
    /// One fresh handshake decides (a busy server may refuse one connection).
    /// Its connection counts in the record's costs like any other.
    async fn confirm_down(&self, gate: &Probe, ep: &Endpoint, rec: &mut Record) -> bool {
        let r = run_probe(gate, ep, &self.connector, &self.run, &self.payloads).await;
        rec.add_costs(&r);
        matches!(r.observation.outcome, Outcome::Refused | Outcome::Timeout)
    }
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
    done[after..]
        .iter()
        .chain(done[..after].iter().rev())
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
    }
}
