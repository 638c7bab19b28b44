//! A keyed pseudo-random permutation of `0..n`, in O(1) memory.
//!
//! Scanning a /16 × ports in address order hammers one network at a time
//! and makes the scan's footprint obvious; masscan and ZMap walk the space
//! in a keyed random order instead. We use a balanced Feistel network over
//! the smallest even number of bits that holds `n`, with cycle-walking to
//! stay inside `0..n`: `index(i)` is a bijection of `0..n` for any key, the
//! same seed gives the same order on every machine (which is what makes
//! `--shard` and `--resume` work), and nothing is stored per element.

/// A bijection of `0..n` chosen by `key`.
#[derive(Debug, Clone, Copy)]
pub struct Permutation {
    n: u64,
    half_bits: u32,
    key: u64,
}

const ROUNDS: u64 = 4;

impl Permutation {
    pub fn new(n: u64, key: u64) -> Self {
        // Bits needed for n - 1, rounded up to an even number (>= 2).
        let bits = (64 - n.saturating_sub(1).leading_zeros()).max(2);
        let bits = bits + bits % 2;
        Permutation {
            n,
            half_bits: bits / 2,
            key,
        }
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The element at position `i` (`i < n`).
    pub fn index(&self, i: u64) -> u64 {
        debug_assert!(i < self.n);
        if self.n <= 1 {
            return i;
        }
        // Cycle-walking: the Feistel domain is < 4n, so this loops a few
        // times on average and always ends (the walk is a cycle through i).
        let mut x = self.feistel(i);
        while x >= self.n {
            x = self.feistel(x);
        }
        x
    }

    fn feistel(&self, x: u64) -> u64 {
        let h = self.half_bits;
        let mask = if h >= 64 { u64::MAX } else { (1u64 << h) - 1 };
        let (mut l, mut r) = (x >> h & mask, x & mask);
        for round in 0..ROUNDS {
            let f = mix(self.key ^ round.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ r) & mask;
            (l, r) = (r, l ^ f);
        }
        l << h | r
    }
}

/// splitmix64's finaliser: a cheap, well-mixed 64-bit hash.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small deterministic generator (splitmix64) for the input window
/// shuffle: the order must be reproducible from `--seed` alone, whatever
/// version of an external RNG crate is linked.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform-enough in `0..n` (n > 0; the modulo bias is < n / 2^64).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_bijection_for_awkward_sizes() {
        for n in [0u64, 1, 2, 3, 5, 17, 255, 256, 257, 1000, 4097] {
            for key in [0, 1, 0xdead_beef] {
                let p = Permutation::new(n, key);
                let mut seen = vec![false; n as usize];
                for i in 0..n {
                    let x = p.index(i);
                    assert!(x < n, "n={n} key={key}: {x} out of range");
                    assert!(!seen[x as usize], "n={n} key={key}: {x} twice");
                    seen[x as usize] = true;
                }
            }
        }
    }

    #[test]
    fn keys_change_the_order_and_it_is_not_the_identity() {
        let a: Vec<u64> = (0..64).map(|i| Permutation::new(64, 1).index(i)).collect();
        let b: Vec<u64> = (0..64).map(|i| Permutation::new(64, 2).index(i)).collect();
        assert_ne!(a, b);
        let fixed = a
            .iter()
            .enumerate()
            .filter(|(i, x)| *i as u64 == **x)
            .count();
        assert!(fixed < 16, "{fixed} fixed points of 64");
    }

    #[test]
    fn huge_domains_work_without_memory() {
        let p = Permutation::new(1 << 40, 7);
        let x = p.index(123_456_789);
        assert!(x < 1 << 40);
        let p = Permutation::new(u64::MAX, 7);
        assert!(p.index(5) < u64::MAX);
    }
}
