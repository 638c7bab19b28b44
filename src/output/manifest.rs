//! Shard manifests: a small JSON file written beside each shard's results
//! when one survey is split over several machines or pods
//! (`wsfp scan --shard I/N --seed S`). Concatenating shard files is only a
//! valid survey when every shard scanned the same input with the same seed,
//! shard count, DB and probe set, and the shard indices cover `0..N`
//! exactly once; [`check_merge`] verifies exactly that before `wsfp report`
//! counts anything, because a silently missing or doubled shard would skew
//! every share in the report.
//!
//! Writer side (the scanner): fill a [`ShardManifest`] (use [`input_hash`]
//! and [`db_version`] for the two digests), then call
//! [`ShardManifest::write`] once the shard is complete. Reader side:
//! [`ShardManifest::read`] and [`check_merge`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::error::FileError;
use crate::fingerprint::Db;

/// Bumped on any incompatible change to the manifest.
pub const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardManifest {
    pub schema_version: u32,
    /// `wsfp --version` of the scanner (informational: not checked, a
    /// fleet mid-upgrade may mix patch releases).
    pub wsfp_version: String,
    /// The seed that orders and splits the targets.
    pub seed: u64,
    /// This shard, in `0..shard_count`.
    pub shard_index: u32,
    pub shard_count: u32,
    /// sha1 hex of the input target specification ([`input_hash`]).
    pub input_hash: String,
    /// Digest of the fingerprint DB ([`db_version`]).
    pub db_version: String,
    /// Probe-set version.
    pub probe_set: String,
    /// Start and end of the shard's scan (RFC 3339 or seconds since the
    /// epoch; informational).
    pub started: String,
    pub finished: String,
    /// Records written to the shard's result file.
    pub records: u64,
    /// Whether the default blocklist was on (absent in manifests written
    /// before it existed: read as off).
    #[serde(default)]
    pub default_exclude: bool,
    /// Units the default blocklist cut from this shard's expansions, per
    /// rule as written (`127.0.0.0/8`); the shards' counts add up to the
    /// survey's. Empty (and absent) when nothing was cut.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub default_excluded: BTreeMap<String, u64>,
}

/// sha1 hex of the input targets specification (the target file's bytes,
/// or the targets joined by newlines): equal inputs, equal hash.
pub fn input_hash(spec: &[u8]) -> String {
    hex(&Sha1::digest(spec))
}

/// A digest of the DB's content (ids, versions, libraries and every
/// expectation), so shards scored under different DBs are told apart even
/// when both are "the embedded DB" of different builds.
pub fn db_version(db: &Db) -> String {
    let mut h = Sha1::new();
    for fp in &db.fingerprints {
        h.update(fp.id.as_bytes());
        h.update([0]);
        h.update(fp.library.as_bytes());
        h.update([0]);
        for v in &fp.versions {
            h.update(v.as_bytes());
            h.update([0]);
        }
        for (k, e) in &fp.features {
            h.update(format!("{k}={:?}/{:?}/{}", e.matcher, e.layer, e.weight).as_bytes());
            h.update([0]);
        }
    }
    format!("{}fp-{}", db.fingerprints.len(), &hex(&h.finalize())[..16])
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ShardManifest {
    /// Write as pretty JSON (one small file per shard).
    pub fn write(&self, path: &Path) -> Result<(), FileError> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| FileError {
            file: path.display().to_string(),
            line: None,
            message: e.to_string(),
        })?;
        text.push('\n');
        std::fs::write(path, text).map_err(|e| FileError {
            file: path.display().to_string(),
            line: None,
            message: format!("cannot write: {e}"),
        })
    }

    /// Read and check the version first, so a manifest from another wsfp
    /// gets a clear message rather than a field error.
    pub fn read(path: &Path) -> Result<ShardManifest, FileError> {
        let file = path.display().to_string();
        let err = |line: Option<usize>, message: String| FileError {
            file: file.clone(),
            line,
            message,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| err(None, format!("cannot read: {e}")))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| err(Some(e.line()), format!("not JSON: {e}")))?;
        match v.get("schema_version").and_then(|s| s.as_u64()) {
            Some(n) if n == u64::from(MANIFEST_VERSION) => {}
            Some(n) => {
                return Err(err(
                    None,
                    format!(
                        "manifest schema_version {n}, but this wsfp reads version {MANIFEST_VERSION}"
                    ),
                ));
            }
            None => return Err(err(None, "no schema_version: not a shard manifest".into())),
        }
        serde_json::from_value(v).map_err(|e| err(None, format!("bad manifest: {e}")))
    }
}

/// Whether the shards form one complete survey: the same seed, shard
/// count, input, DB and probe set everywhere, and every index of
/// `0..shard_count` exactly once. The message names the first offending
/// shard and field.
pub fn check_merge(shards: &[ShardManifest]) -> Result<(), String> {
    let Some(first) = shards.first() else {
        return Err("no shard manifests".into());
    };
    if first.shard_count == 0 {
        return Err("shard_count is 0".into());
    }
    for s in &shards[1..] {
        let fields: [(&str, String, String); 6] = [
            ("seed", first.seed.to_string(), s.seed.to_string()),
            (
                "shard_count",
                first.shard_count.to_string(),
                s.shard_count.to_string(),
            ),
            ("input_hash", first.input_hash.clone(), s.input_hash.clone()),
            ("db_version", first.db_version.clone(), s.db_version.clone()),
            ("probe_set", first.probe_set.clone(), s.probe_set.clone()),
            (
                "default_exclude",
                first.default_exclude.to_string(),
                s.default_exclude.to_string(),
            ),
        ];
        for (name, a, b) in fields {
            if a != b {
                return Err(format!(
                    "shard {} has {name} {b}, but shard {} has {a}: not one survey",
                    s.shard_index, first.shard_index
                ));
            }
        }
    }
    let n = first.shard_count as usize;
    let mut seen = vec![0u32; n];
    for s in shards {
        match seen.get_mut(s.shard_index as usize) {
            Some(c) => *c += 1,
            None => {
                return Err(format!("shard index {} is outside 0..{n}", s.shard_index));
            }
        }
    }
    let twice: Vec<String> = (0..n)
        .filter(|&i| seen[i] > 1)
        .map(|i| i.to_string())
        .collect();
    if !twice.is_empty() {
        return Err(format!(
            "shard(s) {} given more than once",
            twice.join(", ")
        ));
    }
    let missing: Vec<String> = (0..n)
        .filter(|&i| seen[i] == 0)
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "shard(s) {} of 0..{n} missing: the merge would be incomplete",
            missing.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(i: u32, n: u32) -> ShardManifest {
        ShardManifest {
            schema_version: MANIFEST_VERSION,
            wsfp_version: "0.1.0".into(),
            seed: 7,
            shard_index: i,
            shard_count: n,
            input_hash: input_hash(b"127.0.0.1:9001\n"),
            db_version: "db".into(),
            probe_set: "p".into(),
            started: "1".into(),
            finished: "2".into(),
            records: 10,
            default_exclude: true,
            default_excluded: BTreeMap::new(),
        }
    }

    #[test]
    fn complete_consistent_shards_merge() {
        assert_eq!(
            check_merge(&[shard(1, 3), shard(0, 3), shard(2, 3)]),
            Ok(())
        );
    }

    #[test]
    fn mismatches_are_named() {
        let mut other_seed = shard(1, 2);
        other_seed.seed = 8;
        let e = check_merge(&[shard(0, 2), other_seed]).unwrap_err();
        assert!(
            e.contains("shard 1 has seed 8") && e.contains("has 7"),
            "{e}"
        );
        let mut other_input = shard(1, 2);
        other_input.input_hash = input_hash(b"other");
        let e = check_merge(&[shard(0, 2), other_input]).unwrap_err();
        assert!(e.contains("input_hash"), "{e}");
        let mut other_db = shard(1, 2);
        other_db.db_version = "db2".into();
        assert!(
            check_merge(&[shard(0, 2), other_db])
                .unwrap_err()
                .contains("db_version")
        );
        let mut other_probes = shard(1, 2);
        other_probes.probe_set = "q".into();
        assert!(
            check_merge(&[shard(0, 2), other_probes])
                .unwrap_err()
                .contains("probe_set")
        );
        let e = check_merge(&[shard(0, 2), shard(1, 3)]).unwrap_err();
        assert!(e.contains("shard_count"), "{e}");
    }

    #[test]
    fn indices_cover_exactly_once() {
        let e = check_merge(&[shard(0, 3), shard(2, 3)]).unwrap_err();
        assert!(e.contains("shard(s) 1 of 0..3 missing"), "{e}");
        let e = check_merge(&[shard(0, 2), shard(0, 2), shard(1, 2)]).unwrap_err();
        assert!(e.contains("shard(s) 0 given more than once"), "{e}");
        let e = check_merge(&[shard(0, 2), shard(5, 2)]).unwrap_err();
        assert!(e.contains("outside 0..2"), "{e}");
        assert!(check_merge(&[]).is_err());
    }

    #[test]
    fn write_read_round_trip_and_errors() {
        let dir = std::env::temp_dir().join(format!("wsfp-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("shard-0.json");
        shard(0, 1).write(&p).unwrap();
        assert_eq!(ShardManifest::read(&p).unwrap(), shard(0, 1));
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(
            &p,
            text.replace("\"schema_version\": 1", "\"schema_version\": 2"),
        )
        .unwrap();
        let e = ShardManifest::read(&p).unwrap_err().to_string();
        assert!(
            e.contains("shard-0.json") && e.contains("schema_version 2"),
            "{e}"
        );
        std::fs::write(&p, "{\n  \"schema_version\": 1,\n  oops\n}").unwrap();
        let e = ShardManifest::read(&p).unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let e = ShardManifest::read(&dir.join("none.json")).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }

    #[test]
    fn digests_are_stable_and_sensitive() {
        assert_eq!(input_hash(b"a"), "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8");
        let probes = crate::probe::ProbeSet::builtin();
        let db = Db::embedded(&probes).unwrap();
        let mut fewer = db.clone();
        fewer.fingerprints.pop();
        assert_eq!(db_version(&db), db_version(&db.clone()));
        assert_ne!(db_version(&db), db_version(&fewer));
    }
}
