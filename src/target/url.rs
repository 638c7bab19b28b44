//! One target: a URL or `host[:port][/path]`, parsed into what to connect
//! to. Nothing here knows about WebSocket beyond the URL schemes.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The input, verbatim (what the record's `target` field shows).
    pub input: String,
    pub tls: bool,
    /// Hostname or IP literal, without brackets.
    pub host: String,
    pub port: u16,
    /// Path plus query, starting with `/`.
    pub path: String,
    /// A pre-resolved address (zgrab-style `ip,domain,...` input, or an
    /// IP literal): connect here and skip DNS; `host` still names the
    /// Host header and SNI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<IpAddr>,
}

/// Which parts of a target the user spelled out, so that `--ports` and
/// `--paths` only fill in what was left open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Explicit {
    pub scheme: bool,
    pub port: bool,
    pub path: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError {
    pub input: String,
    pub message: String,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid target {:?}: {}", self.input, self.message)
    }
}

impl std::error::Error for TargetError {}

impl Target {
    /// Parse `ws://`, `wss://`, `http://`, `https://` URLs or
    /// `host[:port][/path]` (IPv6 as `[::1]:port`). Without a scheme the
    /// target is `wss`, or `ws` when `plain` is set (STEWS's `-n`).
    pub fn parse(input: &str, plain: bool) -> Result<Target, TargetError> {
        Self::parse_explicit(input, plain).map(|(t, _)| t)
    }

    /// [`Target::parse`], also saying which parts were given.
    pub fn parse_explicit(input: &str, plain: bool) -> Result<(Target, Explicit), TargetError> {
        let err = |m: &str| TargetError {
            input: input.to_string(),
            message: m.to_string(),
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(err("empty"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("contains whitespace or control characters"));
        }
        let mut explicit = Explicit {
            scheme: s.contains("://"),
            ..Explicit::default()
        };
        let (tls, rest) = match s.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "ws" | "http" => (false, rest),
                "wss" | "https" => (true, rest),
                other => {
                    return Err(err(&format!(
                        "unsupported scheme {other:?} (use ws, wss, http or https)"
                    )));
                }
            },
            None => (!plain, s),
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        explicit.path = !path.is_empty();
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        if authority.contains('@') {
            return Err(err("user information in URLs is not supported"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| err("unclosed '[' in IPv6 address"))?;
            h.parse::<std::net::Ipv6Addr>()
                .map_err(|_| err(&format!("{h:?} is not an IPv6 address")))?;
            explicit.port = !after.is_empty();
            let port = match after {
                "" => default_port,
                p => parse_port(p.strip_prefix(':').ok_or_else(|| err("junk after ']'"))?)
                    .map_err(|m| err(&m))?,
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, _)) if h.contains(':') => {
                    return Err(err("IPv6 addresses need brackets: [::1]:port"));
                }
                Some((h, p)) => {
                    explicit.port = true;
                    (h.to_string(), parse_port(p).map_err(|m| err(&m))?)
                }
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(err("no host"));
        }
        if !host.starts_with('[')
            && host.parse::<IpAddr>().is_err()
            && !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
        {
            return Err(err(&format!("{host:?} is not a valid host name")));
        }
        let addr = host.parse().ok();
        Ok((
            Target {
                input: input.to_string(),
                tls,
                host: host.to_ascii_lowercase(),
                port,
                path,
                addr,
            },
            explicit,
        ))
    }

    /// The address to connect to without DNS, if known.
    pub fn ip(&self) -> Option<IpAddr> {
        self.addr.or_else(|| self.host.parse().ok())
    }

    /// `host:port` with IPv6 hosts in brackets.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

pub(crate) fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) => Err("port 0".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("bad port {p:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let t = Target::parse("127.0.0.1:9001/ws?x=1", true).unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str()),
            (false, "127.0.0.1", 9001, "/ws?x=1")
        );
        let t = Target::parse("example.com", false).unwrap();
        assert_eq!((t.tls, t.port, t.path.as_str()), (true, 443, "/"));
        let t = Target::parse("ws://[::1]:8080", false).unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port), (false, "::1", 8080));
        let t = Target::parse("https://Host.Example?q", true).unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.path.as_str()),
            (true, "host.example", "/?q")
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (bad, why) in [
            ("ftp://x", "unsupported scheme"),
            ("x:99999", "bad port"),
            ("::1:80", "brackets"),
            ("[::1", "unclosed"),
            ("", "empty"),
            ("a b", "whitespace"),
            ("bad!host", "valid host"),
            (":80", "no host"),
        ] {
            let e = Target::parse(bad, true).unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
    }
}
