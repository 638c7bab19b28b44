//! Opening-handshake request builder (RFC 6455 §4.1).
//!
//! A [`Request`] is a list of raw byte strings, not a typed HTTP request:
//! probes must be able to send a duplicated header, a lower-case name, a
//! value with a stray CR, a bare-LF line ending or no Host at all, exactly
//! as written. Serialising never normalises anything.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngExt;
use sha1::{Digest, Sha1};

/// The GUID of RFC 6455 §1.3.
pub const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value a server must answer for `key`.
pub fn accept_for_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(WS_GUID.as_bytes());
    STANDARD.encode(h.finalize())
}

/// A fresh random `Sec-WebSocket-Key` (16 random bytes, base64).
pub fn random_key() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    STANDARD.encode(bytes)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Without line ending, e.g. `GET /chat HTTP/1.1`.
    pub request_line: Vec<u8>,
    /// Name and value, in order, verbatim. Duplicates allowed.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Written after the request line, each header, and the final blank
    /// line. Normally `\r\n`.
    pub line_ending: Vec<u8>,
    /// Bytes after the blank line (hixie-76's key3, for instance).
    pub body: Vec<u8>,
}

impl Request {
    /// The standard client handshake, in the header order browsers and
    /// most clients use.
    pub fn websocket(path: &str, host: &str, key: &str, origin: Option<&str>) -> Request {
        let mut r = Request {
            request_line: format!("GET {path} HTTP/1.1").into_bytes(),
            headers: Vec::new(),
            line_ending: b"\r\n".to_vec(),
            body: Vec::new(),
        };
        r.push("Host", host);
        r.push("Upgrade", "websocket");
        r.push("Connection", "Upgrade");
        r.push("Sec-WebSocket-Key", key);
        r.push("Sec-WebSocket-Version", "13");
        if let Some(o) = origin {
            r.push("Origin", o);
        }
        r
    }

    /// `Request::websocket(..).to_bytes()`, written straight into one
    /// buffer, with `extra` (whole header lines, each ending in CRLF, or
    /// nothing) after the standard headers.
    pub fn websocket_bytes(
        path: &str,
        host: &str,
        key: &str,
        origin: Option<&str>,
        extra: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            128 + path.len() + host.len() + key.len() + origin.map_or(0, str::len) + extra.len(),
        );
        for part in [
            "GET ",
            path,
            " HTTP/1.1\r\nHost: ",
            host,
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ",
            key,
            "\r\nSec-WebSocket-Version: 13\r\n",
        ] {
            out.extend_from_slice(part.as_bytes());
        }
        if let Some(o) = origin {
            out.extend_from_slice(b"Origin: ");
            out.extend_from_slice(o.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(extra);
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Append a header, even if one with that name exists.
    pub fn push(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.headers
            .push((name.as_ref().to_vec(), value.as_ref().to_vec()));
    }

    /// Replace the value of the first header named `name` (any case),
    /// keeping its position and spelling, and drop later duplicates; append
    /// if absent.
    pub fn set(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let name = name.as_ref();
        let mut seen = false;
        self.headers.retain_mut(|(n, v)| {
            if !n.eq_ignore_ascii_case(name) {
                return true;
            }
            if seen {
                return false;
            }
            seen = true;
            *v = value.as_ref().to_vec();
            true
        });
        if !seen {
            self.push(name, value);
        }
    }

    /// Remove every header named `name` (any case).
    pub fn remove(&mut self, name: impl AsRef<[u8]>) {
        let name = name.as_ref();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Rename every header named `name` (any case) to exactly `new_name`,
    /// e.g. to send it lower-case.
    pub fn rename(&mut self, name: impl AsRef<[u8]>, new_name: impl AsRef<[u8]>) {
        let name = name.as_ref();
        for (n, _) in &mut self.headers {
            if n.eq_ignore_ascii_case(name) {
                *n = new_name.as_ref().to_vec();
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }

    /// The exact bytes to write.
    pub fn to_bytes(&self) -> Vec<u8> {
        let le = &self.line_ending;
        let mut out = Vec::with_capacity(
            64 + self
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 4)
                .sum::<usize>(),
        );
        out.extend_from_slice(&self.request_line);
        out.extend_from_slice(le);
        for (n, v) in &self.headers {
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(le);
        }
        out.extend_from_slice(le);
        out.extend_from_slice(&self.body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_bytes_equal_the_built_request() {
        for origin in [None, Some("http://example.com:8080")] {
            for (path, host) in [("/", "a"), ("/chat?x=1", "[::1]:9001")] {
                assert_eq!(
                    Request::websocket_bytes(path, host, "k==", origin, b""),
                    Request::websocket(path, host, "k==", origin).to_bytes()
                );
                let mut r = Request::websocket(path, host, "k==", origin);
                r.push("Cookie", "a=1");
                r.push("User-Agent", "x");
                assert_eq!(
                    Request::websocket_bytes(
                        path,
                        host,
                        "k==",
                        origin,
                        b"Cookie: a=1\r\nUser-Agent: x\r\n"
                    ),
                    r.to_bytes()
                );
            }
        }
    }

    #[test]
    fn rfc_sample_accept() {
        assert_eq!(
            accept_for_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn random_keys_are_16_bytes_and_differ() {
        let (a, b) = (random_key(), random_key());
        assert_eq!(STANDARD.decode(&a).unwrap().len(), 16);
        assert_ne!(a, b);
    }

    #[test]
    fn verbatim_serialisation_with_edits() {
        let mut r = Request::websocket("/x", "h:1", "k", None);
        r.set("sec-websocket-version", "13\n");
        r.rename("Upgrade", "upgrade");
        r.remove("Host");
        r.push("X-A", "1");
        r.push("X-A", "2");
        assert_eq!(
            r.to_bytes(),
            b"GET /x HTTP/1.1\r\nupgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\n\
Sec-WebSocket-Version: 13\n\r\nX-A: 1\r\nX-A: 2\r\n\r\n"
        );
        r.line_ending = b"\n".to_vec();
        assert!(r.to_bytes().ends_with(b"X-A: 2\n\n"));
    }
}
