//! Reading records back (for `match`, `evaluate`, and later `report` and
//! `diff`): streamed line by line, with every problem reported as
//! file:line and the rest of the file still read.

use std::io::{BufRead, BufReader};
use std::path::Path;

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
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    match v.get("schema_version").and_then(|s| s.as_u64()) {
        None => return Err("no schema_version: not a wsfp record".into()),
        Some(n) if n != u64::from(SCHEMA_VERSION) => {
            return Err(format!(
                "schema_version {n}, but this wsfp reads version {SCHEMA_VERSION}{}",
                if n > u64::from(SCHEMA_VERSION) {
                    " (written by a newer wsfp: upgrade)"
                } else {
                    " (written by an older wsfp)"
                }
            ));
        }
        Some(_) => {}
    }
    serde_json::from_value(v).map_err(|e| format!("bad record: {e}"))
}

/// Call `each` for every record of `path` ('-' for stdin); bad lines go to
/// `errors` and reading goes on. Fails only if the file cannot be opened.
pub fn for_each_record(
    path: &Path,
    errors: &mut Vec<ReadError>,
    mut each: impl FnMut(Record),
) -> std::io::Result<()> {
    let name = path.display().to_string();
    let reader: Box<dyn BufRead> = if name == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(std::fs::File::open(path)?))
    };
    for (i, line) in reader.lines().enumerate() {
        let n = i as u64 + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                errors.push(ReadError {
                    file: name.clone(),
                    line: n,
                    message: format!("cannot read: {e}"),
                });
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line) {
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
        assert!(
            parse_line(&good[..good.len() / 2])
                .unwrap_err()
                .starts_with("not JSON")
        );
    }
}
