//! IPv4 fragment reassembly, bounded.
//!
//! TCP stacks avoid fragmentation (path MTU discovery), but a capture can
//! still hold fragmented datagrams (tunnels, small-MTU links, evasion).
//! Skipping them would leave holes in the TCP stream; here the fragments of
//! a datagram are collected and, once every byte up to the last fragment is
//! there, handed back as one unfragmented IPv4 packet.
//!
//! Bounds: [`MAX_DATAGRAMS`] datagrams in progress (the oldest is dropped
//! when full), a datagram is dropped [`TIMEOUT`] seconds (capture time)
//! after its first fragment, and none can exceed the 65 535 bytes the IPv4
//! length field allows. Overlapping fragments: for each byte, the fragment
//! with the lowest offset wins (ties: the first to arrive). IPv6 fragments
//! are counted and skipped.

use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Datagrams reassembled at once.
pub const MAX_DATAGRAMS: usize = 1024;
/// Seconds (capture time) a datagram may take to complete.
pub const TIMEOUT: f64 = 30.0;

/// One IPv4 fragment, borrowed from its packet.
#[derive(Debug, Clone)]
pub struct Fragment<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub id: u16,
    pub proto: u8,
    /// Byte offset of `payload` in the datagram.
    pub offset: usize,
    pub more: bool,
    /// The fragment's IPv4 header (options included).
    pub header: Vec<u8>,
    pub payload: &'a [u8],
}

type Key = (Ipv4Addr, Ipv4Addr, u16, u8);

struct Datagram {
    first_seen: f64,
    /// The header of the fragment at offset 0, once seen.
    header: Option<Vec<u8>>,
    /// Total payload length, once the last fragment is seen.
    total: Option<usize>,
    parts: Vec<(usize, Vec<u8>)>,
}

/// What happened to the fragments, for the run's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefragStats {
    pub reassembled: u64,
    /// Datagrams given up: timed out, evicted, over the size limit, or
    /// inconsistent (two different last fragments).
    pub dropped: u64,
}

#[derive(Default)]
pub struct Defrag {
    pending: HashMap<Key, Datagram, foldhash::fast::RandomState>,
    pub stats: DefragStats,
}

impl Defrag {
    /// Add a fragment; returns the whole datagram (an IPv4 packet without
    /// fragmentation) when this fragment completes it.
    pub fn add(&mut self, f: Fragment<'_>, ts: f64) -> Option<Vec<u8>> {
        let key = (f.src, f.dst, f.id, f.proto);
        let end = f.offset + f.payload.len();
        if end > 65_535 - 20 {
            self.drop_datagram(&key);
            return None;
        }
        self.expire(ts);
        if !self.pending.contains_key(&key) && self.pending.len() >= MAX_DATAGRAMS {
            let oldest = self
                .pending
                .iter()
                .min_by(|a, b| a.1.first_seen.total_cmp(&b.1.first_seen))
                .map(|(k, _)| *k)
                .expect("full");
            self.drop_datagram(&oldest);
        }
        let d = self.pending.entry(key).or_insert_with(|| Datagram {
            first_seen: ts,
            header: None,
            total: None,
            parts: Vec::new(),
        });
        if f.offset == 0 && d.header.is_none() {
            d.header = Some(f.header);
        }
        if !f.more {
            if d.total.is_some_and(|t| t != end) {
                self.drop_datagram(&key);
                return None;
            }
            d.total = Some(end);
        }
        d.parts.push((f.offset, f.payload.to_vec()));
        let total = d.total?;
        d.header.as_ref()?;
        // Complete when the parts, by offset, cover 0..total.
        d.parts.sort_by_key(|p| p.0);
        let mut covered = 0;
        for (off, data) in &d.parts {
            if *off > covered {
                return None;
            }
            covered = covered.max(off + data.len());
        }
        if covered < total {
            return None;
        }
        let d = self.pending.remove(&key).expect("present");
        let header = d.header.expect("checked");
        let mut out = Vec::with_capacity(header.len() + total);
        out.extend_from_slice(&header);
        for (off, data) in &d.parts {
            let have = out.len() - header.len();
            if off + data.len() > have {
                out.extend_from_slice(&data[have - off..]);
            }
        }
        out.truncate(header.len() + total);
        let len = out.len() as u16;
        out[2..4].copy_from_slice(&len.to_be_bytes());
        // Clear MF and the offset (keep DF); the checksum is not verified.
        out[6] &= 0x40;
        out[7] = 0;
        self.stats.reassembled += 1;
        Some(out)
    }

    /// Datagrams in progress.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn drop_datagram(&mut self, key: &Key) {
        if self.pending.remove(key).is_some() {
            self.stats.dropped += 1;
        }
    }

    fn expire(&mut self, now: f64) {
        let before = self.pending.len();
        self.pending.retain(|_, d| now - d.first_seen <= TIMEOUT);
        self.stats.dropped += (before - self.pending.len()) as u64;
    }
}
