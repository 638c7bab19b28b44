//! Payload masking (RFC 6455 §5.3).
//!
//! Masking is the one per-byte transformation on the hot path of both the
//! encoder (client frames) and the decoder (unmasking captured client
//! traffic), so it works a machine word at a time and supports starting at
//! any offset into the mask, which is what a streamed payload split across
//! reads or TCP segments needs.

/// XOR `buf` in place with `key`, as if `buf` began at byte `offset` of the
/// payload. Returns the offset to continue with for the next chunk.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) -> usize {
    let mut rot = key;
    rot.rotate_left(offset % 4);
    // Eight payload bytes at a time: the rotated key repeated twice.
    let mut wide = [0u8; 8];
    wide[..4].copy_from_slice(&rot);
    wide[4..].copy_from_slice(&rot);
    let k64 = u64::from_ne_bytes(wide);
    let (words, rest) = buf.as_chunks_mut::<8>();
    for w in words {
        *w = (u64::from_ne_bytes(*w) ^ k64).to_ne_bytes();
    }
    // Up to seven bytes: the key again from its start.
    for (b, k) in rest.iter_mut().zip(rot.iter().cycle()) {
        *b ^= k;
    }
    offset.wrapping_add(buf.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn matches_bytewise_reference_at_every_offset_and_length() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..40 {
            for off in 0..8 {
                let data: Vec<u8> = (0..len as u8).map(|x| x.wrapping_mul(31)).collect();
                let mut a = data.clone();
                let mut b = data.clone();
                apply_mask(&mut a, key, off);
                naive(&mut b, key, off);
                assert_eq!(a, b, "len {len} off {off}");
            }
        }
    }

    #[test]
    fn split_chunks_equal_one_pass() {
        let key = [9, 8, 7, 6];
        let data: Vec<u8> = (0..=255u8).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut parts = data.clone();
        let (a, b) = parts.split_at_mut(13);
        let off = apply_mask(a, key, 0);
        apply_mask(b, key, off);
        assert_eq!(whole, parts);
    }
}
