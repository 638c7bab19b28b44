//! One input line, parsed into a lazily indexed set of targets (a
//! [`Space`]): a URL or host is a space of ports × paths; an address
//! range or CIDR is addresses × ports × paths; a zgrab-style CSV line
//! `ip,domain,tag,port,path` is one pre-resolved target (× paths when the
//! path is empty). Nothing is materialised: `get(i)` builds the i-th
//! target, so a /8 costs no memory.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::blocklist::Blocklist;
use super::url::{Target, parse_port};

/// A contiguous address range of one family, as integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrRange {
    pub v6: bool,
    pub first: u128,
    pub last: u128,
}

impl AddrRange {
    pub fn single(ip: IpAddr) -> Self {
        let (v6, x) = to_int(ip);
        AddrRange {
            v6,
            first: x,
            last: x,
        }
    }

    /// Number of addresses (saturating at u128::MAX for ::/0).
    pub fn len(&self) -> u128 {
        (self.last - self.first).saturating_add(1)
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn nth(&self, i: u128) -> IpAddr {
        let x = self.first + i;
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(x))
        } else {
            IpAddr::V4(Ipv4Addr::from(x as u32))
        }
    }
}

fn to_int(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u32::from(a) as u128),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

/// `ip`, `ip/prefix`, `first-last` or `a.b.c.d-e` (last-octet shorthand).
pub fn parse_addr_range(s: &str) -> Result<AddrRange, String> {
    let s = s.trim();
    if let Some((ip, bits)) = s.split_once('/') {
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("{ip:?} is not an IP address"))?;
        let (v6, x) = to_int(ip);
        let width = if v6 { 128 } else { 32 };
        let bits: u32 = bits
            .parse()
            .ok()
            .filter(|b| *b <= width)
            .ok_or_else(|| format!("bad prefix length /{bits} (0..={width})"))?;
        let host_bits = width - bits;
        let mask = if host_bits == 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        return Ok(AddrRange {
            v6,
            first: x & !mask,
            last: x | mask,
        });
    }
    if let Some((a, b)) = s.split_once('-') {
        let a: IpAddr = a
            .parse()
            .map_err(|_| format!("{a:?} is not an IP address"))?;
        let b: IpAddr = match (a, b.parse::<u8>()) {
            (IpAddr::V4(v4), Ok(last)) => {
                let o = v4.octets();
                IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], last))
            }
            _ => b
                .parse()
                .map_err(|_| format!("{b:?} is not an IP address"))?,
        };
        let ((va, x), (vb, y)) = (to_int(a), to_int(b));
        if va != vb {
            return Err("a range cannot mix IPv4 and IPv6".into());
        }
        if y < x {
            return Err(format!("range {a}-{b} ends before it starts"));
        }
        return Ok(AddrRange {
            v6: va,
            first: x,
            last: y,
        });
    }
    let ip: IpAddr = s
        .parse()
        .map_err(|_| format!("{s:?} is not an IP address"))?;
    Ok(AddrRange::single(ip))
}

/// What the command line adds to every line: ports and paths for the
/// parts a line leaves open, and the default scheme.
#[derive(Debug, Clone)]
pub struct Expand {
    /// `-p/--ports`; empty = the scheme's default port.
    pub ports: Arc<[u16]>,
    /// `--paths`; empty = `/`.
    pub paths: Arc<[String]>,
    /// STEWS's `-n`: no scheme means `ws` (else `wss`).
    pub plain: bool,
    /// The default blocklist, cut out of CIDR and range lines (None:
    /// `--no-default-exclude`). See [`super::blocklist`] for the rule.
    pub blocklist: Option<Arc<Blocklist>>,
}

impl Default for Expand {
    fn default() -> Self {
        Expand {
            ports: Arc::from(Vec::new()),
            paths: Arc::from(Vec::new()),
            plain: true,
            blocklist: None,
        }
    }
}

/// `-p 80,443,8000-8010`.
pub fn parse_ports(s: &str) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (parse_port(a)?, parse_port(b)?);
                if b < a {
                    return Err(format!("port range {part:?} ends before it starts"));
                }
                out.extend(a..=b);
            }
            None => out.push(parse_port(part)?),
        }
    }
    if out.is_empty() {
        return Err("no ports given".into());
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(*p));
    Ok(out)
}

/// `--paths`: a file of paths (one per line, `#` comments) or a
/// comma-separated list. Each must start with `/`.
pub fn parse_paths(s: &str) -> Result<Vec<String>, String> {
    let (text, from_file) = match std::fs::read_to_string(s) {
        Ok(t) => (t, true),
        Err(_) if s.starts_with('/') && !s.contains('\n') && std::path::Path::new(s).exists() => {
            return Err(format!("--paths: cannot read {s}"));
        }
        Err(_) => (s.replace(',', "\n"), false),
    };
    let mut out: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let p = line.trim();
        if p.is_empty() || p.starts_with('#') {
            continue;
        }
        if !p.starts_with('/') || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
            let at = if from_file {
                format!("{s}:{}: ", i + 1)
            } else {
                String::new()
            };
            return Err(format!(
                "--paths: {at}{p:?} is not a path (must start with '/', no spaces)"
            ));
        }
        if !out.iter().any(|q| q == p) {
            out.push(p.to_string());
        }
    }
    if out.is_empty() {
        return Err("--paths: no paths given".into());
    }
    Ok(out)
}

#[derive(Debug, Clone)]
enum Hosts {
    Name(String),
    Range(AddrRange),
    /// What the default blocklist left of a range: indexed directly.
    Pieces(Arc<Pieces>),
}

impl Hosts {
    fn len(&self) -> u128 {
        match self {
            Hosts::Name(_) => 1,
            Hosts::Range(r) => r.len(),
            Hosts::Pieces(p) => p.total,
        }
    }
}

/// Sorted, disjoint ranges of one family, numbered as one: the i-th
/// address is found by a binary search over the ranges' first indices.
#[derive(Debug)]
struct Pieces {
    v6: bool,
    /// (first address, index of that address among all the pieces').
    starts: Vec<(u128, u128)>,
    total: u128,
}

impl Pieces {
    fn new(v6: bool, kept: &[AddrRange]) -> Pieces {
        let mut starts = Vec::with_capacity(kept.len());
        let mut total = 0u128;
        for k in kept {
            starts.push((k.first, total));
            total = total.saturating_add(k.len());
        }
        Pieces { v6, starts, total }
    }

    fn nth(&self, i: u128) -> IpAddr {
        let at = self.starts.partition_point(|&(_, start)| start <= i);
        let (first, start) = self.starts[at.saturating_sub(1)];
        AddrRange {
            v6: self.v6,
            first,
            last: first,
        }
        .nth(i - start)
    }
}

/// The targets of one input line.
#[derive(Debug, Clone)]
pub struct Space {
    input: String,
    hosts: Hosts,
    /// zgrab's domain: the Host header and SNI for a pre-resolved address.
    domain: Option<String>,
    pub tag: Option<String>,
    tls: bool,
    scheme: Option<String>,
    ports: Arc<[u16]>,
    paths: Arc<[String]>,
    show_path: bool,
    len: u64,
    /// Addresses the default blocklist cut from this line, per rule.
    cut: Vec<(usize, u128)>,
    /// Set when the blocklist cut the whole line: why (its one record).
    excluded: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError(pub String);

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Space {
    /// Parse one (trimmed, non-comment) input line.
    pub fn parse(line: &str, x: &Expand) -> Result<Space, LineError> {
        let err = |m: String| LineError(m);
        if line.contains(',') && !line.contains("://") {
            return Self::zgrab(line, x).map_err(err);
        }
        let looks_like_range = !line.contains("://")
            && (line.contains('-') || line.contains('/'))
            && line
                .split(['/', '-'])
                .next()
                .is_some_and(|a| a.parse::<IpAddr>().is_ok())
            && line
                .split_once('/')
                .is_none_or(|(_, p)| p.parse::<u8>().is_ok());
        if looks_like_range {
            let r = parse_addr_range(line).map_err(|m| err(format!("invalid range: {m}")))?;
            let tls = !x.plain;
            let (hosts, cut, excluded) = match &x.blocklist {
                Some(bl) => {
                    let c = bl.cut(r);
                    let excluded = c.kept.is_empty().then(|| {
                        let rules: Vec<String> = bl
                            .in_address_order(c.by_rule.iter().map(|&(i, _)| i).collect())
                            .into_iter()
                            .map(|i| bl.describe(i))
                            .collect();
                        format!(
                            "every address of {line} is in the default blocklist: {} \
                             (--no-default-exclude scans them)",
                            rules.join(", ")
                        )
                    });
                    let hosts = if c.by_rule.is_empty() {
                        Hosts::Range(r)
                    } else {
                        Hosts::Pieces(Arc::new(Pieces::new(r.v6, &c.kept)))
                    };
                    (hosts, c.by_rule, excluded)
                }
                None => (Hosts::Range(r), Vec::new(), None),
            };
            let mut space =
                Self::build(line, hosts, None, None, tls, None, None, None, x).map_err(err)?;
            space.cut = cut;
            space.excluded = excluded;
            return Ok(space);
        }
        let (t, e) = Target::parse_explicit(line, x.plain).map_err(|e| err(e.message))?;
        let scheme = e
            .scheme
            .then(|| line.split_once("://").unwrap().0.to_string());
        let hosts = match t.addr {
            Some(ip) => Hosts::Range(AddrRange::single(ip)),
            None => Hosts::Name(t.host.clone()),
        };
        Self::build(
            line,
            hosts,
            None,
            None,
            t.tls,
            scheme,
            // -p applies to bare hosts and IPs, never to URLs.
            (e.port || e.scheme).then_some(t.port),
            e.path.then_some(t.path),
            x,
        )
        .map_err(err)
    }

    /// `ip,domain,tag,port,path` (zgrab2's input format; only ip or
    /// domain is required).
    fn zgrab(line: &str, x: &Expand) -> Result<Space, String> {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() > 5 {
            return Err(format!(
                "CSV line has {} fields; expected ip,domain,tag,port,path",
                f.len()
            ));
        }
        let get = |i: usize| f.get(i).copied().filter(|s| !s.is_empty());
        let ip = match get(0) {
            Some(s) => Some(
                s.parse::<IpAddr>()
                    .map_err(|_| format!("CSV field ip: {s:?} is not an IP address"))?,
            ),
            None => None,
        };
        let domain = match get(1) {
            Some(d) => Some(
                Target::parse(d, x.plain)
                    .map_err(|e| format!("CSV field domain: {}", e.message))?
                    .host,
            ),
            None => None,
        };
        let port = match get(3) {
            Some(p) => Some(parse_port(p).map_err(|m| format!("CSV field port: {m}"))?),
            None => None,
        };
        let path = match get(4) {
            Some(p) if p.starts_with('/') => Some(p.to_string()),
            Some(p) => return Err(format!("CSV field path: {p:?} must start with '/'")),
            None => None,
        };
        let hosts = match (ip, &domain) {
            (Some(ip), _) => Hosts::Range(AddrRange::single(ip)),
            (None, Some(d)) => Hosts::Name(d.clone()),
            (None, None) => return Err("CSV line has neither ip nor domain".into()),
        };
        let tag = get(2).map(str::to_string);
        Self::build(line, hosts, domain, tag, !x.plain, None, port, path, x)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        input: &str,
        hosts: Hosts,
        domain: Option<String>,
        tag: Option<String>,
        tls: bool,
        scheme: Option<String>,
        port: Option<u16>,
        path: Option<String>,
        x: &Expand,
    ) -> Result<Space, String> {
        let ports: Arc<[u16]> = match port {
            Some(p) => Arc::from(vec![p]),
            None if x.ports.is_empty() => Arc::from(vec![if tls { 443 } else { 80 }]),
            None => x.ports.clone(),
        };
        let show_path = path.is_some() || !x.paths.is_empty();
        let paths: Arc<[String]> = match path {
            Some(p) => Arc::from(vec![p]),
            None if x.paths.is_empty() => Arc::from(vec!["/".to_string()]),
            None => x.paths.clone(),
        };
        let addrs = hosts.len();
        let len = addrs
            .checked_mul(ports.len() as u128)
            .and_then(|n| n.checked_mul(paths.len() as u128))
            .filter(|n| *n <= u64::MAX as u128)
            .ok_or_else(|| "too many targets on one line (more than 2^64)".to_string())?
            as u64;
        Ok(Space {
            input: input.to_string(),
            hosts,
            domain,
            tag,
            tls,
            scheme,
            ports,
            paths,
            show_path,
            len,
            cut: Vec::new(),
            excluded: None,
        })
    }

    /// The input line, verbatim.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Units in the space: what the default blocklist left (0 when it cut
    /// the whole line, see [`Space::excluded`]).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Units the default blocklist cut from this line, per rule (index
    /// into its rules): addresses cut × ports × paths.
    pub fn cut_units(&self) -> impl Iterator<Item = (usize, u128)> + '_ {
        let per_addr = (self.ports.len() as u128).saturating_mul(self.paths.len() as u128);
        self.cut
            .iter()
            .map(move |&(i, n)| (i, n.saturating_mul(per_addr)))
    }

    /// Why the default blocklist cut this whole line, if it did: such a
    /// line has no units but one `excluded` record.
    pub fn excluded(&self) -> Option<&str> {
        self.excluded.as_deref()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The i-th target (address-major, then port, then path).
    pub fn get(&self, i: u64) -> Target {
        let (np, nq) = (self.ports.len() as u64, self.paths.len() as u64);
        let (a, port, path) = (
            i / (np * nq),
            self.ports[(i / nq % np) as usize],
            &self.paths[(i % nq) as usize],
        );
        let (host, addr) = match &self.hosts {
            Hosts::Name(n) => (n.clone(), None),
            Hosts::Range(r) => {
                let ip = r.nth(a as u128);
                (
                    self.domain.clone().unwrap_or_else(|| ip.to_string()),
                    Some(ip),
                )
            }
            Hosts::Pieces(p) => {
                let ip = p.nth(a as u128);
                (ip.to_string(), Some(ip))
            }
        };
        let mut t = Target {
            input: String::new(),
            tls: self.tls,
            host,
            port,
            path: path.clone(),
            addr,
        };
        // (A line the blocklist cut to one unit shows that unit.)
        t.input = if self.len == 1 && self.cut.is_empty() {
            self.input.clone()
        } else {
            let shown = match addr {
                Some(IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
                Some(ip) => format!("{ip}:{port}"),
                None => t.host_port(),
            };
            let scheme = self
                .scheme
                .as_deref()
                .map(|s| format!("{s}://"))
                .unwrap_or_default();
            let path = if self.show_path { path.as_str() } else { "" };
            format!("{scheme}{shown}{path}")
        };
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(ports: &[u16], paths: &[&str]) -> Expand {
        Expand {
            ports: Arc::from(ports.to_vec()),
            paths: Arc::from(paths.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            plain: true,
            blocklist: None,
        }
    }

    fn all(s: &Space) -> Vec<String> {
        (0..s.len()).map(|i| s.get(i).input).collect()
    }

    #[test]
    fn cidr_times_ports_times_paths() {
        let s = Space::parse("10.0.0.0/31", &x(&[80, 8080], &["/", "/ws"])).unwrap();
        assert_eq!(s.len(), 8);
        let v = all(&s);
        assert_eq!(v[0], "10.0.0.0:80/");
        assert_eq!(v[3], "10.0.0.0:8080/ws");
        assert_eq!(v[7], "10.0.0.1:8080/ws");
        let t = s.get(5);
        assert_eq!(
            (t.addr, t.port, t.path.as_str()),
            (Some("10.0.0.1".parse().unwrap()), 80, "/ws")
        );
    }

    #[test]
    fn ranges_and_v6() {
        let s = Space::parse("127.0.0.1-127.0.0.3", &x(&[], &[])).unwrap();
        assert_eq!(all(&s), ["127.0.0.1:80", "127.0.0.2:80", "127.0.0.3:80"]);
        let s = Space::parse("127.0.0.1-2", &x(&[9000], &[])).unwrap();
        assert_eq!(all(&s), ["127.0.0.1:9000", "127.0.0.2:9000"]);
        let s = Space::parse("::1/127", &x(&[81], &[])).unwrap();
        assert_eq!(all(&s), ["[::]:81", "[::1]:81"]);
        assert!(Space::parse("::/0", &x(&[1, 2], &[])).is_err());
        assert!(Space::parse("::/65", &x(&[1], &[])).is_ok());
    }

    #[test]
    fn explicit_parts_win_over_ports_and_paths() {
        let e = x(&[1, 2], &["/a", "/b"]);
        // URL with a scheme: ports never apply; no path → paths apply.
        let s = Space::parse("ws://h.example", &e).unwrap();
        assert_eq!(all(&s), ["ws://h.example:80/a", "ws://h.example:80/b"]);
        // Bare host with an explicit port and path: exactly one target,
        // and its text is the input verbatim.
        let s = Space::parse("h.example:9/x", &e).unwrap();
        assert_eq!(all(&s), ["h.example:9/x"]);
        // Bare host: ports × paths.
        assert_eq!(Space::parse("h.example", &e).unwrap().len(), 4);
        assert_eq!(Space::parse("127.0.0.1", &e).unwrap().len(), 4);
    }

    #[test]
    fn zgrab_csv() {
        let s = Space::parse("127.0.0.5,web.example,prod,8080,/ws", &x(&[], &[])).unwrap();
        let t = s.get(0);
        assert_eq!(
            (t.host.as_str(), t.addr, t.port, t.path.as_str()),
            (
                "web.example",
                Some("127.0.0.5".parse().unwrap()),
                8080,
                "/ws"
            )
        );
        assert_eq!(s.tag.as_deref(), Some("prod"));
        let s = Space::parse("127.0.0.5,,,", &x(&[81, 82], &[])).unwrap();
        assert_eq!(all(&s), ["127.0.0.5:81", "127.0.0.5:82"]);
        for (bad, why) in [
            ("x,,,", "ip"),
            (",,,", "neither"),
            ("1.2.3.4,,,99999", "port"),
            ("1.2.3.4,,,80,ws", "path"),
            ("1,2,3,4,5,6", "fields"),
        ] {
            let e = Space::parse(bad, &x(&[], &[])).unwrap_err();
            assert!(e.0.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn the_default_blocklist_cuts_ranges_not_named_addresses() {
        let mut e = x(&[80, 81], &[]);
        e.blocklist = Some(Arc::new(Blocklist::builtin()));
        // Straddling 127/8: the two loopback addresses are cut, each on
        // both ports; the units left are indexed without them.
        let s = Space::parse("126.255.255.254-127.0.0.1", &e).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(
            all(&s),
            [
                "126.255.255.254:80",
                "126.255.255.254:81",
                "126.255.255.255:80",
                "126.255.255.255:81"
            ]
        );
        let cut: Vec<(usize, u128)> = s.cut_units().collect();
        assert_eq!(cut.len(), 1);
        assert_eq!(cut[0].1, 4);
        assert!(s.excluded().is_none());
        // Inside one rule, a single address, a name: untouched.
        for line in [
            "127.0.0.0/28",
            "127.0.0.1",
            "10.0.0.1:9",
            "localhost",
            "[::1]:80",
        ] {
            let s = Space::parse(line, &e).unwrap();
            assert_eq!(s.cut_units().count(), 0, "{line}");
            let plain = Space::parse(line, &x(&[80, 81], &[])).unwrap();
            assert_eq!(all(&s), all(&plain), "{line}");
        }
        // Cut down to one unit: that unit's text, not the line's.
        let s = Space::parse("126.255.255.255-127.0.0.0", &x(&[9], &[])).unwrap();
        assert_eq!(all(&s), ["126.255.255.255:9", "127.0.0.0:9"]);
        let mut one = x(&[9], &[]);
        one.blocklist = e.blocklist.clone();
        let s = Space::parse("126.255.255.255-127.0.0.0", &one).unwrap();
        assert_eq!(all(&s), ["126.255.255.255:9"]);
        // Cut whole: no units, and why.
        let s = Space::parse("224.0.0.0/3", &e).unwrap();
        assert_eq!(s.len(), 0);
        let why = s.excluded().unwrap();
        assert!(why.contains("224.0.0.0/4 (Multicast, RFC 5771)"), "{why}");
        assert_eq!(s.cut_units().map(|(_, n)| n).sum::<u128>(), 2 * (1 << 29));
    }

    #[test]
    fn ports_and_paths_lists() {
        assert_eq!(
            parse_ports("80,8000-8002,80").unwrap(),
            [80, 8000, 8001, 8002]
        );
        assert!(parse_ports("9-1").is_err());
        assert!(parse_ports("0").is_err());
        assert_eq!(parse_paths("/,/ws").unwrap(), ["/", "/ws"]);
        assert!(parse_paths("ws").unwrap_err().contains("not a path"));
        assert!(parse_addr_range("10.0.0.0/33").is_err());
        assert!(parse_addr_range("10.0.0.9-10.0.0.1").is_err());
    }
}
