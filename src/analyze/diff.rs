//! Inventory change between two scans of the same targets (yesterday's
//! and today's scheduled run), keyed by endpoint ([`super::endpoint`]):
//! endpoints that appeared or disappeared, and those whose status,
//! implementation or version changed.
//!
//! Memory: the OLD side is held as endpoint → (status, implementation,
//! version), plus the set of NEW endpoints seen (to catch duplicates); the
//! NEW side is streamed, each change written as soon as it is known. So a
//! diff costs a few hundred bytes per endpoint of the old scan, never the
//! observations.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::evidence::{self, Evidence, EvidenceChange, Interner};
use super::{DbIndex, Summary, endpoint};
use crate::output::Status;

/// Bumped on any incompatible change to the diff NDJSON.
pub const DIFF_VERSION: u32 = 1;

/// What one scan said about an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub implementation: String,
    /// The verdict's version per the DB (`unknown` when it has none).
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Appeared,
    Disappeared,
    Changed,
}

/// One NDJSON line of `wsfp diff --format ndjson`
/// (docs/schema/diff.schema.json).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub diff_version: u32,
    pub change: Kind,
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<State>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<State>,
    /// For `changed`: which of status, implementation, version and (with
    /// `--evidence`) evidence differ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// With `--evidence`: the features and observation fields that differ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<EvidenceChange>,
}

impl Change {
    pub fn to_text(&self) -> String {
        let state =
            |s: &State| format!("{} {} ({})", s.status.as_str(), s.implementation, s.version);
        match (self.change, &self.old, &self.new) {
            (Kind::Appeared, _, Some(n)) => format!("+ {}  {}", self.endpoint, state(n)),
            (Kind::Disappeared, Some(o), _) => format!("- {}  {}", self.endpoint, state(o)),
            (_, Some(o), Some(n)) => {
                let parts: Vec<String> = self
                    .fields
                    .iter()
                    .map(|f| {
                        let (a, b) = match f.as_str() {
                            "status" => (o.status.as_str(), n.status.as_str()),
                            "implementation" => {
                                (o.implementation.as_str(), n.implementation.as_str())
                            }
                            "evidence" => {
                                return format!("evidence: {} differences", self.evidence.len());
                            }
                            _ => (o.version.as_str(), n.version.as_str()),
                        };
                        format!("{f} {a} -> {b}")
                    })
                    .collect();
                // One line per evidence difference, indented under the
                // endpoint's line.
                let mut text = format!("~ {}  {}", self.endpoint, parts.join("; "));
                for e in &self.evidence {
                    text.push_str("\n    ");
                    text.push_str(&e.to_text());
                }
                text
            }
            _ => format!("? {}", self.endpoint),
        }
    }
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub appeared: u64,
    pub disappeared: u64,
    pub changed: u64,
    pub unchanged: u64,
    /// Endpoints seen more than once in one scan (the later ones skipped).
    pub duplicates: u64,
}

#[derive(Debug, Default)]
pub struct Differ {
    index: DbIndex,
    /// OLD: endpoint → (state, matched by a NEW record yet, evidence when
    /// compared).
    old: HashMap<String, (State, bool, Option<Evidence>)>,
    /// Feature names and values of the evidence, stored once.
    names: Interner,
    seen_new: HashSet<String>,
    pub tally: Tally,
}

impl Differ {
    pub fn new(index: DbIndex) -> Differ {
        Differ {
            index,
            ..Differ::default()
        }
    }

    fn state(&self, r: &Summary) -> State {
        State {
            status: r.status,
            implementation: r.implementation.clone(),
            version: self.index.version(&r.implementation),
        }
    }

    /// Remember one record of the OLD scan.
    pub fn add_old(&mut self, r: &Summary) {
        self.add_old_with(r, None);
    }

    /// [`Self::add_old`] of a full record, keeping its evidence
    /// (`--evidence`).
    pub fn add_old_record(&mut self, set: &crate::probe::ProbeSet, r: &crate::output::Record) {
        let e = evidence::evidence_of(set, r, &mut self.names);
        self.add_old_with(&Summary::from(r), Some(e));
    }

    fn add_old_with(&mut self, r: &Summary, e: Option<Evidence>) {
        let s = self.state(r);
        if self
            .old
            .insert(endpoint(r).to_string(), (s, false, e))
            .is_some()
        {
            self.tally.duplicates += 1;
        }
    }

    /// Compare one record of the NEW scan; `Some` when it is a change.
    pub fn add_new(&mut self, r: &Summary) -> Option<Change> {
        self.add_new_with(r, None)
    }

    /// [`Self::add_new`] of a full record, comparing its evidence too.
    pub fn add_new_record(
        &mut self,
        set: &crate::probe::ProbeSet,
        r: &crate::output::Record,
    ) -> Option<Change> {
        let e = evidence::evidence_of(set, r, &mut self.names);
        self.add_new_with(&Summary::from(r), Some(e))
    }

    fn add_new_with(&mut self, r: &Summary, e: Option<Evidence>) -> Option<Change> {
        let key = endpoint(r);
        if !self.seen_new.insert(key.to_string()) {
            self.tally.duplicates += 1;
            return None;
        }
        let new = self.state(r);
        let Some((old, matched, old_e)) = self.old.get_mut(key) else {
            self.tally.appeared += 1;
            return Some(Change {
                diff_version: DIFF_VERSION,
                change: Kind::Appeared,
                endpoint: key.to_string(),
                old: None,
                new: Some(new),
                fields: Vec::new(),
                evidence: Vec::new(),
            });
        };
        *matched = true;
        let mut fields = Vec::new();
        if old.status != new.status {
            fields.push("status".to_string());
        }
        if old.implementation != new.implementation {
            fields.push("implementation".to_string());
        }
        if old.version != new.version {
            fields.push("version".to_string());
        }
        let evidence = match (old_e.as_ref(), e.as_ref()) {
            (Some(a), Some(b)) => evidence::compare(a, b, &self.names),
            _ => Vec::new(),
        };
        if !evidence.is_empty() {
            fields.push("evidence".to_string());
        }
        if fields.is_empty() {
            self.tally.unchanged += 1;
            return None;
        }
        self.tally.changed += 1;
        Some(Change {
            diff_version: DIFF_VERSION,
            change: Kind::Changed,
            endpoint: key.to_string(),
            old: Some(old.clone()),
            new: Some(new),
            fields,
            evidence,
        })
    }

    /// OLD endpoints no NEW record mentioned, in endpoint order.
    pub fn disappeared(&mut self) -> Vec<Change> {
        let mut gone: Vec<Change> = self
            .old
            .iter()
            .filter(|(_, (_, matched, _))| !matched)
            .map(|(k, (s, _, _))| Change {
                diff_version: DIFF_VERSION,
                change: Kind::Disappeared,
                endpoint: k.clone(),
                old: Some(s.clone()),
                new: None,
                fields: Vec::new(),
                evidence: Vec::new(),
            })
            .collect();
        gone.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        self.tally.disappeared = gone.len() as u64;
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Record;

    fn rec(url: &str, status: Status, imp: &str) -> Summary {
        let mut r = Record::failed(url, status, "x", "p");
        r.url = Some(url.into());
        r.implementation = Some(imp.into());
        Summary::from(&r)
    }

    #[test]
    fn appeared_disappeared_changed() {
        let mut d = Differ::new(DbIndex::default());
        d.add_old(&rec("ws://a/", Status::Ok, "x"));
        d.add_old(&rec("ws://b/", Status::Ok, "x"));
        d.add_old(&rec("ws://c/", Status::Ok, "x"));
        assert_eq!(d.add_new(&rec("ws://a/", Status::Ok, "x")), None);
        let c = d.add_new(&rec("ws://b/", Status::Ok, "y")).unwrap();
        assert_eq!(
            (c.change, c.fields.clone()),
            (Kind::Changed, vec!["implementation".to_string()])
        );
        assert_eq!(c.to_text(), "~ ws://b/  implementation x -> y");
        let c = d
            .add_new(&rec("ws://d/", Status::Refused, "unknown"))
            .unwrap();
        assert_eq!(c.change, Kind::Appeared);
        assert_eq!(
            d.add_new(&rec("ws://d/", Status::Ok, "z")),
            None,
            "duplicate"
        );
        let gone = d.disappeared();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].endpoint, "ws://c/");
        assert_eq!(
            d.tally,
            Tally {
                appeared: 1,
                disappeared: 1,
                changed: 1,
                unchanged: 1,
                duplicates: 1
            }
        );
    }

    #[test]
    fn status_change_is_a_change() {
        let mut d = Differ::new(DbIndex::default());
        d.add_old(&rec("ws://a/", Status::Ok, "x"));
        let c = d
            .add_new(&rec("ws://a/", Status::Refused, "unknown"))
            .unwrap();
        assert_eq!(c.fields, vec!["status", "implementation"]);
        assert!(d.disappeared().is_empty());
    }
}
