//! What a TLS handshake says about a wss target, and what a failed one
//! means.
//!
//! - [`TlsFacts`]: what a record keeps of a target's first successful
//!   handshake, as zgrab2 and httpx record it: the version, cipher suite
//!   and ALPN protocol negotiated, and the facts of the server's leaf
//!   certificate (names, issuer, validity, serial, SHA-256, self-signed).
//!   Read once per target, not per probe (parsing a certificate costs far
//!   more than the probes' resumed handshakes).
//! - [`Sniffed`]: the first bytes the server sent during the handshake, so
//!   that a plain HTTP port scanned as wss is named as such (its
//!   `HTTP/1.1 400` to our ClientHello), not as a broken TLS stack.
//! - [`failure`]: a failed handshake in words, with the likely fix.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A record's `tls` object: the first successful handshake with the
/// target. Absent on a ws:// target, and on a wss:// one whose every
/// handshake failed (its `error` says why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFacts {
    /// `TLSv1.3` or `TLSv1.2` (rustls speaks no older version).
    pub version: String,
    /// The IANA name of the cipher suite (`TLS_AES_128_GCM_SHA256`,
    /// `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`).
    pub cipher: String,
    /// The ALPN protocol the server chose from our offer (`http/1.1`
    /// only: WebSocket upgrades are HTTP/1.1); absent when it chose none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    /// Certificates the server sent, its own first.
    pub chain_length: usize,
    /// The server's own (leaf) certificate; absent when it sent none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<CertFacts>,
}

/// The facts of one certificate. Every field but `sha256` and
/// `self_signed` is absent when the certificate could not be parsed
/// (`error` then says why): its hash still identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertFacts {
    /// The subject's common name (its first CN attribute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_cn: Option<String>,
    /// The whole subject name, `C=US, O=Example, CN=example.com` (the
    /// attributes in the certificate's order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_cn: Option<String>,
    /// The whole issuer name, as `subject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The subjectAltName's DNS names, in the certificate's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub san_dns: Vec<String>,
    /// The subjectAltName's IP addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub san_ip: Vec<String>,
    /// Validity, RFC 3339 in UTC (`2026-01-01T00:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// The serial number's bytes in hex, lower case, as the DER holds
    /// them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// SHA-256 of the certificate's DER, hex, lower case (what
    /// `openssl x509 -fingerprint -sha256` prints, without the colons).
    pub sha256: String,
    /// Issued by itself: its issuer is its subject, and its own key
    /// verifies its signature.
    pub self_signed: bool,
    /// Why the certificate could not be parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl TlsFacts {
    /// The facts of a finished handshake.
    pub fn of(conn: &rustls::ClientConnection) -> TlsFacts {
        let chain = conn.peer_certificates().unwrap_or_default();
        TlsFacts {
            version: conn
                .protocol_version()
                .map(version_name)
                .unwrap_or_default(),
            cipher: conn
                .negotiated_cipher_suite()
                .map(|s| suite_name(s.suite()))
                .unwrap_or_default(),
            alpn: conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            chain_length: chain.len(),
            cert: chain.first().map(|der| CertFacts::of(der.as_ref())),
        }
    }
}

/// `TLSv1_3` (rustls' name) -> `TLSv1.3`.
fn version_name(v: rustls::ProtocolVersion) -> String {
    format!("{v:?}").replace('_', ".")
}

/// rustls names TLS 1.3's suites `TLS13_...`; IANA (and zgrab2, httpx,
/// OpenSSL) `TLS_...`. TLS 1.2's names are IANA's already. A suite rustls
/// has no name for is its number.
fn suite_name(s: rustls::CipherSuite) -> String {
    let name = format!("{s:?}");
    if let Some(rest) = name.strip_prefix("TLS13_") {
        format!("TLS_{rest}")
    } else if let rustls::CipherSuite::Unknown(n) = s {
        format!("0x{n:04x}")
    } else {
        name
    }
}

impl CertFacts {
    /// The facts of the certificate `der`.
    pub fn of(der: &[u8]) -> CertFacts {
        let sha256 = hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref());
        let mut facts = CertFacts {
            subject_cn: None,
            subject: None,
            issuer_cn: None,
            issuer: None,
            san_dns: Vec::new(),
            san_ip: Vec::new(),
            not_before: None,
            not_after: None,
            serial: None,
            sha256,
            self_signed: false,
            error: None,
        };
        let cert = match x509_parser::parse_x509_certificate(der) {
            Ok((_, cert)) => cert,
            Err(e) => {
                facts.error = Some(format!("not a parsable X.509 certificate: {e}"));
                return facts;
            }
        };
        let cn = |name: &x509_parser::x509::X509Name<'_>| {
            name.iter_common_name()
                .next()
                .and_then(|a| a.as_str().ok())
                .map(String::from)
        };
        facts.subject_cn = cn(cert.subject());
        facts.subject = Some(cert.subject().to_string());
        facts.issuer_cn = cn(cert.issuer());
        facts.issuer = Some(cert.issuer().to_string());
        match cert.subject_alternative_name() {
            Ok(Some(san)) => {
                use x509_parser::extensions::GeneralName;
                for name in &san.value.general_names {
                    match name {
                        GeneralName::DNSName(d) => facts.san_dns.push(d.to_string()),
                        GeneralName::IPAddress(ip) => facts.san_ip.push(ip_text(ip)),
                        _ => {}
                    }
                }
            }
            Ok(None) => {}
            Err(e) => facts.error = Some(format!("bad subjectAltName: {e}")),
        }
        let validity = cert.validity();
        facts.not_before = Some(rfc3339(validity.not_before.to_datetime()));
        facts.not_after = Some(rfc3339(validity.not_after.to_datetime()));
        facts.serial = Some(hex(cert.raw_serial()));
        facts.self_signed = cert.subject().as_raw() == cert.issuer().as_raw()
            && cert.verify_signature(None).is_ok();
        facts
    }
}

/// RFC 3339 in UTC, whole seconds (`2026-01-01T00:00:00Z`); a time it
/// cannot write (a year past 9999) as seconds since the Unix epoch.
fn rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| format!("@{}", t.unix_timestamp()))
}

fn ip_text(b: &[u8]) -> String {
    match *b {
        [a, b, c, d] => Ipv4Addr::new(a, b, c, d).to_string(),
        _ => match <[u8; 16]>::try_from(b) {
            Ok(v6) => Ipv6Addr::from(v6).to_string(),
            // An address with a mask (name constraints) or a bad length.
            Err(_) => hex(b),
        },
    }
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 2);
    for byte in b {
        let _ = write!(s, "{byte:02x}");
    }
    s
}

/// How many of the server's first bytes [`Sniffed`] keeps: enough for a
/// status line (`HTTP/1.1 400 Bad Request`).
const HEAD: usize = 32;

/// A stream that keeps the first bytes read from it. Under a TLS
/// handshake, they are what the server answered the ClientHello with:
/// `HTTP/1.1 400` from a plain HTTP port, `SSH-2.0-...` from another
/// service.
pub struct Sniffed<S> {
    inner: S,
    head: [u8; HEAD],
    len: usize,
}

impl<S> Sniffed<S> {
    pub fn new(inner: S) -> Self {
        Sniffed {
            inner,
            head: [0; HEAD],
            len: 0,
        }
    }

    /// The first bytes read (up to 32).
    pub fn head(&self) -> &[u8] {
        self.head.get(..self.len).unwrap_or_default()
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniffed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.len < HEAD
            && let Some(new) = buf.filled().get(before..)
        {
            let me = &mut *self;
            let room = me.head.get_mut(me.len..).unwrap_or_default();
            let n = room.len().min(new.len());
            if let (Some(to), Some(from)) = (room.get_mut(..n), new.get(..n)) {
                to.copy_from_slice(from);
                me.len += n;
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniffed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The hint for a port that does not speak TLS.
const PLAIN: &str = "a ws:// (not wss://) port? try -n";

/// What a server that answered our ClientHello with something other than
/// TLS sent, in words (`None` when `head` looks like TLS, or is empty).
/// A TLS record starts with a content type of 20 to 24 and version 3.x.
pub fn not_tls(head: &[u8]) -> Option<String> {
    match head {
        [] | [20..=24] | [20..=24, 3, ..] => None,
        _ if head.starts_with(b"HTTP/") => Some(format!(
            "the server answered in plain HTTP ({}), not TLS: is this {PLAIN}",
            first_line(head)
        )),
        // An HTTP/0.9-style answer, the body alone: what Python's
        // http.server makes of a ClientHello (a request line without a
        // version).
        [b'<', ..] => Some(format!(
            "the server answered in plain HTTP (a page: {}), not TLS: is this {PLAIN}",
            first_line(head)
        )),
        _ => {
            // Shown when it is text (a banner), not when it is bytes.
            let raw = head.split(|&b| b == b'\r' || b == b'\n').next();
            let text =
                raw.is_some_and(|l| !l.is_empty() && l.iter().all(|b| matches!(b, b' '..=b'~')));
            let shown = if text {
                format!(" (it sent {})", first_line(head))
            } else {
                String::new()
            };
            Some(format!(
                "the server did not answer in TLS{shown}: is this {PLAIN}"
            ))
        }
    }
}

/// The first line of `head`, quoted, without its line end.
fn first_line(head: &[u8]) -> String {
    let line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    format!("{:?}", String::from_utf8_lossy(line))
}

/// A failed TLS handshake in words, with the likely fix. rustls's own
/// text falls back to its debug form for most certificate errors
/// (`invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))`),
/// and tokio-rustls says only `tls handshake eof` when a plain HTTP
/// server hangs up on a ClientHello.
pub fn failure(e: &io::Error) -> String {
    use rustls::Error as E;
    let Some(err) = e.get_ref().and_then(|i| i.downcast_ref::<E>()) else {
        return if e.kind() == io::ErrorKind::UnexpectedEof {
            format!("the server closed the connection during the TLS handshake: is this {PLAIN}")
        } else {
            e.to_string()
        };
    };
    match err {
        E::InvalidCertificate(c) => format!(
            "the server's certificate was rejected: {}; -k scans without checking certificates",
            certificate(c)
        ),
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. } => {
            format!("the server did not answer in TLS: is this {PLAIN}")
        }
        E::AlertReceived(rustls::AlertDescription::ProtocolVersion) => {
            "no TLS version in common (the server sent a protocol_version alert: it may speak \
             only TLS 1.0 or 1.1, which this scanner does not)"
                .to_string()
        }
        E::AlertReceived(a) => format!(
            "the server refused the TLS handshake (alert: {})",
            words(&format!("{a:?}"))
        ),
        E::PeerIncompatible(why) => format!(
            "no TLS version or cipher suite in common ({})",
            words(&format!("{why:?}"))
        ),
        E::NoCertificatesPresented => "the server sent no certificate".to_string(),
        other => other.to_string(),
    }
}

/// Why a certificate was rejected, as a clause: "it is ...".
fn certificate(c: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    let when = |t: rustls::pki_types::UnixTime| {
        i64::try_from(t.as_secs())
            .ok()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            .map_or_else(|| format!("@{}", t.as_secs()), rfc3339)
    };
    match c {
        C::BadEncoding => "it is not a valid DER certificate".into(),
        C::Expired => "it has expired".into(),
        C::ExpiredContext { not_after, .. } => format!("it expired at {}", when(*not_after)),
        C::NotValidYet => "it is not valid yet".into(),
        C::NotValidYetContext { not_before, .. } => {
            format!("it is not valid before {}", when(*not_before))
        }
        C::Revoked => "it is revoked".into(),
        C::UnhandledCriticalExtension => "it has a critical extension we do not handle".into(),
        C::UnknownIssuer => {
            "it is signed by an issuer we do not trust (self-signed, or a private CA)".into()
        }
        C::BadSignature => "its signature does not verify".into(),
        C::NotValidForName => "it is not valid for the target's name".into(),
        C::NotValidForNameContext {
            expected,
            presented,
        } => {
            let names = if presented.is_empty() {
                "it names no host (no subjectAltName)".to_string()
            } else {
                format!("it names only {}", presented.join(", "))
            };
            format!("it is not valid for {:?}: {names}", expected.to_str())
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "it is not issued for server authentication (extended key usage)".into()
        }
        C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "it is signed with an algorithm we do not support".into()
        }
        C::Other(o) => match o.0.downcast_ref::<webpki::Error>() {
            Some(w) => pki(w),
            None => words(&o.0.to_string()),
        },
        other => words(&format!("{other:?}")),
    }
}

/// rustls passes most of webpki's reasons on as an opaque `Other`.
fn pki(e: &webpki::Error) -> String {
    use webpki::Error as W;
    match e {
        W::CaUsedAsEndEntity => {
            "it is a CA certificate used as an end entity (the server sent a CA's certificate \
             as its own)"
                .into()
        }
        W::EndEntityUsedAsCa => "its chain uses a server (end-entity) certificate as a CA".into(),
        W::CertDistrusted => "it is signed by a distrusted issuer".into(),
        W::UnsupportedCertVersion => "it is not an X.509 v3 certificate".into(),
        W::UnsupportedCriticalExtension => "it has a critical extension we do not handle".into(),
        W::ExtensionValueInvalid | W::MalformedExtensions => "it has a malformed extension".into(),
        W::EmptyEkuExtension => "its extended key usage is empty".into(),
        W::MaximumPathDepthExceeded | W::MaximumPathBuildCallsExceeded => {
            "its chain is too long to check".into()
        }
        W::PathLenConstraintViolated => "its chain breaks a CA's path length limit".into(),
        W::NameConstraintViolation => "its names break its CA's name constraints".into(),
        W::SignatureAlgorithmMismatch => "it names two different signature algorithms".into(),
        W::MalformedDnsIdentifier => "it has a malformed DNS name".into(),
        W::InvalidSerialNumber => "its serial number is invalid".into(),
        W::UnsupportedNameType => "it names the server in a form we do not support".into(),
        other => words(&format!("{other:?}")),
    }
}

/// The innermost name of a debug form, in words:
/// `Other(OtherError(CaUsedAsEndEntity))` -> `ca used as end entity`.
fn words(debug: &str) -> String {
    let name = debug
        .split(['(', ')', ' ', '{', '}', ','])
        .rfind(|t| t.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        .unwrap_or(debug);
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn tls(e: rustls::Error) -> String {
        failure(&io::Error::new(io::ErrorKind::InvalidData, e))
    }

    #[test]
    fn tls_failures_read_as_words_with_the_fix() {
        use rustls::CertificateError as C;
        // What rustls' webpki verifier makes of a CA certificate served
        // as the server's own.
        let ca = C::Other(rustls::OtherError(Arc::new(
            webpki::Error::CaUsedAsEndEntity,
        )));
        let m = tls(rustls::Error::InvalidCertificate(ca));
        assert!(
            m.contains("rejected: it is a CA certificate used as an end entity")
                && m.contains("-k"),
            "{m}"
        );
        assert!(!m.contains("OtherError"), "{m}");
        // An error that is not webpki's still reads as words.
        let other = C::Other(rustls::OtherError(Arc::new(io::Error::other(
            "SomeNewReason",
        ))));
        assert!(tls(rustls::Error::InvalidCertificate(other)).contains("some new reason"));
        let m = tls(rustls::Error::InvalidCertificate(C::UnknownIssuer));
        assert!(m.contains("issuer we do not trust"), "{m}");
        let m = tls(rustls::Error::InvalidCertificate(C::ExpiredContext {
            time: rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                1_800_000_000,
            )),
            not_after: rustls::pki_types::UnixTime::since_unix_epoch(
                std::time::Duration::from_secs(1_700_000_000),
            ),
        }));
        assert!(m.contains("it expired at 2023-11-14T22:13:20Z"), "{m}");
        let m = tls(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        ));
        assert!(m.contains("try -n"), "{m}");
        let m = tls(rustls::Error::AlertReceived(
            rustls::AlertDescription::HandshakeFailure,
        ));
        assert!(m.contains("alert: handshake failure"), "{m}");
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "tls handshake eof");
        assert!(failure(&eof).contains("try -n"));
        assert_eq!(
            words("Other(OtherError(CaUsedAsEndEntity))"),
            "ca used as end entity"
        );
        assert_eq!(words("UnknownIssuer"), "unknown issuer");
    }

    #[test]
    fn a_plain_answer_to_the_client_hello_is_named() {
        let m = not_tls(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0").unwrap();
        assert_eq!(
            m,
            "the server answered in plain HTTP (\"HTTP/1.1 400 Bad Request\"), not TLS: \
             is this a ws:// (not wss://) port? try -n"
        );
        let m = not_tls(b"<!DOCTYPE HTML>\n<html lang=\"en\">").unwrap();
        assert!(
            m.starts_with("the server answered in plain HTTP (a page: \"<!DOCTYPE HTML>\")"),
            "{m}"
        );
        let m = not_tls(b"SSH-2.0-OpenSSH_9.2\r\n").unwrap();
        assert!(m.contains("(it sent \"SSH-2.0-OpenSSH_9.2\")"), "{m}");
        assert!(
            not_tls(b"\x00\x01\x02")
                .unwrap()
                .contains("did not answer in TLS:")
        );
        // A TLS record (a handshake or an alert) is not flagged.
        assert_eq!(not_tls(b"\x16\x03\x03\x00\x7a\x02"), None);
        assert_eq!(not_tls(b"\x15\x03\x03\x00\x02"), None);
        assert_eq!(not_tls(b"\x16"), None);
        assert_eq!(not_tls(b""), None);
    }

    #[test]
    fn names_are_iana_and_openssl_style() {
        assert_eq!(
            suite_name(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256),
            "TLS_AES_128_GCM_SHA256"
        );
        assert_eq!(
            suite_name(rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        );
        assert_eq!(suite_name(rustls::CipherSuite::Unknown(0x1234)), "0x1234");
        assert_eq!(version_name(rustls::ProtocolVersion::TLSv1_3), "TLSv1.3");
        assert_eq!(version_name(rustls::ProtocolVersion::TLSv1_2), "TLSv1.2");
        assert_eq!(ip_text(&[127, 0, 0, 1]), "127.0.0.1");
        assert_eq!(ip_text(&Ipv6Addr::LOCALHOST.octets()), "::1");
    }

    #[test]
    fn a_certificate_that_does_not_parse_is_still_hashed() {
        let f = CertFacts::of(b"not a certificate");
        assert!(f.error.as_deref().unwrap().contains("X.509"), "{f:?}");
        assert_eq!(f.subject, None);
        // SHA-256 of the 17 bytes, as `printf 'not a certificate' | sha256sum` says.
        assert_eq!(
            f.sha256,
            "47209c9b7af839de69e9a9cd625e9182c1ad63dae79ed88a2dd680fe34218620"
        );
        assert!(!f.self_signed);
    }
}
