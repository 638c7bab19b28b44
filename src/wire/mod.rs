//! The sans-I/O WebSocket protocol core (RFC 6455).
//!
//! Nothing in here owns a socket or a clock: callers hand in bytes and get
//! typed events back, and ask for bytes to write. The active scanner
//! (`crate::probe::runner`) and, later, the passive capture analyser both
//! drive this module, so a parsing fix lands in both at once.
//!
//! Unlike a client library, the core never *rejects* what a peer sends: an
//! RSV bit, a masked server frame or an oversized control frame is reported
//! as an [`frame::Anomalies`] flag, because for fingerprinting the reaction
//! *is* the signal.

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

pub mod decode;
pub mod deflate;
pub mod encode;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod request;
pub mod response;
pub mod utf8;

pub use decode::{DecodedFrame, Decoder, DecoderConfig, Event, SliceEvent};
pub use encode::{FrameSpec, LenEncoding, encode_frame, encode_header};
pub use frame::{Anomalies, CloseBody, FrameHeader, Opcode};
pub use handshake::{Request, accept_for_key, random_key};
pub use request::{RequestError, RequestHead, parse_request};
pub use response::{AcceptCheck, ResponseError, ResponseHead, parse_response};

/// The first value of header `name` (any case) in a parsed head.
pub fn header_first<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Every value of header `name` (any case), joined with ", " as RFC 9110
/// allows for repeated fields.
pub fn header_joined(headers: &[(String, String)], name: &str) -> Option<String> {
    let vals: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect();
    (!vals.is_empty()).then(|| vals.join(", "))
}
