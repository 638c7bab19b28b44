//! Reading capture files and slicing packets down to TCP segments.
//!
//! The file is streamed through `pcap-parser`'s buffered reader, so memory
//! is one read buffer (it grows only for a single block larger than it, up
//! to [`MAX_BLOCK`]) no matter how large the capture is. A damaged file
//! ends the read with a [`CaptureError`] that names the byte offset and the
//! packet number; everything before it has already been delivered.
//!
//! Link layers: Ethernet (with VLAN/QinQ, via etherparse), Linux cooked
//! capture v1 (SLL) and v2 (SLL2), raw IP (v4 and v6 link types), and BSD
//! loopback (NULL and LOOP, whose 4-byte family is host or network order;
//! the IP version nibble decides).

use std::io::Read;
use std::net::IpAddr;

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, NetSlice, SlicedPacket, TransportSlice};
use pcap_parser::{Linktype, PcapBlockOwned, PcapError, pcapng::Block};

use super::defrag::Fragment;

/// Initial read buffer.
const BUFFER: usize = 256 * 1024;
/// The largest block we accept; a corrupt length field beyond this is
/// reported instead of being allocated.
pub const MAX_BLOCK: usize = 16 * 1024 * 1024;

/// Where and why a capture could not be read further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureError {
    pub file: String,
    /// Byte offset of the block that could not be read.
    pub offset: u64,
    /// 1-based number of the packet that could not be read (packets read
    /// before it were processed).
    pub packet: u64,
    pub message: String,
}

impl std::fmt::Display for CaptureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: byte offset {}, packet {}: {}",
            self.file, self.offset, self.packet, self.message
        )
    }
}

impl std::error::Error for CaptureError {}

/// One captured packet, borrowed from the read buffer.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Seconds since the epoch.
    pub ts: f64,
    pub linktype: i32,
    /// The bytes captured: the first `orig_len` or fewer.
    pub data: &'a [u8],
    /// The packet's length on the wire. More than `data.len()` when the
    /// capture cut it (its snap length): see [`cut_tcp_segment`].
    pub orig_len: usize,
    /// 1-based packet number in the file.
    pub number: u64,
}

impl Packet<'_> {
    /// Whether the capture kept less of the packet than was sent.
    pub fn cut(&self) -> bool {
        self.orig_len > self.data.len()
    }
}

/// Read counters for one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub packets: u64,
    pub bytes: u64,
}

struct Iface {
    linktype: i32,
    resolution: u64,
    offset: i64,
}

/// Stream every packet of a pcap or pcapng capture to `f`.
pub fn for_each_packet(
    name: &str,
    input: impl Read + Send,
    mut f: impl FnMut(Packet<'_>),
) -> Result<ReadStats, CaptureError> {
    let mut stats = ReadStats::default();
    let err = |offset: u64, packet: u64, message: String| CaptureError {
        file: name.to_string(),
        offset,
        packet,
        message,
    };
    let mut reader = match pcap_parser::create_reader(BUFFER, input) {
        Ok(r) => r,
        Err(PcapError::Eof) => return Err(err(0, 1, "empty file".into())),
        Err(PcapError::HeaderNotRecognized) => {
            return Err(err(0, 1, "not a pcap or pcapng capture".into()));
        }
        Err(e) => return Err(err(0, 1, format!("cannot read the file header: {e:?}"))),
    };
    // Legacy pcap: one link type and timestamp unit for the file.
    let mut legacy: Option<(i32, f64)> = None;
    // pcapng: per section, the interfaces in order.
    let mut ifaces: Vec<Iface> = Vec::new();
    // pcapng: the current section's byte order.
    let mut ng_big_endian: Option<bool> = None;
    let mut capacity = BUFFER;
    loop {
        let at = reader.consumed() as u64;
        if ng_big_endian.is_some_and(|be| short_process_block(reader.data(), be)) {
            return Err(err(
                at,
                stats.packets + 1,
                "process information block shorter than its header".into(),
            ));
        }
        match reader.next() {
            Ok((len, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        let unit = if h.is_nanosecond_precision() {
                            1e-9
                        } else {
                            1e-6
                        };
                        legacy = Some((h.network.0, unit));
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let (linktype, unit) = legacy.unwrap_or((1, 1e-6));
                        stats.packets += 1;
                        stats.bytes += b.data.len() as u64;
                        f(Packet {
                            ts: f64::from(b.ts_sec) + f64::from(b.ts_usec) * unit,
                            linktype,
                            data: b.data.get(..b.caplen as usize).unwrap_or(b.data),
                            orig_len: b.origlen as usize,
                            number: stats.packets,
                        });
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                        ng_big_endian = Some(shb.big_endian());
                        ifaces.clear();
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => ifaces.push(Iface {
                        linktype: idb.linktype.0,
                        resolution: idb.ts_resolution().unwrap_or(1_000_000),
                        offset: idb.ts_offset(),
                    }),
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        stats.packets += 1;
                        let Some(i) = ifaces.get(epb.if_id as usize) else {
                            let n = stats.packets;
                            return Err(err(at, n, format!("unknown interface {}", epb.if_id)));
                        };
                        let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let ts = i.offset as f64
                            + (raw / i.resolution) as f64
                            + (raw % i.resolution) as f64 / i.resolution as f64;
                        let data = epb.data.get(..epb.caplen as usize).unwrap_or(epb.data);
                        stats.bytes += data.len() as u64;
                        f(Packet {
                            ts,
                            linktype: i.linktype,
                            data,
                            orig_len: epb.origlen as usize,
                            number: stats.packets,
                        });
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        stats.packets += 1;
                        let Some(i) = ifaces.first() else {
                            let n = stats.packets;
                            return Err(err(at, n, "simple packet before any interface".into()));
                        };
                        stats.bytes += spb.data.len() as u64;
                        f(Packet {
                            ts: 0.0,
                            linktype: i.linktype,
                            data: spb.data,
                            orig_len: spb.origlen as usize,
                            number: stats.packets,
                        });
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                // No shift per block: `refill` moves the leftover partial block to
                // the front once per read. (`consume` shifts whenever half the
                // buffer is used, which copied the whole file a second time.)
                reader.consume_noshift(len);
            }
            Err(PcapError::Eof) => return Ok(stats),
            Err(PcapError::Incomplete(_)) => {
                if let Err(e) = reader.refill() {
                    return Err(err(at, stats.packets + 1, format!("read error: {e:?}")));
                }
            }
            Err(PcapError::BufferTooSmall) => {
                if capacity >= MAX_BLOCK {
                    return Err(err(
                        at,
                        stats.packets + 1,
                        format!("block larger than {MAX_BLOCK} bytes (corrupt length?)"),
                    ));
                }
                capacity *= 4;
                reader.grow(capacity);
                if let Err(e) = reader.refill() {
                    return Err(err(at, stats.packets + 1, format!("read error: {e:?}")));
                }
            }
            Err(PcapError::UnexpectedEof) => {
                return Err(err(
                    at,
                    stats.packets + 1,
                    "truncated: the file ends inside a packet record".into(),
                ));
            }
            Err(e) => {
                let msg = match e {
                    PcapError::NomError(_, k) | PcapError::OwnedNomError(_, k) => {
                        format!("corrupt record ({k:?})")
                    }
                    PcapError::ReadError => "read error".into(),
                    other => format!("{other:?}"),
                };
                return Err(err(at, stats.packets + 1, msg));
            }
        }
    }
}

/// A TCP segment, sliced out of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: Option<u32>,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    /// The payload as captured.
    pub payload: &'a [u8],
    /// Payload bytes after `payload` that the capture cut off (0 but for
    /// [`cut_tcp_segment`]).
    pub missing: u32,
}

/// Why a packet yielded no TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A link type we do not decode.
    Linktype,
    /// Not IP, or not TCP.
    NotTcp,
    /// An IP fragment (IPv4 fragments are reassembled by
    /// [`super::defrag`], see [`ipv4_fragment`]).
    Fragment,
    /// The headers did not parse (truncated by the snap length, corrupt).
    Malformed,
}

const LINKTYPE_NULL: i32 = 0;
const LINKTYPE_ETHERNET: i32 = 1;
const LINKTYPE_RAW_OPENBSD: i32 = 12;
const LINKTYPE_RAW_BSD: i32 = 14;
const LINKTYPE_RAW: i32 = 101;
const LINKTYPE_LOOP: i32 = 108;
const LINKTYPE_LINUX_SLL: i32 = 113;
const LINKTYPE_IPV4: i32 = 228;
const LINKTYPE_IPV6: i32 = 229;
const LINKTYPE_LINUX_SLL2: i32 = 276;

/// Whether `linktype` is one [`tcp_segment`] decodes.
pub fn linktype_supported(linktype: i32) -> bool {
    matches!(
        linktype,
        LINKTYPE_NULL
            | LINKTYPE_ETHERNET
            | LINKTYPE_RAW_OPENBSD
            | LINKTYPE_RAW_BSD
            | LINKTYPE_RAW
            | LINKTYPE_LOOP
            | LINKTYPE_LINUX_SLL
            | LINKTYPE_IPV4
            | LINKTYPE_IPV6
            | LINKTYPE_LINUX_SLL2
    )
}

/// Slice a packet down to its TCP segment.
pub fn tcp_segment(linktype: i32, data: &[u8]) -> Result<Segment<'_>, Skip> {
    match ipv4_tcp_fast(linktype, data) {
        Some(seg) => Ok(seg),
        None => tcp_segment_generic(linktype, data),
    }
}

/// Any supported link type, through etherparse.
fn tcp_segment_generic(linktype: i32, data: &[u8]) -> Result<Segment<'_>, Skip> {
    let sliced = slice(linktype, data)?;
    let (src, dst, fragmented) = match &sliced.net {
        Some(NetSlice::Ipv4(ip)) => (
            IpAddr::V4(ip.header().source_addr()),
            IpAddr::V4(ip.header().destination_addr()),
            ip.payload().fragmented,
        ),
        Some(NetSlice::Ipv6(ip)) => (
            IpAddr::V6(ip.header().source_addr()),
            IpAddr::V6(ip.header().destination_addr()),
            ip.payload().fragmented,
        ),
        _ => return Err(Skip::NotTcp),
    };
    if fragmented {
        return Err(Skip::Fragment);
    }
    match sliced.transport {
        Some(TransportSlice::Tcp(t)) => Ok(Segment {
            src,
            dst,
            sport: t.source_port(),
            dport: t.destination_port(),
            seq: t.sequence_number(),
            ack: t.ack().then(|| t.acknowledgment_number()),
            syn: t.syn(),
            fin: t.fin(),
            rst: t.rst(),
            payload: t.payload(),
            missing: 0,
        }),
        _ => Err(Skip::NotTcp),
    }
}

/// Slice a packet the capture cut short (captured length below the
/// packet's length, e.g. `tcpdump -s 96`) down to its TCP segment: the
/// headers must have been captured whole; the payload is what was kept,
/// and `missing` is how much of it the IP length says was cut off. The
/// lax slicing is only for such packets: a whole packet whose lengths
/// disagree is malformed, as [`tcp_segment`] says.
pub fn cut_tcp_segment(linktype: i32, data: &[u8]) -> Result<Segment<'_>, Skip> {
    let sliced = lax_slice(linktype, data)?;
    let at = |s: &[u8]| s.as_ptr() as usize - data.as_ptr() as usize;
    // Where the IP packet ends, by its own length field.
    let (src, dst, fragmented, ip_end) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                ip.payload().fragmented,
                at(h.slice()) + usize::from(h.total_len()),
            )
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                ip.payload().fragmented,
                at(h.slice()) + 40 + usize::from(h.payload_length()),
            )
        }
        _ => return Err(Skip::NotTcp),
    };
    if fragmented {
        return Err(Skip::Fragment);
    }
    match sliced.transport {
        Some(TransportSlice::Tcp(t)) => {
            let payload = t.payload();
            let missing = ip_end.saturating_sub(at(payload) + payload.len());
            Ok(Segment {
                src,
                dst,
                sport: t.source_port(),
                dport: t.destination_port(),
                seq: t.sequence_number(),
                ack: t.ack().then(|| t.acknowledgment_number()),
                syn: t.syn(),
                fin: t.fin(),
                rst: t.rst(),
                payload,
                missing: u32::try_from(missing).unwrap_or(u32::MAX),
            })
        }
        // The IP layer was read but not the TCP header: cut inside it.
        None if sliced.stop_err.is_some() => Err(Skip::Malformed),
        _ => Err(Skip::NotTcp),
    }
}

/// The common case sliced directly: Ethernet II (or raw IPv4) carrying an
/// unfragmented IPv4 packet carrying TCP. It accepts only what etherparse
/// slices to the same segment (the same length checks, the payload cut at
/// the IPv4 total length) and leaves everything else to it: VLAN tags,
/// IPv6, fragments, other protocols, anything malformed. Generic slicing
/// was a tenth of the pipeline; a test compares both on mutated packets.
fn ipv4_tcp_fast(linktype: i32, data: &[u8]) -> Option<Segment<'_>> {
    // The fixed headers are taken as arrays, so the field reads below are
    // checked at compile time.
    let ip = match linktype {
        LINKTYPE_ETHERNET => match data.split_first_chunk::<14>() {
            Some((eth, ip)) if eth[12..14] == [0x08, 0x00] => ip,
            _ => return None,
        },
        LINKTYPE_RAW | LINKTYPE_IPV4 => data,
        _ => return None,
    };
    let h: &[u8; 20] = ip.first_chunk()?;
    if h[0] >> 4 != 4 || h[9] != 6 {
        return None;
    }
    let ihl = usize::from(h[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // More fragments, or a fragment offset.
    let fragment = u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0;
    if ihl < 20 || total < ihl || ip.len() < total || fragment {
        return None;
    }
    let tcp = ip.get(ihl..total)?;
    let t: &[u8; 20] = tcp.first_chunk()?;
    let offset = usize::from(t[12] >> 4) * 4;
    if offset < 20 {
        return None;
    }
    let payload = tcp.get(offset..)?;
    let flags = t[13];
    Some(Segment {
        src: IpAddr::from([h[12], h[13], h[14], h[15]]),
        dst: IpAddr::from([h[16], h[17], h[18], h[19]]),
        sport: u16::from_be_bytes([t[0], t[1]]),
        dport: u16::from_be_bytes([t[2], t[3]]),
        seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        ack: (flags & 0x10 != 0).then(|| u32::from_be_bytes([t[8], t[9], t[10], t[11]])),
        syn: flags & 0x02 != 0,
        fin: flags & 0x01 != 0,
        rst: flags & 0x04 != 0,
        payload,
        missing: 0,
    })
}

/// The fragment a packet that [`tcp_segment`] called a fragment carries,
/// IPv4 or IPv6; `None` if it cannot be read as one.
pub fn ip_fragment(linktype: i32, data: &[u8]) -> Option<Fragment<'_>> {
    let sliced = slice(linktype, data).ok()?;
    match sliced.net? {
        NetSlice::Ipv4(ip) => {
            let h = ip.header();
            Some(Fragment {
                src: IpAddr::V4(h.source_addr()),
                dst: IpAddr::V4(h.destination_addr()),
                id: u32::from(h.identification()),
                proto: h.protocol().0,
                offset: usize::from(h.fragments_offset().value()) * 8,
                more: h.more_fragments(),
                header: h.slice().to_vec(),
                payload: ip.payload().payload,
            })
        }
        NetSlice::Ipv6(ip) => {
            // Where the IPv6 header starts in `data` (after whatever link
            // header and VLAN tags etherparse went through).
            let start =
                (ip.header().slice().as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
            ipv6_fragment(data.get(start..)?)
        }
        _ => None,
    }
}

/// An IPv6 packet's Fragment header and what surrounds it: walks the
/// extension headers that may come before it (hop-by-hop, routing,
/// destination options).
fn ipv6_fragment(packet: &[u8]) -> Option<Fragment<'_>> {
    const HOP_BY_HOP: u8 = 0;
    const ROUTING: u8 = 43;
    const FRAGMENT: u8 = 44;
    const DEST_OPTS: u8 = 60;
    let fixed: &[u8; 40] = packet.first_chunk()?;
    let payload_len = usize::from(u16::from_be_bytes([fixed[4], fixed[5]]));
    let packet = packet.get(..40 + payload_len)?;
    // Offset of the byte naming the next header, and of that header.
    let (mut next_at, mut at) = (6, 40);
    loop {
        match *packet.get(next_at)? {
            FRAGMENT => break,
            HOP_BY_HOP | ROUTING | DEST_OPTS => {
                let len = (usize::from(*packet.get(at + 1)?) + 1) * 8;
                packet.get(at..at + len)?;
                (next_at, at) = (at, at + len);
            }
            _ => return None,
        }
    }
    let (f, payload) = packet.get(at..)?.split_first_chunk::<8>()?;
    let off = u16::from_be_bytes([f[2], f[3]]);
    let mut header = packet.get(..at)?.to_vec();
    *header.get_mut(next_at)? = f[0];
    let src: [u8; 16] = fixed[8..24].try_into().ok()?;
    let dst: [u8; 16] = fixed[24..40].try_into().ok()?;
    Some(Fragment {
        src: IpAddr::from(src),
        dst: IpAddr::from(dst),
        id: u32::from_be_bytes([f[4], f[5], f[6], f[7]]),
        proto: f[0],
        offset: usize::from(off >> 3) * 8,
        more: off & 1 != 0,
        header,
        payload,
    })
}

/// Whether `data` (a pcapng section in this byte order) starts with a
/// process information block whose length field is under 12, the three
/// fields every block has. pcap-parser 0.17 checks that block against a
/// minimum of 4 and then subtracts 12: an overflow (a panic in builds with
/// overflow checks) on a damaged file, found by the fuzz target `pcap`.
fn short_process_block(data: &[u8], big_endian: bool) -> bool {
    const PROCESS_INFORMATION: u32 = 0x8000_0001;
    let Some((&[t0, t1, t2, t3, l0, l1, l2, l3], _)) = data.split_first_chunk::<8>() else {
        return false;
    };
    let (kind, len) = if big_endian {
        (
            u32::from_be_bytes([t0, t1, t2, t3]),
            u32::from_be_bytes([l0, l1, l2, l3]),
        )
    } else {
        (
            u32::from_le_bytes([t0, t1, t2, t3]),
            u32::from_le_bytes([l0, l1, l2, l3]),
        )
    };
    kind == PROCESS_INFORMATION && len < 12
}

/// Raw IPv4 or IPv6, as [`tcp_segment`] takes it with this link type.
pub const LINKTYPE_RAW_IP: i32 = LINKTYPE_RAW;

/// The link layer, down to the network layer.
fn slice(linktype: i32, data: &[u8]) -> Result<SlicedPacket<'_>, Skip> {
    match linktype {
        LINKTYPE_ETHERNET => SlicedPacket::from_ethernet(data),
        LINKTYPE_LINUX_SLL => {
            // 16-byte header; the protocol (an EtherType) is last. Parsed
            // here rather than by etherparse, which rejects some ARPHRD
            // types (loopback captures, for one).
            let Some((h, rest)) = data.split_first_chunk::<16>() else {
                return Err(Skip::Malformed);
            };
            let et = EtherType(u16::from_be_bytes([h[14], h[15]]));
            SlicedPacket::from_ether_type(et, rest)
        }
        LINKTYPE_LINUX_SLL2 => {
            // 20-byte header; the protocol (an EtherType) comes first.
            let Some((h, rest)) = data.split_first_chunk::<20>() else {
                return Err(Skip::Malformed);
            };
            let et = EtherType(u16::from_be_bytes([h[0], h[1]]));
            SlicedPacket::from_ether_type(et, rest)
        }
        LINKTYPE_RAW | LINKTYPE_RAW_OPENBSD | LINKTYPE_RAW_BSD | LINKTYPE_IPV4 | LINKTYPE_IPV6 => {
            SlicedPacket::from_ip(data)
        }
        LINKTYPE_NULL | LINKTYPE_LOOP => {
            let Some(ip) = data.get(4..) else {
                return Err(Skip::Malformed);
            };
            SlicedPacket::from_ip(ip)
        }
        _ => return Err(Skip::Linktype),
    }
    .map_err(|_| Skip::Malformed)
}

/// [`slice`] with etherparse's lax length checks, for cut packets.
fn lax_slice(linktype: i32, data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    let ip = |b| LaxSlicedPacket::from_ip(b).map_err(|_| Skip::Malformed);
    match linktype {
        LINKTYPE_ETHERNET => LaxSlicedPacket::from_ethernet(data).map_err(|_| Skip::Malformed),
        LINKTYPE_LINUX_SLL => match data.split_first_chunk::<16>() {
            Some((h, rest)) => {
                let et = EtherType(u16::from_be_bytes([h[14], h[15]]));
                Ok(LaxSlicedPacket::from_ether_type(et, rest))
            }
            None => Err(Skip::Malformed),
        },
        LINKTYPE_LINUX_SLL2 => match data.split_first_chunk::<20>() {
            Some((h, rest)) => {
                let et = EtherType(u16::from_be_bytes([h[0], h[1]]));
                Ok(LaxSlicedPacket::from_ether_type(et, rest))
            }
            None => Err(Skip::Malformed),
        },
        LINKTYPE_RAW | LINKTYPE_RAW_OPENBSD | LINKTYPE_RAW_BSD | LINKTYPE_IPV4 | LINKTYPE_IPV6 => {
            ip(data)
        }
        LINKTYPE_NULL | LINKTYPE_LOOP => data.get(4..).map_or(Err(Skip::Malformed), ip),
        _ => Err(Skip::Linktype),
    }
}

/// Linktype values, for messages.
pub fn linktype_name(l: i32) -> String {
    format!("{:?}", Linktype(l))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passive::synth::PcapWriter;

    /// An Ethernet frame carrying TCP payload `hi`, from the synthetic
    /// writer (skipping its 24-byte file header and 16-byte record header).
    fn ethernet() -> Vec<u8> {
        let mut w = PcapWriter::new();
        w.tcp(
            1.0,
            ([10, 0, 0, 1], 1234),
            ([10, 0, 0, 2], 80),
            7,
            9,
            0x18,
            b"hi",
        );
        w.out[40..].to_vec()
    }

    fn check(linktype: i32, data: &[u8]) {
        let s = tcp_segment(linktype, data).unwrap_or_else(|e| panic!("{linktype}: {e:?}"));
        assert_eq!(
            (s.sport, s.dport, s.seq, s.payload),
            (1234, 80, 7, &b"hi"[..])
        );
        assert_eq!(s.src, IpAddr::from([10, 0, 0, 1]));
    }

    #[test]
    fn every_supported_link_type() {
        let eth = ethernet();
        let ip = &eth[14..];
        check(LINKTYPE_ETHERNET, &eth);
        // 802.1Q VLAN tag between the MACs and the EtherType.
        let vlan = [&eth[..12], &[0x81, 0x00, 0x00, 0x2a], &eth[12..]].concat();
        check(LINKTYPE_ETHERNET, &vlan);
        let sll = [&[0, 0, 3, 4, 0, 6][..], &[0; 8], &[0x08, 0x00], ip].concat();
        check(LINKTYPE_LINUX_SLL, &sll);
        let sll2 = [&[0x08, 0x00, 0, 0][..], &[0; 16], ip].concat();
        check(LINKTYPE_LINUX_SLL2, &sll2);
        for raw in [LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_RAW_BSD] {
            check(raw, ip);
        }
        check(LINKTYPE_NULL, &[&2u32.to_le_bytes()[..], ip].concat());
        check(LINKTYPE_LOOP, &[&2u32.to_be_bytes()[..], ip].concat());
        assert_eq!(tcp_segment(147, ip).unwrap_err(), Skip::Linktype);
        assert_eq!(
            tcp_segment(LINKTYPE_ETHERNET, &eth[..20]).unwrap_err(),
            Skip::Malformed
        );
        assert!(linktype_supported(LINKTYPE_LINUX_SLL2) && !linktype_supported(147));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The fast path gives exactly etherparse's segment, or leaves the
        /// packet to it. Packets: the synthetic frame with IP and TCP
        /// options, a payload, then a few bytes overwritten (anywhere, but
        /// mostly in the headers) and maybe cut short.
        #[test]
        fn fast_slicing_agrees_with_etherparse(
            ip_opts in 0usize..3,
            tcp_opts in 0usize..3,
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            edits in proptest::collection::vec((
                proptest::prop_oneof![
                    // EtherType, version/IHL, total length, flags and
                    // fragment offset, protocol, TCP data offset.
                    proptest::sample::select(vec![12usize, 13, 14, 16, 17, 20, 21, 23, 46]),
                    0usize..70,
                ],
                proptest::prop_oneof![
                    proptest::sample::select(vec![0u8, 1, 4, 5, 6, 0x20, 0x40, 0x41, 0x44, 0x45, 0x50, 0x60, 0x86]),
                    proptest::num::u8::ANY,
                ],
            ), 0..3),
            cut in proptest::option::weighted(0.25, 1usize..16),
            raw in proptest::bool::ANY,
        ) {
            let mut w = PcapWriter::new();
            w.tcp(1.0, ([10, 0, 0, 1], 1234), ([10, 0, 0, 2], 80), 7, 9, 0x18, &payload);
            let mut eth = w.out[40..].to_vec();
            // Widen the IP header (IHL, total length) and the TCP header
            // (data offset) with zero option words.
            let tcp_at = 14 + 20;
            eth.splice(tcp_at + 20..tcp_at + 20, vec![1; 4 * tcp_opts]);
            eth[tcp_at + 12] = ((5 + tcp_opts as u8) << 4) | (eth[tcp_at + 12] & 0x0f);
            eth.splice(tcp_at..tcp_at, vec![1; 4 * ip_opts]);
            eth[14] = 0x45 + ip_opts as u8;
            let total = (eth.len() - 14) as u16;
            eth[16..18].copy_from_slice(&total.to_be_bytes());
            for (at, b) in edits {
                if at < eth.len() {
                    eth[at] = b;
                }
            }
            eth.truncate(eth.len().saturating_sub(cut.unwrap_or(0)));
            let (linktype, data) = if raw {
                (LINKTYPE_RAW, &eth[14.min(eth.len())..])
            } else {
                (LINKTYPE_ETHERNET, &eth[..])
            };
            if let Some(fast) = ipv4_tcp_fast(linktype, data) {
                proptest::prop_assert_eq!(Ok(fast), tcp_segment_generic(linktype, data));
            }
        }
    }

    #[test]
    fn a_cut_packet_keeps_its_headers_and_says_what_it_lost() {
        let mut w = PcapWriter::new();
        let payload = [7u8; 100];
        w.tcp(
            1.0,
            ([10, 0, 0, 1], 1234),
            ([10, 0, 0, 2], 80),
            7,
            9,
            0x18,
            &payload,
        );
        let eth = &w.out[40..];
        let cut = &eth[..96];
        assert_eq!(tcp_segment(LINKTYPE_ETHERNET, cut), Err(Skip::Malformed));
        let s = cut_tcp_segment(LINKTYPE_ETHERNET, cut).unwrap();
        assert_eq!((s.sport, s.seq, s.ack), (1234, 7, Some(9)));
        assert_eq!((s.payload.len(), s.missing), (96 - 54, 100 - (96 - 54)));
        // The same over Linux SLL, and cut inside the TCP header.
        let sll = [&[0, 0, 3, 4, 0, 6][..], &[0; 8], &[0x08, 0x00], &eth[14..]].concat();
        let s = cut_tcp_segment(LINKTYPE_LINUX_SLL, &sll[..96]).unwrap();
        assert_eq!((s.payload.len(), s.missing), (96 - 56, 100 - (96 - 56)));
        assert_eq!(
            cut_tcp_segment(LINKTYPE_ETHERNET, &eth[..40]),
            Err(Skip::Malformed)
        );
        // Cut in the Ethernet padding only: nothing of the payload lost.
        let padded = [eth, &[0u8; 6]].concat();
        let s = cut_tcp_segment(LINKTYPE_ETHERNET, &padded[..eth.len() + 2]).unwrap();
        assert_eq!((s.payload.len(), s.missing), (100, 0));
    }

    #[test]
    fn the_fast_path_takes_the_common_case_only() {
        let eth = ethernet();
        assert!(ipv4_tcp_fast(LINKTYPE_ETHERNET, &eth).is_some());
        assert!(ipv4_tcp_fast(LINKTYPE_RAW, &eth[14..]).is_some());
        let vlan = [&eth[..12], &[0x81, 0x00, 0x00, 0x2a], &eth[12..]].concat();
        assert!(ipv4_tcp_fast(LINKTYPE_ETHERNET, &vlan).is_none());
        let mut frag = eth.clone();
        frag[20] = 0x20; // more fragments
        assert!(ipv4_tcp_fast(LINKTYPE_ETHERNET, &frag).is_none());
        assert_eq!(tcp_segment(LINKTYPE_ETHERNET, &frag), Err(Skip::Fragment));
        // Ethernet padding after the IP packet is not payload.
        let padded = [&eth[..], &[0u8; 6]].concat();
        assert_eq!(
            tcp_segment(LINKTYPE_ETHERNET, &padded).unwrap().payload,
            b"hi"
        );
    }

    #[test]
    fn pcapng_and_nanosecond_pcap_timestamps() {
        // Nanosecond legacy pcap: same records, other magic.
        let mut w = PcapWriter::new();
        w.tcp(
            5.0,
            ([10, 0, 0, 1], 1234),
            ([10, 0, 0, 2], 80),
            7,
            9,
            0x18,
            b"hi",
        );
        let mut ns = w.out.clone();
        ns[..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        ns[28..32].copy_from_slice(&500_000_000u32.to_le_bytes());
        let mut ts = Vec::new();
        for_each_packet("ns", &ns[..], |p| ts.push(p.ts)).unwrap();
        assert_eq!(ts, vec![5.5]);
        let e = for_each_packet("junk", &b"0123456789abcdefghijklmnopqrstuvwxyz"[..], |_| {})
            .unwrap_err();
        assert_eq!((e.offset, e.packet), (0, 1));
        assert!(e.to_string().starts_with("junk: byte offset 0"), "{e}");
    }

    /// A section header block, then a process information block whose
    /// length field is `pib_len` (the fuzz target `pcap` found 4..12
    /// underflowing inside pcap-parser).
    fn pcapng_with_pib(big_endian: bool, pib_len: u32) -> Vec<u8> {
        let u32b = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut f = Vec::new();
        f.extend_from_slice(&0x0a0d_0d0au32.to_le_bytes());
        f.extend_from_slice(&u32b(28));
        f.extend_from_slice(&u32b(0x1a2b_3c4d)); // byte-order magic
        let u16b = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        f.extend_from_slice(&u16b(1)); // version 1.0
        f.extend_from_slice(&u16b(0));
        f.extend_from_slice(&[0xff; 8]); // section length: unknown
        f.extend_from_slice(&u32b(28));
        f.extend_from_slice(&u32b(0x8000_0001));
        f.extend_from_slice(&u32b(pib_len));
        f.extend_from_slice(&[0; 24]);
        f
    }

    #[test]
    fn a_short_process_information_block_is_a_damaged_file() {
        for big_endian in [false, true] {
            for len in [4, 8, 11] {
                let f = pcapng_with_pib(big_endian, len);
                let e = for_each_packet("pib", &f[..], |_| {}).unwrap_err();
                assert_eq!((e.offset, e.packet), (28, 1), "{e}");
            }
        }
    }
}
