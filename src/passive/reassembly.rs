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
//! - A segment the capture cut short (its record's captured length below
//!   the packet's length, e.g. a snap length of 96) is known to be missing
//!   its tail: those bytes are a gap at once ([`Chunk::Cut`]), with no
//!   waiting for an acknowledgement that may never be captured either.

use std::collections::BTreeMap;

/// What the reassembler hands on, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    Data(&'a [u8]),
    /// This many bytes of the stream are missing.
    Gap(u64),
    /// This many bytes are missing because the capture cut the packets
    /// that carried them (the snap length): the receiver had them, the
    /// capture kept only their packets' heads.
    Cut(u64),
}

#[derive(Debug, Default)]
pub struct Reassembler {
    /// Sequence number of stream offset 0 (the byte after the SYN, or the
    /// first byte seen when the capture started mid-stream).
    isn: Option<u32>,
    /// Stream offset of the next byte to deliver.
    next: u64,
    /// Out-of-order segments by stream offset: the captured bytes, and how
    /// many bytes the capture cut off their end.
    pending: BTreeMap<u64, (Vec<u8>, u64)>,
    pending_bytes: usize,
    pub max_buffer: usize,
    /// Bytes skipped as gaps, in total (cut bytes included).
    pub gap_bytes: u64,
    pub gaps: u64,
    /// Of `gap_bytes`, those the capture cut off segments.
    pub cut_bytes: u64,
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
        self.cut_segment(seq, payload, 0, out);
    }

    /// Feed one segment of which the capture kept only `captured`, the
    /// first bytes of its payload: the `missing` bytes after them are a
    /// gap ([`Chunk::Cut`]) when the stream gets there.
    pub fn cut_segment(
        &mut self,
        seq: u32,
        captured: &[u8],
        missing: u64,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        let len = captured.len() as u64 + missing;
        if len == 0 || self.closed {
            return;
        }
        if self.isn.is_none() {
            self.isn = Some(seq);
        }
        let Some(rel) = self.rel(seq) else { return };
        let end = rel + len as i64;
        if end <= 0 {
            self.retransmitted_bytes += len;
            return;
        }
        if rel <= 0 {
            let skip = (-rel) as u64;
            self.retransmitted_bytes += skip;
            self.deliver(captured, missing, skip, out);
            self.drain(out);
            return;
        }
        // Ahead of the stream: keep it for later, within the bound.
        let at = self.next + rel as u64;
        let keep = match self.pending.get(&at) {
            Some((old, old_missing)) => {
                old.len() < captured.len() || old.len() == captured.len() && *old_missing < missing
            }
            None => true,
        };
        if keep {
            if let Some((old, _)) = self.pending.insert(at, (captured.to_vec(), missing)) {
                self.pending_bytes -= old.len();
            }
            self.pending_bytes += captured.len();
        } else {
            self.retransmitted_bytes += len;
        }
        while self.pending_bytes > self.max_buffer {
            self.skip_hole(out);
        }
    }

    /// Hand on a segment that starts `skip` bytes before the next byte to
    /// deliver (and ends after it): what is new of its captured bytes, then
    /// what is new of its cut tail as a gap.
    fn deliver(
        &mut self,
        captured: &[u8],
        missing: u64,
        skip: u64,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        let have = captured.len() as u64;
        if skip < have {
            self.next += have - skip;
            out(Chunk::Data(
                captured.get(skip as usize..).unwrap_or_default(),
            ));
        }
        let cut = (have + missing).saturating_sub(skip.max(have));
        if cut > 0 {
            self.gaps += 1;
            self.gap_bytes += cut;
            self.cut_bytes += cut;
            self.next += cut;
            out(Chunk::Cut(cut));
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
            let (data, missing) = entry.remove();
            self.pending_bytes -= data.len();
            let len = data.len() as u64 + missing;
            if at + len <= self.next {
                self.retransmitted_bytes += len;
                continue;
            }
            let skip = self.next - at;
            self.retransmitted_bytes += skip;
            self.deliver(&data, missing, skip, out);
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
        C(u64),
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
            Chunk::Cut(n) => got.push(Got::C(n)),
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

    #[test]
    fn a_cut_segment_is_a_gap_at_once() {
        let mut r = Reassembler::new(1 << 20);
        r.syn(999);
        let mut got = Vec::new();
        let mut push = |c: Chunk<'_>| match c {
            Chunk::Data(d) => got.push(Got::D(d.to_vec())),
            Chunk::Gap(n) => got.push(Got::G(n)),
            Chunk::Cut(n) => got.push(Got::C(n)),
        };
        // "hello world" captured as "hel" (8 bytes cut), then the next
        // segment, then a full copy of the cut one (first copy wins).
        r.cut_segment(1000, b"hel", 8, &mut push);
        r.segment(1011, b"!", &mut push);
        r.segment(1000, b"hello world", &mut push);
        // Out of order: a cut segment waits with its missing tail.
        r.cut_segment(1016, b"xy", 3, &mut push);
        r.segment(1012, b"abcd", &mut push);
        // Headers only: the whole payload was cut.
        r.cut_segment(1021, b"", 4, &mut push);
        r.segment(1025, b"z", &mut push);
        assert_eq!(
            got,
            vec![
                Got::D(b"hel".to_vec()),
                Got::C(8),
                Got::D(b"!".to_vec()),
                Got::D(b"abcd".to_vec()),
                Got::D(b"xy".to_vec()),
                Got::C(3),
                Got::C(4),
                Got::D(b"z".to_vec()),
            ]
        );
        assert_eq!((r.gap_bytes, r.cut_bytes, r.gaps), (15, 15, 3));
        assert_eq!(r.retransmitted_bytes, 11);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn a_segment_overlapping_a_cut_tail_delivers_only_what_is_new() {
        let got = {
            let mut r = Reassembler::new(1 << 20);
            r.syn(999);
            let mut got = Vec::new();
            let mut push = |c: Chunk<'_>| match c {
                Chunk::Data(d) => got.push(Got::D(d.to_vec())),
                Chunk::Gap(n) => got.push(Got::G(n)),
                Chunk::Cut(n) => got.push(Got::C(n)),
            };
            r.segment(1000, b"ab", &mut push);
            // Starts inside what was delivered, cut after two of its bytes.
            r.cut_segment(1001, b"bc", 5, &mut push);
            // Starts inside the cut tail.
            r.segment(1006, b"fghi", &mut push);
            got
        };
        assert_eq!(
            got,
            vec![
                Got::D(b"ab".to_vec()),
                Got::D(b"c".to_vec()),
                Got::C(5),
                Got::D(b"hi".to_vec()),
            ]
        );
    }
}
