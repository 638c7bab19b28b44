//! What the target chose is not evidence of its software.
//!
//! A feature must say the same thing about a server wherever it runs. Two
//! kinds of value break that, and both are rewritten here before they
//! become features:
//!
//! - **The target's own address.** A server that echoes our Origin or
//!   writes its URL into `Sec-WebSocket-Location`, a redirect or an error
//!   page shows the scanned host and port. Written as they are, those
//!   values match only on the host the fingerprint was generated on (the
//!   lab's ports). URLs keep their scheme and path and lose their
//!   authority (`ws://{host}/`); bare IPv4 and `[IPv6]` literals, with or
//!   without a port, become `{host}`.
//! - **Product versions.** `Server: Python/3.11 websockets/17.4` names the
//!   product (websockets) and its platform (Python), which identify it,
//!   and two versions, which change with every release and every
//!   interpreter. The identity feature keeps the product tokens
//!   (`Python websockets`); the versions go to a feature of their own
//!   (`h.server.version`), which only the version estimate reads.

use std::borrow::Cow;

/// Headers that name a product ([RFC 9110 §10.2.4] product tokens).
///
/// [RFC 9110 §10.2.4]: https://www.rfc-editor.org/rfc/rfc9110#section-10.2.4
pub const BANNERS: &[&str] = &["server", "x-powered-by"];

/// Is `name` (lower case) a product banner header?
pub fn is_banner(name: &str) -> bool {
    BANNERS.contains(&name)
}

/// The placeholder for the target's own authority.
pub const HOST: &str = "{host}";

/// `value` with the target's own address replaced by [`HOST`].
pub fn without_authority(value: &str) -> Cow<'_, str> {
    let b = value.as_bytes();
    // Fast path: most values hold neither a URL nor a dotted number.
    if memchr::memmem::find(b, b"://").is_none() && !has_ip_literal(b) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    // `i` moves by whole characters or over ASCII bytes, so it stays on a
    // character boundary (`get` would end the loop if it did not).
    while let Some(rest) = value.get(i..).filter(|r| !r.is_empty()) {
        // `scheme://authority`: keep the scheme, drop the authority up to
        // the path, query, fragment or end of the URL.
        if rest.starts_with("://") && before(b, i).is_some_and(|c| c.is_ascii_alphabetic()) {
            out.push_str("://");
            out.push_str(HOST);
            i += 3;
            i += b
                .get(i..)
                .unwrap_or_default()
                .iter()
                .take_while(|&&c| {
                    !matches!(c, b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b',')
                        && !c.is_ascii_whitespace()
                })
                .count();
            continue;
        }
        if let Some(n) = ip_literal_at(b, i) {
            out.push_str(HOST);
            i += n;
            continue;
        }
        // Copy one character.
        let Some(c) = rest.chars().next() else {
            break;
        };
        out.push(c);
        i += c.len_utf8();
    }
    Cow::Owned(out)
}

/// The placeholder for a `Sec-WebSocket-Key`-shaped nonce.
pub const KEY: &str = "{key}";

/// `value` with every `Sec-WebSocket-Key`-shaped token (22 base64
/// characters and `==`, i.e. 16 random bytes) replaced by [`KEY`]. Some
/// servers quote our key in an error (Daphne: `bad Sec-WebSocket-Key ...
/// "<key>,AAAA..=="`); the key is random per request, so kept verbatim the
/// feature would differ on every run.
pub fn without_keys(value: &str) -> Cow<'_, str> {
    let b = value.as_bytes();
    if memchr::memmem::find(b, b"==").is_none() {
        return Cow::Borrowed(value);
    }
    let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let mut out = String::with_capacity(value.len());
    let (mut i, mut copied) = (0usize, 0usize);
    while i < b.len() {
        let run = b
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&c| b64(c))
            .count();
        if run == 0 {
            i += 1;
            continue;
        }
        let end = i + run;
        let pad = b.get(end..end + 2) == Some(b"==".as_slice());
        let after = b.get(end + 2).copied();
        if run == 22 && pad && !after.is_some_and(|c| b64(c) || c == b'=') {
            out.push_str(value.get(copied..i).unwrap_or_default());
            out.push_str(KEY);
            copied = end + 2;
            i = end + 2;
        } else {
            i = end;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(value);
    }
    out.push_str(value.get(copied..).unwrap_or_default());
    Cow::Owned(out)
}

/// `value` without what belongs to this run and this target: the
/// target's authority ([`without_authority`]) and our nonces
/// ([`without_keys`]).
pub fn neutral(value: &str) -> Cow<'_, str> {
    match without_authority(value) {
        Cow::Borrowed(v) => without_keys(v),
        Cow::Owned(v) => Cow::Owned(without_keys(&v).into_owned()),
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn keys_are_replaced_and_other_base64_kept() {
        let v = r#"bad Sec-WebSocket-Key (length must be 24 ASCII chars) "YFznoR9PiHyeOLaK+Bf+Ew==,AAAAAAAAAAAAAAAAAAAAAA==""#;
        assert_eq!(
            without_keys(v),
            r#"bad Sec-WebSocket-Key (length must be 24 ASCII chars) "{key},{key}""#
        );
        assert_eq!(without_keys("plain text"), "plain text");
        // Longer or shorter base64, or a 23rd character: not a key.
        assert_eq!(without_keys("k=dGhlIHNhbXBsZSBub25jZQ==;"), "k={key};");
        assert_eq!(without_keys("aGVsbG8gd29ybGQ=="), "aGVsbG8gd29ybGQ==");
        assert_eq!(
            without_keys("YFznoR9PiHyeOLaK+Bf+Ewx=="),
            "YFznoR9PiHyeOLaK+Bf+Ewx=="
        );
        assert_eq!(
            neutral("ws://127.0.0.1:9/ YFznoR9PiHyeOLaK+Bf+Ew=="),
            "ws://{host}/ {key}"
        );
    }
}

/// The byte before position `i` of `b`, if any.
fn before(b: &[u8], i: usize) -> Option<u8> {
    b.get(i.checked_sub(1)?).copied()
}

/// Does `b` hold something that may be an IPv4 literal or a bracketed
/// IPv6 one?
fn has_ip_literal(b: &[u8]) -> bool {
    (0..b.len()).any(|i| ip_literal_at(b, i).is_some())
}

/// The length of an IPv4 literal (`a.b.c.d`, optionally `:port`) or a
/// bracketed IPv6 literal (`[..]`, optionally `:port`) starting at `i`,
/// not inside a longer word or number.
fn ip_literal_at(b: &[u8], i: usize) -> Option<usize> {
    if before(b, i).is_some_and(|c| c.is_ascii_alphanumeric() || c == b'.') {
        return None;
    }
    let at = |j: usize| b.get(j).copied();
    let mut j = i;
    if at(i) == Some(b'[') {
        j += 1;
        while at(j).is_some_and(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.') {
            j += 1;
        }
        let inside = b.get(i + 1..j).unwrap_or_default();
        if at(j) != Some(b']') || j - i < 3 || !inside.contains(&b':') {
            return None;
        }
        j += 1;
    } else {
        for part in 0..4 {
            let start = j;
            while at(j).is_some_and(|c| c.is_ascii_digit()) && j - start < 3 {
                j += 1;
            }
            if j == start {
                return None;
            }
            if part < 3 {
                if at(j) != Some(b'.') {
                    return None;
                }
                j += 1;
            }
        }
        // Not a longer dotted number (a version like 1.2.3.4.5).
        if at(j).is_some_and(|c| {
            c.is_ascii_digit() || c == b'.' && at(j + 1).is_some_and(|d| d.is_ascii_digit())
        }) {
            return None;
        }
    }
    if at(j) == Some(b':') && at(j + 1).is_some_and(|c| c.is_ascii_digit()) {
        j += 1;
        while at(j).is_some_and(|c| c.is_ascii_digit()) {
            j += 1;
        }
    }
    Some(j - i)
}

/// One product of a banner: its name and version (either may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product<'a> {
    pub name: &'a str,
    pub version: &'a str,
}

/// The products of a banner value, in order: `name/version` tokens, and
/// `name(version)` where a product puts its version in a comment (Jetty).
/// Other comments (`(Debian)`, `(Ubuntu)`) are the platform's and left
/// out.
pub fn products(value: &str) -> Vec<Product<'_>> {
    let mut out: Vec<Product<'_>> = Vec::new();
    let b = value.as_bytes();
    let at = |j: usize| b.get(j).copied();
    // Every position `i` stops at is at an ASCII byte or the end, so the
    // `get`s below cut on character boundaries.
    let mut i = 0;
    while let Some(c) = at(i) {
        // A comma separates the values of repeated headers (a proxy's
        // `Server: Caddy` joined to the backend's): it is no part of a
        // product.
        if c.is_ascii_whitespace() || c == b',' {
            i += 1;
            continue;
        }
        if c == b'(' {
            // A comment: skipped, unless it is the version of the product
            // just before it without a space (`Jetty(9.4.57)`).
            let end = comment_end(b, i);
            let glued = before(b, i).is_some_and(|p| !p.is_ascii_whitespace() && p != b')');
            // Inside the parentheses; an unclosed comment runs to the end
            // (whose last byte may be inside a multi-byte character).
            let close = if end > i + 1 && at(end - 1) == Some(b')') {
                end - 1
            } else {
                end
            };
            let inner = value.get(i + 1..close).unwrap_or_default();
            if glued
                && let Some(last) = out.last_mut()
                && last.version.is_empty()
                && inner.starts_with(|c: char| c.is_ascii_digit())
            {
                last.version = inner;
            }
            i = end;
            continue;
        }
        let start = i;
        while at(i).is_some_and(|c| !c.is_ascii_whitespace() && !matches!(c, b'/' | b'(' | b',')) {
            i += 1;
        }
        let name = value.get(start..i).unwrap_or_default();
        let mut version = "";
        if at(i) == Some(b'/') {
            let vs = i + 1;
            i += 1;
            while at(i).is_some_and(|c| !c.is_ascii_whitespace() && c != b'(' && c != b',') {
                i += 1;
            }
            version = value.get(vs..i).unwrap_or_default();
        }
        if !name.is_empty() {
            out.push(Product { name, version });
        }
    }
    out
}

/// Where the comment starting at `open` ends (after its `)`; nested
/// comments count; an unclosed one runs to the end).
fn comment_end(b: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    for (j, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'(' => depth += 1,
            b')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
    }
    b.len()
}

/// A banner split in one parse: its identity, the product names
/// space-separated without versions or platform comments (`Python
/// websockets`; a name that is itself a version number, `Server: 1.0`, is
/// dropped), and its versions, `name/version` for each product that has
/// one (`Python/3.11 websockets/17.4`; empty if none does).
pub fn split_banner(value: &str) -> (String, String) {
    let (mut names, mut versions) = (String::new(), String::new());
    for p in products(value) {
        if !p.name.starts_with(|c: char| c.is_ascii_digit()) {
            if !names.is_empty() {
                names.push(' ');
            }
            names.push_str(p.name);
        }
        if !p.version.is_empty() {
            if !versions.is_empty() {
                versions.push(' ');
            }
            versions.push_str(p.name);
            versions.push('/');
            versions.push_str(p.version);
        }
    }
    (names, versions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_address_is_replaced() {
        for (v, want) in [
            ("ws://127.0.0.1:9046/", "ws://{host}/"),
            ("http://127.0.0.1:9046", "http://{host}"),
            ("wss://example.test:8443/chat?x=1", "wss://{host}/chat?x=1"),
            (
                "Location: http://[::1]:80/a, b",
                "Location: http://{host}/a, b",
            ),
            ("bad host 10.1.2.3:8080 here", "bad host {host} here"),
            ("from [::1]:9001.", "from {host}."),
            ("from 127.0.0.1", "from {host}"),
            // Versions and other dotted numbers are not addresses.
            ("websockets/17.4", "websockets/17.4"),
            ("Jetty(9.4.57.v20241219)", "Jetty(9.4.57.v20241219)"),
            ("v1.2.3.4.5", "v1.2.3.4.5"),
            ("x1.2.3.4", "x1.2.3.4"),
            ("ünïcode ws://h/ ✓", "ünïcode ws://{host}/ ✓"),
            ("", ""),
        ] {
            assert_eq!(without_authority(v), want, "{v}");
        }
        assert!(matches!(without_authority("Bad Request"), Cow::Borrowed(_)));
    }

    #[test]
    fn banners_split_into_products_and_versions() {
        for (v, names, versions) in [
            (
                "Python/3.11 websockets/17.4",
                "Python websockets",
                "Python/3.11 websockets/17.4",
            ),
            ("nginx/1.22.1", "nginx", "nginx/1.22.1"),
            ("nginx", "nginx", ""),
            ("Jetty(9.4.57.v20241219)", "Jetty", "Jetty/9.4.57.v20241219"),
            (
                "Apache/2.4.57 (Debian) OpenSSL/3.0",
                "Apache OpenSSL",
                "Apache/2.4.57 OpenSSL/3.0",
            ),
            (
                "TornadoServer/6.6.1",
                "TornadoServer",
                "TornadoServer/6.6.1",
            ),
            ("(unclosed", "", ""),
            ("Jetty(9é", "Jetty", "Jetty/9é"),
            ("x (ünïcödé", "x", ""),
            ("()", "", ""),
            ("1.0", "", "1.0"),
            ("", "", ""),
        ] {
            let (n, vs) = split_banner(v);
            assert_eq!(n, names, "{v}");
            // A bare version has no name: it is still a version.
            if v != "1.0" {
                assert_eq!(vs, versions, "{v}");
            }
        }
    }
}
