//! Opening-handshake *request* parser, the mirror of [`super::response`].
//!
//! The scanner writes requests ([`super::handshake::Request`]); the passive
//! analyser has to read the ones clients wrote. Same rules as the response
//! side: everything is kept verbatim (header case, order, duplicates), the
//! head is capped, and a request that is not a WebSocket upgrade is still a
//! parsed request, so the caller decides what it means.

use serde::Serialize;

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestHead {
    pub method: String,
    /// The request target, verbatim (lossy if it was not UTF-8).
    pub uri: String,
    /// Minor HTTP version: 1 for HTTP/1.1.
    pub version: u8,
    /// Headers in wire order with original case.
    pub headers: Vec<(String, String)>,
    /// Length of the head including the blank line.
    #[serde(skip)]
    pub head_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// Not an HTTP/1.x request.
    Malformed(String),
    /// The head did not end within the byte cap.
    TooLarge(usize),
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::Malformed(m) => write!(f, "malformed HTTP request: {m}"),
            RequestError::TooLarge(n) => write!(f, "request head exceeds {n} bytes"),
        }
    }
}

impl std::error::Error for RequestError {}

/// Parse a request head from the start of `buf`.
/// `Ok(None)`: incomplete, read more (unless `buf` is at the cap).
pub fn parse_request(
    buf: &[u8],
    max_head: usize,
    max_headers: usize,
) -> Result<Option<RequestHead>, RequestError> {
    let mut storage = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut storage);
    let window = buf.get(..max_head).unwrap_or(buf);
    match req.parse(window) {
        Ok(httparse::Status::Complete(n)) => Ok(Some(RequestHead {
            method: req.method.unwrap_or("").to_string(),
            uri: req.path.unwrap_or("").to_string(),
            version: req.version.unwrap_or(1),
            headers: req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
            head_len: n,
        })),
        Ok(httparse::Status::Partial) if buf.len() >= max_head => {
            Err(RequestError::TooLarge(max_head))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(RequestError::Malformed(format!(
            "more than {max_headers} headers"
        ))),
        Err(e) => Err(RequestError::Malformed(e.to_string())),
    }
}

/// Whether `buf` can be the start of an HTTP request: an upper-case method
/// token followed by a space, as far as `buf` goes. Lets a caller give up on
/// a non-HTTP stream after its first bytes instead of buffering a head.
pub fn could_be_request(buf: &[u8]) -> bool {
    let n = buf.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if n == buf.len() {
        return n <= 16;
    }
    n > 0 && n <= 16 && buf.get(n) == Some(&b' ')
}

impl RequestHead {
    /// The first header with this name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        super::header_first(&self.headers, name)
    }

    /// Every value of a header, joined with ", " as RFC 9110 allows.
    pub fn header_joined(&self, name: &str) -> Option<String> {
        super::header_joined(&self.headers, name)
    }

    /// A WebSocket opening handshake (RFC 6455 §4.2.1): `Upgrade` lists the
    /// `websocket` token and `Connection` the `upgrade` token, both
    /// case-insensitive. The method and version are not required here, so
    /// that odd clients are still recognised (and can be flagged).
    pub fn is_websocket_upgrade(&self) -> bool {
        let has_token = |name: &str, token: &str| {
            self.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .flat_map(|(_, v)| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        has_token("Upgrade", "websocket") && has_token("Connection", "upgrade")
    }
}

/// Split a comma-separated header value into trimmed, non-empty items.
pub fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::handshake::Request;

    #[test]
    fn parses_what_the_scanner_writes() {
        let mut r = Request::websocket("/chat?x=1", "example:80", "k==", Some("http://o"));
        r.push("connection", "keep-alive, Upgrade");
        let mut bytes = r.to_bytes();
        bytes.extend_from_slice(b"\x81\x00");
        let h = parse_request(&bytes, 4096, 32).unwrap().unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.uri, "/chat?x=1");
        assert_eq!(h.header("origin"), Some("http://o"));
        assert_eq!(
            h.header_joined("Connection").as_deref(),
            Some("Upgrade, keep-alive, Upgrade")
        );
        assert!(h.is_websocket_upgrade());
        assert_eq!(&bytes[h.head_len..], b"\x81\x00");
    }

    #[test]
    fn not_an_upgrade_partial_and_cap() {
        let h = parse_request(
            b"GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
            1024,
            8,
        )
        .unwrap()
        .unwrap();
        assert!(!h.is_websocket_upgrade());
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nHost: a\r\n", 1024, 8),
            Ok(None)
        );
        let endless = [b"GET / HTTP/1.1\r\n".as_slice(), &[b'x'; 100]].concat();
        assert_eq!(
            parse_request(&endless, 64, 8),
            Err(RequestError::TooLarge(64))
        );
        assert!(matches!(
            parse_request(b"\x16\x03\x01\x02\x00\r\n\r\n", 1024, 8),
            Err(RequestError::Malformed(_))
        ));
    }

    #[test]
    fn request_prefix_check() {
        assert!(could_be_request(b"GE"));
        assert!(could_be_request(b"GET /"));
        assert!(!could_be_request(b"SSH-2.0"));
        assert!(!could_be_request(b"\x16\x03"));
        assert!(!could_be_request(b"HTTP/1.1 200"));
    }
}
