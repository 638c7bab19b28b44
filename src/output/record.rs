//! The one record model: exactly one [`Record`] per input target, whatever
//! happened to it. Every writer (NDJSON, CSV, text) renders this struct.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fingerprint::score::Candidate;
use crate::probe::Observation;

/// Bumped on any incompatible change to the record; readers check it.
///
/// 2: `implementation` is only on `ok` records (version 1 wrote
/// `"unknown"` on every record, a refused port's included).
pub const SCHEMA_VERSION: u32 = 2;

/// The oldest record version readers still take (upgraded as read: see
/// [`Record::upgrade`]).
pub const MIN_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Upgraded to WebSocket and probed.
    Ok,
    /// Answered HTTP, but not 101 to a standard handshake.
    NotWebsocket,
    Refused,
    /// The handshake (or connect) timeout passed without an answer.
    Timeout,
    /// The target's own deadline (`--target-timeout`) passed before its
    /// status was known: during the lookup, or the gate handshake's wait.
    TargetTimeout,
    Reset,
    TlsError,
    DnsError,
    Excluded,
    InvalidTarget,
    Error,
    /// The `--proxy` failed (down, refused our credentials, refused the
    /// target by its own rules, not speaking its protocol): nothing is
    /// known of the target. What a proxy says of the target itself (a
    /// refusal, a timeout) is that status instead.
    ProxyError,
}

impl Status {
    /// Every status, in declaration order.
    pub const ALL: [Status; 12] = [
        Status::Ok,
        Status::NotWebsocket,
        Status::Refused,
        Status::Timeout,
        Status::TargetTimeout,
        Status::Reset,
        Status::TlsError,
        Status::DnsError,
        Status::Excluded,
        Status::InvalidTarget,
        Status::Error,
        Status::ProxyError,
    ];

    /// The status a record spells `name`.
    pub fn from_name(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NotWebsocket => "not_websocket",
            Status::Refused => "refused",
            Status::Timeout => "timeout",
            Status::TargetTimeout => "target_timeout",
            Status::Reset => "reset",
            Status::TlsError => "tls_error",
            Status::DnsError => "dns_error",
            Status::Excluded => "excluded",
            Status::InvalidTarget => "invalid_target",
            Status::Error => "error",
            Status::ProxyError => "proxy_error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub schema_version: u32,
    /// The input as given (a line of a target file, or `-u`'s value).
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The address connected to (through a proxy: the address the proxy
    /// was asked for; absent when it was asked for a name, which it
    /// resolved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The `--proxy` every connection went through, without credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    pub status: Status,
    /// The HTTP status of the standard handshake (101 when `ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Best fingerprint id, or `"unknown"`; on `ok` records only (a target
    /// that was never probed has no verdict, not an unknown one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<String>,
    /// Behind a reverse proxy, when the handshake and the frames name
    /// different implementations: who answered the handshake...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub front: Option<String>,
    /// ...and who speaks WebSocket frames after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// The WebSocket library underneath the verdict (e.g. `npm:ws`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    /// The releases of the verdict's implementation the evidence is
    /// consistent with (a banner's version, or the closest release of the
    /// fingerprint's version table and its bounds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<crate::fingerprint::version::Estimate>,
    /// No known proxy in front, yet the HTTP head and the WebSocket frames
    /// alone name different libraries (an unknown proxy or gateway may own
    /// the head): what each names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<crate::fingerprint::score::Layers>,
    /// The protocol the app speaks over WebSocket (`engine.io`, `mqtt`,
    /// `graphql-transport-ws`...), from what the server volunteered: apart
    /// from the implementation, and never a feature of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    /// A wss target's first successful TLS handshake: version, cipher
    /// suite, ALPN, the server's certificate. Absent on ws targets (and
    /// on records written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::net::TlsFacts>,
    pub confidence: f64,
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Why the first candidate and not the second: the features that
    /// separated them, most telling first (`--explain`; the text view
    /// shows three). Absent unless asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub why: Vec<crate::fingerprint::score::Separator>,
    /// Probe case id → what it saw.
    #[serde(default)]
    pub observations: BTreeMap<String, Observation>,
    /// Version of the probe set that produced the observations.
    pub probe_set: String,
    /// Start time, seconds since the Unix epoch.
    pub ts: f64,
    pub elapsed_ms: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub connections: u32,
    /// The probe after which the target stopped accepting connections
    /// (it crashed); probing stopped there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_down_after: Option<String>,
    /// Input line number, for targets read from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The tag column of zgrab-style CSV input, carried through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl Record {
    /// A record for a target that was never probed.
    pub fn failed(
        target: &str,
        status: Status,
        error: impl Into<String>,
        probe_set: &str,
    ) -> Record {
        Record {
            schema_version: SCHEMA_VERSION,
            target: target.to_string(),
            url: None,
            ip: None,
            proxy: None,
            status,
            http_status: None,
            error: Some(error.into()),
            implementation: None,
            front: None,
            backend: None,
            library: None,
            app_protocol: None,
            tls: None,
            version: None,
            layers: None,
            confidence: 0.0,
            candidates: Vec::new(),
            why: Vec::new(),
            observations: BTreeMap::new(),
            probe_set: probe_set.to_string(),
            ts: now_unix(),
            elapsed_ms: 0,
            bytes_sent: 0,
            bytes_received: 0,
            connections: 0,
            target_down_after: None,
            line: None,
            tag: None,
        }
    }
}

impl Record {
    /// Score the record's features: one verdict, or a front and a backend
    /// when the layers disagree (the implementation is then the backend,
    /// which is what speaks WebSocket).
    pub fn rescore(
        &mut self,
        scorer: &crate::fingerprint::score::Scorer,
        features: &BTreeMap<String, String>,
    ) {
        self.set_verdicts(scorer.verdicts(features));
    }

    /// Fill [`Record::why`]: at most `limit` features that separated the
    /// first candidate from the second (nothing when there is no second).
    pub fn explain(
        &mut self,
        scorer: &crate::fingerprint::score::Scorer,
        features: &BTreeMap<String, String>,
        limit: usize,
    ) {
        self.why = match &self.candidates[..] {
            // Not asked for (every record of an NDJSON or CSV survey):
            // nothing computed.
            _ if limit == 0 => Vec::new(),
            [a, b, ..] => {
                let mut w = scorer.separators(features, &a.id, &b.id);
                w.truncate(limit);
                w
            }
            _ => Vec::new(),
        };
    }

    /// Take [`crate::fingerprint::score::Scorer::verdicts`]' answer.
    pub fn set_verdicts(
        &mut self,
        verdicts: (
            Option<crate::fingerprint::score::Verdict>,
            crate::fingerprint::score::Verdict,
        ),
    ) {
        match verdicts {
            (Some(front), back) => {
                self.front = Some(front.implementation);
                self.backend = Some(back.implementation.clone());
                self.set_verdict(back);
            }
            (None, v) => {
                self.front = None;
                self.backend = None;
                self.set_verdict(v);
            }
        }
    }

    /// A record read back in an older schema, in this one's shape:
    /// version 1 wrote `implementation: "unknown"` on records that are not
    /// `ok`; it is dropped.
    pub fn upgrade(&mut self) {
        if self.status != Status::Ok {
            self.implementation = None;
        }
        self.schema_version = SCHEMA_VERSION;
    }

    /// The verdict's implementation: `"unknown"` when there is none (also
    /// on a record that is not `ok`).
    pub fn implementation(&self) -> &str {
        self.implementation.as_deref().unwrap_or("unknown")
    }

    /// Take a verdict's fields.
    pub fn set_verdict(&mut self, v: crate::fingerprint::score::Verdict) {
        self.implementation = Some(v.implementation);
        self.library = v.library;
        self.version = v.version;
        self.layers = v.layers;
        self.confidence = v.confidence;
        self.candidates = v.candidates;
    }

    /// Account one probe's bytes and connection.
    pub fn add_costs(&mut self, run: &crate::probe::runner::ProbeRun) {
        self.bytes_sent += run.bytes_sent;
        self.bytes_received += run.bytes_received;
        self.connections += u32::from(run.connected);
    }
}

pub fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_secs_f64() * 1000.0).round() / 1000.0)
}
