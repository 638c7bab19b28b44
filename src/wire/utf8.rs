//! Streaming UTF-8 validation for text messages that arrive in pieces
//! (frame payload chunks, fragments, inflated output). Holds at most the
//! three bytes of a character split across pieces.

#[derive(Debug, Clone, Default)]
pub struct Utf8Stream {
    pending: [u8; 4],
    npending: u8,
    invalid: bool,
}

impl Utf8Stream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Validate the next piece.
    pub fn feed(&mut self, mut data: &[u8]) {
        if self.invalid {
            return;
        }
        // Complete a character left over from the previous piece.
        while self.npending > 0 {
            let Some((&b, rest)) = data.split_first() else {
                break;
            };
            data = rest;
            // `npending` is 1..=3 here (at 4 the character is decided), so
            // the slot exists; `None` would be a bug, taken as invalid.
            let Some(slot) = self.pending.get_mut(usize::from(self.npending)) else {
                self.invalid = true;
                return;
            };
            *slot = b;
            self.npending += 1;
            match std::str::from_utf8(self.held()) {
                Ok(_) => self.npending = 0,
                Err(e) if e.error_len().is_some() => {
                    self.invalid = true;
                    return;
                }
                Err(_) if self.npending == 4 => {
                    self.invalid = true;
                    return;
                }
                Err(_) => {}
            }
        }
        // Most text is ASCII: skip it a block at a time, then validate the
        // rest. (The skipped prefix ends on a character boundary.)
        let data = data.get(ascii_prefix_len(data)..).unwrap_or_default();
        if let Err(e) = std::str::from_utf8(data) {
            let tail = data.get(e.valid_up_to()..).unwrap_or_default();
            // An open character at the end is at most 3 bytes: it fits.
            match self.pending.get_mut(..tail.len()) {
                Some(held) if e.error_len().is_none() => {
                    held.copy_from_slice(tail);
                    self.npending = tail.len() as u8;
                }
                _ => self.invalid = true,
            }
        }
    }

    /// The bytes of the open character.
    fn held(&self) -> &[u8] {
        self.pending
            .get(..usize::from(self.npending))
            .unwrap_or_default()
    }

    /// True if everything fed was valid and no character is left open.
    pub fn finish(&self) -> bool {
        !self.invalid && self.npending == 0
    }

    /// True once an invalid sequence was seen (an open character at the
    /// end does not count yet).
    pub fn is_invalid(&self) -> bool {
        self.invalid
    }
}

/// The length of `b`'s leading run of ASCII, rounded down to 32-byte
/// blocks. A block is checked with one OR across it, which compiles to a
/// few vector instructions: several times faster than `from_utf8`'s own
/// ASCII path on long text.
pub fn ascii_prefix_len(b: &[u8]) -> usize {
    let mut n = 0;
    for block in b.chunks_exact(32) {
        if block.iter().fold(0u8, |acc, &x| acc | x) & 0x80 != 0 {
            break;
        }
        n += 32;
    }
    n
}

/// Cut `s` to at most `max` bytes, on a character boundary (the longest
/// such prefix). Text decoded lossily from a peer's bytes is mostly
/// 3-byte U+FFFD where the bytes were bad, so a byte cap usually lands
/// inside a character, where `String::truncate` panics.
pub fn truncate_to_boundary(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        let mut s = "\u{fffd}".repeat(123);
        truncate_to_boundary(&mut s, 256);
        assert_eq!(s, "\u{fffd}".repeat(85));
        let mut s = "ab€".to_string();
        for (max, want) in [
            (9, "ab€"),
            (5, "ab€"),
            (4, "ab"),
            (2, "ab"),
            (1, "a"),
            (0, ""),
        ] {
            let mut t = s.clone();
            truncate_to_boundary(&mut t, max);
            assert_eq!(t, want, "{max}");
        }
        truncate_to_boundary(&mut s, 3);
        assert_eq!(s, "ab");
    }

    fn check(bytes: &[u8]) -> bool {
        // Every split point must agree with the one-shot answer.
        let whole = std::str::from_utf8(bytes).is_ok();
        for cut in 0..=bytes.len() {
            let mut s = Utf8Stream::new();
            s.feed(&bytes[..cut]);
            s.feed(&bytes[cut..]);
            assert_eq!(s.finish(), whole, "{bytes:?} cut at {cut}");
        }
        whole
    }

    #[test]
    fn ascii_prefix_stops_at_the_block_with_a_high_byte() {
        assert_eq!(ascii_prefix_len(b""), 0);
        assert_eq!(ascii_prefix_len(&[b'a'; 31]), 0);
        assert_eq!(ascii_prefix_len(&[b'a'; 100]), 96);
        let mut v = vec![b'a'; 100];
        v[40] = 0xc3;
        assert_eq!(ascii_prefix_len(&v), 32);
        v[3] = 0x80;
        assert_eq!(ascii_prefix_len(&v), 0);
    }

    #[test]
    fn long_text_with_a_late_error_is_invalid() {
        // The error sits past several ASCII blocks, which are skipped
        // before validation starts.
        let mut v = vec![b'x'; 200];
        v.extend_from_slice("é".as_bytes());
        assert!(check(&v));
        v.push(0xff);
        assert!(!check(&v));
        let mut v = vec![b'x'; 95];
        v.extend_from_slice(&"€".as_bytes()[..2]);
        assert!(!check(&v), "an open character at the end");
    }

    #[test]
    fn splits_agree_with_one_shot() {
        assert!(check("héllo €𝄞".as_bytes()));
        assert!(!check(b"ab\xff"));
        assert!(!check(b"\xe2\x82")); // open at the end
        assert!(!check(b"\xed\xa0\x80")); // surrogate
        assert!(!check(b"\xf0\x9d\x84"));
        let mut s = Utf8Stream::new();
        for b in "𝄞x".as_bytes() {
            s.feed(std::slice::from_ref(b));
        }
        assert!(s.finish());
    }
}
