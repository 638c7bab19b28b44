//! Reading records back (for `match`, `evaluate`, and later `report` and
//! `diff`): streamed line by line, with every problem reported as
//! file:line and the rest of the file still read.

// No panics by construction: what a peer, a capture or an input file sends
// must not be able to reach an unwrap, an index or a slice that panics
// (issue #15). Tests may still unwrap.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::string_slice
    )
)]

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::record::{MIN_SCHEMA_VERSION, Record, SCHEMA_VERSION};

/// A problem with one input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub file: String,
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Parse one NDJSON line into a record, checking the schema version first
/// so that a record from another version gets a clear message rather than
/// a field error.
/// A record of an older version still read is upgraded to this one's
/// shape ([`Record::upgrade`]).
pub fn parse_line(text: &str) -> Result<Record, String> {
    parse_line_versioned(text).map(|(r, _)| r)
}

/// [`parse_line`], and the version the line was written in (the record
/// itself is upgraded to [`SCHEMA_VERSION`]).
pub fn parse_line_versioned(text: &str) -> Result<(Record, u32), String> {
    let mut r: Record = parse_versioned(text)?;
    let read = r.schema_version;
    if read != SCHEMA_VERSION {
        r.upgrade();
    }
    Ok((r, read))
}

/// Whether readers take records of version `v`.
pub fn readable(v: u64) -> bool {
    (u64::from(MIN_SCHEMA_VERSION)..=u64::from(SCHEMA_VERSION)).contains(&v)
}

/// A record view that reads `schema_version` itself, so one pass over a
/// line can both check the version and build the view.
pub trait Versioned {
    fn schema_version(&self) -> u32;
}

impl Versioned for Record {
    fn schema_version(&self) -> u32 {
        self.schema_version
    }
}

/// [`parse_line_as`] in one pass for a good line: into a view that reads
/// its own `schema_version` (and may borrow from the line), with the
/// version checked afterwards. Only a line that fails is parsed again, by
/// [`parse_line_as`], whose order gives the clearest message (syntax,
/// then version, then fields). Parsing every line twice was a fifth of
/// `match`'s time on full records.
pub fn parse_versioned<'a, T: Deserialize<'a> + Versioned>(text: &'a str) -> Result<T, String> {
    if text.trim_start().starts_with('{')
        && let Ok(r) = serde_json::from_str::<T>(text)
    {
        return match r.schema_version() {
            n if readable(u64::from(n)) => Ok(r),
            n => Err(version_error(Some(u64::from(n)))),
        };
    }
    match parse_line_as::<serde::de::IgnoredAny>(text) {
        Err(e) => Err(e),
        // The version is right and the line is JSON, so the view's fields
        // are what failed.
        Ok(_) => serde_json::from_str::<T>(text).map_err(|e| format!("bad record: {e}")),
    }
}

/// Only the version, skipping everything else without building it.
#[derive(Deserialize)]
struct VersionOnly {
    #[serde(default)]
    schema_version: Option<u64>,
}

/// [`parse_line`] into any record view: the full [`Record`], or a
/// smaller struct of the fields a reader needs (`report` and `diff` skip
/// the observations, most of a record's bytes). Deserialises straight from
/// the text (no intermediate `Value` tree): this is the hot path of
/// `match`, `report` and `diff`.
pub fn parse_line_as<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let object = text.trim_start().starts_with('{');
    let v: VersionOnly = match serde_json::from_str(text) {
        Err(e) if !e.is_data() => return Err(format!("not JSON: {e}")),
        Err(e) if object => return Err(format!("bad schema_version: {e}")),
        // Valid JSON but no object (an array would even deserialise into
        // the struct positionally).
        _ if !object => return Err("not a JSON object: not a wsfp record".into()),
        Err(e) => return Err(format!("bad schema_version: {e}")),
        Ok(v) => v,
    };
    if !v.schema_version.is_some_and(readable) {
        return Err(version_error(v.schema_version));
    }
    serde_json::from_str(text).map_err(|e| format!("bad record: {e}"))
}

/// The message for a missing or other schema version.
fn version_error(v: Option<u64>) -> String {
    match v {
        None => "no schema_version: not a wsfp record".into(),
        Some(n) => format!(
            "schema_version {n}, but this wsfp reads versions {MIN_SCHEMA_VERSION} to {SCHEMA_VERSION}{}",
            if n > u64::from(SCHEMA_VERSION) {
                " (written by a newer wsfp: upgrade)"
            } else {
                " (written by an older wsfp)"
            }
        ),
    }
}

/// Longest record line read back. wsfp's own records are far below it
/// (the largest lab record is 15 KB; every part of a record is capped);
/// a longer line is not a record, and is skipped without being held.
pub const MAX_LINE: usize = 16 << 20;

/// What [`Lines::next_into`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A line, appended to the buffer (its `\n` included, if it had one).
    Line,
    /// A line longer than the cap: read past, nothing appended.
    Long,
    /// The end of the input.
    Eof,
}

/// Lines of an input as bytes, each at most `max` bytes: a line is
/// whatever its bytes are (invalid UTF-8 is the caller's bad line, not the
/// end of the input), and a line beyond the cap costs the reader's buffer,
/// not its length.
pub struct Lines<R> {
    input: R,
    max: usize,
    line: u64,
}

impl<R: BufRead> Lines<R> {
    pub fn new(input: R, max: usize) -> Self {
        Lines {
            input,
            max,
            line: 0,
        }
    }

    /// The number of the line last returned (1-based); after an error,
    /// the line that failed is the next one.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Append the next line to `buf`. An I/O error is returned as is (the
    /// bytes of a partly read line are taken off `buf` again).
    pub fn next_into(&mut self, buf: &mut Vec<u8>) -> std::io::Result<Next> {
        let start = buf.len();
        // Bytes of this line seen, its `\n` included; past the cap they
        // are counted, not kept.
        let mut seen = 0usize;
        loop {
            let avail = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    buf.truncate(start);
                    return Err(e);
                }
            };
            if avail.is_empty() {
                break;
            }
            let (piece, done) = match memchr::memchr(b'\n', avail).and_then(|i| avail.get(..=i)) {
                Some(through_newline) => (through_newline, true),
                None => (avail, false),
            };
            let take = piece.len();
            seen += take;
            if seen <= self.max + 1 {
                buf.extend_from_slice(piece);
            } else {
                buf.truncate(start);
            }
            self.input.consume(take);
            if done {
                break;
            }
        }
        if seen == 0 {
            return Ok(Next::Eof);
        }
        self.line += 1;
        let text = buf.get(start..).unwrap_or_default();
        let len = text.len() - usize::from(text.ends_with(b"\n"));
        if seen > self.max + 1 || len > self.max {
            buf.truncate(start);
            return Ok(Next::Long);
        }
        Ok(Next::Line)
    }
}

/// The message for a line over [`MAX_LINE`].
pub fn long_line_error() -> String {
    format!("line longer than {} MiB: skipped", MAX_LINE >> 20)
}

/// `bytes` as text, or the message for a line that is not UTF-8.
pub fn line_text(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "not valid UTF-8 (byte {} of the line): skipped",
            e.valid_up_to() + 1
        )
    })
}

/// Call `each` for every record of `path` ('-' for stdin); bad lines go to
/// `errors` and reading goes on. Fails only if the file cannot be opened.
pub fn for_each_record(
    path: &Path,
    errors: &mut Vec<ReadError>,
    mut each: impl FnMut(Record),
) -> std::io::Result<()> {
    // An older record in this version's shape, as [`parse_line`] gives it.
    for_each_line(path, errors, |mut r: Record| {
        if r.schema_version != SCHEMA_VERSION {
            r.upgrade();
        }
        each(r)
    })
}

/// [`for_each_record`] into any record view (see [`parse_line_as`]).
pub fn for_each_line<T: DeserializeOwned>(
    path: &Path,
    errors: &mut Vec<ReadError>,
    each: impl FnMut(T),
) -> std::io::Result<()> {
    let name = path.display().to_string();
    let reader: Box<dyn BufRead> = if name == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::with_capacity(
            1 << 16,
            std::fs::File::open(path)?,
        ))
    };
    read_lines(&name, reader, MAX_LINE, errors, each);
    Ok(())
}

/// The loop of [`for_each_line`] over any input, with its line cap.
fn read_lines<T: DeserializeOwned>(
    name: &str,
    input: impl BufRead,
    max: usize,
    errors: &mut Vec<ReadError>,
    mut each: impl FnMut(T),
) {
    let mut lines = Lines::new(input, max);
    // One buffer for every line: no allocation per record for the text.
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let error = |line, message| ReadError {
            file: name.to_string(),
            line,
            message,
        };
        match lines.next_into(&mut buf) {
            Ok(Next::Eof) => break,
            Ok(Next::Line) => {}
            Ok(Next::Long) => {
                errors.push(error(lines.line(), long_line_error()));
                continue;
            }
            Err(e) => {
                errors.push(error(lines.line() + 1, format!("cannot read: {e}")));
                break;
            }
        }
        let parsed = line_text(&buf).and_then(|text| {
            if text.trim().is_empty() {
                Ok(None)
            } else {
                parse_line_as(text).map(Some)
            }
        });
        match parsed {
            Ok(Some(r)) => each(r),
            Ok(None) => {}
            Err(message) => errors.push(error(lines.line(), message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Status;

    #[test]
    fn versions_and_garbage_get_clear_messages() {
        let r = Record::failed("t", Status::Refused, "x", "p");
        let good = serde_json::to_string(&r).unwrap();
        assert_eq!(parse_line(&good).unwrap().target, "t");
        let newer = good.replace("\"schema_version\":2", "\"schema_version\":3");
        assert!(parse_line(&newer).unwrap_err().contains("newer wsfp"));
        assert!(
            parse_line("{\"a\":1}")
                .unwrap_err()
                .contains("not a wsfp record")
        );
        for not_object in ["[1]", "3", "\"x\""] {
            assert!(
                parse_line(not_object)
                    .unwrap_err()
                    .contains("not a JSON object"),
                "{not_object}"
            );
        }
        let older = good.replace("\"schema_version\":2", "\"schema_version\":0");
        assert!(parse_line(&older).unwrap_err().contains("older wsfp"));
        assert!(
            parse_line(&good[..good.len() / 2])
                .unwrap_err()
                .starts_with("not JSON")
        );
    }

    /// Version 2 writes no `implementation` on a record that is not
    /// `ok`; a version-1 record (`"unknown"` there) still loads, upgraded.
    #[test]
    fn version_1_records_load_upgraded() {
        let r = Record::failed("t", Status::Refused, "x", "p");
        let v2 = serde_json::to_string(&r).unwrap();
        assert!(v2.contains("\"schema_version\":2"), "{v2}");
        assert!(!v2.contains("implementation"), "{v2}");
        let v1 = v2.replace(
            "\"schema_version\":2",
            "\"schema_version\":1,\"implementation\":\"unknown\"",
        );
        let (old, read) = parse_line_versioned(&v1).unwrap();
        assert_eq!(read, 1);
        assert_eq!((old.schema_version, old.implementation), (2, None));
        assert_eq!(parse_line(&v1).unwrap(), parse_line(&v2).unwrap());
        // An `ok` version-1 record keeps its verdict.
        let ok = v1.replace("\"refused\"", "\"ok\"");
        let r = parse_line(&ok).unwrap();
        assert_eq!(r.implementation.as_deref(), Some("unknown"));
        // The views of `report` and `diff` read both.
        for line in [&v1, &v2] {
            let s: crate::analyze::Summary = parse_line_as(line).unwrap();
            assert_eq!(s.implementation, "unknown");
        }
    }

    #[test]
    fn lines_are_bytes_capped_and_numbered() {
        let mut input: &[u8] = b"ab\n\xff\xfe\n0123456789\n\n12345678\r\nend";
        let mut lines = Lines::new(&mut input, 8);
        let mut got = Vec::new();
        loop {
            let mut buf = Vec::new();
            match lines.next_into(&mut buf).unwrap() {
                Next::Eof => break,
                n => got.push((lines.line(), n, buf)),
            }
        }
        let want: Vec<(u64, Next, Vec<u8>)> = vec![
            (1, Next::Line, b"ab\n".to_vec()),
            (2, Next::Line, b"\xff\xfe\n".to_vec()),
            (3, Next::Long, vec![]),
            (4, Next::Line, b"\n".to_vec()),
            // The cap counts the `\r` (it is part of the line to JSON).
            (5, Next::Long, vec![]),
            (6, Next::Line, b"end".to_vec()),
        ];
        assert_eq!(got, want);
        assert!(line_text(b"\xff\xfe").unwrap_err().contains("byte 1"));
        assert!(line_text(b"ok\xc3(").unwrap_err().contains("byte 3"));
    }

    /// A reader that hands out a few bytes per call, then fails.
    struct Trickle<'a>(&'a [u8], usize);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = self.0.len().min(self.1).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn bad_lines_are_skipped_and_a_read_error_ends_the_input() {
        let r = Record::failed("t", Status::Refused, "x", "p");
        let good = serde_json::to_string(&r).unwrap();
        let mut input = format!("{good}\n").into_bytes();
        input.extend_from_slice(b"{\"schema_version\":1,\"target\":\"\xff\"}\n");
        input.extend(std::iter::repeat_n(b' ', 5000));
        input.extend_from_slice(format!("\n \n{good}\n{good}\n").as_bytes());
        let reader = std::io::BufReader::with_capacity(64, Trickle(&input, 7));
        let mut errors = Vec::new();
        let mut n = 0;
        read_lines::<Record>("in", reader, 1000, &mut errors, |_| n += 1);
        assert_eq!(n, 3, "{errors:?}");
        let got: Vec<(u64, &str)> = errors
            .iter()
            .map(|e| (e.line, e.message.split(' ').next().unwrap()))
            .collect();
        assert_eq!(got, [(2, "not"), (3, "line"), (7, "cannot")], "{errors:?}");
    }
}
