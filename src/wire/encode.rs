//! Frame encoder: any FIN, RSV and opcode, masked or not, with a declared
//! length that need not match the bytes that follow and a length encoding
//! that need not be minimal. Probes rely on every one of those freedoms.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::mask::apply_mask;

/// How the payload length is written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LenEncoding {
    /// 7-bit, 16-bit or 64-bit, whichever is shortest (what RFC 6455 requires).
    #[default]
    Minimal,
    /// Always the 16-bit form (126), even for short lengths.
    #[serde(rename = "16")]
    Ext16,
    /// Always the 64-bit form (127).
    #[serde(rename = "64")]
    Ext64,
}

/// Everything about a frame except its payload bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpec {
    pub fin: bool,
    /// RSV1..RSV3 as a 3-bit integer (RSV1 = 4).
    pub rsv: u8,
    /// 0..=15.
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    /// Length to announce; `None` announces the real payload length.
    pub declared_len: Option<u64>,
    pub len_encoding: LenEncoding,
}

impl FrameSpec {
    /// A final, unmasked frame with the given opcode (a server's frame).
    pub fn new(opcode: u8) -> Self {
        FrameSpec {
            fin: true,
            rsv: 0,
            opcode,
            mask: None,
            declared_len: None,
            len_encoding: LenEncoding::Minimal,
        }
    }

    pub fn masked(mut self, key: [u8; 4]) -> Self {
        self.mask = Some(key);
        self
    }
}

/// The largest header: 2 + 8 (64-bit length) + 4 (mask key).
pub const MAX_HEADER_LEN: usize = 14;

/// Write the header for a payload of `payload_len` bytes into `out`,
/// returning how many bytes were used.
pub fn encode_header(spec: &FrameSpec, payload_len: u64, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
    let len = spec.declared_len.unwrap_or(payload_len);
    out[0] = (u8::from(spec.fin) << 7) | ((spec.rsv & 0x7) << 4) | (spec.opcode & 0x0f);
    let mask_bit = if spec.mask.is_some() { 0x80 } else { 0 };
    let form = match spec.len_encoding {
        LenEncoding::Ext64 => 127,
        LenEncoding::Ext16 if len <= 0xffff => 126,
        _ if len <= 125 => 0,
        _ if len <= 0xffff => 126,
        _ => 127,
    };
    let mut n = 2;
    match form {
        0 => out[1] = mask_bit | len as u8,
        126 => {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            n = 4;
        }
        _ => {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&len.to_be_bytes());
            n = 10;
        }
    }
    // `n` is 2, 4 or 10 here: the key always fits.
    if let Some(key) = spec.mask
        && let Some(dst) = out.get_mut(n..n + 4)
    {
        dst.copy_from_slice(&key);
        n += 4;
    }
    n
}

/// Header plus (masked) payload in one buffer. Meant for the short frames
/// of probes; long payloads go through [`MaskedRepeat`] instead.
pub fn encode_frame(spec: &FrameSpec, payload: &[u8]) -> Vec<u8> {
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = encode_header(spec, payload.len() as u64, &mut head);
    let mut out = Vec::with_capacity(n + payload.len());
    out.extend(head.iter().take(n));
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = spec.mask
        && let Some(body) = out.get_mut(start..)
    {
        apply_mask(body, key, 0);
    }
    out
}

/// A long payload made of a repeated pattern, masked once into a shared
/// buffer. Because the masked pattern is periodic, one chunk whose length
/// is a multiple of both the pattern length and 4 can be written again and
/// again: sending 100 MiB costs one 64 KiB allocation for the whole
/// process, however many connections send it.
#[derive(Debug, Clone)]
pub struct MaskedRepeat {
    chunk: Bytes,
}

impl MaskedRepeat {
    /// `pattern` must not be empty.
    pub fn new(pattern: &[u8], key: Option<[u8; 4]>) -> Self {
        assert!(!pattern.is_empty(), "repeat pattern must not be empty");
        let period = lcm(pattern.len(), 4);
        let reps = (64 * 1024 / period).max(1);
        let mut chunk: Vec<u8> = pattern
            .iter()
            .copied()
            .cycle()
            .take(period * reps)
            .collect();
        if let Some(k) = key {
            apply_mask(&mut chunk, k, 0);
        }
        MaskedRepeat {
            chunk: Bytes::from(chunk),
        }
    }

    /// The first `n` bytes of the masked stream, as shared slices of the one
    /// chunk (no copying). The pieces are made as they are taken, so `n`
    /// may be any length: nothing is held for it.
    pub fn take(&self, n: u64) -> Pieces {
        Pieces {
            chunk: self.chunk.clone(),
            left: n,
        }
    }

    pub fn chunk_len(&self) -> usize {
        self.chunk.len()
    }
}

/// The pieces of [`MaskedRepeat::take`]: slices of the shared chunk, each
/// as long as the chunk but the last.
#[derive(Debug, Clone)]
pub struct Pieces {
    chunk: Bytes,
    left: u64,
}

impl Iterator for Pieces {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.left == 0 {
            return None;
        }
        let k = self.left.min(self.chunk.len() as u64);
        self.left -= k;
        Some(self.chunk.slice(..k as usize))
    }
}

fn lcm(a: usize, b: usize) -> usize {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    a / gcd(a, b) * b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_examples() {
        // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
        assert_eq!(
            encode_frame(&FrameSpec::new(1), b"Hello"),
            b"\x81\x05\x48\x65\x6c\x6c\x6f"
        );
        // ... and the masked one.
        let spec = FrameSpec::new(1).masked([0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            encode_frame(&spec, b"Hello"),
            b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
        );
    }

    #[test]
    fn rsv_opcode_and_forced_lengths() {
        let mut s = FrameSpec::new(0xB);
        s.fin = false;
        s.rsv = 0b101;
        s.len_encoding = LenEncoding::Ext64;
        let f = encode_frame(&s, b"ab");
        assert_eq!(&f[..10], b"\x5b\x7f\0\0\0\0\0\0\0\x02");
        s.len_encoding = LenEncoding::Ext16;
        assert_eq!(&encode_frame(&s, b"ab")[..4], b"\x5b\x7e\0\x02");
    }

    #[test]
    fn declared_length_is_independent_of_payload() {
        let mut s = FrameSpec::new(1).masked([0, 0, 0, 0]);
        s.declared_len = Some(1 << 63);
        let f = encode_frame(&s, b"x");
        assert_eq!(&f[..10], b"\x81\xff\x80\0\0\0\0\0\0\0");
        assert_eq!(f.len(), 10 + 4 + 1);
    }

    #[test]
    fn masked_repeat_equals_masking_the_whole_payload() {
        let key = [1, 2, 3, 4];
        let r = MaskedRepeat::new(b"abc", Some(key));
        let n = r.chunk_len() as u64 * 2 + 7;
        let streamed: Vec<u8> = r.take(n).flat_map(|b| b.to_vec()).collect();
        let mut whole: Vec<u8> = b"abc".iter().copied().cycle().take(n as usize).collect();
        apply_mask(&mut whole, key, 0);
        assert_eq!(streamed, whole);
    }
}
