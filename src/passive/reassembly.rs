//! Per-direction TCP stream reassembly.
//!
//! There is no mature TCP reassembly crate, and what the analyser needs is
//! small: turn the segments of one direction into the byte stream the
//! receiver saw, in order, each byte once. Sequence numbers are mapped to
//! 64-bit stream offsets relative to the first byte, so wrap-around is a
//! non-issue after the first segment.
//!
//! - Retransmissions and the already-delivered part of overlapping segments
//!   are dropped (first copy wins, as most receivers do).
//! - Out-of-order segments wait in a buffer bounded by `max_buffer` bytes.
//! - A hole is declared a gap (and skipped, reported as [`Chunk::Gap`]) when
//!   the buffer is full, when the peer has acknowledged data beyond the
//!   hole (so the receiver had it: the capture missed it), or when the
//!   stream is flushed at the end.

use std::collections::BTreeMap;

/// What the reassembler hands on, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    Data(&'a [u8]),
    /// This many bytes of the stream are missing.
    Gap(u64),
}

#[derive(Debug, Default)]
pub struct Reassembler {
    /// Sequence number of stream offset 0 (the byte after the SYN, or the
    /// first byte seen when the capture started mid-stream).
    isn: Option<u32>,
    /// Stream offset of the next byte to deliver.
    next: u64,
    /// Out-of-order segments by stream offset.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    pub max_buffer: usize,
    /// Bytes skipped as gaps, in total.
    pub gap_bytes: u64,
    pub gaps: u64,
    /// Segments or parts of segments received twice.
    pub retransmitted_bytes: u64,
    /// Set by FIN or RST; later data is ignored.
    pub closed: bool,
}

impl Reassembler {
    pub fn new(max_buffer: usize) -> Self {
        Reassembler {
            max_buffer,
            ..Self::default()
        }
    }

    /// Bytes held for reordering (for memory accounting).
    pub fn buffered(&self) -> usize {
        self.pending_bytes
    }

    /// Stream offset of the next byte to be delivered.
    pub fn delivered(&self) -> u64 {
        self.next
    }

    /// Offset of `seq` relative to the next byte to deliver: the signed
    /// 32-bit distance, which is right as long as the window is < 2 GiB.
    /// `None` before the initial sequence number is known.
    fn rel(&self, seq: u32) -> Option<i64> {
        let expected = self.isn?.wrapping_add(self.next as u32);
        Some(i64::from(seq.wrapping_sub(expected) as i32))
    }

    /// A SYN fixes the initial sequence number.
    pub fn syn(&mut self, seq: u32) {
        if self.isn.is_none() {
            self.isn = Some(seq.wrapping_add(1));
        }
    }

    /// Feed one segment's payload. Deliverable bytes (and gaps) go to `out`
    /// in order.
    pub fn segment(&mut self, seq: u32, payload: &[u8], out: &mut dyn FnMut(Chunk<'_>)) {
        if payload.is_empty() || self.closed {
            return;
        }
        if self.isn.is_none() {
            self.isn = Some(seq);
        }
        let Some(rel) = self.rel(seq) else { return };
        let end = rel + payload.len() as i64;
        if end <= 0 {
            self.retransmitted_bytes += payload.len() as u64;
            return;
        }
        if rel <= 0 {
            let skip = (-rel) as usize;
            self.retransmitted_bytes += skip as u64;
            self.next += (payload.len() - skip) as u64;
            // `end > 0`: the segment reaches past what was delivered.
            out(Chunk::Data(payload.get(skip..).unwrap_or_default()));
            self.drain(out);
            return;
        }
        // Ahead of the stream: keep it for later, within the bound.
        let at = self.next + rel as u64;
        let keep = match self.pending.get(&at) {
            Some(old) => old.len() < payload.len(),
            None => true,
        };
        if keep {
            if let Some(old) = self.pending.insert(at, payload.to_vec()) {
                self.pending_bytes -= old.len();
            }
            self.pending_bytes += payload.len();
        } else {
            self.retransmitted_bytes += payload.len() as u64;
        }
        while self.pending_bytes > self.max_buffer {
            self.skip_hole(out);
        }
    }

    /// The peer acknowledged up to `ack`: if that is past a hole we are
    /// holding data behind, the receiver had the missing bytes and the
    /// capture lost them, so waiting longer is pointless.
    pub fn peer_ack(&mut self, ack: u32, out: &mut dyn FnMut(Chunk<'_>)) {
        if self.isn.is_none() || self.pending.is_empty() {
            return;
        }
        let Some(rel) = self.rel(ack) else { return };
        if rel <= 0 {
            return;
        }
        let acked = self.next + rel as u64;
        while let Some((&first, _)) = self.pending.first_key_value() {
            if first > acked || first <= self.next {
                break;
            }
            self.skip_hole(out);
        }
    }

    /// End of stream (FIN, RST, timeout, end of capture): deliver what is
    /// buffered, declaring the holes as gaps.
    pub fn flush(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while !self.pending.is_empty() {
            self.skip_hole(out);
        }
    }

    /// Skip to the first buffered segment and deliver from there.
    fn skip_hole(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        if let Some((&first, _)) = self.pending.first_key_value()
            && first > self.next
        {
            let gap = first - self.next;
            self.gaps += 1;
            self.gap_bytes += gap;
            self.next = first;
            out(Chunk::Gap(gap));
        }
        self.drain(out);
    }

    /// Deliver buffered segments that are now in order.
    fn drain(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(entry) = self.pending.first_entry() {
            let at = *entry.key();
            if at > self.next {
                break;
            }
            let data = entry.remove();
            self.pending_bytes -= data.len();
            let end = at + data.len() as u64;
            if end <= self.next {
                self.retransmitted_bytes += data.len() as u64;
                continue;
            }
            let skip = (self.next - at) as usize;
            self.retransmitted_bytes += skip as u64;
            self.next = end;
            // `at <= next < end`: part of it is new.
            out(Chunk::Data(data.get(skip..).unwrap_or_default()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Got {
        D(Vec<u8>),
        G(u64),
    }

    fn run(max: usize, steps: &[(u32, &[u8])], flush: bool) -> Vec<Got> {
        let mut r = Reassembler::new(max);
        r.syn(999);
        let mut got = Vec::new();
        let mut push = |c: Chunk<'_>| match c {
            Chunk::Data(d) => match got.last_mut() {
                Some(Got::D(v)) => v.extend_from_slice(d),
                _ => got.push(Got::D(d.to_vec())),
            },
            Chunk::Gap(n) => got.push(Got::G(n)),
        };
        for (seq, p) in steps {
            r.segment(*seq, p, &mut push);
        }
        if flush {
            r.flush(&mut push);
        }
        got
    }

    #[test]
    fn reorders_retransmits_and_overlaps() {
        let got = run(
            1 << 20,
            &[
                (1006, b"world"), // early
                (1000, b"hel"),
                (1000, b"hel"),  // retransmission
                (1002, b"llo "), // overlap
                (1008, b"rld!"), // overlaps the buffered one
            ],
            false,
        );
        assert_eq!(got, vec![Got::D(b"hello world!".to_vec())]);
    }

    #[test]
    fn wraps_around_the_sequence_space() {
        let mut r = Reassembler::new(1024);
        r.syn(u32::MAX - 2);
        let mut out = Vec::new();
        r.segment(u32::MAX - 1, b"ab", &mut |c| {
            if let Chunk::Data(d) = c {
                out.extend_from_slice(d)
            }
        });
        r.segment(0, b"cd", &mut |c| {
            if let Chunk::Data(d) = c {
                out.extend_from_slice(d)
            }
        });
        assert_eq!(out, b"abcd");
    }

    #[test]
    fn gaps_on_overflow_and_flush() {
        // Buffer of 4 bytes: the second early segment overflows it.
        let got = run(4, &[(1000, b"ab"), (1005, b"xy"), (1010, b"zzz")], false);
        assert_eq!(
            got,
            vec![Got::D(b"ab".to_vec()), Got::G(3), Got::D(b"xy".to_vec())]
        );
        let got = run(1 << 20, &[(1000, b"ab"), (1005, b"xy")], true);
        assert_eq!(got[1], Got::G(3));
    }

    #[test]
    fn ack_past_a_hole_declares_it() {
        let mut r = Reassembler::new(1 << 20);
        r.syn(0);
        let mut gaps = 0;
        r.segment(1, b"a", &mut |_| {});
        r.segment(5, b"e", &mut |_| {});
        r.peer_ack(3, &mut |c| gaps += u64::from(matches!(c, Chunk::Gap(_))));
        assert_eq!(gaps, 0, "ack before the buffered data: keep waiting");
        r.peer_ack(6, &mut |c| {
            if let Chunk::Gap(n) = c {
                gaps += n
            }
        });
        assert_eq!(gaps, 3);
        assert_eq!(r.buffered(), 0);
    }
}
