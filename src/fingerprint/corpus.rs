//! A labelled corpus: stored scans of known servers, each labelled with
//! the fingerprint it should be named as, the front it sits behind and
//! which kind of variant it is (`lab/corpus.py` writes one from the lab).
//!
//! The DB is generated from a corpus (`wsfp generate --corpus`), and
//! held-out evaluation (`wsfp evaluate --holdout`) generates one without a
//! part of it, then scores that part: the only measure of identification
//! on servers the DB was not built from.

use std::collections::BTreeMap;
use std::path::Path;

use crate::output::Status;
use crate::output::read::for_each_record;
use crate::probe::ProbeSet;
use crate::scan::observations_to_features;

/// What kind of variant of its implementation a corpus row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The main lab's build.
    Base,
    /// Another release.
    Version,
    /// Another app on the same build (silent, push, close-after-N).
    App,
    /// Another configuration of the same build.
    Config,
    /// Behind a reverse proxy.
    Proxy,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "base" => Kind::Base,
            "version" => Kind::Version,
            "app" => Kind::App,
            "config" => Kind::Config,
            "proxy" => Kind::Proxy,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Base => "base",
            Kind::Version => "version",
            Kind::App => "app",
            Kind::Config => "config",
            Kind::Proxy => "proxy",
        }
    }
}

/// One labelled target.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// The fingerprint it must be named as (behind a proxy: the backend's).
    pub fingerprint: String,
    /// The proxy's fingerprint, when it sits behind one.
    pub front: Option<String>,
    pub kind: Kind,
    /// The corpus row (one server set-up), e.g. `py-websockets-13.1`.
    pub variant: String,
    /// The version column of the row (`websockets 13.1`).
    pub version: String,
}

/// One scan of a labelled target, as features.
#[derive(Debug, Clone)]
pub struct Sample {
    pub target: String,
    pub label: Label,
    pub features: BTreeMap<String, String>,
    /// The stored observations (replayed by adaptive evaluation).
    pub observations: BTreeMap<String, crate::probe::Observation>,
}

/// What the lab knows of each fingerprint (`lab/identity.tsv`).
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub id: String,
    pub name: String,
    pub library: String,
    pub family: String,
    pub language: String,
    /// Only this layer's features (`handshake` for a reverse proxy).
    pub layer: Option<crate::probe::Layer>,
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Tab-separated rows of a file, with their line numbers; `#` comments and
/// blank lines skipped.
fn rows(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let t = l.trim_end_matches('\r');
        (!t.trim().is_empty() && !t.starts_with('#'))
            .then(|| (i + 1, t.split('\t').map(str::trim).collect()))
    })
}

/// `lab/identity.tsv`: id, name, library, family, language, versions[, layer].
pub fn read_identity(path: &Path) -> Result<BTreeMap<String, Identity>, String> {
    let text = read(path)?;
    let mut out = BTreeMap::new();
    for (line, c) in rows(&text) {
        let at = |m: &str| format!("{}:{line}: {m}", path.display());
        if c.len() < 5 {
            return Err(at(
                "expected id, name, library, family, language[, versions[, layer]]",
            ));
        }
        let layer = match c.get(6).copied().unwrap_or("") {
            "" => None,
            "handshake" => Some(crate::probe::Layer::Handshake),
            "frame" => Some(crate::probe::Layer::Frame),
            other => return Err(at(&format!("layer {other:?} is not handshake or frame"))),
        };
        let id = c[0].to_string();
        if out.contains_key(&id) {
            return Err(at(&format!("duplicate id {id:?}")));
        }
        out.insert(
            id.clone(),
            Identity {
                id,
                name: c[1].into(),
                library: c[2].into(),
                family: c[3].into(),
                language: c[4].into(),
                layer,
            },
        );
    }
    Ok(out)
}

/// Corpus labels: `target, fingerprint[, front[, kind[, variant[, version]]]]`
/// per line (the first three are `wsfp evaluate`'s older labels; `-` or
/// empty for no front; kind defaults to `base`, variant to the target).
pub fn read_labels(path: &Path) -> Result<BTreeMap<String, Label>, String> {
    let text = read(path)?;
    let mut out = BTreeMap::new();
    for (line, c) in rows(&text) {
        let at = |m: &str| format!("{}:{line}: {m}", path.display());
        let col = |i: usize| c.get(i).copied().filter(|s| !s.is_empty() && *s != "-");
        let (Some(target), Some(fp)) = (col(0), col(1)) else {
            return Err(at("expected `target<TAB>fingerprint id`"));
        };
        let kind = match col(3) {
            None => Kind::Base,
            Some(k) => Kind::parse(k).ok_or_else(|| {
                at(&format!(
                    "kind {k:?} is not base, version, app, config or proxy"
                ))
            })?,
        };
        out.insert(
            target.to_string(),
            Label {
                fingerprint: fp.into(),
                front: col(2).map(str::to_string),
                kind,
                variant: col(4).unwrap_or(target).into(),
                version: col(5).unwrap_or("").into(),
            },
        );
    }
    Ok(out)
}

/// The samples of a corpus: every `ok` record whose target is labelled.
/// Problems reading the records are returned beside them, one per bad line.
pub fn samples(
    set: &ProbeSet,
    files: &[std::path::PathBuf],
    labels: &BTreeMap<String, Label>,
) -> Result<(Vec<Sample>, Vec<String>), String> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        let mut errs = Vec::new();
        for_each_record(f, &mut errs, |r| {
            if r.status != Status::Ok {
                return;
            }
            if let Some(l) = labels.get(&r.target).cloned() {
                out.push(Sample {
                    target: r.target.clone(),
                    label: l,
                    features: observations_to_features(set, &r.observations),
                    observations: r.observations,
                });
            }
        })
        .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        errors.extend(errs.iter().map(ToString::to_string));
    }
    Ok((out, errors))
}

/// The fingerprint of `id` learned from the samples `keep` admits, as TOML
/// (`None` when no sample speaks for it). A reverse proxy (identity layer
/// `handshake`) learns from the head of every target behind it, whatever
/// the backend; an implementation learns from its own targets, and from
/// the frames only of those behind a proxy (their head is the proxy's).
pub fn learn_fingerprint(
    set: &ProbeSet,
    ident: &Identity,
    samples: &[Sample],
    keep: &dyn Fn(&Sample) -> bool,
    date: &str,
) -> Option<String> {
    use super::generate::{Meta, Variant, learn, to_toml_learned};
    use crate::probe::Layer;
    let layer_of = |k: &str| {
        let p = k.split_once('.').map_or(k, |(p, _)| p);
        set.get(p).map(|p| p.layer)
    };
    let front_only = |k: &str| {
        let p = k.split_once('.').map_or(k, |(p, _)| p);
        set.get(p).is_some_and(|p| p.front)
    };
    let mut variants: BTreeMap<&str, Variant> = BTreeMap::new();
    let mut versions: Vec<String> = Vec::new();
    let mut lab_id: Option<&str> = None;
    for s in samples.iter().filter(|s| keep(s)) {
        let l = &s.label;
        let only = if ident.layer == Some(Layer::Handshake) {
            if l.front.as_deref() != Some(ident.id.as_str()) {
                continue;
            }
            Some(Layer::Handshake)
        } else {
            if l.fingerprint != ident.id {
                continue;
            }
            // A backend behind a proxy: the row's version names the pair.
            if matches!(l.kind, Kind::Base | Kind::Version)
                && l.front.is_none()
                && !l.version.is_empty()
                && !versions.contains(&l.version)
            {
                versions.push(l.version.clone());
            }
            if l.kind == Kind::Base && l.front.is_none() {
                lab_id.get_or_insert(&l.variant);
            }
            l.front.as_ref().map(|_| Layer::Frame).or(ident.layer)
        };
        let proxy = ident.layer == Some(Layer::Handshake);
        let feats: BTreeMap<String, String> = s
            .features
            .iter()
            .filter(|(k, _)| only.is_none_or(|want| layer_of(k) == Some(want)))
            .filter(|(k, _)| proxy || !front_only(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        variants
            .entry(&l.variant)
            .or_insert_with(|| Variant {
                // A proxy's own base row (the main lab's `proxy-nginx`) is
                // also the proxy in front of one backend.
                kind: if only == Some(Layer::Handshake) && l.kind == Kind::Base {
                    Kind::Proxy
                } else {
                    l.kind
                },
                version: l.version.clone(),
                runs: Vec::new(),
            })
            .runs
            .push(feats);
    }
    if variants.is_empty() {
        return None;
    }
    let variants: Vec<Variant> = variants.into_values().collect();
    let (mut features, mut by_version) = learn(&variants);
    if ident.layer == Some(Layer::Handshake) {
        drop_passed_through(&mut features, ident, samples, keep);
    }
    if features.is_empty() {
        return None;
    }
    versions.sort_by_key(|v| super::version::order_key(v));
    by_version.retain(|_, t| t.keys().all(|v| versions.contains(v)));
    let meta = Meta {
        id: ident.id.clone(),
        name: ident.name.clone(),
        library: ident.library.clone(),
        family: Some(ident.family.clone()),
        language: ident.language.clone(),
        versions,
        lab_id: Some(lab_id.unwrap_or(&ident.id).to_string()),
        date: date.to_string(),
        probe_set: set.version.clone(),
    };
    let mut text = to_toml_learned(&meta, &features, &by_version);
    let kinds: std::collections::BTreeSet<&str> =
        variants.iter().map(|v| v.kind.as_str()).collect();
    let runs: usize = variants.iter().map(|v| v.runs.len()).sum();
    text.insert_str(
        0,
        &format!(
            "# Learned from {} variant(s) ({}), {runs} scan(s).\n",
            variants.len(),
            kinds.into_iter().collect::<Vec<_>>().join(", ")
        ),
    );
    Some(text)
}

/// Leave out of a reverse proxy's features what it passes through
/// unchanged: a key on which every backend behind it, scanned directly,
/// shows the very value seen through the proxy is the backends' common
/// behaviour, not the proxy's. A transparent front (Varnish pipes the
/// upgrade) otherwise learns what its few backends happen to share (the
/// RFC's 101, a 400 to a malformed key) and fits any server that shares
/// it too, named as a front it is not behind. A key a backend was never
/// scanned on directly, or shows otherwise there, is kept, and so is the
/// gate probe's head.
fn drop_passed_through(
    features: &mut BTreeMap<String, super::generate::Learned>,
    ident: &Identity,
    samples: &[Sample],
    keep: &dyn Fn(&Sample) -> bool,
) {
    use std::collections::BTreeSet;
    let proxied: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.label.front.as_deref() == Some(ident.id.as_str()) && keep(s))
        .collect();
    if proxied.is_empty() {
        return;
    }
    // Each backend's direct values per key (its own rows, no front).
    let behind: BTreeSet<&str> = proxied
        .iter()
        .map(|s| s.label.fingerprint.as_str())
        .collect();
    let mut direct: BTreeMap<&str, BTreeMap<&str, BTreeSet<&str>>> = BTreeMap::new();
    for s in samples.iter().filter(|s| {
        s.label.front.is_none()
            && s.label.kind == Kind::Base
            && behind.contains(s.label.fingerprint.as_str())
            && keep(s)
    }) {
        let d = direct.entry(s.label.fingerprint.as_str()).or_default();
        for (k, v) in &s.features {
            d.entry(k.as_str()).or_default().insert(v.as_str());
        }
    }
    let passed_through = |key: &str| {
        proxied.iter().all(|s| {
            let through = s.features.get(key).map(String::as_str);
            let own = direct
                .get(s.label.fingerprint.as_str())
                .and_then(|d| d.get(key));
            match (through, own) {
                (Some(t), Some(vals)) => vals.len() == 1 && vals.contains(t),
                _ => false,
            }
        })
    };
    // The gate probe's head stays whole: every scan (an adaptive one
    // first) asks it, and a front must be in the running on it alone.
    // Held out, every probe, the right front of a held-out pair: 76.5%
    // of 102 scans when only Varnish (9 own keys of 134) was pruned,
    // 90.2% with every front pruned so.
    features.retain(|key, _| {
        key.split_once('.')
            .is_some_and(|(p, _)| p == crate::scan::GATE_PROBE)
            || !passed_through(key)
    });
}

/// A DB learned from the samples `keep` admits: one fingerprint per
/// identity that has any (see [`learn_fingerprint`]).
pub fn learn_db(
    set: &ProbeSet,
    identities: &BTreeMap<String, Identity>,
    samples: &[Sample],
    keep: &dyn Fn(&Sample) -> bool,
) -> Result<super::Db, super::DbError> {
    let mut db = super::Db::default();
    for ident in identities.values() {
        if let Some(text) = learn_fingerprint(set, ident, samples, keep, "-") {
            db.fingerprints.push(super::Fingerprint::parse(
                &text,
                &format!("<learned {}>", ident.id),
                set,
            )?);
        }
    }
    Ok(db)
}
