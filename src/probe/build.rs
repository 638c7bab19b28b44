//! Turning a [`Probe`] into the exact bytes to write.
//!
//! This is the only place that knows how a probe's declarative handshake
//! and frame script become wire bytes. Each call starts from a fresh
//! standard request, so nothing one probe changes can leak into another
//! (STEWS's test 308 header leaked into every later probe).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use bytes::Bytes;
use rand::RngExt;

use super::spec::{FrameStep, LONG_PAYLOAD_PREFIX, Probe, decode_hex};
use crate::wire::encode::{
    FrameSpec, MAX_HEADER_LEN, MaskedRepeat, Pieces, encode_frame, encode_header,
};
use crate::wire::handshake::Request;

/// Values for the placeholders of handshake strings.
#[derive(Debug, Clone)]
pub struct TargetCtx {
    pub host: String,
    pub port: u16,
    pub path: String,
    pub tls: bool,
    /// `Origin` to send (STEWS's `-o`).
    pub origin: String,
    /// [`TargetCtx::hostport`], worked out once: every request, the URL
    /// and the default origin use it.
    hostport: String,
    /// The user's headers (`-H`, `--cookie`, `--user-agent`), shared by
    /// every target of a scan.
    headers: Arc<ExtraHeaders>,
}

impl TargetCtx {
    pub fn new(host: &str, port: u16, path: &str, tls: bool, origin: Option<&str>) -> Self {
        let mut ctx = TargetCtx {
            host: host.to_string(),
            port,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.to_string()
            },
            tls,
            origin: String::new(),
            hostport: String::new(),
            headers: ExtraHeaders::none(),
        };
        let default = if tls { 443 } else { 80 };
        ctx.hostport = if port == default {
            ctx.host_for_url()
        } else {
            format!("{}:{port}", ctx.host_for_url())
        };
        ctx.origin = match origin {
            Some(o) => o.to_string(),
            None => format!(
                "{}://{}",
                if tls { "https" } else { "http" },
                ctx.hostport()
            ),
        };
        ctx
    }

    /// The same target, its requests carrying `headers` (see
    /// [`ExtraHeaders`]).
    pub fn with_headers(mut self, headers: Arc<ExtraHeaders>) -> Self {
        self.headers = headers;
        self
    }

    /// Host as it goes into a Host header or URL (IPv6 in brackets).
    pub fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// `host[:port]`, with the port omitted when it is the scheme default.
    pub fn hostport(&self) -> &str {
        &self.hostport
    }

    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            if self.tls { "wss" } else { "ws" },
            self.hostport(),
            self.path
        )
    }

    fn expand(&self, s: &str, key: &str) -> String {
        s.replace("{path}", &self.path)
            .replace("{hostport}", self.hostport())
            .replace("{host}", &self.host_for_url())
            .replace("{port}", &self.port.to_string())
            .replace("{origin}", &self.origin)
            .replace("{key}", key)
            .replace("{url}", &self.url())
    }
}

/// The project's address, for the default User-Agent: Cargo.toml's
/// `repository`, else its `homepage`, else a placeholder.
const PROJECT_URL: &str = {
    let (repo, home) = (env!("CARGO_PKG_REPOSITORY"), env!("CARGO_PKG_HOMEPAGE"));
    if !repo.is_empty() {
        repo
    } else if !home.is_empty() {
        home
    } else {
        "https://github.com/wsfp/wsfp"
    }
};

/// `wsfp/VERSION (+URL)`: the User-Agent every probe built from the
/// standard request sends unless `--user-agent` says otherwise, so that an
/// operator who finds wsfp in a log can tell what it was and where to read
/// about it.
pub fn default_user_agent() -> &'static str {
    static UA: OnceLock<String> = OnceLock::new();
    UA.get_or_init(|| format!("wsfp/{} (+{PROJECT_URL})", env!("CARGO_PKG_VERSION")))
}

/// The headers of the standard request ([`Request::websocket`]), as it
/// spells them.
const STANDARD_HEADERS: [&str; 6] = [
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Origin",
];

/// Headers the user adds to every probe whose request is built from the
/// standard one (`-H`, then `--cookie`, then `--user-agent`). Probes with
/// a verbatim request (`handshake.raw`: 700-705, 1100, 1101) send their
/// own bytes and none of these: they test exact wire forms.
///
/// Precedence, for a probe built from the standard request:
///
/// - A header the standard request has (Host, Upgrade, Connection,
///   Sec-WebSocket-Version, Origin) gets the user's value in place, before
///   the probe's edits: so `-H 'Host: app.example'` reaches a virtual host
///   behind a proxy on every probe, and a probe that edits that header
///   still sends what it tests (1000 sends no Host, 1001 sends
///   `host: app.example`, 300-308 their own versions). Replacing is the
///   more useful choice than refusing: a virtual host, or a proxy that
///   wants `Connection: keep-alive, Upgrade`, is otherwise unreachable.
///   Given twice, the last value wins. (Sec-WebSocket-Key and
///   Sec-WebSocket-Extensions are refused when parsed: see
///   [`ExtraHeaders::new`].)
/// - Any other header is appended after the probe's own headers, in the
///   order given, unless the probe's own edits (`set`, `remove`,
///   `rename`, `add`) name it: then the probe's header goes out as the
///   probe says and the user's is left out of that probe (500 and 501
///   send their own subprotocol offers instead of `-H
///   'Sec-WebSocket-Protocol: ...'`).
#[derive(Debug, Clone, Default)]
pub struct ExtraHeaders {
    /// New values for headers of the standard request, in order given.
    replace: Vec<(String, String)>,
    /// Appended headers, in order.
    append: Vec<(String, String)>,
    /// `append` as the fast path writes it: `Name: value\r\n` each.
    tail: Vec<u8>,
}

impl ExtraHeaders {
    /// No extra headers, shared (no allocation per target).
    pub fn none() -> Arc<ExtraHeaders> {
        static NONE: LazyLock<Arc<ExtraHeaders>> = LazyLock::new(Arc::default);
        NONE.clone()
    }

    /// From `(name, value)` pairs in the order they are to be sent. Names
    /// and values are taken as checked (the CLI refuses control
    /// characters and names that are not tokens when it parses them);
    /// refused here: Sec-WebSocket-Key, which is made anew for every
    /// connection and checked against the Accept, and
    /// Sec-WebSocket-Extensions, which on every connection would change
    /// what every frame probe's bytes mean (the 400 series makes its own
    /// offers).
    pub fn new(headers: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let mut h = ExtraHeaders::default();
        for (name, value) in headers {
            if let Some(refused) = refused_header(&name) {
                return Err(refused);
            }
            if STANDARD_HEADERS
                .iter()
                .any(|s| s.eq_ignore_ascii_case(&name))
            {
                h.replace.push((name, value));
            } else {
                for part in [name.as_str(), ": ", value.as_str(), "\r\n"] {
                    h.tail.extend_from_slice(part.as_bytes());
                }
                h.append.push((name, value));
            }
        }
        Ok(h)
    }

    pub fn is_empty(&self) -> bool {
        self.replace.is_empty() && self.append.is_empty()
    }
}

/// Why `-H NAME` is refused, if it is.
pub fn refused_header(name: &str) -> Option<String> {
    if name.eq_ignore_ascii_case("Sec-WebSocket-Key") {
        Some(
            "Sec-WebSocket-Key is made anew for every connection (the server's Accept is checked against it)"
                .into(),
        )
    } else if name.eq_ignore_ascii_case("Sec-WebSocket-Extensions") {
        Some(
            "Sec-WebSocket-Extensions on every probe would change what every frame probe sends (the 400 series makes its own offers)"
                .into(),
        )
    } else {
        None
    }
}

/// The request bytes for `probe`, with `key` as Sec-WebSocket-Key, and
/// the target's [`ExtraHeaders`] unless the probe's request is verbatim.
pub fn request_bytes(probe: &Probe, ctx: &TargetCtx, key: &str) -> Vec<u8> {
    let h = &probe.handshake;
    if let Some(raw) = &h.raw {
        return ctx.expand(raw, key).into_bytes();
    }
    let extra = &*ctx.headers;
    if h.is_standard() && extra.replace.is_empty() {
        // The gate and most probes: written in one buffer, without the
        // header list (a dozen allocations per target in a discovery),
        // appended headers included.
        return Request::websocket_bytes(
            &ctx.path,
            ctx.hostport(),
            key,
            Some(&ctx.origin),
            &extra.tail,
        );
    }
    let mut r = Request::websocket(&ctx.path, ctx.hostport(), key, Some(&ctx.origin));
    for (n, v) in &extra.replace {
        r.set(n, v);
    }
    if let Some(line) = &h.request_line {
        r.request_line = ctx.expand(line, key).into_bytes();
    }
    for (n, v) in &h.set {
        r.set(n, ctx.expand(v, key));
    }
    for n in &h.remove {
        r.remove(n);
    }
    for (old, new) in &h.rename {
        r.rename(old, new);
    }
    for (n, v) in &h.add {
        r.push(n, ctx.expand(v, key));
    }
    for (n, v) in &extra.append {
        if !h.names(n) {
            r.push(n, v);
        }
    }
    if let Some(le) = &h.line_ending {
        r.line_ending = le.clone().into_bytes();
    }
    if let Some(b) = &h.body {
        r.body = ctx.expand(b, key).into_bytes();
    }
    r.to_bytes()
}

/// How much of a long payload to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadMode {
    /// The frame header plus a short prefix; the server's reaction to the
    /// announced length is what we record.
    #[default]
    Prefix,
    /// Every byte, streamed from one shared pre-masked buffer.
    Full,
}

/// Pre-masked long payloads shared by every connection of a scan. One
/// mask key per process is used for them, so one buffer serves all.
#[derive(Debug)]
pub struct PayloadCache {
    key: [u8; 4],
    repeats: Mutex<HashMap<String, MaskedRepeat>>,
}

impl Default for PayloadCache {
    fn default() -> Self {
        PayloadCache {
            key: rand::rng().random(),
            repeats: Mutex::new(HashMap::new()),
        }
    }
}

impl PayloadCache {
    fn repeat(&self, fill: &str) -> MaskedRepeat {
        // A poisoned lock still holds whole buffers (each is inserted
        // complete): take it back.
        let mut m = self
            .repeats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.entry(fill.to_string())
            .or_insert_with(|| MaskedRepeat::new(fill.as_bytes(), Some(self.key)))
            .clone()
    }
}

/// The writes of one frame of a script, made as they are taken: the first
/// is the whole frame (a short one) or its header; a long payload follows
/// as slices of one shared chunk. Nothing here grows with the announced
/// length: a list of the slices of a 2^40-byte payload was 531 MiB.
#[derive(Debug, Clone)]
pub struct FrameWrites {
    first: Option<Bytes>,
    payload: Option<Pieces>,
    streamed: u64,
    /// Bytes of the frame header in the first write.
    header: u64,
}

impl FrameWrites {
    /// Payload bytes a long frame writes: its prefix (in the header's write),
    /// or (`--payload-mode full`) all of it; 0 for a frame written whole.
    pub fn streamed(&self) -> u64 {
        self.streamed
    }

    /// Bytes of the frame header (what the first write holds before any
    /// payload).
    pub fn header_len(&self) -> u64 {
        self.header
    }

    fn whole(frame: Vec<u8>) -> Self {
        FrameWrites {
            header: frame.len() as u64,
            first: Some(Bytes::from(frame)),
            payload: None,
            streamed: 0,
        }
    }
}

impl Iterator for FrameWrites {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        match self.first.take() {
            Some(b) => Some(b),
            None => self.payload.as_mut()?.next(),
        }
    }
}

/// The writes for one frame of a script: small frames are one buffer; long
/// payloads are a header followed by shared chunks.
pub fn frame_writes(step: &FrameStep, mode: PayloadMode, cache: &PayloadCache) -> FrameWrites {
    let key: Option<[u8; 4]> = step.mask.then(|| match &step.key {
        Some(k) => decode_hex(k)
            .ok()
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 4]),
        None => rand::rng().random(),
    });
    let spec = FrameSpec {
        fin: step.fin,
        rsv: step.rsv,
        opcode: step.opcode,
        mask: key,
        declared_len: step.declared_len,
        len_encoding: step.len_encoding,
    };
    if let (Some(fill), Some(len)) = (&step.fill, step.len) {
        if !step.is_long() {
            let payload: Vec<u8> = fill.bytes().cycle().take(len as usize).collect();
            return FrameWrites::whole(encode_frame(&spec, &payload));
        }
        // Long: the shared buffer is masked with the cache's key.
        let spec = FrameSpec {
            mask: step.mask.then_some(cache.key),
            ..spec
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&spec, len, &mut head);
        let send = match mode {
            PayloadMode::Prefix => len.min(LONG_PAYLOAD_PREFIX as u64),
            PayloadMode::Full => len,
        };
        let repeat = if step.mask {
            cache.repeat(fill)
        } else {
            MaskedRepeat::new(fill.as_bytes(), None)
        };
        let mut pieces = repeat.take(send);
        if mode == PayloadMode::Prefix {
            // Header and prefix in one write: a server that refuses the
            // length on reading the header and closes (Tornado, 1009)
            // then has nothing of ours left unread, so its kernel sends
            // a FIN after the close frame; with the prefix a moment
            // behind, it was often a reset that took the close frame
            // with it (the 600 series flapped between close and reset).
            let mut one: Vec<u8> = head.iter().take(n).copied().collect();
            for piece in pieces.by_ref() {
                one.extend_from_slice(&piece);
            }
            return FrameWrites {
                first: Some(Bytes::from(one)),
                payload: None,
                streamed: send,
                header: n as u64,
            };
        }
        return FrameWrites {
            first: Some(head.iter().take(n).copied().collect::<Bytes>()),
            payload: Some(pieces),
            streamed: send,
            header: n as u64,
        };
    }
    let payload = match (&step.payload, &step.payload_hex) {
        (Some(p), _) => p.as_bytes().to_vec(),
        (_, Some(h)) => decode_hex(h).unwrap_or_default(),
        _ => Vec::new(),
    };
    FrameWrites::whole(encode_frame(&spec, &payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ProbeSet;

    fn ctx() -> TargetCtx {
        TargetCtx::new("127.0.0.1", 9001, "/ws", false, None)
    }

    #[test]
    fn each_probe_starts_from_a_fresh_request() {
        let set = ProbeSet::builtin();
        let v308 = request_bytes(set.get("308").unwrap(), &ctx(), "k");
        assert!(String::from_utf8_lossy(&v308).contains("Sec-WebSocket-Version: 13\\/\r\n"));
        let plain = String::from_utf8(request_bytes(set.get("309").unwrap(), &ctx(), "k")).unwrap();
        assert!(plain.contains("Sec-WebSocket-Version: 13\r\n"), "{plain}");
        assert!(plain.starts_with("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n"));
        assert!(plain.contains("Origin: http://127.0.0.1:9001\r\n"));
    }

    #[test]
    fn bare_lf_and_cr_versions_are_verbatim() {
        let set = ProbeSet::builtin();
        let v305 = request_bytes(set.get("305").unwrap(), &ctx(), "k");
        assert!(
            v305.windows(26)
                .any(|w| w == b"Sec-WebSocket-Version: 13\n")
        );
        assert!(
            v305.windows(28)
                .any(|w| w == b"Sec-WebSocket-Version: 13\n\r\n")
        );
        let v306 = request_bytes(set.get("306").unwrap(), &ctx(), "k");
        assert!(
            v306.windows(28)
                .any(|w| w == b"Sec-WebSocket-Version: 13\r\r\n")
        );
    }

    #[test]
    fn placeholders_and_origin_override() {
        let set = ProbeSet::builtin();
        let c = TargetCtx::new("::1", 443, "/", true, Some("https://evil.example"));
        let r = String::from_utf8(request_bytes(set.get("702").unwrap(), &c, "k")).unwrap();
        assert!(
            r.contains("Sec-WebSocket-Origin: https://evil.example\r\n"),
            "{r}"
        );
        assert!(
            r.contains("Sec-WebSocket-Location: wss://[::1]/\r\n"),
            "{r}"
        );
    }

    /// The request of probe `id` under `extra`, as text.
    fn with_extra(id: &str, extra: &[(&str, &str)]) -> String {
        let set = ProbeSet::builtin();
        let headers =
            ExtraHeaders::new(extra.iter().map(|(n, v)| (n.to_string(), v.to_string()))).unwrap();
        let c = ctx().with_headers(Arc::new(headers));
        String::from_utf8(request_bytes(set.get(id).unwrap(), &c, "k")).unwrap()
    }

    #[test]
    fn extra_headers_follow_the_probes_own_and_yield_to_its_edits() {
        let extra = [
            ("X-Token", "t"),
            ("Sec-WebSocket-Protocol", "chat"),
            ("User-Agent", "ua"),
        ];
        let tail = "X-Token: t\r\nSec-WebSocket-Protocol: chat\r\nUser-Agent: ua\r\n\r\n";
        // The fast path (309) and an edited request (1001) end alike.
        for id in ["309", "1001", "400", "1004"] {
            let r = with_extra(id, &extra);
            assert!(r.ends_with(tail), "{id}: {r}");
        }
        // The fast path is the built request plus the lines.
        let plain = with_extra("309", &[]);
        let r = with_extra("309", &extra);
        assert_eq!(r, format!("{}{tail}", plain.strip_suffix("\r\n").unwrap()));
        // A probe that makes its own offer sends only its own.
        let r = with_extra("500", &extra);
        assert_eq!(r.matches("Sec-WebSocket-Protocol:").count(), 1, "{r}");
        assert!(
            r.contains("Sec-WebSocket-Protocol: MBWS.huawei.com,"),
            "{r}"
        );
        assert!(r.ends_with("X-Token: t\r\nUser-Agent: ua\r\n\r\n"), "{r}");
        // Verbatim probes: their own bytes, exactly.
        for id in ["700", "703", "1100", "1101"] {
            assert_eq!(with_extra(id, &extra), with_extra(id, &[]), "{id}");
        }
    }

    #[test]
    fn extra_standard_headers_replace_in_place_before_the_probes_edits() {
        let extra = [
            ("host", "app.example"),
            ("Connection", "keep-alive, Upgrade"),
        ];
        let r = with_extra("309", &extra);
        assert!(
            r.starts_with("GET /ws HTTP/1.1\r\nHost: app.example\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"),
            "{r}"
        );
        assert_eq!(r.matches("Host:").count(), 1, "{r}");
        // 1000 still sends no Host, 1001 sends it lower-case, 1005 its own
        // Connection; a verbatim probe its own Host.
        assert!(
            !with_extra("1000", &extra)
                .to_ascii_lowercase()
                .contains("host:")
        );
        assert!(with_extra("1001", &extra).contains("\r\nhost: app.example\r\n"));
        assert!(with_extra("1005", &extra).contains("\r\nConnection: keep-alive, Upgrade\r\n"));
        let r = with_extra("300", &[("Sec-WebSocket-Version", "99")]);
        assert!(
            r.contains("Sec-WebSocket-Version: 7\r\n") && !r.contains("99"),
            "{r}"
        );
        assert!(with_extra("1101", &extra).contains("Host: 127.0.0.1:9001\r\n"));
        // The last of a name wins.
        let r = with_extra("309", &[("Host", "a"), ("Host", "b")]);
        assert!(
            r.contains("\r\nHost: b\r\n") && !r.contains("Host: a"),
            "{r}"
        );
        // Refused: the key, and extensions on every probe.
        for name in ["Sec-WebSocket-Key", "sec-websocket-extensions"] {
            assert!(ExtraHeaders::new([(name.to_string(), "x".to_string())]).is_err());
        }
    }

    #[test]
    fn default_user_agent_names_the_version_and_a_url() {
        let ua = default_user_agent();
        assert!(
            ua.starts_with(&format!("wsfp/{} (+http", env!("CARGO_PKG_VERSION"))),
            "{ua}"
        );
        assert!(ua.ends_with(')') && !ua.contains(['\r', '\n']), "{ua}");
    }

    #[test]
    fn long_payloads_send_header_and_prefix_by_default() {
        let set = ProbeSet::builtin();
        let cache = PayloadCache::default();
        let step = &set.get("612").unwrap().frames[0];
        let w: Vec<Bytes> = frame_writes(step, PayloadMode::Prefix, &cache).collect();
        let total: usize = w.iter().map(|b| b.len()).sum();
        assert_eq!(total, 14 + LONG_PAYLOAD_PREFIX);
        assert_eq!(&w[0][..2], b"\x81\xff");
        assert_eq!(&w[0][2..10], &104_857_601u64.to_be_bytes());
        let full: Vec<Bytes> = frame_writes(step, PayloadMode::Full, &cache).collect();
        let total: u64 = full.iter().map(|b| b.len() as u64).sum();
        assert_eq!(total, 14 + 104_857_601);
        // All chunks share one allocation.
        let p = full[1].as_ptr();
        assert!(full[2..].iter().all(|b| b.as_ptr() == p));
    }

    #[test]
    fn a_payload_of_any_length_is_made_as_it_is_taken() {
        let set = ProbeSet::builtin();
        let mut step = set.get("612").unwrap().frames[0].clone();
        step.len = Some(1 << 62);
        let cache = PayloadCache::default();
        let mut w = frame_writes(&step, PayloadMode::Full, &cache);
        assert_eq!(w.streamed(), 1 << 62);
        let head = w.next().unwrap();
        assert_eq!(&head[2..10], &(1u64 << 62).to_be_bytes());
        // The pieces share the one chunk of the cache, however many follow.
        let a = w.next().unwrap();
        let b = w.nth(1_000_000).unwrap();
        assert_eq!((a.as_ptr(), a.len()), (b.as_ptr(), b.len()));
        // A short frame (100 bytes announced) is one write.
        let short = frame_writes(
            &set.get("600").unwrap().frames[0],
            PayloadMode::Full,
            &cache,
        );
        assert_eq!(short.streamed(), 0);
        assert_eq!(short.count(), 1);
    }
}
