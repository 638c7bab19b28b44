//! Handshake response parser, on top of httparse.
//!
//! Everything a server chose is kept verbatim: the reason phrase, header
//! names in their original case and order, duplicates. An invalid
//! `Sec-WebSocket-Accept` is an observation ([`AcceptCheck`]), not an error.

use serde::{Deserialize, Serialize};

use super::handshake::accept_for_key;

/// Hard limits for a response head; a hostile server cannot make us buffer
/// more than `max_head` bytes or parse more than `max_headers` headers.
pub const DEFAULT_MAX_HEAD: usize = 16 * 1024;
pub const DEFAULT_MAX_HEADERS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseHead {
    /// Minor HTTP version: 1 for HTTP/1.1.
    pub version: u8,
    pub status: u16,
    /// Verbatim reason phrase (lossy if it was not UTF-8).
    pub reason: String,
    /// Headers in wire order with original case.
    pub headers: Vec<(String, String)>,
    /// Length of the head including the blank line; the body, or the
    /// first frames after a 101, start here.
    #[serde(skip)]
    pub head_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    /// Not an HTTP response (wrong bytes, bad status line...).
    Malformed(String),
    /// The head did not end within the byte cap.
    TooLarge(usize),
}

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseError::Malformed(m) => write!(f, "malformed HTTP response: {m}"),
            ResponseError::TooLarge(n) => write!(f, "response head exceeds {n} bytes"),
        }
    }
}

impl std::error::Error for ResponseError {}

/// How the `Sec-WebSocket-Accept` header compares with the key we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcceptCheck {
    Valid,
    Missing,
    Mismatch,
}

/// Parse a response head from the start of `buf`.
/// `Ok(None)`: incomplete, read more (unless `buf` is at the cap).
pub fn parse_response(
    buf: &[u8],
    max_head: usize,
    max_headers: usize,
) -> Result<Option<ResponseHead>, ResponseError> {
    let mut storage = vec![httparse::EMPTY_HEADER; max_headers];
    let mut resp = httparse::Response::new(&mut storage);
    let window = buf.get(..max_head).unwrap_or(buf);
    let parsed = httparse::ParserConfig::default()
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .parse_response(&mut resp, window);
    match parsed {
        Ok(httparse::Status::Complete(n)) => {
            let headers = resp
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            Ok(Some(ResponseHead {
                version: resp.version.unwrap_or(1),
                status: resp.code.unwrap_or(0),
                reason: reason_verbatim(window, resp.reason.unwrap_or("")),
                headers,
                head_len: n,
            }))
        }
        Ok(httparse::Status::Partial) if buf.len() >= max_head => {
            Err(ResponseError::TooLarge(max_head))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(ResponseError::Malformed(format!(
            "more than {max_headers} headers"
        ))),
        Err(e) => Err(ResponseError::Malformed(e.to_string())),
    }
}

/// httparse hands back an empty reason when it holds bytes >= 0x80; take
/// it from the raw status line instead (after "HTTP/1.x NNN "), lossily.
fn reason_verbatim(buf: &[u8], parsed: &str) -> String {
    if !parsed.is_empty() || buf.is_ascii() {
        return parsed.to_string();
    }
    let line = buf.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // Skip the version, the spaces, the code and the spaces after it.
    let mut parts = line.splitn(2, |b| *b == b' ');
    let _version = parts.next();
    let rest = parts.next().unwrap_or(&[]);
    let rest = skip_while(rest, |b| b == b' ');
    let after_code = skip_while(rest, |b| b.is_ascii_digit());
    let reason = skip_while(after_code, |b| b == b' ');
    String::from_utf8_lossy(reason).into_owned()
}

/// `b` without its leading bytes that satisfy `f`.
fn skip_while(b: &[u8], f: impl Fn(u8) -> bool) -> &[u8] {
    let n = b.iter().take_while(|x| f(**x)).count();
    b.get(n..).unwrap_or_default()
}

impl ResponseHead {
    /// The first header with this name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        super::header_first(&self.headers, name)
    }

    /// Every value of a header, joined with ", " as RFC 9110 allows.
    pub fn header_joined(&self, name: &str) -> Option<String> {
        super::header_joined(&self.headers, name)
    }

    pub fn accept_check(&self, key: &str) -> AcceptCheck {
        match self.header("Sec-WebSocket-Accept") {
            None => AcceptCheck::Missing,
            Some(v) if v.trim() == accept_for_key(key) => AcceptCheck::Valid,
            Some(_) => AcceptCheck::Mismatch,
        }
    }

    /// Declared body length, when there is a valid Content-Length.
    pub fn content_length(&self) -> Option<u64> {
        self.header("Content-Length")?.trim().parse().ok()
    }

    /// Header names in order, as sent (a strong implementation signal).
    pub fn header_names(&self) -> Vec<&str> {
        self.headers.iter().map(|(n, _)| n.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC: &[u8] =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nconnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi";

    #[test]
    fn parses_rfc_example_verbatim() {
        let h = parse_response(RFC, DEFAULT_MAX_HEAD, DEFAULT_MAX_HEADERS)
            .unwrap()
            .unwrap();
        assert_eq!(h.status, 101);
        assert_eq!(h.reason, "Switching Protocols");
        assert_eq!(
            h.header_names(),
            ["Upgrade", "connection", "Sec-WebSocket-Accept"]
        );
        assert_eq!(&RFC[h.head_len..], b"\x81\x02hi");
        assert_eq!(
            h.accept_check("dGhlIHNhbXBsZSBub25jZQ=="),
            AcceptCheck::Valid
        );
        assert_eq!(
            h.accept_check("AAAAAAAAAAAAAAAAAAAAAA=="),
            AcceptCheck::Mismatch
        );
    }

    #[test]
    fn non_ascii_reason_is_kept() {
        let h = parse_response(b"HTTP/1.1 101 X\xffY\r\n\r\n", 1024, 8)
            .unwrap()
            .unwrap();
        assert_eq!(h.reason, "X\u{fffd}Y");
        let h = parse_response(
            "HTTP/1.1 400 Protokollwechsel ü\r\n\r\n".as_bytes(),
            1024,
            8,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.reason, "Protokollwechsel ü");
    }

    #[test]
    fn partial_then_cap() {
        assert_eq!(
            parse_response(b"HTTP/1.1 101 OK\r\nA: b\r\n", 1024, 8),
            Ok(None)
        );
        let endless = [b"HTTP/1.1 200 OK\r\n".as_slice(), &[b'x'; 100]].concat();
        assert_eq!(
            parse_response(&endless, 64, 8),
            Err(ResponseError::TooLarge(64))
        );
        assert!(matches!(
            parse_response(b"SSH-2.0-OpenSSH\r\n\r\n", 1024, 8),
            Err(ResponseError::Malformed(_))
        ));
    }
}
