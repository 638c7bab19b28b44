//! Evidence equality between two scans of one endpoint (`wsfp diff
//! --evidence`): the features the scorer sees, and every observation
//! field apart from timing, compared probe by probe.
//!
//! Why: a verdict can stay put while the evidence under it flaps (a frame
//! that arrives in one run and not the next, a header that comes and
//! goes). Fingerprints learned from flapping evidence do not generalise,
//! and a scheduled diff that only compares verdicts cannot see it. This is
//! the check behind `lab/stability.sh` (every lab server scanned N times,
//! the same evidence every time).
//!
//! Memory: the OLD side keeps, per endpoint, its features as pairs of
//! interned ids (8 bytes each; names and values repeat across endpoints
//! and are stored once) and one 64-bit hash per observation field. About
//! 5 KB per endpoint for a full (`-a`) record, a few hundred bytes for the
//! default series; the NEW side is streamed.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::output::Record;
use crate::probe::ProbeSet;

/// Observation fields that measure time, not behaviour: never compared.
/// `payload_sent` is how far a long payload's write got before the server
/// reacted (daphne closes mid-write), a race of the two sides' timing.
pub const TIMING_FIELDS: &[&str] = &["latency_ms", "payload_sent"];

/// Strings stored once, named by index.
#[derive(Debug, Default)]
pub struct Interner {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    pub fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.ids.insert(s.into(), i);
        self.names.push(s.into());
        i
    }

    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("?", |s| s)
    }
}

/// One endpoint's evidence, compactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// (feature name, value), sorted by name id.
    features: Vec<(u32, u32)>,
    /// (`"<probe>.<field>"` id, hash of the field's JSON), sorted by id.
    fields: Vec<(u32, u64)>,
}

/// What differs, one line each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceChange {
    pub kind: EvidenceKind,
    /// `"<probe>.<feature>"` for a feature, `"<probe>.<field>"` for an
    /// observation field (`frames`, `headers`, `end`, ...).
    pub key: String,
    /// A feature's old and new value (absent: the feature was not there).
    /// Observation fields carry no values: only their hash is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    Feature,
    Observation,
}

impl EvidenceChange {
    /// One line: `key old -> new` for a feature (`(none)` where absent,
    /// `""` for an empty value, a value with a line break quoted as JSON
    /// so the line stays one line), `key differs` for an observation.
    pub fn to_text(&self) -> String {
        let shown = |v: &Option<String>| match v.as_deref() {
            None => "(none)".to_string(),
            Some(s) if s.is_empty() || s.contains(['\r', '\n']) => {
                serde_json::Value::String(s.to_string()).to_string()
            }
            Some(s) => s.to_string(),
        };
        match self.kind {
            EvidenceKind::Feature => {
                format!("{} {} -> {}", self.key, shown(&self.old), shown(&self.new))
            }
            EvidenceKind::Observation => format!("{} differs", self.key),
        }
    }
}

fn hash_json(v: &serde_json::Value) -> u64 {
    // serde_json's map is ordered (no `preserve_order`), so equal values
    // print equal text.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

/// Build the comparable evidence of a record.
pub fn evidence_of(set: &ProbeSet, r: &Record, names: &mut Interner) -> Evidence {
    let mut features: Vec<(u32, u32)> = crate::scan::observations_to_features(set, &r.observations)
        .iter()
        .map(|(k, v)| (names.id(k), names.id(v)))
        .collect();
    features.sort_unstable();
    let mut fields = Vec::new();
    let drop = serde_json::Value::String(crate::probe::end_feature(crate::probe::End::Eof).into());
    for (probe, o) in &r.observations {
        let Ok(serde_json::Value::Object(map)) = serde_json::to_value(o) else {
            continue;
        };
        for (field, value) in &map {
            if TIMING_FIELDS.contains(&field.as_str()) {
                continue;
            }
            let keyless;
            let value = match (field.as_str(), value.as_str()) {
                // FIN or RST after a server's close is a race (see
                // `end_feature`): compared as the feature is.
                ("end", Some("eof" | "reset")) => &drop,
                // Our Sec-WebSocket-Key is a fresh nonce per connection:
                // a server that echoes it (daphne's 400 reason) says the
                // same thing every run.
                (_, Some(text)) => match crate::probe::normalise::without_keys(text) {
                    std::borrow::Cow::Borrowed(_) => value,
                    std::borrow::Cow::Owned(t) => {
                        keyless = serde_json::Value::String(t);
                        &keyless
                    }
                },
                _ => value,
            };
            fields.push((names.id(&format!("{probe}.{field}")), hash_json(value)));
        }
    }
    if let Some(p) = &r.target_down_after {
        let v = serde_json::Value::String(p.clone());
        fields.push((names.id("record.target_down_after"), hash_json(&v)));
    }
    fields.sort_unstable();
    Evidence { features, fields }
}

/// Walk two id-sorted lists, calling `each(id, old, new)` where they
/// differ (`None`: absent on that side).
fn merge<T: Copy + PartialEq>(
    a: &[(u32, T)],
    b: &[(u32, T)],
    mut each: impl FnMut(u32, Option<T>, Option<T>),
) {
    let (mut i, mut j) = (0, 0);
    loop {
        match (a.get(i), b.get(j)) {
            (None, None) => break,
            (Some(&(k, v)), None) => {
                each(k, Some(v), None);
                i += 1;
            }
            (None, Some(&(k, v))) => {
                each(k, None, Some(v));
                j += 1;
            }
            (Some(&(ka, va)), Some(&(kb, vb))) => {
                if ka == kb {
                    if va != vb {
                        each(ka, Some(va), Some(vb));
                    }
                    i += 1;
                    j += 1;
                } else if ka < kb {
                    each(ka, Some(va), None);
                    i += 1;
                } else {
                    each(kb, None, Some(vb));
                    j += 1;
                }
            }
        }
    }
}

/// The differences between two endpoints' evidence, features first, each
/// group in key order.
pub fn compare(old: &Evidence, new: &Evidence, names: &Interner) -> Vec<EvidenceChange> {
    let mut out = Vec::new();
    merge(&old.features, &new.features, |k, a, b| {
        out.push(EvidenceChange {
            kind: EvidenceKind::Feature,
            key: names.name(k).to_string(),
            old: a.map(|v| names.name(v).to_string()),
            new: b.map(|v| names.name(v).to_string()),
        })
    });
    merge(&old.fields, &new.fields, |k, _, _| {
        out.push(EvidenceChange {
            kind: EvidenceKind::Observation,
            key: names.name(k).to_string(),
            old: None,
            new: None,
        })
    });
    out.sort_by(|a, b| (a.kind as u8, &a.key).cmp(&(b.kind as u8, &b.key)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Status;
    use crate::probe::{End, FrameObs, Observation, Outcome};

    fn set() -> ProbeSet {
        crate::probe::ProbeSet::builtin()
    }

    fn record(frames: usize, latency: f64, server: &str) -> Record {
        let mut r = Record::failed("ws://a/", Status::Ok, "x", "p");
        r.error = None;
        let mut o = Observation::new(Outcome::Upgraded);
        o.status = Some(101);
        o.headers.insert("server".into(), server.into());
        o.end = End::Alive;
        o.latency_ms = Some(latency);
        for _ in 0..frames {
            o.frames.push(FrameObs {
                opcode: 8,
                fin: true,
                rsv: 0,
                masked: false,
                len: 2,
                close_code: Some(1002),
                close_reason: None,
                anomalies: Vec::new(),
                head: None,
            });
        }
        r.observations.insert("100".into(), o);
        r
    }

    #[test]
    fn text_lines_show_empty_and_multi_line_values() {
        let c = |old: Option<&str>, new: Option<&str>| EvidenceChange {
            kind: EvidenceKind::Feature,
            key: "800.control".into(),
            old: old.map(String::from),
            new: new.map(String::from),
        };
        assert_eq!(
            c(Some(""), Some("close")).to_text(),
            r#"800.control "" -> close"#
        );
        assert_eq!(
            c(None, Some("a\r\nb")).to_text(),
            r#"800.control (none) -> "a\r\nb""#
        );
    }

    #[test]
    fn timing_alone_is_no_difference() {
        let (s, mut n) = (set(), Interner::default());
        let a = evidence_of(&s, &record(1, 1.0, "x/1"), &mut n);
        let b = evidence_of(&s, &record(1, 250.0, "x/1"), &mut n);
        assert!(compare(&a, &b, &n).is_empty());
    }

    #[test]
    fn fin_or_rst_after_a_close_is_no_difference_but_alive_is() {
        let (s, mut n) = (set(), Interner::default());
        let with_end = |end| {
            let mut r = record(0, 1.0, "x/1");
            if let Some(o) = r.observations.get_mut("100") {
                o.end = end;
            }
            r
        };
        let eof = evidence_of(&s, &with_end(End::Eof), &mut n);
        let rst = evidence_of(&s, &with_end(End::Reset), &mut n);
        let alive = evidence_of(&s, &with_end(End::Alive), &mut n);
        assert!(compare(&eof, &rst, &n).is_empty());
        let d = compare(&eof, &alive, &n);
        assert!(
            d.iter().any(|c| c.key == "100.end"
                && c.kind == EvidenceKind::Feature
                && c.old.as_deref() == Some("drop")
                && c.new.as_deref() == Some("alive")),
            "{d:?}"
        );
        assert!(
            d.iter()
                .any(|c| c.key == "100.end" && c.kind == EvidenceKind::Observation),
            "{d:?}"
        );
    }

    #[test]
    fn a_frame_more_is_a_difference_under_its_probe() {
        let (s, mut n) = (set(), Interner::default());
        let a = evidence_of(&s, &record(1, 1.0, "x/1"), &mut n);
        let b = evidence_of(&s, &record(2, 1.0, "x/1"), &mut n);
        let d = compare(&a, &b, &n);
        assert!(
            d.iter()
                .any(|c| c.kind == EvidenceKind::Observation && c.key == "100.frames"),
            "{d:?}"
        );
        assert!(d.iter().all(|c| c.key.starts_with("100.")), "{d:?}");
    }

    #[test]
    fn a_changed_feature_names_old_and_new() {
        let (s, mut n) = (set(), Interner::default());
        let a = evidence_of(&s, &record(1, 1.0, "x/1"), &mut n);
        let b = evidence_of(&s, &record(0, 1.0, "x/1"), &mut n);
        let d = compare(&a, &b, &n);
        let f: Vec<_> = d
            .iter()
            .filter(|c| c.kind == EvidenceKind::Feature)
            .collect();
        assert!(!f.is_empty(), "{d:?}");
        assert!(f.iter().any(|c| c.old.is_some() && c.new != c.old), "{f:?}");
        assert!(d.iter().any(|c| c.key == "100.frames"));
    }

    #[test]
    fn header_change_is_seen() {
        let (s, mut n) = (set(), Interner::default());
        let a = evidence_of(&s, &record(1, 1.0, "x/1"), &mut n);
        let b = evidence_of(&s, &record(1, 1.0, "x/2"), &mut n);
        let d = compare(&a, &b, &n);
        assert!(d.iter().any(|c| c.key == "100.headers"), "{d:?}");
    }
}
