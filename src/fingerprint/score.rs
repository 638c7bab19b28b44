//! Scoring a scan's feature map against the DB.
//!
//! Each expected feature is weighted by how well it discriminates: the
//! share of *other* fingerprints whose expectation for the same key would
//! not accept this fingerprint's value. A feature every implementation
//! shares (say `100.status = 101`) weighs almost nothing; one only this
//! implementation shows weighs 1. Features absent on either side are
//! skipped. The score is the matched share of the compared weight;
//! candidates are ranked by the weight they mismatched (the
//! log-likelihood), and the verdict is `unknown` unless the best candidate
//! is strong and clearly ahead of any of another library.
//!
//! The thresholds below are checked by leave-one-out on the lab (`wsfp
//! evaluate`); docs/fingerprints.md ("Scoring") states them, and the
//! confidence's calibration (src/fingerprint/calibrate.rs).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::calibrate;
use super::version::{self, Estimate};
use super::{Db, Match};
use crate::probe::Layer;

/// Below this score the verdict is `unknown`: the server is not close
/// enough to anything in the DB. Calibrated by leave-one-out on the lab
/// (`wsfp evaluate`): a server scored against the DB without its own
/// fingerprint must come out `unknown` or as its library.
pub const MIN_SCORE: f64 = 0.9;

/// A proxy is named the front over the best server's own head only if that
/// head missed at least this much weight: a thin proxy fingerprint (the
/// gate's head and little else) fits every head it meets perfectly, and a
/// server whose own head missed a fraction of one feature is that server,
/// not a proxy in front of it (a direct Tornado was named behind Varnish).
const MIN_FRONT_MISS: f64 = 0.5;
/// ln ε: how much less likely a mismatch of weight 1 makes a candidate
/// (one fully discriminating mismatch is more than a tie).
const MISMATCH_LN: f64 = -4.605_170_186; // ln 0.01
/// Candidates within this log-likelihood of the best are indistinguishable
/// (a factor of 20).
const TIE_LN: f64 = 2.995_732_274;
/// How far ahead (log-likelihood) an implementation must be of another
/// of its own library to be named rather than the library: two fully
/// discriminating mismatches.
const FRAMEWORK_LN: f64 = 9.210_340_372;
/// Discriminating weight that must be compared before any name is given:
/// a scan that ran one or two probes cannot name an implementation.
const MIN_EVIDENCE: f64 = 2.0;
/// What one unit of matched weight a competitor did not predict is worth
/// between reverse proxies: as much as a mismatch costs (ln 100; see
/// `Scorer::by_positive_evidence`).
const POSITIVE_LN: f64 = 4.605_170_186;
/// Weight floor, so a DB of one fingerprint still scores.
const WEIGHT_FLOOR: f64 = 0.05;
/// Candidates reported.
pub const TOP_K: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: String,
    pub name: String,
    /// Matched share of the compared discriminating weight.
    pub score: f64,
    /// What candidates are ranked by, least first: the discriminating
    /// weight of the compared features that did not match (the
    /// log-likelihood is this times ln ε); ties go to the higher `score`,
    /// then the smaller id. Absent for a candidate with too little
    /// evidence to be ranked (those come last). A candidate of a higher
    /// `score` may rank below one that compared more and missed less.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mismatch: Option<f64>,
    /// Features compared / matched (for explaining a verdict).
    pub compared: usize,
    pub matched: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// A fingerprint id, a library (when the evidence cannot separate
    /// implementations of one library), or `"unknown"`.
    pub implementation: String,
    /// The library of the verdict, when there is one.
    pub library: Option<String>,
    pub confidence: f64,
    pub candidates: Vec<Candidate>,
    /// Which releases of the named implementation (or of the library's
    /// best candidate) the evidence is consistent with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Estimate>,
    /// No known proxy in front, but the head and the frames each name a
    /// different library: what each layer alone names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Layers>,
    /// What the confidence was computed from (for calibrating it, with
    /// `wsfp evaluate --dump`; not part of a record).
    #[serde(skip)]
    pub basis: Option<Basis>,
}

/// What each layer alone names, when they point to different libraries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layers {
    /// Scored on the HTTP head (which a proxy may own).
    pub head: String,
    /// Scored on the WebSocket frames (which the library owns).
    pub frames: String,
}

/// See [`Scorer::layered`].
enum Layered {
    Proxy(Box<(Verdict, Verdict)>),
    Disagree(Layers),
    Neither,
}

/// The quantities a named verdict's confidence is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Basis {
    /// The best candidate's matched share of the compared weight.
    pub score: f64,
    /// Its closed-world posterior (uniform prior over the DB) times its
    /// score: the confidence before calibration.
    pub closed: f64,
    /// Discriminating weight compared and matched.
    pub compared_w: f64,
    pub matched_w: f64,
    /// Log-likelihood lead over the best candidate of another library
    /// (capped at [`GAP_CAP`]).
    pub library_gap: f64,
    /// The head and the frames alone name different libraries.
    pub layers_disagree: bool,
}

/// Cap of [`Basis::library_gap`] (no other library: the cap).
pub const GAP_CAP: f64 = 50.0;

/// A feature that separated the first candidate of a verdict from the
/// second ([`Scorer::separators`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Separator {
    /// `<probe>.<feature>`.
    pub feature: String,
    /// What the scan saw (absent: the probe ran but showed nothing of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    /// What the first candidate expects (absent: nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
    /// What the second candidate expects (absent: nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second: Option<String>,
    /// How much more weight the second failed to match here than the
    /// first (negative: the feature favoured the second).
    pub weight: f64,
}

impl Verdict {
    pub fn unknown() -> Verdict {
        Verdict {
            implementation: "unknown".into(),
            library: None,
            confidence: 0.0,
            candidates: Vec::new(),
            version: None,
            layers: None,
            basis: None,
        }
    }
}

/// Discrimination weights, computed once per DB, and the DB compiled for
/// scoring: an inverted index from each feature key's observed value to
/// the fingerprints that accept it, so scoring a record touches only the
/// expectations its values meet instead of every fingerprint's every
/// feature (`wsfp match` over a survey scores millions of records).
#[derive(Debug, Clone)]
pub struct Scorer {
    db: Arc<Db>,
    /// Identifies this scorer's layout to an [`Evidence`] built for it.
    id: u64,
    /// Per fingerprint: key → weight (when every probe ran: a header's
    /// share of its group is larger when fewer of them ran).
    weights: Vec<BTreeMap<String, f64>>,
    /// Number of feature keys the DB expects (sorted, numbered), and the
    /// banner version keys the version estimate reads.
    keys: usize,
    /// Per fingerprint: all its features are of the handshake layer (a
    /// reverse proxy's).
    handshake_only: Vec<bool>,
    /// Key → its number, for the version estimate's lookups.
    key_of: HashMap<String, usize>,
    /// The banner version keys (`<probe>.h.server.version`): compared with
    /// no fingerprint, read by the version estimate.
    banner_versions: Vec<usize>,
    /// Per key: the fingerprints expecting it, by what they accept.
    index: Vec<KeyIndex>,
    /// Probe id → index, for "which probes ran".
    probes: HashMap<String, usize>,
    /// Per probe: its keys' feature names (the part after `"<probe>."`)
    /// → key, so a record's features are found without building
    /// `"<probe>.<feature>"` strings.
    probe_keys: Vec<Vec<(Box<str>, usize)>>,
    /// Per fingerprint, its features in key order (the order the weights
    /// are summed in, so scores are bit-for-bit those of a plain loop).
    compiled: Vec<Vec<Feat>>,
    /// How many evidence groups ([`Post::group`]) the DB's fingerprints have.
    groups: usize,
    /// Per fingerprint, its features' runs of one probe: (probe, start,
    /// end) into `compiled` (keys sort by probe, so each probe's features
    /// are contiguous). A probe that did not run skips its run in one
    /// step; a discovery record (one probe) touches a few features per
    /// fingerprint instead of all of them.
    runs: Vec<Vec<(usize, usize, usize)>>,
    /// Per fingerprint, the rank of its id among the DB's ids (the last
    /// tie-break of a ranking, without comparing strings per record).
    id_rank: Vec<usize>,
    /// Verdicts of recent feature maps. A survey meets the same few
    /// servers over and over: every discovery record of one kind of server
    /// has the same gate features, so scoring them once is enough.
    /// Bounded ([`MEMO_CAP`] maps of at most [`MEMO_MAX_KEYS`] keys;
    /// emptied when full) and shared by clones, which score with the same
    /// DB.
    memo: Arc<std::sync::Mutex<Memo>>,
}

/// Keyed by [`MemoKey`]'s bytes, not by the map: a scan can then look a
/// record up without building its feature map (two strings per feature).
type Memo = HashMap<Box<[u8]>, (Option<Verdict>, Verdict), foldhash::fast::RandomState>;

/// A feature set written as bytes for the verdict memo: each feature's
/// name and value, length-prefixed, so two different sets never share a
/// key. The same set written in another order is another key (and just
/// another memo entry).
#[derive(Debug, Default)]
pub struct MemoKey {
    bytes: Vec<u8>,
    features: usize,
}

impl MemoKey {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.features = 0;
    }

    /// A feature `{probe}.{name}` = `value`.
    pub fn push(&mut self, probe: &str, name: &str, value: &str) {
        self.features += 1;
        for part in [probe, name, value] {
            self.bytes
                .extend_from_slice(&(part.len() as u32).to_le_bytes());
            self.bytes.extend_from_slice(part.as_bytes());
        }
    }
}

/// Feature maps remembered by [`Scorer::verdicts`] before it starts over.
const MEMO_CAP: usize = 4096;

/// Feature maps with more keys than this are scored without the memo: a
/// full scan's few hundred features rarely repeat exactly, and keeping
/// copies of them would cost more time (a clone per record) and memory
/// (up to [`MEMO_CAP`] of them) than scoring does. A discovery record has
/// about ten.
const MEMO_MAX_KEYS: usize = 64;

/// One fingerprint's expectation of a key, in a posting list.
impl KeyIndex {
    /// The fingerprints whose expectation accepts the observed value `v`,
    /// as runs of posts: the exact and `any_of` ones, then each other
    /// matcher that holds.
    fn accepting<'a>(&'a self, v: &'a str) -> impl Iterator<Item = &'a [Post]> + 'a {
        let exact = self
            .values
            .binary_search_by(|(x, _)| (**x).cmp(v))
            .ok()
            .and_then(|i| self.values.get(i))
            .map(|(_, posts)| &posts[..]);
        let other = self
            .other
            .iter()
            .filter(move |(m, _)| m.matches(v))
            .map(|(_, posts)| &posts[..]);
        exact.into_iter().chain(other)
    }
}

#[derive(Debug, Clone, Copy)]
struct Post {
    fp: u32,
    /// Its evidence slot (its layer's).
    slot: u32,
    /// Its weight before sharing: see [`Post::group`].
    weight: f64,
    /// Its evidence group ([`group_of`]: one header that many probes saw),
    /// numbered over the whole DB, or [`NO_GROUP`]. A group is one fact:
    /// its weight is shared among the members whose probe ran, so a short
    /// scan that saw the header on three probes weighs it as fully as an
    /// exhaustive one that saw it on eighty.
    group: u32,
}

/// [`Post::group`] of a feature in no group.
const NO_GROUP: u32 = u32::MAX;

impl Post {
    /// Its weight when `div[g]` members of each group `g` ran.
    #[inline]
    fn weight_in(&self, div: &[f64]) -> f64 {
        shared_weight(self.weight, self.group, div)
    }
}

/// A feature's weight `weight` (before sharing), in group `group`, when
/// `div[g]` members of each group `g` ran.
#[inline]
fn shared_weight(weight: f64, group: u32, div: &[f64]) -> f64 {
    share(weight, div.get(group as usize).copied())
}

/// `weight` shared among the `n` members of its group that ran.
#[inline]
fn share(weight: f64, n: Option<f64>) -> f64 {
    match n {
        Some(n) if n > 1.0 => weight / n,
        _ => weight,
    }
}

#[derive(Debug, Clone, Default)]
struct KeyIndex {
    /// Observed value → the fingerprints whose `exact` or `any_of`
    /// expectation accepts it (one binary search finds them all), sorted
    /// by value.
    values: Vec<(Box<str>, Vec<Post>)>,
    /// The other expectations (contains, prefix, range), each distinct one
    /// evaluated once, with the fingerprints that hold it.
    other: Vec<(Match, Vec<Post>)>,
    /// Every fingerprint expecting the key (what an observed value is
    /// compared with, for [`Scorer::score_observed`]).
    all: Vec<Post>,
    /// The posts of `all` whose expectation is optional (compared only
    /// when observed), and the others: split once here rather than
    /// filtered per record.
    optional: Vec<Post>,
    required: Vec<Post>,
    /// A banner key (`h.server`): an absent banner (`-`) is compared with
    /// no fingerprint, neither those that expect one nor those that
    /// expect none (a configuration may remove it; its absence says
    /// nothing about the software).
    banner: bool,
}

#[derive(Debug, Clone)]
struct Feat {
    probe: usize,
    layer: Layer,
    /// Before sharing, as [`Post::weight`].
    weight: f64,
    group: u32,
    optional: bool,
}

/// A record's evidence, laid out for one [`Scorer`]: which probes ran and
/// each DB key's observed value. Built by [`Scorer::observe`] feature by
/// feature (no feature map, no key strings) and reused from record to
/// record, with the scratch space scoring needs, so scoring a stream of
/// records allocates nothing per record but the verdicts.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The [`Scorer`] it is laid out for.
    scorer: u64,
    ran: Vec<bool>,
    /// Per key: its observed value's span in `values` (`NONE`: not seen).
    observed: Vec<(u32, u32)>,
    values: String,
    /// Keys observed, in the order seen.
    seen: Vec<u32>,
    tallies: Vec<[Tally; 3]>,
    /// The compared part of the tallies for the probes in `compared_for`:
    /// it depends only on which probes ran, and most records of a survey
    /// ran the same probes, so it is summed once, not per record.
    compared_for: Vec<bool>,
    compared: Vec<[Tally; 3]>,
    /// Per evidence group ([`Post::group`]): how many of its members' probes
    /// ran (those in `compared_for`).
    div: Vec<f64>,
}

const NONE: (u32, u32) = (u32::MAX, 0);

impl Evidence {
    /// Forget the last record.
    pub fn clear(&mut self) {
        for &k in &self.seen {
            self.observed[k as usize] = NONE;
        }
        self.seen.clear();
        self.values.clear();
        self.ran.fill(false);
    }
}

thread_local! {
    /// [`Scorer::verdicts`]' evidence buffer, kept between records.
    static SPARE: std::cell::RefCell<Option<Evidence>> = const { std::cell::RefCell::new(None) };
}

/// Tells scorers apart, so an [`Evidence`] is never read with the layout
/// of another DB.
static SCORER_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Compared and matched weight and count of one fingerprint, for one
/// evidence slot: all layers, handshake only, frame only.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Tally {
    compared_w: f64,
    matched_w: f64,
    compared: usize,
    matched: usize,
}

const SLOT_ALL: usize = 0;
const SLOT_HEAD: usize = 1;

fn slot(layer: Option<Layer>) -> usize {
    match layer {
        None => SLOT_ALL,
        Some(Layer::Handshake) => 1,
        Some(Layer::Frame) => 2,
    }
}

/// The values of a matcher that stand for it when asking whether another
/// fingerprint's matcher accepts them too: every value of an `any_of`.
fn representatives(m: &Match) -> Vec<String> {
    match m {
        Match::AnyOf(v) => {
            let mut v = v.clone();
            v.sort();
            v.dedup();
            v
        }
        m => vec![representative(m)],
    }
}

/// The evidence group of a head feature that is a property of the
/// server's header set rather than a reaction to one probe: its header
/// (`h.server`) and expected value. The same `Server` header seen by 28
/// probes is one fact about the server, not 28: each member of a group
/// weighs a share of one feature.
fn group_of<'a>(key: &'a str, e: &'a super::Expect) -> Option<(&'a str, &'a Match)> {
    let (_, feature) = key.split_once('.')?;
    (e.layer == Layer::Handshake && (feature.starts_with("h.") || feature == "header_order"))
        .then_some((feature, &e.matcher))
}

/// How many of a fingerprint's features fall in each evidence group.
fn header_groups(fp: &super::Fingerprint) -> HashMap<(&str, &Match), usize> {
    let mut g = HashMap::new();
    for (k, e) in &fp.features {
        if let Some(key) = group_of(k, e) {
            *g.entry(key).or_default() += 1;
        }
    }
    g
}

/// Is this feature (`h.server`) a product banner, which a configuration
/// may remove? A banner that is absent says nothing: it is not compared
/// with a fingerprint that expects one.
fn is_banner_feature(feature: &str) -> bool {
    feature
        .strip_prefix("h.")
        .is_some_and(crate::probe::normalise::is_banner)
}

/// A representative value a matcher accepts, used to ask whether another
/// fingerprint's matcher would accept it too.
fn representative(m: &Match) -> String {
    match m {
        Match::Exact(v) | Match::Contains(v) | Match::Prefix(v) => v.clone(),
        Match::AnyOf(v) => v[0].clone(),
        Match::Range(lo, _) => lo.to_string(),
    }
}

impl Scorer {
    pub fn new(db: Arc<Db>) -> Self {
        let fps = &db.fingerprints;
        // key → every fingerprint's expectation for it, built once, so the
        // weights cost one matcher call per (feature, other fingerprint).
        let mut index: BTreeMap<&str, Vec<(usize, &Match)>> = BTreeMap::new();
        for (i, fp) in fps.iter().enumerate() {
            for (k, e) in &fp.features {
                index.entry(k.as_str()).or_default().push((i, &e.matcher));
            }
        }
        // The banner version of every probe the DB expects anything of: no
        // fingerprint holds it (a version never decides identity), but the
        // version estimate reads it from the evidence.
        let probes_of_db: std::collections::BTreeSet<&str> = index
            .keys()
            .map(|k| k.split_once('.').map_or(*k, |(p, _)| p))
            .collect();
        let banner_keys: Vec<(String, String)> = probes_of_db
            .iter()
            .flat_map(|p| {
                crate::probe::normalise::BANNERS
                    .iter()
                    .map(move |b| (p.to_string(), format!("h.{b}.version")))
            })
            .collect();
        let banner_full: Vec<String> = banner_keys
            .iter()
            .map(|(p, f)| format!("{p}.{f}"))
            .collect();
        for k in &banner_full {
            index.entry(k.as_str()).or_default();
        }
        let others = fps.len().saturating_sub(1);
        // (key, representative value) → how many fingerprints accept it.
        // Fingerprints mostly expect the same few values per key, so this
        // is computed once per distinct value rather than once per
        // fingerprint: it was most of the start-up time (a tenth of a
        // second, which a short scan pays in full).
        let mut accepted: HashMap<(&str, String), usize> = HashMap::new();
        // Per fingerprint: key → (weight before sharing, weight when every
        // member of its group ran).
        let both: Vec<BTreeMap<String, (f64, f64)>> = fps
            .iter()
            .map(|fp| {
                let groups = header_groups(fp);
                fp.features
                    .iter()
                    .map(|(k, e)| {
                        let w = if others == 0 {
                            1.0
                        } else {
                            // An `any_of` discriminates as its values do on
                            // average.
                            let reps = representatives(&e.matcher);
                            let n_reps = reps.len().max(1) as f64;
                            let mut sum = 0.0;
                            for rep in reps {
                                let own = usize::from(e.matcher.matches(&rep));
                                let all = match accepted.entry((k.as_str(), rep)) {
                                    Entry::Occupied(o) => *o.get(),
                                    Entry::Vacant(v) => {
                                        let rep = &v.key().1;
                                        let n = index[k.as_str()]
                                            .iter()
                                            .filter(|(_, m)| m.matches(rep))
                                            .count();
                                        *v.insert(n)
                                    }
                                };
                                // Every fingerprint but this one.
                                let accept = all.saturating_sub(own);
                                sum += others.saturating_sub(accept) as f64 / others as f64;
                            }
                            sum / n_reps
                        };
                        let shared =
                            group_of(k, e).map_or(1, |g| groups.get(&g).copied().unwrap_or(1));
                        let base = w.max(WEIGHT_FLOOR) * e.weight * e.stability;
                        (k.clone(), (base, base / shared as f64))
                    })
                    .collect()
            })
            .collect();
        let weights: Vec<BTreeMap<String, f64>> = both
            .iter()
            .map(|w| w.iter().map(|(k, &(_, full))| (k.clone(), full)).collect())
            .collect();
        let key_ix: HashMap<&str, usize> = index.keys().enumerate().map(|(i, k)| (*k, i)).collect();
        let mut by_key: Vec<KeyIndex> = vec![KeyIndex::default(); key_ix.len()];
        // Per key: value → postings, and distinct other matcher → postings.
        let mut values: Vec<HashMap<&str, Vec<Post>>> = vec![HashMap::new(); key_ix.len()];
        let mut probes: HashMap<String, usize> = HashMap::new();
        let mut probe_keys: Vec<Vec<(Box<str>, usize)>> = Vec::new();
        let mut n_groups: u32 = 0;
        let compiled: Vec<Vec<Feat>> = fps
            .iter()
            .zip(&both)
            .enumerate()
            .map(|(i, (fp, w))| {
                // This fingerprint's groups, numbered on from the last one's.
                let mut groups: HashMap<(&str, &Match), u32> = HashMap::new();
                // `w` has the same keys as `fp.features`, in the same order.
                fp.features
                    .iter()
                    .zip(w.values())
                    .map(|((k, e), &(weight, _))| {
                        let group = group_of(k, e).map_or(NO_GROUP, |g| {
                            *groups.entry(g).or_insert_with(|| {
                                n_groups += 1;
                                n_groups - 1
                            })
                        });
                        let key = key_ix[k.as_str()];
                        let (p, feature) = k.split_once('.').unwrap_or((k.as_str(), ""));
                        let n = probes.len();
                        let probe = *probes.entry(p.to_string()).or_insert(n);
                        if probe == probe_keys.len() {
                            probe_keys.push(Vec::new());
                        }
                        if !probe_keys[probe].iter().any(|(_, k)| *k == key) {
                            probe_keys[probe].push((feature.into(), key));
                        }
                        let post = Post {
                            fp: i as u32,
                            slot: slot(Some(e.layer)) as u32,
                            weight,
                            group,
                        };
                        let km = &mut by_key[key];
                        km.all.push(post);
                        if e.optional {
                            km.optional.push(post);
                        } else {
                            km.required.push(post);
                        }
                        km.banner = is_banner_feature(feature);
                        match &e.matcher {
                            Match::Exact(v) => values[key].entry(v).or_default().push(post),
                            Match::AnyOf(vs) => {
                                // A value listed twice must count once.
                                let distinct: std::collections::BTreeSet<&str> =
                                    vs.iter().map(String::as_str).collect();
                                for v in distinct {
                                    values[key].entry(v).or_default().push(post);
                                }
                            }
                            m => match km.other.iter_mut().find(|(o, _)| o == m) {
                                Some((_, posts)) => posts.push(post),
                                None => km.other.push((m.clone(), vec![post])),
                            },
                        }
                        Feat {
                            probe,
                            layer: e.layer,
                            weight,
                            group,
                            optional: e.optional,
                        }
                    })
                    .collect()
            })
            .collect();
        let mut banner_versions = Vec::new();
        for ((p, f), full) in banner_keys.iter().zip(&banner_full) {
            let key = key_ix[full.as_str()];
            let n = probes.len();
            let probe = *probes.entry(p.clone()).or_insert(n);
            if probe == probe_keys.len() {
                probe_keys.push(Vec::new());
            }
            if !probe_keys[probe].iter().any(|(_, k)| *k == key) {
                probe_keys[probe].push((f.as_str().into(), key));
            }
            banner_versions.push(key);
        }
        let key_of: HashMap<String, usize> =
            key_ix.iter().map(|(k, &i)| (k.to_string(), i)).collect();
        for (km, vals) in by_key.iter_mut().zip(values) {
            km.values = vals.into_iter().map(|(v, p)| (v.into(), p)).collect();
            km.values.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let runs = compiled
            .iter()
            .map(|feats: &Vec<Feat>| {
                let mut r: Vec<(usize, usize, usize)> = Vec::new();
                for (i, f) in feats.iter().enumerate() {
                    match r.last_mut() {
                        Some(last) if last.0 == f.probe && last.2 == i => last.2 = i + 1,
                        _ => r.push((f.probe, i, i + 1)),
                    }
                }
                r
            })
            .collect();
        let mut by_id: Vec<usize> = (0..fps.len()).collect();
        by_id.sort_by(|&a, &b| fps[a].id.cmp(&fps[b].id));
        let mut id_rank = vec![0; fps.len()];
        for (rank, i) in by_id.into_iter().enumerate() {
            id_rank[i] = rank;
        }
        Scorer {
            id_rank,
            id: SCORER_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            keys: by_key.len(),
            handshake_only: fps
                .iter()
                .map(|f| f.features.values().all(|e| e.layer == Layer::Handshake))
                .collect(),
            key_of,
            banner_versions,
            index: by_key,
            probe_keys,
            runs,
            db,
            weights,
            probes,
            compiled,
            groups: n_groups as usize,
            memo: Arc::default(),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The discrimination weight of fingerprint `fp`'s feature `key` (for
    /// explaining a verdict: which features counted).
    pub fn weight(&self, fp: usize, key: &str) -> Option<f64> {
        self.weights.get(fp)?.get(key).copied()
    }

    /// Fingerprint `fp`'s weights, in its feature order, when only the
    /// probes in `ran` ran: a header seen by many probes shares one
    /// fact's weight among those that ran (what scoring uses).
    pub fn weights_when(&self, fp: usize, ran: &std::collections::BTreeSet<&str>) -> Vec<f64> {
        let f = &self.db.fingerprints[fp];
        let mut ran_in: HashMap<u32, f64> = HashMap::new();
        for ((k, _), c) in f.features.iter().zip(&self.compiled[fp]) {
            let probe = k.split_once('.').map_or(k.as_str(), |(p, _)| p);
            if c.group != NO_GROUP && ran.contains(probe) {
                *ran_in.entry(c.group).or_default() += 1.0;
            }
        }
        self.compiled[fp]
            .iter()
            .map(|c| share(c.weight, ran_in.get(&c.group).copied()))
            .collect()
    }

    /// The features that separated candidate `a` from candidate `b` on
    /// this evidence: per feature either expects, how much more weight `b`
    /// failed to match than `a` (candidates rank by the weight they fail
    /// to match, least first), largest first; features that favoured `b`
    /// come last, with a negative `weight`. What a person asks of a
    /// verdict: why this one and not the next.
    pub fn separators(
        &self,
        features: &BTreeMap<String, String>,
        a: &str,
        b: &str,
    ) -> Vec<Separator> {
        let fps = &self.db.fingerprints;
        let (Some(ia), Some(ib)) = (
            fps.iter().position(|f| f.id == a),
            fps.iter().position(|f| f.id == b),
        ) else {
            return Vec::new();
        };
        let ran: std::collections::BTreeSet<&str> = features
            .keys()
            .filter_map(|k| k.split_once('.').map(|(p, _)| p))
            .collect();
        // Per candidate: key → (what it expects, the weight it failed to
        // match there: 0 when it matched or did not compare).
        let missed = |i: usize| -> BTreeMap<&str, (String, f64)> {
            let w = self.weights_when(i, &ran);
            fps[i]
                .features
                .iter()
                .zip(w)
                .filter_map(|((k, e), w)| {
                    let p = k.split_once('.').map_or(k.as_str(), |(p, _)| p);
                    if !ran.contains(p) {
                        return None;
                    }
                    let o = features.get(k);
                    let f = k.split_once('.').map_or("", |(_, f)| f);
                    let compared = match o {
                        None => !e.optional,
                        Some(v) => !(is_banner_feature(f) && v == "-"),
                    };
                    let miss = compared && o.is_none_or(|v| !e.matcher.matches(v));
                    Some((
                        k.as_str(),
                        (e.matcher.describe(), if miss { w } else { 0.0 }),
                    ))
                })
                .collect()
        };
        let (ma, mb) = (missed(ia), missed(ib));
        let keys: std::collections::BTreeSet<&str> = ma.keys().chain(mb.keys()).copied().collect();
        let mut out: Vec<Separator> = keys
            .into_iter()
            .filter_map(|k| {
                let (ea, wa) = ma
                    .get(k)
                    .map_or((None, 0.0), |(e, w)| (Some(e.clone()), *w));
                let (eb, wb) = mb
                    .get(k)
                    .map_or((None, 0.0), |(e, w)| (Some(e.clone()), *w));
                let weight = wb - wa;
                (weight.abs() > 1e-9).then(|| Separator {
                    feature: k.to_string(),
                    observed: features.get(k).cloned(),
                    first: ea,
                    second: eb,
                    weight: round3(weight),
                })
            })
            .collect();
        out.sort_by(|x, y| {
            y.weight
                .total_cmp(&x.weight)
                .then(x.feature.cmp(&y.feature))
        });
        out
    }

    /// The summed discrimination weight of fingerprint `fp`'s expectations
    /// for probe `probe`: how much that probe can confirm or refute it.
    pub fn probe_weight(&self, fp: usize, probe: &str) -> f64 {
        let prefix = format!("{probe}.");
        self.weights.get(fp).map_or(0.0, |w| {
            w.range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(_, v)| v)
                .sum()
        })
    }

    pub fn score(&self, features: &BTreeMap<String, String>) -> Verdict {
        self.verdict(&self.tallies(features), SLOT_ALL)
    }

    /// Score one layer's evidence only (handshake or frame), for targets
    /// behind a reverse proxy: the handshake is the proxy's, the frames
    /// after it the backend's.
    pub fn score_layer(&self, features: &BTreeMap<String, String>, layer: Layer) -> Verdict {
        self.verdict(&self.tallies(features), slot(Some(layer)))
    }

    /// Both layers, when the handshake is a reverse proxy's (a fingerprint
    /// with handshake features only): `(front, backend)`.
    pub fn layers(&self, features: &BTreeMap<String, String>) -> Option<(Verdict, Verdict)> {
        self.split(&self.tallies(features))
    }

    /// The verdict for a record: `(Some(front), backend)` behind a reverse
    /// proxy (see [`Scorer::layers`]), else `(None, verdict)`. One pass
    /// over the evidence serves all three scorings.
    pub fn verdicts(&self, features: &BTreeMap<String, String>) -> (Option<Verdict>, Verdict) {
        if features.len() > MEMO_MAX_KEYS {
            return self.verdicts_unmemoized(features);
        }
        let mut key = MemoKey::default();
        for (k, v) in features {
            let (probe, name) = k.split_once('.').unwrap_or((k, ""));
            key.push(probe, name, v);
        }
        self.memoized(&key, || self.verdicts_unmemoized(features))
    }

    /// [`Scorer::verdicts`] of the feature set `key` describes; the map
    /// itself (`features`) is built only if the memo does not know the
    /// set. The scanner writes the key straight from its observations.
    pub fn verdicts_keyed(
        &self,
        key: &MemoKey,
        features: impl FnOnce() -> BTreeMap<String, String>,
    ) -> (Option<Verdict>, Verdict) {
        self.memoized(key, || self.verdicts_unmemoized(&features()))
    }

    fn memoized(
        &self,
        key: &MemoKey,
        score: impl FnOnce() -> (Option<Verdict>, Verdict),
    ) -> (Option<Verdict>, Verdict) {
        if key.features > MEMO_MAX_KEYS {
            return score();
        }
        if let Some(v) = self.memo.lock().expect("memo lock").get(&key.bytes[..]) {
            return v.clone();
        }
        let v = score();
        let mut memo = self.memo.lock().expect("memo lock");
        if memo.len() >= MEMO_CAP {
            memo.clear();
        }
        memo.insert(key.bytes.as_slice().into(), v.clone());
        v
    }

    /// [`Scorer::verdicts`] without the memo.
    fn verdicts_unmemoized(
        &self,
        features: &BTreeMap<String, String>,
    ) -> (Option<Verdict>, Verdict) {
        // A scan scores one record per target on many tasks: each thread
        // keeps its last evidence buffer, and with it the compared part of
        // the tallies, which depends only on which probes ran (the same
        // for every record of a discovery survey, and for most of a full
        // one). Fresh evidence per record made scoring 15% of --discover.
        let mut ev = SPARE
            .with(|s| s.borrow_mut().take())
            .filter(|e| e.scorer == self.id)
            .map(|mut e| {
                e.clear();
                e
            })
            .unwrap_or_else(|| self.evidence());
        self.observe_map(&mut ev, features);
        let v = self.verdicts_of(&mut ev);
        SPARE.with(|s| *s.borrow_mut() = Some(ev));
        v
    }

    /// [`Scorer::verdicts`] of evidence gathered with [`Scorer::observe`].
    pub fn verdicts_of(&self, ev: &mut Evidence) -> (Option<Verdict>, Verdict) {
        self.tally(ev, false);
        let t = &ev.tallies;
        let (front, v) = self.layered_verdicts(t);
        let mut v = self.behind_front(ev, front.as_ref(), v);
        v.version = self.version(ev, &v);
        (front, v)
    }

    /// The backend's verdict `v` (by its frames) behind `front`, if any.
    /// Behind a named front, the frames (all the backend's own) name the
    /// backend; when they alone name nothing (the safe set has few frame
    /// probes), the whole record does, the front's keys left out. A proxy
    /// the DB cannot single out leaves no keys to leave out: the whole
    /// record then, as unsplit.
    fn behind_front(&self, ev: &Evidence, front: Option<&Verdict>, v: Verdict) -> Verdict {
        let Some(f) = front else { return v };
        if v.implementation != "unknown" {
            return v;
        }
        match self
            .db
            .fingerprints
            .iter()
            .position(|x| x.id == f.implementation)
        {
            Some(i) => self.verdict(&self.without_front(ev, i), SLOT_ALL),
            None => self.verdict(&ev.tallies, SLOT_ALL),
        }
    }

    /// The tallies of `ev` with every key that the front's fingerprint
    /// (`front`) holds left out, for every fingerprint: what the server
    /// behind a named proxy is scored on. Most of a proxied head is the
    /// backend's, passed through, and is kept; what the front answers or
    /// rewrites itself (its banner, its own replies to requests it does
    /// not forward) would count against every backend alike, and drown it.
    fn without_front(&self, ev: &Evidence, front: usize) -> Vec<[Tally; 3]> {
        let mut t = ev.tallies.clone();
        let sub = |t: &mut [[Tally; 3]], posts: &[Post], compared: bool| {
            for p in posts {
                if let Some(t) = t.get_mut(p.fp as usize) {
                    let w = p.weight_in(&ev.div);
                    for s in [SLOT_ALL, p.slot as usize] {
                        if compared {
                            t[s].compared -= 1;
                            t[s].compared_w -= w;
                        } else {
                            t[s].matched -= 1;
                            t[s].matched_w -= w;
                        }
                    }
                }
            }
        };
        for (probe, keys) in self.probe_keys.iter().enumerate() {
            if !ev.ran.get(probe).copied().unwrap_or(false) {
                continue;
            }
            for &(_, k) in keys {
                let Some(km) = self.index.get(k) else {
                    continue;
                };
                if !km.all.iter().any(|p| p.fp as usize == front) {
                    continue;
                }
                let v = ev
                    .observed
                    .get(k)
                    .filter(|&&span| span != NONE)
                    .and_then(|&(a, b)| ev.values.get(a as usize..b as usize));
                if km.banner && v == Some("-") {
                    // Compared with no one already.
                    continue;
                }
                // Optional expectations were compared only if observed.
                sub(
                    &mut t,
                    if v.is_some() { &km.all } else { &km.required },
                    true,
                );
                for posts in v.into_iter().flat_map(|v| km.accepting(v)) {
                    sub(&mut t, posts, false);
                }
            }
        }
        t
    }

    /// The verdicts of tallies, by how the layers relate (without the
    /// version estimate, which reads the evidence's values).
    fn layered_verdicts(&self, t: &[[Tally; 3]]) -> (Option<Verdict>, Verdict) {
        match self.layered(t) {
            Layered::Proxy(pair) => (Some(pair.0), pair.1),
            Layered::Disagree(layers) => {
                let mut v = self.verdict(t, SLOT_ALL);
                v.layers = Some(layers);
                if let Some(b) = &mut v.basis {
                    b.layers_disagree = true;
                    v.confidence = round3(calibrate::confidence(b));
                }
                (None, v)
            }
            Layered::Neither => (None, self.verdict(t, SLOT_ALL)),
        }
    }

    /// The version estimate of a verdict: of the named implementation, or
    /// of the library's best candidate when only the library is named.
    fn version(&self, ev: &Evidence, v: &Verdict) -> Option<Estimate> {
        let lib = v.library.as_deref()?;
        let fps = &self.db.fingerprints;
        let fp = fps.iter().find(|f| f.id == v.implementation).or_else(|| {
            v.candidates
                .iter()
                .filter_map(|c| fps.iter().find(|f| f.id == c.id))
                .find(|f| f.library == lib)
        })?;
        let value = |k: usize| -> Option<&str> {
            let (a, b) = *ev.observed.get(k)?;
            ((a, b) != NONE).then(|| &ev.values[a as usize..b as usize])
        };
        version::estimate_with(
            fp,
            self.banner_versions.iter().filter_map(|&k| value(k)),
            |k| self.key_of.get(k).and_then(|&k| value(k)),
        )
    }

    /// Empty evidence laid out for this scorer.
    pub fn evidence(&self) -> Evidence {
        let n = self.db.fingerprints.len();
        Evidence {
            scorer: self.id,
            ran: vec![false; self.probes.len()],
            observed: vec![NONE; self.keys],
            values: String::new(),
            seen: Vec::new(),
            tallies: Vec::with_capacity(n),
            compared_for: Vec::new(),
            compared: Vec::new(),
            div: Vec::new(),
        }
    }

    /// The index of a probe the DB expects features of (`None`: no
    /// fingerprint expects anything of it, so its features do not count).
    pub fn probe_index(&self, probe: &str) -> Option<usize> {
        self.probes.get(probe).copied()
    }

    /// Add one feature of a record: `feature` of probe `probe` (from
    /// [`Scorer::probe_index`]) was `value`. The same as the feature map's
    /// `"<probe>.<feature>" = value`.
    pub fn observe(&self, ev: &mut Evidence, probe: usize, feature: &str, value: &str) {
        assert_eq!(ev.scorer, self.id, "evidence laid out for another scorer");
        // Every connection probe yields `<id>.status`, a URL probe
        // `<id>.url_match`: any feature means the probe ran.
        ev.ran[probe] = true;
        let Some(&(_, key)) = self.probe_keys[probe].iter().find(|(f, _)| **f == *feature) else {
            return;
        };
        if ev.observed[key] == NONE {
            ev.seen.push(key as u32);
        }
        let a = ev.values.len();
        ev.values.push_str(value);
        ev.observed[key] = (a as u32, ev.values.len() as u32);
    }

    /// [`Scorer::observe`] every feature of a feature map.
    pub fn observe_map(&self, ev: &mut Evidence, features: &BTreeMap<String, String>) {
        for (k, v) in features {
            if let Some((p, f)) = k.split_once('.')
                && let Some(p) = self.probe_index(p)
            {
                self.observe(ev, p, f, v);
            }
        }
    }

    fn split(&self, t: &[[Tally; 3]]) -> Option<(Verdict, Verdict)> {
        match self.layered(t) {
            Layered::Proxy(pair) => Some(*pair),
            _ => None,
        }
    }

    /// How the two layers relate: a known proxy in front (split the
    /// verdict), no proxy but head and frames pointing to different
    /// libraries (say so), or neither.
    fn layered(&self, t: &[[Tally; 3]]) -> Layered {
        // Only the front's name decides whether to split, and most records
        // do not: its confidence (exponentials over the whole DB) is
        // computed only when it is used.
        let ranked = self.ranked(t, slot(Some(Layer::Handshake)));
        // A proxy that passes the backend's head through nearly verbatim
        // leaves the backend's own fingerprint the best fit of the head by
        // likelihood (it expects more of it). The front is still the
        // proxy when a proxy fits the head well and better, as a share of
        // what each compared, than any server's own fingerprint.
        let proxy = ranked
            .iter()
            .find(|s| self.handshake_only[s.0] && s.2.is_finite());
        let server = ranked
            .iter()
            .find(|s| !self.handshake_only[s.0] && s.2.is_finite());
        if let Some(p) = proxy
            && p.1 >= MIN_SCORE
            && server.is_none_or(|q| p.1 > q.1 && q.3.compared_w - q.3.matched_w >= MIN_FRONT_MISS)
        {
            let fronts = self.by_positive_evidence(
                ranked
                    .iter()
                    .filter(|s| self.handshake_only[s.0])
                    .copied()
                    .collect(),
            );
            let pick = self.pick(&fronts);
            return Layered::Proxy(Box::new((
                self.verdict_of(&fronts, pick),
                self.verdict(t, slot(Some(Layer::Frame))),
            )));
        }
        let pick = self.pick(&ranked);
        let front = self.picked_name(&ranked, pick);
        if front == "unknown" {
            return Layered::Neither;
        }
        // A handshake-only fingerprint (a reverse proxy) names the front
        // even when the frames alone cannot name the backend.
        if let Pick::One = pick
            && self.handshake_only[ranked[0].0]
        {
            return Layered::Proxy(Box::new((
                self.verdict_of(&ranked, pick),
                self.verdict(t, slot(Some(Layer::Frame))),
            )));
        }
        // Only a proxy fingerprint splits the verdict: when a server's own
        // fingerprint is missing, its handshake and its frames may each
        // resemble a different neighbour, and splitting then would turn two
        // weak resemblances into a confident wrong backend (leave-one-out
        // on the lab showed exactly that). Two layers that each name a
        // different library are still worth saying: a proxy or gateway the
        // DB does not know may own the head.
        let fps = &self.db.fingerprints;
        let head_lib = &fps[ranked[0].0].library;
        let framed = self.ranked(t, slot(Some(Layer::Frame)));
        let frame_pick = self.pick(&framed);
        match frame_pick {
            Pick::One | Pick::Library(_) if fps[framed[0].0].library != *head_lib => {
                Layered::Disagree(Layers {
                    head: front.to_string(),
                    frames: self.picked_name(&framed, frame_pick).to_string(),
                })
            }
            _ => Layered::Neither,
        }
    }

    /// Per fingerprint (DB order), the log-likelihood of the evidence so
    /// far (mismatched weight × ln ε) and the weight compared: what the
    /// adaptive planner ranks candidates by.
    pub fn log_likelihoods(&self, features: &BTreeMap<String, String>) -> Vec<(f64, f64)> {
        self.log_likelihoods_in(features, None)
    }

    /// [`Scorer::log_likelihoods`] on one layer's evidence only (`None`:
    /// all of it): behind a named proxy the backend is planned on frames.
    pub fn log_likelihoods_in(
        &self,
        features: &BTreeMap<String, String>,
        layer: Option<Layer>,
    ) -> Vec<(f64, f64)> {
        let s = slot(layer);
        self.tallies(features)
            .iter()
            .map(|t| {
                let t = t[s];
                ((t.compared_w - t.matched_w) * MISMATCH_LN, t.compared_w)
            })
            .collect()
    }

    /// Per fingerprint and slot, the compared and matched weights.
    fn tallies(&self, features: &BTreeMap<String, String>) -> Vec<[Tally; 3]> {
        self.tallies_of(features, false)
    }

    /// Per fingerprint, how many expectations were compared and matched
    /// (all layers), for tests elsewhere in the crate.
    #[cfg(test)]
    pub(crate) fn counts_for_test(
        &self,
        features: &BTreeMap<String, String>,
    ) -> Vec<(usize, usize)> {
        self.tallies(features)
            .iter()
            .map(|t| (t[SLOT_ALL].compared, t[SLOT_ALL].matched))
            .collect()
    }

    /// Score only the expectations whose feature was observed, for thin
    /// evidence that covers part of a probe (passive capture analysis: a
    /// capture shows a handshake's headers but no reaction to a probe). A
    /// missing feature is then unknown rather than a mismatch, and the
    /// usual evidence floor still applies, so a single header never names
    /// an implementation.
    pub fn score_observed(
        &self,
        features: &BTreeMap<String, String>,
        layer: Option<Layer>,
    ) -> Verdict {
        self.verdict(&self.tallies_of(features, true), slot(layer))
    }

    fn tallies_of(
        &self,
        features: &BTreeMap<String, String>,
        only_observed: bool,
    ) -> Vec<[Tally; 3]> {
        let mut ev = self.evidence();
        self.observe_map(&mut ev, features);
        self.tally(&mut ev, only_observed);
        ev.tallies
    }

    /// Fill `ev.tallies`. Expectations of probes that did not run are
    /// skipped; of probes that ran, a missing feature is a mismatch
    /// (expected a close, got none), unless `only_observed`.
    ///
    /// Each fingerprint's weights are summed in key order, as a plain loop
    /// over its features would (floating-point sums depend on the order,
    /// and a tie between candidates must stay a tie): compared weights by
    /// that loop, matched weights key by key over the observed keys in key
    /// order, each key adding to the fingerprints that accept its value.
    fn tally(&self, ev: &mut Evidence, only_observed: bool) {
        assert_eq!(ev.scorer, self.id, "evidence laid out for another scorer");
        let n = self.db.fingerprints.len();
        ev.seen.sort_unstable();
        // The compared part and the group shares depend only on which probes
        // ran: most records of a survey ran the same ones.
        if ev.compared_for != ev.ran {
            self.compared(&ev.ran, &mut ev.compared, &mut ev.div);
            ev.compared_for.clone_from(&ev.ran);
        }
        if only_observed {
            ev.tallies.clear();
            ev.tallies.resize(n, [Tally::default(); 3]);
            for &k in &ev.seen {
                for p in &self.index[k as usize].all {
                    let t = &mut ev.tallies[p.fp as usize];
                    let w = p.weight_in(&ev.div);
                    for s in [SLOT_ALL, p.slot as usize] {
                        t[s].compared += 1;
                        t[s].compared_w += w;
                    }
                }
            }
        } else {
            ev.tallies.clone_from(&ev.compared);
        }
        let Evidence {
            seen,
            tallies,
            observed,
            values,
            div,
            ..
        } = ev;
        let div = &div[..];
        let add = |tallies: &mut [[Tally; 3]], posts: &[Post]| {
            for p in posts {
                let t = &mut tallies[p.fp as usize];
                let w = p.weight_in(div);
                for s in [SLOT_ALL, p.slot as usize] {
                    t[s].matched += 1;
                    t[s].matched_w += w;
                }
            }
        };
        for &k in seen.iter() {
            let (a, b) = observed[k as usize];
            let v = &values[a as usize..b as usize];
            let km = &self.index[k as usize];
            if !only_observed {
                // Optional expectations count as compared once observed
                // (the compared weights left them out).
                for p in &km.optional {
                    let t = &mut tallies[p.fp as usize];
                    let w = p.weight_in(div);
                    for s in [SLOT_ALL, p.slot as usize] {
                        t[s].compared += 1;
                        t[s].compared_w += w;
                    }
                }
            }
            if km.banner && v == "-" {
                // An absent banner is not compared (a configuration may
                // have removed it): taken back from every fingerprint
                // expecting the key.
                for p in &km.all {
                    let t = &mut tallies[p.fp as usize];
                    let w = p.weight_in(div);
                    for s in [SLOT_ALL, p.slot as usize] {
                        t[s].compared -= 1;
                        t[s].compared_w -= w;
                    }
                }
                continue;
            }
            for posts in km.accepting(v) {
                add(tallies, posts);
            }
        }
    }

    /// The compared weights and counts when the probes in `ran` ran, and
    /// per evidence group how many of its members ran (`div`).
    fn compared(&self, ran: &[bool], out: &mut Vec<[Tally; 3]>, div: &mut Vec<f64>) {
        div.clear();
        div.resize(self.groups, 0.0);
        for (feats, runs) in self.compiled.iter().zip(&self.runs) {
            for f in runs
                .iter()
                .filter(|(p, ..)| ran[*p])
                .flat_map(|&(_, a, b)| &feats[a..b])
            {
                if let Some(n) = div.get_mut(f.group as usize) {
                    *n += 1.0;
                }
            }
        }
        out.clear();
        out.extend(self.compiled.iter().zip(&self.runs).map(|(feats, runs)| {
            let mut t = [Tally::default(); 3];
            let ran_feats = runs
                .iter()
                .filter(|(p, ..)| ran[*p])
                .flat_map(|&(_, a, b)| &feats[a..b])
                .filter(|f| !f.optional);
            for f in ran_feats {
                let w = shared_weight(f.weight, f.group, div);
                for s in [SLOT_ALL, slot(Some(f.layer))] {
                    t[s].compared += 1;
                    t[s].compared_w += w;
                }
            }
            t
        }));
    }

    fn verdict(&self, tallies: &[[Tally; 3]], slot: usize) -> Verdict {
        let ranked = self.ranked(tallies, slot);
        let pick = self.pick(&ranked);
        self.verdict_of(&ranked, pick)
    }

    /// Every fingerprint scored on one slot, best first.
    fn ranked(&self, tallies: &[[Tally; 3]], slot: usize) -> Vec<Scored> {
        let mut scored: Vec<Scored> = tallies
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let t = t[slot];
                // A reverse proxy's fingerprint (head only) cannot explain
                // the frames: it competes on the head alone, where the
                // front is named ([`Scorer::layered`]), never as the whole
                // server (comparing less, it would mismatch less weight
                // than a full fingerprint that fits every layer well).
                let enough =
                    t.compared_w >= MIN_EVIDENCE && (slot == SLOT_HEAD || !self.handshake_only[i]);
                let score = if enough {
                    t.matched_w / t.compared_w
                } else {
                    0.0
                };
                // Log-likelihood: each mismatch of weight w costs w·ln(ε).
                // Without enough evidence a candidate is not in the running
                // at all (a proxy's handshake-only fingerprint, scored on
                // frames, must not tie with everything).
                let ll = if enough {
                    (t.compared_w - t.matched_w) * MISMATCH_LN
                } else {
                    f64::NEG_INFINITY
                };
                (i, round3(score), ll, t)
            })
            .collect();
        // Ties go to the smaller id (ranks stand for the ids, compared as
        // strings once, when the scorer was built).
        scored.sort_by(|a, b| {
            b.2.total_cmp(&a.2)
                .then_with(|| b.1.total_cmp(&a.1))
                .then_with(|| self.id_rank[a.0].cmp(&self.id_rank[b.0]))
        });
        scored
    }

    /// What the ranking names: nothing, one fingerprint, or the library of
    /// the `n` candidates the evidence cannot tell apart.
    fn pick(&self, scored: &[Scored]) -> Pick {
        let fps = &self.db.fingerprints;
        let Some(&(best, best_score, best_ll, _)) = scored.first() else {
            return Pick::Empty;
        };
        if !best_ll.is_finite() {
            return Pick::NoEvidence;
        }
        // Candidates the evidence cannot tell from the best.
        let tied = scored.iter().take_while(|s| best_ll - s.2 < TIE_LN).count();
        if best_score < MIN_SCORE {
            Pick::TooFar
        } else if tied == 1 {
            // A framework over a library another fingerprint of the DB
            // also stands for (koa-websocket over ws) is named only when
            // the evidence separates them clearly (by more than
            // [`FRAMEWORK_LN`]); otherwise the library is.
            let near = scored
                .iter()
                .take_while(|s| s.2.is_finite() && best_ll - s.2 < FRAMEWORK_LN)
                .count();
            if near > 1
                && scored[..near]
                    .iter()
                    .all(|s| fps[s.0].library == fps[best].library)
            {
                Pick::Library(near)
            } else {
                Pick::One
            }
        } else if scored[..tied]
            .iter()
            .all(|s| fps[s.0].library == fps[best].library)
        {
            // Wire-identical implementations of one library (a framework
            // that adds nothing visible): name the library.
            Pick::Library(tied)
        } else {
            Pick::Ambiguous
        }
    }

    /// Reverse proxies re-ranked by what they predicted and the head
    /// showed, not only by what they got wrong. A proxy fingerprint holds
    /// only what the proxy does the same in front of every backend, so two
    /// of them often both fit a head without a mismatch: Traefik, which
    /// sends no `Server` header of its own (an absent banner is never
    /// compared), fits every head Caddy sends through. The one whose own
    /// expectations the head met more (Caddy's `Server: Caddy` on every
    /// upgrade) is the likelier: each unit of matched weight the other did
    /// not predict counts in its favour what a unit of mismatched weight
    /// costs ([`POSITIVE_LN`]). Held out on the lab corpus this named the
    /// right front for 180 pair scans instead of 158, the wrong one for 52
    /// instead of 74, and changed no backend and no direct server.
    fn by_positive_evidence(&self, mut fronts: Vec<Scored>) -> Vec<Scored> {
        let most = fronts
            .iter()
            .filter(|s| s.2.is_finite())
            .map(|s| s.3.matched_w)
            .fold(0.0, f64::max);
        for s in &mut fronts {
            if s.2.is_finite() {
                s.2 -= POSITIVE_LN * (most - s.3.matched_w);
            }
        }
        fronts.sort_by(|a, b| {
            b.2.total_cmp(&a.2)
                .then_with(|| b.1.total_cmp(&a.1))
                .then_with(|| self.id_rank[a.0].cmp(&self.id_rank[b.0]))
        });
        fronts
    }

    /// The name a pick gives: `implementation` of its verdict.
    fn picked_name<'a>(&'a self, scored: &[Scored], pick: Pick) -> &'a str {
        let fps = &self.db.fingerprints;
        match pick {
            Pick::One => &fps[scored[0].0].id,
            Pick::Library(_) => &fps[scored[0].0].library,
            _ => "unknown",
        }
    }

    fn verdict_of(&self, scored: &[Scored], pick: Pick) -> Verdict {
        let fps = &self.db.fingerprints;
        let candidates = || -> Vec<Candidate> {
            scored
                .iter()
                .take(TOP_K)
                .map(|&(i, score, ll, t)| Candidate {
                    id: fps[i].id.clone(),
                    name: fps[i].name.clone(),
                    score,
                    // Never below 0 (nor -0.0) by float error.
                    mismatch: ll
                        .is_finite()
                        .then(|| round3((t.compared_w - t.matched_w).max(0.0)) + 0.0),
                    compared: t.compared,
                    matched: t.matched,
                })
                .collect()
        };
        let (best, best_score, best_ll) = match (pick, scored.first()) {
            (Pick::Empty, _) | (_, None) => return Verdict::unknown(),
            (Pick::NoEvidence, _) => {
                let mut v = Verdict::unknown();
                v.candidates = candidates();
                return v;
            }
            (_, Some(&(best, score, ll, _))) => (best, score, ll),
        };
        let best_lib = fps[best].library.as_str();
        // Posterior over the DB with a uniform prior.
        let norm: f64 = scored.iter().map(|s| (s.2 - best_ll).exp()).sum();
        let posterior = |ll: f64| (ll - best_ll).exp() / norm;
        let t = scored[0].3;
        let library_gap = scored
            .iter()
            .find(|s| fps[s.0].library != best_lib)
            .map_or(GAP_CAP, |s| (best_ll - s.2).min(GAP_CAP));
        let basis = |closed: f64| Basis {
            score: best_score,
            closed,
            compared_w: t.compared_w,
            matched_w: t.matched_w,
            library_gap,
            layers_disagree: false,
        };
        let (implementation, library, confidence, basis) = match pick {
            Pick::TooFar => ("unknown".to_string(), None, round3(1.0 - best_score), None),
            Pick::One => {
                let b = basis(posterior(best_ll) * best_score);
                (
                    fps[best].id.clone(),
                    Some(best_lib.to_string()),
                    round3(calibrate::confidence(&b)),
                    Some(b),
                )
            }
            Pick::Library(tied) => {
                let p: f64 = scored[..tied].iter().map(|s| posterior(s.2)).sum();
                let b = basis(p * best_score);
                (
                    best_lib.to_string(),
                    Some(best_lib.to_string()),
                    round3(calibrate::confidence(&b)),
                    Some(b),
                )
            }
            _ => (
                "unknown".to_string(),
                None,
                round3(1.0 - posterior(best_ll)),
                None,
            ),
        };
        Verdict {
            implementation,
            library,
            confidence,
            candidates: candidates(),
            version: None,
            layers: None,
            basis,
        }
    }
}

/// (fingerprint, rounded score, log-likelihood, tally)
type Scored = (usize, f64, f64, Tally);

/// What a ranking names (see [`Scorer::pick`]).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pick {
    /// An empty DB.
    Empty,
    /// No candidate has enough evidence.
    NoEvidence,
    /// The best is below [`MIN_SCORE`].
    TooFar,
    One,
    /// The library of the first `n`.
    Library(usize),
    /// Tied candidates of different libraries.
    Ambiguous,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::Fingerprint;
    use crate::probe::ProbeSet;

    fn fp(id: &str, feats: &str) -> Fingerprint {
        let text = format!(
            "id = \"{id}\"\nname = \"{id}\"\nlibrary = \"{id}\"\nlanguage = \"x\"\n[provenance]\ndate = \"d\"\nprobe_set = \"p\"\n[features]\n{feats}"
        );
        Fingerprint::parse(&text, id, &ProbeSet::builtin()).unwrap()
    }

    fn obs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn db() -> Arc<Db> {
        Arc::new(Db {
            fingerprints: vec![
                fp(
                    "a",
                    "\"309.status\" = 101\n\"104.close_code\" = 1002\n\"104.close_reason\" = \"A says no\"\n\"105.close_reason\" = \"A5\"\n",
                ),
                fp(
                    "b",
                    "\"309.status\" = 101\n\"104.close_code\" = 1002\n\"104.close_reason\" = \"B says no\"\n\"105.close_reason\" = \"B5\"\n",
                ),
                fp(
                    "c",
                    "\"309.status\" = 101\n\"104.close_code\" = 1007\n\"104.close_reason\" = \"\"\n\"105.close_reason\" = \"C5\"\n",
                ),
            ],
            ..Db::default()
        })
    }

    /// Two reverse proxies fit the head without a mismatch, but only one
    /// predicted its `Server` banner: that one is the front (it used to be
    /// a tie, and the front `unknown`).
    #[test]
    fn the_proxy_whose_expectations_the_head_met_is_the_front() {
        // What both proxies do alike (answer some requests themselves),
        // enough to be compared.
        let rejected = [303, 304, 305, 306, 307, 308, 400, 401, 402, 403];
        let heads = format!(
            "\"300.status\" = 101\n\"301.status\" = 101\n\"302.status\" = 101\n{}",
            rejected
                .iter()
                .map(|p| format!("\"{p}.status\" = 400\n"))
                .collect::<String>()
        );
        let banner = |v: &str| {
            (300..303)
                .map(|p| format!("\"{p}.h.server\" = \"{v}\"\n"))
                .collect::<String>()
        };
        let server = format!(
            "\"300.status\" = 101\n\"301.status\" = 101\n\"302.status\" = 101\n{}{}\"104.close_code\" = 1002\n",
            rejected
                .iter()
                .map(|p| format!("\"{p}.status\" = 101\n"))
                .collect::<String>(),
            banner("Srv")
        );
        let db = Arc::new(Db {
            fingerprints: vec![
                fp("px-loud", &format!("{heads}{}", banner("Loud"))),
                fp("px-quiet", &heads),
                fp("srv", &server),
            ],
            ..Db::default()
        });
        let s = Scorer::new(db);
        let mut seen = obs(&[
            ("300.status", "101"),
            ("301.status", "101"),
            ("302.status", "101"),
            ("104.status", "101"),
            ("104.close_code", "1002"),
        ]);
        for p in rejected {
            seen.insert(format!("{p}.status"), "400".into());
        }
        for p in 300..303 {
            seen.insert(format!("{p}.h.server"), "Loud".into());
        }
        // (The backend is scored on the frames alone: one feature here,
        // too little to name it.)
        let (front, _) = s.verdicts(&seen);
        let front = front.expect("a front");
        assert_eq!(front.implementation, "px-loud", "{front:?}");
    }

    #[test]
    fn remembered_verdicts_are_the_scored_ones_and_the_memo_is_bounded() {
        let s = Scorer::new(db());
        let maps: Vec<_> = (0..MEMO_CAP + 10)
            .map(|i| {
                let reason = ["A says no", "B says no", "zzz"][i % 3];
                let mut m = obs(&[
                    ("309.status", "101"),
                    ("104.status", "101"),
                    ("104.close_code", "1002"),
                    ("104.close_reason", reason),
                    ("105.status", "101"),
                ]);
                m.insert("105.close_reason".into(), format!("x{i}"));
                m
            })
            .collect();
        for m in &maps {
            assert_eq!(s.verdicts(m), s.verdicts_unmemoized(m));
            // Asked again: answered from the memo, the same answer.
            assert_eq!(s.verdicts(m), s.verdicts_unmemoized(m));
            assert!(s.memo.lock().unwrap().len() <= MEMO_CAP);
        }
    }

    #[test]
    fn a_verdict_carries_the_version_its_evidence_fits() {
        let versioned = Fingerprint::parse(
            r#"
id = "w"
name = "w"
library = "pypi:w"
language = "Python"
versions = ["w 10.4", "w 12.0", "w 14.2"]
[provenance]
date = "d"
probe_set = "p"
[features]
"309.status" = 101
"104.close_code" = 1002
"104.close_reason" = { any_of = ["old", "new"] }
"105.close_reason" = "W5"
[by_version."104.close_reason"]
"w 10.4" = "old"
"w 12.0" = "old"
"w 14.2" = "new"
"#,
            "w.toml",
            &ProbeSet::builtin(),
        )
        .unwrap();
        let mut fps = db().fingerprints.clone();
        fps.push(versioned);
        let s = Scorer::new(Arc::new(Db {
            fingerprints: fps,
            ..Db::default()
        }));
        let base = [
            ("309.status", "101"),
            ("104.status", "101"),
            ("104.close_code", "1002"),
            ("105.status", "101"),
            ("105.close_reason", "W5"),
        ];
        let mut m = obs(&base);
        m.insert("104.close_reason".into(), "old".into());
        let (_, v) = s.verdicts(&m);
        assert_eq!(v.implementation, "w");
        let e = v.version.expect("a version estimate");
        assert_eq!(
            (e.closest.as_str(), e.before.as_deref()),
            ("w 12.0", Some("w 14.2"))
        );
        // The same estimate from the evidence path as from the map.
        m.insert("104.close_reason".into(), "new".into());
        let (_, v) = s.verdicts(&m);
        let e = v.version.expect("a version estimate");
        assert_eq!(
            (e.closest.as_str(), e.after.as_deref()),
            ("w 14.2", Some("w 12.0"))
        );
        // A banner naming the product wins, and never decides identity.
        m.insert("309.h.server.version".into(), "Python/3.11 w/15.1".into());
        let (_, v2) = s.verdicts(&m);
        assert_eq!(v2.implementation, "w");
        assert_eq!(v2.confidence, v.confidence);
        let e = v2.version.expect("a version estimate");
        assert!(e.from_banner && e.contains("w 15.1"));
        // No verdict, no version.
        let (_, u) = s.verdicts(&obs(&[("309.status", "101")]));
        assert_eq!((u.implementation.as_str(), u.version), ("unknown", None));
    }

    #[test]
    fn discriminating_features_decide() {
        let db = db();
        let s = Scorer::new(db.clone());
        let v = s.score(&obs(&[
            ("309.status", "101"),
            ("104.status", "101"),
            ("104.close_code", "1002"),
            ("104.close_reason", "B says no"),
            ("105.status", "101"),
            ("105.close_reason", "B5"),
        ]));
        assert_eq!(v.implementation, "b", "{v:?}");
        // Sure among the DB's three, but on 2.55 units of discriminating
        // weight: the calibrated confidence says how little that is.
        let b = v.basis.expect("a named verdict has a basis");
        assert!(b.closed > 0.99, "{v:?}");
        assert_eq!(v.confidence, round3(calibrate::confidence(&b)));
        assert!(v.confidence > 0.5 && v.confidence < 0.9, "{v:?}");
        assert_eq!(v.candidates[0].matched, 4);
        // The same evidence without probe 105 is too little to name anyone.
        let v = s.score(&obs(&[
            ("309.status", "101"),
            ("104.status", "101"),
            ("104.close_code", "1002"),
            ("104.close_reason", "B says no"),
        ]));
        assert_eq!(v.implementation, "unknown");
    }

    #[test]
    fn nothing_matching_is_unknown_not_a_guess() {
        let db = db();
        let s = Scorer::new(db.clone());
        let v = s.score(&obs(&[
            ("309.status", "101"),
            ("104.status", "101"),
            ("104.close_code", "1011"),
            ("104.close_reason", "zzz"),
            ("105.status", "101"),
            ("105.close_reason", "zzz"),
        ]));
        assert_eq!(v.implementation, "unknown");
        // A probe that ran but lacks an expected feature is a mismatch.
        let v = s.score(&obs(&[
            ("309.status", "101"),
            ("104.status", "101"),
            ("105.status", "101"),
        ]));
        assert_eq!(v.implementation, "unknown");
        assert!(v.candidates.iter().all(|c| c.matched < c.compared));
        let v = s.score(&obs(&[("309.status", "refused")]));
        assert_eq!(v.implementation, "unknown");
    }

    #[test]
    fn a_header_seen_by_many_probes_is_one_fact_and_an_absent_banner_says_nothing() {
        let banner = |id: &str, server: &str, reason: &str| {
            let mut f = String::new();
            for p in ["1000", "1001", "1005", "1006"] {
                f.push_str(&format!(
                    "\"{p}.status\" = 101\n\"{p}.h.server\" = \"{server}\"\n"
                ));
            }
            for p in ["102", "103", "104", "105"] {
                f.push_str(&format!(
                    "\"{p}.close_code\" = 1002\n\"{p}.close_reason\" = \"{reason}\"\n"
                ));
            }
            fp(id, &f)
        };
        let db = Arc::new(Db {
            fingerprints: vec![
                banner("lib", "lib", "same"),
                banner("framework", "-", "same"),
                banner("other", "other", "different"),
            ],
            ..Db::default()
        });
        let s = Scorer::new(db);
        // Four probes saw the header: each weighs a quarter of one feature.
        let one = s.weight(0, "1000.h.server").unwrap();
        assert!((one - 0.25).abs() < 1e-9, "{one}");
        let obs_with = |server: &str| {
            let mut m = BTreeMap::new();
            for p in ["102", "103", "104", "105"] {
                m.insert(format!("{p}.status"), "101".to_string());
                m.insert(format!("{p}.close_code"), "1002".into());
                m.insert(format!("{p}.close_reason"), "same".into());
            }
            for p in ["1000", "1001", "1005", "1006"] {
                m.insert(format!("{p}.status"), "101".into());
                m.insert(format!("{p}.h.server"), server.into());
            }
            m
        };
        // The library with its banner removed: not the framework that
        // sends none; the evidence cannot choose between the two.
        let v = s.score(&obs_with("-"));
        let lib = v.candidates.iter().find(|c| c.id == "lib").unwrap();
        assert_eq!(
            lib.compared, lib.matched,
            "an absent banner is not a mismatch: {v:?}"
        );
        assert_eq!(v.implementation, "unknown", "{v:?}");
        let fw = v.candidates.iter().find(|c| c.id == "framework").unwrap();
        assert!(lib.score > 0.9 && lib.score == fw.score, "{v:?}");
        // Its banner present: the library.
        assert_eq!(s.score(&obs_with("lib")).implementation, "lib");
        // However many of those probes ran, the header weighs one fact: a
        // short scan that saw it once counts it as fully as the scan that
        // saw it four times (it used to count a quarter).
        let status = s.weight(0, "1000.status").unwrap();
        let compared = |header_probes: &[&str]| {
            let mut m = obs_with("lib");
            m.retain(|k, _| {
                let p = k.split_once('.').unwrap().0;
                !["1000", "1001", "1005", "1006"].contains(&p) || header_probes.contains(&p)
            });
            s.tallies(&m)[0][SLOT_ALL].compared_w
        };
        let frames_only = compared(&[]);
        for probes in [
            &["1000"][..],
            &["1000", "1005"],
            &["1000", "1001", "1005", "1006"],
        ] {
            let header = compared(probes) - frames_only - probes.len() as f64 * status;
            assert!((header - 1.0).abs() < 1e-9, "{probes:?}: {header}");
        }
    }

    /// Why `a` and not `b`: the features where `b` failed to match more
    /// weight than `a`, most first; the shared ones are not listed, one
    /// that favoured `b` comes last with a negative weight, and the
    /// separations add up to the candidates' mismatch gap.
    #[test]
    fn separators_say_what_set_the_winner_apart() {
        let s = Scorer::new(db());
        let seen = obs(&[
            ("309.status", "101"),
            ("104.status", "101"),
            ("104.close_code", "1002"),
            ("104.close_reason", "A says no"),
            ("105.status", "101"),
            ("105.close_reason", "B5"),
        ]);
        let v = s.score(&seen);
        assert_eq!(v.candidates[0].id, "a", "{v:?}");
        let why = s.separators(&seen, "a", "b");
        let names: Vec<&str> = why.iter().map(|w| w.feature.as_str()).collect();
        assert_eq!(names, ["104.close_reason", "105.close_reason"], "{why:?}");
        let first = &why[0];
        assert!(first.weight > 0.0);
        assert_eq!(first.observed.as_deref(), Some("A says no"));
        assert_eq!(first.first.as_deref(), Some("A says no"));
        assert_eq!(first.second.as_deref(), Some("B says no"));
        assert!(why[1].weight < 0.0, "105 favoured b: {why:?}");
        let gap = v.candidates[1].mismatch.unwrap() - v.candidates[0].mismatch.unwrap();
        let sum: f64 = why.iter().map(|w| w.weight).sum();
        assert!((gap - sum).abs() < 0.01, "gap {gap}, separations {sum}");
        // Unknown ids: nothing to say.
        assert!(s.separators(&seen, "a", "nosuch").is_empty());
    }

    /// A thin proxy fingerprint fits every head it meets; it is named the
    /// front only when the best server's own head missed at least
    /// [`MIN_FRONT_MISS`] (a direct Tornado whose head missed a quarter of
    /// a feature was named behind Varnish).
    #[test]
    fn a_server_whose_head_nearly_fits_has_no_front() {
        let db = |miss_weight: f64| {
            Arc::new(Db {
                fingerprints: vec![
                    // The proxy's own answers: to probes the server's
                    // fingerprint expects nothing of.
                    fp(
                        "px",
                        "\"309.status\" = 101\n\"1100.status\" = \"eof\"\n\"1101.status\" = \"eof\"\n\"702.status\" = \"400\"\n",
                    ),
                    fp(
                        "srv",
                        &format!(
                            "\"309.status\" = 101\n\"309.reason\" = \"Switching Protocols\"\n\"306.status\" = {{ exact = \"400\", weight = {miss_weight} }}\n\"300.status\" = 400\n\"301.status\" = 400\n\"302.status\" = 400\n\"104.close_code\" = 1002\n\"104.close_reason\" = \"no\"\n\"105.close_reason\" = \"no5\"\n"
                        ),
                    ),
                ],
                ..Db::default()
            })
        };
        let seen = obs(&[
            ("309.status", "101"),
            ("309.reason", "Switching Protocols"),
            ("1100.status", "eof"),
            ("1101.status", "eof"),
            ("702.status", "400"),
            ("306.status", "101"),
            ("300.status", "400"),
            ("301.status", "400"),
            ("302.status", "400"),
            ("104.status", "101"),
            ("104.close_code", "1002"),
            ("104.close_reason", "no"),
            ("105.status", "101"),
            ("105.close_reason", "no5"),
        ]);
        let (front, v) = Scorer::new(db(0.3)).verdicts(&seen);
        assert!(front.is_none(), "{front:?}");
        assert_eq!(v.implementation, "srv");
        let (front, _) = Scorer::new(db(2.0)).verdicts(&seen);
        assert_eq!(front.map(|f| f.implementation).as_deref(), Some("px"));
    }

    #[test]
    fn shared_features_weigh_little() {
        let db = db();
        let s = Scorer::new(db.clone());
        assert!(s.weight(0, "309.status").unwrap() < 0.1);
        assert!((s.weight(0, "104.close_reason").unwrap() - 1.0).abs() < 1e-9);
        // Only the shared feature observed: no verdict.
        let v = s.score(&obs(&[("309.status", "101")]));
        assert_eq!(v.implementation, "unknown");
    }

    /// Per fingerprint, the plain loop the scorer must equal bit for bit:
    /// every expectation of a probe that ran, in key order.
    fn plain_tallies(
        s: &Scorer,
        features: &BTreeMap<String, String>,
        only_observed: bool,
    ) -> Vec<[Tally; 3]> {
        let ran: std::collections::BTreeSet<&str> = features
            .keys()
            .filter_map(|k| k.split_once('.').map(|(p, _)| p))
            .collect();
        s.db()
            .fingerprints
            .iter()
            .enumerate()
            .map(|(i, fp)| {
                let mut t = [Tally::default(); 3];
                // Its weights on this evidence (a header's share of its
                // group depends on which probes ran), once per fingerprint.
                let ws = s.weights_when(i, &ran);
                // Compared first, in key order: every expectation of a
                // probe that ran (only the observed ones with
                // `only_observed`), an optional one only further down,
                // once observed.
                for ((k, e), &w) in fp.features.iter().zip(&ws) {
                    let p = k.split_once('.').map_or(k.as_str(), |(p, _)| p);
                    let o = features.get(k);
                    let counted = if only_observed {
                        o.is_some()
                    } else {
                        !e.optional
                    };
                    if !ran.contains(p) || !counted {
                        continue;
                    }
                    for sl in [SLOT_ALL, slot(Some(e.layer))] {
                        t[sl].compared += 1;
                        t[sl].compared_w += w;
                    }
                }
                // Then each observed key, in key order: an optional
                // expectation compared, an absent banner taken back, or
                // a match.
                for ((k, e), &w) in fp.features.iter().zip(&ws) {
                    let p = k.split_once('.').map_or(k.as_str(), |(p, _)| p);
                    let Some(o) = features.get(k).filter(|_| ran.contains(p)) else {
                        continue;
                    };
                    let f = k.split_once('.').map_or("", |(_, f)| f);
                    for sl in [SLOT_ALL, slot(Some(e.layer))] {
                        if e.optional && !only_observed {
                            t[sl].compared += 1;
                            t[sl].compared_w += w;
                        }
                        if is_banner_feature(f) && o == "-" {
                            t[sl].compared -= 1;
                            t[sl].compared_w -= w;
                        } else if e.matcher.matches(o) {
                            t[sl].matched += 1;
                            t[sl].matched_w += w;
                        }
                    }
                }
                t
            })
            .collect()
    }

    /// Feature maps to score: every record of the stored lab scans, parts
    /// of them (some probes only, as an adaptive or discovery scan runs),
    /// and per fingerprint a record made of what it expects.
    fn evidence_cases(set: &ProbeSet, db: &Db) -> Vec<BTreeMap<String, String>> {
        let mut cases = Vec::new();
        for text in [
            include_str!("../../tests/data/analytics/lab-before.ndjson"),
            include_str!("../../tests/data/analytics/lab-after.ndjson"),
        ] {
            for line in text.lines().filter(|l| !l.is_empty()) {
                let r = crate::output::read::parse_line(line).unwrap();
                let f = crate::scan::observations_to_features(set, &r.observations);
                for keep in [0, 2, 3, 7] {
                    let part: BTreeMap<String, String> = f
                        .iter()
                        .filter(|(k, _)| {
                            let p = k.split_once('.').map_or(k.as_str(), |(p, _)| p);
                            keep == 0 || p.bytes().map(usize::from).sum::<usize>() % keep == 0
                        })
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    cases.push(part);
                }
                cases.push(f);
            }
        }
        for fp in &db.fingerprints {
            cases.push(
                fp.features
                    .iter()
                    .map(|(k, e)| (k.clone(), representative(&e.matcher)))
                    .collect(),
            );
        }
        cases
    }

    #[test]
    fn inverted_index_scores_bit_for_bit_as_the_plain_loop() {
        let set = ProbeSet::builtin();
        let db = Arc::new(Db::embedded(&set).unwrap());
        let s = Scorer::new(db.clone());
        // One evidence reused for every case, as `wsfp match` does.
        let mut ev = s.evidence();
        let cases = evidence_cases(&set, &db);
        assert!(cases.len() > 150, "{}", cases.len());
        for f in &cases {
            for only_observed in [false, true] {
                let want = plain_tallies(&s, f, only_observed);
                assert_eq!(s.tallies_of(f, only_observed), want);
                for sl in 0..3 {
                    assert_eq!(
                        s.verdict(&s.tallies_of(f, only_observed), sl),
                        s.verdict(&want, sl)
                    );
                }
            }
            ev.clear();
            s.observe_map(&mut ev, f);
            let want = plain_tallies(&s, f, false);
            let v = s.verdicts_of(&mut ev);
            assert_eq!(ev.tallies, want);
            let front = s.split(&want);
            assert_eq!(v.0, front.as_ref().map(|(f, _)| f.clone()));
            let (plain_front, plain) = s.layered_verdicts(&want);
            let mut plain = s.behind_front(&ev, plain_front.as_ref(), plain);
            // The version estimate reads the evidence's values, not the
            // tallies: the same as the feature map's.
            plain.version = s.version(&ev, &plain);
            assert_eq!(
                plain.version,
                plain.library.as_ref().and_then(|lib| {
                    let fps = &s.db.fingerprints;
                    let fp = fps
                        .iter()
                        .find(|x| x.id == plain.implementation)
                        .or_else(|| {
                            plain
                                .candidates
                                .iter()
                                .filter_map(|c| fps.iter().find(|x| x.id == c.id))
                                .find(|x| &x.library == lib)
                        })?;
                    version::estimate(fp, f)
                })
            );
            assert_eq!(v.1, plain);
        }
    }
}
