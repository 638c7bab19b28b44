//! Survey analytics over stored results: prevalence reports (`report`)
//! and inventory changes between two scans (`diff`). Both stream records
//! through [`crate::output::read::for_each_record`]; what they keep grows
//! with the number of distinct keys (implementations, ports, endpoints of
//! one side for `diff`), never with the number of records read.

pub mod diff;
pub mod evidence;
pub mod html;
pub mod report;

use std::collections::HashMap;

use serde::Deserialize;

use crate::fingerprint::Db;
use crate::output::{Record, Status};

/// What the DB says about a verdict. A record stores only the
/// implementation id (and its library); family, language and versions live
/// in the DB, so the analytics look them up here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub name: String,
    pub library: String,
    pub family: String,
    pub language: String,
    /// The versions the fingerprint was generated from (its `versions`
    /// list), joined: wsfp does not read version numbers off the wire, so
    /// this is "the version a matching fingerprint was made from".
    pub version: String,
}

/// Verdict → DB metadata, built once per run.
#[derive(Debug, Clone, Default)]
pub struct DbIndex {
    by_id: HashMap<String, Meta>,
}

impl DbIndex {
    pub fn new(db: &Db) -> DbIndex {
        let mut by_id: HashMap<String, Meta> = HashMap::new();
        for fp in &db.fingerprints {
            by_id.insert(
                fp.id.clone(),
                Meta {
                    name: fp.name.clone(),
                    library: fp.library.clone(),
                    family: fp.family.clone(),
                    language: fp.language.clone(),
                    version: fp.versions.join(", "),
                },
            );
        }
        // A library-level verdict (wire-identical implementations of one
        // library, e.g. `npm:ws`) has no fingerprint of its own: give it
        // the family and language its fingerprints agree on, and no
        // version (which of them it is, is exactly what is unknown).
        let mut libs: HashMap<&str, Vec<&crate::fingerprint::Fingerprint>> = HashMap::new();
        for fp in &db.fingerprints {
            libs.entry(fp.library.as_str()).or_default().push(fp);
        }
        for (lib, fps) in libs {
            if by_id.contains_key(lib) {
                continue;
            }
            let agree = |f: fn(&crate::fingerprint::Fingerprint) -> &str| {
                let first = f(fps[0]);
                if fps.iter().all(|fp| f(fp) == first) {
                    first.to_string()
                } else {
                    UNKNOWN.to_string()
                }
            };
            by_id.insert(
                lib.to_string(),
                Meta {
                    name: lib.to_string(),
                    library: lib.to_string(),
                    family: agree(|f| f.family.as_str()),
                    language: agree(|f| f.language.as_str()),
                    version: String::new(),
                },
            );
        }
        DbIndex { by_id }
    }

    pub fn get(&self, implementation: &str) -> Option<&Meta> {
        self.by_id.get(implementation)
    }

    /// The version key of a verdict: the fingerprint's versions, or
    /// `unknown` when the DB has none for it (library-level verdicts,
    /// `unknown`, ids not in this DB).
    pub fn version(&self, implementation: &str) -> String {
        match self.get(implementation) {
            Some(m) if !m.version.is_empty() => m.version.clone(),
            _ => UNKNOWN.to_string(),
        }
    }
}

/// The key for "no verdict" / "not known", as records spell it.
pub const UNKNOWN: &str = "unknown";

fn unknown() -> String {
    UNKNOWN.to_string()
}

/// The fields of a record that `report` and `diff` use. Reading this
/// instead of a full [`Record`] skips the observations and candidates
/// (most of a record's bytes) without building them, which is most of the
/// cost of a report over a large survey.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Summary {
    pub target: String,
    #[serde(default)]
    pub url: Option<String>,
    pub status: Status,
    /// `unknown` when absent (schema 2 writes it on `ok` records only).
    #[serde(default = "unknown")]
    pub implementation: String,
    #[serde(default)]
    pub library: Option<String>,
    /// The reverse proxy in front, when the record names one.
    #[serde(default)]
    pub front: Option<String>,
    /// The app protocol the server volunteered.
    #[serde(default)]
    pub app_protocol: Option<String>,
    /// The record's version estimate.
    #[serde(default)]
    pub version: Option<crate::fingerprint::version::Estimate>,
    pub confidence: f64,
}

impl From<&Record> for Summary {
    fn from(r: &Record) -> Summary {
        Summary {
            target: r.target.clone(),
            url: r.url.clone(),
            status: r.status,
            implementation: r.implementation().to_string(),
            library: r.library.clone(),
            front: r.front.clone(),
            app_protocol: r.app_protocol.clone(),
            version: r.version.clone(),
            confidence: r.confidence,
        }
    }
}

/// The endpoint a record is about: its normalised URL, or the input as
/// given when it never got one (an invalid target). `diff` keys on it.
pub fn endpoint(r: &Summary) -> &str {
    r.url.as_deref().unwrap_or(&r.target)
}
