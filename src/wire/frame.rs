//! Frame-level vocabulary of RFC 6455 §5: opcodes, headers, close bodies and
//! the anomaly flags the decoder reports instead of rejecting input.

use serde::{Deserialize, Serialize};

/// A 4-bit opcode. All 16 values are representable, because probes send the
/// reserved ones on purpose and captures may contain them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Opcode(pub u8);

impl Opcode {
    pub const CONTINUATION: Opcode = Opcode(0x0);
    pub const TEXT: Opcode = Opcode(0x1);
    pub const BINARY: Opcode = Opcode(0x2);
    pub const CLOSE: Opcode = Opcode(0x8);
    pub const PING: Opcode = Opcode(0x9);
    pub const PONG: Opcode = Opcode(0xA);

    /// Control opcodes have the high bit set (0x8–0xF).
    pub fn is_control(self) -> bool {
        self.0 & 0x8 != 0
    }

    /// 0x3–0x7 and 0xB–0xF are reserved for future use.
    pub fn is_reserved(self) -> bool {
        matches!(self.0, 0x3..=0x7 | 0xB..=0xF)
    }

    /// A short lower-case name, stable for output: `text`, `close`, `op3`...
    pub fn name(self) -> &'static str {
        match self.0 & 0x0f {
            0 => "continuation",
            1 => "text",
            2 => "binary",
            3 => "op3",
            4 => "op4",
            5 => "op5",
            6 => "op6",
            7 => "op7",
            8 => "close",
            9 => "ping",
            10 => "pong",
            11 => "op11",
            12 => "op12",
            13 => "op13",
            14 => "op14",
            _ => "op15",
        }
    }
}

/// A parsed frame header, exactly as it was on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    /// RSV1..RSV3 as a 3-bit integer: RSV1 is 4, RSV2 is 2, RSV3 is 1.
    pub rsv: u8,
    pub opcode: Opcode,
    pub mask: Option<[u8; 4]>,
    /// The declared payload length (a 64-bit length may have its MSB set).
    pub payload_len: u64,
    /// Bytes the header occupied: 2, 4 or 10, plus 4 with a mask.
    pub header_len: usize,
    /// Flags derived from the header alone.
    pub anomalies: Anomalies,
}

/// Protocol irregularities, as a bit set so that a frame can carry several.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Anomalies(pub u32);

macro_rules! anomalies {
    ($($(#[$doc:meta])* $name:ident = $bit:expr, $label:literal;)*) => {
        impl Anomalies {
            $($(#[$doc])* pub const $name: Anomalies = Anomalies(1 << $bit);)*
            const ALL: &'static [(Anomalies, &'static str)] = &[$((Anomalies::$name, $label)),*];
        }
    };
}

anomalies! {
    /// RSV bits set without an extension that defines them.
    RSV_SET = 0, "rsv_set";
    /// A masked frame from the server (RFC 6455 §5.1 forbids it).
    MASKED_SERVER_FRAME = 1, "masked_server_frame";
    /// An unmasked frame from the client.
    UNMASKED_CLIENT_FRAME = 2, "unmasked_client_frame";
    /// A control frame whose payload is longer than 125 bytes.
    CONTROL_TOO_LONG = 3, "control_too_long";
    /// A control frame with FIN clear.
    CONTROL_FRAGMENTED = 4, "control_fragmented";
    /// Opcode 3–7 or 11–15.
    RESERVED_OPCODE = 5, "reserved_opcode";
    /// A 64-bit length whose most significant bit is set.
    LENGTH_MSB_SET = 6, "length_msb_set";
    /// A length encoded in more bytes than needed.
    NON_MINIMAL_LENGTH = 7, "non_minimal_length";
    /// A close frame with a 1-byte body.
    CLOSE_BODY_ONE_BYTE = 8, "close_body_one_byte";
    /// A close code outside the ranges a peer may send (§7.4).
    CLOSE_CODE_INVALID = 9, "close_code_invalid";
    /// A close reason that is not valid UTF-8.
    CLOSE_REASON_INVALID_UTF8 = 10, "close_reason_invalid_utf8";
    /// A continuation frame with no message open.
    ORPHAN_CONTINUATION = 11, "orphan_continuation";
    /// A new data frame while a fragmented message is still open.
    DATA_INSIDE_MESSAGE = 12, "data_inside_message";
    /// A text message that is not valid UTF-8.
    TEXT_INVALID_UTF8 = 13, "text_invalid_utf8";
    /// The frame's payload was cut short by the end of the stream.
    TRUNCATED = 14, "truncated";
}

impl Anomalies {
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn contains(self, other: Anomalies) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn insert(&mut self, other: Anomalies) {
        self.0 |= other.0;
    }
    /// Stable labels of the flags that are set, for logs and records.
    pub fn labels(self) -> Vec<&'static str> {
        Self::ALL
            .iter()
            .filter(|(a, _)| self.contains(*a))
            .map(|(_, l)| *l)
            .collect()
    }
}

impl std::ops::BitOr for Anomalies {
    type Output = Anomalies;
    fn bitor(self, rhs: Anomalies) -> Anomalies {
        Anomalies(self.0 | rhs.0)
    }
}

/// A close frame's body with the code and the reason kept apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseBody {
    /// `None` for an empty body (which means 1005 to the application, but
    /// on the wire there was no code at all).
    pub code: Option<u16>,
    /// The reason bytes, verbatim (they may be invalid UTF-8).
    pub reason: Vec<u8>,
    pub anomalies: Anomalies,
}

impl CloseBody {
    /// Split a close payload. Never fails: odd bodies become anomalies.
    pub fn parse(payload: &[u8]) -> CloseBody {
        let mut anomalies = Anomalies::default();
        match payload {
            [] => CloseBody {
                code: None,
                reason: Vec::new(),
                anomalies,
            },
            [_] => {
                anomalies.insert(Anomalies::CLOSE_BODY_ONE_BYTE);
                CloseBody {
                    code: None,
                    reason: payload.to_vec(),
                    anomalies,
                }
            }
            [hi, lo, reason @ ..] => {
                let code = u16::from_be_bytes([*hi, *lo]);
                if !close_code_sendable(code) {
                    anomalies.insert(Anomalies::CLOSE_CODE_INVALID);
                }
                let reason = reason.to_vec();
                if std::str::from_utf8(&reason).is_err() {
                    anomalies.insert(Anomalies::CLOSE_REASON_INVALID_UTF8);
                }
                CloseBody {
                    code: Some(code),
                    reason,
                    anomalies,
                }
            }
        }
    }

    /// The reason as text, with invalid sequences replaced.
    pub fn reason_lossy(&self) -> String {
        String::from_utf8_lossy(&self.reason).into_owned()
    }
}

/// Whether a peer may put `code` in a close frame (RFC 6455 §7.4.1 and the
/// IANA registry): 1000–1003, 1007–1014, and 3000–4999.
pub fn close_code_sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_body_splits_code_and_reason() {
        let c = CloseBody::parse(b"\x03\xeabad");
        assert_eq!(c.code, Some(1002));
        assert_eq!(c.reason, b"bad");
        assert!(c.anomalies.is_empty());
    }

    #[test]
    fn close_body_flags_odd_cases() {
        assert!(
            CloseBody::parse(b"x")
                .anomalies
                .contains(Anomalies::CLOSE_BODY_ONE_BYTE)
        );
        assert!(
            CloseBody::parse(b"\x03\xed")
                .anomalies
                .contains(Anomalies::CLOSE_CODE_INVALID)
        ); // 1005 must not be sent
        assert!(
            CloseBody::parse(b"\x03\xe8\xff")
                .anomalies
                .contains(Anomalies::CLOSE_REASON_INVALID_UTF8)
        );
        assert_eq!(CloseBody::parse(b"").code, None);
    }

    #[test]
    fn labels_name_each_flag() {
        let a = Anomalies::RSV_SET | Anomalies::RESERVED_OPCODE;
        assert_eq!(a.labels(), vec!["rsv_set", "reserved_opcode"]);
        assert_eq!(Opcode(3).name(), "op3");
        assert!(Opcode(0xB).is_reserved() && Opcode(0xB).is_control());
    }
}
