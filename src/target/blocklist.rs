//! The default blocklist: IANA special-purpose and reserved ranges
//! (private, loopback, link-local, documentation, multicast, reserved...)
//! that a survey of a CIDR or range must not send to, kept as data in
//! `targets/blocklist.txt` (the `--exclude FILE` format, compiled in).
//!
//! ZMap's semantics, with one rule added for explicit ranges:
//! - it applies to *expansions* only: the addresses a CIDR or range line
//!   expands to. An address or a hostname named alone is the user's
//!   choice and is scanned, loopback included (`-u 127.0.0.1:9001`,
//!   `ws://localhost:9001/`: how everyone tests); a name's DNS answers are
//!   not checked against it either.
//! - a rule cuts an expansion only where the expansion is not wholly
//!   inside that rule: whoever writes `127.0.0.0/28` or `10.1.0.0/16`
//!   means loopback or that private network, and gets it; whoever writes
//!   `0.0.0.0/0` or `100.0.0.0/9` (which straddles `100.64.0.0/10`) does
//!   not mean the reserved parts, and they are cut. Nested rules follow
//!   the same test one by one: `240.0.0.0/4` keeps the reserved block but
//!   still loses `255.255.255.255`, the limited broadcast inside it.
//! - the user's `--exclude` is separate ([`super::Exclusions`]) and
//!   applies to every address about to be used, as before.
//!
//! Cutting is arithmetic on ranges, not a filter over units: a line's
//! expansion becomes the list of ranges left ([`Cut::kept`]), indexed
//! directly, so a cut costs nothing per unit and a line cut down to a few
//! addresses is not walked across the millions it lost. The counts per
//! rule are exact.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::exclude::parse_list;
use super::spec::AddrRange;

/// The built-in list's text (`wsfp scan --list-excluded` prints it).
pub const BUILTIN: &str = include_str!("../../targets/blocklist.txt");

/// `::ffff:0:0/96`, the IPv4-mapped IPv6 addresses: an expansion inside it
/// is checked as the IPv4 range it maps (the socket would reach IPv4).
const MAPPED_FIRST: u128 = 0xffff_0000_0000;
const MAPPED_LAST: u128 = 0xffff_ffff_ffff;

/// One rule: a range, the entry as written, and its name (the comment
/// after it: what the block is and its RFC).
#[derive(Debug, Clone)]
pub struct Rule {
    pub range: AddrRange,
    pub text: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Blocklist {
    rules: Vec<Rule>,
}

/// What the blocklist leaves of one expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The addresses left, as sorted disjoint ranges (of the expansion's
    /// own family); the whole expansion when nothing was cut.
    pub kept: Vec<AddrRange>,
    /// Addresses cut per rule (index into [`Blocklist::rules`]), in
    /// rule order; an address two rules cover counts for the smaller one.
    pub by_rule: Vec<(usize, u128)>,
}

impl Blocklist {
    /// The built-in list. Its text is tested to parse (`builtin_parses`),
    /// so this cannot fail at run time.
    pub fn builtin() -> Blocklist {
        Self::parse(BUILTIN, "targets/blocklist.txt").unwrap_or(Blocklist { rules: Vec::new() })
    }

    /// Parse a list in the `--exclude FILE` format; every entry needs a
    /// name (its comment).
    pub fn parse(text: &str, label: &str) -> Result<Blocklist, String> {
        let rules = parse_list(text, label)?
            .into_iter()
            .map(|e| {
                let name = e.comment.ok_or_else(|| {
                    format!("{label}:{}: a rule needs a name (# comment)", e.line)
                })?;
                Ok(Rule {
                    range: e.range,
                    text: e.text,
                    name,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Blocklist { rules })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// What is left of the expansion `e`: every rule that overlaps it
    /// without containing it is cut out.
    pub fn cut(&self, e: AddrRange) -> Cut {
        // An expansion of IPv4-mapped addresses is an IPv4 expansion.
        let (w, offset) = if e.v6 && e.first >= MAPPED_FIRST && e.last <= MAPPED_LAST {
            (
                AddrRange {
                    v6: false,
                    first: e.first - MAPPED_FIRST,
                    last: e.last - MAPPED_FIRST,
                },
                MAPPED_FIRST,
            )
        } else {
            (e, 0)
        };
        let mut cutting: Vec<(usize, u128, u128)> = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                let r = r.range;
                r.v6 == w.v6
                    && r.first <= w.last
                    && r.last >= w.first
                    && !(r.first <= w.first && w.last <= r.last)
            })
            .map(|(i, r)| (i, r.range.first.max(w.first), r.range.last.min(w.last)))
            .collect();
        if cutting.is_empty() {
            return Cut {
                kept: vec![e],
                by_rule: Vec::new(),
            };
        }
        // Smallest rule first, so an address in nested rules counts once,
        // for the most specific one.
        cutting.sort_by_key(|&(i, _, _)| (self.rules[i].range.len(), i));
        let mut gone: Vec<(u128, u128)> = Vec::new();
        let mut by_rule = Vec::new();
        for (i, a, b) in cutting {
            let new: u128 = subtract((a, b), &gone)
                .iter()
                .map(|&(x, y)| (y - x).saturating_add(1))
                .fold(0u128, u128::saturating_add);
            if new > 0 {
                by_rule.push((i, new));
            }
            insert(&mut gone, (a, b));
        }
        by_rule.sort_unstable();
        let kept = subtract((w.first, w.last), &gone)
            .into_iter()
            .map(|(a, b)| AddrRange {
                v6: e.v6,
                first: a + offset,
                last: b + offset,
            })
            .collect();
        Cut { kept, by_rule }
    }

    /// Rule indices in address order (IPv4 first), for what people read.
    pub fn in_address_order(&self, mut rules: Vec<usize>) -> Vec<usize> {
        rules.sort_by_key(|&i| {
            self.rules
                .get(i)
                .map(|r| (r.range.v6, r.range.first, u128::MAX - r.range.last))
        });
        rules
    }

    /// `RULE (name)` for a summary or an error.
    pub fn describe(&self, i: usize) -> String {
        match self.rules.get(i) {
            Some(r) => format!("{} ({})", r.text, r.name),
            None => format!("rule {i}"),
        }
    }
}

/// `a` minus the sorted, disjoint ranges of `set`.
fn subtract(a: (u128, u128), set: &[(u128, u128)]) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    let mut from = a.0;
    for &(x, y) in set {
        if y < from || x > a.1 {
            continue;
        }
        if x > from {
            out.push((from, x - 1));
        }
        if y >= a.1 {
            return out;
        }
        from = y + 1;
    }
    out.push((from, a.1));
    out
}

/// Add `r` to the sorted, disjoint ranges of `set`, merging.
fn insert(set: &mut Vec<(u128, u128)>, r: (u128, u128)) {
    set.push(r);
    set.sort_unstable();
    let mut merged: Vec<(u128, u128)> = Vec::with_capacity(set.len());
    for &(a, b) in set.iter() {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    *set = merged;
}

/// Units (address × port × path) the blocklist cut, per rule, and the
/// lines it cut whole; shared between the target source, which counts,
/// and the summary and stats, which read.
#[derive(Debug, Default)]
pub struct CutTally {
    inner: Mutex<CutCounts>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CutCounts {
    /// Rule index -> units cut.
    pub by_rule: BTreeMap<usize, u128>,
    /// Input lines cut whole (each has its `excluded` record).
    pub lines: u64,
}

impl CutTally {
    pub fn add(&self, by_rule: impl IntoIterator<Item = (usize, u128)>, whole_line: bool) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (i, n) in by_rule {
            let e = c.by_rule.entry(i).or_insert(0);
            *e = e.saturating_add(n);
        }
        c.lines += u64::from(whole_line);
    }

    pub fn get(&self) -> CutCounts {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl CutCounts {
    pub fn is_empty(&self) -> bool {
        self.by_rule.is_empty()
    }

    pub fn total(&self) -> u128 {
        self.by_rule.values().fold(0, |a, b| a.saturating_add(*b))
    }

    /// Units cut per rule, keyed by the rule as written (`127.0.0.0/8`),
    /// for the stats lines and the manifest.
    pub fn by_text(&self, bl: &Blocklist) -> BTreeMap<String, u64> {
        self.by_rule
            .iter()
            .map(|(&i, &n)| {
                let key = bl
                    .rules()
                    .get(i)
                    .map_or_else(|| i.to_string(), |r| r.text.clone());
                (key, u64::try_from(n).unwrap_or(u64::MAX))
            })
            .collect()
    }

    /// The summary's line, or None when nothing was cut.
    pub fn summary(&self, bl: &Blocklist) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let rules: Vec<String> = bl
            .in_address_order(self.by_rule.keys().copied().collect())
            .into_iter()
            .map(|i| format!("{} {}", bl.describe(i), self.by_rule[&i]))
            .collect();
        let mut s = format!(
            "default blocklist: {} units cut from CIDR/range expansions (--no-default-exclude \
             keeps them): {}",
            self.total(),
            rules.join(", ")
        );
        if self.lines > 0 {
            s += &format!(
                "; {} lines cut whole (one excluded record each)",
                self.lines
            );
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::spec::parse_addr_range;

    fn r(s: &str) -> AddrRange {
        parse_addr_range(s).unwrap()
    }

    fn cut(s: &str) -> (Vec<String>, Vec<(String, u128)>) {
        let bl = Blocklist::builtin();
        let c = bl.cut(r(s));
        let kept = c
            .kept
            .iter()
            .map(|k| format!("{}-{}", k.nth(0), k.nth(k.last - k.first)))
            .collect();
        let by = c
            .by_rule
            .iter()
            .map(|&(i, n)| (bl.rules()[i].text.clone(), n))
            .collect();
        (kept, by)
    }

    #[test]
    fn builtin_parses_and_names_every_rule() {
        let bl = Blocklist::parse(BUILTIN, "builtin").unwrap();
        assert!(bl.rules().len() >= 30, "{}", bl.rules().len());
        for rule in bl.rules() {
            assert!(rule.name.contains("RFC"), "{} names no RFC", rule.text);
        }
        let texts: Vec<&str> = bl.rules().iter().map(|r| r.text.as_str()).collect();
        for must in [
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.0.0.0/24",
            "192.0.2.0/24",
            "192.88.99.0/24",
            "192.168.0.0/16",
            "198.18.0.0/15",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "224.0.0.0/4",
            "240.0.0.0/4",
            "255.255.255.255/32",
            "::/128",
            "::1/128",
            "::ffff:0:0/96",
            "64:ff9b:1::/48",
            "100::/64",
            "2001::/23",
            "2001:db8::/32",
            "2002::/16",
            "fc00::/7",
            "fe80::/10",
            "ff00::/8",
        ] {
            assert!(texts.contains(&must), "{must} missing");
        }
        // Globally reachable special-purpose blocks stay scannable.
        assert!(!texts.contains(&"64:ff9b::/96"));
        let e = Blocklist::parse("10.0.0.0/8\n", "x").unwrap_err();
        assert!(e.contains("x:1") && e.contains("name"), "{e}");
        let e = Blocklist::parse("# a\n10.0.0.0/33 # n\n", "x").unwrap_err();
        assert!(e.contains("x:2"), "{e}");
    }

    #[test]
    fn an_expansion_inside_a_rule_is_kept_whole() {
        for s in [
            "127.0.0.0/28",
            "127.0.0.0/8",
            "10.1.0.0/16",
            "127.0.0.1",
            "::1",
            "fe80::/64",
            "192.168.1.1-192.168.1.9",
            "255.255.255.255",
        ] {
            let c = Blocklist::builtin().cut(r(s));
            assert_eq!(c.kept, vec![r(s)], "{s}");
            assert!(c.by_rule.is_empty(), "{s}: {:?}", c.by_rule);
        }
    }

    #[test]
    fn a_straddling_expansion_loses_the_blocked_part() {
        // Both edges of 127/8, v4.
        assert_eq!(
            cut("126.255.255.254-127.0.0.1"),
            (
                vec!["126.255.255.254-126.255.255.255".into()],
                vec![("127.0.0.0/8".into(), 2)]
            )
        );
        assert_eq!(
            cut("127.255.255.255-128.0.0.1"),
            (
                vec!["128.0.0.0-128.0.0.1".into()],
                vec![("127.0.0.0/8".into(), 1)]
            )
        );
        // 100.0.0.0/9 straddles the shared address space 100.64/10.
        assert_eq!(
            cut("100.0.0.0/9"),
            (
                vec!["100.0.0.0-100.63.255.255".into()],
                vec![("100.64.0.0/10".into(), 1 << 22)]
            )
        );
        // 240/4 keeps the reserved block but not the broadcast inside it.
        assert_eq!(
            cut("240.0.0.0/4"),
            (
                vec!["240.0.0.0-255.255.255.254".into()],
                vec![("255.255.255.255/32".into(), 1)]
            )
        );
        // The whole space: every rule cuts, nested addresses count once.
        let (kept, by) = cut("0.0.0.0/0");
        let total: u128 = by.iter().map(|(_, n)| n).sum();
        assert_eq!(kept.first().unwrap(), "1.0.0.0-9.255.255.255");
        assert_eq!(kept.last().unwrap(), "203.0.114.0-223.255.255.255");
        let kept_n: u128 = Blocklist::builtin()
            .cut(r("0.0.0.0/0"))
            .kept
            .iter()
            .map(|k| k.len())
            .sum();
        assert_eq!(kept_n + total, 1 << 32);
        assert!(
            by.contains(&("240.0.0.0/4".into(), (1 << 28) - 1)),
            "{by:?}"
        );
        assert!(by.contains(&("255.255.255.255/32".into(), 1)), "{by:?}");
        // Cut whole: multicast and reserved together.
        let (kept, by) = cut("224.0.0.0/3");
        assert!(kept.is_empty(), "{kept:?}");
        assert_eq!(by.len(), 3, "{by:?}");
    }

    #[test]
    fn v6_edges() {
        // ::/127 is the unspecified and the loopback address: cut whole.
        let (kept, by) = cut("::/127");
        assert!(kept.is_empty());
        assert_eq!(by, vec![("::/128".into(), 1), ("::1/128".into(), 1)]);
        // Just below and above fc00::/7.
        assert_eq!(
            cut("fbff:ffff:ffff:ffff:ffff:ffff:ffff:fffe-fc00::1"),
            (
                vec!["fbff:ffff:ffff:ffff:ffff:ffff:ffff:fffe-fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                    .into()],
                vec![("fc00::/7".into(), 2)]
            )
        );
        assert_eq!(
            cut("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff-fe00::"),
            (vec!["fe00::-fe00::".into()], vec![("fc00::/7".into(), 1)])
        );
        // Documentation prefix, straddled and inside.
        let (kept, by) = cut("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff-2001:db8::1");
        assert_eq!(kept.len(), 1);
        assert_eq!(by, vec![("2001:db8::/32".into(), 2)]);
        assert!(cut("2001:db8::/120").1.is_empty());
        // IPv4-mapped expansions are checked as IPv4 (and stay IPv6).
        assert_eq!(
            cut("::ffff:126.255.255.255-::ffff:127.0.0.0"),
            (
                vec!["::ffff:126.255.255.255-::ffff:126.255.255.255".into()],
                vec![("127.0.0.0/8".into(), 1)]
            )
        );
        assert!(cut("::ffff:127.0.0.0/120").1.is_empty());
        // An expansion straddling the mapped block loses all of it.
        let (_, by) = cut("::fffe:ffff:ffff-::ffff:0:1");
        assert_eq!(by, vec![("::ffff:0:0/96".into(), 2)]);
        // A v4 rule never cuts v6 outside the mapped block.
        assert!(cut("2a00::/120").1.is_empty());
    }

    #[test]
    fn tally_adds_and_describes() {
        let bl = Blocklist::builtin();
        let t = CutTally::default();
        let c = bl.cut(r("126.255.255.254-127.0.0.1"));
        t.add(c.by_rule.iter().map(|&(i, n)| (i, n * 3)), false);
        t.add(bl.cut(r("224.0.0.0/3")).by_rule, true);
        let got = t.get();
        assert_eq!(got.by_text(&bl)["127.0.0.0/8"], 6);
        assert_eq!(got.lines, 1);
        let s = got.summary(&bl).unwrap();
        assert!(s.contains("127.0.0.0/8 (Loopback, RFC 1122"), "{s}");
        assert!(s.contains("1 lines cut whole"), "{s}");
        assert_eq!(CutCounts::default().summary(&bl), None);
    }
}
