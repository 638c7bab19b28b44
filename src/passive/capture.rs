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

use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};
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
    pub data: &'a [u8],
    /// 1-based packet number in the file.
    pub number: u64,
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
    let mut capacity = BUFFER;
    loop {
        let at = reader.consumed() as u64;
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
                            data: &b.data[..b.data.len().min(b.caplen as usize)],
                            number: stats.packets,
                        });
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => ifaces.clear(),
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
                        let data = &epb.data[..epb.data.len().min(epb.caplen as usize)];
                        stats.bytes += data.len() as u64;
                        f(Packet {
                            ts,
                            linktype: i.linktype,
                            data,
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
                            number: stats.packets,
                        });
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(len);
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
#[derive(Debug, Clone, Copy)]
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
    pub payload: &'a [u8],
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
        }),
        _ => Err(Skip::NotTcp),
    }
}

/// The IPv4 fragment a packet carries ([`tcp_segment`] said
/// [`Skip::Fragment`]); `None` for IPv6 fragments.
pub fn ipv4_fragment(linktype: i32, data: &[u8]) -> Option<Fragment<'_>> {
    let sliced = slice(linktype, data).ok()?;
    let Some(NetSlice::Ipv4(ip)) = sliced.net else {
        return None;
    };
    let payload = ip.payload().payload;
    let h = ip.header();
    Some(Fragment {
        src: h.source_addr(),
        dst: h.destination_addr(),
        id: h.identification(),
        proto: h.protocol().0,
        offset: usize::from(h.fragments_offset().value()) * 8,
        more: h.more_fragments(),
        header: h.slice().to_vec(),
        payload,
    })
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
            if data.len() < 16 {
                return Err(Skip::Malformed);
            }
            let et = EtherType(u16::from_be_bytes([data[14], data[15]]));
            SlicedPacket::from_ether_type(et, &data[16..])
        }
        LINKTYPE_LINUX_SLL2 => {
            // 20-byte header; the protocol (an EtherType) comes first.
            if data.len() < 20 {
                return Err(Skip::Malformed);
            }
            let et = EtherType(u16::from_be_bytes([data[0], data[1]]));
            SlicedPacket::from_ether_type(et, &data[20..])
        }
        LINKTYPE_RAW | LINKTYPE_RAW_OPENBSD | LINKTYPE_RAW_BSD | LINKTYPE_IPV4 | LINKTYPE_IPV6 => {
            SlicedPacket::from_ip(data)
        }
        LINKTYPE_NULL | LINKTYPE_LOOP => {
            if data.len() < 4 {
                return Err(Skip::Malformed);
            }
            SlicedPacket::from_ip(&data[4..])
        }
        _ => return Err(Skip::Linktype),
    }
    .map_err(|_| Skip::Malformed)
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
}
