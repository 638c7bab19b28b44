//! The fingerprint DB: one TOML file per implementation, loaded and
//! validated up front (a typo must be an error with file:line, not a
//! feature that silently never matches), then scored against the feature
//! map of a scan (`score`). `docs/fingerprints.md` documents the format.

pub mod adaptive;
pub mod app_protocol;
pub mod calibrate;
pub mod corpus;
pub mod generate;
pub mod score;
pub mod version;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::probe::{Layer, ProbeSet};

/// The DB files compiled into the binary (from `fingerprints/`).
pub const EMBEDDED: &[(&str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/embedded_fingerprints.rs"));

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Lab entry the fingerprint was generated from.
    #[serde(default)]
    pub lab_id: Option<String>,
    /// ISO date of generation.
    pub date: String,
    /// Probe-set version used.
    pub probe_set: String,
    #[serde(default)]
    pub generated_by: Option<String>,
}

/// How an expected value is compared with an observed one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    Exact(String),
    Contains(String),
    Prefix(String),
    AnyOf(Vec<String>),
    /// Inclusive numeric range.
    Range(i64, i64),
}

impl Match {
    /// What it accepts, for a person: `1002`, `1002|1011`, `*text*`,
    /// `text*`, `1000-1011`.
    pub fn describe(&self) -> String {
        match self {
            Match::Exact(v) => v.clone(),
            Match::Contains(v) => format!("*{v}*"),
            Match::Prefix(v) => format!("{v}*"),
            Match::AnyOf(vs) => vs.join("|"),
            Match::Range(lo, hi) => format!("{lo}-{hi}"),
        }
    }

    pub fn matches(&self, observed: &str) -> bool {
        match self {
            Match::Exact(v) => observed == v,
            Match::Contains(v) => observed.contains(v.as_str()),
            Match::Prefix(v) => observed.starts_with(v.as_str()),
            Match::AnyOf(vs) => vs.iter().any(|v| v == observed),
            Match::Range(lo, hi) => observed
                .parse::<i64>()
                .is_ok_and(|n| (*lo..=*hi).contains(&n)),
        }
    }
}

/// One expected feature.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub matcher: Match,
    pub layer: Layer,
    /// Extra weight factor set by hand (default 1).
    pub weight: f64,
    /// Share of the variants the fingerprint was learned from on which
    /// the feature held (default 1): a feature that changes between
    /// releases or configurations counts for less.
    pub stability: f64,
    /// Absent on at least half of the releases it was learned from (one
    /// that sends no close frame has no close code): a scan without the feature is not
    /// compared on it, rather than counted a mismatch; one that has it is
    /// compared as usual. What the absence means is another feature's
    /// (the `end` of the same probe).
    pub optional: bool,
}

#[derive(Debug, Clone)]
pub struct Fingerprint {
    pub id: String,
    pub name: String,
    pub library: String,
    pub family: String,
    pub language: String,
    pub versions: Vec<String>,
    pub provenance: Provenance,
    /// `"<probe id>.<feature>"` → expectation.
    pub features: BTreeMap<String, Expect>,
    /// Per feature whose value changed between releases: version → value
    /// (what the version estimate compares).
    pub by_version: BTreeMap<String, BTreeMap<String, String>>,
    /// Where it was loaded from.
    pub source: String,
}

/// A DB file as written on disk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRepr {
    id: String,
    name: String,
    library: String,
    #[serde(default)]
    family: Option<String>,
    language: String,
    #[serde(default)]
    versions: Vec<String>,
    provenance: Provenance,
    features: BTreeMap<String, toml::Spanned<toml::Value>>,
    #[serde(default)]
    by_version: BTreeMap<String, toml::Spanned<BTreeMap<String, String>>>,
}

/// A DB file problem, with file and line.
pub type DbError = crate::error::FileError;

fn value_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Fingerprint {
    /// Parse and validate one DB file against the probe set in use.
    /// [`Fingerprint::parse`] of the file at `path`.
    pub fn load(path: &Path, probes: &ProbeSet) -> Result<Fingerprint, DbError> {
        let text = std::fs::read_to_string(path).map_err(|e| DbError {
            file: path.display().to_string(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        Fingerprint::parse(&text, &path.display().to_string(), probes)
    }

    pub fn parse(text: &str, file: &str, probes: &ProbeSet) -> Result<Fingerprint, DbError> {
        let line_of = |off: usize| crate::error::line_of(text, off);
        let repr: FileRepr = toml::from_str(text).map_err(|e| DbError {
            file: file.into(),
            line: e.span().map(|s| line_of(s.start)),
            message: e.message().trim().to_string(),
        })?;
        if repr.id.is_empty()
            || !repr
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(DbError {
                file: file.into(),
                line: text.find("id").map(line_of),
                message: format!(
                    "id {:?} must be ASCII letters, digits, '-', '_' or '.'",
                    repr.id
                ),
            });
        }
        let mut features = BTreeMap::new();
        // Keys come grouped by probe: look the probe up once per group.
        let mut last: Option<&crate::probe::Probe> = None;
        for (key, spanned) in repr.features {
            // The line is counted only for an error: counting it for every
            // feature made loading the DB quadratic (10% of a discovery
            // scan of 10,000 targets went to it).
            let start = spanned.span().start;
            let err = |m: String| DbError {
                file: file.into(),
                line: Some(line_of(start)),
                message: format!("feature {key:?}: {m}"),
            };
            let (probe_id, feature) = key
                .split_once('.')
                .ok_or_else(|| err("must be \"<probe id>.<feature>\"".into()))?;
            let probe = match last {
                Some(p) if p.id == probe_id => p,
                _ => probes.get(probe_id).ok_or_else(|| {
                    err(format!(
                        "no probe {probe_id:?} in probe set {} (typo, or load its probe file with --probes)",
                        probes.version
                    ))
                })?,
            };
            last = Some(probe);
            if !probe.yields(feature) {
                return Err(err(format!(
                    "probe {probe_id} yields no feature {feature:?} (see docs/fingerprints.md for the feature names)"
                )));
            }
            let (matcher, layer, weight, stability, optional) =
                parse_expect(spanned.into_inner()).map_err(err)?;
            features.insert(
                key.clone(),
                Expect {
                    matcher,
                    layer: layer.unwrap_or(probe.layer),
                    weight: weight.unwrap_or(1.0),
                    stability: stability.unwrap_or(1.0),
                    optional,
                },
            );
        }
        let mut by_version = BTreeMap::new();
        for (key, spanned) in repr.by_version {
            let start = spanned.span().start;
            if !features.contains_key(&key) {
                return Err(DbError {
                    file: file.into(),
                    line: Some(line_of(start)),
                    message: format!("by_version.{key:?}: no such feature in [features]"),
                });
            }
            let table = spanned.into_inner();
            if let Some(v) = table.keys().find(|v| !repr.versions.contains(v)) {
                return Err(DbError {
                    file: file.into(),
                    line: Some(line_of(start)),
                    message: format!("by_version.{key:?}: version {v:?} is not in `versions`"),
                });
            }
            by_version.insert(key, table);
        }
        if features.is_empty() {
            return Err(DbError {
                file: file.into(),
                line: None,
                message: "no features: a fingerprint must expect something".into(),
            });
        }
        Ok(Fingerprint {
            family: repr.family.unwrap_or_else(|| repr.library.clone()),
            id: repr.id,
            name: repr.name,
            library: repr.library,
            language: repr.language,
            versions: repr.versions,
            provenance: repr.provenance,
            features,
            by_version,
            source: file.into(),
        })
    }
}

/// A bare string, integer or boolean means exact; a table picks the kind
/// (`exact`, `contains`, `prefix`, `any_of`, `range`) and may add `layer`
/// `weight`, `stability` and `optional`.
type Parsed = (Match, Option<Layer>, Option<f64>, Option<f64>, bool);

fn parse_expect(v: toml::Value) -> Result<Parsed, String> {
    if let Some(t) = value_text(&v) {
        return Ok((Match::Exact(t), None, None, None, false));
    }
    let toml::Value::Table(t) = v else {
        return Err("expected a string, integer, boolean or table".into());
    };
    let mut kinds = Vec::new();
    let (mut layer, mut weight, mut stability, mut optional) = (None, None, None, false);
    for (k, v) in t {
        let text = || value_text(&v).ok_or(format!("{k} takes a string, integer or boolean"));
        match k.as_str() {
            "exact" => kinds.push(Match::Exact(text()?)),
            "contains" => kinds.push(Match::Contains(text()?)),
            "prefix" => kinds.push(Match::Prefix(text()?)),
            "any_of" => {
                let arr = v.as_array().ok_or("any_of takes an array")?;
                let vals: Option<Vec<String>> = arr.iter().map(value_text).collect();
                let vals = vals.ok_or("any_of takes strings, integers or booleans")?;
                if vals.is_empty() {
                    return Err("any_of is empty".into());
                }
                kinds.push(Match::AnyOf(vals));
            }
            "range" => {
                let r: Option<Vec<i64>> = v
                    .as_array()
                    .map(|a| a.iter().map(toml::Value::as_integer).collect())
                    .unwrap_or(None);
                match r.as_deref() {
                    Some([lo, hi]) if lo <= hi => kinds.push(Match::Range(*lo, *hi)),
                    Some([lo, hi]) => return Err(format!("range [{lo}, {hi}] is empty")),
                    _ => return Err("range takes two integers: [low, high]".into()),
                }
            }
            "layer" => {
                layer = Some(match v.as_str() {
                    Some("handshake") => Layer::Handshake,
                    Some("frame") => Layer::Frame,
                    _ => return Err("layer is \"handshake\" or \"frame\"".into()),
                })
            }
            "weight" => {
                let w = v
                    .as_float()
                    .or(v.as_integer().map(|i| i as f64))
                    .ok_or("weight takes a number")?;
                if !(w.is_finite() && w >= 0.0) {
                    return Err(format!("weight {w} must be a finite number >= 0"));
                }
                weight = Some(w);
            }
            "stability" => {
                let w = v
                    .as_float()
                    .or(v.as_integer().map(|i| i as f64))
                    .ok_or("stability takes a number")?;
                if !(0.0..=1.0).contains(&w) {
                    return Err(format!("stability {w} must be between 0 and 1"));
                }
                stability = Some(w);
            }
            "optional" => optional = v.as_bool().ok_or("optional takes true or false")?,
            other => {
                return Err(format!(
                    "unknown key {other:?} (expected exact, contains, prefix, any_of, range, layer, weight, stability, optional)"
                ));
            }
        }
    }
    if kinds.len() != 1 {
        return Err("give exactly one of exact, contains, prefix, any_of, range".into());
    }
    let Some(kind) = kinds.pop() else {
        return Err("give exactly one of exact, contains, prefix, any_of, range".into());
    };
    Ok((kind, layer, weight, stability, optional))
}

/// A loaded DB.
#[derive(Debug, Clone, Default)]
pub struct Db {
    pub fingerprints: Vec<Fingerprint>,
    /// The app-protocol signatures (`app-protocols/` beside the
    /// fingerprints; the built-in ones when a DB directory has none).
    pub app_protocols: app_protocol::AppProtocols,
}

impl Db {
    /// The fingerprints compiled into the binary.
    pub fn embedded(probes: &ProbeSet) -> Result<Db, DbError> {
        let mut db = Db {
            app_protocols: app_protocol::AppProtocols::embedded()?,
            ..Db::default()
        };
        for (name, text) in EMBEDDED {
            db.add(Fingerprint::parse(
                text,
                &format!("<builtin fingerprints/{name}>"),
                probes,
            )?)?;
        }
        Ok(db)
    }

    /// Every `*.toml` in `dir`, in name order, and the app-protocol
    /// signatures of `dir/app-protocols/` (the built-in ones if it has
    /// no such directory).
    pub fn load_dir(dir: &Path, probes: &ProbeSet) -> Result<Db, DbError> {
        let rd = std::fs::read_dir(dir).map_err(|e| DbError {
            file: dir.display().to_string(),
            line: None,
            message: format!("cannot read DB directory: {e}"),
        })?;
        let mut paths: Vec<_> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        let apps = dir.join("app-protocols");
        let mut db = Db {
            app_protocols: if apps.is_dir() {
                app_protocol::AppProtocols::load_dir(&apps)?
            } else {
                app_protocol::AppProtocols::embedded()?
            },
            ..Db::default()
        };
        for p in paths {
            db.add(Fingerprint::load(&p, probes)?)?;
        }
        Ok(db)
    }

    /// The DB a list of `--db` values names, in order. The first value
    /// replaces the built-in DB, unless it starts with `+` (`--db +DIR`
    /// adds to the built-in one); each later value adds to what came
    /// before. A value is a directory (as [`Db::load_dir`]) or one
    /// fingerprint file (`*.toml`); a fingerprint whose id is already in
    /// the DB replaces it, so fixing or adding one fingerprint needs a
    /// file with just that one, not a copy of the whole DB. A later
    /// directory's `app-protocols/` replaces signatures of the same name
    /// and adds the others. No value: the built-in DB.
    pub fn layered(values: &[std::ffi::OsString], probes: &ProbeSet) -> Result<Db, DbError> {
        let Some(first) = values.first() else {
            return Db::embedded(probes);
        };
        let added = |v: &std::ffi::OsStr| v.to_str().and_then(|s| s.strip_prefix('+')).is_some();
        let mut db = if added(first) {
            Db::embedded(probes)?
        } else {
            Db::default()
        };
        for (i, v) in values.iter().enumerate() {
            let path = match v.to_str().and_then(|s| s.strip_prefix('+')) {
                Some(rest) => Path::new(rest).to_path_buf(),
                None => Path::new(v).to_path_buf(),
            };
            let layer = if path.is_dir() {
                Db::load_dir(&path, probes)?
            } else if path.is_file() {
                Db {
                    fingerprints: vec![Fingerprint::load(&path, probes)?],
                    app_protocols: app_protocol::AppProtocols::default(),
                }
            } else {
                return Err(DbError {
                    file: path.display().to_string(),
                    line: None,
                    message: "--db: no such directory or fingerprint file".into(),
                });
            };
            let own_apps = path.join("app-protocols").is_dir();
            if i == 0 && !added(v) {
                db = layer;
                continue;
            }
            for fp in layer.fingerprints {
                match db.fingerprints.iter_mut().find(|f| f.id == fp.id) {
                    Some(old) => *old = fp,
                    None => db.fingerprints.push(fp),
                }
            }
            if own_apps {
                for p in layer.app_protocols.protocols {
                    let all = &mut db.app_protocols.protocols;
                    match all.iter_mut().find(|q| q.name == p.name) {
                        Some(old) => *old = p,
                        None => all.push(p),
                    }
                }
            }
        }
        if db.fingerprints.is_empty() {
            return Err(DbError {
                file: values
                    .iter()
                    .map(|v| v.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(", "),
                line: None,
                message: "--db: no fingerprints (*.toml) found".into(),
            });
        }
        Ok(db)
    }

    fn add(&mut self, fp: Fingerprint) -> Result<(), DbError> {
        if let Some(other) = self.fingerprints.iter().find(|f| f.id == fp.id) {
            return Err(DbError {
                file: fp.source.clone(),
                line: None,
                message: format!(
                    "duplicate fingerprint id {:?} (also in {})",
                    fp.id, other.source
                ),
            });
        }
        self.fingerprints.push(fp);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "x"
name = "X"
library = "x"
language = "Rust"
[provenance]
date = "2026-11-22"
probe_set = "t"
[features]
"309.status" = 101
"104.close_reason" = { contains = "continuation" }
"300.status" = { any_of = ["400", 426] }
"601.close_code" = { range = [1009, 1009], weight = 2.0 }
"#;

    #[test]
    fn parses_all_match_kinds() {
        let fp = Fingerprint::parse(GOOD, "x.toml", &ProbeSet::builtin()).unwrap();
        assert_eq!(fp.features.len(), 4);
        assert!(fp.features["309.status"].matcher.matches("101"));
        assert!(
            fp.features["104.close_reason"]
                .matcher
                .matches("unexpected continuation frame")
        );
        assert!(fp.features["300.status"].matcher.matches("426"));
        assert!(!fp.features["300.status"].matcher.matches("101"));
        assert!(fp.features["601.close_code"].matcher.matches("1009"));
        assert_eq!(fp.features["601.close_code"].layer, Layer::Frame);
        assert_eq!(fp.features["300.status"].layer, Layer::Handshake);
        assert_eq!(fp.family, "x");
    }

    #[test]
    fn mistakes_get_file_and_line() {
        let probes = ProbeSet::builtin();
        let cases = [
            (
                GOOD.replace("\"309.status\"", "\"999.status\""),
                10,
                "no probe \"999\"",
            ),
            (
                GOOD.replace("contains =", "containz ="),
                11,
                "unknown key \"containz\"",
            ),
            (GOOD.replace("[1009, 1009]", "[1010, 1009]"), 13, "is empty"),
        ];
        for (text, line, what) in cases {
            let e = Fingerprint::parse(&text, "bad.toml", &probes).unwrap_err();
            assert!(e.to_string().contains(what), "{e}");
            assert_eq!(e.line, Some(line), "{e}");
            assert!(
                e.to_string().starts_with(&format!("bad.toml:{line}:")),
                "{e}"
            );
        }
        let e = Fingerprint::parse(
            &GOOD.replace("language = \"Rust\"\n", ""),
            "bad.toml",
            &probes,
        )
        .unwrap_err();
        assert!(e.to_string().contains("language"), "{e}");
    }

    #[test]
    fn embedded_db_loads() {
        let db = Db::embedded(&ProbeSet::builtin()).unwrap();
        assert!(!db.fingerprints.is_empty());
    }
}
