//! Reading records back (for `match`, `evaluate`, and later `report` and
//! `diff`): streamed line by line, with every problem reported as
//! file:line and the rest of the file still read.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::record::{Record, SCHEMA_VERSION};

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
pub fn parse_line(text: &str) -> Result<Record, String> {
    parse_versioned(text)
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
            SCHEMA_VERSION => Ok(r),
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
    if v.schema_version != Some(u64::from(SCHEMA_VERSION)) {
        return Err(version_error(v.schema_version));
    }
    serde_json::from_str(text).map_err(|e| format!("bad record: {e}"))
}

/// The message for a missing or other schema version.
fn version_error(v: Option<u64>) -> String {
    match v {
        None => "no schema_version: not a wsfp record".into(),
        Some(n) => format!(
            "schema_version {n}, but this wsfp reads version {SCHEMA_VERSION}{}",
            if n > u64::from(SCHEMA_VERSION) {
                " (written by a newer wsfp: upgrade)"
            } else {
                " (written by an older wsfp)"
            }
        ),
    }
}

/// Call `each` for every record of `path` ('-' for stdin); bad lines go to
/// `errors` and reading goes on. Fails only if the file cannot be opened.
pub fn for_each_record(
    path: &Path,
    errors: &mut Vec<ReadError>,
    each: impl FnMut(Record),
) -> std::io::Result<()> {
    for_each_line(path, errors, each)
}

/// [`for_each_record`] into any record view (see [`parse_line_as`]).
pub fn for_each_line<T: DeserializeOwned>(
    path: &Path,
    errors: &mut Vec<ReadError>,
    mut each: impl FnMut(T),
) -> std::io::Result<()> {
    let name = path.display().to_string();
    let mut reader: Box<dyn BufRead> = if name == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::with_capacity(
            1 << 16,
            std::fs::File::open(path)?,
        ))
    };
    // One buffer for every line: no allocation per record for the text.
    let mut line = String::new();
    let mut n = 0u64;
    loop {
        line.clear();
        n += 1;
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                errors.push(ReadError {
                    file: name.clone(),
                    line: n,
                    message: format!("cannot read: {e}"),
                });
                break;
            }
        }
        if line.trim().is_empty() {
            continue;
        }
        match parse_line_as(&line) {
            Ok(r) => each(r),
            Err(message) => errors.push(ReadError {
                file: name.clone(),
                line: n,
                message,
            }),
        }
    }
    Ok(())
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
        let newer = good.replace("\"schema_version\":1", "\"schema_version\":2");
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
        let older = good.replace("\"schema_version\":1", "\"schema_version\":0");
        assert!(parse_line(&older).unwrap_err().contains("older wsfp"));
        assert!(
            parse_line(&good[..good.len() / 2])
                .unwrap_err()
                .starts_with("not JSON")
        );
    }
}
