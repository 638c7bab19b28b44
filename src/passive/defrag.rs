//! IP fragment reassembly (IPv4 and IPv6), bounded.
//!
//! TCP stacks avoid fragmentation (path MTU discovery), but a capture can
//! still hold fragmented datagrams (tunnels, small-MTU links, evasion).
//! Skipping them would leave holes in the TCP stream; here the fragments of
//! a datagram are collected and, once every byte up to the last fragment is
//! there, handed back as one unfragmented IP packet.
//!
//! Bounds: [`MAX_DATAGRAMS`] datagrams in progress (the oldest is dropped
//! when full), a datagram is dropped [`TIMEOUT`] seconds (capture time)
//! after its first fragment, and none can exceed the 65 535 bytes the IP
//! length fields allow. Overlapping fragments: for each byte, the fragment
//! with the lowest offset wins (ties: the first to arrive).
//!
//! IPv6 (RFC 8200 §4.5): the fragments' unfragmentable part (the IPv6
//! header and the extension headers before the Fragment header) comes from
//! the first fragment, with the Fragment header taken out: the header
//! chain points at what followed it, and the payload length covers the
//! reassembled data. Each family has its own [`Defrag`], so their counters
//! stay apart.

use std::collections::HashMap;
use std::net::IpAddr;

/// Datagrams reassembled at once.
pub const MAX_DATAGRAMS: usize = 1024;
/// Seconds (capture time) a datagram may take to complete.
pub const TIMEOUT: f64 = 30.0;

/// One IP fragment, borrowed from its packet.
#[derive(Debug, Clone)]
pub struct Fragment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 identification (16 bits) or IPv6 Fragment header id.
    pub id: u32,
    /// IPv4 protocol, or the IPv6 Fragment header's next header.
    pub proto: u8,
    /// Byte offset of `payload` in the datagram.
    pub offset: usize,
    pub more: bool,
    /// IPv4: the fragment's header (options included). IPv6: its
    /// unfragmentable part, with the next-header field that named the
    /// Fragment header already set to `proto`.
    pub header: Vec<u8>,
    pub payload: &'a [u8],
}

type Key = (IpAddr, IpAddr, u32, u8);

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
    /// Add a fragment; returns the whole datagram (an IP packet without
    /// fragmentation) when this fragment completes it.
    pub fn add(&mut self, f: Fragment<'_>, ts: f64) -> Option<Vec<u8>> {
        let key = (f.src, f.dst, f.id, f.proto);
        let end = f.offset + f.payload.len();
        // IPv4's total length counts its header; IPv6's payload length
        // counts extension headers (which take at least 8 bytes).
        let limit = if f.src.is_ipv4() { 65_535 - 20 } else { 65_535 };
        if end > limit {
            self.drop_datagram(&key);
            return None;
        }
        self.expire(ts);
        if !self.pending.contains_key(&key)
            && self.pending.len() >= MAX_DATAGRAMS
            && let Some(oldest) = self
                .pending
                .iter()
                .min_by(|a, b| a.1.first_seen.total_cmp(&b.1.first_seen))
                .map(|(k, _)| *k)
        {
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
        // Present and with a header: both were checked just above.
        let d = self.pending.remove(&key)?;
        let header = d.header?;
        let mut out = Vec::with_capacity(header.len() + total);
        out.extend_from_slice(&header);
        for (off, data) in &d.parts {
            let have = out.len() - header.len();
            // The parts are sorted and leave no hole: `off <= have`.
            if let Some(new) = have.checked_sub(*off).and_then(|k| data.get(k..)) {
                out.extend_from_slice(new);
            }
        }
        out.truncate(header.len() + total);
        // A fragment's header is a whole IP header (20 or 40 bytes at
        // least), so the `else` arms below are never taken.
        if key.0.is_ipv4() {
            let len = out.len() as u16;
            let Some(h) = out.first_chunk_mut::<8>() else {
                self.stats.dropped += 1;
                return None;
            };
            h[2..4].copy_from_slice(&len.to_be_bytes());
            // Clear MF and the offset (keep DF); the checksum is not verified.
            h[6] &= 0x40;
            h[7] = 0;
        } else {
            let len = out
                .len()
                .checked_sub(40)
                .and_then(|n| u16::try_from(n).ok());
            let (Some(len), Some(h)) = (len, out.first_chunk_mut::<6>()) else {
                self.stats.dropped += 1;
                return None;
            };
            h[4..6].copy_from_slice(&len.to_be_bytes());
        }
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
