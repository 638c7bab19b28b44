//! Passive fingerprint hint: what a captured handshake reveals, expressed
//! as the features of the probe whose request it most resembles, scored
//! with the active scanner's DB and scorer.
//!
//! Passive evidence is thin. A capture shows one handshake answer to
//! whatever the client sent, not the reactions to 70 crafted probes, so
//! most connections come out `unknown` or with low confidence. Only
//! features that mean the same thing as in the probe are produced:
//!
//! - a request with no extension and no subprotocol offer resembles probe
//!   309 (the standard handshake, the scanner's gate probe): reason phrase,
//!   accept check, identifying headers, response header order;
//! - a request offering exactly `permessage-deflate; client_max_window_bits`
//!   (what browsers send) resembles probe 402: the extension answer too;
//! - any other request still gives 309's offer-independent features
//!   (status, reason, accept, Server, X-Powered-By), never the header order
//!   or the extension/subprotocol answers, which depend on the offer.
//!
//! The scorer compares only observed features
//! ([`Scorer::score_observed`]) and keeps its evidence floor, so a single
//! header (even a telling `Server`) does not yield a confident name.

use std::collections::BTreeMap;

use super::logs::Hint;
use crate::fingerprint::score::Scorer;
use crate::probe::{Layer, normalise};
use crate::wire::{AcceptCheck, RequestHead, ResponseHead};

/// The probe a request resembles and the features its response gives.
pub fn features(
    req: &RequestHead,
    resp: &ResponseHead,
) -> (&'static str, BTreeMap<String, String>) {
    let offer = req.header_joined("Sec-WebSocket-Extensions").map(|v| {
        v.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase()
    });
    let protocols = req.header("Sec-WebSocket-Protocol").is_some();
    let (probe, full) = match offer.as_deref() {
        None if !protocols => ("309", true),
        Some("permessage-deflate; client_max_window_bits") => ("402", !protocols),
        _ => ("309", false),
    };
    let mut f = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        f.insert(format!("{probe}.{k}"), v);
    };
    put("status", resp.status.to_string());
    put("reason", resp.reason.clone());
    if resp.status == 101 {
        let a = match req.header("Sec-WebSocket-Key") {
            Some(k) => resp.accept_check(k.trim()),
            None => AcceptCheck::Mismatch,
        };
        put("accept", format!("{a:?}").to_lowercase());
    }
    let header = |name: &str| resp.header_joined(name).unwrap_or_else(|| "-".to_string());
    // A banner as the scanner sees it: its products, and their versions
    // apart (`Python websockets` + `Python/3.11 websockets/17.4`).
    let mut banner = |name: &str, key: &str| match resp.header_joined(name) {
        None => put(key, "-".to_string()),
        Some(v) => {
            let (names, versions) = normalise::split_banner(&v);
            put(key, names);
            if !versions.is_empty() {
                put(&format!("{key}.version"), versions);
            }
        }
    };
    banner("Server", "h.server");
    if probe == "309" {
        banner("X-Powered-By", "h.x-powered-by");
    }
    if full {
        put(
            "h.sec-websocket-extensions",
            header("Sec-WebSocket-Extensions"),
        );
        put("h.sec-websocket-protocol", header("Sec-WebSocket-Protocol"));
        if probe == "309" {
            put("h.sec-websocket-version", header("Sec-WebSocket-Version"));
            put("header_order", resp.header_names().join(","));
        }
    }
    (probe, f)
}

/// Score a captured handshake.
pub fn hint(scorer: &Scorer, req: &RequestHead, resp: &ResponseHead) -> Hint {
    let (probe, f) = features(req, resp);
    let v = scorer.score_observed(&f, Some(Layer::Handshake));
    Hint {
        implementation: v.implementation,
        confidence: v.confidence,
        probe: Some(probe.to_string()),
        features: f.len(),
        candidates: v.candidates.into_iter().map(|c| c.id).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{parse_request, parse_response};

    fn heads(req: &str, resp: &str) -> (RequestHead, ResponseHead) {
        (
            parse_request(req.as_bytes(), 4096, 32).unwrap().unwrap(),
            parse_response(resp.as_bytes(), 4096, 32).unwrap().unwrap(),
        )
    }

    const RESP: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    #[test]
    fn plain_request_maps_to_the_gate_probe() {
        let (q, r) = heads(
            "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            RESP,
        );
        let (p, f) = features(&q, &r);
        assert_eq!(p, "309");
        assert_eq!(f["309.accept"], "valid");
        assert_eq!(f["309.h.server"], "-");
        assert_eq!(
            f["309.header_order"],
            "Upgrade,Connection,Sec-WebSocket-Accept"
        );
    }

    /// A captured banner is split as a scanned one is (the DB holds the
    /// products; the versions feed only the version estimate: a raw
    /// `Python/3.11 websockets/17.4` matched no fingerprint).
    #[test]
    fn a_captured_banner_is_split_as_a_scanned_one() {
        let (q, r) = heads(
            "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nServer: Python/3.11 websockets/17.4\r\n\r\n",
        );
        let (_, f) = features(&q, &r);
        assert_eq!(f["309.h.server"], "Python websockets");
        assert_eq!(f["309.h.server.version"], "Python/3.11 websockets/17.4");
        assert_eq!(f["309.h.x-powered-by"], "-");
        assert_eq!(
            f["309.header_order"],
            "Upgrade,Connection,Sec-WebSocket-Accept,Server"
        );
    }

    #[test]
    fn browser_offer_maps_to_402_and_others_lose_offer_features() {
        let base = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
        let (q, r) = heads(
            &format!(
                "{base}Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
            ),
            RESP,
        );
        let (p, f) = features(&q, &r);
        assert_eq!(p, "402");
        assert_eq!(f["402.h.sec-websocket-extensions"], "-");
        let (q, r) = heads(&format!("{base}Sec-WebSocket-Protocol: chat\r\n\r\n"), RESP);
        let (p, f) = features(&q, &r);
        assert_eq!(p, "309");
        assert!(!f.contains_key("309.header_order"));
        assert!(!f.contains_key("309.h.sec-websocket-protocol"));
    }

    #[test]
    fn one_header_never_names_an_implementation() {
        use crate::fingerprint::Db;
        use crate::probe::ProbeSet;
        use std::sync::Arc;
        let scorer = Scorer::new(Arc::new(Db::embedded(&ProbeSet::builtin()).unwrap()));
        let mut f = BTreeMap::new();
        f.insert("309.h.server".to_string(), "uvicorn".to_string());
        let v = scorer.score_observed(&f, Some(Layer::Handshake));
        assert_eq!(v.implementation, "unknown", "{v:?}");
    }
}
