//! Running one probe over one connection: the I/O edge around the
//! sans-I/O `wire` core.
//!
//! Every wait has a deadline and every buffer a cap: the response head
//! (`max_head`), the body tail (`BODY_CAP`), the frames kept, and the bytes
//! read after the handshake (`MAX_FRAME_BYTES`). A server that stalls,
//! floods or lies about lengths costs at most a timeout.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout_at;

use super::build::{PayloadCache, PayloadMode, TargetCtx, frame_writes, request_bytes};
use super::observation::{End, FrameObs, Observation, Outcome};
use super::spec::{Kind, Probe};
use crate::net::{ConnectError, Connector, Relayed, Stream, classify};
use crate::wire::decode::{DecodedFrame, Decoder, DecoderConfig};
use crate::wire::encode::{FrameSpec, encode_frame};
use crate::wire::handshake::random_key;
use crate::wire::response::{DEFAULT_MAX_HEADERS, ResponseError, ResponseHead, parse_response};

/// Payload of the liveness ping that follows a probe's frames.
pub const LIVENESS_PAYLOAD: &[u8] = b"wsfp-live";
/// Payload of the ping that goes first on a frame probe's own connection
/// (see `frames`).
pub const OPENING_PAYLOAD: &[u8] = b"wsfp-open";
/// Frames kept in an observation's `pushed`.
pub const MAX_PUSHED: usize = 8;
/// Frames held while the opening ping's answer is awaited; past this the
/// wait gives up telling a greeting from a reaction.
const MAX_HELD: usize = 64;
/// Bytes of a non-101 body kept (its tail).
pub const BODY_CAP: usize = 2048;
/// Bytes read after the handshake before giving up on a reaction.
pub const MAX_FRAME_BYTES: usize = 256 * 1024;
/// Control frames kept per probe (data frames: `observe.frames`).
pub const MAX_CONTROL_FRAMES: usize = 16;
/// Close-reason bytes kept.
pub const MAX_REASON: usize = 256;
/// How long a probe waits on after its liveness pong for the server's
/// answer to its own messages. A server may answer a ping before the
/// data in front of it (RFC 6455 only asks for a pong "as soon as is
/// practical"): Python's `websockets` pongs from its protocol layer while
/// its app has yet to echo, or to close for invalid UTF-8. Ending the
/// wait at the pong left that echo or close to the next probe on the
/// connection. The wait ends as soon as every message has had its
/// answer, so this is spent only on servers that do not echo.
const ECHO_SETTLE: Duration = Duration::from_millis(50);

/// How long the liveness ping waits for the answer to a script's own ping
/// before it is sent anyway (see `frames`).
const PING_SETTLE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Waiting for the response head (from the end of the request).
    pub handshake_timeout: Duration,
    /// Waiting for a reaction after our frames, and for a body.
    pub frame_timeout: Duration,
    /// Writing one request or frame, all its pieces: a long payload
    /// streamed in full (`--payload-mode full`) is cut when it runs out
    /// (the observation's `payload_sent` says how much went).
    pub write_timeout: Duration,
    pub max_head: usize,
    pub payload_mode: PayloadMode,
    /// 0: quiet, 1: probe summaries to stderr, 2: the bytes sent (`->`)
    /// and received (`<-`) too, each write or read's first 512.
    pub trace: u8,
    /// Close an upgraded connection with a close frame (1000) before the
    /// TCP FIN. `--discover` turns it off: the server would answer our
    /// close with its own, which then meets a closed socket (an RST), so
    /// a survey would spend four packets and a server round of work per
    /// target on politeness; a FIN alone ends the connection cleanly.
    pub close_frame: bool,
    /// The target's deadline (`--target-timeout`): every wait above ends
    /// by it, so a probe in flight returns (with what it saw) when the
    /// target's time is up instead of being cancelled and losing its
    /// costs. `None`: each wait has only its own timeout.
    pub deadline: Option<tokio::time::Instant>,
    /// The target's `--host-gap` pacing, shared by all its connections
    /// (`None`: no gap).
    pub pacer: Option<Arc<crate::net::Pacer>>,
}

impl RunConfig {
    /// When a wait of `timeout` starting now must end: its own timeout,
    /// or the target's deadline if that comes first.
    pub fn until(&self, timeout: Duration) -> tokio::time::Instant {
        let own = tokio::time::Instant::now() + timeout;
        self.deadline.map_or(own, |d| own.min(d))
    }

    /// Whether the target's deadline has passed: nothing new may start.
    pub fn past_deadline(&self) -> bool {
        self.deadline
            .is_some_and(|d| tokio::time::Instant::now() >= d)
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            handshake_timeout: Duration::from_millis(3000),
            frame_timeout: Duration::from_millis(500),
            write_timeout: Duration::from_millis(3000),
            max_head: 16 * 1024,
            payload_mode: PayloadMode::Prefix,
            trace: 0,
            close_frame: true,
            deadline: None,
            pacer: None,
        }
    }
}

/// Everything one probe produced.
#[derive(Debug, Clone)]
pub struct ProbeRun {
    /// The probe this run is of.
    pub id: String,
    pub observation: Observation,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Whether a TCP connection was made (for the record's count).
    pub connected: bool,
    /// When the probe's connection attempt started and when it was done
    /// (crash attribution orders probes by these).
    pub started: Instant,
    pub ended: Instant,
}

/// Where to connect and what the handshake should say.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The target's address, or its name when a proxy resolves it.
    pub dest: crate::net::Dest,
    /// SNI / certificate name for wss; `None` for ws.
    pub tls_name: Option<String>,
    pub ctx: TargetCtx,
    /// The facts of the target's first successful TLS handshake (see
    /// [`Connector::connect`]); empty for ws.
    pub tls_facts: std::sync::OnceLock<crate::net::TlsFacts>,
}

pub async fn run_probe(
    probe: &Probe,
    ep: &Endpoint,
    connector: &Connector,
    cfg: &RunConfig,
    payloads: &PayloadCache,
) -> ProbeRun {
    let mut first = Some(probe);
    let run = run_chain(&mut first, ep, connector, cfg, payloads)
        .await
        .pop();
    // A chain always runs its first probe; had it not, the probe was not run.
    run.unwrap_or_else(|| ProbeRun {
        id: probe.id.clone(),
        observation: Observation::new(Outcome::Skipped),
        bytes_sent: 0,
        bytes_received: 0,
        connected: false,
        started: Instant::now(),
        ended: Instant::now(),
    })
}

/// Where a connection's probes come from: the first opens it, the rest
/// are [`chainable`] probes run on it while it stays usable.
pub trait ProbeQueue<'p>: Send {
    fn next(&mut self) -> Option<&'p Probe>;
    /// Whether a probe may still be waiting. A hint (another connection
    /// may take it first), asked before spending a round trip to offer a
    /// [`may_host`] connection to the queue.
    fn pending(&self) -> bool;
}

/// A single probe: nothing to chain after it.
impl<'p> ProbeQueue<'p> for Option<&'p Probe> {
    fn next(&mut self) -> Option<&'p Probe> {
        self.take()
    }
    fn pending(&self) -> bool {
        self.is_some()
    }
}

/// Whether `probe` can run on a connection that an earlier probe left
/// open: a frame probe behind the standard handshake whose script ends on
/// a message boundary and is answered by the liveness pong. After such a
/// probe ends `alive`, the connection is as fresh as a new one.
pub fn chainable(probe: &Probe, cfg: &RunConfig) -> bool {
    rides(probe, cfg) && probe.observe.liveness_ping
}

/// Whether `probe` can end a connection that an earlier probe left open:
/// a frame probe that [`chainable`] would take but for the liveness ping,
/// because its script ends in a close (the close probes of series 900).
/// Nothing may follow it on the connection, so a lane runs these last,
/// each on the connection its other probes left alive, and that
/// connection's polite close becomes the probe: one connection fewer per
/// close probe that finds one.
pub fn terminal(probe: &Probe, cfg: &RunConfig) -> bool {
    rides(probe, cfg) && probe.frames.last().is_some_and(|f| f.opcode == 8)
}

/// What [`chainable`] and [`terminal`] share: frames behind the standard
/// handshake, each sent whole, the last data frame final.
fn rides(probe: &Probe, cfg: &RunConfig) -> bool {
    probe.kind == Kind::Connect
        && probe.handshake.is_standard()
        && !probe.frames.is_empty()
        && probe
            .frames
            .iter()
            .all(|f| !f.is_long() || cfg.payload_mode == PayloadMode::Full)
        && probe.frames.iter().all(|f| f.declared_len.is_none())
        && probe
            .frames
            .iter()
            .rev()
            .find(|f| f.opcode <= 2)
            .is_none_or(|f| f.fin)
}

/// Whether a handshake-only probe's connection, once upgraded, can carry
/// chained frame probes instead of being closed at once. Its request may
/// differ from the standard one only in header values, names and the
/// request line: no verbatim request, body, odd line endings or CR/LF
/// inside a value, any of which could leave bytes or parser state
/// behind. The response must also be clean (see `clean_upgrade`), and a
/// liveness ping must not end the connection (see `usable`).
///
/// Most handshake probes (versions, extension and subprotocol offers,
/// header quirks) end in an ordinary 101 on most servers; hosting the
/// frame probes there saves about one connection each.
pub fn may_host(probe: &Probe) -> bool {
    let h = &probe.handshake;
    let plain = |v: &str| !v.contains(['\r', '\n']);
    probe.kind == Kind::Connect
        && probe.frames.is_empty()
        && h.raw.is_none()
        && h.body.is_none()
        && h.line_ending.is_none()
        && h.request_line.as_deref().is_none_or(plain)
        && h.set
            .iter()
            .chain(&h.add)
            .chain(&h.rename)
            .all(|(a, b)| plain(a) && plain(b))
        && h.remove.iter().all(|v| plain(v))
}

/// A 101 that leaves the connection as a standard handshake would: the
/// Accept is right, no extension was chosen (it would change what RSV
/// bits mean), and no subprotocol was chosen from an offer of ours (it
/// may change the app behind the socket). A subprotocol the server names
/// unasked (CivetWeb does) comes with the standard handshake too.
fn clean_upgrade(probe: &Probe, head: &Head) -> bool {
    let h = &probe.handshake;
    let offered = h.set.iter().chain(&h.add).chain(&h.rename).any(|(a, b)| {
        a.eq_ignore_ascii_case("sec-websocket-protocol")
            || b.eq_ignore_ascii_case("sec-websocket-protocol")
    });
    head.response.status == 101
        && head.accept == Some(crate::wire::response::AcceptCheck::Valid)
        && head.response.header("sec-websocket-extensions").is_none()
        && (!offered || head.response.header("sec-websocket-protocol").is_none())
}

/// Run probes on one connection: the first opens it (with its own
/// handshake), and while each probe ends `alive` (our liveness ping was
/// answered), `queue` gives another [`chainable`] probe to run on it. A
/// first probe without frames that [`may_host`] hands its connection on
/// the same way when it upgraded cleanly and answers a ping.
/// Every probe run gets its own [`ProbeRun`]; chained ones carry the
/// opening handshake's observation, the opening probe's id in `via`, and
/// no connection of their own.
pub async fn run_chain<'p>(
    queue: &mut dyn ProbeQueue<'p>,
    ep: &Endpoint,
    connector: &Connector,
    cfg: &RunConfig,
    payloads: &PayloadCache,
) -> Vec<ProbeRun> {
    let mut runs = Vec::new();
    let Some(probe) = queue.next() else {
        return runs;
    };
    let mut run = ProbeRun {
        id: probe.id.clone(),
        observation: Observation::new(Outcome::Skipped),
        bytes_sent: 0,
        bytes_received: 0,
        connected: false,
        started: Instant::now(),
        ended: Instant::now(),
    };
    if probe.kind == Kind::Url {
        let url = ep.ctx.url().to_ascii_lowercase();
        let mut o = Observation::new(Outcome::UrlOnly);
        o.url_match = Some(
            probe
                .url_contains
                .iter()
                .any(|s| url.contains(&s.to_ascii_lowercase())),
        );
        run.observation = o;
        runs.push(run);
        return runs;
    }
    if let Some(p) = &cfg.pacer {
        if !p.wait(cfg.deadline).await {
            run.observation = Observation::failed(
                Outcome::Skipped,
                "deadline: the target's next connection slot (--host-gap) comes after its deadline",
            );
            run.ended = Instant::now();
            runs.push(run);
            return runs;
        }
        // The probe starts when its connection may.
        run.started = Instant::now();
    }
    let connecting = connector.connect(
        &ep.dest,
        ep.tls_name.as_deref(),
        cfg.deadline,
        Some(&ep.tls_facts),
    );
    let io = match connecting.await {
        Ok(io) => io,
        Err(e) => {
            run.observation = Observation::failed(outcome_of(&e), e.to_string());
            run.ended = Instant::now();
            runs.push(run);
            return runs;
        }
    };
    run_connected(queue, probe, run.started, io, ep, cfg, payloads).await
}

/// [`run_chain`] from the moment its connection `io` is made: `probe`
/// (taken from `queue`) first, then what `queue` chains. `started`: when
/// the connection attempt began. Everything the server sends is read,
/// parsed and observed in here; the fuzz target `runner` calls it over an
/// in-memory connection, so arbitrary server bytes take the same path.
pub async fn run_connected<'p>(
    queue: &mut dyn ProbeQueue<'p>,
    probe: &'p Probe,
    started: Instant,
    mut io: Box<dyn Stream>,
    ep: &Endpoint,
    cfg: &RunConfig,
    payloads: &PayloadCache,
) -> Vec<ProbeRun> {
    let mut runs = Vec::new();
    // The data frames each run may keep: late echoes count against them.
    let mut caps = vec![probe.observe.frames];
    let mut run = ProbeRun {
        id: probe.id.clone(),
        observation: Observation::new(Outcome::Skipped),
        bytes_sent: 0,
        bytes_received: 0,
        connected: true,
        started,
        ended: Instant::now(),
    };
    let mut conn = Conn {
        io: &mut io,
        sent: 0,
        received: 0,
        cfg,
        probe_id: &probe.id,
    };
    let mut chain = match handshake(&mut conn, probe, ep).await {
        Err(o) => {
            run.observation = o;
            None
        }
        Ok((mut o, buf, head)) if probe.frames.is_empty() => {
            let host = may_host(probe) && clean_upgrade(probe, &head) && queue.pending();
            let mut link = Link::new(buf);
            let chain = if host && usable(&mut conn, &mut link, &mut o.pushed).await {
                Some((link, head))
            } else {
                if !host && cfg.close_frame {
                    let _ = conn.write(&polite_close()).await;
                }
                None
            };
            run.observation = o;
            chain
        }
        Ok((o, buf, head)) => {
            let mut link = Link::new(buf);
            let at = Start {
                owner: 0,
                tag: LIVENESS_PAYLOAD,
                opening: true,
            };
            let o = frames(&mut conn, probe, o, &mut link, at, payloads).await;
            run.observation = o;
            (reusable(probe, &run.observation) && !link.http_after_upgrade).then_some((link, head))
        }
    };
    run.ended = Instant::now();
    (run.bytes_sent, run.bytes_received) = (conn.sent, conn.received);
    runs.push(run);
    let mut alive_at_end = chain.is_some();
    let mut n = 0u32;
    while let Some((mut link, head)) = chain.take() {
        // Past the deadline the connection is left alive but nothing new
        // is taken from the queue.
        if cfg.past_deadline() {
            break;
        }
        let Some(p) = queue.next() else {
            break;
        };
        let (sent, received) = (conn.sent, conn.received);
        let started = Instant::now();
        conn.probe_id = &p.id;
        let mut o = head.observation(p);
        o.via = Some(probe.id.clone());
        // Each probe on the connection pings with its own payload, so a
        // late pong to an earlier probe's ping is not taken for this one's.
        n += 1;
        let mut tag = LIVENESS_PAYLOAD.to_vec();
        tag.extend_from_slice(n.to_string().as_bytes());
        // The server's message state is the last probe's business (a
        // fragment it echoed and never finished): judged afresh.
        link.decoder.forget_message();
        let at = Start {
            owner: runs.len(),
            tag: &tag,
            opening: false,
        };
        let o = frames(&mut conn, p, o, &mut link, at, payloads).await;
        // Echoes of earlier probes' messages that came back during this
        // probe's wait go to the probe that sent them.
        for (i, f) in link.late.drain(..) {
            if let (Some(r), Some(&cap)) = (runs.get_mut(i), caps.get(i))
                && r.observation
                    .frames
                    .iter()
                    .filter(|f| f.opcode <= 2)
                    .count()
                    < cap
            {
                r.observation.frames.push(f);
            }
        }
        alive_at_end = reusable(p, &o) && !link.http_after_upgrade;
        if alive_at_end {
            chain = Some((link, head));
        }
        caps.push(p.observe.frames);
        runs.push(ProbeRun {
            id: p.id.clone(),
            observation: o,
            bytes_sent: conn.sent - sent,
            bytes_received: conn.received - received,
            connected: false,
            started,
            ended: Instant::now(),
        });
    }
    if alive_at_end {
        let _ = conn.write(&polite_close()).await;
    }
    // TLS says goodbye with close_notify: best effort, bounded, as a
    // server that does not read cannot hold us. Plain TCP needs no
    // shutdown: dropping the socket sends the same FIN (or the same RST,
    // when unread bytes are left), one system call fewer per connection.
    if ep.tls_name.is_some() {
        let until = cfg.until(Duration::from_millis(100));
        let _ = tokio::time::timeout_at(until, io.shutdown()).await;
    }
    runs
}

/// A decoder for a server's frames that keeps enough of each payload for
/// a close code and a bounded reason.
fn server_decoder() -> Decoder {
    Decoder::new(DecoderConfig {
        max_payload_keep: MAX_REASON + 2,
        ..DecoderConfig::from_server()
    })
}

/// A ping carrying `payload`, masked as a client's.
fn ping(payload: &[u8]) -> Vec<u8> {
    encode_frame(&FrameSpec::new(9).masked(rand::random()), payload)
}

/// A close frame with code 1000, masked as a client's.
fn polite_close() -> Vec<u8> {
    encode_frame(&FrameSpec::new(8).masked(rand::random()), b"\x03\xe8")
}

/// Whether the connection `o` was observed on can carry the next probe:
/// our liveness ping was answered, or, after a `safe` probe (well-formed
/// frames only, so any server is at a message boundary after them), the
/// connection simply stayed open and silent. The second case is what
/// servers that never answer pings (CivetWeb, uWSGI) look like; without
/// it each of their frame probes would need a connection of its own.
fn reusable(p: &Probe, o: &Observation) -> bool {
    // A frame cut short leaves the server inside it, whatever it said;
    // after our close, nothing more may be sent, even to a server that
    // ignored it.
    o.payload_sent.is_none()
        && !p.frames.iter().any(|f| f.opcode == 8)
        && (o.end == End::Alive
            || o.end == End::Timeout && p.risk == crate::probe::Risk::Safe && o.error.is_none())
}

/// Ping a freshly upgraded connection and wait: whether it can carry
/// chained probes. Frames before the pong (an app that pushes data) go to
/// `pushed` (the host's observation), as no probe caused them. A pong, or
/// silence until the frame timeout (a server that does not answer pings;
/// we sent nothing but the upgrade and a valid ping, so it is at a message
/// boundary) means yes; a close, EOF or reset means no.
async fn usable(conn: &mut Conn<'_>, link: &mut Link, pushed: &mut Vec<FrameObs>) -> bool {
    if conn.write(&ping(LIVENESS_PAYLOAD)).await.is_err() {
        return false;
    }
    let until = conn.cfg.until(conn.cfg.frame_timeout);
    let ours = |p: &[u8]| p == LIVENESS_PAYLOAD;
    matches!(
        await_pong(conn, link, pushed, ours, until).await,
        Answer::Pong | Answer::Silent
    )
}

/// How a wait for the answer to our ping ended.
enum Answer {
    Pong,
    /// Nothing more came before `until`.
    Silent,
    /// A close, EOF, reset, or the read cap.
    Ended,
}

/// Read until the pong that `ours` accepts (by its payload), a close or
/// the end of the stream, or `until`. Every frame before it goes to
/// `pushed` (within [`MAX_PUSHED`]): having sent only a ping, we caused
/// none of them.
async fn await_pong(
    conn: &mut Conn<'_>,
    link: &mut Link,
    pushed: &mut Vec<FrameObs>,
    ours: impl Fn(&[u8]) -> bool,
    until: tokio::time::Instant,
) -> Answer {
    let mut read_total = 0;
    loop {
        while let Some(f) = link.decoder.next_frame(&mut link.buf) {
            let op = f.header.opcode.0;
            if op == 0xA && ours(&f.payload) {
                return Answer::Pong;
            }
            if pushed.len() < MAX_PUSHED {
                pushed.push(pushed_obs(&f));
            }
            if op == 0x8 {
                return Answer::Ended;
            }
        }
        if read_total >= MAX_FRAME_BYTES {
            return Answer::Ended;
        }
        match conn
            .read(&mut link.buf, MAX_FRAME_BYTES - read_total, until)
            .await
        {
            Ok(n) => read_total += n,
            Err(ReadStop::Timeout) => return Answer::Silent,
            Err(_) => return Answer::Ended,
        }
    }
}

/// What an upgraded connection carries from one probe to the next.
struct Link {
    /// Bytes read past the last complete frame.
    buf: BytesMut,
    /// One decoder for the connection, as a server's frame or message
    /// may straddle the end of a probe's wait.
    decoder: Decoder,
    /// Our data messages the server has not echoed yet, oldest first.
    unanswered: VecDeque<Echo>,
    /// Echoes of an earlier probe's messages that came back during a
    /// later probe's wait: (that probe's run index, the frame). The chain
    /// moves them to the observation they belong to.
    late: Vec<(usize, FrameObs)>,
    /// The server wrote an HTTP response where frames belong (see
    /// `http_in_stream`): nothing after it is decoded.
    http_after_upgrade: bool,
}

impl Link {
    fn new(buf: BytesMut) -> Link {
        Link {
            buf,
            decoder: server_decoder(),
            unanswered: VecDeque::new(),
            late: Vec::new(),
            http_after_upgrade: false,
        }
    }

    /// Who a server data frame answers: the run index of the probe whose
    /// message it echoes, if it echoes one. A server handles messages in
    /// order, so an echo is of the oldest matching message, and messages
    /// sent before that one are never going to be echoed.
    fn echo_owner(&mut self, f: &DecodedFrame) -> Option<usize> {
        let i = self.unanswered.iter().position(|e| e.echoed_by(f))?;
        let e = self.unanswered.drain(..=i).next_back()?;
        Some(e.owner)
    }
}

/// One of our data messages, as an echoing server would send it back.
struct Echo {
    /// The run index of the probe that sent it.
    owner: usize,
    opcode: u8,
    len: u64,
    /// Its first bytes, as many as the decoder keeps of a server frame.
    head: Vec<u8>,
}

impl Echo {
    fn echoed_by(&self, f: &DecodedFrame) -> bool {
        f.header.fin
            && f.header.opcode.0 == self.opcode
            && f.header.payload_len == self.len
            && f.payload[..] == self.head[..]
    }
}

/// The complete data messages of `probe`'s script, which an echoing
/// server sends back as they are (a frame announcing another length than
/// its own is left out: it leaves no message to echo).
fn messages(probe: &Probe, owner: usize) -> Vec<Echo> {
    let keep = MAX_REASON + 2;
    let mut out = Vec::new();
    let mut open: Option<Echo> = None;
    for f in &probe.frames {
        if f.declared_len.is_some() {
            return out;
        }
        match f.opcode {
            1 | 2 => {
                open = Some(Echo {
                    owner,
                    opcode: f.opcode,
                    len: 0,
                    head: Vec::new(),
                })
            }
            0 if open.is_some() => {}
            _ => continue,
        }
        let Some(m) = open.as_mut() else { continue };
        m.len += f.payload_len();
        let room = keep - m.head.len();
        m.head.extend(f.payload_head(room));
        if f.fin {
            out.extend(open.take());
        }
    }
    out
}

/// The opening 101 of a chain, kept to describe the chained probes.
struct Head {
    response: ResponseHead,
    accept: Option<crate::wire::response::AcceptCheck>,
}

impl Head {
    fn observation(&self, p: &Probe) -> Observation {
        head_observation(&self.response, p, self.accept)
    }
}

/// What a response head shows, as `p` asks to observe it.
fn head_observation(
    head: &ResponseHead,
    p: &Probe,
    accept: Option<crate::wire::response::AcceptCheck>,
) -> Observation {
    let mut o = Observation::new(if head.status == 101 {
        Outcome::Upgraded
    } else {
        Outcome::Http
    });
    o.status = Some(head.status);
    o.reason = Some(head.reason.clone());
    o.accept = accept;
    for name in &p.observe.headers {
        if let Some(v) = head.header_joined(name) {
            o.headers.insert(name.to_ascii_lowercase(), v);
        }
    }
    if p.observe.header_order {
        o.header_order = Some(head.header_names().iter().map(|s| s.to_string()).collect());
    }
    o
}

fn outcome_of(e: &ConnectError) -> Outcome {
    match e {
        ConnectError::Refused => Outcome::Refused,
        ConnectError::Timeout => Outcome::Timeout,
        ConnectError::Reset => Outcome::Reset,
        ConnectError::Tls(_) => Outcome::TlsError,
        ConnectError::Other(_) => Outcome::Error,
        ConnectError::Proxy(_) => Outcome::ProxyError,
        ConnectError::Relayed(Relayed::Refused, _) => Outcome::Refused,
        ConnectError::Relayed(Relayed::Timeout, _) => Outcome::Timeout,
        ConnectError::Relayed(Relayed::Unreachable, _) => Outcome::Error,
    }
}

struct Conn<'a> {
    io: &'a mut Box<dyn Stream>,
    sent: u64,
    received: u64,
    cfg: &'a RunConfig,
    probe_id: &'a str,
}

/// Why a read ended without data.
enum ReadStop {
    Eof,
    Reset,
    Timeout,
    Other(String),
}

impl Conn<'_> {
    async fn write(&mut self, data: &[u8]) -> Result<(), ReadStop> {
        let until = self.cfg.until(self.cfg.write_timeout);
        self.write_by(data, until, true).await
    }

    /// Write all of `data` before `until` (traced if `trace`). `sent`
    /// counts every byte the connection took, those of a write cut short
    /// included, so a record's `bytes_sent` is what went out.
    async fn write_by(
        &mut self,
        mut data: &[u8],
        until: tokio::time::Instant,
        trace: bool,
    ) -> Result<(), ReadStop> {
        if trace && self.cfg.trace >= 2 {
            crate::stderr!(
                "[{}] -> {}",
                self.probe_id,
                escape(data.get(..512).unwrap_or(data))
            );
        }
        while !data.is_empty() {
            match timeout_at(until, self.io.write(data)).await {
                Err(_) => return Err(ReadStop::Timeout),
                Ok(Err(e)) => return Err(stop_of(&e)),
                Ok(Ok(0)) => return Err(ReadStop::Other("the connection took no bytes".into())),
                Ok(Ok(n)) => {
                    self.sent += n as u64;
                    // `write` reports at most what it was given.
                    data = data.get(n..).unwrap_or_default();
                }
            }
        }
        Ok(())
    }

    /// One read into `buf` (at most `room` more bytes) before `deadline`.
    async fn read(
        &mut self,
        buf: &mut BytesMut,
        room: usize,
        deadline: tokio::time::Instant,
    ) -> Result<usize, ReadStop> {
        let want = room.clamp(1, 16 * 1024);
        buf.reserve(want);
        let mut limited = (&mut *self.io).take(want as u64);
        match timeout_at(deadline, limited.read_buf(buf)).await {
            Err(_) => Err(ReadStop::Timeout),
            Ok(Err(e)) => Err(stop_of(&e)),
            Ok(Ok(0)) => Err(ReadStop::Eof),
            Ok(Ok(n)) => {
                if self.cfg.trace >= 2 {
                    // The bytes just read (`read_buf` appended them).
                    let got = buf.get(buf.len() - n..).unwrap_or_default();
                    crate::stderr!(
                        "[{}] <- {}",
                        self.probe_id,
                        escape(got.get(..512).unwrap_or(got))
                    );
                }
                self.received += n as u64;
                Ok(n)
            }
        }
    }
}

fn stop_of(e: &std::io::Error) -> ReadStop {
    // A TLS peer that closes TCP without close_notify: an EOF all the same.
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        return ReadStop::Eof;
    }
    match classify(e) {
        ConnectError::Reset => ReadStop::Reset,
        ConnectError::Timeout => ReadStop::Timeout,
        other => ReadStop::Other(other.to_string()),
    }
}

/// Send `probe`'s request and read the response head (and, for a
/// non-101, the body). `Ok` for a 101: the observation so far, the bytes
/// read past the head, and the head for chained probes.
async fn handshake(
    conn: &mut Conn<'_>,
    probe: &Probe,
    ep: &Endpoint,
) -> Result<(Observation, BytesMut, Head), Observation> {
    let key = random_key();
    let request = request_bytes(probe, &ep.ctx, &key);
    if let Err(stop) = conn.write(&request).await {
        return Err(failed_before_head(stop, "writing the request"));
    }

    // Response head.
    let cfg = conn.cfg;
    let deadline = cfg.until(cfg.handshake_timeout);
    let mut buf = BytesMut::with_capacity(4096);
    let head = loop {
        match parse_response(&buf, cfg.max_head, DEFAULT_MAX_HEADERS) {
            Ok(Some(h)) => break h,
            Ok(None) => {}
            Err(e @ ResponseError::TooLarge(_)) | Err(e @ ResponseError::Malformed(_)) => {
                // The preview is a feature: let the rest of what the server
                // sent in one go arrive first, or it depends on how the
                // bytes were split into segments (seen: CivetWeb's answer
                // to probe 704, cut after its first line one scan in two).
                let settle = (tokio::time::Instant::now() + MALFORMED_SETTLE).min(deadline);
                while buf.len() < PREVIEW {
                    let room = PREVIEW - buf.len();
                    if conn.read(&mut buf, room, settle).await.is_err() {
                        break;
                    }
                }
                let mut o = Observation::failed(Outcome::Malformed, e.to_string());
                o.body_tail = Some(preview(&buf));
                return Err(o);
            }
        }
        let room = cfg.max_head.saturating_sub(buf.len());
        if let Err(stop) = conn.read(&mut buf, room, deadline).await {
            let mut o = failed_before_head(stop, "waiting for the response");
            if !buf.is_empty() {
                o.body_tail = Some(preview(&buf));
            }
            return Err(o);
        }
    };
    buf.advance(head.head_len);
    if cfg.trace >= 1 {
        crate::stderr!(
            "[{}] << {} {} ({} headers)",
            probe.id,
            head.status,
            head.reason,
            head.headers.len()
        );
    }

    if head.status != 101 {
        let mut o = head_observation(&head, probe, None);
        let (tail, head_line) = read_body(conn, &mut buf, head.content_length()).await;
        o.body_tail = Some(tail);
        o.body_head = head_line;
        return Err(o);
    }
    let accept = Some(head.accept_check(&key));
    let o = head_observation(&head, probe, accept);
    let kept = Head {
        response: head,
        accept,
    };
    Ok((o, buf, kept))
}

/// Where a probe's frames start on a connection.
struct Start<'t> {
    /// The probe's index among the connection's runs.
    owner: usize,
    /// The payload of its liveness ping.
    tag: &'t [u8],
    /// The connection is the probe's own: nothing was read on it after the
    /// handshake, so an app's greeting may be on its way.
    opening: bool,
}

/// Run `probe`'s frame script on an upgraded connection and wait for the
/// reaction. The wait ends at a close, or once our liveness ping (payload
/// `at.tag`) is answered and every message of the script has had an
/// answer or [`ECHO_SETTLE`] has passed; the bytes read past its end stay
/// in `link`.
///
/// On a connection of its own (`at.opening`) the script is preceded by a
/// ping, as a chained probe's is by its host's: a server writes what it
/// sends unprompted (Engine.IO's open packet, a greeting) before it
/// answers that ping, so those frames go to `pushed`, not to the probe's
/// reaction. Without it the greeting was recorded by whichever frame
/// probe happened to open a connection, which moved with the plan. The
/// script follows the opening ping at once, and the first pong that is
/// not our liveness ping's divides the stream; a script with pings of its
/// own waits for that answer first (at most `PING_SETTLE`). A server that
/// never answers the opening ping (it answers no pings, or only the
/// latest of those it reads at once) has its frames kept as the reaction,
/// as before.
async fn frames(
    conn: &mut Conn<'_>,
    probe: &Probe,
    mut o: Observation,
    link: &mut Link,
    at: Start<'_>,
    payloads: &PayloadCache,
) -> Observation {
    let Start {
        owner,
        tag,
        opening,
    } = at;
    let cfg = conn.cfg;
    if probe.frames.is_empty() {
        if cfg.close_frame {
            let _ = conn.write(&polite_close()).await;
        }
        return o;
    }

    // Frames: send the script, then the liveness ping.
    let mut write_failed = false;
    // A frame sent only in part (a long payload in prefix mode) leaves the
    // server waiting for the rest: a ping now would be read as payload.
    let complete = probe
        .frames
        .iter()
        .all(|f| !f.is_long() || cfg.payload_mode == PayloadMode::Full);
    let script_pings = probe.frames.iter().any(|f| f.opcode == 9);
    let opening = opening && conn.write(&ping(OPENING_PAYLOAD)).await.is_ok();
    // A script with pings of its own waits for the opening ping's answer
    // first (briefly: a server may answer no pings): any pong then is
    // that answer, as uWSGI answers every ping with an empty one, and
    // its own pings' answers cannot be taken for it.
    let opening = if opening && script_pings {
        let until = cfg.until(PING_SETTLE);
        let _ = await_pong(conn, link, &mut o.pushed, |_| true, until).await;
        false
    } else {
        opening
    };
    'script: for step in &probe.frames {
        let writes = frame_writes(step, cfg.payload_mode, payloads);
        let streamed = writes.streamed();
        // A frame is one write, however many pieces it goes out in: they
        // share one deadline, so a long payload streamed in full takes at
        // most the write timeout (or what is left of the target's time),
        // whatever length it announces.
        let until = cfg.until(cfg.write_timeout);
        let (start, head) = (conn.sent, writes.header_len());
        for (i, chunk) in writes.enumerate() {
            // A peer that reads as fast as we write never makes a write
            // wait, and a timeout only fires on a wait: look at the clock
            // between pieces.
            let late = i > 0 && tokio::time::Instant::now() >= until;
            if late || conn.write_by(&chunk, until, i < 2).await.is_err() {
                // The server may already have answered (e.g. a 1009 close
                // on seeing the header): go and read it.
                write_failed = true;
                if streamed > 0 {
                    o.payload_sent = Some((conn.sent - start).saturating_sub(head));
                }
                break 'script;
            }
        }
    }
    let liveness = probe.observe.liveness_ping && complete;
    // Our ping waits for the script's own pings to be answered (or for
    // PING_SETTLE): a server may answer only the latest of the pings it
    // reads at once (RFC 6455 §5.5.3 allows it; libwebsockets does), so a
    // ping sent behind the script's would be answered or not by how the
    // two happened to arrive, and the probe end `alive` or `timeout`.
    let mut held_ping = None;
    if liveness && !write_failed {
        let ping = ping(tag);
        // So does the opening ping's (libwebsockets, reading both at once,
        // answered the opening ping and not ours: 806 and 807 flapped).
        if script_pings || opening {
            held_ping = Some((ping, cfg.until(PING_SETTLE)));
        } else {
            let _ = conn.write(&ping).await;
        }
    }
    let mut wait = Wait {
        owner,
        tag,
        liveness,
        max_data: probe.observe.frames,
        kept: Kept::default(),
        ponged: None,
        owed: 0,
        held: opening.then(Vec::new),
    };
    if complete && !write_failed {
        let sent = messages(probe, owner);
        wait.owed = sent.len();
        link.unanswered.extend(sent);
    }
    let sent_at = Instant::now();
    let deadline = cfg.until(cfg.frame_timeout);
    let settle = ECHO_SETTLE.min(cfg.frame_timeout);
    let mut read_total = 0usize;
    o.end = loop {
        if let Some(end) = drain(link, &mut o, &mut wait) {
            break end;
        }
        if read_total >= MAX_FRAME_BYTES {
            break End::FrameCap;
        }
        if let Some((_, at)) = &held_ping
            && (script_pings && o.frames.iter().any(|f| f.opcode == 0xA)
                || opening && wait.held.is_none()
                || tokio::time::Instant::now() >= *at)
            && let Some((ping, _)) = held_ping.take()
        {
            let _ = conn.write(&ping).await;
        }
        let until = wait
            .ponged
            .map_or(deadline, |at| (at + settle).min(deadline));
        let until = held_ping.as_ref().map_or(until, |(_, at)| until.min(*at));
        match conn
            .read(&mut link.buf, MAX_FRAME_BYTES - read_total, until)
            .await
        {
            Ok(n) => read_total += n,
            // Time to send the held ping, not the end of the wait.
            Err(ReadStop::Timeout)
                if held_ping.is_some() && tokio::time::Instant::now() < deadline =>
            {
                continue;
            }
            Err(ReadStop::Eof) => {
                wait.release(link, &mut o);
                if let Some(f) = link.decoder.take_partial()
                    && wait.kept.admit(f.header.opcode.0, wait.max_data)
                {
                    o.frames.push(frame_obs(&f));
                }
                break End::Eof;
            }
            // Our pong came, and an answer to our messages did not.
            Err(ReadStop::Timeout) if wait.ponged.is_some() => break End::Alive,
            Err(ReadStop::Reset) => break End::Reset,
            Err(ReadStop::Timeout) => break End::Timeout,
            Err(ReadStop::Other(e)) => {
                o.error = Some(e);
                break End::Reset;
            }
        }
    };
    wait.release(link, &mut o);
    o.latency_ms = Some((sent_at.elapsed().as_secs_f64() * 1e4).round() / 10.0);
    // Answer a close with the same code, as a client should. (Alive: the
    // caller closes politely, or chains the next probe.)
    if o.end == End::Close {
        let code = o.frames.last().and_then(|f| f.close_code).unwrap_or(1000);
        let reply = encode_frame(
            &FrameSpec::new(8).masked(rand::random()),
            &code.to_be_bytes(),
        );
        let _ = conn.write(&reply).await;
    }
    if cfg.trace >= 1 {
        crate::stderr!(
            "[{}] frames {:?} end {:?} in {:?} ms",
            probe.id,
            o.frames
                .iter()
                .map(|f| (f.opcode, f.close_code, f.close_reason.clone()))
                .collect::<Vec<_>>(),
            o.end,
            o.latency_ms
        );
    }
    o
}

/// How many frames of each kind were kept so far.
#[derive(Default)]
struct Kept {
    data: usize,
    control: usize,
}

impl Kept {
    /// Whether a frame of opcode `op` may be kept (and count it if so):
    /// `max_data` data frames, [`MAX_CONTROL_FRAMES`] control frames. A
    /// frame the stream's end cut counts too.
    fn admit(&mut self, op: u8, max_data: usize) -> bool {
        let (n, cap) = if op <= 2 {
            (&mut self.data, max_data)
        } else {
            (&mut self.control, MAX_CONTROL_FRAMES)
        };
        let room = *n < cap;
        if room {
            *n += 1;
        }
        room
    }
}

/// One probe's wait for its reaction.
struct Wait<'t> {
    /// This probe's index among the connection's runs.
    owner: usize,
    /// The payload of our liveness ping, if `liveness`.
    tag: &'t [u8],
    liveness: bool,
    /// Data frames to keep.
    max_data: usize,
    kept: Kept,
    /// When the pong to our liveness ping came.
    ponged: Option<tokio::time::Instant>,
    /// Messages of this probe without an answer yet: an echo, or any
    /// other data frame (an app may answer in its own words).
    owed: usize,
    /// While the answer to the opening ping is awaited (see `frames`):
    /// the frames before it, a greeting if it comes.
    held: Option<Vec<DecodedFrame>>,
}

impl Wait<'_> {
    /// No answer to the opening ping will divide greeting from reaction:
    /// the frames held are the reaction after all, taken in order.
    fn release(&mut self, link: &mut Link, o: &mut Observation) {
        for f in self.held.take().unwrap_or_default() {
            let _ = take(f, link, o, self);
        }
    }
}

/// Take the complete frames out of `link`; `Some` when the wait is over:
/// at a close, or once our liveness pong (not recorded, being ours) has
/// come and nothing is owed. An echo of an earlier probe's message is put
/// aside for that probe.
fn drain(link: &mut Link, o: &mut Observation, wait: &mut Wait) -> Option<End> {
    if wait.ponged.is_some() && wait.owed == 0 {
        return Some(End::Alive);
    }
    loop {
        if link.http_after_upgrade || link.decoder.at_boundary() && http_in_stream(&mut link.buf, o)
        {
            // Not frames: the WebSocket ended there, without a close
            // frame. At once, as whether the HTTP server then keeps the
            // connection open (Werkzeug sometimes does) says nothing.
            link.http_after_upgrade = true;
            link.buf.clear();
            return Some(End::Eof);
        }
        let Some(f) = link.decoder.next_frame(&mut link.buf) else {
            break;
        };
        let op = f.header.opcode.0;
        if let Some(held) = &mut wait.held {
            // The first pong but our liveness ping's: the opening ping's
            // answer, whatever its payload (uWSGI's are empty), as the
            // script sent no ping of its own (see `frames`).
            if op == 0xA && !f.payload.starts_with(LIVENESS_PAYLOAD) {
                o.pushed
                    .extend(held.iter().take(MAX_PUSHED).map(pushed_obs));
                wait.held = None;
                continue;
            }
            // Our liveness pong or a close before the opening pong: that
            // answer is not coming before the reaction.
            let ends = op == 0x8 || op == 0xA && f.payload.starts_with(LIVENESS_PAYLOAD);
            if !ends && held.len() < MAX_HELD {
                held.push(f);
                continue;
            }
            wait.release(link, o);
        }
        if let Some(end) = take(f, link, o, wait) {
            return Some(end);
        }
    }
    None
}

/// One frame of the reaction: kept (within the caps) or put aside for an
/// earlier probe whose message it echoes; `Some` when it ends the wait.
fn take(f: DecodedFrame, link: &mut Link, o: &mut Observation, wait: &mut Wait) -> Option<End> {
    let op = f.header.opcode.0;
    if op == 0xA && f.payload[..] == *OPENING_PAYLOAD {
        // Ours, and late: after the reaction it was to divide.
        return None;
    }
    if op == 0xA && f.payload.starts_with(LIVENESS_PAYLOAD) {
        if f.payload[..] != *wait.tag {
            // A late answer to an earlier probe's ping on this connection.
            return None;
        }
        if wait.liveness {
            wait.ponged = Some(tokio::time::Instant::now());
            return (wait.owed == 0).then_some(End::Alive);
        }
    }
    if op <= 2 {
        match link.echo_owner(&f) {
            Some(earlier) if earlier != wait.owner => {
                link.late.push((earlier, frame_obs(&f)));
                return None;
            }
            _ => wait.owed = wait.owed.saturating_sub(1),
        }
    }
    if wait.kept.admit(op, wait.max_data) {
        o.frames.push(frame_obs(&f));
    }
    if op == 8 {
        return Some(End::Close);
    }
    (wait.ponged.is_some() && wait.owed == 0).then_some(End::Alive)
}

/// Whether `buf` (at a frame boundary) starts an HTTP response instead
/// of a frame; if so, its status line goes into `o.error`. Werkzeug's
/// development server writes its `HTTP/1.1 200 OK` onto the upgraded
/// socket when a flask-sock handler returns: read as frames, `HT` is a
/// fragmented close with RSV1 set, and its "reason" the response's
/// headers, Date and all. A prefix too short to tell waits for more.
fn http_in_stream(buf: &mut BytesMut, o: &mut Observation) -> bool {
    const START: &[u8] = b"HTTP/1.";
    if buf.len() < START.len() {
        // (The stream's end decides: `take_partial` then sees a frame.)
        return false;
    }
    if !buf.starts_with(START) {
        return false;
    }
    let line_end = memchr::memchr(b'\r', buf).unwrap_or(buf.len()).min(80);
    let line = String::from_utf8_lossy(buf.get(..line_end).unwrap_or_default());
    o.error = Some(format!(
        "the server sent an HTTP response on the upgraded connection ({line})"
    ));
    true
}

fn frame_obs(f: &DecodedFrame) -> FrameObs {
    FrameObs {
        opcode: f.header.opcode.0,
        fin: f.header.fin,
        rsv: f.header.rsv,
        masked: f.header.mask.is_some(),
        len: f.header.payload_len,
        close_code: f.close.as_ref().and_then(|c| c.code),
        close_reason: f.close.as_ref().map(|c| {
            let mut r = c.reason_lossy();
            crate::wire::utf8::truncate_to_boundary(&mut r, MAX_REASON);
            r
        }),
        anomalies: f.anomalies.labels().into_iter().map(String::from).collect(),
        head: None,
    }
}

/// A frame the server pushed before reading ours: with its payload's head,
/// which may name the app protocol (a data frame's; a control frame's
/// payload is ours or nobody's).
fn pushed_obs(f: &DecodedFrame) -> FrameObs {
    let mut o = frame_obs(f);
    if matches!(f.header.opcode.0, 0..=2) {
        o.head = Some(crate::fingerprint::app_protocol::head_of(&f.payload));
    }
    o
}

fn failed_before_head(stop: ReadStop, when: &str) -> Observation {
    match stop {
        ReadStop::Eof => Observation::failed(Outcome::Eof, format!("closed by peer {when}")),
        ReadStop::Reset => Observation::failed(Outcome::Reset, format!("reset {when}")),
        ReadStop::Timeout => Observation::failed(Outcome::Timeout, format!("timed out {when}")),
        ReadStop::Other(e) => Observation::failed(Outcome::Error, format!("{e} ({when})")),
    }
}

/// Read a non-101 body: up to Content-Length, EOF, `BODY_CAP` or the frame
/// timeout, whichever comes first. Returns the tail, and the first
/// non-empty line when the body was cut by the cap.
async fn read_body(
    conn: &mut Conn<'_>,
    buf: &mut BytesMut,
    content_length: Option<u64>,
) -> (String, Option<String>) {
    let want = content_length.map_or(BODY_CAP, |n| (n as usize).min(BODY_CAP));
    let deadline = conn.cfg.until(conn.cfg.frame_timeout);
    while buf.len() < want {
        let room = want - buf.len();
        if conn.read(buf, room, deadline).await.is_err() {
            break;
        }
    }
    let body = buf.get(..want).unwrap_or(buf);
    let end = body.len();
    let cut = end >= BODY_CAP && content_length.is_none_or(|n| n > BODY_CAP as u64);
    let start = end.saturating_sub(512);
    let tail = String::from_utf8_lossy(body.get(start..).unwrap_or_default()).into_owned();
    let head = cut.then(|| {
        String::from_utf8_lossy(body)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .chars()
            .take(200)
            .collect()
    });
    (tail, head)
}

/// Bytes of a malformed response kept as its preview.
const PREVIEW: usize = 64;

/// How long a malformed response may take to fill its preview: the rest
/// of a reply normally follows its first segment within milliseconds, and
/// a service that sends a short banner and waits costs no more than this.
const MALFORMED_SETTLE: Duration = Duration::from_millis(100);

fn preview(buf: &[u8]) -> String {
    escape(buf.get(..PREVIEW).unwrap_or(buf))
}

/// Printable ASCII as is, everything else as `\xNN`.
pub fn escape(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ProbeSet;

    fn server_frame(opcode: u8, payload: &[u8]) -> DecodedFrame {
        let mut d = server_decoder();
        let mut b = BytesMut::from(&encode_frame(&FrameSpec::new(opcode), payload)[..]);
        d.next_frame(&mut b).expect("a whole frame")
    }

    /// An echo goes to the probe whose message it carries back, the
    /// oldest first; a reply in other words is nobody's echo.
    #[test]
    fn echoes_are_owned_by_the_message_they_carry() {
        let set = ProbeSet::builtin();
        let mut link = Link::new(BytesMut::new());
        link.unanswered.extend(messages(set.get("100").unwrap(), 0));
        link.unanswered.extend(messages(set.get("101").unwrap(), 1));
        link.unanswered.extend(messages(set.get("803").unwrap(), 2));
        link.unanswered.extend(messages(set.get("807").unwrap(), 3));
        assert_eq!(link.unanswered.len(), 4);
        assert_eq!(link.echo_owner(&server_frame(1, b"ok")), None);
        assert_eq!(link.echo_owner(&server_frame(2, b"'")), Some(1));
        // 100's text message was not echoed before 101's binary one, so
        // it never will be: the next text "'" echoes 807's.
        assert_eq!(link.echo_owner(&server_frame(1, b"ab")), Some(2));
        assert_eq!(link.echo_owner(&server_frame(1, b"'")), Some(3));
        assert!(link.unanswered.is_empty());
        // Only complete messages are owed: not a control frame, nor the
        // fragments of one message counted twice.
        assert!(messages(set.get("102").unwrap(), 0).is_empty());
        let split = messages(set.get("805").unwrap(), 0);
        assert_eq!((split.len(), split[0].len), (1, 2));
        assert_eq!(split[0].head, b"\xc3\xa9");
    }
}
