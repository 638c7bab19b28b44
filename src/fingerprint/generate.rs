//! Writing a fingerprint from scans of a known server (`wsfp generate`).
//!
//! Several scans of the same server are intersected: a feature whose value
//! differed between runs (timing-dependent, application noise) is left
//! out, so what is written is what the implementation does every time.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Identity of the implementation being recorded.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub id: String,
    pub name: String,
    pub library: String,
    pub family: Option<String>,
    pub language: String,
    pub versions: Vec<String>,
    pub lab_id: Option<String>,
    pub date: String,
    pub probe_set: String,
}

/// Features whose value was identical in every run.
pub fn stable_features(runs: &[BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let Some(first) = runs.first() else {
        return BTreeMap::new();
    };
    first
        .iter()
        .filter(|(k, v)| runs[1..].iter().all(|r| r.get(*k) == Some(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What a fingerprint learned of one feature from all its variants.
#[derive(Debug, Clone, PartialEq)]
pub struct Learned {
    /// Every value a variant showed (sorted, distinct).
    pub values: Vec<String>,
    /// Share of the variants that ran the probe and showed its most
    /// common value: how far the feature can be trusted on a variant
    /// never seen (1 for a fingerprint of one variant).
    pub stability: f64,
    /// Learned as a substring instead of values: a proxy's own product
    /// token in a banner that also carries what the backend sent.
    pub contains: Option<String>,
    /// At least half of the releases that ran the probe, or the base
    /// release, did not show the feature at all (written `optional = true`: see
    /// [`crate::fingerprint::Expect`]).
    pub optional: bool,
}

/// Whether at least half of the releases (base and version variants)
/// that ran the probe lack the feature, or the base release does, and
/// another shows it: its absence is then the usual,
/// no evidence against the implementation (NATS 2.12 and later drop the
/// connection where 2.10 and 2.11 send a close frame with a code). Where
/// only a few releases lack it, or only apps and configurations do (a
/// silent app echoes nothing), its absence still counts as a mismatch:
/// marking those optional let a fingerprint fit every scan that lacks
/// what it alone shows (SockJS's, fitted by ws with the safe probes).
fn absent_on_most_releases(seen: &[(&Variant, Option<&String>)]) -> bool {
    let releases = seen.iter().filter(|(v, _)| {
        matches!(
            v.kind,
            super::corpus::Kind::Base | super::corpus::Kind::Version
        )
    });
    let (n, absent, base_lacks) = releases.fold((0, 0, false), |(n, a, b), (v, val)| {
        (
            n + 1,
            a + usize::from(val.is_none()),
            b || (v.kind == super::corpus::Kind::Base && val.is_none()),
        )
    });
    // Some release shows it: a feature no release shows is an app's or a
    // configuration's (SockJS's framed app closes with 3000), whose
    // absence from a scan is evidence as before. And a fingerprint fits
    // its own base build: what the base lacks is never held against a
    // scan (Tornado 6.6 answers probe 306 with a 400 where older releases
    // upgrade; `306.accept` required made its own scans mismatch).
    absent > 0 && absent < n && (2 * absent >= n || base_lacks)
}

/// One variant of an implementation (a release, an app, a configuration,
/// a proxy pair) and its runs, as features of the layer it speaks for.
#[derive(Debug, Clone)]
pub struct Variant {
    pub kind: super::corpus::Kind,
    /// Its version label (`websockets 13.1`), for the version table.
    pub version: String,
    pub runs: Vec<BTreeMap<String, String>>,
}

/// At most this many distinct values of one feature over the variants:
/// a feature with more is noise (timing, app text), not behaviour.
const MAX_VALUES: usize = 4;

/// The probe of a feature key.
fn probe_of(key: &str) -> &str {
    key.split_once('.').map_or(key, |(p, _)| p)
}

/// Learn one fingerprint from its variants.
///
/// - A feature that differed between two runs of one variant depends on
///   timing: left out.
/// - One that differed between apps on the same release (the echo app and
///   a silent one) is the app's: left out.
/// - The body of a 2xx answer is the app's page: left out.
/// - One that differed between releases or configurations is kept with
///   every value seen, weighted by its stability, and (releases) written
///   to the version table.
///
/// Returns the features and the version table (key → version → value,
/// only for the features whose value changed between releases).
/// A banner feature (`<probe>.h.server`), whose value is product names.
fn is_banner_key(key: &str) -> bool {
    key.split_once(".h.")
        .is_some_and(|(_, h)| crate::probe::normalise::is_banner(h))
}

pub fn learn(
    variants: &[Variant],
) -> (
    BTreeMap<String, Learned>,
    BTreeMap<String, BTreeMap<String, String>>,
) {
    use super::corpus::Kind;
    let stable: Vec<BTreeMap<String, String>> =
        variants.iter().map(|v| stable_features(&v.runs)).collect();
    // Keys that were unstable in some variant (present in a run, not in
    // the intersection).
    let mut unstable: std::collections::BTreeSet<&str> = Default::default();
    for (v, st) in variants.iter().zip(&stable) {
        for r in &v.runs {
            unstable.extend(
                r.keys()
                    .filter(|k| !st.contains_key(*k))
                    .map(String::as_str),
            );
        }
    }
    let mut keys: std::collections::BTreeSet<&str> = Default::default();
    for st in &stable {
        keys.extend(st.keys().map(String::as_str));
    }
    let mut learned = BTreeMap::new();
    let mut by_version = BTreeMap::new();
    for key in keys {
        if unstable.contains(key) || key.ends_with(".version") {
            continue;
        }
        let status = format!("{}.status", probe_of(key));
        // The page of a 2xx answer is the app's, not the library's (an
        // error body is the library's).
        if key.ends_with(".body")
            && stable
                .iter()
                .any(|st| st.get(&status).is_some_and(|s| s.starts_with('2')))
        {
            continue;
        }
        // Per variant that ran the probe: its value, or None (absent).
        let seen: Vec<(&Variant, Option<&String>)> = variants
            .iter()
            .zip(&stable)
            .filter(|(_, st)| st.contains_key(&status))
            .map(|(v, st)| (v, st.get(key)))
            .collect();
        // The app's doing: apps on one release disagree.
        let app_dependent = seen.iter().any(|(a, va)| {
            matches!(a.kind, Kind::App)
                && seen.iter().any(|(b, vb)| {
                    matches!(b.kind, Kind::Base | Kind::Version)
                        && b.version == a.version
                        && vb != va
                })
        });
        // The backend's doing: a reverse proxy's head, seen in front of
        // several backends (its variants of kind `proxy`), carries what
        // it passes through from each (extensions, headers, error pages),
        // which is no evidence for the proxy.
        let mut behind = seen
            .iter()
            .filter(|(v, _)| matches!(v.kind, Kind::Proxy))
            .map(|(_, val)| *val);
        let backend_dependent = behind
            .next()
            .is_some_and(|first| behind.any(|other| other != first));
        if backend_dependent && !app_dependent && is_banner_key(key) {
            // A banner the proxy extends (`Server: Caddy` beside the
            // backend's products): the product tokens every pair shows
            // are the proxy's own.
            // An absent banner (`-`, a configuration removed it) is not
            // compared when scoring; it does not vote here either.
            let present: Vec<&String> = seen
                .iter()
                .filter_map(|(_, v)| *v)
                .filter(|v| v.as_str() != "-")
                .collect();
            let common = present.first().and_then(|first| {
                first.split(' ').find(|tok| {
                    !tok.is_empty()
                        && *tok != "-"
                        && present.iter().all(|v| v.split(' ').any(|t| t == *tok))
                })
            });
            if let (Some(tok), true) = (common, present.len() >= 2) {
                learned.insert(
                    key.to_string(),
                    Learned {
                        values: Vec::new(),
                        stability: 1.0,
                        contains: Some(tok.to_string()),
                        optional: false,
                    },
                );
            }
            continue;
        }
        if app_dependent || backend_dependent {
            continue;
        }
        let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
        for (_, v) in &seen {
            if let Some(v) = v {
                *counts.entry(v).or_default() += 1;
            }
        }
        if counts.is_empty() || counts.len() > MAX_VALUES {
            continue;
        }
        let modal = counts.values().copied().max().unwrap_or(0);
        learned.insert(
            key.to_string(),
            Learned {
                values: counts.keys().map(|v| (*v).clone()).collect(),
                stability: modal as f64 / seen.len().max(1) as f64,
                contains: None,
                optional: absent_on_most_releases(&seen),
            },
        );
        // The version table: one value per release, when releases differ.
        let mut per_version: BTreeMap<String, String> = BTreeMap::new();
        for (v, val) in &seen {
            if matches!(v.kind, Kind::Base | Kind::Version)
                && let Some(val) = val
            {
                per_version
                    .entry(v.version.clone())
                    .or_insert_with(|| (*val).clone());
            }
        }
        let distinct: std::collections::BTreeSet<&String> = per_version.values().collect();
        if distinct.len() > 1 {
            by_version.insert(key.to_string(), per_version);
        }
    }
    (learned, by_version)
}

/// Features left out of a generated fingerprint: the URL-only probe says
/// nothing about the implementation, and error tokens from a run that
/// failed to connect would fingerprint the network, not the server.
fn worth_keeping(key: &str, value: &str) -> bool {
    let connect_failure = key.ends_with(".status")
        && matches!(
            value,
            "refused" | "timeout" | "error" | "tls_error" | "proxy_error"
        );
    !(key.ends_with(".url_match") || connect_failure)
}

fn quote(s: &str) -> String {
    // TOML basic string: escape backslash, quote and control characters.
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The TOML text of a fingerprint with exact expectations.
pub fn to_toml(meta: &Meta, features: &BTreeMap<String, String>) -> String {
    let learned: BTreeMap<String, Learned> = features
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Learned {
                    values: vec![v.clone()],
                    stability: 1.0,
                    contains: None,
                    optional: false,
                },
            )
        })
        .collect();
    to_toml_learned(meta, &learned, &BTreeMap::new())
}

/// The TOML text of a fingerprint learned from variants ([`learn`]).
pub fn to_toml_learned(
    meta: &Meta,
    features: &BTreeMap<String, Learned>,
    by_version: &BTreeMap<String, BTreeMap<String, String>>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Generated by `wsfp generate`; edit match kinds by hand where useful"
    );
    let _ = writeln!(s, "# (see docs/fingerprints.md).");
    let _ = writeln!(s, "id = {}", quote(&meta.id));
    let _ = writeln!(s, "name = {}", quote(&meta.name));
    let _ = writeln!(s, "library = {}", quote(&meta.library));
    if let Some(f) = &meta.family {
        let _ = writeln!(s, "family = {}", quote(f));
    }
    let _ = writeln!(s, "language = {}", quote(&meta.language));
    let versions: Vec<String> = meta.versions.iter().map(|v| quote(v)).collect();
    let _ = writeln!(s, "versions = [{}]", versions.join(", "));
    let _ = writeln!(s, "\n[provenance]");
    if let Some(l) = &meta.lab_id {
        let _ = writeln!(s, "lab_id = {}", quote(l));
    }
    let _ = writeln!(s, "date = {}", quote(&meta.date));
    let _ = writeln!(s, "probe_set = {}", quote(&meta.probe_set));
    let _ = writeln!(
        s,
        "generated_by = {}",
        quote(concat!("wsfp ", env!("CARGO_PKG_VERSION")))
    );
    let _ = writeln!(s, "\n[features]");
    for (k, l) in features {
        let values: Vec<&String> = l.values.iter().filter(|v| worth_keeping(k, v)).collect();
        let stability = (l.stability * 1000.0).round() / 1000.0;
        if let Some(tok) = &l.contains {
            let _ = writeln!(s, "{} = {{ contains = {} }}", quote(k), quote(tok));
            continue;
        }
        let optional = if l.optional { ", optional = true" } else { "" };
        match values.as_slice() {
            [] => {}
            [v] if stability >= 1.0 && !l.optional => {
                let _ = writeln!(s, "{} = {}", quote(k), quote(v));
            }
            [v] => {
                let _ = writeln!(
                    s,
                    "{} = {{ exact = {}, stability = {stability}{optional} }}",
                    quote(k),
                    quote(v)
                );
            }
            vs => {
                let list: Vec<String> = vs.iter().map(|v| quote(v)).collect();
                let _ = writeln!(
                    s,
                    "{} = {{ any_of = [{}], stability = {stability}{optional} }}",
                    quote(k),
                    list.join(", ")
                );
            }
        }
    }
    for (k, table) in by_version {
        if !features.contains_key(k) {
            continue;
        }
        let _ = writeln!(s, "\n[by_version.{}]", quote(k));
        for (ver, v) in table {
            let _ = writeln!(s, "{} = {}", quote(ver), quote(v));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::Fingerprint;
    use crate::probe::ProbeSet;

    #[test]
    fn unstable_features_are_dropped() {
        let a: BTreeMap<_, _> = [("1.x", "a"), ("1.y", "b")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let b: BTreeMap<_, _> = [("1.x", "a"), ("1.y", "c")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let s = stable_features(&[a, b]);
        assert_eq!(s.len(), 1);
        assert_eq!(s["1.x"], "a");
    }

    fn run(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn learning_keeps_behaviour_and_drops_timing_apps_and_pages() {
        use crate::fingerprint::corpus::Kind;
        let base = |reason: &str, push: &str| {
            run(&[
                ("104.status", "101"),
                ("104.close_reason", reason),
                ("104.control", push),
                ("701.status", "200"),
                ("701.body", "my app page"),
                ("300.status", "400"),
                ("300.body", "Bad key"),
            ])
        };
        let variants = vec![
            // Two runs of the base release: 300.body moved between runs.
            Variant {
                kind: Kind::Base,
                version: "w 17.4".into(),
                runs: vec![base("new", ""), {
                    let mut r = base("new", "");
                    r.insert("300.body".into(), "Bad key!".into());
                    r
                }],
            },
            // Another app on the same release: control frames differ.
            Variant {
                kind: Kind::App,
                version: "w 17.4".into(),
                runs: vec![base("new", "ping")],
            },
            // An older release: another close reason.
            Variant {
                kind: Kind::Version,
                version: "w 12.0".into(),
                runs: vec![base("old", "")],
            },
        ];
        let (learned, by_version) = learn(&variants);
        assert!(!learned.contains_key("300.body"), "timing");
        assert!(!learned.contains_key("104.control"), "the app's");
        assert!(!learned.contains_key("701.body"), "a 2xx page");
        let r = &learned["104.close_reason"];
        assert_eq!(r.values, ["new", "old"]);
        assert!((r.stability - 2.0 / 3.0).abs() < 1e-9, "{}", r.stability);
        assert_eq!(learned["104.status"].stability, 1.0);
        assert_eq!(by_version["104.close_reason"]["w 12.0"], "old");
        assert_eq!(by_version.len(), 1);
        // Written and parsed back.
        let meta = Meta {
            id: "w".into(),
            name: "w".into(),
            library: "pypi:w".into(),
            language: "Python".into(),
            versions: vec!["w 12.0".into(), "w 17.4".into()],
            date: "d".into(),
            probe_set: "p".into(),
            ..Meta::default()
        };
        let fp = Fingerprint::parse(
            &to_toml_learned(&meta, &learned, &by_version),
            "w.toml",
            &ProbeSet::builtin(),
        )
        .unwrap();
        let e = &fp.features["104.close_reason"];
        assert!(e.matcher.matches("old") && e.matcher.matches("new"));
        assert!((e.stability - 0.667).abs() < 1e-9);
        assert_eq!(fp.by_version["104.close_reason"]["w 17.4"], "new");
    }

    /// What the base build lacks is optional even when most releases show
    /// it (the fingerprint must fit its own base build: Tornado 6.6
    /// refuses probe 306 where older releases upgrade); what one older
    /// release alone lacks stays required.
    #[test]
    fn what_the_base_lacks_is_optional() {
        use crate::fingerprint::corpus::Kind;
        let v = |kind, version: &str, accept: bool, reason: bool| {
            let mut m: BTreeMap<String, String> = [("306.status", "101")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into();
            if accept {
                m.insert("306.accept".into(), "valid".into());
            }
            if reason {
                m.insert("306.reason".into(), "Switching Protocols".into());
            }
            Variant {
                kind,
                version: version.into(),
                runs: vec![m],
            }
        };
        let variants = vec![
            v(Kind::Base, "t 6.6", false, true),
            v(Kind::Version, "t 6.5", true, true),
            v(Kind::Version, "t 6.4", true, true),
            v(Kind::Version, "t 5.1", true, false),
        ];
        let (learned, _) = learn(&variants);
        assert!(learned["306.accept"].optional, "the base lacks it");
        assert!(
            !learned["306.reason"].optional,
            "only an older release lacks it"
        );
    }

    /// A close code that half the releases never send (they drop the
    /// connection) is learned `optional`: a scan without it is not
    /// compared on it, so every release is named; one only an app shows
    /// stays required, and a scan without it is a mismatch as before.
    #[test]
    fn what_most_releases_lack_is_optional_and_an_apps_alone_is_not() {
        use crate::fingerprint::score::Scorer;
        use crate::fingerprint::{Db, corpus::Kind};
        let run = |close: bool, app_close: bool| -> BTreeMap<String, String> {
            let mut m: BTreeMap<String, String> = [
                ("100.status", "101"),
                ("100.end", if close { "close" } else { "drop" }),
                ("104.status", "101"),
                ("104.end", "close"),
                ("104.close_code", "1002"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
            if close {
                m.insert("100.close_code".into(), "1002".into());
            }
            if app_close {
                m.insert("104.close_reason".into(), "Broken framing.".into());
            }
            m
        };
        let v = |kind, version: &str, close, app_close| Variant {
            kind,
            version: version.into(),
            runs: vec![run(close, app_close)],
        };
        let variants = vec![
            v(Kind::Base, "n 2.15", false, false),
            v(Kind::Version, "n 2.12", false, false),
            v(Kind::Version, "n 2.11", true, false),
            v(Kind::Version, "n 2.10", true, false),
            v(Kind::App, "n 2.15.0", false, true),
        ];
        let (learned, by_version) = learn(&variants);
        assert!(
            learned["100.close_code"].optional,
            "half the releases lack it"
        );
        assert!(
            !learned["104.close_reason"].optional,
            "only an app shows it"
        );
        assert!(
            !learned["104.close_code"].optional,
            "every release shows it"
        );
        let meta = Meta {
            id: "n".into(),
            name: "n".into(),
            library: "go:n".into(),
            language: "Go".into(),
            versions: ["n 2.10", "n 2.11", "n 2.12", "n 2.15"]
                .map(String::from)
                .into(),
            date: "d".into(),
            probe_set: "p".into(),
            ..Meta::default()
        };
        let text = to_toml_learned(&meta, &learned, &by_version);
        assert!(
            text.contains(
                "\"100.close_code\" = { exact = \"1002\", stability = 0.4, optional = true }"
            ),
            "{text}"
        );
        let set = ProbeSet::builtin();
        let fp = Fingerprint::parse(&text, "n.toml", &set).unwrap();
        assert!(fp.features["100.close_code"].optional);
        let sc = Scorer::new(std::sync::Arc::new(Db {
            fingerprints: vec![fp],
            ..Db::default()
        }));
        let t = |f: &BTreeMap<String, String>| sc.counts_for_test(f)[0];
        // A new release (no close code): 100.close_code not compared.
        let (new, old) = (t(&run(false, true)), t(&run(true, true)));
        assert_eq!(new.0 + 1, old.0, "{new:?} {old:?}");
        assert_eq!(new.0, new.1, "{new:?}");
        // Without the app's close reason: a mismatch, as before.
        let plain = t(&run(false, false));
        assert_eq!(plain.0, new.0);
        assert_eq!(plain.1 + 1, plain.0, "{plain:?}");
    }

    #[test]
    fn generated_toml_parses_back_with_awkward_values() {
        let meta = Meta {
            id: "t".into(),
            name: "T \"quoted\"".into(),
            library: "t".into(),
            language: "Rust".into(),
            versions: vec!["1.0".into()],
            date: "2026-11-22".into(),
            probe_set: "p".into(),
            ..Meta::default()
        };
        let feats: BTreeMap<String, String> = [
            ("104.close_reason", "bad \\ \"frame\"\u{1}\n"),
            ("309.status", "101"),
            ("310.url_match", "false"),
            ("300.status", "refused"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        let text = to_toml(&meta, &feats);
        let fp = Fingerprint::parse(&text, "gen.toml", &ProbeSet::builtin()).unwrap();
        assert_eq!(fp.name, "T \"quoted\"");
        assert!(
            fp.features["104.close_reason"]
                .matcher
                .matches("bad \\ \"frame\"\u{1}\n")
        );
        assert_eq!(
            fp.features.len(),
            2,
            "url_match and connect failures are left out"
        );
    }
}
