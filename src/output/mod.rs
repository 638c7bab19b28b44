//! Output: the record model and its writers. Records stream out as they
//! complete; progress and summaries go to stderr, never into the data.

pub mod manifest;
pub mod progress;
pub mod read;
pub mod record;
pub mod rematch;

use std::io::{self, Write};

pub use record::{MIN_SCHEMA_VERSION, Record, SCHEMA_VERSION, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A readable table for a person.
    Text,
    /// One JSON record per line.
    Ndjson,
    /// Fixed columns (see docs/output.md).
    Csv,
}

/// One `--only` selector of `wsfp scan`: which records are written. The
/// summary still counts every record, and `--resume` still counts every
/// unit as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    /// Records of this status.
    Status(Status),
    /// `ok` records with an implementation named.
    Identified,
    /// `ok` records whose implementation is unknown.
    Unknown,
}

impl Only {
    /// A selector as `--only` takes it: `identified`, `unknown`, or a
    /// status name.
    pub fn parse(s: &str) -> Result<Only, String> {
        match s.trim() {
            "identified" => Ok(Only::Identified),
            "unknown" => Ok(Only::Unknown),
            name => Status::from_name(name).map(Only::Status).ok_or_else(|| {
                let names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "expected identified, unknown, or a status: {}",
                    names.join(", ")
                )
            }),
        }
    }

    /// Whether this selector takes `r`.
    pub fn selects(self, r: &Record) -> bool {
        match self {
            Only::Status(s) => r.status == s,
            Only::Identified => r.status == Status::Ok && r.implementation() != "unknown",
            Only::Unknown => r.status == Status::Ok && r.implementation() == "unknown",
        }
    }
}

/// One CSV cell of a record.
type Cell = fn(&Record) -> String;

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

/// The CSV columns, in their documented, fixed order: each name beside
/// the cell it heads, so the header and the rows cannot drift apart.
pub const CSV_COLUMNS: &[(&str, Cell)] = &[
    ("schema_version", |r| r.schema_version.to_string()),
    ("target", |r| r.target.clone()),
    ("url", |r| opt(&r.url)),
    ("ip", |r| opt(&r.ip)),
    ("status", |r| r.status.as_str().to_string()),
    ("http_status", |r| opt(&r.http_status)),
    ("implementation", |r| opt(&r.implementation)),
    ("confidence", |r| r.confidence.to_string()),
    ("candidates", |r| {
        let c: Vec<String> = r
            .candidates
            .iter()
            .map(|c| format!("{}:{}", c.id, c.score))
            .collect();
        c.join(";")
    }),
    ("elapsed_ms", |r| r.elapsed_ms.to_string()),
    ("bytes_sent", |r| r.bytes_sent.to_string()),
    ("bytes_received", |r| r.bytes_received.to_string()),
    ("connections", |r| r.connections.to_string()),
    ("probe_set", |r| r.probe_set.clone()),
    ("error", |r| opt(&r.error)),
    // Appended (after `error`, so readers of the first 15 columns by
    // position keep working).
    ("library", |r| opt(&r.library)),
    ("front", |r| opt(&r.front)),
    ("backend", |r| opt(&r.backend)),
    ("app_protocol", |r| opt(&r.app_protocol)),
    // Appended with the TLS facts: empty on ws targets.
    ("tls_version", |r| tls(r, |t| Some(t.version.clone()))),
    ("tls_cipher", |r| tls(r, |t| Some(t.cipher.clone()))),
    ("tls_alpn", |r| tls(r, |t| t.alpn.clone())),
    ("cert_subject", |r| cert(r, |c| c.subject.clone())),
    ("cert_sans", |r| {
        cert(r, |c| {
            let names: Vec<&str> = c
                .san_dns
                .iter()
                .chain(&c.san_ip)
                .map(String::as_str)
                .collect();
            Some(names.join(";"))
        })
    }),
    ("cert_issuer", |r| cert(r, |c| c.issuer.clone())),
    ("cert_not_before", |r| cert(r, |c| c.not_before.clone())),
    ("cert_not_after", |r| cert(r, |c| c.not_after.clone())),
    ("cert_sha256", |r| cert(r, |c| Some(c.sha256.clone()))),
    // Appended with `--proxy`: empty on direct scans.
    ("proxy", |r| opt(&r.proxy)),
];

/// A cell of the record's TLS facts (empty without them).
fn tls(r: &Record, cell: impl Fn(&crate::net::TlsFacts) -> Option<String>) -> String {
    r.tls.as_ref().and_then(cell).unwrap_or_default()
}

/// A cell of the server certificate's facts (empty without them).
fn cert(r: &Record, cell: impl Fn(&crate::net::CertFacts) -> Option<String>) -> String {
    tls(r, |t| t.cert.as_ref().and_then(&cell))
}

pub struct RecordWriter {
    out: Box<dyn Write + Send>,
    format: Format,
    csv: Option<csv::Writer<Box<dyn Write + Send>>>,
    /// Show every probe's observation in text mode.
    pub detail: bool,
    /// Flush after every record (interactive use). A survey turns this off
    /// and calls [`RecordWriter::flush`] on a timer and at checkpoints.
    pub flush_each: bool,
    /// One NDJSON line, reused from record to record.
    line: Vec<u8>,
    /// When set, each record written also leaves its (target, status,
    /// implementation) here: `wsfp demo` checks its farm's expected
    /// verdicts with them.
    pub kept: Option<Vec<(String, Status, String)>>,
    /// `--only`: when not empty, only records one of these selects are
    /// written (the others are passed over, and counted in `skipped`).
    pub only: Vec<Only>,
    /// Records `only` passed over.
    pub skipped: u64,
}

impl RecordWriter {
    pub fn new(out: Box<dyn Write + Send>, format: Format) -> io::Result<Self> {
        let mut w = RecordWriter {
            out,
            format,
            csv: None,
            detail: true,
            flush_each: true,
            line: Vec::new(),
            kept: None,
            only: Vec::new(),
            skipped: 0,
        };
        if format == Format::Csv {
            let out = std::mem::replace(&mut w.out, Box::new(io::sink()));
            let mut c = csv::Writer::from_writer(out);
            c.write_record(CSV_COLUMNS.iter().map(|(name, _)| name))
                .map_err(csv_io)?;
            w.csv = Some(c);
        }
        Ok(w)
    }

    /// Write one record and flush, so a killed scan loses nothing written.
    pub fn write(&mut self, r: &Record) -> io::Result<()> {
        if let Some(k) = &mut self.kept {
            k.push((r.target.clone(), r.status, r.implementation().to_string()));
        }
        if !self.only.is_empty() && !self.only.iter().any(|o| o.selects(r)) {
            self.skipped += 1;
            return Ok(());
        }
        match self.format {
            Format::Ndjson => {
                // Serialise first, so an I/O error (a closed pipe) reaches
                // the caller as itself, not wrapped in a JSON error.
                self.line.clear();
                serde_json::to_writer(&mut self.line, r).map_err(io::Error::other)?;
                self.line.push(b'\n');
                self.out.write_all(&self.line)?;
                if self.flush_each {
                    self.out.flush()?;
                }
                Ok(())
            }
            Format::Csv => {
                let c = self.csv.as_mut().expect("csv writer");
                c.write_record(CSV_COLUMNS.iter().map(|(_, cell)| cell(r)))
                    .map_err(csv_io)?;
                if self.flush_each {
                    c.flush()?;
                }
                Ok(())
            }
            Format::Text => {
                let text = render_text(r, self.detail);
                self.out.write_all(text.as_bytes())?;
                if self.flush_each {
                    self.out.flush()?;
                }
                Ok(())
            }
        }
    }

    /// Push everything written so far to the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        match self.csv.as_mut() {
            Some(c) => c.flush(),
            None => self.out.flush(),
        }
    }
}

/// A csv error as the I/O error underneath, when there is one.
fn csv_io(e: csv::Error) -> io::Error {
    match e.kind() {
        csv::ErrorKind::Io(io) => io::Error::new(io.kind(), io.to_string()),
        _ => io::Error::other(e),
    }
}

/// Observations in probe-number order (100, 101, ..., 999, 1001), not
/// the map's string order (which puts 1001 between 100 and 101); an id
/// that is not a number comes after the numbered ones, by name.
fn by_probe_number<V>(m: &std::collections::BTreeMap<String, V>) -> Vec<(&String, &V)> {
    let mut v: Vec<(&String, &V)> = m.iter().collect();
    v.sort_by_key(|(id, _)| (id.parse::<u64>().map_or((1, 0), |n| (0, n)), id.as_str()));
    v
}

/// The human rendering of one record.
pub fn render_text(r: &Record, detail: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}  {}{}",
        escape_controls(r.url.as_deref().unwrap_or(&r.target)),
        r.status.as_str(),
        r.http_status
            .map(|h| format!(" (HTTP {h})"))
            .unwrap_or_default()
    );
    if let Some(e) = &r.error {
        let _ = writeln!(s, "  error: {}", escape_controls(e));
    }
    if let Some(p) = &r.proxy {
        let _ = writeln!(s, "  via proxy: {}", escape_controls(p));
    }
    if let Some(t) = &r.tls {
        let _ = writeln!(s, "  tls: {}", escape_controls(&tls_line(t)));
    }
    if let Some(imp) = &r.implementation {
        // Its name, when it is a fingerprint's id (not a bare library).
        let name = r
            .candidates
            .iter()
            .find(|c| c.id == *imp && c.name != *imp)
            .map(|c| format!(" ({})", escape_controls(&c.name)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  implementation: {imp}{name}  confidence {:.2}",
            r.confidence
        );
    }
    if let Some(lib) = r.library.as_deref().filter(|l| *l != r.implementation()) {
        let _ = writeln!(s, "  library: {lib}");
    }
    if let Some(v) = &r.version {
        let _ = writeln!(s, "  version: {v}");
    }
    if let Some(a) = &r.app_protocol {
        let _ = writeln!(s, "  app protocol: {}", escape_controls(a));
    }
    if let Some(l) = &r.layers {
        let _ = writeln!(
            s,
            "  layers disagree: the HTTP head names {}, the frames name {} (a proxy not in the DB in front?)",
            l.head, l.frames
        );
    }
    if let (Some(f), Some(b)) = (&r.front, &r.backend) {
        let _ = writeln!(s, "  front (HTTP head): {f}  backend (frames): {b}");
    }
    // In rank order: by the weight that did not match (least first), as
    // the list is sorted; `score` (matched share) breaks ties.
    for c in &r.candidates {
        let mismatch = c
            .mismatch
            .map_or_else(|| "   -  ".to_string(), |m| format!("{m:6.3}"));
        let _ = writeln!(
            s,
            "    {:<28} mismatch {mismatch}  score {:.3}  ({}/{} features)",
            c.id, c.score, c.matched, c.compared
        );
    }
    if let [first, second, ..] = &r.candidates[..]
        && !r.why.is_empty()
    {
        let _ = writeln!(s, "  why {} and not {}:", first.id, second.id);
        // Long values (a header order, a body) cut to a readable width.
        let shown = |v: &Option<String>| match v.as_deref() {
            None => "(nothing)".to_string(),
            Some(v) if v.chars().count() > 40 => {
                let cut: String = v.chars().take(39).collect();
                format!("{}…", escape_controls(&cut))
            }
            Some(v) => escape_controls(v).into_owned(),
        };
        for w in &r.why {
            let _ = writeln!(
                s,
                "    {:<28} saw {:<24} {} expects {}, {} expects {}  ({:+.2})",
                w.feature,
                shown(&w.observed),
                first.id,
                shown(&w.first),
                second.id,
                shown(&w.second),
                w.weight
            );
        }
    }
    let _ = writeln!(
        s,
        "  {} probes, {} connections, {} bytes sent, {} received, {} ms",
        r.observations.len(),
        r.connections,
        r.bytes_sent,
        r.bytes_received,
        r.elapsed_ms
    );
    if detail && !r.observations.is_empty() {
        let _ = writeln!(
            s,
            "  {:<5} {:<10} {:<6} {:<9} reaction",
            "case", "outcome", "http", "end"
        );
        for (id, o) in by_probe_number(&r.observations) {
            let frames: Vec<String> = o
                .frames
                .iter()
                .map(|f| match (f.close_code, &f.close_reason) {
                    (Some(c), Some(r)) if !r.is_empty() => format!("close {c} {r:?}"),
                    (Some(c), _) => format!("close {c}"),
                    (None, _) if f.opcode == 8 => "close (no code)".into(),
                    _ => format!("{} ({} B)", crate::wire::Opcode(f.opcode).name(), f.len),
                })
                .collect();
            let mut extra = frames.join(", ");
            if extra.is_empty() {
                let hs: Vec<String> = o
                    .headers
                    .iter()
                    .filter(|(k, _)| k.as_str() != "server")
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect();
                extra = hs.join("; ");
            }
            if extra.is_empty()
                && let Some(b) = &o.body_tail
            {
                extra = format!("body {:?}", b.trim().chars().take(60).collect::<String>());
            }
            if let Some(m) = o.url_match {
                extra = format!("url match: {m}");
            }
            let outcome = serde_json::to_value(o.outcome)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let end = serde_json::to_value(o.end)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  {:<5} {:<10} {:<6} {:<9} {}",
                id,
                outcome,
                o.status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into()),
                end,
                extra
            );
        }
    }
    s
}

/// The text view's TLS line: `TLSv1.3 TLS_AES_128_GCM_SHA256, cert
/// CN=example.com (self-signed), expires 2027-01-01T00:00:00Z`.
fn tls_line(t: &crate::net::TlsFacts) -> String {
    let mut line = format!("{} {}", t.version, t.cipher);
    if let Some(a) = &t.alpn {
        line.push_str(&format!(" (alpn {a})"));
    }
    if let Some(c) = &t.cert {
        match (&c.subject_cn, &c.subject) {
            (Some(cn), _) => line.push_str(&format!(", cert CN={cn}")),
            (None, Some(dn)) if !dn.is_empty() => line.push_str(&format!(", cert {dn}")),
            _ => line.push_str(", cert without a subject"),
        }
        if c.self_signed {
            line.push_str(" (self-signed)");
        } else if let Some(issuer) = c.issuer_cn.as_ref().or(c.issuer.as_ref()) {
            line.push_str(&format!(" from {issuer}"));
        }
        if let Some(end) = &c.not_after {
            line.push_str(&format!(", expires {end}"));
        }
    }
    line
}

/// Control characters escaped for display (`\0`, `\x01`, `\n`), the rest
/// as is: a target line or an error may carry any byte, and a terminal
/// would act on them.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_for_display() {
        assert_eq!(escape_controls("a\0b\u{1}\n\u{9b}"), "a\\0b\\x01\\n\\x9b");
        assert!(matches!(
            escape_controls("plain ü"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
