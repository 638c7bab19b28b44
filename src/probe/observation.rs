//! What one probe saw, as typed values, and the flat feature map that
//! fingerprints are matched against.
//!
//! Observations are stored in every record, so `wsfp match` can re-derive
//! features later under a newer DB without rescanning. Features are
//! therefore a pure function of an [`Observation`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::normalise;
use super::spec::{Kind, Layer, Probe};
use crate::wire::response::AcceptCheck;

/// How far the connection got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The server answered 101.
    Upgraded,
    /// The server answered with another HTTP status.
    Http,
    /// Connection refused.
    Refused,
    /// Connect, TLS or response timed out before a response head.
    Timeout,
    /// Reset by the peer before a response head.
    Reset,
    /// Closed by the peer before a complete response head.
    Eof,
    TlsError,
    /// Bytes that are not an HTTP response (or a head over the cap).
    Malformed,
    /// A `kind = "url"` probe: nothing was sent.
    UrlOnly,
    /// Not run (the target failed its gate or the probe was not selected).
    Skipped,
    /// Any other local error (unreachable network, ...).
    Error,
    /// The `--proxy` failed (down, refused our credentials or the
    /// target by its rules, not speaking its protocol): nothing is known
    /// of the target.
    ProxyError,
}

/// How the wait for the server's reaction ended, after our frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// Our liveness ping was answered: the connection survived the probe.
    Alive,
    /// The server sent a close frame.
    Close,
    /// The server closed the TCP connection without a close frame.
    Eof,
    /// The connection was reset.
    Reset,
    /// No decisive reaction within the frame timeout.
    Timeout,
    /// The frame cap was reached first.
    FrameCap,
    /// No frames were sent (handshake-only probe).
    NotProbed,
}

/// The `end` feature: as recorded, except that a FIN (`eof`) and a RST
/// (`reset`) are one value, `drop`. Which of the two a server's close
/// gives is a race, not a trait: the kernel resets a connection closed
/// with unread bytes, so it depends on whether our liveness ping (sent
/// right after the probe's frames) arrived before the server closed.
/// The same server gave `eof` in one run and `reset` in the next for 12
/// probes of 5 lab servers (`lab/stability.sh`); the record keeps which.
/// The other values are the variant names in lower case (`framecap`,
/// not the record's `frame_cap`), as the DB holds them.
pub fn end_feature(end: End) -> &'static str {
    match end {
        End::Alive => "alive",
        End::Close => "close",
        End::Eof | End::Reset => "drop",
        End::Timeout => "timeout",
        End::FrameCap => "framecap",
        End::NotProbed => "notprobed",
    }
}

/// A server frame as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameObs {
    pub opcode: u8,
    pub fin: bool,
    pub rsv: u8,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub masked: bool,
    pub len: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<String>,
    /// The payload's first bytes as text (see
    /// [`crate::fingerprint::app_protocol::head_of`]): kept for pushed
    /// messages only, which name an app protocol; never a feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<AcceptCheck>,
    /// Chosen response headers (lower-case name → value; all values of a
    /// repeated header joined with ", ").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Response header names in order, as sent (only when asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_order: Option<Vec<String>>,
    /// The last bytes of a non-101 response body (bounded, lossy UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_tail: Option<String>,
    /// The first line of a body that did not fit in the read cap: its last
    /// line would be wherever the cap cut it, which moves with the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_head: Option<String>,
    /// The first server frames after the handshake: the reaction to this
    /// probe's frames.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<FrameObs>,
    /// Frames the server sent on this probe's connection before it
    /// answered our first ping there, i.e. before it had read any frame of
    /// ours: an app's greeting (Engine.IO's open packet) or timer pushes,
    /// not a reaction to a probe. Only the probe that opened a connection
    /// has them, whichever probe that is, so they never yield features.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pushed: Vec<FrameObs>,
    pub end: End,
    /// Milliseconds from our last frame to the end of the wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// For `kind = "url"` probes: whether the URL matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_match: Option<bool>,
    /// What went wrong, for the error outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a probe chained onto another probe's connection: that probe's
    /// id. The status, reason and headers above are then that opening
    /// handshake's, not a response to this probe's own request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// For a probe the full set did not run because it splits the lab's
    /// servers as another does (its `same_as`): that probe's id, whose
    /// observation in the same record stands for this one. The outcome is
    /// then `skipped`, and it yields no features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_as: Option<String>,
    /// Payload bytes sent of a long frame whose writes were cut before
    /// they were all made: by the write timeout (a frame's writes share
    /// one; with `--payload-mode full` it bounds how much of an announced
    /// length is streamed), the target's deadline, or the peer. Absent when
    /// every write went out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_sent: Option<u64>,
}

impl Observation {
    pub fn new(outcome: Outcome) -> Self {
        Observation {
            outcome,
            status: None,
            reason: None,
            accept: None,
            headers: BTreeMap::new(),
            header_order: None,
            body_tail: None,
            body_head: None,
            frames: Vec::new(),
            pushed: Vec::new(),
            end: End::NotProbed,
            latency_ms: None,
            url_match: None,
            error: None,
            via: None,
            same_as: None,
            payload_sent: None,
        }
    }

    pub fn failed(outcome: Outcome, error: impl Into<String>) -> Self {
        let mut o = Observation::new(outcome);
        o.error = Some(error.into());
        o
    }

    /// The `status` feature: the HTTP status, or the failure kind.
    pub fn status_token(&self) -> String {
        match (self.status, self.outcome) {
            (Some(s), _) => s.to_string(),
            (None, o) => serde_json::to_value(o)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        }
    }
}

/// The `h.sec-websocket-protocol` value of a subprotocol the probe did
/// not offer.
pub const UNOFFERED: &str = "{unoffered}";

/// Whether `chosen` (a response's Sec-WebSocket-Protocol) is one of the
/// subprotocols `probe`'s request offers, in its headers or verbatim
/// request. A chained probe's head is its host's, and a host that offered
/// one and had it chosen hosts nothing, so its value is never offered.
fn offered_protocol(probe: &Probe, chosen: &str) -> bool {
    let chosen = chosen.trim();
    let is_offer = |list: &str| list.split(',').any(|p| p.trim() == chosen);
    let h = &probe.handshake;
    let named = |n: &str| n.trim().eq_ignore_ascii_case("sec-websocket-protocol");
    h.set
        .iter()
        .chain(&h.add)
        .any(|(n, v)| named(n) && is_offer(v))
        || h.raw.as_deref().is_some_and(|raw| {
            raw.split("\r\n")
                .filter_map(|l| l.split_once(':'))
                .any(|(n, v)| named(n) && is_offer(v))
        })
}

/// The first close frame among the observed frames.
fn close_frame(o: &Observation) -> Option<&FrameObs> {
    o.frames.iter().find(|f| f.opcode == 8)
}

/// Flatten one observation into `feature → value` pairs, keyed
/// `"<probe id>.<feature>"`. Application traffic (data frames, i.e. echoes
/// or pushed messages) is deliberately left out: fingerprints must rest on
/// the library's protocol behaviour, not on what the app does.
pub fn features(probe: &Probe, o: &Observation, out: &mut BTreeMap<String, String>) {
    let id = &probe.id;
    for_each_feature(probe, o, |k, v| {
        out.insert(format!("{id}.{k}"), v.to_string());
    });
}

/// [`features`] without the map: `put(feature, value)` per feature, the
/// name without its `"<probe id>."`. `wsfp match` hands these straight to
/// the scorer: two strings allocated per feature were a fifth of its time.
pub fn for_each_feature(probe: &Probe, o: &Observation, mut put: impl FnMut(&str, &str)) {
    use std::fmt::Write as _;
    if probe.kind == Kind::Url {
        if let Some(m) = o.url_match {
            put("url_match", if m { "true" } else { "false" });
        }
        return;
    }
    if o.outcome == Outcome::Skipped {
        return;
    }
    // One buffer for the values that are not in the observation as text.
    let mut buf = String::new();
    fn text(buf: &mut String, args: std::fmt::Arguments) {
        buf.clear();
        let _ = buf.write_fmt(args);
    }
    match o.status {
        Some(s) => {
            text(&mut buf, format_args!("{s}"));
            put("status", &buf);
        }
        None => put("status", &o.status_token()),
    }
    if probe.layer == Layer::Handshake {
        if let Some(r) = &o.reason {
            put("reason", &normalise::neutral(r));
        }
        if let Some(a) = o.accept {
            // Variant names are ASCII: the lower case of `{:?}`.
            text(&mut buf, format_args!("{a:?}"));
            buf.make_ascii_lowercase();
            put("accept", &buf);
        }
        for h in &probe.observe.headers {
            text(&mut buf, format_args!("h.{h}"));
            buf.make_ascii_lowercase();
            let name = buf.get(2..).unwrap_or_default();
            match o.headers.get(name) {
                None => put(&buf, "-"),
                // A banner is identity (its products) and a version
                // estimate (their versions), never one feature of both.
                Some(v) if normalise::is_banner(name) => {
                    let (names, versions) = normalise::split_banner(v);
                    put(&buf, &names);
                    if !versions.is_empty() {
                        buf.push_str(".version");
                        put(&buf, &versions);
                    }
                }
                // A subprotocol we did not offer is named as such: CivetWeb
                // 1.15 answers with whatever its worker thread last accepted
                // for another client, so the name depends on who came before.
                Some(v) if name == "sec-websocket-protocol" && !offered_protocol(probe, v) => {
                    put(&buf, UNOFFERED)
                }
                Some(v) => put(&buf, &normalise::neutral(v)),
            }
        }
        if let Some(order) = &o.header_order {
            put("header_order", &order.join(","));
        }
        if let Some(h) = &o.body_head {
            let h: String = h.trim().chars().take(200).collect();
            put("body", &normalise::neutral(&h));
        } else if let Some(b) = &o.body_tail {
            put("body", &normalise::neutral(&normalise_body(b)));
        }
    }
    if o.outcome != Outcome::Upgraded || probe.frames.is_empty() {
        return;
    }
    put("end", end_feature(o.end));
    buf.clear();
    let control = o
        .frames
        .iter()
        .filter(|f| f.opcode & 0x8 != 0 || f.opcode > 2 && f.opcode < 8)
        .map(|f| crate::wire::Opcode(f.opcode).name());
    for (i, c) in control.enumerate() {
        if i > 0 {
            buf.push(',');
        }
        buf.push_str(c);
    }
    put("control", &buf);
    if let Some(c) = close_frame(o) {
        match c.close_code {
            Some(code) => {
                text(&mut buf, format_args!("{code}"));
                put("close_code", &buf);
            }
            None => put("close_code", "none"),
        }
        put(
            "close_reason",
            &normalise::neutral(c.close_reason.as_deref().unwrap_or_default()),
        );
    }
    let anomalies: Vec<&str> = o
        .frames
        .iter()
        .flat_map(|f| f.anomalies.iter().map(String::as_str))
        .collect();
    if !anomalies.is_empty() {
        put("server_anomalies", &anomalies.join(","));
    }
}

/// Bodies often end in a newline or carry a date; keep the last line of
/// text, trimmed, so the feature is stable across runs.
fn normalise_body(b: &str) -> String {
    let t = b.trim();
    let last = t.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    last.trim().chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ProbeSet;

    #[test]
    fn a_subprotocol_nobody_offered_is_named_unoffered() {
        let set = ProbeSet::builtin();
        let answer = |id: &str, proto: &str| {
            let mut o = Observation::new(Outcome::Upgraded);
            o.status = Some(101);
            o.headers
                .insert("sec-websocket-protocol".into(), proto.into());
            let mut f = BTreeMap::new();
            features(set.get(id).unwrap(), &o, &mut f);
            f[&format!("{id}.h.sec-websocket-protocol")].clone()
        };
        // 500 offers 63 subprotocols, MBWS.huawei.com first.
        assert_eq!(answer("500", "MBWS.huawei.com"), "MBWS.huawei.com");
        assert_eq!(answer("500", "ISYSUB"), "ISYSUB");
        assert_eq!(answer("500", "not-offered"), UNOFFERED);
        // The gate sends the standard request: no offer at all.
        assert_eq!(answer("309", "MBWS.huawei.com"), UNOFFERED);
    }

    #[test]
    fn end_features_keep_the_db_spelling() {
        for e in [
            End::Alive,
            End::Close,
            End::Timeout,
            End::FrameCap,
            End::NotProbed,
        ] {
            assert_eq!(end_feature(e), format!("{e:?}").to_ascii_lowercase());
        }
    }

    #[test]
    fn drop_is_fin_or_rst() {
        assert_eq!(end_feature(End::Eof), "drop");
        assert_eq!(end_feature(End::Reset), "drop");
        assert_eq!(end_feature(End::Timeout), "timeout");
        assert_eq!(end_feature(End::Alive), "alive");
    }

    #[test]
    fn frame_features_ignore_data_frames() {
        let set = ProbeSet::builtin();
        let p = set.get("104").unwrap();
        let mut o = Observation::new(Outcome::Upgraded);
        o.status = Some(101);
        o.end = End::Close;
        o.frames.push(FrameObs {
            opcode: 1,
            fin: true,
            rsv: 0,
            masked: false,
            len: 1,
            close_code: None,
            close_reason: None,
            anomalies: vec![],
            head: None,
        });
        o.frames.push(FrameObs {
            opcode: 8,
            fin: true,
            rsv: 0,
            masked: false,
            len: 10,
            close_code: Some(1002),
            close_reason: Some("bad".into()),
            anomalies: vec![],
            head: None,
        });
        let mut f = BTreeMap::new();
        features(p, &o, &mut f);
        assert_eq!(f["104.status"], "101");
        assert_eq!(f["104.end"], "close");
        assert_eq!(f["104.control"], "close");
        assert_eq!(f["104.close_code"], "1002");
        assert_eq!(f["104.close_reason"], "bad");
        assert!(
            !f.keys()
                .any(|k| k.contains("reason") && k != "104.close_reason")
        );
    }

    #[test]
    fn failures_become_status_tokens() {
        let o = Observation::failed(Outcome::Refused, "x");
        assert_eq!(o.status_token(), "refused");
        let set = ProbeSet::builtin();
        let mut f = BTreeMap::new();
        features(set.get("300").unwrap(), &o, &mut f);
        assert_eq!(f["300.status"], "refused");
    }

    #[test]
    fn body_is_normalised_to_last_line() {
        assert_eq!(
            normalise_body("Bad Request\n\nmissing Host\r\n"),
            "missing Host"
        );
    }
}
