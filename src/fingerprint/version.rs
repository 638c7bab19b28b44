//! The version estimate: which releases of the named implementation a scan
//! is consistent with.
//!
//! Two sources, the first that speaks wins:
//! - a product banner (`Server: Python/3.11 websockets/17.4`) naming the
//!   implementation's own product with a version: that version;
//! - the fingerprint's version table (`by_version`, learned from a
//!   version ladder): the releases whose values the scan matches best,
//!   bounded by the nearest releases on either side that match worse.
//!   A release never seen (between two of the ladder) falls inside the
//!   bounds of its neighbours.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::Fingerprint;

/// The numbers of a version label, for ordering: `websockets 13.1` →
/// `[13, 1]`, `autobahn 26.10.2, Twisted 26.10.0` → `[26, 10, 2]` (the
/// first dotted number).
pub fn order_key(label: &str) -> Vec<u64> {
    let Some(start) = label.find(|c: char| c.is_ascii_digit()) else {
        return Vec::new();
    };
    label[start..]
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .next()
        .unwrap_or("")
        .split('.')
        .map_while(|p| p.parse().ok())
        .collect()
}

fn cmp_labels(a: &str, b: &str) -> Ordering {
    order_key(a).cmp(&order_key(b)).then_with(|| a.cmp(b))
}

/// What the evidence says of the version (a record's `version`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Estimate {
    /// The best-matching known release (or the banner's version).
    pub closest: String,
    /// Exclusive bounds: the nearest releases that match worse (`None`:
    /// unbounded on that side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// From a banner, not from behaviour.
    #[serde(default)]
    pub from_banner: bool,
}

impl Estimate {
    /// Is release `label` within the estimate?
    pub fn contains(&self, label: &str) -> bool {
        let k = order_key(label);
        if self.from_banner {
            return k == order_key(&self.closest);
        }
        self.after.as_deref().is_none_or(|a| order_key(a) < k)
            && self.before.as_deref().is_none_or(|b| k < order_key(b))
    }

    /// Bounded on both sides (or exact)?
    pub fn bounded(&self) -> bool {
        self.from_banner || self.after.is_some() && self.before.is_some()
    }
}

impl std::fmt::Display for Estimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.from_banner {
            return write!(f, "{} (banner)", self.closest);
        }
        write!(f, "closest {}", self.closest)?;
        match (&self.after, &self.before) {
            (None, None) => Ok(()),
            (Some(a), None) => write!(f, ", after {a}"),
            (None, Some(b)) => write!(f, ", before {b}"),
            (Some(a), Some(b)) => write!(f, ", after {a}, before {b}"),
        }
    }
}

/// The first word of a version label, lower case: the product it is a
/// version of (`websockets 13.1` → `websockets`).
fn product_of(label: &str) -> String {
    label
        .split(|c: char| c.is_whitespace() || c == '/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The version estimate of `fp` for a scan's features (`None` when the
/// fingerprint names no version at all).
pub fn estimate(fp: &Fingerprint, features: &BTreeMap<String, String>) -> Option<Estimate> {
    estimate_with(
        fp,
        features
            .iter()
            .filter(|(k, _)| k.ends_with(".version"))
            .map(|(_, v)| v.as_str()),
        |k| features.get(k).map(String::as_str),
    )
}

/// [`estimate`] over any view of a scan's features: `banners` are the
/// values of its banner version features (`*.h.server.version`), `get`
/// looks one feature up (the scorer reads both from its evidence, without
/// a feature map).
pub fn estimate_with<'a>(
    fp: &Fingerprint,
    banners: impl IntoIterator<Item = &'a str>,
    get: impl Fn(&str) -> Option<&'a str>,
) -> Option<Estimate> {
    let mut versions: Vec<&String> = fp.versions.iter().collect();
    versions.sort_by(|a, b| cmp_labels(a, b));
    let first = versions.first()?;
    let product = product_of(first);
    // A banner naming the product with a version.
    for v in banners {
        for token in v.split_whitespace() {
            if let Some((name, ver)) = token.split_once('/')
                && name.eq_ignore_ascii_case(&product)
                && !ver.is_empty()
            {
                return Some(Estimate {
                    closest: format!("{name} {ver}"),
                    after: None,
                    before: None,
                    from_banner: true,
                });
            }
        }
    }
    // The version table.
    let scores: Vec<usize> = versions
        .iter()
        .map(|ver| {
            fp.by_version
                .iter()
                .filter(|(k, table)| {
                    get(k.as_str()).is_some_and(|o| table.get(*ver).is_some_and(|v| v == o))
                })
                .count()
        })
        .collect();
    let best = scores.iter().copied().max().unwrap_or(0);
    let lo = scores.iter().position(|&s| s == best).unwrap_or(0);
    let hi = scores.iter().rposition(|&s| s == best).unwrap_or(lo);
    Some(Estimate {
        closest: versions[hi].clone(),
        after: lo.checked_sub(1).map(|i| versions[i].clone()),
        before: versions.get(hi + 1).map(|v| (*v).clone()),
        from_banner: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ProbeSet;

    fn fp() -> Fingerprint {
        let text = r#"
id = "w"
name = "w"
library = "pypi:w"
language = "Python"
versions = ["w 12.0", "w 10.4", "w 14.2", "w 17.4"]
[provenance]
date = "d"
probe_set = "p"
[features]
"104.close_reason" = { any_of = ["old", "new"], stability = 0.5 }
"104.close_code" = "1002"
[by_version."104.close_reason"]
"w 10.4" = "old"
"w 12.0" = "old"
"w 14.2" = "new"
"w 17.4" = "new"
"#;
        Fingerprint::parse(text, "w.toml", &ProbeSet::builtin()).unwrap()
    }

    fn feats(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_unseen_release_falls_between_its_neighbours() {
        let e = estimate(&fp(), &feats(&[("104.close_reason", "new")])).unwrap();
        assert_eq!(e.closest, "w 17.4");
        assert_eq!(e.after.as_deref(), Some("w 12.0"));
        assert_eq!(e.before, None);
        assert!(e.contains("w 13.1") && e.contains("w 18.0") && !e.contains("w 11.0"));
        let e = estimate(&fp(), &feats(&[("104.close_reason", "old")])).unwrap();
        assert_eq!((e.after, e.before.as_deref()), (None, Some("w 14.2")));
        assert_eq!(e.closest, "w 12.0");
    }

    #[test]
    fn a_banner_names_the_version() {
        let e = estimate(
            &fp(),
            &feats(&[
                ("1000.h.server.version", "Python/3.11 w/17.5"),
                ("104.close_reason", "old"),
            ]),
        )
        .unwrap();
        assert!(e.from_banner && e.contains("w 17.5") && !e.contains("w 17.4"));
        assert_eq!(e.to_string(), "w 17.5 (banner)");
    }

    #[test]
    fn labels_order_by_their_numbers() {
        assert_eq!(
            order_key("autobahn 26.10.2, Twisted 26.10.0"),
            vec![26, 10, 2]
        );
        assert_eq!(cmp_labels("w 9.1", "w 10.0"), Ordering::Less);
        assert_eq!(order_key("none"), Vec::<u64>::new());
    }
}
