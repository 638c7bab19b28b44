//! Prevalence: how often each implementation, library, family, language
//! and version occurs in a survey, with status, port, path and confidence
//! breakdowns. [`Prevalence::add`] takes one record at a time and keeps
//! only counters keyed by distinct values, so a survey of millions of
//! records costs the memory of its distinct keys.
//!
//! Denominators: `status`, `port` and `path` shares are of all records;
//! the verdict tables (`implementation` ... `version`) and the unknown
//! share are of WebSocket endpoints (status `ok`), since a refused port
//! has no implementation to count. Confidence buckets cover identified
//! endpoints only: an `unknown` verdict's confidence measures how sure
//! wsfp is that it is unknown, which is another scale.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{DbIndex, Summary, UNKNOWN};
use crate::output::Status;

/// Bumped on any incompatible change to the report JSON.
pub const REPORT_VERSION: u32 = 1;
/// The key of the `front` and `app_protocol` rows of records that name
/// none (not `unknown`: nothing was there to name).
const NONE: &str = "none";
/// Confidence buckets: [0, 0.1), [0.1, 0.2) ... [0.9, 1.0].
const BUCKETS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub key: String,
    /// Display name, for implementations the DB knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub count: u64,
    /// count / the table's denominator (see the module doc).
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Inclusive lower bound.
    pub lo: f64,
    /// Exclusive upper bound (inclusive for the last bucket).
    pub hi: f64,
    pub count: u64,
    pub share: f64,
}

/// The report as `--format json` writes it (docs/schema/report.schema.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub report_version: u32,
    pub wsfp_version: String,
    pub inputs: Vec<String>,
    /// Records counted.
    pub records: u64,
    /// Input lines that were not readable records (reported on stderr).
    pub bad_lines: u64,
    /// Records with status `ok`: the denominator of the verdict tables.
    pub websocket: u64,
    pub identified: u64,
    pub unknown: u64,
    pub unknown_share: f64,
    pub status: Vec<Row>,
    pub implementation: Vec<Row>,
    pub library: Vec<Row>,
    pub family: Vec<Row>,
    pub language: Vec<Row>,
    pub version: Vec<Row>,
    pub port: Vec<Row>,
    pub path: Vec<Row>,
    /// The reverse proxy in front (`none`: the record names none).
    #[serde(default)]
    pub front: Vec<Row>,
    /// The app protocol over WebSocket (`none`: the server volunteered
    /// none we know).
    #[serde(default)]
    pub app_protocol: Vec<Row>,
    pub confidence: Vec<Bucket>,
}

/// The streaming counter behind a [`Report`].
#[derive(Debug, Default)]
pub struct Prevalence {
    index: DbIndex,
    records: u64,
    websocket: u64,
    status: BTreeMap<String, u64>,
    implementation: BTreeMap<String, u64>,
    library: BTreeMap<String, u64>,
    family: BTreeMap<String, u64>,
    language: BTreeMap<String, u64>,
    version: BTreeMap<String, u64>,
    port: BTreeMap<String, u64>,
    path: BTreeMap<String, u64>,
    front: BTreeMap<String, u64>,
    app_protocol: BTreeMap<String, u64>,
    confidence: [u64; BUCKETS],
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    // Look up by &str first: most records hit an existing key, and
    // allocating a String per record would be the main cost.
    match map.get_mut(key) {
        Some(c) => *c += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

/// The port and the path (query dropped: it often carries per-client
/// tokens) of a record's URL, or of its input when it has none.
pub fn port_and_path(r: &Summary) -> (String, String) {
    let spec = r.url.as_deref().unwrap_or(&r.target);
    match crate::target::Target::parse(spec, false) {
        Ok(t) => {
            let path = t.path.split('?').next().unwrap_or("/").to_string();
            (t.port.to_string(), path)
        }
        Err(_) => ("(invalid)".into(), "(invalid)".into()),
    }
}

impl Prevalence {
    pub fn new(index: DbIndex) -> Prevalence {
        Prevalence {
            index,
            ..Prevalence::default()
        }
    }

    pub fn add(&mut self, r: &Summary) {
        self.records += 1;
        bump(&mut self.status, r.status.as_str());
        let (port, path) = port_and_path(r);
        bump(&mut self.port, &port);
        bump(&mut self.path, &path);
        if r.status != Status::Ok {
            return;
        }
        self.websocket += 1;
        bump(&mut self.front, r.front.as_deref().unwrap_or(NONE));
        bump(
            &mut self.app_protocol,
            r.app_protocol.as_deref().unwrap_or(NONE),
        );
        let imp = r.implementation.as_str();
        bump(&mut self.implementation, imp);
        let meta = self.index.get(imp).filter(|_| imp != UNKNOWN);
        let library = r
            .library
            .as_deref()
            .or(meta.map(|m| m.library.as_str()))
            .unwrap_or(UNKNOWN);
        bump(&mut self.library, library);
        bump(
            &mut self.family,
            meta.map_or(UNKNOWN, |m| m.family.as_str()),
        );
        bump(
            &mut self.language,
            meta.map_or(UNKNOWN, |m| m.language.as_str()),
        );
        // The scan's own estimate; a record without one (written before
        // wsfp estimated versions) falls back to the DB's version list.
        match &r.version {
            Some(v) => bump(&mut self.version, &v.to_string()),
            None if imp == UNKNOWN => bump(&mut self.version, UNKNOWN),
            None => bump(&mut self.version, &self.index.version(imp)),
        }
        if imp != UNKNOWN {
            let b = ((r.confidence.clamp(0.0, 1.0) * BUCKETS as f64) as usize).min(BUCKETS - 1);
            self.confidence[b] += 1;
        }
    }

    pub fn finish(self, inputs: Vec<String>, bad_lines: u64) -> Report {
        let share = |n: u64, of: u64| {
            if of == 0 {
                0.0
            } else {
                (n as f64 / of as f64 * 1e6).round() / 1e6
            }
        };
        let rows = |m: BTreeMap<String, u64>, of: u64, names: Option<&DbIndex>| {
            let mut v: Vec<Row> = m
                .into_iter()
                .map(|(key, count)| Row {
                    name: names
                        .and_then(|ix| ix.get(&key))
                        .map(|meta| meta.name.clone()),
                    share: share(count, of),
                    key,
                    count,
                })
                .collect();
            // Most frequent first; ties in key order, so output is stable.
            v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
            v
        };
        let unknown = self.implementation.get(UNKNOWN).copied().unwrap_or(0);
        let identified = self.websocket - unknown;
        let confidence = self
            .confidence
            .iter()
            .enumerate()
            .map(|(i, &count)| Bucket {
                lo: i as f64 / BUCKETS as f64,
                hi: (i + 1) as f64 / BUCKETS as f64,
                count,
                share: share(count, identified),
            })
            .collect();
        let ws = self.websocket;
        Report {
            report_version: REPORT_VERSION,
            wsfp_version: env!("CARGO_PKG_VERSION").to_string(),
            inputs,
            records: self.records,
            bad_lines,
            websocket: ws,
            identified,
            unknown,
            unknown_share: share(unknown, ws),
            status: rows(self.status, self.records, None),
            implementation: rows(self.implementation, ws, Some(&self.index)),
            library: rows(self.library, ws, None),
            family: rows(self.family, ws, None),
            language: rows(self.language, ws, None),
            version: rows(self.version, ws, None),
            port: rows(self.port, self.records, None),
            path: rows(self.path, self.records, None),
            front: rows(self.front, ws, Some(&self.index)),
            app_protocol: rows(self.app_protocol, ws, None),
            confidence,
        }
    }
}

impl Report {
    /// The tables in display order, with their denominators' names.
    pub fn tables(&self) -> [(&'static str, &'static str, &[Row]); 10] {
        [
            (
                "implementation",
                "of WebSocket endpoints",
                &self.implementation,
            ),
            ("library", "of WebSocket endpoints", &self.library),
            ("family", "of WebSocket endpoints", &self.family),
            ("language", "of WebSocket endpoints", &self.language),
            ("version", "of WebSocket endpoints", &self.version),
            ("front", "of WebSocket endpoints", &self.front),
            ("app_protocol", "of WebSocket endpoints", &self.app_protocol),
            ("status", "of all records", &self.status),
            ("port", "of all records", &self.port),
            ("path", "of all records", &self.path),
        ]
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} records ({} bad lines skipped); {} WebSocket endpoints, {} identified, {} unknown ({:.1}%)",
            self.records,
            self.bad_lines,
            self.websocket,
            self.identified,
            self.unknown,
            self.unknown_share * 100.0
        );
        for (title, of, rows) in self.tables() {
            let _ = writeln!(s, "\n{title} ({of})");
            let width = rows.iter().map(|r| r.key.len()).max().unwrap_or(0).max(8);
            for r in rows {
                let _ = writeln!(
                    s,
                    "  {:<width$}  {:>8}  {:>6.2}%{}",
                    r.key,
                    r.count,
                    r.share * 100.0,
                    r.name
                        .as_deref()
                        .filter(|n| *n != r.key)
                        .map(|n| format!("  {n}"))
                        .unwrap_or_default()
                );
            }
        }
        let _ = writeln!(s, "\nconfidence (of identified endpoints)");
        for b in &self.confidence {
            let _ = writeln!(
                s,
                "  {:.1}-{:.1}  {:>8}  {:>6.2}%",
                b.lo,
                b.hi,
                b.count,
                b.share * 100.0
            );
        }
        s
    }

    /// One long table: `table,key,name,count,share`, the confidence
    /// buckets as table `confidence` with key `lo-hi`.
    pub fn write_csv(&self, out: impl std::io::Write) -> csv::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(["table", "key", "name", "count", "share"])?;
        for (title, _, rows) in self.tables() {
            for r in rows {
                w.write_record([
                    title,
                    &r.key,
                    r.name.as_deref().unwrap_or(""),
                    &r.count.to_string(),
                    &r.share.to_string(),
                ])?;
            }
        }
        for b in &self.confidence {
            w.write_record([
                "confidence",
                &format!("{:.1}-{:.1}", b.lo, b.hi),
                "",
                &b.count.to_string(),
                &b.share.to_string(),
            ])?;
        }
        w.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::Db;
    use crate::output::Record;
    use crate::probe::ProbeSet;

    fn rec(url: &str, status: Status, imp: &str, conf: f64) -> Summary {
        let mut r = Record::failed(url, status, "x", "p");
        r.url = Some(url.into());
        r.implementation = Some(imp.into());
        r.confidence = conf;
        Summary::from(&r)
    }

    #[test]
    fn counts_shares_and_lookups() {
        let db = Db::embedded(&ProbeSet::builtin()).unwrap();
        let fp = &db.fingerprints[0];
        let mut p = Prevalence::new(DbIndex::new(&db));
        let mut behind = rec("ws://h:80/a?x=1", Status::Ok, &fp.id, 0.95);
        behind.front = Some("proxy-nginx".into());
        behind.app_protocol = Some("engine.io".into());
        p.add(&behind);
        p.add(&rec("ws://h:80/a", Status::Ok, &fp.id, 1.0));
        p.add(&rec("ws://h:81/", Status::Ok, UNKNOWN, 0.3));
        p.add(&rec("ws://h:82/", Status::Refused, UNKNOWN, 0.0));
        let r = p.finish(vec!["f".into()], 0);
        assert_eq!(
            (r.records, r.websocket, r.identified, r.unknown),
            (4, 3, 2, 1)
        );
        assert!((r.unknown_share - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(r.implementation[0].key, fp.id);
        assert_eq!(r.implementation[0].count, 2);
        assert_eq!(r.implementation[0].name.as_deref(), Some(fp.name.as_str()));
        let lang = r.language.iter().find(|x| x.key == fp.language).unwrap();
        assert_eq!(lang.count, 2);
        let fam = r.family.iter().find(|x| x.key == fp.family).unwrap();
        assert_eq!(fam.count, 2);
        let path_a = r.path.iter().find(|x| x.key == "/a").unwrap();
        assert_eq!(path_a.count, 2, "query dropped");
        assert_eq!(r.port.iter().find(|x| x.key == "80").unwrap().count, 2);
        assert_eq!(r.status.iter().map(|x| x.count).sum::<u64>(), 4);
        // Front and app protocol: of WebSocket endpoints, `none` for the
        // records that name none; the front's DB name is looked up.
        let count = |t: &[Row], k: &str| t.iter().find(|x| x.key == k).map(|x| x.count);
        assert_eq!(count(&r.front, "proxy-nginx"), Some(1));
        assert_eq!(count(&r.front, NONE), Some(2));
        assert!(r.front.iter().any(|x| x.name.is_some()), "{:?}", r.front);
        assert_eq!(count(&r.app_protocol, "engine.io"), Some(1));
        assert_eq!(count(&r.app_protocol, NONE), Some(2));
        assert!(
            r.to_text()
                .contains("app_protocol (of WebSocket endpoints)")
        );
        // 0.95 and 1.0 both land in the top bucket; unknowns are not bucketed.
        assert_eq!(r.confidence[BUCKETS - 1].count, 2);
        assert_eq!(r.confidence.iter().map(|b| b.count).sum::<u64>(), 2);
    }
}
