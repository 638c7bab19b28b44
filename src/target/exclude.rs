//! Address exclusions (`--exclude CIDR|FILE`): networks that must never be
//! connected to, checked on every address right before it would be used,
//! so a hostname that resolves into an excluded range is caught too.
//!
//! Entries are merged into sorted, disjoint ranges per family; a lookup is
//! one binary search, whatever the list's size.

use std::net::IpAddr;
use std::path::Path;

use super::spec::{AddrRange, parse_addr_range};

#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    v4: Vec<(u128, u128)>,
    v6: Vec<(u128, u128)>,
    /// Every entry as given, for `--list-excluded`: the value, and where
    /// it came from (`--exclude V` or `FILE:LINE`, with its comment).
    entries: Vec<(String, String)>,
}

/// One entry of an exclusion list: its line number, the range, the entry
/// as written, and the comment after it (the rule's name in the default
/// blocklist).
#[derive(Debug, Clone)]
pub struct ListEntry {
    pub line: usize,
    pub range: AddrRange,
    pub text: String,
    pub comment: Option<String>,
}

/// Parse the text of an exclusion file (the `--exclude FILE` format,
/// which the built-in blocklist shares): one CIDR, range or address a
/// line, `#` starts a comment, blank lines are skipped. An error names
/// `label:line`.
pub fn parse_list(text: &str, label: &str) -> Result<Vec<ListEntry>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let (entry, comment) = match line.split_once('#') {
            Some((e, c)) => (e.trim(), Some(c.trim()).filter(|c| !c.is_empty())),
            None => (line.trim(), None),
        };
        if entry.is_empty() {
            continue;
        }
        let range = parse_addr_range(entry).map_err(|e| format!("{label}:{}: {e}", i + 1))?;
        out.push(ListEntry {
            line: i + 1,
            range,
            text: entry.to_string(),
            comment: comment.map(str::to_string),
        });
    }
    Ok(out)
}

impl Exclusions {
    /// Add one `--exclude` value: a CIDR, an address, a range, or the path
    /// of a file holding those one per line (`#` comments).
    pub fn add_arg(&mut self, arg: &str) -> Result<(), String> {
        if let Ok(r) = parse_addr_range(arg) {
            self.add(r);
            self.entries
                .push((arg.trim().to_string(), format!("--exclude {}", arg.trim())));
            return Ok(());
        }
        let path = Path::new(arg);
        if !path.exists() {
            return Err(format!(
                "--exclude {arg:?}: neither an address, CIDR or range, nor a file"
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--exclude: cannot read {}: {e}", path.display()))?;
        let label = path.display().to_string();
        for e in parse_list(&text, &label)? {
            self.add(e.range);
            let mut from = format!("{label}:{}", e.line);
            if let Some(c) = &e.comment {
                from += &format!(" {c}");
            }
            self.entries.push((e.text, from));
        }
        Ok(())
    }

    /// The entries as given (value, where from), in order.
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }

    pub fn add(&mut self, r: AddrRange) {
        let list = if r.v6 { &mut self.v6 } else { &mut self.v4 };
        list.push((r.first, r.last));
        list.sort_unstable();
        // Merge overlapping or adjacent ranges.
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(list.len());
        for &(a, b) in list.iter() {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        *list = merged;
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (list, x) = match ip {
            IpAddr::V4(a) => (&self.v4, u32::from(a) as u128),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => (&self.v4, u32::from(v4) as u128),
                None => (&self.v6, u128::from(a)),
            },
        };
        let i = list.partition_point(|&(a, _)| a <= x);
        i > 0 && list[i - 1].1 >= x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_ranges_and_files() {
        let mut e = Exclusions::default();
        e.add_arg("127.0.0.2/31").unwrap();
        e.add_arg("10.0.0.5-10.0.0.7").unwrap();
        e.add_arg("::1").unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(e.contains(ip("127.0.0.2")) && e.contains(ip("127.0.0.3")));
        assert!(!e.contains(ip("127.0.0.1")) && !e.contains(ip("127.0.0.4")));
        assert!(e.contains(ip("10.0.0.6")) && !e.contains(ip("10.0.0.8")));
        assert!(e.contains(ip("::1")) && !e.contains(ip("::2")));
        assert!(e.contains(ip("::ffff:127.0.0.2")), "v4-mapped v6 is v4");

        let dir = std::env::temp_dir().join(format!("wsfp-excl-{}", std::process::id()));
        std::fs::write(&dir, "# lab\n192.168.0.0/16\n\nnot-an-ip\n").unwrap();
        let err = e.add_arg(dir.to_str().unwrap()).unwrap_err();
        assert!(err.contains(":4:"), "{err}");
        std::fs::remove_file(&dir).ok();
        assert!(e.add_arg("nope.example").unwrap_err().contains("neither"));
    }

    #[test]
    fn merging_keeps_lookups_right() {
        let mut e = Exclusions::default();
        for a in ["1.0.0.0/24", "1.0.1.0/24", "1.0.0.128/25", "0.0.0.0/32"] {
            e.add_arg(a).unwrap();
        }
        assert_eq!(e.v4.len(), 2);
        assert!(e.contains("1.0.1.255".parse().unwrap()));
        assert!(!e.contains("1.0.2.0".parse().unwrap()));
        assert!(e.contains("0.0.0.0".parse().unwrap()));
    }
}
